//! Span sources (`ports::spans`): the Collector's Kafka exporter topic (`otlp_json` and
//! `otlp_proto` records alike, detected per record) and its file exporter's JSON lines.

pub mod decode;

use crate::adapters::kafka::{KafkaConfig, TopicRole};
use crate::ports::spans::{SpanRead, SpanSource};
use crate::ports::{Result, StoreError};
use std::io::BufRead;
use std::path::PathBuf;

/// The Kafka exporter's default traces topic.
pub const DEFAULT_TOPIC: &str = "otlp_spans";

/// A line of a span file longer than this is skipped (and counted), not read into memory.
const MAX_LINE: usize = 64 * 1024 * 1024;

/// A topic the Collector's Kafka exporter writes `TracesData` batches to.
pub struct KafkaSpans {
    cfg: KafkaConfig,
}

impl KafkaSpans {
    /// `cfg` names the brokers (and settings) and the span topic; every error names it as the
    /// OTLP topic, never as the audit topic.
    pub fn new(cfg: KafkaConfig) -> Self {
        KafkaSpans { cfg: KafkaConfig { role: TopicRole::OtlpSpans, ..cfg } }
    }
}

impl SpanSource for KafkaSpans {
    fn describe(&self) -> String {
        format!("{} {}", self.cfg.role.label(), self.cfg.topic)
    }

    fn read(&self) -> Result<SpanRead> {
        let mut out = SpanRead::default();
        // Errors (a missing topic, unreachable brokers, a stalled read) name the OTLP topic.
        crate::adapters::kafka::read_topic(&self.cfg, &mut |value| {
            out.records += 1;
            decode::decode(value.unwrap_or_default(), &mut out.spans, &mut out.skipped);
            Ok(())
        })?;
        Ok(out)
    }
}

/// A file the Collector's file exporter wrote: one `TracesData` JSON batch per line.
pub struct FileSpans {
    path: PathBuf,
}

impl FileSpans {
    pub fn new(path: PathBuf) -> Self {
        FileSpans { path }
    }
}

impl SpanSource for FileSpans {
    fn describe(&self) -> String {
        format!("OTLP file {}", self.path.display())
    }

    fn read(&self) -> Result<SpanRead> {
        let file = std::fs::File::open(&self.path)
            .map_err(|e| StoreError::NotFound(format!("--otlp-file {}: {e}", self.path.display())))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut out = SpanRead::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = read_line_capped(&mut reader, &mut line)
                .map_err(|e| StoreError::Unavailable(format!("--otlp-file {}: {e}", self.path.display())))?;
            match n {
                None => break,
                Some(false) => {
                    out.records += 1;
                    out.skipped.add(decode::NOT_OTLP);
                }
                Some(true) if line.iter().all(u8::is_ascii_whitespace) => {}
                Some(true) => {
                    out.records += 1;
                    decode::decode(&line, &mut out.spans, &mut out.skipped);
                }
            }
        }
        Ok(out)
    }
}

/// Reads one line into `line` (without its newline). `None` at the end of the file;
/// `Some(false)` when the line was longer than [`MAX_LINE`] (skipped to its end, not kept).
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut fits = true;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (buf.split_at(i).0, Some(i + 1)),
            None => (buf, None),
        };
        if fits && line.len() + chunk.len() <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else {
            fits = false;
            line.clear();
        }
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(fits));
        }
    }
}
