use super::{bad_doc, EmbeddedStore};
use crate::model::approval::{Approval, Decision};
use crate::model::time::{self, Timestamp};
use crate::ports::{ApprovalStore, Result, StoreError};
use rusqlite::{params, OptionalExtension};

impl EmbeddedStore {
    fn parse_approval(&self, doc: &str) -> Result<Approval> {
        serde_json::from_str(doc).map_err(|e| bad_doc(&self.path, "approval", e))
    }
}

impl ApprovalStore for EmbeddedStore {
    fn request_approval(&self, a: &Approval) -> Result<()> {
        let doc = serde_json::to_string(a).map_err(|e| bad_doc(&self.path, "approval", e))?;
        self.write(|tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO approvals (id, session_id, status, requested_us, expires_us, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        a.id,
                        a.session_id,
                        a.status.as_str(),
                        time::to_micros(&a.requested_at),
                        time::to_micros(&a.expires_at),
                        doc
                    ],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("approval {} already exists", a.id)));
            }
            Ok(())
        })
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>> {
        let conn = self.reader();
        let doc: Option<String> = conn
            .query_row("SELECT doc FROM approvals WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        doc.map(|d| self.parse_approval(&d)).transpose()
    }

    fn approvals(&self, pending_only: bool, now: Timestamp) -> Result<Vec<Approval>> {
        let conn = self.reader();
        let (sql, bound) = if pending_only {
            (
                "SELECT doc FROM approvals WHERE status = 'pending' AND expires_us > ?1 ORDER BY requested_us DESC, id",
                time::to_micros(&now),
            )
        } else {
            ("SELECT doc FROM approvals WHERE ?1 = ?1 ORDER BY requested_us DESC, id", 0)
        };
        let mut st = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let docs: Vec<String> =
            st.query_map([bound], |r| r.get(0)).and_then(|it| it.collect()).map_err(|e| self.err(e))?;
        docs.iter().map(|d| self.parse_approval(d)).collect()
    }

    fn decide(&self, id: &str, decision: Decision) -> Result<Approval> {
        self.write(|tx| {
            let doc: String = tx
                .query_row("SELECT doc FROM approvals WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?
                .ok_or_else(|| StoreError::NotFound(format!("no approval with id {id}")))?;
            let mut approval = self.parse_approval(&doc)?;
            approval.decide(decision)?;
            let doc = serde_json::to_string(&approval).map_err(|e| bad_doc(&self.path, "approval", e))?;
            tx.execute(
                "UPDATE approvals SET status = ?2, doc = ?3 WHERE id = ?1",
                params![id, approval.status.as_str(), doc],
            )
            .map_err(|e| self.err(e))?;
            Ok(approval)
        })
    }
}
