/*
 * window - the messages between the server and routed's acknowledgement.
 *
 * Every uid the server lists above the mark enters, in ascending order, as
 * wanted; fetching it makes it held (its bytes kept for re-sending); an ack
 * makes it done.  Done entries leave from the front only, and the mark is the
 * uid of the last one that left: so the mark never passes a message that
 * exists on the server and has not been acknowledged, whatever order the acks
 * come in.
 */
#include "fetchd.h"

struct window {
	guint32 uidvalidity;
	guint32 mark;
	guint32 top;
	GQueue order;		/* of struct window_entry, ascending uid */
	GHashTable *by_uid;	/* uid -> entry */
	GHashTable *predone;	/* uids above top acknowledged already (a set) */
	guint held, wanted;
	guint64 held_bytes;
};

/* entry_free - an entry and the bytes it holds */
static void
entry_free(struct window_entry *e)
{
	if (e->raw)
		g_bytes_unref(e->raw);
	g_free(e);
}

struct window *
window_new(guint32 uidvalidity, guint32 mark)
{
	struct window *w = g_new0(struct window, 1);

	w->uidvalidity = uidvalidity;
	w->mark = w->top = mark;
	g_queue_init(&w->order);
	w->by_uid = g_hash_table_new(g_direct_hash, g_direct_equal);
	w->predone = g_hash_table_new(g_direct_hash, g_direct_equal);
	return w;
}

void
window_free(struct window *w)
{
	if (!w)
		return;
	g_queue_clear_full(&w->order, (GDestroyNotify)entry_free);
	g_hash_table_unref(w->by_uid);
	g_hash_table_unref(w->predone);
	g_free(w);
}

guint32
window_uidvalidity(const struct window *w)
{
	return w->uidvalidity;
}

guint32
window_mark(const struct window *w)
{
	return w->mark;
}

guint32
window_top(const struct window *w)
{
	return w->top;
}

guint
window_held(const struct window *w)
{
	return w->held;
}

guint64
window_held_bytes(const struct window *w)
{
	return w->held_bytes;
}

guint
window_wanted(const struct window *w)
{
	return w->wanted;
}

/* lookup - the entry of uid, or NULL */
static struct window_entry *
lookup(const struct window *w, guint32 uid)
{
	return g_hash_table_lookup(w->by_uid, GUINT_TO_POINTER(uid));
}

/* advance - let done entries leave from the front, moving the mark */
static void
advance(struct window *w)
{
	struct window_entry *e;

	while ((e = g_queue_peek_head(&w->order)) != NULL && e->state == WINDOW_DONE) {
		g_queue_pop_head(&w->order);
		g_hash_table_remove(w->by_uid, GUINT_TO_POINTER(e->uid));
		w->mark = e->uid;
		entry_free(e);
	}
}

void
window_predone(struct window *w, guint32 uid)
{
	if (uid > w->top)
		g_hash_table_add(w->predone, GUINT_TO_POINTER(uid));
}

/* forget_unlisted - predone uids below uid were not listed: gone */
static void
forget_unlisted(struct window *w, guint32 uid)
{
	GHashTableIter it;
	gpointer k;

	if (g_hash_table_size(w->predone) == 0)
		return;
	g_hash_table_iter_init(&it, w->predone);
	while (g_hash_table_iter_next(&it, &k, NULL))
		if (GPOINTER_TO_UINT(k) < uid)
			g_hash_table_iter_remove(&it);
}

/* enter - uid enters at the end of the window, the new top */
static void
enter(struct window *w, guint32 uid, enum window_state state, guint64 size)
{
	struct window_entry *e = g_new0(struct window_entry, 1);

	e->uid = uid;
	e->state = state;
	e->size = size;
	g_queue_push_tail(&w->order, e);
	g_hash_table_insert(w->by_uid, GUINT_TO_POINTER(uid), e);
	w->top = uid;
}

gboolean
window_want(struct window *w, guint32 uid, guint64 size)
{
	if (uid <= w->top)
		return FALSE;
	forget_unlisted(w, uid);
	if (g_hash_table_remove(w->predone, GUINT_TO_POINTER(uid))) {
		/* acknowledged before: done as it enters, never fetched (at the
		 * front, it leaves at once) */
		if (g_queue_is_empty(&w->order))
			w->mark = w->top = uid;
		else
			enter(w, uid, WINDOW_DONE, 0);
		return FALSE;
	}
	enter(w, uid, WINDOW_WANTED, size);
	w->wanted++;
	return TRUE;
}

/* done - an entry leaves the window's accounts */
static void
done(struct window *w, struct window_entry *e)
{
	if (e->state == WINDOW_WANTED) {
		w->wanted--;
	} else if (e->state == WINDOW_HELD) {
		w->held--;
		w->held_bytes -= e->size;
	}
	e->state = WINDOW_DONE;
	if (e->raw) {
		g_bytes_unref(e->raw);
		e->raw = NULL;
	}
	advance(w);
}

gboolean
window_is_wanted(const struct window *w, guint32 uid)
{
	struct window_entry *e = lookup(w, uid);

	return e && e->state == WINDOW_WANTED;
}

void
window_skip(struct window *w, guint32 uid)
{
	struct window_entry *e = lookup(w, uid);

	if (e && e->state == WINDOW_WANTED)
		done(w, e);
}

GArray *
window_batch(const struct window *w, guint room)
{
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(guint32));
	guint64 bytes = w->held_bytes;

	for (GList *l = w->order.head; l && uids->len < room; l = l->next) {
		struct window_entry *e = l->data;

		if (e->state != WINDOW_WANTED)
			continue;
		if (bytes + e->size > WINDOW_BYTES_MAX) {
			/* a message bigger than the budget goes alone */
			if (w->held == 0 && uids->len == 0)
				g_array_append_val(uids, e->uid);
			break;
		}
		bytes += e->size;
		g_array_append_val(uids, e->uid);
	}
	return uids;
}

struct window_entry *
window_hold(struct window *w, guint32 uid, GBytes *raw, gint64 now)
{
	struct window_entry *e = lookup(w, uid);

	if (!e || e->state != WINDOW_WANTED)
		return NULL;
	e->state = WINDOW_HELD;
	e->raw = g_bytes_ref(raw);
	e->size = g_bytes_get_size(raw);
	e->attempt = 0;
	e->due = now;
	w->wanted--;
	w->held++;
	w->held_bytes += e->size;
	return e;
}

void
window_sent(struct window *w, struct window_entry *e, gint64 now, gint64 resend_us)
{
	g_assert(e->state == WINDOW_HELD);
	e->attempt++;
	e->due = now + resend_us;
}

void
window_unsent(struct window *w, struct window_entry *e, gint64 now, gint64 retry_us)
{
	g_assert(e->state == WINDOW_HELD);
	e->due = now + retry_us;
}

enum window_ack
window_ack(struct window *w, guint32 uidvalidity, guint32 uid)
{
	struct window_entry *e;

	if (uidvalidity != w->uidvalidity || uid == 0)
		return WINDOW_ACK_UNKNOWN;
	e = lookup(w, uid);
	if (!e)
		return uid <= w->mark ? WINDOW_ACK_AGAIN : WINDOW_ACK_UNKNOWN;
	if (e->state == WINDOW_DONE)
		return WINDOW_ACK_AGAIN;
	/* wanted: sent by an earlier run and stored since; no need to fetch it */
	done(w, e);
	return WINDOW_ACKED;
}

/* cmp_u32 - order of guint32 */
static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

GArray *
window_acked_above(const struct window *w)
{
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(guint32));
	GHashTableIter it;
	gpointer k;

	for (GList *l = w->order.head; l; l = l->next) {
		struct window_entry *e = l->data;

		if (e->state == WINDOW_DONE)
			g_array_append_val(uids, e->uid);
	}
	g_hash_table_iter_init(&it, w->predone);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		guint32 u = GPOINTER_TO_UINT(k);

		g_array_append_val(uids, u);
	}
	g_array_sort(uids, cmp_u32);
	return uids;
}

GPtrArray *
window_due(const struct window *w, gint64 now)
{
	GPtrArray *due = g_ptr_array_new();

	for (GList *l = w->order.head; l; l = l->next) {
		struct window_entry *e = l->data;

		if (e->state == WINDOW_HELD && e->due <= now)
			g_ptr_array_add(due, e);
	}
	return due;
}

gint64
window_next_due(const struct window *w)
{
	gint64 next = G_MAXINT64;

	if (w->held == 0)
		return next;
	for (GList *l = w->order.head; l; l = l->next) {
		struct window_entry *e = l->data;

		if (e->state == WINDOW_HELD && e->due < next)
			next = e->due;
	}
	return next;
}
