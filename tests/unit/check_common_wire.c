/*
 * check_common_wire - the envelope over real inproc:// sockets.
 */
#include <string.h>
#include <zmq.h>

#include "unit.h"
#include "wire.h"
#include "zsock.h"

static void *ctx;

static void
setup(void)
{
	ctx = zmq_ctx_new();
}

static void
teardown(void)
{
	zmq_ctx_term(ctx);
}

static void *
bind_ok(int type, const char *ep)
{
	g_autoptr(GError) err = NULL;
	void *s = zsock_bind(ctx, type, ep, &err);

	ck_assert_msg(s != NULL, "%s", err ? err->message : "");
	return s;
}

static void *
connect_ok(int type, const char *ep, const char *sub)
{
	g_autoptr(GError) err = NULL;
	void *s = zsock_connect(ctx, type, ep, sub, &err);

	ck_assert_msg(s != NULL, "%s", err ? err->message : "");
	return s;
}

START_TEST(test_roundtrip)
{
	void *pull = bind_ok(ZMQ_PULL, "inproc://rt");
	void *push = connect_ok(ZMQ_PUSH, "inproc://rt", NULL);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	json_t *meta = json_pack("{s:s, s:i, s:s}", "key", "support/7/42", "uid", 42, "subject", "Où ?");
	static const char raw[] = "Subject: x\r\n\r\nbody with a NUL \0 inside";
	g_autoptr(wire_msg) m = NULL;
	gsize len;

	g_ptr_array_add(parts, g_bytes_new_static(raw, sizeof raw));
	g_ptr_array_add(parts, g_bytes_new_static("", 0));
	ck_assert_int_eq(wire_send(push, NULL, WIRE_RAW, meta, parts, 0), 0);
	json_decref(meta);

	m = wire_recv(pull, FALSE, FALSE, 0, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->type, WIRE_RAW);
	ck_assert_str_eq(wire_meta_str(m, "key"), "support/7/42");
	ck_assert_str_eq(wire_meta_str(m, "subject"), "Où ?");
	ck_assert_int_eq(wire_meta_int(m, "uid"), 42);
	ck_assert_ptr_null(wire_meta_str(m, "missing"));
	ck_assert_uint_eq(m->parts->len, 2);
	ck_assert_mem_eq(g_bytes_get_data(m->parts->pdata[0], &len), raw, sizeof raw);
	ck_assert_uint_eq(len, sizeof raw);
	ck_assert_uint_eq(g_bytes_get_size(m->parts->pdata[1]), 0);
	zsock_close(push);
	zsock_close(pull);
}
END_TEST

/* A subscriber to "support" also gets "support2" from ZeroMQ: the topic is
 * there for the receiver to compare exactly. */
START_TEST(test_topic)
{
	void *pub = bind_ok(ZMQ_PUB, "inproc://acks");
	void *sub = connect_ok(ZMQ_SUB, "inproc://acks", "support");
	json_t *meta = json_object();
	g_autoptr(wire_msg) a = NULL, b = NULL;
	zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };

	/* the subscription reaches the publisher asynchronously: publish
	 * until the first message arrives */
	while (zmq_poll(&item, 1, 0) == 0) {
		wire_send(pub, "support2", WIRE_ACK, meta, NULL, 0);
		zmq_poll(&item, 1, 10);
	}
	a = wire_recv(sub, TRUE, FALSE, 0, NULL);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->topic, "support2");
	ck_assert_str_eq(a->type, WIRE_ACK);
	json_decref(meta);
	zsock_close(sub);
	zsock_close(pub);
}
END_TEST

START_TEST(test_router)
{
	void *router = bind_ok(ZMQ_ROUTER, "inproc://control");
	void *req = connect_ok(ZMQ_REQ, "inproc://control", NULL);
	json_t *meta = json_pack("{s:s, s:s}", "op", "status", "agent", "ada");
	g_autoptr(wire_msg) q = NULL, r = NULL;

	ck_assert_int_eq(wire_send(req, NULL, WIRE_REQ, meta, NULL, 0), 0);
	json_decref(meta);
	q = wire_recv(router, FALSE, TRUE, 0, NULL);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(wire_meta_str(q, "op"), "status");
	meta = json_pack("{s:b, s:s}", "ok", 1, "state", "paused");
	ck_assert_int_eq(wire_reply(router, q, WIRE_REP, meta, NULL), 0);
	json_decref(meta);
	r = wire_recv(req, FALSE, FALSE, 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->type, WIRE_REP);
	ck_assert_str_eq(wire_meta_str(r, "state"), "paused");
	zsock_close(req);
	zsock_close(router);
}
END_TEST

/* What arrives from the network is untrusted: malformed envelopes are an
 * error, read whole, and the next good message still comes through. */
static const struct {
	const char *frames[3];
	int n;
} malformed[] = {
	{ { "raw.1" }, 1 },
	{ { "raw.1", "not json" }, 2 },
	{ { "raw.1", "[1,2]" }, 2 },
	{ { "raw.1", "{\"a\":" }, 2 },
};

START_TEST(test_malformed)
{
	void *pull = bind_ok(ZMQ_PULL, "inproc://bad");
	void *push = connect_ok(ZMQ_PUSH, "inproc://bad", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(wire_msg) m = NULL, good = NULL;
	json_t *meta = json_object();

	for (int i = 0; i < malformed[_i].n; i++)
		zmq_send(push, malformed[_i].frames[i], strlen(malformed[_i].frames[i]),
		    i + 1 < malformed[_i].n ? ZMQ_SNDMORE : 0);
	wire_send(push, NULL, WIRE_RAW, meta, NULL, 0);
	json_decref(meta);

	m = wire_recv(pull, FALSE, FALSE, 0, &err);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(err);
	good = wire_recv(pull, FALSE, FALSE, 0, NULL);
	ck_assert_ptr_nonnull(good);
	ck_assert_str_eq(good->type, WIRE_RAW);
	zsock_close(push);
	zsock_close(pull);
}
END_TEST

/* A tap nobody reads, or a watcher that never reads, never blocks. */
START_TEST(test_tap_never_blocks)
{
	g_autoptr(GError) err = NULL;
	struct tap *t = tap_new(ctx, "inproc://tap", &err);
	void *slow = connect_ok(ZMQ_SUB, "inproc://tap", "");
	json_t *meta = json_pack("{s:s}", "key", "k");

	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < 100000; i++)
		tap_publish(t, WIRE_RAW, meta);
	json_decref(meta);
	zsock_close(slow);
	tap_free(t);
}
END_TEST

/* recv_frames - every frame of the next message, as GBytes */
static GPtrArray *
recv_frames(void *sock)
{
	GPtrArray *frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	int more;

	do {
		zmq_msg_t f;

		zmq_msg_init(&f);
		ck_assert_int_ge(zmq_msg_recv(&f, sock, 0), 0);
		g_ptr_array_add(frames, g_bytes_new(zmq_msg_data(&f), zmq_msg_size(&f)));
		more = zmq_msg_more(&f);
		zmq_msg_close(&f);
	} while (more);
	return frames;
}

/* The meta frame is compact JSON in UTF-8 (docs/wire.md), and a meta sent
 * as text (wire_send_text, tap_publish_text) makes the very same frames as
 * the same meta sent as a json_t. */
START_TEST(test_text)
{
	void *pull = bind_ok(ZMQ_PULL, "inproc://text");
	void *push = connect_ok(ZMQ_PUSH, "inproc://text", NULL);
	g_autoptr(GError) err = NULL;
	struct tap *t = tap_new(ctx, "inproc://tap-text", &err);
	void *watch = connect_ok(ZMQ_SUB, "inproc://tap-text", "");
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GPtrArray) a = NULL, b = NULL;
	g_autoptr(wire_msg) m = NULL, tapped = NULL;
	json_t *meta = json_pack("{s:s, s:s}", "key", "support/1/1", "subject", "Où ?");
	g_autofree char *text = json_dumps(meta, JSON_COMPACT);
	static const char want[] = "{\"key\":\"support/1/1\",\"subject\":\"Où ?\"}";

	g_ptr_array_add(parts, g_bytes_new_static("raw", 3));
	g_ptr_array_add(parts, g_bytes_new_static("body", 4));
	ck_assert_int_eq(wire_send(push, NULL, WIRE_PARSED, meta, parts, 0), 0);
	ck_assert_int_eq(wire_send_text(push, NULL, WIRE_PARSED, text, parts, 0), 0);
	a = recv_frames(pull);
	b = recv_frames(pull);
	ck_assert_uint_eq(a->len, 4);
	ck_assert_uint_eq(b->len, 4);
	for (guint i = 0; i < a->len; i++)
		ck_assert(g_bytes_equal(a->pdata[i], b->pdata[i]));
	ck_assert_uint_eq(g_bytes_get_size(a->pdata[1]), sizeof want - 1);
	ck_assert_mem_eq(g_bytes_get_data(a->pdata[1], NULL), want, sizeof want - 1);

	/* the tap: a SUB connected over inproc:// is subscribed once a
	 * message gets through; the meta arrives, the payload never */
	ck_assert_int_eq(wire_send_text(push, NULL, WIRE_PARSED, text, NULL, 0), 0);
	m = wire_recv(pull, FALSE, FALSE, 0, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->parts->len, 0);
	for (int i = 0; i < 100 && !tapped; i++) {
		zmq_pollitem_t it = { watch, 0, ZMQ_POLLIN, 0 };

		tap_publish_text(t, WIRE_PARSED, text);
		if (zmq_poll(&it, 1, 10) == 1)
			tapped = wire_recv(watch, FALSE, FALSE, 0, NULL);
	}
	ck_assert_ptr_nonnull(tapped);
	ck_assert_str_eq(tapped->type, WIRE_PARSED);
	ck_assert_str_eq(wire_meta_str(tapped, "subject"), "Où ?");
	ck_assert_uint_eq(tapped->parts->len, 0);
	json_decref(meta);
	zsock_close(watch);
	tap_free(t);
	zsock_close(push);
	zsock_close(pull);
}
END_TEST

START_TEST(test_key)
{
	g_autofree char *k = wire_key("support", 4294967295u, 1);

	ck_assert_str_eq(k, "support/4294967295/1");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_wire");
	TCase *tc = tcase_create("wire");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_topic);
	tcase_add_test(tc, test_router);
	tcase_add_loop_test(tc, test_malformed, 0, UNIT_N(malformed));
	tcase_add_test(tc, test_tap_never_blocks);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_key);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
