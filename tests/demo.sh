#!/bin/bash
# demo.sh - make demo: the whole pipeline on this machine, nothing to edit.
#
# A private Dovecot holding a demo mailbox (tests/demo/*.eml: an order
# problem in French, a refund request with a PDF, an HTML-only newsletter, a
# question and its follow-up, a sales inquiry), the test SMTP server keeping
# replies in demo.d/outbox/, a configuration in demo.d/etc (account "demo"
# -> group "support", agent demo / demo), and the four daemons.  Everything
# lives in ./demo.d, made afresh each time and kept afterwards (the outbox,
# the logs).  Ctrl-C stops everything it started.
. "$(dirname "$0")/lib/harness.sh"

D=$H_ROOT/demo.d
# a previous demo's Dovecot, if it was not stopped, and its mail (in /tmp)
if [ -f "$D/dovecot/dovecot.conf" ] && [ -f "$D/dovecot/run/master.pid" ]; then
	$H_DOVEADM -c "$D/dovecot/dovecot.conf" stop > /dev/null 2>&1
fi
old=$(readlink "$D/dovecot" 2>/dev/null)
case $old in /tmp/prdc.*) rm -rf "$old" ;; esac
rm -rf "$D"
H_KEEP=1
H_ACCOUNT=demo
H_IMAP_USER=demo
H_IMAP_PW=demo-mailbox-pw
H_SMTP_USER=demo
H_SMTP_PW=demo-smtp-pw
H_AGENT=demo
H_AGENT_PW=demo
H_AGENT_NAME="Demo Agent"
H_REPLY_ADDR=support@example.com
H_REPLY_NAME="Example Support"
H_CHECK_INTERVAL=5
fatal() { echo "demo: fatal: $*" >&2; [ -d "${H_LOG:-}" ] && h_show_logs >&2; exit 1; }

h_init demo "$D" > /dev/null
H_FINISHED=1	# no assertions here
if h_port_free 8480; then
	H_HTTP_PORT=8480
else
	H_HTTP_PORT=$(h_free_port)
	echo "demo: port 8480 is busy, the agent page uses $H_HTTP_PORT"
fi

h_dovecot_start || fatal "Dovecot does not start (see $D/dovecot/dovecot.log)"
for f in "$H_ROOT"/tests/demo/*.eml; do
	h_mail_save "$f" || fatal "doveadm save $f failed"
done
h_smtpd_start "$D/outbox" || fatal "tests/smtpd.py does not start"
h_config_write || fatal "cannot write the configuration"
for n in routed parsed-0 agentd "fetchd-$H_ACCOUNT"; do
	h_start "$n" || fatal "$H_BIN/${n%%-*} is not built (run make)"
done
wait_for h_agentd_up 20 || fatal "agentd does not answer on 127.0.0.1:$H_HTTP_PORT"
for n in routed parsed-0 agentd "fetchd-$H_ACCOUNT"; do
	h_running "$n" || fatal "$n stopped right after starting"
done

rel() { printf '%s' "${1#"$PWD"/}"; }
cat <<EOF

postroom demo is running.

  Agent page      http://127.0.0.1:$H_HTTP_PORT/
  Log in as       demo / demo, then press Ready: the demo mailbox's $(h_mail_count) messages
                  come to you one conversation at a time (one is a follow-up)
  Replies land    $(rel "$D/outbox")/  (N.eml as sent, N.json the envelope)
  Add more mail   doveadm -c $(rel "$D/dovecot/dovecot.conf") save -u demo < message.eml
                  (e.g. one of tests/demo/*.eml again)
  Watch it move   $(rel "$H_BIN")/postroom-tap -c $(rel "$H_ETC")
  Logs            $(rel "$H_LOG")/   configuration: $(rel "$H_ETC")/
  Mail servers    IMAP 127.0.0.1:$H_IMAP_PORT (user demo), SMTP 127.0.0.1:$H_SMTP_PORT

Ctrl-C stops everything.
EOF
H_BYE="demo: stopped the daemons, Dovecot and the SMTP server; $(rel "$D") is kept"
while :; do
	for n in routed parsed-0 agentd "fetchd-$H_ACCOUNT"; do
		if ! h_running "$n"; then
			echo "demo: $n stopped; its log:" >&2
			tail -n 20 "$H_LOG/$n.log" >&2
			exit 1
		fi
	done
	sleep 1
done
