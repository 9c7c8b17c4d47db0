#!/bin/bash
# pam_jwt.so behind a real sudo (root).
#
# sudo uses the PAM service "sudo" unless sudoers says otherwise. The suite never touches
# /etc/pam.d/sudo nor any existing file in /etc/sudoers.d, and needs no mount namespace
# (it also runs in a chroot): a new drop-in /etc/sudoers.d/pamjwt-test-PID (checked with
# visudo -cf before it is linked in, mode 0440) sets "Defaults:USER pam_service=" and
# pam_login_service to pamjwt-sudo-PID for the test user alone and lets that user run
# /usr/bin/id as root; the new file /etc/pam.d/pamjwt-sudo-PID holds the stack. Both are
# removed by the EXIT trap (normal exit, failure, SIGINT, SIGTERM, SIGHUP). A pam_exec
# probe shows that sudo really uses that service. Cases run
# `runuser -u USER -- sudo -S -k ...`.
#
# The token goes to sudo -S on standard input from a 0600 file.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_sudo needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
if ! command -v sudo >/dev/null || ! command -v visudo >/dev/null ||
	! command -v runuser >/dev/null; then
	not_ok "sudo, visudo and runuser are installed (scripts/install-deps)"
	done_testing
	exit
fi

real_sudo_pam=$(sha256sum /etc/pam.d/sudo 2>/dev/null)
# the state of /etc/pam.d and /etc/sudoers.d apart from files of concurrent test runs
dir_state() { pj_dir_state "$1" | grep -v '^\.\{0,1\}pamjwt-'; }
real_pamd=$(dir_state /etc/pam.d)
real_sudoers_d=$(dir_state /etc/sudoers.d)
pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-sudo
pj_keygen ES256 es1 && pj_keygen HS256 hs1 && pj_keygen RS256 rs1 ||
	{ not_ok "keygen"; done_testing; exit; }
pj_merge_jwks "$K/all.jwks" "$K/es1.jwks" "$K/hs1.jwks" "$K/rs1.jwks"
CONF=$PJ_TMP/pam_jwt.conf
printf 'issuer = %s\naudience = %s\njwks = %s\nstore_dir = %s\n' \
	"$ISS" "$AUD" "$K/all.jwks" "$PJ_STORE" >"$CONF"
chmod 0600 "$CONF"

pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
if ! pj_user_reaches "$U" "$(command -v sudo)" /usr/bin/id 2>&1; then
	not_ok "the test user can run /bin/sh and reach sudo and /usr/bin/id"
	done_testing
	exit
fi
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U, log capture: $PJ_LOG_MODE"

SVC=pamjwt-sudo-$$
pj_pam_probe

# sudo_stack [AUTH_ARGS] [ACCOUNT_ARGS]: (re)write /etc/pam.d/$SVC. sudo runs
# authenticate, setcred and acct_mgmt in one process on one handle, so pam_jwt alone can
# make up the auth stack; pam_permit decides the account phase of logins pam_jwt did not
# authenticate (its acct_mgmt then returns PAM_IGNORE).
sudo_stack() {
	pj_pamd_write "$SVC" <<EOF || { not_ok "write /etc/pam.d/$SVC"; done_testing; exit 1; }
auth     required $PJ_MOD config=$CONF ${1:-}
account  required $PJ_MOD config=$CONF ${2:-}
account  required pam_permit.so
session  required pam_permit.so
EOF
}
sudo_stack

# passwd_tries=1: one prompt per run, so that what is left of an over-long answer is never
# read as a second attempt. The PAM service is set for the test user only; nobody else's
# sudo changes.
DROPIN=/etc/sudoers.d/pamjwt-test-$$
if ! pj_sudoers_dropin "${DROPIN##*/}" <<EOF; then
# pam_jwt integration test (PID $$, removed at its exit): $U may run id as root after
# authenticating through the PAM service $SVC
Defaults:$U passwd_tries=1, timestamp_timeout=0
Defaults:$U pam_service=$SVC, pam_login_service=$SVC
$U ALL=(root) /usr/bin/id
EOF
	not_ok "sudoers drop-in $DROPIN passes visudo -cf and is installed"
	done_testing
	exit 1
fi
ok "sudoers drop-in $DROPIN passes visudo -cf and is installed"
check "the drop-in is root's, mode 0440" test "$(stat -c %u:%g:%a "$DROPIN")" = 0:0:440
check "the whole sudoers configuration passes visudo -c" visudo -cq

# run_sudo TOKENFILE: as the test user, sudo -S -k -u root id -un with the token on stdin
run_sudo() {
	timeout 60 runuser -u "$U" -- \
		sudo -S -k -u root /usr/bin/id -un <"$1" >"$PJ_TMP/sudo.out" 2>"$PJ_TMP/sudo.err"
}
sudo_ok() {
	local d=$1 rc=0
	pj_have_token "$d" "$2" || return
	run_sudo "$2" || rc=$?
	if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/sudo.out")" = root ]; then ok "$d"; else
		not_ok "$d (exit $rc, output \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
		sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -5
	fi
}
sudo_refused() {
	local d=$1 rc=0
	pj_have_token "$d" "$2" || return
	run_sudo "$2" || rc=$?
	if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]; then ok "$d"; else
		not_ok "$d (exit $rc, output \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
		sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -5
	fi
}
logged() {
	local d=$1 tok=$2 reason
	if [ "$PJ_LOG_MODE" = none ]; then
		skip "$d (no syslog to read)"
		return
	fi
	reason=$(pj_verify_reason "$CONF" "$U" "$tok") || {
		not_ok "$d (pam-jwtctl verify did not refuse the token)"
		return
	}
	if pj_log_has_reason "pam_jwt($SVC:auth): refused" "$reason"; then ok "$d: \"$reason\""; else
		not_ok "$d: no log line with \"$reason\""
		pj_log_text | grep -F "pam_jwt(" | tail -3 | sed 's/^/#   /'
	fi
}
mint() {
	local name=$1
	shift
	pj_token_file "$name" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" "$@"
}

# --- the PAM service sudo uses ---------------------------------------------------------
# The test user has no password, so through /etc/pam.d/sudo no answer could pass. With a
# pam_exec probe first in /etc/pam.d/$SVC, a valid token must pass and the probe must
# have seen PAM_SERVICE=$SVC for the auth and the account phase; with a deny stack there
# the same token must fail.
mint valid
VALID=$PJ_TOKEN
echo "# ES256 token: $(pj_token_len "$VALID") bytes"
pj_pamd_write "$SVC" <<EOF
auth     optional pam_exec.so seteuid quiet $PJ_PROBE
auth     required $PJ_MOD config=$CONF
account  optional pam_exec.so seteuid quiet $PJ_PROBE
account  required $PJ_MOD config=$CONF
session  required pam_permit.so
EOF
sudo_ok "sudo -S with a valid token through the stack of /etc/pam.d/$SVC" "$VALID"
check "sudo ran /etc/pam.d/$SVC for auth and account (pam_exec saw PAM_SERVICE=$SVC)" \
	eval 'grep -qx "$SVC auth $U" "$PJ_PROBE_LOG" && grep -qx "$SVC account $U" "$PJ_PROBE_LOG"'
pj_pamd_write "$SVC" <<EOF
auth     required pam_deny.so
account  required pam_deny.so
session  required pam_permit.so
EOF
sudo_refused "a deny stack in /etc/pam.d/$SVC refuses the same valid token" "$VALID"
sudo_stack

# --- tokens -------------------------------------------------------------------------
sudo_ok "sudo -S with a valid ES256 token runs the command as root" "$VALID"
pj_token_file hs --key "$K/hs1.key" --kid hs1 -u "$U" --iss "$ISS" --aud "$AUD"
sudo_ok "sudo -S with a valid HS256 token" "$PJ_TOKEN"

pj_tamper_sig "$VALID" "$PJ_TMP/tok/tampered"
sudo_refused "tampered token refused" "$PJ_TMP/tok/tampered"
check "sudo reported the failed attempt" grep -q "incorrect password attempt" "$PJ_TMP/sudo.err"
logged "tampered token: reason logged" "$PJ_TMP/tok/tampered"
mint expired --now "$(($(date +%s) - 7200))" --ttl 15m
sudo_refused "expired token refused" "$PJ_TOKEN"
logged "expired token: reason logged" "$PJ_TOKEN"
pj_token_file rootstok --key "$K/es1.key" --kid es1 -u root --iss "$ISS" --aud "$AUD"
sudo_refused "a token for root does not let the user through (sudo authenticates the caller)" \
	"$PJ_TOKEN"
logged "token of another user: reason logged" "$PJ_TOKEN"
echo "just a password" >"$PJ_TMP/tok/password"
sudo_refused "a password is refused" "$PJ_TMP/tok/password"

# acct_mgmt re-check under sudo: a token 5 minutes past exp passes auth with leeway=10m
# (the most the module allows) and is stopped by an account line with leeway=0.
mint stale --now "$(($(date +%s) - 900))" --ttl 10m
sudo_stack leeway=10m leeway=10m
sudo_ok "token 5 min past exp accepted when both lines allow leeway=10m" "$PJ_TOKEN"
sudo_stack leeway=10m leeway=0
sudo_refused "same token: account line with leeway=0 refuses (acct_mgmt re-check)" "$PJ_TOKEN"
check "sudo reported a failure of the account phase, not of authentication" \
	grep -Eq "PAM account management error|account validation failure|[Aa]ccount expired" \
	"$PJ_TMP/sudo.err"
if [ "$PJ_LOG_MODE" = none ]; then skip "account refusal logged (no syslog to read)"; else
	check "account refusal logged as pam_jwt(SERVICE:account) with the reason" \
		pj_log_has "pam_jwt($SVC:account): refused" "expired" "jti=$(pj_jti "$PJ_TOKEN")"
fi
sudo_stack

# --- token size ---------------------------------------------------------------------
# sudo reads a reply into a buffer of SUDO_CONV_REPL_MAX + 1 = 1024 bytes, and the
# sudoers plugin's PAM conversation function then refuses any reply of PAM_MAX_RESP_SIZE
# (512) bytes or more with PAM_CONV_ERR (plugins/sudoers/auth/pam.c, converse()). So a token
# can be at most 511 bytes through sudo, with -S or from a terminal alike; a longer one never
# reaches pam_jwt. ES256 and HS256 tokens with the usual claims fit; RS256/PS256 tokens
# (342 bytes of signature alone at 2048 bits) do not.
ESK="$K/es1.key:es1"
HSK="$K/hs1.key:hs1"
SZ=(-u "$U" --iss "$ISS" --aud "$AUD")
if pj_token_of_length t511 511 "$ESK" "$HSK" -- "${SZ[@]}"; then
	sudo_ok "a 511-byte token (PAM_MAX_RESP_SIZE - 1) passes sudo" "$PJ_TOKEN"
else not_ok "make a 511-byte token"; fi
# never_reached DESC TOKENFILE: sudo refused it and pam_jwt logged nothing about it
never_reached() {
	local d=$1 tok=$2 jti
	sudo_refused "$d: refused" "$tok"
	if [ "$PJ_LOG_MODE" = none ]; then skip "$d: never reached pam_jwt (no syslog)"; return; fi
	jti=$(pj_jti "$tok")
	if [ -n "$jti" ] && pj_log_lacks "jti=$jti"; then ok "$d: never reached pam_jwt"; else
		not_ok "$d: never reached pam_jwt"
	fi
}
if pj_token_of_length t512 512 "$ESK" "$HSK" -- "${SZ[@]}"; then
	never_reached "a 512-byte token: sudo's conversation rejects replies >= 512 bytes" "$PJ_TOKEN"
	# The same token is fine for the module: pam-jwtctl verify accepts it.
	check "the 512-byte token itself is valid (pam-jwtctl verify accepts it)" \
		eval '"$PJ_CTL" verify -c "$CONF" -u "$U" - <"$PJ_TOKEN" >/dev/null'
else not_ok "make a 512-byte token"; fi
if pj_token_of_length t8k 8192 "$ESK" "$HSK" -- "${SZ[@]}"; then
	never_reached "an 8 KiB token through sudo" "$PJ_TOKEN"
else not_ok "make an 8 KiB token"; fi
pj_token_file rs --key "$K/rs1.key" --kid rs1 "${SZ[@]}"
echo "# RS256 token with the same claims: $(pj_token_len "$PJ_TOKEN") bytes"
never_reached "an RS256 token ($(pj_token_len "$PJ_TOKEN") bytes) through sudo" "$PJ_TOKEN"

# --- the host is as it was ------------------------------------------------------------
check "the real /etc/pam.d/sudo was not changed" \
	test "$(sha256sum /etc/pam.d/sudo 2>/dev/null)" = "$real_sudo_pam"
# Undo everything now (the EXIT trap would do the same) and look at what is left.
pj_run_cleanup
check "the sudoers drop-in $DROPIN was removed" test ! -e "$DROPIN" -a ! -L "$DROPIN"
check "/etc/pam.d/$SVC was removed" test ! -e "/etc/pam.d/$SVC"
check "/etc/sudoers.d is as before the run (names, owners, modes, sizes, mtimes)" \
	test "$(dir_state /etc/sudoers.d)" = "$real_sudoers_d"
check "/etc/pam.d is as before the run" test "$(dir_state /etc/pam.d)" = "$real_pamd"
check "the whole sudoers configuration still passes visudo -c" visudo -cq

done_testing
