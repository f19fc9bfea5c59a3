// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Kubernetes against a real kube-apiserver (scripts/services/kube.sh): discovery across
//! namespaces, posture from real pod specs, hard stop / resume, kill, quarantine / release (and
//! a quarantine that partly failed), the restricted identity's exact refusal, listing that
//! degrades on Forbidden, and the real `kubectl quell` plugin with --context, -n, --kubeconfig
//! and KUBECONFIG.
//!
//! There is no kubelet or scheduler: the tests create pods and StatefulSets through the API
//! and set pod status through the status subresource.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use quell::adapters::embedded::EmbeddedStore;
use quell::adapters::kubernetes::{Kube, KubeOptions};
use quell::model::action::ActionKind;
use quell::model::audit::EventKind;
use quell::model::operator::Operator;
use quell::model::session::Session;
use quell::model::time;
use quell::ports::cluster::{Cluster, ClusterError, Namespaces, PodView, QUARANTINE_LABEL, REPLICAS_ANNOTATION};
use quell::ports::{AuditQuery, Stores};
use quell::services::cluster as service;
use quell::services::control::Target;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kubeconfig() -> PathBuf {
    match std::env::var_os("QUELL_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "QUELL_TEST_KUBECONFIG is not set: these tests need the real kube-apiserver. Start it with \
             `scripts/services/kube.sh start` and export the lines of `scripts/services/kube.sh env` \
             (or run `scripts/services/all.sh up` and source target/test-services/services.env)"
        ),
    }
}

fn suffix() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("random");
    hex::encode(b)
}

/// The admin identity, for setting the stage through the API.
struct Admin {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Admin {
    fn new() -> Admin {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let kc = kube::config::Kubeconfig::read_from(kubeconfig()).expect("read kubeconfig");
        let opts = kube::config::KubeConfigOptions { context: Some("quell-admin".into()), ..Default::default() };
        let config = rt.block_on(kube::Config::from_custom_kubeconfig(kc, &opts)).expect("config");
        let client = {
            let _g = rt.enter();
            kube::Client::try_from(config).expect("client")
        };
        Admin { rt, client }
    }

    fn create<K>(&self, api: Api<K>, v: Value) -> K
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(v).expect("object json");
        self.rt.block_on(api.create(&PostParams::default(), &obj)).expect("create")
    }

    fn namespace(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", suffix());
        self.create(Api::<Namespace>::all(self.client.clone()), json!({"metadata": {"name": name}}));
        name
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn sts(&self, ns: &str) -> Api<StatefulSet> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// A StatefulSet of the seed's shape with `replicas`; returns its uid.
    fn statefulset(&self, ns: &str, name: &str, replicas: i32) -> String {
        let s: StatefulSet = self.create(
            self.sts(ns),
            json!({
                "metadata": {"name": name},
                "spec": {
                    "replicas": replicas,
                    "serviceName": "agent-runtime",
                    "selector": {"matchLabels": {"app": "ai-agent-runtime", "set": name}},
                    "template": {
                        "metadata": {"labels": {"app": "ai-agent-runtime", "set": name}},
                        "spec": {"containers": [{"name": "agent-runtime", "image": "agent-runtime:v2.1.0"}]}
                    }
                }
            }),
        );
        s.metadata.uid.expect("uid")
    }

    /// A pod (owned by `owner` = (statefulset, uid) when given) with phase, node and restarts
    /// set through the status subresource.
    fn pod(&self, ns: &str, name: &str, labels: Value, owner: Option<(&str, &str)>, spec: Value, restarts: i32) {
        let mut meta = json!({"name": name, "labels": labels});
        if let Some((sts, uid)) = owner {
            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts,
                "uid": uid, "controller": true}]);
        }
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "agent-runtime", "image": "agent-runtime:v2.1.0"}]);
        }
        spec["nodeName"] = json!("node-a");
        self.create(self.pods(ns), json!({"metadata": meta, "spec": spec}));
        let status = json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "agent-runtime", "ready": true, "restartCount": restarts,
            "image": "agent-runtime:v2.1.0", "imageID": "", "state": {"running": {}}}]}});
        self.rt
            .block_on(self.pods(ns).patch_status(name, &PatchParams::default(), &Patch::Merge(&status)))
            .expect("patch status");
    }

    fn get_pod(&self, ns: &str, name: &str) -> Option<Pod> {
        self.rt.block_on(self.pods(ns).get_opt(name)).expect("get pod")
    }

    fn get_sts(&self, ns: &str, name: &str) -> StatefulSet {
        self.rt.block_on(self.sts(ns).get(name)).expect("get sts")
    }

    fn policy(&self, ns: &str) -> Option<NetworkPolicy> {
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), ns);
        self.rt.block_on(api.get_opt("quell-quarantine")).expect("get policy")
    }
}

fn replicas(s: &StatefulSet) -> i32 {
    s.spec.replicas.expect("replicas")
}

fn annotation(s: &StatefulSet) -> Option<String> {
    s.metadata.annotations.as_ref().and_then(|a| a.get(REPLICAS_ANNOTATION)).cloned()
}

fn label(p: &Pod, key: &str) -> Option<String> {
    p.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned()
}

/// A fresh embedded store holding sessions that report (namespace, pod).
fn store(dir: &Path, sessions: &[(&str, &str, &str)]) -> (PathBuf, Stores) {
    let path = dir.join("quell.db");
    let stores = EmbeddedStore::open(&path).expect("store").stores();
    let now = time::now();
    let list: Vec<Session> = sessions
        .iter()
        .map(|(id, ns, pod)| {
            let mut s = Session::new(*id, "agent", now);
            s.namespace = Some((*ns).into());
            s.pod = Some((*pod).into());
            s
        })
        .collect();
    stores.sessions.put_sessions(&list).expect("put sessions");
    (path, stores)
}

fn connect(context: &str, namespace: Option<&str>) -> Kube {
    Kube::connect(&KubeOptions {
        kubeconfig: Some(kubeconfig()),
        context: Some(context.into()),
        namespace: namespace.map(str::to_owned),
        impersonate: None,
    })
    .expect("connect")
}

/// The operator the tests act as.
fn alice() -> quell::model::operator::Acting {
    Operator::new("alice").acting().expect("may act")
}

fn operator_events(stores: &Stores) -> Vec<quell::model::audit::AuditEvent> {
    stores.audit.read(&AuditQuery { kinds: vec![EventKind::OperatorAction], ..Default::default() }).expect("read audit")
}

fn quell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quell"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("QUELL_CONTEXT")
        .env_remove("QUELL_NAMESPACE")
        .env_remove("QUELL_KUBECONFIG")
        .env_remove("QUELL_AS")
        .env("QUELL_CONFIG", "/dev/null")
        .output()
        .expect("run quell")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn seed_spec() -> Value {
    json!({"containers": [{"name": "agent-runtime", "image": "agent-runtime:v2.1.0", "securityContext": {
        "runAsNonRoot": true, "runAsUser": 1000, "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]})
}

#[test]
fn discovery_across_namespaces_with_selectors_joins_sessions() {
    let admin = Admin::new();
    let a = admin.namespace("q-disc-a");
    let b = admin.namespace("q-disc-b");
    let agent = json!({"app": "ai-agent-runtime", "tier": "agents"});
    admin.pod(&a, "agent-0", agent.clone(), None, json!({}), 2);
    admin.pod(&a, "web-0", json!({"app": "web", "tier": "agents"}), None, json!({}), 0);
    admin.pod(&b, "agent-0", agent.clone(), None, json!({}), 5);
    admin.pod(&b, "other-0", json!({"app": "other"}), None, json!({}), 0);
    admin.pod(&a, "agent-9", agent.clone(), None, json!({}), 0);

    let kube = connect("quell-admin", None);
    let ours = |pods: &[PodView]| -> Vec<String> {
        let mut v: Vec<String> = pods
            .iter()
            .filter(|p| p.namespace == a || p.namespace == b)
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        v.sort();
        v
    };
    let all = kube.discover(&Namespaces::All, "app=ai-agent-runtime", &[]).expect("discover");
    assert!(all.warnings.is_empty(), "{:?}", all.warnings);
    assert_eq!(ours(&all.pods), [format!("{a}/agent-0"), format!("{a}/agent-9"), format!("{b}/agent-0")]);
    let tier = kube.discover(&Namespaces::Only(vec![a.clone()]), "tier=agents", &[]).expect("discover");
    assert_eq!(ours(&tier.pods), [format!("{a}/agent-0"), format!("{a}/agent-9"), format!("{a}/web-0")]);
    let set = kube.discover(&Namespaces::All, "app in (web, other)", &[]).expect("discover");
    assert_eq!(ours(&set.pods), [format!("{a}/web-0"), format!("{b}/other-0")]);
    let b0 = all.pods.iter().find(|p| p.namespace == b).expect("pod in b");
    assert_eq!((b0.phase.as_str(), b0.node.as_deref(), b0.restarts), ("Running", Some("node-a"), 5));

    // Joined with sessions, through the real binary: pod columns appear with a kube context.
    let dir = tempfile::tempdir().expect("tmp");
    let (db, _) = store(dir.path(), &[("s-a", &a, "agent-0"), ("s-b", &b, "agent-0"), ("s-x", &b, "gone-0")]);
    let kc = kubeconfig();
    let base = ["--store", db.to_str().expect("utf8"), "--kubeconfig", kc.to_str().expect("utf8")];
    let out = quell(&[&base[..], &["--context", "quell-admin", "sessions", "-o", "json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let by_id = |id: &str| rows.iter().find(|r| r["id"] == id).cloned().expect("row");
    assert_eq!(by_id("s-a")["pod_status"]["restarts"], 2);
    assert_eq!(by_id("s-b")["pod_status"]["phase"], "Running");
    assert_eq!(by_id("s-b")["pod_status"]["node"], "node-a");
    assert_eq!(by_id("s-x")["pod_status"], Value::Null);
    let table = quell(&[&base[..], &["--context", "quell-admin", "sessions"]].concat());
    let t = text(&table.stdout);
    assert!(t.lines().next().is_some_and(|h| h.contains("PHASE") && h.contains("POSTURE")), "{t}");
    let narrowed = text(&quell(&[&base[..], &["-n", &a, "sessions"]].concat()).stdout);
    assert!(narrowed.contains(&format!("pod {a}/agent-9 (Running): no session reports it")), "{narrowed}");
    assert!(!narrowed.contains("s-b") && narrowed.contains("s-a"), "-n narrows the sessions too: {narrowed}");
    // Without a kube context the listing is unchanged.
    let plain = quell(&["--store", db.to_str().expect("utf8"), "sessions"]);
    assert!(!text(&plain.stdout).contains("POSTURE"));
}

#[test]
fn posture_is_read_from_real_pod_specs() {
    let admin = Admin::new();
    let ns = admin.namespace("q-posture");
    let tag = suffix();
    let sandboxed = format!("sandboxed-{tag}");
    let fake = format!("gvisor-fake-{tag}");
    admin.create(
        Api::<RuntimeClass>::all(admin.client.clone()),
        json!({"metadata": {"name": sandboxed}, "handler": "runsc"}),
    );
    admin
        .create(Api::<RuntimeClass>::all(admin.client.clone()), json!({"metadata": {"name": fake}, "handler": "runc"}));
    let app = json!({"app": "ai-agent-runtime"});
    let mut seed = seed_spec();
    seed["runtimeClassName"] = json!(sandboxed);
    admin.pod(&ns, "seed-0", app.clone(), None, seed, 0);
    let mut named = seed_spec();
    named["runtimeClassName"] = json!(fake);
    admin.pod(&ns, "fake-0", app.clone(), None, named, 0);
    admin.pod(
        &ns,
        "weak-0",
        app.clone(),
        None,
        json!({"securityContext": {"runAsNonRoot": true}, "containers": [
            {"name": "agent-runtime", "image": "x", "securityContext": {"readOnlyRootFilesystem": true}},
            {"name": "sidecar", "image": "y", "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]}}}]}),
        0,
    );
    let kube = connect("quell-admin", Some(&ns));
    let found = kube.discover(&Namespaces::Only(vec![ns.clone()]), "app=ai-agent-runtime", &[]).expect("discover");
    let get = |n: &str| found.pods.iter().find(|p| p.name == n).cloned().expect("pod");
    let seed = get("seed-0").posture;
    assert_eq!(seed.runtime_class.as_deref(), Some(sandboxed.as_str()));
    assert!(seed.gvisor && seed.run_as_non_root && seed.read_only_root_fs);
    assert!(seed.privilege_escalation_off && seed.capabilities_dropped);
    assert_eq!(seed.summary(), "ok");
    // The handler decides, not the name.
    assert_eq!(get("fake-0").posture.summary(), "!gvisor");
    assert_eq!(get("weak-0").posture.missing(), ["gvisor", "non-root", "ro-rootfs", "no-escalation", "caps-dropped"]);
}

#[test]
fn hard_stop_and_resume_round_trip_the_replica_count() {
    let admin = Admin::new();
    let ns = admin.namespace("q-stop");
    let uid = admin.statefulset(&ns, "agents", 3);
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&ns, "agents-0", app.clone(), Some(("agents", &uid)), json!({}), 0);
    admin.pod(&ns, "agents-1", app.clone(), Some(("agents", &uid)), json!({}), 0);
    let uid2 = admin.statefulset(&ns, "solo", 1);
    admin.pod(&ns, "solo-0", app, Some(("solo", &uid2)), json!({}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (_, stores) = store(dir.path(), &[("s0", &ns, "agents-0"), ("s1", &ns, "agents-1"), ("s2", &ns, "solo-0")]);
    let kube = connect("quell-admin", None);

    let target = Target::Sessions(vec!["s0".into(), "s1".into(), "s2".into()]);
    let plan = service::plan(&stores, &kube, ActionKind::HardStop, &target, "ignores pause", "alice").expect("plan");
    assert_eq!(plan.statefulsets.len(), 2, "two pods of one StatefulSet count once");
    let report = service::execute(&stores, &kube, &alice(), &plan).expect("hard stop");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let s = admin.get_sts(&ns, "agents");
    assert_eq!((replicas(&s), annotation(&s).as_deref()), (0, Some("3")));
    let s = admin.get_sts(&ns, "solo");
    assert_eq!((replicas(&s), annotation(&s).as_deref()), (0, Some("1")));
    // Stopping again keeps the remembered count.
    let again = service::plan(&stores, &kube, ActionKind::HardStop, &target, "again", "alice").expect("plan");
    let r = service::execute(&stores, &kube, &alice(), &again).expect("again");
    assert!(r.done.iter().all(|l| l.contains("already stopped")), "{:?}", r.done);
    assert_eq!(annotation(&admin.get_sts(&ns, "agents")).as_deref(), Some("3"));

    // The StatefulSet controller would delete the pods now; resume must still find the sets.
    for p in ["agents-0", "agents-1", "solo-0"] {
        let dp = kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        admin.rt.block_on(admin.pods(&ns).delete(p, &dp)).expect("delete");
    }
    let plan = service::plan(&stores, &kube, ActionKind::Restore, &target, "fixed", "alice").expect("plan");
    let report = service::execute(&stores, &kube, &alice(), &plan).expect("restore");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let s = admin.get_sts(&ns, "agents");
    assert_eq!((replicas(&s), annotation(&s)), (3, None));
    assert_eq!(replicas(&admin.get_sts(&ns, "solo")), 1);

    let events = operator_events(&stores);
    let actions: Vec<&str> = events.iter().filter_map(|e| e.body.attributes["quell.action"].as_str()).collect();
    // A restore is its own operation, audited as `restore` (it used to be recorded as a resume).
    assert_eq!(actions, ["hard-stop", "hard-stop", "restore"]);
    assert!(events.iter().all(|e| e.body.identity == "operator:alice"));
    let outcome = events[0].body.attributes["quell.outcome"].as_str().expect("outcome");
    assert!(outcome.contains("scaled from 3 to 0 replicas"), "{outcome}");
}

#[test]
fn kill_pod_with_normal_and_zero_grace() {
    let admin = Admin::new();
    let ns = admin.namespace("q-kill");
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&ns, "a-0", app.clone(), None, json!({"terminationGracePeriodSeconds": 30}), 0);
    admin.pod(&ns, "b-0", app, None, json!({"terminationGracePeriodSeconds": 30}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (db, stores) = store(dir.path(), &[("sa", &ns, "a-0"), ("sb", &ns, "b-0")]);
    let kc = kubeconfig();
    let base = ["--store", db.to_str().expect("utf8"), "--kubeconfig", kc.to_str().expect("utf8")];

    // Normal: the pod is bound to a node, so it is marked for deletion and waits for its
    // kubelet (there is none) during its grace period.
    let out = quell(&[&base[..], &["kill-pod", "sa", "--reason", "looping"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = admin.get_pod(&ns, "a-0").expect("still terminating");
    assert!(a.metadata.deletion_timestamp.is_some());
    assert_eq!(a.metadata.deletion_grace_period_seconds, Some(30));
    // Zero grace: gone at once.
    let out = quell(&[&base[..], &["kill-pod", "sb", "--now", "--reason", "exfiltrating", "-o", "json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(admin.get_pod(&ns, "b-0").is_none());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["operator"], "quell-admin", "the kubeconfig user acts unless --as");
    assert_eq!(v["action"], "kill-pod");
    assert_eq!(v["reached"], json!([format!("{ns}/b-0")]), "the pod it took effect on, by name");
    assert_eq!(v["missed"], json!([]));
    let events = operator_events(&stores);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].body.identity, "operator:quell-admin");
    assert_eq!(events[1].body.attributes["quell.reason"], "exfiltrating");
    // A reason is required; nothing happens without one.
    let out = quell(&[&base[..], &["kill-pod", "sa", "--now"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(admin.get_pod(&ns, "a-0").is_some());
}

#[test]
fn quarantine_creates_the_policy_and_labels_the_pod_and_release_removes_it() {
    let admin = Admin::new();
    let ns = admin.namespace("q-quar");
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&ns, "a-0", app.clone(), None, json!({}), 0);
    admin.pod(&ns, "b-0", app, None, json!({}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (db, stores) = store(dir.path(), &[("qa", &ns, "a-0"), ("qb", &ns, "b-0")]);
    let kc = kubeconfig();
    let base = ["--store", db.to_str().expect("utf8"), "--kubeconfig", kc.to_str().expect("utf8")];
    assert!(admin.policy(&ns).is_none());

    let out = quell(&[&base[..], &["quarantine", "qa", "--reason", "prompt injection", "--as", "bob"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let so = text(&out.stdout);
    assert!(so.contains(&format!("created networkpolicy {ns}/quell-quarantine")), "{so}");
    let policy = admin.policy(&ns).expect("policy created");
    let spec = policy.spec.expect("spec");
    let selector = spec.pod_selector.and_then(|s| s.match_labels).expect("selector");
    assert_eq!(selector.get(QUARANTINE_LABEL).map(String::as_str), Some("true"));
    assert_eq!(spec.policy_types.as_deref(), Some(&["Ingress".to_owned(), "Egress".to_owned()][..]));
    assert!(spec.ingress.is_none() && spec.egress.is_none(), "deny-all: no rule allows anything");
    assert_eq!(label(&admin.get_pod(&ns, "a-0").expect("pod"), QUARANTINE_LABEL).as_deref(), Some("true"));
    assert_eq!(label(&admin.get_pod(&ns, "b-0").expect("pod"), QUARANTINE_LABEL), None);

    // Second time: the policy is there and is reused.
    let out = quell(&[&base[..], &["quarantine", "--where", "id=qb", "--reason", "same campaign"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("created networkpolicy"));
    assert_eq!(label(&admin.get_pod(&ns, "b-0").expect("pod"), QUARANTINE_LABEL).as_deref(), Some("true"));

    // The pod listing shows it.
    let list = quell(&[&base[..], &["-n", &ns, "sessions"]].concat());
    assert!(text(&list.stdout).contains("Running,quarantined"), "{}", text(&list.stdout));

    let out = quell(&[&base[..], &["release", "qa", "qb", "--reason", "cleaned"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    for p in ["a-0", "b-0"] {
        assert_eq!(label(&admin.get_pod(&ns, p).expect("pod"), QUARANTINE_LABEL), None);
    }
    assert!(admin.policy(&ns).is_some(), "release keeps the policy for the next quarantine");
    let events = operator_events(&stores);
    let who: Vec<&str> = events.iter().map(|e| e.body.identity.raw()).collect();
    assert_eq!(who, ["operator:bob", "operator:quell-admin", "operator:quell-admin"]);
    assert_eq!(events[2].body.attributes["quell.action"], "release");
}

/// A pod that goes away between plan and execute: the other is quarantined, and the audit
/// record names which pod was and which was not.
#[test]
fn a_partial_quarantine_is_recorded_pod_by_pod() {
    let admin = Admin::new();
    let ns = admin.namespace("q-part");
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&ns, "a-0", app.clone(), None, json!({}), 0);
    admin.pod(&ns, "b-0", app, None, json!({}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (_, stores) = store(dir.path(), &[("pa", &ns, "a-0"), ("pb", &ns, "b-0")]);
    let kube = connect("quell-admin", None);
    let target = Target::Sessions(vec!["pa".into(), "pb".into()]);
    let plan = service::plan(&stores, &kube, ActionKind::Quarantine, &target, "campaign", "alice").expect("plan");
    let dp = kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    admin.rt.block_on(admin.pods(&ns).delete("b-0", &dp)).expect("delete");

    let report = service::execute(&stores, &kube, &alice(), &plan).expect("executes");
    let pod = |name: &str| quell::ports::cluster::PodRef { namespace: ns.clone(), name: name.into() };
    assert_eq!(report.reached, [pod("a-0")]);
    assert!(
        matches!(report.missed.as_slice(), [(p, ClusterError::NotFound(_))] if *p == pod("b-0")),
        "{:?}",
        report.missed
    );
    assert_eq!(label(&admin.get_pod(&ns, "a-0").expect("pod"), QUARANTINE_LABEL).as_deref(), Some("true"));
    let events = operator_events(&stores);
    let outcome = events[0].body.attributes["quell.outcome"].as_str().expect("outcome");
    let want = format!("quarantined 1 of 2 pods: {ns}/a-0; not quarantined: {ns}/b-0");
    assert!(outcome.contains(&want), "{outcome}");
}

#[test]
fn the_viewer_gets_the_exact_missing_permission_and_nothing_changes() {
    let admin = Admin::new();
    let ns = admin.namespace("genai-prod");
    let uid = admin.statefulset(&ns, "ai-agent-runtime", 3);
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&ns, "ai-agent-runtime-0", app, Some(("ai-agent-runtime", &uid)), json!({}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (db, stores) = store(dir.path(), &[("v0", &ns, "ai-agent-runtime-0")]);
    let kc = kubeconfig();
    let base = [
        "--store",
        db.to_str().expect("utf8"),
        "--kubeconfig",
        kc.to_str().expect("utf8"),
        "--context",
        "quell-viewer",
    ];

    let out = quell(&[&base[..], &["hard-stop", "v0", "--reason", "runaway"]].concat());
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot patch statefulsets/scale in {ns}")), "{err}");
    assert!(err.starts_with("quell: hard-stop refused for quell-viewer (nothing changed): "), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let s = admin.get_sts(&ns, "ai-agent-runtime");
    assert_eq!((replicas(&s), annotation(&s)), (3, None));

    let out = quell(&[&base[..], &["quarantine", "v0", "--reason", "x"]].concat());
    assert_eq!(out.status.code(), Some(8));
    assert!(text(&out.stderr).contains(&format!("cannot patch pods in {ns}")), "{}", text(&out.stderr));
    assert!(admin.policy(&ns).is_none());
    assert_eq!(label(&admin.get_pod(&ns, "ai-agent-runtime-0").expect("pod"), QUARANTINE_LABEL), None);

    let out = quell(&[&base[..], &["kill-pod", "v0", "--now", "--reason", "x"]].concat());
    assert_eq!(out.status.code(), Some(8));
    assert!(text(&out.stderr).contains(&format!("cannot delete pods in {ns}")));
    assert!(admin.get_pod(&ns, "ai-agent-runtime-0").is_some());
    assert!(operator_events(&stores).is_empty(), "a refused action is not recorded as done");

    // What the viewer may do: look. The console hides the rest.
    let viewer = connect("quell-viewer", None);
    assert!(service::allowed_actions(&viewer, &ns).expect("review").is_empty());
    assert_eq!(service::allowed_actions(&connect("quell-admin", None), &ns).expect("review").len(), 5);
    let list = quell(&[&base[..], &["sessions", "-o", "json"]].concat());
    assert!(list.status.success(), "{}", text(&list.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(rows[0]["pod_status"]["name"], "ai-agent-runtime-0");
}

#[test]
fn a_forbidden_listing_degrades_to_what_the_user_may_see() {
    let admin = Admin::new();
    let a = admin.namespace("q-limit-a");
    let b = admin.namespace("q-limit-b");
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&a, "agent-0", app.clone(), None, json!({}), 0);
    admin.pod(&b, "agent-0", app, None, json!({}), 0);
    // A user who may list pods in `a` only (the admin impersonates it).
    let user = format!("limited-{}", suffix());
    admin.create(
        Api::<Role>::namespaced(admin.client.clone(), &a),
        json!({"metadata": {"name": "pods"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
    );
    admin.create(
        Api::<RoleBinding>::namespaced(admin.client.clone(), &a),
        json!({"metadata": {"name": "pods"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
    );
    let limited = Kube::connect(&KubeOptions {
        kubeconfig: Some(kubeconfig()),
        context: Some("quell-admin".into()),
        namespace: Some(a.clone()),
        impersonate: Some(user.clone()),
    })
    .expect("connect");
    assert_eq!(limited.user.as_deref(), Some(user.as_str()));
    let found = limited
        .discover(&Namespaces::All, "app=ai-agent-runtime", std::slice::from_ref(&b))
        .expect("degrades, no error");
    let names: Vec<String> = found.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
    assert_eq!(names, [format!("{a}/agent-0")]);
    assert!(found.warnings.iter().any(|w| w.starts_with("cannot list pods in all namespaces")), "{:?}", found.warnings);
    assert!(found.warnings.contains(&format!("cannot list pods in {b}")), "{:?}", found.warnings);
    // And a write is refused by name before anything is tried.
    match limited.check(&service::permissions(ActionKind::Release, &b)) {
        Err(ClusterError::Forbidden(m)) => assert_eq!(m, format!("cannot patch pods in {b}")),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// Runs `kubectl quell ARGS` with the plugin found on PATH, as a user would.
fn kubectl_quell(args: &[&str], kubeconfig_env: Option<&Path>) -> Output {
    let plugin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-quell"));
    let dir = plugin.parent().expect("bin dir").to_owned();
    let path = std::env::join_paths(
        std::iter::once(dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let mut cmd = Command::new("kubectl");
    cmd.arg("quell")
        .args(args)
        .env("PATH", path)
        .env_remove("KUBECONFIG")
        .env_remove("QUELL_AS")
        .env("QUELL_CONFIG", "/dev/null");
    if let Some(k) = kubeconfig_env {
        cmd.env("KUBECONFIG", k);
    }
    cmd.output().expect("run kubectl (is it installed?)")
}

#[test]
fn the_kubectl_plugin_honours_context_namespace_and_kubeconfig() {
    let admin = Admin::new();
    let a = admin.namespace("q-plug-a");
    let b = admin.namespace("q-plug-b");
    let uid = admin.statefulset(&a, "agents", 2);
    let app = json!({"app": "ai-agent-runtime"});
    admin.pod(&a, "agents-0", app.clone(), Some(("agents", &uid)), json!({}), 1);
    admin.pod(&b, "agent-0", app, None, json!({}), 0);
    let dir = tempfile::tempdir().expect("tmp");
    let (db, stores) = store(dir.path(), &[("pa", &a, "agents-0"), ("pb", &b, "agent-0")]);
    let kc = kubeconfig();
    let dbs = db.to_str().expect("utf8");
    let kcs = kc.to_str().expect("utf8");

    // -n narrows to one namespace, --kubeconfig names the file.
    let out = kubectl_quell(&["--kubeconfig", kcs, "-n", &a, "sessions", "-o", "json", "--store", dbs], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], "pa");
    assert_eq!(rows[0]["pod_status"]["restarts"], 1);
    // --namespace, the long form, and KUBECONFIG instead of --kubeconfig.
    let out = kubectl_quell(&["sessions", "--namespace", &b, "-o", "json", "--store", dbs], Some(&kc));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), [json!("pb")]);
    // KUBECONFIG holding several files, merged as kubectl merges them (first wins).
    let extra = dir.path().join("extra.yaml");
    std::fs::write(&extra, "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n").expect("write");
    let joined = std::env::join_paths([extra.clone(), kc.clone()]).expect("join");
    let out = kubectl_quell(&["-n", &b, "sessions", "--store", dbs], Some(Path::new(&joined)));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("POSTURE"));
    // --context picks the identity: the viewer is refused by name, the admin acts.
    let stop = ["hard-stop", "pa", "--reason", "runaway", "--store", dbs, "--kubeconfig", kcs];
    let out = kubectl_quell(&[&stop[..], &["--context", "quell-viewer"]].concat(), None);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("cannot patch statefulsets/scale in {a}")), "{}", text(&out.stderr));
    assert_eq!(replicas(&admin.get_sts(&a, "agents")), 2);
    let out = kubectl_quell(&[&stop[..], &["--context", "quell-admin"]].concat(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(replicas(&admin.get_sts(&a, "agents")), 0);
    assert_eq!(operator_events(&stores)[0].body.identity, "operator:quell-admin");
    let out = kubectl_quell(
        &["--context", "no-such-context", "--kubeconfig", kcs, "--store", dbs, "hard-stop", "pa", "--reason", "x"],
        None,
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("no-such-context"), "{}", text(&out.stderr));
    // Help names the plugin as it is typed.
    let help = kubectl_quell(&["--help"], None);
    assert!(text(&help.stdout).contains("kubectl quell"), "{}", text(&help.stdout));
}

#[test]
fn bad_input_from_the_cluster_or_the_kubeconfig_is_one_clear_line() {
    let admin = Admin::new();
    let ns = admin.namespace("q-bad");
    let uid = admin.statefulset(&ns, "agents", 2);
    admin.pod(&ns, "agents-0", json!({"app": "ai-agent-runtime"}), Some(("agents", &uid)), json!({}), 0);
    let note = json!({"metadata": {"annotations": {REPLICAS_ANNOTATION: "three"}}});
    admin.rt.block_on(admin.sts(&ns).patch("agents", &PatchParams::default(), &Patch::Merge(&note))).expect("annotate");
    let dir = tempfile::tempdir().expect("tmp");
    let (db, stores) = store(dir.path(), &[("b0", &ns, "agents-0")]);
    let kc = kubeconfig();
    let base = ["--store", db.to_str().expect("utf8"), "--kubeconfig", kc.to_str().expect("utf8")];
    // A garbage remembered count: refused with the value named, nothing scaled.
    let out = quell(&[&base[..], &["hard-stop", "--resume", "b0", "--reason", "x"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("is \"three\", not a replica count"), "{}", text(&out.stdout));
    assert_eq!(replicas(&admin.get_sts(&ns, "agents")), 2);
    assert_eq!(operator_events(&stores).len(), 1, "the failed attempt is recorded with its outcome");

    // A kubeconfig that is not YAML: its contents (credentials) are never echoed.
    let bad = dir.path().join("bad-kubeconfig");
    std::fs::write(&bad, "users:\n- name: x\n  user:\n    token: SECRET-TOKEN-123\n   bad: [indent\n").expect("write");
    let out = quell(&[
        "--store",
        db.to_str().expect("utf8"),
        "--kubeconfig",
        bad.to_str().expect("utf8"),
        "kill-pod",
        "b0",
        "--reason",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("kubeconfig") && !err.contains("SECRET-TOKEN-123"), "{err}");
    // A cluster that cannot be reached: the session listing still works, with a warning.
    let unreachable = dir.path().join("unreachable");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    std::fs::write(
        &unreachable,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n\
             users:\n- name: u\n  user:\n    token: SECRET-TOKEN-456\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n"
        ),
    )
    .expect("write");
    let out = quell(&[
        "--store",
        db.to_str().expect("utf8"),
        "--kubeconfig",
        unreachable.to_str().expect("utf8"),
        "sessions",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("b0"));
    let err = text(&out.stderr);
    assert!(err.starts_with("quell: warning: no pod columns:"), "{err}");
    assert!(!err.contains("SECRET-TOKEN-456"), "{err}");
}

/// The console's kube feed against the real apiserver: pods joined, the admin offered its pod
/// actions and the viewer none (keys refused), and a confirmed quarantine run through the
/// console's own path; the viewer's is refused with the missing permission.
#[test]
fn the_console_offers_the_admin_its_pod_actions_and_the_viewer_none() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use quell::interfaces::tui::app::{update, App, Effect, Msg};
    use quell::interfaces::tui::cluster::{self as tui_kube, KubeState, TuiKube};
    use quell::interfaces::tui::{keymap::Keymap, theme::Theme};
    use quell::model::action::OperatorAction;

    let admin = Admin::new();
    let ns = admin.namespace("q-console");
    admin.pod(&ns, "agent-0", json!({"app": "ai-agent-runtime"}), None, seed_spec(), 3);
    let dir = tempfile::tempdir().expect("tmp");
    let (_, stores) = store(dir.path(), &[("c0", &ns, "agent-0")]);
    let handle =
        |ctx: &str| TuiKube { client: std::sync::Arc::new(connect(ctx, Some(&ns))), selector: None, operator: None };
    let (as_admin, as_viewer) = (handle("quell-admin"), handle("quell-viewer"));

    let info = tui_kube::fetch(&stores, &as_admin).expect("admin reads pods");
    let cells = info.pods.get("c0").expect("the session is joined with its pod");
    assert_eq!((cells.phase.as_str(), cells.node.as_str(), cells.restarts), ("Running", "node-a", 3));
    assert_eq!(cells.posture, "!gvisor", "the seed spec has every layer but the runtime class");
    assert_eq!(info.allowed.len(), 5, "{:?}", info.allowed);
    let viewer_info = tui_kube::fetch(&stores, &as_viewer).expect("the viewer may look");
    assert!(viewer_info.pods.contains_key("c0"));
    assert!(viewer_info.allowed.is_empty(), "{:?}", viewer_info.allowed);

    let console = |info| {
        let mut app = App::new("alice", false, Keymap::default(), Theme::dark(), time::now());
        app.kube = Some(KubeState::default());
        update(&mut app, Msg::Kube(Box::new(Ok(info))));
        let sessions = stores.sessions.sessions().expect("sessions");
        update(
            &mut app,
            Msg::Snapshot(Box::new(quell::interfaces::tui::fleet::Snapshot::build(
                sessions,
                None,
                Vec::new(),
                time::now(),
            ))),
        );
        app
    };
    let q = || Msg::Key(KeyEvent::new(KeyCode::Char('Q'), KeyModifiers::NONE));
    let mut viewer_app = console(viewer_info);
    assert!(update(&mut viewer_app, q()).is_empty() && viewer_app.dialog.is_none(), "the viewer's Q is refused");
    let mut admin_app = console(info);
    let fx = update(&mut admin_app, q());
    let Some(Effect::Plan { kind, target }) = fx.first().cloned() else { panic!("no plan: {fx:?}") };
    assert!(admin_app.dialog.as_ref().is_some_and(|d| d.kind == ActionKind::Quarantine));

    // What the feed does with the plan, then with the confirmed action.
    let planned = tui_kube::plan(&stores, Some(&as_admin), kind, &target, "placeholder", "alice").expect("plan");
    let confirmed = OperatorAction::new(planned.kind, planned.scope.clone(), "prompt injection", "alice").expect("ok");
    let refused =
        tui_kube::execute(&stores, Some(&as_viewer), &alice(), &confirmed).expect_err("the viewer is refused");
    assert!(refused.contains(&format!("cannot patch pods in {ns}")), "{refused}");
    assert_eq!(label(&admin.get_pod(&ns, "agent-0").expect("pod"), QUARANTINE_LABEL), None, "nothing changed");
    assert!(operator_events(&stores).is_empty(), "a refused action is not recorded as done");
    let done = tui_kube::execute(&stores, Some(&as_admin), &alice(), &confirmed).expect("quarantined");
    assert!(done.contains("quarantine") && done.contains("0 failed"), "{done}");
    assert!(label(&admin.get_pod(&ns, "agent-0").expect("pod"), QUARANTINE_LABEL).is_some());
    assert!(admin.policy(&ns).is_some());
    let events = operator_events(&stores);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body.identity, "operator:alice");
    assert_eq!(events[0].body.attributes["quell.reason"], "prompt injection");
    let after = tui_kube::fetch(&stores, &as_admin).expect("fetch");
    assert!(after.pods.get("c0").is_some_and(|p| p.posture.starts_with("QUARANTINED")));

    // The same through the console's feed threads: release, then the pod columns catch up.
    let (tx, rx) = std::sync::mpsc::channel();
    let feed = quell::interfaces::tui::feed::start(
        stores.clone(),
        tx,
        Operator::new("alice"),
        None,
        Some(as_admin.clone()),
        Default::default(),
    )
    .expect("feed");
    let release = OperatorAction::new(ActionKind::Release, planned.scope.clone(), "false alarm", "alice").expect("ok");
    feed.run(Effect::Execute(release));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (mut released, mut caught_up) = (false, false);
    while !(released && caught_up) && std::time::Instant::now() < deadline {
        match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(Msg::KubeDone(r)) => {
                assert!(r.as_ref().is_ok_and(|l| l.contains("release")), "{r:?}");
                released = true;
            }
            Ok(Msg::Kube(info)) if released => {
                caught_up =
                    info.as_ref().as_ref().is_ok_and(|i| i.pods.get("c0").is_some_and(|p| p.posture == "!gvisor"));
            }
            _ => {}
        }
    }
    assert!(released && caught_up, "released {released}, columns caught up {caught_up}");
    assert_eq!(label(&admin.get_pod(&ns, "agent-0").expect("pod"), QUARANTINE_LABEL), None);

    // `:quarantine SELECTOR` in the console: the confirmed selector scope runs and is recorded.
    let sel = quell::model::selector::Selector::parse(&format!("namespace={ns}")).expect("selector");
    let by_sel = tui_kube::plan(&stores, Some(&as_admin), ActionKind::Quarantine, &Target::Selector(sel), "x", "alice")
        .expect("plan by selector");
    let confirmed = OperatorAction::new(by_sel.kind, by_sel.scope, "blast radius", "alice").expect("ok");
    let done = tui_kube::execute(&stores, Some(&as_admin), &alice(), &confirmed).expect("by selector");
    assert!(done.contains("0 failed"), "{done}");
    assert!(label(&admin.get_pod(&ns, "agent-0").expect("pod"), QUARANTINE_LABEL).is_some());
    let last = operator_events(&stores).pop().expect("recorded");
    assert_eq!(last.body.attributes["quell.reason"], "blast radius");
    let summary = last.body.attributes["quell.scope.summary"].as_str().unwrap_or_default().to_owned();
    assert!(summary.contains(&format!("namespace={ns}")), "the selector is recorded: {summary}");
}
