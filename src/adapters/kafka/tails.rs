//! What this process knows of the chains' tails on the topic, for the producer-side continuity
//! check (Kafka has no conditional append).

use super::read::{read_range, reader, watermarks};
use super::records::{self, SkipReport};
use super::{lock, KafkaAudit};
use crate::model::chain::ChainTail;
use crate::ports::{Result, SealedEvent};
use rdkafka::consumer::BaseConsumer;
use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;

/// What this process knows of the chains' tails.
#[derive(Default)]
pub(super) struct Tails {
    known: HashMap<String, (ChainTail, i32)>,
    /// Per partition: the next offset the tail index has not read yet.
    next: BTreeMap<i32, i64>,
    reader: Option<BaseConsumer>,
}

impl Tails {
    /// The known tail of a chain (`None`: the chain has no event on the topic).
    pub(super) fn get(&self, chain: &str) -> Option<&ChainTail> {
        self.known.get(chain).map(|k| &k.0)
    }

    /// Keeps the tails of events the broker acknowledged.
    pub(super) fn appended(&mut self, events: &[SealedEvent]) {
        for sealed in events {
            let chain = &sealed.event.body.session_id;
            let p = self.known.get(chain).map(|k| k.1).unwrap_or(-1);
            self.known.insert(chain.clone(), (sealed.event.tail(), p));
        }
    }

    /// Forgets the tails of events whose append failed: some may have been written, so the
    /// truth is learnt from the topic next time.
    pub(super) fn forget(&mut self, events: &[SealedEvent]) {
        for sealed in events {
            self.known.remove(&sealed.event.body.session_id);
        }
    }
}

impl KafkaAudit {
    /// The tail index, brought up to date for these chains.
    pub(super) fn tails_for(&self, chains: &[&str]) -> Result<MutexGuard<'_, Tails>> {
        let mut tails = lock(&self.tails);
        if chains.iter().any(|c| !tails.known.contains_key(*c)) {
            self.catch_up(&mut tails)?;
        }
        Ok(tails)
    }

    pub(super) fn chain_tail(&self, chain: &str) -> Result<Option<ChainTail>> {
        let mut tails = lock(&self.tails);
        self.catch_up(&mut tails)?;
        Ok(tails.get(chain).cloned())
    }

    /// Reads what the tail index has not read yet, up to the current high watermarks.
    fn catch_up(&self, tails: &mut Tails) -> Result<()> {
        let consumer = match tails.reader.take() {
            Some(c) => c,
            None => reader(&self.cfg)?,
        };
        let marks = watermarks(&self.cfg, &consumer)?;
        let ranges: Vec<(i32, i64, i64)> =
            marks.iter().map(|&(p, lo, hi)| (p, tails.next.get(&p).copied().unwrap_or(lo).max(lo), hi)).collect();
        let mut skipped = SkipReport::default();
        let known = &mut tails.known;
        let result = read_range(&self.cfg, &consumer, &ranges, &mut |p, offset, _key, value| {
            match records::classify(value) {
                Ok((_, head)) => {
                    let tail = ChainTail { seq: head.seq, hash: head.hash.into_owned() };
                    match known.get_mut(head.chain.as_ref()) {
                        Some(k) if k.1 == p || tail.seq > k.0.seq => *k = (tail, p),
                        Some(_) => {}
                        None => {
                            known.insert(head.chain.into_owned(), (tail, p));
                        }
                    }
                }
                Err(reason) => skipped.add(p, offset, reason),
            }
            Ok(())
        });
        self.note_skips(skipped);
        result?;
        for (p, _, hi) in ranges {
            tails.next.insert(p, hi);
        }
        tails.reader = Some(consumer);
        Ok(())
    }
}
