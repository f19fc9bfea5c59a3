//! `quell demo`: the simulated fleet on the configured store, with the console or a one-line
//! live summary.

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
    pub approval_ttl: u64,
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
    if !opts.headless && console_available() {
        console_options(ctx)?;
    }
    let stores = ctx.stores()?;
    let config = FleetConfig {
        agents: opts.agents,
        step_ms,
        max_steps: (opts.steps > 0).then_some(opts.steps),
        approval_ttl: Duration::from_secs(opts.approval_ttl.max(1)),
        workers: 2,
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(stores.clone(), config)?;
    writeln!(
        out,
        "{}",
        crate::shown!(
            "demo: {} simulated agents on {} ({})",
            opts.agents,
            ctx.store_path.display(),
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
        open_console(ctx, stores.clone())?
    };
    let stats = fleet.stop()?;
    if let Some(first) = stats.errors.first() {
        writeln!(out, "{}", crate::shown!("demo: {} agent errors, first: {}", stats.errors.len(), first))?;
    }
    Ok(code)
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
        rules: ctx.rules.clone(),
    };
    crate::interfaces::tui::initial_state(&opts).map_err(Failure::usage)?;
    Ok(opts)
}

fn open_console(ctx: &mut Context, stores: Stores) -> CliResult {
    let mut opts = console_options(ctx)?;
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
    open_console(ctx, stores)
}
