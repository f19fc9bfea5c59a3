//! Opening and confirming actions: every operation ([`ActionKind`]) starts in [`act`], which
//! holds the console's one read-only check, and opens the confirm dialog with an effect that
//! plans it; what the operator confirms is executed.

use super::{App, Effect, Level, Progress};
use crate::interfaces::tui::confirm::{ConfirmDialog, Outcome};
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::text::safe;
use crate::model::action::{ActionKind, Domain, OperatorAction};
use crate::model::approval::Verdict;
use crate::model::operator::CannotAct;
use crate::model::selector::Selector;
use crate::model::untrusted::Untrusted;
use crate::services::control::Target;
use crossterm::event::KeyEvent;
use std::time::Duration;

/// A key while the confirm dialog is open: the dialog takes it; a confirmed action is run.
pub(super) fn on_dialog_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    let Some(dialog) = app.dialog.as_mut() else { return };
    match dialog.handle(key) {
        Outcome::Open => {}
        Outcome::Cancelled => {
            app.dialog = None;
            app.set_status(Level::Info, "cancelled: nothing was changed");
        }
        Outcome::Confirmed(action) => {
            app.dialog = None;
            run_confirmed(app, action, fx);
        }
    }
}

/// A confirmed operation goes to the feed as it was confirmed; the status or progress line says
/// what is under way.
fn run_confirmed(app: &mut App, action: OperatorAction, fx: &mut Vec<Effect>) {
    let what = Untrusted::new(action.describe()).shown_line();
    match action.kind.domain() {
        Domain::Cluster => app.set_status(Level::Info, format!("{what}: asking the API server…")),
        Domain::Decision(_) => app.set_status(Level::Info, format!("{what}: deciding…")),
        Domain::Control(_) => {
            app.progress = Some(Progress {
                what,
                issued: None,
                report: None,
                outstanding: action.scope.session_ids().iter().cloned().collect(),
                elapsed: Duration::ZERO,
                error: None,
            });
            app.status = None;
        }
    }
    fx.push(Effect::Execute(action));
}

/// Every operation starts here, from its key or its `:` word. The one read-only check of the
/// console: an operator who may not act gets no dialog (and the feed's services refuse such an
/// operator again). `arg` is what followed the `:` word: a selector, `all`, an approval id;
/// empty from a key.
pub(super) fn act(app: &mut App, cmd: Cmd, arg: &str, fx: &mut Vec<Effect>) {
    let Some(kind) = cmd.action() else { return };
    if let Err(e) = app.operator.acting() {
        let why = match e {
            CannotAct::ReadOnly => "read-only console: actions are disabled".to_owned(),
            CannotAct::NoIdentity => format!("{kind} refused: {e}"),
        };
        app.set_status(Level::Error, why);
        return;
    }
    let target = match arg {
        _ if matches!(cmd, Cmd::ActFleet(_)) => Some(Target::All),
        "" => None,
        "--all" | "all" if !kind.is_cluster() => Some(Target::All),
        _ if kind.verdict().is_some() => None,
        text => match Selector::parse(text) {
            Ok(sel) if sel.needs_anomalies() => match anomaly_target(app, kind, &sel) {
                Ok(target) => Some(target),
                Err(why) => {
                    app.set_status(Level::Error, why);
                    return;
                }
            },
            Ok(sel) => Some(Target::Selector(sel)),
            Err(e) => {
                app.set_status(Level::Error, safe(&e.to_string()).into_owned());
                return;
            }
        },
    };
    match kind.domain() {
        Domain::Decision(verdict) => decide(app, verdict, arg, fx),
        Domain::Cluster => act_on_pods(app, kind, target, fx),
        Domain::Control(_) => match target {
            Some(target) => open_dialog(app, kind, Effect::Plan { kind, target }, fx),
            None => act_on_rows(app, kind, fx),
        },
    }
}

/// A selector naming `anomaly` (`:pause anomaly=unexpected_tool`): the services match selectors
/// on session records, which do not carry anomalies, so the live sessions it matches on the
/// fleet's last judgement are named by id, as the CLI does; the dialog shows them.
fn anomaly_target(app: &App, kind: ActionKind, sel: &Selector) -> Result<Target, String> {
    if kind.is_cluster() {
        return Err(format!("{kind} cannot select on anomaly: mark the rows (s, then space) and act on them"));
    }
    let ids = app.fleet.live_matching(sel, app.now).ok_or("anomalies are not judged yet: try again in a moment")?;
    if ids.is_empty() {
        return Err(format!("no live session matches {}", safe(&sel.to_string())));
    }
    Ok(Target::Sessions(ids))
}

fn open_dialog(app: &mut App, kind: ActionKind, effect: Effect, fx: &mut Vec<Effect>) {
    app.dialog = Some(ConfirmDialog::new(kind, app.operator.name()));
    app.status = None;
    fx.push(effect);
}

/// A pod action on `target`, else the marked rows, else the selected row; refused (with why)
/// when kube is not configured or the API server has not said the user may.
fn act_on_pods(app: &mut App, kind: ActionKind, target: Option<Target>, fx: &mut Vec<Effect>) {
    let Some(k) = app.kube.as_ref() else {
        app.set_status(Level::Error, format!("{kind}: no Kubernetes context (start quell with --context or -n)"));
        return;
    };
    if !k.allows(kind) {
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
    // Recorded as the kubeconfig user, as the CLI records pod actions.
    let operator = app.kube.as_ref().and_then(|k| k.operator.clone());
    open_dialog(app, kind, Effect::Plan { kind, target }, fx);
    if let (Some(d), Some(op)) = (app.dialog.as_mut(), operator) {
        d.operator = op;
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
    open_dialog(app, kind, Effect::Plan { kind, target: Target::Sessions(ids) }, fx);
}

/// Approve or reject approval `id`, else the selected one.
fn decide(app: &mut App, verdict: Verdict, id: &str, fx: &mut Vec<Effect>) {
    let id = Some(id.to_owned()).filter(|id| !id.is_empty());
    let Some(id) = id.or_else(|| app.approvals.selected_item().map(|a| a.id.clone())) else {
        app.set_status(Level::Error, "no pending approval selected");
        return;
    };
    let kind = ActionKind::decision(verdict);
    open_dialog(app, kind, Effect::PlanDecision { id, verdict }, fx);
}
