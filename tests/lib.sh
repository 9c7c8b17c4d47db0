# Shared helpers for shell test suites: TAP-style lines that tests/run-all.sh counts.
# Source it; then call ok/not_ok/skip or check "description" command...
_t_n=0
_t_fail=0
ok()     { _t_n=$((_t_n + 1)); echo "ok $_t_n - $*"; }
not_ok() { _t_n=$((_t_n + 1)); _t_fail=$((_t_fail + 1)); echo "not ok $_t_n - $*"; }
# skip "why": in CI nothing may be skipped, so there it counts as a failure.
skip() {
	if [ "${CI:-}" = true ]; then not_ok "$* (skipped in CI)"; else
		_t_n=$((_t_n + 1)); echo "ok $_t_n - # SKIP $*"; fi
}
# check "description" cmd...: passes when cmd exits 0
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# check_fails "description" cmd...: passes when cmd exits non-zero
check_fails() { local d=$1; shift; if "$@"; then not_ok "$d"; else ok "$d"; fi; }
# check_rc "description" expected_rc cmd...
check_rc() {
	local d=$1 want=$2; shift 2; local rc=0; "$@" || rc=$?
	if [ "$rc" = "$want" ]; then ok "$d"; else not_ok "$d (exit $rc, want $want)"; fi
}
done_testing() { echo "1..$_t_n"; [ "$_t_fail" = 0 ]; }

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/${BUILD:-build}}
PYTHON=/usr/bin/python3
