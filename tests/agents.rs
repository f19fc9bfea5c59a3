// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Simulated agents obey pause, resume and kill within one step; an agent process killed
//! mid-run resumes from its latest checkpoint (numeric: after step 9 comes step 10).

mod common;

use common::{quell_cmd, temp_store};
use quell::agent::sim::{Fleet, FleetConfig};
use quell::model::action::ActionKind;
use quell::model::audit::EventKind;
use quell::model::operator::{Acting, Operator};
use quell::model::session::SessionState;
use quell::ports::{AuditQuery, Stores};
use quell::services::control::{self, Target};
use quell::services::forensics;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The operator the tests act as.
fn tester() -> Acting {
    Operator::new("tester").acting().expect("may act")
}

fn steps(stores: &Stores) -> HashMap<String, u64> {
    stores.sessions.sessions().unwrap().into_iter().map(|s| (s.id, s.step)).collect()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fleet_obeys_pause_resume_and_kill() {
    let (_, stores) = temp_store();
    let config =
        FleetConfig { agents: 12, step_ms: (20, 60), max_steps: None, misbehave: false, ..FleetConfig::default() };
    let fleet = Fleet::start(stores.clone(), config).unwrap();
    wait_until("agents to make progress", Duration::from_secs(10), || steps(&stores).values().all(|s| *s >= 2));

    // Pause the whole fleet: every session acknowledges, then no new step starts.
    let pause = control::plan(&stores, ActionKind::Pause, &Target::All, "test pause", "tester").unwrap();
    let issued = control::execute(&stores, &tester(), &pause).unwrap();
    let acked = control::await_ack(&stores, &issued, Duration::from_secs(2)).unwrap();
    assert!(acked.complete(), "all acknowledge within 2 s: {acked:?}");
    assert_eq!(acked.acknowledged.len(), 12);
    std::thread::sleep(Duration::from_millis(100)); // let in-flight steps reach their boundary
    let frozen = steps(&stores);
    std::thread::sleep(Duration::from_millis(400)); // ≥ 6 step lengths
    assert_eq!(steps(&stores), frozen, "no step starts while paused");
    let now = quell::model::time::now();
    let states: Vec<SessionState> =
        stores.sessions.sessions().unwrap().iter().map(|s| s.effective_state(now)).collect();
    assert!(states.iter().all(|s| *s == SessionState::Paused), "{states:?}");

    // Resume: they move on again.
    let resume = control::plan(&stores, ActionKind::Resume, &Target::All, "test resume", "tester").unwrap();
    let issued = control::execute(&stores, &tester(), &resume).unwrap();
    assert!(control::await_ack(&stores, &issued, Duration::from_secs(2)).unwrap().complete());
    let now = quell::model::time::now();
    let waiting: Vec<String> = stores
        .sessions
        .sessions()
        .unwrap()
        .into_iter()
        .filter(|s| s.effective_state(now) == SessionState::WaitingApproval)
        .map(|s| s.id)
        .collect();
    assert!(waiting.len() < 12, "some sessions are free to run");
    wait_until("progress after resume", Duration::from_secs(5), || {
        let now = steps(&stores);
        frozen.iter().filter(|(id, _)| !waiting.contains(id)).all(|(id, s)| now.get(id).is_some_and(|n| n > s))
    });

    // Kill one: it stops for good, its history stays, the others go on.
    let victim = fleet.session_ids()[3].clone();
    let kill =
        control::plan(&stores, ActionKind::Kill, &Target::Sessions(vec![victim.clone()]), "rogue", "tester").unwrap();
    let issued = control::execute(&stores, &tester(), &kill).unwrap();
    assert!(control::await_ack(&stores, &issued, Duration::from_secs(2)).unwrap().complete());
    std::thread::sleep(Duration::from_millis(100));
    let killed = stores.sessions.session(&victim).unwrap().unwrap();
    assert_eq!(killed.state, SessionState::Killed);
    let tail = stores.audit.tail(&victim).unwrap().unwrap();
    let step_at_kill = killed.step;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stores.audit.tail(&victim).unwrap().unwrap(), tail, "a killed agent writes nothing more");
    assert_eq!(stores.sessions.session(&victim).unwrap().unwrap().step, step_at_kill);
    let events = stores.audit.read(&AuditQuery { chain: Some(victim.clone()), ..Default::default() }).unwrap();
    let control_events: Vec<_> = events.iter().filter(|e| e.body.kind == EventKind::Control).collect();
    let last = control_events.last().unwrap();
    assert_eq!(last.body.attr_str("quell.control.desired"), Some("kill"));
    assert_eq!(last.body.attr_str("quell.control.reason"), Some("rogue"));
    assert_eq!(last.body.attr_str("quell.control.operator"), Some("tester"));
    assert!(events.len() > 5, "history kept");
    let resume_killed = control::plan(&stores, ActionKind::Resume, &Target::Sessions(vec![victim.clone()]), "x", "t");
    assert!(resume_killed.is_err(), "a killed session cannot be resumed");

    let stats = fleet.stop().unwrap();
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let report = forensics::verify(&stores, None).unwrap();
    assert!(report.intact(), "{:?}", report.breaks);
}

#[test]
fn agent_process_killed_mid_run_resumes_from_its_latest_checkpoint() {
    let (path, stores) = temp_store();
    let mut child = quell_cmd(&path)
        .args(["agent", "--session", "s-crash", "--steps", "14", "--step-ms", "40"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("checkpoint 10", Duration::from_secs(20), || {
        stores.sessions.latest_checkpoint("s-crash").unwrap().is_some_and(|c| c.step >= 10)
    });
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    let latest = stores.sessions.latest_checkpoint("s-crash").unwrap().unwrap().step;
    assert!(latest >= 10);
    let steps_saved: Vec<u64> = stores.sessions.checkpoints("s-crash").unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps_saved, (1..=latest).collect::<Vec<_>>(), "numeric order, 9 before 10");

    let out =
        quell_cmd(&path).args(["agent", "--session", "s-crash", "--steps", "14", "--step-ms", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let mut lines = BufReader::new(stdout.as_bytes()).lines().map_while(Result::ok);
    assert_eq!(lines.next().as_deref(), Some(format!("resumed session s-crash from step {latest}").as_str()));
    assert_eq!(
        lines.next().as_deref(),
        Some(format!("step {}", latest + 1).as_str()),
        "continues after the checkpoint"
    );
    assert!(stdout.contains("finished at step 14"));
    let steps_saved: Vec<u64> = stores.sessions.checkpoints("s-crash").unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps_saved, (1..=14).collect::<Vec<_>>());
    assert_eq!(stores.sessions.session("s-crash").unwrap().unwrap().state, SessionState::Finished);
    let report = forensics::verify(&stores, Some("s-crash")).unwrap();
    assert!(report.intact(), "the chain survives the crash: {:?}", report.breaks);
    let started = stores
        .audit
        .read(&AuditQuery {
            chain: Some("s-crash".into()),
            kinds: vec![EventKind::SessionStarted],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(started.len(), 2);
    assert_eq!(started[1].body.attributes.get("quell.resumed_from_step").and_then(|v| v.as_u64()), Some(latest));
}
