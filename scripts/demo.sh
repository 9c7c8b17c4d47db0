#!/bin/bash
# pam_jwt demo (`make demo`, as root): log in with a signed JWT through a real PAM stack.
#
# Builds nothing. In a temp dir it makes a key pair with `pam-jwtctl keygen`, a config,
# a private session store on /dev/shm, a temporary user and a temporary PAM service
# /etc/pam.d/pamjwt-demo-PID that loads the freshly built module by its absolute path; it
# mints tokens with `pam-jwtctl issue` and feeds them to pamtester. Then a login opens a
# server-tracked session whose ID (announce_session) logs in by itself, until
# `pam-jwtctl revoke` ends it. Last, the helper daemon pam-jwtd issues tokens to a live login,
# keeps them in the user's keyring, rotates a refresh token, and ends the login when its
# session is revoked. No existing file in /etc/pam.d is changed, and everything the demo
# created is removed when it ends, also on failure or Ctrl-C.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/${BUILD:-build}}
source "$TOP/tests/integration/common.sh"

say() { printf '%s\n' "$*"; }
step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
[ -t 1 ] || step() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
	say "demo: run as root (it adds a temporary user and PAM service): sudo make demo" >&2
	exit 1
fi
if ! pj_have_build; then
	say "demo: $PJ_MOD or $PJ_CTL is missing: run make first" >&2
	exit 1
fi
if ! command -v pamtester >/dev/null; then
	say "demo: pamtester is not installed (make deps)" >&2
	exit 1
fi

PJ_SERVICE_PREFIX=pamjwt-demo-$$
PJ_USER_PREFIX=pjdemo
pj_tmpdir || exit 1
pj_store_dir || exit 1
pj_keygen ES256 demo-es256 || { say "demo: keygen failed" >&2; exit 1; }
KEY=$PJ_TMP/keys/demo-es256.key
ISS=https://idp.demo.example
AUD=pamjwt-demo
CONF=$PJ_TMP/pam_jwt.conf
RUNDIR=$(mktemp -d /run/pamjwt-demo.XXXXXX) || exit 1
chmod 0755 "$RUNDIR"
pj_defer rm -rf -- "$RUNDIR"
SOCK=$RUNDIR/pam-jwtd.sock
cat >"$CONF" <<EOF
issuer = $ISS
audience = $AUD
jwks = $PJ_TMP/keys/demo-es256.jwks
store_dir = $PJ_STORE
persist_dir = none
signing_key = $KEY
socket_path = $SOCK
revoke_kill_after = 3s
EOF
chmod 0600 "$CONF"
pj_add_user -M -c "pam_jwt demo user" || { say "demo: cannot add a user" >&2; exit 1; }
U=$PJ_USER
OTHER=$(pj_unused_user)
pj_syslog_start || true
pj_service login <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF announce_session
EOF
SVC=$PJ_SERVICE

step "Set-up (temporary, removed at the end)"
say "  key pair     pam-jwtctl keygen --alg ES256 --kid demo-es256"
say "  config       $CONF:"
sed 's/^/                 /' "$CONF"
say "  PAM service  /etc/pam.d/$SVC:"
sed 's/^/                 /' "/etc/pam.d/$SVC"
say "  user         $U"
case $PJ_LOG_MODE in
own) say "  syslog       no syslog daemon here: a temporary listener on /dev/log shows the log" ;;
authlog) say "  syslog       reading $PJ_LOG_SRC" ;;
*) say "  syslog       unreadable: refusal reasons come from pam-jwtctl verify instead" ;;
esac

# show_token FILE: the token's header and claims, decoded (not verified)
show_token() {
	"$PJ_PY" - "$1" <<-'EOF'
	import base64, json, sys, time
	def part(s): return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
	tok = open(sys.argv[1]).read().strip()
	h, p, s = tok.split(".")
	claims = part(p)
	print("  token        %s...%s (%d bytes)" % (tok[:24], tok[-12:], len(tok)))
	print("  header       %s" % json.dumps(part(h), separators=(", ", ": ")))
	print("  claims       %s" % json.dumps(claims, separators=(", ", ": ")))
	if "exp" in claims:
	    left = claims["exp"] - int(time.time())
	    print("  expires      %s" % ("in %d s" % left if left >= 0 else "%d s ago" % -left))
	EOF
}

# show_log: the module's log lines since the last pj_log_mark
show_log() {
	pj_log_new | grep -F 'pam_jwt(' | sed 's/^<[0-9]*>//; s/^\(.\{15\}\) /\1 /' |
		sed 's/^/  log          /'
}

# attempt USER TOKENFILE: run pamtester and show its verdict and the module's log line
attempt() {
	local user=$1 tok=$2 rc=0 what=token
	grep -q '^pjs_' "$tok" && what="session ID"
	say "  \$ pamtester $SVC $user authenticate acct_mgmt    ($what on stdin)"
	[ "$PJ_LOG_MODE" = none ] || pj_log_mark
	pj_pamtester "$SVC" "$user" "$tok" authenticate acct_mgmt || rc=$?
	if [ "$rc" = 0 ]; then
		say "  result       LOGGED IN: authenticate and acct_mgmt succeeded"
	else
		say "  result       REFUSED: $(grep -v -e 'invoking pam_start' -e 'performing operation' \
			"$PJ_TMP/pamtester.out" | grep -o 'pamtester: .*' | tail -1 | sed 's/^pamtester: //')"
	fi
	if [ "$PJ_LOG_MODE" != none ]; then
		show_log
	elif grep -q '^pjs_' "$tok"; then
		say "  verify       (a session ID: the reason is only in the log, unreadable here)"
	else
		say "  verify       $("$PJ_CTL" verify -c "$CONF" -u "$user" - <"$tok" 2>&1 | head -1)"
	fi
}

step "1. A valid token for $U"
pj_token_file valid --key "$KEY" --kid demo-es256 -u "$U" --iss "$ISS" --aud "$AUD" --ttl 15m
VALID=$PJ_TOKEN
show_token "$VALID"
attempt "$U" "$VALID"

step "2. The same token with one character of its signature changed"
pj_tamper_sig "$VALID" "$PJ_TMP/tok/tampered"
show_token "$PJ_TMP/tok/tampered"
attempt "$U" "$PJ_TMP/tok/tampered"

step "3. A token that expired an hour ago (minted with --now two hours back, --ttl 1h)"
pj_token_file expired --key "$KEY" --kid demo-es256 -u "$U" --iss "$ISS" --aud "$AUD" \
	--now "$(($(date +%s) - 7200))" --ttl 1h
show_token "$PJ_TOKEN"
attempt "$U" "$PJ_TOKEN"

step "4. A valid token for another user ($OTHER), presented by $U"
pj_token_file other --key "$KEY" --kid demo-es256 -u "$OTHER" --iss "$ISS" --aud "$AUD"
show_token "$PJ_TOKEN"
attempt "$U" "$PJ_TOKEN"

step "5. Log in with the valid token and open a session (announce_session)"
say "  \$ pamtester $SVC $U authenticate open_session    (token on stdin)"
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
pj_pamtester "$SVC" "$U" "$VALID" authenticate open_session || rc=$?
SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
if [ "$rc" != 0 ] || [ -z "$SID" ]; then
	say "demo: open_session did not announce a session ID:" >&2
	sed 's/^/  /' "$PJ_TMP/pamtester.out" >&2
	exit 1
fi
printf '%s\n' "$SID" >"$PJ_TMP/session-id"
DIGEST=$(printf '%s' "$SID" | sha256sum | cut -c1-12)
say "  pamtester    Session ID: ${SID:0:10}...    (PAM_TEXT_INFO; also PAM_JWT_SESSION in the"
say "               session's environment; shortened here: it is a credential)"
[ "$PJ_LOG_MODE" = none ] || show_log
say "  The store keeps only the SHA-256 of the ID; pam-jwtctl names sessions by it:"
say "  \$ pam-jwtctl sessions -c $CONF -u $U"
"$PJ_CTL" sessions -c "$CONF" -u "$U" | sed 's/^/    /'

step "6. Log in again with the session ID instead of a token"
attempt "$U" "$PJ_TMP/session-id"

step "7. Revoke the session: the same session ID is refused at once"
say "  \$ pam-jwtctl revoke -c $CONF --session $DIGEST"
"$PJ_CTL" revoke -c "$CONF" --session "$DIGEST" | sed 's/^/  /'
attempt "$U" "$PJ_TMP/session-id"

step "8. Start the helper daemon pam-jwtd (it signs with the same demo key)"
say "  \$ pam-jwtd -c $CONF --stderr &"
"$BUILD_DIR/pam-jwtd" -c "$CONF" --stderr >"$PJ_TMP/pam-jwtd.log" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
for _ in $(seq 50); do "$PJ_CTL" status -c "$CONF" >/dev/null 2>&1 && break; sleep 0.1; done
say "  \$ pam-jwtctl status -c $CONF"
"$PJ_CTL" status -c "$CONF" | sed 's/^/    /'

step "9. A login that stays open: pam-jwtd issues its tokens, kept in $U's keyring"
pj_service live <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF issue_tokens keyring
EOF
SVC2=$PJ_SERVICE
pj_defer runuser -u "$U" -- /bin/sh -c 'keyctl invalidate "$(keyctl get_persistent @s)"'
pj_token_file live --key "$KEY" --kid demo-es256 -u "$U" --iss "$ISS" --aud "$AUD" --ttl 15m
say "  \$ pam_drive.py $SVC2 $U token authenticate acct_mgmt open_session hold &"
"$PJ_PY" "$TOP/tests/integration/helpers/pam_drive.py" "$SVC2" "$U" "$PJ_TOKEN" \
	authenticate acct_mgmt open_session hold >"$PJ_TMP/live.out" 2>&1 &
LPID=$!
pj_defer kill "$LPID"
for _ in $(seq 50); do grep -q '^# holding' "$PJ_TMP/live.out" && break; sleep 0.1; done
say "  login        pid $LPID is the live login (its session's leader)"
LIVE=$("$PJ_CTL" sessions -c "$CONF" -u "$U" --json | "$PJ_PY" -c '
import json, sys
for s in json.load(sys.stdin):
    if s.get("pid") == int(sys.argv[1]): print(s["digest"])' "$LPID" 2>/dev/null | head -1)
# keyring_print DESC: one of the user's pam_jwt keys, read as the user
keyring_print() {
	runuser -u "$U" -- /bin/sh -c 'keyctl print "$(keyctl search "$(keyctl get_persistent @s)" \
		user "$1")"' sh "$1" 2>/dev/null
}
say "  \$ keyctl show  (as $U: the persistent keyring)"
runuser -u "$U" -- /bin/sh -c 'keyctl show "$(keyctl get_persistent @s)"' 2>&1 | tail -n +2 |
	sed 's/^/    /'
keyring_print pam_jwt:access >"$PJ_TMP/tok/access1"
say "  access token (minted by pam-jwtd for the session):"
show_token "$PJ_TMP/tok/access1" | sed 's/^  /    /'

step "10. Refresh: $U trades the refresh token for new tokens; the old one is spent"
keyring_print pam_jwt:refresh >"$PJ_TMP/refresh-old"
say "  \$ pam-jwtctl refresh --socket $SOCK     (as $U)"
runuser -u "$U" -- "$PJ_CTL" refresh --socket "$SOCK" >"$PJ_TMP/tok/access2" 2>&1
show_token "$PJ_TMP/tok/access2" | sed 's/^  /    /'
keyring_print pam_jwt:refresh >"$PJ_TMP/refresh-new"
if [ -s "$PJ_TMP/refresh-new" ] && ! cmp -s "$PJ_TMP/refresh-old" "$PJ_TMP/refresh-new"; then
	say "  keyring      the refresh token was rotated: the old one is spent"
else
	say "  keyring      refresh token NOT rotated"
fi

step "11. Revoke the live session: pam-jwtd ends the login"
say "  \$ pam-jwtctl revoke -c $CONF --session ${LIVE:0:12}"
"$PJ_CTL" revoke -c "$CONF" --session "${LIVE:0:12}" | sed 's/^/  /'
for _ in $(seq 50); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LPID" 2>/dev/null; then
	say "  login        pid $LPID is still running"
else
	wait "$LPID" 2>/dev/null
	say "  login        pid $LPID has ended (SIGHUP from pam-jwtd)"
fi
grep -E 'revoked|ended' "$PJ_TMP/pam-jwtd.log" | sed 's/^/  pam-jwtd     /'
if [ -n "$(keyring_print pam_jwt:access)" ]; then
	say "  keyring      tokens are still there"
else
	say "  keyring      emptied"
fi

step "Clean-up"
say "  removing /etc/pam.d/$SVC, user $U, keys and config"
pj_run_cleanup
if [ ! -e "/etc/pam.d/$SVC" ] && ! getent passwd "$U" >/dev/null && [ ! -e "$PJ_TMP" ]; then
	say "  done: nothing of the demo is left"
else
	say "  warning: something could not be removed" >&2
	exit 1
fi
