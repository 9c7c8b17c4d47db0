#!/bin/bash
# pam_jwt.so behind a real OpenSSH sshd (root).
#
# Debian's OpenSSH 9.2 has no PAMServiceName option: sshd takes its PAM service name from
# its program name (SSHD_PAM_SERVICE is __progname). So the suite never touches
# /etc/pam.d/sshd and needs no mount namespace (it also runs in a chroot): it starts its
# own sshd (own config, host key and free port on 127.0.0.1) by the absolute path of a
# symlink $PJ_TMP/pamjwt-sshd-PID -> /usr/sbin/sshd, whose stack is the new file
# /etc/pam.d/pamjwt-sshd-PID, removed at exit. A deny stack and a pam_exec probe show
# that this file is the one sshd uses. sshd reads the stack at every connection, so cases
# change the file between logins.
#
# Token logins use keyboard-interactive: the OpenSSH client reads the token through
# SSH_ASKPASS (a script that prints a 0600 file; the token is never on a command line),
# and helpers/ssh_kbdint.py (paramiko) sends tokens longer than the OpenSSH client can.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_sshd needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v setpriv >/dev/null; then
	not_ok "openssh-server, openssh-client and setpriv are installed (scripts/install-deps)"
	done_testing
	exit
fi

real_sshd_pam=$(sha256sum /etc/pam.d/sshd 2>/dev/null)
# the state of /etc/pam.d apart from files of concurrent test runs (pamjwt-*)
pamd_state() { pj_dir_state /etc/pam.d | grep -v '^\.\{0,1\}pamjwt-'; }
real_pamd=$(pamd_state)
pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-ssh
pj_keygen ES256 es1 && pj_keygen HS256 hs1 || { not_ok "keygen"; done_testing; exit; }
pj_merge_jwks "$K/all.jwks" "$K/es1.jwks" "$K/hs1.jwks"
CONF=$PJ_TMP/pam_jwt.conf
printf 'issuer = %s\naudience = %s\njwks = %s\nstore_dir = %s\n' \
	"$ISS" "$AUD" "$K/all.jwks" "$PJ_STORE" >"$CONF"
chmod 0600 "$CONF"

pj_add_user -m || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U, log capture: $PJ_LOG_MODE"

# sshd refuses to start without its privilege separation directory.
if [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd && pj_defer rmdir /run/sshd
fi

ssh-keygen -q -t ed25519 -N '' -C pamjwt-test-host -f "$PJ_TMP/hostkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -C pamjwt-test-user -f "$PJ_TMP/userkey" </dev/null
HOME_U=$(getent passwd "$U" | cut -d: -f6)
install -d -m 0700 -o "$U" -g "$U" "$HOME_U/.ssh"
install -m 0600 -o "$U" -g "$U" "$PJ_TMP/userkey.pub" "$HOME_U/.ssh/authorized_keys"
if ! pj_user_reaches "$U" /usr/bin/id "$HOME_U/.ssh/authorized_keys" 2>&1; then
	not_ok "the test user can run /bin/sh and reach its home and /usr/bin/id"
	done_testing
	exit
fi

# The PAM service: sshd started as $PJ_SSHD (a symlink named $SVC) uses /etc/pam.d/$SVC.
SVC=pamjwt-sshd-$$
pj_sshd_link "$SVC" || { not_ok "symlink $PJ_TMP/$SVC -> /usr/sbin/sshd"; done_testing; exit; }
pj_pam_probe

# sshd_stack < lines: (re)write /etc/pam.d/$SVC
sshd_stack() {
	pj_pamd_write "$SVC" || { not_ok "write /etc/pam.d/$SVC"; done_testing; exit 1; }
}
# default_stack [AUTH_ARGS] [ACCOUNT_ARGS]: the stack the suite logs in with, extra
# module arguments on the auth and account lines. The auth stack is pam_jwt alone: sshd
# runs pam_authenticate (and acct_mgmt) in a child process and pam_setcred later in another
# one, and pam_jwt's setcred succeeds there (as pam_unix's does), so a token-only stack
# needs no pam_permit. One line beside pam_jwt matters:
# - account required pam_permit.so: for logins pam_jwt did not authenticate (public key)
#   its acct_mgmt returns PAM_IGNORE, and an account stack of nothing but PAM_IGNORE fails.
default_stack() {
	sshd_stack <<EOF
auth     required $PJ_MOD config=$CONF ${1:-}
account  required $PJ_MOD config=$CONF ${2:-}
account  required pam_permit.so
session  required pam_permit.so
password required pam_deny.so
EOF
}
default_stack

cat >"$PJ_TMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $PJ_TMP/hostkey
PidFile $PJ_TMP/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers $U
PermitRootLogin no
MaxAuthTries 3
LoginGraceTime 60
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
LogLevel VERBOSE
EOF
printf '#!/bin/sh\n# prints the token file named by PJ_TOKEN_FILE\nexec cat -- "$PJ_TOKEN_FILE"\n' \
	>"$PJ_TMP/askpass"
chmod 0700 "$PJ_TMP/askpass"

free_port() {
	"$PJ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start sshd on a free port; a port taken between choosing and binding makes sshd exit,
# and another is tried.
SSHD_PID=""
for attempt in 1 2 3 4 5; do
	PORT=$(free_port)
	: >"$PJ_TMP/sshd.log"
	# --pdeathsig: sshd also ends if this suite is killed outright (no EXIT trap then)
	setpriv --pdeathsig TERM -- "$PJ_SSHD" -D \
		-f "$PJ_TMP/sshd_config" -p "$PORT" -E "$PJ_TMP/sshd.log" &
	pid=$!
	for i in $(seq 1 200); do
		grep -q "Server listening on 127.0.0.1 port $PORT" "$PJ_TMP/sshd.log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q "Server listening on 127.0.0.1 port $PORT" "$PJ_TMP/sshd.log" &&
		kill -0 "$pid" 2>/dev/null; then
		SSHD_PID=$pid
		pj_defer kill "$pid"
		break
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
if [ -z "$SSHD_PID" ]; then
	not_ok "sshd started on 127.0.0.1"
	sed 's/^/#   /' "$PJ_TMP/sshd.log"
	done_testing
	exit
fi
ok "sshd started on 127.0.0.1:$PORT as $PJ_SSHD"
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$PJ_TMP/hostkey.pub")" >"$PJ_TMP/known_hosts"

SSH_COMMON=(-F /dev/null -p "$PORT" -o UserKnownHostsFile="$PJ_TMP/known_hosts"
	-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentityAgent=none
	-o ConnectTimeout=20 -o LogLevel=ERROR -l "$U")

# ssh_token TOKENFILE: OpenSSH client, keyboard-interactive only; runs `id -un`
ssh_token() {
	PJ_TOKEN_FILE=$1 SSH_ASKPASS=$PJ_TMP/askpass SSH_ASKPASS_REQUIRE=force \
		timeout 60 setsid -w env -u DISPLAY ssh "${SSH_COMMON[@]}" \
		-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
		-o PasswordAuthentication=no -o KbdInteractiveAuthentication=yes \
		-o NumberOfPasswordPrompts=1 -o BatchMode=no \
		127.0.0.1 id -un </dev/null >"$PJ_TMP/ssh.out" 2>"$PJ_TMP/ssh.err"
}
# ssh_pubkey: OpenSSH client, public key only; runs `id -un`
ssh_pubkey() {
	timeout 60 setsid -w ssh "${SSH_COMMON[@]}" -i "$PJ_TMP/userkey" -o IdentitiesOnly=yes \
		-o PreferredAuthentications=publickey -o BatchMode=yes \
		127.0.0.1 id -un </dev/null >"$PJ_TMP/ssh.out" 2>"$PJ_TMP/ssh.err"
}
# ssh_long TOKENFILE: paramiko client, keyboard-interactive, whole token
HAVE_PARAMIKO=0
"$PJ_PY" -c 'import paramiko' 2>/dev/null && HAVE_PARAMIKO=1
ssh_long() {
	timeout 60 "$PJ_PY" "$PJ_HELPERS/ssh_kbdint.py" 127.0.0.1 "$PORT" "$U" "$1" \
		"$PJ_TMP/hostkey.pub" "id -un" >"$PJ_TMP/ssh.out" 2>"$PJ_TMP/ssh.err"
}

# logs_in DESC CLIENT [TOKENFILE]: the login works and `id -un` prints the user
logs_in() {
	local d=$1 rc=0
	shift
	[ $# -lt 2 ] || pj_have_token "$d" "$2" || return
	"$@" || rc=$?
	if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/ssh.out")" = "$U" ]; then ok "$d"; else
		not_ok "$d (exit $rc, output \"$(head -c 80 "$PJ_TMP/ssh.out")\")"
		sed 's/^/#   /' "$PJ_TMP/ssh.err" | head -5
		grep -v '^debug' "$PJ_TMP/sshd.log" | tail -5 | sed 's/^/#   sshd: /'
	fi
}
# no_login DESC CLIENT [TOKENFILE]: the login fails and no command runs
no_login() {
	local d=$1 rc=0
	shift
	[ $# -lt 2 ] || pj_have_token "$d" "$2" || return
	"$@" || rc=$?
	if [ "$rc" = 255 ] && [ ! -s "$PJ_TMP/ssh.out" ]; then ok "$d"; else
		not_ok "$d (exit $rc, output \"$(head -c 80 "$PJ_TMP/ssh.out")\")"
	fi
}
# logged DESC TOKENFILE: the module logged the refusal with pam-jwtctl verify's reason
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
# sshd_log_mark / sshd_log_new: the lines sshd logged since the last sshd_log_mark
sshd_log_mark() { SSHD_LOG_MARK=$(wc -l <"$PJ_TMP/sshd.log"); }
sshd_log_new() { tail -n +"$((${SSHD_LOG_MARK:-0} + 1))" "$PJ_TMP/sshd.log"; }

# --- the PAM service sshd uses --------------------------------------------------------
# With a deny stack in /etc/pam.d/$SVC a public-key login must fail in the account phase
# (through /etc/pam.d/sshd it would pass), and the pam_exec probe in that stack must see
# PAM_SERVICE=$SVC. Then the default stack lets the same login through.
sshd_stack <<EOF
auth     required pam_deny.so
account  optional pam_exec.so seteuid quiet $PJ_PROBE
account  required pam_deny.so
session  required pam_permit.so
password required pam_deny.so
EOF
sshd_log_mark
no_login "a deny stack in /etc/pam.d/$SVC refuses a public-key login" ssh_pubkey
check "sshd logged the denial by the PAM account configuration of /etc/pam.d/$SVC" \
	eval 'sshd_log_new | grep -q "Access denied for user $U by PAM account configuration"'
check "sshd ran the stack of /etc/pam.d/$SVC (pam_exec saw PAM_SERVICE=$SVC)" \
	grep -qx "$SVC account $U" "$PJ_PROBE_LOG"
default_stack
logs_in "public-key login passes once /etc/pam.d/$SVC holds the test's stack" ssh_pubkey

# --- token logins -------------------------------------------------------------------
mint valid
VALID=$PJ_TOKEN
logs_in "keyboard-interactive login with a valid token; id -un is the user" ssh_token "$VALID"
check "sshd logged the keyboard-interactive/pam acceptance" \
	grep -q "Accepted keyboard-interactive/pam for $U from 127.0.0.1" "$PJ_TMP/sshd.log"

pj_tamper_sig "$VALID" "$PJ_TMP/tok/tampered"
no_login "tampered token refused" ssh_token "$PJ_TMP/tok/tampered"
logged "tampered token: reason logged" "$PJ_TMP/tok/tampered"
mint expired --now "$(($(date +%s) - 7200))" --ttl 15m
no_login "expired token refused" ssh_token "$PJ_TOKEN"
logged "expired token: reason logged" "$PJ_TOKEN"
pj_token_file other --key "$K/es1.key" --kid es1 -u "$(pj_unused_user)" --iss "$ISS" --aud "$AUD"
no_login "another user's token refused" ssh_token "$PJ_TOKEN"
logged "another user's token: reason logged" "$PJ_TOKEN"
pj_token_file wrongaud --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud pamjwt-other
no_login "token for another audience refused" ssh_token "$PJ_TOKEN"

# The account phase re-checks the token that authenticated the login: with leeway=10m
# (the most the module allows) on the auth line and none on the account line, a token
# expired 5 minutes ago passes authentication and is stopped by acct_mgmt.
mint stale --now "$(($(date +%s) - 900))" --ttl 10m
STALE=$PJ_TOKEN
default_stack leeway=10m leeway=10m
logs_in "token 5 min past exp logs in when both lines allow leeway=10m" ssh_token "$STALE"
default_stack leeway=10m leeway=0
no_login "same token: account line with leeway=0 refuses the login (acct_mgmt re-check)" \
	ssh_token "$STALE"
default_stack

# --- token size ---------------------------------------------------------------------
# The OpenSSH client reads each keyboard-interactive answer (from the terminal or from
# SSH_ASKPASS) into a 1024-byte buffer (readpass.c): it sends at most 1023 bytes and
# silently cuts the rest. sshd itself passes far longer answers to PAM (an SSH packet may
# carry up to 256 KiB), as the paramiko client shows; the module's max_token_size
# (default 16384) is then the limit.
ESK="$K/es1.key:es1"
HSK="$K/hs1.key:hs1"
SZ=(-u "$U" --iss "$ISS" --aud "$AUD")
if pj_token_of_length t1023 1023 "$ESK" "$HSK" -- "${SZ[@]}"; then
	logs_in "OpenSSH client: a 1023-byte token logs in" ssh_token "$PJ_TOKEN"
else not_ok "make a 1023-byte token"; fi
if pj_token_of_length t1024 1024 "$ESK" "$HSK" -- "${SZ[@]}"; then
	T1024=$PJ_TOKEN
	[ "$PJ_LOG_MODE" = none ] || pj_log_mark
	no_login "OpenSSH client: a 1024-byte token is cut to 1023 bytes and refused" \
		ssh_token "$T1024"
	if [ "$PJ_LOG_MODE" = none ]; then skip "the cut token reached the module (no syslog)"
	elif pj_log_new | grep -qF "pam_jwt($SVC:auth): refused"; then
		ok "OpenSSH client: the cut token reached pam_jwt and was refused there:$(
			pj_log_new | grep -F "pam_jwt($SVC:auth): refused" | sed 's/.*refused[^:]*://' | head -1)"
	else
		not_ok "OpenSSH client: the cut token reached pam_jwt and was refused there"
	fi
else not_ok "make a 1024-byte token"; fi
T8K=""
if pj_token_of_length t8k 8192 "$ESK" "$HSK" -- "${SZ[@]}"; then
	T8K=$PJ_TOKEN
	no_login "OpenSSH client: an 8 KiB token is cut to 1023 bytes and refused" ssh_token "$T8K"
else not_ok "make an 8 KiB token"; fi
if [ "$HAVE_PARAMIKO" = 0 ]; then
	skip "sshd with 8 KiB and 16 KiB tokens (python3-paramiko is not installed)"
elif [ -n "$T8K" ]; then
	logs_in "sshd passes an 8 KiB keyboard-interactive answer whole: 8 KiB token logs in" \
		ssh_long "$T8K"
	if pj_token_of_length t16k 16384 "$ESK" "$HSK" -- "${SZ[@]}"; then
		logs_in "sshd: a 16384-byte token (max_token_size default) logs in" ssh_long "$PJ_TOKEN"
	else not_ok "make a 16384-byte token"; fi
	if pj_token_of_length t16k1 16385 "$ESK" "$HSK" -- "${SZ[@]}"; then
		no_login "sshd: a 16385-byte token is refused by the module's max_token_size" \
			ssh_long "$PJ_TOKEN"
		logged "oversized token: reason logged" "$PJ_TOKEN"
	else not_ok "make a 16385-byte token"; fi
	pj_tamper_sig "$T8K" "$PJ_TMP/tok/t8k_bad"
	no_login "sshd: a tampered 8 KiB token is refused" ssh_long "$PJ_TMP/tok/t8k_bad"
fi

# --- public-key logins and the account phase ----------------------------------------
logs_in "public-key login passes the account stack (pam_jwt PAM_IGNORE, then pam_permit)" \
	ssh_pubkey
sshd_stack <<EOF
auth     required $PJ_MOD config=$CONF
auth     optional pam_permit.so
account  required $PJ_MOD config=$CONF
session  required pam_permit.so
EOF
sshd_log_mark
no_login "public-key login with an account stack of only pam_jwt: refused (PAM_IGNORE alone)" \
	ssh_pubkey
check "sshd logged the denial by the PAM account configuration" \
	eval 'sshd_log_new | grep -q "Access denied for user $U by PAM account configuration"'
logs_in "token login with that same stack works (acct_mgmt succeeds for its own token)" \
	ssh_token "$VALID"
default_stack

# --- a user lock in the store: the account phase refuses every login -----------------
# default_stack's account line is pam_jwt with the suite's store: `pam-jwtctl lock` makes
# acct_mgmt refuse the user (PAM_PERM_DENIED) also for a public-key login, which pam_jwt
# did not authenticate; unlock and the same login works again.
default_stack
if "$PJ_CTL" lock -c "$CONF" "$U" >/dev/null; then ok "pam-jwtctl lock $U"; else
	not_ok "pam-jwtctl lock $U"; fi
sshd_log_mark
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
no_login "locked user: public-key login refused" ssh_pubkey
check "sshd logged the denial by the PAM account configuration" \
	eval 'sshd_log_new | grep -q "Access denied for user $U by PAM account configuration"'
if [ "$PJ_LOG_MODE" = none ]; then skip "account-phase lock refusal logged (no syslog to read)"
else
	check "pam_jwt's account phase logged the refusal: user is locked" \
		eval 'pj_log_new | grep -qF "pam_jwt($SVC:account): refused for user $U: user is locked"'
fi
no_login "locked user: token login refused" ssh_token "$VALID"
if "$PJ_CTL" unlock -c "$CONF" "$U" >/dev/null; then ok "pam-jwtctl unlock $U"; else
	not_ok "pam-jwtctl unlock $U"; fi
logs_in "unlocked: the public-key login works again" ssh_pubkey
logs_in "unlocked: the token login works again" ssh_token "$VALID"

# --- the host is as it was ------------------------------------------------------------
check "sshd is still running (no crash during the run)" kill -0 "$SSHD_PID"
check "the real /etc/pam.d/sshd was not changed" \
	test "$(sha256sum /etc/pam.d/sshd 2>/dev/null)" = "$real_sshd_pam"
# Undo everything now (the EXIT trap would do the same) and look at what is left.
pj_run_cleanup
wait "$SSHD_PID" 2>/dev/null
check "sshd has ended" test ! -d "/proc/$SSHD_PID"
check "/etc/pam.d/$SVC was removed" test ! -e "/etc/pam.d/$SVC"
check "/etc/pam.d is as before the run (names, owners, modes, sizes, mtimes)" \
	test "$(pamd_state)" = "$real_pamd"

done_testing
