//! Reconstructing what happened: the reasoning chain of a session, replay, and verification of
//! the audit chains.

use crate::model::audit::{AuditEvent, EventKind};
use crate::model::chain::{self, Anchor, ChainBreak, Link};
use crate::model::checkpoint::{self, Checkpoint, Coverage, UnreadableCheckpoint};
use crate::model::session::Session;
use crate::model::time::Timestamp;
use crate::model::unreadable::json_reason;
use crate::model::untrusted::{neutralize, Lines};
use crate::ports::{AuditQuery, RawEvent, Result, StoreError, Stores};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    Checkpoint(Checkpoint),
    Event(AuditEvent),
    /// A checkpoint or event that could not be read, in its place, with the reason.
    Unreadable(UnreadableEntry),
}

/// A stored checkpoint or audit event quell could not read (not JSON, not its shape, nested
/// deeper than [`crate::model::unreadable::MAX_DEPTH`]): shown with the reason, the rest of the
/// view as usual. An unreadable event's hash is still checked: verification reads the stored
/// canonical text, not the typed event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnreadableEntry {
    /// `checkpoint` or `event`.
    pub what: &'static str,
    /// Where it is stored: the event's row or partition/offset, the checkpoint's session and step.
    pub position: String,
    pub seq: Option<u64>,
    pub step: Option<u64>,
    /// As events write it (RFC 3339, microseconds).
    #[serde(serialize_with = "rfc3339_or_null")]
    pub time: Option<Timestamp>,
    /// One neutralised line.
    pub reason: String,
}

fn rfc3339_or_null<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::model::time::format(t)),
        None => s.serialize_none(),
    }
}

impl UnreadableEntry {
    /// An event that did not parse as an [`AuditEvent`]; what it says of its place in the chain
    /// is read without building its values (so even one nested too deep is placed).
    pub fn event(raw: &RawEvent<'_>, error: impl std::fmt::Display) -> Self {
        #[derive(serde::Deserialize)]
        struct Head {
            seq: Option<u64>,
            step: Option<u64>,
            time: Option<String>,
        }
        let head = serde_json::from_str::<Head>(raw.json).ok();
        let time = head.as_ref().and_then(|h| h.time.as_deref()).and_then(parse_created_at);
        UnreadableEntry {
            what: "event",
            position: raw.position.to_owned(),
            seq: head.as_ref().and_then(|h| h.seq),
            step: head.as_ref().and_then(|h| h.step),
            time,
            reason: json_reason(error),
        }
    }

    pub fn checkpoint(c: UnreadableCheckpoint) -> Self {
        UnreadableEntry {
            what: "checkpoint",
            position: format!("session {} step {}", c.session_id, c.step),
            seq: None,
            step: Some(c.step),
            time: None,
            reason: c.reason,
        }
    }
}

impl Entry {
    pub fn step(&self) -> u64 {
        match self {
            Entry::Checkpoint(c) => c.step,
            Entry::Event(e) => e.body.step,
            Entry::Unreadable(u) => u.step.unwrap_or(0),
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
    /// Each checkpoint (step order) against the hash its audit event recorded.
    pub checkpoint_coverage: Vec<(u64, Coverage)>,
}

impl Timeline {
    /// The chain verifies and no checkpoint was edited (one not covered is not proof of tampering).
    pub fn intact(&self) -> bool {
        self.integrity.is_ok() && steps_with(&self.checkpoint_coverage, Coverage::Edited).is_empty()
    }
}

/// The steps whose checkpoint has coverage `c`.
pub fn steps_with(coverage: &[(u64, Coverage)], c: Coverage) -> Vec<u64> {
    coverage.iter().filter(|(_, k)| *k == c).map(|(s, _)| *s).collect()
}

/// What the integrity of a session's record comes to, in words (`show`, the console's badge):
/// `Err` when something is wrong or unproven, `Ok` when chain and checkpoints all verify.
pub fn integrity_words(integrity: &Result<u64, ChainBreak>, coverage: &[(u64, Coverage)]) -> Result<String, String> {
    let list = |steps: Vec<u64>| {
        let shown: Vec<String> = steps.iter().map(u64::to_string).collect();
        format!("step{} {}", if steps.len() == 1 { "" } else { "s" }, shown.join(", "))
    };
    let n = match integrity {
        Err(b) => return Err(format!("chain broken at seq {} ({})", b.seq, b.kind)),
        Ok(n) => *n,
    };
    let edited = steps_with(coverage, Coverage::Edited);
    if !edited.is_empty() {
        return Err(format!("checkpoint edited at {} (differs from the hash its audit event records)", list(edited)));
    }
    let uncovered = steps_with(coverage, Coverage::NotCovered);
    if !uncovered.is_empty() {
        let events = if n == 1 { "1 event".to_owned() } else { format!("{n} events") };
        return Err(format!("checkpoint not covered by an audit event at {} ({events} verified)", list(uncovered)));
    }
    Ok(format!("chain verified ({n} event{})", if n == 1 { "" } else { "s" }))
}

fn parse_created_at(text: &str) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    // Python's isoformat() without a zone: the seed writes that; read it as UTC.
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// Step and time of an entry, where known, for ordering.
fn place(entry: &Entry) -> (Option<u64>, Option<Timestamp>) {
    match entry {
        Entry::Checkpoint(c) => (Some(c.step), parse_created_at(c.created_at.raw())),
        Entry::Event(e) => (Some(e.body.step), Some(e.body.time)),
        Entry::Unreadable(u) => (u.step, u.time),
    }
}

/// Merges events (in chain order) with checkpoints (in step order): a checkpoint of step N
/// follows the events of steps ≤ N; among those, by time when the checkpoint has one. An event
/// whose step is unknown (unreadable) stays where it is stored.
pub fn merge(events: Vec<Entry>, checkpoints: Vec<Entry>) -> Vec<Entry> {
    let mut out = Vec::with_capacity(events.len() + checkpoints.len());
    let mut cps = checkpoints.into_iter().peekable();
    for ev in events {
        let (Some(ev_step), ev_time) = place(&ev) else {
            out.push(ev);
            continue;
        };
        while let Some(cp) = cps.peek() {
            let (cp_step, cp_time) = place(cp);
            let cp_step = cp_step.unwrap_or(0);
            let before_by_step = cp_step < ev_step;
            let before_by_time = cp_step == ev_step && matches!((cp_time, ev_time), (Some(c), Some(e)) if c < e);
            if before_by_step || before_by_time {
                out.extend(cps.next());
            } else {
                break;
            }
        }
        out.push(ev);
    }
    out.extend(cps);
    out
}

/// Events matching `query` in stored order, each typed or, when it cannot be read (an event
/// nested deeper than serde_json reads, say), an unreadable entry in its place: one such event
/// never fails `show`, `replay` or the console's session view.
pub fn read_entries(stores: &Stores, query: &AuditQuery) -> Result<Vec<Entry>> {
    read_entries_at_most(stores, query, usize::MAX).map(|(entries, _)| entries)
}

/// [`read_entries`] that stops after `max` entries, so a wide query (every session's events in
/// a time window) is read in bounded memory: the first `max` entries in stored order, and
/// whether the query matched more.
pub fn read_entries_at_most(stores: &Stores, query: &AuditQuery, max: usize) -> Result<(Vec<Entry>, bool)> {
    let mut out = Vec::new();
    let mut more = false;
    let scanned = stores.audit.scan(query, &mut |raw| {
        if out.len() >= max {
            more = true;
            // Ends the scan; recognised below by `more`, never reported.
            return Err(StoreError::Invalid("enough entries read".into()));
        }
        out.push(match raw.event() {
            Ok(e) => Entry::Event(e),
            Err(e) => Entry::Unreadable(UnreadableEntry::event(&raw, e)),
        });
        Ok(())
    });
    match scanned {
        Err(_) if more => {}
        other => other?,
    }
    Ok((out, more))
}

pub fn timeline(stores: &Stores, session_id: &str) -> Result<Timeline> {
    let session = stores.sessions.session(session_id)?;
    let checkpoints: Vec<Entry> = stores
        .sessions
        .checkpoint_entries(session_id)?
        .into_iter()
        .map(|c| c.map_or_else(|u| Entry::Unreadable(UnreadableEntry::checkpoint(u)), Entry::Checkpoint))
        .collect();
    let events = read_entries(stores, &AuditQuery { chain: Some(session_id.to_owned()), ..Default::default() })?;
    if session.is_none() && checkpoints.is_empty() && events.is_empty() {
        return Err(StoreError::NotFound(format!("no session {session_id}")));
    }
    let integrity = verify_chain(stores, session_id, session.as_ref().and_then(anchor))?;
    let operator_actions = operator_actions_for(stores, session_id)?;
    let typed: Vec<AuditEvent> = events
        .iter()
        .filter_map(|e| match e {
            Entry::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let checkpoint_coverage = checkpoints
        .iter()
        .filter_map(|c| match c {
            Entry::Checkpoint(c) => Some((c.step, checkpoint::coverage(c, &typed))),
            _ => None,
        })
        .collect();
    Ok(Timeline { session, entries: merge(events, checkpoints), operator_actions, integrity, checkpoint_coverage })
}

/// Operator actions whose scope names this session. One that cannot be read cannot say whom
/// it concerned, so it is left to the operator's own chain rather than fail every session's
/// view.
fn operator_actions_for(stores: &Stores, session_id: &str) -> Result<Vec<AuditEvent>> {
    let q = AuditQuery { kinds: vec![EventKind::OperatorAction], ..Default::default() };
    Ok(read_entries(stores, &q)?
        .into_iter()
        .filter_map(|e| match e {
            Entry::Event(e) => Some(e),
            _ => None,
        })
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

/// Verifies one chain with all its stored links. A row that cannot be read is the break
/// unless the chain breaks before it.
pub fn verify_chain(stores: &Stores, chain_id: &str, anchor: Option<Anchor>) -> Result<Result<u64, ChainBreak>> {
    let mut links = Vec::new();
    let mut unreadable: Option<ChainBreak> = None;
    stores.audit.scan(&AuditQuery { chain: Some(chain_id.to_owned()), ..Default::default() }, &mut |raw| {
        if unreadable.is_none() {
            match raw.link() {
                Ok((_, link)) => links.push(link),
                Err(e) => {
                    let next = links.last().map(|l: &Link| l.seq + 1).unwrap_or(1);
                    unreadable = Some(unreadable_break(&raw, chain_id.to_owned(), next, &e));
                }
            }
        }
        Ok(())
    })?;
    match unreadable {
        Some(b) => Ok(Err(chain::verify_links(chain_id, &links, None).err().unwrap_or(b))),
        None => Ok(chain::verify_links(chain_id, &links, anchor.as_ref())),
    }
}

/// A stored event that cannot be read at all, reported on the chain the store files it under and
/// at the seq it is filed as (else the seq the chain expected next).
fn unreadable_break(raw: &RawEvent<'_>, chain_id: String, expected: u64, e: &str) -> ChainBreak {
    ChainBreak {
        session_id: chain_id,
        seq: raw.filing.seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(expected),
        kind: chain::BreakKind::Modified,
        detail: format!("event at {} is not readable: {}", raw.position, neutralize(e, Lines::Escape)),
    }
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
    verdict: Verdict,
}

impl Running {
    fn new() -> Self {
        Running { expected: 1, prev_hash: chain::GENESIS_HASH.to_owned(), verdict: Verdict::Intact }
    }
}

enum Verdict {
    Intact,
    /// Broken by a link: re-read the chain to name the first broken link.
    Broken,
    /// Broken by one event on its own (unreadable, not matching its hash, misfiled): named as is.
    Found(ChainBreak),
}

/// Verifies every chain (or one) in a single streaming pass; chains whose links break are
/// re-read to name the first broken link precisely. Sessions' reported heads catch a truncated
/// tail. An event that cannot be read breaks the chain it is filed under; the pass goes on.
pub fn verify(stores: &Stores, only: Option<&str>) -> Result<VerifyReport> {
    // Read before the log: a head reported later than the events read would look truncated.
    let sessions: Vec<Session> = match only {
        Some(id) => stores.sessions.session(id)?.into_iter().collect(),
        None => stores.sessions.sessions()?,
    };
    verify_against(stores, only, &sessions)
}

/// [`verify`] of the whole log with the session records already read (their reported heads),
/// for a caller that holds them (a listing): the fleet is not read twice.
pub fn verify_with_sessions(stores: &Stores, sessions: &[Session]) -> Result<VerifyReport> {
    verify_against(stores, None, sessions)
}

fn verify_against(stores: &Stores, only: Option<&str>, sessions: &[Session]) -> Result<VerifyReport> {
    let mut state: HashMap<String, Running> = HashMap::new();
    let mut events = 0u64;
    stores.audit.scan(&AuditQuery { chain: only.map(str::to_owned), ..Default::default() }, &mut |raw| {
        events += 1;
        let (chain_id, link) = match raw.link() {
            Ok(x) => x,
            Err(e) => {
                let chain_id = raw.filing.chain_shown();
                let run = state.entry(chain_id.clone()).or_insert_with(Running::new);
                if matches!(run.verdict, Verdict::Intact) {
                    run.verdict = Verdict::Found(unreadable_break(&raw, chain_id, run.expected, &e));
                }
                return Ok(());
            }
        };
        if !state.contains_key(&chain_id) {
            state.insert(chain_id.clone(), Running::new());
        }
        let Some(run) = state.get_mut(&chain_id) else { return Ok(()) };
        if !matches!(run.verdict, Verdict::Intact) {
            return Ok(());
        }
        if !link.intact || link.misfiled.is_some() {
            // Named at the event itself, as verify_links would: no need to read the chain again.
            run.verdict = match chain::verify_links(&chain_id, std::slice::from_ref(&link), None) {
                Err(b) => Verdict::Found(b),
                Ok(_) => Verdict::Broken,
            };
        } else if link.seq == run.expected && link.prev_hash == run.prev_hash {
            run.expected += 1;
            run.prev_hash = link.hash;
        } else {
            run.verdict = Verdict::Broken;
        }
        Ok(())
    })?;
    let mut report = VerifyReport { chains: state.len(), events, breaks: Vec::new() };
    let sessions: HashMap<&str, &Session> = sessions.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut runs: Vec<_> = state.iter().collect();
    runs.sort_by_key(|&(chain_id, _)| chain_id);
    for (chain_id, run) in runs {
        let anchor = sessions.get(chain_id.as_str()).and_then(|s| anchor(s));
        if let Verdict::Found(b) = &run.verdict {
            report.breaks.push(b.clone());
        } else if matches!(run.verdict, Verdict::Broken) {
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
        if !state.contains_key(*id) && s.audit_seq > 0 {
            report.breaks.push(ChainBreak {
                session_id: (*id).to_owned(),
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
