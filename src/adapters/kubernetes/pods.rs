//! What quell needs to know about an agent pod ([`PodView`]), read from the real pod object:
//! where it runs, how it is doing, who owns it, and the sandboxing posture the seed asks for.

use crate::ports::cluster::{PodView, Posture, QUARANTINE_LABEL};
use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SecurityContext};
use std::collections::BTreeMap;

fn run_as_non_root(c: Option<&SecurityContext>, pod: Option<&PodSecurityContext>) -> bool {
    let explicit = c.and_then(|s| s.run_as_non_root).or_else(|| pod.and_then(|p| p.run_as_non_root));
    let uid = c.and_then(|s| s.run_as_user).or_else(|| pod.and_then(|p| p.run_as_user));
    match (explicit, uid) {
        (_, Some(0)) => false,
        (Some(true), _) => true,
        // A non-zero uid is non-root even without the flag.
        (_, Some(_)) => true,
        _ => false,
    }
}

fn container_posture(c: &Container, pod: Option<&PodSecurityContext>) -> [bool; 4] {
    let sc = c.security_context.as_ref();
    [
        run_as_non_root(sc, pod),
        sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false),
        // Privileged containers always escalate, whatever the flag says.
        sc.and_then(|s| s.allow_privilege_escalation) == Some(false) && sc.and_then(|s| s.privileged) != Some(true),
        sc.and_then(|s| s.capabilities.as_ref())
            .and_then(|cap| cap.drop.as_ref())
            .is_some_and(|d| d.iter().any(|x| x.eq_ignore_ascii_case("ALL"))),
    ]
}

/// Whether a runtime class is gVisor: its handler when known, else its name.
pub fn is_gvisor(class: &str, handlers: &BTreeMap<String, String>) -> bool {
    match handlers.get(class) {
        Some(h) => h == "runsc" || h.starts_with("runsc-") || h.contains("gvisor"),
        None => {
            let c = class.to_ascii_lowercase();
            c.contains("gvisor") || c.contains("runsc")
        }
    }
}

/// Reads a pod object; missing fields read as absent, never as an error.
pub fn view(pod: &Pod, handlers: &BTreeMap<String, String>) -> PodView {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let pod_sc = spec.and_then(|s| s.security_context.as_ref());
    let containers: Vec<&Container> =
        spec.map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).collect()).unwrap_or_default();
    let mut all = [!containers.is_empty(); 4];
    for c in &containers {
        for (acc, v) in all.iter_mut().zip(container_posture(c, pod_sc)) {
            *acc &= v;
        }
    }
    let runtime_class = spec.and_then(|s| s.runtime_class_name.clone());
    let labels = meta.labels.clone().unwrap_or_default();
    PodView {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".to_owned()),
        node: spec.and_then(|s| s.node_name.clone()),
        restarts: status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| u64::try_from(c.restart_count).unwrap_or(0)).sum())
            .unwrap_or(0),
        statefulset: meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "StatefulSet" && o.api_version.starts_with("apps/"))
            .map(|o| o.name.clone()),
        quarantined: labels.get(QUARANTINE_LABEL).is_some_and(|v| v == "true"),
        posture: Posture {
            gvisor: runtime_class.as_deref().is_some_and(|c| is_gvisor(c, handlers)),
            runtime_class,
            run_as_non_root: all[0],
            read_only_root_fs: all[1],
            privilege_escalation_off: all[2],
            capabilities_dropped: all[3],
        },
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("pod json")
    }

    #[test]
    fn seed_pod_has_every_layer() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a-0", "namespace": "ns"},
            "spec": {"runtimeClassName": "gvisor-agent", "containers": [{"name": "agent", "securityContext": {
                "runAsNonRoot": true, "runAsUser": 1000, "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}
        }));
        let v = view(&p, &BTreeMap::new());
        assert_eq!(v.posture.summary(), "ok");
        let handlers = BTreeMap::from([("gvisor-agent".to_owned(), "runc".to_owned())]);
        assert_eq!(view(&p, &handlers).posture.summary(), "!gvisor");
    }

    #[test]
    fn one_weak_container_weakens_the_pod_and_root_uid_wins() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a-0", "namespace": "ns"},
            "spec": {"securityContext": {"runAsNonRoot": true}, "containers": [
                {"name": "a", "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}},
                {"name": "b", "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false, "privileged": true}}
            ]}
        }));
        let v = view(&p, &BTreeMap::new());
        assert_eq!(v.posture.missing(), ["gvisor", "non-root", "ro-rootfs", "no-escalation", "caps-dropped"]);
        assert_eq!(v.phase, "Unknown");
        assert_eq!(v.restarts, 0);
    }
}
