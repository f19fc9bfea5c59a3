//! Sessions rebuilt from OpenTelemetry spans in the CLI (docs/otel-mapping.md): listed, shown,
//! replayed beside quell's own, always marked source `otel` and integrity `unverified`; never
//! verified as a chain; never paused, resumed, killed or approved.

use super::args::{ListFormat, TextFormat};
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::table;
use crate::model::otel::{self, OtelEntry, OtelSession};
use crate::model::time;
use crate::model::untrusted::{Shown, Untrusted};
use crate::services::otel::SpanSessions;
use std::io::Write;
use std::sync::Arc;

/// The span-derived sessions, read once per command (none when no span source is configured).
pub fn sessions(ctx: &mut Context) -> Result<Arc<SpanSessions>, Failure> {
    if let Some(s) = &ctx.span_sessions {
        return Ok(s.clone());
    }
    let loaded = Arc::new(crate::services::otel::load(&ctx.span_sources)?);
    ctx.span_sessions = Some(loaded.clone());
    Ok(loaded)
}

/// The warning lines of the span read, for stderr after the command's output.
pub fn report_lines(ctx: &Context) -> Vec<String> {
    ctx.span_sessions.iter().flat_map(|s| s.warnings.clone()).collect()
}

fn or_dash(v: &Option<Untrusted>) -> &str {
    v.as_ref().map_or("-", Untrusted::raw)
}

fn session_json(s: &OtelSession, also_quell: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": s.id,
        "source": otel::SOURCE,
        "integrity": otel::INTEGRITY,
        "controllable": false,
        "also_quell_chain": also_quell,
        "session_from": s.id_from,
        "agent": s.agent,
        "service": s.service,
        "namespace": s.namespace,
        "pod": s.pod,
        "model": s.model,
        "started_at": time::format(&otel::timestamp(s.started_ns)),
        "last_seen": time::format(&otel::timestamp(s.last_ns)),
        "ended_at": s.ended_ns.map(|n| time::format(&otel::timestamp(n))),
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "llm_calls": s.llm_calls,
        "tool_calls": s.tool_calls,
        "errors": s.errors,
        "traces": s.traces,
    });
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    v
}

/// `quell sessions`: the span-derived sessions after quell's own. The table gets a section of
/// its own; `-o json` one array, these objects after quell's with `"source": "otel"`.
pub fn list(
    spans: &[&OtelSession],
    also_quell: &std::collections::HashSet<String>,
    format: ListFormat,
    quell_out: Option<Vec<u8>>,
    out: &mut dyn Write,
) -> CliResult {
    let quell_ids = |id: &str| also_quell.contains(id);
    match format {
        ListFormat::Json => {
            let mut all: Vec<serde_json::Value> = match quell_out {
                Some(bytes) if !bytes.is_empty() => match serde_json::from_slice(&bytes) {
                    Ok(serde_json::Value::Array(rows)) => rows,
                    Ok(other) => vec![other],
                    Err(e) => return Err(Failure { code: exit::INTERNAL, message: e.to_string() }),
                },
                _ => Vec::new(),
            };
            all.extend(spans.iter().map(|s| session_json(s, quell_ids(&s.id))));
            super::json::write_pretty(out, &all)?;
        }
        ListFormat::Table => {
            if let Some(bytes) = quell_out {
                out.write_all(&bytes)?;
            }
            if spans.is_empty() {
                return Ok(exit::OK);
            }
            writeln!(
                out,
                "\nsessions from OpenTelemetry spans (source otel, integrity unverified; not under quell's control):"
            )?;
            let now = time::now();
            let rows: Vec<Vec<Shown>> = spans
                .iter()
                .map(|s| {
                    vec![
                        Shown::line(&s.id),
                        table::cell(&Shown::line(or_dash(&s.agent)), 24),
                        crate::shown!("{}/{}", or_dash(&s.namespace), or_dash(&s.pod)),
                        Shown::line(or_dash(&s.model)),
                        Shown::from(otel::SOURCE),
                        Shown::from(otel::INTEGRITY),
                        Shown::from(time::age(&otel::timestamp(s.last_ns), &now)),
                        Shown::from(s.llm_calls),
                        Shown::from(s.tool_calls),
                        Shown::from(table::thousands(s.input_tokens + s.output_tokens)),
                        Shown::from(s.errors),
                        Shown::from(if quell_ids(&s.id) { "yes" } else { "no" }),
                    ]
                })
                .collect();
            table::print(
                out,
                &[
                    "ID",
                    "AGENT",
                    "NAMESPACE/POD",
                    "MODEL",
                    "SOURCE",
                    "INTEGRITY",
                    "SEEN",
                    "LLM",
                    "TOOLS",
                    "TOKENS",
                    "ERRORS",
                    "QUELL CHAIN",
                ],
                &rows,
            )?;
        }
    }
    Ok(exit::OK)
}

/// One line for a span-derived entry, every field neutralised.
pub fn entry_line(session: &str, e: &OtelEntry) -> Shown {
    let mut line = format!(
        "{}  {}  otel/unverified span {} {:<15}",
        time::format(&otel::timestamp(e.time_ns)),
        session,
        e.span_id,
        e.kind.as_str()
    );
    for v in [&e.agent, &e.model, &e.tool].into_iter().flatten() {
        line.push_str(&format!(" {}", v.shown_line()));
    }
    for call in &e.tool_calls {
        line.push_str(&format!(" → {}({})", call.name.shown_line(), table::clip(&call.arguments.shown_line(), 80)));
    }
    if let Some(a) = &e.arguments {
        line.push_str(&format!(" args {}", table::clip(&a.shown_line(), 120)));
    }
    if let Some(r) = &e.result {
        line.push_str(&format!(" \"{}\"", table::clip(&r.shown_line(), 120)));
    }
    if let (Some(i), Some(o)) = (e.input_tokens, e.output_tokens) {
        line.push_str(&format!(" tokens {i}/{o}"));
    }
    if let Some(h) = &e.input_hash {
        line.push_str(&format!(" input {}", table::clip(h, 19)));
    }
    if let Some(err) = &e.error {
        line.push_str(&format!(" error \"{}\"", table::clip(&err.shown_line(), 120)));
    }
    Shown::from(line)
}

/// `quell show` for a span-derived session (after quell's chain when it also has one).
pub fn show_text(s: &OtelSession, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        crate::shown!(
            "session {} from OpenTelemetry spans  agent {}  {}/{}  model {}  tokens {}  source otel  integrity unverified",
            s.id,
            or_dash(&s.agent),
            or_dash(&s.namespace),
            or_dash(&s.pod),
            or_dash(&s.model),
            table::thousands(s.input_tokens + s.output_tokens)
        )
    )?;
    writeln!(
        out,
        "integrity: unverified (spans are not hash-chained; grouped by {}; {} traces)",
        s.id_from,
        s.traces.len()
    )?;
    writeln!(out)?;
    for e in &s.entries {
        writeln!(out, "{}", entry_line(&s.id, e))?;
    }
    Ok(())
}

pub fn show_json(s: &OtelSession, also_quell: bool) -> serde_json::Value {
    let mut v = session_json(s, also_quell);
    if let Some(m) = v.as_object_mut() {
        m.insert("entries".into(), serde_json::to_value(&s.entries).unwrap_or_default());
    }
    v
}

/// `quell show` of an id: quell's chain, the span-derived session, or both, each with its own
/// integrity. `chain` runs quell's own view (its exit code is the command's).
pub fn show(
    ctx: &mut Context,
    session: &str,
    format: TextFormat,
    out: &mut dyn Write,
    chain: &dyn Fn(&mut Context, &mut dyn Write) -> CliResult,
) -> Option<CliResult> {
    let spans = match sessions(ctx) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let s = spans.get(session)?;
    Some(show_both(ctx, session, s, format, out, chain))
}

fn show_both(
    ctx: &mut Context,
    session: &str,
    s: &OtelSession,
    format: TextFormat,
    out: &mut dyn Write,
    chain: &dyn Fn(&mut Context, &mut dyn Write) -> CliResult,
) -> CliResult {
    let has_chain = has_quell_chain(ctx, session);
    match (format, has_chain) {
        (TextFormat::Text, false) => {
            show_text(s, out)?;
            Ok(exit::OK)
        }
        (TextFormat::Json, false) => {
            super::json::write_pretty(out, &serde_json::json!({ "otel": show_json(s, false) }))?;
            Ok(exit::OK)
        }
        (TextFormat::Text, true) => {
            let code = chain(ctx, out)?;
            writeln!(out)?;
            show_text(s, out)?;
            Ok(code)
        }
        (TextFormat::Json, true) => {
            let mut buf = Vec::new();
            let code = chain(ctx, &mut buf)?;
            let mut doc: serde_json::Value =
                serde_json::from_slice(&buf).map_err(|e| Failure { code: exit::INTERNAL, message: e.to_string() })?;
            if let Some(m) = doc.as_object_mut() {
                m.insert("otel".into(), show_json(s, true));
            }
            super::json::write_pretty(out, &doc)?;
            Ok(code)
        }
    }
}

/// Whether quell itself has a session record or audit chain under this id. A store that cannot
/// be opened (none on this machine) has none.
pub fn has_quell_chain(ctx: &mut Context, id: &str) -> bool {
    let Ok(stores) = ctx.stores() else { return false };
    matches!(stores.sessions.session(id), Ok(Some(_))) || matches!(stores.audit.tail(id), Ok(Some(_)))
}

/// `quell replay`: the span-derived entries (of one session, or all), filtered like the events.
pub fn replay(
    spans: &SpanSessions,
    session: Option<&str>,
    window: (Option<time::Timestamp>, Option<time::Timestamp>),
    kinds: &[String],
    format: TextFormat,
    out: &mut dyn Write,
) -> Result<u64, Failure> {
    let mut n = 0;
    for s in spans.sessions.iter().filter(|s| session.is_none_or(|id| s.id == id)) {
        for e in &s.entries {
            let t = otel::timestamp(e.time_ns);
            if window.0.is_some_and(|since| t < since)
                || window.1.is_some_and(|until| t > until)
                || (!kinds.is_empty() && !kinds.iter().any(|k| k.trim() == e.kind.as_str()))
            {
                continue;
            }
            n += 1;
            match format {
                TextFormat::Text => writeln!(out, "{}", entry_line(&s.id, e))?,
                TextFormat::Json => {
                    let mut v = serde_json::to_value(e).unwrap_or_default();
                    if let Some(m) = v.as_object_mut() {
                        m.insert("session_id".into(), s.id.clone().into());
                        m.insert("time".into(), time::format(&t).into());
                    }
                    super::json::write_text(out, &v.to_string())?;
                }
            }
        }
    }
    Ok(n)
}

/// The refusal of pause, resume, kill or an approval on ids known only from spans.
pub fn refuse_control(ctx: &mut Context, action: &str, ids: &[String]) -> Result<(), Failure> {
    if ctx.span_sources.is_empty() || ids.is_empty() {
        return Ok(());
    }
    let spans = sessions(ctx)?;
    for id in ids {
        if let Some(s) = spans.get(id) {
            if !has_quell_chain_session(ctx, id) {
                return Err(Failure {
                    code: exit::CONFLICT,
                    message: crate::services::otel::control_refusal(action, s),
                });
            }
        }
    }
    Ok(())
}

fn has_quell_chain_session(ctx: &mut Context, id: &str) -> bool {
    let Ok(stores) = ctx.stores() else { return false };
    matches!(stores.sessions.session(id), Ok(Some(_)))
}

/// A span-derived session as a session record, for `--where` (its state: finished once its agent
/// span ended, else running; stale by its last span like any session).
pub fn as_session(s: &OtelSession) -> crate::model::session::Session {
    use crate::model::session::{Session, SessionState};
    let mut out = Session::new(s.id.clone(), s.agent.clone().unwrap_or_default(), otel::timestamp(s.started_ns));
    out.namespace = s.namespace.clone();
    out.pod = s.pod.clone();
    out.model = s.model.clone();
    out.state = if s.ended_ns.is_some() { SessionState::Finished } else { SessionState::Running };
    out.last_seen = otel::timestamp(s.last_ns);
    out.input_tokens = s.input_tokens;
    out.output_tokens = s.output_tokens;
    out
}
