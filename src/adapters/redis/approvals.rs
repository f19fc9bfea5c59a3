//! Approvals, decided exactly once.
//!
//! One approval is one string key `quell:a:{<id>}` holding its JSON. A decision is
//! compare-and-set: read the record, apply the pure rule [`Approval::decide`] (expiry, distinct
//! approvers, already decided), and write the result with a Lua script that replaces the value
//! only if it is still byte-for-byte what was read. Under any number of concurrent deciders (in
//! any number of processes) exactly one swap succeeds per state; the others re-read, and the
//! rule then tells them who decided. The rule lives in one place (the domain model), the atomic
//! step in one single-key script (valid on Redis Cluster).

use super::{reply, shown_key, RedisStore, Reply};
use crate::model::approval::{Approval, ApprovalStatus, Decision};
use crate::model::session::validate_session_id;
use crate::model::time::{self, Timestamp};
use crate::model::unreadable::{json_reason, reason};
use crate::ports::{ApprovalStore, Result, StoreError};
use std::sync::LazyLock;

/// Concurrent deciders each lose at most once per decision that lands, so a handful suffices;
/// the bound only stops a livelock against a writer that keeps changing the record.
const MAX_ATTEMPTS: usize = 64;

/// KEYS[1]: the approval. ARGV[1]: the value read, ARGV[2]: the new value. 1 when swapped.
static COMPARE_AND_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// One approval key's value. A value that cannot be read (wrong type, not UTF-8, not JSON, not
/// an approval, another id) becomes [`Approval::unreadable`]: listed with the reason (the
/// session is not known, `?`), refused by a decision, never failing the listing.
fn parse_approval(id: &str, key: &str, value: Reply) -> Option<(String, Approval)> {
    let unreadable = |why: String| Approval::unreadable(id, "?", reason(format!("key {}: {why}", shown_key(key))));
    match value {
        Reply::Missing => None,
        Reply::Bad(why) => Some((String::new(), unreadable(why))),
        Reply::Text(doc) => {
            let a = match serde_json::from_str::<Approval>(&doc) {
                Ok(a) if a.id == id => a,
                Ok(a) => unreadable(format!("record says it is approval {:?}", a.id)),
                Err(e) => unreadable(format!("approval record is not readable: {}", json_reason(&e))),
            };
            Some((doc, a))
        }
    }
}

impl RedisStore {
    fn approval_doc(&self, id: &str) -> Result<Option<(String, Approval)>> {
        let key = self.keys().approval(id);
        // In a pipeline that keeps errors, a key of the wrong type is this key's reply, not a
        // failure of the command.
        let mut values: Vec<redis::Value> =
            self.run(|c, _| redis::pipe().ignore_errors().cmd("GET").arg(&key).query(c))?;
        Ok(parse_approval(id, &key, values.pop().map(reply).unwrap_or(Reply::Missing)))
    }
}

fn check_id(id: &str) -> Result<()> {
    validate_session_id(id).map_err(|e| StoreError::Invalid(format!("approval id: {e}")))
}

impl ApprovalStore for RedisStore {
    fn request_approval(&self, a: &Approval) -> Result<()> {
        check_id(&a.id)?;
        let key = self.keys().approval(&a.id);
        let index = self.keys().approvals_index();
        let pending = self.keys().approvals_pending();
        let doc = serde_json::to_string(a).map_err(|e| StoreError::Invalid(format!("approval {}: {e}", a.id)))?;
        let stored: bool = self.run(|c, retried| {
            let set: Option<String> = redis::cmd("SET").arg(&key).arg(&doc).arg("NX").query(c)?;
            // A retry whose first attempt landed finds its own record: that is success.
            let created = set.is_some()
                || (retried && redis::cmd("GET").arg(&key).query::<Option<String>>(c)? == Some(doc.clone()));
            if created {
                redis::pipe()
                    .cmd("ZADD")
                    .arg(&index)
                    .arg(time::to_micros(&a.requested_at))
                    .arg(&a.id)
                    .ignore()
                    .cmd("ZADD")
                    .arg(&pending)
                    .arg(time::to_micros(&a.expires_at))
                    .arg(&a.id)
                    .ignore()
                    .query::<()>(c)?;
            }
            Ok(created)
        })?;
        if !stored {
            return Err(StoreError::Conflict(format!("approval {} already exists", a.id)));
        }
        Ok(())
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>> {
        if check_id(id).is_err() {
            return Ok(None);
        }
        Ok(self.approval_doc(id)?.map(|(_, a)| a))
    }

    fn approvals(&self, pending_only: bool, now: Timestamp) -> Result<Vec<Approval>> {
        // Pending: only those not yet expired from the pending index (O(pending), not O(all)).
        let ids: Vec<String> = if pending_only {
            let pending = self.keys().approvals_pending();
            let after = format!("({}", time::to_micros(&now));
            self.run(|c, _| redis::cmd("ZRANGEBYSCORE").arg(&pending).arg(&after).arg("+inf").query(c))?
        } else {
            let index = self.keys().approvals_index();
            self.run(|c, _| redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(c))?
        };
        let keys: Vec<String> = ids.iter().map(|id| self.keys().approval(id)).collect();
        let values: Vec<redis::Value> = if keys.is_empty() {
            Vec::new()
        } else {
            self.run(|c, _| {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for k in &keys {
                    pipe.cmd("GET").arg(k);
                }
                pipe.query(c)
            })?
        };
        let mut out = Vec::with_capacity(ids.len());
        for ((id, key), value) in ids.iter().zip(&keys).zip(values) {
            let Some((_, a)) = parse_approval(&reason(id), key, reply(value)) else { continue };
            // An unreadable one is listed whatever its (unknown) status: the pending index,
            // scored by expiry, still holds it.
            if !pending_only || a.unreadable.is_some() || a.status_at(now) == ApprovalStatus::Pending {
                out.push(a);
            }
        }
        out.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    fn decide(&self, id: &str, decision: Decision) -> Result<Approval> {
        check_id(id).map_err(|_| StoreError::NotFound(format!("no approval with id {id}")))?;
        let key = self.keys().approval(id);
        let mut lost_reply = false;
        for _ in 0..MAX_ATTEMPTS {
            let (old_doc, mut approval) =
                self.approval_doc(id)?.ok_or_else(|| StoreError::NotFound(format!("no approval with id {id}")))?;
            if lost_reply && approval.decisions.contains(&decision) {
                // Our swap landed but its reply was lost with the connection.
                return Ok(approval);
            }
            // An unreadable record is refused here, by the rule.
            approval.decide(decision.clone()).map_err(StoreError::from)?;
            let new_doc =
                serde_json::to_string(&approval).map_err(|e| StoreError::Invalid(format!("approval {id}: {e}")))?;
            let swapped: i64 = self.run(|c, retried| {
                lost_reply |= retried;
                COMPARE_AND_SET.key(&key).arg(&old_doc).arg(&new_doc).invoke(c)
            })?;
            if swapped == 1 {
                if approval.status.is_final() {
                    // Best effort: a reader filters on the record's status anyway.
                    let pending = self.keys().approvals_pending();
                    let _ = self.run(|c, _| redis::cmd("ZREM").arg(&pending).arg(id).query::<()>(c));
                }
                return Ok(approval);
            }
        }
        Err(StoreError::Conflict(format!(
            "approval {id}: the record kept changing under {MAX_ATTEMPTS} attempts to decide it; try again"
        )))
    }
}
