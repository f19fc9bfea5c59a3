//! Desired state (pause, resume, kill) for sessions and the whole fleet.
//!
//! # Why a generation-scored sorted set (and not pub/sub, streams or keyspace notifications)
//!
//! Control is *state*, not a message: what an agent must know is the latest desired state of its
//! own session and of the fleet, and whether anything changed since it last looked. So:
//!
//! - `quell:c:{control}:gen` is a counter; every `set_control` takes the next value (`INCR`).
//! - `quell:c:{control}:rec` is a hash: target (`*` = fleet, else the session id) → the record.
//! - `quell:c:{control}:chg` is a sorted set: target scored by the generation that last set it.
//!
//! One Lua script does all three for any number of targets, so `pause --all` on 10,000 sessions
//! is one round trip and one atomic step, and the three keys share the `{control}` hash tag so
//! the script is valid on Redis Cluster. `control_changes(since)` is
//! `ZRANGEBYSCORE chg (since +inf` plus `HMGET`, in one read script: O(log n + changed), an empty
//! answer when nothing changed, no scan of anything. A hosting process polls it every ~10 ms for
//! all of its sessions at once (the agent runtime's watcher), which is what makes 10,000
//! acknowledgements within a second cheap: one tiny query per process, not per session.
//!
//! **Reconnect catch-up is free:** a client that was disconnected (network, Redis restart, pod
//! rescheduled) asks again with the last generation it applied and gets exactly the records
//! that changed meanwhile — the latest record per target, which is all desired state needs.
//! Nothing is missed because nothing is delivered: it is read.
//!
//! The alternatives: pub/sub and keyspace notifications are fire-and-forget (a client that is
//! disconnected at the moment of the pause never hears of it, and keyspace notifications need
//! server configuration), so they can only ever be a wake-up hint on top of a readable state.
//! A stream would keep history that control does not need (only the latest state per target
//! matters), grows until trimmed, and a reader that fell behind a trim would have to rescan the
//! state anyway. The script also `PUBLISH`es the new generation on `quell:c:{control}:wake` as
//! exactly such a hint, for consumers that want to react faster than their poll interval; no
//! correctness depends on it.
//!
//! Control records have no TTL and survive restarts with persistence (AOF) on.

use super::RedisStore;
use crate::model::control::{ControlRecord, ControlTarget, Desired};
use crate::model::time::{self, Timestamp};
use crate::ports::{ControlStore, Result, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

const FLEET: &str = "*";

/// KEYS: gen, rec, chg, wake channel name passed as ARGV[2]. ARGV: record JSON, channel, targets…
static SET_CONTROL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local g = redis.call('INCR', KEYS[1])
local n = #ARGV
local i = 3
while i <= n do
  local hset = {'HSET', KEYS[2]}
  local zadd = {'ZADD', KEYS[3]}
  local j = i
  while j <= n and j < i + 500 do
    hset[#hset + 1] = ARGV[j]
    hset[#hset + 1] = ARGV[1]
    zadd[#zadd + 1] = g
    zadd[#zadd + 1] = ARGV[j]
    j = j + 1
  end
  redis.call(unpack(hset))
  redis.call(unpack(zadd))
  i = j
end
redis.call('PUBLISH', ARGV[2], g)
return g
",
    )
});

/// KEYS: chg, rec. ARGV: min score (exclusive form), max score. Returns target, generation,
/// record triples.
static READ_CONTROL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local out = {}
for i = 1, #t, 2 do
  out[#out + 1] = t[i]
  out[#out + 1] = t[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], t[i]) or false
end
return out
",
    )
});

/// The stored record; the target is the hash field and the generation the sorted-set score.
#[derive(Serialize, Deserialize)]
struct Stored {
    desired: Desired,
    operator: String,
    reason: String,
    at: Timestamp,
}

fn target_key(t: &ControlTarget) -> &str {
    match t {
        ControlTarget::Fleet => FLEET,
        ControlTarget::Session(id) => id,
    }
}

impl RedisStore {
    fn read_control(&self, min: &str, max: &str) -> Result<Vec<ControlRecord>> {
        let chg = self.keys().control_changes();
        let rec = self.keys().control_records();
        let flat: Vec<Option<String>> =
            self.run(|c, _| READ_CONTROL.key(&chg).key(&rec).arg(min).arg(max).invoke(c))?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for triple in flat.chunks(3) {
            let [Some(target), Some(score), doc] = triple else {
                return Err(self.corrupt(&chg, "control change list is not target/generation pairs"));
            };
            let generation = score.parse::<f64>().ok().filter(|g| g.fract() == 0.0 && *g >= 0.0).ok_or_else(|| {
                self.corrupt(&chg, format!("generation {score:?} of {target:?} is not a whole number"))
            })? as u64;
            let doc = doc.as_deref().ok_or_else(|| self.corrupt(&rec, format!("no record for target {target:?}")))?;
            let stored: Stored = serde_json::from_str(doc)
                .map_err(|e| self.corrupt(&rec, format!("record of target {target:?} is not readable: {e}")))?;
            out.push(ControlRecord {
                target: if target == FLEET { ControlTarget::Fleet } else { ControlTarget::Session(target.clone()) },
                desired: stored.desired,
                operator: stored.operator,
                reason: stored.reason,
                at: stored.at,
                generation,
            });
        }
        out.sort_by(|a, b| (a.generation, target_key(&a.target)).cmp(&(b.generation, target_key(&b.target))));
        Ok(out)
    }

    fn one_control(&self, target: &str) -> Result<Option<ControlRecord>> {
        let chg = self.keys().control_changes();
        let rec = self.keys().control_records();
        let (score, doc): (Option<String>, Option<String>) = self
            .run(|c, _| redis::pipe().cmd("ZSCORE").arg(&chg).arg(target).cmd("HGET").arg(&rec).arg(target).query(c))?;
        let (Some(score), Some(doc)) = (score, doc) else { return Ok(None) };
        let generation = score
            .parse::<f64>()
            .ok()
            .filter(|g| g.fract() == 0.0 && *g >= 0.0)
            .ok_or_else(|| self.corrupt(&chg, format!("generation {score:?} is not a whole number")))?
            as u64;
        let stored: Stored = serde_json::from_str(&doc)
            .map_err(|e| self.corrupt(&rec, format!("record of target {target:?} is not readable: {e}")))?;
        Ok(Some(ControlRecord {
            target: if target == FLEET { ControlTarget::Fleet } else { ControlTarget::Session(target.to_owned()) },
            desired: stored.desired,
            operator: stored.operator,
            reason: stored.reason,
            at: stored.at,
            generation,
        }))
    }
}

impl ControlStore for RedisStore {
    fn set_control(
        &self,
        targets: &[ControlTarget],
        desired: Desired,
        operator: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<u64> {
        let doc = serde_json::to_string(&Stored {
            desired,
            operator: operator.to_owned(),
            reason: reason.to_owned(),
            at: time::from_micros(time::to_micros(&at)),
        })
        .map_err(|e| StoreError::Invalid(format!("control record: {e}")))?;
        let keys = [self.keys().control_generation(), self.keys().control_records(), self.keys().control_changes()];
        let wake = format!("{}:wake", self.keys().control_generation().trim_end_matches(":gen"));
        // A retry after a lost reply may apply the change twice: same records, one more
        // generation. Harmless for desired state.
        self.run(|c, _| {
            let mut inv = SET_CONTROL.prepare_invoke();
            inv.key(&keys[0]).key(&keys[1]).key(&keys[2]).arg(&doc).arg(&wake);
            for t in targets {
                inv.arg(target_key(t));
            }
            inv.invoke(c)
        })
    }

    fn control_changes(&self, since: u64) -> Result<Vec<ControlRecord>> {
        self.read_control(&format!("({since}"), "+inf")
    }

    fn fleet_control(&self) -> Result<Option<ControlRecord>> {
        self.one_control(FLEET)
    }

    fn session_control(&self, session_id: &str) -> Result<Option<ControlRecord>> {
        self.one_control(session_id)
    }
}
