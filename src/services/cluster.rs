//! The actions only Kubernetes can do — hard stop (and its restore), kill pod, quarantine,
//! release ([`ActionKind::CLUSTER`]) — on sessions joined with their pods. Each is one
//! [`OperatorAction`]: resolve the exact scope ([`plan`]), re-plan it on exactly what was
//! confirmed ([`confirm`]), ask the API server whether the user may (SelfSubjectAccessReview)
//! and refuse with the missing permission before anything changes, act ([`execute`]), then
//! write the action and its outcome to the audit log on the operator's chain. The cluster is the [`Cluster`] port: any
//! implementation of it (the real API server, or one in memory) does.

use super::control::Target;
use super::operator_log;
use crate::model::action::{ActionError, ActionKind, OperatorAction, Scope};
use crate::model::operator::Acting;
use crate::model::session::Session;
use crate::model::time;
use crate::ports::cluster::{
    Cluster, ClusterError, Discovery, Namespaces, Outcome, Permission, PodRef, PodView, StsRef, DEFAULT_SELECTOR,
};
use crate::ports::{StoreError, Stores};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The permissions a cluster operation ([`ActionKind::CLUSTER`]) needs in a namespace, the
/// most telling first; none for the others.
pub fn permissions(kind: ActionKind, ns: &str) -> Vec<Permission> {
    let ns = Some(ns);
    match kind {
        ActionKind::HardStop | ActionKind::Restore => vec![
            Permission::new("patch", "apps", "statefulsets", ns).subresource("scale"),
            Permission::new("patch", "apps", "statefulsets", ns),
            Permission::new("get", "apps", "statefulsets", ns),
        ],
        ActionKind::KillPod { .. } => vec![Permission::new("delete", "", "pods", ns)],
        ActionKind::Quarantine => vec![
            Permission::new("patch", "", "pods", ns),
            Permission::new("get", "networking.k8s.io", "networkpolicies", ns),
        ],
        ActionKind::Release => vec![Permission::new("patch", "", "pods", ns)],
        _ => Vec::new(),
    }
}

/// A planned action: the audit value and the exact pods (and StatefulSets) it touches.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What is recorded; its kind is the operation.
    pub action: OperatorAction,
    /// (session id, its pod), in the order chosen.
    pub pods: Vec<(String, PodRef)>,
    /// Hard stop and restore: the distinct StatefulSets owning those pods.
    pub statefulsets: Vec<StsRef>,
    /// Sessions a selector matched that report no pod (not on Kubernetes): left alone.
    pub skipped: Vec<String>,
}

impl Plan {
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.pods.iter().map(|(_, p)| p.namespace.clone()).collect()
    }
}

/// The session's pod, in the session's namespace or else the current one.
pub fn pod_of(cluster: &dyn Cluster, s: &Session) -> Option<PodRef> {
    let name = s.pod.as_ref().map(|p| p.raw()).filter(|p| !p.is_empty())?;
    Some(PodRef {
        namespace: cluster.namespace_or_default(s.namespace.as_ref().map(|n| n.raw())),
        name: name.to_owned(),
    })
}

/// The StatefulSet a pod belongs to: its owner reference when the pod exists, else (a hard
/// stop deleted it) the StatefulSet naming rule `<statefulset>-<ordinal>`.
fn statefulset_of(pod: &PodRef, read: std::result::Result<PodView, ClusterError>) -> Result<StsRef> {
    match read {
        Ok(view) => view.statefulset.map(|name| StsRef { namespace: pod.namespace.clone(), name }).ok_or_else(|| {
            Error::Cluster(ClusterError::Invalid(format!("pod {pod} is not owned by a StatefulSet; nothing to scale")))
        }),
        Err(ClusterError::NotFound(_)) => match pod.name.rsplit_once('-') {
            Some((sts, ordinal)) if !sts.is_empty() && ordinal.parse::<u32>().is_ok() => {
                Ok(StsRef { namespace: pod.namespace.clone(), name: sts.to_owned() })
            }
            _ => Err(Error::Cluster(ClusterError::NotFound(format!(
                "pod {pod} is gone and its name names no StatefulSet"
            )))),
        },
        Err(e) => Err(e.into()),
    }
}

/// Resolves the target to exact sessions and their pods, and validates the action. Nothing is
/// written.
pub fn plan(
    stores: &Stores,
    cluster: &dyn Cluster,
    kind: ActionKind,
    target: &Target,
    reason: &str,
    operator: &str,
) -> Result<Plan> {
    if !kind.is_cluster() {
        return Err(StoreError::Invalid(format!("{kind} is not a cluster action")).into());
    }
    let all = stores.sessions.sessions()?;
    let now = time::now();
    let mut pods = Vec::new();
    let mut skipped = Vec::new();
    let selector = match target {
        Target::All => return Err(StoreError::Invalid(ActionError::NotFleetWide(kind).to_string()).into()),
        Target::Sessions(ids) => {
            let by_id: HashMap<&str, &Session> = all.iter().map(|s| (s.id.as_str(), s)).collect();
            let mut seen = BTreeSet::new();
            for id in ids {
                let s = by_id.get(id.as_str()).ok_or_else(|| StoreError::NotFound(format!("no session {id}")))?;
                let pod = pod_of(cluster, s).ok_or_else(|| {
                    StoreError::Invalid(format!("session {id} reports no pod: it does not run on Kubernetes"))
                })?;
                if seen.insert(id.clone()) {
                    pods.push((id.clone(), pod));
                }
            }
            None
        }
        Target::Selector(sel) if sel.is_empty() => {
            return Err(StoreError::Invalid(crate::model::selector::EMPTY.into()).into())
        }
        Target::Selector(sel) => {
            if let Some(why) = sel.vacuous_negation(&all, now) {
                return Err(StoreError::Invalid(why).into());
            }
            for s in all.iter().filter(|s| sel.matches(s, now)) {
                match pod_of(cluster, s) {
                    Some(pod) => pods.push((s.id.clone(), pod)),
                    None => skipped.push(s.id.clone()),
                }
            }
            Some(sel.to_string())
        }
    };
    let mut statefulsets = Vec::new();
    if matches!(kind, ActionKind::HardStop | ActionKind::Restore) {
        let mut seen = BTreeSet::new();
        let refs: Vec<PodRef> = pods.iter().map(|(_, p)| p.clone()).collect();
        for (pod, read) in refs.iter().zip(cluster.pods(&refs)) {
            let sts = statefulset_of(pod, read)?;
            if seen.insert(sts.clone()) {
                statefulsets.push(sts);
            }
        }
    }
    let scope = Scope::Sessions {
        sessions: pods.iter().map(|(id, _)| id.clone()).collect(),
        namespaces: pods.iter().map(|(_, p)| p.namespace.clone()).collect(),
        selector,
    };
    let action = OperatorAction::new(kind, scope, reason, operator).map_err(|e| match e {
        ActionError::EmptyScope(_) => StoreError::NotFound(format!("{e} with a pod")),
        _ => StoreError::Invalid(e.to_string()),
    })?;
    Ok(Plan { action, pods, statefulsets, skipped })
}

/// Right before a confirmed action is executed (by the console after its dialog, by the CLI
/// after its plan): re-plans it on exactly the sessions confirmed, refuses when they no longer
/// resolve to the same sessions, and keeps the action as confirmed (a selector stays in its
/// audit record).
pub fn confirm(stores: &Stores, cluster: &dyn Cluster, action: &OperatorAction) -> Result<Plan> {
    let target = Target::Sessions(action.scope.session_ids().to_vec());
    let mut plan = plan(stores, cluster, action.kind, &target, &action.reason, &action.operator)?;
    if plan.action.scope.session_ids() != action.scope.session_ids() {
        return Err(StoreError::Conflict("the pods changed since the scope was confirmed; try again".into()).into());
    }
    plan.action = action.clone();
    Ok(plan)
}

/// What an executed action did, target by target.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One line per policy created (quarantine) or per target done.
    pub done: Vec<String>,
    pub failed: Vec<ClusterError>,
    /// The pods (hard stop and restore: the StatefulSets) the action took effect on, in order.
    pub reached: Vec<PodRef>,
    /// Those it did not take effect on, each with why.
    pub missed: Vec<(PodRef, ClusterError)>,
    /// The audit sequence number of the recorded action (0 when it could not be recorded).
    pub audit_seq: u64,
    /// Why the action's audit record could not be written, if it could not.
    pub audit_error: Option<String>,
}

fn collect<T>(report: &mut Report, outcomes: Vec<Outcome<T>>) {
    for (_, r) in outcomes {
        match r {
            Ok(line) => report.done.push(line),
            Err(e) => report.failed.push(e),
        }
    }
}

/// [`collect`], keeping which targets were reached and which were not.
fn collect_targets(report: &mut Report, outcomes: Vec<Outcome<PodRef>>) {
    for (target, r) in &outcomes {
        match r {
            Ok(_) => report.reached.push(target.clone()),
            Err(e) => report.missed.push((target.clone(), e.clone())),
        }
    }
    collect(report, outcomes);
}

/// "quarantined 3 of 5 pods: ns/a-0, ns/a-1, ns/a-2; not quarantined: ns/b-0, ns/b-1": every
/// target named, so the audit record says exactly what changed however many failed.
fn targets_line(kind: ActionKind, report: &Report) -> String {
    let (done, unit) = match kind {
        ActionKind::HardStop => ("stopped", "statefulsets"),
        ActionKind::Restore => ("restored", "statefulsets"),
        ActionKind::KillPod { .. } => ("deleted", "pods"),
        ActionKind::Quarantine => ("quarantined", "pods"),
        ActionKind::Release => ("released", "pods"),
        _ => ("done", "targets"),
    };
    let total = report.reached.len() + report.missed.len();
    let mut line = format!("{done} {} of {total} {unit}", report.reached.len());
    let names = |refs: &mut dyn Iterator<Item = &PodRef>| refs.map(ToString::to_string).collect::<Vec<_>>().join(", ");
    if !report.reached.is_empty() {
        line.push_str(&format!(": {}", names(&mut report.reached.iter())));
    }
    if !report.missed.is_empty() {
        line.push_str(&format!("; not {done}: {}", names(&mut report.missed.iter().map(|(p, _)| p))));
    }
    line
}

/// Checks permissions for every namespace of the plan (nothing changes when one is missing),
/// acts, and records the action with its outcome in the audit log. Only an operator who may
/// act ([`Acting`]) can.
pub fn execute(stores: &Stores, cluster: &dyn Cluster, _acting: &Acting, plan: &Plan) -> Result<Report> {
    let kind = plan.action.kind;
    let namespaces: Vec<String> = plan.namespaces().into_iter().collect();
    let wanted: Vec<Permission> = namespaces.iter().flat_map(|ns| permissions(kind, ns)).collect();
    cluster.check(&wanted)?;
    let pods: Vec<PodRef> = plan.pods.iter().map(|(_, p)| p.clone()).collect();
    let mut report = Report::default();
    match kind {
        ActionKind::HardStop => collect_targets(&mut report, cluster.hard_stop(&plan.statefulsets)),
        ActionKind::Restore => collect_targets(&mut report, cluster.restore(&plan.statefulsets)),
        ActionKind::KillPod { grace } => collect_targets(&mut report, cluster.delete_pods(&pods, grace)),
        ActionKind::Release => collect_targets(&mut report, cluster.release(&pods)),
        ActionKind::Quarantine => {
            let missing = cluster.namespaces_without_policy(&namespaces)?;
            if !missing.is_empty() {
                let create: Vec<Permission> = missing
                    .iter()
                    .map(|ns| Permission::new("create", "networking.k8s.io", "networkpolicies", Some(ns)))
                    .collect();
                cluster.check(&create)?;
                let created = cluster.create_policies(&missing);
                // No label before its namespace's policy exists: a label alone isolates nothing.
                // Policies already created are reported and recorded like any other change.
                let refused: Vec<String> =
                    created.iter().filter(|(_, r)| r.is_err()).map(|(ns, _)| ns.clone()).collect();
                collect(&mut report, created);
                if refused.is_empty() {
                    collect_targets(&mut report, cluster.quarantine(&pods));
                } else {
                    let why = format!("no quarantine policy in {}", refused.join(", "));
                    let left = ClusterError::Conflict(format!("not labelled: {why}"));
                    report.missed.extend(pods.iter().map(|p| (p.clone(), left.clone())));
                    report.failed.push(ClusterError::Conflict(format!(
                        "no pod labelled: {} pod(s) left unquarantined because there is {why}",
                        pods.len()
                    )));
                }
            } else {
                collect_targets(&mut report, cluster.quarantine(&pods));
            }
        }
        other => return Err(StoreError::Invalid(format!("{other} is not a cluster action")).into()),
    }
    let mut outcome = format!("{} done, {} failed", report.done.len(), report.failed.len());
    outcome.push_str("; ");
    outcome.push_str(&targets_line(kind, &report));
    for line in report.done.iter().take(20) {
        outcome.push_str("; ");
        outcome.push_str(line);
    }
    for e in report.failed.iter().take(20) {
        outcome.push_str("; failed: ");
        outcome.push_str(&e.to_string());
    }
    match operator_log::record_taken(stores, &plan.action, &outcome) {
        Ok(event) => report.audit_seq = event.seq,
        Err(e) => report.audit_error = Some(e),
    }
    Ok(report)
}

/// The actions the user may take in `namespace`, so the console can hide the others.
pub fn allowed_actions(cluster: &dyn Cluster, namespace: &str) -> Result<Vec<ActionKind>> {
    let all = ActionKind::CLUSTER;
    let wanted: Vec<Permission> = all.iter().flat_map(|a| permissions(*a, namespace)).collect();
    let missing: BTreeSet<Permission> = cluster.missing(&wanted)?.into_iter().collect();
    Ok(all.into_iter().filter(|a| permissions(*a, namespace).iter().all(|p| !missing.contains(p))).collect())
}

/// Sessions joined with their pods.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    /// The pod of each session given, in order (`None`: no pod reported, or not found).
    pub pods: Vec<Option<PodView>>,
    /// Agent pods no session reports.
    pub unclaimed: Vec<PodView>,
    pub warnings: Vec<String>,
}

/// Discovers agent pods (cluster-wide, or in the namespace given with `-n`) by `selector`
/// (default: the seed's `app=ai-agent-runtime`) and joins them with the sessions.
pub fn join(cluster: &dyn Cluster, sessions: &[Session], selector: Option<&str>) -> Result<Joined> {
    let selector = selector.unwrap_or(DEFAULT_SELECTOR);
    let namespaces = if cluster.namespace_explicit() {
        Namespaces::Only(vec![cluster.namespace().to_owned()])
    } else {
        Namespaces::All
    };
    let fallback: Vec<String> = sessions
        .iter()
        .filter_map(|s| s.namespace.as_ref().map(|n| n.raw().to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Discovery { pods, warnings } = cluster.discover(&namespaces, selector, &fallback)?;
    let mut by_ref: HashMap<PodRef, PodView> = pods.into_iter().map(|p| (p.pod_ref(), p)).collect();
    let joined = sessions.iter().map(|s| pod_of(cluster, s).and_then(|r| by_ref.remove(&r))).collect();
    let mut unclaimed: Vec<PodView> = by_ref.into_values().collect();
    unclaimed.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Joined { pods: joined, unclaimed, warnings })
}

#[cfg(test)]
mod tests;
