//! The console's state and its one `update`: a message in, the new state and the effects to
//! run out. No I/O happens here; effects are carried out by the feed threads, whose results
//! come back as messages.

use super::confirm::{ConfirmDialog, Outcome, Plan};
use super::fleet::{move_cursor, scroll_into_view, FleetState, SortKey};
use super::keymap::{Binding, Cmd, Context, Key, Keymap};
use super::kube::{action_of_cmd, KubeInfo, KubeState};
use super::replay::ReplayState;
use super::session::{Detail, SessionView, TimelineData};
use super::text::{safe, thousands};
use super::theme::Theme;
use crate::model::action::{ActionKind, OperatorAction};
use crate::model::approval::{Approval, Verdict};
use crate::model::selector::Selector;
use crate::model::time::Timestamp;
use crate::model::untrusted::Untrusted;
use crate::services::cluster::PodAction;
use crate::services::control::{AckReport, Issued, Target};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::HashSet;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Fleet,
    Session,
    Approvals,
    Replay,
    Help,
}

impl View {
    pub fn context(self) -> Context {
        match self {
            View::Fleet => Context::Fleet,
            View::Session => Context::Session,
            View::Approvals => Context::Approvals,
            View::Replay => Context::Replay,
            View::Help => Context::Global,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            View::Fleet => "fleet",
            View::Session => "session",
            View::Approvals => "approvals",
            View::Replay => "replay",
            View::Help => "help",
        }
    }
}

/// Messages: input, time, and results from the background.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick(Timestamp),
    Snapshot(Box<super::fleet::Snapshot>),
    /// The backend could not be read; what is on screen stays. `retry` is the next attempt.
    FeedDown {
        error: String,
        retry: Duration,
    },
    Planned(Result<OperatorAction, String>),
    Executed(Result<Issued, String>),
    Decided(Result<crate::services::approvals::Decided, String>),
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
    PlanControl {
        kind: ActionKind,
        target: Target,
    },
    PlanDecision {
        id: String,
        verdict: Verdict,
    },
    /// Execute a confirmed control action, then watch its acknowledgements.
    Execute(OperatorAction),
    Decide(OperatorAction),
    LoadTimeline(String),
    /// Every session's events since a time, for a replay of a window (`id` labels it).
    LoadWindow {
        id: String,
        since: Timestamp,
    },
    LoadContext(String),
    LoadTheme(String),
    /// Resolve the exact sessions and pods of a pod action (hard stop, kill pod, …).
    PlanKube {
        what: PodAction,
        target: Target,
    },
    /// Carry out a confirmed pod action (the permission check comes first).
    ExecuteKube {
        what: PodAction,
        action: OperatorAction,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Selector,
    Command,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Error,
}

/// The live line after a pause, resume or kill.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub what: String,
    pub issued: Option<Issued>,
    pub report: Option<AckReport>,
    pub outstanding: HashSet<String>,
    pub elapsed: Duration,
    pub error: Option<String>,
}

/// The last steps of a session, or why they could not be read.
pub type ContextLines = Result<Vec<String>, String>;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ApprovalsView {
    pub items: Vec<Approval>,
    pub selected: usize,
    pub offset: usize,
    /// The last steps of the selected approval's session: (session id, lines).
    pub context: Option<(String, Option<ContextLines>)>,
}

impl ApprovalsView {
    pub fn selected_item(&self) -> Option<&Approval> {
        self.items.get(self.selected)
    }
}

pub struct App {
    pub operator: String,
    pub readonly: bool,
    pub now: Timestamp,
    pub size: (u16, u16),
    pub keymap: Keymap,
    pub theme: Theme,
    pub no_color: bool,
    pub view: View,
    back: Vec<View>,
    pub fleet: FleetState,
    pub approvals: ApprovalsView,
    pub session: Option<SessionView>,
    pub replay: Option<ReplayState>,
    pub help_offset: usize,
    pub input: Option<Input>,
    pub dialog: Option<ConfirmDialog>,
    /// The pod action the open dialog is for (a restore's kind is `Resume`, like the soft one).
    pub dialog_pod: Option<PodAction>,
    pub progress: Option<Progress>,
    pub status: Option<(Level, String)>,
    /// Set while the backend is unreachable: the error and when the next try is.
    pub degraded: Option<String>,
    /// Set while the audit log cannot be written: why.
    pub audit_degraded: Option<String>,
    /// `Some` when a kube context is configured: pod columns and pod actions.
    pub kube: Option<KubeState>,
    pub quit: bool,
    pub dirty: bool,
}

/// Rows of chrome around a view's list: header, status line, key bar, table header.
const CHROME: u16 = 4;

impl App {
    pub fn new(operator: &str, readonly: bool, keymap: Keymap, theme: Theme, now: Timestamp) -> App {
        App {
            operator: operator.to_owned(),
            readonly,
            now,
            size: (80, 24),
            keymap,
            no_color: theme.mono,
            theme,
            view: View::Fleet,
            back: Vec::new(),
            fleet: FleetState::default(),
            approvals: ApprovalsView::default(),
            session: None,
            replay: None,
            help_offset: 0,
            input: None,
            dialog: None,
            dialog_pod: None,
            progress: None,
            status: None,
            degraded: None,
            audit_degraded: None,
            kube: None,
            quit: false,
            dirty: true,
        }
    }

    /// Rows available to the current view's list (approximate; the view clamps).
    pub fn list_height(&self) -> usize {
        let banners = u16::from(self.banner().is_some())
            + u16::from(self.degraded.is_some())
            + u16::from(self.audit_degraded.is_some());
        let h = self.size.1.saturating_sub(CHROME + banners);
        usize::from(match self.view {
            View::Session | View::Approvals | View::Replay => h / 2,
            _ => h,
        })
        .max(1)
    }

    /// The fleet-wide pause banner: who, when, why.
    pub fn banner(&self) -> Option<String> {
        let rec = self.fleet.fleet_control.as_ref()?;
        if rec.desired != crate::model::control::Desired::Pause {
            return None;
        }
        Some(format!(
            "FLEET PAUSED by {} at {} ({} ago): {}",
            safe(&rec.operator),
            super::session::clock(&rec.at),
            crate::model::time::age(&rec.at, &self.now),
            Untrusted::new(rec.reason.as_str()).shown_line()
        ))
    }

    /// Whether help and the key bar show a binding: no actions on a read-only console, and a
    /// pod action only when the API server says the user may take it.
    pub fn shows(&self, b: &Binding) -> bool {
        if self.readonly && b.destructive {
            return false;
        }
        match action_of_cmd(b.cmd) {
            Some(what) => self.kube.as_ref().is_some_and(|k| k.allows(what)),
            None => true,
        }
    }

    fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some((level, text.into()));
    }

    fn go(&mut self, view: View) {
        if self.view != view {
            self.status = None;
            self.back.push(self.view);
            if self.back.len() > 32 {
                self.back.remove(0);
            }
            self.view = view;
        }
    }

    fn go_back(&mut self) {
        if let Some(v) = self.back.pop() {
            self.view = v;
        } else if self.view != View::Fleet {
            self.view = View::Fleet;
        }
    }
}

/// The one update: applies a message, returns the effects to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(key) => {
            if key.kind != KeyEventKind::Release {
                on_key(app, &key, &mut fx);
                app.dirty = true;
            }
        }
        Msg::Resize(w, h) => {
            app.size = (w, h);
            app.dirty = true;
        }
        Msg::Tick(now) => {
            // Ages and countdowns have one-second resolution: redraw when the second changes.
            if now.timestamp() != app.now.timestamp() {
                app.dirty = true;
            }
            app.now = now;
            if let Some(r) = app.replay.as_mut() {
                if r.tick(now) {
                    app.dirty = true;
                }
            }
        }
        Msg::Snapshot(snapshot) => {
            app.degraded = None;
            let approvals = snapshot.approvals.clone();
            app.fleet.apply(*snapshot, app.now);
            let h = app.list_height();
            scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
            apply_approvals(app, approvals, &mut fx);
            app.dirty = true;
        }
        Msg::FeedDown { error, retry } => {
            app.degraded = Some(format!(
                "backend unavailable: {} — retrying in {:.1}s; showing the last data",
                Untrusted::new(error.as_str()).shown_line(),
                retry.as_secs_f64()
            ));
            app.dirty = true;
        }
        Msg::Kube(info) => {
            if let Some(k) = app.kube.as_mut() {
                match *info {
                    Ok(info) => {
                        k.info = Some(info);
                        k.error = None;
                    }
                    Err(e) => k.error = Some(safe(&e).into_owned()),
                }
                app.dirty = true;
            }
        }
        Msg::AuditHealth(health) => {
            let now = health.err().map(|e| format!("audit degraded: {}", Untrusted::new(e.as_str()).shown_line()));
            if now != app.audit_degraded {
                if now.is_none() {
                    app.set_status(Level::Ok, "audit log writable again");
                }
                app.audit_degraded = now;
                app.dirty = true;
            }
        }
        Msg::KubeDone(result) => {
            match result {
                Ok(line) => app.set_status(Level::Ok, Untrusted::new(line.as_str()).shown_line()),
                Err(e) => app.set_status(Level::Error, Untrusted::new(e.as_str()).shown_line()),
            }
            app.dirty = true;
        }
        Msg::Planned(plan) => {
            if let Some(d) = app.dialog.as_mut().filter(|d| d.plan == Plan::Resolving) {
                d.planned(plan);
                app.dirty = true;
            }
        }
        Msg::Executed(result) => {
            if let Some(p) = app.progress.as_mut() {
                match result {
                    Ok(issued) => {
                        p.outstanding = issued.sessions.iter().cloned().collect();
                        if let Some(e) = &issued.audit_error {
                            let msg = format!("{} took effect, but {}", issued.desired.as_str(), safe(e));
                            app.status = Some((Level::Error, msg));
                        }
                        p.issued = Some(issued);
                    }
                    Err(e) => p.error = Some(e),
                }
            }
            app.dirty = true;
        }
        Msg::Progress { report, elapsed } => {
            if let Some(p) = app.progress.as_mut() {
                match report {
                    Ok(r) => {
                        p.outstanding = r.outstanding.iter().cloned().collect();
                        p.report = Some(r);
                        p.elapsed = elapsed;
                        p.error = None;
                    }
                    Err(e) => p.error = Some(e),
                }
                app.dirty = true;
            }
        }
        Msg::Decided(result) => {
            match result {
                Ok(crate::services::approvals::Decided { approval: a, audit_error }) => {
                    let msg = format!(
                        "approval {} is {} ({}/{} approvers)",
                        safe(&a.id),
                        a.status,
                        a.approvals(),
                        a.required_approvers.max(1)
                    );
                    match audit_error {
                        Some(e) => app.set_status(Level::Error, format!("{msg}; {}", safe(&e))),
                        None => app.set_status(Level::Ok, msg),
                    }
                    if a.status.is_final() {
                        let id = a.id.clone();
                        app.approvals.items.retain(|x| x.id != id);
                    } else if let Some(x) = app.approvals.items.iter_mut().find(|x| x.id == a.id) {
                        *x = a;
                    }
                    let n = app.approvals.items.len();
                    app.approvals.selected = app.approvals.selected.min(n.saturating_sub(1));
                }
                Err(e) => app.set_status(Level::Error, format!("decision refused: {}", safe(&e))),
            }
            app.dirty = true;
        }
        Msg::Timeline { id, data } => {
            let data = *data;
            if let Some(s) = app.session.as_mut().filter(|s| s.id == id && s.data.is_none()) {
                s.data = Some(data.clone());
                app.dirty = true;
            }
            if let Some(r) = app.replay.as_mut().filter(|r| r.id == id && r.data.is_none()) {
                r.load(data);
                app.dirty = true;
            }
        }
        Msg::Context { session_id, lines } => {
            if app.approvals.selected_item().is_some_and(|a| a.session_id == session_id) {
                app.approvals.context = Some((session_id, Some(lines)));
                app.dirty = true;
            }
        }
        Msg::Theme(result) => {
            match result {
                Ok(t) => {
                    app.set_status(Level::Ok, format!("theme {}", t.name));
                    app.theme = t;
                }
                Err(e) => app.set_status(Level::Error, e),
            }
            app.dirty = true;
        }
    }
    fx
}

fn apply_approvals(app: &mut App, items: Vec<Approval>, fx: &mut Vec<Effect>) {
    let keep = app.approvals.selected_item().map(|a| a.id.clone());
    app.approvals.items = items;
    let n = app.approvals.items.len();
    app.approvals.selected = keep
        .and_then(|id| app.approvals.items.iter().position(|a| a.id == id))
        .unwrap_or(app.approvals.selected.min(n.saturating_sub(1)));
    request_context(app, fx);
}

/// Loads the context (last steps) of the selected approval's session when it changed.
fn request_context(app: &mut App, fx: &mut Vec<Effect>) {
    // An unreadable approval names no session to show the context of.
    let Some(sid) = app.approvals.selected_item().filter(|a| a.unreadable.is_none()).map(|a| a.session_id.clone())
    else {
        app.approvals.context = None;
        return;
    };
    if app.view == View::Approvals && app.approvals.context.as_ref().is_none_or(|(s, _)| *s != sid) {
        app.approvals.context = Some((sid.clone(), None));
        fx.push(Effect::LoadContext(sid));
    }
}

fn on_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    if let Some(dialog) = app.dialog.as_mut() {
        match dialog.handle(key) {
            Outcome::Open => {}
            Outcome::Cancelled => {
                app.dialog = None;
                app.dialog_pod = None;
                app.set_status(Level::Info, "cancelled: nothing was changed");
            }
            Outcome::Confirmed(action) => {
                app.dialog = None;
                run_confirmed(app, action, fx);
            }
        }
        return;
    }
    if app.input.is_some() {
        on_input_key(app, key, fx);
        return;
    }
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return;
    }
    let Some(cmd) = app.keymap.lookup(app.view.context(), &Key::from_event(key)) else {
        return;
    };
    on_cmd(app, cmd, fx);
}

fn run_confirmed(app: &mut App, action: OperatorAction, fx: &mut Vec<Effect>) {
    if app.readonly {
        app.set_status(Level::Error, "read-only console: actions are disabled");
        return;
    }
    let what = Untrusted::new(action.describe()).shown_line();
    if let Some(pod) = app.dialog_pod.take() {
        let shown = if pod == PodAction::Restore { format!("restore (undo hard stop): {what}") } else { what };
        app.set_status(Level::Info, format!("{shown}: asking the API server…"));
        fx.push(Effect::ExecuteKube { what: pod, action });
        return;
    }
    match action.kind {
        ActionKind::Approve | ActionKind::Reject => {
            app.set_status(Level::Info, format!("{what}: deciding…"));
            fx.push(Effect::Decide(action));
        }
        _ => {
            app.progress = Some(Progress {
                what,
                issued: None,
                report: None,
                outstanding: action.scope.session_ids().iter().cloned().collect(),
                elapsed: Duration::ZERO,
                error: None,
            });
            app.status = None;
            fx.push(Effect::Execute(action));
        }
    }
}

fn open_dialog(app: &mut App, kind: ActionKind, effect: Effect, fx: &mut Vec<Effect>) {
    if app.readonly {
        app.set_status(Level::Error, "read-only console: actions are disabled");
        return;
    }
    app.dialog = Some(ConfirmDialog::new(kind, &app.operator));
    app.dialog_pod = None;
    app.status = None;
    fx.push(effect);
}

/// A pod action on `target`, else the marked rows, else the selected row; refused (with why)
/// when kube is not configured or the API server has not said the user may.
fn act_on_pods(app: &mut App, what: PodAction, target: Option<Target>, fx: &mut Vec<Effect>) {
    let kind = what.kind();
    let Some(k) = app.kube.as_ref() else {
        app.set_status(Level::Error, format!("{kind}: no Kubernetes context (start quell with --context or -n)"));
        return;
    };
    if !k.allows(what) {
        let why =
            if k.info.is_none() { "still asking the API server" } else { "your Kubernetes role does not allow it" };
        app.set_status(Level::Error, format!("{kind} refused: {why}"));
        return;
    }
    let target = match target {
        Some(t) => t,
        None => {
            let ids = chosen_rows(app);
            if ids.is_empty() {
                app.set_status(Level::Error, format!("no session selected to {kind}"));
                return;
            }
            Target::Sessions(ids)
        }
    };
    let operator = app.kube.as_ref().and_then(|k| k.operator.clone());
    open_dialog(app, kind, Effect::PlanKube { what, target }, fx);
    if let Some(d) = app.dialog.as_mut() {
        app.dialog_pod = Some(what);
        if let Some(op) = operator {
            d.operator = op;
        }
    }
}

fn chosen_rows(app: &App) -> Vec<String> {
    if app.fleet.marked.is_empty() {
        app.fleet.selected_id().into_iter().collect()
    } else {
        app.fleet.marked.iter().cloned().collect()
    }
}

/// Pause/resume/kill on the marked rows, else the selected row.
fn act_on_rows(app: &mut App, kind: ActionKind, fx: &mut Vec<Effect>) {
    let ids = chosen_rows(app);
    if ids.is_empty() {
        app.set_status(Level::Error, format!("no session selected to {kind}"));
        return;
    }
    open_dialog(app, kind, Effect::PlanControl { kind, target: Target::Sessions(ids) }, fx);
}

fn decide(app: &mut App, verdict: Verdict, fx: &mut Vec<Effect>) {
    let Some(id) = app.approvals.selected_item().map(|a| a.id.clone()) else {
        app.set_status(Level::Error, "no pending approval selected");
        return;
    };
    let kind = if verdict == Verdict::Approve { ActionKind::Approve } else { ActionKind::Reject };
    open_dialog(app, kind, Effect::PlanDecision { id, verdict }, fx);
}

fn open_session(app: &mut App, id: &str, fx: &mut Vec<Effect>) {
    app.session = Some(SessionView::new(id));
    app.go(View::Session);
    fx.push(Effect::LoadTimeline(id.to_owned()));
}

fn open_replay(app: &mut App, id: &str, fx: &mut Vec<Effect>) {
    let mut r = ReplayState::new(id);
    // Reuse a loaded timeline of the same session.
    if let Some(Some(data)) = app.session.as_ref().filter(|s| s.id == id).map(|s| s.data.clone()) {
        r.load(data);
    } else {
        fx.push(Effect::LoadTimeline(id.to_owned()));
    }
    app.replay = Some(r);
    app.go(View::Replay);
}

/// Moves the cursor of the current view.
fn move_by(app: &mut App, delta: isize) {
    let h = app.list_height();
    match app.view {
        View::Fleet => {
            let len = app.fleet.visible.len();
            move_cursor(&mut app.fleet.selected, &mut app.fleet.offset, len, delta, h);
        }
        View::Approvals => {
            let len = app.approvals.items.len();
            move_cursor(&mut app.approvals.selected, &mut app.approvals.offset, len, delta, h);
        }
        View::Session => {
            if let Some(s) = app.session.as_mut() {
                if s.detail != Detail::None && delta.abs() > 1 {
                    s.detail_scroll = (s.detail_scroll as isize + delta).max(0) as usize;
                    return;
                }
                let len = s.items().len();
                move_cursor(&mut s.selected, &mut s.offset, len, delta, h);
                if matches!(s.detail, Detail::Diff { .. }) {
                    s.detail = Detail::None;
                }
                s.detail_scroll = 0;
            }
        }
        View::Replay => {
            if let Some(r) = app.replay.as_mut() {
                r.step(delta);
            }
        }
        View::Help => app.help_offset = (app.help_offset as isize + delta).max(0) as usize,
    }
}

fn on_cmd(app: &mut App, cmd: Cmd, fx: &mut Vec<Effect>) {
    let page = app.list_height() as isize;
    let readonly_refusal = app.keymap.binding(cmd).is_some_and(|b| b.destructive) && app.readonly;
    if readonly_refusal {
        app.set_status(Level::Error, "read-only console: actions are disabled");
        return;
    }
    match cmd {
        Cmd::Quit => app.quit = true,
        Cmd::Help => app.go(View::Help),
        Cmd::Command => app.input = Some(Input { kind: InputKind::Command, text: String::new() }),
        Cmd::Back => {
            if app.view == View::Fleet && (!app.fleet.filter.is_empty() || app.fleet.selector.is_some()) {
                let now = app.now;
                app.fleet.set_filter("", now);
                app.fleet.set_selector(None, now);
                app.set_status(Level::Info, "filters cleared");
            } else if app.view == View::Session && app.session.as_ref().is_some_and(|s| s.detail != Detail::None) {
                if let Some(s) = app.session.as_mut() {
                    s.detail = Detail::None;
                }
            } else {
                app.go_back();
            }
        }
        Cmd::Open => match app.view {
            View::Fleet => {
                if let Some(id) = app.fleet.selected_id() {
                    open_session(app, &id, fx);
                }
            }
            View::Approvals => {
                if let Some(id) = app.approvals.selected_item().map(|a| a.session_id.clone()) {
                    open_session(app, &id, fx);
                }
            }
            View::Session => toggle_raw(app),
            _ => {}
        },
        Cmd::Up => move_by(app, -1),
        Cmd::Down => move_by(app, 1),
        Cmd::PageUp => move_by(app, -page),
        Cmd::PageDown => move_by(app, page),
        Cmd::Top => move_by(app, isize::MIN / 2),
        Cmd::Bottom => move_by(app, isize::MAX / 2),
        Cmd::ViewFleet => app.go(View::Fleet),
        Cmd::ViewApprovals => {
            app.go(View::Approvals);
            request_context(app, fx);
        }
        Cmd::Filter => {
            app.input = Some(Input { kind: InputKind::Filter, text: app.fleet.filter.clone() });
        }
        Cmd::SelectorFilter => {
            let text = app.fleet.selector.as_ref().map(|s| s.to_string()).unwrap_or_default();
            app.input = Some(Input { kind: InputKind::Selector, text });
        }
        Cmd::Sort => {
            let now = app.now;
            app.fleet.cycle_sort(now);
            app.set_status(Level::Info, format!("sorted by {}", app.fleet.sort.name()));
        }
        Cmd::SortReverse => {
            let now = app.now;
            app.fleet.reverse(now);
        }
        Cmd::Mark => {
            app.fleet.toggle_mark();
            move_by(app, 1);
        }
        Cmd::ClearMarks => app.fleet.marked.clear(),
        Cmd::Pause => act_on_rows(app, ActionKind::Pause, fx),
        Cmd::Resume => act_on_rows(app, ActionKind::Resume, fx),
        Cmd::Kill => act_on_rows(app, ActionKind::Kill, fx),
        Cmd::PauseFleet => {
            let kind = ActionKind::Pause;
            open_dialog(app, kind, Effect::PlanControl { kind, target: Target::All }, fx)
        }
        Cmd::ResumeFleet => {
            let kind = ActionKind::Resume;
            open_dialog(app, kind, Effect::PlanControl { kind, target: Target::All }, fx)
        }
        Cmd::HardStop | Cmd::KillPod | Cmd::Quarantine | Cmd::Release | Cmd::Restore => {
            if let Some(what) = action_of_cmd(cmd) {
                act_on_pods(app, what, None, fx);
            }
        }
        Cmd::Approve => decide(app, Verdict::Approve, fx),
        Cmd::Reject => decide(app, Verdict::Reject, fx),
        Cmd::Raw => toggle_raw(app),
        Cmd::Diff => {
            if let Some(s) = app.session.as_mut() {
                match s.diff_selected() {
                    Ok(d) => {
                        s.detail = d;
                        s.detail_scroll = 0;
                    }
                    Err(e) => app.set_status(Level::Error, e),
                }
            }
        }
        Cmd::Replay => {
            if let Some(id) = app.session.as_ref().map(|s| s.id.clone()) {
                open_replay(app, &id, fx);
            }
        }
        Cmd::Play => {
            let now = app.now;
            if let Some(r) = app.replay.as_mut() {
                r.toggle_play(now);
            }
        }
        Cmd::StepForward => move_by(app, 1),
        Cmd::StepBack => move_by(app, -1),
        Cmd::Faster => {
            if let Some(r) = app.replay.as_mut() {
                r.faster();
            }
        }
        Cmd::Slower => {
            if let Some(r) = app.replay.as_mut() {
                r.slower();
            }
        }
        Cmd::Anomaly => {
            if let Some(r) = app.replay.as_mut() {
                if !r.next_anomaly() {
                    app.set_status(Level::Info, "no anomaly in this session");
                }
            }
        }
        Cmd::KindFilter => {
            if let Some(r) = app.replay.as_mut() {
                r.cycle_filter();
            }
        }
    }
    if matches!(cmd, Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom)
        && app.view == View::Approvals
    {
        request_context(app, fx);
    }
}

fn toggle_raw(app: &mut App) {
    if let Some(s) = app.session.as_mut() {
        s.detail = if s.detail == Detail::Raw { Detail::None } else { Detail::Raw };
        s.detail_scroll = 0;
    }
}

fn on_input_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    let Some(input) = app.input.as_mut() else { return };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let kind = input.kind;
    match key.code {
        KeyCode::Esc => {
            app.input = None;
            if kind == InputKind::Filter {
                let now = app.now;
                app.fleet.set_filter("", now);
            }
            return;
        }
        KeyCode::Char('c') if ctrl => {
            app.input = None;
            return;
        }
        KeyCode::Enter => {
            let text = input.text.trim().to_owned();
            app.input = None;
            match kind {
                InputKind::Filter => {
                    let n = app.fleet.visible.len();
                    app.set_status(Level::Info, format!("{} '{}'", matching(n), safe(&text)));
                }
                InputKind::Selector => apply_selector(app, &text),
                InputKind::Command => run_command(app, &text, fx),
            }
            return;
        }
        KeyCode::Backspace => {
            input.text.pop();
        }
        KeyCode::Char('u') if ctrl => input.text.clear(),
        KeyCode::Char(c) if !ctrl && !c.is_control() => {
            if input.text.chars().count() < 300 {
                input.text.push(c);
            }
        }
        _ => return,
    }
    if kind == InputKind::Filter {
        // Live filtering while typing.
        let text = input.text.clone();
        let now = app.now;
        app.fleet.set_filter(&text, now);
        app.fleet.offset = 0;
        let h = app.list_height();
        scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
    }
}

fn matching(n: usize) -> String {
    if n == 1 {
        "1 session matches".into()
    } else {
        format!("{} sessions match", thousands(n as u64))
    }
}

fn apply_selector(app: &mut App, text: &str) {
    let now = app.now;
    if text.is_empty() {
        app.fleet.set_selector(None, now);
        app.set_status(Level::Info, "selector cleared");
        return;
    }
    match Selector::parse(text) {
        Ok(sel) => {
            app.fleet.set_selector(Some(sel), now);
            let n = app.fleet.visible.len();
            app.set_status(Level::Info, format!("{} {}", matching(n), safe(text)));
        }
        Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
    }
}

/// `:` commands. Destructive ones open the same confirmation dialog as their keys.
fn run_command(app: &mut App, line: &str, fx: &mut Vec<Effect>) {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match word {
        "" => {}
        "q" | "quit" | "exit" => app.quit = true,
        "fleet" | "f" => app.go(View::Fleet),
        "approvals" | "a" => {
            app.go(View::Approvals);
            request_context(app, fx);
        }
        "help" | "h" => app.go(View::Help),
        "session" | "open" | "s" if !rest.is_empty() => open_session(app, rest, fx),
        "replay" | "r" if crate::model::time::parse_duration(rest).is_some() => {
            let since = crate::model::time::parse_time(rest, app.now).unwrap_or(app.now);
            let id = format!("last {rest}");
            app.replay = Some(ReplayState::new(&id));
            app.go(View::Replay);
            fx.push(Effect::LoadWindow { id, since });
        }
        "replay" | "r" => {
            let id = if rest.is_empty() {
                app.session.as_ref().map(|s| s.id.clone()).or_else(|| app.fleet.selected_id())
            } else {
                Some(rest.to_owned())
            };
            match id {
                Some(id) => open_replay(app, &id, fx),
                None => app.set_status(Level::Error, "replay which session? :replay ID"),
            }
        }
        "theme" if !rest.is_empty() => {
            if app.no_color {
                app.set_status(Level::Info, "NO_COLOR is set: the console stays monochrome");
            } else {
                fx.push(Effect::LoadTheme(rest.to_owned()));
            }
        }
        "filter" => {
            let now = app.now;
            app.fleet.set_filter(rest, now);
            app.go(View::Fleet);
        }
        "select" | "selector" => {
            apply_selector(app, rest);
            app.go(View::Fleet);
        }
        "sort" => match SortKey::parse(rest) {
            Some(k) => {
                let now = app.now;
                app.fleet.set_sort(k, now);
            }
            None => {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                app.set_status(Level::Error, format!("sort by one of: {}", names.join(", ")));
            }
        },
        "pause" | "resume" | "kill" => {
            let kind = match word {
                "pause" => ActionKind::Pause,
                "resume" => ActionKind::Resume,
                _ => ActionKind::Kill,
            };
            if app.readonly {
                app.set_status(Level::Error, "read-only console: actions are disabled");
            } else if rest.is_empty() {
                act_on_rows(app, kind, fx);
            } else if rest == "--all" || rest == "all" {
                open_dialog(app, kind, Effect::PlanControl { kind, target: Target::All }, fx);
            } else {
                match Selector::parse(rest) {
                    Ok(sel) => open_dialog(app, kind, Effect::PlanControl { kind, target: Target::Selector(sel) }, fx),
                    Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
                }
            }
        }
        "hard-stop" | "kill-pod" | "quarantine" | "release" | "restore" => {
            let what = match word {
                "hard-stop" => PodAction::HardStop,
                "restore" => PodAction::Restore,
                "kill-pod" => PodAction::KillPod { grace: None },
                "quarantine" => PodAction::Quarantine,
                _ => PodAction::Release,
            };
            if app.readonly {
                app.set_status(Level::Error, "read-only console: actions are disabled");
            } else if rest.is_empty() {
                act_on_pods(app, what, None, fx);
            } else {
                match Selector::parse(rest) {
                    Ok(sel) => act_on_pods(app, what, Some(Target::Selector(sel)), fx),
                    Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
                }
            }
        }
        other => app.set_status(
            Level::Error,
            format!(
                "unknown command :{} (try :fleet :approvals :replay ID :session ID :theme NAME :pause SELECTOR :quit)",
                safe(other)
            ),
        ),
    }
}
