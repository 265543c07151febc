/*
 * session - one IMAP session.
 *
 * libcurl connects, wraps TLS (imaps://, or STARTTLS required), reads the
 * greeting and logs in: a CURLOPT_CONNECT_ONLY handle comes back from
 * curl_easy_perform() at exactly that point.  From there we speak IMAP
 * ourselves over curl_easy_send()/curl_easy_recv(), because libcurl's URL
 * interface would set \Seen (it fetches BODY[]), cannot deliver a large
 * BODY.PEEK[] literal and cannot pipeline.
 *
 * Every wait is a poll() on the connection's socket, at most a second at a
 * time so that a stop request is seen, and at most timeout seconds without a
 * byte moving.  Responses are parsed by imap_parse() from one buffer; a large
 * body leaves as a slice of that buffer, so a message costs its size once.
 */
#include "fetchd.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"

G_DEFINE_QUARK(postroom-session-error, session_error)

#define READ_MIN	(64 * 1024)
#define READ_MAX	(16 * 1024 * 1024)
#define SET_MAX		8000	/* characters of a uid set in one command */

struct session {
	CURL *curl;
	curl_socket_t fd;
	GByteArray *in;		/* received, not yet parsed */
	gsize need;		/* parse again once in->len reaches it */
	int timeout;
	guint tag;
	gboolean broken;	/* after an error: no LOGOUT, just close */
	char *where;		/* host:port, for messages */
	gboolean (*cancel)(void);
	char errbuf[CURL_ERROR_SIZE];
};

/* in_class - rc is one of codes (ending with -1) */
static gboolean
in_class(int rc, const int *codes)
{
	for (; *codes >= 0; codes++)
		if (rc == *codes)
			return TRUE;
	return FALSE;
}

char *
session_cause(int rc, long os_errno, const char *errbuf, const struct config_account *a,
    int timeout)
{
	static const int tls[] = {
		CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
		CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_INITFAILED,
		CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
		CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, -1
	};
	const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
	const char *hint = "does tls= match the port? implicit is 993, starttls 143";
	g_autofree char *hp = g_strdup_printf("%s:%d", a->host, a->port);

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return g_strdup_printf("host not found: %s", a->host);
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED)
			return g_strdup_printf("nothing listening on %s (connection refused)", hp);
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return g_strdup_printf("no route to %s (%s)", hp, g_strerror(os_errno));
		if (os_errno)
			return g_strdup_printf("unable to connect to %s: %s", hp, g_strerror(os_errno));
		return g_strdup_printf("unable to connect to %s: %s", hp, detail);
	case CURLE_LOGIN_DENIED:
		return g_strdup_printf("login refused for %s on %s: check user and password "
		    "(app password?)", a->user, hp);
	case CURLE_USE_SSL_FAILED:
		return g_strdup_printf("%s does not offer STARTTLS (tls = starttls requires it; "
		    "tls = implicit for port 993?)", hp);
	case CURLE_PEER_FAILED_VERIFICATION:
		return g_strdup_printf("certificate of %s not trusted: %s (tls_ca_file = the CA "
		    "that signed it?)", hp, detail);
	case CURLE_SSL_CACERT_BADFILE:
		return g_strdup_printf("TLS failed: tls_ca_file %s unusable: %s", a->tls_ca_file, detail);
	case CURLE_OPERATION_TIMEDOUT:
		return g_strdup_printf("no answer from %s within %ds (%s)", hp, timeout, hint);
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_GOT_NOTHING:
		return g_strdup_printf("unexpected answer from %s: %s (an IMAP server? %s)", hp, detail,
		    hint);
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return g_strdup_printf("connection to %s broken: %s (%s)", hp, detail, hint);
	default:
		if (in_class(rc, tls))
			return g_strdup_printf("TLS failed with %s: %s (%s)", hp, detail, hint);
		return g_strdup_printf("unable to reach %s: %s", hp, detail);
	}
}

/* url - scheme://host:port/ for the account, through libcurl's URL parser */
static char *
url(const struct config_account *a, GError **err)
{
	CURLU *u = curl_url();
	g_autofree char *port = g_strdup_printf("%d", a->port);
	g_autofree char *host = NULL;
	char *s = NULL, *out;

	/* an IPv6 address goes in brackets */
	host = strchr(a->host, ':') && a->host[0] != '[' ? g_strdup_printf("[%s]", a->host) :
	    g_strdup(a->host);
	if (curl_url_set(u, CURLUPART_SCHEME, a->tls == TLS_IMPLICIT ? "imaps" : "imap", 0)
	    || curl_url_set(u, CURLUPART_HOST, host, 0)
	    || curl_url_set(u, CURLUPART_PORT, port, 0)
	    || curl_url_set(u, CURLUPART_PATH, "/", 0)
	    || curl_url_get(u, CURLUPART_URL, &s, 0)) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "host %s: not a host name or address",
		    a->host);
		curl_url_cleanup(u);
		return NULL;
	}
	out = g_strdup(s);
	curl_free(s);
	curl_url_cleanup(u);
	return out;
}

/* progress - libcurl asks while it connects: stop when we are stopping */
static int
progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct session *s = p;

	return s->cancel && s->cancel() ? 1 : 0;
}

struct session *
session_open(const struct session_opts *o, GError **err)
{
	const struct config_account *a = o->account;
	g_autofree char *u = url(a, err);
	struct session *s;
	curl_socket_t fd;
	CURLcode rc;

	if (!u)
		return NULL;
	s = g_new0(struct session, 1);
	s->curl = curl_easy_init();
	s->fd = CURL_SOCKET_BAD;
	s->in = g_byte_array_new();
	s->timeout = o->timeout;
	s->cancel = o->cancel;
	s->where = g_strdup_printf("%s:%d", a->host, a->port);
	if (!s->curl) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "libcurl: unable to make a handle");
		session_close(s);
		return NULL;
	}
	curl_easy_setopt(s->curl, CURLOPT_URL, u);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(s->curl, CURLOPT_USERNAME, a->user);
	curl_easy_setopt(s->curl, CURLOPT_PASSWORD, o->password);
	curl_easy_setopt(s->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, (long)o->timeout);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	if (a->tls == TLS_STARTTLS)
		curl_easy_setopt(s->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (a->tls != TLS_NONE && *a->tls_ca_file)
		curl_easy_setopt(s->curl, CURLOPT_CAINFO, a->tls_ca_file);

	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		g_set_error(err, SESSION_ERROR, SESSION_CANCELLED, "stopping");
		session_close(s);
		return NULL;
	}
	if (rc != CURLE_OK) {
		g_autofree char *cause = NULL;
		long os_errno = 0;

		curl_easy_getinfo(s->curl, CURLINFO_OS_ERRNO, &os_errno);
		cause = session_cause(rc, os_errno, s->errbuf, a, o->timeout);

		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s", cause);
		session_close(s);
		return NULL;
	}
	rc = curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd);
	if (rc != CURLE_OK || fd == CURL_SOCKET_BAD) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s: no socket after login", s->where);
		session_close(s);
		return NULL;
	}
	s->fd = fd;
	return s;
}

/* wait_fd - until the socket is ready for events, or the deadline passes */
static gboolean
wait_fd(struct session *s, short events, gint64 deadline, GError **err)
{
	for (;;) {
		struct pollfd p = { s->fd, events, 0 };
		gint64 left = deadline - g_get_monotonic_time();
		int rc;

		if (s->cancel && s->cancel()) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CANCELLED, "stopping");
			return FALSE;
		}
		if (left <= 0) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_TIMEOUT, "%s sent nothing for %ds",
			    s->where, s->timeout);
			return FALSE;
		}
		rc = poll(&p, 1, (int)MIN(left / 1000 + 1, 1000));
		if (rc > 0)
			return TRUE;
		if (rc < 0 && errno != EINTR) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "poll: %s", g_strerror(errno));
			return FALSE;
		}
	}
}

/* deadline - when silence from now on becomes a timeout */
static gint64
deadline(const struct session *s)
{
	return g_get_monotonic_time() + (gint64)s->timeout * G_USEC_PER_SEC;
}

/* send_all - every byte of data, waiting while the socket is full */
static gboolean
send_all(struct session *s, const char *data, gsize len, GError **err)
{
	gint64 until = deadline(s);
	gsize off = 0;

	while (off < len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(s->curl, data + off, len - off, &n);

		if (rc == CURLE_AGAIN) {
			if (!wait_fd(s, POLLOUT, until, err))
				return FALSE;
			continue;
		}
		if (rc != CURLE_OK) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "connection to %s lost: %s",
			    s->where, *s->errbuf ? s->errbuf : curl_easy_strerror(rc));
			return FALSE;
		}
		off += n;
		until = deadline(s);
	}
	return TRUE;
}

/* command - send "TAG text"; the tag, for matching the completion */
static char *
command(struct session *s, const char *text, GError **err)
{
	char *tag = g_strdup_printf("F%u", ++s->tag);
	g_autofree char *line = g_strdup_printf("%s %s\r\n", tag, text);

	log_debug("imap: > %s %.200s", tag, text);
	if (!send_all(s, line, strlen(line), err)) {
		g_free(tag);
		return NULL;
	}
	return tag;
}

/* receive - read more bytes into the buffer: up to what the parser asked for */
static gboolean
receive(struct session *s, gint64 *until, GError **err)
{
	gsize old = s->in->len, want = READ_MIN;
	size_t n = 0;
	CURLcode rc;

	if (s->need > old && s->need - old > want)
		want = MIN(s->need - old, READ_MAX);
	g_byte_array_set_size(s->in, old + want);
	*s->errbuf = '\0';
	rc = curl_easy_recv(s->curl, s->in->data + old, want, &n);
	g_byte_array_set_size(s->in, old + (rc == CURLE_OK ? n : 0));
	if (rc == CURLE_AGAIN)
		return wait_fd(s, POLLIN, *until, err);
	if (rc != CURLE_OK) {
		s->broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "connection to %s lost: %s", s->where,
		    *s->errbuf ? s->errbuf : curl_easy_strerror(rc));
		return FALSE;
	}
	if (n == 0) {
		s->broken = TRUE;
		g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection", s->where);
		return FALSE;
	}
	*until = deadline(s);
	return TRUE;
}

/* next - the next whole response; the caller consumes it */
static gboolean
next(struct session *s, struct imap_resp *r, GError **err)
{
	gint64 until = deadline(s);

	for (;;) {
		if (s->in->len >= s->need) {
			g_autoptr(GError) e = NULL;
			gsize need = 0;

			switch (imap_parse(s->in->data, s->in->len, r, &need, &e)) {
			case IMAP_DONE:
				s->need = 0;
				if (r->kind == IMAP_UNTAGGED && strcmp(r->word, "BYE") == 0) {
					s->broken = TRUE;
					g_set_error(err, SESSION_ERROR, SESSION_CLOSED,
					    "%s closed the connection: BYE %s", s->where, r->text);
					imap_resp_clear(r);
					return FALSE;
				}
				return TRUE;
			case IMAP_ERROR:
				s->broken = TRUE;
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL,
				    "%s broke the IMAP protocol: %s", s->where, e->message);
				return FALSE;
			case IMAP_MORE:
				s->need = need;
				break;
			}
		}
		if (!receive(s, &until, err))
			return FALSE;
	}
}

/* consume - drop a parsed response from the buffer */
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
	g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "%s refused %s: %s %s", s->where, what,
	    r->word, r->text);
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
	s->broken = TRUE;
	g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: "
	    "unexpected %s%s", s->where, r->kind == IMAP_CONTINUE ? "continuation" : "tag ",
	    r->tag ? r->tag : "");
	return -1;
}

gboolean
session_examine(struct session *s, const char *folder, guint32 *uidvalidity, guint32 *exists,
    GError **err)
{
	g_autofree char *q = imap_quote(folder);
	g_autofree char *cmd = NULL, *tag = NULL, *what = NULL;
	gboolean seen = FALSE;

	if (!q) {
		g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "folder \"%s\" cannot be named in IMAP",
		    folder);
		return FALSE;
	}
	*exists = 0;
	cmd = g_strdup_printf("EXAMINE %s", q);
	if (!(tag = command(s, cmd, err)))
		return FALSE;
	what = g_strdup_printf("to open folder %s", folder);
	for (;;) {
		struct imap_resp r;
		int t;

		if (!next(s, &r, err))
			return FALSE;
		if ((t = is_tagged(s, &r, tag, err)) < 0) {
			imap_resp_clear(&r);
			return FALSE;
		}
		if (t > 0) {
			gboolean ok = completed(s, &r, what, err);

			consume(s, &r);
			if (ok && !seen) {
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL,
				    "%s gave no UIDVALIDITY for %s", s->where, folder);
				return FALSE;
			}
			return ok;
		}
		if (strcmp(r.word, "OK") == 0 && imap_resp_code(&r, "UIDVALIDITY", uidvalidity))
			seen = *uidvalidity != 0;
		else if (strcmp(r.word, "EXISTS") == 0 && r.has_number)
			*exists = r.number;
		consume(s, &r);
	}
}

/* simple - a command whose untagged responses do not matter */
static gboolean
simple(struct session *s, const char *cmd, GError **err)
{
	g_autofree char *tag = command(s, cmd, err);

	if (!tag)
		return FALSE;
	for (;;) {
		struct imap_resp r;
		int t;
		gboolean ok;

		if (!next(s, &r, err))
			return FALSE;
		if ((t = is_tagged(s, &r, tag, err)) < 0) {
			imap_resp_clear(&r);
			return FALSE;
		}
		if (t == 0) {
			consume(s, &r);
			continue;
		}
		ok = completed(s, &r, cmd, err);
		consume(s, &r);
		return ok;
	}
}

gboolean
session_noop(struct session *s, GError **err)
{
	return simple(s, "NOOP", err);
}

/* by_uid - order of struct session_msg */
static gint
by_uid(gconstpointer a, gconstpointer b)
{
	guint32 x = ((const struct session_msg *)a)->uid, y = ((const struct session_msg *)b)->uid;

	return x < y ? -1 : x > y;
}

/* list - "UID FETCH set (UID RFC822.SIZE)": the messages above after, by uid */
static GArray *
list(struct session *s, const char *set, guint32 after, GError **err)
{
	g_autoptr(GArray) msgs = g_array_new(FALSE, FALSE, sizeof(struct session_msg));
	g_autofree char *cmd = NULL, *tag = NULL;
	guint keep = 0;

	cmd = g_strdup_printf("UID FETCH %s (UID RFC822.SIZE)", set);
	if (!(tag = command(s, cmd, err)))
		return NULL;
	for (;;) {
		struct imap_resp r;
		int t;

		if (!next(s, &r, err))
			return NULL;
		if ((t = is_tagged(s, &r, tag, err)) < 0) {
			imap_resp_clear(&r);
			return NULL;
		}
		if (t > 0) {
			gboolean ok = completed(s, &r, "to list messages", err);

			consume(s, &r);
			if (!ok)
				return NULL;
			break;
		}
		if (strcmp(r.word, "FETCH") == 0 && r.has_uid && r.has_size && r.uid > after) {
			struct session_msg m = { r.uid, r.size };

			g_array_append_val(msgs, m);
		}
		consume(s, &r);
	}
	g_array_sort(msgs, by_uid);
	for (guint i = 0; i < msgs->len; i++)
		if (keep == 0 || g_array_index(msgs, struct session_msg, keep - 1).uid
		    != g_array_index(msgs, struct session_msg, i).uid)
			g_array_index(msgs, struct session_msg, keep++) = g_array_index(msgs,
			    struct session_msg, i);
	g_array_set_size(msgs, keep);
	return g_steal_pointer(&msgs);
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

/* cmp_u32 - order of guint32 */
static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

gboolean
session_fetch(struct session *s, const guint32 *uids, guint n, session_body_fn fn, void *data,
    guint *asked, GError **err)
{
	g_autofree gboolean *seen = g_new0(gboolean, n ? n : 1);
	g_autofree char *set = NULL, *cmd = NULL, *tag = NULL;
	guint used;

	*asked = 0;
	if (n == 0)
		return TRUE;
	set = imap_uid_set(uids, n, SET_MAX, &used);
	n = *asked = used;
	cmd = g_strdup_printf("UID FETCH %s (UID RFC822.SIZE BODY.PEEK[])", set);
	if (!(tag = command(s, cmd, err)))
		return FALSE;
	for (;;) {
		struct imap_resp r;
		guint32 *hit, uid;
		GBytes *body;
		int t;

		if (!next(s, &r, err))
			return FALSE;
		if ((t = is_tagged(s, &r, tag, err)) < 0) {
			imap_resp_clear(&r);
			return FALSE;
		}
		if (t > 0) {
			gboolean ok = completed(s, &r, "to fetch messages", err);

			consume(s, &r);
			return ok;
		}
		/* unsolicited FETCH (flag changes) and answers twice over are ignored */
		hit = strcmp(r.word, "FETCH") == 0 && r.has_uid && r.has_body ?
		    bsearch(&r.uid, uids, n, sizeof *uids, cmp_u32) : NULL;
		if (!hit || seen[hit - uids]) {
			consume(s, &r);
			continue;
		}
		seen[hit - uids] = TRUE;
		uid = r.uid;	/* take_body() clears r */
		body = take_body(s, &r);
		fn(uid, body, data);
	}
}

void
session_close(struct session *s)
{
	if (!s)
		return;
	if (s->curl && s->fd != CURL_SOCKET_BAD && !s->broken) {
		g_autoptr(GError) e = NULL;

		/* be polite, briefly; the answer does not matter */
		s->timeout = MIN(s->timeout, 2);
		s->cancel = NULL;
		simple(s, "LOGOUT", &e);
	}
	if (s->curl)
		curl_easy_cleanup(s->curl);
	g_byte_array_unref(s->in);
	g_free(s->where);
	g_free(s);
}
