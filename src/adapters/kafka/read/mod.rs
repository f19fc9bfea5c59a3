//! Forensic reads: librdkafka's simple consumer, partitions started at fixed offsets and read up
//! to offsets captured when a read starts (no consumer group, nothing committed).
//!
//! Records are taken off the read's queue a batch at a time (`rd_kafka_consume_batch_queue`, as
//! kcat does; see [`batch`]) and handed to the caller straight from librdkafka's buffers, on the
//! calling thread: no per-message poll, no copy.
//!
//! A one-chain read (`AuditQuery.chain`) still reads **every partition**, not only the one the
//! chain's key hashes to. quell's own records of a chain are all in that partition, except after
//! the topic's partition count grew (older records stay where the old count put them); and a
//! record naming the chain may come from another producer, unkeyed or keyed otherwise (a
//! forgery that verification must find). Reading one partition would divide the work by the
//! partition count but miss both, silently. Records of the other partitions are skipped on the
//! key and a substring test for the JSON-quoted chain id, without parsing.

mod batch;

use super::records::{self, SkipReport};
use super::{config_error, lock, partitions_of, KafkaAudit, KafkaConfig};
use crate::model::audit::EventKind;
use crate::ports::{AuditQuery, Filing, RawEvent, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
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
    // No group id: partitions are read with librdkafka's simple consumer (started per read,
    // stopped after it), so the consumer has no group to join, leave or commit to, and closing
    // it does not wait for a group's shutdown.
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false");
    if !cfg.settings.contains_key("fetch.message.max.bytes") && !cfg.settings.contains_key("max.partition.fetch.bytes")
    {
        c.set("fetch.message.max.bytes", "8388608");
    }
    // A read stops at watermarks captured before it starts: there is never new data to wait
    // for, and a fetch the broker holds back delays the next read's first fetch (a tail lookup
    // reads several windows in a row).
    if !cfg.settings.contains_key("fetch.wait.max.ms") {
        c.set("fetch.wait.max.ms", "10");
    }
    // When the caller is slower than the fetcher (a tail lookup parses every record), the local
    // queue fills and librdkafka pauses fetching for this long (1 s by default), then the queue
    // runs dry and the read waits. Together with the line above: an absent chain's lookup on
    // 1,000,000 records 5.6 s -> 2.0-2.2 s; replays are unaffected.
    if !cfg.settings.contains_key("fetch.queue.backoff.ms") {
        c.set("fetch.queue.backoff.ms", "50");
    }
    c.create().map_err(|e| config_error(cfg, "consumer", e))
}

/// A record's key is the chain it was produced for (quell keys every event by its chain):
/// verification checks it against the chain the content names. An unkeyed record has none.
fn filed_under(key: Option<&[u8]>) -> Filing<'_> {
    Filing { chain: key, ..Filing::default() }
}

/// One record as read: partition, offset, key, value.
type OnRecord<'a> = dyn FnMut(i32, i64, Option<&[u8]>, Option<&[u8]>) -> Result<()> + 'a;

/// Messages taken from librdkafka per call.
const BATCH: usize = 4096;

/// Reads each listed partition from its start offset up to (excluding) its end offset, handing
/// every record to `on` straight from librdkafka's buffers (no copy), a batch of messages per
/// call into librdkafka.
pub(super) fn read_range(
    cfg: &KafkaConfig,
    consumer: &BaseConsumer,
    ranges: &[(i32, i64, i64)],
    on: &mut OnRecord<'_>,
) -> Result<()> {
    let mut left: Vec<(i32, i64, i64)> = ranges.iter().copied().filter(|&(_, start, end)| start < end).collect();
    if left.is_empty() {
        return Ok(());
    }
    let starts: Vec<(i32, i64)> = left.iter().map(|&(p, start, _)| (p, start)).collect();
    let queue = batch::Consumption::start(consumer, &cfg.topic, &starts).map_err(|e| cfg.error("read", e))?;
    consume(cfg, &queue, &mut left, on)
}

/// Consumes the started partitions until each reached its end offset (or the end of the
/// partition), or `on` fails.
fn consume(
    cfg: &KafkaConfig,
    queue: &batch::Consumption<'_>,
    left: &mut Vec<(i32, i64, i64)>,
    on: &mut OnRecord<'_>,
) -> Result<()> {
    let mut batch = batch::Batch::new(BATCH);
    let mut last_progress = Instant::now();
    let mut last_error: Option<String> = None;
    while !left.is_empty() {
        batch.consume(queue, Duration::from_millis(100)).map_err(|e| cfg.error("read", e))?;
        // Only records and ends of partitions are progress: librdkafka may keep reporting an
        // error (a broker that is down), which must not keep a read from stalling out.
        let mut progressed = false;
        for m in batch.messages() {
            let Some((i, &(_, start, end))) = left.iter().enumerate().find(|(_, l)| l.0 == m.partition) else {
                continue; // a partition already done (prefetched beyond its end)
            };
            if let Some(e) = m.error {
                if e.end_of_partition {
                    progressed = true;
                    left.swap_remove(i);
                } else {
                    last_error = Some(e.text);
                }
                continue;
            }
            progressed = true;
            if m.offset >= start && m.offset < end {
                on(m.partition, m.offset, m.key, m.value)?;
            }
            if m.offset + 1 >= end {
                left.swap_remove(i);
            }
        }
        if progressed {
            last_progress = Instant::now();
        }
        if !left.is_empty() && last_progress.elapsed() > STALL {
            let first = left.first().map(|l| l.0).unwrap_or_default();
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
    pub(super) fn take_reader(&self) -> Result<BaseConsumer> {
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
                    return sink(RawEvent { position: &position, json, hash: None, filing: filed_under(key) });
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
            sink(RawEvent { position: &position, json, hash: None, filing: filed_under(key) })
        });
        self.note_skips(skipped);
        self.records_read.fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        lock(&self.readers).push(consumer);
        result
    }
}

/// Every record of `cfg.topic` up to the watermarks captured when the read starts, each value
/// handed to `on` (the span sources' read): no consumer group, nothing committed.
pub fn read_topic(cfg: &KafkaConfig, on: &mut dyn FnMut(Option<&[u8]>) -> Result<()>) -> Result<()> {
    let consumer = reader(cfg)?;
    let marks = watermarks(cfg, &consumer)?;
    read_range(cfg, &consumer, &marks, &mut |_, _, _, value| on(value))
}
