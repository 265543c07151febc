/*
 * agentd - the state every thread shares: the configuration (swapped
 * whole on SIGHUP), the sessions, the tap, the stopping flag.
 */
#include "agentd.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "zsock.h"

G_DEFINE_QUARK(postroom-agentd-error, agentd_error)

/* cfg_wrap - a configuration as a shared, counted reference */
static struct agentd_cfg *
cfg_wrap(struct config *c)
{
	struct agentd_cfg *r = g_atomic_rc_box_new0(struct agentd_cfg);

	r->c = c;
	return r;
}

/* cfg_clear - free the configuration with its last reference */
static void
cfg_clear(gpointer p)
{
	struct agentd_cfg *r = p;

	config_free(r->c);
}

void
agentd_cfg_put(struct agentd_cfg *r)
{
	if (r)
		g_atomic_rc_box_release_full(r, cfg_clear);
}

struct agentd_cfg *
agentd_cfg_get(struct agentd *ad)
{
	struct agentd_cfg *r;

	g_mutex_lock(&ad->cfg_lock);
	r = g_atomic_rc_box_acquire(ad->cfg);
	g_mutex_unlock(&ad->cfg_lock);
	return r;
}

/* dummy_hash - a hash of a random password made the way postroom-passwd
 * makes them, so a login for an unknown agent costs what a real one does */
static char *
dummy_hash(void)
{
	g_autofree char *pw = session_token();
	struct crypt_data *data = g_new0(struct crypt_data, 1);
	char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	char *hash = NULL, *h;

	if (salt) {
		h = crypt_r(pw, salt, data);
		if (h && h[0] != '*')
			hash = g_strdup(h);
		free(salt);
	}
	g_free(data);
	if (!hash)
		log_fatal(EX_OSERR, "unable to make a yescrypt hash");
	return hash;
}

struct agentd *
agentd_new(void *zctx, const char *config_dir, struct config *cfg, struct tap *tap)
{
	struct agentd *ad = g_new0(struct agentd, 1);

	ad->zctx = zctx;
	ad->config_dir = g_strdup(config_dir);
	g_mutex_init(&ad->cfg_lock);
	ad->cfg = cfg_wrap(cfg);
	ad->sessions = sessions_new(cfg->session_idle);
	g_mutex_init(&ad->tap_lock);
	ad->tap = tap;
	ad->control_ms = AGENTD_CONTROL_MS;
	ad->dummy_hash = dummy_hash();
	return ad;
}

void
agentd_free(struct agentd *ad)
{
	if (!ad)
		return;
	agentd_cfg_put(ad->cfg);
	g_mutex_clear(&ad->cfg_lock);
	sessions_free(ad->sessions);
	g_mutex_clear(&ad->tap_lock);
	g_free(ad->config_dir);
	g_free(ad->dummy_hash);
	g_free(ad);
}

gboolean
agentd_reload(struct agentd *ad, GError **err)
{
	struct config *c = config_load(ad->config_dir, err);
	struct agentd_cfg *old;

	if (!c)
		return FALSE;
	g_mutex_lock(&ad->cfg_lock);
	old = ad->cfg;
	if (strcmp(old->c->agentd_listen, c->agentd_listen) != 0)
		log_warn("[agentd] listen changed to %s: restart agentd to listen there",
		    c->agentd_listen);
	ad->cfg = cfg_wrap(c);
	g_mutex_unlock(&ad->cfg_lock);
	sessions_set_idle(ad->sessions, c->session_idle);
	/* requests in flight keep the old one until they are done */
	agentd_cfg_put(old);
	return TRUE;
}

void
agentd_tap(struct agentd *ad, const char *type, json_t *meta)
{
	g_mutex_lock(&ad->tap_lock);
	tap_publish(ad->tap, type, meta);
	g_mutex_unlock(&ad->tap_lock);
	json_decref(meta);
}

gboolean
agentd_stopping(struct agentd *ad)
{
	return g_atomic_int_get(&ad->stopping) != 0;
}

void
agentd_stop(struct agentd *ad)
{
	g_atomic_int_set(&ad->stopping, 1);
}

void
agentd_sweep(struct agentd *ad)
{
	g_autoptr(GPtrArray) gone = sessions_expire(ad->sessions, sessions_now());
	g_autoptr(agentd_cfg) cfg = NULL;

	if (gone->len == 0)
		return;
	cfg = agentd_cfg_get(ad);
	for (guint i = 0; i < gone->len; i++) {
		const char *agent = gone->pdata[i];
		g_autoptr(GError) e = NULL;
		json_t *rep;

		log_info("session expired: agent=%s", agent);
		/* work the agent held goes back to its queue */
		rep = control_call(ad->zctx, cfg->c->control_endpoint, ad->control_ms, "logout",
		    agent, NULL, NULL, &e);
		if (!rep)
			log_warn("logout at routed failed: agent=%s: %s", agent, e->message);
		json_decref(rep);
	}
}
