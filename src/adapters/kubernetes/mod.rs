//! Kubernetes: agent pods and StatefulSets on a real apiserver through kube-rs, with the user's
//! kubeconfig read the way kubectl reads it (`--kubeconfig` file, else every file in
//! `KUBECONFIG` merged, else `~/.kube/config`; `--context` else the current context; `-n` else
//! the context's namespace).
//!
//! The rest of quell is synchronous: the async client runs on a small current-thread tokio
//! runtime owned by [`Kube`], and every call blocks until its requests are done. Batches of
//! writes go out concurrently (at most [`CONCURRENCY`] requests in flight).
//!
//! [`Kube`] implements the [`Cluster`] port. Every write is preceded, at the service layer, by a
//! [`Cluster::check`] of the exact permissions it needs (SelfSubjectAccessReview), so a missing
//! permission is reported as "cannot patch statefulsets/scale in genai-prod" before anything
//! changes.
//!
//! Every error a request produces goes through one formatter (`Kube::api_error`) and names
//! the context and the API server it talked to — `kube context "ctx-b" (https://10.0.0.7:6443):
//! list pods: cannot reach the API server: … Connection refused` — never a credential. A
//! connect takes at most [`CONNECT_TIMEOUT`].

mod access;
mod discovery;
mod kubeconfig;
pub mod pods;
mod policies;
mod workloads;

pub use kubeconfig::{KubeOptions, CONNECT_TIMEOUT};

use crate::ports::cluster::{
    Cluster, ClusterError, ClusterResult, Discovery, Namespaces, Outcome, Permission, PodRef, PodView, StsRef,
};
use futures_util::StreamExt;
use kube::api::Patch;
use kube::Client;
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// Requests in flight at once for a batch (hard stop of many StatefulSets, quarantine of many
/// pods).
pub const CONCURRENCY: usize = 32;

/// The causes of an error, outermost first, each once ("client error (Connect): tcp connect
/// error: Connection refused (os error 111)"). Transport errors never carry request headers, so
/// no token can appear here.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The cluster connection.
pub struct Kube {
    rt: tokio::runtime::Runtime,
    client: Client,
    /// The context in use.
    pub context: String,
    /// The context's API server (no credentials), as errors name it.
    pub server: String,
    /// The kubeconfig user of that context (the operator identity unless `--as`), or the
    /// impersonated user.
    pub user: Option<String>,
    /// The namespace commands use when none is given: `-n`, else the context's.
    pub namespace: String,
    /// Whether the namespace was given explicitly (`-n`), which narrows discovery to it.
    pub namespace_explicit: bool,
}

impl fmt::Debug for Kube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kube").field("context", &self.context).field("namespace", &self.namespace).finish()
    }
}

/// Runs `f` over `items` with at most [`CONCURRENCY`] in flight, results in input order.
async fn each<T, R, F, Fut>(items: Vec<T>, f: F) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    futures_util::stream::iter(items).map(f).buffered(CONCURRENCY).collect().await
}

/// Longest one request to the API server may take, from sending it to the last byte of its
/// answer: the client's own timeouts are per read, so an API server that drips its answer would
/// otherwise hold a command forever.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Runs one API request under [`REQUEST_DEADLINE`].
async fn within<T>(request: impl Future<Output = Result<T, kube::Error>>) -> Result<T, kube::Error> {
    match tokio::time::timeout(REQUEST_DEADLINE, request).await {
        Ok(answer) => answer,
        Err(_) => {
            Err(kube::Error::Service(format!("no complete answer within {} s", REQUEST_DEADLINE.as_secs()).into()))
        }
    }
}

fn merge<T: serde::Serialize + fmt::Debug>(v: T) -> Patch<T> {
    Patch::Merge(v)
}

impl Kube {
    /// The one place a failed request becomes a [`ClusterError`]: it names the context and the
    /// API server, then what was asked and why it failed.
    fn api_error(&self, what: &str, e: kube::Error) -> ClusterError {
        let at = format!("kube context {:?} ({})", self.context, self.server);
        match e {
            kube::Error::Api(status) => {
                let msg = if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
                let line = format!("{at}: {what}: {msg}");
                match status.code {
                    403 => ClusterError::Forbidden(line),
                    404 => ClusterError::NotFound(line),
                    409 => ClusterError::Conflict(line),
                    400 | 422 => ClusterError::Invalid(line),
                    _ => ClusterError::Unavailable(line),
                }
            }
            other => {
                ClusterError::Unavailable(format!("{at}: {what}: cannot reach the API server: {}", causes(&other)))
            }
        }
    }
}

/// The port, over the methods of `access`, `discovery`, `workloads` and `policies`.
impl Cluster for Kube {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn namespace_explicit(&self) -> bool {
        self.namespace_explicit
    }

    fn missing(&self, wanted: &[Permission]) -> ClusterResult<Vec<Permission>> {
        Kube::missing(self, wanted)
    }

    fn discover(&self, namespaces: &Namespaces, selector: &str, fallback: &[String]) -> ClusterResult<Discovery> {
        Kube::discover(self, namespaces, selector, fallback)
    }

    fn pods(&self, refs: &[PodRef]) -> Vec<ClusterResult<PodView>> {
        Kube::pods(self, refs)
    }

    fn hard_stop(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        Kube::hard_stop(self, sets)
    }

    fn restore(&self, sets: &[StsRef]) -> Vec<Outcome<StsRef>> {
        Kube::restore(self, sets)
    }

    fn delete_pods(&self, targets: &[PodRef], grace: Option<u32>) -> Vec<Outcome<PodRef>> {
        Kube::delete_pods(self, targets, grace)
    }

    fn namespaces_without_policy(&self, namespaces: &[String]) -> ClusterResult<Vec<String>> {
        Kube::namespaces_without_policy(self, namespaces)
    }

    fn create_policies(&self, namespaces: &[String]) -> Vec<Outcome<String>> {
        Kube::create_policies(self, namespaces)
    }

    fn quarantine(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        Kube::quarantine(self, targets)
    }

    fn release(&self, targets: &[PodRef]) -> Vec<Outcome<PodRef>> {
        Kube::release(self, targets)
    }
}
