//! The per-session API: one [`AgentSession`] per agent loop keeps its own chain tail, queues
//! its events, checkpoints and reports on the process's [`AgentRuntime`], and obeys control at
//! step boundaries.

use super::process::AgentRuntime;
use super::watcher::{ControlView, CONTROL_POLL};
use crate::model::approval::{Approval, ApprovalStatus, Risk};
use crate::model::audit::{AuditEvent, EventBody, EventKind};
use crate::model::chain::{sha256_hex, ChainTail};
use crate::model::checkpoint::Checkpoint;
use crate::model::control::Desired;
use crate::model::session::{validate_session_id, Session, SessionState};
use crate::model::time;
use crate::model::untrusted::{Untrusted, UntrustedJson};
use crate::ports::{Result, SealedEvent, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// What an agent declares about itself when it starts a session.
#[derive(Clone, Debug, Default)]
pub struct SessionSpec {
    pub id: Option<String>,
    pub agent: String,
    pub model: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// The tools this agent is meant to call; the console flags any other as an anomaly.
    pub allowed_tools: Vec<String>,
}

/// The answer of the control gate at a step boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    Paused,
    Killed,
}

/// How a wait for an approval ended: decided (approved, rejected or expired), or the session
/// was killed meanwhile — then the tool must not run and nothing of it is recorded after the
/// kill, so a kill is never reported as a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalWait {
    Final(ApprovalStatus),
    Killed,
}

/// One agent session. Not shared between threads: one agent loop owns it.
pub struct AgentSession {
    rt: Arc<AgentRuntime>,
    session: Session,
    tail: ChainTail,
    identity: String,
    applied: Desired,
    /// An approval this session waits for: after a pause it goes back to waiting, not running.
    waiting: Option<String>,
}

/// A fresh id, `{prefix}-` and 16 hex digits from the operating system's generator (the clock
/// and process id if that fails).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let n = time::to_micros(&time::now()) as u64 ^ u64::from(std::process::id());
        bytes = n.to_le_bytes();
    }
    format!("{prefix}-{}", hex::encode(bytes))
}

impl AgentSession {
    /// Registers a new session and queues `session_started` (call [`AgentSession::commit`] to
    /// wait until it is stored).
    pub fn start(rt: &Arc<AgentRuntime>, spec: SessionSpec) -> Result<AgentSession> {
        let id = spec.id.clone().unwrap_or_else(|| new_id("s"));
        validate_session_id(&id).map_err(StoreError::Invalid)?;
        if rt.stores().sessions.session(&id)?.is_some() {
            return Err(StoreError::Conflict(format!("session {id} already exists; resume it instead")));
        }
        let mut session = Session::new(id.clone(), spec.agent.as_str(), time::now());
        session.model = spec.model.clone().map(Untrusted::new);
        session.namespace = spec.namespace.clone().map(Untrusted::new);
        session.pod = spec.pod.clone().map(Untrusted::new);
        let tail = rt.stores().audit.tail(&id)?.unwrap_or_else(ChainTail::genesis);
        let mut s = AgentSession {
            rt: rt.clone(),
            identity: format!("agent:{}", spec.agent),
            session,
            tail,
            applied: Desired::Run,
            waiting: None,
        };
        let body = s
            .body(EventKind::SessionStarted)
            .attr("quell.agent", spec.agent)
            .attr("quell.allowed_tools", spec.allowed_tools);
        s.emit(body)?;
        Ok(s)
    }

    /// Picks a session up after a crash: its record, its chain tail from the audit log, and its
    /// latest checkpoint (the highest numeric step).
    pub fn resume(rt: &Arc<AgentRuntime>, id: &str) -> Result<(AgentSession, Option<Checkpoint>)> {
        let mut session =
            rt.stores().sessions.session(id)?.ok_or_else(|| StoreError::NotFound(format!("no session {id}")))?;
        if session.state == SessionState::Killed {
            return Err(StoreError::Conflict(format!("session {id} was killed; it cannot resume")));
        }
        let tail = rt.stores().audit.tail(id)?.unwrap_or_else(ChainTail::genesis);
        let latest = rt.stores().sessions.latest_checkpoint(id)?;
        session.step = latest.as_ref().map(|c| c.step).unwrap_or(0);
        session.state = SessionState::Running;
        session.last_seen = time::now();
        let identity = format!("agent:{}", session.agent.raw());
        let mut s = AgentSession { rt: rt.clone(), session, tail, identity, applied: Desired::Run, waiting: None };
        let body = s.body(EventKind::SessionStarted).attr("quell.resumed_from_step", s.session.step);
        s.emit(body)?;
        Ok((s, latest))
    }

    pub fn id(&self) -> &str {
        &self.session.id
    }

    pub fn step(&self) -> u64 {
        self.session.step
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn state(&self) -> SessionState {
        self.session.state
    }

    /// A body for this session's next event, with the current step, identity and model.
    pub fn body(&self, kind: EventKind) -> EventBody {
        let mut b = EventBody::new(self.session.id.clone(), self.session.step, kind, self.identity.clone());
        b.model = self.session.model.clone();
        b
    }

    /// Seals and queues an event; returns once it is queued. Use [`AgentSession::commit`] before
    /// an irreversible action to be sure it is stored.
    pub fn emit(&mut self, body: EventBody) -> Result<AuditEvent> {
        if let Some(t) = body.tool.as_ref() {
            if !self.session.tools.contains(t) {
                self.session.tools.push(t.clone());
            }
        }
        if let (Some(i), Some(o)) = (body.input_tokens, body.output_tokens) {
            self.session.input_tokens += i;
            self.session.output_tokens += o;
        }
        let sealed = SealedEvent::seal(body, &self.tail)?;
        self.tail = sealed.event.tail();
        self.session.audit_seq = self.tail.seq;
        self.session.audit_head = Some(self.tail.hash.clone());
        let event = sealed.event.clone();
        self.rt.queue_event(sealed, &self.session);
        Ok(event)
    }

    /// Blocks until everything this runtime queued is stored.
    pub fn commit(&self) -> Result<()> {
        self.rt.flush()
    }

    fn report(&mut self) {
        self.session.last_seen = time::now();
        self.rt.queue_report(&self.session);
    }

    pub fn add_cost(&mut self, usd: f64) {
        self.session.cost_usd += usd;
    }

    /// Starts the next step (after the gate said proceed).
    pub fn begin_step(&mut self) -> u64 {
        self.session.step += 1;
        self.report();
        self.session.step
    }

    /// Saves the seed-shaped checkpoint for the current step (ordered after queued events),
    /// covered by a `checkpoint` event that records the hash of its stored text.
    pub fn checkpoint(
        &mut self,
        messages: Vec<serde_json::Value>,
        tool_results: Vec<serde_json::Value>,
        plan: serde_json::Value,
    ) -> Result<Checkpoint> {
        // The event first: its time is not after the checkpoint's `created_at` (the timeline
        // places a checkpoint after the events of its step).
        let mut body = self.body(EventKind::Checkpoint).attr("quell.checkpoint.step", self.session.step);
        let cp = Checkpoint {
            session_id: self.session.id.clone(),
            step: self.session.step,
            messages: messages.into_iter().map(UntrustedJson::new).collect(),
            tool_results: tool_results.into_iter().map(UntrustedJson::new).collect(),
            plan: UntrustedJson::new(plan),
            created_at: Untrusted::new(time::format(&time::now())),
            stored_hash: None,
        };
        // The event covers the checkpoint: the hash of exactly the text the store will keep.
        body.checkpoint_hash = Some(sha256_hex(cp.to_json().as_bytes()));
        self.emit(body)?;
        self.rt.queue_checkpoint(cp.clone());
        Ok(cp)
    }

    /// Reads the desired state (no I/O: the watcher keeps it current), acknowledges it, and
    /// records a control event when it changes what the session does.
    pub fn observe(&mut self) -> Result<Gate> {
        let ControlView { generation, desired, record } = self.rt.control_for(&self.session.id);
        let mut changed = false;
        if generation > self.session.ack_generation {
            self.session.ack_generation = generation;
            changed = true;
        }
        if desired != self.applied && self.session.state != SessionState::Killed {
            self.applied = desired;
            self.session.state = match desired {
                Desired::Run if self.waiting.is_some() => SessionState::WaitingApproval,
                Desired::Run => SessionState::Running,
                Desired::Pause => SessionState::Paused,
                Desired::Kill => SessionState::Killed,
            };
            let mut body = self.body(EventKind::Control).attr("quell.control.desired", desired.as_str());
            if let Some(r) = record {
                body = body
                    .attr("quell.control.operator", r.operator)
                    .attr("quell.control.reason", r.reason)
                    .attr("quell.control.generation", r.generation);
            }
            if desired == Desired::Kill {
                self.session.detail = Some(Untrusted::new("killed by operator"));
            }
            self.emit(body)?;
            changed = false;
        }
        if changed {
            self.report();
        }
        Ok(match self.session.state {
            SessionState::Killed => Gate::Killed,
            SessionState::Paused => Gate::Paused,
            _ => Gate::Proceed,
        })
    }

    /// Blocks while paused; returns `Proceed` or `Killed`.
    pub fn gate(&mut self) -> Result<Gate> {
        loop {
            match self.observe()? {
                Gate::Paused => std::thread::sleep(CONTROL_POLL),
                other => return Ok(other),
            }
        }
    }

    /// Asks a human; the session waits in `waiting_approval`.
    pub fn request_approval(
        &mut self,
        tool: &str,
        arguments: serde_json::Value,
        risk: Risk,
        ttl: Duration,
        required_approvers: u8,
    ) -> Result<Approval> {
        let now = time::now();
        let approval = Approval {
            id: new_id("ap"),
            session_id: self.session.id.clone(),
            step: self.session.step,
            tool: Untrusted::new(tool),
            arguments: UntrustedJson::new(arguments),
            risk,
            requested_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(300)),
            required_approvers: required_approvers.clamp(1, 2),
            decisions: vec![],
            status: ApprovalStatus::Pending,
            unreadable: None,
        };
        let body = self
            .body(EventKind::ApprovalRequested)
            .attr("quell.approval.id", approval.id.clone())
            .attr("quell.approval.risk", risk.as_str())
            .attr("quell.approval.required_approvers", approval.required_approvers);
        let mut body = body;
        body.tool = Some(Untrusted::new(tool));
        self.emit(body)?;
        self.rt.stores().approvals.request_approval(&approval)?;
        self.waiting = Some(approval.id.clone());
        if self.session.state == SessionState::Running {
            self.session.state = SessionState::WaitingApproval;
        }
        self.report();
        Ok(approval)
    }

    /// The approval's status now (expiry counts as rejection). Once final, records
    /// `approval_decided` and returns the session to running.
    pub fn approval_outcome(&mut self, id: &str) -> Result<ApprovalStatus> {
        let approval = self
            .rt
            .stores()
            .approvals
            .approval(id)?
            .ok_or_else(|| StoreError::NotFound(format!("no approval {id}")))?;
        if let Some(why) = &approval.unreadable {
            return Err(StoreError::Corrupt(format!("approval {id} is unreadable: {why}")));
        }
        let status = approval.status_at(time::now());
        if status.is_final() {
            let approvers: Vec<String> = approval.decisions.iter().map(|d| d.approver.clone()).collect();
            let body = self
                .body(EventKind::ApprovalDecided)
                .attr("quell.approval.id", id)
                .attr("quell.approval.status", status.as_str())
                .attr("quell.approval.approvers", approvers);
            self.emit(body)?;
            self.waiting = None;
            if self.session.state == SessionState::WaitingApproval {
                self.session.state = SessionState::Running;
            }
            self.report();
        }
        Ok(status)
    }

    /// Blocks until the approval is decided or expires, or the session is killed meanwhile.
    pub fn wait_approval(&mut self, id: &str, poll: Duration) -> Result<ApprovalWait> {
        loop {
            if self.observe()? == Gate::Killed {
                return Ok(ApprovalWait::Killed);
            }
            let status = self.approval_outcome(id)?;
            if status.is_final() {
                return Ok(ApprovalWait::Final(status));
            }
            std::thread::sleep(poll);
        }
    }

    /// Ends the session as finished or failed (kill is ended by control, not here).
    pub fn end(&mut self, state: SessionState, detail: Option<&str>) -> Result<()> {
        if self.session.state != SessionState::Killed {
            self.session.state = state;
        }
        self.session.detail = detail.map(Untrusted::new).or(self.session.detail.take());
        let body = self.body(EventKind::SessionEnded).attr("quell.final_state", self.session.state.as_str());
        self.emit(body)?;
        self.rt.flush()
    }
}
