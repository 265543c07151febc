/*
 * parsed-drive - both neighbours of parsed, for the benchmark and the
 * big-mail test: it PUSHes every FILE as raw.1 to the parsed instances of
 * DIR's [endpoints] parsed (round-robin, as fetchd does), PULLs the
 * parsed.1 records on [endpoints] routed (binding it, as routed does), and
 * says how long that took, from the first message sent to the last record
 * received.  Like fetchd, it keeps at most [fetchd] window messages (or -w
 * N) sent and not yet come back: a record received stands for routed's
 * ack.
 *
 *	parsed-drive -c DIR [-a ACCOUNT] [-w N] FILE...
 *
 * prints "messages=N bytes=B seconds=S records=R frames=F out=O cpu=C" on
 * stdout: F payload frames and O bytes (every frame) came back, and C is
 * the driver's own CPU time (user and system, all its threads) while the
 * clock ran; exit 0 when a record came back for every message,
 * 1 otherwise (after 120 s without one).  The files are read into memory
 * before the clock starts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "wire.h"
#include "zsock.h"

#define IDLE_LIMIT_MS	120000

/* cpu_now - this process's CPU time so far, user and system, in seconds */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* send_raw - file number uid as fetchd sends it; 0, or -1 (EAGAIN: not now) */
static int
send_raw(void *push, const char *account, guint uid, GBytes *raw)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autofree char *key = wire_key(account, 1, uid);
	json_t *meta = json_pack("{s:s, s:s, s:i, s:i, s:I, s:i}", "key", key, "account", account,
	    "uidvalidity", 1, "uid", (int)uid, "size", (json_int_t)g_bytes_get_size(raw),
	    "attempt", 1);
	int rc;

	g_ptr_array_add(parts, g_bytes_ref(raw));
	rc = wire_send(push, NULL, WIRE_RAW, meta, parts, ZMQ_DONTWAIT);
	json_decref(meta);
	return rc;
}

/* take - one parsed.1 record off pull, if one is waiting: its frames as they
 * come, the JSON unread (the driver's work should not be what is
 * measured); the number of frames, 0 when there was none (or not a
 * parsed.1) */
static guint
take(void *pull, guint64 *bytes)
{
	gboolean parsed = FALSE;
	guint n = 0;
	int more;

	do {
		zmq_msg_t f;

		zmq_msg_init(&f);
		if (zmq_msg_recv(&f, pull, n ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&f);
			return 0;
		}
		if (n == 0)
			parsed = zmq_msg_size(&f) == strlen(WIRE_PARSED) &&
			    memcmp(zmq_msg_data(&f), WIRE_PARSED, zmq_msg_size(&f)) == 0;
		more = zmq_msg_more(&f);
		*bytes += zmq_msg_size(&f);
		zmq_msg_close(&f);
		n++;
	} while (more);
	return parsed && n >= 2 ? n : 0;
}

int
main(int argc, char **argv)
{
	const char *dir = CONFIG_DEFAULT_DIR, *account = "bench";
	int window = 0;		/* 0: the configuration's */
	g_autoptr(GError) err = NULL;
	g_autoptr(config) cfg = NULL;
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	guint64 bytes = 0, frames = 0, out = 0;
	guint sent = 0, received = 0;
	gint64 start, last;
	double cpu_start, cpu_last = 0;
	void *ctx, *push, *pull;
	int opt;

	while ((opt = getopt(argc, argv, "c:a:w:")) != -1) {
		switch (opt) {
		case 'c':
			dir = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'w':
			window = atoi(optarg);
			if (window < 1) {
				fprintf(stderr, "parsed-drive: -w wants a number of messages, 1 or more\n");
				return 64;
			}
			break;
		default:
			fprintf(stderr, "usage: parsed-drive -c DIR [-a ACCOUNT] [-w N] FILE...\n");
			return 64;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "usage: parsed-drive -c DIR [-a ACCOUNT] [-w N] FILE...\n");
		return 64;
	}
	if ((cfg = config_load(dir, &err)) == NULL) {
		fprintf(stderr, "parsed-drive: %s\n", err->message);
		return 78;
	}
	if (window == 0)
		window = cfg->fetch_window;
	for (int i = optind; i < argc; i++) {
		char *data;
		gsize len;

		if (!g_file_get_contents(argv[i], &data, &len, &err)) {
			fprintf(stderr, "parsed-drive: %s\n", err->message);
			return 66;
		}
		g_ptr_array_add(files, g_bytes_new_take(data, len));
		bytes += len;
	}

	ctx = zmq_ctx_new();
	if ((pull = zsock_bind(ctx, ZMQ_PULL, cfg->routed_endpoint, &err)) == NULL ||
	    (push = zsock_connect_all(ctx, ZMQ_PUSH, cfg->parsed_endpoints, TRUE, &err)) == NULL) {
		fprintf(stderr, "parsed-drive: %s\n", err->message);
		return 71;
	}
	/* every parsed instance connected before the clock starts: the
	 * first POLLOUT says one is, a moment more lets the others finish */
	{
		zmq_pollitem_t it = { push, 0, ZMQ_POLLOUT, 0 };

		if (zmq_poll(&it, 1, 10000) != 1) {
			fprintf(stderr, "parsed-drive: no parsed instance to send to\n");
			return 1;
		}
		g_usleep(300 * 1000);
	}

	start = last = g_get_monotonic_time();
	cpu_start = cpu_now();
	while (received < files->len) {
		zmq_pollitem_t items[] = {
			{ pull, 0, ZMQ_POLLIN, 0 },
			{ push, 0, sent < files->len && sent - received < (guint)window ?
			    ZMQ_POLLOUT : 0, 0 },
		};

		if (zmq_poll(items, 2, 1000) < 0)
			break;
		/* as many as the window and the sockets take, then every record
		 * waiting: one poll for many messages */
		if (items[1].revents & ZMQ_POLLOUT)
			while (sent < files->len && sent - received < (guint)window &&
			    send_raw(push, account, sent + 1, files->pdata[sent]) == 0)
				sent++;
		if (items[0].revents & ZMQ_POLLIN) {
			guint n;

			while ((n = take(pull, &out)) > 0) {
				received++;
				frames += n - 2;	/* type, meta, then the payload */
				last = g_get_monotonic_time();
			}
			if (received == files->len)
				cpu_last = cpu_now();
		}
		if (g_get_monotonic_time() - last > (gint64)IDLE_LIMIT_MS * 1000)
			break;
	}
	if (cpu_last == 0)
		cpu_last = cpu_now();
	printf("messages=%u bytes=%" G_GUINT64_FORMAT " seconds=%.3f records=%u frames=%"
	    G_GUINT64_FORMAT " out=%" G_GUINT64_FORMAT " cpu=%.3f\n", files->len, bytes,
	    (double)(last - start) / G_USEC_PER_SEC, received, frames, out, cpu_last - cpu_start);
	zsock_close(push);
	zsock_close(pull);
	zmq_ctx_term(ctx);
	return received == files->len ? 0 : 1;
}
