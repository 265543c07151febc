/*
 * parsed - the MIME workers: raw.1 from fetchd in, parsed.1 to routed out.
 *
 *	parsed [-c DIR] [-i N]		bind the Nth [endpoints] parsed, work
 *	parsed [-c DIR] [-i N] --check-config
 *	parsed --dump [--pretty] FILE...	one JSON line per message file
 *					(--pretty: indented, for golden files)
 *
 * Stateless: any number may run, each on its own endpoint; one that dies
 * loses nothing (fetchd sends again what routed has not acknowledged).
 * SIGHUP re-reads the configuration (moving the sockets if their endpoints
 * changed); SIGTERM finishes the message in hand and exits 0.
 *
 * SECURITY: parsed reads mail from anyone, so it holds no secret, keeps no
 * state and writes no file; GMime and libxml2 parse, and everything they
 * return is treated as untrusted text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "log.h"
#include "parsed.h"
#include "wire.h"
#include "zsock.h"

#define POLL_MS		1000

struct daemon {
	char *dir;
	int index;
	struct config *cfg;
	void *ctx;
	void *pull;		/* from fetchd */
	void *push;		/* to routed */
	struct tap *tap;
	char *bound;		/* where pull is bound */
	char *connected;	/* where push is connected */
};

static void
usage(void)
{
	fprintf(stderr, "usage: parsed [-c DIR] [-i N] [--check-config]\n"
	    "       parsed --dump [--pretty] FILE...\n");
	exit(EX_USAGE);
}

/* dump - one JSON line per file, the record in the corpus schema */
static int
dump(int argc, char **argv, gboolean pretty)
{
	int status = 0;

	mime_init();
	for (int i = 0; i < argc; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GBytes) raw = NULL;
		g_autoptr(record) r = NULL;
		g_autofree char *line = NULL;
		char *data;
		gsize len;
		json_t *o;

		if (!g_file_get_contents(argv[i], &data, &len, &err)) {
			log_error("unable to read %s: %s", argv[i], err->message);
			status = EX_NOINPUT;
			continue;
		}
		raw = g_bytes_new_take(data, len);
		r = mime_parse(raw);
		o = json_object();
		{
			g_autofree char *file = g_utf8_make_valid(argv[i], -1);

			json_object_set_new(o, "file", json_string(file));
		}
		json_object_update_new(o, record_to_json(r));
		line = json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT);
		json_decref(o);
		printf("%s\n", line);
	}
	if (fflush(stdout) != 0)
		status = EX_IOERR;
	return status;
}

/* endpoint - this instance's endpoint in cfg, or NULL when -i is out of range */
static const char *
endpoint(const struct config *cfg, int index)
{
	for (int i = 0; cfg->parsed_endpoints && cfg->parsed_endpoints[i]; i++)
		if (i == index)
			return cfg->parsed_endpoints[i];
	return NULL;
}

/* reload - SIGHUP: the new configuration, the sockets moved where it says;
 * on any problem the old configuration stays */
static void
reload(struct daemon *d)
{
	g_autoptr(GError) err = NULL;
	struct config *c = config_load(d->dir, &err);
	const char *ep;

	if (!c) {
		log_error("unable to reload the configuration, keeping the old one: %s", err->message);
		return;
	}
	if ((ep = endpoint(c, d->index)) == NULL) {
		log_error("unable to reload the configuration, keeping the old one: "
		    "[endpoints] parsed has no entry %d", d->index);
		config_free(c);
		return;
	}
	if (strcmp(ep, d->bound) != 0) {
		if (zmq_bind(d->pull, ep) != 0) {
			log_error("unable to bind %s, keeping %s: %s", ep, d->bound, zmq_strerror(errno));
			config_free(c);
			return;
		}
		zmq_unbind(d->pull, d->bound);
		log_info("moved: from=%s to=%s", d->bound, ep);
		g_free(d->bound);
		d->bound = g_strdup(ep);
	}
	if (strcmp(c->routed_endpoint, d->connected) != 0) {
		if (zmq_connect(d->push, c->routed_endpoint) != 0) {
			log_error("unable to connect to %s, keeping %s: %s", c->routed_endpoint,
			    d->connected, zmq_strerror(errno));
		} else {
			zmq_disconnect(d->push, d->connected);
			log_info("routed moved: from=%s to=%s", d->connected, c->routed_endpoint);
			g_free(d->connected);
			d->connected = g_strdup(c->routed_endpoint);
		}
	}
	config_free(d->cfg);
	d->cfg = c;
	log_info("configuration reloaded");
}

static void
run(struct daemon *d)
{
	while (!sig_stop_requested()) {
		zmq_pollitem_t it = { d->pull, 0, ZMQ_POLLIN, 0 };
		int rc;

		if (sig_take_reload())
			reload(d);
		rc = zmq_poll(&it, 1, POLL_MS);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("unable to poll: %s", zmq_strerror(errno));
			break;
		}
		if (it.revents & ZMQ_POLLIN)
			parsed_handle(d->pull, d->push, d->tap, d->cfg);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check-config", no_argument, NULL, 'C' },
		{ "dump", no_argument, NULL, 'D' },
		{ "pretty", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon d = { .dir = CONFIG_DEFAULT_DIR };
	gboolean check = FALSE, dumping = FALSE, pretty = FALSE;
	g_autoptr(GError) err = NULL;
	g_autofree char *instance = NULL, *tap_ep = NULL;
	const char *ep;
	char *end;
	int opt;

	log_init("parsed", NULL);
	while ((opt = getopt_long(argc, argv, "c:i:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d.dir = optarg;
			break;
		case 'i':
			d.index = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || d.index < 0 || d.index > 999)
				usage();
			break;
		case 'C':
			check = TRUE;
			break;
		case 'D':
			dumping = TRUE;
			break;
		case 'P':
			pretty = TRUE;
			break;
		default:
			usage();
		}
	}
	if (dumping)
		return dump(argc - optind, argv + optind, pretty);
	if (pretty)
		usage();
	if (optind != argc)
		usage();

	instance = g_strdup_printf("%d", d.index);
	log_init("parsed", instance);
	d.cfg = config_load_or_exit(d.dir);
	if ((ep = endpoint(d.cfg, d.index)) == NULL) {
		log_error("-i %d: [endpoints] parsed in %s/postroom.conf has no entry %d", d.index,
		    d.dir, d.index);
		usage();
	}
	if (check) {
		printf("ok\n");
		config_free(d.cfg);
		return 0;
	}
	sig_init();
	mime_init();

	d.ctx = zmq_ctx_new();
	if (!d.ctx)
		log_fatal(EX_OSERR, "unable to make a ZeroMQ context: %s", zmq_strerror(errno));
	if ((d.pull = zsock_bind(d.ctx, ZMQ_PULL, ep, &err)) == NULL)
		log_fatal(EX_OSERR, "unable to listen for fetchd: %s", err->message);
	if ((d.push = zsock_connect(d.ctx, ZMQ_PUSH, d.cfg->routed_endpoint, NULL, &err)) == NULL)
		log_fatal(EX_OSERR, "unable to connect to routed: %s", err->message);
	d.bound = g_strdup(ep);
	d.connected = g_strdup(d.cfg->routed_endpoint);
	tap_ep = g_strdup_printf("parsed-%d", d.index);
	{
		g_autofree char *where = config_tap_endpoint(d.cfg, tap_ep);

		if ((d.tap = tap_new(d.ctx, where, &err)) == NULL)
			log_fatal(EX_OSERR, "unable to open the tap: %s", err->message);
	}
	log_info("started: listen=%s routed=%s", d.bound, d.connected);

	run(&d);

	zsock_close(d.pull);
	zsock_close(d.push);	/* lingers to deliver what is queued */
	tap_free(d.tap);
	zmq_ctx_term(d.ctx);
	config_free(d.cfg);
	g_free(d.bound);
	g_free(d.connected);
	log_info("stopped");
	return 0;
}
