#!/bin/sh
# run-integration.sh [TEST...] - run the integration tests (default: every
# tests/integration/*.sh), each in its own directory with its own servers;
# each prints "N passed, N failed".  End with the total line
#	integration: N passed, N failed
# and a non-zero status when anything failed.  A test that ends without its
# result line, or exits non-zero with no failure counted, counts as one
# failure; one that runs over TEST_TIMEOUT seconds (300) is killed.
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- tests/integration/*.sh
limit=${TEST_TIMEOUT:-300}
passed=0 failed=0 broken=0
out=$(mktemp /tmp/postroom-it.XXXXXX) || exit 1
trap 'rm -f "$out" "$out.rc"' EXIT
trap 'exit 130' INT TERM
for t in "$@"; do
	name=$(basename "$t" .sh)
	echo "== $name"
	start=$(date +%s)
	{ timeout -k 10 "$limit" bash "$t" 2>&1; echo $? > "$out.rc"; } | tee "$out"
	rc=$(cat "$out.rc")
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	echo "-- $name: exit $rc, $(($(date +%s) - start))s"
	if [ -z "$line" ]; then
		[ "$rc" = 124 ] && echo "$name: killed after ${limit}s"
		echo "$name: no result line"
		broken=$((broken + 1))
		continue
	fi
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed}
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "$name: exit $rc with no failure counted"
		broken=$((broken + 1))
	fi
done
echo "integration: $passed passed, $((failed + broken)) failed"
[ $((failed + broken)) -eq 0 ]
