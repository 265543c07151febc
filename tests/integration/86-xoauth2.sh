#!/bin/bash
# 86-xoauth2 - OAuth2 against a real server: Dovecot's oauth2 passdb checks
# JWTs locally (introspection_mode = local, an HS256 key), the way a
# provider checks its access tokens.  oauth2_token_command mints a token;
# fetchd logs in with XOAUTH2 over IMAPS and POP3S, runs the command again
# at every (re)connection (tokens expire), and a token the server refuses is
# said as a refused login, backed off.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 86-xoauth2
FD_OAUTH2=1 fd_dovecot_start || bail "dovecot with the oauth2 passdb does not start"

# the token command: a fresh JWT signed with KEY_FILE's key, counted
printf '%s' "$FD_OAUTH2_KEY" > "$H_DIR/key"
cat > "$H_DIR/token.sh" <<EOF
#!/bin/sh
# a stand-in for a provider's token helper (oama, mutt_oauth2.py): prints an access token
echo run >> "$H_DIR/token.runs"
exec $H_PY - "\$(cat "\${KEY_FILE:-$H_DIR/key}")" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=")
now = int(time.time())
head = b(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "default"}).encode())
body = b(json.dumps({"sub": "support", "email": "support", "iat": now, "nbf": now,
                     "exp": now + 600}).encode())
sig = b(hmac.new(sys.argv[1].encode(), head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
EOF
chmod 700 "$H_DIR/token.sh"
runs() { wc -l < "$H_DIR/token.runs" 2>/dev/null || echo 0; }

fd_config "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "oauth2_token_command=$H_DIR/token.sh" check_interval=1
fd_msg 1 || bail "doveadm save"
fd_start
fd_wait_stored 1 20
is "IMAPS with a bearer token: the message is stored" "$(fd_stored)" 1
like "... Dovecot saw XOAUTH2" "$(grep 'imap-login: Info: Login' "$H_DIR/dovecot/dovecot.log")" \
    'user=<support>, method=XOAUTH2'
is "... the token command ran once" "$(runs)" 1
kill -HUP "$(h_pid fetchd-support)"
wait_for '[ "$(runs)" -ge 2 ]' 10
is "a reconnection runs the token command again (tokens expire)" "$(runs)" 2
h_stop fetchd-support
unlike "the token never reaches the log" "$(h_log fetchd-support)" 'eyJ'

# POP3S, the same way (another protocol: another state file)
rm -f "$H_STATE/fetchd/support.state"
fd_config protocol=pop3 "port=$H_POP3S_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "oauth2_token_command=$H_DIR/token.sh" auth=xoauth2 check_interval=1
fd_msg 2 || bail "doveadm save"
h_start fetchd-support
fd_wait_stored 3 20
is "POP3S with a bearer token: both messages are stored (new to POP3)" "$(fd_stored)" 3
like "... Dovecot saw XOAUTH2" "$(grep 'pop3-login: Info: Login' "$H_DIR/dovecot/dovecot.log")" \
    'user=<support>, method=XOAUTH2'
h_stop fetchd-support

# a token signed with another key: refused, and said as a refused login
printf 'not-the-key' > "$H_DIR/badkey"
rm -f "$H_STATE/fetchd/support.state"
fd_config "port=$H_IMAPS_PORT" tls=implicit "tls_ca_file=$H_CA" \
    "oauth2_token_command=KEY_FILE=$H_DIR/badkey $H_DIR/token.sh" check_interval=1
lines=$(h_log fetchd-support | wc -l)
h_start fetchd-support
wait_for 'h_log fetchd-support | tail -n +$((lines + 1)) | grep -q "login refused"' 20
log=$(h_log fetchd-support | tail -n +$((lines + 1)))
unlike "... no base64 in the log" "$log" 'eyJ'
like "a refused token: a refused login, naming the token" "$log" \
    'error: login refused for support on 127.0.0.1:[0-9]+: check user and the token'
like "... backed off a minute" "$log" 'retrying in 60s'

finish
