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
	tcase_add_test(tc, test_key);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
