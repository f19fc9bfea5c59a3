//! The feed threads' messages: snapshots of the fleet, the backend's and the audit log's
//! health, the cluster, and the results of effects (plans, executions, decisions, loaded data).

use super::actions::run_confirmed;
use super::navigate::request_context;
use super::{App, Effect, Level, Msg, View};
use crate::interfaces::tui::confirm::{Outcome, Plan};
use crate::interfaces::tui::fleet::scroll_into_view;
use crate::interfaces::tui::text::safe;
use crate::model::action::OperatorAction;
use crate::model::approval::{Approval, ApprovalStatus};
use crate::model::untrusted::Untrusted;
use crate::services::approvals;

/// Applies a message from the feed threads (input and time are `update`'s own).
pub(super) fn apply(app: &mut App, msg: Msg, fx: &mut Vec<Effect>) {
    match msg {
        // Handled by `update`.
        Msg::Key(_) | Msg::Resize(..) | Msg::Tick(_) => {}
        Msg::Snapshot(snapshot) => {
            app.degraded = None;
            let approvals = snapshot.approvals.clone();
            app.fleet.apply(*snapshot, app.now);
            let h = app.list_height();
            scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
            apply_approvals(app, approvals, fx);
            reload_open_views(app, fx);
            app.dirty = true;
        }
        Msg::Anomalies(found) => {
            match *found {
                Ok(found) => {
                    let now = app.now;
                    app.fleet.set_anomalies(found, now);
                    let h = app.list_height();
                    scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
                }
                // The last judgement stays; the failure is said once, not at every retry.
                Err(e) => {
                    if app.fleet.anomalies_error.as_deref() != Some(e.as_str()) {
                        app.set_status(Level::Error, format!("anomalies not judged: {}", safe(&e)));
                    }
                    app.fleet.anomalies_error = Some(e);
                    app.dirty = true;
                    return;
                }
            }
            app.fleet.anomalies_error = None;
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
        Msg::Planned(plan) => planned(app, plan, Vec::new(), fx),
        Msg::PlannedMany { plan, left_out } => planned(app, plan, left_out, fx),
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
                    let msg = format!("recorded: {}", recorded(&a));
                    match audit_error {
                        Some(e) => app.set_status(Level::Error, format!("{msg}; {}", safe(&e))),
                        None => app.set_status(Level::Ok, msg),
                    }
                    take_decided(app, vec![a]);
                }
                Err(e) => app.set_status(Level::Error, format!("not recorded: {}", safe(&e))),
            }
            request_context(app, fx);
            app.dirty = true;
        }
        Msg::DecidedMany(result) => {
            match result {
                Ok(done) => {
                    let mut decided: Vec<Approval> = Vec::new();
                    let mut refused: Vec<(String, String)> = Vec::new();
                    for (id, outcome) in done.outcomes {
                        match outcome {
                            approvals::Outcome::Recorded(a) => decided.push(a),
                            approvals::Outcome::Refused(e) => refused.push((id, e.to_string())),
                            approvals::Outcome::NotFound => refused.push((id, "no such request".into())),
                            approvals::Outcome::Failed(e) => refused.push((id, e)),
                        }
                    }
                    let mut msg = match decided.as_slice() {
                        [] => "nothing recorded".to_owned(),
                        [one] => format!("recorded: {}", recorded(one)),
                        many => {
                            let ids: Vec<String> = many.iter().map(|a| safe(&a.id).into_owned()).collect();
                            format!("recorded {} decisions: {}", many.len(), ids.join(", "))
                        }
                    };
                    for (id, why) in &refused {
                        msg.push_str(&format!(" · {} not recorded: {}", safe(id), safe(why)));
                    }
                    if let Some(e) = &done.audit_error {
                        msg.push_str(&format!("; {}", safe(e)));
                    }
                    let level = if refused.is_empty() && done.audit_error.is_none() { Level::Ok } else { Level::Error };
                    app.set_status(level, msg);
                    take_decided(app, decided);
                }
                Err(e) => app.set_status(Level::Error, format!("not recorded: {}", safe(&e))),
            }
            request_context(app, fx);
            app.dirty = true;
        }
        Msg::Timeline { id, data } => {
            let data = *data;
            let now = app.now;
            if let Some(s) = app.session.as_mut().filter(|s| s.id == id) {
                s.reread.done(now);
                s.reload(data.clone());
                app.dirty = true;
            }
            if let Some(r) = app.replay.as_mut().filter(|r| r.id == id) {
                if r.data.is_none() {
                    r.load(data);
                } else if r.reread.in_flight() {
                    r.reread.done(now);
                    r.reload(data);
                }
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
}

/// The scope of the open dialog, resolved. Requests a decision leaves out are listed in the
/// dialog, and then a held Enter does not confirm on its own: the operator sees what is left out.
fn planned(app: &mut App, plan: Result<OperatorAction, String>, left_out: Vec<String>, fx: &mut Vec<Effect>) {
    let Some(d) = app.dialog.as_mut().filter(|d| d.plan == Plan::Resolving) else { return };
    if !left_out.is_empty() {
        d.confirm_when_resolved = false;
        d.details.extend(left_out.iter().map(|l| Untrusted::new(l.as_str()).shown_line()));
    }
    // An Enter held while the scope was resolved confirms now.
    if let Outcome::Confirmed(action) = d.planned(plan) {
        app.dialog = None;
        run_confirmed(app, action, fx);
    }
    app.dirty = true;
}

fn apply_approvals(app: &mut App, items: Vec<Approval>, fx: &mut Vec<Effect>) {
    app.set_approvals(items);
    request_context(app, fx);
}

/// What a decision recorded: "approval a-1 is approved (1/1 approvers)", "approval a-1 is
/// rejected", or, when it still waits for a second approver, says so.
fn recorded(a: &Approval) -> String {
    let (id, needed) = (safe(&a.id), a.required_approvers.max(1));
    match a.status {
        ApprovalStatus::Approved => format!("approval {id} is approved ({}/{needed} approvers)", a.approvals()),
        ApprovalStatus::Pending => {
            format!("approval {id}: {}/{needed} approvers so far, waiting for another approver", a.approvals())
        }
        status => format!("approval {id} is {status}"),
    }
}

/// Decided requests leave the queue; one still waiting for a second approver stays, updated.
fn take_decided(app: &mut App, decided: Vec<Approval>) {
    let mut gone = Vec::new();
    for a in decided {
        if a.status.is_final() {
            gone.push(a.id);
        } else if let Some(x) = app.approvals.items.iter_mut().find(|x| x.id == a.id) {
            *x = a;
        }
    }
    let ids: Vec<&str> = gone.iter().map(String::as_str).collect();
    app.approvals.remove(&ids);
}

/// The open session and replay views are live: each refresh of the fleet re-reads the open
/// session's timeline (one read at a time, paced by [`Reread`]), so new entries, its state and
/// "seen" stay current.
///
/// [`Reread`]: crate::interfaces::tui::session::Reread
fn reload_open_views(app: &mut App, fx: &mut Vec<Effect>) {
    let now = app.now;
    match app.view {
        View::Session => {
            if let Some(s) = app.session.as_mut().filter(|s| s.reread.due(now) && s.data.is_some()) {
                s.reread.start(now);
                fx.push(Effect::LoadTimeline(s.id.clone()));
            }
        }
        View::Replay => {
            if let Some(r) = app.replay.as_mut().filter(|r| r.reread.due(now) && r.is_live()) {
                r.reread.start(now);
                fx.push(Effect::LoadTimeline(r.id.clone()));
            }
        }
        _ => {}
    }
}
