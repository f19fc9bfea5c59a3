//! The anomaly rules ([`crate::model::anomaly`]) applied to what the stores hold: one session's
//! reasoning chain (`quell show`, the console's session view and replay) or a whole listing
//! (`quell sessions`), with the chain's integrity as the `broken_chain` rule.

use super::forensics::{self, Entry, Timeline};
use crate::model::anomaly::{Anomaly, Detector, RuleId, Rules};
use crate::model::audit::EventKind;
use crate::model::chain::ChainBreak;
use crate::model::selector::Selector;
use crate::model::session::Session;
use crate::model::time::Timestamp;
use crate::ports::{AuditQuery, Result, Stores};
use std::collections::HashMap;

/// The anomalies of a timeline: per entry (the same index as [`Timeline::entries`]) and all of
/// them, session-wide findings (no event) included, in chain order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    pub per_entry: Vec<Vec<Anomaly>>,
    pub all: Vec<Anomaly>,
}

/// The rules for one entry: the chain break placed at its event, an event that does not match
/// its own hash, an entry that could not be read, and what the detector finds.
fn entry_anomalies(detector: &mut Detector<'_>, entry: &Entry, broken: Option<&ChainBreak>) -> Vec<Anomaly> {
    match entry {
        Entry::Event(e) => {
            let mut found = Vec::new();
            if let Some(b) = broken.filter(|b| b.seq == e.seq) {
                found.push(Anomaly::broken_chain(b));
            } else if !e.is_intact() {
                found.push(Anomaly::edited_event(e.seq));
            }
            for a in &found {
                detector.add(a.clone());
            }
            found.extend(detector.event(e));
            found
        }
        Entry::Unreadable(u) => {
            let a = Anomaly::unreadable(u.seq, &u.reason);
            detector.add(a.clone());
            vec![a]
        }
        Entry::Checkpoint(_) => Vec::new(),
    }
}

pub fn in_timeline(t: &Timeline, rules: &Rules) -> Found {
    let broken = t.integrity.as_ref().err();
    let mut detector = Detector::for_session(rules, t.session.as_ref());
    let per_entry: Vec<Vec<Anomaly>> = t.entries.iter().map(|e| entry_anomalies(&mut detector, e, broken)).collect();
    let mut all = detector.finish(t.session.as_ref());
    // A break at a seq no stored event has (a missing tail): still a finding.
    if let Some(b) = broken {
        if !all.iter().any(|a| a.rule == RuleId::BrokenChain) {
            all.push(Anomaly::broken_chain(b));
        }
    }
    Found { per_entry, all }
}

/// The anomalies of events that belong to several sessions (a replay window): each session's
/// rules see only its own events. Per entry, as [`Found::per_entry`].
pub fn in_window(entries: &[Entry], rules: &Rules) -> Vec<Vec<Anomaly>> {
    let mut detectors: HashMap<String, Detector<'_>> = HashMap::new();
    let mut orphan = Detector::new(rules);
    entries
        .iter()
        .map(|entry| {
            let d = match entry {
                Entry::Event(e) => detectors.entry(e.body.session_id.clone()).or_insert_with(|| Detector::new(rules)),
                _ => &mut orphan,
            };
            entry_anomalies(d, entry, None)
        })
        .collect()
}

/// The kinds of event the rules read (a listing skips checkpoint, control and decision events).
pub const JUDGED_KINDS: [EventKind; 6] = [
    EventKind::SessionStarted,
    EventKind::LlmCall,
    EventKind::ToolCall,
    EventKind::ToolResult,
    EventKind::ApprovalRequested,
    EventKind::Error,
];

/// Up to this many sessions are judged chain by chain (indexed reads); more are judged in one
/// pass over the whole log.
const PER_CHAIN_UP_TO: usize = 32;

/// The anomalies of each listed session, by id (sessions with none are absent). Reads the audit
/// log: call it only when the output or a selector needs anomalies.
pub fn for_sessions(stores: &Stores, sessions: &[Session], rules: &Rules) -> Result<BySession> {
    let mut out = HashMap::new();
    if sessions.len() <= PER_CHAIN_UP_TO {
        for s in sessions {
            let q = AuditQuery { chain: Some(s.id.clone()), kinds: JUDGED_KINDS.to_vec(), ..Default::default() };
            let entries = forensics::read_entries(stores, &q)?;
            let integrity = forensics::verify_chain(stores, &s.id, forensics::anchor(s))?;
            let broken = integrity.as_ref().err();
            let mut d = Detector::for_session(rules, Some(s));
            for e in &entries {
                entry_anomalies(&mut d, e, broken);
            }
            let mut found = d.finish(Some(s));
            if let Some(b) = broken {
                if !found.iter().any(|a| a.rule == RuleId::BrokenChain && a.seq == Some(b.seq)) {
                    found.push(Anomaly::broken_chain(b));
                }
            }
            if !found.is_empty() {
                out.insert(s.id.clone(), found);
            }
        }
        return Ok(out);
    }
    let wanted: HashMap<&str, &Session> = sessions.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut detectors: HashMap<String, Detector<'_>> = HashMap::new();
    let q = AuditQuery { kinds: JUDGED_KINDS.to_vec(), ..Default::default() };
    stores.audit.scan(&q, &mut |raw| {
        // Where the backend files events by chain, the events of sessions not listed are not
        // parsed (the chain's integrity is verified on its own below).
        if raw.filing.chain.is_some_and(|c| std::str::from_utf8(c).map_or(true, |c| !wanted.contains_key(c))) {
            return Ok(());
        }
        match raw.event() {
            Ok(e) => {
                if let Some(s) = wanted.get(e.body.session_id.as_str()) {
                    let d = detectors.entry(s.id.clone()).or_insert_with(|| Detector::for_session(rules, Some(s)));
                    d.event(&e);
                }
            }
            Err(why) => {
                let chain = raw.filing.chain.map(String::from_utf8_lossy);
                if let Some(s) = chain.as_deref().and_then(|c| wanted.get(c)) {
                    let u = forensics::UnreadableEntry::event(&raw, why);
                    let d = detectors.entry(s.id.clone()).or_insert_with(|| Detector::for_session(rules, Some(s)));
                    d.add(Anomaly::unreadable(u.seq, &u.reason));
                }
            }
        }
        Ok(())
    })?;
    // The chains' integrity in one streaming pass (every break, with its seq).
    let breaks = forensics::verify(stores, None)?.breaks;
    for s in sessions {
        let d = detectors.remove(&s.id).unwrap_or_else(|| Detector::for_session(rules, Some(s)));
        let mut found = d.finish(Some(s));
        found.extend(breaks.iter().filter(|b| b.session_id == s.id).map(Anomaly::broken_chain));
        if !found.is_empty() {
            out.insert(s.id.clone(), found);
        }
    }
    Ok(out)
}

/// What the rules found, by session id (sessions with none are absent).
pub type BySession = HashMap<String, Vec<Anomaly>>;

/// The rule ids a session breaks, from [`for_sessions`]'s answer.
pub fn rule_ids(found: &BySession, session_id: &str) -> Vec<RuleId> {
    found.get(session_id).map(|f| f.iter().map(|a| a.rule).collect()).unwrap_or_default()
}

/// The sessions `selector` matches, an `anomaly` requirement judged from the audit log (only
/// for the sessions that meet the other requirements), with what was judged.
pub fn select(
    stores: &Stores,
    mut sessions: Vec<Session>,
    selector: &Selector,
    rules: &Rules,
    now: Timestamp,
) -> Result<(Vec<Session>, BySession)> {
    sessions.retain(|s| selector.matches_ignoring_anomalies(s, now));
    let found = for_sessions(stores, &sessions, rules)?;
    sessions.retain(|s| selector.matches_with(s, now, Some(&rule_ids(&found, &s.id))));
    Ok((sessions, found))
}
