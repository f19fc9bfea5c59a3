//! The plan and execute logic against a cluster in memory: scope resolution, access review,
//! each action's effect, and what the audit record says.

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::adapters::memory_cluster::{Call, MemoryCluster};
use crate::model::audit::{AuditEvent, EventKind};
use crate::model::selector::Selector;
use crate::ports::AuditQuery;
use std::collections::BTreeMap;

/// A store holding sessions that report (id, namespace, pod); the directory lives as long as it.
fn store(sessions: &[(&str, Option<&str>, Option<&str>)]) -> (tempfile::TempDir, Stores) {
    let dir = tempfile::tempdir().expect("tmp");
    let stores = EmbeddedStore::open(&dir.path().join("quell.db")).expect("store").stores();
    let now = time::now();
    let list: Vec<Session> = sessions
        .iter()
        .map(|(id, ns, pod)| {
            let mut s = Session::new(*id, "agent", now);
            s.namespace = ns.map(Into::into);
            s.pod = pod.map(Into::into);
            s
        })
        .collect();
    stores.sessions.put_sessions(&list).expect("put sessions");
    (dir, stores)
}

/// The operator the tests act as.
fn alice() -> Acting {
    crate::model::operator::Operator::new("alice").acting().expect("may act")
}

fn operator_events(stores: &Stores) -> Vec<AuditEvent> {
    stores.audit.read(&AuditQuery { kinds: vec![EventKind::OperatorAction], ..Default::default() }).expect("read audit")
}

fn outcome(event: &AuditEvent) -> &str {
    event.body.attr_str("quell.outcome").unwrap_or_default()
}

fn sessions(ids: &[&str]) -> Target {
    Target::Sessions(ids.iter().map(|s| (*s).to_owned()).collect())
}

fn pod(ns: &str, name: &str) -> PodRef {
    PodRef { namespace: ns.into(), name: name.into() }
}

const AGENT: (&str, &str) = ("app", "ai-agent-runtime");

#[test]
fn scope_resolves_each_session_to_its_pod_across_namespaces() {
    let (_dir, stores) = store(&[
        ("sa", Some("ns-a"), Some("a-0")),
        ("sb", Some("ns-b"), Some("b-0")),
        ("home", None, Some("h-0")),
        ("off", Some("ns-a"), None),
    ]);
    let cluster = MemoryCluster::new("default-ns");

    let plan = plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&["sa", "sb", "home", "sa"]), "r", "alice")
        .expect("plan");
    assert_eq!(
        plan.pods,
        [
            ("sa".into(), pod("ns-a", "a-0")),
            ("sb".into(), pod("ns-b", "b-0")),
            ("home".into(), pod("default-ns", "h-0"))
        ],
        "a session without a namespace is in the current one; a session named twice counts once"
    );
    assert_eq!(plan.namespaces().into_iter().collect::<Vec<_>>(), ["default-ns", "ns-a", "ns-b"]);
    assert_eq!(plan.action.scope.session_ids(), ["sa", "sb", "home"]);
    assert!(plan.statefulsets.is_empty() && plan.skipped.is_empty());

    // Named sessions must all run on Kubernetes; a selector leaves the others alone.
    let err = super::plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&["sa", "off"]), "r", "alice");
    assert!(
        matches!(&err, Err(Error::Store(StoreError::Invalid(m))) if m.contains("session off reports no pod")),
        "{err:?}"
    );
    let err = super::plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&["ghost"]), "r", "alice");
    assert!(matches!(err, Err(Error::Store(StoreError::NotFound(_)))), "{err:?}");
    let sel = Target::Selector(Selector::parse("namespace=ns-a").expect("selector"));
    let by_sel = super::plan(&stores, &cluster, ActionKind::Quarantine, &sel, "r", "alice").expect("plan");
    assert_eq!(by_sel.pods, [("sa".into(), pod("ns-a", "a-0"))]);
    assert_eq!(by_sel.skipped, ["off"]);
    assert!(by_sel.action.describe().contains("matching namespace=ns-a"), "{}", by_sel.action.describe());

    // Nothing to act on, or the whole fleet: refused.
    let only_off = Target::Selector(Selector::parse("id=off").expect("selector"));
    let err = super::plan(&stores, &cluster, ActionKind::Release, &only_off, "r", "alice");
    assert!(matches!(&err, Err(Error::Store(StoreError::NotFound(m))) if m.ends_with("with a pod")), "{err:?}");
    let err = super::plan(&stores, &cluster, ActionKind::KillPod { grace: None }, &Target::All, "r", "alice");
    assert!(matches!(err, Err(Error::Store(StoreError::Invalid(_)))), "{err:?}");
    let err = super::plan(&stores, &cluster, ActionKind::Release, &sessions(&["sa"]), " ", "alice");
    assert!(matches!(err, Err(Error::Store(StoreError::Invalid(_)))), "a reason is required: {err:?}");
}

#[test]
fn a_missing_permission_is_refused_by_name_before_anything_changes() {
    let (_dir, stores) = store(&[("sa", Some("ns-a"), Some("a-0")), ("sb", Some("ns-b"), Some("b-0"))]);
    let cluster = MemoryCluster::new("ns-a");
    cluster.add_pod("ns-a", "a-0", &[AGENT]);
    cluster.add_pod("ns-b", "b-0", &[AGENT]);
    cluster.deny(Permission::new("patch", "", "pods", Some("ns-b")));
    let before = cluster.world();

    let plan = plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&["sa", "sb"]), "r", "alice").expect("plan");
    match execute(&stores, &cluster, &alice(), &plan) {
        Err(Error::Cluster(ClusterError::Forbidden(m))) => assert_eq!(m, "cannot patch pods in ns-b"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(cluster.world(), before, "not even ns-a's pod or policy changed");
    assert!(operator_events(&stores).is_empty(), "a refused action is not recorded as done");

    // Creating the missing policy is a permission of its own, asked before it is needed.
    let (_dir2, stores2) = store(&[("sa", Some("ns-a"), Some("a-0"))]);
    cluster.deny(Permission::new("create", "networking.k8s.io", "networkpolicies", Some("ns-a")));
    let plan = super::plan(&stores2, &cluster, ActionKind::Quarantine, &sessions(&["sa"]), "r", "alice").expect("plan");
    match execute(&stores2, &cluster, &alice(), &plan) {
        Err(Error::Cluster(ClusterError::Forbidden(m))) => assert_eq!(m, "cannot create networkpolicies in ns-a"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(cluster.world(), before);

    // What the console offers: per namespace, the actions whose every permission is held.
    let all = allowed_actions(&cluster, "ns-a").expect("review");
    assert_eq!(all.len(), 5, "{all:?}");
    let in_b = allowed_actions(&cluster, "ns-b").expect("review");
    assert_eq!(in_b, [ActionKind::HardStop, ActionKind::Restore, ActionKind::KillPod { grace: None }]);
}

#[test]
fn hard_stop_remembers_the_replica_count_and_restore_puts_it_back() {
    let (_dir, stores) = store(&[
        ("s0", Some("ns"), Some("agents-0")),
        ("s1", Some("ns"), Some("agents-1")),
        ("s2", Some("ns"), Some("solo-0")),
        ("loose", Some("ns"), Some("loose")),
    ]);
    let cluster = MemoryCluster::new("ns");
    let agents = cluster.add_statefulset("ns", "agents", 3, &[AGENT]);
    let solo = cluster.add_statefulset("ns", "solo", 1, &[AGENT]);
    cluster.add_pod("ns", "loose", &[AGENT]);
    let target = sessions(&["s0", "s1", "s2"]);

    let stop = plan(&stores, &cluster, ActionKind::HardStop, &target, "ignores pause", "alice").expect("plan");
    assert_eq!(stop.statefulsets, [agents.clone(), solo.clone()], "two pods of one StatefulSet count once");
    let report = execute(&stores, &cluster, &alice(), &stop).expect("hard stop");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let remembered = |s: &StsRef| cluster.statefulset(s).map(|w| (w.replicas, w.remembered));
    assert_eq!(remembered(&agents), Some((0, Some("3".into()))));
    assert_eq!(remembered(&solo), Some((0, Some("1".into()))));
    assert!(cluster.pod(&pod("ns", "agents-0")).is_none(), "scaled to zero: its pods are gone");

    // Again: the remembered count is kept, not overwritten with 0.
    let again = plan(&stores, &cluster, ActionKind::HardStop, &target, "again", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &again).expect("again");
    assert!(report.done.iter().all(|l| l.contains("already stopped")), "{:?}", report.done);
    assert_eq!(remembered(&agents), Some((0, Some("3".into()))));

    // The pods are gone, so the StatefulSets are found by the pods' names.
    let restore = plan(&stores, &cluster, ActionKind::Restore, &target, "fixed", "alice").expect("plan");
    assert_eq!(restore.statefulsets, [agents.clone(), solo.clone()]);
    let report = execute(&stores, &cluster, &alice(), &restore).expect("restore");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(remembered(&agents), Some((3, None)));
    assert_eq!(remembered(&solo), Some((1, None)));
    assert!(cluster.pod(&pod("ns", "agents-2")).is_some());

    // Restoring what quell did not stop fails and changes nothing.
    let report = execute(&stores, &cluster, &alice(), &restore).expect("restore twice");
    assert_eq!(report.failed.len(), 2);
    assert!(
        report.failed.iter().all(|e| e.to_string().contains("was not hard-stopped by quell")),
        "{:?}",
        report.failed
    );
    assert_eq!(remembered(&agents), Some((3, None)));

    let events = operator_events(&stores);
    let actions: Vec<&str> = events.iter().filter_map(|e| e.body.attr_str("quell.action")).collect();
    // A restore is its own operation in the audit log, never recorded as the soft resume.
    assert_eq!(actions, ["hard-stop", "hard-stop", "restore", "restore"]);
    assert!(
        outcome(&events[0]).contains("statefulset ns/agents scaled from 3 to 0 replicas"),
        "{}",
        outcome(&events[0])
    );
    assert!(outcome(&events[2]).contains("statefulset ns/agents restored to 3 replicas"), "{}", outcome(&events[2]));

    // A pod no StatefulSet owns has nothing to scale.
    let err = plan(&stores, &cluster, ActionKind::HardStop, &sessions(&["loose"]), "r", "alice");
    assert!(
        matches!(&err, Err(Error::Cluster(ClusterError::Invalid(m))) if m.contains("not owned by a StatefulSet")),
        "{err:?}"
    );
}

#[test]
fn kill_pod_asks_for_the_grace_period_chosen() {
    let (_dir, stores) = store(&[("s0", Some("ns"), Some("agents-0")), ("s1", Some("ns"), Some("one-off"))]);
    let cluster = MemoryCluster::new("ns");
    cluster.add_statefulset("ns", "agents", 1, &[AGENT]);
    cluster.add_pod("ns", "one-off", &[AGENT]);

    let mut lines = Vec::new();
    for (id, grace) in [("s0", None), ("s0", Some(0)), ("s1", Some(30))] {
        let p =
            plan(&stores, &cluster, ActionKind::KillPod { grace }, &sessions(&[id]), "looping", "alice").expect("plan");
        let report = execute(&stores, &cluster, &alice(), &p).expect("kill");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        lines.extend(report.done);
    }
    assert_eq!(
        lines,
        [
            "pod ns/agents-0 deleted",
            "pod ns/agents-0 deleted with zero grace period",
            "pod ns/one-off deleted (30s grace period)"
        ]
    );
    assert_eq!(
        cluster.deleted(),
        [(pod("ns", "agents-0"), None), (pod("ns", "agents-0"), Some(0)), (pod("ns", "one-off"), Some(30))]
    );
    assert!(cluster.pod(&pod("ns", "agents-0")).is_some(), "its StatefulSet made it again");
    assert!(cluster.pod(&pod("ns", "one-off")).is_none());
    // Gone: the next kill fails on it, and says so in the record.
    let p = plan(&stores, &cluster, ActionKind::KillPod { grace: None }, &sessions(&["s1"]), "again", "alice")
        .expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("executes");
    assert!(matches!(report.failed.as_slice(), [ClusterError::NotFound(_)]), "{:?}", report.failed);
    assert_eq!(operator_events(&stores).len(), 4);
}

#[test]
fn quarantine_creates_a_missing_policy_and_release_keeps_it() {
    let (_dir, stores) = store(&[("sa", Some("ns-a"), Some("a-0")), ("sb", Some("ns-b"), Some("b-0"))]);
    let cluster = MemoryCluster::new("ns-a");
    cluster.add_pod("ns-a", "a-0", &[AGENT]);
    cluster.add_pod("ns-b", "b-0", &[AGENT]);
    cluster.add_policy("ns-a", true);
    let both = sessions(&["sa", "sb"]);

    let p = plan(&stores, &cluster, ActionKind::Quarantine, &both, "prompt injection", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("quarantine");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.done,
        ["created networkpolicy ns-b/quell-quarantine", "pod ns-a/a-0 quarantined", "pod ns-b/b-0 quarantined"],
        "only the missing policy is created"
    );
    assert_eq!(cluster.world().policies, BTreeMap::from([("ns-a".into(), true), ("ns-b".into(), true)]));
    assert!([pod("ns-a", "a-0"), pod("ns-b", "b-0")].iter().all(|r| cluster.pod(r).is_some_and(|v| v.quarantined)));

    let p = plan(&stores, &cluster, ActionKind::Release, &both, "cleaned", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("release");
    assert_eq!(report.done, ["pod ns-a/a-0 released", "pod ns-b/b-0 released"]);
    let a = cluster.pod(&pod("ns-a", "a-0")).expect("pod");
    assert!(!a.quarantined && !a.labels.contains_key(crate::ports::cluster::QUARANTINE_LABEL));
    assert_eq!(cluster.world().policies.len(), 2, "release keeps the policies for the next quarantine");

    // A policy of that name that would not isolate: refused, nothing labelled, nothing recorded.
    cluster.add_policy("ns-b", false);
    let before = cluster.world();
    let p = plan(&stores, &cluster, ActionKind::Quarantine, &both, "again", "alice").expect("plan");
    let err = execute(&stores, &cluster, &alice(), &p);
    assert!(matches!(&err, Err(Error::Cluster(ClusterError::Conflict(m))) if m.contains("not a deny-all")), "{err:?}");
    assert_eq!(cluster.world(), before);
    let events = operator_events(&stores);
    let actions: Vec<&str> = events.iter().filter_map(|e| e.body.attr_str("quell.action")).collect();
    assert_eq!(actions, ["quarantine", "release"]);
}

#[test]
fn joined_sessions_get_their_pods_and_unclaimed_pods_are_listed() {
    let (_dir, stores) = store(&[("sa", Some("ns-a"), Some("a-0")), ("gone", Some("ns-a"), Some("a-9"))]);
    let cluster = MemoryCluster::new("ns-a");
    cluster.add_pod("ns-a", "a-0", &[AGENT]);
    cluster.add_pod("ns-b", "b-0", &[AGENT]);
    cluster.add_pod("ns-b", "web-0", &[("app", "web")]);
    let all = stores.sessions.sessions().expect("sessions");
    let joined = join(&cluster, &all, None).expect("join");
    let names: Vec<Option<String>> = joined.pods.iter().map(|p| p.as_ref().map(|p| p.name.clone())).collect();
    let by_id: HashMap<&str, Option<String>> = all.iter().map(|s| s.id.as_str()).zip(names).collect();
    assert_eq!(by_id["sa"].as_deref(), Some("a-0"));
    assert_eq!(by_id["gone"], None);
    assert_eq!(joined.unclaimed.iter().map(PodView::pod_ref).collect::<Vec<_>>(), [pod("ns-b", "b-0")]);

    // A user who may not list everywhere sees the namespaces it may, and is told.
    cluster.deny(Permission::new("list", "", "pods", None));
    let joined = join(&cluster, &all, None).expect("degrades");
    assert!(joined.unclaimed.is_empty(), "ns-b is not looked at: {:?}", joined.unclaimed);
    assert_eq!(joined.warnings, ["cannot list pods in all namespaces; showing namespace ns-a"]);
    let narrowed = MemoryCluster::narrowed_to("ns-b");
    narrowed.add_pod("ns-b", "b-0", &[AGENT]);
    narrowed.add_pod("ns-a", "a-0", &[AGENT]);
    let joined = join(&narrowed, &all, Some("app=ai-agent-runtime")).expect("join");
    assert!(joined.pods.iter().all(Option::is_none), "-n narrows discovery to its namespace");
    assert_eq!(joined.unclaimed.iter().map(PodView::pod_ref).collect::<Vec<_>>(), [pod("ns-b", "b-0")]);
}

#[test]
fn a_partial_quarantine_records_which_pods_it_reached_and_which_it_did_not() {
    let ids = ["s0", "s1", "s2", "s3", "s4"];
    let rows: Vec<(String, String)> =
        ids.iter().enumerate().map(|(i, id)| ((*id).to_owned(), format!("a-{i}"))).collect();
    let (_dir, stores) =
        store(&rows.iter().map(|(id, p)| (id.as_str(), Some("ns"), Some(p.as_str()))).collect::<Vec<_>>());
    let cluster = MemoryCluster::new("ns");
    for (_, p) in &rows {
        cluster.add_pod("ns", p, &[AGENT]);
    }
    cluster.add_policy("ns", true);
    // Refusals that do not name their pod: the record must name it all the same.
    cluster.fail(Call::Label, "ns/a-1", ClusterError::Forbidden("admission webhook denied the request".into()));
    cluster.fail(Call::Label, "ns/a-3", ClusterError::Unavailable("the API server did not answer".into()));

    let p = plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&ids), "campaign", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("executes");
    assert_eq!(report.reached, [pod("ns", "a-0"), pod("ns", "a-2"), pod("ns", "a-4")]);
    let missed: Vec<(PodRef, String)> = report.missed.iter().map(|(p, e)| (p.clone(), e.to_string())).collect();
    assert_eq!(
        missed,
        [
            (pod("ns", "a-1"), "admission webhook denied the request".into()),
            (pod("ns", "a-3"), "the API server did not answer".into())
        ]
    );
    assert_eq!((report.done.len(), report.failed.len()), (3, 2));
    let quarantined: Vec<bool> =
        rows.iter().map(|(_, n)| cluster.pod(&pod("ns", n)).is_some_and(|v| v.quarantined)).collect();
    assert_eq!(quarantined, [true, false, true, false, true]);

    let events = operator_events(&stores);
    assert_eq!(events.len(), 1, "a partial quarantine is recorded");
    let text = outcome(&events[0]);
    assert!(
        text.starts_with(
            "3 done, 2 failed; quarantined 3 of 5 pods: ns/a-0, ns/a-2, ns/a-4; not quarantined: ns/a-1, ns/a-3; "
        ),
        "{text}"
    );
    assert!(text.contains("failed: admission webhook denied the request"), "{text}");
}

#[test]
fn a_policy_refused_in_one_namespace_leaves_every_pod_unlabelled_and_the_record_says_so() {
    let (_dir, stores) = store(&[("sa", Some("ns-a"), Some("a-0")), ("sb", Some("ns-b"), Some("b-0"))]);
    let cluster = MemoryCluster::new("ns-a");
    cluster.add_pod("ns-a", "a-0", &[AGENT]);
    cluster.add_pod("ns-b", "b-0", &[AGENT]);
    cluster.fail(Call::CreatePolicy, "ns-b", ClusterError::Invalid("networkpolicies are not served here".into()));

    let p =
        plan(&stores, &cluster, ActionKind::Quarantine, &sessions(&["sa", "sb"]), "campaign", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("executes");
    assert_eq!(report.done, ["created networkpolicy ns-a/quell-quarantine"], "the one change made is reported");
    assert!(report.reached.is_empty());
    let missed: Vec<&PodRef> = report.missed.iter().map(|(p, _)| p).collect();
    assert_eq!(missed, [&pod("ns-a", "a-0"), &pod("ns-b", "b-0")], "no label before every policy exists");
    assert!(report.missed.iter().all(|(_, e)| e.to_string() == "not labelled: no quarantine policy in ns-b"));
    assert_eq!(cluster.world().policies, BTreeMap::from([("ns-a".into(), true)]));
    assert!(cluster.world().pods.values().all(|v| !v.quarantined));

    let events = operator_events(&stores);
    assert_eq!(events.len(), 1, "the policy it did create is recorded");
    let text = outcome(&events[0]);
    assert!(
        text.starts_with("1 done, 2 failed; quarantined 0 of 2 pods; not quarantined: ns-a/a-0, ns-b/b-0; "),
        "{text}"
    );
    assert!(text.contains("created networkpolicy ns-a/quell-quarantine"), "{text}");
    assert!(text.contains("failed: networkpolicies are not served here"), "{text}");
    assert!(
        text.contains(
            "failed: no pod labelled: 2 pod(s) left unquarantined because there is no quarantine policy in ns-b"
        ),
        "{text}"
    );
}

#[test]
fn every_target_is_named_in_the_record_beyond_the_first_failures() {
    let rows: Vec<(String, String)> = (0..30).map(|i| (format!("s{i:02}"), format!("a-{i:02}"))).collect();
    let (_dir, stores) =
        store(&rows.iter().map(|(id, p)| (id.as_str(), Some("ns"), Some(p.as_str()))).collect::<Vec<_>>());
    let cluster = MemoryCluster::new("ns");
    for (i, (_, p)) in rows.iter().enumerate() {
        cluster.add_pod("ns", p, &[AGENT]);
        if i % 2 == 1 {
            cluster.fail(Call::Delete, &format!("ns/{p}"), ClusterError::Forbidden("refused".into()));
        }
    }
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let p =
        plan(&stores, &cluster, ActionKind::KillPod { grace: Some(0) }, &sessions(&ids), "r", "alice").expect("plan");
    let report = execute(&stores, &cluster, &alice(), &p).expect("executes");
    assert_eq!((report.reached.len(), report.missed.len()), (15, 15));
    let events = operator_events(&stores);
    let text = outcome(&events[0]);
    assert!(text.contains("deleted 15 of 30 pods: ns/a-00, ns/a-02"), "{text}");
    assert!(text.contains("ns/a-28; not deleted: ns/a-01, "), "{text}");
    assert!(text.contains(", ns/a-29; "), "the last one too: {text}");
}

#[test]
fn a_confirmed_action_is_re_planned_on_exactly_the_sessions_confirmed() {
    let (_dir, stores) = store(&[("sa", Some("ns-a"), Some("a-0")), ("sb", Some("ns-a"), Some("b-0"))]);
    let cluster = MemoryCluster::new("ns-a");
    cluster.add_pod("ns-a", "a-0", &[AGENT]);
    cluster.add_pod("ns-a", "b-0", &[AGENT]);
    cluster.add_policy("ns-a", true);
    let sel = Target::Selector(Selector::parse("namespace=ns-a").expect("selector"));
    let planned = plan(&stores, &cluster, ActionKind::Quarantine, &sel, "placeholder", "alice").expect("plan");
    let scope = planned.action.scope.clone();
    let confirmed =
        OperatorAction::new(ActionKind::Quarantine, scope.clone(), "prompt injection", "alice").expect("ok");
    let p = confirm(&stores, &cluster, &confirmed).expect("the same sessions");
    assert_eq!(p.action, confirmed, "what is recorded is what was confirmed, its selector included");
    assert_eq!(p.pods, planned.pods);

    // A confirmed session that no longer reports its pod: refused before anything is done.
    let mut sb = stores.sessions.sessions().expect("sessions").into_iter().find(|s| s.id == "sb").expect("sb");
    sb.pod = None;
    stores.sessions.put_sessions(&[sb]).expect("put");
    let before = cluster.world();
    assert!(confirm(&stores, &cluster, &confirmed).is_err());
    assert_eq!(cluster.world(), before);
    assert!(operator_events(&stores).is_empty(), "nothing recorded");

    // Only a cluster operation is confirmed here.
    let pause = OperatorAction::new(ActionKind::Pause, scope, "r", "alice").expect("ok");
    assert!(matches!(confirm(&stores, &cluster, &pause), Err(Error::Store(StoreError::Invalid(_)))));
}
