/*
 * session - agents' sessions: a random token each, ended by logout or by
 * session_idle seconds without a request.
 *
 * The table keeps the SHA-256 of each token rather than the token, so that
 * neither a memory dump nor the timing of a hash-table lookup gives one away.
 */
#include "agentd.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#define TOKEN_BYTES	32

struct session {
	char *agent;
	gint64 last;		/* seconds, sessions_now() */
};

struct sessions {
	GMutex lock;
	GHashTable *by_hash;	/* sha256(token) -> struct session */
	int idle;
};

/* session_free - free one session */
static void
session_free(gpointer p)
{
	struct session *s = p;

	g_free(s->agent);
	g_free(s);
}

struct sessions *
sessions_new(int idle_s)
{
	struct sessions *ss = g_new0(struct sessions, 1);

	g_mutex_init(&ss->lock);
	ss->by_hash = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, session_free);
	ss->idle = idle_s;
	return ss;
}

void
sessions_free(struct sessions *ss)
{
	if (!ss)
		return;
	g_hash_table_unref(ss->by_hash);
	g_mutex_clear(&ss->lock);
	g_free(ss);
}

void
sessions_set_idle(struct sessions *ss, int idle_s)
{
	g_mutex_lock(&ss->lock);
	ss->idle = idle_s;
	g_mutex_unlock(&ss->lock);
}

gint64
sessions_now(void)
{
	return g_get_monotonic_time() / G_USEC_PER_SEC;
}

/* session_token - 32 random bytes as 64 hex digits */
char *
session_token(void)
{
	guchar raw[TOKEN_BYTES];
	size_t got = 0;
	GString *hex = g_string_sized_new(2 * TOKEN_BYTES);

	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* no randomness, no sessions: nothing sensible is left to do */
			log_fatal(EX_OSERR, "unable to read random bytes: %s", g_strerror(errno));
		}
		got += n;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		g_string_append_printf(hex, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	return g_string_free(hex, FALSE);
}

gboolean
session_valid_token(const char *s)
{
	size_t n = 0;

	if (!s)
		return FALSE;
	for (; s[n]; n++)
		if (!g_ascii_isxdigit(s[n]) || g_ascii_isupper(s[n]) || n >= 2 * TOKEN_BYTES)
			return FALSE;
	return n == 2 * TOKEN_BYTES;
}

/* token_hash - the key a token is kept under: its SHA-256 */
static char *
token_hash(const char *token)
{
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

char *
session_create(struct sessions *ss, const char *agent, gint64 now)
{
	char *token = session_token();
	struct session *s = g_new0(struct session, 1);

	s->agent = g_strdup(agent);
	s->last = now;
	g_mutex_lock(&ss->lock);
	g_hash_table_replace(ss->by_hash, token_hash(token), s);
	g_mutex_unlock(&ss->lock);
	return token;
}

/* find - the live session of token, under the lock; an idle one is dropped */
static struct session *
find(struct sessions *ss, const char *token, gint64 now)
{
	g_autofree char *h = NULL;
	struct session *s;

	if (!session_valid_token(token))
		return NULL;
	h = token_hash(token);
	s = g_hash_table_lookup(ss->by_hash, h);
	if (s && now - s->last >= ss->idle) {
		g_hash_table_remove(ss->by_hash, h);
		s = NULL;
	}
	return s;
}

char *
session_lookup(struct sessions *ss, const char *token, gint64 now)
{
	struct session *s;
	char *agent = NULL;

	g_mutex_lock(&ss->lock);
	s = find(ss, token, now);
	if (s) {
		if (now > s->last)
			s->last = now;
		agent = g_strdup(s->agent);
	}
	g_mutex_unlock(&ss->lock);
	return agent;
}

gboolean
session_alive(struct sessions *ss, const char *token, gint64 now)
{
	gboolean alive;

	g_mutex_lock(&ss->lock);
	alive = find(ss, token, now) != NULL;
	g_mutex_unlock(&ss->lock);
	return alive;
}

void
session_end(struct sessions *ss, const char *token)
{
	g_autofree char *h = NULL;

	if (!session_valid_token(token))
		return;
	h = token_hash(token);
	g_mutex_lock(&ss->lock);
	g_hash_table_remove(ss->by_hash, h);
	g_mutex_unlock(&ss->lock);
}

/* is_agent - g_hash_table_foreach_remove: the sessions of one agent */
static gboolean
is_agent(gpointer key, gpointer value, gpointer agent)
{
	const struct session *s = value;

	return strcmp(s->agent, agent) == 0;
}

guint
sessions_end_agent(struct sessions *ss, const char *agent)
{
	guint n;

	g_mutex_lock(&ss->lock);
	n = g_hash_table_foreach_remove(ss->by_hash, is_agent, (gpointer)agent);
	g_mutex_unlock(&ss->lock);
	return n;
}

GPtrArray *
sessions_expire(struct sessions *ss, gint64 now)
{
	GPtrArray *gone = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) left = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter it;
	gpointer k, v;

	g_mutex_lock(&ss->lock);
	g_hash_table_iter_init(&it, ss->by_hash);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct session *s = v;

		if (now - s->last >= ss->idle) {
			gboolean listed = FALSE;

			for (guint i = 0; i < gone->len && !listed; i++)
				listed = strcmp(gone->pdata[i], s->agent) == 0;
			if (!listed)
				g_ptr_array_add(gone, g_strdup(s->agent));
			g_hash_table_iter_remove(&it);
		}
	}
	/* an agent with another live session (a second tab) stays logged in */
	g_hash_table_iter_init(&it, ss->by_hash);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_hash_table_add(left, ((struct session *)v)->agent);
	for (guint i = gone->len; i > 0; i--)
		if (g_hash_table_contains(left, gone->pdata[i - 1]))
			g_ptr_array_remove_index(gone, i - 1);
	g_mutex_unlock(&ss->lock);
	return gone;
}
