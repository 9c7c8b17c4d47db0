#!/bin/bash
# Issue 9, end to end (root): what pam-jwtd mints for a user is readable by every process
# of that user (the keyring, `pam-jwtctl token`), so it must never authenticate sudo unless
# the admin opted in on sudo's line.
#
# The attack: a program running as the user takes the access token from the keyring, or
# asks pam-jwtd for one with the audience sudo accepts (`pam-jwtctl token --aud`), and
# pipes it into `sudo -S`. The defence: pam-jwtd mints only `audience` and the audiences
# of `token_audiences`; the shipped sudo line (conf/pam.d/sudo.example) has an audience
# of its own and accepts no session ID.
#
# Pieces (all new, uniquely named, removed at exit): keys from pam-jwtctl keygen (k1 signs
# for pam-jwtd, idp stands for the identity provider), a config in a 0755 temp dir, the
# store on /dev/shm, pam-jwtd on a socket of its own, a test user, a login made with
# pamtester through a service whose session line has issue_tokens and keyring (so the
# user's persistent keyring holds session ID, access and refresh token, as after an ssh
# login), and a sudo service written from conf/pam.d/sudo.example (its pam_jwt lines as
# shipped, the @include lines replaced by pam_deny/pam_permit: the user has no password),
# selected for the test user by a sudoers drop-in.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_audience needs root"
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
for c in pamtester sudo visudo keyctl setpriv; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ] || ! keyctl session - true >/dev/null 2>&1; then
	not_ok "pamtester, sudo, keyutils (with keyrings in the kernel) and setpriv are there:${missing:- keyctl session fails}"
	done_testing
	exit
fi
EXAMPLE=$PJ_TOP/conf/pam.d/sudo.example
dir_state() { pj_dir_state "$1" | grep -v '^\.\{0,1\}pamjwt-'; }
real_pamd=$(dir_state /etc/pam.d)
real_sudoers_d=$(dir_state /etc/sudoers.d)

# --- set-up -----------------------------------------------------------------------------
pj_tmpdir || exit 1
chmod 0755 "$PJ_TMP" # the user reaches the socket below it; secrets sit in 0700/0600 files
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-aud-ssh # the daemon's own audience: what ssh accepts
pj_keygen ES256 k1 && pj_keygen ES256 idp || { not_ok "keygen"; done_testing; exit; }
chmod 0700 "$K"
pj_merge_jwks "$K/all.jwks" "$K/k1.jwks" "$K/idp.jwks"
mkdir -m 0700 "$PJ_TMP/persist" "$PJ_TMP/secret"
mkdir -m 0755 "$PJ_TMP/sock"
SOCK=$PJ_TMP/sock/pam-jwtd.sock
CONF=$PJ_TMP/pam_jwt.conf
S=$PJ_TMP/secret
# write_conf [LINE...]: the suite's configuration (0600), as the README's quick start
# has it, with extra lines
write_conf() {
	{
		printf '%s\n' "issuer = $ISS" "audience = $AUD" "jwks = $K/all.jwks" \
			"store_dir = $PJ_STORE" "persist_dir = $PJ_TMP/persist" \
			"signing_key = $K/k1.key" "socket_path = $SOCK"
		printf '%s\n' "$@"
	} >"$CONF.tmp" && chmod 0600 "$CONF.tmp" && mv -f "$CONF.tmp" "$CONF"
}
write_conf

pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
U_UID=$(id -u "$U")
kr_clear() {
	keyctl session - sh -c 'k=$(keyctl get_persistent @s "$1") && keyctl invalidate "$k"' \
		sh "$1" >/dev/null 2>&1
}
pj_defer kr_clear "$U_UID"
if ! pj_user_reaches "$U" "$(command -v sudo)" "$(command -v keyctl)" "$PJ_CTL" "$PJ_PY" 2>&1; then
	not_ok "the test user can run /bin/sh and reach sudo, keyctl, pam-jwtctl and python3"
	done_testing
	exit
fi
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U ($U_UID), log capture: $PJ_LOG_MODE"

# as_user CMD...: CMD with the test user's ids, no PAM session
as_user() {
	setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups --reset-env -- "$@"
}
# kr_get DESC: the key DESC of the user's persistent keyring, read by the user
kr_get() {
	as_user keyctl session - sh -c 'p=$(keyctl get_persistent @s) &&
		k=$(keyctl search "$p" user "$1" 2>/dev/null) && keyctl pipe "$k"' sh "$1" 2>/dev/null
}
# claim FILE NAME: one claim of the JWT in FILE (unverified), "" if absent
claim() {
	"$PJ_PY" -c '
import base64, json, sys
p = open(sys.argv[1]).read().strip().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null
}

PJ_D_LOG=$PJ_TMP/pam-jwtd.log
setpriv --pdeathsig TERM -- "$PJ_D" -c "$CONF" --stderr >"$PJ_D_LOG" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
for _ in $(seq 1 100); do
	"$PJ_CTL" status -c "$CONF" >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
if "$PJ_CTL" status -c "$CONF" >/dev/null 2>&1; then ok "pam-jwtd serves $SOCK"; else
	not_ok "pam-jwtd serves $SOCK"
	sed 's/^/#   pam-jwtd: /' "$PJ_D_LOG"
	done_testing
	exit
fi
# reload: SIGHUP, then wait for the daemon to say it took the new configuration
reload() {
	local n
	n=$(grep -c 'reloaded' "$PJ_D_LOG")
	kill -HUP "$DPID"
	for _ in $(seq 1 100); do
		[ "$(grep -c 'reloaded' "$PJ_D_LOG")" -gt "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

# --- the login: its credentials in the keyring ------------------------------------------
pj_service login <<EOF || { not_ok "write the login PAM service"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF issue_tokens keyring
EOF
LOGIN_SVC=$PJ_SERVICE
pj_token_file login --key "$K/idp.key" --kid idp -u "$U" --iss "$ISS" --aud "$AUD" ||
	{ not_ok "mint the login token"; done_testing; exit; }
if pj_pamtester "$LOGIN_SVC" "$U" "$PJ_TOKEN" authenticate open_session; then
	ok "login of $U by JWT (pamtester authenticate open_session, issue_tokens keyring)"
else
	not_ok "login of $U by JWT"
	sed 's/^/#   /' "$PJ_TMP/pamtester.out"
fi
kr_get pam_jwt:access >"$S/kr-access"
kr_get pam_jwt:session >"$S/kr-session"
if [ -s "$S/kr-access" ] && grep -q '^pjs_' "$S/kr-session"; then
	ok "$U's own processes read the login's access token and session ID from the keyring"
else
	not_ok "$U's keyring holds pam_jwt:access and pam_jwt:session (read as $U)"
	tail -5 "$PJ_D_LOG" | sed 's/^/#   pam-jwtd: /'
fi
check "the keyring's access token carries the daemon's audience ($AUD)" \
	test "$(claim "$S/kr-access" aud)" = "$AUD"

# --- sudo, its pam_jwt lines exactly as in conf/pam.d/sudo.example ---------------------
# The shipped auth line must have an audience of its own; the test takes it from there.
SUDO_AUD=$(sed -n 's/^auth .*pam_jwt\.so.* audience=\([^ ]*\).*/\1/p' "$EXAMPLE" | head -1)
check "the shipped sudo example's auth line sets its own audience (\"${SUDO_AUD}\"), not the daemon's" \
	eval '[ -n "$SUDO_AUD" ] && [ "$SUDO_AUD" != "$AUD" ]'
check "the shipped sudo example's auth line accepts JWTs only (accept=jwt)" \
	grep -Eq '^auth .*pam_jwt\.so.* accept=jwt( |$)' "$EXAMPLE"
SUDO_SVC=pamjwt-audsudo-$$
# sudo_from_example [EXTRA_AUTH_ARGS]: /etc/pam.d/$SUDO_SVC made from the example: each
# pam_jwt.so becomes this build's module with this config (EXTRA_AUTH_ARGS appended to the
# auth line); the user has no password, so common-auth becomes pam_deny
sudo_from_example() {
	sed -n '/^[a-z@]/p' "$EXAMPLE" | sed \
		-e '/^auth .*pam_jwt\.so/{' \
		-e "s|pam_jwt\.so\(.*\)$|$PJ_MOD config=$CONF\1 ${1:-}|" -e b -e '}' \
		-e "s|pam_jwt\.so|$PJ_MOD config=$CONF|" \
		-e 's|^@include common-auth$|auth required pam_deny.so|' \
		-e 's|^@include common-account$|account required pam_permit.so|' \
		-e 's|^@include common-session-noninteractive$|session required pam_permit.so|' \
		>"$PJ_TMP/sudo.pam" || return 1
	# (not at the end of a pipe: pj_pamd_write must run in this shell)
	pj_pamd_write "$SUDO_SVC" <"$PJ_TMP/sudo.pam" ||
		{ not_ok "write /etc/pam.d/$SUDO_SVC"; done_testing; exit 1; }
}
# sudo_line ARGS: /etc/pam.d/$SUDO_SVC with a pam_jwt auth line of ARGS alone
sudo_line() {
	pj_pamd_write "$SUDO_SVC" <<EOF || { not_ok "write /etc/pam.d/$SUDO_SVC"; done_testing; exit 1; }
auth     sufficient $PJ_MOD config=$CONF $1
auth     required   pam_deny.so
account  required   $PJ_MOD config=$CONF $2
account  required   pam_permit.so
session  required   pam_permit.so
EOF
}
sudo_from_example
echo "# /etc/pam.d/$SUDO_SVC:"
sed 's/^/#   /' "/etc/pam.d/$SUDO_SVC"
DROPIN=pamjwt-audtest-$$
if pj_sudoers_dropin "$DROPIN" <<EOF; then
# pam_jwt audience test (PID $$, removed at its exit)
Defaults:$U passwd_tries=1, timestamp_timeout=0
Defaults:$U pam_service=$SUDO_SVC, pam_login_service=$SUDO_SVC
$U ALL=(root) /usr/bin/id
EOF
	ok "sudoers drop-in /etc/sudoers.d/$DROPIN installed (visudo -cf passed)"
else
	not_ok "sudoers drop-in /etc/sudoers.d/$DROPIN installed"
	done_testing
	exit
fi

# sudo_with FILE: as the user, sudo -k -S id -un with FILE on standard input
sudo_with() {
	SUDO_RC=0
	timeout 30 setpriv --reuid="$U" --regid="$(id -g "$U")" --init-groups --reset-env -- \
		sudo -k -S -u root /usr/bin/id -un <"$1" >"$PJ_TMP/sudo.out" 2>"$PJ_TMP/sudo.err" ||
		SUDO_RC=$?
}
sudo_root() { # DESC FILE: sudo gave root
	sudo_with "$2"
	if [ "$SUDO_RC" = 0 ] && [ "$(cat "$PJ_TMP/sudo.out")" = root ]; then ok "$1"; else
		not_ok "$1 (exit $SUDO_RC, output \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
		sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
	fi
}
sudo_refused() { # DESC FILE [LOGGED_REASON]: sudo refused, and pam_jwt logged the reason
	[ "$PJ_LOG_MODE" = none ] || pj_log_mark
	sudo_with "$2"
	if [ "$SUDO_RC" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]; then ok "$1"; else
		not_ok "$1 (exit $SUDO_RC, output \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
		sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
	fi
	[ -n "${3:-}" ] || return 0
	if [ "$PJ_LOG_MODE" = none ]; then skip "... reason logged (no syslog to read)"; return; fi
	if pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused for user $U: " | grep -qF "$3"; then
		ok "... logged: pam_jwt($SUDO_SVC:auth): refused for user $U: $3"
	else
		not_ok "... logged: pam_jwt($SUDO_SVC:auth): refused for user $U: $3"
		pj_log_new | grep -F "pam_jwt(" | tail -3 | sed 's/^/#   /'
	fi
}

# A control first: the line works, for a token the identity provider issued for sudo.
pj_token_file idp-sudo --key "$K/idp.key" --kid idp -u "$U" --iss "$ISS" --aud "$SUDO_AUD" ||
	{ not_ok "mint the sudo token"; done_testing; exit; }
sudo_root "control: an identity provider's token for $U with aud $SUDO_AUD gives root through the example's lines" \
	"$PJ_TOKEN"

# --- the attacks ------------------------------------------------------------------------
sudo_refused "the keyring's access token piped into sudo -S is refused (aud $AUD is not sudo's)" \
	"$S/kr-access" "wrong audience"
sudo_refused "the keyring's session ID piped into sudo -S is refused (accept=jwt)" "$S/kr-session"
rc=0
as_user "$PJ_CTL" token --socket "$SOCK" >"$S/ctl-token" 2>&1 || rc=$?
check "pam-jwtctl token as $U (no --aud): a token for $AUD" \
	eval '[ "$rc" = 0 ] && [ "$(claim "$S/ctl-token" aud)" = "$AUD" ]'
sudo_refused "... piped into sudo -S: refused" "$S/ctl-token" "wrong audience"
AUD_REFUSED="pam-jwtd does not mint tokens for this audience (see token_audiences)"
rc=0
as_user "$PJ_CTL" token --socket "$SOCK" --aud "$SUDO_AUD" >"$S/ctl-sudo" 2>&1 || rc=$?
check "pam-jwtctl token --aud $SUDO_AUD as $U: exit 1, \"refused: $AUD_REFUSED\"" \
	eval '[ "$rc" = 1 ] && [ "$(cat "$S/ctl-sudo")" = "refused: $AUD_REFUSED" ]'
sudo_refused "... and what it printed, piped into sudo -S, is refused" "$S/ctl-sudo"
# the same request without pam-jwtctl
as_user "$PJ_PY" "$PJ_HELPERS/daemon_client.py" call "$SOCK" >"$S/answers" 2>&1 <<EOF
t {"op":"token","session_id":"$(cat "$S/kr-session")","aud":"$SUDO_AUD"}
EOF
check "a raw token request for aud $SUDO_AUD on the socket is refused the same way" \
	grep -qF "t {\"ok\":false,\"error\":\"$AUD_REFUSED\"}" "$S/answers"

# --- what it takes to open the door: the admin's own choices -----------------------------
# Listing sudo's audience in token_audiences hands sudo to every process of every user
# with a live login: this shows the refusals above are the allow-list's doing.
write_conf "token_audiences = $SUDO_AUD"
if reload; then ok "pam-jwtd reloaded with token_audiences = $SUDO_AUD"; else
	not_ok "pam-jwtd reloaded with token_audiences = $SUDO_AUD"; fi
rc=0
as_user "$PJ_CTL" token --socket "$SOCK" --aud "$SUDO_AUD" >"$S/ctl-sudo2" 2>&1 || rc=$?
check "with sudo's audience listed, pam-jwtctl token --aud $SUDO_AUD mints one" \
	eval '[ "$rc" = 0 ] && [ "$(claim "$S/ctl-sudo2" aud)" = "$SUDO_AUD" ]'
sudo_root "... and it gives root: why sudo's audience must never be in token_audiences" \
	"$S/ctl-sudo2"
write_conf
if reload; then ok "pam-jwtd reloaded without token_audiences"; else
	not_ok "pam-jwtd reloaded without token_audiences"; fi
rc=0
as_user "$PJ_CTL" token --socket "$SOCK" --aud "$SUDO_AUD" >"$S/ctl-sudo3" 2>&1 || rc=$?
check "... after which pam-jwtctl token --aud $SUDO_AUD is refused again" \
	eval '[ "$rc" = 1 ] && [ "$(cat "$S/ctl-sudo3")" = "refused: $AUD_REFUSED" ]'
# A sudo line without an audience of its own (the example before issue 9) takes the
# daemon's audience from pam_jwt.conf, and with it the keyring's token.
sudo_line "ignore_non_jwt" ""
sudo_root "a sudo line without its own audience would take the keyring's access token: why the example has one" \
	"$S/kr-access"
# The keyring as sudo's credential, opted in on the line (README: token_source=keyring_only
# accept=session): no prompt, nothing typed.
sudo_line "token_source=keyring_only accept=session" ""
sudo_root "opted in on the line (token_source=keyring_only accept=session): sudo from the keyring" /dev/null
sudo_from_example "token_source=keyring"
sudo_refused "the example's line with token_source=keyring: the keyring's access token is still not for sudo's audience, nor its session ID accepted" \
	/dev/null "wrong audience"

# --- the host is as it was ------------------------------------------------------------
pj_run_cleanup
wait 2>/dev/null
check "/etc/pam.d is as before the run" test "$(dir_state /etc/pam.d)" = "$real_pamd"
check "/etc/sudoers.d is as before the run" test "$(dir_state /etc/sudoers.d)" = "$real_sudoers_d"
check "the test user is gone" eval '! getent passwd "$U" >/dev/null'
done_testing
