#!/bin/bash
# Run every test suite, print each suite's TAP lines to its log, and end with one line:
# "N passed, N failed[, N skipped]".  --only-unprivileged skips the root-only suites;
# --only unit|pam|integration|fuzz runs one part (make check-unit, check-pam, ...).
set -u
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${BUILD:-build}
LOGDIR=$TOP/$BUILD/test-logs
mkdir -p "$LOGDIR"
only_unpriv=0
[ "${1:-}" = --only-unprivileged ] && only_unpriv=1
part=all
if [ "${1:-}" = --only ]; then
	case "${2:-}" in unit|pam|integration|fuzz) part=$2 ;;
	*) echo "run-all.sh: --only unit|pam|integration|fuzz" >&2; exit 2 ;; esac
fi
# wants PART: whether this run includes that part
wants() { [ "$part" = all ] || [ "$part" = "$1" ]; }
passed=0 failed=0 skipped=0

run_suite() { # name, command...
	local name=$1; shift
	local log="$LOGDIR/$name.log" rc=0
	mkdir -p "$(dirname "$log")" # names like build-asan/test_x make a subdirectory
	timeout "${SUITE_TIMEOUT:-900}" "$@" >"$log" 2>&1 || rc=$?
	local p f s
	p=$(grep -cE '^ok [0-9]+' "$log" | head -1)
	s=$(grep -cE '^ok [0-9]+ .*# (SKIP|skip)' "$log" | head -1)
	f=$(grep -cE '^not ok [0-9]+' "$log" | head -1)
	# cmocka prints a skipped test as "not ok N # SKIP name": a skip, not a failure
	ns=$(grep -cE '^not ok [0-9]+ # (SKIP|skip)' "$log" | head -1)
	p=$((p - s)); f=$((f - ns)); s=$((s + ns))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "not ok - $name exited $rc" >>"$log"; fi
	if [ $((p + f + s)) = 0 ]; then f=1; echo "not ok - $name ran no test" >>"$log"; fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-34s %4d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
	if [ "$f" != 0 ]; then grep -E '^not ok|^# ' "$log" | head -40 | sed 's/^/    /'; fi
}

export CMOCKA_MESSAGE_OUTPUT=TAP
for b in build build-asan; do
	[ -d "$b/tests" ] || continue
	[ "$BUILD" = build-asan ] && [ "$b" = build ] && continue
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		if [ -f "tests/pam/$(basename "$t").c" ]; then wants pam || continue
		else wants unit || continue; fi
		BUILD_DIR=$TOP/$b run_suite "$(basename "$b")/$(basename "$t")" "$t"
	done
done
for t in tests/vectors/test_*.sh tests/cli/test_*.sh; do
	[ -f "$t" ] && wants unit || continue
	BUILD_DIR=$TOP/build run_suite "$(basename "$t" .sh)" bash "$t"
done
# The command-line suites again with the ASan+UBSan build of pam-jwtctl.
if [ -x build-asan/pam-jwtctl ] && wants unit; then
	for t in tests/vectors/test_wycheproof_cli.sh tests/integration/test_interop.sh; do
		BUILD_DIR=$TOP/build-asan run_suite "build-asan/$(basename "$t" .sh)" bash "$t"
	done
fi
if [ "$only_unpriv" = 0 ]; then
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] && wants integration || continue
		BUILD_DIR=$TOP/build run_suite "$(basename "$t" .sh)" bash "$t"
	done
	if [ -d build-fuzz ] && wants fuzz; then
		for f in build-fuzz/fuzz_*; do
			[ -x "$f" ] || continue
			run_suite "$(basename "$f")" bash tests/fuzz/run-bounded.sh "$f"
		done
	fi
fi
line="$passed passed, $failed failed"
[ "$skipped" != 0 ] && line="$line, $skipped skipped"
echo "logs: $LOGDIR"
echo "$line"
[ "$failed" = 0 ] || exit 1
if [ "${CI:-}" = true ] && [ "$skipped" != 0 ]; then exit 1; fi
exit 0
