/*
 * fetch - one account: connect, notice new mail, fetch it within the window,
 * send it to parsed, take routed's acks, move and save the mark, and do
 * after_fetch to what routed has stored.
 *
 * IMAP.  The order of a check: NOOP on the connection kept from the last
 * check (so the server tells about new mail), list the uids above the
 * highest one known with their sizes, then fetch as many as the window has
 * room for, in one pipelined UID FETCH per turn of the loop so acks and
 * signals are seen between.  Listing with UID FETCH (UID RFC822.SIZE) rather
 * than UID SEARCH gives the sizes before the bodies (the byte budget and the
 * size limit are decided without downloading anything) and keeps every line
 * short however large the folder.  Once everything listed is fetched, a
 * server that offers IDLE is idled on: its socket is polled with the acks
 * (fetch_poll_fd), and "* N EXISTS" ends the IDLE and starts a check at
 * once; a catch-up check still comes every check_interval and the IDLE is
 * renewed every IDLE_RENEW.  after_fetch (seen, move, delete) needs the
 * folder SELECTed rather than EXAMINEd; bodies are still fetched with
 * BODY.PEEK[], and only uids routed has acknowledged are touched, in a batch
 * between checks, remembered in the state file until done.
 *
 * The first sync with backfill_days starts below the oldest message of the
 * last days (UID SEARCH SINCE); a changed UIDVALIDITY is matched by
 * Message-ID against what routed has (rematch.c), asking it over the
 * control endpoint.
 *
 * POP3.  A POP3 server shows the maildrop as it was at login, so each check
 * is one session: UIDL and LIST, RETR of what is new (UIDLs not yet
 * acknowledged), DELE of what routed has acknowledged (after_fetch =
 * delete), QUIT.  The window's uids are sequence numbers given to UIDLs in
 * this run; acks come by key (ACCOUNT/pop3/UIDL).  The state file keeps the
 * acknowledged UIDLs still on the server.
 *
 * Failures to connect or talk are logged once per cause and retried with
 * backoff (retry.c; a refused login backs off from a minute to an hour);
 * fetchd never exits for them.
 */
#include "fetchd.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

#define WANTED_MAX	10000		/* uids listed ahead of fetching */
#define UNSENT_RETRY_US	G_USEC_PER_SEC	/* when no parsed could take a message */
#define POP3_UV		1		/* the window's uidvalidity for POP3 (internal) */
#define POP3_LINGER_US	(10 * G_USEC_PER_SEC)	/* a POP3 session waits for acks to DELE */
#define CHECK_INTERVAL_LOW 60		/* below it, for a remote host: a warning */

struct fetch {
	char *account;
	const struct config *cfg;
	const struct config_account *acct;
	char *state_path;
	int lock_fd;
	char *saved;			/* the state file's text as last written */
	struct window *win;		/* NULL until the uidvalidity is known */
	void *push;
	struct tap *tap;
	void *zmq;			/* the context, to ask routed (rematch) */
	gboolean (*cancel)(void);

	/* IMAP */
	struct session *sess;
	gboolean reused;		/* the session has served a check already */
	gboolean fresh;			/* just out of IDLE: no NOOP needed */
	GArray *pending;		/* acknowledged uids, after_fetch to do, sorted */
	gint64 next_action;		/* after the server refused after_fetch */
	char *action_cause;		/* that refusal, as logged: NULL while it works */
	gint64 idle_since;
	gboolean news;			/* EXISTS while idling */

	/* POP3 */
	struct pop3 *pop;
	GHashTable *uidls;		/* acknowledged UIDLs (a set, strings owned) */
	GHashTable *seq_of;		/* UIDL -> window uid, this run (keys owned) */
	GHashTable *uidl_of;		/* window uid -> UIDL (seq_of's strings) */
	GHashTable *num_of;		/* UIDL -> message number, this session (keys owned) */
	GArray *dele;			/* message numbers to DELE in this session */
	guint32 next_seq;
	gint64 linger_until;

	struct retry retry;
	gint64 next_connect;
	gint64 next_check;
	gboolean halted;		/* the uidvalidity changed beyond matching */
	gboolean said_inactive;
	gboolean unreachable;		/* no parsed took the last message */
	gboolean save_failed;
};

static gboolean
is_pop3(const struct fetch *f)
{
	return f->acct->proto == PROTOCOL_POP3;
}

/* pending_add - uid acknowledged: after_fetch will be done to it */
static void
pending_add(struct fetch *f, guint32 uid)
{
	guint lo = 0, hi = f->pending->len;

	if (f->acct->after_fetch == AFTER_FETCH_KEEP || is_pop3(f))
		return;
	while (lo < hi) {
		guint mid = (lo + hi) / 2;
		guint32 v = g_array_index(f->pending, guint32, mid);

		if (v == uid)
			return;
		if (v < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	g_array_insert_val(f->pending, lo, uid);
}

gboolean
fetch_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || g_str_has_prefix(host, "127.")
	    || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0;
}

gboolean
fetch_account_ok(const struct config_account *a, GError **err)
{
	if (a->tls == TLS_NONE && !a->allow_plaintext) {
		g_set_error(err, STATE_ERROR, EPERM, "%s: [account] tls: none would send the %s to %s "
		    "in the clear: use tls = starttls or implicit, or set allow_plaintext = yes", a->file,
		    *a->oauth2_token_command ? "token" : "password", a->host);
		return FALSE;
	}
	return TRUE;
}

void
fetch_account_warn(const struct config_account *a)
{
	if (a->tls != TLS_NONE && !a->tls_verify)
		log_warn("tls_verify = no: the certificate of %s is not checked; anyone in between "
		    "can read the password and the mail", a->host);
	if (a->check_interval < CHECK_INTERVAL_LOW && !fetch_loopback(a->host))
		log_warn("check_interval = %d: providers may throttle or lock an account checked more "
		    "often than every %ds%s", a->check_interval, CHECK_INTERVAL_LOW,
		    a->proto == PROTOCOL_IMAP && a->idle ? " (IDLE brings new mail at once anyway)" : "");
}

/* by_string - order of a GPtrArray of strings */
static gint
by_string(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* current - the state as it stands (arrays borrowed or new: state_clear()) */
static void
current(const struct fetch *f, struct state *st)
{
	memset(st, 0, sizeof *st);
	if (is_pop3(f)) {
		GHashTableIter it;
		gpointer k;

		st->uidls = g_ptr_array_new();
		g_hash_table_iter_init(&it, f->uidls);
		while (g_hash_table_iter_next(&it, &k, NULL))
			g_ptr_array_add(st->uidls, k);
		g_ptr_array_sort(st->uidls, by_string);
		return;
	}
	st->uidvalidity = window_uidvalidity(f->win);
	st->uid = window_mark(f->win);
	st->acked = window_acked_above(f->win);
	st->pending = g_array_ref(f->pending);
}

struct fetch *
fetch_new(const struct config *cfg, const char *account, void *push, struct tap *tap,
    gboolean (*cancel)(void), GError **err)
{
	struct fetch *f = g_new0(struct fetch, 1);
	struct state st;

	f->account = g_strdup(account);
	f->cfg = cfg;
	f->acct = config_account(cfg, account);
	g_assert(f->acct != NULL);
	f->push = push;
	f->tap = tap;
	f->cancel = cancel;
	f->pending = g_array_new(FALSE, FALSE, sizeof(guint32));
	f->uidls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->seq_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->uidl_of = g_hash_table_new(g_direct_hash, g_direct_equal);
	f->num_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->dele = g_array_new(FALSE, FALSE, sizeof(guint));
	f->state_path = state_path(cfg->state_dir, account);
	f->lock_fd = state_lock(f->state_path, err);
	if (f->lock_fd < 0 || !state_load(f->state_path, &st, err)) {
		fetch_free(f);
		return NULL;
	}
	if (is_pop3(f) ? st.uidvalidity != 0 : st.uidls != NULL) {
		g_set_error(err, STATE_ERROR, EINVAL, "%s is the state of %s account, and %s is %s "
		    "now: remove the file to start afresh", f->state_path, is_pop3(f) ? "an IMAP" :
		    "a POP3", account, f->acct->protocol);
		state_clear(&st);
		fetch_free(f);
		return NULL;
	}
	f->saved = st.uidvalidity || st.uidls ? state_format(&st) : NULL;
	if (is_pop3(f)) {
		f->win = window_new(POP3_UV, 0);
		for (guint i = 0; st.uidls && i < st.uidls->len; i++)
			g_hash_table_add(f->uidls, g_strdup(st.uidls->pdata[i]));
	} else if (st.uidvalidity) {
		f->win = window_new(st.uidvalidity, st.uid);
		for (guint i = 0; st.acked && i < st.acked->len; i++)
			window_predone(f->win, g_array_index(st.acked, guint32, i));
		if (st.pending && f->acct->after_fetch != AFTER_FETCH_KEEP)
			g_array_append_vals(f->pending, st.pending->data, st.pending->len);
	}
	state_clear(&st);
	return f;
}

void
fetch_free(struct fetch *f)
{
	if (!f)
		return;
	fetch_disconnect(f);
	window_free(f->win);
	if (f->lock_fd >= 0)
		close(f->lock_fd);
	g_array_unref(f->pending);
	g_hash_table_unref(f->uidls);
	g_hash_table_unref(f->uidl_of);
	g_hash_table_unref(f->seq_of);
	g_hash_table_unref(f->num_of);
	g_array_unref(f->dele);
	g_free(f->retry.cause);
	g_free(f->action_cause);
	g_free(f->saved);
	g_free(f->state_path);
	g_free(f->account);
	g_free(f);
}

void
fetch_disconnect(struct fetch *f)
{
	if (f->sess) {
		session_close(f->sess);
		f->sess = NULL;
	}
	if (f->pop) {
		/* a QUIT here would delete what was DELEted: only acknowledged mail */
		pop3_close(f->pop);
		f->pop = NULL;
	}
	g_hash_table_remove_all(f->num_of);
	g_array_set_size(f->dele, 0);
	f->news = FALSE;
}

struct window *
fetch_window(struct fetch *f)
{
	return f->win;
}

void
fetch_set_push(struct fetch *f, void *push)
{
	f->push = push;
}

void
fetch_set_tap(struct fetch *f, struct tap *tap)
{
	f->tap = tap;
}

void
fetch_set_zmq(struct fetch *f, void *ctx)
{
	f->zmq = ctx;
}

guint
fetch_outstanding(const struct fetch *f)
{
	return f->win ? window_held(f->win) : 0;
}

guint
fetch_pending(const struct fetch *f)
{
	return f->pending->len;
}

void
fetch_configure(struct fetch *f, const struct config *cfg)
{
	f->cfg = cfg;
	f->acct = config_account(cfg, f->account);
	g_assert(f->acct != NULL);
	fetch_disconnect(f);
	retry_reset(&f->retry);
	f->next_connect = f->next_check = f->next_action = 0;
	g_clear_pointer(&f->action_cause, g_free);
	f->said_inactive = FALSE;
	if (f->acct->after_fetch == AFTER_FETCH_KEEP)
		g_array_set_size(f->pending, 0);
	if (f->halted) {
		g_autoptr(GError) e = NULL;
		struct state st;

		/* the operator may have removed the state file to start over */
		if (!state_load(f->state_path, &st, &e)) {
			log_error("%s", e->message);
			return;
		}
		g_clear_pointer(&f->saved, g_free);
		f->saved = st.uidvalidity ? state_format(&st) : NULL;
		window_free(f->win);
		f->win = st.uidvalidity ? window_new(st.uidvalidity, st.uid) : NULL;
		for (guint i = 0; f->win && st.acked && i < st.acked->len; i++)
			window_predone(f->win, g_array_index(st.acked, guint32, i));
		g_array_set_size(f->pending, 0);
		state_clear(&st);
		f->halted = FALSE;
	}
}

gboolean
fetch_save(struct fetch *f)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *text = NULL;
	struct state st;
	gboolean ok;

	if (!f->win || f->halted)
		return TRUE;
	current(f, &st);
	text = state_format(&st);
	if (g_strcmp0(text, f->saved) == 0) {
		state_clear(&st);
		return TRUE;
	}
	ok = state_save(f->state_path, &st, &e);
	state_clear(&st);
	if (!ok) {
		if (!f->save_failed)
			log_error("unable to save the state: %s", e->message);
		f->save_failed = TRUE;
		return FALSE;
	}
	if (f->save_failed)
		log_info("saved the state again: %s", f->state_path);
	f->save_failed = FALSE;
	g_free(f->saved);
	f->saved = g_steal_pointer(&text);
	return TRUE;
}

/* halt - the folder cannot be followed without guessing */
static void
halt(struct fetch *f)
{
	f->halted = TRUE;
	fetch_disconnect(f);
}

void
fetch_begin(struct fetch *f, guint32 uidvalidity)
{
	/* the window's, when there is one: the state file may not be saved yet */
	guint32 known = f->win ? window_uidvalidity(f->win) : 0;

	if (known == 0) {
		/* the first run: the whole folder is new */
		f->win = window_new(uidvalidity, 0);
		fetch_save(f);
		return;
	}
	if (known != uidvalidity) {
		log_error("uidvalidity of %s changed from %" G_GUINT32_FORMAT " to %" G_GUINT32_FORMAT
		    ": refusing to guess which messages are new; remove %s to fetch the folder again",
		    f->acct->folder, known, uidvalidity, f->state_path);
		halt(f);
	}
}

/* send_entry - one held message to parsed, and its metadata to the tap */
static void
send_entry(struct fetch *f, struct window_entry *e, gint64 now)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	g_autofree char *key = NULL;
	json_t *meta;

	if (is_pop3(f)) {
		const char *uidl = g_hash_table_lookup(f->uidl_of, GUINT_TO_POINTER(e->uid));

		g_assert(uidl != NULL);
		key = fetch_pop3_key(f->account, uidl);
		meta = json_pack("{s:s, s:s, s:s, s:I, s:i}", "key", key, "account", f->account,
		    "uidl", uidl, "size", (json_int_t)e->size, "attempt", e->attempt + 1);
	} else {
		key = wire_key(f->account, window_uidvalidity(f->win), e->uid);
		meta = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i}", "key", key, "account", f->account,
		    "uidvalidity", (json_int_t)window_uidvalidity(f->win), "uid", (json_int_t)e->uid,
		    "size", (json_int_t)e->size, "attempt", e->attempt + 1);
	}
	g_assert(meta != NULL);
	g_ptr_array_add(parts, e->raw);
	if (wire_send(f->push, NULL, WIRE_RAW, meta, parts, ZMQ_DONTWAIT) == 0) {
		tap_publish(f->tap, WIRE_RAW, meta);
		window_sent(f->win, e, now, (gint64)f->cfg->resend_timeout * G_USEC_PER_SEC);
		if (f->unreachable)
			log_info("parsed takes messages again");
		f->unreachable = FALSE;
	} else {
		if (!f->unreachable)
			log_warn("no parsed takes messages (%s): holding them until one does",
			    errno == EAGAIN ? "none connected" : zmq_strerror(errno));
		f->unreachable = TRUE;
		window_unsent(f->win, e, now, UNSENT_RETRY_US);
	}
	json_decref(meta);
}

char *
fetch_pop3_key(const char *account, const char *uidl)
{
	return g_strdup_printf("%s/pop3/%s", account, uidl);
}

void
fetch_deliver(struct fetch *f, guint32 uid, GBytes *raw, gint64 now)
{
	struct window_entry *e = f->win ? window_hold(f->win, uid, raw, now) : NULL;

	if (e)
		send_entry(f, e, now);
	g_bytes_unref(raw);
}

/* on_body - session_fetch() brought a message */
static void
on_body(guint32 uid, GBytes *body, void *data)
{
	struct fetch *f = data;

	fetch_deliver(f, uid, body, g_get_monotonic_time());
}

/* resend - what is due again: never sent yet, or not acknowledged in time */
static void
resend(struct fetch *f, gint64 now)
{
	g_autoptr(GPtrArray) due = NULL;
	guint again = 0;
	guint32 first = 0, last = 0;

	if (!f->win || window_next_due(f->win) > now)
		return;
	due = window_due(f->win, now);
	for (guint i = 0; i < due->len; i++) {
		struct window_entry *e = due->pdata[i];

		if (e->attempt > 0) {
			if (again++ == 0)
				first = e->uid;
			last = e->uid;
		}
		send_entry(f, e, now);
		if (f->unreachable)
			break;
	}
	if (is_pop3(f) && again) {
		log_warn("resending %u message%s: not acknowledged within %ds", again,
		    again == 1 ? "" : "s", f->cfg->resend_timeout);
		return;
	}
	if (again == 1)
		log_warn("resending uid %" G_GUINT32_FORMAT ": not acknowledged within %ds", first,
		    f->cfg->resend_timeout);
	else if (again > 1)
		log_warn("resending %u messages (uid %" G_GUINT32_FORMAT " to %" G_GUINT32_FORMAT
		    "): not acknowledged within %ds", again, first, last, f->cfg->resend_timeout);
}

/* failed - the connection or a command failed: drop it, retry later */
static void
failed(struct fetch *f, gint64 now, const GError *e)
{
	gboolean changed;
	int delay;

	fetch_disconnect(f);
	if (g_error_matches(e, SESSION_ERROR, SESSION_CANCELLED))
		return;
	if (g_error_matches(e, SESSION_ERROR, SESSION_AUTH)) {
		delay = retry_auth_failed(&f->retry, e->message, &changed);
		if (changed)
			log_error("%s; retrying in %ds, doubling up to %ds", e->message, delay,
			    RETRY_AUTH_MAX);
	} else {
		delay = retry_failed(&f->retry, e->message, &changed);
		if (changed)
			log_error("%s; retrying in %ds, then less often", e->message, delay);
	}
	f->next_connect = now + (gint64)delay * G_USEC_PER_SEC;
}

/* lost - a kept connection went away (servers close idle ones): come back */
static void
lost(struct fetch *f, gint64 now, const GError *e)
{
	if (g_error_matches(e, SESSION_ERROR, SESSION_CLOSED)
	    || g_error_matches(e, SESSION_ERROR, SESSION_TIMEOUT)) {
		log_info("%s; reconnecting", e->message);
		fetch_disconnect(f);
		f->next_connect = now;
		return;
	}
	failed(f, now, e);
}

/* login_opts - the options of a session (IMAP or POP3) that logs in with
 * the account's secret; the secret, to secret_free() once the session is
 * open, or NULL after failed() */
static char *
login_opts(struct fetch *f, gint64 now, struct session_opts *o)
{
	g_autoptr(GError) e = NULL;
	char *s = account_secret(f->acct, SECRET_MAILBOX, &e);

	if (!s) {
		g_autoptr(GError) why = g_error_new(SESSION_ERROR, SESSION_CONNECT, "%s", e->message);

		failed(f, now, why);
		return NULL;
	}
	memset(o, 0, sizeof *o);
	o->account = f->acct;
	o->password = s;
	o->timeout = f->cfg->net_timeout;
	o->cancel = f->cancel;
	return s;
}

/* ---- IMAP: the first sync, and a changed UIDVALIDITY ---------------------------- */

/* backfill_mark - the first sync's mark with backfill_days: just below the
 * oldest message of the last days; 0 with err on failure */
static gboolean
backfill_mark(struct fetch *f, const struct session_folder *fi, guint32 *mark, GError **err)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autoptr(GDateTime) since = g_date_time_add_days(now, -f->acct->backfill_days);
	g_autoptr(GArray) found = session_search_since(f->sess, since, err);
	g_autofree char *day = NULL;

	if (!found)
		return FALSE;
	day = imap_search_date(since);
	if (found->len > 0) {
		*mark = g_array_index(found, guint32, 0) - 1;
	} else if (fi->uidnext > 0) {
		*mark = fi->uidnext - 1;
	} else {
		g_autoptr(GArray) all = session_list(f->sess, 0, err);

		if (!all)
			return FALSE;
		*mark = all->len ? g_array_index(all, struct session_msg, all->len - 1).uid : 0;
	}
	log_info("first sync of %s: backfill_days = %d takes the %u message%s since %s "
	    "(uid above %" G_GUINT32_FORMAT ")", f->acct->folder, f->acct->backfill_days, found->len,
	    found->len == 1 ? "" : "s", day, *mark);
	return TRUE;
}

/* routed_ids - the Message-IDs routed has stored for the account (a set) */
static GHashTable *
routed_ids(struct fetch *f, GError **err)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(wire_msg) rep = NULL;
	json_t *req, *ids, *v;
	gint64 until;
	size_t i;
	void *sock;

	if (!f->zmq) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "unable to ask routed: no context");
		return NULL;
	}
	sock = zsock_connect(f->zmq, ZMQ_REQ, f->cfg->control_endpoint, NULL, err);
	if (!sock)
		return NULL;
	req = json_pack("{s:s, s:s}", "op", "message_ids", "account", f->account);
	if (wire_send(sock, NULL, WIRE_REQ, req, NULL, 0) != 0) {
		g_set_error(err, SESSION_ERROR, SESSION_CONNECT, "unable to ask routed (%s): %s",
		    f->cfg->control_endpoint, zmq_strerror(errno));
		json_decref(req);
		zsock_close(sock);
		return NULL;
	}
	json_decref(req);
	until = g_get_monotonic_time() + (gint64)f->cfg->net_timeout * G_USEC_PER_SEC;
	while (!rep) {
		zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
		gint64 left = until - g_get_monotonic_time();

		if (left <= 0 || (f->cancel && f->cancel())) {
			g_set_error(err, SESSION_ERROR, left <= 0 ? SESSION_TIMEOUT : SESSION_CANCELLED,
			    "routed did not say which Message-IDs it has within %ds (is it running? "
			    "control = %s)", f->cfg->net_timeout, f->cfg->control_endpoint);
			zsock_close(sock);
			return NULL;
		}
		if (zmq_poll(&it, 1, (long)MIN(left / 1000 + 1, 1000)) > 0)
			rep = wire_recv(sock, FALSE, FALSE, ZMQ_DONTWAIT, NULL);
	}
	zsock_close(sock);
	ids = json_object_get(rep->meta, "message_ids");
	if (strcmp(rep->type, WIRE_REP) != 0 || !json_is_true(json_object_get(rep->meta, "ok"))
	    || !json_is_array(ids)) {
		g_set_error(err, SESSION_ERROR, SESSION_REFUSED, "routed refused the Message-IDs: %s",
		    wire_meta_str(rep, "message") ? wire_meta_str(rep, "message") : "no reason");
		return NULL;
	}
	json_array_foreach(ids, i, v)
		if (json_is_string(v))
			g_hash_table_add(set, g_strdup(json_string_value(v)));
	return g_steal_pointer(&set);
}

/* rematch - the UIDVALIDITY changed: match by Message-ID, or halt */
static gboolean
rematch(struct fetch *f, guint32 known, guint32 uidvalidity, GError **err)
{
	g_autoptr(GArray) ids = session_message_ids(f->sess, err);
	g_autoptr(GHashTable) have = NULL;
	g_autofree guint32 *uids = NULL;
	g_autofree gboolean *matched = NULL;
	struct rematch plan;

	if (!ids || !(have = routed_ids(f, err)))
		return FALSE;
	uids = g_new(guint32, ids->len + 1);
	matched = g_new(gboolean, ids->len + 1);
	for (guint i = 0; i < ids->len; i++) {
		const struct session_msgid *m = &g_array_index(ids, struct session_msgid, i);

		uids[i] = m->uid;
		matched[i] = m->message_id && g_hash_table_contains(have, m->message_id);
	}
	rematch_plan(uids, matched, ids->len, f->acct->after_fetch != AFTER_FETCH_MOVE
	    && f->acct->after_fetch != AFTER_FETCH_DELETE, &plan);
	if (plan.refuse) {
		log_error("uidvalidity of %s changed from %" G_GUINT32_FORMAT " to %" G_GUINT32_FORMAT
		    ": only %u of its %u messages have a Message-ID routed has: refusing to guess "
		    "which are new; remove %s to fetch the folder again", f->acct->folder, known,
		    uidvalidity, plan.matched, plan.total, f->state_path);
		rematch_clear(&plan);
		halt(f);
		return TRUE;
	}
	log_warn("uidvalidity of %s changed from %" G_GUINT32_FORMAT " to %" G_GUINT32_FORMAT
	    ": %u of its %u messages matched by Message-ID; fetching the other %u", f->acct->folder,
	    known, uidvalidity, plan.matched, plan.total, plan.total - plan.matched);
	window_free(f->win);
	f->win = window_new(uidvalidity, plan.mark);
	g_array_set_size(f->pending, 0);
	for (guint i = 0; i < ids->len; i++) {
		if (!matched[i])
			continue;
		if (uids[i] > plan.mark)
			window_predone(f->win, uids[i]);
		pending_add(f, uids[i]);
	}
	rematch_clear(&plan);
	fetch_save(f);
	return TRUE;
}

/* begin - the folder is open: start, go on, backfill or rematch */
static gboolean
begin(struct fetch *f, const struct session_folder *fi, GError **err)
{
	guint32 known = f->win ? window_uidvalidity(f->win) : 0;

	if (known == 0 && f->acct->backfill_days > 0) {
		guint32 mark = 0;

		if (!backfill_mark(f, fi, &mark, err))
			return FALSE;
		f->win = window_new(fi->uidvalidity, mark);
		fetch_save(f);
		return TRUE;
	}
	if (known != 0 && known != fi->uidvalidity)
		return rematch(f, known, fi->uidvalidity, err);
	fetch_begin(f, fi->uidvalidity);
	return TRUE;
}

/* ---- IMAP: the session ------------------------------------------------------------ */

/* connect_account - log in, open the folder, check its uidvalidity */
static gboolean
connect_account(struct fetch *f, gint64 now)
{
	const struct config_account *a = f->acct;
	g_autoptr(GError) e = NULL;
	struct session_opts o;
	struct session_folder fi;
	char *password;

	if (!(password = login_opts(f, now, &o)))
		return FALSE;
	f->sess = session_open(&o, &e);
	secret_free(password);
	if (!f->sess) {
		failed(f, now, e);
		return FALSE;
	}
	if (!session_select(f->sess, a->folder, a->after_fetch != AFTER_FETCH_KEEP, &fi, &e)
	    || !begin(f, &fi, &e)) {
		failed(f, now, e);
		return FALSE;
	}
	if (f->halted)
		return FALSE;
	if (retry_connected(&f->retry))
		log_info("connected to %s:%d, %s has %" G_GUINT32_FORMAT " message%s%s", a->host,
		    a->port, a->folder, fi.exists, fi.exists == 1 ? "" : "s",
		    !a->idle ? "" : session_has(f->sess, "IDLE") ? "; new mail by IDLE" :
		    "; no IDLE, polling");
	f->reused = FALSE;
	f->fresh = FALSE;
	f->next_check = now;
	return TRUE;
}

/* listed - what the server listed above the top: into the window */
static void
listed(struct fetch *f, gint64 now, GArray *list)
{
	guint added = 0;
	gboolean truncated = FALSE;

	f->reused = TRUE;
	f->fresh = FALSE;
	for (guint i = 0; i < list->len; i++) {
		const struct session_msg *m = &g_array_index(list, struct session_msg, i);

		if (window_wanted(f->win) >= WANTED_MAX) {
			truncated = TRUE;
			break;
		}
		if (!window_want(f->win, m->uid, m->size))
			continue;
		added++;
		if (m->size > IMAP_LITERAL_MAX) {
			log_error("uid %" G_GUINT32_FORMAT " of %s is %" G_GUINT64_FORMAT " bytes, over "
			    "the limit of %" G_GUINT64_FORMAT ": skipped", m->uid, f->acct->folder, m->size,
			    IMAP_LITERAL_MAX);
			window_skip(f->win, m->uid);
		}
	}
	if (added)
		log_info("%u new message%s in %s%s", added, added == 1 ? "" : "s", f->acct->folder,
		    truncated ? " (and more, listed later)" : "");
	/* a long list is taken in parts: the next part as soon as this one is done */
	f->next_check = truncated ? now : now + (gint64)f->acct->check_interval * G_USEC_PER_SEC;
	retry_healthy(&f->retry);
}

/* check - ask the server what is new and add it to the window */
static void
check(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GArray) list = NULL;

	if (f->reused && !f->fresh && !session_noop(f->sess, &e)) {
		lost(f, now, e);
		return;
	}
	list = session_list(f->sess, window_top(f->win), &e);
	if (!list) {
		failed(f, now, e);
		return;
	}
	listed(f, now, list);
}

/* room - how many more messages the window takes */
static guint
room(const struct fetch *f)
{
	guint held = window_held(f->win);

	return held < (guint)f->cfg->fetch_window ? (guint)f->cfg->fetch_window - held : 0;
}

/* missing - what a successful UID FETCH did not bring: gone from the folder
 * (skipped), or still there (the server misbehaves: try again later).  Only
 * the server's word that a uid no longer exists lets the mark pass it. */
static void
missing(struct fetch *f, const guint32 *uids, guint n)
{
	g_autoptr(GArray) lost_ = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_autoptr(GArray) present = NULL;
	g_autoptr(GError) e = NULL;
	guint32 stuck = 0;

	for (guint i = 0; i < n; i++)
		if (window_is_wanted(f->win, uids[i]))
			g_array_append_val(lost_, uids[i]);
	if (lost_->len == 0)
		return;
	present = session_present(f->sess, (const guint32 *)lost_->data, lost_->len, &e);
	if (!present) {
		failed(f, g_get_monotonic_time(), e);
		return;
	}
	for (guint i = 0, j = 0; i < lost_->len; i++) {
		guint32 uid = g_array_index(lost_, guint32, i);

		while (j < present->len && g_array_index(present, struct session_msg, j).uid < uid)
			j++;
		if (j < present->len && g_array_index(present, struct session_msg, j).uid == uid) {
			if (!stuck)
				stuck = uid;
			continue;
		}
		log_warn("uid %" G_GUINT32_FORMAT " of %s went away before it could be fetched "
		    "(expunged?): skipped", uid, f->acct->folder);
		window_skip(f->win, uid);
	}
	if (stuck) {
		g_autoptr(GError) why = g_error_new(SESSION_ERROR, SESSION_PROTOCOL,
		    "%s:%d sent no body for uid %" G_GUINT32_FORMAT " of %s, which exists",
		    f->acct->host, f->acct->port, stuck, f->acct->folder);

		failed(f, g_get_monotonic_time(), why);
	}
}

/* fetch_batch - one pipelined UID FETCH of what the window has room for */
static void
fetch_batch(struct fetch *f)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GArray) batch = window_batch(f->win, room(f));
	guint asked;

	if (batch->len == 0)
		return;
	if (!session_fetch(f->sess, (const guint32 *)batch->data, batch->len, on_body, f, &asked,
	    &e)) {
		failed(f, g_get_monotonic_time(), e);
		return;
	}
	missing(f, (const guint32 *)batch->data, asked);
}

/* actions_due - after_fetch waits and may be tried now */
static gboolean
actions_due(const struct fetch *f, gint64 now)
{
	return f->pending->len > 0 && now >= f->next_action;
}

/* actions - after_fetch for what routed has acknowledged.  A refusal (a
 * move target that does not exist, a read-only folder) is said once and
 * tried again at the next check, while new mail goes on being fetched. */
static void
actions(struct fetch *f, gint64 now)
{
	static const char *const done_words[] = {
		[AFTER_FETCH_KEEP] = "kept", [AFTER_FETCH_SEEN] = "marked seen",
		[AFTER_FETCH_MOVE] = "moved", [AFTER_FETCH_DELETE] = "deleted",
	};
	g_autoptr(GError) e = NULL;
	guint done = 0, n = f->pending->len;
	gboolean ok;

	if (!actions_due(f, now))
		return;
	ok = session_after_fetch(f->sess, f->acct, (const guint32 *)f->pending->data, n, &done, &e);
	g_array_remove_range(f->pending, 0, done);
	if (done)
		log_info("after_fetch: %u message%s %s%s%s", done, done == 1 ? "" : "s",
		    done_words[f->acct->after_fetch], f->acct->after_fetch == AFTER_FETCH_MOVE ? " to " :
		    "", f->acct->after_fetch_folder);
	if (ok) {
		if (f->action_cause)
			log_info("after_fetch works again");
		g_clear_pointer(&f->action_cause, g_free);
		return;
	}
	if (!g_error_matches(e, SESSION_ERROR, SESSION_REFUSED)) {
		failed(f, now, e);	/* the connection: as any other failure */
		return;
	}
	/* said when it starts failing, not at every try: the server's words
	 * change with the uids and its timings */
	if (!f->action_cause) {
		log_error("after_fetch = %s%s: %s; %u message%s left in place, tried again every %ds",
		    f->acct->after_fetch == AFTER_FETCH_MOVE ? "move:" :
		    f->acct->after_fetch == AFTER_FETCH_SEEN ? "seen" : "delete",
		    f->acct->after_fetch == AFTER_FETCH_MOVE ? f->acct->after_fetch_folder : "",
		    e->message, f->pending->len, f->pending->len == 1 ? "" : "s",
		    f->acct->check_interval);
		g_free(f->action_cause);
		f->action_cause = g_strdup(e->message);
	}
	f->next_action = now + (gint64)f->acct->check_interval * G_USEC_PER_SEC;
}

/* idle_view - the facts idle_decide() needs */
static void
idle_view(const struct fetch *f, gint64 now, struct idle_view *v)
{
	memset(v, 0, sizeof *v);
	v->capable = f->sess && session_has(f->sess, "IDLE");
	v->enabled = f->acct->idle;
	v->connected = f->sess != NULL;
	v->caught_up = f->win && window_wanted(f->win) == 0;
	v->actions = actions_due(f, now);
	v->idling = f->sess && session_idling(f->sess);
	v->news = f->news;
	v->now = now;
	v->since = f->idle_since;
	v->next_check = f->next_check;
}

/* idle_leave - read what IDLE brought; leave it when there is a reason */
static void
idle_leave(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;
	struct idle_view v;
	enum idle_do d;
	gboolean news = FALSE;

	if (!f->sess || !session_idling(f->sess))
		return;
	if (!session_idle_poll(f->sess, &f->news, &e)) {
		lost(f, now, e);
		return;
	}
	idle_view(f, now, &v);
	d = idle_decide(&v);
	if (d == IDLE_STAY)
		return;
	if (d == IDLE_LEAVE_NEWS && window_wanted(f->win) == 0) {
		/* new mail: end the IDLE and list in one round trip */
		g_autoptr(GArray) list = session_idle_done_list(f->sess, window_top(f->win), &news, &e);

		f->news = FALSE;
		if (!list) {
			lost(f, now, e);
			return;
		}
		log_debug("idle: left for new mail");
		listed(f, now, list);
		return;
	}
	if (!session_idle_done(f->sess, &news, &e)) {
		lost(f, now, e);
		return;
	}
	log_debug("idle: left (%s)", d == IDLE_LEAVE_NEWS ? "new mail" : d == IDLE_LEAVE_ACTIONS ?
	    "after_fetch" : d == IDLE_LEAVE_CHECK ? "check" : "renew");
	if (f->news || news) {
		f->next_check = now;	/* the new mail, at once */
		f->fresh = TRUE;	/* the connection just spoke: no NOOP */
	}
	f->news = FALSE;
}

/* idle_enter - idle if there is nothing else to do */
static void
idle_enter(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;
	struct idle_view v;

	idle_view(f, now, &v);
	if (idle_decide(&v) != IDLE_ENTER)
		return;
	if (!session_idle_start(f->sess, &f->news, &e)) {
		failed(f, now, e);
		return;
	}
	f->idle_since = now;
	/* what came with the go-ahead (read already, or held by TLS) would not
	 * wake the poll: look at it now */
	if (!session_idle_poll(f->sess, &f->news, &e))
		lost(f, now, e);
}

/* imap_run - one turn for an IMAP account */
static void
imap_run(struct fetch *f, gint64 now)
{
	if (!f->sess) {
		if (now < f->next_connect || !connect_account(f, now))
			return;
	}
	idle_leave(f, now);
	if (f->sess && !session_idling(f->sess))
		actions(f, now);
	if (f->sess && !session_idling(f->sess) && window_wanted(f->win) == 0
	    && now >= f->next_check)
		check(f, now);
	if (f->sess && !session_idling(f->sess))
		fetch_batch(f);
	if (f->sess && !session_idling(f->sess))
		idle_enter(f, now);
}

/* ---- POP3 ------------------------------------------------------------------------- */

/* pop3_listed - a session's listing: forget what left the server, want what
 * is new, DELE what is acknowledged (after_fetch = delete) */
static void
pop3_listed(struct fetch *f, GArray *list)
{
	g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GArray) vanished = g_array_new(FALSE, FALSE, sizeof(guint32));
	gboolean del = f->acct->after_fetch == AFTER_FETCH_DELETE;
	GHashTableIter it;
	gpointer k, v;
	guint added = 0;

	for (guint i = 0; i < list->len; i++) {
		struct pop3_msg *m = &g_array_index(list, struct pop3_msg, i);

		g_hash_table_add(present, m->uidl);
		g_hash_table_insert(f->num_of, g_strdup(m->uidl), GUINT_TO_POINTER(m->num));
	}
	/* the state keeps only UIDLs still on the server */
	g_hash_table_iter_init(&it, f->uidls);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (!g_hash_table_contains(present, k))
			g_hash_table_iter_remove(&it);
	/* wanted from an earlier session, gone since: never to be fetched */
	g_hash_table_iter_init(&it, f->seq_of);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		guint32 seq = GPOINTER_TO_UINT(v);

		if (!g_hash_table_contains(present, k) && window_is_wanted(f->win, seq))
			g_array_append_val(vanished, seq);
	}
	for (guint i = 0; i < vanished->len; i++)
		window_skip(f->win, g_array_index(vanished, guint32, i));
	for (guint i = 0; i < list->len; i++) {
		struct pop3_msg *m = &g_array_index(list, struct pop3_msg, i);
		guint32 seq;

		if (g_hash_table_contains(f->uidls, m->uidl)) {
			if (del)
				g_array_append_val(f->dele, m->num);
			continue;
		}
		if (g_hash_table_contains(f->seq_of, m->uidl))
			continue;	/* in the window already (held, or wanted) */
		if (window_wanted(f->win) >= WANTED_MAX)
			break;
		seq = ++f->next_seq;
		g_hash_table_insert(f->seq_of, g_strdup(m->uidl), GUINT_TO_POINTER(seq));
		g_hash_table_lookup_extended(f->seq_of, m->uidl, &k, NULL);
		g_hash_table_insert(f->uidl_of, GUINT_TO_POINTER(seq), k);
		window_want(f->win, seq, m->size);
		added++;
		if (m->size > IMAP_LITERAL_MAX) {
			log_error("message %s is %" G_GUINT64_FORMAT " bytes, over the limit of %"
			    G_GUINT64_FORMAT ": skipped", m->uidl, m->size, IMAP_LITERAL_MAX);
			window_skip(f->win, seq);
		}
	}
	if (added)
		log_info("%u new message%s", added, added == 1 ? "" : "s");
}

/* pop3_connect - a session for one check: logged in and listed */
static gboolean
pop3_connect(struct fetch *f, gint64 now)
{
	const struct config_account *a = f->acct;
	g_autoptr(GError) e = NULL;
	g_autoptr(GArray) list = NULL;
	struct session_opts o;
	char *password;

	if (!(password = login_opts(f, now, &o)))
		return FALSE;
	f->pop = pop3_open(&o, &e);
	secret_free(password);
	if (!f->pop) {
		failed(f, now, e);
		return FALSE;
	}
	if (!(list = pop3_list(f->pop, &e))) {
		failed(f, now, e);
		return FALSE;
	}
	if (retry_connected(&f->retry))
		log_info("connected to %s:%d (POP3), %u message%s on the server", a->host, a->port,
		    list->len, list->len == 1 ? "" : "s");
	pop3_listed(f, list);
	f->linger_until = 0;
	return TRUE;
}

/* pop3_dele_now - DELE what is acknowledged in this session */
static gboolean
pop3_dele_now(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;

	for (guint i = 0; i < f->dele->len; i++) {
		if (!pop3_dele(f->pop, g_array_index(f->dele, guint, i), &e)) {
			g_array_remove_range(f->dele, 0, i);
			failed(f, now, e);
			return FALSE;
		}
	}
	if (f->dele->len)
		log_info("after_fetch: %u message%s deleted (at QUIT)", f->dele->len,
		    f->dele->len == 1 ? "" : "s");
	g_array_set_size(f->dele, 0);
	return TRUE;
}

/* pop3_fetch_batch - RETR what the window has room for */
static gboolean
pop3_fetch_batch(struct fetch *f, gint64 now)
{
	g_autoptr(GArray) batch = window_batch(f->win, room(f));

	for (guint i = 0; i < batch->len; i++) {
		guint32 seq = g_array_index(batch, guint32, i);
		const char *uidl = g_hash_table_lookup(f->uidl_of, GUINT_TO_POINTER(seq));
		gpointer num;
		g_autoptr(GError) e = NULL;
		GBytes *raw;

		if (!uidl || !g_hash_table_lookup_extended(f->num_of, uidl, NULL, &num)) {
			window_skip(f->win, seq);
			continue;
		}
		raw = pop3_retr(f->pop, GPOINTER_TO_UINT(num), &e);
		if (!raw) {
			failed(f, now, e);
			return FALSE;
		}
		fetch_deliver(f, seq, raw, g_get_monotonic_time());
		if (f->cancel && f->cancel())
			return FALSE;
	}
	return TRUE;
}

/* pop3_run - one turn for a POP3 account: a session per check */
static void
pop3_run(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;

	if (!f->pop) {
		if (now < f->next_connect || now < f->next_check || !pop3_connect(f, now))
			return;
	}
	if (!pop3_dele_now(f, now) || !pop3_fetch_batch(f, now) || !f->pop)
		return;
	if (window_wanted(f->win) > 0)
		return;		/* more once the window has room */
	if (f->acct->after_fetch == AFTER_FETCH_DELETE && window_held(f->win) > 0) {
		/* deletions happen only in the session that listed: wait a little */
		if (f->linger_until == 0)
			f->linger_until = now + POP3_LINGER_US;
		if (now < f->linger_until)
			return;
	}
	if (!pop3_quit(f->pop, &e))
		log_warn("%s", e->message);
	pop3_close(f->pop);
	f->pop = NULL;
	g_hash_table_remove_all(f->num_of);
	f->next_check = now + (gint64)f->acct->check_interval * G_USEC_PER_SEC;
	retry_healthy(&f->retry);
}

/* ---- the loop's side ---------------------------------------------------------------- */

void
fetch_run(struct fetch *f, gint64 now)
{
	if (!f->acct->active) {
		if (!f->said_inactive)
			log_info("inactive: %s says active = no", f->acct->file);
		f->said_inactive = TRUE;
		fetch_disconnect(f);
		return;
	}
	if (f->halted)
		return;
	resend(f, now);
	if (is_pop3(f))
		pop3_run(f, now);
	else
		imap_run(f, now);
}

int
fetch_poll_fd(const struct fetch *f)
{
	return f->sess && session_idling(f->sess) ? session_fd(f->sess) : -1;
}

int
fetch_wait_ms(const struct fetch *f, gint64 now)
{
	gint64 next = now + G_USEC_PER_SEC;

	if (!f->acct->active || f->halted)
		return 1000;
	if (f->win)
		next = MIN(next, window_next_due(f->win));
	if (is_pop3(f)) {
		if (!f->pop)
			next = MIN(next, MAX(f->next_connect, f->next_check));
		else
			next = now;	/* a session is open: get on with it */
	} else if (!f->sess) {
		next = MIN(next, f->next_connect);
	} else if (session_idling(f->sess)) {
		if (f->news || actions_due(f, now))
			next = now;
		next = MIN(next, MIN(f->next_check, f->idle_since + IDLE_RENEW));
		if (f->pending->len)
			next = MIN(next, f->next_action);
	} else if (actions_due(f, now)) {
		next = now;
	} else if (window_wanted(f->win) == 0) {
		next = MIN(next, f->next_check);
	} else if (room(f) > 0) {
		g_autoptr(GArray) b = window_batch(f->win, room(f));

		if (b->len)
			next = now;
	}
	if (next <= now)
		return 0;
	return (int)MIN((next - now + 999) / 1000, 1000);
}

/* pop3_ack - an ack by key: ACCOUNT/pop3/UIDL */
static void
pop3_ack(struct fetch *f, const char *key, const char *status)
{
	g_autofree char *prefix = g_strdup_printf("%s/pop3/", f->account);
	const char *uidl;
	gpointer seq, num;

	if (!key || !g_str_has_prefix(key, prefix) || !state_valid_uidl(key + strlen(prefix))) {
		log_warn("an ack without a POP3 key of this account: ignored");
		return;
	}
	uidl = key + strlen(prefix);
	if (g_hash_table_lookup_extended(f->seq_of, uidl, NULL, &seq)
	    && window_ack(f->win, POP3_UV, GPOINTER_TO_UINT(seq)) == WINDOW_ACK_UNKNOWN)
		return;
	if (g_hash_table_contains(f->uidls, uidl))
		return;
	log_debug("ack for %s: %s", uidl, status);
	g_hash_table_add(f->uidls, g_strdup(uidl));
	if (f->pop && f->acct->after_fetch == AFTER_FETCH_DELETE
	    && g_hash_table_lookup_extended(f->num_of, uidl, NULL, &num)) {
		guint n = GPOINTER_TO_UINT(num);

		g_array_append_val(f->dele, n);
	}
}

void
fetch_ack(struct fetch *f, const struct wire_msg *m)
{
	json_int_t uidvalidity, uid;
	const char *status;

	/* subscriptions match by prefix: "support" also gets "support2" */
	if (!m->topic || strcmp(m->topic, f->account) != 0)
		return;
	if (strcmp(m->type, WIRE_ACK) != 0) {
		log_warn("unknown message type %s from routed", m->type);
		return;
	}
	status = wire_meta_str(m, "status");
	if (!status || (strcmp(status, "stored") != 0 && strcmp(status, "duplicate") != 0)) {
		log_warn("ack for %s with status %s: ignored", wire_meta_str(m, "key") ?
		    wire_meta_str(m, "key") : "(no key)", status ? status : "(none)");
		return;
	}
	if (is_pop3(f)) {
		pop3_ack(f, wire_meta_str(m, "key"), status);
		return;
	}
	uidvalidity = wire_meta_int(m, "uidvalidity");
	uid = wire_meta_int(m, "uid");
	if (uidvalidity <= 0 || uidvalidity > G_MAXUINT32 || uid <= 0 || uid > G_MAXUINT32) {
		log_warn("an ack without a valid uidvalidity and uid: ignored");
		return;
	}
	if (!f->win)
		return;
	switch (window_ack(f->win, (guint32)uidvalidity, (guint32)uid)) {
	case WINDOW_ACKED:
		log_debug("ack for uid %" JSON_INTEGER_FORMAT ": %s", uid, status);
		pending_add(f, (guint32)uid);
		break;
	case WINDOW_ACK_AGAIN:
		log_debug("ack for uid %" JSON_INTEGER_FORMAT " again", uid);
		break;
	case WINDOW_ACK_UNKNOWN:
		if ((guint32)uidvalidity == window_uidvalidity(f->win)
		    && (guint32)uid > window_top(f->win)) {
			/* sent by an earlier run, not listed yet in this one */
			window_predone(f->win, (guint32)uid);
			pending_add(f, (guint32)uid);
			break;
		}
		log_debug("ack for %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
		    ", not a message of this run", uidvalidity, uid);
		break;
	}
}
