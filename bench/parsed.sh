#!/bin/sh
# parsed.sh [COUNT] - parsed's throughput, for bench/README.md (not a test).
#
# Generates COUNT (default 2000) messages with bench/gencorpus.py (seed 1),
# then runs each of these RUNS (default 3) times, interleaved:
#
#   bare      build/bench/gmime-bare: GMime parses every message and decodes
#             every leaf to a null stream (the least work), pinned to CPU 0
#   daemon 1  one `parsed -i 0` pinned to CPU 0 (its ZeroMQ I/O thread
#             too), fed over ZeroMQ by build/bench/parsed-drive on CPU 1:
#             raw.1 pushed as fetchd does (at most [fetchd] window = 64
#             messages unacknowledged), parsed.1 pulled as routed does; the
#             clock runs from the first message sent to the last record
#             received.  The product's own path.
#   daemon 2  the same with two parsed instances (CPU 0 and CPU 1); the
#             driver is not pinned and shares the CPUs with them
#   dump      parsed --dump over the same files, output to /dev/null, CPU 0
#   dump x2   the files split in two halves, two parsed --dump at once,
#             pinned to CPU 0 and CPU 1
#
# and prints, for each, the fastest and the median wall time, the
# throughput of the fastest run, and the median CPU time (user + system)
# of the parsing processes, all their threads; for the daemons also how
# that CPU time splits between parsed's own thread and ZeroMQ's I/O
# thread (from /proc/PID/task/*/schedstat), and the driver's CPU time
# while the clock ran.  On a machine that others are using, the fastest
# run and the CPU time say the most.  B names the build directory
# (default build); `make bench-parsed` builds what is needed and runs this.

root=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
count=${1:-2000}
runs=${RUNS:-3}
for p in "$B/bin/parsed" "$B/bench/gmime-bare" "$B/bench/parsed-drive"; do
	[ -x "$p" ] || { echo "parsed.sh: $p not built (make bench-parsed)" >&2; exit 1; }
done
ncpu=$(nproc)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/postroom-bench.XXXXXX") || exit 1
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

/usr/bin/python3 "$root/bench/gencorpus.py" "$tmp/corpus" "$count" 1 || exit 1
ls "$tmp"/corpus/*.eml > "$tmp/all"
half=$(( (count + 1) / 2 ))
head -n "$half" "$tmp/all" > "$tmp/a"
tail -n +"$((half + 1))" "$tmp/all" > "$tmp/b"
bytes=$(cat "$tmp"/corpus/*.eml | wc -c)

# timed FILE CMD... - run CMD; append "WALL CPU" (seconds) to FILE
timed() {
	f=$1
	shift
	t0=$(date +%s%N)
	/usr/bin/time -o "$f.t" -f '%U %S' "$@" > /dev/null || echo "parsed.sh: $* failed" >&2
	t1=$(date +%s%N)
	awk -v w=$((t1 - t0)) '{ printf "%.3f %.2f\n", w / 1e9, $1 + $2 }' "$f.t" >> "$f"
}
# pin N - the command that runs a program on CPU N alone
pin() { command -v taskset >/dev/null && echo "taskset -c $1"; }
# threads PID - "MAIN OTHERS": CPU seconds of the process's main thread and
# of all its other threads (ZeroMQ's), from the scheduler's own count
threads() {
	for t in /proc/"$1"/task/*; do
		printf '%s %s\n' "${t##*/}" "$(cut -d ' ' -f 1 "$t/schedstat" 2>/dev/null)"
	done | awk -v pid="$1" '{ if ($1 == pid) m += $2; else o += $2 }
	    END { printf "%.3f %.3f\n", m / 1e9, o / 1e9 }'
}

run_bare() { timed "$tmp/bare.times" $(pin 0) xargs "$B/bench/gmime-bare" < "$tmp/all"; }
run_dump() { timed "$tmp/dump.times" $(pin 0) xargs "$B/bin/parsed" --dump < "$tmp/all"; }
run_dump2() {
	timed "$tmp/dump2a" $(pin 0) xargs "$B/bin/parsed" --dump < "$tmp/a" &
	a=$!
	timed "$tmp/dump2b" $(pin $((ncpu > 1 ? 1 : 0))) xargs "$B/bin/parsed" --dump < "$tmp/b" &
	b=$!
	wait "$a" "$b"
	# wall: the slower half; CPU: both
	paste -d ' ' "$tmp/dump2a" "$tmp/dump2b" | tail -n 1 |
	    awk '{ printf "%s %.2f\n", ($1 > $3 ? $1 : $3), $2 + $4 }' >> "$tmp/dump2.times"
}
run_daemon() {	# run_daemon N: N parsed instances, one per core
	n=$1 eps= drive_pin=
	rm -rf "$tmp/etc" "$tmp/run" "$tmp"/cpu.* "$tmp"/threads.*
	mkdir -p "$tmp/etc" "$tmp/run"
	i=0
	while [ "$i" -lt "$n" ]; do
		eps="$eps${eps:+, }ipc://$tmp/run/parsed-$i.sock"
		i=$((i + 1))
	done
	printf '[postroom]\nstate_dir = %s/state\nrun_dir = %s/run\n[endpoints]\nparsed = %s\nrouted = ipc://%s/run/routed.sock\n' \
	    "$tmp" "$tmp" "$eps" "$tmp" > "$tmp/etc/postroom.conf"
	pids= i=0
	while [ "$i" -lt "$n" ]; do
		/usr/bin/time -o "$tmp/cpu.$i" -f '%U %S' $(pin $((i % ncpu))) \
		    "$B/bin/parsed" -c "$tmp/etc" -i "$i" 2>> "$tmp/parsed.log" &
		pids="$pids $!"
		i=$((i + 1))
	done
	# one daemon on CPU 0: the driver on the other CPU, out of its way
	[ "$n" = 1 ] && [ "$ncpu" -gt 1 ] && drive_pin=$(pin 1)
	out=$($drive_pin xargs "$B/bench/parsed-drive" -c "$tmp/etc" < "$tmp/all")
	for p in $pids; do	# the parsed under each time, before it stops
		c=$(pgrep -P "$p")
		[ -n "$c" ] && threads "$c" >> "$tmp/threads.$n"
	done
	pkill -TERM -P "$(echo $pids | tr ' ' ',')" 2>/dev/null
	for p in $pids; do wait "$p"; done
	pids=
	wall=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
	recs=$(echo "$out" | sed -n 's/.*records=\([0-9]*\).*/\1/p')
	[ "$recs" = "$count" ] || echo "parsed.sh: daemon x$n: $recs records of $count" >&2
	echo "$out" | sed -n 's/.*out=\([0-9]*\).*/\1/p' > "$tmp/out.bytes"
	echo "$out" | sed -n 's/.*cpu=\([0-9.]*\).*/\1/p' >> "$tmp/drive$n.cpu"
	cpu=$(cat "$tmp"/cpu.* | awk '{ s += $1 + $2 } END { printf "%.2f", s }')
	awk '{ m += $1; o += $2 } END { printf "%.3f %.3f\n", m, o }' "$tmp/threads.$n" \
	    >> "$tmp/daemon$n.threads"
	echo "$wall $cpu" >> "$tmp/daemon$n.times"
}

# col N: column N of the runs; min, median
col() { awk -v n="$1" '{ print $n }'; }
median() { sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }
fastest() { sort -n | head -n 1; }

echo "corpus: $count messages, $bytes bytes (bench/gencorpus.py seed 1); $ncpu CPUs; $runs runs each"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
for what in bare dump dump2 daemon1 daemon2; do
	: > "$tmp/$what.times"
done
r=1
while [ "$r" -le "$runs" ]; do
	run_bare
	run_daemon 1
	run_daemon 2
	run_dump
	run_dump2
	r=$((r + 1))
done
echo "load average after:  $(cut -d ' ' -f 1-3 /proc/loadavg)"

printf '\n%-30s %8s %8s %8s %8s %9s  %s\n' "" "wall s" "wall s" "msgs/s" "MB/s" "CPU s" "walls of every run"
printf '%-30s %8s %8s %8s %8s %9s\n' "" "fastest" "median" "fastest" "fastest" "median"
for what in bare daemon1 daemon2 dump dump2; do
	case $what in
	bare) label="GMime bare loop, 1 core" ;;
	daemon1) label="parsed daemon x1, 1 core" ;;
	daemon2) label="parsed daemon x2, 2 cores" ;;
	dump) label="parsed --dump, 1 core" ;;
	dump2) label="parsed --dump x2, 2 cores" ;;
	esac
	f=$(col 1 < "$tmp/$what.times" | fastest)
	m=$(col 1 < "$tmp/$what.times" | median)
	c=$(col 2 < "$tmp/$what.times" | median)
	eval "f_$what=$f c_$what=$c"
	printf '%-30s %8.3f %8.3f %8.0f %8.1f %9.2f  %s\n' "$label" "$f" "$m" "$(echo "$count / $f" | bc -l)" \
	    "$(echo "$bytes / 1048576 / $f" | bc -l)" "$c" "$(col 1 < "$tmp/$what.times" | tr '\n' ' ')"
done
for n in 1 2; do
	eval "t_main$n=$(col 1 < "$tmp/daemon$n.threads" | median) t_io$n=$(col 2 < "$tmp/daemon$n.threads" | median)"
done
printf '\nparsed daemon, median CPU s of its threads: x1 parsing %s + ZeroMQ I/O %s; x2 parsing %s + I/O %s\n' \
    "$t_main1" "$t_io1" "$t_main2" "$t_io2"
printf '(ZeroMQ moves %s MB in as raw.1 and %s MB out as parsed.1)\n' "$((bytes / 1048576))" \
    "$(($(cat "$tmp/out.bytes") / 1048576))"
printf 'the driver, median CPU s while the clock ran: %s with one daemon, %s with two\n' \
    "$(median < "$tmp/drive1.cpu")" "$(median < "$tmp/drive2.cpu")"
printf '\nparsed daemon x1 / bare loop, wall: %3.0f%%  CPU: %3.0f%%  (target >= 80%%)\n' \
    "$(echo "100 * $f_bare / $f_daemon1" | bc -l)" "$(echo "100 * $c_bare / $c_daemon1" | bc -l)"
printf '  its parsing thread alone, CPU:              %3.0f%%\n' "$(echo "100 * $c_bare / $t_main1" | bc -l)"
printf 'parsed --dump / bare loop, wall:    %3.0f%%  CPU: %3.0f%%\n' \
    "$(echo "100 * $f_bare / $f_dump" | bc -l)" "$(echo "100 * $c_bare / $c_dump" | bc -l)"
printf 'two daemons / one daemon, wall:     %.2fx (target >= 1.8x; the driver shares the CPUs)\n' \
    "$(echo "$f_daemon1 / $f_daemon2" | bc -l)"
printf '  by CPU time, 2 x one'"'"'s / two'"'"'s:          %.2fx (two cores given to parsed alone)\n' \
    "$(echo "2 * $c_daemon1 / $c_daemon2" | bc -l)"
printf 'two --dump processes / one, wall:   %.2fx (target >= 1.8x)\n' "$(echo "$f_dump / $f_dump2" | bc -l)"
