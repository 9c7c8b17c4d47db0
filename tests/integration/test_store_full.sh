#!/bin/bash
# The refresh-flood attack on the session store (root): a user rotates one session's
# refresh token through pam-jwtd 10,000 times, which once left one record per used token
# until it expired, so the tmpfs filled, every other login failed, and pam-jwtctl revoke
# and gc failed too ("cannot write to the session store") until records were deleted by
# hand. Must hold now:
#   1. a session's refresh state is O(1) records however often it rotates: 10,000
#      rotations (max_refreshes_per_minute = 0) leave the store's record count flat, and
#      the first, long-spent token is still known as reuse: it revokes the session, whose
#      records go;
#   2. rotations are rate-limited by default (max_refreshes_per_minute 10): the 11th within
#      a minute is refused with "too many refreshes for this session", the token presented
#      is not spent (a raised limit, reloaded, lets it rotate), and no record is added;
#   3. deleting needs no free space: on a store whose own small tmpfs is completely full
#      (no free block, no free inode), a new login is refused with the reason logged,
#      while pam-jwtctl revoke --session, revoke --user and gc succeed and remove their
#      records (the file system is filled up again before each); a refresh there is
#      refused without spending the token; once space is back, logins work again, the
#      store reads cleanly and that token refreshes.
#
# Pieces (all new, uniquely named, removed at exit):
# - a temp dir (0755, root's) with keys from pam-jwtctl keygen, two configs (0600), the
#   socket directory (0755) and tokens in a 0700 directory; the store of parts 1-2 on
#   /dev/shm (0700);
# - pam-jwtd -c CONF --stderr for parts 1-2 (log $PJ_TMP/pam-jwtd.log), and for part 3
#   one on its store (to give its sessions refresh families, and to refresh on the full
#   store; stopped while pam-jwtctl works on the store directly);
# - for part 3, a tmpfs of 1 MiB and 64 inodes mounted on $PJ_TMP/mnt (unmounted at exit),
#   holding the store (0700) and the filler files;
# - users UA, UB (parts 1-2) and UC, UD (part 3), made with useradd, removed with userdel;
#   their persistent keyrings (which pam-jwtd may create) are invalidated at exit;
# - /etc/pam.d/pamjwt-test-PID-* services with pam_jwt.so for auth, account and session,
#   driven by pamtester; their sessions get their first refresh token from an "open"
#   request sent as root (what the module sends when issue_tokens is on).
# The refused login's reason is read from the module's syslog messages: pamtester runs in
# a private mount namespace whose /dev is a small tmpfs with its own /dev/log listener
# (helpers/syslog_listener.py), so the host's /dev/log is never touched; where no private
# mount namespace can be made (a chroot), pj_syslog_start is used instead.
#
# STORE_FULL_OLD=1 leaves max_refreshes_per_minute out of the configs (for a build from
# before that option, where it is an unknown option).
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_store_full needs root"
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
for c in pamtester keyctl setpriv useradd userdel mount umount dd stat; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ]; then
	not_ok "pamtester, keyutils, setpriv, useradd, mount and dd are there:$missing"
	done_testing
	exit
fi
T_START=$SECONDS
DC=$PJ_HELPERS/daemon_client.py
OLD=${STORE_FULL_OLD:-}
ROTATIONS=10000

# --- set-up -------------------------------------------------------------------------------
pj_tmpdir || exit 1
chmod 0755 "$PJ_TMP" # the users reach the socket below it; secrets sit in 0700/0600 files
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-full
pj_keygen ES256 k1 || { not_ok "keygen"; done_testing; exit; }
chmod 0700 "$K"
mkdir -m 0700 "$PJ_TMP/secret"
mkdir -m 0755 "$PJ_TMP/sock"
S=$PJ_TMP/secret # tokens and session IDs, root only
SOCK=$PJ_TMP/sock/pam-jwtd.sock
SOCK_C=$PJ_TMP/sock/pam-jwtd-c.sock
CONF=$PJ_TMP/pam_jwt.conf
CONF_C=$PJ_TMP/pam_jwt-c.conf
DLOG=$PJ_TMP/pam-jwtd.log
: >"$DLOG"
MNT=$PJ_TMP/mnt
STORE_C=$MNT/store

# write_conf FILE [KEY=VALUE...]: a configuration (0600), written atomically; arguments
# replace the value of a key or add one, KEY= (empty) leaves the key out
write_conf() {
	local f=$1 kv
	shift
	declare -A val=(
		[issuer]=$ISS [audience]=$AUD [jwks]=$K/k1.jwks [store_dir]=$PJ_STORE
		[persist_dir]=none [signing_key]=$K/k1.key [socket_path]=$SOCK
		[issue_tokens]=no [keyring]=no [max_sessions_per_user]=0 [sweep_interval]=1h
		[max_refreshes_per_minute]=0)
	for kv; do val[${kv%%=*}]=${kv#*=}; done
	[ -n "$OLD" ] && unset 'val[max_refreshes_per_minute]'
	for kv in "${!val[@]}"; do
		[ -n "${val[$kv]}" ] && printf '%s = %s\n' "$kv" "${val[$kv]}"
	done >"$f.tmp" && chmod 0600 "$f.tmp" && mv -f "$f.tmp" "$f"
}
write_conf "$CONF"
write_conf "$CONF_C" store_dir="$STORE_C" socket_path="$SOCK_C" max_refreshes_per_minute=

for v in UA UB UC UD; do
	pj_add_user -M || { not_ok "create user $v"; done_testing; exit; }
	printf -v "$v" '%s' "$PJ_USER"
done
if ! pj_user_reaches "$UA" "$PJ_PY" "$DC" 2>&1; then
	not_ok "the test user can run /bin/sh and reach python3 and the daemon client"
	done_testing
	exit
fi
# kr_clear UID: invalidate the uid's persistent keyring (pam-jwtd, keeping a session's
# tokens fresh, may have made one; it would outlive the user). Registered after the users,
# so it runs before userdel.
kr_clear() {
	keyctl session - sh -c 'k=$(keyctl get_persistent @s "$1") && keyctl invalidate "$k"' \
		sh "$1" >/dev/null 2>&1
}
for u in "$UA" "$UB" "$UC" "$UD"; do pj_defer kr_clear "$(id -u "$u")"; done
echo "# users: UA $UA, UB $UB, UC $UC, UD $UD; store $PJ_STORE${OLD:+ (STORE_FULL_OLD: no max_refreshes_per_minute)}"

# as_user USER CMD...: CMD with USER's ids, no PAM session
as_user() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --reset-env -- "$@"
}
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# nrec DIR: the number of records in a store directory (every name but the lock file and
# writers' temporary files, which start with a dot)
nrec() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l; }
# recs_of DIR DIGEST: the records of one session: its session record and every refresh
# record naming it
recs_of() {
	[ -e "$1/s-$2" ] && echo "$1/s-$2"
	grep -lx "session=$2" "$1"/r-* 2>/dev/null
}
n_recs_of() { recs_of "$@" | wc -l; }
# field_of FILE NAME: a "NAME=VALUE" line's value in a record
field_of() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -1; }

# --- pam-jwtd -------------------------------------------------------------------------------
stop_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
ping_ok() { # SOCKET
	printf 'p {"op":"ping"}\n' | "$PJ_PY" "$DC" call "$1" 2>/dev/null | grep -q '^p {"ok":true'
}
# start_daemon CONFIG SOCKET: pam-jwtd in the background (DPID), up to 5 s for its ping
start_daemon() {
	setpriv --pdeathsig TERM -- "$PJ_D" -c "$1" --stderr >>"$DLOG" 2>&1 &
	DPID=$!
	pj_defer stop_pid "$DPID"
	local i
	for i in $(seq 1 100); do
		ping_ok "$2" && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
show_dlog() { tail -n "${1:-5}" "$DLOG" | sed 's/^/#   pam-jwtd: /'; }
# q SOCKET AS REQUEST...: send "LABEL JSON" requests on one connection, as root or as the
# user AS; the answers ("LABEL ANSWER") go to $ANS
ANS=$S/answers
q() {
	local sock=$1 as=$2
	shift 2
	printf '%s\n' "$@" >"$S/req"
	if [ "$as" = root ]; then
		"$PJ_PY" "$DC" call "$sock" <"$S/req" >"$ANS" 2>&1
	else
		as_user "$as" "$PJ_PY" "$DC" call "$sock" <"$S/req" >"$ANS" 2>&1
	fi
}
answer() { grep -m1 "^$1 " "$ANS" | cut -d' ' -f2-; }
# ans DESC LABEL EXPR: the answer of LABEL satisfies the Python expression EXPR over a
# (the answer), OK (a["ok"] is True) and ERR (a["error"] or None)
ans() {
	local d=$1 line
	line=$(answer "$2")
	if "$PJ_PY" -c '
import json, sys
try:
    a = json.loads(sys.argv[1])
    OK = a.get("ok") is True
    ERR = a.get("error") if a.get("ok") is False else None
    sys.exit(0 if eval(sys.argv[2]) else 1)
except Exception:
    sys.exit(1)' "$line" "$3"; then
		ok "$d"
	else
		not_ok "$d (answer: ${line:0:240})"
	fi
}
field() {
	"$PJ_PY" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' \
		"$(answer "$1")" "$2" 2>/dev/null
}
refresh_req() { printf '%s {"op":"refresh","refresh_token":"%s"}' "$1" "$2"; }
# rotate SOCKET USER TOKEN COUNT: COUNT rotations in a row as USER (daemon_client.py
# rotate); ROT_DONE, ROT_TOKEN (the one to present next), ROT_ERR (the refusal, if any)
rotate() {
	printf '%s\n' "$3" | as_user "$2" "$PJ_PY" "$DC" rotate "$1" "$4" >"$S/rotate.out" 2>&1
	ROT_DONE=$(sed -n 's/^DONE //p' "$S/rotate.out")
	ROT_TOKEN=$(sed -n 's/^TOKEN //p' "$S/rotate.out")
	ROT_ERR=$(sed -n 's/^ERR //p' "$S/rotate.out")
	[ -n "$ROT_DONE" ] || sed 's/^/#   rotate: /' "$S/rotate.out" | head -5
}

# --- PAM services and logins --------------------------------------------------------------
# Sessions get no tokens at login (issue_tokens=no): their first refresh token comes from
# root's "open".
pj_service main <<EOF || { not_ok "write the PAM service for parts 1-2"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF announce_session
EOF
SVC=$PJ_SERVICE
pj_service full <<EOF || { not_ok "write the PAM service of part 3"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF_C
account  required $PJ_MOD config=$CONF_C
session  required $PJ_MOD config=$CONF_C announce_session
EOF
SVC_C=$PJ_SERVICE
pj_service short <<EOF || { not_ok "write the short-lived PAM service of part 3"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF_C
account  required $PJ_MOD config=$CONF_C
session  required $PJ_MOD config=$CONF_C announce_session session_ttl=2s
EOF
SVC_SHORT=$PJ_SERVICE
for u in "$UA" "$UB" "$UC" "$UD"; do
	pj_token_file "jwt-$u" --key "$K/k1.key" -u "$u" --aud "$AUD" --iss "$ISS" --ttl 1h ||
		{ not_ok "mint a login token for $u"; done_testing; exit; }
done
jwt_of() { echo "$PJ_TMP/tok/jwt-$1"; }

# login SERVICE USER: pamtester authenticate open_session; SID and DIGEST of the new session
login() {
	local rc=0
	SID="" DIGEST=""
	pj_pamtester "$1" "$2" "$(jwt_of "$2")" authenticate open_session || rc=$?
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/pamtester.out" | cut -d' ' -f3)
	[ "$rc" = 0 ] && [ -n "$SID" ] || { sed 's/^/#   /' "$PJ_TMP/pamtester.out"; return 1; }
	DIGEST=$(sha256_of "$SID")
}
# open_tokens SOCKET: root's "open" for the session just logged in (DIGEST); its refresh
# token in REFRESH
open_tokens() {
	REFRESH=""
	q "$1" root "o {\"op\":\"open\",\"session\":\"$DIGEST\"}"
	REFRESH=$(field o refresh_token)
	[[ $REFRESH == pjr_* ]] || { echo "#   open: $(answer o)"; return 1; }
}
# session_with_token SOCKET SERVICE USER: login + open (SID, DIGEST, REFRESH)
session_with_token() { login "$2" "$3" && open_tokens "$1"; }

# ==========================================================================================
echo "# --- 1. 10,000 rotations of one session's refresh token (max_refreshes_per_minute = 0)"
if start_daemon "$CONF" "$SOCK"; then ok "pam-jwtd starts on $SOCK (pid $DPID)"; else
	not_ok "pam-jwtd starts on $SOCK"
	show_dlog 10
	done_testing
	exit
fi
if session_with_token "$SOCK" "$SVC" "$UB"; then
	ok "a bystander session of $UB with a refresh token"
else not_ok "a bystander session of $UB with a refresh token"; fi
B_D=$DIGEST B_R=$REFRESH
N_PRE=$(nrec "$PJ_STORE") # before UA has a session (its index comes and goes with it)
if session_with_token "$SOCK" "$SVC" "$UA"; then
	ok "a session of $UA (${DIGEST:0:12}) with a refresh token from root's open"
else not_ok "a session of $UA with a refresh token"; fi
A_D=$DIGEST A_R0=$REFRESH
N0=$(nrec "$PJ_STORE")
A_N0=$(n_recs_of "$PJ_STORE" "$A_D")
echo "# the store holds $N0 records, $A_N0 of them the session's"

T1=$SECONDS
tok=$A_R0 total=0 counts="" flat=1 halted=""
for chunk in 1 2 3 4; do
	rotate "$SOCK" "$UA" "$tok" $((ROTATIONS / 4))
	total=$((total + ${ROT_DONE:-0}))
	[ -n "$ROT_TOKEN" ] && tok=$ROT_TOKEN
	n=$(nrec "$PJ_STORE")
	counts="$counts $n"
	[ "$n" = "$N0" ] || flat=0
	if [ -n "$ROT_ERR" ]; then
		halted="after $total: $ROT_ERR"
		break
	fi
done
A_CUR=$tok
check "$UA rotates its refresh token $ROTATIONS times in a row through pam-jwtd, as $UA ($total done in $((SECONDS - T1)) s${halted:+, stopped $halted})" \
	test "$total" = "$ROTATIONS"
check "... the store's record count stays $N0 at every 2,500 (counts:$counts)" test "$flat" = 1
check "... the session still has $A_N0 record(s) ($(n_recs_of "$PJ_STORE" "$A_D") now)" \
	test "$(n_recs_of "$PJ_STORE" "$A_D")" = "$A_N0"
fam=$(grep -lx "session=$A_D" "$PJ_STORE"/r-* 2>/dev/null | head -1)
check "... its one refresh record counts the rotations: rotations=$ROTATIONS (${fam:+$(field_of "$fam" rotations)})" \
	eval '[ -n "$fam" ] && [ "$(field_of "$fam" rotations)" = "$ROTATIONS" ]'
q "$SOCK" "$UA" "$(refresh_req r "$A_CUR")"
ans "... and the newest token still refreshes" r 'OK and a["refresh_token"].startswith("pjr_")'
A_CUR=$(field r refresh_token)
q "$SOCK" root 'st {"op":"status"}'
REUSE0=$(field st reuse_detected)
q "$SOCK" "$UA" "$(refresh_req r0 "$A_R0")"
ans "the first token, spent $ROTATIONS rotations ago, is reuse: \"refresh token reuse: session revoked\"" r0 \
	'ERR == "refresh token reuse: session revoked"'
check "... the session and all its records are gone ($(n_recs_of "$PJ_STORE" "$A_D") left)" \
	eval '[ "$(n_recs_of "$PJ_STORE" "$A_D")" = 0 ] && ! "$PJ_CTL" sessions -c "$CONF" -u "$UA" | grep -q "^${A_D:0:12} "'
check "... the store holds what it held before $UA had a session ($(nrec "$PJ_STORE") = $N_PRE records)" \
	test "$(nrec "$PJ_STORE")" = "$N_PRE"
q "$SOCK" root 'st {"op":"status"}'
check "... pam-jwtd counts one reuse more (reuse_detected $REUSE0 -> $(field st reuse_detected))" \
	test "$(field st reuse_detected)" = $((${REUSE0:-0} + 1))
q "$SOCK" "$UA" "$(refresh_req cur "$A_CUR")"
ans "... after which the newest token is refused too" cur 'not OK'
q "$SOCK" "$UB" "$(refresh_req b "$B_R")"
ans "the bystander session of $UB still refreshes" b 'OK'
B_R=$(field b refresh_token)

# ==========================================================================================
echo "# --- 2. the default rate limit (no max_refreshes_per_minute in the config)"
write_conf "$CONF" max_refreshes_per_minute=
check "the config has no max_refreshes_per_minute" eval '! grep -q max_refreshes "$CONF"'
q "$SOCK" root 'rl {"op":"reload"}'
ans "pam-jwtd reloads it" rl OK
if session_with_token "$SOCK" "$SVC" "$UA"; then
	ok "a new session of $UA (${DIGEST:0:12}) with a refresh token"
else not_ok "a new session of $UA with a refresh token"; fi
L_D=$DIGEST L_R0=$REFRESH
N1=$(nrec "$PJ_STORE")
rotate "$SOCK" "$UA" "$L_R0" 10
check "10 rotations in a row succeed (${ROT_DONE:-0}${ROT_ERR:+: $ROT_ERR})" test "${ROT_DONE:-0}" = 10
L_CUR=$ROT_TOKEN
rotate "$SOCK" "$UA" "$L_CUR" 1
check "the 11th within the minute is refused: \"${ROT_ERR:-(it succeeded)}\"" \
	eval '[ "${ROT_DONE:-}" = 0 ] && [[ $ROT_ERR == "too many refreshes for this session"* ]]'
[ "${ROT_DONE:-0}" = 1 ] && L_CUR=$ROT_TOKEN # the old build rotated it
q "$SOCK" "$UA" "$(refresh_req again "$L_CUR")"
ans "... presenting the same token again: refused the same way, not as reuse" again \
	'ERR is not None and ERR.startswith("too many refreshes for this session")'
check "... the session is still there, with its records" \
	eval '"$PJ_CTL" sessions -c "$CONF" -u "$UA" | grep -q "^${L_D:0:12} " && [ "$(n_recs_of "$PJ_STORE" "$L_D")" -ge 2 ]'
check "... and the store's record count is what it was before the rotations ($(nrec "$PJ_STORE") = $N1)" \
	test "$(nrec "$PJ_STORE")" = "$N1"
write_conf "$CONF" max_refreshes_per_minute=20
q "$SOCK" root 'rl {"op":"reload"}'
ans "pam-jwtd reloads the config with max_refreshes_per_minute = 20" rl OK
q "$SOCK" "$UA" "$(refresh_req late "$L_CUR")"
ans "... and the token refused by the limit rotates now: it was not spent" late \
	'OK and a["refresh_token"].startswith("pjr_")'
stop_pid "$DPID"

# ==========================================================================================
echo "# --- 3. a completely full store"
# the module's messages: pamtester in a private mount namespace with a /dev/log of its own
# (see the header), or the host's /dev/log through pj_syslog_start
mkdir -m 0700 "$PJ_TMP/olddev"
NSLOG=$PJ_TMP/ns.log
# ns_logged CMD...: CMD in a private mount namespace whose /dev is a small tmpfs with
# null, zero, full, random and urandom (bound from the real /dev) and a syslog listener of
# its own on /dev/log, appending to $NSLOG; waits until the listener has written every
# message sent before CMD ended. CMD's exit code, or 90 if the namespace could not be made.
ns_logged() {
	unshare -m --propagation private -- /bin/bash -c '
		T=$1 PY=$2 H=$3
		shift 3
		mount --bind /dev "$T/olddev" && mount -t tmpfs -o mode=0755,size=64k pjt-dev /dev ||
			exit 90
		for n in null zero full random urandom; do
			: >"/dev/$n" && mount --bind "$T/olddev/$n" "/dev/$n" || exit 90
		done
		rm -f "$T/ns.ready"
		"$PY" "$H/syslog_listener.py" /dev/log "$T/ns.log" "$T/ns.ready" 2>/dev/null &
		lp=$!
		for _ in $(seq 1 250); do [ -s "$T/ns.ready" ] && break; sleep 0.02; done
		[ -s "$T/ns.ready" ] || { kill "$lp"; exit 90; }
		rc=0
		"$@" || rc=$?
		mark=pamjwt-ns-mark-$$-$RANDOM
		logger -u /dev/log -t pamjwt-test -- "$mark" 2>/dev/null
		for _ in $(seq 1 250); do grep -qF -- "$mark" "$T/ns.log" && break; sleep 0.02; done
		grep -qF -- "$mark" "$T/ns.log" || rc=90
		kill "$lp"
		wait "$lp" 2>/dev/null
		exit "$rc"' bash "$PJ_TMP" "$PJ_PY" "$PJ_HELPERS" "$@"
}
: >"$NSLOG"
if ns_logged true 2>/dev/null; then
	LOGVIA="a private /dev/log in a mount namespace"
elif pj_syslog_start; then
	LOGVIA="syslog ($PJ_LOG_MODE)"
else
	LOGVIA=""
fi
check "the module's log can be read: ${LOGVIA:-neither a private mount namespace nor pj_syslog_start works}" \
	test -n "$LOGVIA"
# logged_login SERVICE USER: a login (authenticate open_session; output in
# $PJ_TMP/pamtester.out) whose log lines go to $S/login.log; its exit code
logged_login() {
	local rc=0 tok
	tok=$(jwt_of "$2")
	rm -f -- "$PJ_TMP/pamtester.out"
	case $LOGVIA in
	a\ private*)
		: >"$NSLOG"
		ns_logged pamtester -v "$1" "$2" authenticate open_session <"$tok" \
			>"$PJ_TMP/pamtester.out" 2>&1 || rc=$?
		cp "$NSLOG" "$S/login.log"
		[ "$rc" = 90 ] && echo "# the private mount namespace could not be set up"
		;;
	*)
		pj_log_mark
		pj_pamtester "$1" "$2" "$tok" authenticate open_session || rc=$?
		pj_log_new >"$S/login.log"
		;;
	esac
	return "$rc"
}

# the file system: 1 MiB, 64 inodes, root's only
umount_mnt() { umount "$MNT" 2>/dev/null || umount -l "$MNT"; }
mkdir -m 0700 "$MNT"
if mount -t tmpfs -o size=1m,nr_inodes=64,mode=0700 "pamjwt-full-$$" "$MNT"; then
	pj_defer umount_mnt
	ok "a tmpfs of 1 MiB and 64 inodes on $MNT"
else
	not_ok "mount a tmpfs of 1 MiB and 64 inodes on $MNT"
	done_testing
	exit
fi
mkdir -m 0700 "$STORE_C" "$MNT/fill"
: >"$MNT/fill/blocks"
# fill_up: no free block and no free inode left (the filler grows to ENOSPC, then empty
# files take every inode)
fill_up() {
	local i=0
	dd if=/dev/zero of="$MNT/fill/blocks" bs=4096 oflag=append conv=notrunc status=none 2>/dev/null
	while : 2>/dev/null >"$MNT/fill/i$i-$RANDOM"; do i=$((i + 1)); done
	dd if=/dev/zero of="$MNT/fill/blocks" bs=4096 oflag=append conv=notrunc status=none 2>/dev/null
	return 0
}
# full: no free block, no free inode, and no file can be made in the store directory
full() {
	local probe=$STORE_C/pamjwt-probe-$$
	FREE=$(stat -f -c '%f blocks, %d inodes free' "$MNT")
	if : 2>/dev/null >"$probe"; then
		rm -f -- "$probe"
		return 1
	fi
	[ "$FREE" = "0 blocks, 0 inodes free" ]
}
# free_up: the filler goes
free_up() { rm -rf -- "$MNT/fill"; }

start_daemon "$CONF_C" "$SOCK_C" || { not_ok "pam-jwtd starts on part 3's store"; show_dlog; }
DPID_C=$DPID
fails=0
session_with_token "$SOCK_C" "$SVC_C" "$UC" || fails=$((fails + 1))
C1_D=$DIGEST C1_SID=$SID
session_with_token "$SOCK_C" "$SVC_C" "$UC" || fails=$((fails + 1))
K_D=$DIGEST K_R=$REFRESH
session_with_token "$SOCK_C" "$SVC_C" "$UD" || fails=$((fails + 1))
D1_D=$DIGEST
session_with_token "$SOCK_C" "$SVC_C" "$UD" || fails=$((fails + 1))
D2_D=$DIGEST
session_with_token "$SOCK_C" "$SVC_SHORT" "$UC" || fails=$((fails + 1))
E1_D=$DIGEST
session_with_token "$SOCK_C" "$SVC_SHORT" "$UC" || fails=$((fails + 1))
E2_D=$DIGEST
stop_pid "$DPID_C"
check "6 sessions on the small store, each with a refresh token: $UC's C1 and K, $UD's D1 and D2, $UC's E1 and E2 (session_ttl 2s)" \
	test "$fails" = 0
recs_ok=1
for d in "$C1_D" "$K_D" "$D1_D" "$D2_D" "$E1_D" "$E2_D"; do
	[ "$(n_recs_of "$STORE_C" "$d")" -ge 2 ] || recs_ok=0
done
check "... each has its session record and a refresh record in the store ($(nrec "$STORE_C") records)" \
	test "$recs_ok" = 1
E_EXP=$(field_of "$STORE_C/s-$E2_D" expires)

fill_up
if full; then ok "the file system is completely full ($FREE; no file can be made in the store)"; else
	not_ok "the file system is completely full ($FREE)"; fi
NF=$(nrec "$STORE_C")
rc=0
logged_login "$SVC_C" "$UC" || rc=$?
check "a new login of $UC on the full store is refused at open_session (exit $rc, \"Cannot make/remove an entry for the specified session\")" \
	eval '[ "$rc" != 0 ] && grep -q "Cannot make/remove an entry for the specified session" "$PJ_TMP/pamtester.out"'
grep -F "pam_jwt($SVC_C:" "$S/login.log" | sed 's/^<[0-9]*>//; s/^/#   log: /'
reason=$(grep "pam_jwt.*for user $UC: " "$S/login.log" | grep -v "accepted" | tail -1 |
	sed 's/.*for user [^:]*: //')
check "... the module logs why: \"${reason:-nothing logged}\"" \
	eval 'grep "pam_jwt.*for user $UC: " "$S/login.log" | grep -q "session store"'
check "... and it left nothing behind: $NF records, no intent, no temporary file" \
	eval '[ "$(nrec "$STORE_C")" = "$NF" ] && [ ! -e "$STORE_C/c-intent" ] && ! ls -A "$STORE_C" | grep -q "^\.tmp\."'

# ctl_full DESC WANT CMD...: after fill_up and on a store that is full, CMD succeeds and
# prints WANT (a pattern)
ctl_full() {
	local d=$1 want=$2 rc=0 out
	shift 2
	fill_up
	if ! full; then
		not_ok "$d (the file system is not full before it: $FREE)"
		return 1
	fi
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" = 0 ] && [[ $out == $want ]]; then ok "$d (full: $FREE; \"$out\")"
	else not_ok "$d (exit $rc: $(printf '%s' "$out" | head -2 | tr '\n' ' '))"; fi
}
ctl_full "pam-jwtctl revoke --session on the full store succeeds" "revoked session ${C1_D:0:12}" \
	"$PJ_CTL" revoke -c "$CONF_C" --session "${C1_D:0:12}"
check "... the session's records are gone ($(n_recs_of "$STORE_C" "$C1_D") left)" \
	test "$(n_recs_of "$STORE_C" "$C1_D")" = 0
ctl_full "pam-jwtctl revoke --user $UD on the full store succeeds" "revoked 2 session(s) of user $UD" \
	"$PJ_CTL" revoke -c "$CONF_C" --user "$UD"
check "... both sessions' records are gone ($(($(n_recs_of "$STORE_C" "$D1_D") + $(n_recs_of "$STORE_C" "$D2_D"))) left)" \
	eval '[ "$(n_recs_of "$STORE_C" "$D1_D")" = 0 ] && [ "$(n_recs_of "$STORE_C" "$D2_D")" = 0 ]'
# gc: E1 and E2 expire 2 s after they opened
for _ in $(seq 1 100); do
	[ "$(date +%s)" -gt "${E_EXP:-0}" ] && break
	sleep 0.1
done
ctl_full "pam-jwtctl gc on the full store, with 2 expired sessions, succeeds" "removed * record(s)" \
	"$PJ_CTL" gc -c "$CONF_C"
check "... the expired sessions' records are gone ($(($(n_recs_of "$STORE_C" "$E1_D") + $(n_recs_of "$STORE_C" "$E2_D"))) left)" \
	eval '[ "$(n_recs_of "$STORE_C" "$E1_D")" = 0 ] && [ "$(n_recs_of "$STORE_C" "$E2_D")" = 0 ]'
check "... and the live session K and its refresh record are kept" \
	test "$(n_recs_of "$STORE_C" "$K_D")" -ge 2

# a refresh on the full store fails without spending the token
fill_up
if start_daemon "$CONF_C" "$SOCK_C" && full; then
	ok "pam-jwtd starts on the full store ($FREE)"
else not_ok "pam-jwtd starts on the full store ($FREE)"; show_dlog; fi
q "$SOCK_C" "$UC" "$(refresh_req kfull "$K_R")"
ans "... a refresh of K's token there is refused: \"cannot write to the session store\"" kfull \
	'ERR == "cannot write to the session store"'
stop_pid "$DPID"

free_up
check "with the filler deleted the file system has room again ($(stat -f -c '%f blocks, %d inodes free' "$MNT"))" \
	eval '! full'
if login "$SVC_C" "$UC"; then ok "a new login of $UC works again (${DIGEST:0:12})"; else
	not_ok "a new login of $UC works again"; fi
N_D=$DIGEST
rc=0
"$PJ_CTL" sessions -c "$CONF_C" >"$S/sessions.out" 2>"$S/sessions.err" || rc=$?
check "pam-jwtctl sessions reads the store: exit 0, nothing unreadable ($(head -1 "$S/sessions.err"))" \
	eval '[ "$rc" = 0 ] && ! grep -qi unreadable "$S/sessions.err"'
check "... it lists exactly the live session K and the new login" \
	eval '[ "$(grep -cE "^[0-9a-f]{12} " "$S/sessions.out")" = 2 ] && grep -q "^${K_D:0:12} " "$S/sessions.out" && grep -q "^${N_D:0:12} " "$S/sessions.out"'
out=$("$PJ_CTL" gc -c "$CONF_C" 2>&1)
check "pam-jwtctl gc with room: \"$out\", and no temporary file is left" \
	eval '[[ $out == "removed "*" record(s)" ]] && ! ls -A "$STORE_C" | grep -q "^\.tmp\."'
start_daemon "$CONF_C" "$SOCK_C" || not_ok "pam-jwtd restarts on part 3's store"
q "$SOCK_C" "$UC" "$(refresh_req k "$K_R")"
ans "K's refresh token, refused while the store was full, refreshes now: it was not spent" k 'OK'
stop_pid "$DPID"

echo "# runtime: $((SECONDS - T_START)) s"
done_testing
