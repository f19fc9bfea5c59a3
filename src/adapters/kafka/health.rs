//! Whether the audit log can be written right now: what the console's "audit degraded" banner
//! shows. Two sources: a metadata round trip through the producer's own connection (the brokers
//! answer, the topic exists, every partition has a leader), and what deliveries said lately
//! (appends waiting on the broker for too long, a delivery that failed and nothing since).

use super::{lock, KafkaAudit};
use crate::ports::{Result, StoreError};
use rdkafka::metadata::Metadata;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the metadata round trip may take before the brokers count as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// An append still waiting for acknowledgements after this long means records are stuck.
const STUCK_AFTER: Duration = Duration::from_secs(5);
/// A failed delivery with no success after it counts for this long.
const FAILURE_SHOWN_FOR: Duration = Duration::from_secs(30);

/// What the producer's deliveries said lately. Fed by the delivery callback and by `append`.
#[derive(Default)]
pub(super) struct Outcomes {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_ok: Option<Instant>,
    last_failure: Option<(Instant, String)>,
    /// Appends waiting for acknowledgements, by ticket: when each started and how many records.
    waiting: BTreeMap<u64, (Instant, usize)>,
    next_ticket: u64,
}

impl Outcomes {
    pub(super) fn delivered(&self, failure: Option<String>) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        match failure {
            None => st.last_ok = Some(now),
            Some(e) => st.last_failure = Some((now, e)),
        }
    }

    /// An append of `records` starts waiting; hand the ticket to [`Outcomes::finished`].
    pub(super) fn waiting(&self, records: usize) -> u64 {
        let mut st = lock(&self.state);
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiting.insert(ticket, (Instant::now(), records));
        ticket
    }

    pub(super) fn finished(&self, ticket: u64) {
        lock(&self.state).waiting.remove(&ticket);
    }

    /// The verdict at `now`, given the probe's answer: `Err(reason)` while writes cannot succeed.
    fn judge(&self, probe: std::result::Result<(), Reason>, now: Instant) -> std::result::Result<(), Reason> {
        probe?;
        let st = lock(&self.state);
        let stuck: Vec<&(Instant, usize)> =
            st.waiting.values().filter(|(since, _)| now.saturating_duration_since(*since) >= STUCK_AFTER).collect();
        if let Some(oldest) = stuck.iter().map(|(since, _)| *since).min() {
            let records: usize = stuck.iter().map(|(_, n)| n).sum();
            return Err(Reason::new(format!(
                "{records} record{} not acknowledged after {}s",
                if records == 1 { "" } else { "s" },
                now.saturating_duration_since(oldest).as_secs()
            )));
        }
        if let Some((at, e)) = &st.last_failure {
            let recovered = st.last_ok.is_some_and(|ok| ok > *at);
            if !recovered && now.saturating_duration_since(*at) < FAILURE_SHOWN_FOR {
                return Err(Reason { what: "last delivery failed".into(), detail: Some(e.clone()) });
            }
        }
        Ok(())
    }
}

/// Why writes cannot succeed: a few words first (a banner may be cut), then the details.
#[derive(Debug, PartialEq, Eq)]
struct Reason {
    what: String,
    detail: Option<String>,
}

impl Reason {
    fn new(what: impl Into<String>) -> Self {
        Reason { what: what.into(), detail: None }
    }
}

/// The topic as the brokers describe it: present, no error, a leader for every partition.
fn writable(md: &Metadata, topic: &str) -> std::result::Result<(), Reason> {
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(Reason::new("the brokers do not list the topic"));
    };
    if let Some(e) = t.error() {
        return Err(Reason::new(format!("topic error {}", rdkafka::error::RDKafkaErrorCode::from(e))));
    }
    if t.partitions().is_empty() {
        return Err(Reason::new("the topic has no partitions"));
    }
    let leaderless: Vec<String> =
        t.partitions().iter().filter(|p| p.leader() < 0 || p.error().is_some()).map(|p| p.id().to_string()).collect();
    if !leaderless.is_empty() {
        return Err(Reason::new(format!("no leader for partition {}", leaderless.join(", "))));
    }
    Ok(())
}

impl KafkaAudit {
    pub(super) fn probe_health(&self) -> Result<()> {
        let writer = self.writer()?;
        let probe = writer
            .metadata(&self.cfg.topic, PROBE_TIMEOUT)
            .map_err(|e| Reason { what: "brokers unreachable".into(), detail: Some(e.to_string()) })
            .and_then(|md| writable(&md, &self.cfg.topic));
        writer.outcomes.judge(probe, Instant::now()).map_err(|r| {
            StoreError::Unavailable(self.cfg.redact(&format!(
                "{} — audit events cannot be written to Kafka topic '{}' (brokers {}){}",
                r.what,
                self.cfg.topic,
                self.cfg.brokers,
                r.detail.map(|d| format!(": {d}")).unwrap_or_default()
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_follows_probe_stuck_appends_and_recent_failures() {
        let o = Outcomes::default();
        let t0 = Instant::now();
        assert_eq!(o.judge(Ok(()), t0), Ok(()));
        let down = || Reason::new("brokers unreachable");
        assert_eq!(o.judge(Err(down()), t0), Err(down()));

        let ticket = o.waiting(3);
        let t0 = Instant::now();
        assert_eq!(o.judge(Ok(()), t0 + Duration::from_secs(1)), Ok(()), "a fresh append is not stuck");
        assert_eq!(
            o.judge(Ok(()), t0 + Duration::from_secs(7)),
            Err(Reason::new("3 records not acknowledged after 7s"))
        );
        o.finished(ticket);
        assert_eq!(o.judge(Ok(()), t0 + Duration::from_secs(7)), Ok(()));

        o.delivered(Some("Message timed out".into()));
        let failed = Instant::now();
        let failure = Reason { what: "last delivery failed".into(), detail: Some("Message timed out".into()) };
        assert_eq!(o.judge(Ok(()), failed), Err(failure));
        assert_eq!(o.judge(Ok(()), failed + FAILURE_SHOWN_FOR), Ok(()), "an old failure no longer counts");
        std::thread::sleep(Duration::from_millis(2));
        o.delivered(None);
        assert_eq!(o.judge(Ok(()), failed), Ok(()), "a delivery after the failure clears it");
    }
}
