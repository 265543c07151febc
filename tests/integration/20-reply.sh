#!/bin/bash
# 20-reply - the agent answers: one message leaves through the SMTP server
# (with AUTH) from the account's identity, threaded and quoting the customer;
# the customer's answer to it joins the same conversation; a disposition
# frees the agent, who then gets the next, unrelated message.
. "$(dirname "$0")/../lib/harness.sh"

h_setup 20-reply
h_login
sse_start "$H_DIR/events"
ok "ready" api_ready

h_msg "$H_DIR/m1.eml" order-77.1@customer.example "Bob Client <bob@customer.example>" \
    "Where is my order 77?" "Hello,
my order 77 has not arrived yet. Can you check?
Bob"
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"
wait_for '[ "$(sse_count "$H_DIR/events" assigned)" -ge 1 ]' 30 || bail "the message was never assigned"
id=$(sse_data "$H_DIR/events" assigned | json .conversation)
pass "assigned conversation $id"

# the reply
r=$(api POST "/api/conversations/$id/reply" \
    "$(jq -cn '{body: "Hello Bob,\nyour parcel left our warehouse today.\nAlice, for Postroom Support"}')")
is "POST reply: 200" "$(api_code)" 200 || note "answer: $r"
reply_mid=$(printf '%s' "$r" | json '.message_id // empty' | tr -d '<>')
like "... answers the reply's message id" "$(printf '%s' "$r" | json .message)" '^[0-9]+$'
like "... and its Message-ID" "$reply_mid" '^[^ @]+@[^ @]+$'

is "the SMTP server got one message" "$(h_outbox_count)" 1
eml=$H_OUTBOX/1.eml side=$H_OUTBOX/1.json
[ -f "$eml" ] || bail "no reply arrived at the SMTP server"
is "envelope sender is reply_address" "$(json .mail_from < "$side")" "$H_REPLY_ADDR"
is "envelope recipient is the customer" "$(json '.rcpt_tos | join(",")' < "$side")" bob@customer.example
is "SMTP AUTH was used, as smtp_user" "$(json .auth_user < "$side")" "$H_SMTP_USER"
is "... over STARTTLS (smtp_tls = starttls)" "$(json .tls < "$side")" true
like "From: reply_name <reply_address>" "$(eml_header "$eml" From)" '^"?Postroom Support"? <support@postroom\.test>$'
like "To: the customer" "$(eml_header "$eml" To)" 'bob@customer\.example'
is "Subject: Re: the original" "$(eml_header "$eml" Subject)" "Re: Where is my order 77?"
is "In-Reply-To: the customer's Message-ID" "$(eml_header "$eml" In-Reply-To)" "<order-77.1@customer.example>"
like "References: contains it" "$(eml_header "$eml" References)" '<order-77\.1@customer\.example>'
is "Message-ID: the one the API answered" "$(eml_header "$eml" Message-ID)" "<$reply_mid>"
like "has a Date" "$(eml_header "$eml" Date)" '[0-9]{4} [0-9]{2}:[0-9]{2}'
body=$(eml_body "$eml")
like "body: the agent's text" "$body" '^your parcel left our warehouse today\.$'
like "body: the attribution line" "$body" 'wrote:$'
like "body: the original, quoted" "$body" '^> my order 77 has not arrived yet\. Can you check\?$'

c=$(api GET "/api/conversations/$id")
is "the conversation has 2 messages" "$(printf '%s' "$c" | json '.messages | length')" 2
is "... the second one going out" "$(printf '%s' "$c" | json '.messages[1].direction')" out
is "... with the reply's Message-ID" "$(printf '%s' "$c" | json '.messages[1].message_id' | tr -d '<>')" "$reply_mid"

# the customer answers the reply: same conversation
h_msg "$H_DIR/m2.eml" order-77.2@customer.example "Bob Client <bob@customer.example>" \
    "Re: Where is my order 77?" "Thanks! It just arrived.

> your parcel left our warehouse today." \
    "In-Reply-To: <$reply_mid>" "References: <order-77.1@customer.example> <$reply_mid>"
h_mail_save "$H_DIR/m2.eml"
wait_for '[ "$(api GET "/api/conversations/$id" | json ".messages | length")" -ge 3 ]' 30
c=$(api GET "/api/conversations/$id")
is "the follow-up joined the same conversation (3 messages)" "$(printf '%s' "$c" | json '.messages | length')" 3
like "... it is the customer's" "$(printf '%s' "$c" | json '.messages[2].text_body')" '^Thanks! It just arrived\.$'
wait_for '[ "$(sse_count "$H_DIR/events" message)" -ge 1 ]' 10
is "the agent got a message event for it" "$(sse_data "$H_DIR/events" message | json .conversation)" "$id"
is "no second assignment" "$(sse_count "$H_DIR/events" assigned)" 1
is "the agent still holds it" "$(api_me_conversation)" "$id"

# dispositions: an unknown one is refused, DONE frees the agent
api POST "/api/conversations/$id/disposition" '{"disposition":"NOT-ONE-OF-THEM"}' > "$H_DIR/bad.json"
is "an unknown disposition: 400" "$(api_code)" 400
is "... bad_disposition" "$(json .error < "$H_DIR/bad.json")" bad_disposition
is "... and the agent still holds it" "$(api_me_conversation)" "$id"
api POST "/api/conversations/$id/disposition" '{"disposition":"DONE"}' > /dev/null
is "disposition DONE: 200" "$(api_code)" 200
is "the agent is free" "$(api_me_conversation)" null
api POST "/api/conversations/$id/reply" '{"body":"too late"}' > /dev/null
is "replying to a conversation no longer held: 403" "$(api_code)" 403
is "... and nothing was sent" "$(h_outbox_count)" 1

# the next, unrelated message goes to the free agent
h_msg "$H_DIR/m3.eml" quote-5@other.example "Carla Buyer <carla@other.example>" \
    "Quote for 40 licences" "Could you send us a quote for 40 licences?"
h_mail_save "$H_DIR/m3.eml"
wait_for '[ "$(sse_count "$H_DIR/events" assigned)" -ge 2 ]' 30
is "a second assignment" "$(sse_count "$H_DIR/events" assigned)" 2
id2=$(sse_data "$H_DIR/events" assigned 2 | json .conversation)
like "... of a new conversation" "$id2" '^[0-9]+$'
if [ -n "$id2" ] && [ "$id2" != "$id" ]; then
	pass "... not the first one ($id2 != $id)"
else
	fail "... not the first one" "got '$id2'"
fi
is "... from the new customer" "$(api GET "/api/conversations/$id2" | json .contact.addr)" carla@other.example
is "no \\Seen flag on any of the 3 messages" "$(h_mail_seen)" 0

finish
