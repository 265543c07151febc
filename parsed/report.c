/*
 * report - what a delivery status notification (a bounce) says.
 *
 * A bounce that follows RFC 3464 is a multipart/report with
 * report-type=delivery-status; its message/delivery-status part (RFC 6533:
 * message/global-delivery-status) is a block of per-message fields and one
 * block per recipient, each written like a header block, blocks apart by
 * an empty line:
 *
 *	Reporting-MTA: dns; mx.example.com
 *
 *	Final-Recipient: rfc822; nobody@example.org
 *	Action: failed
 *	Status: 5.1.1
 *	Diagnostic-Code: smtp; 550 5.1.1 user unknown
 *
 * GMime reads each block as the header block it looks like; the record
 * gets one bounce recipient per block that names a recipient.
 */
#include <string.h>

#include "parsed.h"

#define DIAGNOSTIC_MAX	300	/* characters of a Diagnostic-Code kept */
#define RECIPIENTS_MAX	100
#define REPORT_MAX	(256 * 1024)	/* bytes of a delivery-status part read */

/* field - the unfolded, trimmed value of the first field called name, or
 * NULL */
static char *
field(GMimeHeaderList *hl, const char *name)
{
	GMimeHeader *h = g_mime_header_list_get_header(hl, name);
	const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
	char *v;

	if (!raw)
		return NULL;
	v = header_unfold(raw);
	if (!g_utf8_validate(v, -1, NULL)) {
		char *u = g_utf8_make_valid(v, -1);

		g_free(v);
		v = u;
	}
	{
		/* folding blanks, runs of them: one blank */
		char *o = v;

		for (const char *p = v; *p; p++)
			if (!g_ascii_isspace(*p) || (o > v && o[-1] != ' '))
				*o++ = g_ascii_isspace(*p) ? ' ' : *p;
		while (o > v && o[-1] == ' ')
			o--;
		*o = '\0';
	}
	if (!*v) {
		g_free(v);
		return NULL;
	}
	return v;
}

/* status_code - "5.1.1" of "5.1.1 (user unknown)": the code without the
 * comment, when it is one */
static char *
status_code(char *value)
{
	static GRegex *code_re;
	g_autoptr(GMatchInfo) mi = NULL;
	char *code;

	if (!value)
		return NULL;
	if (g_once_init_enter(&code_re))
		g_once_init_leave(&code_re, g_regex_new("^([245]\\.\\d{1,3}\\.\\d{1,3})\\b",
		    G_REGEX_RAW, 0, NULL));
	if (!g_regex_match(code_re, value, 0, &mi))
		return value;
	code = g_match_info_fetch(mi, 1);
	g_free(value);
	return code;
}

/* address_of - "rfc822; Nobody@Example.org" as nobody's address: what
 * follows the address type, without <> */
static char *
address_of(const char *value)
{
	const char *semi = strchr(value, ';');
	char *a = g_strstrip(g_strdup(semi ? semi + 1 : value));
	gsize n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		memmove(a, a + 1, n - 2);
		a[n - 2] = '\0';
		g_strstrip(a);
	}
	return a;
}

/* recipient - the bounce recipient a block of fields names, or NULL */
static struct bounce_recipient *
recipient(GMimeHeaderList *hl)
{
	g_autofree char *final = field(hl, "Final-Recipient");
	g_autofree char *original = field(hl, "Original-Recipient");
	struct bounce_recipient *b;

	if (!final && !original)
		return NULL;	/* the per-message block */
	b = g_new0(struct bounce_recipient, 1);
	b->addr = address_of(final ? final : original);
	b->action = field(hl, "Action");
	if (b->action) {
		char *lower = g_ascii_strdown(b->action, -1);

		g_free(b->action);
		b->action = lower;
	}
	b->status = status_code(field(hl, "Status"));
	b->diagnostic = field(hl, "Diagnostic-Code");
	if (b->diagnostic && g_utf8_strlen(b->diagnostic, -1) > DIAGNOSTIC_MAX)
		*g_utf8_offset_to_pointer(b->diagnostic, DIAGNOSTIC_MAX) = '\0';
	return b;
}

/* read_block - one block of fields, as GMime reads a header block */
static void
read_block(struct record *r, const char *data, gsize len)
{
	GByteArray *copy = g_byte_array_sized_new((guint)len + 2);
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	struct bounce_recipient *b;

	if (r->bounce_recipients->len >= RECIPIENTS_MAX)
		return;
	g_byte_array_append(copy, (const guint8 *)data, (guint)len);
	g_byte_array_append(copy, (const guint8 *)"\n\n", 2);
	stream = g_mime_stream_mem_new_with_byte_array(copy);	/* owns copy */
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg && (b = recipient(g_mime_object_get_header_list(GMIME_OBJECT(msg)))) != NULL)
		g_ptr_array_add(r->bounce_recipients, b);
	if (msg)
		g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(stream);
}

/* blank_line - the line at p (to end) has nothing but blanks */
static gboolean
blank_line(const char *p, const char *end)
{
	for (; p < end && *p != '\n'; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return FALSE;
	return TRUE;
}

/* report_read - the recipients a delivery-status part (its content
 * decoded) reports on, added to r's bounce recipients */
void
report_read(struct record *r, GBytes *content)
{
	gsize len;
	const char *data = g_bytes_get_data(content, &len);
	const char *p = data, *end = data + len, *block = NULL;

	if (!data)
		return;
	if (len > REPORT_MAX)
		end = data + REPORT_MAX;
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		const char *next = nl ? nl + 1 : end;

		if (blank_line(p, end)) {
			if (block)
				read_block(r, block, (gsize)(p - block));
			block = NULL;
		} else if (!block) {
			block = p;
		}
		p = next;
	}
	if (block)
		read_block(r, block, (gsize)(end - block));
}
