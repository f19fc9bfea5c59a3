"""An OpenAI Agents SDK agent under quell: a few support sessions that look customers up and ask a
human before they send an e-mail, until an operator kills them. The model is the SDK's own
ScriptedModel (no network, no API key); everything else is the real `Runner`.

    pip install './sdk/python[openai-agents]'
    QUELL_STORE=/tmp/quell.db python examples/python/openai_agents_agent.py --sessions 3

Then, beside it, with the same QUELL_* settings: `quell` (the console), or `quell sessions`,
`quell approvals`, `quell approve ID --reason ok`, `quell kill --all --reason done`.
Configured like quell itself: QUELL_STORE, QUELL_REDIS, QUELL_KAFKA, QUELL_AUDIT_TOPIC.
"""

import argparse
import asyncio

from agents import Agent, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.usage import Usage

from quell_agent import Killed, runtime_from_env
from quell_agent.openai_agents import run

PACE_S = 0.5  # how long a lookup "takes", so the sessions are easy to watch
TICKETS = 1000  # enough scripted work for hours


@function_tool
async def crm_lookup(customer: str) -> str:
    """Looks a customer up in the CRM."""
    await asyncio.sleep(PACE_S)
    return f"{customer}: premium plan, 2 open tickets"


@function_tool(needs_approval=True)
def send_email(to: str, body: str) -> str:
    """Sends an e-mail to a customer (needs a human's approval in quell)."""
    return f"sent to {to}"


def scripted_model(session):
    """For each ticket: look the customer up, then e-mail them."""
    steps = []
    for n in range(1, TICKETS + 1):
        customer = f"customer-{session}-{n}"
        steps.append([function_call("crm_lookup", {"customer": customer}, call_id=f"lookup-{n}")])
        steps.append([function_call("send_email", {"to": f"{customer}@example.com", "body": "Your ticket is solved."},
                                    call_id=f"mail-{n}")])
    steps.append([assistant_message("The support queue is empty.")])
    return ScriptedModel(steps, default_usage=Usage(requests=1, input_tokens=120, output_tokens=20, total_tokens=140))


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=3)
    a = p.parse_args()
    set_tracing_disabled(True)  # no trace export: this example never touches the network
    killed = []
    with runtime_from_env() as rt:

        async def session(conversation):
            agent = Agent(name="support-agent", instructions="Work through the support queue.",
                          model=scripted_model(conversation), tools=[crm_lookup, send_email])
            try:
                await run(agent, "work through the support queue", runtime=rt, session_id=conversation,
                          model="scripted", allowed_tools=["crm_lookup", "send_email"],
                          risk={"send_email": "high"}, max_turns=10 * TICKETS)
            except Killed:
                killed.append(conversation)

        print(f"{a.sessions} OpenAI Agents sessions running under quell; waiting for an operator", flush=True)
        await asyncio.gather(*(session(f"openai-support-{i}") for i in range(1, a.sessions + 1)))
    print(f"killed by quell: {', '.join(sorted(killed))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
