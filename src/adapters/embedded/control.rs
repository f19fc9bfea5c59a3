use super::{bad_doc, EmbeddedStore};
use crate::model::control::{ControlRecord, ControlTarget, Desired};
use crate::model::time::{self, Timestamp};
use crate::ports::{ControlStore, Result};
use rusqlite::{params, OptionalExtension, Row};

const FLEET: &str = "*";

fn target_key(t: &ControlTarget) -> &str {
    match t {
        ControlTarget::Fleet => FLEET,
        ControlTarget::Session(id) => id,
    }
}

impl EmbeddedStore {
    fn control_row(&self, row: &Row<'_>) -> Result<ControlRecord> {
        let target: String = row.get(0).map_err(|e| self.err(e))?;
        let desired: String = row.get(1).map_err(|e| self.err(e))?;
        Ok(ControlRecord {
            target: if target == FLEET { ControlTarget::Fleet } else { ControlTarget::Session(target) },
            desired: Desired::parse(&desired).ok_or_else(|| bad_doc(&self.path, "control state", &desired))?,
            operator: row.get(2).map_err(|e| self.err(e))?,
            reason: row.get(3).map_err(|e| self.err(e))?,
            at: time::from_micros(row.get(4).map_err(|e| self.err(e))?),
            generation: row.get::<_, i64>(5).map_err(|e| self.err(e))? as u64,
        })
    }

    fn control_where(&self, clause: &str, param: &dyn rusqlite::ToSql) -> Result<Vec<ControlRecord>> {
        let conn = self.reader();
        let sql = format!("SELECT target, desired, operator, reason, at_us, generation FROM control {clause}");
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = st.query([param]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.control_row(row)?);
        }
        Ok(out)
    }
}

impl ControlStore for EmbeddedStore {
    fn set_control(
        &self,
        targets: &[ControlTarget],
        desired: Desired,
        operator: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<u64> {
        self.write(|tx| {
            let generation: i64 = tx
                .query_row("UPDATE control_generation SET value = value + 1 WHERE id = 1 RETURNING value", [], |r| {
                    r.get(0)
                })
                .map_err(|e| self.err(e))?;
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO control (target, desired, operator, reason, at_us, generation)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| self.err(e))?;
            for t in targets {
                st.execute(params![
                    target_key(t),
                    desired.as_str(),
                    operator,
                    reason,
                    time::to_micros(&at),
                    generation
                ])
                .map_err(|e| self.err(e))?;
            }
            Ok(generation as u64)
        })
    }

    fn control_changes(&self, since: u64) -> Result<Vec<ControlRecord>> {
        self.control_where("WHERE generation > ?1 ORDER BY generation, target", &(since as i64))
    }

    fn fleet_control(&self) -> Result<Option<ControlRecord>> {
        Ok(self.control_where("WHERE target = ?1", &FLEET)?.into_iter().next())
    }

    fn session_control(&self, session_id: &str) -> Result<Option<ControlRecord>> {
        let conn = self.reader();
        let mut st = conn
            .prepare_cached(
                "SELECT target, desired, operator, reason, at_us, generation FROM control WHERE target = ?1",
            )
            .map_err(|e| self.err(e))?;
        let row = st.query_row([session_id], |r| Ok(self.control_row(r))).optional().map_err(|e| self.err(e))?;
        row.transpose()
    }
}
