#!/bin/bash
# 80-pop3 - fetchd on POP3 and POP3S against a real Dovecot: USER/PASS,
# APOP, CRAM-MD5 and the best the server offers; keys ACCOUNT/pop3/UIDL;
# the state file keeps the acknowledged UIDLs, so a restart fetches nothing
# again; after_fetch = delete deletes only what routed has acknowledged.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 80-pop3
fd_dovecot_start || bail "dovecot does not start"
SECRET=password_file=secrets/support.password

# login CASE KEYS... - one account of those keys fetches one new message
n=0
login() {
	local name=$1
	shift
	n=$((n + 1))
	fd_config protocol=pop3 check_interval=1 "$SECRET" "$@"
	fd_msg "$n" || bail "doveadm save"
	h_start fetchd-support
	fd_wait_stored "$n" 20
	is "$name: the message is stored" "$(fd_stored)" "$n"
	h_stop fetchd-support
	is "... fetchd stops cleanly" "$?" 0
	unlike "... no error logged" "$(h_log fetchd-support)" ': error: '
}

fd_config protocol=pop3 "$SECRET"
h_start routed
h_start parsed-0
fd_up routed parsed-0
login "POP3, USER/PASS (auth = pass)" "port=$H_POP3_PORT" tls=none allow_plaintext=yes auth=pass
login "POP3, APOP" "port=$H_POP3_PORT" tls=none allow_plaintext=yes auth=apop
login "POP3S, CRAM-MD5" "port=$H_POP3S_PORT" tls=implicit "tls_ca_file=$H_CA" auth=cram-md5
login "POP3 STARTTLS (STLS), the best offered" "port=$H_POP3_PORT" tls=starttls "tls_ca_file=$H_CA"
login "POP3S, SASL PLAIN" "port=$H_POP3S_PORT" tls=implicit "tls_ca_file=$H_CA" auth=plain

# keys and metadata
keys=$(fd_sql "SELECT \"key\" FROM messages ORDER BY id")
like "keys are ACCOUNT/pop3/UIDL" "$(printf '%s\n' "$keys" | head -n 1)" '^support/pop3/[0-9a-fA-F]{16}$'
is "... one per message" "$(printf '%s\n' "$keys" | sort -u | wc -l)" 5
is "... no uidvalidity or uid stored" "$(fd_sql 'SELECT count(*) FROM messages WHERE uidvalidity IS NULL AND uid IS NULL')" 5
uidls=$(grep -c '^uidl=' "$H_STATE/fetchd/support.state")
is "the state file holds the 5 acknowledged UIDLs" "$uidls" 5
ok "... and says it is POP3's" grep -q '^protocol=pop3$' "$H_STATE/fetchd/support.state"
body=$(fd_sql "SELECT text_body FROM messages ORDER BY id LIMIT 1")
like "a line starting with a dot arrives unstuffed" "$body" '^\.a line with a leading dot$'

# a restart fetches nothing again: the UIDLs are known
fd_config protocol=pop3 check_interval=1 "$SECRET" "port=$H_POP3_PORT" tls=none allow_plaintext=yes
lines=$(h_log fetchd-support | wc -l)
h_start fetchd-support
wait_for 'h_log fetchd-support | tail -n +$((lines + 1)) | grep -q "connected to"' 20
sleep 2		# two more checks
is "a restart fetches nothing again" "$(fd_stored)" 5
unlike "... says nothing is new" "$(h_log fetchd-support | tail -n +$((lines + 1)))" 'new message'
h_stop fetchd-support
is "the mailbox keeps its mail (after_fetch = keep)" "$(fd_count)" 5

# after_fetch = delete: nothing is deleted while routed does not acknowledge
h_stop routed
fd_config protocol=pop3 check_interval=1 "$SECRET" "port=$H_POP3_PORT" tls=none \
    allow_plaintext=yes after_fetch=delete
fd_msg 6 || bail "doveadm save"
h_start fetchd-support
# a session waits up to 10 s for acks before its QUIT (which deletes)
wait_for '[ "$(fd_count)" -le 1 ]' 30
sleep 3		# more checks (check_interval 1): the new one is never acknowledged
is "delete: without routed's ack, only the acknowledged 5 go" "$(fd_count)" 1
is "... the one left is the new one" \
    "$(fd_doveadm -f flow search -u "$FD_USER" mailbox INBOX header Message-ID fd-6@test | wc -l)" 1
h_start routed
fd_up routed
fd_wait_stored 6 30
wait_for '[ "$(fd_count)" = 0 ]' 20
is "... once routed has it, it goes too" "$(fd_count)" 0
wait_for '! grep -q "^uidl=" "$H_STATE/fetchd/support.state"' 10
is "... and the state forgets UIDLs no longer on the server" \
    "$(grep -c '^uidl=' "$H_STATE/fetchd/support.state")" 0
is "routed stored each message once" "$(fd_stored)" 6

finish
