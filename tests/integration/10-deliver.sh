#!/bin/bash
# 10-deliver - a message put in the mailbox reaches a logged-in, ready agent:
# the event stream says "assigned", the conversation shows the decoded
# subject, sender and body, and the mailbox's flags are left alone.
. "$(dirname "$0")/../lib/harness.sh"

h_setup 10-deliver

# login: wrong password, then right; an agent starts paused
api POST /api/login '{"agent":"alice","password":"not-her-password"}' > "$H_DIR/bad.json"
is "login with a wrong password: 401" "$(api_code)" 401
is "... error login_failed" "$(json .error < "$H_DIR/bad.json")" login_failed
api GET /api/me > /dev/null
is "no session: 401" "$(api_code)" 401
h_login
lb=$(cat "$H_DIR/api.body")
is "login answers the agent" "$(printf '%s' "$lb" | json '"\(.agent.id) \(.agent.name) \(.state)"')" "alice Alice Martin paused"
is "... and the group's dispositions" "$(printf '%s' "$lb" | json '.agent.groups[0] | "\(.id) \(.dispositions | join(","))"')" \
    "support DONE,SPAM,CALLBACK"
me=$(api GET /api/me)
is "an agent logs in paused" "$(printf '%s' "$me" | json .state)" paused
is "... holding nothing" "$(printf '%s' "$me" | json .conversation)" null

sse_start "$H_DIR/events"
ok "ready" api_ready

# Subject: "Problème de livraison — commande n°4217" (RFC 2047, UTF-8 Q)
# From: "Zoë Martin" (RFC 2047, ISO-8859-1 Q); body quoted-printable ISO-8859-1
cat > "$H_DIR/m1.eml" <<'EOF'
Return-Path: <zoe@example.net>
From: =?iso-8859-1?q?Zo=EB_Martin?= <zoe@example.net>
To: Support <support@postroom.test>
Subject: =?utf-8?q?Probl=C3=A8me_de_livraison_=E2=80=94_commande_n=C2=B04217?=
Date: Tue, 14 Nov 2023 10:00:00 +0100
Message-ID: <cmd4217.1@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Bonjour,

J'ai command=E9 une th=E9i=E8re le 3 novembre et elle n'est toujours pas arr=
iv=E9e. Pouvez-vous v=E9rifier o=F9 en est la livraison ?

Merci d'avance,
Zo=EB
EOF
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"

wait_for '[ "$(sse_count "$H_DIR/events" assigned)" -ge 1 ]' 30
is "the event stream shows one assigned" "$(sse_count "$H_DIR/events" assigned)" 1
ev=$(sse_data "$H_DIR/events" assigned)
id=$(printf '%s' "$ev" | json .conversation)
like "... with a conversation id" "$id" '^[0-9]+$' || bail "no conversation was assigned"
is "... its subject, decoded" "$(printf '%s' "$ev" | json .subject)" "Problème de livraison — commande n°4217"
is "... its sender" "$(printf '%s' "$ev" | json .from_addr)" zoe@example.net
is "... its group" "$(printf '%s' "$ev" | json .group)" support
is "GET /api/me names it" "$(api_me_conversation)" "$id"

c=$(api GET "/api/conversations/$id")
is "GET /api/conversations/ID: 200" "$(api_code)" 200
is "conversation subject decoded" "$(printf '%s' "$c" | json .subject)" "Problème de livraison — commande n°4217"
is "status assigned to alice" "$(printf '%s' "$c" | json '"\(.status) \(.agent)"')" "assigned alice"
is "group and account" "$(printf '%s' "$c" | json '"\(.group) \(.account)"')" "support support"
is "contact by address and name" "$(printf '%s' "$c" | json '"\(.contact.addr) \(.contact.name)"')" "zoe@example.net Zoë Martin"
is "one message" "$(printf '%s' "$c" | json '.messages | length')" 1
is "... from the customer" "$(printf '%s' "$c" | json '.messages[0].direction')" in
is "... from name decoded" "$(printf '%s' "$c" | json '.messages[0].from_name')" "Zoë Martin"
is "... its Message-ID" "$(printf '%s' "$c" | json '.messages[0].message_id')" cmd4217.1@example.net
like "... its key is account/uidvalidity/uid" "$(printf '%s' "$c" | json '.messages[0].key')" \
    "^support/$(h_mail_uidvalidity)/1\$"
body=$(printf '%s' "$c" | json '.messages[0].text_body')
like "... body decoded (quoted-printable, ISO-8859-1)" "$body" "J'ai commandé une théière le 3 novembre"
like "... soft line break joined" "$body" "n'est toujours pas arrivée\. Pouvez-vous vérifier où"
is "... date in UTC" "$(printf '%s' "$c" | json '.messages[0].date_iso_utc')" 2023-11-14T09:00:00Z

# the mail stays on the server, unread: fetchd peeks
is "the mailbox still holds the message" "$(h_mail_count)" 1
is "no \\Seen flag set" "$(h_mail_seen)" 0

# only a session may read it
saved=$H_TOKEN H_TOKEN=
api GET "/api/conversations/$id" > /dev/null
is "without a session: 401" "$(api_code)" 401
H_TOKEN=$saved
api GET "/api/conversations/999999" > /dev/null
like "a conversation that does not exist: 404 (or 403)" "$(api_code)" '^40[34]$'

finish
