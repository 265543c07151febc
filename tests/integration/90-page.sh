#!/bin/bash
# 90-page - the agent's page in a real browser: headless Chromium, driven
# over WebDriver (Debian's chromedriver, tests/lib/webdriver.py), does what
# an agent does.  alice logs in through the form and presses Ready; a
# customer's mail with an accented subject and markup in it arrives and is
# shown, the markup as text (no element is made from it); she types a
# reply and presses Send (the SMTP server gets it), then DONE: the page
# waits again and routed's database has the conversation closed with DONE.
# A screenshot of the conversation on screen is left in the test directory
# (kept with KEEP=1, and whenever something failed).
#
# Needs the Debian packages chromium and chromium-driver (make deps): a
# machine without them fails this test, it does not skip it.
. "$(dirname "$0")/../lib/harness.sh"

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

wd() { "$H_PY" "$H_ROOT/tests/lib/webdriver.py" "$@"; }

# wd_stop PGID - end the browser session, then chromedriver and whatever
# it started (its own process group: Chromium outlives a bare chromedriver)
wd_stop() {
	[ -f "$WEBDRIVER_SESSION" ] && wd quit
	kill -TERM -- "-$1" 2>/dev/null
	wait_for "! kill -0 -- -$1" 10 || kill -KILL -- "-$1" 2>/dev/null
}

# shot NAME - a screenshot of the page as $H_DIR/NAME.png, noted in the log
shot() {
	if wd screenshot "$H_DIR/$1.png"; then
		note "screenshot: ${H_DIR#"$H_ROOT"/}/$1.png"
	else
		note "no screenshot $1"
	fi
}

# page_bail WHY - a screenshot and the page's error line, then bail
page_bail() {
	shot failure
	note "the page's error line: $(wd prop '#error' textContent 2>&1)"
	bail "$1"
}

# db SQL - a query on routed's database, read-only
db() { sqlite3 -batch "file:$H_STATE/postroom.db?mode=ro" "$1" 2>&1; }

# agent_state - alice's state in routed's database
agent_state() { db "SELECT state FROM agents WHERE id = '$H_AGENT'"; }

# mime_words TEXT - TEXT as one RFC 2047 encoded word
mime_words() { printf '=?UTF-8?B?%s?=' "$(printf '%s' "$1" | base64 -w 0)"; }

h_init 90-page
missing=
for f in "$CHROMIUM" "$CHROMEDRIVER"; do
	[ -x "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	bail "Chromium and chromedriver are installed: missing$missing (Debian packages chromium chromium-driver: run make deps, or apt-get install chromium chromium-driver)"
fi
command -v sqlite3 > /dev/null || bail "sqlite3 is installed (make deps)"

h_dovecot_start || bail "dovecot does not start"
h_smtpd_start || bail "tests/smtpd.py does not start"
h_config_write || bail "cannot write the configuration"
h_pipeline_start
page=http://127.0.0.1:$H_HTTP_PORT/

# the browser
wd_port=$(h_free_port) || bail "no free port for chromedriver"
export WEBDRIVER_URL=http://127.0.0.1:$wd_port
export WEBDRIVER_SESSION=$H_DIR/webdriver.session
export WEBDRIVER_BINARY=$CHROMIUM
setsid "$CHROMEDRIVER" --port="$wd_port" --log-path="$H_LOG/chromedriver.trace" \
    > "$H_LOG/chromedriver.out" 2>&1 &
h_on_exit "wd_stop $!"
wait_for 'wd status' 20 || bail "chromedriver does not answer on $WEBDRIVER_URL"
profile=$(mktemp -d "$H_DIR/chromium.XXXX")
wd start --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    "--user-data-dir=$profile" > /dev/null 2> "$H_LOG/webdriver-start.out" ||
	bail "Chromium does not start under chromedriver: $(cat "$H_LOG/webdriver-start.out")"
wd size 1280 900 || note "the window keeps its size"
pass "headless Chromium runs under chromedriver"

# log in through the form: a wrong password first
ok "the page loads" wd open "$page"
ok "it shows the login form" wd wait-displayed '#login' 10
is "... and nothing else" "$(wd displayed '#work'),$(wd displayed '#bar')" false,false
wd type '#login-agent' "$H_AGENT" && wd type '#login-password' not-the-password &&
    wd click '#login button[type=submit]' || page_bail "cannot fill in the login form"
ok "a wrong password: an error on the page" wd wait-displayed '#error' 10
is "... and still the login form" "$(wd displayed '#login'),$(wd displayed '#work')" true,false
wd type '#login-agent' "$H_AGENT" && wd type '#login-password' "$H_AGENT_PW" &&
    wd click '#login button[type=submit]' || page_bail "cannot fill in the login form"
wd wait-displayed '#work' 10 || page_bail "logging in through the form does not show the working screen"
pass "logging in through the form shows the working screen"
is "... the login form is gone" "$(wd displayed '#login')" false
is "... so is the error" "$(wd displayed '#error')" false
is "... it names the agent" "$(wd text '#who')" "$H_AGENT_NAME ($H_AGENT)"
is "... paused" "$(wd text '#state')" Paused
is "... the button says Ready" "$(wd text '#toggle')" Ready
like "... and what to do" "$(wd text '#waiting')" 'Press Ready'

ok "Ready is pressed" wd click '#toggle'
ok "the page says Ready" wd wait-text '#state' Ready 10
is "... the button now says Pause" "$(wd text '#toggle')" Pause
like "... and that it waits" "$(wd text '#waiting')" '^Waiting for the next message'
wait_for '[ "$(agent_state)" = ready ]' 10
is "routed has alice ready" "$(agent_state)" ready

# a customer writes, in French, with markup in the subject and the body
subject='Où est ma commande n°4711 ? <b>urgent</b>'
from_name='Zoé Lefèvre'
from_addr=zoe@client.example
line1="ma commande n°4711 n'est toujours pas arrivée. Merci de vérifier !"
img='<img src=x onerror="document.title=`pwned`">'
h_msg "$H_DIR/m1.eml" commande-4711@client.example "$(mime_words "$from_name") <$from_addr>" \
    "$(mime_words "$subject")" "Bonjour,
$line1
$img <b>bold</b>
Zoé"
h_mail_save "$H_DIR/m1.eml" || bail "doveadm save failed"

wd wait-text '#contact' "$from_addr" 30 || page_bail "the page never showed the conversation"
pass "the page shows the conversation"
shot conversation
is "the subject, accents and markup as text" "$(wd text '#subject')" "$subject"
is "the customer" "$(wd text '#contact')" "$from_name <$from_addr>"
is "one message" "$(wd count '#messages li')" 1
like "... from the customer" "$(wd text '#messages li.in .from')" "^$from_name <$from_addr>\$"
body=$(wd text '#messages li.in pre.body')
like "... its text on screen" "$body" "^$line1\$"
like "... the markup in it on screen, as text" "$body" "^<img src=x onerror=\"document.title=\`pwned\`\"> <b>bold</b>\$"
raw=$(wd prop '#messages li.in pre.body' textContent)
like "... the body element's textContent is the literal markup" "$raw" "^<img src=x .*<b>bold</b>\$"
like "... and the subject's" "$(wd prop '#subject' textContent)" '<b>urgent</b>$'
is "no <img> was made from the mail" "$(wd count 'img')" 0
is "no <b> either" "$(wd count '#conversation b'),$(wd count '#subject *')" 0,0
is "the pre holds text only" "$(wd js 'return document.querySelector("#messages pre.body").childElementCount')" 0
is "nothing ran: the title is the page's" "$(wd js 'return document.title')" '"postroom"'
is "the group's dispositions are offered" "$(wd js 'return [...document.querySelectorAll("#dispositions button")].map((b) => b.textContent).join(",")')" '"DONE,SPAM,CALLBACK"'
is "the waiting line is hidden" "$(wd displayed '#waiting')" false
id=$(db "SELECT id FROM conversations WHERE agent = '$H_AGENT' AND status = 'assigned'")
like "routed has it assigned to alice" "$id" '^[0-9]+$'

# the reply, typed and sent
reply="Bonjour Zoé,
votre colis est parti ce matin (n°4711).
Alice, pour Postroom Support"
ok "the reply is typed" wd type '#reply-body' "$reply"
is "... the text area holds it" "$(wd prop '#reply-body' value)" "$reply"
ok "Send is pressed" wd click '#send'
wait_for '[ "$(h_outbox_count)" -ge 1 ]' 30 || page_bail "no reply reached the SMTP server"
is "the SMTP server got one message" "$(h_outbox_count)" 1
eml=$H_OUTBOX/1.eml
is "... to the customer" "$(json '.rcpt_tos | join(",")' < "$H_OUTBOX/1.json")" "$from_addr"
is "... Subject: Re: the customer's" "$(eml_header "$eml" Subject)" "Re: $subject"
sent=$(eml_body "$eml")
like "... the agent's text" "$sent" '^Bonjour Zoé,$'
like "... all of it" "$sent" '^votre colis est parti ce matin \(n°4711\)\.$'
like "... the customer quoted" "$sent" "^> $line1\$"
ok "the page says Sent." wd wait-text '#sent' 'Sent.' 10
ok "... and shows the reply in the conversation" wd wait-text '#messages li.out pre.body' 'votre colis est parti ce matin' 10
is "... two messages now" "$(wd count '#messages li')" 2
is "... the text area is empty again" "$(wd prop '#reply-body' value)" ""

# DONE
ok "DONE is pressed" wd click "xpath://span[@id='dispositions']/button[normalize-space()='DONE']"
wd wait-hidden '#conversation' 10 || page_bail "the conversation stays on the page after DONE"
pass "the conversation leaves the page"
ok "the page waits for the next message" wd wait-text '#waiting' 'Waiting for the next message' 5
is "... still Ready" "$(wd text '#state')" Ready
is "... no error" "$(wd displayed '#error')" false
is "routed closed the conversation with DONE" "$(db "SELECT status, disposition FROM conversations WHERE id = '$id'")" "closed|DONE"
is "... recorded as alice's disposition" "$(db "SELECT agent, disposition FROM dispositions WHERE conversation = '$id'")" "$H_AGENT|DONE"
is "alice holds nothing" "$(db "SELECT coalesce(conversation, 'none') FROM agents WHERE id = '$H_AGENT'")" none
is "the conversation has the customer's message and the reply" "$(db "SELECT group_concat(direction) FROM (SELECT direction FROM messages WHERE conversation = '$id' ORDER BY id)")" in,out

finish
