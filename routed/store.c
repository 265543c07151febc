/*
 * store - routed's SQLite database: opened the durable way (WAL,
 * synchronous=FULL: an acknowledgement promises the message survives a power
 * cut), its schema and migrations, cached prepared statements, and the rows
 * routed writes and reads back.
 *
 * A message is stored once, as its raw bytes, in the spool beside the
 * database (spool.c; a row says where: raw_segment, raw_offset,
 * raw_length): an attachment row is its metadata and its "part"
 * (docs/wire.md), where its bytes are found in the raw message.  Rows stored
 * before schema 2 keep their bytes in the raw column.  With the raw bytes
 * out of the database, a new one keeps SQLite's 4 KB pages (PAGE_SIZE):
 * what a transaction changes is small rows and index entries, and a larger
 * page would be written whole to the WAL for each of them.
 *
 * Values reach SQL only through bound parameters; the only SQL text built
 * here is constant.
 */
#include "routed.h"

#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(postroom-store-error, store_error)

#define BUSY_MS	5000
#define PAGE_SIZE	"4096"	/* of a new database; an existing one keeps its own */

/*
 * The schema, one step per version: migrations[i] takes a database from
 * user_version i to i + 1, in one transaction.  Never edit a step that has
 * shipped: add the next one (ALTER TABLE ... ADD COLUMN ...).
 *
 * Times are UTC text, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (store_now), so that
 * ORDER BY on them is time order.  JSON columns hold compact JSON text.
 */
static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE contacts (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	addr TEXT NOT NULL UNIQUE,		-- lowercased\n"
	"	name TEXT,\n"
	"	created TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE agents (\n"
	"	id TEXT PRIMARY KEY,\n"
	"	state TEXT NOT NULL DEFAULT 'paused' CHECK (state IN ('paused', 'ready')),\n"
	"	logged_in INTEGER NOT NULL DEFAULT 0,\n"
	"	ready_since TEXT,			-- NULL unless ready\n"
	"	conversation INTEGER REFERENCES conversations (id)\n"
	");\n"
	"CREATE TABLE conversations (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	account TEXT NOT NULL,\n"
	"	\"group\" TEXT NOT NULL,\n"
	"	contact INTEGER REFERENCES contacts (id),\n"
	"	subject TEXT,\n"
	"	status TEXT NOT NULL CHECK (status IN ('queued', 'assigned', 'closed')),\n"
	"	agent TEXT REFERENCES agents (id),	-- holding it, or who closed it\n"
	"	disposition TEXT,\n"
	"	queued_at TEXT,\n"
	"	assigned_at TEXT,\n"
	"	closed_at TEXT,\n"
	"	last_message_at TEXT,\n"
	"	created TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX conversations_queue ON conversations (status, queued_at, id);\n"
	"CREATE INDEX conversations_contact ON conversations (contact);\n"
	"CREATE TABLE messages (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	\"key\" TEXT NOT NULL UNIQUE,\n"
	"	account TEXT NOT NULL,\n"
	"	uidvalidity INTEGER,\n"
	"	uid INTEGER,\n"
	"	direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),\n"
	"	conversation INTEGER NOT NULL REFERENCES conversations (id),\n"
	"	contact INTEGER REFERENCES contacts (id),	-- in: the sender; out: the customer\n"
	"	agent TEXT REFERENCES agents (id),		-- out: who wrote it\n"
	"	message_id TEXT,\n"
	"	in_reply_to TEXT,\n"
	"	\"references\" TEXT NOT NULL DEFAULT '[]',\n"
	"	subject TEXT,\n"
	"	from_name TEXT,\n"
	"	from_addr TEXT,\n"
	"	\"to\" TEXT NOT NULL DEFAULT '[]',\n"
	"	cc TEXT NOT NULL DEFAULT '[]',\n"
	"	reply_to TEXT NOT NULL DEFAULT '[]',\n"
	"	date TEXT,\n"
	"	date_iso_utc TEXT,\n"
	"	text_body TEXT,\n"
	"	text_body_source TEXT,\n"
	"	has_html INTEGER NOT NULL DEFAULT 0,\n"
	"	warnings TEXT NOT NULL DEFAULT '[]',\n"
	"	size INTEGER,\n"
	"	raw BLOB,\n"
	"	created TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX messages_message_id ON messages (message_id);\n"
	"CREATE INDEX messages_conversation ON messages (conversation, id);\n"
	"CREATE INDEX messages_contact ON messages (contact);\n"
	"CREATE TABLE attachments (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	message INTEGER NOT NULL REFERENCES messages (id),\n"
	"	position INTEGER NOT NULL,\n"
	"	filename TEXT,\n"
	"	content_type TEXT,\n"
	"	size INTEGER,\n"
	"	content_id TEXT,\n"
	"	inline INTEGER NOT NULL DEFAULT 0,\n"
	"	part INTEGER,			-- its leaf in the raw message's MIME walk\n"
	"	UNIQUE (message, position)\n"
	");\n"
	"CREATE TABLE dispositions (\n"
	"	id INTEGER PRIMARY KEY,\n"
	"	conversation INTEGER NOT NULL REFERENCES conversations (id),\n"
	"	agent TEXT NOT NULL,\n"
	"	\"group\" TEXT NOT NULL,\n"
	"	disposition TEXT NOT NULL,\n"
	"	at TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX dispositions_conversation ON dispositions (conversation);\n",
	/* 2: raw messages in the spool; older rows keep theirs in raw */
	"ALTER TABLE messages ADD COLUMN raw_segment INTEGER;\n"
	"ALTER TABLE messages ADD COLUMN raw_offset INTEGER;\n"
	"ALTER TABLE messages ADD COLUMN raw_length INTEGER;\n",
};
G_STATIC_ASSERT(G_N_ELEMENTS(migrations) == STORE_SCHEMA_VERSION);

static void
set_error(struct store *st, GError **err, const char *what)
{
	g_set_error(err, STORE_ERROR, sqlite3_extended_errcode(st->db), "%s: %s: %s", st->path,
	    what, sqlite3_errmsg(st->db));
}

/* exec - run constant SQL (no values in it) */
static gboolean
exec(struct store *st, const char *sql, GError **err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		g_set_error(err, STORE_ERROR, sqlite3_extended_errcode(st->db), "%s: %s", st->path,
		    msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return FALSE;
	}
	return TRUE;
}

static gboolean
migrate(struct store *st, GError **err)
{
	gint64 version = 0;

	if (store_int(st, &version, err, "PRAGMA user_version", "") < 0)
		return FALSE;
	if (version > STORE_SCHEMA_VERSION) {
		g_set_error(err, STORE_ERROR, 0,
		    "%s: schema version %" G_GINT64_FORMAT " is newer than this routed knows (%d)",
		    st->path, version, STORE_SCHEMA_VERSION);
		return FALSE;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		g_autofree char *bump = NULL;

		if (!store_begin(st, err))
			return FALSE;
		/* PRAGMA takes no parameters; the number is our own */
		bump = g_strdup_printf("PRAGMA user_version = %" G_GINT64_FORMAT, version + 1);
		if (!exec(st, migrations[version], err) || !exec(st, bump, err)
		    || !store_commit(st, err)) {
			store_rollback(st);
			g_prefix_error(err, "schema version %" G_GINT64_FORMAT ": ", version + 1);
			return FALSE;
		}
	}
	return TRUE;
}

static void
finalize(gpointer s)
{
	sqlite3_finalize(s);
}

struct store *
store_open(const char *path, GError **err)
{
	g_autoptr(store) st = g_new0(struct store, 1);
	g_autofree char *spool_dir = NULL;
	sqlite3_stmt *s;
	const char *mode;

	st->path = g_strdup(path);
	st->clock = g_get_real_time;
	st->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, finalize);
	spool_dir = g_strconcat(path, STORE_SPOOL_SUFFIX, NULL);
	if (!(st->spool = spool_open(spool_dir, SPOOL_SEGMENT_MAX, err)))
		return NULL;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
	    != SQLITE_OK) {
		set_error(st, err, "open");
		return NULL;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_MS);
	/* the page size first: it can be set only while the database is
	 * empty and not yet in WAL mode (on an existing one it does nothing) */
	if (!exec(st, "PRAGMA page_size = " PAGE_SIZE, err)
	    || !exec(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", err))
		return NULL;
	s = store_query(st, err, "PRAGMA journal_mode = WAL", "");
	if (!s || store_step(st, s, err) != SQLITE_ROW)
		return NULL;
	mode = store_col_str(s, 0);
	if (g_ascii_strcasecmp(mode, "wal") != 0) {
		g_set_error(err, STORE_ERROR, 0, "%s: cannot use WAL mode (journal_mode is %s)",
		    st->path, mode);
		sqlite3_reset(s);
		return NULL;
	}
	sqlite3_reset(s);
	if (!migrate(st, err))
		return NULL;
	return g_steal_pointer(&st);
}

void
store_close(struct store *st)
{
	if (!st)
		return;
	if (st->stmts)
		g_hash_table_destroy(st->stmts);
	if (st->db)
		sqlite3_close(st->db);
	spool_close(st->spool);
	g_free(st->path);
	g_free(st);
}

static sqlite3_stmt *
stmt(struct store *st, const char *sql, GError **err)
{
	sqlite3_stmt *s = g_hash_table_lookup(st->stmts, sql);

	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		set_error(st, err, "prepare");
		return NULL;
	}
	/* the key is the caller's string constant */
	g_hash_table_insert(st->stmts, (gpointer)sql, s);
	return s;
}

static sqlite3_stmt *
vquery(struct store *st, GError **err, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *s = stmt(st, sql, err);

	if (!s)
		return NULL;
	for (int i = 0; types[i]; i++) {
		int col = i + 1, rc = SQLITE_OK;

		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(s, col, v, -1, SQLITE_TRANSIENT) :
			    sqlite3_bind_null(s, col);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(s, col, va_arg(ap, gint64));
			break;
		case 'I': {
			gint64 v = va_arg(ap, gint64);

			rc = v ? sqlite3_bind_int64(s, col, v) : sqlite3_bind_null(s, col);
			break;
		}
		case 'd':
			rc = sqlite3_bind_int(s, col, va_arg(ap, int));
			break;
		case 'j': {
			json_t *v = va_arg(ap, json_t *);
			char *text;

			if (!v) {
				rc = sqlite3_bind_null(s, col);
				break;
			}
			text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			g_assert(text != NULL);
			rc = sqlite3_bind_text(s, col, text, -1, free);
			break;
		}
		default:
			g_assert_not_reached();
		}
		if (rc != SQLITE_OK) {
			set_error(st, err, "bind");
			return NULL;
		}
	}
	return s;
}

sqlite3_stmt *
store_query(struct store *st, GError **err, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *s;

	va_start(ap, types);
	s = vquery(st, err, sql, types, ap);
	va_end(ap);
	return s;
}

int
store_step(struct store *st, sqlite3_stmt *s, GError **err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	set_error(st, err, "step");
	sqlite3_reset(s);
	return -1;
}

gboolean
store_run(struct store *st, GError **err, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *s;
	int rc;

	va_start(ap, types);
	s = vquery(st, err, sql, types, ap);
	va_end(ap);
	if (!s)
		return FALSE;
	while ((rc = store_step(st, s, err)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	return rc == SQLITE_DONE;
}

int
store_int(struct store *st, gint64 *out, GError **err, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *s;
	int rc, found = 0;

	va_start(ap, types);
	s = vquery(st, err, sql, types, ap);
	va_end(ap);
	if (!s)
		return -1;
	rc = store_step(st, s, err);
	if (rc < 0)
		return -1;
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*out = sqlite3_column_int64(s, 0);
		found = 1;
	}
	sqlite3_reset(s);
	return found;
}

void
store_cursor_reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
}

gboolean
store_begin(struct store *st, GError **err)
{
	/* IMMEDIATE: take the write lock now, not half-way through */
	return exec(st, "BEGIN IMMEDIATE", err);
}

/* store_commit - the raw messages the rows point at are on disk first */
gboolean
store_commit(struct store *st, GError **err)
{
	return spool_sync(st->spool, err) && exec(st, "COMMIT", err);
}

void
store_rollback(struct store *st)
{
	if (store_in_transaction(st))
		exec(st, "ROLLBACK", NULL);
}

gboolean
store_savepoint(struct store *st, GError **err)
{
	return exec(st, "SAVEPOINT one", err);
}

gboolean
store_release(struct store *st, GError **err)
{
	return exec(st, "RELEASE one", err);
}

void
store_rollback_savepoint(struct store *st)
{
	if (store_in_transaction(st))
		exec(st, "ROLLBACK TO one; RELEASE one", NULL);
}

gboolean
store_in_transaction(struct store *st)
{
	return sqlite3_get_autocommit(st->db) == 0;
}

char *
store_time_format(gint64 usec)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
	g_autofree char *s = NULL;

	g_assert(dt != NULL);
	s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
	return g_strdup_printf("%s.%06dZ", s, (int)(usec % G_USEC_PER_SEC));
}

char *
store_now(struct store *st)
{
	return store_time_format(st->clock());
}

const char *
store_col_str(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

json_t *
store_col_json(sqlite3_stmt *s, int col)
{
	const char *text = store_col_str(s, col);
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	return v ? v : json_array();
}

json_t *
store_col_jstr(sqlite3_stmt *s, int col)
{
	const char *text = store_col_str(s, col);

	return text ? json_string(text) : json_null();
}

json_t *
store_col_jint(sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(s, col));
}

void
conv_clear(struct conv *c)
{
	g_free(c->account);
	g_free(c->group);
	g_free(c->subject);
	g_free(c->status);
	g_free(c->agent);
	g_free(c->disposition);
	g_free(c->queued_at);
	memset(c, 0, sizeof *c);
}

int
store_conv_get(struct store *st, gint64 id, struct conv *c, GError **err)
{
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT id, account, \"group\", contact, subject, status, agent, disposition, queued_at"
	    " FROM conversations WHERE id = ?", "i", id);
	int rc;

	if (!s)
		return -1;
	rc = store_step(st, s, err);
	if (rc != SQLITE_ROW)
		return rc < 0 ? -1 : 0;
	c->id = sqlite3_column_int64(s, 0);
	c->account = g_strdup(store_col_str(s, 1));
	c->group = g_strdup(store_col_str(s, 2));
	c->contact = sqlite3_column_int64(s, 3);
	c->subject = g_strdup(store_col_str(s, 4));
	c->status = g_strdup(store_col_str(s, 5));
	c->agent = g_strdup(store_col_str(s, 6));
	c->disposition = g_strdup(store_col_str(s, 7));
	c->queued_at = g_strdup(store_col_str(s, 8));
	return 1;
}

/* Reading a record: a field of the wrong type reads as absent. */

static const char *
rec_str(json_t *rec, const char *field)
{
	const char *v = json_string_value(json_object_get(rec, field));

	return v && *v ? v : NULL;
}

static gint64
rec_int(json_t *rec, const char *field, gint64 otherwise)
{
	json_t *v = json_object_get(rec, field);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : otherwise;
}

/* addresses - [{"name": str|null, "addr": str}], whatever else dropped */
static json_t *
addresses(json_t *rec, const char *field)
{
	json_t *in = json_object_get(rec, field), *out = json_array(), *v;
	size_t i;

	json_array_foreach(in, i, v) {
		const char *addr = json_string_value(json_object_get(v, "addr"));
		const char *name = json_string_value(json_object_get(v, "name"));

		if (!addr)
			continue;
		json_array_append_new(out, json_pack("{s:s?, s:s}", "name", name, "addr", addr));
	}
	return out;
}

/* strings - the strings of an array field, whatever else dropped */
static json_t *
strings(json_t *rec, const char *field)
{
	json_t *in = json_object_get(rec, field), *out = json_array(), *v;
	size_t i;

	json_array_foreach(in, i, v)
		if (json_is_string(v))
			json_array_append(out, v);
	return out;
}

gint64
store_message_add(struct store *st, json_t *rec, const char *key, const char *account,
    const char *direction, gint64 conversation, gint64 contact, const char *agent,
    GPtrArray *parts, GError **err)
{
	g_autoptr(json_t) to = addresses(rec, "to");
	g_autoptr(json_t) cc = addresses(rec, "cc");
	g_autoptr(json_t) reply_to = addresses(rec, "reply_to");
	g_autoptr(json_t) refs = strings(rec, "references");
	g_autoptr(json_t) warnings = strings(rec, "warnings");
	g_autofree char *now = store_now(st);
	GBytes *raw = parts && parts->len > 0 ? parts->pdata[0] : NULL;
	struct spool_ref ref = { 0 };
	json_t *atts = json_object_get(rec, "attachments"), *a;
	gint64 id, uidvalidity = rec_int(rec, "uidvalidity", -1), uid = rec_int(rec, "uid", -1);
	sqlite3_stmt *s;
	size_t i;

	if (raw && !spool_append(st->spool, raw, &ref, err))
		return -1;
	s = store_query(st, err,
	    "INSERT INTO messages (\"key\", account, uidvalidity, uid, direction, conversation,"
	    " contact, agent, message_id, in_reply_to, \"references\", subject, from_name,"
	    " from_addr, \"to\", cc, reply_to, date, date_iso_utc, text_body, text_body_source,"
	    " has_html, warnings, size, raw_segment, raw_offset, raw_length, created)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
	    " ?)",
	    "ssiisiIsssjsssjjjssssdjiiiis",
	    key, account, uidvalidity, uid, direction, conversation, contact, agent,
	    rec_str(rec, "message_id"), rec_str(rec, "in_reply_to"), refs,
	    json_string_value(json_object_get(rec, "subject")),
	    json_string_value(json_object_get(rec, "from_name")),
	    json_string_value(json_object_get(rec, "from_addr")), to, cc, reply_to,
	    json_string_value(json_object_get(rec, "date")),
	    rec_str(rec, "date_iso_utc"), json_string_value(json_object_get(rec, "text_body")),
	    rec_str(rec, "text_body_source"), json_is_true(json_object_get(rec, "has_html")) ? 1 : 0,
	    warnings, rec_int(rec, "size", raw ? (gint64)g_bytes_get_size(raw) : 0),
	    (gint64)ref.segment, (gint64)ref.offset, (gint64)ref.length, now);
	if (!s)
		return -1;
	/* uidvalidity and uid are absent for outgoing messages */
	if (uidvalidity < 0)
		sqlite3_bind_null(s, 3);
	if (uid < 0)
		sqlite3_bind_null(s, 4);
	if (!raw) {
		for (int col = 25; col <= 27; col++)
			sqlite3_bind_null(s, col);
	}
	if (store_step(st, s, err) != SQLITE_DONE)
		return -1;
	sqlite3_reset(s);
	id = sqlite3_last_insert_rowid(st->db);

	json_array_foreach(atts, i, a) {
		const char *type = json_string_value(json_object_get(a, "content_type"));
		gint64 part = rec_int(a, "part", -1);

		if (!(s = store_query(st, err,
		    "INSERT INTO attachments (message, position, filename, content_type, size,"
		    " content_id, inline, part) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "iissisdi",
		    id, (gint64)i, json_string_value(json_object_get(a, "filename")),
		    type ? type : "application/octet-stream", rec_int(a, "size", 0),
		    json_string_value(json_object_get(a, "content_id")),
		    json_is_true(json_object_get(a, "inline")) ? 1 : 0, part)))
			return -1;
		/* a record without a part number: NULL, not found in the raw */
		if (part < 0)
			sqlite3_bind_null(s, 8);
		if (store_step(st, s, err) != SQLITE_DONE)
			return -1;
		sqlite3_reset(s);
	}
	return id;
}

GBytes *
store_message_raw(struct store *st, gint64 id, GError **err)
{
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT raw, raw_segment, raw_offset, raw_length FROM messages WHERE id = ?", "i", id);
	struct spool_ref ref;
	int rc;

	if (!s)
		return NULL;
	if ((rc = store_step(st, s, err)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			g_set_error(err, STORE_ERROR, 0, "no message %" G_GINT64_FORMAT, id);
		return NULL;
	}
	if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
		/* stored before the spool, or without raw bytes */
		return g_bytes_new(sqlite3_column_blob(s, 0), (gsize)sqlite3_column_bytes(s, 0));
	}
	ref.segment = (guint)sqlite3_column_int64(s, 1);
	ref.offset = (guint64)sqlite3_column_int64(s, 2);
	ref.length = (gsize)sqlite3_column_int64(s, 3);
	return spool_read(st->spool, &ref, err);
}

/* created - "2023-11-14T09:00:03Z": the stored time without its fraction */
static json_t *
created(const char *t)
{
	g_autofree char *s = NULL;

	if (!t)
		return json_null();
	if (strlen(t) < 19)
		return json_string(t);
	s = g_strdup_printf("%.19sZ", t);
	return json_string(s);
}

static json_t *
message_attachments(struct store *st, gint64 message, GError **err)
{
	g_autoptr(json_t) out = json_array();
	g_autoptr(store_cursor) s = store_query(st, err,
	    "SELECT id, filename, content_type, size FROM attachments WHERE message = ?"
	    " ORDER BY position", "i", message);
	int rc;

	if (!s)
		return NULL;
	while ((rc = store_step(st, s, err)) == SQLITE_ROW)
		json_array_append_new(out, json_pack("{s:I, s:o, s:o, s:o}",
		    "id", (json_int_t)sqlite3_column_int64(s, 0),
		    "filename", store_col_jstr(s, 1),
		    "content_type", store_col_jstr(s, 2),
		    "size", store_col_jint(s, 3)));
	return rc < 0 ? NULL : g_steal_pointer(&out);
}

static json_t *
conv_messages(struct store *st, gint64 conversation, GError **err)
{
	g_autoptr(json_t) out = json_array();
	json_t *m;
	size_t i;
	int rc;

	{
		g_autoptr(store_cursor) s = store_query(st, err,
		    "SELECT id, direction, \"key\", message_id, in_reply_to, \"references\", subject,"
		    " from_name, from_addr, \"to\", cc, reply_to, date, date_iso_utc, text_body,"
		    " has_html, warnings, created FROM messages WHERE conversation = ? ORDER BY id",
		    "i", conversation);

		if (!s)
			return NULL;
		while ((rc = store_step(st, s, err)) == SQLITE_ROW)
			json_array_append_new(out, json_pack(
			    "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			    " s:o, s:b, s:o, s:o}",
			    "id", (json_int_t)sqlite3_column_int64(s, 0),
			    "direction", store_col_jstr(s, 1),
			    "key", store_col_jstr(s, 2),
			    "message_id", store_col_jstr(s, 3),
			    "in_reply_to", store_col_jstr(s, 4),
			    "references", store_col_json(s, 5),
			    "subject", store_col_jstr(s, 6),
			    "from_name", store_col_jstr(s, 7),
			    "from_addr", store_col_jstr(s, 8),
			    "to", store_col_json(s, 9),
			    "cc", store_col_json(s, 10),
			    "reply_to", store_col_json(s, 11),
			    "date", store_col_jstr(s, 12),
			    "date_iso_utc", store_col_jstr(s, 13),
			    "text_body", store_col_jstr(s, 14),
			    "has_html", sqlite3_column_int(s, 15) != 0,
			    "warnings", store_col_json(s, 16),
			    "created", created(store_col_str(s, 17))));
		if (rc < 0)
			return NULL;
	}
	/* the cursor above is done before each message's attachments are read */
	json_array_foreach(out, i, m) {
		json_t *atts = message_attachments(st, json_integer_value(json_object_get(m, "id")),
		    err);

		if (!atts)
			return NULL;
		/* "attachments" after "has_html", as in docs/wire.md */
		json_object_set_new(m, "attachments", atts);
	}
	return g_steal_pointer(&out);
}

static json_t *
contact_json(struct store *st, gint64 id, GError **err)
{
	g_autoptr(store_cursor) s = NULL;
	int rc;

	if (id == 0)
		return json_null();
	s = store_query(st, err, "SELECT id, addr, name FROM contacts WHERE id = ?", "i", id);
	if (!s)
		return NULL;
	rc = store_step(st, s, err);
	if (rc < 0)
		return NULL;
	if (rc != SQLITE_ROW)
		return json_null();
	return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(s, 0),
	    "addr", store_col_jstr(s, 1), "name", store_col_jstr(s, 2));
}

json_t *
store_conv_json(struct store *st, gint64 id, GError **err)
{
	struct conv c = { 0 };
	json_t *contact, *messages, *out;
	int rc = store_conv_get(st, id, &c, err);

	if (rc <= 0)
		return NULL;
	contact = contact_json(st, c.contact, err);
	messages = contact ? conv_messages(st, id, err) : NULL;
	if (!messages) {
		if (contact)
			json_decref(contact);
		conv_clear(&c);
		return NULL;
	}
	out = json_pack("{s:I, s:s?, s:s, s:s, s:s, s:s?, s:s?, s:o, s:o}",
	    "id", (json_int_t)c.id, "subject", c.subject, "status", c.status, "group", c.group,
	    "account", c.account, "agent", c.agent, "disposition", c.disposition,
	    "contact", contact, "messages", messages);
	conv_clear(&c);
	return out;
}
