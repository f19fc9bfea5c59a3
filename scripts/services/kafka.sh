#!/usr/bin/env bash
# Real Apache Kafka broker (KRaft, single node: broker+controller) on loopback
# for quell's tests. The jars come from Maven Central through Maven
# (scripts/services/kafka/pom.xml) into a cache outside the repo.
#
#   kafka.sh start               fetch jars if needed, format fresh storage,
#                                start on free 127.0.0.1 ports; no-op when
#                                already running. Prints the env lines.
#   kafka.sh restart             stop + start on the SAME ports, data kept.
#   kafka.sh stop                stop it and wait until it is gone.
#   kafka.sh env                 print QUELL_TEST_KAFKA_BROKERS / _CTL lines.
#   kafka.sh status              exit 0 when running.
#   kafka.sh topic NAME [k=v..]  create topic NAME (if missing) with configs;
#                                partitions=N (default 1) sets the partition
#                                count, every other k=v is a topic config.
#   kafka.sh run-class CLASS ..  run a class from the Kafka jars (e.g.
#                                org.apache.kafka.tools.ConsoleProducer).
#
# State: ${QUELL_TEST_STATE:-<repo>/target/test-services}/kafka/
set -Eeuo pipefail

SERVICE=kafka
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/kafka/pom.xml"
STATE_ROOT="${QUELL_TEST_STATE:-$REPO/target/test-services}"
STATE="$STATE_ROOT/$SERVICE"
DATA="$STATE/data"
PIDFILE="$STATE/kafka.pid"
PORTS="$STATE/ports"
PROPS="$STATE/server.properties"
LOG4J="$STATE/log4j2.xml"
LOG="$STATE/kafka.log" # log4j output of the broker
OUT="$STATE/kafka.out" # its stdout/stderr
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/quell-test/kafka-$KAFKA_VERSION"
LIBS="$CACHE/libs"
HEAP="${QUELL_TEST_KAFKA_HEAP:--Xmx512m}"

say() { echo "$SERVICE: $*" >&2; }
die() {
	local f
	for f in "$OUT" "$LOG"; do
		if [[ -s "$f" ]]; then
			echo "---- last 40 lines of $f ----" >&2
			tail -n 40 "$f" >&2 || true
		fi
	done
	echo "$SERVICE: error: $*" >&2
	exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

[[ -n "$KAFKA_VERSION" ]] || die "cannot read <kafka.version> from $POM"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# See redis.sh: apt-get update only when needed; serialised between scripts.
apt_install() {
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	mkdir -p "$STATE_ROOT"
	(
		flock 8
		export DEBIAN_FRONTEND=noninteractive
		local p need_update=0 added_policy=0
		for p in "$@"; do
			apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || need_update=1
		done
		if [[ ! -e /usr/sbin/policy-rc.d ]]; then
			printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
			"${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
			added_policy=1
		fi
		local rc=0
		{
			if ((need_update)); then "${sudo[@]}" apt-get update -q; fi
			"${sudo[@]}" apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "$@" ||
				{ "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "$@"; }
		} >>"$STATE_ROOT/apt.log" 2>&1 || rc=$?
		if ((added_policy)); then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
		exit $rc
	) 8>"$STATE_ROOT/.apt.lock"
}

# kcat is for benchmarks only: try to install it, never fail for it.
ensure_kcat() {
	command -v kcat >/dev/null && return 0
	local marker="$STATE_ROOT/.kcat-unavailable"
	if [[ -e "$marker" ]]; then
		say "warning: kcat is not installed (an earlier install failed; remove $marker to retry)"
		return 0
	fi
	say "installing Debian's kcat package (used by benchmarks)"
	if ! apt_install kcat || ! command -v kcat >/dev/null; then
		touch "$marker"
		say "warning: could not install kcat (see $STATE_ROOT/apt.log); benchmarks that need it will not run"
	fi
	return 0
}

# Fill $LIBS with the broker, tools and all runtime dependencies, once.
ensure_libs() {
	[[ -f "$LIBS/.complete" ]] && return 0
	command -v mvn >/dev/null || die "mvn not found on PATH (needed once to fetch Kafka $KAFKA_VERSION)"
	mkdir -p "$CACHE"
	(
		flock 8
		[[ -f "$LIBS/.complete" ]] && exit 0
		say "fetching Apache Kafka $KAFKA_VERSION and its dependencies with Maven into $LIBS"
		rm -rf "$LIBS.tmp"
		if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
			-DoutputDirectory="$LIBS.tmp" >"$CACHE/mvn.log" 2>&1; then
			tail -n 40 "$CACHE/mvn.log" >&2
			echo "$SERVICE: error: mvn dependency:copy-dependencies failed (log: $CACHE/mvn.log)" >&2
			exit 1
		fi
		[[ -f "$LIBS.tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || {
			echo "$SERVICE: error: kafka_2.13-$KAFKA_VERSION.jar missing after mvn" >&2
			exit 1
		}
		touch "$LIBS.tmp/.complete"
		rm -rf "$LIBS"
		mv "$LIBS.tmp" "$LIBS"
	) 8>"$CACHE/.lock" || die "could not fetch the Kafka jars"
}

ensure_java() {
	command -v java >/dev/null || die "java not found on PATH"
}

# java_run CLASS ARGS...: a Kafka tool class; its log4j warnings go to stderr.
java_run() {
	local cfg="$STATE/tools-log4j2.xml"
	[[ -f "$cfg" ]] || cat >"$cfg" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/services/kafka.sh, for the command-line tools -->
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
	java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$cfg" -cp "$LIBS/*" "$@"
}

running_pid() {
	local pid
	[[ -s "$PIDFILE" ]] || return 1
	pid="$(<"$PIDFILE")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
	echo "$pid"
}

broker_port() { sed -n 's/^broker=//p' "$PORTS"; }
controller_port() { sed -n 's/^controller=//p' "$PORTS"; }

is_running() { [[ -s "$PORTS" ]] && running_pid >/dev/null && port_open "$(broker_port)"; }

print_env() {
	echo "QUELL_TEST_KAFKA_BROKERS=127.0.0.1:$(broker_port)"
	echo "QUELL_TEST_KAFKA_CTL=$SELF"
}

write_config() {
	local bp="$1" cp="$2"
	cat >"$PROPS" <<EOF
# generated by scripts/services/kafka.sh: single-node KRaft, loopback only
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cp
listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$bp
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
	cat >"$LOG4J" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/services/kafka.sh -->
<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="$LOG" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.controller" level="info"/>
    <Logger name="state.change.logger" level="warn"/>
  </Loggers>
</Configuration>
EOF
}

# launch: start kafka.Kafka with the existing config and data; wait until up.
launch() {
	local bp cp pid i
	bp="$(broker_port)"
	cp="$(controller_port)"
	port_open "$bp" && die "port 127.0.0.1:$bp is already taken by another process"
	port_open "$cp" && die "port 127.0.0.1:$cp is already taken by another process"
	rm -f "$PIDFILE"
	local mark
	mark="$(wc -l <"$LOG" 2>/dev/null || echo 0)"
	# setsid: own session, so the broker outlives the caller's process group.
	# fd 9 is our lock: do not leak it into the daemon.
	setsid java "$HEAP" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$STATE" \
		-cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$OUT" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$PIDFILE"
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$pid" 2>/dev/null || die "broker exited during startup"
		if port_open "$bp" && tail -n "+$((mark + 1))" "$LOG" 2>/dev/null | grep -q 'Kafka Server started'; then
			return 0
		fi
		sleep 0.1
	done
	die "broker did not start within 120s"
}

do_stop() {
	local pid i
	if pid="$(running_pid)"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 600; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "pid $pid ignored SIGTERM for 60s; killing"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		kill -0 "$pid" 2>/dev/null && die "could not stop broker pid $pid"
		say "stopped (pid $pid)"
	fi
	rm -f "$PIDFILE"
}

new_cluster_id() {
	# Kafka's Uuid: 16 random bytes, URL-safe base64 without padding, not
	# starting with '-'.
	python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break'
}

cmd="${1:-}"
case "$cmd" in
start | stop | restart | env | status | topic | run-class) ;;
*)
	echo "usage: $0 start|stop|restart|env|status|topic NAME [key=value ...]|run-class CLASS [ARGS...]" >&2
	exit 2
	;;
esac
shift

mkdir -p "$STATE"

# Commands that only use a running broker do not take the lock.
case "$cmd" in
topic)
	[[ $# -ge 1 ]] || {
		echo "usage: $0 topic NAME [key=value ...]" >&2
		exit 2
	}
	is_running || die "not running; run '$SELF start' first"
	name="$1"
	shift
	partitions=1
	args=()
	for kv in "$@"; do
		[[ "$kv" == *=* ]] || die "topic: expected key=value, got '$kv'"
		case "${kv%%=*}" in
		partitions) partitions="${kv#*=}" ;;
		*) args+=(--config "$kv") ;;
		esac
	done
	java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(broker_port)" \
		--create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 \
		"${args[@]}" >&2 || die "creating topic '$name' failed"
	exit 0
	;;
run-class)
	[[ $# -ge 1 ]] || {
		echo "usage: $0 run-class CLASS [ARGS...]" >&2
		exit 2
	}
	ensure_libs
	trap - ERR
	java_run "$@"
	exit $?
	;;
esac

exec 9>"$STATE/.lock"
flock 9

case "$cmd" in
start)
	if is_running; then
		print_env
		exit 0
	fi
	ensure_java
	ensure_kcat
	ensure_libs
	do_stop # a half-dead leftover
	rm -rf "$DATA"
	mkdir -p "$DATA"
	: >"$LOG"
	: >"$OUT"
	bp="$(free_port)"
	cp="$(free_port)"
	while [[ "$cp" == "$bp" ]]; do cp="$(free_port)"; done
	printf 'broker=%s\ncontroller=%s\n' "$bp" "$cp" >"$PORTS"
	write_config "$bp" "$cp"
	cid="$(new_cluster_id)"
	echo "$cid" >"$STATE/cluster.id"
	java_run kafka.tools.StorageTool format --cluster-id "$cid" --config "$PROPS" >>"$OUT" 2>&1 ||
		die "kafka-storage format failed"
	launch
	say "Kafka $KAFKA_VERSION started on 127.0.0.1:$bp (controller 127.0.0.1:$cp, pid $(<"$PIDFILE"))"
	print_env
	;;
restart)
	[[ -s "$PORTS" && -f "$DATA/meta.properties" ]] || die "restart: never started; run start first"
	ensure_java
	ensure_libs
	do_stop
	launch
	say "restarted on 127.0.0.1:$(broker_port) (pid $(<"$PIDFILE")), data kept"
	print_env
	;;
stop)
	do_stop
	;;
env)
	is_running || die "not running; run '$SELF start' first"
	print_env
	;;
status)
	if is_running; then
		say "running on 127.0.0.1:$(broker_port) (pid $(<"$PIDFILE"))"
	else
		say "not running"
		exit 1
	fi
	;;
esac
