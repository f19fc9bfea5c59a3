//! Sessions rebuilt from OpenTelemetry spans (docs/otel-mapping.md): read every configured span
//! source, map the spans, say what was skipped. These sessions are not under quell's control and
//! their entries are not hash-chained: they carry source `otel` and integrity `unverified`.

use crate::model::otel::{self, OtelSession};
use crate::ports::spans::SpanSource;
use crate::ports::Result;
use std::sync::Arc;

/// What the span sources gave.
#[derive(Debug, Default)]
pub struct SpanSessions {
    pub sessions: Vec<OtelSession>,
    /// One line per source that skipped something: `OTLP topic otlp_spans: skipped 2 not OTLP`.
    pub warnings: Vec<String>,
}

impl SpanSessions {
    pub fn get(&self, id: &str) -> Option<&OtelSession> {
        self.sessions.iter().find(|s| s.id == id)
    }
}

/// Reads every source and maps its spans into sessions (spans of one conversation from several
/// sources join).
pub fn load(sources: &[Arc<dyn SpanSource>]) -> Result<SpanSessions> {
    let mut spans = Vec::new();
    let mut warnings = Vec::new();
    for src in sources {
        let read = src.read()?;
        if !read.skipped.is_empty() {
            warnings.push(format!(
                "{}: skipped {} ({} records read)",
                src.describe(),
                read.skipped.describe(),
                read.records
            ));
        }
        spans.extend(read.spans);
    }
    Ok(SpanSessions { sessions: otel::sessions_of(&spans), warnings })
}

/// Why pause, resume, kill and approvals are refused on a span-only session, and what works.
pub fn control_refusal(action: &str, s: &OtelSession) -> String {
    let pod = match (&s.namespace, &s.pod) {
        (_, Some(pod)) => format!(
            "; its pod {} is known: use `quell hard-stop`, `quell kill-pod` or `quell quarantine`",
            pod.shown_line()
        ),
        _ => "; its pod is not known (no k8s.pod.name on its spans), so quell cannot stop it".to_owned(),
    };
    format!(
        "{action} refused: session {} is known only from OpenTelemetry spans (source otel): the agent does not run \
         quell's library and cannot be {}{pod}",
        crate::model::untrusted::Untrusted::new(s.id.clone()).shown_line(),
        match action {
            "approve" | "reject" => "asked for approvals".to_owned(),
            _ => format!("told to {action}"),
        }
    )
}
