//! The two writer lanes, each a thread committing what the [`Outbox`](super::outbox::Outbox)
//! holds in batches (group commit): the **audit lane** stores events in order and each
//! checkpoint after the events queued before it; the **state lane** stores session reports
//! (heartbeats, states, control acknowledgements). They are apart so an audit log that cannot
//! be written (a broker down) does not stop pause and kill from being acknowledged.

use super::outbox::Outbox;
use super::process::{lock, Shared};
use crate::model::chain::ChainTail;
use crate::model::time;
use crate::ports::{Result, SealedEvent, StoreError, Stores};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest a queued write waits for its lane.
const FLUSH_EVERY: Duration = Duration::from_millis(5);
/// How often a live session's record is written even when nothing changed.
pub(super) const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Most events the audit lane appends in one call.
const MAX_APPEND: usize = 5_000;
/// Longest wait between two attempts of a failing append.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Runs a lane until it stops, then says so to the waiters.
pub(super) fn lane_ended(shared: &Shared, lane: fn(&Shared)) {
    lane(shared);
    lock(&shared.outbox).lanes_done += 1;
    shared.flushed_cv.notify_all();
}

/// Session reports: heartbeats, states, acknowledgements.
pub(super) fn state_lane(shared: &Shared) {
    let mut last_heartbeat = Instant::now();
    loop {
        let mut out = lock(&shared.outbox);
        if !out.reports_pending() && !shared.stop.load(Ordering::Acquire) {
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
pub(super) fn audit_lane(shared: &Shared) {
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
        let ready = out.checkpoints_ready(out.events_stored + n as u64);
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

/// Blocks until everything queued before the call is stored, an append fails, the lanes end,
/// or `deadline` passes.
pub(super) fn wait_flushed(shared: &Shared, deadline: Option<Instant>) -> Result<()> {
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

/// "N audit event(s) not stored".
pub(super) fn not_stored(n: usize) -> String {
    format!("{n} audit event{} not stored", if n == 1 { "" } else { "s" })
}
