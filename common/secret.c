/*
 * secret - an account's secret from a file or a command.
 *
 * A command runs under /bin/sh -c in a process group of its own, with
 * stdin from /dev/null; its stdout is read up to SECRET_MAX bytes and its
 * first line kept.  Its stderr is read too: the first line of it goes into
 * the error when the command fails (a tool saying "token expired, log in
 * again" is what the operator needs), never into a success.  A command that
 * runs longer than its timeout is killed with its whole group.
 */
#include "secret.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zsock.h"

G_DEFINE_QUARK(postroom-secret-error, secret_error)

#define STDERR_KEEP	200	/* characters of the command's stderr in an error */

/* own_group - in the child: a process group of its own, so a timeout can
 * kill whatever the shell started */
static void
own_group(gpointer unused)
{
	setpgid(0, 0);
}

/* first_line - the first line of s, cut at CR or LF, in place */
static char *
first_line(char *s)
{
	char *nl = strpbrk(s, "\r\n");

	if (nl)
		*nl = '\0';
	return s;
}

/* printable - s with control characters replaced, at most max characters */
static char *
printable(const char *s, gsize max)
{
	GString *out = g_string_new(NULL);

	for (const char *p = s; *p && out->len < max; p++)
		g_string_append_c(out, (guchar)*p < 0x20 || *p == 0x7f ? '?' : *p);
	return g_string_free(out, FALSE);
}

/* drain - read what fd has into buf (up to SECRET_MAX); FALSE at EOF */
static gboolean
drain(int fd, GString *buf)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof chunk);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return FALSE;
	if (buf->len < SECRET_MAX)
		g_string_append_len(buf, chunk, MIN((gsize)n, SECRET_MAX - buf->len));
	return TRUE;
}

char *
secret_command(const char *key, const char *command, int timeout, GError **err)
{
	const char *argv[] = { "/bin/sh", "-c", command, NULL };
	g_autoptr(GError) e = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GString) errs = g_string_new(NULL);
	gint64 until = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
	gboolean out_open = TRUE, err_open = TRUE, timed_out = FALSE;
	int fd_out = -1, fd_err = -1, status = 0;
	GPid pid;

	if (!command || !*command) {
		g_set_error(err, SECRET_ERROR, 0, "%s: empty command", key);
		return NULL;
	}
	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
	    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, own_group, NULL, &pid, NULL,
	    &fd_out, &fd_err, &e)) {
		g_set_error(err, SECRET_ERROR, 0, "%s: unable to run /bin/sh: %s", key, e->message);
		return NULL;
	}
	while (out_open || err_open) {
		struct pollfd p[2] = { { out_open ? fd_out : -1, POLLIN, 0 },
		    { err_open ? fd_err : -1, POLLIN, 0 } };
		gint64 left = until - g_get_monotonic_time();
		int rc;

		if (left <= 0) {
			timed_out = TRUE;
			break;
		}
		rc = poll(p, 2, (int)MIN(left / 1000 + 1, 1000));
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (out_open && p[0].revents)
			out_open = drain(fd_out, out);
		if (err_open && p[1].revents)
			err_open = drain(fd_err, errs);
	}
	close(fd_out);
	close(fd_err);
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	g_spawn_close_pid(pid);

	if (timed_out) {
		explicit_bzero(out->str, out->len);
		g_set_error(err, SECRET_ERROR, ETIMEDOUT, "%s: the command ran longer than %ds: killed",
		    key, timeout);
		return NULL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_autofree char *why = printable(first_line(errs->str), STDERR_KEEP);

		explicit_bzero(out->str, out->len);
		if (WIFSIGNALED(status))
			g_set_error(err, SECRET_ERROR, 0, "%s: the command was killed by signal %d%s%s", key,
			    WTERMSIG(status), *why ? ": " : "", why);
		else
			g_set_error(err, SECRET_ERROR, 0, "%s: the command exited with status %d%s%s", key,
			    WEXITSTATUS(status), *why ? ": " : "", why);
		return NULL;
	}
	first_line(out->str);
	if (out->str[0] == '\0') {
		g_set_error(err, SECRET_ERROR, 0, "%s: the command printed nothing (exit status 0)", key);
		return NULL;
	}
	return g_strdup(out->str);
}

char *
secret_get(const char *file, const char *command, GError **err)
{
	gboolean has_file = file && *file, has_cmd = command && *command;
	g_autoptr(GError) e = NULL;
	char *s;

	if (has_file == has_cmd) {
		g_set_error(err, SECRET_ERROR, 0, has_file ?
		    "both password_file and password_command are set: use one" :
		    "neither password_file nor password_command is set");
		return NULL;
	}
	if (has_cmd)
		return secret_command("password_command", command, SECRET_COMMAND_TIMEOUT, err);
	s = secret_read(file, &e);
	if (!s)
		g_set_error(err, SECRET_ERROR, 0, "password_file %s", e->message);
	return s;
}

char *
secret_token(const char *command, GError **err)
{
	return secret_command("oauth2_token_command", command, SECRET_COMMAND_TIMEOUT, err);
}

gboolean
account_secret_is_token(const struct config_account *a, enum secret_use use)
{
	if (use == SECRET_SMTP && a->smtp_password_file && *a->smtp_password_file)
		return FALSE;
	return a->oauth2_token_command && *a->oauth2_token_command;
}

char *
account_secret(const struct config_account *a, enum secret_use use, GError **err)
{
	if (use == SECRET_SMTP && a->smtp_password_file && *a->smtp_password_file)
		return secret_get(a->smtp_password_file, NULL, err);
	if (account_secret_is_token(a, use))
		return secret_token(a->oauth2_token_command, err);
	return secret_get(a->password_file, a->password_command, err);
}

void
secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	g_free(s);
}
