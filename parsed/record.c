/*
 * record - the record itself, as JSON, and the one step parsed exists
 * for: raw.1 in, parsed.1 out (docs/wire.md).
 */
#include <stdarg.h>
#include <string.h>

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
	g_free(a->content_type);
	g_free(a->content_id);
	if (a->data)
		g_bytes_unref(a->data);
	g_free(a);
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

/* body_normalize - the body as the agent sees it and the corpus compares
 * it: no leading U+FEFF, LF line ends, no blanks at line ends, no empty
 * lines at the end */
char *
body_normalize(const char *text, gsize len, gsize *out_len)
{
	GString *out = g_string_sized_new(len);
	const char *p = text, *end = text + len;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end) {
		const char *eol = p;
		gsize keep;

		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		keep = (gsize)(eol - p);
		while (keep > 0 && strchr(" \t\f\v\r", p[keep - 1]) && p[keep - 1] != '\0')
			keep--;
		g_string_append_len(out, p, (gssize)keep);
		if (eol == end)
			break;
		g_string_append_c(out, '\n');
		p = eol + (eol[0] == '\r' && eol + 1 < end && eol[1] == '\n' ? 2 : 1);
	}
	while (out->len > 0 && out->str[out->len - 1] == '\n')
		g_string_truncate(out, out->len - 1);
	*out_len = out->len;
	return g_string_free(out, FALSE);
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

/* record_to_json - the record in the corpus schema's field order, with
 * reply_to, content_id, inline and warnings added */
json_t *
record_to_json(const struct record *r)
{
	json_t *o = json_object();
	json_t *refs = json_array(), *atts = json_array(), *warns = json_array();
	json_t *body;
	static const char *const sources[] = { NULL, "plain", "html" };

	for (guint i = 0; i < r->references->len; i++)
		json_array_append_new(refs, str_or_null(r->references->pdata[i]));
	for (guint i = 0; i < r->attachments->len; i++) {
		const struct attachment *a = r->attachments->pdata[i];

		json_array_append_new(atts, json_pack("{s:o, s:o, s:I, s:o, s:b}",
		    "filename", str_or_null(a->filename),
		    "content_type", str_or_null(a->content_type),
		    "size", (json_int_t)g_bytes_get_size(a->data),
		    "content_id", str_or_null(a->content_id),
		    "inline", a->inline_));
	}
	for (guint i = 0; i < r->warnings->len; i++)
		json_array_append_new(warns, str_or_null(r->warnings->pdata[i]));
	body = json_stringn(r->text_body, r->text_body_len);
	if (!body) {
		g_autofree char *v = g_utf8_make_valid(r->text_body, (gssize)r->text_body_len);

		body = json_string(v);
	}

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
	json_object_set_new(o, "text_body", body);
	json_object_set_new(o, "text_body_source", str_or_null(sources[r->text_body_source]));
	json_object_set_new(o, "has_html", json_boolean(r->has_html));
	json_object_set_new(o, "attachments", atts);
	json_object_set_new(o, "warnings", warns);
	return o;
}

/* parsed_process - raw.1 to parsed.1: the raw key fields and the record as
 * meta; frame 0 the raw bytes (the same GBytes), frame 1+i attachment i */
gboolean
parsed_process(const struct wire_msg *in, json_t **meta, GPtrArray **parts, GError **err)
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
	json_object_update_new(m, record_to_json(r));

	p = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_ptr_array_add(p, g_bytes_ref(raw));
	for (guint i = 0; i < r->attachments->len; i++) {
		struct attachment *a = r->attachments->pdata[i];

		g_ptr_array_add(p, g_bytes_ref(a->data));
	}
	*meta = m;
	*parts = p;
	return TRUE;
}
