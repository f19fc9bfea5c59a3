"""Put Python agents under quell: register, heartbeat, checkpoint, audit, obey control, ask
for approval — docs/agent-contract.md, with the same semantics as quell's Rust runtime.

    from quell_agent import EmbeddedStore, Runtime, Session

    with Runtime(EmbeddedStore("quell.db")) as rt:
        s = Session.start(rt, "support-agent", model="gpt-4.1", allowed_tools=["crm_lookup"])
        while s.gate() == "proceed":
            s.begin_step()
            ...
"""

from .canonical import canonical
from .chain import GENESIS_HASH, Sealed, Tail, event_hash, seal
from .config import runtime_from_env
from .embedded import EmbeddedStore
from .errors import Conflict, Killed, NotAStore, QuellError, Unavailable
from .runtime import Runtime, Session, hash_input, new_id

__all__ = [
    "GENESIS_HASH",
    "Conflict",
    "EmbeddedStore",
    "Killed",
    "NotAStore",
    "QuellError",
    "Runtime",
    "Sealed",
    "Session",
    "Tail",
    "Unavailable",
    "canonical",
    "event_hash",
    "hash_input",
    "new_id",
    "runtime_from_env",
    "seal",
]
