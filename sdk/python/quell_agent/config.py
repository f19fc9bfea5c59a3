"""A Runtime configured the way the quell CLI is: `QUELL_STORE`, `QUELL_REDIS`, `QUELL_KAFKA`,
`QUELL_AUDIT_TOPIC` (README, "Configuration"), so an agent and the console an operator runs beside
it read the same store without extra wiring.

    from quell_agent import runtime_from_env

    with runtime_from_env() as rt:
        ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from .embedded import EmbeddedStore
from .runtime import Runtime


def default_store_path(env: Mapping[str, str]) -> Path:
    """quell's default embedded store: `$XDG_DATA_HOME/quell/quell.db` (`~/.local/share/...`)."""
    data = env.get("XDG_DATA_HOME") or (str(Path(env["HOME"]) / ".local" / "share") if env.get("HOME") else ".")
    return Path(data) / "quell" / "quell.db"


def runtime_from_env(env: Optional[Mapping[str, str]] = None) -> Runtime:
    """A Runtime on the store and audit log the quell CLI would use with the same environment:
    the embedded store at `QUELL_STORE` (created if missing), sessions and control on Redis when
    `QUELL_REDIS` is set, the audit log on Kafka (`QUELL_KAFKA`, topic `QUELL_AUDIT_TOPIC`,
    default `quell.audit`) when `QUELL_KAFKA` is set. Raises `QuellError` when a store is
    unreachable."""
    env = os.environ if env is None else env
    embedded = EmbeddedStore(env.get("QUELL_STORE") or default_store_path(env))
    opened = [embedded]
    try:
        store, audit = embedded, embedded
        if env.get("QUELL_REDIS"):
            from .redis_store import RedisStore

            store = RedisStore(env["QUELL_REDIS"])
            opened.append(store)
        if env.get("QUELL_KAFKA"):
            from .kafka_audit import KafkaAudit

            audit = KafkaAudit(env["QUELL_KAFKA"], env.get("QUELL_AUDIT_TOPIC") or "quell.audit")
            opened.append(audit)
        return Runtime(store, audit)
    except BaseException:
        for s in reversed(opened):
            s.close()
        raise
