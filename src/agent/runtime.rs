//! Agent runtime. One [`AgentRuntime`] per process hosts any number of sessions:
//!
//! - a control watcher polls the store for control changes (one query for every hosted session);
//! - two writers commit in batches (group commit), so a crash loses at most the last few
//!   milliseconds: the **audit lane** stores events in order and each checkpoint after the events
//!   queued before it; the **state lane** stores session reports (heartbeats, states, control
//!   acknowledgements). The lanes are apart so an audit log that cannot be written (a broker
//!   down) does not stop pause and kill from being acknowledged. A failed append keeps its events
//!   and retries them (skipping what a partial write already stored), so nothing is lost while
//!   the process lives. A report never carries a chain head ahead of the stored events: while
//!   events are unstored, the head it carries is the last stored one;
//! - each [`AgentSession`] keeps its own chain tail and obeys control at step boundaries.

use crate::model::approval::{Approval, ApprovalStatus, Risk};
use crate::model::audit::{AuditEvent, EventBody, EventKind};
use crate::model::chain::{sha256_hex, ChainTail};
use crate::model::checkpoint::Checkpoint;
use crate::model::control::{self, ControlRecord, ControlTarget, Desired};
use crate::model::session::{validate_session_id, Session, SessionState};
use crate::model::time;
use crate::model::untrusted::{Untrusted, UntrustedJson};
use crate::ports::{Result, SealedEvent, StoreError, Stores};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CONTROL_POLL: Duration = Duration::from_millis(10);
const FLUSH_EVERY: Duration = Duration::from_millis(5);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct ControlCache {
    generation: u64,
    fleet: Option<ControlRecord>,
    sessions: HashMap<String, ControlRecord>,
}

#[derive(Default)]
struct Outbox {
    /// Audit lane: events not yet stored, in order, and checkpoints waiting for the events queued
    /// before them (each with the number of events queued before it).
    events: VecDeque<SealedEvent>,
    checkpoints: VecDeque<(u64, Checkpoint)>,
    events_queued: u64,
    events_stored: u64,
    checkpoints_queued: u64,
    checkpoints_stored: u64,
    /// Chains with unstored events: the head stored before the first of them.
    stored_heads: HashMap<String, ChainTail>,
    /// Sessions whose last report went out with a head held back to `stored_heads` (an ended
    /// one is reported again once its events are stored).
    behind: HashSet<String>,
    /// Failed attempts of the audit lane so far, and the latest error (cleared on success).
    audit_failures: u64,
    audit_error: Option<String>,
    /// State lane: the latest record of every hosted session, and whether it needs writing.
    sessions: HashMap<String, (Session, bool)>,
    /// Bumped when the state lane takes a batch / when it has written one; a waiter's reports are
    /// written once `flushed` reaches the `taken` value seen after it queued.
    taken: u64,
    flushed: u64,
    state_error: Option<String>,
    /// Lanes that have ended (after stop).
    lanes_done: u8,
}

impl Outbox {
    fn queue_event(&mut self, sealed: SealedEvent) {
        let chain = &sealed.event.body.session_id;
        if !self.stored_heads.contains_key(chain) {
            let before = ChainTail { seq: sealed.event.seq.saturating_sub(1), hash: sealed.event.prev_hash.clone() };
            self.stored_heads.insert(chain.clone(), before);
        }
        self.events.push_back(sealed);
        self.events_queued += 1;
    }

    /// After `stored` were appended: the stored heads of their chains move on.
    fn settle(&mut self, stored: &[SealedEvent]) {
        let mut chains: Vec<&str> = stored.iter().map(|e| e.event.body.session_id.as_str()).collect();
        chains.sort_unstable();
        chains.dedup();
        for chain in &chains {
            self.stored_heads.remove(*chain);
            // A live session's next report (a heartbeat at the latest) carries the new head; an
            // ended one has no next report, so it is written again now.
            if self.behind.remove(*chain) {
                if let Some((s, dirty)) = self.sessions.get_mut(*chain) {
                    *dirty |= s.state.is_terminal();
                }
            }
        }
        for e in &self.events {
            let chain = &e.event.body.session_id;
            if chains.binary_search(&chain.as_str()).is_ok() && !self.stored_heads.contains_key(chain) {
                let before = ChainTail { seq: e.event.seq.saturating_sub(1), hash: e.event.prev_hash.clone() };
                self.stored_heads.insert(chain.clone(), before);
            }
        }
    }

    /// The dirty reports as they may be stored now: no chain head further than the stored
    /// events (noting the ones held back).
    fn take_reports(&mut self) -> Vec<Session> {
        let mut out = Vec::new();
        for (s, dirty) in self.sessions.values_mut().filter(|(_, d)| *d) {
            *dirty = false;
            let mut s = s.clone();
            match self.stored_heads.get(&s.id).filter(|h| s.audit_seq > h.seq) {
                Some(head) => {
                    s.audit_seq = head.seq;
                    s.audit_head = (head.seq > 0).then(|| head.hash.clone());
                    self.behind.insert(s.id.clone());
                }
                None => {
                    self.behind.remove(&s.id);
                }
            }
            out.push(s);
        }
        out
    }
}

/// Most events the audit lane appends in one call.
const MAX_APPEND: usize = 5_000;
/// Longest wait between two attempts of a failing append.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

struct Shared {
    stores: Stores,
    control: RwLock<ControlCache>,
    control_changed: AtomicU64,
    outbox: Mutex<Outbox>,
    outbox_cv: Condvar,
    flushed_cv: Condvar,
    stop: AtomicBool,
    wake: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// One per process. Dropping it (or calling [`AgentRuntime::shutdown`]) flushes what is queued.
pub struct AgentRuntime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentRuntime {
    pub fn start(stores: Stores) -> Result<Arc<AgentRuntime>> {
        let shared = Arc::new(Shared {
            stores,
            control: RwLock::new(ControlCache::default()),
            control_changed: AtomicU64::new(0),
            outbox: Mutex::new(Outbox::default()),
            outbox_cv: Condvar::new(),
            flushed_cv: Condvar::new(),
            stop: AtomicBool::new(false),
            wake: Mutex::new(None),
        });
        poll_control(&shared)?;
        let w = shared.clone();
        let watcher = std::thread::Builder::new()
            .name("quell-control".into())
            .spawn(move || control_loop(&w))
            .map_err(|e| StoreError::Unavailable(format!("cannot start control watcher: {e}")))?;
        let f = shared.clone();
        let state = std::thread::Builder::new()
            .name("quell-state".into())
            .spawn(move || lane_ended(&f, state_lane))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer: {e}")))?;
        let a = shared.clone();
        let audit = std::thread::Builder::new()
            .name("quell-audit".into())
            .spawn(move || lane_ended(&a, audit_lane))
            .map_err(|e| StoreError::Unavailable(format!("cannot start audit writer: {e}")))?;
        Ok(Arc::new(AgentRuntime { shared, threads: Mutex::new(vec![watcher, state, audit]) }))
    }

    pub fn stores(&self) -> &Stores {
        &self.shared.stores
    }

    /// Called (from the watcher thread) whenever control changes: a host scheduling many
    /// sessions uses it to wake them so they acknowledge at once.
    pub fn on_control_change(&self, f: impl Fn() + Send + Sync + 'static) {
        *lock(&self.shared.wake) = Some(Box::new(f));
    }

    /// Increases on every control change seen.
    pub fn control_version(&self) -> u64 {
        self.shared.control_changed.load(Ordering::Acquire)
    }

    /// Blocks until everything queued so far is stored. When an append fails the error is
    /// returned at once; its events stay queued and are retried.
    pub fn flush(&self) -> Result<()> {
        wait_flushed(&self.shared, None)
    }

    /// [`AgentRuntime::flush`], waiting at most `limit`: an append that hangs (brokers gone, a
    /// delivery timeout running) does not hold the agent longer; its events stay queued.
    pub fn flush_within(&self, limit: Duration) -> Result<()> {
        wait_flushed(&self.shared, Some(Instant::now() + limit))
    }

    /// Flushes, stops the writers (after one last attempt) and says what was not stored: once
    /// this returns nothing retries, so unstored events are reported as lost, not as pending.
    pub fn shutdown(&self) -> Result<()> {
        let _ = self.flush();
        self.shared.stop.store(true, Ordering::Release);
        self.shared.outbox_cv.notify_all();
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        let out = lock(&self.shared.outbox);
        if !out.events.is_empty() || !out.checkpoints.is_empty() {
            let why = out.audit_error.clone().unwrap_or_else(|| "the audit writer has stopped".into());
            return Err(StoreError::Unavailable(format!(
                "{why}: {} audit event{} and {} checkpoint{} were not stored and are lost: nothing retries them \
                 after this stop",
                out.events.len(),
                if out.events.len() == 1 { "" } else { "s" },
                out.checkpoints.len(),
                if out.checkpoints.len() == 1 { "" } else { "s" }
            )));
        }
        match out.state_error.clone() {
            Some(e) => {
                // Only session records failed: the latest state of those still dirty is lost.
                let n = out.sessions.values().filter(|(_, dirty)| *dirty).count();
                Err(StoreError::Unavailable(format!(
                    "{e}: the latest record of {n} session{} was not stored and is lost; every audit event \
                     was stored",
                    if n == 1 { "" } else { "s" }
                )))
            }
            None => Ok(()),
        }
    }

    /// Why writes to the store fail now, if they do (the latest error of either writer, with
    /// the audit events waiting); `None` while they succeed. For a host to say so at once
    /// instead of finding out at exit.
    pub fn write_trouble(&self) -> Option<String> {
        let out = lock(&self.shared.outbox);
        match (&out.audit_error, &out.state_error) {
            (Some(e), _) => Some(format!("{e} ({} yet)", not_stored(out.events.len()))),
            (None, Some(e)) => Some(e.clone()),
            (None, None) => None,
        }
    }
}

/// "N audit event(s) not stored".
fn not_stored(n: usize) -> String {
    format!("{n} audit event{} not stored", if n == 1 { "" } else { "s" })
}

impl Drop for AgentRuntime {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn poll_control(shared: &Shared) -> Result<bool> {
    let since = shared.control.read().map(|c| c.generation).unwrap_or(0);
    let changes = shared.stores.control.control_changes(since)?;
    if changes.is_empty() {
        return Ok(false);
    }
    let mut cache = shared.control.write().unwrap_or_else(|p| p.into_inner());
    for rec in changes {
        cache.generation = cache.generation.max(rec.generation);
        match rec.target.clone() {
            ControlTarget::Fleet => cache.fleet = Some(rec),
            ControlTarget::Session(id) => {
                cache.sessions.insert(id, rec);
            }
        }
    }
    drop(cache);
    shared.control_changed.fetch_add(1, Ordering::AcqRel);
    Ok(true)
}

fn control_loop(shared: &Shared) {
    let mut backoff = CONTROL_POLL;
    while !shared.stop.load(Ordering::Acquire) {
        match poll_control(shared) {
            Ok(changed) => {
                backoff = CONTROL_POLL;
                if changed {
                    if let Some(wake) = lock(&shared.wake).as_ref() {
                        wake();
                    }
                }
            }
            // Store unavailable: keep the last known control, retry with capped backoff.
            Err(_) => backoff = (backoff * 2).min(Duration::from_secs(1)),
        }
        std::thread::sleep(backoff);
    }
}

fn lane_ended(shared: &Shared, lane: fn(&Shared)) {
    lane(shared);
    lock(&shared.outbox).lanes_done += 1;
    shared.flushed_cv.notify_all();
}

/// Session reports: heartbeats, states, acknowledgements.
fn state_lane(shared: &Shared) {
    let mut last_heartbeat = Instant::now();
    loop {
        let mut out = lock(&shared.outbox);
        if !out.sessions.values().any(|(_, d)| *d) && !shared.stop.load(Ordering::Acquire) {
            out = shared.outbox_cv.wait_timeout(out, FLUSH_EVERY).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
        if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            let now = time::now();
            for (s, dirty) in out.sessions.values_mut() {
                if !s.state.is_terminal() {
                    s.last_seen = now;
                    *dirty = true;
                }
            }
            last_heartbeat = Instant::now();
        }
        let sessions = out.take_reports();
        out.taken += 1;
        let batch = out.taken;
        let stopping = shared.stop.load(Ordering::Acquire);
        drop(out);

        let result = if sessions.is_empty() { Ok(()) } else { shared.stores.sessions.put_sessions(&sessions) };
        let mut out = lock(&shared.outbox);
        out.flushed = batch;
        match result {
            Ok(()) => {
                out.state_error = None;
                // Ended sessions leave once their last head is stored and reported.
                let Outbox { sessions: hosted, stored_heads, behind, .. } = &mut *out;
                hosted.retain(|id, (s, dirty)| {
                    *dirty || !s.state.is_terminal() || stored_heads.contains_key(id) || behind.contains(id)
                });
            }
            Err(e) => {
                out.state_error = Some(e.to_string());
                for s in &sessions {
                    if let Some((_, dirty)) = out.sessions.get_mut(&s.id) {
                        *dirty = true;
                    }
                }
            }
        }
        drop(out);
        shared.flushed_cv.notify_all();
        if stopping {
            return;
        }
    }
}

/// Events in order, then the checkpoints queued after them.
fn audit_lane(shared: &Shared) {
    let mut retry_wait = Duration::ZERO;
    loop {
        let mut out = lock(&shared.outbox);
        if out.events.is_empty() && out.checkpoints.is_empty() {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            drop(shared.outbox_cv.wait_timeout(out, FLUSH_EVERY).unwrap_or_else(|p| p.into_inner()));
            continue;
        }
        let n = out.events.len().min(MAX_APPEND);
        let batch: Vec<SealedEvent> = out.events.drain(..n).collect();
        let stored_before = out.events_stored + n as u64;
        let ready: Vec<Checkpoint> =
            out.checkpoints.iter().take_while(|(after, _)| *after <= stored_before).map(|(_, c)| c.clone()).collect();
        let retrying = !retry_wait.is_zero();
        let stopping = shared.stop.load(Ordering::Acquire);
        drop(out);

        let result = store_events(&shared.stores, &batch, retrying).map_err(Failed::Events).and_then(|()| {
            ready.iter().try_for_each(|cp| shared.stores.sessions.save_checkpoint(cp)).map_err(Failed::Checkpoints)
        });
        let mut out = lock(&shared.outbox);
        match result {
            Ok(()) => {
                out.events_stored += n as u64;
                out.checkpoints.drain(..ready.len());
                out.checkpoints_stored += ready.len() as u64;
                out.settle(&batch);
                out.audit_error = None;
                retry_wait = Duration::ZERO;
            }
            Err(failed) => {
                let e = match failed {
                    Failed::Events(e) => {
                        for sealed in batch.into_iter().rev() {
                            out.events.push_front(sealed);
                        }
                        e
                    }
                    Failed::Checkpoints(e) => {
                        // The events are in; only the checkpoints are tried again.
                        out.events_stored += n as u64;
                        out.settle(&batch);
                        e
                    }
                };
                out.audit_failures += 1;
                out.audit_error = Some(e.to_string());
                retry_wait = (retry_wait * 2).clamp(Duration::from_millis(100), MAX_RETRY_WAIT);
            }
        }
        drop(out);
        shared.flushed_cv.notify_all();
        shared.outbox_cv.notify_all();
        if !retry_wait.is_zero() {
            if stopping {
                return;
            }
            sleep_unless_stopped(shared, retry_wait);
        }
    }
}

/// What an attempt of the audit lane could not store.
enum Failed {
    Events(StoreError),
    Checkpoints(StoreError),
}

/// Appends a batch. A retry first drops the events a failed attempt may have stored already
/// (the chain's stored tail is at or past them).
fn store_events(stores: &Stores, batch: &[SealedEvent], retrying: bool) -> Result<()> {
    if !retrying {
        return stores.audit.append(batch);
    }
    let mut chains: Vec<&str> = batch.iter().map(|e| e.event.body.session_id.as_str()).collect();
    chains.sort_unstable();
    chains.dedup();
    let found = stores.audit.tails(&chains)?;
    let tails: HashMap<&str, Option<ChainTail>> = chains.into_iter().zip(found).collect();
    let mut rest = Vec::with_capacity(batch.len());
    for e in batch {
        let chain = e.event.body.session_id.as_str();
        match tails.get(chain).and_then(Option::as_ref) {
            Some(t) if e.event.seq < t.seq => {}
            Some(t) if e.event.seq == t.seq => {
                if e.event.hash != t.hash {
                    return Err(StoreError::Conflict(format!(
                        "audit chain {chain}: the log holds another event at seq {}; this process's events \
                         from there are not stored",
                        t.seq
                    )));
                }
            }
            _ => rest.push(e.clone()),
        }
    }
    stores.audit.append(&rest)
}

fn sleep_unless_stopped(shared: &Shared, wait: Duration) {
    let until = Instant::now() + wait;
    while !shared.stop.load(Ordering::Acquire) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

fn wait_flushed(shared: &Shared, deadline: Option<Instant>) -> Result<()> {
    let mut out = lock(&shared.outbox);
    let (events, checkpoints) = (out.events_queued, out.checkpoints_queued);
    let failures = out.audit_failures;
    let target = out.taken + 1;
    shared.outbox_cv.notify_all();
    loop {
        let audit_done = out.events_stored >= events && out.checkpoints_stored >= checkpoints;
        let state_done = out.flushed >= target || (out.lanes_done > 0 && out.flushed >= out.taken);
        if audit_done && state_done {
            break;
        }
        if out.audit_failures > failures || (out.lanes_done >= 2 && !audit_done) {
            let why = out.audit_error.clone().unwrap_or_else(|| "the audit writer has stopped".into());
            return Err(StoreError::Unavailable(format!(
                "{why} ({} yet{})",
                not_stored(out.events.len()),
                if out.lanes_done >= 2 { "" } else { "; retrying while this process runs" }
            )));
        }
        if out.lanes_done >= 2 {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(StoreError::Unavailable(format!(
                "the audit log did not take the queued writes in time ({} yet; retrying while this process runs)",
                not_stored(out.events.len())
            )));
        }
        out = shared
            .flushed_cv
            .wait_timeout(out, Duration::from_millis(50))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    match out.state_error.clone() {
        Some(e) => Err(StoreError::Unavailable(e)),
        None => Ok(()),
    }
}

/// What an agent declares about itself when it starts a session.
#[derive(Clone, Debug, Default)]
pub struct SessionSpec {
    pub id: Option<String>,
    pub agent: String,
    pub model: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// The tools this agent is meant to call; the console flags any other as an anomaly.
    pub allowed_tools: Vec<String>,
}

/// The answer of the control gate at a step boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    Paused,
    Killed,
}

/// One agent session. Not shared between threads: one agent loop owns it.
pub struct AgentSession {
    rt: Arc<AgentRuntime>,
    session: Session,
    tail: ChainTail,
    identity: String,
    applied: Desired,
    /// An approval this session waits for: after a pause it goes back to waiting, not running.
    waiting: Option<String>,
}

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let n = time::to_micros(&time::now()) as u64 ^ u64::from(std::process::id());
        bytes = n.to_le_bytes();
    }
    format!("{prefix}-{}", hex::encode(bytes))
}

impl AgentSession {
    /// Registers a new session and queues `session_started` (call [`AgentSession::commit`] to
    /// wait until it is stored).
    pub fn start(rt: &Arc<AgentRuntime>, spec: SessionSpec) -> Result<AgentSession> {
        let id = spec.id.clone().unwrap_or_else(|| new_id("s"));
        validate_session_id(&id).map_err(StoreError::Invalid)?;
        if rt.stores().sessions.session(&id)?.is_some() {
            return Err(StoreError::Conflict(format!("session {id} already exists; resume it instead")));
        }
        let mut session = Session::new(id.clone(), spec.agent.as_str(), time::now());
        session.model = spec.model.clone().map(Untrusted::new);
        session.namespace = spec.namespace.clone().map(Untrusted::new);
        session.pod = spec.pod.clone().map(Untrusted::new);
        let tail = rt.stores().audit.tail(&id)?.unwrap_or_else(ChainTail::genesis);
        let mut s = AgentSession {
            rt: rt.clone(),
            identity: format!("agent:{}", spec.agent),
            session,
            tail,
            applied: Desired::Run,
            waiting: None,
        };
        let body = s
            .body(EventKind::SessionStarted)
            .attr("quell.agent", spec.agent)
            .attr("quell.allowed_tools", spec.allowed_tools);
        s.emit(body)?;
        Ok(s)
    }

    /// Picks a session up after a crash: its record, its chain tail from the audit log, and its
    /// latest checkpoint (the highest numeric step).
    pub fn resume(rt: &Arc<AgentRuntime>, id: &str) -> Result<(AgentSession, Option<Checkpoint>)> {
        let mut session =
            rt.stores().sessions.session(id)?.ok_or_else(|| StoreError::NotFound(format!("no session {id}")))?;
        if session.state == SessionState::Killed {
            return Err(StoreError::Conflict(format!("session {id} was killed; it cannot resume")));
        }
        let tail = rt.stores().audit.tail(id)?.unwrap_or_else(ChainTail::genesis);
        let latest = rt.stores().sessions.latest_checkpoint(id)?;
        session.step = latest.as_ref().map(|c| c.step).unwrap_or(0);
        session.state = SessionState::Running;
        session.last_seen = time::now();
        let identity = format!("agent:{}", session.agent.raw());
        let mut s = AgentSession { rt: rt.clone(), session, tail, identity, applied: Desired::Run, waiting: None };
        let body = s.body(EventKind::SessionStarted).attr("quell.resumed_from_step", s.session.step);
        s.emit(body)?;
        Ok((s, latest))
    }

    pub fn id(&self) -> &str {
        &self.session.id
    }

    pub fn step(&self) -> u64 {
        self.session.step
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn state(&self) -> SessionState {
        self.session.state
    }

    /// A body for this session's next event, with the current step, identity and model.
    pub fn body(&self, kind: EventKind) -> EventBody {
        let mut b = EventBody::new(self.session.id.clone(), self.session.step, kind, self.identity.clone());
        b.model = self.session.model.clone();
        b
    }

    /// Seals and queues an event; returns once it is queued. Use [`AgentSession::commit`] before
    /// an irreversible action to be sure it is stored.
    pub fn emit(&mut self, body: EventBody) -> Result<AuditEvent> {
        if let Some(t) = body.tool.as_ref() {
            if !self.session.tools.contains(t) {
                self.session.tools.push(t.clone());
            }
        }
        if let (Some(i), Some(o)) = (body.input_tokens, body.output_tokens) {
            self.session.input_tokens += i;
            self.session.output_tokens += o;
        }
        let sealed = SealedEvent::seal(body, &self.tail)?;
        self.tail = sealed.event.tail();
        self.session.audit_seq = self.tail.seq;
        self.session.audit_head = Some(self.tail.hash.clone());
        let event = sealed.event.clone();
        let mut out = lock(&self.rt.shared.outbox);
        out.queue_event(sealed);
        out.sessions.insert(self.session.id.clone(), (self.session.clone(), true));
        drop(out);
        Ok(event)
    }

    /// Blocks until everything this runtime queued is stored.
    pub fn commit(&self) -> Result<()> {
        self.rt.flush()
    }

    fn report(&mut self) {
        self.session.last_seen = time::now();
        let mut out = lock(&self.rt.shared.outbox);
        out.sessions.insert(self.session.id.clone(), (self.session.clone(), true));
    }

    pub fn add_cost(&mut self, usd: f64) {
        self.session.cost_usd += usd;
    }

    /// Starts the next step (after the gate said proceed).
    pub fn begin_step(&mut self) -> u64 {
        self.session.step += 1;
        self.report();
        self.session.step
    }

    /// Saves the seed-shaped checkpoint for the current step (ordered after queued events),
    /// covered by a `checkpoint` event that records the hash of its stored text.
    pub fn checkpoint(
        &mut self,
        messages: Vec<serde_json::Value>,
        tool_results: Vec<serde_json::Value>,
        plan: serde_json::Value,
    ) -> Result<Checkpoint> {
        // The event first: its time is not after the checkpoint's `created_at` (the timeline
        // places a checkpoint after the events of its step).
        let mut body = self.body(EventKind::Checkpoint).attr("quell.checkpoint.step", self.session.step);
        let cp = Checkpoint {
            session_id: self.session.id.clone(),
            step: self.session.step,
            messages: messages.into_iter().map(UntrustedJson::new).collect(),
            tool_results: tool_results.into_iter().map(UntrustedJson::new).collect(),
            plan: UntrustedJson::new(plan),
            created_at: Untrusted::new(time::format(&time::now())),
            stored_hash: None,
        };
        // The event covers the checkpoint: the hash of exactly the text the store will keep.
        body.checkpoint_hash = Some(sha256_hex(cp.to_json().as_bytes()));
        self.emit(body)?;
        let mut out = lock(&self.rt.shared.outbox);
        let after = out.events_queued;
        out.checkpoints.push_back((after, cp.clone()));
        out.checkpoints_queued += 1;
        Ok(cp)
    }

    /// Reads the desired state (no I/O: the watcher keeps it current), acknowledges it, and
    /// records a control event when it changes what the session does.
    pub fn observe(&mut self) -> Result<Gate> {
        let (generation, desired, record) = {
            let cache = self.rt.shared.control.read().unwrap_or_else(|p| p.into_inner());
            let own = cache.sessions.get(&self.session.id);
            let desired = control::effective(cache.fleet.as_ref(), own);
            let record = [cache.fleet.as_ref(), own]
                .into_iter()
                .flatten()
                .filter(|r| r.desired == desired)
                .max_by_key(|r| r.generation)
                .cloned();
            (cache.generation, desired, record)
        };
        let mut changed = false;
        if generation > self.session.ack_generation {
            self.session.ack_generation = generation;
            changed = true;
        }
        if desired != self.applied && self.session.state != SessionState::Killed {
            self.applied = desired;
            self.session.state = match desired {
                Desired::Run if self.waiting.is_some() => SessionState::WaitingApproval,
                Desired::Run => SessionState::Running,
                Desired::Pause => SessionState::Paused,
                Desired::Kill => SessionState::Killed,
            };
            let mut body = self.body(EventKind::Control).attr("quell.control.desired", desired.as_str());
            if let Some(r) = record {
                body = body
                    .attr("quell.control.operator", r.operator)
                    .attr("quell.control.reason", r.reason)
                    .attr("quell.control.generation", r.generation);
            }
            if desired == Desired::Kill {
                self.session.detail = Some(Untrusted::new("killed by operator"));
            }
            self.emit(body)?;
            changed = false;
        }
        if changed {
            self.report();
        }
        Ok(match self.session.state {
            SessionState::Killed => Gate::Killed,
            SessionState::Paused => Gate::Paused,
            _ => Gate::Proceed,
        })
    }

    /// Blocks while paused; returns `Proceed` or `Killed`.
    pub fn gate(&mut self) -> Result<Gate> {
        loop {
            match self.observe()? {
                Gate::Paused => std::thread::sleep(CONTROL_POLL),
                other => return Ok(other),
            }
        }
    }

    /// Asks a human; the session waits in `waiting_approval`.
    pub fn request_approval(
        &mut self,
        tool: &str,
        arguments: serde_json::Value,
        risk: Risk,
        ttl: Duration,
        required_approvers: u8,
    ) -> Result<Approval> {
        let now = time::now();
        let approval = Approval {
            id: new_id("ap"),
            session_id: self.session.id.clone(),
            step: self.session.step,
            tool: Untrusted::new(tool),
            arguments: UntrustedJson::new(arguments),
            risk,
            requested_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(300)),
            required_approvers: required_approvers.clamp(1, 2),
            decisions: vec![],
            status: ApprovalStatus::Pending,
            unreadable: None,
        };
        let body = self
            .body(EventKind::ApprovalRequested)
            .attr("quell.approval.id", approval.id.clone())
            .attr("quell.approval.risk", risk.as_str())
            .attr("quell.approval.required_approvers", approval.required_approvers);
        let mut body = body;
        body.tool = Some(Untrusted::new(tool));
        self.emit(body)?;
        self.rt.shared.stores.approvals.request_approval(&approval)?;
        self.waiting = Some(approval.id.clone());
        if self.session.state == SessionState::Running {
            self.session.state = SessionState::WaitingApproval;
        }
        self.report();
        Ok(approval)
    }

    /// The approval's status now (expiry counts as rejection). Once final, records
    /// `approval_decided` and returns the session to running.
    pub fn approval_outcome(&mut self, id: &str) -> Result<ApprovalStatus> {
        let approval = self
            .rt
            .shared
            .stores
            .approvals
            .approval(id)?
            .ok_or_else(|| StoreError::NotFound(format!("no approval {id}")))?;
        if let Some(why) = &approval.unreadable {
            return Err(StoreError::Corrupt(format!("approval {id} is unreadable: {why}")));
        }
        let status = approval.status_at(time::now());
        if status.is_final() {
            let approvers: Vec<String> = approval.decisions.iter().map(|d| d.approver.clone()).collect();
            let body = self
                .body(EventKind::ApprovalDecided)
                .attr("quell.approval.id", id)
                .attr("quell.approval.status", status.as_str())
                .attr("quell.approval.approvers", approvers);
            self.emit(body)?;
            self.waiting = None;
            if self.session.state == SessionState::WaitingApproval {
                self.session.state = SessionState::Running;
            }
            self.report();
        }
        Ok(status)
    }

    /// Blocks until the approval is decided or expires, honouring kill meanwhile.
    pub fn wait_approval(&mut self, id: &str, poll: Duration) -> Result<ApprovalStatus> {
        loop {
            if self.observe()? == Gate::Killed {
                return Ok(ApprovalStatus::Rejected);
            }
            let status = self.approval_outcome(id)?;
            if status.is_final() {
                return Ok(status);
            }
            std::thread::sleep(poll);
        }
    }

    /// Ends the session as finished or failed (kill is ended by control, not here).
    pub fn end(&mut self, state: SessionState, detail: Option<&str>) -> Result<()> {
        if self.session.state != SessionState::Killed {
            self.session.state = state;
        }
        self.session.detail = detail.map(Untrusted::new).or(self.session.detail.take());
        let body = self.body(EventKind::SessionEnded).attr("quell.final_state", self.session.state.as_str());
        self.emit(body)?;
        self.rt.flush()
    }
}
