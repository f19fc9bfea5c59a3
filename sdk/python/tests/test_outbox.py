"""The state lane's queue: which session records go out at once and which wait for the next
routine write. Pure: no store, no threads."""

from quell_agent.chain import Tail
from quell_agent.runtime import _Outbox


def doc(sid="s-1", state="running", ack=0, step=0, seen_us=1_000):
    return {"id": sid, "state": state, "ack_generation": ack, "step": step, "audit_seq": 0, "audit_head": None,
            "last_seen": f"t{seen_us}", "_last_seen_us": seen_us}


def test_a_new_record_is_urgent_and_routine_progress_is_not():
    out = _Outbox()
    assert out.report(doc()) and out.urgent, "a session's first record goes out at once"
    assert [d["id"] for d in out.take_reports()] == ["s-1"]
    assert not out.urgent and not out.dirty
    # Steps, tokens and heartbeats wait for the routine write; the first one wakes the lane so
    # it can time that write, the next ones do not wake it again.
    assert out.report(doc(step=1)) and not out.urgent
    assert not out.report(doc(step=2)) and not out.urgent
    assert [d["step"] for d in out.take_reports()] == [2], "only the latest record of a session is written"


def test_a_state_change_or_an_acknowledgement_is_urgent():
    out = _Outbox()
    out.report(doc())
    out.take_reports()
    out.report(doc(step=1))
    assert not out.urgent
    assert out.report(doc(step=1, ack=3)) and out.urgent, "an acknowledgement goes out at once"
    out.take_reports()
    assert out.report(doc(state="paused", ack=3)) and out.urgent, "a state change goes out at once"
    out.take_reports()
    out.report(doc(state="paused", ack=3, step=1))
    assert not out.urgent, "what was sent already is not urgent again"


def test_a_failed_write_puts_its_records_back():
    out = _Outbox()
    out.report(doc("s-1"))
    out.report(doc("s-2", state="paused", ack=1))
    taken = out.take_reports()
    assert not out.dirty
    out.retake(taken)
    assert out.dirty == {"s-1", "s-2"}
    again = {d["id"]: d for d in out.take_reports()}
    assert again["s-2"]["state"] == "paused" and again["s-2"]["ack_generation"] == 1


def test_a_record_never_carries_a_head_ahead_of_the_stored_events():
    out = _Outbox()
    out.stored_heads["s-1"] = Tail(4, "h4")
    d = doc()
    d["audit_seq"], d["audit_head"] = 6, "h6"
    out.report(d)
    (sent,) = out.take_reports()
    assert (sent["audit_seq"], sent["audit_head"]) == (4, "h4")
    assert "s-1" in out.behind


def test_a_record_never_says_the_session_was_seen_earlier_than_a_heartbeat_did():
    out = _Outbox()
    out.report(doc(seen_us=1_000))
    out.take_reports()
    # A heartbeat of the state lane while the agent waits...
    out.sessions["s-1"].doc.update(last_seen="t9000", _last_seen_us=9_000)
    # ...then the agent acknowledges a pause with its own, older copy.
    out.report(doc(state="paused", ack=2, seen_us=1_000))
    (sent,) = out.take_reports()
    assert (sent["state"], sent["ack_generation"]) == ("paused", 2)
    assert (sent["last_seen"], sent["_last_seen_us"]) == ("t9000", 9_000)
