/*
 * check_agentd_compose - replies built by compose.c, parsed back with GMime
 * the way the customer's mail program would read them.
 */
#include <string.h>

#include <gmime/gmime.h>

#include "agentd.h"
#include "unit.h"

static GMimeMessage *
parse(GBytes *raw)
{
	gsize len;
	const char *data = g_bytes_get_data(raw, &len);
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);

	g_object_unref(parser);
	g_object_unref(stream);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* body - the text part's content, decoded, with the wire's CRLF as LF */
static char *
body(GMimeMessage *m)
{
	GMimeObject *part = g_mime_message_get_mime_part(m);
	g_autofree char *text = NULL;
	GString *s;

	ck_assert(GMIME_IS_TEXT_PART(part));
	text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	s = g_string_new(text);
	g_string_replace(s, "\r\n", "\n", 0);
	return g_string_free(s, FALSE);
}

static json_t *
zoe(void)
{
	return json_pack("{s:s, s:s, s:s, s:[s, s], s:s, s:s, s:s, s:[]}",
	    "from_name", "Zoë Martin", "from_addr", "zoe@example.net",
	    "message_id", "abc@example.net", "references", "r1@example.net", "r2@example.net",
	    "subject", "Où est ma commande ?", "date", "Tue, 14 Nov 2023 10:00:00 +0100",
	    "text_body", "Bonjour,\n\nJe cherche ma commande.\n> une citation\nZoë\n",
	    "reply_to");
}

static GBytes *
compose(json_t *customer, const char *subject, const char *text, json_t **record)
{
	struct compose_in in = {
		.from_name = "Exemple Support",
		.from_addr = "support@example.com",
		.subject = subject,
		.customer = customer,
		.body = text,
	};
	g_autoptr(GError) e = NULL;
	GBytes *raw = compose_reply(&in, record, &e);

	ck_assert_msg(raw != NULL, "compose_reply: %s", e ? e->message : "?");
	return raw;
}

START_TEST(test_headers)
{
	json_t *c = zoe(), *rec = NULL;
	g_autoptr(GBytes) raw = compose(c, "Où est ma commande ?", "Merci, ça part demain.", &rec);
	GMimeMessage *m = parse(raw);
	InternetAddressList *from = g_mime_message_get_from(m);
	InternetAddressList *to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	InternetAddress *a;
	GMimeReferences *refs;
	const char *mid;

	ck_assert_int_eq(internet_address_list_length(from), 1);
	a = internet_address_list_get_address(from, 0);
	ck_assert_str_eq(internet_address_get_name(a), "Exemple Support");
	ck_assert_str_eq(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)),
	    "support@example.com");
	ck_assert_int_eq(internet_address_list_length(to), 1);
	a = internet_address_list_get_address(to, 0);
	ck_assert_str_eq(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)),
	    "zoe@example.net");
	ck_assert_str_eq(internet_address_get_name(a), "Zoë Martin");
	ck_assert_str_eq(g_mime_message_get_subject(m), "Re: Où est ma commande ?");
	ck_assert_str_eq(g_mime_object_get_header(GMIME_OBJECT(m), "In-Reply-To"),
	    "<abc@example.net>");
	refs = g_mime_references_parse(NULL,
	    g_mime_object_get_header(GMIME_OBJECT(m), "References"));
	ck_assert_int_eq(g_mime_references_length(refs), 3);
	ck_assert_str_eq(g_mime_references_get_message_id(refs, 0), "r1@example.net");
	ck_assert_str_eq(g_mime_references_get_message_id(refs, 1), "r2@example.net");
	ck_assert_str_eq(g_mime_references_get_message_id(refs, 2), "abc@example.net");
	g_mime_references_free(refs);
	mid = g_mime_message_get_message_id(m);
	ck_assert_ptr_nonnull(mid);
	ck_assert(g_str_has_suffix(mid, "@example.com"));
	ck_assert_ptr_nonnull(g_mime_message_get_date(m));

	/* the record routed keeps says the same */
	ck_assert_str_eq(json_string_value(json_object_get(rec, "message_id")), mid);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "in_reply_to")), "abc@example.net");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "subject")),
	    "Re: Où est ma commande ?");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(rec, "to"), 0), "addr")), "zoe@example.net");
	ck_assert_int_eq(json_array_size(json_object_get(rec, "references")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(rec, "size")), g_bytes_get_size(raw));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(rec, "date_iso_utc")), "Z"));
	g_object_unref(m);
	json_decref(rec);
	json_decref(c);
}
END_TEST

START_TEST(test_body_utf8_and_quote)
{
	json_t *c = zoe(), *rec = NULL;
	g_autoptr(GBytes) raw = compose(c, NULL, "Merci, ça part demain — Zoë.\r\n", &rec);
	GMimeMessage *m = parse(raw);
	GMimeObject *part = g_mime_message_get_mime_part(m);
	g_autofree char *text = body(m);
	const char *expect =
	    "Merci, ça part demain — Zoë.\n"
	    "\n"
	    "On Tue, 14 Nov 2023 10:00:00 +0100, Zoë Martin <zoe@example.net> wrote:\n"
	    "> Bonjour,\n"
	    ">\n"
	    "> Je cherche ma commande.\n"
	    ">> une citation\n"
	    "> Zoë\n";
	gsize len;
	const char *data = g_bytes_get_data(raw, &len);

	ck_assert_str_eq(g_mime_object_get_content_type_parameter(part, "charset"), "utf-8");
	ck_assert_str_eq(text, expect);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "text_body")), expect);
	/* on the wire: 7-bit, every line ends in CRLF */
	for (gsize i = 0; i < len; i++) {
		ck_assert_msg((unsigned char)data[i] < 0x80, "8-bit byte at %zu", i);
		if (data[i] == '\n')
			ck_assert_msg(i > 0 && data[i - 1] == '\r', "bare LF at %zu", i);
	}
	/* the subject comes from the message when the conversation has none */
	ck_assert_str_eq(g_mime_message_get_subject(m), "Re: Où est ma commande ?");
	g_object_unref(m);
	json_decref(rec);
	json_decref(c);
}
END_TEST

START_TEST(test_reply_to_wins)
{
	json_t *c = zoe(), *rec = NULL;
	json_t *rt = json_pack("[{s:s, s:s}]", "name", "Orders", "addr", "orders@example.net");
	g_autoptr(GBytes) raw = NULL;
	GMimeMessage *m;
	InternetAddressList *to;

	json_object_set_new(c, "reply_to", rt);
	raw = compose(c, "x", "ok", &rec);
	m = parse(raw);
	to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	ck_assert_int_eq(internet_address_list_length(to), 1);
	ck_assert_str_eq(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
	    internet_address_list_get_address(to, 0))), "orders@example.net");
	g_object_unref(m);
	json_decref(rec);
	json_decref(c);
}
END_TEST

static const struct {
	const char *subject, *expect;
} subjects[] = {
	{ "Order 42", "Re: Order 42" },
	{ "Re: Order 42", "Re: Order 42" },
	{ "RE: Order 42", "RE: Order 42" },
	{ "re:Order 42", "re:Order 42" },
	{ "Réponse", "Re: Réponse" },
	{ "  Re: spaces", "Re: spaces" },
	{ "Fwd: Re: x", "Re: Fwd: Re: x" },
};

START_TEST(test_subject_re_once)
{
	json_t *c = zoe(), *rec = NULL;
	g_autoptr(GBytes) raw = compose(c, subjects[_i].subject, "ok", &rec);
	GMimeMessage *m = parse(raw);

	ck_assert_str_eq(g_mime_message_get_subject(m), subjects[_i].expect);
	g_object_unref(m);
	json_decref(rec);
	json_decref(c);
}
END_TEST

START_TEST(test_header_injection)
{
	json_t *c = zoe(), *rec = NULL;
	g_autoptr(GBytes) raw = NULL;
	GMimeMessage *m;
	GMimeHeaderList *hl;
	InternetAddressList *to;
	gsize len;
	const char *data;
	g_autofree char *text = NULL;

	json_object_set_new(c, "from_name", json_string("Eve\r\nBcc: victim@example.org"));
	json_object_set_new(c, "message_id", json_string("x@y>\r\nBcc: <victim@example.org"));
	json_object_set_new(c, "references", json_pack("[s, s]", "ok@example.net",
	    "bad\r\nX-Evil: 1"));
	raw = compose(c, "Hello\r\nBcc: victim@example.org\nX-Evil: yes", "ok", &rec);
	data = g_bytes_get_data(raw, &len);
	m = parse(raw);
	hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	ck_assert(!g_mime_header_list_contains(hl, "Bcc"));
	ck_assert(!g_mime_header_list_contains(hl, "X-Evil"));
	ck_assert_ptr_null(g_strstr_len(data, len, "\nBcc:"));
	ck_assert_ptr_null(g_strstr_len(data, len, "\nX-Evil:"));
	ck_assert_str_eq(g_mime_message_get_subject(m),
	    "Re: Hello  Bcc: victim@example.org X-Evil: yes");
	to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
	ck_assert_int_eq(internet_address_list_length(to), 1);
	ck_assert_int_eq(internet_address_list_length(
	    g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_BCC)), 0);
	/* an unusable Message-ID is left out rather than mangled */
	ck_assert_ptr_null(g_mime_object_get_header(GMIME_OBJECT(m), "In-Reply-To"));
	ck_assert_str_eq(g_mime_object_get_header(GMIME_OBJECT(m), "References"),
	    "<ok@example.net>");
	/* the quote's attribution line is one line too */
	text = body(m);
	ck_assert_ptr_nonnull(strstr(text, ", Eve  Bcc: victim@example.org <zoe@example.net> wrote:\n"));
	g_object_unref(m);
	json_decref(rec);
	json_decref(c);
}
END_TEST

START_TEST(test_bad_addresses)
{
	json_t *c = zoe(), *rec = NULL;
	struct compose_in in = { "S", "support@example.com", "x", c, "ok", NULL };
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) raw = NULL;
	GMimeMessage *m;

	/* a Reply-To that would smuggle a recipient in is passed over */
	json_object_set_new(c, "reply_to", json_pack("[{s:s, s:s}]", "name", "x",
	    "addr", "a@b.example>\r\nRCPT TO:<victim@example.org"));
	raw = compose(c, "x", "ok", &rec);
	m = parse(raw);
	ck_assert_str_eq(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
	    internet_address_list_get_address(g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_TO), 0))), "zoe@example.net");
	g_object_unref(m);
	json_decref(rec);
	rec = NULL;

	/* nothing usable at all: no message */
	json_object_set_new(c, "from_addr", json_string("zoe at example"));
	ck_assert_ptr_null(compose_reply(&in, &rec, &e));
	ck_assert_ptr_nonnull(e);
	json_decref(c);
}
END_TEST

static const struct {
	const char *addr;
	gboolean ok;
} addrs[] = {
	{ "zoe@example.net", TRUE },
	{ "zoë@exämple.net", TRUE },
	{ "a+tag@sub.example.org", TRUE },
	{ "", FALSE },
	{ "zoe", FALSE },
	{ "@example.net", FALSE },
	{ "zoe@", FALSE },
	{ "a@b@c", FALSE },
	{ "zoe @example.net", FALSE },
	{ "zoe@example.net>", FALSE },
	{ "zoe@example.net\r\nRCPT TO:<x@y>", FALSE },
	{ "\"quoted\"@example.net", FALSE },
};

START_TEST(test_valid_addr)
{
	ck_assert_msg(compose_valid_addr(addrs[_i].addr) == addrs[_i].ok, "%s", addrs[_i].addr);
}
END_TEST

START_TEST(test_references_capped)
{
	json_t *c = zoe(), *rec = NULL, *refs = json_array(), *out;
	g_autoptr(GBytes) raw = NULL;

	for (int i = 0; i < 50; i++)
		json_array_append_new(refs, json_sprintf("r%d@example.net", i));
	json_object_set_new(c, "references", refs);
	raw = compose(c, "x", "ok", &rec);
	out = json_object_get(rec, "references");
	ck_assert_int_eq(json_array_size(out), 30);
	ck_assert_str_eq(json_string_value(json_array_get(out, 0)), "r0@example.net");
	ck_assert_str_eq(json_string_value(json_array_get(out, 28)), "r49@example.net");
	ck_assert_str_eq(json_string_value(json_array_get(out, 29)), "abc@example.net");
	json_decref(rec);
	json_decref(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("agentd_compose");
	TCase *tc = tcase_create("compose");

	g_mime_init();
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_body_utf8_and_quote);
	tcase_add_test(tc, test_reply_to_wins);
	tcase_add_loop_test(tc, test_subject_re_once, 0, UNIT_N(subjects));
	tcase_add_test(tc, test_header_injection);
	tcase_add_test(tc, test_bad_addresses);
	tcase_add_loop_test(tc, test_valid_addr, 0, UNIT_N(addrs));
	tcase_add_test(tc, test_references_capped);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
