#!/bin/bash
# mailbox.sh [first-sync|push|memory] - postroom's mailbox benchmarks against
# their peers, in one run, on one private Dovecot (IMAPS, a certificate of a CA
# made for the run).  Figures for bench/README.md; not a timed test.
#
#   first-sync  COUNT (5000) messages of bench/gencorpus.py: the time until
#               routed has committed all of them (fetchd's mark reaches the last
#               uid), against mbsync, fetchmail and bench/imap-bare (the
#               ceiling), RUNS (3) rounds in rotating order; medians
#   push        PUSH_COUNT (200) messages appended one at a time: APPEND's
#               completion to the agent's `assigned` event, against
#               fetchmail --idle and bench/idle-bare.py (Dovecot's own delay)
#   memory      fetchd's peak memory (VmHWM) fetching one ~50 MB message
#
# Without an argument it runs all three.  Environment: RUNS, COUNT, SEED (1),
# PUSH_COUNT, WINDOW (postroom's [fetchd] window, 256 as by default),
# VARIANTS (postroom configurations besides that, as WINDOW:PARSED_INSTANCES,
# default "64:1"), TOOLS (which first-sync rows: "postroom mbsync fetchmail
# bare"), PERF=1 (perf record -g on each postroom daemon during the first
# sync, kept in the log directory), SINKS (1: also time the
# pipeline cut short by bench/mailbox-sink, acknowledging in routed's place,
# then in parsed's: where the time goes; empty: not), CACHE (where the generated
# corpus is kept between runs, /tmp/postroom-bench), KEEP=1 (keep the
# directory).  Uses the programs in build/bin (copied at the start, so a
# rebuild meanwhile does not matter): run `make` first.  Needs isync,
# fetchmail and sqlite3 (apt-get install isync fetchmail sqlite3), root or a
# user Dovecot accepts.  Prints a table per benchmark and "N passed, N failed"
# for the checks that the figures are sound (every message arrived).

BENCH=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lib/harness.sh
. "$BENCH/../tests/lib/harness.sh"

RUNS=${RUNS:-3}
COUNT=${COUNT:-5000}
SEED=${SEED:-1}
PUSH_COUNT=${PUSH_COUNT:-200}
WINDOW=${WINDOW:-256}
VARIANTS=${VARIANTS-64:1}
SINKS=${SINKS-1}
CACHE=${CACHE:-/tmp/postroom-bench}
HZ=$(getconf CLK_TCK)
declare -A MSGS HWM
H_IMAP_TLS=implicit
H_RESEND_TIMEOUT=30

usage() {
	echo "usage: bench/mailbox.sh [first-sync|push|memory]" >&2
	exit 64
}

# ---- small tools ----------------------------------------------------------------

now_us() { echo "${EPOCHREALTIME/./}"; }

# nap SECONDS - sleep without a fork (the pipeline being timed needs the CPU)
nap() { read -r -t "$1" -u "$B_NAP_FD" _ 2>/dev/null; }

# proc_ticks PID - user + system clock ticks of a live process
proc_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086 # the fields, split on purpose
	set -- $s
	echo $(( ${12} + ${13} ))
}

# dovecot_ticks - CPU ticks of Dovecot: the master, its live children and
# the children it has reaped (imap and imap-login of finished sessions)
dovecot_ticks() {
	local master p s t
	master=$(cat "$H_DIR/dovecot/run/master.pid") || { echo 0; return; }
	s=$(cat "/proc/$master/stat") || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086 # the fields, split on purpose
	set -- $s
	t=$(( ${12} + ${13} + ${14} + ${15} ))
	for p in $(pgrep -P "$master"); do
		t=$(( t + $(proc_ticks "$p") ))
	done
	echo $t
}

secs() { awk -v t="$1" -v hz="${2:-1000000}" 'BEGIN { printf "%.2f", t / hz }'; }

# median - of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

fuzzing() { pgrep -f fuzz_parse >/dev/null; }

# vmhwm PID - peak resident memory in kB
vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

machine() {
	note "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	    "$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)," \
	    "Debian $(cat /etc/debian_version)"
	note "Dovecot $($H_DOVECOT --version | cut -d' ' -f1), $(mbsync --version 2>&1 | head -n 1)," \
	    "fetchmail $(fetchmail --version 2>/dev/null | sed -n 's/^This is fetchmail release \([^+]*\).*/\1/p')," \
	    "$(openssl version | cut -d' ' -f1-2), postroom $(git -C "$H_ROOT" describe --always --dirty 2>/dev/null)"
}

# ---- the test bed ---------------------------------------------------------------

# bench_init - directory, programs, Dovecot with the users every benchmark uses
bench_init() {
	local p
	for p in mbsync fetchmail sqlite3 cc; do
		command -v $p >/dev/null || { echo "mailbox.sh: $p missing (apt-get install isync fetchmail sqlite3 gcc)" >&2; exit 69; }
	done
	h_init bench-mailbox
	mkfifo "$H_DIR/nap"
	exec {B_NAP_FD}<>"$H_DIR/nap"
	# the programs as they are now: someone may rebuild build/bin meanwhile
	mkdir -p "$H_DIR/bin"
	for p in fetchd parsed routed agentd postroom-passwd postroom-tap; do
		[ -x "$H_BIN/$p" ] || bail "$H_BIN/$p is not built: run make first"
		cp -p "$H_BIN/$p" "$H_DIR/bin/"
	done
	H_BIN=$H_DIR/bin
	cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$H_DIR/bin/imap-bare" "$BENCH/imap-bare.c" \
	    -lssl -lcrypto || bail "bench/imap-bare.c does not build"
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$H_DIR/bin/mailbox-sink" "$BENCH/mailbox-sink.c" \
	    $(pkg-config --cflags --libs libzmq jansson) || bail "bench/mailbox-sink.c does not build"
	h_dovecot_start "support:$H_IMAP_PW" "push:$H_IMAP_PW" "big:$H_IMAP_PW" ||
	    bail "dovecot does not start"
	B_PW=$H_DIR/imap.password
	B_AGENT_PW=$H_DIR/agent.password
	(umask 077; printf '%s\n' "$H_IMAP_PW" > "$B_PW"; printf '%s\n' "$H_AGENT_PW" > "$B_AGENT_PW")
	if [ "$(id -u)" = 0 ]; then B_MAILOWNER=65534:65534; else B_MAILOWNER=; fi
	machine
}

# corpus N SEED - a directory of N generated messages, made once and kept in $CACHE
corpus() {
	local dir=$CACHE/corpus-$1-$2
	if [ ! -f "$dir/.complete" ]; then
		rm -rf "$dir"
		mkdir -p "$CACHE"
		note "generating $1 messages (seed $2) into $dir" >&2
		$H_PY "$BENCH/gencorpus.py" "$dir" "$1" "$2" || return 1
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# maildir_load USER DIR - every DIR/*.eml into USER's INBOX, without flags,
# as files written straight into the Maildir and a force-resync
maildir_load() {
	local m=$H_DIR/dovecot/mail/$1
	mkdir -p "$m/cur" "$m/new" "$m/tmp"
	$H_PY - "$2" "$m/cur" <<'PY' || return 1
import glob, os, shutil, sys
for i, f in enumerate(sorted(glob.glob(os.path.join(sys.argv[1], "*.eml"))), 1):
    shutil.copyfile(f, os.path.join(sys.argv[2], "1767600000.M%dP1.bench:2," % i))
PY
	[ -n "$B_MAILOWNER" ] && chown -R "$B_MAILOWNER" "$m"
	$H_DOVEADM -c "$H_DOVECONF" force-resync -u "$1" INBOX
}

# account_write USER [CHECK_INTERVAL] - the configuration, account "support"
# reading USER's mailbox over IMAPS
account_write() {
	H_IMAP_USER=$1
	H_CHECK_INTERVAL=${2:-60}
	rm -rf "$H_ETC"
	h_config_write || bail "cannot write the configuration"
}

# pipeline_config WINDOW PARSED - [fetchd] window and one parsed endpoint per instance
pipeline_config() {
	local conf=$H_ETC/postroom.conf l='' n
	sed -i '/^window = /d; /^\[endpoints\]/,/^$/d' "$conf"
	sed -i "s/^\[fetchd\]\$/[fetchd]\nwindow = $1/" "$conf"
	if [ "$2" -gt 1 ]; then
		for ((n = 0; n < $2; n++)); do
			l="$l${l:+, }ipc://$H_RUN/parsed$n.sock"
		done
		printf '[endpoints]\nparsed = %s\n\n' "$l" >> "$conf"
	fi
}

# mark_reached UID - fetchd's state file says every uid up to UID is acknowledged
mark_reached() {
	local l
	[ -f "$H_STATE/fetchd/support.state" ] || return 1
	while IFS= read -r l; do
		[ "$l" = "uid=$1" ] && return 0
	done < "$H_STATE/fetchd/support.state"
	return 1
}

# wait_mark UID SECS - until the mark reaches UID (polled every 20 ms, no fork)
wait_mark() {
	local end=$(( ${EPOCHREALTIME/./} + $2 * 1000000 ))
	until mark_reached "$1"; do
		[ "${EPOCHREALTIME/./}" -ge $end ] && return 1
		nap 0.02
	done
	return 0
}

# stop_all NAME... - stop daemons started with h_start
stop_all() {
	local n
	for n in "$@"; do
		h_running "$n" && h_stop "$n"
	done
	return 0
}

# ---- first sync -----------------------------------------------------------------

# sink_start IN ACKS - bench/mailbox-sink in routed's place (or parsed's and routed's)
sink_start() {
	setsid "$H_BIN/mailbox-sink" "$1" "$2" >> "$H_LOG/sink.log" 2>&1 &
	echo $! > "$H_PID/sink"
	case " ${H_DAEMONS[*]} " in *" sink "*) ;; *) H_DAEMONS+=(sink) ;; esac
}

# perf_start NAME... - with PERF=1, `perf record -g` on each daemon named
# until perf_stop; the profiles go to the log directory as perf-NAME.data
perf_start() {
	local n
	B_PERF=()
	[ -n "${PERF:-}" ] || return 0
	for n in "$@"; do
		perf record -q -g -F 1999 -o "$H_LOG/perf-$n.data" -p "$(h_pid "$n")" 2>/dev/null &
		B_PERF+=($!)
	done
	nap 0.5
}

perf_stop() {
	[ ${#B_PERF[@]} -gt 0 ] || return 0
	kill -INT "${B_PERF[@]}" 2>/dev/null
	wait "${B_PERF[@]}" 2>/dev/null
	B_PERF=()
}

# run_postroom WINDOW PARSED [SINK] - one first sync through the pipeline;
# SINK "routed": mailbox-sink acknowledges in routed's place; "parsed": in
# parsed's and routed's.  Sets R_SECS R_CPU R_DOVECOT R_DETAIL.
run_postroom() {
	local w=$1 np=$2 sink=${3:-} n t t0 t1 c0 c1 names=() got detail='' what
	what="postroom w$w p$np${sink:+ without $sink}"
	stop_all fetchd-support routed sink parsed-0 parsed-1 parsed-2 parsed-3
	rm -rf "$H_STATE"
	mkdir -p "$H_STATE"
	pipeline_config "$w" "$np"
	rm -f "$H_RUN"/parsed*.sock "$H_RUN"/routed.sock "$H_RUN"/acks.sock
	if [ "$sink" = parsed ]; then
		np=0
		sink_start "ipc://$H_RUN/parsed.sock" "ipc://$H_RUN/acks.sock"
		names+=(sink)
	else
		for ((n = 0; n < np; n++)); do
			h_start "parsed-$n"
			names+=("parsed-$n")
		done
		if [ "$sink" = routed ]; then
			sink_start "ipc://$H_RUN/routed.sock" "ipc://$H_RUN/acks.sock"
			names+=(sink)
		else
			h_start routed
			names+=(routed)
		fi
	fi
	wait_for "[ -S $H_RUN/acks.sock ] && [ \$(ls $H_RUN/parsed*.sock 2>/dev/null | wc -l) -ge $np ]" 20 ||
	    { fail "$what: the stages do not start"; stop_all "${names[@]}"; return 1; }
	sync
	perf_start "${names[@]}"
	c0=$(dovecot_ticks)
	t0=$(now_us)
	h_start fetchd-support
	if ! wait_mark "$B_LAST" 300; then
		fail "$what: the mark did not reach uid $B_LAST within 300 s" \
		    "$(tail -n 3 "$H_LOG/fetchd-support.log")"
		stop_all fetchd-support "${names[@]}"
		return 1
	fi
	t1=$(now_us)
	c1=$(dovecot_ticks)
	perf_stop
	names=(fetchd-support "${names[@]}")
	R_CPU=0
	for n in "${names[@]}"; do
		t=$(proc_ticks "$(h_pid "$n")")
		R_CPU=$((R_CPU + t))
		detail="$detail ${n%-support}=$(secs "$t" "$HZ")"
	done
	R_SECS=$((t1 - t0))
	R_DOVECOT=$((c1 - c0))
	R_DETAIL=$detail
	if [ -z "$sink" ]; then
		got=$(sqlite3 "file:$H_STATE/postroom.db?mode=ro" 'SELECT count(*) FROM messages' 2>&1)
	else
		got=$COUNT	# the mark says it: every uid was acknowledged
	fi
	stop_all "${names[@]}"
	is "$what: all $COUNT messages acknowledged$([ -z "$sink" ] && echo " and stored")" "$got" "$COUNT"
}

# timed_tool NAME CMD... - run CMD under /usr/bin/time; sets R_SECS R_CPU R_DOVECOT
timed_tool() {
	local name=$1 t0 t1 c0 c1 rc
	shift
	sync
	c0=$(dovecot_ticks)
	t0=$(now_us)
	/usr/bin/time -f '%U %S %M' -o "$H_DIR/time.out" "$@" > "$H_LOG/$name.out" 2>&1
	rc=$?
	t1=$(now_us)
	c1=$(dovecot_ticks)
	R_SECS=$((t1 - t0))
	R_DOVECOT=$((c1 - c0))
	R_CPU=$(awk -v hz="$HZ" '{ printf "%d", ($1 + $2) * hz }' "$H_DIR/time.out" | tail -n 1)
	R_RSS=$(tail -n 1 "$H_DIR/time.out" | awk '{ print $3 }')
	R_DETAIL=
	[ $rc -eq 0 ] || fail "$name exited $rc" "$(tail -n 3 "$H_LOG/$name.out")"
	return $rc
}

run_mbsync() {
	local user=${1:-support} near=$H_DIR/mbsync
	rm -rf "$near"
	mkdir -p "$near"
	cat > "$H_DIR/mbsyncrc" <<EOF
IMAPAccount bench
# mbsync 1.4 matches the certificate's names, not its IP addresses
Host localhost
Port $H_IMAPS_PORT
User $user
PassCmd "cat $B_PW"
SSLType IMAPS
CertificateFile $H_CA

IMAPStore far
Account bench

MaildirStore near
Path $near/
Inbox $near/INBOX

Channel bench
Far :far:
Near :near:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
	timed_tool mbsync mbsync -q -c "$H_DIR/mbsyncrc" -a || return 1
	is "mbsync: $B_EXPECT messages in the Maildir" \
	    "$(find "$near/INBOX/cur" "$near/INBOX/new" -type f | wc -l)" "$B_EXPECT"
}

# fetchmail_rc USER FOLDER MDA_DIR OPTIONS - a fetchmailrc ($H_DIR/fetchmail/rc)
# whose MDA writes each message to MDA_DIR/SECONDS.MICROSECONDS.eml, named
# after the moment it started
fetchmail_rc() {
	local home=$H_DIR/fetchmail
	mkdir -p "$home" "$3"
	(umask 077
	 cat > "$home/rc" <<EOF
set no syslog
poll localhost protocol IMAP port $H_IMAPS_PORT
  user "$1" password "$H_IMAP_PW" is "$(id -un)" here
  folder "$2"
  ssl sslcertck sslcertfile "$H_CA"
  $4
  mda "bash -c 't=\$EPOCHREALTIME; cat > $3/tmp.\$t && mv $3/tmp.\$t $3/\$t.eml'"
EOF
	)
}

run_fetchmail() {
	local user=${1:-support} out=$H_DIR/fetchmail-out
	rm -rf "$out" "$H_DIR/fetchmail"
	fetchmail_rc "$user" INBOX "$out" "keep fetchall"
	export FETCHMAILHOME=$H_DIR/fetchmail
	timed_tool fetchmail fetchmail -f "$H_DIR/fetchmail/rc" --nodetach -s || return 1
	# fetchmail sets \Seen on what it took: put the mailbox back as it was
	$H_DOVEADM -c "$H_DOVECONF" flags remove -u "$user" '\Seen' mailbox INBOX all
	is "fetchmail: $B_EXPECT messages delivered" "$(find "$out" -name '*.eml' | wc -l)" "$B_EXPECT"
}

run_bare() {
	local user=${1:-support} got
	timed_tool imap-bare "$H_BIN/imap-bare" 127.0.0.1 "$H_IMAPS_PORT" "$user" "$B_PW" "$H_CA" || return 1
	got=$(sed -n 's/^messages=\([0-9]*\) .*/\1/p' "$H_LOG/imap-bare.out")
	is "imap-bare: $B_EXPECT messages" "$got" "$B_EXPECT"
}

# record TOOL - append this run's figures to $H_DIR/results/TOOL
record() {
	mkdir -p "$H_DIR/results"
	printf '%s %s %s %s %s\n' "$R_SECS" "$R_CPU" "$R_DOVECOT" "$B_FUZZ" "$R_DETAIL" >> "$H_DIR/results/$1"
}

# sync_row TOOL LABEL - a line of the table from the medians of TOOL's runs
sync_row() {
	local f=$H_DIR/results/$1 n s c d fz msgs mb
	[ -f "$f" ] || { printf '%-38s %s\n' "$2" "(no run succeeded)"; return; }
	n=$(wc -l < "$f")
	s=$(awk '{ print $1 }' "$f" | median)
	c=$(awk '{ print $2 }' "$f" | median)
	d=$(awk '{ print $3 }' "$f" | median)
	fz=$(awk '$4 == "yes"' "$f" | wc -l)
	msgs=$(awk -v n="$COUNT" -v s="$s" 'BEGIN { printf "%.0f", n / (s / 1e6) }')
	mb=$(awk -v b="$B_BYTES" -v s="$s" 'BEGIN { printf "%.1f", b / 1e6 / (s / 1e6) }')
	printf '%-38s %7s %7s %7s %8s %8s   %s\n' "$2" "$(secs "$s")" "$msgs" "$mb" \
	    "$(secs "$c" "$HZ")" "$(secs "$d" "$HZ")" "$n$( [ "$fz" -gt 0 ] && echo " ($fz with the fuzzer)")"
	MSGS[$3]=$msgs
}

bench_first_sync() {
	local dir r i tool order w p v
	note "first sync: $COUNT messages, $RUNS rounds"
	dir=$(corpus "$COUNT" "$SEED") || bail "gencorpus.py failed"
	maildir_load support "$dir" || bail "cannot load the mailbox"
	is "the mailbox holds $COUNT messages" "$(h_mail_count support)" "$COUNT"
	B_LAST=$(( $($H_DOVEADM -c "$H_DOVECONF" -f flow mailbox status -u support uidnext INBOX | sed 's/.*uidnext=//') - 1 ))
	B_EXPECT=$COUNT
	account_write support 60
	# the first reader pays for Dovecot's index and cache: nobody timed does
	run_bare support || bail "imap-bare cannot read the mailbox"
	B_BYTES=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$H_LOG/imap-bare.out")
	note "$COUNT messages, $B_BYTES bytes (sum of RFC822.SIZE); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	order=(${TOOLS:-postroom mbsync fetchmail bare})
	for v in $VARIANTS; do order+=("postroom-$v"); done
	[ -n "$SINKS" ] && order+=(sink-routed sink-parsed)
	for ((r = 0; r < RUNS; r++)); do
		for ((i = 0; i < ${#order[@]}; i++)); do
			tool=${order[$(( (i + r) % ${#order[@]} ))]}
			B_FUZZ=no
			fuzzing && B_FUZZ=yes
			case $tool in
			postroom) run_postroom "$WINDOW" 1 ;;
			postroom-*) v=${tool#postroom-}; run_postroom "${v%%:*}" "${v#*:}" ;;
			sink-*) run_postroom "$WINDOW" 1 "${tool#sink-}" ;;
			mbsync) run_mbsync ;;
			fetchmail) run_fetchmail ;;
			bare) run_bare ;;
			esac && { fuzzing && B_FUZZ=yes; record "$tool"; }
			note "round $((r + 1)) $tool: $(secs "$R_SECS") s (load $(cut -d' ' -f1 /proc/loadavg), fuzzer $B_FUZZ)"
		done
	done
	rm -rf "$H_DIR/mbsync" "$H_DIR/fetchmail-out" "$H_STATE"
	{
		echo
		echo "First sync: $COUNT messages, $(awk -v b="$B_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB, IMAPS on 127.0.0.1, median of $RUNS runs"
		printf '%-38s %7s %7s %7s %8s %8s   %s\n' tool seconds msg/s MB/s "CPU s" "dovecot" runs
		sync_row postroom "postroom (window $WINDOW, 1 parsed)" pr
		for v in $VARIANTS; do
			w=${v%%:*} p=${v#*:}
			sync_row "postroom-$v" "postroom (window $w, $p parsed)" "v${w}_$p"
		done
		if [ -n "$SINKS" ]; then
			sync_row sink-routed "  fetchd + parsed, no routed (w$WINDOW)" sr
			sync_row sink-parsed "  fetchd alone, no parsed (w$WINDOW)" sp
		fi
		sync_row mbsync "mbsync (FSync yes, the default)" mbsync
		sync_row fetchmail "fetchmail --keep --all, MDA to files" fetchmail
		sync_row bare "imap-bare (ceiling)" bare
		echo "# CPU s: the client's processes (postroom: fetchd + parsed + routed); dovecot: imap + imap-login"
		awk -v p="${MSGS[pr]}" -v m="${MSGS[mbsync]}" -v b="${MSGS[bare]}" '
			function verdict(r, want) {
				return (p == "" || r == "") ? "not measured" : \
				    sprintf("%.2f x (%s)", p / r, p / r >= want ? "met" : "MISSED")
			}
			BEGIN {
				printf "# targets: postroom >= 1.5 x mbsync: %s; >= 0.5 x imap-bare: %s\n",
				    verdict(m, 1.5), verdict(b, 0.5)
			}'
		for v in postroom $(for x in $VARIANTS; do echo "postroom-$x"; done) sink-routed sink-parsed; do
			[ -f "$H_DIR/results/$v" ] &&
			    echo "# $v CPU s (median run):$(sort -n "$H_DIR/results/$v" | sed -n "$(( ($(wc -l < "$H_DIR/results/$v") + 1) / 2 ))p" | cut -d' ' -f5-)"
		done
	} | tee -a "$H_DIR/report"
}

# ---- push latency ---------------------------------------------------------------

bench_push() {
	local dir ci=60 mode=IDLE fm
	note "push latency: $PUSH_COUNT messages to each of two folders"
	dir=$(corpus "$PUSH_COUNT" 2) || bail "gencorpus.py failed"
	if ! grep -q 'IDLE' "$H_BIN/fetchd"; then
		# a fetchd without IDLE polls: as often as it may
		ci=1 mode="polling every 1 s (this fetchd has no IDLE)"
	fi
	account_write push "$ci"
	rm -rf "$H_STATE"
	mkdir -p "$H_STATE"
	$H_DOVEADM -c "$H_DOVECONF" mailbox create -u push Peer 2>/dev/null
	h_pipeline_start
	wait_for "grep -q 'connected to' $H_LOG/fetchd-support.log" 20 || bail "fetchd does not connect"
	for f in INBOX Peer; do
		$H_PY -u "$BENCH/idle-bare.py" 127.0.0.1 "$H_IMAPS_PORT" push "$B_PW" "$H_CA" "$f" \
		    > "$H_DIR/bare-$f" 2> "$H_LOG/idle-bare-$f.log" &
		H_BG_PIDS+=("$!")
	done
	wait_for "grep -q ready $H_LOG/idle-bare-INBOX.log && grep -q ready $H_LOG/idle-bare-Peer.log" 20 ||
	    bail "idle-bare.py does not idle: $(cat "$H_LOG"/idle-bare-*.log)"
	# keep, not fetchall: what it took is \Seen and not taken again
	fetchmail_rc push Peer "$H_DIR/mda" "keep idle"
	export FETCHMAILHOME=$H_DIR/fetchmail
	setsid fetchmail -f "$H_DIR/fetchmail/rc" --nodetach -d 300 -v \
	    > "$H_LOG/fetchmail-idle.log" 2>&1 &
	fm=$!
	H_BG_PIDS+=("$fm")
	wait_for "grep -q 'IDLE' $H_LOG/fetchmail-idle.log" 20 || bail "fetchmail does not idle: $(tail -n 5 "$H_LOG/fetchmail-idle.log")"
	sleep 2
	B_FUZZ=no
	fuzzing && B_FUZZ=yes
	note "fetchd: $mode; load average $(cut -d' ' -f1-3 /proc/loadavg); fuzzer: $B_FUZZ"
	$H_PY "$BENCH/mailbox-push.py" --imap-port "$H_IMAP_PORT" --user push --password-file "$B_PW" \
	    --http-port "$H_HTTP_PORT" --agent "$H_AGENT" --agent-password-file "$B_AGENT_PW" \
	    --bare-a "$H_DIR/bare-INBOX" --bare-b "$H_DIR/bare-Peer" --mda-dir "$H_DIR/mda" \
	    --corpus "$dir" --count "$PUSH_COUNT" --raw "$H_DIR/push.raw" \
	    --tap "$H_BIN/postroom-tap -c $H_ETC fetchd parsed routed" > "$H_DIR/push.out" 2> "$H_LOG/push.log" ||
	    { fail "mailbox-push.py failed" "$(tail -n 5 "$H_LOG/push.log")"; return 1; }
	fuzzing && B_FUZZ=yes
	kill "$fm" 2>/dev/null
	stop_all fetchd-support agentd parsed-0 routed
	{
		echo
		echo "Push latency: $PUSH_COUNT messages each, APPEND completed -> seen; milliseconds (fuzzer: $B_FUZZ)"
		echo "fetchd: $mode"
		printf '%-44s %5s %7s %8s %8s %8s\n' watcher n missed p50 p99 max
		awk '$1 != "stage" && $1 != "delta" { split($0, f, " "); for (i = 2; i <= NF; i++) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
			name = "fetchmail --idle on Peer: MDA started"
			if ($1 == "bare-a") name = "idle-bare.py on INBOX (the floor)"
			if ($1 == "postroom") name = "postroom: assigned event on /api/events"
			if ($1 == "bare-b") name = "idle-bare.py on Peer (the floor)"
			printf "%-44s %5s %7s %8s %8s %8s\n", name, v["n"], v["missed"], v["p50"], v["p99"], v["max"] }' "$H_DIR/push.out"
		awk '$1 == "delta" { split($4, b, "="); split($5, c, "=");
			printf "# %s minus the floor, message by message: p50 %.1f, p99 %.1f ms\n", $2, b[2], c[2] }' "$H_DIR/push.out"
		awk '$1 == "stage" { split($4, b, "="); split($5, c, "=");
			printf "#   postroom %-22s p50 %6.1f  p99 %6.1f ms\n", $2, b[2], c[2] }' "$H_DIR/push.out"
		awk '$1 != "stage" && $1 != "delta" { split($4, b, "="); split($5, c, "="); p50[$1] = b[2]; p99[$1] = c[2] }
			END { printf "# target: postroom within 20 ms of the floor: p50 +%.1f ms (%s), p99 +%.1f ms (%s)\n",
			    p50["postroom"] - p50["bare-a"], (p50["postroom"] - p50["bare-a"] <= 20 ? "met" : "MISSED"),
			    p99["postroom"] - p99["bare-a"], (p99["postroom"] - p99["bare-a"] <= 20 ? "met" : "MISSED") }' "$H_DIR/push.out"
	} | tee -a "$H_DIR/report"
	is "postroom saw every message" "$(awk '$1 == "postroom" { print $3 }' "$H_DIR/push.out")" "missed=0"
}

# ---- memory ---------------------------------------------------------------------

bench_memory() {
	local msg=$H_DIR/big.eml size p limit t0 t1 r_mbsync='' r_fetchmail='' r_bare=''
	note "memory: fetchd fetching one ~50 MB message"
	$H_PY - "$msg" <<'PY' || bail "cannot make the 50 MB message"
import random, sys
from email.message import EmailMessage
rng = random.Random(50)
m = EmailMessage()
m["From"] = "Big Sender <big@example.net>"
m["To"] = "Support <support@example.com>"
m["Subject"] = "the scans you asked for"
m["Date"] = "Mon, 05 Jan 2026 09:00:00 +0000"
m["Message-ID"] = "<big-50mb@example.net>"
m.set_content("Hello,\n\nall the scans are attached.\n")
m.add_attachment(rng.randbytes(37_000_000), maintype="application", subtype="zip",
                 filename="scans.zip")
open(sys.argv[1], "wb").write(m.as_bytes(policy=m.policy.clone(linesep="\r\n")))
PY
	size=$(stat -c %s "$msg")
	h_mail_save "$msg" big || bail "doveadm save failed"
	B_EXPECT=1
	account_write big 60
	rm -rf "$H_STATE"
	mkdir -p "$H_STATE"
	pipeline_config "$WINDOW" 1
	h_start parsed-0
	h_start routed
	wait_for "[ -S $H_RUN/routed.sock ] && [ -S $H_RUN/parsed.sock ]" 20 || bail "routed and parsed do not start"
	t0=$(now_us)
	h_start fetchd-support
	if ! wait_mark 1 120; then
		fail "fetchd: the 50 MB message was not acknowledged within 120 s" "$(tail -n 3 "$H_LOG/fetchd-support.log")"
		stop_all fetchd-support parsed-0 routed
		return 1
	fi
	t1=$(now_us)
	for p in fetchd-support parsed-0 routed; do
		HWM[${p%%-*}]=$(vmhwm "$(h_pid "$p")")
	done
	stop_all fetchd-support parsed-0 routed
	limit=$(( (2 * size + 20 * 1000000) / 1024 ))
	run_mbsync big && r_mbsync=$R_RSS
	run_fetchmail big && r_fetchmail=$R_RSS
	run_bare big && r_bare=$R_RSS
	{
		echo
		echo "fetchd memory: one message of $(awk -v s="$size" 'BEGIN { printf "%.1f MB (%d bytes)", s / 1e6, s }'), peak resident (VmHWM / maxrss)"
		printf '%-40s %10s\n' process "peak MB"
		for p in "fetchd:${HWM[fetchd]}" "parsed:${HWM[parsed]}" "routed:${HWM[routed]}" \
		    "mbsync:$r_mbsync" "fetchmail (MDA to a file):$r_fetchmail" "imap-bare:$r_bare"; do
			printf '%-40s %10s\n' "${p%%:*}" "$(awk -v k="${p##*:}" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')"
		done
		echo "# postroom took $(secs $((t1 - t0))) s from fetchd's start to routed's commit"
		awk -v h="${HWM[fetchd]}" -v l="$limit" 'BEGIN { printf "# target: fetchd <= 2 x message + 20 MB = %.1f MB: %.1f MB (%s)\n",
		    l * 1024 / 1e6, h * 1024 / 1e6, (h <= l ? "met" : "MISSED") }'
	} | tee -a "$H_DIR/report"
	ok "fetchd's peak memory is at most 2 x the message + 20 MB" [ "${HWM[fetchd]}" -le "$limit" ]
}

# ---- main -------------------------------------------------------------------------

what=${1:-all}
case $what in
first-sync|push|memory|all) ;;
*) usage ;;
esac
bench_init
case $what in
first-sync) bench_first_sync ;;
push) bench_push ;;
memory) bench_memory ;;
all) bench_first_sync; bench_memory; bench_push ;;
esac
if [ "$what" = all ]; then
	echo
	cat "$H_DIR/report"
fi
finish
