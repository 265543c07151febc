/*
 * check_fetchd_imap - the IMAP response parser: whole responses, every
 * response cut at every byte, hostile input, and the bits fetchd writes.
 */
#include <string.h>

#include "unit.h"
#include "fetchd.h"

#define S(lit) lit, sizeof(lit) - 1

struct good {
	const char *in;
	gsize len;
	enum imap_kind kind;
	const char *tag, *word, *text;
	gint64 number;		/* -1: none */
	gint64 uid;		/* -1: none */
	gint64 size;		/* -1: none */
	const char *body;	/* NULL: none */
	gsize body_len;
	gsize consumed;		/* 0: all of it */
};

static const struct good good[] = {
	{ S("A1 OK done\r\n"), IMAP_TAGGED, "A1", "OK", "done", -1, -1, -1, NULL, 0, 0 },
	{ S("F3 NO [TRYCREATE] no such folder\r\n"), IMAP_TAGGED, "F3", "NO",
	  "[TRYCREATE] no such folder", -1, -1, -1, NULL, 0, 0 },
	{ S("F2 BAD\r\n"), IMAP_TAGGED, "F2", "BAD", "", -1, -1, -1, NULL, 0, 0 },
	{ S("A7 ok lowercase\n"), IMAP_TAGGED, "A7", "OK", "lowercase", -1, -1, -1, NULL, 0, 0 },
	{ S("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"), IMAP_UNTAGGED, NULL, "OK",
	  "[UIDVALIDITY 3857529045] UIDs valid", -1, -1, -1, NULL, 0, 0 },
	{ S("* 23 EXISTS\r\n"), IMAP_UNTAGGED, NULL, "EXISTS", "", 23, -1, -1, NULL, 0, 0 },
	{ S("* BYE Server shutting down.\r\n"), IMAP_UNTAGGED, NULL, "BYE",
	  "Server shutting down.", -1, -1, -1, NULL, 0, 0 },
	{ S("* CAPABILITY IMAP4rev1 IDLE LITERAL+\r\n"), IMAP_UNTAGGED, NULL, "CAPABILITY",
	  "IMAP4rev1 IDLE LITERAL+", -1, -1, -1, NULL, 0, 0 },
	{ S("* FLAGS (\\Answered \\Seen)\r\n"), IMAP_UNTAGGED, NULL, "FLAGS",
	  "(\\Answered \\Seen)", -1, -1, -1, NULL, 0, 0 },
	/* a literal in an untagged line that is not FETCH: the line goes on after it */
	{ S("* LIST (\\HasNoChildren) \"/\" {5}\r\nINBOX\r\n"), IMAP_UNTAGGED, NULL, "LIST",
	  "(\\HasNoChildren) \"/\" {5}", -1, -1, -1, NULL, 0, 0 },
	{ S("+ go ahead\r\n"), IMAP_CONTINUE, NULL, NULL, "go ahead", -1, -1, -1, NULL, 0, 0 },
	{ S("* 1 FETCH (UID 7 RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n"), IMAP_UNTAGGED, NULL,
	  "FETCH", "", 1, 7, 5, "hello", 5, 0 },
	/* items in any order, flags between them */
	{ S("* 2 FETCH (BODY[] {3}\r\nabc UID 9 FLAGS (\\Seen $Forwarded) RFC822.SIZE 3)\r\n"),
	  IMAP_UNTAGGED, NULL, "FETCH", "", 2, 9, 3, "abc", 3, 0 },
	/* the body holds what looks like the end of a response, and NULs */
	{ S("* 3 FETCH (UID 4 BODY[] {9}\r\n)\r\nA1 OK\0 RFC822.SIZE 9)\r\n"), IMAP_UNTAGGED, NULL,
	  "FETCH", "", 3, 4, 9, ")\r\nA1 OK\0", 9, 0 },
	{ S("* 3 FETCH (UID 4 BODY[] \"a\\\"b\\\\c\")\r\n"), IMAP_UNTAGGED, NULL, "FETCH", "", 3, 4,
	  -1, "a\"b\\c", 5, 0 },
	{ S("* 3 FETCH (UID 4 BODY[] NIL)\r\n"), IMAP_UNTAGGED, NULL, "FETCH", "", 3, 4, -1, "", 0, 0 },
	{ S("* 1 fetch (uid 3 body[] {1}\r\nx)\r\n"), IMAP_UNTAGGED, NULL, "FETCH", "", 1, 3, -1,
	  "x", 1, 0 },
	{ S("* 4 FETCH (UID 5 ENVELOPE (\"date\" {7}\r\nsubject NIL ((\"n\" NIL \"u\" \"h\")) NIL) "
	    "BODY[] {2}\r\nhi)\r\n"), IMAP_UNTAGGED, NULL, "FETCH", "", 4, 5, -1, "hi", 2, 0 },
	/* a section that is not the whole message is skipped, not taken for it */
	{ S("* 5 FETCH (UID 6 BODY[HEADER.FIELDS (SUBJECT)] {11}\r\nSubject: x\n)\r\n"),
	  IMAP_UNTAGGED, NULL, "FETCH", "", 5, 6, -1, NULL, 0, 0 },
	{ S("* 6 FETCH (FLAGS (\\Seen))\r\n"), IMAP_UNTAGGED, NULL, "FETCH", "", 6, -1, -1, NULL, 0, 0 },
	{ S("* 7 FETCH (UID 8 BINARY[] ~{3}\r\n\0\1\2 BODY[] ~{2}\r\nok)\r\n"), IMAP_UNTAGGED, NULL,
	  "FETCH", "", 7, 8, -1, "ok", 2, 0 },
	/* pipelined: only the first response is taken */
	{ S("* 9 EXISTS\r\nA1 OK done\r\n"), IMAP_UNTAGGED, NULL, "EXISTS", "", 9, -1, -1, NULL, 0,
	  sizeof("* 9 EXISTS\r\n") - 1 },
	{ S("* 1 FETCH (UID 4294967295 RFC822.SIZE 18446744073709551)\r\n"), IMAP_UNTAGGED, NULL,
	  "FETCH", "", 1, 4294967295LL, 18446744073709551LL, NULL, 0, 0 },
};

static void
check_good(const struct good *g, const struct imap_resp *r, gsize len)
{
	ck_assert_int_eq(r->kind, g->kind);
	ck_assert_uint_eq(r->consumed, g->consumed ? g->consumed : len);
	if (g->tag)
		ck_assert_str_eq(r->tag, g->tag);
	else
		ck_assert_ptr_null(r->tag);
	if (g->word)
		ck_assert_str_eq(r->word, g->word);
	ck_assert_str_eq(r->text, g->text);
	ck_assert_int_eq(r->has_number, g->number >= 0);
	if (g->number >= 0)
		ck_assert_uint_eq(r->number, g->number);
	ck_assert_int_eq(r->has_uid, g->uid >= 0);
	if (g->uid >= 0)
		ck_assert_uint_eq(r->uid, g->uid);
	ck_assert_int_eq(r->has_size, g->size >= 0);
	if (g->size >= 0)
		ck_assert_uint_eq(r->size, g->size);
	ck_assert_int_eq(r->has_body, g->body != NULL);
}

START_TEST(parses_whole)
{
	const struct good *g = &good[_i];
	g_autoptr(GBytes) buf = g_bytes_new_static(g->in, g->len);
	struct imap_resp r;
	gsize need = 0;
	GError *err = NULL;

	ck_assert_int_eq(imap_parse((const guint8 *)g->in, g->len, &r, &need, &err), IMAP_DONE);
	ck_assert_ptr_null(err);
	check_good(g, &r, g->len);
	if (g->body) {
		g_autoptr(GBytes) body = imap_resp_body(&r, buf);

		ck_assert_uint_eq(g_bytes_get_size(body), g->body_len);
		ck_assert(memcmp(g_bytes_get_data(body, NULL), g->body, g->body_len) == 0);
	}
	imap_resp_clear(&r);
}
END_TEST

/* every response, cut after every byte: never done, never an error, and
 * need always points forward and never past the end */
START_TEST(parses_cut_anywhere)
{
	const struct good *g = &good[_i];
	gsize end = g->consumed ? g->consumed : g->len;

	for (gsize k = 0; k < end; k++) {
		struct imap_resp r;
		gsize need = 0;
		GError *err = NULL;
		enum imap_status st = imap_parse((const guint8 *)g->in, k, &r, &need, &err);

		ck_assert_msg(st == IMAP_MORE, "case %d cut at %zu: status %d (%s)", _i, k, st,
		    err ? err->message : "");
		ck_assert_uint_gt(need, k);
		ck_assert_uint_le(need, end);
	}
}
END_TEST

/* a large literal delivered in reads of any size: one parse per need, and
 * the body comes back whole */
START_TEST(parses_large_literal_by_need)
{
	const gsize n = 3 * 1024 * 1024 + 17;
	g_autofree char *head = g_strdup_printf("* 12 FETCH (UID 77 RFC822.SIZE %zu BODY[] {%zu}\r\n", n, n);
	g_autoptr(GByteArray) all = g_byte_array_new();
	g_autoptr(GBytes) whole = NULL, body = NULL;
	struct imap_resp r;
	gsize len = 0, need = 0;
	g_autoptr(GRand) rnd = g_rand_new_with_seed(42);
	int calls = 0;
	enum imap_status st;

	g_byte_array_append(all, (const guint8 *)head, strlen(head));
	for (gsize i = 0; i < n; i++) {
		guint8 c = (guint8)g_rand_int_range(rnd, 0, 256);

		/* sprinkle what looks like protocol into the body */
		if (i % 4099 == 0)
			g_byte_array_append(all, (const guint8 *)")\r\n", 3);
		else
			g_byte_array_append(all, &c, 1);
	}
	g_byte_array_set_size(all, strlen(head) + n);
	g_byte_array_append(all, (const guint8 *)" FLAGS ())\r\nF9 OK\r\n", 19);
	for (;;) {
		st = imap_parse(all->data, len, &r, &need, NULL);
		calls++;
		if (st != IMAP_MORE)
			break;
		len = need;
	}
	ck_assert_int_eq(st, IMAP_DONE);
	ck_assert_uint_eq(r.consumed, all->len - strlen("F9 OK\r\n"));
	/* byte by byte through the line, then one jump over the literal */
	ck_assert_int_lt(calls, (int)strlen(head) + 20);
	whole = g_bytes_new(all->data, all->len);
	body = imap_resp_body(&r, whole);
	ck_assert_uint_eq(g_bytes_get_size(body), n);
	ck_assert(memcmp(g_bytes_get_data(body, NULL), all->data + strlen(head), n) == 0);
	/* the body is a slice of the buffer, not a copy */
	ck_assert_ptr_eq(g_bytes_get_data(body, NULL), (const guint8 *)g_bytes_get_data(whole, NULL)
	    + strlen(head));
	imap_resp_clear(&r);
}
END_TEST

struct bad {
	const char *in;
	gsize len;
	const char *why;	/* a piece of the error message */
};

static const struct bad bad[] = {
	{ S("* 1 FETCH (UID 0)\r\n"), "UID 0" },
	{ S("* 1 FETCH (UID 99999999999)\r\n"), "out of range" },
	{ S("A1 MAYBE x\r\n"), "not OK, NO or BAD" },
	{ S("* 1 FETCH UID 3\r\n"), "expected '('" },
	{ S("* 1 FETCH (UID 3 BODY[] {2000000000}\r\n"), "over the limit" },
	{ S("* 1 FETCH (UID 3 BODY[] {5x}\r\n"), "expected '}'" },
	{ S("* 1 FETCH (UID 3 X \"ab\rc\")\r\n"), "quoted" },
	{ S("* 1 FETCH (UID 3 BODY[] 42)\r\n"), "neither" },
	{ S("* 1 FETCH (UID 3 RFC822.SIZE 123456789012345678901)\r\n"), "too large" },
	{ S("* 1 FETCH (UID 3 BODY[HEADER )\r\n"), "unclosed" },
	{ S("* 1 FETCH (UID 3))\r\n"), "end of the line" },
	{ S("\r\n"), "atom" },
	{ S("* 1 FETCH (X ((((((((((((((((((((((((((((((((((((((((((((((((((1)))\r\n"), "nested" },
};

START_TEST(refuses_bad)
{
	const struct bad *b = &bad[_i];
	struct imap_resp r;
	gsize need = 0;
	g_autoptr(GError) err = NULL;

	ck_assert_int_eq(imap_parse((const guint8 *)b->in, b->len, &r, &need, &err), IMAP_ERROR);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, b->why), "case %d: \"%s\" lacks \"%s\"", _i, err->message,
	    b->why);
	ck_assert_ptr_null(r.word);
}
END_TEST

/* a server that never ends its line: more until the bound, then an error */
START_TEST(bounds_line_length)
{
	gsize n = IMAP_LINE_MAX + 100;
	g_autofree char *buf = g_malloc(n);
	struct imap_resp r;
	gsize need = 0;
	g_autoptr(GError) err = NULL;

	memcpy(buf, "* OK ", 5);
	memset(buf + 5, 'x', n - 5);
	ck_assert_int_eq(imap_parse((guint8 *)buf, IMAP_LINE_MAX - 10, &r, &need, NULL), IMAP_MORE);
	ck_assert_int_eq(imap_parse((guint8 *)buf, n, &r, &need, &err), IMAP_ERROR);
	ck_assert_ptr_nonnull(strstr(err->message, "longer than"));
}
END_TEST

/* the line after a literal is bounded too */
START_TEST(bounds_line_after_literal)
{
	GString *s = g_string_new("* 1 FETCH (UID 2 BODY[] {3}\r\nabc ");
	struct imap_resp r;
	gsize need = 0;
	g_autoptr(GError) err = NULL;

	for (int i = 0; i < IMAP_LINE_MAX / 4; i++)
		g_string_append(s, "X 1 ");
	g_string_append(s, "Y 2 ");
	ck_assert_int_eq(imap_parse((guint8 *)s->str, s->len, &r, &need, &err), IMAP_ERROR);
	g_string_free(s, TRUE);
}
END_TEST

START_TEST(reads_codes)
{
	struct imap_resp r = { 0 };
	guint32 v = 0;

	r.text = (char *)"[UIDVALIDITY 1700000000] UIDs valid";
	ck_assert(imap_resp_code(&r, "UIDVALIDITY", &v));
	ck_assert_uint_eq(v, 1700000000);
	ck_assert(!imap_resp_code(&r, "UIDNEXT", &v));
	r.text = (char *)"[UIDVALIDITY 99999999999] too big";
	ck_assert(!imap_resp_code(&r, "UIDVALIDITY", &v));
	r.text = (char *)"[UIDVALIDITY x] not a number";
	ck_assert(!imap_resp_code(&r, "UIDVALIDITY", &v));
	r.text = (char *)"UIDs valid [UIDVALIDITY 5]";
	ck_assert(!imap_resp_code(&r, "UIDVALIDITY", &v));
}
END_TEST

static const struct {
	const char *in, *out;
} quotes[] = {
	{ "INBOX", "\"INBOX\"" },
	{ "Support Queue", "\"Support Queue\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "Entwürfe", "\"Entw&APw-rfe\"" },		/* RFC 3501 5.1.3 */
	{ "R&D", "\"R&-D\"" },
	{ "台北", "\"&U,BTFw-\"" },
	{ "a\r\nb", NULL },
	{ "\xff", NULL },
};

START_TEST(quotes_folders)
{
	g_autofree char *q = imap_quote(quotes[_i].in);

	if (quotes[_i].out)
		ck_assert_str_eq(q, quotes[_i].out);
	else
		ck_assert_ptr_null(q);
}
END_TEST

START_TEST(builds_uid_sets)
{
	const guint32 uids[] = { 1, 2, 3, 5, 7, 8, 4000000000u };
	g_autofree char *all = NULL, *cut = NULL;
	guint used;

	all = imap_uid_set(uids, G_N_ELEMENTS(uids), 1000, &used);
	ck_assert_str_eq(all, "1:3,5,7:8,4000000000");
	ck_assert_uint_eq(used, G_N_ELEMENTS(uids));
	cut = imap_uid_set(uids, G_N_ELEMENTS(uids), 6, &used);
	ck_assert_str_eq(cut, "1:3,5");
	ck_assert_uint_eq(used, 4);
}
END_TEST

/* BODY[HEADER.FIELDS (MESSAGE-ID)]: a literal, a quoted string, NIL */
static const struct {
	const char *in;
	gboolean has;
	const char *header;
} headers[] = {
	{ "* 1 FETCH (UID 4 BODY[HEADER.FIELDS (MESSAGE-ID)] {23}\r\nMessage-ID: <a@b.c>\r\n\r\n)\r\n",
	  TRUE, "Message-ID: <a@b.c>\r\n\r\n" },
	{ "* 1 FETCH (BODY[HEADER.FIELDS (\"MESSAGE-ID\")] \"x\\\"y\" UID 4)\r\n", TRUE, "x\"y" },
	{ "* 1 FETCH (UID 4 BODY[HEADER.FIELDS (MESSAGE-ID)] NIL)\r\n", TRUE, "" },
	{ "* 1 FETCH (UID 4 FLAGS (\\Seen))\r\n", FALSE, NULL },
};

START_TEST(parses_header_fields)
{
	const char *in = headers[_i].in;
	g_autoptr(GBytes) buf = g_bytes_new(in, strlen(in));
	g_autoptr(GError) err = NULL;
	struct imap_resp r;
	gsize need = 0;

	ck_assert_int_eq(imap_parse((const guint8 *)in, strlen(in), &r, &need, &err), IMAP_DONE);
	ck_assert(r.has_uid);
	ck_assert_uint_eq(r.uid, 4);
	ck_assert(!r.has_body);
	ck_assert_int_eq(r.has_header, headers[_i].has);
	if (headers[_i].has) {
		g_autoptr(GBytes) h = imap_resp_header(&r, buf);
		g_autofree char *text = g_strndup(g_bytes_get_data(h, NULL), g_bytes_get_size(h));

		ck_assert_str_eq(text, headers[_i].header);
	}
	imap_resp_clear(&r);
}
END_TEST

/* Message-ID out of a header block: as parsed stores it, without <> */
static const struct {
	const char *in;
	const char *id;		/* NULL: none */
} ids[] = {
	{ "Message-ID: <abc@example.net>\r\n\r\n", "abc@example.net" },
	{ "message-id:<x.y@z>\r\n", "x.y@z" },
	{ "Message-ID:\r\n <folded@example.net>\r\n\r\n", "folded@example.net" },
	{ "Message-ID: <  spaced@x >\r\n", "spaced@x" },
	{ "Message-ID: no-brackets@x\r\n", "no-brackets@x" },
	{ "Subject: hello\r\n\r\n", NULL },
	{ "", NULL },
	{ "Message-ID: <>\r\n", NULL },
	{ "Message-Idx: <a@b>\r\n", NULL },
};

START_TEST(finds_message_ids)
{
	g_autofree char *id = imap_message_id((const guint8 *)ids[_i].in, strlen(ids[_i].in));

	if (ids[_i].id)
		ck_assert_str_eq(id, ids[_i].id);
	else
		ck_assert_msg(id == NULL, "\"%s\" from \"%s\"", id, ids[_i].in);
}
END_TEST

START_TEST(writes_search_dates_and_logins)
{
	g_autoptr(GDateTime) d = g_date_time_new_utc(2024, 2, 1, 23, 59, 0);
	g_autoptr(GDateTime) e = g_date_time_new_utc(2023, 12, 31, 0, 0, 0);
	g_autofree char *a = imap_search_date(d), *b = imap_search_date(e);
	g_autofree char *q1 = imap_astring("support@example.com");
	g_autofree char *q2 = imap_astring("p\"a\\ss word");
	g_autofree char *q3 = imap_astring("pässword");

	ck_assert_str_eq(a, "1-Feb-2024");
	ck_assert_str_eq(b, "31-Dec-2023");
	ck_assert_str_eq(q1, "\"support@example.com\"");
	ck_assert_str_eq(q2, "\"p\\\"a\\\\ss word\"");
	ck_assert_ptr_null(q3);		/* 8-bit: a literal instead */
}
END_TEST

/* after_fetch: the commands for a uid set, by capability */
static const struct {
	enum after_fetch how;
	gboolean move, uidplus;
	const char *want;	/* commands joined by " | " */
} afters[] = {
	{ AFTER_FETCH_KEEP, TRUE, TRUE, "" },
	{ AFTER_FETCH_SEEN, FALSE, FALSE, "UID STORE 3:5,9 +FLAGS.SILENT (\\Seen)" },
	{ AFTER_FETCH_DELETE, TRUE, TRUE,
	  "UID STORE 3:5,9 +FLAGS.SILENT (\\Deleted) | UID EXPUNGE 3:5,9" },
	{ AFTER_FETCH_DELETE, TRUE, FALSE, "UID STORE 3:5,9 +FLAGS.SILENT (\\Deleted) | EXPUNGE" },
	{ AFTER_FETCH_MOVE, TRUE, FALSE, "UID MOVE 3:5,9 \"Trait&AOk-\"" },
	{ AFTER_FETCH_MOVE, FALSE, TRUE, "UID COPY 3:5,9 \"Trait&AOk-\" | "
	  "UID STORE 3:5,9 +FLAGS.SILENT (\\Deleted) | UID EXPUNGE 3:5,9" },
	{ AFTER_FETCH_MOVE, FALSE, FALSE, "UID COPY 3:5,9 \"Trait&AOk-\" | "
	  "UID STORE 3:5,9 +FLAGS.SILENT (\\Deleted) | EXPUNGE" },
};

START_TEST(writes_after_fetch)
{
	g_autoptr(GPtrArray) cmds = imap_after_fetch_commands(afters[_i].how, "Traité",
	    afters[_i].move, afters[_i].uidplus, "3:5,9");
	g_autofree char *got = NULL;

	g_ptr_array_add(cmds, NULL);
	got = g_strjoinv(" | ", (char **)cmds->pdata);
	ck_assert_str_eq(got, afters[_i].want);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_imap");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parses_whole, 0, UNIT_N(good));
	tcase_add_loop_test(tc, parses_cut_anywhere, 0, UNIT_N(good));
	tcase_add_test(tc, parses_large_literal_by_need);
	tcase_add_loop_test(tc, refuses_bad, 0, UNIT_N(bad));
	tcase_add_test(tc, bounds_line_length);
	tcase_add_test(tc, bounds_line_after_literal);
	tcase_add_test(tc, reads_codes);
	tcase_add_loop_test(tc, parses_header_fields, 0, UNIT_N(headers));
	tcase_add_loop_test(tc, finds_message_ids, 0, UNIT_N(ids));
	suite_add_tcase(s, tc);
	tc = tcase_create("write");
	tcase_add_loop_test(tc, quotes_folders, 0, UNIT_N(quotes));
	tcase_add_test(tc, builds_uid_sets);
	tcase_add_test(tc, writes_search_dates_and_logins);
	tcase_add_loop_test(tc, writes_after_fetch, 0, UNIT_N(afters));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
