#!/bin/bash
# bench_pam.sh — cost of a whole PAM login through pam_jwt.so compared with pam_permit.so.
#
# Each login is one `pamtester SERVICE USER authenticate` process (fork, exec, libpam,
# module load, config and JWKS read, key import, token verification), with an ES256 token
# on stdin. Two temporary services are compared:
#   jwt:  auth required <abs path>/pam_jwt.so config=<temporary config>
#   base: auth required pam_permit.so
#   load: auth optional <abs path>/pam_jwt.so config=... ignore_non_jwt
#         auth required pam_permit.so
#         fed a non-JWT line: the module is loaded and reads its config, then steps
#         aside (PAM_IGNORE). For context: the part of the cost that is loading alone.
# The logins alternate between the services in rounds (order rotated every round) and
# the median per login is reported. Target: median(jwt) / median(base) <= 1.25.
#
# Needs root (a temporary /etc/pam.d service and a temporary user) and pamtester.
# Creates only uniquely named files and a uniquely named user, and removes them on exit;
# never edits an existing /etc/pam.d file.
#
# Environment: BUILD (default build), BENCH_PAM_N (logins per service, default 300),
# BENCH_PAM_ROUNDS (default 10), BENCH_PAM_CPU (pin to this CPU; default the highest
# allowed one, as bench_verify does; "none" to not pin).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
MODULE=$ROOT/$BUILD/pam_jwt.so
EMIT=$ROOT/$BUILD/bench/bench_verify
N=${BENCH_PAM_N:-300}
ROUNDS=${BENCH_PAM_ROUNDS:-10}
ISSUER=https://idp.example.org
AUDIENCE=ssh.example.org
PAM_D=/etc/pam.d

die() { echo "bench_pam.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root"
command -v pamtester >/dev/null || die "needs pamtester (make deps)"
[ -f "$MODULE" ] || die "$MODULE not built (make)"
[ -x "$EMIT" ] || die "$EMIT not built (make bench)"
case $N in ''|*[!0-9]*) die "BENCH_PAM_N must be a number" ;; esac
case $ROUNDS in ''|*[!0-9]*|0) die "BENCH_PAM_ROUNDS must be a positive number" ;; esac
[ "$N" -ge "$ROUNDS" ] || die "BENCH_PAM_N must be at least BENCH_PAM_ROUNDS"

# Single core, like bench_verify (pamtester is single-threaded).
cpu=${BENCH_PAM_CPU:-}
if [ "$cpu" != none ] && command -v taskset >/dev/null; then
	if [ -z "$cpu" ]; then
		cpu=$(taskset -cp $$ | sed 's/.*: //; s/.*[,-]//')
	fi
	taskset -cp "$cpu" $$ >/dev/null || die "cannot pin to CPU $cpu"
else
	cpu="not pinned"
fi

# ---- unique names and cleanup --------------------------------------------------------
tag=$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')
user=pjb$tag                       # 13 characters: valid for useradd, short tokens
svc_jwt=pam_jwt_bench_jwt_$tag
svc_base=pam_jwt_bench_base_$tag
svc_load=pam_jwt_bench_load_$tag
tmp=""
store=""
user_created=0
svc_created=""

cleanup() {
	local f
	for f in $svc_created; do
		rm -f -- "$PAM_D/$f"
	done
	if [ "$user_created" = 1 ]; then
		userdel "$user" 2>/dev/null || echo "bench_pam.sh: could not remove user $user" >&2
	fi
	if [ -n "$tmp" ]; then
		rm -rf -- "$tmp"
	fi
	if [ -n "$store" ]; then
		rm -rf -- "$store"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

for s in "$svc_jwt" "$svc_base" "$svc_load"; do
	[ ! -e "$PAM_D/$s" ] || die "$PAM_D/$s exists already"
done
getent passwd "$user" >/dev/null && die "user $user exists already"

tmp=$(mktemp -d /tmp/pam_jwt_bench.XXXXXXXX)   # 0700, owned by root: passes secfile rules
store=$(mktemp -d /dev/shm/pam_jwt_bench_store.XXXXXXXX)   # the session store: 0700 on tmpfs

# ---- user, key, token, config, services ----------------------------------------------
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	--comment "pam_jwt benchmark (temporary)" "$user"
user_created=1

"$EMIT" --emit-es256 "$tmp/issuer.jwks" "$tmp/token" "$user" "$ISSUER" "$AUDIENCE"
token_len=$(wc -c <"$tmp/token")
# pamtester's conversation (misc_conv) reads at most PAM_MAX_RESP_SIZE - 1 = 511 bytes.
[ "$token_len" -lt 512 ] || die "token is $token_len bytes; misc_conv reads at most 511"
printf '\n' >>"$tmp/token"
# The same token with one signature character changed: must be refused.
awk '{ c = substr($0, length($0) - 5, 1); r = (c == "A") ? "B" : "A";
       print substr($0, 1, length($0) - 6) r substr($0, length($0) - 4) }' \
	"$tmp/token" >"$tmp/token.bad"
echo "not a JWT" >"$tmp/nonjwt"

cat >"$tmp/pam_jwt.conf" <<EOF
# temporary pam_jwt benchmark configuration
jwks = $tmp/issuer.jwks
issuer = $ISSUER
audience = $AUDIENCE
leeway = 60
store_dir = $store
announce_session = yes
EOF
chmod 0644 "$tmp/pam_jwt.conf" "$tmp/issuer.jwks"

make_service() {   # name, module line
	(set -o noclobber; printf '# temporary, from pam_jwt bench/bench_pam.sh\n%s\n' "$2" \
		>"$PAM_D/$1") || die "cannot create $PAM_D/$1"
	svc_created="$svc_created $1"
}
make_service "$svc_jwt" "auth required $MODULE config=$tmp/pam_jwt.conf
session required $MODULE config=$tmp/pam_jwt.conf"
make_service "$svc_base" "auth required pam_permit.so"
make_service "$svc_load" "auth optional $MODULE config=$tmp/pam_jwt.conf ignore_non_jwt
auth required pam_permit.so"

login() {   # service, token file; quiet; returns pamtester's status
	pamtester "$1" "$user" authenticate <"$2" >/dev/null 2>&1
}

# ---- sanity: both services work, and the module really verifies --------------------
login "$svc_base" "$tmp/token" || die "pam_permit service does not authenticate"
if ! login "$svc_jwt" "$tmp/token"; then
	pamtester "$svc_jwt" "$user" authenticate <"$tmp/token" >&2 || true
	die "pam_jwt service refuses the benchmark token"
fi
login "$svc_jwt" "$tmp/token.bad" && die "pam_jwt service accepts a token with a bad signature"
login "$svc_jwt" "$tmp/nonjwt" && die "pam_jwt service accepts a non-JWT"
login "$svc_load" "$tmp/nonjwt" || die "load-only service does not authenticate"
# A live session (opened by a JWT login) whose ID then logs in on its own.
pamtester "$svc_jwt" "$user" authenticate open_session <"$tmp/token" 2>&1 |
	grep -o 'pjs_[A-Za-z0-9_-]*' | head -n 1 >"$tmp/sid"
chmod 0600 "$tmp/sid"
[ -s "$tmp/sid" ] || die "no session ID was announced"
login "$svc_jwt" "$tmp/sid" || die "pam_jwt service refuses the session ID"

# ---- measurement ----------------------------------------------------------------------
now_us() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000 + 10#${t#*.} )); }

time_logins() {   # service, input file, count, output file: one duration (µs) a line
	local i t0 t1 s
	for ((i = 0; i < $3; i++)); do
		t0=$EPOCHREALTIME
		pamtester "$1" "$user" authenticate <"$2" >/dev/null 2>&1 || s=$?
		t1=$EPOCHREALTIME
		[ -z "${s:-}" ] || die "login on $1 failed (status $s) during the benchmark"
		echo $(( (${t1%.*} - ${t0%.*}) * 1000000 + 10#${t1#*.} - 10#${t0#*.} )) >>"$4"
	done
}

# Warm the page cache and the dynamic loader's view of both stacks.
for _ in 1 2 3 4 5; do
	login "$svc_base" "$tmp/token"
	login "$svc_jwt" "$tmp/token"
	login "$svc_load" "$tmp/nonjwt"
	login "$svc_jwt" "$tmp/sid"
done

start=$(now_us)
per_round=$(( N / ROUNDS ))
extra=$(( N - per_round * ROUNDS ))
: >"$tmp/base.us"
: >"$tmp/jwt.us"
: >"$tmp/load.us"
: >"$tmp/sid.us"
run_one() {   # index 0..3, count
	case $1 in
	0) time_logins "$svc_base" "$tmp/token" "$2" "$tmp/base.us" ;;
	1) time_logins "$svc_jwt" "$tmp/token" "$2" "$tmp/jwt.us" ;;
	2) time_logins "$svc_load" "$tmp/nonjwt" "$2" "$tmp/load.us" ;;
	3) time_logins "$svc_jwt" "$tmp/sid" "$2" "$tmp/sid.us" ;;
	esac
}
for ((r = 0; r < ROUNDS; r++)); do
	n=$per_round
	[ "$r" -lt "$extra" ] && n=$((n + 1))
	for ((k = 0; k < 4; k++)); do
		run_one $(( (r + k) % 4 )) "$n"
	done
done
wall=$(( $(now_us) - start ))

stats() {   # file -> "count total_s median_ms p10_ms p90_ms mean_ms"
	sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		      p10 = v[int(NR * 0.1) + 1]; p90 = v[int(NR * 0.9)];
		      printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, s / 1e6, m / 1e3,
			     p10 / 1e3, p90 / 1e3, s / NR / 1e3 }'
}
read -r bn bt bm b10 b90 bmean < <(stats "$tmp/base.us")
read -r jn jt jm j10 j90 jmean < <(stats "$tmp/jwt.us")
read -r ln lt lm l10 l90 lmean < <(stats "$tmp/load.us")
read -r sn st sm s10 s90 smean < <(stats "$tmp/sid.us")
sratio=$(awk -v a="$sm" -v b="$bm" 'BEGIN { printf "%.3f", a / b }')
smet=$(awk -v r="$sratio" 'BEGIN { print (r <= 1.1) ? "yes" : "**no**" }')
sadded=$(awk -v a="$sm" -v b="$bm" 'BEGIN { printf "%.3f", a - b }')
ratio=$(awk -v a="$jm" -v b="$bm" 'BEGIN { printf "%.3f", a / b }')
met=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.25) ? "yes" : "**no**" }')
added=$(awk -v a="$jm" -v b="$bm" 'BEGIN { printf "%.3f", a - b }')

echo "### PAM login: pamtester authenticate, pam_jwt.so (ES256 JWKS) vs pam_permit.so"
echo
echo "pamtester $(dpkg-query -W -f='${Version}' pamtester 2>/dev/null || echo '?'); token" \
     "$token_len bytes on stdin; CPU: $cpu; $N logins per service in $ROUNDS interleaved" \
     "rounds; wall $(awk -v w="$wall" 'BEGIN { printf "%.1f", w / 1e6 }') s."
echo
echo "| service | logins | total s | median ms/login | p10 ms | p90 ms | mean ms |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| pam_permit.so | $bn | $bt | $bm | $b10 | $b90 | $bmean |"
echo "| pam_jwt.so, ES256 token verified | $jn | $jt | $jm | $j10 | $j90 | $jmean |"
echo "| pam_jwt.so, session ID looked up in the store | $sn | $st | $sm | $s10 | $s90 | $smean |"
echo "| (context) pam_jwt.so loaded, config read, non-JWT input ignored | $ln | $lt | $lm |" \
     "$l10 | $l90 | $lmean |"
echo
echo "| ratio median jwt/permit | added ms per login | target | met? |"
echo "|---:|---:|---|---|"
echo "| $ratio | $added | <= 1.25x | $met |"
echo
echo "| ratio median session-ID/permit | added ms per login | target | met? |"
echo "|---:|---:|---|---|"
echo "| $sratio | $sadded | <= 1.1x | $smet |"
