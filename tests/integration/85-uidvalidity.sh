#!/bin/bash
# 85-uidvalidity - the folder is rebuilt under a new UIDVALIDITY: fetchd asks
# routed which Message-IDs it has (control op message_ids), matches the
# renumbered messages, and fetches only the one it lacks; rebuilt again with
# mostly unknown mail, fewer than half match and the account stops with an
# error instead of guessing (nothing fetched, the state file left alone).
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 85-uidvalidity
fd_dovecot_start || bail "dovecot does not start"
fd_doveadm mailbox create -u "$FD_USER" Box || bail "doveadm mailbox create"
fd_msg 1 0 Box && fd_msg 2 0 Box && fd_msg 3 0 Box || bail "doveadm save"
fd_config "port=$H_IMAP_PORT" tls=none allow_plaintext=yes \
    password_file=secrets/support.password check_interval=1 folder=Box
fd_start
fd_wait_stored 3 20 || bail "the first three never arrived"
uv() { fd_doveadm -f flow mailbox status -u "$FD_USER" uidvalidity Box | sed 's/.*uidvalidity=//'; }
old=$(uv)
wait_for "grep -q '^uid=3\$' '$H_STATE/fetchd/support.state'" 15
h_stop fetchd-support

# rebuild: the same three in another order, one new among them
# new uids: 1 = fd-3, 2 = fd-9 (new), 3 = fd-1, 4 = fd-2
rebuild() {
	fd_doveadm mailbox delete -u "$FD_USER" Box || return 1
	fd_doveadm mailbox create -u "$FD_USER" Box || return 1
	fd_doveadm mailbox update -u "$FD_USER" --uid-validity "$1" Box || return 1
	shift
	for n in "$@"; do fd_msg "$n" 0 Box || return 1; done
}
rebuild $((old + 1000)) 3 9 1 2 || bail "cannot rebuild the folder"
is "the folder has a new UIDVALIDITY" "$(uv)" $((old + 1000))
lines=$(h_log fetchd-support | wc -l)
h_start fetchd-support
fd_wait_stored 4 20
sleep 2		# more checks: nothing else may come
log=$(h_log fetchd-support | tail -n +$((lines + 1)))
like "fetchd matches by Message-ID" "$log" "uidvalidity of Box changed from $old to $((old + 1000)): 3 of its 4 messages matched by Message-ID; fetching the other 1"
is "only the new message is fetched" "$(fd_stored)" 4
is "... it is fd-9, under the new UIDVALIDITY" \
    "$(fd_sql "SELECT \"key\" FROM messages WHERE message_id = 'fd-9@test'")" "support/$((old + 1000))/2"
is "no message stored twice" "$(fd_sql 'SELECT count(DISTINCT message_id) FROM messages')" 4
wait_for "grep -q '^uid=4\$' '$H_STATE/fetchd/support.state'" 15
is "the state follows the new UIDVALIDITY, mark 4" \
    "$(grep -E '^(uidvalidity|uid)=' "$H_STATE/fetchd/support.state" | tr '\n' ' ')" \
    "uidvalidity=$((old + 1000)) uid=4 "
h_stop fetchd-support
cp "$H_STATE/fetchd/support.state" "$H_DIR/state.before"

# rebuilt with mostly strangers: 1 of 4 known
rebuild $((old + 2000)) 1 20 21 22 || bail "cannot rebuild the folder again"
lines=$(h_log fetchd-support | wc -l)
h_start fetchd-support
wait_for 'h_log fetchd-support | tail -n +$((lines + 1)) | grep -q "refusing to guess"' 20
log=$(h_log fetchd-support | tail -n +$((lines + 1)))
like "fewer than half match: the account stops with an error" "$log" \
    "error: uidvalidity of Box changed .*: only 1 of its 4 messages have a Message-ID routed has: refusing to guess"
sleep 2
is "... nothing is fetched" "$(fd_stored)" 4
ok "... fetchd keeps running (for the operator to act)" h_running fetchd-support
ok "... the state file is left as it was" cmp -s "$H_DIR/state.before" "$H_STATE/fetchd/support.state"

# the operator removes the state file and sends SIGHUP: the folder is fetched again
rm -f "$H_STATE/fetchd/support.state"
kill -HUP "$(h_pid fetchd-support)"
fd_wait_stored 8 20
is "after the state file is removed and SIGHUP, the whole folder comes again" "$(fd_stored)" 8

finish
