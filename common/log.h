/* log - one line per event on stderr, the way svlogd wants it */
#ifndef POSTROOM_LOG_H
#define POSTROOM_LOG_H

#include <glib.h>

/* Exit statuses, from <sysexits.h>. */
#include <sysexits.h>

void log_init(const char *prog, const char *instance);
const char *log_prog(void);
void log_debug(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
G_NORETURN void log_fatal(int status, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* log_format - the line log_* would write, without the newline (for tests) */
char *log_format(const char *level, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);

#endif
