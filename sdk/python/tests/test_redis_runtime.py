"""The Python runtime on the real test Redis (sessions, checkpoints, control, approvals) with the
audit log in the embedded store, read and controlled by the real quell binary with `--redis`.

Needs the test Redis that scripts/test.sh starts (QUELL_TEST_REDIS_URL); fails without it.
Database 14 is this file's (see tests/fixtures/redis/support.rs for the others).
"""

import json
import os
import subprocess
import threading
import time

import pytest
import redis

from conftest import quell_binary
from quell_agent import EmbeddedStore, Runtime, Session
from quell_agent.redis_store import RedisStore, redact_url

DB = 14
DEADLINE_S = 30.0


@pytest.fixture
def url():
    base = os.environ.get("QUELL_TEST_REDIS_URL", "").rstrip("/")
    if not base:
        raise RuntimeError(
            "QUELL_TEST_REDIS_URL is not set: start the test Redis (scripts/services/redis.sh start) and export its env"
        )
    u = f"{base}/{DB}"
    redis.Redis.from_url(u).flushdb()
    return u


def quell(url, store, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
    env["QUELL_AS"] = "py-tests"
    p = subprocess.run([quell_binary(), "--redis", url, "--store", str(store), *args],
                       capture_output=True, text=True, env=env, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"quell {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def listed(url, store):
    return {s["id"]: s for s in json.loads(quell(url, store, "sessions", "-o", "json").stdout)}


def wait_for(what, cond):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_session_checkpoints_in_the_seeds_keys_and_control_from_quell(url, tmp_path):
    store = tmp_path / "audit.db"
    audit = EmbeddedStore(store)
    rt = Runtime(RedisStore(url), audit=audit)
    s = Session.start(rt, "support-agent", model="gpt-4.1", namespace="genai-prod")
    for _ in range(10):
        s.begin_step()
        s.emit("llm_call", input_tokens=3, output_tokens=1)
        s.checkpoint([{"role": "user", "content": "hi"}], [], {"goal": "answer"})
    s.commit()
    raw = redis.Redis.from_url(url)
    seed = raw.get(f"checkpoint:{s.id}:10")
    assert seed is not None, "the checkpoint is under the seed's own key"
    assert json.loads(seed)["step"] == 10 and 0 < raw.ttl(f"checkpoint:{s.id}:10") <= 86_400
    assert json.loads(RedisStore(url).latest_checkpoint(s.id))["step"] == 10
    got = listed(url, store)[s.id]
    assert got["agent"] == "support-agent" and got["namespace"] == "genai-prod" and got["step"] == 10

    stop = threading.Event()
    gate = {}

    def loop():
        while not stop.is_set():
            g = s.gate()
            if g == "killed":
                gate["g"] = g
                return
            s.begin_step()
            time.sleep(0.005)

    t = threading.Thread(target=loop)
    t.start()
    try:
        p = quell(url, store, "pause", s.id, "--reason", "drill", "--wait", "10")
        assert "1 acknowledged" in p.stdout, p.stdout
        wait_for("paused", lambda: listed(url, store)[s.id]["state"] == "paused")
        p = quell(url, store, "kill", s.id, "--reason", "end of drill", "--wait", "10")
        assert "1 acknowledged" in p.stdout, p.stdout
        t.join(DEADLINE_S)
        assert gate.get("g") == "killed"
    finally:
        stop.set()
        t.join(DEADLINE_S)
        rt.shutdown()
    assert listed(url, store)[s.id]["state"] == "killed"
    assert quell(url, store, "verify").returncode == 0


def test_approval_requested_on_redis_is_decided_once_by_quell(url, tmp_path):
    store = tmp_path / "audit.db"
    with Runtime(RedisStore(url), audit=EmbeddedStore(store)) as rt:
        s = Session.start(rt, "billing-agent")
        s.begin_step()
        ap = s.request_approval("payments.execute", {"amount": 5}, risk="critical", ttl=300, required_approvers=2)
        pending = json.loads(quell(url, store, "approvals", "-o", "json").stdout)
        assert [a["id"] for a in pending] == [ap]
        quell(url, store, "--as", "alice", "approve", ap, "--reason", "ok")
        assert s.approval_outcome(ap) == "pending", "two approvers are needed"
        same = quell(url, store, "--as", "alice", "approve", ap, "--reason", "again", check=False)
        assert same.returncode == 4
        quell(url, store, "--as", "bob", "approve", ap, "--reason", "ok too")
        assert s.wait_approval(ap) == "approved"
        s.end("finished")


def test_unreachable_redis_is_one_line_without_the_password():
    with pytest.raises(Exception) as err:
        RedisStore("redis://agent:s3cret-pw@127.0.0.1:1/0")
    assert "s3cret-pw" not in str(err.value)
    assert "127.0.0.1:1" in str(err.value)
    assert redact_url("redis://u:p@h:1/2") == "redis://u:***@h:1/2"
