/*
 * check_fetchd_check - the pure parts of `fetchd --check`: which server
 * refusals mean throttling or a lock, telling a plain-text greeting from
 * TLS, reading LIST, the --send-test address and message.
 */
#include "unit.h"
#include "fetchd.h"

#include <string.h>

static const struct {
	const char *reply;
	gboolean throttled;
} refusals[] = {
	/* the provider limits or locks */
	{ "NO [LIMIT] Maximum number of connections from user+IP exceeded "
	  "(mail_max_userip_connections=1)", TRUE },
	{ "NO [UNAVAILABLE] Temporary System Error", TRUE },
	{ "NO [INUSE] Mailbox is locked by another session", TRUE },
	{ "NO [CONTACTADMIN] [INUSE]", TRUE },
	{ "-ERR [IN-USE] Mailbox locked", TRUE },
	{ "-ERR [LOGIN-DELAY] wait 300 seconds", TRUE },
	{ "-ERR [SYS/TEMP] try later", TRUE },
	{ "421 4.7.0 Too many connections from your IP", TRUE },
	{ "454 4.7.0 Too many login attempts, please try again later.", TRUE },
	{ "451 4.7.1 Rate limited, slow down", TRUE },
	{ "450 4.2.1 The user you are trying to contact is receiving mail at a rate that", TRUE },
	{ "NO [ALERT] Account exceeded command or bandwidth limits. (Failure)", TRUE },
	{ "NO Lockout: too many failed attempts", TRUE },
	{ "* BYE Throttled: come back later", TRUE },
	{ "NO Account is temporarily locked", TRUE },
	/* a wrong login, or something else */
	{ "NO [AUTHENTICATIONFAILED] Authentication failed.", FALSE },
	{ "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", FALSE },
	{ "NO [ALERT] Application-specific password required", FALSE },
	{ "NO [ALERT] Please log in via your web browser", FALSE },
	{ "NO LOGIN failed.", FALSE },
	{ "535 5.7.8 Authentication credentials invalid", FALSE },
	{ "535 5.7.3 Authentication unsuccessful", FALSE },
	{ "-ERR [AUTH] Authentication failed.", FALSE },
	{ "NO [CONTACTADMIN] Login disabled for this user", FALSE },
	{ "NO [NONEXISTENT] Mailbox doesn't exist: Separate", FALSE },	/* "rate" in a word */
	{ "NO Generated reports are not a folder", FALSE },
	{ "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)", FALSE },
	{ "550 5.4.5 Daily user sending limit exceeded.", TRUE },
	{ "", FALSE },
};

START_TEST(classifies_refusals)
{
	ck_assert_msg(check_throttled(refusals[_i].reply) == refusals[_i].throttled, "%s: %s",
	    refusals[_i].reply, refusals[_i].throttled ? "is throttling" : "is not throttling");
}
END_TEST

START_TEST(no_reply_is_no_throttling)
{
	ck_assert(!check_throttled(NULL));
}
END_TEST

static const struct {
	const char *reply;
	gboolean wants_tls;
} plaintext[] = {
	{ "* CAPABILITY IMAP4rev1 SASL-IR LOGINDISABLED STARTTLS", TRUE },
	{ "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections", TRUE },
	{ "-ERR Plaintext authentication disallowed on non-secure (SSL/TLS) connections.", TRUE },
	{ "530 5.7.0 Must issue a STARTTLS command first", TRUE },
	{ "538 5.7.11 Encryption required for requested authentication mechanism", TRUE },
	{ "NO Cleartext logins are disabled", TRUE },
	{ "NO [AUTHENTICATIONFAILED] Authentication failed.", FALSE },
	{ "535 5.7.8 Authentication credentials invalid", FALSE },
	{ "-ERR [AUTH] Authentication failed.", FALSE },
	{ "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN", FALSE },
};

START_TEST(tells_tls_required)
{
	ck_assert_msg(check_wants_tls(plaintext[_i].reply) == plaintext[_i].wants_tls, "%s",
	    plaintext[_i].reply);
}
END_TEST

static const struct {
	const char *bytes;
	gsize len;
	gboolean plain;
} greetings[] = {
	{ "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", 0, TRUE },
	{ "* PREAUTH hi\r\n", 0, TRUE },
	{ "* BYE Too many connections\r\n", 0, TRUE },
	{ "+OK Dovecot (Debian) ready.\r\n", 0, TRUE },
	{ "220 smtp.example.com ESMTP\r\n", 0, TRUE },
	{ "220-smtp.example.com", 0, TRUE },		/* the line not ended yet */
	{ "\x16\x03\x03\x00\x7a\x02\x00\x00\x76", 9, FALSE },	/* a TLS ServerHello */
	{ "\x15\x03\x03\x00\x02\x02\x46", 7, FALSE },		/* a TLS alert */
	{ "* OK pr\xc3\xaat\r\n", 0, TRUE },			/* 8-bit text is still text */
	{ "* OK \x01\x02 ready\r\n", 0, FALSE },
	{ " OK\r\n", 0, FALSE },
	{ "*", 0, FALSE },
	{ "", 0, FALSE },
};

START_TEST(tells_plain_text_from_tls)
{
	gsize len = greetings[_i].len ? greetings[_i].len : strlen(greetings[_i].bytes);

	ck_assert_msg(check_greets_plain((const guint8 *)greetings[_i].bytes, len)
	    == greetings[_i].plain, "greeting %d", _i);
}
END_TEST

static const struct {
	const char *text;
	const char *name;	/* NULL: unreadable */
	gboolean selectable;
} lists[] = {
	{ "(\\HasNoChildren) \".\" INBOX", "INBOX", TRUE },
	{ "(\\HasNoChildren) \"/\" \"Sent Items\"", "Sent Items", TRUE },
	{ "(\\HasChildren \\Noselect) \"/\" \"[Gmail]\"", "[Gmail]", FALSE },
	{ "(\\NonExistent) \".\" Gone", "Gone", FALSE },
	{ "(\\HasNoChildren) \".\" \"&AMk-l&AOk-ments envoy&AOk-s\"", "Éléments envoyés", TRUE },
	{ "() \".\" \"R&-D\"", "R&D", TRUE },
	{ "() NIL Archive", "Archive", TRUE },
	{ "(\\HasNoChildren) \"\\\\\" Folder", "Folder", TRUE },
	{ "(\\HasNoChildren) \".\" \"say \\\"hi\\\"\"", "say \"hi\"", TRUE },
	{ "(\\HasNoChildren) \".\" \"&Jjo\"", "&Jjo", TRUE },	/* broken UTF-7: as it is */
	{ "(\\HasNoChildren) \".\" {5}", NULL, FALSE },		/* a literal: not in text */
	{ "(\\HasNoChildren) \".\" \"unterminated", NULL, FALSE },
	{ "(\\HasNoChildren) \".\" ", NULL, FALSE },
	{ "INBOX", NULL, FALSE },
	{ "", NULL, FALSE },
};

START_TEST(reads_list_responses)
{
	gboolean selectable = !lists[_i].selectable;
	g_autofree char *name = check_list_name(lists[_i].text, &selectable);

	if (!lists[_i].name) {
		ck_assert_msg(name == NULL, "%s: got %s", lists[_i].text, name);
		return;
	}
	ck_assert_str_eq(name, lists[_i].name);
	ck_assert_int_eq(selectable, lists[_i].selectable);
}
END_TEST

START_TEST(makes_server_words_printable)
{
	g_autofree char *ctl = check_printable("NO \x1b[31mred\x07\r\n", 14, 100);
	g_autofree char *cut = check_printable("abcdefghij", 10, 4);
	g_autofree char *bad = check_printable("caf\xe9 ok", 7, 100);
	g_autofree char *utf8 = check_printable("Éléments", strlen("Éléments"), 3);

	ck_assert_str_eq(ctl, "NO ?[31mred?");
	ck_assert_str_eq(cut, "abcd...");
	ck_assert(g_utf8_validate(bad, -1, NULL));
	ck_assert(g_str_has_prefix(bad, "caf") && g_str_has_suffix(bad, " ok"));
	ck_assert_str_eq(utf8, "Élé...");	/* characters, not bytes */
}
END_TEST

START_TEST(checks_addresses)
{
	static const char *good[] = { "a@b.c", "someone@customer.example", "x.y+tag@sub.example.org" };
	static const char *bad[] = { "", "no-at-sign", "@b.c", "a@", "a@b@c", "a b@c.d", "<a@b.c>",
	    "a@b.c\r\nBcc: x@y.z", "a@b.c,d@e.f", "\"a\"@b.c" };

	for (guint i = 0; i < G_N_ELEMENTS(good); i++)
		ck_assert_msg(check_address_ok(good[i]), "%s", good[i]);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		ck_assert_msg(!check_address_ok(bad[i]), "%s", bad[i]);
	ck_assert(!check_address_ok(NULL));
}
END_TEST

/* account - just what check_compose() reads */
static struct config_account
account(const char *name)
{
	struct config_account a;

	memset(&a, 0, sizeof a);
	a.id = (char *)"support";
	a.reply_address = (char *)"support@example.com";
	a.reply_name = (char *)name;
	a.smtp_host = (char *)"smtp.example.com";
	a.smtp_port = 587;
	return a;
}

START_TEST(composes_the_test_message)
{
	struct config_account a = account("Example Support");
	g_autoptr(GTimeZone) tz = g_time_zone_new_identifier("+02:00");
	g_autoptr(GDateTime) when = g_date_time_new(tz, 2026, 3, 1, 9, 5, 7);
	g_autofree char *m = check_compose(&a, "someone@customer.example", when,
	    "0b8a3f3e-1f43-4c55-9a2e-000000000001");

	ck_assert_str_eq(m,
	    "Date: Sun, 1 Mar 2026 09:05:07 +0200\r\n"
	    "From: \"Example Support\" <support@example.com>\r\n"
	    "To: <someone@customer.example>\r\n"
	    "Subject: postroom connection test (support)\r\n"
	    "Message-ID: <0b8a3f3e-1f43-4c55-9a2e-000000000001@example.com>\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "This is a test message from postroom (fetchd --check --send-test) for the account "
	    "support,\r\nsent from support@example.com through smtp.example.com:587. No reply is "
	    "needed.\r\n");
}
END_TEST

START_TEST(encodes_the_display_name)
{
	struct config_account plain = account("");
	struct config_account quoted = account("Ann \"the\" Support\\");
	struct config_account accented = account("Équipe Support");
	struct config_account lng = account("Служба поддержки клиентов интернет-магазина");
	struct config_account ctl = account("Evil\r\nBcc: x@y.z");
	g_autoptr(GDateTime) when = g_date_time_new_utc(2026, 11, 30, 23, 59, 59);
	g_autofree char *m1 = check_compose(&plain, "a@b.c", when, "u");
	g_autofree char *m2 = check_compose(&quoted, "a@b.c", when, "u");
	g_autofree char *m3 = check_compose(&accented, "a@b.c", when, "u");
	g_autofree char *m4 = check_compose(&lng, "a@b.c", when, "u");
	g_autofree char *m5 = check_compose(&ctl, "a@b.c", when, "u");
	g_auto(GStrv) lines = g_strsplit(m4, "\r\n", -1);
	const char *from = NULL;

	ck_assert(strstr(m1, "\r\nFrom: <support@example.com>\r\n"));
	ck_assert(g_str_has_prefix(m1, "Date: Mon, 30 Nov 2026 23:59:59 +0000\r\n"));
	ck_assert(strstr(m2, "\r\nFrom: \"Ann \\\"the\\\" Support\\\\\" <support@example.com>\r\n"));
	ck_assert(strstr(m3, "\r\nFrom: =?UTF-8?B?w4lxdWlwZSBTdXBwb3J0?= <support@example.com>\r\n"));
	/* a long name: several encoded words, none longer than 75 characters */
	for (char **l = lines; *l; l++)
		if (g_str_has_prefix(*l, "From: "))
			from = *l;
	ck_assert_ptr_nonnull(from);
	{
		g_auto(GStrv) words = g_strsplit(from + 6, " ", -1);
		guint n = 0;

		for (char **w = words; *w; w++)
			if (g_str_has_prefix(*w, "=?UTF-8?B?")) {
				ck_assert_int_le(strlen(*w), 75);
				n++;
			}
		ck_assert_int_ge(n, 2);
	}
	/* a line break in the name cannot add a header */
	ck_assert(!strstr(m5, "\r\nBcc:"));
	ck_assert(!strstr(m5, "\nBcc:"));
	/* every line ends with CRLF */
	for (const char *p = m4; (p = strchr(p, '\n')); p++)
		ck_assert(p > m4 && p[-1] == '\r');
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_check");
	TCase *tc = tcase_create("check");

	tcase_add_loop_test(tc, classifies_refusals, 0, UNIT_N(refusals));
	tcase_add_test(tc, no_reply_is_no_throttling);
	tcase_add_loop_test(tc, tells_tls_required, 0, UNIT_N(plaintext));
	tcase_add_loop_test(tc, tells_plain_text_from_tls, 0, UNIT_N(greetings));
	tcase_add_loop_test(tc, reads_list_responses, 0, UNIT_N(lists));
	tcase_add_test(tc, makes_server_words_printable);
	tcase_add_test(tc, checks_addresses);
	tcase_add_test(tc, composes_the_test_message);
	tcase_add_test(tc, encodes_the_display_name);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
