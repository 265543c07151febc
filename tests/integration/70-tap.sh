#!/bin/bash
# 70-tap - postroom-tap shows a message moving through fetchd, parsed and
# routed: one JSON line per stage with its type, the message's key and
# account, and (once parsed) its subject; never a body.  This test's
# account reads the mailbox over IMAPS (tls = implicit, tls_ca_file).
. "$(dirname "$0")/../lib/harness.sh"

H_IMAP_TLS=implicit
h_setup 70-tap
tap_start "$H_DIR/tap"
tap_connected() { [ "$(ss -xH state established 2>/dev/null | grep -c "$H_RUN/tap/$1.sock")" -ge 1 ]; }
wait_for "tap_connected fetchd-support && tap_connected parsed-0 && tap_connected routed" 10
ok "postroom-tap watches fetchd-support, parsed-0 and routed" \
    sh -c "ls $H_RUN/tap/fetchd-support.sock $H_RUN/tap/parsed-0.sock $H_RUN/tap/routed.sock"

cat > "$H_DIR/m1.eml" <<'EOF'
From: =?utf-8?q?Bj=C3=B6rn_Ek?= <bjorn@example.se>
To: support@postroom.test
Subject: =?utf-8?b?QmVzdMOkbGxuaW5nIGbDtnJzZW5hZA==?=
Date: Wed, 15 Nov 2023 08:30:00 +0000
Message-ID: <tap-1@example.se>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hej! Min beställning är försenad. Secret-body-marker-4711.
EOF
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"
uv=$(h_mail_uidvalidity)
key="support/$uv/1"

line() { jq -c --arg s "$1" --arg t "$2" --arg k "$key" \
    'select(.stage == $s and .type == $t and .key == $k)' "$H_DIR/tap" 2>/dev/null | head -n 1; }
wait_for '[ -n "$(line routed ack.1)" ]' 30

f=$(line fetchd-support raw.1)
like "fetchd-support: a raw.1 line for $key (over IMAPS)" "$f" .
is "... account and uid" "$(printf '%s' "$f" | json '"\(.account) \(.uidvalidity) \(.uid) \(.attempt)"')" "support $uv 1 1"
like "... and its size" "$(printf '%s' "$f" | json .size)" '^[0-9]{3,}$'

p=$(line parsed-0 parsed.1)
like "parsed-0: a parsed.1 line for $key" "$p" .
is "... account" "$(printf '%s' "$p" | json .account)" support
is "... subject, decoded (RFC 2047 base64)" "$(printf '%s' "$p" | json .subject)" "Beställning försenad"
is "... from" "$(printf '%s' "$p" | json '"\(.from_name) <\(.from_addr)>"')" "Björn Ek <bjorn@example.se>"
is "... no body on the tap" "$(printf '%s' "$p" | json 'has("text_body")')" false

r=$(line routed ack.1)
like "routed: an ack.1 line for $key" "$r" .
is "... stored, for account support" "$(printf '%s' "$r" | json '"\(.status) \(.account)"')" "stored support"
is "... subject" "$(printf '%s' "$r" | json .subject)" "Beställning försenad"
like "... its conversation" "$(printf '%s' "$r" | json .conversation)" '^[0-9]+$'

unlike "no tap line carries the body" "$(cat "$H_DIR/tap")" 'Secret-body-marker-4711'
ok "every tap line is one JSON object" jq -e -s 'length > 0 and all(type == "object")' "$H_DIR/tap"

finish
