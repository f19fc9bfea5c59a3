use super::args::ListFormat;
use super::{table, CliResult, Context, Failure};
use crate::model::control::{ControlRecord, Desired};
use crate::model::selector::Selector;
use crate::model::session::{Session, SessionState};
use crate::model::time::{self, Timestamp};
use crate::model::untrusted::{Shown, Untrusted};
use crate::services::approvals;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;

/// The JSON shape of a session in `quell sessions -o json` (stable field names). For a session
/// whose record could not be read (`unreadable`), every field but `id`, `pending_approvals` and
/// `unreadable` is `null`: nothing else is known, and placeholders would be read as facts.
#[derive(Serialize)]
pub struct SessionOut<'a> {
    pub id: &'a str,
    pub agent: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub pod: Option<&'a str>,
    pub model: Option<&'a str>,
    /// Effective state: `stale` when the heartbeat stopped.
    pub state: Option<SessionState>,
    pub step: Option<u64>,
    pub started_at: Option<String>,
    pub last_seen: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub tools: Option<&'a [Untrusted]>,
    pub pending_approvals: usize,
    pub ack_generation: Option<u64>,
    pub audit_seq: Option<u64>,
    pub detail: Option<&'a str>,
    pub unreadable: Option<&'a str>,
    /// The fleet-wide hold every session is under (`pause --all`), or `null`: the same on
    /// every object, so scripts that read the array see it without a wrapping object.
    pub fleet_hold: Option<FleetHold>,
}

/// A fleet-wide control record that holds every session.
#[derive(Clone, Serialize)]
pub struct FleetHold {
    pub desired: Desired,
    pub operator: String,
    pub reason: String,
    pub at: String,
    pub generation: u64,
}

impl FleetHold {
    /// The hold in force, if the fleet record holds anything.
    pub fn of(rec: Option<ControlRecord>) -> Option<FleetHold> {
        rec.filter(|r| r.desired != Desired::Run).map(|r| FleetHold {
            desired: r.desired,
            operator: r.operator,
            reason: r.reason,
            at: time::format(&r.at),
            generation: r.generation,
        })
    }

    /// One line, neutralised (the reason is whatever the store holds).
    pub fn line(&self) -> Shown {
        crate::shown!(
            "fleet {} by {} at {}: {} (every session is held; `quell resume --all` releases it)",
            if self.desired == Desired::Pause { "paused" } else { self.desired.as_str() },
            self.operator,
            self.at,
            self.reason
        )
    }
}

impl<'a> SessionOut<'a> {
    pub fn new(s: &'a Session, pending: usize, now: Timestamp) -> Self {
        let k = s.unreadable.is_none().then_some(s);
        SessionOut {
            id: &s.id,
            agent: k.map(|s| s.agent.raw()),
            namespace: k.and_then(|s| s.namespace.as_ref().map(Untrusted::raw)),
            pod: k.and_then(|s| s.pod.as_ref().map(Untrusted::raw)),
            model: k.and_then(|s| s.model.as_ref().map(Untrusted::raw)),
            state: k.map(|s| s.effective_state(now)),
            step: k.map(|s| s.step),
            started_at: k.map(|s| time::format(&s.started_at)),
            last_seen: k.map(|s| time::format(&s.last_seen)),
            input_tokens: k.map(|s| s.input_tokens),
            output_tokens: k.map(|s| s.output_tokens),
            cost_usd: k.map(|s| (s.cost_usd * 1e6).round() / 1e6),
            tools: k.map(|s| s.tools.as_slice()),
            pending_approvals: pending,
            ack_generation: k.map(|s| s.ack_generation),
            audit_seq: k.map(|s| s.audit_seq),
            detail: k.and_then(|s| s.detail.as_ref().map(|d| d.raw())),
            unreadable: s.unreadable.as_deref(),
            fleet_hold: None,
        }
    }
}

pub fn list(ctx: &mut Context, selector: Option<&str>, format: ListFormat, out: &mut dyn Write) -> CliResult {
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
        .filter(|s| selector.as_ref().is_none_or(|sel| sel.matches(s, now)))
        .collect();
    let hold = FleetHold::of(stores.control.fleet_control()?);
    let pods = super::kube::pod_columns(ctx, &mut sessions)?;
    let rows: Vec<SessionOut> = sessions
        .iter()
        .map(|s| SessionOut {
            fleet_hold: hold.clone(),
            ..SessionOut::new(s, pending.get(&s.id).copied().unwrap_or(0), now)
        })
        .collect();
    match (&hold, format) {
        // JSON stays one array; the hold is on every object and named on stderr.
        (Some(h), ListFormat::Json) => super::notice(&format!("notice: {}", h.line())),
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
                        let mut cells = vec![Shown::from("?"); 10];
                        (cells[0], cells[4]) = (Shown::line(r.id), Shown::from("unreadable"));
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
                            Shown::from(""),
                        ]
                    };
                    cells[9] = Shown::from(r.pending_approvals);
                    cells.extend(pods.iter().flat_map(|p| p.cells(i)));
                    cells
                })
                .collect();
            let mut headers =
                vec!["ID", "AGENT", "NAMESPACE/POD", "MODEL", "STATE", "STEP", "SEEN", "TOKENS", "COST", "APPROVALS"];
            headers.extend(pods.iter().flat_map(|_| super::kube::PodColumns::HEADERS));
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
