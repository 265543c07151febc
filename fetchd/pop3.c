/*
 * pop3 - one POP3 session, and the pure parts of the protocol.
 *
 * conn.c connects, wraps TLS (pop3s://, or STLS required) and logs in
 * (SASL, APOP or USER/PASS as auth says; auth = pass gives libcurl no user
 * and USER/PASS is sent here), exactly as for IMAP.  Then UIDL, LIST, RETR,
 * DELE and QUIT are ours, over conn_send()/conn_recv().  Why not libcurl's URL interface
 * (pop3://host/N, CURLOPT_CUSTOMREQUEST "UIDL"): message numbers mean
 * something only within the session that listed them, and DELE takes effect
 * only at that session's QUIT, so the listing, the RETRs and the DELEs must
 * share one connection that we hold, and see end; the URL interface may
 * reconnect between transfers without saying so.  Driving the session
 * ourselves also gives the same waits, timeouts and stop requests as IMAP.
 *
 * A multi-line answer ends with a line holding only "."; lines starting
 * with "." carry one more (byte-stuffing), removed here.
 */
#include "fetchd.h"

#include <curl/curl.h>
#include <poll.h>
#include <string.h>

#include "log.h"

#define POP3_LINE_MAX	1024	/* a status line (RFC 1939 says 512) */
#define READ_CHUNK	(256 * 1024)

struct pop3 {
	struct conn conn;
	GByteArray *in;		/* received, not yet used */
};

/* ---- pure parts ------------------------------------------------------------ */

gboolean
pop3_status(const char *line, gboolean *ok)
{
	if (g_str_has_prefix(line, "+OK") && (line[3] == '\0' || line[3] == ' ')) {
		*ok = TRUE;
		return TRUE;
	}
	if (g_str_has_prefix(line, "-ERR") && (line[4] == '\0' || line[4] == ' ')) {
		*ok = FALSE;
		return TRUE;
	}
	return FALSE;
}

gssize
pop3_multiline_end(const guint8 *buf, gsize len, gsize from, gsize *next)
{
	/* the data starts after the status line's CRLF: search from there - 2,
	 * so that an empty answer (".\r\n" at once) is found too */
	gsize start = from >= 2 ? from - 2 : 0;

	for (gsize i = start; i + 5 <= len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '.' && buf[i + 3] == '\r'
		    && buf[i + 4] == '\n') {
			*next = i + 5;
			return (gssize)(i + 2);
		}
	}
	return -1;
}

GBytes *
pop3_unstuff(const guint8 *data, gsize len)
{
	GByteArray *out = g_byte_array_sized_new(len);
	gsize i = 0;

	while (i < len) {
		const guint8 *nl = memchr(data + i, '\n', len - i);
		gsize end = nl ? (gsize)(nl - data) + 1 : len;

		/* a line that starts with "." carries one more */
		if (data[i] == '.')
			i++;
		g_byte_array_append(out, data + i, end - i);
		i = end;
	}
	return g_byte_array_free_to_bytes(out);
}

char *
pop3_uidl_id(const char *uidl)
{
	g_autofree char *sum = NULL;

	if (state_valid_uidl(uidl))
		return g_strdup(uidl);
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, uidl, -1);
	/* a server that breaks RFC 1939: a stable name for what it said */
	return g_strconcat("h-", sum, NULL);
}

/* ---- the session ------------------------------------------------------------ */

/* put - a command line; shown (debug) unless secret */
static gboolean
put(struct pop3 *p, const char *line, gboolean secret, GError **err)
{
	g_autofree char *text = g_strdup_printf("%s\r\n", line);
	gsize len = strlen(text);
	gboolean ok;

	log_debug("pop3: > %.200s", secret ? "(not shown)" : line);
	ok = conn_send(&p->conn, text, len, err);
	explicit_bzero(text, len);
	return ok;
}

/* more - read what comes into p->in (waiting at most timeout of silence) */
static gboolean
more(struct pop3 *p, GError **err)
{
	gint64 until = conn_deadline(&p->conn);

	for (;;) {
		gsize n;
		int rc = conn_recv(&p->conn, p->in, READ_CHUNK, &n);

		if (rc == CURLE_AGAIN) {
			if (!conn_wait(&p->conn, POLLIN, until, err))
				return FALSE;
			continue;
		}
		if (rc != CURLE_OK || n == 0) {
			p->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection%s%s",
			    p->conn.where, rc != CURLE_OK ? ": " : "",
			    rc != CURLE_OK ? conn_error(&p->conn, rc) : "");
			return FALSE;
		}
		return TRUE;
	}
}

/* status - the next status line: TRUE with *ok; the line (without CRLF) in
 * *text when wanted */
static gboolean
status(struct pop3 *p, gboolean *ok, char **text, GError **err)
{
	for (;;) {
		guint8 *nl = p->in->len ? memchr(p->in->data, '\n', p->in->len) : NULL;

		if (nl) {
			gsize n = nl - p->in->data + 1;
			g_autofree char *line = g_strndup((const char *)p->in->data, n);

			g_byte_array_remove_range(p->in, 0, n);
			g_strchomp(line);
			if (!pop3_status(line, ok)) {
				p->conn.broken = TRUE;
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the POP3 protocol: "
				    "a reply that is neither +OK nor -ERR", p->conn.where);
				return FALSE;
			}
			if (text)
				*text = g_steal_pointer(&line);
			return TRUE;
		}
		if (p->in->len > POP3_LINE_MAX) {
			p->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the POP3 protocol: "
			    "a status line longer than %d bytes", p->conn.where, POP3_LINE_MAX);
			return FALSE;
		}
		if (!more(p, err))
			return FALSE;
	}
}

/* ask - a command and its status; -ERR is SESSION_REFUSED (what: for the
 * message) or kind */
static gboolean
ask(struct pop3 *p, const char *cmd, gboolean secret, const char *what, int kind, GError **err)
{
	g_autofree char *text = NULL;
	gboolean ok;

	if (!put(p, cmd, secret, err) || !status(p, &ok, &text, err))
		return FALSE;
	if (!ok)
		g_set_error(err, SESSION_ERROR, kind, "%s refused %s: %.200s", p->conn.where, what, text);
	return ok;
}

/* multiline - after +OK, the data up to the "." line, unstuffed; max bounds it */
static GBytes *
multiline(struct pop3 *p, guint64 max, GError **err)
{
	gsize searched = 0;

	for (;;) {
		gsize next = 0;
		gssize end;

		/* the status line's CRLF was consumed: pretend it is there */
		if (p->in->len >= 3 && memcmp(p->in->data, ".\r\n", 3) == 0 && searched == 0) {
			g_byte_array_remove_range(p->in, 0, 3);
			return g_bytes_new(NULL, 0);
		}
		end = pop3_multiline_end(p->in->data, p->in->len, searched + 2, &next);
		if (end >= 0) {
			GBytes *data = pop3_unstuff(p->in->data, (gsize)end);

			g_byte_array_remove_range(p->in, 0, next);
			return data;
		}
		searched = p->in->len >= 4 ? p->in->len - 4 : 0;
		if (p->in->len > max) {
			p->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s sent an answer larger than %"
			    G_GUINT64_FORMAT " bytes", p->conn.where, max);
			return NULL;
		}
		if (!more(p, err))
			return NULL;
	}
}

/* user_pass - USER and PASS, for auth = pass */
static gboolean
user_pass(struct pop3 *p, const struct config_account *a, const char *password, GError **err)
{
	g_autofree char *user = g_strdup_printf("USER %s", a->user);
	g_autofree char *pass = g_strdup_printf("PASS %s", password);
	g_autofree char *text = NULL;
	gboolean ok = FALSE, sent;

	if (strpbrk(a->user, "\r\n") || strpbrk(password, "\r\n")) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "user or password holds a line break");
		return FALSE;
	}
	sent = put(p, user, FALSE, err) && status(p, &ok, &text, err);
	if (sent && ok) {
		g_clear_pointer(&text, g_free);
		sent = put(p, pass, TRUE, err) && status(p, &ok, &text, err);
	}
	explicit_bzero(pass, strlen(pass));
	if (!sent)
		return FALSE;
	if (!ok)
		g_set_error(err, SESSION_ERROR, SESSION_AUTH, "login refused for %s on %s: check user "
		    "and password (app password?): %.160s", a->user, p->conn.where, text ? text : "");
	return ok;
}

struct pop3 *
pop3_open(const struct session_opts *o, GError **err)
{
	const struct config_account *a = o->account;
	struct pop3 *p = g_new0(struct pop3, 1);

	p->in = g_byte_array_new();
	if (!conn_open(&p->conn, o, err)
	    || (a->auth == AUTH_PASS && !user_pass(p, a, o->password, err))) {
		p->conn.broken = TRUE;
		pop3_close(p);
		return NULL;
	}
	return p;
}

/* by_num - order of struct pop3_msg */
static gint
by_num(gconstpointer x, gconstpointer y)
{
	guint a = ((const struct pop3_msg *)x)->num, b = ((const struct pop3_msg *)y)->num;

	return a < b ? -1 : a > b;
}

static void
msg_clear(gpointer m)
{
	g_free(((struct pop3_msg *)m)->uidl);
}

/* text_of - bytes as a string ("" for none) */
static char *
text_of(GBytes *b)
{
	gsize len = 0;
	const char *p = g_bytes_get_data(b, &len);

	return len ? g_strndup(p, len) : g_strdup("");
}

gboolean
pop3_parse_listing(GBytes *uidl, GBytes *list, GArray *out, GError **err)
{
	g_autofree char *u = text_of(uidl);
	g_autofree char *l = text_of(list);
	g_auto(GStrv) ulines = g_strsplit(u, "\n", -1);
	g_auto(GStrv) llines = g_strsplit(l, "\n", -1);
	g_autoptr(GHashTable) sizes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
	    g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (char **x = llines; *x; x++) {
		guint64 num, size;
		char **w;

		if (!*g_strstrip(*x))
			continue;
		w = g_strsplit(*x, " ", 3);
		if (!w[0] || !w[1] || !g_ascii_string_to_unsigned(w[0], 10, 1, G_MAXUINT, &num, NULL)
		    || !g_ascii_string_to_unsigned(w[1], 10, 0, G_MAXUINT64, &size, NULL)) {
			g_strfreev(w);
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "a LIST line that is not "
			    "\"number size\"");
			return FALSE;
		}
		g_strfreev(w);
		g_hash_table_insert(sizes, GUINT_TO_POINTER((guint)num), g_memdup2(&size, sizeof size));
	}
	for (char **x = ulines; *x; x++) {
		struct pop3_msg m = { 0 };
		guint64 num;
		guint64 *size;
		char **w;

		if (!*g_strstrip(*x))
			continue;
		w = g_strsplit(*x, " ", 2);
		if (!w[0] || !w[1] || !*w[1]
		    || !g_ascii_string_to_unsigned(w[0], 10, 1, G_MAXUINT, &num, NULL)) {
			g_strfreev(w);
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "a UIDL line that is not "
			    "\"number id\"");
			return FALSE;
		}
		m.num = (guint)num;
		m.uidl = pop3_uidl_id(g_strstrip(w[1]));
		g_strfreev(w);
		size = g_hash_table_lookup(sizes, GUINT_TO_POINTER(m.num));
		m.size = size ? *size : 0;
		if (g_hash_table_contains(seen, m.uidl)) {
			/* two messages with one id: the second is not fetched, ever */
			log_warn("the server gives two messages the UIDL %s: message %u ignored", m.uidl,
			    m.num);
			g_free(m.uidl);
			continue;
		}
		g_array_append_val(out, m);
		g_hash_table_add(seen, g_array_index(out, struct pop3_msg, out->len - 1).uidl);
	}
	g_array_sort(out, by_num);
	return TRUE;
}

GArray *
pop3_list(struct pop3 *p, GError **err)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(struct pop3_msg));
	g_autoptr(GBytes) uidl = NULL, list = NULL;
	g_autoptr(GError) e = NULL;

	g_array_set_clear_func(out, msg_clear);
	if (!ask(p, "UIDL", FALSE, "UIDL (unique ids: needed to know what is new)",
	    SESSION_REFUSED, err) || !(uidl = multiline(p, (guint64)64 << 20, err)))
		return NULL;
	if (!ask(p, "LIST", FALSE, "LIST", SESSION_REFUSED, err)
	    || !(list = multiline(p, (guint64)64 << 20, err)))
		return NULL;
	if (!pop3_parse_listing(uidl, list, out, &e)) {
		p->conn.broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the POP3 protocol: %s",
		    p->conn.where, e->message);
		return NULL;
	}
	return g_steal_pointer(&out);
}

GBytes *
pop3_retr(struct pop3 *p, guint num, GError **err)
{
	g_autofree char *cmd = g_strdup_printf("RETR %u", num);
	g_autofree char *what = g_strdup_printf("to send message %u", num);

	if (!ask(p, cmd, FALSE, what, SESSION_REFUSED, err))
		return NULL;
	return multiline(p, IMAP_LITERAL_MAX + IMAP_LITERAL_MAX / 8, err);
}

gboolean
pop3_dele(struct pop3 *p, guint num, GError **err)
{
	g_autofree char *cmd = g_strdup_printf("DELE %u", num);
	g_autofree char *what = g_strdup_printf("to delete message %u", num);

	return ask(p, cmd, FALSE, what, SESSION_REFUSED, err);
}

gboolean
pop3_quit(struct pop3 *p, GError **err)
{
	gboolean ok = ask(p, "QUIT", FALSE, "QUIT (deletions are not done)", SESSION_REFUSED, err);

	p->conn.broken = TRUE;	/* nothing more to say either way */
	return ok;
}

void
pop3_close(struct pop3 *p)
{
	if (!p)
		return;
	if (conn_closing(&p->conn)) {
		g_autoptr(GError) e = NULL;

		pop3_quit(p, &e);
	}
	conn_close(&p->conn);
	g_byte_array_unref(p->in);
	g_free(p);
}
