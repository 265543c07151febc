/*
 * unit.h - what every Check suite shares: run it, end with the line
 * "N passed, N failed" that people and CI read.
 */
#ifndef POSTROOM_UNIT_H
#define POSTROOM_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static inline int
unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int run, failed;

	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("%d passed, %d failed\n", run - failed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* UNIT_TABLE - a loop test over a static table: tcase_add_loop_test(tc, fn, 0, N) */
#define UNIT_N(table) ((int)(sizeof(table) / sizeof((table)[0])))

#endif
