#!/usr/bin/env bash
# Real Redis server on loopback for quell's tests.
#
#   redis.sh start     install Debian's redis-server if missing, start it on a
#                      free 127.0.0.1 port with a fresh data dir (AOF on), plus
#                      a TLS port (a throwaway CA and a server certificate for
#                      127.0.0.1 made with openssl, ACL user `quell` with a
#                      random password); a no-op when already running (an
#                      instance started without TLS is restarted with it, data
#                      kept). Prints the env lines.
#   redis.sh restart   stop + start on the SAME ports and data dir (data kept).
#   redis.sh stop      stop it and wait until it is gone (data kept on disk).
#   redis.sh env       print QUELL_TEST_REDIS_URL / _DIR / _CTL, and
#                      QUELL_TEST_REDIS_TLS_URL (rediss://quell:PASSWORD@...) /
#                      QUELL_TEST_REDIS_CA (the CA certificate, PEM) lines.
#   redis.sh status    exit 0 when running.
#
# State: ${QUELL_TEST_STATE:-<repo>/target/test-services}/redis/
set -Eeuo pipefail

SERVICE=redis
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
STATE_ROOT="${QUELL_TEST_STATE:-$REPO/target/test-services}"
STATE="$STATE_ROOT/$SERVICE"
DATA="$STATE/data"
PIDFILE="$STATE/redis.pid"
PORTFILE="$STATE/port"
CONF="$STATE/redis.conf"
LOG="$STATE/redis.log"
TLS="$STATE/tls"
TLSPORTFILE="$STATE/tls-port"
PASSFILE="$TLS/password"

say() { echo "$SERVICE: $*" >&2; }
die() {
	if [[ -s "$LOG" ]]; then
		echo "---- last 40 lines of $LOG ----" >&2
		tail -n 40 "$LOG" >&2 || true
		echo "----" >&2
	fi
	echo "$SERVICE: error: $*" >&2
	exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# apt-get install PKG..., running `apt-get update` only when the package lists
# lack a candidate (or the first install attempt fails). Serialised with the
# other service scripts, which may install packages at the same time.
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
		# Never let a package's postinst start a system-wide daemon.
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

ensure_installed() {
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null || ! command -v openssl >/dev/null; then
		say "installing Debian's redis-server package"
		apt_install redis-server redis-tools openssl || {
			tail -n 40 "$STATE_ROOT/apt.log" >&2 || true
			die "apt-get install redis-server failed (see $STATE_ROOT/apt.log)"
		}
	fi
}

# The pid from the pidfile, if it is a live redis-server.
running_pid() {
	local pid
	[[ -s "$PIDFILE" ]] || return 1
	pid="$(<"$PIDFILE")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'redis-server' || return 1
	echo "$pid"
}

is_running() { running_pid >/dev/null && port_open "$(<"$PORTFILE")"; }

# The running instance also listens on its TLS port.
tls_running() { [[ -s "$TLSPORTFILE" && -s "$PASSFILE" ]] && port_open "$(<"$TLSPORTFILE")"; }

# A CA and a server certificate for 127.0.0.1 (kept across restarts), and the
# ACL password of user `quell`.
make_tls() {
	if [[ -s "$TLS/ca.pem" && -s "$TLS/server.pem" && -s "$TLS/server.key" && -s "$PASSFILE" ]]; then
		return 0
	fi
	rm -rf "$TLS"
	mkdir -p "$TLS"
	chmod 700 "$TLS"
	(
		cd "$TLS"
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout ca.key -out ca.pem \
			-subj "/CN=quell test CA" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
			-extfile server.ext -out server.pem
		# Hex only: nothing a URL would have to escape.
		printf 'pw-%s\n' "$(openssl rand -hex 16)" >password
		chmod 600 server.key ca.key password
	) >>"$LOG" 2>&1 || die "openssl could not make the test CA and certificate"
}

print_env() {
	local port
	port="$(<"$PORTFILE")"
	echo "QUELL_TEST_REDIS_URL=redis://127.0.0.1:$port"
	echo "QUELL_TEST_REDIS_DIR=$DATA"
	echo "QUELL_TEST_REDIS_CTL=$SELF"
	if [[ -s "$TLSPORTFILE" && -s "$PASSFILE" ]]; then
		echo "QUELL_TEST_REDIS_TLS_URL=rediss://quell:$(<"$PASSFILE")@127.0.0.1:$(<"$TLSPORTFILE")"
		echo "QUELL_TEST_REDIS_CA=$TLS/ca.pem"
	fi
}

write_conf() {
	local port="$1" tls_port="$2"
	cat >"$CONF" <<EOF
# generated by scripts/services/redis.sh
bind 127.0.0.1
protected-mode yes
port $port
daemonize yes
pidfile $PIDFILE
logfile $LOG
loglevel notice
dir $DATA
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
save ""
databases 16
# TLS (no client certificates) and the ACL user the rediss:// URL logs in as.
tls-port $tls_port
tls-cert-file $TLS/server.pem
tls-key-file $TLS/server.key
tls-ca-cert-file $TLS/ca.pem
tls-auth-clients no
user quell on >$(<"$PASSFILE") ~* &* +@all
EOF
	chmod 600 "$CONF"
}

# launch PORT TLS_PORT: start redis-server with the existing conf and data; wait for PONG.
launch() {
	local port="$1" tls_port="$2" i out
	port_open "$port" && die "port 127.0.0.1:$port is already taken by another process"
	port_open "$tls_port" && die "port 127.0.0.1:$tls_port is already taken by another process"
	make_tls
	write_conf "$port" "$tls_port"
	rm -f "$PIDFILE"
	# fd 9 is our lock: do not leak it into the daemon.
	redis-server "$CONF" 9>&- >>"$LOG" 2>&1 || die "redis-server failed to start"
	for ((i = 0; i < 300; i++)); do
		out="$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)"
		if [[ "$out" == PONG ]] && running_pid >/dev/null && port_open "$tls_port"; then
			return 0
		fi
		sleep 0.1
	done
	die "redis-server on 127.0.0.1:$port did not answer PING within 30s"
}

do_stop() {
	local pid i
	if pid="$(running_pid)"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "pid $pid ignored SIGTERM for 30s; killing"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		kill -0 "$pid" 2>/dev/null && die "could not stop redis-server pid $pid"
		say "stopped (pid $pid)"
	fi
	rm -f "$PIDFILE"
}

cmd="${1:-}"
case "$cmd" in
start | stop | restart | env | status) ;;
*)
	echo "usage: $0 start|stop|restart|env|status" >&2
	exit 2
	;;
esac

mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9

case "$cmd" in
start)
	if is_running && tls_running; then
		print_env
		exit 0
	fi
	ensure_installed
	if is_running; then
		# Started by an older version of this script, without TLS: add it, data kept.
		do_stop
		port="$(<"$PORTFILE")"
		tls_port="$(free_port)"
		echo "$tls_port" >"$TLSPORTFILE"
		launch "$port" "$tls_port"
		say "restarted on 127.0.0.1:$port with TLS on 127.0.0.1:$tls_port (pid $(<"$PIDFILE")), data kept"
		print_env
		exit 0
	fi
	do_stop # a half-dead leftover
	rm -rf "$DATA" "$TLS"
	mkdir -p "$DATA"
	: >"$LOG"
	port="$(free_port)"
	tls_port="$(free_port)"
	while [[ "$tls_port" == "$port" ]]; do tls_port="$(free_port)"; done
	echo "$port" >"$PORTFILE"
	echo "$tls_port" >"$TLSPORTFILE"
	launch "$port" "$tls_port"
	say "started on 127.0.0.1:$port, TLS on 127.0.0.1:$tls_port (pid $(<"$PIDFILE"))"
	print_env
	;;
restart)
	[[ -s "$PORTFILE" && -d "$DATA" ]] || die "restart: never started (no $PORTFILE); run start first"
	ensure_installed
	do_stop
	port="$(<"$PORTFILE")"
	if [[ ! -s "$TLSPORTFILE" ]]; then free_port >"$TLSPORTFILE"; fi
	tls_port="$(<"$TLSPORTFILE")"
	launch "$port" "$tls_port"
	say "restarted on 127.0.0.1:$port, TLS on 127.0.0.1:$tls_port (pid $(<"$PIDFILE")), data kept"
	print_env
	;;
stop)
	do_stop
	;;
env)
	is_running || die "not running; run '$SELF start' first"
	tls_running || say "warning: running without its TLS port (started by an older redis.sh); '$SELF start' adds it"
	print_env
	;;
status)
	if is_running; then
		if tls_running; then
			say "running on 127.0.0.1:$(<"$PORTFILE"), TLS on 127.0.0.1:$(<"$TLSPORTFILE") (pid $(<"$PIDFILE"))"
		else
			say "running on 127.0.0.1:$(<"$PORTFILE") without TLS (pid $(<"$PIDFILE")); 'start' adds it"
		fi
	else
		say "not running"
		exit 1
	fi
	;;
esac
