#!/bin/bash
# bind_host on a shared (Redis) store (root): a session ID issued on one host logs in on
# another host of the fleet, unless bind_host pins it to the host (name) that issued it.
# The other host is pamtester in a UTS namespace of its own with another host name.
#
# Pieces (removed at exit): a temp dir, a redis-server on a unix socket in it, a user,
# pam.d services.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

pj_suite_needs test_bind_host pamtester redis-server redis-cli
pj_tmpdir || { not_ok "temp dir"; done_testing; exit; }
pj_redis_start red || { not_ok "redis-server starts"; done_testing; exit; }
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
for c in free bound; do
	cat >"$PJ_TMP/$c.conf" <<-EOF
	issuer = $ISS
	audience = $AUD
	jwks = $K/es1.jwks
	store = redis+unix://$PJ_TMP/red.sock
	persist_dir = none
	EOF
	[ "$c" = bound ] && echo "bind_host = yes" >>"$PJ_TMP/$c.conf"
	chmod 0600 "$PJ_TMP/$c.conf"
done
pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
for c in free bound; do
	pj_service "$c" <<-EOF
	auth     required $PJ_MOD config=$PJ_TMP/$c.conf
	account  required $PJ_MOD config=$PJ_TMP/$c.conf
	session  required $PJ_MOD config=$PJ_TMP/$c.conf announce_session
	EOF
	eval "SVC_$c=\$PJ_SERVICE"
done
pj_token_file a --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD"
OTHER=pjhost-$$
# on_host NAME SERVICE TOKENFILE OPS...: pamtester on a host of that name (a UTS namespace)
on_host() {
	local name=$1 svc=$2 tok=$3
	shift 3
	unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh "$name" \
		pamtester -v "$svc" "$U" "$@" <"$tok" >"$PJ_TMP/pamtester.out" 2>&1 &&
		grep -q successfully "$PJ_TMP/pamtester.out"
}
sid_of_last() { grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3; }

check "a JWT login on this host opens a session" \
	on_host "$(hostname)" "$SVC_bound" "$PJ_TOKEN" authenticate open_session
sid_of_last >"$PJ_TMP/sid"
D=$(tr -d '\n' <"$PJ_TMP/sid" | sha256sum | cut -d' ' -f1)
redis_get() { redis-cli -s "$PJ_TMP/red.sock" get "{pam_jwt}:s:$D"; }
check "its record names the host ($(hostname))" eval 'redis_get | grep -qx "host=$(hostname)"'
check "pam-jwtctl sessions --json shows the host" eval '"$PJ_CTL" sessions -c "$PJ_TMP/free.conf" \
	--json | grep -q "\"host\": *\"$(hostname)\""'
check "without bind_host, the session ID logs in on host $OTHER" \
	on_host "$OTHER" "$SVC_free" "$PJ_TMP/sid" authenticate acct_mgmt
check_fails "with bind_host, host $OTHER refuses it" \
	on_host "$OTHER" "$SVC_bound" "$PJ_TMP/sid" authenticate
check "with bind_host, the host that issued it accepts it" \
	on_host "$(hostname)" "$SVC_bound" "$PJ_TMP/sid" authenticate acct_mgmt
# the account phase, for a login the session ID let in on a host without bind_host
check "a session opened on host $OTHER names it" \
	eval 'on_host "$OTHER" "$SVC_free" "$PJ_TOKEN" authenticate open_session &&
		sid_of_last >"$PJ_TMP/sid2" && [ -s "$PJ_TMP/sid2" ]'
check_fails "with bind_host, this host refuses the session ID from $OTHER" \
	on_host "$(hostname)" "$SVC_bound" "$PJ_TMP/sid2" authenticate
check "with bind_host, host $OTHER accepts its own session ID" \
	on_host "$OTHER" "$SVC_bound" "$PJ_TMP/sid2" authenticate acct_mgmt
done_testing
