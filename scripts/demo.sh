#!/usr/bin/env bash
# The main job: build quell and run the simulated fleet on the embedded store.
# On a terminal the console opens on it; otherwise (or with --headless) a one-line summary
# is printed every second. Extra arguments go to `quell demo`, e.g. --agents 200 --duration 60.
# Approvals wait 10 minutes before they expire: --approval-ttl 30m (or QUELL_DEMO_APPROVAL_TTL) changes it.
# --with-python-agents also runs the two Python examples (examples/python: a LangGraph agent and an
# OpenAI Agents SDK agent, fake models, no network) on the same store beside the simulated fleet;
# their output goes to target/demo/python-agents.log and they are stopped when the demo ends.
set -Eeuo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
NEEDED=(build-essential pkg-config cmake libssl-dev zlib1g-dev libsasl2-dev)
missing=()
for p in "${NEEDED[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python_agents=0
args=()
for a in "$@"; do
	if [ "$a" = "--with-python-agents" ]; then python_agents=1; else args+=("$a"); fi
done
cargo build --release --quiet
STORE="${QUELL_STORE:-$REPO/target/demo/quell.db}"
mkdir -p "$(dirname "$STORE")" target/demo
if [ ! -t 1 ] && [[ " ${args[*]} " != *" --headless "* ]]; then
	args+=(--headless)
fi
if ((python_agents == 0)); then
	exec target/release/quell --store "$STORE" demo "${args[@]}"
fi

# The Python agents: a venv under target/ with the library and both framework extras.
dpkg -s python3-venv >/dev/null 2>&1 || {
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
}
[ -x target/demo-py/bin/python ] || python3 -m venv target/demo-py
target/demo-py/bin/python -m pip install --quiet --disable-pip-version-check "./sdk/python[langgraph,openai-agents]"
LOG=target/demo/python-agents.log
: >"$LOG"
pids=()
stop_agents() { ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_agents EXIT
for example in langgraph_agent openai_agents_agent; do
	env -u QUELL_REDIS -u QUELL_KAFKA -u QUELL_AUDIT_TOPIC QUELL_STORE="$STORE" \
		target/demo-py/bin/python "examples/python/$example.py" --sessions 3 >>"$LOG" 2>&1 &
	pids+=("$!")
done
echo "quell: 2 Python agents (LangGraph, OpenAI Agents SDK) run beside the fleet; their output: $LOG" >&2
target/release/quell --store "$STORE" demo "${args[@]}"
