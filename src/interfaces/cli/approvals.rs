use super::args::{DecideArgs, ListFormat, TextFormat};
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::table;
use crate::model::action::ActionKind;
use crate::model::approval::{Approval, ApprovalStatus, DecideError, Verdict};
use crate::model::approval_selector::{ApprovalSelector, Unheld};
use crate::model::time;
use crate::model::unreadable::reason;
use crate::model::untrusted::Shown;
use crate::ports::StoreError;
use crate::services::approvals::{self, Choice};
use std::io::Write;

pub fn list(
    ctx: &mut Context,
    all: bool,
    selector: Option<&str>,
    format: ListFormat,
    out: &mut dyn Write,
) -> CliResult {
    let selector = selector.map(parse_selector).transpose()?;
    let stores = ctx.stores()?;
    let now = time::now();
    let items: Vec<Approval> = match &selector {
        // Exactly what `approve`/`reject --where` would decide (with --all, decided ones too).
        Some(sel) => {
            let selected = approvals::select(&stores, sel, !all)?;
            not_considered(selected.unreadable, &selected.unheld);
            selected.approvals
        }
        None => {
            let mut items = stores.approvals.approvals(!all, now)?;
            approvals::sort_by_expiry(&mut items);
            items
        }
    };
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
                    vec![
                        Shown::line(&a.id),
                        Shown::line(&a.session_id),
                        table::cell(&Shown::from(&a.tool), 20),
                        Shown::from(a.risk.as_str()),
                        Shown::from(a.status_at(now).as_str()),
                        Shown::from(time::age(&a.requested_at, &now)),
                        expires_in(a, now),
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
            writeln!(out, "{}", count_line(&items, now))?;
        }
    }
    Ok(exit::OK)
}

/// "2 pending, 1 expired, 3 rejected": a request past its expiry counts as expired, never as
/// pending; an unreadable one is counted apart.
fn count_line(items: &[Approval], now: time::Timestamp) -> String {
    let mut counts: Vec<(&str, usize)> = vec![("pending", 0)];
    for a in items {
        let word = if a.unreadable.is_some() { "unreadable" } else { a.status_at(now).as_str() };
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    counts.iter().map(|(w, n)| format!("{n} {w}")).collect::<Vec<_>>().join(", ")
}

/// Seconds until a request expires, or `-` once it has.
fn expires_in(a: &Approval, now: time::Timestamp) -> Shown {
    let left = (a.expires_at - now).num_seconds();
    if left > 0 {
        crate::shown!("{left}s")
    } else {
        Shown::from("-")
    }
}

/// Says on stderr what a selector could not consider (records that cannot be read) and the
/// values it names that no request holds (a likely typo).
fn not_considered(unreadable: usize, unheld: &[Unheld]) {
    for u in unheld {
        super::outcome::notice(&format!("{u}: that part of the selector matches nothing"));
    }
    if unreadable > 0 {
        super::outcome::notice(&format!(
            "{unreadable} approval record{} cannot be read, so no selector matches {}; `quell approvals` lists {}",
            if unreadable == 1 { "" } else { "s" },
            if unreadable == 1 { "it" } else { "them" },
            if unreadable == 1 { "it" } else { "them" },
        ));
    }
}

fn parse_selector(text: &str) -> Result<ApprovalSelector, Failure> {
    ApprovalSelector::parse(text).map_err(|e| Failure::usage(e.to_string()))
}

pub fn decide(ctx: &mut Context, verdict: Verdict, args: DecideArgs, out: &mut dyn Write) -> CliResult {
    let kind = ActionKind::decision(verdict);
    let acting = ctx.acting(kind)?;
    let reason = super::targets::reason(kind, args.reason.as_deref())?;
    let choice = match (&args.targets.selector, args.targets.ids.as_slice()) {
        (Some(sel), _) => Choice::Selector(parse_selector(sel)?),
        (None, [id]) => return decide_one(ctx, &acting, verdict, id, &reason, args.output, out),
        (None, ids) => Choice::Ids(ids.to_vec()),
    };
    let stores = ctx.stores()?;
    let plan = approvals::plan_many(&stores, &choice, verdict, &reason, acting.name())?;
    not_considered(plan.unreadable, &plan.unheld);
    let decided = match &plan.action {
        Some(action) => Some(approvals::decide_many(&stores, &acting, action)?),
        None => None,
    };
    let rows = bulk_rows(&choice, &plan, decided.as_ref());
    let audit_error = decided.as_ref().and_then(|d| d.audit_error.clone());
    let summary = approvals::summarize(&rows.iter().map(|(id, _, o)| (id.clone(), o.clone())).collect::<Vec<_>>());
    match args.output {
        TextFormat::Json => {
            let results: Vec<serde_json::Value> =
                rows.iter().map(|(id, a, o)| result_json(id, a.as_ref(), o)).collect();
            super::json::write_pretty(
                out,
                &serde_json::json!({
                    "action": kind.verb(),
                    "scope": plan.action.as_ref().map(|a| a.describe().as_str().to_owned()),
                    "selector": match &choice { Choice::Selector(s) => Some(s.to_string()), Choice::Ids(_) => None },
                    "operator": acting.name(),
                    "reason": reason,
                    "recorded": decided.as_ref().map(|d| d.recorded()).unwrap_or(0),
                    "summary": summary,
                    "results": results,
                    "audit_error": audit_error,
                }),
            )?;
        }
        TextFormat::Text => {
            let scope = match &plan.action {
                Some(action) => crate::shown!("{} (by {}: {})", action.describe(), action.operator, action.reason),
                None => crate::shown!("{kind}: none of the requests named can be decided"),
            };
            writeln!(out, "{scope}")?;
            print_rows(out, &rows, acting.name())?;
            let how = if matches!(choice, Choice::Selector(_)) { "matched" } else { "named" };
            writeln!(out, "{}", crate::shown!("{} {how}: {summary}", rows.len()))?;
        }
    }
    let failed = |f: fn(&approvals::Outcome) -> bool| rows.iter().any(|(_, _, o)| f(o));
    let code = if failed(|o| matches!(o, approvals::Outcome::Failed(_))) {
        exit::UNAVAILABLE
    } else if failed(|o| matches!(o, approvals::Outcome::NotFound)) {
        exit::NOT_FOUND
    } else if failed(|o| matches!(o, approvals::Outcome::Refused(_))) {
        exit::CONFLICT
    } else {
        exit::OK
    };
    let what = plan.action.as_ref().map(|a| a.describe()).unwrap_or_else(|| Shown::from("the decisions"));
    Ok(super::outcome::unrecorded(&what, audit_error.as_deref(), code))
}

/// One row per request: id, session, tool, risk, expiry and what became of it.
fn print_rows(out: &mut dyn Write, rows: &[Row], operator: &str) -> std::io::Result<()> {
    let now = time::now();
    let cells: Vec<Vec<Shown>> = rows
        .iter()
        .map(|(id, a, o)| match a.as_ref().filter(|a| a.unreadable.is_none()) {
            Some(a) => vec![
                Shown::line(id),
                Shown::line(&a.session_id),
                table::cell(&Shown::from(&a.tool), 20),
                Shown::from(a.risk.as_str()),
                expires_in(a, now),
                outcome_text(o, operator),
            ],
            None => {
                let mut row = vec![Shown::line(id)];
                row.resize_with(5, || Shown::from("?"));
                row.push(outcome_text(o, operator));
                row
            }
        })
        .collect();
    table::print(out, &["ID", "SESSION", "TOOL", "RISK", "EXPIRES", "OUTCOME"], &cells)
}

/// A request named, the request when it is known, and what became of it.
type Row = (String, Option<Approval>, approvals::Outcome);

/// Every request named, with the request when known and what became of it: for ids in the order
/// typed, for a selector soonest expiry first.
fn bulk_rows(choice: &Choice, plan: &approvals::BulkPlan, decided: Option<&approvals::BulkDecided>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    if let Some(d) = decided {
        for (id, o) in &d.outcomes {
            let a = match o {
                approvals::Outcome::Recorded(a) => Some(a.clone()),
                _ => plan.chosen.iter().find(|a| &a.id == id).cloned(),
            };
            rows.push((id.clone(), a, o.clone()));
        }
    }
    rows.extend(plan.left_out.iter().map(|l| (l.id.clone(), l.approval.clone(), l.outcome.clone())));
    match choice {
        Choice::Ids(ids) => rows.sort_by_key(|(id, _, _)| ids.iter().position(|x| x == id)),
        Choice::Selector(_) => rows.sort_by(|(ia, a, _), (ib, b, _)| {
            let at = |x: &Option<Approval>| x.as_ref().map(|a| a.expires_at);
            at(a).cmp(&at(b)).then_with(|| ia.cmp(ib))
        }),
    }
    rows
}

/// What became of one request, in words (neutralised: names come from the store).
fn outcome_text(o: &approvals::Outcome, operator: &str) -> Shown {
    match o {
        approvals::Outcome::Recorded(a) if a.status == ApprovalStatus::Pending => crate::shown!(
            "recorded {operator}'s approval ({} of {}); another, different approver is needed",
            a.approvals(),
            a.required_approvers
        ),
        approvals::Outcome::Recorded(a) => crate::shown!("{}", a.status),
        approvals::Outcome::Refused(DecideError::AlreadyDecided { verdict, by, at, .. }) => {
            crate::shown!("not recorded: already {verdict} by {by} at {at}")
        }
        approvals::Outcome::Refused(DecideError::Expired { at, .. }) => {
            crate::shown!("not recorded: expired at {at} (counts as rejected)")
        }
        approvals::Outcome::Refused(DecideError::SameApprover { approver, .. }) => {
            crate::shown!("not recorded: {approver} already approved it; a second, different approver is needed")
        }
        approvals::Outcome::Refused(DecideError::Unreadable { reason: why, .. }) => {
            crate::shown!("not recorded: its stored record is unreadable ({})", reason(why))
        }
        approvals::Outcome::NotFound => Shown::from("not found: no approval has this id"),
        approvals::Outcome::Failed(e) => crate::shown!("not decided: {e}"),
    }
}

fn result_json(id: &str, a: Option<&Approval>, o: &approvals::Outcome) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": id,
        "session_id": a.map(|a| a.session_id.clone()),
        "tool": a.filter(|a| a.unreadable.is_none()).map(|a| a.tool.raw().to_owned()),
        "risk": a.filter(|a| a.unreadable.is_none()).map(|a| a.risk.as_str()),
        "expires_at": a.filter(|a| a.unreadable.is_none()).map(|a| time::format(&a.expires_at)),
        "outcome": approvals::outcome_word(o),
        "recorded": matches!(o, approvals::Outcome::Recorded(_)),
    });
    let extra = match o {
        approvals::Outcome::Recorded(a) => serde_json::json!({
            "status": a.status.as_str(),
            "approvals": a.approvals(),
            "required_approvers": a.required_approvers,
        }),
        approvals::Outcome::Refused(e) => conflict_json(e),
        approvals::Outcome::NotFound => serde_json::json!({ "message": format!("no approval with id {id}") }),
        approvals::Outcome::Failed(e) => serde_json::json!({ "message": e }),
    };
    extend(&mut v, extra);
    v
}

/// One request by id: the decided request (or why nothing was recorded) as before.
fn decide_one(
    ctx: &mut Context,
    acting: &crate::model::operator::Acting,
    verdict: Verdict,
    id: &str,
    reason: &str,
    output: TextFormat,
    out: &mut dyn Write,
) -> CliResult {
    let kind = ActionKind::decision(verdict);
    let stores = ctx.stores()?;
    let action = approvals::plan(&stores, id, verdict, reason, acting.name())?;
    let approvals::Decided { approval: decided, audit_error } = match approvals::decide(&stores, acting, &action) {
        Ok(d) => d,
        Err(StoreError::Decide(e)) if output == TextFormat::Json => {
            // A script asked for JSON: it gets an object saying why nothing was recorded (who
            // decided first, or that it expired), and the exit code and stderr line as in text.
            let v = refused_json(id, kind, acting.name(), &e);
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
    match output {
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
    });
    extend(&mut v, conflict_json(e));
    v
}

/// Why a decision was refused, as JSON fields: the conflict, the request's status, who decided.
fn conflict_json(e: &DecideError) -> serde_json::Value {
    let mut v = match e {
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
    extend(&mut v, serde_json::json!({ "message": e.to_string() }));
    v
}

fn extend(v: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(o), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
        o.extend(extra);
    }
}
