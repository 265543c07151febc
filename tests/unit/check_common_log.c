/*
 * check_common_log - one event, one line; secrets files refused when others
 * can read them.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "unit.h"
#include "zsock.h"

static char *
fmt(const char *level, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = log_format(level, f, ap);
	va_end(ap);
	return s;
}

START_TEST(test_line)
{
	g_autofree char *s = NULL;

	log_init("fetchd", "support");
	s = fmt("warn", "imap login failed: %s", "NO [AUTHENTICATIONFAILED]\r\n* BYE");
	ck_assert_str_eq(s, "fetchd[support]: warn: imap login failed: NO [AUTHENTICATIONFAILED]??* BYE");
}
END_TEST

START_TEST(test_long)
{
	g_autoptr(GString) big = g_string_new(NULL);
	g_autofree char *s = NULL;

	log_init("parsed", NULL);
	for (int i = 0; i < 600; i++)
		g_string_append(big, "é");	/* two bytes each */
	s = fmt("info", "%s", big->str);
	ck_assert_uint_le(strlen(s), 1000);
	ck_assert(g_str_has_suffix(s, "..."));
	ck_assert(g_utf8_validate(s, -1, NULL));
}
END_TEST

START_TEST(test_secret)
{
	g_autofree char *dir = g_dir_make_tmp("check_log.XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "pw", NULL);
	g_autoptr(GError) err = NULL;
	g_autofree char *pw = NULL;

	ck_assert(g_file_set_contents(path, "s3cret\nignored\n", -1, NULL));
	chmod(path, 0644);
	pw = secret_read(path, &err);
	ck_assert_ptr_null(pw);
	ck_assert_msg(strstr(err->message, "mode 0644") && strstr(err->message, "chmod 600"), "%s",
	    err->message);
	g_clear_error(&err);
	chmod(path, 0600);
	pw = secret_read(path, &err);
	ck_assert_str_eq(pw, "s3cret");
	g_remove(path);
	g_rmdir(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_line);
	tcase_add_test(tc, test_long);
	tcase_add_test(tc, test_secret);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
