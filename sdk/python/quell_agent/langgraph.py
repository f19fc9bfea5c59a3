"""LangChain / LangGraph agents under quell, through the frameworks' own mechanisms.

A `create_agent` agent gets `QuellMiddleware`; run it through the middleware's entry point:

    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from quell_agent import EmbeddedStore, Killed, Runtime
    from quell_agent.langgraph import QuellMiddleware

    rt = Runtime(EmbeddedStore("quell.db"))
    quell = QuellMiddleware(rt, "support-agent", interrupt_risks={"send_email": "high"})
    agent = create_agent(model, tools, checkpointer=saver, middleware=[
        HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve", "reject"]}}),
        quell])
    try:
        quell.invoke(agent, {"messages": [...]}, {"configurable": {"thread_id": "t-42"}})   # or quell.stream(...)
    except Killed:
        ...   # an operator killed the session; LangGraph's checkpointer holds the thread where it stopped

A plain `StateGraph` gets the same from `Quell`: wrap each node with `quell.node(fn)`, ask for an
approval inside a node with `ask_approval(tool, arguments, risk=...)`, run it with `quell.invoke`.

One quell session per LangGraph thread (`thread_id`; a thread id outside quell's id alphabet maps
to `lg-` + a hash of it, the thread id itself kept in `session_started` as
`quell.langgraph.thread_id`). A second run on a thread resumes its session: the chain goes on and
quell's step — its own counter, never LangGraph's metadata step, which is -1 for the input
checkpoint — continues from the latest seed checkpoint.

Control, while `invoke`/`stream` runs the graph:
- kill: a watcher thread turns quell's kill into LangGraph's own drain (`RunControl.request_drain`):
  the step in flight finishes, LangGraph saves its checkpoint, the graph stops before the next
  step (`GraphDrained`), the session ends `killed` and `invoke`/`stream` raise `Killed` (its
  `__cause__` is the `GraphDrained`). No tool starts after a kill.
- pause: acknowledged by the watcher while the step is in flight; the gate before the next model
  call, tool call or node blocks until an operator resumes.
- The gates in the hooks and node wrappers are the second line of defence: a kill seen there
  drains the run too (the node or tool does not run), also without the entry point (a plain
  `graph.invoke` then raises `GraphDrained` to its caller).
- The entry point ends the session `finished` when the graph completes (`create_agent`'s own
  `after_agent` does too) and `failed` when the run raises.

Approvals, two ways:
- LangGraph's human in the loop (recommended): `HumanInTheLoopMiddleware` (batched or per-call
  interrupts) or `ask_approval` in a node stops the graph at an `interrupt`; `invoke`/`stream`
  turn each action request into a quell approval (tool, arguments, risk from `interrupt_risks`,
  default high), wait for the decision and resume with `Command(resume=...)`: approved -> the tool
  runs; rejected or expired -> it does not, and the model is told. Nothing is held open inside a
  step while a human decides, and the pending request lives in LangGraph's checkpointer. List
  `QuellMiddleware` after `HumanInTheLoopMiddleware`, so that only a tool that runs is audited.
- `approvals={"send_email": "high"}`: the tool call itself blocks inside `wrap_tool_call` until
  quell decides. For agents run with plain `agent.invoke`, or without a checkpointer.

Audit: every model call is an `llm_call` event (model, token usage, the tool calls asked for,
`input_hash` of the messages — never the messages), every tool call a `tool_call` and
`tool_result` (or `error`), and the seed's checkpoint after each model step (each node, for plain
graphs), derived from graph state.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, NoReturn, Optional

from langchain.agents.middleware.types import AgentMiddleware
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, message_to_dict
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp, GraphDrained
from langgraph.graph.message import add_messages
from langgraph.runtime import RunControl, get_runtime
from langgraph.types import Command, interrupt

from .errors import Killed, QuellError
from .runtime import RISKS, Runtime, Session, hash_input, summary

_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ENDED = ("killed", "finished", "failed")
WATCH_EVERY_S = 0.02
GATE_POLL_S = 0.02
APPROVAL_POLL_S = 0.05
APPROVAL_KEY = "quell.approval"


def session_id_for_thread(thread_id: str) -> str:
    """The quell session id of a LangGraph thread: the thread id itself when it fits quell's id
    alphabet, else `lg-` and the first 24 hex digits of its SHA-256."""
    if _ID_OK.match(thread_id):
        return thread_id
    return "lg-" + hashlib.sha256(thread_id.encode("utf-8")).hexdigest()[:24]


def ask_approval(tool: str, arguments: Any, *, risk: str = "high") -> str:
    """Inside a graph node run by `Quell.invoke`/`stream`: stops the graph at a LangGraph
    interrupt that quell turns into an approval; returns "approved", "rejected" or "expired".
    (The node runs again from its start on resume, as any node that calls `interrupt`.)"""
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {', '.join(RISKS)} (got {risk!r})")
    answer = interrupt({APPROVAL_KEY: {"tool": tool, "arguments": arguments, "risk": risk}})
    return str(answer.get("status", "rejected")) if isinstance(answer, Mapping) else "rejected"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _message_dicts(messages: list[Any]) -> list[Any]:
    return [_jsonable(message_to_dict(m) if isinstance(m, BaseMessage) else m) for m in messages]


def _model_name(model: Any) -> Optional[str]:
    for attr in ("model_name", "model", "model_id"):
        v = getattr(model, attr, None)
        if isinstance(v, str) and v:
            return v
    return None


def _thread_of(config: Optional[Mapping[str, Any]]) -> str:
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    if thread is None:
        raise ValueError("quell needs a LangGraph thread: run the graph with {'configurable': {'thread_id': …}}")
    return str(thread)


def _interrupts(graph: Any, config: Mapping[str, Any]) -> tuple:
    """The interrupts the thread is stopped at (none without a checkpointer)."""
    try:
        return tuple(graph.get_state(config).interrupts)
    except ValueError:  # "No checkpointer set": a graph without one cannot interrupt
        return ()


def _is_ours(value: Any) -> bool:
    """An interrupt quell can answer: HumanInTheLoopMiddleware's (batched or per call) or `ask_approval`'s."""
    return isinstance(value, Mapping) and (
        "action_requests" in value or value.get("type") == "tool_approval" or APPROVAL_KEY in value
    )


@dataclass
class _Track:
    """A hosted session. The lock serialises the Session calls of the agent's threads and the
    watcher (a Session is not thread-safe); it is never held while a model or tool runs."""

    session: Session
    lock: threading.RLock = field(default_factory=threading.RLock)
    controls: list = field(default_factory=list)  # RunControls of the runs in flight
    open_step: bool = False  # a node stopped at an interrupt: its rerun is the same step


class Quell:
    """Puts LangGraph graphs under quell: the sessions, the entry point (`invoke`, `stream`)
    and the node wrapper for plain `StateGraph`s."""

    def __init__(
        self,
        runtime: Runtime,
        agent: str,
        *,
        model: Optional[str] = None,
        namespace: Optional[str] = None,
        pod: Optional[str] = None,
        allowed_tools: tuple[str, ...] | list[str] = (),
        interrupt_risks: Optional[Mapping[str, str]] = None,
        approval_ttl: float = 600.0,
        required_approvers: int = 1,
        end_sessions: bool = True,
    ) -> None:
        """`interrupt_risks` maps tool names to the risk (`low`…`critical`, default high) of the
        approvals asked for by LangGraph interrupts. `end_sessions`: a finished run marks its
        session finished (the next run on the thread resumes it)."""
        _check_risks("interrupt_risks", interrupt_risks)
        self._rt = runtime
        self._agent = agent
        self._model = model
        self._namespace = namespace
        self._pod = pod
        self._allowed = list(allowed_tools)
        self._risks = dict(interrupt_risks or {})
        self._ttl = approval_ttl
        self._approvers = required_approvers
        self._end = end_sessions
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()
        self._watcher: Optional[threading.Thread] = None
        self._fresh = False

    # -- sessions --------------------------------------------------------------------------------

    def session(self, thread_id: Optional[str] = None) -> Session:
        """The quell session of a thread (the current one inside a run), started or resumed."""
        return self._track(thread_id).session

    def _track(self, thread_id: Optional[str] = None) -> _Track:
        thread = thread_id if thread_id is not None else _thread_of(get_config())
        sid = session_id_for_thread(thread)
        with self._lock:
            t = self._tracks.get(sid)
            if t is None or t.session.state in ("finished", "failed"):
                if self._rt.store.session(sid) is None:
                    s = Session.start(
                        self._rt, self._agent, session_id=sid, model=self._model, namespace=self._namespace,
                        pod=self._pod, allowed_tools=self._allowed,
                        attributes={"quell.langgraph.thread_id": thread},
                    )
                else:
                    s, _ = Session.resume(self._rt, sid)
                t = self._tracks[sid] = _Track(s)
            return t

    # -- control ---------------------------------------------------------------------------------

    def _kill_reason(self, sid: str) -> str:
        _, _, record = self._rt.control_for(sid)
        why = f" by {record['operator']}: {record['reason']}" if record else ""
        return f"quell kill{why}"

    def _proceed(self, t: _Track) -> None:
        """The gate before a step: blocks while paused; when killed, drains the run (raises
        `GraphDrained`, so the node or tool in hand does not run)."""
        while True:
            with t.lock:
                g = t.session.observe()
            if g == "proceed":
                return
            if g == "killed":
                self._stop(t)
            time.sleep(GATE_POLL_S)

    def _stop(self, t: _Track) -> NoReturn:
        reason = self._kill_reason(t.session.id)
        try:
            control = getattr(get_runtime(), "control", None)
        except RuntimeError:  # outside a graph run: nothing to drain
            control = None
        if control is None:
            raise Killed(f"quell: session {t.session.id} was killed by an operator; the run stops here")
        control.request_drain(reason)
        raise GraphDrained(reason)

    def _killed(self, t: _Track) -> Killed:
        t.session.commit()
        return Killed(f"quell: session {t.session.id} was killed ({self._kill_reason(t.session.id)}); the run stopped")

    @contextlib.contextmanager
    def _watching(self, t: _Track, control: RunControl) -> Iterator[None]:
        with self._lock:
            t.controls.append(control)
            self._fresh = True
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="quell-langgraph", daemon=True)
                self._watcher.start()
        try:
            yield
        finally:
            with self._lock:
                t.controls.remove(control)

    def _watch(self) -> None:
        """While runs are in flight: a kill drains every run of the session; a pause is
        acknowledged at once (the gate before the next step holds it). The kill is left to the
        run's own thread to record, after the step in flight, so all its events come first."""
        seen = None
        while True:
            with self._lock:
                live = [t for t in self._tracks.values() if t.controls]
                if not live:
                    self._watcher = None
                    return
                fresh, self._fresh = self._fresh, False
            version = self._rt.control_version
            if fresh or version != seen:
                seen = version
                for t in live:
                    _, desired, _ = self._rt.control_for(t.session.id)
                    if desired == "pause":
                        with t.lock:
                            desired = "kill" if t.session.observe() == "killed" else desired
                    if desired == "kill":
                        reason = self._kill_reason(t.session.id)
                        for c in list(t.controls):
                            c.request_drain(reason)
            time.sleep(WATCH_EVERY_S)

    # -- approvals -------------------------------------------------------------------------------

    def _ask(self, t: _Track, tool: str, arguments: Any, risk: str) -> tuple[str, str]:
        """Asks quell; returns (approval id, "approved" | "rejected" | "expired" | "killed")."""
        s = t.session
        with t.lock:
            ap = s.request_approval(tool, _jsonable(arguments), risk=risk, ttl=self._ttl,
                                    required_approvers=self._approvers)
        while True:
            with t.lock:
                status = s.approval_step(ap)
            if status != "pending":
                return ap, status
            time.sleep(APPROVAL_POLL_S)

    def _decision(self, t: _Track, name: str, args: Any, allowed: Optional[list] = None) -> dict[str, Any]:
        """A HumanInTheLoopMiddleware decision from quell's."""
        if allowed is not None and not {"approve", "reject"} <= set(allowed):
            raise ValueError(f"quell answers {name} with approve or reject: allow both in interrupt_on")
        ap, outcome = self._ask(t, name, args, self._risks.get(name, "high"))
        if outcome == "killed":
            raise self._killed(t)
        if outcome == "approved":
            return {"type": "approve"}
        with t.lock:
            t.session.emit("tool_result", tool=name, output_summary=f"not run: approval {ap} {outcome}")
        return {"type": "reject", "message": f"a human operator's approval in quell was {outcome} (approval {ap})"}

    def _answer(self, t: _Track, value: Mapping[str, Any]) -> Any:
        if "action_requests" in value:
            allowed = {c.get("action_name"): c.get("allowed_decisions") for c in value.get("review_configs", [])}
            return {"decisions": [self._decision(t, r["name"], r.get("args", {}), allowed.get(r["name"]))
                                  for r in value["action_requests"]]}
        if value.get("type") == "tool_approval":
            return self._decision(t, value["name"], value.get("args", {}))
        ask = value[APPROVAL_KEY]
        ap, outcome = self._ask(t, str(ask["tool"]), ask.get("arguments", {}), ask.get("risk", "high"))
        if outcome == "killed":
            raise self._killed(t)
        return {"approval": ap, "status": outcome}

    # -- the entry point -------------------------------------------------------------------------

    def invoke(self, graph: Any, input: Any, config: Mapping[str, Any], **kwargs: Any) -> Any:
        """`graph.invoke(input, config, **kwargs)` under quell: approvals asked by interrupts are
        decided in quell and resumed, a kill drains the run and raises `Killed`. Returns the
        graph's output (with `__interrupt__` when it stopped at an interrupt quell does not answer)."""
        out = None
        for out in self._drive(graph, input, config, kwargs, lambda *a, **k: [graph.invoke(*a, **k)]):
            pass
        return out

    def stream(self, graph: Any, input: Any, config: Mapping[str, Any], **kwargs: Any) -> Iterator[Any]:
        """`graph.stream(input, config, **kwargs)` under quell, as `invoke`; yields the chunks of
        every pass (the first, and each resume after a decision)."""
        return self._drive(graph, input, config, kwargs, graph.stream)

    def _drive(
        self, graph: Any, input: Any, config: Mapping[str, Any], kwargs: dict, one_pass: Callable
    ) -> Iterator[Any]:
        t = self._track(_thread_of(config))
        s = t.session
        if s.state == "killed":
            raise self._killed(t)
        control = kwargs.pop("control", None) or RunControl()
        try:
            while True:
                with self._watching(t, control):
                    yield from one_pass(input, config, control=control, **kwargs)
                pending = _interrupts(graph, config)
                if not pending:
                    break
                if not all(_is_ours(i.value) for i in pending):
                    return  # someone else's interrupt: the caller answers it
                input = Command(resume={i.id: self._answer(t, i.value) for i in pending})
        except GraphDrained as e:
            with t.lock:
                killed = s.observe() == "killed"
            if killed:
                raise self._killed(t) from e
            raise
        except (GraphBubbleUp, QuellError):
            raise
        except Exception as e:
            with t.lock, contextlib.suppress(QuellError):  # the run's own error is the one to raise
                if s.state not in _ENDED:
                    s.end("failed", detail=summary(f"{type(e).__name__}: {e}"))
            raise
        if self._end:
            with t.lock:
                if s.state not in _ENDED:
                    s.end("finished")

    # -- plain StateGraph nodes ------------------------------------------------------------------

    def node(self, fn: Callable) -> Callable:
        """Wraps a (sync) `StateGraph` node: the gate before it (a pause blocks, a kill drains the
        graph and the node does not run), one quell step per node, and after it the seed's
        checkpoint from graph state (its `messages` merged as `add_messages` does, the other
        keys in `plan.state`)."""
        if inspect.iscoroutinefunction(fn):
            raise TypeError("Quell.node wraps sync nodes; async graphs are not supported yet")
        name = getattr(fn, "__name__", "node")

        @functools.wraps(fn)
        def run(state: Any, *args: Any, **kwargs: Any) -> Any:
            t = self._track()
            self._proceed(t)
            with t.lock:
                if t.open_step:
                    t.open_step = False
                else:
                    t.session.begin_step()
            try:
                update = fn(state, *args, **kwargs)
            except GraphBubbleUp:
                t.open_step = True
                raise
            except Exception as e:
                with t.lock:
                    t.session.emit("error", output_summary=summary(f"{name}: {type(e).__name__}: {e}"))
                raise
            after = _state_after(state, update.update if isinstance(update, Command) else update)
            msgs = list(after.pop("messages", None) or [])
            with t.lock:
                t.session.checkpoint(
                    messages=_message_dicts(msgs),
                    tool_results=_message_dicts([m for m in msgs if isinstance(m, ToolMessage)]),
                    plan={"agent": self._agent, "node": name, "state": _jsonable(after)},
                )
            return update

        return run


def _state_after(state: Any, update: Any) -> dict[str, Any]:
    """Graph state after a node's update (state and update as dicts)."""
    after = dict(state) if isinstance(state, Mapping) else {}
    for k, v in (update.items() if isinstance(update, Mapping) else ()):
        after[k] = add_messages(after.get(k) or [], v) if k == "messages" else v
    return after


def _check_risks(what: str, risks: Optional[Mapping[str, str]]) -> None:
    for tool, risk in (risks or {}).items():
        if risk not in RISKS:
            raise ValueError(f"{what}[{tool!r}]: risk must be one of {', '.join(RISKS)}")


class QuellMiddleware(Quell, AgentMiddleware):
    """LangChain agent middleware that registers, audits, checkpoints, gates and asks for
    approvals; run the agent with its `invoke`/`stream`."""

    def __init__(
        self, runtime: Runtime, agent: str, *, approvals: Optional[Mapping[str, str]] = None, **options: Any
    ) -> None:
        """`approvals` maps tool names to a risk: those calls block in `wrap_tool_call` until
        quell decides (see the module doc for when to use it instead of human-in-the-loop
        interrupts). The other options are `Quell`'s."""
        AgentMiddleware.__init__(self)
        Quell.__init__(self, runtime, agent, **options)
        _check_risks("approvals", approvals)
        self._approvals = dict(approvals or {})

    def before_agent(self, state, runtime) -> None:
        self._proceed(self._track())
        return None

    def before_model(self, state, runtime) -> None:
        t = self._track()
        self._proceed(t)
        with t.lock:
            t.session.begin_step()
        return None

    def wrap_model_call(self, request, handler):
        t = self._track()
        messages = _message_dicts(list(request.messages))
        try:
            response = handler(request)
        except GraphBubbleUp:
            raise
        except Exception as e:
            with t.lock:
                t.session.emit("error", model=_model_name(request.model),
                               output_summary=summary(f"{type(e).__name__}: {e}"))
            raise
        ai = _ai_message(response)
        usage = getattr(ai, "usage_metadata", None) or {}
        with t.lock:
            t.session.emit(
                "llm_call",
                model=_model_name(request.model) or self._model,
                input_hash=hash_input(json.dumps(messages, sort_keys=True, ensure_ascii=False)),
                output_summary=summary(ai.content) if ai is not None else None,
                input_tokens=usage.get("input_tokens"),
                output_tokens=usage.get("output_tokens"),
                tool_calls=[{"name": c["name"], "arguments": _jsonable(c.get("args", {}))}
                            for c in (ai.tool_calls if ai else [])],
            )
        return response

    def after_model(self, state, runtime) -> None:
        t = self._track()
        msgs = list(state.get("messages", []))
        with t.lock:
            t.session.checkpoint(
                messages=_message_dicts(msgs),
                tool_results=_message_dicts([m for m in msgs if isinstance(m, ToolMessage)]),
                plan={"agent": self._agent,
                      "next": "tools" if msgs and getattr(msgs[-1], "tool_calls", None) else "end"},
            )
        return None

    def wrap_tool_call(self, request, handler: Callable):
        t = self._track()
        self._proceed(t)
        call = request.tool_call
        name = str(call.get("name"))
        args = _jsonable(call.get("args", {}))
        risk = self._approvals.get(name)
        if risk is not None:
            ap, outcome = self._ask(t, name, args, risk)
            if outcome == "killed":
                self._stop(t)
            self._proceed(t)
            if outcome != "approved":
                with t.lock:
                    t.session.emit("tool_result", tool=name, output_summary=f"not run: approval {ap} {outcome}")
                return ToolMessage(
                    content=f"The call to {name} was not run: a human operator's approval was {outcome}.",
                    tool_call_id=call.get("id") or "",
                    name=name,
                    status="error",
                )
        with t.lock:
            t.session.emit("tool_call", tool=name, tool_calls=[{"name": name, "arguments": args}])
        try:
            result = handler(request)
        except GraphBubbleUp:
            raise
        except Exception as e:
            with t.lock:
                t.session.emit("error", tool=name, output_summary=summary(f"{type(e).__name__}: {e}"))
            raise
        content = getattr(result, "content", None)
        status = getattr(result, "status", None)
        with t.lock:
            t.session.emit("error" if status == "error" else "tool_result", tool=name,
                           output_summary=summary(content or ""))
        return result

    def after_agent(self, state, runtime) -> None:
        if self._end:
            t = self._track()
            with t.lock:
                if t.session.state not in _ENDED:
                    t.session.end("finished")
        return None


def _ai_message(response: Any) -> Optional[AIMessage]:
    if isinstance(response, AIMessage):
        return response
    inner = getattr(response, "model_response", response)
    for m in getattr(inner, "result", []) or []:
        if isinstance(m, AIMessage):
            return m
    return None
