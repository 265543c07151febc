/*
 * imap - the IMAP response parser, and the few things fetchd writes.
 *
 * imap_parse() looks at the start of a buffer and says: need more, here is
 * one response, or the server broke the protocol.  It keeps no state between
 * calls: the caller appends what arrives and calls again once the buffer has
 * reached the length the parser asked for, so a literal of any size costs one
 * more parse after its last byte, not one per read.  Bodies are returned as a
 * range of the buffer, never copied.
 *
 * Only what fetchd needs is understood (tagged and untagged status lines,
 * "* N FETCH (...)" with UID, RFC822.SIZE and BODY[] in any order); anything
 * else is skipped by its syntax: atoms, numbers, quoted strings, literals and
 * parenthesized lists, nested at most IMAP_DEPTH_MAX deep.
 */
#include "fetchd.h"

#include <string.h>

G_DEFINE_QUARK(postroom-imap-error, imap_error)

/* a whole response may hold several literals; it stays within this */
#define RESPONSE_MAX	(IMAP_LITERAL_MAX + ((guint64)64 << 20))

enum { BAD = -1, MORE = 0, OK = 1 };

struct cur {
	const guint8 *b;
	gsize len;
	gsize pos;
	gsize seg;		/* start of the current line (after a literal) */
	gsize need;
	GError **err;
};

struct span {
	gsize off, len;
};

/* fail - the server broke the protocol: say how */
G_GNUC_PRINTF(2, 3)
static int
fail(struct cur *c, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(c->err, IMAP_ERROR_DOMAIN, 0, "%s", msg);
	return BAD;
}

/* more - the buffer ended inside a line */
static int
more(struct cur *c)
{
	if (c->len - c->seg > IMAP_LINE_MAX)
		return fail(c, "a line longer than %d bytes", IMAP_LINE_MAX);
	c->need = c->len + 1;
	return MORE;
}

/* peek - the next byte, without taking it */
static int
peek(struct cur *c, guint8 *ch)
{
	if (c->pos >= c->len)
		return more(c);
	if (c->pos - c->seg > IMAP_LINE_MAX)
		return fail(c, "a line longer than %d bytes", IMAP_LINE_MAX);
	*ch = c->b[c->pos];
	return OK;
}

/* expect - take the byte want, or fail naming what */
static int
expect(struct cur *c, guint8 want, const char *what)
{
	guint8 ch = 0;
	int rc = peek(c, &ch);

	if (rc != OK)
		return rc;
	if (ch != want)
		return fail(c, "expected %s at byte %" G_GSIZE_FORMAT " of a response, got 0x%02x",
		    what, c->pos, ch);
	c->pos++;
	return OK;
}

/* crlf - the end of a line: CRLF, or a bare LF from a lax server */
static int
crlf(struct cur *c)
{
	guint8 ch = 0;
	int rc = peek(c, &ch);

	if (rc != OK)
		return rc;
	if (ch == '\r') {
		c->pos++;
		rc = peek(c, &ch);
		if (rc != OK)
			return rc;
	}
	if (ch != '\n')
		return fail(c, "expected the end of the line at byte %" G_GSIZE_FORMAT ", got 0x%02x",
		    c->pos, ch);
	c->pos++;
	c->seg = c->pos;
	return OK;
}

/* is_delim - a byte that ends an atom */
static gboolean
is_delim(guint8 ch)
{
	return ch == ' ' || ch == '(' || ch == ')' || ch == '{' || ch == '"' || ch == '\r'
	    || ch == '\n' || ch < 0x20 || ch == 0x7f;
}

/* atom - a run of atom characters; "[...]" inside it may hold anything but a
 * line end (BODY[HEADER.FIELDS (SUBJECT)]), "<...>" after it an origin */
static int
atom(struct cur *c, struct span *s)
{
	guint8 ch = 0;
	int rc, depth = 0;

	s->off = c->pos;
	for (;;) {
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (ch == '\r' || ch == '\n')
			break;
		if (depth > 0) {
			if (ch == ']')
				depth--;
		} else if (ch == '[') {
			depth++;
		} else if (is_delim(ch)) {
			break;
		}
		c->pos++;
	}
	if (depth > 0)
		return fail(c, "an unclosed '[' in an atom");
	s->len = c->pos - s->off;
	if (s->len == 0)
		return fail(c, "expected an atom at byte %" G_GSIZE_FORMAT ", got 0x%02x", c->pos, ch);
	return OK;
}

/* number - a run of digits, 64 bits at most */
static int
number(struct cur *c, guint64 *v)
{
	guint8 ch = 0;
	int rc, digits = 0;

	*v = 0;
	for (;;) {
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (!g_ascii_isdigit(ch))
			break;
		if (++digits > 19)
			return fail(c, "a number too large");
		*v = *v * 10 + (ch - '0');
		c->pos++;
	}
	if (digits == 0)
		return fail(c, "expected a number at byte %" G_GSIZE_FORMAT ", got 0x%02x", c->pos, ch);
	return OK;
}

/* number32 - a number that fits 32 bits (nonzero: and is not 0) */
static int
number32(struct cur *c, guint32 *v, gboolean nonzero, const char *what)
{
	guint64 n;
	int rc = number(c, &n);

	if (rc != OK)
		return rc;
	if (n > G_MAXUINT32 || (nonzero && n == 0))
		return fail(c, "%s %" G_GUINT64_FORMAT " is out of range", what, n);
	*v = (guint32)n;
	return OK;
}

/* quoted - "...": s is what is between the quotes, escapes still in */
static int
quoted(struct cur *c, struct span *s)
{
	guint8 ch = 0;
	int rc;

	if ((rc = expect(c, '"', "'\"'")) != OK)
		return rc;
	s->off = c->pos;
	for (;;) {
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (ch == '"')
			break;
		if (ch == '\r' || ch == '\n' || ch == '\0')
			return fail(c, "a line end or NUL inside a quoted string");
		if (ch == '\\') {
			c->pos++;
			if ((rc = peek(c, &ch)) != OK)
				return rc;
			if (ch != '\\' && ch != '"')
				return fail(c, "a bad escape \\%c in a quoted string", g_ascii_isprint(ch) ? ch : '?');
		}
		c->pos++;
	}
	s->len = c->pos - s->off;
	c->pos++;
	return OK;
}

/* literal - {n}CRLF followed by n bytes (~{n} for literal8) */
static int
literal(struct cur *c, struct span *s)
{
	guint64 n;
	guint8 ch = 0;
	int rc;

	if ((rc = peek(c, &ch)) != OK)
		return rc;
	if (ch == '~')
		c->pos++;
	if ((rc = expect(c, '{', "'{'")) != OK || (rc = number(c, &n)) != OK)
		return rc;
	if ((rc = peek(c, &ch)) != OK)
		return rc;
	if (ch == '+')
		c->pos++;
	if ((rc = expect(c, '}', "'}'")) != OK || (rc = crlf(c)) != OK)
		return rc;
	if (n > IMAP_LITERAL_MAX)
		return fail(c, "a literal of %" G_GUINT64_FORMAT " bytes, over the limit of %"
		    G_GUINT64_FORMAT, n, IMAP_LITERAL_MAX);
	if (c->pos + n > RESPONSE_MAX)
		return fail(c, "a response larger than %" G_GUINT64_FORMAT " bytes", RESPONSE_MAX);
	if (c->len - c->pos < n) {
		c->need = c->pos + n;
		return MORE;
	}
	s->off = c->pos;
	s->len = n;
	c->pos += n;
	c->seg = c->pos;
	return OK;
}

/* value - skip one value of any kind */
static int
value(struct cur *c, int depth)
{
	struct span s;
	guint8 ch = 0;
	int rc;

	if (depth > IMAP_DEPTH_MAX)
		return fail(c, "lists nested deeper than %d", IMAP_DEPTH_MAX);
	if ((rc = peek(c, &ch)) != OK)
		return rc;
	switch (ch) {
	case '"':
		return quoted(c, &s);
	case '{':
	case '~':
		return literal(c, &s);
	case '(':
		c->pos++;
		for (;;) {
			if ((rc = peek(c, &ch)) != OK)
				return rc;
			if (ch == ')') {
				c->pos++;
				return OK;
			}
			if (ch == ' ') {
				c->pos++;
				continue;
			}
			if ((rc = value(c, depth + 1)) != OK)
				return rc;
		}
	default:
		return atom(c, &s);
	}
}

/* span_is - s is word, ignoring case */
static gboolean
span_is(const struct cur *c, const struct span *s, const char *word)
{
	return s->len == strlen(word) && g_ascii_strncasecmp((const char *)c->b + s->off, word,
	    s->len) == 0;
}

/* rest - the rest of a line, where a trailing {n} announces a literal and
 * the line goes on after it (LIST, STATUS, ...); t is its first segment */
static int
rest(struct cur *c, struct span *t, gboolean literals)
{
	guint8 ch = 0;
	int rc;

	t->off = c->pos;
	t->len = 0;
	for (gboolean first = TRUE;; first = FALSE) {
		gsize start = c->pos, end, p;

		for (;;) {
			if ((rc = peek(c, &ch)) != OK)
				return rc;
			if (ch == '\r' || ch == '\n')
				break;
			c->pos++;
		}
		end = c->pos;
		if (first)
			t->len = end - start;
		/* "{digits}" or "{digits+}" right before the line end? */
		p = end;
		if (literals && p > start && c->b[p - 1] == '}') {
			p--;
			if (p > start && c->b[p - 1] == '+')
				p--;
			while (p > start && g_ascii_isdigit(c->b[p - 1]))
				p--;
			if (p > start && c->b[p - 1] == '{' && p < end - 1 && g_ascii_isdigit(c->b[p])) {
				struct span s;

				c->pos = p - 1;
				if (p - 1 > start && c->b[p - 2] == '~')
					c->pos--;
				if ((rc = literal(c, &s)) != OK)
					return rc;
				continue;
			}
		}
		return crlf(c);
	}
}

/* nstring - a quoted string, a literal or NIL (an empty span) */
static int
nstring(struct cur *c, struct span *s, gboolean *is_quoted)
{
	guint8 ch = 0;
	int rc;

	if ((rc = peek(c, &ch)) != OK)
		return rc;
	*is_quoted = FALSE;
	if (ch == '"') {
		*is_quoted = TRUE;
		return quoted(c, s);
	}
	if (ch == '{' || ch == '~')
		return literal(c, s);
	{
		struct span nil;

		rc = atom(c, &nil);
		if (rc == OK && !span_is(c, &nil, "NIL"))
			return fail(c, "a FETCH item is neither a string nor NIL");
		s->off = s->len = 0;
	}
	return rc;
}

/* fetch - "(ITEM value ITEM value ...)" of "* N FETCH" */
static int
fetch(struct cur *c, struct imap_resp *r, struct span *body)
{
	struct span name;
	guint8 ch = 0;
	int rc;

	if ((rc = expect(c, '(', "'('")) != OK)
		return rc;
	for (;;) {
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (ch == ')') {
			c->pos++;
			return OK;
		}
		if (ch == ' ') {
			c->pos++;
			continue;
		}
		if ((rc = atom(c, &name)) != OK || (rc = expect(c, ' ', "a space")) != OK)
			return rc;
		if (span_is(c, &name, "UID")) {
			if ((rc = number32(c, &r->uid, TRUE, "UID")) != OK)
				return rc;
			r->has_uid = TRUE;
		} else if (span_is(c, &name, "RFC822.SIZE")) {
			if ((rc = number(c, &r->size)) != OK)
				return rc;
			r->has_size = TRUE;
		} else if (span_is(c, &name, "BODY[]")) {
			if ((rc = nstring(c, body, &r->body_quoted)) != OK)
				return rc;
			r->has_body = TRUE;
		} else if (name.len > 12 && g_ascii_strncasecmp((const char *)c->b + name.off,
		    "BODY[HEADER.", 12) == 0) {
			struct span h;

			/* BODY[HEADER.FIELDS (MESSAGE-ID)]: a few header lines */
			if ((rc = nstring(c, &h, &r->header_quoted)) != OK)
				return rc;
			r->has_header = TRUE;
			r->header_off = h.off;
			r->header_len = h.len;
		} else if ((rc = value(c, 1)) != OK) {
			return rc;
		}
	}
}

/* span_dup - s as a string */
static char *
span_dup(const struct cur *c, const struct span *s)
{
	return g_strndup((const char *)c->b + s->off, s->len);
}

/* is_status - OK NO BAD BYE PREAUTH: a status line */
static gboolean
is_status(const struct cur *c, const struct span *w)
{
	return span_is(c, w, "OK") || span_is(c, w, "NO") || span_is(c, w, "BAD")
	    || span_is(c, w, "BYE") || span_is(c, w, "PREAUTH");
}

/* status_text - after a status word: " text" to the end of the line, or nothing */
static int
status_text(struct cur *c, struct span *t)
{
	guint8 ch = 0;
	int rc;

	if ((rc = peek(c, &ch)) != OK)
		return rc;
	if (ch == ' ') {
		c->pos++;
		return rest(c, t, FALSE);
	}
	t->off = c->pos;
	t->len = 0;
	return crlf(c);
}

/* response - one response of any kind */
static int
response(struct cur *c, struct imap_resp *r, struct span *tag, struct span *word,
    struct span *text, struct span *body)
{
	guint8 ch = 0;
	int rc;

	if ((rc = peek(c, &ch)) != OK)
		return rc;
	if (ch == '+') {
		r->kind = IMAP_CONTINUE;
		c->pos++;
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (ch == ' ')
			c->pos++;
		return rest(c, text, FALSE);
	}
	if (ch == '*') {
		r->kind = IMAP_UNTAGGED;
		c->pos++;
		if ((rc = expect(c, ' ', "a space after '*'")) != OK || (rc = peek(c, &ch)) != OK)
			return rc;
		if (g_ascii_isdigit(ch)) {
			if ((rc = number32(c, &r->number, FALSE, "message number")) != OK
			    || (rc = expect(c, ' ', "a space")) != OK
			    || (rc = atom(c, word)) != OK)
				return rc;
			r->has_number = TRUE;
			if (span_is(c, word, "FETCH")) {
				if ((rc = expect(c, ' ', "a space")) != OK || (rc = fetch(c, r, body)) != OK)
					return rc;
				return crlf(c);
			}
			return status_text(c, text);
		}
		if ((rc = atom(c, word)) != OK)
			return rc;
		if (is_status(c, word))
			return status_text(c, text);
		if ((rc = peek(c, &ch)) != OK)
			return rc;
		if (ch == ' ')
			c->pos++;
		return rest(c, text, TRUE);
	}
	r->kind = IMAP_TAGGED;
	if ((rc = atom(c, tag)) != OK || (rc = expect(c, ' ', "a space after the tag")) != OK
	    || (rc = atom(c, word)) != OK)
		return rc;
	if (!span_is(c, word, "OK") && !span_is(c, word, "NO") && !span_is(c, word, "BAD"))
		return fail(c, "a tagged response that is not OK, NO or BAD");
	return status_text(c, text);
}

enum imap_status
imap_parse(const guint8 *buf, gsize len, struct imap_resp *r, gsize *need, GError **err)
{
	struct cur c = { buf, len, 0, 0, 0, err };
	struct span tag = { 0, 0 }, word = { 0, 0 }, text = { 0, 0 }, body = { 0, 0 };
	int rc;

	memset(r, 0, sizeof *r);
	rc = response(&c, r, &tag, &word, &text, &body);
	if (rc == BAD) {
		memset(r, 0, sizeof *r);
		return IMAP_ERROR;
	}
	if (rc == MORE) {
		memset(r, 0, sizeof *r);
		g_assert(c.need > len);
		*need = c.need;
		return IMAP_MORE;
	}
	if (r->kind == IMAP_TAGGED)
		r->tag = span_dup(&c, &tag);
	if (r->kind != IMAP_CONTINUE)
		r->word = g_ascii_strup((const char *)buf + word.off, word.len);
	r->text = span_dup(&c, &text);
	r->body_off = body.off;
	r->body_len = body.len;
	r->consumed = c.pos;
	return IMAP_DONE;
}

void
imap_resp_clear(struct imap_resp *r)
{
	g_free(r->tag);
	g_free(r->word);
	g_free(r->text);
	memset(r, 0, sizeof *r);
}

/* unquote - the bytes of a string item: a slice, or unescaped */
static GBytes *
unquote(GBytes *buf, gsize off, gsize n, gboolean is_quoted)
{
	GByteArray *out;
	const guint8 *p;
	gsize len;

	if (!is_quoted)
		return g_bytes_new_from_bytes(buf, off, n);
	p = g_bytes_get_data(buf, &len);
	g_assert(off + n <= len);
	p += off;
	out = g_byte_array_sized_new(n);
	for (gsize i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n)
			i++;
		g_byte_array_append(out, p + i, 1);
	}
	return g_byte_array_free_to_bytes(out);
}

GBytes *
imap_resp_header(const struct imap_resp *r, GBytes *buf)
{
	g_assert(r->has_header);
	return unquote(buf, r->header_off, r->header_len, r->header_quoted);
}

GBytes *
imap_resp_body(const struct imap_resp *r, GBytes *buf)
{
	g_assert(r->has_body);
	return unquote(buf, r->body_off, r->body_len, r->body_quoted);
}

gboolean
imap_resp_code(const struct imap_resp *r, const char *code, guint32 *value)
{
	const char *t = r->text;
	gsize n = strlen(code);
	guint64 v;
	char *end;

	if (!t || t[0] != '[' || g_ascii_strncasecmp(t + 1, code, n) != 0 || t[1 + n] != ' ')
		return FALSE;
	t += 2 + n;
	if (!g_ascii_isdigit(*t))
		return FALSE;
	v = g_ascii_strtoull(t, &end, 10);
	if (*end != ']' || v > G_MAXUINT32)
		return FALSE;
	*value = (guint32)v;
	return TRUE;
}

/* utf7_flush - the pending UTF-16 run as "&base64-" (',' for '/', no '=') */
static void
utf7_flush(GString *out, GByteArray *run)
{
	g_autofree char *b64 = NULL;

	if (run->len == 0)
		return;
	b64 = g_base64_encode(run->data, run->len);
	g_string_append_c(out, '&');
	for (char *p = b64; *p && *p != '='; p++)
		g_string_append_c(out, *p == '/' ? ',' : *p);
	g_string_append_c(out, '-');
	g_byte_array_set_size(run, 0);
}

char *
imap_utf7_encode(const char *utf8)
{
	g_autoptr(GByteArray) run = g_byte_array_new();
	g_autofree gunichar2 *u16 = NULL;
	GString *out;
	glong n;

	u16 = g_utf8_to_utf16(utf8, -1, NULL, &n, NULL);
	if (!u16)
		return NULL;
	out = g_string_new(NULL);
	for (glong i = 0; i < n; i++) {
		gunichar2 ch = u16[i];

		if (ch >= 0x20 && ch <= 0x7e) {
			utf7_flush(out, run);
			if (ch == '&')
				g_string_append(out, "&-");
			else
				g_string_append_c(out, (char)ch);
		} else {
			guint8 be[2] = { ch >> 8, ch & 0xff };

			g_byte_array_append(run, be, 2);
		}
	}
	utf7_flush(out, run);
	return g_string_free(out, FALSE);
}

/* quote_string - s between double quotes, its quotes and backslashes escaped */
static char *
quote_string(const char *s)
{
	GString *q = g_string_new("\"");

	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(q, '\\');
		g_string_append_c(q, *p);
	}
	g_string_append_c(q, '"');
	return g_string_free(q, FALSE);
}

char *
imap_quote(const char *s)
{
	g_autofree char *enc = NULL;

	if (!g_utf8_validate(s, -1, NULL))
		return NULL;
	for (const char *p = s; *p; p++)
		if (*p == '\r' || *p == '\n')
			return NULL;
	enc = imap_utf7_encode(s);
	return enc ? quote_string(enc) : NULL;
}

char *
imap_uid_set(const guint32 *uids, guint n, gsize max, guint *used)
{
	GString *s = g_string_new(NULL);
	guint i = 0;

	while (i < n) {
		guint j = i;
		gsize before = s->len;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (s->len)
			g_string_append_c(s, ',');
		if (j > i)
			g_string_append_printf(s, "%" G_GUINT32_FORMAT ":%" G_GUINT32_FORMAT, uids[i], uids[j]);
		else
			g_string_append_printf(s, "%" G_GUINT32_FORMAT, uids[i]);
		if (s->len > max && before > 0) {
			g_string_truncate(s, before);
			break;
		}
		i = j + 1;
	}
	*used = i;
	return g_string_free(s, FALSE);
}

char *
imap_astring(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((guchar)*p >= 0x80 || *p == '\r' || *p == '\n')
			return NULL;
	return quote_string(s);
}

char *
imap_search_date(GDateTime *when)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };

	/* RFC 3501 date: 1-Feb-2024, English month names whatever the locale */
	return g_strdup_printf("%d-%s-%d", g_date_time_get_day_of_month(when),
	    months[g_date_time_get_month(when) - 1], g_date_time_get_year(when));
}

char *
imap_message_id(const guint8 *text, gsize len)
{
	g_autoptr(GString) v = NULL;
	gboolean in = FALSE;
	gsize i = 0;
	const char *lt, *gt;

	/* the header block is a few lines: "Message-ID: <a@b>", maybe folded */
	while (i < len) {
		gsize end = i;

		while (end < len && text[end] != '\n')
			end++;
		if (in && (text[i] == ' ' || text[i] == '\t')) {
			g_string_append_len(v, (const char *)text + i, end - i);
		} else if (in) {
			break;
		} else if (end - i > 11 && g_ascii_strncasecmp((const char *)text + i, "Message-ID:",
		    11) == 0) {
			in = TRUE;
			v = g_string_new_len((const char *)text + i + 11, end - i - 11);
		}
		i = end + 1;
	}
	if (!v)
		return NULL;
	g_strdelimit(v->str, "\r\t", ' ');
	lt = strchr(v->str, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt) {
		char *id = g_strstrip(g_strndup(lt + 1, gt - lt - 1));

		if (*id)
			return id;
		g_free(id);
		return NULL;
	}
	g_strstrip(v->str);
	return *v->str ? g_strdup(v->str) : NULL;
}

GPtrArray *
imap_after_fetch_commands(enum after_fetch how, const char *folder, gboolean has_move,
    gboolean has_uidplus, const char *set)
{
	GPtrArray *cmds = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *q = NULL;

	switch (how) {
	case AFTER_FETCH_KEEP:
		break;
	case AFTER_FETCH_SEEN:
		g_ptr_array_add(cmds, g_strdup_printf("UID STORE %s +FLAGS.SILENT (\\Seen)", set));
		break;
	case AFTER_FETCH_MOVE:
		q = imap_quote(folder);
		if (!q)
			break;
		if (has_move) {
			g_ptr_array_add(cmds, g_strdup_printf("UID MOVE %s %s", set, q));
			break;
		}
		g_ptr_array_add(cmds, g_strdup_printf("UID COPY %s %s", set, q));
		/* FALLTHROUGH */
	case AFTER_FETCH_DELETE:
		g_ptr_array_add(cmds, g_strdup_printf("UID STORE %s +FLAGS.SILENT (\\Deleted)", set));
		/* without UIDPLUS only a plain EXPUNGE exists: it also removes what
		 * others marked \Deleted, as any client without UIDPLUS does */
		g_ptr_array_add(cmds, has_uidplus ? g_strdup_printf("UID EXPUNGE %s", set) :
		    g_strdup("EXPUNGE"));
		break;
	}
	return cmds;
}
