/*
 * check - `fetchd --check [--send-test ADDRESS] ACCOUNT`: an account's
 * connections tested the way a person would test them, both directions, one
 * line per step on stdout:
 *
 *	support: imap.example.com: name lookup ... ok (203.0.113.5)
 *	support: imap.example.com:993: connection ... ok
 *	support: TLS (implicit) ... ok (TLSv1.3, certificate verified)
 *	support: login as support@example.com ... ok
 *	support: folder INBOX ... ok (1234 messages)
 *	support: smtp.example.com: name lookup ... ok (203.0.113.7)
 *	...
 *	support: all checks passed
 *
 * The name lookup and the TCP connection are done here (getaddrinfo, a
 * non-blocking connect), so that each has its own answer.  TLS and the login
 * are libcurl's, set up as the daemon's conn.c sets them up, with libcurl's
 * debug callback listening to what the server says and which TLS version was
 * agreed; the folder is opened with EXAMINE over the connected handle.  Each
 * failure is said in words that name what to change.  When TLS fails, the
 * port is looked at again in the other mode, so that "tls = implicit on a
 * plain-text port" (and the reverse) is said as such, not as a handshake
 * error: a plain-text server greets first, a TLS server waits for the
 * client's hello.
 *
 * The exit status is that of the first step that failed: 0 when none did,
 * 69 (EX_UNAVAILABLE) for a server that cannot be reached or used, 75
 * (EX_TEMPFAIL) for a provider throttling or locking the account, 77
 * (EX_NOPERM) for a refused login, 78 (EX_CONFIG) for a secret or CA file
 * that cannot be read, 64 for a --send-test address that is not one.
 *
 * SECURITY: the check takes no lock (it runs beside the daemon) and changes
 * nothing in the mailbox: EXAMINE is read-only.  The secret goes to libcurl
 * only; what libcurl sends (CURLINFO_HEADER_OUT, which carries the login) is
 * never looked at, and what the server says is printed only with its control
 * characters replaced and its length bounded.
 */
#include "fetchd.h"

#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"

#define CHECK_TIMEOUT_MAX	15	/* seconds per step, whatever [fetchd] timeout says */
#define GREETING_MS		3000	/* a plain-text server greets within this */
#define PROBE_TIMEOUT		5	/* seconds for a look at the port in the other TLS mode */
#define SAID_MAX		200	/* server lines kept */
#define QUOTE_MAX		200	/* characters of a server line in a message */
#define IN_MAX			(1024 * 1024)	/* bytes of one response after login */
#define FOLDERS_MAX		25	/* folder names listed */

/* where one direction goes: the mailbox (IMAP or POP3) or SMTP */
struct target {
	const char *proto;		/* URL scheme without the "s": imap, pop3, smtp */
	const char *label;		/* "" or "SMTP ", before a step's name */
	const char *host;
	int port;
	enum tls_mode tls;
	const char *host_key, *port_key, *tls_key;	/* what the operator would change */
	int implicit_port, starttls_port;		/* the usual ones */
	const char *user;
	enum secret_use use;
};

struct check {
	const struct config_account *a;
	FILE *out;
	int timeout;
	int status;		/* the exit status of the first failure */
	int failed;
};

/* what reach() learnt of the port */
struct reach {
	struct sockaddr_storage addr;	/* the address that accepted */
	socklen_t addrlen;
	gboolean silent;		/* waited GREETING_MS for a greeting, none came */
};

/* one libcurl connection */
struct link {
	CURL *curl;
	curl_socket_t fd;
	GByteArray *in;		/* received by us after libcurl's part, not yet used */
	GPtrArray *said;	/* the server's lines while libcurl talked, printable */
	char *tls;		/* the TLS version agreed ("TLSv1.3"), once TLS is up */
	int timeout;
	guint tag;
	long os_errno;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- pure parts (tested in tests/unit/check_fetchd_check.c) ---------------- */

/* matches - s matches pattern (caseless), compiled once into *re */
static gboolean
matches(GRegex **re, const char *pattern, const char *s)
{
	if (g_once_init_enter(re)) {
		GRegex *r = g_regex_new(pattern, G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);

		g_assert(r);
		g_once_init_leave(re, r);
	}
	return s && g_regex_match(*re, s, 0, NULL);
}

gboolean
check_throttled(const char *reply)
{
	static GRegex *re;

	return matches(&re,
	    "\\[(UNAVAILABLE|INUSE|IN-USE|LIMIT|LOGIN-DELAY|SYS/TEMP|THROTTLED)\\]"
	    "|too many|\\brate\\b|rate.?limit|throttl|\\block(ed|out)\\b"
	    "|maximum number of (connections|sessions|logins)|try again later"
	    "|bandwidth|limit exceeded", reply);
}

gboolean
check_wants_tls(const char *reply)
{
	static GRegex *re;

	return matches(&re, "LOGINDISABLED|\\[PRIVACYREQUIRED\\]|(plain ?text|clear ?text)"
	    "[^.]*(disallowed|not allowed|disabled|forbidden)|non-secure|STARTTLS (command )?"
	    "first|(TLS|SSL|encryption) (is )?required|requires? (TLS|SSL|encryption)", reply);
}

gboolean
check_greets_plain(const guint8 *buf, gsize len)
{
	gsize n = 0;

	/* a TLS record starts with a byte from 0x14 to 0x18 */
	if (len == 0 || buf[0] < 0x21 || buf[0] > 0x7e)
		return FALSE;
	for (; n < len && buf[n] != '\r' && buf[n] != '\n'; n++)
		if ((buf[n] < 0x20 && buf[n] != '\t') || buf[n] == 0x7f)
			return FALSE;
	return n >= 2;
}

char *
check_printable(const char *s, gsize len, gsize max)
{
	g_autofree char *valid = g_utf8_make_valid(s, len);
	GString *out = g_string_new(NULL);
	gsize chars = 0;
	const char *p;

	g_strchomp(valid);
	for (p = valid; *p && chars < max; p = g_utf8_next_char(p), chars++) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || (c >= 0x7f && c < 0xa0))
			g_string_append_c(out, '?');
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
	}
	if (*p)
		g_string_append(out, "...");
	return g_string_free(out, FALSE);
}

/* utf7_decode - IMAP's modified UTF-7 (RFC 3501 5.1.3) to UTF-8; NULL when
 * it is not valid */
static char *
utf7_decode(const char *s)
{
	GString *out = g_string_new(NULL);

	while (*s) {
		const char *end;
		g_autofree char *b64 = NULL, *utf8 = NULL;
		g_autofree guchar *utf16 = NULL;
		gsize n, len;

		if (*s != '&') {
			g_string_append_c(out, *s++);
			continue;
		}
		if (!(end = strchr(s + 1, '-')))
			break;
		if (end == s + 1) {
			g_string_append_c(out, '&');
			s = end + 1;
			continue;
		}
		len = end - s - 1;
		b64 = g_malloc(len + 4);
		for (n = 0; n < len; n++)
			b64[n] = s[1 + n] == ',' ? '/' : s[1 + n];
		while (n % 4)
			b64[n++] = '=';
		b64[n] = '\0';
		utf16 = g_base64_decode(b64, &n);
		utf8 = n && n % 2 == 0 ? g_convert((const char *)utf16, n, "UTF-8", "UTF-16BE", NULL,
		    NULL, NULL) : NULL;
		if (!utf8)
			break;
		g_string_append(out, utf8);
		s = end + 1;
	}
	if (*s) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

char *
check_list_name(const char *text, gboolean *selectable)
{
	const char *p = text, *close;
	g_autofree char *flags = NULL, *raw = NULL, *name = NULL;
	GString *q;

	*selectable = FALSE;
	while (*p == ' ')
		p++;
	if (*p != '(' || !(close = strchr(p, ')')))
		return NULL;
	flags = g_ascii_strdown(p, close - p);
	p = close + 1;
	if (*p++ != ' ')
		return NULL;
	/* the hierarchy delimiter: NIL or a quoted character */
	if (g_ascii_strncasecmp(p, "NIL", 3) == 0)
		p += 3;
	else if (p[0] == '"' && p[1] == '\\' && p[2] && p[3] == '"')
		p += 4;
	else if (p[0] == '"' && p[1] && p[1] != '"' && p[2] == '"')
		p += 3;
	else
		return NULL;
	if (*p++ != ' ' || !*p)
		return NULL;
	if (*p == '"') {
		q = g_string_new(NULL);
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			g_string_append_c(q, *p);
		}
		if (*p != '"') {
			g_string_free(q, TRUE);
			return NULL;
		}
		raw = g_string_free(q, FALSE);
	} else if (*p == '{') {
		return NULL;	/* a literal: imap_parse() kept only the line before it */
	} else {
		raw = g_strdup(p);
		g_strchomp(raw);
	}
	name = utf7_decode(raw);
	*selectable = !strstr(flags, "\\noselect") && !strstr(flags, "\\nonexistent");
	return check_printable(name ? name : raw, strlen(name ? name : raw), QUOTE_MAX);
}

gboolean
check_address_ok(const char *addr)
{
	const char *at;

	if (!addr || !*addr || strlen(addr) > 320 || !g_utf8_validate(addr, -1, NULL))
		return FALSE;
	for (const guchar *p = (const guchar *)addr; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || strchr("<>()[],;:\"\\", *p))
			return FALSE;
	at = strchr(addr, '@');
	return at && at != addr && at[1] && !strchr(at + 1, '@');
}

/* display_name - "Name" or =?UTF-8?B?...?= words for a From header */
static char *
display_name(const char *name)
{
	g_autofree char *clean = check_printable(name, strlen(name), 200);
	gboolean ascii = TRUE;
	GString *out;
	const char *p;

	for (p = clean; *p; p++)
		if ((guchar)*p >= 0x80)
			ascii = FALSE;
	out = g_string_new(NULL);
	if (ascii) {
		g_string_append_c(out, '"');
		for (p = clean; *p; p++) {
			if (*p == '"' || *p == '\\')
				g_string_append_c(out, '\\');
			g_string_append_c(out, *p);
		}
		g_string_append_c(out, '"');
		return g_string_free(out, FALSE);
	}
	/* encoded words of at most 45 bytes of text (75 characters each) */
	for (p = clean; *p;) {
		const char *end = p;
		g_autofree char *b64 = NULL;

		while (*end && g_utf8_next_char(end) - p <= 45)
			end = g_utf8_next_char(end);
		b64 = g_base64_encode((const guchar *)p, end - p);
		g_string_append_printf(out, "%s=?UTF-8?B?%s?=", out->len ? " " : "", b64);
		p = end;
	}
	return g_string_free(out, FALSE);
}

char *
check_compose(const struct config_account *a, const char *to, GDateTime *now, const char *uuid)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *domain = strrchr(a->reply_address, '@');
	g_autofree char *hms = g_date_time_format(now, "%H:%M:%S %z");
	g_autofree char *name = *a->reply_name ? display_name(a->reply_name) : NULL;
	GString *m = g_string_new(NULL);

	g_string_append_printf(m, "Date: %s, %d %s %d %s\r\n",
	    days[g_date_time_get_day_of_week(now) - 1], g_date_time_get_day_of_month(now),
	    months[g_date_time_get_month(now) - 1], g_date_time_get_year(now), hms);
	if (name)
		g_string_append_printf(m, "From: %s <%s>\r\n", name, a->reply_address);
	else
		g_string_append_printf(m, "From: <%s>\r\n", a->reply_address);
	g_string_append_printf(m, "To: <%s>\r\n", to);
	g_string_append_printf(m, "Subject: postroom connection test (%s)\r\n", a->id);
	g_string_append_printf(m, "Message-ID: <%s@%s>\r\n", uuid, domain ? domain + 1 : "postroom");
	g_string_append(m, "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n");
	g_string_append_printf(m, "This is a test message from postroom (fetchd --check --send-test) for "
	    "the account %s,\r\nsent from %s through %s:%d. No reply is needed.\r\n", a->id,
	    a->reply_address, a->smtp_host, a->smtp_port);
	return g_string_free(m, FALSE);
}

/* ---- the lines -------------------------------------------------------------- */

static void step(struct check *ck, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void failed(struct check *ck, int status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* step - a step begins: "ACCOUNT: what ... ", its result follows */
static void
step(struct check *ck, const char *fmt, ...)
{
	g_autofree char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(ck->out, "%s: %s ... ", ck->a->id, what);
	fflush(ck->out);
}

/* passed - the step went well; detail may be NULL */
static void
passed(struct check *ck, const char *detail)
{
	if (detail && *detail)
		fprintf(ck->out, "ok (%s)\n", detail);
	else
		fprintf(ck->out, "ok\n");
	fflush(ck->out);
}

/* unused - the step does not apply: not a failure */
static void
unused(struct check *ck, const char *why)
{
	fprintf(ck->out, "not used (%s)\n", why);
	fflush(ck->out);
}

/* failed - the step failed: the cause, and the exit status if it is the first */
static void
failed(struct check *ck, int status, const char *fmt, ...)
{
	g_autofree char *cause = NULL;
	va_list ap;

	va_start(ap, fmt);
	cause = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(ck->out, "failed: %s\n", cause);
	fflush(ck->out);
	if (ck->failed++ == 0)
		ck->status = status;
}

/* hostport - host:port, an IPv6 address in brackets */
static char *
hostport(const char *host, int port)
{
	return strchr(host, ':') ? g_strdup_printf("[%s]:%d", host, port) :
	    g_strdup_printf("%s:%d", host, port);
}

/* proto_name - IMAP, POP3, SMTP */
static char *
proto_name(const struct target *t)
{
	return g_ascii_strup(t->proto, -1);
}

/* ---- lookup and connection -------------------------------------------------- */

/* dial - a TCP connection to ai within timeout seconds: the socket, or -1
 * with errno (ETIMEDOUT when the time ran out) */
static int
dial(const struct addrinfo *ai, int timeout)
{
	gint64 until = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
	int fd, e = 0;
	socklen_t elen = sizeof e;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	for (;;) {
		struct pollfd p = { fd, POLLOUT, 0 };
		gint64 left = until - g_get_monotonic_time();
		int rc;

		if (left <= 0) {
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
		rc = poll(&p, 1, (int)(left / 1000 + 1));
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* first_bytes - what the server at fd says within ms milliseconds (an empty
 * array when it says nothing) */
static GByteArray *
first_bytes(int fd, int ms)
{
	GByteArray *b = g_byte_array_new();
	gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
	guint8 buf[512];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		gint64 left = until - g_get_monotonic_time();
		ssize_t n;
		int rc;

		if (left <= 0)
			return b;
		rc = poll(&p, 1, (int)(left / 1000 + 1));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return b;
		n = recv(fd, buf, sizeof buf, 0);
		if (n > 0)
			g_byte_array_append(b, buf, n);
		if (n > 0 && memchr(buf, '\n', n))
			return b;
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return b;
	}
}

/* numeric - the address as text */
static char *
numeric(const struct sockaddr *sa, socklen_t len)
{
	char host[NI_MAXHOST];

	if (getnameinfo(sa, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
		return g_strdup("?");
	return g_strdup(host);
}

/* reach - the name lookup and the TCP connection, one line each; for a port
 * that should greet in plain text, whether it does */
static gboolean
reach(struct check *ck, const struct target *t, struct reach *r)
{
	struct addrinfo hints, *res = NULL, *ai;
	g_autofree char *port = g_strdup_printf("%d", t->port), *hp = hostport(t->host, t->port);
	g_autofree char *pn = proto_name(t);
	g_autoptr(GString) addrs = g_string_new(NULL);
	int rc, fd = -1, first_errno = 0, n = 0;

	memset(r, 0, sizeof *r);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	step(ck, "%s: name lookup", t->host);
	rc = getaddrinfo(t->host, port, &hints, &res);
	switch (rc) {
	case 0:
		break;
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		failed(ck, EX_UNAVAILABLE, "host not found: check the spelling of %s in %s",
		    t->host_key, ck->a->file);
		return FALSE;
	case EAI_AGAIN:
		failed(ck, EX_UNAVAILABLE, "no answer from the DNS server about %s (a temporary "
		    "failure): check the network and /etc/resolv.conf, then try again", t->host);
		return FALSE;
	case EAI_SYSTEM:
		failed(ck, EX_UNAVAILABLE, "unable to look up %s: %s", t->host, g_strerror(errno));
		return FALSE;
	default:
		failed(ck, EX_UNAVAILABLE, "unable to look up %s: %s", t->host, gai_strerror(rc));
		return FALSE;
	}
	for (ai = res; ai && n < 3; ai = ai->ai_next, n++) {
		g_autofree char *a = numeric(ai->ai_addr, ai->ai_addrlen);

		g_string_append_printf(addrs, "%s%s", addrs->len ? ", " : "", a);
	}
	if (ai)
		g_string_append(addrs, ", ...");
	passed(ck, addrs->str);

	step(ck, "%s: connection", hp);
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = dial(ai, ck->timeout)) >= 0)
			break;
		if (!first_errno)
			first_errno = errno;
	}
	if (fd < 0) {
		freeaddrinfo(res);
		switch (first_errno) {
		case ECONNREFUSED:
			failed(ck, EX_UNAVAILABLE, "nothing is listening on %s (connection refused): "
			    "check %s in %s (%s is usually %d with %s = implicit, %d with %s = starttls)",
			    hp, t->port_key, ck->a->file, pn, t->implicit_port,
			    t->tls_key, t->starttls_port, t->tls_key);
			break;
		case ETIMEDOUT:
			failed(ck, EX_UNAVAILABLE, "no answer from %s within %ds: a firewall, or the "
			    "wrong port", hp, ck->timeout);
			break;
		case EHOSTUNREACH:
		case ENETUNREACH:
			failed(ck, EX_UNAVAILABLE, "no route to %s (%s): check the network, or the host",
			    hp, g_strerror(first_errno));
			break;
		default:
			failed(ck, EX_UNAVAILABLE, "unable to connect to %s: %s", hp,
			    g_strerror(first_errno));
		}
		return FALSE;
	}
	memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
	r->addrlen = ai->ai_addrlen;
	if (ai != res) {
		g_autofree char *a = numeric(ai->ai_addr, ai->ai_addrlen);
		g_autofree char *why = g_strdup_printf("%s; the first address: %s", a,
		    g_strerror(first_errno));

		passed(ck, why);
	} else {
		passed(ck, NULL);
	}
	freeaddrinfo(res);
	/* a plain-text port greets at once; a TLS port waits for our hello */
	if (t->tls != TLS_IMPLICIT) {
		g_autoptr(GByteArray) b = first_bytes(fd, GREETING_MS);

		r->silent = b->len == 0;
	}
	close(fd);
	return TRUE;
}

/* ---- libcurl ----------------------------------------------------------------- */

/* debug_cb - what libcurl saw: the server's lines and the TLS version.  What
 * libcurl sends (CURLINFO_HEADER_OUT) carries the login and is never kept. */
static int
debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *p)
{
	static const char tls[] = "SSL connection using ";
	struct link *l = p;

	if (type == CURLINFO_HEADER_IN) {
		if (l->said->len >= SAID_MAX)
			g_ptr_array_remove_index(l->said, 0);
		g_ptr_array_add(l->said, check_printable(data, size, QUOTE_MAX));
	} else if (type == CURLINFO_TEXT && !l->tls && size > sizeof tls - 1
	    && memcmp(data, tls, sizeof tls - 1) == 0) {
		const char *v = data + sizeof tls - 1;
		gsize n = 0, max = size - (sizeof tls - 1);

		while (n < max && g_ascii_isgraph(v[n]) && v[n] != '/')
			n++;
		l->tls = g_strndup(v, n);
	}
	return 0;
}

/* link_new - a libcurl handle for t in mode tls, not started */
static struct link *
link_new(const struct check *ck, const struct target *t, enum tls_mode tls, int timeout)
{
	const char *at = strrchr(ck->a->reply_address, '@');
	struct link *l = g_new0(struct link, 1);
	g_autofree char *scheme = g_strdup_printf("%s%s", t->proto, tls == TLS_IMPLICIT ? "s" : "");
	g_autofree char *port = g_strdup_printf("%d", t->port);
	g_autofree char *host = strchr(t->host, ':') ? g_strdup_printf("[%s]", t->host) :
	    g_strdup(t->host);
	g_autofree char *path = NULL;
	CURLU *u = curl_url();
	char *url = NULL;

	l->fd = CURL_SOCKET_BAD;
	l->in = g_byte_array_new();
	l->said = g_ptr_array_new_with_free_func(g_free);
	l->timeout = timeout;
	/* SMTP: the path is the name EHLO gives, as agentd's smtp.c does */
	path = g_strdup_printf("/%s", strcmp(t->proto, "smtp") == 0 && at ? at + 1 : "");
	if (!(l->curl = curl_easy_init()) || !u)
		log_fatal(EX_SOFTWARE, "libcurl: unable to make a handle");
	if (curl_url_set(u, CURLUPART_SCHEME, scheme, 0)
	    || curl_url_set(u, CURLUPART_HOST, host, 0)
	    || curl_url_set(u, CURLUPART_PORT, port, 0)
	    || curl_url_set(u, CURLUPART_PATH, path, CURLU_URLENCODE)
	    || curl_url_get(u, CURLUPART_URL, &url, 0))
		url = NULL;
	curl_url_cleanup(u);
	/* an unusable host gets the "malformed URL" error below */
	curl_easy_setopt(l->curl, CURLOPT_URL, url ? url : "");
	curl_free(url);
	curl_easy_setopt(l->curl, CURLOPT_PROTOCOLS_STR, scheme);
	curl_easy_setopt(l->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(l->curl, CURLOPT_CONNECTTIMEOUT, (long)timeout);
	curl_easy_setopt(l->curl, CURLOPT_TIMEOUT, (long)timeout);
	curl_easy_setopt(l->curl, CURLOPT_ERRORBUFFER, l->errbuf);
	curl_easy_setopt(l->curl, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(l->curl, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(l->curl, CURLOPT_DEBUGDATA, l);
	if (tls == TLS_STARTTLS)
		curl_easy_setopt(l->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (tls != TLS_NONE && *ck->a->tls_ca_file)
		curl_easy_setopt(l->curl, CURLOPT_CAINFO, ck->a->tls_ca_file);
	return l;
}

/* link_login - log in as user with secret: a password, or a bearer token */
static void
link_login(struct link *l, const char *user, const char *secret, gboolean token)
{
	curl_easy_setopt(l->curl, CURLOPT_USERNAME, user);
	if (token)
		curl_easy_setopt(l->curl, CURLOPT_XOAUTH2_BEARER, secret);
	else
		curl_easy_setopt(l->curl, CURLOPT_PASSWORD, secret);
}

/* link_perform - run it: connected (and logged in) when CONNECT_ONLY is set */
static CURLcode
link_perform(struct link *l)
{
	CURLcode rc = curl_easy_perform(l->curl);

	curl_easy_getinfo(l->curl, CURLINFO_OS_ERRNO, &l->os_errno);
	if (rc == CURLE_OK && curl_easy_getinfo(l->curl, CURLINFO_ACTIVESOCKET, &l->fd) != CURLE_OK)
		l->fd = CURL_SOCKET_BAD;
	return rc;
}

/* link_open - connected in mode tls, logged in when secret is set.  The
 * mailbox in its own mode is set up by conn.c, as the daemon's is; with
 * auth = pass the daemon sends IMAP's LOGIN itself, as libcurl does with
 * AUTH=+LOGIN, and POP3's USER/PASS, as userpass() does. */
static struct link *
link_open(const struct check *ck, const struct target *t, enum tls_mode tls, int timeout,
    const char *secret, gboolean token, CURLcode *rc)
{
	const struct config_account *a = ck->a;
	struct link *l = link_new(ck, t, tls, timeout);

	curl_easy_setopt(l->curl, CURLOPT_CONNECT_ONLY, 1L);
	if (t->use == SECRET_MAILBOX && tls == t->tls) {
		conn_curl_setup(l->curl, a, secret);
		if (secret && a->auth == AUTH_PASS && a->proto == PROTOCOL_IMAP) {
			link_login(l, a->user, secret, FALSE);
			curl_easy_setopt(l->curl, CURLOPT_LOGIN_OPTIONS, "AUTH=+LOGIN");
		}
	} else if (secret) {
		link_login(l, t->user, secret, token);
	}
	*rc = link_perform(l);
	return l;
}

static void
link_free(struct link *l)
{
	if (!l)
		return;
	/* libcurl says LOGOUT or QUIT on the way out: briefly */
	curl_easy_setopt(l->curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, 2L);
	curl_easy_cleanup(l->curl);
	g_byte_array_unref(l->in);
	g_ptr_array_unref(l->said);
	g_free(l->tls);
	g_free(l);
}

/* last_said - the server's last line, without an IMAP tag; NULL when silent */
static const char *
last_said(const struct link *l, const struct target *t)
{
	const char *s, *sp;

	if (l->said->len == 0)
		return NULL;
	s = g_ptr_array_index(l->said, l->said->len - 1);
	if (strcmp(t->proto, "imap") == 0 && *s != '*' && *s != '+' && (sp = strchr(s, ' ')))
		return sp + 1;
	return s;
}

/* said_start - a line the server said starts with prefix */
static gboolean
said_start(const struct link *l, const char *prefix)
{
	for (guint i = 0; i < l->said->len; i++)
		if (g_str_has_prefix(g_ptr_array_index(l->said, i), prefix))
			return TRUE;
	return FALSE;
}

/* said_has - a line the server said holds word */
static gboolean
said_has(const struct link *l, const char *word)
{
	for (guint i = 0; i < l->said->len; i++)
		if (strstr(g_ptr_array_index(l->said, i), word))
			return TRUE;
	return FALSE;
}

/* offered - the login methods the server named: conn.c reads IMAP's and
 * POP3's, the EHLO line "AUTH ..." says SMTP's; NULL when it named none */
static char *
offered(const struct link *l, const struct target *t)
{
	g_autofree char *said = NULL;
	char *out;

	if (t->use == SECRET_SMTP) {
		for (guint i = l->said->len; i-- > 0;) {
			const char *s = g_ptr_array_index(l->said, i);

			if ((g_str_has_prefix(s, "250-") || g_str_has_prefix(s, "250 "))
			    && g_ascii_strncasecmp(s + 4, "AUTH ", 5) == 0)
				return g_strdup(s + 9);
		}
		return NULL;
	}
	g_ptr_array_add(l->said, NULL);
	said = g_strjoinv("\n", (char **)l->said->pdata);
	g_ptr_array_remove_index(l->said, l->said->len - 1);
	out = conn_offered(said, t->use == SECRET_MAILBOX && strcmp(t->proto, "pop3") == 0);
	if (!*out) {
		g_free(out);
		return NULL;
	}
	return out;
}

/* link_wait - until the socket is ready for events, or until passes */
static gboolean
link_wait(struct link *l, short events, gint64 until, GError **err)
{
	for (;;) {
		struct pollfd p = { l->fd, events, 0 };
		gint64 left = until - g_get_monotonic_time();
		int rc;

		if (left <= 0) {
			g_set_error(err, SESSION_ERROR, SESSION_TIMEOUT, "the server sent nothing for %ds",
			    l->timeout);
			return FALSE;
		}
		rc = poll(&p, 1, (int)(left / 1000 + 1));
		if (rc > 0)
			return TRUE;
		if (rc < 0 && errno != EINTR) {
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "poll: %s", g_strerror(errno));
			return FALSE;
		}
	}
}

/* link_send - a line of ours, after libcurl's part */
static gboolean
link_send(struct link *l, const char *line, GError **err)
{
	gint64 until = g_get_monotonic_time() + (gint64)l->timeout * G_USEC_PER_SEC;
	gsize off = 0, len = strlen(line);

	while (off < len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(l->curl, line + off, len - off, &n);

		if (rc == CURLE_AGAIN) {
			if (!link_wait(l, POLLOUT, until, err))
				return FALSE;
			continue;
		}
		if (rc != CURLE_OK) {
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "the connection broke: %s",
			    curl_easy_strerror(rc));
			return FALSE;
		}
		off += n;
	}
	return TRUE;
}

/* link_fill - more bytes from the server */
static gboolean
link_fill(struct link *l, GError **err)
{
	gint64 until = g_get_monotonic_time() + (gint64)l->timeout * G_USEC_PER_SEC;
	guint8 buf[16384];

	if (l->in->len > IN_MAX) {
		g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "the server's answer is longer "
		    "than %d bytes", IN_MAX);
		return FALSE;
	}
	for (;;) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(l->curl, buf, sizeof buf, &n);

		if (rc == CURLE_AGAIN) {
			if (!link_wait(l, POLLIN, until, err))
				return FALSE;
			continue;
		}
		if (rc != CURLE_OK) {
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "the connection broke: %s",
			    curl_easy_strerror(rc));
			return FALSE;
		}
		if (n == 0) {
			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "the server closed the connection");
			return FALSE;
		}
		g_byte_array_append(l->in, buf, n);
		return TRUE;
	}
}

/* link_line - the next line the server sends (POP3), without CRLF */
static char *
link_line(struct link *l, GError **err)
{
	for (;;) {
		guint8 *nl = l->in->len ? memchr(l->in->data, '\n', l->in->len) : NULL;

		if (nl) {
			gsize n = nl - l->in->data + 1;
			char *line = check_printable((const char *)l->in->data, n, QUOTE_MAX);

			g_byte_array_remove_range(l->in, 0, n);
			return line;
		}
		if (!link_fill(l, err))
			return NULL;
	}
}

typedef void (*untagged_fn)(const struct imap_resp *r, void *data);

/* imap_run - "TAG cmd"; each untagged response to fn; the completion's word
 * (OK, NO, BAD) and text, printable */
static gboolean
imap_run(struct link *l, const char *cmd, untagged_fn fn, void *data, char **word, char **text,
    GError **err)
{
	g_autofree char *tag = g_strdup_printf("C%u", ++l->tag);
	g_autofree char *line = g_strdup_printf("%s %s\r\n", tag, cmd);

	if (!link_send(l, line, err))
		return FALSE;
	for (;;) {
		struct imap_resp r;
		g_autoptr(GError) e = NULL;
		gsize need = 0;

		switch (imap_parse(l->in->data, l->in->len, &r, &need, &e)) {
		case IMAP_MORE:
			if (!link_fill(l, err))
				return FALSE;
			continue;
		case IMAP_ERROR:
			g_set_error(err, SESSION_ERROR, SESSION_PROTOCOL, "the server broke the IMAP "
			    "protocol: %s", e->message);
			return FALSE;
		case IMAP_DONE:
			break;
		}
		if (r.kind == IMAP_TAGGED && strcmp(r.tag, tag) == 0) {
			*word = g_strdup(r.word);
			*text = check_printable(r.text, strlen(r.text), QUOTE_MAX);
			g_byte_array_remove_range(l->in, 0, r.consumed);
			imap_resp_clear(&r);
			return TRUE;
		}
		if (r.kind == IMAP_UNTAGGED && strcmp(r.word, "BYE") == 0) {
			g_autofree char *why = check_printable(r.text, strlen(r.text), QUOTE_MAX);

			g_set_error(err, SESSION_ERROR, SESSION_CLOSED, "the server closed the "
			    "connection: \"BYE %s\"", why);
			imap_resp_clear(&r);
			return FALSE;
		}
		if (r.kind == IMAP_UNTAGGED && fn)
			fn(&r, data);
		g_byte_array_remove_range(l->in, 0, r.consumed);
		imap_resp_clear(&r);
	}
}

/* ---- TLS ---------------------------------------------------------------------- */

/* speaks_tls - the port answers a TLS hello (a look in the other mode) */
static gboolean
speaks_tls(const struct check *ck, const struct target *t)
{
	CURLcode rc;
	struct link *l = link_open(ck, t, TLS_IMPLICIT, MIN(ck->timeout, PROBE_TIMEOUT), NULL, FALSE,
	    &rc);
	gboolean yes = rc == CURLE_OK || rc == CURLE_PEER_FAILED_VERIFICATION || l->tls;

	link_free(l);
	return yes;
}

/* greets_plain - the port greets in plain text; the greeting, or NULL */
static char *
greets_plain(const struct check *ck, const struct reach *r)
{
	struct addrinfo ai;
	g_autoptr(GByteArray) b = NULL;
	int fd;

	memset(&ai, 0, sizeof ai);
	ai.ai_family = r->addr.ss_family;
	ai.ai_socktype = SOCK_STREAM;
	ai.ai_addr = (struct sockaddr *)&r->addr;
	ai.ai_addrlen = r->addrlen;
	if ((fd = dial(&ai, MIN(ck->timeout, PROBE_TIMEOUT))) < 0)
		return NULL;
	b = first_bytes(fd, GREETING_MS);
	close(fd);
	if (!check_greets_plain(b->data, b->len))
		return NULL;
	return check_printable((const char *)b->data, b->len, 60);
}

/* throttled - the provider throttles or locks: say so */
static void
throttled(struct check *ck, const struct target *t, const char *said)
{
	if (t->use == SECRET_SMTP)
		failed(ck, EX_TEMPFAIL, "the provider is throttling or has locked the account: send "
		    "less often, or wait and try again (server: \"%s\")", said);
	else
		failed(ck, EX_TEMPFAIL, "the provider is throttling or has locked the mailbox: check "
		    "less often (check_interval), and let fewer programs log in to it at once "
		    "(server: \"%s\")", said);
}

/* silent - connected, and not a word from the server */
static void
silent(struct check *ck, const struct target *t)
{
	g_autofree char *hp = hostport(t->host, t->port), *pn = proto_name(t);

	failed(ck, EX_UNAVAILABLE, "%s accepted the connection but said nothing within %ds: is it "
	    "the %s port? (usually %d with %s = implicit, %d with %s = starttls)", hp, ck->timeout, pn,
	    t->implicit_port, t->tls_key, t->starttls_port, t->tls_key);
}

/* other - a failure nothing above explains, in conn.c's words for IMAP */
static void
other(struct check *ck, const struct target *t, const struct link *l, CURLcode rc)
{
	g_autofree char *hp = hostport(t->host, t->port), *cause = NULL;
	const char *said = last_said(l, t);

	if (strcmp(t->proto, "imap") == 0) {
		cause = conn_cause(rc, l->os_errno, l->errbuf, ck->a, ck->timeout);
	} else {
		cause = g_strdup_printf("%s: %s", hp, *l->errbuf ? l->errbuf : curl_easy_strerror(rc));
	}
	if (said)
		failed(ck, EX_UNAVAILABLE, "%s (server: \"%s\")", cause, said);
	else
		failed(ck, EX_UNAVAILABLE, "%s", cause);
}

/* tls_failed - TLS did not come up: why, in words */
static void
tls_failed(struct check *ck, const struct target *t, const struct reach *r, const struct link *l,
    CURLcode rc)
{
	g_autofree char *hp = hostport(t->host, t->port), *greeting = NULL;
	const char *said = last_said(l, t), *detail = *l->errbuf ? l->errbuf : curl_easy_strerror(rc);

	if (said && check_throttled(said)) {
		throttled(ck, t, said);
		return;
	}
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (g_str_has_prefix(detail, "SSL certificate problem: "))
			detail += strlen("SSL certificate problem: ");
		failed(ck, EX_UNAVAILABLE, "certificate not trusted (%s): set tls_ca_file to the CA that "
		    "signed it, or check the host name (%s = %s)", detail, t->host_key, t->host);
		return;
	case CURLE_SSL_CACERT_BADFILE:
		failed(ck, EX_CONFIG, "tls_ca_file %s cannot be used: %s", ck->a->tls_ca_file, detail);
		return;
	case CURLE_USE_SSL_FAILED:
		failed(ck, EX_UNAVAILABLE, "%s does not offer STARTTLS: use %s = implicit with the "
		    "provider's TLS port (usually %d)", hp, t->tls_key, t->implicit_port);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		other(ck, t, l, rc);
		return;
	default:
		break;
	}
	if (t->tls == TLS_IMPLICIT && (greeting = greets_plain(ck, r))) {
		failed(ck, EX_UNAVAILABLE, "TLS mode does not match the port: %s = implicit expects the "
		    "server to start TLS at once (usually port %d), but %s greets in plain text "
		    "(\"%s\"): for this port use %s = starttls", t->tls_key, t->implicit_port, hp,
		    greeting, t->tls_key);
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && l->said->len == 0 && t->tls != TLS_IMPLICIT) {
		silent(ck, t);
		return;
	}
	other(ck, t, l, rc);
}

/* secure - libcurl connects, sets up TLS and logs in when secret is set; the
 * TLS line says how TLS went.  The link when TLS is up or not wanted (rc is
 * how the rest went), NULL when the TLS step failed. */
static struct link *
secure(struct check *ck, const struct target *t, const struct reach *r, const char *secret,
    gboolean token, CURLcode *rc)
{
	g_autofree char *hp = hostport(t->host, t->port), *name = NULL, *why = NULL;
	struct link *l;

	if (t->tls == TLS_IMPLICIT)
		name = g_strdup_printf("%sTLS (implicit)", t->label);
	else if (t->tls == TLS_STARTTLS)
		name = *t->label ? g_strdup_printf("%sSTARTTLS", t->label) : g_strdup("TLS (STARTTLS)");
	else
		name = g_strdup_printf("%sTLS", t->label);
	step(ck, "%s", name);
	/* a port that did not greet in plain text may be waiting for TLS */
	if (t->tls != TLS_IMPLICIT && r->silent && speaks_tls(ck, t)) {
		failed(ck, EX_UNAVAILABLE, "TLS mode does not match the port: %s = %s expects the server "
		    "to greet in plain text first (usually port %d), but %s starts TLS at once: for "
		    "this port use %s = implicit", t->tls_key, t->tls == TLS_NONE ? "none" : "starttls",
		    t->starttls_port, hp, t->tls_key);
		return NULL;
	}
	if (t->tls == TLS_NONE) {
		why = g_strdup_printf("%s = none: the password and the mail cross the network "
		    "unencrypted", t->tls_key);
		unused(ck, why);
	}
	l = link_open(ck, t, t->tls, ck->timeout, secret, token, rc);
	if (t->tls == TLS_NONE)
		return l;
	if (l->tls || *rc == CURLE_OK || *rc == CURLE_LOGIN_DENIED || *rc == CURLE_AUTH_ERROR) {
		gboolean unverified = t->use == SECRET_MAILBOX && !ck->a->tls_verify;
		g_autofree char *detail = g_strdup_printf("%s%s%s", l->tls ? l->tls : "",
		    l->tls ? ", " : "", unverified ? "certificate NOT verified: tls_verify = no" :
		    "certificate verified");

		passed(ck, detail);
		return l;
	}
	tls_failed(ck, t, r, l, *rc);
	link_free(l);
	return NULL;
}

/* refused - the login (or AUTH) did not go through: why */
static void
refused(struct check *ck, const struct target *t, const struct link *l, CURLcode rc, gboolean token)
{
	const struct config_account *a = ck->a;
	const char *said = last_said(l, t);
	const char *opts = t->use == SECRET_MAILBOX ? conn_login_options(a) : NULL;
	const char *mech = opts && opts[5] != '+' ? opts + 5 : NULL;
	g_autofree char *quote = said ? g_strdup_printf(" (server: \"%s\")", said) : g_strdup("");
	g_autofree char *offer = offered(l, t);
	g_auto(GStrv) have = g_strsplit(offer ? offer : "", " ", -1);

	if (said && check_throttled(said)) {
		throttled(ck, t, said);
		return;
	}
	if (t->tls == TLS_NONE && !offer && ((said && check_wants_tls(said))
	    || said_has(l, "LOGINDISABLED"))) {
		failed(ck, EX_UNAVAILABLE, "the server takes no login without TLS: use %s = starttls "
		    "(or implicit with its TLS port)%s", t->tls_key, quote);
		return;
	}
	if ((rc == CURLE_LOGIN_DENIED || rc == CURLE_AUTH_ERROR) && mech
	    && !g_strv_contains((const char *const *)have, mech)) {
		failed(ck, EX_UNAVAILABLE, "the server does not offer %s (auth = %s; it offers: %s): "
		    "set auth to one it offers, or best", mech, mech, offer ? offer : "none");
		return;
	}
	switch (rc) {
	case CURLE_LOGIN_DENIED:
		if (token)
			failed(ck, EX_NOPERM, "login refused: the OAuth2 token was not accepted for %s: "
			    "check oauth2_token_command (expired? the mail scope?) and the user%s", t->user,
			    quote);
		else if (t->use == SECRET_SMTP)
			failed(ck, EX_NOPERM, "AUTH refused: check smtp_user — some providers want the "
			    "full address, others the local part — and the SMTP password; Gmail and "
			    "Microsoft 365 need an app password or OAuth2%s", quote);
		else
			failed(ck, EX_NOPERM, "login refused: check user — some providers want the full "
			    "address, others the local part — and the password; Gmail and Microsoft 365 "
			    "need an app password or OAuth2%s", quote);
		return;
	case CURLE_AUTH_ERROR:
	case CURLE_REMOTE_ACCESS_DENIED:
		failed(ck, EX_UNAVAILABLE, "no login method in common with the server (it offers: "
		    "%s)%s", offer ? offer : "none", quote);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		if (l->said->len == 0) {
			silent(ck, t);
			return;
		}
		break;
	default:
		break;
	}
	other(ck, t, l, rc);
}

/* ---- the mailbox -------------------------------------------------------------- */

struct folders {
	guint32 exists;
	GPtrArray *names;
};

/* on_examine - "* N EXISTS" */
static void
on_examine(const struct imap_resp *r, void *data)
{
	struct folders *f = data;

	if (strcmp(r->word, "EXISTS") == 0 && r->has_number)
		f->exists = r->number;
}

/* on_list - "* LIST (flags) delim name": the folders that can be opened */
static void
on_list(const struct imap_resp *r, void *data)
{
	struct folders *f = data;
	gboolean selectable;
	char *name;

	if (strcmp(r->word, "LIST") != 0 || !(name = check_list_name(r->text, &selectable)))
		return;
	if (selectable)
		g_ptr_array_add(f->names, name);
	else
		g_free(name);
}

/* folder - EXAMINE the account's folder; on failure, LIST what there is */
static void
folder(struct check *ck, const struct target *t, struct link *l)
{
	const char *want = ck->a->folder;
	g_autofree char *q = imap_quote(want), *cmd = NULL, *word = NULL, *text = NULL;
	g_autofree char *lword = NULL, *ltext = NULL, *detail = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) names = g_string_new(NULL);
	struct folders f = { 0, g_ptr_array_new_with_free_func(g_free) };
	const char *near = NULL;
	gboolean found = FALSE;

	step(ck, "folder %s", want);
	if (!q) {
		failed(ck, EX_CONFIG, "folder \"%s\" cannot be named in IMAP (a line break?): check "
		    "folder in %s", want, ck->a->file);
		goto out;
	}
	cmd = g_strdup_printf("EXAMINE %s", q);
	if (!imap_run(l, cmd, on_examine, &f, &word, &text, &err)) {
		if (check_throttled(err->message))
			throttled(ck, t, err->message);
		else
			failed(ck, EX_UNAVAILABLE, "unable to open folder %s: %s", want, err->message);
		goto out;
	}
	if (strcmp(word, "OK") == 0) {
		detail = g_strdup_printf("%" G_GUINT32_FORMAT " message%s", f.exists,
		    f.exists == 1 ? "" : "s");
		passed(ck, detail);
		goto out;
	}
	if (check_throttled(text)) {
		g_autofree char *said = g_strdup_printf("%s %s", word, text);

		throttled(ck, t, said);
		goto out;
	}
	if (!imap_run(l, "LIST \"\" \"*\"", on_list, &f, &lword, &ltext, &err)
	    || strcmp(lword, "OK") != 0) {
		failed(ck, EX_UNAVAILABLE, "folder %s cannot be opened (server: \"%s %s\"), and the "
		    "server does not list its folders", want, word, text);
		goto out;
	}
	for (guint i = 0; i < f.names->len; i++) {
		const char *n = g_ptr_array_index(f.names, i);

		if (strcmp(n, want) == 0 || (g_ascii_strcasecmp(want, "INBOX") == 0
		    && g_ascii_strcasecmp(n, "INBOX") == 0))
			found = TRUE;
		else if (g_ascii_strcasecmp(n, want) == 0)
			near = n;
		if (i < FOLDERS_MAX)
			g_string_append_printf(names, "%s%s", i ? ", " : "", n);
	}
	if (f.names->len > FOLDERS_MAX)
		g_string_append_printf(names, " and %u more", f.names->len - FOLDERS_MAX);
	if (found)
		failed(ck, EX_UNAVAILABLE, "folder %s exists but cannot be opened (server: \"%s %s\")",
		    want, word, text);
	else if (near)
		failed(ck, EX_UNAVAILABLE, "folder %s does not exist; folders are: %s (names are "
		    "case-sensitive: %s?)", want, names->str, near);
	else if (f.names->len)
		failed(ck, EX_UNAVAILABLE, "folder %s does not exist; folders are: %s", want,
		    names->str);
	else
		failed(ck, EX_UNAVAILABLE, "folder %s does not exist, and the server lists no folders",
		    want);
out:
	g_ptr_array_unref(f.names);
}

/* pop3_count - STAT: how many messages wait */
static void
pop3_count(struct check *ck, const struct target *t, struct link *l)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *line = NULL, *detail = NULL;
	gboolean ok = FALSE;
	guint64 n;

	step(ck, "mailbox");
	if (!link_send(l, "STAT\r\n", &err) || !(line = link_line(l, &err))) {
		failed(ck, EX_UNAVAILABLE, "STAT failed: %s", err->message);
		return;
	}
	if (pop3_status(line, &ok) && ok) {
		n = g_ascii_strtoull(line + 3, NULL, 10);
		detail = g_strdup_printf("%" G_GUINT64_FORMAT " message%s", n, n == 1 ? "" : "s");
		passed(ck, detail);
	} else if (check_throttled(line)) {
		throttled(ck, t, line);
	} else {
		failed(ck, EX_UNAVAILABLE, "the server refused STAT (server: \"%s\")", line);
	}
}

/* userpass - POP3 USER and PASS (auth = pass); a refusal becomes the
 * server's last word and CURLE_LOGIN_DENIED, as if libcurl had sent them */
static CURLcode
userpass(struct link *l, const char *user, const char *secret)
{
	const char *cmd[] = { "USER", "PASS" }, *arg[] = { user, secret };

	for (int i = 0; i < 2; i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *line = NULL, *reply = NULL;
		gboolean ok = FALSE;

		if (strpbrk(arg[i], "\r\n"))
			return CURLE_LOGIN_DENIED;
		line = g_strdup_printf("%s %s\r\n", cmd[i], arg[i]);
		if (link_send(l, line, &err))
			reply = link_line(l, &err);
		explicit_bzero(line, strlen(line));
		if (!reply)
			return CURLE_RECV_ERROR;
		pop3_status(reply, &ok);
		if (reply)
			g_ptr_array_add(l->said, g_steal_pointer(&reply));
		if (!ok)
			return CURLE_LOGIN_DENIED;
	}
	return CURLE_OK;
}

/* mailbox - IMAP or POP3: lookup, connection, TLS, login, folder */
static void
mailbox(struct check *ck)
{
	const struct config_account *a = ck->a;
	gboolean pop3 = a->proto == PROTOCOL_POP3, plain;
	struct target t = {
		pop3 ? "pop3" : "imap", "", a->host, a->port, a->tls, "host", "port", "tls",
		pop3 ? 995 : 993, pop3 ? 110 : 143, a->user, SECRET_MAILBOX
	};
	g_autoptr(GError) err = NULL;
	gboolean token = account_secret_is_token(a, SECRET_MAILBOX);
	char *secret;
	struct reach r;
	struct link *l;
	CURLcode rc;

	if (!reach(ck, &t, &r))
		return;
	/* without its secret the check still gets as far as TLS; fetchd sends
	 * no secret in clear text unless allowed, nor does the check */
	plain = a->tls == TLS_NONE && !a->allow_plaintext;
	secret = plain ? NULL : account_secret(a, SECRET_MAILBOX, &err);
	l = secure(ck, &t, &r, secret, token, &rc);
	if (!l)
		goto out;
	step(ck, "login as %s%s", a->user, token ? " (OAuth2)" : "");
	if (plain) {
		failed(ck, EX_CONFIG, "not tried: tls = none would send the %s unencrypted, which fetchd "
		    "refuses unless allow_plaintext = yes (better: tls = starttls or implicit)",
		    token ? "token" : "password");
	} else if (!secret) {
		failed(ck, EX_CONFIG, "%s", err->message);
	} else if (rc == CURLE_OK && pop3 && a->auth == AUTH_PASS
	    && (rc = userpass(l, a->user, secret)) != CURLE_OK) {
		refused(ck, &t, l, rc, token);
	} else if (rc != CURLE_OK) {
		refused(ck, &t, l, rc, token);
	} else {
		passed(ck, NULL);
		if (pop3)
			pop3_count(ck, &t, l);
		else
			folder(ck, &t, l);
	}
	link_free(l);
out:
	secret_free(secret);
}

/* ---- SMTP ----------------------------------------------------------------------- */

/* ehlo_caps - the extensions of the last EHLO answer ("250-..."), or NULL
 * when there was none */
static GPtrArray *
ehlo_caps(const struct link *l)
{
	GPtrArray *caps = NULL;
	gboolean in = FALSE;

	for (guint i = 0; i < l->said->len; i++) {
		const char *s = g_ptr_array_index(l->said, i);
		gboolean more = g_str_has_prefix(s, "250-"), last = g_str_has_prefix(s, "250 ")
		    || strcmp(s, "250") == 0;

		if (!more && !last) {
			in = FALSE;
			continue;
		}
		if (!in) {
			/* a new answer; its first line names the server */
			if (caps)
				g_ptr_array_unref(caps);
			caps = g_ptr_array_new_with_free_func(g_free);
			in = more;
			continue;
		}
		g_ptr_array_add(caps, g_strdup(s + 4));
		in = more;
	}
	return caps;
}

/* ehlo_summary - "SIZE, 8BITMIME, AUTH LOGIN PLAIN" */
static char *
ehlo_summary(GPtrArray *caps)
{
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < caps->len; i++) {
		const char *c = g_ptr_array_index(caps, i);
		gsize n = g_ascii_strncasecmp(c, "AUTH ", 5) == 0 ? strlen(c) : strcspn(c, " =");

		g_string_append_printf(out, "%s%.*s", out->len ? ", " : "", (int)n, c);
	}
	return g_string_free(out, FALSE);
}

struct upload {
	const char *data;
	size_t len, off;
};

/* read_cb - libcurl's reader: the test message */
static size_t
read_cb(char *buf, size_t size, size_t n, void *p)
{
	struct upload *u = p;
	size_t want = MIN(size * n, u->len - u->off);

	memcpy(buf, u->data + u->off, want);
	u->off += want;
	return want;
}

/* send_test - a short message from reply_address to to, as agentd sends */
static void
send_test(struct check *ck, const struct target *t, const char *to, const char *secret,
    gboolean token)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *uuid = g_uuid_string_random();
	g_autofree char *msg = check_compose(ck->a, to, now, uuid);
	g_autofree char *from = g_strdup_printf("<%s>", ck->a->reply_address);
	g_autofree char *rcpt = g_strdup_printf("<%s>", to);
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	struct upload up = { msg, strlen(msg), 0 };
	struct link *l = link_new(ck, t, t->tls, MAX(ck->timeout, 30));
	const char *said;
	CURLcode rc;

	step(ck, "SMTP test message to %s", to);
	if (secret)
		link_login(l, t->user, secret, token);
	curl_easy_setopt(l->curl, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(l->curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(l->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(l->curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(l->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
	curl_easy_setopt(l->curl, CURLOPT_UPLOAD, 1L);
	rc = link_perform(l);
	said = last_said(l, t);
	if (rc == CURLE_OK)
		passed(ck, said);
	else if (rc == CURLE_LOGIN_DENIED || (said && check_throttled(said)))
		refused(ck, t, l, rc, token);
	else if (said)
		failed(ck, EX_UNAVAILABLE, "the server did not take the message (server: \"%s\")", said);
	else
		other(ck, t, l, rc);
	curl_slist_free_all(rcpts);
	link_free(l);
}

/* smtp - lookup, connection, TLS, EHLO, AUTH, and the test message */
static void
smtp(struct check *ck, const char *send_to)
{
	const struct config_account *a = ck->a;
	struct target t = {
		"smtp", "SMTP ", a->smtp_host, a->smtp_port, a->smtp_tls, "smtp_host", "smtp_port",
		"smtp_tls", 465, 587, a->smtp_user, SECRET_SMTP
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) caps = NULL;
	g_autofree char *summary = NULL;
	gboolean token = a->smtp_auth && account_secret_is_token(a, SECRET_SMTP);
	int before = ck->failed;
	char *secret = NULL;
	struct reach r;
	struct link *l;
	CURLcode rc;

	if (!reach(ck, &t, &r))
		return;
	if (a->smtp_auth)
		secret = account_secret(a, SECRET_SMTP, &err);
	if (!(l = secure(ck, &t, &r, secret, token, &rc)))
		goto out;

	step(ck, "SMTP EHLO");
	if (!(caps = ehlo_caps(l))) {
		const char *said = last_said(l, &t);

		if (said && check_throttled(said))
			throttled(ck, &t, said);
		else if (rc == CURLE_OPERATION_TIMEDOUT && l->said->len == 0)
			silent(ck, &t);
		else if (said)
			failed(ck, EX_UNAVAILABLE, "the server did not answer EHLO (server: \"%s\")", said);
		else
			other(ck, &t, l, rc);
		goto done;
	}
	summary = ehlo_summary(caps);
	passed(ck, summary);

	if (!a->smtp_auth) {
		step(ck, "SMTP AUTH");
		unused(ck, "smtp_auth = no");
	} else {
		step(ck, "SMTP AUTH as %s%s", a->smtp_user, token ? " (OAuth2)" : "");
		if (!secret)
			failed(ck, EX_CONFIG, "%s", err->message);
		else if (rc != CURLE_OK)
			refused(ck, &t, l, rc, token);
		else if (said_start(l, "235"))
			passed(ck, NULL);
		else
			failed(ck, EX_UNAVAILABLE, "the server offers no AUTH on this connection (EHLO: "
			    "%s): use smtp_tls = starttls or implicit if it offers AUTH only over TLS, or "
			    "smtp_auth = no if it relays for this host without a login", summary);
	}
done:
	link_free(l);
	if (send_to && ck->failed == before)
		send_test(ck, &t, send_to, secret, token);
out:
	secret_free(secret);
}

/* ---- the whole check ------------------------------------------------------------ */

int
check_run(const struct config *cfg, const char *account, const char *send_to, FILE *out)
{
	struct check ck = { 0 };

	ck.a = config_account(cfg, account);
	if (!ck.a) {
		log_error("no account %s in %s/accounts", account, cfg->dir);
		return EX_CONFIG;
	}
	if (send_to && !check_address_ok(send_to)) {
		log_error("--send-test: \"%s\" is not an email address", send_to);
		return EX_USAGE;
	}
	ck.out = out;
	ck.timeout = CLAMP(cfg->net_timeout, 1, CHECK_TIMEOUT_MAX);
	mailbox(&ck);
	smtp(&ck, send_to);
	if (ck.failed)
		fprintf(out, "%s: %d check%s failed\n", ck.a->id, ck.failed, ck.failed == 1 ? "" : "s");
	else
		fprintf(out, "%s: all checks passed\n", ck.a->id);
	fflush(out);
	return ck.status;
}
