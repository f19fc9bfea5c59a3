// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The `quell` binary on Redis: `--redis`, `QUELL_REDIS` and the config key; seed-only
//! sessions listed; the demo fleet's state in Redis with its audit in the embedded store;
//! concurrent `quell approve` processes and bulk `approve`/`reject --where`; an unreachable server named without its password; a
//! checkpoint edited in Redis shown as edited; a missing store with Redis.
//! Databases 4, 5, 7 and 13 of the test server.

#[path = "fixtures/redis/support.rs"]
mod support;

mod approvals_bulk;

use std::process::{Command, Output};

fn quell(store: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quell"));
    let dir = store.parent().expect("dir");
    c.env_remove("QUELL_REDIS").env_remove("QUELL_CONFIG").env("QUELL_STORE", store);
    c.env("HOME", dir).env("XDG_CONFIG_HOME", dir);
    c
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn tmp() -> std::path::PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep().join("quell.db")
}

#[test]
fn sessions_and_demo_on_redis_with_audit_embedded() {
    let url = support::flushed(4);
    support::seed_agent(&url, &["write", "seed-only", "9", "10"]);
    let store = tmp();

    // Flag, environment variable and config key all select Redis.
    let by_flag = quell(&store).args(["--redis", &url, "sessions", "-o", "json"]).output().expect("run");
    let by_env = quell(&store).env("QUELL_REDIS", &url).args(["sessions", "-o", "json"]).output().expect("run");
    let config = store.parent().expect("dir").join("quell").join("config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(&config, format!("redis = {url:?}\n")).expect("config");
    let by_file = quell(&store).args(["sessions", "-o", "json"]).output().expect("run");
    for o in [&by_flag, &by_env, &by_file] {
        let (out, err) = text(o);
        assert!(o.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let list = v.as_array().or_else(|| v["sessions"].as_array()).expect("a list of sessions");
        assert_eq!(list.len(), 1, "{out}");
        assert_eq!(list[0]["id"], "seed-only");
        assert_eq!(list[0]["step"], 10);
    }
    std::fs::remove_file(&config).expect("rm config");

    let demo = quell(&store)
        .args(["--redis", &url, "demo", "--headless", "--duration", "2", "--agents", "5", "--step-ms", "50-150"])
        .output()
        .expect("run demo");
    let (out, err) = text(&demo);
    assert!(demo.status.success(), "demo failed: {err}\n{out}");
    let mut raw = support::raw(&url);
    let n: u64 = redis::cmd("ZCARD").arg("quell:sessions").query(&mut raw).expect("ZCARD");
    assert_eq!(n, 5, "the demo's sessions live in Redis");
    let listed = quell(&store).args(["--redis", &url, "sessions", "-o", "json"]).output().expect("run");
    let v: serde_json::Value = serde_json::from_str(&text(&listed).0).expect("json");
    let count = v.as_array().or_else(|| v["sessions"].as_array()).map(|a| a.len()).unwrap_or(0);
    assert_eq!(count, 6, "5 demo sessions and the seed-only one");
    let embedded_only = quell(&store).args(["sessions", "-o", "json"]).output().expect("run");
    let v: serde_json::Value = serde_json::from_str(&text(&embedded_only).0).expect("json");
    let count = v.as_array().or_else(|| v["sessions"].as_array()).map(|a| a.len()).unwrap_or(usize::MAX);
    assert_eq!(count, 0, "no session state went to the embedded store");
    let verify = quell(&store).args(["--redis", &url, "verify"]).output().expect("run verify");
    let (out, err) = text(&verify);
    assert!(verify.status.success() && out.contains("intact"), "audit in the embedded store verifies: {out}{err}");
    assert!(out.contains("5 chains"), "{out}");
}

/// With Redis the embedded store holds only the audit log: a listing works without it and
/// creates nothing, a read of the log says `no such store PATH`, an action starts the log.
#[test]
fn with_redis_a_missing_store_is_a_missing_audit_log() {
    let url = support::flushed(5);
    support::seed_agent(&url, &["write", "seed-only", "9", "10"]);
    let store = tmp();
    let listed = quell(&store).args(["--redis", &url, "sessions", "-o", "json"]).output().expect("run");
    assert!(listed.status.success(), "{}", text(&listed).1);
    let verify = quell(&store).args(["--redis", &url, "verify"]).output().expect("run");
    let (out, err) = text(&verify);
    assert_eq!(verify.status.code(), Some(6), "{out}{err}");
    assert!(err.contains(&format!("no such store {}", store.display())) && !out.contains("intact"), "{out}{err}");
    assert!(!store.exists(), "reads created no store");
    let pause = quell(&store)
        .args(["--redis", &url, "--as", "alice", "pause", "seed-only", "--reason", "x", "--wait", "0"])
        .output()
        .expect("run");
    let (out, err) = text(&pause);
    assert_eq!(pause.status.code(), Some(0), "{out}{err}");
    assert!(store.exists(), "the operator's record started the audit log");
    let replay = quell(&store).args(["--redis", &url, "replay", "operator:alice", "-o", "json"]).output().expect("run");
    assert!(text(&replay).0.contains("\"operator_action\""), "{:?}", text(&replay));
}

#[test]
fn unreachable_redis_is_one_line_without_the_password() {
    let store = tmp();
    let o = quell(&store).args(["--redis", "redis://alice:s3cr3t-pw@127.0.0.1:1/0", "sessions"]).output().expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "exit 6: backend unavailable ({err})");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains("redis://alice:***@127.0.0.1:1/0"), "names the address: {err}");
    assert!(!err.contains("s3cr3t") && !out.contains("s3cr3t"), "password never shown: {err}");
    let help = quell(&store).env("QUELL_REDIS", "redis://:s3cr3t-pw@127.0.0.1:1").arg("--help").output().expect("run");
    assert!(!text(&help).0.contains("s3cr3t"), "--help does not echo the environment's password");
}

#[test]
fn concurrent_approve_processes_decide_once() {
    use quell::model::approval::{Approval, ApprovalStatus, Risk};
    use quell::model::untrusted::{Untrusted, UntrustedJson};
    use quell::ports::ApprovalStore;
    let url = support::flushed(7);
    let stores = support::stores_at(&url);
    let now = quell::model::time::now();
    stores
        .approvals
        .request_approval(&Approval {
            id: "ap-cli".into(),
            session_id: "s-1".into(),
            step: 1,
            tool: Untrusted::new("send_email"),
            arguments: UntrustedJson::new(serde_json::json!({"to": "x@example.com"})),
            risk: Risk::High,
            requested_at: now,
            expires_at: now + chrono::Duration::seconds(120),
            required_approvers: 1,
            decisions: vec![],
            status: ApprovalStatus::Pending,
            unreadable: None,
        })
        .expect("request");
    let store = tmp();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let verb = if i % 2 == 0 { "approve" } else { "reject" };
            quell(&store)
                .args(["--redis", &url, "--as", &format!("op{i}"), verb, "ap-cli", "--reason", "race"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn quell")
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect();
    let winners: Vec<&Output> = outputs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(winners.len(), 1, "exactly one process decides: {:?}", outputs.iter().map(text).collect::<Vec<_>>());
    let stored = ApprovalStore::approval(&*stores.approvals, "ap-cli").expect("read").expect("exists");
    assert_eq!(stored.decisions.len(), 1);
    let by = &stored.decisions[0].approver;
    for o in outputs.iter().filter(|o| !o.status.success()) {
        let (_, err) = text(o);
        assert_eq!(o.status.code(), Some(4), "losers get exit 4 (conflict): {err}");
        assert!(err.contains(by.as_str()), "losers are told who decided ({by}): {err}");
    }
    // The same database: clearing the queue by selector and by ids, concurrent bulk rejects.
    approvals_bulk::scenario(
        &|| {
            let mut c = quell(&store);
            c.args(["--redis", &url]);
            c
        },
        &stores,
    );
}

#[test]
fn a_checkpoint_edited_in_redis_is_shown_as_edited() {
    use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
    let url = support::flushed(13);
    let store = tmp();
    let audit: std::sync::Arc<dyn quell::ports::AuditLog> =
        std::sync::Arc::new(quell::adapters::embedded::EmbeddedStore::open(&store).expect("open store"));
    let stores = quell::adapters::redis::RedisStore::open(&url).expect("open redis store").stores(audit);
    let rt = AgentRuntime::start(stores).expect("runtime");
    let spec = SessionSpec { id: Some("s-rcp".into()), agent: "a".into(), ..Default::default() };
    let mut a = AgentSession::start(&rt, spec).expect("start");
    a.begin_step();
    a.checkpoint(vec![serde_json::json!({"role": "user", "content": "m1"})], vec![], "plan".into())
        .expect("checkpoint");
    a.commit().expect("commit");
    rt.shutdown().expect("shutdown");
    let show = || {
        let o = quell(&store).args(["--redis", &url, "show", "s-rcp"]).output().expect("run show");
        (o.status.code(), text(&o).0)
    };
    let (code, out) = show();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("integrity: chain verified (2 events)"), "{out}");

    // The seed's key, edited in place (its TTL kept).
    let mut raw = support::raw(&url);
    let doc: String = redis::cmd("GET").arg("checkpoint:s-rcp:1").query(&mut raw).expect("GET");
    let edited = doc.replace("m1", "m9");
    assert_ne!(doc, edited);
    redis::cmd("SET").arg("checkpoint:s-rcp:1").arg(edited).arg("KEEPTTL").query::<()>(&mut raw).expect("SET");
    let (code, out) = show();
    assert_eq!(code, Some(5), "{out}");
    assert!(out.contains("integrity: checkpoint edited at step 1"), "{out}");
    assert!(!out.contains("chain verified"), "{out}");
}
