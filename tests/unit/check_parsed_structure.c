/*
 * check_parsed_structure - which part is the body and what the others
 * become: multipart/alternative (plain, else text from the HTML, links
 * kept visible), multipart/related (inline images with their Content-ID),
 * embedded messages, calendar invitations, bounces, the names attachments
 * are shown under, a leading mbox From line, a body too long to read.
 */
#include <string.h>

#include "parsed.h"
#include "unit.h"

static struct record *
parse(const char *text)
{
	g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));

	return mime_parse(raw);
}

static const struct attachment *
att(const struct record *r, guint i)
{
	ck_assert_msg(i < r->attachments->len, "no attachment %u (%u)", i, r->attachments->len);
	return r->attachments->pdata[i];
}

/* ---- the body */

static const struct {
	const char *name;
	const char *msg;
	const char *want;
	enum body_source source;
} bodies[] = {
	{ "alternative: the plain part, wherever it is",
	  "Content-Type: multipart/alternative; boundary=b\n\n"
	  "--b\nContent-Type: text/html\n\n<p>the html</p>\n"
	  "--b\nContent-Type: text/plain\n\nthe plain text\n--b--\n",
	  "the plain text", BODY_PLAIN },
	{ "alternative without plain: text from the HTML",
	  "Content-Type: multipart/alternative; boundary=b\n\n"
	  "--b\nContent-Type: text/html; charset=utf-8\n\n"
	  "<html><head><style>p { color: red }</style><script>var x = 1;</script></head>"
	  "<body><p>First paragraph,<br>second line.</p><p>Second paragraph.</p>"
	  "<ul><li>one</li><li>two</li></ul></body></html>\n"
	  "--b\nContent-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR\nEND:VCALENDAR\n--b--\n",
	  "First paragraph,\nsecond line.\n\nSecond paragraph.\n\none\ntwo", BODY_HTML },
	{ "a link keeps its address when the text does not say it",
	  "Content-Type: text/html\n\n<p>Track it <a href=\"https://shop.example.com/t/42\">here</a>."
	  " <a href=\"https://shop.example.com/\">Shop</a>again</p>\n",
	  "Track it here <https://shop.example.com/t/42>. Shop <https://shop.example.com/> again",
	  BODY_HTML },
	{ "empty lines: <div><br></div>, a list, a table",
	  "Content-Type: text/html\n\n<div>Hello,</div><div><br></div><div>line one<br></div>"
	  "<div>line two</div><ul>\n<li>a</li>\n<li>b</li>\n</ul><table><tr><td>x</td><td>1</td></tr>"
	  "<tr><td>y</td><td>2</td></tr></table>end\n",
	  "Hello,\n\nline one\nline two\n\na\nb\n\nx 1\ny 2\n\nend", BODY_HTML },
	{ "a link whose text is its address: once",
	  "Content-Type: text/html\n\n<p>See <a href=\"https://example.com/\">example.com</a> "
	  "or <a href=\"http://www.example.org/faq\">http://www.example.org/faq</a></p>\n",
	  "See example.com or http://www.example.org/faq", BODY_HTML },
	{ "a mailto link: the address",
	  "Content-Type: text/html\n\n<p><a href=\"mailto:help@example.com\">Write to us</a> or "
	  "<a href=\"mailto:help@example.com\">help@example.com</a></p>\n",
	  "Write to us <help@example.com> or help@example.com", BODY_HTML },
	{ "anchors, scripts and links without text: nothing",
	  "Content-Type: text/html\n\n<p><a href=\"#top\">top</a> <a href=\"javascript:x()\">run</a>"
	  " <a href=\"https://t.example.com/p.gif\"><img src=\"cid:x\"></a>end</p>\n",
	  "top run end", BODY_HTML },
	{ "related: the start part's HTML",
	  "Content-Type: multipart/related; boundary=r\n\n"
	  "--r\nContent-Type: text/html\n\n<p>Our logo: <img src=\"cid:logo@x\"></p>\n"
	  "--r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n"
	  "iVBORw0KGgo=\n--r--\n",
	  "Our logo:", BODY_HTML },
};

START_TEST(test_bodies)
{
	g_autoptr(record) r = parse(bodies[_i].msg);

	ck_assert_msg(strcmp(r->text_body, bodies[_i].want) == 0, "%s: got [%s], want [%s]",
	    bodies[_i].name, r->text_body, bodies[_i].want);
	ck_assert_msg(r->text_body_source == bodies[_i].source, "%s: source %d", bodies[_i].name,
	    r->text_body_source);
}
END_TEST

/* ---- what the other parts become */

START_TEST(test_related_inline_images)
{
	g_autoptr(record) r = parse(
	    "From: news@example.com\n"
	    "Content-Type: multipart/alternative; boundary=a\n\n"
	    "--a\nContent-Type: text/plain\n\nOur logo and a photo.\n"
	    "--a\nContent-Type: multipart/related; boundary=r; type=\"text/html\"\n\n"
	    "--r\nContent-Type: text/html\n\n<p><img src=\"cid:logo@x\"> <img src=\"cid:photo@x\"></p>\n"
	    "--r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n"
	    "iVBORw0KGgo=\n"
	    "--r\nContent-Type: image/jpeg; name=photo.jpg\nContent-ID:  <photo@x> \n"
	    "Content-Disposition: inline\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n"
	    "--r--\n--a--\n");
	const struct attachment *a;

	ck_assert_str_eq(r->text_body, "Our logo and a photo.");
	ck_assert(r->has_html);
	ck_assert_uint_eq(r->attachments->len, 2);
	a = att(r, 0);
	ck_assert_str_eq(a->content_type, "image/png");
	ck_assert_str_eq(a->content_id, "logo@x");
	ck_assert(a->inline_);
	ck_assert_ptr_null(a->filename);
	ck_assert_str_eq(a->name, "image.png");
	ck_assert_uint_eq(a->size, 8);
	a = att(r, 1);
	ck_assert_str_eq(a->content_id, "photo@x");
	ck_assert(a->inline_);
	ck_assert_str_eq(a->filename, "photo.jpg");
	ck_assert_str_eq(a->name, "photo.jpg");
}
END_TEST

START_TEST(test_message_attachment)
{
	g_autoptr(record) r = parse(
	    "From: a@example.com\nSubject: Fwd: two\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain\n\nForwarding two messages.\n"
	    "--m\nContent-Type: message/rfc822\n\n"
	    "From: b@example.com\nSubject: =?utf-8?q?R=C3=A9ponse_=C3=A0_votre/demande?=\n\nfirst\n"
	    "--m\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
	    "From: c@example.com\n\nsecond, without a subject\n"
	    "--m\nContent-Type: message/rfc822; name=\"kept.eml\"\n\n"
	    "From: d@example.com\nSubject: ignored\n\nthird\n"
	    "--m--\n");
	const struct attachment *a;

	ck_assert_uint_eq(r->attachments->len, 3);
	a = att(r, 0);
	ck_assert_str_eq(a->content_type, "message/rfc822");
	ck_assert_ptr_null(a->filename);	/* as written: none */
	ck_assert_str_eq(a->name, "Réponse à votre-demande.eml");
	a = att(r, 1);
	ck_assert_ptr_null(a->filename);
	ck_assert_str_eq(a->name, "message.eml");
	a = att(r, 2);
	ck_assert_str_eq(a->filename, "kept.eml");
	ck_assert_str_eq(a->name, "kept.eml");
	ck_assert_str_eq(r->text_body, "Forwarding two messages.");
}
END_TEST

START_TEST(test_calendar)
{
	g_autoptr(record) r = parse(
	    "From: boss@example.com\nSubject: Invitation: review\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
	    "--a\nContent-Type: text/plain\n\nYou are invited.\n"
	    "--a\nContent-Type: text/html\n\n<p>You are invited.</p>\n"
	    "--a\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\n\n"
	    "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
	    "--a--\n"
	    "--m\nContent-Type: application/ics; name=\"invite.ics\"\n"
	    "Content-Disposition: attachment; filename=\"invite.ics\"\n\nBEGIN:VCALENDAR\n"
	    "--m--\n");
	const struct attachment *a;

	ck_assert_str_eq(r->text_body, "You are invited.");
	ck_assert_uint_eq(r->attachments->len, 2);
	a = att(r, 0);
	ck_assert_str_eq(a->content_type, "text/calendar");
	ck_assert_ptr_null(a->filename);
	ck_assert_str_eq(a->name, "invite.ics");
	ck_assert(!a->inline_);
	ck_assert(a->size > 0);
	a = att(r, 1);
	ck_assert_str_eq(a->filename, "invite.ics");
	ck_assert_str_eq(a->name, "invite.ics");	/* written by the sender: left alone */
}
END_TEST

START_TEST(test_bounce)
{
	g_autoptr(record) r = parse(
	    "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
	    "To: support@example.com\nSubject: Undelivered Mail Returned to Sender\n"
	    "Date: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=d\n\n"
	    "--d\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could not\n"
	    "be delivered to one or more recipients.\n"
	    "--d\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mx.example.com\nArrival-Date: Tue, 14 Nov 2023 10:00:00 +0100\n\n"
	    "Final-Recipient: rfc822; nobody@example.org\nOriginal-Recipient: rfc822;Nobody@Example.org\n"
	    "Action: failed\nStatus: 5.1.1\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address\n"
	    "    rejected: User unknown\n\n"
	    "Final-Recipient: rfc822; <later@example.net>\nAction: Delayed\n"
	    "Status: 4.4.1 (connection timed out)\n"
	    "--d\nContent-Type: text/rfc822-headers\n\n"
	    "From: support@example.com\nTo: nobody@example.org\nSubject: Your order\n"
	    "--d--\n");
	const struct bounce_recipient *b;
	json_t *j;

	ck_assert(r->bounce);
	ck_assert_str_eq(r->text_body, "I'm sorry to have to inform you that your message could not\n"
	    "be delivered to one or more recipients.");
	ck_assert_uint_eq(r->bounce_recipients->len, 2);
	b = r->bounce_recipients->pdata[0];
	ck_assert_str_eq(b->addr, "nobody@example.org");
	ck_assert_str_eq(b->action, "failed");
	ck_assert_str_eq(b->status, "5.1.1");
	ck_assert_str_eq(b->diagnostic,
	    "smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown");
	b = r->bounce_recipients->pdata[1];
	ck_assert_str_eq(b->addr, "later@example.net");
	ck_assert_str_eq(b->action, "delayed");
	ck_assert_str_eq(b->status, "4.4.1");
	ck_assert_ptr_null(b->diagnostic);
	ck_assert_uint_eq(r->attachments->len, 2);
	ck_assert_str_eq(att(r, 0)->name, "delivery-status.txt");
	ck_assert_str_eq(att(r, 1)->name, "headers.txt");

	j = record_to_json(r);
	ck_assert(json_is_true(json_object_get(j, "bounce")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "bounce_recipients"), 0), "addr")), "nobody@example.org");
	json_decref(j);
}
END_TEST

START_TEST(test_not_a_bounce)
{
	static const char *const msgs[] = {
		"From: a@example.com\n\nhello\n",
		/* a read receipt is a report, not a bounce */
		"Content-Type: multipart/report; report-type=disposition-notification; boundary=d\n\n"
		"--d\nContent-Type: text/plain\n\nRead.\n"
		"--d\nContent-Type: message/disposition-notification\n\n"
		"Final-Recipient: rfc822; a@example.com\nDisposition: manual-action/MDN-sent-manually; displayed\n"
		"--d--\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(msgs); i++) {
		g_autoptr(record) r = parse(msgs[i]);
		json_t *j = record_to_json(r);

		ck_assert(!r->bounce);
		ck_assert_uint_eq(r->bounce_recipients->len, 0);
		ck_assert(json_is_false(json_object_get(j, "bounce")));
		ck_assert_int_eq(json_array_size(json_object_get(j, "bounce_recipients")), 0);
		json_decref(j);
	}
}
END_TEST

/* ---- names */

static const struct {
	const char *name;
	const char *part;	/* headers and content of one attached part */
	const char *filename;	/* as written; NULL: none */
	const char *want;	/* the name shown */
} names[] = {
	{ "a pdf without a name", "Content-Type: application/pdf\n\n%PDF", NULL, "attachment.pdf" },
	{ "a jpeg without a name", "Content-Type: image/jpeg\nContent-Disposition: attachment\n\nx",
	  NULL, "image.jpg" },
	{ "winmail.dat", "Content-Type: application/ms-tnef\n\nx", NULL, "winmail.dat" },
	{ "octet-stream", "Content-Type: application/octet-stream\n\nx", NULL, "attachment.bin" },
	{ "an unknown type, a short subtype", "Content-Type: application/x-foo\n\nx", NULL,
	  "attachment" },
	{ "an unknown type, a word for a subtype", "Content-Type: model/stl\n\nx", NULL,
	  "attachment.stl" },
	{ "a path in the file name", "Content-Type: application/pdf; name=\"C:\\\\Users\\\\zoe\\\\scan.pdf\"\n\nx",
	  "C:\\Users\\zoe\\scan.pdf", "scan.pdf" },
	{ "a Unix path", "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"../../etc/scan.pdf\"\n\nx",
	  "../../etc/scan.pdf", "scan.pdf" },
	{ "a control character", "Content-Type: text/plain\nContent-Disposition: attachment; filename*=utf-8''a%09b.txt\n\nx",
	  "a\tb.txt", "a_b.txt" },
	{ "only blanks", "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"   \"\n\nx",
	  "   ", "attachment.pdf" },
};

START_TEST(test_names)
{
	g_autofree char *msg = g_strdup_printf("Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain\n\nbody\n--m\n%s\n--m--\n", names[_i].part);
	g_autoptr(record) r = parse(msg);
	const struct attachment *a;

	ck_assert_msg(r->attachments->len == 1, "%s: %u attachments", names[_i].name,
	    r->attachments->len);
	a = att(r, 0);
	if (names[_i].filename)
		ck_assert_msg(a->filename && strcmp(a->filename, names[_i].filename) == 0,
		    "%s: filename [%s]", names[_i].name, a->filename ? a->filename : "(null)");
	else
		ck_assert_msg(a->filename == NULL, "%s: filename [%s]", names[_i].name, a->filename);
	ck_assert_msg(strcmp(a->name, names[_i].want) == 0, "%s: name [%s], want [%s]",
	    names[_i].name, a->name, names[_i].want);
}
END_TEST

START_TEST(test_names_unique)
{
	g_autoptr(record) r = parse(
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain\n\nthree scans\n"
	    "--m\nContent-Type: application/pdf\n\n1\n"
	    "--m\nContent-Type: application/pdf; name=attachment-2.pdf\n\n2\n"
	    "--m\nContent-Type: application/pdf\n\n3\n"
	    "--m\nContent-Type: application/pdf; name=same.pdf\n\n4\n"
	    "--m\nContent-Type: application/pdf; name=same.pdf\n\n5\n"
	    "--m--\n");
	json_t *j, *a0;

	ck_assert_uint_eq(r->attachments->len, 5);
	ck_assert_str_eq(att(r, 0)->name, "attachment.pdf");
	ck_assert_str_eq(att(r, 1)->name, "attachment-2.pdf");
	ck_assert_str_eq(att(r, 2)->name, "attachment-3.pdf");
	ck_assert_str_eq(att(r, 3)->name, "same.pdf");
	ck_assert_str_eq(att(r, 4)->name, "same.pdf");	/* the sender's names stay */

	/* in the record: filename as written (null), name as shown */
	j = record_to_json(r);
	a0 = json_array_get(json_object_get(j, "attachments"), 0);
	ck_assert(json_is_null(json_object_get(a0, "filename")));
	ck_assert_str_eq(json_string_value(json_object_get(a0, "name")), "attachment.pdf");
	json_decref(j);
}
END_TEST

/* ---- the edges of the message */

START_TEST(test_mbox_from_line)
{
	static const char *const msgs[] = {
		"From zoe@example.net Tue Nov 14 10:00:00 2023\nFrom: Zoe <zoe@example.net>\n"
		"Subject: s\n\nhello\n",
		"From zoe@example.net Tue Nov 14 10:00:00 2023\r\nFrom: Zoe <zoe@example.net>\r\n"
		"Subject: s\r\n\r\nhello\r\n",
		"From MAILER-DAEMON\n\nFrom: Zoe <zoe@example.net>\nSubject: s\n\nhello\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(msgs); i++) {
		g_autoptr(record) r = parse(msgs[i]);

		ck_assert_pstr_eq(r->subject, "s");
		ck_assert_pstr_eq(r->from_addr, "zoe@example.net");
		ck_assert_str_eq(r->text_body, "hello");
	}
}
END_TEST

/* A text body over 8 MB is cut at a line end, with a warning. */
START_TEST(test_long_body)
{
	g_autoptr(GString) m = g_string_new("From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\n");
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(record) r = NULL;
	gboolean warned = FALSE;

	while (m->len < 9 * 1024 * 1024)
		g_string_append(m, "Zoë wrote a very long line of text here, again and again.\n");
	raw = g_bytes_new(m->str, m->len);
	r = mime_parse(raw);
	ck_assert_uint_lt(r->text_body_len, 8 * 1024 * 1024 + 1);
	ck_assert_uint_gt(r->text_body_len, 7 * 1024 * 1024);
	ck_assert(g_str_has_suffix(r->text_body, "again and again."));
	ck_assert(g_utf8_validate(r->text_body, (gssize)r->text_body_len, NULL));
	for (guint i = 0; i < r->warnings->len; i++)
		warned |= strstr(r->warnings->pdata[i], "text body cut") != NULL;
	ck_assert(warned);
}
END_TEST

/* The header-only reading of a message too large to parse. */
START_TEST(test_headers_only)
{
	static const char msg[] =
	    "From: Zoe <zoe@example.net>\r\nTo: support@example.com\r\n"
	    "Subject: =?utf-8?q?Scans_=C3=A0_lire?=\r\nDate: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
	    "Message-ID: <m1@example.net>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nnot read\r\n--b--\r\n";
	g_autoptr(GBytes) raw = g_bytes_new_static(msg, sizeof msg - 1);
	g_autoptr(record) r = mime_parse_headers(raw, 100);

	ck_assert_str_eq(r->subject, "Scans à lire");
	ck_assert_str_eq(r->from_addr, "zoe@example.net");
	ck_assert_uint_eq(r->to->len, 1);
	ck_assert_str_eq(r->message_id, "m1@example.net");
	ck_assert_str_eq(r->date_iso_utc, "2023-11-14T09:00:00Z");
	ck_assert_uint_eq(r->attachments->len, 0);
	ck_assert_ptr_nonnull(strstr(r->text_body, "over this account's max_message_size"));
	ck_assert_ptr_null(strstr(r->text_body, "not read"));
	ck_assert_uint_eq(r->warnings->len, 1);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("parsed_structure");
	TCase *tc = tcase_create("structure");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_bodies, 0, UNIT_N(bodies));
	tcase_add_test(tc, test_related_inline_images);
	tcase_add_test(tc, test_message_attachment);
	tcase_add_test(tc, test_calendar);
	tcase_add_test(tc, test_bounce);
	tcase_add_test(tc, test_not_a_bounce);
	tcase_add_loop_test(tc, test_names, 0, UNIT_N(names));
	tcase_add_test(tc, test_names_unique);
	tcase_add_test(tc, test_mbox_from_line);
	tcase_add_test(tc, test_long_body);
	tcase_add_test(tc, test_headers_only);
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
