"""The embedded store: the same SQLite file (WAL mode, schema version 1) quell reads.

The schema is `schema.sql` beside this file, a copy of quell's own
(`src/adapters/embedded/schema.sql`); a test keeps the two identical.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime
from importlib import resources
from typing import Any, Iterable, Optional

from .chain import Sealed, Tail, micros
from .errors import Conflict, NotAStore, Unavailable

SCHEMA_VERSION = "1"
_BUSY_TIMEOUT_S = 10.0

# One write lock per store file in this process. SQLite's own busy handler sleeps and retries
# (1, 2, 5, 10 ... 100 ms), so threads of one process that only relied on it would take turns
# slowly and unfairly; queued on this lock they follow each other at once, and the file lock is
# left to other processes (quell's CLI) between transactions.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: str) -> threading.Lock:
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def _schema() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


class EmbeddedStore:
    """One quell store file. Each thread gets its own connection (sqlite3 objects are not
    shared between threads); writes take the write lock up front (`BEGIN IMMEDIATE`)."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        exists = os.path.exists(self.path)
        if not exists and not create:
            raise Unavailable(f"no such store {self.path}")
        if exists:
            _check_header(self.path)
        parent = os.path.dirname(self.path)
        if parent and not exists:
            os.makedirs(parent, exist_ok=True)
        self._local = threading.local()
        self._write_lock = _write_lock(self.path)
        # Inspect before any pragma: switching to WAL rewrites the header of a foreign file.
        try:
            inspect = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise _error(self.path, e) from e
        try:
            _check_foreign(inspect, self.path, exists)
        finally:
            inspect.close()
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(_schema()):
                conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            _rollback(conn)
            raise Unavailable(f"store {self.path}: {e}") from e

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as e:
                raise _error(self.path, e) from e
            self._local.conn = conn
        return conn

    def _write(self, fn):
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                out = fn(conn)
                conn.execute("COMMIT")
                return out
            except sqlite3.Error as e:
                _rollback(conn)
                raise _error(self.path, e) from e
            except BaseException:
                _rollback(conn)
                raise

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._conn().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as e:
            raise _error(self.path, e) from e

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- sessions and checkpoints -------------------------------------------------------------

    def put_sessions(self, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return

        rows = [(d["id"], d["state"], d["_last_seen_us"], d["ack_generation"], _session_json(d)) for d in docs]
        self._write(
            lambda conn: conn.executemany(
                "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc) VALUES (?1, ?2, ?3, ?4, ?5) "
                "ON CONFLICT (id) DO UPDATE SET state = ?2, last_seen_us = ?3, ack_generation = ?4, doc = ?5",
                rows,
            )
        )

    def session(self, session_id: str) -> Optional[dict[str, Any]]:
        rows = self._read("SELECT doc FROM sessions WHERE id = ?1", (session_id,))
        return json.loads(rows[0][0]) if rows else None

    def save_checkpoints(self, checkpoints: list[tuple[str, int, str]]) -> None:
        """Stores (session id, step, checkpoint JSON) triples in one transaction."""
        if not checkpoints:
            return
        self._write(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO checkpoints (session_id, step, doc) VALUES (?1, ?2, ?3)", checkpoints
            )
        )

    def latest_checkpoint(self, session_id: str) -> Optional[str]:
        """The checkpoint JSON of the highest numeric step, as stored."""
        rows = self._read(
            "SELECT doc FROM checkpoints WHERE session_id = ?1 ORDER BY step DESC LIMIT 1", (session_id,)
        )
        return rows[0][0] if rows else None

    # -- control ---------------------------------------------------------------------------------

    def control_changes(self, since: int) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT target, desired, operator, reason, at_us, generation FROM control "
            "WHERE generation > ?1 ORDER BY generation, target",
            (since,),
        )
        return [
            {"target": t, "desired": d, "operator": o, "reason": r, "at_us": at, "generation": g}
            for (t, d, o, r, at, g) in rows
        ]

    # -- approvals -------------------------------------------------------------------------------

    def request_approval(self, approval: dict[str, Any], requested_us: int, expires_us: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "INSERT OR IGNORE INTO approvals (id, session_id, status, requested_us, expires_us, doc) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    approval["id"],
                    approval["session_id"],
                    approval["status"],
                    requested_us,
                    expires_us,
                    json.dumps(approval, ensure_ascii=False, separators=(",", ":")),
                ),
            )
            if cur.rowcount == 0:
                raise Conflict(f"approval {approval['id']} already exists")

        self._write(run)

    def approval(self, approval_id: str) -> Optional[dict[str, Any]]:
        rows = self._read("SELECT doc FROM approvals WHERE id = ?1", (approval_id,))
        return json.loads(rows[0][0]) if rows else None

    # -- audit -----------------------------------------------------------------------------------

    def append(self, events: list[Sealed]) -> None:
        """Appends events in order; each must continue its chain's stored tail."""
        if not events:
            return

        rows = [(ev.chain, ev.seq, _event_micros(ev), ev.kind, ev.canonical, ev.hash) for ev in events]

        def run(conn: sqlite3.Connection) -> None:
            # Every event continues the stored tail of its chain (read inside the transaction).
            tails: dict[str, Tail] = {}
            for ev in events:
                tail = tails.get(ev.chain)
                if tail is None:
                    tail = self._tail(conn, ev.chain) or Tail()
                if ev.seq != tail.seq + 1 or ev.event["prev_hash"] != tail.hash:
                    raise Conflict(
                        f"audit chain {ev.chain}: event seq {ev.seq} does not continue the stored chain "
                        f"(at seq {tail.seq})"
                    )
                tails[ev.chain] = ev.tail()
            conn.executemany(
                "INSERT INTO audit (chain, seq, time_us, kind, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", rows
            )

        self._write(run)

    def tail(self, chain: str) -> Optional[Tail]:
        try:
            return self._tail(self._conn(), chain)
        except sqlite3.Error as e:
            raise _error(self.path, e) from e

    def tails(self, chains: list[str]) -> list[Optional[Tail]]:
        return [self.tail(c) for c in chains]

    @staticmethod
    def _tail(conn: sqlite3.Connection, chain: str) -> Optional[Tail]:
        row = conn.execute(
            "SELECT seq, hash FROM audit WHERE chain = ?1 ORDER BY id DESC LIMIT 1", (chain,)
        ).fetchone()
        return Tail(int(row[0]), str(row[1])) if row else None


def _event_micros(ev: Sealed) -> int:
    return micros(datetime.fromisoformat(ev.time.replace("Z", "+00:00")))


def _session_json(doc: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in doc.items() if not k.startswith("_")}, ensure_ascii=False)


def _statements(script: str) -> list[str]:
    """Splits the schema into statements (it has triggers, whose bodies hold `;`)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _check_header(path: str) -> None:
    try:
        with open(path, "rb") as f:
            header = f.read(16)
    except OSError as e:
        raise Unavailable(f"cannot open store {path}: {e}") from e
    if header and header != b"SQLite format 3\x00":
        raise NotAStore(f"{path} is not a quell store (not an SQLite database)")


def _check_foreign(conn: sqlite3.Connection, path: str, existed: bool) -> None:
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        if "quell_meta" in tables:
            row = conn.execute("SELECT value FROM quell_meta WHERE key = 'version'").fetchone()
            version = row[0] if row else None
            if version != SCHEMA_VERSION:
                raise NotAStore(
                    f"{path} is a quell store of schema version {version or 'unknown'}, "
                    f"this library writes version {SCHEMA_VERSION}"
                )
            return
    except sqlite3.DatabaseError as e:
        raise _error(path, e) from e
    if existed and tables:
        raise NotAStore(f"{path} is an SQLite database but not a quell store (it has tables: {', '.join(tables)})")


def _error(path: str, e: sqlite3.Error) -> Exception:
    text = str(e)
    if "file is not a database" in text:
        return NotAStore(f"{path} is not a quell store (not an SQLite database)")
    return Unavailable(f"store {path}: {text}")
