/*
 * config - postroom's configuration directory, loaded whole and checked.
 *
 *	DIR/postroom.conf		endpoints, state and run directories
 *	DIR/accounts/ID.conf		one per email account
 *	DIR/groups/ID.conf		one per email group
 *	DIR/agents/ID.conf		one per agent
 *
 * Every program loads all of it, so a mistake anywhere stops every program
 * the same way: "FILE: [section] key: problem", exit 78.
 */
#ifndef POSTROOM_CONFIG_H
#define POSTROOM_CONFIG_H

#include <glib.h>

#include "cfg.h"

enum tls_mode {
	TLS_IMPLICIT,
	TLS_STARTTLS,
	TLS_NONE,
};

enum account_protocol {
	PROTOCOL_IMAP,
	PROTOCOL_POP3,
};

/* auth: how to log in; AUTH_BEST lets libcurl take the strongest the server
 * offers (XOAUTH2 when the secret is a token) */
enum account_auth {
	AUTH_BEST,
	AUTH_PASS,		/* POP3 USER/PASS, IMAP LOGIN: the password in the clear */
	AUTH_APOP,		/* POP3 only */
	AUTH_CRAM_MD5,
	AUTH_PLAIN,		/* SASL PLAIN */
	AUTH_LOGIN,		/* SASL LOGIN */
	AUTH_XOAUTH2,
};

/* after_fetch: what happens on the server to a message routed has stored */
enum after_fetch {
	AFTER_FETCH_KEEP,
	AFTER_FETCH_SEEN,	/* IMAP: \Seen */
	AFTER_FETCH_MOVE,	/* IMAP: to after_fetch_folder */
	AFTER_FETCH_DELETE,
};

struct config_account {
	char *id;		/* the file name without .conf */
	char *file;
	char *protocol;		/* "imap" or "pop3" (see proto) */
	char *host;
	int port;		/* resolved: 993/143 (IMAP), 995/110 (POP3) when the file says 0 */
	enum tls_mode tls;
	char *tls_ca_file;	/* "" for the system's */
	char *user;
	char *password_file;	/* "" when a command gives the secret */
	char *folder;
	int check_interval;	/* seconds */
	char *group;
	char *reply_address;
	char *reply_name;	/* "" for none */
	char *smtp_host;
	int smtp_port;		/* resolved: 465/587/25 when the file says 0 */
	enum tls_mode smtp_tls;
	gboolean smtp_auth;
	char *smtp_user;	/* resolved: user when the file leaves it empty */
	char *smtp_password_file;	/* resolved likewise */
	gboolean active;
	long max_message_size;	/* bytes; parsed reads only the headers of a larger message */

	/* fetchd's reach of the mailbox (see fetchd/fetchd.h, README) */
	enum account_protocol proto;	/* protocol, parsed */
	char *password_command;		/* "": none; exactly one of password_file, */
	char *oauth2_token_command;	/* password_command, oauth2_token_command */
	enum account_auth auth;
	gboolean tls_verify;		/* FALSE only when the file says tls_verify = no */
	gboolean allow_plaintext;	/* a secret may cross tls = none */
	enum after_fetch after_fetch;
	char *after_fetch_folder;	/* AFTER_FETCH_MOVE: the target; otherwise "" */
	int backfill_days;		/* 0: the whole folder on the first sync */
	gboolean idle;			/* IMAP IDLE where the server offers it */
};

struct config_group {
	char *id;
	char *file;
	char *name;
	char **dispositions;
};

struct config_member {
	char *group;
	int rank;		/* higher wins a tie */
};

struct config_agent {
	char *id;
	char *file;
	char *name;
	char *password_hash;
	GPtrArray *groups;	/* of struct config_member */
};

struct config {
	char *dir;
	char *state_dir;
	char *run_dir;
	char **parsed_endpoints;	/* one per parsed instance */
	char *routed_endpoint;		/* parsed -> routed records */
	char *acks_endpoint;		/* routed -> fetchd acknowledgements */
	char *control_endpoint;		/* agentd -> routed requests */
	char *events_endpoint;		/* routed -> agentd agent events */
	int fetch_window;
	int resend_timeout;
	int net_timeout;
	char *agentd_listen;		/* host:port */
	char *agentd_www;		/* "" for the page built into agentd */
	int session_idle;

	GPtrArray *accounts;	/* struct config_account, sorted by id */
	GPtrArray *groups;	/* struct config_group */
	GPtrArray *agents;	/* struct config_agent */
};

struct config *config_load(const char *dir, GError **err);
void config_free(struct config *c);
typedef struct config config;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(config, config_free)

const struct config_account *config_account(const struct config *c, const char *id);
const struct config_group *config_group(const struct config *c, const char *id);
const struct config_agent *config_agent(const struct config *c, const char *id);
/* the agent's rank in group, or -1 when the agent does not serve it */
int config_agent_rank(const struct config_agent *a, const char *group);

/* config_tap_endpoint - where a stage publishes its tap: ipc://RUN/tap/NAME.sock */
char *config_tap_endpoint(const struct config *c, const char *name);

/* The tables, for the samples (postroom-config sample KIND). */
extern const struct cfg_kind config_kind_postroom;
extern const struct cfg_kind config_kind_account;
extern const struct cfg_kind config_kind_group;
extern const struct cfg_kind config_kind_agent;
const struct cfg_kind *config_kind(const char *name);

/* config_load_or_exit - for main(): load DIR or log the problem and exit 78 */
struct config *config_load_or_exit(const char *dir);

/* -c DIR when none is given: the checkout's etc/, as in the README */
#define CONFIG_DEFAULT_DIR "etc"

#endif
