/*
 * config - the key tables and the loader of the configuration directory.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"

static const struct cfg_key postroom_keys[] = {
	{ "state_dir", CFG_PATH, "/var/lib/postroom", 0, 0, NULL,
	  "durable state: routed's database and raw messages, fetchd's per-account marks" },
	{ "run_dir", CFG_PATH, "/run/postroom", 0, 0, NULL,
	  "sockets between the stages (ipc://) and the taps" },
	{ NULL }
};

static const struct cfg_key endpoint_keys[] = {
	{ "parsed", CFG_LIST, "ipc://${run_dir}/parsed.sock", 0, 0, NULL,
	  "one endpoint per parsed instance (parsed -i N binds the Nth); fetchd connects to all" },
	{ "routed", CFG_STR, "ipc://${run_dir}/routed.sock", 0, 0, NULL,
	  "routed binds it; parsed sends records to it" },
	{ "acks", CFG_STR, "ipc://${run_dir}/acks.sock", 0, 0, NULL,
	  "routed publishes acknowledgements, after commit; fetchd subscribes" },
	{ "control", CFG_STR, "ipc://${run_dir}/control.sock", 0, 0, NULL,
	  "routed answers agentd's requests here" },
	{ "events", CFG_STR, "ipc://${run_dir}/events.sock", 0, 0, NULL,
	  "routed publishes agents' events (assignments); agentd subscribes" },
	{ NULL }
};

static const struct cfg_key fetchd_keys[] = {
	{ "window", CFG_INT, "256", 1, 10000, NULL,
	  "messages an account may have sent but not yet acknowledged" },
	{ "resend_timeout", CFG_INT, "30", 1, 3600, NULL,
	  "seconds before an unacknowledged message is sent again" },
	{ "timeout", CFG_INT, "60", 5, 3600, NULL,
	  "seconds a mail server may stay silent before the connection is given up" },
	{ NULL }
};

static const struct cfg_key agentd_keys[] = {
	{ "listen", CFG_STR, "127.0.0.1:8480", 0, 0, NULL,
	  "address:port of the agents' HTTP API and page (loopback unless a proxy fronts it)" },
	{ "www", CFG_PATH, "", 0, 0, NULL,
	  "serve the agent page from this directory instead of the copy built in" },
	{ "session_idle", CFG_INT, "28800", 60, 604800, NULL,
	  "seconds without a request after which an agent's session ends" },
	{ NULL }
};

static const struct cfg_section postroom_sections[] = {
	{ "postroom", "Where postroom keeps its state and its sockets.", postroom_keys },
	{ "endpoints", "ZeroMQ endpoints; ${run_dir} stands for run_dir. Use tcp:// to spread over hosts.",
	  endpoint_keys },
	{ "fetchd", "How every fetchd talks to the pipeline.", fetchd_keys },
	{ "agentd", "The agents' side.", agentd_keys },
	{ NULL }
};

const struct cfg_kind config_kind_postroom = {
	"postroom", "postroom.conf - the pipeline: directories, endpoints, daemons' settings",
	postroom_sections
};

static const struct cfg_key account_keys[] = {
	{ "protocol", CFG_ENUM, "imap", 0, 0, "imap|pop3", "how to reach the mailbox" },
	{ "host", CFG_STR, NULL, 0, 0, NULL, "the mail server, e.g. imap.gmail.com", "imap.example.com" },
	{ "port", CFG_INT, "0", 0, 65535, NULL,
	  "0: 993 with tls = implicit, 143 otherwise (POP3: 995, 110)" },
	{ "tls", CFG_ENUM, "implicit", 0, 0, "implicit|starttls|none",
	  "implicit (port 993), starttls (required, never downgraded) or none" },
	{ "tls_ca_file", CFG_PATH, "", 0, 0, NULL,
	  "PEM file of the CA that signed the server's certificate; empty: the system's CAs" },
	{ "tls_verify", CFG_BOOL, "yes", 0, 0, NULL,
	  "no: accept any certificate (fetchd warns at every start); never for a real server" },
	{ "allow_plaintext", CFG_BOOL, "no", 0, 0, NULL,
	  "yes: let fetchd send the secret over tls = none (otherwise it refuses to start)" },
	{ "user", CFG_STR, NULL, 0, 0, NULL, "login name, often the full address",
	  "support@example.com" },
	{ "password_file", CFG_PATH, "", 0, 0, NULL,
	  "file holding the password (or app password) on its first line, mode 0600; "
	  "exactly one of password_file, password_command, oauth2_token_command",
	  "secrets/support.password" },
	{ "password_command", CFG_STR, "", 0, 0, NULL,
	  "command (sh -c) whose first line of output is the password, run at every login" },
	{ "oauth2_token_command", CFG_STR, "", 0, 0, NULL,
	  "command (sh -c) printing an OAuth2 access token, run at every login (XOAUTH2)" },
	{ "auth", CFG_ENUM, "best", 0, 0, "best|pass|apop|cram-md5|plain|login|xoauth2",
	  "login method; best: the strongest the server offers; pass: USER/PASS or IMAP LOGIN" },
	{ "folder", CFG_STR, "INBOX", 0, 0, NULL, "the folder to take mail from (IMAP)" },
	{ "check_interval", CFG_INT, "60", 1, 86400, NULL,
	  "seconds between checks for new mail (fetchd warns below 60 for a remote host)" },
	{ "idle", CFG_BOOL, "yes", 0, 0, NULL,
	  "IMAP IDLE where the server offers it: new mail at once, checks still every check_interval" },
	{ "after_fetch", CFG_STR, "keep", 0, 0, NULL,
	  "once routed has the message: keep, seen, move:FOLDER or delete (POP3: keep or delete)" },
	{ "backfill_days", CFG_INT, "0", 0, 36500, NULL,
	  "the first sync takes mail of the last N days only; 0: the whole folder (IMAP)" },
	{ "group", CFG_STR, NULL, 0, 0, NULL, "the email group (etc/groups/ID.conf) this mail goes to",
	  "support" },
	{ "reply_address", CFG_STR, NULL, 0, 0, NULL, "From address of agents' replies",
	  "support@example.com" },
	{ "reply_name", CFG_STR, "", 0, 0, NULL, "display name of agents' replies, e.g. Example Support" },
	{ "smtp_host", CFG_STR, NULL, 0, 0, NULL, "server replies are sent through", "smtp.example.com" },
	{ "smtp_port", CFG_INT, "0", 0, 65535, NULL,
	  "0: 465 with smtp_tls = implicit, 587 with starttls, 25 with none" },
	{ "smtp_tls", CFG_ENUM, "starttls", 0, 0, "implicit|starttls|none",
	  "implicit, starttls (required) or none" },
	{ "smtp_auth", CFG_BOOL, "yes", 0, 0, NULL, "log in to the SMTP server (no: an open relay on this host)" },
	{ "smtp_user", CFG_STR, "", 0, 0, NULL, "SMTP login; empty: the same as user" },
	{ "smtp_password_file", CFG_PATH, "", 0, 0, NULL,
	  "SMTP password file, mode 0600; empty: the account's own secret (password_file, "
	  "password_command or oauth2_token_command)" },
	{ "active", CFG_BOOL, "yes", 0, 0, NULL, "no: fetchd for this account idles without connecting" },
	{ "max_message_size", CFG_INT, "52428800", 1048576, 2147483648L, NULL,
	  "bytes; parsed reads only the headers of a larger message (its raw bytes are kept)" },
	{ NULL }
};

static const struct cfg_section account_sections[] = {
	{ "account", "One real mailbox: how to connect, where its mail goes, how replies leave.",
	  account_keys },
	{ NULL }
};

const struct cfg_kind config_kind_account = {
	"account", "accounts/ID.conf - one email account (a mailbox postroom logs into)",
	account_sections
};

static const struct cfg_key group_keys[] = {
	{ "name", CFG_STR, NULL, 0, 0, NULL, "the name agents see", "Support" },
	{ "dispositions", CFG_LIST, "DONE, SPAM", 0, 0, NULL,
	  "the outcomes an agent may record; each ends the work" },
	{ NULL }
};

static const struct cfg_section group_sections[] = {
	{ "group", "A queue of work: who serves it and how it ends.", group_keys },
	{ NULL }
};

const struct cfg_kind config_kind_group = {
	"group", "groups/ID.conf - one email group (a queue)", group_sections
};

static const struct cfg_key agent_keys[] = {
	{ "name", CFG_STR, NULL, 0, 0, NULL, "the agent's full name", "Ada Lovelace" },
	{ "password_hash", CFG_STR, NULL, 0, 0, NULL,
	  "crypt(3) hash (yescrypt or argon2id) from postroom-passwd, never the password",
	  "$y$j9T$replace.me$with.the.output.of.postroom-passwd" },
	{ "groups", CFG_LIST, NULL, 0, 0, NULL,
	  "groups served, as group:rank (rank 0 to 99, higher first on a tie; default 0)",
	  "support:5" },
	{ NULL }
};

static const struct cfg_section agent_sections[] = {
	{ "agent", "A person who works the queues.", agent_keys },
	{ NULL }
};

const struct cfg_kind config_kind_agent = {
	"agent", "agents/ID.conf - one agent", agent_sections
};

const struct cfg_kind *
config_kind(const char *name)
{
	static const struct cfg_kind *kinds[] = {
		&config_kind_postroom, &config_kind_account, &config_kind_group, &config_kind_agent,
	};

	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

static void
account_free(gpointer p)
{
	struct config_account *a = p;

	g_free(a->id);
	g_free(a->file);
	g_free(a->protocol);
	g_free(a->host);
	g_free(a->tls_ca_file);
	g_free(a->user);
	g_free(a->password_file);
	g_free(a->folder);
	g_free(a->group);
	g_free(a->reply_address);
	g_free(a->reply_name);
	g_free(a->smtp_host);
	g_free(a->smtp_user);
	g_free(a->smtp_password_file);
	g_free(a->password_command);
	g_free(a->oauth2_token_command);
	g_free(a->after_fetch_folder);
	g_free(a);
}

static void
group_free(gpointer p)
{
	struct config_group *g = p;

	g_free(g->id);
	g_free(g->file);
	g_free(g->name);
	g_strfreev(g->dispositions);
	g_free(g);
}

static void
member_free(gpointer p)
{
	struct config_member *m = p;

	g_free(m->group);
	g_free(m);
}

static void
agent_free(gpointer p)
{
	struct config_agent *a = p;

	g_free(a->id);
	g_free(a->file);
	g_free(a->name);
	g_free(a->password_hash);
	g_ptr_array_unref(a->groups);
	g_free(a);
}

void
config_free(struct config *c)
{
	if (!c)
		return;
	g_free(c->dir);
	g_free(c->state_dir);
	g_free(c->run_dir);
	g_strfreev(c->parsed_endpoints);
	g_free(c->routed_endpoint);
	g_free(c->acks_endpoint);
	g_free(c->control_endpoint);
	g_free(c->events_endpoint);
	g_free(c->agentd_listen);
	g_free(c->agentd_www);
	g_ptr_array_unref(c->accounts);
	g_ptr_array_unref(c->groups);
	g_ptr_array_unref(c->agents);
	g_free(c);
}

static enum tls_mode
tls_mode(const char *s)
{
	if (strcmp(s, "implicit") == 0)
		return TLS_IMPLICIT;
	if (strcmp(s, "starttls") == 0)
		return TLS_STARTTLS;
	return TLS_NONE;
}

static char *
expand(const char *v, const struct config *c)
{
	GString *s = g_string_new(v);

	g_string_replace(s, "${run_dir}", c->run_dir, 0);
	g_string_replace(s, "${state_dir}", c->state_dir, 0);
	return g_string_free(s, FALSE);
}

/* valid_id - a file name postroom can use as an id in keys, logs and paths */
static gboolean
valid_id(const char *id)
{
	if (!g_ascii_isalnum(*id))
		return FALSE;
	for (const char *p = id; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("_.-", *p))
			return FALSE;
	return strlen(id) <= 64;
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir - the *.conf files of DIR/sub, sorted; a missing folder is empty */
static GPtrArray *
list_dir(const char *dir, const char *sub, GError **err)
{
	g_autofree char *path = g_build_filename(dir, sub, NULL);
	g_autoptr(GError) e = NULL;
	g_autoptr(GDir) d = g_dir_open(path, 0, &e);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	if (!d) {
		if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(err, CFG_ERROR, 0, "%s: %s", path, e->message);
			g_ptr_array_unref(names);
			return NULL;
		}
		return names;
	}
	while ((n = g_dir_read_name(d)) != NULL)
		if (g_str_has_suffix(n, ".conf") && n[0] != '.')
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, by_name);
	return names;
}

typedef gboolean (*load_one_fn)(struct config *c, struct cfg_file *f, const char *id,
    GError **err);

static gboolean
load_kind(struct config *c, const char *sub, const struct cfg_kind *kind, load_one_fn fn,
    GError **err)
{
	g_autoptr(GPtrArray) names = list_dir(c->dir, sub, err);

	if (!names)
		return FALSE;
	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autofree char *id = g_strndup(name, strlen(name) - strlen(".conf"));
		g_autofree char *path = g_build_filename(c->dir, sub, name, NULL);
		g_autoptr(cfg_file) f = NULL;

		if (!valid_id(id)) {
			g_set_error(err, CFG_ERROR, 0,
			    "%s: bad file name: use letters, digits, '.', '_' and '-' (64 at most)", path);
			return FALSE;
		}
		f = cfg_file_load(path, kind, c->dir, err);
		if (!f || !fn(c, f, id, err))
			return FALSE;
	}
	return TRUE;
}

/* auth_mode - the auth key's word as its enum */
static enum account_auth
auth_mode(const char *s)
{
	static const char *const words[] = {
		[AUTH_BEST] = "best", [AUTH_PASS] = "pass", [AUTH_APOP] = "apop",
		[AUTH_CRAM_MD5] = "cram-md5", [AUTH_PLAIN] = "plain", [AUTH_LOGIN] = "login",
		[AUTH_XOAUTH2] = "xoauth2",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
		if (strcmp(s, words[i]) == 0)
			return (enum account_auth)i;
	return AUTH_BEST;
}

/* load_reach - the keys about reaching the mailbox: the secret, the login
 * method, after_fetch, backfill; what they allow together */
static gboolean
load_reach(struct config_account *a, struct cfg_file *f, GError **err)
{
	const char *S = "account";
	const char *after = cfg_str(f, S, "after_fetch");
	gboolean pop3 = a->proto == PROTOCOL_POP3;
	int secrets;

	a->password_command = g_strdup(cfg_str(f, S, "password_command"));
	a->oauth2_token_command = g_strdup(cfg_str(f, S, "oauth2_token_command"));
	a->auth = auth_mode(cfg_str(f, S, "auth"));
	a->tls_verify = cfg_bool(f, S, "tls_verify");
	a->allow_plaintext = cfg_bool(f, S, "allow_plaintext");
	a->backfill_days = cfg_int(f, S, "backfill_days");
	a->idle = cfg_bool(f, S, "idle");
	a->after_fetch_folder = g_strdup("");

	secrets = (*a->password_file != '\0') + (*a->password_command != '\0')
	    + (*a->oauth2_token_command != '\0');
	if (secrets != 1) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] password_file: %s", a->file, secrets ?
		    "set exactly one of password_file, password_command and oauth2_token_command" :
		    "missing (or password_command, or oauth2_token_command)");
		return FALSE;
	}
	if (*a->oauth2_token_command && a->auth != AUTH_BEST && a->auth != AUTH_XOAUTH2) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] auth: %s cannot use the token of "
		    "oauth2_token_command: use auth = xoauth2 (or best)", a->file, cfg_str(f, S, "auth"));
		return FALSE;
	}
	if (a->auth == AUTH_XOAUTH2 && !*a->oauth2_token_command) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] auth: xoauth2 needs oauth2_token_command",
		    a->file);
		return FALSE;
	}
	if (a->auth == AUTH_APOP && !pop3) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] auth: apop is POP3's; this account is %s",
		    a->file, a->protocol);
		return FALSE;
	}
	if (strcmp(after, "keep") == 0) {
		a->after_fetch = AFTER_FETCH_KEEP;
	} else if (strcmp(after, "delete") == 0) {
		a->after_fetch = AFTER_FETCH_DELETE;
	} else if (strcmp(after, "seen") == 0 && !pop3) {
		a->after_fetch = AFTER_FETCH_SEEN;
	} else if (g_str_has_prefix(after, "move:") && !pop3) {
		const char *to = after + strlen("move:");

		while (*to == ' ' || *to == '\t')
			to++;
		if (!*to || strcmp(to, a->folder) == 0 || strpbrk(to, "\r\n")
		    || !g_utf8_validate(to, -1, NULL)) {
			g_set_error(err, CFG_ERROR, 0, "%s: [account] after_fetch: \"%s\": name another "
			    "folder than %s, e.g. move:Processed", a->file, after, a->folder);
			return FALSE;
		}
		a->after_fetch = AFTER_FETCH_MOVE;
		g_free(a->after_fetch_folder);
		a->after_fetch_folder = g_strdup(to);
	} else {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] after_fetch: \"%s\" is not one of %s", a->file,
		    after, pop3 ? "keep, delete (POP3)" : "keep, seen, move:FOLDER, delete");
		return FALSE;
	}
	if (pop3 && a->backfill_days) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] backfill_days: IMAP only (a POP3 server "
		    "gives no dates without fetching)", a->file);
		return FALSE;
	}
	return TRUE;
}

static gboolean
load_account(struct config *c, struct cfg_file *f, const char *id, GError **err)
{
	struct config_account *a = g_new0(struct config_account, 1);
	const char *S = "account";

	g_ptr_array_add(c->accounts, a);
	a->id = g_strdup(id);
	a->file = g_strdup(cfg_path(f));
	a->protocol = g_strdup(cfg_str(f, S, "protocol"));
	a->proto = strcmp(a->protocol, "pop3") == 0 ? PROTOCOL_POP3 : PROTOCOL_IMAP;
	a->host = g_strdup(cfg_str(f, S, "host"));
	a->tls = tls_mode(cfg_str(f, S, "tls"));
	a->port = cfg_int(f, S, "port");
	if (a->port == 0 && a->proto == PROTOCOL_POP3)
		a->port = a->tls == TLS_IMPLICIT ? 995 : 110;
	else if (a->port == 0)
		a->port = a->tls == TLS_IMPLICIT ? 993 : 143;
	a->tls_ca_file = g_strdup(cfg_str(f, S, "tls_ca_file"));
	a->user = g_strdup(cfg_str(f, S, "user"));
	a->password_file = g_strdup(cfg_str(f, S, "password_file"));
	a->folder = g_strdup(cfg_str(f, S, "folder"));
	a->check_interval = cfg_int(f, S, "check_interval");
	a->group = g_strdup(cfg_str(f, S, "group"));
	a->reply_address = g_strdup(cfg_str(f, S, "reply_address"));
	a->reply_name = g_strdup(cfg_str(f, S, "reply_name"));
	a->smtp_host = g_strdup(cfg_str(f, S, "smtp_host"));
	a->smtp_tls = tls_mode(cfg_str(f, S, "smtp_tls"));
	a->smtp_port = cfg_int(f, S, "smtp_port");
	if (a->smtp_port == 0)
		a->smtp_port = a->smtp_tls == TLS_IMPLICIT ? 465 : a->smtp_tls == TLS_STARTTLS ? 587 : 25;
	a->smtp_auth = cfg_bool(f, S, "smtp_auth");
	a->smtp_user = g_strdup(*cfg_str(f, S, "smtp_user") ? cfg_str(f, S, "smtp_user") : a->user);
	a->smtp_password_file = g_strdup(*cfg_str(f, S, "smtp_password_file") ?
	    cfg_str(f, S, "smtp_password_file") : a->password_file);
	a->active = cfg_bool(f, S, "active");
	a->max_message_size = cfg_int(f, S, "max_message_size");
	if (!load_reach(a, f, err))
		return FALSE;

	if (!strchr(a->reply_address, '@')) {
		g_set_error(err, CFG_ERROR, 0, "%s: [account] reply_address: \"%s\" is not an email address",
		    a->file, a->reply_address);
		return FALSE;
	}
	return TRUE;
}

static gboolean
load_group(struct config *c, struct cfg_file *f, const char *id, GError **err)
{
	struct config_group *g = g_new0(struct config_group, 1);

	g_ptr_array_add(c->groups, g);
	g->id = g_strdup(id);
	g->file = g_strdup(cfg_path(f));
	g->name = g_strdup(cfg_str(f, "group", "name"));
	g->dispositions = cfg_list(f, "group", "dispositions");
	if (g->dispositions[0] == NULL) {
		g_set_error(err, CFG_ERROR, 0, "%s: [group] dispositions: the list is empty", g->file);
		return FALSE;
	}
	for (char **d = g->dispositions; *d; d++) {
		if (!valid_id(*d) || strchr(*d, '.')) {
			g_set_error(err, CFG_ERROR, 0,
			    "%s: [group] dispositions: \"%s\": use letters, digits, '_' and '-'", g->file, *d);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
load_agent(struct config *c, struct cfg_file *f, const char *id, GError **err)
{
	struct config_agent *a = g_new0(struct config_agent, 1);
	g_auto(GStrv) groups = NULL;

	g_ptr_array_add(c->agents, a);
	a->id = g_strdup(id);
	a->file = g_strdup(cfg_path(f));
	a->name = g_strdup(cfg_str(f, "agent", "name"));
	a->password_hash = g_strdup(cfg_str(f, "agent", "password_hash"));
	a->groups = g_ptr_array_new_with_free_func(member_free);
	if (!g_str_has_prefix(a->password_hash, "$y$") && !g_str_has_prefix(a->password_hash, "$7$")
	    && !g_str_has_prefix(a->password_hash, "$argon2id$")
	    && !g_str_has_prefix(a->password_hash, "$6$")) {
		g_set_error(err, CFG_ERROR, 0,
		    "%s: [agent] password_hash: not a yescrypt, argon2id or sha512crypt hash "
		    "(make one with postroom-passwd)", a->file);
		return FALSE;
	}
	groups = cfg_list(f, "agent", "groups");
	if (groups[0] == NULL) {
		g_set_error(err, CFG_ERROR, 0, "%s: [agent] groups: the list is empty", a->file);
		return FALSE;
	}
	for (char **g = groups; *g; g++) {
		struct config_member *m = g_new0(struct config_member, 1);
		char *colon = strchr(*g, ':');

		g_ptr_array_add(a->groups, m);
		if (colon) {
			char *end;
			long rank;

			errno = 0;
			rank = strtol(colon + 1, &end, 10);
			if (errno || end == colon + 1 || *end || rank < 0 || rank > 99) {
				g_set_error(err, CFG_ERROR, 0,
				    "%s: [agent] groups: \"%s\": the rank must be a number from 0 to 99",
				    a->file, *g);
				return FALSE;
			}
			m->rank = rank;
			m->group = g_strstrip(g_strndup(*g, colon - *g));
		} else {
			m->group = g_strdup(*g);
		}
	}
	return TRUE;
}

/* cross - what no single file can check: the names files give each other */
static gboolean
cross(struct config *c, GError **err)
{
	for (guint i = 0; i < c->accounts->len; i++) {
		struct config_account *a = c->accounts->pdata[i];

		if (!config_group(c, a->group)) {
			g_set_error(err, CFG_ERROR, 0, "%s: [account] group: no group \"%s\" (expected %s/groups/%s.conf)",
			    a->file, a->group, c->dir, a->group);
			return FALSE;
		}
	}
	for (guint i = 0; i < c->agents->len; i++) {
		struct config_agent *a = c->agents->pdata[i];

		for (guint j = 0; j < a->groups->len; j++) {
			struct config_member *m = a->groups->pdata[j];

			if (!config_group(c, m->group)) {
				g_set_error(err, CFG_ERROR, 0, "%s: [agent] groups: no group \"%s\" (expected %s/groups/%s.conf)",
				    a->file, m->group, c->dir, m->group);
				return FALSE;
			}
		}
	}
	return TRUE;
}

struct config *
config_load(const char *dir, GError **err)
{
	g_autoptr(config) c = g_new0(struct config, 1);
	g_autofree char *main_path = g_build_filename(dir, "postroom.conf", NULL);
	g_autoptr(cfg_file) f = NULL;
	g_auto(GStrv) parsed = NULL;
	GPtrArray *eps;

	c->dir = g_strdup(dir);
	c->accounts = g_ptr_array_new_with_free_func(account_free);
	c->groups = g_ptr_array_new_with_free_func(group_free);
	c->agents = g_ptr_array_new_with_free_func(agent_free);

	f = cfg_file_load(main_path, &config_kind_postroom, dir, err);
	if (!f)
		return NULL;
	c->state_dir = g_strdup(cfg_str(f, "postroom", "state_dir"));
	c->run_dir = g_strdup(cfg_str(f, "postroom", "run_dir"));
	parsed = cfg_list(f, "endpoints", "parsed");
	if (!parsed[0]) {
		g_set_error(err, CFG_ERROR, 0, "%s: [endpoints] parsed: the list is empty", main_path);
		return NULL;
	}
	eps = g_ptr_array_new();
	for (char **p = parsed; *p; p++)
		g_ptr_array_add(eps, expand(*p, c));
	g_ptr_array_add(eps, NULL);
	c->parsed_endpoints = (char **)g_ptr_array_free(eps, FALSE);
	c->routed_endpoint = expand(cfg_str(f, "endpoints", "routed"), c);
	c->acks_endpoint = expand(cfg_str(f, "endpoints", "acks"), c);
	c->control_endpoint = expand(cfg_str(f, "endpoints", "control"), c);
	c->events_endpoint = expand(cfg_str(f, "endpoints", "events"), c);
	c->fetch_window = cfg_int(f, "fetchd", "window");
	c->resend_timeout = cfg_int(f, "fetchd", "resend_timeout");
	c->net_timeout = cfg_int(f, "fetchd", "timeout");
	c->agentd_listen = g_strdup(cfg_str(f, "agentd", "listen"));
	c->agentd_www = g_strdup(cfg_str(f, "agentd", "www"));
	c->session_idle = cfg_int(f, "agentd", "session_idle");
	if (!strchr(c->agentd_listen, ':')) {
		g_set_error(err, CFG_ERROR, 0, "%s: [agentd] listen: \"%s\" is not address:port",
		    main_path, c->agentd_listen);
		return NULL;
	}

	if (!load_kind(c, "groups", &config_kind_group, load_group, err)
	    || !load_kind(c, "accounts", &config_kind_account, load_account, err)
	    || !load_kind(c, "agents", &config_kind_agent, load_agent, err)
	    || !cross(c, err))
		return NULL;
	return g_steal_pointer(&c);
}

struct config *
config_load_or_exit(const char *dir)
{
	g_autoptr(GError) err = NULL;
	struct config *c = config_load(dir, &err);

	if (!c)
		log_fatal(EX_CONFIG, "%s", err->message);
	return c;
}

#define FIND(arr, id)                                           \
	for (guint i = 0; i < (arr)->len; i++)                  \
		if (strcmp(*(char **)(arr)->pdata[i], (id)) == 0) \
			return (arr)->pdata[i];                  \
	return NULL

/* each of these structs starts with its id */
G_STATIC_ASSERT(G_STRUCT_OFFSET(struct config_account, id) == 0);
G_STATIC_ASSERT(G_STRUCT_OFFSET(struct config_group, id) == 0);
G_STATIC_ASSERT(G_STRUCT_OFFSET(struct config_agent, id) == 0);

const struct config_account *
config_account(const struct config *c, const char *id)
{
	FIND(c->accounts, id);
}

const struct config_group *
config_group(const struct config *c, const char *id)
{
	FIND(c->groups, id);
}

const struct config_agent *
config_agent(const struct config *c, const char *id)
{
	FIND(c->agents, id);
}

int
config_agent_rank(const struct config_agent *a, const char *group)
{
	for (guint i = 0; i < a->groups->len; i++) {
		const struct config_member *m = a->groups->pdata[i];

		if (strcmp(m->group, group) == 0)
			return m->rank;
	}
	return -1;
}

char *
config_tap_endpoint(const struct config *c, const char *name)
{
	return g_strdup_printf("ipc://%s/tap/%s.sock", c->run_dir, name);
}
