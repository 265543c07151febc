/*
 * rematch - after a UIDVALIDITY change, what the Message-IDs say.
 *
 * The server renumbered the folder; the old mark means nothing.  Its
 * messages are matched by Message-ID against what routed has stored for the
 * account: a match is acknowledged already, the rest is to fetch.  The new
 * mark is the highest uid below which every message matched (so the first
 * unmatched one, and all after it, are listed again); matches above it are
 * done as they are listed.  When fewer than half of the folder's messages
 * match, the folder is likely another one (or was rebuilt from elsewhere),
 * and guessing would fetch it all again as new mail: the account stops
 * instead and says so (mbsync's rule).  With after_fetch = move or delete
 * the folder holds only what has not been acknowledged yet, so few matches
 * are expected and the rule does not apply.
 */
#include "fetchd.h"

#include <string.h>

void
rematch_plan(const guint32 *uids, const gboolean *matched, guint n, gboolean half_rule,
    struct rematch *out)
{
	gboolean gap = FALSE;

	memset(out, 0, sizeof *out);
	out->above = g_array_new(FALSE, FALSE, sizeof(guint32));
	out->total = n;
	for (guint i = 0; i < n; i++) {
		if (!matched[i]) {
			gap = TRUE;
			continue;
		}
		out->matched++;
		if (!gap)
			out->mark = uids[i];
		else
			g_array_append_val(out->above, uids[i]);
	}
	out->refuse = half_rule && n > 0 && out->matched * 2 < n;
}

void
rematch_clear(struct rematch *r)
{
	if (r->above)
		g_array_unref(r->above);
	memset(r, 0, sizeof *r);
}
