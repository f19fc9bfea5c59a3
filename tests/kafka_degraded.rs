// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! While the audit log cannot be written: the console says "audit degraded" and the banner goes
//! when the broker is back; agents keep acknowledging pause and lose no event. Its own test
//! binary: it stops the shared broker for a while (the tests here take turns).

mod common;
#[macro_use]
mod conformance;
mod kafka_support;
mod pty_console;

use kafka_support::*;
use pty_console::Console;
use quell::adapters::kafka::{await_topic_ready, KafkaAudit, KafkaConfig};
use quell::agent::runtime::{AgentRuntime, AgentSession, Gate, SessionSpec};
use quell::model::audit::EventKind;
use quell::model::chain::ChainTail;
use quell::model::control::{ControlTarget, Desired};
use quell::model::session::SessionState;
use quell::ports::AuditLog;
use quell::ports::AuditQuery;
use quell::services::forensics;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One test at a time stops the broker.
static BROKER: Mutex<()> = Mutex::new(());

/// Starts the broker again (same ports, data kept) if the test ends while it is stopped.
struct BrokerDown {
    ctl: String,
    down: bool,
}

impl BrokerDown {
    fn stop(ctl: &str) -> BrokerDown {
        let status = Command::new(ctl).arg("stop").status().expect("run kafka stop");
        assert!(status.success(), "{ctl} stop failed");
        BrokerDown { ctl: ctl.to_owned(), down: true }
    }

    /// Starts the broker and waits until `topic` (one partition) has a leader that answers
    /// again: right after a restart the partition can still report NotLeaderForPartition.
    fn start(&mut self, topic: &str) {
        let status = Command::new(&self.ctl).arg("restart").status().expect("run kafka restart");
        assert!(status.success(), "{} restart failed", self.ctl);
        self.down = false;
        await_topic_ready(&KafkaConfig::new(brokers(), topic), 1).expect("the topic is served again after the restart");
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        if self.down {
            let _ = Command::new(&self.ctl).arg("restart").status();
        }
    }
}

fn wait_health(audit: &dyn AuditLog, healthy: bool, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let now = audit.health().map_err(|e| e.to_string());
        if now.is_ok() == healthy || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn console_shows_audit_degraded_while_the_broker_is_down_and_recovers() {
    let _turn = BROKER.lock().unwrap_or_else(|p| p.into_inner());
    let ctl = ctl();
    let brokers = brokers();
    let t = topic(1, &[]);
    let audit = open(&t);
    assert_eq!(audit.health().map_err(|e| e.to_string()), Ok(()), "a reachable broker is healthy");

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let store = dir.path().join("quell.db");
    // With Kafka holding the audit log the embedded store holds the live state: it must exist.
    for db in [store.clone(), dir.path().join("late.db")] {
        drop(quell::adapters::embedded::EmbeddedStore::open(&db).expect("store"));
    }
    let c = Console::open_sized(&store, &["--kafka", &brokers, "--audit-topic", &t], (220, 24));
    let screen = c.wait_for("quell · fleet");
    assert!(!screen.contains("audit degraded"), "{screen}");

    let mut broker = BrokerDown::stop(&ctl);
    let screen = c.wait_until("audit degraded: brokers unreachable", true, Duration::from_secs(30));
    assert!(screen.contains(&format!("Kafka topic '{t}' (brokers {brokers})")), "names topic and brokers: {screen}");
    assert!(screen.contains("quell · fleet"), "the console stays usable: {screen}");
    let err = wait_health(audit.as_ref(), false, Duration::from_secs(10)).expect_err("the adapter says degraded");
    assert!(err.starts_with("brokers unreachable — audit events cannot be written"), "{err}");

    // A runbook's pause still takes effect; the missing audit record is said, with exit 6.
    let run = common::quell(&store, &["--kafka", &brokers, "--audit-topic", &t, "pause", "--all", "--reason", "INC-1"]);
    assert_eq!(run.code, 6, "{} {}", run.stdout, run.stderr);
    let warning = run.stderr.trim_end();
    assert!(warning.starts_with("quell: warning: pause the whole fleet"), "{warning}");
    assert!(warning.contains("took effect, but its audit record was not written: brokers unreachable"), "{warning}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    // A console opened during the outage starts, and says so at once.
    let late = Console::open_sized(&dir.path().join("late.db"), &["--kafka", &brokers, "--audit-topic", &t], (220, 24));
    let screen = late.wait_until("audit degraded: brokers unreachable", true, Duration::from_secs(30));
    assert!(screen.contains("quell · fleet"), "{screen}");
    drop(late);
    let stores = quell::adapters::embedded::EmbeddedStore::open(&store).expect("store").stores();
    let fleet = stores.control.fleet_control().expect("control").expect("the pause is in force");
    assert_eq!((fleet.desired, fleet.reason.as_str()), (Desired::Pause, "INC-1"));

    broker.start(&t);
    let screen = c.wait_until("audit degraded", false, Duration::from_secs(60));
    assert!(screen.contains("audit log writable again"), "{screen}");
    assert_eq!(wait_health(audit.as_ref(), true, Duration::from_secs(30)), Ok(()));

    // Writable for real: an event appended now is acknowledged and reads back.
    let stores = stores_with(audit.clone());
    let tail = audit.tail("s-after-outage").expect("tail");
    assert_eq!(tail, None);
    let events = conformance::events("s-after-outage", &ChainTail::genesis(), 2, 0);
    stores.audit.append(&events).expect("append after recovery");
    let tail = audit.tail("s-after-outage").expect("tail").expect("written");
    assert_eq!(tail.seq, events.len() as u64);
}

#[test]
fn agents_acknowledge_pause_while_the_audit_log_is_down_and_lose_no_event() {
    let _turn = BROKER.lock().unwrap_or_else(|p| p.into_inner());
    let ctl = ctl();
    let t = topic(1, &[]);
    let mut cfg = KafkaConfig::new(brokers(), &t);
    // Deliveries give up after 2 s, so the runtime's own retry is what carries events over.
    cfg.settings.insert("message.timeout.ms".into(), "2000".into());
    let audit = Arc::new(KafkaAudit::open(cfg).expect("open"));
    let stores = stores_with(audit.clone());
    let rt = AgentRuntime::start(stores.clone()).expect("runtime");
    let mut agents: Vec<AgentSession> = (0..3)
        .map(|i| {
            let spec = SessionSpec { id: Some(format!("s-outage-{i}")), agent: "outage".into(), ..Default::default() };
            AgentSession::start(&rt, spec).expect("start")
        })
        .collect();
    let step = |a: &mut AgentSession| {
        a.begin_step();
        let body = a.body(EventKind::LlmCall);
        a.emit(body).expect("emit");
    };
    agents.iter_mut().for_each(step);
    rt.flush().expect("stored while the broker is up");

    let mut broker = BrokerDown::stop(&ctl);
    for _ in 0..3 {
        agents.iter_mut().for_each(step);
    }
    let generation = stores
        .control
        .set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "outage drill", quell::model::time::now())
        .expect("pause");
    let deadline = Instant::now() + Duration::from_secs(5);
    for a in agents.iter_mut() {
        while a.observe().expect("observe") != Gate::Paused {
            assert!(Instant::now() < deadline, "{} never saw the pause", a.id());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Acknowledged in the state store although none of these events can be written; the
    // reported chain head stays at what is stored (2 events each), never ahead of it.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let sessions = stores.sessions.sessions().expect("sessions");
        let acked = sessions.iter().filter(|s| s.ack_generation >= generation && s.state == SessionState::Paused);
        if acked.count() == 3 {
            assert!(sessions.iter().all(|s| s.audit_seq == 2), "{sessions:?}");
            break;
        }
        assert!(Instant::now() < deadline, "pause not acknowledged while the audit log is down: {sessions:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = rt.flush().expect_err("the events cannot be stored yet").to_string();
    assert!(err.contains("not stored yet; retrying"), "{err}");

    broker.start(&t);
    let deadline = Instant::now() + Duration::from_secs(90);
    while let Err(e) = rt.flush() {
        assert!(Instant::now() < deadline, "events never stored after the broker came back: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every event exactly once, in order: 1 start + 1 + 3 steps + 1 control each.
    let reader = open(&t);
    let mut seqs: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    reader
        .scan(&AuditQuery::default(), &mut |raw| {
            let (chain, link) = raw.link().expect("link");
            assert!(link.intact);
            seqs.entry(chain).or_default().push(link.seq);
            Ok(())
        })
        .expect("scan");
    let reader_stores = stores_with(reader.clone());
    for a in &agents {
        assert_eq!(seqs.get(a.id()), Some(&(1..=6).collect::<Vec<u64>>()), "{}: {seqs:?}", a.id());
        assert_eq!(forensics::verify_chain(&reader_stores, a.id(), None).expect("verify"), Ok(6));
    }
    // The next report (a heartbeat, every 5 s, at the latest) carries the stored head.
    let deadline = Instant::now() + Duration::from_secs(12);
    while stores.sessions.sessions().expect("sessions").iter().any(|s| s.audit_seq != 6) {
        assert!(Instant::now() < deadline, "the reported heads catch up once stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(reader.skipped().is_empty());
}
