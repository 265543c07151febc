#!/bin/bash
# 30-restart - at-least-once on the wire, exactly-once in the store.
#
# routed is frozen (SIGSTOP) while fetchd fetches N messages, so no ack can
# reach fetchd; once parsed has passed all of them on, fetchd is killed -9.
# routed thaws and stores them, acking into the void; the restarted fetchd
# has moved no mark, sends them all again, and routed must answer
# "duplicate" and store nothing twice.  Then every daemon stops on SIGTERM
# with status 0.
. "$(dirname "$0")/../lib/harness.sh"

N=12
H_RESEND_TIMEOUT=3
h_init 30-restart
h_dovecot_start || bail "dovecot does not start"
h_smtpd_start || bail "tests/smtpd.py does not start"
h_config_write || bail "cannot write the configuration"

for n in routed parsed-0 agentd; do
	h_start "$n" || bail "$n is missing"
done
wait_for h_agentd_up 20 || bail "agentd does not answer"

for i in $(seq 1 $N); do
	h_msg "$H_DIR/m$i.eml" "restart-$i@customer.example" "Customer $i <c$i@customer.example>" \
	    "Order question $i" "Message number $i."
	h_mail_save "$H_DIR/m$i.eml" || bail "doveadm save failed"
done
uv=$(h_mail_uidvalidity)

# watch parsed and routed; wait until the watcher is connected to both
tap_start "$H_DIR/parsed.tap" parsed
tap_start "$H_DIR/routed.tap" routed
tap_connected() { [ "$(ss -xH state established 2>/dev/null | grep -c "$H_RUN/tap/$1.sock")" -ge 1 ]; }
wait_for "tap_connected parsed-0 && tap_connected routed" 10 || fail "postroom-tap connected to the taps"

count() { grep -c "$2" "$1" 2>/dev/null || true; }	# FILE ERE
parsed_n() { count "$H_DIR/parsed.tap" '"type":"parsed.1"'; }
stored_n() { count "$H_DIR/routed.tap" '"status":"stored"'; }
dup_n() { count "$H_DIR/routed.tap" '"status":"duplicate"'; }

kill -STOP "$(h_pid routed)"
h_start fetchd-support
wait_for '[ "$(parsed_n)" -ge $N ]' 40
is "with routed frozen, parsed passed on all $N messages" "$(parsed_n)" $N
kill -KILL "$(h_pid fetchd-support)"
wait_for '! h_running fetchd-support' 5
kill -CONT "$(h_pid routed)"

wait_for '[ "$(stored_n)" -ge $N ]' 40
is "routed stored all $N once it woke up" "$(stored_n)" $N
h_start fetchd-support
wait_for '[ "$(dup_n)" -ge $N ]' 60
ok "the restarted fetchd sent them all again: routed said duplicate for each" \
    sh -c "[ $(dup_n) -ge $N ]"
is "still $N stored, none twice" "$(stored_n)" $N
keys=$(jq -r 'select(.type == "ack.1" and .status == "stored") | .key' "$H_DIR/routed.tap" | sort -u)
is "the stored keys are the mailbox's $N" "$keys" "$(for i in $(seq 1 $N); do echo "support/$uv/$i"; done | sort)"

# the agent works through the queue: N conversations of one message each
h_login
ok "ready" api_ready
subjects=
for i in $(seq 1 $N); do
	wait_for '[ "$(api_me_conversation)" != null ]' 20 || break
	id=$(api_me_conversation)
	c=$(api GET "/api/conversations/$id")
	subjects="$subjects$(printf '%s' "$c" | json '"\(.subject) (\(.messages | length))"')
"
	api POST "/api/conversations/$id/disposition" '{"disposition":"DONE"}' > /dev/null
done
is "the agent got each message once, in a conversation of its own" "$(printf '%s' "$subjects" | sort)" \
    "$(for i in $(seq 1 $N); do echo "Order question $i (1)"; done | sort)"
is "then nothing more" "$(api_me_conversation)" null

# the database (routed keeps STATE_DIR/postroom.db and postroom.db-raw/), when
# sqlite3 is there
if command -v sqlite3 > /dev/null; then
	db=$H_STATE/postroom.db
	q() { sqlite3 "file:$db?mode=ro" "$1" 2>&1; }
	is "sqlite: $N messages, all in" "$(q "SELECT count(*), count(DISTINCT \"key\") FROM messages WHERE direction = 'in'")" "$N|$N"
	is "sqlite: $N conversations, all closed DONE" "$(q "SELECT count(*) FROM conversations WHERE status = 'closed' AND disposition = 'DONE'")" $N
	# the raw messages, in the spool beside it: each as the server sent it
	# (CRLF), and nothing written for the duplicates
	same=0
	for i in $(seq 1 $N); do
		where=$(q "SELECT raw_segment, raw_offset, raw_length FROM messages WHERE \"key\" = 'support/$uv/$i'")
		IFS='|' read -r seg off len <<< "$where"
		seg=$(printf '%s-raw/%08d' "$db" "$seg")
		cmp -s <(tail -c +$((off + 1)) "$seg" | head -c "$len") <(sed 's/$/\r/' "$H_DIR/m$i.eml") &&
		    same=$((same + 1))
	done
	is "spool: the raw message of each of the $N, byte for byte" "$same" $N
	is "spool: as long as the $N messages, not a byte more" \
	    "$(cat "$db"-raw/* | wc -c)" "$(q "SELECT sum(raw_length) FROM messages")"
else
	note "sqlite3 is not installed: the database is not looked at"
fi

is "the mailbox still holds $N" "$(h_mail_count)" $N
is "no \\Seen flag set" "$(h_mail_seen)" 0

# SIGTERM: every daemon stops cleanly
for n in fetchd-support agentd parsed-0 routed; do
	h_stop "$n"
	is "$n exits 0 on SIGTERM" "$?" 0
	like "... and says stopped" "$(h_log "$n")" ': info: stopped$'
done

finish
