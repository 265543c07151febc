/*
 * check_routed_store - the database and threading: the schema, storing a
 * record once, contacts, and conversations joined by In-Reply-To and
 * References (the agent's own replies included).
 */
#include "check_routed_fixture.h"

START_TEST(test_schema)
{
	struct fixture *f = fixture_new();
	g_autofree char *mode = NULL, *db = g_strdup(f->st->path), *spool_dir = NULL;
	g_autoptr(GError) err = NULL;
	sqlite3 *other;

	ck_assert_int_eq(sql_int(f, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(sql_int(f, "PRAGMA foreign_keys", NULL), 1);
	ck_assert_int_eq(sql_int(f, "PRAGMA synchronous", NULL), 2);	/* FULL */
	mode = sql_text(f, "PRAGMA journal_mode");
	ck_assert_str_eq(mode, "wal");
	/* the raw messages are in the spool: SQLite's own 4 KB pages suit what is left */
	ck_assert_int_eq(sql_int(f, "PRAGMA page_size", NULL), 4096);
	ck_assert_int_eq(sql_int(f,
	    "SELECT count(*) FROM pragma_table_info('messages') WHERE name LIKE 'raw_%'", NULL), 3);
	spool_dir = g_strconcat(db, STORE_SPOOL_SUFFIX, NULL);
	ck_assert(g_file_test(spool_dir, G_FILE_TEST_IS_DIR));
	/* an attachment's bytes are in the raw message, not in a column */
	ck_assert_int_eq(sql_int(f,
	    "SELECT count(*) FROM pragma_table_info('attachments') WHERE name = 'data'", NULL), 0);
	ck_assert_int_eq(sql_int(f,
	    "SELECT count(*) FROM pragma_table_info('attachments') WHERE name = 'part'", NULL), 1);

	/* opening it again migrates nothing and loses nothing */
	incoming(f, "support/1/1", "support", "hello");
	store_close(f->st);
	f->st = store_open(db, &err);
	ck_assert_msg(f->st != NULL, "%s", err ? err->message : "");
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages", NULL), 1);

	/* a database from a newer routed is refused, not damaged */
	store_close(f->st);
	f->st = NULL;
	ck_assert_int_eq(sqlite3_open(db, &other), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(other, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	ck_assert(store_open(db, &err) == NULL);
	ck_assert(strstr(err->message, "newer") != NULL);
	f->st = NULL;
	fixture_free(f);
}
END_TEST

START_TEST(test_dedup)
{
	struct fixture *f = fixture_new();
	g_autoptr(GPtrArray) parts = record_parts("RAW MESSAGE", FIXTURE_BODY, NULL);
	g_autoptr(GError) err = NULL;
	struct thread_result first = { 0 }, again = { 0 };
	json_t *r = rec("support/1700000000/42", "support", "abc@example.net", NULL, NULL,
	    "zoe@example.net", "Où est ma commande ?");
	g_autoptr(GBytes) raw = NULL;
	g_autofree char *segment = NULL, *spooled = NULL;
	gsize len;

	json_object_set_new(r, "attachments", json_pack("[{s:s, s:s, s:I, s:n, s:b, s:I}]",
	    "filename", "invoice.pdf", "content_type", "application/pdf", "size", (json_int_t)12,
	    "content_id", "inline", 0, "part", (json_int_t)3));
	ck_assert(store_begin(f->st, &err));
	ck_assert_msg(thread_store(f->st, f->cfg, r, parts, f->events, &first, &err), "%s",
	    err ? err->message : "");
	ck_assert(!first.duplicate);
	ck_assert_int_gt(first.conversation, 0);
	ck_assert_str_eq(first.subject, "Où est ma commande ?");
	/* a re-send, in the same batch or a later one: nothing written */
	ck_assert(thread_store(f->st, f->cfg, r, parts, f->events, &again, &err));
	ck_assert(store_commit(f->st, &err));
	ck_assert(again.duplicate);
	ck_assert_int_eq(again.conversation, first.conversation);

	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages", NULL), 1);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM conversations", NULL), 1);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM attachments", NULL), 1);
	/* the raw message once, in the spool: the duplicate wrote nothing */
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE raw IS NULL"
	    " AND raw_segment = 1 AND raw_offset = 0 AND raw_length = ?", "11"), 1);
	raw = store_message_raw(f->st, sql_int(f, "SELECT id FROM messages", NULL), &err);
	ck_assert_msg(raw != NULL, "%s", err ? err->message : "");
	ck_assert_mem_eq(g_bytes_get_data(raw, NULL), "RAW MESSAGE", g_bytes_get_size(raw));
	ck_assert_uint_eq(g_bytes_get_size(raw), strlen("RAW MESSAGE"));
	segment = g_strconcat(f->st->path, STORE_SPOOL_SUFFIX "/00000001", NULL);
	ck_assert(g_file_get_contents(segment, &spooled, &len, NULL));
	ck_assert_uint_eq(len, strlen("RAW MESSAGE"));
	ck_assert_int_eq(sql_int(f, "SELECT uidvalidity FROM messages WHERE \"key\" = ?",
	    "support/1700000000/42"), 1700000000);
	/* the metadata, and where the bytes are in the raw message */
	ck_assert_int_eq(sql_int(f, "SELECT size FROM attachments WHERE filename = ?",
	    "invoice.pdf"), 12);
	ck_assert_int_eq(sql_int(f, "SELECT part FROM attachments WHERE filename = ?",
	    "invoice.pdf"), 3);
	ck_assert_int_eq(sql_int(f,
	    "SELECT count(*) FROM conversations WHERE status = 'queued' AND \"group\" = ?",
	    "support"), 1);
	thread_result_clear(&first);
	thread_result_clear(&again);
	json_decref(r);
	fixture_free(f);
}
END_TEST

START_TEST(test_thread_in_reply_to)
{
	struct fixture *f = fixture_new();
	gint64 a = incoming(f, "support/1/1", "support", "Order 17");
	struct thread_result b = deliver(f, rec("support/1/2", "support", "b@customer.example",
	    "support/1/1@customer.example", NULL, "zoe@example.net", "Re: Order 17"));
	gint64 c = incoming(f, "support/1/3", "support", "Another question");

	ck_assert(!b.duplicate);
	ck_assert_int_eq(b.conversation, a);
	ck_assert_int_ne(c, a);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM conversations", NULL), 2);
	/* the conversation keeps its first message's subject */
	ck_assert_str_eq(b.subject, "Order 17");
	thread_result_clear(&b);
	fixture_free(f);
}
END_TEST

START_TEST(test_thread_references)
{
	struct fixture *f = fixture_new();
	gint64 a = incoming(f, "support/1/1", "support", "Order 17");
	gint64 b = incoming(f, "support/1/2", "support", "Order 18");
	/* In-Reply-To names nothing known; References does */
	struct thread_result r1 = deliver(f, rec("support/1/3", "support", "c@customer.example",
	    "lost@elsewhere.example", json_pack("[s, s]", "unknown@elsewhere.example",
	    "support/1/1@customer.example"), "zoe@example.net", "Re: Order 17"));
	/* several known: the nearest (the last) wins */
	struct thread_result r2 = deliver(f, rec("support/1/4", "support", "d@customer.example",
	    NULL, json_pack("[s, s]", "support/1/1@customer.example", "support/1/2@customer.example"),
	    "zoe@example.net", "Re: both"));

	ck_assert_int_eq(r1.conversation, a);
	ck_assert_int_eq(r2.conversation, b);
	thread_result_clear(&r1);
	thread_result_clear(&r2);
	fixture_free(f);
}
END_TEST

START_TEST(test_thread_agent_reply)
{
	struct fixture *f = fixture_new();
	g_autoptr(GPtrArray) sent = raw_parts("From: support@example.com\r\n\r\nHello Zoë\r\n", NULL);
	gint64 a;
	json_t *rep, *msg;
	struct thread_result follow;

	ready(f, "alice");
	a = incoming(f, "support/1/1", "support", "Order 17");
	ck_assert_int_eq(event_count(f, "alice", "assigned", a), 1);

	msg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:s}",
	    "message_id", "r1@support.example.com", "in_reply_to", "support/1/1@customer.example",
	    "subject", "Re: Order 17", "from_name", "Support", "from_addr", "support@example.com",
	    "to", "name", "Zoë", "addr", "zoe@example.net", "text_body", "Hello Zoë");
	rep = call_parts(f, sent, "{s:s, s:s, s:I, s:o}", "op", "reply", "agent", "alice",
	    "conversation", (json_int_t)a, "message", msg);
	ck_assert_msg(rep_ok(rep), "%s", rep_error(rep));
	ck_assert_int_gt(json_integer_value(json_object_get(rep, "message")), 0);
	ck_assert_int_eq(sql_int(f,
	    "SELECT conversation FROM messages WHERE \"key\" = ? AND direction = 'out'",
	    "out/r1@support.example.com"), a);
	json_decref(rep);

	/* a reply's payload is its raw message alone: a frame more is refused */
	{
		g_autoptr(GPtrArray) more = raw_parts("From: support@example.com\r\n\r\nagain\r\n",
		    "ATTACHMENT BYTES", NULL);

		rep = call_parts(f, more, "{s:s, s:s, s:I, s:{s:s}}", "op", "reply", "agent",
		    "alice", "conversation", (json_int_t)a, "message", "message_id",
		    "r2@support.example.com");
		ck_assert(!rep_ok(rep));
		ck_assert_str_eq(json_string_value(json_object_get(rep, "error")), "bad_request");
		ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE \"key\" = ?",
		    "out/r2@support.example.com"), 0);
		json_decref(rep);
	}

	/* the customer answers the agent's reply: same conversation, and the
	 * agent holding it hears of it */
	follow = deliver(f, rec("support/1/2", "support", "f@customer.example",
	    "r1@support.example.com", json_pack("[s, s]", "support/1/1@customer.example",
	    "r1@support.example.com"), "zoe@example.net", "Re: Re: Order 17"));
	ck_assert_int_eq(follow.conversation, a);
	ck_assert_int_eq(event_count(f, "alice", "message", a), 1);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE conversation = "
	    "(SELECT conversation FROM messages WHERE \"key\" = ?)", "support/1/1"), 3);
	thread_result_clear(&follow);
	fixture_free(f);
}
END_TEST

START_TEST(test_contacts)
{
	struct fixture *f = fixture_new();
	struct thread_result a = deliver(f, rec("support/1/1", "support", "a@x", NULL, NULL,
	    "Zoe@Example.NET", "one"));
	struct thread_result b = deliver(f, rec("support/1/2", "support", "b@x", NULL, NULL,
	    "zoe@example.net", "two"));
	struct thread_result c = deliver(f, rec("support/1/3", "support", "c@x", NULL, NULL,
	    "max@example.net", "three"));
	g_autofree char *addr = NULL;
	gint64 ca, cb, cc;

	ca = sql_int(f, "SELECT contact FROM messages WHERE \"key\" = ?", "support/1/1");
	cb = sql_int(f, "SELECT contact FROM messages WHERE \"key\" = ?", "support/1/2");
	cc = sql_int(f, "SELECT contact FROM messages WHERE \"key\" = ?", "support/1/3");
	ck_assert_int_gt(ca, 0);
	ck_assert_int_eq(ca, cb);
	ck_assert_int_ne(ca, cc);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM contacts", NULL), 2);
	addr = sql_str(f, "SELECT addr FROM contacts WHERE id = ?", ca);
	ck_assert_str_eq(addr, "zoe@example.net");
	/* the conversation's contact is its first message's */
	ck_assert_int_eq(sql_int(f, "SELECT contact FROM conversations WHERE id = "
	    "(SELECT conversation FROM messages WHERE \"key\" = ?)", "support/1/2"), ca);
	ck_assert_int_eq(thread_contact(f->st, "  ZOE@example.net ", NULL, NULL), ca);
	ck_assert_int_eq(thread_contact(f->st, "", "Nobody", NULL), 0);
	thread_result_clear(&a);
	thread_result_clear(&b);
	thread_result_clear(&c);
	fixture_free(f);
}
END_TEST

/* spool_read of a fresh spool's ref: the bytes given */
static void
assert_spooled(struct spool *sp, const struct spool_ref *ref, const char *want)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) got = spool_read(sp, ref, &err);

	ck_assert_msg(got != NULL, "%s", err ? err->message : "");
	ck_assert_uint_eq(g_bytes_get_size(got), strlen(want));
	ck_assert_mem_eq(g_bytes_get_data(got, NULL), want, strlen(want));
}

/* The spool: segments filled to their size and the next one started, the
 * last one gone on with after a reopen, a rolled-back message's bytes never
 * in anyone's way, and a ref past the end an error. */
START_TEST(test_spool)
{
	g_autofree char *dir = fixture_dir(), *spool_dir = g_build_filename(dir, "raw", NULL);
	g_autoptr(GError) err = NULL;
	struct spool_ref a, b, c, d, past;
	struct spool *sp = spool_open(spool_dir, 16, &err);
	g_autoptr(GBytes) ten = g_bytes_new_static("0123456789", 10);
	g_autoptr(GBytes) other = g_bytes_new_static("abcdefghij", 10);
	g_autoptr(GBytes) big = g_bytes_new_static("a message larger than a segment", 31);

	ck_assert_msg(sp != NULL, "%s", err ? err->message : "");
	ck_assert(spool_append(sp, ten, &a, &err));
	ck_assert(spool_append(sp, other, &b, &err));	/* 20 > 16: the next segment */
	ck_assert(spool_sync(sp, &err));
	ck_assert_uint_eq(a.segment, 1);
	ck_assert_uint_eq(a.offset, 0);
	ck_assert_uint_eq(b.segment, 2);
	ck_assert_uint_eq(b.offset, 0);
	assert_spooled(sp, &a, "0123456789");
	assert_spooled(sp, &b, "abcdefghij");
	spool_close(sp);

	/* reopened: on with the last segment, where it ended */
	sp = spool_open(spool_dir, 16, &err);
	ck_assert_msg(sp != NULL, "%s", err ? err->message : "");
	ck_assert(spool_append(sp, big, &c, &err));	/* larger than any segment: its own */
	ck_assert_uint_eq(c.segment, 3);
	ck_assert(spool_append(sp, ten, &d, &err));
	ck_assert_uint_eq(d.segment, 4);
	ck_assert(spool_sync(sp, &err));
	assert_spooled(sp, &c, "a message larger than a segment");
	assert_spooled(sp, &d, "0123456789");
	assert_spooled(sp, &a, "0123456789");

	past = d;
	past.offset = 5;
	ck_assert(spool_read(sp, &past, &err) == NULL);
	ck_assert_msg(strstr(err->message, "ends before") != NULL, "%s", err->message);
	spool_close(sp);
	rm_rf(dir);
}
END_TEST

/* A message rolled back with its savepoint leaves bytes in the spool that
 * no row points at; the next one is read back whole, and so is a row from
 * before the spool, whose bytes are in the raw column. */
START_TEST(test_spool_rollback)
{
	struct fixture *f = fixture_new();
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) gone = record_parts("NEVER STORED", FIXTURE_BODY, NULL);
	g_autoptr(GPtrArray) kept = record_parts("STORED", FIXTURE_BODY, NULL);
	g_autoptr(GBytes) raw = NULL, old = NULL;
	struct thread_result res = { 0 };
	json_t *r1 = rec("support/1/1", "support", "a@x", NULL, NULL, "zoe@example.net", "one");
	json_t *r2 = rec("support/1/2", "support", "b@x", NULL, NULL, "zoe@example.net", "two");
	gint64 id;

	ck_assert(store_begin(f->st, &err));
	ck_assert(store_savepoint(f->st, &err));
	ck_assert(thread_store(f->st, f->cfg, r1, gone, f->events, &res, &err));
	thread_result_clear(&res);
	store_rollback_savepoint(f->st);
	ck_assert(thread_store(f->st, f->cfg, r2, kept, f->events, &res, &err));
	thread_result_clear(&res);
	ck_assert(store_commit(f->st, &err));

	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages", NULL), 1);
	ck_assert_int_eq(sql_int(f, "SELECT raw_offset FROM messages", NULL),
	    strlen("NEVER STORED"));
	id = sql_int(f, "SELECT id FROM messages", NULL);
	raw = store_message_raw(f->st, id, &err);
	ck_assert_msg(raw != NULL, "%s", err ? err->message : "");
	ck_assert_uint_eq(g_bytes_get_size(raw), strlen("STORED"));
	ck_assert_mem_eq(g_bytes_get_data(raw, NULL), "STORED", strlen("STORED"));

	/* a row stored before schema 2 */
	ck_assert_int_eq(sqlite3_exec(f->st->db, "UPDATE messages SET raw = CAST('OLD ROW' AS BLOB),"
	    " raw_segment = NULL, raw_offset = NULL, raw_length = NULL", NULL, NULL, NULL),
	    SQLITE_OK);
	old = store_message_raw(f->st, id, &err);
	ck_assert_msg(old != NULL, "%s", err ? err->message : "");
	ck_assert_uint_eq(g_bytes_get_size(old), strlen("OLD ROW"));
	ck_assert_mem_eq(g_bytes_get_data(old, NULL), "OLD ROW", strlen("OLD ROW"));
	ck_assert(store_message_raw(f->st, id + 1, &err) == NULL);
	json_decref(r1);
	json_decref(r2);
	fixture_free(f);
}
END_TEST

START_TEST(test_reopen)
{
	struct fixture *f = fixture_new();
	g_autofree char *queued_before = NULL, *queued_after = NULL, *st1 = NULL, *st2 = NULL;
	struct thread_result follow;
	gint64 a;

	ready(f, "alice");
	a = incoming(f, "support/1/1", "support", "Order 17");
	queued_before = sql_str(f, "SELECT queued_at FROM conversations WHERE id = ?", a);
	expect_ok(f, "{s:s, s:s, s:I, s:s}", "op", "disposition", "agent", "alice",
	    "conversation", (json_int_t)a, "disposition", "DONE");
	st1 = status_of(f, a);
	ck_assert_str_eq(st1, "closed");
	expect_ok(f, "{s:s, s:s, s:s}", "op", "state", "agent", "alice", "state", "paused");

	follow = deliver(f, rec("support/1/2", "support", "f@customer.example",
	    "support/1/1@customer.example", NULL, "zoe@example.net", "Re: Order 17"));
	ck_assert_int_eq(follow.conversation, a);
	st2 = status_of(f, a);
	ck_assert_str_eq(st2, "queued");
	queued_after = sql_str(f, "SELECT queued_at FROM conversations WHERE id = ?", a);
	ck_assert_str_gt(queued_after, queued_before);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM conversations WHERE disposition IS NULL"
	    " AND agent IS NULL AND closed_at IS NULL AND \"group\" = ?", "support"), 1);
	/* the disposition stays on record */
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM dispositions WHERE disposition = ?",
	    "DONE"), 1);
	thread_result_clear(&follow);
	fixture_free(f);
}
END_TEST

/* Records that cannot be stored: refused as bad requests, nothing written. */
static const struct {
	const char *name;
	const char *meta;
	int frames;		/* payload frames: the raw message, the text body, ... */
	const char *body;	/* frame 1 when there is one; NULL: "x" */
	gsize body_len;
} bad_records[] = {
	{ "no key", "{\"account\":\"support\"}", 2, NULL, 0 },
	{ "empty key", "{\"key\":\"\",\"account\":\"support\"}", 2, NULL, 0 },
	{ "key not a string", "{\"key\":42,\"account\":\"support\"}", 2, NULL, 0 },
	{ "no account", "{\"key\":\"support/1/1\"}", 2, NULL, 0 },
	{ "unknown account", "{\"key\":\"nobody/1/1\",\"account\":\"nobody\"}", 2, NULL, 0 },
	{ "no raw frame", "{\"key\":\"support/1/1\",\"account\":\"support\"}", 0, NULL, 0 },
	{ "no text body frame", "{\"key\":\"support/1/1\",\"account\":\"support\"}", 1, NULL, 0 },
	{ "an attachment's bytes as a frame (parsed.1 carries none)",
	  "{\"key\":\"support/1/1\",\"account\":\"support\",\"attachments\":[{\"size\":1}]}", 3,
	  NULL, 0 },
	{ "a third frame", "{\"key\":\"support/1/1\",\"account\":\"support\"}", 3, NULL, 0 },
	{ "attachments not an array",
	  "{\"key\":\"support/1/1\",\"account\":\"support\",\"attachments\":{}}", 2, NULL, 0 },
	{ "attachment not an object",
	  "{\"key\":\"support/1/1\",\"account\":\"support\",\"attachments\":[7]}", 2, NULL, 0 },
	{ "text body not UTF-8", "{\"key\":\"support/1/1\",\"account\":\"support\"}", 2,
	  "caf\xe9", 4 },
	{ "text body with a NUL", "{\"key\":\"support/1/1\",\"account\":\"support\"}", 2,
	  "a\0b", 3 },
};

START_TEST(test_bad_records)
{
	struct fixture *f = fixture_new();
	g_autoptr(json_t) meta = json_loads(bad_records[_i].meta, 0, NULL);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GError) err = NULL;
	struct thread_result res = { 0 };

	ck_assert_msg(meta != NULL, "%s", bad_records[_i].name);
	for (int i = 0; i < bad_records[_i].frames; i++) {
		if (i == 1 && bad_records[_i].body)
			g_ptr_array_add(parts, g_bytes_new_static(bad_records[_i].body,
			    bad_records[_i].body_len));
		else
			g_ptr_array_add(parts, g_bytes_new_static("x", 1));
	}
	ck_assert(store_begin(f->st, &err));
	ck_assert_msg(!thread_store(f->st, f->cfg, meta, parts, f->events, &res, &err), "%s",
	    bad_records[_i].name);
	ck_assert(g_error_matches(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST));
	ck_assert(store_commit(f->st, NULL));
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages", NULL), 0);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM conversations", NULL), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_odd_fields)
{
	/* fields of the wrong type are stored as absent, never trusted */
	struct fixture *f = fixture_new();
	json_t *r = rec("support/1/1", "support", NULL, NULL, NULL, NULL, NULL);
	g_autoptr(json_t) obj = NULL;
	json_t *m;
	struct thread_result res;

	json_object_set_new(r, "subject", json_integer(5));
	json_object_set_new(r, "references", json_pack("[i, s, {}]", 1, "ok@x"));
	json_object_set_new(r, "to", json_pack("[s, {s:s}, {s:i}]", "x", "addr", "a@x", "addr", 3));
	json_object_set_new(r, "uid", json_string("many"));
	res = deliver(f, r);
	obj = store_conv_json(f->st, res.conversation, NULL);
	ck_assert(obj != NULL);
	ck_assert(json_is_null(json_object_get(obj, "contact")));
	m = json_array_get(json_object_get(obj, "messages"), 0);
	ck_assert(json_is_null(json_object_get(m, "subject")));
	ck_assert_int_eq(json_array_size(json_object_get(m, "references")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(m, "to")), 1);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE uid IS NULL", NULL), 1);
	thread_result_clear(&res);
	fixture_free(f);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("routed_store");
	TCase *tc = tcase_create("store");

	tcase_add_test(tc, test_schema);
	tcase_add_test(tc, test_dedup);
	tcase_add_test(tc, test_thread_in_reply_to);
	tcase_add_test(tc, test_thread_references);
	tcase_add_test(tc, test_thread_agent_reply);
	tcase_add_test(tc, test_contacts);
	tcase_add_test(tc, test_spool);
	tcase_add_test(tc, test_spool_rollback);
	tcase_add_test(tc, test_reopen);
	tcase_add_loop_test(tc, test_bad_records, 0, UNIT_N(bad_records));
	tcase_add_test(tc, test_odd_fields);
	suite_add_tcase(suite, tc);
	return unit_run(suite);
}
