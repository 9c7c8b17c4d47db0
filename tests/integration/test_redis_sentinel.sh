#!/bin/bash
# The Redis store with Sentinel (root): the primary found through Sentinel and followed
# through a failover.
#
# - the store's backend-neutral unit tests (build/tests/test_store) with the primary found
#   through the Sentinels and every write waiting for the replica (redis_replicas = 1);
# - build/tests/redis_probe against a lying Sentinel (helpers/redis_fake.py) that names the
#   replica: skipped for the next Sentinel, refused when it is the only one; an address
#   that is not one; a master name no Sentinel knows; no Sentinel up (PAM_AUTHINFO_UNAVAIL
#   through pamtester);
# - session-ID logins through pamtester in a loop while the primary is SIGKILLed: they fail
#   until the Sentinels promote the replica and then log in again; the session revoked
#   just before the kill stays revoked; a write that needs redis_replicas = 1 fails closed
#   while the new primary has no replica and succeeds once the old node is back as one;
#   pam-jwtd subscribes again through the Sentinels and ends a held login whose session
#   is revoked after the failover. The gap (kill to first login) is printed.
#
# Pieces (removed at exit): a temp dir; redis-server as the primary and one replica on
# free ports of 127.0.0.1; three Sentinels (redis-server --sentinel, quorum 2, the
# primary down after 1 s); the lying Sentinel; a test user; PAM services; pam-jwtd.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_redis_sentinel needs root"
	done_testing
	exit
fi
STORE_T=$BUILD_DIR/tests/test_store
PROBE=$BUILD_DIR/tests/redis_probe
if [ ! -x "$STORE_T" ] || [ ! -x "$PROBE" ] || ! command -v redis-server >/dev/null ||
	! command -v redis-cli >/dev/null || ! pj_have_build || ! command -v pamtester >/dev/null; then
	not_ok "test_store, redis_probe, redis-server, redis-cli, the module and pamtester are there"
	done_testing
	exit
fi
pj_tmpdir || exit 1

free_port() { "$PJ_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
# wait_for SECONDS CMD...: until CMD succeeds, polling every 0.1 s
wait_for() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
rc() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

MASTER=pjm$$
P1=$(free_port) && P2=$(free_port) || exit 1
pj_redis_start primary --port "$P1" --bind 127.0.0.1 ||
	{ not_ok "the primary starts on 127.0.0.1:$P1"; done_testing; exit; }
pj_redis_start replica --port "$P2" --bind 127.0.0.1 --replicaof 127.0.0.1 "$P1" ||
	{ not_ok "the replica starts on 127.0.0.1:$P2"; done_testing; exit; }
linked() { rc "$1" info replication | grep -q '^master_link_status:up'; }
wait_for 10 linked "$P2" || not_ok "the replica syncs with the primary"

SENT=""
for s in 1 2 3; do
	port=$(free_port)
	cat >"$PJ_TMP/sentinel$s.conf" <<-EOF
	port $port
	bind 127.0.0.1
	dir $PJ_TMP
	logfile $PJ_TMP/sentinel$s.log
	sentinel monitor $MASTER 127.0.0.1 $P1 2
	sentinel down-after-milliseconds $MASTER 1000
	sentinel failover-timeout $MASTER 5000
	sentinel parallel-syncs $MASTER 1
	EOF
	redis-server "$PJ_TMP/sentinel$s.conf" --sentinel >/dev/null 2>&1 &
	pj_defer kill -KILL $!
	SENT=$SENT${SENT:+,}127.0.0.1:$port
	eval "SP$s=$port"
done
# every Sentinel knows the replica and the two others
sentinels_ready() {
	local p
	for p in "$SP1" "$SP2" "$SP3"; do
		rc "$p" sentinel master "$MASTER" | tr '\n' ' ' |
			grep -q 'num-slaves 1 .*num-other-sentinels 2 ' || return 1
	done
}
wait_for 30 sentinels_ready
check "three Sentinels watch the primary and know the replica and each other" sentinels_ready

# --- the store's backend tests through the Sentinels ---------------------------------------
# Each cmocka test is one check. The URL's host is only a label: nothing listens on it.
out=$(CMOCKA_MESSAGE_OUTPUT=TAP PJ_TEST_STORE_URL=redis://sentinel-label \
	PJ_TEST_STORE_SENTINEL=$SENT PJ_TEST_STORE_MASTER=$MASTER PJ_TEST_STORE_REPLICAS=1 \
	"$STORE_T" 2>&1)
n=0
while IFS= read -r line; do
	case $line in
	"ok "*) ok "through Sentinel, redis_replicas=1: ${line#ok * - }"; n=$((n + 1)) ;;
	"not ok "*) not_ok "through Sentinel, redis_replicas=1: ${line#not ok * - }"; n=$((n + 1)) ;;
	"#"*) echo "$line" ;;
	esac
done <<<"$out"
[ "$n" -ge 17 ] || { not_ok "all 17 backend tests ran through Sentinel ($n)"; echo "$out" | tail -20 | sed 's/^/#   /'; }

# --- resolution ------------------------------------------------------------------------------
# probe SENTINELS [MASTER]: redis_probe's answer to CONFIG GET port on the node it reached
probe() { "$PROBE" -t 500 -S "$1" -m "${2:-$MASTER}" redis://label cmd CONFIG GET port 2>/dev/null; }
check "the store reaches the primary (:$P1) through the Sentinels" \
	eval 'probe "$SENT" | grep -qx "\[string port string $P1\]"'
LIAR_PF=$PJ_TMP/liar.port
"$PJ_PY" "$PJ_HELPERS/redis_fake.py" "names=127.0.0.1,$P2" "$LIAR_PF" >/dev/null 2>&1 &
pj_defer kill $!
JUNK_PF=$PJ_TMP/junk.port
"$PJ_PY" "$PJ_HELPERS/redis_fake.py" "names=127.0.0.1,6379x" "$JUNK_PF" >/dev/null 2>&1 &
pj_defer kill $!
wait_for 5 test -s "$LIAR_PF" -a -s "$JUNK_PF"
LIAR=127.0.0.1:$(cat "$LIAR_PF")
JUNK=127.0.0.1:$(cat "$JUNK_PF")
check "a Sentinel that names the replica is skipped for the next one" \
	eval 'probe "$LIAR,$SENT" | grep -qx "\[string port string $P1\]"'
check "a Sentinel that names the replica, alone: refused (ROLE is not master)" \
	eval 'probe "$LIAR" | grep -qx "refused: no Sentinel names a usable primary for master $MASTER"'
check "a Sentinel whose answer is not an address (port 6379x): refused" \
	eval 'probe "$JUNK" | grep -q "^refused: no Sentinel names a usable primary"'
check "a master name the Sentinels do not know: refused, naming it" \
	eval 'probe "$SENT" nosuch$$ | grep -qx "refused: no Sentinel names a usable primary for master nosuch$$"'
D1=$(free_port) && D2=$(free_port)
check "no Sentinel up: refused" \
	eval 'probe "127.0.0.1:$D1,[::1]:$D2" | grep -q "^refused: no Sentinel names a usable primary"'

# --- through PAM --------------------------------------------------------------------------
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test
pj_keygen ES256 es1 && pj_keygen ES256 signer || { not_ok "keygen"; done_testing; exit; }
# conf NAME REPLICAS SENTINELS: a host's config with the store found through SENTINELS
conf() {
	mkdir -p -m 0700 "$PJ_TMP/$1.store"
	cat >"$PJ_TMP/$1.conf" <<-EOF
	issuer = $ISS
	audience = $AUD
	jwks = $K/es1.jwks
	store = redis://primary-of-$MASTER
	redis_sentinel = $3
	redis_master = $MASTER
	redis_replicas = $2
	redis_timeout = 500ms
	redis_prefix = fleet
	store_dir = $PJ_TMP/$1.store
	socket_path = $PJ_TMP/$1.sock
	signing_key = $K/signer.key
	persist_dir = none
	sweep_interval = 1h
	EOF
	chmod 0600 "$PJ_TMP/$1.conf"
}
# w: writes wait for the replica; l: logins only (a login writes last_seen, and with no
# replica left after the failover a host with redis_replicas = 1 refuses every login:
# that is the point of the option, shown below); down: no Sentinel listens
conf w 1 "$SENT"
conf l 0 "$SENT"
conf down 0 "127.0.0.1:$D1,127.0.0.1:$D2"
pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
service() { # NAME CONF: auth, account and (announcing) session through CONF
	pj_service "$1" <<-EOF
	auth     required $PJ_MOD config=$PJ_TMP/$2.conf
	account  required $PJ_MOD config=$PJ_TMP/$2.conf
	session  required $PJ_MOD config=$PJ_TMP/$2.conf announce_session
	EOF
}
service w w && SW=$PJ_SERVICE
service l l && SL=$PJ_SERVICE
service down down && SDOWN=$PJ_SERVICE
CTLW() { "$PJ_CTL" "$1" -c "$PJ_TMP/w.conf" "${@:2}"; }
pam_ok() { pj_pamtester "$1" "$U" "$2" "${@:3}" && grep -q 'successfully' "$PJ_TMP/pamtester.out"; }
# login NAME: a JWT login through the w service; SID_NAME the session ID, in $PJ_TMP/NAME.sid
login() {
	local sid=""
	pj_token_file "$1" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
	pj_pamtester "$SW" "$U" "$PJ_TOKEN" authenticate open_session &&
		sid=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
	printf '%s\n' "$sid" >"$PJ_TMP/$1.sid"
	test -n "$sid"
}

pj_token_file down --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
check "no Sentinel up: a JWT login is refused with PAM_AUTHINFO_UNAVAIL" \
	eval '! pj_pamtester "$SDOWN" "$U" "$PJ_TOKEN" authenticate &&
		grep -q "Authentication service cannot retrieve authentication info" "$PJ_TMP/pamtester.out"'
check "a JWT login through the Sentinels opens a session (redis_replicas = 1)" login keep
check "a second login opens another" login gone
check "pam-jwtctl revoke --session (redis_replicas = 1)" \
	CTLW revoke --session "$(printf '%s' "$(cat "$PJ_TMP/gone.sid")" | sha256sum | cut -c1-16)"
check_fails "the revoked session ID is refused" pam_ok "$SL" "$PJ_TMP/gone.sid" authenticate
check "the kept session ID logs in" pam_ok "$SL" "$PJ_TMP/keep.sid" authenticate acct_mgmt

# pam-jwtd on the l config, and a login through the l stack held open by pam_drive.py
DLOG=$PJ_TMP/pam-jwtd.log
"$BUILD_DIR/pam-jwtd" -c "$PJ_TMP/l.conf" --stderr >"$DLOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
watching() { [ "$(grep -c "watching the shared store" "$DLOG")" -ge "$1" ]; }
wait_for 5 watching 1
check "pam-jwtd watches the shared store through the Sentinels" watching 1
pj_token_file held --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
"$PJ_PY" "$PJ_HELPERS/pam_drive.py" "$SL" "$U" "$PJ_TOKEN" authenticate open_session hold \
	>"$PJ_TMP/held.out" 2>&1 &
HPID=$!
pj_defer kill -KILL "$HPID"
wait_for 5 grep -q '^# holding' "$PJ_TMP/held.out"
HSID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/held.out" | cut -d' ' -f3)
check "a login held open by its leader (pid $HPID)" test -n "$HSID"
HD=$(printf '%s' "$HSID" | sha256sum | cut -d' ' -f1)

# --- the failover --------------------------------------------------------------------------
PRIMARY_PID=$(rc "$P1" info server | tr -d '\r' | sed -n 's/^process_id://p')
disown -a # (no job notice for the killed server; cleanup goes by pid)
T_KILL=$(now_ms)
kill -KILL "$PRIMARY_PID"
FAILED=0 FIRST_FAIL=""
T_OK=""
while [ $(($(now_ms) - T_KILL)) -lt 30000 ]; do
	if pam_ok "$SL" "$PJ_TMP/keep.sid" authenticate acct_mgmt; then
		T_OK=$(now_ms)
		break
	fi
	FAILED=$((FAILED + 1))
	[ -n "$FIRST_FAIL" ] || FIRST_FAIL=$(grep -m1 -i 'fail\|error\|cannot' "$PJ_TMP/pamtester.out")
	sleep 0.1
done
GAP=$((${T_OK:-$(now_ms)} - T_KILL))
echo "# failover gap: ${GAP} ms from SIGKILL of the primary to the first login ($FAILED logins failed)"
echo "#   first failure: $FIRST_FAIL"
check "logins failed after the primary was killed ($FAILED refused)" test "$FAILED" -gt 0
check "logins resume after the failover, within 30 s (${GAP} ms)" test -n "$T_OK"
check "the Sentinels promoted the replica (:$P2 is master)" \
	eval 'rc "$P2" role | head -1 | grep -qx master'
grep -h 'switch-master' "$PJ_TMP"/sentinel*.log | head -1 | sed 's/^/#   sentinel: /'
check_fails "the session revoked before the kill stays revoked on the new primary" \
	pam_ok "$SL" "$PJ_TMP/gone.sid" authenticate
check "the kept session is on the new primary" \
	eval 'rc "$P2" exists "{fleet}:s:$(printf "%s" "$(cat "$PJ_TMP/keep.sid")" | sha256sum | cut -d" " -f1)" | grep -qx 1'

# the new primary has no replica: a write that must reach one fails closed
pj_token_file spare --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
CTLW revoke --jti "$(pj_jti "$PJ_TOKEN")" >"$PJ_TMP/revoke1.out" 2>&1
check "no replica left: pam-jwtctl revoke --jti (redis_replicas = 1) fails" test $? != 0
check "... saying the write reached only 0 of 1 replicas" \
	grep -q "write reached only 0 of 1 replicas" "$PJ_TMP/revoke1.out"
sed 's/^/#   /' "$PJ_TMP/revoke1.out" | head -2
# the old node comes back empty as a replica of the new primary (as an operator would
# bring it back: without persistence it must not come back as a primary)
pj_redis_start oldprimary --port "$P1" --bind 127.0.0.1 --replicaof 127.0.0.1 "$P2" ||
	not_ok "the old primary's node starts again as a replica"
wait_for 20 linked "$P1"
check "the old node is a replica of the new primary" linked "$P1"
check "the store still reaches the new primary (:$P2), not the old node" \
	eval 'probe "$SENT" | grep -qx "\[string port string $P2\]"'

check "pam-jwtd's watch broke and it subscribed again through the Sentinels" \
	eval 'wait_for 10 watching 2 && grep -q "watch on the shared store broke" "$DLOG"'
check "the held login outlived the failover" kill -0 "$HPID"
# revoked from "another host": pam-jwtctl in a pid namespace of its own, which cannot
# signal the leader itself, so only pam-jwtd's subscription can end the login
unshare --pid --fork --mount-proc "$PJ_CTL" revoke -c "$PJ_TMP/w.conf" --session "$HD" \
	>"$PJ_TMP/revoke2.out" 2>&1
check "with the replica back, pam-jwtctl revoke (redis_replicas = 1) succeeds" \
	grep -q "revoked" "$PJ_TMP/revoke2.out"
sed 's/^/#   /' "$PJ_TMP/revoke2.out" | head -3
T0=$(now_ms)
wait_for 5 eval '! kill -0 "$HPID" 2>/dev/null'
check "pam-jwtd ended the held login ($(($(now_ms) - T0)) ms after the revocation)" \
	eval '! kill -0 "$HPID" 2>/dev/null && grep -q "SIGHUP to pid $HPID\$" "$DLOG"'
sed 's/^/#   pam-jwtd: /' "$DLOG" | tail -5
done_testing
