/*
 * zsock - socket set-up, the tap, signals and secrets: what every daemon's
 * main() needs the same way.
 */
#include "zsock.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include "wire.h"

#define LINGER_MS	2000
#define HWM		10000
#define TAP_HWM		1000

G_DEFINE_QUARK(postroom-zsock-error, zsock_error)

/* ipc_dir - make the directory an ipc:// endpoint's file lives in */
static void
ipc_dir(const char *endpoint)
{
	g_autofree char *dir = NULL;

	if (!g_str_has_prefix(endpoint, "ipc://"))
		return;
	dir = g_path_get_dirname(endpoint + strlen("ipc://"));
	g_mkdir_with_parents(dir, 0750);
}

static void *
make(void *ctx, int type, int hwm)
{
	void *s = zmq_socket(ctx, type);
	int linger = LINGER_MS;

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	return s;
}

void *
zsock_bind(void *ctx, int type, const char *endpoint, GError **err)
{
	void *s = make(ctx, type, HWM);

	if (!s) {
		g_set_error(err, ZSOCK_ERROR, errno, "socket: %s", zmq_strerror(errno));
		return NULL;
	}
	ipc_dir(endpoint);
	if (zmq_bind(s, endpoint) != 0) {
		g_set_error(err, ZSOCK_ERROR, errno, "bind %s: %s", endpoint, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

void *
zsock_connect(void *ctx, int type, const char *endpoint, const char *subscribe, GError **err)
{
	void *s = make(ctx, type, HWM);

	if (!s) {
		g_set_error(err, ZSOCK_ERROR, errno, "socket: %s", zmq_strerror(errno));
		return NULL;
	}
	if (subscribe)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, subscribe, strlen(subscribe));
	if (zmq_connect(s, endpoint) != 0) {
		g_set_error(err, ZSOCK_ERROR, errno, "connect %s: %s", endpoint, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

void *
zsock_connect_all(void *ctx, int type, char *const *endpoints, gboolean immediate, GError **err)
{
	void *s = make(ctx, type, HWM);
	int on = immediate ? 1 : 0;

	if (!s) {
		g_set_error(err, ZSOCK_ERROR, errno, "socket: %s", zmq_strerror(errno));
		return NULL;
	}
	zmq_setsockopt(s, ZMQ_IMMEDIATE, &on, sizeof on);
	for (char *const *ep = endpoints; *ep; ep++) {
		if (zmq_connect(s, *ep) != 0) {
			g_set_error(err, ZSOCK_ERROR, errno, "connect %s: %s", *ep, zmq_strerror(errno));
			zmq_close(s);
			return NULL;
		}
	}
	return s;
}

void
zsock_close(void *sock)
{
	if (sock)
		zmq_close(sock);
}

struct tap {
	void *pub;
};

struct tap *
tap_new(void *ctx, const char *endpoint, GError **err)
{
	struct tap *t = g_new0(struct tap, 1);
	int zero = 0;

	t->pub = make(ctx, ZMQ_PUB, TAP_HWM);
	if (!t->pub) {
		g_set_error(err, ZSOCK_ERROR, errno, "socket: %s", zmq_strerror(errno));
		g_free(t);
		return NULL;
	}
	/* a tap never holds up a stopping daemon */
	zmq_setsockopt(t->pub, ZMQ_LINGER, &zero, sizeof zero);
	ipc_dir(endpoint);
	if (zmq_bind(t->pub, endpoint) != 0) {
		g_set_error(err, ZSOCK_ERROR, errno, "bind %s: %s", endpoint, zmq_strerror(errno));
		zmq_close(t->pub);
		g_free(t);
		return NULL;
	}
	return t;
}

void
tap_publish(struct tap *t, const char *type, json_t *meta)
{
	if (!t)
		return;
	/* PUB drops at the high-water mark instead of blocking */
	wire_send(t->pub, NULL, type, meta, NULL, ZMQ_DONTWAIT);
}

void
tap_publish_text(struct tap *t, const char *type, const char *meta)
{
	if (!t)
		return;
	wire_send_text(t->pub, NULL, type, meta, NULL, ZMQ_DONTWAIT);
}

void
tap_free(struct tap *t)
{
	if (!t)
		return;
	zmq_close(t->pub);
	g_free(t);
}

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
}

void
sig_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: let poll return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

gboolean
sig_stop_requested(void)
{
	return stop_flag != 0;
}

gboolean
sig_take_reload(void)
{
	if (!reload_flag)
		return FALSE;
	reload_flag = 0;
	return TRUE;
}

char *
secret_read(const char *path, GError **err)
{
	g_autofree char *data = NULL;
	struct stat st;
	int fd;
	gsize len;
	char *nl;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(err, ZSOCK_ERROR, errno, "%s: %s", path, g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		g_set_error(err, ZSOCK_ERROR, EINVAL, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	close(fd);
	if (st.st_mode & 077) {
		g_set_error(err, ZSOCK_ERROR, EPERM,
		    "%s: mode %04o lets others read the secret; chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	if (!g_file_get_contents(path, &data, &len, NULL) || len == 0) {
		g_set_error(err, ZSOCK_ERROR, EINVAL, "%s: empty or unreadable", path);
		return NULL;
	}
	nl = strpbrk(data, "\r\n");
	if (nl)
		*nl = '\0';
	if (*data == '\0') {
		g_set_error(err, ZSOCK_ERROR, EINVAL, "%s: the first line is empty", path);
		return NULL;
	}
	return g_steal_pointer(&data);
}
