#!/bin/bash
# Keys fetched from the issuer (root): pam-jwtctl jwks fetch and pam-jwtd's periodic
# refresh against a small identity provider on 127.0.0.1 (helpers/jwks_server.py).
#
# Pieces (all new, uniquely named, removed at exit):
# - a temp dir (0755, root's) with keys from pam-jwtctl keygen, the server's directory,
#   the cache directory (0755) and the config (0644); the store on /dev/shm (0700);
# - jwks_server.py on a free port (plain HTTP), and a second one speaking TLS with a
#   self-signed certificate made here with openssl;
# - pam-jwtd -c CONF --stderr with jwks_refresh = 2s, its log in $PJ_TMP/pam-jwtd.log.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_jwks_fetch needs root"
	done_testing
	exit
fi
PJ_D=$BUILD_DIR/pam-jwtd
if ! pj_have_build || [ ! -x "$PJ_D" ] || ! command -v openssl >/dev/null; then
	not_ok "pam-jwtctl, pam-jwtd and openssl are there"
	done_testing
	exit
fi

pj_tmpdir || exit 1
chmod 0755 "$PJ_TMP"
pj_store_dir || exit 1
K=$PJ_TMP/keys
pj_keygen ES256 k1 && pj_keygen ES256 k2 && pj_keygen ES256 signer ||
	{ not_ok "keygen"; done_testing; exit; }
W=$PJ_TMP/www
mkdir -m 0755 "$W" "$PJ_TMP/cache" "$PJ_TMP/sock"
echo ok >"$W/mode"
cp "$K/k1.jwks" "$W/jwks.json"
CACHE=$PJ_TMP/cache/idp.json
DLOG=$PJ_TMP/pam-jwtd.log

# start_server DIR [CERT KEY]: jwks_server.py in the background, killed at exit; sets PORT
start_server() {
	local dir=$1
	shift
	rm -f "$dir/port"
	"$PJ_PY" "$PJ_HELPERS/jwks_server.py" "$dir" "$@" >"$dir/server.log" 2>&1 &
	pj_defer kill "$!"
	for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
	PORT=$(cat "$dir/port" 2>/dev/null)
	[ -n "$PORT" ]
}
start_server "$W" || { not_ok "the test server starts"; done_testing; exit; }
ISS=http://127.0.0.1:$PORT
CONF=$PJ_TMP/pam_jwt.conf
printf '%s\n' "issuer = $ISS" "jwks = $CACHE" "jwks_cache = $CACHE" "jwks_refresh = 2s" \
	"store_dir = $PJ_STORE" "persist_dir = none" "signing_key = $K/signer.key" \
	"socket_path = $PJ_TMP/sock/pam-jwtd.sock" "sweep_interval = 1s" >"$CONF"
chmod 0644 "$CONF"

# verify_with KID: a token signed by KID passes pam-jwtctl verify with the cached keys
verify_with() {
	pj_token_file "$1" --key "$K/$1.key" --kid "$1" -u root --iss "$ISS" || return 1
	"$PJ_CTL" verify -c "$CONF" -u root <"$PJ_TOKEN" >/dev/null 2>&1
}
# wait_for SECONDS CMD...: CMD succeeds within SECONDS
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done
}
cache_has() { grep -q "\"kid\": *\"$1\"" "$CACHE"; }

# --- pam-jwtctl jwks fetch -----------------------------------------------------------------
check "no cache file before the first fetch" test ! -e "$CACHE"
check_fails "a token does not verify before the fetch" verify_with k1
check "jwks fetch (discovery, then the JWKS) succeeds" sh -c '"$1" jwks fetch -c "$2" >/dev/null' sh "$PJ_CTL" "$CONF"
check "the cache file is root's, mode 0644" test "$(stat -c '%u %a' "$CACHE" 2>/dev/null)" = "0 644"
check "the cache holds exactly the served JWKS" cmp -s "$CACHE" "$W/jwks.json"
check "the discovery document was read" grep -q "GET /.well-known/openid-configuration" "$W/requests.log"
check "a token signed by k1 verifies with the cached keys" verify_with k1
check_fails "a token signed by k2 does not (not served yet)" verify_with k2
show=$("$PJ_CTL" jwks show -c "$CONF" 2>&1)
check "jwks show lists kid, alg and source" grep -q "kid=k1 alg=ES256 source=$CACHE" <<<"$show"
check "jwks show gives the age of the cache" grep -qE "cache $CACHE: [0-9]+ s old" <<<"$show"

# --- a failed fetch never replaces the keys in use (pam-jwtctl) -------------------------------
for m in garbage 500 big wrongiss; do
	echo "$m" >"$W/mode"
	check_fails "jwks fetch fails when the server answers $m" "$PJ_CTL" jwks fetch -c "$CONF"
	check "after $m the cache is unchanged" cmp -s "$CACHE" "$PJ_TMP/keys/k1.jwks"
done
echo ok >"$W/mode"

# --- pam-jwtd: rotation picked up after jwks_refresh -------------------------------------------
"$PJ_D" -c "$CONF" --stderr >"$DLOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
check "pam-jwtd fetches at start" wait_for 5 grep -q "JWKS fetched into $CACHE" "$DLOG"
cp "$K/k2.jwks" "$W/jwks.json.tmp" && mv "$W/jwks.json.tmp" "$W/jwks.json"
check "pam-jwtd picks up the rotated JWKS within the refresh interval" wait_for 6 cache_has k2
check "a token signed by k2 now verifies" verify_with k2
check_fails "a token signed by the retired k1 no longer does" verify_with k1
for m in garbage 500 big wrongiss; do
	n=$(grep -c "JWKS fetch failed" "$DLOG")
	echo "$m" >"$W/mode"
	check "pam-jwtd logs the failed fetch ($m)" \
		wait_for 8 sh -c '[ "$(grep -c "JWKS fetch failed" "$1")" -gt "$2" ]' sh "$DLOG" "$n"
	check "after $m the keys in use stay (k2 verifies)" verify_with k2
	check "after $m the cache is unchanged" cmp -s "$CACHE" "$K/k2.jwks"
done
echo ok >"$W/mode"
check "pam-jwtd recovers when the server does" wait_for 15 grep -q "JWKS fetch works again" "$DLOG"
check "pam-jwtd is still running" kill -0 "$DPID"
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null

# --- an unknown kid: one early refetch, asked for by the module --------------------------------
# jwks_refresh = 1h: only an early refetch can bring a new key in time. Through real libpam
# (pamtester), with the module's log captured.
ECONF=$PJ_TMP/early.conf
sed -e 's/^jwks_refresh = .*/jwks_refresh = 1h/' "$CONF" >"$ECONF"
chmod 0644 "$ECONF"
pj_keygen ES256 k3 && pj_keygen ES256 k4 && pj_keygen ES256 k5 || not_ok "keygen k3..k5"
pj_add_user || not_ok "a test user"
EU=$PJ_USER
pj_syslog_start || not_ok "the module's log is captured"
pj_service early <<EOF
auth     required $PJ_MOD config=$ECONF
account  required $PJ_MOD config=$ECONF
EOF
ESVC=$PJ_SERVICE
# login_with KID: a token for EU signed by KID logs in through pamtester
login_with() {
	pj_token_file "e-$1" --key "$K/$1.key" --kid "$1" -u "$EU" --iss "$ISS" || return 1
	pj_pamtester "$ESVC" "$EU" "$PJ_TOKEN" authenticate acct_mgmt
}
# start_daemon CONF: a fresh pam-jwtd (its early-refetch budget unused), log in $DLOG
start_daemon() {
	: >"$DLOG"
	"$PJ_D" -c "$1" --stderr >"$DLOG" 2>&1 &
	DPID=$!
	pj_defer kill "$DPID"
	wait_for 5 grep -q "JWKS fetched into $CACHE" "$DLOG"
}
stop_daemon() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
refetches() { grep -c "JWKS refetch asked for" "$DLOG"; }
# publish KID...: the provider serves the keys of these kids
publish() {
	local files=() k
	for k; do files+=("$K/$k.jwks"); done
	pj_merge_jwks "$W/jwks.json.tmp" "${files[@]}" && chmod 0644 "$W/jwks.json.tmp" &&
		mv "$W/jwks.json.tmp" "$W/jwks.json"
}
new_log_has() { pj_log_new | grep -qF -- "$1"; }

echo ok >"$W/mode"
publish k2
check "pam-jwtd (jwks_refresh 1h) fetches at start" start_daemon "$ECONF"
check "a token signed by k2 logs in" login_with k2
check "no early refetch for a known kid" test "$(refetches)" = 0
publish k2 k3
check_fails "the cache does not have the new k3 yet" cache_has k3
pj_log_mark
check "a token signed by the new k3 logs in at once (early refetch)" login_with k3
check "pam-jwtd made exactly one early refetch" test "$(refetches)" = 1
check "the cache now has k3" cache_has k3
check "the module logged why it asked" \
	new_log_has "token kid unknown; asked pam-jwtd for the issuer's keys: keys fetched"
# a second new kid within the rate limit: no fetch, refused, and the log says why
publish k2 k3 k4
pj_log_mark
check_fails "a token with another new kid (k4) right after is refused" login_with k4
check "no second refetch within the rate limit" test "$(refetches)" = 1
check "the module logged that the refetch was rate limited" \
	new_log_has "issuer's keys: JWKS refetch rate limited"
# tokens with made-up kids cannot make it fetch more
for i in 1 2 3 4 5; do login_with k5 >/dev/null 2>&1; done
check "five more tokens with unknown kids caused no fetch" test "$(refetches)" = 1
check_fails "the cache was not refreshed by them" cache_has k4
stop_daemon

# a slow issuer: the login waits a bounded time; the daemon keeps serving meanwhile
publish k2
check "a fresh pam-jwtd fetches at start" start_daemon "$ECONF"
publish k2 k4
echo slow >"$W/mode"
pj_log_mark
t0=$(date +%s%N)
check_fails "with the issuer answering after 3 s, the k4 token is refused" login_with k4
ms=$((($(date +%s%N) - t0) / 1000000))
check "the login waited a bounded time, well under the issuer's 3 s ($ms ms)" test "$ms" -lt 2000
check "the module logged that pam-jwtd did not answer in time" \
	new_log_has "issuer's keys: daemon did not answer in time"
check "pam-jwtd answers status while the fetch runs" \
	sh -c 'timeout 2 "$1" status --socket "$2" >/dev/null' sh "$PJ_CTL" "$PJ_TMP/sock/pam-jwtd.sock"
check "the fetch still completes in the daemon" wait_for 8 cache_has k4
echo ok >"$W/mode"
check "then the k4 token logs in" login_with k4
stop_daemon
pj_log_mark
check_fails "with pam-jwtd stopped, a token with an unknown kid is refused" login_with k5
check "the module logged that the daemon is not running" \
	new_log_has "issuer's keys: daemon is not running"

# --- https with an untrusted (self-signed) certificate is refused --------------------------------
TW=$PJ_TMP/tls
mkdir -m 0755 "$TW"
echo ok >"$TW/mode"
cp "$K/k1.jwks" "$TW/jwks.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$TW/key.pem" -out "$TW/cert.pem" >/dev/null 2>&1
if start_server "$TW" "$TW/cert.pem" "$TW/key.pem"; then
	TCONF=$PJ_TMP/tls.conf
	sed -e "s|^issuer = .*|issuer = https://127.0.0.1:$PORT|" "$CONF" >"$TCONF"
	echo "jwks_url = https://127.0.0.1:$PORT/jwks.json" >>"$TCONF"
	chmod 0644 "$TCONF"
	cp "$CACHE" "$PJ_TMP/cache.before"
	out=$("$PJ_CTL" jwks fetch -c "$TCONF" 2>&1)
	check_fails "an https server with a self-signed certificate is refused" test $? = 0
	check "the refusal names TLS" grep -q "TLS" <<<"$out"
	check "the cache is unchanged after the refused fetch" cmp -s "$CACHE" "$PJ_TMP/cache.before"
	check "the TLS server saw no JWKS request" sh -c '! grep -q "GET /jwks.json" "$1/requests.log" 2>/dev/null' sh "$TW"
else
	not_ok "the TLS test server starts"
fi

# --- URL policy at config time -------------------------------------------------------------------
BCONF=$PJ_TMP/bad.conf
sed -e '/^jwks_url/d' "$CONF" >"$BCONF"
echo "jwks_url = http://192.0.2.1/jwks.json" >>"$BCONF"
chmod 0644 "$BCONF"
out=$("$PJ_CTL" jwks fetch -c "$BCONF" 2>&1)
check_fails "plain http to a non-loopback address is refused" test $? = 0
check "the refusal names the loopback rule" grep -q "loopback" <<<"$out"

done_testing
