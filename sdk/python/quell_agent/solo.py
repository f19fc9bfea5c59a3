"""`python -m quell_agent.solo`: one simulated agent in its own process, on this library.

The twin of `quell agent` (the Rust runtime): the same flags, the same events, the same lines on
stdout, so one behavioural suite (sdk/python/tests/test_contract.py) drives both runtimes.

    python -m quell_agent.solo --store quell.db --session s-1 [--steps 20] [--step-ms 100]
        [--agent solo-agent] [--approval-at STEP] [--approval-ttl 300]
        [--redis URL] [--kafka BROKERS --audit-topic TOPIC]
"""

from __future__ import annotations

import argparse
import sys
import time

from .embedded import EmbeddedStore
from .errors import QuellError
from .runtime import Runtime, Session, hash_input


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quell_agent.solo", description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--session", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--step-ms", type=int, default=100)
    p.add_argument("--agent", default="solo-agent")
    p.add_argument("--approval-at", type=int)
    p.add_argument("--approval-ttl", type=int, default=300)
    p.add_argument("--redis")
    p.add_argument("--kafka")
    p.add_argument("--audit-topic", default="quell.audit")
    a = p.parse_args(argv)
    try:
        embedded = EmbeddedStore(a.store)
        store = embedded
        if a.redis:
            from .redis_store import RedisStore

            store = RedisStore(a.redis)
        audit = embedded
        if a.kafka:
            from .kafka_audit import KafkaAudit

            audit = KafkaAudit(a.kafka, a.audit_topic)
        rt = Runtime(store, audit)
    except QuellError as e:
        print(f"quell-agent: {e}", file=sys.stderr)
        return 6
    try:
        return _drive(rt, a)
    except QuellError as e:
        print(f"quell-agent: {e}", file=sys.stderr)
        return 6
    finally:
        try:
            rt.shutdown()
        except QuellError as e:
            print(f"quell-agent: {e}", file=sys.stderr)


def _flush_patiently(rt: Runtime) -> None:
    """Waits up to a minute for what is queued to be stored (the audit log may be coming back)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            rt.flush()
            return
        except QuellError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _drive(rt: Runtime, a: argparse.Namespace) -> int:
    if rt.store.session(a.session) is not None:
        s, latest = Session.resume(rt, a.session)
        _say(f"resumed session {a.session} from step {latest['step'] if latest else 0}")
    else:
        s = Session.start(rt, a.agent, session_id=a.session, model="gpt-4.1", allowed_tools=["web_search"])
        _say(f"started session {a.session}")
    while s.step < a.steps:
        if s.gate() == "killed":
            _flush_patiently(rt)
            _say(f"killed at step {s.step}")
            return 0
        step = s.begin_step()
        s.emit("llm_call", input_hash=hash_input(f"step {step}"), output_summary=f"search for item {step}",
               input_tokens=100, output_tokens=20)
        s.emit("tool_call", tool="web_search")
        s.emit("tool_result", tool="web_search", output_summary=f"result {step}")
        if a.approval_at == step:
            args = {"to": "customer@example.com", "subject": f"step {step}"}
            ap = s.request_approval("send_email", args, risk="high", ttl=a.approval_ttl)
            _say(f"waiting for approval {ap}")
            status = s.wait_approval(ap, poll=0.02)
            if status == "killed":
                continue  # the gate at the top ends the run; nothing more is recorded
            _say(f"approval {ap} {status}")
            if status == "approved":
                s.emit("tool_call", tool="send_email")
        s.checkpoint(
            [{"role": "assistant", "content": f"step {step}"}],
            [{"tool": "web_search", "output": f"result {step}"}],
            {"next_step": step + 1},
        )
        # While an audit log apart from the store (Kafka) cannot be written, the events stay
        # queued and are retried and the agent goes on (and keeps obeying control), as the agent
        # contract asks. When the store itself refuses writes, the agent stops and says so.
        try:
            s.commit(timeout=1.0)
        except QuellError as e:
            if not a.kafka:
                raise
            _say(f"audit log not writable, events kept queued: {e}")
        _say(f"step {step}")
        time.sleep(a.step_ms / 1000)
    s.end("finished")
    _say(f"finished at step {s.step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
