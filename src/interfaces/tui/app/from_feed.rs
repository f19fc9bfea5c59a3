//! The feed threads' messages: snapshots of the fleet, the backend's and the audit log's
//! health, the cluster, and the results of effects (plans, executions, decisions, loaded data).

use super::navigate::request_context;
use super::{App, Effect, Level, Msg};
use crate::interfaces::tui::confirm::Plan;
use crate::interfaces::tui::fleet::scroll_into_view;
use crate::interfaces::tui::text::safe;
use crate::model::approval::Approval;
use crate::model::untrusted::Untrusted;

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
