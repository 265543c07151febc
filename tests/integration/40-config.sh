#!/bin/bash
# 40-config - a bad configuration stops every program the same way: exit 78
# and one line "FILE: [section] key: problem".  A daemon told to reload a
# broken configuration keeps the old one.  The samples in etc/ are what
# postroom-config prints (no drift between the key tables and the files).
. "$(dirname "$0")/../lib/harness.sh"

h_init 40-config
H_IMAP_PORT=1143 H_SMTP_PORT=1025
h_config_write || bail "cannot write the configuration"
base=$H_ETC

# every program, as a command line taking the config dir as $D
PROGRAMS=(
	'postroom-config check -c $D'
	'routed -c $D'
	'parsed -c $D -i 0'
	'agentd -c $D'
	'fetchd -c $D support'
)

# run PROGRAM DIR - run it (10 s at most); stderr in $H_DIR/err, status echoed
run() {
	local D=$2 cmd
	eval "cmd=(${1})"
	timeout -k 2 10 "$H_BIN/${cmd[0]}" "${cmd[@]:1}" > "$H_DIR/out" 2> "$H_DIR/err" < /dev/null
	echo $?
}

ok "the base configuration is valid" "$H_BIN/postroom-config" check -c "$base"

# check_case NAME ERE - every program exits 78 with one fatal line matching
# ERE, and all of them say the same thing
check_case() {
	local name=$1 ere=$2 p rc line first=
	for p in "${PROGRAMS[@]}"; do
		rc=$(run "$p" "$H_DIR/case")
		line=$(grep ': fatal: ' "$H_DIR/err" | head -n 1)
		prog=${p%% *}
		if [ "$rc" = 78 ] && printf '%s\n' "$line" | grep -Eq -- "$ere"; then
			pass "$name: $prog exits 78 naming it"
		else
			fail "$name: $prog exits 78 naming it" "exit $rc" "stderr: $(head -c 400 "$H_DIR/err")" \
			    "want a fatal line matching: $ere"
		fi
		# the same words from every program: compare what follows "fatal: "
		line=${line#*: fatal: }
		if [ -z "$first" ]; then
			first=$line
		elif [ "$line" != "$first" ]; then
			fail "$name: $prog says what postroom-config says" "got:  $line" "want: $first"
		fi
	done
}

# new_case - $H_DIR/case, a fresh copy of the valid configuration
new_case() {
	rm -rf "$H_DIR/case"
	cp -a "$base" "$H_DIR/case"
}

C=$H_DIR/case
A="$C/accounts/support.conf"
Are=$(printf '%s' "$A" | sed 's/[.[\*^$]/\\&/g')

new_case
sed -i '/^host = /d' "$A"
check_case "missing required key" "$Are: \\[account\\] host: .*(missing|required)"

new_case
echo 'colour = blue' >> "$A"
check_case "unknown key" "$Are: \\[account\\] colour: unknown key"

new_case
sed -i 's/^tls = .*/tls = maybe/' "$A"
check_case "bad enum value" "$Are: \\[account\\] tls: \"maybe\" is not one of implicit,starttls,none"

new_case
sed -i 's/^port = .*/port = imap/' "$A"
check_case "non-number port" "$Are: \\[account\\] port: \"imap\" is not a whole number"

new_case
sed -i 's/^port = .*/port = 99999/' "$A"
check_case "port out of range" "$Are: \\[account\\] port: 99999 is out of range"

new_case
sed -i 's/^group = .*/group = sales/' "$A"
check_case "account naming a missing group" "$Are: \\[account\\] group: no group \"sales\""

new_case
rm "$C/postroom.conf"
check_case "missing postroom.conf" "$(printf '%s' "$C/postroom.conf" | sed 's/[.[\*^$]/\\&/g'): file not found"

# fetchd for an account that has no file
new_case
rc=$(run 'fetchd -c $D nosuch' "$C")
ok "fetchd for an unknown account fails" test "$rc" != 0 -a "$rc" != 124
like "... naming it" "$(cat "$H_DIR/err")" 'nosuch'

# --check-config: load, say ok, exit 0 (and 78 on a bad file)
new_case
for p in 'routed -c $D' 'parsed -c $D -i 0' 'agentd -c $D' 'fetchd -c $D support'; do
	rc=$(run "${p%% *} --check-config ${p#* }" "$C")
	is "${p%% *} --check-config on a good configuration: exit 0" "$rc" 0
done
sed -i 's/^tls = .*/tls = maybe/' "$A"
for p in 'routed -c $D' 'agentd -c $D'; do
	rc=$(run "${p%% *} --check-config ${p#* }" "$C")
	is "${p%% *} --check-config on a bad one: exit 78" "$rc" 78
done

# SIGHUP with a broken file: log the problem, keep running on the old one
new_case
H_ETC=$C
h_start routed
wait_for '[ -S "$H_RUN/control.sock" ] || h_log routed | grep -q "info: started"' 10
ok "routed started" h_running routed
sed -i 's/^port = .*/port = imap/' "$A"
kill -HUP "$(h_pid routed)"
wait_for 'h_log routed | grep -q "port: \"imap\" is not a whole number"' 10
like "SIGHUP with a broken file: routed logs it" "$(h_log routed)" \
    "^routed: error: .*$Are: \\[account\\] port: \"imap\" is not a whole number"
ok "... and keeps running" h_running routed
h_stop routed
is "... and still stops with 0" "$?" 0

# the samples are the tables' own output
for pair in postroom:postroom.conf account:accounts/support.conf group:groups/support.conf agent:agents/ada.conf; do
	kind=${pair%%:*} file=${pair#*:}
	ok "etc/$file is 'postroom-config sample $kind'" \
	    diff -u "$H_ROOT/etc/$file" <("$H_BIN/postroom-config" sample "$kind")
done
ok "etc/ itself loads" "$H_BIN/postroom-config" check -c "$H_ROOT/etc"

finish
