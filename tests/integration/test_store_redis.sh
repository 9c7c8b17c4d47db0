#!/bin/bash
# The session store on Redis (root): the store's backend-neutral unit tests
# (build/tests/test_store with PJ_TEST_STORE_URL, and two for Redis only: expiries clamped
# to ten years and never dropped, scripts called by SHA-1 surviving SCRIPT FLUSH) against
# a redis-server of this suite's own, over its unix socket (as the default user and as an
# ACL user, redis+unix://USER@/PATH) and over TCP on 127.0.0.1 as an ACL user whose
# password is in a root-only file; refusals for a wrong password, a readable password file and a server
# that is not there.
#
# Pieces (removed at exit): a temp dir; redis-server on a unix socket in it and on a free
# TCP port of 127.0.0.1 with the default user disabled.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_store_redis needs root"
	done_testing
	exit
fi
STORE_T=$BUILD_DIR/tests/test_store
if [ ! -x "$STORE_T" ] || ! command -v redis-server >/dev/null; then
	not_ok "build/tests/test_store and redis-server are there"
	done_testing
	exit
fi
pj_tmpdir || exit 1

# run_backend_tests LABEL URL [PASSWORD_FILE [CA CERT KEY]]: each cmocka test becomes
# one check here
run_backend_tests() {
	local label=$1 url=$2 pwfile=${3:-} out line n=0
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP PJ_TEST_STORE_URL=$url PJ_TEST_STORE_PASSWORD_FILE=$pwfile \
		PJ_TEST_STORE_CA_FILE=${4:-} PJ_TEST_STORE_CERT_FILE=${5:-} \
		PJ_TEST_STORE_KEY_FILE=${6:-} "$STORE_T" 2>&1)
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "$label: ${line#ok * - }"; n=$((n + 1)) ;;
		"not ok "*) not_ok "$label: ${line#not ok * - }"; n=$((n + 1)) ;;
		"#"*) echo "$line" ;;
		esac
	done <<<"$out"
	[ "$n" -ge 19 ] || { not_ok "$label: all 19 backend tests ran ($n)"; echo "$out" | sed 's/^/#   /' | tail -20; }
}

free_port() { "$PJ_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pj_redis_start unix || { not_ok "redis-server starts on a unix socket"; done_testing; exit; }
run_backend_tests "redis+unix" "redis+unix://$PJ_TMP/unix.sock"

# run_suite LABEL BINARY [VAR=VALUE...]: another store suite on the unix-socket server,
# each of its tests one check here
run_suite() {
	local label=$1 bin=$2 out line n=0
	shift 2
	out=$(env CMOCKA_MESSAGE_OUTPUT=TAP PJ_TEST_STORE_URL="redis+unix://$PJ_TMP/unix.sock" \
		"$@" "$bin" 2>&1)
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "$label: ${line#ok * - }"; n=$((n + 1)) ;;
		"not ok "*) not_ok "$label: ${line#not ok * - }"; n=$((n + 1)) ;;
		"# "[a-z0-9]*) echo "$line" ;;
		esac
	done <<<"$out"
	[ "$n" -ge 2 ] || { not_ok "$label: its tests ran ($n)"; echo "$out" | sed 's/^/#   /' | tail -20; }
}
# 8 writers racing (single-use ids, limits, counts) and writers SIGKILLed at random points
# (a killed holder's lease runs out): fewer rounds than on tmpfs, where each costs less
run_suite "concurrency on redis" "$BUILD_DIR/tests/test_store_concurrency" STORE_CONC_OPS=2000
run_suite "crash on redis" "$BUILD_DIR/tests/test_store_crash" STORE_CRASH_KILLS=40 STORE_CRASH_LIMIT_KILLS=40

PORT=$(free_port)
PW=$PJ_TMP/redis.pw
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$PW"
chmod 0600 "$PW"
pj_redis_start tcp --port "$PORT" --bind 127.0.0.1 \
	--user default off --user "pamjwt" on ">$(cat "$PW")" '~*' '&*' '+@all' ||
	{ not_ok "redis-server starts on 127.0.0.1:$PORT with an ACL user"; done_testing; exit; }
run_backend_tests "redis tcp+acl" "redis://pamjwt@127.0.0.1:$PORT" "$PW"
# the same server's unix socket, as the same ACL user (the default user is off there too)
run_backend_tests "redis+unix as an ACL user" "redis+unix://pamjwt@$PJ_TMP/tcp.sock" "$PW"

# TLS, with the server's certificate checked against our CA and a client certificate
C=$PJ_TMP/certs
mkdir -m 0700 "$C"
TPORT=$(free_port)
if pj_mkca "$C" ca && pj_mkcert "$C" server ca "DNS:localhost,IP:127.0.0.1" serverAuth &&
	pj_mkcert "$C" client ca "DNS:pamjwt-client" clientAuth &&
	pj_redis_start tls --tls-port "$TPORT" --tls-cert-file "$C/server.crt" \
		--tls-key-file "$C/server.key" --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients yes \
		--user default off --user "pamjwt" on ">$(cat "$PW")" '~*' '&*' '+@all'; then
	chmod 0600 "$C"/*.key
	run_backend_tests "rediss (TLS, client certificate)" "rediss://pamjwt@localhost:$TPORT" \
		"$PW" "$C/ca.crt" "$C/client.crt" "$C/client.key"
else
	not_ok "a TLS redis-server with our certificates starts on 127.0.0.1:$TPORT"
fi

# refusals: each makes every fixture fail to open the store, so no test passes
refused_open() { # LABEL URL PWFILE: no backend test could open the store
	local out
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP PJ_TEST_STORE_URL=$2 PJ_TEST_STORE_PASSWORD_FILE=$3 \
		"$STORE_T" 2>&1)
	echo "$out" | grep -m1 '# store_open' | sed 's/^/#   /'
	! grep -q '^ok ' <<<"$out" && grep -q "$4" <<<"$out"
}
echo wrong >"$PJ_TMP/wrong.pw"
chmod 0600 "$PJ_TMP/wrong.pw"
check "a wrong password is refused" \
	refused_open x "redis://pamjwt@127.0.0.1:$PORT" "$PJ_TMP/wrong.pw" "store_open"
cp "$PW" "$PJ_TMP/open.pw"
chmod 0644 "$PJ_TMP/open.pw"
check "a password file others can read is refused" \
	refused_open x "redis://pamjwt@127.0.0.1:$PORT" "$PJ_TMP/open.pw" "store_open"
check "no password: the default user is off, refused" \
	refused_open x "redis://127.0.0.1:$PORT" "" "store_open"
check "unix socket without the ACL user in the URL: the default user is off, refused" \
	refused_open x "redis+unix://$PJ_TMP/tcp.sock" "$PW" "store_open"
check "no server on the socket: refused" \
	refused_open x "redis+unix://$PJ_TMP/none.sock" "" "store_open"
check "the password is nowhere in the server's log" eval '! grep -qF "$(cat "$PW")" "$PJ_TMP/tcp.log"'

# --- through PAM: two hosts' configs on one Redis ---------------------------------------
# Both configs name the same server and prefix; each has a store_dir of its own that stays
# empty, so whatever the second one sees came through Redis.
if ! pj_have_build || ! command -v pamtester >/dev/null; then
	not_ok "the module, pam-jwtctl and pamtester are there"
	done_testing
	exit
fi
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test
pj_keygen ES256 es1 && pj_keygen ES256 signer || { not_ok "keygen"; done_testing; exit; }
for h in h1 h2; do
	mkdir -m 0700 "$PJ_TMP/$h.store"
	cat >"$PJ_TMP/$h.conf" <<-EOF
	issuer = $ISS
	audience = $AUD
	jwks = $K/es1.jwks
	store = redis://pamjwt@127.0.0.1:$PORT
	redis_password_file = $PW
	redis_prefix = fleet
	store_dir = $PJ_TMP/$h.store
	socket_path = $PJ_TMP/$h.sock
	signing_key = $K/signer.key
	persist_dir = none
	sweep_interval = 1h
	EOF
	chmod 0600 "$PJ_TMP/$h.conf"
done
pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_service h1 <<EOF
auth     required $PJ_MOD config=$PJ_TMP/h1.conf
account  required $PJ_MOD config=$PJ_TMP/h1.conf
session  required $PJ_MOD config=$PJ_TMP/h1.conf announce_session
EOF
S1=$PJ_SERVICE
pj_service h2 <<EOF
auth     required $PJ_MOD config=$PJ_TMP/h2.conf
account  required $PJ_MOD config=$PJ_TMP/h2.conf
EOF
S2=$PJ_SERVICE
CTL2() { "$PJ_CTL" "$1" -c "$PJ_TMP/h2.conf" "${@:2}"; }
pj_token_file valid --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
VALID=$PJ_TOKEN
pam_ok() { pj_pamtester "$1" "$U" "$2" "${@:3}" && grep -q 'successfully' "$PJ_TMP/pamtester.out"; }

SID=""
if pj_pamtester "$S1" "$U" "$VALID" authenticate open_session; then
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
fi
check "host 1: a JWT login opens a session and announces its ID" test -n "$SID"
printf '%s\n' "$SID" >"$PJ_TMP/sid"
D=$(printf '%s' "$SID" | sha256sum | cut -d' ' -f1)
rcli() { redis-cli -p "$PORT" --user pamjwt --pass "$(cat "$PW")" --no-auth-warning "$@"; }
check "the session's record is the Redis key {fleet}:s:DIGEST" \
	test "$(rcli exists "{fleet}:s:$D")" = 1
check "no Redis key or value holds the session ID" \
	eval '! rcli --scan --pattern "*" | grep -qF "$SID" && ! rcli dump "{fleet}:s:$D" | grep -qF "$SID"'
check "host 1's store_dir stays empty" test -z "$(ls -A "$PJ_TMP/h1.store")"
BOOT=$(printf '%s pidns %s' "$(cat /proc/sys/kernel/random/boot_id)" \
	"$(stat -L -c '%d:%i' /proc/self/ns/pid)" | sha256sum | cut -c1-32)
check "the record names the boot its leader runs under (boot=$BOOT)" \
	eval 'rcli get "{fleet}:s:$D" | grep -qx "boot=$BOOT"'
check "host 2: the session ID issued on host 1 logs in" pam_ok "$S2" "$PJ_TMP/sid" authenticate acct_mgmt
check "host 2: pam-jwtctl sessions lists it" eval 'CTL2 sessions | grep -q "${D:0:12}"'
check "host 2: pam-jwtctl revoke --session" CTL2 revoke --session "${D:0:16}"
check_fails "host 1: the revoked session ID is refused" pam_ok "$S1" "$PJ_TMP/sid" authenticate
check_fails "host 2: the revoked session ID is refused" pam_ok "$S2" "$PJ_TMP/sid" authenticate
check "host 1: a JWT still logs in" pam_ok "$S1" "$VALID" authenticate acct_mgmt
check "host 2: pam-jwtctl lock USER" CTL2 lock "$U"
check_fails "host 1: the locked user's JWT is refused" pam_ok "$S1" "$VALID" authenticate acct_mgmt
check "host 2: pam-jwtctl unlock USER" CTL2 unlock "$U"
check "host 1: the JWT logs in again" pam_ok "$S1" "$VALID" authenticate acct_mgmt
check "host 2: pam-jwtctl revoke --jti" CTL2 revoke --jti "$(pj_jti "$VALID")"
check_fails "host 1: the token of the revoked jti is refused" pam_ok "$S1" "$VALID" authenticate

# --- a revocation on another host ends the live login here -------------------------------
# Host 1 runs pam-jwtd (sweep_interval 1h: only the announcement can end the login in time)
# and a login held open by pam_drive.py. "Host 2" is pam-jwtctl in a pid namespace of its
# own: the leader's pid means nothing there, so it cannot end the login itself.
DLOG=$PJ_TMP/pam-jwtd.log
"$BUILD_DIR/pam-jwtd" -c "$PJ_TMP/h1.conf" --stderr >"$DLOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
watching() { grep -q "watching the shared store" "$DLOG"; }
for i in $(seq 1 100); do watching && break; sleep 0.05; done
check "host 1: pam-jwtd watches the shared store" watching
# hold NAME: a login through host 1's stack held open by pam_drive.py, its leader; HPID,
# and HD the digest of its session ID (empty if it did not open)
hold() {
	local i sid
	pj_token_file "$1" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
	"$PJ_PY" "$PJ_HELPERS/pam_drive.py" "$S1" "$U" "$PJ_TOKEN" authenticate open_session \
		hold >"$PJ_TMP/$1.out" 2>&1 &
	HPID=$!
	pj_defer kill -KILL "$HPID"
	for i in $(seq 1 100); do grep -q '^# holding' "$PJ_TMP/$1.out" && break; sleep 0.05; done
	sid=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/$1.out" | cut -d' ' -f3)
	HD=""
	[ -n "$sid" ] && HD=$(printf '%s' "$sid" | sha256sum | cut -d' ' -f1)
}
hold live
check "host 1: a login held open by its leader (pid $HPID)" test -n "$HD"
now_ms() { date +%s%3N; }
T0=$(now_ms)
unshare --pid --fork --mount-proc "$PJ_CTL" revoke -c "$PJ_TMP/h2.conf" --session "$HD" \
	>"$PJ_TMP/revoke.out" 2>&1
check "host 2 (its own pid namespace): pam-jwtctl revoke --session" \
	grep -q "revoked" "$PJ_TMP/revoke.out"
check_fails "host 2 did not signal the leader itself" grep -q "SIGHUP to pid" "$PJ_TMP/revoke.out"
while kill -0 "$HPID" 2>/dev/null && [ $(($(now_ms) - T0)) -lt 3000 ]; do sleep 0.02; done
GONE=$(($(now_ms) - T0))
check "host 1: the login ended within 1 s of the revocation on host 2 (${GONE} ms)" \
	eval '! kill -0 "$HPID" 2>/dev/null && [ "$GONE" -lt 1000 ]'
check "host 1: pam-jwtd logged SIGHUP to pid $HPID" grep -q "SIGHUP to pid $HPID\$" "$DLOG"
sed 's/^/#   pam-jwtd: /' "$DLOG" | tail -4

# A missed announcement: the subscription is cut (CLIENT KILL), the revocation comes while
# pam-jwtd is not subscribed, and the login still ends: when it subscribes again (and at
# each sweep, here every second) it compares this host's sessions with the store.
kill "$DPID"
wait "$DPID" 2>/dev/null
sed -e 's/^sweep_interval = .*/sweep_interval = 1s/' "$PJ_TMP/h1.conf" >"$PJ_TMP/h3.conf"
chmod 0600 "$PJ_TMP/h3.conf"
DLOG=$PJ_TMP/pam-jwtd-3.log
"$BUILD_DIR/pam-jwtd" -c "$PJ_TMP/h3.conf" --stderr >"$DLOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
for i in $(seq 1 100); do watching && break; sleep 0.05; done
hold live2
check "host 1: a second login held open (pid $HPID)" test -n "$HD"
sleep 1.5 # a sweep has seen the new session
check "the subscription is cut" eval 'rcli client kill type pubsub | grep -q "^[1-9]"'
unshare --pid --fork --mount-proc "$PJ_CTL" revoke -c "$PJ_TMP/h2.conf" --session "$HD" \
	>"$PJ_TMP/revoke2.out" 2>&1
T0=$(now_ms)
while kill -0 "$HPID" 2>/dev/null && [ $(($(now_ms) - T0)) -lt 5000 ]; do sleep 0.05; done
check "the login revoked while pam-jwtd was not subscribed ended ($(($(now_ms) - T0)) ms)" \
	eval '! kill -0 "$HPID" 2>/dev/null && grep -q "SIGHUP to pid $HPID\$" "$DLOG"'
check "pam-jwtd noticed the broken watch and subscribed again" \
	eval 'grep -q "watch on the shared store broke" "$DLOG" &&
		[ "$(grep -c "watching the shared store" "$DLOG")" -ge 2 ]'

# A session that is merely gone (Redis lost it: no revocation was announced) ends nothing:
# a store that loses its data must not log every host's users out.
hold live3
check "host 1: a third login held open (pid $HPID)" test -n "$HD"
sleep 1.5 # a sweep has seen it
rcli del "{fleet}:s:$HD" >/dev/null
sleep 2.5 # two more sweeps
check "its record deleted behind the store's back, the login goes on" kill -0 "$HPID"
check_fails "pam-jwtd did not signal it" grep -q "SIGHUP to pid $HPID\$" "$DLOG"
kill "$HPID" 2>/dev/null

# A lock with --end-logins made on another host ends the user's live login here too.
hold live4
check "host 1: a fourth login held open (pid $HPID)" test -n "$HD"
T0=$(now_ms)
unshare --pid --fork --mount-proc "$PJ_CTL" lock -c "$PJ_TMP/h2.conf" "$U" --end-logins \
	>"$PJ_TMP/lock.out" 2>&1
check "host 2 (its own pid namespace): pam-jwtctl lock --end-logins revokes the session" \
	grep -q "^revoked 1 session(s) of user $U\$" "$PJ_TMP/lock.out"
while kill -0 "$HPID" 2>/dev/null && [ $(($(now_ms) - T0)) -lt 3000 ]; do sleep 0.02; done
GONE=$(($(now_ms) - T0))
check "host 1: the locked user's login ended within 1 s (${GONE} ms)" \
	eval '! kill -0 "$HPID" 2>/dev/null && [ "$GONE" -lt 1000 ]'
check "host 2: pam-jwtctl unlock" CTL2 unlock "$U"

kill -STOP "$(pgrep -f "redis-server 127.0.0.1:$PORT" | head -1)" 2>/dev/null
pj_token_file other --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
check_fails "Redis stopped: a JWT is refused (its revocation cannot be checked)" \
	pam_ok "$S1" "$PJ_TOKEN" authenticate acct_mgmt
kill -CONT "$(pgrep -f "redis-server 127.0.0.1:$PORT" | head -1)" 2>/dev/null
check "Redis back: the JWT logs in" pam_ok "$S1" "$PJ_TOKEN" authenticate acct_mgmt
done_testing
