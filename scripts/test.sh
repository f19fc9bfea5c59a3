#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine:
#   installs what the build and the tests need (Debian packages, redis-py in target/, the Python
#   venv target/sdk-py, the declared minimum Rust through rustup), starts the real services on
#   loopback (Redis, Kafka, kube-apiserver + etcd, an OpenTelemetry Collector), runs the
#   formatting, lint, documentation and minimum-Rust checks and every test, the service tests
#   included (`--features service-tests`), and stops the services after. Plain `cargo test` runs
#   the tests that need no server.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- ARGS    # extra arguments for `cargo test`
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '== %s\n' "$*"; }

# --- Debian packages the build and the tests need ---------------------------------------
NEEDED=(build-essential pkg-config cmake libssl-dev zlib1g-dev libsasl2-dev redis-server etcd-server kcat jq python3-venv openssl curl)
missing=()
for p in "${NEEDED[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	say "installing Debian packages: ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python client used to write checkpoints exactly as the seed's agents do ----------------
say "preparing redis-py (target/redis-py)"
tests/fixtures/redis/pyenv.sh >/dev/null

# --- the Python agent library and the instrumented agent of the OpenTelemetry tests ----------
# One venv, made before the Rust tests: tests/otel_collector.rs runs tests/fixtures/otel/agent.py
# with it (the `otel-test` extra), and the Python tests below use it (the `test` extra).
say "preparing the Python venv (target/sdk-py)"
python3 -m venv target/sdk-py
target/sdk-py/bin/python -m pip install --quiet --disable-pip-version-check "./sdk/python[test,otel-test]"
export QUELL_TEST_PYTHON="$REPO/target/sdk-py/bin/python"

# --- services ------------------------------------------------------------------------------
say "starting test services (Redis, Kafka, kube-apiserver, OpenTelemetry Collector) on loopback"
stop_services() { scripts/services/all.sh down >/dev/null 2>&1 || true; }
trap stop_services EXIT
scripts/services/all.sh up
set -a
# shellcheck disable=SC1091
. "${QUELL_TEST_STATE:-$REPO/target/test-services}/services.env"
set +a

# --- checks and tests ------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check
# The service tests are targets of their own behind `service-tests` (Cargo.toml, "Test tiers"):
# every check and the test run below enable it, so they are built, linted and run here.
FEATURES=(--features service-tests)
say "cargo clippy"
cargo clippy --all-targets "${FEATURES[@]}" --quiet -- -D warnings
say "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# The crate builds on the Rust it declares (`rust-version`), tests and examples included. Its
# own target directory, cached outside the repository like the servers' downloads: one toolchain's
# artifacts never evict the other's.
MSRV="$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)"
[ -n "$MSRV" ] || { echo "scripts/test.sh: no rust-version in Cargo.toml" >&2; exit 1; }
say "cargo check on the declared minimum Rust ($MSRV)"
command -v rustup >/dev/null || { echo "scripts/test.sh: the minimum-Rust check needs rustup (https://rustup.rs)" >&2; exit 1; }
rustup --quiet toolchain install "$MSRV" --profile minimal --no-self-update >/dev/null
CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/quell-test/msrv-target" \
	rustup run "$MSRV" cargo check --all-targets "${FEATURES[@]}" --quiet
say "cargo test"
extra=()
if [ "${1:-}" = "--" ]; then
	shift
	extra=("$@")
fi
set +e
# --no-fail-fast: every test binary runs, so one failure does not hide the others.
cargo test --no-fail-fast "${FEATURES[@]}" "${extra[@]}" 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
# The Python agent library (sdk/python), installed as a user would, against the binary just built.
say "python agent library (sdk/python)"
(
	set -e
	QUELL_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/quell"
	export QUELL_BIN
	cd target && sdk-py/bin/python -m pytest -q -p no:cacheprovider ../sdk/python/tests
) 2>&1 | tee target/test-output-python.txt
py_status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ]; then status=$py_status; fi
set -e
# One closing line for the whole suite, summed over every test binary and the Python tests.
# cargo: "test result: ok. 12 passed; 0 failed; ..."; pytest -q: "1 failed, 24 passed in 21.2s".
awk '/^test result:|^[0-9]+ (passed|failed)/ { for (i = 2; i <= NF; i++) { if ($(i) ~ /^passed[;,]?$/) p += $(i-1); if ($(i) ~ /^failed[;,]?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.txt target/test-output-python.txt
exit "$status"
