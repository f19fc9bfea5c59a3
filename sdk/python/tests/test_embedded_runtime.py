"""The Python runtime on the embedded store, read and controlled by the real quell binary."""

import json
import sqlite3
import threading
import time

import pytest

from helpers import DEADLINE_S, quell, sessions, step_until_killed, wait_for
from quell_agent import EmbeddedStore, Runtime, Session, Unavailable, hash_input
from quell_agent.errors import NotAStore

def run_steps(s, n):
    for _ in range(n):
        assert s.gate() == "proceed"
        step = s.begin_step()
        s.emit("llm_call", input_hash=hash_input(f"prompt {step}"), output_summary="ok",
               input_tokens=10, output_tokens=2, tool_calls=[{"name": "crm_lookup", "arguments": {"q": step}}])
        s.emit("tool_call", tool="crm_lookup", attributes={"quell.step.note": "lookup"})
        s.emit("tool_result", tool="crm_lookup", output_summary="1 row")
        s.checkpoint(messages=[{"role": "user", "content": f"m{step}"}], tool_results=[], plan={"goal": "g"})


def test_register_steps_checkpoints_and_a_chain_quell_verifies(store):
    with Runtime(EmbeddedStore(store)) as rt:
        s = Session.start(rt, "support-agent", model="gpt-4.1", namespace="genai-prod", pod="ai-agent-runtime-0",
                          allowed_tools=["crm_lookup"])
        run_steps(s, 11)
        s.commit()
        listed = sessions(store)[s.id]
        assert listed["agent"] == "support-agent"
        assert listed["namespace"] == "genai-prod" and listed["pod"] == "ai-agent-runtime-0"
        assert listed["state"] == "running" and listed["step"] == 11
        assert listed["tools"] == ["crm_lookup"]
        assert listed["input_tokens"] == 110 and listed["output_tokens"] == 22
        # A live record's head trails the stored events until its next report, never leads them.
        assert listed["audit_seq"] <= 1 + 11 * 4
        s.end("finished")
    assert sessions(store)[s.id]["state"] == "finished"
    assert sessions(store)[s.id]["audit_seq"] == 1 + 11 * 4 + 1
    assert quell(store, "verify").returncode == 0
    shown = json.loads(quell(store, "show", s.id, "-o", "json").stdout)
    assert shown["integrity"]["intact"] is True
    assert shown["integrity"]["checkpoints_edited"] == [] and shown["integrity"]["checkpoints_not_covered"] == []
    text = json.dumps(shown["entries"])
    assert "llm_call" in text and "m11" in text
    # The latest checkpoint is the highest numeric step (11 > 9 whatever a string sort says).
    assert json.loads(EmbeddedStore(store).latest_checkpoint(s.id))["step"] == 11


def test_pause_resume_and_kill_from_quell_are_obeyed_at_step_boundaries(store):
    rt = Runtime(EmbeddedStore(store))
    s = Session.start(rt, "research-agent", model="gpt-4.1")
    s.commit()
    t, stop, outcome = step_until_killed(s, lambda s: s.emit("llm_call", input_tokens=1, output_tokens=1))
    try:
        p = quell(store, "pause", s.id, "--reason", "runaway", "--wait", "10")
        assert "1 acknowledged" in p.stdout, p.stdout
        wait_for("paused state", lambda: sessions(store)[s.id]["state"] == "paused")
        paused_at = sessions(store)[s.id]["step"]
        time.sleep(0.3)
        assert sessions(store)[s.id]["step"] == paused_at, "no step starts while paused"
        quell(store, "resume", s.id, "--reason", "fixed", "--wait", "10")
        wait_for("steps again", lambda: sessions(store)[s.id]["step"] > paused_at)
        p = quell(store, "kill", s.id, "--reason", "done", "--wait", "10")
        assert "1 acknowledged" in p.stdout, p.stdout
        t.join(DEADLINE_S)
        assert outcome.get("gate") == "killed"
    finally:
        stop.set()
        t.join(DEADLINE_S)
        rt.shutdown()
    listed = sessions(store)[s.id]
    assert listed["state"] == "killed"
    replay = [json.loads(line) for line in quell(store, "replay", s.id, "-o", "json").stdout.splitlines()]
    controls = [e["attributes"]["quell.control.desired"] for e in replay if e["kind"] == "control"]
    assert controls == ["pause", "run", "kill"]
    reasons = [e["attributes"].get("quell.control.reason") for e in replay if e["kind"] == "control"]
    assert reasons == ["runaway", "fixed", "done"]
    assert quell(store, "verify").returncode == 0


def test_a_fleet_pause_holds_a_session_that_starts_after_it(store):
    EmbeddedStore(store)
    quell(store, "pause", "--all", "--reason", "incident", "--wait", "0")
    with Runtime(EmbeddedStore(store)) as rt:
        s = Session.start(rt, "late-agent")
        wait_for("fleet hold seen", lambda: s.observe() == "paused")
        s.commit()
        assert sessions(store)[s.id]["state"] == "paused"
        quell(store, "resume", "--all", "--reason", "over", "--wait", "0")
        wait_for("released", lambda: s.observe() == "proceed")
        s.end("finished")


def test_a_thousand_busy_sessions_in_one_process_acknowledge_a_fleet_pause(store):
    # One thread passes every hosted session's step boundary in turn, as a host of many sessions
    # does; their routine writes must leave the operator's pause room to get in, and every
    # session acknowledges it (BENCHMARKS.md times the same thing).
    with Runtime(EmbeddedStore(store)) as rt:
        hosted = [Session.start(rt, "fleet-agent") for _ in range(1000)]
        rt.flush()
        stop = threading.Event()
        passes = [0]

        def scheduler():
            while not stop.is_set():
                for s in hosted:
                    if s.observe() == "proceed":
                        s.begin_step()
                passes[0] += 1
                time.sleep(0.001)

        t = threading.Thread(target=scheduler)
        t.start()
        try:
            wait_for("the sessions stepping", lambda: passes[0] >= 3)
            p = quell(store, "pause", "--all", "--reason", "drill", "--wait", "60")
            assert "1,000 acknowledged, 0 outstanding" in p.stdout, p.stdout
            held = {s.id: s.step for s in hosted}
            seen = passes[0]
            wait_for("more scheduler passes", lambda: passes[0] >= seen + 3)
            assert {s.id: s.step for s in hosted} == held, "a paused session took a step"
            listed = sessions(store)
            assert sum(1 for s in hosted if listed[s.id]["state"] == "paused") == 1000
            quell(store, "resume", "--all", "--reason", "drill over", "--wait", "60")
            wait_for("steps again", lambda: all(s.step > held[s.id] for s in hosted))
        finally:
            stop.set()
            t.join()


def test_approval_decided_once_by_quell_and_expiry_counts_as_rejection(store):
    with Runtime(EmbeddedStore(store)) as rt:
        s = Session.start(rt, "billing-agent")
        s.begin_step()
        ap = s.request_approval("payments.execute", {"amount": 120, "to": "ACME"}, risk="critical", ttl=300)
        s.commit()
        listed = json.loads(quell(store, "approvals", "-o", "json").stdout)
        assert [a["id"] for a in listed] == [ap]
        assert sessions(store)[s.id]["state"] == "waiting_approval"
        assert s.approval_outcome(ap) == "pending"
        quell(store, "approve", ap, "--reason", "checked the invoice")
        assert s.wait_approval(ap) == "approved"
        again = quell(store, "reject", ap, "--reason", "late", check=False)
        assert again.returncode == 4, "a second decision is refused"

        short = s.request_approval("send_email", {"to": "x@example.com"}, ttl=0.2)
        assert s.wait_approval(short) == "expired"
        assert quell(store, "approve", short, "--reason", "too late", check=False).returncode == 4
        s.commit()
        replay = [json.loads(x) for x in quell(store, "replay", s.id, "-o", "json").stdout.splitlines()]
        decided = [e["attributes"]["quell.approval.status"] for e in replay if e["kind"] == "approval_decided"]
        assert decided == ["approved", "expired"]
        assert sessions(store)[s.id]["state"] == "running"
        s.end("finished")


def test_chain_continues_after_a_restart(store):
    rt = Runtime(EmbeddedStore(store))
    s = Session.start(rt, "support-agent")
    run_steps(s, 3)
    rt.shutdown()  # the process "crashes" after its writes are stored
    with Runtime(EmbeddedStore(store)) as rt2:
        s2, latest = Session.resume(rt2, s.id)
        assert latest is not None and latest["step"] == 3 and s2.step == 3
        run_steps(s2, 2)
        s2.end("finished")
    assert quell(store, "verify").returncode == 0
    seqs = [json.loads(x)["seq"] for x in quell(store, "replay", s.id, "-o", "json").stdout.splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))


class FlakyAudit:
    """The real embedded audit log behind a switch that makes appends fail, as a broker outage
    does: what is under test is the runtime's behaviour, the store is real."""

    def __init__(self, store):
        self.store = store
        self.down = threading.Event()

    def append(self, events):
        if self.down.is_set():
            raise Unavailable("audit log down (test outage)")
        self.store.append(events)

    def tail(self, chain):
        return self.store.tail(chain)

    def tails(self, chains):
        if self.down.is_set():
            raise Unavailable("audit log down (test outage)")
        return self.store.tails(chains)


def test_audit_outage_control_still_acknowledged_and_events_stored_in_order_after(store):
    backing = EmbeddedStore(store)
    audit = FlakyAudit(backing)
    rt = Runtime(backing, audit)
    s = Session.start(rt, "ops-agent")
    s.commit()
    audit.down.set()
    run_steps(s, 2)
    with pytest.raises(Unavailable, match="not stored yet; retrying"):
        s.commit(timeout=10)
    p = quell(store, "pause", s.id, "--reason", "outage drill", "--wait", "10", check=False)
    waiter = threading.Thread(target=lambda: wait_for("pause seen", lambda: s.observe() == "paused"))
    waiter.start()
    waiter.join(DEADLINE_S)
    assert p.returncode in (0, 7)
    wait_for("ack while the log is down",
             lambda: sessions(store)[s.id]["state"] == "paused" and sessions(store)[s.id]["ack_generation"] >= 1)
    assert sessions(store)[s.id]["audit_seq"] == 1, "the record never reports a head ahead of the stored events"
    audit.down.clear()
    s.commit(timeout=30)
    rt.shutdown()
    assert quell(store, "verify").returncode == 0
    kinds = [json.loads(x)["kind"] for x in quell(store, "replay", s.id, "-o", "json").stdout.splitlines()]
    assert kinds[0] == "session_started" and kinds[-1] == "control"
    assert kinds.count("checkpoint") == 2
    assert sessions(store)[s.id]["audit_seq"] == len(kinds)


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path):
    foreign = tmp_path / "notes.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(NotAStore, match="not a quell store"):
        EmbeddedStore(foreign)
    assert foreign.read_bytes() == before
    text = tmp_path / "text.db"
    text.write_text("hello, not sqlite at all")
    with pytest.raises(NotAStore):
        EmbeddedStore(text)
    with pytest.raises(Unavailable, match="no such store"):
        EmbeddedStore(tmp_path / "missing.db", create=False)


def test_a_checkpoint_edited_in_the_store_is_shown_as_edited(store):
    with Runtime(EmbeddedStore(store)) as rt:
        s = Session.start(rt, "support-agent")
        run_steps(s, 2)
        s.end("finished")
    conn = sqlite3.connect(store)
    conn.execute("UPDATE checkpoints SET doc = replace(doc, 'm2', 'forged') WHERE session_id = ? AND step = 2", (s.id,))
    conn.commit()
    conn.close()
    p = quell(store, "show", s.id, "-o", "json", check=False)
    assert p.returncode == 5
    integrity = json.loads(p.stdout)["integrity"]
    assert integrity["checkpoints_edited"] == [2] and integrity["intact"] is False
