#!/bin/bash
# Sessions of dead sudo logins must not exhaust a quota (root; finding 4 of the security
# review). A sudoer U runs real `sudo -S -k -u root /usr/bin/sleep TAG`, authenticated by
# pam_jwt with U's JWT on standard input, and SIGKILLs each sudo once its command runs
# (sudo opens the PAM session, where pam_jwt records it, before it forks the command).
# sudo has U's real uid, so U may kill it: that is the attack. The helper reaps each
# killed sudo, so its pid is free (helpers/dead_sudo.py).
# - Default limit (max_sessions_per_user 256), 260 sudo runs: the first 256 sessions,
#   for the target root, are recorded as U's (the invoking user's), not root's, and their
#   leaders (pid + start time) are gone; root still logs in and opens a session; sudo 257
#   to 260 get their sessions, the 256 dead ones being dropped at the limit first.
# - max_sessions_per_user = 3: live sudo sessions (leaders running) count. A dead one
#   among them is dropped for a new one; with 3 live, the next session is refused ("too
#   many sessions for the invoking user" in the log) and no live one is evicted; root
#   still logs in. When a live sudo ends it removes its session, and U's next sudo gets
#   one again.
# Auth is pam_jwt's (as in test_sudo.sh), so every sudo is a full pam_jwt login and its
# session carries the token as its origin, which the store checks when it records it.
# sudo treats PAM_SESSION_ERR from pam_open_session as non-fatal: a sudo whose session is
# refused still runs its command, without a session. The refusals checked here are the
# session's (store and log); what sudo did is printed.
#
# Pieces (new, uniquely named, removed at exit): a store on /dev/shm, a key, a config, the
# user U (sudoer for `/usr/bin/sleep TAG` and `/usr/bin/id -un` as root, nothing else),
# the PAM services pamjwt-dead-PID (sudo: auth, account and session by pam_jwt) and
# pamjwt-test-PID-login (root's logins through pamtester), the sudoers drop-in
# /etc/sudoers.d/pamjwt-dead-PID. TAG is a number unique to the run: the processes whose
# last argument is TAG (sudo, the root commands it leaves behind) are this run's and are
# ended by pid at exit. Nothing is timed.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_sudo_dead needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
missing=""
for c in sudo visudo pamtester setpriv; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ]; then
	not_ok "sudo, visudo, pamtester and setpriv are installed (missing:$missing)"
	done_testing
	exit
fi
T_START=$SECONDS
N_DEFAULT=256
N_EXTRA=4
SMALL=3

dir_state() { pj_dir_state "$1" | grep -v '^\.\{0,1\}pamjwt-'; }
real_pamd=$(dir_state /etc/pam.d)
real_sudoers_d=$(dir_state /etc/sudoers.d)
pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-dead
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
CONF=$PJ_TMP/pam_jwt.conf
printf 'issuer = %s\naudience = %s\njwks = %s\nstore_dir = %s\n' \
	"$ISS" "$AUD" "$K/es1.jwks" "$PJ_STORE" >"$CONF"
chmod 0600 "$CONF"
CTL() { "$PJ_CTL" "$1" -c "$CONF" "${@:2}"; }

pj_add_user -M || { not_ok "create the sudoer"; done_testing; exit; }
U=$PJ_USER
U_UID=$(id -u "$U")
U_GID=$(id -g "$U")
# the argument that marks this run's processes: "sleep 900.<pid><random>"
TAG=900.$$$RANDOM
SUDO=$(command -v sudo)

# kill_tagged: end, by pid, every process whose last argument is TAG. The root commands
# first, so that a live sudo sees its command end and closes its session; then whatever
# is left (sudo, its store child, the helper), after at most 5 s.
tagged_pids() {
	"$PJ_PY" - "$TAG" "${1:-all}" <<-'EOF'
	import os, sys
	tag, which = sys.argv[1].encode(), sys.argv[2]
	for d in os.listdir("/proc"):
	    if not d.isdigit() or int(d) == os.getpid():
	        continue
	    try:
	        argv = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0")
	    except OSError:
	        continue
	    if argv and argv[-1] == b"":
	        argv.pop()
	    if len(argv) < 2 or argv[-1] != tag:
	        continue
	    if which == "cmd" and os.path.basename(argv[0]) != b"sleep":
	        continue
	    print(d)
	EOF
}
kill_tagged() {
	local p i
	for p in $(tagged_pids cmd); do kill -KILL "$p" 2>/dev/null; done
	for i in $(seq 1 100); do
		[ -z "$(tagged_pids)" ] && break
		sleep 0.05
	done
	for p in $(tagged_pids); do kill -KILL "$p" 2>/dev/null; done
}
# kill_leftovers: end, by pid, processes still running as U (real or effective uid)
kill_leftovers() {
	local p
	for p in $(ps -o pid= -u "$U_UID" -U "$U_UID" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}
pj_defer kill_leftovers
pj_defer kill_tagged

if ! pj_user_reaches "$U" "$SUDO" "$PJ_PY" "$PJ_HELPERS/dead_sudo.py" /usr/bin/sleep 2>&1; then
	not_ok "the sudoer can run /bin/sh and reach sudo, python3, the helper and /usr/bin/sleep"
	done_testing
	exit
fi
if ! pj_syslog_start; then
	not_ok "capture syslog (pj_syslog_start: /dev/log is taken and no auth log is kept)"
	done_testing
	exit
fi
echo "# sudoer $U (uid $U_UID), store $PJ_STORE, tag $TAG, log capture: $PJ_LOG_MODE"

# --- PAM services, sudoers, tokens -----------------------------------------------------
SUDO_SVC=pamjwt-dead-$$
pj_pamd_write "$SUDO_SVC" <<EOF || { not_ok "write /etc/pam.d/$SUDO_SVC"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
session  required $PJ_MOD config=$CONF
EOF
pj_service login <<EOF || { not_ok "write the login service"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
session  required $PJ_MOD config=$CONF
EOF
LOGIN_SVC=$PJ_SERVICE
if ! pj_sudoers_dropin "pamjwt-dead-$$" <<EOF; then
# pam_jwt dead-sudo test (PID $$, removed at its exit): $U may run two commands as root
Defaults:$U pam_service=$SUDO_SVC, pam_login_service=$SUDO_SVC
Defaults:$U passwd_tries=1, timestamp_timeout=0, lecture=never
Defaults:$U !mail_badpass, !mail_no_user, !mail_all_cmnds
$U ALL=(root) /usr/bin/sleep $TAG, /usr/bin/id -un
EOF
	not_ok "sudoers drop-in /etc/sudoers.d/pamjwt-dead-$$ installed"
	done_testing
	exit
fi
ok "sudoers drop-in /etc/sudoers.d/pamjwt-dead-$$ installed ($U may run sleep $TAG and id -un as root)"

pj_token_file u --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" --ttl 2h ||
	{ not_ok "mint $U's token"; done_testing; exit; }
U_TOK=$PJ_TOKEN
pj_token_file root --key "$K/es1.key" --kid es1 -u root --iss "$ISS" --aud "$AUD" --ttl 2h ||
	{ not_ok "mint root's token"; done_testing; exit; }
ROOT_TOK=$PJ_TOKEN

# as_u CMD...: CMD with U's ids only (no PAM session of its own)
as_u() { setpriv --reuid="$U_UID" --regid="$U_GID" --init-groups --reset-env -- "$@"; }

# store_tsv: the session records, one line each: digest user owner pid leader_start alive
# (owner: the record's owner field, or its user when it has none, as the store reads it;
# alive: 1 when the pid runs with that start time, the store's own test)
store_tsv() {
	"$PJ_PY" - "$PJ_STORE" <<-'EOF'
	import os, sys
	d = sys.argv[1]
	def start(pid):
	    try:
	        t = open("/proc/%d/stat" % pid, "rb").read()
	    except OSError:
	        return None
	    return int(t[t.rindex(b")") + 2:].split()[19])
	for name in sorted(os.listdir(d)):
	    if not name.startswith("s-"):
	        continue
	    f = {}
	    for line in open(os.path.join(d, name), encoding="utf-8"):
	        k, sep, v = line.rstrip("\n").partition("=")
	        if sep:
	            f[k] = v
	    pid, st = int(f.get("pid", "0")), int(f.get("leader_start", "0"))
	    alive = 1 if pid > 0 and st > 0 and start(pid) == st else 0
	    print(name[2:], f.get("user", "-"), f.get("owner") or f.get("user", "-"), pid, st, alive)
	EOF
}
# snap NAME: store_tsv into $PJ_TMP/NAME.tsv
snap() { store_tsv >"$PJ_TMP/$1.tsv"; }
# n_rows FILE AWK_CONDITION: how many records match
n_rows() { awk "$2" "$1" | wc -l; }
# leaders FILE [AWK_CONDITION]: the sorted "pid start" pairs of the records (matching)
leaders() { awk "${2:-1}"' { print $4, $5 }' "$1" | sort; }

# attack NAME MODE COUNT: U runs the helper; one JSON line per round in $PJ_TMP/NAME.jsonl.
# Sets RAN (rounds whose command ran), KILLED (rounds whose sudo died of SIGKILL) and
# writes the rounds' sudo "pid start" pairs to $PJ_TMP/NAME.sudo (sorted)
attack() {
	local name=$1 mode=$2 count=$3 rc=0
	as_u timeout 600 "$PJ_PY" "$PJ_HELPERS/dead_sudo.py" "$SUDO" "$mode" "$count" "$TAG" \
		<"$U_TOK" >"$PJ_TMP/$name.jsonl" 2>"$PJ_TMP/$name.err" || rc=$?
	[ "$rc" = 0 ] || { echo "# helper exit $rc:"; tail -3 "$PJ_TMP/$name.err" | sed 's/^/#   /'; }
	"$PJ_PY" - "$PJ_TMP/$name.jsonl" "$PJ_TMP/$name.sudo" >"$PJ_TMP/$name.sum" <<-'EOF'
	import json, sys
	rounds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
	with open(sys.argv[2], "w") as f:
	    for p in sorted("%d %d" % (r["sudo"], r["start"] or 0) for r in rounds):
	        f.write(p + "\n")
	ran = sum(1 for r in rounds if r["ran"])
	killed = sum(1 for r in rounds if r["status"] == -9)
	print(len(rounds), ran, killed)
	for r in rounds:
	    if not r["ran"]:
	        print("#   round %d: sudo %s exit %s: %s" % (r["i"], r["sudo"], r["status"],
	              r["err"].strip().replace("\n", " | ")[-200:]))
	        break
	EOF
	read -r ROUNDS RAN KILLED <"$PJ_TMP/$name.sum"
	tail -n +2 "$PJ_TMP/$name.sum"
}

# sudo_id: U's `sudo -S -k -u root /usr/bin/id -un` with the token; "root" on stdout
sudo_id() {
	as_u timeout 60 "$SUDO" -S -k -u root /usr/bin/id -un <"$U_TOK" \
		>"$PJ_TMP/id.out" 2>"$PJ_TMP/id.err" && [ "$(cat "$PJ_TMP/id.out")" = root ]
}
# root_login DESC: root logs in with its JWT through pamtester and opens (and closes) a
# session; its output in $PJ_TMP/root.out
root_login() {
	local d=$1 rc=0
	pamtester -v "$LOGIN_SVC" root authenticate acct_mgmt open_session close_session \
		<"$ROOT_TOK" >"$PJ_TMP/root.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q 'successfully opened a session' "$PJ_TMP/root.out"; then
		ok "$d"
	else
		not_ok "$d (pamtester exit $rc)"
		sed 's/^/#   /' "$PJ_TMP/root.out" | tail -3
		pj_log_text | grep -F "pam_jwt($LOGIN_SVC:session)" | tail -2 | sed 's/^/#   /'
	fi
}
# logged DESC STRING...: a log line since the last pj_log_mark has every STRING
logged() {
	local d=$1 lines s
	shift
	lines=$(pj_log_new | grep -F 'pam_jwt(')
	for s in "$@"; do lines=$(printf '%s\n' "$lines" | grep -F -- "$s"); done
	if [ -n "$lines" ]; then ok "$d: \"$(printf '%s\n' "$lines" | head -1 | sed 's/.*pam_jwt(/pam_jwt(/')\""
	else
		not_ok "$d (no new log line with: $*)"
		pj_log_new | grep -F 'pam_jwt(' | tail -3 | sed 's/^/#   /'
	fi
}
# not_logged DESC STRING: no log line since the last pj_log_mark has STRING
not_logged() {
	local d=$1
	if pj_log_new >"$PJ_TMP/new.log" && ! grep -qF -- "$2" "$PJ_TMP/new.log"; then ok "$d"
	else
		not_ok "$d"
		grep -F -- "$2" "$PJ_TMP/new.log" | head -2 | sed 's/^/#   /'
	fi
}

# --- controls: sudo records a session through pam_jwt; root logs in ----------------------
pj_log_mark
check "$U's sudo -S with the JWT runs id -un as root" sudo_id
logged "sudo's session line recorded a session for the target root" \
	"pam_jwt($SUDO_SVC:session): session opened for user root"
snap s0
check "... and closed it when the command ended (no record left)" test "$(n_rows "$PJ_TMP/s0.tsv" 1)" = 0
root_login "control: root logs in and opens a session through pam_jwt before the attack"

# --- the attack: 256 sudo sessions whose leaders U kills ------------------------------------
t0=$SECONDS
attack a1 kill "$N_DEFAULT"
echo "# $N_DEFAULT sudo runs started and killed in $((SECONDS - t0)) s"
check "each of the $N_DEFAULT sudo processes reached its command, so its session was opened ($RAN ran)" \
	test "$RAN" = "$N_DEFAULT"
check "$U killed each of them with SIGKILL ($KILLED of $ROUNDS)" test "$KILLED" = "$N_DEFAULT"
snap s1
check "the store holds $N_DEFAULT sessions, all for the target root ($(n_rows "$PJ_TMP/s1.tsv" 1) records, $(n_rows "$PJ_TMP/s1.tsv" '$2 == "root"') for root)" \
	eval '[ "$(n_rows "$PJ_TMP/s1.tsv" 1)" = "$N_DEFAULT" ] && [ "$(n_rows "$PJ_TMP/s1.tsv" "\$2 == \"root\"")" = "$N_DEFAULT" ]'
check "every one is owned by the invoking user $U, none by root ($(n_rows "$PJ_TMP/s1.tsv" "\$3 == \"$U\"") owned by $U, $(n_rows "$PJ_TMP/s1.tsv" '$3 == "root"') by root)" \
	test "$(n_rows "$PJ_TMP/s1.tsv" "\$3 == \"$U\"")" = "$N_DEFAULT"
check "their leaders (pid + start time) are exactly the $N_DEFAULT sudo processes $U killed" \
	eval '[ -s "$PJ_TMP/a1.sudo" ] && [ "$(leaders "$PJ_TMP/s1.tsv")" = "$(cat "$PJ_TMP/a1.sudo")" ]'
check "every leader is gone ($(n_rows "$PJ_TMP/s1.tsv" '$6 == 1') still running)" \
	eval '[ -s "$PJ_TMP/s1.tsv" ] && [ "$(n_rows "$PJ_TMP/s1.tsv" "\$6 == 1")" = 0 ]'

# --- root's logins are not touched ---------------------------------------------------------
pj_log_mark
root_login "after the attack root still logs in and opens a session (nothing counts against root)"
not_logged "... and pam_jwt refused no session of root's" "pam_jwt($LOGIN_SVC:session): refused"

# --- U at the limit: the dead-leader sessions go first ---------------------------------------
pj_log_mark
attack a2 kill "$N_EXTRA"
check "sudo $((N_DEFAULT + 1)) to $((N_DEFAULT + N_EXTRA)) of $U reached their commands ($RAN of $N_EXTRA)" \
	test "$RAN" = "$N_EXTRA"
snap s2
left=$(comm -12 <(leaders "$PJ_TMP/s1.tsv") <(leaders "$PJ_TMP/s2.tsv") | wc -l)
check "at the limit the $N_DEFAULT dead-leader sessions were dropped ($left of them left)" \
	eval '[ -s "$PJ_TMP/s1.tsv" ] && [ "$left" = 0 ]'
check "the store holds exactly the $N_EXTRA new sessions, owned by $U ($(n_rows "$PJ_TMP/s2.tsv" 1) records)" \
	eval '[ -s "$PJ_TMP/a2.sudo" ] && [ "$(leaders "$PJ_TMP/s2.tsv" "\$3 == \"$U\"")" = "$(cat "$PJ_TMP/a2.sudo")" ] && [ "$(n_rows "$PJ_TMP/s2.tsv" 1)" = "$N_EXTRA" ]'
not_logged "... and pam_jwt refused none of their sessions" "pam_jwt($SUDO_SVC:session): refused"
pj_log_mark
check "$U's next plain sudo (id -un) runs" sudo_id
logged "... with its session recorded" "pam_jwt($SUDO_SVC:session): session opened for user root"

# --- a small limit: live sudo sessions still count -----------------------------------------
echo "max_sessions_per_user = $SMALL" >>"$CONF"
attack l12 live 2
check "max_sessions_per_user = $SMALL: two live sudo sessions of $U ($RAN of 2 ran)" test "$RAN" = 2
snap s3
check "... the $N_EXTRA dead ones left from before were dropped; the store holds exactly the 2 live sessions" \
	eval '[ -s "$PJ_TMP/l12.sudo" ] && [ "$(leaders "$PJ_TMP/s3.tsv")" = "$(cat "$PJ_TMP/l12.sudo")" ]'
check "... whose leaders are alive ($(n_rows "$PJ_TMP/s3.tsv" '$6 == 1') of 2)" \
	test "$(n_rows "$PJ_TMP/s3.tsv" '$6 == 1')" = 2
attack d3 kill 1
check "a third sudo of $U, killed once its command ran (ran $RAN, killed $KILLED)" \
	eval '[ "$RAN" = 1 ] && [ "$KILLED" = 1 ]'
snap s4
check "the store holds $SMALL sessions of $U: 2 with live leaders, 1 dead" \
	eval '[ "$(n_rows "$PJ_TMP/s4.tsv" "\$3 == \"$U\"")" = 3 ] && [ "$(n_rows "$PJ_TMP/s4.tsv" "\$6 == 1")" = 2 ]'
pj_log_mark
attack l3 live 1
check "at the limit, a new live sudo of $U ($RAN ran)" test "$RAN" = 1
snap s5
check "... recorded its session: the dead one was dropped, the 2 live ones kept" \
	eval '[ -s "$PJ_TMP/l3.sudo" ] && [ "$(leaders "$PJ_TMP/s5.tsv")" = "$(sort "$PJ_TMP/l12.sudo" "$PJ_TMP/l3.sudo")" ]'
not_logged "... and pam_jwt refused no session for it" "pam_jwt($SUDO_SVC:session): refused"
check "the store now holds $SMALL sessions of $U, all with live leaders" \
	eval '[ "$(n_rows "$PJ_TMP/s5.tsv" "\$3 == \"$U\" && \$6 == 1")" = 3 ] && [ "$(n_rows "$PJ_TMP/s5.tsv" 1)" = 3 ]'

pj_log_mark
attack l4 live 1
snap s6
echo "# the sudo past the limit: $(head -c 300 "$PJ_TMP/l4.jsonl")"
echo "#   (sudo treats PAM_SESSION_ERR as non-fatal: a command that ran, ran without a session)"
check "with $SMALL live sessions the next sudo of $U gets no session, and none of the live ones was evicted (the store is unchanged)" \
	eval '[ -s "$PJ_TMP/s5.tsv" ] && cmp -s "$PJ_TMP/s5.tsv" "$PJ_TMP/s6.tsv"'
logged "... the refusal is logged with its reason, the invoking user's limit" \
	"pam_jwt($SUDO_SVC:session): refused for user root: too many sessions for the invoking user"
pj_log_mark
root_login "with $U at its limit, root still logs in and opens a session"
not_logged "... and pam_jwt refused no session of root's" "pam_jwt($LOGIN_SVC:session): refused"

# --- a live sudo that ends frees its place ------------------------------------------------
# running PID START: that process runs (it has that start time and is no zombie)
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	set -- "$2" ${stat##*) }
	[ "${21}" = "$1" ] && [ "$2" != Z ] && [ "$2" != X ]
}
read -r L1_PID L1_START <"$PJ_TMP/l12.sudo"
L1_CMD=$("$PJ_PY" -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["sudo"] == int(sys.argv[2]) and r["cmd"]:
        print(*r["cmd"][0])' "$PJ_TMP/l12.jsonl" "$L1_PID")
read -r c_pid c_start <<<"${L1_CMD:-0 0}"
check "the first live sudo and its command are running" \
	eval 'running "$L1_PID" "$L1_START" && running "$c_pid" "$c_start"'
running "$c_pid" "$c_start" && kill -KILL "$c_pid"
for i in $(seq 1 200); do
	running "$L1_PID" "$L1_START" || break
	sleep 0.05
done
snap s7
check "when root ends its command, that sudo ends and closes its session ($(n_rows "$PJ_TMP/s7.tsv" 1) sessions left)" \
	eval '! running "$L1_PID" "$L1_START" && [ "$(n_rows "$PJ_TMP/s7.tsv" 1)" = 2 ] && ! grep -q " $L1_PID $L1_START " "$PJ_TMP/s7.tsv"'
pj_log_mark
check "$U's next sudo runs" sudo_id
logged "... and its session is recorded again" "pam_jwt($SUDO_SVC:session): session opened for user root"

# --- the host is as it was -------------------------------------------------------------------
echo "# run time: $((SECONDS - T_START)) s"
pj_run_cleanup
check "no process of the run is left (none has the last argument $TAG)" test -z "$(tagged_pids)"
check "no process of $U is left (zombies aside)" \
	eval '[ -z "$(ps -o stat= -u "$U_UID" -U "$U_UID" 2>/dev/null | grep -v "^Z")" ]'
check "/etc/pam.d is as before the run" test "$(dir_state /etc/pam.d)" = "$real_pamd"
check "/etc/sudoers.d is as before the run" test "$(dir_state /etc/sudoers.d)" = "$real_sudoers_d"
check "the whole sudoers configuration still passes visudo -c" visudo -cq
done_testing
