/*
 * idle - when to be in IMAP IDLE, and when to leave it.
 *
 * A pure decision over what the account knows, so that it can be tested
 * as a table: fetch.c gathers the facts, asks, and does what it is told.
 *
 *	not idling: enter when the server offers IDLE, the account allows it,
 *	the connection is up, everything listed has been fetched, no
 *	after_fetch waits to be done and no check is due;
 *	idling: leave at once for new mail (EXISTS), for after_fetch to do,
 *	when the check_interval's catch-up check is due, and after
 *	IDLE_RENEW (RFC 2177: servers may drop an IDLE after 30 minutes).
 */
#include "fetchd.h"

enum idle_do
idle_decide(const struct idle_view *v)
{
	if (!v->idling) {
		if (v->capable && v->enabled && v->connected && v->caught_up && !v->actions
		    && v->now < v->next_check)
			return IDLE_ENTER;
		return IDLE_STAY;
	}
	if (v->news)
		return IDLE_LEAVE_NEWS;
	if (v->actions)
		return IDLE_LEAVE_ACTIONS;
	if (v->now >= v->next_check)
		return IDLE_LEAVE_CHECK;
	if (v->now - v->since >= IDLE_RENEW)
		return IDLE_LEAVE_RENEW;
	return IDLE_STAY;
}
