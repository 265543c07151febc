/*
 * check_parsed_mime - the record parsed makes of small messages written
 * for these tests: headers, charsets, body choice, HTML, attachments, and
 * messages too broken to read whole.
 */
#include <string.h>

#include "parsed.h"
#include "unit.h"

static struct record *
parse(const char *text)
{
	g_autoptr(GBytes) raw = g_bytes_new_static(text, strlen(text));

	return mime_parse(raw);
}

static gboolean
has_warning(const struct record *r, const char *part)
{
	for (guint i = 0; i < r->warnings->len; i++)
		if (strstr(r->warnings->pdata[i], part))
			return TRUE;
	return FALSE;
}

/* ---- headers: one field of one message */

enum field { F_SUBJECT, F_FROM_NAME, F_FROM_ADDR, F_DATE_UTC, F_MESSAGE_ID, F_IN_REPLY_TO };

static const struct {
	const char *name;
	const char *msg;
	enum field field;
	const char *want;	/* NULL: the field is null */
} headers[] = {
	{ "adjacent encoded words lose the blank between them",
	  "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=\n\nx\n",
	  F_SUBJECT, "Café crème" },
	{ "a character split across two words",
	  "Subject: =?utf-8?b?w6k=?= =?utf-8?b?w6g=?= and =?UTF-8?B?4oI=?=\n =?UTF-8?B?rA==?=\n\nx\n",
	  F_SUBJECT, "éè and €" },
	{ "base64 padding in the middle of a run",
	  "Subject: =?UTF-8?B?TXlTdXJ2ZXk=?=\n =?UTF-8?B?LmNvbTogIFk=?=\n =?UTF-8?B?b3UgaGF2ZSA=?=\n\nx\n",
	  F_SUBJECT, "MySurvey.com:  You have" },
	{ "Q words: underscore is a blank",
	  "Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=\n\nx\n",
	  F_SUBJECT, "Grüße aus Köln" },
	{ "iso-8859-1 word read as windows-1252",
	  "Subject: =?iso-8859-1?q?=80_100_=93net=94?=\n\nx\n",
	  F_SUBJECT, "€ 100 “net”" },
	{ "gb2312 read as gb18030",
	  "Subject: =?gb2312?b?1tDOxA==?=\n\nx\n",
	  F_SUBJECT, "中文" },
	{ "encoded word glued to text",
	  "Subject: Re:=?utf-8?q?_r=C3=A9ponse?=\n\nx\n",
	  F_SUBJECT, "Re: réponse" },
	{ "raw 8-bit UTF-8 subject",
	  "Subject: Où est ma commande ?\n\nx\n",
	  F_SUBJECT, "Où est ma commande ?" },
	{ "raw 8-bit latin-1 subject",
	  "Subject: Caf\xe9\n\nx\n",
	  F_SUBJECT, "Café" },
	{ "no subject",
	  "From: a@example.com\n\nx\n",
	  F_SUBJECT, NULL },
	{ "encoded display name",
	  "From: =?utf-8?q?Zo=C3=AB?= Martin <zoe@example.net>\n\nx\n",
	  F_FROM_NAME, "Zoë Martin" },
	{ "quoted display name",
	  "From: \"Martin, Zoe (Sales)\" <zoe@example.net>\n\nx\n",
	  F_FROM_NAME, "Martin, Zoe (Sales)" },
	{ "a comment is not a display name",
	  "From: zoe@example.net (Zoe Martin)\n\nx\n",
	  F_FROM_NAME, NULL },
	{ "an unclosed comment keeps the address",
	  "From: Smith (Sales <smith@example.com>\n\nx\n",
	  F_FROM_ADDR, "smith@example.com" },
	{ "from address",
	  "From: Zoe <zoe@Example.NET>\n\nx\n",
	  F_FROM_ADDR, "zoe@Example.NET" },
	{ "date in UTC",
	  "Date: Tue, 14 Nov 2023 10:00:00 +0100\n\nx\n",
	  F_DATE_UTC, "2023-11-14T09:00:00Z" },
	{ "date with a time glued to its zone",
	  "Date: 01 Jan 2001 00:01+0000\n\nx\n",
	  F_DATE_UTC, "2001-01-01T00:01:00Z" },
	{ "date with a three-digit zone",
	  "Date: Mon, 21 Aug 95 13:30:57 -600\n\nx\n",
	  F_DATE_UTC, "1995-08-21T19:30:57Z" },
	{ "date that is not one",
	  "Date: sometime next week\n\nx\n",
	  F_DATE_UTC, NULL },
	{ "message id without brackets",
	  "Message-ID: <abc.123@example.net>\n\nx\n",
	  F_MESSAGE_ID, "abc.123@example.net" },
	{ "message id with two @",
	  "Message-ID: <a1@b2@example.com>\n\nx\n",
	  F_MESSAGE_ID, "a1@b2@example.com" },
	{ "bare message id",
	  "Message-Id: 20100219.30117.foo@example.com\n\nx\n",
	  F_MESSAGE_ID, "20100219.30117.foo@example.com" },
	{ "first id of In-Reply-To",
	  "In-Reply-To: <one@example.com> <two@example.com>\n\nx\n",
	  F_IN_REPLY_TO, "one@example.com" },
};

START_TEST(test_headers)
{
	g_autoptr(record) r = parse(headers[_i].msg);
	const char *got = NULL;

	switch (headers[_i].field) {
	case F_SUBJECT:
		got = r->subject;
		break;
	case F_FROM_NAME:
		got = r->from_name;
		break;
	case F_FROM_ADDR:
		got = r->from_addr;
		break;
	case F_DATE_UTC:
		got = r->date_iso_utc;
		break;
	case F_MESSAGE_ID:
		got = r->message_id;
		break;
	case F_IN_REPLY_TO:
		got = r->in_reply_to;
		break;
	}
	if (headers[_i].want)
		ck_assert_msg(got && strcmp(got, headers[_i].want) == 0, "%s: got [%s], want [%s]",
		    headers[_i].name, got ? got : "(null)", headers[_i].want);
	else
		ck_assert_msg(got == NULL, "%s: got [%s], want null", headers[_i].name, got);
}
END_TEST

START_TEST(test_addresses)
{
	g_autoptr(record) r = parse(
	    "From: Support <support@example.com>\n"
	    "To: Alice <alice@example.com>, team: bob@example.com, \"Carol\" <carol@example.com>;\n"
	    "Cc: localrecipient\n"
	    "To: dave@example.com (Dave)\n"
	    "Cc: =?utf-8?q?Ren=C3=A9e?= <renee@example.org>\n"
	    "Reply-To: Sales <sales@example.com>\n"
	    "References: <r1@example.com>\n <r2@example.com> <r3@example.com>\n"
	    "\nbody\n");
	static const char *const to[][2] = {
		{ "Alice", "alice@example.com" }, { NULL, "bob@example.com" },
		{ "Carol", "carol@example.com" }, { NULL, "dave@example.com" },
	};
	struct address *a;

	ck_assert_uint_eq(r->to->len, 4);
	for (guint i = 0; i < 4; i++) {
		a = r->to->pdata[i];
		ck_assert_pstr_eq(a->name, to[i][0]);
		ck_assert_str_eq(a->addr, to[i][1]);
	}
	ck_assert_uint_eq(r->cc->len, 2);
	a = r->cc->pdata[0];
	ck_assert_str_eq(a->addr, "localrecipient");
	a = r->cc->pdata[1];
	ck_assert_str_eq(a->name, "Renée");
	ck_assert_uint_eq(r->reply_to->len, 1);
	ck_assert_uint_eq(r->references->len, 3);
	ck_assert_str_eq(r->references->pdata[2], "r3@example.com");
}
END_TEST

/* ---- bodies: which part, which charset, which text */

static const struct {
	const char *name;
	const char *msg;
	const char *want;
	enum body_source source;
	const char *warning;	/* a warning that must be there, or NULL */
} bodies[] = {
	{ "iso-8859-1 with 0x80-0x9F is windows-1252",
	  "Content-Type: text/plain; charset=iso-8859-1\n\n"
	  "\x93Quoted\x94 \x80 10 \x96 caf\xe9\n",
	  "“Quoted” € 10 – café", BODY_PLAIN, NULL },
	{ "undeclared 8-bit UTF-8",
	  "Subject: x\n\nna\xc3\xafve r\xc3\xa9sum\xc3\xa9\n",
	  "naïve résumé", BODY_PLAIN, "read as utf-8" },
	{ "undeclared 8-bit, not UTF-8",
	  "Subject: x\n\nna\xefve r\xe9sum\xe9\n",
	  "naïve résumé", BODY_PLAIN, "read as windows-1252" },
	{ "us-ascii label on UTF-8 bytes",
	  "Content-Type: text/plain; charset=us-ascii\n\nZo\xc3\xab\n",
	  "Zoë", BODY_PLAIN, NULL },
	{ "unknown charset label",
	  "Content-Type: text/plain; charset=x-no-such-charset\n\nZo\xeb\n",
	  "Zoë", BODY_PLAIN, "x-no-such-charset" },
	{ "euc-kr read as cp949",
	  "Content-Type: text/plain; charset=euc-kr\n\n\xc7\xd1\xb1\xdb\n",
	  "한글", BODY_PLAIN, NULL },
	{ "quoted-printable",
	  "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "Bonjour Zo=C3=AB,=\n tr=C3=A8s bien.\n",
	  "Bonjour Zoë, très bien.", BODY_PLAIN, NULL },
	{ "normalized: BOM, CRLF, trailing blanks, trailing empty lines",
	  "Content-Type: text/plain; charset=utf-8\r\n\r\n\xef\xbb\xbfline one  \r\nline two\t\r\n\r\n\r\n",
	  "line one\nline two", BODY_PLAIN, NULL },
	{ "multipart/alternative: the plain part",
	  "Content-Type: multipart/alternative; boundary=b\n\n"
	  "--b\nContent-Type: text/plain; charset=utf-8\n\nplain text\n"
	  "--b\nContent-Type: text/html; charset=utf-8\n\n<p>html text</p>\n--b--\n",
	  "plain text", BODY_PLAIN, NULL },
	{ "HTML only: script dropped, paragraphs kept, entities, a link and its address",
	  "Content-Type: text/html; charset=utf-8\n\n"
	  "<html><head><title>T</title><style>p{}</style></head><body>"
	  "<script>alert('x')</script><p>Hello&nbsp;Zo&euml;,</p>"
	  "<p>Your   order\n is <a href=\"https://example.com/o/1\">here</a> &amp; ready.</p>"
	  "<div>Thanks<br>Support</div></body></html>\n",
	  "Hello Zoë,\n\nYour order is here <https://example.com/o/1> & ready.\n\nThanks\nSupport",
	  BODY_HTML, NULL },
	{ "multipart/related: only the start part",
	  "Content-Type: multipart/related; boundary=r; start=\"<two@x>\"\n\n"
	  "--r\nContent-Type: text/plain\nContent-ID: <one@x>\n\nnot me\n"
	  "--r\nContent-Type: text/html\nContent-ID: <two@x>\n\n<p>me</p>\n--r--\n",
	  "me", BODY_HTML, NULL },
	{ "never inside message/rfc822",
	  "Content-Type: multipart/mixed; boundary=m\n\n"
	  "--m\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--m--\n",
	  "", BODY_NONE, NULL },
	{ "a text/plain attachment is not the body",
	  "Content-Type: multipart/mixed; boundary=m\n\n"
	  "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nfile\n"
	  "--m\nContent-Type: text/plain\n\nthe body\n--m--\n",
	  "the body", BODY_PLAIN, NULL },
	{ "a Content-Type that is not one is text/plain",
	  "Content-Type: text; charset=us-ascii\n\nplain after all\n",
	  "plain after all", BODY_PLAIN, NULL },
	{ "no empty line after the headers",
	  "From: a@example.com\nSubject: x\nthis line starts the body\n",
	  "this line starts the body", BODY_PLAIN, "empty line" },
	{ "a repeated Content-Type: the first counts",
	  "Content-Type: multipart/alternative; boundary=b\nContent-Type: text/plain\n\n"
	  "preamble\n--b\nContent-Type: text/plain\n\nfoo\n--b--\n",
	  "foo", BODY_PLAIN, "repeated" },
};

START_TEST(test_bodies)
{
	g_autoptr(record) r = parse(bodies[_i].msg);

	ck_assert_msg(strcmp(r->text_body, bodies[_i].want) == 0, "%s: got [%s], want [%s]",
	    bodies[_i].name, r->text_body, bodies[_i].want);
	ck_assert_msg(r->text_body_source == bodies[_i].source, "%s: source %d, want %d",
	    bodies[_i].name, r->text_body_source, bodies[_i].source);
	if (bodies[_i].warning)
		ck_assert_msg(has_warning(r, bodies[_i].warning), "%s: no warning \"%s\"",
		    bodies[_i].name, bodies[_i].warning);
}
END_TEST

START_TEST(test_has_html)
{
	g_autoptr(record) alt = parse(bodies[8].msg);
	g_autoptr(record) inner = parse(
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain\n\nbody\n"
	    "--m\nContent-Type: message/rfc822\n\nContent-Type: text/html\n\n<p>x</p>\n--m--\n");

	ck_assert(alt->has_html);
	ck_assert_uint_eq(alt->attachments->len, 0);
	ck_assert(!inner->has_html);
	ck_assert_uint_eq(inner->attachments->len, 1);
}
END_TEST

/* ---- attachments */

START_TEST(test_attachments)
{
	g_autoptr(record) r = parse(
	    "From: a@example.com\n"
	    "Content-Type: multipart/mixed; boundary=\"=-b\"\n\n"
	    "--=-b\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n"
	    "--=-b\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment;\n"
	    " filename*0*=utf-8''%C3%A9t%C3%A9%20;\n filename*1=report.pdf\n"
	    "Content-Transfer-Encoding: base64\n\n"
	    "JVBERi0xLjQKJcOkw7zDtsOfCg==\n"
	    "--=-b\nContent-Type: image/png; name=\"=?utf-8?q?logo=C3=A9.png?=\"\n"
	    "Content-ID: <logo@example.com>\n"
	    "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
	    "--=-b\nContent-Type: text/plain\n\nan inline footer, not an attachment\n"
	    "--=-b\nContent-Type: message/rfc822\n\nSubject: fwd\n\nforwarded\n"
	    "--=-b--\n");
	struct attachment *a;

	ck_assert_str_eq(r->text_body, "See attached.");
	ck_assert_uint_eq(r->attachments->len, 3);

	/* leaves: 0 the body, 1 the pdf, 2 the png, 3 the footer, 4 the message */
	a = r->attachments->pdata[0];
	ck_assert_str_eq(a->filename, "été report.pdf");
	ck_assert_str_eq(a->content_type, "application/pdf");
	ck_assert_uint_eq(a->size, 19);
	ck_assert_uint_eq(a->part, 1);
	ck_assert(!a->inline_);
	ck_assert_ptr_null(a->content_id);

	a = r->attachments->pdata[1];
	ck_assert_str_eq(a->filename, "logoé.png");
	ck_assert_str_eq(a->name, "logoé.png");
	ck_assert_str_eq(a->content_id, "logo@example.com");
	ck_assert(a->inline_);
	ck_assert_uint_eq(a->size, 8);
	ck_assert_uint_eq(a->part, 2);

	a = r->attachments->pdata[2];
	ck_assert_str_eq(a->content_type, "message/rfc822");
	ck_assert_ptr_null(a->filename);
	ck_assert_str_eq(a->name, "fwd.eml");
	ck_assert_uint_eq(a->size, strlen("Subject: fwd\n\nforwarded"));
	ck_assert_uint_eq(a->part, 4);
}
END_TEST

/* ---- an attachment found again in the raw message by its part number:
 * the contract a download from routed's store relies on (docs/wire.md) */

struct leaf {
	guint want, seen;
	GMimeObject *found;
};

/* nth_leaf - g_mime_message_foreach's callback: the want-th leaf */
static void
nth_leaf(GMimeObject *parent, GMimeObject *o, gpointer data)
{
	struct leaf *l = data;

	if (GMIME_IS_MULTIPART(o))
		return;
	if (l->seen++ == l->want)
		l->found = o;
}

/* plain_gmime_part - part number n of raw, decoded, by GMime alone (no
 * parsed code): parse, walk with g_mime_message_foreach counting leaves,
 * write the leaf's content through its transfer decoding */
static GBytes *
plain_gmime_part(GBytes *raw, guint n)
{
	GMimeStream *in = g_mime_stream_mem_new_with_buffer(g_bytes_get_data(raw, NULL),
	    g_bytes_get_size(raw));
	GMimeParser *parser = g_mime_parser_new_with_stream(in);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	struct leaf l = { n, 0, NULL };
	GBytes *out = NULL;

	ck_assert_ptr_nonnull(msg);
	g_mime_message_foreach(msg, nth_leaf, &l);
	if (l.found && GMIME_IS_PART(l.found)) {
		GMimeStream *mem = g_mime_stream_mem_new();
		GByteArray *ba;

		g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(l.found)),
		    mem);
		ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		out = g_bytes_new(ba->data, ba->len);
		g_object_unref(mem);
	}
	g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(in);
	return out;
}

START_TEST(test_attachment_by_part)
{
	guint8 pdf[3000];
	g_autofree char *b64 = NULL, *text = NULL;
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(record) r = NULL;
	static const char csv[] = "nom;prix\nété;3=4";
	static const char png[] = "\x89PNG\r\n\x1a\n";
	static const char fwd[] = "Subject: fwd\n\nforwarded";
	struct {
		const char *type;
		guint part;
		const void *bytes;
		gsize len;
	} want[] = {
		{ "image/png", 2, png, 8 },
		{ "application/pdf", 3, pdf, sizeof pdf },
		{ "text/csv", 4, csv, sizeof csv - 1 },
		{ "message/rfc822", 5, fwd, sizeof fwd - 1 },
	};

	for (gsize i = 0; i < sizeof pdf; i++)
		pdf[i] = (guint8)(i * 7 + i / 256);
	b64 = g_base64_encode(pdf, sizeof pdf);
	text = g_strconcat("From: a@example.com\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain\n\nThe body.\n"
	    "--m\nContent-Type: multipart/related; boundary=r\n\n"
	    "--r\nContent-Type: text/html\n\n<p><img src=\"cid:logo@x\"></p>\n"
	    "--r\nContent-Type: image/png\nContent-ID: <logo@x>\n"
	    "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
	    "--r--\n"
	    "--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n"
	    "Content-Transfer-Encoding: base64\n\n", b64, "\n"
	    "--m\nContent-Type: text/csv; charset=utf-8\nContent-Disposition: attachment\n"
	    "Content-Transfer-Encoding: quoted-printable\n\nnom;prix\n=C3=A9t=C3=A9;3=3D4\n"
	    "--m\nContent-Type: message/rfc822\n\n", fwd, "\n"
	    "--m--\n", NULL);
	raw = g_bytes_new(text, strlen(text));
	r = mime_parse(raw);
	ck_assert_str_eq(r->text_body, "The body.");
	ck_assert_uint_eq(r->attachments->len, G_N_ELEMENTS(want));
	for (gsize i = 0; i < G_N_ELEMENTS(want); i++) {
		const struct attachment *a = r->attachments->pdata[i];
		g_autoptr(GBytes) ours = NULL, theirs = NULL;

		ck_assert_str_eq(a->content_type, want[i].type);
		ck_assert_uint_eq(a->part, want[i].part);
		ck_assert_uint_eq(a->size, want[i].len);
		/* parsed's own reading, which a download would use */
		ours = mime_part_content(raw, a->part);
		ck_assert_ptr_nonnull(ours);
		ck_assert_uint_eq(g_bytes_get_size(ours), want[i].len);
		ck_assert(memcmp(g_bytes_get_data(ours, NULL), want[i].bytes, want[i].len) == 0);
		/* and GMime alone, by the definition in docs/wire.md */
		theirs = plain_gmime_part(raw, a->part);
		ck_assert_ptr_nonnull(theirs);
		ck_assert(g_bytes_equal(ours, theirs));
	}
	/* the body is leaf 0, the HTML leaf 1; there is no leaf 6 */
	{
		g_autoptr(GBytes) body = mime_part_content(raw, 0);

		ck_assert_ptr_nonnull(body);
		ck_assert(g_bytes_get_size(body) == 9 &&
		    memcmp(g_bytes_get_data(body, NULL), "The body.", 9) == 0);
	}
	ck_assert_ptr_null(mime_part_content(raw, 6));
}
END_TEST

/* ---- what cannot be read whole still makes a record */

static const struct {
	const char *name;
	const char *msg;
	gsize len;		/* 0: strlen(msg) */
	const char *warning;
} broken[] = {
	{ "empty", "", 0, "empty" },
	{ "binary junk", "\x01\x02\xff\xfe\x00\x00junk\x80\x81\n\n\xc3", 15, NULL },
	{ "truncated multipart",
	  "From: a@example.com\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n"
	  "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA",
	  0, "truncated" },
	{ "multipart without a boundary",
	  "Content-Type: multipart/mixed\n\nsome text\n", 0, "boundary" },
	{ "no date, no from", "Subject: hi\n\nbody\n", 0, "no From" },
};

START_TEST(test_broken)
{
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(record) r = NULL;
	json_t *j;
	gsize len = broken[_i].len ? broken[_i].len : strlen(broken[_i].msg);

	raw = g_bytes_new_static(broken[_i].msg, len);
	r = mime_parse(raw);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(r->text_body);
	ck_assert_msg(r->warnings->len > 0, "%s: no warning", broken[_i].name);
	if (broken[_i].warning)
		ck_assert_msg(has_warning(r, broken[_i].warning), "%s: no warning \"%s\"",
		    broken[_i].name, broken[_i].warning);
	j = record_to_json(r);
	ck_assert(json_is_string(json_object_get(j, "text_body")));
	ck_assert(json_is_array(json_object_get(j, "warnings")));
	json_decref(j);
}
END_TEST

START_TEST(test_nul_in_body)
{
	static const char msg[] = "Subject: x\n\na\0b\n";
	g_autoptr(GBytes) raw = g_bytes_new_static(msg, sizeof msg - 1);
	g_autoptr(record) r = mime_parse(raw);
	json_t *j = record_to_json(r);
	g_autofree char *text = json_dumps(j, JSON_COMPACT);

	ck_assert_str_eq(r->text_body, "a\xEF\xBF\xBD" "b");
	ck_assert_uint_eq(r->text_body_len, 5);
	ck_assert(has_warning(r, "NUL"));
	/* the wire's JSON reader refuses \u0000 */
	ck_assert_ptr_null(strstr(text, "\\u0000"));
	json_decref(j);
}
END_TEST

/* An attachment's size is counted, not decoded: the count is what GMime's
 * decoder writes, for base64 as senders write it (any length, padding, CRLF
 * or LF lines) and as they break it (blanks, junk, '=' in the middle, bytes
 * over 127, a quartet cut short). */
START_TEST(test_base64_size)
{
	static const char junk[] = "ABCxyz019+/ABCxyz019+/ABCxyz019+/= \t\r\n-.*\x80\xff";
	GRand *rand = g_rand_new_with_seed(2045);

	for (int round = 0; round < 4000; round++) {
		/* now and then past 255 x 16 bytes, where the count's lanes are added up */
		gsize len = (gsize)(round % 20 < 2 ? g_rand_int_range(rand, 3000, 9000) :
		    g_rand_int_range(rand, 0, 300)), enc_len;
		guint8 *in = g_malloc(len + 1), *out = g_malloc(len + 4);
		int state = 0;
		guint32 save = 0;

		if (round % 2 == 0) {
			/* well formed: random bytes encoded, lines of 76 */
			g_autofree char *enc = NULL;
			g_autoptr(GString) s = g_string_new(NULL);

			for (gsize i = 0; i < len; i++)
				in[i] = (guint8)g_rand_int(rand);
			enc = g_base64_encode(in, len);
			enc_len = strlen(enc);
			for (gsize i = 0; i < enc_len; i += 76) {
				g_string_append_len(s, enc + i, (gssize)MIN(76, enc_len - i));
				g_string_append(s, round % 4 ? "\r\n" : "\n");
			}
			ck_assert_uint_eq(mime_base64_size((guint8 *)s->str, s->len), len);
		} else {
			gsize want;

			/* anything: bytes drawn from the alphabet, padding and junk */
			for (gsize i = 0; i < len; i++)
				in[i] = (guint8)junk[g_rand_int_range(rand, 0, sizeof junk - 1)];
			want = g_mime_encoding_base64_decode_step(in, len, out, &state, &save);
			ck_assert_msg(mime_base64_size(in, len) == want, "round %d: %zu, not %zu",
			    round, mime_base64_size(in, len), want);
		}
		g_free(in);
		g_free(out);
	}
	g_rand_free(rand);
}
END_TEST

START_TEST(test_mbox_from)
{
	g_autoptr(record) r = parse(
	    "From zoe@example.net Tue Nov 14 10:00:00 2023\n"
	    "From: Zoe <zoe@example.net>\nSubject: after the From line\n\nhello\n");

	ck_assert_str_eq(r->subject, "after the From line");
	ck_assert_str_eq(r->from_addr, "zoe@example.net");
	ck_assert_str_eq(r->text_body, "hello");
	ck_assert_uint_eq(r->warnings->len, 1);	/* no Date, nothing else */
}
END_TEST

START_TEST(test_body_normalize)
{
	static const char *const cases[][2] = {
		{ "a\r\nb\rc\n", "a\nb\nc" },
		{ "\xef\xbb\xbf" "x \t\f\v\n\n\n", "x" },
		{ "", "" },
		{ "\n\n", "" },
		{ "  lead kept\n", "  lead kept" },
		{ "x  \r\n \t\r\ny\r\r\nz", "x\n\ny\n\nz" },
		{ "a\rb \rc", "a\nb\nc" },
		{ "one\n\rtwo\r\n\r\n", "one\n\ntwo" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		gsize n;
		g_autofree char *s = body_normalize(cases[i][0], strlen(cases[i][0]), &n);

		ck_assert_str_eq(s, cases[i][1]);
		ck_assert_uint_eq(n, strlen(cases[i][1]));
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("parsed_mime");
	TCase *tc = tcase_create("mime");

	tcase_add_loop_test(tc, test_headers, 0, UNIT_N(headers));
	tcase_add_test(tc, test_addresses);
	tcase_add_loop_test(tc, test_bodies, 0, UNIT_N(bodies));
	tcase_add_test(tc, test_has_html);
	tcase_add_test(tc, test_attachments);
	tcase_add_test(tc, test_attachment_by_part);
	tcase_add_test(tc, test_base64_size);
	tcase_add_loop_test(tc, test_broken, 0, UNIT_N(broken));
	tcase_add_test(tc, test_nul_in_body);
	tcase_add_test(tc, test_mbox_from);
	tcase_add_test(tc, test_body_normalize);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *s;

	mime_init();
	s = suite();
	return unit_run(s);
}
