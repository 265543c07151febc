/*
 * fetchd - fetch one email account's new mail and hand it to parsed.
 *
 *	fetchd [-c DIR] [--check-config] ACCOUNT
 *	fetchd --check [--send-test ADDRESS] [-c DIR] ACCOUNT	(check.c)
 *
 * One process per account (DIR/accounts/ACCOUNT.conf).  Messages go to every
 * parsed endpoint (PUSH, round-robin over those that are up); routed's acks
 * come back on the acks endpoint (SUB, topic ACCOUNT); while the IMAP
 * session idles, its socket sits in the same zmq_poll, so new mail and acks
 * are both taken the moment they come.  An account fetchd cannot run safely
 * (tls = none without allow_plaintext) stops it with exit 78.  SIGHUP
 * re-reads the configuration and reconnects; SIGTERM waits up to five
 * seconds for outstanding acks, saves the state and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "fetchd.h"
#include "log.h"
#include "wire.h"
#include "zsock.h"

#define DRAIN_MS	5000
#define ACKS_PER_TURN	1000

struct sockets {
	void *push;
	void *acks;
	struct tap *tap;
};

/* usage - how to call fetchd; exit 64 */
static G_NORETURN void
usage(void)
{
	fprintf(stderr, "usage: fetchd [-c DIR] [--check-config] ACCOUNT\n"
	    "       fetchd --check [--send-test ADDRESS] [-c DIR] ACCOUNT\n");
	exit(EX_USAGE);
}

/* open_sockets - every socket of cfg, or FALSE with err */
static gboolean
open_sockets(void *ctx, const struct config *cfg, const char *account, struct sockets *s,
    GError **err)
{
	g_autofree char *tap = NULL, *name = g_strdup_printf("fetchd-%s", account);

	memset(s, 0, sizeof *s);
	s->push = zsock_connect_all(ctx, ZMQ_PUSH, cfg->parsed_endpoints, TRUE, err);
	if (!s->push)
		return FALSE;
	s->acks = zsock_connect(ctx, ZMQ_SUB, cfg->acks_endpoint, account, err);
	if (!s->acks)
		return FALSE;
	tap = config_tap_endpoint(cfg, name);
	s->tap = tap_new(ctx, tap, err);
	return s->tap != NULL;
}

/* close_sockets - every socket of s that is open */
static void
close_sockets(struct sockets *s)
{
	zsock_close(s->push);
	zsock_close(s->acks);
	tap_free(s->tap);
	memset(s, 0, sizeof *s);
}

/* same_list - two endpoint lists are equal */
static gboolean
same_list(char **a, char **b)
{
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return FALSE;
	return *a == NULL && *b == NULL;
}

/* reload - SIGHUP: the new configuration, or the old one kept.  Sockets
 * whose endpoints did not change are kept, with what they hold. */
static struct config *
reload(void *ctx, struct config *old, const char *dir, const char *account, struct fetch *f,
    struct sockets *s)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *name = g_strdup_printf("fetchd-%s", account);
	g_autofree char *tap = NULL;
	struct config *cfg = config_load(dir, &err);
	struct sockets n = { NULL, NULL, NULL };

	if (!cfg) {
		log_error("reload: %s; keeping the old configuration", err->message);
		return old;
	}
	if (!config_account(cfg, account)) {
		log_error("reload: no account %s in %s/accounts; keeping the old configuration",
		    account, dir);
		config_free(cfg);
		return old;
	}
	if (!fetch_account_ok(config_account(cfg, account), &err)) {
		log_error("reload: %s; keeping the old configuration", err->message);
		config_free(cfg);
		return old;
	}
	if (config_account(cfg, account)->proto != config_account(old, account)->proto) {
		log_error("reload: protocol changed to %s: restart fetchd for that (its state "
		    "file is the old protocol's); keeping the old configuration",
		    config_account(cfg, account)->protocol);
		config_free(cfg);
		return old;
	}
	fetch_account_warn(config_account(cfg, account));
	tap = config_tap_endpoint(cfg, name);
	if ((!same_list(cfg->parsed_endpoints, old->parsed_endpoints)
	    && !(n.push = zsock_connect_all(ctx, ZMQ_PUSH, cfg->parsed_endpoints, TRUE, &err)))
	    || (strcmp(cfg->acks_endpoint, old->acks_endpoint) != 0
	    && !(n.acks = zsock_connect(ctx, ZMQ_SUB, cfg->acks_endpoint, account, &err)))
	    || (strcmp(cfg->run_dir, old->run_dir) != 0 && !(n.tap = tap_new(ctx, tap, &err)))) {
		log_error("reload: %s; keeping the old configuration", err->message);
		close_sockets(&n);
		config_free(cfg);
		return old;
	}
	if (n.push) {
		zsock_close(s->push);
		s->push = n.push;
		fetch_set_push(f, s->push);
	}
	if (n.acks) {
		zsock_close(s->acks);
		s->acks = n.acks;
	}
	if (n.tap) {
		tap_free(s->tap);
		s->tap = n.tap;
		fetch_set_tap(f, s->tap);
	}
	fetch_configure(f, cfg);
	config_free(old);
	log_info("reloaded the configuration");
	return cfg;
}

/* take_acks - whatever acks have arrived */
static void
take_acks(void *sock, struct fetch *f)
{
	for (int i = 0; i < ACKS_PER_TURN; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(wire_msg) m = wire_recv(sock, TRUE, FALSE, ZMQ_DONTWAIT, &err);

		if (!m) {
			if (err) {
				log_warn("malformed ack: %s", err->message);
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				log_error("receiving acks: %s", zmq_strerror(errno));
			return;
		}
		fetch_ack(f, m);
	}
}

/* drain - stopping: wait a little for the acks of what is out */
static void
drain(void *sock, struct fetch *f)
{
	gint64 until = g_get_monotonic_time() + DRAIN_MS * 1000;
	guint before = fetch_outstanding(f);

	while (fetch_outstanding(f) > 0) {
		zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
		gint64 left = until - g_get_monotonic_time();

		if (left <= 0)
			break;
		if (zmq_poll(&it, 1, (long)MIN(left / 1000 + 1, 1000)) < 0 && errno != EINTR)
			break;
		take_acks(sock, f);
	}
	if (before)
		log_info("%u of %u outstanding message%s acknowledged while stopping", before
		    - fetch_outstanding(f), before, before == 1 ? "" : "s");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check-config", no_argument, NULL, 'C' },
		{ "check", no_argument, NULL, 'K' },
		{ "send-test", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = CONFIG_DEFAULT_DIR, *account;
	g_autoptr(GError) err = NULL;
	gboolean check_only = FALSE, check = FALSE;
	const char *send_test = NULL;
	struct config *cfg;
	struct sockets socks;
	struct fetch *f;
	void *ctx;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'C':
			check_only = TRUE;
			break;
		case 'K':
			check = TRUE;
			break;
		case 'S':
			send_test = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || (send_test && !check))
		usage();
	account = argv[optind];

	log_init("fetchd", account);
	cfg = config_load_or_exit(dir);
	if (!config_account(cfg, account))
		log_fatal(EX_CONFIG, "no account %s in %s/accounts", account, dir);
	if (check) {
		c = check_run(cfg, account, send_test, stdout);	/* no lock: beside the daemon */
		config_free(cfg);
		return c;
	}
	if (!fetch_account_ok(config_account(cfg, account), &err))
		log_fatal(EX_CONFIG, "%s", err->message);
	if (check_only) {
		printf("ok\n");
		config_free(cfg);
		return 0;
	}
	fetch_account_warn(config_account(cfg, account));
	sig_init();

	ctx = zmq_ctx_new();
	if (!open_sockets(ctx, cfg, account, &socks, &err))
		log_fatal(err->code == EINVAL || err->code == EPROTONOSUPPORT ? EX_CONFIG : EX_OSERR,
		    "%s", err->message);
	f = fetch_new(cfg, account, socks.push, socks.tap, sig_stop_requested, &err);
	if (!f)
		log_fatal(g_error_matches(err, STATE_ERROR, EWOULDBLOCK) ? EX_TEMPFAIL : EX_DATAERR,
		    "%s", err->message);
	fetch_set_zmq(f, ctx);
	log_info("started");

	while (!sig_stop_requested()) {
		/* the acks, and while idle the IMAP socket: mail and acks alike
		 * are taken the moment they come */
		zmq_pollitem_t it[2] = { { socks.acks, 0, ZMQ_POLLIN, 0 }, { NULL, -1, ZMQ_POLLIN, 0 } };
		int n = 1;

		if (sig_take_reload())
			cfg = reload(ctx, cfg, dir, account, f, &socks);
		fetch_run(f, g_get_monotonic_time());
		if (sig_stop_requested())
			break;
		if ((it[1].fd = fetch_poll_fd(f)) >= 0)
			n = 2;
		if (zmq_poll(it, n, fetch_wait_ms(f, g_get_monotonic_time())) < 0 && errno != EINTR)
			log_fatal(EX_SOFTWARE, "zmq_poll: %s", zmq_strerror(errno));
		take_acks(socks.acks, f);
		/* at most one write of the state file per turn, however many acks */
		fetch_save(f);
	}

	fetch_disconnect(f);
	drain(socks.acks, f);
	fetch_save(f);
	fetch_free(f);
	close_sockets(&socks);
	zmq_ctx_term(ctx);
	config_free(cfg);
	log_info("stopped");
	return 0;
}
