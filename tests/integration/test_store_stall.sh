#!/bin/bash
# The store-stall attack (root): a user who is not in sudoers runs the real sudo, whose PAM
# auth logs in with the user's session ID and so updates the session in the store under
# the store's lock, and stops that sudo (SIGSTOP) at random moments and at the moments
# /proc/locks shows the store's lock held by sudo or a child of sudo, STALL_STOPS times
# (default 100), each time for 0.2-1.4 s, except the first made while the lock was held by
# sudo's side, which lasts 11 s (longer than the store's 10 s wait for its lock); then
# SIGCONT or SIGKILL (helpers/stall_sudo.py, run with the user's ids). Meanwhile root keeps logging in
# through pamtester on the same store (a session-ID login, and a JWT login that opens a
# session) and runs pam-jwtctl lock, unlock and revoke; each must complete, and in well
# under a second (fail if any takes more than 1 s). sudo's real uid is the user's, so the
# user may signal it: no lock that others wait for may ever be held by it.
#
# The pieces (new, uniquely named, removed at exit): a store on /dev/shm, a key, a config,
# two users (U, the attacker, with no sudoers rule; R, whose logins root makes), the PAM
# services pamjwt-stall-PID (for sudo: auth by pam_jwt, which takes the session ID) and
# pamjwt-test-PID-login (root's logins: auth, account and session by pam_jwt), and a
# sudoers drop-in that gives U nothing but the PAM service (Defaults only, no rule).
#
# With STALL_BACKEND=redis (test_store_stall_redis.sh) the same attack goes at the store on
# Redis, whose lock is the lease {stall}:lease: a redis-server of the test's own on
# 127.0.0.1 (the store as an ACL user; the attacker gets a second ACL user that may only
# GET the lease, to know the best moments). The attacker stops sudo while the lease is held
# and sudo has a child (its transaction runs in it), STALL_STOPS times (default 40 here),
# and follows the lease's token while sudo is stopped: none may stay 1 s, and root's
# operations must each take under 2 s (a transaction stopped with sudo would keep the
# lease, and the others waiting, for its 3 s). Then a lease left by a killed
# holder: pam-jwtctl gc (root, so the transaction runs in place) SIGKILLed while it holds
# the lease over 3,000 expired records; the lease must vanish within its 3 s, a login made
# meanwhile succeeds, and gc runs to the end afterwards.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

BACKEND=${STALL_BACKEND:-fs}
if [ "$BACKEND" = redis ]; then STOPS=${STALL_STOPS:-40}; else STOPS=${STALL_STOPS:-100}; fi
LONG_HOLD=11
SEED=${STALL_SEED:-$RANDOM}
MAX_MS=1000
# on Redis a transaction stopped with sudo would hold the others up for the lease's 3 s
[ "$BACKEND" = redis ] && MAX_MS=2000

if [ "$(id -u)" != 0 ]; then
	skip "test_store_stall needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
missing=""
for c in sudo visudo pamtester setpriv $([ "$BACKEND" = redis ] && echo redis-server redis-cli); do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ] || [ ! -r /proc/locks ]; then
	not_ok "sudo, visudo, pamtester, setpriv and /proc/locks are there:${missing:- no /proc/locks}"
	done_testing
	exit
fi
T_START=$SECONDS

pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-stall
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
CONF=$PJ_TMP/pam_jwt.conf
printf 'issuer = %s\naudience = %s\njwks = %s\nstore_dir = %s\n' \
	"$ISS" "$AUD" "$K/es1.jwks" "$PJ_STORE" >"$CONF"
if [ "$BACKEND" = redis ]; then
	PORT=$("$PJ_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	PW=$PJ_TMP/redis.pw
	WPW=$PJ_TMP/watcher.pw
	head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$PW"
	head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WPW"
	chmod 0600 "$PW"
	chmod 0600 "$WPW" # the attacker's, given on its command line: GET on the lease only
	pj_redis_start stall --port "$PORT" --bind 127.0.0.1 --user default off \
		--user pamjwt on ">$(cat "$PW")" '~*' '&*' '+@all' \
		--user watcher on ">$(cat "$WPW")" '~{stall}:lease' '+get' ||
		{ not_ok "redis-server starts on 127.0.0.1:$PORT"; done_testing; exit; }
	printf 'store = redis://pamjwt@127.0.0.1:%s\nredis_password_file = %s\nredis_prefix = stall\n' \
		"$PORT" "$PW" >>"$CONF"
	rcli() { redis-cli -p "$PORT" --user pamjwt --pass "$(cat "$PW")" --no-auth-warning "$@"; }
fi
chmod 0644 "$CONF"
CTL() { "$PJ_CTL" "$1" -c "$CONF" "${@:2}"; }

pj_add_user -M || { not_ok "create the attacking user"; done_testing; exit; }
U=$PJ_USER
pj_add_user -M || { not_ok "create the user root logs in"; done_testing; exit; }
R=$PJ_USER
U_UID=$(id -u "$U")
# kill_leftovers: end, one by one by pid, processes still running as U
kill_leftovers() {
	local p
	for p in $(ps -o pid= -u "$U_UID" -U "$U_UID" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}
pj_defer kill_leftovers
if ! pj_user_reaches "$U" "$(command -v sudo)" "$PJ_PY" /usr/bin/true 2>&1; then
	not_ok "the attacking user can run /bin/sh and reach sudo, python3 and /usr/bin/true"
	done_testing
	exit
fi
echo "# attacker $U (uid $U_UID), root logs in as $R; store $PJ_STORE; seed $SEED"

# --- PAM services and sudoers ---------------------------------------------------------
pj_service login <<EOF || { not_ok "write the login service"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF announce_session
EOF
LOGIN_SVC=$PJ_SERVICE
SUDO_SVC=pamjwt-stall-$$
pj_pamd_write "$SUDO_SVC" <<EOF || { not_ok "write /etc/pam.d/$SUDO_SVC"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required pam_permit.so
session  required pam_permit.so
EOF
# Defaults only: U may run nothing; sudo still authenticates U (through SUDO_SVC) before it
# says so. No mail, no lecture, one try, no timestamp.
if ! pj_sudoers_dropin "pamjwt-stall-$$" <<EOF; then
# pam_jwt store-stall test (PID $$, removed at its exit): $U has no rule
Defaults:$U pam_service=$SUDO_SVC, pam_login_service=$SUDO_SVC
Defaults:$U passwd_tries=1, timestamp_timeout=0, lecture=never
Defaults:$U !mail_no_user, !mail_badpass, !mail_all_cmnds
EOF
	not_ok "sudoers drop-in /etc/sudoers.d/pamjwt-stall-$$ installed"
	done_testing
	exit
fi
ok "sudoers drop-in /etc/sudoers.d/pamjwt-stall-$$ installed (PAM service $SUDO_SVC for $U, no rule)"
sudo_l=$(sudo -l -U "$U" 2>&1)
check "$U is not in sudoers (sudo -l -U: \"$(printf '%s' "$sudo_l" | head -1)\")" \
	eval 'printf "%s" "$sudo_l" | grep -q "not allowed to run sudo"'

# --- sessions -------------------------------------------------------------------------
# open_session USER: a session of USER opened by root through pamtester with a fresh JWT;
# its ID in SID, its digest in DIGEST
open_session() {
	SID="" DIGEST=""
	pj_token_file "open-$1" --key "$K/es1.key" --kid es1 -u "$1" --iss "$ISS" --aud "$AUD" ||
		return 1
	pamtester -v "$LOGIN_SVC" "$1" authenticate open_session <"$PJ_TOKEN" >"$PJ_TMP/open.out" 2>&1 ||
		return 1
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/open.out" | cut -d' ' -f3)
	[ -n "$SID" ] || return 1
	DIGEST=$(printf '%s' "$SID" | sha256sum | cut -d' ' -f1)
}
if open_session "$U"; then
	U_SID=$SID
	U_DIG=$DIGEST
	ok "a session of $U (${DIGEST:0:12}) to log in to sudo with"
	[ "$BACKEND" != redis ] || check "... whose record is on Redis ({stall}:s:DIGEST)" \
		test "$(rcli exists "{stall}:s:$DIGEST")" = 1
else
	not_ok "open a session of $U"
	sed 's/^/#   /' "$PJ_TMP/open.out"
	done_testing
	exit
fi
open_session "$R" || { not_ok "open a session of $R"; done_testing; exit; }
R_SIDF=$PJ_TMP/r.sid
printf '%s\n' "$SID" >"$R_SIDF"
pj_token_file r-jwt --key "$K/es1.key" --kid es1 -u "$R" --iss "$ISS" --aud "$AUD" --ttl 1h ||
	{ not_ok "mint $R's token"; done_testing; exit; }
R_JWT=$PJ_TOKEN

# as_u CMD...: CMD with U's ids, no PAM session
as_u() { setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups --reset-env -- "$@"; }

# sudo with the session ID passes PAM auth (and so uses the store) before it refuses U
rc=0
printf '%s\n' "$U_SID" | as_u sudo -S -k -u root /usr/bin/true >"$PJ_TMP/sudo.out" 2>&1 || rc=$?
check "$U's sudo authenticates with the session ID, then says U is not in sudoers (exit $rc)" \
	eval '[ "$rc" = 1 ] && grep -q "is not in the sudoers file" "$PJ_TMP/sudo.out"'
sed 's/^/#   sudo: /' "$PJ_TMP/sudo.out" | head -3
printf 'pjs_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)" |
	as_u sudo -S -k -u root /usr/bin/true >"$PJ_TMP/sudo.out" 2>&1
check "... while an unknown session ID is refused by PAM" \
	eval '! grep -q "is not in the sudoers file" "$PJ_TMP/sudo.out"'

# --- root's operations, timed, while the attack runs ------------------------------------
LAT=$PJ_TMP/latency.txt
: >"$LAT"
STOPFILE=$PJ_TMP/stop
now_ns() { date +%s%N; }
# timed NAME CMD...: append "NAME MS RC" to $LAT
timed() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$(now_ns)
	"$@" >"$PJ_TMP/op.out" 2>&1 || rc=$?
	t1=$(now_ns)
	echo "$name $(((t1 - t0) / 1000000)) $rc" >>"$LAT"
	[ "$rc" = 0 ] || sed "s/^/$name: /" "$PJ_TMP/op.out" | head -2 >>"$PJ_TMP/op-errors.txt"
}
login_sid() { pamtester -v "$LOGIN_SVC" "$R" authenticate acct_mgmt <"$R_SIDF"; }
login_jwt() {
	pamtester -v "$LOGIN_SVC" "$R" authenticate open_session <"$R_JWT" >"$PJ_TMP/jwt.out" 2>&1 ||
		return 1
	grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/jwt.out" | cut -d' ' -f3 |
		tr -d '\n' | sha256sum | cut -c1-12 >"$PJ_TMP/jwt.digest"
}
root_ops() {
	while [ ! -e "$STOPFILE" ]; do
		timed login-session-id login_sid
		timed login-jwt+open login_jwt
		timed lock CTL lock "$R" --until 1h
		timed unlock CTL unlock "$R"
		timed revoke CTL revoke --session "$(cat "$PJ_TMP/jwt.digest" 2>/dev/null || echo none)"
	done
}
root_ops &
OPS_PID=$!
pj_defer kill "$OPS_PID"

if [ "$BACKEND" = redis ]; then
	LOCK_ID="redis:$PORT:watcher:$(cat "$WPW"):{stall}:lease"
else
	LOCK_ID=$("$PJ_PY" -c '
import os, sys
st = os.stat(sys.argv[1])
print("%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))' "$PJ_STORE/.lock")
fi
echo "# the store lock as the attacker watches it: $LOCK_ID; $STOPS long stops to make"
printf '%s\n' "$U_SID" | as_u timeout 900 "$PJ_PY" "$PJ_HELPERS/stall_sudo.py" \
	"$(command -v sudo)" "$LOCK_ID" "$STOPS" "$SEED" "$LONG_HOLD" >"$PJ_TMP/attack.out" 2>"$PJ_TMP/attack.err"
attack_rc=$?
touch "$STOPFILE"
wait "$OPS_PID" 2>/dev/null
ATTACK=$(tail -1 "$PJ_TMP/attack.out")
echo "# attack: $ATTACK"
sed 's/^/#   attacker: /' "$PJ_TMP/attack.err" | tail -5
# cnt KEY: a count from the attacker's summary
cnt() { printf '%s' "$ATTACK" | "$PJ_PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], -1))' "$1" 2>/dev/null || echo -1; }

check "the attacker ran to the end (exit $attack_rc)" test "$attack_rc" = 0
check "it stopped sudo $(cnt long_stops) times for 0.2-1.4 s each, $(cnt long_holds) of them for $LONG_HOLD s (SIGCONT $(cnt conts), SIGKILL $(cnt kills); $(cnt rounds) sudo runs, $(cnt stop_refused) SIGSTOPs refused outside PAM)" \
	test "$(cnt long_stops)" -ge "$STOPS"
seen=$(($(cnt seen_held_by_sudo) + $(cnt seen_held_by_child)))
check "the store lock was seen held during sudo's auth in $seen rounds (by sudo itself: $(cnt seen_held_by_sudo), by a child of sudo: $(cnt seen_held_by_child))" \
	test "$seen" -ge $((STOPS / 10))
check "no lock holder of sudo's could be signalled by $U (signalable: $(cnt signalable_holders), kill(2) refused: $(cnt unsignalable_holders))" \
	test "$(cnt signalable_holders)" = 0
check "no long stop left the lock held by sudo or its children ($(cnt held_after_stop) of $(cnt long_stops) did)" \
	test "$(cnt held_after_stop)" = 0
if [ "$BACKEND" = redis ]; then
	check "while sudo was stopped, every lease token went within 1 s (longest $(cnt max_lease_ms) ms over $(cnt lease_polls) polls; $(cnt leases_kept_while_stopped) kept longer)" \
		eval '[ "$(cnt leases_kept_while_stopped)" = 0 ] && [ "$(cnt lease_polls)" -gt 100 ]'
fi

# --- latencies ------------------------------------------------------------------------
n_ops=$(wc -l <"$LAT")
n_fail=$(awk '$3 != 0' "$LAT" | wc -l)
read -r lmax lp50 lp99 < <(awk '{ print $2 }' "$LAT" | sort -n | awk '
	{ v[NR] = $1 } END { if (NR == 0) { print "-1 -1 -1"; exit }
	  i50 = int((NR + 1) / 2); i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
	  print v[NR], v[i50], v[i99] }')
echo "# root operations: $n_ops, latency max ${lmax} ms, p50 ${lp50} ms, p99 ${lp99} ms"
for op in login-session-id login-jwt+open lock unlock revoke; do
	awk -v op="$op" '$1 == op { n++; if ($2 > m) m = $2; if ($3 != 0) f++ }
		END { printf "#   %-17s %4d runs, max %5d ms, %d failed\n", op, n, m, f }' "$LAT"
done
check "root kept logging in and running pam-jwtctl during the attack ($n_ops operations)" \
	test "$n_ops" -ge 50
if [ "$n_fail" = 0 ]; then ok "every root operation succeeded"; else
	not_ok "every root operation succeeded ($n_fail of $n_ops failed)"
	sort "$PJ_TMP/op-errors.txt" | uniq -c | sort -rn | head -5 | sed 's/^/#   /'
fi
slow=$(awk -v m="$MAX_MS" '$2 > m' "$LAT" | wc -l)
check "every root operation took at most $MAX_MS ms (max ${lmax} ms, p50 ${lp50} ms; $slow slower)" \
	test "$slow" = 0

# --- Redis: a lease left by a killed holder ---------------------------------------------
if [ "$BACKEND" = redis ]; then
	# 3,000 revoked-jti records that expired long ago, for gc to collect in batches, each
	# under a lease of its own
	"$PJ_PY" -c '
import hashlib, sys
out = sys.stdout.buffer
def cmd(*a):
    out.write(b"*%d\r\n" % len(a))
    for x in a:
        x = x.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(x), x))
for i in range(3000):
    d = hashlib.sha256(b"stall-jti %d" % i).hexdigest()
    cmd("SET", "{stall}:j:" + d, "pam_jwt-store 1\nkind=revoked-jti\nexp=1000000000\n")
    cmd("SADD", "{stall}:K:j", d)
' | rcli --pipe >/dev/null
	check "3,000 expired revoked-jti records are in the store" \
		test "$(rcli scard "{stall}:K:j")" -ge 3000
	# gc, SIGKILLed as soon as it holds the lease; tried until the lease outlives it
	killed=0
	for try in $(seq 1 20); do
		"$PJ_CTL" gc -c "$CONF" >/dev/null 2>&1 &
		gp=$!
		tok=""
		for _ in $(seq 1 2000); do
			tok=$(rcli get "{stall}:lease")
			[ -n "$tok" ] && break
			kill -0 "$gp" 2>/dev/null || break
		done
		kill -KILL "$gp" 2>/dev/null
		wait "$gp" 2>/dev/null
		T_KILL=$(date +%s%3N)
		if [ -n "$tok" ] && [ "$(rcli get "{stall}:lease")" = "$tok" ]; then
			killed=1
			break
		fi
	done
	check "pam-jwtctl gc was killed while it held the lease (try $try)" test "$killed" = 1
	pttl=$(rcli pttl "{stall}:lease")
	check "the lease it left expires by itself (PTTL $pttl ms, at most 3000)" \
		eval '[ "$pttl" -gt 0 ] && [ "$pttl" -le 3000 ]'
	t0=$(date +%s%3N)
	login_sid >"$PJ_TMP/afterkill.out" 2>&1
	rc=$?
	t1=$(date +%s%3N)
	check "a session-ID login made meanwhile succeeds ($((t1 - t0)) ms, waiting for the lease)" \
		eval '[ "$rc" = 0 ] && [ $((t1 - t0)) -lt 4000 ]'
	while [ -n "$(rcli get "{stall}:lease")" ] && [ $(($(date +%s%3N) - T_KILL)) -lt 5000 ]; do
		sleep 0.05
	done
	gone=$(($(date +%s%3N) - T_KILL))
	check "the lease is gone within its 3 s of the kill (${gone} ms)" \
		eval '[ -z "$(rcli get "{stall}:lease")" ] && [ "$gone" -lt 3500 ]'
	check "gc runs to the end afterwards and collects the expired records" \
		eval 'CTL gc >/dev/null 2>&1 && [ "$(rcli scard "{stall}:K:j")" -lt 3000 ]'
fi

# --- the store afterwards ---------------------------------------------------------------
check "the store still works: pam-jwtctl gc" eval 'CTL gc >/dev/null 2>&1'
check "$U's session is still there" eval 'CTL sessions -u "$U" | grep -q "^${U_DIG:0:12} "'
echo "# run time: $((SECONDS - T_START)) s"
pj_run_cleanup
wait 2>/dev/null
check "no process of $U is left" eval '[ -z "$(ps -o pid= -u "$U_UID" 2>/dev/null)" ]'
done_testing
