//! Writing: an idempotent producer with `acks=all`; `append` returns once every record is
//! acknowledged, after checking the batch continues the known chain tails.

use super::health::Outcomes;
use super::{config_error, lock, KafkaAudit, KafkaConfig};
use crate::model::chain::ChainTail;
use crate::ports::{Result, SealedEvent, StoreError};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 60_000;

/// The outcome of one `append`: how many records are still unacknowledged, and the first error.
#[derive(Default)]
struct Pending {
    state: Mutex<(usize, Option<String>)>,
    done: Condvar,
}

/// The producer's callbacks: each delivery settles its append's [`Pending`] and is noted in the
/// health [`Outcomes`].
struct Deliveries {
    outcomes: Arc<Outcomes>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        let failure = result.as_ref().err().map(|(e, _)| e.to_string());
        let mut st = lock(&pending.state);
        st.0 = st.0.saturating_sub(1);
        if st.1.is_none() {
            st.1.clone_from(&failure);
        }
        if st.0 == 0 {
            pending.done.notify_all();
        }
        drop(st);
        self.outcomes.delivered(failure);
    }
}

pub(super) struct Writer {
    producer: ThreadedProducer<Deliveries>,
    delivery_timeout: Duration,
    pub(super) outcomes: Arc<Outcomes>,
}

impl Writer {
    /// The producer's configuration, checked setting by setting (no client is created) and its
    /// delivery timeout in milliseconds.
    pub(super) fn config(cfg: &KafkaConfig) -> Result<(ClientConfig, u64)> {
        let mut c: ClientConfig = cfg.base()?;
        // Set explicitly: an implicit idempotence is silently turned off by a conflicting option,
        // an explicit one makes librdkafka refuse the conflict.
        c.set("acks", "all").set("enable.idempotence", "true").set("partitioner", "murmur2_random");
        if !cfg.settings.contains_key("retries") && !cfg.settings.contains_key("message.send.max.retries") {
            c.set("retries", "2147483647");
        }
        let timeout_ms = match cfg.settings.get("message.timeout.ms").or(cfg.settings.get("delivery.timeout.ms")) {
            Some(v) => v.parse::<u64>().map_err(|_| {
                StoreError::Invalid(format!("Kafka setting message.timeout.ms: '{v}' is not a number of milliseconds"))
            })?,
            None => {
                c.set("message.timeout.ms", DEFAULT_DELIVERY_TIMEOUT_MS.to_string());
                DEFAULT_DELIVERY_TIMEOUT_MS
            }
        };
        if !cfg.settings.contains_key("linger.ms") && !cfg.settings.contains_key("queue.buffering.max.ms") {
            c.set("linger.ms", "5");
        }
        if !cfg.settings.contains_key("queue.buffering.max.messages") {
            c.set("queue.buffering.max.messages", "1000000");
        }
        // Creating a client is what checks settings against each other (idempotence with too
        // many requests in flight, …); one that never connected closes at once.
        c.create::<rdkafka::producer::BaseProducer>().map_err(|e| config_error(cfg, "producer", e))?;
        Ok((c, timeout_ms))
    }

    fn new(cfg: &KafkaConfig) -> Result<Self> {
        let (c, timeout_ms) = Self::config(cfg)?;
        let outcomes = Arc::new(Outcomes::default());
        let producer = c
            .create_with_context(Deliveries { outcomes: outcomes.clone() })
            .map_err(|e| config_error(cfg, "producer", e))?;
        Ok(Writer { producer, delivery_timeout: Duration::from_millis(timeout_ms) + Duration::from_secs(15), outcomes })
    }

    /// The topic's metadata, asked of the brokers over the producer's own connections.
    pub(super) fn metadata(&self, topic: &str, timeout: Duration) -> std::result::Result<Metadata, KafkaError> {
        self.producer.client().fetch_metadata(Some(topic), timeout)
    }
}

fn event_json(sealed: &SealedEvent) -> Result<String> {
    let c = &sealed.canonical;
    if !(c.starts_with('{') && c.ends_with('}') && c.len() > 2) {
        return Err(StoreError::Invalid("sealed event's canonical text is not a JSON object".into()));
    }
    Ok(format!("{},\"hash\":\"{}\"}}", &c[..c.len() - 1], sealed.event.hash))
}

impl KafkaAudit {
    /// The producer, created on first use: commands that only read never start one (nor pay
    /// for closing it).
    pub(super) fn writer(&self) -> Result<&Writer> {
        if let Some(w) = self.writer.get() {
            return Ok(w);
        }
        let _creating = lock(&self.writer_init);
        if self.writer.get().is_none() {
            let _ = self.writer.set(Writer::new(&self.cfg)?);
        }
        self.writer.get().ok_or_else(|| self.cfg.error("producer", "not created"))
    }

    pub(super) fn append_events(&self, events: &[SealedEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut chains: Vec<&str> = events.iter().map(|e| e.event.body.session_id.as_str()).collect();
        chains.sort_unstable();
        chains.dedup();
        let mut tails = self.tails_for(&chains)?;
        // Check the whole batch before sending anything: nothing half-written.
        let mut batch: HashMap<&str, ChainTail> = HashMap::new();
        for sealed in events {
            let ev = &sealed.event;
            let chain = ev.body.session_id.as_str();
            let tail = match batch.get(chain) {
                Some(t) => t.clone(),
                None => tails.get(chain).cloned().unwrap_or_else(ChainTail::genesis),
            };
            if ev.seq != tail.seq + 1 || ev.prev_hash != tail.hash {
                return Err(StoreError::Conflict(format!(
                    "audit chain {chain}: event seq {} does not continue the chain on topic '{}' (at seq {})",
                    ev.seq, self.cfg.topic, tail.seq
                )));
            }
            batch.insert(chain, ev.tail());
        }
        let writer = self.writer()?;
        match self.produce(writer, events) {
            Ok(()) => {
                tails.appended(events);
                Ok(())
            }
            Err(e) => {
                tails.forget(events);
                Err(e)
            }
        }
    }

    fn produce(&self, writer: &Writer, events: &[SealedEvent]) -> Result<()> {
        let ticket = writer.outcomes.waiting(events.len());
        let result = self.produce_all(writer, events);
        writer.outcomes.finished(ticket);
        result
    }

    fn produce_all(&self, writer: &Writer, events: &[SealedEvent]) -> Result<()> {
        let pending = Arc::new(Pending::default());
        lock(&pending.state).0 = events.len();
        for (i, sealed) in events.iter().enumerate() {
            let json = event_json(sealed)?;
            let key = sealed.event.body.session_id.as_str();
            let mut record = BaseRecord::with_opaque_to(&self.cfg.topic, pending.clone()).key(key).payload(&json);
            let started = Instant::now();
            loop {
                match writer.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if started.elapsed() < writer.delivery_timeout =>
                    {
                        record = back;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err((e, _)) => {
                        // The records already handed over may still be delivered.
                        let mut st = lock(&pending.state);
                        st.0 = st.0.saturating_sub(events.len() - i);
                        drop(st);
                        let _ = self.wait(writer, &pending);
                        return Err(self.cfg.error("produce", e));
                    }
                }
            }
        }
        self.wait(writer, &pending)
    }

    fn wait(&self, writer: &Writer, pending: &Pending) -> Result<()> {
        let deadline = Instant::now() + writer.delivery_timeout;
        let mut st = lock(&pending.state);
        while st.0 > 0 {
            let now = Instant::now();
            if now >= deadline {
                return Err(self.cfg.error(
                    "append",
                    format!("{} records not acknowledged within {}s", st.0, writer.delivery_timeout.as_secs()),
                ));
            }
            st = pending.done.wait_timeout(st, deadline - now).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
        match &st.1 {
            Some(e) => Err(self.cfg.error("append failed", e)),
            None => Ok(()),
        }
    }
}
