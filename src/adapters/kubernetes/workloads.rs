//! Changing workloads: hard stop (scale a StatefulSet to zero, remembering its replica count),
//! its restore, and deleting pods.

use super::{each, merge, within, Kube};
use crate::ports::cluster::{ClusterError, ClusterResult, Outcome, PodRef, StsRef, REPLICAS_ANNOTATION};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PatchParams};

impl Kube {
    async fn stop_one(&self, sts: &StsRef) -> ClusterResult<String> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &sts.namespace);
        let what = format!("statefulset {sts}");
        let cur = within(api.get(&sts.name)).await.map_err(|e| self.api_error(&what, e))?;
        let replicas = cur.spec.replicas.unwrap_or(1);
        let remembered = cur.metadata.annotations.as_ref().and_then(|a| a.get(REPLICAS_ANNOTATION)).cloned();
        if replicas == 0 {
            return Ok(match remembered {
                Some(n) => format!("{what} already stopped ({n} replicas to restore)"),
                None => format!("{what} already at 0 replicas (nothing to restore)"),
            });
        }
        // Remember first: a failure after this leaves the count recorded and nothing stopped.
        let note = serde_json::json!({"metadata": {
            "annotations": {REPLICAS_ANNOTATION: replicas.to_string()},
            "resourceVersion": cur.metadata.resource_version,
        }});
        within(api.patch(&sts.name, &PatchParams::default(), &merge(note)))
            .await
            .map_err(|e| self.api_error(&what, e))?;
        let scale = serde_json::json!({"spec": {"replicas": 0}});
        within(api.patch_scale(&sts.name, &PatchParams::default(), &merge(scale)))
            .await
            .map_err(|e| self.api_error(&what, e))?;
        Ok(format!("{what} scaled from {replicas} to 0 replicas"))
    }

    async fn restore_one(&self, sts: &StsRef) -> ClusterResult<String> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &sts.namespace);
        let what = format!("statefulset {sts}");
        let cur = within(api.get(&sts.name)).await.map_err(|e| self.api_error(&what, e))?;
        let Some(raw) = cur.metadata.annotations.as_ref().and_then(|a| a.get(REPLICAS_ANNOTATION)).cloned() else {
            return Err(ClusterError::NotFound(format!(
                "{what} was not hard-stopped by quell (no {REPLICAS_ANNOTATION})"
            )));
        };
        let replicas: i32 = raw.trim().parse().ok().filter(|n: &i32| *n >= 0).ok_or_else(|| {
            ClusterError::Invalid(format!("{what}: annotation {REPLICAS_ANNOTATION} is {raw:?}, not a replica count"))
        })?;
        let scale = serde_json::json!({"spec": {"replicas": replicas}});
        within(api.patch_scale(&sts.name, &PatchParams::default(), &merge(scale)))
            .await
            .map_err(|e| self.api_error(&what, e))?;
        let forget = serde_json::json!({"metadata": {"annotations": {REPLICAS_ANNOTATION: null}}});
        within(api.patch(&sts.name, &PatchParams::default(), &merge(forget)))
            .await
            .map_err(|e| self.api_error(&what, e))?;
        Ok(format!("{what} restored to {replicas} replicas"))
    }

    /// Scales each StatefulSet to zero, remembering its replica count in an annotation.
    pub fn hard_stop(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        self.rt.block_on(each(sets.to_vec(), |s| async move {
            let r = self.stop_one(&s).await;
            (s, r)
        }))
    }

    /// Restores the replica counts hard stop remembered, and forgets them.
    pub fn restore(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        self.rt.block_on(each(sets.to_vec(), |s| async move {
            let r = self.restore_one(&s).await;
            (s, r)
        }))
    }

    /// The replica count a hard stop remembered, if any.
    pub fn remembered_replicas(&self, sts: &StsRef) -> ClusterResult<Option<String>> {
        self.rt.block_on(async {
            let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &sts.namespace);
            let cur = within(api.get(&sts.name)).await.map_err(|e| self.api_error(&format!("statefulset {sts}"), e))?;
            Ok(cur.metadata.annotations.and_then(|mut a| a.remove(REPLICAS_ANNOTATION)))
        })
    }

    /// Deletes pods; `grace` `Some(0)` kills at once, `None` uses the pod's own grace period.
    pub fn delete_pods(&self, targets: &[PodRef], grace: Option<u32>) -> Vec<Outcome<PodRef>> {
        let params = DeleteParams { grace_period_seconds: grace, ..DeleteParams::default() };
        let params = &params;
        self.rt.block_on(each(targets.to_vec(), |p| async move {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
            let r = match within(api.delete(&p.name, params)).await {
                Ok(_) => Ok(match grace {
                    Some(0) => format!("pod {p} deleted with zero grace period"),
                    Some(n) => format!("pod {p} deleted ({n}s grace period)"),
                    None => format!("pod {p} deleted"),
                }),
                Err(e) => Err(self.api_error(&format!("pod {p}"), e)),
            };
            (p, r)
        }))
    }
}
