/*
 * check_fetchd_retry - backoff with jitter, and one log line per cause.
 */
#include "unit.h"
#include "fetchd.h"

START_TEST(backoff_doubles_to_the_cap)
{
	const int want[] = { 5, 10, 20, 40, 80, 160, 300, 300, 300 };

	for (int i = 0; i < (int)G_N_ELEMENTS(want); i++) {
		ck_assert_int_eq(retry_delay(i + 1, 0.0), want[i]);
		/* jitter takes off at most a fifth */
		ck_assert_int_ge(retry_delay(i + 1, 0.999), want[i] - want[i] / 5);
		ck_assert_int_le(retry_delay(i + 1, 0.999), want[i]);
	}
	ck_assert_int_eq(retry_delay(1000, 0.0), 300);
}
END_TEST

START_TEST(logs_once_per_cause)
{
	struct retry r = { 0 };
	gboolean changed;

	retry_failed(&r, "host not found: x", &changed);
	ck_assert(changed);
	retry_failed(&r, "host not found: x", &changed);
	ck_assert(!changed);
	retry_failed(&r, "nothing listening on x:1 (connection refused)", &changed);
	ck_assert(changed);
	ck_assert_int_eq(r.failures, 3);
	ck_assert(retry_connected(&r));		/* recovery is news */
	ck_assert(!retry_connected(&r));	/* once */
	/* failures count on until a check has gone well */
	ck_assert_int_eq(r.failures, 3);
	retry_healthy(&r);
	ck_assert_int_eq(r.failures, 0);
	retry_failed(&r, "host not found: x", &changed);
	ck_assert(changed);			/* after working, the same cause is news */
	retry_reset(&r);
	ck_assert_ptr_null(r.cause);
}
END_TEST

/* a refused login: a minute, doubling to an hour, no jitter; a login that
 * works starts it over */
START_TEST(auth_backoff_is_long)
{
	const int want[] = { 60, 120, 240, 480, 960, 1920, 3600, 3600 };
	struct retry r = { 0 };
	gboolean changed;

	for (int i = 0; i < (int)G_N_ELEMENTS(want); i++)
		ck_assert_int_eq(retry_auth_delay(i + 1), want[i]);
	ck_assert_int_eq(retry_auth_delay(1000), 3600);
	ck_assert_int_eq(retry_auth_failed(&r, "login refused", &changed), 60);
	ck_assert(changed);
	ck_assert_int_eq(retry_auth_failed(&r, "login refused", &changed), 120);
	ck_assert(!changed);				/* one line per change of state */
	/* another kind of failure keeps the short backoff */
	ck_assert_int_le(retry_failed(&r, "connection refused", &changed), 5);
	ck_assert(changed);
	ck_assert_int_eq(retry_auth_failed(&r, "login refused", &changed), 240);
	ck_assert(changed);
	ck_assert(retry_connected(&r));
	ck_assert_int_eq(retry_auth_failed(&r, "login refused", &changed), 60);
	retry_reset(&r);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_retry");
	TCase *tc = tcase_create("retry");

	tcase_add_test(tc, backoff_doubles_to_the_cap);
	tcase_add_test(tc, logs_once_per_cause);
	tcase_add_test(tc, auth_backoff_is_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
