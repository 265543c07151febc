/*
 * check_fetchd_idle - the pure decisions: when to enter and leave IMAP IDLE
 * (a table of situations), and what a changed UIDVALIDITY's Message-ID
 * match makes of the folder (the new mark, the matches above it, the
 * half rule).
 */
#include "unit.h"
#include "fetchd.h"

#define MIN_US	((gint64)60 * G_USEC_PER_SEC)
#define NOW	(1000 * MIN_US)

/* one situation: C capable, E enabled, K connected, U caught up, A actions,
 * I idling, N news; since and next_check relative to NOW */
static const struct {
	const char *what;
	gboolean c, e, k, u, a, i, n;
	gint64 since, next_check;
	enum idle_do want;
} cases[] = {
	{ "caught up, nothing due: enter", 1, 1, 1, 1, 0, 0, 0, 0, 5 * MIN_US, IDLE_ENTER },
	{ "server without IDLE: poll", 0, 1, 1, 1, 0, 0, 0, 0, 5 * MIN_US, IDLE_STAY },
	{ "idle = no: poll", 1, 0, 1, 1, 0, 0, 0, 0, 5 * MIN_US, IDLE_STAY },
	{ "not connected", 1, 1, 0, 1, 0, 0, 0, 0, 5 * MIN_US, IDLE_STAY },
	{ "still fetching what was listed", 1, 1, 1, 0, 0, 0, 0, 0, 5 * MIN_US, IDLE_STAY },
	{ "after_fetch to do first", 1, 1, 1, 1, 1, 0, 0, 0, 5 * MIN_US, IDLE_STAY },
	{ "a check is due first", 1, 1, 1, 1, 0, 0, 0, 0, 0, IDLE_STAY },
	{ "idling, quiet", 1, 1, 1, 1, 0, 1, 0, -MIN_US, 5 * MIN_US, IDLE_STAY },
	{ "idling, EXISTS: leave at once", 1, 1, 1, 1, 0, 1, 1, -MIN_US, 5 * MIN_US,
	  IDLE_LEAVE_NEWS },
	{ "idling, news beats a due check", 1, 1, 1, 1, 1, 1, 1, -30 * MIN_US, -MIN_US,
	  IDLE_LEAVE_NEWS },
	{ "idling, an ack to act on", 1, 1, 1, 1, 1, 1, 0, -MIN_US, 5 * MIN_US,
	  IDLE_LEAVE_ACTIONS },
	{ "idling, check_interval has come", 1, 1, 1, 1, 0, 1, 0, -MIN_US, 0, IDLE_LEAVE_CHECK },
	{ "idling 24 minutes", 1, 1, 1, 1, 0, 1, 0, -24 * MIN_US, 60 * MIN_US, IDLE_STAY },
	{ "idling 25 minutes: renew", 1, 1, 1, 1, 0, 1, 0, -25 * MIN_US, 60 * MIN_US,
	  IDLE_LEAVE_RENEW },
};

START_TEST(idle_decisions)
{
	struct idle_view v = {
		cases[_i].c, cases[_i].e, cases[_i].k, cases[_i].u, cases[_i].a, cases[_i].i,
		cases[_i].n, NOW, NOW + cases[_i].since, NOW + cases[_i].next_check,
	};

	ck_assert_msg(idle_decide(&v) == cases[_i].want, "%s: %d, not %d", cases[_i].what,
	    idle_decide(&v), cases[_i].want);
}
END_TEST

/* a folder after a UIDVALIDITY change: "1" matched, "0" not, by uid 1.. */
static const struct {
	const char *matched;
	gboolean half_rule;
	guint32 mark;
	const char *above;	/* the matched uids above the mark */
	gboolean refuse;
} plans[] = {
	{ "1111", TRUE, 4, "", FALSE },		/* the same folder: nothing to fetch */
	{ "11110", TRUE, 4, "", FALSE },	/* one new at the end */
	{ "10111", TRUE, 1, "3,4,5", FALSE },	/* one new in between: only it is fetched */
	{ "0111", TRUE, 0, "2,3,4", FALSE },
	{ "1100", TRUE, 2, "", FALSE },		/* exactly half: go on */
	{ "1000", TRUE, 1, "", TRUE },		/* fewer than half: stop */
	{ "0000", TRUE, 0, "", TRUE },
	{ "0000", FALSE, 0, "", FALSE },	/* move/delete: the folder holds new mail only */
	{ "", TRUE, 0, "", FALSE },		/* an empty folder */
	{ "01010", TRUE, 0, "2,4", TRUE },
};

START_TEST(rematch_arithmetic)
{
	gsize n = strlen(plans[_i].matched);
	g_autofree guint32 *uids = g_new(guint32, n + 1);
	g_autofree gboolean *matched = g_new(gboolean, n + 1);
	g_autoptr(GString) above = g_string_new(NULL);
	struct rematch r;

	for (gsize i = 0; i < n; i++) {
		uids[i] = (guint32)i + 1;
		matched[i] = plans[_i].matched[i] == '1';
	}
	rematch_plan(uids, matched, n, plans[_i].half_rule, &r);
	for (guint i = 0; i < r.above->len; i++)
		g_string_append_printf(above, "%s%u", i ? "," : "", g_array_index(r.above, guint32, i));
	ck_assert_msg(r.mark == plans[_i].mark, "%s: mark %u", plans[_i].matched, r.mark);
	ck_assert_str_eq(above->str, plans[_i].above);
	ck_assert_int_eq(r.refuse, plans[_i].refuse);
	ck_assert_uint_eq(r.total, n);
	rematch_clear(&r);
}
END_TEST

/* uids need not start at 1 nor be dense */
START_TEST(rematch_sparse_uids)
{
	const guint32 uids[] = { 7, 9, 120, 121, 4000 };
	const gboolean matched[] = { TRUE, TRUE, FALSE, TRUE, TRUE };
	struct rematch r;

	rematch_plan(uids, matched, G_N_ELEMENTS(uids), TRUE, &r);
	ck_assert_uint_eq(r.mark, 9);
	ck_assert_uint_eq(r.above->len, 2);
	ck_assert_uint_eq(g_array_index(r.above, guint32, 1), 4000);
	ck_assert_uint_eq(r.matched, 4);
	ck_assert(!r.refuse);
	rematch_clear(&r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fetchd_idle");
	TCase *tc = tcase_create("idle");

	tcase_add_loop_test(tc, idle_decisions, 0, UNIT_N(cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("rematch");
	tcase_add_loop_test(tc, rematch_arithmetic, 0, UNIT_N(plans));
	tcase_add_test(tc, rematch_sparse_uids);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
