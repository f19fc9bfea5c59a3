//! The incident console (ratatui + crossterm), in the Elm style:
//!
//! - [`feed`] threads read the backend and carry out effects, sending [`app::Msg`]s;
//! - [`app::update`] turns each message into new state and effects, with no I/O;
//! - [`view::draw`] draws the state on a frame tick, only when something changed, building only
//!   the visible rows;
//! - [`terminal`] guarantees the terminal is restored on quit, panic and termination signals.
//!
//! Destructive actions all pass through [`confirm::ConfirmDialog`]; agent text is shown only
//! through the sanitiser in `model::untrusted`.

pub mod app;
pub mod cluster;
pub mod confirm;
pub mod feed;
pub mod fleet;
pub mod keymap;
pub mod queue;
pub mod replay;
pub mod session;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod view;
pub mod views;

use crate::model::time;
use crate::ports::Stores;
use app::{update, App, Effect, Msg};
use crossterm::event::{self, Event};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the console is opened. `Default` is an interactive console for operator "operator".
#[derive(Clone, Debug, Default)]
pub struct TuiOptions {
    /// Who is acting: written to the audit log with every action.
    pub operator: String,
    /// Hide and refuse every action.
    pub readonly: bool,
    /// Theme name: a file `NAME.toml` in `theme_dir`, or a built-in (dark, light, high-contrast,
    /// colorblind). `None`: dark.
    pub theme: Option<String>,
    pub theme_dir: Option<PathBuf>,
    /// The config file's `[keys]` table: command name → key or list of keys.
    pub keys: toml::Table,
    /// Monochrome. The `NO_COLOR` environment variable (non-empty) also turns it on.
    pub no_color: bool,
    /// A Kubernetes context is configured: pod columns and the pod actions the user may take.
    pub kube: Option<cluster::TuiKube>,
    /// A kube context is configured but could not be used: the console opens without pods and
    /// actions and says why.
    pub kube_error: Option<String>,
    /// The console runs the demo's simulated fleet (`quell demo`): quitting stops it, so it asks.
    pub demo: bool,
    /// A line shown on the status line when the console opens (e.g. what it does not show).
    pub notice: Option<String>,
    /// The anomaly rules' thresholds and pinned models (the config file's `[anomaly]`).
    pub rules: crate::model::anomaly::Rules,
}

/// Frames are drawn at most this often, and only when something changed.
pub const FRAME: Duration = Duration::from_millis(16);
/// How often the clock message is sent (ages, countdowns, replay playback).
const CLOCK: Duration = Duration::from_millis(100);

/// Builds the initial state from the options (keymap, theme); errors are one line.
pub fn initial_state(opts: &TuiOptions) -> Result<App, String> {
    state_for(opts, std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
}

fn state_for(opts: &TuiOptions, no_color_env: bool) -> Result<App, String> {
    let keymap = keymap::Keymap::with_overrides(&opts.keys)?;
    let no_color = opts.no_color || no_color_env;
    let theme = if no_color {
        theme::Theme::mono()
    } else {
        theme::Theme::load(opts.theme.as_deref().unwrap_or("dark"), opts.theme_dir.as_deref())?
    };
    let operator = if opts.operator.trim().is_empty() { "operator" } else { opts.operator.trim() };
    let mut app = App::new(operator, opts.readonly, keymap, theme, time::now());
    app.no_color = no_color;
    app.demo = opts.demo;
    if let Some(n) = &opts.notice {
        app.status = Some((app::Level::Info, crate::model::untrusted::Untrusted::new(n.as_str()).shown_line()));
    }
    if let Some(k) = &opts.kube {
        let operator =
            k.operator.as_deref().map(str::trim).filter(|o| !o.is_empty() && !o.chars().any(char::is_control));
        app.kube = Some(cluster::KubeState { operator: operator.map(str::to_owned), ..cluster::KubeState::default() });
    } else if let Some(e) = &opts.kube_error {
        let error = Some(crate::model::untrusted::Untrusted::new(e.as_str()).shown_line());
        app.kube = Some(cluster::KubeState { error, ..cluster::KubeState::default() });
    }
    Ok(app)
}

/// Opens the console on `stores` until the operator quits. Returns the exit code: 0 on quit,
/// 128 + N when signal N ended it.
pub fn run(stores: Stores, opts: TuiOptions) -> io::Result<i32> {
    let mut app = initial_state(&opts).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let (tx, rx) = mpsc::channel();
    let feed = feed::start(
        stores,
        tx.clone(),
        app.operator.clone(),
        opts.theme_dir.clone(),
        opts.kube.clone(),
        opts.rules.clone(),
    )?;
    let signals = terminal::Signals::register()?;
    let guard = terminal::TerminalGuard::enter()?;
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input(tx, stop.clone())?;
    let result = main_loop(&mut app, &rx, &feed, &signals);
    stop.store(true, Ordering::SeqCst);
    drop(guard);
    result
}

fn main_loop(
    app: &mut App,
    rx: &mpsc::Receiver<Msg>,
    feed: &feed::Feed,
    signals: &terminal::Signals,
) -> io::Result<i32> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let size = terminal.size()?;
    app.size = (size.width, size.height);
    let mut last_draw = Instant::now() - FRAME;
    let mut last_clock = Instant::now();
    loop {
        let next_draw = if app.dirty { last_draw + FRAME } else { Instant::now() + CLOCK };
        let wait = next_draw.min(last_clock + CLOCK).saturating_duration_since(Instant::now());
        let mut msgs = Vec::new();
        match rx.recv_timeout(wait) {
            Ok(m) => msgs.push(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(0),
        }
        msgs.extend(rx.try_iter().take(256));
        if last_clock.elapsed() >= CLOCK {
            last_clock = Instant::now();
            msgs.push(Msg::Tick(time::now()));
        }
        for m in msgs {
            for effect in update(app, m) {
                match effect {
                    Effect::Copy(seq) => {
                        let out = terminal.backend_mut();
                        out.write_all(seq.as_bytes())?;
                        out.flush()?;
                    }
                    other => feed.run(other),
                }
            }
        }
        if let Some(sig) = signals.pending() {
            return Ok(128 + sig);
        }
        if app.quit {
            return Ok(0);
        }
        if app.dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|f| view::draw(f, app))?;
            app.dirty = false;
            last_draw = Instant::now();
        }
    }
}

fn spawn_input(tx: Sender<Msg>, stop: Arc<AtomicBool>) -> io::Result<()> {
    std::thread::Builder::new().name("quell-input".into()).spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let msg = match event::read() {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_build_the_initial_state_or_say_why() {
        let app = state_for(&TuiOptions { no_color: true, readonly: true, ..TuiOptions::default() }, false).unwrap();
        assert!(app.theme.mono && app.no_color && app.operator.is_read_only());
        assert_eq!(app.operator.name(), "operator", "an empty operator name is never written to the audit log");
        let opts = TuiOptions { theme: Some("light".into()), operator: " alice ".into(), ..TuiOptions::default() };
        let app = state_for(&opts, false).unwrap();
        assert_eq!((app.theme.name.as_str(), app.operator.name()), ("light", "alice"));
        let keys: toml::Table = toml::from_str("kill = \"q\"").unwrap();
        let err = state_for(&TuiOptions { keys, ..TuiOptions::default() }, false).err().unwrap_or_default();
        assert!(err.contains("bound to both"), "{err}");
        assert!(state_for(&TuiOptions::default(), true).unwrap().theme.mono, "NO_COLOR in the environment");
        let err = state_for(&TuiOptions { theme: Some("neon".into()), ..TuiOptions::default() }, false).err();
        assert!(err.unwrap_or_default().contains("no theme 'neon'"));
        let opts = TuiOptions {
            kube_error: Some("kubeconfig: no context named \"x\"\u{1b}[2J".into()),
            ..TuiOptions::default()
        };
        let kube = state_for(&opts, false).unwrap().kube.unwrap_or_default();
        assert!(kube.info.is_none(), "no pod action is offered without a cluster");
        assert!(kube.summary().contains("no context named \"x\"^["), "{}", kube.summary());
        assert!(state_for(&TuiOptions::default(), false).unwrap().kube.is_none(), "no kube: no pod columns");
    }

    #[test]
    fn a_notice_is_on_the_status_line_when_the_console_opens() {
        let opts = TuiOptions { notice: Some("spans not shown\u{1b}[2J".into()), ..TuiOptions::default() };
        let app = state_for(&opts, false).unwrap();
        let (_, line) = app.status.unwrap_or((app::Level::Error, String::new()));
        assert_eq!(line, "spans not shown^[[2J");
        assert!(state_for(&TuiOptions::default(), false).unwrap().status.is_none());
    }
}
