#!/bin/bash
# The lineage of sessions, attacked (root): findings 5 and 6 of the security review.
#
# 5. A login made with an access token that pam-jwtd minted for a live session S (its sid
#    is S's digest) must be recorded as S's child, so that revoking S, logging out of S and
#    refresh-token reuse on S end that login too: a thief holding S's refresh token must
#    not be able to mint a token, open an independent login and survive detection. A token
#    whose sid names a revoked or unknown session is refused at authentication, also on a
#    service without require_session.
# 6. A revocation that lands between authenticate and open_session must not be lost: the
#    lineage (the origin jti not revoked, the parent live) is checked in the transaction
#    that records the session, so open_session fails and nothing is recorded. And a live
#    login whose lineage breaks after it was recorded is ended (its leader process gone),
#    not just dropped from the store: revoking its token's jti ends it at once; a
#    revocation that reaches the store without ending anything (here: pam-jwtctl restore
#    of a revocation kept in persist_dir, standing in for a revoker that died between
#    writing the revocation and ending the logins) is carried out by pam-jwtd's periodic
#    sweep, and without the daemon by pam-jwtctl gc.
#
# Logins are helpers/pam_drive.py processes driving a service through the real libpam;
# "hold" keeps a login open (the process is the session's recorded leader) and
# "pause:PATH" stops it between acct_mgmt and open_session until PATH exists.
# Pieces (all new, uniquely named, removed at exit): a temp dir (0700) with keys, the
# config (0600), a persist dir and pam-jwtd's socket; two stores on /dev/shm (the real one
# and a scratch one whose config plants revocations in persist_dir); a user; one
# /etc/pam.d/pamjwt-test-PID-main service; pam-jwtd -c CONF --stderr, its log in
# $PJ_TMP/pam-jwtd.log. Nothing touches the keyring.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_lineage needs root"
	done_testing
	exit
fi
PJ_D=$BUILD_DIR/pam-jwtd
if ! pj_have_build || [ ! -x "$PJ_D" ]; then
	not_ok "the module, pam-jwtctl and pam-jwtd are built ($PJ_MOD, $PJ_CTL, $PJ_D)"
	done_testing
	exit
fi
missing=""
for c in setpriv useradd userdel sha256sum; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ]; then
	not_ok "setpriv, useradd, userdel and sha256sum are there (missing:$missing)"
	done_testing
	exit
fi
T_START=$SECONDS
DC=$PJ_HELPERS/daemon_client.py
DRIVE=$PJ_HELPERS/pam_drive.py

# --- set-up -----------------------------------------------------------------------------
pj_tmpdir || exit 1
pj_store_dir || exit 1
SCRATCH_STORE=$PJ_STORE
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-lineage
pj_keygen ES256 k1 || { not_ok "keygen"; done_testing; exit; }
mkdir -m 0700 "$PJ_TMP/persist" "$PJ_TMP/secret"
S=$PJ_TMP/secret # tokens and session IDs
SOCK=$PJ_TMP/pam-jwtd.sock
CONF=$PJ_TMP/pam_jwt.conf
DLOG=$PJ_TMP/pam-jwtd.log
: >"$DLOG"
# write_conf FILE STORE: the suite's configuration (0600) over STORE
write_conf() {
	cat >"$1" <<-EOF
	issuer = $ISS
	audience = $AUD
	jwks = $K/k1.jwks
	store_dir = $2
	persist_dir = $PJ_TMP/persist
	signing_key = $K/k1.key
	socket_path = $SOCK
	access_ttl = 10m
	refresh_ahead = 1m
	revoke_kill_after = 1s
	sweep_interval = 1s
	max_sessions_per_user = 0
	EOF
	chmod 0600 "$1"
}
write_conf "$CONF" "$PJ_STORE"
# the scratch config: pam-jwtctl revoke with it writes a revocation to persist_dir (and the
# scratch store) without touching the real store or any login
SCRATCH_CONF=$PJ_TMP/scratch.conf
write_conf "$SCRATCH_CONF" "$SCRATCH_STORE"

pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_service main <<EOF || { not_ok "write the PAM service"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF announce_session
EOF
SVC=$PJ_SERVICE
echo "# user $U, service $SVC (no require_session), store $PJ_STORE"

sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
now_ms() { date +%s%3N; }
# claim TOKEN NAME: one claim of a JWT (unverified), "" if absent
claim() {
	"$PJ_PY" -c '
import base64, json, sys
p = sys.argv[1].strip().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null
}
# mint NAME [ISSUE_ARGS...]: a login token for U from the suite's key ($PJ_TOKEN)
mint() {
	local name=$1
	shift
	pj_token_file "$name" --key "$K/k1.key" --kid k1 -u "$U" --iss "$ISS" --aud "$AUD" \
		--ttl 1h "$@"
}
# keep NAME VALUE: VALUE in $S/NAME (one line); KEPT is its path
keep() { KEPT=$S/$1; printf '%s\n' "$2" >"$KEPT"; }

# dq JSON: one request to pam-jwtd as root; its answer (JSON) on stdout
dq() { printf 'x %s\n' "$1" | "$PJ_PY" "$DC" call "$SOCK" 2>/dev/null | sed -n 's/^x //p'; }
# jget JSON NAME: a member of a JSON object ("" if absent)
jget() {
	"$PJ_PY" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' \
		"$1" "$2" 2>/dev/null
}

# rec DIGEST FIELD: a member of the session's entry in pam-jwtctl sessions --json (read
# from the store); fails if there is no such session
rec() {
	"$PJ_CTL" sessions -c "$CONF" --json 2>/dev/null | "$PJ_PY" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["digest"] == sys.argv[1]:
        print(s[sys.argv[2]])
        sys.exit(0)
sys.exit(1)' "$1" "$2"
}
listed() { rec "$1" digest >/dev/null; }
# none_led_by PID: no session records PID as its leader
none_led_by() {
	"$PJ_CTL" sessions -c "$CONF" --json 2>/dev/null | "$PJ_PY" -c '
import json, sys
sys.exit(1 if any(s["pid"] == int(sys.argv[1]) for s in json.load(sys.stdin)) else 0)' "$1"
}
# n_sessions: how many sessions U has
n_sessions() {
	"$PJ_CTL" sessions -c "$CONF" -u "$U" --json 2>/dev/null |
		"$PJ_PY" -c 'import json, sys; print(len(json.load(sys.stdin)))'
}

# --- logins -------------------------------------------------------------------------------
# stop_pid PID: TERM a process this suite started, if still running, and wait up to 5 s for
# it to go (a held login closes its session first)
stop_pid() {
	local i
	kill -0 "$1" 2>/dev/null || return 0
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	for i in $(seq 1 250); do running "$1" || return 0; sleep 0.02; done
}
# start NAME CREDFILE OPS...: pam_drive.py on SVC for U in the background, its output in
# $PJ_TMP/NAME.out; a subshell waits for it and writes its exit status (128 + the signal
# that killed it) to $PJ_TMP/NAME.status. LPID: its pid.
start() {
	local name=$1 cred=$2 i
	shift 2
	rm -f "$PJ_TMP/$name.pid" "$PJ_TMP/$name.status" "$PJ_TMP/$name.out"
	(
		"$PJ_PY" "$DRIVE" "$SVC" "$U" "$cred" "$@" >"$PJ_TMP/$name.out" 2>&1 &
		echo "$!" >"$PJ_TMP/$name.pid"
		wait "$!"
		echo "$?" >"$PJ_TMP/$name.status"
	) 2>/dev/null &
	for i in $(seq 1 250); do [ -s "$PJ_TMP/$name.pid" ] && break; sleep 0.02; done
	LPID=$(cat "$PJ_TMP/$name.pid" 2>/dev/null)
	[ -n "$LPID" ] && pj_defer stop_pid "$LPID"
}
show() { sed 's/^/#   /' "$PJ_TMP/$1.out" 2>/dev/null; }
# wait_out NAME REGEX: up to 20 s for a line of NAME's output matching REGEX (less if the
# driver exits first)
wait_out() {
	local i
	for i in $(seq 1 1000); do
		grep -q -- "$2" "$PJ_TMP/$1.out" 2>/dev/null && return 0
		[ -s "$PJ_TMP/$1.status" ] && break
		sleep 0.02
	done
	grep -q -- "$2" "$PJ_TMP/$1.out" 2>/dev/null
}
# status_of NAME: the driver's exit status, once it has ended (up to 20 s)
status_of() {
	local i
	for i in $(seq 1 1000); do [ -s "$PJ_TMP/$1.status" ] && break; sleep 0.02; done
	cat "$PJ_TMP/$1.status" 2>/dev/null
}
# hold NAME CREDFILE: a login held open (authenticate acct_mgmt open_session hold). LPID is
# its leader; SID and DIGEST its session (from the "Session ID:" message).
hold() {
	SID="" DIGEST=""
	start "$1" "$2" authenticate acct_mgmt open_session hold
	wait_out "$1" '^# holding' || { show "$1"; return 1; }
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/$1.out" | cut -d' ' -f3)
	[ -n "$SID" ] || { show "$1"; return 1; }
	DIGEST=$(sha256_of "$SID")
}
running() { # PID: exists and is no zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}
# ended NAME PID [MS]: the held login's leader PID is gone within MS ms (default 5000; the
# daemon sends SIGKILL 1 s after SIGHUP), killed by SIGHUP (status 129)
ended() {
	local end=$(($(now_ms) + ${3:-5000}))
	while running "$2"; do
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.02
	done
	[ "$(status_of "$1")" = 129 ]
}
# run NAME CREDFILE OPS...: pam_drive.py in the foreground; RC its exit status
run() {
	local name=$1 cred=$2
	shift 2
	RC=0
	"$PJ_PY" "$DRIVE" "$SVC" "$U" "$cred" "$@" >"$PJ_TMP/$name.out" 2>&1 || RC=$?
}
AUTH_ERR="Authentication failure"
SESSION_ERR="Cannot make/remove an entry for the specified session"

# --- pam-jwtd -----------------------------------------------------------------------------
ping_ok() { printf 'p {"op":"ping"}\n' | "$PJ_PY" "$DC" call "$SOCK" 2>/dev/null | grep -q '^p {"ok":true'; }
setpriv --pdeathsig TERM -- "$PJ_D" -c "$CONF" --stderr >>"$DLOG" 2>&1 &
DPID=$!
pj_defer stop_pid "$DPID"
for _ in $(seq 1 100); do
	ping_ok && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
if ping_ok; then ok "pam-jwtd starts and answers ping (pid $DPID)"; else
	not_ok "pam-jwtd starts and answers ping"
	tail -5 "$DLOG" | sed 's/^/#   /'
	done_testing
	exit
fi

echo "# --- 5. a login made with an access token of a live session is that session's child"
echo "# 5a. revoking the session ends the login made with its token"
mint s1 && hold s1 "$PJ_TOKEN"
check "a JWT login S1 of $U is held open (leader pid $LPID, session ${DIGEST:0:12})" \
	eval '[ -n "$DIGEST" ] && [ "$(rec "$DIGEST" pid)" = "$LPID" ]'
S1_PID=$LPID S1_D=$DIGEST
a=$(dq "{\"op\":\"open\",\"session\":\"$S1_D\"}")
keep a1 "$(jget "$a" access_token)"
A1=$KEPT
check "pam-jwtd mints an access token for S1 (root's \"open\"): its sid is S1's digest" \
	test "$(claim "$(cat "$A1")" sid)" = "$S1_D"
hold b1 "$A1"
check "a second login B1 with that access token authenticates and is held open (pid $LPID)" \
	eval '[ -n "$DIGEST" ] && listed "$DIGEST"'
B1_PID=$LPID B1_D=$DIGEST
got=$(rec "$B1_D" parent)
check "B1 is recorded as a child of S1 (parent = S1's digest, got \"${got:0:12}\")" \
	test "$got" = "$S1_D"
out=$("$PJ_CTL" revoke -c "$CONF" --session "$S1_D" 2>&1)
echo "# pam-jwtctl revoke --session S1: $out"
check "revoking S1 ends S1's login (its leader dies of SIGHUP)" ended s1 "$S1_PID"
check "... and B1's login: B1's leader dies of SIGHUP too" ended b1 "$B1_PID"
check "... and B1's record is gone from the store" eval '! listed "$B1_D"'

echo "# 5b. a token naming a revoked or unknown session is refused (no require_session here)"
run a1-again "$A1" authenticate
check "S1's access token after S1 was revoked: authenticate fails (PAM_AUTH_ERR)" \
	eval '[ "$RC" = 7 ] && grep -qx "# authenticate: $AUTH_ERR" "$PJ_TMP/a1-again.out"'
mint unknown-sid --claim "sid=$(sha256_of "no such session $$ $RANDOM")"
run unknown-sid "$PJ_TOKEN" authenticate
check "a token whose sid is the digest of no session: authenticate fails (PAM_AUTH_ERR)" \
	eval '[ "$RC" = 7 ] && grep -qx "# authenticate: $AUTH_ERR" "$PJ_TMP/unknown-sid.out"'
mint idp-sid --claim "sid=idp-session-42"
run idp-sid "$PJ_TOKEN" authenticate acct_mgmt
check "control: a token whose sid is an identity provider's own (not a digest) logs in" \
	test "$RC" = 0

echo "# 5c. logging out of the session ends the login made with its token"
mint s2 && hold s2 "$PJ_TOKEN"
S2_PID=$LPID S2_D=$DIGEST S2_SID=$SID
check "a JWT login S2 is held open (pid $S2_PID)" eval '[ -n "$S2_D" ] && listed "$S2_D"'
a=$(dq "{\"op\":\"token\",\"session_id\":\"$S2_SID\"}")
keep a2 "$(jget "$a" access_token)"
A2=$KEPT
check "pam-jwtd gives an access token for S2's session ID (\"token\", as pam-jwtctl token asks): sid = S2" \
	test "$(claim "$(cat "$A2")" sid)" = "$S2_D"
hold b2 "$A2"
B2_PID=$LPID B2_D=$DIGEST
got=$(rec "$B2_D" parent)
check "a login B2 with it is held open and recorded as S2's child (parent \"${got:0:12}\")" \
	eval '[ -n "$B2_D" ] && [ "$got" = "$S2_D" ]'
a=$(dq "{\"op\":\"logout\",\"session_id\":\"$S2_SID\"}")
check "logout of S2 (pam-jwtd \"logout\"): ok" test "$(jget "$a" ok)" = True
check "... ends S2's login" ended s2 "$S2_PID"
check "... and B2's login" ended b2 "$B2_PID"
check "... and B2's record is gone" eval '! listed "$B2_D"'

echo "# 5d. a thief with S3's refresh token: refresh-token reuse ends the thief's login too"
mint s3 && hold s3 "$PJ_TOKEN"
S3_PID=$LPID S3_D=$DIGEST
check "a JWT login S3 is held open (pid $S3_PID)" eval '[ -n "$S3_D" ] && listed "$S3_D"'
a=$(dq "{\"op\":\"open\",\"session\":\"$S3_D\"}")
R1=$(jget "$a" refresh_token)
check "S3 gets a refresh token R1 (root's \"open\", as issue_tokens does)" eval '[[ $R1 == pjr_* ]]'
a=$(dq "{\"op\":\"refresh\",\"refresh_token\":\"$R1\"}")
keep a3 "$(jget "$a" access_token)"
A3=$KEPT
check "the thief refreshes R1: a new refresh token and an access token with sid = S3" \
	eval '[[ $(jget "$a" refresh_token) == pjr_* ]] && [ "$(claim "$(cat "$A3")" sid)" = "$S3_D" ]'
hold b3 "$A3"
B3_PID=$LPID B3_D=$DIGEST
got=$(rec "$B3_D" parent)
check "the thief's login B3 with that token is held open and recorded as S3's child (parent \"${got:0:12}\")" \
	eval '[ -n "$B3_D" ] && [ "$got" = "$S3_D" ]'
a=$(dq "{\"op\":\"refresh\",\"refresh_token\":\"$R1\"}")
check "the owner presents R1, now spent: \"refresh token reuse: session revoked\"" \
	test "$(jget "$a" error)" = "refresh token reuse: session revoked"
check "... S3's login ends" ended s3 "$S3_PID"
check "... and so does the thief's login B3" ended b3 "$B3_PID"
check "... and B3's record is gone" eval '! listed "$B3_D"'

echo "# --- 6. a revocation between authenticate and open_session, and the sweep"
# paused NAME CREDFILE: a login that stops after authenticate and acct_mgmt, before
# open_session, until $PJ_TMP/NAME.go exists
paused() {
	rm -f "$PJ_TMP/$1.go"
	start "$1" "$2" authenticate acct_mgmt "pause:$PJ_TMP/$1.go" open_session hold
	wait_out "$1" '^# paused'
}
go() { touch "$PJ_TMP/$1.go"; }
# refused_open NAME: the paused login went on, open_session failed with PAM_SESSION_ERR
# (the driver's exit status 14)
refused_open() {
	wait_out "$1" '^# open_session:' &&
		grep -qx "# open_session: $SESSION_ERR" "$PJ_TMP/$1.out" &&
		[ "$(status_of "$1")" = 14 ]
}

echo "# control: a paused JWT login goes on and is recorded"
mint c0
if paused c0 "$PJ_TOKEN"; then ok "a JWT login stops after authenticate and acct_mgmt (pid $LPID)"; else
	not_ok "a JWT login stops after authenticate and acct_mgmt"; show c0; fi
C0_PID=$LPID
go c0
check "... let go, open_session succeeds and the session is recorded with it as leader" \
	eval 'wait_out c0 "^# holding" && ! none_led_by "$C0_PID"'
stop_pid "$C0_PID"

echo "# 6i. the token's jti is revoked in between"
n0=$(n_sessions)
mint p1
J=$(pj_jti "$PJ_TOKEN")
if paused p1 "$PJ_TOKEN"; then ok "a JWT login (jti $J) is paused before open_session (pid $LPID)"; else
	not_ok "a JWT login is paused before open_session"; show p1; fi
P1_PID=$LPID
out=$("$PJ_CTL" revoke -c "$CONF" --jti "$J" --exp 2h 2>&1)
check "pam-jwtctl revoke --jti meanwhile: \"revoked ... 0 session(s)\" (none recorded yet)" \
	eval '[[ $out == revoked*" 0 session(s)"* ]]'
echo "#   $out"
go p1
if refused_open p1; then ok "... let go, open_session fails (PAM_SESSION_ERR)"; else
	not_ok "... let go, open_session fails (PAM_SESSION_ERR)"; show p1; fi
check "... and nothing is recorded: no session led by pid $P1_PID, $U still has $n0 session(s)" \
	eval 'none_led_by "$P1_PID" && [ "$(n_sessions)" = "$n0" ]'
stop_pid "$P1_PID"

echo "# 6ii. a session-ID login (a child): its parent is revoked in between"
mint q1 && hold q1 "$PJ_TOKEN"
Q1_PID=$LPID Q1_D=$DIGEST
keep sid-q1 "$SID"
QSID=$KEPT
check "a JWT login Q1 is held open (pid $Q1_PID)" eval '[ -n "$Q1_D" ] && listed "$Q1_D"'
hold q1child "$QSID"
QC_PID=$LPID QC_D=$DIGEST
check "control: a login with Q1's session ID is held open as Q1's child" \
	eval '[ -n "$QC_D" ] && [ "$(rec "$QC_D" parent)" = "$Q1_D" ]'
n0=$(n_sessions)
if paused p2 "$QSID"; then ok "another login with Q1's session ID is paused before open_session (pid $LPID)"; else
	not_ok "another login with Q1's session ID is paused before open_session"; show p2; fi
P2_PID=$LPID
"$PJ_CTL" revoke -c "$CONF" --session "$Q1_D" >/dev/null 2>&1
check "Q1 is revoked meanwhile: its login and its recorded child's end" \
	eval 'ended q1 "$Q1_PID" && ended q1child "$QC_PID"'
go p2
if refused_open p2; then ok "... let go, the paused login's open_session fails (PAM_SESSION_ERR)"; else
	not_ok "... let go, the paused login's open_session fails (PAM_SESSION_ERR)"; show p2; fi
check "... and nothing is recorded (no session led by pid $P2_PID, $((n0 - 2)) session(s) left)" \
	eval 'none_led_by "$P2_PID" && [ "$(n_sessions)" = "$((n0 - 2))" ]'
stop_pid "$P2_PID"

echo "# 6ii'. a login with a session's access token: the session is revoked in between"
mint q2 && hold q2 "$PJ_TOKEN"
Q2_PID=$LPID Q2_D=$DIGEST
a=$(dq "{\"op\":\"token\",\"session_id\":\"$SID\"}")
keep a-q2 "$(jget "$a" access_token)"
check "a JWT login Q2 is held open, and pam-jwtd gives an access token for it" \
	eval '[ -n "$Q2_D" ] && [ "$(claim "$(cat "$KEPT")" sid)" = "$Q2_D" ]'
n0=$(n_sessions)
if paused p3 "$KEPT"; then ok "a login with Q2's access token is paused before open_session (pid $LPID)"; else
	not_ok "a login with Q2's access token is paused before open_session"; show p3; fi
P3_PID=$LPID
"$PJ_CTL" revoke -c "$CONF" --session "$Q2_D" >/dev/null 2>&1
check "Q2 is revoked meanwhile (its login ends)" ended q2 "$Q2_PID"
go p3
if refused_open p3; then ok "... let go, open_session fails (PAM_SESSION_ERR)"; else
	not_ok "... let go, open_session fails (PAM_SESSION_ERR)"; show p3; fi
check "... and nothing is recorded (no session led by pid $P3_PID, $((n0 - 1)) session(s) left)" \
	eval 'none_led_by "$P3_PID" && [ "$(n_sessions)" = "$((n0 - 1))" ]'
stop_pid "$P3_PID"

echo "# 6iii. a recorded login whose lineage breaks later is ended"
echo "# (a) pam-jwtctl revoke --jti ends the logins its token opened at once, through pam-jwtd"
mint r1
J1=$(pj_jti "$PJ_TOKEN")
hold r1 "$PJ_TOKEN"
R1_PID=$LPID R1_D=$DIGEST
keep sid-r1 "$SID"
hold r1child "$KEPT"
R1C_PID=$LPID R1C_D=$DIGEST
check "a JWT login R1 and a login with its session ID (its child) are held open" \
	eval '[ -n "$R1_D" ] && [ -n "$R1C_D" ] && [ "$(rec "$R1C_D" parent)" = "$R1_D" ]'
out=$("$PJ_CTL" revoke -c "$CONF" --jti "$J1" --exp 2h 2>&1)
echo "#   $out"
check "revoke --jti of R1's token ends R1's login at once (no sweep needed)" ended r1 "$R1_PID"
check "... and its child's" ended r1child "$R1C_PID"
check "... both records are gone" eval '! listed "$R1_D" && ! listed "$R1C_D"'

echo "# (b) a revocation that reaches the store without ending anything: pam-jwtd's sweep ends the login"
mint r2
J2=$(pj_jti "$PJ_TOKEN")
hold r2 "$PJ_TOKEN"
R2_PID=$LPID R2_D=$DIGEST
check "a JWT login R2 is held open (pid $R2_PID)" eval '[ -n "$R2_D" ] && listed "$R2_D"'
"$PJ_CTL" revoke -c "$SCRATCH_CONF" --jti "$J2" --exp 2h >/dev/null 2>&1
check "R2's jti is revoked on the scratch store and kept in persist_dir; the real store does not have it yet" \
	eval '[ -f "$PJ_TMP/persist/j-$(sha256_of "$J2")" ] && [ ! -e "$PJ_STORE/j-$(sha256_of "$J2")" ] && running "$R2_PID"'
out=$("$PJ_CTL" restore -c "$CONF" 2>&1)
check "pam-jwtctl restore brings it into the real store (\"$out\"; it ends no login itself)" \
	eval '[ -f "$PJ_STORE/j-$(sha256_of "$J2")" ]'
check "pam-jwtd's sweep (every 1 s) ends R2's login (up to 10 s)" ended r2 "$R2_PID" 10000
check "... its record is gone" eval '! listed "$R2_D"'
check "... and the daemon logged \"session ${R2_D:0:12} of user $U ended: SIGHUP to pid $R2_PID\"" \
	grep -q "session ${R2_D:0:12} of user $U ended: SIGHUP to pid $R2_PID\$" "$DLOG"

echo "# (c) without pam-jwtd: pam-jwtctl gc ends the login"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
check "pam-jwtd is stopped (SIGTERM: exit 0)" eval '[ "$rc" = 0 ] && ! ping_ok'
mint r3
J3=$(pj_jti "$PJ_TOKEN")
hold r3 "$PJ_TOKEN"
R3_PID=$LPID R3_D=$DIGEST
check "a JWT login R3 is held open (pid $R3_PID)" eval '[ -n "$R3_D" ] && listed "$R3_D"'
"$PJ_CTL" revoke -c "$SCRATCH_CONF" --jti "$J3" --exp 2h >/dev/null 2>&1
"$PJ_CTL" restore -c "$CONF" >/dev/null 2>&1
check "R3's jti revocation is restored into the store: R3's login still runs and is still recorded" \
	eval '[ -f "$PJ_STORE/j-$(sha256_of "$J3")" ] && running "$R3_PID" && listed "$R3_D"'
out=$("$PJ_CTL" gc -c "$CONF" 2>&1)
sed 's/^/#   pam-jwtctl gc: /' <<<"$out"
check "pam-jwtctl gc says it ended the login (\"ended the login of session ${R3_D:0:12} (SIGHUP to pid $R3_PID)\")" \
	grep -qxF "ended the login of session ${R3_D:0:12} (SIGHUP to pid $R3_PID)" <<<"$out"
check "... R3's leader is gone (SIGHUP)" ended r3 "$R3_PID"
check "... and its record is gone" eval '! listed "$R3_D"'

echo "# pam-jwtd log: $(wc -l <"$DLOG") lines; runtime: $((SECONDS - T_START)) s"
done_testing
