/*
 * worker - one message through parsed: receive raw.1 from fetchd, build the
 * record, send parsed.1 to routed, show its metadata on the tap.
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "parsed.h"
#include "zsock.h"

#define POLL_MS		1000
#define STOP_GRACE_S	10	/* after SIGTERM, how long routed may refuse a record */

/* forward - send one record (meta as JSON text) to routed, waiting while
 * routed is slow; after SIGTERM it waits STOP_GRACE_S more at most */
static gboolean
forward(void *push, const char *meta, GPtrArray *parts, const char *key)
{
	gint64 stop_at = 0;

	for (;;) {
		zmq_pollitem_t it = { push, 0, ZMQ_POLLOUT, 0 };

		if (wire_send_text(push, NULL, WIRE_PARSED, meta, parts, ZMQ_DONTWAIT) == 0)
			return TRUE;
		if (errno != EAGAIN && errno != EINTR) {
			log_error("unable to send to routed: key=%s: %s", key, zmq_strerror(errno));
			return FALSE;
		}
		if (sig_stop_requested()) {
			if (!stop_at) {
				stop_at = g_get_monotonic_time() + STOP_GRACE_S * G_USEC_PER_SEC;
			} else if (g_get_monotonic_time() > stop_at) {
				log_warn("routed is not taking records, dropping key=%s "
				    "(fetchd sends it again)", key);
				return FALSE;
			}
		}
		zmq_poll(&it, 1, POLL_MS);
	}
}

/* parsed_handle - take one message from pull (without waiting), send its
 * record on push and its metadata (which holds no text body) on tap; cfg gives
 * each account's max_message_size (may be NULL: the default).  Returns
 * FALSE when there was nothing to take. */
gboolean
parsed_handle(void *pull, void *push, struct tap *tap, const struct config *cfg)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(wire_msg) m = NULL;
	g_autoptr(GPtrArray) parts = NULL;
	g_autofree char *text = NULL;
	json_t *meta = NULL, *warns;
	const char *key;
	guint64 limit;

	m = wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, &err);
	if (!m) {
		if (err)
			log_warn("dropping a message from fetchd: %s", err->message);
		return err != NULL;
	}
	if (strcmp(m->type, WIRE_RAW) != 0) {
		log_warn("unknown message type %s from fetchd", m->type);
		return TRUE;
	}
	limit = parsed_limit(cfg, wire_meta_str(m, "account"));
	if (!parsed_process(m, limit, &meta, &parts, &err)) {
		log_warn("dropping a message from fetchd: %s", err->message);
		return TRUE;
	}
	key = wire_meta_str(m, "key");
	if (g_bytes_get_size(m->parts->pdata[0]) > limit)
		log_warn("message over max_message_size, only its headers read: key=%s size=%"
		    G_GSIZE_FORMAT " max_message_size=%" G_GUINT64_FORMAT, key,
		    g_bytes_get_size(m->parts->pdata[0]), limit);
	warns = json_object_get(meta, "warnings");
	if (json_array_size(warns) > 0)
		log_info("parsed with warnings: key=%s warnings=%zu: %s", key, json_array_size(warns),
		    json_string_value(json_array_get(warns, 0)));
	else
		log_debug("parsed: key=%s attachments=%zu", key,
		    json_array_size(json_object_get(meta, "attachments")));
	/* the same meta to routed and to the tap (the body is a frame, never
	 * on the tap): made into JSON once */
	text = json_dumps(meta, JSON_COMPACT);
	g_assert(text != NULL);
	if (forward(push, text, parts, key))
		tap_publish_text(tap, WIRE_PARSED, text);
	json_decref(meta);
	return TRUE;
}
