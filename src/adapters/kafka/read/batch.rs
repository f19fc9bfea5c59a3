//! librdkafka's simple consumer with batch consume, which rust-rdkafka does not wrap: partitions
//! started into a queue of their own (`rd_kafka_consume_start_queue`), up to a batch of messages
//! taken per call (`rd_kafka_consume_batch_queue`) where `BaseConsumer::poll` takes one. This is
//! the use librdkafka documents for these calls, and kcat's. All the unsafe code of the crate is
//! here (the one module `Cargo.toml`'s `[lints]` let use it); each pointer from librdkafka is checked for null before use, every message taken is
//! destroyed exactly once, and partitions are stopped before their queue and topic handle are
//! released.

// The one reviewed exception to `unsafe_code = "deny"` (Cargo.toml [lints]).
#![allow(unsafe_code)]

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka_sys as rdsys;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::time::Duration;

/// Partitions being read by librdkafka's simple consumer into a queue of their own
/// (`rd_kafka_consume_start_queue`); stopped, and the queue and topic handle released, on
/// drop. Cannot outlive the consumer.
pub(super) struct Consumption<'c> {
    topic: *mut rdsys::rd_kafka_topic_t,
    queue: *mut rdsys::rd_kafka_queue_t,
    started: Vec<i32>,
    _consumer: PhantomData<&'c BaseConsumer>,
}

impl<'c> Consumption<'c> {
    /// Starts reading each `(partition, offset)` into a new queue.
    pub(super) fn start(consumer: &'c BaseConsumer, topic: &str, from: &[(i32, i64)]) -> Result<Self, String> {
        let name = CString::new(topic).map_err(|_| "the topic name contains a NUL byte".to_owned())?;
        let rk = consumer.client().native_ptr();
        // SAFETY: `rk` is valid while `consumer` lives (this value cannot outlive it); the
        // name is NUL-terminated and only read during the call; a null conf means defaults.
        // Returns a new topic reference or null.
        let topic = unsafe { rdsys::rd_kafka_topic_new(rk, name.as_ptr(), std::ptr::null_mut()) };
        if topic.is_null() {
            return Err(last_error());
        }
        // SAFETY: as above; returns a new queue or null.
        let queue = unsafe { rdsys::rd_kafka_queue_new(rk) };
        // From here on, drop releases what was obtained.
        let mut this = Consumption { topic, queue, started: Vec::new(), _consumer: PhantomData };
        if queue.is_null() {
            return Err(last_error());
        }
        for &(p, offset) in from {
            // SAFETY: topic and queue are the live handles above; each partition is started
            // once (stopped in drop before the handles are released).
            if unsafe { rdsys::rd_kafka_consume_start_queue(topic, p, offset, queue) } != 0 {
                return Err(format!("partition {p}: {}", last_error()));
            }
            this.started.push(p);
        }
        Ok(this)
    }
}

impl Drop for Consumption<'_> {
    fn drop(&mut self) {
        for &p in &self.started {
            // SAFETY: `topic` is live and `p` was started on it; stopping purges the
            // partition's messages still queued (messages taken by a batch stay valid until
            // destroyed: they hold their own references).
            unsafe { rdsys::rd_kafka_consume_stop(self.topic, p) };
        }
        if !self.queue.is_null() {
            // SAFETY: the queue obtained in `start`, released once.
            unsafe { rdsys::rd_kafka_queue_destroy(self.queue) }
        }
        // SAFETY: the non-null topic reference obtained in `start`, released once.
        unsafe { rdsys::rd_kafka_topic_destroy(self.topic) }
    }
}

/// The messages of one batch consume, owned until the next consume or drop.
pub(super) struct Batch {
    msgs: Vec<*mut rdsys::rd_kafka_message_t>,
    size: usize,
}

/// A message's error: librdkafka's text for it, and whether it only says the end of the
/// partition was reached.
pub(super) struct MessageError {
    pub(super) end_of_partition: bool,
    pub(super) text: String,
}

/// One message of a batch, borrowed from librdkafka's buffers.
pub(super) struct Message<'b> {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<&'b [u8]>,
    pub(super) value: Option<&'b [u8]>,
    pub(super) error: Option<MessageError>,
}

impl Batch {
    pub(super) fn new(size: usize) -> Batch {
        Batch { msgs: Vec::with_capacity(size), size: size.max(1) }
    }

    /// Destroys the previous batch's messages, then waits up to `timeout` for new ones and
    /// takes up to the batch size. Returns how many were taken.
    pub(super) fn consume(&mut self, queue: &Consumption<'_>, timeout: Duration) -> Result<usize, String> {
        self.release();
        self.msgs.reserve(self.size);
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `queue.queue` is a live, non-null queue (checked in `start`); the vector has
        // room for at least `self.size` pointers, and librdkafka writes at most that many and
        // returns the count (or -1 on error, writing nothing).
        let n = unsafe { rdsys::rd_kafka_consume_batch_queue(queue.queue, ms, self.msgs.as_mut_ptr(), self.size) };
        if n < 0 {
            return Err(last_error());
        }
        let n = (n as usize).min(self.size);
        // SAFETY: librdkafka initialised the first `n` elements (pointers: no drop glue).
        unsafe { self.msgs.set_len(n) };
        Ok(n)
    }

    /// The messages of the last consume, in queue order (each partition in offset order).
    pub(super) fn messages(&self) -> impl Iterator<Item = Message<'_>> {
        self.msgs.iter().filter_map(|&m| {
            // SAFETY: every element is a message returned by librdkafka and not destroyed
            // until `release`, which needs `&mut self`; the slices borrow `self`. Null is skipped.
            let m = unsafe { m.as_ref() }?;
            let bytes = |ptr: *mut std::ffi::c_void, len: usize| {
                // SAFETY: librdkafka guarantees `len` readable bytes at a non-null pointer.
                (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
            };
            let error = (m.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| MessageError {
                end_of_partition: m.err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF,
                text: error_text(m.err),
            });
            Some(Message {
                partition: m.partition,
                offset: m.offset,
                key: bytes(m.key, m.key_len),
                value: bytes(m.payload, m.len),
                error,
            })
        })
    }

    fn release(&mut self) {
        for m in self.msgs.drain(..) {
            if !m.is_null() {
                // SAFETY: a message taken by `consume`, destroyed once (drained from the vector).
                unsafe { rdsys::rd_kafka_message_destroy(m) }
            }
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.release();
    }
}

/// The text of this thread's last librdkafka error.
fn last_error() -> String {
    // SAFETY: reads a thread-local error code; no pointers involved.
    error_text(unsafe { rdsys::rd_kafka_last_error() })
}

fn error_text(code: rdsys::rd_kafka_resp_err_t) -> String {
    // SAFETY: librdkafka returns a static NUL-terminated string for every code (checked for null).
    let text = unsafe { rdsys::rd_kafka_err2str(code) };
    if text.is_null() {
        return format!("librdkafka error {code:?}");
    }
    // SAFETY: non-null, NUL-terminated, static.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}
