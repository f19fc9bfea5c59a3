use super::args::{DecideArgs, ListFormat, TextFormat};
use super::context::Context;
use super::outcome::{exit, CliResult};
use super::table;
use crate::model::action::ActionKind;
use crate::model::approval::{Approval, ApprovalStatus, DecideError, Verdict};
use crate::model::time;
use crate::model::unreadable::reason;
use crate::model::untrusted::Shown;
use crate::ports::StoreError;
use crate::services::approvals;
use std::io::Write;

pub fn list(ctx: &mut Context, all: bool, format: ListFormat, out: &mut dyn Write) -> CliResult {
    let stores = ctx.stores()?;
    let now = time::now();
    let items: Vec<Approval> = stores.approvals.approvals(!all, now)?;
    match format {
        ListFormat::Json => {
            let docs: Vec<serde_json::Value> = items
                .iter()
                .map(|a| {
                    let mut v = serde_json::to_value(a).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("status".into(), a.status_at(now).as_str().into());
                        o.insert("unreadable".into(), a.unreadable.clone().into());
                        if a.unreadable.is_some() {
                            // Nothing but the id (and the session, when the store knows it) was read.
                            for (key, value) in o.iter_mut() {
                                if !matches!(key.as_str(), "id" | "session_id" | "unreadable") {
                                    *value = serde_json::Value::Null;
                                }
                            }
                            if a.session_id == "?" {
                                o.insert("session_id".into(), serde_json::Value::Null);
                            }
                        }
                    }
                    v
                })
                .collect();
            super::json::write_pretty(out, &docs)?;
        }
        ListFormat::Table => {
            let rows: Vec<Vec<Shown>> = items
                .iter()
                .map(|a| {
                    if a.unreadable.is_some() {
                        let unknown = || Shown::from("?");
                        let mut row = vec![
                            Shown::line(&a.id),
                            Shown::line(&a.session_id),
                            unknown(),
                            unknown(),
                            Shown::from("unreadable"),
                        ];
                        row.resize_with(9, unknown);
                        return row;
                    }
                    let left = (a.expires_at - now).num_seconds();
                    vec![
                        Shown::line(&a.id),
                        Shown::line(&a.session_id),
                        table::cell(&Shown::from(&a.tool), 20),
                        Shown::from(a.risk.as_str()),
                        Shown::from(a.status_at(now).as_str()),
                        Shown::from(time::age(&a.requested_at, &now)),
                        if left > 0 { crate::shown!("{left}s") } else { Shown::from("-") },
                        crate::shown!("{}/{}", a.approvals(), a.required_approvers),
                        table::cell(&Shown::line(&a.arguments.shown_line()), 60),
                    ]
                })
                .collect();
            table::print(
                out,
                &["ID", "SESSION", "TOOL", "RISK", "STATUS", "AGE", "EXPIRES", "APPROVED", "ARGUMENTS"],
                &rows,
            )?;
            for a in items.iter().filter(|a| a.unreadable.is_some()) {
                writeln!(
                    out,
                    "{}",
                    crate::shown!("{}: {}", a.id, reason(a.unreadable.as_deref().unwrap_or_default()))
                )?;
            }
        }
    }
    Ok(exit::OK)
}

pub fn decide(ctx: &mut Context, verdict: Verdict, args: DecideArgs, out: &mut dyn Write) -> CliResult {
    let kind = ActionKind::decision(verdict);
    let acting = ctx.acting(kind)?;
    let reason = super::targets::reason(kind, args.reason.as_deref())?;
    let stores = ctx.stores()?;
    let action = approvals::plan(&stores, &args.id, verdict, &reason, acting.name())?;
    let approvals::Decided { approval: decided, audit_error } = match approvals::decide(&stores, &acting, &action) {
        Ok(d) => d,
        Err(StoreError::Decide(e)) if args.output == TextFormat::Json => {
            // A script asked for JSON: it gets an object saying why nothing was recorded (who
            // decided first, or that it expired), and the exit code and stderr line as in text.
            let v = refused_json(&args.id, kind, acting.name(), &e);
            super::json::write_pretty(out, &v)?;
            return Err(StoreError::Decide(e).into());
        }
        Err(e) => return Err(e.into()),
    };
    let message = match decided.status {
        ApprovalStatus::Pending => crate::shown!(
            "recorded {}'s approval of {} ({} of {} approvers); another, different approver is needed",
            acting.name(),
            decided.id,
            decided.approvals(),
            decided.required_approvers
        ),
        status => crate::shown!("{} {status} by {} (session {})", decided.id, acting.name(), decided.session_id),
    };
    match args.output {
        TextFormat::Json => {
            let mut v = serde_json::to_value(&decided).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("message".into(), message.as_str().into());
                o.insert("audit_error".into(), audit_error.clone().into());
            }
            super::json::write_pretty(out, &v)?;
        }
        TextFormat::Text => writeln!(out, "{message}")?,
    }
    Ok(super::outcome::unrecorded(&crate::shown!("the decision on {}", decided.id), audit_error.as_deref(), exit::OK))
}

/// `approve`/`reject -o json` when the decision was refused: nothing was recorded.
fn refused_json(id: &str, kind: ActionKind, operator: &str, e: &DecideError) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": id,
        "action": kind.verb(),
        "operator": operator,
        "recorded": false,
        "message": e.to_string(),
    });
    let extra = match e {
        DecideError::AlreadyDecided { verdict, by, at, .. } => serde_json::json!({
            "conflict": "already_decided",
            "status": if *verdict == Verdict::Approve { "approved" } else { "rejected" },
            "decided_by": by,
            "decided_at": at,
        }),
        DecideError::Expired { at, .. } => {
            serde_json::json!({ "conflict": "expired", "status": "expired", "expired_at": at })
        }
        DecideError::SameApprover { approver, .. } => {
            serde_json::json!({ "conflict": "same_approver", "status": "pending", "decided_by": approver })
        }
        DecideError::Unreadable { reason, .. } => {
            serde_json::json!({ "conflict": "unreadable", "status": "unreadable", "unreadable": reason })
        }
    };
    if let (Some(o), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
        o.extend(extra);
    }
    v
}
