"""The agent runtime: docs/agent-contract.md in Python, with the Rust runtime's semantics.

One `Runtime` per process hosts any number of `Session`s:

- a control watcher polls the store for control changes (one query for every hosted session);
- two writer lanes commit in batches: the **audit lane** stores events in order, and each
  checkpoint after the events queued before it; the **state lane** stores session records
  (heartbeats, states, control acknowledgements). They are apart so that an audit log that cannot
  be written does not stop pause and kill from being acknowledged. A failed append keeps its
  events and retries them (first dropping what a partial write already stored). A session record
  never carries a chain head ahead of the stored events.
- a record whose state or acknowledged control generation changed is written at once; routine
  progress (step, tokens, heartbeats) at most every `ROUTINE_EVERY_S`. A host of a thousand
  busy sessions then holds the store's write lock a small part of the time, so the operator's
  pause gets in, and its acknowledgements go out in the next batch.
- a `Session` keeps its own chain tail and obeys control at step boundaries (`gate`).

Nothing here blocks an agent step on the store: `emit`, `checkpoint` and `begin_step` only queue.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import threading
import time as _time
from dataclasses import dataclass, field
from typing import Any, Optional

from .chain import Sealed, Tail, format_time, micros, now, seal
from .errors import Conflict, Killed, QuellError, Unavailable

CONTROL_POLL_S = 0.02
FLUSH_EVERY_S = 0.005
ROUTINE_EVERY_S = 0.1
HEARTBEAT_EVERY_S = 5.0
MAX_APPEND = 5_000
MAX_RETRY_WAIT_S = 5.0

_ORDER = {"run": 0, "pause": 1, "kill": 2}
_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

RISKS = ("low", "medium", "high", "critical")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def validate_session_id(session_id: str) -> None:
    if not _SESSION_ID.match(session_id):
        raise ValueError(
            f"session id must be 1-128 characters of letters, digits, '-', '_', '.', ':' (got {session_id!r})"
        )


def hash_input(data: bytes | str) -> str:
    """`input_hash`: hex SHA-256 of the input. The raw input never goes into an event."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


SUMMARY_CHARS = 200


def summary(value: Any) -> Optional[str]:
    """A short `output_summary` of agent output: text (or JSON) cut to 200 characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.strip()
    if not text:
        return None
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def effective(fleet: Optional[dict[str, Any]], own: Optional[dict[str, Any]]) -> str:
    """The stricter of the fleet's and the session's desired state (kill > pause > run)."""
    f = fleet["desired"] if fleet else "run"
    s = own["desired"] if own else "run"
    return f if _ORDER.get(f, 0) >= _ORDER.get(s, 0) else s


@dataclass
class _Record:
    """A session record waiting for the state lane, and what the store was last sent of it."""

    doc: dict[str, Any]
    sent: Optional[tuple[str, int]] = None  # (state, ack_generation) of the last write taken

    def urgent(self) -> bool:
        return (self.doc["state"], self.doc["ack_generation"]) != self.sent


@dataclass
class _Outbox:
    events: collections.deque = field(default_factory=collections.deque)
    # (events queued before it, session id, step, checkpoint JSON text)
    checkpoints: collections.deque = field(default_factory=collections.deque)
    events_queued: int = 0
    events_stored: int = 0
    checkpoints_queued: int = 0
    checkpoints_stored: int = 0
    stored_heads: dict[str, Tail] = field(default_factory=dict)
    behind: set[str] = field(default_factory=set)
    audit_failures: int = 0
    audit_error: Optional[str] = None
    sessions: dict[str, _Record] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    urgent: bool = False  # a dirty record changed state or acknowledgement, or a flush waits
    taken: int = 0
    flushed: int = 0
    state_error: Optional[str] = None
    lanes_done: int = 0

    def queue_event(self, sealed: Sealed) -> None:
        if sealed.chain not in self.stored_heads:
            self.stored_heads[sealed.chain] = Tail(sealed.seq - 1, sealed.event["prev_hash"])
        self.events.append(sealed)
        self.events_queued += 1

    def settle(self, stored: list[Sealed]) -> None:
        chains = {e.chain for e in stored}
        for chain in chains:
            self.stored_heads.pop(chain, None)
            # A record that went out with its head held back is written again now that the
            # events are in (batched with the lane's other records, off the agent's path).
            if chain in self.behind:
                self.behind.discard(chain)
                if chain in self.sessions:
                    self.dirty.add(chain)
        for e in self.events:
            if e.chain in chains and e.chain not in self.stored_heads:
                self.stored_heads[e.chain] = Tail(e.seq - 1, e.event["prev_hash"])

    def report(self, doc: dict[str, Any]) -> bool:
        """Queues the record; true when the state lane should be woken (now urgent, or the first
        dirty record, whose routine write the lane has to time)."""
        rec = self.sessions.get(doc["id"])
        if rec is None:
            rec = self.sessions[doc["id"]] = _Record(dict(doc))
        else:
            seen = rec.doc
            rec.doc = dict(doc)
            # Heartbeats move the queued copy's last_seen on while the agent waits; never write
            # a record that says the session was seen earlier (the row would turn stale just as
            # the agent acknowledged a pause).
            if seen["_last_seen_us"] > rec.doc["_last_seen_us"]:
                rec.doc["last_seen"], rec.doc["_last_seen_us"] = seen["last_seen"], seen["_last_seen_us"]
        wake = not self.dirty
        self.dirty.add(doc["id"])
        if not self.urgent and rec.urgent():
            self.urgent = wake = True
        return wake

    def take_reports(self) -> list[dict[str, Any]]:
        out = []
        for sid in self.dirty:
            rec = self.sessions.get(sid)
            if rec is None:
                continue
            rec.sent = (rec.doc["state"], rec.doc["ack_generation"])
            doc = dict(rec.doc)
            head = self.stored_heads.get(sid)
            if head is not None and doc["audit_seq"] > head.seq:
                doc["audit_seq"] = head.seq
                doc["audit_head"] = head.hash if head.seq > 0 else None
                self.behind.add(sid)
            else:
                self.behind.discard(sid)
            out.append(doc)
        self.dirty.clear()
        self.urgent = False
        return out

    def retake(self, reports: list[dict[str, Any]]) -> None:
        """A write that failed: its records are dirty again (and urgent where they were)."""
        for d in reports:
            rec = self.sessions.get(d["id"])
            if rec is not None:
                rec.sent = None
                self.dirty.add(d["id"])


_TERMINAL = frozenset({"killed", "finished", "failed"})


class Runtime:
    """One per process. `store` holds sessions, checkpoints, control and approvals; `audit` the
    audit log (the same store by default, or a Kafka log). Use as a context manager, or call
    `shutdown()`: it flushes what is queued."""

    def __init__(self, store: Any, audit: Any = None) -> None:
        self.store = store
        self.audit = audit if audit is not None else store
        self._control_lock = threading.Lock()
        self._generation = 0
        self._fleet: Optional[dict[str, Any]] = None
        self._own: dict[str, dict[str, Any]] = {}
        self._control_version = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the audit lane's
        self._state_wake = threading.Condition(self._lock)
        self._flushed = threading.Condition(self._lock)
        self._out = _Outbox()
        self._stop = threading.Event()
        self._poll_control()
        self._threads = [
            threading.Thread(target=self._control_loop, name="quell-control", daemon=True),
            threading.Thread(target=self._lane, args=(self._state_lane,), name="quell-state", daemon=True),
            threading.Thread(target=self._lane, args=(self._audit_lane,), name="quell-audit", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- control -------------------------------------------------------------------------------

    def _poll_control(self) -> bool:
        changes = self.store.control_changes(self._generation)
        if not changes:
            return False
        with self._control_lock:
            for rec in changes:
                self._generation = max(self._generation, int(rec["generation"]))
                if rec["target"] == "*":
                    self._fleet = rec
                else:
                    self._own[rec["target"]] = rec
            self._control_version += 1
        return True

    def _control_loop(self) -> None:
        backoff = CONTROL_POLL_S
        while not self._stop.is_set():
            try:
                self._poll_control()
                backoff = CONTROL_POLL_S
            except Exception:  # noqa: BLE001 - the watcher must outlive any store failure
                # Store unavailable: keep the last known control, retry with a capped backoff.
                backoff = min(backoff * 2, 1.0)
            self._stop.wait(backoff)

    def control_for(self, session_id: str) -> tuple[int, str, Optional[dict[str, Any]]]:
        """(generation seen, desired state, the record that set it) for a session. No I/O."""
        with self._control_lock:
            own = self._own.get(session_id)
            desired = effective(self._fleet, own)
            records = [r for r in (self._fleet, own) if r is not None and r["desired"] == desired]
            record = max(records, key=lambda r: r["generation"]) if records else None
            return self._generation, desired, record

    @property
    def control_version(self) -> int:
        """Increases on every control change seen."""
        return self._control_version

    # -- lanes ---------------------------------------------------------------------------------

    def _lane(self, lane) -> None:
        try:
            lane()
        finally:
            with self._lock:
                self._out.lanes_done += 1
                self._flushed.notify_all()

    def _state_lane(self) -> None:
        last_heartbeat = _time.monotonic()
        last_write = 0.0
        while True:
            with self._lock:
                out = self._out
                while not self._stop.is_set() and not out.urgent:
                    t = _time.monotonic()
                    heartbeat_at = last_heartbeat + HEARTBEAT_EVERY_S
                    due = min(heartbeat_at, last_write + ROUTINE_EVERY_S) if out.dirty else heartbeat_at
                    if t >= due:
                        break
                    self._state_wake.wait(due - t)
                if _time.monotonic() - last_heartbeat >= HEARTBEAT_EVERY_S:
                    t = now()
                    for sid, rec in out.sessions.items():
                        if rec.doc["state"] not in _TERMINAL:
                            _touch(rec.doc, t)
                            out.dirty.add(sid)
                    last_heartbeat = _time.monotonic()
                last_write = _time.monotonic()
                reports = out.take_reports()
                out.taken += 1
                batch = out.taken
                stopping = self._stop.is_set()
            error = None
            if reports:
                try:
                    self.store.put_sessions(reports)
                except Exception as e:  # noqa: BLE001 - kept and retried, never lost
                    error = str(e) or type(e).__name__
            with self._lock:
                out.flushed = batch
                if error is None:
                    out.state_error = None
                    for sid in [
                        d["id"]
                        for d in reports
                        if d["state"] in _TERMINAL
                        and d["id"] not in out.dirty
                        and d["id"] not in out.stored_heads
                        and d["id"] not in out.behind
                    ]:
                        out.sessions.pop(sid, None)
                else:
                    out.state_error = error
                    out.retake(reports)
                self._flushed.notify_all()
            if stopping:
                return

    def _audit_lane(self) -> None:
        retry_wait = 0.0
        while True:
            with self._lock:
                out = self._out
                if not out.events and not out.checkpoints:
                    if self._stop.is_set():
                        return
                    self._wake.wait(FLUSH_EVERY_S)
                    continue
                n = min(len(out.events), MAX_APPEND)
                batch = [out.events.popleft() for _ in range(n)]
                stored_before = out.events_stored + n
                ready = []
                for cp in out.checkpoints:
                    if cp[0] > stored_before:
                        break
                    ready.append(cp)
                retrying = retry_wait > 0
                stopping = self._stop.is_set()
            failed_events = None
            failed_checkpoints = None
            try:
                self._store_events(batch, retrying)
            except Exception as e:  # noqa: BLE001 - kept and retried, never lost
                failed_events = e
            if failed_events is None:
                try:
                    self.store.save_checkpoints([(sid, step, text) for _, sid, step, text in ready])
                except Exception as e:  # noqa: BLE001 - kept and retried, never lost
                    failed_checkpoints = e
            with self._lock:
                if failed_events is None and failed_checkpoints is None:
                    out.events_stored += n
                    for _ in ready:
                        out.checkpoints.popleft()
                    out.checkpoints_stored += len(ready)
                    out.settle(batch)
                    out.audit_error = None
                    retry_wait = 0.0
                else:
                    if failed_events is not None:
                        out.events.extendleft(reversed(batch))
                        err = failed_events
                    else:
                        out.events_stored += n
                        out.settle(batch)
                        err = failed_checkpoints
                    out.audit_failures += 1
                    out.audit_error = str(err)
                    retry_wait = min(max(retry_wait * 2, 0.1), MAX_RETRY_WAIT_S)
                self._flushed.notify_all()
                self._wake.notify_all()
            if retry_wait > 0:
                if stopping:
                    return
                self._stop.wait(retry_wait)

    def _store_events(self, batch: list[Sealed], retrying: bool) -> None:
        if not retrying:
            self.audit.append(batch)
            return
        chains = sorted({e.chain for e in batch})
        tails = dict(zip(chains, self.audit.tails(chains)))
        rest = []
        for e in batch:
            t = tails.get(e.chain)
            if t is not None and e.seq < t.seq:
                continue
            if t is not None and e.seq == t.seq:
                if e.hash != t.hash:
                    raise Conflict(
                        f"audit chain {e.chain}: the log holds another event at seq {t.seq}; "
                        "this process's events from there are not stored"
                    )
                continue
            rest.append(e)
        self.audit.append(rest)

    # -- queueing and flushing -----------------------------------------------------------------

    def _queue(self, sealed: Sealed, doc: dict[str, Any]) -> None:
        with self._lock:
            self._out.queue_event(sealed)
            if self._out.report(doc):
                self._state_wake.notify_all()
            self._wake.notify_all()

    def _report(self, doc: dict[str, Any]) -> None:
        with self._lock:
            if self._out.report(doc):
                self._state_wake.notify_all()

    def _queue_checkpoint(self, session_id: str, step: int, text: str) -> None:
        with self._lock:
            out = self._out
            out.checkpoints.append((out.events_queued, session_id, step, text))
            out.checkpoints_queued += 1
            self._wake.notify_all()

    @property
    def audit_error(self) -> Optional[str]:
        """Why the audit log cannot be written right now (None while it can)."""
        with self._lock:
            return self._out.audit_error

    def flush(self, timeout: Optional[float] = None) -> None:
        """Blocks until everything queued so far is stored. When an append fails the error is
        raised at once (`Unavailable`); its events stay queued and are retried."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        with self._lock:
            out = self._out
            events, checkpoints = out.events_queued, out.checkpoints_queued
            failures = out.audit_failures
            target = out.taken + 1
            out.urgent = True
            self._wake.notify_all()
            self._state_wake.notify_all()
            while True:
                audit_done = out.events_stored >= events and out.checkpoints_stored >= checkpoints
                state_done = out.flushed >= target or (out.lanes_done > 0 and out.flushed >= out.taken)
                if audit_done and state_done:
                    break
                if out.audit_failures > failures or (out.lanes_done >= 2 and not audit_done):
                    unstored = len(out.events)
                    why = out.audit_error or "the audit writer has stopped"
                    plural = "" if unstored == 1 else "s"
                    still = "" if out.lanes_done >= 2 else "; retrying"
                    raise Unavailable(f"{why} ({unstored} audit event{plural} not stored yet{still})")
                if out.lanes_done >= 2:
                    break
                left = None if deadline is None else deadline - _time.monotonic()
                if left is not None and left <= 0:
                    raise Unavailable("the store did not take the queued writes in time")
                self._flushed.wait(0.05 if left is None else min(0.05, left))
            if out.state_error is not None:
                raise Unavailable(out.state_error)

    def shutdown(self) -> None:
        if self._stop.is_set():
            return
        try:
            self.flush()
        finally:
            self._stop.set()
            with self._lock:
                self._wake.notify_all()
                self._state_wake.notify_all()
            for t in self._threads:
                t.join(timeout=10)


def _touch(doc: dict[str, Any], t: _dt.datetime) -> None:
    doc["last_seen"] = format_time(t)
    doc["_last_seen_us"] = micros(t)


class Session:
    """One agent session, owned by one agent loop (not shared between threads)."""

    def __init__(self, rt: Runtime, doc: dict[str, Any], tail: Tail) -> None:
        self._rt = rt
        self._doc = doc
        self._tail = tail
        self._identity = f"agent:{doc['agent']}"
        self._applied = "run"
        self._waiting: Optional[str] = None

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        rt: Runtime,
        agent: str,
        *,
        session_id: Optional[str] = None,
        model: Optional[str] = None,
        namespace: Optional[str] = None,
        pod: Optional[str] = None,
        allowed_tools: tuple[str, ...] | list[str] = (),
        attributes: Optional[dict[str, Any]] = None,
    ) -> "Session":
        """Registers a new session and queues `session_started` (with `attributes` added, such as
        the framework's own conversation id)."""
        sid = session_id or new_id("s")
        validate_session_id(sid)
        if rt.store.session(sid) is not None:
            raise Conflict(f"session {sid} already exists; resume it instead")
        t = now()
        namespace = namespace or os.environ.get("POD_NAMESPACE") or None
        pod = pod or os.environ.get("POD_NAME") or None
        doc: dict[str, Any] = {
            "id": sid,
            "agent": agent,
            "namespace": namespace,
            "pod": pod,
            "model": model,
            "state": "running",
            "step": 0,
            "started_at": format_time(t),
            "last_seen": format_time(t),
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "tools": [],
            "ack_generation": 0,
            "audit_seq": 0,
            "audit_head": None,
            "detail": None,
            "_last_seen_us": micros(t),
        }
        tail = rt.audit.tail(sid) or Tail()
        s = cls(rt, doc, tail)
        s.emit(
            "session_started",
            attributes={**(attributes or {}), "quell.agent": agent, "quell.allowed_tools": list(allowed_tools)},
        )
        return s

    @classmethod
    def resume(cls, rt: Runtime, session_id: str) -> tuple["Session", Optional[dict[str, Any]]]:
        """Picks a session up after a crash: its record, its chain tail from the audit log, and
        its latest checkpoint (the highest numeric step)."""
        doc = rt.store.session(session_id)
        if doc is None:
            raise QuellError(f"no session {session_id}")
        if doc.get("state") == "killed":
            raise Killed(f"session {session_id} was killed; it cannot resume")
        tail = rt.audit.tail(session_id) or Tail()
        text = rt.store.latest_checkpoint(session_id)
        latest = json.loads(text) if text is not None else None
        doc["step"] = int(latest["step"]) if latest else 0
        doc["state"] = "running"
        _touch(doc, now())
        s = cls(rt, doc, tail)
        s.emit("session_started", attributes={"quell.resumed_from_step": doc["step"]})
        return s, latest

    @property
    def id(self) -> str:
        return self._doc["id"]

    @property
    def step(self) -> int:
        return self._doc["step"]

    @property
    def state(self) -> str:
        return self._doc["state"]

    @property
    def record(self) -> dict[str, Any]:
        """The session record as last reported (a copy)."""
        return {k: v for k, v in self._doc.items() if not k.startswith("_")}

    # -- events --------------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Seals and queues an event on this session's chain; returns the event.

        `fields` use the event's member names with `.` written as `_` where Python needs it:
        model, input_hash, output_summary, tool, tool_calls, input_tokens, output_tokens,
        checkpoint_hash, attributes.
        """
        body: dict[str, Any] = {
            "time": format_time(now()),
            "gen_ai.conversation.id": self.id,
            "step": self.step,
            "kind": kind,
            "identity": self._identity,
            "gen_ai.request.model": fields.pop("model", None) or self._doc["model"],
            "input_hash": fields.pop("input_hash", None),
            "output_summary": fields.pop("output_summary", None),
            "gen_ai.tool.name": fields.pop("tool", None),
            "tool_calls": [
                {"gen_ai.tool.name": c["name"], "gen_ai.tool.call.arguments": c.get("arguments", {})}
                for c in fields.pop("tool_calls", None) or []
            ],
            "gen_ai.usage.input_tokens": fields.pop("input_tokens", None),
            "gen_ai.usage.output_tokens": fields.pop("output_tokens", None),
            "checkpoint_hash": fields.pop("checkpoint_hash", None),
            "attributes": fields.pop("attributes", None) or {},
        }
        if fields:
            raise TypeError(f"unknown event fields: {', '.join(sorted(fields))}")
        tool = body["gen_ai.tool.name"]
        if tool is not None and tool not in self._doc["tools"]:
            self._doc["tools"].append(tool)
        i, o = body["gen_ai.usage.input_tokens"], body["gen_ai.usage.output_tokens"]
        if i is not None and o is not None:
            self._doc["input_tokens"] += int(i)
            self._doc["output_tokens"] += int(o)
        sealed = seal(body, self._tail)
        self._tail = sealed.tail()
        self._doc["audit_seq"] = self._tail.seq
        self._doc["audit_head"] = self._tail.hash
        self._rt._queue(sealed, self._doc)
        return sealed.event

    def commit(self, timeout: Optional[float] = None) -> None:
        """Blocks until everything queued is stored (before an irreversible action)."""
        self._rt.flush(timeout)

    def add_cost(self, usd: float) -> None:
        self._doc["cost_usd"] += usd

    def begin_step(self) -> int:
        """Starts the next step (after the gate said proceed)."""
        self._doc["step"] += 1
        self._report()
        return self.step

    def _report(self) -> None:
        _touch(self._doc, now())
        self._rt._report(self._doc)

    def checkpoint(self, messages: list[Any], tool_results: list[Any], plan: Any) -> dict[str, Any]:
        """Saves the seed's `AgentCheckpoint` for the current step (stored after the events
        queued before it), covered by a `checkpoint` event whose `checkpoint_hash` is the SHA-256
        of the very text stored (serialised once)."""
        cp = {
            "session_id": self.id,
            "step": self.step,
            "messages": list(messages),
            "tool_results": list(tool_results),
            "plan": plan,
            "created_at": format_time(now()),
        }
        text = json.dumps(cp, ensure_ascii=False)
        self.emit(
            "checkpoint",
            checkpoint_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            attributes={"quell.checkpoint.step": self.step},
        )
        self._rt._queue_checkpoint(self.id, self.step, text)
        return cp

    # -- control -------------------------------------------------------------------------------

    def observe(self) -> str:
        """Reads the desired state (no I/O), acknowledges it, records a `control` event when it
        changes what the session does. Returns "proceed", "paused" or "killed"."""
        generation, desired, record = self._rt.control_for(self.id)
        changed = False
        if generation > self._doc["ack_generation"]:
            self._doc["ack_generation"] = generation
            changed = True
        if desired != self._applied and self._doc["state"] != "killed":
            self._applied = desired
            self._doc["state"] = {
                "run": "waiting_approval" if self._waiting else "running",
                "pause": "paused",
                "kill": "killed",
            }[desired]
            attrs: dict[str, Any] = {"quell.control.desired": desired}
            if record is not None:
                attrs["quell.control.operator"] = record["operator"]
                attrs["quell.control.reason"] = record["reason"]
                attrs["quell.control.generation"] = record["generation"]
            if desired == "kill":
                self._doc["detail"] = "killed by operator"
            self.emit("control", attributes=attrs)
            changed = False
        if changed:
            self._report()
        state = self._doc["state"]
        return "killed" if state == "killed" else "paused" if state == "paused" else "proceed"

    def gate(self) -> str:
        """Blocks while paused; returns "proceed" or "killed"."""
        while True:
            g = self.observe()
            if g != "paused":
                return g
            _time.sleep(CONTROL_POLL_S)

    async def gate_async(self) -> str:
        """`gate` for an event loop: a pause holds this coroutine, not a thread, so any number
        of paused runs in one loop leave the others going (`observe` does no I/O)."""
        while True:
            g = self.observe()
            if g != "paused":
                return g
            await asyncio.sleep(CONTROL_POLL_S)

    # -- approvals -----------------------------------------------------------------------------

    def request_approval(
        self,
        tool: str,
        arguments: Any,
        *,
        risk: str = "high",
        ttl: float = 300.0,
        required_approvers: int = 1,
    ) -> str:
        """Asks a human; the session waits in `waiting_approval`. Returns the approval id."""
        if risk not in RISKS:
            raise ValueError(f"risk must be one of {', '.join(RISKS)} (got {risk!r})")
        required = min(max(int(required_approvers), 1), 2)
        t = now()
        expires = t + _dt.timedelta(seconds=ttl)
        approval = {
            "id": new_id("ap"),
            "session_id": self.id,
            "step": self.step,
            "tool": tool,
            "arguments": arguments,
            "risk": risk,
            "requested_at": format_time(t),
            "expires_at": format_time(expires),
            "required_approvers": required,
            "decisions": [],
            "status": "pending",
        }
        self.emit(
            "approval_requested",
            tool=tool,
            attributes={
                "quell.approval.id": approval["id"],
                "quell.approval.risk": risk,
                "quell.approval.required_approvers": required,
            },
        )
        self._rt.store.request_approval(approval, micros(t), micros(expires))
        self._waiting = approval["id"]
        if self._doc["state"] == "running":
            self._doc["state"] = "waiting_approval"
        self._report()
        return approval["id"]

    def approval_outcome(self, approval_id: str) -> str:
        """The approval's status now: pending, approved, rejected or expired (expiry counts as
        rejection). Once final, records `approval_decided` and returns the session to running."""
        a = self._rt.store.approval(approval_id)
        if a is None:
            raise QuellError(f"no approval {approval_id}")
        status = a.get("status", "pending")
        if status == "pending":
            expires = _dt.datetime.fromisoformat(str(a["expires_at"]).replace("Z", "+00:00"))
            if now() >= expires:
                status = "expired"
        if status != "pending":
            self.emit(
                "approval_decided",
                attributes={
                    "quell.approval.id": approval_id,
                    "quell.approval.status": status,
                    "quell.approval.approvers": [d.get("approver") for d in a.get("decisions", [])],
                },
            )
            self._waiting = None
            if self._doc["state"] == "waiting_approval":
                self._doc["state"] = "running"
            self._report()
        return status

    def approval_step(self, approval_id: str) -> str:
        """One look while waiting for an approval: "killed" when the session was killed
        meanwhile (the caller stops; nothing of the tool is recorded after the kill), else the
        approval's status (`approval_outcome`). Every wait, sync or async, decides through here."""
        if self.observe() == "killed":
            return "killed"
        return self.approval_outcome(approval_id)

    def wait_approval(self, approval_id: str, poll: float = 0.05) -> str:
        """Blocks until the approval is decided or expires: "approved", "rejected", "expired",
        or "killed" when the session was killed meanwhile (the tool must not run then)."""
        while True:
            status = self.approval_step(approval_id)
            if status != "pending":
                return status
            _time.sleep(poll)

    async def wait_approval_async(self, approval_id: str, poll: float = 0.05) -> str:
        """`wait_approval` for an event loop: each look reads the store off the loop, the wait
        between looks holds no thread."""
        while True:
            status = await asyncio.to_thread(self.approval_step, approval_id)
            if status != "pending":
                return status
            await asyncio.sleep(poll)

    def end(self, state: str = "finished", detail: Optional[str] = None) -> None:
        """Ends the session as finished or failed (a kill is ended by control, not here)."""
        if state not in ("finished", "failed"):
            raise ValueError("a session ends as 'finished' or 'failed'")
        if self._doc["state"] != "killed":
            self._doc["state"] = state
        if detail is not None:
            self._doc["detail"] = detail
        self.emit("session_ended", attributes={"quell.final_state": self._doc["state"]})
        self._rt.flush()
