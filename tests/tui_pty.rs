// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The real `quell` binary in a pseudo-terminal: keys typed, the screen read back with a VT100
//! parser, the store checked afterwards. The fixture's live sessions are hosted by the real agent
//! runtime in this process: it heartbeats, obeys and acknowledges control as any agent does.

mod pty_console;
mod tui_fixture;

use pty_console::{Console, COLS, ROWS};
use quell::agent::runtime::{AgentRuntime, AgentSession, Gate};
use quell::model::approval::{ApprovalStatus, Decision, Verdict};
use quell::model::audit::EventKind;
use quell::model::control::{ControlTarget, Desired};
use quell::model::session::SessionState;
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

/// What the audit log holds of alice's operator actions, in order.
fn alices_actions(stores: &Stores) -> Vec<quell::model::audit::AuditEvent> {
    let query = AuditQuery {
        chain: Some("operator:alice".into()),
        kinds: vec![EventKind::OperatorAction],
        ..Default::default()
    };
    stores.audit.read(&query).expect("audit")
}

/// Types the reason into the open dialog and confirms: tab to the button, enter; then waits for
/// the dialog to close (an enter pressed while the scope resolves confirms once it is known).
fn confirm_with(c: &mut Console, reason: &str) {
    c.send(reason);
    c.send("\t");
    c.send("\r");
    c.wait_until("tab: next · esc: cancel", false, Duration::from_secs(15));
}

/// `q` in a sub-view goes back to the fleet; there `q` quits, with exit 0.
fn back_and_quit(c: &mut Console) {
    c.send("q");
    c.wait_for("quell · fleet");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
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
    let ops = alices_actions(&stores);
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
    back_and_quit(&mut c);
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
    // Quitting stops the demo's agents: the console asks first; any other key stays.
    c.send("q");
    c.wait_for("quit? the demo's simulated agents stop with the console");
    c.send("j");
    c.wait_for("still running");
    c.send("q");
    c.wait_for("quit? the demo's simulated agents stop with the console");
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

#[test]
fn marked_approvals_are_rejected_in_one_dialog_and_who_decided_first_is_said() {
    let (_dir, path, stores) = store();
    let mut c = Console::open_sized(&path, &[], (120, 40));
    c.wait_for("s-support-0002");
    c.send("A");
    let screen = c.wait_for("3 pending, next to expire first");
    let first = screen.find("a-crm-31").expect("listed");
    assert!(first < screen.find("a-mail-12").expect("listed"), "next to expire first:\n{screen}");
    let before = c.raw().len();
    c.send("a"); // mark every visible request
    c.wait_for("3 marked: y approves, n rejects them all");
    c.send("n");
    let screen = c.wait_for("reject 3 approvals of 3 sessions");
    // The dialog leaves each request's tool and arguments in view, neutralised.
    assert!(screen.contains("a-mail-12 · send_email · high risk · session s-support-0002"), "{screen}");
    assert!(screen.contains("\\u001b]0;PWNED-TITLE\\u0007"), "shown, neutralised:\n{screen}");
    assert!(screen.contains("\"amount_eur\":4800"), "{screen}");
    let shown = c.raw();
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(
        !find(&shown[before..], b"\x1b]52;") && !find(&shown[before..], b"\x1b]0;"),
        "raw agent text reached the terminal"
    );
    // Someone else decides one of them first.
    let bob = Decision { approver: "bob".into(), verdict: Verdict::Reject, reason: "spam".into(), at: time::now() };
    stores.approvals.decide("a-mail-12", bob).expect("bob decides first");
    confirm_with(&mut c, "prompt injection, INC-4711");
    let screen = c.wait_for("recorded 2 decisions: a-crm-31, a-pay-77");
    assert!(screen.contains("a-mail-12 not recorded: approval a-mail-12 was already rejected by bob"), "{screen}");
    for id in ["a-crm-31", "a-pay-77"] {
        let a = stores.approvals.approval(id).expect("read").expect("exists");
        assert_eq!(a.status, ApprovalStatus::Rejected, "{id}");
        let last = a.decisions.last().expect("decided");
        assert_eq!((last.approver.as_str(), last.reason.as_str()), ("alice", "prompt injection, INC-4711"));
    }
    let mail = stores.approvals.approval("a-mail-12").expect("read").expect("exists");
    assert_eq!(mail.decisions.len(), 1, "decided exactly once, by bob");
    let ops = alices_actions(&stores);
    assert_eq!(ops.len(), 1, "one dialog, one audit record");
    let outcomes = ops[0].body.attributes.get("quell.approval.outcomes").cloned().unwrap_or_default();
    assert_eq!(
        outcomes,
        serde_json::json!({"a-crm-31": "rejected", "a-mail-12": "already_decided", "a-pay-77": "rejected"}),
        "each request's outcome is in the one audit record"
    );
    c.wait_for("no approvals waiting");
    back_and_quit(&mut c);
}

#[test]
fn the_session_view_pauses_and_kills_its_session_and_stays_live() {
    let (_dir, path, stores) = store();
    let fleet = Agents::start(&stores);
    let mut c = Console::open_sized(&path, &[], (120, 30));
    c.wait_for("s-crm-0008");
    c.send(":session s-crm-0008\r");
    // Its pending approval, with the countdown.
    let screen = c.wait_for("? approval a-crm-31 · crm.update_record · medium risk · expires in ");
    assert!(screen.contains("▶ running"), "{screen}");
    c.send("p");
    c.wait_for("pause session s-crm-0008 in namespace genai-prod");
    confirm_with(&mut c, "runaway CRM sync");
    c.wait_for("✔ all 1 acknowledged");
    // The view is live: the state the agent acknowledged shows without reopening it.
    c.wait_for("‖ paused");
    let rec = stores.control.control_changes(0).expect("control");
    let mine: Vec<_> = rec.iter().filter(|r| r.operator == "alice").collect();
    assert_eq!(mine.len(), 1);
    assert!(matches!(&mine[0].target, ControlTarget::Session(id) if id == "s-crm-0008"));
    assert_eq!((mine[0].desired, mine[0].reason.as_str()), (Desired::Pause, "runaway CRM sync"));
    c.send("p");
    c.wait_for("session s-crm-0008 is already paused: nothing to pause");
    c.send("x");
    c.wait_for("confirm kill — cannot be undone");
    confirm_with(&mut c, "runaway CRM sync, stopping it");
    c.wait_for("✖ killed");
    c.send("x");
    c.wait_for("session s-crm-0008 is already killed: nothing to kill");
    assert_eq!(stores.sessions.session("s-crm-0008").expect("read").expect("exists").state, SessionState::Killed);
    back_and_quit(&mut c);
    fleet.stop();
}

/// Keys typed by the operator, counted (reasons are typed with `confirm_with` and not counted).
struct Keys(usize);

impl Keys {
    fn send(&mut self, c: &mut Console, keys: &str) {
        self.0 += keys.chars().count();
        c.send(keys);
    }

    /// A confirm dialog: the reason (not counted), then tab and enter.
    fn confirm(&mut self, c: &mut Console, reason: &str) {
        self.0 += 2;
        confirm_with(c, reason);
    }
}

#[test]
fn the_demo_incident_in_under_forty_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("incident.db");
    // 40 agents: two of them read a prompt-injected page and ask to e-mail exfil@evil.example.
    let args = ["demo", "--agents", "40", "--step-ms", "100-300", "--steps", "0", "--approval-ttl", "600"];
    let mut c = Console::open_sized(&path, &args, (120, 40));
    c.wait_for(" 40 sessions ");
    let mut k = Keys(0);
    // Find the injected sessions: the requests whose arguments name the attacker.
    k.send(&mut c, "A");
    k.send(&mut c, "/exfil\r");
    c.wait_for("· 2/");
    // Pause their sessions, from the queue, in one dialog.
    k.send(&mut c, "a");
    c.wait_for("2 marked");
    k.send(&mut c, "p");
    c.wait_for("pause 2 sessions");
    k.confirm(&mut c, "prompt injection: exfil@evil.example, INC-4711");
    // Reject both requests in one dialog with one reason.
    k.send(&mut c, "n");
    let screen = c.wait_for("reject 2 approvals of 2 sessions");
    assert!(screen.contains("exfil@evil.example"), "the dialog shows what they asked:\n{screen}");
    k.confirm(&mut c, "prompt injection: exfil@evil.example, INC-4711");
    c.wait_for("recorded 2 decisions");
    // Pause the whole fleet while the blast radius is checked.
    k.send(&mut c, "F");
    k.send(&mut c, "P");
    c.wait_for("pause the whole fleet (");
    k.confirm(&mut c, "INC-4711: checking the blast radius");
    c.wait_for("FLEET PAUSED by alice");
    // Kill a runaway research agent.
    k.send(&mut c, "/research\r");
    c.wait_for("shown · filter 'research'");
    k.send(&mut c, "x");
    c.wait_for("confirm kill — cannot be undone");
    k.confirm(&mut c, "INC-4711: runaway, burning tokens");
    c.wait_for("· kill session ");
    // Resume the rest: the injected sessions stay paused, as they were paused on their own.
    k.send(&mut c, "\x1b");
    k.send(&mut c, "R");
    let screen = c.wait_for("resume the whole fleet (");
    assert!(screen.contains("2 sessions stay paused: they were paused on"), "{screen}");
    k.confirm(&mut c, "INC-4711: contained");
    c.wait_until("FLEET PAUSED", false, Duration::from_secs(15));
    println!("the demo incident took {} keys plus reasons (goal: at most 40)", k.0);
    assert!(k.0 <= 40, "{} keys", k.0);
    c.send("q");
    c.wait_for("quit? the demo's simulated agents stop");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);

    let stores = quell::adapters::embedded::EmbeddedStore::open(&path).expect("store").stores();
    let sessions = stores.sessions.sessions().expect("sessions");
    let injected: Vec<&str> = stores
        .approvals
        .approvals(false, time::now())
        .expect("approvals")
        .into_iter()
        .filter(|a| a.arguments.shown_line().contains("exfil@evil.example"))
        .inspect(|a| assert_eq!(a.status, ApprovalStatus::Rejected, "{}", a.id))
        .map(|a| sessions.iter().find(|s| s.id == a.session_id).map(|s| s.id.as_str()).unwrap_or("?"))
        .collect();
    assert!(injected.len() >= 2, "{injected:?}");
    let changes = stores.control.control_changes(0).expect("control");
    for id in &injected {
        let last = changes.iter().rfind(|r| matches!(&r.target, ControlTarget::Session(s) if s == id));
        assert_eq!(last.map(|r| r.desired), Some(Desired::Pause), "{id} stays paused");
    }
    assert!(sessions.iter().any(|s| s.agent.raw() == "research-agent" && s.state == SessionState::Killed));
    let fleet = stores.control.fleet_control().expect("read").expect("fleet record");
    assert_eq!(fleet.desired, Desired::Run, "the rest resumed");
}

#[test]
fn command_mode_completes_and_remembers_and_c_copies_the_full_id() {
    let (_dir, path, _stores) = store();
    let mut c = Console::open_sized(&path, &[], (120, 30));
    c.wait_for("s-billing-0004");
    // Tab completes as far as the words agree (sort, sort-agent, …), then the sort key.
    c.send(":so\t");
    c.wait_for("tab: sort  sort-agent  sort-anomaly");
    c.wait_for(":sort▏");
    c.send(" sta\t");
    c.wait_for(":sort state▏");
    c.send("\r");
    c.wait_for("sort state");
    // Up brings the command back; esc leaves it unrun.
    c.send(":\x1b[A");
    c.wait_for(":sort state▏");
    c.send("\x1b");
    c.wait_until(":sort state▏", false, Duration::from_secs(10));
    // `c` sends the selected row's whole id to the terminal's clipboard, and says so.
    c.send("g");
    let screen = c.wait_for("sort state");
    let first = screen.lines().nth(3).unwrap_or_default().split_whitespace().next().unwrap_or_default().to_owned();
    assert!(first.starts_with("s-"), "{screen}");
    c.send("c");
    c.wait_for(&format!("copied session id {first} to the clipboard (OSC 52)"));
    c.wait_for("row 1/11 · 11/11 shown");
    let want = format!("\x1b]52;c;{}\x07", base64(first.as_bytes()));
    let raw = c.raw();
    assert!(raw.windows(want.len()).any(|w| w == want.as_bytes()), "the OSC 52 sequence for {first} was written");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
}

/// Standard base64, written out again here so that the test does not trust the encoder it checks.
fn base64(bytes: &[u8]) -> String {
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = String::new();
    for b in bytes {
        bits.push_str(&format!("{b:08b}"));
    }
    while !bits.len().is_multiple_of(6) {
        bits.push('0');
    }
    let mut out: String = (0..bits.len() / 6)
        .map(|i| char::from(abc[usize::from_str_radix(&bits[i * 6..i * 6 + 6], 2).unwrap_or(0)]))
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

#[test]
fn shift_letter_sorts_by_a_column_and_the_border_says_where_the_cursor_is() {
    let (_dir, path, _stores) = store();
    let mut c = Console::open_sized(&path, &[], (80, 24));
    c.wait_for("row 1/11 · 11/11 shown · sort id ↑");
    c.send("T");
    let screen = c.wait_for("sort tokens ↓");
    assert!(screen.contains("sorted by tokens ↓"), "{screen}");
    c.send("S");
    let screen = c.wait_for("sort state ↑");
    assert!(screen.contains("STATE↑"), "the header's arrow is the info line's:\n{screen}");
    c.send("S");
    c.wait_for("sort state ↓");
    c.send("G");
    c.wait_for("row 11/11");
    c.send("/crm\r");
    c.wait_for("row 2/2 · 2/11 shown");
    c.send("q");
    assert_eq!(c.wait_exit(), 0);
}
