/*
 * check_common_cfg - the configuration loader: every problem named as
 * FILE: [section] key: problem, defaults filled, the samples loadable.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "unit.h"

static char *dir;

static void
put(const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	g_mkdir_with_parents(parent, 0700);
	ck_assert(g_file_set_contents(path, text, -1, NULL));
}

static const char *good_account =
    "[account]\nhost = imap.example.com\nuser = u@example.com\npassword_file = pw\n"
    "group = support\nreply_address = support@example.com\nsmtp_host = smtp.example.com\n";
static const char *good_group = "[group]\nname = Support\ndispositions = DONE, SPAM\n";
static const char *good_agent =
    "[agent]\nname = Ada\npassword_hash = $y$j9T$abc$def\ngroups = support:7\n";

static void
setup(void)
{
	dir = g_dir_make_tmp("check_cfg.XXXXXX", NULL);
	put("postroom.conf", "[postroom]\nrun_dir = /tmp/r\nstate_dir = st\n");
	put("accounts/support.conf", good_account);
	put("groups/support.conf", good_group);
	put("agents/ada.conf", good_agent);
}

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *n;

	if (d) {
		while ((n = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(path, n, NULL);

			rm_rf(p);
		}
		g_dir_close(d);
	}
	g_remove(path);
}

static void
teardown(void)
{
	rm_rf(dir);
	g_clear_pointer(&dir, g_free);
}

START_TEST(test_good)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(config) c = config_load(dir, &err);
	const struct config_account *a;
	g_autofree char *st = g_build_filename(dir, "st", NULL);
	g_autofree char *pw = g_build_filename(dir, "pw", NULL);

	ck_assert_msg(c != NULL, "%s", err ? err->message : "");
	a = config_account(c, "support");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->port, 993);		/* implicit TLS by default */
	ck_assert_int_eq(a->smtp_port, 587);	/* starttls by default */
	ck_assert_str_eq(a->folder, "INBOX");
	ck_assert_str_eq(a->smtp_user, "u@example.com");
	ck_assert_str_eq(a->password_file, pw);	/* relative to the directory */
	ck_assert_str_eq(c->state_dir, st);
	ck_assert_str_eq(c->routed_endpoint, "ipc:///tmp/r/routed.sock");
	ck_assert_int_eq(config_agent_rank(config_agent(c, "ada"), "support"), 7);
	ck_assert_int_eq(config_agent_rank(config_agent(c, "ada"), "sales"), -1);
	ck_assert_str_eq(config_group(c, "support")->dispositions[1], "SPAM");
}
END_TEST

/* Each bad file, and the exact words the operator must see. */
static const struct {
	const char *file, *text, *want;
} bad[] = {
	{ "accounts/support.conf", "[account]\nhost = x\n",
	  "accounts/support.conf: [account] user: missing, and a value is required" },
	{ "accounts/support.conf", "[account]\nhots = x\n",
	  "accounts/support.conf: [account] hots: unknown key" },
	{ "accounts/support.conf", "[acount]\n", "accounts/support.conf: [acount]: unknown section" },
	{ "groups/support.conf", "[group]\nname = S\ndispositions = ,\n",
	  "groups/support.conf: [group] dispositions: the list is empty" },
	{ "agents/ada.conf", "[agent]\nname = A\npassword_hash = secret\ngroups = support\n",
	  "agents/ada.conf: [agent] password_hash: not a yescrypt" },
	{ "agents/ada.conf", "[agent]\nname = A\npassword_hash = $y$x\ngroups = sales\n",
	  "agents/ada.conf: [agent] groups: no group \"sales\"" },
	{ "agents/ada.conf", "[agent]\nname = A\npassword_hash = $y$x\ngroups = support:x\n",
	  "agents/ada.conf: [agent] groups: \"support:x\": the rank must be a number from 0 to 99" },
	{ "postroom.conf", "[fetchd]\nwindow = 0\n",
	  "postroom.conf: [fetchd] window: 0 is out of range (1 to 10000)" },
	{ "postroom.conf", "[fetchd]\nwindow = many\n",
	  "postroom.conf: [fetchd] window: \"many\" is not a whole number" },
	{ "postroom.conf", "not an ini file\n", "postroom.conf: " },
	{ "accounts/bad name.conf", "[account]\n", "accounts/bad name.conf: bad file name" },
};

START_TEST(test_bad)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(config) c = NULL;
	g_autofree char *want = NULL;

	put(bad[_i].file, bad[_i].text);
	c = config_load(dir, &err);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(err);
	want = g_build_filename(dir, bad[_i].want, NULL);
	ck_assert_msg(g_str_has_prefix(err->message, want), "got \"%s\", want \"%s...\"",
	    err->message, want);
}
END_TEST

START_TEST(test_enum)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(config) c = NULL;
	g_autofree char *text = g_strconcat(good_account, "tls = ssl\n", NULL);

	put("accounts/support.conf", text);
	c = config_load(dir, &err);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err->message, "[account] tls: \"ssl\" is not one of implicit,starttls,none"),
	    "%s", err->message);
}
END_TEST

START_TEST(test_missing_main)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *path = g_build_filename(dir, "postroom.conf", NULL);
	g_autoptr(config) c = NULL;

	g_remove(path);
	c = config_load(dir, &err);
	ck_assert_ptr_null(c);
	ck_assert_msg(g_str_has_suffix(err->message, "postroom.conf: file not found"), "%s", err->message);
}
END_TEST

/* The sample of every kind is a loadable file whose keys are all known. */
START_TEST(test_samples)
{
	static const char *kinds[][2] = {
		{ "postroom", "postroom.conf" }, { "account", "accounts/support.conf" },
		{ "group", "groups/support.conf" }, { "agent", "agents/ada.conf" },
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(config) c = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_autofree char *text = cfg_sample(config_kind(kinds[i][0]));

		put(kinds[i][1], text);
	}
	c = config_load(dir, &err);
	ck_assert_msg(c != NULL, "%s", err ? err->message : "");
	ck_assert_str_eq(config_account(c, "support")->host, "imap.example.com");
}
END_TEST

/* The README's configuration reference names every key of every table
 * (run from the top of the tree, as make check does). */
START_TEST(test_readme)
{
	static const char *kinds[] = { "postroom", "account", "group", "agent" };
	g_autofree char *readme = NULL;

	ck_assert_msg(g_file_get_contents("README.md", &readme, NULL, NULL), "README.md not found");
	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
		const struct cfg_kind *k = config_kind(kinds[i]);

		for (const struct cfg_section *s = k->sections; s->name; s++) {
			for (const struct cfg_key *key = s->keys; key->name; key++) {
				g_autofree char *quoted = g_strdup_printf("| `%s` |", key->name);

				ck_assert_msg(strstr(readme, quoted), "README.md does not document %s [%s] %s",
				    kinds[i], s->name, key->name);
			}
		}
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_cfg");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good);
	tcase_add_loop_test(tc, test_bad, 0, UNIT_N(bad));
	tcase_add_test(tc, test_enum);
	tcase_add_test(tc, test_missing_main);
	tcase_add_test(tc, test_samples);
	suite_add_tcase(s, tc);
	tc = tcase_create("readme");
	tcase_add_test(tc, test_readme);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
