/*
 * imap-bare - the ceiling for fetching a mailbox over IMAPS: log in, EXAMINE
 * the folder, one "UID FETCH 1:* BODY.PEEK[]", read every literal and keep
 * nothing but a count of messages and bytes.  No parsing beyond finding
 * lines and literals, no copy, no file, no fsync: whatever a real client
 * does on top of this is its own cost.
 *
 *	imap-bare HOST PORT USER PASSWORD_FILE CA_FILE [FOLDER]
 *
 * prints "messages=N bytes=N seconds=S" on stdout and exits 0, or says what
 * went wrong on stderr and exits 1 (69 when the server cannot be reached).
 * The password comes from the first line of a file, never the command line.
 *
 * Build: cc -O2 -o imap-bare bench/imap-bare.c -lssl -lcrypto
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define BUF_SIZE	(256 * 1024)	/* one line must fit: server lines are short */

struct conn {
	SSL *ssl;
	char *buf;
	size_t off, len;	/* unread bytes are buf[off .. off+len) */
};

/* die - the cause on stderr, then exit */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("imap-bare: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* fill - read more from the connection; 0 at end of stream */
static size_t
fill(struct conn *c)
{
	size_t n = 0;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	if (c->len == BUF_SIZE)
		die(1, "a line longer than %d bytes", BUF_SIZE);
	if (SSL_read_ex(c->ssl, c->buf + c->len, BUF_SIZE - c->len, &n) <= 0)
		return 0;
	c->len += n;
	return n;
}

/* line_read - the next line without CRLF, NUL-terminated in the buffer
 * (valid until the next read) */
static char *
line_read(struct conn *c, size_t *len)
{
	size_t scanned = 0;

	for (;;) {
		char *start = c->buf + c->off;
		char *lf = memchr(start + scanned, '\n', c->len - scanned);

		if (lf) {
			size_t n = (size_t)(lf - start) + 1;
			char *line = start;

			c->off += n;
			c->len -= n;
			n--;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			*len = n;
			return line;
		}
		scanned = c->len;
		if (fill(c) == 0)
			die(1, "the server closed the connection");
	}
}

/* literal_skip - read and drop n bytes */
static void
literal_skip(struct conn *c, uint64_t n)
{
	while (n > 0) {
		size_t take;

		if (c->len == 0 && fill(c) == 0)
			die(1, "the server closed the connection in a literal");
		take = c->len < n ? c->len : (size_t)n;
		c->off += take;
		c->len -= take;
		n -= take;
	}
	if (c->len == 0)
		c->off = 0;
}

/* literal_size - the n of a line ending in "{n}", or -1 */
static int64_t
literal_size(const char *line, size_t len)
{
	size_t i;
	int64_t n = 0;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	for (i = len - 1; i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9'; i--)
		;
	if (i == 0 || i == len - 1 || line[i - 1] != '{')
		return -1;
	for (; i < len - 1; i++)
		n = n * 10 + (line[i] - '0');
	return n;
}

/* send_all - one command line */
static void
send_all(struct conn *c, const char *s)
{
	size_t n = 0, len = strlen(s);

	while (len > 0) {
		if (SSL_write_ex(c->ssl, s, len, &n) <= 0)
			die(1, "unable to send to the server");
		s += n;
		len -= n;
	}
}

/* run - send "tag text" and read to its completion; literals in untagged
 * responses are counted into *msgs and *bytes */
static void
run(struct conn *c, const char *tag, const char *text, uint64_t *msgs, uint64_t *bytes)
{
	char cmd[1024];
	size_t taglen = strlen(tag), len;
	char *line;
	int64_t lit;

	if (snprintf(cmd, sizeof cmd, "%s %s\r\n", tag, text) >= (int)sizeof cmd)
		die(1, "command too long");
	send_all(c, cmd);
	for (;;) {
		line = line_read(c, &len);
		if (strncmp(line, tag, taglen) == 0 && line[taglen] == ' ') {
			if (strncmp(line + taglen + 1, "OK", 2) != 0)
				die(1, "%s failed: %.200s", strncmp(text, "LOGIN", 5) == 0 ? "LOGIN" :
				    text, line);
			return;
		}
		/* a response may hold several literals: each ends a line */
		while ((lit = literal_size(line, len)) >= 0) {
			if (msgs)
				(*msgs)++;
			if (bytes)
				*bytes += (uint64_t)lit;
			literal_skip(c, (uint64_t)lit);
			line = line_read(c, &len);
		}
	}
}

/* quote - s as an IMAP quoted string into out */
static void
quote(const char *s, char *out, size_t size)
{
	size_t o = 0;

	out[o++] = '"';
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			die(1, "a password with a line break cannot be sent with LOGIN");
		if (o + 3 >= size)
			die(1, "user or password too long");
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* password_read - the first line of path */
static void
password_read(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");

	if (!f)
		die(EX_NOINPUT, "%s: %s", path, strerror(errno));
	if (!fgets(out, (int)size, f))
		die(EX_DATAERR, "%s: empty", path);
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
}

/* tcp_connect - a connected socket to host:port */
static int
tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	int fd = -1, rc;

	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		die(EX_UNAVAILABLE, "%s: %s", host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		die(EX_UNAVAILABLE, "unable to connect to %s:%s", host, port);
	return fd;
}

int
main(int argc, char **argv)
{
	char pw[512], qu[1100], qp[1100], qf[1100], cmd[3000];
	struct timespec t0, t1;
	struct conn c = { 0 };
	uint64_t msgs = 0, bytes = 0;
	unsigned char addr[16];
	SSL_CTX *ctx;
	size_t len;
	char *greeting;
	int fd;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: imap-bare HOST PORT USER PASSWORD_FILE CA_FILE [FOLDER]\n");
		return EX_USAGE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	password_read(argv[4], pw, sizeof pw);
	quote(argv[3], qu, sizeof qu);
	quote(pw, qp, sizeof qp);
	quote(argc > 6 ? argv[6] : "INBOX", qf, sizeof qf);
	explicit_bzero(pw, sizeof pw);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, argv[5], NULL) != 1)
		die(1, "%s: unusable CA file", argv[5]);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = tcp_connect(argv[1], argv[2]);
	c.ssl = SSL_new(ctx);
	c.buf = malloc(BUF_SIZE);
	if (!c.ssl || !c.buf)
		die(1, "out of memory");
	SSL_set_fd(c.ssl, fd);
	if (inet_pton(AF_INET, argv[1], addr) == 1 || inet_pton(AF_INET6, argv[1], addr) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), argv[1]);
	else {
		SSL_set_tlsext_host_name(c.ssl, argv[1]);
		SSL_set1_host(c.ssl, argv[1]);
	}
	if (SSL_connect(c.ssl) != 1) {
		ERR_print_errors_fp(stderr);
		die(1, "TLS with %s:%s failed", argv[1], argv[2]);
	}
	greeting = line_read(&c, &len);
	if (strncmp(greeting, "* OK", 4) != 0)
		die(1, "unexpected greeting: %.200s", greeting);

	snprintf(cmd, sizeof cmd, "LOGIN %s %s", qu, qp);
	run(&c, "b1", cmd, NULL, NULL);
	explicit_bzero(cmd, sizeof cmd);
	explicit_bzero(qp, sizeof qp);
	snprintf(cmd, sizeof cmd, "EXAMINE %s", qf);
	run(&c, "b2", cmd, NULL, NULL);
	run(&c, "b3", "UID FETCH 1:* BODY.PEEK[]", &msgs, &bytes);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	run(&c, "b4", "LOGOUT", NULL, NULL);

	printf("messages=%llu bytes=%llu seconds=%.3f\n", (unsigned long long)msgs,
	    (unsigned long long)bytes, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	SSL_free(c.ssl);
	SSL_CTX_free(ctx);
	close(fd);
	free(c.buf);
	return 0;
}
