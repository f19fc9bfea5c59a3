//! Access review: whether the user holds each permission an action needs
//! (SelfSubjectAccessReview), asked before anything changes.

use super::{each, within, Kube};
use crate::ports::cluster::{ClusterResult, Permission};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use std::collections::BTreeSet;

impl Kube {
    async fn allowed(&self, p: &Permission) -> ClusterResult<bool> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(p.verb.to_owned()),
                    group: Some(p.group.to_owned()),
                    resource: Some(p.resource.to_owned()),
                    subresource: p.subresource.map(str::to_owned),
                    namespace: p.namespace.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let done = within(api.create(&PostParams::default(), &review))
            .await
            .map_err(|e| self.api_error("access review", e))?;
        Ok(done.status.is_some_and(|s| s.allowed && !s.denied.unwrap_or(false)))
    }

    /// The permissions of `wanted` the user lacks, in the order given (duplicates asked once).
    pub fn missing(&self, wanted: &[Permission]) -> ClusterResult<Vec<Permission>> {
        let mut seen = BTreeSet::new();
        let unique: Vec<Permission> = wanted.iter().filter(|p| seen.insert((*p).clone())).cloned().collect();
        self.rt.block_on(async {
            let answers = each(unique.clone(), |p| async move { self.allowed(&p).await }).await;
            let mut missing = Vec::new();
            for (p, a) in unique.into_iter().zip(answers) {
                if !a? {
                    missing.push(p);
                }
            }
            Ok(missing)
        })
    }
}
