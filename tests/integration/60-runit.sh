#!/bin/bash
# 60-runit - the service directories of etc/sv, copied as an operator would
# (fetchd-ACCOUNT -> fetchd-support), run under a real runsvdir: the
# pipeline delivers a message to the agent, svlogd keeps the logs, and
# `sv down` stops each service cleanly (exit 0).
. "$(dirname "$0")/../lib/harness.sh"

for t in runsvdir runsv sv svlogd; do
	command -v $t > /dev/null || { note "SKIP: $t is not installed (Debian: runit)"; echo "0 passed, 0 failed"; exit 0; }
done

h_init 60-runit
h_dovecot_start || bail "dovecot does not start"
h_smtpd_start || bail "tests/smtpd.py does not start"
h_config_write || bail "cannot write the configuration"

S=$H_DIR/service
mkdir -p "$S"
cp -R "$H_ROOT/etc/sv/routed" "$H_ROOT/etc/sv/parsed" "$H_ROOT/etc/sv/agentd" "$S/"
cp -R "$H_ROOT/etc/sv/fetchd-ACCOUNT" "$S/fetchd-support"
SERVICES="routed parsed agentd fetchd-support"
for s in $SERVICES; do
	ok "etc/sv: $s/run and $s/log/run are executable" test -x "$S/$s/run" -a -x "$S/$s/log/run"
	# the operator's settings, and (test only) a finish script that keeps
	# the daemon's exit code and signal (runsv passes them as $1 $2)
	printf 'POSTROOM_BIN=%s\nPOSTROOM_ETC=%s\n' "$H_BIN" "$H_ETC" > "$S/$s/conf"
	printf '#!/bin/sh\necho "$1 $2" >> ./exits\n' > "$S/$s/finish"
	chmod 755 "$S/$s/finish"
	H_EXTRA_LOGS+=("$S/$s/log/main/current")
done

env -u POSTROOM_BIN -u POSTROOM_ETC runsvdir -P "$S" 'log: ........................................' \
    > "$H_LOG/runsvdir.out" 2>&1 &
RUNSVDIR=$!
# at exit: every service down, then runsvdir (HUP: it TERMs each runsv and exits)
h_on_exit "for s in $SERVICES; do sv -w 10 force-stop $S/\$s; done; kill -HUP $RUNSVDIR; wait_for '! kill -0 $RUNSVDIR' 10"

wait_for h_agentd_up 30 || bail "agentd under runit does not answer"
for s in $SERVICES; do
	wait_for "sv status $S/$s | grep -q '^run: '" 10
	like "sv status $s: run" "$(sv status "$S/$s")" "^run: $S/$s: \\(pid [0-9]+\\)"
done
wait_for 'grep -q "fetchd\[support\]: info: started" "$S/fetchd-support/log/main/current"' 10
like "the fetchd-support copy runs fetchd for account support; svlogd keeps its log" \
    "$(cat "$S/fetchd-support/log/main/current" 2>/dev/null)" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9:.]+ fetchd\[support\]: info: started'

h_login
sse_start "$H_DIR/events"
ok "ready" api_ready
h_msg "$H_DIR/m1.eml" runit-1@customer.example "Eve <eve@customer.example>" \
    "Invoice copy please" "Could you send me a copy of invoice 2023-118?"
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"
wait_for '[ "$(sse_count "$H_DIR/events" assigned)" -ge 1 ]' 30
is "under runit, the message reaches the agent" "$(sse_data "$H_DIR/events" assigned | json .subject)" \
    "Invoice copy please"

# sv down: SIGTERM, a clean exit
for s in fetchd-support agentd parsed routed; do
	ok "sv down $s" sv -w 20 down "$S/$s"
	like "... it is down" "$(sv status "$S/$s")" "^down: $S/$s: "
	wait_for "[ -s $S/$s/exits ]" 5
	is "... its daemon exited 0" "$(tail -n 1 "$S/$s/exits" 2>/dev/null)" "0 0"
	wait_for "grep -q ': info: stopped' $S/$s/log/main/current" 5
	like "... saying stopped in its log" "$(cat "$S/$s/log/main/current")" ': info: stopped$'
done

finish
