// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Snapshots of every console view with ratatui's TestBackend, driven through the real
//! `update` with keys and with the messages the feed threads would send (computed by the real
//! services on a real embedded store). Every render is also checked for control characters.

mod tui_fixture;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use quell::interfaces::tui::app::{update, App, Effect, Msg, View};
use quell::interfaces::tui::cluster::{KubeInfo, KubeState, PodCells};
use quell::interfaces::tui::confirm::Focus;
use quell::interfaces::tui::feed;
use quell::interfaces::tui::fleet::Snapshot;
use quell::interfaces::tui::keymap::Keymap;
use quell::interfaces::tui::theme::Theme;
use quell::interfaces::tui::view;
use quell::model::action::{ActionKind, OperatorAction};
use quell::model::approval::{ApprovalStatus, Decision, Verdict};
use quell::model::control::{ControlTarget, Desired};
use quell::model::session::Session;
use quell::model::untrusted::needs_escape;
use quell::ports::Stores;
use quell::services::approvals::Decided;
use quell::services::control::{self, AckReport, Issued, Target};
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::Terminal;
use std::time::Duration;
use tui_fixture::{now, BROWSER};

struct Console {
    app: App,
    stores: Stores,
    _dir: tempfile::TempDir,
}

fn snapshot_of(stores: &Stores) -> Snapshot {
    let sessions = stores.sessions.sessions().expect("sessions");
    let fleet = stores.control.fleet_control().expect("control");
    let pending = stores
        .approvals
        .approvals(false, now())
        .expect("approvals")
        .into_iter()
        .filter(|a| a.status == ApprovalStatus::Pending)
        .collect();
    Snapshot::build(sessions, fleet, pending, now())
}

fn console_with(readonly: bool, theme: Theme) -> Console {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = tui_fixture::open_store(dir.path());
    tui_fixture::fill(&stores);
    let mut app = App::new("alice", readonly, Keymap::default(), theme, now());
    let fx = update(&mut app, Msg::Snapshot(Box::new(snapshot_of(&stores))));
    assert!(fx.is_empty(), "the fleet view asks for nothing: {fx:?}");
    // What the feed's anomaly thread sends: the shared rules over the real store.
    let found = feed::fleet_anomalies(&stores, &Default::default());
    assert!(update(&mut app, Msg::Anomalies(Box::new(found))).is_empty());
    Console { app, stores, _dir: dir }
}

fn console() -> Console {
    console_with(false, Theme::dark())
}

impl Console {
    fn key(&mut self, code: KeyCode) -> Vec<Effect> {
        update(&mut self.app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    /// A `:` command typed and entered; the effects of the Enter.
    fn command(&mut self, line: &str) -> Vec<Effect> {
        self.key(KeyCode::Char(':'));
        self.chars(line);
        self.key(KeyCode::Enter)
    }

    fn chars(&mut self, text: &str) -> Vec<Effect> {
        text.chars().flat_map(|c| self.key(KeyCode::Char(c))).collect()
    }

    /// Carries out read effects the way the feed does, feeding the answers back.
    fn serve(&mut self, effects: Vec<Effect>) {
        for e in effects {
            let msg = match e {
                Effect::LoadTimeline(id) => {
                    let data = Box::new(feed::load_timeline(&self.stores, &id, &Default::default()));
                    Msg::Timeline { id, data }
                }
                Effect::LoadWindow { id, since } => {
                    let data =
                        Box::new(feed::load_window(&self.stores, since, feed::WINDOW_EVENTS, &Default::default()));
                    Msg::Timeline { id, data }
                }
                Effect::LoadContext(session_id) => {
                    let lines = feed::context_lines(&self.stores, &session_id, &Default::default());
                    Msg::Context { session_id, lines }
                }
                Effect::Plan { kind, target } => Msg::Planned(
                    control::plan(&self.stores, kind, &target, "placeholder", "alice").map_err(|e| e.to_string()),
                ),
                Effect::PlanDecision { id, verdict } => Msg::Planned(
                    quell::services::approvals::plan(&self.stores, &id, verdict, "placeholder", "alice")
                        .map_err(|e| e.to_string()),
                ),
                Effect::PlanDecisions { ids, verdict } => {
                    let (plan, left_out) = feed::plan_decisions(&self.stores, ids, verdict, "alice");
                    Msg::PlannedMany { plan, left_out }
                }
                other => panic!("not a read: {other:?}"),
            };
            let more = update(&mut self.app, msg);
            self.serve(more);
        }
    }

    fn render(&self, w: u16, h: u16) -> Terminal<TestBackend> {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        t.draw(|f| view::draw(f, &self.app)).expect("draw");
        assert_inert(&t);
        t
    }

    fn screen(&self, w: u16, h: u16) -> String {
        self.render(w, h).backend().to_string()
    }
}

/// No cell may hold a control character or an invisible/bidi code point.
fn assert_inert(t: &Terminal<TestBackend>) {
    for cell in t.backend().buffer().content() {
        for c in cell.symbol().chars() {
            assert!(!c.is_control() && !needs_escape(c), "raw {c:?} reached the screen");
        }
    }
}

fn row_of(t: &Terminal<TestBackend>, needle: &str) -> Option<u16> {
    let buf = t.backend().buffer();
    (0..buf.area.height).find(|&y| {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        line.contains(needle)
    })
}

#[test]
fn fleet_at_80x24() {
    let c = console();
    let screen = c.screen(80, 24);
    insta::assert_snapshot!("fleet_80x24", screen);
    assert!(screen.contains("11 sessions"));
    assert!(screen.contains("3 pending approvals"));
    // The hostile agent name is visible as escapes, never as control codes.
    assert!(screen.contains("evil^[]0;"), "{screen}");
    assert!(!screen.contains("COST"), "the cost column yields at 80 columns");
}

#[test]
fn long_ids_are_whole_from_120_columns_and_cut_only_to_what_tells_them_apart() {
    let mut c = console();
    let ids = ["7f3c2a10-5b1e-4c7a-9d2e-0a1b2c3d4e5f", "7f3c2a10-5b1e-4c7a-9d2e-ffffffffffff", "0b9d-short"];
    let sessions: Vec<Session> = ids.iter().map(|id| Session::new(*id, "uuid-agent", now())).collect();
    update(&mut c.app, Msg::Snapshot(Box::new(Snapshot::build(sessions, None, vec![], now()))));
    let wide = c.screen(120, 10);
    insta::assert_snapshot!("fleet_long_ids_120", wide);
    for id in ids {
        assert!(wide.contains(id), "{id} whole at 120 columns:\n{wide}");
    }
    let narrow = c.screen(80, 10);
    insta::assert_snapshot!("fleet_long_ids_80", narrow);
    assert!(!narrow.contains(ids[0]), "cut below 120 columns:\n{narrow}");
    assert!(narrow.contains("7f3c2a10-5b1e-4c7a-9d2e-0…") && narrow.contains("7f3c2a10-5b1e-4c7a-9d2e-f…"), "{narrow}");
}

#[test]
fn fleet_wide_and_narrow() {
    let c = console();
    let wide = c.screen(130, 16);
    insta::assert_snapshot!("fleet_130x16", wide);
    assert!(wide.contains("COST") && wide.contains("TOKENS"));
    let narrow = c.screen(50, 12);
    insta::assert_snapshot!("fleet_50x12", narrow);
    assert!(narrow.contains("ID") && narrow.contains("STATE"));
    let tiny = c.screen(30, 6);
    assert!(tiny.contains("quell needs at least 40×10"), "{tiny}");
}

#[test]
fn text_filter_and_selector_filter() {
    let mut c = console();
    c.key(KeyCode::Char('/'));
    c.chars("billing");
    assert_eq!(c.app.fleet.visible.len(), 2);
    insta::assert_snapshot!("fleet_filter_typing", c.screen(80, 12));
    c.key(KeyCode::Enter);
    c.key(KeyCode::Esc); // clears filters
    assert_eq!(c.app.fleet.visible.len(), 11);
    c.key(KeyCode::Char('s'));
    c.chars("state=running,namespace=genai-prod");
    c.key(KeyCode::Enter);
    assert_eq!(c.app.fleet.visible.len(), 4, "{:?}", c.app.status);
    let screen = c.screen(80, 12);
    insta::assert_snapshot!("fleet_selector", screen);
    assert!(screen.contains("selector state=running,namespace=genai-prod"));
    // A bad selector says why and keeps the current one.
    c.key(KeyCode::Char('s'));
    update(&mut c.app, Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    c.chars("x");
    c.key(KeyCode::Enter);
    assert!(c.app.status.as_ref().is_some_and(|(_, s)| s.contains("unknown field")), "{:?}", c.app.status);
    assert_eq!(c.app.fleet.visible.len(), 4);
}

#[test]
fn pause_whole_fleet_goes_through_the_dialog() {
    let mut c = console();
    let fx = c.key(KeyCode::Char('P'));
    assert!(matches!(&fx[..], [Effect::Plan { kind: ActionKind::Pause, target: Target::All }]), "{fx:?}");
    assert!(c.app.dialog.is_some());
    insta::assert_snapshot!("dialog_resolving", c.screen(80, 24));
    c.serve(fx);
    let screen = c.screen(80, 24);
    insta::assert_snapshot!("dialog_pause_fleet", screen);
    assert!(screen.contains("pause the whole fleet (8 live sessions in 2 namespaces"), "{screen}");
    assert!(screen.contains("[▸Cancel◂]"), "Cancel is focused by default");
    // Enter on the default button cancels and nothing runs.
    assert!(c.key(KeyCode::Enter).is_empty());
    assert!(c.app.dialog.is_none());

    // Again, with a reason: typing goes to the reason, Enter moves to the button, Enter runs.
    let fx = c.key(KeyCode::Char('P'));
    c.serve(fx);
    c.key(KeyCode::Tab);
    c.key(KeyCode::Tab);
    assert!(c.key(KeyCode::Enter).is_empty(), "no reason: refused");
    assert!(c.screen(80, 24).contains("needs a reason"));
    assert!(c.chars("prompt injection via attacker.example, INC-4711").is_empty());
    assert!(c.key(KeyCode::Enter).is_empty());
    let screen = c.screen(80, 24);
    insta::assert_snapshot!("dialog_pause_fleet_reason", screen);
    assert!(screen.contains("[▸PAUSE◂]"));
    let fx = c.key(KeyCode::Enter);
    let [Effect::Execute(action)] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(action.kind, ActionKind::Pause);
    assert_eq!(action.reason, "prompt injection via attacker.example, INC-4711");
    assert_eq!(action.operator, "alice");
    assert!(action.describe().starts_with("pause the whole fleet (8 live sessions"));
}

/// Pauses the whole fleet through the dialog (reason INC-4711); returns the sessions in scope.
fn confirm_pause_all(c: &mut Console) -> Vec<String> {
    let fx = c.key(KeyCode::Char('P'));
    c.serve(fx);
    c.chars("INC-4711");
    c.key(KeyCode::Enter);
    let fx = c.key(KeyCode::Enter);
    let [Effect::Execute(action)] = &fx[..] else { panic!("{fx:?}") };
    action.scope.session_ids().to_vec()
}

#[test]
fn banner_and_live_progress_with_outstanding_rows() {
    let mut c = console_with(false, Theme::mono());
    let ids = confirm_pause_all(&mut c);
    // What the feed would see: the pause is in force, two sessions have not acknowledged yet.
    let generation = c
        .stores
        .control
        .set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "INC-4711", now() - chrono::Duration::seconds(2))
        .expect("control");
    update(&mut c.app, Msg::Snapshot(Box::new(snapshot_of(&c.stores))));
    update(
        &mut c.app,
        Msg::Executed(Ok(Issued {
            generation,
            desired: Desired::Pause,
            sessions: ids.clone(),
            audit_error: None,
            fleet_hold: None,
        })),
    );
    let outstanding: Vec<String> = ids.iter().filter(|i| i.contains("crm")).cloned().collect();
    let acknowledged: Vec<String> = ids.iter().filter(|i| !i.contains("crm")).cloned().collect();
    let report = AckReport { acknowledged, outstanding, ended: vec![] };
    update(&mut c.app, Msg::Progress { report: Ok(report), elapsed: Duration::from_millis(420) });
    let t = c.render(80, 24);
    let screen = t.backend().to_string();
    insta::assert_snapshot!("fleet_paused_progress", screen);
    assert!(screen.contains("FLEET PAUSED by alice at 02:59:58 (2s ago): INC-4711"), "{screen}");
    assert!(screen.contains("6/8 acknowledged · 2 outstanding"), "{screen}");
    // Outstanding rows stay highlighted (underlined in monochrome) and carry a marker.
    let y = row_of(&t, "s-crm-0009").expect("row");
    let cell = &t.backend().buffer()[(5, y)];
    assert!(cell.modifier.contains(Modifier::UNDERLINED), "{cell:?}");
    assert_eq!(t.backend().buffer()[(0, y)].symbol(), "…");
    let y = row_of(&t, "s-support-0002").expect("row");
    assert!(!t.backend().buffer()[(5, y)].modifier.contains(Modifier::UNDERLINED));

    // Everyone acknowledged.
    let report = AckReport { acknowledged: ids, outstanding: vec![], ended: vec![] };
    update(&mut c.app, Msg::Progress { report: Ok(report), elapsed: Duration::from_millis(610) });
    let screen = c.screen(80, 24);
    assert!(screen.contains("✔ all 8 acknowledged in 0.61s · pause the whole fleet"), "{screen}");
}

#[test]
fn a_pause_that_took_effect_without_its_audit_record_says_so_next_to_the_progress() {
    let mut c = console();
    let ids = confirm_pause_all(&mut c);
    let audit_error = "its audit record was not written: brokers unreachable — audit events cannot be written to \
                       Kafka topic 'quell.audit' (brokers 127.0.0.1:9092)";
    let issued = Issued {
        generation: 7,
        desired: Desired::Pause,
        sessions: ids.clone(),
        audit_error: Some(audit_error.into()),
        fleet_hold: None,
    };
    update(&mut c.app, Msg::Executed(Ok(issued)));
    let report = AckReport { acknowledged: ids, outstanding: vec![], ended: vec![] };
    update(&mut c.app, Msg::Progress { report: Ok(report), elapsed: Duration::from_millis(300) });
    let screen = c.screen(220, 24);
    let row = screen.lines().find(|l| l.contains("acknowledged in")).unwrap_or_default();
    assert!(row.contains("✔ all 8 acknowledged in 0.30s"), "the pause itself worked: {screen}");
    assert!(row.contains("pause took effect, but its audit record was not written: brokers unreachable"), "{row}");
}

#[test]
fn marked_rows_are_the_scope() {
    let mut c = console();
    c.key(KeyCode::Char(' ')); // marks s-billing-0004, moves down
    c.key(KeyCode::Char(' ')); // marks s-billing-0005
    assert_eq!(c.app.fleet.marked.len(), 2);
    let fx = c.key(KeyCode::Char('x'));
    let [Effect::Plan { kind: ActionKind::Kill, target: Target::Sessions(ids) }] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(ids, &["s-billing-0004".to_string(), "s-billing-0005".to_string()]);
    c.serve(fx);
    let screen = c.screen(80, 24);
    insta::assert_snapshot!("dialog_kill_marked", screen);
    assert!(screen.contains("kill 2 sessions in namespace payments"), "{screen}");
    assert!(screen.contains("cannot be undone"));
}

#[test]
fn readonly_hides_and_refuses_actions() {
    let mut c = console_with(true, Theme::dark());
    let screen = c.screen(80, 24);
    insta::assert_snapshot!("fleet_readonly", screen);
    assert!(screen.contains("[READ-ONLY]"));
    let bar = screen.lines().last().unwrap_or_default();
    assert!(bar.contains("filter") && !bar.contains("pause") && !bar.contains("kill"), "{bar}");
    for k in ['P', 'p', 'x', 'r', 'R'] {
        assert!(c.key(KeyCode::Char(k)).is_empty());
        assert!(c.app.dialog.is_none());
    }
    c.key(KeyCode::Char(':'));
    c.chars("kill state=running");
    assert!(c.key(KeyCode::Enter).is_empty());
    assert!(c.app.dialog.is_none());
    c.key(KeyCode::Char('A'));
    assert!(c.key(KeyCode::Char('y')).is_empty());
    assert!(c.app.dialog.is_none());
    c.key(KeyCode::Char('?'));
    let help = c.screen(80, 40);
    assert!(!help.contains("pause the whole fleet") && help.contains("read-only console"), "{help}");
}

fn open_browser_session(c: &mut Console) {
    c.key(KeyCode::Char('/'));
    c.chars("browser");
    c.key(KeyCode::Enter);
    let fx = c.key(KeyCode::Enter);
    assert!(matches!(&fx[..], [Effect::LoadTimeline(id)] if id == BROWSER), "{fx:?}");
    assert_eq!(c.app.view, View::Session);
    c.serve(fx);
}

#[test]
fn session_timeline_shows_the_injection_neutralised() {
    let mut c = console();
    open_browser_session(&mut c);
    let screen = c.screen(100, 20);
    insta::assert_snapshot!("session_timeline", screen);
    assert!(
        screen.contains("✘ checkpoint not covered by an audit event at steps 1, 3 (7 events verified)"),
        "{screen}"
    );
    assert!(screen.contains("[prompt_injection +1] browser.open → ^[[2J^[]0;PWNED-TITLE"), "{screen}");
    assert!(screen.contains("[unexpected tool send_email]"), "{screen}");
    // One tool error is not "repeated tool errors".
    assert!(screen.contains("     7    4 02:56:00 error              send_email refused"), "{screen}");
    assert!(screen.contains("operator_action    operator:bob · pause session s-browser-0003"), "{screen}");
}

#[test]
fn session_raw_entry_and_checkpoint_diff() {
    let mut c = console();
    open_browser_session(&mut c);
    // Entries: started, cp1, llm, call, result, cp3?, ... find the tool result.
    let items = c.app.session.as_ref().map(|s| s.items().to_vec()).unwrap_or_default();
    let result_at = items.iter().position(|i| i.kind.label() == "tool_result").expect("tool result");
    for _ in 0..result_at {
        c.key(KeyCode::Down);
    }
    c.key(KeyCode::Char('v'));
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("session_raw", screen);
    assert!(screen.contains("\"output_summary\": \"\\u001b[2J\\u001b]0;PWNED-TITLE\\u0007"), "{screen}");
    assert!(screen.contains("\\u{202E}gnp.exe"));
    c.key(KeyCode::Esc);
    assert_eq!(c.app.view, View::Session, "esc closes the pane first");

    let cp3 = items.iter().rposition(|i| i.kind.label() == "checkpoint").expect("checkpoint");
    c.key(KeyCode::Char('g'));
    for _ in 0..cp3 {
        c.key(KeyCode::Down);
    }
    c.key(KeyCode::Char('d'));
    let screen = c.screen(100, 50);
    insta::assert_snapshot!("session_diff", screen);
    assert!(screen.contains("checkpoint step 1 → 3"), "{screen}");
    assert!(screen.contains("+     \"goal\": \"email all customers\","), "{screen}");
    assert!(screen.contains("-     \"goal\": \"refund policy\","), "{screen}");
}

/// The evil session claims 3 audit events; the log has none: its chain is broken.
fn break_the_evil_chain(c: &Console) {
    let mut evil = c.stores.sessions.session("s-evil-0011").expect("read").expect("exists");
    evil.audit_seq = 3;
    evil.audit_head = Some("ab".repeat(32));
    c.stores.sessions.put_sessions(&[evil]).expect("write");
}

#[test]
fn broken_chain_badge_and_hostile_agent_name_in_full() {
    let mut c = console();
    break_the_evil_chain(&c);
    c.key(KeyCode::Char(':'));
    c.chars("session s-evil-0011");
    let fx = c.key(KeyCode::Enter);
    c.serve(fx);
    let screen = c.screen(100, 10);
    insta::assert_snapshot!("session_broken_chain", screen);
    assert!(screen.contains("✘ chain broken at seq"), "{screen}");
    assert!(screen.contains("evil^[]0;owned^Gbot\\u{202E}exe.txt"), "{screen}");
}

#[test]
fn the_fleet_shows_anomalies_and_a_broken_chain_on_the_row_sorted_most_severe_first() {
    let mut c = console();
    break_the_evil_chain(&c);
    update(&mut c.app, Msg::Snapshot(Box::new(snapshot_of(&c.stores))));
    let found = feed::fleet_anomalies(&c.stores, &Default::default());
    update(&mut c.app, Msg::Anomalies(Box::new(found)));
    c.command("sort anomaly");
    let screen = c.screen(100, 12);
    insta::assert_snapshot!("fleet_by_anomaly", screen);
    let rows: Vec<&str> = screen.lines().skip(3).take(3).collect();
    assert!(rows[0].contains("s-evil-0011") && rows[0].contains("✘ chain broken"), "{screen}");
    assert!(rows[1].contains(BROWSER) && rows[1].contains("⚠ unexpected_tool+2"), "{screen}");
    // `/` finds a rule id, though no column shows it whole.
    c.key(KeyCode::Char('/'));
    c.chars("prompt_injection");
    c.key(KeyCode::Enter);
    assert_eq!(c.app.fleet.selected_id().as_deref(), Some(BROWSER));
    assert_eq!(c.app.fleet.visible.len(), 1);
    c.key(KeyCode::Esc);
    // The selector names rules too.
    c.key(KeyCode::Char('s'));
    c.chars("anomaly=broken_chain");
    c.key(KeyCode::Enter);
    assert_eq!(c.app.fleet.visible.len(), 1, "{:?}", c.app.status);
    assert_eq!(c.app.fleet.selected_id().as_deref(), Some("s-evil-0011"));
}

#[test]
fn a_session_wide_finding_is_named_in_the_session_header() {
    let mut c = console();
    let mut s = c.stores.sessions.session(BROWSER).expect("read").expect("exists");
    s.cost_usd = 90.0; // over a five-minute life: far above $30/hour
    c.stores.sessions.put_sessions(&[s]).expect("write");
    let fx = c.command(&format!("session {BROWSER}"));
    c.serve(fx);
    let screen = c.screen(160, 10);
    assert!(screen.contains("· ⚠ cost_rate: $"), "{screen}");
    assert!(screen.contains("/hour (threshold $30.00)"), "{screen}");
}

#[test]
fn a_failed_judgement_is_said_once_and_the_last_one_stays_on_screen() {
    let mut c = console();
    let status = |c: &Console| c.app.status.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    update(&mut c.app, Msg::Anomalies(Box::new(Err("brokers unreachable".into()))));
    assert_eq!(status(&c), "anomalies not judged: brokers unreachable");
    c.key(KeyCode::Char('o')); // says "sorted by …"
    update(&mut c.app, Msg::Anomalies(Box::new(Err("brokers unreachable".into()))));
    assert!(status(&c).starts_with("sorted by"), "not repeated: {}", status(&c));
    assert!(c.screen(100, 12).contains("⚠ unexpected_tool+2"), "the last judgement stays");
}

#[test]
fn pause_on_an_anomaly_selector_names_the_sessions_that_break_the_rule() {
    let mut c = console();
    let fx = c.command("pause anomaly=unexpected_tool");
    let [Effect::Plan { kind: ActionKind::Pause, target: Target::Sessions(ids) }] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(ids, &vec![BROWSER.to_owned()]);
    c.serve(fx);
    assert!(c.screen(100, 24).contains(&format!("pause session {BROWSER}")), "{}", c.screen(100, 24));
    c.key(KeyCode::Esc);
    let fx = c.command("pause anomaly=cost_rate");
    assert!(fx.is_empty(), "{fx:?}");
    let status = c.app.status.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    assert_eq!(status, "no live session matches anomaly=cost_rate");
}

#[test]
fn ns_shows_one_namespace_and_ns_alone_shows_every_one() {
    let mut c = console();
    c.command("ns genai-staging");
    let screen = c.screen(100, 12);
    assert!(screen.contains("2/11 shown · namespace genai-staging"), "{screen}");
    assert!(screen.contains("s-research-0006") && !screen.contains("s-support-0001"), "{screen}");
    c.command("ns");
    assert_eq!(c.app.fleet.visible.len(), 11);
    assert!(c.app.status.as_ref().is_some_and(|(_, s)| s == "showing every namespace"), "{:?}", c.app.status);
}

#[test]
fn approvals_queue_and_decision_dialog() {
    let mut c = console();
    let fx = c.key(KeyCode::Char('A'));
    assert!(matches!(&fx[..], [Effect::LoadContext(_)]), "{fx:?}");
    c.serve(fx);
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("approvals", screen);
    assert!(screen.contains("a-mail-12") && screen.contains("a-pay-77") && screen.contains("a-crm-31"));
    assert!(screen.contains("1/2"), "approvers so far on the two-person approval");
    assert!(screen.contains("expires in 4m50s"), "{screen}");

    let fx = c.key(KeyCode::Char('G')); // a-pay-77 (next to expire first: crm, mail, pay)
    c.serve(fx);
    let fx = c.key(KeyCode::Up); // a-mail-12
    c.serve(fx);
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("approvals_mail_context", screen);
    assert!(screen.contains("\"body\": \"\\u001b[2J\\u001b]0;PWNED-TITLE\\u0007\\u001b]52;c;"), "{screen}");
    assert!(screen.contains("step   9 approval_requested approval a-mail-12 · high risk · send_email"), "{screen}");
    let fx = c.key(KeyCode::Down); // a-pay-77
    c.serve(fx);
    let fx = c.key(KeyCode::Char('y'));
    let [Effect::PlanDecision { id, verdict: Verdict::Approve }] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(id, "a-pay-77");
    c.serve(fx);
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("approvals_dialog", screen);
    assert!(screen.contains("approve approval a-pay-77 of session s-billing-0004"), "{screen}");
    c.chars("refund confirmed with the customer by phone");
    c.key(KeyCode::Enter);
    let fx = c.key(KeyCode::Enter);
    let [Effect::Execute(action)] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(action.kind, ActionKind::Approve);
    assert_eq!(action.reason, "refund confirmed with the customer by phone");
    // What the store answers (at the fixture's time): the second approver completes it.
    let mut pay = tui_fixture::approvals(now()).remove(1);
    let decision = Decision {
        approver: action.operator.clone(),
        verdict: Verdict::Approve,
        reason: action.reason.clone(),
        at: now(),
    };
    assert_eq!(pay.decide(decision), Ok(ApprovalStatus::Approved));
    update(&mut c.app, Msg::Decided(Ok(Decided { approval: pay, audit_error: None })));
    let status = c.app.status.clone().map(|s| s.1).unwrap_or_default();
    assert_eq!(status, "recorded: approval a-pay-77 is approved (2/2 approvers)");
    assert_eq!(c.app.approvals.items.len(), 2);
}

#[test]
fn marked_and_filtered_approvals_and_one_dialog_for_the_marked_set() {
    let mut c = console();
    let fx = c.key(KeyCode::Char('A'));
    c.serve(fx);
    c.key(KeyCode::Char('s'));
    c.chars("namespace=genai-prod");
    let fx = c.key(KeyCode::Enter);
    c.serve(fx);
    assert_eq!(c.app.approvals.visible.len(), 2, "the billing request is in another namespace");
    let fx = c.key(KeyCode::Char('a'));
    c.serve(fx);
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("approvals_marked_filtered", screen);
    assert!(screen.contains("2/3 shown · selector namespace=genai-prod · 2 marked"), "{screen}");
    let fx = c.key(KeyCode::Char('n'));
    assert!(matches!(&fx[..], [Effect::PlanDecisions { verdict: Verdict::Reject, .. }]), "{fx:?}");
    c.serve(fx);
    let screen = c.screen(100, 30);
    insta::assert_snapshot!("approvals_bulk_dialog", screen);
    // Planned now, long after the fixture's time: both expired, so each is left out, saying why,
    // and there is nothing to confirm (the pseudo-terminal test decides a marked set).
    assert!(screen.contains("cannot reject: nothing to decide"), "{screen}");
    assert!(screen.contains("left out: approval a-mail-12 expired at 2026-11-28T03:08:40"), "{screen}");
    assert!(screen.contains("arguments: {\"body\":\"\\u001b[2J"), "neutralised arguments:\n{screen}");
    assert!(c.key(KeyCode::Enter).is_empty() && c.app.dialog.is_none(), "enter closes it; nothing is decided");
}

#[test]
fn the_session_view_shows_its_pending_approvals() {
    let mut c = console();
    c.key(KeyCode::Char(':'));
    c.chars("session s-billing-0004");
    let fx = c.key(KeyCode::Enter);
    c.serve(fx);
    let screen = c.screen(100, 12);
    insta::assert_snapshot!("session_pending_approvals", screen);
    assert!(screen.contains("? approval a-pay-77 · payments.execute · critical risk · expires in 14m15s"), "{screen}");
}

#[test]
fn replay_steps_and_jumps_to_the_first_anomaly() {
    let mut c = console();
    open_browser_session(&mut c);
    c.key(KeyCode::Char('R'));
    assert_eq!(c.app.view, View::Replay);
    c.key(KeyCode::Right);
    c.key(KeyCode::Right);
    c.key(KeyCode::Left);
    assert_eq!(c.app.replay.as_ref().map(|r| r.pos), Some(1));
    c.key(KeyCode::Char('a'));
    let screen = c.screen(100, 24);
    insta::assert_snapshot!("replay_anomaly", screen);
    assert!(screen.contains("anomalies"), "{screen}");
    let r = c.app.replay.as_ref().expect("replay");
    let data = r.data.as_ref().and_then(|d| d.as_ref().ok()).expect("loaded");
    let current = &data.items[r.current_index().expect("pos")];
    // The injected page is the first anomaly (both of the tool result rules), the call of a
    // tool the session may not use the next.
    assert_eq!(current.anomaly.as_deref(), Some("prompt_injection +1"));
    c.key(KeyCode::Char('a'));
    let r = c.app.replay.as_ref().expect("replay");
    let data = r.data.as_ref().and_then(|d| d.as_ref().ok()).expect("loaded");
    let current = &data.items[r.current_index().expect("pos")];
    assert_eq!(current.anomaly.as_deref(), Some("unexpected tool send_email"));
    c.key(KeyCode::Char('f'));
    c.key(KeyCode::Char(' '));
    c.key(KeyCode::Char('+'));
    let screen = c.screen(100, 24);
    assert!(screen.contains("▶ playing 2×") && screen.contains("kind: llm calls"), "{screen}");
}

#[test]
fn replay_a_time_window_across_sessions() {
    let mut c = console();
    c.key(KeyCode::Char(':'));
    c.chars("replay 4m30s");
    let fx = c.key(KeyCode::Enter);
    assert!(matches!(&fx[..], [Effect::LoadTimeline(id)] if id == "4m30s"), "not a duration: a session id {fx:?}");
    c.key(KeyCode::Esc);
    c.key(KeyCode::Char(':'));
    c.chars("replay 270s");
    let fx = c.key(KeyCode::Enter);
    let [Effect::LoadWindow { since, .. }] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(*since, now() - chrono::Duration::seconds(270));
    c.serve(fx);
    let screen = c.screen(100, 24);
    insta::assert_snapshot!("replay_window", screen);
    // The browser chain starts 300 s ago: its first events are outside the window.
    assert!(screen.contains("replay last 270s · 1/9"), "{screen}");
    assert!(screen.contains("operator:bob · pause session s-browser-0003"), "operator actions are in the window");
    assert!(screen.contains("s-browser-0003 · browser.open"), "{screen}");
    assert!(screen.contains("s-support-0002 · started by agent:support-bot"), "{screen}");
    assert!(!screen.contains("find the refund"), "{screen}");
}

#[test]
fn a_window_replay_reads_a_bounded_number_of_events() {
    let c = console();
    let since = now() - chrono::Duration::seconds(270);
    let all = feed::load_window(&c.stores, since, feed::WINDOW_EVENTS, &Default::default()).expect("window");
    assert!(!all.more && all.items.len() == 9, "the fixture's window is whole: {} events", all.items.len());
    assert!(all.badge().1.starts_with("9 events in the window"), "{}", all.badge().1);
    let cut = feed::load_window(&c.stores, since, 4, &Default::default()).expect("window");
    assert_eq!(cut.items.len(), 4, "no more than the bound is read");
    assert!(cut.more, "the window holds more than was read");
    let (ok, badge) = cut.badge();
    assert!(!ok && badge.contains("only the first 4 events of the window were read"), "{badge}");
    let none = feed::load_window(&c.stores, since, 0, &Default::default()).expect("window");
    assert!(none.items.is_empty() && none.more);
}

#[test]
fn help_is_generated_from_the_keymap() {
    let table: toml::Table = toml::from_str("pause_fleet = \"ctrl-p\"").expect("toml");
    let keymap = Keymap::with_overrides(&table).expect("keymap");
    let mut c = console();
    c.app.keymap = keymap;
    c.key(KeyCode::Char('?'));
    let screen = c.screen(90, 50);
    insta::assert_snapshot!("help", screen);
    assert!(screen.contains("ctrl-p"), "remapped key shows in help");
    assert!(screen.contains("pause the whole fleet (asks to confirm)"));
    // The end of help: every `:` command, from the same table.
    c.key(KeyCode::End);
    let commands = c.screen(90, 50);
    insta::assert_snapshot!("help_commands", commands);
    for word in [":theme NAME", ":ns [NAME]", ":sort [KEY]", ":pause [SELECTOR|all]", ":replay [ID|AGE]"] {
        assert!(commands.contains(word), "{word} is listed");
    }
    c.key(KeyCode::Esc);
    assert_eq!(c.app.view, View::Fleet);
    assert!(c.key(KeyCode::Char('P')).is_empty(), "the old key no longer pauses");
}

#[test]
fn degraded_backend_keeps_the_last_data() {
    let mut c = console();
    update(&mut c.app, Msg::FeedDown { error: "store quell.db: disk I/O error".into(), retry: Duration::from_secs(2) });
    let screen = c.screen(80, 12);
    insta::assert_snapshot!("degraded", screen);
    assert!(screen.contains("backend unavailable: store quell.db: disk I/O error — retrying in 2.0s"), "{screen}");
    assert!(screen.contains("s-billing-0004"), "what was on screen stays");
    update(&mut c.app, Msg::Snapshot(Box::new(snapshot_of(&c.stores))));
    assert!(!c.screen(80, 12).contains("backend unavailable"));
}

#[test]
fn audit_degraded_banner_shows_while_the_audit_log_cannot_be_written_and_clears() {
    let mut c = console();
    let down = "brokers unreachable — audit events cannot be written to Kafka topic 'quell.audit' (brokers \
                127.0.0.1:9092): Meta data fetch error: BrokerTransportFailure (Local: Broker transport failure)";
    update(&mut c.app, Msg::AuditHealth(Err(down.into())));
    let screen = c.screen(100, 12);
    insta::assert_snapshot!("audit_degraded", screen);
    assert!(screen.contains("⚠ audit degraded: brokers unreachable — audit events cannot be written"), "{screen}");
    assert!(screen.contains("s-billing-0004"), "the fleet stays on screen");
    // The backend itself is fine: both banners can show at once, each on its own row.
    update(&mut c.app, Msg::FeedDown { error: "store quell.db: disk I/O error".into(), retry: Duration::from_secs(2) });
    let both = c.screen(100, 12);
    let banner_rows = both.lines().filter(|l| l.starts_with("\" ⚠")).count();
    assert_eq!(banner_rows, 2, "{both}");

    update(&mut c.app, Msg::AuditHealth(Ok(())));
    let screen = c.screen(100, 12);
    assert!(!screen.contains("audit degraded"), "{screen}");
    assert!(screen.contains("audit log writable again"), "recovery is said once: {screen}");
}

#[test]
fn monochrome_still_shows_state() {
    let c = console_with(false, Theme::mono());
    let t = c.render(80, 24);
    let buf = t.backend().buffer();
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset);
        assert_eq!(cell.bg, ratatui::style::Color::Reset);
    }
    let y = row_of(&t, "s-billing-0004").expect("selected row");
    assert!(buf[(3, y)].modifier.contains(Modifier::REVERSED), "the cursor row is reversed");
    let screen = t.backend().to_string();
    for sym in ["▶ running", "‖ paused", "? waiting", "✖ killed", "✔ finished", "! failed"] {
        assert!(screen.contains(sym), "{sym} missing:\n{screen}");
    }
}

#[test]
fn theme_command_switches_theme() {
    let mut c = console();
    c.key(KeyCode::Char(':'));
    c.chars("theme high-contrast");
    let fx = c.key(KeyCode::Enter);
    let [Effect::LoadTheme(name)] = &fx[..] else { panic!("{fx:?}") };
    update(&mut c.app, Msg::Theme(Theme::load(name, None)));
    assert_eq!(c.app.theme.name, "high-contrast");
    let t = c.render(80, 24);
    assert_eq!(t.backend().buffer()[(0, 0)].bg, ratatui::style::Color::White);
}

/// What the feed's kube thread would report: pods for some sessions, and the allowed actions.
fn kube_info(allowed: Vec<ActionKind>) -> KubeInfo {
    let pod = |phase: &str, node: &str, restarts: u64, posture: &str| PodCells {
        phase: phase.into(),
        node: node.into(),
        restarts,
        posture: posture.into(),
    };
    let mut pods = std::collections::HashMap::new();
    pods.insert("s-support-0001".to_string(), pod("Running", "node-a", 0, "ok"));
    pods.insert("s-support-0002".to_string(), pod("Running", "node-a", 2, "ok"));
    pods.insert(BROWSER.to_string(), pod("Running", "node-b", 5, "QUARANTINED !gvisor !caps-dropped"));
    pods.insert("s-crm-0008".to_string(), pod("Pending", "", 0, "!non-root !ro-rootfs"));
    KubeInfo { pods, allowed, warnings: Vec::new() }
}

fn kube_console(allowed: Vec<ActionKind>) -> Console {
    let mut c = console();
    c.app.kube = Some(KubeState::default());
    let fx = update(&mut c.app, Msg::Kube(Box::new(Ok(kube_info(allowed)))));
    assert!(fx.is_empty(), "{fx:?}");
    c
}

const ALL_POD_ACTIONS: [ActionKind; 5] = ActionKind::CLUSTER;

#[test]
fn fleet_with_pod_columns() {
    let c = kube_console(ALL_POD_ACTIONS.to_vec());
    let wide = c.screen(192, 16);
    insta::assert_snapshot!("fleet_kube_192x16", wide);
    for title in ["PHASE", "NODE", "RST", "POSTURE"] {
        assert!(wide.contains(title), "{title} missing:\n{wide}");
    }
    assert!(wide.contains("· 4 pods"), "{wide}");
    let browser = wide.lines().find(|l| l.contains(BROWSER)).unwrap_or_default();
    assert!(browser.contains("node-b") && browser.contains("QUARANTINED !gvisor"), "{browser}");
    let crm = wide.lines().find(|l| l.contains("s-crm-0008")).unwrap_or_default();
    assert!(crm.contains("Pending") && crm.contains("!non-root"), "{crm}");
    // At 80 columns the pod columns are the first to go: the table is the one without kube.
    let narrow = c.screen(80, 24);
    assert!(!narrow.contains("PHASE") && !narrow.contains("POSTURE"), "{narrow}");
    let table = |screen: &str| screen.lines().skip(2).take(21).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(table(&narrow), table(&console().screen(80, 24)));
    // Without a kube context there are no pod columns at any width.
    assert!(!console().screen(170, 16).contains("PHASE"));
}

#[test]
fn viewer_sees_no_kube_actions_and_they_are_refused() {
    let mut c = kube_console(Vec::new());
    let bar = c.screen(170, 16).lines().last().unwrap_or_default().to_owned();
    assert!(bar.contains("pause") && !bar.contains("hard stop") && !bar.contains("quarantine"), "{bar}");
    for k in ['H', 'K', 'Q', 'L', 'U'] {
        assert!(c.key(KeyCode::Char(k)).is_empty(), "{k} must start nothing");
        assert!(c.app.dialog.is_none());
    }
    let status = c.screen(170, 16);
    assert!(status.contains("refused: your Kubernetes role does not allow it"), "{status}");
    c.key(KeyCode::Char('?'));
    let help = c.screen(100, 60);
    assert!(help.contains("pause the whole fleet") && !help.contains("quarantine") && !help.contains("hard stop"));

    // Before the API server answers nothing is offered either.
    let mut waiting = console();
    waiting.app.kube = Some(KubeState::default());
    assert!(waiting.key(KeyCode::Char('Q')).is_empty());
    let screen = waiting.screen(170, 16);
    assert!(screen.contains("still asking the API server") && screen.contains("kube: asking the API server…"));
    update(&mut waiting.app, Msg::Kube(Box::new(Err("connection refused".into()))));
    assert!(waiting.screen(170, 16).contains("kube: connection refused"));
}

#[test]
fn allowed_kube_actions_go_through_the_one_dialog() {
    let mut c = kube_console(vec![ActionKind::Quarantine, ActionKind::Release]);
    let bar = c.screen(170, 16).lines().last().unwrap_or_default().to_owned();
    assert!(bar.contains("quarantine") && !bar.contains("hard stop") && !bar.contains("kill pod"), "{bar}");
    assert!(c.key(KeyCode::Char('H')).is_empty(), "hard stop is not allowed here");
    if let Some(k) = c.app.kube.as_mut() {
        k.operator = Some("kube-admin".into());
    }
    c.key(KeyCode::Char(' '));
    c.key(KeyCode::Char(' '));
    let fx = c.key(KeyCode::Char('Q'));
    match fx.as_slice() {
        [Effect::Plan { kind: ActionKind::Quarantine, target: Target::Sessions(ids) }] => {
            assert_eq!(ids.len(), 2, "the marked rows are the scope: {ids:?}")
        }
        other => panic!("expected one quarantine plan: {other:?}"),
    }
    let d = c.app.dialog.as_ref().expect("the confirm dialog");
    assert_eq!((d.kind, d.focus), (ActionKind::Quarantine, Focus::Cancel));
    assert_eq!(d.operator, "kube-admin", "pod actions are recorded as the kubeconfig user, as in the CLI");
    assert!(c.key(KeyCode::Enter).is_empty(), "enter on Cancel does nothing");
    assert!(c.app.dialog.is_none());

    // The blast-radius hunt: a selector through the command line, same dialog.
    c.key(KeyCode::Char(':'));
    c.chars("quarantine namespace=genai-prod");
    let fx = c.key(KeyCode::Enter);
    assert!(
        matches!(fx.as_slice(), [Effect::Plan { kind: ActionKind::Quarantine, target: Target::Selector(_) }]),
        "{fx:?}"
    );
    assert!(c.app.dialog.as_ref().is_some_and(|d| d.kind == ActionKind::Quarantine && d.focus == Focus::Cancel));
    c.key(KeyCode::Esc);
    c.key(KeyCode::Char(':'));
    c.chars("hard-stop namespace=genai-prod");
    assert!(c.key(KeyCode::Enter).is_empty(), "hard stop is refused on the command line too");
    assert!(c.app.dialog.is_none());
}

#[test]
fn restore_undoes_a_hard_stop_never_a_soft_resume() {
    let mut c = kube_console(ALL_POD_ACTIONS.to_vec());
    let fx = c.key(KeyCode::Char('U'));
    let ids = match fx.as_slice() {
        [Effect::Plan { kind: ActionKind::Restore, target: Target::Sessions(ids) }] => ids.clone(),
        other => panic!("expected a restore plan: {other:?}"),
    };
    // A scope resolved for the soft resume is not what the dialog confirms: refused.
    let soft = control::plan(&c.stores, ActionKind::Resume, &Target::Sessions(ids), "placeholder", "alice")
        .expect("the sessions resolve");
    update(&mut c.app, Msg::Planned(Ok(soft.clone())));
    assert!(c.app.dialog.as_ref().is_some_and(|d| d.scope_text().contains("resolved for resume, not restore")));
    c.key(KeyCode::Esc);
    // The scope as the feed resolves it: a restore of those sessions.
    assert!(matches!(c.key(KeyCode::Char('U')).as_slice(), [Effect::Plan { kind: ActionKind::Restore, .. }]));
    let restore = OperatorAction::new(ActionKind::Restore, soft.scope, "placeholder", "alice").expect("restore");
    update(&mut c.app, Msg::Planned(Ok(restore)));
    c.chars("false alarm");
    assert!(c.key(KeyCode::Enter).is_empty(), "enter in the reason moves to Confirm");
    let fx = c.key(KeyCode::Enter);
    match fx.as_slice() {
        [Effect::Execute(action)] => {
            assert_eq!((action.kind, action.reason.as_str()), (ActionKind::Restore, "false alarm"));
            assert_eq!(action.audit_body("done").attr_str("quell.action"), Some("restore"), "audited as a restore");
        }
        other => panic!("a restore must never run as the soft resume: {other:?}"),
    }
    assert!(c.app.dialog.is_none());
    // The soft resume key after it is a soft resume again.
    assert!(matches!(c.key(KeyCode::Char('r')).as_slice(), [Effect::Plan { kind: ActionKind::Resume, .. }]));
}

#[test]
fn resuming_the_fleet_says_which_sessions_stay_paused_on_their_own() {
    let mut c = console();
    c.stores
        .control
        .set_control(&[ControlTarget::Session("s-billing-0004".into())], Desired::Pause, "bob", "runaway", now())
        .expect("control");
    let fx = c.key(KeyCode::Char('R'));
    c.serve(fx);
    let dialog = c.app.dialog.as_ref().expect("the confirm dialog");
    let text = dialog.scope_text();
    assert!(text.starts_with("resume the whole fleet"), "{text}");
    assert!(text.contains("session s-billing-0004 stays paused: it was paused on its own"), "{text}");
    assert!(text.contains("resume them by name"), "{text}");
    let screen = c.screen(100, 24);
    assert!(screen.contains("s-billing-0004 stays paused"), "{screen}");
}

#[test]
fn after_issuing_the_progress_line_keeps_what_was_issued() {
    let mut c = console();
    let ids = confirm_pause_all(&mut c);
    let issued =
        Issued { generation: 7, desired: Desired::Pause, sessions: ids.clone(), audit_error: None, fleet_hold: None };
    update(&mut c.app, Msg::Executed(Ok(issued)));
    update(
        &mut c.app,
        Msg::Progress { report: Err("redis 127.0.0.1:6379: cannot connect".into()), elapsed: Duration::from_secs(1) },
    );
    let screen = c.screen(220, 24);
    assert!(
        screen.contains("issued at generation 7; acknowledgements unknown: redis 127.0.0.1:6379: cannot connect"),
        "{screen}"
    );
    // The next good read replaces the error.
    let report = AckReport { acknowledged: ids.clone(), outstanding: vec![], ended: vec![] };
    update(&mut c.app, Msg::Progress { report: Ok(report), elapsed: Duration::from_secs(2) });
    let screen = c.screen(220, 24);
    assert!(screen.contains("✔ all 8 acknowledged") && !screen.contains("unknown"), "{screen}");

    // A resume recorded while the fleet hold applies says the sessions stay paused.
    let hold = c
        .stores
        .control
        .set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "INC-4711", now())
        .expect("control");
    let fleet_hold = c.stores.control.fleet_control().expect("read");
    assert_eq!(fleet_hold.as_ref().map(|r| r.generation), Some(hold));
    let issued = Issued { generation: 8, desired: Desired::Run, sessions: ids, audit_error: None, fleet_hold };
    update(&mut c.app, Msg::Executed(Ok(issued)));
    let screen = c.screen(220, 24);
    assert!(screen.contains("but the fleet hold (pause by alice) still applies"), "{screen}");
}

#[test]
fn header_does_not_count_an_approval_that_expired_since_the_last_refresh() {
    let mut c = console();
    assert!(c.screen(130, 16).contains("3 pending approvals"));
    // a-crm-31 expires 290 s after the fixture's time; no new snapshot arrives meanwhile.
    update(&mut c.app, Msg::Tick(now() + chrono::Duration::seconds(300)));
    let screen = c.screen(130, 16);
    assert!(screen.contains("2 pending approvals"), "{screen}");
    update(&mut c.app, Msg::Tick(now() + chrono::Duration::seconds(3600)));
    assert!(!c.screen(130, 16).contains("pending approval"), "all three expired");
}
