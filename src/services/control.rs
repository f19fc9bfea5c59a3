//! Pause, resume and kill: resolve the exact scope, write desired state, record the action,
//! then watch acknowledgements.

use super::operator_log;
use crate::model::action::{ActionKind, OperatorAction, Scope};
use crate::model::control::{ControlTarget, Desired};
use crate::model::selector::Selector;
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
            Scope::Fleet {
                sessions: live.iter().map(|s| s.id.clone()).collect(),
                namespaces: namespaces(live.iter().copied()),
            }
        }
        Target::Selector(sel) => {
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
                if s.state == SessionState::Killed && kind != ActionKind::Kill {
                    return Err(StoreError::Conflict(format!("session {id} was killed; it cannot be {kind}d")));
                }
                if s.state.is_terminal() && kind != ActionKind::Kill {
                    return Err(StoreError::Conflict(format!("session {id} has ended ({})", s.state)));
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
}

/// Writes the desired state for the planned scope and records the action in the audit log.
pub fn execute(stores: &Stores, action: &OperatorAction) -> Result<Issued> {
    let desired =
        action.kind.desired().ok_or_else(|| StoreError::Invalid(format!("{} is not a control action", action.kind)))?;
    let mut targets: Vec<ControlTarget> = match &action.scope {
        Scope::Fleet { .. } => vec![ControlTarget::Fleet],
        Scope::Sessions { sessions, .. } => sessions.iter().cloned().map(ControlTarget::Session).collect(),
        Scope::Approval { .. } => return Err(StoreError::Invalid("an approval is not a control scope".into())),
    };
    if matches!(action.scope, Scope::Fleet { .. }) && desired == Desired::Run {
        // Resuming the fleet also lifts per-session pauses, so "resume --all" means what it says.
        for rec in stores.control.control_changes(0)? {
            if let ControlTarget::Session(id) = &rec.target {
                if rec.desired == Desired::Pause {
                    targets.push(ControlTarget::Session(id.clone()));
                }
            }
        }
    }
    let generation = stores.control.set_control(&targets, desired, &action.operator, &action.reason, time::now())?;
    let audit_error =
        operator_log::record_taken(stores, action, &format!("issued at control generation {generation}")).err();
    Ok(Issued { generation, desired, sessions: action.scope.session_ids().to_vec(), audit_error })
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

/// Polls until every session acknowledged or `wait` passed.
pub fn await_ack(stores: &Stores, issued: &Issued, wait: Duration) -> Result<AckReport> {
    let deadline = Instant::now() + wait;
    loop {
        let report = progress(stores, issued)?;
        if report.complete() || Instant::now() >= deadline {
            return Ok(report);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
