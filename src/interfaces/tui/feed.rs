//! Background threads: the only place the console touches the backend. A poller refreshes the
//! fleet (adaptive interval, capped reconnect backoff) and watches acknowledgements; two workers
//! carry out effects (actions on one, reads on the other, so a slow timeline never delays a
//! pause). Everything comes back to the UI as a [`Msg`]; when the UI is gone the threads end.

use super::app::{Effect, Msg};
use super::cluster::TuiKube;
use super::fleet::{RowAnomalies, Snapshot};
use super::session::TimelineData;
use super::theme::Theme;
use crate::model::action::{Domain, Scope};
use crate::model::anomaly::Rules;
use crate::model::operator::Operator;
use crate::model::time::{self, Timestamp};
use crate::ports::{AuditQuery, Stores};
use crate::services::{anomalies, approvals, control, forensics};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// Planning needs a reason to build an `OperatorAction`; the dialog replaces it with the
/// operator's own before anything is executed, so this text is never written anywhere.
const PLANNING_REASON: &str = "(reason not yet given)";

const MIN_REFRESH: Duration = Duration::from_millis(1000);
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often pods and permissions are read from the API server.
const KUBE_REFRESH: Duration = Duration::from_secs(3);
/// How often the audit log is asked whether it can be written.
const AUDIT_HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How many context lines the approvals view shows.
const CONTEXT_STEPS: usize = 6;
/// At most this many events are read for a replay of a time window (`:replay 10m`): a wide
/// window over a big fleet is never read whole into memory.
pub const WINDOW_EVENTS: usize = 20_000;

pub struct Feed {
    actions: Sender<Effect>,
    reads: Sender<Effect>,
}

impl Feed {
    /// Hands an effect to its worker. Never blocks.
    pub fn run(&self, effect: Effect) {
        let to = match effect {
            // The terminal is the UI thread's: the main loop writes it.
            Effect::Copy(_) => return,
            Effect::Plan { .. } | Effect::PlanDecision { .. } | Effect::PlanDecisions { .. } | Effect::Execute(_) => {
                &self.actions
            }
            Effect::LoadTimeline(_) | Effect::LoadWindow { .. } | Effect::LoadContext(_) | Effect::LoadTheme(_) => {
                &self.reads
            }
        };
        // A worker only stops when the UI is gone.
        let _ = to.send(effect);
    }
}

pub fn start(
    stores: Stores,
    tx: Sender<Msg>,
    operator: Operator,
    theme_dir: Option<PathBuf>,
    kube: Option<TuiKube>,
    rules: Rules,
) -> std::io::Result<Feed> {
    let (watch_tx, watch_rx) = mpsc::channel();
    let (actions_tx, actions_rx) = mpsc::channel();
    let (reads_tx, reads_rx) = mpsc::channel();
    {
        let (stores, tx) = (stores.clone(), tx.clone());
        thread::Builder::new().name("quell-poller".into()).spawn(move || poller(stores, tx, watch_rx))?;
    }
    let (kube_wake_tx, kube_wake_rx) = mpsc::channel();
    if let Some(kube) = kube.clone() {
        let (stores, tx) = (stores.clone(), tx.clone());
        thread::Builder::new().name("quell-kube".into()).spawn(move || kube_poller(stores, tx, kube, kube_wake_rx))?;
    }
    {
        let (stores, tx) = (stores.clone(), tx.clone());
        let kube = kube.map(|k| (k, kube_wake_tx));
        thread::Builder::new()
            .name("quell-actions".into())
            .spawn(move || actions(stores, tx, actions_rx, watch_tx, operator, kube))?;
    }
    {
        let (stores, tx) = (stores.clone(), tx.clone());
        thread::Builder::new().name("quell-audit-health".into()).spawn(move || audit_health(stores, tx))?;
    }
    {
        let (stores, tx, rules) = (stores.clone(), tx.clone(), rules.clone());
        thread::Builder::new().name("quell-anomalies".into()).spawn(move || anomaly_judge(stores, tx, rules))?;
    }
    thread::Builder::new().name("quell-reads".into()).spawn(move || reads(stores, tx, reads_rx, theme_dir, rules))?;
    Ok(Feed { actions: actions_tx, reads: reads_tx })
}

/// The anomaly rules over every session, for the fleet's column: one pass over the audit log.
pub fn fleet_anomalies(stores: &Stores, rules: &Rules) -> Result<HashMap<String, RowAnomalies>, String> {
    let sessions = stores.sessions.sessions().map_err(|e| e.to_string())?;
    let found = anomalies::for_sessions(stores, &sessions, rules).map_err(|e| e.to_string())?;
    Ok(found.into_iter().filter_map(|(id, f)| RowAnomalies::of(&f).map(|a| (id, a))).collect())
}

/// At least this long between two judgements of the fleet, and four times as long as the last
/// one took: the rules read the whole audit log (a Kafka topic, say), the fleet's snapshots do
/// not, so judging never takes more than a fifth of a core.
const JUDGE_EVERY: Duration = Duration::from_secs(5);

fn anomaly_judge(stores: Stores, tx: Sender<Msg>, rules: Rules) {
    loop {
        let started = Instant::now();
        let found = fleet_anomalies(&stores, &rules);
        if tx.send(Msg::Anomalies(Box::new(found))).is_err() {
            return;
        }
        thread::sleep(JUDGE_EVERY.max(started.elapsed() * 4));
    }
}

/// Reads everything the fleet and approvals views show.
pub fn snapshot(stores: &Stores) -> Result<Snapshot, String> {
    let sessions = stores.sessions.sessions().map_err(|e| e.to_string())?;
    let fleet = stores.control.fleet_control().map_err(|e| e.to_string())?;
    let pending = approvals::pending(stores).map_err(|e| e.to_string())?;
    Ok(Snapshot::build(sessions, fleet, pending, time::now()))
}

fn poller(stores: Stores, tx: Sender<Msg>, watch: Receiver<(control::Issued, Instant)>) {
    let mut next_snapshot = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut watching: Option<(control::Issued, Instant)> = None;
    let mut next_progress = Instant::now();
    let mut watch_open = true;
    loop {
        let now = Instant::now();
        let mut wake = next_snapshot;
        if watching.is_some() {
            wake = wake.min(next_progress);
        }
        let wait = wake.saturating_duration_since(now);
        if watch_open {
            match watch.recv_timeout(wait) {
                Ok(w) => {
                    watching = Some(w);
                    next_progress = Instant::now();
                    next_snapshot = Instant::now(); // show the new states at once
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => watch_open = false,
            }
        } else {
            thread::sleep(wait);
        }
        if let Some((issued, started)) = watching.as_ref().filter(|_| Instant::now() >= next_progress) {
            let began = Instant::now();
            let report = control::progress(&stores, issued).map_err(|e| e.to_string());
            // Poll often, but never spend more than a third of the time reading a big fleet.
            next_progress = Instant::now() + PROGRESS_EVERY.max(began.elapsed() * 2);
            let done = report.as_ref().is_ok_and(|r| r.complete());
            if tx.send(Msg::Progress { report, elapsed: started.elapsed() }).is_err() {
                return;
            }
            if done {
                watching = None;
            }
        }
        if Instant::now() >= next_snapshot {
            let began = Instant::now();
            let msg = match snapshot(&stores) {
                Ok(s) => {
                    backoff = FIRST_BACKOFF;
                    // Never spend more than a third of the time reading.
                    next_snapshot = Instant::now() + MIN_REFRESH.max(began.elapsed() * 2);
                    Msg::Snapshot(Box::new(s))
                }
                Err(error) => {
                    next_snapshot = Instant::now() + backoff;
                    let retry = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    Msg::FeedDown { error, retry }
                }
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

/// Pods and permissions, on their own thread so a slow API server never delays the fleet.
/// Woken early after a pod action, so its effect shows at once.
/// Asks the audit log whether it can be written, on its own thread: a probe of unreachable
/// brokers takes seconds and must not hold up the fleet view.
fn audit_health(stores: Stores, tx: Sender<Msg>) {
    loop {
        let health = stores.audit.health().map_err(|e| e.to_string());
        if tx.send(Msg::AuditHealth(health)).is_err() {
            return;
        }
        thread::sleep(AUDIT_HEALTH_EVERY);
    }
}

fn kube_poller(stores: Stores, tx: Sender<Msg>, kube: TuiKube, wake: Receiver<()>) {
    let mut wake_open = true;
    loop {
        let began = Instant::now();
        let info = super::cluster::fetch(&stores, &kube);
        if tx.send(Msg::Kube(Box::new(info))).is_err() {
            return;
        }
        let pause = KUBE_REFRESH.max(began.elapsed() * 2);
        if wake_open {
            if let Err(RecvTimeoutError::Disconnected) = wake.recv_timeout(pause) {
                wake_open = false;
            }
        } else {
            thread::sleep(pause);
        }
    }
}

fn actions(
    stores: Stores,
    tx: Sender<Msg>,
    rx: Receiver<Effect>,
    watch: Sender<(control::Issued, Instant)>,
    operator: Operator,
    kube: Option<(TuiKube, Sender<()>)>,
) {
    // Refused here as well as in the console: the services act only for an operator who may.
    let acting = || operator.acting().map_err(|e| format!("not done: {e}"));
    while let Ok(effect) = rx.recv() {
        let msg = match effect {
            Effect::Plan { kind, target } if kind.is_cluster() => {
                let k = kube.as_ref().map(|(k, _)| k);
                Msg::Planned(super::cluster::plan(&stores, k, kind, &target, PLANNING_REASON, operator.name()))
            }
            Effect::Plan { kind, target } => Msg::Planned(
                control::plan(&stores, kind, &target, PLANNING_REASON, operator.name()).map_err(|e| e.to_string()),
            ),
            Effect::PlanDecision { id, verdict } => Msg::Planned(
                approvals::plan(&stores, &id, verdict, PLANNING_REASON, operator.name()).map_err(|e| e.to_string()),
            ),
            Effect::PlanDecisions { ids, verdict } => {
                let (plan, left_out) = plan_decisions(&stores, ids, verdict, operator.name());
                Msg::PlannedMany { plan, left_out }
            }
            Effect::Execute(action) => match action.kind.domain() {
                Domain::Control(_) => {
                    let started = Instant::now();
                    let result =
                        acting().and_then(|a| control::execute(&stores, &a, &action).map_err(|e| e.to_string()));
                    if let Ok(issued) = &result {
                        let _ = watch.send((issued.clone(), started));
                    }
                    Msg::Executed(result)
                }
                Domain::Decision(_) if matches!(action.scope, Scope::Approvals { .. }) => Msg::DecidedMany(
                    acting().and_then(|a| approvals::decide_many(&stores, &a, &action).map_err(|e| e.to_string())),
                ),
                Domain::Decision(_) => Msg::Decided(
                    acting().and_then(|a| approvals::decide(&stores, &a, &action).map_err(|e| e.to_string())),
                ),
                Domain::Cluster => {
                    let k = kube.as_ref().map(|(k, _)| k);
                    let done = acting().and_then(|a| super::cluster::execute(&stores, k, &a, &action));
                    if let Some((_, wake)) = &kube {
                        let _ = wake.send(());
                    }
                    Msg::KubeDone(done)
                }
            },
            _ => continue,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

/// Plans a decision on the marked requests (`approvals::plan_many` by ids): the action to
/// confirm, and each request it leaves out with why, in words (neutralised when shown).
pub fn plan_decisions(
    stores: &Stores,
    ids: Vec<String>,
    verdict: crate::model::approval::Verdict,
    operator: &str,
) -> (Result<crate::model::action::OperatorAction, String>, Vec<String>) {
    let choice = approvals::Choice::Ids(ids);
    let plan = match approvals::plan_many(stores, &choice, verdict, PLANNING_REASON, operator) {
        Ok(p) => p,
        Err(e) => return (Err(e.to_string()), Vec::new()),
    };
    let left_out: Vec<String> = plan
        .left_out
        .iter()
        .map(|l| match &l.outcome {
            approvals::Outcome::Refused(e) => format!("left out: {e}"),
            approvals::Outcome::NotFound => format!("left out: no approval with id {}", l.id),
            other => format!("left out: {} ({})", l.id, approvals::outcome_word(other)),
        })
        .collect();
    let action = plan.action.ok_or_else(|| format!("nothing to decide: {}", left_out.join("; ")));
    (action, left_out)
}

pub fn load_timeline(stores: &Stores, id: &str, rules: &Rules) -> Result<TimelineData, String> {
    forensics::timeline(stores, id).map(|t| TimelineData::from_timeline(t, rules)).map_err(|e| e.to_string())
}

/// Every session's events since `since`, for a replay of the window: at most `max` of them,
/// and when the window holds more the data says so.
pub fn load_window(stores: &Stores, since: Timestamp, max: usize, rules: &Rules) -> Result<TimelineData, String> {
    let query = AuditQuery { since: Some(since), ..Default::default() };
    let (entries, more) = forensics::read_entries_at_most(stores, &query, max).map_err(|e| e.to_string())?;
    Ok(TimelineData { more, ..TimelineData::from_window_entries(&entries, rules) })
}

/// The last steps of a session, one line each, for the approvals view.
pub fn context_lines(stores: &Stores, session_id: &str, rules: &Rules) -> Result<Vec<String>, String> {
    load_timeline(stores, session_id, rules).map(|d| {
        let skip = d.items.len().saturating_sub(CONTEXT_STEPS);
        d.items.iter().skip(skip).map(|i| format!("step {:>3} {:<18} {}", i.step, i.kind.label(), i.summary)).collect()
    })
}

fn reads(stores: Stores, tx: Sender<Msg>, rx: Receiver<Effect>, theme_dir: Option<PathBuf>, rules: Rules) {
    while let Ok(effect) = rx.recv() {
        let msg = match effect {
            Effect::LoadTimeline(id) => {
                let data = Box::new(load_timeline(&stores, &id, &rules));
                Msg::Timeline { id, data }
            }
            Effect::LoadWindow { id, since } => {
                let data = load_window(&stores, since, WINDOW_EVENTS, &rules);
                Msg::Timeline { id, data: Box::new(data) }
            }
            Effect::LoadContext(session_id) => {
                let lines = context_lines(&stores, &session_id, &rules);
                Msg::Context { session_id, lines }
            }
            Effect::LoadTheme(name) => Msg::Theme(Theme::load(&name, theme_dir.as_deref())),
            _ => continue,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}
