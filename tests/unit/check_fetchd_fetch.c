/*
 * check_fetchd_fetch - one account end to end against a scripted IMAP server
 * on a loopback port, with real inproc:// sockets to parsed and from routed.
 *
 * The server writes its answers a few bytes at a time, so responses and
 * literals arrive split.  It records every command, so the tests can say
 * that fetchd only ever opened the folder read-only and peeked, that
 * after_fetch touches only what was acknowledged, that IDLE is entered when
 * caught up and left for "* N EXISTS", and what a changed UIDVALIDITY does
 * (routed's answer to "message_ids" comes from a REP socket in a thread).
 */
#include "check_fetchd_fixture.h"

#define UV	42
#define MAX_UID	4

/* the IMAP server's mailbox and manners */
struct fake {
	GBytes *mail[MAX_UID + 1];	/* uid 1..MAX_UID; NULL: not there */
	gboolean listed[MAX_UID + 1];	/* what the listing shows */
	gboolean withheld[MAX_UID + 1];	/* there, but its body never comes */
	guint32 uidvalidity;
	const char *caps;	/* the CAPABILITY line's words */
	int client;		/* the connection, to announce mail on */
	char idle_tag[16];	/* while IDLE */
};

static struct fake fake;

/* in_set - uid in an IMAP set like "1:3,5" or "4:*" (* = the highest) */
static gboolean
in_set(const char *set, guint32 uid, guint32 highest)
{
	g_auto(GStrv) parts = g_strsplit(set, ",", -1);

	for (char **p = parts; *p; p++) {
		char *colon = strchr(*p, ':');
		guint32 a = strtoul(*p, NULL, 10), b = a;

		if (colon)
			b = colon[1] == '*' ? highest : strtoul(colon + 1, NULL, 10);
		if ((uid >= a && uid <= b) || (uid >= b && uid <= a))
			return TRUE;
	}
	return FALSE;
}

/* answer - a tagged command, noted */
static void
answer(int fd, const char *tag, const char *cmd)
{
	server_note(cmd);
	if (g_str_has_prefix(cmd, "CAPABILITY")) {
		putf(fd, "* CAPABILITY %s\r\n%s OK done\r\n", fake.caps, tag);
	} else if (g_str_has_prefix(cmd, "LOGIN ")) {
		putf(fd, "%s OK logged in\r\n", tag);
	} else if (g_str_has_prefix(cmd, "EXAMINE ") || g_str_has_prefix(cmd, "SELECT ")) {
		putf(fd, "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY %u] ok\r\n"
		    "* OK [UIDNEXT 4] next\r\n%s OK [%s] done\r\n", fake.uidvalidity, tag,
		    cmd[0] == 'E' ? "READ-ONLY" : "READ-WRITE");
	} else if (g_str_has_prefix(cmd, "IDLE")) {
		g_strlcpy(fake.idle_tag, tag, sizeof fake.idle_tag);
		putf(fd, "+ idling\r\n");
	} else if (g_str_has_prefix(cmd, "UID STORE ") || g_str_has_prefix(cmd, "UID EXPUNGE ")
	    || g_str_has_prefix(cmd, "UID MOVE ")) {
		putf(fd, "%s OK done\r\n", tag);
	} else if (g_str_has_prefix(cmd, "UID FETCH ") && strstr(cmd, "HEADER.FIELDS")) {
		/* the Message-IDs: m-UID@test */
		for (guint32 u = 1; u <= MAX_UID; u++) {
			g_autofree char *h = g_strdup_printf("Message-ID: <m-%u@t>\r\n\r\n", u);

			if (fake.listed[u])
				putf(fd, "* %u FETCH (UID %u BODY[HEADER.FIELDS (MESSAGE-ID)] {%zu}\r\n"
				    "%s)\r\n", u, u, strlen(h), h);
		}
		putf(fd, "%s OK done\r\n", tag);
	} else if (g_str_has_prefix(cmd, "UID FETCH ")) {
		g_auto(GStrv) w = g_strsplit(cmd, " ", 3);
		gboolean body = strstr(cmd, "BODY.PEEK[]") != NULL;
		guint32 highest = 0;

		/* what was listed without mail is expunged before it can be fetched */
		for (guint32 u = 1; u <= MAX_UID && body; u++)
			if (!fake.mail[u])
				fake.listed[u] = FALSE;
		for (guint32 u = 1; u <= MAX_UID; u++)
			if (fake.listed[u])
				highest = u;
		/* an unsolicited flag change, as servers send them */
		putf(fd, "* 1 FETCH (FLAGS (\\Seen))\r\n");
		for (guint32 u = 1; u <= MAX_UID; u++) {
			gsize len;
			const void *data;

			if (!fake.listed[u] || !in_set(w[2], u, highest))
				continue;
			if (!body) {
				putf(fd, "* %u FETCH (UID %u RFC822.SIZE %zu)\r\n", u, u,
				    fake.mail[u] ? g_bytes_get_size(fake.mail[u]) : 100);
				continue;
			}
			if (!fake.mail[u] || fake.withheld[u])
				continue;
			data = g_bytes_get_data(fake.mail[u], &len);
			/* items in another order than asked */
			putf(fd, "* %u FETCH (RFC822.SIZE %zu BODY[] {%zu}\r\n", u, len, len);
			put(fd, data, len);
			putf(fd, " UID %u)\r\n", u);
		}
		putf(fd, "%s OK done\r\n", tag);
	} else if (g_str_has_prefix(cmd, "NOOP")) {
		putf(fd, "%s OK done\r\n", tag);
	} else if (g_str_has_prefix(cmd, "LOGOUT")) {
		putf(fd, "* BYE bye\r\n%s OK done\r\n", tag);
	} else {
		putf(fd, "%s BAD what?\r\n", tag);
	}
}

/* session - one IMAP connection: the greeting, then answers; DONE ends IDLE */
static void
session(int fd)
{
	g_autoptr(GString) line = g_string_new(NULL);

	fake.client = fd;
	putf(fd, "* OK fake IMAP ready\r\n");
	while (server_read_line(fd, line)) {
		char *sp;

		if (strcmp(line->str, "DONE") == 0 && *fake.idle_tag) {
			server_note("DONE");
			putf(fd, "%s OK idle done\r\n", fake.idle_tag);
			*fake.idle_tag = '\0';
		}
		sp = strchr(line->str, ' ');
		if (sp) {
			*sp = '\0';
			answer(fd, line->str, sp + 1);
		}
	}
	fake.client = -1;
}

static GBytes *
message(guint32 uid, gsize body)
{
	GString *s = g_string_new(NULL);
	g_autoptr(GRand) r = g_rand_new_with_seed(uid);
	gsize len;

	g_string_append_printf(s, "Subject: message %u\r\n\r\n", uid);
	for (gsize i = 0; i < body; i++)
		g_string_append_c(s, (char)g_rand_int_range(r, 0, 256));
	g_string_append(s, ")\r\nF1 OK fake\r\n");
	len = s->len;
	return g_bytes_new_take(g_string_free(s, FALSE), len);
}

static struct config *
make_config_with(const char *extra)
{
	g_autofree char *acc = g_strdup_printf("[account]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
	    "user = support\npassword_file = secret\ngroup = support\n"
	    "reply_address = support@example.com\nsmtp_host = 127.0.0.1\nallow_plaintext = yes\n%s",
	    server.port, extra);

	return fixture_config("[endpoints]\ncontrol = inproc://control\n", acc);
}

static struct config *
make_config(void)
{
	return make_config_with("");
}

static void
setup(void)
{
	memset(&fake, 0, sizeof fake);
	fake.uidvalidity = UV;
	fake.caps = "IMAP4rev1";
	fake.client = -1;
	fake.mail[1] = message(1, 40);
	fake.mail[3] = message(3, 300 * 1024);	/* large enough to leave as a slice */
	fake.listed[1] = fake.listed[2] = fake.listed[3] = TRUE;	/* 2 expunged meanwhile */
	fixture_setup("check_fetchd_fetch.XXXXXX", session);
}

static void
teardown(void)
{
	fixture_teardown();
	for (int i = 0; i <= MAX_UID; i++)
		if (fake.mail[i])
			g_bytes_unref(fake.mail[i]);
}

/* received - the next raw.1 on the PULL socket, already there or NULL */
static struct wire_msg *
received(void)
{
	return wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL);
}

static void
check_raw(struct wire_msg *m, guint32 uid, int attempt)
{
	g_autofree char *key = wire_key("support", UV, uid);
	GBytes *raw;

	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->type, WIRE_RAW);
	ck_assert_str_eq(wire_meta_str(m, "key"), key);
	ck_assert_str_eq(wire_meta_str(m, "account"), "support");
	ck_assert_int_eq(wire_meta_int(m, "uidvalidity"), UV);
	ck_assert_int_eq(wire_meta_int(m, "uid"), uid);
	ck_assert_int_eq(wire_meta_int(m, "attempt"), attempt);
	ck_assert_uint_eq(m->parts->len, 1);
	raw = m->parts->pdata[0];
	ck_assert_int_eq(wire_meta_int(m, "size"), g_bytes_get_size(fake.mail[uid]));
	ck_assert(g_bytes_equal(raw, fake.mail[uid]));
	wire_msg_free(m);
}

/* read_only - every command fetchd sent leaves the mailbox as it was */
static void
check_read_only(void)
{
	g_mutex_lock(&server.lock);
	for (guint i = 0; i < server.commands->len; i++) {
		const char *c = server.commands->pdata[i];

		ck_assert_msg(g_str_has_prefix(c, "CAPABILITY") || g_str_has_prefix(c, "LOGIN ")
		    || g_str_has_prefix(c, "EXAMINE ") || g_str_has_prefix(c, "UID FETCH ")
		    || g_str_has_prefix(c, "NOOP") || g_str_has_prefix(c, "LOGOUT"),
		    "command \"%s\"", c);
		ck_assert_msg(!strstr(c, "BODY[") && !strstr(c, "RFC822)") && !strstr(c, "RFC822.TEXT"),
		    "a fetch that sets \\Seen: \"%s\"", c);
	}
	g_mutex_unlock(&server.lock);
}

/* publish - an ack on the PUB socket, as routed sends it */
static void
publish(void *pub, const char *topic, guint32 uidvalidity, guint32 uid)
{
	g_autofree char *key = wire_key("support", uidvalidity, uid);
	json_t *meta = json_pack("{s:s, s:s, s:i, s:i, s:s}", "key", key, "account", "support",
	    "uidvalidity", (int)uidvalidity, "uid", (int)uid, "status", "stored");

	ck_assert_int_eq(wire_send(pub, topic, WIRE_ACK, meta, NULL, 0), 0);
	json_decref(meta);
}

/* deliver_acks - hand fetch every ack that has arrived, as main.c does */
static void
deliver_acks(void *sub, struct fetch *f)
{
	struct wire_msg *m;

	while ((m = wire_recv(sub, TRUE, FALSE, ZMQ_DONTWAIT, NULL)) != NULL) {
		fetch_ack(f, m);
		wire_msg_free(m);
	}
}

/* subscribed - wait until the SUB gets what the PUB sends (the slow joiner):
 * probes are published until one arrives, each wait bounded by zmq_poll */
static void
subscribed(void *pub, void *sub)
{
	for (int i = 0; i < 500; i++) {
		zmq_pollitem_t it = { sub, 0, ZMQ_POLLIN, 0 };
		json_t *meta = json_object();

		wire_send(pub, "support", "probe.1", meta, NULL, 0);
		json_decref(meta);
		if (zmq_poll(&it, 1, 10) == 1) {
			struct wire_msg *m;

			while ((m = wire_recv(sub, TRUE, FALSE, ZMQ_DONTWAIT, NULL)) != NULL)
				wire_msg_free(m);
			return;
		}
	}
	ck_abort_msg("the SUB socket never received");
}

static guint32
saved_mark(void)
{
	g_autofree char *p = fixture_state_path();
	struct state st;

	ck_assert(state_load(p, &st, NULL));
	ck_assert_uint_eq(st.uidvalidity, UV);
	return st.uid;
}

START_TEST(fetches_whole_messages_read_only)
{
	g_autoptr(config) cfg = make_config();
	g_autoptr(GError) err = NULL;
	gint64 t0 = g_get_monotonic_time();
	struct fetch *f = fetch_new(cfg, "support", push, NULL, NULL, &err);
	void *pub, *sub;

	ck_assert_msg(f != NULL, "%s", err ? err->message : "");
	fetch_run(f, t0);

	/* 1 and 3 arrive whole; 2 went away between listing and fetching */
	check_raw(received(), 1, 1);
	check_raw(received(), 3, 1);
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	ck_assert(sent("EXAMINE \"INBOX\""));
	ck_assert(sent("UID FETCH 1:* (UID RFC822.SIZE)"));
	ck_assert(sent("UID FETCH 1:3 (UID RFC822.SIZE BODY.PEEK[])"));
	ck_assert(sent("UID FETCH 2 (UID RFC822.SIZE)"));	/* is 2 really gone? */
	ck_assert_uint_eq(fetch_outstanding(f), 2);
	/* the first run saved the uidvalidity before any ack */
	ck_assert_uint_eq(saved_mark(), 0);

	/* no ack within resend_timeout (30 s): sent again, attempt 2 */
	fetch_run(f, t0 + 29 * SEC);
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	fetch_run(f, t0 + 31 * SEC);
	check_raw(received(), 1, 2);
	check_raw(received(), 3, 2);

	/* acks: a prefix topic, another uidvalidity, then the real ones out of order */
	pub = zsock_bind(ctx, ZMQ_PUB, "inproc://acks", NULL);
	sub = zsock_connect(ctx, ZMQ_SUB, "inproc://acks", "support", NULL);
	subscribed(pub, sub);
	publish(pub, "support2", UV, 3);
	publish(pub, "support2", UV, 1);
	publish(pub, "support", UV + 1, 1);
	deliver_acks(sub, f);
	ck_assert_uint_eq(fetch_outstanding(f), 2);
	publish(pub, "support", UV, 3);
	deliver_acks(sub, f);
	ck_assert(fetch_save(f));
	ck_assert_uint_eq(fetch_outstanding(f), 1);
	ck_assert_uint_eq(saved_mark(), 0);		/* 1 is not acknowledged */
	publish(pub, "support", UV, 1);
	publish(pub, "support", UV, 1);			/* twice: harmless */
	deliver_acks(sub, f);
	ck_assert(fetch_save(f));
	ck_assert_uint_eq(fetch_outstanding(f), 0);
	ck_assert_uint_eq(saved_mark(), 3);		/* past 2, which is gone */

	/* the next check reuses the connection: NOOP, then above 3; the server's
	 * "4:*" matches 3 (the highest) and that must not be taken for new */
	fetch_run(f, t0 + 61 * SEC);
	ck_assert(sent("NOOP"));
	ck_assert(sent("UID FETCH 4:* (UID RFC822.SIZE)"));
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	check_read_only();

	zsock_close(sub);
	zsock_close(pub);
	fetch_free(f);
	ck_assert(sent("LOGOUT"));
}
END_TEST

/* a message the server lists but whose body never comes is not skipped:
 * the connection is dropped and the mark stays below it */
START_TEST(withheld_body_is_not_skipped)
{
	g_autoptr(config) cfg = make_config();
	g_autoptr(GError) err = NULL;
	struct fetch *f;

	fake.withheld[1] = TRUE;
	f = fetch_new(cfg, "support", push, NULL, NULL, &err);
	ck_assert_ptr_nonnull(f);
	fetch_run(f, g_get_monotonic_time());
	check_raw(received(), 3, 1);
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	ck_assert(sent("UID FETCH 1:2 (UID RFC822.SIZE)"));
	ck_assert(window_is_wanted(fetch_window(f), 1));	/* still to fetch */
	ck_assert(!window_is_wanted(fetch_window(f), 2));	/* gone */
	ck_assert_uint_eq(window_mark(fetch_window(f)), 0);
	fetch_free(f);
}
END_TEST

/* routed, as far as fetchd asks it after a UIDVALIDITY change: a REP socket
 * in a thread answering "message_ids" with have[] */
struct routed_fake {
	GThread *thread;
	void *rep;
	const char *const *have;
	int asked;
	volatile gint stop;
};

static gpointer
answer_ids(gpointer p)
{
	struct routed_fake *r = p;

	while (!g_atomic_int_get(&r->stop)) {
		zmq_pollitem_t it = { r->rep, 0, ZMQ_POLLIN, 0 };
		g_autoptr(wire_msg) m = NULL;
		json_t *ids, *rep;

		if (zmq_poll(&it, 1, 50) <= 0)
			continue;
		m = wire_recv(r->rep, FALSE, FALSE, ZMQ_DONTWAIT, NULL);
		if (!m)
			continue;
		ck_assert_str_eq(wire_meta_str(m, "op"), "message_ids");
		ck_assert_str_eq(wire_meta_str(m, "account"), "support");
		r->asked++;
		ids = json_array();
		for (const char *const *h = r->have; *h; h++)
			json_array_append_new(ids, json_string(*h));
		rep = json_pack("{s:b, s:s, s:o}", "ok", 1, "account", "support", "message_ids", ids);
		wire_send(r->rep, NULL, WIRE_REP, rep, NULL, 0);
		json_decref(rep);
	}
	return NULL;
}

static void
routed_start(struct routed_fake *r, const char *const *have)
{
	memset(r, 0, sizeof *r);
	r->have = have;
	r->rep = zsock_bind(ctx, ZMQ_REP, "inproc://control", NULL);
	ck_assert_ptr_nonnull(r->rep);
	r->thread = g_thread_new("fake-routed", answer_ids, r);
}

static void
routed_stop(struct routed_fake *r)
{
	g_atomic_int_set(&r->stop, 1);
	g_thread_join(r->thread);
	zsock_close(r->rep);
}

/* no_body_fetched - no command fetched a body */
static void
no_body_fetched(void)
{
	g_mutex_lock(&server.lock);
	for (guint i = 0; i < server.commands->len; i++)
		ck_assert_msg(!strstr(server.commands->pdata[i], "BODY.PEEK[]"), "%s",
		    (char *)server.commands->pdata[i]);
	g_mutex_unlock(&server.lock);
}

/* UIDVALIDITY changed: the Message-IDs routed has are matched; only the
 * rest is fetched, under the new UIDVALIDITY */
START_TEST(changed_uidvalidity_rematches)
{
	static const char *const have[] = { "m-1@t", "m-2@t", "elsewhere@t", NULL };
	g_autoptr(config) cfg = make_config();
	g_autofree char *p = state_path(cfg->state_dir, "support");
	struct state st = { UV - 1, 2 };
	struct routed_fake r;
	struct fetch *f;

	fake.mail[2] = message(2, 10);
	ck_assert(state_save(p, &st, NULL));
	routed_start(&r, have);
	f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(f);
	fetch_set_zmq(f, ctx);
	fetch_run(f, g_get_monotonic_time());
	ck_assert_int_eq(r.asked, 1);
	ck_assert(sent("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"));
	/* 1 and 2 matched (the mark), 3 is new */
	check_raw(received(), 3, 1);
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	ck_assert_uint_eq(window_uidvalidity(fetch_window(f)), UV);
	ck_assert_uint_eq(window_mark(fetch_window(f)), 2);
	ck_assert(state_load(p, &st, NULL));
	ck_assert_uint_eq(st.uidvalidity, UV);
	ck_assert_uint_eq(st.uid, 2);
	state_clear(&st);
	fetch_free(f);
	routed_stop(&r);
}
END_TEST

/* fewer than half of them known: stop, fetch nothing, leave the state */
START_TEST(changed_uidvalidity_halts_below_half)
{
	static const char *const have[] = { "m-1@t", NULL };
	g_autoptr(config) cfg = make_config();
	g_autofree char *p = state_path(cfg->state_dir, "support");
	struct state st = { UV - 1, 2 };
	struct routed_fake r;
	struct fetch *f;

	fake.listed[4] = TRUE;		/* four messages, one known */
	ck_assert(state_save(p, &st, NULL));
	routed_start(&r, have);
	f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	fetch_set_zmq(f, ctx);
	fetch_run(f, g_get_monotonic_time());
	fetch_run(f, g_get_monotonic_time() + (gint64)3600 * SEC);
	ck_assert_int_eq(r.asked, 1);
	no_body_fetched();
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	ck_assert(fetch_save(f));
	fetch_free(f);
	routed_stop(&r);
	/* the state file is left as it was, for the operator */
	ck_assert(state_load(p, &st, NULL));
	ck_assert_uint_eq(st.uidvalidity, UV - 1);
	ck_assert_uint_eq(st.uid, 2);
}
END_TEST

/* routed does not answer: a temporary failure, nothing guessed */
START_TEST(changed_uidvalidity_waits_for_routed)
{
	g_autoptr(config) cfg = make_config();
	g_autofree char *p = state_path(cfg->state_dir, "support");
	struct state st = { UV - 1, 2 };
	void *mute = zsock_bind(ctx, ZMQ_ROUTER, "inproc://control", NULL);	/* never answers */
	struct fetch *f;
	gint64 t0 = g_get_monotonic_time();

	ck_assert(state_save(p, &st, NULL));
	f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	fetch_set_zmq(f, ctx);
	((struct config *)cfg)->net_timeout = 1;
	fetch_run(f, t0);
	no_body_fetched();
	ck_assert_ptr_null(wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL));
	ck_assert_uint_eq(window_uidvalidity(fetch_window(f)), UV - 1);	/* unchanged */
	ck_assert_int_gt(fetch_wait_ms(f, g_get_monotonic_time()), 0);	/* a retry later */
	fetch_free(f);
	zsock_close(mute);
}
END_TEST

/* after_fetch = seen: SELECT, still BODY.PEEK[], \Seen only once acked */
START_TEST(after_fetch_only_when_acknowledged)
{
	g_autoptr(config) cfg = make_config_with("after_fetch = seen\n");
	gint64 t0 = g_get_monotonic_time();
	struct fetch *f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	void *pub, *sub;

	fetch_run(f, t0);
	check_raw(received(), 1, 1);
	check_raw(received(), 3, 1);
	ck_assert(sent("SELECT \"INBOX\""));
	ck_assert(sent("UID FETCH 1:3 (UID RFC822.SIZE BODY.PEEK[])"));
	fetch_run(f, t0 + SEC);
	g_mutex_lock(&server.lock);
	for (guint i = 0; i < server.commands->len; i++)
		ck_assert(!g_str_has_prefix(server.commands->pdata[i], "UID STORE"));
	g_mutex_unlock(&server.lock);

	pub = zsock_bind(ctx, ZMQ_PUB, "inproc://acks", NULL);
	sub = zsock_connect(ctx, ZMQ_SUB, "inproc://acks", "support", NULL);
	subscribed(pub, sub);
	publish(pub, "support", UV, 3);
	deliver_acks(sub, f);
	ck_assert_uint_eq(fetch_pending(f), 1);
	ck_assert(fetch_save(f));		/* remembered until done */
	fetch_run(f, t0 + 2 * SEC);
	ck_assert(sent("UID STORE 3 +FLAGS.SILENT (\\Seen)"));
	ck_assert_uint_eq(fetch_pending(f), 0);
	publish(pub, "support", UV, 1);
	deliver_acks(sub, f);
	fetch_run(f, t0 + 3 * SEC);
	ck_assert(sent("UID STORE 1 +FLAGS.SILENT (\\Seen)"));
	zsock_close(sub);
	zsock_close(pub);
	fetch_free(f);
}
END_TEST

/* readable - wait (at most 5 s) until the IDLE socket has something */
static gboolean
readable(int fd)
{
	zmq_pollitem_t it = { NULL, fd, ZMQ_POLLIN, 0 };

	return zmq_poll(&it, 1, 5000) == 1;
}

/* IDLE: entered once caught up; "* 4 EXISTS" ends it and 4 is fetched at
 * once, whatever check_interval says */
START_TEST(idle_fetches_on_exists)
{
	g_autoptr(config) cfg = make_config_with("check_interval = 3600\n");
	gint64 t0 = g_get_monotonic_time();
	struct fetch *f;
	int fd;

	fake.caps = "IMAP4rev1 IDLE";
	f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	fetch_run(f, t0);
	check_raw(received(), 1, 1);
	check_raw(received(), 3, 1);
	/* 2 went away meanwhile: the next turn looks, then idles */
	fetch_run(f, t0 + SEC);
	ck_assert(sent("IDLE"));
	fd = fetch_poll_fd(f);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(fetch_wait_ms(f, t0 + SEC), 1);	/* nothing to do but wait */
	fetch_run(f, t0 + 2 * SEC);				/* quiet: still idle */
	ck_assert(!sent("DONE"));

	fake.mail[4] = message(4, 100);
	fake.listed[4] = TRUE;
	putf(fake.client, "* 4 EXISTS\r\n");
	ck_assert(readable(fd));
	fetch_run(f, t0 + 3 * SEC);
	ck_assert(sent("DONE"));
	ck_assert(sent("UID FETCH 4:* (UID RFC822.SIZE)"));
	ck_assert(!sent("NOOP"));			/* just out of IDLE: no need */
	check_raw(received(), 4, 1);
	ck_assert_int_ge(fetch_poll_fd(f), 0);		/* and idle again */
	fetch_free(f);
	ck_assert(sent("LOGOUT"));
}
END_TEST

/* a server without IDLE is polled: no IDLE, no socket to watch */
START_TEST(no_idle_capability_polls)
{
	g_autoptr(config) cfg = make_config();
	struct fetch *f = fetch_new(cfg, "support", push, NULL, NULL, NULL);

	fetch_run(f, g_get_monotonic_time());
	fetch_run(f, g_get_monotonic_time());
	ck_assert(!sent("IDLE"));
	ck_assert_int_eq(fetch_poll_fd(f), -1);
	fetch_free(f);
}
END_TEST

/* a second fetchd for the same account refuses to start */
START_TEST(one_fetchd_per_account)
{
	g_autoptr(config) cfg = make_config();
	g_autoptr(GError) err = NULL;
	struct fetch *a = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	struct fetch *b = fetch_new(cfg, "support", push, NULL, NULL, &err);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(b);
	ck_assert(g_error_matches(err, STATE_ERROR, EWOULDBLOCK));
	fetch_free(a);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fetchd_fetch");
	TCase *tc = tcase_create("fetch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, fetches_whole_messages_read_only);
	tcase_add_test(tc, withheld_body_is_not_skipped);
	tcase_add_test(tc, changed_uidvalidity_rematches);
	tcase_add_test(tc, changed_uidvalidity_halts_below_half);
	tcase_add_test(tc, changed_uidvalidity_waits_for_routed);
	tcase_add_test(tc, after_fetch_only_when_acknowledged);
	tcase_add_test(tc, idle_fetches_on_exists);
	tcase_add_test(tc, no_idle_capability_polls);
	tcase_add_test(tc, one_fetchd_per_account);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
