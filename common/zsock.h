/*
 * zsock - ZeroMQ sockets made the same way everywhere: LINGER and HWM set,
 * subscriptions before connect, ipc:// directories created.
 */
#ifndef POSTROOM_ZSOCK_H
#define POSTROOM_ZSOCK_H

#include <glib.h>
#include <jansson.h>

/* zsock_bind / zsock_connect - a new socket of type (ZMQ_PUSH, ...), bound
 * or connected to endpoint; NULL with err set.  linger_ms is how long a
 * closing socket may keep trying to deliver. */
void *zsock_bind(void *ctx, int type, const char *endpoint, GError **err);
void *zsock_connect(void *ctx, int type, const char *endpoint, const char *subscribe,
    GError **err);
/* zsock_connect_all - a new socket connected to every endpoint, with
 * ZMQ_IMMEDIATE set first when immediate (a PUSH then sends only to peers
 * that are up, skipping a dead one) */
void *zsock_connect_all(void *ctx, int type, char *const *endpoints, gboolean immediate,
    GError **err);
void zsock_close(void *sock);

/* The tap: a PUB socket every stage has, carrying the metadata (never the
 * payload) of what the stage sends.  Publishing never blocks: a slow
 * watcher loses lines, the pipeline loses nothing. */
struct tap;
struct tap *tap_new(void *ctx, const char *endpoint, GError **err);
void tap_publish(struct tap *t, const char *type, json_t *meta);
/* tap_publish_text - tap_publish with the meta as JSON text (wire_send_text) */
void tap_publish_text(struct tap *t, const char *type, const char *meta);
void tap_free(struct tap *t);

/* Signals: SIGTERM and SIGINT ask to stop, SIGHUP to re-read the
 * configuration.  Installed without SA_RESTART so zmq_poll returns EINTR. */
void sig_init(void);
gboolean sig_stop_requested(void);
gboolean sig_take_reload(void);	/* TRUE once per SIGHUP */

/* secret_read - the first line of a secret file, refused unless the file is
 * a regular file of mode 0600 or stricter */
char *secret_read(const char *path, GError **err);

#define ZSOCK_ERROR (zsock_error_quark())
GQuark zsock_error_quark(void);

#endif
