"""A plain LangGraph `StateGraph` (no create_agent) under quell: nodes wrapped with `Quell.node`,
run by `Quell.invoke`, paused, resumed, killed and asked for approvals through the real quell binary."""

import json
import threading
import time
from typing import Annotated, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from quell_agent import EmbeddedStore, Killed, Runtime
from quell_agent.langgraph import Quell, ask_approval
from helpers import pending_approval, quell, replay, sessions, wait_for
from test_langgraph import finish, in_background, kinds_after_kill


class Plan(TypedDict):
    messages: Annotated[list, add_messages]
    n: int


def loop_graph(q, limit=None):
    """think -> act -> think ... (until n reaches `limit`, or forever)."""

    def think(state: Plan):
        time.sleep(0.01)  # a node does some work
        return {"n": state["n"] + 1, "messages": [("ai", f"thinking about item {state['n'] + 1}")]}

    def act(state: Plan):
        return {"messages": [("ai", f"acted on item {state['n']}")]}

    b = StateGraph(Plan)
    b.add_node("think", q.node(think))
    b.add_node("act", q.node(act))
    b.add_edge(START, "think")
    b.add_edge("think", "act")
    b.add_conditional_edges("act", lambda s: END if limit is not None and s["n"] >= limit else "think")
    return b.compile(checkpointer=InMemorySaver())


def checkpoints(store, sid):
    shown = json.loads(quell(store, "show", sid, "-o", "json").stdout)
    return [e for e in shown["entries"] if e["entry"] == "checkpoint"]


def test_each_node_is_a_step_with_a_seed_checkpoint_from_graph_state(store):
    with Runtime(EmbeddedStore(store)) as rt:
        q = Quell(rt, "planner", model="none")
        graph = loop_graph(q, limit=2)
        out = q.invoke(graph, {"messages": [("user", "plan two items")], "n": 0},
                       {"configurable": {"thread_id": "g-plan"}})
    assert out["n"] == 2
    cps = checkpoints(store, "g-plan")
    assert [c["step"] for c in cps] == [1, 2, 3, 4]
    assert [c["plan"]["node"] for c in cps] == ["think", "act", "think", "act"]
    assert [c["plan"]["state"]["n"] for c in cps] == [1, 1, 2, 2]
    assert [len(c["messages"]) for c in cps] == [2, 3, 4, 5], "the state after the node, messages merged"
    assert cps[-1]["messages"][-1]["data"]["content"] == "acted on item 2"
    assert sessions(store)["g-plan"]["state"] == "finished"
    assert quell(store, "verify", "g-plan").returncode == 0


def test_a_looping_state_graph_is_paused_resumed_and_killed(store):
    cfg = {"configurable": {"thread_id": "g-loop"}, "recursion_limit": 1_000_000}
    with Runtime(EmbeddedStore(store)) as rt:
        q = Quell(rt, "planner")
        graph = loop_graph(q)
        t, outcome = in_background(lambda: q.invoke(graph, {"messages": [("user", "plan forever")], "n": 0}, cfg))
        wait_for("a few steps", lambda: sessions(store).get("g-loop", {}).get("step", 0) >= 4)
        p = quell(store, "pause", "g-loop", "--reason", "too many plans", "--wait", "5", check=False)
        assert p.returncode == 0 and "1 acknowledged" in p.stdout, p.stdout + p.stderr
        held = sessions(store)["g-loop"]["step"]
        n = graph.get_state(cfg).values["n"]
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert sessions(store)["g-loop"]["step"] == held, "no step while paused"
        assert graph.get_state(cfg).values["n"] == n, "no node ran while paused"
        quell(store, "resume", "g-loop", "--reason", "go on")
        wait_for("steps again", lambda: sessions(store)["g-loop"]["step"] > held + 2)
        quell(store, "kill", "g-loop", "--reason", "enough", "--wait", "10")
        finish(t)
    err = outcome.get("error")
    assert isinstance(err, Killed) and isinstance(err.__cause__, GraphDrained), outcome
    assert sessions(store)["g-loop"]["state"] == "killed"
    state = graph.get_state(cfg)
    assert state.next in (("think",), ("act",)), "LangGraph holds the thread at the node that did not run"
    cps = checkpoints(store, "g-loop")
    steps = [c["step"] for c in cps]
    assert steps == list(range(1, len(steps) + 1))
    last = {"think": "act", "act": "think"}[cps[-1]["plan"]["node"]]
    assert state.next == (last,), "the last seed checkpoint is of the node before the one LangGraph holds"
    _, after = kinds_after_kill(store, "g-loop")
    assert "checkpoint" not in after, after
    assert quell(store, "verify", "g-loop").returncode == 0


@pytest.mark.parametrize("verb", ["approve", "reject", "kill"])
def test_ask_approval_in_a_node_is_decided_in_quell(store, verb):
    sent = []

    class Mail(TypedDict):
        messages: Annotated[list, add_messages]
        to: str

    def draft(state: Mail):
        return {"messages": [("ai", "draft: the Q3 numbers")], "to": "cfo@example.com"}

    def send(state: Mail):
        status = ask_approval("send_email", {"to": state["to"], "body": "the Q3 numbers"}, risk="critical")
        if status == "approved":
            sent.append(state["to"])
        return {"messages": [("ai", f"e-mail {status}")]}

    sid = f"g-mail-{verb}"
    cfg = {"configurable": {"thread_id": sid}}
    with Runtime(EmbeddedStore(store)) as rt:
        q = Quell(rt, "mailer")
        b = StateGraph(Mail)
        b.add_node("draft", q.node(draft))
        b.add_node("send", q.node(send))
        b.add_edge(START, "draft")
        b.add_edge("draft", "send")
        b.add_edge("send", END)
        graph = b.compile(checkpointer=InMemorySaver())
        t, outcome = in_background(lambda: q.invoke(graph, {"messages": [("user", "mail the CFO")], "to": ""}, cfg))
        request = pending_approval(store)
        assert (request["session_id"], request["tool"], request["risk"]) == (sid, "send_email", "critical")
        assert request["arguments"] == {"to": "cfo@example.com", "body": "the Q3 numbers"}
        if verb == "kill":
            quell(store, "kill", sid, "--reason", "suspicious", "--wait", "10")
        else:
            quell(store, verb, request["id"], "--reason", "checked")
        finish(t)
    if verb == "kill":
        assert isinstance(outcome.get("error"), Killed) and sent == []
        assert sessions(store)[sid]["state"] == "killed"
        assert graph.get_state(cfg).interrupts, "LangGraph holds the thread at its interrupt"
        assert [c["step"] for c in checkpoints(store, sid)] == [1]
    else:
        status = {"approve": "approved", "reject": "rejected"}[verb]
        assert outcome["result"]["messages"][-1].content == f"e-mail {status}"
        assert sent == (["cfo@example.com"] if verb == "approve" else [])
        assert sessions(store)[sid]["state"] == "finished"
        assert [c["step"] for c in checkpoints(store, sid)] == [1, 2], "the node rerun on resume is the same step"
    assert quell(store, "verify", sid).returncode == 0


def test_a_kill_seen_at_a_node_gate_drains_the_graph_without_the_entry_point(store):
    """The second line of defence: a plain graph.invoke, killed while paused at a node's gate."""
    cfg = {"configurable": {"thread_id": "g-plain"}, "recursion_limit": 1_000_000}
    with Runtime(EmbeddedStore(store)) as rt:
        q = Quell(rt, "planner")
        graph = loop_graph(q)
        t, outcome = in_background(lambda: graph.invoke({"messages": [("user", "plan")], "n": 0}, cfg))
        wait_for("a few steps", lambda: sessions(store).get("g-plain", {}).get("step", 0) >= 2)
        quell(store, "pause", "g-plain", "--reason", "hold", "--wait", "5")
        quell(store, "kill", "g-plain", "--reason", "stop", "--wait", "10")
        finish(t)
    assert isinstance(outcome.get("error"), GraphDrained), outcome
    assert sessions(store)["g-plain"]["state"] == "killed"
    assert graph.get_state(cfg).next, "LangGraph holds the thread"
    assert quell(store, "verify", "g-plain").returncode == 0
