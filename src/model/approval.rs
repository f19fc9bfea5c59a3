//! Human-in-the-loop approvals and the rule that decides them exactly once.

use super::time::Timestamp;
use super::untrusted::{Untrusted, UntrustedJson};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Risk::Low, Risk::Medium, Risk::High, Risk::Critical].into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Approve => "approved",
            Verdict::Reject => "rejected",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub approver: String,
    pub verdict: Verdict,
    pub reason: String,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn is_final(self) -> bool {
        self != ApprovalStatus::Pending
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub session_id: String,
    pub step: u64,
    pub tool: Untrusted,
    pub arguments: UntrustedJson,
    pub risk: Risk,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    /// Distinct approvers needed (1 or 2; a single reject decides).
    pub required_approvers: u8,
    pub decisions: Vec<Decision>,
    /// Stored status: `Pending` until decided; expiry is applied by [`Approval::status_at`].
    pub status: ApprovalStatus,
    /// Set when the store holds a record for this id that could not be read: the reason. Such
    /// an approval is listed (see [`Approval::unreadable`]) but cannot be decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecideError {
    #[error("approval {id} was already {verdict} by {by} at {at}")]
    AlreadyDecided { id: String, verdict: Verdict, by: String, at: String },
    #[error("approval {id} expired at {at}; it counts as rejected")]
    Expired { id: String, at: String },
    #[error("{approver} has already approved {id}; a second, different approver is required")]
    SameApprover { id: String, approver: String },
    #[error("approval {id} cannot be decided: its stored record is unreadable ({reason})")]
    Unreadable { id: String, reason: String },
}

impl Approval {
    /// Stands in for a stored record that could not be read, so that a listing shows it (with
    /// `reason`) instead of failing or hiding it. Only `id`, `session_id` (`?` when unknown) and
    /// `unreadable` mean anything; [`Approval::decide`] refuses it.
    pub fn unreadable(id: impl Into<String>, session_id: impl Into<String>, reason: impl Into<String>) -> Approval {
        let never = super::time::from_micros(0);
        Approval {
            id: id.into(),
            session_id: session_id.into(),
            step: 0,
            tool: Untrusted::default(),
            arguments: UntrustedJson::default(),
            risk: Risk::Low,
            requested_at: never,
            expires_at: never,
            required_approvers: 1,
            decisions: Vec::new(),
            status: ApprovalStatus::Pending,
            unreadable: Some(reason.into()),
        }
    }

    /// The status as of `now`: a pending approval past its expiry is expired (= rejected).
    pub fn status_at(&self, now: Timestamp) -> ApprovalStatus {
        if self.status == ApprovalStatus::Pending && now >= self.expires_at {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }

    pub fn approvals(&self) -> usize {
        self.decisions.iter().filter(|d| d.verdict == Verdict::Approve).count()
    }

    /// Applies one decision. Pure: the store calls this inside its atomic section.
    pub fn decide(&mut self, decision: Decision) -> Result<ApprovalStatus, DecideError> {
        if let Some(reason) = &self.unreadable {
            return Err(DecideError::Unreadable { id: self.id.clone(), reason: reason.clone() });
        }
        match self.status_at(decision.at) {
            ApprovalStatus::Pending => {}
            ApprovalStatus::Expired => {
                return Err(DecideError::Expired { id: self.id.clone(), at: super::time::format(&self.expires_at) })
            }
            final_status => {
                let last = self.decisions.last();
                return Err(DecideError::AlreadyDecided {
                    id: self.id.clone(),
                    verdict: if final_status == ApprovalStatus::Approved { Verdict::Approve } else { Verdict::Reject },
                    by: last.map(|d| d.approver.clone()).unwrap_or_default(),
                    at: last.map(|d| super::time::format(&d.at)).unwrap_or_default(),
                });
            }
        }
        let who = same_person_key(&decision.approver);
        if self.decisions.iter().any(|d| same_person_key(&d.approver) == who) {
            return Err(DecideError::SameApprover { id: self.id.clone(), approver: decision.approver });
        }
        let verdict = decision.verdict;
        self.decisions.push(decision);
        self.status = match verdict {
            Verdict::Reject => ApprovalStatus::Rejected,
            Verdict::Approve if self.approvals() >= usize::from(self.required_approvers.max(1)) => {
                ApprovalStatus::Approved
            }
            Verdict::Approve => ApprovalStatus::Pending,
        };
        Ok(self.status)
    }
}

/// A pending one-approver request of session `s-1`, expiring in ten minutes: the unit tests'
/// fixture.
#[cfg(test)]
pub(crate) fn pending_for_test(id: &str, tool: &str, risk: Risk) -> Approval {
    let now = super::time::now();
    Approval {
        id: id.into(),
        session_id: "s-1".into(),
        step: 1,
        tool: tool.into(),
        arguments: UntrustedJson::new(serde_json::json!({})),
        risk,
        requested_at: now,
        expires_at: now + chrono::Duration::seconds(600),
        required_approvers: 1,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}

/// The form in which two approver identities are compared: "are these the same person?".
///
/// NFKC (so full-width, ligature and composed/decomposed spellings agree), without invisible
/// characters (controls, and zero-width, bidi and tag characters: [`needs_escape`]), surrounding
/// whitespace trimmed and inner runs collapsed to one space, lower-cased. Case is ignored on
/// purpose: telling two people apart wrongly lets one person approve twice, so the comparison
/// errs towards "same". Only the comparison uses this form; a decision stores the identity as
/// the operator typed it.
///
/// [`needs_escape`]: super::untrusted::needs_escape
pub fn same_person_key(identity: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let visible: String = identity.nfkc().filter(|c| !c.is_control() && !super::untrusted::needs_escape(*c)).collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time;

    fn approval(required: u8) -> Approval {
        let now = time::now();
        Approval {
            id: "a1".into(),
            session_id: "s1".into(),
            step: 3,
            tool: "send_email".into(),
            arguments: UntrustedJson::new(serde_json::json!({"to": "x@example.com"})),
            risk: Risk::High,
            requested_at: now,
            expires_at: now + chrono::Duration::seconds(60),
            required_approvers: required,
            decisions: vec![],
            status: ApprovalStatus::Pending,
            unreadable: None,
        }
    }

    fn by(who: &str, verdict: Verdict) -> Decision {
        Decision { approver: who.into(), verdict, reason: "r".into(), at: time::now() }
    }

    #[test]
    fn one_approver_decides_once() {
        let mut a = approval(1);
        assert_eq!(a.decide(by("alice", Verdict::Approve)), Ok(ApprovalStatus::Approved));
        let err = a.decide(by("bob", Verdict::Reject)).unwrap_err();
        assert!(matches!(err, DecideError::AlreadyDecided { ref by, verdict: Verdict::Approve, .. } if by == "alice"));
    }

    #[test]
    fn two_approvers_must_be_distinct() {
        let mut a = approval(2);
        assert_eq!(a.decide(by("alice", Verdict::Approve)), Ok(ApprovalStatus::Pending));
        assert!(matches!(a.decide(by("alice", Verdict::Approve)), Err(DecideError::SameApprover { .. })));
        assert_eq!(a.decide(by("bob", Verdict::Approve)), Ok(ApprovalStatus::Approved));
    }

    #[test]
    fn spellings_of_one_identity_are_one_approver() {
        for (first, second) in [
            ("same", "same "),
            ("same", " same\t"),
            ("Alice", "alice"),
            ("alice smith", "alice  smith"),
            ("ali\u{200b}ce", "alice"),
            ("ｓａｍｅ", "same"),
            ("jose\u{301}", "jos\u{e9}"),
        ] {
            let mut a = approval(2);
            assert_eq!(a.decide(by(first, Verdict::Approve)), Ok(ApprovalStatus::Pending));
            assert!(
                matches!(a.decide(by(second, Verdict::Approve)), Err(DecideError::SameApprover { .. })),
                "{first:?} and {second:?} are one person"
            );
            assert_eq!(a.decisions[0].approver, first, "stored as typed");
        }
    }

    #[test]
    fn a_reject_decides_and_expiry_counts_as_rejection() {
        let mut a = approval(2);
        assert_eq!(a.decide(by("alice", Verdict::Reject)), Ok(ApprovalStatus::Rejected));
        let mut b = approval(1);
        let mut late = by("alice", Verdict::Approve);
        late.at = b.expires_at;
        assert!(matches!(b.decide(late), Err(DecideError::Expired { .. })));
        assert_eq!(b.status_at(b.expires_at), ApprovalStatus::Expired);
        assert!(b.decisions.is_empty());
    }

    #[test]
    fn an_unreadable_approval_cannot_be_decided() {
        let mut a = Approval::unreadable("a9", "?", "not JSON");
        let err = a.decide(by("alice", Verdict::Approve)).unwrap_err();
        assert_eq!(err.to_string(), "approval a9 cannot be decided: its stored record is unreadable (not JSON)");
        assert!(a.decisions.is_empty());
    }
}
