"""The library's canonical JSON and hash reproduce quell's test vectors byte for byte."""

import json

import pytest

from conftest import ROOT
from quell_agent import Tail, canonical, event_hash, seal
from quell_agent.canonical import CanonicalError, es_number

VECTORS = json.loads((ROOT / "tests" / "vectors" / "chain.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vectors(vector):
    event = {k: v for k, v in vector["event"].items() if k != "hash"}
    assert canonical(event) == vector["canonical"]
    assert event_hash(event) == vector["hash"]


def test_seal_links_and_hashes_like_the_vectors():
    first = VECTORS[0]["event"]
    body = {k: v for k, v in first.items() if k not in ("seq", "prev_hash", "hash")}
    sealed = seal(body, Tail())
    assert sealed.canonical == VECTORS[0]["canonical"]
    assert sealed.hash == VECTORS[0]["hash"]
    nxt = seal(dict(body, kind="llm_call"), sealed.tail())
    assert nxt.event["seq"] == 2 and nxt.event["prev_hash"] == sealed.hash


def test_absent_members_are_left_out_not_null():
    body = {"time": "2026-11-28T03:00:00.000000Z", "gen_ai.conversation.id": "s", "step": 0, "kind": "error",
            "identity": "agent:a", "gen_ai.request.model": None, "tool_calls": [], "attributes": {}}
    assert "null" not in seal(body, Tail()).canonical
    assert "tool_calls" not in seal(body, Tail()).event


@pytest.mark.parametrize(
    "value,text",
    [(1e21, "1e+21"), (1e20, "100000000000000000000"), (1.5e-7, "1.5e-7"), (0.000001, "0.000001"),
     (0.1, "0.1"), (-0.0, "0"), (123.456, "123.456"), (5e-324, "5e-324"), (1.7976931348623157e308,
     "1.7976931348623157e+308")],
)
def test_numbers_print_as_ecmascript(value, text):
    assert es_number(value) == text


def test_utf16_key_order_and_refusals():
    assert canonical({"\ufffd": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufffd":1}'
    with pytest.raises(CanonicalError):
        canonical({"n": 2**53 + 1})
    with pytest.raises(CanonicalError):
        canonical({"n": float("nan")})


def test_string_escapes_are_the_minimal_ones():
    # Only the quote, the backslash and the controls below U+0020 are escaped; DEL, U+2028 and
    # non-ASCII text pass through as they are.
    text = "\"\\\b\t\n\f\r\x00\x1f\x7f\u2028é\U0001f600"
    assert canonical(text) == '"\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001f\x7f\u2028é\U0001f600"'


def test_schema_is_quells_own():
    ours = (ROOT / "sdk" / "python" / "quell_agent" / "schema.sql").read_text(encoding="utf-8")
    theirs = (ROOT / "src" / "adapters" / "embedded" / "schema.sql").read_text(encoding="utf-8")
    assert ours == theirs, "sdk/python/quell_agent/schema.sql must be a copy of src/adapters/embedded/schema.sql"


def test_the_control_read_script_is_quells_own():
    from quell_agent.redis_store import _READ_CONTROL

    rust = (ROOT / "src" / "adapters" / "redis" / "control.rs").read_text(encoding="utf-8")
    assert _READ_CONTROL.strip() in rust, "sdk/python's READ_CONTROL must be the Redis adapter's script, as written there"
