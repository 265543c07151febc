#!/bin/sh
# golden.sh [--update] - parsed's record of each tests/data/*.eml, compared
# with tests/golden/NAME.json (indented JSON, reviewed as a diff).  With
# --update, the golden files are written instead.  Ends with
# "N passed, N failed".

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PARSED:-$root/build/bin/parsed}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
update=0
case "$1" in
--update) update=1 ;;
"") ;;
*) echo "usage: tests/golden.sh [--update]" >&2; exit 64 ;;
esac
if [ ! -x "$bin" ]; then
	echo "golden: $bin not built (make)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/postroom-golden.XXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT INT TERM

passed=0 failed=0
cd "$root/tests/data" || exit 1
for eml in *.eml; do
	[ -f "$eml" ] || continue
	name=${eml%.eml}
	golden=$root/tests/golden/$name.json
	if ! "$bin" --dump --pretty "$eml" > "$tmp"; then
		echo "FAIL $name: parsed --dump failed"
		failed=$((failed + 1))
		continue
	fi
	if [ "$update" = 1 ]; then
		cp "$tmp" "$golden"
		echo "updated $name"
		passed=$((passed + 1))
	elif [ ! -f "$golden" ]; then
		echo "FAIL $name: no tests/golden/$name.json (tests/golden.sh --update)"
		failed=$((failed + 1))
	elif diff -u "$golden" "$tmp"; then
		echo "ok $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: differs from tests/golden/$name.json"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
