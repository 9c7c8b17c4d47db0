#!/bin/bash
# pam_jwt.so behind a real sudo (root).
#
# sudo always uses the PAM service "sudo", so the suite never touches /etc/pam.d/sudo nor
# /etc/sudoers.d: it copies both into its temp dir, puts its stack in the pam.d copy and a
# sudoers drop-in pamjwt-test-PID (checked with visudo -cf) in the sudoers.d copy, and runs
# `runuser -u USER -- sudo -S -k ...` in a private mount namespace where the copies are
# bind-mounted over the real directories. No other process ever sees them, and they
# vanish with the namespace even if the suite is killed.
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
if ! command -v sudo >/dev/null || ! command -v unshare >/dev/null ||
	! command -v runuser >/dev/null; then
	not_ok "sudo, unshare and runuser are installed (scripts/install-deps)"
	done_testing
	exit
fi

real_sudo_pam=$(sha256sum /etc/pam.d/sudo 2>/dev/null)
real_sudoers_d=$(ls -la /etc/sudoers.d 2>/dev/null)
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
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U, log capture: $PJ_LOG_MODE"

PAMD=$PJ_TMP/pam.d
SUDOERSD=$PJ_TMP/sudoers.d
mkdir "$PAMD" "$SUDOERSD"
cp -a /etc/pam.d/. "$PAMD/"
cp -a /etc/sudoers.d/. "$SUDOERSD/"
chmod --reference=/etc/pam.d "$PAMD"
chmod --reference=/etc/sudoers.d "$SUDOERSD"

# sudo_stack [AUTH_ARGS] [ACCOUNT_ARGS]: the sudo service of the namespace. sudo runs
# authenticate, setcred and acct_mgmt in one process on one handle, so pam_jwt alone can
# make up the auth stack; pam_permit decides the account phase of logins pam_jwt did not
# authenticate (its acct_mgmt then returns PAM_IGNORE).
sudo_stack() {
	rm -f "$PAMD/sudo"
	cat >"$PAMD/sudo" <<EOF
auth     required $PJ_MOD config=$CONF ${1:-}
account  required $PJ_MOD config=$CONF ${2:-}
account  required pam_permit.so
session  required pam_permit.so
EOF
	chmod 0644 "$PAMD/sudo"
}
sudo_stack

# passwd_tries=1: one prompt per run, so that what is left of an over-long answer is never
# read as a second attempt.
DROPIN=$SUDOERSD/pamjwt-test-$$
cat >"$DROPIN" <<EOF
# pam_jwt integration test: $U may run id as root after authenticating
Defaults:$U passwd_tries=1, timestamp_timeout=0
$U ALL=(root) /usr/bin/id
EOF
chmod 0440 "$DROPIN"
check "sudoers drop-in passes visudo -cf" visudo -c -q -f "$DROPIN"
check "the namespace's whole sudoers configuration passes visudo -c" \
	pj_ns_run "$PAMD" "$SUDOERSD" visudo -cq

# run_sudo TOKENFILE: as the test user, sudo -S -k -u root id -un with the token on stdin
run_sudo() {
	pj_ns_run "$PAMD" "$SUDOERSD" timeout 60 runuser -u "$U" -- \
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
	if pj_log_has_reason "pam_jwt(sudo:auth): refused" "$reason"; then ok "$d: \"$reason\""; else
		not_ok "$d: no log line with \"$reason\""
		pj_log_text | grep -F "pam_jwt(" | tail -3 | sed 's/^/#   /'
	fi
}
mint() {
	local name=$1
	shift
	pj_token_file "$name" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" "$@"
}

# --- tokens -------------------------------------------------------------------------
mint valid
VALID=$PJ_TOKEN
echo "# ES256 token: $(pj_token_len "$VALID") bytes"
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

# acct_mgmt re-check under sudo: a token 15 minutes past exp passes auth with leeway=2h and
# is stopped by an account line with leeway=0.
mint stale --now "$(($(date +%s) - 1800))" --ttl 15m
sudo_stack leeway=2h leeway=2h
sudo_ok "token 15 min past exp accepted when both lines allow leeway=2h" "$PJ_TOKEN"
sudo_stack leeway=2h leeway=0
sudo_refused "same token: account line with leeway=0 refuses (acct_mgmt re-check)" "$PJ_TOKEN"
check "sudo reported a failure of the account phase, not of authentication" \
	grep -Eq "PAM account management error|account validation failure|[Aa]ccount expired" \
	"$PJ_TMP/sudo.err"
if [ "$PJ_LOG_MODE" = none ]; then skip "account refusal logged (no syslog to read)"; else
	check "account refusal logged as pam_jwt(sudo:account) with the reason" \
		pj_log_has "pam_jwt(sudo:account): refused" "expired" "jti=$(pj_jti "$PJ_TOKEN")"
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
check "the real /etc/sudoers.d was not changed" \
	test "$(ls -la /etc/sudoers.d 2>/dev/null)" = "$real_sudoers_d"
check "the drop-in is not visible outside the namespace" \
	test ! -e "/etc/sudoers.d/pamjwt-test-$$"

done_testing
