// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The console with one bad record of each kind in a real embedded store (planted with
//! rusqlite): the fleet still loads and shows the bad session as an unreadable row, the
//! approvals queue lists the unreadable approval, and the session view shows an event nested
//! 200 levels deep as one unreadable entry with the chain still verified. The reads are the
//! feed's own (`feed::snapshot`, `feed::load_timeline`); the screens are TestBackend renders.

mod tui_fixture;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use quell::interfaces::tui::app::{update, App, Effect, Msg, View};
use quell::interfaces::tui::feed;
use quell::interfaces::tui::keymap::Keymap;
use quell::interfaces::tui::session::{ItemKind, SessionView};
use quell::interfaces::tui::theme::Theme;
use quell::interfaces::tui::view;
use quell::model::audit::{EventBody, EventKind};
use quell::model::untrusted::needs_escape;
use quell::ports::SealedEvent;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tui_fixture::BROWSER;

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::draw(f, app)).expect("draw");
    for cell in t.backend().buffer().content() {
        for c in cell.symbol().chars() {
            assert!(!c.is_control() && !needs_escape(c), "raw {c:?} reached the screen");
        }
    }
    t.backend().to_string()
}

#[test]
fn one_bad_record_of_each_kind_never_blinds_the_console() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let stores = tui_fixture::open_store(dir.path());
    // Times relative to the real clock: the feed reads pending approvals as of now.
    let base = quell::model::time::now();
    tui_fixture::fill_at(&stores, base);
    let raw = rusqlite::Connection::open(dir.path().join("quell.db")).expect("open the store file");
    raw.execute(
        "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc)
         VALUES ('s-broken', 'running', 0, 0, CAST(x'7b22ff' AS TEXT))",
        [],
    )
    .expect("plant a session");
    raw.execute(
        "INSERT INTO approvals (id, session_id, status, requested_us, expires_us, doc)
         VALUES ('a-broken', 's-broken', 'pending', 1, 9223372036854775807, '{\"id\": 7')",
        [],
    )
    .expect("plant an approval");
    let mut deep = serde_json::json!("bottom");
    for _ in 0..200 {
        deep = serde_json::json!([deep]);
    }
    let tail = stores.audit.tail(BROWSER).expect("tail").expect("the browser chain");
    let body = EventBody::new(BROWSER, 9, EventKind::ToolResult, "agent:browser").attr("page", deep);
    stores.audit.append(&[SealedEvent::seal(body, &tail).expect("seal")]).expect("append");

    // The fleet: the feed's read works, and the bad row is one row among the others.
    let snapshot = feed::snapshot(&stores).expect("the fleet loads whatever one row holds");
    let mut app = App::new("alice", false, Keymap::default(), Theme::dark(), base);
    update(&mut app, Msg::Snapshot(Box::new(snapshot)));
    let fleet = screen(&app, 120, 30);
    assert!(fleet.contains("12 sessions"), "the fixture's 11 and the bad one: {fleet}");
    assert!(fleet.contains("?1 unreadable"), "counted apart from the states: {fleet}");
    assert_eq!(app.fleet.counts.iter().map(|c| c.1).sum::<usize>(), 11, "{:?}", app.fleet.counts);
    let row = fleet.lines().find(|l| l.contains("s-broken")).unwrap_or_else(|| panic!("{fleet}"));
    assert!(row.contains("? unreada"), "a state of its own (cut to the column): {row}");
    assert!(!row.contains("~ ") && !row.contains("20"), "no placeholder state or age: {row}");
    assert!(fleet.contains(BROWSER), "{fleet}");
    assert!(app.degraded.is_none(), "not shown as backend unavailable");

    // The approvals queue lists it; its detail says why and that it cannot be decided.
    update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Char('A'), KeyModifiers::NONE)));
    assert_eq!(app.view, View::Approvals);
    let at = app.approvals.items.iter().position(|a| a.id == "a-broken").expect("listed");
    assert!(app.approvals.items.len() >= 4, "the fixture's approvals are listed too");
    app.approvals.selected = at;
    let queue = screen(&app, 120, 30);
    let row = queue.lines().find(|l| l.contains("a-broken")).unwrap_or_else(|| panic!("{queue}"));
    assert!(row.contains("unreadable"), "{row}");
    assert!(queue.contains("approval a-broken is unreadable: approval record is not readable"), "{queue}");
    assert!(queue.contains("cannot be decided"), "{queue}");
    // Approving it is refused when the action is planned, before anything could be confirmed.
    let fx = update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    let Some(Effect::PlanDecision { id, verdict }) = fx.into_iter().next() else { panic!("a plan is asked for") };
    assert_eq!(id, "a-broken");
    let planned = quell::services::approvals::plan(&stores, &id, verdict, "placeholder", "alice");
    let refusal = planned.as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(refusal.contains("approval a-broken cannot be decided: its stored record is unreadable"), "{refusal}");
    update(&mut app, Msg::Planned(planned.map_err(|e| e.to_string())));
    let dialog = screen(&app, 120, 30);
    assert!(dialog.contains("cannot be decided"), "the refusal is shown: {dialog}");
    update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));

    // The session view: the deep event is one unreadable entry, the chain is verified.
    let data = feed::load_timeline(&stores, BROWSER, &Default::default()).expect("the timeline loads");
    let unreadable: Vec<_> = data.items.iter().filter(|i| i.kind == ItemKind::Unreadable).collect();
    assert_eq!(unreadable.len(), 1, "{:?}", data.items);
    assert_eq!((unreadable[0].seq, unreadable[0].step), (Some(8), 9));
    assert!(data.items.iter().filter(|i| matches!(i.kind, ItemKind::Event(_))).count() >= 7);
    app.session = Some(SessionView::new(BROWSER));
    app.view = View::Session;
    update(&mut app, Msg::Timeline { id: BROWSER.into(), data: Box::new(Ok(data)) });
    let session = screen(&app, 120, 30);
    // The fixture's checkpoints have no covering events (said so); the 8 events verify.
    assert!(session.contains("(8 events verified)"), "{session}");
    assert!(session.contains("[unreadable: nested deeper than 128 levels]"), "{session}");
}
