use super::time::Timestamp;
use super::untrusted::Untrusted;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    Paused,
    WaitingApproval,
    Killed,
    Finished,
    Failed,
    /// No heartbeat for longer than the stale threshold; derived, never stored by an agent.
    Stale,
}

impl SessionState {
    pub const ALL: [SessionState; 7] = [
        SessionState::Running,
        SessionState::Paused,
        SessionState::WaitingApproval,
        SessionState::Killed,
        SessionState::Finished,
        SessionState::Failed,
        SessionState::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Running => "running",
            SessionState::Paused => "paused",
            SessionState::WaitingApproval => "waiting_approval",
            SessionState::Killed => "killed",
            SessionState::Finished => "finished",
            SessionState::Failed => "failed",
            SessionState::Stale => "stale",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A session in a terminal state will never act again.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Killed | SessionState::Finished | SessionState::Failed)
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A live (or ended) agent session as the fleet reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub agent: Untrusted,
    /// Namespace, pod, model and tools are what the agent reported: agent text.
    pub namespace: Option<Untrusted>,
    pub pod: Option<Untrusted>,
    pub model: Option<Untrusted>,
    pub state: SessionState,
    pub step: u64,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Tools this session has called so far (for selectors like `tool in (send_email)`).
    pub tools: Vec<Untrusted>,
    /// Highest control generation this session has acknowledged.
    pub ack_generation: u64,
    /// Head of the session's audit chain as the agent last reported it: the anchor that lets
    /// verification notice a truncated tail.
    pub audit_seq: u64,
    pub audit_head: Option<String>,
    /// Why the session is in its state (failure reason, kill reason); agent text.
    pub detail: Option<Untrusted>,
    /// Set when the backend holds data for this session that could not be read (a checkpoint
    /// that is not JSON, a key of the wrong type): the reason, shown instead of hiding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Seconds without a heartbeat after which a non-terminal session is shown as stale.
pub const STALE_AFTER_SECS: i64 = 30;

impl Session {
    pub fn new(id: impl Into<String>, agent: impl Into<Untrusted>, now: Timestamp) -> Self {
        Session {
            id: id.into(),
            agent: agent.into(),
            namespace: None,
            pod: None,
            model: None,
            state: SessionState::Running,
            step: 0,
            started_at: now,
            last_seen: now,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            tools: Vec::new(),
            ack_generation: 0,
            audit_seq: 0,
            audit_head: None,
            detail: None,
            unreadable: None,
        }
    }

    /// The state to show: a live state whose heartbeat stopped is `stale`.
    pub fn effective_state(&self, now: Timestamp) -> SessionState {
        if !self.state.is_terminal() && (now - self.last_seen).num_seconds() > STALE_AFTER_SECS {
            SessionState::Stale
        } else {
            self.state
        }
    }
}

/// Session ids travel in keys, file names and command lines: keep them to a safe alphabet.
pub fn validate_session_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!("session id must be 1-128 characters, got {}", id.len()));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))) {
        return Err(format!("session id may only contain letters, digits, '-', '_', '.', ':' (found {:?})", c));
    }
    Ok(())
}
