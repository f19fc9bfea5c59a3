//! The audit log on Apache Kafka (librdkafka through rdkafka): one topic, records keyed by chain
//! (session) id, each value the whole sealed event as JSON with its `hash`.
//!
//! - **Writes** use an idempotent producer with `acks=all` and `enable.idempotence=true` set
//!   explicitly (an implicit setting is silently turned off by a conflicting option; an explicit one
//!   makes librdkafka refuse the conflict), retries on, Java-compatible key partitioning so one
//!   chain stays in one partition, in order. `append` returns once every record is acknowledged.
//! - **Continuity**: Kafka has no conditional append, so the check is producer-side: the first time
//!   this process touches a chain it looks up the chain's tail (its own partition, read backwards
//!   from the end: `tails.rs`), then keeps the tails of what it appends. An event that does not
//!   continue the known tail is refused with `Conflict` before anything is sent. A second process
//!   writing the same chain at the same moment is not detected at append time (verification finds
//!   the fork afterwards).
//! - **Forensic reads** use librdkafka's simple consumer (no group id, nothing committed), a batch
//!   of records per call (`read.rs`). The high watermarks are captured when a scan starts and the
//!   scan stops there. A time window starts at `offsets_for_times` (the earliest offset whose
//!   record timestamp is ≥ the target, less a margin) and filters by the event's own `time`,
//!   because record timestamps are not monotonic.
//! - **Health** (`health.rs`): whether the log can be written now, for the console's banner.
//!   Commands that must act during an outage open with [`KafkaAudit::open_allowing_outage`].
//! - **Foreign records** (other producers' JSON, garbage bytes, truncated JSON, oversized values)
//!   are skipped, counted and reported by partition and offset: [`KafkaAudit::skipped`].

mod health;
mod murmur2;
mod read;
pub use read::read_topic;
mod records;
mod tails;
mod write;

pub use records::{SkipReport, Skipped, MAX_EVENT_BYTES};

use crate::model::chain::ChainTail;
use crate::ports::{AuditLog, AuditQuery, RawEvent, Result, SealedEvent, StoreError};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const DEFAULT_TOPIC: &str = "quell.audit";

/// Settings the audit log owns; the `[kafka]` table may not override them.
const OWNED: [&str; 6] =
    ["acks", "request.required.acks", "enable.idempotence", "group.id", "enable.auto.commit", "bootstrap.servers"];

/// What a topic is read for: every error and warning names the topic with its role, so an
/// outage of the span topic never reads as one of the audit log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TopicRole {
    /// quell's audit log (`--audit-topic`).
    #[default]
    Audit,
    /// The OpenTelemetry Collector's span topic (`--otlp-topic`).
    OtlpSpans,
}

impl TopicRole {
    /// `audit topic`, `OTLP topic`: how messages name a topic of this role.
    pub fn label(self) -> &'static str {
        match self {
            TopicRole::Audit => "audit topic",
            TopicRole::OtlpSpans => "OTLP topic",
        }
    }

    /// The flag that names a topic of this role.
    pub fn flag(self) -> &'static str {
        match self {
            TopicRole::Audit => "--audit-topic",
            TopicRole::OtlpSpans => "--otlp-topic",
        }
    }
}

/// Where the audit log (or another topic quell reads) lives and how to reach it.
#[derive(Clone, Default)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`
    pub brokers: String,
    pub topic: String,
    /// What the topic is read for: named with the topic in every error.
    pub role: TopicRole,
    /// librdkafka settings passed through as they are (`security.protocol`, `sasl.*`, `ssl.*`,
    /// `message.timeout.ms`, ...). Secret values are never printed.
    pub settings: BTreeMap<String, String>,
    /// How long opening waits for the brokers' metadata.
    pub connect_timeout: Option<Duration>,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("role", &self.role)
            .field("settings", &shown)
            .finish()
    }
}

/// A setting whose value must never be shown.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "pem", "oauthbearer.config", "jaas", "credential"].iter().any(|s| k.contains(s))
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaConfig { brokers: brokers.into(), topic: topic.into(), ..Default::default() }
    }

    /// Reads the config file's `kafka` key: either the broker list as a string, or a table whose
    /// `brokers` and `topic` keys say where and whose other keys are librdkafka settings
    /// (`"sasl.password" = "…"` or nested `sasl.password = "…"` alike). Returns the brokers and
    /// topic found (if any) and the settings.
    pub fn from_toml(value: &toml::Value) -> std::result::Result<FileKafka, String> {
        let mut out = FileKafka::default();
        match value {
            toml::Value::String(s) => out.brokers = Some(s.clone()),
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("brokers", toml::Value::String(s)) => out.brokers = Some(s.clone()),
                        ("topic", toml::Value::String(s)) => out.topic = Some(s.clone()),
                        ("brokers" | "topic", _) => return Err(format!("kafka.{k} must be a string")),
                        _ => flatten(k, v, &mut out.settings)?,
                    }
                }
            }
            _ => return Err("kafka must be a broker list (\"host:9092\") or a table of settings".into()),
        }
        Ok(out)
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(10))
    }

    /// Replaces every secret value that appears in `text` (librdkafka may echo a bad value).
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (k, v) in &self.settings {
            if is_secret(k) && v.len() >= 3 {
                text = text.replace(v.as_str(), "<redacted>");
            }
        }
        text
    }

    /// The client configuration every connection shares: brokers, identity, pass-through settings.
    fn base(&self) -> Result<ClientConfig> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c.set("client.id", "quell");
        for (k, v) in &self.settings {
            if OWNED.contains(&k.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "kafka setting '{k}' is owned by the audit log (acks=all, idempotence on, no consumer \
                     group); remove it from the [kafka] table"
                )));
            }
            c.set(k, v);
        }
        Ok(c)
    }

    fn error(&self, what: &str, e: impl fmt::Display) -> StoreError {
        StoreError::Unavailable(self.redact(&format!(
            "Kafka {what} (brokers {}, {} '{}'): {e}",
            self.brokers,
            self.role.label(),
            self.topic
        )))
    }
}

/// What the config file said about Kafka (its `kafka` key: a string or a table).
#[derive(Clone, Default)]
pub struct FileKafka {
    pub brokers: Option<String>,
    pub topic: Option<String>,
    pub settings: BTreeMap<String, String>,
}

impl fmt::Debug for FileKafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.settings.keys().map(String::as_str).collect();
        f.debug_struct("FileKafka")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("settings", &keys)
            .finish()
    }
}

impl<'de> serde::Deserialize<'de> for FileKafka {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = toml::Value::deserialize(d)?;
        KafkaConfig::from_toml(&value).map_err(serde::de::Error::custom)
    }
}

impl KafkaConfig {
    /// The audit log's Kafka configuration from flags (or their environment variables) and the
    /// config file; `None` when no brokers are given anywhere.
    pub fn resolve(
        brokers: Option<&str>,
        topic: Option<&str>,
        file: Option<&FileKafka>,
        file_topic: Option<&str>,
    ) -> std::result::Result<Option<KafkaConfig>, String> {
        let nonempty = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let brokers = nonempty(brokers).or_else(|| nonempty(file.and_then(|f| f.brokers.as_deref())));
        let topic = nonempty(topic)
            .or_else(|| nonempty(file_topic))
            .or_else(|| nonempty(file.and_then(|f| f.topic.as_deref())));
        let Some(brokers) = brokers else {
            return match topic {
                Some(t) => Err(format!("--audit-topic {t}: the audit topic needs Kafka brokers (--kafka host:9092)")),
                None => Ok(None),
            };
        };
        Ok(Some(KafkaConfig {
            brokers,
            topic: topic.unwrap_or_else(|| DEFAULT_TOPIC.to_owned()),
            settings: file.map(|f| f.settings.clone()).unwrap_or_default(),
            role: TopicRole::Audit,
            connect_timeout: None,
        }))
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) -> std::result::Result<(), String> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                flatten(&format!("{prefix}.{k}"), v, out)?;
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        toml::Value::Integer(i) => {
            out.insert(prefix.to_owned(), i.to_string());
        }
        toml::Value::Boolean(b) => {
            out.insert(prefix.to_owned(), b.to_string());
        }
        toml::Value::Float(f) => {
            out.insert(prefix.to_owned(), f.to_string());
        }
        _ => return Err(format!("kafka.{prefix}: a librdkafka setting must be a string, number or boolean")),
    }
    Ok(())
}

/// The audit log on one Kafka topic.
pub struct KafkaAudit {
    cfg: KafkaConfig,
    warnings: Vec<String>,
    /// Created on first append or health check ([`KafkaAudit::writer`]).
    writer: std::sync::OnceLock<write::Writer>,
    writer_init: Mutex<()>,
    tails: Mutex<tails::Tails>,
    readers: Mutex<Vec<BaseConsumer>>,
    skipped: Mutex<SkipReport>,
    records_read: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for KafkaAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaAudit").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl KafkaAudit {
    /// Connects, checks that the topic exists (a clear error naming it if not) and how it is
    /// configured (a warning when `cleanup.policy` includes compaction), and prepares the producer.
    pub fn open(cfg: KafkaConfig) -> Result<Self> {
        Self::connect(cfg, false)
    }

    /// Like [`KafkaAudit::open`], for commands that must act while the audit log is down (the
    /// console, pause, kill, decisions, pod actions): brokers that cannot be reached at start
    /// give a handle anyway, whose `health()` says why and whose appends fail until they answer.
    /// The topic is then not checked. A missing topic or a bad setting is still an error.
    pub fn open_allowing_outage(cfg: KafkaConfig) -> Result<Self> {
        Self::connect(cfg, true)
    }

    fn connect(cfg: KafkaConfig, allow_outage: bool) -> Result<Self> {
        if cfg.brokers.trim().is_empty() {
            return Err(StoreError::Invalid("Kafka: no brokers given (--kafka host:9092)".into()));
        }
        if cfg.topic.trim().is_empty() {
            return Err(StoreError::Invalid("Kafka: no audit topic given (--audit-topic NAME)".into()));
        }
        let reader = read::reader(&cfg)?;
        let warnings = match partitions_of(&reader, &cfg) {
            Ok(partitions) if partitions.is_empty() => return Err(cfg.error("metadata", "the topic has no partitions")),
            Ok(_) => check_topic_config(&cfg),
            Err(StoreError::Unavailable(_)) if allow_outage => Vec::new(),
            Err(e) => return Err(e),
        };
        // Checked now, created when first needed.
        write::Writer::config(&cfg)?;
        Ok(KafkaAudit {
            cfg,
            warnings,
            writer: std::sync::OnceLock::new(),
            writer_init: Mutex::default(),
            tails: Mutex::default(),
            readers: Mutex::new(vec![reader]),
            skipped: Mutex::default(),
            records_read: Default::default(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.cfg.topic
    }

    pub fn brokers(&self) -> &str {
        &self.cfg.brokers
    }

    /// Things an operator should know about the topic (compaction, unreadable topic config).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every foreign or unreadable record met so far by this handle (each position once).
    pub fn skipped(&self) -> SkipReport {
        lock(&self.skipped).clone()
    }

    /// What an operator should see after a command: the topic warnings and, when records were
    /// skipped, one line naming the first few by partition and offset. Safe to print.
    pub fn report_lines(&self) -> Vec<String> {
        let mut lines = self.warnings.clone();
        let skipped = self.skipped();
        if !skipped.is_empty() {
            lines.push(skipped.summary(&self.cfg.topic, 5));
        }
        lines
    }

    /// Records fetched from the broker by scans so far (all of them, matching or not).
    pub fn records_read(&self) -> u64 {
        self.records_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn note_skips(&self, found: SkipReport) {
        if !found.is_empty() {
            lock(&self.skipped).merge(found);
        }
    }
}

impl AuditLog for KafkaAudit {
    fn append(&self, events: &[SealedEvent]) -> Result<()> {
        self.append_events(events)
    }

    fn tail(&self, chain: &str) -> Result<Option<ChainTail>> {
        self.chain_tail(chain)
    }

    fn tails(&self, chains: &[&str]) -> Result<Vec<Option<ChainTail>>> {
        self.chain_tails(chains)
    }

    fn scan(&self, q: &AuditQuery, sink: &mut dyn FnMut(RawEvent<'_>) -> Result<()>) -> Result<()> {
        self.scan_topic(q, sink)
    }

    fn health(&self) -> Result<()> {
        self.probe_health()
    }
}

fn config_error(cfg: &KafkaConfig, what: &str, e: rdkafka::error::KafkaError) -> StoreError {
    use rdkafka::error::KafkaError;
    match e {
        KafkaError::ClientConfig(_, desc, key, _) => {
            StoreError::Invalid(cfg.redact(&format!("Kafka {what} setting '{key}': {desc}")))
        }
        KafkaError::ClientCreation(desc) => StoreError::Invalid(cfg.redact(&format!("Kafka {what}: {desc}"))),
        other => cfg.error(what, other),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_topic_config(cfg: &KafkaConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let admin: AdminClient<DefaultClientContext> =
        match cfg.base().and_then(|c| c.create().map_err(|e| cfg.error("admin client", e))) {
            Ok(a) => a,
            Err(e) => {
                warnings.push(format!("cannot check the audit topic's configuration: {e}"));
                return warnings;
            }
        };
    let opts = AdminOptions::new().request_timeout(Some(cfg.connect_timeout()));
    let topic = cfg.topic.as_str();
    let result = block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &opts));
    match result.map_err(|e| e.to_string()).and_then(|mut v| match v.pop() {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no answer".into()),
    }) {
        Ok(resource) => {
            let policy = resource
                .entries
                .iter()
                .find(|e| e.name == "cleanup.policy")
                .and_then(|e| e.value.clone())
                .unwrap_or_default();
            if policy.split(',').any(|p| p.trim() == "compact") {
                warnings.push(format!(
                    "audit topic '{topic}' has cleanup.policy={policy}: compaction keeps only the last record \
                     per key and drops the audit history; use cleanup.policy=delete"
                ));
            }
        }
        Err(e) => warnings.push(cfg.redact(&format!("cannot read the configuration of audit topic '{topic}': {e}"))),
    }
    warnings
}

/// Runs a future to completion on this thread (the admin client's futures are completed by its
/// own background thread; no async runtime needed).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Reading the topic's partitions needs a consumer; kept for [`KafkaAudit`]'s scans.
fn partitions_of(consumer: &BaseConsumer, cfg: &KafkaConfig) -> Result<Vec<i32>> {
    let md = consumer
        .fetch_metadata(Some(&cfg.topic), cfg.connect_timeout())
        .map_err(|e| cfg.error("brokers unreachable", e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == cfg.topic) else {
        return Err(missing_topic(cfg));
    };
    if let Some(err) = t.error() {
        use rdkafka::error::RDKafkaErrorCode as Code;
        let code = Code::from(err);
        if matches!(code, Code::UnknownTopicOrPartition | Code::UnknownTopic) {
            return Err(missing_topic(cfg));
        }
        return Err(cfg.error("metadata", code));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

fn missing_topic(cfg: &KafkaConfig) -> StoreError {
    let advice = match cfg.role {
        TopicRole::Audit => "quell does not create it: create it with cleanup.policy=delete, or name another with",
        TopicRole::OtlpSpans => "check the topic the Collector's Kafka exporter writes to, or name another with",
    };
    StoreError::NotFound(format!(
        "Kafka {} '{}' does not exist on brokers {} ({advice} {})",
        cfg.role.label(),
        cfg.topic,
        cfg.brokers,
        cfg.role.flag()
    ))
}

/// Creates a topic with replication factor 1, for tests and benchmarks (quell itself never
/// creates the audit topic). `configs` are topic configs such as `("cleanup.policy", "delete")`.
pub fn create_topic(cfg: &KafkaConfig, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
    use rdkafka::admin::{NewTopic, TopicReplication};
    let admin: AdminClient<DefaultClientContext> = cfg.base()?.create().map_err(|e| cfg.error("admin client", e))?;
    let mut topic = NewTopic::new(&cfg.topic, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(cfg.connect_timeout()));
    let results = block_on(admin.create_topics([&topic], &opts)).map_err(|e| cfg.error("create topic", e))?;
    for r in results {
        if let Err((name, code)) = r {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                return Err(cfg.error("create topic", format!("{name}: {code}")));
            }
        }
    }
    await_topic(admin.inner(), cfg, partitions)
}

/// Waits until `cfg`'s topic has `partitions` partitions with a leader (after creating it or
/// adding partitions), or fails naming what is still missing.
pub fn await_topic_ready(cfg: &KafkaConfig, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = cfg.base()?.create().map_err(|e| cfg.error("admin client", e))?;
    await_topic(admin.inner(), cfg, partitions)
}

/// Waits until the brokers' metadata shows the topic with `partitions` partitions, each with a
/// leader: a created topic is announced asynchronously, and a client that opens it before then is
/// told it does not exist. Bounded by the connect timeout (at least 30 s).
fn await_topic<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    cfg: &KafkaConfig,
    partitions: i32,
) -> Result<()> {
    let deadline = std::time::Instant::now() + cfg.connect_timeout().max(Duration::from_secs(30));
    loop {
        let last = match client.fetch_metadata(Some(&cfg.topic), cfg.connect_timeout()) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == cfg.topic) {
                Some(t) if t.error().is_none() => {
                    let led = t.partitions().iter().filter(|p| p.leader() >= 0 && p.error().is_none()).count();
                    if i32::try_from(led).is_ok_and(|n| n >= partitions) {
                        // The metadata can name a leader before that broker serves the partition:
                        // usable once every partition answers a watermark query.
                        let timeout = cfg.connect_timeout();
                        match t.partitions().iter().find_map(|p| {
                            client.fetch_watermarks(&cfg.topic, p.id(), timeout).err().map(|e| (p.id(), e))
                        }) {
                            None => return Ok(()),
                            Some((id, e)) => format!("partition {id} not served yet: {e}"),
                        }
                    } else {
                        format!("{led} of {partitions} partitions have a leader")
                    }
                }
                Some(t) => format!("metadata error {:?}", t.error()),
                None => String::from("not in the metadata yet"),
            },
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= deadline {
            return Err(cfg.error("create topic", format!("topic '{}' not usable in time: {last}", cfg.topic)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
