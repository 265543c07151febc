/*
 * state - how far an account has got: STATE_DIR/fetchd/ACCOUNT.state
 *
 *	# fetchd state: ...			IMAP
 *	uidvalidity=1700000000
 *	uid=42
 *	acked=44:45,50				optional
 *	pending=40:45				optional
 *
 *	# fetchd state: ...			POP3
 *	protocol=pop3
 *	uidl=000001a94f1e3b2c			one per line
 *
 * uid is the mark: every message of the folder with a uid up to it has been
 * acknowledged by routed; acked lists those above it acknowledged already
 * (acks out of order, or matched after a UIDVALIDITY change), so a restart
 * does not fetch them again; pending lists acknowledged uids whose
 * after_fetch (seen, move, delete) has not been done yet.  A POP3 account
 * keeps the UIDLs acknowledged that were still on the server at the last
 * look.  The file is replaced atomically (temporary file, fsync, rename,
 * fsync of the directory), so after a crash it holds either the old state or
 * the new one, never a torn line.
 */
#include "fetchd.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

G_DEFINE_QUARK(postroom-state-error, state_error)

#define STATE_FILE_MAX	(64 << 20)	/* a POP3 maildrop of a million messages fits */

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

/* cmp_u32 - order of guint32 */
static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;

	return x < y ? -1 : x > y;
}

/* uid_set - "5:9,12" into uids (sorted, unique); FALSE with err */
static gboolean
uid_set(const char *path, int line, const char *key, const char *s, GArray **out,
    GError **err)
{
	g_auto(GStrv) parts = g_strsplit(s, ",", -1);
	g_autoptr(GArray) uids = g_array_new(FALSE, FALSE, sizeof(guint32));

	for (char **p = parts; *p; p++) {
		char *colon = strchr(*p, ':');
		guint32 a, b;

		if (colon)
			*colon = '\0';
		if (!value(path, line, key, *p, 1, &a, err)
		    || !value(path, line, key, colon ? colon + 1 : *p, 1, &b, err))
			return FALSE;
		if (b < a || (guint64)uids->len + (b - a) >= STATE_FILE_MAX) {
			g_set_error(err, STATE_ERROR, 0, "%s: line %d: %s: bad range", path, line, key);
			return FALSE;
		}
		for (guint64 u = a; u <= b; u++) {
			guint32 v = (guint32)u;

			g_array_append_val(uids, v);
		}
	}
	g_array_sort(uids, cmp_u32);
	*out = g_steal_pointer(&uids);
	return TRUE;
}

void
state_clear(struct state *st)
{
	if (st->acked)
		g_array_unref(st->acked);
	if (st->pending)
		g_array_unref(st->pending);
	if (st->uidls)
		g_ptr_array_unref(st->uidls);
	memset(st, 0, sizeof *st);
}

/* valid_uidl - a UIDL as RFC 1939 has it: 1 to 70 characters 0x21..0x7e */
gboolean
state_valid_uidl(const char *s)
{
	gsize n = strlen(s);

	if (n < 1 || n > 70)
		return FALSE;
	for (const char *p = s; *p; p++)
		if ((guchar)*p < 0x21 || (guchar)*p > 0x7e)
			return FALSE;
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
		} else if ((strcmp(l, "acked") == 0 || strcmp(l, "pending") == 0) && !st->uidls) {
			GArray **set = strcmp(l, "acked") == 0 ? &st->acked : &st->pending;

			if (*set) {
				g_set_error(err, STATE_ERROR, 0, "%s: line %d: %s twice", path, i + 1, l);
				state_clear(st);
				return FALSE;
			}
			if (!uid_set(path, i + 1, l, eq + 1, set, err)) {
				state_clear(st);
				return FALSE;
			}
		} else if (strcmp(l, "protocol") == 0 && strcmp(eq + 1, "pop3") == 0
		    && !st->uidls && !seen_v && !seen_u && !st->acked && !st->pending) {
			st->uidls = g_ptr_array_new_with_free_func(g_free);
		} else if (strcmp(l, "uidl") == 0 && st->uidls) {
			if (!state_valid_uidl(eq + 1)) {
				g_set_error(err, STATE_ERROR, 0, "%s: line %d: not a UIDL", path, i + 1);
				state_clear(st);
				return FALSE;
			}
			g_ptr_array_add(st->uidls, g_strdup(eq + 1));
		} else {
			g_set_error(err, STATE_ERROR, 0, "%s: line %d: unknown key \"%s\"", path, i + 1, l);
			state_clear(st);
			return FALSE;
		}
	}
	if (st->uidls) {
		if (seen_v || seen_u) {
			g_set_error(err, STATE_ERROR, 0, "%s: an IMAP mark in a POP3 state file", path);
			state_clear(st);
			return FALSE;
		}
		return TRUE;
	}
	if (!seen_v || !seen_u) {
		g_set_error(err, STATE_ERROR, 0, "%s: %s is missing", path, seen_v ? "uid" : "uidvalidity");
		state_clear(st);
		return FALSE;
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

/* append_set - "key=5:9,12\n" for a non-empty set */
static void
append_set(GString *s, const char *key, const GArray *set)
{
	g_autofree char *text = NULL;
	guint used;

	if (!set || set->len == 0)
		return;
	text = imap_uid_set((const guint32 *)set->data, set->len, G_MAXSIZE, &used);
	g_string_append_printf(s, "%s=%s\n", key, text);
}

char *
state_format(const struct state *st)
{
	GString *s = g_string_new(NULL);

	if (st->uidls) {
		g_string_append(s, "# fetchd state: the UIDLs of the messages routed has acknowledged\n"
		    "# that are still on the server. Remove the file to fetch them all again.\n"
		    "protocol=pop3\n");
		for (guint i = 0; i < st->uidls->len; i++)
			g_string_append_printf(s, "uidl=%s\n", (const char *)st->uidls->pdata[i]);
		return g_string_free(s, FALSE);
	}
	g_string_append_printf(s, "# fetchd state: the folder's UIDVALIDITY and the mark (every uid up to\n"
	    "# it is acknowledged). Remove the file to fetch the whole folder again.\n"
	    "uidvalidity=%" G_GUINT32_FORMAT "\nuid=%" G_GUINT32_FORMAT "\n",
	    st->uidvalidity, st->uid);
	append_set(s, "acked", st->acked);
	append_set(s, "pending", st->pending);
	return g_string_free(s, FALSE);
}

gboolean
state_save(const char *path, const struct state *st, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
	g_autofree char *text = state_format(st);
	int fd;

	if (g_mkdir_with_parents(dir, 0750) != 0)
		return fail(err, "unable to create", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return fail(err, "unable to create", tmp);
	if (!file_write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
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
	if (!file_sync_dir(dir))
		return fail(err, "unable to fsync", dir);
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
