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
 *    embedded messages as leaves, see mime_init).  An attachment's decoded
 *    bytes are counted, not kept: the record gives its size and its part
 *    number, the leaf's position in the walk g_mime_message_foreach makes
 *    (docs/wire.md), and mime_part_content decodes it from the raw
 *    message again when someone wants it.
 *
 * Nothing here fails: what cannot be read is left out and said in the
 * record's warnings.
 */
#include <string.h>

#include <gmime/gmime.h>
#include <libxml/parser.h>

#include "parsed.h"

/* Under AddressSanitizer (gcc: __SANITIZE_ADDRESS__, clang: __has_feature),
 * what mime_init allocates once is not a leak. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARSED_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(PARSED_ASAN)
#include <sanitizer/lsan_interface.h>
#define lsan_disable()	__lsan_disable()
#define lsan_enable()	__lsan_enable()
#else
#define lsan_disable()	((void)0)
#define lsan_enable()	((void)0)
#endif

#define HEADERS_MAX	(1024 * 1024)	/* of a message read for its headers only */
#define BODY_MAX	(8 * 1024 * 1024)	/* bytes of the text body part read */
#define SIZE_CHUNK	16384		/* encoded bytes decoded at a time to count them */

static struct record *headers_only(const char *data, gsize len);

static const char *const fallback_charsets[] = { "utf-8", "windows-1252", NULL };

/* mime_init - once per process, before any mime_parse */
void
mime_init(void)
{
	/* An embedded message is one attachment, its bytes as in the source:
	 * GMime keeps it as a leaf (a window on the raw message, like any
	 * part's content) instead of parsing it, which parsed never needs.
	 * GMime's type table drops the entries g_mime_init made for these
	 * without freeing them (48 bytes, once): LeakSanitizer is told not
	 * to count them, so that it finds the leaks that matter. */
	lsan_disable();
	g_mime_init();
	g_mime_object_register_type("message", "rfc822", GMIME_TYPE_PART);
	g_mime_object_register_type("message", "global", GMIME_TYPE_PART);
	g_mime_object_register_type("message", "news", GMIME_TYPE_PART);
	lsan_enable();
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
	g_autofree char *words = header_words(r, bare);
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

enum hfield { H_OTHER, H_SUBJECT, H_FROM, H_TO, H_CC, H_REPLY_TO, H_DATE, H_MID, H_IRT, H_REFS };

static const struct {
	const char *name;
	enum hfield f;
} hfields[] = {
	{ "Subject", H_SUBJECT }, { "From", H_FROM }, { "To", H_TO }, { "Cc", H_CC },
	{ "Reply-To", H_REPLY_TO }, { "Date", H_DATE }, { "Message-ID", H_MID },
	{ "In-Reply-To", H_IRT }, { "References", H_REFS },
};

static enum hfield
hfield(const char *name)
{
	for (gsize i = 0; name && i < G_N_ELEMENTS(hfields); i++)
		if (g_ascii_strcasecmp(name, hfields[i].name) == 0)
			return hfields[i].f;
	return H_OTHER;
}

/* read_headers - the record's header fields: the first Subject, Date and
 * ids; every From, To, Cc and Reply-To */
static void
read_headers(struct record *r, GMimeMessage *msg, GMimeParserOptions *opts)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	int n = g_mime_header_list_get_count(hl);
	gboolean seen[H_REFS + 1] = { FALSE };
	g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func(address_free);

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);
		enum hfield f = hfield(name);
		g_autofree char *value = NULL;
		gboolean first;

		if (f == H_OTHER)
			continue;
		first = !seen[f];
		seen[f] = TRUE;
		if (!first && (f == H_SUBJECT || f == H_DATE || f == H_MID || f == H_IRT || f == H_REFS))
			continue;
		value = header_utf8(r, name, header_unfold(g_mime_header_get_raw_value(h)));
		switch (f) {
		case H_SUBJECT: {
			g_autofree char *words = header_words(r, value);
			char *s = g_mime_utils_header_decode_text(opts, words ? words : value);

			r->subject = g_strstrip(s ? s : g_strdup(""));
			break;
		}
		case H_FROM:
			parse_addresses(r, from, opts, "From", value);
			break;
		case H_TO:
			parse_addresses(r, r->to, opts, "To", value);
			break;
		case H_CC:
			parse_addresses(r, r->cc, opts, "Cc", value);
			break;
		case H_REPLY_TO:
			parse_addresses(r, r->reply_to, opts, "Reply-To", value);
			break;
		case H_DATE:
			r->date = g_strdup(value);
			r->date_iso_utc = date_to_utc(value);
			if (!r->date_iso_utc)
				record_warn(r, "unreadable Date header");
			break;
		case H_MID:
			r->message_id = first_id(opts, value);
			break;
		case H_IRT:
			r->in_reply_to = first_id(opts, value);
			break;
		case H_REFS: {
			g_autoptr(GPtrArray) ids = header_ids(opts, value);

			for (guint j = 0; j < ids->len; j++)
				g_ptr_array_add(r->references, g_strdup(ids->pdata[j]));
			break;
		}
		case H_OTHER:
			break;
		}
	}
	if (from->len > 0) {
		struct address *a = from->pdata[0];

		r->from_name = g_steal_pointer(&a->name);
		r->from_addr = g_steal_pointer(&a->addr);
	}
	if (!seen[H_DATE])
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
clean_value(struct record *r, const char *hname, const char *raw)
{
	g_autofree char *v = NULL;
	char *words;

	if (!raw || (!strstr(raw, "=?") && g_utf8_validate(raw, -1, NULL)))
		return NULL;
	v = header_utf8(r, hname, header_unfold(raw));
	words = header_words(r, v);
	return words ? words : g_steal_pointer(&v);
}

/* value_param - parameter pname of a Content-Disposition (cd) or
 * Content-Type value, as GMime reads it */
static char *
value_param(GMimeParserOptions *opts, gboolean cd, const char *value, const char *pname)
{
	const char *v;
	char *s;

	if (cd) {
		GMimeContentDisposition *d = g_mime_content_disposition_parse(opts, value);

		v = d ? g_mime_content_disposition_get_parameter(d, pname) : NULL;
		s = g_strdup(v);
		if (d)
			g_object_unref(d);
	} else {
		GMimeContentType *t = g_mime_content_type_parse(opts, value);

		v = t ? g_mime_content_type_get_parameter(t, pname) : NULL;
		s = g_strdup(v);
		if (t)
			g_object_unref(t);
	}
	return s;
}

/* from_latin1 - an RFC 2231 value GMime read as iso-8859-1 (see
 * header_rfc2231), read again in the charset label gave, by charset.c's
 * rules: iso-8859-1 as windows-1252, unknown or wrong labels guessed */
static char *
from_latin1(struct record *r, const char *v, const char *label)
{
	g_autofree char *bytes = NULL, *guess = NULL;
	gsize n, ulen;
	char *s;

	bytes = g_convert(v, -1, "ISO-8859-1", "UTF-8", NULL, &n, NULL);
	if (!bytes)
		return g_utf8_make_valid(v, -1);	/* 8-bit text beside the %XX */
	s = charset_to_utf8(bytes, n, label, &ulen, &guess);
	if (guess)
		record_warn(r, "file name: %s", guess);
	if (strlen(s) != ulen) {
		char *t = g_strdup(s);	/* a NUL inside: the name stops there */

		g_free(s);
		s = t;
	}
	return s;
}

/* param - parameter pname of o's header hname (Content-Disposition or
 * Content-Type), decoded: RFC 2231 and RFC 2047 by GMime, their charsets
 * by charset.c */
static char *
param(struct record *r, GMimeObject *o, GMimeParserOptions *opts, const char *hname,
    const char *pname)
{
	gboolean cd = g_ascii_strcasecmp(hname, "Content-Disposition") == 0;
	const char *raw = raw_header(o, hname);
	g_autofree char *clean = clean_value(r, hname, raw);
	g_autofree char *unfolded = NULL, *label = NULL, *latin = NULL, *v = NULL;
	const char *text;

	if (!clean && raw && strchr(raw, '*'))
		unfolded = header_unfold(raw);
	latin = header_rfc2231(clean ? clean : unfolded, pname, &label);
	text = latin ? latin : clean;
	if (!text) {
		const char *g = cd ? g_mime_object_get_content_disposition_parameter(o, pname) :
		    g_mime_object_get_content_type_parameter(o, pname);

		return g ? g_utf8_make_valid(g, -1) : NULL;
	}
	v = value_param(opts, cd, text, pname);
	if (!v)
		return NULL;
	return latin ? from_latin1(r, v, label) : g_utf8_make_valid(v, -1);
}

/* filename - Content-Disposition's filename, else Content-Type's name */
static char *
filename(struct record *r, GMimeObject *o, GMimeParserOptions *opts)
{
	char *s = param(r, o, opts, "Content-Disposition", "filename");

	if (!s)
		s = param(r, o, opts, "Content-Type", "name");
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

struct walk {
	struct record *r;
	GMimeParserOptions *opts;
	GMimeObject *body;
	GBytes *src;		/* what GMime parsed: leaves' contents are windows on it */
	guint leaf;		/* leaves seen so far: the next leaf's part number */
};

/* window - where a leaf's content (still encoded) lies in w->src, when
 * GMime's stream for it is a window on those bytes (it is, for the
 * memory stream construct() gives GMime) */
static gboolean
window(struct walk *w, GMimeStream *st, gsize *off, gsize *len)
{
	gsize srclen;
	const guint8 *src = g_bytes_get_data(w->src, &srclen);
	GByteArray *ba;
	gint64 start, end;

	if (!st || !src || !GMIME_IS_STREAM_MEM(st))
		return FALSE;
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
	if (!ba || ba->data != src)
		return FALSE;
	start = st->bound_start;
	end = st->bound_end < 0 ? (gint64)ba->len : st->bound_end;
	if (start < 0 || end < start || (guint64)end > srclen)
		return FALSE;
	*off = (gsize)start;
	*len = (gsize)(end - start);
	return TRUE;
}

/* stream_content - a leaf's bytes after transfer decoding, GMime's way
 * (through its filters, into a growing buffer) */
static GBytes *
stream_content(GMimeDataWrapper *dw)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *ba;

	g_mime_data_wrapper_write_to_stream(dw, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return g_byte_array_free_to_bytes(ba);
}

/* part_content - a leaf's bytes after transfer decoding, decoded once,
 * straight from the message's bytes into a buffer of the right size (the
 * frame that goes to routed); nothing to decode: a slice of the message's
 * own bytes, no copy.  With cap, at most cap encoded bytes are read, and
 * *cut says whether there were more. */
static GBytes *
part_content(struct walk *w, GMimePart *part, gsize cap, gboolean *cut)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeContentEncoding enc;
	const guint8 *in;
	guint8 *out;
	gsize off, len, n;
	int state = 0;
	guint32 save = 0;

	if (cut)
		*cut = FALSE;
	if (!dw)
		return g_bytes_new(NULL, 0);
	enc = g_mime_data_wrapper_get_encoding(dw);
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE ||
	    !window(w, g_mime_data_wrapper_get_stream(dw), &off, &len))
		return stream_content(dw);
	if (cap > 0 && len > cap) {
		len = cap;
		if (cut)
			*cut = TRUE;
	}
	in = (const guint8 *)g_bytes_get_data(w->src, NULL) + off;
	switch (enc) {
	case GMIME_CONTENT_ENCODING_BASE64:
		out = g_malloc(len / 4 * 3 + 4);
		n = g_mime_encoding_base64_decode_step(in, len, out, &state, &save);
		break;
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
		out = g_malloc(len + 4);
		n = g_mime_encoding_quoted_decode_step(in, len, out, &state, &save);
		break;
	default:
		return g_bytes_new_from_bytes(w->src, off, len);
	}
	if (n == 0) {
		g_free(out);
		return g_bytes_new(NULL, 0);
	}
	return g_bytes_new_take(g_realloc(out, n), n);
}

/* stream_size - a leaf's size after transfer decoding, GMime's way,
 * decoded into a stream that only counts */
static gsize
stream_size(GMimeDataWrapper *dw)
{
	GMimeStream *null = g_mime_stream_null_new();
	gsize n;

	g_mime_data_wrapper_write_to_stream(dw, null);
	n = GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

/* 16 bytes at a time (GCC's and clang's vector extension: SSE2 on x86-64,
 * NEON on ARM, plain code elsewhere); a comparison gives 0xff or 0 per byte */
typedef guint8 bytes16 __attribute__((vector_size(16)));

/* base64_taken - how many of in[0..len) are in base64's alphabet (A-Z,
 * a-z: c | 0x20 folds the case; 0-9, '+', '/'), the bytes GMime's decoder
 * does not skip */
static gsize
base64_taken(const guint8 *in, gsize len)
{
	gsize taken = 0, i = 0;

	while (len - i >= 16) {
		bytes16 count = { 0 };

		/* one byte per lane counts up to 255 blocks, then they are added up */
		for (int block = 0; block < 255 && len - i >= 16; block++, i += 16) {
			bytes16 v;

			memcpy(&v, in + i, 16);
			count -= (bytes16)(((v | 0x20) - 'a') < 26) | (bytes16)((v - '0') < 10) |
			    (bytes16)(v == '+') | (bytes16)(v == '/');
		}
		for (int lane = 0; lane < 16; lane++)
			taken += count[lane];
	}
	/* the rest one at a time, the same test */
	for (; i < len; i++)
		taken += (guint8)((in[i] | 0x20) - 'a') < 26 || (guint8)(in[i] - '0') < 10 ||
		    in[i] == '+' || in[i] == '/';
	return taken;
}

/* mime_base64_size - what one g_mime_encoding_base64_decode_step() over
 * in[0..len) returns, counted without decoding (a tenth of the work): it
 * skips bytes outside the alphabet, makes three bytes of every four inside
 * it, and stops at the first '=', where a quartet begun with two makes one
 * more byte and one begun with three two more */
gsize
mime_base64_size(const guint8 *in, gsize len)
{
	const guint8 *pad = memchr(in, '=', len);
	gsize taken = base64_taken(in, pad ? (gsize)(pad - in) : len), out = taken / 4 * 3;

	if (pad && taken % 4 > 1)
		out += taken % 4 - 1;
	return out;
}

/* part_size - what g_bytes_get_size(part_content(w, part, 0, NULL)) would
 * be, without keeping the decoded bytes: base64 counted, quoted-printable
 * decoded SIZE_CHUNK encoded bytes at a time into one scratch buffer (the
 * decoder carries its state over from one chunk to the next, so the count
 * is the same) */
static gsize
part_size(struct walk *w, GMimePart *part)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeContentEncoding enc;
	guint8 out[SIZE_CHUNK + 4];
	const guint8 *in;
	gsize off, len, n = 0;
	int state = 0;
	guint32 save = 0;

	if (!dw)
		return 0;
	enc = g_mime_data_wrapper_get_encoding(dw);
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE ||
	    !window(w, g_mime_data_wrapper_get_stream(dw), &off, &len))
		return stream_size(dw);
	in = (const guint8 *)g_bytes_get_data(w->src, NULL) + off;
	if (enc == GMIME_CONTENT_ENCODING_BASE64)
		return mime_base64_size(in, len);
	if (enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
		return len;
	for (gsize done = 0; done < len; done += SIZE_CHUNK)
		n += g_mime_encoding_quoted_decode_step(in + done, MIN(SIZE_CHUNK, len - done), out,
		    &state, &save);
	return n;
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

/* wide - a charset whose text a cut at a line end would break */
static gboolean
wide(const char *label)
{
	return label && (g_ascii_strncasecmp(label, "utf-16", 6) == 0 ||
	    g_ascii_strncasecmp(label, "utf-32", 6) == 0 || g_ascii_strncasecmp(label, "ucs", 3) == 0 ||
	    g_ascii_strncasecmp(label, "utf16", 5) == 0 || g_ascii_strncasecmp(label, "utf32", 5) == 0);
}

/* body_text - the body part's text as UTF-8, normalized */
static void
body_text(struct walk *w, GMimeObject *body, enum body_source source)
{
	struct record *r = w->r;
	gboolean cut;
	g_autoptr(GBytes) raw = part_content(w, GMIME_PART(body), BODY_MAX, &cut);
	const char *label = g_mime_object_get_content_type_parameter(body, "charset");
	g_autofree char *guess = NULL, *utf8 = NULL;
	gsize len, ulen;
	const char *data = g_bytes_get_data(raw, &len);

	if (cut) {
		/* a text too long to read: the start of it, to a line end */
		const char *nl = data ? memrchr(data, '\n', len) : NULL;

		if (nl && !wide(label))
			len = (gsize)(nl - data) + 1;
		record_warn(r, "text body cut after its first %d MB (the message's raw bytes hold it all)",
		    BODY_MAX / (1024 * 1024));
	}
	/* valid UTF-8 (charset.c), but for NULs */
	utf8 = charset_to_utf8(data ? data : "", len, label, &ulen, &guess);
	if (guess)
		record_warn(r, "text body: %s", guess);
	if (memchr(utf8, '\0', ulen)) {
		/* parsed.1's text body frame holds no NUL (docs/wire.md: a
		 * TEXT column would cut there), and no agent wants one */
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
	g_clear_pointer(&raw, g_bytes_unref);
	g_free(r->text_body);
	if (source == BODY_HTML) {
		char *text = html_to_text(utf8, ulen);

		/* libxml2 writes UTF-8 from UTF-8; the record's text must be
		 * that (parsed.h), so it is not taken on trust */
		if (!g_utf8_validate(text, -1, NULL)) {
			char *v = g_utf8_make_valid(text, -1);

			g_free(text);
			text = v;
		}
		r->text_body = body_normalize_in_place(text, strlen(text), &r->text_body_len);
	} else {
		r->text_body = body_normalize_in_place(g_steal_pointer(&utf8), ulen, &r->text_body_len);
	}
	r->text_body_source = source;
}

/* is_report - o is a delivery status notification: multipart/report with
 * report-type=delivery-status (RFC 3464; global-delivery-status, RFC 6533) */
static gboolean
is_report(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	const char *rt = ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL;

	return ct && g_mime_content_type_is_type(ct, "multipart", "report") && rt &&
	    (g_ascii_strcasecmp(rt, "delivery-status") == 0 ||
	    g_ascii_strcasecmp(rt, "global-delivery-status") == 0);
}

/* leaf_attachment - the attachment a leaf (number part) makes; its
 * decoded bytes are read only when they say something: a delivery
 * report, or the subject an unnamed message is named after */
static void
leaf_attachment(struct walk *w, GMimeObject *o, char *ct, char *fn, guint part)
{
	struct attachment *a = g_new0(struct attachment, 1);
	const char *disp = g_mime_object_get_disposition(o);
	gboolean report = strcmp(ct, "message/delivery-status") == 0 ||
	    strcmp(ct, "message/global-delivery-status") == 0;
	gboolean subject = !fn && attach_is_message(ct);
	g_autoptr(GBytes) data = NULL;

	a->filename = fn;
	a->content_type = ct;
	a->content_id = trimmed_or_null(g_mime_object_get_content_id(o));
	a->inline_ = disp ? g_ascii_strcasecmp(disp, "inline") == 0 : a->content_id != NULL;
	a->part = part;
	if (GMIME_IS_MESSAGE_PART(o))
		data = message_content(GMIME_MESSAGE_PART(o));
	else if (GMIME_IS_PART(o) && (report || subject))
		data = part_content(w, GMIME_PART(o), 0, NULL);
	else if (GMIME_IS_PART(o))
		a->size = part_size(w, GMIME_PART(o));
	else if (report || subject)
		data = g_bytes_new(NULL, 0);
	if (data)
		a->size = g_bytes_get_size(data);
	if (report) {
		w->r->bounce = TRUE;
		report_read(w->r, data);
	}
	if (subject) {
		gsize len;
		const char *bytes = g_bytes_get_data(data, &len);
		g_autoptr(record) inner = headers_only(bytes ? bytes : "", len);

		attach_name(w->r, a, inner->subject);
	} else {
		attach_name(w->r, a, NULL);
	}
	g_ptr_array_add(w->r->attachments, a);
}

/* walk_leaves - attachments, has_html and bounce, in document order */
static void
walk_leaves(struct walk *w, GMimeObject *o)
{
	g_autofree char *ct = NULL, *fn = NULL;
	gboolean att;
	guint part;

	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		if (is_report(o))
			w->r->bounce = TRUE;
		for (int i = 0; i < n; i++)
			walk_leaves(w, g_mime_multipart_get_part(mp, i));
		return;
	}
	part = w->leaf++;	/* counted as g_mime_message_foreach meets it */
	ct = mime_type(o);
	att = is_attachment(o);
	fn = filename(w->r, o, w->opts);
	if (strcmp(ct, "text/html") == 0 && !att)
		w->r->has_html = TRUE;
	if (o == w->body)
		return;
	if ((strcmp(ct, "text/plain") == 0 || strcmp(ct, "text/html") == 0) && !att && !fn)
		return;
	if (g_str_has_prefix(ct, "multipart/"))
		return;
	leaf_attachment(w, o, g_steal_pointer(&ct), g_steal_pointer(&fn), part);
}

static void
read_body(struct record *r, GMimeMessage *msg, GMimeParserOptions *opts, GBytes *src)
{
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	struct walk w = { r, opts, NULL, src, 0 };

	if (!top) {
		record_warn(r, "message has no body");
		return;
	}
	if ((w.body = find_body(top, "plain")) != NULL)
		body_text(&w, w.body, BODY_PLAIN);
	else if ((w.body = find_body(top, "html")) != NULL)
		body_text(&w, w.body, BODY_HTML);
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
	gboolean headers;	/* the header block alone: the body is not missing */
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
	if (p->headers && (code == GMIME_WARN_TRUNCATED_MESSAGE ||
	    code == GMIME_WARN_MALFORMED_MULTIPART || code == GMIME_WARN_PART_WITHOUT_CONTENT ||
	    code == GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT || code == GMIME_WARN_MALFORMED_MESSAGE))
		return;
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

/* options_new - GMime's loose reading, its warnings to p */
static GMimeParserOptions *
options_new(struct parse *p)
{
	GMimeParserOptions *opts = g_mime_parser_options_new();

	g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(opts, TRUE);
	g_mime_parser_options_set_fallback_charsets(opts, (const char **)fallback_charsets);
	g_mime_parser_options_set_warning_callback(opts, on_parser_warning, p);
	return opts;
}

/* header_block - the length of the header block at data: through the
 * first empty line, or all of it when there is none */
static gsize
header_block(const char *data, gsize len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		const char *q = p;

		while (q < end && q < (nl ? nl : end) && *q == '\r')
			q++;
		if (nl && q == nl)
			return (gsize)(nl + 1 - data);
		if (!nl)
			break;
		p = nl + 1;
	}
	return len;
}

/* headers_only - the header fields of the message at data, its body
 * never looked at (GMime parses the header block alone) */
static struct record *
headers_only(const char *data, gsize len)
{
	struct record *r = record_new();
	struct parse p = { r, NULL, TRUE };
	GMimeParserOptions *opts;
	GMimeStream *stream;
	GMimeMessage *msg;
	gsize skip, hlen;

	skip = skip_leading(data, len);
	data += skip;
	len -= skip;
	hlen = header_block(data, len);
	if (hlen > HEADERS_MAX) {
		record_warn(r, "header block over %d KB: the rest left out", HEADERS_MAX / 1024);
		hlen = HEADERS_MAX;
	}
	if (hlen == 0) {
		record_warn(r, "unable to parse the message: no header block");
		return r;
	}
	opts = options_new(&p);
	msg = construct(data, hlen, opts, &stream);
	if (!msg)
		record_warn(r, "unable to parse the message: no header block");
	else
		read_headers(r, msg, opts);
	release(msg, stream);
	g_mime_parser_options_free(opts);
	return r;
}

/* size_words - bytes in MB for a person: "73.4 MB", "50 MB" */
static char *
size_words(guint64 bytes)
{
	double mb = (double)bytes / (1024.0 * 1024.0);
	char *s = g_strdup_printf("%.1f", mb);

	if (g_str_has_suffix(s, ".0"))
		s[strlen(s) - 2] = '\0';
	return s;
}

/* mime_parse_headers - the record of a message parsed does not read
 * whole, being over limit bytes: its headers, a warning, and a notice
 * for the agent as its text body; never NULL */
struct record *
mime_parse_headers(GBytes *raw, guint64 limit)
{
	gsize len;
	const char *data = g_bytes_get_data(raw, &len);
	struct record *r;
	g_autofree char *size = size_words(len), *max = size_words(limit);

	if (!data || len == 0) {
		r = record_new();
		record_warn(r, "empty message");
		return r;
	}
	r = headers_only(data, len);
	record_warn(r, "message of %" G_GSIZE_FORMAT " bytes is over max_message_size (%"
	    G_GUINT64_FORMAT "): only its headers were read", len, limit);
	g_free(r->text_body);
	r->text_body = g_strdup_printf("[postroom: this message is %s MB, over this account's "
	    "max_message_size of %s MB; its raw bytes are kept]", size, max);
	r->text_body_len = strlen(r->text_body);
	return r;
}

/* parse_raw - GMime's reading of the message in raw (not empty, under
 * 2 GB), the way parsed reads it: past a leading "From " line, and once
 * more from a repaired copy when GMime and the sender disagree (repaired);
 * *src the bytes parsed (the parts' contents are windows on them), *stream
 * for release(); NULL when there is no message.  Warnings go to p->r. */
static GMimeMessage *
parse_raw(struct parse *p, GBytes *raw, GMimeParserOptions *opts, GMimeStream **stream,
    GBytes **src)
{
	struct record *r = p->r;
	GMimeMessage *msg;
	GByteArray *fixed;
	gsize len, skip;
	const char *data = g_bytes_get_data(raw, &len);
	const char *nl;
	gboolean crlf;

	skip = skip_leading(data, len);
	/* what GMime parses: the message's own bytes, no copy */
	*src = g_bytes_new_from_bytes(raw, skip, len - skip);
	*stream = NULL;
	data = g_bytes_get_data(*src, &len);
	if (len == 0)
		return NULL;
	nl = memchr(data, '\n', len);
	crlf = nl && nl > data && nl[-1] == '\r';

	p->fixes = g_array_new(FALSE, FALSE, sizeof(struct fix));
	msg = construct(data, len, opts, stream);
	if (msg && GMIME_IS_MULTIPART(g_mime_message_get_mime_part(msg)) && data[len - 1] != '\n') {
		struct fix f = { (gint64)len, FIX_EOL };

		g_array_append_val(p->fixes, f);
	}
	if (p->fixes->len > 0 && (fixed = repaired(data, len, p->fixes, crlf)) != NULL) {
		/* once more, read the way the sender meant it; the first
		 * reading's warnings told of what is now repaired */
		release(msg, *stream);
		g_ptr_array_set_size(r->warnings, 0);
		for (guint i = 0; i < p->fixes->len; i++) {
			enum fix_kind k = g_array_index(p->fixes, struct fix, i).kind;

			if (k == FIX_SEPARATOR)
				record_warn(r, "a header block does not end with an empty line");
			else if (k == FIX_RENAME)
				record_warn(r, "a Content-* header is repeated; the first one counts");
		}
		g_array_set_size(p->fixes, 0);
		g_bytes_unref(*src);
		*src = g_byte_array_free_to_bytes(fixed);
		data = g_bytes_get_data(*src, &len);
		msg = construct(data, len, opts, stream);
	}
	g_array_unref(p->fixes);
	p->fixes = NULL;
	return msg;
}

/* mime_parse - the record of one raw message; never NULL */
struct record *
mime_parse(GBytes *raw)
{
	struct record *r;
	struct parse p = { NULL, NULL, FALSE };
	GMimeParserOptions *opts;
	GMimeStream *stream = NULL;
	GMimeMessage *msg;
	g_autoptr(GBytes) src = NULL;
	gsize len;
	const char *data = g_bytes_get_data(raw, &len);

	if (len > G_MAXUINT / 2)	/* GMime's memory streams stop at 4 GB */
		return mime_parse_headers(raw, G_MAXUINT / 2);
	r = record_new();
	p.r = r;
	if (!data || len == 0) {
		record_warn(r, "empty message");
		return r;
	}
	opts = options_new(&p);
	msg = parse_raw(&p, raw, opts, &stream, &src);
	if (!msg) {
		record_warn(r, "unable to parse the message: no header block");
	} else {
		read_headers(r, msg, opts);
		read_body(r, msg, opts, src);
	}
	if (stream)
		release(msg, stream);
	g_mime_parser_options_free(opts);
	return r;
}

struct find {
	guint part;		/* the leaf wanted */
	guint leaf;		/* leaves seen so far */
	GMimeObject *found;
};

/* find_leaf - g_mime_message_foreach's callback: the part-th leaf */
static void
find_leaf(GMimeObject *parent, GMimeObject *o, gpointer data)
{
	struct find *f = data;

	(void)parent;
	if (GMIME_IS_MULTIPART(o))
		return;
	if (f->leaf++ == f->part && !f->found)
		f->found = o;
}

/* mime_part_content - the bytes of leaf number part (docs/wire.md: an
 * attachment's "part") of the raw message, after transfer decoding, as
 * mime_parse counted them in the record's size: read the same way
 * mime_parse reads the message, so that the numbers agree.  NULL when the
 * message has no such part. */
GBytes *
mime_part_content(GBytes *raw, guint part)
{
	g_autoptr(record) r = record_new();	/* its warnings go nowhere */
	struct parse p = { r, NULL, FALSE };
	struct find f = { part, 0, NULL };
	GMimeParserOptions *opts;
	GMimeStream *stream = NULL;
	GMimeMessage *msg;
	g_autoptr(GBytes) src = NULL;
	GBytes *content = NULL;
	gsize len;
	const char *data = g_bytes_get_data(raw, &len);

	if (!data || len == 0 || len > G_MAXUINT / 2)
		return NULL;
	opts = options_new(&p);
	msg = parse_raw(&p, raw, opts, &stream, &src);
	if (msg)
		g_mime_message_foreach(msg, find_leaf, &f);
	if (f.found) {
		struct walk w = { r, opts, NULL, src, 0 };

		if (GMIME_IS_MESSAGE_PART(f.found))
			content = message_content(GMIME_MESSAGE_PART(f.found));
		else if (GMIME_IS_PART(f.found))
			content = part_content(&w, GMIME_PART(f.found), 0, NULL);
		else
			content = g_bytes_new(NULL, 0);
	}
	if (stream)
		release(msg, stream);
	g_mime_parser_options_free(opts);
	return content;
}
