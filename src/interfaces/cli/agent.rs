//! `quell agent`: one simulated agent in its own process, on the runtime library. Used to show
//! (and test) crash recovery: kill the process, start it again, it resumes from its latest
//! checkpoint.

use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use crate::agent::runtime::{AgentRuntime, AgentSession, ApprovalWait, Gate, SessionSpec};
use crate::model::approval::{ApprovalStatus, Risk};
use crate::model::audit::{hash_input, EventKind};
use crate::model::session::SessionState;
use crate::model::untrusted::Untrusted;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// What the solo agent does. The Python library's `python -m quell_agent.solo` takes the same
/// flags and prints the same lines, so one behavioural suite drives both runtimes.
pub struct SoloPlan {
    pub steps: u64,
    pub step_ms: u64,
    /// At this step, ask for approval before e-mailing the customer.
    pub approval_at: Option<u64>,
    pub approval_ttl: u64,
    /// The audit log lives apart from the store (Kafka): while only it fails, the agent goes on.
    pub audit_apart: bool,
}

pub fn run(ctx: &mut Context, id: &str, plan: SoloPlan, agent: &str, out: &mut dyn Write) -> CliResult {
    crate::model::session::validate_session_id(id).map_err(|e| Failure::usage(format!("--session: {e}")))?;
    let stores = ctx.stores()?;
    let rt = AgentRuntime::start(stores.clone())?;
    drive(&rt, id, &plan, agent, out).map_err(|f| {
        // The process ends here: what the runtime could not store is lost, and it says so.
        match rt.shutdown() {
            Err(e) if f.code == exit::UNAVAILABLE => e.into(),
            _ => f,
        }
    })
}

fn drive(rt: &Arc<AgentRuntime>, id: &str, plan: &SoloPlan, agent: &str, out: &mut dyn Write) -> CliResult {
    let &SoloPlan { steps, step_ms, approval_at, approval_ttl, audit_apart } = plan;
    let stores = rt.stores().clone();
    let mut session = if stores.sessions.session(id)?.is_some() {
        let (s, latest) = AgentSession::resume(rt, id)?;
        writeln!(out, "resumed session {id} from step {}", latest.map(|c| c.step).unwrap_or(0))?;
        s
    } else {
        let spec = SessionSpec {
            id: Some(id.to_owned()),
            agent: agent.to_owned(),
            model: Some("gpt-4.1".into()),
            allowed_tools: vec!["web_search".into()],
            ..Default::default()
        };
        let s = AgentSession::start(rt, spec)?;
        writeln!(out, "started session {id}")?;
        s
    };
    out.flush()?;
    while session.step() < steps {
        if session.gate()? == Gate::Killed {
            flush_patiently(rt)?;
            writeln!(out, "killed at step {}", session.step())?;
            return Ok(exit::OK);
        }
        let step = session.begin_step();
        let mut llm = session.body(EventKind::LlmCall);
        llm.input_hash = Some(hash_input(format!("step {step}").as_bytes()));
        llm.output_summary = Some(Untrusted::new(format!("search for item {step}")));
        llm.input_tokens = Some(100);
        llm.output_tokens = Some(20);
        session.emit(llm)?;
        let mut call = session.body(EventKind::ToolCall);
        call.tool = Some(Untrusted::new("web_search"));
        session.emit(call)?;
        let mut result = session.body(EventKind::ToolResult);
        result.tool = Some(Untrusted::new("web_search"));
        result.output_summary = Some(Untrusted::new(format!("result {step}")));
        session.emit(result)?;
        if approval_at == Some(step) {
            let args = json!({"to": "customer@example.com", "subject": format!("step {step}")});
            let ap = session.request_approval("send_email", args, Risk::High, Duration::from_secs(approval_ttl), 1)?;
            writeln!(out, "waiting for approval {}", ap.id)?;
            out.flush()?;
            let status = match session.wait_approval(&ap.id, Duration::from_millis(20))? {
                // The gate at the top of the loop ends the run; nothing more is recorded.
                ApprovalWait::Killed => continue,
                ApprovalWait::Final(status) => status,
            };
            writeln!(out, "approval {} {status}", ap.id)?;
            if status == ApprovalStatus::Approved {
                let mut mail = session.body(EventKind::ToolCall);
                mail.tool = Some(Untrusted::new("send_email"));
                session.emit(mail)?;
            }
        }
        session.checkpoint(
            vec![json!({"role": "assistant", "content": format!("step {step}")})],
            vec![json!({"tool": "web_search", "output": format!("result {step}")})],
            json!({"next_step": step + 1}),
        )?;
        // While an audit log apart from the store (Kafka) cannot be written, the events stay
        // queued and are retried and the agent goes on (and keeps obeying control), as the agent
        // contract asks. When the store itself refuses writes (a full disk) nothing would be
        // kept: the agent stops and says what is lost.
        if !audit_apart {
            session.commit()?;
        } else if let Err(e) = rt.flush_within(Duration::from_secs(1)) {
            writeln!(out, "{}", crate::shown!("audit log not writable, events kept queued: {e}"))?;
        }
        writeln!(out, "step {step}")?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(step_ms));
    }
    session.end(SessionState::Finished, None)?;
    writeln!(out, "finished at step {}", session.step())?;
    Ok(exit::OK)
}

/// Waits up to a minute for what is queued to be stored (the audit log may be coming back).
fn flush_patiently(rt: &Arc<AgentRuntime>) -> Result<(), crate::ports::StoreError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match rt.flush() {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
