/*
 * spool.c - the raw messages, appended to segment files beside the database.
 *
 * A raw message is most of what routed writes (tens of KB against a few
 * hundred bytes of metadata), and it is written once and never changed.  In
 * SQLite it was written twice (the WAL, then the checkpoint), read back once
 * and checksummed on the way; here it is appended to the current segment
 * (DIR/00000001, DIR/00000002, ...; the next one once a message would take
 * it past the size given, SPOOL_SEGMENT_MAX for routed's) and
 * its row in messages says where: segment, offset, length.
 *
 * Durability follows the database's: store_commit() calls spool_sync()
 * before COMMIT, so a committed row never points at bytes the disk may not
 * have.  What a crash or a rolled-back savepoint leaves behind is bytes no
 * row points at, at the end of a segment: never read, and a message that was
 * not acknowledged comes again from fetchd.
 */
#include "routed.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_NAME	"%08u"

struct spool {
	char *dir;
	guint segment;		/* the one appended to */
	int fd;			/* its descriptor, O_APPEND */
	guint64 end;		/* its length: where the next message goes */
	guint64 max;		/* a segment's length past which the next one starts */
	gboolean dirty;		/* appended to since the last spool_sync */
};

static gboolean
fail(GError **err, int e, const char *what, const char *path)
{
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s %s: %s", what, path,
	    g_strerror(e));
	return FALSE;
}

static char *
segment_path(struct spool *sp, guint segment)
{
	char name[16];

	g_snprintf(name, sizeof name, SEGMENT_NAME, segment);
	return g_build_filename(sp->dir, name, NULL);
}

/* segment_open - make segment the one appended to (created if need be) */
static gboolean
segment_open(struct spool *sp, guint segment, GError **err)
{
	g_autofree char *path = segment_path(sp, segment);
	gboolean created = !g_file_test(path, G_FILE_TEST_EXISTS);
	struct stat sb;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return fail(err, errno, "cannot open", path);
	if (fstat(fd, &sb) != 0) {
		int e = errno;

		close(fd);
		return fail(err, e, "cannot stat", path);
	}
	if (created && !file_sync_dir(sp->dir)) {
		int e = errno;

		close(fd);
		return fail(err, e, "cannot sync", sp->dir);
	}
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = fd;
	sp->segment = segment;
	sp->end = (guint64)sb.st_size;
	return TRUE;
}

struct spool *
spool_open(const char *dir, guint64 segment_max, GError **err)
{
	g_autoptr(spool) sp = g_new0(struct spool, 1);
	g_autoptr(GDir) d = NULL;
	const char *name;
	guint last = 1;

	sp->dir = g_strdup(dir);
	sp->fd = -1;
	sp->max = segment_max;
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_autofree char *parent = g_path_get_dirname(dir);

		if (g_mkdir_with_parents(dir, 0700) != 0) {
			fail(err, errno, "cannot create", dir);
			return NULL;
		}
		if (!file_sync_dir(parent)) {
			fail(err, errno, "cannot sync", parent);
			return NULL;
		}
	}
	if (!(d = g_dir_open(dir, 0, err)))
		return NULL;
	/* the highest-numbered segment is the one to go on with */
	while ((name = g_dir_read_name(d))) {
		guint64 n;

		if (strlen(name) == 8 && g_ascii_string_to_unsigned(name, 10, 1, G_MAXUINT32,
		    &n, NULL) && n > last)
			last = (guint)n;
	}
	if (!segment_open(sp, last, err))
		return NULL;
	return g_steal_pointer(&sp);
}

void
spool_close(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	g_free(sp->dir);
	g_free(sp);
}

gboolean
spool_append(struct spool *sp, GBytes *raw, struct spool_ref *ref, GError **err)
{
	gsize len;
	const char *p = g_bytes_get_data(raw, &len);

	/* a full segment: make sure of it, then start the next one */
	if (sp->end > 0 && sp->end + len > sp->max) {
		if (!spool_sync(sp, err) || !segment_open(sp, sp->segment + 1, err))
			return FALSE;
	}
	if (!file_write_all(sp->fd, p, len)) {
		int e = errno;
		g_autofree char *path = segment_path(sp, sp->segment);
		struct stat sb;

		/* what did get written is garbage past the end no row points at */
		if (fstat(sp->fd, &sb) == 0)
			sp->end = (guint64)sb.st_size;
		return fail(err, e, "cannot write to", path);
	}
	sp->dirty = TRUE;
	ref->segment = sp->segment;
	ref->offset = sp->end;
	ref->length = len;
	sp->end += len;
	return TRUE;
}

gboolean
spool_sync(struct spool *sp, GError **err)
{
	if (!sp->dirty)
		return TRUE;
	if (fdatasync(sp->fd) != 0) {
		g_autofree char *path = segment_path(sp, sp->segment);

		return fail(err, errno, "cannot sync", path);
	}
	sp->dirty = FALSE;
	return TRUE;
}

GBytes *
spool_read(struct spool *sp, const struct spool_ref *ref, GError **err)
{
	g_autofree char *path = segment_path(sp, ref->segment);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	gsize done = 0;

	if (fd < 0) {
		fail(err, errno, "cannot open", path);
		return NULL;
	}
	buf = g_malloc(ref->length ? ref->length : 1);
	while (done < ref->length) {
		ssize_t n = pread(fd, buf + done, ref->length - done, (off_t)(ref->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
				    "%s ends before offset %" G_GUINT64_FORMAT " + %" G_GSIZE_FORMAT,
				    path, ref->offset, ref->length);
			else
				fail(err, errno, "cannot read", path);
			close(fd);
			g_free(buf);
			return NULL;
		}
		done += (gsize)n;
	}
	close(fd);
	return g_bytes_new_take(buf, ref->length);
}
