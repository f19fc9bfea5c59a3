// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Agent text never reaches the terminal: a corpus of hostile text (escape sequences that set
//! the title, a hyperlink, the clipboard, the alternate screen; DCS and APC; C1 controls; bidi,
//! zero-width and tag characters; CR, BS, NUL, DEL; line separators; invalid UTF-8) planted in
//! every agent-written field of the embedded store, then every CLI subcommand in text and in
//! `-o json`: the bytes on stdout and stderr hold no ESC, no C0 but newline, no C1, no bidi,
//! zero-width, tag or separator code point; and the JSON still parses back to the raw values.
//! The same run on Redis is `tests/redis_hostile_text.rs`.

mod common;
mod hostile_corpus;

use hostile_corpus::{every_command, h_arg, plant, run};
use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// A session and an approval whose ids are hostile, written straight into the embedded store
/// (the agent library refuses such ids; a hostile writer does not use it).
fn plant_hostile_ids(path: &Path) {
    let db = rusqlite::Connection::open(path).expect("open sqlite");
    let doc: String =
        db.query_row("SELECT doc FROM sessions WHERE id = 's-hostile'", [], |r| r.get(0)).expect("session doc");
    let mut v: Value = serde_json::from_str(&doc).expect("doc");
    let id = format!("x{}", h_arg());
    v["id"] = json!(id);
    // No chain of its own: nothing for verification to miss.
    v["audit_seq"] = json!(0);
    v["audit_head"] = Value::Null;
    db.execute(
        "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc) \
         SELECT ?1, state, last_seen_us, ack_generation, ?2 FROM sessions WHERE id = 's-hostile'",
        rusqlite::params![id, v.to_string()],
    )
    .expect("insert session");
    let (adoc, aid): (String, String) = db
        .query_row("SELECT doc, id FROM approvals WHERE session_id = 's-hostile' LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("approval doc");
    let mut a: Value = serde_json::from_str(&adoc).expect("approval");
    let hostile = format!("a{}", h_arg());
    a["id"] = json!(hostile);
    a["session_id"] = json!(id);
    db.execute(
        "INSERT INTO approvals (id, session_id, status, requested_us, expires_us, doc) \
         SELECT ?1, ?2, status, requested_us, expires_us, ?3 FROM approvals WHERE id = ?4",
        rusqlite::params![hostile, id, a.to_string(), aid],
    )
    .expect("insert approval");
}

fn embedded_cmd(store: &Path) -> Command {
    common::quell_cmd(store)
}

#[test]
fn hostile_text_on_the_embedded_store_never_reaches_the_terminal() {
    let (path, stores) = common::temp_store();
    let approvals = plant(&stores);
    plant_hostile_ids(&path);
    every_command(|| embedded_cmd(&path), &approvals, true);
}

#[test]
fn operator_identity_with_control_bidi_or_zero_width_characters_is_refused() {
    let (path, stores) = common::temp_store();
    let rt = AgentRuntime::start(stores.clone()).expect("runtime");
    let spec = SessionSpec { id: Some("s-hostile".into()), agent: "plain".into(), ..Default::default() };
    AgentSession::start(&rt, spec).expect("start");
    rt.shutdown().expect("shutdown");
    for bad in ["al\u{202e}ice", "al\u{200b}ice", "al\x1b]2;x\x07ice", "al\u{e0041}ice", "al\u{9b}ice", "  ", "a\tb"] {
        let r =
            run(common::quell_cmd(&path).arg("--as").arg(bad), &["pause", "s-hostile", "--reason", "r", "--wait", "0"]);
        assert_eq!(r.code, 2, "--as {bad:?} is a usage error: {}", r.stderr);
        assert!(r.stderr.starts_with("quell: --as: the operator identity"), "{}", r.stderr);
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
        let r = run(common::quell_cmd(&path).env("QUELL_AS", bad), &["sessions"]);
        assert_eq!(r.code, 2, "QUELL_AS {bad:?}: {}", r.stderr);
    }
    // `kubectl quell` resolves the identity the same way.
    let mut plugin = Command::new(env!("CARGO_BIN_EXE_kubectl-quell"));
    plugin.env_remove("QUELL_AS").env("XDG_CONFIG_HOME", path.parent().expect("dir")).arg("--store").arg(&path);
    let r = run(plugin.args(["--as", "al\u{202e}ice", "sessions"]), &[]);
    assert_eq!(r.code, 2, "kubectl quell --as with bidi: {}", r.stderr);
    assert!(r.stderr.starts_with("quell: --as: the operator identity"), "{}", r.stderr);
    let r = run(&mut common::quell_cmd(&path), &["replay", "--kind", "operator_action"]);
    assert_eq!(r.stdout, "", "nothing was done under a refused identity");
    // Ordinary names, including non-ASCII ones, are fine.
    let r = run(
        common::quell_cmd(&path).arg("--as").arg("Zoë Müller"),
        &["pause", "s-hostile", "--reason", "r", "--wait", "0"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&mut common::quell_cmd(&path), &["replay", "--kind", "operator_action"]);
    assert!(r.stdout.contains("operator:Zoë Müller"), "{}", r.stdout);
}
