#!/bin/bash
# pam-jwtctl's store commands (sessions, revoke, lock/unlock, gc) and verify's read-only
# store checks, against a private store. Needs no root.
#
# Everything lives in one private temp dir: keys, a config with allow_non_tmpfs = yes (the
# temp dir is not on tmpfs) and a 0700 store directory. Sessions are made by driving a
# real libpam stack through tests/integration/helpers/pam_drive.py with a private service
# directory (pam_start_confdir), so nothing in /etc is read or written; the store and
# config files belong to the invoking user, which the store and the module accept.
# Without pam_start_confdir (libpam < 1.4) the session cases are skipped.
set -u
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/common.sh"

if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
pj_tmpdir || { not_ok "make a temp dir"; done_testing; exit; }
ME=$(id -un)
STORE=$PJ_TMP/store
mkdir -m 0700 "$STORE"
PERSIST=$PJ_TMP/persist
mkdir -m 0700 "$PERSIST"
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
K=$PJ_TMP/keys
CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOF
jwks = $K/es1.jwks
store_dir = $STORE
persist_dir = $PERSIST
allow_non_tmpfs = yes
announce_session = yes
socket_path = $PJ_TMP/no-daemon.sock
EOF
chmod 0600 "$CONF"
CTL=("$PJ_CTL")
DRIVE=$PJ_HELPERS/pam_drive.py
OUT=$PJ_TMP/out
ERR=$PJ_TMP/err

# ctl ARGS...: pam-jwtctl, stdout in $OUT, stderr in $ERR, returns its exit code
ctl() { "${CTL[@]}" "$@" >"$OUT" 2>"$ERR"; }
# ctl_is DESC WANT_RC PATTERN ARGS...: exit code WANT_RC and stdout+stderr match the ERE
ctl_is() {
	local d=$1 want=$2 pat=$3 rc=0
	shift 3
	ctl "$@" || rc=$?
	if [ "$rc" = "$want" ] && cat "$OUT" "$ERR" | grep -qE -- "$pat"; then ok "$d"; else
		not_ok "$d (exit $rc, want $want and /$pat/)"
		cat "$OUT" "$ERR" | head -5 | sed 's/^/#   /'
	fi
}
# a time in human output: ISO 8601, UTC
ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
mint() { pj_token_file "$1" --key "$K/es1.key" --kid es1 -u "$ME" "${@:2}"; }
# verify_is DESC WANT_RC PATTERN TOKENFILE [CONFIG]
verify_is() {
	pj_have_token "$1" "$4" || return
	ctl_is "$1" "$2" "$3" verify -c "${5:-$CONF}" -u "$ME" - <"$4"
}
# store_state: every record of the store, by name, size and content hash (the lock file
# only by name: it is opened but never written)
store_state() {
	(cd "$STORE" && find . -mindepth 1 -printf '%P %m %s\n' | sort &&
		find . -mindepth 1 -type f ! -name .lock -print0 | sort -z | xargs -0r sha256sum)
}
# listing: the full session listing (JSON; ages aside, it names every session)
listing() { "$PJ_CTL" sessions -c "$CONF" --json | grep -v '"last_seen"'; }
digest_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# --- an empty store -----------------------------------------------------------------
ctl_is "sessions on an empty store: exit 0, header only" 0 '^SESSION +USER' sessions -c "$CONF"
check "sessions on an empty store lists no session" test "$(wc -l <"$OUT")" = 1
ctl_is "sessions --json on an empty store: []" 0 '^\[\]$' sessions -c "$CONF" --json
ctl_is "sessions -u USER on an empty store: exit 0" 0 '^SESSION' sessions -c "$CONF" -u "$ME"
printf 'jwks = %s\nstore_dir = %s/nonexistent\nallow_non_tmpfs = yes\n' "$K/es1.jwks" \
	"$PJ_TMP" >"$PJ_TMP/nostore.conf"
chmod 0600 "$PJ_TMP/nostore.conf"
ctl_is "sessions with a store_dir that does not exist: unavailable, exit 2" 2 \
	'unavailable: .*nonexistent' sessions -c "$PJ_TMP/nostore.conf"
mkdir -m 0750 "$PJ_TMP/openstore"
printf 'jwks = %s\nstore_dir = %s/openstore\nallow_non_tmpfs = yes\n' "$K/es1.jwks" \
	"$PJ_TMP" >"$PJ_TMP/openstore.conf"
chmod 0600 "$PJ_TMP/openstore.conf"
ctl_is "a store directory with group access is refused: exit 2" 2 'unavailable' \
	sessions -c "$PJ_TMP/openstore.conf"
if [ "$(stat -f -c %T "$STORE")" != tmpfs ]; then
	grep -v allow_non_tmpfs "$CONF" >"$PJ_TMP/tmpfsonly.conf"
	chmod 0600 "$PJ_TMP/tmpfsonly.conf"
	ctl_is "a store not on tmpfs is refused without allow_non_tmpfs: exit 2" 2 'unavailable' \
		sessions -c "$PJ_TMP/tmpfsonly.conf"
else
	skip "store not on tmpfs refused (the temp dir is on tmpfs here)"
fi

# --- verify's store checks are read-only ----------------------------------------------
mint t1
T1=$PJ_TOKEN
mint t2
T2=$PJ_TOKEN
verify_is "verify: a fresh token is accepted" 0 '^accepted \(jti=' "$T1"
# as the module (a JWT login needs a usable store: PAM_AUTHINFO_UNAVAIL), verify is
# unavailable without one (commit eaa393d)
ctl_is "verify against a store that does not exist: unavailable, exit 2" 2 \
	'^unavailable: .*store' verify -c "$PJ_TMP/nostore.conf" -u "$ME" - <"$T1"
check "verify did not create the missing store" test ! -e "$PJ_TMP/nonexistent"
sed 's/^announce_session.*/single_use = yes/' "$CONF" >"$PJ_TMP/single.conf"
chmod 0600 "$PJ_TMP/single.conf"
before=$(store_state)
verify_is "verify with single_use: accepted" 0 '^accepted' "$T1" "$PJ_TMP/single.conf"
verify_is "verify with single_use again: still accepted (verify never uses a token up)" 0 \
	'^accepted' "$T1" "$PJ_TMP/single.conf"
check "verify wrote nothing to the store" test "$(store_state)" = "$before"
mint nojti --drop-claim jti
verify_is "verify with single_use: a token without jti is refused" 1 \
	'refused: single_use needs a token with a jti' "$PJ_TOKEN" "$PJ_TMP/single.conf"

# --- revoke --jti ---------------------------------------------------------------------
J1=$(pj_jti "$T1")
ctl_is "revoke --jti: exit 0" 0 \
	"^revoked token id $J1 until $ISO, and 0 session\(s\) it opened$" \
	revoke -c "$CONF" --jti "$J1"
check "the revocation is kept in persist_dir too" test -f "$PERSIST/j-$(digest_of "$J1")"
verify_is "verify of the revoked token: refused: token id is revoked (exit 1)" 1 \
	"^refused: token id is revoked \(jti=$J1, kid=es1\)$" "$T1"
verify_is "another token of the same user is still accepted" 0 '^accepted' "$T2"
ctl_is "revoke --jti again (idempotent): exit 0" 0 '^revoked token id' revoke -c "$CONF" --jti "$J1"
before=$(store_state)
ctl_is "revoke --jti '': exit 2" 2 'bad user name or jti' revoke -c "$CONF" --jti ''
ctl_is "revoke --jti with --exp in the past: exit 2" 2 'bad --exp' \
	revoke -c "$CONF" --jti other-jti --exp 1000
ctl_is "revoke --jti with --exp garbage: exit 2" 2 'bad --exp' \
	revoke -c "$CONF" --jti other-jti --exp soon
ctl_is "revoke with two of --session/--user/--jti: exit 2" 2 'exactly one of' \
	revoke -c "$CONF" --jti other-jti --user "$ME"
ctl_is "revoke with none of them: exit 2" 2 'exactly one of' revoke -c "$CONF"
check "refused revoke commands changed nothing in the store" test "$(store_state)" = "$before"

# --- lock / unlock --------------------------------------------------------------------
ctl_is "lock USER: exit 0" 0 "^locked user $ME until unlocked$" lock -c "$CONF" "$ME"
verify_is "verify for a locked user: refused: user is locked" 1 '^refused: user is locked' "$T2"
ctl_is "lock another user: exit 0" 0 'locked user pjt-nobody' lock -c "$CONF" pjt-nobody
ctl_is "unlock USER: exit 0" 0 "^unlocked user $ME$" unlock -c "$CONF" "$ME"
verify_is "verify after unlock: accepted" 0 '^accepted' "$T2"
ctl_is "lock USER --until 2h: exit 0" 0 "^locked user $ME until $ISO$" \
	lock -c "$CONF" "$ME" --until 2h
verify_is "verify during a timed lock: refused" 1 '^refused: user is locked' "$T2"
ctl_is "unlock USER: exit 0" 0 "^unlocked user $ME$" unlock -c "$CONF" "$ME"
verify_is "verify after the timed lock is lifted: accepted" 0 '^accepted' "$T2"
before=$(store_state)
ctl_is "lock with --until in the past: exit 2" 2 'bad --until' lock -c "$CONF" "$ME" --until 1000
ctl_is "lock without a user: exit 2" 2 'usage' lock -c "$CONF"
ctl_is "unlock with --until: exit 2" 2 'usage' unlock -c "$CONF" "$ME" --until 2h
check "refused lock commands changed nothing in the store" test "$(store_state)" = "$before"
verify_is "the user is still unlocked" 0 '^accepted' "$T2"

# --- a user named in another case ------------------------------------------------------
# NSS sources that fold case (sssd or winbind with case-insensitive names) give "ALICE" the
# account "alice"; logins are keyed by the account name, so a lock must be too (issue 9).
# A getpwnam_r shim in LD_PRELOAD folds $ME the same way here.
UP=$(printf '%s' "$ME" | tr '[:lower:]' '[:upper:]')
cat >"$PJ_TMP/nss_fold.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pwd.h>
#include <stdlib.h>
#include <strings.h>

typedef int (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, struct passwd **);

/* getpwnam_r as a case-folding NSS source answers it, for the user $PJ_FOLD_USER */
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen,
	       struct passwd **result)
{
	getpwnam_r_fn real = (getpwnam_r_fn)dlsym(RTLD_NEXT, "getpwnam_r");
	const char *fold = getenv("PJ_FOLD_USER");

	if (fold != NULL && strcasecmp(name, fold) == 0)
		name = fold;
	return real(name, pwd, buf, buflen, result);
}
EOF
if [ "$UP" = "$ME" ]; then
	skip "lock by a name in another case (the user name $ME has no letters)"
elif ! ${CC:-cc} -shared -fPIC -o "$PJ_TMP/nss_fold.so" "$PJ_TMP/nss_fold.c" -ldl; then
	not_ok "build the case-folding getpwnam_r shim"
else
	ctl_is "lock $UP, a name NSS does not know: the lock is on that name" 0 \
		"^locked user $UP until unlocked$" lock -c "$CONF" "$UP"
	verify_is "... which is not the account $ME: verify for $ME accepted" 0 '^accepted' "$T2"
	ctl unlock -c "$CONF" "$UP"
	CTL=(env LD_PRELOAD="$PJ_TMP/nss_fold.so" PJ_FOLD_USER="$ME" "$PJ_CTL")
	ctl_is "with an NSS that folds case, lock $UP locks the account $ME" 0 \
		"^locked user $ME until unlocked$" lock -c "$CONF" "$UP"
	verify_is "... verify for $ME: refused: user is locked" 1 '^refused: user is locked' "$T2"
	ctl_is "... unlock ${ME^} unlocks $ME" 0 "^unlocked user $ME$" unlock -c "$CONF" "${ME^}"
	verify_is "... verify for $ME accepted again" 0 '^accepted' "$T2"
	CTL=("$PJ_CTL")
fi

# --- sessions made through libpam ----------------------------------------------------
HAVE_CONFDIR=0
"$PJ_PY" -c 'import ctypes; ctypes.CDLL("libpam.so.0").pam_start_confdir' 2>/dev/null &&
	HAVE_CONFDIR=1
PAMD=$PJ_TMP/pam.d
mkdir -m 0755 "$PAMD"
cat >"$PAMD/full" <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF
EOF
cat >"$PAMD/short" <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF session_ttl=1s
EOF
# drive SERVICE TOKENFILE OPS...: pam_drive.py on the private service dir, output in $OUT
drive() {
	local svc=$1 tok=$2
	shift 2
	"$PJ_PY" "$DRIVE" --confdir "$PAMD" "$svc" "$ME" "$tok" "$@" >"$OUT" 2>"$ERR"
}
# new_session SERVICE: a JWT login with open_session; SID gets the announced session ID
new_session() {
	local rc=0
	SID=""
	mint "login$RANDOM" || return 1
	drive "$1" "$PJ_TOKEN" authenticate acct_mgmt open_session || rc=$?
	SID=$(sed -n 's/^# message: Session ID: \(pjs_[A-Za-z0-9_-]\{43\}\)$/\1/p' "$OUT")
	if [ "$rc" != 0 ] || [ -z "$SID" ]; then
		echo "# pam_drive exit $rc:" >&2
		sed 's/^/#   /' "$OUT" "$ERR" >&2
		return 1
	fi
}

if [ "$HAVE_CONFDIR" = 0 ]; then
	skip "sessions made through libpam (no pam_start_confdir in this libpam)"
else
	if new_session full; then
		ok "JWT login with open_session through libpam announces a session ID"
		S1=$SID
		D1=$(digest_of "$S1")
	else not_ok "JWT login with open_session through libpam announces a session ID"; fi
	if new_session full; then S2=$SID; D2=$(digest_of "$S2"); fi
	ctl_is "sessions -u USER lists the first session by its digest prefix" 0 \
		"^${D1:0:12} +$ME +full " sessions -c "$CONF" -u "$ME"
	check "sessions -u USER lists two sessions" test "$(grep -c "^[0-9a-f]\{12\} " "$OUT")" = 2
	check "the listing never shows a session ID" eval '! grep -q pjs_ "$OUT"'
	ctl_is "sessions -u another user lists none" 0 '^SESSION' sessions -c "$CONF" -u pjt-nobody
	check "... and only the header" test "$(wc -l <"$OUT")" = 1
	ctl_is "sessions --json gives the full digests" 0 "\"digest\": \"$D2\"" \
		sessions -c "$CONF" --json
	check "no store file holds a session ID" eval '! grep -rqF -e "$S1" -e "$S2" "$STORE"'

	printf '%s\n' "$S1" >"$PJ_TMP/sid1"
	printf '%s\n' "$S2" >"$PJ_TMP/sid2"
	check_rc "login with the first session ID: accepted" 0 \
		drive full "$PJ_TMP/sid1" authenticate acct_mgmt

	# --- revoke --session with bad arguments changes nothing ---------------------------
	before=$(store_state)
	list_before=$(listing)
	# an 8-digit hex prefix of neither session
	unknown=00000000
	while [ "${D1:0:8}" = "$unknown" ] || [ "${D2:0:8}" = "$unknown" ]; do
		unknown=$(printf '%08x' $((RANDOM * RANDOM)))
	done
	# a well-formed session ID that was never issued
	fake=pjs_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	bad_session() { # DESC ARG PATTERN
		local rc=0
		ctl revoke -c "$CONF" --session "$2" || rc=$?
		if { [ "$rc" = 1 ] || [ "$rc" = 2 ]; } && cat "$OUT" "$ERR" | grep -qE -- "$3"; then
			ok "revoke --session $1: exit $rc, \"$(cat "$OUT" "$ERR" | head -1)\""
		else
			not_ok "revoke --session $1 (exit $rc, want 1 or 2 and /$3/)"
			cat "$OUT" "$ERR" | head -3 | sed 's/^/#   /'
		fi
	}
	bad_session "with a malformed session ID (pjs_short)" pjs_short 'not a digest prefix'
	bad_session "with a session ID one character short" "${S1:0:46}" 'not a digest prefix'
	bad_session "with non-hex text" zzzzzzzzzzzz 'not a digest prefix'
	bad_session "with an unknown 8-digit prefix" "$unknown" 'refused: no session'
	bad_session "with a 7-digit prefix of a real session (too short)" "${D1:0:7}" 'too short'
	bad_session "with a 1-digit prefix" "${D1:0:1}" 'too short'
	bad_session "with an empty argument" '' 'too short|usage|session'
	bad_session "with 65 hex digits" "${D1}0" 'not a digest prefix'
	bad_session "with an unknown well-formed session ID" "$fake" 'unknown session|no session'
	check "bad revoke --session arguments changed no store file" \
		test "$(store_state)" = "$before"
	check "bad revoke --session arguments changed no session" test "$(listing)" = "$list_before"
	check_rc "the first session ID still logs in" 0 drive full "$PJ_TMP/sid1" authenticate

	# --- revoke --session ------------------------------------------------------------
	ctl_is "revoke --session with a 12-digit digest prefix: exit 0" 0 \
		"^revoked session ${D1:0:12}$" revoke -c "$CONF" --session "${D1:0:12}"
	ctl_is "the revoked session is gone from the listing" 0 '^SESSION' sessions -c "$CONF"
	check "... and the other one is still listed" \
		eval '! grep -q "^${D1:0:12}" "$OUT" && grep -q "^${D2:0:12}" "$OUT"'
	check_rc "login with the revoked session ID: PAM_AUTH_ERR" 7 \
		drive full "$PJ_TMP/sid1" authenticate
	ctl_is "revoke --session of the same prefix again: exit 1" 1 'no session' \
		revoke -c "$CONF" --session "${D1:0:12}"
	ctl_is "revoke --session with an upper-case full digest: exit 0" 0 \
		"^revoked session ${D2:0:12}$" revoke -c "$CONF" --session "${D2^^}"
	check_rc "login with the second session ID after its revocation: PAM_AUTH_ERR" 7 \
		drive full "$PJ_TMP/sid2" authenticate
	new_session full && S3=$SID
	printf '%s\n' "${S3:-}" >"$PJ_TMP/sid3"
	ctl_is "revoke --session with the full session ID: exit 0" 0 "^revoked session" \
		revoke -c "$CONF" --session "${S3:-}"
	check_rc "login with that session ID: PAM_AUTH_ERR" 7 drive full "$PJ_TMP/sid3" authenticate

	# --- revoke --user -------------------------------------------------------------------
	new_session full && printf '%s\n' "$SID" >"$PJ_TMP/sid4"
	new_session full
	ctl_is "revoke --user: exit 0, both sessions" 0 "^revoked 2 session\(s\) of user $ME$" \
		revoke -c "$CONF" --user "$ME"
	check_rc "login with a session ID of the revoked user: PAM_AUTH_ERR" 7 \
		drive full "$PJ_TMP/sid4" authenticate
	ctl_is "revoke --user with no sessions: exit 0, none" 0 '^revoked 0 session' \
		revoke -c "$CONF" --user "$ME"

	# --- a lock stops a session-ID login -----------------------------------------------
	new_session full && printf '%s\n' "$SID" >"$PJ_TMP/sid5"
	ctl lock -c "$CONF" "$ME"
	check_rc "session-ID login of a locked user: PAM_AUTH_ERR" 7 \
		drive full "$PJ_TMP/sid5" authenticate
	ctl unlock -c "$CONF" "$ME"
	check_rc "the same session ID after unlock: accepted" 0 \
		drive full "$PJ_TMP/sid5" authenticate acct_mgmt
	check_rc "close_session after a session login through the stack: success" 0 \
		drive full "$PJ_TMP/sid5" authenticate open_session close_session

	# --- the account check of a login another module let in, by a name in another case
	# pam_unix or sssd may let "ALICE" in as the account "alice": the lock on the account
	# must stop that login in pam_jwt's account phase.
	cat >"$PAMD/other" <<EOF
auth     required pam_permit.so
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
EOF
	fold_drive() { # USER: authenticate + acct_mgmt through "other" with the folding shim
		env LD_PRELOAD="$PJ_TMP/nss_fold.so" PJ_FOLD_USER="$ME" "$PJ_PY" "$DRIVE" \
			--confdir "$PAMD" other "$1" "$T2" authenticate acct_mgmt >"$OUT" 2>"$ERR"
	}
	if [ "$UP" != "$ME" ] && [ -f "$PJ_TMP/nss_fold.so" ]; then
		check_rc "another module's login of $UP (NSS folds it to $ME), not locked: accepted" 0 \
			fold_drive "$UP"
		ctl lock -c "$CONF" "$ME"
		check_rc "... with $ME locked, the account phase refuses $UP: PAM_PERM_DENIED" 6 \
			fold_drive "$UP"
		check_rc "... and $ME itself: PAM_PERM_DENIED" 6 fold_drive "$ME"
		ctl unlock -c "$CONF" "$ME"
		check_rc "... after unlock, $UP is accepted again" 0 fold_drive "$UP"
	else
		not_ok "the account phase under a name NSS folds (no shim was built)"
	fi
fi

# --- gc --------------------------------------------------------------------------------
# An expired session (session_ttl=1s), a jti revoked until 1s from now and a 1s lock
# become garbage; the earlier 24 h revocation stays.
n_expiring=2
ctl revoke -c "$CONF" --jti short-lived-jti --exp 1s
ctl lock -c "$CONF" pjt-short-lock --until 1s
if [ "$HAVE_CONFDIR" = 1 ]; then
	new_session short && n_expiring=3
	printf '%s\n' "$SID" >"$PJ_TMP/sid_short"
fi
sleep 2.2
if [ "$HAVE_CONFDIR" = 1 ]; then
	check_rc "login with an expired session ID: PAM_AUTH_ERR" 7 \
		drive short "$PJ_TMP/sid_short" authenticate
fi
records_before=$(find "$STORE" -mindepth 1 -name '[sjlui]-*' | wc -l)
ctl_is "gc removes the expired records: exit 0" 0 "^removed $n_expiring record\(s\)$" gc -c "$CONF"
records_after=$(find "$STORE" -mindepth 1 -name '[sjlui]-*' | wc -l)
check "gc removed exactly that many files ($records_before -> $records_after)" \
	test "$((records_before - records_after))" = "$n_expiring"
if [ "$HAVE_CONFDIR" = 1 ]; then
	check "the expired session's record is gone" \
		test ! -e "$STORE/s-$(digest_of "$(cat "$PJ_TMP/sid_short")")"
fi
verify_is "the 24 h revocation survived gc" 1 'refused: token id is revoked' "$T1"
ctl_is "gc again: nothing to remove" 0 '^removed 0 record\(s\)$' gc -c "$CONF"
ctl_is "gc with a stray argument: exit 2" 2 'usage' gc -c "$CONF" extra

# --- restore: revocations and locks survive a reboot -----------------------------------
# A reboot empties the tmpfs store; persist_dir keeps what an admin revoked or locked.
ctl_is "lock a user for the reboot test: exit 0" 0 '^locked user pjt-rebooted until unlocked$' \
	lock -c "$CONF" pjt-rebooted
check "the lock is kept in persist_dir" test -f "$PERSIST/l-$(digest_of pjt-rebooted)"
ctl lock -c "$CONF" pjt-unlocked
ctl_is "unlock another user: exit 0" 0 '^unlocked user pjt-unlocked$' unlock -c "$CONF" pjt-unlocked
check "an unlock removes the lock from persist_dir too" \
	test ! -e "$PERSIST/l-$(digest_of pjt-unlocked)"
find "$STORE" -mindepth 1 -delete
verify_is "after the store is emptied (a reboot), the revoked token is accepted again" 0 \
	'^accepted' "$T1"
ctl_is "restore: exit 0" 0 '^restored [0-9]+ revocation\(s\) and lock\(s\)$' restore -c "$CONF"
verify_is "after restore the token is refused again" 1 '^refused: token id is revoked' "$T1"
check "after restore the lock is back" test -f "$STORE/l-$(digest_of pjt-rebooted)"
ctl_is "restore again changes nothing that matters: exit 0" 0 '^restored' restore -c "$CONF"
printf 'jwks = %s\nstore_dir = %s\npersist_dir = none\nallow_non_tmpfs = yes\n' "$K/es1.jwks" \
	"$STORE" >"$PJ_TMP/nopersist.conf"
chmod 0600 "$PJ_TMP/nopersist.conf"
ctl_is "restore with persist_dir = none: nothing to restore" 0 '^nothing to restore' \
	restore -c "$PJ_TMP/nopersist.conf"
chmod 0755 "$PERSIST"
ctl_is "restore from a persist_dir open to others: unavailable, exit 2" 2 '^unavailable' \
	restore -c "$CONF"
chmod 0700 "$PERSIST"
ctl_is "sessions with a relative config path: exit 2" 2 '.' sessions -c pam_jwt.conf

done_testing
