/*
 * check_routed_wire - routed driven over real inproc:// ZeroMQ sockets, as
 * parsed, fetchd and agentd see it: a record in, its ack out only once the
 * row is committed (another SQLite connection sees it), agentd's requests
 * answered, events published to the agent's topic, the tap.
 */
#include <zmq.h>

#include "check_routed_fixture.h"

#define WAIT_MS 2000

struct rig {
	char *dir;
	void *ctx;
	struct routed *r;
	void *push;		/* as parsed */
	void *acks;		/* as fetchd[support] */
	void *events;		/* as agentd, for alice */
	void *req;		/* as agentd */
	void *tap;		/* as postroom-tap */
	char *db;
};

static void *
connect_to(struct rig *g, int type, const char *endpoint, const char *subscribe)
{
	g_autoptr(GError) err = NULL;
	void *s = zsock_connect(g->ctx, type, endpoint, subscribe, &err);

	ck_assert_msg(s != NULL, "%s", err ? err->message : "");
	return s;
}

/* readable - sock has a message within ms */
static gboolean
readable(void *sock, int ms)
{
	zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };

	return zmq_poll(&item, 1, ms) == 1;
}

/* tap_connect - a SUB on the tap (ipc://, so connecting takes a while),
 * returned once its handshake with routed's PUB is done */
static void *
tap_connect(struct rig *g, const char *endpoint)
{
	void *s = zmq_socket(g->ctx, ZMQ_SUB);
	void *mon = zmq_socket(g->ctx, ZMQ_PAIR);
	zmq_msg_t ev;
	int linger = 0;

	ck_assert(s != NULL && mon != NULL);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	ck_assert_int_eq(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0), 0);
	ck_assert_int_eq(zmq_socket_monitor(s, "inproc://tap-monitor",
	    ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 0);
	ck_assert_int_eq(zmq_connect(mon, "inproc://tap-monitor"), 0);
	ck_assert_int_eq(zmq_connect(s, endpoint), 0);
	ck_assert_msg(readable(mon, WAIT_MS), "no handshake with the tap");
	zmq_msg_init(&ev);
	ck_assert(zmq_msg_recv(&ev, mon, 0) >= 0);
	ck_assert_int_eq(*(uint16_t *)zmq_msg_data(&ev), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
	zmq_msg_close(&ev);
	zmq_socket_monitor(s, NULL, 0);
	zmq_close(mon);
	return s;
}

static struct rig *
rig_new(void)
{
	struct rig *g = g_new0(struct rig, 1);
	g_autoptr(GError) err = NULL;
	g_autofree char *tap = NULL;
	struct config *cfg;

	g->dir = fixture_dir();
	cfg = fixture_config(g->dir);
	g->ctx = zmq_ctx_new();
	g->db = g_build_filename(cfg->state_dir, ROUTED_DB_NAME, NULL);
	tap = config_tap_endpoint(cfg, "routed");
	g->r = routed_new(cfg, g->ctx, &err);
	ck_assert_msg(g->r != NULL, "%s", err ? err->message : "");
	g->push = connect_to(g, ZMQ_PUSH, g->r->cfg->routed_endpoint, NULL);
	g->acks = connect_to(g, ZMQ_SUB, g->r->cfg->acks_endpoint, "support");
	g->events = connect_to(g, ZMQ_SUB, g->r->cfg->events_endpoint, "alice");
	g->req = connect_to(g, ZMQ_REQ, g->r->cfg->control_endpoint, NULL);
	g->tap = tap_connect(g, tap);
	return g;
}

static void
rig_free(struct rig *g)
{
	zsock_close(g->push);
	zsock_close(g->acks);
	zsock_close(g->events);
	zsock_close(g->req);
	zsock_close(g->tap);
	routed_free(g->r);
	zmq_ctx_term(g->ctx);
	rm_rf(g->dir);
	g_free(g->dir);
	g_free(g->db);
	g_free(g);
}

static struct wire_msg *
receive(void *sock, gboolean topic)
{
	g_autoptr(GError) err = NULL;
	struct wire_msg *m;

	ck_assert_msg(readable(sock, WAIT_MS), "nothing came");
	m = wire_recv(sock, topic, FALSE, 0, &err);
	ck_assert_msg(m != NULL, "%s", err ? err->message : zmq_strerror(errno));
	return m;
}

/* send_record - what parsed sends: parsed.1, the record, raw, text body */
static void
send_record(struct rig *g, const char *type, json_t *meta)
{
	g_autoptr(GPtrArray) parts = record_parts("From: zoe@example.net\r\n\r\nhello\r\n",
	    FIXTURE_BODY, NULL);

	ck_assert_int_eq(wire_send(g->push, NULL, type, meta, parts, 0), 0);
	json_decref(meta);
}

/* input - routed's loop, once: wait for the records, handle them */
static void
input(struct rig *g)
{
	ck_assert(readable(g->r->in, WAIT_MS));
	ck_assert_int_gt(routed_handle_input(g->r), 0);
}

/* committed - rows with this key, seen by a connection of our own */
static int
committed(struct rig *g, const char *key)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int n;

	ck_assert_int_eq(sqlite3_open_v2(g->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE \"key\" = ?",
	    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* request - agentd's call: req.1 over REQ, rep.1 back */
static json_t *
request(struct rig *g, const char *fmt, ...)
{
	g_autoptr(wire_msg) rep = NULL;
	json_t *req, *meta;
	va_list ap;

	va_start(ap, fmt);
	req = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(wire_send(g->req, NULL, WIRE_REQ, req, NULL, 0), 0);
	json_decref(req);
	ck_assert(readable(g->r->control, WAIT_MS));
	ck_assert_int_eq(routed_handle_control(g->r), 1);
	rep = receive(g->req, FALSE);
	ck_assert_str_eq(rep->type, WIRE_REP);
	meta = json_incref(rep->meta);
	return meta;
}

START_TEST(test_ack_after_commit)
{
	struct rig *g = rig_new();
	const char *key = "support/1700000000/42";
	g_autoptr(wire_msg) ack = NULL, again = NULL, tapped = NULL;

	send_record(g, WIRE_PARSED, rec(key, "support", "abc@example.net", NULL, NULL,
	    "zoe@example.net", "Où est ma commande ?"));
	ck_assert_int_eq(committed(g, key), 0);
	input(g);
	ack = receive(g->acks, TRUE);
	/* the ack is out: the row is there for anyone who looks */
	ck_assert_int_eq(committed(g, key), 1);
	ck_assert_str_eq(ack->topic, "support");
	ck_assert_str_eq(ack->type, WIRE_ACK);
	ck_assert_str_eq(wire_meta_str(ack, "key"), key);
	ck_assert_str_eq(wire_meta_str(ack, "account"), "support");
	ck_assert_str_eq(wire_meta_str(ack, "status"), "stored");
	ck_assert_int_eq(wire_meta_int(ack, "uidvalidity"), 1700000000);
	ck_assert_int_eq(wire_meta_int(ack, "uid"), 42);
	ck_assert_int_gt(wire_meta_int(ack, "conversation"), 0);

	/* the tap shows the ack with the subject, never the body */
	tapped = receive(g->tap, FALSE);
	ck_assert_str_eq(tapped->type, WIRE_ACK);
	ck_assert_str_eq(wire_meta_str(tapped, "subject"), "Où est ma commande ?");
	ck_assert_int_eq(wire_meta_int(tapped, "conversation"), wire_meta_int(ack, "conversation"));
	ck_assert(json_object_get(tapped->meta, "text_body") == NULL);

	/* fetchd sends it again: acknowledged again, stored once */
	send_record(g, WIRE_PARSED, rec(key, "support", "abc@example.net", NULL, NULL,
	    "zoe@example.net", "Où est ma commande ?"));
	input(g);
	again = receive(g->acks, TRUE);
	ck_assert_str_eq(wire_meta_str(again, "status"), "duplicate");
	ck_assert_int_eq(wire_meta_int(again, "conversation"), wire_meta_int(ack, "conversation"));
	ck_assert_int_eq(committed(g, key), 1);
	rig_free(g);
}
END_TEST

START_TEST(test_no_ack_without_commit)
{
	struct rig *g = rig_new();
	const char *key = "support/1700000000/43";
	g_autoptr(wire_msg) ack = NULL;
	sqlite3 *other;

	/* another writer holds the database: routed cannot commit */
	ck_assert_int_eq(sqlite3_open(g->db, &other), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_busy_timeout(g->r->st->db, 0);
	send_record(g, WIRE_PARSED, rec(key, "support", "m43@example.net", NULL, NULL,
	    "zoe@example.net", "locked out"));
	input(g);
	ck_assert_msg(!readable(g->acks, 200), "an ack for a record that was not committed");

	/* the lock is gone; fetchd's re-send is stored and acknowledged */
	ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	send_record(g, WIRE_PARSED, rec(key, "support", "m43@example.net", NULL, NULL,
	    "zoe@example.net", "locked out"));
	input(g);
	ack = receive(g->acks, TRUE);
	ck_assert_str_eq(wire_meta_str(ack, "status"), "stored");
	ck_assert_int_eq(committed(g, key), 1);
	rig_free(g);
}
END_TEST

START_TEST(test_junk_dropped)
{
	struct rig *g = rig_new();
	g_autoptr(wire_msg) ack = NULL;

	/* a type routed does not know, a frame that is not a message, a record
	 * of an account nobody configured: logged, dropped, no ack, no crash */
	send_record(g, "parsed.9", rec("support/1/1", "support", "a@x", NULL, NULL, "z@x", "x"));
	ck_assert_int_eq(zmq_send(g->push, "junk", 4, 0), 4);
	send_record(g, WIRE_PARSED, rec("nobody/1/1", "nobody", "b@x", NULL, NULL, "z@x", "x"));
	send_record(g, WIRE_PARSED, rec("support/1/2", "support", "c@x", NULL, NULL, "z@x", "x"));
	input(g);
	while (readable(g->r->in, 0))
		routed_handle_input(g->r);
	/* in a batch with junk, the good record is stored and acknowledged */
	ack = receive(g->acks, TRUE);
	ck_assert_str_eq(wire_meta_str(ack, "key"), "support/1/2");
	ck_assert(!readable(g->acks, 100));
	ck_assert_int_eq(committed(g, "support/1/1"), 0);
	ck_assert_int_eq(committed(g, "nobody/1/1"), 0);
	rig_free(g);
}
END_TEST

START_TEST(test_control_and_events)
{
	struct rig *g = rig_new();
	g_autoptr(wire_msg) ack = NULL, ev = NULL, tapped = NULL, follow = NULL;
	json_t *rep;
	gint64 id;

	rep = request(g, "{s:s, s:s}", "op", "login", "agent", "alice");
	ck_assert(json_is_true(json_object_get(rep, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(rep, "state")), "paused");
	json_decref(rep);
	rep = request(g, "{s:s, s:s, s:s}", "op", "state", "agent", "alice", "state", "ready");
	ck_assert_str_eq(json_string_value(json_object_get(rep, "state")), "ready");
	json_decref(rep);

	send_record(g, WIRE_PARSED, rec("support/1/1", "support", "a@customer.example", NULL, NULL,
	    "zoe@example.net", "Order 17"));
	input(g);
	ack = receive(g->acks, TRUE);
	id = wire_meta_int(ack, "conversation");
	ev = receive(g->events, TRUE);
	ck_assert_str_eq(ev->topic, "alice");
	ck_assert_str_eq(ev->type, WIRE_EVENT);
	ck_assert_str_eq(wire_meta_str(ev, "event"), "assigned");
	ck_assert_int_eq(wire_meta_int(ev, "conversation"), id);
	ck_assert_str_eq(wire_meta_str(ev, "subject"), "Order 17");
	ck_assert_str_eq(wire_meta_str(ev, "from_addr"), "zoe@example.net");
	ck_assert_str_eq(wire_meta_str(ev, "group"), "support");

	/* the tap: the ack, then the event with its agent */
	wire_msg_free(receive(g->tap, FALSE));
	tapped = receive(g->tap, FALSE);
	ck_assert_str_eq(tapped->type, WIRE_EVENT);
	ck_assert_str_eq(wire_meta_str(tapped, "agent"), "alice");

	/* a follow-up: alice hears of it */
	send_record(g, WIRE_PARSED, rec("support/1/2", "support", "b@customer.example",
	    "a@customer.example", NULL, "zoe@example.net", "Re: Order 17"));
	input(g);
	wire_msg_free(receive(g->acks, TRUE));
	follow = receive(g->events, TRUE);
	ck_assert_str_eq(wire_meta_str(follow, "event"), "message");
	ck_assert_int_eq(wire_meta_int(follow, "conversation"), id);

	rep = request(g, "{s:s, s:s, s:I}", "op", "conversation", "agent", "alice",
	    "conversation", (json_int_t)id);
	ck_assert(json_is_true(json_object_get(rep, "ok")));
	ck_assert_int_eq(json_array_size(json_object_get(json_object_get(rep, "conversation"),
	    "messages")), 2);
	json_decref(rep);
	rep = request(g, "{s:s, s:s, s:I, s:s}", "op", "disposition", "agent", "alice",
	    "conversation", (json_int_t)id, "disposition", "NOPE");
	ck_assert(json_is_false(json_object_get(rep, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(rep, "error")), "bad_disposition");
	json_decref(rep);
	rep = request(g, "{s:s, s:s, s:I, s:s}", "op", "disposition", "agent", "alice",
	    "conversation", (json_int_t)id, "disposition", "DONE");
	ck_assert(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);

	/* a request of a type routed does not know gets no answer; the next does */
	{
		g_autoptr(json_t) meta = json_pack("{s:s}", "op", "status");
		void *dealer = connect_to(g, ZMQ_DEALER, g->r->cfg->control_endpoint, NULL);

		ck_assert_int_eq(zmq_send(dealer, "", 0, ZMQ_SNDMORE), 0);
		ck_assert_int_eq(wire_send(dealer, NULL, "req.9", meta, NULL, 0), 0);
		ck_assert(readable(g->r->control, WAIT_MS));
		routed_handle_control(g->r);
		ck_assert(!readable(dealer, 100));
		zsock_close(dealer);
	}
	rep = request(g, "{s:s, s:s}", "op", "status", "agent", "alice");
	ck_assert(json_is_null(json_object_get(rep, "conversation")));
	json_decref(rep);
	rig_free(g);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("routed_wire");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_ack_after_commit);
	tcase_add_test(tc, test_no_ack_without_commit);
	tcase_add_test(tc, test_junk_dropped);
	tcase_add_test(tc, test_control_and_events);
	suite_add_tcase(suite, tc);
	return unit_run(suite);
}
