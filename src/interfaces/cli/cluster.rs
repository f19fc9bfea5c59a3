//! The cluster in the CLI: the Kubernetes settings resolved from the kubectl flags and the
//! `[kube]` config table, the connection, the pod actions (`hard-stop`, `kill-pod`,
//! `quarantine`, `release`) and the pod columns of `quell sessions`.

use super::args::{HardStopArgs, KillPodArgs, KubeFlags, PodActionArgs, TextFormat};
use super::config::FileKube;
use super::output::PodColumns;
use super::{exit, table, CliResult, Context, Failure};
use crate::adapters::kubernetes::{Kube, KubeOptions};
use crate::model::action::ActionKind;
use crate::model::session::Session;
use crate::model::untrusted::Shown;
use crate::ports::cluster::{Cluster, ClusterError};
use crate::services::cluster as service;
use std::io::Write;
use std::sync::Arc;

/// Resolved Kubernetes settings (flag > env > config file), connected on first use.
#[derive(Debug, Default)]
pub struct KubeSettings {
    pub options: KubeOptions,
    /// Pod label selector for discovery.
    pub selector: Option<String>,
    /// A context, namespace or kubeconfig was given (or quell runs as `kubectl quell`): show
    /// pod columns in `quell sessions`.
    pub configured: bool,
    /// No `--as`/`QUELL_AS`/config `as`: the operator is the kubeconfig user.
    pub operator_from_kubeconfig: bool,
    client: Option<Arc<Kube>>,
}

impl KubeSettings {
    pub fn resolve(flags: &KubeFlags, file: Option<&FileKube>, operator_explicit: bool) -> Self {
        let file = file.cloned().unwrap_or_default();
        let options = KubeOptions {
            kubeconfig: flags.kubeconfig.clone().or(file.kubeconfig),
            context: flags.context.clone().or(file.context),
            namespace: flags.namespace.clone().or(file.namespace),
            impersonate: None,
        };
        let configured = flags.plugin
            || file.enabled.unwrap_or(false)
            || options.kubeconfig.is_some()
            || options.context.is_some()
            || options.namespace.is_some();
        KubeSettings {
            options,
            selector: file.selector,
            configured,
            operator_from_kubeconfig: !operator_explicit,
            client: None,
        }
    }
}

fn kube_failure(e: ClusterError) -> Failure {
    let code = match &e {
        ClusterError::Forbidden(_) => exit::FORBIDDEN,
        ClusterError::NotFound(_) => exit::NOT_FOUND,
        ClusterError::Conflict(_) => exit::CONFLICT,
        ClusterError::Invalid(_) | ClusterError::Config(_) => exit::USAGE,
        ClusterError::Unavailable(_) => exit::UNAVAILABLE,
    };
    Failure { code, message: e.to_string() }
}

fn service_failure(e: service::Error) -> Failure {
    match e {
        service::Error::Store(e) => e.into(),
        service::Error::Cluster(e) => kube_failure(e),
    }
}

/// The cluster connection, made once per command.
pub fn connect(ctx: &mut Context) -> Result<Arc<Kube>, Failure> {
    if let Some(k) = &ctx.kube.client {
        return Ok(k.clone());
    }
    let k = Arc::new(Kube::connect(&ctx.kube.options).map_err(kube_failure)?);
    ctx.kube.client = Some(k.clone());
    Ok(k)
}

/// Who acts: `--as` when given, else the kubeconfig user of the context.
pub(crate) fn operator(ctx: &Context, kube: &Kube) -> String {
    match (&kube.user, ctx.kube.operator_from_kubeconfig) {
        (Some(u), true) if crate::model::untrusted::operator_identity_problem(u).is_none() => u.clone(),
        _ => ctx.operator.name().to_owned(),
    }
}

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
    let stores = ctx.stores()?;
    let kube = connect(ctx)?;
    let who = operator(ctx, &kube);
    let planned = service::plan(&stores, kube.as_ref(), kind, &target, &reason, &who).map_err(service_failure)?;
    let plan = service::confirm(&stores, kube.as_ref(), &planned.action).map_err(service_failure)?;
    let report = service::execute(&stores, kube.as_ref(), &acting, &plan).map_err(|e| match e {
        service::Error::Cluster(ClusterError::Forbidden(m)) => {
            Failure { code: exit::FORBIDDEN, message: format!("{kind} refused for {who} (nothing changed): {m}") }
        }
        other => service_failure(other),
    })?;
    match args.output {
        TextFormat::Json => {
            let failed: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
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
        Some(e) => kube_failure(e.clone()).code,
        None => exit::OK,
    };
    Ok(super::unrecorded(&plan.action.describe(), report.audit_error.as_deref(), code))
}

/// When Kubernetes is configured: narrows `sessions` to the `-n` namespace (when given) and
/// joins them with their pods. A cluster that cannot be reached or listed is a warning on
/// stderr, never a failure of the listing.
pub fn pod_columns(ctx: &mut Context, sessions: &mut Vec<Session>) -> Result<Option<PodColumns>, Failure> {
    if !ctx.kube.configured {
        return Ok(None);
    }
    let warn = |m: &str| {
        let line = crate::model::untrusted::neutralize(m, crate::model::untrusted::Lines::Escape);
        let _ = writeln!(std::io::stderr(), "quell: warning: {line}");
    };
    let kube = match connect(ctx) {
        Ok(k) => k,
        Err(f) => {
            warn(&format!("no pod columns: {}", f.message));
            return Ok(None);
        }
    };
    if kube.namespace_explicit {
        let ns = kube.namespace.clone();
        sessions.retain(|s| kube.namespace_or_default(s.namespace.as_ref().map(|n| n.raw())) == ns);
    }
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
