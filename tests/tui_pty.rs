// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The real `quell` binary in a pseudo-terminal: keys typed, the screen read back with a VT100
//! parser, the store checked afterwards. The fixture's live sessions are hosted by the real agent
//! runtime in this process: it heartbeats, obeys and acknowledges control as any agent does.

mod pty_console;
mod tui_fixture;

use pty_console::{Console, COLS, ROWS};
use quell::agent::runtime::{AgentRuntime, AgentSession, Gate};
use quell::model::approval::ApprovalStatus;
use quell::model::audit::EventKind;
use quell::model::control::{ControlTarget, Desired};
use quell::model::time;
use quell::ports::{AuditQuery, Stores};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The fixture's live sessions on the agent runtime: each is resumed (as a restarted agent
/// would be) and waits at a step boundary, asking the runtime's gate what control wants.
struct Agents {
    runtime: Arc<AgentRuntime>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Agents {
    fn start(stores: &Stores) -> Agents {
        let runtime = AgentRuntime::start(stores.clone()).expect("agent runtime");
        let live = stores.sessions.sessions().expect("sessions").into_iter().filter(|s| !s.state.is_terminal());
        let mut sessions: Vec<AgentSession> =
            live.map(|s| AgentSession::resume(&runtime, &s.id).expect("resume").0).collect();
        runtime.flush().expect("the resumed sessions are stored");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                sessions.retain_mut(|s| s.observe().expect("observe") != Gate::Killed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Agents { runtime, stop, thread: Some(thread) }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("agents thread");
        }
        self.runtime.shutdown().expect("everything the agents queued is stored");
    }
}

fn store() -> (tempfile::TempDir, std::path::PathBuf, Stores) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("quell.db");
    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).expect("store").stores();
    tui_fixture::fill_at(&stores, time::now());
    (dir, path, stores)
}

#[test]
fn operator_filters_opens_approves_pauses_the_fleet_and_quits() {
    let (_dir, path, stores) = store();
    let fleet = Agents::start(&stores);
    let mut c = Console::open(&path, &[]);

    let screen = c.wait_for("s-support-0002");
    assert!(screen.contains("quell · fleet"), "{screen}");
    let cooked = c.termios_flags();
    assert!(!cooked.contains("ICANON"), "the console runs in raw mode: {cooked}");

    // Filter, open the browser agent's session.
    c.send("/");
    c.send("browser");
    c.send("\r");
    c.wait_for("1 session matches 'browser'");
    c.send("\r");
    // The fixture's seven events and the runtime's `session_started` of the resume.
    let screen = c.wait_for("(8 events verified)");
    assert!(screen.contains("unexpected tool send_email"), "{screen}");
    c.send("\x1b");
    c.wait_for("quell · fleet");
    c.send("\x1b"); // clears the filter
    c.wait_for("11/11 shown");

    // Approve the CRM request (newest first, so it is the first row).
    c.send("A");
    c.wait_for("a-crm-31");
    c.send("y");
    let screen = c.wait_for("approve approval a-crm-31 of session s-crm-0008");
    assert!(screen.contains("[▸Cancel◂]"), "Cancel is focused by default:\n{screen}");
    c.send("checked the credit limit with finance");
    c.send("\r"); // moves to the approve button
    c.send("\r");
    c.wait_for("approval a-crm-31 is approved (1/1 approvers)");
    let decided = stores.approvals.approval("a-crm-31").expect("read").expect("exists");
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decisions[0].approver, "alice");
    assert_eq!(decided.decisions[0].reason, "checked the credit limit with finance");

    // Pause the whole fleet: dialog, reason, banner, progress.
    c.send("F");
    c.wait_for("quell · fleet");
    c.send("P");
    c.wait_for("pause the whole fleet (");
    c.send("\r"); // Enter on Cancel cancels
    c.wait_for("cancelled: nothing was changed");
    assert!(stores.control.fleet_control().expect("read").is_none(), "cancel wrote nothing");
    c.send("P");
    c.wait_for("pause the whole fleet (");
    c.send("prompt injection via attacker.example, INC-4711");
    c.send("\t"); // reason -> pause button
    c.send("\r");
    let screen = c.wait_for("FLEET PAUSED by alice");
    assert!(screen.contains("prompt injection via"), "who, when and why:\n{screen}");
    let screen = c.wait_for("acknowledged in");
    assert!(screen.contains("✔ all 8 acknowledged"), "{screen}");
    let rec = stores.control.fleet_control().expect("read").expect("fleet record");
    assert_eq!((rec.desired, rec.operator.as_str()), (Desired::Pause, "alice"));
    assert_eq!(rec.reason, "prompt injection via attacker.example, INC-4711");
    assert!(matches!(rec.target, ControlTarget::Fleet));
    let ops = stores
        .audit
        .read(&AuditQuery {
            chain: Some("operator:alice".into()),
            kinds: vec![EventKind::OperatorAction],
            ..Default::default()
        })
        .expect("audit");
    let actions: Vec<&str> = ops.iter().filter_map(|e| e.body.attr_str("quell.action")).collect();
    assert_eq!(actions, ["approve", "pause"], "both actions are in the audit log");

    // Quit: the terminal is given back.
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
    std::thread::sleep(Duration::from_millis(100));
    let screen =
        c.screen.lock().map(|p| (p.screen().alternate_screen(), p.screen().hide_cursor())).unwrap_or((true, true));
    assert_eq!(screen, (false, false), "main screen and cursor are back");
    let flags = c.termios_flags();
    assert!(flags.contains("ICANON") && flags.contains("ECHO"), "cooked mode restored: {flags}");
    fleet.stop();
}

#[test]
fn the_fleet_marks_the_injected_session_sorts_by_anomaly_and_narrows_to_a_namespace() {
    let (_dir, path, _stores) = store();
    let mut c = Console::open_sized(&path, &[], (120, 30));
    // The anomaly thread's first judgement of the fleet reaches the row.
    c.wait_for("⚠ unexpected_tool+2");
    c.send(":sort anomaly\r");
    let screen = c.wait_for("sort anomaly");
    let first = screen.lines().nth(3).unwrap_or_default();
    assert!(first.contains("s-browser-0003"), "the injected session sorts first:\n{screen}");
    c.send("/prompt_injection\r");
    c.wait_for("1 session matches 'prompt_injection'");
    c.send("\x1b");
    c.wait_for("11/11 shown");
    c.send(":ns genai-staging\r");
    let screen = c.wait_for("2/11 shown");
    assert!(screen.contains("namespace genai-staging") && !screen.contains("s-browser-0003"), "{screen}");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
}

#[test]
fn injected_escape_sequences_never_reach_the_terminal() {
    let (_dir, path, _stores) = store();
    let mut c = Console::open_sized(&path, &[], (120, 40));
    c.wait_for("s-browser-0003");
    let before = c.raw().len();
    c.send(":session s-browser-0003\r");
    c.wait_for("events verified");
    c.send("jjjj"); // the tool result
    c.send("v"); // whole entry
    let screen = c.wait_for("whole entry");
    let after = c.raw();
    // Shown, neutralised.
    assert!(screen.contains("^[[2J^[]0;PWNED-TITLE^G^[]52;c;"), "{screen}");
    assert!(screen.contains("\\u{202E}gnp.exe"), "{screen}");
    // Not obeyed: no clear screen after the first frame, no title, no clipboard, no bidi.
    let shown = &after[before..];
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!find(shown, b"\x1b[2J"), "the agent's clear-screen reached the terminal");
    assert!(!find(&after, b"\x1b]0;") && !find(&after, b"\x1b]2;"), "the title was changed");
    assert!(!find(&after, b"\x1b]52;"), "the clipboard was written");
    assert!(!find(&after, "\u{202e}".as_bytes()), "a bidi override reached the terminal");
    assert!(screen.starts_with(" quell · session"), "the screen was not cleared:\n{screen}");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
}

#[test]
fn readonly_console_and_sigterm_restore_the_terminal() {
    let (_dir, path, stores) = store();
    // Keys come from the config file's [keys] table.
    std::fs::write(path.with_extension("toml"), "[keys]\nhelp = \"f1\"\n").expect("config");
    let mut c = Console::open(&path, &["--readonly"]);
    c.wait_for("[READ-ONLY]");
    let screen = c.text();
    assert!(screen.contains("f1 help") && !screen.contains("? help"), "the key bar follows the keymap:\n{screen}");
    c.send("\x1bOP"); // F1
    c.wait_for("f1               show this help");
    c.send("\x1b");
    c.wait_for("quell · fleet");
    c.send("P");
    c.wait_for("read-only console: actions are disabled");
    assert!(stores.control.fleet_control().expect("read").is_none());
    // Resizes re-lay out the screen: wider shows more columns, too small says so, back is fine.
    c.resize(130, 24);
    c.wait_for("COST");
    c.resize(30, 8);
    c.wait_for("needs at least");
    c.resize(COLS, ROWS);
    let screen = c.wait_for("s-billing-0004");
    assert!(!screen.contains("COST"), "{screen}");
    let pid = c.child.process_id().expect("pid");
    let killed = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("kill");
    assert!(killed.success());
    assert_eq!(c.wait_exit(), 128 + 15, "SIGTERM ends the console with 143");
    std::thread::sleep(Duration::from_millis(100));
    let alt = c.screen.lock().map(|p| p.screen().alternate_screen()).unwrap_or(true);
    assert!(!alt, "main screen is back after SIGTERM");
    let flags = c.termios_flags();
    assert!(flags.contains("ICANON") && flags.contains("ECHO"), "cooked mode restored: {flags}");
}

#[test]
fn the_demo_fleet_pauses_and_acknowledges_on_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("demo.db");
    let mut c = Console::open(&path, &["demo", "--agents", "20", "--step-ms", "50-150", "--steps", "0"]);
    c.wait_for(" 20 sessions ");
    c.send("/");
    c.send("running");
    c.send("\r");
    c.wait_for("match 'running'");
    c.send("\r"); // open the first running session
    c.wait_for("chain verified");
    c.send("\x1b");
    c.wait_for("quell · fleet");
    c.send("\x1b");
    // Approve the newest pending request (agents ask for approvals as they go).
    c.send("A");
    c.wait_for("EXPIRES");
    c.send("y");
    c.wait_for("approve approval ");
    c.send("drill: approved by the on-call engineer");
    c.send("\t");
    c.send("\r");
    c.wait_for("approvers)");
    c.send("F");
    c.wait_for("quell · fleet");
    c.send("P");
    c.wait_for("pause the whole fleet (");
    c.send("demo drill");
    c.send("\t");
    c.send("\r");
    c.wait_for("FLEET PAUSED by alice");
    let screen = c.wait_for("acknowledged in");
    assert!(screen.contains("✔ all "), "every live agent acknowledged:\n{screen}");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).expect("store").stores();
    let rec = stores.control.fleet_control().expect("read").expect("fleet record");
    assert_eq!((rec.desired, rec.reason.as_str()), (Desired::Pause, "demo drill"));
    let decided = stores.approvals.approvals(false, time::now()).expect("approvals");
    assert!(
        decided
            .iter()
            .flat_map(|a| &a.decisions)
            .any(|d| d.approver == "alice" && d.reason == "drill: approved by the on-call engineer"),
        "the approval was recorded with who and why"
    );
}

#[test]
fn an_unknown_theme_in_a_terminal_is_a_usage_error() {
    let (_dir, path, _stores) = store();
    let mut c = Console::open(&path, &["--theme", "nosuch"]);
    assert_eq!(c.wait_exit(), 2, "exit 2 (usage), as README's table says; screen:\n{}", c.text());
    let screen = c.wait_for("no theme 'nosuch'");
    assert!(!screen.contains("quell · fleet"), "the console never opened:\n{screen}");
}
