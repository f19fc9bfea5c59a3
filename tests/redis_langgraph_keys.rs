// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! LangGraph's own Redis checkpointer (langgraph-checkpoint-redis 0.5) shares the seed's
//! `checkpoint:` prefix. Beside seed sessions written by the seed's own code (redis-py), the
//! keys its full and shallow savers write — under their exact names — are skipped: `quell
//! sessions` lists only the seed sessions and exits 0, `quell show` of a seed session still
//! works, and the store counts what it skipped in one clean line.
//!
//! The saver's checkpoints are RedisJSON documents. The Debian redis-server the tests run has no
//! RedisJSON module, so a real one cannot be created here; a hash stands in for it, because both
//! answer `GET` with WRONGTYPE — the reply that used to make these keys "unreadable sessions".
//! Some keys hold a plain string as well, to show the decision is made by the key's shape, not
//! by what a `GET` returns. Database 8 of the test server.

#[path = "common/mod.rs"]
mod common;
#[path = "fixtures/redis/support.rs"]
mod support;

use common::{from_output, Run};
use quell::adapters::redis::RedisStore;
use quell::ports::SessionStore;

const CID: &str = "1f0c6a4e-2b7d-6e30-8001-5d2b9c0a7f11";
const CID2: &str = "1f0c6a4e-2b8f-6a12-8002-0c4d8e1f2a33";
const TASK: &str = "6b0e4c1a-9d3f-4e2b-a7c5-1f8e2d3c4b5a";

fn quell(url: &str, args: &[&str]) -> Run {
    let store = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep().join("quell.db");
    // The embedded store holds the (empty) audit log that `show` reads.
    quell::adapters::embedded::EmbeddedStore::open(&store).expect("create the audit store");
    from_output(
        common::quell_cmd(&store).env_remove("QUELL_REDIS").arg("--redis").arg(url).args(args).output().expect("run"),
    )
}

#[test]
fn langgraph_checkpointer_keys_are_skipped_and_counted_and_seed_sessions_read_as_before() {
    let url = support::flushed(8);
    support::seed_agent(&url, &["write", "seed-a", "1", "2", "10"]);
    // quell's ids allow ':', so the seed may write `checkpoint:team:seed-b:{step}`.
    support::seed_agent(&url, &["write", "team:seed-b", "3"]);

    let mut raw = support::raw(&url);
    let hash = |raw: &mut redis::Connection, key: &str| {
        redis::cmd("HSET").arg(key).arg("checkpoint").arg("{}").query::<()>(raw).expect("HSET");
    };
    let string = |raw: &mut redis::Connection, key: &str| {
        redis::cmd("SET").arg(key).arg(r#"{"thread_id":"thread-1","checkpoint":{}}"#).query::<()>(raw).expect("SET");
    };
    let hostile_thread = "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J";
    // Full saver: checkpoint:{thread}:{ns}:{checkpoint_id}, the root namespace `__empty__`; a
    // subgraph's namespace is `node:task`; an empty thread id is written as the zero UUID.
    let under_checkpoint = [
        (format!("checkpoint:thread-1:__empty__:{CID}"), true),
        (format!("checkpoint:thread-1:__empty__:{CID2}"), false),
        (format!("checkpoint:thread-1:agent:{TASK}:{CID}"), true),
        (format!("checkpoint:00000000-0000-0000-0000-000000000000:__empty__:{CID}"), true),
        // A LangGraph thread named like a seed session: its keys match `checkpoint:seed-a:*`.
        (format!("checkpoint:seed-a:__empty__:{CID}"), true),
        (format!("checkpoint:{hostile_thread}:__empty__:{CID}"), false),
        // Shallow saver: checkpoint:{thread}:{ns}, the root namespace as 0.5.2 writes it (empty)
        // and in its storage-safe form.
        ("checkpoint:thread-2:".to_owned(), true),
        ("checkpoint:thread-3:__empty__".to_owned(), false),
    ];
    for (key, as_hash) in &under_checkpoint {
        if *as_hash {
            hash(&mut raw, key)
        } else {
            string(&mut raw, key)
        }
    }
    // The saver's other keys do not match `checkpoint:*`: never met, never counted.
    string(&mut raw, "checkpoint_latest:thread-1:__empty__");
    hash(&mut raw, &format!("checkpoint_write:thread-1:__empty__:{CID}:{TASK}:0"));
    redis::cmd("ZADD")
        .arg(format!("write_keys_zset:thread-1:__empty__:{CID}"))
        .arg(0)
        .arg("k")
        .query::<()>(&mut raw)
        .expect("ZADD");

    let r = quell(&url, &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let listed = r.json();
    let listed = listed.as_array().expect("array");
    let ids: Vec<&str> = listed.iter().map(|s| s["id"].as_str().expect("id")).collect();
    assert_eq!(ids, vec!["seed-a", "team:seed-b"], "only the seed sessions: {listed:?}");
    assert_eq!((listed[0]["step"].as_u64(), listed[0]["unreadable"].is_null()), (Some(10), true), "{listed:?}");
    assert_eq!((listed[1]["step"].as_u64(), listed[1]["unreadable"].is_null()), (Some(3), true), "{listed:?}");

    let r = quell(&url, &["sessions"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("unreadable") && !r.stdout.contains("thread-"), "{}", r.stdout);
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("seed-a") || l.starts_with("team:seed-b")).count(), 2);

    for (id, steps) in [("seed-a", &[1, 2, 10][..]), ("team:seed-b", &[3][..])] {
        let r = quell(&url, &["show", id]);
        assert_eq!(r.code, 0, "show {id}: {} {}", r.stdout, r.stderr);
        for step in steps {
            assert!(r.stdout.contains(&format!("checkpoint step {step}: 2 messages")), "show {id}: {}", r.stdout);
        }
        assert!(!r.stdout.contains("unreadable") && !r.stdout.contains(CID), "show {id}: {}", r.stdout);
    }
    let r = quell(&url, &["show", "thread-1"]);
    assert_ne!(r.code, 0, "a LangGraph thread is not a quell session: {}", r.stdout);

    // The store says what it skipped: every key under `checkpoint:` above, once, in one line.
    let store = RedisStore::open(&url).expect("open");
    assert_eq!(store.report_lines(), Vec::<String>::new(), "nothing listed yet, nothing said");
    let sessions = store.sessions().expect("sessions");
    assert_eq!(sessions.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["seed-a", "team:seed-b"]);
    let foreign = store.foreign_keys();
    assert_eq!(foreign.count, under_checkpoint.len(), "{foreign:?}");
    let lines = store.report_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(
        line.contains(&format!("skipped {} key(s) under checkpoint:*", under_checkpoint.len()))
            && line.contains("LangGraph")
            && line.contains("ZXZpbA=="),
        "{line}"
    );
    assert!(!line.chars().any(|c| c.is_control()), "one neutralised line: {line:?}");
    assert_eq!(
        store.checkpoints("seed-a").expect("checkpoints").iter().map(|c| c.step).collect::<Vec<_>>(),
        [1, 2, 10]
    );
    assert_eq!(store.session("thread-1").expect("session"), None);
}
