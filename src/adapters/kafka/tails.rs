//! What this process knows of the chains' tails on the topic, for the producer-side continuity
//! check (Kafka has no conditional append).
//!
//! Only the chains asked for are looked up, in their own partition, reading backwards from the
//! end. Per partition the index keeps one contiguous, fully read offset range `[start, end)` and
//! the latest record of every chain seen in it (chains met on the way are learnt for free). A
//! lookup:
//!
//! 1. reads forward from `end` to the partition's current high watermark (other writers' records);
//! 2. if the chain was not seen in that partition yet, extends the range backwards in growing
//!    windows (1,024 records, ×4 each time) until the chain is seen there or the low watermark is
//!    reached;
//! 3. if the chain is absent from the partition its key hashes to, does the same in every other
//!    partition (a topic whose partition count grew keeps a key's older records elsewhere), and
//!    only then calls it absent.
//!
//! A chain written recently costs one small window; a brand-new chain costs one read of the whole
//! topic, once per process (every range then starts at the low watermark, and later lookups only
//! read forward). Which record is "the latest" of a chain: within one partition the one at the
//! highest offset; across partitions the one with the higher `seq`.

use super::murmur2::partition_for;
use super::read::read_range;
use super::records::{self, SkipReport};
use super::{lock, partitions_of, KafkaAudit};
use crate::model::chain::ChainTail;
use crate::ports::{Result, SealedEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::MutexGuard;

/// The first backward window, in records; each next one is [`GROWTH`] times larger.
const FIRST_WINDOW: i64 = 1024;
const GROWTH: i64 = 4;

/// The latest record of a chain seen so far.
struct Known {
    tail: ChainTail,
    /// Where it was read (`-1`: not known).
    partition: i32,
    /// Its offset; for a tail this process appended, the partition's read end at that time
    /// (the record itself is at or after it).
    offset: i64,
}

/// A partition's fully read offset range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: i64,
    end: i64,
}

/// What this process knows of the chains' tails.
#[derive(Default)]
pub(super) struct Tails {
    known: HashMap<String, Known>,
    spans: BTreeMap<i32, Span>,
    /// Chains whose append failed: some records may have been written, so the next use reads
    /// forward before trusting the known tail.
    stale: HashSet<String>,
    /// The topic's partition count at the last lookup (0: none yet).
    partitions: usize,
    reader: Option<BaseConsumer>,
    /// Records read by lookups, for tests and benchmarks.
    records_read: u64,
}

impl Tails {
    /// The known tail of a chain (`None`: the chain has no event on the topic).
    pub(super) fn get(&self, chain: &str) -> Option<&ChainTail> {
        self.known.get(chain).map(|k| &k.tail)
    }

    /// Keeps the tails of events the broker acknowledged.
    pub(super) fn appended(&mut self, events: &[SealedEvent]) {
        for sealed in events {
            let chain = &sealed.event.body.session_id;
            let partition = partition_for(chain.as_bytes(), self.partitions).unwrap_or(-1);
            // The record is at or after the partition's read end, so the next forward read
            // meets it (or a later one) and keeps that.
            let offset = self.spans.get(&partition).map(|s| s.end).unwrap_or(0);
            self.known.insert(chain.clone(), Known { tail: sealed.event.tail(), partition, offset });
            self.stale.remove(chain);
        }
    }

    /// Marks the chains of events whose append failed: some may have been written, so the truth
    /// is learnt from the topic next time (the known tail predates them, and a forward read from
    /// the partition's read end meets any that were written).
    pub(super) fn forget(&mut self, events: &[SealedEvent]) {
        for sealed in events {
            self.stale.insert(sealed.event.body.session_id.clone());
        }
    }

    /// Takes in one record read at `partition`/`offset`.
    fn learn(&mut self, partition: i32, offset: i64, chain: &str, tail: ChainTail) {
        match self.known.get_mut(chain) {
            Some(k) if k.partition == partition => {
                if offset >= k.offset {
                    *k = Known { tail, partition, offset };
                }
            }
            Some(k) => {
                if tail.seq > k.tail.seq {
                    *k = Known { tail, partition, offset };
                }
            }
            None => {
                self.known.insert(chain.to_owned(), Known { tail, partition, offset });
            }
        }
    }
}

/// Low and high watermark of one partition.
type Marks = (i64, i64);

impl KafkaAudit {
    /// The tail index, brought up to date for these chains.
    pub(super) fn tails_for(&self, chains: &[&str]) -> Result<MutexGuard<'_, Tails>> {
        let mut tails = lock(&self.tails);
        let needed: Vec<&str> =
            chains.iter().copied().filter(|c| !tails.known.contains_key(*c) || tails.stale.contains(*c)).collect();
        if !needed.is_empty() {
            self.look_up(&mut tails, &needed)?;
        }
        Ok(tails)
    }

    /// The chain's tail on the topic now (other writers' records included).
    pub(super) fn chain_tail(&self, chain: &str) -> Result<Option<ChainTail>> {
        Ok(self.chain_tails(&[chain])?.pop().flatten())
    }

    /// The chains' tails on the topic now, in one lookup.
    pub(super) fn chain_tails(&self, chains: &[&str]) -> Result<Vec<Option<ChainTail>>> {
        let mut tails = lock(&self.tails);
        self.look_up(&mut tails, chains)?;
        Ok(chains.iter().map(|c| tails.get(c).cloned()).collect())
    }

    /// Records read from the topic by tail lookups so far (all of them, matching or not).
    pub fn tail_records_read(&self) -> u64 {
        lock(&self.tails).records_read
    }

    fn look_up(&self, tails: &mut Tails, chains: &[&str]) -> Result<()> {
        // The first lookup takes a reader from the scans' pool (opening the store connected it
        // already) and keeps it.
        let consumer = match tails.reader.take() {
            Some(c) => c,
            None => self.take_reader()?,
        };
        let result = self.look_up_with(&consumer, tails, chains);
        tails.reader = Some(consumer);
        result
    }

    fn look_up_with(&self, consumer: &BaseConsumer, tails: &mut Tails, chains: &[&str]) -> Result<()> {
        let ids = partitions_of(consumer, &self.cfg)?;
        tails.partitions = ids.len();
        let mut marks: BTreeMap<i32, Marks> = BTreeMap::new();
        let key_partition = |c: &str| partition_for(c.as_bytes(), ids.len()).and_then(|i| ids.get(i as usize).copied());

        // 1. Forward, in the chains' key partitions and wherever their known tails were read.
        let mut forward: Vec<i32> = chains
            .iter()
            .filter_map(|c| key_partition(c))
            .chain(chains.iter().filter_map(|c| tails.known.get(*c).map(|k| k.partition)))
            .filter(|p| ids.contains(p))
            .collect();
        forward.sort_unstable();
        forward.dedup();
        self.read_forward(consumer, tails, &forward, &mut HashSet::new(), &mut marks)?;
        for c in chains {
            tails.stale.remove(*c);
        }

        // 2. Backward in the key partition, for chains not seen there yet (a chain known from
        //    another partition may have newer records in its key partition).
        let in_key_partition =
            |tails: &Tails, c: &str| tails.known.get(c).is_some_and(|k| Some(k.partition) == key_partition(c));
        let mut by_partition: BTreeMap<i32, HashSet<&str>> = BTreeMap::new();
        for c in chains.iter().copied().filter(|c| !in_key_partition(tails, c)) {
            if let Some(p) = key_partition(c) {
                by_partition.entry(p).or_default().insert(c);
            }
        }
        for (p, mut wanted) in by_partition {
            self.read_backward(consumer, tails, p, &mut wanted, &mut marks)?;
        }

        // 3. Absent from their key partition: every other partition, forward then backward,
        //    before calling them absent (the latest across partitions is the highest seq).
        let missing: Vec<&str> = chains.iter().copied().filter(|c| !in_key_partition(tails, c)).collect();
        for &p in &ids {
            let mut wanted: HashSet<&str> = missing
                .iter()
                .copied()
                .filter(|c| key_partition(c) != Some(p) && tails.known.get(*c).is_none_or(|k| k.partition != p))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            self.read_forward(consumer, tails, &[p], &mut wanted, &mut marks)?;
            self.read_backward(consumer, tails, p, &mut wanted, &mut marks)?;
        }
        Ok(())
    }

    /// The partition's watermarks, fetched once per lookup.
    fn marks_of(&self, consumer: &BaseConsumer, p: i32, marks: &mut BTreeMap<i32, Marks>) -> Result<Marks> {
        if let Some(&m) = marks.get(&p) {
            return Ok(m);
        }
        let m = consumer
            .fetch_watermarks(&self.cfg.topic, p, self.cfg.connect_timeout())
            .map_err(|e| self.cfg.error("watermarks", e))?;
        marks.insert(p, m);
        Ok(m)
    }

    /// Extends each partition's range forward to its high watermark (a partition not read yet
    /// starts with an empty range there).
    fn read_forward(
        &self,
        consumer: &BaseConsumer,
        tails: &mut Tails,
        partitions: &[i32],
        seen: &mut HashSet<&str>,
        marks: &mut BTreeMap<i32, Marks>,
    ) -> Result<()> {
        let mut ranges = Vec::with_capacity(partitions.len());
        for &p in partitions {
            let (lo, hi) = self.marks_of(consumer, p, marks)?;
            let span = tails.spans.entry(p).or_insert(Span { start: hi, end: hi });
            // Records below the low watermark are gone (retention): the range starts there.
            span.start = span.start.max(lo).min(hi);
            span.end = span.end.max(span.start);
            ranges.push((p, span.end, hi));
        }
        self.read_into(consumer, tails, &ranges, seen)?;
        for (p, _, hi) in ranges {
            if let Some(span) = tails.spans.get_mut(&p) {
                span.end = span.end.max(hi);
            }
        }
        Ok(())
    }

    /// Extends the partition's range backwards in growing windows until every chain in `wanted`
    /// was seen in it or the low watermark is reached.
    fn read_backward(
        &self,
        consumer: &BaseConsumer,
        tails: &mut Tails,
        p: i32,
        wanted: &mut HashSet<&str>,
        marks: &mut BTreeMap<i32, Marks>,
    ) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let (lo, hi) = self.marks_of(consumer, p, marks)?;
        let mut window = FIRST_WINDOW;
        loop {
            let span = *tails.spans.entry(p).or_insert(Span { start: hi, end: hi });
            if wanted.is_empty() || span.start <= lo {
                return Ok(());
            }
            let from = (span.start - window).max(lo);
            self.read_into(consumer, tails, &[(p, from, span.start)], wanted)?;
            if let Some(s) = tails.spans.get_mut(&p) {
                s.start = from;
            }
            window = window.saturating_mul(GROWTH);
        }
    }

    /// Reads the ranges into the index; chains seen are removed from `seen`. Nothing is learnt
    /// from a read that fails half-way (a partial backward window would hide a later record of
    /// a chain behind an earlier one).
    fn read_into(
        &self,
        consumer: &BaseConsumer,
        tails: &mut Tails,
        ranges: &[(i32, i64, i64)],
        seen: &mut HashSet<&str>,
    ) -> Result<()> {
        if ranges.iter().all(|&(_, from, to)| from >= to) {
            return Ok(());
        }
        let mut skipped = SkipReport::default();
        let mut read = 0u64;
        // Per partition, the latest record of each chain in the ranges.
        let mut found: BTreeMap<i32, HashMap<String, (i64, ChainTail)>> = BTreeMap::new();
        let result = read_range(&self.cfg, consumer, ranges, &mut |p, offset, _key, value| {
            read += 1;
            match records::classify(value) {
                Ok((_, head)) => {
                    let tail = ChainTail { seq: head.seq, hash: head.hash.into_owned() };
                    let chains = found.entry(p).or_default();
                    match chains.get_mut(head.chain.as_ref()) {
                        Some(latest) => *latest = (offset, tail),
                        None => {
                            chains.insert(head.chain.into_owned(), (offset, tail));
                        }
                    }
                }
                Err(reason) => skipped.add(p, offset, reason),
            }
            Ok(())
        });
        tails.records_read += read;
        self.note_skips(skipped);
        result?;
        for (p, chains) in found {
            for (chain, (offset, tail)) in chains {
                seen.remove(chain.as_str());
                tails.learn(p, offset, &chain, tail);
            }
        }
        Ok(())
    }
}
