// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Tampering with a real store file (as an attacker with file access would: dropping the
//! append-only triggers first) is detected at the right sequence number, by the library and by
//! `quell verify`.

use quell::adapters::embedded::EmbeddedStore;
use quell::model::audit::{EventBody, EventKind};
use quell::model::chain::{BreakKind, ChainTail};
use quell::ports::{SealedEvent, Stores};
use quell::services::forensics;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;

fn store_with_chain(n: u64) -> (PathBuf, Stores) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    let path = dir.join("quell.db");
    let stores = EmbeddedStore::open(&path).expect("open").stores();
    append_chain(&stores, "s-1", n);
    (path, stores)
}

/// Appends `n` events to chain `id` (a new chain); returns its head.
fn append_chain(stores: &Stores, id: &str, n: u64) -> ChainTail {
    let mut tail = stores.audit.tail(id).expect("tail").unwrap_or_else(ChainTail::genesis);
    for i in 0..n {
        let body = EventBody::new(id, i, EventKind::LlmCall, "agent:t").attr("i", i);
        let sealed = SealedEvent::seal(body, &tail).expect("seal");
        tail = sealed.event.tail();
        stores.audit.append(&[sealed]).expect("append");
    }
    tail
}

/// `quell verify` on the store: exit code, stdout, stderr.
fn quell_verify(path: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quell"))
        .arg("--store")
        .arg(path)
        .arg("verify")
        .args(args)
        .output()
        .expect("run quell");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn attacker(path: &Path) -> Connection {
    let c = Connection::open(path).expect("open raw");
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;").expect("drop triggers");
    c
}

fn first_break(stores: &Stores) -> (String, u64, BreakKind) {
    let report = forensics::verify(stores, None).expect("verify runs");
    let b = report.breaks.first().expect("a break is reported");
    (b.session_id.clone(), b.seq, b.kind)
}

#[test]
fn store_refuses_update_and_delete() {
    let (path, _stores) = store_with_chain(3);
    let c = Connection::open(&path).expect("open raw");
    let upd = c.execute("UPDATE audit SET body = '{}' WHERE seq = 2", []);
    assert!(upd.unwrap_err().to_string().contains("append-only"));
    let del = c.execute("DELETE FROM audit WHERE seq = 2", []);
    assert!(del.unwrap_err().to_string().contains("append-only"));
}

#[test]
fn intact_chain_verifies() {
    let (_, stores) = store_with_chain(6);
    let r = forensics::verify(&stores, None).unwrap();
    assert!(r.intact());
    assert_eq!((r.chains, r.events), (1, 6));
}

#[test]
fn modified_event_is_found() {
    let (path, stores) = store_with_chain(6);
    attacker(&path).execute("UPDATE audit SET body = replace(body, '\"i\":3', '\"i\":99') WHERE seq = 4", []).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 4, BreakKind::Modified));
}

#[test]
fn modified_and_rehashed_event_is_found() {
    let (path, stores) = store_with_chain(6);
    let c = attacker(&path);
    let body: String = c.query_row("SELECT body FROM audit WHERE seq = 3", [], |r| r.get(0)).unwrap();
    let forged = body.replace("\"i\":2", "\"i\":77");
    let hash = quell::model::chain::sha256_hex(forged.as_bytes());
    c.execute("UPDATE audit SET body = ?1, hash = ?2 WHERE seq = 3", [&forged, &hash]).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 3, BreakKind::Modified));
}

#[test]
fn removed_event_is_found() {
    let (path, stores) = store_with_chain(6);
    attacker(&path).execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 2, BreakKind::Removed));
}

#[test]
fn reordered_events_are_found() {
    let (path, stores) = store_with_chain(6);
    let c = attacker(&path);
    // swap the stored positions of seq 3 and 4
    c.execute_batch(
        "UPDATE audit SET id = -3 WHERE seq = 3; UPDATE audit SET id = 3 WHERE seq = 4; UPDATE audit SET id = 4 WHERE id = -3;",
    )
    .unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 3, BreakKind::Reordered));
}

#[test]
fn duplicated_event_is_found() {
    let (path, stores) = store_with_chain(6);
    let c = attacker(&path);
    c.execute_batch(
        "UPDATE audit SET id = id + 100 WHERE seq > 2;
         INSERT INTO audit (id, chain, seq, time_us, kind, body, hash) SELECT 50, chain, seq, time_us, kind, body, hash FROM audit WHERE seq = 2;",
    )
    .unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 2, BreakKind::Duplicated));
}

#[test]
fn inserted_event_is_found() {
    let (path, stores) = store_with_chain(6);
    // a forged event that claims seq 3 and links correctly to seq 2
    let tail: (u64, String) = Connection::open(&path)
        .unwrap()
        .query_row("SELECT seq, hash FROM audit WHERE seq = 2", [], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .unwrap();
    let forged = SealedEvent::seal(
        EventBody::new("s-1", 9, EventKind::ToolCall, "agent:evil"),
        &ChainTail { seq: tail.0, hash: tail.1 },
    )
    .unwrap();
    let c = attacker(&path);
    c.execute("UPDATE audit SET id = id + 100 WHERE seq > 2", []).unwrap();
    // Its columns agree with its content (a stored column that does not is found on its own).
    c.execute(
        "INSERT INTO audit (id, chain, seq, time_us, kind, body, hash) VALUES (50, 's-1', 3, ?1, 'tool_call', ?2, ?3)",
        rusqlite::params![quell::model::time::to_micros(&forged.event.body.time), forged.canonical, forged.event.hash],
    )
    .unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 3, BreakKind::Inserted));
}

#[test]
fn missing_tail_is_found_through_the_session_anchor() {
    let (path, stores) = store_with_chain(6);
    let c = Connection::open(&path).unwrap();
    let head: String = c.query_row("SELECT hash FROM audit WHERE seq = 6", [], |r| r.get(0)).unwrap();
    let mut s = quell::model::session::Session::new("s-1", "a", quell::model::time::now());
    s.audit_seq = 6;
    s.audit_head = Some(head);
    stores.sessions.put_sessions(&[s]).unwrap();
    assert!(forensics::verify(&stores, None).unwrap().intact());
    attacker(&path).execute("DELETE FROM audit WHERE seq >= 5", []).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 5, BreakKind::TailMissing));
}

#[test]
fn quell_verify_exits_5_and_names_the_link() {
    let (path, _stores) = store_with_chain(6);
    attacker(&path).execute("DELETE FROM audit WHERE seq = 4", []).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quell")).arg("--store").arg(&path).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.contains("chain s-1 broken at seq 4: removed"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BROKEN chain s-1 broken at seq 4"), "{stdout}");
}

/// Chains s-1 (6 events, rows 1-6) and s-2 (3), then `UPDATE audit SET {update}`: `quell verify`
/// reports s-1 broken `at` a seq, modified, with `why`, and s-2 intact. Returns the store and stderr.
fn one_of_two_chains_broken(update: &str, at: &str, why: &str) -> (PathBuf, String) {
    let (path, stores) = store_with_chain(6);
    append_chain(&stores, "s-2", 3);
    attacker(&path).execute(&format!("UPDATE audit SET {update}"), []).unwrap();
    let (code, stdout, stderr) = quell_verify(&path, &[]);
    assert_eq!(code, Some(5), "{update}: {stdout} {stderr}");
    assert!(stderr.contains(&format!("chain s-1 broken at {at}: modified")), "{update}: {stderr}");
    assert!(stderr.contains(why), "{update}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stdout.contains("1 of 2 chains broken (9 events read)"), "{update}: {stdout}");
    (path, stderr)
}

#[test]
fn unreadable_bodies_are_located_on_their_chain_and_verification_goes_on() {
    let cases = [
        ("CAST(body AS BLOB)", "its body is a BLOB, not text"),
        ("CAST(X'7B22FF7D' AS TEXT)", "its body is not UTF-8 text"),
        ("'not json'", "is not readable: expected ident"),
    ];
    for (set, why) in cases {
        let (path, stderr) = one_of_two_chains_broken(&format!("body = {set} WHERE id = 3"), "seq 3", why);
        assert!(stderr.starts_with("quell: chain s-1 broken at seq 3: modified (event at row 3"), "{set}: {stderr}");
        // The chain alone says the same.
        let (code, _, stderr) = quell_verify(&path, &["s-1"]);
        assert_eq!(code, Some(5));
        assert!(stderr.contains("chain s-1 broken at seq 3: modified (event at row 3"), "{set}: {stderr}");
    }
}

#[test]
fn an_unreadable_hash_is_located_too() {
    let (path, _stores) = store_with_chain(4);
    attacker(&path).execute("UPDATE audit SET hash = CAST(hash AS BLOB) WHERE seq = 2", []).unwrap();
    let (code, _, stderr) = quell_verify(&path, &[]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("chain s-1 broken at seq 2: modified (event at row 2 is not readable: its hash is a BLOB"),
        "{stderr}"
    );
}

#[test]
fn one_tampered_row_counts_one_broken_chain() {
    let (path, stores) = store_with_chain(3);
    for i in 2..=10 {
        append_chain(&stores, &format!("s-{i}"), 3);
    }
    attacker(&path)
        .execute("UPDATE audit SET body = replace(body, '\"i\":1', '\"i\":5') WHERE chain = 's-4' AND seq = 2", [])
        .unwrap();
    let (code, stdout, stderr) = quell_verify(&path, &[]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stdout.contains("1 of 10 chains broken (30 events read)"), "{stdout}");
    assert_eq!(stdout.matches("BROKEN").count(), 1, "{stdout}");
    assert!(stderr.contains("chain s-4 broken at seq 2: modified"), "{stderr}");
}

#[test]
fn every_stored_column_is_checked_against_the_hashed_content() {
    let cases = [
        ("kind = 'error'", "row 4 is filed as kind 'error' but its content says 'llm_call'"),
        ("time_us = time_us - 3600000000", "row 4 is filed at time"),
        ("seq = 40", "row 4 is filed as seq 40 but its content says seq 4"),
        ("kind = CAST('llm_call' AS BLOB)", "row 4 is filed with a kind column that is not text"),
        ("chain = 's-2'", "row 4 is filed under chain 's-2' but its content belongs to chain 's-1'"),
    ];
    for (set, why) in cases {
        one_of_two_chains_broken(&format!("{set} WHERE id = 4"), "seq 4", why);
    }
}

#[test]
fn a_row_moved_to_another_chain_fails_that_chain_too() {
    let (path, stores) = store_with_chain(6);
    append_chain(&stores, "s-2", 2);
    attacker(&path).execute("UPDATE audit SET chain = 's-2' WHERE id = 4", []).unwrap();
    let (code, _, stderr) = quell_verify(&path, &["s-2"]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("row 4 is filed under chain 's-2' but its content belongs to chain 's-1'"), "{stderr}");
    let (code, _, stderr) = quell_verify(&path, &["s-1"]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("chain s-1 broken at seq 4: removed"), "{stderr}");
}

#[test]
fn a_forged_event_appended_with_a_wrong_prev_hash_is_inserted() {
    let (path, stores) = store_with_chain(6);
    let wrong = ChainTail { seq: 2, hash: "f".repeat(64) };
    let forged = SealedEvent::seal(EventBody::new("s-1", 9, EventKind::ToolCall, "agent:evil"), &wrong).unwrap();
    attacker(&path)
        .execute(
            "INSERT INTO audit (chain, seq, time_us, kind, body, hash) VALUES ('s-1', 3, ?1, 'tool_call', ?2, ?3)",
            rusqlite::params![
                quell::model::time::to_micros(&forged.event.body.time),
                forged.canonical,
                forged.event.hash
            ],
        )
        .unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 3, BreakKind::Inserted));
}

// ---- What verification does and does not detect (docs/audit-chain.md, "What is detected").
// The undetected cases pass `verify`: they are documented limits (signed chain heads, issue 15),
// asserted here so that the page cannot drift from the code.

/// Rewrites chain `id` from `from_seq` to its head as a consistent forgery: event `from_seq`
/// changed, it and every later event re-sealed so that each links to the one before.
fn rehash_from(path: &Path, stores: &Stores, id: &str, from_seq: u64) -> ChainTail {
    let events = stores.audit.read(&quell::ports::AuditQuery { chain: Some(id.into()), ..Default::default() }).unwrap();
    let c = attacker(path);
    let mut tail = events.iter().find(|e| e.seq == from_seq - 1).map(|e| e.tail()).unwrap_or_else(ChainTail::genesis);
    for e in events.iter().filter(|e| e.seq >= from_seq) {
        let mut body = e.body.clone();
        if e.seq == from_seq {
            body.attributes.insert("i".into(), 999.into());
        }
        let sealed = SealedEvent::seal(body, &tail).unwrap();
        c.execute(
            "UPDATE audit SET body = ?1, hash = ?2 WHERE chain = ?3 AND seq = ?4",
            rusqlite::params![sealed.canonical, sealed.event.hash, id, e.seq as i64],
        )
        .unwrap();
        tail = sealed.event.tail();
    }
    tail
}

/// `quell verify` passes: the change is one the page lists as not detected.
fn passes_as_documented(path: &Path, summary: &str) {
    let (code, stdout, stderr) = quell_verify(path, &[]);
    assert_eq!(code, Some(0), "documented limit: {stdout} {stderr}");
    assert!(stdout.contains(summary), "{stdout}");
}

/// Records chain `id`'s current head as the session's reported head (what an agent does).
fn report_head(stores: &Stores, id: &str) {
    let head = stores.audit.tail(id).unwrap().expect("a head");
    let mut s = quell::model::session::Session::new(id, "a", quell::model::time::now());
    s.audit_seq = head.seq;
    s.audit_head = Some(head.hash);
    stores.sessions.put_sessions(&[s]).unwrap();
}

#[test]
fn detected_rehashing_a_session_chain_whose_record_reports_the_head() {
    let (path, stores) = store_with_chain(6);
    report_head(&stores, "s-1");
    rehash_from(&path, &stores, "s-1", 3);
    assert_eq!(first_break(&stores), ("s-1".into(), 6, BreakKind::Modified));
}

#[test]
fn limit_rehashing_a_whole_chain_without_a_reported_head_passes() {
    let (path, stores) = store_with_chain(6);
    rehash_from(&path, &stores, "s-1", 3);
    passes_as_documented(&path, "ok: 6 events in 1 chains");
    // ... and so does fixing the reported head too.
    let (path, stores) = store_with_chain(6);
    report_head(&stores, "s-1");
    rehash_from(&path, &stores, "s-1", 3);
    report_head(&stores, "s-1");
    assert!(forensics::verify(&stores, None).unwrap().intact(), "documented limit");
}

#[test]
fn detected_deleting_a_whole_session_chain_whose_record_remains() {
    let (path, stores) = store_with_chain(4);
    report_head(&stores, "s-1");
    attacker(&path).execute("DELETE FROM audit WHERE chain = 's-1'", []).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 1, BreakKind::TailMissing));
}

#[test]
fn limit_deleting_a_whole_chain_passes() {
    let (path, stores) = store_with_chain(4);
    append_chain(&stores, "s-2", 3);
    report_head(&stores, "s-1");
    let c = attacker(&path);
    c.execute("DELETE FROM audit WHERE chain = 's-1'", []).unwrap();
    c.execute("DELETE FROM sessions WHERE id = 's-1'", []).unwrap();
    passes_as_documented(&path, "ok: 3 events in 1 chains");
}

#[test]
fn limit_cutting_a_tail_and_fixing_the_reported_head_passes() {
    let (path, stores) = store_with_chain(6);
    report_head(&stores, "s-1");
    attacker(&path).execute("DELETE FROM audit WHERE seq >= 5", []).unwrap();
    assert_eq!(first_break(&stores), ("s-1".into(), 5, BreakKind::TailMissing), "detected while the head is reported");
    report_head(&stores, "s-1");
    passes_as_documented(&path, "ok: 4 events in 1 chains");
}

#[test]
fn limit_appending_a_correctly_linked_event_passes() {
    let (path, stores) = store_with_chain(6);
    report_head(&stores, "s-1");
    let tail = stores.audit.tail("s-1").unwrap().unwrap();
    let forged = SealedEvent::seal(EventBody::new("s-1", 7, EventKind::ToolCall, "agent:evil"), &tail).unwrap();
    stores.audit.append(&[forged]).unwrap();
    passes_as_documented(&path, "ok: 7 events in 1 chains"); // the chain proves order, not authorship
}

#[test]
fn limit_cutting_an_operator_chain_tail_passes() {
    let (path, stores) = store_with_chain(1);
    append_chain(&stores, "operator:alice", 4);
    attacker(&path).execute("DELETE FROM audit WHERE chain = 'operator:alice' AND seq >= 3", []).unwrap();
    passes_as_documented(&path, "ok: 3 events in 2 chains"); // no operator chain head is kept elsewhere
}

// ---- Checkpoints are covered by the hash their `checkpoint` event records.

/// A session written by the real agent runtime: two steps, a checkpoint after each.
fn agent_with_checkpoints() -> (PathBuf, Stores) {
    use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
    let (path, stores) = store_with_chain(0);
    let rt = AgentRuntime::start(stores.clone()).unwrap();
    let spec = SessionSpec { id: Some("s-cp".into()), agent: "a".into(), ..Default::default() };
    let mut a = AgentSession::start(&rt, spec).unwrap();
    for step in 1..=2 {
        a.begin_step();
        a.checkpoint(vec![serde_json::json!({"role": "user", "content": format!("m{step}")})], vec![], "plan".into())
            .unwrap();
    }
    a.commit().unwrap();
    rt.shutdown().unwrap();
    (path, stores)
}

fn quell_show(path: &Path, json: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quell"));
    cmd.arg("--store").arg(path).args(["show", "s-cp"]);
    if json {
        cmd.args(["-o", "json"]);
    }
    let out = cmd.output().expect("run quell");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn checkpoint_events_record_the_hash_of_the_checkpoint_as_stored() {
    let (path, stores) = agent_with_checkpoints();
    let events =
        stores.audit.read(&quell::ports::AuditQuery { chain: Some("s-cp".into()), ..Default::default() }).unwrap();
    let c = Connection::open(&path).unwrap();
    for step in 1..=2u64 {
        let doc: String = c
            .query_row("SELECT doc FROM checkpoints WHERE session_id = 's-cp' AND step = ?1", [step as i64], |r| {
                r.get(0)
            })
            .unwrap();
        let ev = events.iter().find(|e| e.body.kind == EventKind::Checkpoint && e.body.step == step).expect("event");
        assert_eq!(ev.body.checkpoint_hash.as_deref(), Some(quell::model::chain::sha256_hex(doc.as_bytes()).as_str()));
    }
    let (code, stdout) = quell_show(&path, false);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("integrity: chain verified (3 events)"), "{stdout}");
}

#[test]
fn an_edited_checkpoint_is_not_shown_as_verified() {
    let path = checkpoints_changed("UPDATE checkpoints SET doc = replace(doc, 'm1', 'm9') WHERE step = 1");
    let stdout =
        show_says(&path, 5, "integrity: checkpoint edited at step 1 (differs from the hash its audit event records)");
    assert!(
        stdout.contains("checkpoint step 1: 1 messages, 0 tool results, plan \"plan\"  [checkpoint edited]"),
        "{stdout}"
    );
    let (code, stdout) = quell_show(&path, true);
    assert_eq!(code, Some(5), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["integrity"]["intact"], false);
    assert_eq!(doc["integrity"]["checkpoints_edited"], serde_json::json!([1]));
}

#[test]
fn a_checkpoint_no_event_covers_is_said_to_be_so() {
    let path = checkpoints_changed(
        "INSERT INTO checkpoints (session_id, step, doc) SELECT session_id, 7, replace(doc, '\"step\":2', '\"step\":7') \
         FROM checkpoints WHERE step = 2",
    );
    // Not covered is no proof of tampering: exit 0, but not "verified" either.
    show_says(&path, 0, "integrity: checkpoint not covered by an audit event at step 7 (3 events verified)");
    let (_, stdout) = quell_show(&path, true);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["integrity"]["checkpoints_not_covered"], serde_json::json!([7]));
    assert_eq!(doc["integrity"]["checkpoints_edited"], serde_json::json!([]));
}

/// The runtime's session with its checkpoints changed by `sql` (on the raw file).
fn checkpoints_changed(sql: &str) -> PathBuf {
    let (path, _stores) = agent_with_checkpoints();
    Connection::open(&path).unwrap().execute(sql, []).unwrap();
    path
}

/// `quell show` exits `code` and says `line`, and not that the chain verified. Returns stdout.
fn show_says(path: &Path, code: i32, line: &str) -> String {
    let (got, stdout) = quell_show(path, false);
    assert_eq!(got, Some(code), "{stdout}");
    assert!(stdout.contains(line), "{stdout}");
    assert!(!stdout.contains("chain verified"), "{stdout}");
    stdout
}
