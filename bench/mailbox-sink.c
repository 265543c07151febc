/*
 * mailbox-sink - a stand-in for routed (or for parsed and routed) that stores
 * nothing and acknowledges every message at once, so that bench/mailbox.sh
 * can time fetchd, or fetchd and parsed, without the stages after them: the
 * difference to the whole pipeline is what those stages cost.
 *
 *	mailbox-sink IN_ENDPOINT ACKS_ENDPOINT
 *
 * binds IN_ENDPOINT (PULL: routed's endpoint to take parsed.1 from parsed, or
 * parsed's to take raw.1 from fetchd) and ACKS_ENDPOINT (PUB), and answers
 * each message with an ack.1 "stored" (docs/wire.md) on the topic of its
 * account.  Runs until SIGTERM or SIGINT; prints the count on stderr.
 *
 * Build: cc -O2 -o mailbox-sink bench/mailbox-sink.c $(pkg-config --cflags --libs libzmq jansson)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>
#include <zmq.h>

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* recv_frame - the next frame of a message into m; -1 on error */
static int
recv_frame(void *sock, zmq_msg_t *m)
{
	zmq_msg_init(m);
	if (zmq_msg_recv(m, sock, 0) < 0) {
		zmq_msg_close(m);
		return -1;
	}
	return 0;
}

/* ack - the ack.1 of the metadata meta (a JSON text of len bytes) */
static void
ack(void *pub, const char *meta, size_t len)
{
	json_t *in = json_loadb(meta, len, 0, NULL), *out;
	const char *account;
	char *text;

	if (!in)
		return;
	account = json_string_value(json_object_get(in, "account"));
	if (!account) {
		json_decref(in);
		return;
	}
	out = json_pack("{s:O?, s:s, s:O?, s:O?, s:s, s:i}", "key", json_object_get(in, "key"),
	    "account", account, "uidvalidity", json_object_get(in, "uidvalidity"), "uid",
	    json_object_get(in, "uid"), "status", "stored", "conversation", 0);
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	if (text) {
		zmq_send(pub, account, strlen(account), ZMQ_SNDMORE);
		zmq_send(pub, "ack.1", 5, ZMQ_SNDMORE);
		zmq_send(pub, text, strlen(text), 0);
	}
	free(text);
	json_decref(out);
	json_decref(in);
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { 0 };
	int linger = 0, hwm = 10000;
	unsigned long n = 0;
	void *ctx, *in, *pub;

	if (argc != 3) {
		fprintf(stderr, "usage: mailbox-sink IN_ENDPOINT ACKS_ENDPOINT\n");
		return EX_USAGE;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ctx = zmq_ctx_new();
	in = zmq_socket(ctx, ZMQ_PULL);
	pub = zmq_socket(ctx, ZMQ_PUB);
	zmq_setsockopt(in, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(in, ZMQ_RCVHWM, &hwm, sizeof hwm);
	zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
	if (zmq_bind(in, argv[1]) != 0 || zmq_bind(pub, argv[2]) != 0) {
		fprintf(stderr, "mailbox-sink: fatal: bind: %s\n", zmq_strerror(errno));
		return EX_UNAVAILABLE;
	}
	while (!stopping) {
		zmq_pollitem_t it = { in, 0, ZMQ_POLLIN, 0 };
		zmq_msg_t type, meta, part;
		int more;

		if (zmq_poll(&it, 1, 500) <= 0)
			continue;
		if (recv_frame(in, &type) < 0)
			continue;
		if (!zmq_msg_more(&type) || recv_frame(in, &meta) < 0) {
			zmq_msg_close(&type);
			continue;
		}
		/* the payload frames: read and dropped */
		more = zmq_msg_more(&meta);
		while (more && recv_frame(in, &part) == 0) {
			more = zmq_msg_more(&part);
			zmq_msg_close(&part);
		}
		ack(pub, zmq_msg_data(&meta), zmq_msg_size(&meta));
		zmq_msg_close(&meta);
		zmq_msg_close(&type);
		n++;
	}
	fprintf(stderr, "mailbox-sink: %lu messages acknowledged\n", n);
	zmq_close(in);
	zmq_close(pub);
	zmq_ctx_term(ctx);
	return 0;
}
