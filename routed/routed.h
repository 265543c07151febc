/*
 * routed - the one place with durable state.  It stores every parsed record
 * once (dedup by key), threads it into a conversation, finds or makes the
 * contact, queues the conversation in its group and hands it to an agent;
 * only after the transaction has committed does it acknowledge the key.
 *
 *	store.c		the SQLite database: opening, schema, statements, rows
 *	spool.c		the raw messages, in segment files beside the database
 *	thread.c	a record in: dedup, contact, conversation
 *	route.c		queues and agents: assignment, login, state, disposition
 *	control.c	agentd's requests (req.1 -> rep.1)
 *	routed.c	the sockets around all of that, for main() and the tests
 *
 * SECURITY: everything that comes over the wire (records from parsed,
 * requests from agentd) is untrusted: it is type-checked field by field and
 * only ever reaches SQLite through bound parameters.  A record or request
 * that does not make sense is logged and dropped or refused, never asserted.
 * No message body or raw message is ever logged.
 *
 * Private to routed/.
 */
#ifndef POSTROOM_ROUTED_H
#define POSTROOM_ROUTED_H

#include <glib.h>
#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#include "wire.h"
#include "zsock.h"

#define ROUTED_BATCH	256	/* records stored per transaction, at most */
#define ROUTED_DB_NAME	"postroom.db"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/*
 * spool.c
 */

#define SPOOL_SEGMENT_MAX	((guint64)1 << 30)	/* bytes a segment grows to */

/* where a raw message is: a row of messages keeps the three */
struct spool_ref {
	guint segment;
	guint64 offset;
	gsize length;
};

/* spool_open - the segments in dir (created if need be), appending to the
 * last one; a message that would take a segment past segment_max bytes
 * starts the next one (SPOOL_SEGMENT_MAX) */
struct spool *spool_open(const char *dir, guint64 segment_max, GError **err);
void spool_close(struct spool *sp);
typedef struct spool spool;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(spool, spool_close)

/* spool_append - write raw at the end of the current segment; *ref says
 * where.  Durable only after spool_sync(). */
gboolean spool_append(struct spool *sp, GBytes *raw, struct spool_ref *ref, GError **err);

/* spool_sync - everything appended so far on disk (fdatasync) */
gboolean spool_sync(struct spool *sp, GError **err);

/* spool_read - the bytes ref points at */
GBytes *spool_read(struct spool *sp, const struct spool_ref *ref, GError **err);

/*
 * store.c
 */

/* the newest schema this routed knows (PRAGMA user_version) */
#define STORE_SCHEMA_VERSION 2

/* the raw messages' directory: the database's path and this */
#define STORE_SPOOL_SUFFIX	"-raw"

struct store {
	sqlite3 *db;
	char *path;
	struct spool *spool;		/* raw messages (path + STORE_SPOOL_SUFFIX) */
	GHashTable *stmts;		/* SQL text -> prepared statement */
	gint64 (*clock)(void);		/* microseconds since the epoch; tests set it */
};

struct store *store_open(const char *path, GError **err);
void store_close(struct store *st);
typedef struct store store;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(store, store_close)

/* store_query - the cached statement for sql with its parameters bound as
 * types says, one letter each: 's' const char * (NULL binds NULL), 'i'
 * gint64, 'I' gint64 (0 binds NULL), 'd' int and 'j' json_t *
 * (stored as compact JSON text; NULL binds NULL).  Step it with store_step;
 * NULL with err set on failure. */
sqlite3_stmt *store_query(struct store *st, GError **err, const char *sql, const char *types,
    ...);
/* store_step - SQLITE_ROW, SQLITE_DONE, or -1 with err set (the statement reset) */
int store_step(struct store *st, sqlite3_stmt *s, GError **err);
/* store_run - store_query, then step it to the end */
gboolean store_run(struct store *st, GError **err, const char *sql, const char *types, ...);
/* store_int - the first column of the first row as an integer: 1 with *out
 * set, 0 when there is no row or it is NULL, -1 with err set */
int store_int(struct store *st, gint64 *out, GError **err, const char *sql, const char *types,
    ...);

/* A statement reset (not finalized) when the variable goes out of scope,
 * so no read stays open: g_autoptr(store_cursor) s = store_query(...). */
typedef sqlite3_stmt store_cursor;
void store_cursor_reset(sqlite3_stmt *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(store_cursor, store_cursor_reset)

gboolean store_begin(struct store *st, GError **err);
gboolean store_commit(struct store *st, GError **err);
void store_rollback(struct store *st);
gboolean store_savepoint(struct store *st, GError **err);
gboolean store_release(struct store *st, GError **err);
void store_rollback_savepoint(struct store *st);
/* TRUE while a transaction is open (SQLite rolls some errors back itself) */
gboolean store_in_transaction(struct store *st);

/* store_now - the clock as "YYYY-MM-DDTHH:MM:SS.ffffffZ": fixed width, so
 * text order is time order */
char *store_now(struct store *st);
char *store_time_format(gint64 usec);

/* column helpers: NULL-safe text, JSON text parsed (an empty array when
 * unparsable), text as a JSON string or null */
const char *store_col_str(sqlite3_stmt *s, int col);
json_t *store_col_json(sqlite3_stmt *s, int col);
json_t *store_col_jstr(sqlite3_stmt *s, int col);
json_t *store_col_jint(sqlite3_stmt *s, int col);

/* One conversation row. */
struct conv {
	gint64 id;
	char *account;
	char *group;
	gint64 contact;			/* 0: none */
	char *subject;
	char *status;			/* "queued", "assigned", "closed" */
	char *agent;			/* NULL: none */
	char *disposition;
	char *queued_at;
};
void conv_clear(struct conv *c);
/* store_conv_get - 1 found, 0 not found, -1 with err set */
int store_conv_get(struct store *st, gint64 id, struct conv *c, GError **err);

/* store_message_add - insert one record as a message row of conversation,
 * with its raw bytes (parts[0]) and its attachments' metadata (their bytes
 * stay in the raw message, found by "part"): a reply's payload as it
 * comes, a parsed.1 record's without its text body frame (thread_store
 * moves that into rec).  The record must have passed
 * record_check.  The message's id, or -1 with err set. */
gint64 store_message_add(struct store *st, json_t *rec, const char *key, const char *account,
    const char *direction, gint64 conversation, gint64 contact, const char *agent,
    GPtrArray *parts, GError **err);

/* store_message_raw - message id's raw bytes, from the spool (or the raw
 * column of a row stored before it); NULL with err set */
GBytes *store_message_raw(struct store *st, gint64 id, GError **err);

/* store_conv_json - the conversation object of docs/wire.md; NULL with
 * err unset when there is no such conversation */
json_t *store_conv_json(struct store *st, gint64 id, GError **err);

#define STORE_ERROR (store_error_quark())
GQuark store_error_quark(void);

/*
 * Errors of requests and records (routed.c), one code per wire.md error.
 */
enum routed_error {
	ROUTED_ERROR_BAD_REQUEST,	/* also: a record that makes no sense */
	ROUTED_ERROR_NOT_FOUND,
	ROUTED_ERROR_FORBIDDEN,
	ROUTED_ERROR_BAD_DISPOSITION,
	ROUTED_ERROR_NOT_LOGGED_IN,
};
#define ROUTED_ERROR (routed_error_quark())
GQuark routed_error_quark(void);
/* routed_error_code - the wire's name of an error: "not_found", ...;
 * "internal" for anything not of ROUTED_ERROR (a database error) */
const char *routed_error_code(const GError *e);

/* Events for agents (event.1), collected during a transaction and published
 * only after it has committed. */
struct event {
	char *agent;
	json_t *meta;
};
GPtrArray *events_new(void);
/* event_add - queue an event; steals meta */
void event_add(GPtrArray *events, const char *agent, json_t *meta);

/*
 * thread.c
 */

struct thread_result {
	gboolean duplicate;		/* the key was already stored */
	gint64 message;
	gint64 conversation;
	char *subject;			/* the conversation's, for the tap */
};
void thread_result_clear(struct thread_result *r);

/* record_check - is rec (parsed.1 meta) with its payload frames (the raw
 * message, the text body, nothing else) something routed can store?
 * FALSE with err (ROUTED_ERROR_BAD_REQUEST) if not. */
gboolean record_check(json_t *rec, GPtrArray *parts, GError **err);

/* thread_store - store one parsed.1 record inside the caller's transaction:
 * nothing when its key is already stored (res->duplicate), otherwise the
 * message, its contact, and its place in a conversation: the one holding a
 * message it answers (In-Reply-To, References), reopened if closed, or a
 * new one in the account's group; rec's "text_body" is set from frame 1 on
 * the way.  FALSE with err: ROUTED_ERROR for a record to drop, STORE_ERROR
 * for a database failure. */
gboolean thread_store(struct store *st, const struct config *cfg, json_t *rec, GPtrArray *parts,
    GPtrArray *events, struct thread_result *res, GError **err);

/* thread_contact - the contact of an address (lowercased), made when new;
 * 0 for an empty address, -1 with err set */
gint64 thread_contact(struct store *st, const char *addr, const char *name, GError **err);

/*
 * route.c - every function runs inside the caller's transaction
 */

/* route_assign - while a ready agent holding nothing serves a group with
 * queued work, give the oldest queued conversation of those groups to the
 * ready agent of its group who has waited longest (higher rank on a tie).
 * The number of assignments, or -1 with err set. */
int route_assign(struct store *st, const struct config *cfg, GPtrArray *events, GError **err);

gboolean route_login(struct store *st, const struct config *cfg, const char *agent,
    GError **err);
/* route_logout - the agent's conversation back to the queue, in its old place */
gboolean route_logout(struct store *st, const char *agent, GPtrArray *events, GError **err);
gboolean route_set_state(struct store *st, const char *agent, const char *state, GError **err);
/* route_agent - the agent's state and held conversation (0: none); FALSE
 * with ROUTED_ERROR_NOT_LOGGED_IN when the agent is not logged in */
gboolean route_agent(struct store *st, const char *agent, char **state, gint64 *conversation,
    GError **err);
/* route_held - the conversation, which the agent must hold (not_found,
 * forbidden otherwise) */
gboolean route_held(struct store *st, const char *agent, gint64 id, struct conv *c,
    GError **err);
/* route_dispose - close the conversation the agent holds with a disposition
 * of its group, record it, and free the agent */
gboolean route_dispose(struct store *st, const struct config *cfg, const char *agent, gint64 id,
    const char *disposition, GError **err);
/* route_reset - at start: every agent logged out (their sessions died with
 * the last run), their conversations back to the queue */
int route_reset(struct store *st, GPtrArray *events, GError **err);
/* route_sync - after a configuration change: agents no longer configured
 * are logged out */
int route_sync(struct store *st, const struct config *cfg, GPtrArray *events, GError **err);

/*
 * control.c
 */

/* control_handle - answer one req.1 (its meta and payload frames) with the
 * rep.1 meta; a transaction of its own, events added only when committed */
json_t *control_handle(struct store *st, const struct config *cfg, json_t *req,
    GPtrArray *parts, GPtrArray *events);

/*
 * routed.c
 */

struct routed {
	struct config *cfg;
	struct store *st;
	void *in;		/* PULL: parsed.1 from parsed */
	void *acks;		/* PUB: ack.1 to fetchd, topic the account */
	void *events;		/* PUB: event.1 to agentd, topic the agent */
	void *control;		/* ROUTER: req.1 from agentd */
	struct tap *tap;
};

/* routed_new - open the database, bind the sockets of cfg (taken over,
 * even on failure), log out the agents the last run left logged in */
struct routed *routed_new(struct config *cfg, void *ctx, GError **err);
void routed_free(struct routed *r);
/* routed_handle_input - take the records waiting (ROUTED_BATCH at most),
 * store them in one transaction, then acknowledge them and assign work;
 * the number of messages taken */
int routed_handle_input(struct routed *r);
/* routed_handle_control - answer the requests waiting; their number */
int routed_handle_control(struct routed *r);
/* routed_reload - use cfg (taken over) from now on and assign work again */
void routed_reload(struct routed *r, struct config *cfg);
/* routed_assign - run assignment in a transaction of its own, then publish */
void routed_assign(struct routed *r);

#endif
