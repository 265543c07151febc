/*
 * cfg - INI files read against a key table.
 *
 * One table per kind of file says every key: its type, default, range and a
 * one-line comment.  The loader, --check-config and the sample files in etc/
 * all come from that one table (see config.c for the tables themselves).
 */
#ifndef POSTROOM_CFG_H
#define POSTROOM_CFG_H

#include <glib.h>

enum cfg_type {
	CFG_STR,
	CFG_INT,
	CFG_BOOL,
	CFG_ENUM,		/* one of choices, "a|b|c" */
	CFG_LIST,		/* comma-separated */
	CFG_PATH,		/* relative paths are taken from the config directory */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;	/* default as written in a file; NULL: required */
	long min, max;		/* CFG_INT */
	const char *choices;	/* CFG_ENUM */
	const char *comment;	/* one line, for the sample files */
	const char *example;	/* sample value of a required key */
};

struct cfg_section {
	const char *name;
	const char *comment;
	const struct cfg_key *keys;	/* ends with a { NULL } entry */
};

struct cfg_kind {
	const char *name;		/* "postroom", "account", ... */
	const char *comment;		/* the sample file's opening line */
	const struct cfg_section *sections;	/* ends with { NULL } */
};

/* The validated values of one file: every key of every section is present,
 * defaults filled in, strings trimmed. */
struct cfg_file;

struct cfg_file *cfg_file_load(const char *path, const struct cfg_kind *kind,
    const char *dir, GError **err);
void cfg_file_free(struct cfg_file *f);
typedef struct cfg_file cfg_file;	/* for g_autoptr() only */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cfg_file, cfg_file_free)

const char *cfg_path(const struct cfg_file *f);
const char *cfg_str(const struct cfg_file *f, const char *section, const char *key);
long cfg_int(const struct cfg_file *f, const char *section, const char *key);
gboolean cfg_bool(const struct cfg_file *f, const char *section, const char *key);
/* a NULL-terminated vector, owned by the caller */
char **cfg_list(const struct cfg_file *f, const char *section, const char *key);
/* TRUE when the file set the key itself, rather than taking its default */
gboolean cfg_is_set(const struct cfg_file *f, const char *section, const char *key);

/* cfg_sample - the sample file of a kind: every key, its default, a comment */
char *cfg_sample(const struct cfg_kind *kind);

/* The error domain of configuration problems; messages read
 * "FILE: [section] key: problem". */
#define CFG_ERROR (cfg_error_quark())
GQuark cfg_error_quark(void);

#endif
