/*
 * retry - when to try a failing server again, and when to say so.
 *
 * The delay starts at RETRY_FIRST seconds and doubles up to RETRY_MAX, less
 * up to a fifth at random so that many fetchd processes that lost the same
 * server do not come back at the same instant.  A cause is logged when it
 * differs from the last one logged; the recovery is logged once.
 *
 * A refused login is different: trying a wrong password every few seconds
 * gets an account locked by its provider.  After one, the delay starts at
 * RETRY_AUTH_FIRST and doubles up to RETRY_AUTH_MAX, and only a login that
 * works (or a reload) starts it over.
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
retry_auth_delay(int n)
{
	int d = RETRY_AUTH_FIRST;

	for (int i = 1; i < n && d < RETRY_AUTH_MAX; i++)
		d *= 2;
	return MIN(d, RETRY_AUTH_MAX);
}

/* note - cause is the one to log next time it differs */
static void
note(struct retry *r, const char *cause, gboolean *changed)
{
	*changed = !r->cause || strcmp(r->cause, cause) != 0;
	if (*changed) {
		g_free(r->cause);
		r->cause = g_strdup(cause);
	}
}

int
retry_auth_failed(struct retry *r, const char *cause, gboolean *changed)
{
	note(r, cause, changed);
	if (r->auth_failures < 64)
		r->auth_failures++;
	return retry_auth_delay(r->auth_failures);
}

int
retry_failed(struct retry *r, const char *cause, gboolean *changed)
{
	note(r, cause, changed);
	if (r->failures < 64)
		r->failures++;
	return retry_delay(r->failures, g_random_double());
}

gboolean
retry_connected(struct retry *r)
{
	gboolean news = !r->ever_ok || r->cause != NULL;

	r->ever_ok = TRUE;
	r->auth_failures = 0;
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
	r->auth_failures = 0;
	r->ever_ok = FALSE;
}
