// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The Kafka audit log against the real broker: the conformance suite, time windows, foreign
//! records, chain verification with tampered records, topic checks and errors.

#[macro_use]
mod conformance;
mod kafka_support;

use conformance::events;
use kafka_support::*;
use quell::adapters::kafka::{KafkaAudit, KafkaConfig, MAX_EVENT_BYTES};
use quell::model::audit::{AuditEvent, EventBody, EventKind};
use quell::model::chain::{BreakKind, ChainTail};
use quell::model::time;
use quell::ports::{AuditLog, AuditQuery, SealedEvent, StoreError};
use quell::services::forensics;
use std::time::Duration;

audit_suite!(fresh);

fn ids(events: &[AuditEvent]) -> Vec<(String, u64)> {
    events.iter().map(|e| (e.body.session_id.clone(), e.seq)).collect()
}

fn full_json(s: &SealedEvent) -> String {
    serde_json::to_string(&s.event).expect("json")
}

/// Events of one chain at the given times (seconds after a fixed epoch).
fn timed(chain: &str, secs: impl IntoIterator<Item = i64>) -> Vec<SealedEvent> {
    let mut tail = ChainTail::genesis();
    secs.into_iter()
        .map(|s| {
            let mut body = EventBody::new(chain, tail.seq, EventKind::LlmCall, "agent:window");
            body.time = conformance::micros(s * 1_000_000);
            let sealed = SealedEvent::seal(body, &tail).expect("seal");
            tail = sealed.event.tail();
            sealed
        })
        .collect()
}

#[test]
fn window_filters_by_the_events_own_time_whatever_the_record_order() {
    let audit = open(&topic(2, &[]));
    // Record order is not time order: a's events (0..50 s) are produced after b's (30..80 s),
    // and c's times go backwards.
    let b = timed("s-b", 30..80);
    let a = timed("s-a", 0..50);
    let c = timed("s-c", (0..60).rev());
    audit.append(&b).unwrap();
    audit.append(&a).unwrap();
    audit.append(&c).unwrap();
    let q = AuditQuery {
        since: Some(conformance::micros(40_000_000)),
        until: Some(conformance::micros(60_000_000)),
        ..Default::default()
    };
    let got = audit.read(&q).unwrap();
    let lo = conformance::micros(40_000_000);
    let hi = conformance::micros(60_000_000);
    let mut want: Vec<(String, u64)> = [&b, &a, &c]
        .iter()
        .flat_map(|v| v.iter())
        .filter(|s| s.event.body.time >= lo && s.event.body.time <= hi)
        .map(|s| (s.event.body.session_id.clone(), s.event.seq))
        .collect();
    let mut got_ids = ids(&got);
    want.sort();
    got_ids.sort();
    assert_eq!(got_ids.len(), 10 + 21 + 20);
    assert_eq!(got_ids, want, "exactly the events whose own time is in the window");
    assert!(got.iter().all(|e| e.body.time >= lo && e.body.time <= hi && e.is_intact()));
    // Per chain, stored (append) order.
    let c_seqs: Vec<u64> = got.iter().filter(|e| e.body.session_id == "s-c").map(|e| e.seq).collect();
    assert!(c_seqs.windows(2).all(|w| w[0] < w[1]), "chain order kept: {c_seqs:?}");
    // Combined with a chain and a kind.
    let q = AuditQuery { chain: Some("s-a".into()), kinds: vec![EventKind::LlmCall], ..q };
    assert_eq!(audit.read(&q).unwrap().len(), 10);
}

#[test]
fn window_starts_at_offsets_for_times_instead_of_reading_everything() {
    let audit = open(&topic(1, &[]));
    let now_events = |chain: &str, n: u64| {
        let mut tail = ChainTail::genesis();
        (0..n)
            .map(|i| {
                let body = EventBody::new(chain, i, EventKind::ToolCall, "agent:window");
                let s = SealedEvent::seal(body, &tail).expect("seal");
                tail = s.event.tail();
                s
            })
            .collect::<Vec<_>>()
    };
    audit.append(&now_events("s-old", 200)).unwrap();
    // Past the read margin, so the old records' timestamps are all before the window start.
    std::thread::sleep(Duration::from_millis(10_000 + 2_500));
    let since = time::now();
    let fresh = now_events("s-new", 7);
    audit.append(&fresh).unwrap();
    let before = audit.records_read();
    let got = audit.read(&AuditQuery { since: Some(since), ..Default::default() }).unwrap();
    let read = audit.records_read() - before;
    assert_eq!(ids(&got), fresh.iter().map(|s| ("s-new".to_string(), s.event.seq)).collect::<Vec<_>>());
    assert!(read < 50, "the scan started near the window, not at the beginning: read {read} records");
    // The same query without a window reads everything.
    let before = audit.records_read();
    assert_eq!(audit.read(&AuditQuery::default()).unwrap().len(), 207);
    assert_eq!(audit.records_read() - before, 207);
}

#[test]
fn foreign_garbage_truncated_and_oversized_records_are_skipped_counted_and_reported() {
    let t = topic(1, &[("max.message.bytes", "4000000")]);
    let audit = open(&t);
    let raw = raw_producer();
    let a = events("s-a", &ChainTail::genesis(), 6, 0);
    audit.append(&a[..3]).unwrap(); // offsets 0..=2
    let truncated = full_json(&a[3]);
    let oversized = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES + 10));
    let foreign: [(Option<&str>, Option<&[u8]>); 6] = [
        (Some("s-a"), Some(br#"{"user":"bob","action":"login","seq":"x"}"#)), // 3: another producer's JSON
        (None, Some(b"\x00\xff\xfegarbage\x1b[2J")),                          // 4: garbage bytes
        (Some("s-a"), Some(&truncated.as_bytes()[..truncated.len() / 2])),    // 5: truncated JSON
        (Some("s-a"), Some(oversized.as_bytes())),                            // 6: oversized
        (Some("s-a"), None),                                                  // 7: tombstone
        (Some("other"), Some(b"plain text log line")),                        // 8: not JSON
    ];
    for (key, value) in foreign {
        raw_send(&raw, &t, key, value);
    }
    audit.append(&a[3..]).unwrap(); // offsets 9..=11

    let all = audit.read(&AuditQuery::default()).unwrap();
    let want: Vec<AuditEvent> = a.iter().map(|s| s.event.clone()).collect();
    assert_eq!(all, want, "every quell event, nothing else");
    let report = audit.skipped();
    assert_eq!(report.count(), 6);
    let got: Vec<(i64, String)> = report.records().into_iter().map(|s| (s.offset, s.reason)).collect();
    let offsets: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(offsets, vec![3, 4, 5, 6, 7, 8]);
    let starts = ["foreign JSON", "not UTF-8", "truncated JSON", "oversized", "no value", "not a JSON object"];
    for ((_, reason), start) in got.iter().zip(starts) {
        assert!(reason.starts_with(start), "{reason:?} should start with {start:?}");
    }
    let summary = report.summary(&t, 3);
    assert!(summary.starts_with("skipped 6 records"), "{summary}");
    assert!(summary.contains("partition 0 offset 3 (foreign JSON"), "{summary}");
    assert!(!summary.contains('\u{1b}'), "no raw bytes of the records in the report");

    // A chain read and verification see the intact chain; reading again counts nothing twice.
    let stores = stores_with(audit.clone());
    assert_eq!(stores.audit.read(&AuditQuery { chain: Some("s-a".into()), ..Default::default() }).unwrap(), want);
    let report = forensics::verify(&stores, None).unwrap();
    assert!(report.intact(), "{:?}", report.breaks);
    assert_eq!((report.chains, report.events), (1, 6));
    assert_eq!(audit.skipped().count(), 6);
    // A new handle meets them again while learning the chain's tail before appending.
    let again = open(&t);
    let next = events("s-a", &a[5].event.tail(), 1, 10);
    again.append(&next).unwrap();
    assert_eq!(again.skipped().count(), 6);
}

#[test]
fn verification_of_replayed_data_finds_a_record_injected_by_a_raw_producer() {
    let t = topic(3, &[]);
    let audit = open(&t);
    let stores = stores_with(audit.clone());
    let good = events("s-good", &ChainTail::genesis(), 8, 0);
    let victim = events("s-victim", &ChainTail::genesis(), 6, 0);
    audit.append(&good).unwrap();
    audit.append(&victim).unwrap();
    let report = forensics::verify(&stores, None).unwrap();
    assert!(report.intact() && report.events == 14 && report.chains == 2, "{report:?}");

    // An attacker re-publishes event 3 with a different summary and the old hash, unkeyed
    // (lands wherever the partitioner puts it), after the real events.
    let mut forged: serde_json::Value = serde_json::from_str(&full_json(&victim[2])).unwrap();
    forged["output_summary"] = "nothing to see here".into();
    let raw = raw_producer();
    raw_send(&raw, &t, None, Some(forged.to_string().as_bytes()));

    let report = forensics::verify(&stores, None).unwrap();
    assert_eq!(report.breaks.len(), 1, "{:?}", report.breaks);
    let b = &report.breaks[0];
    assert_eq!((b.session_id.as_str(), b.seq, b.kind), ("s-victim", 3, BreakKind::Modified), "{b}");
    let one = forensics::verify(&stores, Some("s-victim")).unwrap();
    assert_eq!(one.breaks.len(), 1);
    assert!(forensics::verify(&stores, Some("s-good")).unwrap().intact());

    // A re-sealed forgery (content and hash consistent) continuing the chain is caught too:
    // it links to event 6 but claims seq 8.
    let mut body = victim[5].event.body.clone();
    body.kind = EventKind::ToolCall;
    let resealed = SealedEvent::seal(body, &ChainTail { seq: 7, hash: victim[5].event.hash.clone() }).unwrap();
    let raw_t = topic(1, &[]);
    let audit2 = open(&raw_t);
    audit2.append(&victim).unwrap();
    raw_send(&raw, &raw_t, Some("s-victim"), Some(full_json(&resealed).as_bytes()));
    let stores2 = stores_with(audit2);
    let report = forensics::verify(&stores2, None).unwrap();
    assert_eq!(report.breaks.len(), 1);
    assert_eq!((report.breaks[0].seq, report.breaks[0].kind), (7, BreakKind::Removed), "{}", report.breaks[0]);
}

#[test]
fn replayed_records_carry_the_full_event_and_rehash_canonically() {
    let t = topic(1, &[]);
    let audit = open(&t);
    let a = events("s-a", &ChainTail::genesis(), 3, 0);
    audit.append(&a).unwrap();
    let mut n = 0;
    audit
        .scan(&AuditQuery::default(), &mut |raw| {
            assert_eq!(raw.hash, None, "the record value holds its hash");
            assert_eq!(raw.position, format!("partition 0 offset {n}"));
            let v: serde_json::Value = serde_json::from_str(raw.json).expect("json");
            assert_eq!(v["hash"].as_str(), Some(a[n].event.hash.as_str()));
            let (chain, link) = raw.link().expect("link");
            assert!(link.intact && chain == "s-a");
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn a_second_process_learns_the_tail_from_the_topic_and_refuses_forks() {
    let t = topic(3, &[]);
    let first = open(&t);
    let a = events("s-a", &ChainTail::genesis(), 4, 0);
    first.append(&a).unwrap();
    let second = open(&t);
    assert_eq!(second.tail("s-a").unwrap(), Some(a[3].event.tail()));
    let fork = events("s-a", &a[1].event.tail(), 1, 9);
    assert!(matches!(second.append(&fork), Err(StoreError::Conflict(_))));
    let again = events("s-a", &ChainTail::genesis(), 1, 9);
    let third = open(&t);
    assert!(matches!(third.append(&again), Err(StoreError::Conflict(_))), "a restarted chain is a fork too");
    second.append(&events("s-a", &a[3].event.tail(), 2, 9)).unwrap();
    assert_eq!(first.tail("s-a").unwrap().map(|t| t.seq), Some(6), "tail() catches up with other writers");
    assert_eq!(first.read(&AuditQuery::default()).unwrap().len(), 6);
}

#[test]
fn missing_topic_is_a_clear_error_naming_it() {
    let name = "quell-test-no-such-topic";
    let err = KafkaAudit::open(KafkaConfig::new(brokers(), name)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("'{name}'")) && msg.contains("does not exist"), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn compacted_topic_gets_a_warning() {
    let t = topic(1, &[("cleanup.policy", "compact")]);
    let audit = open(&t);
    let w = audit.warnings().join("\n");
    assert!(w.contains("cleanup.policy=compact") && w.contains(&t), "{w}");
    let plain = open(&topic(1, &[]));
    assert!(plain.warnings().is_empty(), "{:?}", plain.warnings());
}

#[test]
fn broker_down_at_start_is_one_line_naming_the_brokers() {
    let mut cfg = KafkaConfig::new("127.0.0.1:1", "quell.audit");
    cfg.connect_timeout = Some(Duration::from_secs(2));
    let err = KafkaAudit::open(cfg).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1") && !msg.contains('\n'), "{msg}");
}

#[test]
fn secrets_are_never_shown_and_owned_settings_are_refused() {
    let t = topic(1, &[]);
    let mut cfg = KafkaConfig::new(brokers(), &t);
    cfg.settings.insert("sasl.password".into(), "hunter2-very-secret".into());
    cfg.settings.insert("ssl.key.password".into(), "another-secret-value".into());
    cfg.settings.insert("security.protocol".into(), "not-a-protocol".into());
    assert!(!format!("{cfg:?}").contains("secret"), "{cfg:?}");
    let err = KafkaAudit::open(cfg.clone()).unwrap_err().to_string();
    assert!(err.contains("security.protocol") && !err.contains("secret"), "{err}");
    // A bad secret value is not echoed either.
    cfg.settings.insert("security.protocol".into(), "hunter2-very-secret".into());
    cfg.settings.insert("sasl.password".into(), "hunter2-very-secret".into());
    let err = KafkaAudit::open(cfg.clone()).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    for owned in ["acks", "enable.idempotence"] {
        let mut c = KafkaConfig::new(brokers(), &t);
        c.settings.insert(owned.into(), "1".into());
        let err = KafkaAudit::open(c).unwrap_err().to_string();
        assert!(err.contains(owned) && err.contains("owned by the audit log"), "{err}");
    }
    // A conflicting option with explicit idempotence fails loudly instead of turning it off.
    let mut c = KafkaConfig::new(brokers(), &t);
    c.settings.insert("max.in.flight.requests.per.connection".into(), "50".into());
    assert!(KafkaAudit::open(c).is_err(), "idempotence with 50 in flight must be refused");
}

#[test]
fn config_file_table_flattens_settings() {
    let v: toml::Value = toml::from_str(
        r#"
        brokers = "b1:9092,b2:9092"
        topic = "audit"
        "sasl.password" = "pw"
        security.protocol = "SASL_SSL"
        socket.timeout.ms = 1000
        "#,
    )
    .unwrap();
    let f = KafkaConfig::from_toml(&v).unwrap();
    assert_eq!((f.brokers.as_deref(), f.topic.as_deref()), (Some("b1:9092,b2:9092"), Some("audit")));
    assert_eq!(f.settings.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
    assert_eq!(f.settings.get("socket.timeout.ms").map(String::as_str), Some("1000"));
    assert_eq!(f.settings.get("sasl.password").map(String::as_str), Some("pw"));
    let s = KafkaConfig::from_toml(&toml::Value::String("b:1".into())).unwrap();
    assert_eq!(s.brokers.as_deref(), Some("b:1"));
    assert!(KafkaConfig::from_toml(&toml::Value::Integer(3)).is_err());
}

#[test]
fn forensic_reads_leave_no_consumer_group_behind() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let t = topic(2, &[]);
    let audit = open(&t);
    audit.append(&events("s-a", &ChainTail::genesis(), 5, 0)).unwrap();
    assert_eq!(audit.read(&AuditQuery::default()).unwrap().len(), 5);
    assert_eq!(audit.read(&AuditQuery { chain: Some("s-a".into()), ..Default::default() }).unwrap().len(), 5);
    assert!(forensics::verify(&stores_with(audit.clone()), None).unwrap().intact());
    assert_eq!(open(&t).tail("s-a").unwrap().map(|t| t.seq), Some(5));
    let admin: BaseConsumer =
        rdkafka::config::ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
    let groups = admin.fetch_group_list(None, Duration::from_secs(10)).expect("list groups");
    let ours: Vec<String> =
        groups.groups().iter().map(|g| g.name().to_owned()).filter(|n| n.starts_with("quell")).collect();
    assert!(ours.is_empty(), "a forensic read joined or committed to a consumer group: {ours:?}");
}

/// Appends `per_chain` events to each chain, in one batch per call, keeping the tails.
fn fill_chains(audit: &KafkaAudit, tails: &mut Known, chains: &[String], per_chain: u64) {
    let mut batch = Vec::new();
    for c in chains {
        let tail = tails.get(c).cloned().unwrap_or_else(ChainTail::genesis);
        let evs = events(c, &tail, per_chain, 0);
        tails.insert(c.clone(), evs[evs.len() - 1].event.tail());
        batch.extend(evs);
    }
    audit.append(&batch).unwrap();
}

fn chain_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}

type Known = std::collections::BTreeMap<String, ChainTail>;

/// A new topic with `n` chains of `per_chain` events written by one handle: the topic, the
/// handle, the chains' tails and their ids.
fn filled(
    partitions: i32,
    prefix: &str,
    n: usize,
    per_chain: u64,
) -> (String, std::sync::Arc<KafkaAudit>, Known, Vec<String>) {
    let t = topic(partitions, &[]);
    let writer = open(&t);
    let mut tails = Known::new();
    let chains = chain_ids(prefix, n);
    fill_chains(&writer, &mut tails, &chains, per_chain);
    (t, writer, tails, chains)
}

#[test]
fn tail_lookup_reads_the_chains_partition_backwards_not_the_whole_topic() {
    let (t, writer, mut tails, many) = filled(3, "s-many", 200, 30); // 6,000 events
    let recent = vec!["s-recent".to_string()];
    fill_chains(&writer, &mut tails, &recent, 5);
    let after = chain_ids("s-after", 100);
    fill_chains(&writer, &mut tails, &after, 3); // written after s-recent's last event
    let total = 6_000 + 5 + 300;

    // A new process: the chain's tail comes from its own partition's last records. (Reading no
    // more than one window also shows that the adapter's murmur2 picks the partition librdkafka's
    // murmur2_random producer wrote to: any other partition would be read to its start.)
    let fresh = open(&t);
    assert_eq!(fresh.tail("s-recent").unwrap(), tails.get("s-recent").cloned());
    let first = fresh.tail_records_read();
    assert!(
        first > 0 && first <= 1024,
        "one backward window of the chain's partition, not the topic: read {first} of {total}"
    );
    assert_eq!(fresh.records_read(), 0, "lookups are not counted as scans");

    // An absent chain is looked for everywhere, once: together every record was read once.
    assert_eq!(fresh.tail("s-absent").unwrap(), None);
    assert_eq!(fresh.tail_records_read(), total as u64, "the rest of the topic, nothing twice");
    assert_eq!(fresh.tail("s-absent-too").unwrap(), None);
    assert_eq!(fresh.tail_records_read(), total as u64, "a later lookup reads only what is new");

    // Another writer continues chains: a lookup reads forward only.
    fill_chains(&writer, &mut tails, &recent, 2);
    fill_chains(&writer, &mut tails, &many[..10], 1);
    let before = fresh.tail_records_read();
    assert_eq!(fresh.tail("s-recent").unwrap().map(|t| t.seq), Some(7));
    let forward = fresh.tail_records_read() - before;
    assert!((2..=12).contains(&forward), "only the new records of the chain's partition: read {forward}");

    // Continuity is still checked against the topic.
    let stale = events("s-recent", &ChainTail { seq: 5, hash: "0".repeat(64) }, 1, 50);
    assert!(matches!(fresh.append(&stale), Err(StoreError::Conflict(_))), "a seq that does not continue is refused");
    let tail = tails.get("s-recent").cloned().unwrap();
    fresh.append(&events("s-recent", &tail, 1, 60)).unwrap();
    assert_eq!(open(&t).tail("s-recent").unwrap().map(|t| t.seq), Some(8));
    // A new handle appending to a chain written long ago (many windows back) finds its tail.
    let old = open(&t);
    let tail = tails.get("s-many-150").cloned().unwrap();
    assert!(matches!(old.append(&events("s-many-150", &ChainTail::genesis(), 1, 70)), Err(StoreError::Conflict(_))));
    old.append(&events("s-many-150", &tail, 1, 70)).unwrap();
    assert!(old.tail_records_read() < total as u64, "read {} of {total}", old.tail_records_read());
}

#[test]
fn tails_survive_a_partition_count_change() {
    let (t, _before, mut tails, chains) = filled(1, "s-grow", 6, 3);
    add_partitions(&t, 3);

    // Keys now hash to other partitions, where these chains have no record yet.
    let after = open(&t);
    for c in &chains {
        assert_eq!(after.tail(c).unwrap(), tails.get(c).cloned(), "{c}: found in its old partition");
    }
    fill_chains(&after, &mut tails, &chains, 2); // continues in the new key partitions
    let moved: std::collections::BTreeSet<String> = {
        let mut moved = std::collections::BTreeSet::new();
        after
            .scan(&AuditQuery::default(), &mut |raw| {
                if !raw.position.starts_with("partition 0 ") {
                    moved.insert(raw.link().map(|(c, _)| c).unwrap_or_default());
                }
                Ok(())
            })
            .unwrap();
        moved
    };
    assert!(!moved.is_empty(), "some chain moved to a new partition");
    let third = open(&t);
    for c in &chains {
        assert_eq!(third.tail(c).unwrap().map(|t| t.seq), Some(5), "{c}: the latest across partitions");
        let read = third.read(&AuditQuery { chain: Some(c.clone()), ..Default::default() }).unwrap();
        let mut seqs: Vec<u64> = read.iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5], "{c}: every event, old and new partitions");
    }
}
