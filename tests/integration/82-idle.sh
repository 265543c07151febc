#!/bin/bash
# 82-idle - IMAP IDLE: with check_interval = 300, a message saved into the
# mailbox is stored by routed within 2 s (fetchd fetches on "* N EXISTS");
# acks are taken while idling (after_fetch = seen happens at once); a server
# whose CAPABILITY has no IDLE is polled at check_interval instead.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 82-idle

# ms - milliseconds since the epoch
ms() { echo $(($(date +%s%N) / 1000000)); }

# --- a server with IDLE --------------------------------------------------------
fd_dovecot_start || bail "dovecot does not start"
fd_config "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    password_file=secrets/support.password check_interval=300 after_fetch=seen
fd_msg 1 || bail "doveadm save"
fd_start
fd_wait_stored 1 20 || bail "the first message never arrived"
like "fetchd says it uses IDLE" "$(h_log fetchd-support)" 'new mail by IDLE'
# the first check is done and IDLE entered: from now on only IDLE can bring mail
wait_for '[ "$(fd_flags | grep -c Seen)" = 1 ]' 10
sleep 1
worst=0
for i in 2 3 4; do
	t0=$(ms)
	fd_msg "$i" || bail "doveadm save"
	fd_wait_stored "$i" 10
	took=$(($(ms) - t0))
	note "message $i: saved to stored in $took ms"
	[ "$took" -gt "$worst" ] && worst=$took
	is "message $i arrives although check_interval is 300" "$(fd_stored)" "$i"
done
ok "... each within 2 s of being saved (worst ${worst} ms)" test "$worst" -lt 2000
# after_fetch = seen needs the ack: it came while idling, and was done at once
wait_for '[ "$(fd_flags | grep -c Seen)" = 4 ]' 5
is "acks taken while idling: all four \\Seen" "$(fd_flags | grep -c Seen)" 4
is "one connection all along" "$(h_log fetchd-support | grep -c 'connected to')" 1
h_stop fetchd-support
is "fetchd stops cleanly out of IDLE" "$?" 0
unlike "no error logged" "$(h_log fetchd-support)" ': error: '
h_stop routed
h_stop parsed-0
h_dovecot_stop
rm -rf "$H_DIR/dovecot" "$H_STATE" "$H_LOG"/*.log "$H_ETC/postroom.conf"

# --- a server without IDLE: polled -----------------------------------------------
FD_IMAP_CAPS="IMAP4rev1 LITERAL+ SASL-IR ID ENABLE NAMESPACE UIDPLUS MOVE"
fd_dovecot_start || bail "dovecot (no IDLE) does not start"
fd_config "port=$H_IMAP_PORT" tls=none allow_plaintext=yes \
    password_file=secrets/support.password check_interval=3
fd_msg 1 || bail "doveadm save"
fd_start
fd_wait_stored 1 20 || bail "the first message never arrived"
like "fetchd says it polls" "$(h_log fetchd-support)" 'no IDLE, polling'
sleep 1
fd_msg 2 || bail "doveadm save"
t0=$(ms)
fd_wait_stored 2 10
took=$(($(ms) - t0))
is "without IDLE the next check brings it" "$(fd_stored)" 2
note "polled: $took ms (check_interval 3 s)"
ok "... within check_interval and a bit" test "$took" -lt 5000
is "one connection, reused between polls" "$(h_log fetchd-support | grep -c 'connected to')" 1

finish
