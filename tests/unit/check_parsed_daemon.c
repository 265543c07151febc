/*
 * check_parsed_daemon - raw.1 in, parsed.1 out, over real inproc:// ZeroMQ
 * sockets: what routed receives, what the tap shows, what is dropped.
 */
#include <string.h>
#include <zmq.h>

#include <glib/gstdio.h>

#include "config.h"
#include "parsed.h"
#include "unit.h"
#include "wire.h"
#include "zsock.h"

#define DEADLINE_MS 5000

static const char message[] =
    "From: =?utf-8?q?Zo=C3=AB?= Martin <zoe@example.net>\r\n"
    "To: Support <support@example.com>\r\n"
    "Subject: =?utf-8?q?O=C3=B9_est_ma_commande_=3F?=\r\n"
    "Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
    "Message-ID: <abc@example.net>\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Bonjour, o\xc3\xb9 est ma commande ?\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=invoice.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n";

struct pipeline {
	void *ctx;
	void *fetchd;		/* PUSH, as fetchd */
	void *pull;		/* parsed's */
	void *push;		/* parsed's */
	void *routed;		/* PULL, as routed */
	struct tap *tap;
	void *watch;		/* SUB on the tap */
	struct config *cfg;	/* account "support": max_message_size 1 MB */
	char *dir;
};

static struct pipeline p;

/* put - a file of the configuration directory */
static void
put(const char *dir, const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	g_mkdir_with_parents(parent, 0700);
	ck_assert(g_file_set_contents(path, text, -1, NULL));
}

static void
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
	}
	g_remove(path);
}

/* config_with - a configuration directory whose account "support" says
 * max_message_size = size (NULL: not at all), loaded; NULL with err */
static struct config *
config_with(const char *dir, const char *size, GError **err)
{
	g_autofree char *account = g_strdup_printf("[account]\nhost = imap.example.com\n"
	    "user = support@example.com\npassword_file = pw\ngroup = support\n"
	    "reply_address = support@example.com\nsmtp_host = smtp.example.com\n%s%s%s",
	    size ? "max_message_size = " : "", size ? size : "", size ? "\n" : "");

	put(dir, "postroom.conf", "[postroom]\nrun_dir = /tmp/r\nstate_dir = st\n");
	put(dir, "accounts/support.conf", account);
	put(dir, "groups/support.conf", "[group]\nname = Support\n");
	put(dir, "agents/ada.conf", "[agent]\nname = Ada\npassword_hash = $y$j9T$abc$def\n"
	    "groups = support\n");
	return config_load(dir, err);
}

static void
setup(void)
{
	g_autoptr(GError) err = NULL;

	p.dir = g_dir_make_tmp("check_parsed.XXXXXX", NULL);
	ck_assert_ptr_nonnull(p.dir);
	p.cfg = config_with(p.dir, "1048576", &err);
	ck_assert_msg(p.cfg != NULL, "%s", err ? err->message : "");

	p.ctx = zmq_ctx_new();
	p.pull = zsock_bind(p.ctx, ZMQ_PULL, "inproc://parsed-0", &err);
	p.routed = zsock_bind(p.ctx, ZMQ_PULL, "inproc://routed", &err);
	p.fetchd = zsock_connect(p.ctx, ZMQ_PUSH, "inproc://parsed-0", NULL, &err);
	p.push = zsock_connect(p.ctx, ZMQ_PUSH, "inproc://routed", NULL, &err);
	p.tap = tap_new(p.ctx, "inproc://tap-parsed-0", &err);
	p.watch = zsock_connect(p.ctx, ZMQ_SUB, "inproc://tap-parsed-0", "", &err);
	ck_assert_ptr_nonnull(p.pull);
	ck_assert_ptr_nonnull(p.routed);
	ck_assert_ptr_nonnull(p.fetchd);
	ck_assert_ptr_nonnull(p.push);
	ck_assert_ptr_nonnull(p.tap);
	ck_assert_ptr_nonnull(p.watch);
}

static void
teardown(void)
{
	zsock_close(p.fetchd);
	zsock_close(p.pull);
	zsock_close(p.push);
	zsock_close(p.routed);
	zsock_close(p.watch);
	tap_free(p.tap);
	zmq_ctx_term(p.ctx);
	config_free(p.cfg);
	rm_rf(p.dir);
	g_clear_pointer(&p.dir, g_free);
}

/* send_raw - what fetchd sends: type, meta, payload frames */
static void
send_raw(const char *type, const char *key, const char *data, gsize len, gboolean payload)
{
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	json_t *meta = json_pack("{s:s, s:s, s:i, s:i, s:I, s:i}", "key", key, "account", "support",
	    "uidvalidity", 1700000000, "uid", 42, "size", (json_int_t)len, "attempt", 1);

	if (payload)
		g_ptr_array_add(parts, g_bytes_new(data, len));
	ck_assert_int_eq(wire_send(p.fetchd, NULL, type, meta, parts, 0), 0);
	json_decref(meta);
}

/* ready - sock has a message within the deadline */
static gboolean
ready(void *sock, long timeout_ms)
{
	zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };

	return zmq_poll(&it, 1, timeout_ms) == 1;
}

/* step - parsed takes the message waiting for it */
static void
step(void)
{
	ck_assert(ready(p.pull, DEADLINE_MS));
	ck_assert(parsed_handle(p.pull, p.push, p.tap, p.cfg));
}

static struct wire_msg *
at_routed(void)
{
	g_autoptr(GError) err = NULL;
	struct wire_msg *m;

	ck_assert(ready(p.routed, DEADLINE_MS));
	m = wire_recv(p.routed, FALSE, FALSE, 0, &err);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* body - a parsed.1's text body (frame 1), checked to be UTF-8 without
 * NUL, as routed checks it; free it */
static char *
body(const struct wire_msg *m)
{
	gsize len;
	const char *data;

	ck_assert_uint_ge(m->parts->len, 2);
	data = g_bytes_get_data(m->parts->pdata[1], &len);
	ck_assert(len == 0 || g_utf8_validate_len(data, len, NULL));
	return g_strndup(data ? data : "", len);
}

START_TEST(test_record)
{
	g_autoptr(wire_msg) m = NULL;
	g_autofree char *text = NULL;
	json_t *att;
	gsize len;
	const char *data;

	send_raw(WIRE_RAW, "support/1700000000/42", message, sizeof message - 1, TRUE);
	step();
	m = at_routed();
	ck_assert_str_eq(m->type, WIRE_PARSED);
	ck_assert_str_eq(wire_meta_str(m, "key"), "support/1700000000/42");
	ck_assert_str_eq(wire_meta_str(m, "account"), "support");
	ck_assert_int_eq(wire_meta_int(m, "uidvalidity"), 1700000000);
	ck_assert_int_eq(wire_meta_int(m, "uid"), 42);
	ck_assert_int_eq(wire_meta_int(m, "size"), sizeof message - 1);
	ck_assert_ptr_null(json_object_get(m->meta, "attempt"));
	ck_assert_str_eq(wire_meta_str(m, "subject"), "Où est ma commande ?");
	ck_assert_str_eq(wire_meta_str(m, "from_name"), "Zoë Martin");
	ck_assert_str_eq(wire_meta_str(m, "from_addr"), "zoe@example.net");
	ck_assert_str_eq(wire_meta_str(m, "date_iso_utc"), "2023-11-14T09:00:00Z");
	ck_assert_str_eq(wire_meta_str(m, "message_id"), "abc@example.net");
	/* the text body is a frame of its own, not in the meta */
	ck_assert_ptr_null(json_object_get(m->meta, "text_body"));
	ck_assert_str_eq(wire_meta_str(m, "text_body_source"), "plain");
	ck_assert(json_is_array(json_object_get(m->meta, "warnings")));
	ck_assert_int_eq(json_array_size(json_object_get(m->meta, "warnings")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(m->meta, "attachments")), 1);
	att = json_array_get(json_object_get(m->meta, "attachments"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(att, "filename")), "invoice.pdf");
	ck_assert_int_eq(json_integer_value(json_object_get(att, "size")), 9);
	ck_assert(json_is_integer(json_object_get(att, "part")));

	/* frame 0 the raw message as sent, frame 1 the text body (UTF-8), and
	 * no more: the attachment's bytes are found in frame 0 by its part */
	ck_assert_uint_eq(m->parts->len, 2);
	data = g_bytes_get_data(m->parts->pdata[0], &len);
	ck_assert_uint_eq(len, sizeof message - 1);
	ck_assert(memcmp(data, message, len) == 0);
	text = body(m);
	ck_assert_str_eq(text, "Bonjour, où est ma commande ?");
	{
		g_autoptr(GBytes) pdf = mime_part_content(m->parts->pdata[0],
		    (guint)json_integer_value(json_object_get(att, "part")));

		ck_assert_ptr_nonnull(pdf);
		data = g_bytes_get_data(pdf, &len);
		ck_assert_uint_eq(len, 9);
		ck_assert(memcmp(data, "%PDF-1.4\n", 9) == 0);
	}
}
END_TEST

START_TEST(test_tap)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(wire_msg) m = NULL, t = NULL;

	send_raw(WIRE_RAW, "support/1700000000/43", message, sizeof message - 1, TRUE);
	step();
	m = at_routed();
	ck_assert(ready(p.watch, DEADLINE_MS));
	t = wire_recv(p.watch, FALSE, FALSE, 0, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->type, WIRE_PARSED);
	ck_assert_str_eq(wire_meta_str(t, "key"), "support/1700000000/43");
	ck_assert_str_eq(wire_meta_str(t, "subject"), "Où est ma commande ?");
	ck_assert_ptr_null(json_object_get(t->meta, "text_body"));
	ck_assert_uint_eq(t->parts->len, 0);
	/* routed got the body, the tap did not */
	ck_assert_uint_eq(m->parts->len, 2);
	ck_assert_uint_gt(g_bytes_get_size(m->parts->pdata[1]), 0);
}
END_TEST

START_TEST(test_dropped)
{
	g_autoptr(wire_msg) m = NULL;

	/* an unknown type, a raw.1 without payload, one without key: dropped */
	send_raw("raw.9", "support/1/1", message, sizeof message - 1, TRUE);
	step();
	send_raw(WIRE_RAW, "support/1/2", NULL, 0, FALSE);
	step();
	send_raw(WIRE_RAW, "", message, sizeof message - 1, TRUE);
	step();
	ck_assert(!ready(p.routed, 0));
	/* the next good one is the first thing routed sees */
	send_raw(WIRE_RAW, "support/1/3", message, sizeof message - 1, TRUE);
	step();
	m = at_routed();
	ck_assert_str_eq(wire_meta_str(m, "key"), "support/1/3");
	/* nothing waiting: nothing done */
	ck_assert(!parsed_handle(p.pull, p.push, p.tap, p.cfg));
}
END_TEST

START_TEST(test_garbage_forwarded)
{
	static const char junk[] = "\x00\x01\x02\xff\xfe garbage \x80\n\n\n--";
	g_autoptr(wire_msg) m = NULL;
	g_autofree char *text = NULL;

	send_raw(WIRE_RAW, "support/1/4", junk, sizeof junk - 1, TRUE);
	step();
	m = at_routed();
	ck_assert_str_eq(m->type, WIRE_PARSED);
	ck_assert_str_eq(wire_meta_str(m, "key"), "support/1/4");
	ck_assert_int_gt(json_array_size(json_object_get(m->meta, "warnings")), 0);
	/* the raw bytes and a text body, UTF-8 whatever came in */
	ck_assert_uint_eq(m->parts->len, 2);
	ck_assert_uint_eq(g_bytes_get_size(m->parts->pdata[0]), sizeof junk - 1);
	text = body(m);
}
END_TEST

START_TEST(test_no_copy)
{
	struct wire_msg in = { 0 };
	g_autoptr(GPtrArray) parts = NULL;
	g_autoptr(GError) err = NULL;
	json_t *meta = NULL;

	in.type = WIRE_RAW;
	in.meta = json_pack("{s:s}", "key", "support/1/5");
	in.parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_ptr_array_add(in.parts, g_bytes_new_static(message, sizeof message - 1));
	ck_assert(parsed_process(&in, PARSED_MAX_MESSAGE_SIZE, &meta, &parts, &err));
	/* the raw frame goes on as the very same bytes */
	ck_assert_ptr_eq(parts->pdata[0], in.parts->pdata[0]);
	/* size defaults to the payload's */
	ck_assert_int_eq(json_integer_value(json_object_get(meta, "size")), sizeof message - 1);
	json_decref(meta);
	json_decref(in.meta);
	g_ptr_array_unref(in.parts);
}
END_TEST

/* big - a message of about size bytes: headers, a short text, and an
 * attachment of base64 lines */
static GByteArray *
big(gsize size)
{
	GByteArray *b = g_byte_array_new();
	static const char head[] =
	    "From: Zoe <zoe@example.net>\r\nSubject: the scans\r\n"
	    "Date: Tue, 14 Nov 2023 10:00:00 +0100\r\nMessage-ID: <big@example.net>\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nThe scans.\r\n"
	    "--b\r\nContent-Type: application/pdf; name=scans.pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n";
	static const char line[] =
	    "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURl\r\n";

	g_byte_array_append(b, (const guint8 *)head, sizeof head - 1);
	while (b->len + sizeof line < size)
		g_byte_array_append(b, (const guint8 *)line, sizeof line - 1);
	g_byte_array_append(b, (const guint8 *)"--b--\r\n", 7);
	return b;
}

/* A message over its account's max_message_size is not parsed, but still
 * becomes a record: its headers, a warning, a notice as its text, its raw
 * bytes as frame 0, no attachment. */
START_TEST(test_too_large)
{
	g_autoptr(GByteArray) b = big(1572864);	/* 1.5 MB, over the 1 MB limit */
	g_autoptr(wire_msg) m = NULL;
	g_autofree char *text = NULL;
	json_t *warns;
	gsize len;
	const char *data;

	send_raw(WIRE_RAW, "support/1/6", (const char *)b->data, b->len, TRUE);
	step();
	m = at_routed();
	ck_assert_str_eq(m->type, WIRE_PARSED);
	ck_assert_str_eq(wire_meta_str(m, "key"), "support/1/6");
	ck_assert_str_eq(wire_meta_str(m, "subject"), "the scans");
	ck_assert_str_eq(wire_meta_str(m, "from_addr"), "zoe@example.net");
	ck_assert_str_eq(wire_meta_str(m, "message_id"), "big@example.net");
	ck_assert_str_eq(wire_meta_str(m, "date_iso_utc"), "2023-11-14T09:00:00Z");
	text = body(m);
	ck_assert_str_eq(text, "[postroom: this message is 1.5 MB, over this account's "
	    "max_message_size of 1 MB; its raw bytes are kept]");
	warns = json_object_get(m->meta, "warnings");
	ck_assert_int_eq(json_array_size(warns), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(warns, 0)),
	    "over max_message_size"));
	ck_assert_int_eq(json_array_size(json_object_get(m->meta, "attachments")), 0);
	ck_assert_uint_eq(m->parts->len, 2);
	data = g_bytes_get_data(m->parts->pdata[0], &len);
	ck_assert_uint_eq(len, b->len);
	ck_assert(memcmp(data, b->data, len) == 0);
}
END_TEST

/* Under the limit, or from an account the configuration does not know
 * (the default, 50 MB), the same message is parsed whole. */
START_TEST(test_under_limit)
{
	g_autoptr(GByteArray) small = big(900 * 1024);
	g_autoptr(GByteArray) b = big(1572864);
	g_autoptr(wire_msg) m = NULL, n = NULL;
	g_autofree char *text = NULL, *text2 = NULL;
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	json_t *meta = json_pack("{s:s, s:s}", "key", "other/1/1", "account", "other");

	send_raw(WIRE_RAW, "support/1/7", (const char *)small->data, small->len, TRUE);
	step();
	m = at_routed();
	text = body(m);
	ck_assert_str_eq(text, "The scans.");
	ck_assert_int_eq(json_array_size(json_object_get(m->meta, "attachments")), 1);
	ck_assert_uint_eq(m->parts->len, 2);

	g_ptr_array_add(parts, g_bytes_new(b->data, b->len));
	ck_assert_int_eq(wire_send(p.fetchd, NULL, WIRE_RAW, meta, parts, 0), 0);
	json_decref(meta);
	step();
	n = at_routed();
	text2 = body(n);
	ck_assert_str_eq(text2, "The scans.");
	ck_assert_int_eq(json_array_size(json_object_get(n->meta, "attachments")), 1);
	ck_assert_uint_eq(n->parts->len, 2);
	ck_assert_uint_eq(parsed_limit(p.cfg, "other"), 52428800);
	ck_assert_uint_eq(parsed_limit(NULL, "support"), 52428800);
	ck_assert_uint_eq(parsed_limit(p.cfg, "support"), 1048576);
}
END_TEST

/* The key: a default of 50 MB, from 1 MB to 2 GB. */
START_TEST(test_limit_key)
{
	static const struct {
		const char *value;	/* NULL: not in the file */
		long want;		/* 0: refused */
	} cases[] = {
		{ NULL, 52428800 }, { "1048576", 1048576 }, { "2147483648", 2147483648L },
		{ "1048575", 0 }, { "2147483649", 0 }, { "50MB", 0 },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *dir = g_dir_make_tmp("check_parsed.XXXXXX", NULL);
		g_autoptr(GError) err = NULL;
		g_autoptr(config) c = config_with(dir, cases[i].value, &err);

		if (cases[i].want) {
			ck_assert_msg(c != NULL, "%s: %s", cases[i].value, err ? err->message : "");
			ck_assert_int_eq(config_account(c, "support")->max_message_size, cases[i].want);
		} else {
			ck_assert_msg(c == NULL, "%s accepted", cases[i].value);
			ck_assert_ptr_nonnull(strstr(err->message, "[account] max_message_size"));
		}
		rm_rf(dir);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("parsed_daemon");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_record);
	tcase_add_test(tc, test_tap);
	tcase_add_test(tc, test_dropped);
	tcase_add_test(tc, test_garbage_forwarded);
	tcase_add_test(tc, test_no_copy);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_under_limit);
	tcase_add_test(tc, test_limit_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *s;

	mime_init();
	s = suite();
	return unit_run(s);
}
