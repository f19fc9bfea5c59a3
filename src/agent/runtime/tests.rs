//! The runtime against the embedded store in a temporary directory, with an audit log that can
//! be made to fail: control at step boundaries, pause, kill, checkpoint order, approval expiry,
//! and what an audit outage does.

use super::{AgentRuntime, AgentSession, ApprovalWait, Gate, SessionSpec};
use crate::adapters::embedded::EmbeddedStore;
use crate::model::approval::{ApprovalStatus, Risk};
use crate::model::audit::{AuditEvent, EventKind};
use crate::model::chain::ChainTail;
use crate::model::checkpoint::{coverage, Coverage};
use crate::model::control::{ControlTarget, Desired};
use crate::model::session::{Session, SessionState};
use crate::model::time;
use crate::ports::{AuditLog, AuditQuery, RawEvent, Result, SealedEvent, StoreError, Stores};
use serde_json::json;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// What [`FlakyAudit`] does with the next append.
const WORKS: u8 = 0;
/// Refuses it: nothing is written (a broker down).
const REFUSES: u8 = 1;
/// Writes it, then reports a failure once (a reply lost after the write), then works.
const LOSES_REPLY: u8 = 2;

/// The embedded audit log behind a switch.
struct FlakyAudit {
    inner: Arc<dyn AuditLog>,
    mode: AtomicU8,
}

impl AuditLog for FlakyAudit {
    fn append(&self, events: &[SealedEvent]) -> Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            REFUSES => Err(StoreError::Unavailable("audit log down (test)".into())),
            LOSES_REPLY => {
                self.inner.append(events)?;
                self.mode.store(WORKS, Ordering::SeqCst);
                Err(StoreError::Unavailable("audit reply lost (test)".into()))
            }
            _ => self.inner.append(events),
        }
    }

    fn tail(&self, chain: &str) -> Result<Option<ChainTail>> {
        self.inner.tail(chain)
    }

    fn scan(&self, query: &AuditQuery, sink: &mut dyn FnMut(RawEvent<'_>) -> Result<()>) -> Result<()> {
        self.inner.scan(query, sink)
    }
}

/// Fields drop in order: the runtime stops before its directory goes.
struct Fixture {
    rt: Arc<AgentRuntime>,
    stores: Stores,
    audit: Arc<FlakyAudit>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stores = EmbeddedStore::open(&dir.path().join("quell.db")).expect("store").stores();
    let audit = Arc::new(FlakyAudit { inner: stores.audit.clone(), mode: AtomicU8::new(WORKS) });
    stores.audit = audit.clone();
    let rt = AgentRuntime::start(stores.clone()).expect("runtime");
    Fixture { rt, stores, audit, _dir: dir }
}

impl Fixture {
    fn session(&self, id: &str) -> AgentSession {
        let spec = SessionSpec { id: Some(id.into()), agent: "test-agent".into(), ..Default::default() };
        AgentSession::start(&self.rt, spec).expect("start")
    }

    /// Writes a control change and waits until the runtime's watcher has seen it.
    fn control(&self, target: ControlTarget, desired: Desired, reason: &str) -> u64 {
        let seen = self.rt.control_version();
        let generation =
            self.stores.control.set_control(&[target], desired, "alice", reason, time::now()).expect("set control");
        until("the watcher to see the change", || self.rt.control_version() > seen);
        generation
    }

    fn stored(&self, id: &str) -> Session {
        self.stores.sessions.session(id).expect("read").expect("stored")
    }

    fn events(&self, id: &str) -> Vec<AuditEvent> {
        self.stores.audit.read(&AuditQuery { chain: Some(id.into()), ..Default::default() }).expect("read")
    }
}

fn own(id: &str) -> ControlTarget {
    ControlTarget::Session(id.into())
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kinds(events: &[AuditEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.body.kind).collect()
}

/// Seqs 1, 2, 3 … each linked to the one before.
fn assert_linked(events: &[AuditEvent]) {
    let mut prev = ChainTail::genesis();
    for e in events {
        assert_eq!(
            (e.seq, &e.prev_hash),
            (prev.seq + 1, &prev.hash),
            "{:?} does not follow seq {}",
            e.body.kind,
            prev.seq
        );
        prev = e.tail();
    }
}

#[test]
fn control_is_obeyed_at_the_step_boundary_and_acknowledged() {
    let f = fixture();
    let mut s = f.session("s-obey");
    assert_eq!(s.observe().expect("observe"), Gate::Proceed);
    assert_eq!(s.begin_step(), 1);
    let generation = f.control(own("s-obey"), Desired::Pause, "suspicious page");
    // Mid-step nothing changes: the session reads control only when it asks.
    assert_eq!(s.state(), SessionState::Running);
    assert_eq!(s.observe().expect("observe"), Gate::Paused);
    assert_eq!(s.state(), SessionState::Paused);
    s.commit().expect("commit");
    let stored = f.stored("s-obey");
    assert_eq!((stored.state, stored.ack_generation), (SessionState::Paused, generation));
    let events = f.events("s-obey");
    assert_eq!(kinds(&events), [EventKind::SessionStarted, EventKind::Control]);
    let control = &events[1].body;
    assert_eq!(control.attr_str("quell.control.desired"), Some("pause"));
    assert_eq!(control.attr_str("quell.control.operator"), Some("alice"));
    assert_eq!(control.attr_str("quell.control.reason"), Some("suspicious page"));
    assert_eq!(control.attributes.get("quell.control.generation").and_then(|v| v.as_u64()), Some(generation));
    assert_eq!(control.step, 1, "recorded at the step it was obeyed in");
    // Asking again changes nothing and records nothing.
    assert_eq!(s.observe().expect("observe"), Gate::Paused);
    s.commit().expect("commit");
    assert_eq!(f.events("s-obey").len(), 2);
    // A fleet pause is obeyed (and acknowledged) the same way by a session that was running.
    let mut other = f.session("s-other");
    let fleet = f.control(ControlTarget::Fleet, Desired::Pause, "incident");
    assert_eq!(other.observe().expect("observe"), Gate::Paused);
    other.commit().expect("commit");
    assert_eq!(f.stored("s-other").ack_generation, fleet);
}

#[test]
fn pause_blocks_the_gate_until_resume() {
    let f = fixture();
    let mut s = f.session("s-gate");
    f.control(own("s-gate"), Desired::Pause, "hold");
    let (tx, rx) = mpsc::channel();
    let agent = std::thread::spawn(move || {
        let gate = s.gate();
        let _ = tx.send(gate.map(|g| (g, s.state())));
        s
    });
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "the gate returned while paused");
    f.control(own("s-gate"), Desired::Run, "all clear");
    let (gate, state) = rx.recv_timeout(Duration::from_secs(5)).expect("the gate opens on resume").expect("gate");
    assert_eq!((gate, state), (Gate::Proceed, SessionState::Running));
    let mut s = agent.join().expect("agent thread");
    assert_eq!(s.begin_step(), 1);
    s.commit().expect("commit");
    let desired: Vec<_> =
        f.events("s-gate").iter().filter_map(|e| e.body.attr_str("quell.control.desired").map(str::to_owned)).collect();
    assert_eq!(desired, ["pause", "run"]);
}

#[test]
fn kill_is_acknowledged_and_final() {
    let f = fixture();
    let mut s = f.session("s-kill");
    s.begin_step();
    let generation = f.control(own("s-kill"), Desired::Kill, "rogue");
    assert_eq!(s.observe().expect("observe"), Gate::Killed);
    assert_eq!(s.gate().expect("gate"), Gate::Killed, "the gate does not block a killed session");
    s.commit().expect("commit");
    let stored = f.stored("s-kill");
    assert_eq!((stored.state, stored.ack_generation), (SessionState::Killed, generation));
    assert_eq!(stored.detail.as_ref().map(|d| d.raw()), Some("killed by operator"));
    // A later resume of the session does not bring it back, nor does a restart of the agent.
    let events = f.events("s-kill").len();
    f.control(own("s-kill"), Desired::Run, "oops");
    assert_eq!(s.observe().expect("observe"), Gate::Killed);
    s.end(SessionState::Finished, None).expect("end");
    assert_eq!(f.stored("s-kill").state, SessionState::Killed, "ending a killed session keeps it killed");
    assert_eq!(kinds(&f.events("s-kill")[events..]), [EventKind::SessionEnded], "no control event after the kill");
    assert!(matches!(AgentSession::resume(&f.rt, "s-kill"), Err(StoreError::Conflict(_))));
}

#[test]
fn checkpoints_are_stored_after_their_events_in_step_order() {
    let f = fixture();
    let mut s = f.session("s-cp");
    for _ in 0..12 {
        let step = s.begin_step();
        let mut llm = s.body(EventKind::LlmCall);
        llm.output_summary = Some(format!("thinking at step {step}").into());
        s.emit(llm).expect("emit");
        s.checkpoint(vec![json!({"role": "user", "content": step})], vec![], json!({"next": step + 1}))
            .expect("checkpoint");
    }
    s.commit().expect("commit");
    let saved = f.stores.sessions.checkpoints("s-cp").expect("checkpoints");
    assert_eq!(saved.iter().map(|c| c.step).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert_eq!(f.stores.sessions.latest_checkpoint("s-cp").expect("latest").map(|c| c.step), Some(12), "12 after 9");
    let events = f.events("s-cp");
    assert_linked(&events);
    for cp in &saved {
        // Each is covered by its own `checkpoint` event, after the step's LLM call.
        assert_eq!(coverage(cp, &events), Coverage::Verified, "step {}", cp.step);
        let at = events
            .iter()
            .position(|e| e.body.attributes.get("quell.checkpoint.step").and_then(|v| v.as_u64()) == Some(cp.step))
            .expect("checkpoint event");
        assert_eq!(events[at - 1].body.kind, EventKind::LlmCall);
        assert_eq!(events[at - 1].body.step, cp.step);
    }
    // A restarted agent resumes after the latest, not the last in text order.
    drop(s);
    let (resumed, latest) = AgentSession::resume(&f.rt, "s-cp").expect("resume");
    assert_eq!((resumed.step(), latest.map(|c| c.step)), (12, Some(12)));
}

#[test]
fn an_approval_wait_ends_at_expiry_or_kill() {
    let f = fixture();
    let mut s = f.session("s-ask");
    s.begin_step();
    let ask = s.request_approval("send_email", json!({"to": "all"}), Risk::High, Duration::from_millis(80), 1);
    let ask = ask.expect("request");
    assert_eq!(s.state(), SessionState::WaitingApproval);
    s.commit().expect("commit");
    assert_eq!(f.stored("s-ask").state, SessionState::WaitingApproval);
    let started = Instant::now();
    assert_eq!(
        s.wait_approval(&ask.id, Duration::from_millis(5)).expect("wait"),
        ApprovalWait::Final(ApprovalStatus::Expired)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.state(), SessionState::Running, "back to work after the expiry");
    s.commit().expect("commit");
    let decided = f.events("s-ask").pop().expect("event");
    assert_eq!(decided.body.kind, EventKind::ApprovalDecided);
    assert_eq!(decided.body.attr_str("quell.approval.status"), Some("expired"));
    assert_eq!(decided.body.attr_str("quell.approval.id"), Some(ask.id.as_str()));

    // Killed while it waits: said as a kill (not a rejection), at once, and nothing decided.
    let ask = s.request_approval("send_email", json!({}), Risk::High, Duration::from_secs(600), 1).expect("request");
    f.control(own("s-ask"), Desired::Kill, "stop");
    assert_eq!(s.wait_approval(&ask.id, Duration::from_millis(5)).expect("wait"), ApprovalWait::Killed);
    s.commit().expect("commit");
    let last = f.events("s-ask").pop().expect("event");
    assert_eq!(last.body.kind, EventKind::Control, "no approval_decided after the kill");
    assert_eq!(s.state(), SessionState::Killed);
}

#[test]
fn an_audit_outage_queues_events_in_order_and_still_acknowledges_control() {
    let f = fixture();
    f.audit.mode.store(REFUSES, Ordering::SeqCst);
    let mut s = f.session("s-out");
    for step in 1..=3 {
        s.begin_step();
        let mut call = s.body(EventKind::ToolCall);
        call.tool = Some(format!("tool-{step}").into());
        s.emit(call).expect("emit");
    }
    let err = s.commit().expect_err("the audit log is down");
    assert!(err.to_string().contains("4 audit events not stored"), "{err}");
    assert!(f.rt.write_trouble().is_some_and(|t| t.contains("audit log down")));
    // Pause is acknowledged all the same, with the head held back to what is stored (nothing).
    let generation = f.control(own("s-out"), Desired::Pause, "outage drill");
    assert_eq!(s.observe().expect("observe"), Gate::Paused);
    until("the acknowledgement", || f.stored("s-out").ack_generation == generation);
    let stored = f.stored("s-out");
    assert_eq!((stored.state, stored.audit_seq, stored.audit_head), (SessionState::Paused, 0, None));
    assert!(f.events("s-out").is_empty());

    f.audit.mode.store(WORKS, Ordering::SeqCst);
    until("the queued events to be stored", || s.commit().is_ok());
    assert!(f.rt.write_trouble().is_none());
    let events = f.events("s-out");
    assert_eq!(
        kinds(&events),
        [EventKind::SessionStarted, EventKind::ToolCall, EventKind::ToolCall, EventKind::ToolCall, EventKind::Control]
    );
    assert_linked(&events);
    let tools: Vec<_> = events.iter().filter_map(|e| e.body.tool.as_ref().map(|t| t.raw().to_owned())).collect();
    assert_eq!(tools, ["tool-1", "tool-2", "tool-3"], "in the order emitted");
    // A report made once the events are stored carries the head.
    f.control(own("s-out"), Desired::Run, "over");
    s.observe().expect("observe");
    s.commit().expect("commit");
    s.begin_step();
    s.commit().expect("commit");
    let stored = f.stored("s-out");
    let tail = f.stores.audit.tail("s-out").expect("tail").expect("tail");
    assert_eq!((stored.audit_seq, stored.audit_head.as_deref()), (tail.seq, Some(tail.hash.as_str())));
}

#[test]
fn a_write_whose_reply_was_lost_is_not_stored_twice() {
    let f = fixture();
    f.audit.mode.store(LOSES_REPLY, Ordering::SeqCst);
    let mut s = f.session("s-lost");
    s.emit(s.body(EventKind::LlmCall)).expect("emit");
    until("the retry", || s.commit().is_ok());
    let events = f.events("s-lost");
    assert_eq!(kinds(&events), [EventKind::SessionStarted, EventKind::LlmCall]);
    assert_linked(&events);
}

#[test]
fn shutdown_in_an_outage_says_what_is_lost() {
    let f = fixture();
    f.audit.mode.store(REFUSES, Ordering::SeqCst);
    let mut s = f.session("s-lose");
    s.checkpoint(vec![], vec![], json!({})).expect("checkpoint");
    let err = f.rt.shutdown().expect_err("nothing was stored");
    let err = err.to_string();
    assert!(err.contains("2 audit events and 1 checkpoint were not stored and are lost"), "{err}");
    assert!(f.stores.sessions.checkpoints("s-lose").expect("checkpoints").is_empty());
}
