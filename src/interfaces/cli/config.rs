//! The config file (TOML). Flags and `QUELL_*` variables win over it.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub store: Option<PathBuf>,
    #[serde(rename = "as")]
    pub operator: Option<String>,
    pub readonly: Option<bool>,
    pub theme: Option<String>,
    /// Redis URL for sessions, checkpoints, control and approvals (`--redis`, `QUELL_REDIS`).
    pub redis: Option<String>,
    /// CA file (PEM) for a `rediss://` server (`--redis-ca`, `QUELL_REDIS_CA`).
    pub redis_ca: Option<PathBuf>,
    /// Kafka for the audit log: the broker list, or a `[kafka]` table with `brokers`, `topic` and
    /// librdkafka settings passed through (SASL, SSL); secret values are never printed.
    pub kafka: Option<crate::adapters::kafka::FileKafka>,
    /// The Kafka audit topic (`--audit-topic`, `QUELL_AUDIT_TOPIC`).
    pub audit_topic: Option<String>,
    /// The Kafka topic of OpenTelemetry spans (`--otlp-topic`, `QUELL_OTLP_TOPIC`).
    pub otlp_topic: Option<String>,
    /// Kubernetes: `[kube]` with context, namespace, kubeconfig, selector, enabled.
    pub kube: Option<FileKube>,
    /// Key remapping for the console: action name = key(s).
    pub keys: Option<toml::Table>,
    /// The anomaly rules' thresholds and pinned models: `[anomaly]` with
    /// `max_tokens_per_minute`, `max_cost_usd_per_hour`, `max_tool_errors` and a
    /// `[anomaly.pinned_models]` table of agent name = model (see docs/anomalies.md).
    pub anomaly: Option<crate::model::anomaly::Rules>,
    /// `quell demo`: `[demo]` with approval_ttl.
    pub demo: Option<FileDemo>,
}

/// The `[demo]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDemo {
    /// How long the simulated agents' approvals wait: seconds, or a duration text ("10m").
    pub approval_ttl: Option<Seconds>,
}

/// A length of time in the config file: a number of seconds or a text such as `"10m"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seconds {
    Number(i64),
    Text(String),
}

/// The `[kube]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKube {
    /// Turn on pod columns even without --context/-n/--kubeconfig (uses $KUBECONFIG).
    pub enabled: Option<bool>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Label selector of agent pods [default: app=ai-agent-runtime].
    pub selector: Option<String>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| home().map(|h| h.join(fallback)))
}

pub fn default_store() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").unwrap_or_else(|| PathBuf::from(".")).join("quell").join("quell.db")
}

pub fn default_config() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("quell").join("config.toml"))
}

/// Reads the config file; a missing default file is fine, a missing named one is not.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, String> {
    let (path, required) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => match default_config() {
            Some(p) => (p, false),
            None => return Ok(FileConfig::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(FileConfig::default()),
        Err(e) => return Err(format!("config file {}: {e}", path.display())),
    };
    toml::from_str(&text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_owned();
        format!("config file {}: {first}: {}", path.display(), e.message())
    })
}

/// The operator's name when neither `--as` nor the config file gives one: `$USER` (or `LOGNAME`,
/// `USERNAME`), else the account name of the process's uid. `None` when there is none (a
/// container uid without a passwd entry, no variables): actions then refuse and ask for `--as`
/// rather than record an anonymous operator.
pub fn default_operator() -> Option<String> {
    ["QUELL_OPERATOR_FALLBACK", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .or_else(account_name)
}

/// The account name of the real uid, through the system's user database (NSS: passwd, LDAP, …).
/// A name that is not UTF-8 is not used (nix decodes it lossily).
fn account_name() -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::current()).ok()??;
    let name = user.name;
    (!name.trim().is_empty() && !name.contains(char::REPLACEMENT_CHARACTER)).then_some(name)
}
