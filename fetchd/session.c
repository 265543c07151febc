/*
 * session - one IMAP session.
 *
 * conn.c connects, wraps TLS and logs in; from there we speak IMAP
 * ourselves, because libcurl's URL interface would set \Seen (it fetches
 * BODY[]), cannot deliver a large BODY.PEEK[] literal, cannot pipeline and
 * has no IDLE.  With auth = pass libcurl stops after the greeting (and
 * STARTTLS) and LOGIN is sent here.
 *
 * Every command is sent with command() and read to its completion with
 * await(), which hands each untagged response on the way to the command's
 * own function.  Responses are parsed by imap_parse() from one buffer; a
 * large body leaves as a slice of that buffer, so a message costs its size
 * once.  While IDLE, the socket is the caller's to poll (session_fd), and
 * session_idle_poll() reads without waiting.
 */
#include "fetchd.h"

#include <curl/curl.h>
#include <poll.h>
#include <string.h>

#include "log.h"

G_DEFINE_QUARK(postroom-session-error, session_error)

#define READ_MIN	(64 * 1024)
#define READ_MAX	(16 * 1024 * 1024)
#define SET_MAX		8000	/* characters of a uid set in one command */

struct session {
	struct conn conn;
	GByteArray *in;		/* received, not yet parsed */
	gsize need;		/* parse again once in->len reaches it */
	guint tag;
	GHashTable *caps;	/* upper-case capability words, after login */
	char *idle_tag;		/* while IDLE */
};

/* ---- responses ------------------------------------------------------------------ */

/* command - send "TAG text"; the tag, for matching the completion */
static char *
command(struct session *s, const char *text, GError **err)
{
	char *tag = g_strdup_printf("F%u", ++s->tag);
	g_autofree char *line = g_strdup_printf("%s %s\r\n", tag, text);

	log_debug("imap: > %s %.200s", tag, text);
	if (!conn_send(&s->conn, line, strlen(line), err)) {
		g_free(tag);
		return NULL;
	}
	return tag;
}

/* receive - read more bytes into the buffer: up to what the parser asked for */
static gboolean
receive(struct session *s, gint64 *until, GError **err)
{
	gsize want = READ_MIN, n;
	int rc;

	if (s->need > s->in->len && s->need - s->in->len > want)
		want = MIN(s->need - s->in->len, READ_MAX);
	rc = conn_recv(&s->conn, s->in, want, &n);
	if (rc == CURLE_AGAIN)
		return conn_wait(&s->conn, POLLIN, *until, err);
	if (rc != CURLE_OK) {
		s->conn.broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "connection to %s lost: %s",
		    s->conn.where, conn_error(&s->conn, rc));
		return FALSE;
	}
	if (n == 0) {
		s->conn.broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection",
		    s->conn.where);
		return FALSE;
	}
	*until = conn_deadline(&s->conn);
	return TRUE;
}

/* parse - the response at the front of the buffer: 1; 0 when more bytes
 * must come first; -1 with err when the server broke the protocol or said
 * BYE */
static int
parse(struct session *s, struct imap_resp *r, GError **err)
{
	g_autoptr(GError) e = NULL;
	gsize need = 0;

	if (s->in->len < s->need)
		return 0;
	switch (imap_parse(s->in->data, s->in->len, r, &need, &e)) {
	case IMAP_MORE:
		s->need = need;
		return 0;
	case IMAP_ERROR:
		s->conn.broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: %s",
		    s->conn.where, e->message);
		return -1;
	case IMAP_DONE:
		break;
	}
	s->need = 0;
	if (r->kind == IMAP_UNTAGGED && strcmp(r->word, "BYE") == 0) {
		s->conn.broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection: BYE %s",
		    s->conn.where, r->text);
		imap_resp_clear(r);
		return -1;
	}
	return 1;
}

/* next - the next whole response, waiting for it; the caller consumes it */
static gboolean
next(struct session *s, struct imap_resp *r, GError **err)
{
	gint64 until = conn_deadline(&s->conn);
	int got;

	while ((got = parse(s, r, err)) == 0)
		if (!receive(s, &until, err))
			return FALSE;
	return got > 0;
}

/* consume - drop a parsed response from the buffer (one that take_body()
 * consumed already is empty: nothing happens) */
static void
consume(struct session *s, struct imap_resp *r)
{
	g_byte_array_remove_range(s->in, 0, r->consumed);
	imap_resp_clear(r);
}

/* take_body - the body of r and consume r: a large body takes the buffer
 * with it (what follows is moved to a new one), a small one is copied */
static GBytes *
take_body(struct session *s, struct imap_resp *r)
{
	GBytes *body;

	if (!r->body_quoted && r->body_len >= READ_MIN && r->body_len >= s->in->len / 2) {
		gsize rest = s->in->len - r->consumed;
		GByteArray *next = g_byte_array_sized_new(MAX(rest, READ_MIN));
		g_autoptr(GBytes) all = NULL;

		g_byte_array_append(next, s->in->data + r->consumed, rest);
		all = g_byte_array_free_to_bytes(s->in);
		s->in = next;
		body = imap_resp_body(r, all);
		imap_resp_clear(r);
		return body;
	}
	if (r->body_quoted) {
		g_autoptr(GBytes) view = g_bytes_new_static(s->in->data, s->in->len);

		body = imap_resp_body(r, view);
	} else {
		body = g_bytes_new(s->in->data + r->body_off, r->body_len);
	}
	consume(s, r);
	return body;
}

/* completed - r completes tag: TRUE for OK, FALSE with err for NO/BAD */
static gboolean
completed(struct session *s, struct imap_resp *r, const char *what, GError **err)
{
	if (strcmp(r->word, "OK") == 0)
		return TRUE;
	g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "%s refused %s: %s %s", s->conn.where,
	    what, r->word, r->text);
	return FALSE;
}

/* is_tagged - r is the completion of tag; another tag is a protocol error */
static int
is_tagged(struct session *s, struct imap_resp *r, const char *tag, GError **err)
{
	if (r->kind == IMAP_UNTAGGED)
		return 0;
	if (r->kind == IMAP_TAGGED && strcmp(r->tag, tag) == 0)
		return 1;
	s->conn.broken = TRUE;
	g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: "
	    "unexpected %s%s", s->conn.where, r->kind == IMAP_CONTINUE ? "continuation" : "tag ",
	    r->tag ? r->tag : "");
	return -1;
}

/* what a command makes of one of its untagged responses; r is consumed
 * after it returns (unless it consumed r itself, with take_body()) */
typedef void (*untagged_fn)(struct session *s, struct imap_resp *r, void *data);

/* await_completion - read the responses to the command sent as tag up to its
 * completion, which is left in *done for the caller to judge and consume;
 * each untagged response on the way goes to fn (NULL: ignored) */
static gboolean
await_completion(struct session *s, const char *tag, untagged_fn fn, void *data,
    struct imap_resp *done, GError **err)
{
	for (;;) {
		int t;

		if (!next(s, done, err))
			return FALSE;
		if ((t = is_tagged(s, done, tag, err)) < 0) {
			imap_resp_clear(done);
			return FALSE;
		}
		if (t > 0)
			return TRUE;
		if (fn)
			fn(s, done, data);
		consume(s, done);
	}
}

/* await - the command sent as tag runs to its completion (its untagged
 * responses to fn, as await_completion): TRUE for OK, FALSE with err for
 * NO or BAD ("HOST refused what: ...") */
static gboolean
await(struct session *s, const char *tag, const char *what, untagged_fn fn, void *data,
    GError **err)
{
	struct imap_resp r;
	gboolean ok;

	if (!await_completion(s, tag, fn, data, &r, err))
		return FALSE;
	ok = completed(s, &r, what, err);
	consume(s, &r);
	return ok;
}

/* simple - a command whose untagged responses do not matter */
static gboolean
simple(struct session *s, const char *cmd, GError **err)
{
	g_autofree char *tag = command(s, cmd, err);

	return tag && await(s, tag, cmd, NULL, NULL, err);
}

/* ---- the session -------------------------------------------------------------- */

/* add_folder_news - what SELECT and EXAMINE say of the folder, into a
 * struct session_folder */
static void
add_folder_news(struct session *s, struct imap_resp *r, void *data)
{
	struct session_folder *f = data;

	if (strcmp(r->word, "OK") == 0) {
		/* imap_resp_code() sets the value only when it finds the code */
		if (!imap_resp_code(r, "UIDVALIDITY", &f->uidvalidity))
			imap_resp_code(r, "UIDNEXT", &f->uidnext);
	} else if (strcmp(r->word, "EXISTS") == 0 && r->has_number) {
		f->exists = r->number;
	}
}

gboolean
session_select(struct session *s, const char *folder, gboolean writable, struct session_folder *f,
    GError **err)
{
	g_autofree char *q = imap_quote(folder);
	g_autofree char *cmd = NULL, *tag = NULL, *what = NULL;
	struct imap_resp done;
	gboolean ok;

	memset(f, 0, sizeof *f);
	if (!q) {
		g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "folder \"%s\" cannot be named in IMAP",
		    folder);
		return FALSE;
	}
	cmd = g_strdup_printf("%s %s", writable ? "SELECT" : "EXAMINE", q);
	if (!(tag = command(s, cmd, err)))
		return FALSE;
	if (!await_completion(s, tag, add_folder_news, f, &done, err))
		return FALSE;
	what = g_strdup_printf("to open folder %s", folder);
	ok = completed(s, &done, what, err);
	if (ok && writable && done.text && g_ascii_strncasecmp(done.text, "[READ-ONLY]", 11) == 0) {
		g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "%s opened %s read-only: "
		    "after_fetch needs to change it", s->conn.where, folder);
		ok = FALSE;
	}
	consume(s, &done);
	if (ok && f->uidvalidity == 0) {
		g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s gave no UIDVALIDITY for %s",
		    s->conn.where, folder);
		return FALSE;
	}
	return ok;
}

gboolean
session_examine(struct session *s, const char *folder, guint32 *uidvalidity, guint32 *exists,
    GError **err)
{
	struct session_folder f;

	*exists = 0;
	if (!session_select(s, folder, FALSE, &f, err))
		return FALSE;
	*uidvalidity = f.uidvalidity;
	*exists = f.exists;
	return TRUE;
}

gboolean
session_noop(struct session *s, GError **err)
{
	return simple(s, "NOOP", err);
}

/* add_capabilities - the words of "* CAPABILITY ..." into s->caps */
static void
add_capabilities(struct session *s, struct imap_resp *r, void *unused)
{
	g_auto(GStrv) words = NULL;

	if (strcmp(r->word, "CAPABILITY") != 0 || !r->text)
		return;
	words = g_strsplit(r->text, " ", -1);
	for (char **w = words; *w; w++)
		if (**w)
			g_hash_table_add(s->caps, g_ascii_strup(*w, -1));
}

/* capability - CAPABILITY, remembered; a server that refuses has none */
static gboolean
capability(struct session *s, GError **err)
{
	g_autofree char *tag = command(s, "CAPABILITY", err);
	struct imap_resp done;

	if (!tag || !await_completion(s, tag, add_capabilities, NULL, &done, err))
		return FALSE;
	consume(s, &done);
	return TRUE;
}

gboolean
session_has(const struct session *s, const char *cap)
{
	return g_hash_table_contains(s->caps, cap);
}

/* argument - send what comes before an astring and the astring itself: a
 * quoted string, or a literal after the server's go-ahead */
static gboolean
argument(struct session *s, GString *line, const char *value, GError **err)
{
	g_autofree char *q = imap_astring(value);
	struct imap_resp r;
	gboolean go;

	if (q) {
		g_string_append(line, q);
		return TRUE;
	}
	g_string_append_printf(line, "{%zu}\r\n", strlen(value));
	go = conn_send(&s->conn, line->str, line->len, err);
	explicit_bzero(line->str, line->len);
	g_string_truncate(line, 0);
	if (!go || !next(s, &r, err))
		return FALSE;
	go = r.kind == IMAP_CONTINUE;
	if (!go)
		g_set_error(err, SESSION_ERROR, SESSION_AUTH, "%s refused the login: %s %s",
		    s->conn.where, r.word ? r.word : "", r.text ? r.text : "");
	consume(s, &r);
	if (go)
		g_string_append(line, value);
	return go;
}

/* login - LOGIN user password, for auth = pass (the command is not logged) */
static gboolean
login(struct session *s, const struct config_account *a, const char *password, GError **err)
{
	g_autofree char *tag = g_strdup_printf("F%u", ++s->tag);
	GString *line = g_string_new(NULL);
	struct imap_resp done;
	gboolean ok;

	log_debug("imap: > %s LOGIN (not shown)", tag);
	g_string_append_printf(line, "%s LOGIN ", tag);
	ok = argument(s, line, a->user, err);
	if (ok) {
		g_string_append_c(line, ' ');
		ok = argument(s, line, password, err);
	}
	if (ok) {
		g_string_append(line, "\r\n");
		ok = conn_send(&s->conn, line->str, line->len, err);
	}
	explicit_bzero(line->str, line->len);
	g_string_free(line, TRUE);
	if (!ok || !await_completion(s, tag, NULL, NULL, &done, err))
		return FALSE;
	if (strcmp(done.word, "OK") != 0) {
		g_set_error(err, SESSION_ERROR, SESSION_AUTH, "login refused for %s on %s: check "
		    "user and password (app password?): %s %.160s", a->user, s->conn.where,
		    done.word, done.text);
		ok = FALSE;
	}
	consume(s, &done);
	return ok;
}

struct session *
session_open(const struct session_opts *o, GError **err)
{
	const struct config_account *a = o->account;
	struct session *s = g_new0(struct session, 1);

	s->in = g_byte_array_new();
	s->caps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (!conn_open(&s->conn, o, err)
	    || (a->auth == AUTH_PASS && !login(s, a, o->password, err))
	    || !capability(s, err)) {
		session_close(s);
		return NULL;
	}
	return s;
}

int
session_fd(const struct session *s)
{
	return s->conn.fd;
}

/* add_search_uids - the numbers of "* SEARCH 1 2 3" into a GArray of guint32 */
static void
add_search_uids(struct session *s, struct imap_resp *r, void *data)
{
	GArray *uids = data;
	g_auto(GStrv) words = NULL;

	if (strcmp(r->word, "SEARCH") != 0)
		return;
	words = g_strsplit(r->text ? r->text : "", " ", -1);
	for (char **w = words; *w; w++) {
		guint64 v;

		if (**w && g_ascii_string_to_unsigned(*w, 10, 1, G_MAXUINT32, &v, NULL)) {
			guint32 u = (guint32)v;

			g_array_append_val(uids, u);
		}
	}
}

/* cmp_u32 - order of guint32 */
static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

GArray *
session_search_since(struct session *s, GDateTime *since, GError **err)
{
	g_autoptr(GArray) uids = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_autofree char *date = imap_search_date(since);
	g_autofree char *cmd = g_strdup_printf("UID SEARCH SINCE %s", date);
	g_autofree char *tag = command(s, cmd, err);

	if (!tag || !await(s, tag, "to search by date", add_search_uids, uids, err))
		return NULL;
	g_array_sort(uids, cmp_u32);
	return g_steal_pointer(&uids);
}

/* msgid_clear - a struct session_msgid's string */
static void
msgid_clear(gpointer p)
{
	g_free(((struct session_msgid *)p)->message_id);
}

/* by_msgid_uid - order of struct session_msgid */
static gint
by_msgid_uid(gconstpointer a, gconstpointer b)
{
	guint32 x = ((const struct session_msgid *)a)->uid, y = ((const struct session_msgid *)b)->uid;

	return x < y ? -1 : x > y;
}

/* add_message_id - a FETCH of Message-ID header lines into a GArray of
 * struct session_msgid */
static void
add_message_id(struct session *s, struct imap_resp *r, void *data)
{
	GArray *ids = data;
	struct session_msgid m;

	if (strcmp(r->word, "FETCH") != 0 || !r->has_uid)
		return;
	m.uid = r->uid;
	m.message_id = NULL;
	if (r->has_header) {
		g_autoptr(GBytes) view = g_bytes_new_static(s->in->data, s->in->len);
		g_autoptr(GBytes) h = imap_resp_header(r, view);
		gsize len;
		const guint8 *p = g_bytes_get_data(h, &len);

		m.message_id = imap_message_id(p, len);
	}
	g_array_append_val(ids, m);
}

GArray *
session_message_ids(struct session *s, GError **err)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, TRUE, sizeof(struct session_msgid));
	g_autofree char *tag = NULL;

	g_array_set_clear_func(ids, msgid_clear);
	tag = command(s, "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", err);
	if (!tag || !await(s, tag, "to list Message-IDs", add_message_id, ids, err))
		return NULL;
	g_array_sort(ids, by_msgid_uid);
	return g_steal_pointer(&ids);
}

gboolean
session_after_fetch(struct session *s, const struct config_account *a, const guint32 *uids,
    guint n, guint *done, GError **err)
{
	*done = 0;
	while (*done < n) {
		guint used;
		g_autofree char *set = imap_uid_set(uids + *done, n - *done, SET_MAX, &used);
		g_autoptr(GPtrArray) cmds = imap_after_fetch_commands(a->after_fetch,
		    a->after_fetch_folder, session_has(s, "MOVE"), session_has(s, "UIDPLUS"), set);

		if (a->after_fetch == AFTER_FETCH_MOVE && cmds->len == 0) {
			g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "after_fetch: folder \"%s\" "
			    "cannot be named in IMAP", a->after_fetch_folder);
			return FALSE;
		}
		for (guint i = 0; i < cmds->len; i++)
			if (!simple(s, cmds->pdata[i], err))
				return FALSE;
		*done += used;
	}
	return TRUE;
}

/* ---- IDLE ----------------------------------------------------------------------- */

/* note_news - "* N EXISTS" announces new mail: the gboolean at news
 * becomes TRUE */
static void
note_news(struct session *s, struct imap_resp *r, void *news)
{
	if (r->kind == IMAP_UNTAGGED && r->has_number && strcmp(r->word, "EXISTS") == 0)
		*(gboolean *)news = TRUE;
}

gboolean
session_idle_start(struct session *s, gboolean *news, GError **err)
{
	g_autofree char *tag = command(s, "IDLE", err);

	if (!tag)
		return FALSE;
	for (;;) {
		struct imap_resp r;

		if (!next(s, &r, err))
			return FALSE;
		if (r.kind == IMAP_CONTINUE) {
			consume(s, &r);
			s->idle_tag = g_steal_pointer(&tag);
			return TRUE;
		}
		if (r.kind == IMAP_TAGGED) {
			if (is_tagged(s, &r, tag, err) > 0)
				completed(s, &r, "IDLE", err);
			imap_resp_clear(&r);
			s->conn.broken = TRUE;
			if (err && !*err)
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s ended IDLE at once",
				    s->conn.where);
			return FALSE;
		}
		note_news(s, &r, news);
		consume(s, &r);
	}
}

gboolean
session_idling(const struct session *s)
{
	return s->idle_tag != NULL;
}

gboolean
session_idle_poll(struct session *s, gboolean *news, GError **err)
{
	/* read whatever has come, without waiting: TLS may hold decrypted
	 * bytes the socket no longer shows, so read until libcurl says AGAIN */
	for (;;) {
		gsize n;
		int rc = conn_recv(&s->conn, s->in, READ_MIN, &n);

		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK || n == 0) {
			s->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection while "
			    "idle%s%s", s->conn.where, rc != CURLE_OK ? ": " : "",
			    rc != CURLE_OK ? conn_error(&s->conn, rc) : "");
			return FALSE;
		}
		if (s->in->len > IMAP_LINE_MAX * 4) {
			s->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s sent too much while idle",
			    s->conn.where);
			return FALSE;
		}
	}
	for (;;) {
		struct imap_resp r;
		int got;

		if (s->in->len == 0)
			return TRUE;
		if ((got = parse(s, &r, err)) <= 0)
			return got == 0;
		if (r.kind != IMAP_UNTAGGED) {
			s->conn.broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: "
			    "a %s while idle", s->conn.where, r.kind == IMAP_TAGGED ? "tagged response" :
			    "continuation");
			imap_resp_clear(&r);
			return FALSE;
		}
		note_news(s, &r, news);
		consume(s, &r);
	}
}

gboolean
session_idle_done(struct session *s, gboolean *news, GError **err)
{
	g_autofree char *tag = g_steal_pointer(&s->idle_tag);

	g_assert(tag != NULL);
	log_debug("imap: > DONE");
	if (!conn_send(&s->conn, "DONE\r\n", 6, err))
		return FALSE;
	return await(s, tag, "IDLE", note_news, news, err);
}

/* ---- listing and fetching --------------------------------------------------------- */

/* by_uid - order of struct session_msg */
static gint
by_uid(gconstpointer a, gconstpointer b)
{
	guint32 x = ((const struct session_msg *)a)->uid, y = ((const struct session_msg *)b)->uid;

	return x < y ? -1 : x > y;
}

/* what a listing keeps: the messages above after */
struct listing {
	GArray *msgs;		/* of struct session_msg */
	guint32 after;
};

/* add_listed - "* N FETCH (UID u RFC822.SIZE n)" above after, into the listing */
static void
add_listed(struct session *s, struct imap_resp *r, void *data)
{
	struct listing *l = data;

	if (strcmp(r->word, "FETCH") == 0 && r->has_uid && r->has_size && r->uid > l->after) {
		struct session_msg m = { r->uid, r->size };

		g_array_append_val(l->msgs, m);
	}
}

/* list_read - the answer to "UID FETCH set (UID RFC822.SIZE)" sent as tag:
 * the messages above after, by uid */
static GArray *
list_read(struct session *s, const char *tag, guint32 after, GError **err)
{
	g_autoptr(GArray) msgs = g_array_new(FALSE, FALSE, sizeof(struct session_msg));
	struct listing l = { msgs, after };
	guint keep = 0;

	if (!await(s, tag, "to list messages", add_listed, &l, err))
		return NULL;
	g_array_sort(msgs, by_uid);
	for (guint i = 0; i < msgs->len; i++)
		if (keep == 0 || g_array_index(msgs, struct session_msg, keep - 1).uid
		    != g_array_index(msgs, struct session_msg, i).uid)
			g_array_index(msgs, struct session_msg, keep++) = g_array_index(msgs,
			    struct session_msg, i);
	g_array_set_size(msgs, keep);
	return g_steal_pointer(&msgs);
}

/* list - "UID FETCH set (UID RFC822.SIZE)": the messages above after, by uid */
static GArray *
list(struct session *s, const char *set, guint32 after, GError **err)
{
	g_autofree char *cmd = g_strdup_printf("UID FETCH %s (UID RFC822.SIZE)", set);
	g_autofree char *tag = command(s, cmd, err);

	return tag ? list_read(s, tag, after, err) : NULL;
}

GArray *
session_idle_done_list(struct session *s, guint32 after, gboolean *news, GError **err)
{
	g_autofree char *idle = g_steal_pointer(&s->idle_tag);
	g_autofree char *tag = NULL, *out = NULL;

	g_assert(idle != NULL);
	if (after == G_MAXUINT32) {
		s->idle_tag = g_steal_pointer(&idle);
		return session_idle_done(s, news, err) ?
		    g_array_new(FALSE, FALSE, sizeof(struct session_msg)) : NULL;
	}
	/* one write, one round trip: the IDLE ends and the listing follows */
	tag = g_strdup_printf("F%u", ++s->tag);
	out = g_strdup_printf("DONE\r\n%s UID FETCH %" G_GUINT32_FORMAT ":* (UID RFC822.SIZE)\r\n",
	    tag, after + 1);
	log_debug("imap: > DONE, %s UID FETCH %" G_GUINT32_FORMAT ":* (UID RFC822.SIZE)", tag,
	    after + 1);
	if (!conn_send(&s->conn, out, strlen(out), err)
	    || !await(s, idle, "IDLE", note_news, news, err))
		return NULL;
	return list_read(s, tag, after, err);
}

GArray *
session_list(struct session *s, guint32 after, GError **err)
{
	g_autofree char *set = NULL;

	if (after == G_MAXUINT32)
		return g_array_new(FALSE, FALSE, sizeof(struct session_msg));
	/* "n:*" always matches the highest uid, even below n: list() filters */
	set = g_strdup_printf("%" G_GUINT32_FORMAT ":*", after + 1);
	return list(s, set, after, err);
}

GArray *
session_present(struct session *s, const guint32 *uids, guint n, GError **err)
{
	g_autofree char *set = NULL;
	guint used;

	if (n == 0)
		return g_array_new(FALSE, FALSE, sizeof(struct session_msg));
	set = imap_uid_set(uids, n, SET_MAX, &used);
	return list(s, set, 0, err);
}

/* the bodies a UID FETCH asked for, and where each one goes */
struct fetching {
	const guint32 *uids;	/* asked for, sorted */
	guint n;
	gboolean *seen;		/* which of them came already */
	session_body_fn fn;
	void *data;
};

/* take_fetched - a body asked for goes to the caller's function;
 * unsolicited FETCH (flag changes) and answers twice over are ignored */
static void
take_fetched(struct session *s, struct imap_resp *r, void *data)
{
	struct fetching *fe = data;
	const guint32 *hit;
	guint32 uid;

	hit = strcmp(r->word, "FETCH") == 0 && r->has_uid && r->has_body ?
	    bsearch(&r->uid, fe->uids, fe->n, sizeof *fe->uids, cmp_u32) : NULL;
	if (!hit || fe->seen[hit - fe->uids])
		return;
	fe->seen[hit - fe->uids] = TRUE;
	uid = r->uid;	/* take_body() clears r */
	fe->fn(uid, take_body(s, r), fe->data);
}

gboolean
session_fetch(struct session *s, const guint32 *uids, guint n, session_body_fn fn, void *data,
    guint *asked, GError **err)
{
	g_autofree gboolean *seen = g_new0(gboolean, n ? n : 1);
	g_autofree char *set = NULL, *cmd = NULL, *tag = NULL;
	struct fetching fe = { uids, 0, seen, fn, data };
	guint used;

	*asked = 0;
	if (n == 0)
		return TRUE;
	set = imap_uid_set(uids, n, SET_MAX, &used);
	fe.n = *asked = used;
	cmd = g_strdup_printf("UID FETCH %s (UID RFC822.SIZE BODY.PEEK[])", set);
	if (!(tag = command(s, cmd, err)))
		return FALSE;
	return await(s, tag, "to fetch messages", take_fetched, &fe, err);
}

void
session_close(struct session *s)
{
	if (!s)
		return;
	if (conn_closing(&s->conn)) {
		g_autoptr(GError) e = NULL;
		gboolean news = FALSE;

		if (!s->idle_tag || session_idle_done(s, &news, &e))
			simple(s, "LOGOUT", &e);
	}
	conn_close(&s->conn);
	g_byte_array_unref(s->in);
	g_hash_table_unref(s->caps);
	g_free(s->idle_tag);
	g_free(s);
}
