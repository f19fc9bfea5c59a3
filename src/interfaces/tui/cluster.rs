//! Kubernetes in the console: the pod columns of the fleet view and the pod actions (hard stop,
//! kill pod, quarantine, release). The cluster is read only on the feed threads; the state
//! here is what they last reported. Until the API server has answered which actions the user
//! may take, none are offered.

use super::text::safe;
use crate::model::action::{ActionKind, OperatorAction};
use crate::model::operator::Acting;
use crate::model::session::Session;
use crate::ports::cluster::{Cluster, ClusterError};
use crate::ports::Stores;
use crate::services::cluster as service;
use crate::services::control::Target;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The cluster handle the CLI built from `--context`, `-n`, `--kubeconfig` (or the config file).
#[derive(Clone, Debug)]
pub struct TuiKube {
    pub client: Arc<dyn Cluster>,
    /// Label selector of agent pods [default: app=ai-agent-runtime].
    pub selector: Option<String>,
    /// Who pod actions are recorded as, as in the CLI: `--as`, else the kubeconfig user.
    /// `None`: the console's operator.
    pub operator: Option<String>,
}

/// One session's pod, display text ready (neutralised on the feed thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodCells {
    pub phase: String,
    pub node: String,
    pub restarts: u64,
    /// `ok`, or the missing sandboxing layers; `QUARANTINED` first when the pod is.
    pub posture: String,
}

/// What the feed reports about the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeInfo {
    /// Session id → its pod (sessions without a found pod are absent).
    pub pods: HashMap<String, PodCells>,
    /// The pod actions the user may take in every namespace the fleet's pods are in.
    pub allowed: Vec<ActionKind>,
    /// Discovery or access-review problems (a Forbidden list degrades to what may be seen).
    pub warnings: Vec<String>,
}

/// The console's view of the cluster: `App::kube` is `Some` only when kube is configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeState {
    /// Who pod actions are recorded as (`None`: the console's operator).
    pub operator: Option<String>,
    /// `None` until the first answer.
    pub info: Option<KubeInfo>,
    /// The last read failed: what is on screen stays.
    pub error: Option<String>,
}

impl KubeState {
    /// Whether the API server said the user may take `kind` (at any of its parameters).
    pub fn allows(&self, kind: ActionKind) -> bool {
        self.info.as_ref().is_some_and(|i| i.allowed.iter().any(|a| a.same_operation(kind)))
    }

    /// One phrase for the fleet view's info line.
    pub fn summary(&self) -> String {
        match (&self.error, &self.info) {
            (Some(e), _) => format!("kube: {e}"),
            (None, None) => "kube: asking the API server…".to_owned(),
            (None, Some(i)) => match i.warnings.as_slice() {
                [] => format!("{} pods", i.pods.len()),
                [w] => format!("{} pods · kube: {w}", i.pods.len()),
                [w, more @ ..] => format!("{} pods · kube: {w} (+{} more)", i.pods.len(), more.len()),
            },
        }
    }

    pub fn pod(&self, session_id: &str) -> Option<&PodCells> {
        self.info.as_ref().and_then(|i| i.pods.get(session_id))
    }
}

/// Resolves a pod action to its exact scope (the reason is a placeholder the dialog replaces).
pub fn plan(
    stores: &Stores,
    kube: Option<&TuiKube>,
    kind: ActionKind,
    target: &Target,
    reason: &str,
    operator: &str,
) -> Result<OperatorAction, String> {
    let kube = kube.ok_or_else(|| format!("{kind}: no Kubernetes context"))?;
    service::plan(stores, kube.client.as_ref(), kind, target, reason, operator)
        .map(|p| p.action)
        .map_err(|e| e.to_string())
}

/// Carries out a confirmed pod action on exactly the sessions confirmed (the services re-plan
/// it): the permission check first (nothing changes when one is missing), then the action and
/// its audit record.
pub fn execute(
    stores: &Stores,
    kube: Option<&TuiKube>,
    acting: &Acting,
    action: &OperatorAction,
) -> Result<String, String> {
    let kind = action.kind;
    let kube = kube.ok_or_else(|| format!("{kind}: no Kubernetes context"))?;
    let client = kube.client.as_ref();
    let plan = service::confirm(stores, client, action).map_err(|e| format!("{kind} not done: {e}"))?;
    let report = service::execute(stores, client, acting, &plan).map_err(|e| match e {
        service::Error::Cluster(ClusterError::Forbidden(m)) => format!("{kind} refused (nothing changed): {m}"),
        other => format!("{kind} not done: {other}"),
    })?;
    let mut line = format!(
        "{}: {} done, {} failed (audit #{})",
        action.describe(),
        report.done.len(),
        report.failed.len(),
        report.audit_seq
    );
    if let Some(e) = &report.audit_error {
        line.push_str(&format!("; {e}"));
    }
    if let Some(e) = report.failed.first() {
        line.push_str(&format!("; first failure: {e}"));
    }
    Ok(line)
}

/// At most this many namespaces are asked about (each costs a few access reviews).
const MAX_NAMESPACES: usize = 32;

/// Reads pods and permissions (runs on a feed thread; blocks on the API server).
pub fn fetch(stores: &Stores, kube: &TuiKube) -> Result<KubeInfo, String> {
    let sessions: Vec<Session> = stores.sessions.sessions().map_err(|e| e.to_string())?;
    let client = kube.client.as_ref();
    let joined = service::join(client, &sessions, kube.selector.as_deref()).map_err(|e| e.to_string())?;
    let mut pods = HashMap::new();
    for (s, pod) in sessions.iter().zip(joined.pods) {
        if let Some(p) = pod {
            let mut posture = p.posture.summary();
            if p.quarantined {
                posture = format!("QUARANTINED {posture}");
            }
            pods.insert(
                s.id.clone(),
                PodCells {
                    phase: safe(&p.phase).into_owned(),
                    node: p.node.as_deref().map(|n| safe(n).into_owned()).unwrap_or_default(),
                    restarts: p.restarts,
                    posture: safe(&posture).into_owned(),
                },
            );
        }
    }
    let mut namespaces: BTreeSet<String> =
        sessions.iter().filter_map(|s| service::pod_of(client, s)).map(|p| p.namespace).collect();
    if namespaces.is_empty() {
        namespaces.insert(client.namespace().to_owned());
    }
    let mut warnings = joined.warnings;
    let mut allowed: Option<Vec<ActionKind>> = None;
    for ns in namespaces.iter().take(MAX_NAMESPACES) {
        match service::allowed_actions(client, ns) {
            Ok(here) => {
                allowed = Some(match allowed {
                    None => here,
                    Some(before) => before.into_iter().filter(|a| here.contains(a)).collect(),
                });
            }
            Err(e) => {
                warnings.push(format!("cannot review access in {ns}: {e}"));
                allowed = Some(Vec::new());
            }
        }
    }
    let warnings = warnings.iter().map(|w| safe(w).into_owned()).collect();
    Ok(KubeInfo { pods, allowed: allowed.unwrap_or_default(), warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_allowed_before_the_api_server_answers() {
        let mut state = KubeState::default();
        assert!(!state.allows(ActionKind::Quarantine));
        state.info = Some(KubeInfo { allowed: vec![ActionKind::KillPod { grace: None }], ..KubeInfo::default() });
        assert!(state.allows(ActionKind::KillPod { grace: Some(0) }));
        assert!(!state.allows(ActionKind::HardStop));
        assert!(!state.allows(ActionKind::Resume), "the soft resume is not a pod action");
    }
}
