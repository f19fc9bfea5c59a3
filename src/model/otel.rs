//! OpenTelemetry spans as a second source of reasoning chains (docs/otel-mapping.md): the spans
//! as decoded from OTLP, and the mapping from spans to sessions and entries. Pure: no I/O.
//!
//! Span-derived sessions are never mixed with quell's hash-chained events: they carry their
//! source (`otel`) and integrity (`unverified`) wherever they are shown.

use crate::model::untrusted::Untrusted;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// An attribute string longer than this is not kept: only its length and hash are.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The source and integrity words span-derived sessions and entries carry.
pub const SOURCE: &str = "otel";
pub const INTEGRITY: &str = "unverified";

/// One attribute value, as far as quell reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// A string (or bytes) value longer than [`MAX_VALUE_BYTES`]: only its size and SHA-256.
    Capped {
        len: usize,
        sha256: String,
    },
    /// An array or key-value list: kept as its compact JSON text (capped like a string).
    Json(String),
}

impl AttrValue {
    /// A string value, capped.
    pub fn text(s: String) -> Self {
        if s.len() > MAX_VALUE_BYTES {
            AttrValue::Capped { len: s.len(), sha256: hex::encode(Sha256::digest(s.as_bytes())) }
        } else {
            AttrValue::Str(s)
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) | AttrValue::Json(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            AttrValue::Int(i) => u64::try_from(*i).ok(),
            AttrValue::Double(d) if *d >= 0.0 && d.is_finite() => Some(*d as u64),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text for display (tool arguments, results): a capped one says so.
    pub fn display(&self) -> String {
        match self {
            AttrValue::Str(s) | AttrValue::Json(s) => s.clone(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Double(d) => d.to_string(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Capped { len, .. } => format!("<{len} bytes, not kept>"),
        }
    }

    fn hash_into(&self, h: &mut Sha256) {
        match self {
            AttrValue::Capped { sha256, .. } => h.update(sha256.as_bytes()),
            other => h.update(other.display().as_bytes()),
        }
    }
}

pub type Attributes = Vec<(String, AttrValue)>;

/// A span as decoded from OTLP (JSON or protobuf), ids in lower-case hex.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Attributes,
    /// The resource's attributes, shared by the spans of one resource.
    pub resource: Arc<Attributes>,
    /// Status code 2 (error), with its message.
    pub error: Option<String>,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(AttrValue::as_str).filter(|s| !s.is_empty())
    }

    fn first_str(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.str(k))
    }

    fn first_u64(&self, keys: &[&str]) -> Option<u64> {
        keys.iter().find_map(|k| self.attr(k).and_then(AttrValue::as_u64))
    }

    fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_str()).filter(|s| !s.is_empty())
    }
}

/// Why records or parts of them were skipped, counted by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SkipCounts(pub BTreeMap<&'static str, u64>);

impl SkipCounts {
    pub fn add(&mut self, reason: &'static str) {
        *self.0.entry(reason).or_default() += 1;
    }

    pub fn merge(&mut self, other: &SkipCounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `3 not OTLP, 1 truncated protobuf`
    pub fn describe(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    }
}

/// What an entry rebuilt from a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtelKind {
    #[serde(rename = "session_started")]
    SessionStart,
    LlmCall,
    ToolCall,
    ToolResult,
    Error,
    #[serde(rename = "session_ended")]
    SessionEnd,
}

impl OtelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OtelKind::SessionStart => "session_started",
            OtelKind::LlmCall => "llm_call",
            OtelKind::ToolCall => "tool_call",
            OtelKind::ToolResult => "tool_result",
            OtelKind::Error => "error",
            OtelKind::SessionEnd => "session_ended",
        }
    }
}

/// A tool call an inference span asked for.
#[derive(Debug, Clone, Serialize)]
pub struct AskedTool {
    pub name: Untrusted,
    pub arguments: Untrusted,
}

/// One entry of a span-derived chain.
#[derive(Debug, Clone, Serialize)]
pub struct OtelEntry {
    /// Nanoseconds since the epoch.
    pub time_ns: u64,
    pub kind: OtelKind,
    pub trace_id: String,
    pub span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Untrusted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<Untrusted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Untrusted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Untrusted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Untrusted>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<AskedTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// SHA-256 of the message content the instrumentation captured (never kept raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Untrusted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Untrusted>,
    pub source: &'static str,
    pub integrity: &'static str,
}

/// A session rebuilt from spans.
#[derive(Debug, Clone, Serialize)]
pub struct OtelSession {
    pub id: String,
    /// Which attribute gave the id (`gen_ai.conversation.id`, `session.id`, ..., `trace_id`).
    pub id_from: &'static str,
    pub agent: Option<Untrusted>,
    pub service: Option<Untrusted>,
    pub namespace: Option<Untrusted>,
    pub pod: Option<Untrusted>,
    pub model: Option<Untrusted>,
    pub started_ns: u64,
    pub ended_ns: Option<u64>,
    pub last_ns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub llm_calls: u64,
    pub tool_calls: u64,
    pub errors: u64,
    pub traces: Vec<String>,
    pub entries: Vec<OtelEntry>,
    pub source: &'static str,
    pub integrity: &'static str,
}

/// Where a session id comes from, in this order (docs/otel-mapping.md).
pub const SESSION_KEYS: [&str; 6] = [
    "gen_ai.conversation.id",
    "session.id",
    "traceloop.association.properties.thread_id",
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.conversation_id",
    "traceloop.association.properties.langgraph_thread_id",
];

/// Attributes that hold message content: hashed into `input_hash`, never kept.
fn is_content(key: &str) -> bool {
    key == "gen_ai.input.messages"
        || key == "gen_ai.output.messages"
        || key == "gen_ai.system_instructions"
        || key.starts_with("gen_ai.prompt.")
        || key.starts_with("gen_ai.completion.")
        || key.starts_with("llm.input_messages.")
        || key.starts_with("llm.output_messages.")
        || key == "input.value"
        || key == "output.value"
        || key == "traceloop.entity.input"
        || key == "traceloop.entity.output"
}

enum Op {
    Llm,
    Tool,
    Agent,
    Other,
}

fn operation(s: &Span) -> Op {
    if let Some(op) = s.str("gen_ai.operation.name") {
        return match op {
            "chat" | "text_completion" | "generate_content" | "inference" | "embeddings" => Op::Llm,
            "execute_tool" => Op::Tool,
            "invoke_agent" => Op::Agent,
            // Building an agent (Traceloop emits it as a trace of its own, without the thread
            // id) is not a session.
            _ => Op::Other,
        };
    }
    match s.str("openinference.span.kind").map(str::to_ascii_uppercase).as_deref() {
        Some("LLM") => return Op::Llm,
        Some("TOOL") => return Op::Tool,
        Some("AGENT") => return Op::Agent,
        _ => {}
    }
    match s.str("traceloop.span.kind") {
        Some("tool") => return Op::Tool,
        Some("agent") => return Op::Agent,
        _ => {}
    }
    if s.str("llm.request.type").is_some() {
        return Op::Llm;
    }
    Op::Other
}

fn untrusted(s: Option<&str>) -> Option<Untrusted> {
    s.map(Untrusted::new)
}

/// The tool calls an inference span asked for, from the attribute names each instrumentation uses.
fn asked_tools(s: &Span) -> Vec<AskedTool> {
    let mut out = Vec::new();
    // OpenInference: llm.output_messages.{i}.message.tool_calls.{j}.tool_call.function.name;
    // Traceloop: gen_ai.completion.{i}.tool_calls.{j}.name.
    for (k, v) in &s.attributes {
        let (prefix, args_key) = if let Some(p) = k.strip_suffix(".tool_call.function.name") {
            (p, format!("{p}.tool_call.function.arguments"))
        } else if k.starts_with("gen_ai.completion.") && k.contains(".tool_calls.") && k.ends_with(".name") {
            let p = &k[..k.len() - ".name".len()];
            (p, format!("{p}.arguments"))
        } else {
            continue;
        };
        let _ = prefix;
        if let Some(name) = v.as_str() {
            let args = s.attr(&args_key).map(AttrValue::display).unwrap_or_default();
            out.push(AskedTool { name: Untrusted::new(name), arguments: Untrusted::new(args) });
        }
    }
    // Official GenAI: gen_ai.output.messages = [{"role":"assistant","parts":[{"type":"tool_call","name":..,"arguments":..}]}]
    if let Some(text) = s.str("gen_ai.output.messages") {
        if let Ok(serde_json::Value::Array(msgs)) = serde_json::from_str::<serde_json::Value>(text) {
            for part in msgs.iter().filter_map(|m| m.get("parts")).filter_map(|p| p.as_array()).flatten() {
                if part.get("type").and_then(|t| t.as_str()) == Some("tool_call") {
                    let name = part.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                    let args = match part.get("arguments") {
                        Some(serde_json::Value::String(a)) => a.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    out.push(AskedTool { name: Untrusted::new(name), arguments: Untrusted::new(args) });
                }
            }
        }
    }
    out
}

/// SHA-256 over the message content attributes (key and value, in key order), if any.
fn content_hash(s: &Span) -> Option<String> {
    let mut content: Vec<&(String, AttrValue)> = s.attributes.iter().filter(|(k, _)| is_content(k)).collect();
    if content.is_empty() {
        return None;
    }
    content.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (k, v) in content {
        h.update(k.as_bytes());
        h.update([0]);
        v.hash_into(&mut h);
        h.update([0]);
    }
    Some(format!("sha256:{}", hex::encode(h.finalize())))
}

fn entry(s: &Span, kind: OtelKind, time_ns: u64) -> OtelEntry {
    OtelEntry {
        time_ns,
        kind,
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        model: None,
        tool: None,
        tool_call_id: None,
        arguments: None,
        result: None,
        tool_calls: Vec::new(),
        input_tokens: None,
        output_tokens: None,
        input_hash: None,
        error: None,
        agent: None,
        source: SOURCE,
        integrity: INTEGRITY,
    }
}

fn tool_name(s: &Span) -> Option<&str> {
    s.first_str(&["gen_ai.tool.name", "tool.name", "traceloop.entity.name"])
        .or_else(|| s.name.strip_prefix("execute_tool ").filter(|n| !n.is_empty()))
}

fn agent_name(s: &Span) -> Option<String> {
    s.first_str(&["gen_ai.agent.name", "agent.name"])
        .map(str::to_owned)
        .or_else(|| s.name.strip_prefix("invoke_agent ").filter(|n| !n.is_empty()).map(str::to_owned))
        .or_else(|| match operation(s) {
            Op::Agent => s.str("traceloop.entity.name").map(str::to_owned),
            _ => None,
        })
}

/// The entries one span maps to (docs/otel-mapping.md), in time order.
pub fn entries_of(s: &Span) -> Vec<OtelEntry> {
    let mut out = Vec::new();
    match operation(s) {
        Op::Llm => {
            let mut e = entry(s, OtelKind::LlmCall, s.start_ns);
            // Traceloop's LangChain instrumentation writes `unknown` when the model has no
            // name attribute; LangSmith's metadata (an association property) then names it.
            e.model = untrusted(
                [
                    "gen_ai.response.model",
                    "gen_ai.request.model",
                    "llm.model_name",
                    "llm.response.model",
                    "llm.request.model",
                    "traceloop.association.properties.ls_model_name",
                ]
                .iter()
                .filter_map(|k| s.str(k))
                .find(|m| *m != "unknown"),
            );
            e.input_tokens =
                s.first_u64(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"]);
            e.output_tokens = s.first_u64(&[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            ]);
            e.tool_calls = asked_tools(s);
            e.input_hash = content_hash(s);
            out.push(e);
        }
        Op::Tool => {
            let tool = untrusted(tool_name(s));
            let id = untrusted(s.first_str(&["gen_ai.tool.call.id", "tool_call.id", "tool.call_id"]));
            let mut call = entry(s, OtelKind::ToolCall, s.start_ns);
            call.tool = tool.clone();
            call.tool_call_id = id.clone();
            call.arguments = s
                .first_str(&["gen_ai.tool.call.arguments", "tool.parameters", "input.value", "traceloop.entity.input"])
                .map(Untrusted::new)
                .or_else(|| capped(s, &["gen_ai.tool.call.arguments", "input.value", "traceloop.entity.input"]));
            out.push(call);
            let result = s
                .first_str(&["gen_ai.tool.call.result", "output.value", "traceloop.entity.output"])
                .map(Untrusted::new)
                .or_else(|| capped(s, &["gen_ai.tool.call.result", "output.value", "traceloop.entity.output"]));
            let mut done = entry(s, OtelKind::ToolResult, s.end_ns.max(s.start_ns));
            done.tool = tool;
            done.tool_call_id = id;
            done.result = result;
            out.push(done);
        }
        Op::Agent => {
            let agent = agent_name(s).map(Untrusted::new);
            let mut start = entry(s, OtelKind::SessionStart, s.start_ns);
            start.agent = agent.clone();
            out.push(start);
            let mut end = entry(s, OtelKind::SessionEnd, s.end_ns.max(s.start_ns));
            end.agent = agent;
            out.push(end);
        }
        Op::Other => {}
    }
    if let Some(msg) = &s.error {
        let mut e = entry(s, OtelKind::Error, s.end_ns.max(s.start_ns));
        e.error = Some(Untrusted::new(if msg.is_empty() { s.name.as_str() } else { msg.as_str() }));
        out.push(e);
    }
    out
}

fn capped(s: &Span, keys: &[&str]) -> Option<Untrusted> {
    keys.iter().find_map(|k| match s.attr(k) {
        Some(v @ AttrValue::Capped { .. }) => Some(Untrusted::new(v.display())),
        _ => None,
    })
}

/// The session id a span names itself, and which attribute gave it.
fn named_session(s: &Span) -> Option<(&'static str, &str)> {
    SESSION_KEYS.iter().find_map(|k| s.str(k).map(|v| (*k, v)))
}

/// Groups spans into sessions (docs/otel-mapping.md): a trace belongs to the session any of its
/// spans names (in the order of [`SESSION_KEYS`]), else to its own trace id. Traces that map to
/// no entry (not GenAI) are left out. Sessions are ordered by start, entries by time.
pub fn sessions_of(spans: &[Span]) -> Vec<OtelSession> {
    // Per trace, the best-ranked session id named by any of its spans.
    let mut trace_session: HashMap<&str, (usize, &'static str, &str)> = HashMap::new();
    for s in spans {
        if let Some((key, id)) = named_session(s) {
            let rank = SESSION_KEYS.iter().position(|k| *k == key).unwrap_or(usize::MAX);
            let slot = trace_session.entry(s.trace_id.as_str()).or_insert((rank, key, id));
            if rank < slot.0 {
                *slot = (rank, key, id);
            }
        }
    }
    let mut by_id: BTreeMap<String, OtelSession> = BTreeMap::new();
    // A repeated span (delivery is at least once) counts once.
    let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    let mut order: Vec<&Span> = spans.iter().collect();
    order.sort_by_key(|s| (s.start_ns, s.end_ns));
    for s in order {
        if !seen.insert((s.trace_id.as_str(), s.span_id.as_str())) {
            continue;
        }
        let entries = entries_of(s);
        if entries.is_empty() {
            continue;
        }
        let (id_from, id) = match trace_session.get(s.trace_id.as_str()) {
            Some((_, key, id)) => (*key, (*id).to_owned()),
            None => ("trace_id", s.trace_id.clone()),
        };
        let sess = by_id.entry(id.clone()).or_insert_with(|| OtelSession {
            id,
            id_from,
            agent: None,
            service: None,
            namespace: None,
            pod: None,
            model: None,
            started_ns: s.start_ns,
            ended_ns: None,
            last_ns: s.start_ns,
            input_tokens: 0,
            output_tokens: 0,
            llm_calls: 0,
            tool_calls: 0,
            errors: 0,
            traces: Vec::new(),
            entries: Vec::new(),
            source: SOURCE,
            integrity: INTEGRITY,
        });
        if !sess.traces.contains(&s.trace_id) {
            sess.traces.push(s.trace_id.clone());
        }
        let fill = |slot: &mut Option<Untrusted>, v: Option<&str>| {
            if slot.is_none() {
                *slot = untrusted(v);
            }
        };
        fill(&mut sess.service, s.resource_str("service.name"));
        fill(&mut sess.namespace, s.resource_str("k8s.namespace.name"));
        fill(&mut sess.pod, s.resource_str("k8s.pod.name"));
        sess.started_ns = sess.started_ns.min(s.start_ns);
        for e in entries {
            sess.last_ns = sess.last_ns.max(e.time_ns);
            match e.kind {
                OtelKind::LlmCall => {
                    sess.llm_calls += 1;
                    sess.input_tokens += e.input_tokens.unwrap_or(0);
                    sess.output_tokens += e.output_tokens.unwrap_or(0);
                    if e.model.is_some() {
                        sess.model = e.model.clone();
                    }
                }
                OtelKind::ToolCall => sess.tool_calls += 1,
                OtelKind::Error => sess.errors += 1,
                OtelKind::SessionStart if sess.agent.is_none() => sess.agent = e.agent.clone(),
                OtelKind::SessionEnd => sess.ended_ns = Some(sess.ended_ns.unwrap_or(0).max(e.time_ns)),
                _ => {}
            }
            sess.entries.push(e);
        }
    }
    let mut out: Vec<OtelSession> = by_id.into_values().collect();
    for s in &mut out {
        s.entries.sort_by_key(|e| (e.time_ns, e.kind));
        if s.agent.is_none() {
            s.agent = s.service.clone();
        }
    }
    out.sort_by(|a, b| (a.started_ns, &a.id).cmp(&(b.started_ns, &b.id)));
    out
}

/// Nanoseconds since the epoch as a UTC timestamp (clamped to what chrono can hold).
pub fn timestamp(ns: u64) -> crate::model::time::Timestamp {
    let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX);
    let nanos = (ns % 1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, start: u64, attrs: &[(&str, AttrValue)]) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: None,
            name: "s".into(),
            start_ns: start,
            end_ns: start + 10,
            attributes: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            resource: Arc::new(vec![
                ("service.name".into(), AttrValue::Str("svc".into())),
                ("k8s.pod.name".into(), AttrValue::Str("pod-0".into())),
                ("k8s.namespace.name".into(), AttrValue::Str("ns".into())),
            ]),
            error: None,
        }
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::Str(v.into())
    }

    #[test]
    fn official_genai_tool_spans_join_their_traces_conversation() {
        let mut agent = span(
            "t1",
            "a",
            100,
            &[
                ("gen_ai.operation.name", s("invoke_agent")),
                ("gen_ai.agent.name", s("support")),
                ("gen_ai.conversation.id", s("conv-1")),
            ],
        );
        agent.end_ns = 200;
        let spans = vec![
            agent,
            span(
                "t1",
                "b",
                110,
                &[
                    ("gen_ai.operation.name", s("chat")),
                    ("gen_ai.conversation.id", s("conv-1")),
                    ("gen_ai.request.model", s("fake-model")),
                    ("gen_ai.usage.input_tokens", AttrValue::Int(12)),
                    ("gen_ai.usage.output_tokens", AttrValue::Int(3)),
                    ("gen_ai.input.messages", s("secret prompt")),
                    (
                        "gen_ai.output.messages",
                        s(
                            r#"[{"role":"assistant","parts":[{"type":"tool_call","name":"lookup","arguments":{"q":1}}]}]"#,
                        ),
                    ),
                ],
            ),
            span(
                "t1",
                "c",
                120,
                &[
                    ("gen_ai.operation.name", s("execute_tool")),
                    ("gen_ai.tool.name", s("lookup")),
                    ("gen_ai.tool.call.arguments", s("{\"q\":1}")),
                    ("gen_ai.tool.call.result", s("found")),
                ],
            ),
            // Not GenAI (a probe): left out.
            span("t2", "d", 50, &[]),
        ];
        let out = sessions_of(&spans);
        assert_eq!(out.len(), 1);
        let sess = &out[0];
        assert_eq!(sess.id, "conv-1");
        assert_eq!(sess.id_from, "gen_ai.conversation.id");
        assert_eq!(sess.agent.as_ref().map(Untrusted::raw), Some("support"));
        assert_eq!(sess.pod.as_ref().map(Untrusted::raw), Some("pod-0"));
        assert_eq!(sess.namespace.as_ref().map(Untrusted::raw), Some("ns"));
        assert_eq!((sess.input_tokens, sess.output_tokens, sess.llm_calls, sess.tool_calls), (12, 3, 1, 1));
        let kinds: Vec<&str> = sess.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["session_started", "llm_call", "tool_call", "tool_result", "session_ended"]);
        let llm = &sess.entries[1];
        assert_eq!(llm.model.as_ref().map(Untrusted::raw), Some("fake-model"));
        assert_eq!(llm.tool_calls.len(), 1);
        assert_eq!(llm.tool_calls[0].name.raw(), "lookup");
        assert!(llm.input_hash.as_deref().is_some_and(|h| h.starts_with("sha256:")));
        // Content is hashed, never kept.
        let json = serde_json::to_string(&out).unwrap_or_default();
        assert!(!json.contains("secret prompt"));
        assert_eq!(sess.entries[3].result.as_ref().map(Untrusted::raw), Some("found"));
    }

    #[test]
    fn openinference_and_traceloop_names_map_to_the_same_entries() {
        let oi = vec![
            span(
                "t1",
                "a",
                1,
                &[
                    ("openinference.span.kind", s("LLM")),
                    ("session.id", s("th")),
                    ("llm.model_name", s("m")),
                    ("llm.token_count.prompt", AttrValue::Int(5)),
                    ("llm.token_count.completion", AttrValue::Int(2)),
                    ("llm.input_messages.0.message.content", s("hi")),
                    ("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", s("lookup")),
                    ("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", s("{}")),
                ],
            ),
            span(
                "t1",
                "b",
                2,
                &[
                    ("openinference.span.kind", s("TOOL")),
                    ("session.id", s("th")),
                    ("tool.name", s("lookup")),
                    ("input.value", s("{}")),
                    ("output.value", s("\"found\"")),
                ],
            ),
        ];
        let tl = vec![
            span(
                "t9",
                "a",
                1,
                &[
                    ("llm.request.type", s("chat")),
                    ("traceloop.association.properties.thread_id", s("th")),
                    ("gen_ai.request.model", s("m")),
                    ("gen_ai.usage.prompt_tokens", AttrValue::Int(5)),
                    ("gen_ai.usage.completion_tokens", AttrValue::Int(2)),
                    ("gen_ai.prompt.0.content", s("hi")),
                    ("gen_ai.completion.0.tool_calls.0.name", s("lookup")),
                    ("gen_ai.completion.0.tool_calls.0.arguments", s("{}")),
                ],
            ),
            span(
                "t9",
                "b",
                2,
                &[
                    ("traceloop.span.kind", s("tool")),
                    ("traceloop.entity.name", s("lookup")),
                    ("traceloop.entity.input", s("{}")),
                    ("traceloop.entity.output", s("\"found\"")),
                ],
            ),
        ];
        let shape = |spans: &[Span]| {
            let out = sessions_of(spans);
            assert_eq!(out.len(), 1);
            let s = &out[0];
            (
                s.id.clone(),
                s.model.as_ref().map(|m| m.raw().to_owned()),
                s.input_tokens,
                s.output_tokens,
                s.entries
                    .iter()
                    .map(|e| {
                        (
                            e.kind,
                            e.tool.as_ref().map(|t| t.raw().to_owned()),
                            e.tool_calls.iter().map(|t| t.name.raw().to_owned()).collect::<Vec<_>>(),
                            e.result.as_ref().map(|t| t.raw().to_owned()),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(shape(&oi), shape(&tl));
        assert_eq!(shape(&oi).0, "th");
    }

    #[test]
    fn errors_trace_fallback_and_repeats() {
        let mut bad = span("abc", "x", 5, &[("gen_ai.operation.name", s("chat"))]);
        bad.error = Some("rate limited".into());
        let out = sessions_of(&[bad.clone(), bad]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "abc");
        assert_eq!(out[0].id_from, "trace_id");
        assert_eq!(out[0].errors, 1, "a repeated span counts once");
        assert_eq!(out[0].agent.as_ref().map(Untrusted::raw), Some("svc"), "service.name when no agent name");
        assert_eq!(out[0].entries.iter().map(|e| e.kind).collect::<Vec<_>>(), [OtelKind::LlmCall, OtelKind::Error]);
    }

    #[test]
    fn create_agent_is_no_session_and_an_unknown_model_is_looked_up_further() {
        let spans = vec![
            span("t1", "a", 1, &[("gen_ai.operation.name", s("create_agent")), ("gen_ai.agent.name", s("x"))]),
            span(
                "t2",
                "b",
                2,
                &[
                    ("gen_ai.operation.name", s("chat")),
                    ("gen_ai.response.model", s("unknown")),
                    ("traceloop.association.properties.ls_model_name", s("real-model")),
                ],
            ),
        ];
        let out = sessions_of(&spans);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].model.as_ref().map(Untrusted::raw), Some("real-model"));
    }

    #[test]
    fn a_huge_value_is_capped_to_its_hash() {
        let v = AttrValue::text("x".repeat(MAX_VALUE_BYTES + 1));
        assert!(matches!(v, AttrValue::Capped { len, .. } if len == MAX_VALUE_BYTES + 1));
        assert!(v.display().contains("not kept"));
    }
}
