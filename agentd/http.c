/*
 * http - libmicrohttpd: one thread per connection (so an event stream may
 * wait), bodies read up to AGENTD_BODY_MAX, the API handed to api.c, the
 * page served from the binary (or from [agentd] www while developing).
 */
#include "agentd.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

#define CONNECTION_LIMIT	512
#define IDLE_TIMEOUT_S		120
#define DRAIN_MAX_S		30

struct http {
	struct agentd *ad;
	struct MHD_Daemon *d;
	gint busy;		/* API requests being answered */
};

struct request {
	GString *body;
	gboolean too_big;
};

const char *
http_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		if (g_str_has_suffix(name, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* www_name_ok - a plain file name: no path, no dot file */
static gboolean
www_name_ok(const char *name)
{
	if (!g_ascii_isalnum(*name))
		return FALSE;
	for (const char *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("._-", *p))
			return FALSE;
	return strlen(name) <= 64;
}

GBytes *
http_www_file(const char *dir, const char *name)
{
	if (!www_name_ok(name))
		return NULL;
	if (dir && *dir) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		char *data;
		gsize len;

		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)
		    || !g_file_get_contents(path, &data, &len, NULL))
			return NULL;
		return g_bytes_new_take(data, len);
	}
	for (const struct www_file *f = www_files; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return g_bytes_new_static(f->data, f->len);
	return NULL;
}

/* common_headers - the security headers of every answer */
static void
common_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

/* queue - send a response and drop our reference */
static enum MHD_Result
queue(struct MHD_Connection *conn, int status, struct MHD_Response *r)
{
	enum MHD_Result rc = MHD_queue_response(conn, status, r);

	MHD_destroy_response(r);
	return rc;
}

/* send_json - an API answer as application/json */
static enum MHD_Result
send_json(struct MHD_Connection *conn, struct api_answer *ans)
{
	char *text = json_dumps(ans->body, JSON_COMPACT);
	struct MHD_Response *r;

	g_assert(text != NULL);
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	common_headers(r);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (ans->set_cookie)
		MHD_add_response_header(r, "Set-Cookie", ans->set_cookie);
	return queue(conn, ans->status, r);
}

/* unref_bytes - libmicrohttpd's free callback for a GBytes body */
static void
unref_bytes(void *cls)
{
	g_bytes_unref(cls);
}

/* send_file - GET / and the page's files */
static enum MHD_Result
send_file(struct http *h, struct MHD_Connection *conn, const char *method, const char *url)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(h->ad);
	const char *name = strcmp(url, "/") == 0 ? "index.html" : url + 1;
	struct api_answer ans = { 0 };
	struct MHD_Response *r;
	enum MHD_Result rc;
	GBytes *b = NULL;
	gsize len;
	const void *data;

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		b = http_www_file(cfg->c->agentd_www, name);
	if (!b) {
		api_error(&ans, 404, "not_found", "no such page");
		rc = send_json(conn, &ans);
		api_answer_clear(&ans);
		return rc;
	}
	data = g_bytes_get_data(b, &len);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)data, unref_bytes, b);
	common_headers(r);
	MHD_add_response_header(r, "Content-Type", http_content_type(name));
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	return queue(conn, MHD_HTTP_OK, r);
}

/* client_addr - the peer's address as text, for logs */
static char *
client_addr(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[NI_MAXHOST];

	if (!ci || !ci->client_addr)
		return g_strdup("?");
	if (getnameinfo(ci->client_addr, ci->client_addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), host, sizeof host, NULL, 0,
	    NI_NUMERICHOST) != 0)
		return g_strdup("?");
	return g_strdup(host);
}

/* token_of - the session token of a request: Bearer header or cookie */
static const char *
token_of(struct MHD_Connection *conn)
{
	return api_token(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
	    MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, AGENTD_COOKIE));
}

/* send_events - GET /api/events: the event stream */
static enum MHD_Result
send_events(struct http *h, struct MHD_Connection *conn)
{
	const char *token = token_of(conn);
	g_autofree char *agent = NULL;
	const union MHD_ConnectionInfo *ci;
	struct api_answer ans = { 0 };
	struct events_stream *st;
	struct MHD_Response *r;
	enum MHD_Result rc;

	agent = token ? session_lookup(h->ad->sessions, token, sessions_now()) : NULL;
	if (!agent) {
		api_error(&ans, 401, "unauthorized", "no session, or it has expired: log in");
		goto fail;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	st = events_open(h->ad, token, agent, ci ? ci->connect_fd : -1, &ans);
	if (!st) {
		if (ans.status == 401)
			session_end(h->ad->sessions, token);
		goto fail;
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, events_read, st, events_close);
	common_headers(r);
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return queue(conn, MHD_HTTP_OK, r);
fail:
	rc = send_json(conn, &ans);
	api_answer_clear(&ans);
	return rc;
}

/* on_request - libmicrohttpd's access handler: read the body, then answer */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct request *rq = *con_cls;
	struct api_request in;
	struct api_answer ans;
	g_autofree char *client = NULL;
	enum MHD_Result rc;
	json_int_t id;

	if (!rq) {
		rq = g_new0(struct request, 1);
		rq->body = g_string_new(NULL);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (rq->body->len + *upload_data_size > AGENTD_BODY_MAX)
			rq->too_big = TRUE;
		else
			g_string_append_len(rq->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!g_str_has_prefix(url, "/api/"))
		return send_file(h, conn, method, url);
	if (api_route(method, url, &id) == ROUTE_EVENTS)
		return send_events(h, conn);

	g_atomic_int_inc(&h->busy);
	client = client_addr(conn);
	memset(&in, 0, sizeof in);
	in.method = method;
	in.path = url;
	in.token = token_of(conn);
	in.body = rq->body->str;
	in.body_len = rq->body->len;
	in.body_too_big = rq->too_big;
	in.client = client;
	api_handle(h->ad, &in, &ans);
	rc = send_json(conn, &ans);
	api_answer_clear(&ans);
	g_atomic_int_dec_and_test(&h->busy);
	return rc;
}

/* on_completed - free what on_request kept for a request */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	if (!rq)
		return;
	g_string_free(rq->body, TRUE);
	g_free(rq);
	*con_cls = NULL;
}

/* on_log - libmicrohttpd's messages, as our log lines */
static void
on_log(void *cls, const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);

	log_warn("http: %s", g_strchomp(msg));
}

/* listen_addr - "host:port" or "[v6]:port" as a socket address */
static struct addrinfo *
listen_addr(const char *listen, GError **err)
{
	g_autofree char *host = NULL;
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints, *res = NULL;
	int rc;

	if (!colon || !colon[1]) {
		g_set_error(err, AGENTD_ERROR, 0, "listen: \"%s\" is not address:port", listen);
		return NULL;
	}
	host = g_strndup(listen, colon - listen);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
	if (rc != 0) {
		g_set_error(err, AGENTD_ERROR, 0, "listen: %s: %s", listen, gai_strerror(rc));
		return NULL;
	}
	return res;
}

struct http *
http_start(struct agentd *ad, const char *listen, GError **err)
{
	struct addrinfo *ai = listen_addr(listen, err);
	struct http *h;
	/* MHD_USE_AUTO: poll(), not select() and its FD_SETSIZE */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
	    | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_AUTO;

	if (!ai)
		return NULL;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h = g_new0(struct http, 1);
	h->ad = ad;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		g_set_error(err, AGENTD_ERROR, 0, "unable to listen on %s: %s", listen,
		    errno ? g_strerror(errno) : "libmicrohttpd refused");
		g_free(h);
		return NULL;
	}
	return h;
}

void
http_stop(struct http *h)
{
	gint64 until = g_get_monotonic_time() + DRAIN_MAX_S * G_USEC_PER_SEC;
	MHD_socket fd;

	if (!h)
		return;
	/* no new connections; let the answers being made finish (a reply on its
	 * way to the SMTP server); event streams see agentd_stopping() */
	fd = MHD_quiesce_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	while (g_atomic_int_get(&h->busy) > 0 && g_get_monotonic_time() < until)
		g_usleep(50 * 1000);
	MHD_stop_daemon(h->d);
	g_free(h);
}
