// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Agent text never reaches the terminal: a corpus of hostile text (escape sequences that set
//! the title, a hyperlink, the clipboard, the alternate screen; DCS and APC; C1 controls; bidi,
//! zero-width and tag characters; CR, BS, NUL, DEL; line separators; invalid UTF-8) planted in
//! every agent-written field, on the embedded store and on Redis, then every CLI subcommand in
//! text and in `-o json`: the bytes on stdout and stderr hold no ESC, no C0 but newline, no C1,
//! no bidi, zero-width, tag or separator code point; and the JSON still parses back to the raw
//! values. The Redis half uses database 12 of the test server.

mod common;
#[path = "fixtures/redis/support.rs"]
mod support;

use quell::adapters::embedded::EmbeddedStore;
use quell::adapters::redis::RedisStore;
use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
use quell::model::approval::Risk;
use quell::model::audit::{EventBody, EventKind, ToolCall};
use quell::model::chain::ChainTail;
use quell::model::session::SessionState;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{SealedEvent, Stores};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

/// Everything at once, between ordinary text (so a field is never only noise).
const H: &str = concat!(
    "ok",
    "\x1b]2;PWNED\x07",                                           // OSC 0/2: window title
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\",      // OSC 8: hyperlink
    "\x1b]52;c;ZXZpbA==\x07",                                     // OSC 52: clipboard
    "\x1b[?1049h\x1b[2J\x1b[31m",                                 // CSI: alternate screen, clear, colour
    "\x1bP1$qm\x1b\\",                                            // DCS
    "\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\",                  // APC, PM, SOS
    "\u{9b}31m\u{9d}0;c1\u{9c}\u{85}\u{90}",                      // C1: CSI, OSC, ST, NEL, DCS
    "\u{202e}rev\u{202a}\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}", // bidi
    "\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}",                   // zero-width
    "\u{e0041}\u{e0001}\u{e007f}",                                // tags
    "\r\x08\x00\x07\x7f\t",                                       // CR, BS, NUL, BEL, DEL, tab
    "\u{2028}\u{2029}\nline2",                                    // separators, newline
    "end"
);

/// The corpus as a command-line argument (an argument cannot hold NUL).
fn h_arg() -> String {
    H.replace('\0', "")
}

/// The bytes a command wrote are safe for a terminal.
fn assert_clean(bytes: &[u8], what: &str) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e})"));
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c,
                '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
                | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{2028}' | '\u{2029}'
                | '\u{e0000}'..='\u{e007f}');
        assert!(!bad, "{what}: U+{:04X} at byte {i} reached the terminal:\n{text}", c as u32);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs quell with `args`, checks both streams and that it did not crash.
fn run(cmd: &mut Command, args: &[&str]) -> Run {
    let out: Output = cmd.args(args).output().expect("run quell");
    let what = format!("quell {args:?}");
    assert_clean(&out.stdout, &format!("{what} stdout"));
    assert_clean(&out.stderr, &format!("{what} stderr"));
    let code = out.status.code().unwrap_or_else(|| panic!("{what} was killed by a signal"));
    assert_ne!(code, 101, "{what} panicked: {}", String::from_utf8_lossy(&out.stderr));
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(r: &Run, what: &str) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", r.stdout))
}

/// Sessions, events, checkpoints and approvals written by the real agent runtime, every text
/// field hostile. Returns four pending approval ids.
fn plant(stores: &Stores) -> Vec<String> {
    let rt = AgentRuntime::start(stores.clone()).expect("runtime");
    let mut a = AgentSession::start(
        &rt,
        SessionSpec {
            id: Some("s-hostile".into()),
            agent: H.into(),
            model: Some(H.into()),
            namespace: Some(H.into()),
            pod: Some(H.into()),
            allowed_tools: vec![H.into()],
        },
    )
    .expect("start");
    a.begin_step();
    let mut llm = a.body(EventKind::LlmCall);
    llm.tool_calls = vec![ToolCall { name: Untrusted::new(H), arguments: UntrustedJson::new(json!({ H: H })) }];
    llm.output_summary = Some(Untrusted::new(H));
    llm.input_tokens = Some(3);
    llm.output_tokens = Some(4);
    a.emit(llm).expect("llm");
    let mut call = a.body(EventKind::ToolCall);
    call.tool = Some(Untrusted::new(H));
    a.emit(call.attr("quell.approval.id", H).attr("quell.reason", H)).expect("tool call");
    let mut result = a.body(EventKind::ToolResult);
    result.tool = Some(Untrusted::new(H));
    result.output_summary = Some(Untrusted::new(H));
    a.emit(result).expect("tool result");
    a.checkpoint(vec![json!({"role": H, "content": H})], vec![json!({ H: H })], json!({"goal": H})).expect("cp");
    let ids = (0..4)
        .map(|_| a.request_approval(H, json!({"to": H}), Risk::High, Duration::from_secs(600), 1).expect("approval").id)
        .collect();
    let mut b = AgentSession::start(
        &rt,
        SessionSpec { id: Some("s-failed".into()), agent: H.into(), model: Some(H.into()), ..Default::default() },
    )
    .expect("start");
    b.begin_step();
    b.end(SessionState::Failed, Some(H)).expect("end");
    // A chain whose id and identity are hostile (a store can hold any chain name).
    let body = EventBody::new(format!("c{H}"), 1, EventKind::Error, H);
    let sealed = SealedEvent::seal(body, &ChainTail::genesis()).expect("seal");
    stores.audit.append(&[sealed]).expect("append");
    rt.shutdown().expect("shutdown");
    ids
}

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

/// Every subcommand, in text and JSON, on the planted store.
fn every_command(mut quell: impl FnMut() -> Command, approvals: &[String], hostile_ids: bool) {
    let reason = h_arg();
    let mut q = |args: &[&str]| run(&mut quell(), args);

    // sessions
    let r = q(&["sessions"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("s-hostile") && r.stdout.contains("^[]2;PWNED^G"), "{}", r.stdout);
    let r = q(&["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = json_of(&r, "sessions");
    let s = list.as_array().expect("array").iter().find(|s| s["id"] == "s-hostile").expect("s-hostile listed");
    for field in ["agent", "namespace", "pod", "model"] {
        assert_eq!(s[field], H, "sessions -o json {field} is the raw value");
    }
    assert_eq!(s["tools"], json!([H]));
    let failed = list.as_array().expect("array").iter().find(|s| s["id"] == "s-failed").expect("s-failed");
    assert_eq!(failed["detail"], H);
    if hostile_ids {
        // A row whose id is outside the session-id alphabet is listed, neutralised and marked
        // unreadable (it cannot be acted on by that id).
        let shown =
            quell::model::untrusted::neutralize(&format!("x{}", h_arg()), quell::model::untrusted::Lines::Escape);
        let row = list.as_array().expect("array").iter().find(|s| s["id"] == shown.as_str());
        assert!(row.is_some_and(|s| s["unreadable"].is_string()), "{list}");
    }

    // show
    let r = q(&["show", "s-hostile"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("model ok^[]2;PWNED^G"), "{}", r.stdout);
    let r = q(&["show", "s-hostile", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json_of(&r, "show");
    assert_eq!(doc["session"]["model"], H);
    let entries = doc["entries"].as_array().expect("entries");
    assert!(entries.iter().any(|e| e["output_summary"] == H), "an event's output summary round-trips");
    assert!(entries.iter().any(|e| e["plan"]["goal"] == H), "the checkpoint round-trips: {entries:?}");
    if hostile_ids {
        let id = format!("x{}", h_arg());
        let r = q(&["show", &id]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("session x"), "{}", r.stdout);
    }

    // replay, one session and everything
    let r = q(&["replay", "s-hostile"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("llm_call") && r.stdout.contains("ok^[]2;PWNED^G"), "{}", r.stdout);
    let r = q(&["replay"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("cok^[]2;PWNED^G"), "the hostile chain id is shown neutralised: {}", r.stdout);
    for args in [&["replay", "s-hostile", "-o", "json"][..], &["replay", "-o", "json"][..]] {
        let r = q(args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let events: Vec<Value> =
            r.stdout.lines().map(|l| serde_json::from_str(l).expect("one event per line")).collect();
        for e in &events {
            // Escaping changes the bytes only: the value still hashes to its hash.
            let mut body = e.clone();
            let hash = body.as_object_mut().and_then(|o| o.remove("hash")).expect("hash");
            let canonical = quell::model::canonical::to_canonical(&body).expect("canonical");
            assert_eq!(quell::model::audit::hash_input(canonical.as_bytes()), hash.as_str().unwrap_or_default());
        }
        let llm = events.iter().find(|e| e["kind"] == "llm_call").expect("llm_call");
        assert_eq!(llm["gen_ai.request.model"], H);
        assert_eq!(llm["identity"], format!("agent:{H}").as_str());
        assert_eq!(llm["output_summary"], H);
        assert_eq!(llm["tool_calls"][0]["gen_ai.tool.name"], H);
        assert_eq!(llm["tool_calls"][0]["gen_ai.tool.call.arguments"][H], H);
        let result = events.iter().find(|e| e["kind"] == "tool_result").expect("tool_result");
        assert_eq!(result["gen_ai.tool.name"], H);
    }

    // verify
    let r = q(&["verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = q(&["verify", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r, "verify")["intact"], true);

    // approvals
    let r = q(&["approvals", "--all"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&approvals[0]) && r.stdout.contains("ok^[]2;PWNED^G"), "{}", r.stdout);
    let r = q(&["approvals", "--all", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = json_of(&r, "approvals");
    let first = list.as_array().expect("array").iter().find(|a| a["id"] == approvals[0].as_str()).expect("listed");
    assert_eq!(first["tool"], H);
    assert_eq!(first["arguments"]["to"], H);

    // approve and reject, text and JSON, with a hostile reason
    let r = q(&["approve", &approvals[0], "--reason", &reason]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = q(&["reject", &approvals[1], "--reason", &reason]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = q(&["approve", &approvals[2], "--reason", &reason, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let decided = json_of(&r, "approve");
    assert_eq!(decided["tool"], H);
    assert_eq!(decided["decisions"][0]["reason"], reason.trim());
    let r = q(&["reject", &approvals[3], "--reason", &reason, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r, "reject")["arguments"]["to"], H);
    // A conflict names the approval and who decided, on stderr, neutralised.
    let r = q(&["approve", &approvals[0], "--reason", &reason]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    if hostile_ids {
        let id = format!("a{}", h_arg());
        let r = q(&["approve", &id, "--reason", &reason]);
        assert_ne!(r.code, 101);
        let r = q(&["approvals", "--all"]);
        assert!(r.stdout.contains("aok^[]2;PWNED^G"), "{}", r.stdout);
    }

    // pause, resume, kill: the scope line (hostile namespace) and the reason come back neutralised
    for (verb, json_out) in [("pause", false), ("resume", true), ("pause", true), ("resume", false), ("kill", false)] {
        let mut args = vec![verb, "s-hostile", "--reason", &reason, "--wait", "0"];
        if json_out {
            args.extend(["-o", "json"]);
        }
        let r = q(&args);
        assert_eq!(r.code, 0, "{verb}: {}", r.stderr);
        if json_out {
            let v = json_of(&r, verb);
            assert_eq!(v["reason"], reason.trim(), "{verb} -o json reason is the raw value");
        } else {
            assert!(r.stdout.contains("in namespace ok^[]2;PWNED^G"), "{verb}: {}", r.stdout);
        }
    }
    let r = q(&["pause", "--all", "--reason", &reason, "--wait", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = q(&["resume", "--all", "--reason", &reason, "--wait", "0", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A session already ended: the conflict error carries the id.
    let r = q(&["kill", "s-hostile", "--reason", &reason, "--wait", "0"]);
    assert_ne!(r.code, 101);

    // Usage errors quote what was typed: neutralised too.
    let r = q(&["sessions", "-o", &reason]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("^[]2;PWNED^G"), "{}", r.stderr);
    let r = q(&["pause", "s-hostile", "--reason", "r", "--wait", &reason]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Errors that echo agent or operator text stay one neutralised line.
    let r = q(&["show", &format!("nope{}", h_arg())]);
    assert_ne!(r.code, 0);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);

    // The operator actions are in the log now, on clean chains; the replay still verifies.
    let r = q(&["replay", "--kind", "operator_action"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("operator:tester"), "{}", r.stdout);
    let r = q(&["verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
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
