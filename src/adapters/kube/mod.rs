//! Kubernetes: agent pods and StatefulSets on a real apiserver through kube-rs, with the user's
//! kubeconfig read the way kubectl reads it (`--kubeconfig` file, else every file in
//! `KUBECONFIG` merged, else `~/.kube/config`; `--context` else the current context; `-n` else
//! the context's namespace).
//!
//! The rest of quell is synchronous: the async client runs on a small current-thread tokio
//! runtime owned by [`Kube`], and every call blocks until its requests are done. Batches of
//! writes go out concurrently (at most [`CONCURRENCY`] requests in flight).
//!
//! Every write is preceded, at the service layer, by a [`Kube::check`] of the exact
//! permissions it needs (SelfSubjectAccessReview), so a missing permission is reported as
//! "cannot patch statefulsets/scale in genai-prod" before anything changes.
//!
//! Every error a request produces goes through one formatter (`Kube::api_error`) and names
//! the context and the API server it talked to — `kube context "ctx-b" (https://10.0.0.7:6443):
//! list pods: cannot reach the API server: … Connection refused` — never a credential. A
//! connect takes at most [`CONNECT_TIMEOUT`].

pub mod pods;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
pub use pods::{PodRef, PodView, Posture, DEFAULT_SELECTOR, QUARANTINE_LABEL, QUARANTINE_POLICY, REPLICAS_ANNOTATION};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Requests in flight at once for a batch (hard stop of many StatefulSets, quarantine of many
/// pods).
pub const CONCURRENCY: usize = 32;

/// How long a connection to the API server may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the cluster: the kubectl flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeOptions {
    /// One kubeconfig file (`--kubeconfig`); overrides `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// Context name (`--context`); default: the kubeconfig's current context.
    pub context: Option<String>,
    /// Namespace (`--namespace`/`-n`); default: the context's namespace, else `default`.
    pub namespace: Option<String>,
    /// Act as this user (Kubernetes impersonation, like kubectl's `--as`).
    pub impersonate: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
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

pub type KubeResult<T> = Result<T, KubeError>;

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

fn config_error(e: KubeconfigError) -> KubeError {
    // A parse error may quote the file, and the file holds credentials: never echo it.
    let text = match &e {
        KubeconfigError::Parse(_) => {
            "the kubeconfig is not valid YAML (contents not shown: it holds credentials)".into()
        }
        other => other.to_string(),
    };
    KubeError::Config(format!("kubeconfig: {text}"))
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

/// A StatefulSet by namespace and name.
pub type StsRef = PodRef;

/// What happened to one target of a batch: a one-line outcome or the error.
pub type Outcome<T> = (T, KubeResult<String>);

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
    /// Reads the kubeconfig as kubectl does and builds a client. Makes no request.
    pub fn connect(opts: &KubeOptions) -> KubeResult<Kube> {
        let kubeconfig = match &opts.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(config_error)?,
            None => Kubeconfig::read().map_err(config_error)?,
        };
        let context = match opts.context.clone().or_else(|| kubeconfig.current_context.clone()) {
            Some(c) if !c.is_empty() => c,
            _ => return Err(KubeError::Config("kubeconfig: no current context; pass --context NAME".into())),
        };
        let named = kubeconfig.contexts.iter().find(|c| c.name == context).and_then(|c| c.context.as_ref());
        if named.is_none() {
            return Err(KubeError::Config(format!("kubeconfig: no context named {context:?}")));
        }
        let user = opts.impersonate.clone().or_else(|| named.and_then(|c| c.user.clone()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KubeError::Unavailable(format!("cannot start the Kubernetes client runtime: {e}")))?;
        let options = KubeConfigOptions { context: Some(context.clone()), cluster: None, user: None };
        let mut config = rt.block_on(Config::from_custom_kubeconfig(kubeconfig, &options)).map_err(config_error)?;
        config.read_timeout = Some(Duration::from_secs(30));
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        // The API server as the kubeconfig names it, without any user information or query.
        let url = &config.cluster_url;
        let mut server = format!("{}://{}", url.scheme_str().unwrap_or("https"), url.host().unwrap_or("?"));
        if let Some(port) = url.port_u16() {
            server.push_str(&format!(":{port}"));
        }
        if url.path() != "/" {
            server.push_str(url.path());
        }
        if let Some(who) = &opts.impersonate {
            config.auth_info.impersonate = Some(who.clone());
        }
        let namespace =
            opts.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| config.default_namespace.clone());
        let client = {
            let _guard = rt.enter();
            Client::try_from(config).map_err(|e| KubeError::Config(format!("kubeconfig context {context}: {e}")))?
        };
        Ok(Kube { rt, client, context, user, server, namespace, namespace_explicit: opts.namespace.is_some() })
    }

    /// The one place a failed request becomes a [`KubeError`]: it names the context and the
    /// API server, then what was asked and why it failed.
    fn api_error(&self, what: &str, e: kube::Error) -> KubeError {
        let at = format!("kube context {:?} ({})", self.context, self.server);
        match e {
            kube::Error::Api(status) => {
                let msg = if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
                let line = format!("{at}: {what}: {msg}");
                match status.code {
                    403 => KubeError::Forbidden(line),
                    404 => KubeError::NotFound(line),
                    409 => KubeError::Conflict(line),
                    400 | 422 => KubeError::Invalid(line),
                    _ => KubeError::Unavailable(line),
                }
            }
            other => KubeError::Unavailable(format!("{at}: {what}: cannot reach the API server: {}", causes(&other))),
        }
    }

    /// The namespace of a session without one: the current namespace.
    pub fn namespace_or_default(&self, ns: Option<&str>) -> String {
        ns.filter(|n| !n.is_empty()).map(str::to_owned).unwrap_or_else(|| self.namespace.clone())
    }

    // ------------------------------------------------------------------ RBAC

    async fn allowed(&self, p: &Permission) -> KubeResult<bool> {
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
    pub fn missing(&self, wanted: &[Permission]) -> KubeResult<Vec<Permission>> {
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

    /// Fails with "cannot patch statefulsets/scale in genai-prod" (every missing permission,
    /// `; `-separated) unless the user holds all of `wanted`.
    pub fn check(&self, wanted: &[Permission]) -> KubeResult<()> {
        let missing = self.missing(wanted)?;
        if missing.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = missing.iter().map(|p| format!("cannot {p}")).collect();
        Err(KubeError::Forbidden(lines.join("; ")))
    }

    // ------------------------------------------------------------------ discovery

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
    pub fn discover(&self, namespaces: &Namespaces, selector: &str, fallback: &[String]) -> KubeResult<Discovery> {
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
                        KubeError::Forbidden(_) => {
                            let mut list: BTreeSet<String> = fallback.iter().cloned().collect();
                            list.insert(self.namespace.clone());
                            let list: Vec<String> = list.into_iter().collect();
                            found.warnings.push(format!(
                                "cannot list pods in all namespaces; showing namespace{} {}",
                                if list.len() == 1 { "" } else { "s" },
                                list.join(", ")
                            ));
                            list
                        }
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
                        KubeError::Forbidden(_) => found.warnings.push(format!("cannot list pods in {ns}")),
                        other => return Err(other),
                    },
                }
            }
            Ok(found)
        })
    }

    /// One pod, read as discovery reads it.
    pub fn pod(&self, pod: &PodRef) -> KubeResult<PodView> {
        self.pods(std::slice::from_ref(pod)).pop().unwrap_or_else(|| Err(KubeError::NotFound(format!("pod {pod}"))))
    }

    /// Pods by name, read concurrently, results in order.
    pub fn pods(&self, refs: &[PodRef]) -> Vec<KubeResult<PodView>> {
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

    // ------------------------------------------------------------------ hard stop

    async fn stop_one(&self, sts: &StsRef) -> KubeResult<String> {
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

    async fn restore_one(&self, sts: &StsRef) -> KubeResult<String> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &sts.namespace);
        let what = format!("statefulset {sts}");
        let cur = within(api.get(&sts.name)).await.map_err(|e| self.api_error(&what, e))?;
        let Some(raw) = cur.metadata.annotations.as_ref().and_then(|a| a.get(REPLICAS_ANNOTATION)).cloned() else {
            return Err(KubeError::NotFound(format!(
                "{what} was not hard-stopped by quell (no {REPLICAS_ANNOTATION})"
            )));
        };
        let replicas: i32 = raw.trim().parse().ok().filter(|n: &i32| *n >= 0).ok_or_else(|| {
            KubeError::Invalid(format!("{what}: annotation {REPLICAS_ANNOTATION} is {raw:?}, not a replica count"))
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
    pub fn remembered_replicas(&self, sts: &StsRef) -> KubeResult<Option<String>> {
        self.rt.block_on(async {
            let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &sts.namespace);
            let cur = within(api.get(&sts.name)).await.map_err(|e| self.api_error(&format!("statefulset {sts}"), e))?;
            Ok(cur.metadata.annotations.and_then(|mut a| a.remove(REPLICAS_ANNOTATION)))
        })
    }

    // ------------------------------------------------------------------ kill

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

    // ------------------------------------------------------------------ quarantine

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
    pub fn namespaces_without_policy(&self, namespaces: &[String]) -> KubeResult<Vec<String>> {
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
                        return Err(KubeError::Conflict(format!(
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
                    KubeError::Conflict(_) => Ok(format!("networkpolicy {ns}/{QUARANTINE_POLICY} already exists")),
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
    fn permissions_read_like_the_refusal() {
        let p = Permission::new("patch", "apps", "statefulsets", Some("genai-prod")).subresource("scale");
        assert_eq!(format!("cannot {p}"), "cannot patch statefulsets/scale in genai-prod");
        assert_eq!(Permission::new("list", "", "pods", None).to_string(), "list pods in all namespaces");
    }

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
