// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Agent text never reaches the terminal, on Redis: the hostile-text corpus of
//! `tests/hostile_text.rs` planted in every agent-written field of a Redis store (and a session
//! document and a seed checkpoint that are not UTF-8), then every CLI subcommand in text and in
//! `-o json`. Database 12 of the test server.

mod common;
mod hostile_corpus;
#[path = "fixtures/redis/support.rs"]
mod support;

use hostile_corpus::{every_command, plant, run};
use quell::adapters::embedded::EmbeddedStore;
use quell::adapters::redis::RedisStore;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn redis_cmd(store: &Path, url: &str) -> Command {
    let mut c = common::quell_cmd(store);
    c.env_remove("QUELL_REDIS").arg("--redis").arg(url);
    c
}

#[test]
fn hostile_text_on_redis_never_reaches_the_terminal() {
    let url = support::flushed(12);
    let dir: PathBuf = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    let store = dir.join("quell.db");
    let audit = Arc::new(EmbeddedStore::open(&store).expect("embedded audit"));
    let stores = RedisStore::open(&url).expect("redis").stores(audit);
    let approvals = plant(&stores);
    // A hostile writer: a session document and a seed checkpoint that are not UTF-8, with
    // escape sequences around the bad bytes.
    let mut raw = support::raw(&url);
    let mut doc = b"{\"id\":\"s-bytes\",\"agent\":\"\x1b]2;PWNED\x07\xff\xfe\"}".to_vec();
    doc.extend_from_slice("\u{202e}".as_bytes());
    redis::cmd("SET").arg("quell:s:{s-bytes}:doc").arg(doc).query::<()>(&mut raw).expect("SET doc");
    redis::cmd("ZADD").arg("quell:sessions").arg(1).arg("s-bytes").query::<()>(&mut raw).expect("ZADD");
    let cp = b"{\"session_id\":\"s-hostile\",\"step\":99,\"plan\":\"\x1b]52;c;eA==\x07\xc3\x28\"}".to_vec();
    redis::cmd("SET").arg("checkpoint:s-hostile:99").arg(cp).query::<()>(&mut raw).expect("SET checkpoint");
    every_command(|| redis_cmd(&store, &url), &approvals, false);
    let r = run(&mut redis_cmd(&store, &url), &["sessions"]);
    assert!(r.stdout.contains("s-bytes: "), "the unreadable document is reported: {}", r.stdout);
}
