//! Every destructive or deciding thing an operator can do is a value of one type, so that one
//! confirmation path, one validation and one audit record serve them all.
//!
//! The action path, for every [`ActionKind`]:
//!
//! - **planned** by the service of its [`Domain`]: `services::control::plan`,
//!   `services::approvals::plan` (one request), `services::approvals::plan_many` (several, by
//!   id or selector) or `services::cluster::plan` resolve the target to an exact [`Scope`] and
//!   build the [`OperatorAction`]; nothing is written;
//! - **confirmed** by the operator: the console's one dialog (`interfaces::tui::confirm`) holds
//!   the operation and hands back the action with the operator's reason; the CLI's `--reason`
//!   is the same confirmation. A cluster action is then re-planned on exactly the confirmed
//!   sessions (`services::cluster::confirm`), by the console and the CLI alike;
//! - **executed** by `services::control::execute`, `services::approvals::decide` (or
//!   `decide_many`) or
//!   `services::cluster::execute`, each of which takes a `model::operator::Acting`: a read-only
//!   operator cannot get one;
//! - **audited** by `services::operator_log::record_taken`, with [`OperatorAction::audit_body`]
//!   (the verb of the kind, the reason, the exact scope and the outcome).

use super::approval::Verdict;
use super::audit::{EventBody, EventKind};
use super::control::Desired;
use super::untrusted::Shown;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The one vocabulary of operations: the console's keys and `:` words, the CLI's subcommands,
/// the services' plan and execute functions and the audit record all name an operation by a
/// value of this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Pause,
    Resume,
    Kill,
    /// Scale the StatefulSets owning sessions' pods to zero, remembering the replica count.
    HardStop,
    /// Undo a hard stop: scale the StatefulSets back to their remembered replica count.
    Restore,
    /// Delete an agent's pod (its StatefulSet recreates it; the agent resumes from its
    /// checkpoint). `grace`: the grace period in seconds, `Some(0)` at once, `None` the pod's own.
    KillPod {
        grace: Option<u32>,
    },
    /// Label pods for the deny-all NetworkPolicy (created when missing).
    Quarantine,
    /// Remove the quarantine label.
    Release,
    Approve,
    Reject,
}

/// Which service carries an operation out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Desired state in the control store, acknowledged by the agents.
    Control(Desired),
    /// A decision on a pending approval.
    Decision(Verdict),
    /// A change to the sessions' pods or workloads through the cluster port.
    Cluster,
}

impl ActionKind {
    /// Every operation, each once (a kill-pod with its pod's own grace period).
    pub const ALL: [ActionKind; 10] = [
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Kill,
        ActionKind::HardStop,
        ActionKind::Restore,
        ActionKind::KillPod { grace: None },
        ActionKind::Quarantine,
        ActionKind::Release,
        ActionKind::Approve,
        ActionKind::Reject,
    ];

    /// The operations only the cluster can carry out.
    pub const CLUSTER: [ActionKind; 5] = [
        ActionKind::HardStop,
        ActionKind::Restore,
        ActionKind::KillPod { grace: None },
        ActionKind::Quarantine,
        ActionKind::Release,
    ];

    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Kill => "kill",
            ActionKind::HardStop => "hard-stop",
            ActionKind::Restore => "restore",
            ActionKind::KillPod { .. } => "kill-pod",
            ActionKind::Quarantine => "quarantine",
            ActionKind::Release => "release",
            ActionKind::Approve => "approve",
            ActionKind::Reject => "reject",
        }
    }

    pub fn domain(self) -> Domain {
        match self {
            ActionKind::Pause => Domain::Control(Desired::Pause),
            ActionKind::Resume => Domain::Control(Desired::Run),
            ActionKind::Kill => Domain::Control(Desired::Kill),
            ActionKind::Approve => Domain::Decision(Verdict::Approve),
            ActionKind::Reject => Domain::Decision(Verdict::Reject),
            ActionKind::HardStop
            | ActionKind::Restore
            | ActionKind::KillPod { .. }
            | ActionKind::Quarantine
            | ActionKind::Release => Domain::Cluster,
        }
    }

    /// The control state this action asks sessions to reach, for the actions that are control.
    pub fn desired(self) -> Option<Desired> {
        match self.domain() {
            Domain::Control(d) => Some(d),
            _ => None,
        }
    }

    /// The verdict of an approval decision.
    pub fn verdict(self) -> Option<Verdict> {
        match self.domain() {
            Domain::Decision(v) => Some(v),
            _ => None,
        }
    }

    pub fn decision(verdict: Verdict) -> ActionKind {
        match verdict {
            Verdict::Approve => ActionKind::Approve,
            Verdict::Reject => ActionKind::Reject,
        }
    }

    pub fn is_cluster(self) -> bool {
        self.domain() == Domain::Cluster
    }

    /// The same operation, whatever its parameters (a kill-pod at any grace period).
    pub fn same_operation(self, other: ActionKind) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }

    /// May apply to the whole fleet, including sessions that start later.
    pub fn is_fleet_wide(self) -> bool {
        matches!(self, ActionKind::Pause | ActionKind::Resume)
    }

    /// Cannot be undone from quell.
    pub fn is_irreversible(self) -> bool {
        matches!(self, ActionKind::Kill | ActionKind::KillPod { .. } | ActionKind::Approve | ActionKind::Reject)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// Serialised as its verb, as the audit log records it.
impl Serialize for ActionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.verb())
    }
}

/// What an action applies to, resolved to exact session ids before confirmation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Scope {
    /// The whole fleet, including sessions that start later (pause and resume only).
    Fleet {
        sessions: Vec<String>,
        namespaces: BTreeSet<String>,
        /// Resume only: sessions paused one by one, which lifting the fleet hold leaves paused.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        held: Vec<String>,
    },
    /// Explicit sessions, chosen by id, by marking rows or by a selector.
    Sessions {
        sessions: Vec<String>,
        namespaces: BTreeSet<String>,
        selector: Option<String>,
    },
    Approval {
        id: String,
        session_id: String,
    },
    /// Approval requests decided together, chosen by id, by marking rows or by a selector: the
    /// exact requests (each with its session), their sessions once each, and the selector.
    Approvals {
        approvals: Vec<ApprovalRef>,
        sessions: Vec<String>,
        selector: Option<String>,
    },
}

/// One approval request in a scope: its id and the session that asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalRef {
    pub id: String,
    pub session_id: String,
}

impl Scope {
    pub fn session_ids(&self) -> &[String] {
        match self {
            Scope::Fleet { sessions, .. } | Scope::Sessions { sessions, .. } => sessions,
            Scope::Approval { .. } | Scope::Approvals { .. } => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OperatorAction {
    pub kind: ActionKind,
    pub scope: Scope,
    pub reason: String,
    pub operator: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("{0} needs a reason (--reason TEXT): it is written to the audit log")]
    NoReason(ActionKind),
    #[error("{0} matches no session")]
    EmptyScope(ActionKind),
    #[error("{0} matches no pending approval")]
    NoApproval(ActionKind),
    #[error("{0} cannot apply to the whole fleet")]
    NotFleetWide(ActionKind),
}

/// 1204 → "1,204": counts in scope descriptions and tables.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl OperatorAction {
    pub fn new(kind: ActionKind, scope: Scope, reason: &str, operator: &str) -> Result<Self, ActionError> {
        if reason.trim().is_empty() {
            return Err(ActionError::NoReason(kind));
        }
        match &scope {
            Scope::Fleet { .. } if !kind.is_fleet_wide() => return Err(ActionError::NotFleetWide(kind)),
            Scope::Sessions { sessions, .. } if sessions.is_empty() => return Err(ActionError::EmptyScope(kind)),
            Scope::Approvals { approvals, .. } if approvals.is_empty() => return Err(ActionError::NoApproval(kind)),
            _ => {}
        }
        Ok(OperatorAction { kind, scope, reason: reason.trim().to_owned(), operator: operator.to_owned() })
    }

    /// The exact scope in words, as the confirmation shows it:
    /// "pause 1,204 sessions in 3 namespaces". Ids, namespaces and the selector come from agents,
    /// stores and the command line, so the description is built neutralised.
    pub fn describe(&self) -> Shown {
        let verb = self.kind.verb();
        match &self.scope {
            Scope::Approval { id, session_id } => crate::shown!("{verb} approval {id} of session {session_id}"),
            Scope::Approvals { approvals, sessions, selector } => {
                let what = match approvals.as_slice() {
                    [only] => format!("approval {} of session {}", only.id, only.session_id),
                    many => format!(
                        "{} approvals of {}",
                        thousands(many.len() as u64),
                        match sessions.as_slice() {
                            [only] => format!("session {only}"),
                            all => format!("{} sessions", thousands(all.len() as u64)),
                        }
                    ),
                };
                let sel = selector.as_ref().map(|s| format!(" matching {s}")).unwrap_or_default();
                crate::shown!("{verb} {what}{sel}")
            }
            Scope::Fleet { sessions, namespaces, held } => crate::shown!(
                "{verb} the whole fleet ({} live session{}{}, and any that start while it holds){}",
                thousands(sessions.len() as u64),
                if sessions.len() == 1 { "" } else { "s" },
                in_namespaces(namespaces),
                match held.as_slice() {
                    [] => String::new(),
                    [only] => format!("; session {only} stays paused: it was paused on its own"),
                    many => format!(
                        "; {} sessions stay paused: they were paused on their own",
                        thousands(many.len() as u64)
                    ),
                }
            ),
            Scope::Sessions { sessions, namespaces, selector } => {
                let what = if let [only] = sessions.as_slice() {
                    format!("session {only}")
                } else {
                    format!("{} sessions", thousands(sessions.len() as u64))
                };
                let sel = selector.as_ref().map(|s| format!(" matching {s}")).unwrap_or_default();
                crate::shown!("{verb} {what}{sel}{}", in_namespaces(namespaces))
            }
        }
    }

    /// The audit record of this action, on the operator's chain.
    pub fn audit_body(&self, outcome: &str) -> EventBody {
        let scope = serde_json::to_value(&self.scope).unwrap_or_default();
        EventBody::new(
            operator_chain(&self.operator),
            0,
            EventKind::OperatorAction,
            format!("operator:{}", self.operator),
        )
        .attr("quell.action", self.kind.verb())
        .attr("quell.reason", self.reason.clone())
        .attr("quell.scope", scope)
        .attr("quell.scope.summary", self.describe().as_str())
        .attr("quell.outcome", outcome)
    }
}

fn in_namespaces(namespaces: &BTreeSet<String>) -> String {
    match namespaces.len() {
        0 => String::new(),
        1 => format!(" in namespace {}", namespaces.iter().next().map(String::as_str).unwrap_or("")),
        n => format!(" in {n} namespaces"),
    }
}

/// Operator actions are chained per operator identity.
pub fn operator_chain(operator: &str) -> String {
    format!("operator:{operator}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(n: usize, ns: &[&str]) -> Scope {
        Scope::Sessions {
            sessions: (0..n).map(|i| format!("s{i}")).collect(),
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            selector: None,
        }
    }

    #[test]
    fn scope_is_described_exactly() {
        let a =
            OperatorAction::new(ActionKind::Pause, sessions(1204, &["a", "b", "c"]), "incident 42", "alice").unwrap();
        assert_eq!(a.describe(), "pause 1,204 sessions in 3 namespaces");
        let one = OperatorAction::new(ActionKind::Kill, sessions(1, &["genai-prod"]), "r", "alice").unwrap();
        assert_eq!(one.describe(), "kill session s0 in namespace genai-prod");
        let held = vec!["s1".to_owned(), "s2".to_owned()];
        let fleet =
            Scope::Fleet { sessions: vec!["s0".into(), "s1".into(), "s2".into()], namespaces: BTreeSet::new(), held };
        let resume = OperatorAction::new(ActionKind::Resume, fleet, "over", "alice").unwrap();
        assert!(
            resume.describe().ends_with("; 2 sessions stay paused: they were paused on their own"),
            "{}",
            resume.describe()
        );
        let summary = serde_json::to_value(&resume.scope).unwrap();
        assert_eq!(summary["held"], serde_json::json!(["s1", "s2"]), "the audit record names them");
        let pause = Scope::Fleet { sessions: vec![], namespaces: BTreeSet::new(), held: vec![] };
        assert!(serde_json::to_value(&pause).unwrap().get("held").is_none(), "pause records are unchanged");
    }

    #[test]
    fn scope_description_neutralises_ids_namespaces_and_selector() {
        let scope = Scope::Sessions {
            sessions: vec!["s\u{1b}]2;PWNED\u{7}".into()],
            namespaces: ["ns\u{202e}x".to_owned()].into(),
            selector: Some("model=\u{9b}31m".into()),
        };
        let a = OperatorAction::new(ActionKind::Pause, scope, "r", "alice").unwrap();
        assert_eq!(a.describe(), "pause session s^[]2;PWNED^G matching model=\\u{9B}31m in namespace ns\\u{202E}x");
        let approval = Scope::Approval { id: "a\u{200b}1".into(), session_id: "s\r1".into() };
        let d = OperatorAction::new(ActionKind::Approve, approval, "r", "alice").unwrap();
        assert_eq!(d.describe(), "approve approval a\\u{200B}1 of session s^M1");
    }

    #[test]
    fn every_operation_has_its_own_verb_and_restore_is_audited_as_restore() {
        let verbs: BTreeSet<&str> = ActionKind::ALL.iter().map(|k| k.verb()).collect();
        assert_eq!(verbs.len(), ActionKind::ALL.len(), "one verb per operation");
        assert!(ActionKind::CLUSTER.iter().all(|k| k.is_cluster()));
        let restore = OperatorAction::new(ActionKind::Restore, sessions(1, &["ns"]), "fixed", "alice").unwrap();
        assert_eq!(restore.audit_body("1 done").attr_str("quell.action"), Some("restore"));
        assert_eq!(restore.describe(), "restore session s0 in namespace ns");
        assert_eq!(ActionKind::Restore.desired(), None, "a restore is not the soft resume");
        let kill_now = ActionKind::KillPod { grace: Some(0) };
        assert!(kill_now.same_operation(ActionKind::KillPod { grace: None }) && kill_now.is_irreversible());
        assert!(!ActionKind::Restore.same_operation(ActionKind::Resume));
        assert_eq!(serde_json::to_value(kill_now).unwrap(), serde_json::json!("kill-pod"));
    }

    #[test]
    fn reason_and_scope_are_required() {
        assert_eq!(
            OperatorAction::new(ActionKind::Kill, sessions(1, &[]), "  ", "a"),
            Err(ActionError::NoReason(ActionKind::Kill))
        );
        assert_eq!(
            OperatorAction::new(ActionKind::Pause, sessions(0, &[]), "r", "a"),
            Err(ActionError::EmptyScope(ActionKind::Pause))
        );
        let fleet = Scope::Fleet { sessions: vec![], namespaces: BTreeSet::new(), held: vec![] };
        assert_eq!(
            OperatorAction::new(ActionKind::Kill, fleet, "r", "a"),
            Err(ActionError::NotFleetWide(ActionKind::Kill))
        );
    }
}
