//! Reconstructing what happened: the reasoning chain of a session, replay, and verification of
//! the audit chains.

use crate::model::audit::{AuditEvent, EventKind};
use crate::model::chain::{self, Anchor, ChainBreak, Link};
use crate::model::checkpoint::Checkpoint;
use crate::model::session::Session;
use crate::model::time::Timestamp;
use crate::ports::{AuditQuery, Result, StoreError, Stores};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    Checkpoint(Checkpoint),
    Event(AuditEvent),
}

impl Entry {
    pub fn step(&self) -> u64 {
        match self {
            Entry::Checkpoint(c) => c.step,
            Entry::Event(e) => e.body.step,
        }
    }
}

/// A session's reasoning chain: checkpoints and audit events merged in order.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    pub session: Option<Session>,
    pub entries: Vec<Entry>,
    /// Operator actions whose scope included this session.
    pub operator_actions: Vec<AuditEvent>,
    pub integrity: Result<u64, ChainBreak>,
}

fn parse_created_at(text: &str) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    // Python's isoformat() without a zone: the seed writes that; read it as UTC.
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// Merges events (in chain order) with checkpoints: a checkpoint of step N follows the events of
/// steps ≤ N; among those, by time when the checkpoint has one.
pub fn merge(events: Vec<AuditEvent>, checkpoints: Vec<Checkpoint>) -> Vec<Entry> {
    let mut out = Vec::with_capacity(events.len() + checkpoints.len());
    let mut cps = checkpoints.into_iter().peekable();
    for ev in events {
        while let Some(cp) = cps.peek() {
            let before_by_step = cp.step < ev.body.step;
            let before_by_time =
                cp.step == ev.body.step && parse_created_at(cp.created_at.raw()).is_some_and(|t| t < ev.body.time);
            if before_by_step || before_by_time {
                out.extend(cps.next().map(Entry::Checkpoint));
            } else {
                break;
            }
        }
        out.push(Entry::Event(ev));
    }
    out.extend(cps.map(Entry::Checkpoint));
    out
}

pub fn timeline(stores: &Stores, session_id: &str) -> Result<Timeline> {
    let session = stores.sessions.session(session_id)?;
    let checkpoints = stores.sessions.checkpoints(session_id)?;
    let events = stores.audit.read(&AuditQuery { chain: Some(session_id.to_owned()), ..Default::default() })?;
    if session.is_none() && checkpoints.is_empty() && events.is_empty() {
        return Err(StoreError::NotFound(format!("no session {session_id}")));
    }
    let integrity = verify_chain(stores, session_id, session.as_ref().and_then(anchor))?;
    let operator_actions = operator_actions_for(stores, session_id)?;
    Ok(Timeline { session, entries: merge(events, checkpoints), operator_actions, integrity })
}

fn operator_actions_for(stores: &Stores, session_id: &str) -> Result<Vec<AuditEvent>> {
    let q = AuditQuery { kinds: vec![EventKind::OperatorAction], ..Default::default() };
    Ok(stores
        .audit
        .read(&q)?
        .into_iter()
        .filter(|e| {
            let scope = e.body.attributes.get("quell.scope");
            let kind = scope.and_then(|s| s.get("type")).and_then(|t| t.as_str());
            let listed = scope
                .and_then(|s| s.get("sessions").or_else(|| s.get("session_id")))
                .map(|v| match v {
                    serde_json::Value::Array(ids) => ids.iter().any(|i| i.as_str() == Some(session_id)),
                    serde_json::Value::String(id) => id == session_id,
                    _ => false,
                })
                .unwrap_or(false);
            kind == Some("fleet") || listed
        })
        .collect())
}

pub fn anchor(session: &Session) -> Option<Anchor> {
    session.audit_head.as_ref().map(|h| Anchor { seq: session.audit_seq, hash: h.clone() })
}

/// Verifies one chain with all its stored links.
pub fn verify_chain(stores: &Stores, chain_id: &str, anchor: Option<Anchor>) -> Result<Result<u64, ChainBreak>> {
    let mut links = Vec::new();
    let mut unreadable = None;
    stores.audit.scan(&AuditQuery { chain: Some(chain_id.to_owned()), ..Default::default() }, &mut |raw| {
        match raw.link() {
            Ok((_, link)) => links.push(link),
            Err(e) if unreadable.is_none() => unreadable = Some((raw.position.to_owned(), e, links.len())),
            Err(_) => {}
        }
        Ok(())
    })?;
    if let Some((position, e, index)) = unreadable {
        let seq = links.get(index.saturating_sub(1)).map(|l| l.seq + 1).unwrap_or(1);
        return Ok(Err(ChainBreak {
            session_id: chain_id.to_owned(),
            seq,
            kind: chain::BreakKind::Modified,
            detail: format!("event at {position} is not readable: {e}"),
        }));
    }
    Ok(chain::verify_links(chain_id, &links, anchor.as_ref()))
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub chains: usize,
    pub events: u64,
    pub breaks: Vec<ChainBreak>,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

struct Running {
    expected: u64,
    prev_hash: String,
    broken: bool,
}

/// Verifies every chain (or one) in a single streaming pass; chains that break are re-read to
/// name the first broken link precisely. Sessions' reported heads catch a truncated tail.
pub fn verify(stores: &Stores, only: Option<&str>) -> Result<VerifyReport> {
    let mut state: HashMap<String, Running> = HashMap::new();
    let mut events = 0u64;
    let mut unreadable_chains: HashSet<String> = HashSet::new();
    let mut first_unreadable: Option<(String, String)> = None;
    stores.audit.scan(&AuditQuery { chain: only.map(str::to_owned), ..Default::default() }, &mut |raw| {
        events += 1;
        let (chain_id, link): (String, Link) = match raw.link() {
            Ok(x) => x,
            Err(e) => {
                // Cannot even tell which chain it belongs to.
                if first_unreadable.is_none() {
                    first_unreadable = Some((raw.position.to_owned(), e));
                }
                return Ok(());
            }
        };
        let entry = state.entry(chain_id).or_insert_with(|| Running {
            expected: 1,
            prev_hash: chain::GENESIS_HASH.to_owned(),
            broken: false,
        });
        if entry.broken {
            return Ok(());
        }
        if link.intact && link.seq == entry.expected && link.prev_hash == entry.prev_hash {
            entry.expected += 1;
            entry.prev_hash = link.hash;
        } else {
            entry.broken = true;
        }
        Ok(())
    })?;
    let mut report = VerifyReport { chains: state.len(), events, breaks: Vec::new() };
    if let Some((position, e)) = first_unreadable {
        unreadable_chains.insert(position.clone());
        report.breaks.push(ChainBreak {
            session_id: "?".into(),
            seq: 0,
            kind: chain::BreakKind::Modified,
            detail: format!("event at {position} is not readable: {e}"),
        });
    }
    let sessions: HashMap<String, Session> = match only {
        Some(id) => stores.sessions.session(id)?.map(|s| (s.id.clone(), s)).into_iter().collect(),
        None => stores.sessions.sessions()?.into_iter().map(|s| (s.id.clone(), s)).collect(),
    };
    let mut names: Vec<&String> = state.keys().collect();
    names.sort();
    for chain_id in names {
        let run = &state[chain_id];
        let anchor = sessions.get(chain_id).and_then(anchor);
        if run.broken {
            if let Err(b) = verify_chain(stores, chain_id, anchor)? {
                report.breaks.push(b);
            }
        } else if let Some(a) = anchor {
            let last = run.expected - 1;
            if a.seq > last || (a.seq == last && a.hash != run.prev_hash) {
                if let Err(b) = verify_chain(stores, chain_id, Some(a))? {
                    report.breaks.push(b);
                }
            }
        }
    }
    // A session that reported events of which none are stored.
    for (id, s) in &sessions {
        if !state.contains_key(id) && s.audit_seq > 0 {
            report.breaks.push(ChainBreak {
                session_id: id.clone(),
                seq: 1,
                kind: chain::BreakKind::TailMissing,
                detail: format!("the session reported {} events, the log has none", s.audit_seq),
            });
        }
    }
    if let Some(id) = only {
        if state.is_empty() && !sessions.contains_key(id) {
            return Err(StoreError::NotFound(format!("no session or audit chain {id}")));
        }
    }
    Ok(report)
}
