"""The Redis store, in the layout quell's Redis adapter documents (`src/adapters/redis/mod.rs`).

| key | type |
| --- | --- |
| `checkpoint:{session_id}:{step}` | the seed's checkpoint JSON, `SETEX 86400` (the seed's own key) |
| `quell:s:{<session>}:doc` | the session record, 24 h TTL renewed by heartbeats |
| `quell:s:{<session>}:steps` | sorted set of checkpoint steps (spares a `SCAN`) |
| `quell:sessions` | sorted set: session id scored by its last report (µs) |
| `quell:c:{control}:gen` / `:rec` / `:chg` | control: counter / target → record / target by generation |
| `quell:a:{<approval>}` | the approval JSON |
| `quell:approvals`, `quell:approvals:pending` | approval ids by request time / undecided ids by expiry |

Never `KEYS`. Needs `redis` (`pip install ./sdk/python[redis]`). The audit log is not here:
pair it with the embedded store's or a Kafka log (`Runtime(RedisStore(url), audit=...)`).
"""

from __future__ import annotations

import json
import re
import time as _time
from typing import Any, Optional
from urllib.parse import urlsplit

from .chain import micros, now
from .errors import Conflict, QuellError, Unavailable

try:
    import redis as _redis
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise ImportError("quell_agent.redis_store needs redis-py: pip install 'quell-agent[redis]'") from _e

TTL_SECS = 86_400
CONNECT_TIMEOUT_S = 3.0
IO_TIMEOUT_S = 10.0
_SCAN_COUNT = 5000

# KEYS: chg, rec. ARGV: min score (exclusive form), max score. Target, generation, record triples.
_READ_CONTROL = """
local t = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local out = {}
for i = 1, #t, 2 do
  out[#out + 1] = t[i]
  out[#out + 1] = t[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], t[i]) or false
end
return out
"""

_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def redact_url(url: str) -> str:
    """`redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<redis url>"
    if not parts.scheme or not parts.hostname:
        return "<redis url>"
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    if parts.password is not None:
        user = f"{parts.username or ''}:***@"
    elif parts.username:
        user = ":***@"  # a lone userinfo is taken as the password
    else:
        user = ""
    return f"{parts.scheme}://{user}{host}{parts.path}"


class RedisStore:
    """Sessions, checkpoints, control and approvals on one Redis server."""

    def __init__(self, url: str, *, namespace: str = "") -> None:
        if "{" in namespace or "}" in namespace:
            raise ValueError(f"redis namespace {namespace!r} must not contain '{{' or '}}'")
        self.shown = redact_url(url)
        self._secret = urlsplit(url).password or urlsplit(url).username
        self._ns = namespace
        try:
            self._r = _redis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=IO_TIMEOUT_S, decode_responses=False
            )
            self._r.ping()
        except _redis.exceptions.RedisError as e:
            raise self._unavailable("cannot connect", e) from e
        self._read_control = self._r.register_script(_READ_CONTROL)

    # -- keys ------------------------------------------------------------------------------------

    def _k(self, key: str) -> str:
        return self._ns + key

    def _checkpoint(self, sid: str, step: int) -> str:
        return self._k(f"checkpoint:{sid}:{step}")

    def _session(self, sid: str) -> str:
        return self._k(f"quell:s:{{{sid}}}:doc")

    def _steps(self, sid: str) -> str:
        return self._k(f"quell:s:{{{sid}}}:steps")

    # -- errors ----------------------------------------------------------------------------------

    def _unavailable(self, what: str, e: Exception) -> Unavailable:
        text = str(e)
        if self._secret:
            text = text.replace(self._secret, "***")
        return Unavailable(f"redis {self.shown}: {what}: {text}")

    def _run(self, what: str, fn):
        """Runs `fn` (one command or pipeline); a dropped connection is retried once, as quell's
        adapter does, which carries an agent across a server restart."""
        for attempt in (0, 1):
            try:
                return fn()
            except (_redis.exceptions.ConnectionError, _redis.exceptions.TimeoutError) as e:
                if attempt:
                    raise self._unavailable(what, e) from e
                _time.sleep(0.05)
            except _redis.exceptions.RedisError as e:
                raise self._unavailable(what, e) from e
        raise AssertionError("unreachable")

    # -- sessions and checkpoints --------------------------------------------------------------

    def put_sessions(self, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return
        written = micros(now())
        horizon = written - TTL_SECS * 1_000_000
        index = self._k("quell:sessions")

        def run():
            pipe = self._r.pipeline(transaction=False)
            for d in docs:
                if not _SESSION_ID.match(d["id"]):
                    raise QuellError(f"session id {d['id']!r} is not valid")
                body = {k: v for k, v in d.items() if not k.startswith("_")}
                pipe.set(self._session(d["id"]), json.dumps(body, ensure_ascii=False), ex=TTL_SECS)
                pipe.zadd(index, {d["id"]: written})
            pipe.zremrangebyscore(index, "-inf", f"({horizon}")
            pipe.execute()

        self._run("write sessions", run)

    def session(self, session_id: str) -> Optional[dict[str, Any]]:
        raw = self._run("read session", lambda: self._r.get(self._session(session_id)))
        return json.loads(raw) if raw is not None else None

    def save_checkpoints(self, checkpoints: list[tuple[str, int, str]]) -> None:
        """Stores (session id, step, checkpoint JSON) triples in one round trip."""
        if not checkpoints:
            return

        # Two slots (the seed's key has no hash tag), so no MULTI: each checkpoint first, then
        # its index entry; quell skips index entries whose checkpoint is gone.
        def run():
            pipe = self._r.pipeline(transaction=False)
            for session_id, step, text in checkpoints:
                pipe.set(self._checkpoint(session_id, step), text, ex=TTL_SECS)
                pipe.zadd(self._steps(session_id), {str(step): step})
                pipe.expire(self._steps(session_id), TTL_SECS)
            pipe.execute()

        self._run("write checkpoint", run)

    def latest_checkpoint(self, session_id: str) -> Optional[str]:
        """The checkpoint of the highest numeric step: from the steps index, else (a session
        only the seed's agents wrote) by `SCAN` of its keys — never by sorting key strings."""
        steps = [int(s) for s in self._run("read steps", lambda: self._r.zrange(self._steps(session_id), 0, -1))]
        if not steps:
            prefix = self._checkpoint(session_id, 0)[:-1]
            pattern = _glob_escape(prefix) + "*"
            found = set()
            for key in self._r.scan_iter(match=pattern, count=_SCAN_COUNT):
                tail = key.decode("utf-8", "replace")[len(prefix):]
                if tail.isdigit():
                    found.add(int(tail))
            steps = sorted(found)
        for step in reversed(steps):
            raw = self._run("read checkpoint", lambda s=step: self._r.get(self._checkpoint(session_id, s)))
            if raw is not None:
                return raw.decode("utf-8")
        return None

    # -- control ---------------------------------------------------------------------------------

    def control_changes(self, since: int) -> list[dict[str, Any]]:
        chg = self._k("quell:c:{control}:chg")
        rec = self._k("quell:c:{control}:rec")
        flat = self._run("read control", lambda: self._read_control(keys=[chg, rec], args=[f"({since}", "+inf"]))
        out = []
        for i in range(0, len(flat) - 2, 3):
            target, score, doc = flat[i], flat[i + 1], flat[i + 2]
            if not doc:
                raise QuellError(f"redis {self.shown}: no control record for target {target!r}")
            stored = json.loads(doc)
            out.append(
                {
                    "target": target.decode("utf-8"),
                    "desired": stored["desired"],
                    "operator": stored["operator"],
                    "reason": stored["reason"],
                    "generation": int(float(score)),
                }
            )
        out.sort(key=lambda r: (r["generation"], r["target"]))
        return out

    # -- approvals -------------------------------------------------------------------------------

    def request_approval(self, approval: dict[str, Any], requested_us: int, expires_us: int) -> None:
        key = self._k(f"quell:a:{{{approval['id']}}}")
        doc = json.dumps(approval, ensure_ascii=False, separators=(",", ":"))
        first = [True]

        def run():
            created = self._r.set(key, doc, nx=True)
            # A retry whose first attempt landed finds its own record: that is success.
            if not created and not first[0] and self._r.get(key) == doc.encode("utf-8"):
                created = True
            first[0] = False
            if created:
                pipe = self._r.pipeline(transaction=False)
                pipe.zadd(self._k("quell:approvals"), {approval["id"]: requested_us})
                pipe.zadd(self._k("quell:approvals:pending"), {approval["id"]: expires_us})
                pipe.execute()
            return bool(created)

        if not self._run("request approval", run):
            raise Conflict(f"approval {approval['id']} already exists")

    def approval(self, approval_id: str) -> Optional[dict[str, Any]]:
        raw = self._run("read approval", lambda: self._r.get(self._k(f"quell:a:{{{approval_id}}}")))
        return json.loads(raw) if raw is not None else None

    def close(self) -> None:
        self._r.close()


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
