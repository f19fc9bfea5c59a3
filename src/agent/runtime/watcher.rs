//! The control watcher: one thread per process polls the store for control changes (one query
//! for every hosted session) and keeps the latest records in memory, so a session reads its
//! desired state at a step boundary without I/O.

use super::process::{lock, Shared};
use crate::model::control::{self, ControlRecord, ControlTarget, Desired};
use crate::ports::Result;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the watcher asks the store for changes; also how often a paused session looks again.
pub(super) const CONTROL_POLL: Duration = Duration::from_millis(10);
/// Longest wait between two polls while the store is unavailable.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(1);

/// The control records seen so far: the fleet's and each session's latest.
#[derive(Default)]
pub(super) struct ControlCache {
    pub(super) generation: u64,
    fleet: Option<ControlRecord>,
    sessions: HashMap<String, ControlRecord>,
}

/// What control asks of one session now.
pub(super) struct ControlView {
    /// The newest generation seen (what the session acknowledges by reading it).
    pub(super) generation: u64,
    pub(super) desired: Desired,
    /// The newest record that asks for `desired` (fleet or own): who asked and why.
    pub(super) record: Option<ControlRecord>,
}

impl ControlCache {
    pub(super) fn view(&self, session_id: &str) -> ControlView {
        let own = self.sessions.get(session_id);
        let desired = control::effective(self.fleet.as_ref(), own);
        let record = [self.fleet.as_ref(), own]
            .into_iter()
            .flatten()
            .filter(|r| r.desired == desired)
            .max_by_key(|r| r.generation)
            .cloned();
        ControlView { generation: self.generation, desired, record }
    }

    fn apply(&mut self, changes: Vec<ControlRecord>) {
        for rec in changes {
            self.generation = self.generation.max(rec.generation);
            match rec.target.clone() {
                ControlTarget::Fleet => self.fleet = Some(rec),
                ControlTarget::Session(id) => {
                    self.sessions.insert(id, rec);
                }
            }
        }
    }
}

/// Reads the changes after the cached generation; `true` when there were any.
pub(super) fn poll_control(shared: &Shared) -> Result<bool> {
    let since = shared.control.read().map(|c| c.generation).unwrap_or(0);
    let changes = shared.stores.control.control_changes(since)?;
    if changes.is_empty() {
        return Ok(false);
    }
    shared.control.write().unwrap_or_else(|p| p.into_inner()).apply(changes);
    shared.control_changed.fetch_add(1, Ordering::AcqRel);
    Ok(true)
}

pub(super) fn control_loop(shared: &Shared) {
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
            Err(_) => backoff = (backoff * 2).min(MAX_POLL_BACKOFF),
        }
        std::thread::sleep(backoff);
    }
}
