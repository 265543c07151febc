/*
 * file - the two steps of writing a file durably that no library call
 * takes whole: every byte written despite short writes and signals, and a
 * directory synced so that a new name in it survives a power cut.
 *
 * Both leave errno set on failure, for the caller's own words.
 */
#ifndef POSTROOM_FILE_H
#define POSTROOM_FILE_H

#include <glib.h>

/* file_write_all - len bytes from p to fd; FALSE with errno */
gboolean file_write_all(int fd, const void *p, gsize len);

/* file_sync_dir - fsync the directory dir; FALSE with errno */
gboolean file_sync_dir(const char *dir);

#endif
