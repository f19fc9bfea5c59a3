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
