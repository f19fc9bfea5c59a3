"""The audit log on Apache Kafka, as quell's Kafka adapter writes and reads it
(`src/adapters/kafka/mod.rs`): one topic, records keyed by chain id, each value the whole sealed
event as JSON with its `hash`.

- Writes: an idempotent producer, `acks=all` with `enable.idempotence=true` set explicitly (an
  implicit setting is silently turned off by a conflicting option), Java-compatible key
  partitioning (`murmur2_random`) so one chain stays in one partition, in order. `append` returns
  once every record is acknowledged, and checks first that the batch continues the chains' tails.
- Tails: the first time a chain is touched, its tail is read from the chain's own partition,
  backwards from the end, with an assigned (not subscribed) consumer that joins no group and
  commits nothing (confluent-kafka insists on a `group.id`; it is never used).

Needs confluent-kafka (`pip install ./sdk/python[kafka]`).
"""

from __future__ import annotations

import json
import threading
import time as _time
from typing import Any, Optional

from .chain import Sealed, Tail
from .errors import Conflict, QuellError, Unavailable

try:
    import confluent_kafka as _ck
except ImportError as _e:  # pragma: no cover - exercised only without the extra
    raise ImportError("quell_agent.kafka_audit needs confluent-kafka: pip install 'quell-agent[kafka]'") from _e

_OWNED = {"acks", "enable.idempotence", "partitioner", "group.id", "enable.auto.commit"}
_WINDOW = 500
DELIVERY_TIMEOUT_S = 60.0
METADATA_TIMEOUT_S = 10.0


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` (seed 0x9747b28c), as Java's signed int."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = data[full:]
    if rest:
        for i in reversed(range(len(rest))):
            h ^= rest[i] << (8 * i)
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, count: int) -> int:
    """`toPositive(murmur2(key)) % count`, as the Java client and librdkafka's murmur2_random."""
    return (murmur2(key) & 0x7FFFFFFF) % count


def event_json(sealed: Sealed) -> str:
    """The record value: the canonical text with `hash` appended (what quell writes)."""
    c = sealed.canonical
    return c[:-1] + f',"hash":"{sealed.hash}"}}'


class KafkaAudit:
    """The audit port on a Kafka topic. quell never creates the audit topic; neither does this."""

    def __init__(self, brokers: str, topic: str = "quell.audit", settings: Optional[dict[str, str]] = None) -> None:
        settings = dict(settings or {})
        owned = sorted(_OWNED & settings.keys())
        if owned:
            raise QuellError(f"kafka settings {', '.join(owned)} are owned by the audit log; remove them")
        self.brokers, self.topic = brokers, topic
        self._base = {"bootstrap.servers": brokers, "client.id": "quell-agent", **settings}
        producer_conf = {
            **self._base,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
        }
        try:
            self._producer = _ck.Producer(producer_conf)
        except _ck.KafkaException as e:
            raise QuellError(f"kafka producer for brokers {brokers}: {e}") from e
        self._tails: dict[str, Tail] = {}
        self._lock = threading.Lock()
        self._partitions = self._partition_count()

    def _error(self, what: str, e: object) -> Unavailable:
        return Unavailable(f"kafka brokers {self.brokers}, topic '{self.topic}': {what}: {e}")

    def _partition_count(self) -> int:
        try:
            md = self._producer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)
        except _ck.KafkaException as e:
            raise self._error("brokers unreachable", e) from e
        t = md.topics.get(self.topic)
        if t is None or t.error is not None or not t.partitions:
            raise QuellError(
                f"Kafka audit topic '{self.topic}' does not exist on brokers {self.brokers} "
                "(create it with cleanup.policy=delete)"
            )
        return len(t.partitions)

    # -- tails -----------------------------------------------------------------------------------

    def tail(self, chain: str) -> Optional[Tail]:
        with self._lock:
            known = self._tails.get(chain)
        if known is not None:
            return known
        found = self._read_tail(chain)
        if found is not None:
            with self._lock:
                self._tails.setdefault(chain, found)
        return found

    def tails(self, chains: list[str]) -> list[Optional[Tail]]:
        return [self._read_tail(c) for c in chains]

    def _read_tail(self, chain: str) -> Optional[Tail]:
        """The last event of `chain`: its partition, read backwards from the end in windows."""
        key = chain.encode("utf-8")
        part = partition_for(key, self._partitions)
        consumer = _ck.Consumer(
            {**self._base, "group.id": "quell-agent-tail-lookup", "enable.auto.commit": False,
             "enable.partition.eof": True, "auto.offset.reset": "earliest"}
        )
        try:
            try:
                low, high = consumer.get_watermark_offsets(
                    _ck.TopicPartition(self.topic, part), timeout=METADATA_TIMEOUT_S
                )
            except _ck.KafkaException as e:
                raise self._error("watermarks", e) from e
            end = high
            while end > low:
                start = max(low, end - _WINDOW)
                found = self._last_in(consumer, part, start, end, key)
                if found is not None:
                    return found
                end = start
            return None
        finally:
            consumer.close()

    def _last_in(self, consumer, part: int, start: int, end: int, key: bytes) -> Optional[Tail]:
        consumer.assign([_ck.TopicPartition(self.topic, part, start)])
        last = None
        deadline = _time.monotonic() + DELIVERY_TIMEOUT_S
        while _time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == _ck.KafkaError._PARTITION_EOF:
                    return last
                raise self._error("read", msg.error())
            if msg.offset() >= end:
                return last
            if msg.key() == key and msg.value():
                try:
                    ev = json.loads(msg.value())
                    last = Tail(int(ev["seq"]), str(ev["hash"]))
                except (ValueError, KeyError, TypeError):
                    pass  # a foreign record under the chain's key: not an event
            if msg.offset() + 1 >= end:
                return last
        raise self._error("read", "no end of partition within the deadline")

    # -- append ----------------------------------------------------------------------------------

    def append(self, events: list[Sealed]) -> None:
        if not events:
            return
        batch: dict[str, Tail] = {}
        for ev in events:
            tail = batch.get(ev.chain) or self.tail(ev.chain) or Tail()
            if ev.seq != tail.seq + 1 or ev.event["prev_hash"] != tail.hash:
                raise Conflict(
                    f"audit chain {ev.chain}: event seq {ev.seq} does not continue the chain on topic "
                    f"'{self.topic}' (at seq {tail.seq})"
                )
            batch[ev.chain] = ev.tail()
        errors: list[str] = []

        def delivered(err, _msg) -> None:
            if err is not None:
                errors.append(str(err))

        try:
            for ev in events:
                while True:
                    try:
                        self._producer.produce(
                            self.topic, key=ev.chain.encode("utf-8"), value=event_json(ev).encode("utf-8"),
                            on_delivery=delivered,
                        )
                        break
                    except BufferError:
                        self._producer.poll(0.01)
            left = self._producer.flush(DELIVERY_TIMEOUT_S + 15)
        except _ck.KafkaException as e:
            self._forget(events)
            raise self._error("produce", e) from e
        if left or errors:
            self._forget(events)
            why = errors[0] if errors else f"{left} records not acknowledged in time"
            raise self._error("append failed", why)
        with self._lock:
            self._tails.update(batch)

    def _forget(self, events: list[Sealed]) -> None:
        with self._lock:
            for ev in events:
                self._tails.pop(ev.chain, None)

    def close(self) -> None:
        self._producer.flush(5)

    def settings(self) -> dict[str, Any]:
        return dict(self._base)
