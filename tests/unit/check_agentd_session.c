/*
 * check_agentd_session - tokens and the session table: lookup, idle
 * expiry, logout.  Time is passed in, so nothing waits.
 */
#include <string.h>

#include "agentd.h"
#include "unit.h"

#define IDLE 600

START_TEST(test_token)
{
	g_autofree char *a = session_token();
	g_autofree char *b = session_token();

	ck_assert_uint_eq(strlen(a), 64);
	ck_assert(session_valid_token(a));
	ck_assert(session_valid_token(b));
	ck_assert_str_ne(a, b);
}
END_TEST

static const struct {
	const char *token;
	gboolean ok;
} tokens[] = {
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", TRUE },
	{ "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", FALSE },
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", FALSE },
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", FALSE },
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", FALSE },
	{ "", FALSE },
	{ NULL, FALSE },
};

START_TEST(test_valid_token)
{
	ck_assert(session_valid_token(tokens[_i].token) == tokens[_i].ok);
}
END_TEST

START_TEST(test_lookup)
{
	struct sessions *ss = sessions_new(IDLE);
	g_autofree char *t = session_create(ss, "alice", 1000);
	g_autofree char *agent = session_lookup(ss, t, 1001);
	g_autofree char *other = session_token();

	ck_assert_str_eq(agent, "alice");
	ck_assert_ptr_null(session_lookup(ss, other, 1001));
	ck_assert_ptr_null(session_lookup(ss, "not a token", 1001));
	ck_assert_ptr_null(session_lookup(ss, NULL, 1001));
	sessions_free(ss);
}
END_TEST

START_TEST(test_idle_expiry)
{
	struct sessions *ss = sessions_new(IDLE);
	g_autofree char *t = session_create(ss, "alice", 1000);
	char *a;

	/* every request moves the deadline */
	a = session_lookup(ss, t, 1000 + IDLE - 1);
	ck_assert_str_eq(a, "alice");
	g_free(a);
	/* the event stream's check does not */
	ck_assert(session_alive(ss, t, 1000 + 2 * IDLE - 2));
	a = session_lookup(ss, t, 1000 + 2 * IDLE - 1);
	ck_assert_ptr_null(a);
	/* once expired, it stays gone */
	ck_assert(!session_alive(ss, t, 1000));
	sessions_free(ss);
}
END_TEST

START_TEST(test_end)
{
	struct sessions *ss = sessions_new(IDLE);
	g_autofree char *t1 = session_create(ss, "alice", 1000);
	g_autofree char *t2 = session_create(ss, "alice", 1000);
	g_autofree char *t3 = session_create(ss, "bob", 1000);
	g_autofree char *b = NULL;

	session_end(ss, t1);
	ck_assert(!session_alive(ss, t1, 1001));
	ck_assert(session_alive(ss, t2, 1001));
	ck_assert_uint_eq(sessions_end_agent(ss, "alice"), 1);
	ck_assert(!session_alive(ss, t2, 1001));
	b = session_lookup(ss, t3, 1001);
	ck_assert_str_eq(b, "bob");
	sessions_free(ss);
}
END_TEST

START_TEST(test_expire_sweep)
{
	struct sessions *ss = sessions_new(IDLE);
	g_autofree char *a1 = session_create(ss, "alice", 1000);
	g_autofree char *a2 = session_create(ss, "alice", 1500);
	g_autofree char *b1 = session_create(ss, "bob", 1000);
	g_autofree char *c1 = session_create(ss, "carol", 1000);
	g_autofree char *c2 = session_create(ss, "carol", 1100);
	GPtrArray *gone;

	gone = sessions_expire(ss, 1000 + IDLE + 200);
	/* alice keeps a live session; bob and carol have none left */
	ck_assert_uint_eq(gone->len, 2);
	ck_assert(g_ptr_array_find_with_equal_func(gone, "bob", g_str_equal, NULL));
	ck_assert(g_ptr_array_find_with_equal_func(gone, "carol", g_str_equal, NULL));
	ck_assert(!session_alive(ss, a1, 1000 + IDLE + 200));
	ck_assert(session_alive(ss, a2, 1000 + IDLE + 200));
	g_ptr_array_unref(gone);
	gone = sessions_expire(ss, 1000 + IDLE + 200);
	ck_assert_uint_eq(gone->len, 0);
	g_ptr_array_unref(gone);
	sessions_free(ss);
}
END_TEST

START_TEST(test_set_idle)
{
	struct sessions *ss = sessions_new(IDLE);
	g_autofree char *t = session_create(ss, "alice", 1000);

	sessions_set_idle(ss, 60);
	ck_assert(!session_alive(ss, t, 1060));
	sessions_free(ss);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("agentd_session");
	TCase *tc = tcase_create("session");

	tcase_add_test(tc, test_token);
	tcase_add_loop_test(tc, test_valid_token, 0, UNIT_N(tokens));
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_idle_expiry);
	tcase_add_test(tc, test_end);
	tcase_add_test(tc, test_expire_sweep);
	tcase_add_test(tc, test_set_idle);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
