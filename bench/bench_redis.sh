#!/bin/bash
# bench_redis.sh — the session store on Redis beside the store on tmpfs, in one run.
#
# 1. A session-ID login: one `pamtester SERVICE USER authenticate` process per login (the
#    module connects to Redis, AUTHs, looks the session up, updates last_seen under the
#    lease, disconnects), with the store on tmpfs, on Redis over its unix socket and over
#    TCP on 127.0.0.1; on Redis with 1,000 and with 1,000,000 sessions stored (filled
#    with redis-cli --pipe; max_sessions_total = 0, as the default limit is 100,000). Logins alternate between the stores in rounds; median per
#    login. Targets: Redis <= 1.5x tmpfs; 1,000,000 sessions <= 1.2x 1,000.
# 2. Revocation to logout across two hosts: a login held on "host 1" (pam_drive.py as its
#    leader, pam-jwtd watching the store), revoked by pam-jwtctl in a pid namespace of
#    its own ("host 2"); the time until the leader is gone, p50 and p99. Target p99 < 1 s.
#
# 3. Store operations per second through the core (build/bench/bench_redis_ops: a
#    session-ID use, a jti check, a user-lock check, a session put), beside
#    `redis-benchmark -t get,set` on the same server and socket as the same ACL user,
#    at the same concurrency (1 and 8 connections: redis-benchmark's -c, as many store
#    processes), pipelining off, interleaved rounds, medians; and the scripts sent by
#    SHA-1 (EVALSHA) against by text every time (EVAL, before). Round trips per operation
#    are counted with MONITOR. Target: store operations >= 0.5x redis-benchmark.
#
# Needs root (temporary /etc/pam.d services and a temporary user), pamtester,
# redis-server, redis-cli, redis-benchmark, python3. Creates only uniquely named things
# and removes them.
# Environment: BUILD (default build), BENCH_REDIS_N (logins per store, default 200),
# BENCH_REDIS_ROUNDS (default 10), BENCH_REDIS_LARGE (default 1000000),
# BENCH_REDIS_REVOKES (default 40), BENCH_REDIS_OPS_ROUNDS (default 5),
# BENCH_REDIS_OPS_MS (per store run, default 1000), BENCH_REDIS_OPS_N (requests per
# redis-benchmark run, default 40000), BENCH_REDIS_PARTS (default "logins revoke ops").
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
MODULE=$ROOT/$BUILD/pam_jwt.so
CTL=$ROOT/$BUILD/pam-jwtctl
DAEMON=$ROOT/$BUILD/pam-jwtd
N=${BENCH_REDIS_N:-200}
ROUNDS=${BENCH_REDIS_ROUNDS:-10}
LARGE=${BENCH_REDIS_LARGE:-1000000}
REVOKES=${BENCH_REDIS_REVOKES:-40}
OPS_ROUNDS=${BENCH_REDIS_OPS_ROUNDS:-5}
OPS_MS=${BENCH_REDIS_OPS_MS:-1000}
OPS_N=${BENCH_REDIS_OPS_N:-40000}
PARTS=" ${BENCH_REDIS_PARTS:-logins revoke ops} "
OPS=$ROOT/$BUILD/bench/bench_redis_ops
PAM_D=/etc/pam.d
ISS=https://idp.example.org
AUD=ssh.example.org

die() { echo "bench_redis.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
for c in pamtester redis-server redis-cli redis-benchmark python3 unshare; do
	command -v "$c" >/dev/null || die "needs $c"
done
[ -f "$MODULE" ] && [ -x "$CTL" ] && [ -x "$DAEMON" ] && [ -x "$OPS" ] || die "build first (make all $BUILD/bench/bench_redis_ops)"

tag=$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')
user=pjr$tag
tmp=""
pids=""
svcs=""
user_created=0
cleanup() {
	local p s
	set +e # all of it, whatever fails (errexit would end the trap at the first)
	for p in $pids; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	for s in $svcs; do rm -f -- "$PAM_D/$s"; done
	[ "$user_created" = 1 ] && userdel "$user" 2>/dev/null
	[ -z "$tmp" ] || rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

tmp=$(mktemp -d /tmp/pam_jwt_bench_redis.XXXXXXXX)
mkdir -m 0700 "$tmp/store" "$tmp/keys"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	--comment "pam_jwt benchmark (temporary)" "$user"
user_created=1
"$CTL" keygen --alg ES256 --kid b1 --out "$tmp/keys" >/dev/null
"$CTL" keygen --alg ES256 --kid signer --out "$tmp/keys" >/dev/null
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$tmp/pw"
chmod 0600 "$tmp/pw"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --save '' --appendonly no --daemonize no --port "$port" --bind 127.0.0.1 \
	--unixsocket "$tmp/redis.sock" --unixsocketperm 700 --dir "$tmp" \
	--logfile "$tmp/redis.log" --user default on ">$(cat "$tmp/pw")" '~*' '&*' '+@all' \
	--user pamjwt on ">$(cat "$tmp/pw")" '~*' '&*' '+@all' &
pids="$pids $!"
rcli() { redis-cli -s "$tmp/redis.sock" --user pamjwt --pass "$(cat "$tmp/pw")" --no-auth-warning "$@"; }
for _ in $(seq 1 100); do rcli ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
rcli ping | grep -q PONG || die "redis-server did not start"

# conf NAME STORE_LINES: a config for one store
conf() {
	cat >"$tmp/$1.conf" <<-EOF
	jwks = $tmp/keys/b1.jwks
	issuer = $ISS
	audience = $AUD
	announce_session = yes
	signing_key = $tmp/keys/signer.key
	persist_dir = none
	max_sessions_total = 0
	socket_path = $tmp/$1.sock
	$2
	EOF
	chmod 0600 "$tmp/$1.conf"
	local s=pam_jwt_bench_${1}_$tag
	(set -o noclobber; printf '# temporary, from pam_jwt bench/bench_redis.sh\nauth required %s config=%s\naccount required %s config=%s\nsession required %s config=%s\n' \
		"$MODULE" "$tmp/$1.conf" "$MODULE" "$tmp/$1.conf" "$MODULE" "$tmp/$1.conf" >"$PAM_D/$s") ||
		die "cannot create $PAM_D/$s"
	svcs="$svcs $s"
}
redis_lines() { # PREFIX URL
	printf 'store = %s\nredis_prefix = %s\nredis_password_file = %s\nstore_dir = %s/store' \
		"$2" "$1" "$tmp/pw" "$tmp"
}
conf fs "store_dir = $tmp/store"
# the tmpfs store must be on tmpfs: a private one
mount -t tmpfs -o mode=0700,size=256m tmpfs "$tmp/store"
conf ru_small "$(redis_lines small "redis+unix://pamjwt@$tmp/redis.sock")"
conf ru_large "$(redis_lines large "redis+unix://pamjwt@$tmp/redis.sock")"
conf rt_small "$(redis_lines small "redis://pamjwt@127.0.0.1:$port")"
trap 'umount -l "$tmp/store" 2>/dev/null; cleanup' EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# fill PREFIX COUNT: COUNT sessions of other users, written as the backend writes them
fill() {
	python3 - "$1" "$2" <<'PY' | rcli --pipe >/dev/null
import hashlib, sys
prefix, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*a):
    out.write(b"*%d\r\n" % len(a))
    for x in a:
        x = x if isinstance(x, bytes) else x.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(x), x))
for i in range(n):
    d = hashlib.sha256(b"bench %d" % i).hexdigest()
    owner = "filler%d" % (i // 10)
    rec = ("pam_jwt-store 1\nkind=session\nuser=%s\nuid=2000\nservice=sshd\ntty=\nrhost=\n"
           "pid=0\ncreated=1700000000\nexpires=4000000000\nidle=0\nlast_seen=1700000000\n"
           "leader_start=0\nparent=\norigin_jti=\ntokens=0\nowner=%s\nfamily=\nboot=\n" % (owner, owner))
    cmd("SET", "{%s}:s:%s" % (prefix, d), rec)
    cmd("SADD", "{%s}:K:s" % prefix, d)
    cmd("SADD", "{%s}:i:%s" % (prefix, hashlib.sha256(owner.encode()).hexdigest()), d)
PY
}
"$CTL" issue --key "$tmp/keys/b1.key" --kid b1 -u "$user" --iss "$ISS" --aud "$AUD" --ttl 2h \
	>"$tmp/token"

# ---- 1. session-ID logins ------------------------------------------------------------------
if [[ $PARTS == *" logins "* ]]; then
t0=$(date +%s)
fill small 1000
fill large "$LARGE"
fill_s=$(( $(date +%s) - t0 ))

# per store, a session ID from a JWT login with open_session
for s in fs ru_small ru_large rt_small; do
	pamtester "pam_jwt_bench_${s}_$tag" "$user" authenticate open_session <"$tmp/token" 2>&1 | tee "$tmp/$s.open" |
		{ grep -o "pjs_[A-Za-z0-9_-]*" || true; } | head -n 1 >"$tmp/$s.sid" || true
	[ -s "$tmp/$s.sid" ] || die "no session ID from the $s store: $(cat "$tmp/$s.open"; "$CTL" sessions -c "$tmp/$s.conf" 2>&1)"
	pamtester "pam_jwt_bench_${s}_$tag" "$user" authenticate <"$tmp/$s.sid" >/dev/null 2>&1 ||
		die "the $s store refuses its session ID"
done
large_n=$(rcli scard "{large}:K:s")

time_logins() { # STORE COUNT: one duration (µs) a line into $tmp/STORE.us
	local i t0 t1
	for ((i = 0; i < $2; i++)); do
		t0=$EPOCHREALTIME
		pamtester "pam_jwt_bench_${1}_$tag" "$user" authenticate <"$tmp/$1.sid" >/dev/null 2>&1 ||
			die "a session-ID login on $1 failed during the benchmark"
		t1=$EPOCHREALTIME
		echo $(( (${t1%.*} - ${t0%.*}) * 1000000 + 10#${t1#*.} - 10#${t0#*.} )) >>"$tmp/$1.us"
	done
}
stores=(fs ru_small ru_large rt_small)
for s in "${stores[@]}"; do : >"$tmp/$s.us"; time_logins "$s" 5; : >"$tmp/$s.us"; done
per=$(( N / ROUNDS ))
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < 4; k++)); do time_logins "${stores[(r + k) % 4]}" "$per"; done
done
median_ms() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
m_fs=$(median_ms "$tmp/fs.us")
m_rus=$(median_ms "$tmp/ru_small.us")
m_rul=$(median_ms "$tmp/ru_large.us")
m_rts=$(median_ms "$tmp/rt_small.us")

echo "| session-ID login (\`pamtester … authenticate\`, $((per * ROUNDS)) each, $ROUNDS interleaved rounds) | median per login | vs tmpfs |"
echo "|---|---:|---:|"
echo "| tmpfs store | $m_fs ms | 1.00 |"
echo "| Redis, unix socket (ACL user), 1,000 sessions | $m_rus ms | $(ratio "$m_rus" "$m_fs") |"
echo "| Redis, unix socket (ACL user), $large_n sessions | $m_rul ms | $(ratio "$m_rul" "$m_fs") |"
echo "| Redis, TCP 127.0.0.1 (ACL user), 1,000 sessions | $m_rts ms | $(ratio "$m_rts" "$m_fs") |"
echo "| large / small (Redis, unix) | | $(ratio "$m_rul" "$m_rus") (target ≤ 1.2) |"
echo "(filling Redis with $((1000 + LARGE)) sessions took ${fill_s} s)"
echo

fi

# ---- 2. revocation to logout across two hosts -------------------------------------------
if [[ $PARTS == *" revoke "* ]]; then
conf h1 "$(redis_lines fleet "redis+unix://$tmp/redis.sock")
sweep_interval = 1h"
conf h2 "$(redis_lines fleet "redis+unix://$tmp/redis.sock")"
"$DAEMON" -c "$tmp/h1.conf" --stderr >"$tmp/h1.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 1 100); do grep -q "watching the shared store" "$tmp/h1.log" && break; sleep 0.05; done
grep -q "watching the shared store" "$tmp/h1.log" || die "pam-jwtd does not watch the store"
: >"$tmp/revoke.ms"
for ((i = 0; i < REVOKES; i++)); do
	python3 "$ROOT/tests/integration/helpers/pam_drive.py" "pam_jwt_bench_h1_$tag" "$user" \
		"$tmp/token" authenticate open_session hold >"$tmp/hold.out" 2>&1 &
	hp=$!
	for _ in $(seq 1 200); do grep -q '^# holding' "$tmp/hold.out" && break; sleep 0.01; done
	sid=$(grep -o 'pjs_[A-Za-z0-9_-]\{43\}' "$tmp/hold.out" | head -n 1)
	[ -n "$sid" ] || die "no held login"
	d=$(printf '%s' "$sid" | sha256sum | cut -c1-64)
	t0=$EPOCHREALTIME
	unshare --pid --fork --mount-proc "$CTL" revoke -c "$tmp/h2.conf" --session "$d" >/dev/null 2>&1
	t_rev=$EPOCHREALTIME
	while kill -0 "$hp" 2>/dev/null; do
		us=$(( (${EPOCHREALTIME%.*} - ${t_rev%.*}) * 1000000 + 10#${EPOCHREALTIME#*.} - 10#${t_rev#*.} ))
		[ "$us" -lt 5000000 ] || die "a revoked login on host 1 did not end within 5 s"
		sleep 0.002
	done
	t1=$EPOCHREALTIME
	wait "$hp" 2>/dev/null || true
	# from before pam-jwtctl starts: its own start-up counts too
	echo $(( (${t1%.*} - ${t0%.*}) * 1000000 + 10#${t1#*.} - 10#${t0#*.} )) >>"$tmp/revoke.ms"
done
pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p + 0.999); if (i < 1) i = 1; printf "%.0f", v[i] / 1000 }'; }
echo "| revocation on host 2 → login on host 1 gone ($REVOKES revocations, pub/sub, sweeps 1 h apart) | ms |"
echo "|---|---:|"
echo "| p50 | $(pct "$tmp/revoke.ms" 0.5) |"
echo "| p99 | $(pct "$tmp/revoke.ms" 0.99) (target < 1000) |"
echo
fi

# ---- 3. store operations per second beside redis-benchmark --------------------------------
if [[ $PARTS == *" ops "* ]]; then
OURL="redis+unix://pamjwt@$tmp/redis.sock"
# NAME: the operation (bench_redis_ops OP); NAME_eval: the same with scripts by text (-e)
ONAMES=(jti lock use use_eval put put_eval)
oflag() { [ "${1%_eval}" = "$1" ] || printf '%s\n' -e; }
# rb C: redis-benchmark GET and SET with C connections; "GET RPS" and "SET RPS" lines
rb() {
	redis-benchmark -s "$tmp/redis.sock" --user pamjwt -a "$(cat "$tmp/pw")" -c "$1" -n "$OPS_N" \
		-P 1 -t get,set --csv 2>/dev/null | tr -d '"' | awk -F, '$1 == "GET" || $1 == "SET" { print $1, $2 }'
}
for ((r = 0; r < OPS_ROUNDS; r++)); do
	for c in 1 8; do
		rb "$c" >"$tmp/rb.out" || die "redis-benchmark failed"
		awk '$1 == "GET" { print $2 }' "$tmp/rb.out" >>"$tmp/ops.GET.$c"
		awk '$1 == "SET" { print $2 }' "$tmp/rb.out" >>"$tmp/ops.SET.$c"
		for name in "${ONAMES[@]}"; do
			# shellcheck disable=SC2046
			"$OPS" $(oflag "$name") -c "$c" -t "$OPS_MS" "$OURL" "$tmp/pw" "ops$r$c" \
				"${name%_eval}" >"$tmp/one.out" || die "bench_redis_ops $name failed"
			read -r rate cmds <"$tmp/one.out"
			echo "$rate" >>"$tmp/ops.$name.$c"
			echo "$cmds" >"$tmp/cmds.$name"
		done
	done
done
# round trips of one operation: client commands MONITOR shows for 300 operations less
# those for 100 (which cancels connecting and the setup), over 200
monitor_lines() { # ARGS...: client commands (not those of scripts) while ARGS run
	local mp
	stdbuf -oL redis-cli -s "$tmp/redis.sock" --user pamjwt --pass "$(cat "$tmp/pw")" \
		--no-auth-warning monitor >"$tmp/mon.out" 2>/dev/null &
	mp=$!
	sleep 0.3
	"$OPS" "$@" >/dev/null || die "bench_redis_ops $* failed"
	sleep 0.3
	kill "$mp" 2>/dev/null
	wait "$mp" 2>/dev/null || true
	grep -c '\[0 unix:' "$tmp/mon.out" || true
}
for name in "${ONAMES[@]}"; do
	# shellcheck disable=SC2046
	l1=$(monitor_lines $(oflag "$name") -n 100 "$OURL" "$tmp/pw" "rtt$name" "${name%_eval}")
	# shellcheck disable=SC2046
	l3=$(monitor_lines $(oflag "$name") -n 300 "$OURL" "$tmp/pw" "rtt$name" "${name%_eval}")
	awk -v a="$l1" -v b="$l3" 'BEGIN { printf "%.1f", (b - a) / 200 }' >"$tmp/rtt.$name"
done
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m }'; }
fmt() { printf "%'d" "$1"; }
declare -A LABEL=(
	[jti]="revoked-jti check (\`store_jti_check\`, not revoked)"
	[lock]="user-lock check (\`store_user_check\`, not locked)"
	[use]="session-ID use (\`store_session_use\`: lookup, lease, re-read, fenced write, release)"
	[use_eval]="session-ID use, scripts sent by text (EVAL, before)"
	[put]="session put (\`store_session_put\`, a new user each: lease, checks, index, count, write)"
	[put_eval]="session put, scripts sent by text (EVAL, before)"
)
declare -A VS=([jti]=GET [lock]=GET [use]=SET [use_eval]=SET [put]=SET [put_eval]=SET)
echo "| store operation through the core, unix socket, ACL user ($OPS_ROUNDS interleaved rounds, ${OPS_MS} ms each, medians) | round trips | server commands (scripts' own included) | ops/s, 1 client | vs redis-benchmark | ops/s, 8 clients | vs redis-benchmark |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for k in GET SET; do
	echo "| \`redis-benchmark -t ${k,,} -P 1\` (reference) | 1 | 1 | $(fmt "$(med "$tmp/ops.$k.1")") | 1.00 | $(fmt "$(med "$tmp/ops.$k.8")") | 1.00 |"
done
for name in "${ONAMES[@]}"; do
	o1=$(med "$tmp/ops.$name.1")
	o8=$(med "$tmp/ops.$name.8")
	v=${VS[$name]}
	echo "| ${LABEL[$name]} | $(cat "$tmp/rtt.$name") | $(cat "$tmp/cmds.$name") | $(fmt "$o1") | $(ratio "$o1" "$(med "$tmp/ops.$v.1")") ×${v} | $(fmt "$o8") | $(ratio "$o8" "$(med "$tmp/ops.$v.8")") ×${v} |"
done
# the server's time per script call, from its own counters (EVAL: the -e runs)
rcli info commandstats | tr -d '\r' | awk -F'[:,=]' '$1 == "cmdstat_eval" || $1 == "cmdstat_evalsha" {
	printf "%s: %s calls, %s µs per call on the server\n", toupper(substr($1, 9)), $3, $7 }'
for n in use put; do
	echo "EVALSHA / EVAL, $n: $(ratio "$(med "$tmp/ops.$n.1")" "$(med "$tmp/ops.${n}_eval.1")") (1 client), $(ratio "$(med "$tmp/ops.$n.8")" "$(med "$tmp/ops.${n}_eval.8")") (8 clients)"
done
fi
