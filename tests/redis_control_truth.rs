// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Redis goes away while `quell pause --all --wait` waits for acknowledgements: the pause was
//! issued, and the command says so (generation, scope) and that the acknowledgements are
//! unknown, instead of only "cannot connect"; a restart within `--wait` is ridden out.
//! Database 11 of the test server, stopped and restarted with `$QUELL_TEST_REDIS_CTL`; kept in
//! its own test binary (one test) so the outage disturbs no other test.

#[path = "fixtures/redis/support.rs"]
mod support;

use quell::model::control::Desired;
use quell::model::session::Session;
use quell::model::time;
use quell::ports::Stores;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ctl(what: &str) {
    let out = Command::new("bash").arg(support::ctl()).arg(what).output().expect("run redis ctl");
    assert!(out.status.success(), "redis {what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Brings the server back however the test ends, so later tests find it.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(support::ctl()).arg("restart").output();
    }
}

fn pause_all(url: &str, store: &std::path::Path, wait: &str) -> Child {
    let dir = store.parent().expect("dir");
    Command::new(env!("CARGO_BIN_EXE_quell"))
        .env_remove("QUELL_REDIS")
        .env_remove("QUELL_CONFIG")
        .env("XDG_CONFIG_HOME", dir)
        .env("HOME", dir)
        .args(["--store"])
        .arg(store)
        .args(["--redis", url, "pause", "--all", "--reason", "INC-9", "--as", "alice", "--wait", wait, "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quell")
}

/// Waits until the fleet pause at a generation above `after` is in Redis; returns it.
fn issued(stores: &Stores, after: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(rec)) = stores.control.fleet_control() {
            if rec.desired == Desired::Pause && rec.generation > after {
                return rec.generation;
            }
        }
        assert!(Instant::now() < deadline, "the pause was never issued");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> (i32, serde_json::Value, String) {
    let out = child.wait_with_output().expect("wait for quell");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout} / {stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

#[test]
fn an_outage_while_waiting_reports_what_was_issued() {
    let url = support::flushed(11);
    let stores = support::stores_at(&url);
    // A live session that never acknowledges: the command waits the whole --wait.
    stores.sessions.put_sessions(&[Session::new("s-quiet", "agent", time::now())]).expect("put session");
    let store = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep().join("quell.db");
    let _restart = Restart;

    // Restarted within --wait: the command rides it out and reports the outstanding session.
    let child = pause_all(&url, &store, "6");
    let first = issued(&stores, 0);
    ctl("restart");
    let (code, doc, stderr) = finish(child);
    assert_eq!(code, 7, "s-quiet never acknowledges: {doc} {stderr}");
    assert_eq!(doc["generation"], first, "{doc}");
    assert_eq!(doc["outstanding"], serde_json::json!(["s-quiet"]), "{doc}");
    assert!(doc["ack_error"].is_null(), "{doc}");

    // Stopped for good: what was issued, and that the acknowledgements are unknown.
    let child = pause_all(&url, &store, "3");
    let second = issued(&stores, first);
    ctl("stop");
    let (code, doc, stderr) = finish(child);
    ctl("restart");
    assert_eq!(code, 6, "{doc} {stderr}");
    assert_eq!(doc["generation"], second, "the issued generation is reported: {doc}");
    assert_eq!(doc["action"], "pause");
    assert!(doc["scope"].as_str().unwrap_or_default().contains("the whole fleet"), "{doc}");
    assert!(doc["acknowledged"].is_null() && doc["outstanding"].is_null(), "unknown, not empty: {doc}");
    assert!(doc["ack_error"].is_string(), "{doc}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("was issued at control generation {second}")), "{stderr}");
    assert!(stderr.contains("acknowledged it is unknown"), "{stderr}");

    // The pause really took effect: it is in Redis after the restart.
    let rec = stores.control.fleet_control().expect("read after restart").expect("kept");
    assert_eq!((rec.desired, rec.generation, rec.reason.as_str()), (Desired::Pause, second, "INC-9"));
}
