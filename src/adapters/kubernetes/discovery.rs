//! Finding agent pods: listing by label selector, cluster-wide or namespace by namespace when the
//! user may not list everywhere, and reading pods by name.

use super::{each, pods, within, Kube};
use crate::ports::cluster::{ClusterError, ClusterResult, Discovery, Namespaces, PodRef, PodView};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::fmt;

impl Kube {
    async fn list_all<K>(&self, api: Api<K>, selector: &str) -> Result<Vec<K>, kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + fmt::Debug,
    {
        let mut out = Vec::new();
        let mut params = ListParams::default().labels(selector).limit(500);
        loop {
            let page = within(api.list(&params)).await?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            out.extend(page.items);
            match next {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(out),
            }
        }
    }

    /// RuntimeClass name → handler; empty when they cannot be read (then names are judged).
    async fn runtime_handlers(&self) -> BTreeMap<String, String> {
        let api: Api<RuntimeClass> = Api::all(self.client.clone());
        match self.list_all(api, "").await {
            Ok(classes) => classes.into_iter().filter_map(|c| Some((c.metadata.name?, c.handler))).collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// Agent pods matching `selector`. Cluster-wide when `All`; a Forbidden there degrades to
    /// listing each of `fallback` (and the current namespace), and a Forbidden namespace is a
    /// warning, not an error.
    pub fn discover(&self, namespaces: &Namespaces, selector: &str, fallback: &[String]) -> ClusterResult<Discovery> {
        self.rt.block_on(async {
            let handlers = self.runtime_handlers().await;
            let mut found = Discovery::default();
            let wanted: Vec<String> = match namespaces {
                Namespaces::All => match self.list_all(Api::<Pod>::all(self.client.clone()), selector).await {
                    Ok(pods) => {
                        found.pods = pods.iter().map(|p| pods::view(p, &handlers)).collect();
                        return Ok(found);
                    }
                    Err(e) => match self.api_error("list pods", e) {
                        ClusterError::Forbidden(_) => found.fall_back(fallback, &self.namespace),
                        other => return Err(other),
                    },
                },
                Namespaces::Only(list) => list.clone(),
            };
            let lists = each(wanted.clone(), |ns| async move {
                self.list_all(Api::<Pod>::namespaced(self.client.clone(), &ns), selector).await
            })
            .await;
            for (ns, result) in wanted.iter().zip(lists) {
                match result {
                    Ok(pods) => found.pods.extend(pods.iter().map(|p| pods::view(p, &handlers))),
                    Err(e) => match self.api_error("list pods", e) {
                        ClusterError::Forbidden(_) => found.forbidden(ns),
                        other => return Err(other),
                    },
                }
            }
            Ok(found)
        })
    }

    /// One pod, read as discovery reads it.
    pub fn pod(&self, pod: &PodRef) -> ClusterResult<PodView> {
        self.pods(std::slice::from_ref(pod)).pop().unwrap_or_else(|| Err(ClusterError::NotFound(format!("pod {pod}"))))
    }

    /// Pods by name, read concurrently, results in order.
    pub fn pods(&self, refs: &[PodRef]) -> Vec<ClusterResult<PodView>> {
        self.rt.block_on(async {
            let handlers = self.runtime_handlers().await;
            let handlers = &handlers;
            each(refs.to_vec(), |pod| async move {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
                let p = within(api.get(&pod.name)).await.map_err(|e| self.api_error(&format!("pod {pod}"), e))?;
                Ok(pods::view(&p, handlers))
            })
            .await
        })
    }
}
