//! The storage contract, written once and run against every adapter.
//!
//! An adapter's test file does:
//! ```ignore
//! mod conformance;
//! conformance::session_suite!(|| my_stores());
//! conformance::control_suite!(|| my_stores());
//! conformance::approval_suite!(|| my_stores());
//! conformance::audit_suite!(|| my_stores());
//! ```
//! where the closure returns a fresh, empty `Stores` for each test.

#![allow(dead_code)]

use quell::model::approval::{Approval, ApprovalStatus, DecideError, Decision, Risk, Verdict};
use quell::model::audit::{EventBody, EventKind, ToolCall};
use quell::model::chain::ChainTail;
use quell::model::checkpoint::Checkpoint;
use quell::model::control::{ControlTarget, Desired};
use quell::model::session::{Session, SessionState};
use quell::model::time::{self, Timestamp};
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{AuditQuery, SealedEvent, StoreError, Stores};
use serde_json::json;
use std::sync::{Arc, Barrier};

pub const HOSTILE: &str =
    "pwn\u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\u{202e}\u{200b}\u{feff}\u{e0041}\u{9b}\r\0end 😀";

pub fn micros(us: i64) -> Timestamp {
    time::from_micros(1_790_000_000_000_000 + us)
}

pub fn session(id: &str) -> Session {
    let mut s = Session::new(id, HOSTILE, micros(0));
    s.namespace = Some("genai-prod".into());
    s.pod = Some("ai-agent-runtime-0".into());
    s.model = Some("gpt-4.1".into());
    s.state = SessionState::WaitingApproval;
    s.step = 12;
    s.last_seen = micros(5_000_000);
    s.input_tokens = 1234;
    s.output_tokens = 56;
    s.cost_usd = 0.125;
    s.tools = vec!["web_search".into(), "send_email".into()];
    s.ack_generation = 7;
    s.audit_seq = 3;
    s.audit_head = Some("ab".repeat(32));
    s.detail = Some(Untrusted::new(HOSTILE));
    s
}

pub fn checkpoint(id: &str, step: u64) -> Checkpoint {
    Checkpoint {
        session_id: id.into(),
        step,
        messages: vec![UntrustedJson::new(json!({"role": "user", "content": HOSTILE}))],
        tool_results: vec![UntrustedJson::new(json!({"tool": "web_search", "output": format!("r{step}")}))],
        plan: UntrustedJson::new(json!({"goal": "g", "next": step + 1})),
        created_at: format!("2026-11-28T03:00:{:02}.000001", step % 60).into(),
        stored_hash: None,
    }
}

pub fn approval(id: &str, required: u8, ttl_secs: i64) -> Approval {
    let now = time::now();
    Approval {
        id: id.into(),
        session_id: "s-1".into(),
        step: 4,
        tool: Untrusted::new("send_email"),
        arguments: UntrustedJson::new(json!({"to": "x@example.com", "body": HOSTILE})),
        risk: Risk::High,
        requested_at: now,
        expires_at: now + chrono::Duration::seconds(ttl_secs),
        required_approvers: required,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}

pub fn decision(who: &str, verdict: Verdict) -> Decision {
    Decision { approver: who.into(), verdict, reason: format!("{who} says so"), at: time::now() }
}

/// `n` sealed events on chain `chain`, starting after `tail`, times `t0 + i` seconds.
pub fn events(chain: &str, tail: &ChainTail, n: u64, t0: i64) -> Vec<SealedEvent> {
    let mut tail = tail.clone();
    (0..n)
        .map(|i| {
            let kind = [EventKind::LlmCall, EventKind::ToolCall, EventKind::ToolResult][(tail.seq % 3) as usize];
            let mut body = EventBody::new(chain, tail.seq / 3, kind, "agent:conformance");
            body.time = micros((t0 + i as i64) * 1_000_000);
            body.model = Some("gpt-4.1".into());
            body.output_summary = Some(Untrusted::new(HOSTILE));
            body.tool = Some(Untrusted::new("send_email"));
            body.tool_calls = vec![ToolCall {
                name: Untrusted::new("send_email"),
                arguments: UntrustedJson::new(json!({"x": 1.5, "y": [1, null, "é"]})),
            }];
            body.input_tokens = Some(10);
            body.output_tokens = Some(2);
            body = body.attr("quell.note", "ok");
            let sealed = SealedEvent::seal(body, &tail).expect("seal");
            tail = sealed.event.tail();
            sealed
        })
        .collect()
}

// ---------------------------------------------------------------- sessions and checkpoints

pub fn sessions_round_trip(stores: Stores) {
    let s = session("s-1");
    stores.sessions.put_sessions(&[s.clone(), session("s-2")]).unwrap();
    assert_eq!(stores.sessions.session("s-1").unwrap(), Some(s.clone()));
    assert_eq!(stores.sessions.session("missing").unwrap(), None);
    let mut ids: Vec<String> = stores.sessions.sessions().unwrap().into_iter().map(|s| s.id).collect();
    ids.sort();
    assert_eq!(ids, vec!["s-1", "s-2"]);
    assert_eq!(stores.sessions.session("s-1").unwrap().unwrap().agent.raw(), HOSTILE, "raw bytes are kept");
}

pub fn sessions_upsert_replaces(stores: Stores) {
    let mut s = session("s-1");
    stores.sessions.put_sessions(&[s.clone()]).unwrap();
    s.state = SessionState::Paused;
    s.step = 13;
    s.ack_generation = 9;
    stores.sessions.put_sessions(&[s.clone()]).unwrap();
    let got = stores.sessions.session("s-1").unwrap().unwrap();
    assert_eq!((got.state, got.step, got.ack_generation), (SessionState::Paused, 13, 9));
    assert_eq!(stores.sessions.sessions().unwrap().len(), 1);
}

pub fn sessions_acknowledgements(stores: Stores) {
    let mut a = session("s-1");
    a.ack_generation = 4;
    a.state = SessionState::Paused;
    let mut b = session("s-2");
    b.ack_generation = 0;
    b.state = SessionState::Killed;
    stores.sessions.put_sessions(&[a, b]).unwrap();
    let mut acks = stores.sessions.acknowledgements().unwrap();
    acks.sort();
    assert_eq!(acks, vec![("s-1".into(), 4, SessionState::Paused), ("s-2".into(), 0, SessionState::Killed)]);
}

pub fn checkpoints_numeric_order(stores: Stores) {
    for step in [2, 10, 9, 1, 11, 3] {
        stores.sessions.save_checkpoint(&checkpoint("s-1", step)).unwrap();
    }
    stores.sessions.save_checkpoint(&checkpoint("s-2", 99)).unwrap();
    let steps: Vec<u64> = stores.sessions.checkpoints("s-1").unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![1, 2, 3, 9, 10, 11]);
    assert_eq!(stores.sessions.latest_checkpoint("s-1").unwrap().map(|c| c.step), Some(11));
    assert_eq!(stores.sessions.latest_checkpoint("none").unwrap(), None);
    assert!(stores.sessions.checkpoints("none").unwrap().is_empty());
}

pub fn checkpoints_keep_content_and_replace_same_step(stores: Stores) {
    let cp = checkpoint("s-1", 10);
    stores.sessions.save_checkpoint(&cp).unwrap();
    assert_eq!(stores.sessions.latest_checkpoint("s-1").unwrap(), Some(cp.clone()));
    let mut again = cp.clone();
    again.plan = UntrustedJson::new(json!({"goal": "changed"}));
    stores.sessions.save_checkpoint(&again).unwrap();
    assert_eq!(stores.sessions.checkpoints("s-1").unwrap(), vec![again]);
}

// ---------------------------------------------------------------- control

pub fn control_generations_increase(stores: Stores) {
    let c = &stores.control;
    assert!(c.control_changes(0).unwrap().is_empty());
    assert_eq!(c.fleet_control().unwrap(), None);
    let g1 = c.set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "incident 1", time::now()).unwrap();
    let g2 = c
        .set_control(
            &[ControlTarget::Session("s-1".into()), ControlTarget::Session("s-2".into())],
            Desired::Kill,
            "bob",
            "rogue",
            time::now(),
        )
        .unwrap();
    assert!(g2 > g1 && g1 > 0);
    let fleet = c.fleet_control().unwrap().unwrap();
    assert_eq!(
        (fleet.desired, fleet.operator.as_str(), fleet.reason.as_str(), fleet.generation),
        (Desired::Pause, "alice", "incident 1", g1)
    );
    let after_g1 = c.control_changes(g1).unwrap();
    assert_eq!(after_g1.len(), 2, "one record per target, all at the same generation");
    assert!(after_g1.iter().all(|r| r.generation == g2 && r.desired == Desired::Kill));
    assert_eq!(c.control_changes(0).unwrap().len(), 3);
    assert!(c.control_changes(g2).unwrap().is_empty());
    assert_eq!(c.session_control("s-2").unwrap().map(|r| r.desired), Some(Desired::Kill));
    assert_eq!(c.session_control("s-3").unwrap(), None);
}

pub fn control_latest_record_wins(stores: Stores) {
    let c = &stores.control;
    c.set_control(&[ControlTarget::Fleet], Desired::Pause, "alice", "a", time::now()).unwrap();
    let g = c.set_control(&[ControlTarget::Fleet], Desired::Run, "bob", "b", time::now()).unwrap();
    let fleet = c.fleet_control().unwrap().unwrap();
    assert_eq!((fleet.desired, fleet.operator.as_str(), fleet.generation), (Desired::Run, "bob", g));
    assert_eq!(c.control_changes(0).unwrap().len(), 1);
}

// ---------------------------------------------------------------- approvals

pub fn approvals_round_trip_and_pending(stores: Stores) {
    let a = approval("ap-1", 1, 60);
    stores.approvals.request_approval(&a).unwrap();
    stores.approvals.request_approval(&approval("ap-expired", 1, -1)).unwrap();
    assert_eq!(stores.approvals.approval("ap-1").unwrap(), Some(a.clone()));
    assert!(matches!(stores.approvals.request_approval(&a), Err(StoreError::Conflict(_))));
    let pending: Vec<String> =
        stores.approvals.approvals(true, time::now()).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(pending, vec!["ap-1"]);
    assert_eq!(stores.approvals.approvals(false, time::now()).unwrap().len(), 2);
    assert_eq!(stores.approvals.approval("nope").unwrap(), None);
}

pub fn approvals_decided_once(stores: Stores) {
    stores.approvals.request_approval(&approval("ap-1", 1, 60)).unwrap();
    let decided = stores.approvals.decide("ap-1", decision("alice", Verdict::Approve)).unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    match stores.approvals.decide("ap-1", decision("bob", Verdict::Reject)) {
        Err(StoreError::Decide(DecideError::AlreadyDecided { by, verdict, .. })) => {
            assert_eq!((by.as_str(), verdict), ("alice", Verdict::Approve))
        }
        other => panic!("expected AlreadyDecided, got {other:?}"),
    }
    assert!(stores.approvals.approvals(true, time::now()).unwrap().is_empty());
    assert!(matches!(stores.approvals.decide("nope", decision("a", Verdict::Approve)), Err(StoreError::NotFound(_))));
}

pub fn approvals_expired_cannot_be_approved(stores: Stores) {
    stores.approvals.request_approval(&approval("ap-old", 1, -5)).unwrap();
    assert!(matches!(
        stores.approvals.decide("ap-old", decision("alice", Verdict::Approve)),
        Err(StoreError::Decide(DecideError::Expired { .. }))
    ));
    let a = stores.approvals.approval("ap-old").unwrap().unwrap();
    assert!(a.decisions.is_empty());
    assert_eq!(a.status_at(time::now()), ApprovalStatus::Expired);
}

pub fn approvals_two_distinct_approvers(stores: Stores) {
    stores.approvals.request_approval(&approval("ap-2", 2, 60)).unwrap();
    let first = stores.approvals.decide("ap-2", decision("alice", Verdict::Approve)).unwrap();
    assert_eq!(first.status, ApprovalStatus::Pending);
    assert!(matches!(
        stores.approvals.decide("ap-2", decision("alice", Verdict::Approve)),
        Err(StoreError::Decide(DecideError::SameApprover { .. }))
    ));
    let second = stores.approvals.decide("ap-2", decision("bob", Verdict::Approve)).unwrap();
    assert_eq!(second.status, ApprovalStatus::Approved);
    assert_eq!(second.decisions.len(), 2);
}

/// "same" and "same " (and other spellings of one identity) are one approver on every backend:
/// the second is refused, the first is stored as typed, and a different person still completes.
pub fn approvals_one_person_spelled_twice(stores: Stores) {
    stores.approvals.request_approval(&approval("ap-2", 2, 60)).unwrap();
    stores.approvals.decide("ap-2", decision("same", Verdict::Approve)).unwrap();
    for spelling in ["same ", " SAME", "s\u{200b}ame", "ｓａｍｅ"] {
        match stores.approvals.decide("ap-2", decision(spelling, Verdict::Approve)) {
            Err(StoreError::Decide(DecideError::SameApprover { .. })) => {}
            other => panic!("{spelling:?} is the approver \"same\" again, got {other:?}"),
        }
    }
    let stored = stores.approvals.approval("ap-2").unwrap().unwrap();
    assert_eq!((stored.status, stored.decisions.len()), (ApprovalStatus::Pending, 1));
    assert_eq!(stored.decisions[0].approver, "same");
    let done = stores.approvals.decide("ap-2", decision("other", Verdict::Approve)).unwrap();
    assert_eq!(done.status, ApprovalStatus::Approved);
}

/// Many deciders at the same instant: exactly one decision is recorded.
pub fn approvals_concurrent_deciders(stores: Stores) {
    stores.approvals.request_approval(&approval("ap-race", 1, 60)).unwrap();
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let stores = stores.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let verdict = if i % 2 == 0 { Verdict::Approve } else { Verdict::Reject };
                stores.approvals.decide("ap-race", decision(&format!("op{i}"), verdict))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one decision wins: {results:?}");
    let winner = &winners[0].decisions[0];
    for r in &results {
        if let Err(e) = r {
            match e {
                StoreError::Decide(DecideError::AlreadyDecided { by, .. }) => assert_eq!(by, &winner.approver),
                other => panic!("loser must be told who decided, got {other:?}"),
            }
        }
    }
    let stored = stores.approvals.approval("ap-race").unwrap().unwrap();
    assert_eq!(stored.decisions.len(), 1);
}

// ---------------------------------------------------------------- audit

pub fn audit_append_read_tail(stores: Stores) {
    let a = events("s-a", &ChainTail::genesis(), 5, 0);
    let b = events("s-b", &ChainTail::genesis(), 3, 100);
    stores.audit.append(&a[..2]).unwrap();
    stores.audit.append(&b).unwrap();
    stores.audit.append(&a[2..]).unwrap();
    assert_eq!(stores.audit.tail("s-a").unwrap(), Some(a[4].event.tail()));
    assert_eq!(stores.audit.tail("s-none").unwrap(), None);
    assert_eq!(
        stores.audit.tails(&["s-b", "s-none", "s-a"]).unwrap(),
        vec![Some(b[2].event.tail()), None, Some(a[4].event.tail())],
        "several tails at once, in the order asked"
    );
    let got = stores.audit.read(&AuditQuery { chain: Some("s-a".into()), ..Default::default() }).unwrap();
    let want: Vec<_> = a.iter().map(|s| s.event.clone()).collect();
    assert_eq!(got, want, "events come back exactly, in chain order");
    assert!(got.iter().all(|e| e.is_intact()));
    assert_eq!(got[0].body.output_summary.as_ref().unwrap().raw(), HOSTILE);
    let all = stores.audit.read(&AuditQuery::default()).unwrap();
    assert_eq!(all.len(), 8);
}

pub fn audit_raw_events_verify(stores: Stores) {
    let a = events("s-a", &ChainTail::genesis(), 4, 0);
    stores.audit.append(&a).unwrap();
    let mut seen = Vec::new();
    stores
        .audit
        .scan(&AuditQuery::default(), &mut |raw| {
            let (chain, link) = raw.link().expect("link");
            assert_eq!(chain, "s-a");
            assert!(link.intact, "stored content hashes to its hash");
            let full: serde_json::Value = serde_json::from_str(&raw.to_json()).expect("to_json is JSON");
            assert_eq!(full["hash"].as_str(), Some(link.hash.as_str()));
            seen.push(link.seq);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, vec![1, 2, 3, 4]);
}

pub fn audit_filters(stores: Stores) {
    stores.audit.append(&events("s-a", &ChainTail::genesis(), 9, 0)).unwrap();
    stores.audit.append(&events("s-b", &ChainTail::genesis(), 9, 0)).unwrap();
    let window = AuditQuery { since: Some(micros(3_000_000)), until: Some(micros(5_000_000)), ..Default::default() };
    let got = stores.audit.read(&window).unwrap();
    assert_eq!(got.len(), 6, "3 seconds of events on 2 chains, both bounds inclusive");
    let kinds = AuditQuery { chain: Some("s-b".into()), kinds: vec![EventKind::ToolCall], ..Default::default() };
    let got = stores.audit.read(&kinds).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|e| e.body.kind == EventKind::ToolCall && e.body.session_id == "s-b"));
}

/// For backends that can check continuity at append time.
pub fn audit_refuses_forks(stores: Stores) {
    let a = events("s-a", &ChainTail::genesis(), 3, 0);
    stores.audit.append(&a).unwrap();
    let fork = events("s-a", &a[0].event.tail(), 1, 50);
    assert!(matches!(stores.audit.append(&fork), Err(StoreError::Conflict(_))));
    let gap = events("s-a", &ChainTail { seq: 7, hash: a[2].event.hash.clone() }, 1, 50);
    assert!(matches!(stores.audit.append(&gap), Err(StoreError::Conflict(_))));
    assert_eq!(stores.audit.tail("s-a").unwrap(), Some(a[2].event.tail()), "nothing half-written");
}

pub fn audit_many_chains(stores: Stores) {
    let mut batch = Vec::new();
    for c in 0..10 {
        batch.extend(events(&format!("s-{c}"), &ChainTail::genesis(), 100, 0));
    }
    stores.audit.append(&batch).unwrap();
    let mut n = 0;
    stores
        .audit
        .scan(&AuditQuery::default(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 1000);
    assert_eq!(stores.audit.tail("s-7").unwrap().map(|t| t.seq), Some(100));
}

#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let stores = ($factory)();
                conformance::$name(stores);
            }
        )+
    };
}

#[macro_export]
macro_rules! session_suite {
    ($factory:expr) => {
        conformance_tests!($factory; sessions_round_trip, sessions_upsert_replaces, sessions_acknowledgements, checkpoints_numeric_order,
            checkpoints_keep_content_and_replace_same_step);
    };
}

#[macro_export]
macro_rules! control_suite {
    ($factory:expr) => {
        conformance_tests!($factory; control_generations_increase, control_latest_record_wins);
    };
}

#[macro_export]
macro_rules! approval_suite {
    ($factory:expr) => {
        conformance_tests!($factory; approvals_round_trip_and_pending, approvals_decided_once,
            approvals_expired_cannot_be_approved, approvals_two_distinct_approvers, approvals_concurrent_deciders,
            approvals_one_person_spelled_twice);
    };
}

#[macro_export]
macro_rules! audit_suite {
    ($factory:expr) => {
        conformance_tests!($factory; audit_append_read_tail, audit_raw_events_verify, audit_filters,
            audit_refuses_forks, audit_many_chains);
    };
}
