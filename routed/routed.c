/*
 * routed - the sockets around the store: records in (PULL), acknowledgements
 * out (PUB, topic the account), agentd's requests (ROUTER) and agents'
 * events (PUB, topic the agent).  main() polls; everything it calls is here,
 * so the unit tests drive the same code over inproc:// sockets.
 *
 * The order that makes acknowledgements mean something: a batch of records
 * is stored in one transaction, the transaction commits (synchronous=FULL),
 * and only then do the acks leave.  Events, likewise, leave after the
 * commit of the transaction that caused them.
 */
#include "routed.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "log.h"

G_DEFINE_QUARK(postroom-routed-error, routed_error)

const char *
routed_error_code(const GError *e)
{
	static const char *const codes[] = {
		[ROUTED_ERROR_BAD_REQUEST] = "bad_request",
		[ROUTED_ERROR_NOT_FOUND] = "not_found",
		[ROUTED_ERROR_FORBIDDEN] = "forbidden",
		[ROUTED_ERROR_BAD_DISPOSITION] = "bad_disposition",
		[ROUTED_ERROR_NOT_LOGGED_IN] = "not_logged_in",
	};

	if (e->domain == ROUTED_ERROR && e->code >= 0 && (gsize)e->code < G_N_ELEMENTS(codes))
		return codes[e->code];
	return "internal";
}

static void
event_free(gpointer p)
{
	struct event *ev = p;

	if (!ev)
		return;
	g_free(ev->agent);
	json_decref(ev->meta);
	g_free(ev);
}

GPtrArray *
events_new(void)
{
	return g_ptr_array_new_with_free_func(event_free);
}

void
event_add(GPtrArray *events, const char *agent, json_t *meta)
{
	struct event *ev = g_new0(struct event, 1);

	g_assert(meta != NULL);
	ev->agent = g_strdup(agent);
	ev->meta = meta;
	g_ptr_array_add(events, ev);
}

/* publish - send the events of a committed transaction, and tap them */
static void
publish(struct routed *r, GPtrArray *events)
{
	for (guint i = 0; i < events->len; i++) {
		struct event *ev = events->pdata[i];
		g_autoptr(json_t) tapped = json_copy(ev->meta);

		if (wire_send(r->events, ev->agent, WIRE_EVENT, ev->meta, NULL, 0) != 0)
			log_warn("unable to publish an event for agent %s: %s", ev->agent,
			    zmq_strerror(errno));
		json_object_set_new(tapped, "agent", json_string(ev->agent));
		tap_publish(r->tap, WIRE_EVENT, tapped);
	}
	g_ptr_array_set_size(events, 0);
}

/* orphans - say so when queued work waits in groups no longer configured */
static void
orphans(struct routed *r)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(store_cursor) s = store_query(r->st, &err,
	    "SELECT \"group\", count(*) FROM conversations WHERE status = 'queued'"
	    " GROUP BY \"group\"", "");
	int rc;

	if (!s) {
		log_error("unable to count the queues: %s", err->message);
		return;
	}
	while ((rc = store_step(r->st, s, &err)) == SQLITE_ROW)
		if (!config_group(r->cfg, store_col_str(s, 0)))
			log_warn("%lld conversations wait in group %s, which is no longer configured",
			    (long long)sqlite3_column_int64(s, 1), store_col_str(s, 0));
	if (rc < 0)
		log_error("unable to count the queues: %s", err->message);
}

void
routed_assign(struct routed *r)
{
	g_autoptr(GPtrArray) events = events_new();
	g_autoptr(GError) err = NULL;

	if (!store_begin(r->st, &err) || route_assign(r->st, r->cfg, events, &err) < 0
	    || !store_commit(r->st, &err)) {
		store_rollback(r->st);
		log_error("unable to assign work: %s", err->message);
		return;
	}
	publish(r, events);
}

struct routed *
routed_new(struct config *cfg, void *ctx, GError **err)
{
	struct routed *r = g_new0(struct routed, 1);
	g_autoptr(GPtrArray) events = events_new();
	g_autofree char *path = NULL, *tap = NULL;
	int n;

	r->cfg = cfg;
	if (g_mkdir_with_parents(cfg->state_dir, 0750) != 0) {
		int e = errno;

		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", cfg->state_dir,
		    g_strerror(e));
		goto fail;
	}
	path = g_build_filename(cfg->state_dir, ROUTED_DB_NAME, NULL);
	r->st = store_open(path, err);
	if (!r->st)
		goto fail;
	tap = config_tap_endpoint(cfg, "routed");
	if (!(r->in = zsock_bind(ctx, ZMQ_PULL, cfg->routed_endpoint, err))
	    || !(r->acks = zsock_bind(ctx, ZMQ_PUB, cfg->acks_endpoint, err))
	    || !(r->events = zsock_bind(ctx, ZMQ_PUB, cfg->events_endpoint, err))
	    || !(r->control = zsock_bind(ctx, ZMQ_ROUTER, cfg->control_endpoint, err))
	    || !(r->tap = tap_new(ctx, tap, err)))
		goto fail;

	/* agentd's sessions did not survive the last run's end */
	if (!store_begin(r->st, err))
		goto fail;
	n = route_reset(r->st, events, err);
	if (n < 0 || !store_commit(r->st, err)) {
		store_rollback(r->st);
		goto fail;
	}
	if (n > 0)
		log_info("logged out %d agents left logged in by the last run", n);
	publish(r, events);
	orphans(r);
	return r;
fail:
	routed_free(r);
	return NULL;
}

void
routed_free(struct routed *r)
{
	if (!r)
		return;
	zsock_close(r->in);
	zsock_close(r->acks);
	zsock_close(r->events);
	zsock_close(r->control);
	tap_free(r->tap);
	store_close(r->st);
	config_free(r->cfg);
	g_free(r);
}

/* ack_meta - ack.1's metadata for a stored or duplicate record */
static json_t *
ack_meta(const struct wire_msg *m, const struct thread_result *res)
{
	json_t *ack = json_pack("{s:s, s:s}", "key", wire_meta_str(m, "key"),
	    "account", wire_meta_str(m, "account"));
	json_t *v;

	if (json_is_integer(v = json_object_get(m->meta, "uidvalidity")))
		json_object_set(ack, "uidvalidity", v);
	if (json_is_integer(v = json_object_get(m->meta, "uid")))
		json_object_set(ack, "uid", v);
	json_object_set_new(ack, "status", json_string(res->duplicate ? "duplicate" : "stored"));
	json_object_set_new(ack, "conversation", json_integer(res->conversation));
	return ack;
}

/* take - the records waiting, ROUTED_BATCH at most; how many messages came */
static int
take(struct routed *r, GPtrArray *batch)
{
	int n = 0;

	while (batch->len < ROUTED_BATCH) {
		g_autoptr(GError) e = NULL;
		struct wire_msg *m = wire_recv(r->in, FALSE, FALSE, ZMQ_DONTWAIT, &e);

		if (!m) {
			if (!e)
				break;	/* EAGAIN: that was all; EINTR, ETERM: later */
			log_warn("dropped a malformed message from parsed: %s", e->message);
			n++;
			continue;
		}
		n++;
		if (strcmp(m->type, WIRE_PARSED) != 0) {
			log_warn("unknown message type %s from parsed", m->type);
			wire_msg_free(m);
			continue;
		}
		g_ptr_array_add(batch, m);
	}
	return n;
}

int
routed_handle_input(struct routed *r)
{
	g_autoptr(GPtrArray) batch = g_ptr_array_new_with_free_func((GDestroyNotify)wire_msg_free);
	g_autoptr(GPtrArray) acks = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	g_autoptr(GPtrArray) taps = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	g_autoptr(GPtrArray) events = events_new();
	g_autoptr(GError) err = NULL;
	int n = take(r, batch);

	if (batch->len == 0)
		return n;
	if (!store_begin(r->st, &err)) {
		log_error("unable to store %u records, they will come again: %s", batch->len,
		    err->message);
		return n;
	}
	for (guint i = 0; i < batch->len; i++) {
		struct wire_msg *m = batch->pdata[i];
		struct thread_result res = { 0 };
		g_autoptr(GError) e = NULL;
		guint mark = events->len;
		json_t *ack;

		if (!store_savepoint(r->st, &e)
		    || !thread_store(r->st, r->cfg, m->meta, m->parts, events, &res, &e)
		    || !store_release(r->st, &e)) {
			store_rollback_savepoint(r->st);
			g_ptr_array_set_size(events, mark);
			thread_result_clear(&res);
			if (e->domain == ROUTED_ERROR) {
				log_warn("dropped a record: %s", e->message);
				continue;
			}
			log_error("unable to store key=%s: %s", wire_meta_str(m, "key"), e->message);
			if (!store_in_transaction(r->st)) {
				/* SQLite rolled the whole batch back: it comes again */
				log_error("the batch of %u records was rolled back", batch->len);
				return n;
			}
			continue;
		}
		log_info("%s key=%s conversation=%" G_GINT64_FORMAT,
		    res.duplicate ? "duplicate" : "stored", wire_meta_str(m, "key"), res.conversation);
		ack = ack_meta(m, &res);
		g_ptr_array_add(acks, ack);
		g_ptr_array_add(taps, json_copy(ack));
		json_object_set_new(taps->pdata[taps->len - 1], "subject",
		    res.subject ? json_string(res.subject) : json_null());
		thread_result_clear(&res);
	}
	if (!store_commit(r->st, &err)) {
		store_rollback(r->st);
		log_error("unable to commit %u records, they will come again: %s", batch->len,
		    err->message);
		return n;
	}

	/* committed: now, and only now, the acknowledgements */
	for (guint i = 0; i < acks->len; i++) {
		json_t *ack = acks->pdata[i];
		const char *account = json_string_value(json_object_get(ack, "account"));

		if (wire_send(r->acks, account, WIRE_ACK, ack, NULL, 0) != 0)
			log_warn("unable to publish the ack of key=%s: %s",
			    json_string_value(json_object_get(ack, "key")), zmq_strerror(errno));
		tap_publish(r->tap, WIRE_ACK, taps->pdata[i]);
	}
	publish(r, events);
	routed_assign(r);
	return n;
}

int
routed_handle_control(struct routed *r)
{
	int n = 0;

	while (n < ROUTED_BATCH) {
		g_autoptr(GError) e = NULL;
		g_autoptr(wire_msg) m = wire_recv(r->control, FALSE, TRUE, ZMQ_DONTWAIT, &e);
		g_autoptr(GPtrArray) events = NULL;
		g_autoptr(json_t) rep = NULL;

		if (!m) {
			if (!e)
				break;
			log_warn("dropped a malformed request: %s", e->message);
			n++;
			continue;
		}
		n++;
		if (strcmp(m->type, WIRE_REQ) != 0) {
			log_warn("unknown message type %s from agentd", m->type);
			continue;
		}
		events = events_new();
		rep = control_handle(r->st, r->cfg, m->meta, m->parts, events);
		if (wire_reply(r->control, m, WIRE_REP, rep, NULL) != 0)
			log_warn("unable to answer agentd: %s", zmq_strerror(errno));
		publish(r, events);
	}
	return n;
}

void
routed_reload(struct routed *r, struct config *cfg)
{
	g_autoptr(GPtrArray) events = events_new();
	g_autoptr(GError) err = NULL;
	struct config *old = r->cfg;

	if (g_strcmp0(old->routed_endpoint, cfg->routed_endpoint) != 0
	    || g_strcmp0(old->acks_endpoint, cfg->acks_endpoint) != 0
	    || g_strcmp0(old->control_endpoint, cfg->control_endpoint) != 0
	    || g_strcmp0(old->events_endpoint, cfg->events_endpoint) != 0
	    || g_strcmp0(old->state_dir, cfg->state_dir) != 0)
		log_warn("new endpoints or state_dir take a restart; keeping the old ones");
	r->cfg = cfg;
	config_free(old);
	if (!store_begin(r->st, &err) || route_sync(r->st, r->cfg, events, &err) < 0
	    || !store_commit(r->st, &err)) {
		store_rollback(r->st);
		log_error("unable to apply the new configuration to the agents: %s", err->message);
	} else {
		publish(r, events);
	}
	orphans(r);
	routed_assign(r);
}
