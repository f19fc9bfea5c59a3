"""What the Python tests share: the real quell binary as a subprocess, and waiting for a state."""

import json
import os
import subprocess
import threading
import time

from conftest import quell_binary

DEADLINE_S = 30.0


def quell(store, *args, check=True, redis=None):
    """Runs `quell --store STORE [--redis URL] ARGS` as the operator py-tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
    env["QUELL_AS"] = "py-tests"
    backend = ["--redis", redis] if redis else []
    p = subprocess.run(
        [quell_binary(), *backend, "--store", str(store), *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and p.returncode != 0:
        raise AssertionError(f"quell {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def sessions(store, redis=None):
    return {s["id"]: s for s in json.loads(quell(store, "sessions", "-o", "json", redis=redis).stdout)}


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
