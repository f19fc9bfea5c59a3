// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! How the real binary opens the embedded store: only `demo` and `agent` create one, reads work
//! on a store the user may only read, actions name their operator, and a store that stops taking
//! writes (SQLITE_FULL) ends the demo at once, saying so.
//!
//! Tests run as root here, and root ignores file modes: the read-only and no-identity cases run
//! the binary under `setpriv` as another uid (`nobody`, or one without an account), so the kernel
//! really refuses the writes. Run as a normal user they run the binary as that user.

mod common;

use common::{from_output, quell, Run};
use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A fresh folder every uid may enter (tempdirs are 0700).
fn open_dir() -> PathBuf {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    chmod(&dir, 0o755);
    dir
}

/// The binary as `uid` when we are root (so file modes apply), else as ourselves; no identity
/// variables unless the caller sets them.
fn as_uid(uid: u32, store: &Path) -> Command {
    let mut c = if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups");
        c.arg(env!("CARGO_BIN_EXE_quell"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_quell"))
    };
    for v in ["QUELL_STORE", "QUELL_AS", "QUELL_CONFIG", "QUELL_REDIS", "QUELL_KAFKA", "QUELL_READONLY"] {
        c.env_remove(v);
    }
    for v in ["USER", "LOGNAME", "USERNAME", "QUELL_OPERATOR_FALLBACK"] {
        c.env_remove(v);
    }
    c.env("XDG_CONFIG_HOME", store.parent().unwrap_or(store)).env("HOME", "/nonexistent");
    c.arg("--store").arg(store);
    c
}

fn run(mut c: Command, args: &[&str]) -> Run {
    from_output(c.args(args).output().expect("run quell"))
}

/// One session written by the real agent runtime, stopped.
fn one_session(stores: &quell::ports::Stores, id: &str) {
    let rt = AgentRuntime::start(stores.clone()).unwrap();
    let mut s =
        AgentSession::start(&rt, SessionSpec { id: Some(id.into()), agent: "a".into(), ..Default::default() }).unwrap();
    s.begin_step();
    s.commit().unwrap();
    rt.shutdown().unwrap();
}

#[test]
fn a_missing_store_is_no_such_store_and_nothing_is_created() {
    let dir = open_dir();
    let typo = dir.join("tpyo").join("quell.db");
    for args in [
        &["sessions"][..],
        &["verify"],
        &["show", "s-1"],
        &["replay"],
        &["approvals"],
        &["pause", "--all", "--reason", "x"],
        &["kill", "s-1", "--reason", "x"],
        &["approve", "ap-1", "--reason", "x"],
        &["--readonly"],
        &[],
    ] {
        let r = quell(&typo, args);
        assert_eq!(r.code, 6, "{args:?}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("no such store {}", typo.display())), "{args:?}: {}", r.stderr);
        assert!(!r.stdout.contains("intact") && !r.stdout.contains("live sessions"), "{args:?}: {}", r.stdout);
        assert!(!dir.join("tpyo").exists(), "{args:?} created the folder");
    }
}

#[test]
fn demo_and_agent_create_the_store() {
    let dir = open_dir();
    let by_agent = dir.join("a").join("quell.db");
    let r = quell(&by_agent, &["agent", "--session", "s-new", "--steps", "1", "--step-ms", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("finished at step 1"), "{}", r.stdout);
    let by_demo = dir.join("d").join("quell.db");
    let r = quell(&by_demo, &["demo", "--headless", "--duration", "1", "--agents", "2", "--step-ms", "10-20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for store in [&by_agent, &by_demo] {
        let listed = quell(store, &["sessions", "-o", "json"]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        assert!(!listed.json().as_array().unwrap().is_empty());
    }
}

#[test]
fn reads_work_on_a_store_the_user_may_only_read() {
    let dir = open_dir();
    let store_dir = dir.join("ro");
    std::fs::create_dir(&store_dir).unwrap();
    let path = store_dir.join("quell.db");
    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).unwrap().stores();
    one_session(&stores, "s-quiet");
    drop(stores);
    assert!(!store_dir.join("quell.db-wal").exists(), "closed cleanly: no -wal, no -shm");
    chmod(&path, 0o444);
    chmod(&store_dir, 0o555);

    // Nobody has it open: no -wal or -shm, and the folder cannot take them.
    let r = run(as_uid(65534, &path), &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()[0]["id"], "s-quiet");
    let r = run(as_uid(65534, &path), &["verify", "s-quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(as_uid(65534, &path), &["--as", "nobody", "pause", "s-quiet", "--reason", "x", "--wait", "0"]);
    assert_eq!(r.code, 6, "an action cannot write it: {}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be written by this user"), "{}", r.stderr);
    assert!(!store_dir.join("quell.db-wal").exists(), "a read wrote nothing");

    // A writer (this process, root) has it open: the reader uses its -wal and -shm read-only
    // and sees commits that are only in the -wal.
    chmod(&store_dir, 0o755);
    chmod(&path, 0o644);
    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).unwrap().stores();
    one_session(&stores, "s-live");
    for f in ["quell.db", "quell.db-wal", "quell.db-shm"] {
        chmod(&store_dir.join(f), 0o444);
    }
    chmod(&store_dir, 0o555);
    let r = run(as_uid(65534, &path), &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let ids: Vec<&str> = doc.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"s-live"), "{ids:?}");
    let r = run(as_uid(65534, &path), &["--readonly", "approvals", "--all", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    chmod(&store_dir, 0o755);
    drop(stores);
}

#[test]
fn the_operator_is_the_account_of_the_uid_and_never_anonymous() {
    let dir = open_dir();
    let path = dir.join("quell.db");
    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).unwrap().stores();
    one_session(&stores, "s-1");
    // Writable for the uid without an account at the end.
    chmod(&dir, 0o777);
    for f in ["quell.db", "quell.db-wal", "quell.db-shm"] {
        chmod(&dir.join(f), 0o666);
    }

    // No $USER, $LOGNAME or $USERNAME: the account name of our uid.
    let me = Command::new("id").arg("-un").output().expect("id -un");
    let me = String::from_utf8(me.stdout).unwrap().trim().to_owned();
    let uid = nix::unistd::Uid::effective().as_raw();
    let r = run(as_uid(uid, &path), &["pause", "s-1", "--reason", "who am i", "--wait", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rec = stores.control.session_control("s-1").unwrap().unwrap();
    assert_eq!(rec.operator, me);
    let r = run(as_uid(uid, &path), &["replay", &format!("operator:{me}"), "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("who am i"), "the operator chain is {me}'s: {}", r.stdout);

    // A uid without an account (as in many containers) and no variables: reads work, actions
    // refuse, naming --as, and nothing is written.
    if uid == 0 {
        let before = stores.control.control_changes(0).unwrap().len();
        let r = run(as_uid(4242, &path), &["sessions", "-o", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = run(as_uid(4242, &path), &["resume", "s-1", "--reason", "x", "--wait", "0"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("no operator identity") && r.stderr.contains("--as NAME"), "{}", r.stderr);
        assert_eq!(stores.control.control_changes(0).unwrap().len(), before, "nothing written");
        assert!(stores.control.fleet_control().unwrap().is_none());
        let r = run(as_uid(4242, &path), &["--as", "alice", "resume", "s-1", "--reason", "x", "--wait", "0"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rec = stores.control.session_control("s-1").unwrap().unwrap();
        assert_eq!(rec.operator, "alice");
    }
}

/// The binary with `args` on a real full disk: in a private mount namespace (`unshare`, as an
/// unprivileged user namespace: no root needed, nothing mounted outside the process) with its
/// store on a 512 KiB tmpfs, so writes fail with ENOSPC and SQLite reports SQLITE_FULL,
/// "database or disk is full". Returns what it printed and how long it ran.
fn on_small_disk(args: &[&str]) -> (Run, std::time::Duration) {
    let dir = open_dir();
    let mnt = dir.join("small-disk");
    std::fs::create_dir(&mnt).unwrap();
    let mut c = Command::new("unshare");
    c.args(["--user", "--map-root-user", "--mount", "sh", "-c"]);
    c.arg(r#"mount -t tmpfs -o size=512k tmpfs "$1" && shift && exec "$@""#).arg("sh").arg(&mnt);
    c.arg(env!("CARGO_BIN_EXE_quell")).arg("--store").arg(mnt.join("quell.db")).args(args);
    c.env_remove("QUELL_STORE").env_remove("QUELL_AS").env("XDG_CONFIG_HOME", &dir).env("USER", "tester");
    let started = std::time::Instant::now();
    let r = from_output(c.output().expect("run quell under unshare"));
    (r, started.elapsed())
}

#[test]
fn a_full_store_stops_the_demo_at_once_and_says_what_was_lost() {
    let (r, took) = on_small_disk(&["demo", "--headless", "--duration", "60", "--agents", "24", "--step-ms", "20-60"]);
    assert_eq!(r.code, 6, "{}\n{}", r.stdout, r.stderr);
    assert!(took < std::time::Duration::from_secs(40), "stopped when writes failed, not at the end: {took:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].contains("writes to the store fail, stopping the demo"), "{}", r.stderr);
    assert!(lines[0].contains("database or disk is full"), "{}", r.stderr);
    assert!(lines[1].contains("were not stored and are lost"), "{}", r.stderr);
    assert!(!lines[1].contains("retrying"), "nothing retries after exit: {}", r.stderr);
}

#[test]
fn an_agent_on_a_full_store_says_its_events_are_lost_not_retried() {
    let (r, _) = on_small_disk(&["agent", "--session", "s-full", "--steps", "1000000", "--step-ms", "0"]);
    assert_eq!(r.code, 6, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("database or disk is full"), "{}", r.stderr);
    // Which write meets the full disk first is a race: audit events (lost with the process) or
    // the session record (its latest state lost, every event stored). Either is said.
    assert!(
        r.stderr.contains("were not stored and are lost") || r.stderr.contains("was not stored and is lost"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "the process exits: nothing retries: {}", r.stderr);
}
