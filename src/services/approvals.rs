//! Deciding approvals: exactly once, with a reason, recorded in the audit log.

use super::operator_log;
use crate::model::action::{ActionKind, ApprovalRef, OperatorAction, Scope};
use crate::model::approval::{Approval, ApprovalStatus, DecideError, Decision, Verdict};
use crate::model::approval_selector::{ApprovalSelector, Unheld};
use crate::model::operator::Acting;
use crate::model::session::Session;
use crate::model::time;
use crate::ports::{Result, StoreError, Stores};
use std::collections::{HashMap, HashSet};

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

/// The decision an approve/reject action records, taken now.
fn decision_of(action: &OperatorAction) -> Result<Decision> {
    let verdict = action
        .kind
        .verdict()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not an approval decision", action.kind)))?;
    Ok(Decision { approver: action.operator.clone(), verdict, reason: action.reason.clone(), at: time::now() })
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
    let approval = stores.approvals.decide(id, decision_of(action)?)?;
    let audit_error = operator_log::record_taken(stores, action, approval.status.as_str()).err();
    Ok(Decided { approval, audit_error })
}

/// Which approval requests an operator means: by id, or every pending request a selector
/// matches.
#[derive(Clone, Debug)]
pub enum Choice {
    Ids(Vec<String>),
    Selector(ApprovalSelector),
}

/// What became of one request an operator named.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The decision was stored; the request's status now (still pending when it needs another,
    /// different approver).
    Recorded(Approval),
    /// Nothing was recorded: decided by someone else first, expired, already approved by this
    /// operator, or unreadable.
    Refused(DecideError),
    /// No request has this id.
    NotFound,
    /// The store failed while deciding this one (those before it stand): nothing recorded.
    Failed(String),
}

/// A decision on several requests, planned: the action to confirm (none when no request named
/// can be decided) with the requests it decides, and the requests named that it leaves out, each
/// with why. Nothing is written.
#[derive(Clone, Debug)]
pub struct BulkPlan {
    pub action: Option<OperatorAction>,
    pub chosen: Vec<Approval>,
    pub left_out: Vec<LeftOut>,
    /// With a selector: pending records that could not be read, so were not considered.
    pub unreadable: usize,
    /// With a selector: values it names that no pending request holds (likely typos).
    pub unheld: Vec<Unheld>,
}

/// A request named but not in the decision's scope: its id, the request when one exists, and
/// why ([`Outcome::Refused`] or [`Outcome::NotFound`]).
#[derive(Clone, Debug)]
pub struct LeftOut {
    pub id: String,
    pub approval: Option<Approval>,
    pub outcome: Outcome,
}

/// A request and its session, when the session is known.
type WithSession = (Approval, Option<Session>);

/// Requests a selector can choose from (pending ones, or all), each with its session when it
/// is known, sorted by expiry, soonest first; and how many stored records could not be read
/// (a selector never matches them). A session whose record cannot be read counts as unknown.
fn candidates(stores: &Stores, sel: &ApprovalSelector, pending_only: bool) -> Result<(Vec<WithSession>, usize)> {
    let now = time::now();
    let mut items = stores.approvals.approvals(pending_only, now)?;
    let listed = items.len();
    items.retain(|a| a.unreadable.is_none());
    let unreadable = listed - items.len();
    sort_by_expiry(&mut items);
    let mut sessions: HashMap<String, Option<Session>> = HashMap::new();
    if sel.needs_sessions() {
        for a in &items {
            if !sessions.contains_key(&a.session_id) {
                let s = match stores.sessions.session(&a.session_id) {
                    Ok(s) => s,
                    Err(StoreError::Corrupt(_) | StoreError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                sessions.insert(a.session_id.clone(), s);
            }
        }
    }
    let items = items
        .into_iter()
        .map(|a| {
            let s = sessions.get(&a.session_id).cloned().flatten();
            (a, s)
        })
        .collect();
    Ok((items, unreadable))
}

/// Soonest expiry first; ties by id, so the order is stable.
pub fn sort_by_expiry(items: &mut [Approval]) {
    items.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then_with(|| a.id.cmp(&b.id)));
}

/// What a selector selected, soonest expiry first, and how many stored records it could not
/// consider because they cannot be read.
#[derive(Clone, Debug, Default)]
pub struct Selected {
    pub approvals: Vec<Approval>,
    pub unreadable: usize,
    /// Values the selector names that no request in scope holds (likely typos; none negated).
    pub unheld: Vec<Unheld>,
}

/// The requests `sel` selects, with the same rules everywhere it is used (listing, deciding):
/// a negation that excludes nothing is refused as a likely typo ([`StoreError::Invalid`]).
pub fn select(stores: &Stores, sel: &ApprovalSelector, pending_only: bool) -> Result<Selected> {
    let now = time::now();
    let (all, unreadable) = candidates(stores, sel, pending_only)?;
    let pairs = all.iter().map(|(a, s)| (a, s.as_ref()));
    if let Some(why) = sel.vacuous_negation(pairs.clone(), now) {
        return Err(StoreError::Invalid(why));
    }
    let unheld = sel.unheld(pairs, now);
    let approvals = all.into_iter().filter(|(a, s)| sel.matches(a, s.as_ref(), now)).map(|(a, _)| a).collect();
    Ok(Selected { approvals, unreadable, unheld })
}

/// Resolves ids or a selector to the exact requests a decision applies to. A request that
/// cannot be decided now (decided, expired, already approved by this operator, unreadable) and
/// an unknown id are left out with the reason, so one bad id never hides the others. A selector
/// only ever sees pending, unexpired requests; one that matches none is [`StoreError::NotFound`].
pub fn plan_many(stores: &Stores, choice: &Choice, verdict: Verdict, reason: &str, operator: &str) -> Result<BulkPlan> {
    let kind = ActionKind::decision(verdict);
    let now = time::now();
    let mut unreadable = 0;
    let mut unmatched = Vec::new();
    let (named, selector): (Vec<(String, Option<Approval>)>, Option<String>) = match choice {
        Choice::Ids(ids) => {
            let mut seen = HashSet::new();
            let mut named = Vec::new();
            for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
                named.push((id.clone(), stores.approvals.approval(id)?));
            }
            (named, None)
        }
        Choice::Selector(sel) => {
            let Selected { approvals: chosen, unreadable: skipped, unheld } = select(stores, sel, true)?;
            unreadable = skipped;
            if chosen.is_empty() {
                let why: String = unheld.iter().map(|u| format!(" ({u})")).collect();
                return Err(StoreError::NotFound(format!("{kind} --where {sel}: no pending approval matches{why}")));
            }
            unmatched = unheld;
            (chosen.into_iter().map(|a| (a.id.clone(), Some(a))).collect(), Some(sel.to_string()))
        }
    };
    // In the order named: typed ids as typed, a selector's matches soonest expiry first.
    let mut chosen = Vec::new();
    let mut left_out = Vec::new();
    for (id, found) in named {
        let Some(approval) = found else {
            left_out.push(LeftOut { id, approval: None, outcome: Outcome::NotFound });
            continue;
        };
        // The pure rule the store applies, tried on a copy: what it would refuse now is left out.
        let probe = Decision { approver: operator.to_owned(), verdict, reason: reason.to_owned(), at: now };
        match approval.clone().decide(probe) {
            Ok(_) => chosen.push(approval),
            Err(e) => left_out.push(LeftOut { id, approval: Some(approval), outcome: Outcome::Refused(e) }),
        }
    }
    let action = if chosen.is_empty() {
        None
    } else {
        let mut seen = HashSet::new();
        let sessions: Vec<String> =
            chosen.iter().filter(|a| seen.insert(a.session_id.as_str())).map(|a| a.session_id.clone()).collect();
        let approvals =
            chosen.iter().map(|a| ApprovalRef { id: a.id.clone(), session_id: a.session_id.clone() }).collect();
        let scope = Scope::Approvals { approvals, sessions, selector };
        Some(OperatorAction::new(kind, scope, reason, operator).map_err(|e| StoreError::Invalid(e.to_string()))?)
    };
    Ok(BulkPlan { action, chosen, left_out, unreadable, unheld: unmatched })
}

/// What a decision on several requests did: per request, in the planned order, and why the
/// operator's audit record is missing if it is.
#[derive(Clone, Debug)]
pub struct BulkDecided {
    pub outcomes: Vec<(String, Outcome)>,
    pub audit_error: Option<String>,
}

impl BulkDecided {
    pub fn recorded(&self) -> usize {
        self.outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Recorded(_))).count()
    }
}

/// Decides every request of a planned [`Scope::Approvals`], each atomically in the store (so
/// under concurrent deciders each request is decided exactly once and the others are told who
/// decided), then writes one audit record: the action, its exact scope and selector, the reason
/// and each request's outcome. A refusal of one request never stops the others.
pub fn decide_many(stores: &Stores, _acting: &Acting, action: &OperatorAction) -> Result<BulkDecided> {
    let Scope::Approvals { approvals, .. } = &action.scope else {
        return Err(StoreError::Invalid(format!("{} is not a decision on approvals", action.kind)));
    };
    decision_of(action)?;
    let mut outcomes = Vec::with_capacity(approvals.len());
    let mut failure: Option<String> = None;
    for r in approvals {
        // Once the store fails, the rest is not tried (each try could wait out a deadline):
        // what was recorded so far stands and is audited, the rest is said to be undecided.
        if let Some(e) = &failure {
            outcomes.push((r.id.clone(), Outcome::Failed(format!("not tried: the store failed before ({e})"))));
            continue;
        }
        let outcome = match stores.approvals.decide(&r.id, decision_of(action)?) {
            Ok(a) => Outcome::Recorded(a),
            Err(StoreError::Decide(e)) => Outcome::Refused(e),
            Err(StoreError::NotFound(_)) => Outcome::NotFound,
            Err(e) if outcomes.is_empty() => return Err(e),
            Err(e) => {
                failure = Some(e.to_string());
                Outcome::Failed(e.to_string())
            }
        };
        outcomes.push((r.id.clone(), outcome));
    }
    let summary = summarize(&outcomes);
    let per_request: serde_json::Map<String, serde_json::Value> =
        outcomes.iter().map(|(id, o)| (id.clone(), outcome_word(o).into())).collect();
    let body = action.audit_body(&summary).attr("quell.approval.outcomes", serde_json::Value::Object(per_request));
    let audit_error = operator_log::record_body_taken(stores, body).err();
    Ok(BulkDecided { outcomes, audit_error })
}

/// One word per outcome, as the audit record and `-o json` give it.
pub fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Recorded(a) => match a.status {
            ApprovalStatus::Pending => "recorded",
            status => status.as_str(),
        },
        Outcome::Refused(DecideError::AlreadyDecided { .. }) => "already_decided",
        Outcome::Refused(DecideError::Expired { .. }) => "expired",
        Outcome::Refused(DecideError::SameApprover { .. }) => "same_approver",
        Outcome::Refused(DecideError::Unreadable { .. }) => "unreadable",
        Outcome::NotFound => "not_found",
        Outcome::Failed(_) => "failed",
    }
}

/// "2 rejected, 1 already decided, 1 not found".
pub fn summarize(outcomes: &[(String, Outcome)]) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for (_, o) in outcomes {
        let word = match outcome_word(o) {
            "recorded" => "recorded, awaiting another approver",
            "already_decided" => "already decided",
            "same_approver" => "already approved by this operator",
            "not_found" => "not found",
            w => w,
        };
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    counts.iter().map(|(w, n)| format!("{n} {w}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    //! The bulk decision on the embedded store behind a switch that makes decisions fail: what
    //! was recorded stands and is audited, the rest is said to be undecided, untried.
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::model::approval::Risk;
    use crate::model::operator::Operator;
    use crate::ports::{ApprovalStore, AuditQuery};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Decides through the embedded store until `works` decisions were made, then fails.
    struct FailingAfter {
        inner: Arc<dyn ApprovalStore>,
        works: usize,
        tried: AtomicUsize,
    }

    impl ApprovalStore for FailingAfter {
        fn request_approval(&self, approval: &Approval) -> Result<()> {
            self.inner.request_approval(approval)
        }
        fn approval(&self, id: &str) -> Result<Option<Approval>> {
            self.inner.approval(id)
        }
        fn approvals(&self, pending_only: bool, now: time::Timestamp) -> Result<Vec<Approval>> {
            self.inner.approvals(pending_only, now)
        }
        fn decide(&self, id: &str, decision: Decision) -> Result<Approval> {
            if self.tried.fetch_add(1, Ordering::SeqCst) >= self.works {
                return Err(StoreError::Unavailable("approvals store down (test)".into()));
            }
            self.inner.decide(id, decision)
        }
    }

    fn request(id: &str) -> Approval {
        crate::model::approval::pending_for_test(id, "send_email", Risk::High)
    }

    #[test]
    fn a_store_failing_midway_keeps_what_was_recorded_and_tries_no_more() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stores = EmbeddedStore::open(&dir.path().join("quell.db")).expect("store").stores();
        let flaky = Arc::new(FailingAfter { inner: stores.approvals.clone(), works: 2, tried: AtomicUsize::new(0) });
        stores.approvals = flaky.clone();
        for i in 0..5 {
            stores.approvals.request_approval(&request(&format!("ap-{i}"))).expect("request");
        }
        let sel = ApprovalSelector::parse("tool=send_email").expect("selector");
        let plan = plan_many(&stores, &Choice::Selector(sel), Verdict::Reject, "INC-7", "alice").expect("plan");
        let action = plan.action.expect("an action");
        let acting = Operator::new("alice").acting().expect("acting");
        let done = decide_many(&stores, &acting, &action).expect("decided in part");
        let words: Vec<&str> = done.outcomes.iter().map(|(_, o)| outcome_word(o)).collect();
        assert_eq!(words, ["rejected", "rejected", "failed", "failed", "failed"]);
        assert!(matches!(&done.outcomes[3].1, Outcome::Failed(e) if e.starts_with("not tried")), "{:?}", done.outcomes);
        assert_eq!(flaky.tried.load(Ordering::SeqCst), 3, "no request tried after the failure");
        assert_eq!(done.recorded(), 2);
        assert_eq!(done.audit_error, None);
        let ops = stores.audit.read(&AuditQuery::default()).expect("audit");
        let ev = ops.iter().find(|e| e.body.attr_str("quell.action") == Some("reject")).expect("audited");
        assert_eq!(ev.body.attr_str("quell.outcome"), Some("2 rejected, 3 failed"));
        let outcomes = ev.body.attributes.get("quell.approval.outcomes").expect("outcomes");
        assert_eq!(outcomes["ap-0"], "rejected");
        assert_eq!(outcomes["ap-2"], "failed");
        assert_eq!(ev.body.attributes["quell.scope"]["selector"], "tool=send_email");
        // The first decision failing records nothing and is the command's error.
        let none = FailingAfter { inner: flaky.inner.clone(), works: 0, tried: AtomicUsize::new(0) };
        stores.approvals = Arc::new(none);
        stores.approvals.request_approval(&request("ap-9")).expect("request");
        let ids = Choice::Ids(vec!["ap-9".into()]);
        let plan = plan_many(&stores, &ids, Verdict::Reject, "INC-7", "alice").expect("plan");
        let err = decide_many(&stores, &acting, &plan.action.expect("action")).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}
