/*
 * control - agentd's requests (docs/wire.md, req.1 -> rep.1).
 *
 * Each request is one transaction: the operation, then the assignment it
 * may make possible, then the commit; the events it caused are handed back
 * only when that commit has happened.  Every field of a request is checked
 * here: agentd is trusted no more than the wire it speaks over.
 */
#include "routed.h"

#include <string.h>

#include "log.h"

#define ID_MAX	1024

static json_t *
ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *
refuse(const GError *e)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", routed_error_code(e),
	    "message", e->message);
}

static gboolean
bad(GError **err, const char *what)
{
	g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST, "%s", what);
	return FALSE;
}

/* conversation_id - the request's "conversation", a positive integer */
static gboolean
conversation_id(json_t *req, gint64 *id, GError **err)
{
	json_t *v = json_object_get(req, "conversation");

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return bad(err, "\"conversation\" must be a conversation's id");
	*id = json_integer_value(v);
	return TRUE;
}

static gboolean
op_status(struct store *st, const char *agent, json_t *rep, GError **err)
{
	g_autofree char *state = NULL;
	gint64 id = 0;

	if (!route_agent(st, agent, &state, &id, err))
		return FALSE;
	json_object_set_new(rep, "state", json_string(state));
	json_object_set_new(rep, "conversation", id ? json_integer(id) : json_null());
	return TRUE;
}

static gboolean
op_conversation(struct store *st, const char *agent, json_t *req, json_t *rep, GError **err)
{
	struct conv c = { 0 };
	json_t *obj;
	gint64 id;

	if (!conversation_id(req, &id, err) || !route_agent(st, agent, NULL, NULL, err)
	    || !route_held(st, agent, id, &c, err))
		return FALSE;
	conv_clear(&c);
	obj = store_conv_json(st, id, err);
	if (!obj) {
		if (err && !*err)
			g_set_error(err, STORE_ERROR, 0, "conversation %" G_GINT64_FORMAT " vanished", id);
		return FALSE;
	}
	json_object_set_new(rep, "conversation", obj);
	return TRUE;
}

/* op_reply - record an agent's reply, sent already, in its conversation */
static gboolean
op_reply(struct store *st, const char *agent, json_t *req, GPtrArray *parts, json_t *rep,
    GError **err)
{
	json_t *msg = json_object_get(req, "message");
	const char *message_id = json_string_value(json_object_get(msg, "message_id"));
	g_autofree char *key = NULL;
	g_autofree char *now = NULL;
	struct conv c = { 0 };
	gint64 id, message = 0, other = 0;
	int rc;

	if (!conversation_id(req, &id, err) || !route_agent(st, agent, NULL, NULL, err))
		return FALSE;
	if (!json_is_object(msg))
		return bad(err, "\"message\" must be an object");
	if (!message_id || !*message_id || strlen(message_id) > ID_MAX)
		return bad(err, "\"message\" has no \"message_id\"");
	if (!route_held(st, agent, id, &c, err))
		return FALSE;
	key = g_strconcat("out/", message_id, NULL);

	/* the same reply again (agentd retrying): the message already stored */
	rc = store_int(st, &message, err, "SELECT id FROM messages WHERE \"key\" = ?", "s", key);
	if (rc > 0) {
		rc = store_int(st, &other, err, "SELECT conversation FROM messages WHERE id = ?", "i",
		    message);
		if (rc > 0 && other != id) {
			conv_clear(&c);
			return bad(err, "that \"message_id\" is already another conversation's");
		}
	}
	if (rc < 0) {
		conv_clear(&c);
		return FALSE;
	}
	if (message == 0) {
		/* the message's own shape is the record's: the raw bytes, which
		 * hold its attachments ("part" finds each) */
		if (!parts || parts->len < 1) {
			conv_clear(&c);
			return bad(err, "payload frame 0, the message as sent, is missing");
		}
		if (parts->len != 1) {
			conv_clear(&c);
			return bad(err, "one payload frame, the message as sent, not more");
		}
		now = store_now(st);
		message = store_message_add(st, msg, key, c.account, "out", id, c.contact, agent,
		    parts, err);
		if (message < 0 || !store_run(st, err,
		    "UPDATE conversations SET last_message_at = ? WHERE id = ?", "si", now, id)) {
			conv_clear(&c);
			return FALSE;
		}
		log_info("reply conversation=%" G_GINT64_FORMAT " agent=%s message=%" G_GINT64_FORMAT,
		    id, agent, message);
	}
	conv_clear(&c);
	json_object_set_new(rep, "message", json_integer(message));
	return TRUE;
}

/* op_message_ids - fetchd, after a UIDVALIDITY change: the Message-IDs of
 * what the account has delivered (incoming messages), to match the renumbered
 * folder against.  It needs no agent: fetchd asks for an account. */
static gboolean
op_message_ids(struct store *st, const struct config *cfg, json_t *req, json_t *rep,
    GError **err)
{
	const char *account = json_string_value(json_object_get(req, "account"));
	g_autoptr(store_cursor) s = NULL;
	json_t *ids;
	int rc;

	if (!account || !*account || strlen(account) > ID_MAX)
		return bad(err, "\"account\" must be an account's id");
	if (!config_account(cfg, account)) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_NOT_FOUND, "no account \"%s\"", account);
		return FALSE;
	}
	s = store_query(st, err, "SELECT DISTINCT message_id FROM messages WHERE account = ?"
	    " AND direction = 'in' AND message_id IS NOT NULL AND message_id != ''", "s", account);
	if (!s)
		return FALSE;
	ids = json_array();
	while ((rc = store_step(st, s, err)) == SQLITE_ROW)
		json_array_append_new(ids, json_string(store_col_str(s, 0)));
	if (rc < 0) {
		json_decref(ids);
		return FALSE;
	}
	json_object_set_new(rep, "account", json_string(account));
	json_object_set_new(rep, "message_ids", ids);
	return TRUE;
}

/* dispatch - one operation; *assign when it may free an agent or work */
static gboolean
dispatch(struct store *st, const struct config *cfg, const char *op, const char *agent,
    json_t *req, GPtrArray *parts, GPtrArray *events, json_t *rep, gboolean *assign,
    GError **err)
{
	if (strcmp(op, "login") == 0) {
		if (!route_login(st, cfg, agent, err))
			return FALSE;
		log_info("login agent=%s", agent);
		json_object_set_new(rep, "state", json_string("paused"));
		return TRUE;
	}
	if (!config_agent(cfg, agent)) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_NOT_LOGGED_IN,
		    "no agent \"%s\" in the configuration", agent);
		return FALSE;
	}
	if (strcmp(op, "logout") == 0) {
		/* logging out twice is logging out */
		*assign = TRUE;
		if (!route_logout(st, agent, events, err))
			return FALSE;
		log_info("logout agent=%s", agent);
		return TRUE;
	}
	if (strcmp(op, "state") == 0) {
		const char *state = json_string_value(json_object_get(req, "state"));

		*assign = TRUE;
		if (!route_set_state(st, agent, state, err))
			return FALSE;
		log_info("state agent=%s state=%s", agent, state);
		json_object_set_new(rep, "state", json_string(state));
		return TRUE;
	}
	if (strcmp(op, "status") == 0)
		return op_status(st, agent, rep, err);
	if (strcmp(op, "conversation") == 0)
		return op_conversation(st, agent, req, rep, err);
	if (strcmp(op, "reply") == 0)
		return op_reply(st, agent, req, parts, rep, err);
	if (strcmp(op, "disposition") == 0) {
		const char *disposition = json_string_value(json_object_get(req, "disposition"));
		gint64 id;

		if (!conversation_id(req, &id, err) || !route_agent(st, agent, NULL, NULL, err))
			return FALSE;
		if (!disposition || !*disposition)
			return bad(err, "\"disposition\" is missing");
		*assign = TRUE;
		return route_dispose(st, cfg, agent, id, disposition, err);
	}
	g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST, "unknown op \"%s\"", op);
	return FALSE;
}

json_t *
control_handle(struct store *st, const struct config *cfg, json_t *req, GPtrArray *parts,
    GPtrArray *events)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *agent = json_string_value(json_object_get(req, "agent"));
	g_autoptr(GPtrArray) caused = events_new();
	g_autoptr(GError) e = NULL;
	json_t *rep = ok();
	gboolean assign = FALSE;

	if (op && strcmp(op, "message_ids") == 0) {
		/* fetchd's: read-only, no agent */
		if (!store_begin(st, &e))
			goto refused;
		if (!op_message_ids(st, cfg, req, rep, &e) || !store_commit(st, &e)) {
			store_rollback(st);
			goto refused;
		}
		return rep;
	}
	if (!op || !agent || !*agent || strlen(agent) > ID_MAX) {
		bad(&e, "a request needs \"op\" and \"agent\"");
		goto refused;
	}
	if (!store_begin(st, &e))
		goto refused;
	if (!dispatch(st, cfg, op, agent, req, parts, caused, rep, &assign, &e)
	    || (assign && route_assign(st, cfg, caused, &e) < 0)
	    || !store_commit(st, &e)) {
		store_rollback(st);
		goto refused;
	}
	/* committed: now the events may leave */
	g_ptr_array_extend_and_steal(events, g_steal_pointer(&caused));
	return rep;
refused:
	if (e->domain != ROUTED_ERROR)
		log_error("unable to do %s for agent %s: %s", op ? op : "(no op)",
		    agent ? agent : "(none)", e->message);
	json_decref(rep);
	return refuse(e);
}
