#!/bin/sh
# corpus.sh - parsed --dump over ../shared/corpus, compared with the oracle.
#
# For every set of messages in ../shared/corpus (relative to the checkout),
# run `build/bin/parsed --dump` from inside the set's directory (so `file`
# is relative to it, as in expected/SET.jsonl), compare with
# oracle/compare_jsonl.py, and check:
#
#   - no strict mismatch on a header field (subject, from, to, cc, date,
#     ids) that tests/corpus-differences.md does not explain;
#   - no entry of tests/corpus-differences.md that no longer mismatches;
#   - text_body and attachments strictly equal on at least 98% of the
#     messages where the oracle does not mark them ambiguous (explained
#     differences count as equal).
#
# One check per set, plus the two percentages; ends with "N passed, N failed".
# Without the corpus: "skipped: ../shared/corpus not found", exit 0.
# Messages of the corpus are never copied into the project.

root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$root/../shared/corpus
bin=${PARSED:-$root/build/bin/parsed}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
differences=$root/tests/corpus-differences.md

if [ ! -d "$corpus" ] || [ ! -d "$corpus/expected" ]; then
	echo "skipped: ../shared/corpus not found"
	exit 0
fi
if [ ! -x "$bin" ]; then
	echo "corpus: $bin not built (make)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/postroom-corpus.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

sets=
for e in "$corpus"/expected/*.jsonl; do
	set=$(basename "$e" .jsonl)
	[ -d "$corpus/$set" ] || continue
	sets="$sets $set"
	# the message files, as the expected file names them
	python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        sys.stdout.write(json.loads(line)["file"] + "\0")
' "$e" > "$tmp/$set.files"
	(cd "$corpus/$set" && xargs -0 "$bin" --dump < "$tmp/$set.files") > "$tmp/$set.jsonl" \
	    2> "$tmp/$set.err"
	python3 "$corpus/oracle/compare_jsonl.py" "$e" "$tmp/$set.jsonl" --show 100000 \
	    > "$tmp/$set.out" 2>&1
done

python3 - "$tmp" "$differences" $sets <<'EOF'
import re
import sys

tmp, differences, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
HEADERS = ["subject", "from_name", "from_addr", "to", "cc", "date", "date_iso_utc",
           "message_id", "in_reply_to", "references"]
BODY = ["text_body", "attachments"]

# | set | file | field | why |
explained = set()
for line in open(differences, encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) >= 4 and cells[0] in sets:
        explained.add((cells[0], cells[1], cells[2]))

passed = failed = 0
totals = {f: [0, 0] for f in BODY}     # [equal, compared]
for s in sets:
    out = open(f"{tmp}/{s}.out", encoding="utf-8").read()
    table = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M):
        table[m.group(1)] = [int(x) for x in m.groups()[1:]]
    strict = set((s, m.group(1), m.group(2))
                 for m in re.finditer(r"^\[STRICT\] (.*) :: (\w+)$", out, re.M))
    compared = re.search(r"^compared (\d+) messages; missing from actual: (\d+)", out, re.M)
    problems = []
    if not compared or not table:
        problems.append("compare_jsonl.py gave no result")
    elif int(compared.group(2)):
        problems.append(f"{compared.group(2)} messages missing from parsed's output")
    for (_, name, field) in sorted(strict - explained):
        if field in HEADERS:
            problems.append(f"{name} :: {field} differs")
    for (_, name, field) in sorted(x for x in explained - strict if x[0] == s):
        problems.append(f"{name} :: {field} listed in corpus-differences.md but equal now")
    for f in BODY:
        ok, fail = table.get(f, [0, 0])[:2]
        extra = sum(1 for x in strict & explained if x[0] == s and x[2] == f)
        totals[f][0] += ok + extra
        totals[f][1] += ok + fail
    hok = sum(table[f][0] for f in HEADERS if f in table)
    hn = sum(table[f][0] + table[f][1] for f in HEADERS if f in table)
    row = "  ".join(f"{f}={table[f][0]}/{table[f][0] + table[f][1]}"
                    for f in BODY + ["has_html"] if f in table)
    print(f"{s}: {compared.group(1) if compared else 0} messages: "
          f"header fields={hok}/{hn}  {row}  (strictly equal/compared)")
    for p in problems:
        print(f"  FAIL {p}")
    for (_, name, field) in sorted(strict & explained):
        print(f"  explained in corpus-differences.md: {name} :: {field}")
    for (_, name, field) in sorted(strict - explained):
        if field not in HEADERS:
            print(f"  differs: {name} :: {field}")
    if problems:
        failed += 1
    else:
        passed += 1

for f in BODY:
    eq, n = totals[f]
    pct = 100.0 * eq / n if n else 100.0
    ok = pct >= 98.0
    print(f"{f}: {eq}/{n} equal where not ambiguous ({pct:.1f}%, need 98%)"
          f"{'' if ok else '  FAIL'}")
    if ok:
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
