//! What the console's `update` takes in (input, time, the feed threads' results) and what it
//! hands out (work for the feed threads).

use crate::interfaces::tui::cluster::KubeInfo;
use crate::interfaces::tui::fleet::{RowAnomalies, Snapshot};
use crate::interfaces::tui::session::TimelineData;
use crate::interfaces::tui::theme::Theme;
use crate::model::action::{ActionKind, OperatorAction};
use crate::model::approval::Verdict;
use crate::model::time::Timestamp;
use crate::services::control::{AckReport, Issued, Target};
use crossterm::event::KeyEvent;
use std::collections::HashMap;
use std::time::Duration;

/// Messages: input, time, and results from the background.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick(Timestamp),
    Snapshot(Box<Snapshot>),
    /// What the anomaly rules found, by session id (a session without findings is absent).
    Anomalies(Box<Result<HashMap<String, RowAnomalies>, String>>),
    /// The backend could not be read; what is on screen stays. `retry` is the next attempt.
    FeedDown {
        error: String,
        retry: Duration,
    },
    Planned(Result<OperatorAction, String>),
    Executed(Result<Issued, String>),
    Decided(Result<crate::services::approvals::Decided, String>),
    /// A decision on several requests, planned: the action, and each named request it leaves
    /// out with why (decided first, expired, gone), in words.
    PlannedMany {
        plan: Result<OperatorAction, String>,
        left_out: Vec<String>,
    },
    /// Several requests decided together: each one's outcome.
    DecidedMany(Result<crate::services::approvals::BulkDecided, String>),
    Progress {
        report: Result<AckReport, String>,
        elapsed: Duration,
    },
    Timeline {
        id: String,
        data: Box<Result<TimelineData, String>>,
    },
    Context {
        session_id: String,
        lines: Result<Vec<String>, String>,
    },
    Theme(Result<Theme, String>),
    /// Pods and permissions from the API server (only when kube is configured).
    Kube(Box<Result<KubeInfo, String>>),
    /// A confirmed pod action finished: its one-line outcome, or why it was refused.
    KubeDone(Result<String, String>),
    /// Whether the audit log can be written now, or why not.
    AuditHealth(Result<(), String>),
}

/// Work for the background threads.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Resolve the exact scope of an operation on sessions (control, or the sessions' pods).
    Plan {
        kind: ActionKind,
        target: Target,
    },
    PlanDecision {
        id: String,
        verdict: Verdict,
    },
    /// Resolve a decision on several requests (the marked ones) with one reason.
    PlanDecisions {
        ids: Vec<String>,
        verdict: Verdict,
    },
    /// Carry out a confirmed operation, whatever it acts on: control (then watch its
    /// acknowledgements), a decision, or pods (re-planned on exactly the confirmed sessions and
    /// permission-checked first).
    Execute(OperatorAction),
    LoadTimeline(String),
    /// Every session's events since a time, for a replay of a window (`id` labels it).
    LoadWindow {
        id: String,
        since: Timestamp,
    },
    LoadContext(String),
    LoadTheme(String),
    /// Written to the terminal by the UI thread: an OSC 52 sequence that sets the clipboard
    /// (built by [`crate::interfaces::tui::terminal::osc52`], which refuses unsafe text).
    Copy(String),
}
