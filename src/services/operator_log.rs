//! Writes operator actions to the audit log, on the operator's own chain.

use crate::model::action::OperatorAction;
use crate::model::audit::{AuditEvent, EventBody};
use crate::model::chain::ChainTail;
use crate::ports::{Result, SealedEvent, StoreError, Stores};

/// Appends one operator event, retrying when another process of the same operator appended
/// first (the store refuses a non-continuing event rather than forking the chain).
pub fn record(stores: &Stores, action: &OperatorAction, outcome: &str) -> Result<AuditEvent> {
    record_body(stores, action.audit_body(outcome))
}

/// [`record`] of an action's audit body with attributes of its own added
/// ([`OperatorAction::audit_body`] and more).
pub fn record_body(stores: &Stores, body: EventBody) -> Result<AuditEvent> {
    let chain = body.session_id.clone();
    let mut last_err = None;
    for _ in 0..20 {
        let tail = stores.audit.tail(&chain)?.unwrap_or_else(ChainTail::genesis);
        let sealed = SealedEvent::seal(body.clone(), &tail)?;
        match stores.audit.append(std::slice::from_ref(&sealed)) {
            Ok(()) => return Ok(sealed.event),
            Err(StoreError::Conflict(e)) => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict(last_err.unwrap_or_else(|| format!("could not append to audit chain {chain}"))))
}

/// Records an action that has already taken effect (control written, decision stored, pods
/// changed). The effect stands whatever happens here, so stopping an agent never waits on the
/// audit log: a record that cannot be written comes back as the reason, for the caller to show
/// next to the outcome. The audit log's health is asked first, so an unreachable broker costs
/// its probe (seconds), not a delivery timeout.
pub fn record_taken(
    stores: &Stores,
    action: &OperatorAction,
    outcome: &str,
) -> std::result::Result<AuditEvent, String> {
    record_body_taken(stores, action.audit_body(outcome))
}

/// [`record_taken`] of an action's audit body with attributes of its own added.
pub fn record_body_taken(stores: &Stores, body: EventBody) -> std::result::Result<AuditEvent, String> {
    stores
        .audit
        .health()
        .and_then(|()| record_body(stores, body))
        .map_err(|e| format!("its audit record was not written: {e}"))
}
