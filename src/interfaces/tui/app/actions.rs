//! Opening and confirming actions: every operation ([`ActionKind`]) starts in [`act`], which
//! holds the console's one read-only check, and opens the confirm dialog with an effect that
//! plans it; what the operator confirms is executed.

use super::{App, Effect, Level, Progress, View};
use crate::interfaces::tui::confirm::{ConfirmDialog, Outcome};
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::text::safe;
use crate::model::action::{ActionKind, Domain, OperatorAction};
use crate::model::approval::Verdict;
use crate::model::operator::CannotAct;
use crate::model::selector::Selector;
use crate::model::session::SessionState;
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
pub(super) fn run_confirmed(app: &mut App, action: OperatorAction, fx: &mut Vec<Effect>) {
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
            Some(target) => {
                let by_selector = matches!(target, Target::Selector(_));
                open_dialog(app, kind, Effect::Plan { kind, target }, fx);
                if let Some(d) = app.dialog.as_mut() {
                    d.confirm_when_resolved = !by_selector;
                }
            }
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
    let by_selector = matches!(target, Target::Selector(_));
    open_dialog(app, kind, Effect::Plan { kind, target }, fx);
    if let Some(d) = app.dialog.as_mut() {
        d.confirm_when_resolved = !by_selector;
        if let Some(op) = operator {
            d.operator = op;
        }
    }
}

/// The sessions an operation on "this" means where the operator looks: the open session in the
/// session view; the sessions of the marked requests, else of the selected one, in the
/// approvals view; the marked rows, else the selected row, in the fleet.
fn chosen_rows(app: &App) -> Vec<String> {
    match app.view {
        View::Session => app.session.iter().map(|s| s.id.clone()).collect(),
        View::Approvals => {
            let q = &app.approvals;
            let mut ids: Vec<String> = if q.marked.is_empty() {
                q.selected_item().filter(|a| a.unreadable.is_none()).map(|a| a.session_id.clone()).into_iter().collect()
            } else {
                q.items.iter().filter(|a| q.marked.contains(&a.id)).map(|a| a.session_id.clone()).collect()
            };
            ids.sort();
            ids.dedup();
            ids
        }
        _ if app.fleet.marked.is_empty() => app.fleet.selected_id().into_iter().collect(),
        _ => app.fleet.marked.iter().cloned().collect(),
    }
}

/// Why a control operation on one session would change nothing, from what the console last
/// read: "session s1 is already paused". The operator hears it instead of an empty success.
/// A session paused only by the fleet hold may still be paused on its own (it then stays paused
/// when the fleet resumes), and a running session may have a pause outstanding, so those go on
/// to the dialog.
fn already(app: &App, kind: ActionKind, ids: &[String]) -> Option<String> {
    let [id] = ids else { return None };
    let session = app.fleet.rows.iter().map(|r| &r.session).find(|s| s.id == *id).or_else(|| {
        app.session.as_ref().filter(|v| v.id == *id).and_then(|v| v.data.as_ref()?.as_ref().ok()?.session.as_ref())
    })?;
    let state = session.effective_state(app.now);
    let fleet_held = app.banner().is_some();
    let id = safe(id);
    match (kind, state) {
        (ActionKind::Kill, SessionState::Killed) => Some(format!("session {id} is already killed: nothing to kill")),
        (_, s) if s.is_terminal() => Some(format!("session {id} already ended ({s}): nothing to {kind}")),
        (ActionKind::Pause, SessionState::Paused) if !fleet_held => {
            Some(format!("session {id} is already paused: nothing to pause"))
        }
        _ => None,
    }
}

/// Pause/resume/kill on the sessions where the operator looks ([`chosen_rows`]).
fn act_on_rows(app: &mut App, kind: ActionKind, fx: &mut Vec<Effect>) {
    let ids = chosen_rows(app);
    if ids.is_empty() {
        app.set_status(Level::Error, format!("no session selected to {kind}"));
        return;
    }
    if let Some(why) = already(app, kind, &ids) {
        app.set_status(Level::Info, why);
        return;
    }
    open_dialog(app, kind, Effect::Plan { kind, target: Target::Sessions(ids) }, fx);
}

/// Approve or reject approval `id`, else the marked requests (one dialog, one reason), else the
/// selected one. The dialog shows each request's tool and arguments, neutralised.
fn decide(app: &mut App, verdict: Verdict, id: &str, fx: &mut Vec<Effect>) {
    let kind = ActionKind::decision(verdict);
    let ids: Vec<String> = if !id.is_empty() {
        vec![id.to_owned()]
    } else if !app.approvals.marked.is_empty() {
        app.approvals.marked.iter().cloned().collect()
    } else {
        app.approvals.selected_item().map(|a| a.id.clone()).into_iter().collect()
    };
    let effect = match ids.as_slice() {
        [] => {
            app.set_status(Level::Error, "no pending approval selected");
            return;
        }
        [one] => Effect::PlanDecision { id: one.clone(), verdict },
        _ => Effect::PlanDecisions { ids: ids.clone(), verdict },
    };
    open_dialog(app, kind, effect, fx);
    let details = request_lines(app, &ids);
    if let Some(d) = app.dialog.as_mut() {
        d.details = details;
    }
}

/// The requests a decision takes, as the dialog lists them: tool, risk, session, expiry and
/// the arguments, every part neutralised (agents wrote them).
fn request_lines(app: &App, ids: &[String]) -> Vec<String> {
    const SHOWN: usize = 4;
    let mut lines = Vec::new();
    for id in ids.iter().take(SHOWN) {
        let Some(a) = app.approvals.items.iter().find(|a| a.id == *id) else {
            lines.push(format!("{}: not in the queue any more", safe(id)));
            continue;
        };
        lines.push(format!(
            "{} · {} · {} risk · session {} · {}",
            safe(&a.id),
            a.tool.shown_line(),
            a.risk,
            safe(&a.session_id),
            crate::interfaces::tui::views::approvals::expiry(&a.expires_at, &app.now)
        ));
        lines.push(format!("  arguments: {}", a.arguments.shown_line()));
    }
    if ids.len() > SHOWN {
        lines.push(format!("… and {} more requests", ids.len() - SHOWN));
    }
    lines
}
