/*
 * file - durable writes: see file.h.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

gboolean
file_write_all(int fd, const void *p, gsize len)
{
	const char *at = p;

	while (len > 0) {
		ssize_t n = write(fd, at, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		if (n == 0) {
			errno = EIO;
			return FALSE;
		}
		at += n;
		len -= (gsize)n;
	}
	return TRUE;
}

gboolean
file_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved;

	if (fd < 0)
		return FALSE;
	if (fsync(fd) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return FALSE;
	}
	close(fd);
	return TRUE;
}
