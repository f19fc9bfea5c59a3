//! Quarantine: the deny-all NetworkPolicy quell creates per namespace, and the pod label it
//! selects.

use super::{each, merge, within, Kube};
use crate::ports::cluster::{ClusterError, ClusterResult, Outcome, PodRef, QUARANTINE_LABEL, QUARANTINE_POLICY};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ObjectMeta, PatchParams, PostParams};
use std::collections::BTreeMap;

impl Kube {
    /// The deny-all policy quell creates: selects quarantined pods, allows nothing either way.
    pub fn quarantine_policy(namespace: &str) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(QUARANTINE_POLICY.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_owned(), "quell".to_owned())])),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(QUARANTINE_LABEL.to_owned(), "true".to_owned())])),
                    ..Default::default()
                }),
                policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                ingress: None,
                egress: None,
            }),
        }
    }

    fn is_deny_all(p: &NetworkPolicy) -> bool {
        let Some(spec) = &p.spec else { return false };
        let selects = spec
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .is_some_and(|m| m.get(QUARANTINE_LABEL).is_some_and(|v| v == "true"))
            && spec.pod_selector.as_ref().is_some_and(|s| s.match_expressions.as_ref().is_none_or(Vec::is_empty));
        let types = spec.policy_types.as_deref().unwrap_or_default();
        selects
            && types.iter().any(|t| t == "Ingress")
            && types.iter().any(|t| t == "Egress")
            && spec.ingress.as_ref().is_none_or(Vec::is_empty)
            && spec.egress.as_ref().is_none_or(Vec::is_empty)
    }

    /// Namespaces (of `namespaces`) that have no quarantine policy yet. A policy of that name
    /// that is not a deny-all for the quarantine label is an error: labelling would not isolate.
    pub fn namespaces_without_policy(&self, namespaces: &[String]) -> ClusterResult<Vec<String>> {
        self.rt.block_on(async {
            let found = each(namespaces.to_vec(), |ns| async move {
                let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &ns);
                (ns.clone(), within(api.get_opt(QUARANTINE_POLICY)).await)
            })
            .await;
            let mut missing = Vec::new();
            for (ns, r) in found {
                match r.map_err(|e| self.api_error(&format!("networkpolicy {ns}/{QUARANTINE_POLICY}"), e))? {
                    None => missing.push(ns),
                    Some(p) if Self::is_deny_all(&p) => {}
                    Some(_) => {
                        return Err(ClusterError::Conflict(format!(
                            "networkpolicy {ns}/{QUARANTINE_POLICY} exists but is not a deny-all for \
                             {QUARANTINE_LABEL}=true; quarantine would not isolate (fix or delete it)"
                        )))
                    }
                }
            }
            Ok(missing)
        })
    }

    /// Creates the deny-all policy in each namespace (one created meanwhile by someone else is
    /// fine). Returns what was done per namespace.
    pub fn create_policies(&self, namespaces: &[String]) -> Vec<Outcome<String>> {
        self.rt.block_on(each(namespaces.to_vec(), |ns| async move {
            let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &ns);
            let r = match within(api.create(&PostParams::default(), &Self::quarantine_policy(&ns))).await {
                Ok(_) => Ok(format!("created networkpolicy {ns}/{QUARANTINE_POLICY}")),
                Err(e) => match self.api_error(&format!("networkpolicy {ns}/{QUARANTINE_POLICY}"), e) {
                    ClusterError::Conflict(_) => Ok(format!("networkpolicy {ns}/{QUARANTINE_POLICY} already exists")),
                    other => Err(other),
                },
            };
            (ns, r)
        }))
    }

    fn label_pods(&self, targets: &[PodRef], value: Option<&'static str>) -> Vec<Outcome<PodRef>> {
        let patch = serde_json::json!({"metadata": {"labels": {QUARANTINE_LABEL: value}}});
        let patch = &patch;
        self.rt.block_on(each(targets.to_vec(), |p| async move {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
            let r = match within(api.patch(&p.name, &PatchParams::default(), &merge(patch))).await {
                Ok(_) if value.is_some() => Ok(format!("pod {p} quarantined")),
                Ok(_) => Ok(format!("pod {p} released")),
                Err(e) => Err(self.api_error(&format!("pod {p}"), e)),
            };
            (p, r)
        }))
    }

    /// Labels pods so the quarantine policy selects them (create the policy first).
    pub fn quarantine(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        self.label_pods(targets, Some("true"))
    }

    /// Removes the quarantine label.
    pub fn release(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        self.label_pods(targets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_policy_is_recognised_and_a_loose_one_is_not() {
        let mine = Kube::quarantine_policy("ns");
        assert!(Kube::is_deny_all(&mine));
        let mut loose = mine.clone();
        if let Some(spec) = loose.spec.as_mut() {
            spec.policy_types = Some(vec!["Ingress".into()]);
        }
        assert!(!Kube::is_deny_all(&loose));
    }
}
