/*
 * state - how far an account has got: STATE_DIR/fetchd/ACCOUNT.state
 *
 *	# fetchd state: ...
 *	uidvalidity=1700000000
 *	uid=42
 *
 * uid is the mark: every message of the folder with a uid up to it has been
 * acknowledged by routed.  The file is replaced atomically (temporary file,
 * fsync, rename, fsync of the directory), so after a crash it holds either
 * the old mark or the new one, never a torn line.
 */
#include "fetchd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

G_DEFINE_QUARK(postroom-state-error, state_error)

#define STATE_FILE_MAX	4096

char *
state_path(const char *state_dir, const char *account)
{
	g_autofree char *name = g_strconcat(account, ".state", NULL);

	return g_build_filename(state_dir, "fetchd", name, NULL);
}

/* value - a number from min to G_MAXUINT32 */
static gboolean
value(const char *path, int line, const char *key, const char *s, guint64 min, guint32 *out,
    GError **err)
{
	g_autoptr(GError) e = NULL;
	guint64 v;

	if (!g_ascii_string_to_unsigned(s, 10, min, G_MAXUINT32, &v, &e)) {
		g_set_error(err, STATE_ERROR, 0, "%s: line %d: %s: %s", path, line, key, e->message);
		return FALSE;
	}
	*out = (guint32)v;
	return TRUE;
}

gboolean
state_load(const char *path, struct state *st, GError **err)
{
	g_autofree char *data = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) e = NULL;
	gboolean seen_v = FALSE, seen_u = FALSE;
	gsize len;

	memset(st, 0, sizeof *st);
	if (!g_file_get_contents(path, &data, &len, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(err, STATE_ERROR, 0, "%s", e->message);
		return FALSE;
	}
	if (len > STATE_FILE_MAX || memchr(data, '\0', len)) {
		g_set_error(err, STATE_ERROR, 0, "%s: not a fetchd state file", path);
		return FALSE;
	}
	lines = g_strsplit(data, "\n", -1);
	for (int i = 0; lines[i]; i++) {
		char *l = g_strstrip(lines[i]);
		char *eq;

		if (*l == '\0' || *l == '#')
			continue;
		eq = strchr(l, '=');
		if (!eq) {
			g_set_error(err, STATE_ERROR, 0, "%s: line %d: expected key=value", path, i + 1);
			return FALSE;
		}
		*eq = '\0';
		g_strstrip(l);
		g_strstrip(eq + 1);
		if (strcmp(l, "uidvalidity") == 0) {
			if (!value(path, i + 1, l, eq + 1, 1, &st->uidvalidity, err))
				return FALSE;
			seen_v = TRUE;
		} else if (strcmp(l, "uid") == 0) {
			if (!value(path, i + 1, l, eq + 1, 0, &st->uid, err))
				return FALSE;
			seen_u = TRUE;
		} else {
			g_set_error(err, STATE_ERROR, 0, "%s: line %d: unknown key \"%s\"", path, i + 1, l);
			return FALSE;
		}
	}
	if (!seen_v || !seen_u) {
		g_set_error(err, STATE_ERROR, 0, "%s: %s is missing", path, seen_v ? "uid" : "uidvalidity");
		memset(st, 0, sizeof *st);
		return FALSE;
	}
	return TRUE;
}

/* write_all - every byte, or FALSE with errno */
static gboolean
write_all(int fd, const char *p, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		p += n;
		len -= n;
	}
	return TRUE;
}

/* fail - err from errno: "what path: reason" */
static gboolean
fail(GError **err, const char *what, const char *path)
{
	int saved = errno;

	g_set_error(err, STATE_ERROR, saved, "%s %s: %s", what, path, g_strerror(saved));
	errno = saved;
	return FALSE;
}

gboolean
state_save(const char *path, const struct state *st, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
	g_autofree char *text = NULL;
	int fd;

	text = g_strdup_printf("# fetchd state: the folder's UIDVALIDITY and the mark (every uid up to\n"
	    "# it is acknowledged). Remove the file to fetch the whole folder again.\n"
	    "uidvalidity=%" G_GUINT32_FORMAT "\nuid=%" G_GUINT32_FORMAT "\n",
	    st->uidvalidity, st->uid);
	if (g_mkdir_with_parents(dir, 0750) != 0)
		return fail(err, "unable to create", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return fail(err, "unable to create", tmp);
	if (!write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
		int saved = errno;

		close(fd);
		unlink(tmp);
		errno = saved;
		return fail(err, "unable to write", tmp);
	}
	if (close(fd) != 0) {
		unlink(tmp);
		return fail(err, "unable to write", tmp);
	}
	if (rename(tmp, path) != 0) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		return fail(err, "unable to rename to", path);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, "unable to open", dir);
	if (fsync(fd) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return fail(err, "unable to fsync", dir);
	}
	close(fd);
	return TRUE;
}

int
state_lock(const char *path, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *lock = g_strdup_printf("%s.lock", path);
	int fd;

	if (g_mkdir_with_parents(dir, 0750) != 0) {
		fail(err, "unable to create", dir);
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		fail(err, "unable to open", lock);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			g_set_error(err, STATE_ERROR, EWOULDBLOCK,
			    "%s is locked: another fetchd runs for this account", lock);
		else
			fail(err, "unable to lock", lock);
		close(fd);
		return -1;
	}
	return fd;
}
