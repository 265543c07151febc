/*
 * conn - the connection to a mailbox that IMAP and POP3 sessions share.
 *
 * libcurl connects, wraps TLS (imaps:// and pop3s://, or STARTTLS and STLS
 * required), reads the greeting and logs in: a CURLOPT_CONNECT_ONLY handle
 * comes back from curl_easy_perform() at exactly that point.  From there the
 * session speaks its protocol itself over conn_send() and conn_recv()
 * (curl_easy_send()/curl_easy_recv()).
 *
 * The login: auth = best leaves the choice to libcurl (the strongest SASL
 * mechanism the server offers, XOAUTH2 with a token, else LOGIN); cram-md5,
 * plain, login and xoauth2 name the SASL mechanism (CURLOPT_LOGIN_OPTIONS
 * "AUTH=...", "AUTH=+APOP" for apop); pass gives libcurl no user at all, so
 * that it stops after the greeting (and STARTTLS), and the session sends
 * LOGIN or USER/PASS itself.  What the server says while libcurl connects is
 * kept (the debug callback, CURLINFO_HEADER_IN only: what we send carries
 * the secret and is never looked at), so that a refusal can be told apart
 * from a mechanism the server does not offer.
 *
 * Every wait is a poll() on the connection's socket, at most a second at a
 * time so that a stop request is seen, and at most timeout seconds without a
 * byte moving.
 */
#include "fetchd.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#define SAID_MAX	(16 * 1024)	/* bytes of the server's words kept while connecting */

G_STATIC_ASSERT(sizeof(((struct conn *)NULL)->errbuf) >= CURL_ERROR_SIZE);

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
conn_cause(int rc, long os_errno, const char *errbuf, const struct config_account *a,
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
conn_login_options(const struct config_account *a)
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
conn_curl_setup(CURL *c, const struct config_account *a, const char *secret)
{
	const char *opts = conn_login_options(a);

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

/* add_word - " WORD" (upper case) onto out, unless out has it already */
static void
add_word(GString *out, const char *word)
{
	g_autofree char *up = g_ascii_strup(word, -1);

	if (!strstr(out->str, up))
		g_string_append_printf(out, " %s", up);
}

char *
conn_offered(const char *said, gboolean pop3)
{
	g_auto(GStrv) lines = g_strsplit(said ? said : "", "\n", -1);
	GString *out = g_string_new(NULL);

	for (char **l = lines; *l; l++) {
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(*l), " []", -1);

		if (pop3 && l == lines && g_str_has_prefix(*l, "+OK") && strchr(*l, '<')
		    && strchr(*l, '@') && strchr(*l, '>'))
			g_string_append(out, " APOP");
		for (char **w = words; *w; w++)
			if (!pop3 && g_ascii_strncasecmp(*w, "AUTH=", 5) == 0 && (*w)[5])
				add_word(out, *w + 5);
		if (pop3 && g_ascii_strncasecmp(*l, "SASL ", 5) == 0)
			for (char **w = words + 1; *w; w++)
				if (**w)
					add_word(out, *w);
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
	const char *o = conn_login_options(a);

	return o && o[5] != '+' ? o + 5 : NULL;
}

/* login_denied - why libcurl's login failed: a mechanism the server does
 * not offer (SESSION_CONNECT), or the server refused (SESSION_AUTH) */
static void
login_denied(const struct config_account *a, const GString *said, GError **err)
{
	g_autofree char *offered = conn_offered(said->str, a->proto == PROTOCOL_POP3);
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
}

/* dial - a connected (logged in unless auth = pass) CONNECT_ONLY handle and
 * its socket; NULL with err */
static CURL *
dial(const struct session_opts *o, char *errbuf, curl_socket_t *fd, GError **err)
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
	conn_curl_setup(c, a, o->password);
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
	if (rc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, fd) == CURLE_OK
	    && *fd != CURL_SOCKET_BAD)
		return c;
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		g_set_error(err, SESSION_ERROR, SESSION_CANCELLED, "stopping");
	} else if (rc == CURLE_LOGIN_DENIED) {
		login_denied(a, said, err);
	} else if (rc != CURLE_OK) {
		g_autofree char *cause = NULL;
		long os_errno = 0;

		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		cause = conn_cause(rc, os_errno, errbuf, a, o->timeout);
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s", cause);
	} else {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "%s:%d: no socket after login",
		    a->host, a->port);
	}
	curl_easy_cleanup(c);
	return NULL;
}

gboolean
conn_open(struct conn *c, const struct session_opts *o, GError **err)
{
	const struct config_account *a = o->account;
	curl_socket_t fd;

	c->timeout = o->timeout;
	c->cancel = o->cancel;
	c->where = g_strdup_printf("%s:%d", a->host, a->port);
	c->broken = FALSE;
	c->curl = dial(o, c->errbuf, &fd, err);
	c->fd = c->curl ? fd : CURL_SOCKET_BAD;
	return c->curl != NULL;
}

gboolean
conn_closing(struct conn *c)
{
	if (!c->curl || c->fd == CURL_SOCKET_BAD || c->broken)
		return FALSE;
	/* be polite, briefly; the answer does not matter */
	c->timeout = MIN(c->timeout, 2);
	c->cancel = NULL;
	return TRUE;
}

void
conn_close(struct conn *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	c->fd = CURL_SOCKET_BAD;
	g_clear_pointer(&c->where, g_free);
}

gint64
conn_deadline(const struct conn *c)
{
	return g_get_monotonic_time() + (gint64)c->timeout * G_USEC_PER_SEC;
}

gboolean
conn_wait(struct conn *c, short events, gint64 until, GError **err)
{
	for (;;) {
		struct pollfd p = { c->fd, events, 0 };
		gint64 left = until - g_get_monotonic_time();
		int rc;

		if (c->cancel && c->cancel()) {
			c->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CANCELLED, "stopping");
			return FALSE;
		}
		if (left <= 0) {
			c->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_TIMEOUT, "%s sent nothing for %ds",
			    c->where, c->timeout);
			return FALSE;
		}
		rc = poll(&p, 1, (int)MIN(left / 1000 + 1, 1000));
		if (rc > 0)
			return TRUE;
		if (rc < 0 && errno != EINTR) {
			c->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "poll: %s", g_strerror(errno));
			return FALSE;
		}
	}
}

const char *
conn_error(const struct conn *c, int rc)
{
	return *c->errbuf ? c->errbuf : curl_easy_strerror(rc);
}

gboolean
conn_send(struct conn *c, const void *data, gsize len, GError **err)
{
	gint64 until = conn_deadline(c);
	gsize off = 0;

	while (off < len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(c->curl, (const char *)data + off, len - off, &n);

		if (rc == CURLE_AGAIN) {
			if (!conn_wait(c, POLLOUT, until, err))
				return FALSE;
			continue;
		}
		if (rc != CURLE_OK) {
			c->broken = TRUE;
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "connection to %s lost: %s",
			    c->where, conn_error(c, rc));
			return FALSE;
		}
		off += n;
		until = conn_deadline(c);
	}
	return TRUE;
}

int
conn_recv(struct conn *c, GByteArray *in, gsize want, gsize *n)
{
	gsize old = in->len;
	size_t got = 0;
	CURLcode rc;

	g_byte_array_set_size(in, old + want);
	*c->errbuf = '\0';
	rc = curl_easy_recv(c->curl, in->data + old, want, &got);
	g_byte_array_set_size(in, old + (rc == CURLE_OK ? got : 0));
	*n = rc == CURLE_OK ? got : 0;
	return rc;
}
