/*
 * check_fetchd_state - the state file: round trips, fresh starts, corrupt
 * files named with their line, atomic replacement, the lock.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "fetchd.h"

static char *dir;

static void
setup(void)
{
	dir = g_dir_make_tmp("check_fetchd_state.XXXXXX", NULL);
	ck_assert_ptr_nonnull(dir);
}

static void
teardown(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	ck_assert_int_eq(system(cmd), 0);
	g_free(dir);
}

START_TEST(path_is_per_account)
{
	g_autofree char *p = state_path("/var/lib/postroom", "support");

	ck_assert_str_eq(p, "/var/lib/postroom/fetchd/support.state");
}
END_TEST

START_TEST(missing_is_fresh)
{
	g_autofree char *p = state_path(dir, "support");
	struct state st = { 7, 7 };
	GError *err = NULL;

	ck_assert(state_load(p, &st, &err));
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(st.uidvalidity, 0);
	ck_assert_uint_eq(st.uid, 0);
}
END_TEST

START_TEST(round_trips)
{
	g_autofree char *p = state_path(dir, "support");
	g_autofree char *tmp = g_strdup_printf("%s.tmp", p);
	struct state st = { 4294967295u, 42 }, back;
	GError *err = NULL;

	/* the fetchd/ directory is made as needed */
	ck_assert(state_save(p, &st, &err));
	ck_assert(state_load(p, &back, &err));
	ck_assert_uint_eq(back.uidvalidity, 4294967295u);
	ck_assert_uint_eq(back.uid, 42);
	/* replaced, not appended; no temporary file left behind */
	st.uid = 43;
	ck_assert(state_save(p, &st, &err));
	ck_assert(state_load(p, &back, &err));
	ck_assert_uint_eq(back.uid, 43);
	ck_assert(!g_file_test(tmp, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(file_is_plain_key_value)
{
	g_autofree char *p = state_path(dir, "support");
	g_autofree char *text = NULL;
	struct state st = { 1700000000, 9 };

	ck_assert(state_save(p, &st, NULL));
	ck_assert(g_file_get_contents(p, &text, NULL, NULL));
	ck_assert_ptr_nonnull(strstr(text, "\nuidvalidity=1700000000\nuid=9\n"));
}
END_TEST

static const struct {
	const char *text;
	const char *why;	/* a piece of the message */
} corrupt[] = {
	{ "uidvalidity=abc\nuid=5\n", "line 1: uidvalidity" },
	{ "uidvalidity=0\nuid=5\n", "line 1: uidvalidity" },
	{ "uidvalidity=7\nuid=-1\n", "line 2: uid" },
	{ "uidvalidity=7\nuid=4294967296\n", "line 2: uid" },
	{ "# comment\nuidvalidity=7\nmark=5\n", "line 3: unknown key \"mark\"" },
	{ "uidvalidity=7\n", "uid is missing" },
	{ "uid=7\n", "uidvalidity is missing" },
	{ "hello\n", "line 1: expected key=value" },
	{ "uidvalidity=7\nuid=5\0\n", "not a fetchd state file" },
	{ "uidvalidity=7\nuid=5\nacked=9:x\n", "line 3: acked" },
	{ "uidvalidity=7\nuid=5\nacked=9:8\n", "line 3: acked: bad range" },
	{ "uidvalidity=7\nuid=5\npending=1\npending=2\n", "line 4: pending twice" },
	{ "protocol=pop3\nuidl=has space\n", "line 2: not a UIDL" },
	{ "protocol=pop3\nuid=5\n", "an IMAP mark in a POP3 state file" },
	{ "uidvalidity=7\nuid=5\nuidl=abc\n", "line 3: unknown key \"uidl\"" },
	{ "protocol=imap4\n", "line 1: unknown key \"protocol\"" },
};

START_TEST(corrupt_is_named)
{
	g_autofree char *p = state_path(dir, "support");
	g_autofree char *sub = g_build_filename(dir, "fetchd", NULL);
	g_autoptr(GError) err = NULL;
	struct state st;
	gsize len = strlen(corrupt[_i].text);

	if (strstr(corrupt[_i].why, "not a fetchd"))
		len += 2;	/* the NUL and what follows */
	g_mkdir_with_parents(sub, 0750);
	ck_assert(g_file_set_contents(p, corrupt[_i].text, len, NULL));
	ck_assert(!state_load(p, &st, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, p) && strstr(err->message, corrupt[_i].why),
	    "case %d: \"%s\"", _i, err->message);
}
END_TEST

START_TEST(spaces_and_comments_are_fine)
{
	g_autofree char *p = state_path(dir, "support");
	g_autofree char *sub = g_build_filename(dir, "fetchd", NULL);
	struct state st;

	g_mkdir_with_parents(sub, 0750);
	ck_assert(g_file_set_contents(p, "# by hand\n\n uidvalidity = 12 \nuid=3", -1, NULL));
	ck_assert(state_load(p, &st, NULL));
	ck_assert_uint_eq(st.uidvalidity, 12);
	ck_assert_uint_eq(st.uid, 3);
}
END_TEST

/* acked and pending sets, IMAP; the UIDLs, POP3 */
START_TEST(sets_round_trip)
{
	g_autofree char *p = state_path(dir, "support");
	g_autofree char *text = NULL;
	const guint32 acked[] = { 44, 45, 50 }, pending[] = { 40, 41, 42, 43, 44, 45 };
	struct state st = { 7, 42 }, back;
	GError *err = NULL;

	st.acked = g_array_new(FALSE, FALSE, sizeof(guint32));
	st.pending = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_array_append_vals(st.acked, acked, G_N_ELEMENTS(acked));
	g_array_append_vals(st.pending, pending, G_N_ELEMENTS(pending));
	ck_assert(state_save(p, &st, &err));
	ck_assert(g_file_get_contents(p, &text, NULL, NULL));
	ck_assert_ptr_nonnull(strstr(text, "\nacked=44:45,50\npending=40:45\n"));
	ck_assert(state_load(p, &back, &err));
	ck_assert_uint_eq(back.uid, 42);
	ck_assert_uint_eq(back.acked->len, 3);
	ck_assert_uint_eq(g_array_index(back.acked, guint32, 2), 50);
	ck_assert_uint_eq(back.pending->len, 6);
	ck_assert_ptr_null(back.uidls);
	state_clear(&back);
	state_clear(&st);

	/* POP3: no mark, a set of UIDLs (an empty one is still POP3's) */
	st.uidls = g_ptr_array_new();
	ck_assert(state_save(p, &st, &err));
	ck_assert(state_load(p, &back, &err));
	ck_assert_ptr_nonnull(back.uidls);
	ck_assert_uint_eq(back.uidls->len, 0);
	ck_assert_uint_eq(back.uidvalidity, 0);
	state_clear(&back);
	g_ptr_array_add(st.uidls, "000000016b00fe34");
	g_ptr_array_add(st.uidls, "h-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	ck_assert(state_save(p, &st, &err));
	ck_assert(state_load(p, &back, &err));
	ck_assert_uint_eq(back.uidls->len, 2);
	ck_assert_str_eq(back.uidls->pdata[0], "000000016b00fe34");
	state_clear(&back);
	g_ptr_array_unref(st.uidls);
}
END_TEST

static const struct {
	const char *uidl;
	gboolean valid;
} uidls[] = {
	{ "whqtswO00WBw418f9t5JxYwZ", TRUE }, { "!", TRUE }, { "~~~", TRUE },
	{ "", FALSE }, { "a b", FALSE }, { "tab\there", FALSE }, { "\x7f", FALSE },
	{ "caf\xc3\xa9", FALSE },
	{ "0123456789012345678901234567890123456789012345678901234567890123456789", TRUE },
	{ "01234567890123456789012345678901234567890123456789012345678901234567890", FALSE },
};

START_TEST(uidls_are_checked)
{
	ck_assert_int_eq(state_valid_uidl(uidls[_i].uidl), uidls[_i].valid);
}
END_TEST

START_TEST(unwritable_directory_is_an_error)
{
	g_autofree char *file = g_build_filename(dir, "plain", NULL);
	g_autofree char *p = state_path(file, "support");
	g_autoptr(GError) err = NULL;
	struct state st = { 1, 1 };

	/* state_dir is a file, not a directory */
	ck_assert(g_file_set_contents(file, "x", 1, NULL));
	ck_assert(!state_save(p, &st, &err));
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(lock_is_exclusive)
{
	g_autofree char *p = state_path(dir, "support");
	g_autoptr(GError) err = NULL;
	int a, b, c;

	a = state_lock(p, NULL);
	ck_assert_int_ge(a, 0);
	b = state_lock(p, &err);
	ck_assert_int_eq(b, -1);
	ck_assert(g_error_matches(err, STATE_ERROR, EWOULDBLOCK));
	close(a);
	c = state_lock(p, NULL);
	ck_assert_int_ge(c, 0);
	close(c);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_state");
	TCase *tc = tcase_create("state");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, path_is_per_account);
	tcase_add_test(tc, missing_is_fresh);
	tcase_add_test(tc, round_trips);
	tcase_add_test(tc, file_is_plain_key_value);
	tcase_add_loop_test(tc, corrupt_is_named, 0, UNIT_N(corrupt));
	tcase_add_test(tc, spaces_and_comments_are_fine);
	tcase_add_test(tc, sets_round_trip);
	tcase_add_loop_test(tc, uidls_are_checked, 0, UNIT_N(uidls));
	tcase_add_test(tc, unwritable_directory_is_an_error);
	tcase_add_test(tc, lock_is_exclusive);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
