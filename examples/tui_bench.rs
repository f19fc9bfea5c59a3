// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Console benchmark: 100,000 sessions on the embedded store.
//!
//! ```text
//! cargo run --release --example tui_bench                 # 100,000 sessions, 160×48
//! cargo run --release --example tui_bench -- 20000 120 40  # sessions, columns, rows
//! cargo run --release --example tui_bench -- console PATH  # the real console on a store
//! ```
//!
//! Prints, for the console's own code paths (the same `update` and `view::draw` the binary
//! runs, drawn through crossterm into a sink so escape-sequence encoding is included):
//! median and p99 frame time, keypress-to-frame for navigation, sort and filter keys, start
//! to first frame on the embedded store, resident memory; and the ratio against a naive
//! console that builds every row of the table each frame (what tokio-console and k9s do).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use quell::adapters::embedded::EmbeddedStore;
use quell::interfaces::tui::app::{update, App, Msg};
use quell::interfaces::tui::keymap::Keymap;
use quell::interfaces::tui::theme::Theme;
use quell::interfaces::tui::{feed, view, TuiOptions};
use quell::model::session::{Session, SessionState};
use quell::model::time;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Row, Table};
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::Sink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Term = Terminal<CrosstermBackend<Sink>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("console") => console(args.get(1).map(PathBuf::from)),
        Some("fill") => fill_cmd(&args[1..]),
        _ => bench(&args),
    };
    std::process::exit(code);
}

fn console(path: Option<PathBuf>) -> i32 {
    let Some(path) = path else {
        eprintln!("usage: tui_bench console STORE");
        return 2;
    };
    let stores = match EmbeddedStore::open(&path) {
        Ok(s) => s.stores(),
        Err(e) => {
            eprintln!("tui_bench: {e}");
            return 6;
        }
    };
    let opts = TuiOptions { operator: std::env::var("USER").unwrap_or_default(), ..TuiOptions::default() };
    match quell::interfaces::tui::run(stores, opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tui_bench: {e}");
            1
        }
    }
}

fn fill_cmd(args: &[String]) -> i32 {
    let (Some(path), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: tui_bench fill STORE N");
        return 2;
    };
    match fill(Path::new(path), n) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tui_bench: {e}");
            1
        }
    }
}

/// A fleet shaped like the seed's: many namespaces, mostly running, some paused or waiting.
fn fill(path: &Path, n: usize) -> Result<(), String> {
    let stores = EmbeddedStore::open(path).map_err(|e| e.to_string())?.stores();
    let now = time::now();
    let states = [
        SessionState::Running,
        SessionState::Running,
        SessionState::Running,
        SessionState::Running,
        SessionState::Paused,
        SessionState::WaitingApproval,
        SessionState::Finished,
        SessionState::Failed,
    ];
    let agents = ["support-bot", "browser-agent", "billing-agent", "research-agent", "crm-sync"];
    let models = ["gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4", "o3"];
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n {
        let mut s = Session::new(format!("s-{i:07}"), agents[i % agents.len()], now);
        s.namespace = Some(format!("genai-team-{:02}", i % 40).into());
        s.pod = Some(format!("agent-runtime-{}", i % 500).into());
        s.model = Some(models[i % models.len()].into());
        s.state = states[(i * 7) % states.len()];
        s.step = (i % 97) as u64;
        s.input_tokens = (i % 5000) as u64 * 31;
        s.output_tokens = (i % 700) as u64 * 11;
        s.cost_usd = (i % 1000) as f64 * 0.0031;
        s.tools = vec!["search".into(), "send_email".into()];
        batch.push(s);
        if batch.len() == 5000 {
            stores.sessions.put_sessions(&batch).map_err(|e| e.to_string())?;
            batch.clear();
        }
    }
    stores.sessions.put_sessions(&batch).map_err(|e| e.to_string())
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn terminal(w: u16, h: u16) -> Term {
    let opts = TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, w, h)) };
    match Terminal::with_options(CrosstermBackend::new(std::io::sink()), opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tui_bench: cannot make a terminal: {e}");
            std::process::exit(1);
        }
    }
}

fn draw(t: &mut Term, app: &App) -> Duration {
    let started = Instant::now();
    if let Err(e) = t.draw(|f| view::draw(f, app)) {
        eprintln!("tui_bench: draw failed: {e}");
        std::process::exit(1);
    }
    started.elapsed()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn bench(args: &[String]) -> i32 {
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let w: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(160);
    let h: u16 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(48);
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tui_bench: {e}");
            return 1;
        }
    };
    let path = dir.join("bench.db");
    // Fill in a child process so its memory does not count against the console's.
    let fill_started = Instant::now();
    let status = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).arg("fill").arg(&path).arg(n.to_string()).status());
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("tui_bench: filling the store failed");
        return 1;
    }
    println!(
        "console benchmark: {n} sessions, {w}×{h}, embedded store ({:.1}s to fill)",
        fill_started.elapsed().as_secs_f64()
    );

    // Start to first frame: open the store, first (empty) frame, then the first frame with data.
    let started = Instant::now();
    let stores = match EmbeddedStore::open(&path) {
        Ok(s) => s.stores(),
        Err(e) => {
            eprintln!("tui_bench: {e}");
            return 1;
        }
    };
    let mut app = App::new("bench", false, Keymap::default(), Theme::dark(), time::now());
    app.size = (w, h);
    let mut term = terminal(w, h);
    draw(&mut term, &app);
    let first_frame = started.elapsed();
    let snapshot = match feed::snapshot(&stores) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tui_bench: {e}");
            return 1;
        }
    };
    let read = started.elapsed() - first_frame;
    let apply_started = Instant::now();
    update(&mut app, Msg::Snapshot(Box::new(snapshot)));
    let apply = apply_started.elapsed();
    draw(&mut term, &app);
    let first_data = started.elapsed();

    // Steady frames: the clock ticks and the cursor moves; every frame is redrawn.
    let mut frames = Vec::new();
    for i in 0..300 {
        update(&mut app, key(if i % 50 < 25 { KeyCode::Down } else { KeyCode::Up }));
        frames.push(draw(&mut term, &app));
    }
    let (frame_med, frame_p99) = stats(frames);

    // Keypress to frame for the keys an operator presses.
    let mut results = Vec::new();
    let cases: Vec<(&str, Vec<Msg>)> = vec![
        ("j (down)", vec![key(KeyCode::Char('j'))]),
        ("pgdn", vec![key(KeyCode::PageDown)]),
        ("G (last row)", vec![key(KeyCode::Char('G'))]),
        ("o (sort by next column)", vec![key(KeyCode::Char('o'))]),
        ("/ then a letter (live filter)", vec![key(KeyCode::Char('/')), key(KeyCode::Char('7'))]),
        ("enter (open session)", vec![key(KeyCode::Enter)]),
    ];
    for (name, msgs) in cases {
        let mut v = Vec::new();
        for _ in 0..20 {
            let t0 = Instant::now();
            for m in msgs.iter().map(clone_key) {
                update(&mut app, m);
            }
            draw(&mut term, &app);
            v.push(t0.elapsed());
            // Undo what the key did so every round measures the same thing.
            update(&mut app, key(KeyCode::Esc));
            if name.starts_with('/') {
                update(&mut app, key(KeyCode::Esc));
            }
        }
        results.push((name, stats(v)));
    }
    let rss = rss_mb();
    let pty = match pty_bench(&path, w, h) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("tui_bench: pty measurement skipped: {e}");
            None
        }
    };

    // The naive console: every row of the table built on every frame.
    let naive = naive_frame(&app, w, h);

    println!();
    println!("| measure | result | goal |");
    println!("| --- | --- | --- |");
    println!("| start to first frame (store opened, loading screen) | {} | ≤ 150 ms |", ms(first_frame));
    println!(
        "| start to first frame with all {n} sessions | {} | (read {} on the feed thread, apply {}) |",
        ms(first_data),
        ms(read),
        ms(apply)
    );
    println!("| median frame | {} (p99 {}) | ≤ 16 ms |", ms(frame_med), ms(frame_p99));
    for (name, (med, p99)) in &results {
        println!("| keypress to frame: {name} | {} (p99 {}) | ≤ 50 ms |", ms(*med), ms(*p99));
    }
    println!("| resident memory after load (this process) | {rss:.0} MB | ≤ 250 MB |");
    if let Some(p) = pty {
        println!("| real console in a pty: process start to first frame | {} | ≤ 150 ms |", ms(p.first_frame));
        println!("| real console in a pty: process start to first row of data | {} | — |", ms(p.first_row));
        println!(
            "| real console in a pty: keypress `j` to the cursor moving on screen | {} (p99 {}) | ≤ 50 ms |",
            ms(p.key_med),
            ms(p.key_p99)
        );
        println!("| real console in a pty: resident memory | {:.0} MB | ≤ 250 MB |", p.rss_mb);
    }
    println!(
        "| naive frame (all {n} rows built) | {} | ratio {:.0}× slower than visible-rows-only |",
        ms(naive),
        naive.as_secs_f64() / frame_med.as_secs_f64().max(1e-9)
    );
    drop(stores);
    let _ = std::fs::remove_dir_all(&dir);
    0
}

fn clone_key(m: &Msg) -> Msg {
    match m {
        Msg::Key(k) => Msg::Key(*k),
        _ => key(KeyCode::Null),
    }
}

/// What a console that builds every row does each frame (the table widget then shows a window).
fn naive_frame(app: &App, w: u16, h: u16) -> Duration {
    let mut term = terminal(w, h);
    let mut v = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let rows: Vec<Row> = app
            .fleet
            .visible
            .iter()
            .filter_map(|&i| app.fleet.rows.get(i as usize))
            .map(|r| {
                Row::new(vec![
                    r.id.clone(),
                    r.agent.clone(),
                    r.place.clone(),
                    r.model.clone(),
                    r.state.as_str().to_owned(),
                    r.session.step.to_string(),
                    time::age(&r.session.last_seen, &app.now),
                ])
            })
            .collect();
        let widths = [Constraint::Length(16); 7];
        let _ = term.draw(|f| f.render_widget(Table::new(rows, widths), f.area()));
        v.push(t0.elapsed());
    }
    stats(v).0
}

struct PtyResult {
    first_frame: Duration,
    first_row: Duration,
    key_med: Duration,
    key_p99: Duration,
    rss_mb: f64,
}

/// The real console (`run`, as `quell` calls it) in a pseudo-terminal, read back with vt100.
fn pty_bench(store: &Path, w: u16, h: u16) -> Result<PtyResult, String> {
    use portable_pty::{native_pty_system, CommandBuilder, PtySize};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let pair = native_pty_system()
        .openpty(PtySize { rows: h, cols: w, pixel_width: 0, pixel_height: 0 })
        .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = CommandBuilder::new(exe);
    cmd.arg("console");
    cmd.arg(store);
    cmd.env("TERM", "xterm-256color");
    let started = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).map_err(|e| e.to_string())?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().map_err(|e| e.to_string())?;
    let mut writer = pair.master.take_writer().map_err(|e| e.to_string())?;
    let parser = Arc::new(Mutex::new(vt100::Parser::new(h, w, 0)));
    {
        let parser = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = parser.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
    }
    let wait = |what: &dyn Fn(&vt100::Screen) -> bool| -> Result<Duration, String> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if parser.lock().map(|p| what(p.screen())).unwrap_or(false) {
                return Ok(t0.elapsed());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Err("timed out waiting for the screen".into())
    };
    wait(&|s| s.contents().contains("quell ·")).map_err(|e| format!("first frame: {e}"))?;
    let first_frame = started.elapsed();
    wait(&|s| s.contents().contains("s-0000000")).map_err(|e| format!("first row: {e}"))?;
    let first_row = started.elapsed();
    // The cursor row is the one drawn with a background colour.
    let cursor =
        |s: &vt100::Screen| (3..h).find(|&r| s.cell(r, 5).is_some_and(|c| c.bgcolor() != vt100::Color::Default));
    let mut times = Vec::new();
    for i in 0..40u16 {
        let expected = if i % 20 < 10 { 4 + (i % 20) } else { 22 - (i % 20) };
        let key = if i % 20 < 10 { b"j" } else { b"k" };
        let t0 = Instant::now();
        writer.write_all(key).map_err(|e| e.to_string())?;
        writer.flush().map_err(|e| e.to_string())?;
        wait(&|s| cursor(s) == Some(expected)).map_err(|e| {
            let at = parser.lock().ok().and_then(|p| cursor(p.screen()));
            format!("cursor to row {expected} (at {at:?}): {e}")
        })?;
        times.push(t0.elapsed());
    }
    let rss_mb = child
        .process_id()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN);
    let _ = writer.write_all(b"q");
    let _ = writer.flush();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let (key_med, key_p99) = stats(times);
    Ok(PtyResult { first_frame, first_row, key_med, key_p99, rss_mb })
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("quell-tui-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
