"""What the Python tests share: the real quell binary as a subprocess, and waiting for a state."""

import json
import os
import subprocess
import threading
import time

from conftest import quell_binary

DEADLINE_S = 30.0


def quell(store, *args, check=True, redis=None, kafka=None):
    """Runs `quell --store STORE [--redis URL] [--kafka BROKERS --audit-topic TOPIC] ARGS` as the
    operator py-tests; `kafka` is (brokers, topic)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
    env["QUELL_AS"] = "py-tests"
    backend = ["--redis", redis] if redis else []
    if kafka:
        backend += ["--kafka", kafka[0], "--audit-topic", kafka[1]]
    p = subprocess.run(
        [quell_binary(), *backend, "--store", str(store), *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and p.returncode != 0:
        raise AssertionError(f"quell {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def sessions(store, redis=None, kafka=None):
    return {s["id"]: s for s in json.loads(quell(store, "sessions", "-o", "json", redis=redis, kafka=kafka).stdout)}


def replay(store, sid, *extra):
    return [json.loads(x) for x in quell(store, *extra, "replay", sid, "-o", "json").stdout.splitlines()]


def wait_for(what, cond, deadline_s=DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def step_until_killed(session, on_step=None):
    """Starts a thread that steps `session` until it is killed (or `stop` is set); returns
    (thread, stop event, outcome dict that gets "gate": "killed")."""
    stop = threading.Event()
    outcome = {}

    def loop():
        while not stop.is_set():
            if session.gate() == "killed":
                outcome["gate"] = "killed"
                return
            session.begin_step()
            if on_step:
                on_step(session)
            time.sleep(0.005)

    t = threading.Thread(target=loop)
    t.start()
    return t, stop, outcome


def pending_approval(store):
    """Waits until `quell approvals -o json` lists a request; returns the first one."""
    pending = []

    def asked():
        pending[:] = json.loads(quell(store, "approvals", "-o", "json").stdout)
        return bool(pending)

    wait_for("an approval request", asked)
    return pending[0]


def kafka_brokers():
    """The test broker (scripts/services/kafka.sh); a test that needs it fails without it."""
    b = os.environ.get("QUELL_TEST_KAFKA_BROKERS", "")
    if not b:
        raise RuntimeError("QUELL_TEST_KAFKA_BROKERS is not set: start the test broker (scripts/services/kafka.sh start)")
    return b


def new_topic(brokers, partitions=3):
    """A fresh topic, returned once every partition has a leader in the metadata (a topic used
    before the broker announces it loses the first records)."""
    import uuid

    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"quell-py-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": brokers})
    fut = admin.create_topics([NewTopic(name, partitions, 1, config={"cleanup.policy": "delete"})])[name]
    fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = admin.list_topics(name, timeout=10).topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return name
        time.sleep(0.05)
    raise AssertionError(f"topic {name} not announced in time")
