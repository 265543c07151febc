/*
 * check_fetchd_pop3 - POP3: the pure parts (status lines, the end of a
 * multi-line answer cut anywhere, byte-stuffing, UIDL names, listings), and
 * one account end to end against a scripted POP3 server on a loopback port
 * with real inproc:// sockets: keys by UIDL, acks by key, the state file of
 * acknowledged UIDLs, DELE only of what routed has acknowledged, effective
 * at QUIT.
 */
#include "check_fetchd_fixture.h"

/* ---- pure parts ------------------------------------------------------------- */

START_TEST(status_lines)
{
	gboolean ok = FALSE;

	ck_assert(pop3_status("+OK 2 messages", &ok) && ok);
	ck_assert(pop3_status("+OK", &ok) && ok);
	ck_assert(pop3_status("-ERR no such message", &ok) && !ok);
	ck_assert(!pop3_status("+OKAY", &ok));
	ck_assert(!pop3_status("* OK imap?", &ok));
	ck_assert(!pop3_status("", &ok));
}
END_TEST

/* a multi-line answer's data, and where it ends */
static const struct {
	const char *in;		/* after the status line */
	const char *data;	/* unstuffed; NULL: not complete */
	gsize next;		/* where the next answer starts */
} multis[] = {
	{ "a\r\nb\r\n.\r\n", "a\r\nb\r\n", 9 },
	{ "..leading dot\r\n.\r\n+OK next", ".leading dot\r\n", 18 },
	{ ".\r\n", "", 3 },
	{ "line\r\n..\r\n.\r\n", "line\r\n.\r\n", 13 },
	{ "a\r\n.x\r\n.\r\n", "a\r\nx\r\n", 10 },	/* a lax stuffing: the dot goes */
	{ "a\r\n.", NULL, 0 },
	{ "a\r\n.\r", NULL, 0 },
	{ "", NULL, 0 },
};

START_TEST(multiline_ends)
{
	const char *in = multis[_i].in;
	gsize len = strlen(in), next = 0;
	gssize end;

	/* the data starts at 0; an empty answer is its "." line at once */
	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0) {
		ck_assert_str_eq(multis[_i].data, "");
		return;
	}
	end = pop3_multiline_end((const guint8 *)in, len, 2, &next);
	if (!multis[_i].data) {
		ck_assert_int_eq(end, -1);
		return;
	}
	ck_assert_int_ge(end, 0);
	ck_assert_uint_eq(next, multis[_i].next);
	{
		g_autoptr(GBytes) b = pop3_unstuff((const guint8 *)in, (gsize)end);
		g_autofree char *s = g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b));

		ck_assert_str_eq(s, multis[_i].data);
	}
}
END_TEST

/* the end is found however the bytes arrive */
START_TEST(multiline_cut_anywhere)
{
	const char *in = "x\r\n..\r\n.y\r\n.\r\n";
	gsize len = strlen(in);

	for (gsize cut = 0; cut < len; cut++) {
		gsize next = 0;

		ck_assert_int_eq(pop3_multiline_end((const guint8 *)in, cut, 2, &next), -1);
	}
	{
		gsize next = 0;

		ck_assert_int_eq(pop3_multiline_end((const guint8 *)in, len, 2, &next), 11);
		ck_assert_uint_eq(next, len);
	}
}
END_TEST

START_TEST(uidl_names)
{
	g_autofree char *a = pop3_uidl_id("000001a94f1e3b2c");
	g_autofree char *b = pop3_uidl_id("has space");
	g_autofree char *c = pop3_uidl_id("has space");

	ck_assert_str_eq(a, "000001a94f1e3b2c");
	ck_assert(g_str_has_prefix(b, "h-"));
	ck_assert_str_eq(b, c);			/* stable */
	ck_assert(state_valid_uidl(b));		/* and keepable */
}
END_TEST

#define S_UIDL	"1 dup\r\n2 u2\r\n3 dup\r\n4 u4\r\n"
#define S_LIST	"1 100\r\n2 120\r\n3 5\r\n"

START_TEST(listings)
{
	g_autoptr(GBytes) uidl = g_bytes_new_static(S_UIDL, strlen(S_UIDL));
	g_autoptr(GBytes) list = g_bytes_new_static(S_LIST, strlen(S_LIST));
	g_autoptr(GBytes) bad = g_bytes_new_static("x y\r\n", 5);
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(struct pop3_msg));
	g_autoptr(GError) err = NULL;

	ck_assert(pop3_parse_listing(uidl, list, out, &err));
	ck_assert_uint_eq(out->len, 3);		/* the second "dup" is left out */
	ck_assert_uint_eq(g_array_index(out, struct pop3_msg, 0).num, 1);
	ck_assert_str_eq(g_array_index(out, struct pop3_msg, 0).uidl, "dup");
	ck_assert_uint_eq(g_array_index(out, struct pop3_msg, 1).num, 2);
	ck_assert_uint_eq(g_array_index(out, struct pop3_msg, 1).size, 120);
	ck_assert_uint_eq(g_array_index(out, struct pop3_msg, 2).num, 4);
	ck_assert_uint_eq(g_array_index(out, struct pop3_msg, 2).size, 0);	/* not in LIST */
	for (guint i = 0; i < out->len; i++)
		g_free(g_array_index(out, struct pop3_msg, i).uidl);
	g_array_set_size(out, 0);
	ck_assert(!pop3_parse_listing(bad, list, out, &err));
}
END_TEST

/* ---- a scripted POP3 server ----------------------------------------------------- */

/* the POP3 server's mailbox */
struct fake {
	GBytes *mail[4];		/* 1..3 */
	const char *uidl[4];
	gboolean gone[4];		/* deleted at a QUIT */
	int sessions;
};

static struct fake fake;

/* session - one connection; the number of messages is what it was at login */
static void
session(int fd)
{
	gboolean marked[4] = { FALSE };
	g_autoptr(GString) line = g_string_new(NULL);

	fake.sessions++;
	putf(fd, "+OK fake POP3 ready\r\n");
	while (server_read_line(fd, line)) {
		const char *cmd = line->str;
		guint n;

		server_note(cmd);
		if (g_str_has_prefix(cmd, "CAPA")) {
			putf(fd, "+OK\r\nUSER\r\nUIDL\r\n.\r\n");
		} else if (g_str_has_prefix(cmd, "USER ") || g_str_has_prefix(cmd, "PASS ")) {
			putf(fd, "+OK\r\n");
		} else if (strcmp(cmd, "UIDL") == 0 || strcmp(cmd, "LIST") == 0) {
			putf(fd, "+OK\r\n");
			for (n = 1; n <= 3; n++) {
				if (fake.gone[n])
					continue;
				if (cmd[0] == 'U')
					putf(fd, "%u %s\r\n", n, fake.uidl[n]);
				else
					putf(fd, "%u %zu\r\n", n, g_bytes_get_size(fake.mail[n]));
			}
			putf(fd, ".\r\n");
		} else if (sscanf(cmd, "RETR %u", &n) == 1 && n >= 1 && n <= 3 && !fake.gone[n]) {
			putf(fd, "+OK\r\n%s.\r\n", (const char *)g_bytes_get_data(fake.mail[n], NULL));
		} else if (sscanf(cmd, "DELE %u", &n) == 1 && n >= 1 && n <= 3 && !fake.gone[n]) {
			marked[n] = TRUE;
			putf(fd, "+OK marked\r\n");
		} else if (strcmp(cmd, "QUIT") == 0) {
			for (n = 1; n <= 3; n++)
				if (marked[n])
					fake.gone[n] = TRUE;
			putf(fd, "+OK bye\r\n");
			break;
		} else {
			putf(fd, "-ERR what?\r\n");
		}
	}
}

static struct config *
make_config(const char *extra)
{
	g_autofree char *acc = g_strdup_printf("[account]\nprotocol = pop3\nhost = 127.0.0.1\n"
	    "port = %d\ntls = none\nallow_plaintext = yes\nuser = support\npassword_file = secret\n"
	    "group = support\nreply_address = support@example.com\nsmtp_host = 127.0.0.1\n%s",
	    server.port, extra);

	return fixture_config("", acc);
}

static void
setup(void)
{
	memset(&fake, 0, sizeof fake);
	fake.mail[1] = g_bytes_new_static("Subject: one\r\n\r\nfirst\r\n", 23);
	fake.mail[2] = g_bytes_new_static("Subject: two\r\n\r\n..dotted\r\n", 26);
	fake.mail[3] = g_bytes_new_static("Subject: three\r\n\r\nthird\r\n", 25);
	fake.uidl[1] = "u-one";
	fake.uidl[2] = "u-two";
	fake.uidl[3] = "u-three";
	fixture_setup("check_fetchd_pop3.XXXXXX", session);
}

static void
teardown(void)
{
	fixture_teardown();
	for (int i = 1; i < 4; i++)
		g_bytes_unref(fake.mail[i]);
}

/* received - the next raw.1: its UIDL (checked against the mail), or NULL */
static char *
received(void)
{
	g_autoptr(wire_msg) m = wire_recv(pull, FALSE, FALSE, ZMQ_DONTWAIT, NULL);
	const char *uidl;

	if (!m)
		return NULL;
	ck_assert_str_eq(m->type, WIRE_RAW);
	uidl = wire_meta_str(m, "uidl");
	ck_assert_ptr_nonnull(uidl);
	{
		g_autofree char *key = g_strdup_printf("support/pop3/%s", uidl);

		ck_assert_str_eq(wire_meta_str(m, "key"), key);
	}
	/* no uidvalidity, no uid: they are IMAP's */
	ck_assert_ptr_null(json_object_get(m->meta, "uidvalidity"));
	ck_assert_ptr_null(json_object_get(m->meta, "uid"));
	for (int n = 1; n <= 3; n++) {
		g_autoptr(GBytes) unstuffed = g_bytes_new_static("Subject: two\r\n\r\n.dotted\r\n", 25);

		if (strcmp(fake.uidl[n], uidl) != 0)
			continue;
		/* the dot-stuffed line arrives unstuffed */
		ck_assert(g_bytes_equal(m->parts->pdata[0], n == 2 ? unstuffed : fake.mail[n]));
	}
	return g_strdup(uidl);
}

/* ack - routed's ack.1 for a POP3 key, handed to fetch as main.c does */
static void
ack(struct fetch *f, const char *uidl)
{
	g_autofree char *key = g_strdup_printf("support/pop3/%s", uidl);
	struct wire_msg m = { 0 };

	m.topic = "support";
	m.type = WIRE_ACK;
	m.meta = json_pack("{s:s, s:s, s:s, s:I}", "key", key, "account", "support", "status",
	    "stored", "conversation", (json_int_t)1);
	fetch_ack(f, &m);
	json_decref(m.meta);
}

static char *
state_text(void)
{
	g_autofree char *p = fixture_state_path();
	char *text = NULL;

	if (!g_file_get_contents(p, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

START_TEST(deletes_only_what_is_acknowledged)
{
	g_autoptr(config) cfg = make_config("after_fetch = delete\n");
	g_autoptr(GError) err = NULL;
	g_autofree char *st = NULL;
	gint64 t0 = g_get_monotonic_time();
	struct fetch *f = fetch_new(cfg, "support", push, NULL, NULL, &err);
	g_autoptr(GHashTable) got = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char *u;

	ck_assert_msg(f != NULL, "%s", err ? err->message : "");
	fetch_run(f, t0);
	while ((u = received()) != NULL)
		g_hash_table_add(got, u);
	ck_assert_uint_eq(g_hash_table_size(got), 3);
	ck_assert(sent("UIDL") && sent("LIST") && sent("RETR 1") && sent("RETR 3"));

	/* routed has two of them; the session, still open, deletes those */
	ack(f, "u-one");
	ack(f, "u-three");
	ack(f, "u-three");		/* twice: harmless */
	fetch_run(f, t0 + SEC);
	ck_assert(sent("DELE 1") && sent("DELE 3"));
	ck_assert(!sent("DELE 2"));
	ck_assert(!sent("QUIT"));	/* waiting a little for the third ack */
	fetch_run(f, t0 + 12 * SEC);
	ck_assert(sent("QUIT"));
	ck_assert(fake.gone[1] && fake.gone[3] && !fake.gone[2]);
	ck_assert(fetch_save(f));
	st = state_text();
	ck_assert_ptr_nonnull(strstr(st, "protocol=pop3\nuidl=u-one\nuidl=u-three\n"));

	/* the next check: a new session; u-two is not fetched twice, its ack deletes it */
	fetch_run(f, t0 + 80 * SEC);
	ck_assert_int_eq(fake.sessions, 2);
	while ((u = received()) != NULL) {	/* resent from memory (30 s without an ack) */
		ck_assert_str_eq(u, "u-two");
		g_free(u);
	}
	ck_assert_int_eq(count("RETR 2"), 1);	/* never fetched twice */
	ack(f, "u-two");
	fetch_run(f, t0 + 81 * SEC);
	ck_assert(fake.gone[2]);
	ck_assert(fetch_save(f));
	g_free(st);
	st = state_text();
	/* only UIDLs still on the server are kept: u-two, deleted at this QUIT */
	ck_assert_ptr_nonnull(strstr(st, "uidl=u-two\n"));
	ck_assert_ptr_null(strstr(st, "u-one"));
	fetch_free(f);
}
END_TEST

/* keep: nothing deleted; a restart fetches nothing acknowledged again */
START_TEST(restart_knows_the_uidls)
{
	g_autoptr(config) cfg = make_config("");
	gint64 t0 = g_get_monotonic_time();
	struct fetch *f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	char *u;
	int n = 0;

	fetch_run(f, t0);
	while ((u = received()) != NULL) {
		g_free(u);
		n++;
	}
	ck_assert_int_eq(n, 3);
	ck_assert(sent("QUIT"));	/* keep: no reason to wait */
	ack(f, "u-one");
	ack(f, "u-two");
	ck_assert(fetch_save(f));
	fetch_free(f);

	f = fetch_new(cfg, "support", push, NULL, NULL, NULL);
	fetch_run(f, t0 + SEC);
	u = received();
	ck_assert_str_eq(u, "u-three");		/* never acknowledged: sent again */
	g_free(u);
	ck_assert_ptr_null(received());
	ck_assert(!sent("DELE 1"));
	fetch_free(f);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fetchd_pop3");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, status_lines);
	tcase_add_loop_test(tc, multiline_ends, 0, UNIT_N(multis));
	tcase_add_test(tc, multiline_cut_anywhere);
	tcase_add_test(tc, uidl_names);
	tcase_add_test(tc, listings);
	suite_add_tcase(s, tc);
	tc = tcase_create("session");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, deletes_only_what_is_acknowledged);
	tcase_add_test(tc, restart_knows_the_uidls);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
