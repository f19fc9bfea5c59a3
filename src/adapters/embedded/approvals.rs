use super::{bad_doc, doc_text, shown_text, EmbeddedStore};
use crate::model::approval::{Approval, Decision};
use crate::model::time::{self, Timestamp};
use crate::model::unreadable::{json_reason, reason};
use crate::ports::{ApprovalStore, Result, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};

/// One stored approval row; a record that cannot be read becomes [`Approval::unreadable`]
/// (listed with its reason, refused by a decision) instead of failing the whole listing.
fn parse_approval(id: &str, session_id: ValueRef<'_>, doc: ValueRef<'_>) -> Approval {
    let parsed = doc_text(doc).map_err(|e| format!("approval record {e}")).and_then(|d| {
        serde_json::from_str::<Approval>(d).map_err(|e| format!("approval record is not readable: {}", json_reason(&e)))
    });
    match parsed {
        Ok(a) if a.id == id => a,
        Ok(a) => {
            Approval::unreadable(id, shown_text(session_id), format!("record says it is approval {}", reason(&a.id)))
        }
        Err(why) => Approval::unreadable(id, shown_text(session_id), why),
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
        conn.query_row("SELECT session_id, doc FROM approvals WHERE id = ?1", [id], |r| {
            Ok(parse_approval(id, r.get_ref(0)?, r.get_ref(1)?))
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    fn approvals(&self, pending_only: bool, now: Timestamp) -> Result<Vec<Approval>> {
        let conn = self.reader();
        let (sql, bound) = if pending_only {
            (
                "SELECT id, session_id, doc FROM approvals WHERE status = 'pending' AND expires_us > ?1
                 ORDER BY requested_us DESC, id",
                time::to_micros(&now),
            )
        } else {
            ("SELECT id, session_id, doc FROM approvals WHERE ?1 = ?1 ORDER BY requested_us DESC, id", 0)
        };
        let mut st = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        st.query_map([bound], |r| Ok(parse_approval(&shown_text(r.get_ref(0)?), r.get_ref(1)?, r.get_ref(2)?)))
            .and_then(|it| it.collect())
            .map_err(|e| self.err(e))
    }

    fn decide(&self, id: &str, decision: Decision) -> Result<Approval> {
        self.write(|tx| {
            let mut approval = tx
                .query_row("SELECT session_id, doc FROM approvals WHERE id = ?1", [id], |r| {
                    Ok(parse_approval(id, r.get_ref(0)?, r.get_ref(1)?))
                })
                .optional()
                .map_err(|e| self.err(e))?
                .ok_or_else(|| StoreError::NotFound(format!("no approval with id {id}")))?;
            // An unreadable record is refused here, by the rule.
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
