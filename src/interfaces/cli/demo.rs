//! `quell demo`: the simulated fleet on the configured store, with the console or a one-line
//! live summary.

use super::config;
use super::context::Context;
use super::outcome::{exit, CliResult, Failure};
use super::table;
use crate::agent::sim::{Fleet, FleetConfig};
use crate::model::session::SessionState;
use crate::model::time;
use crate::model::untrusted::{neutralize, Lines};
use crate::ports::Stores;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

pub struct DemoOptions {
    pub agents: usize,
    pub headless: bool,
    pub duration: Option<u64>,
    pub step_ms: String,
    pub steps: u64,
    /// `--approval-ttl` as typed; else `QUELL_DEMO_APPROVAL_TTL`, the config file, 10 minutes.
    pub approval_ttl: Option<String>,
}

/// How long the simulated agents' approvals wait when nothing says otherwise: long enough for a
/// person to find and decide them.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(600);

/// The demo's approval expiry: `--approval-ttl` > `QUELL_DEMO_APPROVAL_TTL` > `approval_ttl` in
/// the config file's `[demo]` > 10 minutes. Seconds or a duration text (`90s`, `10m`, `1h`),
/// from 1 s to 1 day; anything else is a usage error naming where it came from.
pub fn approval_ttl(flag: Option<&str>, file: Option<&config::Seconds>) -> Result<Duration, Failure> {
    let env = match std::env::var(TTL_ENV) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(Failure::usage(format!("{TTL_ENV} is not valid UTF-8"))),
    };
    resolve_ttl(flag, env, file)
}

const TTL_ENV: &str = "QUELL_DEMO_APPROVAL_TTL";

fn resolve_ttl(flag: Option<&str>, env: Option<String>, file: Option<&config::Seconds>) -> Result<Duration, Failure> {
    const ENV: &str = TTL_ENV;
    let (text, source) = match (flag, env, file) {
        (Some(f), _, _) => (f.to_owned(), "--approval-ttl"),
        (None, Some(e), _) => (e, ENV),
        (None, None, Some(config::Seconds::Number(n))) => (n.to_string(), "approval_ttl in the config file's [demo]"),
        (None, None, Some(config::Seconds::Text(t))) => (t.clone(), "approval_ttl in the config file's [demo]"),
        (None, None, None) => return Ok(DEFAULT_APPROVAL_TTL),
    };
    let text = text.trim();
    let seconds = match text.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => time::parse_duration(text).map(|d| d.num_seconds()),
    };
    match seconds {
        Some(n @ 1..=86_400) => Ok(Duration::from_secs(n.unsigned_abs())),
        _ => Err(Failure::usage(format!(
            "{source}: expected seconds or a duration from 1s to 1d (90s, 10m, 1h), got '{}'",
            crate::model::untrusted::Untrusted::new(text).shown_line()
        ))),
    }
}

fn parse_range(text: &str) -> Result<(u64, u64), Failure> {
    let bad = || Failure::usage(format!("--step-ms: expected MIN-MAX in milliseconds, e.g. 700-2500, got {text:?}"));
    let (lo, hi) = text.split_once('-').ok_or_else(bad)?;
    let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u64 = hi.trim().parse().map_err(|_| bad())?;
    if lo > hi || hi > 600_000 {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// One line: what the fleet is doing now.
pub fn summary(stores: &Stores, started: Instant) -> Result<String, Failure> {
    let now = time::now();
    let sessions = stores.sessions.sessions()?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut events = 0u64;
    for s in &sessions {
        *counts.entry(s.effective_state(now).as_str()).or_default() += 1;
        events += s.audit_seq;
    }
    let pending = stores.approvals.approvals(true, now)?.len();
    let fleet_pause = stores
        .control
        .fleet_control()?
        .filter(|r| r.desired == crate::model::control::Desired::Pause)
        .map(|r| format!(" | FLEET PAUSED by {} ({})", r.operator, r.reason))
        .unwrap_or_default();
    let states: Vec<String> = SessionState::ALL
        .iter()
        .map(|s| format!("{} {}", s.as_str(), counts.get(s.as_str()).copied().unwrap_or(0)))
        .collect();
    Ok(format!(
        "t={}s sessions {} | {} | pending approvals {} | audit events {}{}",
        started.elapsed().as_secs(),
        sessions.len(),
        states.join(" "),
        pending,
        table::thousands(events),
        crate::model::untrusted::neutralize(&fleet_pause, crate::model::untrusted::Lines::Escape)
    ))
}

pub fn run(ctx: &mut Context, opts: DemoOptions, out: &mut dyn Write) -> CliResult {
    if opts.agents == 0 || opts.agents > 100_000 {
        return Err(Failure::usage("--agents takes 1 to 100000"));
    }
    let step_ms = parse_range(&opts.step_ms)?;
    let approval_ttl = approval_ttl(opts.approval_ttl.as_deref(), ctx.demo.approval_ttl.as_ref())?;
    if !opts.headless && console_available() {
        console_options(ctx)?;
    }
    let stores = ctx.stores()?;
    let config = FleetConfig {
        agents: opts.agents,
        step_ms,
        max_steps: (opts.steps > 0).then_some(opts.steps),
        approval_ttl,
        workers: 2,
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(stores.clone(), config)?;
    writeln!(
        out,
        "{}",
        crate::shown!(
            "demo: {} simulated agents on {} (approvals expire after {}; {})",
            opts.agents,
            ctx.store_path.display(),
            ttl_words(approval_ttl),
            if ctx.operator.name().is_empty() {
                "no operator identity".to_owned()
            } else {
                format!("operator {}", ctx.operator)
            }
        )
    )?;
    out.flush()?;
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + Duration::from_secs(d));
    let code = if opts.headless || !console_available() {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            writeln!(out, "{}", summary(&stores, started)?)?;
            out.flush()?;
            // A store that stops taking writes (a full disk) ends the demo at once, saying so.
            if let Some(trouble) = fleet.write_trouble() {
                let line = format!("quell: writes to the store fail, stopping the demo: {trouble}");
                let _ = writeln!(std::io::stderr(), "{}", neutralize(&line, Lines::Escape));
                break exit::UNAVAILABLE;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break exit::OK;
            }
        }
    } else {
        open_console(ctx, stores.clone(), true)?
    };
    let stats = fleet.stop()?;
    if let Some(first) = stats.errors.first() {
        writeln!(out, "{}", crate::shown!("demo: {} agent errors, first: {}", stats.errors.len(), first))?;
    }
    Ok(code)
}

/// "10m", "90s", "1h30m".
fn ttl_words(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn console_available() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// The console's options; a theme or key binding that does not exist is a usage error
/// (exit 2), found before anything starts.
fn console_options(ctx: &Context) -> Result<crate::interfaces::tui::TuiOptions, Failure> {
    let opts = crate::interfaces::tui::TuiOptions {
        operator: ctx.operator.name().to_owned(),
        readonly: ctx.operator.is_read_only(),
        theme: ctx.theme.clone(),
        theme_dir: super::config::default_config().and_then(|c| c.parent().map(|d| d.join("themes"))),
        keys: ctx.keys.clone().unwrap_or_default(),
        no_color: false,
        kube: None,
        kube_error: None,
        demo: false,
        // Span-derived sessions (--otlp-topic, --otlp-file) are not in the console's views yet:
        // said, not silently left out.
        notice: (!ctx.span_sources.is_empty()).then(|| {
            "sessions from OpenTelemetry spans are not shown in the console: see `quell sessions`, `quell show`"
                .to_owned()
        }),
        rules: ctx.rules.clone(),
    };
    crate::interfaces::tui::initial_state(&opts).map_err(Failure::usage)?;
    Ok(opts)
}

/// `demo`: the console runs the simulated fleet, which stops when it quits (so quitting asks).
fn open_console(ctx: &mut Context, stores: Stores, demo: bool) -> CliResult {
    let mut opts = console_options(ctx)?;
    opts.demo = demo;
    if !console_available() {
        return Err(Failure::usage("the console needs a terminal; run a command instead (see quell --help)"));
    }
    // A console that may act must be able to say who acted; a read-only one never acts.
    if matches!(ctx.operator.acting(), Err(crate::model::operator::CannotAct::NoIdentity)) {
        return Err(Failure::usage(format!(
            "the console takes actions: {} (or open it with --readonly)",
            super::outcome::NO_IDENTITY
        )));
    }
    // Pod columns and pod actions when a kube context is configured (connecting makes no request).
    // A bad kubeconfig does not keep the console closed: it opens and says why.
    let (mut kube, mut kube_error) = (None, None);
    if ctx.kube.configured {
        match ctx.cluster() {
            Ok(client) => {
                let operator = Some(ctx.cluster_operator(&client));
                let selector = ctx.kube.selector.clone();
                kube = Some(crate::interfaces::tui::cluster::TuiKube { client, selector, operator });
            }
            Err(f) => kube_error = Some(f.message),
        }
    }
    opts.kube = kube;
    opts.kube_error = kube_error;
    Ok(crate::interfaces::tui::run(stores, opts)?)
}

/// `quell` with no command: the console on the configured backend.
pub fn console(ctx: &mut Context) -> CliResult {
    let stores = ctx.stores()?;
    open_console(ctx, stores, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_ttl_comes_from_flag_env_file_or_ten_minutes() {
        let file = config::Seconds::Number(120);
        assert_eq!(resolve_ttl(None, None, None).unwrap(), Duration::from_secs(600));
        assert_eq!(resolve_ttl(None, None, Some(&file)).unwrap(), Duration::from_secs(120));
        let text = config::Seconds::Text("15m".into());
        assert_eq!(resolve_ttl(None, None, Some(&text)).unwrap(), Duration::from_secs(900));
        assert_eq!(resolve_ttl(None, Some("90s".into()), Some(&file)).unwrap(), Duration::from_secs(90));
        assert_eq!(resolve_ttl(Some("45"), Some("90s".into()), Some(&file)).unwrap(), Duration::from_secs(45));
        assert_eq!(resolve_ttl(Some("1h"), None, None).unwrap(), Duration::from_secs(3600));
        for (flag, env, source) in [
            (Some("0"), None, "--approval-ttl"),
            (Some("2d"), None, "--approval-ttl"),
            (Some("ten"), None, "--approval-ttl"),
            (None, Some("-5".to_owned()), "QUELL_DEMO_APPROVAL_TTL"),
        ] {
            let e = resolve_ttl(flag, env, None).unwrap_err();
            assert_eq!(e.code, exit::USAGE);
            assert!(e.message.starts_with(source) && e.message.contains("from 1s to 1d"), "{}", e.message);
        }
        let bad = config::Seconds::Text("soon".into());
        assert!(resolve_ttl(None, None, Some(&bad)).unwrap_err().message.contains("config file's [demo]"));
        assert_eq!(ttl_words(Duration::from_secs(600)), "10m");
        assert_eq!(ttl_words(Duration::from_secs(90)), "1m30s");
        assert_eq!(ttl_words(Duration::from_secs(5400)), "1h30m");
    }
}
