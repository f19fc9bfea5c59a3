//! Opening and confirming actions: every destructive action opens the confirm dialog with an
//! effect that plans it; what the operator confirms is executed.

use super::{App, Effect, Level, Progress};
use crate::interfaces::tui::confirm::{ConfirmDialog, Outcome};
use crate::model::action::{ActionKind, OperatorAction};
use crate::model::approval::Verdict;
use crate::model::untrusted::Untrusted;
use crate::services::control::Target;
use crate::services::kube::PodAction;
use crossterm::event::KeyEvent;
use std::time::Duration;

/// A key while the confirm dialog is open: the dialog takes it; a confirmed action is run.
pub(super) fn on_dialog_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    let Some(dialog) = app.dialog.as_mut() else { return };
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

pub(super) fn open_dialog(app: &mut App, kind: ActionKind, effect: Effect, fx: &mut Vec<Effect>) {
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
pub(super) fn act_on_pods(app: &mut App, what: PodAction, target: Option<Target>, fx: &mut Vec<Effect>) {
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
pub(super) fn act_on_rows(app: &mut App, kind: ActionKind, fx: &mut Vec<Effect>) {
    let ids = chosen_rows(app);
    if ids.is_empty() {
        app.set_status(Level::Error, format!("no session selected to {kind}"));
        return;
    }
    open_dialog(app, kind, Effect::PlanControl { kind, target: Target::Sessions(ids) }, fx);
}

pub(super) fn decide(app: &mut App, verdict: Verdict, fx: &mut Vec<Effect>) {
    let Some(id) = app.approvals.selected_item().map(|a| a.id.clone()) else {
        app.set_status(Level::Error, "no pending approval selected");
        return;
    };
    let kind = if verdict == Verdict::Approve { ActionKind::Approve } else { ActionKind::Reject };
    open_dialog(app, kind, Effect::PlanDecision { id, verdict }, fx);
}
