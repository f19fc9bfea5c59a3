use super::args::{ControlArgs, TextFormat};
use super::{exit, table, CliResult, Context, Failure};
use crate::model::action::ActionKind;
use crate::services::control;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &mut Context, kind: ActionKind, args: ControlArgs, out: &mut dyn Write) -> CliResult {
    ctx.writable(kind.verb())?;
    let reason = super::targets::reason(kind, args.reason.as_deref())?;
    if !(args.wait.is_finite() && args.wait >= 0.0 && args.wait <= 3600.0) {
        return Err(Failure::usage("--wait takes seconds from 0 to 3600"));
    }
    let target = super::targets::target(args.targets.all, args.targets.selector.as_deref(), &args.targets.sessions)?;
    let stores = ctx.stores()?;
    let action = control::plan(&stores, kind, &target, &reason, &ctx.operator)?;
    let issued = control::execute(&stores, &action)?;
    let report = control::await_ack(&stores, &issued, Duration::from_secs_f64(args.wait))?;
    let waited = args.wait > 0.0;
    match args.output {
        TextFormat::Json => {
            super::json::write_pretty(
                out,
                &serde_json::json!({
                    "action": kind.verb(),
                    "scope": action.describe(),
                    "operator": action.operator,
                    "reason": action.reason,
                    "generation": issued.generation,
                    "sessions": issued.sessions.len(),
                    "acknowledged": report.acknowledged,
                    "outstanding": report.outstanding,
                    "ended": report.ended,
                    "audit_error": issued.audit_error,
                }),
            )?;
        }
        TextFormat::Text => {
            // The reason is the operator's own text but may hold escape sequences: shown neutralised.
            writeln!(out, "{}", crate::shown!("{} (by {}: {})", action.describe(), action.operator, action.reason))?;
            writeln!(
                out,
                "{} acknowledged, {} outstanding{}",
                table::thousands(report.acknowledged.len() as u64),
                table::thousands(report.outstanding.len() as u64),
                if report.ended.is_empty() { String::new() } else { format!(", {} already ended", report.ended.len()) }
            )?;
            if waited {
                for id in report.outstanding.iter().take(50) {
                    writeln!(out, "{}", crate::shown!("not acknowledged within {}s: {id}", args.wait))?;
                }
                if report.outstanding.len() > 50 {
                    writeln!(out, "… and {} more", report.outstanding.len() - 50)?;
                }
            }
        }
    }
    let code = if waited && !report.complete() { exit::NOT_ACKNOWLEDGED } else { exit::OK };
    Ok(super::unrecorded(&action.describe(), issued.audit_error.as_deref(), code))
}
