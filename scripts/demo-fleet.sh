#!/bin/bash
# pam_jwt fleet demo (`make demo`, after scripts/demo.sh; as root): two hosts share one
# session store on Redis. A session opened on host A logs in over ssh on host B; revoked
# on host A, the live login on host B is ended by host B's pam-jwtd.
#
# The hosts are made on this machine (tests/integration/helpers/fleet.sh): redis-server
# in a network namespace of its own behind a bridge; each host a network namespace on
# that bridge with its own mount namespace (a private tmpfs /run holding its
# pam_jwt.conf and pam-jwtd socket) and pid namespace, running its own sshd and
# pam-jwtd. Everything it makes (namespaces, a user, two PAM services, keys, processes)
# is removed when it ends, also on failure or Ctrl-C; no existing file in /etc/pam.d is
# changed.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/${BUILD:-build}}
source "$TOP/tests/integration/common.sh"
source "$TOP/tests/integration/helpers/fleet.sh"

say() { printf '%s\n' "$*"; }
step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
[ -t 1 ] || step() { printf '\n== %s\n' "$*"; }
die() { say "demo-fleet: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it makes namespaces, a user and PAM services): sudo make demo"
pj_have_build && [ -x "$BUILD_DIR/pam-jwtd" ] || die "the build is missing: run make first"
for t in ip nsenter unshare setpriv redis-server pamtester ssh-keygen /usr/sbin/sshd; do
	command -v "$t" >/dev/null || die "$t is not installed (make deps)"
done
"$PJ_PY" -c 'import paramiko' 2>/dev/null || die "python3-paramiko is not installed (make deps)"

PJF=pjf$$
NETNS_DIR_BEFORE=$([ -e /run/netns ] && echo yes)
PJ_SERVICE_PREFIX=pamjwt-demo-$$
PJ_USER_PREFIX=pjdemo
pj_tmpdir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.demo.example
AUD=pamjwt-demo
pj_keygen ES256 idp && pj_keygen ES256 fleet || die "keygen failed"
PW=$PJ_TMP/redis.pw
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$PW"
chmod 0600 "$PW"
pj_add_user -m -c "pam_jwt fleet demo user" || die "cannot add a user"
U=$PJ_USER
pjf_services || die "cannot write the PAM services"
SSHD_SVC=$PJF_SSHD_SVC SVC=$PJF_SVC

pjf_net && pjf_redis "$PW" || die "redis-server did not start in its network namespace"
NAME=([1]=A [2]=B)
for n in 1 2; do
	pjf_host "$n" || die "host ${NAME[n]}: no namespaces (unshare, nsenter)"
	pjf_conf "$n" "$ISS" "$AUD" "$K/idp.jwks" "$K/fleet.key" "$PW" "revoke_kill_after = 3s"
	pjf_sshd "$n" "$PJ_SSHD" "$U" || die "host ${NAME[n]}: sshd did not start"
	pjf_daemon "$n" || die "host ${NAME[n]}: pam-jwtd did not start"
done
A=1 B=2

step "Set-up: two hosts and one Redis (temporary, removed at the end)"
say "  network      namespace ${PJF}net, bridge br0 $PJF_REDIS_ADDR/24 (exists only in the namespaces)"
say "  redis        redis-server on $PJF_REDIS_ADDR:$PJF_REDIS_PORT, default user off, ACL user"
say "               pamjwt whose password is in a root-only file"
for n in 1 2; do
	say "  host ${NAME[n]}       namespace ${PJF}h$n, eth0 $(pjf_addr "$n"), own /run (tmpfs) and pid"
	say "               namespace (boot $(pjf_boot "$n" | cut -c1-12)...), own sshd and pam-jwtd"
done
say "  config       /run/pam_jwt.conf on each host (the same text on both):"
sed 's/^/                 /' "$(pjf_root 1)/run/pam_jwt.conf"
say "  PAM services /etc/pam.d/$SSHD_SVC (sshd), /etc/pam.d/$SVC (pamtester),"
say "               both with config=/run/pam_jwt.conf: each host reads its own"
say "  user         $U (ssh logins come from the bridge's namespace)"

step "1. Host A: log in with a JWT; the session is recorded in Redis"
pj_token_file login --key "$K/idp.key" --kid idp -u "$U" --iss "$ISS" --aud "$AUD" --ttl 15m
say "  A\$ pamtester $SVC $U authenticate open_session    (token on stdin)"
pjf_in "$A" pamtester -v "$SVC" "$U" authenticate open_session <"$PJ_TOKEN" >"$PJ_TMP/a.out" 2>&1
SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/a.out" | cut -d' ' -f3)
[ -n "$SID" ] || { sed 's/^/  /' "$PJ_TMP/a.out"; die "no session ID was announced on host A"; }
printf '%s\n' "$SID" >"$PJ_TMP/session-id"
DIGEST=$(printf '%s' "$SID" | sha256sum | cut -c1-12)
say "  pamtester    Session ID: ${SID:0:10}...    (shortened here: it is a credential)"
say "  B\$ pam-jwtctl sessions -u $U      (host B sees it: the store is shared)"
pjf_in "$B" "$PJ_CTL" sessions -c /run/pam_jwt.conf -u "$U" | sed 's/^/    /'

step "2. Host B: ssh in with the session ID host A issued, and stay logged in"
say "  \$ ssh $U@$(pjf_addr "$B")    (keyboard-interactive; the answer is the session ID)"
pjf_hold "$B" "$U" "$PJ_TMP/session-id" "$PJ_TMP/login" ||
	{ cat "$PJ_TMP/login/status" 2>/dev/null; die "the ssh login on host B failed"; }
LOGIN=$PJF_HOLD_PID
echo "RUN who id -un; hostname -I" >"$PJ_TMP/login/ctl"
pjf_wait_for "" "$PJ_TMP/login/who.rc"
say "  login        LOGGED IN on host B; inside it: $(tr '\n' ' ' <"$PJ_TMP/login/who.out")"
grep -m1 'Accepted keyboard-interactive' "$PJ_TMP/h$B/sshd.log" | sed 's/^/  sshd on B    /'
say "  A\$ pam-jwtctl sessions -u $U      (the ssh login is a session of its own, opened with"
say "               the first one; its PID is sshd's on host B, in host B's pid namespace)"
pjf_in "$A" "$PJ_CTL" sessions -c /run/pam_jwt.conf -u "$U" | sed 's/^/    /'

step "3. Host A: revoke the session; host B's pam-jwtd ends the login on host B"
say "  A\$ pam-jwtctl revoke --session $DIGEST"
T0=$(date +%s%3N)
pjf_in "$A" "$PJ_CTL" revoke -c /run/pam_jwt.conf --session "$DIGEST" | sed 's/^/  /'
if pjf_wait_for closed "$PJ_TMP/login/closed"; then
	MS=$(($(awk '{ printf "%.0f", $2 * 1000 }' "$PJ_TMP/login/closed") - T0))
	say "  login        the ssh connection to host B closed $MS ms after the revocation"
else
	say "  login        the ssh login on host B is still open"
fi
grep 'ended: SIGHUP' "$PJ_TMP/h$B/pam-jwtd.log" | sed 's/^/  pam-jwtd B   /'
if grep -q 'ended: SIGHUP' "$PJ_TMP/h$A/pam-jwtd.log"; then
	say "  pam-jwtd A   signalled something: unexpected"
else
	say "  pam-jwtd A   sent no signal: the login does not run on its host"
fi
kill "$LOGIN" 2>/dev/null

step "4. Both hosts refuse the session ID now"
for n in 1 2; do
	if pjf_in "$n" pamtester "$SVC" "$U" authenticate <"$PJ_TMP/session-id" >/dev/null 2>&1; then
		say "  host ${NAME[n]}       LOGGED IN: unexpected"
	else
		say "  host ${NAME[n]}       REFUSED (pamtester $SVC $U authenticate)"
	fi
done

step "Clean-up"
say "  removing the namespaces, their processes, /etc/pam.d/$SSHD_SVC, /etc/pam.d/$SVC, user $U"
HOSTPIDS=("${PJF_PID[@]}")
pj_run_cleanup
for _ in $(seq 100); do
	left=""
	for p in "${HOSTPIDS[@]}"; do kill -0 "$p" 2>/dev/null && left=yes; done
	[ -z "$left" ] && break
	sleep 0.05
done
if [ -z "$left" ] && ! ip netns list 2>/dev/null | grep -q "^$PJF" &&
	[ "$([ -e /run/netns ] && echo yes)" = "$NETNS_DIR_BEFORE" ] &&
	! getent passwd "$U" >/dev/null && [ ! -e "/etc/pam.d/$SVC" ] && [ ! -e "$PJ_TMP" ]; then
	say "  done: nothing of the fleet demo is left"
else
	say "  warning: something could not be removed" >&2
	exit 1
fi
