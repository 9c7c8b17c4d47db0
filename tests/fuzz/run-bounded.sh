#!/bin/bash
# Run one libFuzzer target for a bounded time over its seed corpus; one TAP line.
set -u
f=$1
name=$(basename "$f")
seeds="$(dirname "$0")/corpus/$name"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null
if "$f" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -print_final_stats=1 \
	"$work" >"$work.log" 2>&1; then
	echo "ok 1 - $name: $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$work.log") with no crash"
else
	tail -30 "$work.log" | sed 's/^/# /'
	echo "not ok 1 - $name crashed or leaked"
fi
rm -f "$work.log"
