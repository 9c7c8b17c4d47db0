# A fleet of hosts on one machine (root), for tests/integration/test_fleet.sh and
# scripts/demo-fleet.sh. Source after common.sh, which supplies pj_defer and
# pj_redis_start.
#
# - The network: a network namespace "${PJF}net" with a bridge br0 (10.77.0.1/24), where
#   redis-server listens on 10.77.0.1:6379 and the ssh clients run.
# - Host N: a network namespace "${PJF}hN" whose eth0 (10.77.0.1N/24) is one end of a
#   veth pair; the other end is a port of br0. In it, a process in a mount namespace of
#   its own, with a private tmpfs on /run, is pid 1 of a pid namespace of its own (so
#   a session's recorded boot, the boot id hashed with the pid namespace, is the host's).
#   Every program of the host (sshd, pam-jwtd, pamtester, pam-jwtctl) is started inside
#   all three namespaces by pjf_in; the daemons are children of that pid 1 (setsid -f),
#   and killing it ends them all.
# Nothing is added to the root namespace's interfaces or routes, and the addresses exist
# only inside the namespaces, so concurrent fleets do not collide. The names of the
# network namespaces live in /run/netns (made by `ip netns add` if missing; removed again
# at exit if this fleet made it and it is empty).
#
# Namespaces are entered with nsenter, not `ip netns exec` or `ip -n`: those make the
# root mount a slave first, which fails in a chroot whose root is not a mount point.
# For the same reason the host's mount namespace is made with --propagation unchanged
# and only then made private, from / or, failing that, from /run.

PJF_SUBNET=10.77.0
PJF_REDIS_ADDR=$PJF_SUBNET.1
PJF_REDIS_PORT=6379
declare -A PJF_PID=()

# pjf_addr N: host N's address
pjf_addr() { echo "$PJF_SUBNET.1$1"; }

# pjf_net_run CMD...: run CMD in the network namespace of the bridge (Redis, clients)
pjf_net_run() { nsenter --net="/run/netns/${PJF}net" -- "$@"; }

# pjf_in N CMD...: run CMD on host N (its network, mount and pid namespaces). -r: entering
# a mount namespace puts a process at that namespace's root, which in a chroot is not
# the chroot; the root of host N's pid 1 is.
pjf_in() {
	local n=$1
	shift
	nsenter -t "${PJF_PID[$n]}" -n -m -p -r --wd=/ -- "$@"
}

# pjf_root N: the path of host N's root as seen from here (its private /run included)
pjf_root() { echo "/proc/${PJF_PID[$1]}/root"; }

# pjf_netns_dir_drop: remove /run/netns if this fleet made it and nothing is left in it
pjf_netns_dir_drop() {
	[ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ] || return 0
	while umount /run/netns 2>/dev/null; do :; done
	rmdir /run/netns
}

# pjf_net: the network namespace with the bridge. Sets PJF if unset.
pjf_net() {
	PJF=${PJF:-pjf$$}
	[ -e /run/netns ] || pj_defer pjf_netns_dir_drop
	ip netns add "${PJF}net" || return 1
	pj_defer ip netns del "${PJF}net"
	pjf_net_run ip link set lo up &&
		pjf_net_run ip link add br0 type bridge &&
		pjf_net_run ip addr add "$PJF_REDIS_ADDR/24" dev br0 &&
		pjf_net_run ip link set br0 up
}

# pjf_host N: host N, its veth on the bridge, its namespaces and its pid 1 (PJF_PID[N],
# a pid of this namespace); /run there is an empty private tmpfs but for /run/sshd
# (sshd's privilege separation directory) and /run/pam_jwt
pjf_host() {
	local n=$1 ns=${PJF}h$1 upid i
	ip netns add "$ns" || return 1
	pj_defer ip netns del "$ns"
	pjf_net_run ip link add "h$n" type veth peer name eth0 netns "$ns" &&
		pjf_net_run ip link set "h$n" master br0 up &&
		nsenter --net="/run/netns/$ns" -- ip link set lo up &&
		nsenter --net="/run/netns/$ns" -- ip addr add "$(pjf_addr "$n")/24" dev eth0 &&
		nsenter --net="/run/netns/$ns" -- ip link set eth0 up || return 1
	# pid 1 reaps whatever is orphaned on the host; --kill-child: it dies with unshare,
	# and unshare (--pdeathsig) with this shell
	setpriv --pdeathsig KILL -- nsenter --net="/run/netns/$ns" -- \
		unshare --mount --propagation unchanged --pid --fork --mount-proc --kill-child=KILL -- \
		/bin/sh -c '
		mount --make-rprivate / 2>/dev/null || mount --make-rprivate /run || exit 1
		mount -t tmpfs -o mode=0755,size=32m "pjf-run-$1" /run || exit 1
		mkdir -m 0755 /run/sshd && mkdir -m 0700 /run/pam_jwt && : >/run/.pjf-ready || exit 1
		exec "$2" -c "
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)"' sh "$n" "$PJ_PY" &
	upid=$!
	disown "$upid"
	pj_defer kill -KILL "$upid"
	for ((i = 0; i < 200; i++)); do
		PJF_PID[$n]=$(pgrep -P "$upid" | head -1)
		[ -n "${PJF_PID[$n]}" ] && [ -e "/proc/${PJF_PID[$n]}/root/run/.pjf-ready" ] && return 0
		kill -0 "$upid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# pjf_boot N: the boot of host N as pam_jwt records it for a session's leader (the first
# 32 hex digits of SHA-256 over the boot id and the pid namespace)
pjf_boot() {
	pjf_in "$1" /bin/sh -c 'printf "%s pidns %s" "$(cat /proc/sys/kernel/random/boot_id)" \
		"$(stat -L -c %d:%i /proc/self/ns/pid)" | sha256sum | cut -c1-32'
}

# pjf_redis PASSWORD_FILE: redis-server in the network namespace on
# $PJF_REDIS_ADDR:$PJF_REDIS_PORT (and on $PJ_TMP/redis.sock), the default user off and
# one ACL user "pamjwt" with the password in PASSWORD_FILE (a root-only ACL file, so that
# the password is in no command line)
pjf_redis() {
	(umask 077 && printf 'user default off\nuser pamjwt on >%s ~* &* +@all\n' "$(cat "$1")" \
		>"$PJ_TMP/redis.acl") || return 1
	PJ_REDIS_EXEC=(nsenter --net="/run/netns/${PJF}net" --)
	pj_redis_start redis --bind "$PJF_REDIS_ADDR" --port "$PJF_REDIS_PORT" \
		--aclfile "$PJ_TMP/redis.acl"
	local rc=$?
	PJ_REDIS_EXEC=()
	return $rc
}

# pjf_rcli PASSWORD_FILE ARGS...: redis-cli as the ACL user, over the unix socket
pjf_rcli() {
	local pw=$1
	shift
	REDISCLI_AUTH=$(cat "$pw") redis-cli -s "$PJ_TMP/redis.sock" --user pamjwt \
		--no-auth-warning "$@"
}

# pjf_conf N ISSUER AUDIENCE JWKS SIGNING_KEY PASSWORD_FILE [LINE...]: host N's
# /run/pam_jwt.conf (root, 0600): the store on the fleet's Redis, prefix $PJF, as the ACL
# user; its store_dir (unused) and pam-jwtd socket on the host's own /run; no tokens from
# the session line; sweeps an hour apart (so that only the announcement of a revocation
# can end a login in time); then LINE... as given
pjf_conf() {
	local f
	f=$(pjf_root "$1")/run/pam_jwt.conf
	(umask 077 && {
		printf '%s\n' "issuer = $2" "audience = $3" "jwks = $4" \
			"store = redis://pamjwt@$PJF_REDIS_ADDR:$PJF_REDIS_PORT" \
			"redis_password_file = $6" "redis_prefix = $PJF" "store_dir = /run/pam_jwt" \
			"persist_dir = none" "signing_key = $5" "socket_path = /run/pam-jwtd.sock" \
			"issue_tokens = no" "keyring = no" "sweep_interval = 1h"
		shift 6
		[ $# = 0 ] || printf '%s\n' "$@"
	} >"$f")
}

# pjf_services: the two PAM services every host uses, both reading config=/run/pam_jwt.conf
# (each host its own): PJF_SSHD_SVC for sshd (PJ_SSHD, the link to sshd of that name),
# and PJF_SVC for pamtester and pam_drive.py (its session line announces the session ID).
# Names start with $PJ_SERVICE_PREFIX.
pjf_services() {
	PJF_SSHD_SVC=$PJ_SERVICE_PREFIX-sshd
	pj_sshd_link "$PJF_SSHD_SVC" || return 1
	pj_pamd_write "$PJF_SSHD_SVC" <<-EOF || return 1
	auth     required $PJ_MOD config=/run/pam_jwt.conf
	auth     optional pam_permit.so
	account  required $PJ_MOD config=/run/pam_jwt.conf
	account  required pam_permit.so
	session  required $PJ_MOD config=/run/pam_jwt.conf
	password required pam_deny.so
	EOF
	pj_service login <<-EOF || return 1
	auth     required $PJ_MOD config=/run/pam_jwt.conf
	account  required $PJ_MOD config=/run/pam_jwt.conf
	session  required $PJ_MOD config=/run/pam_jwt.conf announce_session
	EOF
	PJF_SVC=$PJ_SERVICE
}

# pjf_sshd N SSHD USERS: host N's sshd (SSHD: the path of a link to /usr/sbin/sshd, whose
# name is the PAM service; see pj_sshd_link) on port 22 of the host's address, allowing
# USERS, public key and keyboard-interactive; host key $PJ_TMP/hN/hostkey(.pub), log
# $PJ_TMP/hN/sshd.log. Waits until it listens.
pjf_sshd() {
	local n=$1 d=$PJ_TMP/h$1 addr
	addr=$(pjf_addr "$n")
	mkdir -p "$d" &&
		ssh-keygen -q -t ed25519 -N '' -C "pamjwt-fleet-h$n" -f "$d/hostkey" </dev/null ||
		return 1
	# only what the fleet needs beside sshd's defaults: its address, its own files (no
	# /etc/ssh), PAM, keyboard-interactive and public keys, and the test user alone
	cat >"$d/sshd_config" <<-EOF
	ListenAddress $addr
	HostKey $d/hostkey
	PidFile /run/sshd.pid
	UsePAM yes
	KbdInteractiveAuthentication yes
	PasswordAuthentication no
	AllowUsers $3
	PermitRootLogin no
	LogLevel VERBOSE
	EOF
	: >"$d/sshd.log"
	pjf_in "$n" setsid -f "$2" -D -f "$d/sshd_config" -E "$d/sshd.log"
	pjf_wait_for "Server listening on $addr port 22" "$d/sshd.log"
}

# pjf_wait_for TEXT FILE: wait up to 10 s for a line with TEXT in FILE
pjf_wait_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -qF -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# pjf_daemon N: host N's pam-jwtd with /run/pam_jwt.conf, log $PJ_TMP/hN/pam-jwtd.log;
# waits until it watches the shared store
pjf_daemon() {
	local log=$PJ_TMP/h$1/pam-jwtd.log
	mkdir -p "$PJ_TMP/h$1"
	: >"$log"
	pjf_in "$1" setsid -f "$BUILD_DIR/pam-jwtd" -c /run/pam_jwt.conf --stderr >"$log" 2>&1
	pjf_wait_for "watching the shared store" "$log"
}

# pjf_known_hosts N...: $PJ_TMP/known_hosts with the host keys of hosts N...
pjf_known_hosts() {
	local n
	for n; do
		printf '%s %s\n' "$(pjf_addr "$n")" "$(cut -d' ' -f1,2 "$PJ_TMP/h$n/hostkey.pub")"
	done >"$PJ_TMP/known_hosts"
}

# pjf_hold N USER CREDFILE DIR: an ssh login to host N by keyboard-interactive with the
# token or session ID in CREDFILE, from the network namespace, held open by
# helpers/kr_ssh_session.py with its files in DIR (DIR/closed: when it ended). Its stdin
# is a FIFO opened read-write, so it never sees end of input: the login lasts until the
# server ends it or the clean-up kills the client. PJF_HOLD_PID: the client's pid.
# Returns 0 once the login holds.
pjf_hold() {
	local n=$1 user=$2 cred=$3 d=$4 i
	mkdir -p "$d" && mkfifo "$d/ctl" || return 1
	pjf_net_run timeout 300 "$PJ_PY" "$PJ_HELPERS/kr_ssh_session.py" "$(pjf_addr "$n")" 22 \
		"$user" "$cred" "$PJ_TMP/h$n/hostkey.pub" "$d" <>"$d/ctl" >"$d/client.log" 2>&1 &
	PJF_HOLD_PID=$!
	disown "$PJF_HOLD_PID"
	pj_defer kill "$PJF_HOLD_PID"
	for ((i = 0; i < 400; i++)); do
		grep -q '^hold ' "$d/hold.out" 2>/dev/null && return 0
		[ -s "$d/status" ] && ! grep -q authenticated "$d/status" && return 1
		kill -0 "$PJF_HOLD_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
