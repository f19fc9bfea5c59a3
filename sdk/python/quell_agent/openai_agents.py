"""OpenAI Agents SDK agents under quell, through the SDK's run hooks and its own approval flow.

    from agents import Agent, function_tool
    from quell_agent import EmbeddedStore, Runtime
    from quell_agent.openai_agents import run

    @function_tool(needs_approval=True)
    def send_email(to: str, body: str) -> str: ...

    rt = Runtime(EmbeddedStore("quell.db"))
    result = await run(agent, "mail the customer", runtime=rt, session_id="conv-42", risk={"send_email": "high"})

`run` is `Runner.run` with a quell session around it (one per `session_id`: started, or resumed when
the store has it). At each step boundary (agent start, before a model call, before a tool call) the
session obeys control: a pause holds the run there, a kill raises `quell_agent.Killed` (the SDK
stops a run whose hook raises). Every model call is an `llm_call` event (model, token usage, the
tool calls asked for, `input_hash` of the input items — never the items), every tool call a
`tool_call` and `tool_result`, and after each model call the seed's checkpoint. A tool the SDK
interrupts for approval (`needs_approval`) is decided in quell: the request appears in the
console and `quell approvals`, and the decision is applied with the SDK's own `state.approve` /
`state.reject` before the run continues; expiry counts as rejection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Mapping, Optional

from agents import Agent, RunHooks, Runner

from .errors import Killed
from .runtime import RISKS, Runtime, Session, hash_input, summary


def _dump(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", exclude_none=True)
    return json.loads(json.dumps(item, ensure_ascii=False, default=str))


def _arguments(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return {"raw": text}
    return _dump(text) if text is not None else {}


def _model_name(agent: Agent[Any]) -> Optional[str]:
    m = getattr(agent, "model", None)
    if isinstance(m, str):
        return m
    return getattr(m, "model", None) if m is not None else None


def _killed_in(e: BaseException) -> Optional[Killed]:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, Killed):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _killed(session: Session) -> Killed:
    return Killed(f"quell: session {session.id} was killed by an operator; the run stops here")


class QuellRunHooks(RunHooks[Any]):
    """Run hooks that audit, checkpoint and gate one quell session."""

    def __init__(self, session: Session, model: Optional[str] = None) -> None:
        self.session = session
        self._model = model
        self._input: list[Any] = []

    async def _gate(self) -> None:
        # A pause holds this coroutine on the loop, never an executor thread.
        if await self.session.gate_async() == "killed":
            raise _killed(self.session)

    async def on_agent_start(self, context, agent) -> None:
        await self._gate()

    async def on_llm_start(self, context, agent, system_prompt, input_items) -> None:
        await self._gate()
        self.session.begin_step()
        self._input = [_dump(i) for i in input_items]

    async def on_llm_end(self, context, agent, response) -> None:
        calls = [
            {"name": getattr(o, "name", ""), "arguments": _arguments(getattr(o, "arguments", None))}
            for o in response.output
            if getattr(o, "type", None) == "function_call"
        ]
        texts = [
            c.text for o in response.output if getattr(o, "type", None) == "message"
            for c in getattr(o, "content", []) if getattr(c, "text", None)
        ]
        usage = response.usage
        self.session.emit(
            "llm_call",
            model=_model_name(agent) or self._model,
            input_hash=hash_input(json.dumps(self._input, sort_keys=True, ensure_ascii=False)),
            output_summary=summary(" ".join(texts)) if texts else None,
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
            tool_calls=calls,
        )
        outputs = [_dump(o) for o in response.output]
        self.session.checkpoint(
            messages=self._input + outputs,
            tool_results=[i for i in self._input if isinstance(i, dict) and i.get("type") == "function_call_output"],
            plan={"agent": agent.name, "next": "tools" if calls else "end"},
        )

    async def on_tool_start(self, context, agent, tool) -> None:
        await self._gate()
        name = getattr(context, "tool_name", None) or tool.name
        args = _arguments(getattr(context, "tool_arguments", None))
        self.session.emit("tool_call", tool=name, tool_calls=[{"name": name, "arguments": args}])

    async def on_tool_end(self, context, agent, tool, result) -> None:
        name = getattr(context, "tool_name", None) or tool.name
        self.session.emit("tool_result", tool=name, output_summary=summary(str(result)))


async def run(
    agent: Agent[Any],
    input: Any,
    *,
    runtime: Runtime,
    session_id: Optional[str] = None,
    model: Optional[str] = None,
    namespace: Optional[str] = None,
    pod: Optional[str] = None,
    allowed_tools: tuple[str, ...] | list[str] = (),
    risk: Optional[Mapping[str, str]] = None,
    approval_ttl: float = 600.0,
    required_approvers: int = 1,
    end_session: bool = True,
    **runner_kwargs: Any,
):
    """`Runner.run` under quell; approvals the SDK asks for are decided in quell. Returns the
    SDK's result. `risk` maps tool names to the risk shown to the approver (default `high`)."""
    for tool, r in (risk or {}).items():
        if r not in RISKS:
            raise ValueError(f"risk[{tool!r}] must be one of {', '.join(RISKS)}")
    if session_id is not None and runtime.store.session(session_id) is not None:
        session, _ = await asyncio.to_thread(Session.resume, runtime, session_id)
    else:
        session = await asyncio.to_thread(
            Session.start, runtime, agent.name, session_id=session_id, model=model or _model_name(agent),
            namespace=namespace, pod=pod, allowed_tools=list(allowed_tools),
        )
    hooks = QuellRunHooks(session, model)
    try:
        result = await Runner.run(agent, input, hooks=hooks, **runner_kwargs)
        while result.interruptions:
            state = result.to_state()
            for item in result.interruptions:
                name = item.tool_name or getattr(item.raw_item, "name", "tool")
                args = _arguments(getattr(item.raw_item, "arguments", None))
                ap = session.request_approval(
                    name, args, risk=(risk or {}).get(name, "high"), ttl=approval_ttl,
                    required_approvers=required_approvers,
                )
                outcome = await session.wait_approval_async(ap)
                if outcome == "killed":
                    raise _killed(session)
                if outcome == "approved":
                    state.approve(item)
                else:
                    state.reject(item, rejection_message=f"A human operator's approval was {outcome}; not run.")
                    session.emit("tool_result", tool=name, output_summary=f"not run: approval {ap} {outcome}")
            await hooks._gate()
            result = await Runner.run(agent, state, hooks=hooks, **runner_kwargs)
    except Exception as e:
        killed = _killed_in(e)
        if killed is not None:
            # The SDK wraps what a hook raised during a tool call; the caller sees the kill.
            await asyncio.to_thread(runtime.flush)
            if killed is e:
                raise
            raise killed from e
        session.emit("error", output_summary=summary(f"{type(e).__name__}: {e}"))
        if end_session:
            await asyncio.to_thread(session.end, "failed", f"{type(e).__name__}")
        raise
    if end_session and session.state != "killed":
        await asyncio.to_thread(session.end, "finished")
    return result
