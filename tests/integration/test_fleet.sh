#!/bin/bash
# A fleet of three hosts sharing one Redis store (root): a session ID issued on one host
# logs in over ssh on another; a session or jti revocation made on a third is refused
# everywhere at the next authentication and account check, and each host's pam-jwtd ends
# the live ssh logins there within 1 s; a user lock made on one host refuses a public-key
# ssh login on another in the account phase; two hosts racing on one refresh token: one
# wins, and a spent token presented on another host revokes the session everywhere.
#
# Pieces (helpers/fleet.sh; all named after pjf$$ and removed at exit): redis-server in a
# network namespace of its own behind a bridge, ACL user "pamjwt" whose password is in a
# root-only file; three hosts, each a network namespace on that bridge (10.77.0.1N) with
# its own mount namespace (private tmpfs /run: its pam_jwt.conf, pam-jwtd socket and
# sshd's privilege separation directory) and pid namespace, running its own sshd and
# pam-jwtd. One PAM stack for sshd (/etc/pam.d/pamjwt-pjf$$-sshd, sshd started through a
# link of that name) and one for pamtester serve all hosts: both read
# config=/run/pam_jwt.conf, which is each host's own. The ssh clients (paramiko for
# keyboard-interactive, OpenSSH for public keys) run in the bridge's namespace.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/helpers/fleet.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_fleet needs root"
	done_testing
	exit
fi
missing=""
for t in ip nsenter unshare setpriv redis-server redis-cli pamtester ssh ssh-keygen; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
[ -x /usr/sbin/sshd ] || missing="$missing sshd"
"$PJ_PY" -c 'import paramiko' 2>/dev/null || missing="$missing python3-paramiko"
pj_have_build && [ -x "$BUILD_DIR/pam-jwtd" ] || missing="$missing (the build)"
if [ -n "$missing" ]; then
	not_ok "every tool is there (missing:$missing; scripts/install-deps)"
	done_testing
	exit
fi

PJF=pjf$$
NETNS_DIR_BEFORE=$([ -e /run/netns ] && echo yes)
PJ_SERVICE_PREFIX=pamjwt-$PJF
PJ_USER_PREFIX=pjf
pj_tmpdir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.fleet.test
AUD=pamjwt-fleet
pj_keygen ES256 idp && pj_keygen ES256 fleet || { not_ok "keygen"; done_testing; exit; }
PW=$PJ_TMP/redis.pw
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$PW"
chmod 0600 "$PW"
pj_add_user -m || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
ssh-keygen -q -t ed25519 -N '' -C pamjwt-fleet-user -f "$PJ_TMP/userkey" </dev/null
HOME_U=$(getent passwd "$U" | cut -d: -f6)
install -d -m 0700 -o "$U" -g "$U" "$HOME_U/.ssh"
install -m 0600 -o "$U" -g "$U" "$PJ_TMP/userkey.pub" "$HOME_U/.ssh/authorized_keys"

# --- the fleet -------------------------------------------------------------------------
pjf_services || { not_ok "write the PAM services"; done_testing; exit; }
SSHD_SVC=$PJF_SSHD_SVC SVC=$PJF_SVC

t_start=$(date +%s)
if pjf_net && pjf_redis "$PW"; then
	ok "redis-server in network namespace ${PJF}net on $PJF_REDIS_ADDR:$PJF_REDIS_PORT, default user off"
else
	not_ok "redis-server in network namespace ${PJF}net"
	sed 's/^/#   /' "$PJ_TMP/redis.log" 2>/dev/null | tail -5
	done_testing
	exit
fi
for n in 1 2 3; do
	if ! pjf_host "$n"; then
		not_ok "host $n: namespaces and a private /run"
		done_testing
		exit
	fi
	pjf_conf "$n" "$ISS" "$AUD" "$K/idp.jwks" "$K/fleet.key" "$PW" "revoke_kill_after = 2s" "max_refreshes_per_minute = 0"
	if pjf_sshd "$n" "$PJ_SSHD" "$U" && pjf_daemon "$n"; then
		ok "host $n ($(pjf_addr "$n")): sshd and pam-jwtd (watching the shared store) running"
	else
		not_ok "host $n: sshd and pam-jwtd running"
		tail -3 "$PJ_TMP/h$n/sshd.log" "$PJ_TMP/h$n/pam-jwtd.log" 2>&1 | sed 's/^/#   /'
		done_testing
		exit
	fi
done
pjf_known_hosts 1 2 3
echo "# fleet up in $(($(date +%s) - t_start)) s"
B1=$(pjf_boot 1) B2=$(pjf_boot 2) B3=$(pjf_boot 3)
check "the three hosts are three boots to pam_jwt (${B1:0:8} ${B2:0:8} ${B3:0:8})" \
	eval '[ -n "$B1" ] && [ "$B1" != "$B2" ] && [ "$B2" != "$B3" ] && [ "$B1" != "$B3" ]'
check "each host's /run is its own tmpfs (three pam-jwtd sockets at one path)" \
	eval '[ "$(for n in 1 2 3; do stat -c %d:%i "$(pjf_root "$n")/run/pam-jwtd.sock"; done |
		sort -u | wc -l)" = 3 ]'
check "no address of the fleet is on the root namespace's interfaces" \
	eval '! ip -o addr | grep -qF "$PJF_SUBNET."'

mint() { pj_token_file "$1" --key "$K/idp.key" --kid idp -u "$U" --iss "$ISS" --aud "$AUD" --ttl 15m; }
# CTL N SUBCOMMAND ARGS...: pam-jwtctl on host N with its config
CTL() { local n=$1; shift; pjf_in "$n" "$PJ_CTL" "$1" -c /run/pam_jwt.conf "${@:2}"; }
# pam_on N CREDFILE OPS...: pamtester on host N with the credential on stdin; succeeds
# when every operation did
pam_on() {
	local n=$1 cred=$2
	shift 2
	pjf_in "$n" pamtester -v "$SVC" "$U" "$@" <"$cred" >"$PJ_TMP/pamtester.out" 2>&1 &&
		grep -q successfully "$PJ_TMP/pamtester.out"
}
digest() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
now_ms() { date +%s%3N; }

# --- 1. a session ID issued on host 2 logs in over ssh on host 1 ----------------------
mint login
TOK=$PJ_TOKEN
SID=""
if pjf_in 2 pamtester -v "$SVC" "$U" authenticate open_session <"$TOK" >"$PJ_TMP/h2.login" 2>&1; then
	SID=$(grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' "$PJ_TMP/h2.login" | cut -d' ' -f3)
fi
check "host 2: a JWT login (pamtester) opens a session and prints its ID" test -n "$SID"
printf '%s\n' "$SID" >"$PJ_TMP/sid"
D=$(digest "$PJ_TMP/sid")
check "host 2: its record names host 2's boot" \
	eval 'pjf_rcli "$PW" get "{$PJF}:s:$D" | grep -qx "boot=$B2"'
check "host 1: ssh (keyboard-interactive) with host 2's session ID logs in and holds" \
	pjf_hold 1 "$U" "$PJ_TMP/sid" "$PJ_TMP/L1"
L1=$PJF_HOLD_PID
check "host 2: ssh with the same session ID logs in and holds" \
	pjf_hold 2 "$U" "$PJ_TMP/sid" "$PJ_TMP/L2"
check "host 1: the store_dir on host 1's /run stays empty (all is in Redis)" \
	test -z "$(ls -A "$(pjf_root 1)/run/pam_jwt")"

# pending N NAME CREDFILE: on host N, a PAM login that authenticated with CREDFILE and
# waits before its account check (pam_drive.py ... pause:FILE); waits until it paused
pending() {
	local i
	rm -f "$PJ_TMP/go-$2"
	pjf_in "$1" "$PJ_PY" "$PJ_HELPERS/pam_drive.py" "$SVC" "$U" "$3" authenticate \
		"pause:$PJ_TMP/go-$2" acct_mgmt >"$PJ_TMP/$2.out" 2>&1 &
	pj_defer kill "$!"
	for ((i = 0; i < 200; i++)); do
		grep -q '^# paused' "$PJ_TMP/$2.out" && return 0
		grep -q '^# authenticate: [^S]' "$PJ_TMP/$2.out" && return 1
		sleep 0.05
	done
	return 1
}
# account_refused NAME: the pending login NAME, let go, is refused at its account check
account_refused() {
	local i
	: >"$PJ_TMP/go-$1"
	for ((i = 0; i < 200; i++)); do
		grep -q '^# acct_mgmt: ' "$PJ_TMP/$1.out" && break
		sleep 0.05
	done
	grep -q '^# acct_mgmt: Permission denied' "$PJ_TMP/$1.out"
}
# ended_within DIR T0 VAR: wait up to 5 s for the held login of DIR to end; VAR gets
# the time from T0 (ms since the epoch) to its end, in ms
ended_within() {
	local d=$1 t0=$2 i
	for ((i = 0; i < 250; i++)); do
		[ -s "$d/closed" ] && break
		sleep 0.02
	done
	[ -s "$d/closed" ] || { printf -v "$3" '%s' none; return 1; }
	printf -v "$3" '%s' "$(($(awk '{ printf "%.0f", $2 * 1000 }' "$d/closed") - t0))"
}
LAT=()
# sighups_since N: host N's pam-jwtd logged a login it ended (a SIGHUP) since SIGS[N]
# was counted; waits up to 1 s for the line (the signal is sent before it is logged)
sighups_since() {
	local i
	for ((i = 0; i < 20; i++)); do
		[ "$(grep -c 'ended: SIGHUP' "$PJ_TMP/h$1/pam-jwtd.log")" -gt "${SIGS[$1]}" ] && return 0
		sleep 0.05
	done
	return 1
}
# revoked_everywhere WHAT CREDFILE DIR1 DIR2 PENDING REVOKE_ARGS...: the logins held in
# DIR1 (host 1) and DIR2 (host 2) end within 1 s of `pam-jwtctl revoke REVOKE_ARGS` on
# host 3, by their own host's pam-jwtd; CREDFILE is then refused on hosts 1 and 2 at
# authentication, and the logins PENDING-1, PENDING-2 that authenticated before it at
# their account check
revoked_everywhere() {
	local what=$1 cred=$2 d1=$3 d2=$4 p=$5 t0 ms1 ms2 n
	shift 5
	for n in 1 2 3; do SIGS[$n]=$(grep -c 'ended: SIGHUP' "$PJ_TMP/h$n/pam-jwtd.log"); done
	t0=$(now_ms)
	CTL 3 revoke "$@" >"$PJ_TMP/revoke.out" 2>&1
	check "host 3: pam-jwtctl revoke $what ($(head -1 "$PJ_TMP/revoke.out"))" \
		grep -q '^revoked' "$PJ_TMP/revoke.out"
	ended_within "$d1" "$t0" ms1
	ended_within "$d2" "$t0" ms2
	echo "# revoke $what on host 3 -> ssh login ended: host 1 $ms1 ms, host 2 $ms2 ms"
	LAT+=("$ms1" "$ms2")
	check "host 1: the live ssh login ended within 1 s ($ms1 ms)" \
		eval '[ "$ms1" != none ] && [ "$ms1" -lt 1000 ]'
	check "host 2: the live ssh login ended within 1 s ($ms2 ms)" \
		eval '[ "$ms2" != none ] && [ "$ms2" -lt 1000 ]'
	check "hosts 1 and 2: their own pam-jwtd sent the SIGHUP, host 3's did not" \
		eval 'sighups_since 1 && sighups_since 2 && ! sighups_since 3'
	check_fails "host 1: the revoked credential is refused at authentication" \
		pam_on 1 "$cred" authenticate
	check_fails "host 2: the revoked credential is refused at authentication" \
		pam_on 2 "$cred" authenticate
	check "host 1: a login authenticated before the revocation is refused at its account check" \
		account_refused "$p-1"
	check "host 2: a login authenticated before the revocation is refused at its account check" \
		account_refused "$p-2"
}
declare -A SIGS=()

# --- 2. a revocation on host 3 ends the logins on hosts 1 and 2 --------------------------
check "hosts 1 and 2: logins with the session ID wait before their account check" \
	eval 'pending 1 s-1 "$PJ_TMP/sid" && pending 2 s-2 "$PJ_TMP/sid"'
revoked_everywhere "--session ${D:0:12}" "$PJ_TMP/sid" "$PJ_TMP/L1" "$PJ_TMP/L2" s \
	--session "$D"

mint jti
JTOK=$PJ_TOKEN
JTI=$(pj_jti "$JTOK")
check "host 1: ssh with a JWT (jti ${JTI:0:8}…) logs in and holds" \
	pjf_hold 1 "$U" "$JTOK" "$PJ_TMP/J1"
check "host 2: ssh with the same JWT logs in and holds" \
	pjf_hold 2 "$U" "$JTOK" "$PJ_TMP/J2"
check "hosts 1 and 2: logins with the JWT wait before their account check" \
	eval 'pending 1 j-1 "$JTOK" && pending 2 j-2 "$JTOK"'
revoked_everywhere "--jti" "$JTOK" "$PJ_TMP/J1" "$PJ_TMP/J2" j --jti "$JTI"

# --- 3. a lock on host 1 refuses a public-key login on host 2 ---------------------------
ssh_pubkey() { # N: OpenSSH public-key login to host N, runs `id -un`
	pjf_net_run timeout 60 setsid -w ssh -F /dev/null -o UserKnownHostsFile="$PJ_TMP/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentityAgent=none \
		-o ConnectTimeout=20 -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes \
		-o PreferredAuthentications=publickey -i "$PJ_TMP/userkey" -l "$U" \
		"$(pjf_addr "$1")" id -un </dev/null >"$PJ_TMP/ssh.out" 2>"$PJ_TMP/ssh.err" &&
		[ "$(cat "$PJ_TMP/ssh.out")" = "$U" ]
}
check "host 2: a public-key ssh login of $U works" ssh_pubkey 2
check "host 1: pam-jwtctl lock $U" eval 'CTL 1 lock "$U" >/dev/null'
mark=$(wc -l <"$PJ_TMP/h2/sshd.log")
check_fails "host 2: the locked user's public-key ssh login fails" ssh_pubkey 2
check "... in the account phase (sshd: access denied by PAM account configuration)" \
	eval 'tail -n +"$((mark + 1))" "$PJ_TMP/h2/sshd.log" |
		grep -q "Access denied for user $U by PAM account configuration"'
check "host 1: pam-jwtctl unlock $U" eval 'CTL 1 unlock "$U" >/dev/null'
check "host 2: the public-key ssh login works again" ssh_pubkey 2

# --- 4. two hosts race on one refresh token --------------------------------------------
ROUNDS=20
mint race
: >"$PJ_TMP/race.sids"
for ((i = 0; i < ROUNDS + 1; i++)); do
	pjf_in 1 pamtester -v "$SVC" "$U" authenticate open_session <"$PJ_TOKEN" 2>&1 |
		grep -o 'Session ID: pjs_[A-Za-z0-9_-]\{43\}$' | cut -d' ' -f3 >>"$PJ_TMP/race.sids"
done
pjf_in 1 "$PJ_PY" "$PJ_HELPERS/daemon_client.py" open /run/pam-jwtd.sock \
	<"$PJ_TMP/race.sids" >"$PJ_TMP/race.tokens"
check "host 1: $((ROUNDS + 1)) fresh sessions and their first refresh tokens (pam-jwtd open)" \
	test "$(grep -c '^pjr_' "$PJ_TMP/race.tokens")" = $((ROUNDS + 1))
head -n "$ROUNDS" "$PJ_TMP/race.tokens" >"$PJ_TMP/race.in"
mkfifo "$PJ_TMP/gate1" "$PJ_TMP/gate2"
for n in 1 2; do
	pjf_in "$n" timeout 60 "$PJ_PY" "$PJ_HELPERS/fleet_race.py" /run/pam-jwtd.sock \
		"$PJ_TMP/gate$n" "$PJ_TMP/gate$((3 - n))" <"$PJ_TMP/race.in" >"$PJ_TMP/race$n.out" 2>&1 &
	RACER[$n]=$!
done
wait "${RACER[1]}" "${RACER[2]}"
paste -d' ' "$PJ_TMP/race1.out" "$PJ_TMP/race2.out" >"$PJ_TMP/race.out"
one=$(awk 'NF == 4 && $1 == $3 && (($2 == "ok") + ($4 == "ok")) == 1' "$PJ_TMP/race.out" | wc -l)
wins1=$(awk 'NF == 4 && $2 == "ok"' "$PJ_TMP/race.out" | wc -l)
echo "# the losers' answers (count, answer): $(awk 'NF == 4 { print ($2 == "ok" ? $4 : $2) }' \
	"$PJ_TMP/race.out" | sort | uniq -c | tr -s ' ' | paste -sd,)"
if [ "$one" = "$ROUNDS" ]; then
	ok "$ROUNDS races of hosts 1 and 2 on one refresh token: exactly one wins each (host 1 $wins1, host 2 $((ROUNDS - wins1)))"
else
	not_ok "$ROUNDS races: exactly one winner in only $one"
	grep -v ' ok [^o]\| [^o][^ ]* ok$' "$PJ_TMP/race.out" | head -5 | sed 's/^/#   /'
fi
check "every loser was refused (an error, not a lost connection)" \
	eval '! awk "NF == 4 { print (\$2 == \"ok\" ? \$4 : \$2) }" "$PJ_TMP/race.out" | grep -qx "closed\|ok\|malformed"'

# A spent token presented on another host is reuse: the session is revoked everywhere.
tail -1 "$PJ_TMP/race.tokens" >"$PJ_TMP/r0"
RSID=$(tail -1 "$PJ_TMP/race.sids")
printf '%s\n' "$RSID" >"$PJ_TMP/rsid"
rreq() { printf 'x {"op":"refresh","refresh_token":"%s"}\n' "$(cat "$1")"; }
pjf_in 1 "$PJ_PY" "$PJ_HELPERS/daemon_client.py" call /run/pam-jwtd.sock \
	< <(rreq "$PJ_TMP/r0") >"$PJ_TMP/r1.ans"
"$PJ_PY" -c 'import json,sys; print(json.loads(sys.stdin.read().split(" ",1)[1])["refresh_token"])' \
	<"$PJ_TMP/r1.ans" >"$PJ_TMP/r1" 2>/dev/null
check "host 1: the refresh token rotates" grep -q '^pjr_' "$PJ_TMP/r1"
check "host 2: the session ID still logs in" pam_on 2 "$PJ_TMP/rsid" authenticate acct_mgmt
pjf_in 2 "$PJ_PY" "$PJ_HELPERS/daemon_client.py" call /run/pam-jwtd.sock \
	< <(rreq "$PJ_TMP/r0") >"$PJ_TMP/reuse.ans"
check "host 2: the spent token is reuse ($(cut -d' ' -f2- "$PJ_TMP/reuse.ans"))" \
	grep -q '"refresh token reuse: session revoked"' "$PJ_TMP/reuse.ans"
pjf_in 3 "$PJ_PY" "$PJ_HELPERS/daemon_client.py" call /run/pam-jwtd.sock \
	< <(rreq "$PJ_TMP/r1") >"$PJ_TMP/r1b.ans"
check "host 3: the token the rotation gave is refused now ($(cut -d' ' -f2- "$PJ_TMP/r1b.ans"))" \
	grep -q '"ok":false' "$PJ_TMP/r1b.ans"
for n in 1 2 3; do
	check_fails "host $n: the session's ID is refused" pam_on "$n" "$PJ_TMP/rsid" authenticate
done

# --- 5. nothing is left ------------------------------------------------------------------
HOSTPIDS=("${PJF_PID[@]}")
pj_run_cleanup
for ((i = 0; i < 100; i++)); do
	left=""
	for p in "${HOSTPIDS[@]}"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
	[ -z "$left" ] && break
	sleep 0.05
done
check "the hosts' processes are gone" test -z "$left"
check "no $PJF network namespace is left" eval '! ip netns list 2>/dev/null | grep -q "^$PJF"'
check "no $PJF veth or bridge in the root namespace" eval '! ip -o link | grep -q "$PJF\|br0"'
check "no mount of the fleet is left (and /run/netns only if it was there before)" \
	eval '! grep -q "pjf-run-\|/run/netns/$PJF" /proc/self/mountinfo &&
		[ "$([ -e /run/netns ] && echo yes)" = "$NETNS_DIR_BEFORE" ]'
check "the user, the PAM services and the temp dir are removed" \
	eval '! getent passwd "$U" >/dev/null && [ ! -e "/etc/pam.d/$SSHD_SVC" ] &&
		[ ! -e "/etc/pam.d/$SVC" ] && [ ! -e "$PJ_TMP" ]'
echo "# revoke -> logout (ms): ${LAT[*]}"
done_testing
