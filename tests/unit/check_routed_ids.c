/*
 * check_routed_ids - the "message_ids" request fetchd makes after a
 * UIDVALIDITY change: the Message-IDs an account has delivered, once each,
 * its incoming messages only; and a POP3 key (no uidvalidity, no uid) is
 * stored and acknowledged like any other.
 */
#include "check_routed_fixture.h"

/* by_string - order of a GPtrArray of strings */
static gint
by_string(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ids_of - the reply's message_ids, sorted, comma-joined */
static char *
ids_of(json_t *rep)
{
	json_t *ids = json_object_get(rep, "message_ids"), *v;
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	size_t i;

	ck_assert(json_is_array(ids));
	json_array_foreach(ids, i, v)
		g_ptr_array_add(list, (gpointer)json_string_value(v));
	g_ptr_array_sort(list, by_string);
	g_ptr_array_add(list, NULL);
	return g_strjoinv(",", (char **)list->pdata);
}

START_TEST(test_message_ids)
{
	struct fixture *f = fixture_new();
	g_autoptr(GPtrArray) sent = raw_parts("From: support@example.com\r\n\r\nanswer\r\n", NULL);
	g_autofree char *got = NULL;
	struct thread_result res;
	gint64 a;
	json_t *rep;

	a = incoming(f, "support/7/1", "support", "first");		/* support/7/1@customer.example */
	incoming(f, "support/7/2", "support", "second");
	incoming(f, "sales/3/1", "sales", "elsewhere");
	/* the same Message-ID under another key (the folder was copied): once */
	res = deliver(f, rec("support/8/5", "support", "support/7/1@customer.example", NULL, NULL,
	    "zoe@example.net", "first, again"));
	thread_result_clear(&res);
	/* no Message-ID at all: nothing to match by */
	res = deliver(f, rec("support/7/3", "support", NULL, NULL, NULL, "zoe@example.net", "bare"));
	thread_result_clear(&res);
	/* a reply an agent sent is not the mailbox's */
	ready(f, "carol");
	rep = call_parts(f, sent, "{s:s, s:s, s:I, s:{s:s}}", "op", "reply", "agent", "carol",
	    "conversation", (json_int_t)a, "message", "message_id", "reply-1@postroom.test");
	ck_assert_msg(rep_ok(rep), "%s", json_dumps(rep, JSON_COMPACT));
	json_decref(rep);

	/* fetchd asks with no agent */
	rep = call(f, "{s:s, s:s}", "op", "message_ids", "account", "support");
	ck_assert_msg(rep_ok(rep), "%s", json_dumps(rep, JSON_COMPACT));
	ck_assert_str_eq(json_string_value(json_object_get(rep, "account")), "support");
	got = ids_of(rep);
	ck_assert_str_eq(got, "support/7/1@customer.example,support/7/2@customer.example");
	json_decref(rep);

	/* another account's own */
	rep = call(f, "{s:s, s:s}", "op", "message_ids", "account", "sales");
	g_free(got);
	got = ids_of(rep);
	ck_assert_str_eq(got, "sales/3/1@customer.example");
	json_decref(rep);

	expect_error(f, "bad_request", "{s:s}", "op", "message_ids");
	expect_error(f, "not_found", "{s:s, s:s}", "op", "message_ids", "account", "nobody");
	/* other requests still need an agent */
	expect_error(f, "bad_request", "{s:s, s:s}", "op", "status", "account", "support");
	fixture_free(f);
}
END_TEST

/* a POP3 message: key ACCOUNT/pop3/UIDL, no uidvalidity and no uid */
START_TEST(test_pop3_key)
{
	struct fixture *f = fixture_new();
	json_t *r = rec("support/pop3/000001a94f1e3b2c", "support", "p1@customer.example", NULL,
	    NULL, "zoe@example.net", "by POP3");
	struct thread_result res;

	json_object_del(r, "uidvalidity");
	json_object_del(r, "uid");
	res = deliver(f, json_incref(r));
	ck_assert(!res.duplicate);
	ck_assert_int_gt(res.conversation, 0);
	thread_result_clear(&res);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE \"key\" = ?"
	    " AND uidvalidity IS NULL AND uid IS NULL", "support/pop3/000001a94f1e3b2c"), 1);
	/* sent again: a duplicate, acknowledged again, stored once */
	res = deliver(f, r);
	ck_assert(res.duplicate);
	thread_result_clear(&res);
	ck_assert_int_eq(sql_int(f, "SELECT count(*) FROM messages WHERE \"key\" = ?",
	    "support/pop3/000001a94f1e3b2c"), 1);
	fixture_free(f);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("routed_ids");
	TCase *tc = tcase_create("ids");

	tcase_add_test(tc, test_message_ids);
	tcase_add_test(tc, test_pop3_key);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
