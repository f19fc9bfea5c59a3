//! Span sources: where OpenTelemetry spans are read from (a Kafka topic the Collector exports
//! to, files its file exporter wrote). Read-only; a read commits nothing.

use super::Result;
use crate::model::otel::{SkipCounts, Span};

/// What one read of a source gave: the spans, and the records or parts skipped, by reason.
#[derive(Debug, Default)]
pub struct SpanRead {
    pub spans: Vec<Span>,
    pub records: u64,
    pub skipped: SkipCounts,
}

pub trait SpanSource: Send + Sync {
    /// `topic otlp_spans`, `file spans.jsonl`: named in warnings.
    fn describe(&self) -> String;
    /// Every span the source holds now.
    fn read(&self) -> Result<SpanRead>;
}
