/*
 * session - one IMAP session.
 *
 * libcurl connects, wraps TLS (imaps://, or STARTTLS required), reads the
 * greeting and logs in: a CURLOPT_CONNECT_ONLY handle comes back from
 * curl_easy_perform() at exactly that point.  From there we speak IMAP
 * ourselves over curl_easy_send()/curl_easy_recv(), because libcurl's URL
 * interface would set \Seen (it fetches BODY[]), cannot deliver a large
 * BODY.PEEK[] literal, cannot pipeline and has no IDLE.
 *
 * The login: auth = best leaves the choice to libcurl (the strongest SASL
 * mechanism the server offers, XOAUTH2 with a token, else LOGIN); cram-md5,
 * plain, login and xoauth2 name the SASL mechanism (CURLOPT_LOGIN_OPTIONS
 * "AUTH=..."); pass gives libcurl no user at all, so that it stops after the
 * greeting (and STARTTLS), and sends LOGIN here.  What the server says while
 * libcurl connects is kept (the debug callback, CURLINFO_HEADER_IN only:
 * what we send carries the secret and is never looked at), so that a refusal
 * can be told apart from a mechanism the server does not offer.
 *
 * Every wait is a poll() on the connection's socket, at most a second at a
 * time so that a stop request is seen, and at most timeout seconds without a
 * byte moving.  Responses are parsed by imap_parse() from one buffer; a large
 * body leaves as a slice of that buffer, so a message costs its size once.
 * While IDLE, the socket is the caller's to poll (session_fd), and
 * session_idle_poll() reads without waiting.
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
#define SAID_MAX	(16 * 1024)	/* bytes of the server's words kept while connecting */

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
	GHashTable *caps;	/* upper-case capability words, after login */
	char *idle_tag;		/* while IDLE */
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
	const char *scheme;
	char *s = NULL, *out;

	if (a->proto == PROTOCOL_POP3)
		scheme = a->tls == TLS_IMPLICIT ? "pop3s" : "pop3";
	else
		scheme = a->tls == TLS_IMPLICIT ? "imaps" : "imap";
	/* an IPv6 address goes in brackets */
	host = strchr(a->host, ':') && a->host[0] != '[' ? g_strdup_printf("[%s]", a->host) :
	    g_strdup(a->host);
	if (curl_url_set(u, CURLUPART_SCHEME, scheme, 0)
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

/* the connection being made: for libcurl's callbacks */
struct dialing {
	gboolean (*cancel)(void);
	GString *said;
};

/* progress - libcurl asks while it connects: stop when we are stopping */
static int
progress(void *p, curl_off_t dltotal, curl_off_t dltotal_now, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct dialing *d = p;

	return d->cancel && d->cancel() ? 1 : 0;
}

/* heard - libcurl's debug callback: keep what the server says (never what
 * we send: that is where the secret is) */
static int
heard(CURL *c, curl_infotype type, char *data, size_t size, void *p)
{
	struct dialing *d = p;

	if (type == CURLINFO_HEADER_IN && d->said->len < SAID_MAX)
		g_string_append_len(d->said, data, MIN(size, SAID_MAX - d->said->len));
	return 0;
}

const char *
session_login_options(const struct config_account *a)
{
	switch (a->auth) {
	case AUTH_BEST:
		return account_secret_is_token(a, SECRET_MAILBOX) ? "AUTH=XOAUTH2" : NULL;
	case AUTH_PASS:
		return NULL;
	case AUTH_APOP:
		return "AUTH=+APOP";
	case AUTH_CRAM_MD5:
		return "AUTH=CRAM-MD5";
	case AUTH_PLAIN:
		return "AUTH=PLAIN";
	case AUTH_LOGIN:
		return "AUTH=LOGIN";
	case AUTH_XOAUTH2:
		return "AUTH=XOAUTH2";
	}
	return NULL;
}

void
session_curl_setup(CURL *c, const struct config_account *a, const char *secret)
{
	const char *opts = session_login_options(a);

	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, a->proto == PROTOCOL_POP3 ? "pop3,pop3s" :
	    "imap,imaps");
	if (a->auth != AUTH_PASS && secret) {
		curl_easy_setopt(c, CURLOPT_USERNAME, a->user);
		if (account_secret_is_token(a, SECRET_MAILBOX))
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, secret);
		else
			curl_easy_setopt(c, CURLOPT_PASSWORD, secret);
		if (opts)
			curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, opts);
	}
	if (a->tls == TLS_STARTTLS)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (a->tls != TLS_NONE && *a->tls_ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->tls_ca_file);
	if (a->tls != TLS_NONE && !a->tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* offered - the SASL mechanisms the server named while libcurl connected:
 * IMAP "AUTH=X" capabilities, POP3 "SASL X Y" in CAPA, "APOP" for a POP3
 * greeting with a timestamp; upper case, space-separated */
char *
session_offered(const char *said, gboolean pop3)
{
	g_auto(GStrv) lines = g_strsplit(said ? said : "", "\n", -1);
	GString *out = g_string_new(NULL);

	for (char **l = lines; *l; l++) {
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(*l), " []", -1);

		if (pop3 && l == lines && g_str_has_prefix(*l, "+OK") && strchr(*l, '<')
		    && strchr(*l, '@') && strchr(*l, '>'))
			g_string_append(out, " APOP");
		for (char **w = words; *w; w++) {
			if (!pop3 && g_ascii_strncasecmp(*w, "AUTH=", 5) == 0 && (*w)[5]) {
				g_autofree char *up = g_ascii_strup(*w + 5, -1);

				if (!strstr(out->str, up))
					g_string_append_printf(out, " %s", up);
			}
		}
		if (pop3 && g_ascii_strncasecmp(*l, "SASL ", 5) == 0)
			for (char **w = words + 1; *w; w++)
				if (**w) {
					g_autofree char *up = g_ascii_strup(*w, -1);

					if (!strstr(out->str, up))
						g_string_append_printf(out, " %s", up);
				}
	}
	if (out->len)
		g_string_erase(out, 0, 1);
	return g_string_free(out, FALSE);
}

/* refusal - a line of the server's that refuses: "TAG NO ...", "TAG BAD
 * ...", "-ERR ..." (not a "+ ..." challenge: base64 that says nothing to a
 * person, nor the capabilities it listed) */
static gboolean
refusal(const char *l)
{
	const char *sp = strchr(l, ' ');

	if (g_str_has_prefix(l, "-ERR"))
		return TRUE;
	return *l != '*' && *l != '+' && sp && (g_ascii_strncasecmp(sp + 1, "NO", 2) == 0
	    || g_ascii_strncasecmp(sp + 1, "BAD", 3) == 0) && (sp[3] == ' ' || sp[3] == '\0'
	    || sp[4] == ' ' || sp[4] == '\0');
}

/* last_said - the server's last refusal while connecting, printable, short;
 * "" when it gave none */
static char *
last_said(const GString *said)
{
	g_auto(GStrv) lines = g_strsplit(said->str, "\n", -1);
	const char *last = "";
	GString *out = g_string_new(NULL);

	for (char **l = lines; *l; l++)
		if (refusal(g_strstrip(*l)))
			last = *l;
	for (const char *p = last; *p && out->len < 160; p++)
		g_string_append_c(out, (guchar)*p < 0x20 || *p == 0x7f ? '?' : *p);
	return g_string_free(out, FALSE);
}

/* mechanism - the SASL mechanism auth names, or NULL */
static const char *
mechanism(const struct config_account *a)
{
	const char *o = session_login_options(a);

	return o && o[5] != '+' ? o + 5 : NULL;
}

CURL *
session_connect(const struct session_opts *o, char *errbuf, curl_socket_t *fd, GError **err)
{
	const struct config_account *a = o->account;
	g_autofree char *u = url(a, err);
	g_autoptr(GString) said = g_string_new(NULL);
	struct dialing d = { o->cancel, said };
	CURLcode rc;
	CURL *c;

	*fd = CURL_SOCKET_BAD;
	if (!u)
		return NULL;
	c = curl_easy_init();
	if (!c) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "libcurl: unable to make a handle");
		return NULL;
	}
	*errbuf = '\0';
	curl_easy_setopt(c, CURLOPT_URL, u);
	session_curl_setup(c, a, o->password);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)o->timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, heard);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, &d);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);

	rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, NULL);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		g_set_error(err, SESSION_ERROR, SESSION_CANCELLED, "stopping");
		curl_easy_cleanup(c);
		return NULL;
	}
	if (rc == CURLE_LOGIN_DENIED) {
		g_autofree char *offered = session_offered(said->str, a->proto == PROTOCOL_POP3);
		g_autofree char *last = last_said(said);
		const char *mech = mechanism(a);
		g_auto(GStrv) have = g_strsplit(offered, " ", -1);

		if (mech && !g_strv_contains((const char *const *)have, mech)) {
			g_autofree char *word = g_ascii_strdown(mech, -1);

			g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s:%d does not offer %s "
			    "(auth = %s; it offers: %s)", a->host, a->port, mech, a->auth == AUTH_BEST ?
			    "best, with a token" : word, *offered ? offered : "no SASL mechanism");
		} else if (a->auth == AUTH_APOP && !g_strv_contains((const char *const *)have, "APOP")) {
			g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s:%d does not offer APOP "
			    "(its greeting has no timestamp)", a->host, a->port);
		} else {
			g_set_error(err, SESSION_ERROR, SESSION_AUTH, "login refused for %s on %s:%d: "
			    "check user and %s%s%s", a->user, a->host, a->port,
			    account_secret_is_token(a, SECRET_MAILBOX) ? "the token (expired? scope?)" :
			    "password (app password?)", *last ? ": " : "", last);
		}
		curl_easy_cleanup(c);
		return NULL;
	}
	if (rc != CURLE_OK) {
		g_autofree char *cause = NULL;
		long os_errno = 0;

		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		cause = session_cause(rc, os_errno, errbuf, a, o->timeout);
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s", cause);
		curl_easy_cleanup(c);
		return NULL;
	}
	rc = curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, fd);
	if (rc != CURLE_OK || *fd == CURL_SOCKET_BAD) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s:%d: no socket after login",
		    a->host, a->port);
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
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
session_select(struct session *s, const char *folder, gboolean writable, struct session_folder *f,
    GError **err)
{
	g_autofree char *q = imap_quote(folder);
	g_autofree char *cmd = NULL, *tag = NULL, *what = NULL;
	gboolean seen = FALSE;

	memset(f, 0, sizeof *f);
	if (!q) {
		g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "folder \"%s\" cannot be named in IMAP",
		    folder);
		return FALSE;
	}
	cmd = g_strdup_printf("%s %s", writable ? "SELECT" : "EXAMINE", q);
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

			if (ok && writable && r.text && g_ascii_strncasecmp(r.text, "[READ-ONLY]", 11) == 0) {
				g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "%s opened %s read-only: "
				    "after_fetch needs to change it", s->where, folder);
				ok = FALSE;
			}
			consume(s, &r);
			if (ok && !seen) {
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL,
				    "%s gave no UIDVALIDITY for %s", s->where, folder);
				return FALSE;
			}
			return ok;
		}
		if (strcmp(r.word, "OK") == 0 && imap_resp_code(&r, "UIDVALIDITY", &f->uidvalidity))
			seen = f->uidvalidity != 0;
		else if (strcmp(r.word, "OK") == 0)
			imap_resp_code(&r, "UIDNEXT", &f->uidnext);
		else if (strcmp(r.word, "EXISTS") == 0 && r.has_number)
			f->exists = r.number;
		consume(s, &r);
	}
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

/* capability - CAPABILITY, remembered; a server that refuses has none */
static gboolean
capability(struct session *s, GError **err)
{
	g_autofree char *tag = command(s, "CAPABILITY", err);

	if (!tag)
		return FALSE;
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
			consume(s, &r);
			return TRUE;
		}
		if (strcmp(r.word, "CAPABILITY") == 0 && r.text) {
			g_auto(GStrv) words = g_strsplit(r.text, " ", -1);

			for (char **w = words; *w; w++)
				if (**w)
					g_hash_table_add(s->caps, g_ascii_strup(*w, -1));
		}
		consume(s, &r);
	}
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
	go = send_all(s, line->str, line->len, err);
	explicit_bzero(line->str, line->len);
	g_string_truncate(line, 0);
	if (!go || !next(s, &r, err))
		return FALSE;
	go = r.kind == IMAP_CONTINUE;
	if (!go)
		g_set_error(err, SESSION_ERROR, SESSION_AUTH, "%s refused the login: %s %s", s->where,
		    r.word ? r.word : "", r.text ? r.text : "");
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
		ok = send_all(s, line->str, line->len, err);
	}
	explicit_bzero(line->str, line->len);
	g_string_free(line, TRUE);
	while (ok) {
		struct imap_resp r;
		int t;

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
		if (strcmp(r.word, "OK") != 0) {
			g_set_error(err, SESSION_ERROR, SESSION_AUTH, "login refused for %s on %s: check "
			    "user and password (app password?): %s %.160s", a->user, s->where, r.word,
			    r.text);
			ok = FALSE;
		}
		consume(s, &r);
		break;
	}
	return ok;
}

struct session *
session_open(const struct session_opts *o, GError **err)
{
	const struct config_account *a = o->account;
	struct session *s;
	curl_socket_t fd;
	CURL *c;

	s = g_new0(struct session, 1);
	s->in = g_byte_array_new();
	s->timeout = o->timeout;
	s->cancel = o->cancel;
	s->where = g_strdup_printf("%s:%d", a->host, a->port);
	s->caps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	s->fd = CURL_SOCKET_BAD;
	c = session_connect(o, s->errbuf, &fd, err);
	if (!c) {
		session_close(s);
		return NULL;
	}
	s->curl = c;
	s->fd = fd;
	if (a->auth == AUTH_PASS && !login(s, a, o->password, err)) {
		session_close(s);
		return NULL;
	}
	if (!capability(s, err)) {
		session_close(s);
		return NULL;
	}
	return s;
}

int
session_fd(const struct session *s)
{
	return s->fd;
}

/* uids_of - the numbers of "* SEARCH 1 2 3" into uids */
static void
uids_of(const char *text, GArray *uids)
{
	g_auto(GStrv) words = g_strsplit(text ? text : "", " ", -1);

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

	if (!tag)
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
			gboolean ok = completed(s, &r, "to search by date", err);

			consume(s, &r);
			if (!ok)
				return NULL;
			break;
		}
		if (strcmp(r.word, "SEARCH") == 0)
			uids_of(r.text, uids);
		consume(s, &r);
	}
	g_array_sort(uids, cmp_u32);
	return g_steal_pointer(&uids);
}

/* msgid_free - a struct session_msgid's string */
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

GArray *
session_message_ids(struct session *s, GError **err)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, TRUE, sizeof(struct session_msgid));
	g_autofree char *tag = NULL;

	g_array_set_clear_func(ids, msgid_clear);
	tag = command(s, "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", err);
	if (!tag)
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
			gboolean ok = completed(s, &r, "to list Message-IDs", err);

			consume(s, &r);
			if (!ok)
				return NULL;
			break;
		}
		if (strcmp(r.word, "FETCH") == 0 && r.has_uid) {
			struct session_msgid m = { r.uid, NULL };

			if (r.has_header) {
				g_autoptr(GBytes) view = g_bytes_new_static(s->in->data, s->in->len);
				g_autoptr(GBytes) h = imap_resp_header(&r, view);
				gsize len;
				const guint8 *p = g_bytes_get_data(h, &len);

				m.message_id = imap_message_id(p, len);
			}
			g_array_append_val(ids, m);
		}
		consume(s, &r);
	}
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

/* untagged_news - an untagged response while IDLE: TRUE for new mail */
static gboolean
untagged_news(const struct imap_resp *r)
{
	return r->kind == IMAP_UNTAGGED && r->has_number && strcmp(r->word, "EXISTS") == 0;
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
			s->broken = TRUE;
			if (err && !*err)
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s ended IDLE at once",
				    s->where);
			return FALSE;
		}
		if (untagged_news(&r))
			*news = TRUE;
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
		gsize old = s->in->len;
		size_t n = 0;
		CURLcode rc;

		g_byte_array_set_size(s->in, old + READ_MIN);
		*s->errbuf = '\0';
		rc = curl_easy_recv(s->curl, s->in->data + old, READ_MIN, &n);
		g_byte_array_set_size(s->in, old + (rc == CURLE_OK ? n : 0));
		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK || n == 0) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "%s closed the connection while "
			    "idle%s%s", s->where, rc != CURLE_OK ? ": " : "", rc != CURLE_OK ?
			    (*s->errbuf ? s->errbuf : curl_easy_strerror(rc)) : "");
			return FALSE;
		}
		if (s->in->len > IMAP_LINE_MAX * 4) {
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s sent too much while idle",
			    s->where);
			return FALSE;
		}
	}
	for (;;) {
		g_autoptr(GError) e = NULL;
		struct imap_resp r;
		gsize need = 0;

		if (s->in->len == 0 || s->in->len < s->need)
			return TRUE;
		switch (imap_parse(s->in->data, s->in->len, &r, &need, &e)) {
		case IMAP_MORE:
			s->need = need;
			return TRUE;
		case IMAP_ERROR:
			s->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: %s",
			    s->where, e->message);
			return FALSE;
		case IMAP_DONE:
			s->need = 0;
			if (r.kind == IMAP_UNTAGGED && strcmp(r.word, "BYE") == 0) {
				s->broken = TRUE;
				g_set_error(err, SESSION_ERROR, SESSION_CLOSED,
				    "%s closed the connection: BYE %s", s->where, r.text);
				imap_resp_clear(&r);
				return FALSE;
			}
			if (r.kind != IMAP_UNTAGGED) {
				s->broken = TRUE;
				g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "%s broke the IMAP protocol: "
				    "a %s while idle", s->where, r.kind == IMAP_TAGGED ? "tagged response" :
				    "continuation");
				imap_resp_clear(&r);
				return FALSE;
			}
			if (untagged_news(&r))
				*news = TRUE;
			consume(s, &r);
			break;
		}
	}
}

gboolean
session_idle_done(struct session *s, gboolean *news, GError **err)
{
	g_autofree char *tag = g_steal_pointer(&s->idle_tag);

	g_assert(tag != NULL);
	log_debug("imap: > DONE");
	if (!send_all(s, "DONE\r\n", 6, err))
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
			if (untagged_news(&r))
				*news = TRUE;
			consume(s, &r);
			continue;
		}
		ok = completed(s, &r, "IDLE", err);
		consume(s, &r);
		return ok;
	}
}

/* by_uid - order of struct session_msg */
static gint
by_uid(gconstpointer a, gconstpointer b)
{
	guint32 x = ((const struct session_msg *)a)->uid, y = ((const struct session_msg *)b)->uid;

	return x < y ? -1 : x > y;
}

/* list_read - the answer to "UID FETCH set (UID RFC822.SIZE)" sent as tag:
 * the messages above after, by uid */
static GArray *
list_read(struct session *s, const char *tag, guint32 after, GError **err)
{
	g_autoptr(GArray) msgs = g_array_new(FALSE, FALSE, sizeof(struct session_msg));
	guint keep = 0;

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
	if (!send_all(s, out, strlen(out), err))
		return NULL;
	for (;;) {
		struct imap_resp r;
		int t;
		gboolean ok;

		if (!next(s, &r, err))
			return NULL;
		if ((t = is_tagged(s, &r, idle, err)) < 0) {
			imap_resp_clear(&r);
			return NULL;
		}
		if (t == 0) {
			if (untagged_news(&r))
				*news = TRUE;
			consume(s, &r);
			continue;
		}
		ok = completed(s, &r, "IDLE", err);
		consume(s, &r);
		if (!ok)
			return NULL;
		break;
	}
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
		gboolean news = FALSE;

		/* be polite, briefly; the answer does not matter */
		s->timeout = MIN(s->timeout, 2);
		s->cancel = NULL;
		if (!s->idle_tag || session_idle_done(s, &news, &e))
			simple(s, "LOGOUT", &e);
	}
	if (s->curl)
		curl_easy_cleanup(s->curl);
	g_byte_array_unref(s->in);
	g_hash_table_unref(s->caps);
	g_free(s->idle_tag);
	g_free(s->where);
	g_free(s);
}
