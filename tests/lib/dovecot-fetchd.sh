# dovecot-fetchd.sh - what fetchd's integration tests (8x-*.sh) share, on
# top of harness.sh (source that first).
#
#	fd_dovecot_start	h_dovecot_start with IMAP, IMAPS, POP3, POP3S on
#				loopback, auth mechanisms plain login cram-md5 apop
#				(and xoauth2 with FD_OAUTH2=1); FD_IMAP_CAPS replaces
#				the IMAP capability list (e.g. one without IDLE).
#				Sets H_IMAP_PORT H_IMAPS_PORT H_POP3_PORT H_POP3S_PORT.
#	fd_config KEY=VALUE...	$H_ETC (h_config_write, the first time) with
#				accounts/support.conf replaced: host, user, group,
#				reply and smtp keys, then the given keys
#	fd_start		routed, parsed-0 and fetchd-support (no agentd)
#	fd_up NAME...		wait until each daemon has logged "started"
#	fd_sql SQL		one query on routed's database (sqlite3)
#	fd_stored		how many messages routed has stored
#	fd_wait_stored N [S]	wait until routed has N messages (S seconds)
#	fd_doveadm ARGS...	doveadm with the test's configuration
#	fd_flags [FOLDER]	"UID FLAGS" per message of FOLDER (INBOX), no \Recent
#	fd_count [FOLDER]	messages in FOLDER
#	fd_msg N [DAYS_AGO]	save a message numbered N (Message-ID fd-N@test)
#				into the INBOX, dated DAYS_AGO days back
#
# Dovecot's passwd-file has the {PLAIN} scheme, which CRAM-MD5 and APOP need
# (they work from the plain password).

FD_USER=support
FD_PW=imap-secret-1

fd_dovecot_start() {
	H_DOVECOT_POP3=1
	H_DOVECOT_MECHS="plain login cram-md5 apop"
	H_DOVECOT_CONF=fd_dovecot_conf
	if [ -n "${FD_OAUTH2:-}" ]; then
		H_DOVECOT_MECHS="$H_DOVECOT_MECHS xoauth2 oauthbearer"
		FD_OAUTH2_KEY=postroom-test-hmac-key-$$
	fi
	h_dovecot_start "$FD_USER:$FD_PW"
}

# fd_dovecot_conf DIR - what fetchd's tests add to Dovecot's configuration:
# POP3 UIDLs of a fixed format, FD_IMAP_CAPS, and with FD_OAUTH2 a passdb
# that takes JWTs signed HS256 with DIR/keys' key, checked locally
fd_dovecot_conf() {
	local d=$1
	echo "pop3_uidl_format = %08Xu%08Xv"
	[ -n "${FD_IMAP_CAPS:-}" ] && echo "imap_capability = $FD_IMAP_CAPS"
	[ -n "${FD_OAUTH2:-}" ] || return 0
	mkdir -p "$d/keys/default/HS256"
	printf '%s' "$FD_OAUTH2_KEY" | base64 -w0 > "$d/keys/default/HS256/default"
	cat > "$d/oauth2.conf.ext" <<EOF
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$d/keys/
username_attribute = email
EOF
	cat <<EOF
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}
EOF
}

fd_doveadm() { $H_DOVEADM -c "$H_DOVECONF" "$@"; }

# fd_config KEY=VALUE... - the configuration, the account made of the keys
fd_config() {
	local kv
	H_IMAP_PW=$FD_PW
	# the rest once; the account file replaced whole (daemons may be reading)
	[ -f "$H_ETC/postroom.conf" ] || h_config_write || return 1
	{
		echo "[account]"
		echo "host = 127.0.0.1"
		echo "user = $FD_USER"
		echo "group = support"
		echo "reply_address = $H_REPLY_ADDR"
		echo "smtp_host = 127.0.0.1"
		echo "smtp_port = 25"
		echo "smtp_tls = none"
		echo "smtp_auth = no"
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} > "$H_ETC/accounts/.support.conf.new" &&
	mv "$H_ETC/accounts/.support.conf.new" "$H_ETC/accounts/support.conf"
}

fd_start() {
	local n
	for n in routed parsed-0 fetchd-support; do
		h_start "$n" || bail "cannot start $n"
	done
	fd_up routed parsed-0
}

# fd_up NAME... - wait until each daemon has said "started"
fd_up() {
	local n
	for n in "$@"; do
		wait_for "h_log $n | grep -q 'info: started'" 20 || bail "$n did not start: $(h_log "$n" | tail -n 3)"
	done
}

fd_sql() { sqlite3 -batch -noheader "$H_STATE/postroom.db" "$1" 2>/dev/null; }

fd_stored() {
	local n
	n=$(fd_sql "SELECT count(*) FROM messages WHERE direction = 'in'")
	echo "${n:-0}"
}

fd_wait_stored() { wait_for "[ \"\$(fd_stored)\" -ge $1 ]" "${2:-20}"; }

# fd_flags [FOLDER] - "UID FLAGS" per message (\Recent left out)
fd_flags() { h_mail_flags "$FD_USER" "${1:-INBOX}" | sed 's/ *\\Recent//; s/ *$//'; }

fd_count() { h_mail_count "$FD_USER" "${1:-INBOX}"; }

# fd_msg N [DAYS_AGO] [FOLDER] - a message into the mailbox, without flags;
# an older one is appended over IMAP with its internal date (what SEARCH
# SINCE looks at) set back, flags empty
fd_msg() {
	local n=$1 ago=${2:-0} folder=${3:-} f=$H_DIR/msg-$1.eml
	{
		printf 'From: Customer %s <c%s@customer.example>\r\n' "$n" "$n"
		printf 'To: Support <%s>\r\n' "$H_REPLY_ADDR"
		printf 'Subject: message %s\r\n' "$n"
		printf 'Date: %s\r\n' "$(LC_ALL=C date -R -d "$ago days ago")"
		printf 'Message-ID: <fd-%s@test>\r\n' "$n"
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
		printf 'Body of message %s.\r\n.a line with a leading dot\r\n' "$n"
	} > "$f"
	if [ "$ago" = 0 ]; then
		h_mail_save "$f" "$FD_USER" "$folder"
		return
	fi
	$H_PY - "$H_IMAP_PORT" "$FD_USER" "$FD_PW" "${folder:-INBOX}" "$ago" "$f" <<'PY'
import imaplib, sys, time
port, user, pw, folder, ago, path = sys.argv[1:]
m = imaplib.IMAP4("127.0.0.1", int(port))
m.login(user, pw)
typ, _ = m.append(folder, "", imaplib.Time2Internaldate(time.time() - int(ago) * 86400),
                  open(path, "rb").read())
m.logout()
sys.exit(0 if typ == "OK" else 1)
PY
}

# fd_jwt SUB EMAIL SECONDS - an HS256 JWT Dovecot's oauth2 passdb accepts
fd_jwt() {
	$H_PY - "$FD_OAUTH2_KEY" "$1" "$2" "$3" <<'PY'
import base64, hashlib, hmac, json, sys, time
key, sub, email, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=")
now = int(time.time())
head = b(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "default"}).encode())
body = b(json.dumps({"sub": sub, "email": email, "iat": now, "nbf": now,
                     "exp": now + secs}).encode())
sig = b(hmac.new(key.encode(), head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
}
