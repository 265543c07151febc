/*
 * fetchd - one email account's mail, fetched whole and handed to parsed.
 *
 * THE SECRET: char *account_secret(const struct config_account *a,
 * enum secret_use use, GError **err) (common/secret.h, included here) gives
 * the password or, when account_secret_is_token(a, use), the OAuth2 bearer
 * token, from password_file, password_command or oauth2_token_command; free
 * it with secret_free().  Commands are run again at every call.
 *
 *	imap.c		the IMAP response parser (a pure function over a buffer),
 *			quoting, UID sets, after_fetch's commands, Message-IDs
 *	conn.c		the connection IMAP and POP3 share: libcurl connects,
 *			wraps TLS and logs in; then waits, sends and receives
 *			with timeouts and stop requests
 *	session.c	one IMAP session over a conn: SELECT/EXAMINE, UID FETCH,
 *			NOOP, IDLE, STORE, MOVE are ours
 *	pop3.c		one POP3 session the same way: UIDL, LIST, RETR, DELE, QUIT
 *	window.c	what has been listed, sent and acknowledged; the mark
 *	state.c		the state file: uidvalidity, the mark, acked and pending
 *			uids (IMAP) or the acknowledged UIDLs (POP3), atomically
 *	retry.c		backoff and "log once per cause"; long after a refused login
 *	idle.c		when to enter and leave IDLE (a pure decision)
 *	rematch.c	a changed UIDVALIDITY matched by Message-ID (pure)
 *	fetch.c		the account: ties the above to the sockets
 *	check.c		fetchd --check: an account's connections tested
 *
 * SECURITY: everything the server says is untrusted: lines are bounded, literals
 * are bounded, nothing is asserted about it.  The folder is opened with EXAMINE
 * (read-only) and bodies are fetched with BODY.PEEK[], so fetchd never changes a
 * flag in a mailbox others share, unless after_fetch says to (then SELECT, and
 * only for what routed has acknowledged).  The secret comes from a file of mode
 * 0600 or a command, is handed to libcurl (or, for auth = pass, sent by us in
 * a LOGIN/PASS line that is never logged) and wiped; certificates are checked
 * unless tls_verify = no is written, and no secret crosses tls = none unless
 * allow_plaintext = yes.
 */
#ifndef POSTROOM_FETCHD_H
#define POSTROOM_FETCHD_H

#include <glib.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"
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

	/* FETCH BODY[HEADER.FIELDS (...)]: as the body */
	gboolean has_header;
	gboolean header_quoted;
	gsize header_off, header_len;
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
/* imap_resp_header - the header lines of a parsed FETCH, as imap_resp_body */
GBytes *imap_resp_header(const struct imap_resp *r, GBytes *buf);
/* imap_resp_code - the number of "[CODE n]" at the start of the text */
gboolean imap_resp_code(const struct imap_resp *r, const char *code, guint32 *value);

/* imap_quote - s as an IMAP quoted string, or NULL when it cannot be one
 * (CR, LF, NUL); non-ASCII is modified UTF-7 first (RFC 3501 5.1.3) */
char *imap_quote(const char *s);
char *imap_utf7_encode(const char *utf8);
/* imap_uid_set - "5:9,12" for sorted uids; stops before the text exceeds max
 * characters and sets *used to how many uids it took */
char *imap_uid_set(const guint32 *uids, guint n, gsize max, guint *used);

/* imap_astring - s as a quoted string for LOGIN, or NULL when it needs a
 * literal (8-bit, CR, LF) */
char *imap_astring(const char *s);
/* imap_search_date - "1-Feb-2024" for SEARCH SINCE */
char *imap_search_date(GDateTime *when);
/* imap_message_id - the Message-ID of a few header lines, without <>; NULL
 * when there is none */
char *imap_message_id(const guint8 *text, gsize len);
/* imap_after_fetch_commands - what after_fetch sends for the uid set
 * (folder: the move target, UTF-8): seen: UID STORE +FLAGS.SILENT (\Seen);
 * move: UID MOVE with MOVE, else UID COPY, STORE \Deleted, UID EXPUNGE
 * (UIDPLUS) or EXPUNGE; delete: STORE \Deleted, UID EXPUNGE or EXPUNGE */
GPtrArray *imap_after_fetch_commands(enum after_fetch how, const char *folder,
    gboolean has_move, gboolean has_uidplus, const char *set);

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
	SESSION_AUTH,		/* the server refused the login: back off for long */
};

#define SESSION_ERROR (session_error_quark())
GQuark session_error_quark(void);

struct session_opts {
	const struct config_account *account;
	const char *password;		/* account_secret(): a password, or the bearer
					 * token when account_secret_is_token() */
	int timeout;			/* seconds of silence before giving up */
	gboolean (*cancel)(void);	/* polled every second; TRUE stops waiting */
};

/* what SELECT or EXAMINE tells of a folder */
struct session_folder {
	guint32 uidvalidity;
	guint32 exists;
	guint32 uidnext;		/* 0: the server did not say */
};

struct session_msgid {
	guint32 uid;
	char *message_id;		/* without <>; NULL: the message has none */
};

struct session_msg {
	guint32 uid;
	guint64 size;		/* RFC822.SIZE as the server announced it */
};

/* called for each message a UID FETCH brings; body is a new reference the
 * callee owns */
typedef void (*session_body_fn)(guint32 uid, GBytes *body, void *data);

struct session;
/* session_open - connected, logged in (SESSION_AUTH when refused), and the
 * server's CAPABILITY known */
struct session *session_open(const struct session_opts *o, GError **err);
void session_close(struct session *s);	/* (DONE,) LOGOUT, politely and briefly */
/* session_examine - open folder read-only; its UIDVALIDITY and message count */
gboolean session_examine(struct session *s, const char *folder, guint32 *uidvalidity,
    guint32 *exists, GError **err);
/* session_select - SELECT (writable) or EXAMINE folder */
gboolean session_select(struct session *s, const char *folder, gboolean writable,
    struct session_folder *f, GError **err);
/* session_has - the server announced capability cap ("IDLE", "MOVE", "UIDPLUS") */
gboolean session_has(const struct session *s, const char *cap);
int session_fd(const struct session *s);	/* the socket, to poll while idle */
/* session_search_since - UID SEARCH SINCE the day: sorted uids */
GArray *session_search_since(struct session *s, GDateTime *since, GError **err);
/* session_message_ids - every message's uid and Message-ID (UID FETCH 1:*
 * BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]): a GArray of struct session_msgid,
 * sorted by uid, that frees the strings */
GArray *session_message_ids(struct session *s, GError **err);
/* session_after_fetch - apply the account's after_fetch to uids (sorted);
 * *done says how many of them (from the first) were dealt with */
gboolean session_after_fetch(struct session *s, const struct config_account *a,
    const guint32 *uids, guint n, guint *done, GError **err);
/* IDLE: session_idle_start sends IDLE and waits for the go-ahead;
 * session_idle_poll reads what has come without waiting; session_idle_done
 * ends it.  *news becomes TRUE when the server announced new mail (EXISTS). */
gboolean session_idle_start(struct session *s, gboolean *news, GError **err);
gboolean session_idle_poll(struct session *s, gboolean *news, GError **err);
gboolean session_idle_done(struct session *s, gboolean *news, GError **err);
/* session_idle_done_list - end the IDLE and list the uids above after (as
 * session_list) in one write: new mail costs one round trip less */
GArray *session_idle_done_list(struct session *s, guint32 after, gboolean *news, GError **err);
gboolean session_idling(const struct session *s);
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

/* ---- conn.c --------------------------------------------------------------- */

/* the connection a session (IMAP or POP3) speaks over, once libcurl has
 * connected, wrapped TLS and logged in */
struct conn {
	void *curl;			/* libcurl's CONNECT_ONLY handle */
	int fd;				/* its socket */
	int timeout;			/* seconds of silence before giving up */
	gboolean (*cancel)(void);	/* polled every second; TRUE stops waiting */
	char *where;			/* host:port, for messages */
	gboolean broken;		/* after an error: no goodbye, just close */
	char errbuf[256];		/* libcurl's words for a failure (CURL_ERROR_SIZE) */
};

/* conn_open - connected and logged in (unless auth = pass: then the session
 * logs in itself); SESSION_AUTH when the server refused the login.  Close c
 * with conn_close() either way. */
gboolean conn_open(struct conn *c, const struct session_opts *o, GError **err);
/* conn_closing - TRUE when a last word (LOGOUT, QUIT) may still be said:
 * connected and not broken; the waits are then short and deaf to stop
 * requests, so that it is said politely and briefly */
gboolean conn_closing(struct conn *c);
void conn_close(struct conn *c);	/* the handle cleaned up; c itself is the caller's */
/* conn_deadline - when silence from now on becomes a timeout */
gint64 conn_deadline(const struct conn *c);
/* conn_wait - until the socket is ready for events (POLLIN, POLLOUT), or
 * until passes (SESSION_TIMEOUT), or a stop request (SESSION_CANCELLED) */
gboolean conn_wait(struct conn *c, short events, gint64 until, GError **err);
/* conn_send - every byte of data, waiting while the socket is full */
gboolean conn_send(struct conn *c, const void *data, gsize len, GError **err);
/* conn_recv - up to want bytes onto the end of in, without waiting: *n of
 * them and CURLE_OK, CURLE_AGAIN when none has come, another CURLcode when
 * the connection failed (conn_error() says why) */
int conn_recv(struct conn *c, GByteArray *in, gsize want, gsize *n);
/* conn_error - libcurl's words for a failure rc (a CURLcode) */
const char *conn_error(const struct conn *c, int rc);
/* conn_cause - the words for a person for a libcurl failure (os_errno:
 * CURLINFO_OS_ERRNO) */
char *conn_cause(int curlcode, long os_errno, const char *errbuf,
    const struct config_account *a, int timeout);
/* conn_login_options - CURLOPT_LOGIN_OPTIONS for the account's auth, or
 * NULL (libcurl's choice, or auth = pass: the session logs in itself) */
const char *conn_login_options(const struct config_account *a);
/* conn_curl_setup - a libcurl handle set for the account's mailbox:
 * protocols, login (user and secret, unless auth = pass), TLS */
void conn_curl_setup(void *curl, const struct config_account *a, const char *secret);
/* conn_offered - the login mechanisms the server named while libcurl
 * talked to it (IMAP CAPABILITY AUTH=..., POP3 CAPA SASL ..., APOP for a
 * POP3 greeting with a timestamp), upper case, space-separated */
char *conn_offered(const char *said, gboolean pop3);

/* ---- pop3.c --------------------------------------------------------------- */

struct pop3_msg {
	guint num;		/* this session's message number */
	char *uidl;		/* pop3_uidl_id() of what the server said */
	guint64 size;		/* LIST's octets (0 when not listed) */
};

/* pure parts */
/* pop3_status - "+OK ..." (TRUE, *ok) or "-ERR ..." (TRUE, !*ok); else FALSE */
gboolean pop3_status(const char *line, gboolean *ok);
/* pop3_multiline_end - where the data of a multi-line answer ends (the
 * offset of the "." line, the data's last CRLF included before it), or -1
 * when buf does not hold it yet; the search starts at from - 2 (from: the
 * data's first byte, right after the status line); *next is the offset
 * after the "." line */
gssize pop3_multiline_end(const guint8 *buf, gsize len, gsize from, gsize *next);
/* pop3_unstuff - a multi-line answer's data with the byte-stuffing removed */
GBytes *pop3_unstuff(const guint8 *data, gsize len);
/* pop3_uidl_id - the UIDL as it is kept and keyed: itself when RFC 1939
 * allows it, else "h-" and its SHA-256 */
char *pop3_uidl_id(const char *uidl);
/* pop3_parse_listing - UIDL's and LIST's data into out (struct pop3_msg, by
 * number); a UIDL seen twice is logged and left out */
gboolean pop3_parse_listing(GBytes *uidl, GBytes *list, GArray *out, GError **err);

struct pop3;
/* pop3_open - connected and logged in (SESSION_AUTH when refused) */
struct pop3 *pop3_open(const struct session_opts *o, GError **err);
/* pop3_list - UIDL and LIST: a GArray of struct pop3_msg (frees its strings) */
GArray *pop3_list(struct pop3 *p, GError **err);
GBytes *pop3_retr(struct pop3 *p, guint num, GError **err);
gboolean pop3_dele(struct pop3 *p, guint num, GError **err);
/* pop3_quit - QUIT: the deletions happen; the session is over either way */
gboolean pop3_quit(struct pop3 *p, GError **err);
void pop3_close(struct pop3 *p);	/* QUIT if still possible, and free */

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
/* window_want - a uid the server listed; FALSE (ignored) unless above top,
 * or when it was predone (then it is done at once: never fetched) */
gboolean window_want(struct window *w, guint32 uid, guint64 size);
/* window_predone - a uid above top acknowledged already (an earlier run's
 * ack out of order, a match after a UIDVALIDITY change): when listed it is
 * done without fetching; forgotten when a higher uid is listed first (gone) */
void window_predone(struct window *w, guint32 uid);
/* window_acked_above - the uids above the mark known to be acknowledged,
 * ascending (for the state file) */
GArray *window_acked_above(const struct window *w);
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
	/* NULL when empty; state_clear() frees them */
	GArray *acked;		/* IMAP: guint32 uids above the mark acknowledged already, sorted */
	GArray *pending;	/* IMAP: acknowledged uids whose after_fetch is still to do, sorted */
	GPtrArray *uidls;	/* POP3 (non-NULL, maybe empty): acknowledged UIDLs on the server */
};

char *state_path(const char *state_dir, const char *account);
/* state_load - a missing file is a fresh state (TRUE, zeros) */
gboolean state_load(const char *path, struct state *st, GError **err);
void state_clear(struct state *st);
/* state_format - the file's text */
char *state_format(const struct state *st);
/* state_valid_uidl - 1 to 70 characters from 0x21 to 0x7e (RFC 1939) */
gboolean state_valid_uidl(const char *s);
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
#define RETRY_AUTH_FIRST 60	/* after a refused login: a minute, doubling */
#define RETRY_AUTH_MAX	3600	/* up to an hour */

struct retry {
	int failures;
	char *cause;		/* the last one logged; NULL when working */
	gboolean ever_ok;
	int auth_failures;	/* refused logins in a row */
};

/* retry_failed - count a failure; the delay in seconds before the next try.
 * *changed is TRUE when cause is not the one logged last. */
int retry_failed(struct retry *r, const char *cause, gboolean *changed);
/* retry_auth_failed - the server refused the login: the delay of
 * retry_auth_delay() for the logins refused in a row */
int retry_auth_failed(struct retry *r, const char *cause, gboolean *changed);
int retry_auth_delay(int n);	/* 60, 120, 240 ... 3600 seconds */
/* retry_connected - a connection works; TRUE when that is news (the first
 * time, or after failures) */
gboolean retry_connected(struct retry *r);
/* retry_healthy - a whole check went well: the next failure starts over */
void retry_healthy(struct retry *r);
void retry_reset(struct retry *r);
/* retry_delay - the backoff for the nth failure (1-based), with jitter r in [0,1) */
int retry_delay(int n, double r);

/* ---- rematch.c ------------------------------------------------------------ */

struct rematch {
	guint32 mark;		/* every uid up to it matched */
	GArray *above;		/* matched uids above the mark (predone) */
	guint matched, total;
	gboolean refuse;	/* fewer than half matched: stop, do not guess */
};

/* rematch_plan - the folder's uids (sorted) and whether each one's
 * Message-ID is stored already; half_rule: refuse below half matched */
void rematch_plan(const guint32 *uids, const gboolean *matched, guint n, gboolean half_rule,
    struct rematch *out);
void rematch_clear(struct rematch *r);

/* ---- idle.c --------------------------------------------------------------- */

#define IDLE_RENEW	((gint64)25 * 60 * G_USEC_PER_SEC)	/* RFC 2177: under 30 minutes */

enum idle_do {
	IDLE_STAY,		/* as it is (idling or not) */
	IDLE_ENTER,
	IDLE_LEAVE_NEWS,	/* the server announced mail: fetch it now */
	IDLE_LEAVE_ACTIONS,	/* after_fetch to do */
	IDLE_LEAVE_CHECK,	/* the catch-up check is due */
	IDLE_LEAVE_RENEW,	/* idle for IDLE_RENEW: start it again */
};

struct idle_view {
	gboolean capable;	/* the server says IDLE */
	gboolean enabled;	/* idle = yes */
	gboolean connected;
	gboolean caught_up;	/* nothing listed waits to be fetched */
	gboolean actions;	/* after_fetch waits to be done */
	gboolean idling;
	gboolean news;		/* EXISTS while idling */
	gint64 now, since;	/* monotonic us; since: when IDLE began */
	gint64 next_check;
};

enum idle_do idle_decide(const struct idle_view *v);

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
/* fetch_set_zmq - the context, for asking routed (a changed UIDVALIDITY) */
void fetch_set_zmq(struct fetch *f, void *ctx);
/* fetch_account_ok - what fetchd refuses to start with (exit 78): tls =
 * none without allow_plaintext = yes */
gboolean fetch_account_ok(const struct config_account *a, GError **err);
/* fetch_account_warn - warnings said at every start and reload: tls_verify
 * = no, check_interval under a minute for a remote host */
void fetch_account_warn(const struct config_account *a);
gboolean fetch_loopback(const char *host);	/* localhost, 127.x, ::1 */
/* fetch_pop3_key - "ACCOUNT/pop3/UIDL", a POP3 message's key */
char *fetch_pop3_key(const char *account, const char *uidl);
/* fetch_poll_fd - while idle, the socket to poll beside the acks; else -1 */
int fetch_poll_fd(const struct fetch *f);
guint fetch_pending(const struct fetch *f);	/* acknowledged, after_fetch to do */
/* fetch_run - do whatever is due: connect, check, fetch, resend */
void fetch_run(struct fetch *f, gint64 now);
/* fetch_wait_ms - how long the loop may sleep before fetch_run has work */
int fetch_wait_ms(const struct fetch *f, gint64 now);
/* fetch_ack - a message from the acks socket */
void fetch_ack(struct fetch *f, const struct wire_msg *m);
/* fetch_deliver - a fetched message: held in the window and sent */
void fetch_deliver(struct fetch *f, guint32 uid, GBytes *raw, gint64 now);
/* fetch_save - persist the state if it changed; FALSE after a logged failure */
gboolean fetch_save(struct fetch *f);
guint fetch_outstanding(const struct fetch *f);	/* held, not acknowledged */
void fetch_disconnect(struct fetch *f);
/* for tests */
struct window *fetch_window(struct fetch *f);
void fetch_begin(struct fetch *f, guint32 uidvalidity);

/* ---- check.c -------------------------------------------------------------- */

/* check_run - `fetchd --check`: test the account's mailbox (lookup, connection,
 * TLS, login, folder) and its SMTP server (lookup, connection, TLS, EHLO,
 * AUTH, and a test message to send_to unless NULL), one line per step on
 * out; 0 when all passed, else the first failure's status: 69 unreachable or
 * unusable, 75 throttled or locked, 77 login refused, 78 a secret or CA file
 * unusable (64: send_to is not an address) */
int check_run(const struct config *cfg, const char *account, const char *send_to, FILE *out);
/* check_throttled - a server's refusal says the provider throttles or has
 * locked the account ([UNAVAILABLE], [INUSE], [LIMIT], "too many", ...) */
gboolean check_throttled(const char *reply);
/* check_wants_tls - a server's refusal says it takes no login without TLS */
gboolean check_wants_tls(const char *reply);
/* check_greets_plain - the first bytes of a server are a plain-text line (an
 * IMAP, POP3 or SMTP greeting), not TLS */
gboolean check_greets_plain(const guint8 *buf, gsize len);
/* check_printable - s as valid UTF-8 without control characters or trailing
 * white space, at most max characters ("..." after) */
char *check_printable(const char *s, gsize len, gsize max);
/* check_list_name - the folder a LIST response's text names, in UTF-8;
 * *selectable is FALSE for \Noselect; NULL when it cannot be read */
char *check_list_name(const char *text, gboolean *selectable);
/* check_address_ok - addr is a bare address that is safe in a header */
gboolean check_address_ok(const char *addr);
/* check_compose - the test message (CRLF lines) from the account's reply
 * address to to */
char *check_compose(const struct config_account *a, const char *to, GDateTime *now,
    const char *uuid);

#endif
