//! What the CLI prints about sessions, as values: the stable JSON shape of a session, the fleet
//! hold, and the pod columns `quell sessions` adds when Kubernetes is configured. The commands
//! that print them build them; nothing here reads a backend.

use super::outcome::Failure;
use crate::model::control::{ControlRecord, Desired};
use crate::model::session::{Session, SessionState};
use crate::model::time::{self, Timestamp};
use crate::model::untrusted::{Shown, Untrusted};
use crate::ports::cluster::PodView;
use serde::Serialize;
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
    /// What the anomaly rules found, per rule (most severe first); `null` when the audit log
    /// could not be read (a warning on stderr says why).
    pub anomalies: Option<Vec<crate::model::anomaly::Summary>>,
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
            anomalies: None,
        }
    }
}

/// The pod of each listed session, for `quell sessions` when Kubernetes is configured.
pub struct PodColumns {
    pods: Vec<Option<PodView>>,
    unclaimed: Vec<PodView>,
}

#[derive(Serialize)]
struct WithPod<'a> {
    #[serde(flatten)]
    session: &'a SessionOut<'a>,
    pod_status: Option<&'a PodView>,
}

impl PodColumns {
    pub fn new(pods: Vec<Option<PodView>>, unclaimed: Vec<PodView>) -> Self {
        PodColumns { pods, unclaimed }
    }

    pub const HEADERS: [&'static str; 4] = ["PHASE", "NODE", "RESTARTS", "POSTURE"];

    /// Cells for row `i` (the session at the same index).
    pub fn cells(&self, i: usize) -> Vec<Shown> {
        match self.pods.get(i).and_then(Option::as_ref) {
            Some(p) => vec![
                if p.quarantined { crate::shown!("{},quarantined", p.phase) } else { Shown::line(&p.phase) },
                Shown::line(p.node.as_deref().unwrap_or("-")),
                Shown::from(p.restarts),
                Shown::from(p.posture.summary()),
            ],
            None => vec![Shown::from("-"), Shown::from("-"), Shown::from("-"), Shown::from("-")],
        }
    }

    pub fn write_json(&self, rows: &[SessionOut], out: &mut dyn Write) -> Result<(), Failure> {
        let joined: Vec<WithPod> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| WithPod { session: r, pod_status: self.pods.get(i).and_then(Option::as_ref) })
            .collect();
        super::json::write_pretty(out, &joined)
    }

    /// Lines after the table: agent pods no session reports.
    pub fn write_unclaimed(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for p in self.unclaimed.iter().take(50) {
            writeln!(out, "{}", crate::shown!("pod {}/{} ({}): no session reports it", p.namespace, p.name, p.phase))?;
        }
        if self.unclaimed.len() > 50 {
            writeln!(out, "… and {} more agent pods without a session", self.unclaimed.len() - 50)?;
        }
        Ok(())
    }
}
