/*
 * check_fetchd_fixture.h - what fetchd's end-to-end suites share: a scripted
 * mail server on a loopback port, a configuration directory whose account
 * "support" points at it, and real inproc:// sockets to parsed.
 *
 * A suite's server is a function that speaks one connection; the fixture
 * accepts connections in a thread and hands each one to it.  The server
 * writes with put() and putf(), in pieces so that the client reads every
 * answer split, and notes each command the client sends (server_note), for
 * sent() and count() to find.
 */
#ifndef CHECK_FETCHD_FIXTURE_H
#define CHECK_FETCHD_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "unit.h"
#include "fetchd.h"

#define SEC	G_USEC_PER_SEC

static char *dir;			/* the test's: configuration, secret, state */
static void *ctx, *pull, *push;		/* pull is parsed's side, push fetchd's */

/* the scripted server */
static struct {
	int lfd, port;
	GThread *thread;
	void (*session)(int fd);	/* the suite's: speaks one connection */
	GMutex lock;
	GPtrArray *commands;		/* what the client sent, in order */
} server;

/* put - write s in small pieces so that the client reads it split */
static inline void
put(int fd, const void *s, gsize len)
{
	const char *p = s;
	gsize step = 1;

	while (len > 0) {
		gsize n = MIN(step, len);
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		len -= w;
		step = step * 3 % 1021 + 1;
	}
}

static inline void
putf(int fd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static inline void
putf(int fd, const char *fmt, ...)
{
	g_autofree char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	put(fd, s, strlen(s));
}

/* server_read_line - the client's next line, without CRLF; FALSE when the
 * connection ends first */
static inline gboolean
server_read_line(int fd, GString *line)
{
	char c;

	g_string_truncate(line, 0);
	while (read(fd, &c, 1) == 1) {
		if (c == '\n')
			return TRUE;
		if (c != '\r')
			g_string_append_c(line, c);
	}
	return FALSE;
}

/* server_note - the client sent cmd */
static inline void
server_note(const char *cmd)
{
	g_mutex_lock(&server.lock);
	g_ptr_array_add(server.commands, g_strdup(cmd));
	g_mutex_unlock(&server.lock);
}

/* count - how many times the client sent cmd */
static inline int
count(const char *cmd)
{
	int n = 0;

	g_mutex_lock(&server.lock);
	for (guint i = 0; i < server.commands->len; i++)
		if (strcmp(server.commands->pdata[i], cmd) == 0)
			n++;
	g_mutex_unlock(&server.lock);
	return n;
}

static inline gboolean
sent(const char *cmd)
{
	return count(cmd) > 0;
}

/* serve - the server's thread: every connection to server.session */
static inline gpointer
serve(gpointer unused)
{
	for (;;) {
		int fd = accept(server.lfd, NULL, NULL);

		if (fd < 0)
			return NULL;
		server.session(fd);
		close(fd);
	}
}

static inline void
write_file(const char *path, const char *text, int mode)
{
	ck_assert(g_file_set_contents(path, text, -1, NULL));
	chmod(path, mode);
}

/* fixture_config - the configuration in dir: postroom.conf (state and run
 * directories in dir, then postroom_more), the group support, the secret
 * file "secret" and accounts/support.conf, which says account */
static inline struct config *
fixture_config(const char *postroom_more, const char *account)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *p = g_strdup_printf("[postroom]\nstate_dir = %s/state\nrun_dir = %s/run\n%s",
	    dir, dir, postroom_more);
	static const char *const subs[] = { "accounts", "groups" };
	static const char *const files[] = { "postroom.conf", "groups/support.conf", "secret",
	    "accounts/support.conf" };
	const char *texts[] = { p, "[group]\nname = Support\n", "hunter2\n", account };
	const int modes[] = { 0644, 0644, 0600, 0644 };
	struct config *cfg;

	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(dir, subs[i], NULL);

		g_mkdir_with_parents(sub, 0700);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(dir, files[i], NULL);

		write_file(path, texts[i], modes[i]);
	}
	cfg = config_load(dir, &err);
	ck_assert_msg(cfg != NULL, "%s", err ? err->message : "");
	return cfg;
}

/* fixture_state_path - the account's state file */
static inline char *
fixture_state_path(void)
{
	g_autofree char *sd = g_build_filename(dir, "state", NULL);

	return state_path(sd, "support");
}

/* fixture_setup - a directory named after template (..XXXXXX), the server
 * listening, with session speaking each connection, and the sockets */
static inline void
fixture_setup(const char *template, void (*session)(int fd))
{
	struct sockaddr_in a = { 0 };
	socklen_t alen = sizeof a;
	int on = 1;

	dir = g_dir_make_tmp(template, NULL);
	memset(&server, 0, sizeof server);
	g_mutex_init(&server.lock);
	server.commands = g_ptr_array_new_with_free_func(g_free);
	server.session = session;
	server.lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(server.lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(server.lfd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(server.lfd, 4), 0);
	getsockname(server.lfd, (struct sockaddr *)&a, &alen);
	server.port = ntohs(a.sin_port);
	server.thread = g_thread_new("fake-server", serve, NULL);

	ctx = zmq_ctx_new();
	pull = zsock_bind(ctx, ZMQ_PULL, "inproc://parsed", NULL);
	push = zsock_connect_all(ctx, ZMQ_PUSH, (char *[]){ "inproc://parsed", NULL }, TRUE, NULL);
	ck_assert_ptr_nonnull(pull);
	ck_assert_ptr_nonnull(push);
}

/* fixture_teardown - the sockets closed, the server stopped, the directory
 * removed */
static inline void
fixture_teardown(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	zsock_close(push);
	zsock_close(pull);
	zmq_ctx_term(ctx);
	shutdown(server.lfd, SHUT_RDWR);
	close(server.lfd);
	g_thread_join(server.thread);
	g_ptr_array_unref(server.commands);
	ck_assert_int_eq(system(cmd), 0);
	g_free(dir);
}

#endif
