//! The selector language ([`super::selector`]'s Kubernetes label-selector syntax) over approval
//! requests: `tool=send_email,risk in (high,critical),namespace=genai-prod`.
//!
//! Fields of the request: `id`, `session` (the requesting session's id), `tool` (the tool it
//! asks to run), `risk`, `status`; fields of its session: `agent`, `namespace`, `pod`, `model`,
//! `state`. A request whose session is not known has no session fields (`!namespace` selects
//! it). A value outside a closed set (`risk=hihg`, `state=runing`, `status=pendng`) is refused
//! with the values it can take. A request whose stored record cannot be read is never selected:
//! nothing about it is known.

use super::approval::{Approval, ApprovalStatus, Risk};
use super::selector::{parse_requirements, Fields, Requirement, SelectorError};
use super::session::{Session, SessionState};
use super::time::Timestamp;
use super::untrusted::Untrusted;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalField {
    Id,
    Session,
    Tool,
    Risk,
    Status,
    Agent,
    Namespace,
    Pod,
    Model,
    State,
}

impl ApprovalField {
    pub const ALL: [(&'static str, ApprovalField); 10] = [
        ("id", ApprovalField::Id),
        ("session", ApprovalField::Session),
        ("tool", ApprovalField::Tool),
        ("risk", ApprovalField::Risk),
        ("status", ApprovalField::Status),
        ("agent", ApprovalField::Agent),
        ("namespace", ApprovalField::Namespace),
        ("pod", ApprovalField::Pod),
        ("model", ApprovalField::Model),
        ("state", ApprovalField::State),
    ];

    /// The values of a closed field (none for a field that holds free text).
    fn closed_values(self) -> Option<Vec<&'static str>> {
        match self {
            ApprovalField::Risk => Some([Risk::Low, Risk::Medium, Risk::High, Risk::Critical].map(Risk::as_str).into()),
            ApprovalField::Status => Some(
                [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Rejected, ApprovalStatus::Expired]
                    .map(ApprovalStatus::as_str)
                    .into(),
            ),
            ApprovalField::State => Some(SessionState::ALL.map(SessionState::as_str).into()),
            _ => None,
        }
    }
}

impl Fields for ApprovalField {
    const NAMES: &'static [(&'static str, Self)] = &Self::ALL;

    fn check_value(self, value: &str) -> Result<(), String> {
        match self.closed_values() {
            Some(valid) if !valid.contains(&value) => {
                Err(format!("{} has no value '{}' (valid: {})", self.name(), value.escape_debug(), valid.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

/// A parsed approval selector: at least one requirement (a blank text is refused: it would
/// select every request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalSelector {
    requirements: Vec<Requirement<ApprovalField>>,
    source: String,
}

/// Why a blank approval selector is refused.
pub const EMPTY: &str = "an empty selector would match every approval; name the requests by id or by their fields";

impl fmt::Display for ApprovalSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl ApprovalSelector {
    pub fn parse(text: &str) -> Result<ApprovalSelector, SelectorError> {
        let requirements = parse_requirements(text, EMPTY)?;
        Ok(ApprovalSelector { requirements, source: text.trim().to_owned() })
    }

    /// Whether a requirement names a field of the request's session (so the sessions are read).
    pub fn needs_sessions(&self) -> bool {
        self.requirements.iter().any(|r| {
            matches!(
                r.field,
                ApprovalField::Agent
                    | ApprovalField::Namespace
                    | ApprovalField::Pod
                    | ApprovalField::Model
                    | ApprovalField::State
            )
        })
    }

    /// `session` is the request's session when it is known.
    pub fn matches(&self, approval: &Approval, session: Option<&Session>, now: Timestamp) -> bool {
        approval.unreadable.is_none()
            && self.requirements.iter().all(|r| r.op.holds(&values(r.field, approval, session, now)))
    }

    /// Values of free-text fields (id, session, tool, agent, …) that the selector names but no
    /// candidate holds: likely typos. One named by `!=`/`notin` excludes nothing, so as written
    /// the selector would select every request: the caller refuses it ([`Unheld::negated`]); one
    /// named by `=`/`in` only matches nothing, which the caller says.
    pub fn unheld<'a>(
        &self,
        candidates: impl IntoIterator<Item = (&'a Approval, Option<&'a Session>)> + Clone,
        now: Timestamp,
    ) -> Vec<Unheld> {
        let mut out = Vec::new();
        for r in self.requirements.iter().filter(|r| r.field.closed_values().is_none()) {
            for v in r.op.values() {
                let held = candidates
                    .clone()
                    .into_iter()
                    .any(|(a, s)| a.unreadable.is_none() && values(r.field, a, s, now).contains(&v.as_str()));
                if !held {
                    out.push(Unheld { field: r.field.name(), value: v.clone(), negated: r.op.is_negative() });
                }
            }
        }
        out
    }

    /// Why the selector must be refused: the first [`Unheld`] value named by a negation.
    pub fn vacuous_negation<'a>(
        &self,
        candidates: impl IntoIterator<Item = (&'a Approval, Option<&'a Session>)> + Clone,
        now: Timestamp,
    ) -> Option<String> {
        self.unheld(candidates, now).into_iter().find(|u| u.negated).map(|u| {
            format!(
                "{}, so '{}' would exclude nothing and select every request; check the spelling",
                u,
                self.source.escape_debug()
            )
        })
    }
}

/// A value a selector names that no request in scope holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unheld {
    pub field: &'static str,
    pub value: String,
    /// Named by `!=` or `notin`.
    pub negated: bool,
}

impl fmt::Display for Unheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no request in scope has {} '{}'", self.field, self.value.escape_debug())
    }
}

fn values<'a>(field: ApprovalField, a: &'a Approval, s: Option<&'a Session>, now: Timestamp) -> Vec<&'a str> {
    match field {
        ApprovalField::Id => vec![a.id.as_str()],
        ApprovalField::Session => vec![a.session_id.as_str()],
        ApprovalField::Tool => vec![a.tool.raw()],
        ApprovalField::Risk => vec![a.risk.as_str()],
        ApprovalField::Status => vec![a.status_at(now).as_str()],
        ApprovalField::Agent => s.map(|s| s.agent.raw()).into_iter().collect(),
        ApprovalField::Namespace => s.and_then(|s| s.namespace.as_ref()).map(Untrusted::raw).into_iter().collect(),
        ApprovalField::Pod => s.and_then(|s| s.pod.as_ref()).map(Untrusted::raw).into_iter().collect(),
        ApprovalField::Model => s.and_then(|s| s.model.as_ref()).map(Untrusted::raw).into_iter().collect(),
        ApprovalField::State => s.map(|s| s.effective_state(now).as_str()).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time;

    fn approval(id: &str, tool: &str, risk: Risk) -> Approval {
        crate::model::approval::pending_for_test(id, tool, risk)
    }

    fn session() -> Session {
        let mut s = Session::new("s-1", "browser-agent", time::now());
        s.namespace = Some("genai-prod".into());
        s
    }

    fn m(sel: &str, a: &Approval, s: Option<&Session>) -> bool {
        ApprovalSelector::parse(sel).unwrap().matches(a, s, time::now())
    }

    #[test]
    fn request_and_session_fields() {
        let mail = approval("ap-1", "send_email", Risk::High);
        let s = session();
        assert!(m("tool=send_email", &mail, Some(&s)));
        assert!(m("risk in (high,critical),namespace=genai-prod,agent=browser-agent", &mail, Some(&s)));
        assert!(m("session=s-1,id=ap-1,status=pending,state=running", &mail, Some(&s)));
        assert!(!m("risk=low", &mail, Some(&s)));
        assert!(!m("namespace=genai-prod", &mail, None), "an unknown session has no namespace");
        assert!(m("!namespace", &mail, None));
        assert!(!m("tool!=send_email", &mail, Some(&s)));
        let mut gone = mail.clone();
        gone.expires_at = time::now() - chrono::Duration::seconds(1);
        assert!(m("status=expired", &gone, None));
        let unreadable = Approval::unreadable("ap-9", "s-1", "not JSON");
        assert!(!m("session=s-1", &unreadable, Some(&s)), "nothing about an unreadable request is known");
    }

    #[test]
    fn typos_in_fields_and_closed_values_are_refused() {
        let e = ApprovalSelector::parse("tol=send_email").unwrap_err();
        assert!(e.message.contains("unknown field 'tol'") && e.message.contains("risk"), "{e}");
        let e = ApprovalSelector::parse("risk=hihg").unwrap_err();
        assert_eq!(e.message, "risk has no value 'hihg' (valid: low, medium, high, critical)");
        let e = ApprovalSelector::parse("state in (running, runing)").unwrap_err();
        assert!(e.message.contains("state has no value 'runing'") && e.message.contains("waiting_approval"), "{e}");
        assert!(ApprovalSelector::parse("status!=pendng").unwrap_err().message.contains("valid: pending"));
        for blank in ["", "  "] {
            assert_eq!(ApprovalSelector::parse(blank).unwrap_err().message, EMPTY);
        }
    }

    #[test]
    fn a_negation_that_excludes_nothing_is_reported() {
        let a = approval("ap-1", "send_email", Risk::High);
        let b = approval("ap-2", "web_search", Risk::Low);
        let s = session();
        let all = [(&a, Some(&s)), (&b, Some(&s))];
        let typo = ApprovalSelector::parse("tool!=send_emial").unwrap();
        let why = typo.vacuous_negation(all, time::now()).unwrap();
        assert!(why.contains("tool 'send_emial'") && why.contains("select every request"), "{why}");
        let fine = ApprovalSelector::parse("tool notin (send_email),risk!=critical").unwrap();
        assert_eq!(fine.vacuous_negation(all, time::now()), None, "risk is a closed field: checked when parsed");
        assert!(ApprovalSelector::parse("agent!=nobody").unwrap().vacuous_negation(all, time::now()).is_some());
        let partly = ApprovalSelector::parse("tool in (send_email, send_emial),agent=browser-agent").unwrap();
        let unheld = partly.unheld(all, time::now());
        assert_eq!(unheld, [Unheld { field: "tool", value: "send_emial".into(), negated: false }]);
        assert_eq!(unheld[0].to_string(), "no request in scope has tool 'send_emial'");
        assert_eq!(partly.vacuous_negation(all, time::now()), None, "a typo in a set only narrows it");
    }
}
