#!/bin/bash
# 83-after-fetch - what fetchd does to the mailbox once routed has the mail,
# and only then: after_fetch = seen (\Seen set), move:FOLDER (to a folder
# with a non-ASCII name, by UID MOVE, and by COPY + \Deleted + EXPUNGE on a
# server without MOVE and UIDPLUS), delete; keep leaves everything as it
# was.  The source folder itself has a non-ASCII name (modified UTF-7 on the
# wire).  Until routed runs, nothing in the mailbox changes.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/dovecot-fetchd.sh"

h_init 83-after-fetch

# run_case NAME AFTER_FETCH [CAPS] - a fresh Dovecot and pipeline: two
# messages fetched without routed (nothing may change), then routed
run_case() {
	local name=$1 after=$2
	FD_IMAP_CAPS=${3:-}
	fd_dovecot_start || bail "dovecot does not start"
	fd_doveadm mailbox create -u "$FD_USER" "Entrée" "Traité" || bail "doveadm mailbox create"
	fd_config "port=$H_IMAP_PORT" "tls=none" "allow_plaintext=yes" \
	    "password_file=secrets/support.password" "folder=Entrée" "after_fetch=$after" \
	    "check_interval=1"
	fd_msg 1 0 "Entrée" && fd_msg 2 0 "Entrée" || bail "doveadm save"
	h_start parsed-0
	fd_up parsed-0
	h_start fetchd-support
	wait_for 'h_log fetchd-support | grep -q "2 new messages in Entrée"' 20
	like "$name: fetched from Entrée (modified UTF-7 on the wire)" "$(h_log fetchd-support)" \
	    "2 new messages in Entrée"
	sleep 2		# a couple of checks: no ack, so nothing may be done
	is "$name: nothing done before routed acknowledges (flags)" "$(fd_flags Entrée | tr '\n' ' ')" \
	    "1 2 "
	is "$name: ... (count)" "$(fd_count Entrée)" 2
	h_start routed
	fd_wait_stored 2 20
	is "$name: routed has both" "$(fd_stored)" 2
}

# end_case - stop everything of a case, Dovecot too
end_case() {
	h_stop fetchd-support
	h_stop routed
	h_stop parsed-0
	h_dovecot_stop
	rm -rf "$H_DIR/dovecot" "$H_STATE" "$H_LOG"/*.log "$H_ETC/postroom.conf"
}

run_case keep keep
sleep 2
is "keep: the messages stay, unread" "$(fd_flags Entrée | tr '\n' ' ')" "1 2 "
end_case

run_case seen seen
wait_for '[ "$(fd_flags Entrée | grep -c Seen)" = 2 ]' 10
is "seen: both get \\Seen" "$(fd_flags Entrée | tr '\n' ' ')" '1 \Seen 2 \Seen '
is "... and stay in the folder" "$(fd_count Entrée)" 2
is "... said, once per message" \
    "$(h_log fetchd-support | sed -n 's/.*after_fetch: \([0-9]*\) messages* marked seen$/\1/p' |
    awk '{ n += $1 } END { print n }')" 2
end_case

run_case move "move:Traité"
wait_for '[ "$(fd_count Traité)" = 2 ]' 10
is "move: Entrée is empty" "$(fd_count Entrée)" 0
is "... Traité has both" "$(fd_count Traité)" 2
is "... found by Message-ID in Traité" \
    "$(fd_doveadm -f flow search -u "$FD_USER" mailbox Traité header Message-ID fd-2@test | wc -l)" 1
is "... unread still (BODY.PEEK)" "$(fd_flags Traité | grep -c Seen)" 0
end_case

# a server without MOVE and UIDPLUS: COPY, \Deleted, EXPUNGE
run_case move-copy "move:Traité" "IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE"
wait_for '[ "$(fd_count Entrée)" = 0 ]' 10
is "move without MOVE: Entrée is empty" "$(fd_count Entrée)" 0
is "... Traité has both" "$(fd_count Traité)" 2
end_case

# a move target that does not exist: said once, new mail still comes, and
# the move happens once the folder is there
run_case move-missing "move:Nowhere"
wait_for 'h_log fetchd-support | grep -q "after_fetch = move:Nowhere"' 10
like "a missing target: said" "$(h_log fetchd-support)" \
    'error: after_fetch = move:Nowhere: .*TRYCREATE.*; [12] messages? left in place, tried again every 1s'
fd_msg 3 0 "Entrée" || bail "doveadm save"
fd_wait_stored 3 20
is "... new mail still fetched meanwhile" "$(fd_stored)" 3
is "... said once" "$(h_log fetchd-support | grep -c 'after_fetch = move:Nowhere')" 1
fd_doveadm mailbox create -u "$FD_USER" Nowhere || bail "doveadm mailbox create"
wait_for '[ "$(fd_count Nowhere)" = 3 ]' 10
is "... and once the folder exists, all three move" "$(fd_count Nowhere)" 3
like "... which is said too" "$(h_log fetchd-support)" 'after_fetch works again'
end_case

run_case delete delete
wait_for '[ "$(fd_count Entrée)" = 0 ]' 10
is "delete: Entrée is empty" "$(fd_count Entrée)" 0
is "... nothing moved anywhere" "$(fd_count Traité)" 0
wait_for "! grep -q '^pending=' '$H_STATE/fetchd/support.state'" 5
ok "... the state file has no after_fetch left to do" \
    bash -c "! grep -q '^pending=' '$H_STATE/fetchd/support.state'"
end_case

finish
