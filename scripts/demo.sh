#!/usr/bin/env bash
# The main job: build quell and run the simulated fleet on the embedded store.
# On a terminal the console opens on it; otherwise (or with --headless) a one-line summary
# is printed every second. Extra arguments go to `quell demo`, e.g. --agents 200 --duration 60.
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
cargo build --release --quiet
STORE="${QUELL_STORE:-$REPO/target/demo/quell.db}"
args=("$@")
if [ ! -t 1 ] && [[ " ${args[*]} " != *" --headless "* ]]; then
	args+=(--headless)
fi
exec target/release/quell --store "$STORE" demo "${args[@]}"
