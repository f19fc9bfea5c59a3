//! `quell sessions`: the fleet as a table or JSON, with pod columns when Kubernetes is configured.

use super::args::ListFormat;
use super::context::Context;
use super::outcome::{CliResult, Failure};
use super::output::{FleetHold, PodColumns, SessionOut};
use super::table;
use crate::model::anomaly;
use crate::model::selector::Selector;
use crate::model::session::Session;
use crate::model::time;
use crate::model::untrusted::Shown;
use crate::services::{anomalies, approvals};
use std::collections::HashMap;
use std::io::Write;

pub fn list(ctx: &mut Context, selector: Option<&str>, format: ListFormat, out: &mut dyn Write) -> CliResult {
    if ctx.span_sources.is_empty() {
        return list_quell(ctx, selector, format, out);
    }
    // Span-derived sessions (docs/otel-mapping.md) after quell's own, marked.
    let spans = super::otel::sessions(ctx)?;
    let mut quell = Vec::new();
    let code = match list_quell(ctx, selector, format, &mut quell) {
        Ok(code) => code,
        // No store of quell's own (an agent that never ran quell's library): the spans alone.
        Err(e) if !spans.sessions.is_empty() && e.code != super::outcome::exit::USAGE => {
            super::outcome::notice(&format!("notice: quell's own sessions not read: {}", e.message));
            quell.clear();
            0
        }
        Err(e) => return Err(e),
    };
    let selector = selector.map(Selector::parse).transpose().map_err(|e| Failure::usage(e.to_string()))?;
    let now = time::now();
    let shown: Vec<_> = spans
        .sessions
        .iter()
        .filter(|s| selector.as_ref().is_none_or(|sel| sel.matches(&super::otel::as_session(s), now)))
        .collect();
    let also: std::collections::HashSet<String> =
        shown.iter().filter(|s| super::otel::has_quell_chain(ctx, &s.id)).map(|s| s.id.clone()).collect();
    super::otel::list(&shown, &also, format, Some(quell), out)?;
    Ok(code)
}

fn list_quell(ctx: &mut Context, selector: Option<&str>, format: ListFormat, out: &mut dyn Write) -> CliResult {
    let selector = selector.map(Selector::parse).transpose().map_err(|e| Failure::usage(e.to_string()))?;
    let stores = ctx.stores()?;
    let now = time::now();
    let mut pending: HashMap<String, usize> = HashMap::new();
    for a in approvals::pending(&stores)? {
        *pending.entry(a.session_id).or_default() += 1;
    }
    let mut sessions: Vec<Session> = stores
        .sessions
        .sessions()?
        .into_iter()
        .filter(|s| selector.as_ref().is_none_or(|sel| sel.matches_ignoring_anomalies(s, now)))
        .collect();
    super::cluster::narrow_to_namespace(ctx, &mut sessions);
    // Anomalies are judged from the audit log: read only for JSON and for a selector on them.
    let found = match (selector.as_ref().filter(|s| s.needs_anomalies()), format) {
        (Some(sel), _) => {
            let (chosen, found) = anomalies::select(&stores, sessions, sel, &ctx.rules, now)
                .map_err(|e| Failure { message: format!("cannot judge anomalies for --where: {e}"), ..e.into() })?;
            sessions = chosen;
            Some(found)
        }
        (None, ListFormat::Json) => match anomalies::for_sessions(&stores, &sessions, &ctx.rules) {
            Ok(found) => Some(found),
            Err(e) => {
                super::outcome::notice(&format!("warning: anomalies not judged (null in the output): {e}"));
                None
            }
        },
        (None, ListFormat::Table) => None,
    };
    let hold = FleetHold::of(stores.control.fleet_control()?);
    let pods = super::cluster::pod_columns(ctx, &sessions)?;
    let rows: Vec<SessionOut> = sessions
        .iter()
        .map(|s| SessionOut {
            fleet_hold: hold.clone(),
            anomalies: found.as_ref().map(|f| f.get(&s.id).map(|a| anomaly::summarize(a)).unwrap_or_default()),
            ..SessionOut::new(s, pending.get(&s.id).copied().unwrap_or(0), now)
        })
        .collect();
    match (&hold, format) {
        // JSON stays one array; the hold is on every object and named on stderr.
        (Some(h), ListFormat::Json) => super::outcome::notice(&format!("notice: {}", h.line())),
        (Some(h), ListFormat::Table) => writeln!(out, "{}", h.line())?,
        (None, _) => {}
    }
    match format {
        ListFormat::Json if pods.is_some() => pods.iter().try_for_each(|p| p.write_json(&rows, out))?,
        ListFormat::Json => super::json::write_pretty(out, &rows)?,
        ListFormat::Table => {
            let cells: Vec<Vec<Shown>> = sessions
                .iter()
                .zip(&rows)
                .enumerate()
                .map(|(i, (s, r))| {
                    let mut cells = if s.unreadable.is_some() {
                        // Nothing but the id (and pending approvals, kept apart) was read.
                        let unknown = || Shown::from("?");
                        let mut cells =
                            vec![Shown::line(r.id), unknown(), unknown(), unknown(), Shown::from("unreadable")];
                        cells.resize_with(9, unknown);
                        cells
                    } else {
                        vec![
                            Shown::line(r.id),
                            table::cell(&Shown::from(&s.agent), 24),
                            crate::shown!("{}/{}", r.namespace.unwrap_or("-"), r.pod.unwrap_or("-")),
                            Shown::line(r.model.unwrap_or("-")),
                            Shown::from(s.effective_state(now).as_str()),
                            Shown::from(s.step),
                            Shown::from(time::age(&s.last_seen, &now)),
                            Shown::from(table::thousands(s.input_tokens + s.output_tokens)),
                            crate::shown!("${:.4}", s.cost_usd),
                        ]
                    };
                    cells.push(Shown::from(r.pending_approvals));
                    cells.extend(pods.iter().flat_map(|p| p.cells(i)));
                    cells
                })
                .collect();
            let mut headers =
                vec!["ID", "AGENT", "NAMESPACE/POD", "MODEL", "STATE", "STEP", "SEEN", "TOKENS", "COST", "APPROVALS"];
            headers.extend(pods.iter().flat_map(|_| PodColumns::HEADERS));
            table::print(out, &headers, &cells)?;
            if let Some(p) = &pods {
                p.write_unclaimed(out)?;
            }
            for s in sessions.iter().filter(|s| s.unreadable.is_some()) {
                let why = crate::model::unreadable::reason(s.unreadable.as_deref().unwrap_or_default());
                writeln!(out, "{}", crate::shown!("{}: {}", s.id, why))?;
            }
        }
    }
    Ok(0)
}
