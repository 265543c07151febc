#!/bin/sh
# run.sh FUZZER SECONDS - run parsed's libFuzzer harness for SECONDS of wall
# time, one process, seeded with tests/data/*.eml and every message of
# ../shared/corpus.  The seeds are copied to a temporary directory that is
# removed afterwards: corpus messages never enter the project.  What the
# fuzzer finds (crash-*, leak-*, timeout-*, oom-*) is kept in
# $(dirname FUZZER)/artifacts/; minimize one with
#	FUZZER -minimize_crash=1 -runs=10000 ARTIFACT
# and add it as tests/data/fuzz-NAME.eml with its golden file.

fuzzer=$1
seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$root/../shared/corpus
if [ ! -x "$fuzzer" ]; then
	echo "usage: tests/fuzz/run.sh FUZZER SECONDS (make fuzz builds it)" >&2
	exit 64
fi
fuzzer=$(cd "$(dirname "$fuzzer")" && pwd)/$(basename "$fuzzer")
artifacts=$(dirname "$fuzzer")/artifacts
mkdir -p "$artifacts"

work=$(mktemp -d "${TMPDIR:-/tmp}/postroom-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/seeds" "$work/new"
n=0
for f in "$root"/tests/data/*.eml; do
	[ -f "$f" ] && cp "$f" "$work/seeds/data-$(basename "$f")" && n=$((n + 1))
done
if [ -d "$corpus" ]; then
	find "$corpus" -type f ! -path "$corpus/expected/*" ! -path "$corpus/oracle/*" \
	    ! -name '*.md' -size -1024k | while IFS= read -r f; do
		cp "$f" "$work/seeds/corpus-$(printf '%s' "${f#$corpus/}" | tr '/' '_')"
	done
fi
echo "fuzz: $(ls "$work/seeds" | wc -l) seeds, $seconds s, artifacts in $artifacts"

"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$work/new" "$work/seeds"
