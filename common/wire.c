/*
 * wire - the envelope: [topic] type meta payload...
 */
#include "wire.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

G_DEFINE_QUARK(postroom-wire-error, wire_error)

static void
free_bytes(void *data, void *hint)
{
	g_bytes_unref(hint);
}

static int
send_frame(void *sock, const void *data, size_t len, int flags)
{
	return zmq_send(sock, data, len, flags) < 0 ? -1 : 0;
}

/* send_text - type, the meta as JSON text, the payload */
static int
send_text(void *sock, const char *type, const char *json, GPtrArray *parts, int flags)
{
	guint n = parts ? parts->len : 0;

	if (send_frame(sock, type, strlen(type), flags | ZMQ_SNDMORE) < 0)
		return -1;
	if (send_frame(sock, json, strlen(json), flags | (n ? ZMQ_SNDMORE : 0)) < 0)
		return -1;
	for (guint i = 0; i < n; i++) {
		GBytes *b = parts->pdata[i];
		gsize len;
		const void *data = g_bytes_get_data(b, &len);
		zmq_msg_t msg;

		/* zero-copy: ZeroMQ holds a reference until the frame is sent */
		if (zmq_msg_init_data(&msg, (void *)data, len, free_bytes, g_bytes_ref(b)) != 0)
			return -1;
		if (zmq_msg_send(&msg, sock, flags | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0) {
			int saved = errno;

			zmq_msg_close(&msg);
			errno = saved;
			return -1;
		}
	}
	return 0;
}

/* send_envelope - type, meta (made into JSON text here), the payload */
static int
send_envelope(void *sock, const char *type, json_t *meta, GPtrArray *parts, int flags)
{
	g_autofree char *json = NULL;

	/* UTF-8 as it is: valid JSON, readable when tapped, and cheaper than
	 * a \uXXXX escape for every character outside ASCII */
	json = json_dumps(meta, JSON_COMPACT);
	g_assert(json != NULL);
	return send_text(sock, type, json, parts, flags);
}

int
wire_send(void *sock, const char *topic, const char *type, json_t *meta, GPtrArray *parts,
    int flags)
{
	/* The first frame decides: once it is queued, the rest follows it
	 * (ZeroMQ delivers a multipart message whole or not at all). */
	if (topic && send_frame(sock, topic, strlen(topic), flags | ZMQ_SNDMORE) < 0)
		return -1;
	return send_envelope(sock, type, meta, parts, topic ? flags & ~ZMQ_DONTWAIT : flags);
}

int
wire_send_text(void *sock, const char *topic, const char *type, const char *meta,
    GPtrArray *parts, int flags)
{
	if (topic && send_frame(sock, topic, strlen(topic), flags | ZMQ_SNDMORE) < 0)
		return -1;
	return send_text(sock, type, meta, parts, topic ? flags & ~ZMQ_DONTWAIT : flags);
}

int
wire_reply(void *sock, const struct wire_msg *req, const char *type, json_t *meta,
    GPtrArray *parts)
{
	if (send_frame(sock, req->identity, req->identity_len, ZMQ_SNDMORE) < 0)
		return -1;
	if (send_frame(sock, "", 0, ZMQ_SNDMORE) < 0)
		return -1;
	return send_envelope(sock, type, meta, parts, 0);
}

void
wire_msg_free(struct wire_msg *m)
{
	if (!m)
		return;
	g_free(m->topic);
	g_free(m->type);
	if (m->meta)
		json_decref(m->meta);
	if (m->parts)
		g_ptr_array_unref(m->parts);
	g_free(m->identity);
	g_free(m);
}

static void
free_zmq_msg(gpointer p)
{
	/* NULL: a frame whose ownership went to a payload's GBytes */
	if (!p)
		return;
	zmq_msg_close(p);
	g_free(p);
}

/* frames_recv - every frame of the next message, or NULL with errno */
static GPtrArray *
frames_recv(void *sock, int flags)
{
	GPtrArray *frames = g_ptr_array_new_with_free_func(free_zmq_msg);
	int more;

	do {
		zmq_msg_t *f = g_new(zmq_msg_t, 1);

		zmq_msg_init(f);
		if (zmq_msg_recv(f, sock, frames->len ? 0 : flags) < 0) {
			int saved = errno;

			free_zmq_msg(f);
			g_ptr_array_unref(frames);
			errno = saved;
			return NULL;
		}
		g_ptr_array_add(frames, f);
		more = zmq_msg_more(f);
	} while (more);
	return frames;
}

static char *
frame_str(zmq_msg_t *f)
{
	return g_strndup(zmq_msg_data(f), zmq_msg_size(f));
}

struct wire_msg *
wire_recv(void *sock, gboolean topic, gboolean router, int flags, GError **err)
{
	g_autoptr(GPtrArray) frames = frames_recv(sock, flags);
	g_autoptr(wire_msg) m = NULL;
	json_error_t jerr;
	guint i = 0;

	if (!frames)
		return NULL;
	m = g_new0(struct wire_msg, 1);
	if (router) {
		if (frames->len < 2 || zmq_msg_size(frames->pdata[1]) != 0)
			goto bad;
		m->identity_len = zmq_msg_size(frames->pdata[0]);
		m->identity = g_memdup2(zmq_msg_data(frames->pdata[0]), m->identity_len);
		i = 2;
	}
	if (topic) {
		if (i >= frames->len)
			goto bad;
		m->topic = frame_str(frames->pdata[i++]);
	}
	if (frames->len < i + 2)
		goto bad;
	m->type = frame_str(frames->pdata[i++]);
	m->meta = json_loadb(zmq_msg_data(frames->pdata[i]), zmq_msg_size(frames->pdata[i]), 0, &jerr);
	i++;
	if (!m->meta || !json_is_object(m->meta))
		goto bad;

	/* the payload frames become GBytes that keep their zmq_msg_t alive */
	m->parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	for (; i < frames->len; i++) {
		zmq_msg_t *f = frames->pdata[i];

		frames->pdata[i] = NULL;
		g_ptr_array_add(m->parts, g_bytes_new_with_free_func(zmq_msg_data(f), zmq_msg_size(f),
		    free_zmq_msg, f));
	}
	return g_steal_pointer(&m);
bad:
	g_set_error(err, WIRE_ERROR, 0,
	    "malformed message (%u frames%s%s)", frames->len, m->type ? ", type " : "",
	    m->type ? m->type : "");
	return NULL;
}

char *
wire_key(const char *account, guint32 uidvalidity, guint32 uid)
{
	return g_strdup_printf("%s/%" G_GUINT32_FORMAT "/%" G_GUINT32_FORMAT, account, uidvalidity, uid);
}

const char *
wire_meta_str(const struct wire_msg *m, const char *field)
{
	return json_string_value(json_object_get(m->meta, field));
}

json_int_t
wire_meta_int(const struct wire_msg *m, const char *field)
{
	return json_integer_value(json_object_get(m->meta, field));
}
