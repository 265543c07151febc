/*
 * compose - an agent's reply as a mail message, built with GMime.
 *
 * Everything taken from the customer's message (subject, names, addresses,
 * Message-IDs, text) came from the outside: names and the subject lose
 * their control characters before GMime encodes them, addresses and
 * Message-IDs are checked character by character, so that nothing a
 * customer writes can add a header or a recipient.
 */
#include "agentd.h"

#include <string.h>

#include <gmime/gmime.h>

/* GMime 3 declares no g_autoptr() cleanups of its own */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimePart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeDataWrapper, g_object_unref)

#define REFERENCES_MAX	30	/* a long thread keeps its first and last ones */

char *
compose_clean(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
	GString *out = g_string_sized_new(strlen(valid));

	for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		/* C0, DEL, C1 and the Unicode line and paragraph separators */
		if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029)
			g_string_append_c(out, ' ');
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
	}
	return g_strstrip(g_string_free(out, FALSE));
}

gboolean
compose_valid_addr(const char *addr)
{
	const char *at;
	size_t len;

	if (!addr || !*addr)
		return FALSE;
	len = strlen(addr);
	if (len > 320 || !g_utf8_validate(addr, len, NULL))
		return FALSE;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || strchr("<>()[],;:\"\\", *p))
			return FALSE;
	at = strchr(addr, '@');
	return at && at != addr && at[1] && !strchr(at + 1, '@');
}

gboolean
compose_valid_msgid(const char *id)
{
	if (!id || !*id || strlen(id) > 250)
		return FALSE;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>')
			return FALSE;
	return TRUE;
}

/* msgid - a Message-ID from the wire, without <>; NULL when unusable */
static char *
msgid(json_t *v)
{
	const char *s = json_string_value(v);
	g_autofree char *id = NULL;
	size_t len;

	if (!s)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	id = g_strdup(s);
	g_strchomp(id);
	len = strlen(id);
	if (len >= 2 && id[0] == '<' && id[len - 1] == '>') {
		memmove(id, id + 1, len - 2);
		id[len - 2] = '\0';
	}
	return compose_valid_msgid(id) ? g_steal_pointer(&id) : NULL;
}

/* str - a string member of o, "" when missing */
static const char *
str(json_t *o, const char *field)
{
	const char *s = json_string_value(json_object_get(o, field));

	return s ? s : "";
}

/* recipient - the customer's Reply-To, else From: the first usable one */
static gboolean
recipient(json_t *customer, char **name, char **addr)
{
	json_t *rt = json_object_get(customer, "reply_to");
	json_t *first = json_array_get(rt, 0);

	if (json_is_object(first) && compose_valid_addr(str(first, "addr"))) {
		*name = compose_clean(str(first, "name"));
		*addr = g_strdup(str(first, "addr"));
		return TRUE;
	}
	if (compose_valid_addr(str(customer, "from_addr"))) {
		*name = compose_clean(str(customer, "from_name"));
		*addr = g_strdup(str(customer, "from_addr"));
		return TRUE;
	}
	return FALSE;
}

/* reply_subject - "Re: " in front, once */
static char *
reply_subject(const char *subject)
{
	g_autofree char *s = compose_clean(subject);

	if (g_ascii_strncasecmp(s, "re:", 3) == 0)
		return g_steal_pointer(&s);
	return *s ? g_strconcat("Re: ", s, NULL) : g_strdup("Re:");
}

/* references - the customer's References, then its Message-ID */
static json_t *
references(json_t *customer, const char *parent)
{
	json_t *in = json_object_get(customer, "references");
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	json_t *out = json_array();
	size_t i;
	json_t *v;

	json_array_foreach(in, i, v) {
		char *id = msgid(v);

		if (id)
			g_ptr_array_add(ids, id);
	}
	if (parent && (ids->len == 0 || strcmp(ids->pdata[ids->len - 1], parent) != 0))
		g_ptr_array_add(ids, g_strdup(parent));
	if (ids->len > REFERENCES_MAX)
		g_ptr_array_remove_range(ids, 1, ids->len - REFERENCES_MAX);
	for (guint j = 0; j < ids->len; j++)
		json_array_append_new(out, json_string(ids->pdata[j]));
	return out;
}

/* lines_normal - LF line ends, no trailing blank lines */
static char *
lines_normal(const char *text)
{
	g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
	GString *s = g_string_new(valid);

	g_string_replace(s, "\r\n", "\n", 0);
	g_string_replace(s, "\r", "\n", 0);
	while (s->len && (s->str[s->len - 1] == '\n' || s->str[s->len - 1] == ' '
	    || s->str[s->len - 1] == '\t'))
		g_string_truncate(s, s->len - 1);
	return g_string_free(s, FALSE);
}

/* reply_text - the agent's text, then the customer's message quoted */
static char *
reply_text(const char *body, json_t *customer, const char *name, const char *addr)
{
	g_autofree char *mine = lines_normal(body);
	g_autofree char *theirs = lines_normal(str(customer, "text_body"));
	g_autofree char *who = NULL;
	const char *date = str(customer, "date");
	GString *t = g_string_new(mine);
	g_auto(GStrv) lines = NULL;

	if (*name)
		who = g_strdup_printf("%s <%s>", name, addr);
	else
		who = g_strdup(addr);
	g_string_append(t, "\n\n");
	if (*date) {
		g_autofree char *d = compose_clean(date);

		g_string_append_printf(t, "On %s, %s wrote:\n", d, who);
	} else {
		g_string_append_printf(t, "%s wrote:\n", who);
	}
	lines = g_strsplit(theirs, "\n", -1);
	for (char **l = lines; *l; l++) {
		if (**l == '\0')
			g_string_append(t, ">\n");
		else if (**l == '>')
			g_string_append_printf(t, ">%s\n", *l);
		else
			g_string_append_printf(t, "> %s\n", *l);
	}
	return g_string_free(t, FALSE);
}

/* text_part - text/plain; charset=utf-8 with the encoding GMime finds best */
static GMimePart *
text_part(const char *text)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(text, strlen(text));
	g_autoptr(GMimeDataWrapper) content =
	    g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);

	g_mime_part_set_content(GMIME_PART(part), content);
	g_mime_text_part_set_charset(part, "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(part),
	    g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_PART(part);
}

/* iso_utc - a date as 2023-11-14T09:00:00Z */
static char *
iso_utc(GDateTime *d)
{
	g_autoptr(GDateTime) utc = g_date_time_to_utc(d);

	return g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
}

GBytes *
compose_reply(const struct compose_in *in, json_t **record, GError **err)
{
	g_autofree char *to_name = NULL, *to_addr = NULL, *subject = NULL, *parent = NULL;
	g_autofree char *from_name = NULL, *id = NULL, *text = NULL, *raw = NULL;
	g_autofree char *date_str = NULL, *date_iso = NULL;
	g_autoptr(GDateTime) now = NULL;
	g_autoptr(GMimeMessage) msg = NULL;
	g_autoptr(GMimePart) part = NULL;
	GMimeFormatOptions *opts;
	json_t *refs, *to, *rec;
	const char *domain;
	GString *refs_hdr;
	size_t i;
	json_t *v;

	if (!compose_valid_addr(in->from_addr)) {
		g_set_error(err, AGENTD_ERROR, 1, "the account's reply address \"%s\" is not usable",
		    in->from_addr);
		return NULL;
	}
	if (!recipient(in->customer, &to_name, &to_addr)) {
		g_set_error(err, AGENTD_ERROR, 2,
		    "the customer's message has no usable address to reply to");
		return NULL;
	}
	subject = reply_subject(in->subject ? in->subject : str(in->customer, "subject"));
	from_name = compose_clean(in->from_name);
	parent = msgid(json_object_get(in->customer, "message_id"));
	refs = references(in->customer, parent);
	domain = strrchr(in->from_addr, '@') + 1;
	id = g_mime_utils_generate_message_id(domain);
	text = reply_text(in->body, in->customer, to_name, to_addr);
	now = in->date ? g_date_time_ref(in->date) : g_date_time_new_now_local();

	msg = g_mime_message_new(TRUE);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, from_name, in->from_addr);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, to_name, to_addr);
	g_mime_message_set_subject(msg, subject, "utf-8");
	g_mime_message_set_date(msg, now);
	g_mime_message_set_message_id(msg, id);
	if (parent) {
		g_autofree char *h = g_strdup_printf("<%s>", parent);

		g_mime_object_set_header(GMIME_OBJECT(msg), "In-Reply-To", h, NULL);
	}
	refs_hdr = g_string_new(NULL);
	json_array_foreach(refs, i, v)
		g_string_append_printf(refs_hdr, "%s<%s>", i ? " " : "", json_string_value(v));
	if (refs_hdr->len)
		g_mime_object_set_header(GMIME_OBJECT(msg), "References", refs_hdr->str, NULL);
	g_string_free(refs_hdr, TRUE);
	part = text_part(text);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));

	opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_DOS);
	raw = g_mime_object_to_string(GMIME_OBJECT(msg), opts);
	g_mime_format_options_free(opts);

	date_str = g_mime_utils_header_format_date(now);
	date_iso = iso_utc(now);
	rec = json_object();
	json_object_set_new(rec, "message_id", json_string(id));
	json_object_set_new(rec, "in_reply_to", parent ? json_string(parent) : json_null());
	json_object_set_new(rec, "references", refs);
	json_object_set_new(rec, "subject", json_string(subject));
	json_object_set_new(rec, "from_name", json_string(from_name));
	json_object_set_new(rec, "from_addr", json_string(in->from_addr));
	to = json_array();
	json_array_append_new(to, json_pack("{s:s, s:s}", "name", to_name, "addr", to_addr));
	json_object_set_new(rec, "to", to);
	json_object_set_new(rec, "cc", json_array());
	json_object_set_new(rec, "reply_to", json_array());
	json_object_set_new(rec, "date", json_string(date_str));
	json_object_set_new(rec, "date_iso_utc", json_string(date_iso));
	json_object_set_new(rec, "text_body", json_string(text));
	json_object_set_new(rec, "has_html", json_false());
	json_object_set_new(rec, "attachments", json_array());
	json_object_set_new(rec, "warnings", json_array());
	json_object_set_new(rec, "size", json_integer(strlen(raw)));
	*record = rec;
	return g_bytes_new(raw, strlen(raw));
}
