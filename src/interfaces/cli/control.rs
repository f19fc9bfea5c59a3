use super::args::{ControlArgs, TextFormat};
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::table;
use crate::model::action::{ActionKind, Scope};
use crate::services::control;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &mut Context, kind: ActionKind, args: ControlArgs, out: &mut dyn Write) -> CliResult {
    let acting = ctx.acting(kind)?;
    let reason = super::targets::reason(kind, args.reason.as_deref())?;
    if !(args.wait.is_finite() && args.wait >= 0.0 && args.wait <= 3600.0) {
        return Err(Failure::usage("--wait takes seconds from 0 to 3600"));
    }
    let target = super::targets::target(args.targets.all, args.targets.selector.as_deref(), &args.targets.sessions)?;
    let target = super::targets::resolve_anomalies(ctx, target)?;
    let stores = ctx.stores()?;
    let action = control::plan(&stores, kind, &target, &reason, acting.name())?;
    let issued = control::execute(&stores, &acting, &action)?;
    // From here on the change is issued: a failure to read acknowledgements is reported with
    // what was issued, never instead of it.
    let (report, ack_error) = match control::await_ack(&stores, &issued, Duration::from_secs_f64(args.wait)) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let waited = args.wait > 0.0;
    let held: &[String] = match &action.scope {
        Scope::Fleet { held, .. } => held,
        _ => &[],
    };
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
                    "acknowledged": report.as_ref().map(|r| &r.acknowledged),
                    "outstanding": report.as_ref().map(|r| &r.outstanding),
                    "ended": report.as_ref().map(|r| &r.ended),
                    "ack_error": ack_error,
                    "held": held,
                    "fleet_hold": issued.fleet_hold,
                    "audit_error": issued.audit_error,
                }),
            )?;
        }
        TextFormat::Text => {
            // The reason is the operator's own text but may hold escape sequences: shown neutralised.
            writeln!(out, "{}", crate::shown!("{} (by {}: {})", action.describe(), action.operator, action.reason))?;
            match &report {
                Some(report) => writeln!(
                    out,
                    "{} acknowledged, {} outstanding{}",
                    table::thousands(report.acknowledged.len() as u64),
                    table::thousands(report.outstanding.len() as u64),
                    if report.ended.is_empty() {
                        String::new()
                    } else {
                        format!(", {} already ended", report.ended.len())
                    }
                )?,
                None => writeln!(out, "issued at control generation {}; acknowledgements unknown", issued.generation)?,
            }
            if waited {
                let outstanding = report.as_ref().map(|r| r.outstanding.as_slice()).unwrap_or_default();
                for id in outstanding.iter().take(50) {
                    writeln!(out, "{}", crate::shown!("not acknowledged within {}s: {id}", args.wait))?;
                }
                if outstanding.len() > 50 {
                    writeln!(out, "… and {} more", outstanding.len() - 50)?;
                }
            }
            for id in held.iter().take(50) {
                writeln!(
                    out,
                    "{}",
                    crate::shown!("stays paused (paused on its own; `quell resume {id}` releases it): {id}")
                )?;
            }
            if held.len() > 50 {
                writeln!(out, "… and {} more paused on their own", held.len() - 50)?;
            }
        }
    }
    let mut code =
        if waited && !report.as_ref().is_some_and(|r| r.complete()) { exit::NOT_ACKNOWLEDGED } else { exit::OK };
    if let Some(rec) = &issued.fleet_hold {
        super::outcome::notice(&format!(
            "the fleet hold still applies ({} by {} at {}: {}): these sessions stay paused until `quell resume --all`",
            rec.desired,
            rec.operator,
            crate::model::time::format(&rec.at),
            rec.reason
        ));
        code = exit::CONFLICT;
    }
    if let Some(e) = &ack_error {
        super::outcome::notice(&format!(
            "{} was issued at control generation {}, but whether sessions acknowledged it is unknown: {e}",
            action.describe(),
            issued.generation
        ));
        code = exit::UNAVAILABLE;
    }
    Ok(super::outcome::unrecorded(&action.describe(), issued.audit_error.as_deref(), code))
}
