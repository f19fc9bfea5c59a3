//! The cluster in the CLI: the pod actions (`hard-stop`, `kill-pod`, `quarantine`, `release`)
//! and the pod columns of `quell sessions`. The Kubernetes settings and the connection are the
//! [`Context`]'s.

use super::args::{HardStopArgs, KillPodArgs, PodActionArgs, TextFormat};
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::output::PodColumns;
use super::table;
use crate::model::action::ActionKind;
use crate::model::session::Session;
use crate::model::untrusted::Shown;
use crate::ports::cluster::{Cluster, ClusterError};
use crate::services::cluster as service;
use crate::services::control::Target;
use std::io::Write;

pub fn hard_stop(ctx: &mut Context, args: HardStopArgs, out: &mut dyn Write) -> CliResult {
    let kind = if args.resume { ActionKind::Restore } else { ActionKind::HardStop };
    act(ctx, kind, args.common, out)
}

pub fn kill_pod(ctx: &mut Context, args: KillPodArgs, out: &mut dyn Write) -> CliResult {
    let grace = if args.now { Some(0) } else { args.grace_period };
    act(ctx, ActionKind::KillPod { grace }, args.common, out)
}

pub fn quarantine(ctx: &mut Context, args: PodActionArgs, out: &mut dyn Write) -> CliResult {
    act(ctx, ActionKind::Quarantine, args, out)
}

pub fn release(ctx: &mut Context, args: PodActionArgs, out: &mut dyn Write) -> CliResult {
    act(ctx, ActionKind::Release, args, out)
}

/// One pod action, through the same path as pause and kill and as the console's: a reason, the
/// exact scope, the re-plan on exactly that scope, the permission check, the audit record.
pub fn act(ctx: &mut Context, kind: ActionKind, args: PodActionArgs, out: &mut dyn Write) -> CliResult {
    let acting = ctx.acting(kind)?;
    let reason = super::targets::reason(kind, args.reason.as_deref())?;
    let target = super::targets::target(false, args.targets.selector.as_deref(), &args.targets.sessions)?;
    if matches!(&target, Target::Selector(sel) if sel.needs_anomalies()) {
        return Err(Failure::usage(format!(
            "{kind} --where cannot select on anomaly; list them with `quell sessions --where anomaly…` and name their ids"
        )));
    }
    let stores = ctx.stores()?;
    let kube = ctx.cluster()?;
    let who = ctx.cluster_operator(&kube);
    let planned = service::plan(&stores, kube.as_ref(), kind, &target, &reason, &who).map_err(Failure::from)?;
    let plan = service::confirm(&stores, kube.as_ref(), &planned.action).map_err(Failure::from)?;
    let report = service::execute(&stores, kube.as_ref(), &acting, &plan).map_err(|e| match e {
        service::Error::Cluster(ClusterError::Forbidden(m)) => {
            Failure { code: exit::FORBIDDEN, message: format!("{kind} refused for {who} (nothing changed): {m}") }
        }
        other => other.into(),
    })?;
    match args.output {
        TextFormat::Json => {
            let failed: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
            // Target by target, what took effect and what did not (a partly done action).
            let reached: Vec<String> = report.reached.iter().map(ToString::to_string).collect();
            let missed: Vec<serde_json::Value> = report
                .missed
                .iter()
                .map(|(target, e)| serde_json::json!({"target": target.to_string(), "error": e.to_string()}))
                .collect();
            super::json::write_pretty(
                out,
                &serde_json::json!({
                    "action": kind.verb(),
                    "scope": plan.action.describe(),
                    "operator": plan.action.operator,
                    "reason": plan.action.reason,
                    "context": kube.context,
                    "sessions": plan.pods.len(),
                    "statefulsets": plan.statefulsets,
                    "skipped": planned.skipped,
                    "done": report.done,
                    "failed": failed,
                    "reached": reached,
                    "missed": missed,
                    "audit_seq": report.audit_seq,
                    "audit_error": report.audit_error,
                }),
            )?;
        }
        TextFormat::Text => {
            writeln!(
                out,
                "{}",
                crate::shown!("{} (by {}: {})", plan.action.describe(), plan.action.operator, plan.action.reason)
            )?;
            for line in &report.done {
                writeln!(out, "{}", Shown::line(line))?;
            }
            for e in &report.failed {
                writeln!(out, "{}", crate::shown!("failed: {e}"))?;
            }
            if !planned.skipped.is_empty() {
                writeln!(out, "skipped {} session(s) that report no pod", planned.skipped.len())?;
            }
            writeln!(out, "{} done, {} failed", table::thousands(report.done.len() as u64), report.failed.len())?;
        }
    }
    let code = match report.failed.first() {
        Some(e) => Failure::from(e.clone()).code,
        None => exit::OK,
    };
    Ok(super::outcome::unrecorded(&plan.action.describe(), report.audit_error.as_deref(), code))
}

fn warn(m: &str) {
    let line = crate::model::untrusted::neutralize(m, crate::model::untrusted::Lines::Escape);
    let _ = writeln!(std::io::stderr(), "quell: warning: {line}");
}

/// `-n NS` (or `QUELL_NAMESPACE`, or the config's `[kube] namespace`) keeps the sessions in that
/// namespace, with or without a cluster, as kubectl's `-n` does. A session that reports no
/// namespace is in the kube context's namespace when a kubeconfig can be read, else in none.
pub fn narrow_to_namespace(ctx: &mut Context, sessions: &mut Vec<Session>) {
    let Some(ns) = ctx.kube.options.namespace.clone() else { return };
    let default = match ctx.kube.configured {
        // Reading the kubeconfig makes no request to the cluster.
        true => ctx.cluster().ok().map(|k| k.namespace_or_default(None)),
        false => None,
    };
    sessions.retain(|s| match s.namespace.as_ref().map(|n| n.raw()).filter(|n| !n.is_empty()) {
        Some(n) => n == ns,
        None => default.as_deref() == Some(ns.as_str()),
    });
}

/// When Kubernetes is configured: joins `sessions` with their pods. A cluster that cannot be
/// reached or listed is a warning on stderr, never a failure of the listing.
pub fn pod_columns(ctx: &mut Context, sessions: &[Session]) -> Result<Option<PodColumns>, Failure> {
    if !ctx.kube.configured {
        return Ok(None);
    }
    let kube = match ctx.cluster() {
        Ok(k) => k,
        Err(f) => {
            warn(&format!("no pod columns: {}", f.message));
            return Ok(None);
        }
    };
    match service::join(kube.as_ref(), sessions, ctx.kube.selector.as_deref()) {
        Ok(j) => {
            for w in &j.warnings {
                warn(w);
            }
            Ok(Some(PodColumns::new(j.pods, j.unclaimed)))
        }
        Err(e) => {
            warn(&format!("no pod columns: {e}"));
            Ok(Some(PodColumns::new(Vec::new(), Vec::new())))
        }
    }
}
