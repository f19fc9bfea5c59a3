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
    let mut tail = ChainTail::genesis();
    for i in 0..n {
        let body = EventBody::new("s-1", i, EventKind::LlmCall, "agent:t").attr("i", i);
        let sealed = SealedEvent::seal(body, &tail).expect("seal");
        tail = sealed.event.tail();
        stores.audit.append(&[sealed]).expect("append");
    }
    (path, stores)
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
    c.execute(
        "INSERT INTO audit (id, chain, seq, time_us, kind, body, hash) VALUES (50, 's-1', 3, 0, 'tool_call', ?1, ?2)",
        [&forged.canonical, &forged.event.hash],
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
