//! The scripted CLI: runbook steps with stable flags, JSON output and documented exit codes.

mod agent;
mod approvals;
pub mod args;
pub mod cluster;
pub mod config;
pub mod context;
mod control;
mod demo;
mod forensics;
mod json;
mod otel;
pub mod outcome;
pub mod output;
mod sessions;
mod table;
mod targets;

pub use context::Context;
pub use outcome::{exit, CliResult, Failure};

use crate::model::action::ActionKind;
use args::{Cli, Command};
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::Write;

fn run(cli: Cli) -> CliResult {
    let mut ctx = context::resolve(&cli)?;
    // Buffered: a replay of a million events is one write per 8 KiB, not per line. Commands
    // that report progress (demo, agent) flush after each line.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    // Forensics need the audit log; the demo and the agent write to it from the start.
    ctx.audit_outage_ok = !matches!(
        cli.command,
        Some(Command::Show { .. } | Command::Replay { .. } | Command::Verify { .. })
            | Some(Command::Demo { .. } | Command::Agent { .. })
    );
    // Pause, resume, kill and approvals on a session known only from spans: refused, saying why
    // (after what the span read skipped, as every command says it).
    let refused = match &cli.command {
        Some(Command::Pause(a)) => otel::refuse_control(&mut ctx, "pause", &a.targets.sessions),
        Some(Command::Resume(a)) => otel::refuse_control(&mut ctx, "resume", &a.targets.sessions),
        Some(Command::Kill(a)) => otel::refuse_control(&mut ctx, "kill", &a.targets.sessions),
        Some(Command::Approve(a)) => otel::refuse_control(&mut ctx, "approve", &a.targets.ids),
        Some(Command::Reject(a)) => otel::refuse_control(&mut ctx, "reject", &a.targets.ids),
        _ => Ok(()),
    };
    if let Err(f) = refused {
        report_warnings(&ctx);
        return Err(f);
    }
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
        Some(Command::Approvals { all, selector, output }) => {
            approvals::list(&mut ctx, all, selector.as_deref(), output, &mut out)
        }
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
    report_warnings(&ctx);
    code
}

/// Kafka: topic warnings and records skipped as foreign; Redis: keys of other writers under
/// `checkpoint:` skipped; span sources: records skipped. On stderr, after the command's output.
fn report_warnings(ctx: &Context) {
    let redis_lines = ctx.redis_store.iter().flat_map(|r| r.report_lines());
    let span_lines = otel::report_lines(ctx);
    for line in ctx.kafka_audit.iter().flat_map(|k| k.report_lines()).chain(redis_lines).chain(span_lines) {
        let _ = writeln!(std::io::stderr(), "{}", crate::shown!("quell: warning: {line}"));
    }
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
    let mut cli = match parsed {
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
    if let Err(e) = cli.global.fill_from_env() {
        let _ = writeln!(std::io::stderr(), "quell: {e}");
        return exit::USAGE;
    }
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
