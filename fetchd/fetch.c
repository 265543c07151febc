/*
 * fetch - one account: connect, notice new mail, fetch it within the window,
 * send it to parsed, take routed's acks, move and save the mark.
 *
 * The order of a check: NOOP on the connection kept from the last check (so
 * the server tells about new mail), list the uids above the highest one
 * known with their sizes, then fetch as many as the window has room for, in
 * one pipelined UID FETCH per turn of the loop so acks and signals are seen
 * between.  Listing with UID FETCH (UID RFC822.SIZE) rather than UID SEARCH
 * gives the sizes before the bodies (the byte budget and the size limit are
 * decided without downloading anything) and keeps every line short however
 * large the folder.
 *
 * Failures to connect or talk are logged once per cause and retried with
 * backoff (retry.c); fetchd never exits for them.
 */
#include "fetchd.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

#define WANTED_MAX	10000		/* uids listed ahead of fetching */
#define UNSENT_RETRY_US	G_USEC_PER_SEC	/* when no parsed could take a message */

struct fetch {
	char *account;
	const struct config *cfg;
	const struct config_account *acct;
	char *state_path;
	int lock_fd;
	struct state st;		/* as last saved */
	struct window *win;		/* NULL until the uidvalidity is known */
	void *push;
	struct tap *tap;
	gboolean (*cancel)(void);

	struct session *sess;
	gboolean reused;		/* the session has served a check already */
	struct retry retry;
	gint64 next_connect;
	gint64 next_check;
	gboolean halted;		/* the uidvalidity changed */
	gboolean said_inactive;
	gboolean unreachable;		/* no parsed took the last message */
	gboolean save_failed;
};

struct fetch *
fetch_new(const struct config *cfg, const char *account, void *push, struct tap *tap,
    gboolean (*cancel)(void), GError **err)
{
	struct fetch *f = g_new0(struct fetch, 1);

	f->account = g_strdup(account);
	f->cfg = cfg;
	f->acct = config_account(cfg, account);
	g_assert(f->acct != NULL);
	f->push = push;
	f->tap = tap;
	f->cancel = cancel;
	f->state_path = state_path(cfg->state_dir, account);
	f->lock_fd = state_lock(f->state_path, err);
	if (f->lock_fd < 0 || !state_load(f->state_path, &f->st, err)) {
		fetch_free(f);
		return NULL;
	}
	if (f->st.uidvalidity)
		f->win = window_new(f->st.uidvalidity, f->st.uid);
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
	g_free(f->retry.cause);
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

guint
fetch_outstanding(const struct fetch *f)
{
	return f->win ? window_held(f->win) : 0;
}

void
fetch_configure(struct fetch *f, const struct config *cfg)
{
	f->cfg = cfg;
	f->acct = config_account(cfg, f->account);
	g_assert(f->acct != NULL);
	fetch_disconnect(f);
	retry_reset(&f->retry);
	f->next_connect = f->next_check = 0;
	f->said_inactive = FALSE;
	if (f->halted) {
		g_autoptr(GError) e = NULL;
		struct state st;

		/* the operator may have removed the state file to start over */
		if (!state_load(f->state_path, &st, &e)) {
			log_error("%s", e->message);
			return;
		}
		f->st = st;
		window_free(f->win);
		f->win = st.uidvalidity ? window_new(st.uidvalidity, st.uid) : NULL;
		f->halted = FALSE;
	}
}

gboolean
fetch_save(struct fetch *f)
{
	g_autoptr(GError) e = NULL;
	struct state st;

	if (!f->win)
		return TRUE;
	st.uidvalidity = window_uidvalidity(f->win);
	st.uid = window_mark(f->win);
	if (st.uidvalidity == f->st.uidvalidity && st.uid == f->st.uid)
		return TRUE;
	if (!state_save(f->state_path, &st, &e)) {
		if (!f->save_failed)
			log_error("unable to save the mark: %s", e->message);
		f->save_failed = TRUE;
		return FALSE;
	}
	if (f->save_failed)
		log_info("saved the mark again: %s", f->state_path);
	f->save_failed = FALSE;
	f->st = st;
	return TRUE;
}

/* fetch_begin - the folder's uidvalidity is known: start, go on, or halt */
void
fetch_begin(struct fetch *f, guint32 uidvalidity)
{
	/* the window's, when there is one: the state file may not be saved yet */
	guint32 known = f->win ? window_uidvalidity(f->win) : f->st.uidvalidity;

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
		f->halted = TRUE;
		fetch_disconnect(f);
		return;
	}
	if (!f->win)
		f->win = window_new(uidvalidity, f->st.uid);
}

/* send_entry - one held message to parsed, and its metadata to the tap */
static void
send_entry(struct fetch *f, struct window_entry *e, gint64 now)
{
	g_autofree char *key = wire_key(f->account, window_uidvalidity(f->win), e->uid);
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	json_t *meta;

	meta = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i}", "key", key, "account", f->account,
	    "uidvalidity", (json_int_t)window_uidvalidity(f->win), "uid", (json_int_t)e->uid,
	    "size", (json_int_t)e->size, "attempt", e->attempt + 1);
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
	delay = retry_failed(&f->retry, e->message, &changed);
	if (changed)
		log_error("%s; retrying in %ds, then less often", e->message, delay);
	f->next_connect = now + (gint64)delay * G_USEC_PER_SEC;
}

/* connect_account - log in, open the folder, check its uidvalidity */
static gboolean
connect_account(struct fetch *f, gint64 now)
{
	const struct config_account *a = f->acct;
	g_autoptr(GError) e = NULL;
	struct session_opts o = { 0 };
	char *password;
	guint32 uidvalidity, exists;

	password = secret_read(a->password_file, &e);
	if (!password) {
		g_autoptr(GError) why = g_error_new(SESSION_ERROR, SESSION_CONNECT,
		    "password_file: %s", e->message);

		failed(f, now, why);
		return FALSE;
	}
	o.account = a;
	o.password = password;
	o.timeout = f->cfg->net_timeout;
	o.cancel = f->cancel;
	f->sess = session_open(&o, &e);
	explicit_bzero(password, strlen(password));
	g_free(password);
	if (!f->sess) {
		failed(f, now, e);
		return FALSE;
	}
	if (!session_examine(f->sess, a->folder, &uidvalidity, &exists, &e)) {
		failed(f, now, e);
		return FALSE;
	}
	fetch_begin(f, uidvalidity);
	if (f->halted)
		return FALSE;
	if (retry_connected(&f->retry))
		log_info("connected to %s:%d, %s has %" G_GUINT32_FORMAT " message%s", a->host, a->port,
		    a->folder, exists, exists == 1 ? "" : "s");
	f->reused = FALSE;
	f->next_check = now;
	return TRUE;
}

/* check - ask the server what is new and add it to the window */
static void
check(struct fetch *f, gint64 now)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GArray) list = NULL;
	guint added = 0;
	gboolean truncated = FALSE;

	if (f->reused && !session_noop(f->sess, &e)) {
		if (g_error_matches(e, SESSION_ERROR, SESSION_CLOSED)
		    || g_error_matches(e, SESSION_ERROR, SESSION_TIMEOUT)) {
			/* servers close idle connections: just come back */
			log_info("%s; reconnecting", e->message);
			fetch_disconnect(f);
			f->next_connect = now;
			return;
		}
		failed(f, now, e);
		return;
	}
	f->reused = TRUE;
	list = session_list(f->sess, window_top(f->win), &e);
	if (!list) {
		failed(f, now, e);
		return;
	}
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
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_autoptr(GArray) present = NULL;
	g_autoptr(GError) e = NULL;
	guint32 stuck = 0;

	for (guint i = 0; i < n; i++)
		if (window_is_wanted(f->win, uids[i]))
			g_array_append_val(lost, uids[i]);
	if (lost->len == 0)
		return;
	present = session_present(f->sess, (const guint32 *)lost->data, lost->len, &e);
	if (!present) {
		failed(f, g_get_monotonic_time(), e);
		return;
	}
	for (guint i = 0, j = 0; i < lost->len; i++) {
		guint32 uid = g_array_index(lost, guint32, i);

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
	if (!f->sess) {
		if (now < f->next_connect || !connect_account(f, now))
			return;
	}
	if (window_wanted(f->win) == 0 && now >= f->next_check)
		check(f, now);
	if (f->sess)
		fetch_batch(f);
}

int
fetch_wait_ms(const struct fetch *f, gint64 now)
{
	gint64 next = now + G_USEC_PER_SEC;

	if (!f->acct->active || f->halted)
		return 1000;
	if (f->win)
		next = MIN(next, window_next_due(f->win));
	if (!f->sess) {
		next = MIN(next, f->next_connect);
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
	uidvalidity = wire_meta_int(m, "uidvalidity");
	uid = wire_meta_int(m, "uid");
	status = wire_meta_str(m, "status");
	if (uidvalidity <= 0 || uidvalidity > G_MAXUINT32 || uid <= 0 || uid > G_MAXUINT32) {
		log_warn("an ack without a valid uidvalidity and uid: ignored");
		return;
	}
	if (!status || (strcmp(status, "stored") != 0 && strcmp(status, "duplicate") != 0)) {
		log_warn("ack for uid %" JSON_INTEGER_FORMAT " with status %s: ignored", uid,
		    status ? status : "(none)");
		return;
	}
	if (!f->win)
		return;
	switch (window_ack(f->win, (guint32)uidvalidity, (guint32)uid)) {
	case WINDOW_ACKED:
		log_debug("ack for uid %" JSON_INTEGER_FORMAT ": %s", uid, status);
		break;
	case WINDOW_ACK_AGAIN:
		log_debug("ack for uid %" JSON_INTEGER_FORMAT " again", uid);
		break;
	case WINDOW_ACK_UNKNOWN:
		log_debug("ack for %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
		    ", not a message of this run", uidvalidity, uid);
		break;
	}
}
