/*
 * control - agentd's requests to routed (docs/wire.md, req.1 / rep.1).
 *
 * Every call makes its own REQ socket: HTTP requests run in threads of their
 * own and a ZeroMQ socket is one thread's.  A socket whose answer did not
 * come in time is closed (a REQ socket cannot send again before it has its
 * answer), so a late answer is simply dropped.
 */
#include "agentd.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "wire.h"
#include "zsock.h"

#define POLL_SLICE_MS	250

json_t *
control_call(void *zctx, const char *endpoint, int timeout_ms, const char *op,
    const char *agent, json_t *fields, GPtrArray *parts, GError **err)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(wire_msg) rep = NULL;
	json_t *meta = json_object();
	void *req;
	int zero = 0;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	req = zsock_connect(zctx, ZMQ_REQ, endpoint, NULL, &e);
	if (!req) {
		g_set_error(err, ZSOCK_ERROR, 0, "routed: %s", e->message);
		json_decref(meta);
		json_decref(fields);
		return NULL;
	}
	/* what is not answered is given up with the socket */
	zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
	json_object_set_new(meta, "op", json_string(op));
	json_object_set_new(meta, "agent", json_string(agent));
	if (fields) {
		json_object_update(meta, fields);
		json_decref(fields);
	}
	if (wire_send(req, NULL, WIRE_REQ, meta, parts, ZMQ_DONTWAIT) != 0) {
		g_set_error(err, ZSOCK_ERROR, errno, "routed: unable to send: %s",
		    zmq_strerror(errno));
		goto out;
	}
	for (;;) {
		zmq_pollitem_t item = { req, 0, ZMQ_POLLIN, 0 };
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		int rc;

		if (left <= 0) {
			g_set_error(err, ZSOCK_ERROR, ETIMEDOUT,
			    "routed did not answer within %d ms", timeout_ms);
			goto out;
		}
		rc = zmq_poll(&item, 1, left < POLL_SLICE_MS ? left : POLL_SLICE_MS);
		if (rc < 0 && errno != EINTR) {
			g_set_error(err, ZSOCK_ERROR, errno, "routed: %s", zmq_strerror(errno));
			goto out;
		}
		if (rc > 0)
			break;
	}
	rep = wire_recv(req, FALSE, FALSE, ZMQ_DONTWAIT, &e);
	if (!rep) {
		g_set_error(err, ZSOCK_ERROR, 0, "routed: %s",
		    e ? e->message : zmq_strerror(errno));
		goto out;
	}
	if (strcmp(rep->type, WIRE_REP) != 0) {
		log_warn("unknown message type %s from routed", rep->type);
		g_set_error(err, ZSOCK_ERROR, 0, "routed answered with a %s", rep->type);
		goto out;
	}
	if (!json_is_boolean(json_object_get(rep->meta, "ok"))) {
		g_set_error(err, ZSOCK_ERROR, 0, "routed answered without \"ok\"");
		goto out;
	}
	zmq_close(req);
	json_decref(meta);
	return json_incref(rep->meta);
out:
	zmq_close(req);
	json_decref(meta);
	return NULL;
}
