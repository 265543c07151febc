#!/bin/bash
# 84-backfill - backfill_days = 7: the first sync of a folder holding mail
# of 30, 10, 2 and 0 days ago takes the last two only; after the first sync
# every new message is taken, whatever its date.  Without backfill_days the
# whole folder is taken.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 84-backfill
fd_dovecot_start || bail "dovecot does not start"
# the folder's history: internal dates 30, 10 and 2 days back, and today
fd_msg 1 30 && fd_msg 2 10 && fd_msg 3 2 && fd_msg 4 0 || bail "cannot fill the mailbox"
fd_config "port=$H_IMAP_PORT" tls=none allow_plaintext=yes \
    password_file=secrets/support.password check_interval=1 backfill_days=7
fd_start
fd_wait_stored 2 20
sleep 2		# more checks: nothing older may follow
ids=$(fd_sql "SELECT message_id FROM messages ORDER BY uid" | tr '\n' ' ')
is "the first sync takes the last 7 days only" "$ids" "fd-3@test fd-4@test "
like "... and says so" "$(h_log fetchd-support)" 'backfill_days = 7 takes the 2 messages since'
like "... starting just below the oldest taken" "$(h_log fetchd-support)" 'since .* \(uid above 2\)'
wait_for '[ "$(sed -n "s/^uid=//p" "$H_STATE/fetchd/support.state")" = 4 ]' 15
is "... the mark is past both once acknowledged" \
    "$(sed -n 's/^uid=//p' "$H_STATE/fetchd/support.state")" 4
# after the first sync: an old-dated message arriving now is new mail
fd_msg 5 40 || bail "cannot append"
fd_wait_stored 3 20
is "later, new mail is taken whatever its date" "$(fd_sql "SELECT message_id FROM messages WHERE uid = 5")" fd-5@test
h_stop fetchd-support
is "... and a restart does not go back" "$(fd_stored)" 3

# the same folder, backfill_days = 0 (the default): everything
h_stop routed
rm -rf "$H_STATE/fetchd" "$H_STATE/postroom.db"* "$H_LOG/routed.log"
fd_config "port=$H_IMAP_PORT" tls=none allow_plaintext=yes \
    password_file=secrets/support.password check_interval=1
h_start routed
fd_up routed
h_start fetchd-support
fd_wait_stored 5 20
is "without backfill_days the whole folder is taken" "$(fd_stored)" 5

finish
