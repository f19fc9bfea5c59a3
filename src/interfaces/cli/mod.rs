//! The scripted CLI: runbook steps with stable flags, JSON output and documented exit codes.

mod agent;
mod approvals;
pub mod args;
pub mod cluster;
pub mod config;
mod control;
mod demo;
mod forensics;
mod json;
pub mod output;
mod sessions;
mod table;
mod targets;

use crate::adapters::embedded::{AbsentAuditLog, EmbeddedStore, OpenMode};
use crate::model::action::ActionKind;
use crate::model::operator::{Acting, CannotAct, Operator};
use crate::ports::{StoreError, Stores};
use args::{Cli, Command};
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::Write;
use std::path::PathBuf;

/// Documented exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const CONFLICT: i32 = 4;
    pub const INTEGRITY: i32 = 5;
    pub const UNAVAILABLE: i32 = 6;
    pub const NOT_ACKNOWLEDGED: i32 = 7;
    /// A missing Kubernetes permission (RBAC): nothing was changed.
    pub const FORBIDDEN: i32 = 8;
}

/// An action took effect but the operator's audit record could not be written: one warning
/// line on stderr and exit 6, so a runbook notices; otherwise `code`.
pub(crate) fn unrecorded(what: &str, audit_error: Option<&str>, code: i32) -> i32 {
    match audit_error {
        Some(e) => {
            let _ = writeln!(std::io::stderr(), "{}", crate::shown!("quell: warning: {what} took effect, but {e}"));
            exit::UNAVAILABLE
        }
        None => code,
    }
}

/// One line on stderr about an action that was carried out (the exit code says how it went),
/// neutralised: it can quote reasons and names from the store.
pub(crate) fn notice(line: &str) {
    let line = crate::model::untrusted::neutralize(line, crate::model::untrusted::Lines::Escape);
    let _ = writeln!(std::io::stderr(), "quell: {line}");
}

/// A failure: one line for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: message.into() }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::NotFound(_) => exit::NOT_FOUND,
            StoreError::Conflict(_) | StoreError::Decide(_) => exit::CONFLICT,
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => exit::UNAVAILABLE,
            StoreError::Invalid(_) => exit::USAGE,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure {
            code: if e.kind() == std::io::ErrorKind::BrokenPipe { exit::OK } else { exit::INTERNAL },
            message: e.to_string(),
        }
    }
}

pub type CliResult = Result<i32, Failure>;

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
    /// Sessions, control and approvals in Redis (audit stays embedded) when set.
    pub redis: Option<String>,
    pub redis_ca: Option<PathBuf>,
    /// The audit log in Kafka when set.
    pub kafka: Option<crate::adapters::kafka::KafkaConfig>,
    pub kafka_audit: Option<std::sync::Arc<crate::adapters::kafka::KafkaAudit>>,
    /// The command does not read the audit log, so brokers that cannot be reached do not stop it
    /// (the console, actions, listings): actions then take effect and say their audit record is
    /// missing.
    pub audit_outage_ok: bool,
    /// Kubernetes (pod columns, hard stop, kill pod, quarantine): context, namespace, kubeconfig.
    pub kube: cluster::KubeSettings,
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
                crate::adapters::redis::RedisStore::open_with_ca(url, self.redis_ca.as_deref())?.stores(audit)
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
}

/// Why an action cannot say who took it.
pub(crate) const NO_IDENTITY: &str =
    "no operator identity to record ($USER is unset and this uid has no account name); name yourself with --as NAME";

fn context(cli: &Cli) -> Result<Context, Failure> {
    let file = config::load(cli.global.config.as_deref()).map_err(Failure::usage)?;
    let kube = cluster::KubeSettings::resolve(
        &cli.global.kube,
        file.kube.as_ref(),
        cli.global.operator.is_some() || file.operator.is_some(),
    );
    let operator = cli.global.operator.clone().or(file.operator).or_else(config::default_operator);
    if let Some(problem) = operator.as_deref().and_then(crate::model::untrusted::operator_identity_problem) {
        return Err(Failure::usage(format!("--as: {problem}")));
    }
    let operator = operator.unwrap_or_default();
    let readonly = cli.global.readonly || file.readonly.unwrap_or(false);
    Ok(Context {
        store_path: cli.global.store.clone().or(file.store).unwrap_or_else(config::default_store),
        store_mode: store_mode(cli, readonly),
        operator: Operator::with_read_only(&operator, readonly),
        theme: cli.global.theme.clone().or(file.theme),
        keys: file.keys,
        redis: cli.global.redis.clone().or(file.redis),
        redis_ca: cli.global.redis_ca.clone().or(file.redis_ca),
        kafka: crate::adapters::kafka::KafkaConfig::resolve(
            cli.global.kafka.as_deref(),
            cli.global.audit_topic.as_deref(),
            file.kafka.as_ref(),
            file.audit_topic.as_deref(),
        )
        .map_err(Failure::usage)?,
        kafka_audit: None,
        audit_outage_ok: false,
        kube,
        stores: None,
    })
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

fn run(cli: Cli) -> CliResult {
    let mut ctx = context(&cli)?;
    // Buffered: a replay of a million events is one write per 8 KiB, not per line. Commands
    // that report progress (demo, agent) flush after each line.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    // Forensics need the audit log; the demo and the agent write to it from the start.
    ctx.audit_outage_ok = !matches!(
        cli.command,
        Some(Command::Show { .. } | Command::Replay { .. } | Command::Verify { .. })
            | Some(Command::Demo { .. } | Command::Agent { .. })
    );
    let code = match cli.command {
        None => demo::console(&mut ctx),
        Some(Command::Demo { agents, headless, duration, step_ms, steps, approval_ttl }) => {
            let opts = demo::DemoOptions { agents, headless, duration, step_ms, steps, approval_ttl };
            demo::run(&mut ctx, opts, &mut out)
        }
        Some(Command::Sessions { selector, output }) => sessions::list(&mut ctx, selector.as_deref(), output, &mut out),
        Some(Command::Show { session, output }) => forensics::show(&mut ctx, &session, output, &mut out),
        Some(Command::Replay { session, since, until, kind, output }) => {
            forensics::replay(&mut ctx, session.as_deref(), since.as_deref(), until.as_deref(), &kind, output, &mut out)
        }
        Some(Command::Verify { session, output }) => forensics::verify(&mut ctx, session.as_deref(), output, &mut out),
        Some(Command::Pause(a)) => control::run(&mut ctx, ActionKind::Pause, a, &mut out),
        Some(Command::Resume(a)) => control::run(&mut ctx, ActionKind::Resume, a, &mut out),
        Some(Command::Kill(a)) => control::run(&mut ctx, ActionKind::Kill, a, &mut out),
        Some(Command::Approvals { all, output }) => approvals::list(&mut ctx, all, output, &mut out),
        Some(Command::Approve(a)) => approvals::decide(&mut ctx, crate::model::approval::Verdict::Approve, a, &mut out),
        Some(Command::Reject(a)) => approvals::decide(&mut ctx, crate::model::approval::Verdict::Reject, a, &mut out),
        Some(Command::HardStop(a)) => cluster::hard_stop(&mut ctx, a, &mut out),
        Some(Command::KillPod(a)) => cluster::kill_pod(&mut ctx, a, &mut out),
        Some(Command::Quarantine(a)) => cluster::quarantine(&mut ctx, a, &mut out),
        Some(Command::Release(a)) => cluster::release(&mut ctx, a, &mut out),
        Some(Command::Agent { session, steps, step_ms, agent, approval_at, approval_ttl }) => {
            let plan = agent::SoloPlan { steps, step_ms, approval_at, approval_ttl, audit_apart: ctx.kafka.is_some() };
            agent::run(&mut ctx, &session, plan, &agent, &mut out)
        }
    };
    out.flush()?;
    // Kafka: topic warnings and records skipped as foreign, after the command's own output.
    for line in ctx.kafka_audit.iter().flat_map(|k| k.report_lines()) {
        let _ = writeln!(std::io::stderr(), "{}", crate::shown!("quell: warning: {line}"));
    }
    code
}

/// Entry point of the `quell` binary; returns the exit code.
pub fn main() -> i32 {
    finish(Cli::try_parse())
}

/// Entry point of the `kubectl-quell` executable: the same CLI, shown as `kubectl quell`,
/// with Kubernetes always on.
pub fn plugin_main() -> i32 {
    let command = Cli::command().name("kubectl-quell").bin_name("kubectl quell");
    let parsed = command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)).map(|mut cli| {
        cli.global.kube.plugin = true;
        cli
    });
    finish(parsed)
}

/// Runs parsed arguments (`quell` and `kubectl quell` alike) and returns the exit code.
pub(crate) fn finish(parsed: Result<Cli, clap::Error>) -> i32 {
    let cli = match parsed {
        Ok(cli) => cli,
        // Usage errors quote what was typed (`invalid value '…' for '--output'`): neutralised,
        // line breaks kept, without clap's colours.
        Err(e) if e.use_stderr() => {
            let text =
                crate::model::untrusted::neutralize(&e.render().to_string(), crate::model::untrusted::Lines::Keep);
            let _ = write!(std::io::stderr(), "{text}");
            return exit::USAGE;
        }
        Err(e) => {
            let _ = e.print();
            return exit::OK;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(f) if f.code == exit::OK => exit::OK,
        Err(f) => {
            let line = f.message.lines().next().unwrap_or("error").to_owned();
            let _ = writeln!(
                std::io::stderr(),
                "quell: {}",
                crate::model::untrusted::neutralize(&line, crate::model::untrusted::Lines::Escape)
            );
            f.code
        }
    }
}
