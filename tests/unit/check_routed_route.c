/*
 * check_routed_route - queues and agents: who gets which conversation and
 * when, dispositions, logout, restarts, and agentd's requests (the errors
 * and the conversation object of docs/wire.md).
 */
#include "check_routed_fixture.h"

/* owner_is - conversation id is held by agent */
#define owner_is(f, id, agent) do {					\
	g_autofree char *who_ = holder((f), (id));			\
	ck_assert_msg(who_ && strcmp(who_, (agent)) == 0,		\
	    "conversation %lld: held by %s, not %s", (long long)(id),	\
	    who_ ? who_ : "nobody", (agent));				\
} while (0)

#define queued(f, id) do {						\
	g_autofree char *st_ = status_of((f), (id));			\
	ck_assert_str_eq(st_, "queued");				\
} while (0)

static void
dispose(struct fixture *f, const char *agent, gint64 id, const char *disposition)
{
	expect_ok(f, "{s:s, s:s, s:I, s:s}", "op", "disposition", "agent", agent,
	    "conversation", (json_int_t)id, "disposition", disposition);
}

START_TEST(test_oldest_first)
{
	struct fixture *f = fixture_new();
	gint64 a = incoming(f, "support/1/1", "support", "first");
	gint64 b = incoming(f, "support/1/2", "support", "second");
	gint64 c = incoming(f, "support/1/3", "support", "third");

	queued(f, a);
	ck_assert_int_eq(f->events->len, 0);
	ready(f, "alice");
	owner_is(f, a, "alice");
	ck_assert_int_eq(event_count(f, "alice", "assigned", a), 1);
	ready(f, "bob");
	owner_is(f, b, "bob");
	queued(f, c);
	fixture_free(f);
}
END_TEST

START_TEST(test_longest_waiting_agent)
{
	struct fixture *f = fixture_new();
	gint64 a, b, c;

	ready(f, "bob");	/* bob waits first: rank does not matter */
	ready(f, "carol");
	ready(f, "alice");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	c = incoming(f, "support/1/3", "support", "third");
	owner_is(f, a, "bob");
	owner_is(f, b, "carol");
	owner_is(f, c, "alice");

	/* the first to finish is the next to get work */
	dispose(f, "carol", b, "DONE");
	dispose(f, "bob", a, "DONE");
	c = incoming(f, "support/1/4", "support", "fourth");
	owner_is(f, c, "carol");
	fixture_free(f);
}
END_TEST

START_TEST(test_rank_breaks_tie)
{
	struct fixture *f = fixture_new();
	gint64 saved, a, b;

	expect_ok(f, "{s:s, s:s}", "op", "login", "agent", "alice");
	expect_ok(f, "{s:s, s:s}", "op", "login", "agent", "carol");
	/* both ready at the same instant: carol's rank 9 beats alice's 5 */
	saved = fixture_now;
	expect_ok(f, "{s:s, s:s, s:s}", "op", "state", "agent", "alice", "state", "ready");
	fixture_now = saved;
	expect_ok(f, "{s:s, s:s, s:s}", "op", "state", "agent", "carol", "state", "ready");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	owner_is(f, a, "carol");
	owner_is(f, b, "alice");
	fixture_free(f);
}
END_TEST

START_TEST(test_agent_in_two_groups)
{
	struct fixture *f = fixture_new();
	gint64 sup, sal, sal2;

	/* the oldest work of any group dave serves comes first */
	sup = incoming(f, "support/1/1", "support", "support first");
	sal = incoming(f, "sales/1/1", "sales", "sales second");
	ready(f, "dave");
	owner_is(f, sup, "dave");
	queued(f, sal);
	{
		g_autofree char *g = sql_str(f, "SELECT \"group\" FROM conversations WHERE id = ?", sal);

		ck_assert_str_eq(g, "sales");
	}
	/* alice serves support only: the sales work waits for dave */
	ready(f, "alice");
	queued(f, sal);
	dispose(f, "dave", sup, "DONE");
	owner_is(f, sal, "dave");
	/* a group's dispositions are its own */
	expect_error(f, "bad_disposition", "{s:s, s:s, s:I, s:s}", "op", "disposition",
	    "agent", "dave", "conversation", (json_int_t)sal, "disposition", "DONE");
	dispose(f, "dave", sal, "WON");
	sal2 = incoming(f, "sales/1/2", "sales", "sales third");
	owner_is(f, sal2, "dave");
	fixture_free(f);
}
END_TEST

START_TEST(test_one_at_a_time)
{
	struct fixture *f = fixture_new();
	gint64 a, b;
	json_t *rep;

	ready(f, "alice");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	owner_is(f, a, "alice");
	queued(f, b);
	ck_assert_int_eq(sql_int(f,
	    "SELECT count(*) FROM conversations WHERE agent = ? AND status = 'assigned'", "alice"), 1);
	rep = call(f, "{s:s, s:s}", "op", "status", "agent", "alice");
	ck_assert(rep_ok(rep));
	ck_assert_str_eq(json_string_value(json_object_get(rep, "state")), "ready");
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "conversation")), a);
	json_decref(rep);

	/* the disposition frees alice, and that hands her the next */
	dispose(f, "alice", a, "DONE");
	owner_is(f, b, "alice");
	ck_assert_int_eq(event_count(f, "alice", "assigned", b), 1);
	{
		g_autofree char *st = status_of(f, a);
		g_autofree char *d = sql_str(f, "SELECT disposition FROM conversations WHERE id = ?", a);

		ck_assert_str_eq(st, "closed");
		ck_assert_str_eq(d, "DONE");
	}
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM dispositions WHERE agent = ?", "alice"), 1);

	/* paused: the work in hand is finished, no more comes */
	expect_ok(f, "{s:s, s:s, s:s}", "op", "state", "agent", "alice", "state", "paused");
	a = incoming(f, "support/1/3", "support", "third");
	dispose(f, "alice", b, "SPAM");
	queued(f, a);
	rep = call(f, "{s:s, s:s}", "op", "status", "agent", "alice");
	ck_assert_str_eq(json_string_value(json_object_get(rep, "state")), "paused");
	ck_assert(json_is_null(json_object_get(rep, "conversation")));
	json_decref(rep);
	fixture_free(f);
}
END_TEST

START_TEST(test_logout_releases)
{
	struct fixture *f = fixture_new();
	g_autofree char *before = NULL, *after = NULL;
	gint64 a, b;

	ready(f, "alice");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	owner_is(f, a, "alice");
	before = sql_str(f, "SELECT queued_at FROM conversations WHERE id = ?", a);
	expect_ok(f, "{s:s, s:s}", "op", "logout", "agent", "alice");
	ck_assert_int_eq(event_count(f, "alice", "released", a), 1);
	queued(f, a);
	after = sql_str(f, "SELECT queued_at FROM conversations WHERE id = ?", a);
	ck_assert_str_eq(before, after);
	/* at the head of the queue: the next agent gets it, not the newer one */
	ready(f, "bob");
	owner_is(f, a, "bob");
	queued(f, b);
	/* logged out: nothing more until logged in again */
	expect_error(f, "not_logged_in", "{s:s, s:s}", "op", "status", "agent", "alice");
	expect_error(f, "not_logged_in", "{s:s, s:s, s:s}", "op", "state", "agent", "alice",
	    "state", "ready");
	expect_ok(f, "{s:s, s:s}", "op", "logout", "agent", "alice");
	fixture_free(f);
}
END_TEST

START_TEST(test_errors)
{
	struct fixture *f = fixture_new();
	g_autoptr(GPtrArray) raw = raw_parts("From: support@example.com\r\n\r\nhi\r\n", NULL);
	gint64 a, b;
	json_t *rep;

	ready(f, "alice");
	ready(f, "bob");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	owner_is(f, a, "alice");
	owner_is(f, b, "bob");

	expect_error(f, "bad_disposition", "{s:s, s:s, s:I, s:s}", "op", "disposition",
	    "agent", "alice", "conversation", (json_int_t)a, "disposition", "WON");
	owner_is(f, a, "alice");	/* refused: nothing changed */
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM dispositions", NULL), 0);
	expect_error(f, "forbidden", "{s:s, s:s, s:I, s:s}", "op", "disposition",
	    "agent", "bob", "conversation", (json_int_t)a, "disposition", "DONE");
	expect_error(f, "forbidden", "{s:s, s:s, s:I}", "op", "conversation", "agent", "bob",
	    "conversation", (json_int_t)a);
	expect_error(f, "not_found", "{s:s, s:s, s:I}", "op", "conversation", "agent", "bob",
	    "conversation", (json_int_t)999);
	expect_error(f, "bad_request", "{s:s, s:s, s:s}", "op", "conversation", "agent", "bob",
	    "conversation", "1");
	expect_error(f, "bad_request", "{s:s, s:s, s:I}", "op", "disposition", "agent", "alice",
	    "conversation", (json_int_t)a);
	expect_error(f, "bad_request", "{s:s, s:s, s:s}", "op", "state", "agent", "alice",
	    "state", "asleep");
	expect_error(f, "bad_request", "{s:s, s:s}", "op", "dance", "agent", "alice");
	expect_error(f, "bad_request", "{s:s}", "op", "status");
	expect_error(f, "bad_request", "{s:s, s:i}", "op", "status", "agent", 7);
	expect_error(f, "bad_request", "{s:s, s:s}", "op", "login", "agent", "mallory");
	expect_error(f, "not_logged_in", "{s:s, s:s}", "op", "status", "agent", "mallory");
	expect_error(f, "not_logged_in", "{s:s, s:s}", "op", "status", "agent", "carol");
	/* a reply needs its message and the raw bytes sent */
	expect_error(f, "bad_request", "{s:s, s:s, s:I}", "op", "reply", "agent", "alice",
	    "conversation", (json_int_t)a);
	expect_error(f, "bad_request", "{s:s, s:s, s:I, s:{s:s}}", "op", "reply", "agent", "alice",
	    "conversation", (json_int_t)a, "message", "message_id", "r1@x");
	rep = call_parts(f, raw, "{s:s, s:s, s:I, s:{s:s}}", "op", "reply", "agent", "bob",
	    "conversation", (json_int_t)a, "message", "message_id", "r1@x");
	ck_assert_str_eq(rep_error(rep), "forbidden");
	json_decref(rep);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE direction = 'out'", NULL), 0);
	fixture_free(f);
}
END_TEST

static gint
by_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* keys - the object's keys, sorted, comma-separated */
static char *
keys(json_t *obj)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
		g_ptr_array_add(names, (gpointer)k);
	g_ptr_array_sort(names, by_str);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(",", (char **)names->pdata);
}

START_TEST(test_conversation_object)
{
	struct fixture *f = fixture_new();
	g_autoptr(GPtrArray) parts = record_parts("RAW", FIXTURE_BODY, NULL);
	g_autoptr(GPtrArray) sent = raw_parts("From: support@example.com\r\n\r\nhi\r\n", NULL);
	g_autofree char *ck = NULL, *mk = NULL, *ak = NULL, *tk = NULL;
	g_autoptr(GError) err = NULL;
	struct thread_result res = { 0 };
	json_t *r = rec("support/1700000000/42", "support", "abc@example.net", NULL, NULL,
	    "Zoe@Example.net", "Où est ma commande ?");
	json_t *rep, *conv, *msgs, *m, *att;
	gint64 id, reply;

	json_object_set_new(r, "attachments", json_pack("[{s:s, s:s, s:I, s:n, s:b}]",
	    "filename", "invoice.pdf", "content_type", "application/pdf", "size", (json_int_t)7,
	    "content_id", "inline", 0));
	json_object_set_new(r, "has_html", json_true());
	ck_assert(store_begin(f->st, &err));
	ck_assert(thread_store(f->st, f->cfg, r, parts, f->events, &res, &err));
	ck_assert(store_commit(f->st, &err));
	json_decref(r);
	id = res.conversation;
	thread_result_clear(&res);
	tick();
	ready(f, "alice");
	owner_is(f, id, "alice");
	rep = call_parts(f, sent, "{s:s, s:s, s:I, s:{s:s, s:s, s:s, s:s, s:[], s:s}}",
	    "op", "reply", "agent", "alice", "conversation", (json_int_t)id, "message",
	    "message_id", "r1@example.com", "in_reply_to", "abc@example.net", "subject",
	    "Re: Où est ma commande ?", "from_addr", "support@example.com", "references",
	    "date", "Tue, 14 Nov 2023 11:00:00 +0100");
	ck_assert(rep_ok(rep));
	reply = json_integer_value(json_object_get(rep, "message"));
	json_decref(rep);
	/* the same reply again (agentd retrying): the same message, not two */
	rep = call_parts(f, sent, "{s:s, s:s, s:I, s:{s:s}}", "op", "reply", "agent", "alice",
	    "conversation", (json_int_t)id, "message", "message_id", "r1@example.com");
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "message")), reply);
	json_decref(rep);

	rep = call(f, "{s:s, s:s, s:I}", "op", "conversation", "agent", "alice",
	    "conversation", (json_int_t)id);
	ck_assert(rep_ok(rep));
	conv = json_object_get(rep, "conversation");
	ck = keys(conv);
	ck_assert_str_eq(ck, "account,agent,contact,disposition,group,id,messages,status,subject");
	ck_assert_int_eq(json_integer_value(json_object_get(conv, "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(conv, "subject")), "Où est ma commande ?");
	ck_assert_str_eq(json_string_value(json_object_get(conv, "status")), "assigned");
	ck_assert_str_eq(json_string_value(json_object_get(conv, "group")), "support");
	ck_assert_str_eq(json_string_value(json_object_get(conv, "account")), "support");
	ck_assert_str_eq(json_string_value(json_object_get(conv, "agent")), "alice");
	ck_assert(json_is_null(json_object_get(conv, "disposition")));
	tk = keys(json_object_get(conv, "contact"));
	ck_assert_str_eq(tk, "addr,id,name");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(conv, "contact"), "addr")),
	    "zoe@example.net");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(conv, "contact"), "name")),
	    "A Customer");

	msgs = json_object_get(conv, "messages");
	ck_assert_int_eq(json_array_size(msgs), 2);
	m = json_array_get(msgs, 0);	/* oldest first */
	mk = keys(m);
	ck_assert_str_eq(mk, "attachments,cc,created,date,date_iso_utc,direction,from_addr,"
	    "from_name,has_html,id,in_reply_to,key,message_id,references,reply_to,subject,"
	    "text_body,to,warnings");
	ck_assert_str_eq(json_string_value(json_object_get(m, "direction")), "in");
	ck_assert_str_eq(json_string_value(json_object_get(m, "key")), "support/1700000000/42");
	ck_assert_str_eq(json_string_value(json_object_get(m, "message_id")), "abc@example.net");
	ck_assert(json_is_null(json_object_get(m, "in_reply_to")));
	ck_assert(json_is_array(json_object_get(m, "references")));
	ck_assert(json_is_true(json_object_get(m, "has_html")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(m, "to"), 0),
	    "addr")), "support@example.com");
	/* from the text body's own frame */
	ck_assert_str_eq(json_string_value(json_object_get(m, "text_body")), FIXTURE_BODY);
	ck_assert_str_eq(json_string_value(json_object_get(m, "created")), "2023-11-14T22:13:20Z");
	att = json_array_get(json_object_get(m, "attachments"), 0);
	ak = keys(att);
	ck_assert_str_eq(ak, "content_type,filename,id,size");
	ck_assert_str_eq(json_string_value(json_object_get(att, "filename")), "invoice.pdf");
	ck_assert_int_eq(json_integer_value(json_object_get(att, "size")), 7);
	ck_assert_int_gt(json_integer_value(json_object_get(att, "id")), 0);

	m = json_array_get(msgs, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), reply);
	ck_assert_str_eq(json_string_value(json_object_get(m, "direction")), "out");
	ck_assert_str_eq(json_string_value(json_object_get(m, "key")), "out/r1@example.com");
	ck_assert_str_eq(json_string_value(json_object_get(m, "in_reply_to")), "abc@example.net");
	ck_assert_int_eq(json_array_size(json_object_get(m, "attachments")), 0);
	json_decref(rep);

	/* the reply did not end the work */
	owner_is(f, id, "alice");
	fixture_free(f);
}
END_TEST

START_TEST(test_restart)
{
	struct fixture *f = fixture_new();
	gint64 a, b;
	int n;
	g_autoptr(GError) err = NULL;

	ready(f, "alice");
	ready(f, "bob");
	a = incoming(f, "support/1/1", "support", "first");
	b = incoming(f, "support/1/2", "support", "second");
	owner_is(f, a, "alice");
	owner_is(f, b, "bob");
	g_ptr_array_set_size(f->events, 0);

	/* the next run of routed: every session is gone, the work back in line */
	ck_assert(store_begin(f->st, &err));
	n = route_reset(f->st, f->events, &err);
	ck_assert(store_commit(f->st, &err));
	ck_assert_int_eq(n, 2);
	queued(f, a);
	queued(f, b);
	ck_assert_int_eq(event_count(f, "alice", "released", a), 1);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM agents WHERE logged_in = 1"
	    " OR conversation IS NOT NULL OR state = ?", "ready"), 0);
	expect_error(f, "not_logged_in", "{s:s, s:s}", "op", "status", "agent", "alice");
	ready(f, "carol");
	owner_is(f, a, "carol");
	fixture_free(f);
}
END_TEST

START_TEST(test_agent_removed)
{
	struct fixture *f = fixture_new();
	g_autofree char *gone = g_build_filename(f->dir, "agents", "bob.conf", NULL);
	g_autoptr(GError) err = NULL;
	gint64 a;
	int n;

	ready(f, "bob");
	a = incoming(f, "support/1/1", "support", "first");
	owner_is(f, a, "bob");
	ck_assert_int_eq(g_unlink(gone), 0);
	config_free(f->cfg);
	f->cfg = fixture_config(f->dir);
	ck_assert(store_begin(f->st, &err));
	n = route_sync(f->st, f->cfg, f->events, &err);
	ck_assert(route_assign(f->st, f->cfg, f->events, &err) == 0);
	ck_assert(store_commit(f->st, &err));
	ck_assert_int_eq(n, 1);
	queued(f, a);
	expect_error(f, "not_logged_in", "{s:s, s:s}", "op", "status", "agent", "bob");
	ready(f, "alice");
	owner_is(f, a, "alice");
	fixture_free(f);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("routed_route");
	TCase *tc = tcase_create("route");

	tcase_add_test(tc, test_oldest_first);
	tcase_add_test(tc, test_longest_waiting_agent);
	tcase_add_test(tc, test_rank_breaks_tie);
	tcase_add_test(tc, test_agent_in_two_groups);
	tcase_add_test(tc, test_one_at_a_time);
	tcase_add_test(tc, test_logout_releases);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_conversation_object);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_agent_removed);
	suite_add_tcase(suite, tc);
	return unit_run(suite);
}
