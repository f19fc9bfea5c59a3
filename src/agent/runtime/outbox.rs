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
        let mut next = session.clone();
        // The state lane's heartbeats move the queued copy's `last_seen` on while the agent
        // waits (paused, or for an approval); the agent's own copy then lags. Never write a
        // record that says the session was seen earlier than one already queued: the row would
        // turn `stale` just as the agent acknowledged a pause.
        if let Some((queued, _)) = self.sessions.get(&session.id) {
            next.last_seen = next.last_seen.max(queued.last_seen);
        }
        self.sessions.insert(session.id.clone(), (next, true));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::{EventBody, EventKind};
    use crate::model::session::SessionState;
    use crate::model::time;

    fn sealed(chain: &str, tail: &mut ChainTail) -> SealedEvent {
        let body = EventBody::new(chain, 0, EventKind::LlmCall, "agent:test");
        let s = SealedEvent::seal(body, tail).expect("seal");
        *tail = s.event.tail();
        s
    }

    fn checkpoint(step: u64) -> Checkpoint {
        Checkpoint {
            session_id: "s-1".into(),
            step,
            messages: vec![],
            tool_results: vec![],
            plan: crate::model::untrusted::UntrustedJson::new(serde_json::json!({})),
            created_at: "2026-11-28T03:00:00Z".into(),
            stored_hash: None,
        }
    }

    #[test]
    fn a_checkpoint_waits_for_the_events_queued_before_it() {
        let mut out = Outbox::default();
        let mut tail = ChainTail::genesis();
        out.queue_event(sealed("s-1", &mut tail));
        out.queue_checkpoint(checkpoint(1));
        out.queue_event(sealed("s-1", &mut tail));
        out.queue_event(sealed("s-1", &mut tail));
        out.queue_checkpoint(checkpoint(2));
        assert!(out.checkpoints_ready(0).is_empty());
        assert_eq!(out.checkpoints_ready(1).iter().map(|c| c.step).collect::<Vec<_>>(), [1]);
        assert_eq!(out.checkpoints_ready(2).iter().map(|c| c.step).collect::<Vec<_>>(), [1]);
        assert_eq!(out.checkpoints_ready(3).iter().map(|c| c.step).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_report_never_says_the_session_was_seen_earlier_than_a_heartbeat_did() {
        let mut out = Outbox::default();
        let waited_since = time::now() - chrono::Duration::seconds(300);
        let mut s = Session::new("s-1", "test", waited_since);
        out.queue_report(&s);
        out.take_reports();
        // A heartbeat of the state lane, while the agent waits.
        let beat = time::now();
        if let Some((queued, _)) = out.sessions.get_mut("s-1") {
            queued.last_seen = beat;
        }
        // The agent acknowledges a pause with its own (older) copy of the record.
        s.state = SessionState::Paused;
        s.ack_generation = 4;
        out.queue_report(&s);
        let sent = out.take_reports();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].last_seen, beat);
        assert_eq!((sent[0].state, sent[0].ack_generation), (SessionState::Paused, 4));
        assert_ne!(sent[0].effective_state(beat), SessionState::Stale);
    }

    #[test]
    fn a_report_never_runs_ahead_of_the_stored_events() {
        let mut out = Outbox::default();
        let mut tail = ChainTail::genesis();
        let first = sealed("s-1", &mut tail);
        let stored_head = first.event.tail();
        out.queue_event(first.clone());
        let unstored = sealed("s-1", &mut tail);
        out.queue_event(unstored);
        let mut s = Session::new("s-1", "test", time::now());
        (s.audit_seq, s.audit_head) = (tail.seq, Some(tail.hash.clone()));
        out.queue_report(&s);
        assert_eq!(out.take_reports().iter().map(|r| r.audit_seq).collect::<Vec<_>>(), [0], "nothing stored yet");
        assert!(!out.reports_pending());

        // The first is stored: the next report may say so, and no further.
        out.events.pop_front();
        out.settle(&[first]);
        out.queue_report(&s);
        let reports = out.take_reports();
        assert_eq!(
            reports.iter().map(|r| (r.audit_seq, r.audit_head.clone())).collect::<Vec<_>>(),
            [(stored_head.seq, Some(stored_head.hash))]
        );

        // An ended session held back is reported again once its events are stored.
        s.state = SessionState::Finished;
        out.queue_report(&s);
        out.take_reports();
        let rest: Vec<SealedEvent> = out.events.drain(..).collect();
        out.settle(&rest);
        assert!(out.reports_pending(), "the ended session's head is written again");
        assert_eq!(out.take_reports().iter().map(|r| r.audit_seq).collect::<Vec<_>>(), [tail.seq]);
    }
}
