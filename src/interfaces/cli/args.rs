//! Command-line grammar. Global options are accepted before or after the subcommand and also
//! come from `QUELL_*` environment variables and the config file (flag > env > file > default).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "quell",
    version,
    about = "The console for AI agents misbehaving in production",
    long_about = "Lists live agent sessions, rebuilds reasoning chains from checkpoints and a tamper-evident \
audit log, pauses or kills agents from one session to the whole fleet, and decides pending approvals exactly once.\n\n\
Run without a command to open the console.",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage error, 3 not found, 4 conflict, \
5 integrity failure, 6 backend unavailable, 7 not acknowledged within --wait, 8 missing Kubernetes permission."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// The embedded store file [default: $XDG_DATA_HOME/quell/quell.db] [env: QUELL_STORE]
    #[arg(long, global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Operator identity written to the audit log [default: your user name] [env: QUELL_AS]
    #[arg(long = "as", global = true, value_name = "NAME")]
    pub operator: Option<String>,
    /// Config file [default: $XDG_CONFIG_HOME/quell/config.toml] [env: QUELL_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Refuse every action (pause, kill, approve, ...): look, don't touch [env: QUELL_READONLY]
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Console theme: a name from themes/ or a path to a theme file [env: QUELL_THEME]
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Redis for live sessions, checkpoints, control and approvals (the audit log stays in the
    /// embedded store): redis://[user:password@]host:port[/db] [env: QUELL_REDIS]
    // This doc comment is the `--help` text, shown as written: its brackets are not doc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, global = true, value_name = "URL")]
    pub redis: Option<String>,
    /// CA certificate(s), PEM, to verify a rediss:// server with instead of the system's roots [env: QUELL_REDIS_CA]
    #[arg(long = "redis-ca", global = true, value_name = "PATH")]
    pub redis_ca: Option<PathBuf>,
    /// Kafka brokers for the audit log (host:port[,host:port...]); SASL/SSL settings come from the
    /// config file's [kafka] table [env: QUELL_KAFKA]
    // This doc comment is the `--help` text, shown as written: its brackets are not doc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, global = true, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// The Kafka audit topic [default: quell.audit] [env: QUELL_AUDIT_TOPIC]
    #[arg(long = "audit-topic", global = true, value_name = "TOPIC")]
    pub audit_topic: Option<String>,
    /// Kafka topic an OpenTelemetry Collector exports GenAI spans to (otlp_json or otlp_proto),
    /// read as a second source of sessions; needs --kafka. The audit log stays where it is
    /// configured: in Kafka only when an audit topic is named [env: QUELL_OTLP_TOPIC]
    #[arg(long = "otlp-topic", global = true, value_name = "TOPIC")]
    pub otlp_topic: Option<String>,
    /// A file the Collector's file exporter wrote (OTLP JSON lines), read as a second source of
    /// sessions; repeatable
    #[arg(long = "otlp-file", global = true, value_name = "PATH")]
    pub otlp_file: Vec<PathBuf>,
    #[command(flatten)]
    pub kube: KubeFlags,
}

/// A flag's environment variable: read here, not by clap, because clap counts a value from the
/// environment as typed and then shows e.g. `--store <PATH>` in a usage line as if it were
/// required. An empty variable counts as unset.
fn env_os(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn env_text(name: &str) -> Result<Option<String>, String> {
    env_os(name).map(|v| v.into_string().map_err(|_| format!("{name} is not valid UTF-8"))).transpose()
}

fn env_flag(name: &str) -> Result<bool, String> {
    let Some(value) = env_text(name)? else { return Ok(false) };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
        "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
        _ => Err(format!(
            "{name} must be true or false (got '{}')",
            crate::model::untrusted::Untrusted::new(value).shown_line()
        )),
    }
}

impl Global {
    /// Fills what the command line left unset from the flags' `QUELL_*` environment variables;
    /// the command line wins. The error names the variable.
    pub fn fill_from_env(&mut self) -> Result<(), String> {
        fn path(slot: &mut Option<PathBuf>, name: &str) {
            if slot.is_none() {
                *slot = env_os(name).map(PathBuf::from);
            }
        }
        fn text(slot: &mut Option<String>, name: &str) -> Result<(), String> {
            if slot.is_none() {
                *slot = env_text(name)?;
            }
            Ok(())
        }
        path(&mut self.store, "QUELL_STORE");
        text(&mut self.operator, "QUELL_AS")?;
        path(&mut self.config, "QUELL_CONFIG");
        self.readonly = self.readonly || env_flag("QUELL_READONLY")?;
        text(&mut self.theme, "QUELL_THEME")?;
        text(&mut self.redis, "QUELL_REDIS")?;
        path(&mut self.redis_ca, "QUELL_REDIS_CA");
        text(&mut self.kafka, "QUELL_KAFKA")?;
        text(&mut self.audit_topic, "QUELL_AUDIT_TOPIC")?;
        text(&mut self.otlp_topic, "QUELL_OTLP_TOPIC")?;
        text(&mut self.kube.context, "QUELL_CONTEXT")?;
        text(&mut self.kube.namespace, "QUELL_NAMESPACE")?;
        path(&mut self.kube.kubeconfig, "QUELL_KUBECONFIG");
        Ok(())
    }
}

/// The kubectl flags, accepted anywhere on the command line, as kubectl takes them.
#[derive(Args, Debug, Clone, Default)]
pub struct KubeFlags {
    /// Kubernetes context, as kubectl's --context [default: the kubeconfig's current context] [env: QUELL_CONTEXT]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubernetes namespace, as kubectl's -n: `sessions` lists only the sessions in it (with or
    /// without a kube context) and pod discovery is narrowed to it [default: every namespace;
    /// a session that reports none is in the context's namespace] [env: QUELL_NAMESPACE]
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Kubeconfig file, as kubectl's --kubeconfig [default: $KUBECONFIG, else ~/.kube/config] [env: QUELL_KUBECONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Set when running as `kubectl quell`: Kubernetes is always on.
    #[arg(skip)]
    pub plugin: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum TextFormat {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Targets {
    /// Session ids
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<String>,
    /// Every session: pause/resume hold the whole fleet, including sessions that start later
    /// (resume lifts only the fleet hold: sessions paused by id or selector stay paused); kill
    /// kills every live session
    #[arg(long)]
    pub all: bool,
    /// Sessions matching a selector, e.g. 'state=running,tool in (send_email)' (never empty:
    /// the whole fleet is --all)
    #[arg(long = "where", value_name = "SELECTOR")]
    pub selector: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ControlArgs {
    #[command(flatten)]
    pub targets: Targets,
    /// Why (required; written to the audit log)
    #[arg(long)]
    pub reason: Option<String>,
    /// Seconds to wait for every session to acknowledge (0: don't wait)
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub wait: f64,
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: TextFormat,
}

#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct ApprovalTargets {
    /// Approval ids (see `quell approvals`); each is decided or said why not
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Every pending, unexpired request matching a selector, e.g. 'tool=send_email,risk in
    /// (high,critical)' (fields: id, session, tool, risk, status, and the session's agent,
    /// namespace, pod, model, state); `quell approvals --where` lists exactly these
    #[arg(long = "where", value_name = "SELECTOR")]
    pub selector: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DecideArgs {
    #[command(flatten)]
    pub targets: ApprovalTargets,
    /// Why (required; written to the audit log)
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: TextFormat,
}

#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct PodTargets {
    /// Session ids (each must report its pod)
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<String>,
    /// Sessions matching a selector, e.g. 'namespace=genai-prod,tool in (send_email)'
    #[arg(long = "where", value_name = "SELECTOR")]
    pub selector: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PodActionArgs {
    #[command(flatten)]
    pub targets: PodTargets,
    /// Why (required; written to the audit log)
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: TextFormat,
}

#[derive(Args, Debug, Clone)]
pub struct HardStopArgs {
    #[command(flatten)]
    pub common: PodActionArgs,
    /// Undo a hard stop: scale the StatefulSets back to the replica count they had
    #[arg(long)]
    pub resume: bool,
}

#[derive(Args, Debug, Clone)]
pub struct KillPodArgs {
    #[command(flatten)]
    pub common: PodActionArgs,
    /// Zero grace period: the pod is removed at once (kubectl delete --grace-period=0)
    #[arg(long)]
    pub now: bool,
    /// Grace period in seconds [default: the pod's own]
    #[arg(long, value_name = "SECS", conflicts_with = "now")]
    pub grace_period: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a simulated fleet on the configured store (and open the console on it)
    Demo {
        /// Number of simulated agents
        #[arg(long, default_value_t = 24)]
        agents: usize,
        /// No console: print a one-line live summary every second
        #[arg(long)]
        headless: bool,
        /// Stop after this many seconds (default: until quit / Ctrl-C)
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Simulated thinking time per step, in milliseconds: MIN-MAX
        #[arg(long, default_value = "700-2500", value_name = "MIN-MAX")]
        step_ms: String,
        /// Agents end after this many steps (0: run until stopped)
        #[arg(long, default_value_t = 40)]
        steps: u64,
        /// How long an unanswered approval waits before it expires (counts as rejected): seconds
        /// or 90s, 10m, 1h, up to 1d [default: 10m] [env: QUELL_DEMO_APPROVAL_TTL] [config:
        /// approval_ttl in [demo]]
        // This doc comment is the `--help` text, shown as written: its brackets are not doc links.
        #[allow(rustdoc::broken_intra_doc_links)]
        #[arg(long, value_name = "TIME")]
        approval_ttl: Option<String>,
    },
    /// List sessions
    Sessions {
        /// Only sessions matching a selector, e.g. 'state=running,model=gpt-4.1'
        #[arg(long = "where", value_name = "SELECTOR")]
        selector: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: ListFormat,
    },
    /// The reasoning chain of a session: checkpoints and audit events in order
    Show {
        session: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: TextFormat,
    },
    /// Audit events of one session or all, in stored order
    Replay {
        session: Option<String>,
        /// From this time: RFC 3339 or an age (90s, 15m, 2h, 1d)
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Up to this time: RFC 3339 or an age
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Only these kinds (comma-separated), e.g. tool_call,operator_action
        #[arg(long, value_delimiter = ',', value_name = "KIND")]
        kind: Vec<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: TextFormat,
    },
    /// Verify the audit hash chains (exit 5 and the first broken link when one is broken)
    Verify {
        session: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: TextFormat,
    },
    /// Pause sessions before their next step
    Pause(ControlArgs),
    /// Resume paused sessions
    Resume(ControlArgs),
    /// Stop sessions at their next step, for good (audit history is kept)
    Kill(ControlArgs),
    /// Approvals waiting for a human, soonest expiry first
    Approvals {
        /// Include decided and expired ones
        #[arg(long)]
        all: bool,
        /// Only requests matching a selector, e.g. 'tool=send_email,namespace=genai-prod' (fields:
        /// id, session, tool, risk, status, and the session's agent, namespace, pod, model, state)
        #[arg(long = "where", value_name = "SELECTOR")]
        selector: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: ListFormat,
    },
    /// Approve pending actions: by id, or every pending request matching --where
    Approve(DecideArgs),
    /// Reject pending actions: by id, or every pending request matching --where
    Reject(DecideArgs),
    /// Scale the StatefulSets of sessions' pods to zero (agents that ignore pause); --resume restores
    HardStop(HardStopArgs),
    /// Delete sessions' pods (the StatefulSet recreates them; agents resume from checkpoints)
    KillPod(KillPodArgs),
    /// Cut sessions' pods off the network: label them for a deny-all NetworkPolicy
    Quarantine(PodActionArgs),
    /// Lift a quarantine: remove the pod label
    Release(PodActionArgs),
    /// Run one simulated agent in this process (resumes the session when it exists)
    #[command(hide = true)]
    Agent {
        #[arg(long)]
        session: String,
        #[arg(long, default_value_t = 20)]
        steps: u64,
        #[arg(long, default_value_t = 100)]
        step_ms: u64,
        #[arg(long, default_value = "solo-agent")]
        agent: String,
        /// At this step, ask a human before e-mailing the customer (the tool runs only if approved)
        #[arg(long)]
        approval_at: Option<u64>,
        /// Seconds that approval waits before it expires
        #[arg(long, default_value_t = 300)]
        approval_ttl: u64,
    },
}
