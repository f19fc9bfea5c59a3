#!/usr/bin/env bash
# Real kube-apiserver + etcd on loopback for quell's tests (no kubelet,
# scheduler or controller-manager: objects are stored and served, nothing runs).
#
# kube-apiserver is built once with the Go toolchain from the k8s.io/kubernetes
# module (scripts/services/kube-apiserver/) into a cache outside the repo;
# etcd is Debian's etcd-server package.
#
#   kube.sh start     build/install if needed, generate fresh certs, start etcd
#                     and kube-apiserver on free 127.0.0.1 ports, write the
#                     kubeconfig and the quell-viewer RBAC; no-op when running.
#   kube.sh restart   stop + start on the SAME ports, certs and data kept.
#   kube.sh stop      stop both and wait until they are gone.
#   kube.sh env       print QUELL_TEST_KUBECONFIG / _KUBE_SERVER / _KUBE_CTL.
#   kube.sh status    exit 0 when running.
#   kube.sh build     only build (or find cached) kube-apiserver.
#
# Identities (client certificates, in the kubeconfig):
#   context quell-admin  (current) user quell-admin, group system:masters
#   context quell-viewer           user quell-viewer: get/list/watch on pods,
#                                  statefulsets and namespaces only
#
# State: ${QUELL_TEST_STATE:-<repo>/target/test-services}/kube/
set -Eeuo pipefail

SERVICE=kube
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
MODDIR="$HERE/kube-apiserver"
STATE_ROOT="${QUELL_TEST_STATE:-$REPO/target/test-services}"
STATE="$STATE_ROOT/$SERVICE"
PKI="$STATE/pki"
ETCD_DATA="$STATE/etcd-data"
PORTS="$STATE/ports"
KUBECONFIG_FILE="$STATE/kubeconfig"
API_PID="$STATE/kube-apiserver.pid"
ETCD_PID="$STATE/etcd.pid"
API_LOG="$STATE/kube-apiserver.log"
ETCD_LOG="$STATE/etcd.log"
KUBE_VERSION="$(sed -n -E 's:^(require )?[[:space:]]*k8s\.io/kubernetes (v[0-9][^[:space:]]*)[[:space:]]*$:\2:p' "$MODDIR/go.mod" | head -n1)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/quell-test/kube-$KUBE_VERSION"
APISERVER="$CACHE/kube-apiserver"
BUILD_LOG="$CACHE/build.log"

DIE_LOGS=("$ETCD_LOG" "$API_LOG")
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[[ -n "$KUBE_VERSION" ]] || die "cannot read the k8s.io/kubernetes version from $MODDIR/go.mod"

# ---------------------------------------------------------------- binaries

ensure_apiserver() {
	[[ -x "$APISERVER" ]] && return 0
	command -v go >/dev/null || die "go not found on PATH (needed once to build kube-apiserver $KUBE_VERSION)"
	mkdir -p "$CACHE"
	(
		flock 8
		[[ -x "$APISERVER" ]] && exit 0
		say "building kube-apiserver $KUBE_VERSION from the k8s.io/kubernetes module (once; takes a while; log: $BUILD_LOG)"
		local goflags minor="${KUBE_VERSION#v1.}"
		minor="${minor%%.*}"
		# Keep the caller's GOFLAGS but force -mod=mod.
		goflags="$(printf '%s\n' ${GOFLAGS:-} | { grep -v '^-mod=' || true; } | tr '\n' ' ')-mod=mod"
		local t0=$SECONDS
		if ! (cd "$MODDIR" && GOFLAGS="$goflags" go build -p 2 -trimpath \
			-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
			-o "$APISERVER.tmp" .) >"$BUILD_LOG" 2>&1; then
			tail -n 40 "$BUILD_LOG" >&2
			echo "$SERVICE: error: go build of kube-apiserver failed (log: $BUILD_LOG)" >&2
			exit 1
		fi
		mv "$APISERVER.tmp" "$APISERVER"
		say "built $APISERVER in $((SECONDS - t0))s"
	) 8>"$CACHE/.lock" || die "could not build kube-apiserver"
}

ensure_etcd() {
	if ! command -v etcd >/dev/null; then
		say "installing Debian's etcd-server package"
		apt_install etcd-server || {
			tail -n 40 "$STATE_ROOT/apt.log" >&2 || true
			die "apt-get install etcd-server failed (see $STATE_ROOT/apt.log)"
		}
	fi
	command -v etcd >/dev/null || die "etcd not found after installing etcd-server"
}

# kubectl for the RBAC setup: the machine's, else Debian's kubernetes-client,
# else none (then the API is driven with curl).
KUBECTL=""
find_kubectl() {
	if command -v kubectl >/dev/null; then
		KUBECTL="$(command -v kubectl)"
		return 0
	fi
	say "kubectl missing; trying Debian's kubernetes-client package"
	if apt_install kubernetes-client && command -v kubectl >/dev/null; then
		KUBECTL="$(command -v kubectl)"
	else
		say "no kubectl to be had; using curl against the API for the RBAC setup"
	fi
}

# ---------------------------------------------------------------- state

pid_alive() { # pidfile pattern
	local pid
	[[ -s "$1" ]] || return 1
	pid="$(<"$1")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
	echo "$pid"
}

port_of() { sed -n "s/^$1=//p" "$PORTS"; }

is_running() {
	[[ -s "$PORTS" ]] && pid_alive "$ETCD_PID" etcd >/dev/null &&
		pid_alive "$API_PID" kube-apiserver >/dev/null && port_open "$(port_of secure)"
}

print_env() {
	echo "QUELL_TEST_KUBECONFIG=$KUBECONFIG_FILE"
	echo "QUELL_TEST_KUBE_SERVER=https://127.0.0.1:$(port_of secure)"
	echo "QUELL_TEST_KUBE_CTL=$SELF"
}

stop_pid() { # pidfile pattern name seconds
	local pid
	if pid="$(pid_alive "$1" "$2")"; then
		stop_and_wait "$pid" "$3" "$4"
		say "stopped $3 (pid $pid)"
	fi
	rm -f "$1"
}

do_stop() {
	stop_pid "$API_PID" kube-apiserver kube-apiserver 60
	stop_pid "$ETCD_PID" etcd etcd 30
}

# ---------------------------------------------------------------- certs

# sign NAME SUBJECT EXTENSIONS: key + cert signed by the CA.
sign() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/$1.key" 2>/dev/null
	openssl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
	printf '%b' "$3" >"$PKI/$1.ext"
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
		-extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
	rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}

gen_certs() {
	rm -rf "$PKI"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=quell-test-ca" -days 825 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$PKI/ca.crt" 2>/dev/null
	local leaf='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
	sign apiserver "/CN=kube-apiserver" \
		"${leaf}extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
	sign quell-admin "/O=system:masters/CN=quell-admin" "${leaf}extendedKeyUsage=clientAuth\n"
	sign quell-viewer "/CN=quell-viewer" "${leaf}extendedKeyUsage=clientAuth\n"
	# Service-account token signing key pair.
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
	openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() {
	local server="https://127.0.0.1:$(port_of secure)"
	umask 077
	cat >"$KUBECONFIG_FILE.tmp" <<EOF
# generated by scripts/services/kube.sh
apiVersion: v1
kind: Config
clusters:
- name: quell-test
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: quell-admin
  user:
    client-certificate-data: $(b64 "$PKI/quell-admin.crt")
    client-key-data: $(b64 "$PKI/quell-admin.key")
- name: quell-viewer
  user:
    client-certificate-data: $(b64 "$PKI/quell-viewer.crt")
    client-key-data: $(b64 "$PKI/quell-viewer.key")
contexts:
- name: quell-admin
  context:
    cluster: quell-test
    user: quell-admin
    namespace: default
- name: quell-viewer
  context:
    cluster: quell-test
    user: quell-viewer
    namespace: default
current-context: quell-admin
preferences: {}
EOF
	mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
	umask 022
}

# ---------------------------------------------------------------- processes

launch_etcd() {
	local cp pp pid i
	cp="$(port_of etcd_client)"
	pp="$(port_of etcd_peer)"
	port_open "$cp" && die "port 127.0.0.1:$cp (etcd client) is already taken by another process"
	port_open "$pp" && die "port 127.0.0.1:$pp (etcd peer) is already taken by another process"
	mkdir -p "$ETCD_DATA"
	chmod 700 "$ETCD_DATA"
	# setsid: own session, so it outlives the caller's process group; fd 9 is
	# our lock and must not leak into the daemon.
	setsid etcd --name quell --data-dir "$ETCD_DATA" \
		--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
		--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "quell=http://127.0.0.1:$pp" --initial-cluster-state new \
		--initial-cluster-token quell-test --quota-backend-bytes 2147483648 \
		--logger zap --log-outputs stderr \
		</dev/null >>"$ETCD_LOG" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$ETCD_PID"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || die "etcd exited during startup"
		if curl -fsS --max-time 2 "http://127.0.0.1:$cp/health" 2>/dev/null | grep -q '"health":"true"'; then
			return 0
		fi
		sleep 0.1
	done
	die "etcd did not become healthy within 60s"
}

curl_admin() {
	curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/quell-admin.crt" --key "$PKI/quell-admin.key" "$@"
}

launch_apiserver() {
	local sp pid i out
	sp="$(port_of secure)"
	port_open "$sp" && die "port 127.0.0.1:$sp is already taken by another process"
	mkdir -p "$STATE/apiserver-certs"
	setsid "$APISERVER" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$sp" \
		--cert-dir="$STATE/apiserver-certs" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--etcd-servers="http://127.0.0.1:$(port_of etcd_client)" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 \
		--authorization-mode=Node,RBAC \
		--disable-admission-plugins=ServiceAccount \
		--endpoint-reconciler-type=none \
		--allow-privileged=true \
		--profiling=false \
		</dev/null >>"$API_LOG" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$API_PID"
	for ((i = 0; i < 1800; i++)); do
		kill -0 "$pid" 2>/dev/null || die "kube-apiserver exited during startup"
		out="$(curl_admin "https://127.0.0.1:$sp/readyz" 2>/dev/null || true)"
		[[ "$out" == ok ]] && return 0
		sleep 0.1
	done
	die "kube-apiserver /readyz did not return ok within 180s"
}

RBAC_YAML='apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: quell-viewer
rules:
- apiGroups: [""]
  resources: ["pods", "namespaces"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: quell-viewer
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: quell-viewer
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: quell-viewer
'

rbac_with_curl() {
	local server="https://127.0.0.1:$(port_of secure)" base="/apis/rbac.authorization.k8s.io/v1" code
	local role='{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"quell-viewer"},"rules":[{"apiGroups":[""],"resources":["pods","namespaces"],"verbs":["get","list","watch"]},{"apiGroups":["apps"],"resources":["statefulsets"],"verbs":["get","list","watch"]}]}'
	local binding='{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"quell-viewer"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"quell-viewer"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"quell-viewer"}]}'
	code="$(curl_admin -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -X POST --data "$role" "$server$base/clusterroles")"
	[[ "$code" == 201 || "$code" == 409 ]] || return 1
	code="$(curl_admin -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -X POST --data "$binding" "$server$base/clusterrolebindings")"
	[[ "$code" == 201 || "$code" == 409 ]] || return 1
}

setup_rbac() {
	find_kubectl
	if [[ -n "$KUBECTL" ]]; then
		if printf '%s' "$RBAC_YAML" | "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --context quell-admin \
			apply -f - >>"$STATE/kubectl.log" 2>&1; then
			return 0
		fi
		say "kubectl apply failed (see $STATE/kubectl.log); falling back to curl"
	fi
	rbac_with_curl || die "could not create the quell-viewer ClusterRole/ClusterRoleBinding"
}

# ---------------------------------------------------------------- main

cmd="${1:-}"
case "$cmd" in
start | stop | restart | env | status | build) ;;
*)
	echo "usage: $0 start|stop|restart|env|status|build" >&2
	exit 2
	;;
esac

mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9

case "$cmd" in
build)
	ensure_apiserver
	echo "$APISERVER"
	;;
start)
	if is_running; then
		print_env
		exit 0
	fi
	command -v openssl >/dev/null || die "openssl not found"
	command -v curl >/dev/null || die "curl not found"
	ensure_etcd
	ensure_apiserver
	do_stop # a half-dead leftover
	rm -rf "$ETCD_DATA" "$KUBECONFIG_FILE"
	: >"$ETCD_LOG"
	: >"$API_LOG"
	: >"$STATE/kubectl.log"
	sp="$(free_port)"
	cp="$(free_port)"
	pp="$(free_port)"
	while [[ "$cp" == "$sp" ]]; do cp="$(free_port)"; done
	while [[ "$pp" == "$sp" || "$pp" == "$cp" ]]; do pp="$(free_port)"; done
	printf 'secure=%s\netcd_client=%s\netcd_peer=%s\n' "$sp" "$cp" "$pp" >"$PORTS"
	gen_certs
	write_kubeconfig
	launch_etcd
	launch_apiserver
	setup_rbac
	say "kube-apiserver $KUBE_VERSION ready on https://127.0.0.1:$sp (etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p') on 127.0.0.1:$cp)"
	print_env
	;;
restart)
	[[ -s "$PORTS" && -f "$PKI/ca.crt" && -d "$ETCD_DATA" ]] || die "restart: never started; run start first"
	ensure_etcd
	ensure_apiserver
	do_stop
	launch_etcd
	launch_apiserver
	say "restarted on https://127.0.0.1:$(port_of secure), certs and data kept"
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
		say "running on https://127.0.0.1:$(port_of secure) (apiserver pid $(<"$API_PID"), etcd pid $(<"$ETCD_PID"))"
	else
		say "not running"
		exit 1
	fi
	;;
esac
