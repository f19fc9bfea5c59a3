//! While the audit log cannot be written the console says "audit degraded", and the banner goes
//! when the broker is back. Its own test binary: it stops the shared broker for a while.

#[macro_use]
mod conformance;
mod kafka_support;
mod pty_console;

use kafka_support::*;
use pty_console::Console;
use quell::model::chain::ChainTail;
use quell::ports::AuditLog;
use std::process::Command;
use std::time::{Duration, Instant};

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

    fn start(&mut self) {
        let status = Command::new(&self.ctl).arg("restart").status().expect("run kafka restart");
        assert!(status.success(), "{} restart failed", self.ctl);
        self.down = false;
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
    let ctl = ctl();
    let brokers = brokers();
    let t = topic(1, &[]);
    let audit = open(&t);
    assert_eq!(audit.health().map_err(|e| e.to_string()), Ok(()), "a reachable broker is healthy");

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let store = dir.path().join("quell.db");
    let c = Console::open_sized(&store, &["--kafka", &brokers, "--audit-topic", &t], (220, 24));
    let screen = c.wait_for("quell · fleet");
    assert!(!screen.contains("audit degraded"), "{screen}");

    let mut broker = BrokerDown::stop(&ctl);
    let screen = c.wait_until("audit degraded: brokers unreachable", true, Duration::from_secs(30));
    assert!(screen.contains(&format!("Kafka topic '{t}' (brokers {brokers})")), "names topic and brokers: {screen}");
    assert!(screen.contains("quell · fleet"), "the console stays usable: {screen}");
    let err = wait_health(audit.as_ref(), false, Duration::from_secs(10)).expect_err("the adapter says degraded");
    assert!(err.starts_with("brokers unreachable — audit events cannot be written"), "{err}");

    broker.start();
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
