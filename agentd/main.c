/*
 * agentd - the agents' side: HTTP API, event stream and page, replies over
 * SMTP (docs/api.md).
 *
 *	agentd [-c DIR] [--check-config]
 *
 * The HTTP threads do the work; this loop only watches signals, ends idle
 * sessions and reloads the configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gmime/gmime.h>
#include <zmq.h>

#include "agentd.h"
#include "config.h"
#include "log.h"
#include "zsock.h"

#define TICK_MS		1000

/* usage - the command line, and exit 64 */
static void
usage(void)
{
	fprintf(stderr, "usage: agentd [-c DIR] [--check-config]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *dir = CONFIG_DEFAULT_DIR;
	gboolean check = FALSE;
	g_autoptr(GError) err = NULL;
	g_autofree char *tap_ep = NULL;
	struct config *cfg;
	struct agentd *ad;
	struct http *http;
	struct tap *tap;
	void *zctx;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--check-config") == 0)
			check = TRUE;
		else
			usage();
	}
	log_init("agentd", NULL);
	cfg = config_load_or_exit(dir);
	if (check) {
		config_free(cfg);
		puts("ok");
		return 0;
	}
	sig_init();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		log_fatal(EX_SOFTWARE, "unable to initialise libcurl");
	g_mime_init();

	zctx = zmq_ctx_new();
	if (!zctx)
		log_fatal(EX_OSERR, "unable to make a ZeroMQ context: %s", zmq_strerror(errno));
	tap_ep = config_tap_endpoint(cfg, AGENTD_TAP);
	tap = tap_new(zctx, tap_ep, &err);
	if (!tap)
		log_fatal(EX_OSERR, "unable to open the tap: %s", err->message);
	ad = agentd_new(zctx, dir, cfg, tap);
	http = http_start(ad, cfg->agentd_listen, &err);
	if (!http)
		log_fatal(EX_OSERR, "%s", err->message);
	log_info("started: listen=%s", cfg->agentd_listen);

	while (!sig_stop_requested()) {
		if (zmq_poll(NULL, 0, TICK_MS) < 0 && errno != EINTR)
			log_warn("poll: %s", zmq_strerror(errno));
		if (sig_take_reload()) {
			g_clear_error(&err);
			if (agentd_reload(ad, &err))
				log_info("configuration reloaded");
			else
				log_error("configuration not reloaded, keeping the old one: %s",
				    err->message);
		}
		agentd_sweep(ad);
	}

	log_info("stopping");
	agentd_stop(ad);
	http_stop(http);
	g_mutex_lock(&ad->tap_lock);
	tap_free(ad->tap);
	ad->tap = NULL;
	g_mutex_unlock(&ad->tap_lock);
	agentd_free(ad);
	zmq_ctx_term(zctx);
	g_mime_shutdown();
	curl_global_cleanup();
	log_info("stopped");
	return 0;
}
