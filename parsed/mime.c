/*
 * mime - one raw message to its record, with GMime.
 *
 * The message is parsed once, from a stream over the caller's bytes (no
 * copy: the parts' contents are windows on that same buffer).  Then:
 *
 *  - headers from the top-level header list, decoded by GMime in its loose
 *    mode (RFC 2047 words glued to text or inside quotes, raw 8-bit text
 *    read as UTF-8 or else windows-1252);
 *  - the body as Python's EmailMessage.get_body() chooses it: the first
 *    text/plain part that is not an attachment, looking only at the start
 *    part of a multipart/related and never inside message/...; failing that
 *    the first such text/html part, as text (html.c);
 *  - attachments: every leaf in document order but the body and inline
 *    text/plain or text/html parts without a file name; a message/... part
 *    is one attachment (its bytes as in the source: GMime is told to keep
 *    embedded messages as leaves, see mime_init).
 *
 * Nothing here fails: what cannot be read is left out and said in the
 * record's warnings.
 */
#include <string.h>

#include <gmime/gmime.h>
#include <libxml/parser.h>

#include "parsed.h"

static const char *const fallback_charsets[] = { "utf-8", "windows-1252", NULL };

/* mime_init - once per process, before any mime_parse */
void
mime_init(void)
{
	g_mime_init();
	/* An embedded message is one attachment, its bytes as in the source:
	 * GMime keeps it as a leaf (a window on the raw message, like any
	 * part's content) instead of parsing it, which parsed never needs. */
	g_mime_object_register_type("message", "rfc822", GMIME_TYPE_PART);
	g_mime_object_register_type("message", "global", GMIME_TYPE_PART);
	g_mime_object_register_type("message", "news", GMIME_TYPE_PART);
	xmlInitParser();
	header_init();
}

/* parser_warning - GMime's account of what it found wrong, as a warning */
static void
parser_warning(struct record *r, GMimeParserWarning code, const gchar *item)
{
	const char *what;

	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER:
		what = "duplicated header";
		break;
	case GMIME_WARN_INVALID_CONTENT_TYPE:
		what = "invalid Content-Type";
		break;
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
		what = "invalid RFC 2047 encoded word";
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
		what = "multipart without parts";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		what = "message truncated";
		break;
	case GMIME_WARN_MALFORMED_MESSAGE:
		what = "malformed message";
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
		what = "a line in a header block that is not a header";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		what = "conflicting header";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		what = "conflicting header parameter";
		break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		what = "multipart without a boundary";
		break;
	case GMIME_WARN_INVALID_ADDRESS_LIST:
		what = "invalid address list";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		what = "MIME parts nested too deep";
		break;
	case GMIME_WARN_PART_WITHOUT_CONTENT:
		what = "MIME part without content";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		what = "MIME part without headers or content";
		break;
	default:
		/* 8-bit headers, repeated parameters: read as well as can be */
		return;
	}
	if (code == GMIME_CRIT_INVALID_HEADER_NAME)
		item = NULL;	/* a line that may well be body text: not for the logs */
	if (item && *item) {
		g_autofree char *short_item = g_utf8_make_valid(item, MIN(strlen(item), 80));

		record_warn(r, "%s: %s", what, short_item);
	} else {
		record_warn(r, "%s", what);
	}
}

/* trimmed_or_null - s stripped, or NULL when nothing is left */
static char *
trimmed_or_null(const char *s)
{
	char *t;

	if (!s)
		return NULL;
	t = g_strstrip(g_strdup(s));
	if (*t == '\0') {
		g_free(t);
		return NULL;
	}
	return t;
}

/* add_addresses - every mailbox of list, groups flattened */
static void
add_addresses(GPtrArray *out, InternetAddressList *list)
{
	int n = internet_address_list_length(list);

	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		struct address *a;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			add_addresses(out, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		a = g_new0(struct address, 1);
		a->name = trimmed_or_null(internet_address_get_name(ia));
		a->addr = g_strdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
		if (!a->addr)
			a->addr = g_strdup("");
		if (a->name && !g_utf8_validate(a->name, -1, NULL)) {
			char *v = g_utf8_make_valid(a->name, -1);

			g_free(a->name);
			a->name = v;
		}
		g_ptr_array_add(out, a);
	}
}

/* parse_addresses - the mailboxes of one address header, added to out */
static void
parse_addresses(struct record *r, GPtrArray *out, GMimeParserOptions *opts, const char *name,
    const char *value)
{
	g_autofree char *bare = header_strip_comments(value);
	g_autofree char *words = header_words(bare);
	InternetAddressList *list = internet_address_list_parse(opts, words ? words : bare);

	if (!list) {
		if (*value)
			record_warn(r, "unreadable %s header", name);
		return;
	}
	add_addresses(out, list);
	g_object_unref(list);
}

/* date_to_utc - "YYYY-MM-DDTHH:MM:SSZ", or NULL when GMime cannot read it */
static char *
date_to_utc(const char *value)
{
	g_autofree char *fixed = header_date(value);
	GDateTime *dt = g_mime_utils_header_decode_date(fixed ? fixed : value);
	GDateTime *utc;
	char *s;

	if (!dt)
		return NULL;
	utc = g_date_time_to_utc(dt);
	g_date_time_unref(dt);
	if (!utc)
		return NULL;
	s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
	g_date_time_unref(utc);
	return s;
}

/* first_id - the first message id of a header value, without <> */
static char *
first_id(GMimeParserOptions *opts, const char *value)
{
	g_autoptr(GPtrArray) ids = header_ids(opts, value);

	return ids->len > 0 ? g_strdup(ids->pdata[0]) : NULL;
}

/* read_headers - the record's header fields: the first Subject, Date and
 * ids; every From, To, Cc and Reply-To */
static void
read_headers(struct record *r, GMimeMessage *msg, GMimeParserOptions *opts)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	int n = g_mime_header_list_get_count(hl);
	gboolean seen_subject = FALSE, seen_date = FALSE, seen_mid = FALSE, seen_irt = FALSE;
	gboolean seen_refs = FALSE;
	g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func(address_free);

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);
		g_autofree char *value = header_utf8(header_unfold(g_mime_header_get_raw_value(h)));

		if (!name)
			continue;
		if (g_ascii_strcasecmp(name, "Subject") == 0 && !seen_subject) {
			g_autofree char *words = header_words(value);
			char *s = g_mime_utils_header_decode_text(opts, words ? words : value);

			seen_subject = TRUE;
			r->subject = g_strstrip(s ? s : g_strdup(""));
		} else if (g_ascii_strcasecmp(name, "From") == 0) {
			parse_addresses(r, from, opts, "From", value);
		} else if (g_ascii_strcasecmp(name, "To") == 0) {
			parse_addresses(r, r->to, opts, "To", value);
		} else if (g_ascii_strcasecmp(name, "Cc") == 0) {
			parse_addresses(r, r->cc, opts, "Cc", value);
		} else if (g_ascii_strcasecmp(name, "Reply-To") == 0) {
			parse_addresses(r, r->reply_to, opts, "Reply-To", value);
		} else if (g_ascii_strcasecmp(name, "Date") == 0 && !seen_date) {
			seen_date = TRUE;
			r->date = g_strdup(value);
			r->date_iso_utc = date_to_utc(value);
			if (!r->date_iso_utc)
				record_warn(r, "unreadable Date header");
		} else if (g_ascii_strcasecmp(name, "Message-ID") == 0 && !seen_mid) {
			seen_mid = TRUE;
			r->message_id = first_id(opts, value);
		} else if (g_ascii_strcasecmp(name, "In-Reply-To") == 0 && !seen_irt) {
			seen_irt = TRUE;
			r->in_reply_to = first_id(opts, value);
		} else if (g_ascii_strcasecmp(name, "References") == 0 && !seen_refs) {
			g_autoptr(GPtrArray) ids = header_ids(opts, value);

			seen_refs = TRUE;
			for (guint j = 0; j < ids->len; j++)
				g_ptr_array_add(r->references, g_strdup(ids->pdata[j]));
		}
	}
	if (from->len > 0) {
		struct address *a = from->pdata[0];

		r->from_name = g_steal_pointer(&a->name);
		r->from_addr = g_steal_pointer(&a->addr);
	}
	if (!seen_date)
		record_warn(r, "no Date header");
	if (from->len == 0)
		record_warn(r, "no From address");
}

/* raw_header - the raw value of o's first header called name */
static const char *
raw_header(GMimeObject *o, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	GMimeHeader *h = hl ? g_mime_header_list_get_header(hl, name) : NULL;

	return h ? g_mime_header_get_raw_value(h) : NULL;
}

/* mime_type - "type/subtype" in lower case; text/plain when the part's
 * Content-Type is not one (RFC 2045 5.2 says to assume text/plain there;
 * GMime assumes application/octet-stream) */
static char *
mime_type(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	const char *raw = raw_header(o, "Content-Type");
	g_autofree char *t = NULL;

	if (raw && !header_type_valid(raw) && !GMIME_IS_MULTIPART(o))
		return g_strdup("text/plain");
	t = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	return g_ascii_strdown(t ? t : "application/octet-stream", -1);
}

/* is_attachment - Content-Disposition says attachment */
static gboolean
is_attachment(GMimeObject *o)
{
	const char *d = g_mime_object_get_disposition(o);

	return d && g_ascii_strcasecmp(d, "attachment") == 0;
}

/* clean_value - a raw header value made plain for GMime: unfolded, raw
 * 8-bit text as UTF-8 (or windows-1252), runs of encoded words as one
 * UTF-8 word (header.c); NULL when GMime's own reading can stand */
static char *
clean_value(const char *raw)
{
	g_autofree char *v = NULL;
	char *words;

	if (!raw || (!strstr(raw, "=?") && g_utf8_validate(raw, -1, NULL)))
		return NULL;
	v = header_utf8(header_unfold(raw));
	words = header_words(v);
	return words ? words : g_steal_pointer(&v);
}

/* param - parameter pname of o's header hname (Content-Disposition or
 * Content-Type), decoded (RFC 2231 and RFC 2047, by GMime) */
static char *
param(GMimeObject *o, GMimeParserOptions *opts, const char *hname, const char *pname)
{
	gboolean cd = g_ascii_strcasecmp(hname, "Content-Disposition") == 0;
	g_autofree char *clean = clean_value(raw_header(o, hname));
	const char *v;

	if (!clean) {
		v = cd ? g_mime_object_get_content_disposition_parameter(o, pname) :
		    g_mime_object_get_content_type_parameter(o, pname);
		return v ? g_utf8_make_valid(v, -1) : NULL;
	}
	if (cd) {
		GMimeContentDisposition *d = g_mime_content_disposition_parse(opts, clean);
		char *s;

		v = d ? g_mime_content_disposition_get_parameter(d, pname) : NULL;
		s = v ? g_utf8_make_valid(v, -1) : NULL;
		if (d)
			g_object_unref(d);
		return s;
	} else {
		GMimeContentType *t = g_mime_content_type_parse(opts, clean);
		char *s;

		v = t ? g_mime_content_type_get_parameter(t, pname) : NULL;
		s = v ? g_utf8_make_valid(v, -1) : NULL;
		if (t)
			g_object_unref(t);
		return s;
	}
}

/* filename - Content-Disposition's filename, else Content-Type's name */
static char *
filename(GMimeObject *o, GMimeParserOptions *opts)
{
	char *s = param(o, opts, "Content-Disposition", "filename");

	if (!s)
		s = param(o, opts, "Content-Type", "name");
	if (s && *s) {
		/* trimmed, unless nothing but blanks would be left */
		char *t = g_strstrip(g_strdup(s));

		if (*t) {
			g_free(s);
			return t;
		}
		g_free(t);
	}
	return s;
}

/* same_id - two Content-ID / start values name the same part */
static gboolean
same_id(const char *a, const char *b)
{
	g_autofree char *x = NULL, *y = NULL;

	if (!a || !b)
		return FALSE;
	x = g_mime_utils_decode_message_id(a);
	y = g_mime_utils_decode_message_id(b);
	return x && y && strcmp(x, y) == 0;
}

/* find_body - the first part of type text/SUBTYPE the way get_body() looks */
static GMimeObject *
find_body(GMimeObject *o, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	g_autofree char *type = NULL;

	if (!ct || is_attachment(o))
		return NULL;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);
		GMimeObject *start = NULL;
		const char *start_id;

		if (!g_mime_content_type_is_type(ct, "multipart", "related")) {
			for (int i = 0; i < n; i++) {
				GMimeObject *b = find_body(g_mime_multipart_get_part(mp, i), subtype);

				if (b)
					return b;
			}
			return NULL;
		}
		start_id = g_mime_content_type_get_parameter(ct, "start");
		for (int i = 0; start_id && i < n && !start; i++) {
			GMimeObject *k = g_mime_multipart_get_part(mp, i);

			if (same_id(raw_header(k, "Content-ID"), start_id))
				start = k;
		}
		if (!start && n > 0)
			start = g_mime_multipart_get_part(mp, 0);
		return start ? find_body(start, subtype) : NULL;
	}
	if (!GMIME_IS_PART(o))
		return NULL;
	type = mime_type(o);
	return g_str_has_prefix(type, "text/") && strcmp(type + 5, subtype) == 0 ? o : NULL;
}

/* part_content - a leaf's bytes after transfer decoding */
static GBytes *
part_content(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *ba;

	if (!w)
		return g_bytes_new(NULL, 0);
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return g_byte_array_free_to_bytes(ba);
}

/* message_content - an embedded message GMime parsed after all (mime_init
 * registers message/rfc822, global and news as plain parts), written back */
static GBytes *
message_content(GMimeMessagePart *mp)
{
	GMimeMessage *m = g_mime_message_part_get_message(mp);
	GMimeStream *mem;
	GByteArray *ba;

	if (!m)
		return g_bytes_new(NULL, 0);
	mem = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return g_byte_array_free_to_bytes(ba);
}

/* body_text - the body part's text as UTF-8, normalized */
static void
body_text(struct record *r, GMimeObject *body, enum body_source source)
{
	g_autoptr(GBytes) raw = part_content(GMIME_PART(body));
	const char *label = g_mime_object_get_content_type_parameter(body, "charset");
	g_autofree char *guess = NULL, *utf8 = NULL;
	gsize len, ulen;
	const char *data = g_bytes_get_data(raw, &len);

	utf8 = charset_to_utf8(data ? data : "", len, label, &ulen, &guess);
	if (guess)
		record_warn(r, "text body: %s", guess);
	if (memchr(utf8, '\0', ulen)) {
		/* JSON on the wire cannot carry NUL, and no agent wants one */
		GString *s = g_string_sized_new(ulen + 16);

		for (gsize i = 0; i < ulen; i++) {
			if (utf8[i])
				g_string_append_c(s, utf8[i]);
			else
				g_string_append(s, "\xEF\xBF\xBD");
		}
		ulen = s->len;
		g_free(utf8);
		utf8 = g_string_free(s, FALSE);
		record_warn(r, "text body: NUL characters replaced");
	}
	g_free(r->text_body);
	if (source == BODY_HTML) {
		g_autofree char *text = html_to_text(utf8, ulen);

		r->text_body = body_normalize(text, strlen(text), &r->text_body_len);
	} else {
		r->text_body = body_normalize(utf8, ulen, &r->text_body_len);
	}
	r->text_body_source = source;
}

struct walk {
	struct record *r;
	GMimeParserOptions *opts;
	GMimeObject *body;
};

/* walk_leaves - attachments and has_html, in document order */
static void
walk_leaves(struct walk *w, GMimeObject *o)
{
	g_autofree char *ct = NULL, *fn = NULL;
	gboolean att;
	struct attachment *a;
	const char *disp;

	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++)
			walk_leaves(w, g_mime_multipart_get_part(mp, i));
		return;
	}
	ct = mime_type(o);
	att = is_attachment(o);
	fn = filename(o, w->opts);
	if (strcmp(ct, "text/html") == 0 && !att)
		w->r->has_html = TRUE;
	if (o == w->body)
		return;
	if ((strcmp(ct, "text/plain") == 0 || strcmp(ct, "text/html") == 0) && !att && !fn)
		return;
	if (g_str_has_prefix(ct, "multipart/"))
		return;
	a = g_new0(struct attachment, 1);
	a->filename = g_steal_pointer(&fn);
	a->content_type = g_steal_pointer(&ct);
	a->content_id = trimmed_or_null(g_mime_object_get_content_id(o));
	disp = g_mime_object_get_disposition(o);
	a->inline_ = disp ? g_ascii_strcasecmp(disp, "inline") == 0 : a->content_id != NULL;
	if (GMIME_IS_MESSAGE_PART(o))
		a->data = message_content(GMIME_MESSAGE_PART(o));
	else if (GMIME_IS_PART(o))
		a->data = part_content(GMIME_PART(o));
	else
		a->data = g_bytes_new(NULL, 0);
	g_ptr_array_add(w->r->attachments, a);
}

static void
read_body(struct record *r, GMimeMessage *msg, GMimeParserOptions *opts)
{
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	struct walk w = { r, opts, NULL };

	if (!top) {
		record_warn(r, "message has no body");
		return;
	}
	if ((w.body = find_body(top, "plain")) != NULL)
		body_text(r, w.body, BODY_PLAIN);
	else if ((w.body = find_body(top, "html")) != NULL)
		body_text(r, w.body, BODY_HTML);
	walk_leaves(&w, top);
}

/* skip_leading - past a leading mbox "From " line and blank lines before
 * the headers (GMime would find no header at all) */
static gsize
skip_leading(const char *data, gsize len)
{
	gsize off = 0;

	if (len >= 5 && memcmp(data, "From ", 5) == 0) {
		const char *nl = memchr(data, '\n', len);

		off = nl ? (gsize)(nl - data) + 1 : len;
	}
	for (;;) {
		gsize i = off;

		while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r'))
			i++;
		if (i >= len || data[i] != '\n')
			break;
		off = i + 1;
	}
	return off;
}

/* header_follows - among the lines from off to the next empty line, one
 * looks like a header field ("Name: ...") */
static gboolean
header_follows(const char *data, gsize len, gsize off)
{
	const char *p = memchr(data + off, '\n', len - off);
	const char *end = data + len;

	while (p && ++p < end) {
		const char *q = p;

		if (*p == '\n' || *p == '\r')
			return FALSE;
		while (q < end && *q > ' ' && *q < 0x7F && *q != ':')
			q++;
		if (q > p && q < end && *q == ':')
			return TRUE;
		p = memchr(p, '\n', (gsize)(end - p));
	}
	return FALSE;
}

/* What to change in a copy of the message before parsing it once more. */
enum fix_kind {
	FIX_SEPARATOR,		/* an empty line before this bad header line */
	FIX_RENAME,		/* a repeated Content-* header: the first one counts */
	FIX_EOL,		/* a line end after a closing boundary at the very end */
};

struct fix {
	gint64 off;
	enum fix_kind kind;
};

struct parse {
	struct record *r;
	GArray *fixes;		/* of struct fix, while collecting */
};

/* on_parser_warning - GMime's account of what it found wrong */
static void
on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
	struct parse *p = data;
	struct fix f = { offset, FIX_SEPARATOR };

	if (p->fixes && offset >= 0) {
		if (code == GMIME_CRIT_INVALID_HEADER_NAME) {
			g_array_append_val(p->fixes, f);
		} else if (code == GMIME_CRIT_CONFLICTING_HEADER && item &&
		    g_ascii_strncasecmp(item, "Content-", 8) == 0) {
			f.kind = FIX_RENAME;
			g_array_append_val(p->fixes, f);
		}
	}
	parser_warning(p->r, code, item);
}

/* construct - parse len bytes at data (not copied; they must outlive the
 * message) */
static GMimeMessage *
construct(const char *data, gsize len, GMimeParserOptions *opts, GMimeStream **stream_out)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	GByteArray *window;

	/* A window on the caller's bytes: the stream does not own the array
	 * and GMime only reads; g_byte_array_free(, FALSE) hands the bytes
	 * back unfreed once GMime is done. */
	window = g_byte_array_new_take((guint8 *)data, len);
	stream = g_mime_stream_mem_new_with_byte_array(window);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, opts);
	g_object_unref(parser);
	*stream_out = stream;
	return msg;
}

static void
release(GMimeMessage *msg, GMimeStream *stream)
{
	GByteArray *window = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));

	if (msg)
		g_object_unref(msg);
	g_object_unref(stream);
	g_byte_array_free(window, FALSE);
}

static int
fix_cmp(gconstpointer a, gconstpointer b)
{
	const struct fix *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* repaired - a copy of data where GMime and the sender disagree, so that
 * it reads the way RFC 5322 readers (and the corpus oracle) read it:
 *  - a bad line that ends a header block gets an empty line before it, so
 *    the headers stop there instead of swallowing the body (a junk line
 *    with more headers after it is left to GMime, which skips it);
 *  - a repeated Content-Type (or other Content-*) header is renamed, so
 *    the first one counts rather than the last;
 *  - a multipart message that stops right after its closing boundary gets
 *    a line end (without it GMime keeps the CR of the last part's CRLF);
 * NULL when there is nothing to change. */
static GByteArray *
repaired(const char *data, gsize len, GArray *fixes, gboolean crlf)
{
	GByteArray *out = NULL;
	gsize from = 0;

	g_array_sort(fixes, fix_cmp);
	for (guint i = 0; i < fixes->len; i++) {
		const struct fix *f = &g_array_index(fixes, struct fix, i);
		gsize off = (gsize)f->off;

		if (f->kind == FIX_EOL && off == len && len > 0 && data[len - 1] != '\n') {
			if (!out)
				out = g_byte_array_sized_new((guint)len + 2);
			g_byte_array_append(out, (const guint8 *)data + from, (guint)(len - from));
			g_byte_array_append(out, (const guint8 *)(crlf ? "\r\n" : "\n"), crlf ? 2 : 1);
			from = len;
			continue;
		}
		if (f->off < 0 || off < from || off >= len || (off > 0 && data[off - 1] != '\n'))
			continue;
		if (f->kind == FIX_SEPARATOR && header_follows(data, len, off))
			continue;
		if (!out)
			out = g_byte_array_sized_new((guint)len + 64);
		g_byte_array_append(out, (const guint8 *)data + from, (guint)(off - from));
		if (f->kind == FIX_SEPARATOR) {
			g_byte_array_append(out, (const guint8 *)(crlf ? "\r\n" : "\n"), crlf ? 2 : 1);
			from = off;
		} else {
			g_byte_array_append(out, (const guint8 *)"X", 1);
			from = off + 1;
		}
	}
	if (out)
		g_byte_array_append(out, (const guint8 *)data + from, (guint)(len - from));
	return out;
}

/* mime_parse - the record of one raw message; never NULL */
struct record *
mime_parse(GBytes *raw)
{
	struct record *r = record_new();
	struct parse p = { r, NULL };
	GMimeParserOptions *opts;
	GMimeStream *stream;
	GMimeMessage *msg;
	g_autoptr(GByteArray) fixed = NULL;
	gsize len, skip;
	const char *data = g_bytes_get_data(raw, &len);
	const char *nl;
	gboolean crlf;

	if (!data || len == 0) {
		record_warn(r, "empty message");
		return r;
	}
	if (len > G_MAXUINT / 2) {
		record_warn(r, "message too large to parse (%" G_GSIZE_FORMAT " bytes)", len);
		return r;
	}
	skip = skip_leading(data, len);
	data += skip;
	len -= skip;
	nl = memchr(data, '\n', len);
	crlf = nl && nl > data && nl[-1] == '\r';

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(opts, TRUE);
	g_mime_parser_options_set_fallback_charsets(opts, (const char **)fallback_charsets);
	g_mime_parser_options_set_warning_callback(opts, on_parser_warning, &p);

	p.fixes = g_array_new(FALSE, FALSE, sizeof(struct fix));
	msg = construct(data, len, opts, &stream);
	if (msg && GMIME_IS_MULTIPART(g_mime_message_get_mime_part(msg)) && data[len - 1] != '\n') {
		struct fix f = { (gint64)len, FIX_EOL };

		g_array_append_val(p.fixes, f);
	}
	if (p.fixes->len > 0 && (fixed = repaired(data, len, p.fixes, crlf))) {
		/* once more, read the way the sender meant it; the first
		 * reading's warnings told of what is now repaired */
		release(msg, stream);
		g_ptr_array_set_size(r->warnings, 0);
		for (guint i = 0; i < p.fixes->len; i++) {
			enum fix_kind k = g_array_index(p.fixes, struct fix, i).kind;

			if (k == FIX_SEPARATOR)
				record_warn(r, "a header block does not end with an empty line");
			else if (k == FIX_RENAME)
				record_warn(r, "a Content-* header is repeated; the first one counts");
		}
		g_array_set_size(p.fixes, 0);
		msg = construct((const char *)fixed->data, fixed->len, opts, &stream);
	}
	g_array_unref(p.fixes);
	p.fixes = NULL;

	if (!msg) {
		record_warn(r, "unable to parse the message: no header block");
	} else {
		read_headers(r, msg, opts);
		read_body(r, msg, opts);
	}
	release(msg, stream);
	g_mime_parser_options_free(opts);
	return r;
}
