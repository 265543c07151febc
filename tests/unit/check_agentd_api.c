/*
 * check_agentd_api - the calls of docs/api.md, driven through api_handle()
 * and the event stream, against a routed made of a ROUTER socket on
 * inproc:// that answers from a script, and a real configuration directory.
 */
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <microhttpd.h>
#include <zmq.h>

#include <glib/gstdio.h>

#include "agentd.h"
#include "unit.h"
#include "wire.h"
#include "zsock.h"

/* --- the pure parts --- */

static const struct {
	const char *method, *path;
	enum api_route route;
	json_int_t id;
} routes[] = {
	{ "POST", "/api/login", ROUTE_LOGIN, 0 },
	{ "GET", "/api/login", ROUTE_NONE, 0 },
	{ "POST", "/api/logout", ROUTE_LOGOUT, 0 },
	{ "GET", "/api/me", ROUTE_ME, 0 },
	{ "POST", "/api/state", ROUTE_STATE, 0 },
	{ "GET", "/api/events", ROUTE_EVENTS, 0 },
	{ "GET", "/api/conversations/17", ROUTE_CONVERSATION, 17 },
	{ "POST", "/api/conversations/17", ROUTE_NONE, 0 },
	{ "POST", "/api/conversations/42/reply", ROUTE_REPLY, 42 },
	{ "GET", "/api/conversations/42/reply", ROUTE_NONE, 0 },
	{ "POST", "/api/conversations/9/disposition", ROUTE_DISPOSITION, 9 },
	{ "POST", "/api/conversations/9/disposition/x", ROUTE_NONE, 0 },
	{ "GET", "/api/conversations/", ROUTE_NONE, 0 },
	{ "GET", "/api/conversations/abc", ROUTE_NONE, 0 },
	{ "GET", "/api/conversations/-1", ROUTE_NONE, 0 },
	{ "GET", "/api/conversations/017", ROUTE_NONE, 0 },
	{ "GET", "/api/conversations/1234567890123456", ROUTE_NONE, 0 },
	{ "GET", "/api/nothing", ROUTE_NONE, 0 },
};

START_TEST(test_route)
{
	json_int_t id = 0;

	ck_assert_int_eq(api_route(routes[_i].method, routes[_i].path, &id), routes[_i].route);
	if (routes[_i].route != ROUTE_NONE)
		ck_assert_int_eq(id, routes[_i].id);
}
END_TEST

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOK2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const struct {
	const char *auth, *cookie, *token;
} tokens[] = {
	{ "Bearer " TOK, NULL, TOK },
	{ "bearer " TOK, NULL, TOK },
	{ "Bearer " TOK, TOK2, TOK },
	{ NULL, TOK2, TOK2 },
	{ "Basic dXNlcjpwYXNz", TOK2, TOK2 },
	{ "Bearer nope", NULL, NULL },
	{ NULL, "nope", NULL },
	{ NULL, NULL, NULL },
};

START_TEST(test_token)
{
	const char *t = api_token(tokens[_i].auth, tokens[_i].cookie);

	if (tokens[_i].token)
		ck_assert_str_eq(t, tokens[_i].token);
	else
		ck_assert_ptr_null(t);
}
END_TEST

static const struct {
	const char *body;
	gboolean ok;
} bodies[] = {
	{ "{\"state\":\"ready\"}", TRUE },
	{ "{}", TRUE },
	{ "", FALSE },
	{ "[1,2]", FALSE },
	{ "\"ready\"", FALSE },
	{ "{\"a\":1", FALSE },
	{ "{\"a\":1,\"a\":2}", FALSE },
	{ "{\"a\":\"\\u0000\"}", FALSE },
	{ "{\"a\":\"\xff\"}", FALSE },
};

START_TEST(test_body)
{
	const char *why = NULL;
	json_t *j = api_body(bodies[_i].body, strlen(bodies[_i].body), &why);

	ck_assert_msg((j != NULL) == bodies[_i].ok, "%s", bodies[_i].body);
	if (!j)
		ck_assert_ptr_nonnull(why);
	json_decref(j);
}
END_TEST

START_TEST(test_events_format)
{
	json_t *m = json_pack("{s:s, s:s, s:i, s:s}", "event", "assigned", "agent", "alice",
	    "conversation", 17, "subject", "two\nlines");
	g_autofree char *s = events_format(m);
	json_t *bad = json_pack("{s:s}", "event", "x\ndata: evil");
	json_t *none = json_pack("{s:i}", "conversation", 1);

	ck_assert_str_eq(s,
	    "event: assigned\ndata: {\"conversation\":17,\"subject\":\"two\\nlines\"}\n\n");
	ck_assert_ptr_null(events_format(bad));
	ck_assert_ptr_null(events_format(none));
	json_decref(m);
	json_decref(bad);
	json_decref(none);
}
END_TEST

START_TEST(test_www)
{
	g_autoptr(GBytes) index = http_www_file("", "index.html");
	g_autoptr(GBytes) js = http_www_file("", "app.js");
	g_autoptr(GBytes) css = http_www_file("", "style.css");
	gsize len;
	const char *data;

	ck_assert_ptr_nonnull(index);
	ck_assert_ptr_nonnull(js);
	ck_assert_ptr_nonnull(css);
	data = g_bytes_get_data(index, &len);
	ck_assert_ptr_nonnull(g_strstr_len(data, len, "/app.js"));
	/* the page never writes mail as HTML */
	data = g_bytes_get_data(js, &len);
	ck_assert_ptr_null(g_strstr_len(data, len, "innerHTML"));
	ck_assert_ptr_null(http_www_file("", "../agentd.h"));
	ck_assert_ptr_null(http_www_file("", ".hidden"));
	ck_assert_ptr_null(http_www_file("", "nothing.html"));
	ck_assert_ptr_null(http_www_file("/etc", "../etc/passwd"));
	ck_assert_str_eq(http_content_type("app.js"), "text/javascript; charset=utf-8");
	ck_assert_str_eq(http_content_type("index.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(http_content_type("style.css"), "text/css; charset=utf-8");
}
END_TEST

/* --- a scripted routed --- */

static struct {
	void *ctx;
	void *router;		/* the fake routed's control socket */
	void *stop;		/* PAIR: tells the fake to end */
	GThread *thread;
	GMutex lock;
	GPtrArray *reqs;	/* json_t *: every request, with "parts" added */
	gint mute;		/* answer nothing */
	gint forget;		/* answer not_logged_in */
	char *dir;
	int closed_port;
	struct agentd *ad;
} f;

static json_t *
conversation(json_int_t id, const char *agent)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:n, s:{s:i, s:s, s:s}, s:[{"
	    "s:i, s:s, s:s, s:s, s:n, s:[], s:s, s:s, s:s, s:[], s:[], s:[], s:s, s:s, s:s}]}",
	    "id", id, "subject", "Où est ma commande ?", "status", "assigned", "group", "support",
	    "account", "support", "agent", agent, "disposition",
	    "contact", "id", 4, "addr", "zoe@example.net", "name", "Zoë Martin",
	    "messages", "id", 31, "direction", "in", "message_id", "abc@example.net",
	    "subject", "Où est ma commande ?", "in_reply_to", "references",
	    "from_name", "Zoë Martin", "from_addr", "zoe@example.net", "date",
	    "Tue, 14 Nov 2023 10:00:00 +0100", "to", "cc", "reply_to",
	    "date_iso_utc", "2023-11-14T09:00:00Z", "text_body", "Bonjour", "created",
	    "2023-11-14T09:00:03Z");
}

static json_t *
refuse(const char *code)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", code, "message", code);
}

static json_t *
answer_for(const struct wire_msg *m)
{
	const char *op = wire_meta_str(m, "op");
	const char *agent = wire_meta_str(m, "agent");
	json_int_t conv = wire_meta_int(m, "conversation");

	if (g_atomic_int_get(&f.forget))
		return refuse("not_logged_in");
	if (strcmp(op, "login") == 0)
		return json_pack("{s:b, s:s}", "ok", 1, "state", "paused");
	if (strcmp(op, "logout") == 0)
		return json_pack("{s:b}", "ok", 1);
	if (strcmp(op, "status") == 0)
		return json_pack("{s:b, s:s, s:i}", "ok", 1, "state", "ready", "conversation", 17);
	if (strcmp(op, "state") == 0)
		return json_pack("{s:b, s:s}", "ok", 1, "state", wire_meta_str(m, "state"));
	if (strcmp(op, "conversation") == 0) {
		if (conv == 17)
			return json_pack("{s:b, s:o}", "ok", 1, "conversation", conversation(17, agent));
		if (conv == 18)
			return json_pack("{s:b, s:o}", "ok", 1, "conversation", conversation(18, "bob"));
		return refuse("not_found");
	}
	if (strcmp(op, "reply") == 0)
		return json_pack("{s:b, s:i}", "ok", 1, "message", 99);
	if (strcmp(op, "disposition") == 0) {
		const char *d = wire_meta_str(m, "disposition");

		if (strcmp(d, "DONE") == 0 || strcmp(d, "SPAM") == 0)
			return json_pack("{s:b}", "ok", 1);
		return refuse("bad_disposition");
	}
	return refuse("bad_request");
}

static gpointer
fake_routed(gpointer unused)
{
	for (;;) {
		zmq_pollitem_t items[] = {
			{ f.router, 0, ZMQ_POLLIN, 0 },
			{ f.stop, 0, ZMQ_POLLIN, 0 },
		};
		struct wire_msg *m;
		json_t *rec, *rep;

		if (zmq_poll(items, 2, -1) < 0)
			continue;
		if (items[1].revents)
			return NULL;
		m = wire_recv(f.router, FALSE, TRUE, 0, NULL);
		if (!m)
			continue;
		rec = json_deep_copy(m->meta);
		json_object_set_new(rec, "parts", json_integer(m->parts->len));
		g_mutex_lock(&f.lock);
		g_ptr_array_add(f.reqs, rec);
		g_mutex_unlock(&f.lock);
		if (!g_atomic_int_get(&f.mute)) {
			rep = answer_for(m);
			wire_reply(f.router, m, WIRE_REP, rep, NULL);
			json_decref(rep);
		}
		wire_msg_free(m);
	}
}

/* seen - how many requests of op routed got */
static int
seen(const char *op)
{
	int n = 0;

	g_mutex_lock(&f.lock);
	for (guint i = 0; i < f.reqs->len; i++)
		if (strcmp(json_string_value(json_object_get(f.reqs->pdata[i], "op")), op) == 0)
			n++;
	g_mutex_unlock(&f.lock);
	return n;
}

/* last - the last request of op */
static json_t *
last(const char *op)
{
	json_t *r = NULL;

	g_mutex_lock(&f.lock);
	for (guint i = 0; i < f.reqs->len; i++)
		if (strcmp(json_string_value(json_object_get(f.reqs->pdata[i], "op")), op) == 0)
			r = f.reqs->pdata[i];
	g_mutex_unlock(&f.lock);
	return r;
}

static void
put(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	g_mkdir_with_parents(parent, 0700);
	ck_assert(g_file_set_contents(path, text, -1, NULL));
	chmod(path, 0600);
}

/* closed_port - a loopback port nothing listens on */
static int
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static void
setup(void)
{
	struct crypt_data cd;
	char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	g_autofree char *hash = NULL, *agent = NULL, *account = NULL;
	g_autoptr(GError) e = NULL;
	struct config *cfg;

	memset(&cd, 0, sizeof cd);
	hash = g_strdup(crypt_r("secret", salt, &cd));
	free(salt);
	f.dir = g_dir_make_tmp("agentd-XXXXXX", NULL);
	f.closed_port = closed_port();
	put(f.dir, "postroom.conf", "[postroom]\nstate_dir = state\nrun_dir = run\n"
	    "[endpoints]\ncontrol = inproc://control\nevents = inproc://events\n");
	put(f.dir, "groups/support.conf", "[group]\nname = Support\ndispositions = DONE, SPAM\n");
	account = g_strdup_printf("[account]\nhost = imap.example.com\nuser = support\n"
	    "password_file = secret\ngroup = support\nreply_address = support@example.com\n"
	    "reply_name = Support\nsmtp_host = 127.0.0.1\nsmtp_port = %d\nsmtp_tls = none\n"
	    "smtp_auth = no\n", f.closed_port);
	put(f.dir, "accounts/support.conf", account);
	put(f.dir, "secret", "pw\n");
	agent = g_strdup_printf("[agent]\nname = Alice Martin\npassword_hash = %s\n"
	    "groups = support:5\n", hash);
	put(f.dir, "agents/alice.conf", agent);
	put(f.dir, "agents/bob.conf", agent);
	cfg = config_load(f.dir, &e);
	ck_assert_msg(cfg != NULL, "%s", e ? e->message : "");

	f.ctx = zmq_ctx_new();
	f.router = zsock_bind(f.ctx, ZMQ_ROUTER, "inproc://control", NULL);
	f.stop = zsock_bind(f.ctx, ZMQ_PAIR, "inproc://stop", NULL);
	ck_assert_ptr_nonnull(f.router);
	g_mutex_init(&f.lock);
	f.reqs = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	g_atomic_int_set(&f.mute, 0);
	g_atomic_int_set(&f.forget, 0);
	f.thread = g_thread_new("routed", fake_routed, NULL);
	f.ad = agentd_new(f.ctx, f.dir, cfg, NULL);
}

/* rm_tree - remove the test's configuration directory */
static void
rm_tree(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *n;

	if (d) {
		while ((n = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(path, n, NULL);

			rm_tree(p);
		}
		g_dir_close(d);
	}
	g_remove(path);
}

static void
teardown(void)
{
	void *tx = zsock_connect(f.ctx, ZMQ_PAIR, "inproc://stop", NULL, NULL);

	zmq_send(tx, "", 0, 0);
	g_thread_join(f.thread);
	zsock_close(tx);
	zsock_close(f.router);
	zsock_close(f.stop);
	agentd_free(f.ad);
	zmq_ctx_term(f.ctx);
	g_ptr_array_unref(f.reqs);
	g_mutex_clear(&f.lock);
	rm_tree(f.dir);
	g_free(f.dir);
}

/* call - api_handle with a method, path, token and body */
static void
call(struct api_answer *ans, const char *method, const char *path, const char *token,
    const char *body)
{
	struct api_request rq = {
		.method = method, .path = path, .token = token,
		.body = body, .body_len = body ? strlen(body) : 0, .client = "127.0.0.1",
	};

	api_handle(f.ad, &rq, ans);
	ck_assert_ptr_nonnull(ans->body);
}

static const char *
get_s(json_t *o, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);

	for (char **p = parts; *p && o; p++)
		o = g_ascii_isdigit(**p) ? json_array_get(o, atoi(*p)) : json_object_get(o, *p);
	return json_string_value(o);
}

static void
assert_error(struct api_answer *ans, int status, const char *code)
{
	ck_assert_int_eq(ans->status, status);
	ck_assert_str_eq(get_s(ans->body, "error"), code);
	ck_assert_ptr_nonnull(get_s(ans->body, "message"));
}

/* login - a session for alice */
static char *
login(void)
{
	struct api_answer ans;
	char *token;

	call(&ans, "POST", "/api/login", NULL, "{\"agent\":\"alice\",\"password\":\"secret\"}");
	ck_assert_int_eq(ans.status, 200);
	token = g_strdup(get_s(ans.body, "token"));
	api_answer_clear(&ans);
	return token;
}

START_TEST(test_login)
{
	struct api_answer ans;
	json_t *g;
	const char *token;
	g_autofree char *cookie = NULL;

	call(&ans, "POST", "/api/login", NULL, "{\"agent\":\"alice\",\"password\":\"secret\"}");
	ck_assert_int_eq(ans.status, 200);
	token = get_s(ans.body, "token");
	ck_assert(session_valid_token(token));
	cookie = g_strdup_printf("postroom_session=%s; HttpOnly; SameSite=Strict; Path=/", token);
	ck_assert_str_eq(ans.set_cookie, cookie);
	ck_assert_str_eq(get_s(ans.body, "agent.id"), "alice");
	ck_assert_str_eq(get_s(ans.body, "agent.name"), "Alice Martin");
	ck_assert_str_eq(get_s(ans.body, "state"), "paused");
	g = json_array_get(json_object_get(json_object_get(ans.body, "agent"), "groups"), 0);
	ck_assert_str_eq(get_s(g, "id"), "support");
	ck_assert_str_eq(get_s(g, "name"), "Support");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "rank")), 5);
	ck_assert_str_eq(get_s(g, "dispositions.0"), "DONE");
	ck_assert_str_eq(get_s(g, "dispositions.1"), "SPAM");
	ck_assert_int_eq(seen("login"), 1);
	ck_assert_str_eq(get_s(last("login"), "agent"), "alice");
	api_answer_clear(&ans);
}
END_TEST

static const struct {
	const char *body;
	int status;
	const char *code;
} bad_logins[] = {
	{ "{\"agent\":\"alice\",\"password\":\"wrong\"}", 401, "login_failed" },
	{ "{\"agent\":\"nobody\",\"password\":\"secret\"}", 401, "login_failed" },
	{ "{\"agent\":\"../alice\",\"password\":\"secret\"}", 401, "login_failed" },
	{ "{\"agent\":\"alice\"}", 400, "bad_request" },
	{ "{\"agent\":\"alice\",\"password\":5}", 400, "bad_request" },
	{ "not json", 400, "bad_request" },
};

START_TEST(test_login_refused)
{
	struct api_answer ans;

	call(&ans, "POST", "/api/login", NULL, bad_logins[_i].body);
	assert_error(&ans, bad_logins[_i].status, bad_logins[_i].code);
	ck_assert_ptr_null(ans.set_cookie);
	ck_assert_int_eq(seen("login"), 0);
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_me)
{
	struct api_answer ans;
	g_autofree char *token = NULL;

	call(&ans, "GET", "/api/me", NULL, NULL);
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);
	call(&ans, "GET", "/api/me", TOK, NULL);
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);

	token = login();
	call(&ans, "GET", "/api/me", token, NULL);
	ck_assert_int_eq(ans.status, 200);
	ck_assert_str_eq(get_s(ans.body, "agent.id"), "alice");
	ck_assert_str_eq(get_s(ans.body, "state"), "ready");
	ck_assert_int_eq(json_integer_value(json_object_get(ans.body, "conversation")), 17);
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_state)
{
	struct api_answer ans;
	g_autofree char *token = login();

	call(&ans, "POST", "/api/state", token, "{\"state\":\"busy\"}");
	assert_error(&ans, 400, "bad_request");
	api_answer_clear(&ans);
	call(&ans, "POST", "/api/state", token, NULL);
	assert_error(&ans, 400, "bad_request");
	api_answer_clear(&ans);
	ck_assert_int_eq(seen("state"), 0);

	call(&ans, "POST", "/api/state", token, "{\"state\":\"ready\"}");
	ck_assert_int_eq(ans.status, 200);
	ck_assert_str_eq(get_s(ans.body, "state"), "ready");
	ck_assert_str_eq(get_s(last("state"), "state"), "ready");
	ck_assert_str_eq(get_s(last("state"), "agent"), "alice");
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_conversation)
{
	struct api_answer ans;
	g_autofree char *token = login();

	call(&ans, "GET", "/api/conversations/17", token, NULL);
	ck_assert_int_eq(ans.status, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(ans.body, "id")), 17);
	ck_assert_str_eq(get_s(ans.body, "messages.0.direction"), "in");
	ck_assert_str_eq(get_s(ans.body, "contact.addr"), "zoe@example.net");
	api_answer_clear(&ans);
	ck_assert_int_eq(json_integer_value(json_object_get(last("conversation"),
	    "conversation")), 17);

	/* bob holds 18 */
	call(&ans, "GET", "/api/conversations/18", token, NULL);
	assert_error(&ans, 403, "forbidden");
	api_answer_clear(&ans);
	call(&ans, "GET", "/api/conversations/19", token, NULL);
	assert_error(&ans, 404, "not_found");
	api_answer_clear(&ans);
	call(&ans, "GET", "/api/conversations/x", token, NULL);
	assert_error(&ans, 404, "not_found");
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_reply_smtp_down)
{
	struct api_answer ans;
	g_autofree char *token = login();

	call(&ans, "POST", "/api/conversations/17/reply", token, "{\"body\":\"Bonjour Zoë\"}");
	assert_error(&ans, 502, "smtp_failed");
	ck_assert_ptr_nonnull(strstr(get_s(ans.body, "message"), "could not connect"));
	/* nothing recorded */
	ck_assert_int_eq(seen("reply"), 0);
	api_answer_clear(&ans);

	call(&ans, "POST", "/api/conversations/18/reply", token, "{\"body\":\"x\"}");
	assert_error(&ans, 403, "forbidden");
	api_answer_clear(&ans);
	call(&ans, "POST", "/api/conversations/17/reply", token, "{\"body\":\"\"}");
	assert_error(&ans, 400, "bad_request");
	api_answer_clear(&ans);
	ck_assert_int_eq(seen("reply"), 0);
}
END_TEST

START_TEST(test_body_too_big)
{
	struct api_answer ans;
	g_autofree char *token = login();
	struct api_request rq = {
		.method = "POST", .path = "/api/conversations/17/reply", .token = token,
		.body = "{", .body_len = 1, .body_too_big = TRUE,
	};

	api_handle(f.ad, &rq, &ans);
	assert_error(&ans, 400, "bad_request");
	ck_assert_int_eq(seen("conversation"), 0);
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_disposition)
{
	struct api_answer ans;
	g_autofree char *token = login();

	call(&ans, "POST", "/api/conversations/17/disposition", token, "{\"disposition\":\"NOPE\"}");
	assert_error(&ans, 400, "bad_disposition");
	api_answer_clear(&ans);
	call(&ans, "POST", "/api/conversations/17/disposition", token, "{\"disposition\":\"DONE\"}");
	ck_assert_int_eq(ans.status, 200);
	ck_assert(json_is_true(json_object_get(ans.body, "ok")));
	ck_assert_str_eq(get_s(last("disposition"), "disposition"), "DONE");
	ck_assert_int_eq(json_integer_value(json_object_get(last("disposition"), "conversation")),
	    17);
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_logout)
{
	struct api_answer ans;
	g_autofree char *token = login();
	g_autofree char *other = login();

	call(&ans, "POST", "/api/logout", token, NULL);
	ck_assert_int_eq(ans.status, 200);
	ck_assert(json_is_true(json_object_get(ans.body, "ok")));
	ck_assert_ptr_nonnull(strstr(ans.set_cookie, "Max-Age=0"));
	ck_assert_int_eq(seen("logout"), 1);
	api_answer_clear(&ans);
	/* routed logged the agent out: every session of it is over */
	call(&ans, "GET", "/api/me", token, NULL);
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);
	call(&ans, "GET", "/api/me", other, NULL);
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_routed_silent)
{
	struct api_answer ans;
	g_autofree char *token = login();

	f.ad->control_ms = 100;
	g_atomic_int_set(&f.mute, 1);
	call(&ans, "GET", "/api/me", token, NULL);
	assert_error(&ans, 503, "routed_unavailable");
	api_answer_clear(&ans);
	/* the next call has a socket of its own and gets its answer */
	g_atomic_int_set(&f.mute, 0);
	f.ad->control_ms = 5000;
	call(&ans, "GET", "/api/me", token, NULL);
	ck_assert_int_eq(ans.status, 200);
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_routed_forgot)
{
	struct api_answer ans;
	g_autofree char *token = login();

	g_atomic_int_set(&f.forget, 1);
	call(&ans, "POST", "/api/state", token, "{\"state\":\"ready\"}");
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);
	g_atomic_int_set(&f.forget, 0);
	call(&ans, "GET", "/api/me", token, NULL);
	assert_error(&ans, 401, "unauthorized");
	api_answer_clear(&ans);
}
END_TEST

START_TEST(test_sweep_logs_out)
{
	g_autofree char *token = login();

	sessions_set_idle(f.ad->sessions, 0);
	agentd_sweep(f.ad);
	ck_assert_int_eq(seen("logout"), 1);
	ck_assert_str_eq(get_s(last("logout"), "agent"), "alice");
}
END_TEST

/* --- the event stream --- */

static void
publish(void *pub, const char *topic, json_t *meta)
{
	ck_assert_int_eq(wire_send(pub, topic, WIRE_EVENT, meta, NULL, 0), 0);
	json_decref(meta);
}

/* next - the stream's next bytes */
static char *
next(struct events_stream *st)
{
	char buf[4096];
	ssize_t n = events_read(st, 0, buf, sizeof buf);

	ck_assert_int_gt(n, 0);
	return g_strndup(buf, n);
}

START_TEST(test_events)
{
	g_autofree char *token = login();
	void *pub = zsock_bind(f.ctx, ZMQ_XPUB, "inproc://events", NULL);
	struct api_answer ans = { 0 };
	struct events_stream *st;
	char sub[64];
	char buf[64];
	char *s;
	int timeout = 5000;

	zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	st = events_open(f.ad, token, "alice", -1, &ans);
	ck_assert_ptr_nonnull(st);
	/* the subscription has reached the publisher: nothing published now is lost */
	ck_assert_int_eq(zmq_recv(pub, sub, sizeof sub, 0), 6);
	ck_assert(memcmp(sub, "\001alice", 6) == 0);

	/* what alice holds comes first, asked of routed after subscribing */
	ck_assert_int_eq(seen("status"), 1);
	s = next(st);
	ck_assert_str_eq(s, "event: assigned\ndata: {\"conversation\":17,\"subject\":"
	    "\"Où est ma commande ?\",\"from_addr\":\"zoe@example.net\",\"group\":\"support\"}\n\n");
	g_free(s);

	/* routed's own assigned for 17 is not told twice; "alice2" is not alice */
	publish(pub, "alice", json_pack("{s:s, s:i}", "event", "assigned", "conversation", 17));
	publish(pub, "alice2", json_pack("{s:s, s:i}", "event", "message", "conversation", 99));
	publish(pub, "alice", json_pack("{s:s, s:i}", "event", "message", "conversation", 17));
	s = next(st);
	ck_assert_str_eq(s, "event: message\ndata: {\"conversation\":17}\n\n");
	g_free(s);
	publish(pub, "alice", json_pack("{s:s, s:i}", "event", "released", "conversation", 17));
	s = next(st);
	ck_assert_str_eq(s, "event: released\ndata: {\"conversation\":17}\n\n");
	g_free(s);

	/* the stream ends with the session */
	session_end(f.ad->sessions, token);
	ck_assert_int_eq(events_read(st, 0, buf, sizeof buf), MHD_CONTENT_READER_END_OF_STREAM);
	events_close(st);
	zsock_close(pub);
}
END_TEST

START_TEST(test_events_end)
{
	g_autofree char *token = login();
	struct api_answer ans = { 0 };
	struct events_stream *st;
	int sv[2];
	char buf[64];
	char *s;

	/* the browser goes away */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	st = events_open(f.ad, token, "alice", sv[0], &ans);
	ck_assert_ptr_nonnull(st);
	s = next(st);
	g_free(s);
	close(sv[1]);
	ck_assert_int_eq(events_read(st, 0, buf, sizeof buf), MHD_CONTENT_READER_END_OF_STREAM);
	events_close(st);
	close(sv[0]);

	/* the daemon stops */
	st = events_open(f.ad, token, "alice", -1, &ans);
	ck_assert_ptr_nonnull(st);
	s = next(st);
	g_free(s);
	agentd_stop(f.ad);
	ck_assert_int_eq(events_read(st, 0, buf, sizeof buf), MHD_CONTENT_READER_END_OF_STREAM);
	events_close(st);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("agentd_api");
	TCase *pure = tcase_create("parse");
	TCase *calls = tcase_create("calls");

	g_mime_init();
	tcase_add_loop_test(pure, test_route, 0, UNIT_N(routes));
	tcase_add_loop_test(pure, test_token, 0, UNIT_N(tokens));
	tcase_add_loop_test(pure, test_body, 0, UNIT_N(bodies));
	tcase_add_test(pure, test_events_format);
	tcase_add_test(pure, test_www);
	suite_add_tcase(s, pure);

	tcase_add_checked_fixture(calls, setup, teardown);
	tcase_set_timeout(calls, 30);
	tcase_add_test(calls, test_login);
	tcase_add_loop_test(calls, test_login_refused, 0, UNIT_N(bad_logins));
	tcase_add_test(calls, test_me);
	tcase_add_test(calls, test_state);
	tcase_add_test(calls, test_conversation);
	tcase_add_test(calls, test_reply_smtp_down);
	tcase_add_test(calls, test_body_too_big);
	tcase_add_test(calls, test_disposition);
	tcase_add_test(calls, test_logout);
	tcase_add_test(calls, test_routed_silent);
	tcase_add_test(calls, test_routed_forgot);
	tcase_add_test(calls, test_sweep_logs_out);
	tcase_add_test(calls, test_events);
	tcase_add_test(calls, test_events_end);
	suite_add_tcase(s, calls);
	return unit_run(s);
}
