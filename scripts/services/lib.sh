# Shared by the service scripts (sourced, not run). Each script sets SERVICE,
# STATE_ROOT and DIE_LOGS (the log files whose tail explains a failure) first.

say() { echo "$SERVICE: $*" >&2; }

die() {
	local f
	for f in "${DIE_LOGS[@]}"; do
		if [[ -s "$f" ]]; then
			echo "---- last 40 lines of $f ----" >&2
			tail -n 40 "$f" >&2 || true
		fi
	done
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

# stop_and_wait PID NAME SECONDS: SIGTERM, wait up to SECONDS for the process to go,
# then SIGKILL; fails (die) if it is still there.
stop_and_wait() {
	local pid="$1" name="$2" secs="$3" i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) ignored SIGTERM for ${secs}s; killing"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if kill -0 "$pid" 2>/dev/null; then die "could not stop $name pid $pid"; fi
}
