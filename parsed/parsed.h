/*
 * parsed - turn one raw message into the record the agent sees.
 *
 *	mime.c		the MIME walk (GMime): headers, body choice, attachments
 *	attach.c	the names attachments are shown under
 *	report.c	delivery status notifications (bounces)
 *	header.c	header values made ready for GMime's decoders
 *	charset.c	bytes in a declared (or guessed) charset to UTF-8
 *	html.c		HTML to plain text (libxml2's HTML parser)
 *	record.c	the record, as JSON; raw.1 in, parsed.1 out
 *	worker.c	one message from fetchd to routed and the tap
 *
 * Private to parsed/.  The field names are those of docs/wire.md and of the
 * corpus schema (../shared/corpus/README.md).
 */
#ifndef POSTROOM_PARSED_H
#define POSTROOM_PARSED_H

#include <glib.h>
#include <gmime/gmime.h>
#include <jansson.h>

#include "wire.h"

struct address {
	char *name;		/* NULL when there is no display name */
	char *addr;		/* addr-spec; the bare local part when there is no domain */
};

struct attachment {
	char *filename;		/* as the message writes it; NULL when it names none */
	char *name;		/* shown to the agent: filename's own, else made up (attach.c) */
	char *content_type;	/* "type/subtype", lower case */
	char *content_id;	/* without <>, or NULL */
	gboolean inline_;	/* Content-Disposition: inline, or none and a Content-ID */
	gsize size;		/* bytes after transfer decoding; message/... parts as in
				 * the source (the bytes themselves are not kept) */
	guint part;		/* its leaf in the MIME walk (docs/wire.md): where
				 * mime_part_content finds it in the raw message */
};

struct bounce_recipient {
	char *addr;		/* Final-Recipient (else Original-Recipient), without its type */
	char *action;		/* "failed", "delayed", "delivered"...; or NULL */
	char *status;		/* "5.1.1"; or NULL */
	char *diagnostic;	/* Diagnostic-Code, as written; or NULL */
};

enum body_source {
	BODY_NONE,
	BODY_PLAIN,
	BODY_HTML,
};

struct record {
	char *subject;
	char *from_name;
	char *from_addr;
	GPtrArray *to;		/* of struct address */
	GPtrArray *cc;
	GPtrArray *reply_to;
	char *date;		/* the first Date header as given */
	char *date_iso_utc;	/* "YYYY-MM-DDTHH:MM:SSZ", or NULL */
	char *message_id;	/* ids without <> */
	char *in_reply_to;
	GPtrArray *references;	/* of char * */
	char *text_body;	/* valid UTF-8 without NUL, normalized; never NULL */
	gsize text_body_len;
	enum body_source text_body_source;
	gboolean has_html;
	GPtrArray *attachments;	/* of struct attachment */
	gboolean bounce;	/* a delivery status notification (report.c) */
	GPtrArray *bounce_recipients;	/* of struct bounce_recipient */
	GPtrArray *warnings;	/* of char *: what could not be read, and why */
};

/* mime.c */
void mime_init(void);
struct record *mime_parse(GBytes *raw);
struct record *mime_parse_headers(GBytes *raw, guint64 limit);
GBytes *mime_part_content(GBytes *raw, guint part);
/* mime_base64_size - the bytes GMime's base64 decoder makes of in, counted */
gsize mime_base64_size(const guint8 *in, gsize len);

/* record.c */
struct record *record_new(void);
void record_free(struct record *r);
typedef struct record record;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(record, record_free)
void record_warn(struct record *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void address_free(gpointer p);
json_t *record_to_json(const struct record *r);
GBytes *record_body(struct record *r);
char *body_normalize(const char *text, gsize len, gsize *out_len);
char *body_normalize_in_place(char *text, gsize len, gsize *out_len);

/* attach.c */
gboolean attach_is_message(const char *type);
void attach_name(struct record *r, struct attachment *a, const char *subject);

/* report.c */
void report_read(struct record *r, GBytes *content);

/* header.c */
void header_init(void);
char *header_unfold(const char *raw);
char *header_utf8(struct record *r, const char *name, char *value);
char *header_words(struct record *r, const char *value);
char *header_strip_comments(const char *value);
char *header_rfc2231(const char *value, const char *pname, char **label);
gboolean header_type_valid(const char *value);
char *header_date(const char *value);
GPtrArray *header_ids(GMimeParserOptions *opts, const char *value);

/* charset.c */
char *charset_to_utf8(const char *data, gsize len, const char *label, gsize *out_len,
    char **guess);
char *charset_guess(const char *data, gsize len, gsize *out_len, const char **how);
gboolean charset_says_nothing(const char *label);
char *charset_iconv_name(const char *label);

/* html.c */
char *html_to_text(const char *html, gsize len);

/* max_message_size when the account is unknown: config.c's default */
#define PARSED_MAX_MESSAGE_SIZE	52428800

struct config;
guint64 parsed_limit(const struct config *cfg, const char *account);

/* parsed_process - raw.1 in, parsed.1's meta and payload out (FALSE with
 * err set when the envelope itself is unusable: no key, no payload); the
 * payload: the raw message and the text body (attachments are found in
 * the raw message by their part number).  A message
 * over limit bytes is read for its headers only. */
gboolean parsed_process(const struct wire_msg *in, guint64 limit, json_t **meta,
    GPtrArray **parts, GError **err);

/* worker.c */
struct tap;
gboolean parsed_handle(void *pull, void *push, struct tap *tap, const struct config *cfg);

#define PARSED_ERROR (parsed_error_quark())
GQuark parsed_error_quark(void);

#endif
