"""The Python runtime with its audit log on the real test Kafka broker, read and verified by the
real quell binary (`--kafka`). Needs QUELL_TEST_KAFKA_BROKERS (scripts/test.sh starts the broker)."""

import json

import confluent_kafka as ck
import pytest

import helpers
from helpers import kafka_brokers, new_topic
from quell_agent import EmbeddedStore, Runtime, Session
from quell_agent.errors import Conflict
from quell_agent.kafka_audit import KafkaAudit, event_json, murmur2, partition_for
from quell_agent.chain import Tail, seal


@pytest.fixture
def brokers():
    return kafka_brokers()


def quell(brokers, topic, store, *args, check=True):
    return helpers.quell(store, *args, check=check, kafka=(brokers, topic))


def test_murmur2_matches_kafkas_own_vectors():
    cases = [(b"21", -973_932_308), (b"foobar", -790_332_482), (b"a-little-bit-long-string", -985_981_536),
             (b"a-little-bit-longer-string", -1_486_304_829),
             (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), (b"abc", 479_470_107)]
    for key, want in cases:
        assert murmur2(key) == want, key
    assert partition_for(b"21", 3) == 0 and partition_for(b"abc", 7) == 4


def test_events_on_kafka_replay_and_verify_with_quell_and_continue_after_a_restart(brokers, tmp_path):
    topic = new_topic(brokers)
    store = tmp_path / "quell.db"
    rt = Runtime(EmbeddedStore(store), audit=KafkaAudit(brokers, topic))
    s = Session.start(rt, "support-agent", model="gpt-4.1")
    for _ in range(3):
        s.begin_step()
        s.emit("llm_call", input_tokens=5, output_tokens=1)
        s.checkpoint([{"role": "user", "content": "x"}], [], {})
    rt.shutdown()
    # A new process picks the chain up from the topic.
    rt2 = Runtime(EmbeddedStore(store), audit=KafkaAudit(brokers, topic))
    s2, latest = Session.resume(rt2, s.id)
    assert latest["step"] == 3
    s2.begin_step()
    s2.emit("tool_call", tool="crm_lookup")
    s2.end("finished")
    rt2.shutdown()
    events = [json.loads(x) for x in quell(brokers, topic, store, "replay", s.id, "-o", "json").stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "session_ended" and len(events) == 1 + 3 * 2 + 1 + 1 + 1
    assert quell(brokers, topic, store, "verify").returncode == 0
    # Every record sits in the chain's own partition, keyed by the chain, as quell writes them.
    c = ck.Consumer({"bootstrap.servers": brokers, "group.id": "quell-py-test", "enable.auto.commit": False})
    try:
        part = partition_for(s.id.encode(), 3)
        c.assign([ck.TopicPartition(topic, part, 0)])
        got = []
        while len(got) < len(events):
            m = c.poll(10)
            assert m is not None, "records missing from the chain's partition"
            if m.error() is None:
                got.append(m)
        assert {m.key() for m in got} == {s.id.encode()}
    finally:
        c.close()


def test_an_event_that_does_not_continue_the_chain_is_refused_before_sending(brokers):
    topic = new_topic(brokers, 1)
    audit = KafkaAudit(brokers, topic)
    body = {"time": "2026-11-28T03:00:00.000000Z", "gen_ai.conversation.id": "s-fork", "step": 0,
            "kind": "session_started", "identity": "agent:a"}
    first = seal(body, Tail())
    audit.append([first])
    with pytest.raises(Conflict, match="does not continue"):
        audit.append([seal(body, Tail())])
    assert audit.tail("s-fork") == first.tail()
    assert event_json(first).endswith(f',"hash":"{first.hash}"}}')
