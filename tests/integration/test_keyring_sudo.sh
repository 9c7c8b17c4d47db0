#!/bin/bash
# End to end (root): an SSH login by JWT leaves its credentials in the user's persistent
# keyring, sudo inside that login authenticates from the keyring without a prompt,
# pam-jwtd keeps the access token fresh, and a revocation ends the login and empties the
# keyring, after which sudo from the keyring fails.
#
# Pieces (all new, uniquely named, removed at exit; see test_sshd.sh and test_sudo.sh for
# how sshd and sudo are pointed at a PAM service of their own):
# - pam-jwtd on a socket in a fresh root-owned 0755 directory under /run, signing with a
#   keygen ES256 key; issue_tokens and keyring on, access_ttl 6s, refresh_ahead 4s,
#   revoke_kill_after 2s;
# - sshd on 127.0.0.1 through a symlink $PJ_TMP/pamjwt-krsshd-PID, with pam_jwt for
#   auth, account and session (the session line records the login and puts session ID,
#   access and refresh token in the keyring);
# - sudo with pam_service=pamjwt-krsudo-PID set for the two test users by a sudoers
#   drop-in; its auth line reads the keyring (token_source=keyring_only, later keyring).
# The login is held open by helpers/kr_ssh_session.py (paramiko), which runs further
# commands as new channels of the same connection: that is the same login (sshd opens the
# PAM session once per connection, in its privileged per-connection process).
# User-side commands outside the login run through setpriv, not runuser, so that no PAM
# session (pam_keyinit) leaves user keyrings behind for uids that are removed at exit.
#
# How a revocation ends an sshd login: the session's recorded pid is that of the process
# that called pam_open_session, sshd's privileged per-connection process ("sshd: USER
# [priv]", the monitor). pam-jwtd sends it SIGHUP; the monitor catches SIGHUP and passes it
# on to its unprivileged child (the one holding the connection), which dies of it; the
# monitor then cleans up (pam_close_session included) and exits, well before
# revoke_kill_after. The user's processes on the login's pty end with it; without a pty a
# background process of the login (here `sleep 600 &`) lives on (reported as a NOTE).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_keyring_sudo needs root"
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
for c in /usr/sbin/sshd ssh-keygen sudo visudo keyctl setpriv; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
"$PJ_PY" -c 'import paramiko' 2>/dev/null || missing="$missing python3-paramiko"
if [ -n "$missing" ] || ! keyctl session - true >/dev/null 2>&1; then
	not_ok "sshd, sudo, keyutils (with keyrings in the kernel), setpriv and paramiko are there:${missing:- keyctl session fails}"
	done_testing
	exit
fi
T_START=$SECONDS
KEY_USERS0=$(cat /proc/key-users)

dir_state() { pj_dir_state "$1" | grep -v '^\.\{0,1\}pamjwt-'; }
real_pamd=$(dir_state /etc/pam.d)
real_sudoers_d=$(dir_state /etc/sudoers.d)
real_sshd_pam=$(sha256sum /etc/pam.d/sshd /etc/pam.d/sudo 2>/dev/null)

pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-kr
pj_keygen ES256 k1 || { not_ok "keygen"; done_testing; exit; }
mkdir -m 0700 "$PJ_TMP/persist"
RUNDIR=$(mktemp -d /run/pamjwt-kr.XXXXXX) || { not_ok "a directory in /run"; done_testing; exit; }
pj_defer rm -rf -- "$RUNDIR"
chmod 0755 "$RUNDIR"
SOCK=$RUNDIR/pam-jwtd.sock
CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOF
issuer = $ISS
audience = $AUD
jwks = $K/k1.jwks
store_dir = $PJ_STORE
persist_dir = $PJ_TMP/persist
signing_key = $K/k1.key
socket_path = $SOCK
issue_tokens = yes
keyring = yes
revoke_kill_after = 2s
access_ttl = 6s
refresh_ahead = 4s
max_refreshes_per_minute = 0
EOF
chmod 0644 "$CONF"

pj_add_user -m || { not_ok "create test user 1"; done_testing; exit; }
U1=$PJ_USER
pj_add_user -M || { not_ok "create test user 2"; done_testing; exit; }
U2=$PJ_USER
U1_UID=$(id -u "$U1")
U1_GID=$(id -g "$U1")
U2_UID=$(id -u "$U2")

# kr_clear_user UID: invalidate the uid's persistent keyring (it outlives the user, and a
# later user with the same uid would get it). Registered for both users before the users
# themselves, so that it runs before userdel.
kr_clear_user() {
	keyctl session - sh -c 'k=$(keyctl get_persistent @s "$1") && keyctl invalidate "$k"' \
		sh "$1" >/dev/null 2>&1
}
# user_procs UID...: "pid args" of the processes of the uids, zombies left out (a process
# whose parent has gone is reaped by pid 1 when pid 1 gets round to it, here up to ~1.5 s)
user_procs() {
	local u args=()
	for u; do args+=(-u "$u"); done
	ps -o pid=,stat=,args= "${args[@]}" 2>/dev/null | awk '$2 !~ /^Z/ { $2 = ""; print }'
}
# kr_kill_leftovers UID: end, one by one by pid, processes still running as a test uid
kr_kill_leftovers() {
	local p
	for p in $(ps -o pid= -u "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}
for uid in "$U1_UID" "$U2_UID"; do
	pj_defer kr_clear_user "$uid"
	pj_defer kr_kill_leftovers "$uid"
done

pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# users $U1 (uid $U1_UID) and $U2 (uid $U2_UID), log capture: $PJ_LOG_MODE"

# as_user USER CMD...: CMD with USER's real and effective ids, no PAM session
as_user() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --reset-env -- "$@"
}

# kr_get UID DESC: print the key DESC of UID's persistent keyring (read by root, as the
# possessor, from a throw-away session keyring); fails if it is not there
kr_get() {
	keyctl session - sh -c 'p=$(keyctl get_persistent @s "$1") &&
		k=$(keyctl search "$p" user "$2" 2>/dev/null) && keyctl pipe "$k"' \
		sh "$1" "$2" 2>/dev/null
}
# kr_describe UID DESC: "type;uid;gid;perm;description" of the key
kr_describe() {
	keyctl session - sh -c 'p=$(keyctl get_persistent @s "$1") &&
		k=$(keyctl search "$p" user "$2" 2>/dev/null) && keyctl rdescribe "$k"' \
		sh "$1" "$2" 2>/dev/null
}
kr_has_none() { # UID: none of the three pam_jwt keys is there
	local d
	for d in pam_jwt:session pam_jwt:access pam_jwt:refresh; do
		kr_get "$1" "$d" >/dev/null && return 1
	done
	return 0
}
# claim FILE NAME: one claim of a JWT (unverified), "" if absent
claim() {
	"$PJ_PY" -c '
import base64, json, sys
p = open(sys.argv[1]).read().strip().split(".")[1]
v = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get(sys.argv[2], "")
print(v)' "$1" "$2" 2>/dev/null
}
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
now_ms() { date +%s%3N; }

# --- pam-jwtd -------------------------------------------------------------------------
setpriv --pdeathsig TERM -- "$PJ_D" -c "$CONF" --stderr >"$PJ_TMP/pam-jwtd.log" 2>&1 &
DPID=$!
pj_defer kill "$DPID"
for _ in $(seq 1 100); do
	"$PJ_CTL" status -c "$CONF" >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
if "$PJ_CTL" status -c "$CONF" >/dev/null 2>&1; then ok "pam-jwtd serves $SOCK"; else
	not_ok "pam-jwtd serves $SOCK"
	sed 's/^/#   pam-jwtd: /' "$PJ_TMP/pam-jwtd.log"
	done_testing
	exit
fi
dlog() { cat "$PJ_TMP/pam-jwtd.log"; }

# --- sshd -----------------------------------------------------------------------------
if [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd && pj_defer rmdir /run/sshd
fi
ssh-keygen -q -t ed25519 -N '' -C pamjwt-kr-host -f "$PJ_TMP/hostkey" </dev/null
SSHD_SVC=pamjwt-krsshd-$$
pj_sshd_link "$SSHD_SVC" || { not_ok "symlink $PJ_TMP/$SSHD_SVC -> sshd"; done_testing; exit; }
# auth optional pam_permit / account pam_permit: see test_sshd.sh (setcred runs in another
# process than auth; public-key logins); the session line is the one under test.
pj_pamd_write "$SSHD_SVC" <<EOF || { not_ok "write /etc/pam.d/$SSHD_SVC"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
auth     optional pam_permit.so
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
session  required $PJ_MOD config=$CONF
password required pam_deny.so
EOF
cat >"$PJ_TMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $PJ_TMP/hostkey
PidFile $PJ_TMP/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AllowUsers $U1
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
SSHD_PID=""
for _ in 1 2 3 4 5; do
	PORT=$("$PJ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	: >"$PJ_TMP/sshd.log"
	setpriv --pdeathsig TERM -- "$PJ_SSHD" -D -f "$PJ_TMP/sshd_config" -p "$PORT" \
		-E "$PJ_TMP/sshd.log" &
	pid=$!
	for _ in $(seq 1 200); do
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
ok "sshd started on 127.0.0.1:$PORT as $PJ_SSHD (PAM service $SSHD_SVC)"

# --- sudo -----------------------------------------------------------------------------
SUDO_SVC=pamjwt-krsudo-$$
# sudo_stack SOURCE [AUTH_ARGS]: (re)write the sudo service; `debug` makes the module say
# why the keyring gave nothing ("keyring: no credential" / "not the user's own process")
sudo_stack() {
	pj_pamd_write "$SUDO_SVC" <<EOF || { not_ok "write /etc/pam.d/$SUDO_SVC"; done_testing; exit 1; }
auth     required $PJ_MOD config=$CONF token_source=$1 debug ${2:-}
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
session  required pam_permit.so
EOF
}
sudo_stack keyring_only
# noninteractive_auth: sudo -n still runs PAM (a keyring needs no interaction);
# Defaults>U1 targetpw: running a command as U1 authenticates as U1 (PAM_USER = U1) while
# the real uid is the caller's, which must never unlock U1's keyring.
DROPIN=pamjwt-krtest-$$
if pj_sudoers_dropin "$DROPIN" <<EOF; then
# pam_jwt keyring test (PID $$, removed at its exit)
Defaults:$U1, $U2 passwd_tries=1, timestamp_timeout=0, noninteractive_auth
Defaults:$U1, $U2 pam_service=$SUDO_SVC, pam_login_service=$SUDO_SVC
Defaults>$U1 targetpw
$U1 ALL=(root) /bin/true, /usr/bin/id
$U2 ALL=(root) /bin/true, /usr/bin/id
$U2 ALL=($U1) /usr/bin/id
EOF
	ok "sudoers drop-in /etc/sudoers.d/$DROPIN installed (visudo -cf passed)"
else
	not_ok "sudoers drop-in /etc/sudoers.d/$DROPIN installed"
	done_testing
	exit
fi

# --- 1. the login -----------------------------------------------------------------------
pj_token_file login --key "$K/k1.key" --kid k1 -u "$U1" --iss "$ISS" --aud "$AUD" ||
	{ not_ok "mint the login token"; done_testing; exit; }
LOGIN_TOKEN=$PJ_TOKEN
# start_login DIR [--pty]: log U1 in by JWT with helpers/kr_ssh_session.py, files in DIR
# (created); SL_FD is the write end of its command FIFO, SL_PID its pid. Each helper is
# started with the FIFOs of the others closed, so that closing SL_FD ends that login alone.
# (The clean-up kills the helpers and never closes these descriptors: bash keeps copies
# of redirected descriptors at 10 and up, and closing one of those by number in the
# middle of a redirected command would end the shell.)
LOGIN_FDS=()
HELPER_PIDS=()
kr_close_fd() { eval "exec $1>&-"; }
start_login() {
	local d=$1 i
	shift
	mkdir "$d" && mkfifo "$d/ctl" || return 1
	(
		for i in "${LOGIN_FDS[@]}"; do kr_close_fd "$i"; done
		exec timeout 110 "$PJ_PY" "$PJ_HELPERS/kr_ssh_session.py" 127.0.0.1 "$PORT" "$U1" \
			"$LOGIN_TOKEN" "$PJ_TMP/hostkey.pub" "$d" "$@" <"$d/ctl" >"$d/helper.log" 2>&1
	) &
	SL_PID=$!
	HELPER_PIDS+=("$SL_PID")
	pj_defer kill "$SL_PID"
	exec {SL_FD}>"$d/ctl"
	LOGIN_FDS+=("$SL_FD")
	for i in $(seq 1 200); do
		[ -s "$d/status" ] && grep -q '^hold ' "$d/hold.out" 2>/dev/null && break
		[ -s "$d/status" ] && ! grep -q authenticated "$d/status" && break
		sleep 0.05
	done
	grep -q authenticated "$d/status" 2>/dev/null && grep -q '^hold ' "$d/hold.out" 2>/dev/null
}
hold_pid() { sed -n "s/^$2 \([0-9]*\).*/\1/p" "$1/hold.out" 2>/dev/null | head -1; } # DIR hold|bg

# login_run DIR NAME COMMAND: run COMMAND (one line) as a new channel of the login held
# by the helper of DIR (whose FIFO is fd LR_FD[DIR]); LR_RC is its exit status (255: no
# channel), DIR/NAME.out and .err its output
declare -A LR_FD
login_run() {
	local d=$1 name=$2 i
	shift 2
	rm -f "$d/$name.out" "$d/$name.err" "$d/$name.rc"
	LR_RC=timeout
	# a subshell ignoring SIGPIPE: the helper may have gone with the login
	(trap '' PIPE; printf 'RUN %s %s\n' "$name" "$*" >&"${LR_FD[$d]}") 2>/dev/null ||
		{ LR_RC=255; return; }
	for i in $(seq 1 300); do
		[ -s "$d/$name.rc" ] && break
		sleep 0.1
	done
	[ -s "$d/$name.rc" ] && LR_RC=$(cat "$d/$name.rc")
}

LD=$PJ_TMP/login
if start_login "$LD" --pty; then
	LR_FD[$LD]=$SL_FD
	HOLD_PID=$(hold_pid "$LD" hold)
	BG_PID=$(hold_pid "$LD" bg)
	ok "ssh login of $U1 by JWT (keyboard-interactive) holds a command open on a pty (shell pid $HOLD_PID)"
else
	not_ok "ssh login of $U1 by JWT holds a command open ($(cat "$LD/status" 2>/dev/null))"
	grep -v '^debug' "$PJ_TMP/sshd.log" | tail -5 | sed 's/^/#   sshd: /'
	done_testing
	exit
fi

"$PJ_CTL" sessions -c "$CONF" -u "$U1" --json >"$PJ_TMP/sessions.json" 2>&1
read -r N_SESS DIGEST LEADER SVC_SEEN < <("$PJ_PY" -c '
import json, sys
l = json.load(open(sys.argv[1]))
s = l[0] if l else {}
print(len(l), s.get("digest", "-"), s.get("pid", 0), s.get("service", "-"))' "$PJ_TMP/sessions.json" 2>/dev/null ||
	echo "0 - 0 -")
if [ "$N_SESS" = 1 ] && [ "$SVC_SEEN" = "$SSHD_SVC" ]; then
	ok "pam-jwtctl sessions lists the login (session ${DIGEST:0:12}, service $SVC_SEEN, pid $LEADER)"
else
	not_ok "pam-jwtctl sessions lists one session of $U1 for $SSHD_SVC (got $N_SESS, $SVC_SEEN)"
	sed 's/^/#   /' "$PJ_TMP/sessions.json" | head -5
fi

# The process tree of the login under the listening sshd.
tree() { # PID: the process and its descendants, "pid ppid user args", depth-first
	ps -eo pid=,ppid=,user:16=,args= | awk -v root="$1" '
		{ pid[NR] = $1; ppid[NR] = $2; line[$1] = $0 }
		END { show(root, "") }
		function show(p, ind,   i) { print ind line[p]; for (i = 1; i <= NR; i++)
			if (ppid[i] == p) show(pid[i], ind "  ") }'
}
tree "$SSHD_PID" >"$PJ_TMP/tree.txt"
echo "# sshd process tree during the login (pid ppid user args):"
sed 's/^/#   /' "$PJ_TMP/tree.txt"
LEADER_ARGS=$(ps -o args= -p "$LEADER" 2>/dev/null)
LEADER_PPID=$(ps -o ppid= -p "$LEADER" 2>/dev/null | tr -d ' ')
LEADER_USER=$(ps -o user= -p "$LEADER" 2>/dev/null | tr -d ' ')
NET_PID=$(ps -o pid=,ppid= -u "$U1" | awk -v l="$LEADER" '$2 == l { print $1 }' | head -1)
if [ "$LEADER_PPID" = "$SSHD_PID" ] && [ "$LEADER_USER" = root ] &&
	[[ $LEADER_ARGS == *"$U1 [priv]"* ]]; then
	ok "the session's pid $LEADER is sshd's privileged per-connection process ($LEADER_ARGS)"
else
	not_ok "the session's pid $LEADER is sshd's privileged per-connection process (ppid $LEADER_PPID, user $LEADER_USER, \"$LEADER_ARGS\")"
fi

# The keyring of U1.
KR_SID=$(kr_get "$U1_UID" pam_jwt:session)
kr_get "$U1_UID" pam_jwt:access >"$PJ_TMP/access0"
KR_REFRESH=$(kr_get "$U1_UID" pam_jwt:refresh)
if [ -n "$KR_SID" ] && [ -s "$PJ_TMP/access0" ] && [ -n "$KR_REFRESH" ]; then
	ok "$U1's persistent keyring holds pam_jwt:session, pam_jwt:access and pam_jwt:refresh"
else
	not_ok "$U1's persistent keyring holds pam_jwt:session, pam_jwt:access and pam_jwt:refresh (session ${KR_SID:+yes}, access $(wc -c <"$PJ_TMP/access0") bytes, refresh ${KR_REFRESH:+yes})"
	grep -i 'keyring\|tokens' "$PJ_TMP/pam-jwtd.log" | tail -3 | sed 's/^/#   pam-jwtd: /'
fi
check "pam_jwt:session is the recorded session's ID (pjs_..., SHA-256 = ${DIGEST:0:12}...)" \
	eval '[[ $KR_SID == pjs_* ]] && [ "$(sha256_of "$KR_SID")" = "$DIGEST" ]'
check "pam_jwt:refresh is a refresh token (pjr_...)" eval '[[ $KR_REFRESH == pjr_* ]]'
out=$("$PJ_CTL" verify -c "$CONF" -u "$U1" - <"$PJ_TMP/access0" 2>&1)
if [[ $out == accepted* ]] && [ "$(claim "$PJ_TMP/access0" sid)" = "$DIGEST" ]; then
	ok "pam_jwt:access verifies for $U1 (\"$out\") and its sid is the session's digest"
else
	not_ok "pam_jwt:access verifies for $U1 with sid = session digest (\"$out\", sid $(claim "$PJ_TMP/access0" sid))"
fi
want_desc="user;$U1_UID;$U1_GID;1b0b0000;"
desc_ok=1
for d in pam_jwt:session pam_jwt:access pam_jwt:refresh; do
	[ "$(kr_describe "$U1_UID" "$d")" = "$want_desc$d" ] || desc_ok=0
done
if [ "$desc_ok" = 1 ]; then
	ok "the three keys belong to $U1 ($U1_UID:$U1_GID) with mode 1b0b0000 (no write, no setattr)"
else
	not_ok "the three keys belong to $U1 with mode 1b0b0000: $(kr_describe "$U1_UID" pam_jwt:session)"
fi

# --- 2. sudo inside the login, from the keyring -----------------------------------------
# sudo_checks NAME DESC: the command run as NAME inside the login printed root and exited
# 0, and sudo printed no prompt (keyring_only never converses)
# (sudo -S writes its prompts to standard error: the module's "JWT: ", or sudo's own)
no_prompt() { ! grep -qE 'JWT: |\[sudo\] password|Password:' "$1"; }
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
login_run "$LD" sudo1 "sudo -k -S -u root /usr/bin/id -un </dev/null"
if [ "$LR_RC" = 0 ] && [ "$(cat "$LD/sudo1.out")" = root ] && no_prompt "$LD/sudo1.err"; then
	ok "inside the login: sudo -k -S id -un (stdin closed) runs as root, no prompt (keyring_only)"
else
	not_ok "inside the login: sudo -k -S id -un with keyring_only (exit $LR_RC, out \"$(head -c 80 "$LD/sudo1.out" 2>/dev/null)\")"
	sed 's/^/#   /' "$LD/sudo1.err" 2>/dev/null | head -5
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "sudo's acceptance logged (no syslog to read)"; else
	check "logged: pam_jwt($SUDO_SVC:auth): accepted for user $U1 (session=${DIGEST:0:12}), from the keyring's session ID" \
		eval 'pj_log_new | grep -qF "pam_jwt($SUDO_SVC:auth): accepted for user $U1: accepted (session=${DIGEST:0:12})"'
fi
login_run "$LD" sudo2 "sudo -k -n /bin/true"
if [ "$LR_RC" = 0 ] && no_prompt "$LD/sudo2.err"; then
	ok "inside the login: sudo -k -n true succeeds (noninteractive_auth, keyring_only)"
else
	not_ok "inside the login: sudo -k -n true (exit $LR_RC)"
	sed 's/^/#   /' "$LD/sudo2.err" 2>/dev/null | head -5
fi
sudo_stack keyring
login_run "$LD" sudo3 "sudo -k -S -u root /usr/bin/id -un </dev/null"
if [ "$LR_RC" = 0 ] && [ "$(cat "$LD/sudo3.out")" = root ] && no_prompt "$LD/sudo3.err"; then
	ok "token_source=keyring (prompt as fallback): sudo inside the login needs no prompt either"
else
	not_ok "token_source=keyring: sudo inside the login (exit $LR_RC)"
	sed 's/^/#   /' "$LD/sudo3.err" 2>/dev/null | head -5
fi
sudo_stack keyring_only

# --- 3. the access token is renewed before it expires -----------------------------------
# access_ttl 6 s, refresh_ahead 4 s: pam-jwtd replaces the token about 2 s after it was
# minted. Watch the keyring for 10 s: every replacement must come before the token it
# replaces expires, and each new token must verify.
cp "$PJ_TMP/access0" "$PJ_TMP/acc.cur"
changes=0 late=0 bad=0 gone=0
end=$(($(now_ms) + 10000))
while [ "$(now_ms)" -lt "$end" ]; do
	if ! kr_get "$U1_UID" pam_jwt:access >"$PJ_TMP/acc.new"; then
		gone=$((gone + 1))
	elif ! cmp -s "$PJ_TMP/acc.new" "$PJ_TMP/acc.cur"; then
		t=$(now_ms)
		old_exp=$(claim "$PJ_TMP/acc.cur" exp)
		changes=$((changes + 1))
		[ "$t" -lt "$((old_exp * 1000))" ] || late=$((late + 1))
		"$PJ_CTL" verify -c "$CONF" -u "$U1" - <"$PJ_TMP/acc.new" >/dev/null 2>&1 || bad=$((bad + 1))
		[ "$(claim "$PJ_TMP/acc.new" exp)" -gt "$old_exp" ] || bad=$((bad + 1))
		echo "# access token replaced at $t ms, $((old_exp * 1000 - t)) ms before the old one's exp"
		cp "$PJ_TMP/acc.new" "$PJ_TMP/acc.cur"
	fi
	sleep 0.2
done
if [ "$changes" -ge 1 ] && [ "$late" = 0 ] && [ "$bad" = 0 ] && [ "$gone" = 0 ]; then
	ok "pam-jwtd replaced the keyring's access token $changes time(s) in 10 s, each before the old one expired; each verifies"
else
	not_ok "access token renewal: $changes change(s), $late late, $bad not verifying or not later, $gone read(s) without a token"
	grep -iE 'renew|refresh' "$PJ_TMP/pam-jwtd.log" | tail -3 | sed 's/^/#   pam-jwtd: /'
fi
check "pam_jwt:refresh and pam_jwt:session are unchanged by the renewals" \
	eval '[ "$(kr_get "$U1_UID" pam_jwt:refresh)" = "$KR_REFRESH" ] &&
		[ "$(kr_get "$U1_UID" pam_jwt:session)" = "$KR_SID" ]'

# --- 4. another user cannot use U1's keyring --------------------------------------------
# U2 runs sudo while U1's keyring is full: sudo authenticates U2, and the module reads
# U2's own (empty) keyring. With targetpw for running as U1, PAM_USER is U1 but the real
# uid is U2's: the module must not read U1's keyring on U2's behalf.
# sudo_as USER ARGS...: as USER (no PAM session), sudo -k -S ARGS with stdin closed
sudo_as() {
	local u=$1
	shift
	timeout 30 setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --reset-env -- \
		sudo -k -S "$@" </dev/null >"$PJ_TMP/sudo.out" 2>"$PJ_TMP/sudo.err"
}
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U2" -u root /usr/bin/id -un || rc=$?
if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ] && no_prompt "$PJ_TMP/sudo.err"; then
	ok "$U2's sudo is refused without a prompt while $U1's keyring holds a live login"
else
	not_ok "$U2's sudo is refused (exit $rc, out \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
	sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "reason for $U2 logged (no syslog to read)"; else
	check "logged (debug): keyring: no credential, for $U2's own keyring" \
		eval 'pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth)" | grep -qF "keyring: no credential"'
fi
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U2" -u "$U1" /usr/bin/id -un || rc=$?
if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ] && no_prompt "$PJ_TMP/sudo.err"; then
	ok "$U2's sudo -u $U1 with targetpw (PAM_USER $U1) is refused: $U1's keyring is not read for $U2"
else
	not_ok "$U2's sudo -u $U1 with targetpw is refused (exit $rc, out \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
	sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "targetpw reason logged (no syslog to read)"; else
	check "logged (debug): keyring: not the user's own setuid process" \
		eval 'pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth)" | grep -qF "keyring: not the user'"'"'s own setuid process"'
fi
# U2 obtained U1's session ID and access token (say, U1 showed them) and puts them into
# U2's own keyring: the module takes them, and refuses them as another user's.
kr_plant() { # USER DESC DATA: put DATA under DESC into USER's persistent keyring, as USER
	as_user "$1" keyctl session - sh -c 'printf %s "$2" | keyctl padd user "$1" "$(keyctl get_persistent @s)"' \
		sh "$2" "$3" >/dev/null 2>&1
}
kr_unplant() { # USER DESC
	as_user "$1" keyctl session - sh -c 'p=$(keyctl get_persistent @s); keyctl unlink "$(keyctl search "$p" user "$1")" "$p"' \
		sh "$2" >/dev/null 2>&1
}
kr_plant "$U2" pam_jwt:session "$KR_SID"
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U2" -u root /usr/bin/id -un || rc=$?
check "$U1's live session ID in $U2's own keyring: $U2's sudo is refused (exit $rc)" \
	eval '[ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]'
[ "$PJ_LOG_MODE" = none ] ||
	pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused" | sed 's/.*refused/#   refused/' | head -1
kr_unplant "$U2" pam_jwt:session
kr_plant "$U2" pam_jwt:access "$(cat "$PJ_TMP/acc.cur")"
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U2" -u root /usr/bin/id -un || rc=$?
check "$U1's access token in $U2's own keyring: $U2's sudo is refused (exit $rc)" \
	eval '[ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]'
[ "$PJ_LOG_MODE" = none ] ||
	pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused" | sed 's/.*refused/#   refused/' | head -1
kr_unplant "$U2" pam_jwt:access
check "$U2's keyring is empty again" kr_has_none "$U2_UID"
check_fails "$U2 cannot open $U1's persistent keyring itself (keyctl get_persistent)" \
	eval 'as_user "$U2" keyctl session - keyctl get_persistent @s "$U1_UID" >/dev/null 2>&1'
check "$U1's keyring is untouched by $U2's attempts" \
	eval '[ "$(kr_get "$U1_UID" pam_jwt:session)" = "$KR_SID" ]'

# --- 5. the access-token path -----------------------------------------------------------
# Without a session ID in the keyring the module takes the access token. Inside the login
# U1 unlinks pam_jwt:session from their own keyring, runs sudo, and links the same ID back
# (a key of their own now; what matters below is that its content names the session).
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
login_run "$LD" sudo4 "keyctl session - sh -c 'p=\$(keyctl get_persistent @s) && s=\$(keyctl search \$p user pam_jwt:session) && id=\$(keyctl pipe \$s) && keyctl unlink \$s \$p >/dev/null && sudo -k -S -u root /usr/bin/id -un </dev/null; rc=\$?; printf %s \"\$id\" | keyctl padd user pam_jwt:session \$p >/dev/null; exit \$rc'"
if [ "$LR_RC" = 0 ] && [ "$(cat "$LD/sudo4.out")" = root ] && no_prompt "$LD/sudo4.err"; then
	ok "no session ID in the keyring: sudo authenticates with the keyring's access token"
else
	not_ok "sudo with only the access token in the keyring (exit $LR_RC, out \"$(head -c 80 "$LD/sudo4.out" 2>/dev/null)\")"
	sed 's/^/#   /' "$LD/sudo4.err" 2>/dev/null | head -5
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "access-token acceptance logged (no syslog)"; else
	check "logged: accepted for user $U1 with the access token's jti and kid=k1" \
		eval 'pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): accepted for user $U1: accepted (jti=" | grep -qF "kid=k1)"'
fi
check "the session ID is back in the keyring" \
	eval '[ "$(kr_get "$U1_UID" pam_jwt:session)" = "$KR_SID" ]'
# accept=jwt: the session ID in the keyring is not a credential this line takes, so the
# module goes straight to the access token.
sudo_stack keyring_only accept=jwt
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
login_run "$LD" sudo5 "sudo -k -S -u root /usr/bin/id -un </dev/null"
if [ "$LR_RC" = 0 ] && [ "$(cat "$LD/sudo5.out")" = root ] && no_prompt "$LD/sudo5.err"; then
	ok "accept=jwt: sudo inside the login takes the keyring's access token, not its session ID"
else
	not_ok "accept=jwt: sudo inside the login (exit $LR_RC, out \"$(head -c 80 "$LD/sudo5.out" 2>/dev/null)\")"
	sed 's/^/#   /' "$LD/sudo5.err" 2>/dev/null | head -5
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "accept=jwt acceptance logged (no syslog)"; else
	check "logged: accepted for user $U1 with a jti (the access token)" \
		eval 'pj_log_new | grep -qF "pam_jwt($SUDO_SVC:auth): accepted for user $U1: accepted (jti="'
fi
sudo_stack keyring_only
kr_get "$U1_UID" pam_jwt:access >"$PJ_TMP/access.before-revoke"

# --- 6. a revocation ends the login ---------------------------------------------------------
T0=$(now_ms)
out=$("$PJ_CTL" revoke -c "$CONF" --session "${DIGEST:0:12}" 2>&1)
if [ "$out" = "revoked session ${DIGEST:0:12}" ]; then ok "pam-jwtctl revoke --session ${DIGEST:0:12}: \"$out\""; else
	not_ok "pam-jwtctl revoke --session ${DIGEST:0:12} (\"$out\")"
fi
for _ in $(seq 1 100); do
	[ -s "$LD/closed" ] && break
	sleep 0.1
done
if [ -s "$LD/closed" ]; then
	CLOSED_MS=$(awk '{ printf "%.0f", $2 * 1000 }' "$LD/closed")
	took=$((CLOSED_MS - T0))
	if [ "$took" -le 5000 ]; then
		ok "the ssh login ended $took ms after the revocation (limit: revoke_kill_after 2 s + 3 s) ($(cat "$LD/closed"))"
	else
		not_ok "the ssh login ended within 5 s of the revocation (took $took ms)"
	fi
else
	not_ok "the ssh login ended within 10 s of the revocation"
fi
# running PID: the process exists and is no zombie (a process whose parent died is reaped
# by pid 1 when pid 1 gets round to it: here that took up to ~1.5 s)
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}
# gone_within MS PID...: every PID has ended within MS milliseconds of T0 (waits for them);
# GONE_AT is when the last one was seen gone, in ms after T0
gone_within() {
	local limit=$1 p alive
	shift
	while :; do
		alive=0
		for p; do running "$p" && alive=1; done
		GONE_AT=$(($(now_ms) - T0))
		[ "$alive" = 0 ] && return 0
		[ "$GONE_AT" -ge "$limit" ] && return 1
		sleep 0.05
	done
}
if gone_within 5000 "$LEADER"; then
	ok "sshd's privileged process (pid $LEADER, the session's leader) ended ($GONE_AT ms after the revocation)"
else not_ok "sshd's privileged process (pid $LEADER) ended within 5 s"; fi
if [ -n "$NET_PID" ] && gone_within 5000 "$NET_PID"; then
	ok "sshd's unprivileged process of the login (pid $NET_PID) ended ($GONE_AT ms)"
else not_ok "sshd's unprivileged process of the login (pid ${NET_PID:-unknown}) ended within 5 s"; fi
if gone_within 5000 "$HOLD_PID"; then
	ok "the remote command (shell pid $HOLD_PID) ended ($GONE_AT ms)"
else not_ok "the remote command (shell pid $HOLD_PID) ended within 5 s"; fi
if gone_within 5000 "$BG_PID"; then
	ok "its background child (pid $BG_PID, sleep 600, same pty) ended too ($GONE_AT ms)"
else not_ok "its background child (pid $BG_PID) ended within 5 s"; fi
if grep -qF "SIGHUP to pid $LEADER" "$PJ_TMP/pam-jwtd.log"; then
	ok "pam-jwtd sent SIGHUP to the recorded leader pid $LEADER"
else
	not_ok "pam-jwtd sent SIGHUP to the recorded leader pid $LEADER"
	tail -5 "$PJ_TMP/pam-jwtd.log" | sed 's/^/#   pam-jwtd: /'
fi
SIGKILL_NEEDED=no
grep -qF "pid $LEADER still there" "$PJ_TMP/pam-jwtd.log" && SIGKILL_NEEDED=yes
echo "# SIGKILL needed after SIGHUP: $SIGKILL_NEEDED"
# sshd's monitor catches SIGHUP (monitor_child_handler) and passes it on to the
# unprivileged child; when that one dies, the monitor cleans up, pam_close_session
# included, and exits. So pam_jwt's close_session runs in the leader after the revocation.
if [ "$PJ_LOG_MODE" = none ]; then skip "close_session in the leader (no syslog)"; else
	check "the leader ran pam_jwt's close_session on its way out (\"session closed ... (session=${DIGEST:0:12})\" logged)" \
		eval 'pj_log_text | grep -qF "pam_jwt($SSHD_SVC:session): session closed for user $U1 (session=${DIGEST:0:12})"'
fi
grep -iE 'revoked|ended|SIG' "$PJ_TMP/pam-jwtd.log" | sed 's/^/#   pam-jwtd: /'
sed -n '/Accepted keyboard-interactive/,$p' "$PJ_TMP/sshd.log" | grep -v '^debug' | sed 's/^/#   sshd: /'
[ "$PJ_LOG_MODE" = none ] || pj_log_text | grep -F "pam_jwt($SSHD_SVC:session)" | sed 's/^/#   syslog: /'
for _ in $(seq 1 30); do
	[ -z "$(user_procs "$U1_UID")" ] && break
	sleep 0.1
done
left=$(user_procs "$U1_UID")
if [ -z "$left" ]; then ok "no process of $U1 is left"; else
	not_ok "no process of $U1 is left: $(echo "$left" | tr '\n' ';')"
fi
"$PJ_CTL" sessions -c "$CONF" -u "$U1" --json >"$PJ_TMP/sessions.json" 2>&1
check "the session is gone from pam-jwtctl sessions" \
	eval '[ "$("$PJ_PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$PJ_TMP/sessions.json")" = 0 ]'
check "$U1's keyring holds none of pam_jwt:session, pam_jwt:access, pam_jwt:refresh" kr_has_none "$U1_UID"

# sudo as U1 from the now empty keyring
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U1" -u root /usr/bin/id -un || rc=$?
if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ] && no_prompt "$PJ_TMP/sudo.err"; then
	ok "after the revocation $U1's sudo (keyring_only) is refused, without a prompt"
else
	not_ok "after the revocation $U1's sudo is refused (exit $rc, out \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
	sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
fi
# U1 puts the revoked session ID back into their own keyring: the store says no.
as_user "$U1" keyctl session - sh -c 'printf %s "$1" | keyctl padd user pam_jwt:session "$(keyctl get_persistent @s)"' \
	sh "$KR_SID" >/dev/null 2>&1
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U1" -u root /usr/bin/id -un || rc=$?
if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]; then
	ok "the revoked session ID planted back in $U1's keyring is refused"
else
	not_ok "the revoked session ID planted back in $U1's keyring is refused (exit $rc)"
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "refusal of the planted ID logged (no syslog)"; else
	check "logged: refused for user $U1 ... (session=${DIGEST:0:12})" \
		eval 'pj_log_new | grep -qF "pam_jwt($SUDO_SVC:auth): refused for user $U1: " &&
			pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused" | grep -qF "(session=${DIGEST:0:12})"'
	pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused" | sed 's/.*refused/#   refused/' | head -1
fi
# sudo_typed USER TOKENFILE: as USER, sudo -k -S id -un with the token on stdin
sudo_typed() {
	timeout 30 setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups --reset-env -- \
		sudo -k -S -u root /usr/bin/id -un <"$2" >"$PJ_TMP/sudo.out" 2>"$PJ_TMP/sudo.err"
}
# With token_source=keyring a refused keyring credential is followed by the prompt.
sudo_stack keyring
rc=0
sudo_typed "$U1" "$LOGIN_TOKEN" || rc=$?
if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/sudo.out")" = root ] && grep -q 'JWT: ' "$PJ_TMP/sudo.err"; then
	ok "token_source=keyring: the refused session ID is followed by the prompt, where a typed JWT works"
else
	not_ok "token_source=keyring: prompt after the refused session ID (exit $rc, out \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
	sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
fi
# An access token of the revoked session (copied before the revocation, still within
# exp + leeway) planted in the keyring instead: with require_session its sid must name a
# live session.
as_user "$U1" keyctl session - sh -c 'p=$(keyctl get_persistent @s); keyctl unlink "$(keyctl search "$p" user pam_jwt:session)" "$p"; printf %s "$1" | keyctl padd user pam_jwt:access "$p"' \
	sh "$(cat "$PJ_TMP/access.before-revoke")" >/dev/null 2>&1
sudo_stack keyring_only require_session
[ "$PJ_LOG_MODE" = none ] || pj_log_mark
rc=0
sudo_as "$U1" -u root /usr/bin/id -un || rc=$?
if [ "$rc" = 1 ] && [ ! -s "$PJ_TMP/sudo.out" ]; then
	ok "an access token of the revoked session planted in the keyring is refused with require_session"
else
	not_ok "an access token of the revoked session is refused with require_session (exit $rc)"
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "refusal of the planted access token logged (no syslog)"; else
	ACC_JTI=$(claim "$PJ_TMP/access.before-revoke" jti)
	check "logged: refused for user $U1 with that token's jti" \
		eval 'pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused for user $U1: " | grep -qF "(jti=$ACC_JTI, kid=k1)"'
	pj_log_new | grep -F "pam_jwt($SUDO_SVC:auth): refused" | sed 's/.*refused/#   refused/' | head -1
fi
# Without require_session on the line: a token read from the keyring counts only while its
# session is live anyway, so the same planted token is refused although it has not expired.
sudo_stack keyring_only
rc=0
sudo_as "$U1" -u root /usr/bin/id -un || rc=$?
exp_left=$(($(claim "$PJ_TMP/access.before-revoke" exp) - $(date +%s)))
if [ "$rc" = 1 ] && [ "$exp_left" -gt -60 ]; then
	ok "the planted token of the revoked session is refused without require_session too (exp in ${exp_left} s)"
else
	not_ok "the planted token of the revoked session is refused without require_session (exit $rc, exp in ${exp_left} s)"
fi
# Empty keyring, token_source=keyring: the prompt.
as_user "$U1" keyctl session - sh -c 'p=$(keyctl get_persistent @s); keyctl unlink "$(keyctl search "$p" user pam_jwt:access)" "$p"' >/dev/null 2>&1
sudo_stack keyring
rc=0
sudo_typed "$U1" "$LOGIN_TOKEN" || rc=$?
if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/sudo.out")" = root ] && grep -q 'JWT: ' "$PJ_TMP/sudo.err"; then
	ok "token_source=keyring with an empty keyring: the prompt, where a typed JWT works"
else
	not_ok "token_source=keyring with an empty keyring falls back to the prompt (exit $rc, out \"$(head -c 80 "$PJ_TMP/sudo.out")\")"
	sed 's/^/#   /' "$PJ_TMP/sudo.err" | head -3
fi
rc=0
sudo_as "$U1" -u root /usr/bin/id -un || rc=$?
check "token_source=keyring, empty keyring, empty answer: refused (exit $rc)" test "$rc" = 1
check "the keyring is empty again" kr_has_none "$U1_UID"
sudo_stack keyring_only

# --- 7. a normal logout: close_session empties the keyring -------------------------------------
# (a second, short login of U1; the first one has gone)
rc=0
timeout 60 "$PJ_PY" "$PJ_HELPERS/ssh_kbdint.py" 127.0.0.1 "$PORT" "$U1" "$LOGIN_TOKEN" \
	"$PJ_TMP/hostkey.pub" "keyctl session - sh -c 'keyctl search \$(keyctl get_persistent @s) user pam_jwt:session >/dev/null && echo in-keyring'" \
	>"$PJ_TMP/ssh2.out" 2>"$PJ_TMP/ssh2.err" || rc=$?
check "a short login of $U1 finds its session ID in the keyring while it lasts" \
	eval '[ "$rc" = 0 ] && grep -qx in-keyring "$PJ_TMP/ssh2.out"'
for _ in $(seq 1 50); do
	kr_has_none "$U1_UID" && break
	sleep 0.1
done
check "after its logout (close_session) the keyring holds no pam_jwt key" kr_has_none "$U1_UID"
n_sessions() { # the number of U1's sessions in the store
	"$PJ_CTL" sessions -c "$CONF" -u "$U1" --json 2>/dev/null |
		"$PJ_PY" -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null
}
check "... and its session is gone from the store" test "$(n_sessions)" = 0

# --- 8. two logins at once: the newer one owns the keyring ----------------------------------
# Login B (pty), then login C (no pty). The keyring holds C's credentials; pam-jwtd's
# renewals for B must not overwrite C's access token. B's logout must leave C's keys alone,
# and sudo inside C still works. Then `revoke --user` ends C.
sid_of_login() { # DIR: the digest of the session whose leader is the [priv] parent of DIR's shell
	local sh_pid priv net
	sh_pid=$(hold_pid "$1" hold)
	net=$(ps -o ppid= -p "$sh_pid" 2>/dev/null | tr -d ' ')
	priv=$(ps -o ppid= -p "$net" 2>/dev/null | tr -d ' ')
	"$PJ_CTL" sessions -c "$CONF" -u "$U1" --json 2>/dev/null | "$PJ_PY" -c '
import json, sys
for s in json.load(sys.stdin):
    if str(s["pid"]) == sys.argv[1]: print(s["digest"])' "$priv" 2>/dev/null
}
LB=$PJ_TMP/loginB
LC=$PJ_TMP/loginC
if start_login "$LB" --pty; then LR_FD[$LB]=$SL_FD; FD_B=$SL_FD; else FD_B=""; fi
if start_login "$LC"; then LR_FD[$LC]=$SL_FD; PID_C=$SL_PID; else PID_C=""; fi
DIG_B=$(sid_of_login "$LB")
DIG_C=$(sid_of_login "$LC")
if [ -n "$FD_B" ] && [ -n "$PID_C" ] && [ -n "$DIG_B" ] && [ -n "$DIG_C" ] && [ "$(n_sessions)" = 2 ]; then
	ok "two logins of $U1 held at once (B ${DIG_B:0:12} on a pty, C ${DIG_C:0:12} without)"
else
	not_ok "two logins of $U1 held at once (B ${DIG_B:-?}, C ${DIG_C:-?}, $(n_sessions) session(s))"
fi
check "the keyring holds the newer login's session ID (C)" \
	eval '[ "$(sha256_of "$(kr_get "$U1_UID" pam_jwt:session)")" = "$DIG_C" ]'
sleep 4.5 # two renewal periods of both logins
kr_get "$U1_UID" pam_jwt:access >"$PJ_TMP/accC"
check "after 4.5 s of renewals the access token in the keyring is still C's (sid ${DIG_C:0:12}) and verifies" \
	eval '[ "$(claim "$PJ_TMP/accC" sid)" = "$DIG_C" ] &&
		"$PJ_CTL" verify -c "$CONF" -u "$U1" - <"$PJ_TMP/accC" >/dev/null 2>&1'
one_session_is() { # DIGEST: U1 has exactly one session, that one
	"$PJ_CTL" sessions -c "$CONF" -u "$U1" --json 2>/dev/null | "$PJ_PY" -c '
import json, sys
l = json.load(sys.stdin)
sys.exit(0 if [s["digest"] for s in l] == [sys.argv[1]] else 1)' "$1" 2>/dev/null
}
[ -n "$FD_B" ] && kr_close_fd "$FD_B" # B logs out: its helper closes the connection
for _ in $(seq 1 50); do
	one_session_is "$DIG_C" && break
	sleep 0.1
done
check "login B logged out: its session is gone, C's remains" one_session_is "$DIG_C"
check "B's close_session left C's keys in the keyring (session ID is C's, access and refresh there)" \
	eval '[ "$(sha256_of "$(kr_get "$U1_UID" pam_jwt:session)")" = "$DIG_C" ] &&
		kr_get "$U1_UID" pam_jwt:access >/dev/null && kr_get "$U1_UID" pam_jwt:refresh >/dev/null'
login_run "$LC" sudoC "sudo -k -n /usr/bin/id -un"
check "sudo -n inside login C still works from the keyring (exit $LR_RC)" \
	eval '[ "$LR_RC" = 0 ] && [ "$(cat "$LC/sudoC.out")" = root ]'
C_SHELL=$(hold_pid "$LC" hold)
C_BG=$(hold_pid "$LC" bg)
T0=$(now_ms)
out=$("$PJ_CTL" revoke -c "$CONF" --user "$U1" 2>&1)
check "pam-jwtctl revoke --user $U1: \"$out\"" test "$out" = "revoked 1 session(s) of user $U1"
for _ in $(seq 1 100); do
	[ -s "$LC/closed" ] && break
	sleep 0.1
done
check "login C ended ($(cat "$LC/closed" 2>/dev/null))" test -s "$LC/closed"
if gone_within 5000 "$C_SHELL"; then
	ok "login C's remote command (no pty, pid $C_SHELL) ended ($GONE_AT ms)"
else not_ok "login C's remote command (pid $C_SHELL) ended within 5 s"; fi
for _ in $(seq 1 50); do
	kr_has_none "$U1_UID" && break
	sleep 0.1
done
check "the keyring is empty after revoke --user" kr_has_none "$U1_UID"
check "no session of $U1 is left" test "$(n_sessions)" = 0
# Without a pty nothing tells a background process of the login that the login has gone.
if running "$C_BG"; then
	echo "# NOTE: login C's background process (pid $C_BG, sleep 600, no pty) outlives the revoked login; ended by the test"
	kill "$C_BG" 2>/dev/null
else
	echo "# login C's background process (pid $C_BG) has ended too"
fi

# --- clean-up and the host as it was -------------------------------------------------------
check "pam-jwtd is still running" kill -0 "$DPID"
check "sshd is still running" kill -0 "$SSHD_PID"
check "/etc/pam.d/sshd and /etc/pam.d/sudo were not changed" \
	test "$(sha256sum /etc/pam.d/sshd /etc/pam.d/sudo 2>/dev/null)" = "$real_sshd_pam"
echo "# run time before clean-up: $((SECONDS - T_START)) s"
pj_run_cleanup
wait 2>/dev/null
still=""
for p in "$SSHD_PID" "$DPID" "${HELPER_PIDS[@]}"; do [ -d "/proc/$p" ] && still="$still $p"; done
check "sshd, pam-jwtd and the ssh clients have ended${still:+ (still there:$still)}" test -z "$still"
for _ in $(seq 1 30); do
	[ -z "$(user_procs "$U1_UID" "$U2_UID")" ] && break
	sleep 0.1
done
check "no process of the test uids is left" eval '[ -z "$(user_procs "$U1_UID" "$U2_UID")" ]'
check "the test users are gone" eval '! getent passwd "$U1" >/dev/null && ! getent passwd "$U2" >/dev/null'
check "/etc/pam.d is as before (names, owners, modes, sizes, mtimes)" \
	test "$(dir_state /etc/pam.d)" = "$real_pamd"
check "/etc/sudoers.d is as before" test "$(dir_state /etc/sudoers.d)" = "$real_sudoers_d"
check "temp dir, store and socket directory are gone" \
	eval '[ ! -e "$PJ_TMP" ] && [ ! -e "$PJ_STORE" ] && [ ! -e "$RUNDIR" ]'
# Keys owned by the test uids: the three pam_jwt keys and the persistent keyring are
# invalidated and garbage-collected shortly after.
# (Keys of a uid from before the run, such as the user keyrings _uid.N/_uid_ses.N that a
# PAM session with pam_keyinit of an earlier user with this uid left, are not ours; dead
# ones among them, such as an earlier suite's session keyrings, may be collected while
# this suite runs (the kernel waits up to gc_delay, 5 minutes): fewer is not a leak.)
keys_of() { # UID [TEXT]: the number of keys the uid owns, by /proc/key-users or TEXT
	local text=${2-$(cat /proc/key-users)}
	printf '%s\n' "$text" | awk -v u="$1:" '$1 == u { split($3, a, "/"); print a[1]; f = 1 } END { if (!f) print 0 }'
}
no_more_keys() {
	[ "$(keys_of "$U1_UID")" -le "$(keys_of "$U1_UID" "$KEY_USERS0")" ] &&
		[ "$(keys_of "$U2_UID")" -le "$(keys_of "$U2_UID" "$KEY_USERS0")" ]
}
for _ in $(seq 1 50); do
	no_more_keys && break
	sleep 0.1
done
check "the test uids own no more keys than before the run (/proc/key-users: uid $U1_UID $(keys_of "$U1_UID"), was $(keys_of "$U1_UID" "$KEY_USERS0"); uid $U2_UID $(keys_of "$U2_UID"), was $(keys_of "$U2_UID" "$KEY_USERS0"))" \
	no_more_keys
echo "# run time: $((SECONDS - T_START)) s"
done_testing
