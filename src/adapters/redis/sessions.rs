//! Sessions and the seed's checkpoints.
//!
//! `sessions()` joins two sources: the records agents using the quell library write
//! (`quell:sessions` index + one `quell:s:{id}:doc` each), and sessions that only have seed
//! checkpoints, found by an incremental `SCAN … MATCH checkpoint:*` (pages of 1,000; duplicates
//! and empty pages with a non-zero cursor are expected and handled). A seed-only session is
//! built from its latest (highest numeric step) and earliest checkpoints. Anything that cannot
//! be read — a key of the wrong type, a value that is not JSON or not the seed's shape, a key
//! whose step is not a number, a session id that is not a valid id — becomes that session's
//! `unreadable` reason; every other session is unaffected.
//!
//! Keys under `checkpoint:` that other writers put there are not sessions: LangGraph's Redis
//! checkpointer, known by its key shapes ([`is_langgraph_key`]), and any seed-shaped key whose
//! value is a RedisJSON document (GET answers WRONGTYPE, TYPE says `ReJSON-RL`; the seed writes
//! strings). They are skipped, never read as checkpoints, and counted ([`ForeignKeys`], shown by
//! [`RedisStore::report_lines`]). A seed key holding any other wrong type stays its session's
//! `unreadable` reason.

use super::{glob_escape, reply, shown_key, RedisStore, Reply, TTL_SECS};
use crate::model::checkpoint::{is_langgraph_key, parse_seed_key, Checkpoint, CheckpointError, UnreadableCheckpoint};
use crate::model::session::{validate_session_id, Session, SessionState};
use crate::model::time::{self, Timestamp};
use crate::ports::{Result, SessionStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashSet};

const SCAN_COUNT: usize = 5000;
/// How long the seed session ids of a full scan answer "is this a seed-only session?" with no.
const SEED_IDS_FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// What a `SCAN` of the seed's keys found for one session id.
#[derive(Default)]
struct SeedKeys {
    steps: BTreeSet<u64>,
    malformed: BTreeSet<String>,
}

/// How many keys the last full listing skipped under `checkpoint:` as not the seed's, and the
/// first few of them (neutralised, for messages).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForeignKeys {
    pub count: usize,
    pub examples: Vec<String>,
}

impl ForeignKeys {
    const EXAMPLES: usize = 3;

    fn of(keys: &BTreeSet<String>) -> Self {
        ForeignKeys { count: keys.len(), examples: keys.iter().take(Self::EXAMPLES).map(|k| shown_key(k)).collect() }
    }
}

/// The `TYPE` of a RedisJSON document: a key no seed writer produced.
const REDIS_JSON_TYPE: &str = "ReJSON-RL";

/// The seed's checkpoint, checked field by field like [`Checkpoint::from_stored`] (same shape
/// rules, same messages) without building the message and tool-result values: listing 10,000
/// sessions reads only what the table shows.
#[derive(serde::Deserialize)]
struct Header {
    session_id: String,
    step: u64,
    #[allow(dead_code)]
    messages: Vec<serde::de::IgnoredAny>,
    #[allow(dead_code)]
    tool_results: Vec<serde::de::IgnoredAny>,
    #[allow(dead_code)]
    plan: serde::de::IgnoredAny,
    created_at: String,
}

impl Header {
    fn check(session_id: &str, step: u64, text: &str) -> std::result::Result<Header, CheckpointError> {
        let h: Header = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => CheckpointError::Shape(e.to_string()),
            _ => CheckpointError::NotJson(e.to_string()),
        })?;
        if h.session_id != session_id || h.step != step {
            return Err(CheckpointError::Mismatch {
                inner: h.session_id,
                inner_step: h.step,
                outer: session_id.to_owned(),
                outer_step: step,
            });
        }
        Ok(h)
    }
}

/// Reads the `created_at` the seed writes (`datetime.isoformat()`, with or without an offset;
/// naive times are taken as UTC) or quell's RFC 3339.
pub fn parse_created_at(text: &str) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, fmt) {
            return Some(t.with_timezone(&chrono::Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

fn unreadable(id: &str, reason: String) -> Session {
    let mut s = Session::new(id, "?", time::from_micros(0));
    s.unreadable = Some(reason);
    s
}

impl RedisStore {
    /// Whether `id` may have seed checkpoints and no quell record. A targeted `SCAN` still walks
    /// the whole keyspace on the server, so the answer "no" comes from the set of seed session
    /// ids of a full scan at most [`SEED_IDS_FRESH`] old (taken by `sessions()` or here): an
    /// agent starting a new session (which asks whether the id exists) costs one `GET`, not a
    /// scan. A "yes" is always followed by a fresh targeted scan.
    fn may_be_seed_session(&self, id: &str) -> Result<bool> {
        if let Some((at, ids)) = self.seed_ids.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() <= SEED_IDS_FRESH {
                return Ok(ids.contains(id));
            }
        }
        let (seed, foreign) = self.seed_keys(None)?;
        let ids: HashSet<String> = seed.into_keys().collect();
        let found = ids.contains(id);
        self.remember_seed_ids(ids);
        self.remember_foreign(&foreign);
        Ok(found)
    }

    fn remember_seed_ids(&self, ids: HashSet<String>) {
        *self.seed_ids.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), ids));
    }

    /// What the last full scan skipped (see [`RedisStore::foreign_keys`]).
    fn remember_foreign(&self, keys: &BTreeSet<String>) {
        *self.foreign.lock().unwrap_or_else(|p| p.into_inner()) = ForeignKeys::of(keys);
    }

    /// Keys under `checkpoint:` that the last full listing skipped as not the seed's.
    pub fn foreign_keys(&self) -> ForeignKeys {
        self.foreign.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every key matching `pattern`, via `SCAN` (never `KEYS`). May contain duplicates.
    fn scan_keys(&self, pattern: &str, sink: &mut dyn FnMut(String)) -> Result<()> {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self.run(|c, _| {
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_COUNT).query(c)
            })?;
            for k in keys {
                sink(String::from_utf8_lossy(&k).into_owned());
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Seed keys of every session (or of one, with `only`), grouped by session id, and the keys
    /// of LangGraph's checkpointer met on the way (skipped).
    fn seed_keys(&self, only: Option<&str>) -> Result<(BTreeMap<String, SeedKeys>, BTreeSet<String>)> {
        let prefix = self.keys().checkpoint_prefix();
        let pattern = match only {
            Some(id) => format!("{}{}:*", glob_escape(&prefix), glob_escape(id)),
            None => format!("{}*", glob_escape(&prefix)),
        };
        let mut out: BTreeMap<String, SeedKeys> = BTreeMap::new();
        let mut foreign = BTreeSet::new();
        self.scan_keys(&pattern, &mut |key| {
            let Some(rest) = key.strip_prefix(prefix.as_str()) else { return };
            let bare = format!("checkpoint:{rest}");
            if is_langgraph_key(&bare) {
                foreign.insert(key);
                return;
            }
            match parse_seed_key(&bare) {
                Some((sid, step)) => {
                    if only.is_none_or(|o| o == sid) {
                        out.entry(sid.to_owned()).or_default().steps.insert(step);
                    }
                }
                None => {
                    // `checkpoint:<id>:<not a number>` or `checkpoint:<id>`: charge it to the id.
                    let sid = rest.rsplit_once(':').map(|(s, _)| s).filter(|s| !s.is_empty()).unwrap_or(rest);
                    if only.is_none_or(|o| o == sid) {
                        out.entry(sid.to_owned()).or_default().malformed.insert(key.clone());
                    }
                }
            }
        })?;
        Ok((out, foreign))
    }

    /// GETs many keys in one round trip; per-key failures are reported, not fatal.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Reply>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<redis::Value> = self.run(|c, _| {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for k in keys {
                pipe.cmd("GET").arg(k);
            }
            pipe.query(c)
        })?;
        if values.len() != keys.len() {
            return Err(StoreError::Unavailable(format!(
                "redis {}: {} replies to {} GETs",
                self.address(),
                values.len(),
                keys.len()
            )));
        }
        Ok(values.into_iter().map(reply).collect())
    }

    /// Steps of a session, ascending: from the library's index when there is one, else by SCAN.
    fn steps_of(&self, session_id: &str) -> Result<Vec<u64>> {
        let key = self.keys().steps(session_id);
        let indexed: Vec<String> = self.run(|c, _| redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query(c))?;
        if !indexed.is_empty() {
            let mut steps = Vec::with_capacity(indexed.len());
            for s in indexed {
                steps.push(s.parse::<u64>().map_err(|_| self.corrupt(&key, format!("step {s:?} is not a number")))?);
            }
            steps.sort_unstable();
            return Ok(steps);
        }
        Ok(self
            .seed_keys(Some(session_id))?
            .0
            .remove(session_id)
            .map(|k| k.steps.into_iter().collect())
            .unwrap_or_default())
    }

    fn parse_checkpoint(&self, session_id: &str, step: u64, key: &str, value: Reply) -> Result<Option<Checkpoint>> {
        match value {
            Reply::Missing => Ok(None), // expired between listing and reading
            Reply::Bad(why) => Err(self.corrupt(key, why)),
            Reply::Text(text) => {
                Checkpoint::from_stored(session_id, step, &text).map(Some).map_err(|e| self.corrupt(key, e))
            }
        }
    }

    /// A session that only has seed checkpoints, from its latest and earliest ones.
    fn seed_session(&self, id: &str, keys: &SeedKeys, latest: Option<Reply>, earliest: Option<Reply>) -> Session {
        if let Err(e) = validate_session_id(id) {
            return unreadable(&shown_key(id), format!("seed checkpoint keys name an invalid session id: {e}"));
        }
        let (Some(&last_step), Some(&first_step)) = (keys.steps.last(), keys.steps.first()) else {
            let bad: Vec<String> = keys.malformed.iter().take(3).map(|k| shown_key(k)).collect();
            return unreadable(id, format!("checkpoint key(s) without a numeric step: {}", bad.join(", ")));
        };
        let read = |step: u64, value: Option<Reply>| -> std::result::Result<Option<Header>, String> {
            let key = shown_key(&self.keys().checkpoint(id, step));
            match value {
                None | Some(Reply::Missing) => Ok(None),
                Some(Reply::Bad(why)) => Err(format!("key {key}: {why}")),
                Some(Reply::Text(text)) => {
                    Header::check(id, step, &text).map(Some).map_err(|e| format!("key {key}: {e}"))
                }
            }
        };
        let latest = match read(last_step, latest) {
            Ok(cp) => cp,
            Err(why) => return unreadable(id, why),
        };
        let earliest = match read(first_step, earliest) {
            Ok(cp) => cp,
            Err(why) => return unreadable(id, why),
        };
        let Some(latest) = latest else {
            return unreadable(id, format!("checkpoint step {last_step} expired while it was being read"));
        };
        let last_seen = parse_created_at(&latest.created_at).unwrap_or_else(|| time::from_micros(0));
        let started = earliest.as_ref().and_then(|c| parse_created_at(&c.created_at)).unwrap_or(last_seen);
        let mut s = Session::new(id, "?", started);
        s.step = latest.step;
        s.last_seen = last_seen;
        if !keys.malformed.is_empty() {
            let bad: Vec<String> = keys.malformed.iter().take(3).map(|k| shown_key(k)).collect();
            s.unreadable = Some(format!("checkpoint key(s) without a numeric step: {}", bad.join(", ")));
        }
        s
    }
}

impl SessionStore for RedisStore {
    fn put_sessions(&self, sessions: &[Session]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let mut docs = Vec::with_capacity(sessions.len());
        for s in sessions {
            validate_session_id(&s.id).map_err(StoreError::Invalid)?;
            let doc = serde_json::to_string(s).map_err(|e| StoreError::Invalid(format!("session {}: {e}", s.id)))?;
            docs.push((self.keys().session(&s.id), doc, s.id.as_str()));
        }
        let index = self.keys().sessions_index();
        // The index is scored by write time, like the records' TTL: what expires leaves both.
        let written = time::to_micros(&time::now());
        let horizon = written - (TTL_SECS as i64) * 1_000_000;
        self.run(|c, _| {
            let mut pipe = redis::pipe();
            for (key, doc, id) in &docs {
                pipe.cmd("SET").arg(key).arg(doc).arg("EX").arg(TTL_SECS).ignore();
                pipe.cmd("ZADD").arg(&index).arg(written).arg(*id).ignore();
            }
            // Records expire after a day without a report: drop them from the index too.
            pipe.cmd("ZREMRANGEBYSCORE").arg(&index).arg("-inf").arg(format!("({horizon}")).ignore();
            pipe.query::<()>(c)
        })
    }

    fn session(&self, id: &str) -> Result<Option<Session>> {
        let key = self.keys().session(id);
        let mut got = self.get_many(std::slice::from_ref(&key))?;
        match got.pop() {
            Some(Reply::Text(doc)) => match serde_json::from_str::<Session>(&doc) {
                Ok(s) if s.id == id => Ok(Some(s)),
                Ok(s) => Ok(Some(unreadable(id, format!("record under {} says it is session {:?}", key, s.id)))),
                Err(e) => Ok(Some(unreadable(id, format!("session record is not readable: {e}")))),
            },
            Some(Reply::Bad(why)) => Ok(Some(unreadable(id, format!("session record {}: {why}", shown_key(&key))))),
            Some(Reply::Missing) | None => {
                // A seed-only session: its checkpoints are all there is.
                if !self.may_be_seed_session(id)? {
                    return Ok(None);
                }
                let (mut seed, _) = self.seed_keys(Some(id))?;
                match seed.remove(id) {
                    Some(keys) => Ok(self.seed_sessions(vec![(id.to_owned(), keys)])?.0.into_iter().next()),
                    None => Ok(None),
                }
            }
        }
    }

    /// Only sessions run by the quell agent library can acknowledge control, so this reads the
    /// index and the records' three fields, without scanning for seed checkpoints.
    fn acknowledgements(&self) -> Result<Vec<(String, u64, SessionState)>> {
        #[derive(serde::Deserialize)]
        struct Ack {
            id: String,
            ack_generation: u64,
            state: SessionState,
        }
        let index = self.keys().sessions_index();
        let ids: Vec<String> = self.run(|c, _| redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(c))?;
        let keys: Vec<String> = ids.iter().map(|id| self.keys().session(id)).collect();
        let mut out = Vec::with_capacity(ids.len());
        for (id, value) in ids.iter().zip(self.get_many(&keys)?) {
            if let Reply::Text(doc) = value {
                if let Ok(a) = serde_json::from_str::<Ack>(&doc) {
                    if &a.id == id {
                        out.push((a.id, a.ack_generation, a.state));
                    }
                }
            }
        }
        Ok(out)
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        let index = self.keys().sessions_index();
        let ids: Vec<String> = self.run(|c, _| redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(c))?;
        let keys: Vec<String> = ids.iter().map(|id| self.keys().session(id)).collect();
        let mut out = Vec::with_capacity(ids.len());
        let mut known: HashSet<String> = HashSet::with_capacity(ids.len());
        for ((id, key), value) in ids.iter().zip(&keys).zip(self.get_many(&keys)?) {
            let s = match value {
                Reply::Missing => continue, // expired record, index not yet trimmed
                Reply::Bad(why) => unreadable(id, format!("session record {}: {why}", shown_key(key))),
                Reply::Text(doc) => match serde_json::from_str::<Session>(&doc) {
                    Ok(s) if &s.id == id => s,
                    Ok(s) => unreadable(id, format!("record under {} says it is session {:?}", key, s.id)),
                    Err(e) => unreadable(id, format!("session record is not readable: {e}")),
                },
            };
            known.insert(id.clone());
            out.push(s);
        }
        let (all_seed, mut foreign) = self.seed_keys(None)?;
        self.remember_seed_ids(all_seed.keys().cloned().collect());
        let seed: Vec<(String, SeedKeys)> = all_seed.into_iter().filter(|(id, _)| !known.contains(id)).collect();
        let (seed, json_docs) = self.seed_sessions(seed)?;
        out.extend(seed);
        foreign.extend(json_docs);
        self.remember_foreign(&foreign);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn save_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        validate_session_id(&cp.session_id).map_err(StoreError::Invalid)?;
        let key = self.keys().checkpoint(&cp.session_id, cp.step);
        let steps = self.keys().steps(&cp.session_id);
        let doc = cp.to_json();
        // Two slots (the seed's key has no hash tag), so no MULTI: the checkpoint first, then
        // the index; a reader skips index entries whose checkpoint is gone.
        self.run(|c, _| {
            redis::pipe()
                .cmd("SETEX")
                .arg(&key)
                .arg(TTL_SECS)
                .arg(&doc)
                .ignore()
                .cmd("ZADD")
                .arg(&steps)
                .arg(cp.step)
                .arg(cp.step)
                .ignore()
                .cmd("EXPIRE")
                .arg(&steps)
                .arg(TTL_SECS)
                .ignore()
                .query::<()>(c)
        })
    }

    fn checkpoint_entries(
        &self,
        session_id: &str,
    ) -> Result<Vec<std::result::Result<Checkpoint, UnreadableCheckpoint>>> {
        let steps = self.steps_of(session_id)?;
        let keys: Vec<String> = steps.iter().map(|s| self.keys().checkpoint(session_id, *s)).collect();
        let mut out = Vec::with_capacity(steps.len());
        for ((&step, key), value) in steps.iter().zip(&keys).zip(self.get_many(&keys)?) {
            let read = match value {
                Reply::Missing => continue, // expired between listing and reading
                Reply::Bad(why) => Err(why),
                Reply::Text(text) => Checkpoint::from_stored(session_id, step, &text).map_err(|e| e.to_string()),
            };
            out.push(read.map_err(|why| UnreadableCheckpoint {
                session_id: session_id.to_owned(),
                step,
                reason: crate::model::unreadable::reason(format!("key {}: {why}", shown_key(key))),
            }));
        }
        Ok(out)
    }

    fn latest_checkpoint(&self, session_id: &str) -> Result<Option<Checkpoint>> {
        for step in self.steps_of(session_id)?.into_iter().rev() {
            let key = self.keys().checkpoint(session_id, step);
            let value = self.get_many(std::slice::from_ref(&key))?.pop().unwrap_or(Reply::Missing);
            if let Some(cp) = self.parse_checkpoint(session_id, step, &key, value)? {
                return Ok(Some(cp));
            }
        }
        Ok(None)
    }
}

impl RedisStore {
    /// Builds seed-only sessions, reading every latest and earliest checkpoint in one pipeline.
    /// A session whose latest or earliest key holds a RedisJSON document is another writer's:
    /// left out, its keys returned to be counted as skipped.
    fn seed_sessions(&self, seed: Vec<(String, SeedKeys)>) -> Result<(Vec<Session>, Vec<String>)> {
        let mut keys = Vec::with_capacity(seed.len() * 2);
        let mut slots = Vec::with_capacity(seed.len());
        for (id, k) in &seed {
            let readable = validate_session_id(id).is_ok();
            let latest = k.steps.last().filter(|_| readable).map(|s| {
                keys.push(self.keys().checkpoint(id, *s));
                keys.len() - 1
            });
            let earliest =
                k.steps.first().filter(|f| readable && k.steps.len() > 1 && Some(*f) != k.steps.last()).map(|s| {
                    keys.push(self.keys().checkpoint(id, *s));
                    keys.len() - 1
                });
            slots.push((latest, earliest));
        }
        let mut values: Vec<Option<Reply>> = self.get_many(&keys)?.into_iter().map(Some).collect();
        let refused = keys.iter().zip(&values).filter(|(_, v)| matches!(v, Some(Reply::Bad(_)))).map(|(k, _)| k);
        let json_docs = self.redis_json_keys(refused.map(String::as_str))?;
        let mut out = Vec::with_capacity(seed.len());
        let mut skipped = Vec::new();
        for ((id, k), (latest, earliest)) in seed.iter().zip(slots) {
            if [latest, earliest].into_iter().flatten().any(|i| keys.get(i).is_some_and(|k| json_docs.contains(k))) {
                skipped.extend(k.steps.iter().map(|s| self.keys().checkpoint(id, *s)));
                skipped.extend(k.malformed.iter().cloned());
                continue;
            }
            let latest = latest.and_then(|i| values.get_mut(i)?.take());
            let earliest = earliest.and_then(|i| values.get_mut(i)?.take());
            out.push(self.seed_session(id, k, latest, earliest));
        }
        Ok((out, skipped))
    }

    /// Which of `keys` (ones GET refused) hold a RedisJSON document, by `TYPE`, in one pipeline.
    fn redis_json_keys<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Result<HashSet<String>> {
        let keys: Vec<&str> = keys.collect();
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let types: Vec<redis::Value> = self.run(|c, _| {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for k in &keys {
                pipe.cmd("TYPE").arg(*k);
            }
            pipe.query(c)
        })?;
        Ok(keys
            .into_iter()
            .zip(types)
            .filter_map(|(k, t)| matches!(reply(t), Reply::Text(t) if t == REDIS_JSON_TYPE).then(|| k.to_owned()))
            .collect())
    }
}
