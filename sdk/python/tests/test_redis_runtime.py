"""The Python runtime on the real test Redis (sessions, checkpoints, control, approvals) with the
audit log in the embedded store, read and controlled by the real quell binary with `--redis`.

Needs the test Redis that scripts/test.sh starts (QUELL_TEST_REDIS_URL); fails without it.
Database 14 is this file's (see tests/fixtures/redis/support.rs for the others).
"""

import json
import os

import pytest
import redis

from helpers import DEADLINE_S, quell, sessions, step_until_killed, wait_for
from quell_agent import EmbeddedStore, Runtime, Session
from quell_agent.redis_store import RedisStore, redact_url

DB = 14


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


def listed(url, store):
    return sessions(store, redis=url)


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

    t, stop, gate = step_until_killed(s)
    try:
        p = quell(store, "pause", s.id, "--reason", "drill", "--wait", "10", redis=url)
        assert "1 acknowledged" in p.stdout, p.stdout
        wait_for("paused", lambda: listed(url, store)[s.id]["state"] == "paused")
        p = quell(store, "kill", s.id, "--reason", "end of drill", "--wait", "10", redis=url)
        assert "1 acknowledged" in p.stdout, p.stdout
        t.join(DEADLINE_S)
        assert gate.get("gate") == "killed"
    finally:
        stop.set()
        t.join(DEADLINE_S)
        rt.shutdown()
    assert listed(url, store)[s.id]["state"] == "killed"
    assert quell(store, "verify", redis=url).returncode == 0


def test_approval_requested_on_redis_is_decided_once_by_quell(url, tmp_path):
    store = tmp_path / "audit.db"
    with Runtime(RedisStore(url), audit=EmbeddedStore(store)) as rt:
        s = Session.start(rt, "billing-agent")
        s.begin_step()
        ap = s.request_approval("payments.execute", {"amount": 5}, risk="critical", ttl=300, required_approvers=2)
        pending = json.loads(quell(store, "approvals", "-o", "json", redis=url).stdout)
        assert [a["id"] for a in pending] == [ap]
        quell(store, "--as", "alice", "approve", ap, "--reason", "ok", redis=url)
        assert s.approval_outcome(ap) == "pending", "two approvers are needed"
        same = quell(store, "--as", "alice", "approve", ap, "--reason", "again", check=False, redis=url)
        assert same.returncode == 4
        quell(store, "--as", "bob", "approve", ap, "--reason", "ok too", redis=url)
        assert s.wait_approval(ap) == "approved"
        s.end("finished")


def test_unreachable_redis_is_one_line_without_the_password():
    with pytest.raises(Exception) as err:
        RedisStore("redis://agent:s3cret-pw@127.0.0.1:1/0")
    assert "s3cret-pw" not in str(err.value)
    assert "127.0.0.1:1" in str(err.value)
    assert redact_url("redis://u:p@h:1/2") == "redis://u:***@h:1/2"
