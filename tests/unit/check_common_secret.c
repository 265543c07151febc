/*
 * check_common_secret - secrets from files and commands: the first line,
 * the refusals (mode, empty, exit status, timeout), exactly one source, the
 * SMTP side falling back to the mailbox's secret, and the configuration
 * rules that go with them.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "secret.h"
#include "unit.h"

static char *dir;

static void
setup(void)
{
	dir = g_dir_make_tmp("check_secret.XXXXXX", NULL);
	ck_assert_ptr_nonnull(dir);
}

static void
teardown(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	ck_assert_int_eq(system(cmd), 0);
	g_free(dir);
}

static char *
put(const char *name, const char *text, int mode)
{
	char *path = g_build_filename(dir, name, NULL);

	ck_assert(g_file_set_contents(path, text, -1, NULL));
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* commands: what they print and how they end -> the secret or the error */
static const struct {
	const char *command;
	const char *secret;	/* NULL: an error */
	const char *error;	/* a part of the error */
} commands[] = {
	{ "echo hunter2", "hunter2", NULL },
	{ "printf 'first\\r\\nsecond\\n'", "first", NULL },
	{ "printf 'no newline'", "no newline", NULL },
	{ "echo 'pass with spaces '; echo other", "pass with spaces ", NULL },
	{ "echo leaked; exit 3", NULL, "exited with status 3" },
	{ "echo 'vault: sealed' >&2; exit 1", NULL, "status 1: vault: sealed" },
	{ "exit 0", NULL, "printed nothing" },
	{ "echo; echo second", NULL, "printed nothing" },
	{ "kill -TERM $$", NULL, "signal 15" },
	{ "/nonexistent/tool", NULL, "status 127" },
};

START_TEST(test_command)
{
	g_autoptr(GError) err = NULL;
	char *s = secret_command("password_command", commands[_i].command, 5, &err);

	if (commands[_i].secret) {
		ck_assert_msg(s != NULL, "%s: %s", commands[_i].command, err ? err->message : "");
		ck_assert_str_eq(s, commands[_i].secret);
	} else {
		ck_assert_msg(s == NULL, "%s gave a secret", commands[_i].command);
		ck_assert_msg(strstr(err->message, commands[_i].error), "%s: \"%s\" lacks \"%s\"",
		    commands[_i].command, err->message, commands[_i].error);
		ck_assert(g_str_has_prefix(err->message, "password_command: "));
		ck_assert_msg(!strstr(err->message, "leaked"), "stdout in the error: %s", err->message);
	}
	secret_free(s);
}
END_TEST

/* dead - process pid is gone or a zombie (killed, not yet reaped by init) */
static gboolean
dead(int pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree char *stat = NULL;
	const char *paren;

	if (!g_file_get_contents(path, &stat, NULL, NULL))
		return TRUE;
	paren = strrchr(stat, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

/* a command that hangs is killed, with what it started, at the timeout */
START_TEST(test_timeout)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *pidfile = g_build_filename(dir, "pid", NULL);
	g_autofree char *cmd = g_strdup_printf("sleep 60 & echo $! > '%s'; wait", pidfile);
	g_autofree char *pid = NULL;
	gint64 t0 = g_get_monotonic_time();
	char *s = secret_command("oauth2_token_command", cmd, 1, &err);
	gint64 took = g_get_monotonic_time() - t0;
	int i;

	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err->message, "longer than 1s"), "%s", err->message);
	ck_assert_msg(took < 3 * G_USEC_PER_SEC, "took %" G_GINT64_FORMAT " us", took);
	ck_assert(g_file_get_contents(pidfile, &pid, NULL, NULL));
	/* SIGKILL is delivered at once; give the kernel a moment to say so */
	for (i = 0; i < 200 && !dead(atoi(pid)); i++)
		g_usleep(10 * 1000);
	ck_assert_msg(dead(atoi(pid)), "the command's child %d survived", atoi(pid));
}
END_TEST

START_TEST(test_get)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *good = put("good", "s3cret\nsecond line\n", 0600);
	g_autofree char *open_ = put("open", "s3cret\n", 0644);
	char *s;

	s = secret_get(good, "", &err);
	ck_assert_str_eq(s, "s3cret");
	secret_free(s);
	s = secret_get("", "echo from-command", &err);
	ck_assert_str_eq(s, "from-command");
	secret_free(s);

	ck_assert_ptr_null(secret_get(open_, NULL, &err));
	ck_assert_msg(strstr(err->message, "chmod 600"), "%s", err->message);
	g_clear_error(&err);
	ck_assert_ptr_null(secret_get(good, "echo x", &err));
	ck_assert_msg(strstr(err->message, "both"), "%s", err->message);
	g_clear_error(&err);
	ck_assert_ptr_null(secret_get(NULL, "", &err));
	ck_assert_msg(strstr(err->message, "neither"), "%s", err->message);
}
END_TEST

/* load - a configuration with one account of these extra lines: NULL with
 * the error in *msg when it is refused */
static struct config *
load(const char *extra, char **msg)
{
	g_autofree char *acc = g_strdup_printf("[account]\nhost = mail.example.com\nuser = u\n"
	    "group = support\nreply_address = support@example.com\nsmtp_host = smtp.example.com\n%s",
	    extra);
	g_autoptr(GError) err = NULL;
	struct config *c;

	g_free(put("postroom.conf", "[postroom]\nstate_dir = s\nrun_dir = r\n", 0644));
	g_autofree char *accounts = g_build_filename(dir, "accounts", NULL);
	g_autofree char *groups = g_build_filename(dir, "groups", NULL);

	g_mkdir_with_parents(accounts, 0700);
	g_mkdir_with_parents(groups, 0700);
	g_free(put("groups/support.conf", "[group]\nname = Support\n", 0644));
	g_free(put("accounts/support.conf", acc, 0644));
	c = config_load(dir, &err);
	*msg = c ? NULL : g_strdup(err->message);
	return c;
}

/* the configuration's rules for secrets and the keys that go with them */
static const struct {
	const char *extra;
	const char *error;	/* NULL: accepted */
} rules[] = {
	{ "password_file = pw\n", NULL },
	{ "password_command = pass show mail\n", NULL },
	{ "oauth2_token_command = oama access u\n", NULL },
	{ "oauth2_token_command = t\nauth = xoauth2\n", NULL },
	{ "", "password_file: missing" },
	{ "password_file = pw\npassword_command = x\n", "exactly one" },
	{ "password_command = x\noauth2_token_command = y\n", "exactly one" },
	{ "oauth2_token_command = t\nauth = plain\n", "auth = xoauth2" },
	{ "password_file = pw\nauth = xoauth2\n", "needs oauth2_token_command" },
	{ "password_file = pw\nauth = apop\n", "apop is POP3's" },
	{ "protocol = pop3\npassword_file = pw\nauth = apop\n", NULL },
	{ "password_file = pw\nafter_fetch = seen\n", NULL },
	{ "password_file = pw\nafter_fetch = move:Archive\n", NULL },
	{ "password_file = pw\nafter_fetch = move:\n", "name another folder" },
	{ "password_file = pw\nafter_fetch = move:INBOX\n", "name another folder" },
	{ "password_file = pw\nafter_fetch = trash\n", "not one of" },
	{ "protocol = pop3\npassword_file = pw\nafter_fetch = delete\n", NULL },
	{ "protocol = pop3\npassword_file = pw\nafter_fetch = seen\n", "keep, delete (POP3)" },
	{ "protocol = pop3\npassword_file = pw\nbackfill_days = 7\n", "IMAP only" },
	{ "password_file = pw\nbackfill_days = 7\n", NULL },
};

START_TEST(test_rules)
{
	g_autofree char *msg = NULL;
	g_autoptr(config) c = load(rules[_i].extra, &msg);

	if (!rules[_i].error) {
		ck_assert_msg(c != NULL, "%s refused: %s", rules[_i].extra, msg);
		return;
	}
	ck_assert_msg(c == NULL, "%s accepted", rules[_i].extra);
	ck_assert_msg(strstr(msg, rules[_i].error), "\"%s\" lacks \"%s\"", msg, rules[_i].error);
}
END_TEST

/* the resolved account: ports by protocol, after_fetch, the SMTP secret */
START_TEST(test_account)
{
	g_autofree char *msg = NULL, *pw = put("pw", "imap-pw\n", 0600);
	g_autofree char *spw = put("spw", "smtp-pw\n", 0600);
	g_autoptr(config) c = NULL;
	const struct config_account *a;
	g_autoptr(GError) err = NULL;
	char *s;

	c = load("protocol = pop3\npassword_command = echo cmd-pw\n", &msg);
	ck_assert_msg(c != NULL, "%s", msg);
	a = config_account(c, "support");
	ck_assert_int_eq(a->proto, PROTOCOL_POP3);
	ck_assert_int_eq(a->port, 995);
	ck_assert(a->tls_verify);
	ck_assert(!a->allow_plaintext);
	ck_assert(a->idle);
	/* SMTP falls back to the mailbox's own secret: the command */
	ck_assert(!account_secret_is_token(a, SECRET_SMTP));
	s = account_secret(a, SECRET_SMTP, &err);
	ck_assert_str_eq(s, "cmd-pw");
	secret_free(s);
	config_free(g_steal_pointer(&c));

	c = load("oauth2_token_command = echo tok-123\nsmtp_password_file = spw\n"
	    "after_fetch = move: Traité\ntls = none\nallow_plaintext = yes\ntls_verify = no\n", &msg);
	ck_assert_msg(c != NULL, "%s", msg);
	a = config_account(c, "support");
	ck_assert_int_eq(a->port, 143);
	ck_assert_int_eq(a->after_fetch, AFTER_FETCH_MOVE);
	ck_assert_str_eq(a->after_fetch_folder, "Traité");
	ck_assert(!a->tls_verify);
	ck_assert(a->allow_plaintext);
	ck_assert(account_secret_is_token(a, SECRET_MAILBOX));
	s = account_secret(a, SECRET_MAILBOX, &err);
	ck_assert_str_eq(s, "tok-123");
	secret_free(s);
	/* its own file for SMTP: a password, not the token */
	ck_assert(!account_secret_is_token(a, SECRET_SMTP));
	s = account_secret(a, SECRET_SMTP, &err);
	ck_assert_str_eq(s, "smtp-pw");
	secret_free(s);
	config_free(g_steal_pointer(&c));

	c = load("password_file = pw\n", &msg);
	a = config_account(c, "support");
	s = account_secret(a, SECRET_SMTP, &err);
	ck_assert_str_eq(s, "imap-pw");
	secret_free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_secret");
	TCase *tc = tcase_create("secret");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_command, 0, UNIT_N(commands));
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_get);
	tcase_add_loop_test(tc, test_rules, 0, UNIT_N(rules));
	tcase_add_test(tc, test_account);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
