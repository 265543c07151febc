#!/bin/bash
# 81-imap-login - how fetchd reaches an IMAP mailbox: IMAPS and STARTTLS
# with the test CA; certificates checked by default, tls_verify = no only
# when written (and warned about at every start); tls = none refused (exit
# 78) without allow_plaintext = yes; SASL CRAM-MD5, PLAIN, LOGIN and the
# LOGIN command; a mechanism the server lacks said as such; a wrong password
# backed off from a minute, said once; password_command, and a failing one
# named with its exit status; check_interval under a minute warned about for
# a remote host.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 81-imap-login
fd_dovecot_start || bail "dovecot does not start"
PW=password_file=secrets/support.password
fd_config "port=$H_IMAP_PORT" tls=none allow_plaintext=yes "$PW"
h_start routed
h_start parsed-0
fd_up routed parsed-0

# reach NAME KEYS... - an account of those keys fetches one new message
n=0
reach() {
	local name=$1 lines
	shift
	n=$((n + 1))
	fd_config check_interval=1 "$@"
	fd_msg "$n" || bail "doveadm save"
	lines=$(h_log fetchd-support | wc -l)
	h_start fetchd-support
	fd_wait_stored "$n" 20
	is "$name: the message is stored" "$(fd_stored)" "$n"
	h_stop fetchd-support
	LOG=$(h_log fetchd-support | tail -n +$((lines + 1)))
	unlike "... no error" "$LOG" ': error: '
}

# start_only KEYS... - fetchd with an account of those keys, for a few seconds
start_only() {
	local lines
	fd_config "$@"
	lines=$(h_log fetchd-support | wc -l)
	h_start fetchd-support
	sleep "${WAIT:-3}"
	LOG=$(h_log fetchd-support | tail -n +$((lines + 1)))
}

reach "IMAPS, certificate checked against tls_ca_file" "port=$H_IMAPS_PORT" tls=implicit \
    "tls_ca_file=$H_CA" "$PW"
unlike "... no warning about the certificate" "$LOG" 'tls_verify'
reach "STARTTLS, required" "port=$H_IMAP_PORT" tls=starttls "tls_ca_file=$H_CA" "$PW"
reach "SASL CRAM-MD5" "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" "$PW" auth=cram-md5
reach "SASL PLAIN" "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" "$PW" auth=plain
reach "SASL LOGIN" "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" "$PW" auth=login
reach "the LOGIN command (auth = pass)" "port=$H_IMAP_PORT" tls=none allow_plaintext=yes "$PW" \
    auth=pass
reach "password_command" "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "password_command=printf '%s\\n' '$FD_PW'"

# without tls_ca_file the test CA is unknown: refused, said in words
start_only "port=$H_IMAPS_PORT" tls=implicit "$PW"
like "an unknown CA: the certificate is not trusted" "$LOG" 'certificate of 127.0.0.1:[0-9]+ not trusted'
h_stop fetchd-support
# ... unless tls_verify = no is written, which is warned about at every start
n=$((n + 1))
fd_msg "$n"
start_only "port=$H_IMAPS_PORT" tls=implicit "$PW" tls_verify=no
fd_wait_stored "$n" 20
is "tls_verify = no: connects to an unknown certificate" "$(fd_stored)" "$n"
like "... with a warning at start" "$LOG" 'warn: tls_verify = no: the certificate of 127.0.0.1 is not checked'
kill -HUP "$(h_pid fetchd-support)"
wait_for 'h_log fetchd-support | grep -c "tls_verify = no" | grep -q 2' 10
is "... and again at a reload" "$(h_log fetchd-support | grep -c 'tls_verify = no')" 2
h_stop fetchd-support

# tls = none with a password: refused unless allowed
fd_config "port=$H_IMAP_PORT" tls=none "$PW"
out=$("$H_BIN/fetchd" -c "$H_ETC" support 2>&1)
is "tls = none without allow_plaintext: exit 78" "$?" 78
like "... saying why and what to write" "$out" \
    'tls: none would send the password to 127.0.0.1 in the clear: use tls = starttls or implicit, or set allow_plaintext = yes'
"$H_BIN/fetchd" -c "$H_ETC" --check-config support > /dev/null 2>&1
is "... --check-config says so too (78)" "$?" 78

# a mechanism the server does not offer: said as such, not as a wrong password
WAIT=2 start_only "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "oauth2_token_command=echo not-a-token" auth=xoauth2
like "a mechanism the server lacks is named" "$LOG" 'does not offer XOAUTH2 \(auth = xoauth2; it offers: .*CRAM-MD5'
unlike "... not taken for a refused login" "$LOG" 'login refused'
h_stop fetchd-support

# a wrong password: one line, and a minute before the next try
printf 'wrong-password-Zq81\n' > "$H_DIR/wrong.pw"
chmod 600 "$H_DIR/wrong.pw"
dlines=$(wc -l < "$H_DIR/dovecot/dovecot.log")
WAIT=6 start_only "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "password_file=$H_DIR/wrong.pw"
like "a wrong password: login refused" "$LOG" 'error: login refused for support on 127.0.0.1:[0-9]+: check user and password'
like "... backed off a minute, doubling to an hour" "$LOG" 'retrying in 60s, doubling up to 3600s'
is "... said once in 6 s" "$(printf '%s\n' "$LOG" | grep -c 'login refused')" 1
is "... tried once in 6 s (Dovecot's log)" \
    "$(tail -n +$((dlines + 1)) "$H_DIR/dovecot/dovecot.log" | grep -c 'auth failed')" 1
ok "... fetchd keeps running" h_running fetchd-support
h_stop fetchd-support
unlike "... the password never reaches the log" "$(h_log fetchd-support)" 'wrong-password-Zq81|imap-secret-1'

# a failing password_command: its exit status, never its output
WAIT=2 start_only "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "password_command=echo leaked-secret-out; echo 'vault sealed' >&2; exit 3"
like "a failing password_command: its exit status and stderr" "$LOG" \
    'password_command: the command exited with status 3: vault sealed'
unlike "... never its output" "$LOG" 'leaked-secret-out'
h_stop fetchd-support

# check_interval under a minute: warned about for a remote host only
WAIT=1 start_only host=mail.invalid "$PW" check_interval=5
like "check_interval 5 on a remote host: a warning" "$LOG" 'warn: check_interval = 5: providers may throttle'
h_stop fetchd-support
WAIT=1 start_only "port=$H_IMAP_PORT" tls=none allow_plaintext=yes "$PW"
unlike "... none for a loopback host" "$LOG" 'check_interval'
h_stop fetchd-support

finish
