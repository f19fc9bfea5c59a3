//! A cluster held in memory, behind the same [`Cluster`] port as the real API server: pods,
//! StatefulSets (one scaled to `n` has the pods `<name>-0` … `<name>-(n-1)`, and a deleted pod
//! of a StatefulSet comes back), the quarantine NetworkPolicy of each namespace, the user's
//! permissions, and failures injected on chosen calls. For tests of the plan and execute logic
//! and for demos; nothing leaves the process.

use crate::ports::cluster::{
    Cluster, ClusterError, ClusterResult, Discovery, Namespaces, Outcome, Permission, PodRef, PodView, Posture, StsRef,
    QUARANTINE_LABEL, QUARANTINE_POLICY, REPLICAS_ANNOTATION,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

/// A call of the port that can be made to fail on a chosen target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Call {
    /// An access review (target: the permission as it reads, "patch pods in ns").
    Review,
    /// Listing pods (target: a namespace, or `*` for all namespaces).
    List,
    /// Reading a pod or a StatefulSet (target: `ns/name`).
    Get,
    /// Scaling a StatefulSet (target: `ns/name`).
    Scale,
    /// Deleting a pod (target: `ns/name`).
    Delete,
    /// Labelling a pod, for quarantine or release (target: `ns/name`).
    Label,
    /// Reading a namespace's quarantine policy (target: the namespace).
    GetPolicy,
    /// Creating a namespace's quarantine policy (target: the namespace).
    CreatePolicy,
}

/// A StatefulSet: its replica count, the count a hard stop remembered (the annotation's raw
/// value), and the labels of the pods it makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    pub replicas: i32,
    pub remembered: Option<String>,
    pub template: BTreeMap<String, String>,
}

/// Everything the cluster holds. Two equal worlds: nothing changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct World {
    pub pods: BTreeMap<PodRef, PodView>,
    pub statefulsets: BTreeMap<StsRef, Workload>,
    /// Namespace → whether its quarantine policy is a deny-all (`false`: a policy of that name
    /// that does not isolate).
    pub policies: BTreeMap<String, bool>,
}

#[derive(Debug, Default)]
struct State {
    world: World,
    denied: BTreeSet<Permission>,
    faults: BTreeMap<(Call, String), ClusterError>,
    deleted: Vec<(PodRef, Option<u32>)>,
}

impl State {
    fn fault(&self, call: Call, target: &str) -> ClusterResult<()> {
        match self.faults.get(&(call, target.to_owned())) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A StatefulSet, read as the API server would be asked for it.
    fn workload(&mut self, sts: &StsRef) -> ClusterResult<&mut Workload> {
        self.fault(Call::Get, &sts.to_string())?;
        self.world
            .statefulsets
            .get_mut(sts)
            .ok_or_else(|| ClusterError::NotFound(format!("statefulset {sts}: not found")))
    }

    /// Makes the pods of a StatefulSet match its replica count, as its controller would.
    fn reconcile(&mut self, sts: &StsRef) {
        let Some(w) = self.world.statefulsets.get(sts).cloned() else { return };
        let replicas = u32::try_from(w.replicas).unwrap_or(0);
        self.world.pods.retain(|r, p| {
            p.statefulset.as_deref() != Some(sts.name.as_str())
                || r.namespace != sts.namespace
                || ordinal(&sts.name, &r.name).is_some_and(|i| i < replicas)
        });
        for i in 0..replicas {
            let r = PodRef { namespace: sts.namespace.clone(), name: format!("{}-{i}", sts.name) };
            let pod = pod_view(&r, Some(&sts.name), w.template.clone());
            self.world.pods.entry(r).or_insert(pod);
        }
    }
}

/// `agents-2` of StatefulSet `agents` → 2.
fn ordinal(sts: &str, pod: &str) -> Option<u32> {
    pod.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

/// A running pod with the seed's full posture.
fn pod_view(r: &PodRef, statefulset: Option<&str>, labels: BTreeMap<String, String>) -> PodView {
    PodView {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        phase: "Running".into(),
        node: Some("node-a".into()),
        restarts: 0,
        statefulset: statefulset.map(str::to_owned),
        quarantined: labels.get(QUARANTINE_LABEL).is_some_and(|v| v == "true"),
        posture: Posture {
            runtime_class: Some("gvisor".into()),
            gvisor: true,
            run_as_non_root: true,
            read_only_root_fs: true,
            privilege_escalation_off: true,
            capabilities_dropped: true,
        },
        labels,
    }
}

/// The cluster, as one user sees it. Every permission is granted until [`MemoryCluster::deny`].
#[derive(Debug)]
pub struct MemoryCluster {
    namespace: String,
    namespace_explicit: bool,
    state: Mutex<State>,
}

impl MemoryCluster {
    /// An empty cluster whose current namespace is `namespace` (as from the context).
    pub fn new(namespace: &str) -> Self {
        MemoryCluster { namespace: namespace.to_owned(), namespace_explicit: false, state: Mutex::default() }
    }

    /// As if `-n namespace` were given: discovery is narrowed to it.
    pub fn narrowed_to(namespace: &str) -> Self {
        MemoryCluster { namespace_explicit: true, ..MemoryCluster::new(namespace) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves a consistent world: every change
        // is made in one step under it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a StatefulSet with `replicas` pods `<name>-<i>` labelled `labels`.
    pub fn add_statefulset(&self, namespace: &str, name: &str, replicas: i32, labels: &[(&str, &str)]) -> StsRef {
        let sts = StsRef { namespace: namespace.to_owned(), name: name.to_owned() };
        let template = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut state = self.state();
        state.world.statefulsets.insert(sts.clone(), Workload { replicas, remembered: None, template });
        state.reconcile(&sts);
        sts
    }

    /// Adds a pod no StatefulSet owns.
    pub fn add_pod(&self, namespace: &str, name: &str, labels: &[(&str, &str)]) -> PodRef {
        let r = PodRef { namespace: namespace.to_owned(), name: name.to_owned() };
        let labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.state().world.pods.insert(r.clone(), pod_view(&r, None, labels));
        r
    }

    /// Puts a quarantine policy in `namespace`: a deny-all, or (`false`) one of the same name
    /// that does not isolate.
    pub fn add_policy(&self, namespace: &str, deny_all: bool) {
        self.state().world.policies.insert(namespace.to_owned(), deny_all);
    }

    /// Withdraws a permission from the user.
    pub fn deny(&self, p: Permission) {
        self.state().denied.insert(p);
    }

    /// Makes `call` on `target` fail with `error` from now on.
    pub fn fail(&self, call: Call, target: &str, error: ClusterError) {
        self.state().faults.insert((call, target.to_owned()), error);
    }

    /// What the cluster holds now.
    pub fn world(&self) -> World {
        self.state().world.clone()
    }

    pub fn pod(&self, r: &PodRef) -> Option<PodView> {
        self.state().world.pods.get(r).cloned()
    }

    pub fn statefulset(&self, sts: &StsRef) -> Option<Workload> {
        self.state().world.statefulsets.get(sts).cloned()
    }

    /// Every pod deletion, in order, with the grace period it asked for.
    pub fn deleted(&self) -> Vec<(PodRef, Option<u32>)> {
        self.state().deleted.clone()
    }

    fn each<T: Clone>(
        &self,
        targets: &[T],
        mut f: impl FnMut(&mut State, &T) -> ClusterResult<String>,
    ) -> Vec<Outcome<T>> {
        let mut state = self.state();
        targets.iter().map(|t| (t.clone(), f(&mut state, t))).collect()
    }

    fn label(&self, targets: &[PodRef], quarantined: bool) -> Vec<Outcome<PodRef>> {
        self.each(targets, |state, p| {
            state.fault(Call::Label, &p.to_string())?;
            let pod =
                state.world.pods.get_mut(p).ok_or_else(|| ClusterError::NotFound(format!("pod {p}: not found")))?;
            if quarantined {
                pod.labels.insert(QUARANTINE_LABEL.to_owned(), "true".to_owned());
            } else {
                pod.labels.remove(QUARANTINE_LABEL);
            }
            pod.quarantined = quarantined;
            Ok(format!("pod {p} {}", if quarantined { "quarantined" } else { "released" }))
        })
    }
}

impl Cluster for MemoryCluster {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn namespace_explicit(&self) -> bool {
        self.namespace_explicit
    }

    fn missing(&self, wanted: &[Permission]) -> ClusterResult<Vec<Permission>> {
        let state = self.state();
        let mut seen = BTreeSet::new();
        let mut missing = Vec::new();
        for p in wanted.iter().filter(|p| seen.insert((*p).clone())) {
            state.fault(Call::Review, &p.to_string())?;
            if state.denied.contains(p) {
                missing.push(p.clone());
            }
        }
        Ok(missing)
    }

    fn discover(&self, namespaces: &Namespaces, selector: &str, fallback: &[String]) -> ClusterResult<Discovery> {
        let selector = LabelSelector::parse(selector)?;
        let state = self.state();
        let may_list = |ns: Option<&str>| -> ClusterResult<bool> {
            state.fault(Call::List, ns.unwrap_or("*"))?;
            Ok(!state.denied.contains(&Permission::new("list", "", "pods", ns)))
        };
        let in_ns = |ns: Option<&str>| -> Vec<PodView> {
            let pods = state.world.pods.values().filter(|p| ns.is_none_or(|n| p.namespace == n));
            pods.filter(|p| selector.matches(&p.labels)).cloned().collect()
        };
        let mut found = Discovery::default();
        let wanted: Vec<String> = match namespaces {
            Namespaces::All if may_list(None)? => {
                found.pods = in_ns(None);
                return Ok(found);
            }
            Namespaces::All => found.fall_back(fallback, &self.namespace),
            Namespaces::Only(list) => list.clone(),
        };
        for ns in &wanted {
            if may_list(Some(ns))? {
                found.pods.extend(in_ns(Some(ns)));
            } else {
                found.forbidden(ns);
            }
        }
        Ok(found)
    }

    fn pods(&self, refs: &[PodRef]) -> Vec<ClusterResult<PodView>> {
        let state = self.state();
        refs.iter()
            .map(|r| {
                state.fault(Call::Get, &r.to_string())?;
                state.world.pods.get(r).cloned().ok_or_else(|| ClusterError::NotFound(format!("pod {r}: not found")))
            })
            .collect()
    }

    fn hard_stop(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        self.each(sets, |state, sts| {
            let what = format!("statefulset {sts}");
            let w = state.workload(sts)?;
            if w.replicas == 0 {
                return Ok(match &w.remembered {
                    Some(n) => format!("{what} already stopped ({n} replicas to restore)"),
                    None => format!("{what} already at 0 replicas (nothing to restore)"),
                });
            }
            // Remembered first, as on the API server: a failed scale leaves the count recorded.
            let replicas = w.replicas;
            w.remembered = Some(replicas.to_string());
            state.fault(Call::Scale, &sts.to_string())?;
            if let Some(w) = state.world.statefulsets.get_mut(sts) {
                w.replicas = 0;
            }
            state.reconcile(sts);
            Ok(format!("{what} scaled from {replicas} to 0 replicas"))
        })
    }

    fn restore(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        self.each(sets, |state, sts| {
            let what = format!("statefulset {sts}");
            let Some(raw) = state.workload(sts)?.remembered.clone() else {
                return Err(ClusterError::NotFound(format!(
                    "{what} was not hard-stopped by quell (no {REPLICAS_ANNOTATION})"
                )));
            };
            let replicas: i32 = raw.trim().parse().ok().filter(|n: &i32| *n >= 0).ok_or_else(|| {
                ClusterError::Invalid(format!(
                    "{what}: annotation {REPLICAS_ANNOTATION} is {raw:?}, not a replica count"
                ))
            })?;
            state.fault(Call::Scale, &sts.to_string())?;
            if let Some(w) = state.world.statefulsets.get_mut(sts) {
                w.replicas = replicas;
                w.remembered = None;
            }
            state.reconcile(sts);
            Ok(format!("{what} restored to {replicas} replicas"))
        })
    }

    fn delete_pods(&self, targets: &[PodRef], grace: Option<u32>) -> Vec<Outcome<PodRef>> {
        self.each(targets, |state, p| {
            state.fault(Call::Delete, &p.to_string())?;
            let pod =
                state.world.pods.remove(p).ok_or_else(|| ClusterError::NotFound(format!("pod {p}: not found")))?;
            state.deleted.push((p.clone(), grace));
            // Its StatefulSet makes it again, from the template (without a quarantine label).
            if let Some(sts) = pod.statefulset {
                state.reconcile(&StsRef { namespace: p.namespace.clone(), name: sts });
            }
            Ok(match grace {
                Some(0) => format!("pod {p} deleted with zero grace period"),
                Some(n) => format!("pod {p} deleted ({n}s grace period)"),
                None => format!("pod {p} deleted"),
            })
        })
    }

    fn namespaces_without_policy(&self, namespaces: &[String]) -> ClusterResult<Vec<String>> {
        let state = self.state();
        let mut missing = Vec::new();
        for ns in namespaces {
            state.fault(Call::GetPolicy, ns)?;
            match state.world.policies.get(ns) {
                None => missing.push(ns.clone()),
                Some(true) => {}
                Some(false) => {
                    return Err(ClusterError::Conflict(format!(
                        "networkpolicy {ns}/{QUARANTINE_POLICY} exists but is not a deny-all for \
                         {QUARANTINE_LABEL}=true; quarantine would not isolate (fix or delete it)"
                    )))
                }
            }
        }
        Ok(missing)
    }

    fn create_policies(&self, namespaces: &[String]) -> Vec<Outcome<String>> {
        self.each(namespaces, |state, ns| {
            state.fault(Call::CreatePolicy, ns)?;
            if state.world.policies.contains_key(ns) {
                return Ok(format!("networkpolicy {ns}/{QUARANTINE_POLICY} already exists"));
            }
            state.world.policies.insert(ns.clone(), true);
            Ok(format!("created networkpolicy {ns}/{QUARANTINE_POLICY}"))
        })
    }

    fn quarantine(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        self.label(targets, true)
    }

    fn release(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        self.label(targets, false)
    }
}

/// A label selector as the API server reads one: `,`-separated requirements `k=v`, `k==v`,
/// `k!=v`, `k`, `!k`, `k in (a, b)`, `k notin (a, b)`; empty selects everything.
#[derive(Debug, Default)]
struct LabelSelector(Vec<Requirement>);

#[derive(Debug)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

impl LabelSelector {
    fn parse(text: &str) -> ClusterResult<Self> {
        let bad = || ClusterError::Invalid(format!("unable to parse requirement in label selector {text:?}"));
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.checked_sub(1).ok_or_else(bad)?,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let set = |rest: &str| -> ClusterResult<Vec<String>> {
                let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
                Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
            };
            let r = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotIn(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::In(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().to_owned(), set(rest)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(k.trim().to_owned(), set(rest)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::Absent(k.trim().to_owned())
            } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                Requirement::Exists(part.to_owned())
            } else {
                return Err(bad());
            };
            out.push(r);
        }
        Ok(LabelSelector(out))
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn selectors_read_as_the_api_server_reads_them() {
        let l = labels(&[("app", "ai-agent-runtime"), ("tier", "agents")]);
        for (sel, want) in [
            ("", true),
            ("app=ai-agent-runtime", true),
            ("app==ai-agent-runtime,tier=agents", true),
            ("app!=ai-agent-runtime", false),
            ("app in (web, ai-agent-runtime)", true),
            ("app notin (web, ai-agent-runtime)", false),
            ("tier", true),
            ("!tier", false),
            ("app in (web, other), tier", false),
        ] {
            assert_eq!(LabelSelector::parse(sel).map(|s| s.matches(&l)), Ok(want), "{sel}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a)").is_err());
    }

    #[test]
    fn a_statefulset_keeps_its_pods_at_its_replica_count() {
        let c = MemoryCluster::new("ns");
        let sts = c.add_statefulset("ns", "agents", 2, &[("app", "ai-agent-runtime")]);
        let names = |c: &MemoryCluster| c.world().pods.keys().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c), ["agents-0", "agents-1"]);
        let zero = PodRef { namespace: "ns".into(), name: "agents-0".into() };
        c.quarantine(std::slice::from_ref(&zero));
        assert!(c.pod(&zero).is_some_and(|p| p.quarantined));
        c.delete_pods(std::slice::from_ref(&zero), Some(0));
        assert!(c.pod(&zero).is_some_and(|p| !p.quarantined), "made again from the template");
        c.hard_stop(std::slice::from_ref(&sts));
        assert!(names(&c).is_empty());
        c.restore(std::slice::from_ref(&sts));
        assert_eq!(names(&c), ["agents-0", "agents-1"]);
    }
}
