/*
 * log - one line per event on stderr.
 *
 *	prog[instance]: level: what happened: details
 *
 * No timestamp: svlogd adds one.  Lines are cut at LOG_LINE_MAX bytes and
 * control characters (a CR or LF from a server's reply, say) become '?', so
 * one event is always one line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 1000

static char *log_name;
static gboolean log_debug_on;

void
log_init(const char *prog, const char *instance)
{
	g_free(log_name);
	if (instance && *instance)
		log_name = g_strdup_printf("%s[%s]", prog, instance);
	else
		log_name = g_strdup(prog);
	log_debug_on = g_getenv("POSTROOM_DEBUG") != NULL;
}

const char *
log_prog(void)
{
	return log_name ? log_name : "postroom";
}

char *
log_format(const char *level, const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	GString *line = g_string_sized_new(128);

	g_string_append_printf(line, "%s: %s: ", log_prog(), level);
	for (const char *p = msg; *p; p++)
		g_string_append_c(line, g_ascii_iscntrl(*p) ? '?' : *p);
	if (line->len > LOG_LINE_MAX) {
		gsize cut = LOG_LINE_MAX - 3;

		/* do not cut a UTF-8 sequence in two */
		while (cut > 0 && ((guchar)line->str[cut] & 0xC0) == 0x80)
			cut--;
		g_string_truncate(line, cut);
		g_string_append(line, "...");
	}
	return g_string_free(line, FALSE);
}

static void
emit(const char *level, const char *fmt, va_list ap)
{
	g_autofree char *line = log_format(level, fmt, ap);
	g_autofree char *out = g_strconcat(line, "\n", NULL);
	size_t len = strlen(out);

	/* one write(2), so lines from concurrent threads never interleave */
	if (write(STDERR_FILENO, out, len) < 0)
		return;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	emit("debug", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("warn", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("error", fmt, ap);
	va_end(ap);
}

void
log_fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("fatal", fmt, ap);
	va_end(ap);
	exit(status);
}
