"""Issue 12: a tool result holding escape sequences, from a real LangGraph agent (`create_agent`,
only the chat model faked) on the embedded store, is shown neutralised by the quell CLI and by the
console in a pseudo-terminal — the agent's sequences are never written to the terminal."""

import codecs
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
import threading
import time
import unicodedata

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from conftest import quell_binary
from quell_agent import EmbeddedStore, Runtime
from quell_agent.langgraph import QuellMiddleware
from helpers import DEADLINE_S, quell, replay

SID = "t-hostile"
# What the lookup tool returns: a bidi override, BEL, C1 CSI/OSC/ST, a CSI clear screen, an OSC 52
# clipboard write, an OSC 8 link and a fake shell prompt on a line of its own. Kept short enough
# that `quell show` (which clips a summary at 120 characters) shows all of it.
HOSTILE = ("ok\u202egnp.exe\x07\x9b2J\x9d0;x\x9c\x1b[2J\x1b]52;c;cm0=\x07\x1b]8;;http://e.x/\x1b\\a\x1b]8;;\x1b\\"
           "\n$ rm -rf /")
# The same as quell's neutraliser shows it on one line (caret notation, \u{…} escapes, \n).
SHOWN = ("ok\\u{202E}gnp.exe^G\\u{9B}2J\\u{9D}0;x\\u{9C}^[[2J^[]52;c;cm0=^G^[]8;;http://e.x/^[\\a^[]8;;^[\\"
         "\\n$ rm -rf /")
# The session record is the agent's writing too: its name is what `quell sessions` shows of it.
AGENT = "agent\x1b[2J\u202e"
AGENT_SHOWN = "agent^[[2J\\u{202E}"
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def raw_controls(text):
    """Characters a terminal would act on: C0 but newline, DEL, C1, bidi controls."""
    return sorted({c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c in BIDI})


@tool
def lookup(customer: str) -> str:
    """Looks a customer up."""
    return HOSTILE


class ToolCallingFake(GenericFakeChatModel):
    """The fake chat model create_agent can bind tools to."""

    def bind_tools(self, tools, **kwargs):
        return self


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One agent run, read by every test: a lookup whose result is HOSTILE, then an answer."""
    path = tmp_path_factory.mktemp("hostile") / "quell.db"
    model = ToolCallingFake(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "lookup", "args": {"customer": "ACME"}, "id": "call-1"}]),
        AIMessage(content="ACME looked up."),
    ]))
    with Runtime(EmbeddedStore(path)) as rt:
        mw = QuellMiddleware(rt, AGENT, model="fake-chat", allowed_tools=["lookup"])
        agent = create_agent(model, [lookup], checkpointer=InMemorySaver(), middleware=[mw])
        out = agent.invoke({"messages": [{"role": "user", "content": "who is ACME?"}]},
                           {"configurable": {"thread_id": SID}})
    assert out["messages"][-2].content == HOSTILE, "the tool's text reached the agent as it was"
    return path


def test_show_replay_and_sessions_text_show_the_agents_text_neutralised(store):
    for args in (("show", SID), ("replay", SID)):
        out = quell(store, *args).stdout
        assert raw_controls(out) == [], f"quell {' '.join(args)} wrote {raw_controls(out)}"
        result = next(line for line in out.splitlines() if "tool_result" in line)
        assert f'lookup "{SHOWN}"' in result, result
        assert not any(line.startswith("$ rm") for line in out.splitlines()), "no fake prompt line"
    assert AGENT_SHOWN in quell(store, "show", SID).stdout.splitlines()[0]
    listed = quell(store, "sessions").stdout
    assert raw_controls(listed) == [], listed
    row = next(line for line in listed.splitlines() if line.startswith(SID))
    assert AGENT_SHOWN in row and "finished" in row, row
    assert quell(store, "verify", SID).returncode == 0, "the hostile text is hashed as written"


def test_json_outputs_escape_the_agents_text_and_keep_its_value(store):
    shown = quell(store, "show", SID, "-o", "json").stdout
    replayed = quell(store, "replay", SID, "-o", "json").stdout
    listed = quell(store, "sessions", "-o", "json").stdout
    for what, out in (("show", shown), ("replay", replayed), ("sessions", listed)):
        assert raw_controls(out) == [], f"quell {what} -o json wrote {raw_controls(out)}"
    assert "\\u001b]52;c;" in replayed.lower() and "\\u202e" in replayed.lower() and "\\u009b" in replayed.lower()
    result = next(e for e in replay(store, SID) if e["kind"] == "tool_result")
    assert result["output_summary"] == HOSTILE, "escaped, not changed"
    entries = json.loads(shown)["entries"]
    last = [e for e in entries if e["entry"] == "checkpoint"][-1]
    assert [r["data"]["content"] for r in last["tool_results"]] == [HOSTILE]
    assert {s["id"]: s["agent"] for s in json.loads(listed)} == {SID: AGENT}


class Screen:
    """The part of a VT100 the console's output uses — cursor positioning, SGR, cursor and
    alternate-screen modes, erase — replayed onto a grid of rows. Any other sequence fails the
    test, so the screen read back is never a guess."""

    TOKEN = re.compile(r"\x1b\[([0-9;?]*)([@-~])|(\x1b.?)|([\r\n])|([^\x1b\r\n])", re.S)

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols

    def read(self, text):
        grid = [[" "] * self.cols for _ in range(self.rows)]
        row = col = 0
        for m in self.TOKEN.finditer(text):
            params, final, other, crlf, char = m.groups()
            if final == "H":
                parts = [int(p) if p else 1 for p in (params.split(";") + ["", ""])[:2]]
                row, col = parts[0] - 1, parts[1] - 1
            elif final == "J" and params == "2":
                grid = [[" "] * self.cols for _ in range(self.rows)]
            elif final == "K" and params in ("", "0"):
                grid[row][col:] = [" "] * (self.cols - col)
            elif final in ("m", "h", "l"):
                pass
            elif final or other:
                raise AssertionError(f"the console wrote a sequence this test does not read: {m.group(0)!r}")
            elif crlf == "\r":
                col = 0
            elif crlf == "\n":
                row = min(row + 1, self.rows - 1)
            elif 0 <= row < self.rows and 0 <= col < self.cols:
                grid[row][col] = char
                col += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        return ["".join(r).rstrip() for r in grid]


class Console:
    """`quell` on the store in a pseudo-terminal of a fixed size: keys in, raw bytes out."""

    ROWS, COLS = 40, 120

    def __init__(self, store):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.ROWS, self.COLS, 0, 0))
        config = store.with_name("console.toml")
        config.write_text("")  # an empty config of our own, never the user's
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_") and k != "NO_COLOR"}
        env.update(TERM="xterm-256color", QUELL_CONFIG=str(config), QUELL_AS="py-tests")
        self.proc = subprocess.Popen([quell_binary(), "--store", str(store)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.lock = threading.Lock()
        self.raw = bytearray()
        self.screen = Screen(self.ROWS, self.COLS)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the console exited and closed its side
                return
            if not data:
                return
            with self.lock:
                self.raw.extend(data)

    def bytes(self):
        with self.lock:
            return bytes(self.raw)

    def rows(self):
        return self.screen.read(codecs.decode(self.bytes(), "utf-8", "replace"))

    def wait_for(self, needle):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            rows = self.rows()
            if any(needle in r for r in rows):
                return rows
            time.sleep(0.03)
        raise AssertionError(f"{needle!r} never appeared; screen:\n" + "\n".join(self.rows()))

    def send(self, keys):
        os.write(self.master, keys.encode())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


def test_the_console_shows_the_tool_result_neutralised_and_never_writes_its_sequences(store):
    c = Console(store)
    try:
        c.wait_for(SID)
        opened_at = len(c.bytes())
        c.send(f":session {SID}\r")
        c.wait_for("chain verified")
        c.send("jjjjj")  # session_started, llm_call, its checkpoint, the checkpoint event, tool_call
        # The row, flagged by the anomaly rules and neutralised as on one line (clipped to the
        # window); then the entry as JSON.
        listed = c.wait_for("tool_result        [tool result holds control U+202E] lookup → " + SHOWN[:30])
        c.send("v")
        entry = c.wait_for('"ok\\u{202E}gnp.exe\\u0007\\u{9B}2J\\u{9D}0;x\\u{9C}\\u001b[2J\\u001b]52;c;cm0=\\u0007')
        assert any("tool_result · whole entry" in r for r in entry), "\n".join(entry)
        for rows in (listed, entry):
            assert not any(r.lstrip("│ ").startswith("$ rm") for r in rows), "no fake prompt line"
        c.send(":quit\r")  # `q` in a sub-view goes back; the command quits from anywhere
        assert c.proc.wait(DEADLINE_S) == 0, "the console quits cleanly"
        c.reader.join(DEADLINE_S)
    finally:
        c.close()
    raw = c.bytes()
    text = raw.decode("utf-8", "replace")
    # None of these is something the console writes for itself (checked: it positions the
    # cursor, sets colours and switches modes, nothing else), so any one would be the agent's.
    for marker in (b"\x1b]52;", b"\x1b]8;", b"\x07"):
        assert marker not in raw, f"the agent's {marker!r} reached the terminal"
    assert b"\x1b[2J" not in raw[opened_at:], "the agent's clear screen reached the terminal"
    assert not [ch for ch in text if 0x80 <= ord(ch) <= 0x9f or ch in BIDI], "a C1 or bidi control reached the terminal"
    assert b"\x1b[?1049l" in raw[-32:], "the console left the alternate screen on quitting"
