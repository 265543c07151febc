/*
 * header - header values made ready for GMime's decoders.
 *
 * GMime decodes RFC 2047 encoded words, addresses, dates and ids; a few
 * things are settled here first, where GMime reads real mail differently
 * from what the sender meant:
 *
 *  - a run of adjacent encoded words becomes one UTF-8 word: GMime joins
 *    the bytes of same-charset words before decoding (so a character split
 *    over two words survives) but stops at the first word's base64 padding,
 *    losing the rest; and the words' charset goes through charset.c's
 *    rules (iso-8859-1 as windows-1252, gb2312 as gb18030, guesses for
 *    unknown labels) like the body's;
 *  - a time glued to its zone ("00:01+0000") gets its blank back, a zone
 *    of three digits a fourth, a time no fraction of a second;
 *  - message ids are what stands between < and >, as the corpus and every
 *    threading MUA take them, even when it holds two @;
 *  - raw 8-bit text is read as UTF-8 if it mostly is, else windows-1252
 *    (GMime would pick whichever of its fallbacks errs least);
 *  - (comments) go from address headers: GMime would take the comment of
 *    "addr (Name)" for a display name, which it is not (RFC 5322 3.4);
 *  - a Content-Type that is no type/subtype is told apart, to be read as
 *    text/plain (RFC 2045 5.2) rather than GMime's octet-stream.
 */
#include <string.h>

#include <gmime/gmime.h>

#include "parsed.h"

static GRegex *word_re;		/* one RFC 2047 encoded word */
static GRegex *zone_re;		/* a time glued to a numeric zone */
static GRegex *id_re;		/* <id> */
static GRegex *type_re;		/* a Content-Type's type/subtype */

/* header_init - compile the patterns (mime_init calls it) */
void
header_init(void)
{
	if (word_re)
		return;
	word_re = g_regex_new("=\\?([^?\\s*]+)(\\*[^?\\s]*)?\\?([bBqQ])\\?([^?\\s]*)\\?=",
	    G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, NULL);
	zone_re = g_regex_new("(\\d{1,2}:\\d{2}(?::\\d{2})?)(?:\\.\\d+)?(?:\\s*([+-])(\\d{3,4})\\b)?",
	    G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, NULL);
	id_re = g_regex_new("<([^<>]*)>", G_REGEX_RAW | G_REGEX_OPTIMIZE, 0, NULL);
	type_re = g_regex_new("^\\s*\"?[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\"?\\s*$",
	    G_REGEX_RAW | G_REGEX_OPTIMIZE | G_REGEX_CASELESS, 0, NULL);
	g_assert(word_re && zone_re && id_re && type_re);
}

/* header_unfold - a raw header value without its line breaks, trimmed */
char *
header_unfold(const char *raw)
{
	GString *s = g_string_sized_new(raw ? strlen(raw) : 0);

	for (const char *p = raw ? raw : ""; *p; p++)
		if (*p != '\r' && *p != '\n')
			g_string_append_c(s, *p);
	return g_strstrip(g_string_free(s, FALSE));
}

/* header_utf8 - value (taken) as UTF-8: raw 8-bit text is read as UTF-8
 * if it mostly is, else as windows-1252, raw ISO-2022-JP as such
 * (charset.c); what was guessed goes to r's warnings (r may be NULL) */
char *
header_utf8(struct record *r, const char *name, char *value)
{
	const char *how;
	gsize len;
	char *u;

	if (g_utf8_validate(value, -1, NULL) && !strchr(value, '\x1b'))
		return value;
	u = charset_guess(value, strlen(value), &len, &how);
	g_free(value);
	if (how && r)
		record_warn(r, "%s header: 8-bit text without a charset, read as %s", name, how);
	return u;
}

/* word_bytes - the decoded payload of one encoded word (B or Q) */
static GByteArray *
word_bytes(const char *enc, const char *text, gsize len)
{
	GByteArray *out = g_byte_array_sized_new((guint)len + 4);
	int state = 0;
	guint32 save = 0;
	gsize n;

	g_byte_array_set_size(out, (guint)len + 4);
	if (*enc == 'b' || *enc == 'B') {
		n = g_mime_encoding_base64_decode_step((const guchar *)text, len, out->data,
		    &state, &save);
	} else {
		/* Q is quoted-printable with "_" for a blank */
		g_autofree char *q = g_strndup(text, len);

		g_strdelimit(q, "_", ' ');
		n = g_mime_encoding_quoted_decode_step((const guchar *)q, len, out->data,
		    &state, &save);
	}
	g_byte_array_set_size(out, (guint)n);
	return out;
}

/* A run of adjacent encoded words: the text so far, and the bytes of the
 * last words that share a charset, not yet converted. */
struct run {
	struct record *rec;	/* for warnings, or NULL */
	GString *text;
	GByteArray *bytes;
	char *charset;		/* the label of the first of them */
	char *iconv;		/* what it names (charset_iconv_name), or NULL */
};

static void
run_convert(struct run *r)
{
	g_autofree char *guess = NULL, *t = NULL;
	gsize tl;

	if (!r->bytes)
		return;
	t = charset_to_utf8((const char *)r->bytes->data, r->bytes->len, r->charset, &tl, &guess);
	if (guess && r->rec)
		record_warn(r->rec, "encoded word: %s", guess);
	/* what a header cannot hold: NUL, and the byte order marks UTF-16
	 * words each start with */
	for (gsize i = 0; i < tl; i++) {
		if (t[i] == '\0')
			continue;
		if (i + 3 <= tl && memcmp(t + i, "\xEF\xBB\xBF", 3) == 0) {
			i += 2;
			continue;
		}
		g_string_append_c(r->text, t[i]);
	}
	g_clear_pointer(&r->bytes, g_byte_array_unref);
	g_clear_pointer(&r->charset, g_free);
	g_clear_pointer(&r->iconv, g_free);
}

/* same_charset - two labels that name the same charset ("UTF-8", "utf8") */
static gboolean
same_charset(struct run *r, const char *charset, const char *iconv)
{
	if (g_ascii_strcasecmp(charset, r->charset) == 0)
		return TRUE;
	return iconv && r->iconv && strcmp(iconv, r->iconv) == 0;
}

/* run_add - one more word's bytes */
static void
run_add(struct run *r, const char *charset, GByteArray *bytes)
{
	g_autofree char *iconv = charset_iconv_name(charset);

	if (r->bytes && !same_charset(r, charset, iconv))
		run_convert(r);
	if (r->bytes) {
		g_byte_array_append(r->bytes, bytes->data, bytes->len);
		g_byte_array_unref(bytes);
		return;
	}
	r->bytes = bytes;
	r->charset = g_strdup(charset);
	r->iconv = g_steal_pointer(&iconv);
}

/* run_close - the run as one UTF-8 encoded word */
static void
run_close(struct run *r, GString *out)
{
	g_autofree char *b64 = NULL;

	run_convert(r);
	b64 = g_base64_encode((const guchar *)r->text->str, r->text->len);
	g_string_append_printf(out, "=?utf-8?b?%s?=", b64);
	g_string_free(r->text, TRUE);
	r->text = NULL;
}

/* header_words - value with every run of adjacent encoded words (only
 * blanks between them) replaced by one =?utf-8?b?...?= word; NULL when the
 * value has none.  Guesses go to rec's warnings (rec may be NULL). */
char *
header_words(struct record *rec, const char *value)
{
	g_autoptr(GMatchInfo) mi = NULL;
	struct run r = { rec, NULL, NULL, NULL, NULL };
	const char *pos = value;
	GString *out;

	if (!strstr(value, "=?") || !g_regex_match(word_re, value, 0, &mi))
		return NULL;
	out = g_string_sized_new(strlen(value) + 16);
	for (; g_match_info_matches(mi); g_match_info_next(mi, NULL)) {
		int s, e, cs_s, cs_e, enc_s, enc_e, t_s, t_e;
		g_autofree char *charset = NULL;
		gboolean adjacent = r.text != NULL;

		g_match_info_fetch_pos(mi, 0, &s, &e);
		g_match_info_fetch_pos(mi, 1, &cs_s, &cs_e);
		g_match_info_fetch_pos(mi, 3, &enc_s, &enc_e);
		g_match_info_fetch_pos(mi, 4, &t_s, &t_e);
		for (const char *p = pos; adjacent && p < value + s; p++)
			if (*p != ' ' && *p != '\t')
				adjacent = FALSE;
		if (!adjacent) {
			if (r.text)
				run_close(&r, out);
			g_string_append_len(out, pos, (gssize)(value + s - pos));
			r.text = g_string_new(NULL);
		}
		charset = g_strndup(value + cs_s, (gsize)(cs_e - cs_s));
		run_add(&r, charset, word_bytes(value + enc_s, value + t_s, (gsize)(t_e - t_s)));
		pos = value + e;
	}
	if (r.text)
		run_close(&r, out);
	g_string_append(out, pos);
	return g_string_free(out, FALSE);
}

/* header_strip_comments - an address header without its (comments):
 * GMime would take the comment of "addr (Name)" for a display name, which
 * it is not (RFC 5322 3.4); quoted strings keep their parentheses, and an
 * unclosed "(" is taken for a plain character */
char *
header_strip_comments(const char *value)
{
	GString *out = g_string_sized_new(strlen(value));
	gboolean quoted = FALSE;
	int depth = 0;

	for (const char *p = value; *p; p++) {
		if (*p == '\\' && p[1] && (quoted || depth > 0)) {
			if (depth == 0)
				g_string_append_len(out, p, 2);
			p++;
			continue;
		}
		if (depth == 0 && *p == '"')
			quoted = !quoted;
		if (!quoted && *p == '(') {
			if (depth++ == 0)
				g_string_append_c(out, ' ');
			continue;
		}
		if (!quoted && depth > 0 && *p == ')') {
			depth--;
			continue;
		}
		if (depth == 0)
			g_string_append_c(out, *p);
	}
	if (depth > 0) {
		/* unbalanced: every parenthesis outside quotes becomes a blank */
		g_string_truncate(out, 0);
		quoted = FALSE;
		for (const char *p = value; *p; p++) {
			if (*p == '\\' && p[1] && quoted) {
				g_string_append_len(out, p++, 2);
				continue;
			}
			if (*p == '"')
				quoted = !quoted;
			g_string_append_c(out, !quoted && (*p == '(' || *p == ')') ? ' ' : *p);
		}
	}
	return g_string_free(out, FALSE);
}

/* header_type_valid - a Content-Type value starts with type/subtype */
gboolean
header_type_valid(const char *value)
{
	g_autofree char *bare = header_strip_comments(value);
	char *semi = strchr(bare, ';');

	if (semi)
		*semi = '\0';
	return g_regex_match(type_re, bare, 0, NULL);
}

static gboolean
zone_eval(const GMatchInfo *mi, GString *out, gpointer data)
{
	g_autofree char *time = g_match_info_fetch(mi, 1);
	g_autofree char *sign = g_match_info_fetch(mi, 2);
	g_autofree char *zone = g_match_info_fetch(mi, 3);

	if (!zone || !*zone)
		g_string_append(out, time);
	else
		g_string_append_printf(out, "%s %s%s%s", time, sign, strlen(zone) == 3 ? "0" : "", zone);
	return FALSE;
}

/* header_date - value with a blank between a time and a glued zone, a
 * three-digit zone ("-600") made four, fractions of seconds dropped */
char *
header_date(const char *value)
{
	return g_regex_replace_eval(zone_re, value, -1, 0, 0, zone_eval, NULL, NULL);
}

/* header_ids - the ids of a Message-ID, In-Reply-To or References value,
 * without <> and blanks; GMime's reading when there is no <> at all */
GPtrArray *
header_ids(GMimeParserOptions *opts, const char *value)
{
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GMatchInfo) mi = NULL;

	g_regex_match(id_re, value, 0, &mi);
	while (g_match_info_matches(mi)) {
		g_autofree char *id = g_match_info_fetch(mi, 1);
		GString *s = g_string_sized_new(strlen(id));

		for (const char *p = id; *p; p++)
			if (!g_ascii_isspace(*p))
				g_string_append_c(s, *p);
		if (s->len > 0)
			g_ptr_array_add(ids, g_string_free(s, FALSE));
		else
			g_string_free(s, TRUE);
		g_match_info_next(mi, NULL);
	}
	if (ids->len == 0) {
		GMimeReferences *refs = g_mime_references_parse(opts, value);

		for (int i = 0; refs && i < g_mime_references_length(refs); i++)
			g_ptr_array_add(ids, g_strdup(g_mime_references_get_message_id(refs, i)));
		if (refs)
			g_mime_references_free(refs);
	}
	if (ids->len == 0 && strchr(value, '@')) {
		/* a bare addr-spec, as some mailers write it */
		char *id = g_mime_utils_decode_message_id(value);

		if (id && *id)
			g_ptr_array_add(ids, id);
		else
			g_free(id);
	}
	return ids;
}

/* header_rfc2231 - value with the charset of its RFC 2231 parameter pname
 * (pname*=CHARSET'lang'... or pname*0*=CHARSET'lang'...) replaced by
 * iso-8859-1, so that GMime hands back the value's bytes one character
 * each, for charset.c to read by its own rules; *label is set to the
 * charset the value gave ("" for none).  NULL when pname has no such
 * charset. */
char *
header_rfc2231(const char *value, const char *pname, char **label)
{
	g_autofree char *quoted = NULL, *pattern = NULL;
	g_autoptr(GRegex) re = NULL;
	g_autoptr(GMatchInfo) mi = NULL;
	int s, e;
	GString *out;

	*label = NULL;
	if (!value || !strchr(value, '*') || !strchr(value, '\''))
		return NULL;
	quoted = g_regex_escape_string(pname, -1);
	pattern = g_strdup_printf("(?:^|;)\\s*%s\\s*\\*\\s*(?:0\\s*\\*\\s*)?=\\s*\"?([^'\";]*)'",
	    quoted);
	re = g_regex_new(pattern, G_REGEX_RAW | G_REGEX_CASELESS, 0, NULL);
	if (!re || !g_regex_match(re, value, 0, &mi))
		return NULL;
	g_match_info_fetch_pos(mi, 1, &s, &e);
	*label = g_strstrip(g_strndup(value + s, (gsize)(e - s)));
	out = g_string_new_len(value, s);
	g_string_append(out, "iso-8859-1");
	g_string_append(out, value + e);
	return g_string_free(out, FALSE);
}
