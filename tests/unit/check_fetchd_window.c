/*
 * check_fetchd_window - the window and the mark: acks in any order, twice,
 * or for messages it never had; re-send times; the byte budget.
 */
#include <string.h>

#include "unit.h"
#include "fetchd.h"

#define UV	1700000000u
#define SEC	G_USEC_PER_SEC

static GBytes *
bytes(gsize n)
{
	return g_bytes_new_take(g_malloc0(n), n);
}

/* hold - want and fetch uids, as fetch.c does */
static void
hold(struct window *w, const guint32 *uids, guint n, gint64 now)
{
	for (guint i = 0; i < n; i++) {
		g_autoptr(GBytes) b = bytes(100);
		struct window_entry *e;

		ck_assert(window_want(w, uids[i], 100));
		e = window_hold(w, uids[i], b, now);
		ck_assert_ptr_nonnull(e);
		window_sent(w, e, now, 30 * SEC);
	}
}

struct order {
	guint32 acks[6];
	guint32 marks[6];	/* the mark after each ack */
};

/* held: 3 5 6 9 12 (uids need not be consecutive) */
static const struct order orders[] = {
	{ { 3, 5, 6, 9, 12 }, { 3, 5, 6, 9, 12 } },
	{ { 12, 9, 6, 5, 3 }, { 0, 0, 0, 0, 12 } },
	{ { 5, 3, 9, 12, 6 }, { 0, 5, 5, 5, 12 } },
	{ { 6, 3, 3, 5, 12, 9 }, { 0, 3, 3, 6, 6, 12 } },	/* a duplicate in between */
};

START_TEST(mark_follows_acks_in_any_order)
{
	const guint32 uids[] = { 3, 5, 6, 9, 12 };
	struct window *w = window_new(UV, 0);

	hold(w, uids, G_N_ELEMENTS(uids), 0);
	ck_assert_uint_eq(window_held(w), 5);
	ck_assert_uint_eq(window_held_bytes(w), 500);
	for (int i = 0; i < 6 && orders[_i].acks[i]; i++) {
		window_ack(w, UV, orders[_i].acks[i]);
		ck_assert_msg(window_mark(w) == orders[_i].marks[i], "order %d, ack %d: mark %u",
		    _i, i, window_mark(w));
	}
	ck_assert_uint_eq(window_held(w), 0);
	ck_assert_uint_eq(window_held_bytes(w), 0);
	window_free(w);
}
END_TEST

START_TEST(duplicate_and_unknown_acks)
{
	const guint32 uids[] = { 11, 12 };
	struct window *w = window_new(UV, 10);

	hold(w, uids, 2, 0);
	ck_assert_int_eq(window_ack(w, UV, 12), WINDOW_ACKED);
	ck_assert_int_eq(window_ack(w, UV, 12), WINDOW_ACK_AGAIN);	/* done, not yet left */
	ck_assert_uint_eq(window_mark(w), 10);
	ck_assert_int_eq(window_ack(w, UV, 11), WINDOW_ACKED);
	ck_assert_uint_eq(window_mark(w), 12);
	ck_assert_int_eq(window_ack(w, UV, 11), WINDOW_ACK_AGAIN);	/* below the mark */
	ck_assert_int_eq(window_ack(w, UV, 7), WINDOW_ACK_AGAIN);
	/* never listed, another uidvalidity, uid 0: nothing moves */
	ck_assert_int_eq(window_ack(w, UV, 13), WINDOW_ACK_UNKNOWN);
	ck_assert_int_eq(window_ack(w, UV + 1, 12), WINDOW_ACK_UNKNOWN);
	ck_assert_int_eq(window_ack(w, UV, 0), WINDOW_ACK_UNKNOWN);
	ck_assert_uint_eq(window_mark(w), 12);
	window_free(w);
}
END_TEST

START_TEST(wrong_uidvalidity_moves_nothing)
{
	const guint32 uids[] = { 1 };
	struct window *w = window_new(UV, 0);

	hold(w, uids, 1, 0);
	ck_assert_int_eq(window_ack(w, UV - 1, 1), WINDOW_ACK_UNKNOWN);
	ck_assert_uint_eq(window_mark(w), 0);
	ck_assert_uint_eq(window_held(w), 1);
	window_free(w);
}
END_TEST

/* the mark never passes a message that is on the server and not acked */
START_TEST(wanted_blocks_the_mark)
{
	struct window *w = window_new(UV, 0);
	g_autoptr(GBytes) b = bytes(10);
	struct window_entry *e;

	ck_assert(window_want(w, 1, 10));
	ck_assert(window_want(w, 2, 10));
	e = window_hold(w, 2, b, 0);
	window_sent(w, e, 0, SEC);
	ck_assert_int_eq(window_ack(w, UV, 2), WINDOW_ACKED);
	ck_assert_uint_eq(window_mark(w), 0);		/* 1 is still wanted */
	window_skip(w, 1);				/* gone from the server */
	ck_assert_uint_eq(window_mark(w), 2);
	window_free(w);
}
END_TEST

START_TEST(ack_of_wanted_is_done)
{
	struct window *w = window_new(UV, 4);

	/* sent by a run that died, stored by routed since */
	ck_assert(window_want(w, 5, 10));
	ck_assert_int_eq(window_ack(w, UV, 5), WINDOW_ACKED);
	ck_assert_uint_eq(window_mark(w), 5);
	ck_assert_uint_eq(window_wanted(w), 0);
	window_free(w);
}
END_TEST

/* acknowledged before they were listed (a restart, a UIDVALIDITY match):
 * done as they enter, never fetched; kept in the state until the mark passes */
START_TEST(predone_is_never_fetched)
{
	struct window *w = window_new(UV, 2);
	g_autoptr(GArray) above = NULL;

	window_predone(w, 4);
	window_predone(w, 6);
	window_predone(w, 9);
	window_predone(w, 1);				/* below the top: nothing to do */
	above = window_acked_above(w);
	ck_assert_uint_eq(above->len, 3);
	g_clear_pointer(&above, g_array_unref);

	ck_assert(window_want(w, 3, 10));		/* new */
	ck_assert(!window_want(w, 4, 10));		/* predone: not to fetch */
	ck_assert(window_want(w, 5, 10));
	/* 6 is not listed: gone, forgotten when 7 comes */
	ck_assert(window_want(w, 7, 10));
	ck_assert_uint_eq(window_wanted(w), 3);
	ck_assert_uint_eq(window_mark(w), 2);		/* 3 blocks it */
	above = window_acked_above(w);
	ck_assert_uint_eq(above->len, 2);		/* 4 (in the window), 9 (not listed yet) */
	ck_assert_uint_eq(g_array_index(above, guint32, 0), 4);
	ck_assert_uint_eq(g_array_index(above, guint32, 1), 9);
	g_clear_pointer(&above, g_array_unref);

	ck_assert_int_eq(window_ack(w, UV, 3), WINDOW_ACKED);
	ck_assert_uint_eq(window_mark(w), 4);		/* past 3 and the predone 4 */
	window_skip(w, 5);
	window_skip(w, 7);
	ck_assert_uint_eq(window_mark(w), 7);
	/* a predone uid with nothing before it moves the mark at once */
	ck_assert(!window_want(w, 9, 10));
	ck_assert_uint_eq(window_mark(w), 9);
	above = window_acked_above(w);
	ck_assert_uint_eq(above->len, 0);
	window_free(w);
}
END_TEST

START_TEST(want_only_above_top)
{
	struct window *w = window_new(UV, 10);

	ck_assert(!window_want(w, 10, 1));
	ck_assert(!window_want(w, 3, 1));
	ck_assert(window_want(w, 11, 1));
	ck_assert(!window_want(w, 11, 1));
	ck_assert_uint_eq(window_top(w), 11);
	ck_assert_uint_eq(window_wanted(w), 1);
	/* hold only what is wanted */
	{
		g_autoptr(GBytes) b = bytes(1);

		ck_assert_ptr_null(window_hold(w, 12, b, 0));
		ck_assert_ptr_nonnull(window_hold(w, 11, b, 0));
		ck_assert_ptr_null(window_hold(w, 11, b, 0));
	}
	window_free(w);
}
END_TEST

START_TEST(resend_when_due)
{
	const guint32 uids[] = { 1, 2, 3 };
	struct window *w = window_new(UV, 0);
	g_autoptr(GPtrArray) none = NULL, two = NULL, again = NULL;
	struct window_entry *e;

	ck_assert_int_eq(window_next_due(w), G_MAXINT64);
	hold(w, uids, 2, 100 * SEC);		/* due at 130 s */
	hold(w, uids + 2, 1, 110 * SEC);	/* due at 140 s */
	ck_assert_int_eq(window_next_due(w), 130 * SEC);
	none = window_due(w, 129 * SEC);
	ck_assert_uint_eq(none->len, 0);
	two = window_due(w, 130 * SEC);
	ck_assert_uint_eq(two->len, 2);
	e = two->pdata[0];
	ck_assert_uint_eq(e->uid, 1);
	ck_assert_int_eq(e->attempt, 1);
	window_sent(w, e, 130 * SEC, 30 * SEC);
	ck_assert_int_eq(e->attempt, 2);
	window_sent(w, two->pdata[1], 130 * SEC, 30 * SEC);
	ck_assert_int_eq(window_next_due(w), 140 * SEC);
	/* acked: never due again */
	window_ack(w, UV, 3);
	ck_assert_int_eq(window_next_due(w), 160 * SEC);
	/* could not go out: soon again, the attempt not counted */
	again = window_due(w, 160 * SEC);
	ck_assert_uint_eq(again->len, 2);
	window_unsent(w, again->pdata[0], 160 * SEC, SEC);
	window_sent(w, again->pdata[1], 160 * SEC, 30 * SEC);
	ck_assert_int_eq(((struct window_entry *)again->pdata[0])->attempt, 2);
	ck_assert_int_eq(((struct window_entry *)again->pdata[1])->attempt, 3);
	ck_assert_int_eq(window_next_due(w), 161 * SEC);
	window_free(w);
}
END_TEST

static GArray *
batch_of(struct window *w, guint room)
{
	return window_batch(w, room);
}

START_TEST(batch_respects_room_and_bytes)
{
	const guint64 MB = 1 << 20;
	struct window *w = window_new(UV, 0);
	g_autoptr(GArray) a = NULL, b = NULL, c = NULL, d = NULL;
	g_autoptr(GBytes) big = NULL;

	ck_assert(window_want(w, 1, 100 * MB));
	ck_assert(window_want(w, 2, 100 * MB));
	ck_assert(window_want(w, 3, 100 * MB));
	ck_assert(window_want(w, 4, 1));
	a = batch_of(w, 64);
	ck_assert_uint_eq(a->len, 2);		/* 300 MB would pass 256 MB */
	b = batch_of(w, 1);
	ck_assert_uint_eq(b->len, 1);		/* the room */
	ck_assert_uint_eq(g_array_index(b, guint32, 0), 1);
	window_skip(w, 1);
	window_skip(w, 2);
	window_skip(w, 3);
	window_skip(w, 4);
	ck_assert_uint_eq(window_mark(w), 4);

	/* one message larger than the budget goes alone, when nothing is held */
	ck_assert(window_want(w, 5, 1));
	ck_assert(window_want(w, 6, 300 * MB));
	big = bytes(1);
	window_hold(w, 5, big, 0);
	c = batch_of(w, 64);
	ck_assert_uint_eq(c->len, 0);		/* 5 is held: wait for it */
	window_ack(w, UV, 5);
	d = batch_of(w, 64);
	ck_assert_uint_eq(d->len, 1);
	ck_assert_uint_eq(g_array_index(d, guint32, 0), 6);
	window_free(w);
}
END_TEST

START_TEST(held_bytes_are_released)
{
	struct window *w = window_new(UV, 0);
	GBytes *b = bytes(1000);
	struct window_entry *e;

	ck_assert(window_want(w, 1, 5));
	e = window_hold(w, 1, b, 0);
	ck_assert_uint_eq(e->size, 1000);	/* the real size, not the announced one */
	ck_assert_uint_eq(window_held_bytes(w), 1000);
	g_bytes_unref(b);
	ck_assert_ptr_nonnull(e->raw);		/* the window keeps its reference */
	window_ack(w, UV, 1);
	ck_assert_uint_eq(window_held_bytes(w), 0);
	window_free(w);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_window");
	TCase *tc = tcase_create("window");

	tcase_add_loop_test(tc, mark_follows_acks_in_any_order, 0, UNIT_N(orders));
	tcase_add_test(tc, duplicate_and_unknown_acks);
	tcase_add_test(tc, wrong_uidvalidity_moves_nothing);
	tcase_add_test(tc, wanted_blocks_the_mark);
	tcase_add_test(tc, ack_of_wanted_is_done);
	tcase_add_test(tc, want_only_above_top);
	tcase_add_test(tc, predone_is_never_fetched);
	tcase_add_test(tc, resend_when_due);
	tcase_add_test(tc, batch_respects_room_and_bytes);
	tcase_add_test(tc, held_bytes_are_released);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
