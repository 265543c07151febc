#!/bin/bash
# 75-check - `fetchd --check ACCOUNT` against real servers: every step "ok"
# with the right settings (beside a running fetchd for the same account), and
# each mistake an operator makes gives its cause in words and its exit
# status: a host that does not resolve, a closed port, a wrong password, a
# certificate nobody trusts, the TLS mode that does not match the port (both
# ways), a folder that does not exist, a provider limiting connections, a
# refused SMTP AUTH.  --send-test delivers to the SMTP server.  POP3 too.
. "$(dirname "$0")/../lib/harness.sh"

h_init 75-check
h_dovecot_start || bail "dovecot does not start"
h_smtpd_start || bail "tests/smtpd.py does not start"
h_config_write || bail "cannot write the configuration"
A=$H_ETC/accounts/support.conf
IMAP_PW_FILE=$H_ETC/secrets/support.password
SMTP_PW_FILE=$H_ETC/secrets/support-smtp.password
$H_DOVEADM -c "$H_DOVECONF" mailbox create -u "$H_IMAP_USER" Archive ||
    bail "doveadm cannot create a folder"
for i in 1 2 3; do
	h_msg "$H_DIR/m$i.eml" "check-$i@customer.example" "Dana <dana@customer.example>" \
	    "Question $i" "Hello, question $i."
	h_mail_save "$H_DIR/m$i.eml" || bail "doveadm save failed"
done

# the account as it should be: IMAPS with the test CA, SMTP with STARTTLS
cat > "$A.good" <<EOF
[account]
host = 127.0.0.1
port = $H_IMAPS_PORT
tls = implicit
tls_ca_file = $H_CA
user = $H_IMAP_USER
password_file = secrets/support.password
check_interval = 1
group = support
reply_address = $H_REPLY_ADDR
reply_name = $H_REPLY_NAME
smtp_host = 127.0.0.1
smtp_port = $H_SMTP_PORT
smtp_tls = starttls
smtp_user = $H_SMTP_USER
smtp_password_file = secrets/support-smtp.password
EOF

# reset - the good account file back
reset() { cp "$A.good" "$A"; }

# set_key KEY VALUE - in the account file, replacing the key or adding it
set_key() {
	if grep -q "^$1 = " "$A"; then
		sed -i "s|^$1 = .*|$1 = $2|" "$A"
	else
		printf '%s = %s\n' "$1" "$2" >> "$A"
	fi
}

# check [ARGS...] - fetchd --check: its output in $OUT, its status in $RC
# (SHOW=1 prints them)
check() {
	OUT=$("$H_BIN/fetchd" -c "$H_ETC" --check "$@" support 2>&1)
	RC=$?
	[ -n "${SHOW:-}" ] && printf '%s\n' "$OUT" "(exit $RC)" | sed 's/^/#   /'
	return 0
}

# step_line WHAT - the line of the step whose name starts with WHAT
step_line() { printf '%s\n' "$OUT" | grep -F -- "support: $1" | head -n 1; }

# ---- all good, beside the daemon -------------------------------------------
reset
h_start fetchd-support
wait_for '$H_DOVEADM -c "$H_DOVECONF" who 2>/dev/null | grep -q "$H_IMAP_USER"' 20 ||
    bail "fetchd does not log in: $(h_log fetchd-support | tail -n 3)"
check --send-test someone@customer.example
is "all good: exit 0 while fetchd runs for the same account" "$RC" 0
is "... eleven steps, each ok, then the verdict" \
    "$(printf '%s\n' "$OUT" | grep -Ec '^support: .* \.\.\. ok( \(.*\))?$'):$(printf '%s\n' "$OUT" | tail -n 1)" \
    "11:support: all checks passed"
unlike "... no step failed or skipped" "$OUT" '\.\.\. (failed|not used)'
like "... the name lookup gives the address" "$(step_line "127.0.0.1: name lookup")" 'ok \(127\.0\.0\.1\)$'
like "... TLS says its version and a verified certificate" "$(step_line "TLS (implicit)")" \
    'ok \(TLSv1\.[23], certificate verified\)$'
is "... the login names the user" "$(step_line "login as")" "support: login as support ... ok"
is "... the folder's message count is the mailbox's" "$(step_line "folder INBOX")" \
    "support: folder INBOX ... ok ($(h_mail_count) messages)"
like "... SMTP STARTTLS ok" "$(step_line "SMTP STARTTLS")" 'ok \(TLSv1\.[23], certificate verified\)$'
like "... EHLO lists the extensions, AUTH with its methods" "$(step_line "SMTP EHLO")" \
    'ok \(.*SIZE.*AUTH LOGIN PLAIN.*\)$'
is "... SMTP AUTH as the SMTP user" "$(step_line "SMTP AUTH")" "support: SMTP AUTH as $H_SMTP_USER ... ok"
like "... the test message is taken" "$(step_line "SMTP test message to someone@customer.example")" \
    'ok \(250 .*queued as 1\)$'
ok "... fetchd still runs" h_running fetchd-support
if [ -f "$H_OUTBOX/1.eml" ]; then
	is "--send-test: delivered to the address" "$(jq -r '.rcpt_tos | join(",")' "$H_OUTBOX/1.json")" \
	    someone@customer.example
	is "... from the reply address" "$(jq -r .mail_from "$H_OUTBOX/1.json")" "$H_REPLY_ADDR"
	is "... after AUTH as the SMTP user, over TLS" \
	    "$(jq -r '"\(.auth_user) \(.tls)"' "$H_OUTBOX/1.json")" "$H_SMTP_USER true"
	is "... From is the account's identity" "$(eml_header "$H_OUTBOX/1.eml" From)" \
	    "$H_REPLY_NAME <$H_REPLY_ADDR>"
	is "... Subject names the account" "$(eml_header "$H_OUTBOX/1.eml" Subject)" \
	    "postroom connection test (support)"
	like "... it has a Date and a Message-ID" \
	    "$(eml_header "$H_OUTBOX/1.eml" Date)|$(eml_header "$H_OUTBOX/1.eml" Message-ID)" \
	    '^[A-Z][a-z]{2}, [0-9]+ [A-Z][a-z]{2} 20[0-9]{2} [0-9:]{8} [+-][0-9]{4}\|<[0-9a-f-]{36}@postroom\.test>$'
	like "... and a line of text" "$(eml_body "$H_OUTBOX/1.eml")" 'test message from postroom'
else
	fail "--send-test: nothing arrived at the SMTP server" "$(ls "$H_OUTBOX")"
fi

# ---- the provider limits connections ----------------------------------------
# Dovecot refuses a second login from the same user and address while fetchd
# holds one: "NO [LIMIT] Maximum number of connections ... exceeded"
printf 'protocol imap {\n  mail_max_userip_connections = 1\n}\n' >> "$H_DOVECONF"
$H_DOVEADM -c "$H_DOVECONF" reload || bail "doveadm reload failed"
wait_for 'check; [ "$RC" = 75 ]' 20	# once the reload has taken effect
like "connections limited: the cause is throttling or a lock" "$(step_line "login as")" \
    'failed: the provider is throttling or has locked the mailbox: check less often \(check_interval\).*\(server: "NO \[LIMIT\] Maximum number of connections'
is "... exit 75 (EX_TEMPFAIL)" "$RC" 75
ok "... fetchd still runs" h_running fetchd-support
h_stop fetchd-support
sed -i '/^protocol imap {$/,/^}$/d' "$H_DOVECONF"
$H_DOVEADM -c "$H_DOVECONF" reload || bail "doveadm reload failed"
wait_for 'check; [ "$RC" = 0 ]' 20 || fail "the check does not pass again once the limit is lifted"

# ---- the mailbox side, one mistake at a time ---------------------------------
reset
set_key host nonexistent.invalid
check
is "wrong host: host not found, with the key and file to fix" "$(step_line "nonexistent.invalid")" \
    "support: nonexistent.invalid: name lookup ... failed: host not found: check the spelling of host in $A"
unlike "... no further mailbox step" "$OUT" 'TLS \(implicit\)|login as'
is "... SMTP is still checked" "$(step_line "SMTP AUTH")" "support: SMTP AUTH as $H_SMTP_USER ... ok"
is "... exit 69 (EX_UNAVAILABLE)" "$RC" 69

reset
closed=$(h_free_port)
set_key port "$closed"
check
like "closed port: nothing is listening" "$(step_line "127.0.0.1:$closed: connection")" \
    "failed: nothing is listening on 127\\.0\\.0\\.1:$closed \\(connection refused\\): check port in $A"
is "... exit 69" "$RC" 69

reset
cp "$IMAP_PW_FILE" "$H_DIR/imap.password"
printf 'wrong-password-Zq81\n' > "$IMAP_PW_FILE"
check
like "wrong password: login refused, what to check" "$(step_line "login as")" \
    '^support: login as support \.\.\. failed: login refused: check user — some providers want the full address, others the local part — and the password; Gmail and Microsoft 365 need an app password or OAuth2 \(server: "NO \[AUTHENTICATIONFAILED\]'
is "... exit 77 (EX_NOPERM)" "$RC" 77
unlike "... the password is not printed" "$OUT" 'wrong-password-Zq81'
cp "$H_DIR/imap.password" "$IMAP_PW_FILE"

reset
chmod 644 "$IMAP_PW_FILE"
check
like "a secret file others can read: the login is not tried" "$(step_line "login as")" \
    'failed: .*password_file.*(mode|0600|permission)'
like "... TLS was checked all the same" "$(step_line "TLS (implicit)")" '\.\.\. ok'
is "... exit 78 (EX_CONFIG)" "$RC" 78
chmod 600 "$IMAP_PW_FILE"

reset
sed -i '/^tls_ca_file = /d' "$A"
check
like "a certificate signed by an unknown CA: not trusted, what to set" "$(step_line "TLS (implicit)")" \
    'failed: certificate not trusted \(.*(local issuer|self.signed).*\): set tls_ca_file to the CA that signed it, or check the host name'
unlike "... no login without trusted TLS" "$OUT" 'login as'
is "... exit 69" "$RC" 69

reset
set_key port "$H_IMAP_PORT"
check
like "tls = implicit on the plain port: the mode does not match" "$(step_line "TLS (implicit)")" \
    "failed: TLS mode does not match the port: tls = implicit expects the server to start TLS at once \\(usually port 993\\), but 127\\.0\\.0\\.1:$H_IMAP_PORT greets in plain text \\(\"\\* OK.*\"\\): for this port use tls = starttls"
is "... exit 69" "$RC" 69

reset
set_key tls starttls
check
like "tls = starttls on the TLS port: the mode does not match" "$(step_line "TLS (STARTTLS)")" \
    "failed: TLS mode does not match the port: tls = starttls expects the server to greet in plain text first \\(usually port 143\\), but 127\\.0\\.0\\.1:$H_IMAPS_PORT starts TLS at once: for this port use tls = implicit"
is "... exit 69" "$RC" 69

reset
set_key port "$H_IMAP_PORT"
set_key tls starttls
check
is "tls = starttls on the plain port is right: exit 0" "$RC" 0
like "... TLS (STARTTLS) ok" "$(step_line "TLS (STARTTLS)")" 'ok \(TLSv1\.[23], certificate verified\)$'

reset
set_key folder Nope
check
like "a folder that does not exist: says so and lists the folders" "$(step_line "folder Nope")" \
    '^support: folder Nope \.\.\. failed: folder Nope does not exist; folders are: (INBOX, Archive|Archive, INBOX)$'
is "... exit 69" "$RC" 69
set_key folder archive
check
like "... a name that differs only in case gets a hint" "$(step_line "folder archive")" \
    'does not exist; folders are: .*\(names are case-sensitive: Archive\?\)$'
set_key folder Archive
check
is "... and the right folder is ok" "$(step_line "folder Archive")" "support: folder Archive ... ok (0 messages)"

# ---- the SMTP side --------------------------------------------------------------
reset
cp "$SMTP_PW_FILE" "$H_DIR/smtp.password"
printf 'wrong-smtp-Kx2\n' > "$SMTP_PW_FILE"
check --send-test someone@customer.example
like "wrong SMTP password: AUTH refused, what to check" "$(step_line "SMTP AUTH")" \
    '^support: SMTP AUTH as smtp-support \.\.\. failed: AUTH refused: check smtp_user — .* and the SMTP password; .* \(server: "535 5\.7\.8 Authentication credentials invalid"\)$'
is "... the mailbox side passed" "$(step_line "folder INBOX")" "support: folder INBOX ... ok (3 messages)"
unlike "... no test message after a failed AUTH" "$OUT" 'SMTP test message'
is "... nothing more arrived" "$(h_outbox_count)" 1
is "... exit 77" "$RC" 77
cp "$H_DIR/smtp.password" "$SMTP_PW_FILE"

reset
set_key smtp_tls implicit
check
like "smtp_tls = implicit on a plain SMTP port: the mode does not match" \
    "$(step_line "SMTP TLS (implicit)")" \
    'failed: TLS mode does not match the port: smtp_tls = implicit expects the server to start TLS at once \(usually port 465\), but .* greets in plain text \("220 .*"\): for this port use smtp_tls = starttls'
is "... exit 69" "$RC" 69

reset
check --send-test 'not an address'
is "--send-test with something that is not an address: exit 64" "$RC" 64
like "... says why" "$OUT" 'not an email address'
sed -i 's/^tls = .*/tls = ssl/' "$A"
check
is "a broken account file: exit 78" "$RC" 78
like "... with the file and the key" "$OUT" "$A: \\[account\\] tls"

# ---- POP3 -------------------------------------------------------------------------
P3=$(h_free_port)
cat >> "$H_DOVECONF" <<EOF
protocols = imap pop3
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $P3
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
$H_DOVEADM -c "$H_DOVECONF" reload || bail "doveadm reload failed"
if wait_for "h_listening $P3" 20; then
	reset
	set_key protocol pop3
	set_key port "$P3"
	set_key tls starttls
	check
	is "POP3 with STLS: exit 0" "$RC" 0
	like "... STARTTLS ok" "$(step_line "TLS (STARTTLS)")" 'ok \(TLSv1\.[23], certificate verified\)$'
	is "... the messages waiting" "$(step_line "mailbox")" "support: mailbox ... ok (3 messages)"
	set_key auth pass
	check
	is "POP3 USER/PASS (auth = pass): exit 0" "$RC" 0
	printf 'wrong-password-Zq81\n' > "$IMAP_PW_FILE"
	check
	like "... a wrong password: login refused" "$(step_line "login as")" \
	    'failed: login refused: check user .* \(server: "-ERR \[AUTH\]'
	is "... exit 77" "$RC" 77
	cp "$H_DIR/imap.password" "$IMAP_PW_FILE"
	set_key tls implicit
	check
	like "... tls = implicit on the plain POP3 port: the mode does not match" \
	    "$(step_line "TLS (implicit)")" 'tls = implicit expects .*\(usually port 995\).*greets in plain text \("\+OK'
else
	fail "POP3: dovecot does not listen on $P3 after the reload"
fi

finish
