#!/bin/sh
# run-unit.sh BIN... - run every Check suite; end with the total line.
passed=0 failed=0 broken=0
for t in "$@"; do
	echo "== $(basename "$t")"
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ -z "$line" ]; then
		echo "$(basename "$t"): no result line (exit $rc)"
		broken=$((broken + 1))
		continue
	fi
	p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed}
	passed=$((passed + p)); failed=$((failed + f))
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && broken=$((broken + 1))
done
echo "unit: $((passed)) passed, $((failed + broken)) failed"
[ $((failed + broken)) -eq 0 ]
