/*
 * agentd - the agents' side: the HTTP API of docs/api.md, the event stream,
 * the page, and replies over SMTP.  Private to agentd/.
 *
 * SECURITY: agentd faces people's browsers.  Every request body, header and
 * path is untrusted; so is everything routed hands back that came from a
 * customer's mail (subjects, names, addresses, bodies), which is why replies
 * are built with GMime and the page writes mail with textContent only.
 * Passwords are checked with crypt(3) in constant time; sessions are 256
 * random bits kept only as their SHA-256 in memory; secrets are never logged.
 */
#ifndef POSTROOM_AGENTD_H
#define POSTROOM_AGENTD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <jansson.h>

#include "config.h"

/* the page's files, built into the binary by tools/embed.sh */
struct www_file {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct www_file www_files[];

#define AGENTD_TAP		"agentd"
#define AGENTD_COOKIE		"postroom_session"
#define AGENTD_BODY_MAX		(1024 * 1024)	/* bytes of a request body */
#define AGENTD_CONTROL_MS	5000		/* how long routed may take to answer */

/* --- agentd.c: what every thread shares --- */

/* the error domain of agentd's own errors (composing, sending, listening) */
#define AGENTD_ERROR (agentd_error_quark())
GQuark agentd_error_quark(void);

/* One loaded configuration, shared by reference: a reload swaps in a new
 * one while requests in flight keep the one they started with. */
struct agentd_cfg {
	struct config *c;
};
typedef struct agentd_cfg agentd_cfg;	/* for g_autoptr() only */

struct agentd {
	void *zctx;
	char *config_dir;
	GMutex cfg_lock;
	struct agentd_cfg *cfg;		/* under cfg_lock */
	struct sessions *sessions;
	GMutex tap_lock;
	struct tap *tap;		/* under tap_lock: a socket is one thread's at a time */
	int control_ms;			/* AGENTD_CONTROL_MS, shorter in tests */
	char *dummy_hash;		/* checked for unknown agents, so they cost the same */
	gint stopping;			/* set once: every thread winds down */
};

/* agentd_new - shared state over cfg (taken); tap may be NULL */
struct agentd *agentd_new(void *zctx, const char *config_dir, struct config *cfg,
    struct tap *tap);
void agentd_free(struct agentd *ad);
struct agentd_cfg *agentd_cfg_get(struct agentd *ad);
void agentd_cfg_put(struct agentd_cfg *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(agentd_cfg, agentd_cfg_put)
/* agentd_reload - re-read the configuration; FALSE (and the old one kept) on error */
gboolean agentd_reload(struct agentd *ad, GError **err);
/* agentd_tap - publish on the tap from any thread; meta is taken */
void agentd_tap(struct agentd *ad, const char *type, json_t *meta);
gboolean agentd_stopping(struct agentd *ad);
void agentd_stop(struct agentd *ad);
/* agentd_sweep - end idle sessions; log out at routed agents left without one */
void agentd_sweep(struct agentd *ad);

/* --- session.c: who is logged in --- */

struct sessions;
struct sessions *sessions_new(int idle_s);
void sessions_free(struct sessions *ss);
void sessions_set_idle(struct sessions *ss, int idle_s);
/* session_token - 32 random bytes as 64 hex digits */
char *session_token(void);
/* session_valid_token - TRUE when s looks like a token (64 hex digits) */
gboolean session_valid_token(const char *s);
/* session_create - a new session for agent; returns its token */
char *session_create(struct sessions *ss, const char *agent, gint64 now);
/* session_lookup - the agent of a live token, touching it; NULL when unknown
 * or idle too long (then it is gone) */
char *session_lookup(struct sessions *ss, const char *token, gint64 now);
/* session_alive - like session_lookup without touching (for the event stream) */
gboolean session_alive(struct sessions *ss, const char *token, gint64 now);
void session_end(struct sessions *ss, const char *token);
/* sessions_end_agent - end every session of agent; returns how many */
guint sessions_end_agent(struct sessions *ss, const char *agent);
/* sessions_expire - drop idle sessions; returns the agents (GPtrArray of
 * char *) left without any session */
GPtrArray *sessions_expire(struct sessions *ss, gint64 now);
/* sessions_now - the clock sessions use, in seconds */
gint64 sessions_now(void);

/* --- control.c: requests to routed --- */

/* control_call - send op for agent (fields merged in, taken, may be NULL;
 * parts may be NULL) to routed and wait up to timeout_ms.  Returns the reply's
 * meta, whatever its "ok"; NULL with err set when routed did not answer. */
json_t *control_call(void *zctx, const char *endpoint, int timeout_ms, const char *op,
    const char *agent, json_t *fields, GPtrArray *parts, GError **err);

/* --- compose.c: the reply as a mail message --- */

struct compose_in {
	const char *from_name;		/* the account's reply_name ("" for none) */
	const char *from_addr;		/* the account's reply_address */
	const char *subject;		/* the conversation's; NULL: the message's */
	json_t *customer;		/* the customer's last message, as in docs/wire.md */
	const char *body;		/* the agent's text, UTF-8 */
	GDateTime *date;		/* NULL: now */
};

/* compose_reply - the reply as it goes on the wire (CRLF line ends); *record
 * gets its description for routed's "reply" op (message_id, in_reply_to,
 * references, subject, from_name, from_addr, to, cc, date, date_iso_utc,
 * text_body).  NULL with err set when the customer's message gives no
 * usable address. */
GBytes *compose_reply(const struct compose_in *in, json_t **record, GError **err);
/* compose_valid_addr - an address safe to put in a header and an SMTP command */
gboolean compose_valid_addr(const char *addr);
/* compose_valid_msgid - a Message-ID (without <>) safe to put in a header */
gboolean compose_valid_msgid(const char *id);
/* compose_clean - text for a header: control characters become spaces */
char *compose_clean(const char *s);

/* --- smtp.c: sending --- */

/* smtp_send - hand msg to the account's SMTP server for rcpt; FALSE with a
 * sentence a person can act on in err */
gboolean smtp_send(const struct config_account *a, const char *rcpt, GBytes *msg,
    GError **err);
/* smtp_explain - words for a libcurl result */
const char *smtp_explain(int curl_code);

/* --- api.c: the calls of docs/api.md --- */

struct api_request {
	const char *method;
	const char *path;
	const char *token;		/* Bearer or cookie; NULL for none */
	const char *body;
	size_t body_len;
	gboolean body_too_big;
	const char *client;		/* the peer's address, for logs */
};

struct api_answer {
	int status;
	json_t *body;			/* an object */
	char *set_cookie;		/* a Set-Cookie value, or NULL */
};

enum api_route {
	ROUTE_NONE,
	ROUTE_LOGIN,
	ROUTE_LOGOUT,
	ROUTE_ME,
	ROUTE_STATE,
	ROUTE_EVENTS,
	ROUTE_CONVERSATION,
	ROUTE_REPLY,
	ROUTE_DISPOSITION,
};

/* api_route - which call method and path name; *id gets a conversation id.
 * ROUTE_NONE for no such call. */
enum api_route api_route(const char *method, const char *path, json_int_t *id);
/* api_token - the session token of a request: "Bearer X" or the cookie */
const char *api_token(const char *authorization, const char *cookie);
/* api_body - the body as a JSON object; NULL with *why when it is not one */
json_t *api_body(const char *data, size_t len, const char **why);
/* api_handle - answer one call (every route but ROUTE_EVENTS) */
void api_handle(struct agentd *ad, const struct api_request *rq, struct api_answer *ans);
void api_answer_clear(struct api_answer *ans);
/* api_error - fill ans with {"error": code, "message": ...} */
void api_error(struct api_answer *ans, int status, const char *code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* api_agent_json - the agent object of /api/login and /api/me */
json_t *api_agent_json(const struct config *c, const struct config_agent *a);
/* api_routed - ask routed (fields taken); NULL with ans filled in (503, or routed's error
 * mapped to its status) unless the reply is ok */
json_t *api_routed(struct agentd *ad, struct api_answer *ans, const char *op,
    const char *agent, json_t *fields, GPtrArray *parts);

/* --- events.c: GET /api/events --- */

struct events_stream;
/* events_open - subscribe, then tell the agent what it holds; NULL with ans
 * filled in on failure */
struct events_stream *events_open(struct agentd *ad, const char *token, const char *agent,
    int client_fd, struct api_answer *ans);
/* events_read - the next bytes of the stream; blocks until there are some,
 * -1 at its end (libmicrohttpd's content reader) */
ssize_t events_read(void *cls, uint64_t pos, char *buf, size_t max);
void events_close(void *cls);
/* events_format - one event as text/event-stream lines; NULL for an event
 * the page has no use for */
char *events_format(json_t *meta);

/* --- http.c: libmicrohttpd --- */

struct http;
struct http *http_start(struct agentd *ad, const char *listen, GError **err);
void http_stop(struct http *h);
/* http_www_file - a page file by name: built in, or from dir when not "" */
GBytes *http_www_file(const char *dir, const char *name);
const char *http_content_type(const char *name);

#endif
