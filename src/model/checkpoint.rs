//! The seed's checkpoint, field for field (`AgentCheckpoint` in the article).

use super::audit::{AuditEvent, EventKind};
use super::untrusted::{Untrusted, UntrustedJson};
use serde::{Deserialize, Serialize};

/// Exactly the seed's JSON: `session_id`, `step`, `messages`, `tool_results`, `plan`,
/// `created_at` (a string as the agent wrote it, e.g. Python's `isoformat()`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub session_id: String,
    pub step: u64,
    pub messages: Vec<UntrustedJson>,
    pub tool_results: Vec<UntrustedJson>,
    pub plan: UntrustedJson,
    pub created_at: Untrusted,
    /// SHA-256 (hex) of the value exactly as stored, set when read from a store
    /// ([`Checkpoint::from_stored`]); `None` for one built in memory. Never part of the JSON.
    #[serde(skip)]
    pub stored_hash: Option<String>,
}

/// Equal content: where a checkpoint was read from (its stored hash) is not part of it.
impl PartialEq for Checkpoint {
    fn eq(&self, other: &Self) -> bool {
        self.session_id == other.session_id
            && self.step == other.step
            && self.messages == other.messages
            && self.tool_results == other.tool_results
            && self.plan == other.plan
            && self.created_at == other.created_at
    }
}

/// How far a stored checkpoint can be trusted, from the `checkpoint_hash` of its audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// The value as stored hashes to what its audit event recorded.
    Verified,
    /// It does not: the checkpoint was changed after its event was written.
    Edited,
    /// No audit event of the session records a hash for this step (a writer that does not, or a
    /// checkpoint planted without one).
    NotCovered,
}

/// Compares a stored checkpoint with the last `checkpoint` event of its session and step that
/// records a `checkpoint_hash` (the store keeps one value per step: the last one written).
/// The events must come from a verified chain for the answer to mean anything.
pub fn coverage(checkpoint: &Checkpoint, events: &[AuditEvent]) -> Coverage {
    let recorded = events.iter().rev().find_map(|e| {
        let b = &e.body;
        let step = b.attributes.get("quell.checkpoint.step").and_then(serde_json::Value::as_u64).unwrap_or(b.step);
        (b.kind == EventKind::Checkpoint && b.session_id == checkpoint.session_id && step == checkpoint.step)
            .then_some(b.checkpoint_hash.as_deref())
            .flatten()
    });
    match (recorded, checkpoint.stored_hash.as_deref()) {
        (Some(r), Some(s)) if r == s => Coverage::Verified,
        (Some(_), Some(_)) => Coverage::Edited,
        _ => Coverage::NotCovered,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckpointError {
    #[error("checkpoint is not JSON: {0}")]
    NotJson(String),
    #[error("checkpoint JSON does not have the seed's shape: {0}")]
    Shape(String),
    #[error("checkpoint says session {inner:?} step {inner_step} but is stored as {outer:?} step {outer_step}")]
    Mismatch { inner: String, inner_step: u64, outer: String, outer_step: u64 },
    /// Valid JSON, nested deeper than quell reads (see [`super::unreadable::MAX_DEPTH`]).
    #[error("checkpoint is nested deeper than {} levels", super::unreadable::MAX_DEPTH)]
    TooDeep,
}

/// A stored checkpoint that could not be read: where it is and why (one neutralised line). The
/// reasoning chain shows it in place of the checkpoint; the others are shown as usual.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("unreadable checkpoint {session_id} step {step}: {reason}")]
pub struct UnreadableCheckpoint {
    pub session_id: String,
    pub step: u64,
    pub reason: String,
}

impl Checkpoint {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, CheckpointError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if super::unreadable::too_deep(&e) {
                CheckpointError::TooDeep
            } else {
                CheckpointError::NotJson(e.to_string())
            }
        })?;
        serde_json::from_value(value).map_err(|e| CheckpointError::Shape(e.to_string()))
    }

    /// Parses and checks that the content agrees with where it was stored.
    pub fn from_stored(session_id: &str, step: u64, text: &str) -> Result<Self, CheckpointError> {
        let mut cp = Self::from_json(text)?;
        cp.stored_hash = Some(super::chain::sha256_hex(text.as_bytes()));
        if cp.session_id != session_id || cp.step != step {
            return Err(CheckpointError::Mismatch {
                inner: cp.session_id,
                inner_step: cp.step,
                outer: session_id.to_owned(),
                outer_step: step,
            });
        }
        Ok(cp)
    }
}

/// The latest checkpoint is the highest *numeric* step. The seed sorts key strings, which puts
/// `checkpoint:s:9` after `checkpoint:s:10`; this does not.
pub fn latest_step<I: IntoIterator<Item = u64>>(steps: I) -> Option<u64> {
    steps.into_iter().max()
}

/// Parses the step out of a seed key `checkpoint:{session_id}:{step}`.
pub fn parse_seed_key(key: &str) -> Option<(&str, u64)> {
    let rest = key.strip_prefix("checkpoint:")?;
    let (session, step) = rest.rsplit_once(':')?;
    if session.is_empty() || step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((session, step.parse().ok()?))
}

/// Whether a key under `checkpoint:` is one LangGraph's Redis checkpointer
/// (langgraph-checkpoint-redis 0.5) writes rather than the seed's: the full saver's
/// `checkpoint:{thread}:{ns}:{checkpoint_id}` (a UUID last; the root namespace is `__empty__`) or
/// the shallow saver's `checkpoint:{thread}:{ns}` (the root namespace written empty or as
/// `__empty__`; a subgraph's ends in its task's UUID). A seed key never is one: its step is a
/// number, and these never end in one.
pub fn is_langgraph_key(key: &str) -> bool {
    let Some((_, last)) = key.strip_prefix("checkpoint:").and_then(|rest| rest.rsplit_once(':')) else {
        return false;
    };
    parse_seed_key(key).is_none() && (last.is_empty() || last == "__empty__" || is_uuid(last))
}

/// `8-4-4-4-12` hex digits, the text form of a UUID (LangGraph's checkpoint and task ids).
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_JSON: &str = r#"{"session_id": "s-1", "step": 10, "messages": [{"role": "user", "content": "hi"}], "tool_results": [], "plan": {"goal": "x"}, "created_at": "2026-02-20T10:00:00.123456"}"#;

    #[test]
    fn reads_python_json_dumps_output() {
        let cp = Checkpoint::from_stored("s-1", 10, SEED_JSON).unwrap();
        assert_eq!(cp.step, 10);
        assert_eq!(cp.created_at, "2026-02-20T10:00:00.123456");
        assert_eq!(cp.messages.len(), 1);
    }

    #[test]
    fn numeric_latest_beats_string_sort() {
        let keys = ["checkpoint:s:9", "checkpoint:s:10", "checkpoint:s:2"];
        let mut sorted = keys.to_vec();
        sorted.sort();
        assert_eq!(sorted.last(), Some(&"checkpoint:s:9")); // the seed's bug
        let latest = latest_step(keys.iter().filter_map(|k| parse_seed_key(k)).map(|(_, s)| s));
        assert_eq!(latest, Some(10));
    }

    #[test]
    fn seed_keys_with_colons_in_session_ids() {
        assert_eq!(parse_seed_key("checkpoint:a:b:12"), Some(("a:b", 12)));
        assert_eq!(parse_seed_key("checkpoint:a:"), None);
        assert_eq!(parse_seed_key("checkpoint::3"), None);
        assert_eq!(parse_seed_key("checkpoint:a:-1"), None);
        assert_eq!(parse_seed_key("other:a:1"), None);
    }

    #[test]
    fn langgraph_keys_are_told_from_the_seeds() {
        let id = "1f0b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";
        for key in [
            format!("checkpoint:thread-1:__empty__:{id}"),
            format!("checkpoint:any thread, any text:__empty__:{id}"),
            format!("checkpoint:t:agent:{id}:{id}"), // a subgraph's namespace holds ':'
            "checkpoint:00000000-0000-0000-0000-000000000000:__empty__:00000000-0000-0000-0000-000000000000".into(),
            "checkpoint:thread-1:".into(), // shallow saver, root namespace as written
            "checkpoint:thread-1:__empty__".into(),
            format!("checkpoint:thread-1:agent:{id}"),
        ] {
            assert!(is_langgraph_key(&key), "{key}");
            assert_eq!(parse_seed_key(&key), None, "{key}");
        }
        for key in [
            "checkpoint:s-1:10",
            "checkpoint:a:__empty__:3",
            "checkpoint:a:b:12",
            "checkpoint:badstep:abc",
            "checkpoint:no-step",
            &format!("checkpoint_latest:thread-1:__empty__:{id}"),
            &format!("checkpoint:t:{}", &id[1..]),
        ] {
            assert!(!is_langgraph_key(key), "{key}");
        }
    }

    #[test]
    fn coverage_compares_the_stored_text_with_the_last_hash_recorded_for_its_step() {
        use crate::model::audit::EventBody;
        use crate::model::chain::{seal, sha256_hex, ChainTail};
        let event = |step: u64, hash: Option<String>| {
            let mut body = EventBody::new("s-1", step, EventKind::Checkpoint, "agent:a");
            body.checkpoint_hash = hash;
            seal(body, &ChainTail::genesis()).unwrap().0
        };
        let cp = Checkpoint::from_stored("s-1", 10, SEED_JSON).unwrap();
        let right = Some(sha256_hex(SEED_JSON.as_bytes()));
        let wrong = Some("0".repeat(64));
        assert_eq!(coverage(&cp, &[event(10, right.clone())]), Coverage::Verified);
        assert_eq!(coverage(&cp, &[event(10, right.clone()), event(10, wrong.clone())]), Coverage::Edited);
        assert_eq!(coverage(&cp, &[event(10, wrong), event(10, right)]), Coverage::Verified, "the last one counts");
        assert_eq!(coverage(&cp, &[event(9, Some(sha256_hex(SEED_JSON.as_bytes())))]), Coverage::NotCovered);
        assert_eq!(coverage(&cp, &[event(10, None)]), Coverage::NotCovered);
        // The same content re-serialised is another text: the hash is of the bytes as stored.
        let reformatted = SEED_JSON.replace(", ", ",");
        let cp2 = Checkpoint::from_stored("s-1", 10, &reformatted).unwrap();
        assert_eq!(cp2, cp, "equal content");
        let stored_hash = Some(sha256_hex(SEED_JSON.as_bytes()));
        assert_eq!(coverage(&cp2, &[event(10, stored_hash)]), Coverage::Edited);
    }

    #[test]
    fn bad_checkpoints_say_why() {
        assert!(matches!(Checkpoint::from_json("{"), Err(CheckpointError::NotJson(_))));
        assert!(matches!(Checkpoint::from_json(r#"{"session_id":"s","step":"x"}"#), Err(CheckpointError::Shape(_))));
        assert!(matches!(Checkpoint::from_stored("other", 10, SEED_JSON), Err(CheckpointError::Mismatch { .. })));
        let deep = SEED_JSON.replace(r#"{"goal": "x"}"#, &format!("{}{}", "[".repeat(130), "]".repeat(130)));
        assert_eq!(Checkpoint::from_json(&deep), Err(CheckpointError::TooDeep));
    }
}
