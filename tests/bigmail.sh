#!/bin/sh
# bigmail.sh - a 50 MB message (a short text and a 49 MB base64 attachment)
# is parsed with a peak memory of at most 3 times its size plus 30 MB:
#
#   1. `parsed --dump` under /usr/bin/time -v (maximum resident set size);
#   2. the daemon: bench/parsed-drive sends it as raw.1 over ZeroMQ to a
#      `parsed -i 0` and takes the parsed.1 back as routed would; the bound
#      applies to parsed's VmHWM from /proc, and the record must carry the
#      raw message and the text body as its two payload frames, and no
#      more (the attachment is described, its bytes stay in the raw one).
#
# A memory bound, not a timing.  PARSED and DRIVE name the programs
# (default build/bin/parsed, build/bench/parsed-drive).  Ends with
# "N passed, N failed".

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PARSED:-$root/build/bin/parsed}
drive=${DRIVE:-$(dirname "$(dirname "$bin")")/bench/parsed-drive}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
case $drive in /*) ;; *) drive=$(pwd)/$drive ;; esac
passed=0 failed=0

for p in "$bin" "$drive" /usr/bin/time; do
	if [ ! -x "$p" ]; then
		echo "bigmail: $p missing (make; apt-get install time)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/postroom-bigmail.XXXXXX") || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# the message: 49 MiB of base64 (76 columns, CRLF) after a short text
msg=$tmp/big.eml
{
	printf 'From: Zoe Martin <zoe@example.net>\r\nTo: support@example.com\r\n'
	printf 'Subject: the scans you asked for\r\nDate: Tue, 14 Nov 2023 10:00:00 +0100\r\n'
	printf 'Message-ID: <bigmail@example.net>\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/mixed; boundary="big"\r\n\r\n'
	printf -- '--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere are the scans.\r\n\r\n'
	printf -- '--big\r\nContent-Type: application/pdf; name="scans.pdf"\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n'
	head -c $((49 * 1024 * 1024 / 78 * 57)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
	printf -- '--big--\r\n'
} > "$msg"
size=$(wc -c < "$msg")
bound_kb=$(( (3 * size + 30 * 1024 * 1024) / 1024 ))
echo "message: $size bytes; bound: 3 x size + 30 MB = $bound_kb kB"

# Under AddressSanitizer the peak is mostly the sanitizer's (shadow memory,
# quarantine): the records are still checked, the bound is not.
asan=0
grep -q __asan_init "$bin" && asan=1

check() {	# check NAME KB
	if [ "$asan" = 1 ]; then
		echo "skip $1: peak ${2:-?} kB, no bound under AddressSanitizer"
	elif [ -n "$2" ] && [ "$2" -le "$bound_kb" ]; then
		echo "ok $1: peak $2 kB <= $bound_kb kB"
		passed=$((passed + 1))
	else
		echo "FAIL $1: peak ${2:-?} kB > $bound_kb kB"
		failed=$((failed + 1))
	fi
}

# 1. parsed --dump
/usr/bin/time -v "$bin" --dump "$msg" > "$tmp/dump.json" 2> "$tmp/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.txt")
if grep -q '"filename":"scans.pdf".*"part":1' "$tmp/dump.json"; then
	echo "ok parsed --dump: the record has the attachment"
	passed=$((passed + 1))
else
	echo "FAIL parsed --dump: no attachment in the record"
	failed=$((failed + 1))
fi
check "parsed --dump" "$rss"

# 2. the daemon, over ZeroMQ
mkdir -p "$tmp/etc" "$tmp/run"
cat > "$tmp/etc/postroom.conf" <<EOC
[postroom]
state_dir = $tmp/state
run_dir = $tmp/run
[endpoints]
parsed = ipc://$tmp/run/parsed-0.sock
routed = ipc://$tmp/run/routed.sock
EOC
"$bin" -c "$tmp/etc" -i 0 2> "$tmp/parsed.log" &
pid=$!
out=$("$drive" -c "$tmp/etc" -a support "$msg")
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
echo "drive: $out"
case $out in
*"records=1 frames=2 "*)
	echo "ok parsed daemon: one record, with the raw message and the text body"
	passed=$((passed + 1)) ;;
*)	echo "FAIL parsed daemon: expected one record with the raw message and the text body"
	failed=$((failed + 1)) ;;
esac
check "parsed daemon" "$hwm"
kill "$pid" && wait "$pid"
pid=

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
