#!/bin/bash
# 50-failures - fetchd facing a broken mailbox says why in one line and
# keeps trying: nothing listening, then a wrong password; fixing the
# password file and sending SIGHUP lets it fetch.  No secret in any log.
. "$(dirname "$0")/../lib/harness.sh"

WRONG_PW=wrong-password-Zq81
h_init 50-failures
h_dovecot_start || bail "dovecot does not start"
h_smtpd_start || bail "tests/smtpd.py does not start"
h_config_write || bail "cannot write the configuration"
A=$H_ETC/accounts/support.conf
closed=$(h_free_port)		# nothing listens there
sed -i "s/^port = .*/port = $closed/" "$A"

h_msg "$H_DIR/m1.eml" fail-1@customer.example "Dana <dana@customer.example>" \
    "Cannot log in to my account" "Hello, I cannot log in since yesterday."
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"
h_pipeline_start

# 1. nothing listening
cause='refused|nothing (is )?listening|not listening|could ?n.t connect|unable to connect|connect(ion)? failed'
wait_for 'h_log fetchd-support | grep -Eiq "$cause"' 20
like "nothing listening: fetchd names the cause" "$(h_log fetchd-support)" "$cause"
sleep 6		# fetchd retries within 5 s: by now it has, and must not have said it again
ok "... keeps running" h_running fetchd-support
is "... in one line, not one per retry" "$(h_log fetchd-support | grep -Eic "$cause")" 1

# 2. the right port, the wrong password
printf '%s\n' "$WRONG_PW" > "$H_ETC/secrets/support.password"
sed -i "s/^port = .*/port = $H_IMAP_PORT/" "$A"
kill -HUP "$(h_pid fetchd-support)"
refused='(login|auth|credentials|password).*(refused|fail|rejected|denied|invalid|wrong)|AUTHENTICATIONFAILED'
wait_for 'h_log fetchd-support | grep -Eiq "$refused"' 30
like "wrong password: fetchd says the login was refused" "$(h_log fetchd-support)" "$refused"
ok "... keeps running" h_running fetchd-support

# 3. fix the password, SIGHUP: the mail comes through
h_login
sse_start "$H_DIR/events"
ok "ready" api_ready
printf '%s\n' "$H_IMAP_PW" > "$H_ETC/secrets/support.password"
kill -HUP "$(h_pid fetchd-support)"
wait_for '[ "$(sse_count "$H_DIR/events" assigned)" -ge 1 ]' 30
is "after the fix and SIGHUP the message is fetched and assigned" \
    "$(sse_data "$H_DIR/events" assigned | json .subject)" "Cannot log in to my account"
ok "fetchd still runs" h_running fetchd-support
is "no \\Seen flag set" "$(h_mail_seen)" 0

# secrets never reach a log
leaks=$(grep -lF -e "$H_IMAP_PW" -e "$WRONG_PW" -e "$H_SMTP_PW" -e "$H_AGENT_PW" "$H_LOG"/*.log 2>/dev/null |
    grep -v -e dovecot -e smtpd)
is "no password in any daemon's log" "$leaks" ""

finish
