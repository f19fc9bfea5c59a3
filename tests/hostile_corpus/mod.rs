//! The hostile-text corpus and the run of every CLI subcommand over it, shared by
//! `tests/hostile_text.rs` (embedded store) and `tests/redis_hostile_text.rs` (Redis).

use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
use quell::model::approval::Risk;
use quell::model::audit::{EventBody, EventKind, ToolCall};
use quell::model::chain::ChainTail;
use quell::model::session::SessionState;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{SealedEvent, Stores};
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::Duration;

/// Everything at once, between ordinary text (so a field is never only noise).
pub const H: &str = concat!(
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
pub fn h_arg() -> String {
    H.replace('\0', "")
}

/// The bytes a command wrote are safe for a terminal.
pub fn assert_clean(bytes: &[u8], what: &str) {
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

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs quell with `args`, checks both streams and that it did not crash.
pub fn run(cmd: &mut Command, args: &[&str]) -> Run {
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

pub fn json_of(r: &Run, what: &str) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", r.stdout))
}

/// Sessions, events, checkpoints and approvals written by the real agent runtime, every text
/// field hostile. Returns six pending approval ids.
pub fn plant(stores: &Stores) -> Vec<String> {
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
    let ids = (0..6)
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

/// Every subcommand, in text and JSON, on the planted store.
pub fn every_command(mut quell: impl FnMut() -> Command, approvals: &[String], hostile_ids: bool) {
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
    // Clearing the queue by selector and by several ids: the scope line, every row and the
    // selector (quoted in errors) come back neutralised.
    let r = q(&["approvals", "--where", "session=s-hostile"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&approvals[4]) && r.stdout.contains("ok^[]2;PWNED^G"), "{}", r.stdout);
    let one = format!("session=s-hostile,id={}", approvals[4]);
    let r = q(&["reject", "--where", &one, "--reason", &reason]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("matching session=s-hostile") && r.stdout.contains("ok^[]2;PWNED^G"), "{}", r.stdout);
    let r = q(&["approve", &approvals[5], &approvals[0], "--reason", &reason]);
    assert_eq!(r.code, 4, "one was decided before: {}", r.stderr);
    assert!(r.stdout.contains("already approved by"), "{}", r.stdout);
    let r = q(&["reject", "--where", "session=s-hostile", "--reason", &reason, "-o", "json"]);
    assert_eq!(r.code, 3, "nothing pending is left: {}", r.stderr);
    for selector in [format!("tool={}", h_arg()), format!("tool!={}", h_arg()), format!("{}=x", h_arg())] {
        let r = q(&["reject", "--where", &selector, "--reason", &reason]);
        assert!(matches!(r.code, 2 | 3), "{}", r.stderr);
    }
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
