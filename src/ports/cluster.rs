//! The cluster port: what the services need from Kubernetes (find the sessions' pods, ask
//! whether the user may, scale StatefulSets down and back, delete pods, label them for the
//! quarantine NetworkPolicy and create that policy), in terms of these types only. The real
//! implementation is `adapters::kubernetes`; services depend on this trait, never on it.
//!
//! Synchronous, like the storage ports: an implementation blocks until its requests are done,
//! and the console calls it from background threads. A batch returns one [`Outcome`] per target,
//! in the order given, so a partial failure says exactly which targets it reached.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The label that makes the quarantine NetworkPolicy select a pod.
pub const QUARANTINE_LABEL: &str = "quell.dev/quarantine";
/// Name of the deny-all NetworkPolicy quell creates in a namespace when it is missing.
pub const QUARANTINE_POLICY: &str = "quell-quarantine";
/// Annotation on a hard-stopped StatefulSet: the replica count to restore.
pub const REPLICAS_ANNOTATION: &str = "quell.dev/replicas-before-hard-stop";
/// Default discovery selector: the seed's StatefulSet.
pub const DEFAULT_SELECTOR: &str = "app=ai-agent-runtime";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig cannot be read or names nothing usable.
    #[error("{0}")]
    Config(String),
    /// The API server refused: a missing RBAC permission, named exactly.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The API server cannot be reached or failed.
    #[error("{0}")]
    Unavailable(String),
}

pub type ClusterResult<T> = Result<T, ClusterError>;

/// A pod by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A StatefulSet by namespace and name.
pub type StsRef = PodRef;

/// What happened to one target of a batch: a one-line outcome or the error.
pub type Outcome<T> = (T, ClusterResult<String>);

/// The sandboxing layers of the seed, as the pod spec declares them. A container-level setting
/// wins over the pod-level one; a property holds only when it holds for every container
/// (init containers included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Posture {
    pub runtime_class: Option<String>,
    /// The runtime class is gVisor (its handler is `runsc`, or, when RuntimeClasses cannot be
    /// read, its name says gvisor/runsc).
    pub gvisor: bool,
    pub run_as_non_root: bool,
    pub read_only_root_fs: bool,
    pub privilege_escalation_off: bool,
    /// `capabilities.drop` contains `ALL` in every container.
    pub capabilities_dropped: bool,
}

impl Posture {
    /// The layers that are missing, by short name; empty when the pod has them all.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (ok, name) in [
            (self.gvisor, "gvisor"),
            (self.run_as_non_root, "non-root"),
            (self.read_only_root_fs, "ro-rootfs"),
            (self.privilege_escalation_off, "no-escalation"),
            (self.capabilities_dropped, "caps-dropped"),
        ] {
            if !ok {
                out.push(name);
            }
        }
        out
    }

    /// One cell: `ok`, or the missing layers marked with `!`.
    pub fn summary(&self) -> String {
        let missing = self.missing();
        if missing.is_empty() {
            "ok".to_owned()
        } else {
            missing.iter().map(|m| format!("!{m}")).collect::<Vec<_>>().join(" ")
        }
    }
}

/// An agent pod as discovered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub node: Option<String>,
    pub restarts: u64,
    /// The StatefulSet that owns the pod (from its owner references).
    pub statefulset: Option<String>,
    pub quarantined: bool,
    pub posture: Posture,
    /// The pod's labels (selectors, the session label when the agent sets one).
    pub labels: BTreeMap<String, String>,
}

impl PodView {
    pub fn pod_ref(&self) -> PodRef {
        PodRef { namespace: self.namespace.clone(), name: self.name.clone() }
    }
}

/// A permission, as SelfSubjectAccessReview asks it and as the refusal names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    /// `None`: in all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
}

impl Permission {
    pub fn new(verb: &'static str, group: &'static str, resource: &'static str, namespace: Option<&str>) -> Self {
        Permission { verb, group, resource, subresource: None, namespace: namespace.map(str::to_owned) }
    }

    pub fn subresource(mut self, subresource: &'static str) -> Self {
        self.subresource = Some(subresource);
        self
    }
}

impl fmt::Display for Permission {
    /// "patch statefulsets/scale in genai-prod", "list pods in all namespaces".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(s) = self.subresource {
            write!(f, "/{s}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => f.write_str(" in all namespaces"),
        }
    }
}

/// Which namespaces to look in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Namespaces {
    All,
    Only(Vec<String>),
}

/// Agent pods found, and what could not be looked at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovery {
    pub pods: Vec<PodView>,
    /// One line each: a namespace the user may not list, the fallback taken.
    pub warnings: Vec<String>,
}

impl Discovery {
    /// When pods cannot be listed in all namespaces: the namespaces to list one by one instead
    /// (`fallback` and the current one), with a warning that says so.
    pub fn fall_back(&mut self, fallback: &[String], current: &str) -> Vec<String> {
        let list: BTreeSet<String> = fallback.iter().cloned().chain([current.to_owned()]).collect();
        let list: Vec<String> = list.into_iter().collect();
        self.warnings.push(format!(
            "cannot list pods in all namespaces; showing namespace{} {}",
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
        list
    }

    /// A namespace whose pods may not be listed: a warning, not an error.
    pub fn forbidden(&mut self, namespace: &str) {
        self.warnings.push(format!("cannot list pods in {namespace}"));
    }
}

/// A cluster quell acts on, as the user it acts for. Every write is preceded, at the service
/// layer, by a [`Cluster::check`] of the exact permissions it needs.
pub trait Cluster: Send + Sync + fmt::Debug {
    /// The namespace commands use when none is given: `-n`, else the context's.
    fn namespace(&self) -> &str;
    /// Whether the namespace was given explicitly (`-n`), which narrows discovery to it.
    fn namespace_explicit(&self) -> bool;

    /// The namespace of a session without one: the current namespace.
    fn namespace_or_default(&self, ns: Option<&str>) -> String {
        ns.filter(|n| !n.is_empty()).unwrap_or_else(|| self.namespace()).to_owned()
    }

    /// The permissions of `wanted` the user lacks, in the order given (duplicates asked once).
    fn missing(&self, wanted: &[Permission]) -> ClusterResult<Vec<Permission>>;

    /// Fails with "cannot patch statefulsets/scale in genai-prod" (every missing permission,
    /// `; `-separated) unless the user holds all of `wanted`.
    fn check(&self, wanted: &[Permission]) -> ClusterResult<()> {
        let missing = self.missing(wanted)?;
        if missing.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = missing.iter().map(|p| format!("cannot {p}")).collect();
        Err(ClusterError::Forbidden(lines.join("; ")))
    }

    /// Agent pods matching `selector`. Cluster-wide when `All`; a Forbidden there degrades to
    /// listing each of `fallback` (and the current namespace), and a Forbidden namespace is a
    /// warning, not an error.
    fn discover(&self, namespaces: &Namespaces, selector: &str, fallback: &[String]) -> ClusterResult<Discovery>;

    /// Pods by name, results in order.
    fn pods(&self, refs: &[PodRef]) -> Vec<ClusterResult<PodView>>;

    /// Scales each StatefulSet to zero, remembering its replica count (in
    /// [`REPLICAS_ANNOTATION`]); one already at zero is left as it is.
    fn hard_stop(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>>;

    /// Restores the replica counts hard stop remembered, and forgets them.
    fn restore(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>>;

    /// Deletes pods; `grace` `Some(0)` kills at once, `None` uses the pod's own grace period.
    fn delete_pods(&self, targets: &[PodRef], grace: Option<u32>) -> Vec<Outcome<PodRef>>;

    /// Namespaces (of `namespaces`) that have no quarantine policy yet. A policy of that name
    /// that is not a deny-all for the quarantine label is an error: labelling would not isolate.
    fn namespaces_without_policy(&self, namespaces: &[String]) -> ClusterResult<Vec<String>>;

    /// Creates the deny-all quarantine policy in each namespace (one created meanwhile by
    /// someone else is fine). Returns what was done per namespace.
    fn create_policies(&self, namespaces: &[String]) -> Vec<Outcome<String>>;

    /// Labels pods ([`QUARANTINE_LABEL`]) so the quarantine policy selects them (create the
    /// policy first).
    fn quarantine(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>>;

    /// Removes the quarantine label.
    fn release(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_like_the_refusal() {
        let p = Permission::new("patch", "apps", "statefulsets", Some("genai-prod")).subresource("scale");
        assert_eq!(format!("cannot {p}"), "cannot patch statefulsets/scale in genai-prod");
        assert_eq!(Permission::new("list", "", "pods", None).to_string(), "list pods in all namespaces");
    }
}
