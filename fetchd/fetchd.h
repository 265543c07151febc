/*
 * fetchd - one email account's mail, fetched whole and handed to parsed.
 *
 *	imap.c		the IMAP response parser (a pure function over a buffer),
 *			quoting, UID sets
 *	session.c	one IMAP session: libcurl connects, logs in and wraps TLS;
 *			we drive EXAMINE, UID FETCH, NOOP ourselves
 *	window.c	what has been listed, sent and acknowledged; the mark
 *	state.c		the state file: uidvalidity and the mark, written atomically
 *	retry.c		backoff and "log once per cause"
 *	fetch.c		the account: ties the above to the sockets
 *
 * SECURITY: everything the server says is untrusted: lines are bounded, literals
 * are bounded, nothing is asserted about it.  The mailbox is opened with EXAMINE
 * (read-only) and bodies are fetched with BODY.PEEK[], so fetchd never changes a
 * flag in a mailbox others share.  The password is read from a file of mode 0600
 * and handed to libcurl only; it is never logged.
 */
#ifndef POSTROOM_FETCHD_H
#define POSTROOM_FETCHD_H

#include <glib.h>
#include <stdint.h>

#include "config.h"
#include "wire.h"
#include "zsock.h"

/* ---- imap.c --------------------------------------------------------------- */

#define IMAP_LINE_MAX		(64 * 1024)		/* one line between literals */
#define IMAP_LITERAL_MAX	((guint64)1 << 30)	/* 1 GB: larger is refused */
#define IMAP_DEPTH_MAX		32			/* nested parentheses */

enum imap_status {
	IMAP_MORE,	/* the buffer holds only part of a response */
	IMAP_DONE,	/* one response parsed */
	IMAP_ERROR,	/* the server broke the protocol: drop the connection */
};

enum imap_kind {
	IMAP_UNTAGGED,	/* "* ..." */
	IMAP_TAGGED,	/* "TAG OK|NO|BAD ..." */
	IMAP_CONTINUE,	/* "+ ..." */
};

/* One response.  Strings are NUL-terminated copies; the body is a range of
 * the buffer parsed, so a large literal is never copied. */
struct imap_resp {
	enum imap_kind kind;
	char *tag;		/* IMAP_TAGGED */
	char *word;		/* OK NO BAD BYE PREAUTH, or FETCH EXISTS CAPABILITY ... upper-cased */
	gboolean has_number;	/* "* 12 FETCH", "* 3 EXISTS" */
	guint32 number;
	char *text;		/* the rest of a status line: "[UIDVALIDITY 7] UIDs valid" */

	/* FETCH */
	gboolean has_uid;
	guint32 uid;
	gboolean has_size;
	guint64 size;		/* RFC822.SIZE */
	gboolean has_body;	/* BODY[] */
	gboolean body_quoted;	/* a quoted string: unescape with imap_resp_body() */
	gsize body_off, body_len;

	gsize consumed;		/* bytes of the buffer the response took */
};

/* imap_parse - parse the response at the start of buf.  IMAP_MORE sets *need
 * to the length the buffer must reach before parsing can progress;
 * IMAP_ERROR sets err.  Call imap_resp_clear() after IMAP_DONE. */
enum imap_status imap_parse(const guint8 *buf, gsize len, struct imap_resp *r, gsize *need,
    GError **err);
void imap_resp_clear(struct imap_resp *r);
/* imap_resp_body - the body of a parsed FETCH, from the buffer it was parsed
 * in: a slice of it (no copy), or the unescaped quoted string */
GBytes *imap_resp_body(const struct imap_resp *r, GBytes *buf);
/* imap_resp_code - the number of "[CODE n]" at the start of the text */
gboolean imap_resp_code(const struct imap_resp *r, const char *code, guint32 *value);

/* imap_quote - s as an IMAP quoted string, or NULL when it cannot be one
 * (CR, LF, NUL); non-ASCII is modified UTF-7 first (RFC 3501 5.1.3) */
char *imap_quote(const char *s);
char *imap_utf7_encode(const char *utf8);
/* imap_uid_set - "5:9,12" for sorted uids; stops before the text exceeds max
 * characters and sets *used to how many uids it took */
char *imap_uid_set(const guint32 *uids, guint n, gsize max, guint *used);

#define IMAP_ERROR_DOMAIN (imap_error_quark())
GQuark imap_error_quark(void);

/* ---- session.c ------------------------------------------------------------ */

enum session_error {
	SESSION_CONNECT,	/* could not connect, log in or set up TLS */
	SESSION_CLOSED,		/* the server hung up or said BYE */
	SESSION_TIMEOUT,	/* the server stayed silent too long */
	SESSION_PROTOCOL,	/* the server broke the protocol */
	SESSION_REFUSED,	/* a command got NO or BAD */
	SESSION_CANCELLED,	/* we are stopping */
};

#define SESSION_ERROR (session_error_quark())
GQuark session_error_quark(void);

struct session_opts {
	const struct config_account *account;
	const char *password;
	int timeout;			/* seconds of silence before giving up */
	gboolean (*cancel)(void);	/* polled every second; TRUE stops waiting */
};

struct session_msg {
	guint32 uid;
	guint64 size;		/* RFC822.SIZE as the server announced it */
};

/* called for each message a UID FETCH brings; body is a new reference the
 * callee owns */
typedef void (*session_body_fn)(guint32 uid, GBytes *body, void *data);

struct session;
struct session *session_open(const struct session_opts *o, GError **err);
void session_close(struct session *s);	/* LOGOUT, politely and briefly */
/* session_examine - open folder read-only; its UIDVALIDITY and message count */
gboolean session_examine(struct session *s, const char *folder, guint32 *uidvalidity,
    guint32 *exists, GError **err);
gboolean session_noop(struct session *s, GError **err);
/* session_list - the messages with uid > after: a GArray of struct session_msg,
 * sorted by uid */
GArray *session_list(struct session *s, guint32 after, GError **err);
/* session_present - which of uids (sorted) exist: as session_list() */
GArray *session_present(struct session *s, const guint32 *uids, guint n, GError **err);
/* session_fetch - BODY.PEEK[] of uids (sorted) in one pipelined command;
 * *asked is how many of them (from the first) the command could name */
gboolean session_fetch(struct session *s, const guint32 *uids, guint n, session_body_fn fn,
    void *data, guint *asked, GError **err);
/* session_cause - the words for a person for a libcurl failure (os_errno:
 * CURLINFO_OS_ERRNO) */
char *session_cause(int curlcode, long os_errno, const char *errbuf,
    const struct config_account *a, int timeout);

/* ---- window.c ------------------------------------------------------------- */

#define WINDOW_BYTES_MAX	((guint64)256 << 20)	/* pending raw bytes */

enum window_state {
	WINDOW_WANTED,		/* on the server, not fetched yet */
	WINDOW_HELD,		/* fetched, sent (or waiting to be), not acknowledged */
	WINDOW_DONE,		/* acknowledged, or skipped */
};

struct window_entry {
	guint32 uid;
	enum window_state state;
	guint64 size;		/* RFC822.SIZE while wanted, the real size once held */
	GBytes *raw;		/* while held */
	int attempt;		/* sends so far */
	gint64 due;		/* monotonic us: (re)send when reached */
};

enum window_ack {
	WINDOW_ACKED,		/* a held message is now done */
	WINDOW_ACK_AGAIN,	/* it was done already */
	WINDOW_ACK_UNKNOWN,	/* not a message of this window */
};

struct window;
struct window *window_new(guint32 uidvalidity, guint32 mark);
void window_free(struct window *w);
guint32 window_uidvalidity(const struct window *w);
guint32 window_mark(const struct window *w);	/* every uid <= it is done */
guint32 window_top(const struct window *w);	/* the highest uid listed */
guint window_held(const struct window *w);
guint64 window_held_bytes(const struct window *w);
guint window_wanted(const struct window *w);
/* window_want - a uid the server listed; FALSE (ignored) unless above top */
gboolean window_want(struct window *w, guint32 uid, guint64 size);
gboolean window_is_wanted(const struct window *w, guint32 uid);
/* window_skip - a wanted uid that will never be fetched (gone, too large) */
void window_skip(struct window *w, guint32 uid);
/* window_batch - the next wanted uids to fetch, ascending: at most room, and
 * their sizes within what WINDOW_BYTES_MAX leaves (one message alone always
 * fits when nothing is held) */
GArray *window_batch(const struct window *w, guint room);
/* window_hold - a wanted uid has arrived; the entry to send, or NULL */
struct window_entry *window_hold(struct window *w, guint32 uid, GBytes *raw, gint64 now);
/* window_sent / window_unsent - after trying to send: due again after
 * resend_us, or retry_us when it could not go out */
void window_sent(struct window *w, struct window_entry *e, gint64 now, gint64 resend_us);
void window_unsent(struct window *w, struct window_entry *e, gint64 now, gint64 retry_us);
enum window_ack window_ack(struct window *w, guint32 uidvalidity, guint32 uid);
/* window_due - held entries whose time has come, oldest uid first */
GPtrArray *window_due(const struct window *w, gint64 now);
gint64 window_next_due(const struct window *w);	/* G_MAXINT64: none */

/* ---- state.c -------------------------------------------------------------- */

struct state {
	guint32 uidvalidity;	/* 0: never connected */
	guint32 uid;		/* the mark */
};

char *state_path(const char *state_dir, const char *account);
/* state_load - a missing file is a fresh state (TRUE, zeros) */
gboolean state_load(const char *path, struct state *st, GError **err);
/* state_save - write, fsync, rename, fsync the directory */
gboolean state_save(const char *path, const struct state *st, GError **err);
/* state_lock - hold PATH.lock so a second fetchd for the account refuses to
 * run; the fd to keep open, or -1 with err */
int state_lock(const char *path, GError **err);

#define STATE_ERROR (state_error_quark())
GQuark state_error_quark(void);

/* ---- retry.c -------------------------------------------------------------- */

#define RETRY_FIRST	5	/* seconds */
#define RETRY_MAX	300

struct retry {
	int failures;
	char *cause;		/* the last one logged; NULL when working */
	gboolean ever_ok;
};

/* retry_failed - count a failure; the delay in seconds before the next try.
 * *changed is TRUE when cause is not the one logged last. */
int retry_failed(struct retry *r, const char *cause, gboolean *changed);
/* retry_connected - a connection works; TRUE when that is news (the first
 * time, or after failures) */
gboolean retry_connected(struct retry *r);
/* retry_healthy - a whole check went well: the next failure starts over */
void retry_healthy(struct retry *r);
void retry_reset(struct retry *r);
/* retry_delay - the backoff for the nth failure (1-based), with jitter r in [0,1) */
int retry_delay(int n, double r);

/* ---- fetch.c -------------------------------------------------------------- */

struct fetch;
/* fetch_new - the account's engine: state loaded and locked; push is the
 * socket to parsed, tap may be NULL */
struct fetch *fetch_new(const struct config *cfg, const char *account, void *push,
    struct tap *tap, gboolean (*cancel)(void), GError **err);
void fetch_free(struct fetch *f);	/* closes the session */
/* fetch_configure - a reloaded configuration: the connection is dropped so
 * new settings apply */
void fetch_configure(struct fetch *f, const struct config *cfg);
void fetch_set_push(struct fetch *f, void *push);
void fetch_set_tap(struct fetch *f, struct tap *tap);
/* fetch_run - do whatever is due: connect, check, fetch, resend */
void fetch_run(struct fetch *f, gint64 now);
/* fetch_wait_ms - how long the loop may sleep before fetch_run has work */
int fetch_wait_ms(const struct fetch *f, gint64 now);
/* fetch_ack - a message from the acks socket */
void fetch_ack(struct fetch *f, const struct wire_msg *m);
/* fetch_deliver - a fetched message: held in the window and sent */
void fetch_deliver(struct fetch *f, guint32 uid, GBytes *raw, gint64 now);
/* fetch_save - persist the mark if it moved; FALSE after a logged failure */
gboolean fetch_save(struct fetch *f);
guint fetch_outstanding(const struct fetch *f);	/* held, not acknowledged */
void fetch_disconnect(struct fetch *f);
/* for tests */
struct window *fetch_window(struct fetch *f);
void fetch_begin(struct fetch *f, guint32 uidvalidity);

#endif
