#!/bin/bash
# A shared (Redis) store that cannot be reached (root): store_unavailable = refuse (the
# default) refuses JWTs and session IDs with PAM_AUTHINFO_UNAVAIL; store_unavailable =
# last_known lets JWTs through against pam-jwtd's mirror of the revocations and locks while
# it is younger than max_staleness, refuses a revoked jti, a locked user, a session ID, a
# single-use token and a token bound to a session, records no session, and refuses once
# the mirror is too old or missing.
#
# Pieces (removed at exit): a temp dir, a redis-server on a unix socket in it, a tmpfs
# store_dir for the mirror, pam-jwtd, two users, pam.d services, a syslog listener.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

pj_suite_needs test_store_unavailable pamtester redis-server redis-cli
pj_tmpdir && pj_store_dir || { not_ok "temp dirs"; done_testing; exit; }
pj_syslog_start || { not_ok "capture the module's log"; done_testing; exit; }
pj_redis_start red || { not_ok "redis-server starts"; done_testing; exit; }
REDIS_PID=$(redis-cli -s "$PJ_TMP/red.sock" info server | tr -d '\r' | sed -n 's/^process_id://p')

K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test
pj_keygen ES256 es1 && pj_keygen ES256 signer || { not_ok "keygen"; done_testing; exit; }
# conf NAME [EXTRA LINE...]: a config on the suite's Redis, the mirror in PJ_STORE
conf() {
	local name=$1
	shift
	{
		cat <<-EOF
		issuer = $ISS
		audience = $AUD
		jwks = $K/es1.jwks
		store = redis+unix://$PJ_TMP/red.sock
		store_dir = $PJ_STORE
		socket_path = $PJ_TMP/jwtd.sock
		signing_key = $K/signer.key
		persist_dir = none
		EOF
		printf '%s\n' "$@"
	} >"$PJ_TMP/$name.conf"
	chmod 0600 "$PJ_TMP/$name.conf"
}
conf refuse
conf lk "store_unavailable = last_known" "max_staleness = 15s"
conf lk1 "store_unavailable = last_known" "max_staleness = 15s" "single_use = true"
conf lks "store_unavailable = last_known" "max_staleness = 15s" "require_session = true"

pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_add_user -M || { not_ok "create a second test user"; done_testing; exit; }
LOCKED=$PJ_USER
for c in refuse lk lk1 lks; do
	pj_service "$c" <<-EOF
	auth     required $PJ_MOD config=$PJ_TMP/$c.conf
	account  required $PJ_MOD config=$PJ_TMP/$c.conf
	session  required $PJ_MOD config=$PJ_TMP/$c.conf announce_session
	EOF
	eval "SVC_$c=\$PJ_SERVICE"
done
tok() { pj_token_file "$1" --key "$K/es1.key" --kid es1 -u "$2" --iss "$ISS" --aud "$AUD"; }
tok a "$U"; TOK_A=$PJ_TOKEN
tok b "$U"; TOK_B=$PJ_TOKEN
tok c "$U"; TOK_REVOKED=$PJ_TOKEN
tok l "$LOCKED"; TOK_LOCKED=$PJ_TOKEN
# login SERVICE TOKEN USER [OPS]: pamtester; its output in $PJ_TMP/pamtester.out
login() { pj_pamtester "$1" "${3:-$U}" "$2" ${4:-authenticate acct_mgmt open_session}; }
ok_login() { login "$@" && grep -q 'successfully' "$PJ_TMP/pamtester.out"; }
unavail() { ! login "$@" && grep -q 'cannot retrieve authentication info' "$PJ_TMP/pamtester.out"; }
denied() { ! login "$@" && grep -qE 'Authentication failure|Permission denied' "$PJ_TMP/pamtester.out"; }
rcli() { redis-cli -s "$PJ_TMP/red.sock" --no-auth-warning "$@"; }

# --- with the store up ------------------------------------------------------------------
SID=""
if login "$SVC_refuse" "$TOK_A" "$U" "authenticate open_session"; then
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
fi
check "store up: a JWT login opens a session" test -n "$SID"
check "store up: the login logged no refusal" pj_log_lacks "refused for user"
printf '%s\n' "$SID" >"$PJ_TMP/sid"
SD=$(printf '%s' "$SID" | sha256sum | cut -d' ' -f1)
pj_token_file sid --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" --claim "sid=$SD"
TOK_SID=$PJ_TOKEN
check "pam-jwtctl revoke --jti (store up)" \
	"$PJ_CTL" revoke -c "$PJ_TMP/lk.conf" --jti "$(pj_jti "$TOK_REVOKED")"
check "pam-jwtctl lock (store up)" "$PJ_CTL" lock -c "$PJ_TMP/lk.conf" "$LOCKED"
MARK=$(rcli get '{pam_jwt}:g')
check "the lock set the change mark {pam_jwt}:g to a random token ($MARK)" \
	eval '[[ $MARK =~ ^[0-9a-f]{32}$ ]]'

DLOG=$PJ_TMP/pam-jwtd.log
"$BUILD_DIR/pam-jwtd" -c "$PJ_TMP/lk.conf" --stderr >"$DLOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
STAMP=$PJ_STORE/m-$(printf mirror | sha256sum | cut -d' ' -f1)
for i in $(seq 1 100); do [ -f "$STAMP" ] && break; sleep 0.05; done
check "pam-jwtd writes the mirror's stamp in store_dir" test -f "$STAMP"
JD=$(printf '%s' "$(pj_jti "$TOK_REVOKED")" | sha256sum | cut -d' ' -f1)
LD=$(printf '%s' "$LOCKED" | sha256sum | cut -d' ' -f1)
check "the mirror holds the revoked jti" test -f "$PJ_STORE/j-$JD"
check "the mirror holds the lock" test -f "$PJ_STORE/l-$LD"
check "the mirror holds no session" eval '! ls "$PJ_STORE" | grep -q "^s-"'
check "the mirror's records are the store's, byte for byte" \
	eval '[ "$(rcli get "{pam_jwt}:l:$LD")" = "$(cat "$PJ_STORE/l-$LD")" ]'
S0=$(grep '^synced=' "$STAMP")
sleep 5.5
check "pam-jwtd renews the stamp every 5 s" eval '[ "$(grep "^synced=" "$STAMP")" != "$S0" ]'
check "a renewal with nothing changed copies nothing" \
	eval '[ "$(grep -c "renewed" "$DLOG")" = 1 ]'
# a lock, then its unlock, reach the mirror at the next renewal
"$PJ_CTL" lock -c "$PJ_TMP/lk.conf" "nobody2-$$" >/dev/null
N2=$(printf 'nobody2-%s' "$$" | sha256sum | cut -d' ' -f1)
for i in $(seq 1 140); do [ -f "$PJ_STORE/l-$N2" ] && break; sleep 0.05; done
check "a new lock reaches the mirror at the next renewal" test -f "$PJ_STORE/l-$N2"
"$PJ_CTL" unlock -c "$PJ_TMP/lk.conf" "nobody2-$$" >/dev/null
for i in $(seq 1 140); do [ ! -f "$PJ_STORE/l-$N2" ] && break; sleep 0.05; done
check "an unlock reaches the mirror at the next renewal" test ! -f "$PJ_STORE/l-$N2"

# --- the store goes away ------------------------------------------------------------------
kill -STOP "$DPID" # the mirror as pam-jwtd last renewed it
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
for i in $(seq 1 100); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.05; done
check "Redis is gone" eval '! rcli ping >/dev/null 2>&1'

check "refuse: a JWT is refused with PAM_AUTHINFO_UNAVAIL" unavail "$SVC_refuse" "$TOK_B"
check "refuse: a session ID is refused with PAM_AUTHINFO_UNAVAIL" \
	unavail "$SVC_refuse" "$PJ_TMP/sid" "$U" "authenticate"

# pam-jwtd renewed the mirror moments ago: it reaches the store, so what fails is this
# login's own connection (a user can stall their own sudo's): no fallback
sed -i "s/^synced=.*/synced=$(date +%s)/" "$STAMP"
check "last_known: a mirror renewed moments ago does not stand in (AUTHINFO_UNAVAIL)" \
	unavail "$SVC_lk" "$TOK_B"
check "the log says pam-jwtd reached the store" pj_log_has "but pam-jwtd reached it"
# the outage as pam-jwtd sees it too: its last renewal was 11 s ago
sed -i "s/^synced=.*/synced=$(($(date +%s) - 11))/" "$STAMP"
pj_log_mark
check "last_known: a JWT logs in against the mirror" ok_login "$SVC_lk" "$TOK_B"
check "last_known: the log says the store is unreachable and the mirror stands in" \
	pj_log_has "using pam-jwtd's mirror of revocations and locks" "last_known" "$U"
check "last_known: the log says the session was not recorded" \
	pj_log_has "session of user $U not recorded"
check_fails "last_known: no session ID is announced" grep -q 'Session ID:' "$PJ_TMP/pamtester.out"
check "last_known: the revoked jti is still refused" denied "$SVC_lk" "$TOK_REVOKED"
check "last_known: the locked user is still refused" denied "$SVC_lk" "$TOK_LOCKED" "$LOCKED"
check "last_known: a session ID is refused with PAM_AUTHINFO_UNAVAIL" \
	unavail "$SVC_lk" "$PJ_TMP/sid" "$U" "authenticate"
check "last_known: a single-use token is refused (its use cannot be recorded)" \
	unavail "$SVC_lk1" "$TOK_B"
check "last_known: a token for a session (sid) is refused: sessions cannot be checked" \
	unavail "$SVC_lk" "$TOK_SID"
check "last_known: so is every token with require_session" unavail "$SVC_lks" "$TOK_SID"
check "last_known: the mirror took no write" eval '! ls "$PJ_STORE" | grep -q "^[su]-"'

# the mirror ages: pam-jwtd could not renew it for longer than max_staleness
sed -i "s/^synced=.*/synced=$(($(date +%s) - 16))/" "$STAMP"
check "last_known: a mirror older than max_staleness refuses (AUTHINFO_UNAVAIL)" \
	unavail "$SVC_lk" "$TOK_B"
check "the log says why" pj_log_has "older than max_staleness"
sed -i "s/^synced=.*/synced=$(($(date +%s) - 13))/" "$STAMP"
check "last_known: a mirror 13 s old still serves" ok_login "$SVC_lk" "$TOK_B"
rm -f "$STAMP"
check "last_known: no mirror at all refuses" unavail "$SVC_lk" "$TOK_B"
check "the log says pam-jwtd has not mirrored the store" \
	pj_log_has "pam-jwtd has not mirrored the store yet"
echo garbage >"$STAMP"
check "last_known: an unreadable stamp refuses" unavail "$SVC_lk" "$TOK_B"

# --- the store comes back -----------------------------------------------------------------
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null
pj_redis_start red || not_ok "redis-server starts again"
check "store back (empty): a JWT logs in and its session is recorded" \
	eval 'ok_login "$SVC_lk" "$TOK_B" && grep -q "Session ID:" "$PJ_TMP/pamtester.out"'
done_testing
