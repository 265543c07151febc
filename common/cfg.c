/*
 * cfg - INI files (GKeyFile) validated against a key table.
 *
 * Every problem is reported as "FILE: [section] key: problem", the file as
 * the operator named it, so that the line in the log says what to edit.
 */
#include "cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(postroom-cfg-error, cfg_error)

struct cfg_file {
	char *path;
	GHashTable *values;	/* "section\nkey" -> value */
	GHashTable *set;	/* "section\nkey" present in the file */
};

static char *
slot(const char *section, const char *key)
{
	return g_strconcat(section, "\n", key, NULL);
}

static const struct cfg_section *
find_section(const struct cfg_kind *kind, const char *name)
{
	for (const struct cfg_section *s = kind->sections; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static const struct cfg_key *
find_key(const struct cfg_section *s, const char *name)
{
	for (const struct cfg_key *k = s->keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static gboolean
parse_bool(const char *v, gboolean *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(v, yes[i]) == 0) {
			*out = TRUE;
			return TRUE;
		}
		if (g_ascii_strcasecmp(v, no[i]) == 0) {
			*out = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean
parse_long(const char *v, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	return errno == 0 && end != v && *end == '\0';
}

static gboolean
in_choices(const char *choices, const char *v)
{
	g_auto(GStrv) c = g_strsplit(choices, "|", -1);

	return g_strv_contains((const char *const *)c, v);
}

/* check - is v a good value for k?  On error, say why in words. */
static gboolean
check(const struct cfg_key *k, const char *v, char **why)
{
	long n;
	gboolean b;

	switch (k->type) {
	case CFG_INT:
		if (!parse_long(v, &n)) {
			*why = g_strdup_printf("\"%s\" is not a whole number", v);
			return FALSE;
		}
		if (n < k->min || n > k->max) {
			*why = g_strdup_printf("%ld is out of range (%ld to %ld)", n, k->min, k->max);
			return FALSE;
		}
		return TRUE;
	case CFG_BOOL:
		if (!parse_bool(v, &b)) {
			*why = g_strdup_printf("\"%s\" is not yes or no", v);
			return FALSE;
		}
		return TRUE;
	case CFG_ENUM:
		if (!in_choices(k->choices, v)) {
			g_autofree char *list = g_strdup(k->choices);

			g_strdelimit(list, "|", ',');
			*why = g_strdup_printf("\"%s\" is not one of %s", v, list);
			return FALSE;
		}
		return TRUE;
	case CFG_STR:
	case CFG_LIST:
	case CFG_PATH:
		return TRUE;
	}
	g_assert_not_reached();
}

static char *
resolve_path(const char *dir, const char *v)
{
	if (*v == '\0' || g_path_is_absolute(v) || dir == NULL)
		return g_strdup(v);
	return g_build_filename(dir, v, NULL);
}

struct cfg_file *
cfg_file_load(const char *path, const struct cfg_kind *kind, const char *dir, GError **err)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) e = NULL;
	g_autoptr(cfg_file) f = g_new0(struct cfg_file, 1);
	g_auto(GStrv) groups = NULL;

	f->path = g_strdup(path);
	f->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	f->set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_set_error(err, CFG_ERROR, 0, "%s: file not found", path);
		else
			g_set_error(err, CFG_ERROR, 0, "%s: %s", path, e->message);
		return NULL;
	}

	groups = g_key_file_get_groups(kf, NULL);
	for (char **g = groups; *g; g++) {
		const struct cfg_section *s = find_section(kind, *g);
		g_auto(GStrv) keys = NULL;

		if (!s) {
			g_set_error(err, CFG_ERROR, 0, "%s: [%s]: unknown section", path, *g);
			return NULL;
		}
		keys = g_key_file_get_keys(kf, *g, NULL, NULL);
		for (char **kn = keys; *kn; kn++) {
			const struct cfg_key *k = find_key(s, *kn);
			g_autofree char *raw = NULL, *v = NULL, *why = NULL;

			if (!k) {
				g_set_error(err, CFG_ERROR, 0, "%s: [%s] %s: unknown key", path, *g, *kn);
				return NULL;
			}
			raw = g_key_file_get_value(kf, *g, *kn, NULL);
			v = g_strstrip(g_strdup(raw ? raw : ""));
			if (*v == '\0' && k->def == NULL) {
				g_set_error(err, CFG_ERROR, 0, "%s: [%s] %s: empty, and a value is required",
				    path, *g, *kn);
				return NULL;
			}
			if (*v != '\0' && !check(k, v, &why)) {
				g_set_error(err, CFG_ERROR, 0, "%s: [%s] %s: %s", path, *g, *kn, why);
				return NULL;
			}
			g_hash_table_add(f->set, slot(*g, *kn));
			g_hash_table_insert(f->values, slot(*g, *kn),
			    k->type == CFG_PATH ? resolve_path(dir, v) : g_steal_pointer(&v));
		}
	}

	/* every key present: the required ones from the file, the rest defaulted */
	for (const struct cfg_section *s = kind->sections; s->name; s++) {
		for (const struct cfg_key *k = s->keys; k->name; k++) {
			g_autofree char *name = slot(s->name, k->name);

			if (g_hash_table_contains(f->values, name))
				continue;
			if (k->def == NULL) {
				g_set_error(err, CFG_ERROR, 0, "%s: [%s] %s: missing, and a value is required",
				    path, s->name, k->name);
				return NULL;
			}
			g_hash_table_insert(f->values, g_steal_pointer(&name),
			    k->type == CFG_PATH ? resolve_path(dir, k->def) : g_strdup(k->def));
		}
	}
	return g_steal_pointer(&f);
}

void
cfg_file_free(struct cfg_file *f)
{
	if (!f)
		return;
	g_free(f->path);
	g_hash_table_destroy(f->values);
	g_hash_table_destroy(f->set);
	g_free(f);
}

const char *
cfg_path(const struct cfg_file *f)
{
	return f->path;
}

const char *
cfg_str(const struct cfg_file *f, const char *section, const char *key)
{
	g_autofree char *name = slot(section, key);
	const char *v = g_hash_table_lookup(f->values, name);

	/* asking for a key that is not in the table is our bug */
	g_assert(v != NULL);
	return v;
}

long
cfg_int(const struct cfg_file *f, const char *section, const char *key)
{
	long n = 0;

	if (!parse_long(cfg_str(f, section, key), &n))
		g_assert_not_reached();
	return n;
}

gboolean
cfg_bool(const struct cfg_file *f, const char *section, const char *key)
{
	gboolean b = FALSE;

	if (!parse_bool(cfg_str(f, section, key), &b))
		g_assert_not_reached();
	return b;
}

char **
cfg_list(const struct cfg_file *f, const char *section, const char *key)
{
	g_auto(GStrv) parts = g_strsplit(cfg_str(f, section, key), ",", -1);
	GPtrArray *out = g_ptr_array_new();

	for (char **p = parts; *p; p++) {
		char *item = g_strstrip(g_strdup(*p));

		if (*item)
			g_ptr_array_add(out, item);
		else
			g_free(item);
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

gboolean
cfg_is_set(const struct cfg_file *f, const char *section, const char *key)
{
	g_autofree char *name = slot(section, key);

	return g_hash_table_contains(f->set, name);
}

static const char *
type_hint(const struct cfg_key *k)
{
	switch (k->type) {
	case CFG_INT:
		return "number";
	case CFG_BOOL:
		return "yes|no";
	case CFG_ENUM:
		return k->choices;
	case CFG_LIST:
		return "list, comma-separated";
	case CFG_PATH:
		return "path, relative to the config directory";
	case CFG_STR:
		return "text";
	}
	return "";
}

char *
cfg_sample(const struct cfg_kind *kind)
{
	GString *out = g_string_new(NULL);

	g_string_append_printf(out, "# %s\n", kind->comment);
	g_string_append(out, "# Every key is listed with its default; a key without a default is required.\n");
	for (const struct cfg_section *s = kind->sections; s->name; s++) {
		g_string_append_printf(out, "\n[%s]\n", s->name);
		if (s->comment)
			g_string_append_printf(out, "# %s\n", s->comment);
		for (const struct cfg_key *k = s->keys; k->name; k++) {
			g_string_append_printf(out, "\n# %s (%s", k->comment, type_hint(k));
			if (k->type == CFG_INT)
				g_string_append_printf(out, ", %ld to %ld", k->min, k->max);
			g_string_append(out, k->def ? ")\n" : "; required)\n");
			const char *v = k->example ? k->example : k->def ? k->def : "";

			/* a default is shown commented out; what must be set is not */
			g_string_append_printf(out, "%s%s =%s%s\n", k->def && !k->example ? "#" : "",
			    k->name, *v ? " " : "", v);
		}
	}
	return g_string_free(out, FALSE);
}
