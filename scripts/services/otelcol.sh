#!/usr/bin/env bash
# Real OpenTelemetry Collector on loopback for quell's tests: receives OTLP/HTTP
# and exports every trace three times, to Kafka as `otlp_json`, to Kafka as
# `otlp_proto` (the Collector's Kafka exporter) and to a file of OTLP JSON lines
# (its file exporter). Built once with the Go toolchain from the collector's Go
# modules (tests/fixtures/otel/collector/: OTLP receiver, Kafka exporter, file
# exporter, all at one collector release) into a cache outside the repo.
#
#   otelcol.sh start    build if needed, create the two topics on the test
#                       broker, start the collector on free 127.0.0.1 ports and
#                       wait until a probe trace has gone through all three
#                       exporters; a no-op when already running. Prints the env.
#   otelcol.sh stop     stop it and wait until it is gone.
#   otelcol.sh env      print QUELL_TEST_OTLP_HTTP / _OTLP_TOPIC_JSON /
#                       _OTLP_TOPIC_PROTO / _OTLP_FILE / _OTELCOL_CTL lines.
#   otelcol.sh status   exit 0 when running.
#   otelcol.sh build    only build (or find cached) the collector binary.
#
# Needs the Kafka broker of kafka.sh: QUELL_TEST_KAFKA_BROKERS (and
# QUELL_TEST_KAFKA_CTL) from the environment, else `kafka.sh env` with the same
# QUELL_TEST_STATE. Topic names: QUELL_TEST_OTLP_TOPIC_JSON (default
# otlp_spans_json) and QUELL_TEST_OTLP_TOPIC_PROTO (default otlp_spans_proto),
# read at start. One collector serves every test, so the topics and the file
# are shared: a test tells its own records apart by a unique conversation id /
# service.name. The readiness probe leaves one trace of service.name
# `quell-otelcol-probe` in each.
#
# State: ${QUELL_TEST_STATE:-<repo>/target/test-services}/otelcol/
set -Eeuo pipefail

SERVICE=otelcol
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
MODDIR="$REPO/tests/fixtures/otel/collector"
STATE_ROOT="${QUELL_TEST_STATE:-$REPO/target/test-services}"
STATE="$STATE_ROOT/$SERVICE"
PIDFILE="$STATE/otelcol.pid"
CONFIG="$STATE/config.yaml"
ENVFILE="$STATE/env"
LOG="$STATE/otelcol.log"
SPANS_FILE="$STATE/spans.jsonl"
PROBE_SERVICE=quell-otelcol-probe
OTELCOL_VERSION="$(sed -n -E 's:^(require )?[[:space:]]*go\.opentelemetry\.io/collector/otelcol (v[0-9][^[:space:]]*)[[:space:]]*(// indirect)?$:\2:p' "$MODDIR/go.mod" | head -n1)"

DIE_LOGS=("$LOG")
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[[ -n "$OTELCOL_VERSION" ]] || die "cannot read the go.opentelemetry.io/collector/otelcol version from $MODDIR/go.mod"
# The cache key covers the sources too, so an edited main.go or go.sum rebuilds.
SRC_HASH="$(cat "$MODDIR/main.go" "$MODDIR/go.mod" "$MODDIR/go.sum" | sha256sum | cut -c1-12)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/quell-test/otelcol-$OTELCOL_VERSION-$SRC_HASH"
BIN="$CACHE/otelcol"
BUILD_LOG="$CACHE/build.log"

# ---------------------------------------------------------------- binary

ensure_binary() {
	[[ -x "$BIN" ]] && return 0
	command -v go >/dev/null || die "go not found on PATH (needed once to build the collector $OTELCOL_VERSION)"
	mkdir -p "$CACHE"
	(
		flock 8
		[[ -x "$BIN" ]] && exit 0
		say "building the collector $OTELCOL_VERSION from its Go modules (once; log: $BUILD_LOG)"
		# -mod=mod: `go mod tidy` cannot run (a test-only dependency of the file exporter is not
		# served); the build itself needs only what go.sum pins. Keep the caller's other GOFLAGS.
		local goflags t0=$SECONDS
		goflags="$(printf '%s\n' ${GOFLAGS:-} | { grep -v '^-mod=' || true; } | tr '\n' ' ')-mod=mod"
		if ! (cd "$MODDIR" && GOFLAGS="$goflags" go build -p 2 -trimpath -buildvcs=false -ldflags "-s -w" \
			-o "$BIN.tmp" .) >"$BUILD_LOG" 2>&1; then
			tail -n 40 "$BUILD_LOG" >&2
			echo "$SERVICE: error: go build of the collector failed (log: $BUILD_LOG)" >&2
			exit 1
		fi
		mv "$BIN.tmp" "$BIN"
		say "built $BIN in $((SECONDS - t0))s ($(du -h "$BIN" | cut -f1))"
	) 8>"$CACHE/.lock" || die "could not build the collector"
}

# ---------------------------------------------------------------- state

running_pid() {
	local pid
	[[ -s "$PIDFILE" ]] || return 1
	pid="$(<"$PIDFILE")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'otelcol' || return 1
	echo "$pid"
}

env_value() { sed -n "s/^$1=//p" "$ENVFILE"; }
http_port() { env_value QUELL_TEST_OTLP_HTTP | sed 's/.*://'; }

is_running() { [[ -s "$ENVFILE" ]] && running_pid >/dev/null && port_open "$(http_port)"; }

print_env() { cat "$ENVFILE"; }

do_stop() {
	local pid
	if pid="$(running_pid)"; then
		stop_and_wait "$pid" collector 30
		say "stopped (pid $pid)"
	fi
	rm -f "$PIDFILE"
}

# ---------------------------------------------------------------- kafka

BROKERS=""
KAFKA_CTL=""
find_kafka() {
	BROKERS="${QUELL_TEST_KAFKA_BROKERS:-}"
	KAFKA_CTL="${QUELL_TEST_KAFKA_CTL:-$HERE/kafka.sh}"
	if [[ -z "$BROKERS" ]]; then
		local out
		out="$("$KAFKA_CTL" env 2>/dev/null)" ||
			die "no Kafka broker: set QUELL_TEST_KAFKA_BROKERS or start it first ('$HERE/kafka.sh start')"
		BROKERS="$(sed -n 's/^QUELL_TEST_KAFKA_BROKERS=//p' <<<"$out")"
	fi
	[[ "$BROKERS" =~ ^[^[:space:],]+(,[^[:space:],]+)*$ ]] || die "QUELL_TEST_KAFKA_BROKERS is not a broker list: '$BROKERS'"
}

valid_topic() { [[ "$1" =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "$2 is not a Kafka topic name: '$1'"; }

# ---------------------------------------------------------------- config

write_config() { # http_port metrics_port topic_json topic_proto
	local brokers_yaml
	brokers_yaml="$(tr ',' '\n' <<<"$BROKERS" | sed 's/.*/"&"/' | paste -sd, -)"
	cat >"$CONFIG" <<EOF
# generated by scripts/services/otelcol.sh: loopback only
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$1
exporters:
  kafka/json:
    brokers: [$brokers_yaml]
    traces:
      topic: $3
      encoding: otlp_json
  kafka/proto:
    brokers: [$brokers_yaml]
    traces:
      topic: $4
      encoding: otlp_proto
  file:
    path: $SPANS_FILE
    format: json
    flush_interval: 100ms
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $2
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [kafka/json, kafka/proto, file]
EOF
}

# ---------------------------------------------------------------- readiness

# A probe trace through the OTLP/HTTP receiver; ready once the collector's own
# metrics count it as sent by each exporter (so the topics exist, have a
# leader and took a record) and it is in the file.
probe() { # http_port metrics_port
	local trace_id span_id now body i metrics sent failed want=(kafka/json kafka/proto file) e
	trace_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
	span_id="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	now="$(date +%s%N)"
	body='{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"'"$PROBE_SERVICE"'"}}]},"scopeSpans":[{"scope":{"name":"otelcol.sh"},"spans":[{"traceId":"'"$trace_id"'","spanId":"'"$span_id"'","name":"readiness probe","kind":1,"startTimeUnixNano":"'"$now"'","endTimeUnixNano":"'"$now"'"}]}]}]}'
	curl -sS --fail --max-time 10 -H 'Content-Type: application/json' --data "$body" \
		"http://127.0.0.1:$1/v1/traces" >/dev/null || die "the OTLP/HTTP receiver refused the probe trace"
	for ((i = 0; i < 600; i++)); do
		running_pid >/dev/null || die "collector exited during startup"
		metrics="$(curl -sS --max-time 5 "http://127.0.0.1:$2/metrics" 2>/dev/null || true)"
		failed="$(grep -E '^otelcol_exporter_send_failed_spans(_total)?\{' <<<"$metrics" | awk '$NF > 0' || true)"
		[[ -z "$failed" ]] || die "an exporter failed to send the probe trace: $failed"
		sent=0
		for e in "${want[@]}"; do
			grep -E '^otelcol_exporter_sent_spans(_total)?\{' <<<"$metrics" | grep -F "exporter=\"$e\"" |
				awk '$NF >= 1 { ok = 1 } END { exit !ok }' && sent=$((sent + 1))
		done
		if ((sent == ${#want[@]})) && grep -qF "$trace_id" "$SPANS_FILE" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "the probe trace did not reach all of ${want[*]} within 60s (metrics on 127.0.0.1:$2)"
}

launch() {
	local hp="$1" mp="$2" pid i
	port_open "$hp" && die "port 127.0.0.1:$hp is already taken by another process"
	rm -f "$PIDFILE"
	# setsid: own session, so the collector outlives the caller's process group.
	# fd 9 is our lock: do not leak it into the daemon.
	setsid "$BIN" --config "$CONFIG" </dev/null >>"$LOG" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$PIDFILE"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || die "collector exited during startup"
		if port_open "$hp" && port_open "$mp"; then
			probe "$hp" "$mp"
			return 0
		fi
		sleep 0.1
	done
	die "collector did not open 127.0.0.1:$hp within 60s"
}

# ---------------------------------------------------------------- main

cmd="${1:-}"
case "$cmd" in
start | stop | env | status | build) ;;
*)
	echo "usage: $0 start|stop|env|status|build" >&2
	exit 2
	;;
esac

mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9

case "$cmd" in
build)
	ensure_binary
	echo "$BIN"
	;;
start)
	if is_running; then
		print_env
		exit 0
	fi
	command -v curl >/dev/null || die "curl not found on PATH (used for the readiness probe)"
	find_kafka
	topic_json="${QUELL_TEST_OTLP_TOPIC_JSON:-otlp_spans_json}"
	topic_proto="${QUELL_TEST_OTLP_TOPIC_PROTO:-otlp_spans_proto}"
	valid_topic "$topic_json" QUELL_TEST_OTLP_TOPIC_JSON
	valid_topic "$topic_proto" QUELL_TEST_OTLP_TOPIC_PROTO
	[[ "$topic_json" != "$topic_proto" ]] || die "the json and proto topics must differ (both '$topic_json')"
	ensure_binary
	do_stop # a half-dead leftover
	# The topics exist before the collector writes to them (the broker creates none by itself).
	for t in "$topic_json" "$topic_proto"; do
		QUELL_TEST_KAFKA_BROKERS="$BROKERS" "$KAFKA_CTL" topic "$t" cleanup.policy=delete ||
			die "could not create topic '$t' on $BROKERS"
	done
	rm -f "$ENVFILE" "$SPANS_FILE"
	: >"$LOG"
	hp="$(free_port)"
	mp="$(free_port)"
	while [[ "$mp" == "$hp" ]]; do mp="$(free_port)"; done
	write_config "$hp" "$mp" "$topic_json" "$topic_proto"
	launch "$hp" "$mp"
	{
		echo "QUELL_TEST_OTLP_HTTP=http://127.0.0.1:$hp"
		echo "QUELL_TEST_OTLP_TOPIC_JSON=$topic_json"
		echo "QUELL_TEST_OTLP_TOPIC_PROTO=$topic_proto"
		echo "QUELL_TEST_OTLP_FILE=$SPANS_FILE"
		echo "QUELL_TEST_OTELCOL_CTL=$SELF"
	} >"$ENVFILE.tmp"
	mv "$ENVFILE.tmp" "$ENVFILE"
	say "collector $OTELCOL_VERSION started: OTLP/HTTP 127.0.0.1:$hp -> Kafka $BROKERS ($topic_json, $topic_proto) and $SPANS_FILE (pid $(<"$PIDFILE"))"
	print_env
	;;
stop)
	do_stop
	rm -f "$ENVFILE"
	;;
env)
	is_running || die "not running; run '$SELF start' first"
	print_env
	;;
status)
	if is_running; then
		say "running, OTLP/HTTP on 127.0.0.1:$(http_port) (pid $(<"$PIDFILE"))"
	else
		say "not running"
		exit 1
	fi
	;;
esac
