# harness.sh - what postroom's integration tests (and make demo) share.
#
# Source it from bash:  . "$(dirname "$0")/../lib/harness.sh"
#
#	h_init NAME [DIR]	a private directory (tests/tmp/NAME.XXXX, mode 755),
#				short run_dir (/tmp/pr.XXXX), cleanup trap
#	h_dovecot_start		Debian's Dovecot on loopback (in /tmp/prdc.XXXX,
#				linked as $H_DIR/dovecot): IMAP with STARTTLS on
#				$H_IMAP_PORT, IMAPS on $H_IMAPS_PORT, certificate
#				of a CA made here ($H_CA); POP3 too with
#				H_DOVECOT_POP3=1
#	h_mail_save FILE	put a message in the INBOX without flags
#	h_mail_flags, h_mail_seen, h_mail_count, h_mail_uidvalidity
#	h_smtpd_start		tests/smtpd.py on loopback, AUTH required, STARTTLS
#				offered; what it accepts lands in $H_OUTBOX as
#				N.eml + N.json (envelope, AUTH user, TLS)
#	h_config_write		a postroom config dir $H_ETC: account "support" ->
#				group "support", agent "alice" (password $H_AGENT_PW)
#	h_pipeline_start	routed, parsed -i 0, agentd, fetchd support; waits
#				until agentd answers HTTP
#	h_start NAME [ARGS]	one daemon in the background, its output to
#				$H_LOG/NAME.log (NAME fetchd-ACCOUNT runs fetchd)
#	h_stop NAME [SIG]	signal it (TERM) and return its exit status
#	wait_for CMD [SECS]	poll CMD (a shell string) until it succeeds
#	ok NAME CMD...		assert that CMD succeeds
#	is NAME GOT WANT	assert equality
#	like NAME GOT ERE	assert a match (grep -E)
#	finish			print "N passed, N failed", non-zero on failure
#	bail WHY		count a failure, finish, exit (nothing left to test)
#
# API helpers (curl + jq): api_login AGENT PASSWORD sets H_TOKEN; api METHOD
# PATH [JSON] prints the body and leaves the HTTP status in $H_DIR/api.code
# (api_code prints it); sse_start FILE follows /api/events; tap_start FILE
# [STAGE...] runs postroom-tap; eml_header / eml_body read a received mail.
#
# Set before h_config_write to change the test bed: H_IMAP_TLS, H_SMTP_TLS,
# H_ACCOUNT, H_AGENT, H_AGENT_PW, H_RESEND_TIMEOUT, H_CHECK_INTERVAL...
#
# Everything started here listens on 127.0.0.1 on ports the kernel says are
# free, and is stopped by process id on EXIT, INT and TERM.  The test
# directory is removed when every assertion passed (KEEP=1 keeps it).

H_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
H_BIN=${POSTROOM_BIN:-$H_ROOT/build/bin}
H_PY=/usr/bin/python3
H_DOVECOT=/usr/sbin/dovecot
H_DOVEADM=/usr/bin/doveadm
H_PASSED=0
H_FAILED=0
H_KEEP=${KEEP:-}
H_BG_PIDS=()
H_EXIT_HOOKS=()
H_DAEMONS=()
H_ACCOUNT=support
H_AGENT=alice
H_AGENT_PW=alice-pw-1
H_AGENT_NAME="Alice Martin"
H_IMAP_USER=support
H_IMAP_PW=imap-secret-1
H_SMTP_USER=smtp-support
H_SMTP_PW=smtp-secret-1
H_REPLY_ADDR=support@postroom.test
H_REPLY_NAME="Postroom Support"
H_IMAP_TLS=starttls	# or implicit (the IMAPS port) or none; tls_ca_file is $H_CA
H_SMTP_TLS=starttls	# or none (smtpd.py offers STARTTLS; agentd trusts tls_ca_file)
export LC_ALL=C.UTF-8

# ---- output and assertions ------------------------------------------------

note() { printf '# %s\n' "$*"; }

pass() { H_PASSED=$((H_PASSED + 1)); printf 'ok %d - %s\n' $((H_PASSED + H_FAILED)) "$1"; }

fail() {
	H_FAILED=$((H_FAILED + 1))
	printf 'not ok %d - %s\n' $((H_PASSED + H_FAILED)) "$1"
	shift
	[ $# -gt 0 ] && printf '#   %s\n' "$@"
	return 0
}

# ok NAME CMD... - CMD succeeds (its output is shown only on failure)
ok() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "command: $*" "exit $rc"
		[ -n "$out" ] && printf '%s\n' "$out" | head -n 20 | sed 's/^/#   | /'
	fi
	return $rc
}

# is NAME GOT WANT
is() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "got:  $(printf '%s' "$2" | head -c 600)" "want: $(printf '%s' "$3" | head -c 600)"
		return 1
	fi
}

# like NAME GOT ERE - GOT (multi-line) has a line matching ERE
like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		pass "$1"
	else
		fail "$1" "got:  $(printf '%s' "$2" | head -c 600)" "want a line matching: $3"
		return 1
	fi
}

# unlike NAME GOT ERE - no line of GOT matches ERE
unlike() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fail "$1" "got:  $(printf '%s' "$2" | grep -E -- "$3" | head -c 600)" "want no line matching: $3"
		return 1
	fi
	pass "$1"
}

H_EXTRA_LOGS=()	# more files for h_show_logs (e.g. svlogd's current)
h_show_logs() {
	local f
	for f in "$H_LOG"/*.log "${H_EXTRA_LOGS[@]}"; do
		[ -f "$f" ] || continue
		printf '# ---- tail of %s\n' "${f#"$H_ROOT"/}"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
}

# finish - the result line; non-zero when anything failed (or nothing ran)
finish() {
	if [ $((H_PASSED + H_FAILED)) -eq 0 ]; then
		fail "the test asserted nothing"
	fi
	if [ "$H_FAILED" -gt 0 ]; then
		h_show_logs
		note "test directory kept: ${H_DIR#"$H_ROOT"/}"
		H_KEEP=1
	fi
	echo "$H_PASSED passed, $H_FAILED failed"
	H_FINISHED=1
	[ "$H_FAILED" -eq 0 ]
}

# bail WHY - a failure after which nothing else can be tested
bail() {
	fail "$1"
	finish
	exit 1
}

# wait_for CMD [SECS] - poll the shell command CMD every 0.1 s until it
# succeeds (0) or SECS (default 20) have passed (1)
wait_for() {
	local cmd=$1 secs=${2:-20} end
	end=$(($(date +%s%N) / 1000000 + secs * 1000))
	while :; do
		eval "$cmd" >/dev/null 2>&1 && return 0
		[ $(($(date +%s%N) / 1000000)) -ge $end ] && return 1
		sleep 0.1
	done
}

# ---- directories, ports, cleanup ------------------------------------------

# h_init NAME [DIR] - the test's private directory; DIR (the demo's) is made
# afresh, otherwise tests/tmp/NAME.XXXX
h_init() {
	local name=$1
	if [ -n "${2:-}" ]; then
		H_DIR=$2
		mkdir -p "$H_DIR"
	else
		mkdir -p "$H_ROOT/tests/tmp"
		H_DIR=$(mktemp -d "$H_ROOT/tests/tmp/$name.XXXX") || exit 1
	fi
	chmod 755 "$H_DIR"
	# ipc:// paths must stay under ~107 bytes: keep run_dir short
	H_RUN=$(mktemp -d /tmp/pr.XXXX) || exit 1
	H_ETC=$H_DIR/etc
	H_LOG=$H_DIR/log
	H_PID=$H_DIR/pid
	H_OUTBOX=$H_DIR/outbox
	mkdir -p "$H_LOG" "$H_PID"
	H_FINISHED=
	trap h_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	note "$name: ${H_DIR#"$H_ROOT"/}, run_dir $H_RUN"
}

# h_on_exit CMD - run CMD (a shell string) at cleanup, before the daemons stop
h_on_exit() { H_EXIT_HOOKS+=("$1"); }

h_cleanup() {
	local rc=$? p i name
	trap - EXIT INT TERM
	for ((i = ${#H_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${H_EXIT_HOOKS[$i]}" >/dev/null 2>&1
	done
	for p in "${H_BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for name in "${H_DAEMONS[@]}"; do
		h_running "$name" || continue
		p=$(cat "$H_PID/$name")
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	for name in "${H_DAEMONS[@]}"; do
		p=$(cat "$H_PID/$name" 2>/dev/null) || continue
		if ! wait_for "! kill -0 $p" 10; then
			echo "# $name (pid $p) ignored SIGTERM for 10s: SIGKILL" >&2
			kill -KILL "$p" 2>/dev/null
		fi
	done
	if [ -n "${H_SMTPD_PID:-}" ]; then
		kill -TERM "$H_SMTPD_PID" 2>/dev/null
		wait_for "! kill -0 $H_SMTPD_PID" 5 || kill -KILL "$H_SMTPD_PID" 2>/dev/null
	fi
	h_dovecot_stop
	wait 2>/dev/null
	[ -n "${H_RUN:-}" ] && case $H_RUN in /tmp/pr.*) rm -rf "$H_RUN" ;; esac
	if [ -z "$H_KEEP" ] && [ "$H_FAILED" -eq 0 ] && [ -n "$H_FINISHED" ] && [ -n "${H_DIR:-}" ]; then
		case $H_DIR in "$H_ROOT"/tests/tmp/*) rm -rf "$H_DIR" ;; esac
		case ${H_DOVE:-} in /tmp/prdc.*) rm -rf "$H_DOVE" ;; esac
	fi
	[ -n "${H_BYE:-}" ] && printf '%s\n' "$H_BYE"
	if [ -z "$H_FINISHED" ] && [ $rc -eq 0 ]; then
		echo "# the test ended without finish" >&2
		rc=1
	fi
	exit $rc
}

# h_port_free PORT - nothing listens on 127.0.0.1:PORT and we may bind it
h_port_free() {
	$H_PY -c 'import socket,sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# h_free_port - a TCP port on 127.0.0.1 the kernel says is free, and that
# this test has not handed out already (they are noted in $H_DIR/ports, as
# callers run this in a subshell)
h_free_port() {
	local p
	while :; do
		p=$($H_PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])') || return 1
		grep -qx "$p" "$H_DIR/ports" 2>/dev/null && continue
		echo "$p" >> "$H_DIR/ports"
		echo "$p"
		return 0
	done
}

# h_listening PORT - something accepts connections on 127.0.0.1:PORT
h_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- TLS --------------------------------------------------------------------

# h_tls_make - a CA ($H_CA) and a server certificate for 127.0.0.1/localhost
# ($H_TLS/server.pem, server.key) signed by it
h_tls_make() {
	H_TLS=$H_DIR/tls
	H_CA=$H_TLS/ca.pem
	[ -f "$H_TLS/server.pem" ] && return 0
	mkdir -p "$H_TLS"
	(
		cd "$H_TLS" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -days 3 -keyout ca.key -out ca.pem \
		    -subj "/CN=postroom test CA" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
		    -subj "/CN=localhost" &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > ext.cnf &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		    -days 3 -extfile ext.cnf -out server.pem
	) > "$H_LOG/openssl.out" 2>&1 || { cat "$H_LOG/openssl.out"; return 1; }
	chmod 600 "$H_TLS"/*.key
}

# ---- Dovecot ------------------------------------------------------------------

# h_dovecot_start [USER:PASSWORD...] - Dovecot with those users ($H_IMAP_USER
# / $H_IMAP_PW by default), IMAP on $H_IMAP_PORT and IMAPS on $H_IMAPS_PORT.
# Set beforehand to change it: H_DOVECOT_POP3=1 adds POP3 on $H_POP3_PORT
# and POP3S on $H_POP3S_PORT; H_DOVECOT_MECHS replaces the auth mechanisms
# ("plain login"); H_DOVECOT_CONF names a function, called with Dovecot's
# directory, that prints more configuration (it goes before the passdb).
h_dovecot_start() {
	local d uid gid iuser luser u protocols=imap listening pop3_login=""
	h_tls_make || return 1
	# a start after h_dovecot_stop is a fresh Dovecot: the old one's files go
	[ -z "${H_DOVECOT_UP:-}" ] && case ${H_DOVE:-} in /tmp/prdc.*) rm -rf "$H_DOVE" ;; esac
	# Dovecot's own users (dovecot, dovenull, the mail uid) must reach every
	# directory above its files, and its socket paths must stay short: keep
	# it in /tmp (a clone in /root is mode 700), linked as $H_DIR/dovecot
	H_DOVE=$(mktemp -d /tmp/prdc.XXXX) || return 1
	d=$H_DOVE
	chmod 755 "$d"
	ln -sfn "$d" "$H_DIR/dovecot"
	H_DOVECONF=$d/dovecot.conf
	H_IMAP_PORT=$(h_free_port)
	H_IMAPS_PORT=$(h_free_port)
	listening="h_listening $H_IMAP_PORT && h_listening $H_IMAPS_PORT"
	if [ -n "${H_DOVECOT_POP3:-}" ]; then
		H_POP3_PORT=$(h_free_port)
		H_POP3S_PORT=$(h_free_port)
		protocols="imap pop3"
		listening="$listening && h_listening $H_POP3_PORT && h_listening $H_POP3S_PORT"
		pop3_login="service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $H_POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $H_POP3S_PORT
    ssl = yes
  }
}"
	fi
	mkdir -p "$d/run" "$d/state" "$d/mail" "$d/home"
	if [ "$(id -u)" = 0 ]; then
		# Dovecot refuses uid 0 for mail
		uid=65534 gid=65534 iuser=dovecot luser=dovenull
		chown -R 65534:65534 "$d/mail" "$d/home"
	else
		uid=$(id -u) gid=$(id -g) iuser=$(id -un) luser=$(id -un)
	fi
	: > "$d/passwd"
	if [ $# -eq 0 ]; then
		set -- "$H_IMAP_USER:$H_IMAP_PW"
	fi
	for u in "$@"; do
		printf '%s:{PLAIN}%s\n' "${u%%:*}" "${u#*:}" >> "$d/passwd"
	done
	cat > "$H_DOVECONF" <<EOF
# Dovecot for postroom's tests: loopback only, made by tests/lib/harness.sh
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = $protocols
listen = 127.0.0.1
ssl = yes
ssl_cert = <$H_TLS/server.pem
ssl_key = <$H_TLS/server.key
$( [ -f /usr/share/dovecot/dh.pem ] && echo "ssl_dh = </usr/share/dovecot/dh.pem" )
disable_plaintext_auth = no
auth_mechanisms = ${H_DOVECOT_MECHS:-plain login}
mail_location = maildir:$d/mail/%u
first_valid_uid = 100
mail_uid = $uid
mail_gid = $gid
default_internal_user = $iuser
default_login_user = $luser
$( [ -n "${H_DOVECOT_CONF:-}" ] && "$H_DOVECOT_CONF" "$d" )
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$d/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $H_IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $H_IMAPS_PORT
    ssl = yes
  }
}
$pop3_login
EOF
	$H_DOVECOT -c "$H_DOVECONF" > "$H_LOG/dovecot.out" 2>&1 || {
		cat "$H_LOG/dovecot.out"
		return 1
	}
	H_DOVECOT_UP=1
	wait_for "$listening" 20 || {
		echo "# dovecot did not listen on $H_IMAP_PORT/$H_IMAPS_PORT${H_DOVECOT_POP3:+/$H_POP3_PORT/$H_POP3S_PORT}" >&2
		tail -n 20 "$d/dovecot.log" >&2
		return 1
	}
	# create the INBOX now, so that its UIDVALIDITY is fixed before fetchd looks
	$H_DOVEADM -c "$H_DOVECONF" mailbox status -u "${1%%:*}" uidvalidity INBOX >/dev/null 2>&1
	return 0
}

h_dovecot_stop() {
	[ -n "${H_DOVECOT_UP:-}" ] || return 0
	local pid
	pid=$(cat "$H_DOVE/run/master.pid" 2>/dev/null)
	$H_DOVEADM -c "$H_DOVECONF" stop >/dev/null 2>&1
	[ -n "$pid" ] && wait_for "! kill -0 $pid" 10
	H_DOVECOT_UP=
}

# h_mail_save FILE [USER] [FOLDER] - deliver FILE into the mailbox without flags
h_mail_save() {
	$H_DOVEADM -c "$H_DOVECONF" save -u "${2:-$H_IMAP_USER}" ${3:+-m "$3"} < "$1"
}

# h_mail_flags [USER] [FOLDER] - "UID FLAGS" per message of FOLDER (INBOX)
h_mail_flags() {
	$H_DOVEADM -c "$H_DOVECONF" -f flow fetch -u "${1:-$H_IMAP_USER}" 'uid flags' \
	    mailbox "${2:-INBOX}" | sed 's/^uid=\([0-9]*\) flags=/\1 /'
}

# h_mail_seen [USER] - how many messages of the INBOX have \Seen
h_mail_seen() { h_mail_flags "$@" | grep -c 'Seen'; }

# h_mail_count [USER] [FOLDER] - how many messages FOLDER (INBOX) holds
h_mail_count() {
	$H_DOVEADM -c "$H_DOVECONF" -f flow mailbox status -u "${1:-$H_IMAP_USER}" messages \
	    "${2:-INBOX}" | sed 's/.*messages=//'
}

# h_mail_uidvalidity [USER]
h_mail_uidvalidity() {
	$H_DOVEADM -c "$H_DOVECONF" -f flow mailbox status -u "${1:-$H_IMAP_USER}" uidvalidity INBOX |
	    sed 's/.*uidvalidity=//'
}

# h_msg FILE MESSAGE-ID FROM SUBJECT BODY [HEADER...] - a plain text message
h_msg() {
	local f=$1 mid=$2 from=$3 subj=$4 body=$5 h
	shift 5
	{
		printf 'From: %s\n' "$from"
		printf 'To: Support <%s>\n' "$H_REPLY_ADDR"
		printf 'Subject: %s\n' "$subj"
		printf 'Date: %s\n' "$(LC_ALL=C date -R)"
		printf 'Message-ID: <%s>\n' "$mid"
		for h in "$@"; do printf '%s\n' "$h"; done
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n'
		printf 'Content-Transfer-Encoding: 8bit\n\n%s\n' "$body"
	} > "$f"
}

# ---- SMTP server ------------------------------------------------------------

# h_smtpd_start [DIR] - tests/smtpd.py on $H_SMTP_PORT, user $H_SMTP_USER,
# STARTTLS offered with the test certificate; accepted mail goes to DIR
# (default $H_OUTBOX)
h_smtpd_start() {
	H_OUTBOX=${1:-$H_OUTBOX}
	h_tls_make || return 1
	H_SMTP_PORT=${H_SMTP_PORT:-$(h_free_port)}
	mkdir -p "$H_OUTBOX" "$H_DIR/smtpd"
	printf '%s\n' "$H_SMTP_PW" > "$H_DIR/smtpd/password"
	chmod 600 "$H_DIR/smtpd/password"
	setsid $H_PY "$H_ROOT/tests/smtpd.py" --port "$H_SMTP_PORT" --dir "$H_OUTBOX" \
	    --user "$H_SMTP_USER" --password-file "$H_DIR/smtpd/password" \
	    --cert "$H_TLS/server.pem" --key "$H_TLS/server.key" > "$H_LOG/smtpd.log" 2>&1 &
	H_SMTPD_PID=$!
	wait_for "h_listening $H_SMTP_PORT" 20 || {
		echo "# smtpd did not listen on $H_SMTP_PORT" >&2
		cat "$H_LOG/smtpd.log" >&2
		return 1
	}
}

# h_outbox_count - messages the SMTP server has accepted
h_outbox_count() {
	local n=0 f
	for f in "$H_OUTBOX"/*.eml; do [ -f "$f" ] && n=$((n + 1)); done
	echo $n
}

# ---- configuration ----------------------------------------------------------

# h_config_write - $H_ETC for the servers started above
h_config_write() {
	local hash port
	H_HTTP_PORT=${H_HTTP_PORT:-$(h_free_port)}
	H_STATE=$H_DIR/state
	mkdir -p "$H_ETC/accounts" "$H_ETC/groups" "$H_ETC/agents" "$H_ETC/secrets" "$H_STATE"
	cat > "$H_ETC/postroom.conf" <<EOF
# written by tests/lib/harness.sh
[postroom]
state_dir = $H_STATE
run_dir = $H_RUN

[fetchd]
resend_timeout = ${H_RESEND_TIMEOUT:-5}
timeout = 10

[agentd]
listen = 127.0.0.1:$H_HTTP_PORT
EOF
	case $H_IMAP_TLS in
	implicit) port=$H_IMAPS_PORT ;;
	*) port=$H_IMAP_PORT ;;
	esac
	cat > "$H_ETC/accounts/$H_ACCOUNT.conf" <<EOF
[account]
host = 127.0.0.1
port = $port
tls = $H_IMAP_TLS
tls_ca_file = ${H_CA:-}
$( [ "$H_IMAP_TLS" = none ] && echo "allow_plaintext = yes" )
user = $H_IMAP_USER
password_file = secrets/$H_ACCOUNT.password
check_interval = ${H_CHECK_INTERVAL:-1}
group = support
reply_address = $H_REPLY_ADDR
reply_name = $H_REPLY_NAME
smtp_host = 127.0.0.1
smtp_port = ${H_SMTP_PORT:-25}
smtp_tls = $H_SMTP_TLS
smtp_user = $H_SMTP_USER
smtp_password_file = secrets/$H_ACCOUNT-smtp.password
EOF
	(umask 077
	 printf '%s\n' "$H_IMAP_PW" > "$H_ETC/secrets/$H_ACCOUNT.password"
	 printf '%s\n' "$H_SMTP_PW" > "$H_ETC/secrets/$H_ACCOUNT-smtp.password")
	chmod 600 "$H_ETC/secrets/"*.password
	cat > "$H_ETC/groups/support.conf" <<EOF
[group]
name = Support
dispositions = DONE, SPAM, CALLBACK
EOF
	hash=$(printf '%s\n' "$H_AGENT_PW" | "$H_BIN/postroom-passwd") || {
		echo "# postroom-passwd failed" >&2
		return 1
	}
	cat > "$H_ETC/agents/$H_AGENT.conf" <<EOF
[agent]
name = $H_AGENT_NAME
password_hash = $hash
groups = support:5
EOF
}

# ---- daemons ----------------------------------------------------------------

# h_start NAME [ARGS...] - start build/bin/NAME -c $H_ETC ARGS in the
# background; fetchd-ACCOUNT starts "fetchd -c ETC ACCOUNT", parsed-N
# "parsed -c ETC -i N".  Output (stdout and stderr) goes to $H_LOG/NAME.log.
h_start() {
	local name=$1 prog args
	shift
	case $name in
	fetchd-*) prog=fetchd args=("${name#fetchd-}") ;;
	parsed-*) prog=parsed args=(-i "${name#parsed-}") ;;
	*) prog=$name args=() ;;
	esac
	if [ ! -x "$H_BIN/$prog" ]; then
		fail "$name: $H_BIN/$prog is not built"
		return 1
	fi
	# a session of its own: a Ctrl-C on the terminal reaches the script,
	# whose trap stops the daemons in order, not the daemons themselves
	setsid "$H_BIN/$prog" -c "$H_ETC" "${args[@]}" "$@" >> "$H_LOG/$name.log" 2>&1 &
	echo $! > "$H_PID/$name"
	case " ${H_DAEMONS[*]} " in *" $name "*) ;; *) H_DAEMONS+=("$name") ;; esac
	return 0
}

# h_pid NAME - the process id of a daemon h_start started
h_pid() { cat "$H_PID/$1"; }

# h_running NAME - it is alive
h_running() { [ -f "$H_PID/$1" ] && kill -0 "$(cat "$H_PID/$1")" 2>/dev/null; }

# h_stop NAME [SIG] - send SIG (TERM), wait (20 s at most) and return the
# exit status (124 when it did not exit)
h_stop() {
	local pid rc
	pid=$(cat "$H_PID/$1") || return 1
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	if ! wait_for "! kill -0 $pid" 20; then
		return 124
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	rm -f "$H_PID/$1"
	return $rc
}

# h_log NAME - the daemon's log so far
h_log() { cat "$H_LOG/$1.log" 2>/dev/null; }

# h_agentd_up - agentd answers HTTP at all
h_agentd_up() {
	local code
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$H_HTTP_PORT/api/me")
	[ -n "$code" ] && [ "$code" != 000 ]
}

# h_pipeline_start - the four daemons; bail unless agentd comes up
h_pipeline_start() {
	local n
	for n in routed parsed-0 agentd "fetchd-$H_ACCOUNT"; do
		h_start "$n" || bail "the pipeline cannot start: $n is missing"
	done
	wait_for h_agentd_up 20 || bail "agentd does not answer on 127.0.0.1:$H_HTTP_PORT"
	for n in routed parsed-0 agentd "fetchd-$H_ACCOUNT"; do
		h_running "$n" || bail "$n exited right after starting"
	done
}

# h_setup - the usual test bed: Dovecot, smtpd, configuration, pipeline
h_setup() {
	h_init "$1"
	h_dovecot_start || bail "dovecot does not start"
	h_smtpd_start || bail "tests/smtpd.py does not start"
	h_config_write || bail "cannot write the configuration"
	h_pipeline_start
}

# ---- the agents' API ----------------------------------------------------------

# api METHOD PATH [JSON] - the body on stdout; status in $H_DIR/api.code
api() {
	local method=$1 path=$2 body=${3:-} auth=()
	[ -n "${H_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $H_TOKEN")
	if [ -n "$body" ]; then
		curl -s -m 30 -X "$method" "${auth[@]}" -H 'Content-Type: application/json' \
		    --data-binary "$body" -o "$H_DIR/api.body" -w '%{http_code}' \
		    "http://127.0.0.1:$H_HTTP_PORT$path" > "$H_DIR/api.code"
	else
		curl -s -m 30 -X "$method" "${auth[@]}" -o "$H_DIR/api.body" -w '%{http_code}' \
		    "http://127.0.0.1:$H_HTTP_PORT$path" > "$H_DIR/api.code"
	fi
	cat "$H_DIR/api.body" 2>/dev/null
}

api_code() { cat "$H_DIR/api.code" 2>/dev/null; }

# json FILTER - jq -r FILTER on stdin
json() { jq -r "$@" 2>/dev/null; }

# api_login AGENT PASSWORD - sets H_TOKEN
api_login() {
	local body
	H_TOKEN=
	body=$(jq -cn --arg a "$1" --arg p "$2" '{agent: $a, password: $p}')
	body=$(api POST /api/login "$body")
	H_TOKEN=$(printf '%s' "$body" | json '.token // empty')
	[ "$(api_code)" = 200 ] && [ -n "$H_TOKEN" ]
}

# api_ready - the logged-in agent becomes ready for work
api_ready() {
	[ "$(api POST /api/state '{"state":"ready"}' | json .state)" = ready ]
}

# api_me_conversation - the conversation the agent holds, or "null"
api_me_conversation() { api GET /api/me | json '.conversation'; }

# sse_start FILE - follow the agent's /api/events into FILE (background)
sse_start() {
	curl -s -N -H "Authorization: Bearer $H_TOKEN" -H 'Accept: text/event-stream' \
	    "http://127.0.0.1:$H_HTTP_PORT/api/events" > "$1" 2>/dev/null &
	H_BG_PIDS+=($!)
}

# sse_count FILE EVENT - how many EVENT events FILE holds
sse_count() { grep -c "^event: $2\$" "$1" 2>/dev/null || true; }

# sse_data FILE EVENT [N] - the data of the Nth (default last) EVENT
sse_data() {
	awk -v want="$2" -v n="${3:-0}" '
		/^event: / { ev = substr($0, 8) }
		/^data: / && ev == want { d[++c] = substr($0, 7) }
		/^$/ { ev = "" }
		END { if (c) { i = (n > 0) ? n : c; print d[i] } }' "$1"
}

# ---- taps -------------------------------------------------------------------

# tap_start FILE [STAGE...] - postroom-tap into FILE (background)
tap_start() {
	local f=$1
	shift
	"$H_BIN/postroom-tap" -c "$H_ETC" "$@" > "$f" 2>> "$H_LOG/tap.log" &
	H_BG_PIDS+=($!)
}

# ---- received mail ------------------------------------------------------------

# eml_header FILE NAME - the header's value, unfolded, RFC 2047 decoded (one
# line per occurrence)
eml_header() {
	$H_PY - "$1" "$2" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
for v in m.get_all(sys.argv[2]) or []:
    print(" ".join(str(v).split()))
PY
}

# eml_body FILE - the text/plain body, transfer encoding and charset decoded
eml_body() {
	$H_PY - "$1" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
part = m.get_body(preferencelist=("plain",))
sys.stdout.write(part.get_content() if part is not None else "")
PY
}

# h_login [AGENT PASSWORD] - log in (sets H_TOKEN) or bail
h_login() {
	if api_login "${1:-$H_AGENT}" "${2:-$H_AGENT_PW}"; then
		pass "agent ${1:-$H_AGENT} logs in"
	else
		bail "agent ${1:-$H_AGENT} cannot log in: HTTP $(api_code): $(head -c 300 "$H_DIR/api.body" 2>/dev/null)"
	fi
}
