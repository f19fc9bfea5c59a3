use super::EmbeddedStore;
use crate::model::chain::ChainTail;
use crate::model::time;
use crate::ports::{AuditLog, AuditQuery, Filing, RawEvent, Result, SealedEvent, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension, ToSql};
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct TailCache {
    data_version: Option<i64>,
    tails: HashMap<String, ChainTail>,
}

impl AuditLog for EmbeddedStore {
    fn append(&self, events: &[SealedEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut cache = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.write(|tx| {
            let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
            if cache.data_version != Some(version) {
                cache.tails.clear();
                cache.data_version = Some(version);
            }
            let tails = &mut cache.tails;
            let mut tail_q = tx
                .prepare_cached("SELECT seq, hash FROM audit WHERE chain = ?1 ORDER BY id DESC LIMIT 1")
                .map_err(|e| self.err(e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (chain, seq, time_us, kind, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| self.err(e))?;
            for sealed in events {
                let ev = &sealed.event;
                let chain = ev.body.session_id.as_str();
                let tail = match tails.get(chain) {
                    Some(t) => t.clone(),
                    None => tail_q
                        .query_row([chain], |r| Ok(ChainTail { seq: r.get::<_, i64>(0)? as u64, hash: r.get(1)? }))
                        .optional()
                        .map_err(|e| self.err(e))?
                        .unwrap_or_else(ChainTail::genesis),
                };
                if ev.seq != tail.seq + 1 || ev.prev_hash != tail.hash {
                    return Err(StoreError::Conflict(format!(
                        "audit chain {chain}: event seq {} does not continue the stored chain (at seq {})",
                        ev.seq, tail.seq
                    )));
                }
                insert
                    .execute(params![
                        chain,
                        ev.seq as i64,
                        time::to_micros(&ev.body.time),
                        ev.body.kind.as_str(),
                        sealed.canonical,
                        ev.hash
                    ])
                    .map_err(|e| self.err(e))?;
                tails.insert(chain.to_owned(), ev.tail());
            }
            Ok(())
        });
        if result.is_err() {
            // The transaction rolled back: what we cached during it is not in the store.
            cache.tails.clear();
            cache.data_version = None;
        }
        result
    }

    fn tail(&self, chain: &str) -> Result<Option<ChainTail>> {
        let conn = self.reader();
        conn.query_row("SELECT seq, hash FROM audit WHERE chain = ?1 ORDER BY id DESC LIMIT 1", [chain], |r| {
            Ok(ChainTail { seq: r.get::<_, i64>(0)? as u64, hash: r.get(1)? })
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    fn scan(&self, q: &AuditQuery, sink: &mut dyn FnMut(RawEvent<'_>) -> Result<()>) -> Result<()> {
        let mut clauses = Vec::new();
        let mut binds: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(chain) = &q.chain {
            binds.push(Box::new(chain.clone()));
            clauses.push(format!("chain = ?{}", binds.len()));
        }
        if let Some(since) = &q.since {
            binds.push(Box::new(time::to_micros(since)));
            clauses.push(format!("time_us >= ?{}", binds.len()));
        }
        if let Some(until) = &q.until {
            binds.push(Box::new(time::to_micros(until)));
            clauses.push(format!("time_us <= ?{}", binds.len()));
        }
        if !q.kinds.is_empty() {
            let list: Vec<String> = q.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            clauses.push(format!("kind IN ({})", list.join(",")));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let sql = format!("SELECT id, body, hash, chain, seq, kind, time_us FROM audit {filter} ORDER BY id");
        let conn = self.reader();
        let mut st = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let params: Vec<&dyn ToSql> = binds.iter().map(|b| b.as_ref()).collect();
        let mut rows = st.query(params.as_slice()).map_err(|e| self.err(e))?;
        let mut position = String::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = row.get(0).map_err(|e| self.err(e))?;
            let value = |i: usize| row.get_ref(i).map_err(|e| self.err(e));
            position.clear();
            use std::fmt::Write as _;
            let _ = write!(position, "row {id}");
            // A row is reported, never a reason to stop reading: an attacker (or a bad disk)
            // can put anything in any column.
            let (json, hash, unreadable) = match (text(value(1)?), text(value(2)?)) {
                (Ok(body), Ok(hash)) => (body, Some(hash), None),
                (Err(why), _) => ("", Some(""), Some(why.body)),
                (_, Err(why)) => ("", Some(""), Some(why.hash)),
            };
            let filing = Filing {
                chain: bytes(value(3)?),
                seq: integer(value(4)?),
                kind: bytes(value(5)?),
                time_us: integer(value(6)?),
                malformed: malformed(value(3)?, value(4)?, value(5)?, value(6)?),
                unreadable,
            };
            sink(RawEvent { position: &position, json, hash, filing })?;
        }
        Ok(())
    }
}

/// Why a text column could not be read, phrased for the body and for the hash.
struct NotText {
    body: &'static str,
    hash: &'static str,
}

fn text(v: ValueRef<'_>) -> std::result::Result<&str, NotText> {
    match v {
        ValueRef::Text(b) => std::str::from_utf8(b)
            .map_err(|_| NotText { body: "its body is not UTF-8 text", hash: "its hash is not UTF-8 text" }),
        ValueRef::Blob(_) => {
            Err(NotText { body: "its body is a BLOB, not text", hash: "its hash is a BLOB, not text" })
        }
        _ => Err(NotText { body: "its body is not text", hash: "its hash is not text" }),
    }
}

fn bytes(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Text(b) => Some(b),
        _ => None,
    }
}

fn integer(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

/// The first filing column that is not of the type the schema gives it.
fn malformed(
    chain: ValueRef<'_>,
    seq: ValueRef<'_>,
    kind: ValueRef<'_>,
    time_us: ValueRef<'_>,
) -> Option<&'static str> {
    if bytes(chain).is_none() {
        Some("a chain column that is not text")
    } else if integer(seq).is_none() {
        Some("a seq column that is not an integer")
    } else if bytes(kind).is_none() {
        Some("a kind column that is not text")
    } else if integer(time_us).is_none() {
        Some("a time_us column that is not an integer")
    } else {
        None
    }
}
