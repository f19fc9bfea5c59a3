//! The tamper-evident chain: per session (chain id = `gen_ai.conversation.id`), each event
//! carries `seq` (1, 2, 3, ...), the previous event's hash (`prev_hash`, 64 zeros for seq 1) and
//! its own `hash`.
//!
//! `hash` = lower-case hex SHA-256 of the UTF-8 bytes of the RFC 8785 canonical JSON of the event
//! object with the `hash` member removed (see `docs/audit-chain.md` and the vectors in
//! `tests/vectors/`).

use super::audit::{AuditEvent, EventBody};
use super::canonical::{self, CanonicalError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical bytes that are hashed: the event without `hash`.
pub fn canonical_bytes(seq: u64, prev_hash: &str, body: &EventBody) -> Result<String, CanonicalError> {
    #[derive(Serialize)]
    struct Unsealed<'a> {
        seq: u64,
        prev_hash: &'a str,
        #[serde(flatten)]
        body: &'a EventBody,
    }
    let value =
        serde_json::to_value(Unsealed { seq, prev_hash, body }).map_err(|e| CanonicalError::Number(e.to_string()))?;
    canonical::to_canonical(&value)
}

/// The hash of any JSON event object as received (a foreign writer's, a Kafka record's):
/// `hash` is removed and the rest canonicalised. Returns the claimed and computed hash.
pub fn rehash_value(mut value: serde_json::Value) -> Result<(Option<String>, String), CanonicalError> {
    let claimed = value.as_object_mut().and_then(|o| o.remove("hash")).and_then(|h| h.as_str().map(str::to_owned));
    let canonical = canonical::to_canonical(&value)?;
    Ok((claimed, sha256_hex(canonical.as_bytes())))
}

/// Where a chain continues from: the last sealed event's seq and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTail {
    pub seq: u64,
    pub hash: String,
}

impl ChainTail {
    pub fn genesis() -> Self {
        ChainTail { seq: 0, hash: GENESIS_HASH.to_owned() }
    }
}

/// Seals a body onto a chain; returns the event and the canonical bytes that were hashed.
pub fn seal(body: EventBody, tail: &ChainTail) -> Result<(AuditEvent, String), CanonicalError> {
    let seq = tail.seq + 1;
    let canonical = canonical_bytes(seq, &tail.hash, &body)?;
    let hash = sha256_hex(canonical.as_bytes());
    Ok((AuditEvent { seq, prev_hash: tail.hash.clone(), body, hash }, canonical))
}

impl AuditEvent {
    pub fn tail(&self) -> ChainTail {
        ChainTail { seq: self.seq, hash: self.hash.clone() }
    }

    /// Recomputes the hash from the content: true when the event is as it was sealed.
    pub fn is_intact(&self) -> bool {
        canonical_bytes(self.seq, &self.prev_hash, &self.body)
            .map(|c| sha256_hex(c.as_bytes()) == self.hash)
            .unwrap_or(false)
    }
}

/// One event as verification sees it, in stored order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    /// The content hashes to `hash`.
    pub intact: bool,
    /// What the store files the event under (chain, seq, kind, time) disagrees with its content:
    /// which value, and where. Filters trust those values, so this breaks the chain too.
    pub misfiled: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    Modified,
    Removed,
    Reordered,
    Duplicated,
    Inserted,
    TailMissing,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Modified => "modified",
            BreakKind::Removed => "removed",
            BreakKind::Reordered => "reordered",
            BreakKind::Duplicated => "duplicated",
            BreakKind::Inserted => "inserted",
            BreakKind::TailMissing => "tail missing",
        })
    }
}

/// The first broken link of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub session_id: String,
    pub seq: u64,
    pub kind: BreakKind,
    pub detail: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The chain id and the detail come from stored content: shown neutralised.
        let shown = |t: &str| super::untrusted::neutralize(t, super::untrusted::Lines::Escape);
        write!(
            f,
            "chain {} broken at seq {}: {} ({})",
            shown(&self.session_id),
            self.seq,
            self.kind,
            shown(&self.detail)
        )
    }
}

/// What a session reported as its chain head: lets verification see a truncated tail.
pub type Anchor = ChainTail;

/// Verifies one chain in stored order. Returns the number of events checked, or the first break.
pub fn verify_links(session_id: &str, links: &[Link], anchor: Option<&Anchor>) -> Result<u64, ChainBreak> {
    let brk =
        |seq: u64, kind: BreakKind, detail: String| ChainBreak { session_id: session_id.to_owned(), seq, kind, detail };
    let mut expected = 1u64;
    let mut prev_hash: &str = GENESIS_HASH;
    for (i, link) in links.iter().enumerate() {
        // The links stored before and after this one.
        let earlier = links.get(..i).unwrap_or_default();
        let later = links.get(i + 1..).unwrap_or_default();
        if !link.intact {
            return Err(brk(link.seq, BreakKind::Modified, "content does not match its hash".into()));
        }
        if let Some(misfiled) = &link.misfiled {
            return Err(brk(link.seq, BreakKind::Modified, misfiled.clone()));
        }
        if link.seq == expected && link.prev_hash == prev_hash {
            prev_hash = &link.hash;
            expected += 1;
            continue;
        }
        if let Some(previous) = earlier.last().filter(|l| l.seq == link.seq) {
            return Err(if link.hash == previous.hash {
                brk(link.seq, BreakKind::Duplicated, "the same event is stored twice".into())
            } else {
                brk(link.seq, BreakKind::Inserted, "two different events claim this seq".into())
            });
        }
        if link.seq == expected {
            let later_twin = later.iter().any(|l| l.seq == link.seq);
            return Err(if later_twin {
                brk(link.seq, BreakKind::Inserted, "an event that is not part of the chain stands here".into())
            } else if expected == 1 {
                brk(1, BreakKind::Modified, "first event does not start from the genesis hash".into())
            } else {
                brk(
                    expected - 1,
                    BreakKind::Modified,
                    format!("event {} links to a different hash than event {} has", link.seq, expected - 1),
                )
            });
        }
        if link.seq > expected {
            let missing_later = later.iter().any(|l| l.seq == expected);
            return Err(if missing_later {
                brk(expected, BreakKind::Reordered, format!("event {expected} is stored after event {}", link.seq))
            } else if link.seq == expected + 1 {
                brk(expected, BreakKind::Removed, format!("event {expected} is missing"))
            } else {
                brk(expected, BreakKind::Removed, format!("events {expected}..{} are missing", link.seq - 1))
            });
        }
        // link.seq < expected: an event of the chain already holds this seq (an event moved
        // back is caught above, where its seq is missing). The same event again is a duplicate;
        // any other is an event that is not part of the chain, wherever it links to.
        let holders: HashSet<&str> = earlier.iter().filter(|l| l.seq == link.seq).map(|l| l.hash.as_str()).collect();
        return Err(if holders.contains(link.hash.as_str()) {
            brk(
                link.seq,
                BreakKind::Duplicated,
                format!("event {} is stored again after event {}", link.seq, expected - 1),
            )
        } else {
            brk(
                link.seq,
                BreakKind::Inserted,
                format!(
                    "an event that is not part of the chain claims seq {}, stored after event {}",
                    link.seq,
                    expected - 1
                ),
            )
        });
    }
    let last = expected - 1;
    if let Some(anchor) = anchor {
        if anchor.seq > last {
            return Err(brk(
                last + 1,
                BreakKind::TailMissing,
                format!("the session reported {} events, the log has {last}", anchor.seq),
            ));
        }
        if anchor.seq == last && last > 0 && anchor.hash != prev_hash {
            return Err(brk(last, BreakKind::Modified, "last event differs from the head the session reported".into()));
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::EventKind;

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut tail = ChainTail::genesis();
        (0..n)
            .map(|i| {
                let mut body = EventBody::new("s1", i, EventKind::LlmCall, "agent:test");
                body.time = crate::model::time::from_micros(1_700_000_000_000_000 + i as i64);
                let (ev, _) = seal(body, &tail).unwrap();
                tail = ev.tail();
                ev
            })
            .collect()
    }

    fn links(events: &[AuditEvent]) -> Vec<Link> {
        events
            .iter()
            .map(|e| Link {
                seq: e.seq,
                prev_hash: e.prev_hash.clone(),
                hash: e.hash.clone(),
                intact: e.is_intact(),
                misfiled: None,
            })
            .collect()
    }

    fn verdict(events: &[AuditEvent]) -> Result<u64, (u64, BreakKind)> {
        verify_links("s1", &links(events), None).map_err(|b| (b.seq, b.kind))
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verdict(&chain(5)), Ok(5));
        assert_eq!(verdict(&[]), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_the_right_seq() {
        let mut c = chain(6);
        c[2].body.step = 99;
        assert_eq!(verdict(&c), Err((3, BreakKind::Modified)));

        // modified and re-hashed: caught by the next link
        let mut c = chain(6);
        c[2].body.step = 99;
        let (resealed, _) = seal(c[2].body.clone(), &c[1].tail()).unwrap();
        c[2] = resealed;
        assert_eq!(verdict(&c), Err((3, BreakKind::Modified)));

        let mut c = chain(6);
        c.remove(3);
        assert_eq!(verdict(&c), Err((4, BreakKind::Removed)));

        let mut c = chain(6);
        c.swap(2, 3);
        assert_eq!(verdict(&c), Err((3, BreakKind::Reordered)));

        let mut c = chain(6);
        let dup = c[2].clone();
        c.insert(3, dup);
        assert_eq!(verdict(&c), Err((3, BreakKind::Duplicated)));

        let mut c = chain(6);
        let forged = seal(EventBody::new("s1", 7, EventKind::ToolCall, "agent:evil"), &c[1].tail()).unwrap().0;
        c.insert(2, forged);
        assert_eq!(verdict(&c), Err((3, BreakKind::Inserted)));

        // a forged event appended at the end, claiming a seq the chain already holds
        let mut c = chain(6);
        let forged = seal(EventBody::new("s1", 7, EventKind::ToolCall, "agent:evil"), &c[3].tail()).unwrap().0;
        c.push(forged);
        assert_eq!(verdict(&c), Err((5, BreakKind::Inserted)));
        let mut c = chain(6);
        // ... and with a prev_hash of its own making
        let wrong = ChainTail { seq: 2, hash: "f".repeat(64) };
        c.push(seal(EventBody::new("s1", 7, EventKind::ToolCall, "agent:evil"), &wrong).unwrap().0);
        assert_eq!(verdict(&c), Err((3, BreakKind::Inserted)));

        let c = chain(6);
        let anchor = c[5].tail();
        let r = verify_links("s1", &links(&c[..4]), Some(&anchor)).map_err(|b| (b.seq, b.kind));
        assert_eq!(r, Err((5, BreakKind::TailMissing)));

        let mut c = chain(6);
        c.remove(0);
        assert_eq!(verdict(&c), Err((1, BreakKind::Removed)));
    }
}
