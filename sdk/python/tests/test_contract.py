"""One behavioural contract suite, two runtimes: quell's Rust runtime (`quell agent`) and this
library (`python -m quell_agent.solo`), each in its own process, driven and judged only through
the real quell CLI: register, heartbeat and stale, checkpoint order, chain continuity after a
crash, pause/resume/kill acknowledgement, an approval decided exactly once, expiry, and control
acknowledged while the audit log (Kafka) is down."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import quell_binary
from helpers import quell, replay, sessions, wait_for
from helpers import new_topic

RUNTIMES = ["rust", "python"]
DEADLINE_S = 60.0


class Agent:
    """A solo agent process and the lines it printed."""

    def __init__(self, runtime, store, session, *args, kafka=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
        base = ["--store", str(store)]
        if kafka:
            base += ["--kafka", kafka[0], "--audit-topic", kafka[1]]
        if runtime == "rust":
            cmd = [quell_binary(), *base, "agent", "--session", session, *args]
        else:
            cmd = [sys.executable, "-m", "quell_agent.solo", *base, "--session", session, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line {prefix!r}; got {self.lines}; stderr {self.stderr()}")

    def stderr(self):
        return self.proc.stderr.read() if self.proc.poll() is not None else "(running)"

    def finish(self):
        code = self.proc.wait(DEADLINE_S)
        self._reader.join(DEADLINE_S)
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE_S)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_register_steps_checkpoints_and_a_verified_chain(runtime, store):
    a = Agent(runtime, store, "s-contract", "--steps", "12", "--step-ms", "0")
    assert a.finish() == 0, a.stderr()
    assert a.lines[0] == "started session s-contract" and a.lines[-1] == "finished at step 12"
    s = sessions(store)["s-contract"]
    assert (s["agent"], s["state"], s["step"], s["tools"]) == ("solo-agent", "finished", 12, ["web_search"])
    assert s["input_tokens"] == 1200 and s["audit_seq"] == 1 + 12 * 4 + 1
    shown = json.loads(quell(store, "show", "s-contract", "-o", "json").stdout)
    integrity = shown["integrity"]
    assert integrity["intact"] and integrity["checkpoints_edited"] == [] and integrity["checkpoints_not_covered"] == []
    steps = [e["step"] for e in shown["entries"] if e.get("entry") == "checkpoint"]
    assert steps == list(range(1, 13)), "checkpoints in numeric step order (10 after 9)"
    assert quell(store, "verify").returncode == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_crashed_agent_goes_stale_and_resumes_its_chain_from_the_latest_checkpoint(runtime, store):
    a = Agent(runtime, store, "s-crash", "--steps", "1000", "--step-ms", "20")
    a.wait_line("step 3")
    a.kill9()
    at = int(sessions(store)["s-crash"]["step"])
    # No heartbeat for 30 s: shown as stale.
    deadline = time.monotonic() + DEADLINE_S
    while sessions(store)["s-crash"]["state"] != "stale":
        assert time.monotonic() < deadline, "not shown as stale within 60 s of its last heartbeat"
        time.sleep(0.5)
    b = Agent(runtime, store, "s-crash", "--steps", str(at + 2), "--step-ms", "0")
    assert b.finish() == 0, b.stderr()
    resumed = b.lines[0]
    assert resumed.startswith("resumed session s-crash from step "), b.lines
    assert int(resumed.rsplit(" ", 1)[1]) >= at - 1
    seqs = [e["seq"] for e in replay(store, "s-crash")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert quell(store, "verify").returncode == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_pause_resume_and_kill_are_acknowledged_and_obeyed(runtime, store):
    a = Agent(runtime, store, "s-ctl", "--steps", "100000", "--step-ms", "5")
    a.wait_line("step 2")
    p = quell(store, "pause", "s-ctl", "--reason", "contract", "--wait", "10")
    assert "1 acknowledged" in p.stdout, p.stdout
    held = sessions(store)["s-ctl"]["step"]
    time.sleep(0.5)
    assert sessions(store)["s-ctl"]["step"] == held and sessions(store)["s-ctl"]["state"] == "paused"
    assert "1 acknowledged" in quell(store, "resume", "s-ctl", "--reason", "contract", "--wait", "10").stdout
    wait_for("steps again", lambda: sessions(store)["s-ctl"]["step"] > held)
    assert "1 acknowledged" in quell(store, "kill", "s-ctl", "--reason", "contract", "--wait", "10").stdout
    assert a.wait_line("killed at step")
    assert a.finish() == 0
    assert sessions(store)["s-ctl"]["state"] == "killed"
    desired = [e["attributes"]["quell.control.desired"] for e in replay(store, "s-ctl") if e["kind"] == "control"]
    assert desired == ["pause", "run", "kill"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_approval_is_decided_exactly_once(runtime, store):
    a = Agent(runtime, store, "s-ap", "--steps", "3", "--step-ms", "0", "--approval-at", "2")
    ap = a.wait_line("waiting for approval ").rsplit(" ", 1)[1]
    procs = [
        subprocess.Popen([quell_binary(), "--store", str(store), "--as", who, verb, ap, "--reason", "race"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for who, verb in (("alice", "approve"), ("bob", "reject"))
    ]
    codes = [p.wait(DEADLINE_S) for p in procs]
    assert sorted(codes) == [0, 4], codes
    winner = "approved" if codes[0] == 0 else "rejected"
    assert a.wait_line(f"approval {ap} ") == f"approval {ap} {winner}"
    assert a.finish() == 0
    sent = [e for e in replay(store, "s-ap") if e["kind"] == "tool_call" and e.get("gen_ai.tool.name") == "send_email"]
    assert len(sent) == (1 if winner == "approved" else 0)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_expired_approval_counts_as_rejected(runtime, store):
    a = Agent(runtime, store, "s-exp", "--steps", "2", "--step-ms", "0", "--approval-at", "1", "--approval-ttl", "1")
    ap = a.wait_line("waiting for approval ").rsplit(" ", 1)[1]
    assert a.wait_line(f"approval {ap} ") == f"approval {ap} expired"
    assert a.finish() == 0
    assert quell(store, "approve", ap, "--reason", "late", check=False).returncode == 4
    kinds = [(e["kind"], e.get("gen_ai.tool.name")) for e in replay(store, "s-exp")]
    assert ("tool_call", "send_email") not in kinds


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_kill_while_waiting_for_an_approval_ends_the_run_with_nothing_after_the_kill(runtime, store):
    a = Agent(runtime, store, "s-apk", "--steps", "3", "--step-ms", "0", "--approval-at", "2")
    a.wait_line("waiting for approval ")
    assert "1 acknowledged" in quell(store, "kill", "s-apk", "--reason", "contract", "--wait", "10").stdout
    assert a.wait_line("killed at step") == "killed at step 2"
    assert a.finish() == 0
    assert not [line for line in a.lines if line.startswith("approval ")], "a kill is not said as a decision"
    events = replay(store, "s-apk")
    at = next(i for i, e in enumerate(events) if e["kind"] == "control")
    assert [e["kind"] for e in events[at + 1:]] == [], "nothing recorded after the kill"
    assert sessions(store)["s-apk"]["state"] == "killed"


@pytest.fixture
def kafka():
    brokers = os.environ.get("QUELL_TEST_KAFKA_BROKERS", "")
    ctl = os.environ.get("QUELL_TEST_KAFKA_CTL", "")
    if not brokers or not ctl:
        raise RuntimeError("QUELL_TEST_KAFKA_BROKERS/_CTL are not set: start the test broker (scripts/services/kafka.sh)")
    return brokers, ctl


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_control_is_acknowledged_while_the_audit_log_is_down_and_nothing_is_lost(runtime, store, kafka):
    brokers, ctl = kafka
    topic = new_topic(brokers, 1)
    sid = f"s-outage-{uuid.uuid4().hex[:6]}"
    a = Agent(runtime, store, sid, "--steps", "100000", "--step-ms", "20", kafka=(brokers, topic))
    a.wait_line("step 2")
    subprocess.run([ctl, "stop"], check=True, capture_output=True, timeout=120)
    try:
        p = quell(store, "pause", sid, "--reason", "outage drill", "--wait", "20", check=False)
        assert "1 acknowledged" in p.stdout, (p.stdout, p.stderr)
        assert sessions(store)[sid]["state"] == "paused"
    finally:
        subprocess.run([ctl, "restart"], check=True, capture_output=True, timeout=300)  # same ports, data kept
    quell(store, "kill", sid, "--reason", "drill over", "--wait", "60")
    a.wait_line("killed at step")
    assert a.finish() == 0
    kafka_args = ("--kafka", brokers, "--audit-topic", topic)
    evs = replay(store, sid, *kafka_args)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1)), "every event stored, in order"
    assert [e["attributes"]["quell.control.desired"] for e in evs if e["kind"] == "control"] == ["pause", "kill"]
    assert quell(store, *kafka_args, "verify").returncode == 0
