//! What a command runs with: the [`Context`] resolved from flags, `QUELL_*` variables and the
//! config file (flag > env > file > default): the stores, the operator and whether they may
//! act, and the Kubernetes settings with the connection made on first use.

use super::args::{Cli, Command, KubeFlags};
use super::config::{self, FileKube};
use super::outcome::{Failure, NO_IDENTITY};
use crate::adapters::embedded::{AbsentAuditLog, EmbeddedStore, OpenMode};
use crate::adapters::kubernetes::{Kube, KubeOptions};
use crate::model::action::ActionKind;
use crate::model::operator::{Acting, CannotAct, Operator};
use crate::ports::Stores;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a command needs, resolved from flags, environment and config file.
pub struct Context {
    pub store_path: PathBuf,
    /// How this command opens the embedded store: only the demo and an agent create one;
    /// actions need an existing store, everything else opens it read-only.
    pub store_mode: OpenMode,
    /// Who acts, and whether they may (`--readonly`); the name is empty when no identity could
    /// be found (then every action refuses, see [`Context::acting`]).
    pub operator: Operator,
    pub theme: Option<String>,
    pub keys: Option<toml::Table>,
    /// The config file's `[demo]` table.
    pub demo: config::FileDemo,
    /// Sessions, control and approvals in Redis (audit stays embedded) when set.
    pub redis: Option<String>,
    pub redis_ca: Option<PathBuf>,
    /// The audit log in Kafka when set.
    pub kafka: Option<crate::adapters::kafka::KafkaConfig>,
    pub kafka_audit: Option<std::sync::Arc<crate::adapters::kafka::KafkaAudit>>,
    /// The Redis store, kept to say after the command what its listings skipped.
    pub redis_store: Option<std::sync::Arc<crate::adapters::redis::RedisStore>>,
    /// The command does not read the audit log, so brokers that cannot be reached do not stop it
    /// (the console, actions, listings): actions then take effect and say their audit record is
    /// missing.
    pub audit_outage_ok: bool,
    /// Kubernetes (pod columns, hard stop, kill pod, quarantine): context, namespace, kubeconfig.
    pub kube: KubeSettings,
    /// Where OpenTelemetry spans are read from (`--otlp-topic`, `--otlp-file`).
    pub span_sources: Vec<Arc<dyn crate::ports::spans::SpanSource>>,
    /// The sessions read from them, once per command, and the warnings of that read.
    pub span_sessions: Option<Arc<crate::services::otel::SpanSessions>>,
    /// The anomaly rules' thresholds and pinned models (`[anomaly]` in the config file).
    pub rules: crate::model::anomaly::Rules,
    stores: Option<Stores>,
}

impl Context {
    pub fn stores(&mut self) -> Result<Stores, Failure> {
        if let Some(s) = &self.stores {
            return Ok(s.clone());
        }
        let mut stores = match &self.redis {
            Some(url) => {
                // With Kafka as well the embedded store is not used: Kafka replaces this below.
                let audit: std::sync::Arc<dyn crate::ports::AuditLog> = match &self.kafka {
                    Some(_) => std::sync::Arc::new(AbsentAuditLog::new(&self.store_path)),
                    None => self.embedded_audit()?,
                };
                let redis = std::sync::Arc::new(crate::adapters::redis::RedisStore::open_with_ca(
                    url,
                    self.redis_ca.as_deref(),
                )?);
                self.redis_store = Some(redis.clone());
                crate::adapters::redis::RedisStore::shared_stores(&redis, audit)
            }
            None => self.embedded(self.store_mode)?.stores(),
        };
        if let Some(cfg) = &self.kafka {
            use crate::adapters::kafka::KafkaAudit;
            let audit = if self.audit_outage_ok {
                KafkaAudit::open_allowing_outage(cfg.clone())?
            } else {
                KafkaAudit::open(cfg.clone())?
            };
            let audit = std::sync::Arc::new(audit);
            stores.audit = audit.clone();
            self.kafka_audit = Some(audit);
        }
        self.stores = Some(stores.clone());
        Ok(stores)
    }

    fn embedded(&self, mode: OpenMode) -> Result<EmbeddedStore, Failure> {
        EmbeddedStore::open_with(&self.store_path, mode).map_err(|e| {
            let mut f = Failure::from(e);
            if mode != OpenMode::Create && !self.store_path.exists() {
                f.message.push_str(" (agents and `quell demo` create one; --store names another)");
            }
            f
        })
    }

    /// With Redis the embedded store holds only the audit log. An action creates it when
    /// missing: its operator record starts this machine's log. A command that only reads works
    /// without it (a listing never reads the log) and anything that does read or write the log
    /// is told `no such store PATH`.
    fn embedded_audit(&self) -> Result<std::sync::Arc<dyn crate::ports::AuditLog>, Failure> {
        match self.store_mode {
            OpenMode::ReadOnly if !self.store_path.exists() => {
                Ok(std::sync::Arc::new(AbsentAuditLog::new(&self.store_path)))
            }
            OpenMode::ReadOnly => Ok(std::sync::Arc::new(self.embedded(OpenMode::ReadOnly)?)),
            OpenMode::Create | OpenMode::Existing => Ok(std::sync::Arc::new(self.embedded(OpenMode::Create)?)),
        }
    }

    /// The capability to take `kind`: refused in read-only mode, and when the action would be
    /// recorded without an operator. The services refuse to act without it.
    pub fn acting(&self, kind: ActionKind) -> Result<Acting, Failure> {
        self.operator.acting().map_err(|e| match e {
            CannotAct::ReadOnly => Failure::usage(format!("{kind} refused: {e}")),
            CannotAct::NoIdentity => Failure::usage(format!("{kind} refused: {NO_IDENTITY}")),
        })
    }

    /// The cluster connection, made once per command.
    pub fn cluster(&mut self) -> Result<Arc<Kube>, Failure> {
        if let Some(k) = &self.kube.client {
            return Ok(k.clone());
        }
        let k = Arc::new(Kube::connect(&self.kube.options)?);
        self.kube.client = Some(k.clone());
        Ok(k)
    }

    /// Who acts: `--as` when given, else the kubeconfig user of the context.
    pub fn cluster_operator(&self, kube: &Kube) -> String {
        match (&kube.user, self.kube.operator_from_kubeconfig) {
            (Some(u), true) if crate::model::untrusted::operator_identity_problem(u).is_none() => u.clone(),
            _ => self.operator.name().to_owned(),
        }
    }
}

/// The context of one run of the CLI.
pub fn resolve(cli: &Cli) -> Result<Context, Failure> {
    let file = config::load(cli.global.config.as_deref()).map_err(Failure::usage)?;
    let kube = KubeSettings::resolve(
        &cli.global.kube,
        file.kube.as_ref(),
        cli.global.operator.is_some() || file.operator.is_some(),
    );
    let operator = cli.global.operator.clone().or(file.operator.clone()).or_else(config::default_operator);
    if let Some(problem) = operator.as_deref().and_then(crate::model::untrusted::operator_identity_problem) {
        return Err(Failure::usage(format!("--as: {problem}")));
    }
    let operator = operator.unwrap_or_default();
    let readonly = cli.global.readonly || file.readonly.unwrap_or(false);
    let kafka = crate::adapters::kafka::KafkaConfig::resolve(
        cli.global.kafka.as_deref(),
        cli.global.audit_topic.as_deref(),
        file.kafka.as_ref(),
        file.audit_topic.as_deref(),
    )
    .map_err(Failure::usage)?;
    let (kafka, span_sources) = span_sources(cli, &file, kafka)?;
    Ok(Context {
        store_path: cli.global.store.clone().or(file.store).unwrap_or_else(config::default_store),
        store_mode: store_mode(cli, readonly),
        operator: Operator::with_read_only(&operator, readonly),
        theme: cli.global.theme.clone().or(file.theme),
        keys: file.keys,
        demo: file.demo.unwrap_or_default(),
        redis: cli.global.redis.clone().or(file.redis),
        redis_ca: cli.global.redis_ca.clone().or(file.redis_ca),
        kafka,
        kafka_audit: None,
        redis_store: None,
        audit_outage_ok: false,
        kube,
        span_sources,
        span_sessions: None,
        rules: file.anomaly.unwrap_or_default(),
        stores: None,
    })
}

type SpanSources = Vec<Arc<dyn crate::ports::spans::SpanSource>>;

/// The span sources (`--otlp-topic` on the `--kafka` brokers, each `--otlp-file`) and the audit
/// log's Kafka configuration: with an OTLP topic the audit log is in Kafka only when an audit
/// topic is named (flag, variable or config), else it stays where it is without Kafka.
fn span_sources(
    cli: &Cli,
    file: &config::FileConfig,
    kafka: Option<crate::adapters::kafka::KafkaConfig>,
) -> Result<(Option<crate::adapters::kafka::KafkaConfig>, SpanSources), Failure> {
    use crate::adapters::otlp::{FileSpans, KafkaSpans};
    let mut sources: SpanSources =
        cli.global.otlp_file.iter().map(|p| Arc::new(FileSpans::new(p.clone())) as _).collect();
    let topic = cli.global.otlp_topic.clone().or(file.otlp_topic.clone()).filter(|t| !t.trim().is_empty());
    let Some(topic) = topic else { return Ok((kafka, sources)) };
    let Some(cfg) = kafka else {
        return Err(Failure::usage(format!(
            "--otlp-topic {}: the span topic needs Kafka brokers (--kafka host:9092)",
            crate::model::untrusted::Untrusted::new(topic).shown_line()
        )));
    };
    let audit_named = cli.global.audit_topic.is_some()
        || file.audit_topic.is_some()
        || file.kafka.as_ref().is_some_and(|k| k.topic.is_some());
    sources.push(Arc::new(KafkaSpans::new(crate::adapters::kafka::KafkaConfig { topic, ..cfg.clone() })));
    Ok((audit_named.then_some(cfg), sources))
}

/// Only what starts a store on purpose creates one; actions (and the console, which can take
/// them) need an existing store; every other command, and anything in read-only mode, only reads.
fn store_mode(cli: &Cli, readonly: bool) -> OpenMode {
    match &cli.command {
        Some(Command::Demo { .. } | Command::Agent { .. }) => OpenMode::Create,
        _ if readonly => OpenMode::ReadOnly,
        None
        | Some(
            Command::Pause(_)
            | Command::Resume(_)
            | Command::Kill(_)
            | Command::Approve(_)
            | Command::Reject(_)
            | Command::HardStop(_)
            | Command::KillPod(_)
            | Command::Quarantine(_)
            | Command::Release(_),
        ) => OpenMode::Existing,
        Some(
            Command::Sessions { .. }
            | Command::Show { .. }
            | Command::Replay { .. }
            | Command::Verify { .. }
            | Command::Approvals { .. },
        ) => OpenMode::ReadOnly,
    }
}

/// Resolved Kubernetes settings (flag > env > config file), connected on first use.
#[derive(Debug, Default)]
pub struct KubeSettings {
    pub options: KubeOptions,
    /// Pod label selector for discovery.
    pub selector: Option<String>,
    /// A context, namespace or kubeconfig was given (or quell runs as `kubectl quell`): show
    /// pod columns in `quell sessions`.
    pub configured: bool,
    /// No `--as`/`QUELL_AS`/config `as`: the operator is the kubeconfig user.
    pub operator_from_kubeconfig: bool,
    client: Option<Arc<Kube>>,
}

impl KubeSettings {
    pub fn resolve(flags: &KubeFlags, file: Option<&FileKube>, operator_explicit: bool) -> Self {
        let file = file.cloned().unwrap_or_default();
        let options = KubeOptions {
            kubeconfig: flags.kubeconfig.clone().or(file.kubeconfig),
            context: flags.context.clone().or(file.context),
            namespace: flags.namespace.clone().or(file.namespace),
            impersonate: None,
        };
        let configured = flags.plugin
            || file.enabled.unwrap_or(false)
            || options.kubeconfig.is_some()
            || options.context.is_some()
            || options.namespace.is_some();
        KubeSettings {
            options,
            selector: file.selector,
            configured,
            operator_from_kubeconfig: !operator_explicit,
            client: None,
        }
    }
}
