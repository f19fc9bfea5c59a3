//! The process side of the runtime: one [`AgentRuntime`] owns the control watcher and the two
//! writer lanes, and gives its sessions a small internal API to queue writes and read control.

use super::outbox::Outbox;
use super::watcher::{self, ControlCache, ControlView};
use super::writers::{self, not_stored};
use crate::model::checkpoint::Checkpoint;
use crate::model::session::Session;
use crate::ports::{Result, SealedEvent, StoreError, Stores};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the runtime's threads and its sessions share.
pub(super) struct Shared {
    pub(super) stores: Stores,
    pub(super) control: RwLock<ControlCache>,
    pub(super) control_changed: AtomicU64,
    pub(super) outbox: Mutex<Outbox>,
    pub(super) outbox_cv: Condvar,
    pub(super) flushed_cv: Condvar,
    pub(super) stop: AtomicBool,
    pub(super) wake: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// One per process. Dropping it (or calling [`AgentRuntime::shutdown`]) flushes what is queued.
pub struct AgentRuntime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A poisoned lock still holds consistent data here (every writer leaves it whole), so it is
/// taken over rather than propagated as a panic.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        watcher::poll_control(&shared)?;
        let w = shared.clone();
        let watcher = std::thread::Builder::new()
            .name("quell-control".into())
            .spawn(move || watcher::control_loop(&w))
            .map_err(|e| StoreError::Unavailable(format!("cannot start control watcher: {e}")))?;
        let f = shared.clone();
        let state = std::thread::Builder::new()
            .name("quell-state".into())
            .spawn(move || writers::lane_ended(&f, writers::state_lane))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer: {e}")))?;
        let a = shared.clone();
        let audit = std::thread::Builder::new()
            .name("quell-audit".into())
            .spawn(move || writers::lane_ended(&a, writers::audit_lane))
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
        writers::wait_flushed(&self.shared, None)
    }

    /// [`AgentRuntime::flush`], waiting at most `limit`: an append that hangs (brokers gone, a
    /// delivery timeout running) does not hold the agent longer; its events stay queued.
    pub fn flush_within(&self, limit: Duration) -> Result<()> {
        writers::wait_flushed(&self.shared, Some(Instant::now() + limit))
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

    // The sessions' side: queue writes, read control. Each call takes the lock once, so what
    // one call queues is seen by the writers whole.

    /// Queues a sealed event and the record of the session that emitted it.
    pub(super) fn queue_event(&self, sealed: SealedEvent, report: &Session) {
        let mut out = lock(&self.shared.outbox);
        out.queue_event(sealed);
        out.queue_report(report);
    }

    /// Queues a session's latest record.
    pub(super) fn queue_report(&self, report: &Session) {
        lock(&self.shared.outbox).queue_report(report);
    }

    /// Queues a checkpoint, stored after every event queued so far.
    pub(super) fn queue_checkpoint(&self, cp: Checkpoint) {
        lock(&self.shared.outbox).queue_checkpoint(cp);
    }

    /// What control asks of a session, as the watcher last saw it (no I/O).
    pub(super) fn control_for(&self, session_id: &str) -> ControlView {
        self.shared.control.read().unwrap_or_else(|p| p.into_inner()).view(session_id)
    }
}

impl Drop for AgentRuntime {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
