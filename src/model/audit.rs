//! Audit events: the seed's governance fields, named after the OpenTelemetry GenAI attributes
//! where one exists. The wire form is JSON; the hashed form is described in [`super::chain`].

use super::time::{self, Timestamp};
use super::untrusted::{Untrusted, UntrustedJson};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SessionStarted,
    LlmCall,
    ToolCall,
    ToolResult,
    ApprovalRequested,
    ApprovalDecided,
    /// The agent obeyed a control change (paused, resumed, killed).
    Control,
    Checkpoint,
    Error,
    SessionEnded,
    /// An operator did something in quell (pause, kill, approve, ...).
    OperatorAction,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::SessionStarted,
        EventKind::LlmCall,
        EventKind::ToolCall,
        EventKind::ToolResult,
        EventKind::ApprovalRequested,
        EventKind::ApprovalDecided,
        EventKind::Control,
        EventKind::Checkpoint,
        EventKind::Error,
        EventKind::SessionEnded,
        EventKind::OperatorAction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "session_started",
            EventKind::LlmCall => "llm_call",
            EventKind::ToolCall => "tool_call",
            EventKind::ToolResult => "tool_result",
            EventKind::ApprovalRequested => "approval_requested",
            EventKind::ApprovalDecided => "approval_decided",
            EventKind::Control => "control",
            EventKind::Checkpoint => "checkpoint",
            EventKind::Error => "error",
            EventKind::SessionEnded => "session_ended",
            EventKind::OperatorAction => "operator_action",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(rename = "gen_ai.tool.name")]
    pub name: Untrusted,
    #[serde(rename = "gen_ai.tool.call.arguments")]
    pub arguments: UntrustedJson,
}

/// What a writer fills in; [`super::chain::seal`] adds `seq`, `prev_hash` and `hash`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    #[serde(with = "rfc3339_micros")]
    pub time: Timestamp,
    /// The chain this event belongs to: a session id, or `operator:{name}` for operator actions.
    #[serde(rename = "gen_ai.conversation.id")]
    pub session_id: String,
    pub step: u64,
    pub kind: EventKind,
    /// Who acted: `agent:{name}` or `operator:{name}`.
    pub identity: Untrusted,
    #[serde(rename = "gen_ai.request.model", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Untrusted>,
    /// SHA-256 of the input (never the raw input: it may hold PII).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_summary: Option<Untrusted>,
    #[serde(rename = "gen_ai.tool.name", default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<Untrusted>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(rename = "gen_ai.usage.input_tokens", default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(rename = "gen_ai.usage.output_tokens", default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// On a `checkpoint` event: SHA-256 (lower-case hex) of the checkpoint's JSON value exactly as
    /// stored, so that an edited checkpoint is detected (see [`super::checkpoint::coverage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_hash: Option<String>,
    /// Everything else: approval ids and decisions, control state, operator reason and scope.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

impl EventBody {
    pub fn new(session_id: impl Into<String>, step: u64, kind: EventKind, identity: impl Into<Untrusted>) -> Self {
        EventBody {
            time: time::now(),
            session_id: session_id.into(),
            step,
            kind,
            identity: identity.into(),
            model: None,
            input_hash: None,
            output_summary: None,
            tool: None,
            tool_calls: Vec::new(),
            input_tokens: None,
            output_tokens: None,
            checkpoint_hash: None,
            attributes: Map::new(),
        }
    }

    pub fn attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.to_owned(), value.into());
        self
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }
}

/// A sealed, chained audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: u64,
    pub prev_hash: String,
    #[serde(flatten)]
    pub body: EventBody,
    pub hash: String,
}

/// SHA-256 of an input, for `input_hash`.
pub fn hash_input(input: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(input))
}

mod rfc3339_micros {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| serde::de::Error::custom(format!("time {text:?}: {e}")))
    }
}
