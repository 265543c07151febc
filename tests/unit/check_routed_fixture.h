/*
 * check_routed_fixture.h - what routed's suites share: a configuration
 * directory made in a temporary directory, a store on a clock the test
 * moves, records as parsed sends them, requests as agentd sends them.
 *
 * The configuration: groups support (DONE, SPAM) and sales (WON, LOST);
 * accounts support and sales feeding them; agents alice (support:5), bob
 * (support:5), carol (support:9) and dave (sales:3, support:1).
 */
#ifndef CHECK_ROUTED_FIXTURE_H
#define CHECK_ROUTED_FIXTURE_H

#include <glib/gstdio.h>
#include <string.h>

#include "routed.h"
#include "unit.h"

#define FIXTURE_START (G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC)	/* 2023-11-14T22:13:20Z */

static gint64 fixture_now = FIXTURE_START;

static inline gint64
fixture_clock(void)
{
	return fixture_now;
}

/* tick - one second later */
static inline void
tick(void)
{
	fixture_now += G_USEC_PER_SEC;
}

static inline void
write_file(const char *dir, const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_autoptr(GError) err = NULL;

	g_mkdir_with_parents(parent, 0700);
	ck_assert_msg(g_file_set_contents(path, text, -1, &err), "%s", err ? err->message : "");
}

static inline void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *n;

	if (d) {
		while ((n = g_dir_read_name(d)) != NULL) {
			g_autofree char *sub = g_build_filename(path, n, NULL);

			rm_rf(sub);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static const char fixture_postroom[] =
    "[postroom]\nstate_dir = state\nrun_dir = run\n"
    "[endpoints]\nparsed = inproc://parsed\nrouted = inproc://routed\nacks = inproc://acks\n"
    "control = inproc://control\nevents = inproc://events\n";

static const char fixture_account[] =
    "[account]\nhost = imap.example.com\nuser = %s@example.com\npassword_file = secret\n"
    "group = %s\nreply_address = %s@example.com\nsmtp_host = smtp.example.com\n";

static const char fixture_agent[] =
    "[agent]\nname = %s\npassword_hash = $6$salt$hash\ngroups = %s\n";

/* fixture_dir - a temporary configuration directory */
static inline char *
fixture_dir(void)
{
	g_autoptr(GError) err = NULL;
	char *dir = g_dir_make_tmp("check_routed-XXXXXX", &err);
	g_autofree char *support = g_strdup_printf(fixture_account, "support", "support", "support");
	g_autofree char *sales = g_strdup_printf(fixture_account, "sales", "sales", "sales");
	static const char *const agents[][2] = {
		{ "alice", "support:5" }, { "bob", "support:5" }, { "carol", "support:9" },
		{ "dave", "sales:3, support:1" },
	};

	ck_assert_msg(dir != NULL, "%s", err ? err->message : "");
	write_file(dir, "postroom.conf", fixture_postroom);
	write_file(dir, "groups/support.conf", "[group]\nname = Support\ndispositions = DONE, SPAM\n");
	write_file(dir, "groups/sales.conf", "[group]\nname = Sales\ndispositions = WON, LOST\n");
	write_file(dir, "accounts/support.conf", support);
	write_file(dir, "accounts/sales.conf", sales);
	for (gsize i = 0; i < G_N_ELEMENTS(agents); i++) {
		g_autofree char *rel = g_strdup_printf("agents/%s.conf", agents[i][0]);
		g_autofree char *text = g_strdup_printf(fixture_agent, agents[i][0], agents[i][1]);

		write_file(dir, rel, text);
	}
	return dir;
}

static inline struct config *
fixture_config(const char *dir)
{
	g_autoptr(GError) err = NULL;
	struct config *cfg = config_load(dir, &err);

	ck_assert_msg(cfg != NULL, "%s", err ? err->message : "");
	return cfg;
}

struct fixture {
	char *dir;
	struct config *cfg;
	struct store *st;
	GPtrArray *events;
};

static inline struct fixture *
fixture_new(void)
{
	struct fixture *f = g_new0(struct fixture, 1);
	g_autoptr(GError) err = NULL;
	g_autofree char *db = NULL;

	fixture_now = FIXTURE_START;
	f->dir = fixture_dir();
	f->cfg = fixture_config(f->dir);
	db = g_build_filename(f->dir, "test.db", NULL);
	f->st = store_open(db, &err);
	ck_assert_msg(f->st != NULL, "%s", err ? err->message : "");
	f->st->clock = fixture_clock;
	f->events = events_new();
	return f;
}

static inline void
fixture_free(struct fixture *f)
{
	store_close(f->st);
	config_free(f->cfg);
	g_ptr_array_unref(f->events);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f);
}

#define FIXTURE_BODY "Bonjour,\nwhere is my order?"	/* every record's text body */

/* rec - a parsed.1 record's meta (its text body is a frame: record_parts);
 * refs (taken) may be NULL */
static inline json_t *
rec(const char *key, const char *account, const char *message_id, const char *in_reply_to,
    json_t *refs, const char *from_addr, const char *subject)
{
	json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s?, s:s?, s:s?, s:s?}",
	    "key", key, "account", account, "uidvalidity", (json_int_t)1700000000,
	    "uid", (json_int_t)42, "size", (json_int_t)100, "subject", subject,
	    "from_name", "A Customer", "from_addr", from_addr, "message_id", message_id);

	json_object_set_new(r, "in_reply_to", in_reply_to ? json_string(in_reply_to) : json_null());
	json_object_set_new(r, "references", refs ? refs : json_array());
	json_object_set_new(r, "to", json_pack("[{s:s, s:s}]", "name", "Support", "addr",
	    "support@example.com"));
	json_object_set_new(r, "cc", json_array());
	json_object_set_new(r, "reply_to", json_array());
	json_object_set_new(r, "date", json_string("Tue, 14 Nov 2023 10:00:00 +0100"));
	json_object_set_new(r, "date_iso_utc", json_string("2023-11-14T09:00:00Z"));
	json_object_set_new(r, "text_body_source", json_string("plain"));
	json_object_set_new(r, "has_html", json_false());
	json_object_set_new(r, "attachments", json_array());
	json_object_set_new(r, "warnings", json_array());
	return r;
}

/* raw_parts - a reply's payload (req.1): the raw message (then, to test
 * that they are refused, more frames) */
static inline GPtrArray *
raw_parts(const char *raw, ...)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	va_list ap;
	const char *a;

	g_ptr_array_add(parts, g_bytes_new(raw, strlen(raw)));
	va_start(ap, raw);
	while ((a = va_arg(ap, const char *)) != NULL)
		g_ptr_array_add(parts, g_bytes_new(a, strlen(a)));
	va_end(ap);
	return parts;
}

/* record_parts - parsed.1's payload: the raw message, the text body (then,
 * to test that they are refused, more frames) */
static inline GPtrArray *
record_parts(const char *raw, const char *body, ...)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	va_list ap;
	const char *a;

	g_ptr_array_add(parts, g_bytes_new(raw, strlen(raw)));
	g_ptr_array_add(parts, g_bytes_new(body, strlen(body)));
	va_start(ap, body);
	while ((a = va_arg(ap, const char *)) != NULL)
		g_ptr_array_add(parts, g_bytes_new(a, strlen(a)));
	va_end(ap);
	return parts;
}

/* deliver - store a record (taken) as routed does: its transaction, then
 * assignment in another; the result, the clock a second later */
static inline struct thread_result
deliver(struct fixture *f, json_t *r)
{
	g_autoptr(GPtrArray) parts = record_parts("From: x\r\n\r\nhello\r\n", FIXTURE_BODY, NULL);
	g_autoptr(GError) err = NULL;
	struct thread_result res = { 0 };

	ck_assert(store_begin(f->st, &err));
	ck_assert_msg(thread_store(f->st, f->cfg, r, parts, f->events, &res, &err), "%s",
	    err ? err->message : "");
	ck_assert(store_commit(f->st, &err));
	ck_assert(store_begin(f->st, &err));
	ck_assert_msg(route_assign(f->st, f->cfg, f->events, &err) >= 0, "%s",
	    err ? err->message : "");
	ck_assert(store_commit(f->st, &err));
	json_decref(r);
	tick();
	return res;
}

/* incoming - deliver a new message from a customer; its conversation */
static inline gint64
incoming(struct fixture *f, const char *key, const char *account, const char *subject)
{
	g_autofree char *mid = g_strdup_printf("%s@customer.example", key);
	struct thread_result res = deliver(f, rec(key, account, mid, NULL, NULL,
	    "zoe@example.net", subject));
	gint64 id = res.conversation;

	ck_assert(!res.duplicate);
	thread_result_clear(&res);
	return id;
}

/* call - a request as agentd sends it; the reply, the clock a second later */
static inline json_t *
call_parts(struct fixture *f, GPtrArray *parts, const char *fmt, ...)
{
	json_error_t jerr;
	json_t *req, *rep;
	va_list ap;

	va_start(ap, fmt);
	req = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	ck_assert_msg(req != NULL, "%s", jerr.text);
	rep = control_handle(f->st, f->cfg, req, parts, f->events);
	json_decref(req);
	tick();
	return rep;
}
#define call(f, ...) call_parts((f), NULL, __VA_ARGS__)

static inline gboolean
rep_ok(json_t *rep)
{
	return json_is_true(json_object_get(rep, "ok"));
}

static inline const char *
rep_error(json_t *rep)
{
	return json_string_value(json_object_get(rep, "error"));
}

/* expect_ok - the call succeeded; the reply is dropped */
#define expect_ok(f, ...) do {						\
	json_t *rep_ = call((f), __VA_ARGS__);				\
	ck_assert_msg(rep_ok(rep_), "%s", json_dumps(rep_, JSON_COMPACT));	\
	json_decref(rep_);						\
} while (0)

/* expect_error - the call failed with code */
#define expect_error(f, code, ...) do {					\
	json_t *rep_ = call((f), __VA_ARGS__);				\
	ck_assert(!rep_ok(rep_));					\
	ck_assert_str_eq(rep_error(rep_), (code));			\
	ck_assert(json_string_value(json_object_get(rep_, "message")) != NULL);	\
	json_decref(rep_);						\
} while (0)

static inline void
ready(struct fixture *f, const char *agent)
{
	expect_ok(f, "{s:s, s:s}", "op", "login", "agent", agent);
	expect_ok(f, "{s:s, s:s, s:s}", "op", "state", "agent", agent, "state", "ready");
}

/* sql_int - one integer from the database */
static inline gint64
sql_int(struct fixture *f, const char *sql, const char *arg)
{
	g_autoptr(GError) err = NULL;
	gint64 v = -1;
	int rc = arg ? store_int(f->st, &v, &err, sql, "s", arg) : store_int(f->st, &v, &err, sql, "");

	ck_assert_msg(rc >= 0, "%s", err ? err->message : "");
	return rc ? v : -1;
}

/* sql_str - one text from the database, or NULL */
static inline char *
sql_str(struct fixture *f, const char *sql, gint64 id)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(store_cursor) s = store_query(f->st, &err, sql, "i", id);
	int rc;

	ck_assert_msg(s != NULL, "%s", err ? err->message : "");
	rc = store_step(f->st, s, &err);
	ck_assert(rc >= 0);
	return rc == SQLITE_ROW ? g_strdup(store_col_str(s, 0)) : NULL;
}

/* sql_text - one text from a query without parameters, or NULL */
static inline char *
sql_text(struct fixture *f, const char *sql)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(store_cursor) s = store_query(f->st, &err, sql, "");
	int rc;

	ck_assert_msg(s != NULL, "%s", err ? err->message : "");
	rc = store_step(f->st, s, &err);
	ck_assert(rc >= 0);
	return rc == SQLITE_ROW ? g_strdup(store_col_str(s, 0)) : NULL;
}

/* holder - the agent holding conversation id, or NULL */
static inline char *
holder(struct fixture *f, gint64 id)
{
	return sql_str(f, "SELECT agent FROM conversations WHERE id = ? AND status = 'assigned'", id);
}

static inline char *
status_of(struct fixture *f, gint64 id)
{
	return sql_str(f, "SELECT status FROM conversations WHERE id = ?", id);
}

/* event_count - events of kind for agent so far */
static inline int
event_count(struct fixture *f, const char *agent, const char *kind, gint64 conversation)
{
	int n = 0;

	for (guint i = 0; i < f->events->len; i++) {
		struct event *ev = f->events->pdata[i];

		if (strcmp(ev->agent, agent) == 0
		    && g_strcmp0(json_string_value(json_object_get(ev->meta, "event")), kind) == 0
		    && json_integer_value(json_object_get(ev->meta, "conversation")) == conversation)
			n++;
	}
	return n;
}

#endif
