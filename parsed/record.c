/*
 * record - the record itself, as JSON, and the one step parsed exists
 * for: raw.1 in, parsed.1 out (docs/wire.md).
 */
#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "parsed.h"

#define WARNINGS_MAX	20

G_DEFINE_QUARK(postroom-parsed-error, parsed_error)

/* address_free - for GPtrArrays of struct address */
void
address_free(gpointer p)
{
	struct address *a = p;

	g_free(a->name);
	g_free(a->addr);
	g_free(a);
}

/* attachment_free - for GPtrArrays of struct attachment */
static void
attachment_free(gpointer p)
{
	struct attachment *a = p;

	g_free(a->filename);
	g_free(a->name);
	g_free(a->content_type);
	g_free(a->content_id);
	g_free(a);
}

/* bounce_recipient_free - for GPtrArrays of struct bounce_recipient */
static void
bounce_recipient_free(gpointer p)
{
	struct bounce_recipient *b = p;

	g_free(b->addr);
	g_free(b->action);
	g_free(b->status);
	g_free(b->diagnostic);
	g_free(b);
}

/* record_new - an empty record: no fields, text_body "" */
struct record *
record_new(void)
{
	struct record *r = g_new0(struct record, 1);

	r->to = g_ptr_array_new_with_free_func(address_free);
	r->cc = g_ptr_array_new_with_free_func(address_free);
	r->reply_to = g_ptr_array_new_with_free_func(address_free);
	r->references = g_ptr_array_new_with_free_func(g_free);
	r->attachments = g_ptr_array_new_with_free_func(attachment_free);
	r->bounce_recipients = g_ptr_array_new_with_free_func(bounce_recipient_free);
	r->warnings = g_ptr_array_new_with_free_func(g_free);
	r->text_body = g_strdup("");
	return r;
}

/* record_free - NULL-safe */
void
record_free(struct record *r)
{
	if (!r)
		return;
	g_free(r->subject);
	g_free(r->from_name);
	g_free(r->from_addr);
	g_ptr_array_unref(r->to);
	g_ptr_array_unref(r->cc);
	g_ptr_array_unref(r->reply_to);
	g_free(r->date);
	g_free(r->date_iso_utc);
	g_free(r->message_id);
	g_free(r->in_reply_to);
	g_ptr_array_unref(r->references);
	g_free(r->text_body);
	g_ptr_array_unref(r->attachments);
	g_ptr_array_unref(r->bounce_recipients);
	g_ptr_array_unref(r->warnings);
	g_free(r);
}

/* record_warn - add a line to the record's warnings (once; at most
 * WARNINGS_MAX of them) */
void
record_warn(struct record *r, const char *fmt, ...)
{
	g_autofree char *w = NULL;
	va_list ap;

	va_start(ap, fmt);
	w = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (!g_utf8_validate(w, -1, NULL)) {
		char *valid = g_utf8_make_valid(w, -1);

		g_free(w);
		w = valid;
	}
	for (guint i = 0; i < r->warnings->len; i++)
		if (strcmp(r->warnings->pdata[i], w) == 0)
			return;
	if (r->warnings->len == WARNINGS_MAX)
		g_ptr_array_add(r->warnings, g_strdup("more warnings left out"));
	if (r->warnings->len >= WARNINGS_MAX)
		return;
	g_ptr_array_add(r->warnings, g_steal_pointer(&w));
}

/* body_normalize_in_place - text (len bytes, taken) as the agent sees it
 * and the corpus compares it: no leading U+FEFF, LF line ends, no blanks
 * at line ends, no empty lines at the end.  The text only shrinks, so it
 * is rewritten where it is; NUL-terminated, *out_len its length.  Line
 * ends are found with memchr (a line end is LF, CR or CRLF): the next LF
 * is looked for once and kept, so that a text of lone CRs stays linear. */
char *
body_normalize_in_place(char *text, gsize len, gsize *out_len)
{
	const char *p = text, *end = text + len;
	const char *nl;		/* the next LF at or after p, or end: none */
	char *o = text;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	if ((nl = memchr(p, '\n', (gsize)(end - p))) == NULL)
		nl = end;
	while (p < end) {
		const char *eol, *cr;
		gsize keep;

		if (nl < p && (nl = memchr(p, '\n', (gsize)(end - p))) == NULL)
			nl = end;
		cr = memchr(p, '\r', (gsize)(nl - p));
		eol = cr ? cr : nl;
		keep = (gsize)(eol - p);
		while (keep > 0 && (p[keep - 1] == ' ' || p[keep - 1] == '\t' || p[keep - 1] == '\f' ||
		    p[keep - 1] == '\v'))
			keep--;
		if (o != p)
			memmove(o, p, keep);
		o += keep;
		if (eol == end)
			break;
		/* the next line's start, before the line end is written over */
		p = eol + (eol[0] == '\r' && eol + 1 < end && eol[1] == '\n' ? 2 : 1);
		*o++ = '\n';
	}
	while (o > text && o[-1] == '\n')
		o--;
	*o = '\0';
	*out_len = (gsize)(o - text);
	return text;
}

/* body_normalize - body_normalize_in_place on a copy of text */
char *
body_normalize(const char *text, gsize len, gsize *out_len)
{
	char *copy = g_malloc(len + 1);

	memcpy(copy, text, len);
	return body_normalize_in_place(copy, len, out_len);
}

/* str_or_null - a JSON string (made valid UTF-8 if it is not), or null */
static json_t *
str_or_null(const char *s)
{
	json_t *j;

	if (!s)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	{
		g_autofree char *v = g_utf8_make_valid(s, -1);

		return json_string(v);
	}
}

static json_t *
addresses_json(const GPtrArray *list)
{
	json_t *a = json_array();

	for (guint i = 0; i < list->len; i++) {
		const struct address *ad = list->pdata[i];

		json_array_append_new(a, json_pack("{s:o, s:o}", "name", str_or_null(ad->name),
		    "addr", str_or_null(ad->addr)));
	}
	return a;
}

/* fields - the record in the corpus schema's field order, with reply_to,
 * attachments' name, content_id, inline and part, bounce, bounce_recipients and
 * warnings added; text_body only when with_body */
static json_t *
fields(const struct record *r, gboolean with_body)
{
	json_t *o = json_object();
	json_t *refs = json_array(), *atts = json_array(), *warns = json_array();
	json_t *bounced = json_array();
	static const char *const sources[] = { NULL, "plain", "html" };

	for (guint i = 0; i < r->references->len; i++)
		json_array_append_new(refs, str_or_null(r->references->pdata[i]));
	for (guint i = 0; i < r->attachments->len; i++) {
		const struct attachment *a = r->attachments->pdata[i];

		json_array_append_new(atts, json_pack("{s:o, s:o, s:o, s:I, s:o, s:b, s:I}",
		    "filename", str_or_null(a->filename),
		    "name", str_or_null(a->name),
		    "content_type", str_or_null(a->content_type),
		    "size", (json_int_t)a->size,
		    "content_id", str_or_null(a->content_id),
		    "inline", a->inline_,
		    "part", (json_int_t)a->part));
	}
	for (guint i = 0; i < r->bounce_recipients->len; i++) {
		const struct bounce_recipient *b = r->bounce_recipients->pdata[i];

		json_array_append_new(bounced, json_pack("{s:o, s:o, s:o, s:o}",
		    "addr", str_or_null(b->addr), "action", str_or_null(b->action),
		    "status", str_or_null(b->status), "diagnostic", str_or_null(b->diagnostic)));
	}
	for (guint i = 0; i < r->warnings->len; i++)
		json_array_append_new(warns, str_or_null(r->warnings->pdata[i]));

	json_object_set_new(o, "subject", str_or_null(r->subject));
	json_object_set_new(o, "from_name", str_or_null(r->from_name));
	json_object_set_new(o, "from_addr", str_or_null(r->from_addr));
	json_object_set_new(o, "to", addresses_json(r->to));
	json_object_set_new(o, "cc", addresses_json(r->cc));
	json_object_set_new(o, "reply_to", addresses_json(r->reply_to));
	json_object_set_new(o, "date", str_or_null(r->date));
	json_object_set_new(o, "date_iso_utc", str_or_null(r->date_iso_utc));
	json_object_set_new(o, "message_id", str_or_null(r->message_id));
	json_object_set_new(o, "in_reply_to", str_or_null(r->in_reply_to));
	json_object_set_new(o, "references", refs);
	/* valid UTF-8 without NUL (parsed.h): jansson need not check it */
	if (with_body)
		json_object_set_new(o, "text_body", json_stringn_nocheck(r->text_body,
		    r->text_body_len));
	json_object_set_new(o, "text_body_source", str_or_null(sources[r->text_body_source]));
	json_object_set_new(o, "has_html", json_boolean(r->has_html));
	json_object_set_new(o, "attachments", atts);
	json_object_set_new(o, "bounce", json_boolean(r->bounce));
	json_object_set_new(o, "bounce_recipients", bounced);
	json_object_set_new(o, "warnings", warns);
	return o;
}

/* record_to_json - the whole record as JSON (parsed --dump, the corpus) */
json_t *
record_to_json(const struct record *r)
{
	return fields(r, TRUE);
}

/* record_body - r's text body as parsed.1's frame 1 (valid UTF-8 without
 * NUL, parsed.h): the record's bytes are taken, not copied, which leaves
 * r->text_body empty */
GBytes *
record_body(struct record *r)
{
	gsize len = r->text_body_len;
	char *body = g_steal_pointer(&r->text_body);

	r->text_body = g_strdup("");
	r->text_body_len = 0;
	return g_bytes_new_take(body, len);
}

/* parsed_limit - the max_message_size of account (the default one when
 * cfg is NULL or does not know the account) */
guint64
parsed_limit(const struct config *cfg, const char *account)
{
	const struct config_account *a = cfg && account ? config_account(cfg, account) : NULL;

	return a ? (guint64)a->max_message_size : PARSED_MAX_MESSAGE_SIZE;
}

/* parsed_process - raw.1 to parsed.1: the raw key fields and the record,
 * but for its text body, as meta; frame 0 the raw bytes (the same
 * GBytes), frame 1 the text body (UTF-8, never JSON-escaped), and no
 * more: attachments travel as metadata, their bytes stay in the raw
 * message (their "part").  A message over limit bytes is read for its
 * headers only. */
gboolean
parsed_process(const struct wire_msg *in, guint64 limit, json_t **meta, GPtrArray **parts,
    GError **err)
{
	static const char *const ints[] = { "uidvalidity", "uid", NULL };
	g_autoptr(record) r = NULL;
	const char *key = wire_meta_str(in, "key");
	const char *account = wire_meta_str(in, "account");
	json_t *size = json_object_get(in->meta, "size");
	GBytes *raw;
	json_t *m;
	GPtrArray *p;

	if (!key || !*key) {
		g_set_error(err, PARSED_ERROR, 0, "%s without a key", in->type);
		return FALSE;
	}
	if (!in->parts || in->parts->len != 1) {
		g_set_error(err, PARSED_ERROR, 0, "%s with %u payload frames, not 1: key=%s", in->type,
		    in->parts ? in->parts->len : 0, key);
		return FALSE;
	}
	raw = in->parts->pdata[0];
	if (g_bytes_get_size(raw) > limit)
		r = mime_parse_headers(raw, limit);
	else
		r = mime_parse(raw);

	m = json_object();
	json_object_set_new(m, "key", json_string(key));
	if (account)
		json_object_set_new(m, "account", json_string(account));
	for (int i = 0; ints[i]; i++) {
		json_t *v = json_object_get(in->meta, ints[i]);

		if (json_is_integer(v))
			json_object_set(m, ints[i], v);
	}
	json_object_set_new(m, "size", json_is_integer(size) ? json_incref(size) :
	    json_integer((json_int_t)g_bytes_get_size(raw)));
	json_object_update_new(m, fields(r, FALSE));

	p = g_ptr_array_new_full(2, (GDestroyNotify)g_bytes_unref);
	g_ptr_array_add(p, g_bytes_ref(raw));
	g_ptr_array_add(p, record_body(r));
	*meta = m;
	*parts = p;
	return TRUE;
}
