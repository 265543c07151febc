/*
 * retry - when to try a failing server again, and when to say so.
 *
 * The delay starts at RETRY_FIRST seconds and doubles up to RETRY_MAX, less
 * up to a fifth at random so that many fetchd processes that lost the same
 * server do not come back at the same instant.  A cause is logged when it
 * differs from the last one logged; the recovery is logged once.
 */
#include "fetchd.h"

#include <string.h>

int
retry_delay(int n, double r)
{
	int d = RETRY_FIRST;

	for (int i = 1; i < n && d < RETRY_MAX; i++)
		d *= 2;
	if (d > RETRY_MAX)
		d = RETRY_MAX;
	return d - (int)(d / 5.0 * r);
}

int
retry_failed(struct retry *r, const char *cause, gboolean *changed)
{
	*changed = !r->cause || strcmp(r->cause, cause) != 0;
	if (*changed) {
		g_free(r->cause);
		r->cause = g_strdup(cause);
	}
	if (r->failures < 64)
		r->failures++;
	return retry_delay(r->failures, g_random_double());
}

gboolean
retry_connected(struct retry *r)
{
	gboolean news = !r->ever_ok || r->cause != NULL;

	r->ever_ok = TRUE;
	g_clear_pointer(&r->cause, g_free);
	return news;
}

void
retry_healthy(struct retry *r)
{
	r->failures = 0;
}

void
retry_reset(struct retry *r)
{
	g_clear_pointer(&r->cause, g_free);
	r->failures = 0;
	r->ever_ok = FALSE;
}
