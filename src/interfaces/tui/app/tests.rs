//! Pure state tests of acting where the operator looks, the approvals queue and the live views:
//! keys and feed messages in, state and effects out, no I/O.

use super::{update, App, Effect, Level, Msg, View};
use crate::interfaces::tui::confirm::Plan;
use crate::interfaces::tui::fleet::Snapshot;
use crate::interfaces::tui::keymap::Keymap;
use crate::interfaces::tui::session::TimelineData;
use crate::interfaces::tui::theme::Theme;
use crate::model::action::ApprovalRef;
use crate::model::action::{ActionKind, OperatorAction, Scope};
use crate::model::approval::DecideError;
use crate::model::approval::{ApprovalStatus, Verdict};
use crate::model::session::{Session, SessionState};
use crate::model::time::{self, Timestamp};
use crate::model::untrusted::UntrustedJson;
use crate::services::approvals::{BulkDecided, Outcome};
use crate::services::control::Target;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn session(id: &str, state: SessionState, now: Timestamp) -> Session {
    let mut s = Session::new(id, format!("agent-{id}"), now);
    s.state = state;
    s
}

use crate::interfaces::tui::queue::pending_request as request;

/// A console on a fleet of a running, a paused and a finished session, with three requests.
fn console() -> App {
    let now = time::now();
    let mut app = App::new("alice", false, Keymap::default(), Theme::dark(), now);
    let sessions = vec![
        session("s-run", SessionState::Running, now),
        session("s-paused", SessionState::Paused, now),
        session("s-done", SessionState::Finished, now),
    ];
    let approvals = vec![
        request("a-late", "s-run", "send_email", 600, now),
        request("a-soon", "s-paused", "send_email", 30, now),
        request("a-gone", "s-run", "update_record", -5, now),
    ];
    update(&mut app, Msg::Snapshot(Box::new(Snapshot::build(sessions, None, approvals, now))));
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn chars(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

fn status(app: &App) -> String {
    app.status.as_ref().map(|(_, s)| s.clone()).unwrap_or_default()
}

fn timeline(s: Session, steps: usize) -> Result<TimelineData, String> {
    let mut data = TimelineData {
        session: Some(s),
        items: Vec::new(),
        integrity: Ok(0),
        checkpoint_coverage: Vec::new(),
        window: false,
        more: false,
        anomalies: Vec::new(),
    };
    let item = |step: u64| crate::interfaces::tui::session::Item {
        kind: crate::interfaces::tui::session::ItemKind::Checkpoint,
        seq: None,
        step,
        time: None,
        summary: format!("step {step}"),
        anomaly: None,
        raw: UntrustedJson::default(),
        checkpoint: None,
    };
    data.items = (0..steps as u64).map(item).collect();
    Ok(data)
}

fn open(app: &mut App, id: &str) {
    key(app, KeyCode::Char(':'));
    chars(app, &format!("session {id}"));
    let fx = key(app, KeyCode::Enter);
    assert!(matches!(&fx[..], [Effect::LoadTimeline(x)] if x == id), "{fx:?}");
    let s = app.fleet.rows.iter().find(|r| r.session.id == id).map(|r| r.session.clone());
    let s = s.unwrap_or_else(|| Session::new(id, "?", app.now));
    update(app, Msg::Timeline { id: id.into(), data: Box::new(timeline(s, 3)) });
}

#[test]
fn the_session_view_acts_on_its_session_through_the_one_dialog() {
    let mut app = console();
    open(&mut app, "s-run");
    let fx = key(&mut app, KeyCode::Char('p'));
    assert!(
        matches!(&fx[..], [Effect::Plan { kind: ActionKind::Pause, target: Target::Sessions(ids) }] if ids == &["s-run"]),
        "{fx:?}"
    );
    assert_eq!(app.dialog.as_ref().map(|d| d.kind), Some(ActionKind::Pause));
    key(&mut app, KeyCode::Esc);
    assert_eq!(status(&app), "cancelled: nothing was changed");
    // The fleet's marks are not what "this session" means.
    app.fleet.marked.insert("s-paused".into());
    let fx = key(&mut app, KeyCode::Char('x'));
    assert!(
        matches!(&fx[..], [Effect::Plan { kind: ActionKind::Kill, target: Target::Sessions(ids) }] if ids == &["s-run"])
    );
}

#[test]
fn already_paused_and_already_ended_are_said_instead_of_silence() {
    let mut app = console();
    open(&mut app, "s-paused");
    assert!(key(&mut app, KeyCode::Char('p')).is_empty());
    assert!(app.dialog.is_none());
    assert_eq!(status(&app), "session s-paused is already paused: nothing to pause");
    // Resume is still offered: that is what a paused session needs.
    assert!(!key(&mut app, KeyCode::Char('r')).is_empty());
    key(&mut app, KeyCode::Esc);
    open(&mut app, "s-done");
    for k in ['p', 'x', 'r'] {
        assert!(key(&mut app, KeyCode::Char(k)).is_empty(), "{k}");
        assert!(status(&app).starts_with("session s-done already ended (finished): nothing to"), "{}", status(&app));
    }
}

#[test]
fn the_approvals_view_acts_on_the_requests_sessions() {
    let mut app = console();
    key(&mut app, KeyCode::Char('A'));
    assert_eq!(app.view, View::Approvals);
    // Next to expire first: the expired one, then a-soon (s-paused), then a-late (s-run).
    let order: Vec<&str> = (0..3).filter_map(|i| app.approvals.visible_item(i)).map(|a| a.id.as_str()).collect();
    assert_eq!(order, ["a-gone", "a-soon", "a-late"]);
    key(&mut app, KeyCode::Char('G'));
    let fx = key(&mut app, KeyCode::Char('p'));
    assert!(matches!(&fx[..], [Effect::Plan { target: Target::Sessions(ids), .. }] if ids == &["s-run"]), "{fx:?}");
    key(&mut app, KeyCode::Esc);
    // Marked requests: their sessions, each once.
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.approvals.marked.len(), 3);
    let fx = key(&mut app, KeyCode::Char('x'));
    match &fx[..] {
        [Effect::Plan { kind: ActionKind::Kill, target: Target::Sessions(ids) }] => {
            assert_eq!(ids, &["s-paused", "s-run"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn marked_requests_are_decided_in_one_dialog_that_shows_their_arguments_neutralised() {
    let mut app = console();
    key(&mut app, KeyCode::Char('A'));
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(status(&app), "2 marked: y approves, n rejects them all (one reason)");
    assert!(!app.approvals.marked.contains("a-gone"), "an expired request cannot be decided");
    let fx = key(&mut app, KeyCode::Char('n'));
    match &fx[..] {
        [Effect::PlanDecisions { ids, verdict: Verdict::Reject }] => assert_eq!(ids, &["a-late", "a-soon"]),
        other => panic!("{other:?}"),
    }
    let d = app.dialog.as_ref().expect("one dialog");
    let details = d.details.join("\n");
    assert!(details.contains("a-soon · send_email · high risk · session s-paused · expires in"), "{details}");
    assert!(details.contains("PWNED") && details.contains("exfil@evil.example"), "the arguments: {details}");
    assert!(!details.chars().any(|c| c == '\u{1b}' || c == '\u{7}'), "neutralised: {details}");
    // The plan resolves both; one reason confirms both.
    let approvals = vec![
        ApprovalRef { id: "a-late".into(), session_id: "s-run".into() },
        ApprovalRef { id: "a-soon".into(), session_id: "s-paused".into() },
    ];
    let scope = Scope::Approvals { approvals, sessions: vec!["s-run".into(), "s-paused".into()], selector: None };
    let plan = OperatorAction::new(ActionKind::Reject, scope, "placeholder", "alice");
    update(&mut app, Msg::PlannedMany { plan: plan.map_err(|e| e.to_string()), left_out: Vec::new() });
    chars(&mut app, "prompt injection, INC-4711");
    key(&mut app, KeyCode::Enter);
    let fx = key(&mut app, KeyCode::Enter);
    let [Effect::Execute(action)] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(action.describe(), "reject 2 approvals of 2 sessions");
    assert_eq!(action.reason, "prompt injection, INC-4711");
    // What was recorded, and who decided first where someone did.
    let mut late = request("a-late", "s-run", "send_email", 600, app.now);
    late.status = ApprovalStatus::Rejected;
    let first = DecideError::AlreadyDecided {
        id: "a-soon".into(),
        verdict: Verdict::Approve,
        by: "bob".into(),
        at: "2026-12-03T10:00:00Z".into(),
    };
    let done = BulkDecided {
        outcomes: vec![("a-late".into(), Outcome::Recorded(late)), ("a-soon".into(), Outcome::Refused(first))],
        audit_error: None,
    };
    update(&mut app, Msg::DecidedMany(Ok(done)));
    let (level, text) = app.status.clone().unwrap_or((Level::Info, String::new()));
    assert_eq!(level, Level::Error, "not everything was recorded");
    assert_eq!(
        text,
        "recorded: approval a-late is rejected · a-soon not recorded: approval a-soon was already approved by bob at 2026-12-03T10:00:00Z"
    );
    assert!(app.approvals.items.iter().all(|a| a.id != "a-late"), "the decided request left the queue");
    assert!(!app.approvals.marked.contains("a-late"));
}

#[test]
fn the_queue_filters_by_text_and_by_selector() {
    let mut app = console();
    key(&mut app, KeyCode::Char('A'));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "update_rec");
    assert_eq!(app.approvals.visible.len(), 1, "live while typing");
    key(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "1 request matches 'update_rec'");
    assert_eq!(app.fleet.filter, "", "the fleet's filter is not touched");
    key(&mut app, KeyCode::Esc);
    assert_eq!((app.approvals.visible.len(), status(&app).as_str()), (3, "filters cleared"));
    key(&mut app, KeyCode::Char('s'));
    chars(&mut app, "tool=send_email,state=paused");
    key(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "1 request matches tool=send_email,state=paused");
    assert_eq!(app.approvals.selected_item().map(|a| a.id.as_str()), Some("a-soon"));
    assert!(app.fleet.selector.is_none());
    key(&mut app, KeyCode::Char('s'));
    update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    chars(&mut app, "stat=paused");
    key(&mut app, KeyCode::Enter);
    let (level, text) = app.status.clone().unwrap_or((Level::Info, String::new()));
    assert_eq!(level, Level::Error, "{text}");
    assert_eq!(app.approvals.visible.len(), 1, "a bad selector changes nothing");
}

#[test]
fn enter_held_while_the_scope_resolves_confirms_when_it_arrives() {
    let mut app = console();
    key(&mut app, KeyCode::Char('G')); // s-run (s-done ended, s-paused is paused)
    let fx = key(&mut app, KeyCode::Char('p'));
    let [Effect::Plan { target: Target::Sessions(ids), .. }] = &fx[..] else { panic!("{fx:?}") };
    let ids = ids.clone();
    chars(&mut app, "runaway");
    key(&mut app, KeyCode::Enter);
    assert!(key(&mut app, KeyCode::Enter).is_empty(), "nothing to run yet");
    assert!(app.dialog.as_ref().is_some_and(|d| d.held && d.plan == Plan::Resolving));
    chars(&mut app, "jj");
    let scope = Scope::Sessions { sessions: ids, namespaces: Default::default(), selector: None };
    let plan = OperatorAction::new(ActionKind::Pause, scope, "placeholder", "alice").map_err(|e| e.to_string());
    let fx = update(&mut app, Msg::Planned(plan));
    let [Effect::Execute(action)] = &fx[..] else { panic!("the held enter confirms: {fx:?}") };
    assert_eq!((action.describe().as_str(), action.reason.as_str()), ("pause session s-run", "runaway"));
    assert!(app.dialog.is_none() && app.progress.is_some());
}

#[test]
fn q_goes_back_from_a_sub_view_and_the_demo_console_asks_before_quitting() {
    let mut app = console();
    open(&mut app, "s-run");
    key(&mut app, KeyCode::Char('A'));
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(app.view, View::Session);
    key(&mut app, KeyCode::Char('q'));
    assert_eq!((app.view, app.quit), (View::Fleet, false));
    app.demo = true;
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit && status(&app).starts_with("quit? the demo's simulated agents stop"), "{}", status(&app));
    key(&mut app, KeyCode::Char('j'));
    assert!(!app.quit && status(&app) == "still running");
    key(&mut app, KeyCode::Char('q'));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
    let mut plain = console();
    key(&mut plain, KeyCode::Char('q'));
    assert!(plain.quit, "a console without the demo quits at once");
}

#[test]
fn the_session_view_is_live_and_follows_new_entries() {
    let mut app = console();
    open(&mut app, "s-run");
    assert_eq!(app.session.as_ref().map(|s| s.selected), Some(0));
    // Each refresh of the fleet re-reads the open session, one read at a time.
    let snapshot = || {
        let now = time::now();
        Snapshot::build(vec![session("s-run", SessionState::Paused, now)], None, vec![], now)
    };
    let fx = update(&mut app, Msg::Snapshot(Box::new(snapshot())));
    assert!(matches!(&fx[..], [Effect::LoadTimeline(id)] if id == "s-run"), "{fx:?}");
    assert!(update(&mut app, Msg::Snapshot(Box::new(snapshot()))).is_empty(), "not while a read is under way");
    let paused = session("s-run", SessionState::Paused, app.now);
    update(&mut app, Msg::Timeline { id: "s-run".into(), data: Box::new(timeline(paused.clone(), 5)) });
    let s = app.session.as_ref().expect("open");
    assert_eq!((s.items().len(), s.selected), (5, 0), "new entries appear; the cursor stays");
    let state = s.data.as_ref().and_then(|d| d.as_ref().ok()).and_then(|d| d.session.as_ref()).map(|s| s.state);
    assert_eq!(state, Some(SessionState::Paused), "the state is current");
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(app.session.as_ref().map(|s| s.selected), Some(4));
    update(&mut app, Msg::Snapshot(Box::new(snapshot())));
    update(&mut app, Msg::Timeline { id: "s-run".into(), data: Box::new(timeline(paused, 8)) });
    assert_eq!(app.session.as_ref().map(|s| s.selected), Some(7), "follow keeps the newest in view");
    // A failed re-read keeps what is shown.
    update(&mut app, Msg::Snapshot(Box::new(snapshot())));
    update(&mut app, Msg::Timeline { id: "s-run".into(), data: Box::new(Err("store busy".into())) });
    assert_eq!(app.session.as_ref().map(|s| s.items().len()), Some(8));
}

#[test]
fn the_session_view_lists_its_pending_approvals_with_their_countdown() {
    let mut app = console();
    open(&mut app, "s-run");
    let lines: Vec<String> = crate::interfaces::tui::views::session::pending_lines(&app, "s-run")
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    assert_eq!(lines.len(), 1, "the expired request is not pending: {lines:?}");
    assert_eq!(lines[0], " ? approval a-late · send_email · high risk · expires in 10m00s (A: the approvals queue)");
}

fn input_text(app: &App) -> String {
    app.input.as_ref().map(|i| i.text.clone()).unwrap_or_default()
}

/// Opens the `:` line, types `typed`, presses Tab: the line as Tab left it.
fn tab(app: &mut App, typed: &str) -> String {
    key(app, KeyCode::Esc);
    key(app, KeyCode::Char(':'));
    chars(app, typed);
    key(app, KeyCode::Tab);
    input_text(app)
}

#[test]
fn tab_completes_command_words_and_closed_arguments() {
    let mut app = console();
    assert_eq!(tab(&mut app, "approv"), "approv", "approve and approvals both fit");
    assert!(status(&app).contains("approvals") && status(&app).contains("approve"), "{}", status(&app));
    chars(&mut app, "a");
    key(&mut app, KeyCode::Tab);
    assert_eq!(input_text(&app), "approvals ");
    assert_eq!(tab(&mut app, "hard"), "hard-stop ", "names are typed with a dash");
    assert_eq!(tab(&mut app, "theme l"), "theme light");
    assert_eq!(tab(&mut app, "sort st"), "sort st", "state and step");
    chars(&mut app, "a");
    key(&mut app, KeyCode::Tab);
    assert_eq!(input_text(&app), "sort state");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.fleet.sort, crate::interfaces::tui::fleet::SortKey::State);

    // Namespaces seen in the fleet; one with a control character is never offered.
    let now = app.now;
    let mut a = session("n-1", SessionState::Running, now);
    a.namespace = Some("genai-prod".into());
    let mut b = session("n-2", SessionState::Running, now);
    b.namespace = Some("genai-\u{1b}[2Jevil".into());
    update(&mut app, Msg::Snapshot(Box::new(Snapshot::build(vec![a, b], None, vec![], now))));
    assert_eq!(tab(&mut app, "ns gen"), "ns genai-prod");
    assert_eq!(tab(&mut app, "zzz"), "zzz", "nothing fits: the line is left alone");
    assert_eq!(tab(&mut app, "pause st"), "pause st", "a selector is not a closed set");
}

#[test]
fn up_and_down_walk_the_commands_of_this_run() {
    let mut app = console();
    for line in ["sort state", "approvals", "fleet"] {
        key(&mut app, KeyCode::Char(':'));
        chars(&mut app, line);
        key(&mut app, KeyCode::Enter);
    }
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "the");
    key(&mut app, KeyCode::Up);
    assert_eq!(input_text(&app), "fleet");
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(input_text(&app), "sort state");
    key(&mut app, KeyCode::Down);
    assert_eq!(input_text(&app), "approvals");
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(input_text(&app), "the", "past the newest: what was typed");
    assert_eq!(app.view, View::Fleet, "walking the history runs nothing");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "paws");
    key(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "unknown command :paws (tab completes a command; ? lists them all)");
}

#[test]
fn help_lists_every_colon_command_from_the_keymap() {
    let mut app = console();
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.view, View::Help);
    let text: Vec<String> = crate::interfaces::tui::views::help::lines(&app)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>())
        .collect();
    let all = text.join("\n");
    // Pod actions are offered only where the API server allows them (no kube here).
    let offered: Vec<_> = app.keymap.bindings().iter().filter(|b| app.offers(b)).collect();
    assert_eq!(offered.len(), app.keymap.bindings().len() - 5, "all but the five pod actions");
    for b in offered {
        let word = format!(":{}", b.name.replace('_', "-"));
        let line = text.iter().find(|l| l.trim_start().starts_with(&format!("{word} ")));
        assert!(line.is_some_and(|l| l.contains(b.help)), "{word} is listed with its description:\n{all}");
    }
    assert!(all.contains(":theme NAME") && all.contains(":quit") && all.contains("(also :q :exit)"), "{all}");
}

#[test]
fn c_copies_the_selected_full_id_and_refuses_one_with_control_characters() {
    let now = time::now();
    let mut app = console();
    let long = "7f3c2a10-5b1e-4c7a-9d2e-0a1b2c3d4e5f";
    let evil = "s-\u{1b}]52;c;ZXZpbA==\u{7}";
    let sessions = vec![session(long, SessionState::Running, now), session(evil, SessionState::Running, now)];
    update(&mut app, Msg::Snapshot(Box::new(Snapshot::build(sessions, None, vec![], now))));
    assert_eq!(app.fleet.selected_id().as_deref(), Some(long));
    let fx = key(&mut app, KeyCode::Char('c'));
    let want = crate::interfaces::tui::terminal::osc52(long);
    assert!(matches!(fx.as_slice(), [Effect::Copy(seq)] if Some(seq) == want.as_ref()), "{fx:?}");
    assert_eq!(status(&app), format!("copied session id {long} to the clipboard (OSC 52)"));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.fleet.selected_id().as_deref(), Some(evil));
    let fx = key(&mut app, KeyCode::Char('c'));
    assert!(fx.is_empty(), "nothing reaches the terminal: {fx:?}");
    let said = status(&app);
    assert!(said.starts_with("not copied: the session id s-^[]52;c;ZXZpbA==^G holds control"), "{said}");
    assert!(app.status.as_ref().is_some_and(|(l, _)| *l == Level::Error));
}

#[test]
fn shift_letter_sorts_by_its_column_again_reverses_and_one_arrow_says_which_way() {
    use crate::interfaces::tui::fleet::SortKey;
    let mut app = console();
    assert_eq!((app.fleet.sort, app.fleet.sort_arrow()), (SortKey::Id, "↑"), "A to Z");
    key(&mut app, KeyCode::Char('S'));
    assert_eq!((app.fleet.sort, app.fleet.descending), (SortKey::State, false));
    assert_eq!(status(&app), "sorted by state ↑");
    key(&mut app, KeyCode::Char('S'));
    assert_eq!((app.fleet.sort, app.fleet.descending), (SortKey::State, true), "again: reversed");
    assert_eq!(status(&app), "sorted by state ↓");
    // A column that starts largest first shows it with the same arrow; another letter starts
    // its column in its natural order.
    key(&mut app, KeyCode::Char('T'));
    assert_eq!((app.fleet.sort, app.fleet.descending, app.fleet.sort_arrow()), (SortKey::Tokens, false, "↓"));
    key(&mut app, KeyCode::Char('Y'));
    assert_eq!((app.fleet.sort, app.fleet.sort_arrow()), (SortKey::Anomaly, "↓"), "most severe first");
    key(&mut app, KeyCode::Char('O'));
    assert_eq!(app.fleet.sort_arrow(), "↑", "O reverses too, and the arrow follows");
    for (letter, want) in [('I', SortKey::Id), ('E', SortKey::Agent), ('N', SortKey::Place), ('W', SortKey::LastSeen)] {
        key(&mut app, KeyCode::Char(letter));
        assert_eq!(app.fleet.sort, want, "{letter}");
    }
    // `:sort-state` is the same command by name.
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "sort-state");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.fleet.sort, SortKey::State);
}

#[test]
fn the_row_position_follows_the_cursor_over_the_rows_shown() {
    let mut app = console();
    assert_eq!(app.fleet.position(), (1, 3));
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.fleet.position(), (3, 3));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "no such session");
    assert_eq!(app.fleet.position(), (0, 0), "no row shown: no position");
}
