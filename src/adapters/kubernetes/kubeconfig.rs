//! Reading the kubeconfig as kubectl does, and building the client from it.

use super::Kube;
use crate::ports::cluster::{ClusterError, ClusterResult};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use std::path::PathBuf;
use std::time::Duration;

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

fn config_error(e: KubeconfigError) -> ClusterError {
    // A parse error may quote the file, and the file holds credentials: never echo it.
    let text = match &e {
        KubeconfigError::Parse(_) => {
            "the kubeconfig is not valid YAML (contents not shown: it holds credentials)".into()
        }
        other => other.to_string(),
    };
    ClusterError::Config(format!("kubeconfig: {text}"))
}

impl Kube {
    /// Reads the kubeconfig as kubectl does and builds a client. Makes no request.
    pub fn connect(opts: &KubeOptions) -> ClusterResult<Kube> {
        let kubeconfig = match &opts.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(config_error)?,
            None => Kubeconfig::read().map_err(config_error)?,
        };
        let context = match opts.context.clone().or_else(|| kubeconfig.current_context.clone()) {
            Some(c) if !c.is_empty() => c,
            _ => return Err(ClusterError::Config("kubeconfig: no current context; pass --context NAME".into())),
        };
        let named = kubeconfig.contexts.iter().find(|c| c.name == context).and_then(|c| c.context.as_ref());
        if named.is_none() {
            return Err(ClusterError::Config(format!("kubeconfig: no context named {context:?}")));
        }
        let user = opts.impersonate.clone().or_else(|| named.and_then(|c| c.user.clone()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Unavailable(format!("cannot start the Kubernetes client runtime: {e}")))?;
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
            Client::try_from(config).map_err(|e| ClusterError::Config(format!("kubeconfig context {context}: {e}")))?
        };
        Ok(Kube { rt, client, context, user, server, namespace, namespace_explicit: opts.namespace.is_some() })
    }
}
