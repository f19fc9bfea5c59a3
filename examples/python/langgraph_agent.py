"""A LangGraph agent under quell: a few support sessions that look customers up and ask a human
before they send an e-mail, until an operator kills them. The chat model is a fake (no network,
no API key); everything else is the real LangChain `create_agent` graph, with LangChain's own
human-in-the-loop middleware asking for the e-mail and quell deciding it.

    pip install './sdk/python[langgraph]'
    QUELL_STORE=/tmp/quell.db python examples/python/langgraph_agent.py --sessions 3

Then, beside it, with the same QUELL_* settings: `quell` (the console), or `quell sessions`,
`quell approvals`, `quell approve ID --reason ok`, `quell kill --all --reason done`.
Configured like quell itself: QUELL_STORE, QUELL_REDIS, QUELL_KAFKA, QUELL_AUDIT_TOPIC.
"""

import argparse
import itertools
import threading
import time

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from quell_agent import Killed, runtime_from_env
from quell_agent.langgraph import QuellMiddleware

PACE_S = 0.5  # how long a lookup "takes", so the sessions are easy to watch


@tool
def crm_lookup(customer: str) -> str:
    """Looks a customer up in the CRM."""
    time.sleep(PACE_S)
    return f"{customer}: premium plan, 2 open tickets"


@tool
def send_email(to: str, body: str) -> str:
    """Sends an e-mail to a customer (needs a human's approval in quell)."""
    return f"sent to {to}"


class FakeChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model, made bindable to tools so create_agent accepts it."""

    def bind_tools(self, tools, **kwargs):
        return self


def tool_call(name, args, n):
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{n}"}],
                     usage_metadata={"input_tokens": 120, "output_tokens": 20, "total_tokens": 140})


def scripted_model(session):
    """A model that never finishes: look a customer up, then e-mail them, then the next one."""
    def replies():
        for n in itertools.count(1):
            customer = f"customer-{session}-{n}"
            yield tool_call("crm_lookup", {"customer": customer}, 2 * n)
            yield tool_call("send_email", {"to": f"{customer}@example.com", "body": "Your ticket is solved."}, 2 * n + 1)
    return FakeChatModel(messages=replies())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=3)
    a = p.parse_args()
    with runtime_from_env() as rt:
        quell = QuellMiddleware(rt, "support-agent", model="fake-chat", allowed_tools=["crm_lookup", "send_email"],
                                interrupt_risks={"send_email": "high"})
        review = HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}})
        killed = []

        def run(thread_id):
            agent = create_agent(scripted_model(thread_id), [crm_lookup, send_email],
                                 checkpointer=InMemorySaver(), middleware=[review, quell])
            try:
                # quell.invoke answers the e-mail's interrupt with quell's decision and turns a
                # kill into LangGraph's drain (the step in flight finishes, then the graph stops).
                quell.invoke(agent, {"messages": [{"role": "user", "content": "work through the support queue"}]},
                             {"configurable": {"thread_id": thread_id}, "recursion_limit": 1_000_000})
            except Killed:
                killed.append(thread_id)

        threads = [threading.Thread(target=run, args=(f"langgraph-support-{i}",)) for i in range(1, a.sessions + 1)]
        for t in threads:
            t.start()
        print(f"{a.sessions} LangGraph sessions running under quell; waiting for an operator", flush=True)
        for t in threads:
            t.join()
    print(f"killed by quell: {', '.join(sorted(killed))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
