/*
 * events - GET /api/events: routed's event.1 for one agent as server-sent
 * events.
 *
 * Each stream runs in its connection's own thread (libmicrohttpd's thread
 * per connection) with its own SUB socket, subscribed before routed is asked
 * what the agent holds, so nothing falls between the two.  The reader waits
 * in short slices so that it notices within a second that the daemon is
 * stopping, the session has ended or the browser has gone.
 */
#include "agentd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

#include <microhttpd.h>

#include "log.h"
#include "wire.h"
#include "zsock.h"

#define SLICE_MS	500
#define KEEPALIVE_S	15

struct events_stream {
	struct agentd *ad;
	char *token;
	char *agent;
	void *sub;
	int client_fd;			/* -1 once it is not worth watching */
	GString *out;			/* bytes not yet handed to libmicrohttpd */
	gsize off;
	gint64 last_out;		/* monotonic, microseconds */
	json_int_t announced;		/* the conversation already told as assigned */
};

/* event_name_ok - a name that can go on an "event:" line as it is */
static gboolean
event_name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 32)
		return FALSE;
	for (; *s; s++)
		if (!g_ascii_islower(*s) && *s != '_')
			return FALSE;
	return TRUE;
}

char *
events_format(json_t *meta)
{
	const char *name = json_string_value(json_object_get(meta, "event"));
	g_autoptr(GString) s = NULL;
	json_t *data;
	char *json;

	if (!json_is_object(meta) || !event_name_ok(name))
		return NULL;
	data = json_deep_copy(meta);
	json_object_del(data, "event");
	json_object_del(data, "agent");
	/* compact JSON is one line: a newline in a value is written \n */
	json = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	s = g_string_new(NULL);
	g_string_append_printf(s, "event: %s\ndata: %s\n\n", name, json);
	free(json);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* stream_free - close the subscription and free the stream */
static void
stream_free(struct events_stream *st)
{
	if (!st)
		return;
	zsock_close(st->sub);
	g_free(st->token);
	g_free(st->agent);
	g_string_free(st->out, TRUE);
	g_free(st);
}

/* emit - queue text for the browser */
static void
emit(struct events_stream *st, const char *text)
{
	g_string_append(st->out, text);
}

/* announce - the assigned event for what the agent holds now, if anything */
static gboolean
announce(struct events_stream *st, struct api_answer *ans)
{
	json_t *rep, *conv, *c, *ev;
	json_int_t id;
	g_autofree char *text = NULL;

	rep = api_routed(st->ad, ans, "status", st->agent, NULL, NULL);
	if (!rep)
		return FALSE;
	conv = json_object_get(rep, "conversation");
	if (!json_is_integer(conv)) {
		json_decref(rep);
		return TRUE;
	}
	id = json_integer_value(conv);
	json_decref(rep);
	rep = api_routed(st->ad, ans, "conversation", st->agent,
	    json_pack("{s:I}", "conversation", id), NULL);
	if (!rep)
		return FALSE;
	c = json_object_get(rep, "conversation");
	ev = json_pack("{s:s, s:I, s:s?, s:s?, s:s?}", "event", "assigned", "conversation", id,
	    "subject", json_string_value(json_object_get(c, "subject")),
	    "from_addr", json_string_value(json_object_get(json_object_get(c, "contact"), "addr")),
	    "group", json_string_value(json_object_get(c, "group")));
	text = events_format(ev);
	emit(st, text);
	st->announced = id;
	json_decref(ev);
	json_decref(rep);
	return TRUE;
}

struct events_stream *
events_open(struct agentd *ad, const char *token, const char *agent, int client_fd,
    struct api_answer *ans)
{
	g_autoptr(agentd_cfg) cfg = agentd_cfg_get(ad);
	g_autoptr(GError) e = NULL;
	struct events_stream *st = g_new0(struct events_stream, 1);

	st->ad = ad;
	st->token = g_strdup(token);
	st->agent = g_strdup(agent);
	st->client_fd = client_fd;
	st->out = g_string_new(NULL);
	st->last_out = g_get_monotonic_time();
	st->sub = zsock_connect(ad->zctx, ZMQ_SUB, cfg->c->events_endpoint, agent, &e);
	if (!st->sub) {
		log_error("unable to subscribe to routed's events: %s", e->message);
		api_error(ans, 503, "routed_unavailable", "routed's events are not reachable");
		stream_free(st);
		return NULL;
	}
	if (!announce(st, ans)) {
		stream_free(st);
		return NULL;
	}
	if (st->out->len == 0)
		emit(st, ": keepalive\n\n");
	log_info("events: agent=%s", agent);
	return st;
}

/* take - one message from the SUB socket into the stream */
static void
take(struct events_stream *st)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(wire_msg) m = wire_recv(st->sub, TRUE, FALSE, ZMQ_DONTWAIT, &e);
	g_autofree char *text = NULL;
	const char *name;
	json_int_t conv;

	if (!m) {
		if (e)
			log_warn("bad event from routed: %s", e->message);
		return;
	}
	/* subscriptions match by prefix: "al" would get "alice"'s too */
	if (strcmp(m->topic, st->agent) != 0)
		return;
	if (strcmp(m->type, WIRE_EVENT) != 0) {
		log_warn("unknown message type %s from routed", m->type);
		return;
	}
	name = wire_meta_str(m, "event");
	conv = wire_meta_int(m, "conversation");
	/* told already when the stream opened */
	if (name && strcmp(name, "assigned") == 0 && st->announced && conv == st->announced) {
		st->announced = 0;
		return;
	}
	st->announced = 0;
	text = events_format(m->meta);
	if (!text) {
		log_warn("event without a usable name from routed: agent=%s", st->agent);
		return;
	}
	emit(st, text);
}

/* client_gone - the browser closed its side */
static gboolean
client_gone(struct events_stream *st)
{
	char c;
	ssize_t n = recv(st->client_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return TRUE;
	/* it sent something (a pipelined request): stop watching, the writes will tell */
	if (n > 0)
		st->client_fd = -1;
	return FALSE;
}

ssize_t
events_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct events_stream *st = cls;

	for (;;) {
		zmq_pollitem_t items[2];
		int n = 0, rc;

		if (st->out->len > st->off) {
			size_t len = MIN(max, st->out->len - st->off);

			memcpy(buf, st->out->str + st->off, len);
			st->off += len;
			if (st->off == st->out->len) {
				g_string_truncate(st->out, 0);
				st->off = 0;
			}
			st->last_out = g_get_monotonic_time();
			return len;
		}
		if (agentd_stopping(st->ad) || !session_alive(st->ad->sessions, st->token,
		    sessions_now()))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (g_get_monotonic_time() - st->last_out >= KEEPALIVE_S * G_USEC_PER_SEC) {
			emit(st, ": keepalive\n\n");
			continue;
		}
		items[n++] = (zmq_pollitem_t){ st->sub, 0, ZMQ_POLLIN, 0 };
		if (st->client_fd >= 0)
			items[n++] = (zmq_pollitem_t){ NULL, st->client_fd, ZMQ_POLLIN, 0 };
		rc = zmq_poll(items, n, SLICE_MS);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ETERM)
				return MHD_CONTENT_READER_END_OF_STREAM;
			log_warn("events: poll: %s", zmq_strerror(errno));
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (n > 1 && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) && client_gone(st))
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* everything waiting, so a burst goes out in one write */
		if (items[0].revents & ZMQ_POLLIN) {
			int more = 1;

			while (more) {
				zmq_pollitem_t again = { st->sub, 0, ZMQ_POLLIN, 0 };

				take(st);
				more = zmq_poll(&again, 1, 0) > 0 && st->out->len < 65536;
			}
		}
	}
}

void
events_close(void *cls)
{
	struct events_stream *st = cls;

	if (st)
		log_info("events closed: agent=%s", st->agent);
	stream_free(st);
}
