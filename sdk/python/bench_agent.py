"""Benchmarks of the Python agent library (BENCHMARKS.md has the figures and the command).

    python sdk/python/bench_agent.py --quell target/release/quell [--steps 5000] [--sessions 1000]

1. Overhead per agent step: the same step (a little JSON work standing in for the agent) with and
   without the library's calls (gate, begin_step, llm_call, tool_call, tool_result, checkpoint),
   p50 and p99 of each, on the embedded store.
2. `quell pause --all` acknowledged by N sessions hosted in one Python process (a scheduler that
   passes each session's step boundary in turn), timed as the operator sees it: the wall time of
   the `quell pause --all --wait 10` command until it reports every session acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from quell_agent import EmbeddedStore, Runtime, Session, hash_input  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def agent_work(step: int) -> str:
    return json.dumps({"step": step, "messages": [{"role": "user", "content": "x" * 200}] * 4})


def bench_step(steps: int, folder: str) -> None:
    bare = []
    for i in range(steps):
        t = time.perf_counter()
        agent_work(i)
        bare.append(time.perf_counter() - t)
    rt = Runtime(EmbeddedStore(os.path.join(folder, "step.db")))
    s = Session.start(rt, "bench-agent", model="gpt-4.1")
    lib = []
    for i in range(steps):
        t = time.perf_counter()
        s.gate()
        step = s.begin_step()
        prompt = agent_work(i)
        s.emit("llm_call", input_hash=hash_input(prompt), input_tokens=100, output_tokens=20,
               tool_calls=[{"name": "lookup", "arguments": {"q": step}}])
        s.emit("tool_call", tool="lookup")
        s.emit("tool_result", tool="lookup", output_summary="1 row")
        s.checkpoint([{"role": "user", "content": "x"}], [], {"next": step + 1})
        lib.append(time.perf_counter() - t)
    t = time.perf_counter()
    rt.shutdown()
    drain = time.perf_counter() - t
    ms = lambda x: x * 1000  # noqa: E731
    print(f"step without the library: p50 {ms(pct(bare, .5)):.3f} ms, p99 {ms(pct(bare, .99)):.3f} ms")
    print(f"step with the library:    p50 {ms(pct(lib, .5)):.3f} ms, p99 {ms(pct(lib, .99)):.3f} ms")
    added = [a - b for a, b in zip(sorted(lib), sorted(bare))]
    print(f"added per step (computed, quantile minus quantile): p50 {ms(pct(lib, .5) - pct(bare, .5)):.3f} ms, "
          f"p99 {ms(pct(lib, .99) - pct(bare, .99)):.3f} ms; mean {ms(statistics.mean(added)):.3f} ms")
    print(f"{steps} steps ({steps * 5} events, {steps} checkpoints) stored; the final drain took {drain:.3f} s")


def bench_pause(quell: str, sessions: int, folder: str) -> None:
    path = os.path.join(folder, "fleet.db")
    rt = Runtime(EmbeddedStore(path))
    hosted = [Session.start(rt, "bench-agent") for _ in range(sessions)]
    rt.flush()
    stop = threading.Event()

    def scheduler():
        # One thread passes every hosted session's step boundary in turn, as a host of many
        # sessions does; a paused session is skipped until it may run again.
        while not stop.is_set():
            for s in hosted:
                if s.observe() == "proceed":
                    s.begin_step()
            time.sleep(0.001)

    t = threading.Thread(target=scheduler, daemon=True)
    t.start()
    time.sleep(1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUELL_")}
    started = time.perf_counter()
    p = subprocess.run([quell, "--store", path, "--as", "bench", "pause", "--all", "--reason", "bench",
                        "--wait", "10"], capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    line = [x for x in p.stdout.splitlines() if "acknowledged" in x]
    print(f"quell pause --all, {sessions} Python sessions in one process: {took:.3f} s wall "
          f"(exit {p.returncode}: {line[0] if line else p.stderr.strip()})")
    stop.set()
    t.join()
    rt.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quell", required=True)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=1000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench_step(a.steps, folder)
        bench_pause(a.quell, a.sessions, folder)


if __name__ == "__main__":
    main()
