"""LangChain / LangGraph agents under quell, through the framework's own agent middleware.

    from langchain.agents import create_agent
    from quell_agent import EmbeddedStore, Runtime
    from quell_agent.langgraph import QuellMiddleware

    rt = Runtime(EmbeddedStore("quell.db"))
    agent = create_agent(model, tools, checkpointer=saver,
                         middleware=[QuellMiddleware(rt, "support-agent", approvals={"send_email": "high"})])
    agent.invoke({"messages": [...]}, {"configurable": {"thread_id": "t-42"}})

One quell session per LangGraph thread (`thread_id`; a thread id outside quell's id alphabet is
mapped to `lg-` + a hash of it; the thread id itself is kept in `session_started` as
`quell.langgraph.thread_id`). At each step boundary (before a model call, before a tool call)
the session obeys control: a pause blocks there, a kill raises `quell_agent.Killed`, which ends the
run (LangGraph's own checkpointer keeps the thread where it stopped). Every model call is an
`llm_call` event (model, token usage, the tool calls asked for, `input_hash` of the messages — never
the messages), every tool call a `tool_call` and `tool_result` (or `error`), and after each model
step the seed's checkpoint. A tool named in `approvals` waits for a human decision in quell before
it runs; a rejected or expired request is answered to the model as a refused tool call.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any, Callable, Mapping, Optional

from langchain.agents.middleware.types import AgentMiddleware
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, message_to_dict

from .errors import Killed
from .runtime import RISKS, Runtime, Session, hash_input, summary

_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def session_id_for_thread(thread_id: str) -> str:
    """The quell session id of a LangGraph thread: the thread id itself when it fits quell's id
    alphabet, else `lg-` and the first 24 hex digits of its SHA-256."""
    if _ID_OK.match(thread_id):
        return thread_id
    return "lg-" + hashlib.sha256(thread_id.encode("utf-8")).hexdigest()[:24]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _message_dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [_jsonable(message_to_dict(m)) for m in messages]


def _model_name(model: Any) -> Optional[str]:
    for attr in ("model_name", "model", "model_id"):
        v = getattr(model, attr, None)
        if isinstance(v, str) and v:
            return v
    return None


def _thread_id() -> str:
    from langgraph.config import get_config

    cfg = get_config()
    thread = (cfg.get("configurable") or {}).get("thread_id")
    if thread is None:
        raise ValueError("quell needs a LangGraph thread: invoke the agent with {'configurable': {'thread_id': …}}")
    return str(thread)


class QuellMiddleware(AgentMiddleware):
    """Agent middleware that registers, audits, checkpoints, gates and asks for approvals."""

    def __init__(
        self,
        runtime: Runtime,
        agent: str,
        *,
        model: Optional[str] = None,
        namespace: Optional[str] = None,
        pod: Optional[str] = None,
        allowed_tools: tuple[str, ...] | list[str] = (),
        approvals: Optional[Mapping[str, str]] = None,
        approval_ttl: float = 600.0,
        required_approvers: int = 1,
        end_sessions: bool = True,
    ) -> None:
        """`approvals` maps tool names to a risk (`low`…`critical`); those calls wait for a
        decision in quell. `end_sessions`: a finished run marks its session finished (the next
        run on the thread resumes it)."""
        super().__init__()
        for tool, risk in (approvals or {}).items():
            if risk not in RISKS:
                raise ValueError(f"approvals[{tool!r}]: risk must be one of {', '.join(RISKS)}")
        self._rt = runtime
        self._agent = agent
        self._model = model
        self._namespace = namespace
        self._pod = pod
        self._allowed = list(allowed_tools)
        self._approvals = dict(approvals or {})
        self._ttl = approval_ttl
        self._approvers = required_approvers
        self._end = end_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # -- sessions --------------------------------------------------------------------------------

    def session(self, thread_id: Optional[str] = None) -> Session:
        """The quell session of a thread (the current one inside a run), started or resumed."""
        thread = thread_id if thread_id is not None else _thread_id()
        sid = session_id_for_thread(thread)
        with self._lock:
            s = self._sessions.get(sid)
            if s is None or s.state in ("finished", "failed"):
                if self._rt.store.session(sid) is None:
                    s = Session.start(
                        self._rt, self._agent, session_id=sid, model=self._model, namespace=self._namespace,
                        pod=self._pod, allowed_tools=self._allowed,
                        attributes={"quell.langgraph.thread_id": thread},
                    )
                else:
                    s, _ = Session.resume(self._rt, sid)
                self._sessions[sid] = s
            return s

    def _gate(self, s: Session) -> None:
        if s.gate() == "killed":
            raise Killed(f"quell: session {s.id} was killed by an operator; the run stops here")

    # -- hooks -----------------------------------------------------------------------------------

    def before_agent(self, state, runtime) -> None:
        self._gate(self.session())
        return None

    def before_model(self, state, runtime) -> None:
        s = self.session()
        self._gate(s)
        s.begin_step()
        return None

    def wrap_model_call(self, request, handler):
        s = self.session()
        messages = _message_dicts(list(request.messages))
        try:
            response = handler(request)
        except Exception as e:
            s.emit("error", model=_model_name(request.model), output_summary=summary(f"{type(e).__name__}: {e}"))
            raise
        ai = _ai_message(response)
        usage = getattr(ai, "usage_metadata", None) or {}
        s.emit(
            "llm_call",
            model=_model_name(request.model) or self._model,
            input_hash=hash_input(json.dumps(messages, sort_keys=True, ensure_ascii=False)),
            output_summary=summary(ai.content) if ai is not None else None,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            tool_calls=[{"name": c["name"], "arguments": _jsonable(c.get("args", {}))} for c in (ai.tool_calls if ai else [])],
        )
        return response

    def after_model(self, state, runtime) -> None:
        s = self.session()
        msgs = list(state.get("messages", []))
        s.checkpoint(
            messages=_message_dicts(msgs),
            tool_results=[_jsonable(message_to_dict(m)) for m in msgs if isinstance(m, ToolMessage)],
            plan={"agent": self._agent, "next": "tools" if msgs and getattr(msgs[-1], "tool_calls", None) else "end"},
        )
        return None

    def wrap_tool_call(self, request, handler: Callable):
        s = self.session()
        self._gate(s)
        call = request.tool_call
        name = str(call.get("name"))
        args = _jsonable(call.get("args", {}))
        risk = self._approvals.get(name)
        if risk is not None:
            ap = s.request_approval(name, args, risk=risk, ttl=self._ttl, required_approvers=self._approvers)
            outcome = s.wait_approval(ap)
            self._gate(s)
            if outcome != "approved":
                s.emit("tool_result", tool=name, output_summary=f"not run: approval {ap} {outcome}")
                return ToolMessage(
                    content=f"The call to {name} was not run: a human operator's approval was {outcome}.",
                    tool_call_id=call.get("id") or "",
                    name=name,
                    status="error",
                )
        s.emit("tool_call", tool=name, tool_calls=[{"name": name, "arguments": args}])
        try:
            result = handler(request)
        except Exception as e:
            s.emit("error", tool=name, output_summary=summary(f"{type(e).__name__}: {e}"))
            raise
        content = getattr(result, "content", None)
        status = getattr(result, "status", None)
        s.emit("error" if status == "error" else "tool_result", tool=name, output_summary=summary(content or ""))
        return result

    def after_agent(self, state, runtime) -> None:
        if self._end:
            s = self.session()
            if s.state not in ("killed",):
                s.end("finished")
        return None


def _ai_message(response: Any) -> Optional[AIMessage]:
    if isinstance(response, AIMessage):
        return response
    inner = getattr(response, "model_response", response)
    for m in getattr(inner, "result", []) or []:
        if isinstance(m, AIMessage):
            return m
    return None
