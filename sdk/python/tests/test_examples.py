"""The runnable examples in examples/python, run as a user would (a subprocess, configured by
QUELL_* variables) and operated with the real quell binary: their sessions are listed, their
`send_email` approvals are decided, and `quell kill --all` ends them cleanly.

The Redis + Kafka runs need the test services scripts/test.sh starts (QUELL_TEST_REDIS_URL,
QUELL_TEST_KAFKA_BROKERS); Redis database 15 is this file's."""

import json
import os
import subprocess
import sys

import pytest
import redis

from conftest import ROOT
from helpers import quell, wait_for
from helpers import new_topic

EXAMPLES = ROOT / "examples" / "python"
SESSIONS = 3
DB = 15


class Example:
    """One example process and the quell flags that reach the same store."""

    def __init__(self, script, store, flags):
        self.store, self.flags = store, flags
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
        env["QUELL_STORE"] = str(store)
        for flag, var in (("--redis", "QUELL_REDIS"), ("--kafka", "QUELL_KAFKA"), ("--audit-topic", "QUELL_AUDIT_TOPIC")):
            if flag in flags:
                env[var] = flags[flags.index(flag) + 1]
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), "--sessions", str(SESSIONS)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def quell(self, *args, check=True):
        return quell(self.store, *self.flags, *args, check=check)

    def json(self, *args):
        """`quell ARGS -o json`, or None while the example has not created the store yet."""
        p = self.quell(*args, "-o", "json", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def services():
    url = os.environ.get("QUELL_TEST_REDIS_URL", "").rstrip("/")
    brokers = os.environ.get("QUELL_TEST_KAFKA_BROKERS", "")
    if not url or not brokers:
        raise RuntimeError("QUELL_TEST_REDIS_URL/QUELL_TEST_KAFKA_BROKERS are not set: start the test services "
                           "(scripts/services/redis.sh and kafka.sh) and export their env")
    redis.Redis.from_url(f"{url}/{DB}").flushdb()
    return ["--redis", f"{url}/{DB}", "--kafka", brokers, "--audit-topic", new_topic(brokers)]


def drive(example):
    """What an operator does: sees the sessions, approves one e-mail, kills them all."""
    try:

        def running():
            listed = example.json("sessions") or []
            return len([s for s in listed if s["state"] in ("running", "waiting_approval")]) == SESSIONS

        wait_for(f"{SESSIONS} sessions", running)
        pending = []

        def asked():
            pending[:] = [a for a in example.json("approvals") or [] if a["tool"] == "send_email"]
            return len(pending) == SESSIONS

        wait_for("a send_email approval from every session", asked)
        first = pending[0]
        assert first["arguments"]["to"].endswith("@example.com") and first["arguments"]["body"]
        example.quell("approve", first["id"], "--reason", "checked")

        def sent():
            events = [json.loads(x) for x in example.quell("replay", first["session_id"], "-o", "json").stdout.splitlines()]
            return ("tool_call", "send_email") in [(e["kind"], e.get("gen_ai.tool.name")) for e in events]

        wait_for("the approved e-mail to be sent", sent)
        example.quell("kill", "--all", "--reason", "test")
    except BaseException:
        example.proc.kill()
        example.finish()
        raise
    code, out, err = example.finish()
    assert code == 0, err
    assert "killed by quell" in out, out
    states = {s["id"]: s["state"] for s in example.json("sessions")}
    assert list(states.values()) == ["killed"] * SESSIONS, states
    assert example.quell("verify").returncode == 0


SCRIPTS = ["langgraph_agent.py", "openai_agents_agent.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_example_runs_on_the_embedded_store_until_quell_kills_it(script, store):
    drive(Example(script, store, []))


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_example_runs_on_redis_and_kafka_until_quell_kills_it(script, store, services):
    drive(Example(script, store, services))
