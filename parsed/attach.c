/*
 * attach - the name an attachment is shown (and saved) under.
 *
 * `filename` stays what the message wrote (the corpus compares it, and it
 * is the sender's word); `name` is what the agent sees:
 *
 *  - the written file name without any folder ("C:\Users\x\a.pdf" and
 *    "../../a.pdf" are "a.pdf") and with control characters made "_";
 *  - a message (message/rfc822, global, news) is named after its own
 *    subject, "Re: your order.eml", else "message.eml";
 *  - anything else without a name gets one from its type: "invite.ics",
 *    "attachment.pdf", "image.png", "winmail.dat", "delivery-status.txt";
 *  - names made up here are made unique in the message ("attachment.pdf",
 *    "attachment-2.pdf"); names the sender wrote are left alone.
 */
#include <string.h>

#include "parsed.h"

#define NAME_MAX_CHARS	120	/* of a name made from a subject */

/* made-up names: the base name and extension each type gets */
static const struct {
	const char *type;
	const char *base;
	const char *ext;
} by_type[] = {
	{ "text/calendar", "invite", "ics" }, { "application/ics", "invite", "ics" },
	{ "message/delivery-status", "delivery-status", "txt" },
	{ "message/global-delivery-status", "delivery-status", "txt" },
	{ "message/disposition-notification", "disposition-notification", "txt" },
	{ "message/feedback-report", "feedback-report", "txt" },
	{ "text/rfc822-headers", "headers", "txt" },
	{ "message/global-headers", "headers", "txt" },
	{ "application/ms-tnef", "winmail", "dat" }, { "application/vnd.ms-tnef", "winmail", "dat" },
	{ "application/pgp-signature", "signature", "asc" },
	{ "application/pkcs7-signature", "smime", "p7s" },
	{ "application/x-pkcs7-signature", "smime", "p7s" },
	{ "application/pkcs7-mime", "smime", "p7m" }, { "application/x-pkcs7-mime", "smime", "p7m" },
	{ "application/pgp-encrypted", "encrypted", "asc" },
	{ "application/pgp-keys", "key", "asc" },
	{ "text/plain", "attachment", "txt" }, { "text/html", "attachment", "html" },
	{ "text/csv", "attachment", "csv" }, { "text/xml", "attachment", "xml" },
	{ "text/vcard", "contact", "vcf" }, { "text/x-vcard", "contact", "vcf" },
	{ "text/enriched", "attachment", "txt" }, { "text/richtext", "attachment", "txt" },
	{ "text/rtf", "attachment", "rtf" }, { "application/rtf", "attachment", "rtf" },
	{ "application/pdf", "attachment", "pdf" }, { "application/json", "attachment", "json" },
	{ "application/xml", "attachment", "xml" }, { "application/zip", "attachment", "zip" },
	{ "application/x-zip-compressed", "attachment", "zip" },
	{ "application/gzip", "attachment", "gz" }, { "application/x-gzip", "attachment", "gz" },
	{ "application/x-tar", "attachment", "tar" }, { "application/x-7z-compressed", "attachment", "7z" },
	{ "application/x-rar-compressed", "attachment", "rar" },
	{ "application/vnd.rar", "attachment", "rar" },
	{ "application/msword", "attachment", "doc" },
	{ "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	  "attachment", "docx" },
	{ "application/vnd.ms-excel", "attachment", "xls" },
	{ "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "attachment", "xlsx" },
	{ "application/vnd.ms-powerpoint", "attachment", "ppt" },
	{ "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	  "attachment", "pptx" },
	{ "application/vnd.oasis.opendocument.text", "attachment", "odt" },
	{ "application/vnd.oasis.opendocument.spreadsheet", "attachment", "ods" },
	{ "application/octet-stream", "attachment", "bin" },
	{ "image/jpeg", "image", "jpg" }, { "image/pjpeg", "image", "jpg" },
	{ "image/png", "image", "png" }, { "image/gif", "image", "gif" },
	{ "image/webp", "image", "webp" }, { "image/bmp", "image", "bmp" },
	{ "image/tiff", "image", "tif" }, { "image/svg+xml", "image", "svg" },
	{ "image/heic", "image", "heic" }, { "image/x-icon", "image", "ico" },
	{ "audio/mpeg", "audio", "mp3" }, { "audio/wav", "audio", "wav" },
	{ "audio/x-wav", "audio", "wav" }, { "audio/ogg", "audio", "ogg" },
	{ "video/mp4", "video", "mp4" }, { "video/quicktime", "video", "mov" },
};

/* is_message - a type whose content is a whole message */
gboolean
attach_is_message(const char *type)
{
	return strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0 ||
	    strcmp(type, "message/news") == 0;
}

/* cleaned - s without control characters (made "_") and without the
 * characters file systems refuse in a name (made "-"), blanks trimmed;
 * NULL when nothing is left */
static char *
cleaned(const char *s, gboolean path_chars)
{
	GString *out = g_string_sized_new(strlen(s));
	g_autofree char *valid = g_utf8_make_valid(s, -1);

	for (const char *p = valid; *p; p++) {
		guchar c = (guchar)*p;

		if (c < 0x20 || c == 0x7F)
			g_string_append_c(out, '_');
		else if (path_chars && strchr("/\\:*?\"<>|", c))
			g_string_append_c(out, '-');
		else
			g_string_append_c(out, (char)c);
	}
	g_strstrip(out->str);
	out->len = strlen(out->str);
	if (out->len == 0 || strcmp(out->str, ".") == 0 || strcmp(out->str, "..") == 0) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* given_name - the name the sender wrote, without its folders */
static char *
given_name(const char *filename)
{
	const char *slash = strrchr(filename, '/'), *back = strrchr(filename, '\\');
	const char *base = filename;

	if (slash && slash + 1 > base)
		base = slash + 1;
	if (back && back + 1 > base)
		base = back + 1;
	return cleaned(base, FALSE);
}

/* subject_name - "SUBJECT.eml", the subject cut to NAME_MAX_CHARS */
static char *
subject_name(const char *subject)
{
	g_autofree char *s = subject ? cleaned(subject, TRUE) : NULL;

	if (!s)
		return NULL;
	if (g_utf8_strlen(s, -1) > NAME_MAX_CHARS) {
		char *end = g_utf8_offset_to_pointer(s, NAME_MAX_CHARS);

		*end = '\0';
		g_strchomp(s);
	}
	return g_strconcat(s, ".eml", NULL);
}

/* type_name - base and extension for a type; an unknown type/subtype
 * gives "attachment.subtype" when the subtype looks like an extension */
static void
type_name(const char *type, char **base, char **ext)
{
	const char *slash = strchr(type, '/');
	const char *sub = slash ? slash + 1 : "";
	gboolean word = *sub && strlen(sub) <= 8;

	for (gsize i = 0; i < G_N_ELEMENTS(by_type); i++) {
		if (strcmp(type, by_type[i].type) == 0) {
			*base = g_strdup(by_type[i].base);
			*ext = g_strdup(by_type[i].ext);
			return;
		}
	}
	for (const char *p = sub; *p && word; p++)
		word = g_ascii_isalnum(*p);
	if (attach_is_message(type)) {
		*base = g_strdup("message");
		*ext = g_strdup("eml");
	} else if (g_str_has_prefix(type, "image/") || g_str_has_prefix(type, "audio/") ||
	    g_str_has_prefix(type, "video/")) {
		*base = g_strndup(type, (gsize)(slash - type));
		*ext = word ? g_strdup(sub) : NULL;
	} else {
		*base = g_strdup("attachment");
		*ext = word ? g_strdup(sub) : NULL;
	}
}

/* taken - name is already some attachment's name */
static gboolean
taken(const struct record *r, const char *name)
{
	for (guint i = 0; i < r->attachments->len; i++) {
		const struct attachment *a = r->attachments->pdata[i];

		if (a->name && strcmp(a->name, name) == 0)
			return TRUE;
	}
	return FALSE;
}

/* unique - base.ext, or base-N.ext when that is taken */
static char *
unique(const struct record *r, const char *base, const char *ext)
{
	char *name = ext ? g_strconcat(base, ".", ext, NULL) : g_strdup(base);

	for (int n = 2; taken(r, name) && n < 10000; n++) {
		g_free(name);
		name = ext ? g_strdup_printf("%s-%d.%s", base, n, ext) : g_strdup_printf("%s-%d", base, n);
	}
	return name;
}

/* attach_name - set a->name: the file name it has, else one made from its
 * subject (messages; subject may be NULL) or type, unique in r */
void
attach_name(struct record *r, struct attachment *a, const char *subject)
{
	g_autofree char *base = NULL, *ext = NULL, *from_subject = NULL;

	g_free(a->name);
	a->name = a->filename ? given_name(a->filename) : NULL;
	if (a->name)
		return;
	if (attach_is_message(a->content_type) && (from_subject = subject_name(subject))) {
		char *dot = strrchr(from_subject, '.');

		*dot = '\0';
		a->name = unique(r, from_subject, "eml");
		return;
	}
	type_name(a->content_type, &base, &ext);
	a->name = unique(r, base, ext);
}
