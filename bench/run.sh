#!/bin/sh
# Benchmarks (make bench): token verification against raw OpenSSL, session-store lookups
# with 1,000 vs 1,000,000 records, pam-jwtd refreshes over its socket (beside the raw
# signature) and its memory with 100,000 sessions, then whole PAM logins against
# pam_permit.so. Each prints a Markdown table. Exit status: 0 when the benchmarks ran (a
# missed target is reported in the tables, not as a failure), 1 on an error.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
rc=0

"$BUILD/bench/bench_verify" || rc=1
echo
# Root: each store on a private tmpfs (a few GB of memory for 1,000,000 records; about two
# minutes, most of it filling). Otherwise plain directories under /tmp (slower to fill);
# BENCH_STORE_LARGE makes the large store smaller.
"$BUILD/bench/bench_store" || rc=1
echo
# pam-jwtd needs root (it refuses to run otherwise; bench_daemon says so and skips). Its
# stores are on a private tmpfs; about a minute, a third of it putting 100,000 sessions.
"$BUILD/bench/bench_daemon" || rc=1
echo
if [ "$(id -u)" = 0 ]; then
	bench/bench_pam.sh || rc=1
	echo
	# the store on Redis beside tmpfs, revocation-to-logout across two hosts, and store
	# operations per second beside redis-benchmark; about four minutes, much of it
	# filling Redis with 1,000,000 sessions (1-2 GB)
	bench/bench_redis.sh || rc=1
else
	echo "bench_pam.sh skipped: it needs root (a temporary /etc/pam.d service and a" \
	     "temporary user for pamtester); run 'make bench' as root for the PAM table."
fi
exit $rc
