//! Deciding approvals: exactly once, with a reason, recorded in the audit log.

use super::operator_log;
use crate::model::action::{ActionKind, OperatorAction, Scope};
use crate::model::approval::{Approval, DecideError, Decision, Verdict};
use crate::model::operator::Acting;
use crate::model::time;
use crate::ports::{Result, StoreError, Stores};

pub fn pending(stores: &Stores) -> Result<Vec<Approval>> {
    stores.approvals.approvals(true, time::now())
}

pub fn get(stores: &Stores, id: &str) -> Result<Approval> {
    stores.approvals.approval(id)?.ok_or_else(|| StoreError::NotFound(format!("no approval with id {id}")))
}

/// The action value for the confirmation path, before anything is written.
pub fn plan(stores: &Stores, id: &str, verdict: Verdict, reason: &str, operator: &str) -> Result<OperatorAction> {
    let approval = get(stores, id)?;
    // Refused before the confirmation dialog, not only by the store.
    if let Some(reason) = approval.unreadable {
        return Err(DecideError::Unreadable { id: approval.id, reason }.into());
    }
    let kind = ActionKind::decision(verdict);
    let scope = Scope::Approval { id: approval.id, session_id: approval.session_id };
    OperatorAction::new(kind, scope, reason, operator).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The action value for several requests decided together with one reason (the console's
/// marked requests). One id plans as [`plan`] does. An unknown or unreadable request is refused
/// by name: the operator unmarks it rather than have it left out silently.
pub fn plan_each(
    stores: &Stores,
    ids: &[String],
    verdict: Verdict,
    reason: &str,
    operator: &str,
) -> Result<OperatorAction> {
    if let [only] = ids {
        return plan(stores, only, verdict, reason, operator);
    }
    let mut requests: Vec<(String, String)> = Vec::with_capacity(ids.len());
    for id in ids {
        if requests.iter().any(|(seen, _)| seen == id) {
            continue;
        }
        let approval = get(stores, id)?;
        if let Some(reason) = approval.unreadable {
            return Err(DecideError::Unreadable { id: approval.id, reason }.into());
        }
        requests.push((approval.id, approval.session_id));
    }
    let kind = ActionKind::decision(verdict);
    OperatorAction::new(kind, Scope::Approvals { requests }, reason, operator)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Each request's outcome of a decision on several: the approval as stored, or why this one was
/// not decided (already decided by someone else, expired, gone). One refusal never stops the rest.
#[derive(Clone, Debug)]
pub struct DecidedEach {
    pub outcomes: Vec<(String, std::result::Result<Approval, String>)>,
    pub audit_error: Option<String>,
}

impl DecidedEach {
    /// The outcome in words, for the audit record and the status line:
    /// "a-1 rejected, a-2 not decided: approval a-2 was already approved by bob at …".
    pub fn summary(&self) -> String {
        let each: Vec<String> = self
            .outcomes
            .iter()
            .map(|(id, r)| match r {
                Ok(a) => format!("{id} {}", a.status),
                Err(e) => format!("{id} not decided: {e}"),
            })
            .collect();
        each.join("; ")
    }
}

/// Decides every request of a [`Scope::Approvals`] (or the one of a [`Scope::Approval`]), each
/// exactly once as [`decide`] does, and writes one audit record naming each outcome.
pub fn decide_each(stores: &Stores, _acting: &Acting, action: &OperatorAction) -> Result<DecidedEach> {
    let ids: Vec<&str> = match &action.scope {
        Scope::Approvals { requests } => requests.iter().map(|(id, _)| id.as_str()).collect(),
        Scope::Approval { id, .. } => vec![id.as_str()],
        _ => return Err(StoreError::Invalid(format!("{} is not an approval decision", action.kind))),
    };
    let verdict = action
        .kind
        .verdict()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not an approval decision", action.kind)))?;
    let outcomes: Vec<(String, std::result::Result<Approval, String>)> = ids
        .into_iter()
        .map(|id| {
            let decision =
                Decision { approver: action.operator.clone(), verdict, reason: action.reason.clone(), at: time::now() };
            (id.to_owned(), stores.approvals.decide(id, decision).map_err(|e| e.to_string()))
        })
        .collect();
    let mut done = DecidedEach { outcomes, audit_error: None };
    done.audit_error = operator_log::record_taken(stores, action, &done.summary()).err();
    Ok(done)
}

/// A decision as stored, and why the operator's audit record is missing if it is.
#[derive(Clone, Debug)]
pub struct Decided {
    pub approval: Approval,
    pub audit_error: Option<String>,
}

/// Decides; the store guarantees one decision wins. The audit record follows the decision.
/// Only an operator who may act ([`Acting`]) can.
pub fn decide(stores: &Stores, _acting: &Acting, action: &OperatorAction) -> Result<Decided> {
    let Scope::Approval { id, .. } = &action.scope else {
        return Err(StoreError::Invalid(format!("{} is not an approval decision", action.kind)));
    };
    let verdict = action
        .kind
        .verdict()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not an approval decision", action.kind)))?;
    let decision =
        Decision { approver: action.operator.clone(), verdict, reason: action.reason.clone(), at: time::now() };
    let approval = stores.approvals.decide(id, decision)?;
    let audit_error = operator_log::record_taken(stores, action, approval.status.as_str()).err();
    Ok(Decided { approval, audit_error })
}
