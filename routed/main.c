/*
 * routed - store, thread, queue and assign the mail; answer agentd.
 *
 *	routed [-c DIR] [--check-config]
 *
 * One instance, the one place with durable state (STATE_DIR/postroom.db).
 * SIGHUP re-reads the configuration (the old one stays on error); SIGTERM
 * finishes the batch in hand, closes the database and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "routed.h"
#include "log.h"

#define POLL_MS	1000	/* signals are seen at least this often */

static void
usage(void)
{
	fprintf(stderr, "usage: routed [-c DIR] [--check-config]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check-config", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = CONFIG_DEFAULT_DIR;
	gboolean check = FALSE;
	g_autoptr(GError) err = NULL;
	struct config *cfg;
	struct routed *r;
	void *ctx;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			dir = optarg;
			break;
		case 'C':
			check = TRUE;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("routed", NULL);
	cfg = config_load_or_exit(dir);
	if (check) {
		config_free(cfg);
		printf("ok\n");
		return 0;
	}
	sig_init();
	ctx = zmq_ctx_new();
	if (!ctx)
		log_fatal(EX_OSERR, "unable to make a ZeroMQ context: %s", zmq_strerror(errno));
	r = routed_new(cfg, ctx, &err);
	if (!r)
		log_fatal(EX_OSERR, "unable to start: %s", err->message);
	log_info("started");

	while (!sig_stop_requested()) {
		zmq_pollitem_t items[] = {
			{ r->in, 0, ZMQ_POLLIN, 0 },
			{ r->control, 0, ZMQ_POLLIN, 0 },
		};

		if (sig_take_reload()) {
			g_autoptr(GError) e = NULL;
			struct config *fresh = config_load(dir, &e);

			if (!fresh) {
				log_error("keeping the old configuration: %s", e->message);
			} else {
				routed_reload(r, fresh);
				log_info("configuration reloaded");
			}
		}
		if (zmq_poll(items, G_N_ELEMENTS(items), POLL_MS) < 0) {
			if (errno == EINTR)
				continue;
			log_fatal(EX_OSERR, "poll: %s", zmq_strerror(errno));
		}
		/* each handler finishes what it took before the loop looks at signals */
		if (items[0].revents & ZMQ_POLLIN)
			routed_handle_input(r);
		if (items[1].revents & ZMQ_POLLIN)
			routed_handle_control(r);
	}

	routed_free(r);
	zmq_ctx_term(ctx);
	log_info("stopped");
	return 0;
}
