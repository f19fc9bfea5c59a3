// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Redis restarted mid-run (persistence on: the test server runs with AOF): no approval
//! decision and no control state is lost; live agents and open store handles resume by
//! themselves; an agent that was not connected when a pause or kill was issued sees it as soon
//! as it connects. Database 3 of the test server, restarted with `$QUELL_TEST_REDIS_CTL restart`.
//! Kept in its own test binary (and one test) so the restart disturbs no other test.

#[path = "fixtures/redis/support.rs"]
mod support;

use quell::agent::runtime::{AgentRuntime, AgentSession, Gate, SessionSpec};
use quell::model::approval::{Approval, ApprovalStatus, DecideError, Decision, Risk, Verdict};
use quell::model::control::{ControlTarget, Desired};
use quell::model::time;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::StoreError;
use std::time::{Duration, Instant};

fn restart_redis() {
    let out = std::process::Command::new("bash").arg(support::ctl()).arg("restart").output().expect("run redis ctl");
    assert!(out.status.success(), "redis restart failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn approval(id: &str) -> Approval {
    let now = time::now();
    Approval {
        id: id.into(),
        session_id: "live-1".into(),
        step: 1,
        tool: Untrusted::new("execute_payment"),
        arguments: UntrustedJson::new(serde_json::json!({"amount": 10})),
        risk: Risk::Critical,
        requested_at: now,
        expires_at: now + chrono::Duration::seconds(600),
        required_approvers: 1,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}

fn decision(who: &str) -> Decision {
    Decision { approver: who.into(), verdict: Verdict::Approve, reason: "ok".into(), at: time::now() }
}

/// Calls `observe` until it returns `want` or 15 s pass (the watcher's backoff is capped at 1 s).
fn observe_until(s: &mut AgentSession, want: Gate) -> Gate {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = s.observe().expect("observe");
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn restart_loses_no_decision_or_control_and_clients_catch_up() {
    let url = support::flushed(3);
    let operator = support::stores_at(&url);
    let agent_stores = support::stores_at(&url);

    // Before: a decided approval, a pending one, a per-session pause, a live agent.
    operator.approvals.request_approval(&approval("ap-decided")).expect("request");
    operator.approvals.request_approval(&approval("ap-pending")).expect("request");
    operator.approvals.decide("ap-decided", decision("alice")).expect("decide");
    let g_before = operator
        .control
        .set_control(&[ControlTarget::Session("other".into())], Desired::Pause, "alice", "before", time::now())
        .expect("set");
    let rt = AgentRuntime::start(agent_stores.clone()).expect("runtime");
    let spec = SessionSpec { id: Some("live-1".into()), agent: "payments".into(), ..SessionSpec::default() };
    let mut live = AgentSession::start(&rt, spec).expect("start");
    assert_eq!(live.observe().expect("observe"), Gate::Proceed);
    live.commit().expect("commit");

    restart_redis();

    // Nothing lost.
    let decided = operator.approvals.approval("ap-decided").expect("read after restart").expect("kept");
    assert_eq!((decided.status, decided.decisions.len()), (ApprovalStatus::Approved, 1));
    match operator.approvals.decide("ap-decided", decision("bob")) {
        Err(StoreError::Decide(DecideError::AlreadyDecided { by, .. })) => assert_eq!(by, "alice"),
        other => panic!("a decision made before the restart still holds, got {other:?}"),
    }
    let other = operator.control.session_control("other").expect("read").expect("kept");
    assert_eq!((other.desired, other.generation), (Desired::Pause, g_before));
    assert!(operator.sessions.session("live-1").expect("read").is_some(), "the session record survived");

    // The same handles (whose pooled connections died) work again: decide the pending one.
    let d = operator.approvals.decide("ap-pending", decision("carol")).expect("decide after restart");
    assert_eq!(d.status, ApprovalStatus::Approved);

    // The live agent's watcher reconnects and applies a pause issued after the restart.
    let g_pause = operator
        .control
        .set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "incident", time::now())
        .expect("pause");
    assert!(g_pause > g_before, "the generation counter survived the restart");
    assert_eq!(observe_until(&mut live, Gate::Paused), Gate::Paused, "the agent caught up after the restart");
    assert!(live.session().ack_generation >= g_pause);
    live.commit().expect("ack written");
    let stored = operator.sessions.session("live-1").expect("read").expect("exists");
    assert!(stored.ack_generation >= g_pause, "its acknowledgement reached Redis");
    rt.shutdown().expect("shutdown");
    drop(live);
    drop(rt);

    // An agent that was away while it was killed sees the kill as soon as it connects.
    let changes_since = operator.control.control_changes(g_pause).expect("changes");
    assert!(changes_since.is_empty());
    let g_kill = operator
        .control
        .set_control(&[ControlTarget::Session("live-1".into())], Desired::Kill, "alice", "rogue", time::now())
        .expect("kill");
    let caught_up = agent_stores.control.control_changes(g_pause).expect("catch up from the last generation seen");
    assert_eq!(caught_up.len(), 1);
    assert_eq!((caught_up[0].desired, caught_up[0].generation), (Desired::Kill, g_kill));
    let rt2 = AgentRuntime::start(support::stores_at(&url)).expect("runtime after reconnect");
    let (mut back, _) = AgentSession::resume(&rt2, "live-1").expect("resume");
    assert_eq!(back.observe().expect("observe"), Gate::Killed, "the first look after connecting sees the kill");
    rt2.shutdown().expect("shutdown");
}
