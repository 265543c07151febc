/*
 * api - the calls of docs/api.md: check the caller, ask routed, answer JSON.
 *
 * Nothing here knows HTTP beyond a method, a path, a token and a body, so
 * the unit tests drive every call against a routed made of an inproc socket.
 */
#include "agentd.h"

#include <crypt.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"

#define PASSWORD_MAX	1024

void
api_answer_clear(struct api_answer *ans)
{
	if (ans->body)
		json_decref(ans->body);
	g_free(ans->set_cookie);
	memset(ans, 0, sizeof *ans);
}

void
api_error(struct api_answer *ans, int status, const char *code, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (ans->body)
		json_decref(ans->body);
	ans->status = status;
	ans->body = json_pack("{s:s, s:s}", "error", code, "message", msg);
}

/* answer - fill ans with a status and a body (taken) */
static void
answer(struct api_answer *ans, int status, json_t *body)
{
	if (ans->body)
		json_decref(ans->body);
	ans->status = status;
	ans->body = body;
}

/* conversation_id - a conversation id from a path segment: digits only */
static gboolean
conversation_id(const char *s, size_t len, json_int_t *id)
{
	json_int_t v = 0;

	if (len == 0 || len > 15 || s[0] == '0')
		return FALSE;
	for (size_t i = 0; i < len; i++) {
		if (!g_ascii_isdigit(s[i]))
			return FALSE;
		v = v * 10 + (s[i] - '0');
	}
	*id = v;
	return TRUE;
}

enum api_route
api_route(const char *method, const char *path, json_int_t *id)
{
	static const struct {
		const char *method, *path;
		enum api_route route;
	} fixed[] = {
		{ "POST", "/api/login", ROUTE_LOGIN },
		{ "POST", "/api/logout", ROUTE_LOGOUT },
		{ "GET", "/api/me", ROUTE_ME },
		{ "POST", "/api/state", ROUTE_STATE },
		{ "GET", "/api/events", ROUTE_EVENTS },
	};
	const char *prefix = "/api/conversations/";
	const char *rest, *slash;
	size_t idlen;

	for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
		if (strcmp(path, fixed[i].path) == 0)
			return strcmp(method, fixed[i].method) == 0 ? fixed[i].route : ROUTE_NONE;
	if (!g_str_has_prefix(path, prefix))
		return ROUTE_NONE;
	rest = path + strlen(prefix);
	slash = strchr(rest, '/');
	idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!conversation_id(rest, idlen, id))
		return ROUTE_NONE;
	if (!slash)
		return strcmp(method, "GET") == 0 ? ROUTE_CONVERSATION : ROUTE_NONE;
	if (strcmp(slash, "/reply") == 0)
		return strcmp(method, "POST") == 0 ? ROUTE_REPLY : ROUTE_NONE;
	if (strcmp(slash, "/disposition") == 0)
		return strcmp(method, "POST") == 0 ? ROUTE_DISPOSITION : ROUTE_NONE;
	return ROUTE_NONE;
}

const char *
api_token(const char *authorization, const char *cookie)
{
	if (authorization && g_ascii_strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;

		while (*t == ' ')
			t++;
		return session_valid_token(t) ? t : NULL;
	}
	return session_valid_token(cookie) ? cookie : NULL;
}

json_t *
api_body(const char *data, size_t len, const char **why)
{
	json_error_t jerr;
	json_t *j;

	if (!data || len == 0) {
		*why = "the body is empty; a JSON object is expected";
		return NULL;
	}
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		*why = "the body is not JSON";
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*why = "the body is not a JSON object";
		return NULL;
	}
	return j;
}

/* need_body - the request's JSON object, or NULL with a 400 answer */
static json_t *
need_body(const struct api_request *rq, struct api_answer *ans)
{
	const char *why = NULL;
	json_t *j;

	if (rq->body_too_big) {
		api_error(ans, 400, "bad_request", "the body is larger than %d bytes", AGENTD_BODY_MAX);
		return NULL;
	}
	j = api_body(rq->body, rq->body_len, &why);
	if (!j)
		api_error(ans, 400, "bad_request", "%s", why);
	return j;
}

/* field - a string member of the body; NULL with a 400 answer when it is
 * missing, not a string or empty */
static const char *
field(json_t *body, const char *name, struct api_answer *ans)
{
	const char *s = json_string_value(json_object_get(body, name));

	if (!s || !*s) {
		api_error(ans, 400, "bad_request", "\"%s\" must be a non-empty string", name);
		return NULL;
	}
	return s;
}

json_t *
api_agent_json(const struct config *c, const struct config_agent *a)
{
	json_t *groups = json_array();

	for (guint i = 0; i < a->groups->len; i++) {
		const struct config_member *m = a->groups->pdata[i];
		const struct config_group *g = config_group(c, m->group);
		json_t *disp = json_array();

		if (!g)
			continue;
		for (char **d = g->dispositions; *d; d++)
			json_array_append_new(disp, json_string(*d));
		json_array_append_new(groups, json_pack("{s:s, s:s, s:i, s:o}", "id", g->id,
		    "name", g->name, "rank", m->rank, "dispositions", disp));
	}
	return json_pack("{s:s, s:s, s:o}", "id", a->id, "name", a->name, "groups", groups);
}

/* routed_error - routed's refusal as an HTTP answer */
static void
routed_error(struct api_answer *ans, json_t *rep)
{
	const char *code = json_string_value(json_object_get(rep, "error"));
	const char *msg = json_string_value(json_object_get(rep, "message"));
	static const struct {
		const char *code;
		int status;
		const char *as;
	} map[] = {
		{ "not_found", 404, "not_found" },
		{ "forbidden", 403, "forbidden" },
		{ "bad_request", 400, "bad_request" },
		{ "bad_disposition", 400, "bad_disposition" },
		{ "not_logged_in", 401, "unauthorized" },
	};

	if (!code)
		code = "";
	if (!msg || !*msg)
		msg = code;
	for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
		if (strcmp(code, map[i].code) == 0) {
			api_error(ans, map[i].status, map[i].as, "%s", msg);
			return;
		}
	api_error(ans, 503, "routed_unavailable", "routed could not do it: %s", msg);
}

json_t *
api_routed(struct agentd *ad, struct api_answer *ans, const char *op, const char *agent,
    json_t *fields, GPtrArray *parts)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	g_autoptr(GError) e = NULL;
	json_t *rep;

	rep = control_call(ad->zctx, cfg->c->control_endpoint, ad->control_ms, op, agent, fields,
	    parts, &e);
	if (!rep) {
		log_warn("routed did not answer: op=%s agent=%s: %s", op, agent, e->message);
		api_error(ans, 503, "routed_unavailable", "routed did not answer in time; try again");
		return NULL;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		routed_error(ans, rep);
		json_decref(rep);
		return NULL;
	}
	return rep;
}

/* password_ok - crypt(3) the password with the stored hash's settings and
 * compare the result in constant time */
static gboolean
password_ok(const char *password, const char *hash)
{
	struct crypt_data *data = g_new0(struct crypt_data, 1);
	const char *h = crypt_r(password, hash, data);
	size_t n = strlen(hash);
	unsigned char diff = 0;

	if (!h || h[0] == '*') {
		g_free(data);
		return FALSE;
	}
	diff |= strlen(h) != n;
	for (size_t i = 0; i < n && h[i]; i++)
		diff |= (unsigned char)h[i] ^ (unsigned char)hash[i];
	explicit_bzero(data, sizeof *data);
	g_free(data);
	return diff == 0;
}

/* agent_id_ok - the shape config.c allows for ids */
static gboolean
agent_id_ok(const char *id)
{
	size_t n = 0;

	if (!g_ascii_isalnum(*id))
		return FALSE;
	for (; id[n]; n++)
		if (!g_ascii_isalnum(id[n]) && !strchr("_.-", id[n]))
			return FALSE;
	return n <= 64;
}

/* do_login - POST /api/login: check the password, tell routed, open a session */
static void
do_login(struct agentd *ad, const struct api_request *rq, struct api_answer *ans)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	json_t *body = need_body(rq, ans);
	const char *agent, *password, *state;
	const struct config_agent *a = NULL;
	g_autofree char *token = NULL;
	gboolean ok;
	json_t *rep;

	if (!body)
		return;
	agent = json_string_value(json_object_get(body, "agent"));
	password = json_string_value(json_object_get(body, "password"));
	if (!agent || !password) {
		api_error(ans, 400, "bad_request", "\"agent\" and \"password\" must be strings");
		goto out;
	}
	if (agent_id_ok(agent))
		a = config_agent(cfg->c, agent);
	/* an unknown agent costs a hash too, so timing tells no names */
	if (strlen(password) > PASSWORD_MAX)
		ok = FALSE;
	else if (a)
		ok = password_ok(password, a->password_hash);
	else {
		(void)password_ok(password, ad->dummy_hash);
		ok = FALSE;
	}
	if (!ok) {
		log_warn("login failed: agent=%s client=%s", agent_id_ok(agent) ? agent : "(invalid)",
		    rq->client ? rq->client : "?");
		api_error(ans, 401, "login_failed", "wrong agent or password");
		goto out;
	}
	rep = api_routed(ad, ans, "login", a->id, NULL, NULL);
	if (!rep)
		goto out;
	state = json_string_value(json_object_get(rep, "state"));
	token = session_create(ad->sessions, a->id, sessions_now());
	log_info("login: agent=%s client=%s", a->id, rq->client ? rq->client : "?");
	answer(ans, 200, json_pack("{s:s, s:o, s:s}", "token", token,
	    "agent", api_agent_json(cfg->c, a), "state", state ? state : "paused"));
	ans->set_cookie = g_strdup_printf("%s=%s; HttpOnly; SameSite=Strict; Path=/",
	    AGENTD_COOKIE, token);
	json_decref(rep);
out:
	json_decref(body);
}

/* do_logout - POST /api/logout: end the agent's sessions here and at routed */
static void
do_logout(struct agentd *ad, const char *agent, struct api_answer *ans)
{
	g_autoptr(GError) e = NULL;
	json_t *rep;

	/* every session of the agent ends here, whatever routed says */
	sessions_end_agent(ad->sessions, agent);
	rep = api_routed(ad, ans, "logout", agent, NULL, NULL);
	if (rep || ans->status == 401) {
		/* a 401: routed had already forgotten the agent */
		log_info("logout: agent=%s", agent);
		answer(ans, 200, json_pack("{s:b}", "ok", 1));
	}
	json_decref(rep);
	ans->set_cookie = g_strdup_printf("%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
	    AGENTD_COOKIE);
}

/* do_me - GET /api/me: who the agent is, its state and what it holds */
static void
do_me(struct agentd *ad, const char *agent, struct api_answer *ans)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	const struct config_agent *a = config_agent(cfg->c, agent);
	json_t *rep = api_routed(ad, ans, "status", agent, NULL, NULL);
	json_t *conv;

	if (!rep)
		return;
	conv = json_object_get(rep, "conversation");
	answer(ans, 200, json_pack("{s:o, s:O, s:O}", "agent", api_agent_json(cfg->c, a),
	    "state", json_object_get(rep, "state") ? json_object_get(rep, "state") : json_null(),
	    "conversation", json_is_integer(conv) ? conv : json_null()));
	json_decref(rep);
}

/* do_state - POST /api/state: ready or paused */
static void
do_state(struct agentd *ad, const struct api_request *rq, const char *agent,
    struct api_answer *ans)
{
	json_t *body = need_body(rq, ans);
	const char *state;
	json_t *rep;

	if (!body)
		return;
	state = field(body, "state", ans);
	if (state && strcmp(state, "ready") != 0 && strcmp(state, "paused") != 0) {
		api_error(ans, 400, "bad_request", "\"state\" must be \"ready\" or \"paused\"");
		state = NULL;
	}
	if (state) {
		rep = api_routed(ad, ans, "state", agent, json_pack("{s:s}", "state", state), NULL);
		if (rep) {
			json_t *s = json_object_get(rep, "state");

			log_info("state: agent=%s state=%s", agent, state);
			answer(ans, 200, json_pack("{s:s}", "state",
			    json_is_string(s) ? json_string_value(s) : state));
			json_decref(rep);
		}
	}
	json_decref(body);
}

/* held - the conversation id, if agent holds it; NULL with 403/404 otherwise */
static json_t *
held(struct agentd *ad, const char *agent, json_int_t id, struct api_answer *ans)
{
	json_t *rep = api_routed(ad, ans, "conversation", agent,
	    json_pack("{s:I}", "conversation", id), NULL);
	json_t *conv;
	const char *owner, *status;

	if (!rep)
		return NULL;
	conv = json_incref(json_object_get(rep, "conversation"));
	json_decref(rep);
	if (!json_is_object(conv)) {
		json_decref(conv);
		api_error(ans, 404, "not_found", "no conversation %" JSON_INTEGER_FORMAT, id);
		return NULL;
	}
	owner = json_string_value(json_object_get(conv, "agent"));
	status = json_string_value(json_object_get(conv, "status"));
	if (!owner || strcmp(owner, agent) != 0 || !status || strcmp(status, "assigned") != 0) {
		json_decref(conv);
		api_error(ans, 403, "forbidden", "you do not hold conversation %" JSON_INTEGER_FORMAT,
		    id);
		return NULL;
	}
	return conv;
}

/* do_conversation - GET /api/conversations/ID: the conversation the agent holds */
static void
do_conversation(struct agentd *ad, const char *agent, json_int_t id, struct api_answer *ans)
{
	json_t *conv = held(ad, agent, id, ans);

	if (conv)
		answer(ans, 200, conv);
}

/* last_inbound - the customer's last message of a conversation */
static json_t *
last_inbound(json_t *conv)
{
	json_t *msgs = json_object_get(conv, "messages");
	json_t *last = NULL;
	size_t i;
	json_t *m;

	json_array_foreach(msgs, i, m) {
		const char *dir = json_string_value(json_object_get(m, "direction"));

		if (json_is_object(m) && dir && strcmp(dir, "in") == 0)
			last = m;
	}
	return last;
}

/* do_reply - POST /api/conversations/ID/reply: compose, send over SMTP, then record */
static void
do_reply(struct agentd *ad, const struct api_request *rq, const char *agent, json_int_t id,
    struct api_answer *ans)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(GPtrArray) parts = NULL;
	json_t *body = need_body(rq, ans);
	json_t *conv = NULL, *record = NULL, *rep = NULL, *customer;
	const struct config_account *acct;
	const char *text, *account, *to, *message_id;
	struct compose_in in;

	if (!body)
		return;
	if (!(text = field(body, "body", ans)))
		goto out;
	if (!(conv = held(ad, agent, id, ans)))
		goto out;
	customer = last_inbound(conv);
	if (!customer) {
		api_error(ans, 400, "bad_request", "the conversation has no message from the customer");
		goto out;
	}
	account = json_string_value(json_object_get(conv, "account"));
	acct = account ? config_account(cfg->c, account) : NULL;
	if (!acct) {
		api_error(ans, 502, "smtp_failed", "the conversation's account \"%s\" is not configured",
		    account ? account : "");
		goto out;
	}
	memset(&in, 0, sizeof in);
	in.from_name = acct->reply_name;
	in.from_addr = acct->reply_address;
	in.subject = json_string_value(json_object_get(conv, "subject"));
	in.customer = customer;
	in.body = text;
	raw = compose_reply(&in, &record, &e);
	if (!raw) {
		api_error(ans, 502, "smtp_failed", "%s", e->message);
		goto out;
	}
	to = json_string_value(json_object_get(json_array_get(json_object_get(record, "to"), 0),
	    "addr"));
	message_id = json_string_value(json_object_get(record, "message_id"));
	if (!smtp_send(acct, to, raw, &e)) {
		log_warn("reply not sent: conversation=%" JSON_INTEGER_FORMAT " agent=%s: %s", id,
		    agent, e->message);
		api_error(ans, 502, "smtp_failed", "the reply was not sent: %s", e->message);
		goto out;
	}
	log_info("reply sent: conversation=%" JSON_INTEGER_FORMAT " agent=%s account=%s "
	    "message_id=%s size=%zu", id, agent, acct->id, message_id, g_bytes_get_size(raw));
	agentd_tap(ad, "reply.1", json_pack("{s:I, s:s, s:s, s:I}", "conversation", id,
	    "agent", agent, "to", to, "size", (json_int_t)g_bytes_get_size(raw)));
	parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_ptr_array_add(parts, g_bytes_ref(raw));
	rep = api_routed(ad, ans, "reply", agent, json_pack("{s:I, s:O}", "conversation", id,
	    "message", record), parts);
	if (!rep) {
		log_error("reply sent but not recorded: conversation=%" JSON_INTEGER_FORMAT
		    " agent=%s message_id=%s", id, agent, message_id);
		if (ans->status == 503)
			api_error(ans, 503, "routed_unavailable",
			    "the reply was sent, but routed did not record it; do not send it again");
		goto out;
	}
	answer(ans, 200, json_pack("{s:O, s:s}", "message",
	    json_object_get(rep, "message") ? json_object_get(rep, "message") : json_null(),
	    "message_id", message_id));
out:
	json_decref(rep);
	json_decref(record);
	json_decref(conv);
	json_decref(body);
}

/* do_disposition - POST /api/conversations/ID/disposition: end the work */
static void
do_disposition(struct agentd *ad, const struct api_request *rq, const char *agent,
    json_int_t id, struct api_answer *ans)
{
	json_t *body = need_body(rq, ans);
	const char *disp;
	json_t *rep;

	if (!body)
		return;
	if ((disp = field(body, "disposition", ans)) != NULL) {
		rep = api_routed(ad, ans, "disposition", agent, json_pack("{s:I, s:s}",
		    "conversation", id, "disposition", disp), NULL);
		if (rep) {
			log_info("disposition: conversation=%" JSON_INTEGER_FORMAT " agent=%s "
			    "disposition=%s", id, agent, disp);
			agentd_tap(ad, "disposition.1", json_pack("{s:I, s:s, s:s}",
			    "conversation", id, "agent", agent, "disposition", disp));
			answer(ans, 200, json_pack("{s:b}", "ok", 1));
			json_decref(rep);
		}
	}
	json_decref(body);
}

/* api_agent - the agent a request's session belongs to; NULL with a 401 */
static char *
api_agent(struct agentd *ad, const struct api_request *rq, struct api_answer *ans)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	char *agent = rq->token ? session_lookup(ad->sessions, rq->token, sessions_now()) : NULL;

	if (agent && !config_agent(cfg->c, agent)) {
		/* removed from the configuration since */
		session_end(ad->sessions, rq->token);
		g_clear_pointer(&agent, g_free);
	}
	if (!agent)
		api_error(ans, 401, "unauthorized", "no session, or it has expired: log in");
	return agent;
}

void
api_handle(struct agentd *ad, const struct api_request *rq, struct api_answer *ans)
{
	g_autofree char *agent = NULL;
	json_int_t id = 0;
	enum api_route r = api_route(rq->method, rq->path, &id);

	memset(ans, 0, sizeof *ans);
	if (r == ROUTE_NONE || r == ROUTE_EVENTS) {
		api_error(ans, 404, "not_found", "no such call: %s %s", rq->method, rq->path);
		return;
	}
	if (r == ROUTE_LOGIN) {
		do_login(ad, rq, ans);
		return;
	}
	if (!(agent = api_agent(ad, rq, ans)))
		return;
	switch (r) {
	case ROUTE_LOGOUT:
		do_logout(ad, agent, ans);
		break;
	case ROUTE_ME:
		do_me(ad, agent, ans);
		break;
	case ROUTE_STATE:
		do_state(ad, rq, agent, ans);
		break;
	case ROUTE_CONVERSATION:
		do_conversation(ad, agent, id, ans);
		break;
	case ROUTE_REPLY:
		do_reply(ad, rq, agent, id, ans);
		break;
	case ROUTE_DISPOSITION:
		do_disposition(ad, rq, agent, id, ans);
		break;
	default:
		g_assert_not_reached();
	}
	/* routed no longer knows the agent (restarted?): the session is over */
	if (ans->status == 401 && r != ROUTE_LOGOUT) {
		session_end(ad->sessions, rq->token);
		log_info("session ended, routed does not know the agent: agent=%s", agent);
	}
}
