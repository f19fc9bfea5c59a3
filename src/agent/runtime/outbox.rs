//! What the runtime's sessions have queued and the writers have not stored yet: the state both
//! writer lanes share, behind one lock. No I/O here.

use crate::model::chain::ChainTail;
use crate::model::checkpoint::Checkpoint;
use crate::model::session::Session;
use crate::ports::SealedEvent;
use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Default)]
pub(super) struct Outbox {
    /// Audit lane: events not yet stored, in order, and checkpoints waiting for the events queued
    /// before them (each with the number of events queued before it).
    pub(super) events: VecDeque<SealedEvent>,
    pub(super) checkpoints: VecDeque<(u64, Checkpoint)>,
    pub(super) events_queued: u64,
    pub(super) events_stored: u64,
    pub(super) checkpoints_queued: u64,
    pub(super) checkpoints_stored: u64,
    /// Chains with unstored events: the head stored before the first of them.
    pub(super) stored_heads: HashMap<String, ChainTail>,
    /// Sessions whose last report went out with a head held back to `stored_heads` (an ended
    /// one is reported again once its events are stored).
    pub(super) behind: HashSet<String>,
    /// Failed attempts of the audit lane so far, and the latest error (cleared on success).
    pub(super) audit_failures: u64,
    pub(super) audit_error: Option<String>,
    /// State lane: the latest record of every hosted session, and whether it needs writing.
    pub(super) sessions: HashMap<String, (Session, bool)>,
    /// Bumped when the state lane takes a batch / when it has written one; a waiter's reports are
    /// written once `flushed` reaches the `taken` value seen after it queued.
    pub(super) taken: u64,
    pub(super) flushed: u64,
    pub(super) state_error: Option<String>,
    /// Lanes that have ended (after stop).
    pub(super) lanes_done: u8,
}

impl Outbox {
    pub(super) fn queue_event(&mut self, sealed: SealedEvent) {
        let chain = &sealed.event.body.session_id;
        if !self.stored_heads.contains_key(chain) {
            let before = ChainTail { seq: sealed.event.seq.saturating_sub(1), hash: sealed.event.prev_hash.clone() };
            self.stored_heads.insert(chain.clone(), before);
        }
        self.events.push_back(sealed);
        self.events_queued += 1;
    }

    /// A checkpoint, stored once every event queued so far is.
    pub(super) fn queue_checkpoint(&mut self, cp: Checkpoint) {
        self.checkpoints.push_back((self.events_queued, cp));
        self.checkpoints_queued += 1;
    }

    /// The latest record of a session, to be written by the state lane.
    pub(super) fn queue_report(&mut self, session: &Session) {
        self.sessions.insert(session.id.clone(), (session.clone(), true));
    }

    /// The checkpoints that may be stored once `stored_before` events are: those queued after
    /// no more events than that, in order.
    pub(super) fn checkpoints_ready(&self, stored_before: u64) -> Vec<Checkpoint> {
        self.checkpoints.iter().take_while(|(after, _)| *after <= stored_before).map(|(_, c)| c.clone()).collect()
    }

    /// After `stored` were appended: the stored heads of their chains move on.
    pub(super) fn settle(&mut self, stored: &[SealedEvent]) {
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
    pub(super) fn take_reports(&mut self) -> Vec<Session> {
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

    /// Whether any session record waits to be written.
    pub(super) fn reports_pending(&self) -> bool {
        self.sessions.values().any(|(_, dirty)| *dirty)
    }
}

