use super::args::TextFormat;
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::table;
use crate::model::audit::{AuditEvent, EventKind};
use crate::model::checkpoint::Coverage;
use crate::model::time;
use crate::model::untrusted::{Shown, Untrusted};
use crate::ports::{AuditQuery, StoreError};
use crate::services::forensics::{self, Entry, UnreadableEntry};
use std::io::Write;

/// One line for an event; every agent-produced field neutralised (the chain id, the model and
/// the attributes are store text too: the whole line is built as [`Shown`]).
pub fn event_line(e: &AuditEvent) -> Shown {
    let b = &e.body;
    let mut line = format!(
        "{}  {}  #{:<4} step {:<3} {:<18}",
        time::format(&b.time),
        b.session_id,
        e.seq,
        b.step,
        b.kind.as_str()
    );
    if let Some(model) = &b.model {
        if matches!(b.kind, EventKind::LlmCall) {
            line.push_str(&format!(" {}", model.shown_line()));
        }
    }
    if let Some(tool) = &b.tool {
        line.push_str(&format!(" {}", tool.shown_line()));
    }
    for call in &b.tool_calls {
        if b.kind == EventKind::LlmCall {
            line.push_str(&format!(" → {}({})", call.name.shown_line(), table::clip(&call.arguments.shown_line(), 80)));
        }
    }
    if let Some(summary) = &b.output_summary {
        line.push_str(&format!(" \"{}\"", table::clip(&summary.shown_line(), 120)));
    }
    if let (Some(i), Some(o)) = (b.input_tokens, b.output_tokens) {
        line.push_str(&format!(" tokens {i}/{o}"));
    }
    for key in ["quell.action", "quell.control.desired", "quell.approval.status", "quell.approval.id"] {
        if let Some(v) = b.attr_str(key) {
            line.push_str(&format!(
                " {}={}",
                key.trim_start_matches("quell."),
                table::clip(&crate::model::untrusted::neutralize(v, crate::model::untrusted::Lines::Escape), 60)
            ));
        }
    }
    if let Some(reason) = b.attr_str("quell.reason").or(b.attr_str("quell.control.reason")) {
        line.push_str(&format!(
            " reason=\"{}\"",
            crate::model::untrusted::neutralize(reason, crate::model::untrusted::Lines::Escape)
        ));
    }
    Shown::from(line)
}

/// One line for an entry that could not be read: where it is, what it says of its place, why.
pub fn unreadable_line(u: &UnreadableEntry) -> String {
    let mut line = match &u.time {
        Some(t) => format!("{}  ", time::format(t)),
        None => String::new(),
    };
    line.push_str(&format!("unreadable {} at {}", u.what, crate::model::unreadable::reason(&u.position)));
    if let Some(seq) = u.seq {
        line.push_str(&format!(" #{seq}"));
    }
    if let (Some(step), "event") = (u.step, u.what) {
        line.push_str(&format!(" step {step}"));
    }
    line.push_str(&format!(": {}", u.reason));
    line
}

pub fn show(ctx: &mut Context, session: &str, format: TextFormat, out: &mut dyn Write) -> CliResult {
    // A session also (or only) known from OpenTelemetry spans: both, each with its integrity.
    if !ctx.span_sources.is_empty() {
        let chain = |ctx: &mut Context, out: &mut dyn Write| show_chain(ctx, session, format, out);
        if let Some(result) = super::otel::show(ctx, session, format, out, &chain) {
            return result;
        }
    }
    show_chain(ctx, session, format, out)
}

fn show_chain(ctx: &mut Context, session: &str, format: TextFormat, out: &mut dyn Write) -> CliResult {
    let stores = ctx.stores()?;
    let tl = forensics::timeline(&stores, session)?;
    let found = crate::services::anomalies::in_timeline(&tl, &ctx.rules).all;
    if format == TextFormat::Json {
        let mut integrity = match &tl.integrity {
            Ok(n) => serde_json::json!({"intact": tl.intact(), "events": n}),
            Err(b) => serde_json::json!({"intact": false, "break": b}),
        };
        if let Some(fields) = integrity.as_object_mut() {
            fields.insert(
                "checkpoints_edited".into(),
                forensics::steps_with(&tl.checkpoint_coverage, Coverage::Edited).into(),
            );
            fields.insert(
                "checkpoints_not_covered".into(),
                forensics::steps_with(&tl.checkpoint_coverage, Coverage::NotCovered).into(),
            );
        }
        // An unreadable session record says only its id and why: no placeholder fields.
        let session = match &tl.session {
            Some(s) if s.unreadable.is_some() => serde_json::json!({"id": s.id, "unreadable": s.unreadable}),
            other => serde_json::json!(other),
        };
        let doc = serde_json::json!({
            "session": session,
            "integrity": integrity,
            "anomalies": found,
            "entries": tl.entries,
            "operator_actions": tl.operator_actions,
        });
        super::json::write_pretty(out, &doc)?;
        return Ok(if tl.intact() { exit::OK } else { exit::INTEGRITY });
    }
    let now = time::now();
    match &tl.session {
        // Its fields are placeholders: say only what is known.
        Some(s) if s.unreadable.is_some() => writeln!(
            out,
            "session {}: unreadable: {}",
            s.id,
            crate::model::unreadable::reason(s.unreadable.as_deref().unwrap_or_default())
        )?,
        Some(s) => writeln!(
            out,
            "{}",
            crate::shown!(
                "session {}  agent {}  {}/{}  model {}  state {}  step {}  tokens {}  cost ${:.4}",
                s.id,
                s.agent.raw(),
                s.namespace.as_ref().map_or("-", Untrusted::raw),
                s.pod.as_ref().map_or("-", Untrusted::raw),
                s.model.as_ref().map_or("-", Untrusted::raw),
                s.effective_state(now),
                s.step,
                table::thousands(s.input_tokens + s.output_tokens),
                s.cost_usd
            )
        )?,
        None => writeln!(
            out,
            "{}",
            crate::shown!("session {session} (no live record; rebuilt from checkpoints and audit)")
        )?,
    }
    match (&tl.integrity, forensics::integrity_words(&tl.integrity, &tl.checkpoint_coverage)) {
        (Err(b), _) => {
            writeln!(out, "{}", crate::shown!("integrity: BROKEN at seq {}: {} ({})", b.seq, b.kind, b.detail))?
        }
        (Ok(_), Ok(words) | Err(words)) => writeln!(out, "integrity: {words}")?,
    }
    // Per rule, most severe first, with the events it fired on.
    match found.len() {
        0 => writeln!(out, "anomalies: none")?,
        n => writeln!(out, "anomalies: {n}")?,
    }
    for sum in crate::model::anomaly::summarize(&found) {
        let seqs: Vec<String> =
            found.iter().filter(|a| a.rule == sum.rule).filter_map(|a| a.seq).map(|s| format!("#{s}")).collect();
        let at = match seqs.len() {
            0 => "the session".to_owned(),
            n if n > 8 => format!("{} … ({n} events)", seqs.iter().take(8).cloned().collect::<Vec<_>>().join(" ")),
            _ => seqs.join(" "),
        };
        writeln!(
            out,
            "{}",
            crate::shown!("  {:<8} {:<16} {}  at {at}", sum.severity.as_str(), sum.rule.as_str(), sum.detail)
        )?;
    }
    writeln!(out)?;
    for entry in &tl.entries {
        match entry {
            Entry::Event(e) => writeln!(out, "{}", event_line(e))?,
            Entry::Checkpoint(c) => writeln!(
                out,
                "{}",
                crate::shown!(
                    "{}  checkpoint step {}: {} messages, {} tool results, plan {}{}",
                    c.created_at.shown_line(),
                    c.step,
                    c.messages.len(),
                    c.tool_results.len(),
                    table::clip(&c.plan.shown_line(), 100),
                    match tl.checkpoint_coverage.iter().find(|(s, _)| *s == c.step).map(|(_, k)| *k) {
                        Some(Coverage::Edited) => "  [checkpoint edited]",
                        Some(Coverage::NotCovered) => "  [not covered by an audit event]",
                        _ => "",
                    }
                )
            )?,
            Entry::Unreadable(u) => writeln!(out, "{}", unreadable_line(u))?,
        }
    }
    if !tl.operator_actions.is_empty() {
        writeln!(out, "\noperator actions on this session:")?;
        for e in &tl.operator_actions {
            writeln!(out, "{}", event_line(e))?;
        }
    }
    Ok(if tl.intact() { exit::OK } else { exit::INTEGRITY })
}

pub fn replay(
    ctx: &mut Context,
    session: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    kinds: &[String],
    format: TextFormat,
    out: &mut dyn Write,
) -> CliResult {
    let now = time::now();
    let parse = |t: Option<&str>, flag: &str| {
        t.map(|t| time::parse_time(t, now)).transpose().map_err(|e| Failure::usage(format!("{flag}: {e}")))
    };
    let query = AuditQuery {
        chain: session.map(str::to_owned),
        since: parse(since, "--since")?,
        until: parse(until, "--until")?,
        kinds: kinds
            .iter()
            .map(|k| {
                EventKind::parse(k.trim()).ok_or_else(|| {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    Failure::usage(format!("--kind: unknown event kind '{k}' (known: {})", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if !ctx.span_sources.is_empty() {
        let spans = super::otel::sessions(ctx)?;
        if let Some(id) = session.filter(|id| spans.get(id).is_some()) {
            if !super::otel::has_quell_chain(ctx, id) {
                super::otel::replay(&spans, Some(id), (query.since, query.until), kinds, format, out)?;
                return Ok(exit::OK);
            }
        }
    }
    let stores = ctx.stores()?;
    let mut count = 0u64;
    let mut io_err: Option<std::io::Error> = None;
    let result = stores.audit.scan(&query, &mut |raw| {
        count += 1;
        if let Some(why) = raw.filing.unreadable {
            return Err(StoreError::Corrupt(format!("audit event at {}: {why}", raw.position)));
        }
        let written = match format {
            // A record that holds its hash (Kafka) is written as it is, without a copy.
            // C1, bidi, zero-width and tag characters become `\uXXXX`: the same JSON value.
            TextFormat::Json => match raw.hash {
                None => super::json::write_text(out, raw.json),
                Some(_) => super::json::write_text(out, &raw.to_json()),
            },
            // One event that cannot be read is a line saying so; the rest still replays.
            TextFormat::Text => match raw.event() {
                Ok(ev) => writeln!(out, "{}", event_line(&ev)),
                Err(e) => writeln!(out, "{}", unreadable_line(&UnreadableEntry::event(&raw, e))),
            },
        };
        written.map_err(|e| {
            io_err = Some(e);
            StoreError::Unavailable("output closed".into())
        })
    });
    if let Some(e) = io_err {
        return Err(e.into());
    }
    result?;
    // Then the span-derived entries, marked otel/unverified on every line.
    if !ctx.span_sources.is_empty() {
        let spans = super::otel::sessions(ctx)?;
        count += super::otel::replay(&spans, session, (query.since, query.until), kinds, format, out)?;
    }
    if count == 0 {
        if let Some(s) = session {
            if stores.sessions.session(s)?.is_none() && stores.audit.tail(s)?.is_none() {
                return Err(StoreError::NotFound(format!("no session or audit chain {s}")).into());
            }
        }
    }
    Ok(exit::OK)
}

pub fn verify(ctx: &mut Context, session: Option<&str>, format: TextFormat, out: &mut dyn Write) -> CliResult {
    // Sessions from OpenTelemetry spans have no hash chain: said, never passed.
    let unverifiable: Vec<String> = match ctx.span_sources.is_empty() {
        true => Vec::new(),
        false => super::otel::sessions(ctx)?
            .sessions
            .iter()
            .filter(|s| session.is_none_or(|id| s.id == id))
            .map(|s| s.id.clone())
            .collect(),
    };
    if let Some(id) = session.filter(|id| unverifiable.iter().any(|u| u == id)) {
        if !super::otel::has_quell_chain(ctx, id) {
            let message = format!(
                "cannot verify session {}: it is known only from OpenTelemetry spans (source otel, integrity \
                 unverified), which are not hash-chained",
                Untrusted::new(id).shown_line()
            );
            if format == TextFormat::Json {
                super::json::write_pretty(
                    out,
                    &serde_json::json!({"intact": false, "verifiable": false, "unverified_otel_sessions": [id]}),
                )?;
            } else {
                writeln!(out, "{}", Shown::line(&message))?;
            }
            return Err(Failure { code: exit::INTEGRITY, message });
        }
    }
    let result = verify_chains(ctx, session, format, &unverifiable, out);
    if !unverifiable.is_empty() && format == TextFormat::Text {
        writeln!(
            out,
            "not verified: {} sessions from OpenTelemetry spans (source otel, integrity unverified): spans are not hash-chained",
            table::thousands(unverifiable.len() as u64)
        )?;
    }
    result
}

fn verify_chains(
    ctx: &mut Context,
    session: Option<&str>,
    format: TextFormat,
    unverifiable: &[String],
    out: &mut dyn Write,
) -> CliResult {
    let stores = ctx.stores()?;
    let report = forensics::verify(&stores, session)?;
    match format {
        TextFormat::Json => {
            super::json::write_pretty(
                out,
                &serde_json::json!({
                    "intact": report.intact(),
                    "chains": report.chains,
                    "events": report.events,
                    "breaks": report.breaks,
                    "unverified_otel_sessions": unverifiable,
                }),
            )?;
        }
        TextFormat::Text if report.intact() => writeln!(
            out,
            "ok: {} events in {} chains, every chain intact",
            table::thousands(report.events),
            table::thousands(report.chains as u64)
        )?,
        TextFormat::Text => {
            for b in &report.breaks {
                writeln!(out, "{}", crate::shown!("BROKEN {b}"))?;
            }
            writeln!(
                out,
                "{} of {} chains broken ({} events read)",
                report.breaks.len(),
                report.chains,
                table::thousands(report.events)
            )?;
        }
    }
    // Intact means no breaks. The first broken link also goes to stderr, so a runbook sees it
    // even with -o json.
    match report.breaks.first() {
        None => Ok(exit::OK),
        Some(first) => Err(Failure { code: exit::INTEGRITY, message: first.to_string() }),
    }
}
