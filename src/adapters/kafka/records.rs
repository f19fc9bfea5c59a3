//! Telling quell's audit events from everything else a topic may hold.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Records larger than this are not audit events (quell's are a few kilobytes at most).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// How many skipped positions a report remembers one by one.
const REMEMBERED: usize = 10_000;

/// One record that is not a readable quell audit event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// Foreign and unreadable records met while reading the topic; each position counted once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkipReport {
    by_position: BTreeMap<(i32, i64), String>,
    /// Skips beyond [`REMEMBERED`] (counted, not remembered; may count a record twice).
    overflow: u64,
}

impl SkipReport {
    pub fn count(&self) -> u64 {
        self.by_position.len() as u64 + self.overflow
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The remembered records, in partition and offset order.
    pub fn records(&self) -> Vec<Skipped> {
        self.by_position
            .iter()
            .map(|(&(partition, offset), reason)| Skipped { partition, offset, reason: reason.clone() })
            .collect()
    }

    pub(crate) fn add(&mut self, partition: i32, offset: i64, reason: String) {
        // Reasons may quote the record (a parser's message): neutralise and keep them short.
        let mut reason = crate::model::untrusted::neutralize(&reason, crate::model::untrusted::Lines::Escape);
        if reason.chars().count() > 160 {
            reason = reason.chars().take(160).collect::<String>() + "…";
        }
        if self.by_position.len() < REMEMBERED || self.by_position.contains_key(&(partition, offset)) {
            self.by_position.insert((partition, offset), reason);
        } else {
            self.overflow += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: SkipReport) {
        for ((p, o), r) in other.by_position {
            self.add(p, o, r);
        }
        self.overflow += other.overflow;
    }

    /// One line for an operator: how many, and the first few positions with their reasons.
    pub fn summary(&self, topic: &str, shown: usize) -> String {
        let mut line = if self.count() == 1 {
            format!("skipped 1 record on audit topic '{topic}' that is not a quell audit event:")
        } else {
            format!("skipped {} records on audit topic '{topic}' that are not quell audit events:", self.count())
        };
        for (i, s) in self.records().iter().take(shown).enumerate() {
            let _ = write!(
                line,
                "{} partition {} offset {} ({})",
                if i == 0 { "" } else { ";" },
                s.partition,
                s.offset,
                s.reason
            );
        }
        if self.count() > shown as u64 {
            let _ = write!(line, "; and {} more", self.count() - shown as u64);
        }
        line
    }
}

/// The fields every quell audit event has; the rest of the record is not looked at here.
#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[allow(dead_code)]
    pub seq: u64,
    #[serde(borrow)]
    #[allow(dead_code)]
    pub prev_hash: Cow<'a, str>,
    #[serde(rename = "gen_ai.conversation.id", borrow)]
    pub chain: Cow<'a, str>,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
    #[serde(borrow, default)]
    pub time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
}

/// A record shaped exactly as quell writes it: a JSON object text ending in its `hash` member
/// (`…,"hash":"<64 lower-case hex>"}`), valid UTF-8, within the size limit. Used by full replays,
/// which need no field of the record: truncated, binary and other producers' records fail it and
/// go through [`classify`]. A record that passes it but is not valid JSON is still caught where it
/// is used (verification reports it as unreadable at its position).
pub(crate) fn quell_shaped(value: Option<&[u8]>) -> Option<&str> {
    const SUFFIX: usize = r#","hash":""#.len() + 64 + 2;
    let bytes = value?;
    if bytes.len() > MAX_EVENT_BYTES || bytes.len() < SUFFIX + 2 || bytes.first() != Some(&b'{') {
        return None;
    }
    let (_, tail) = bytes.split_at_checked(bytes.len() - SUFFIX)?;
    // The tail is SUFFIX bytes: the member's name, 64 bytes of hash, the closing quote and brace.
    let hash = tail.strip_prefix(br#","hash":""#)?.strip_suffix(br#""}"#)?;
    if !hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The record as a quell event (its JSON text and head), or why it is not one.
pub(crate) fn classify(value: Option<&[u8]>) -> Result<(&str, Head<'_>), String> {
    let Some(bytes) = value else {
        return Err("no value (tombstone)".into());
    };
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(format!("oversized: {} bytes, limit {MAX_EVENT_BYTES}", bytes.len()));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // Cut inside a character at the very end: a truncated record.
        Err(e) if e.error_len().is_none() && bytes.first() == Some(&b'{') => {
            return Err(format!("truncated JSON (ends inside a UTF-8 character at byte {})", e.valid_up_to()));
        }
        Err(e) => return Err(format!("not UTF-8 (byte {})", e.valid_up_to())),
    };
    if !text.trim_start().starts_with('{') {
        return Err(if text.trim().is_empty() { "empty value".into() } else { "not a JSON object".into() });
    }
    match serde_json::from_str::<Head>(text) {
        Ok(head) => Ok((text, head)),
        Err(e) => {
            // A JSON syntax problem outranks a missing field found before it.
            let e = serde_json::from_str::<serde::de::IgnoredAny>(text).err().unwrap_or(e);
            Err(match e.classify() {
                serde_json::error::Category::Eof => format!("truncated JSON ({e})"),
                serde_json::error::Category::Syntax => format!("not JSON ({e})"),
                _ => format!("foreign JSON, not a quell audit event ({e})"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_what_is_not_an_event() {
        let reason = |v: &[u8]| classify(Some(v)).err().unwrap_or_default();
        assert!(reason(b"\xff\xfe garbage").starts_with("not UTF-8"));
        assert!(reason(br#"{"seq":1,"prev_hash":"00"#).starts_with("truncated JSON"));
        assert!(reason("{\"a\":\"😀".as_bytes().split_last().unwrap().1).starts_with("truncated JSON"));
        assert!(reason(br#"{"user":"bob","action":"login"}"#).starts_with("foreign JSON"));
        assert!(reason(b"[1,2]").starts_with("not a JSON object"));
        assert!(reason(br#"{"a":1} trailing"#).starts_with("not JSON"));
        assert!(reason(&vec![b' '; MAX_EVENT_BYTES + 1]).starts_with("oversized"));
        assert_eq!(classify(None).err().as_deref(), Some("no value (tombstone)"));
        let ok = br#"{"seq":2,"prev_hash":"ab","gen_ai.conversation.id":"s-1","hash":"cd","kind":"llm_call","x":[1]}"#;
        let (_, head) = classify(Some(ok)).expect("event");
        assert_eq!((head.chain.as_ref(), head.hash.as_ref(), head.kind.as_deref()), ("s-1", "cd", Some("llm_call")));
    }

    #[test]
    fn quell_shaped_records_are_recognised_without_parsing() {
        let h = "ab".repeat(32);
        let ok = format!(r#"{{"seq":1,"x":"é","hash":"{h}"}}"#);
        assert_eq!(quell_shaped(Some(ok.as_bytes())), Some(ok.as_str()));
        assert_eq!(quell_shaped(Some(&ok.as_bytes()[..ok.len() - 1])), None, "truncated");
        let upper = format!(r#"{{"seq":1,"hash":"{}"}}"#, "AB".repeat(32));
        assert_eq!(quell_shaped(Some(upper.as_bytes())), None);
        let mid = format!(r#"{{"hash":"{h}","seq":1}}"#);
        assert_eq!(quell_shaped(Some(mid.as_bytes())), None, "other layouts take the full parse");
        let mut bad = ok.clone().into_bytes();
        bad[3] = 0xff;
        assert_eq!(quell_shaped(Some(&bad)), None, "not UTF-8");
        assert_eq!(quell_shaped(None), None);
    }

    #[test]
    fn report_counts_each_position_once() {
        let mut r = SkipReport::default();
        r.add(0, 5, "a".into());
        r.add(0, 5, "a".into());
        r.add(1, 2, "b".into());
        assert_eq!(r.count(), 2);
        assert_eq!(
            r.summary("t", 1),
            "skipped 2 records on audit topic 't' that are not quell audit events: partition 0 offset 5 (a); and 1 more"
        );
    }
}
