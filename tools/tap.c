/*
 * postroom-tap - watch what the stages send, live, as JSON lines.
 *
 *	postroom-tap [-c DIR] [-f FIELD=VALUE]... [STAGE...]
 *
 * Every stage publishes the metadata of what it sends (never a body) on its
 * tap, ipc://RUN_DIR/tap/NAME.sock: fetchd-ACCOUNT, parsed-N, routed,
 * agentd.  With no STAGE, all of them; a STAGE names one tap or a prefix
 * ("fetchd" is every account's).  Taps that appear later are picked up.
 * Each line is the stage's metadata with "stage" and "type" added in front.
 * A slow terminal loses lines; the pipeline never waits for it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "log.h"
#include "wire.h"
#include "zsock.h"

#define RESCAN_MS 1000

struct watch {
	char *stage;
	void *sub;
};

static gboolean
wanted(const char *name, char **stages)
{
	if (!stages || !*stages)
		return TRUE;
	for (char **s = stages; *s; s++)
		if (g_str_has_prefix(name, *s))
			return TRUE;
	return FALSE;
}

/* scan - connect to every wanted tap not yet watched */
static void
scan(void *ctx, const char *dir, char **stages, GPtrArray *watches)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	if (!d)
		return;
	while ((n = g_dir_read_name(d)) != NULL) {
		g_autofree char *stage = NULL, *ep = NULL;
		g_autoptr(GError) err = NULL;
		struct watch *w;
		gboolean seen = FALSE;

		if (!g_str_has_suffix(n, ".sock"))
			continue;
		stage = g_strndup(n, strlen(n) - strlen(".sock"));
		if (!wanted(stage, stages))
			continue;
		for (guint i = 0; i < watches->len; i++)
			if (strcmp(((struct watch *)watches->pdata[i])->stage, stage) == 0)
				seen = TRUE;
		if (seen)
			continue;
		ep = g_strdup_printf("ipc://%s/%s", dir, n);
		w = g_new0(struct watch, 1);
		w->sub = zsock_connect(ctx, ZMQ_SUB, ep, "", &err);
		if (!w->sub) {
			log_warn("unable to watch %s: %s", stage, err->message);
			g_free(w);
			continue;
		}
		w->stage = g_steal_pointer(&stage);
		g_ptr_array_add(watches, w);
	}
}

static gboolean
matches(json_t *meta, GPtrArray *filters)
{
	for (guint i = 0; i < filters->len; i++) {
		char **kv = filters->pdata[i];
		json_t *v = json_object_get(meta, kv[0]);
		g_autofree char *text = NULL;

		if (!v)
			return FALSE;
		text = json_is_string(v) ? g_strdup(json_string_value(v)) :
		    json_dumps(v, JSON_ENCODE_ANY);
		if (strcmp(text, kv[1]) != 0)
			return FALSE;
	}
	return TRUE;
}

static void
usage(void)
{
	fprintf(stderr, "usage: postroom-tap [-c DIR] [-f FIELD=VALUE]... [STAGE...]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *dir = CONFIG_DEFAULT_DIR;
	g_autoptr(GPtrArray) filters = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_autoptr(GPtrArray) watches = g_ptr_array_new();
	g_autoptr(config) c = NULL;
	g_autofree char *tapdir = NULL;
	void *ctx;
	int opt;

	log_init("postroom-tap", NULL);
	while ((opt = getopt(argc, argv, "c:f:")) != -1) {
		switch (opt) {
		case 'c':
			dir = optarg;
			break;
		case 'f': {
			char **kv = g_strsplit(optarg, "=", 2);

			if (!kv[0] || !kv[1])
				usage();
			g_ptr_array_add(filters, kv);
			break;
		}
		default:
			usage();
		}
	}
	c = config_load_or_exit(dir);
	tapdir = g_build_filename(c->run_dir, "tap", NULL);
	sig_init();
	ctx = zmq_ctx_new();
	setvbuf(stdout, NULL, _IOLBF, 0);

	while (!sig_stop_requested()) {
		g_autofree zmq_pollitem_t *items = NULL;

		scan(ctx, tapdir, argv + optind, watches);
		items = g_new0(zmq_pollitem_t, watches->len ? watches->len : 1);
		for (guint i = 0; i < watches->len; i++) {
			items[i].socket = ((struct watch *)watches->pdata[i])->sub;
			items[i].events = ZMQ_POLLIN;
		}
		if (watches->len == 0) {
			usleep(RESCAN_MS * 1000);
			continue;
		}
		if (zmq_poll(items, watches->len, RESCAN_MS) < 0)
			continue;
		for (guint i = 0; i < watches->len; i++) {
			struct watch *w = watches->pdata[i];
			g_autoptr(wire_msg) m = NULL;
			g_autofree char *line = NULL;
			json_t *out;

			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			m = wire_recv(w->sub, FALSE, FALSE, ZMQ_DONTWAIT, NULL);
			if (!m || !matches(m->meta, filters))
				continue;
			out = json_pack("{s:s, s:s}", "stage", w->stage, "type", m->type);
			json_object_update(out, m->meta);
			line = json_dumps(out, JSON_COMPACT);
			json_decref(out);
			puts(line);
		}
	}
	for (guint i = 0; i < watches->len; i++) {
		struct watch *w = watches->pdata[i];

		zsock_close(w->sub);
		g_free(w->stage);
		g_free(w);
	}
	zmq_ctx_term(ctx);
	return 0;
}
