//! Forensic reads: a consumer that assigns partitions directly (no group, no commits), reading
//! fixed offset ranges captured when a read starts.

use super::records::{self, SkipReport};
use super::{config_error, lock, partitions_of, KafkaAudit, KafkaConfig};
use crate::model::audit::EventKind;
use crate::ports::{AuditQuery, RawEvent, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A scan that makes no progress for this long (brokers gone) fails instead of hanging.
const STALL: Duration = Duration::from_secs(30);
/// Window reads start this much before `since`. A record's timestamp is taken when it is
/// produced, after its event was sealed on the same host, so it is never earlier than the event's
/// own time; the margin absorbs clock steps and broker/producer skew (`LogAppendTime` topics).
pub(super) const WINDOW_MARGIN_MS: i64 = 10_000;

/// A consumer for forensic reads: partitions are assigned directly, nothing is committed.
pub(super) fn reader(cfg: &KafkaConfig) -> Result<BaseConsumer> {
    let mut c = cfg.base()?;
    // librdkafka's assign() needs a group id, but a consumer that only assigns never joins the
    // group, and with auto-commit off and no commit call it never stores an offset either.
    c.set("group.id", forensic_group())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false");
    if !cfg.settings.contains_key("fetch.message.max.bytes") && !cfg.settings.contains_key("max.partition.fetch.bytes")
    {
        c.set("fetch.message.max.bytes", "8388608");
    }
    if !cfg.settings.contains_key("fetch.wait.max.ms") {
        c.set("fetch.wait.max.ms", "100");
    }
    c.create().map_err(|e| config_error(cfg, "consumer", e))
}

/// A group id of our own, never joined and never committed to.
fn forensic_group() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    format!("quell-forensic-{}-{}", std::process::id(), hex::encode(bytes))
}

/// One record as read: partition, offset, key, value.
type OnRecord<'a> = dyn FnMut(i32, i64, Option<&[u8]>, Option<&[u8]>) -> Result<()> + 'a;

/// Records copied out of librdkafka by the polling thread, handed over in chunks.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    recs: Vec<Copied>,
}

/// Partition, offset, key range and value range (in [`Chunk::data`]).
type Copied = (i32, i64, Option<(usize, usize)>, Option<(usize, usize)>);

impl Chunk {
    fn push(&mut self, p: i32, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        let mut put = |b: Option<&[u8]>| {
            b.map(|b| {
                let at = self.data.len();
                self.data.extend_from_slice(b);
                (at, at + b.len())
            })
        };
        let (k, v) = (put(key), put(value));
        self.recs.push((p, offset, k, v));
    }

    fn clear(&mut self) {
        self.data.clear();
        self.recs.clear();
    }
}

const CHUNK_RECORDS: usize = 2048;

/// Reads each listed partition from its start offset up to (excluding) its end offset. One
/// thread polls librdkafka and copies records into chunks while the caller's thread looks at
/// them, so fetching and parsing overlap.
pub(super) fn read_range(
    cfg: &KafkaConfig,
    consumer: &BaseConsumer,
    ranges: &[(i32, i64, i64)],
    on: &mut OnRecord<'_>,
) -> Result<()> {
    let mut left: BTreeMap<i32, i64> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for &(p, start, end) in ranges {
        if start < end {
            tpl.add_partition_offset(&cfg.topic, p, Offset::Offset(start)).map_err(|e| cfg.error("assign", e))?;
            left.insert(p, end);
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    consumer.assign(&tpl).map_err(|e| cfg.error("assign", e))?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Chunk>(8);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Chunk>();
    let result = std::thread::scope(|scope| {
        let poller = scope.spawn(move || poll_range(cfg, consumer, left, &full_tx, &empty_rx));
        let mut result = Ok(());
        for chunk in full_rx.iter() {
            for &(p, offset, k, v) in &chunk.recs {
                let key = k.map(|(a, b)| &chunk.data[a..b]);
                let value = v.map(|(a, b)| &chunk.data[a..b]);
                result = on(p, offset, key, value);
                if result.is_err() {
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            let _ = empty_tx.send(chunk);
        }
        // Dropping the receiver stops the poller at its next hand-over.
        drop(full_rx);
        let polled = poller.join().unwrap_or_else(|_| Err(cfg.error("read", "the polling thread panicked")));
        result.and(polled)
    });
    let _ = consumer.unassign();
    result
}

fn poll_range(
    cfg: &KafkaConfig,
    consumer: &BaseConsumer,
    mut left: BTreeMap<i32, i64>,
    full: &std::sync::mpsc::SyncSender<Chunk>,
    empty: &std::sync::mpsc::Receiver<Chunk>,
) -> Result<()> {
    let mut chunk = Chunk::default();
    let mut last_progress = Instant::now();
    let mut last_error: Option<String> = None;
    while !left.is_empty() {
        let mut idle = false;
        match consumer.poll(Duration::from_millis(if chunk.recs.is_empty() { 200 } else { 0 })) {
            Some(Ok(msg)) => {
                last_progress = Instant::now();
                let p = msg.partition();
                let offset = msg.offset();
                if let Some(&end) = left.get(&p) {
                    if offset < end {
                        chunk.push(p, offset, msg.key(), msg.payload());
                    }
                    if offset + 1 >= end {
                        left.remove(&p);
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                last_progress = Instant::now();
                left.remove(&p);
            }
            Some(Err(e)) => last_error = Some(e.to_string()),
            None => idle = true,
        }
        if chunk.recs.len() >= CHUNK_RECORDS || (idle && !chunk.recs.is_empty()) {
            let next = empty.try_recv().unwrap_or_default();
            if full.send(std::mem::replace(&mut chunk, next)).is_err() {
                return Ok(()); // the reader stopped
            }
            chunk.clear();
        }
        if last_progress.elapsed() > STALL {
            let first = left.keys().next().copied().unwrap_or_default();
            return Err(cfg.error(
                "read stalled",
                format!(
                    "no progress for {}s on partition {first}{}",
                    STALL.as_secs(),
                    last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            ));
        }
    }
    if !chunk.recs.is_empty() {
        let _ = full.send(chunk);
    }
    Ok(())
}

/// Low and high watermarks of every partition, captured now.
pub(super) fn watermarks(cfg: &KafkaConfig, consumer: &BaseConsumer) -> Result<Vec<(i32, i64, i64)>> {
    let timeout = cfg.connect_timeout();
    partitions_of(consumer, cfg)?
        .into_iter()
        .map(|p| {
            let (lo, hi) = consumer.fetch_watermarks(&cfg.topic, p, timeout).map_err(|e| cfg.error("watermarks", e))?;
            Ok((p, lo, hi))
        })
        .collect()
}

/// Per partition, the first offset whose record timestamp is ≥ `ms` (or the high watermark).
fn offsets_at(
    cfg: &KafkaConfig,
    consumer: &BaseConsumer,
    marks: &[(i32, i64, i64)],
    ms: i64,
) -> Result<Vec<(i32, i64, i64)>> {
    let mut tpl = TopicPartitionList::new();
    for &(p, _, _) in marks {
        tpl.add_partition_offset(&cfg.topic, p, Offset::Offset(ms)).map_err(|e| cfg.error("offsets for times", e))?;
    }
    let found =
        consumer.offsets_for_times(tpl, cfg.connect_timeout()).map_err(|e| cfg.error("offsets for times", e))?;
    Ok(marks
        .iter()
        .map(|&(p, lo, hi)| {
            let start = match found.find_partition(&cfg.topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(lo),
                // No record at or after that time.
                Some(Offset::End) => hi,
                _ => lo,
            };
            (p, start, hi)
        })
        .collect())
}

impl KafkaAudit {
    fn take_reader(&self) -> Result<BaseConsumer> {
        match lock(&self.readers).pop() {
            Some(c) => Ok(c),
            None => reader(&self.cfg),
        }
    }

    fn start_offsets(&self, consumer: &BaseConsumer, q: &AuditQuery) -> Result<Vec<(i32, i64, i64)>> {
        let marks = watermarks(&self.cfg, consumer)?;
        match &q.since {
            Some(since) => offsets_at(&self.cfg, consumer, &marks, since.timestamp_millis() - WINDOW_MARGIN_MS),
            None => Ok(marks),
        }
    }

    pub(super) fn scan_topic(&self, q: &AuditQuery, sink: &mut dyn FnMut(RawEvent<'_>) -> Result<()>) -> Result<()> {
        let consumer = self.take_reader()?;
        let ranges = self.start_offsets(&consumer, q)?;
        // A chain's records are keyed by it; a record keyed otherwise is still read when its
        // value names the chain (a raw producer may not key it).
        let needle = q.chain.as_deref().map(|c| serde_json::to_string(c).unwrap_or_default());
        let finder = needle.as_deref().map(|n| memchr::memmem::Finder::new(n.as_bytes()));
        let since_us = q.since.as_ref().map(crate::model::time::to_micros);
        let until_us = q.until.as_ref().map(crate::model::time::to_micros);
        let unfiltered = q.chain.is_none() && q.kinds.is_empty() && q.since.is_none() && q.until.is_none();
        let mut skipped = SkipReport::default();
        let mut position = String::new();
        let mut read = 0u64;
        let result = read_range(&self.cfg, &consumer, &ranges, &mut |p, offset, key, value| {
            read += 1;
            if let (Some(chain), Some(finder)) = (&q.chain, &finder) {
                let keyed = key == Some(chain.as_bytes());
                if !keyed && value.is_none_or(|v| finder.find(v).is_none()) {
                    return Ok(());
                }
            }
            if unfiltered {
                if let Some(json) = records::quell_shaped(value) {
                    position.clear();
                    let _ = write!(position, "partition {p} offset {offset}");
                    return sink(RawEvent { position: &position, json, hash: None });
                }
            }
            let (json, head) = match records::classify(value) {
                Ok(x) => x,
                Err(reason) => {
                    skipped.add(p, offset, reason);
                    return Ok(());
                }
            };
            if q.chain.as_deref().is_some_and(|c| c != head.chain) {
                return Ok(());
            }
            if !q.kinds.is_empty()
                && !head.kind.as_deref().and_then(EventKind::parse).is_some_and(|k| q.kinds.contains(&k))
            {
                return Ok(());
            }
            if since_us.is_some() || until_us.is_some() {
                let t = head.time.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                let Some(t) = t.map(|t| t.timestamp_micros()) else {
                    skipped.add(p, offset, "audit event without a readable time".into());
                    return Ok(());
                };
                if since_us.is_some_and(|s| t < s) || until_us.is_some_and(|u| t > u) {
                    return Ok(());
                }
            }
            position.clear();
            let _ = write!(position, "partition {p} offset {offset}");
            sink(RawEvent { position: &position, json, hash: None })
        });
        self.note_skips(skipped);
        self.records_read.fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        lock(&self.readers).push(consumer);
        result
    }
}
