//! Pause, resume and kill: resolve the exact scope, write desired state, record the action,
//! then watch acknowledgements.

use super::operator_log;
use crate::model::action::{ActionKind, OperatorAction, Scope};
use crate::model::control::{ControlRecord, ControlTarget, Desired};
use crate::model::operator::Acting;
use crate::model::selector::{self, Selector};
use crate::model::session::{Session, SessionState};
use crate::model::time;
use crate::ports::{Result, StoreError, Stores};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Which sessions an operator means.
#[derive(Clone, Debug)]
pub enum Target {
    Sessions(Vec<String>),
    Selector(Selector),
    /// Every session, now and later (pause/resume); every live session (kill).
    All,
}

fn is_live(s: &Session) -> bool {
    !s.state.is_terminal()
}

fn namespaces<'a>(sessions: impl Iterator<Item = &'a Session>) -> BTreeSet<String> {
    sessions.filter_map(|s| s.namespace.as_ref().map(|n| n.raw().to_owned())).collect()
}

/// Live sessions held by their own pause: a fleet resume leaves them paused (they were
/// stopped one by one, on purpose, before or during the fleet hold).
fn held_individually(stores: &Stores, live: &[&Session]) -> Result<Vec<String>> {
    let live: BTreeSet<&str> = live.iter().map(|s| s.id.as_str()).collect();
    Ok(stores
        .control
        .control_changes(0)?
        .into_iter()
        .filter(|r| r.desired == Desired::Pause)
        .filter_map(|r| match r.target {
            ControlTarget::Session(id) if live.contains(id.as_str()) => Some(id),
            _ => None,
        })
        .collect())
}

/// Resolves the target to exact sessions and validates the action. Nothing is written.
pub fn plan(
    stores: &Stores,
    kind: ActionKind,
    target: &Target,
    reason: &str,
    operator: &str,
) -> Result<OperatorAction> {
    if kind.desired().is_none() {
        return Err(StoreError::Invalid(format!("{kind} is not a control action")));
    }
    let all = stores.sessions.sessions()?;
    let now = time::now();
    let scope = match target {
        Target::All if kind == ActionKind::Kill => {
            let live: Vec<&Session> = all.iter().filter(|s| is_live(s)).collect();
            Scope::Sessions {
                sessions: live.iter().map(|s| s.id.clone()).collect(),
                namespaces: namespaces(live.iter().copied()),
                selector: None,
            }
        }
        Target::All => {
            let live: Vec<&Session> = all.iter().filter(|s| is_live(s)).collect();
            let held = if kind == ActionKind::Resume { held_individually(stores, &live)? } else { Vec::new() };
            Scope::Fleet {
                sessions: live.iter().map(|s| s.id.clone()).collect(),
                namespaces: namespaces(live.iter().copied()),
                held,
            }
        }
        Target::Selector(sel) if sel.is_empty() => return Err(StoreError::Invalid(selector::EMPTY.into())),
        Target::Selector(sel) => {
            if let Some(why) = sel.vacuous_negation(&all, now) {
                return Err(StoreError::Invalid(why));
            }
            let chosen: Vec<&Session> = all.iter().filter(|s| is_live(s) && sel.matches(s, now)).collect();
            Scope::Sessions {
                sessions: chosen.iter().map(|s| s.id.clone()).collect(),
                namespaces: namespaces(chosen.iter().copied()),
                selector: Some(sel.to_string()),
            }
        }
        Target::Sessions(ids) => {
            let by_id: HashMap<&str, &Session> = all.iter().map(|s| (s.id.as_str(), s)).collect();
            let mut chosen = Vec::new();
            for id in ids {
                let s = by_id.get(id.as_str()).ok_or_else(|| StoreError::NotFound(format!("no session {id}")))?;
                match (s.state, kind) {
                    (SessionState::Killed, ActionKind::Kill) => {
                        return Err(StoreError::Conflict(format!("session {id} was already killed")))
                    }
                    (SessionState::Killed, _) => {
                        return Err(StoreError::Conflict(format!("session {id} was killed; it cannot be {kind}d")))
                    }
                    (state, _) if state.is_terminal() => {
                        return Err(StoreError::Conflict(format!(
                            "session {id} has ended ({state}); nothing to {kind}"
                        )))
                    }
                    _ => {}
                }
                chosen.push(*s);
            }
            let mut seen = BTreeSet::new();
            chosen.retain(|s| seen.insert(s.id.clone()));
            Scope::Sessions {
                sessions: chosen.iter().map(|s| s.id.clone()).collect(),
                namespaces: namespaces(chosen.iter().copied()),
                selector: None,
            }
        }
    };
    OperatorAction::new(kind, scope, reason, operator).map_err(|e| match e {
        crate::model::action::ActionError::EmptyScope(_) => StoreError::NotFound(e.to_string()),
        _ => StoreError::Invalid(e.to_string()),
    })
}

/// What was written: the generation sessions must acknowledge.
#[derive(Clone, Debug, PartialEq)]
pub struct Issued {
    pub generation: u64,
    pub desired: Desired,
    pub sessions: Vec<String>,
    /// Set when the change took effect but the operator's audit record could not be written:
    /// why (affected agents still record the change, operator and reason on their own chains).
    pub audit_error: Option<String>,
    /// A resume of chosen sessions while the fleet is held: the fleet record that still
    /// applies, so they stay paused until the fleet is resumed.
    pub fleet_hold: Option<ControlRecord>,
}

/// Writes the desired state for the planned scope and records the action in the audit log.
/// Only an operator who may act ([`Acting`]) can.
pub fn execute(stores: &Stores, _acting: &Acting, action: &OperatorAction) -> Result<Issued> {
    let desired =
        action.kind.desired().ok_or_else(|| StoreError::Invalid(format!("{} is not a control action", action.kind)))?;
    // Resuming the fleet lifts the fleet hold only: a session paused on its own stays paused
    // until it is resumed by name (the plan lists them, `Scope::Fleet::held`).
    let targets: Vec<ControlTarget> = match &action.scope {
        Scope::Fleet { .. } => vec![ControlTarget::Fleet],
        Scope::Sessions { sessions, .. } => sessions.iter().cloned().map(ControlTarget::Session).collect(),
        Scope::Approval { .. } | Scope::Approvals { .. } => {
            return Err(StoreError::Invalid("an approval is not a control scope".into()))
        }
    };
    // Read before writing, so that a failure here means nothing was issued.
    let fleet_hold = match (&action.scope, desired) {
        (Scope::Sessions { .. }, Desired::Run) => stores.control.fleet_control()?.filter(|r| r.desired != Desired::Run),
        _ => None,
    };
    let generation = stores.control.set_control(&targets, desired, &action.operator, &action.reason, time::now())?;
    let audit_error =
        operator_log::record_taken(stores, action, &format!("issued at control generation {generation}")).err();
    Ok(Issued { generation, desired, sessions: action.scope.session_ids().to_vec(), audit_error, fleet_hold })
}

/// Acknowledgement state of an issued control change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AckReport {
    pub acknowledged: Vec<String>,
    /// Live sessions that have not acknowledged yet.
    pub outstanding: Vec<String>,
    /// Sessions that ended (finished, failed, killed) without acknowledging: nothing to stop.
    pub ended: Vec<String>,
}

impl AckReport {
    pub fn complete(&self) -> bool {
        self.outstanding.is_empty()
    }
}

pub fn progress(stores: &Stores, issued: &Issued) -> Result<AckReport> {
    let acks = stores.sessions.acknowledgements()?;
    let by_id: HashMap<&str, (u64, SessionState)> = acks.iter().map(|(id, g, s)| (id.as_str(), (*g, *s))).collect();
    let mut report = AckReport::default();
    for id in &issued.sessions {
        match by_id.get(id.as_str()) {
            Some((ack, _)) if *ack >= issued.generation => report.acknowledged.push(id.clone()),
            Some((_, SessionState::Killed)) if issued.desired == Desired::Kill => report.acknowledged.push(id.clone()),
            Some((_, state)) if state.is_terminal() => report.ended.push(id.clone()),
            _ => report.outstanding.push(id.clone()),
        }
    }
    Ok(report)
}

/// Polls until every session acknowledged or `wait` passed. An error means the change was
/// issued (see `issued`) but whether sessions acknowledged it is unknown.
pub fn await_ack(stores: &Stores, issued: &Issued, wait: Duration) -> Result<AckReport> {
    let deadline = Instant::now() + wait;
    loop {
        // A read that fails (a backend restarting) is tried again until `wait` ends: the change
        // is issued already, and only the last attempt decides whether acknowledgements are known.
        let report = progress(stores, issued);
        if report.as_ref().is_ok_and(AckReport::complete) || Instant::now() >= deadline {
            return report;
        }
        std::thread::sleep(Duration::from_millis(if report.is_ok() { 10 } else { 100 }));
    }
}
