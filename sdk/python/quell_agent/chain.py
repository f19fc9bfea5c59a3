"""The audit event and its hash chain (docs/audit-chain.md)."""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from typing import Any

from .canonical import canonical

GENESIS_HASH = "0" * 64

KINDS = frozenset(
    {
        "session_started",
        "llm_call",
        "tool_call",
        "tool_result",
        "approval_requested",
        "approval_decided",
        "control",
        "checkpoint",
        "error",
        "session_ended",
        "operator_action",
    }
)


def now() -> _dt.datetime:
    """UTC now, truncated to microseconds (what the store keeps)."""
    return _dt.datetime.now(_dt.timezone.utc)


def format_time(t: _dt.datetime) -> str:
    """RFC 3339 UTC with microseconds: `2026-11-28T03:00:01.250000Z`."""
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(t: _dt.datetime) -> int:
    delta = t.astimezone(_dt.timezone.utc) - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Tail:
    """Where a chain ends: the last stored `seq` and its `hash` (genesis: 0 and 64 zeros)."""

    seq: int = 0
    hash: str = GENESIS_HASH


@dataclass(frozen=True)
class Sealed:
    """An event ready to append: the event object (with `hash`) and the canonical text hashed."""

    event: dict[str, Any]
    canonical: str

    @property
    def seq(self) -> int:
        return int(self.event["seq"])

    @property
    def hash(self) -> str:
        return str(self.event["hash"])

    @property
    def chain(self) -> str:
        return str(self.event["gen_ai.conversation.id"])

    @property
    def kind(self) -> str:
        return str(self.event["kind"])

    @property
    def time(self) -> str:
        return str(self.event["time"])

    def tail(self) -> Tail:
        return Tail(self.seq, self.hash)


def seal(body: dict[str, Any], tail: Tail) -> Sealed:
    """Links `body` (an event without `seq`, `prev_hash` and `hash`) after `tail` and hashes it.

    Absent optional members are left out, never written as null (the hash would differ).
    """
    if body.get("kind") not in KINDS:
        raise ValueError(f"unknown event kind {body.get('kind')!r}")
    event = {k: v for k, v in body.items() if v is not None and not (k == "attributes" and not v)}
    if event.get("tool_calls") == []:
        del event["tool_calls"]
    event["seq"] = tail.seq + 1
    event["prev_hash"] = tail.hash
    text = canonical(event)
    event["hash"] = sha256_hex(text.encode("utf-8"))
    return Sealed(event, text)


def event_hash(event: dict[str, Any]) -> str:
    """The hash an event should carry: SHA-256 of its canonical JSON without `hash`."""
    return sha256_hex(canonical({k: v for k, v in event.items() if k != "hash"}).encode("utf-8"))
