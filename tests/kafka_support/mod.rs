//! Shared setup for the Kafka tests: the real broker started by `scripts/services/kafka.sh`.

#![allow(dead_code)]

use quell::adapters::embedded::EmbeddedStore;
use quell::adapters::kafka::{await_topic_ready, create_topic, KafkaAudit, KafkaConfig};
use quell::ports::Stores;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn brokers() -> String {
    match std::env::var("QUELL_TEST_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => b,
        _ => panic!(
            "QUELL_TEST_KAFKA_BROKERS is not set: these tests need the real Kafka broker. Start it with \
             `scripts/services/kafka.sh start` (or `scripts/services/all.sh up`), then \
             `set -a; . target/test-services/services.env; set +a`"
        ),
    }
}

pub fn ctl() -> String {
    match std::env::var("QUELL_TEST_KAFKA_CTL") {
        Ok(c) if !c.is_empty() => c,
        _ => panic!(
            "QUELL_TEST_KAFKA_CTL is not set: start the broker with `scripts/services/kafka.sh start` and load its env"
        ),
    }
}

/// A new, empty topic on the test broker, usable when this returns (its metadata announced).
pub fn topic(partitions: i32, configs: &[(&str, &str)]) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("quell-test-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut all = vec![("cleanup.policy", "delete")];
    all.extend_from_slice(configs);
    if configs.iter().any(|(k, _)| *k == "cleanup.policy") {
        all.remove(0);
    }
    create_topic(&KafkaConfig::new(brokers(), &name), partitions, &all).expect("create test topic");
    name
}

pub fn open(topic: &str) -> Arc<KafkaAudit> {
    Arc::new(KafkaAudit::open(KafkaConfig::new(brokers(), topic)).expect("open kafka audit"))
}

/// Sessions, control and approvals in a fresh embedded store; the audit log in Kafka.
pub fn stores_with(audit: Arc<KafkaAudit>) -> Stores {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    let mut stores = EmbeddedStore::open(&dir.join("quell.db")).expect("open store").stores();
    stores.audit = audit;
    stores
}

/// A fresh topic (3 partitions) behind the audit port.
pub fn fresh() -> Stores {
    stores_with(open(&topic(3, &[])))
}

/// A producer that is not quell: writes whatever it is given.
pub fn raw_producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("message.max.bytes", "4000000")
        .create()
        .expect("raw producer")
}

pub fn raw_send(p: &BaseProducer, topic: &str, key: Option<&str>, value: Option<&[u8]>) {
    let mut r: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic);
    if let Some(k) = key {
        r = r.key(k);
    }
    if let Some(v) = value {
        r = r.payload(v);
    }
    p.send(r).map_err(|(e, _)| e).expect("raw send");
    p.flush(Duration::from_secs(30)).expect("raw flush");
}

/// Grows a topic to `total` partitions (as an operator might; keys then hash elsewhere).
pub fn add_partitions(topic: &str, total: usize) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let done = rt.block_on(admin.create_partitions([&NewPartitions::new(topic, total)], &opts));
    for r in done.expect("create partitions") {
        r.map_err(|(name, code)| format!("{name}: {code}")).expect("create partitions");
    }
    // The new partitions are usable once the metadata shows each with a leader.
    let total = i32::try_from(total).expect("partition count");
    await_topic_ready(&KafkaConfig::new(brokers(), topic), total).expect("new partitions announced");
}

/// The `quell` binary on a store in `dir` (and `dir/none.toml` as its config), with no Kafka,
/// Redis or span settings from the caller's environment but those in `env`.
pub fn quell(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_quell"));
    c.args(args)
        .env("QUELL_STORE", dir.join("quell.db"))
        .env("QUELL_CONFIG", dir.join("none.toml"))
        .env("QUELL_AS", "tester")
        .env_remove("QUELL_KAFKA")
        .env_remove("QUELL_AUDIT_TOPIC")
        .env_remove("QUELL_OTLP_TOPIC")
        .env_remove("QUELL_REDIS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run quell")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
