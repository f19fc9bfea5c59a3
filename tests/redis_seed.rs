// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The seed's checkpoints, written by the seed's own Python code with the real redis-py client
//! (`SETEX checkpoint:{session_id}:{step} 86400 <json.dumps>`), read back by quell — and the
//! other way round. Database 1 of the test server, unprefixed keys, as a deployment has them.

#[path = "fixtures/redis/support.rs"]
mod support;

use quell::adapters::redis::RedisStore;
use quell::model::checkpoint::Checkpoint;
use quell::model::time;
use quell::model::untrusted::UntrustedJson;
use quell::ports::SessionStore;
use serde_json::json;

#[test]
fn seed_checkpoints_from_redis_py_are_read_as_written() {
    let url = support::flushed(1);
    let steps: Vec<String> = (1..=10).map(|s| s.to_string()).collect();
    let mut args = vec!["write", "seed-a"];
    args.extend(steps.iter().map(String::as_str));
    support::seed_agent(&url, &args);
    support::seed_agent(&url, &["write", "seed-b", "3"]);
    // The seed's own load_latest sorts key strings: it resumes from step 9, not 10.
    assert_eq!(support::seed_agent(&url, &["latest", "seed-a"]), "9");

    let keys_before = support::calls(&url, "keys");
    let store = RedisStore::open(&url).expect("open");
    let cps = store.checkpoints("seed-a").expect("checkpoints");
    assert_eq!(cps.iter().map(|c| c.step).collect::<Vec<_>>(), (1..=10).collect::<Vec<u64>>());
    let latest = store.latest_checkpoint("seed-a").expect("latest").expect("some");
    assert_eq!(latest.step, 10, "the highest numeric step, not the last string");
    assert_eq!(latest.session_id, "seed-a");
    assert_eq!(latest.tool_results[0].raw()["output"], "result of step 10");
    assert_eq!(latest.plan.raw()["next_step"], 11);
    let hostile = latest.messages[1].raw()["content"].as_str().expect("content");
    assert!(hostile.contains('\u{202e}') && hostile.contains('\u{1b}'), "raw bytes kept: {hostile:?}");
    let created = quell::adapters::redis::parse_created_at(latest.created_at.raw()).expect("isoformat time");
    assert!((time::now() - created).num_seconds().abs() < 120, "created_at {} read as UTC", latest.created_at.raw());

    let sessions = store.sessions().expect("sessions");
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["seed-a", "seed-b"]);
    let a = &sessions[0];
    assert_eq!((a.step, a.unreadable.as_deref()), (10, None));
    assert_eq!(a.last_seen, created, "last checkpoint time");
    assert!(a.started_at <= a.last_seen);
    assert_eq!(store.session("seed-b").expect("session").map(|s| s.step), Some(3));
    assert_eq!(store.session("seed-none").expect("session"), None);
    assert_eq!(support::calls(&url, "keys"), keys_before, "quell never sends KEYS");
}

#[test]
fn checkpoints_quell_writes_are_the_seeds_format() {
    let url = support::flushed(1 + 8); // db 9: its own, so the other test's FLUSHDB cannot race it
    let store = RedisStore::open(&url).expect("open");
    for step in [9, 10, 2] {
        store
            .save_checkpoint(&Checkpoint {
                session_id: "lib-a".into(),
                step,
                messages: vec![UntrustedJson::new(json!({"role": "user", "content": "hi"}))],
                tool_results: vec![],
                plan: UntrustedJson::new(json!({"goal": "g"})),
                created_at: "2026-11-28T03:00:00.000001".into(),
                stored_hash: None,
            })
            .expect("save");
    }
    let mut raw = support::raw(&url);
    let kind: String = redis::cmd("TYPE").arg("checkpoint:lib-a:10").query(&mut raw).expect("TYPE");
    assert_eq!(kind, "string");
    let ttl: i64 = redis::cmd("TTL").arg("checkpoint:lib-a:10").query(&mut raw).expect("TTL");
    assert!((86_000..=86_400).contains(&ttl), "24 h TTL like the seed's SETEX, got {ttl}");
    let text: String = redis::cmd("GET").arg("checkpoint:lib-a:10").query(&mut raw).expect("GET");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut fields: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["created_at", "messages", "plan", "session_id", "step", "tool_results"]);
    // The seed's Python loads it (`cls(**json.loads(...))` would fail on any other field).
    assert_eq!(support::seed_agent(&url, &["latest", "lib-a"]), "9", "the seed reads quell's checkpoints");
    assert_eq!(store.latest_checkpoint("lib-a").expect("latest").map(|c| c.step), Some(10));
    // The library's step index spares a SCAN.
    let indexed: Vec<u64> =
        redis::cmd("ZRANGE").arg("quell:s:{lib-a}:steps").arg(0).arg(-1).query(&mut raw).expect("ZRANGE");
    assert_eq!(indexed, vec![2, 9, 10]);
}
