/*
 * route - queues and agents, as a contact center hands out calls.
 *
 * A conversation is queued (waiting, since queued_at), assigned (held by
 * one agent) or closed (with a disposition).  An agent is logged in or not,
 * ready or paused, and holds at most one conversation.  Assignment: the
 * oldest queued conversation (queued_at, then id) goes to the ready agent
 * of its group who holds nothing and has waited longest (ready_since), a
 * higher rank winning a tie; repeated while both exist.  An agent serves the
 * groups its configuration file names.
 *
 * Every function here works inside the caller's transaction and only
 * queues the events it causes: they leave after the commit.
 */
#include "routed.h"

#include <string.h>

#include "log.h"

/* A ready agent holding nothing. */
struct free_agent {
	const struct config_agent *cfg;
	char *ready_since;
};

static void
free_agent_free(gpointer p)
{
	struct free_agent *a = p;

	g_free(a->ready_since);
	g_free(a);
}

/* free_agents - the ready agents holding nothing, longest waiting first;
 * those the configuration no longer knows are left out */
static GPtrArray *
free_agents(struct store *st, const struct config *cfg, GError **err)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(free_agent_free);
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT id, ready_since FROM agents WHERE logged_in = 1 AND state = 'ready'"
	    " AND conversation IS NULL ORDER BY ready_since, id", "");
	int rc;

	if (!s)
		return NULL;
	while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
		const struct config_agent *ca = config_agent(cfg, store_col_str(s, 0));
		struct free_agent *a;

		if (!ca)
			continue;
		a = g_new0(struct free_agent, 1);
		a->cfg = ca;
		a->ready_since = g_strdup(store_col_str(s, 1));
		g_ptr_array_add(out, a);
	}
	return rc < 0 ? NULL : g_steal_pointer(&out);
}

/* served - the groups the agents serve, as a JSON array for json_each() */
static json_t *
served(GPtrArray *agents)
{
	json_t *groups = json_array();

	for (guint i = 0; i < agents->len; i++) {
		const struct config_agent *ca = ((struct free_agent *)agents->pdata[i])->cfg;

		for (guint j = 0; j < ca->groups->len; j++) {
			const struct config_member *m = ca->groups->pdata[j];
			json_t *g = json_string(m->group);
			gboolean seen = FALSE;
			size_t k;
			json_t *v;

			json_array_foreach(groups, k, v)
				if (json_equal(v, g))
					seen = TRUE;
			if (seen)
				json_decref(g);
			else
				json_array_append_new(groups, g);
		}
	}
	return groups;
}

/* best - the agent of group who has waited longest, the higher rank on a
 * tie (agents is longest waiting first, then by id); -1 when none serves it */
static int
best(GPtrArray *agents, const char *group)
{
	int found = -1, rank = -1;
	const char *since = NULL;

	for (guint i = 0; i < agents->len; i++) {
		struct free_agent *a = agents->pdata[i];
		int r = config_agent_rank(a->cfg, group);

		if (r < 0)
			continue;
		if (found >= 0 && g_strcmp0(a->ready_since, since) != 0)
			break;
		if (r > rank) {
			found = i;
			rank = r;
			since = a->ready_since;
		}
	}
	return found;
}

/* assign - give conversation id to agent, with its event */
static gboolean
assign(struct store *st, gint64 id, const char *agent, GPtrArray *events, GError **err)
{
	g_autofree char *now = store_now(st);
	g_autoptr(store_cursor) s = NULL;
	int rc;

	if (!store_run(st, err,
	    "UPDATE conversations SET status = 'assigned', agent = ?, assigned_at = ?"
	    " WHERE id = ? AND status = 'queued'", "ssi", agent, now, id)
	    || !store_run(st, err, "UPDATE agents SET conversation = ? WHERE id = ?", "is", id, agent))
		return FALSE;
	s = store_query(st, err,
	    "SELECT c.subject, t.addr, c.\"group\" FROM conversations c"
	    " LEFT JOIN contacts t ON t.id = c.contact WHERE c.id = ?", "i", id);
	if (!s || (rc = store_step(st, s, err)) != SQLITE_ROW)
		return FALSE;
	event_add(events, agent, json_pack("{s:s, s:I, s:o, s:o, s:o}", "event", "assigned",
	    "conversation", (json_int_t)id, "subject", store_col_jstr(s, 0),
	    "from_addr", store_col_jstr(s, 1), "group", store_col_jstr(s, 2)));
	log_info("assigned conversation=%" G_GINT64_FORMAT " agent=%s group=%s", id, agent,
	    store_col_str(s, 2));
	return TRUE;
}

int
route_assign(struct store *st, const struct config *cfg, GPtrArray *events, GError **err)
{
	g_autoptr(GPtrArray) agents = free_agents(st, cfg, err);
	int n = 0;

	if (!agents)
		return -1;
	while (agents->len > 0) {
		g_autoptr(json_t) groups = served(agents);
		g_autofree char *group = NULL;
		gint64 id;
		int who;

		{
			g_autoptr(store_cursor) s = store_query(st, err,
			    "SELECT id, \"group\" FROM conversations WHERE status = 'queued'"
			    " AND \"group\" IN (SELECT value FROM json_each(?))"
			    " ORDER BY queued_at, id LIMIT 1", "j", groups);
			int rc;

			if (!s || (rc = store_step(st, s, err)) < 0)
				return -1;
			if (rc != SQLITE_ROW)
				break;
			id = sqlite3_column_int64(s, 0);
			group = g_strdup(store_col_str(s, 1));
		}
		who = best(agents, group);
		g_assert(who >= 0);	/* the query only looked at groups they serve */
		if (!assign(st, id, ((struct free_agent *)agents->pdata[who])->cfg->id, events, err))
			return -1;
		g_ptr_array_remove_index(agents, who);
		n++;
	}
	return n;
}

gboolean
route_login(struct store *st, const struct config *cfg, const char *agent, GError **err)
{
	if (!config_agent(cfg, agent)) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "no agent \"%s\" in the configuration", agent);
		return FALSE;
	}
	/* logged in again (another session): paused, still holding its work */
	return store_run(st, err,
	    "INSERT INTO agents (id, state, logged_in) VALUES (?, 'paused', 1)"
	    " ON CONFLICT (id) DO UPDATE SET state = 'paused', logged_in = 1, ready_since = NULL",
	    "s", agent);
}

gboolean
route_agent(struct store *st, const char *agent, char **state, gint64 *conversation,
    GError **err)
{
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT state, conversation FROM agents WHERE id = ? AND logged_in = 1", "s", agent);
	int rc;

	if (!s || (rc = store_step(st, s, err)) < 0)
		return FALSE;
	if (rc != SQLITE_ROW) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_NOT_LOGGED_IN,
		    "agent \"%s\" is not logged in", agent);
		return FALSE;
	}
	if (state)
		*state = g_strdup(store_col_str(s, 0));
	if (conversation)
		*conversation = sqlite3_column_int64(s, 1);
	return TRUE;
}

/* release - the conversation the agent holds back to the queue, keeping its
 * queued_at so it is the next one out */
static gboolean
release(struct store *st, const char *agent, GPtrArray *events, GError **err)
{
	gint64 id = 0;
	int rc;

	rc = store_int(st, &id, err, "SELECT conversation FROM agents WHERE id = ?", "s", agent);
	if (rc < 0)
		return FALSE;
	if (rc == 0)
		return TRUE;
	if (!store_run(st, err,
	    "UPDATE conversations SET status = 'queued', agent = NULL, assigned_at = NULL"
	    " WHERE id = ? AND status = 'assigned'", "i", id)
	    || !store_run(st, err, "UPDATE agents SET conversation = NULL WHERE id = ?", "s", agent))
		return FALSE;
	event_add(events, agent, json_pack("{s:s, s:I}", "event", "released",
	    "conversation", (json_int_t)id));
	log_info("released conversation=%" G_GINT64_FORMAT " agent=%s", id, agent);
	return TRUE;
}

gboolean
route_logout(struct store *st, const char *agent, GPtrArray *events, GError **err)
{
	return release(st, agent, events, err)
	    && store_run(st, err,
	    "UPDATE agents SET logged_in = 0, state = 'paused', ready_since = NULL WHERE id = ?",
	    "s", agent);
}

gboolean
route_set_state(struct store *st, const char *agent, const char *state, GError **err)
{
	g_autofree char *now = store_now(st);

	if (!state || (strcmp(state, "ready") != 0 && strcmp(state, "paused") != 0)) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "\"state\" must be \"ready\" or \"paused\"");
		return FALSE;
	}
	if (!route_agent(st, agent, NULL, NULL, err))
		return FALSE;
	/* ready again while ready: keeps its place in the line */
	return store_run(st, err,
	    "UPDATE agents SET state = ?1,"
	    " ready_since = CASE WHEN ?1 = 'ready' THEN coalesce(ready_since, ?2) END WHERE id = ?3",
	    "sss", state, now, agent);
}

gboolean
route_held(struct store *st, const char *agent, gint64 id, struct conv *c, GError **err)
{
	int rc = store_conv_get(st, id, c, err);

	if (rc < 0)
		return FALSE;
	if (rc == 0) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_NOT_FOUND,
		    "no conversation %" G_GINT64_FORMAT, id);
		return FALSE;
	}
	if (strcmp(c->status, "assigned") != 0 || g_strcmp0(c->agent, agent) != 0) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_FORBIDDEN,
		    "agent %s does not hold conversation %" G_GINT64_FORMAT, agent, id);
		conv_clear(c);
		return FALSE;
	}
	return TRUE;
}

gboolean
route_dispose(struct store *st, const struct config *cfg, const char *agent, gint64 id,
    const char *disposition, GError **err)
{
	g_autofree char *now = store_now(st);
	const struct config_group *g;
	struct conv c = { 0 };
	gboolean ok;

	if (!route_held(st, agent, id, &c, err))
		return FALSE;
	g = config_group(cfg, c.group);
	if (g && !g_strv_contains((const char *const *)g->dispositions, disposition)) {
		g_autofree char *list = g_strjoinv(", ", g->dispositions);

		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_DISPOSITION,
		    "\"%s\" is not a disposition of group %s (%s)", disposition, c.group, list);
		conv_clear(&c);
		return FALSE;
	}
	if (!g)
		log_warn("conversation=%" G_GINT64_FORMAT ": group %s is no longer configured;"
		    " taking disposition %s as it is", id, c.group, disposition);
	ok = store_run(st, err,
	    "UPDATE conversations SET status = 'closed', disposition = ?, closed_at = ? WHERE id = ?",
	    "ssi", disposition, now, id)
	    && store_run(st, err,
	    "INSERT INTO dispositions (conversation, agent, \"group\", disposition, at)"
	    " VALUES (?, ?, ?, ?, ?)", "issss", id, agent, c.group, disposition, now)
	    /* free again: a ready agent waits from now */
	    && store_run(st, err,
	    "UPDATE agents SET conversation = NULL,"
	    " ready_since = CASE WHEN state = 'ready' THEN ? END WHERE id = ?", "ss", now, agent);
	if (ok)
		log_info("closed conversation=%" G_GINT64_FORMAT " agent=%s disposition=%s", id, agent,
		    disposition);
	conv_clear(&c);
	return ok;
}

/* logged_in - the ids of logged-in agents */
static GPtrArray *
logged_in(struct store *st, GError **err)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT id FROM agents WHERE logged_in = 1 ORDER BY id", "");
	int rc;

	if (!s)
		return NULL;
	while ((rc = store_step(st, s, err)) == SQLITE_ROW)
		g_ptr_array_add(ids, g_strdup(store_col_str(s, 0)));
	return rc < 0 ? NULL : g_steal_pointer(&ids);
}

int
route_reset(struct store *st, GPtrArray *events, GError **err)
{
	g_autoptr(GPtrArray) ids = logged_in(st, err);

	if (!ids)
		return -1;
	for (guint i = 0; i < ids->len; i++)
		if (!route_logout(st, ids->pdata[i], events, err))
			return -1;
	return ids->len;
}

int
route_sync(struct store *st, const struct config *cfg, GPtrArray *events, GError **err)
{
	g_autoptr(GPtrArray) ids = logged_in(st, err);
	int n = 0;

	if (!ids)
		return -1;
	for (guint i = 0; i < ids->len; i++) {
		const char *id = ids->pdata[i];

		if (config_agent(cfg, id))
			continue;
		log_warn("agent %s is no longer configured: logged out", id);
		if (!route_logout(st, id, events, err))
			return -1;
		n++;
	}
	return n;
}
