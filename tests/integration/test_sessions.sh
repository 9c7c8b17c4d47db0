#!/bin/bash
# Server-tracked sessions of pam_jwt.so in real PAM stacks, driven by pamtester (root).
#
# open_session records the login and (announce_session) shows the session ID as
# PAM_TEXT_INFO; that ID then logs in on its own; pam-jwtctl lists, revokes and locks, and
# the module refuses at once, with the reason in the log. Also: jti revocation, single_use,
# require_session, bind_service, session_ttl, a lock seen by the account phase, close_session.
# A throw-away key, config, store on /dev/shm, user and /etc/pam.d/pamjwt-test-PID-*
# services; tokens and session IDs are fed on stdin, never on a command line. Everything
# created is removed on exit.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_sessions needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
if ! command -v pamtester >/dev/null; then
	not_ok "pamtester is installed (scripts/install-deps)"
	done_testing
	exit
fi

pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOF
issuer = $ISS
audience = $AUD
jwks = $K/es1.jwks
store_dir = $PJ_STORE
EOF
chmod 0600 "$CONF"
pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U, store $PJ_STORE, log capture: $PJ_LOG_MODE"
# CTL COMMAND ARGS...: pam-jwtctl on the suite's config (never the host's store)
CTL() { "$PJ_CTL" "$1" -c "$CONF" "${@:2}"; }
AUTH_ERR="Authentication failure"
PERM="Permission denied"

# stack NAME [AUTH_ARGS] [SESSION_ARGS]: a service with auth, account and session lines
stack() {
	pj_service "$1" <<-EOF
	auth     required $PJ_MOD config=$CONF ${2:-}
	account  required $PJ_MOD config=$CONF ${2:-}
	session  required $PJ_MOD config=$CONF announce_session ${3:-}
	EOF
}
stack main
SVC=$PJ_SERVICE

mint() {
	local name=$1
	shift
	pj_token_file "$name" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" "$@"
}
digest_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
out() { cat "$PJ_TMP/pamtester.out"; }
show_out() { sed 's/^/#   /' "$PJ_TMP/pamtester.out"; }

# login DESC SERVICE CREDFILE [OPS...]: the operations all succeed
login() {
	local d=$1 svc=$2 cred=$3
	shift 3
	local ops=("$@") rc=0
	pj_have_token "$d" "$cred" || return
	[ ${#ops[@]} = 0 ] && ops=(authenticate acct_mgmt)
	pj_pamtester "$svc" "$U" "$cred" "${ops[@]}" || rc=$?
	if [ "$rc" = 0 ] && grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out"; then
		ok "$d"
	else not_ok "$d (exit $rc)"; show_out; fi
}
# refused DESC PAM_MESSAGE SERVICE CREDFILE [OPS...]: fails with that PAM message
refused() {
	local d=$1 msg=$2 svc=$3 cred=$4
	shift 4
	local ops=("$@") rc=0
	pj_have_token "$d" "$cred" || return
	[ ${#ops[@]} = 0 ] && ops=(authenticate acct_mgmt)
	pj_pamtester "$svc" "$U" "$cred" "${ops[@]}" || rc=$?
	if [ "$rc" != 0 ] && grep -qF "pamtester: $msg" "$PJ_TMP/pamtester.out"; then ok "$d"
	else not_ok "$d (exit $rc, want \"$msg\")"; show_out; fi
}
# logged DESC STRING...: one new log line (since the last pj_log_mark) has every STRING
logged() {
	local d=$1
	shift
	if [ "$PJ_LOG_MODE" = none ]; then skip "$d (no syslog to read)"; return; fi
	local lines s
	lines=$(pj_log_new | grep -F 'pam_jwt(')
	for s in "$@"; do lines=$(printf '%s\n' "$lines" | grep -F -- "$s"); done
	if [ -n "$lines" ]; then ok "$d: $(printf '%s\n' "$lines" | head -1 | sed 's/.*pam_jwt(/pam_jwt(/')"
	else
		not_ok "$d (no new log line with: $*)"
		pj_log_new | grep -F 'pam_jwt(' | tail -4 | sed 's/^/#   /'
	fi
}
mark() { [ "$PJ_LOG_MODE" = none ] || pj_log_mark; }
# open_with DESC SERVICE TOKENFILE: authenticate + open_session; SID/DIGEST from the
# "Session ID:" text pamtester printed, kept in $PJ_TMP/sid-NAME files by the caller
open_with() {
	local d=$1 svc=$2 tok=$3 rc=0
	SID="" DIGEST=""
	pj_pamtester "$svc" "$U" "$tok" authenticate open_session || rc=$?
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
	if [ "$rc" = 0 ] && [ -n "$SID" ] &&
		grep -q 'successfully opened a session' "$PJ_TMP/pamtester.out"; then
		DIGEST=$(digest_of "$SID")
		ok "$d"
	else not_ok "$d (exit $rc)"; show_out; fi
}
# sid_file NAME: write $SID to $PJ_TMP/sid-NAME (0600) and set SIDF to it
sid_file() { SIDF=$PJ_TMP/sid-$1; printf '%s\n' "$SID" >"$SIDF"; }

# --- open_session announces a session ID ----------------------------------------------
mint valid
VALID=$PJ_TOKEN
mark
open_with "pamtester authenticate open_session with a JWT prints \"Session ID: pjs_...\"" \
	"$SVC" "$VALID"
sid_file s1
S1=$SID D1=$DIGEST
logged "open_session logged the session by its digest prefix" \
	"pam_jwt($SVC:session): session opened for user $U (session=${D1:0:12})"
check "the session ID itself is never logged" pj_log_lacks "${S1:-pjs_none}"
check "no store file holds the session ID" eval '! grep -rqF -- "${S1:-pjs_none}" "$PJ_STORE"'
check "the store holds the session's record s-DIGEST" test -f "$PJ_STORE/s-$D1"
CTL sessions -u "$U" >"$PJ_TMP/list" 2>&1
check "pam-jwtctl sessions -u USER lists it (digest prefix, user, service)" \
	grep -qE "^${D1:0:12} +$U +${SVC:0:12} " "$PJ_TMP/list"
check "pam-jwtctl sessions -u USER lists exactly one session" \
	test "$(grep -cE "^[0-9a-f]{12} " "$PJ_TMP/list")" = 1
sed 's/^/#   /' "$PJ_TMP/list"

# --- the session ID logs in ---------------------------------------------------------
mark
login "login with the announced session ID: authenticate and acct_mgmt succeed" "$SVC" "$SIDF"
logged "session-ID login logged as accepted" \
	"pam_jwt($SVC:auth): accepted for user $U" "(session=${D1:0:12})"
check "the session ID login logged no session ID" pj_log_lacks "$S1"
pj_add_user -M || not_ok "create a second user"
U2=$PJ_USER
mark
rc=0
pamtester -v "$SVC" "$U2" authenticate <"$SIDF" >"$PJ_TMP/pamtester.out" 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -qF "pamtester: $AUTH_ERR" "$PJ_TMP/pamtester.out"; then
	ok "the session ID presented for another user is refused"
else not_ok "the session ID presented for another user is refused (exit $rc)"; show_out; fi
logged "... logged" "refused for user $U2: session belongs to another user"
stack jwtonly accept=jwt
refused "a service with accept=jwt refuses the session ID" "$AUTH_ERR" "$PJ_SERVICE" "$SIDF" \
	authenticate
stack bound bind_service
mark
refused "bind_service: a session opened on another service is refused" "$AUTH_ERR" \
	"$PJ_SERVICE" "$SIDF" authenticate
logged "bind_service refusal logged" "refused for user $U: session is bound to another service"
BOUND=$PJ_SERVICE
open_with "a session opened on the bind_service service" "$BOUND" "$VALID"
sid_file bound
login "... logs in there with its session ID" "$BOUND" "$SIDF"

# --- instant revocation of a session --------------------------------------------------
check "pam-jwtctl revoke --session DIGEST_PREFIX: exit 0" \
	eval 'CTL revoke --session "${D1:0:12}" >"$PJ_TMP/ctl.out" 2>&1'
check "... and it said which session" grep -qx "revoked session ${D1:0:12}" "$PJ_TMP/ctl.out"
mark
refused "the revoked session ID is refused at once" "$AUTH_ERR" "$SVC" "$PJ_TMP/sid-s1"
logged "the refusal is logged with its reason" \
	"pam_jwt($SVC:auth): refused for user $U: unknown session (session=${D1:0:12})"
CTL sessions -u "$U" >"$PJ_TMP/list" 2>&1
check "the revoked session is no longer listed" eval '! grep -q "^${D1:0:12}" "$PJ_TMP/list"'
check "pam-jwtctl revoke --session of the revoked session again: exit 1" \
	eval 'CTL revoke --session "${D1:0:12}" >/dev/null 2>&1; [ $? = 1 ]'

# --- close_session removes the record --------------------------------------------------
n_before=$(CTL sessions -u "$U" | grep -cE '^[0-9a-f]{12} ')
login "authenticate open_session close_session" "$SVC" "$VALID" \
	authenticate open_session close_session
n_after=$(CTL sessions -u "$U" | grep -cE '^[0-9a-f]{12} ')
SC=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
check "open_session announced a session before close_session" test -n "$SC"
check "close_session removed the session it opened (its record is gone, $n_before -> $n_after)" \
	eval '[ -n "$SC" ] && [ ! -e "$PJ_STORE/s-$(digest_of "$SC")" ] && [ "$n_before" = "$n_after" ]'

# --- JWT revocation by jti ---------------------------------------------------------------
mint revokable
REV=$PJ_TOKEN
login "control: the token is accepted before its jti is revoked" "$SVC" "$REV"
J=$(pj_jti "$REV")
check "pam-jwtctl revoke --jti JTI: exit 0" eval 'CTL revoke --jti "$J" >/dev/null'
mark
refused "the token whose jti was revoked is refused" "$AUTH_ERR" "$SVC" "$REV"
logged "jti revocation logged" "pam_jwt($SVC:auth): refused for user $U: token id is revoked" \
	"jti=$J"
check "pam-jwtctl verify gives the same reason" \
	eval '[ "$(pj_verify_reason "$CONF" "$U" "$REV")" = "token id is revoked (jti=$J, kid=es1)" ]'
login "another token of the user still works" "$SVC" "$VALID"

# --- single_use ---------------------------------------------------------------------------
stack once single_use
ONCE=$PJ_SERVICE
mint once
login "single_use: a fresh token logs in once" "$ONCE" "$PJ_TOKEN"
mark
refused "single_use: the replay of the same token is refused" "$AUTH_ERR" "$ONCE" "$PJ_TOKEN"
logged "single_use replay logged" "pam_jwt($ONCE:auth): refused for user $U: token was already used"
stack once2 single_use
login "single_use counts per service: the same token works once on another service" \
	"$PJ_SERVICE" "$PJ_TOKEN"
refused "... and not twice there" "$AUTH_ERR" "$PJ_SERVICE" "$PJ_TOKEN"
mint nojti --drop-claim jti
refused "single_use: a token without jti is refused" "$AUTH_ERR" "$ONCE" "$PJ_TOKEN"

# --- require_session: a JWT must name a live session of the user (sid = its digest) ------
open_with "a session for require_session" "$SVC" "$VALID"
sid_file rs
DRS=$DIGEST
stack reqsess require_session
REQ=$PJ_SERVICE
mint sid_ok --claim "sid=$DRS"
login "require_session: a token whose sid is a live session's digest is accepted" "$REQ" "$PJ_TOKEN"
SIDTOK=$PJ_TOKEN
refused "require_session: a token without sid is refused" "$AUTH_ERR" "$REQ" "$VALID"
mint sid_raw --claim "sid=$SID"
refused "require_session: the raw session ID as sid is refused (a digest is needed)" \
	"$AUTH_ERR" "$REQ" "$PJ_TOKEN"
CTL revoke --session "$DRS" >/dev/null
refused "require_session: after the session is revoked the token is refused" \
	"$AUTH_ERR" "$REQ" "$SIDTOK"

# --- session_ttl --------------------------------------------------------------------------
stack shortttl "" session_ttl=1s
open_with "a session with session_ttl=1s" "$PJ_SERVICE" "$VALID"
sid_file short
sleep 2.2
mark
refused "the session ID after its ttl: refused" "$AUTH_ERR" "$SVC" "$SIDF" authenticate
logged "expired session logged" "refused for user $U: session" "expired"

# --- lock / unlock ------------------------------------------------------------------------
open_with "a session to test locks with" "$SVC" "$VALID"
sid_file lk
mint lockme
LOCKTOK=$PJ_TOKEN
check "pam-jwtctl lock USER: exit 0" eval 'CTL lock "$U" >/dev/null'
mark
refused "locked: a JWT login is refused" "$AUTH_ERR" "$SVC" "$LOCKTOK"
logged "locked JWT login logged" "pam_jwt($SVC:auth): refused for user $U: user is locked"
refused "locked: a session-ID login is refused" "$AUTH_ERR" "$SVC" "$SIDF"
# The account phase: a stack whose auth succeeds without pam_jwt (as for an ssh public
# key), and one where pam_jwt authenticates the JWT and pam_exec locks the user right
# after, before acct_mgmt runs.
pj_service acctonly <<EOF
auth     required pam_permit.so
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
EOF
ACCT=$PJ_SERVICE
mark
refused "locked: acct_mgmt refuses a login pam_jwt did not authenticate (PAM_PERM_DENIED)" \
	"$PERM" "$ACCT" "$LOCKTOK"
logged "account refusal logged" "pam_jwt($ACCT:account): refused for user $U: user is locked"
check "pam-jwtctl unlock USER: exit 0" eval 'CTL unlock "$U" >/dev/null'
login "unlocked: the JWT logs in again" "$SVC" "$LOCKTOK"
login "unlocked: the session ID logs in again" "$SVC" "$SIDF"
login "unlocked: acct_mgmt passes the login pam_jwt did not authenticate" "$ACCT" "$LOCKTOK"
printf '#!/bin/sh\nexec %q lock -c %q "$PAM_USER" >/dev/null\n' "$PJ_CTL" "$CONF" \
	>"$PJ_TMP/lock-now"
chmod 0700 "$PJ_TMP/lock-now"
pj_service lockmid <<EOF
auth     required $PJ_MOD config=$CONF
auth     required pam_exec.so quiet $PJ_TMP/lock-now
account  required $PJ_MOD config=$CONF
EOF
mint lockmid
LOCKMID=$PJ_SERVICE
mark
pj_pamtester "$PJ_SERVICE" "$U" "$PJ_TOKEN" authenticate acct_mgmt
if grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out" &&
	grep -qF "pamtester: $PERM" "$PJ_TMP/pamtester.out"; then
	ok "a JWT login whose user is locked after authentication is refused by acct_mgmt"
else
	not_ok "a JWT login whose user is locked after authentication is refused by acct_mgmt"
	show_out
fi
logged "... by pam_jwt's account phase, with the reason" \
	"pam_jwt($LOCKMID:account): refused for user $U: user is locked"
CTL unlock "$U" >/dev/null
mint afterlockmid
login "... and after unlock a JWT login passes acct_mgmt" "$SVC" "$PJ_TOKEN"

# --- revoke --user ----------------------------------------------------------------------
n=$(CTL sessions -u "$U" | grep -cE '^[0-9a-f]{12} ')
check "pam-jwtctl revoke --user USER revokes all $n sessions" \
	eval 'CTL revoke --user "$U" | grep -qx "revoked $n session(s) of user $U"'
refused "after revoke --user the session ID is refused" "$AUTH_ERR" "$SVC" "$SIDF"
check "no session of the user is left" \
	test "$(CTL sessions -u "$U" | grep -cE '^[0-9a-f]{12} ')" = 0

# --- a store that is missing or unsafe --------------------------------------------------
sed "s|^store_dir = .*|store_dir = $PJ_TMP/no-store|" "$CONF" >"$PJ_TMP/nostore.conf"
chmod 0600 "$PJ_TMP/nostore.conf"
pj_service nostore <<EOF
auth     required $PJ_MOD config=$PJ_TMP/nostore.conf
account  required $PJ_MOD config=$PJ_TMP/nostore.conf
account  required pam_permit.so
session  required $PJ_MOD config=$PJ_TMP/nostore.conf
EOF
refused "a JWT login without a store: PAM_AUTHINFO_UNAVAIL" \
	"Authentication service cannot retrieve authentication info" "$PJ_SERVICE" "$VALID"
pj_service nostore_acct <<EOF
auth     required pam_permit.so
account  required $PJ_MOD config=$PJ_TMP/nostore.conf
account  required pam_permit.so
session  required $PJ_MOD config=$PJ_TMP/nostore.conf
EOF
login "acct_mgmt for a login not ours with no store directory: ignored (no locks there)" \
	"$PJ_SERVICE" "$VALID"
refused "open_session without a store: PAM_SESSION_ERR" "Cannot make/remove an entry for the specified session" \
	"$PJ_SERVICE" "$VALID" authenticate open_session
check "the missing store directory was not created" test ! -e "$PJ_TMP/no-store"

# --- pam-jwtctl without pam-jwtd clears the keyring of what it revokes ------------------
# (core/admin.c: the same change as the daemon's, keyring included)
KCONF=$PJ_TMP/keyring.conf
{ cat "$CONF"; echo "keyring = yes"; } >"$KCONF"
chmod 0600 "$KCONF"
pj_service keyring <<EOF
auth     required $PJ_MOD config=$KCONF
session  required $PJ_MOD config=$KCONF announce_session
EOF
# kr_session: the session ID in $U's persistent keyring (read as $U); fails when absent
kr_session() {
	setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups --reset-env -- \
		keyctl session - sh -c 'p=$(keyctl get_persistent @s) &&
		k=$(keyctl search "$p" user pam_jwt:session 2>/dev/null) && keyctl pipe "$k"' \
		2>/dev/null
}
KSID=""
if pj_pamtester "$PJ_SERVICE" "$U" "$VALID" authenticate open_session; then
	KSID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
fi
check "a login with keyring = yes keeps its session ID in $U's keyring" \
	eval '[ -n "$KSID" ] && [ "$(kr_session)" = "$KSID" ]'
KD=$(printf '%s' "$KSID" | sha256sum | cut -d' ' -f1)
check "pam-jwtctl revoke --session, no pam-jwtd running" CTL revoke --session "${KD:0:12}"
check_fails "... and the session ID is gone from $U's keyring" kr_session

# --- nothing secret in the log --------------------------------------------------------
if [ "$PJ_LOG_MODE" = none ]; then skip "no session ID in the log (no syslog to read)"; else
	leaked=""
	for f in "$PJ_TMP"/sid-*; do
		s=$(cat "$f")
		[ -n "$s" ] && pj_log_text | grep -qF -- "$s" && leaked="$leaked $(basename "$f")"
	done
	if [ -z "$leaked" ]; then ok "no session ID appears in the log"
	else not_ok "session IDs in the log:$leaked"; fi
fi

done_testing
