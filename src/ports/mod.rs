//! Storage ports: the contract every backend (embedded SQLite, Redis, Kafka) implements and the
//! conformance suite (`tests/conformance/`) checks. Synchronous on purpose: callers that must not
//! block (the console) call them from background threads.

pub mod cluster;
pub mod spans;

use crate::model::approval::{Approval, DecideError, Decision};
use crate::model::audit::{AuditEvent, EventKind};
use crate::model::chain::{self, ChainTail, Link};
use crate::model::checkpoint::{Checkpoint, UnreadableCheckpoint};
use crate::model::control::{ControlRecord, ControlTarget, Desired};
use crate::model::session::{Session, SessionState};
use crate::model::time::Timestamp;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Decide(#[from] DecideError),
    /// The backend cannot be reached or refused service.
    #[error("{0}")]
    Unavailable(String),
    /// The backend holds something that is not (or no longer) what quell wrote.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Live session state and the seed's checkpoints.
pub trait SessionStore: Send + Sync {
    /// Inserts or replaces session records (agents report their own state, batched).
    fn put_sessions(&self, sessions: &[Session]) -> Result<()>;
    fn session(&self, id: &str) -> Result<Option<Session>>;
    fn sessions(&self) -> Result<Vec<Session>>;
    /// Id, acknowledged control generation and state of every session: all that
    /// acknowledgement polling needs, cheaper than whole records on big fleets.
    fn acknowledgements(&self) -> Result<Vec<(String, u64, SessionState)>> {
        Ok(self.sessions()?.into_iter().map(|s| (s.id, s.ack_generation, s.state)).collect())
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;
    /// Checkpoints of a session in numeric step order, each one read or why it could not be:
    /// what the reasoning chain shows, so that one bad checkpoint never hides the others.
    fn checkpoint_entries(&self, session_id: &str) -> Result<Vec<Result<Checkpoint, UnreadableCheckpoint>>>;
    /// Checkpoints of a session, in numeric step order; one that cannot be read is an error.
    fn checkpoints(&self, session_id: &str) -> Result<Vec<Checkpoint>> {
        self.checkpoint_entries(session_id)?
            .into_iter()
            .map(|c| c.map_err(|u| StoreError::Corrupt(u.to_string())))
            .collect()
    }
    /// The highest numeric step's checkpoint.
    fn latest_checkpoint(&self, session_id: &str) -> Result<Option<Checkpoint>>;
}

/// Desired state. Every change bumps one store-wide generation.
pub trait ControlStore: Send + Sync {
    /// Writes one desired state for all `targets` atomically; returns the new generation.
    fn set_control(
        &self,
        targets: &[ControlTarget],
        desired: Desired,
        operator: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<u64>;
    /// Records with a generation above `since`, oldest first (`since = 0`: everything).
    fn control_changes(&self, since: u64) -> Result<Vec<ControlRecord>>;
    /// The fleet-wide record, if any was ever set.
    fn fleet_control(&self) -> Result<Option<ControlRecord>>;
    fn session_control(&self, session_id: &str) -> Result<Option<ControlRecord>>;
}

pub trait ApprovalStore: Send + Sync {
    fn request_approval(&self, approval: &Approval) -> Result<()>;
    fn approval(&self, id: &str) -> Result<Option<Approval>>;
    /// All approvals, newest first; `pending_only` keeps those still pending at `now`.
    fn approvals(&self, pending_only: bool, now: Timestamp) -> Result<Vec<Approval>>;
    /// Applies a decision atomically: under any number of concurrent deciders exactly one final
    /// decision is recorded; the others get [`DecideError::AlreadyDecided`] naming it.
    fn decide(&self, id: &str, decision: Decision) -> Result<Approval>;
}

/// A sealed event ready to append, with the canonical text its hash covers.
#[derive(Clone, Debug)]
pub struct SealedEvent {
    pub event: AuditEvent,
    pub canonical: String,
}

impl SealedEvent {
    pub fn seal(body: crate::model::audit::EventBody, tail: &ChainTail) -> Result<Self> {
        let (event, canonical) = chain::seal(body, tail).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(SealedEvent { event, canonical })
    }
}

/// One stored event as the backend holds it, before any trust is placed in it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawEvent<'a> {
    /// Where it is in the backend (row id, or partition/offset), for error reports.
    pub position: &'a str,
    /// The event JSON. With `hash` given: the canonical text without `hash`.
    /// Without: the whole record as received, `hash` inside.
    pub json: &'a str,
    pub hash: Option<&'a str>,
    /// What the backend keeps beside the content and trusts to find the event.
    pub filing: Filing<'a>,
}

impl<'a> RawEvent<'a> {
    pub fn new(position: &'a str, json: &'a str, hash: Option<&'a str>) -> Self {
        RawEvent { position, json, hash, filing: Filing::default() }
    }
}

/// What a backend stores beside the hashed content and uses to find events (index columns, a
/// record key). The hash does not cover any of it, and filters trust it, so [`RawEvent::link`]
/// checks each value given against the content: an edit there is a break, not a filter that
/// silently drops events. `None`: the backend keeps no such value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filing<'a> {
    /// The chain the event is filed under (a `chain` column, a record key), as stored.
    pub chain: Option<&'a [u8]>,
    pub seq: Option<i64>,
    pub kind: Option<&'a [u8]>,
    /// The event's time in microseconds since the epoch.
    pub time_us: Option<i64>,
    /// A stored value beside the content that is not of its type (`"a seq that is not an integer"`).
    pub malformed: Option<&'static str>,
    /// Why the content could not be read as text at all (`json` is then empty).
    pub unreadable: Option<&'static str>,
}

impl Filing<'_> {
    /// The chain the event is filed under, shown (for a break report); `?` when none is readable.
    pub fn chain_shown(&self) -> String {
        match self.chain {
            Some(c) => crate::model::untrusted::Untrusted::from_bytes(c).shown_line(),
            None => "?".into(),
        }
    }

    /// The first stored value that the content does not back, described after "{position} ".
    fn mismatch(&self, content: &LinkFields<'_>) -> Option<String> {
        if let Some(why) = self.malformed {
            return Some(format!("is filed with {why}"));
        }
        let shown = |b: &[u8]| crate::model::untrusted::Untrusted::from_bytes(b).shown_line();
        if let Some(chain) = self.chain.filter(|c| *c != content.chain.as_bytes()) {
            return Some(format!(
                "is filed under chain '{}' but its content belongs to chain '{}'",
                shown(chain),
                crate::model::untrusted::neutralize(&content.chain, crate::model::untrusted::Lines::Escape)
            ));
        }
        if let Some(seq) = self.seq.filter(|s| u64::try_from(*s).ok() != Some(content.seq)) {
            return Some(format!("is filed as seq {seq} but its content says seq {}", content.seq));
        }
        if let Some(kind) = self.kind.filter(|k| Some(*k) != content.kind.as_deref().map(str::as_bytes)) {
            let real = content.kind.as_deref().map(|k| format!("'{}'", shown(k.as_bytes())));
            return Some(format!(
                "is filed as kind '{}' but its content says {}",
                shown(kind),
                real.as_deref().unwrap_or("none")
            ));
        }
        if let Some(us) = self.time_us {
            let real = content.time.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            match real.map(|t| t.timestamp_micros()) {
                Some(real) if real == us => {}
                Some(real) => {
                    return Some(format!(
                        "is filed at time {} but its content says {}",
                        crate::model::time::format(&crate::model::time::from_micros(us)),
                        crate::model::time::format(&crate::model::time::from_micros(real))
                    ))
                }
                None => return Some("is filed with a time but its content has no readable time".into()),
            }
        }
        None
    }
}

#[derive(serde::Deserialize)]
struct LinkFields<'a> {
    seq: u64,
    #[serde(borrow)]
    prev_hash: std::borrow::Cow<'a, str>,
    #[serde(rename = "gen_ai.conversation.id", borrow)]
    chain: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    time: Option<std::borrow::Cow<'a, str>>,
}

impl RawEvent<'_> {
    /// The chain id and link, checking the content against its hash and what the backend files
    /// it under against the content.
    pub fn link(&self) -> std::result::Result<(String, Link), String> {
        if let Some(why) = self.filing.unreadable {
            return Err(why.to_owned());
        }
        let (f, hash, intact) = match self.hash {
            Some(hash) => {
                let f: LinkFields = serde_json::from_str(self.json).map_err(|e| e.to_string())?;
                let intact = chain::sha256_hex(self.json.as_bytes()) == hash;
                (f, hash.to_owned(), intact)
            }
            None => {
                let f: LinkFields = serde_json::from_str(self.json).map_err(|e| e.to_string())?;
                // A record as quell writes it — the canonical text with `hash` appended as its last
                // member — is checked on its text, without building values, so an event nested
                // deeper than serde_json builds values of is verified all the same. Any other
                // record (or one whose text does not hash to it) is re-canonicalised.
                if let Some((canonical, claimed)) = split_trailing_hash(self.json) {
                    if chain::sha256_hex(canonical.as_bytes()) == claimed {
                        let misfiled = self.filing.mismatch(&f).map(|m| format!("{} {m}", self.position));
                        let link = Link {
                            seq: f.seq,
                            prev_hash: f.prev_hash.into_owned(),
                            hash: claimed.into(),
                            intact: true,
                            misfiled,
                        };
                        return Ok((f.chain.into_owned(), link));
                    }
                }
                let value: serde_json::Value = serde_json::from_str(self.json).map_err(|e| e.to_string())?;
                let (claimed, computed) = chain::rehash_value(value).map_err(|e| e.to_string())?;
                let claimed = claimed.ok_or("record has no hash")?;
                let intact = claimed == computed;
                (f, claimed, intact)
            }
        };
        let misfiled = self.filing.mismatch(&f).map(|m| format!("{} {m}", self.position));
        Ok((f.chain.into_owned(), Link { seq: f.seq, prev_hash: f.prev_hash.into_owned(), hash, intact, misfiled }))
    }

    /// The typed event.
    pub fn event(&self) -> std::result::Result<AuditEvent, String> {
        if let Some(why) = self.filing.unreadable {
            return Err(why.to_owned());
        }
        match self.hash {
            Some(hash) => {
                let mut value: serde_json::Value = serde_json::from_str(self.json).map_err(|e| e.to_string())?;
                if let Some(o) = value.as_object_mut() {
                    o.insert("hash".into(), hash.into());
                }
                serde_json::from_value(value).map_err(|e| e.to_string())
            }
            None => serde_json::from_str(self.json).map_err(|e| e.to_string()),
        }
    }

    /// The whole event as one JSON object (with `hash`), without re-encoding the content.
    pub fn to_json(&self) -> String {
        match self.hash {
            Some(hash) if self.json.ends_with('}') && self.json.len() > 2 => {
                format!("{},\"hash\":\"{hash}\"}}", &self.json[..self.json.len() - 1])
            }
            _ => self.json.to_owned(),
        }
    }
}

/// `{…,"hash":"<64 lower-case hex>"}` → (`{…}`, the hex): the object without its last member,
/// when that member is `hash` (the final `}` closes the object, and neither the hex nor the `:`
/// and `,` before the quotes can be inside a string, so this is the top-level member).
fn split_trailing_hash(json: &str) -> Option<(String, &str)> {
    const HEAD: &str = r#","hash":""#;
    let body = json.strip_suffix("\"}")?;
    let (rest, hash) = body.split_at_checked(body.len().checked_sub(64)?)?;
    let rest = rest.strip_suffix(HEAD)?;
    if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) || !rest.starts_with('{') {
        return None;
    }
    Some((format!("{rest}}}"), hash))
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    pub chain: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub kinds: Vec<EventKind>,
}

/// The append-only, tamper-evident audit log.
pub trait AuditLog: Send + Sync {
    /// Appends sealed events. Stores that can check continuity refuse an event whose
    /// `seq`/`prev_hash` does not continue the stored chain with [`StoreError::Conflict`].
    fn append(&self, events: &[SealedEvent]) -> Result<()>;
    /// The last stored event of a chain.
    fn tail(&self, chain: &str) -> Result<Option<ChainTail>>;
    /// The last stored event of each chain, in the order asked (a backend that reads a log to
    /// find tails reads it once for all of them).
    fn tails(&self, chains: &[&str]) -> Result<Vec<Option<ChainTail>>> {
        chains.iter().map(|c| self.tail(c)).collect()
    }
    /// `Ok` while events can be written; otherwise why not (`Unavailable`). May take a network
    /// round trip: the console calls it from a background thread.
    fn health(&self) -> Result<()> {
        Ok(())
    }
    /// Streams matching events in stored order (per chain, append order).
    fn scan(&self, query: &AuditQuery, sink: &mut dyn FnMut(RawEvent<'_>) -> Result<()>) -> Result<()>;
    /// Matching events, typed. Events that cannot be read are an error naming their position.
    fn read(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::new();
        self.scan(query, &mut |raw| {
            out.push(raw.event().map_err(|e| StoreError::Corrupt(format!("audit event at {}: {e}", raw.position)))?);
            Ok(())
        })?;
        Ok(out)
    }
}

/// The backends quell runs on, combined (e.g. state in Redis, audit in Kafka).
#[derive(Clone)]
pub struct Stores {
    pub sessions: Arc<dyn SessionStore>,
    pub control: Arc<dyn ControlStore>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub audit: Arc<dyn AuditLog>,
}
