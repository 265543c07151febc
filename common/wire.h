/*
 * wire - the one envelope every stage speaks (docs/wire.md).
 *
 * A ZeroMQ multipart message:
 *	[topic]		only on PUB sockets: the account or agent, matched exactly
 *	type		"raw.1", "parsed.1", "ack.1", "req.1", "rep.1", "event.1"
 *	meta		a JSON object, small and readable when tapped
 *	payload...	zero or more frames of bytes
 */
#ifndef POSTROOM_WIRE_H
#define POSTROOM_WIRE_H

#include <glib.h>
#include <jansson.h>

#define WIRE_RAW	"raw.1"		/* fetchd -> parsed: one message as fetched */
#define WIRE_PARSED	"parsed.1"	/* parsed -> routed: the record; raw, text body, attachments */
#define WIRE_ACK	"ack.1"		/* routed -> fetchd: committed */
#define WIRE_REQ	"req.1"		/* agentd -> routed: a request */
#define WIRE_REP	"rep.1"		/* routed -> agentd: its answer */
#define WIRE_EVENT	"event.1"	/* routed -> agentd: something happened to an agent */

struct wire_msg {
	char *topic;		/* NULL unless received with topic = TRUE */
	char *type;
	json_t *meta;		/* an object */
	GPtrArray *parts;	/* of GBytes */
	char *identity;		/* ROUTER sockets: the peer's routing id */
	gsize identity_len;
};

/* wire_send - send one message; parts may be NULL.  The payload's bytes are
 * handed to ZeroMQ without a copy.  Returns 0, or -1 with errno (EAGAIN with
 * ZMQ_DONTWAIT when the peer is slow). */
int wire_send(void *sock, const char *topic, const char *type, json_t *meta,
    GPtrArray *parts, int flags);

/* wire_send_text - wire_send with the meta already made into JSON text
 * (one object, as json_dumps(meta, JSON_COMPACT) writes it), for a stage
 * that sends the same meta twice (to the next stage and to its tap) */
int wire_send_text(void *sock, const char *topic, const char *type, const char *meta,
    GPtrArray *parts, int flags);

/* wire_reply - on a ROUTER socket, answer the peer that sent req */
int wire_reply(void *sock, const struct wire_msg *req, const char *type, json_t *meta,
    GPtrArray *parts);

/* wire_recv - receive one message.  With topic, the first frame is a topic;
 * with router, the first frames are a ROUTER's identity and an empty
 * delimiter.  A malformed message is read whole and discarded: NULL with err
 * set (WIRE_ERROR), or NULL with errno for socket errors (EAGAIN, EINTR,
 * ETERM) and err unset. */
struct wire_msg *wire_recv(void *sock, gboolean topic, gboolean router, int flags,
    GError **err);
void wire_msg_free(struct wire_msg *m);
typedef struct wire_msg wire_msg;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wire_msg, wire_msg_free)

#define WIRE_ERROR (wire_error_quark())
GQuark wire_error_quark(void);

/* wire_key - "account/uidvalidity/uid", the stable key of a fetched message */
char *wire_key(const char *account, guint32 uidvalidity, guint32 uid);

/* Accessors for meta that never fail: a missing or mistyped field reads as
 * NULL / 0. */
const char *wire_meta_str(const struct wire_msg *m, const char *field);
json_int_t wire_meta_int(const struct wire_msg *m, const char *field);

#endif
