/*
 * check_parsed_charset - text in every charset mail comes in, in bodies
 * and in RFC 2047 subjects, and the header cases that go wrong in real
 * mail: adjacent encoded words, characters split across words, missing
 * blanks, wrong or unknown labels, RFC 2231 file names.
 *
 * The bytes were written with iconv(1), e.g.
 *	printf 'こんにちは、世界' | iconv -f UTF-8 -t SHIFT_JIS | xxd
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

/* has_warning - one of r's warnings holds part (NULL: r has none) */
static gboolean
has_warning(const struct record *r, const char *part)
{
	if (!part)
		return r->warnings->len == 0;
	for (guint i = 0; i < r->warnings->len; i++)
		if (strstr(r->warnings->pdata[i], part))
			return TRUE;
	return FALSE;
}

static char *
warnings(const struct record *r)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < r->warnings->len; i++)
		g_string_append_printf(s, "[%s]", (char *)r->warnings->pdata[i]);
	return g_strdup(s->str);
}

#define BYTES(s) s, sizeof(s) - 1

/* ---- one text in one charset: as a body, and as a subject */

static const struct {
	const char *name;
	const char *label;	/* the charset parameter, the encoded word's label */
	const char *bytes;
	gsize len;
	const char *want;
	const char *warning;	/* a warning both readings must give; NULL: none */
} charsets[] = {
	{ "iso-2022-jp", "iso-2022-jp",
	  BYTES("\x1b$BF|K\x5c" "8l$N%F%-%9%H\x1b(B"), "日本語のテキスト", NULL },
	{ "shift_jis", "shift_jis",
	  BYTES("\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd\x81" "A\x90\xa2\x8a" "E"),
	  "こんにちは、世界", NULL },
	{ "shift_jis with a Windows (cp932) character", "Shift_JIS",
	  BYTES("\x87@\x87" "A"), "①②", "read as CP932" },
	{ "euc-kr", "euc-kr",
	  BYTES("\xbe\xc8\xb3\xe7\xc7\xcf\xbc\xbc\xbf\xe4"), "안녕하세요", NULL },
	{ "euc-kr with a cp949 character", "EUC-KR", BYTES("\x8c" "c"), "똠", NULL },
	{ "ks_c_5601-1987 (Outlook's Korean)", "ks_c_5601-1987",
	  BYTES("\xbe\xc8\xb3\xe7\xc7\xcf\xbc\xbc\xbf\xe4"), "안녕하세요", NULL },
	{ "gb2312", "gb2312",
	  BYTES("\xc4\xe3\xba\xc3\xa3\xac\xca\xc0\xbd\xe7"), "你好，世界", NULL },
	{ "gbk (beyond gb2312)", "gbk", BYTES("\xd6\xd0\xce\xc4\x9cy\xd4\x87"), "中文測試", NULL },
	{ "gb2312 label on gbk text", "gb2312", BYTES("\xd6\xd0\xce\xc4\x9cy\xd4\x87"), "中文測試",
	  NULL },
	{ "gb18030 (four-byte sequences)", "gb18030",
	  BYTES("\xc5\xb7\xd4\xaa\xa2\xe3\x95" "2\x82" "6"), "欧元€𠀀", NULL },
	{ "big5", "big5", BYTES("\xc1" "c\xc5\xe9\xa4\xa4\xa4\xe5"), "繁體中文", NULL },
	{ "koi8-r", "koi8-r", BYTES("\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2"), "Привет, мир", NULL },
	{ "windows-1251", "windows-1251", BYTES("\xcf\xf0\xe8\xe2\xe5\xf2"), "Привет", NULL },
	{ "iso-8859-15", "iso-8859-15", BYTES("\xa4uro"), "€uro", NULL },
	{ "iso-8859-1 is read as windows-1252", "iso-8859-1",
	  BYTES("\x93Quoted\x94 \x80 caf\xe9"), "“Quoted” € café", NULL },
	{ "latin1, another spelling of it", "latin1", BYTES("\x80 caf\xe9"), "€ café", NULL },
	{ "utf-8", "utf-8", BYTES("Zo\xc3\xab \xf0\x9f\x98\x80"), "Zoë 😀", NULL },
	{ "utf-16 with a byte order mark", "utf-16",
	  BYTES("\xff\xfeG\x00r\x00\xfc\x00\xdf\x00" "e\x00 \x00=\xd8\x00\xde"), "Grüße 😀", NULL },
	{ "utf-16 without a mark, little-endian", "utf-16",
	  BYTES("G\x00r\x00\xfc\x00\xdf\x00" "e\x00"), "Grüße", NULL },
	{ "utf-16 without a mark, big-endian", "UTF-16",
	  BYTES("\x00G\x00r\x00\xfc\x00\xdf\x00" "e"), "Grüße", NULL },
	{ "utf-16be", "utf-16be", BYTES("\x00G\x00r\x00\xfc\x00\xdf\x00" "e"), "Grüße", NULL },
	{ "utf-16le", "utf-16le", BYTES("G\x00r\x00\xfc\x00\xdf\x00" "e\x00"), "Grüße", NULL },
	/* mislabelled */
	{ "iso-8859-1 label on UTF-8 text", "iso-8859-1", BYTES("Zo\xc3\xab na\xc3\xafve"),
	  "Zoë naïve", "is UTF-8" },
	{ "koi8-r label on UTF-8 text", "koi8-r", BYTES("\xd0\x9f\xd1\x80\xd0\xb8"), "При",
	  "is UTF-8" },
	{ "utf-8 label on windows-1252 text", "utf-8", BYTES("Zo\xeb \x80"), "Zoë €",
	  "not valid UTF-8, read as windows-1252" },
	{ "us-ascii label on UTF-8 text", "us-ascii", BYTES("Zo\xc3\xab"), "Zoë", "read as utf-8" },
	{ "us-ascii label on windows-1252 text", "us-ascii", BYTES("Zo\xeb"), "Zoë",
	  "read as windows-1252" },
	{ "shift_jis label on UTF-8 text that is not shift_jis", "shift_jis",
	  BYTES("Zo\xc3\xab \xf0\x9f\x98\x80"), "Zoë 😀", "read as UTF-8" },
	/* unknown labels: the best guess, and a warning */
	{ "unknown label, UTF-8 text", "x-no-such-charset", BYTES("Zo\xc3\xab"), "Zoë",
	  "unknown charset \"x-no-such-charset\", read as utf-8" },
	{ "unknown label, windows-1252 text", "x-no-such-charset", BYTES("Zo\xeb"), "Zoë",
	  "unknown charset \"x-no-such-charset\", read as windows-1252" },
	{ "unknown label, ASCII text", "klingon", BYTES("plain"), "plain",
	  "unknown charset \"klingon\"" },
	{ "a label spelled with _", "utf_8", BYTES("Zo\xc3\xab"), "Zoë", NULL },
	{ "win-1251 for windows-1251", "win-1251", BYTES("\xcf\xf0\xe8\xe2\xe5\xf2"), "Привет",
	  "read as CP1251" },
	{ "x-iso8859_7 for iso-8859-7", "x-iso8859_7", BYTES("\xe1\xe2\xe3"), "αβγ",
	  "read as ISO-8859-7" },
};

START_TEST(test_charset_body)
{
	g_autofree char *b64 = g_base64_encode((const guchar *)charsets[_i].bytes, charsets[_i].len);
	g_autofree char *msg = g_strdup_printf("From: a@example.com\nDate: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "Content-Type: text/plain; charset=\"%s\"\nContent-Transfer-Encoding: base64\n\n%s\n",
	    charsets[_i].label, b64);
	g_autoptr(record) r = parse(msg);
	g_autofree char *w = warnings(r);

	ck_assert_msg(strcmp(r->text_body, charsets[_i].want) == 0, "%s: got [%s], want [%s]",
	    charsets[_i].name, r->text_body, charsets[_i].want);
	ck_assert_msg(has_warning(r, charsets[_i].warning), "%s: want warning \"%s\", got %s",
	    charsets[_i].name, charsets[_i].warning ? charsets[_i].warning : "(none)", w);
}
END_TEST

START_TEST(test_charset_subject)
{
	g_autofree char *b64 = g_base64_encode((const guchar *)charsets[_i].bytes, charsets[_i].len);
	g_autofree char *msg = g_strdup_printf("From: a@example.com\nDate: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "Subject: =?%s?B?%s?=\n\nx\n", charsets[_i].label, b64);
	g_autoptr(record) r = parse(msg);
	g_autofree char *w = warnings(r);

	ck_assert_msg(r->subject && strcmp(r->subject, charsets[_i].want) == 0,
	    "%s: got [%s], want [%s]", charsets[_i].name, r->subject, charsets[_i].want);
	ck_assert_msg(has_warning(r, charsets[_i].warning), "%s: want warning \"%s\", got %s",
	    charsets[_i].name, charsets[_i].warning ? charsets[_i].warning : "(none)", w);
}
END_TEST

/* undeclared 8-bit text, raw in a body without a charset */
static const struct {
	const char *name;
	const char *body;
	const char *want;
	const char *warning;
} undeclared[] = {
	{ "ASCII", "plain text", "plain text", NULL },
	{ "valid UTF-8", "na\xc3\xafve r\xc3\xa9sum\xc3\xa9", "naïve résumé", "read as utf-8" },
	{ "not UTF-8: windows-1252", "na\xefve \x93r\xe9sum\xe9\x94", "naïve “résumé”",
	  "read as windows-1252" },
	{ "UTF-8 cut in a few places", "caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e \xc3",
	  "café crème brûlée \xef\xbf\xbd", "damaged utf-8" },
	{ "ISO-2022-JP without a label", "\x1b$BF|K\x5c" "8l\x1b(B", "日本語", "read as iso-2022-jp" },
};

START_TEST(test_undeclared)
{
	g_autofree char *msg = g_strdup_printf("From: a@example.com\nDate: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "MIME-Version: 1.0\n\n%s\n", undeclared[_i].body);
	g_autoptr(record) r = parse(msg);
	g_autofree char *w = warnings(r);

	ck_assert_msg(strcmp(r->text_body, undeclared[_i].want) == 0, "%s: got [%s], want [%s]",
	    undeclared[_i].name, r->text_body, undeclared[_i].want);
	ck_assert_msg(has_warning(r, undeclared[_i].warning), "%s: want warning \"%s\", got %s",
	    undeclared[_i].name, undeclared[_i].warning ? undeclared[_i].warning : "(none)", w);
}
END_TEST

/* ---- header cases: RFC 2047 the way mail writes it */

enum field { F_SUBJECT, F_FROM_NAME, F_TO_NAME, F_CC_NAME, F_REPLY_TO_NAME };

static const struct {
	const char *name;
	const char *header;
	enum field field;
	const char *want;
	const char *warning;
} words[] = {
	{ "adjacent words: the blank between them goes",
	  "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=", F_SUBJECT, "Café crème", NULL },
	{ "adjacent words over folded lines",
	  "Subject: =?utf-8?q?Caf=C3=A9?=\n\t=?utf-8?q?_cr=C3=A8me?=\n =?utf-8?q?_br=C3=BBl=C3=A9e?=",
	  F_SUBJECT, "Café crème brûlée", NULL },
	{ "a blank between a word and text stays",
	  "Subject: =?utf-8?q?Caf=C3=A9?= au lait", F_SUBJECT, "Café au lait", NULL },
	{ "a UTF-8 character split across two words",
	  "Subject: =?utf-8?b?Y2Fmww==?= =?utf-8?b?qQ==?=", F_SUBJECT, "café", NULL },
	{ "split across words labelled UTF-8 and utf8",
	  "Subject: =?UTF-8?B?Y2Fmww==?= =?utf8?B?qQ==?=", F_SUBJECT, "café", NULL },
	{ "a shift_jis character split across two words",
	  "Subject: =?shift_jis?b?grGC?= =?shift_jis?b?8YLJ?=", F_SUBJECT, "こんに", NULL },
	{ "an iso-2022-jp escape and its text in two words",
	  "Subject: =?iso-2022-jp?b?GyRCRnw=?= =?iso-2022-jp?b?S1w4bBsoQg==?=",
	  F_SUBJECT, "日本語", NULL },
	{ "a character split across a B word and a Q word",
	  "Subject: =?utf-8?b?Y2Fmww==?= =?utf-8?q?=A9?=", F_SUBJECT, "café", NULL },
	{ "words in two charsets side by side",
	  "Subject: =?iso-8859-1?q?caf=E9?= =?koi8-r?b?8NLJ18XU?=", F_SUBJECT, "caféПривет", NULL },
	{ "words glued together, no blank",
	  "Subject: =?utf-8?q?Caf=C3=A9?==?utf-8?q?_cr=C3=A8me?=", F_SUBJECT, "Café crème", NULL },
	{ "a word glued to the text before it",
	  "Subject: Re:=?utf-8?q?_r=C3=A9ponse?=", F_SUBJECT, "Re: réponse", NULL },
	{ "a word glued to the text after it",
	  "Subject: =?utf-8?q?Caf=C3=A9?=s and bars", F_SUBJECT, "Cafés and bars", NULL },
	{ "base64 padding inside a run",
	  "Subject: =?UTF-8?B?TXlTdXJ2ZXk=?=\n =?UTF-8?B?LmNvbTogIFk=?=\n =?UTF-8?B?b3UgaGF2ZSA=?=",
	  F_SUBJECT, "MySurvey.com:  You have", NULL },
	{ "lower-case b and q", "Subject: =?utf-8?b?w6k=?= =?utf-8?q?=C3=A8?=", F_SUBJECT, "éè", NULL },
	{ "a language tag (RFC 2231)", "Subject: =?utf-8*fr?q?R=C3=A9ponse?=", F_SUBJECT,
	  "Réponse", NULL },
	{ "iso-8859-1 word with windows-1252 bytes",
	  "Subject: =?iso-8859-1?q?=80_100_=93net=94?=", F_SUBJECT, "€ 100 “net”", NULL },
	{ "wrong label: UTF-8 bytes in an iso-8859-1 word",
	  "Subject: =?iso-8859-1?q?Zo=C3=AB?=", F_SUBJECT, "Zoë", "is UTF-8" },
	{ "wrong label: windows-1252 bytes in a utf-8 word",
	  "Subject: =?utf-8?q?Zo=EB?=", F_SUBJECT, "Zoë", "not valid UTF-8" },
	{ "wrong label: 8-bit bytes in a us-ascii word",
	  "Subject: =?us-ascii?q?Zo=EB?=", F_SUBJECT, "Zoë", "read as windows-1252" },
	{ "an unknown label", "Subject: =?x-nonesuch?q?Zo=C3=AB?=", F_SUBJECT, "Zoë",
	  "unknown charset \"x-nonesuch\"" },
	{ "a label that says nothing", "Subject: =?unknown-8bit?q?Zo=C3=AB?=", F_SUBJECT, "Zoë",
	  "8-bit text in charset \"unknown-8bit\", read as utf-8" },
	{ "gb2312 word with gbk characters", "Subject: =?gb2312?b?04aGzrLp1IM=?=", F_SUBJECT,
	  "訂單查詢", NULL },
	{ "raw 8-bit UTF-8", "Subject: Où est ma commande ?", F_SUBJECT, "Où est ma commande ?",
	  NULL },
	{ "raw 8-bit windows-1252", "Subject: Caf\xe9 \x80", F_SUBJECT, "Café €",
	  "read as windows-1252" },
	{ "raw ISO-2022-JP", "Subject: Re: \x1b$BF|K\x5c" "8l\x1b(B", F_SUBJECT, "Re: 日本語",
	  "read as iso-2022-jp" },
	{ "encoded display name", "From: =?utf-8?q?Zo=C3=AB?= Martin <zoe@example.net>",
	  F_FROM_NAME, "Zoë Martin", NULL },
	{ "encoded words in a quoted display name",
	  "From: \"=?utf-8?q?Zo=C3=AB?= Martin\" <zoe@example.net>", F_FROM_NAME, "Zoë Martin", NULL },
	{ "a display name split across words",
	  "From: =?utf-8?b?Sm/Dq2wgR3Jvww==?= =?utf-8?b?nw==?= <j@example.de>", F_FROM_NAME,
	  "Joël Groß", NULL },
	{ "encoded display name in To", "To: =?koi8-r?b?+sHLwdo=?= <orders@example.ru>", F_TO_NAME,
	  "Заказ", NULL },
	{ "encoded display name in Cc, glued words",
	  "Cc: =?big5?b?rXGz5g==?==?big5?b?rGS43w==?= <tw@example.tw>", F_CC_NAME, "訂單查詢", NULL },
	{ "encoded display name in Reply-To",
	  "Reply-To: =?iso-2022-jp?b?GyRCJCpMZCQkOWckbyQ7GyhC?= <jp@example.jp>", F_REPLY_TO_NAME,
	  "お問い合わせ", NULL },
	{ "raw 8-bit display name", "From: J\xfcrgen Gro\xdf <j@example.de>", F_FROM_NAME,
	  "Jürgen Groß", NULL },
};

START_TEST(test_words)
{
	g_autofree char *msg = g_strdup_printf("Date: Tue, 14 Nov 2023 10:00:00 +0100\n%s\n%s\nx\n",
	    words[_i].header, words[_i].field == F_FROM_NAME ? "" : "From: a@example.com\n");
	g_autoptr(record) r = parse(msg);
	g_autofree char *w = warnings(r);
	const char *got = NULL;
	GPtrArray *list = NULL;

	switch (words[_i].field) {
	case F_SUBJECT:
		got = r->subject;
		break;
	case F_FROM_NAME:
		got = r->from_name;
		break;
	case F_TO_NAME:
		list = r->to;
		break;
	case F_CC_NAME:
		list = r->cc;
		break;
	case F_REPLY_TO_NAME:
		list = r->reply_to;
		break;
	}
	if (list)
		got = list->len > 0 ? ((struct address *)list->pdata[0])->name : NULL;
	ck_assert_msg(got && strcmp(got, words[_i].want) == 0, "%s: got [%s], want [%s]",
	    words[_i].name, got ? got : "(null)", words[_i].want);
	if (words[_i].warning)
		ck_assert_msg(has_warning(r, words[_i].warning), "%s: want warning \"%s\", got %s",
		    words[_i].name, words[_i].warning, w);
}
END_TEST

/* ---- file names: RFC 2231 (continuations, charsets) and RFC 2047 */

static const struct {
	const char *name;
	const char *headers;	/* of the attached part */
	const char *want;
	const char *warning;
} filenames[] = {
	{ "RFC 2231, iso-8859-1 read as windows-1252",
	  "Content-Disposition: attachment; filename*=iso-8859-1''%80%20caf%E9.pdf", "€ café.pdf",
	  NULL },
	{ "RFC 2231, ISO-8859-1 in capitals",
	  "Content-Disposition: attachment;\n filename*=ISO-8859-1'en'%93quoted%94.txt",
	  "“quoted”.txt", NULL },
	{ "RFC 2231 continuations with a charset",
	  "Content-Disposition: attachment;\n filename*0*=utf-8''%E6%97%A5;\n filename*1*=%E6%9C%AC.pdf",
	  "日本.pdf", NULL },
	{ "a character split across continuations",
	  "Content-Disposition: attachment;\n filename*0*=utf-8''%E6%97;\n filename*1*=%A5.txt",
	  "日.txt", NULL },
	{ "encoded and plain continuations",
	  "Content-Disposition: attachment;\n filename*0*=utf-8''%C3%A9t%C3%A9%20;\n filename*1=report.pdf",
	  "été report.pdf", NULL },
	{ "RFC 2231 shift_jis", "Content-Disposition: attachment; filename*=shift_jis''%82%B1%82%F1.txt",
	  "こん.txt", NULL },
	{ "RFC 2231 gb2312 with a gbk character",
	  "Content-Disposition: attachment; filename*=gb2312''%9Cy.doc", "測.doc", NULL },
	{ "RFC 2231 with a language", "Content-Disposition: attachment; filename*=utf-8'fr'r%C3%A9sum%C3%A9.pdf",
	  "résumé.pdf", NULL },
	{ "RFC 2231, unknown charset",
	  "Content-Disposition: attachment; filename*=x-bogus''caf%C3%A9.txt", "café.txt",
	  "unknown charset \"x-bogus\"" },
	{ "RFC 2231, wrong charset: windows-1252 bytes said to be utf-8",
	  "Content-Disposition: attachment; filename*=utf-8''caf%E9.txt", "café.txt",
	  "not valid UTF-8" },
	{ "RFC 2231 without a charset", "Content-Disposition: attachment; filename*=''caf%C3%A9.txt",
	  "café.txt", NULL },
	{ "RFC 2231 quoted", "Content-Disposition: attachment; filename*=\"utf-8''%E2%82%AC.pdf\"",
	  "€.pdf", NULL },
	{ "RFC 2231 in Content-Type's name",
	  "Content-Type: application/pdf; name*=iso-8859-1''%E9t%E9.pdf", "été.pdf", NULL },
	{ "RFC 2047 in a quoted file name",
	  "Content-Disposition: attachment; filename=\"=?iso-8859-1?q?=80uro.pdf?=\"", "€uro.pdf", NULL },
	{ "RFC 2047 split across words in a file name",
	  "Content-Type: application/pdf; name=\"=?utf-8?b?Y2Fmww==?= =?utf-8?b?qS5wZGY=?=\"",
	  "café.pdf", NULL },
	{ "raw 8-bit UTF-8 file name", "Content-Disposition: attachment; filename=\"caf\xc3\xa9.pdf\"",
	  "café.pdf", NULL },
	{ "raw 8-bit windows-1252 file name", "Content-Disposition: attachment; filename=\"caf\xe9.pdf\"",
	  "café.pdf", NULL },
};

START_TEST(test_filenames)
{
	g_autofree char *msg = g_strdup_printf("From: a@example.com\nDate: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n"
	    "--b\n%s%s\n\nPDF\n--b--\n", filenames[_i].headers,
	    strstr(filenames[_i].headers, "Content-Type") ? "" : "\nContent-Type: application/pdf");
	g_autoptr(record) r = parse(msg);
	g_autofree char *w = warnings(r);
	struct attachment *a;

	ck_assert_msg(r->attachments->len == 1, "%s: %u attachments", filenames[_i].name,
	    r->attachments->len);
	a = r->attachments->pdata[0];
	ck_assert_msg(a->filename && strcmp(a->filename, filenames[_i].want) == 0,
	    "%s: got [%s], want [%s]", filenames[_i].name, a->filename ? a->filename : "(null)",
	    filenames[_i].want);
	ck_assert_str_eq(a->name, filenames[_i].want);
	if (filenames[_i].warning)
		ck_assert_msg(has_warning(r, filenames[_i].warning), "%s: want warning \"%s\", got %s",
		    filenames[_i].name, filenames[_i].warning, w);
}
END_TEST

/* ---- charset_to_utf8 itself: labels and what comes back */

START_TEST(test_labels)
{
	static const struct {
		const char *label;	/* NULL: none */
		const char *bytes;
		const char *want;
		gboolean guessed;	/* a warning line is expected */
	} cases[] = {
		{ NULL, "ascii", "ascii", FALSE },
		{ NULL, "caf\xc3\xa9", "café", TRUE },
		{ "", "caf\xe9", "café", TRUE },
		{ "\"utf-8\"", "caf\xc3\xa9", "café", FALSE },
		{ "UTF-8", "caf\xc3\xa9", "café", FALSE },
		{ "cp1252", "\x80", "€", FALSE },
		{ "windows-1252", "\x80", "€", FALSE },
		{ "ISO_8859-1", "\x80", "€", FALSE },
		{ "iso8859-1", "\x80", "€", FALSE },
		{ "x-mac-roman", "\x8e", "é", FALSE },
		{ "8bit", "caf\xe9", "café", TRUE },
		{ "unknown-8bit", "caf\xc3\xa9", "café", TRUE },
		{ "utf-7", "+AOk-", "é", FALSE },
		{ "ms1252", "\x80", "€", TRUE },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *guess = NULL, *s = NULL;
		gsize len;

		s = charset_to_utf8(cases[i].bytes, strlen(cases[i].bytes), cases[i].label, &len, &guess);
		ck_assert_msg(strcmp(s, cases[i].want) == 0, "%s: got [%s], want [%s]",
		    cases[i].label ? cases[i].label : "(none)", s, cases[i].want);
		ck_assert_uint_eq(len, strlen(cases[i].want));
		ck_assert_msg((guess != NULL) == cases[i].guessed, "%s: guess [%s]",
		    cases[i].label ? cases[i].label : "(none)", guess ? guess : "(none)");
	}
}
END_TEST

/* UCS-4 beyond U+10FFFF: glibc's iconv takes it and writes a 5-byte
 * sequence, which is not UTF-8; the body (which goes on the wire as it is)
 * gets U+FFFD instead */
START_TEST(test_beyond_unicode)
{
	static const char ucs4[] = "\x00\x20\x00\x00" "\x00\x00\x00\x41";	/* U+200000 A */
	g_autofree char *b64 = g_base64_encode((const guchar *)ucs4, sizeof ucs4 - 1);
	g_autofree char *msg = g_strdup_printf("From: a@example.com\nDate: Tue, 14 Nov 2023 10:00:00 +0100\n"
	    "Content-Type: text/plain; charset=ucs-4\nContent-Transfer-Encoding: base64\n\n%s\n", b64);
	g_autoptr(record) r = parse(msg);
	g_autofree char *guess = NULL, *s = NULL;
	gsize len;

	ck_assert(g_utf8_validate_len(r->text_body, r->text_body_len, NULL));
	ck_assert_msg(g_str_has_suffix(r->text_body, "A"), "got [%s]", r->text_body);
	ck_assert_ptr_nonnull(strstr(r->text_body, "\xEF\xBF\xBD"));
	s = charset_to_utf8(ucs4, sizeof ucs4 - 1, "UCS-4", &len, &guess);
	ck_assert(g_utf8_validate_len(s, len, NULL));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("parsed_charset");
	TCase *tc = tcase_create("charset");

	tcase_add_loop_test(tc, test_charset_body, 0, UNIT_N(charsets));
	tcase_add_loop_test(tc, test_charset_subject, 0, UNIT_N(charsets));
	tcase_add_loop_test(tc, test_undeclared, 0, UNIT_N(undeclared));
	tcase_add_loop_test(tc, test_words, 0, UNIT_N(words));
	tcase_add_loop_test(tc, test_filenames, 0, UNIT_N(filenames));
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_beyond_unicode);
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
