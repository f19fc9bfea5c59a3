"""`runtime_from_env`: the agent reads QUELL_STORE / QUELL_REDIS / QUELL_KAFKA / QUELL_AUDIT_TOPIC
as the quell CLI does, so both sides reach the same store. Kafka needs the test broker
(QUELL_TEST_KAFKA_BROKERS, started by scripts/test.sh)."""

from pathlib import Path

import pytest

from helpers import sessions
from quell_agent import QuellError, Session, Unavailable, runtime_from_env
from quell_agent.config import default_store_path
from helpers import new_topic
from test_kafka_audit import brokers  # noqa: F401 - the brokers fixture


def test_quell_store_names_the_embedded_store_and_creates_it(tmp_path):
    store = tmp_path / "data" / "quell.db"
    with runtime_from_env({"QUELL_STORE": str(store)}) as rt:
        Session.start(rt, "env-agent", session_id="s-env").end("finished")
    assert sessions(store)["s-env"]["state"] == "finished"


def test_without_quell_store_it_is_quells_default_path():
    assert default_store_path({"XDG_DATA_HOME": "/data", "HOME": "/home/u"}) == Path("/data/quell/quell.db")
    assert default_store_path({"HOME": "/home/u"}) == Path("/home/u/.local/share/quell/quell.db")


def test_an_unreachable_redis_is_one_clear_error(tmp_path):
    with pytest.raises(Unavailable, match="127.0.0.1:1"):
        runtime_from_env({"QUELL_STORE": str(tmp_path / "q.db"), "QUELL_REDIS": "redis://127.0.0.1:1/0"})


def test_quell_kafka_and_audit_topic_put_the_audit_log_on_kafka(tmp_path, brokers):  # noqa: F811
    topic = new_topic(brokers, 1)
    with runtime_from_env({"QUELL_STORE": str(tmp_path / "q.db"), "QUELL_KAFKA": brokers,
                           "QUELL_AUDIT_TOPIC": topic}) as rt:
        assert (rt.audit.brokers, rt.audit.topic) == (brokers, topic)
    with pytest.raises(QuellError, match="quell.audit"):
        runtime_from_env({"QUELL_STORE": str(tmp_path / "q.db"), "QUELL_KAFKA": brokers})
