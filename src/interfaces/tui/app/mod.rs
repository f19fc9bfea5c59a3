//! The console's state and its one `update`: a message in, the new state and the effects to
//! run out. No I/O happens here; effects are carried out by the feed threads, whose results
//! come back as messages.
//!
//! The seams: `msg` (what comes in, what goes out), `from_feed` (the feed threads' messages),
//! `keys` (key dispatch), `input` (the filter, selector and command line), `command` (the `:`
//! commands), `actions` (opening and confirming actions), `navigate` (views and cursors).

mod actions;
mod command;
mod complete;
mod dispatch;
mod filters;
mod from_feed;
mod input;
mod keys;
mod msg;
mod navigate;
#[cfg(test)]
mod tests;

pub use msg::{Effect, Msg};

use super::cluster::KubeState;
use super::confirm::ConfirmDialog;
use super::fleet::FleetState;
use super::keymap::{Binding, Context, Keymap};
use super::replay::ReplayState;
use super::session::SessionView;
use super::text::safe;
use super::theme::Theme;
use crate::model::operator::Operator;
use crate::model::session::Session;
use crate::model::time::Timestamp;
use crate::model::untrusted::Untrusted;
use crate::services::control::{AckReport, Issued};
use crossterm::event::KeyEventKind;
use std::collections::{HashMap, HashSet};
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

impl Progress {
    /// Nothing more will change on the line: every session acknowledged, or nothing was issued.
    pub fn finished(&self) -> bool {
        self.report.as_ref().is_some_and(AckReport::complete) || (self.error.is_some() && self.issued.is_none())
    }
}

pub use super::queue::{ApprovalsView, ContextLines};

pub struct App {
    /// Who is at the console, and whether they may act (`--readonly`).
    pub operator: Operator,
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
    /// The `:` commands entered in this run (Up and Down on the `:` line).
    pub history: complete::History,
    /// The confirmation of one operation: the dialog holds the operation it confirms.
    pub dialog: Option<ConfirmDialog>,
    pub progress: Option<Progress>,
    pub status: Option<(Level, String)>,
    /// Set while the backend is unreachable: the error and when the next try is.
    pub degraded: Option<String>,
    /// Set while the audit log cannot be written: why.
    pub audit_degraded: Option<String>,
    /// `Some` when a kube context is configured: pod columns and pod actions.
    pub kube: Option<KubeState>,
    /// The console runs the demo's simulated fleet: quitting stops it, so quitting asks first.
    pub demo: bool,
    /// `q` was pressed once on a console that runs the demo: the next `q` quits.
    pub quit_asked: bool,
    pub quit: bool,
    pub dirty: bool,
}

/// Rows of chrome around a view's list: header, status line, key bar, table header.
const CHROME: u16 = 4;

impl App {
    pub fn new(operator: &str, readonly: bool, keymap: Keymap, theme: Theme, now: Timestamp) -> App {
        App {
            operator: Operator::with_read_only(operator, readonly),
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
            history: complete::History::default(),
            dialog: None,
            progress: None,
            status: None,
            degraded: None,
            audit_degraded: None,
            kube: None,
            demo: false,
            quit_asked: false,
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

    /// Whether help and the key bar show a binding: one with a key; no actions on a read-only
    /// console, and a pod action only when the API server says the user may take it.
    pub fn shows(&self, b: &Binding) -> bool {
        !b.keys.is_empty() && self.offers(b)
    }

    /// Whether help lists a binding's `:` command: as [`App::shows`], with or without a key.
    pub fn offers(&self, b: &Binding) -> bool {
        match b.cmd.action() {
            Some(_) if self.operator.is_read_only() => false,
            Some(kind) if kind.is_cluster() => self.kube.as_ref().is_some_and(|k| k.allows(kind)),
            _ => true,
        }
    }

    /// Re-applies the approvals' filter and selector; the selector reads the requests' sessions.
    fn refilter_approvals(&mut self) {
        let now = self.now;
        let by_id = sessions_for(&self.fleet, &self.approvals);
        self.approvals.refilter(|id| by_id.get(id).copied(), now);
    }

    /// New pending requests from the feed, in expiry order, filtered as before.
    fn set_approvals(&mut self, items: Vec<crate::model::approval::Approval>) {
        let now = self.now;
        let by_id = sessions_for(&self.fleet, &self.approvals);
        self.approvals.set_items(items, |id| by_id.get(id).copied(), now);
    }

    /// Says something on the status line. A finished action's progress line gives way to it;
    /// one still under way keeps its place and the status is said next to it.
    fn set_status(&mut self, level: Level, text: impl Into<String>) {
        if self.progress.as_ref().is_some_and(Progress::finished) {
            self.progress = None;
        }
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

/// The sessions the approvals' selector reads, by id (none needed unless it names their fields).
fn sessions_for<'a>(fleet: &'a FleetState, queue: &ApprovalsView) -> HashMap<&'a str, &'a Session> {
    if !queue.selector.as_ref().is_some_and(|s| s.needs_sessions()) {
        return HashMap::new();
    }
    fleet.rows.iter().map(|r| (r.session.id.as_str(), &r.session)).collect()
}

/// The one update: applies a message, returns the effects to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(key) => {
            if key.kind != KeyEventKind::Release {
                keys::on_key(app, &key, &mut fx);
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
        other => from_feed::apply(app, other, &mut fx),
    }
    fx
}
