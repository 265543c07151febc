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

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_retry");
	TCase *tc = tcase_create("retry");

	tcase_add_test(tc, backoff_doubles_to_the_cap);
	tcase_add_test(tc, logs_once_per_cause);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
