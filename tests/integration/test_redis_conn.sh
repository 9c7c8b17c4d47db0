#!/bin/bash
# The connection to Redis (core/redis.c) against real servers (root), through
# build/tests/redis_probe (tests/integration/helpers/redis_probe.c).
#
# Pieces (all new, uniquely named, removed at exit; no system redis is used or touched):
# - a temp dir with password files, a CA, a second CA that signed nothing we trust, server
#   certificates for localhost/127.0.0.1 and for another name, and a client certificate,
#   all made here with openssl;
# - redis-server instances of our own (--save '' --appendonly no --daemonize no), each
#   stopped at exit: one on a UNIX socket, one on TCP and a UNIX socket with an ACL user
#   and the default user off, three speaking TLS (right certificate, certificate for
#   another name, client certificates required), on free ports of 127.0.0.1;
# - helpers/redis_fake.py twice: a server that never answers and one that stops
#   answering after PING, and once more sending an array too large to hold.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_redis_conn needs root"
	done_testing
	exit
fi
PROBE=$BUILD_DIR/tests/redis_probe
if [ ! -x "$PROBE" ] || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null ||
	! command -v openssl >/dev/null; then
	not_ok "redis_probe (make check-build), redis-server, redis-cli and openssl are there"
	done_testing
	exit
fi

pj_tmpdir || exit 1

# stop_pid PID: SIGTERM, then SIGKILL if it is still there after 5 s
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}
# free_port: a TCP port of 127.0.0.1 that nothing listens on now
free_port() {
	"$PJ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start_redis NAME ARGS...: a redis-server of our own in $PJ_TMP/NAME, stopped at exit;
# waits until it accepts connections
start_redis() {
	local name=$1 pid
	shift
	mkdir -p "$PJ_TMP/$name"
	redis-server --save '' --appendonly no --daemonize no --dir "$PJ_TMP/$name" \
		--bind 127.0.0.1 "$@" >"$PJ_TMP/$name/log" 2>&1 &
	pid=$!
	pj_defer stop_pid "$pid"
	for _ in $(seq 100); do
		grep -qi "ready to accept connections" "$PJ_TMP/$name/log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/# /' "$PJ_TMP/$name/log" | tail -5
	return 1
}
# start_fake MODE: helpers/redis_fake.py MODE on a free port, stopped at exit; sets FPORT
start_fake() {
	local pf=$PJ_TMP/fake-$1.port
	"$PJ_PY" "$PJ_HELPERS/redis_fake.py" "$1" "$pf" >/dev/null 2>&1 &
	pj_defer stop_pid "$!"
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	FPORT=$(cat "$pf" 2>/dev/null)
	[ -n "$FPORT" ]
}

# expect DESC WANT PROBE_ARGS...: the probe's output has the line WANT (a refusal:
# "refused: REASON") and, with a sanitizer build, no finding; its stderr is kept in
# $PJ_TMP/probe.err
expect() {
	local d=$1 want=$2 out
	shift 2
	out=$("$PROBE" "$@" 2>"$PJ_TMP/probe.err")
	if printf '%s\n' "$out" | grep -qxF -- "$want" && ! grep -q Sanitizer "$PJ_TMP/probe.err"; then
		ok "$d"
	else
		not_ok "$d"
		printf '%s\n' "$out" | head -3 | sed 's/^/# got: /'
	fi
}
# elapsed N: the Nth elapsed_ms the last probe reported
elapsed() { sed -n 's/^elapsed_ms=//p' "$PJ_TMP/probe.err" | sed -n "${1}p"; }
# between LOW HIGH VALUE
between() { [ -n "$3" ] && [ "$3" -ge "$1" ] && [ "$3" -lt "$2" ]; }

# --- (a) UNIX socket ----------------------------------------------------------------------
S=$PJ_TMP/unix/redis.sock
if start_redis unix --port 0 --unixsocket "$S" --unixsocketperm 700; then
	ok "redis-server on a UNIX socket starts"
else
	not_ok "redis-server on a UNIX socket starts"
fi
U=redis+unix://$S
expect "unix: connect and PING" "status PONG" "$U" cmd PING
expect "unix: SET in db 5" "status OK" "$U?db=5" cmd SET pj:k five
expect "unix: GET in db 5 sees it" "string five" "$U?db=5" cmd GET pj:k
expect "unix: db 0 does not" "nil" "$U" cmd GET pj:k
expect "unix: a binary-safe argument (spaces, quotes) round-trips" "status OK" \
	"$U" cmd SET pj:b 'a b "c"'
expect "unix: ... and reads back unchanged" 'string a b "c"' "$U" cmd GET pj:b
expect "unix: a Redis error reply is a reply, not a failure" \
	"error ERR unknown command 'NOSUCHCMD', with args beginning with: " "$U" cmd NOSUCHCMD
expect "unix: a socket that does not exist" "refused: cannot connect to redis" \
	"redis+unix://$PJ_TMP/unix/none.sock" cmd PING
expect "unix: SELECT of a database that does not exist" \
	"refused: redis refused to select the database" "$U?db=99" cmd PING

# --- (f) pipelining, (e) reply size cap ---------------------------------------------------
expect "pipeline: 200 SETs and GETs appended, replies read in order" "pipeline ok 400" \
	"$U" pipeline 200
expect "a 7 MB value can be written" "status OK" "$U" setbig pj:big 7000000
expect "and read back (under the 8 MiB reply cap)" "string of 7000000 bytes" "$U" cmd GET pj:big
expect "a value just over 8 MiB is made on the server" "integer 8388701" \
	"$U" cmd SETRANGE pj:huge 8388700 x
expect "reading it is refused: reply too large" "refused: redis reply too large" \
	"$U" cmd GET pj:huge
expect "a command over 8 MiB is refused before it is sent" "refused: redis command too large" \
	"$U" setbig pj:toobig 8388700

# --- (g) pub/sub and redis_wait -----------------------------------------------------------
SUB=$PJ_TMP/sub.out
"$PROBE" "$U" subscribe pj-events 5000 400 >"$SUB" 2>&1 &
SUBPID=$!
pj_defer stop_pid "$SUBPID"
for _ in $(seq 50); do grep -q subscribed "$SUB" && break; sleep 0.1; done
check "subscribe: SUBSCRIBE answered" grep -qx subscribed "$SUB"
check "publish reaches one subscriber" \
	test "$(redis-cli -s "$S" PUBLISH pj-events revoked:abc 2>/dev/null)" = 1
wait "$SUBPID"
check "redis_wait returns the message" \
	grep -qxF "[string message string pj-events string revoked:abc]" "$SUB"
t=$(sed -n 's/^timeout after \([0-9]*\) ms$/\1/p' "$SUB")
check "redis_wait with nothing published times out after its 400 ms (got ${t:-none})" \
	between 390 1200 "$t"

# --- (b) TCP with an ACL user and a password file ------------------------------------------
PASS=$(openssl rand -hex 24)
P1=$(free_port)
AS=$PJ_TMP/acl/redis.sock
if start_redis acl --port "$P1" --unixsocket "$AS" --unixsocketperm 700 \
	--user pjuser on ">$PASS" '~*' '&*' '+@all' --user default off; then
	ok "redis-server with an ACL user starts"
else
	not_ok "redis-server with an ACL user starts"
fi
PW=$PJ_TMP/password
printf '%s\n' "$PASS" >"$PW" && chmod 0600 "$PW"
printf '%s\r\n' "$PASS" >"$PW.crlf" && chmod 0600 "$PW.crlf"
printf '%s' "$PASS" >"$PW.nonl" && chmod 0600 "$PW.nonl"
printf 'wrong-%s\n' "$PASS" >"$PW.wrong" && chmod 0600 "$PW.wrong"
printf '%s\nsecond\n' "$PASS" >"$PW.two" && chmod 0600 "$PW.two"
printf '\n' >"$PW.empty" && chmod 0600 "$PW.empty"
cp "$PW" "$PW.0644" && chmod 0644 "$PW.0644"
A=redis://pjuser@127.0.0.1:$P1
expect "acl: AUTH user password, then PING" "status PONG" -p "$PW" "$A" cmd PING
expect "acl: a password file ending in CRLF" "status PONG" -p "$PW.crlf" "$A" cmd PING
expect "acl: a password file without a newline" "status PONG" -p "$PW.nonl" "$A" cmd PING
expect "acl: SELECT 2 after AUTH, SET" "status OK" -p "$PW" "$A/2" cmd SET pj:acl two
expect "acl: db 2 holds it" "string two" -p "$PW" "$A/2" cmd GET pj:acl
expect "acl: db 0 does not" "nil" -p "$PW" "$A" cmd GET pj:acl
expect "acl: a wrong password is refused" "refused: redis refused the password" \
	-p "$PW.wrong" "$A" cmd PING
expect "acl: the right password for another user is refused" \
	"refused: redis refused the password" -p "$PW" "redis://other@127.0.0.1:$P1" cmd PING
expect "acl: no AUTH for the default user (off) is refused" "refused: redis refused the password" \
	-p "$PW" "redis://127.0.0.1:$P1" cmd PING
expect "acl: no password at all: the server wants one" "refused: redis needs a password" \
	"redis://127.0.0.1:$P1" cmd PING
expect "acl: a password file of mode 0644 is refused" \
	"refused: redis_password_file is unusable" -p "$PW.0644" "$A" cmd PING
expect "acl: a missing password file is refused" "refused: redis_password_file is unusable" \
	-p "$PJ_TMP/no-such-file" "$A" cmd PING
expect "acl: a password file of two lines is refused" \
	"refused: redis_password_file is not one line" -p "$PW.two" "$A" cmd PING
expect "acl: an empty password file is refused" \
	"refused: redis_password_file is not one line" -p "$PW.empty" "$A" cmd PING
expect "acl: localhost by name" "status PONG" -p "$PW" "redis://pjuser@localhost:$P1" cmd PING
# an ACL user on the unix socket of the same server: redis+unix://USER@/PATH
expect "acl, unix socket: redis+unix://USER@/PATH authenticates as USER" "string pjuser" \
	-p "$PW" "redis+unix://pjuser@$AS" cmd ACL WHOAMI
expect "acl, unix socket: with ?db=2 it sees db 2" "string two" \
	-p "$PW" "redis+unix://pjuser@$AS?db=2" cmd GET pj:acl
expect "acl, unix socket: without the user, the default user (off) is refused" \
	"refused: redis refused the password" -p "$PW" "redis+unix://$AS" cmd PING
expect "acl, unix socket: another user with this password is refused" \
	"refused: redis refused the password" -p "$PW" "redis+unix://other@$AS" cmd PING
expect "acl, unix socket: a wrong password is refused" "refused: redis refused the password" \
	-p "$PW.wrong" "redis+unix://pjuser@$AS" cmd PING
expect "acl, unix socket: a user without redis_password_file is refused before connecting" \
	"refused: redis URL names a user but no redis_password_file is set" \
	"redis+unix://pjuser@$AS" cmd PING
expect "acl: a port where nothing listens" "refused: cannot connect to redis" \
	-p "$PW" "redis://pjuser@127.0.0.1:$(free_port)" cmd PING

# --- (c) TLS ------------------------------------------------------------------------------
C=$PJ_TMP/certs
mkdir -p "$C"
mkca() { pj_mkca "$C" "$1"; }
mkcert() { pj_mkcert "$C" "$@"; }
if mkca ca && mkca rogue && mkcert server ca "DNS:localhost,IP:127.0.0.1" serverAuth &&
	mkcert other ca "DNS:other.example" serverAuth &&
	mkcert client ca "DNS:pamjwt-client" clientAuth &&
	mkcert rclient rogue "DNS:pamjwt-client" clientAuth; then
	ok "openssl made the CAs and certificates"
else
	not_ok "openssl made the CAs and certificates"
fi
# tls_redis NAME CERT AUTH_CLIENTS: a TLS-only redis-server; sets TPORT
tls_redis() {
	TPORT=$(free_port)
	start_redis "$1" --port 0 --tls-port "$TPORT" --tls-cert-file "$C/$2.crt" \
		--tls-key-file "$C/$2.key" --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients "$3"
}
tls_redis tls server no && ok "TLS redis-server starts" || not_ok "TLS redis-server starts"
T1=$TPORT
tls_redis tlsother other no && ok "TLS redis-server (cert for another name) starts" ||
	not_ok "TLS redis-server (cert for another name) starts"
T2=$TPORT
tls_redis tlsclient server yes && ok "TLS redis-server (client certificates) starts" ||
	not_ok "TLS redis-server (client certificates) starts"
T3=$TPORT

expect "tls: 127.0.0.1, verified against ca_file" "status PONG" \
	-C "$C/ca.crt" "rediss://127.0.0.1:$T1" cmd PING
expect "tls: localhost by name (SNI, name checked)" "status PONG" \
	-C "$C/ca.crt" "rediss://localhost:$T1/3" cmd PING
expect "tls: pipeline over TLS" "pipeline ok 400" -C "$C/ca.crt" "rediss://127.0.0.1:$T1" \
	pipeline 200
expect "tls: a 7 MB value written over TLS" "status OK" -C "$C/ca.crt" \
	"rediss://127.0.0.1:$T1" setbig pj:big 7000000
expect "tls: and read back" "string of 7000000 bytes" -C "$C/ca.crt" \
	"rediss://127.0.0.1:$T1" cmd GET pj:big
expect "tls: a CA that did not sign the server's certificate" \
	"refused: redis server certificate refused" -C "$C/rogue.crt" "rediss://127.0.0.1:$T1" cmd PING
expect "tls: the system store does not know our CA" \
	"refused: redis server certificate refused" "rediss://127.0.0.1:$T1" cmd PING
expect "tls: a certificate for another name (by name)" \
	"refused: redis server certificate refused" -C "$C/ca.crt" "rediss://localhost:$T2" cmd PING
expect "tls: a certificate for another name (by address)" \
	"refused: redis server certificate refused" -C "$C/ca.crt" "rediss://127.0.0.1:$T2" cmd PING
out=$("$PROBE" "redis://127.0.0.1:$T1" cmd PING 2>/dev/null)
check "tls: plain redis:// to a TLS port: refused ($out)" test "${out#refused: }" != "$out"
expect "tls: client certificate required and given" "status PONG" \
	-C "$C/ca.crt" -c "$C/client.crt" -k "$C/client.key" "rediss://localhost:$T3" cmd PING
out=$("$PROBE" -C "$C/ca.crt" "rediss://localhost:$T3" cmd PING 2>/dev/null)
check "tls: client certificate required and not given: refused ($out)" \
	test "${out#refused: }" != "$out"
out=$("$PROBE" -C "$C/ca.crt" -c "$C/rclient.crt" -k "$C/rclient.key" "rediss://localhost:$T3" \
	cmd PING 2>/dev/null)
check "tls: a client certificate from another CA: refused ($out)" \
	test "${out#refused: }" != "$out"
expect "tls: a client key that does not match the certificate" \
	"refused: redis_key_file is unusable" \
	-C "$C/ca.crt" -c "$C/client.crt" -k "$C/rclient.key" "rediss://localhost:$T3" cmd PING
cp "$C/client.key" "$C/client-0644.key" && chmod 0644 "$C/client-0644.key"
expect "tls: a client key readable by others" "refused: redis_key_file is unusable" \
	-C "$C/ca.crt" -c "$C/client.crt" -k "$C/client-0644.key" "rediss://localhost:$T3" cmd PING
expect "tls: a ca_file that is no certificate" "refused: redis_ca_file is unusable" \
	-C "$PW" "rediss://127.0.0.1:$T1" cmd PING

# --- (d) deadlines ------------------------------------------------------------------------
if start_fake silent; then
	expect "a server that never answers: connect times out" "refused: redis timed out" \
		-t 500 "redis://127.0.0.1:$FPORT" cmd PING
	check "... within 3 x timeout_ms, not before it ($(elapsed 1) ms)" between 450 1500 "$(elapsed 1)"
	expect "tls: a server that never answers the handshake" "refused: redis connection timed out" \
		-t 500 -C "$C/ca.crt" "rediss://127.0.0.1:$FPORT" cmd PING
	check "... within 3 x timeout_ms, not before it ($(elapsed 1) ms)" between 450 1500 "$(elapsed 1)"
else
	not_ok "the silent server starts"
fi
if start_fake stall; then
	out=$("$PROBE" -t 500 "redis://127.0.0.1:$FPORT" cmd2 GET pj:k 2>"$PJ_TMP/probe.err")
	check "a server that stops answering: the command times out" \
		test "$(printf '%s\n' "$out" | sed -n 1p)" = "refused: redis timed out"
	check "... within 3 x timeout_ms, not before it ($(elapsed 1) ms)" between 450 1500 "$(elapsed 1)"
	check "the next command on that connection fails: broken" \
		test "$(printf '%s\n' "$out" | sed -n 2p)" = "refused: redis connection is broken"
	check "... at once, without waiting for a timeout ($(elapsed 2) ms)" between 0 450 "$(elapsed 2)"
else
	not_ok "the stalling server starts"
fi
if start_fake bigarray; then
	expect "an array of 2,000,000 elements is refused" "refused: redis reply too large" \
		"redis://127.0.0.1:$FPORT" cmd KEYS '*'
else
	not_ok "the big-array server starts"
fi

done_testing
