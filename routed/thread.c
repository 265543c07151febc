/*
 * thread - one parsed record in: checked, stored once, given a contact and
 * a place in a conversation.
 *
 * Threading is by ids only: a message joins the conversation of a stored
 * message (incoming or an agent's reply) whose Message-ID it names in
 * In-Reply-To or References.  Nothing is guessed from subjects.
 */
#include "routed.h"

#include <string.h>

#include "log.h"

#define KEY_MAX	1024

void
thread_result_clear(struct thread_result *r)
{
	g_free(r->subject);
	memset(r, 0, sizeof *r);
}

gboolean
record_check(json_t *rec, GPtrArray *parts, GError **err)
{
	const char *key = json_string_value(json_object_get(rec, "key"));
	const char *account = json_string_value(json_object_get(rec, "account"));
	json_t *atts = json_object_get(rec, "attachments"), *a;
	size_t i;

	if (!json_is_object(rec)) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST, "the metadata is not an object");
		return FALSE;
	}
	if (!key || !*key || strlen(key) > KEY_MAX) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST, "no usable \"key\"");
		return FALSE;
	}
	if (!account || !*account) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST, "key=%s: no \"account\"", key);
		return FALSE;
	}
	if (atts && !json_is_null(atts)) {
		if (!json_is_array(atts)) {
			g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
			    "key=%s: \"attachments\" is not an array", key);
			return FALSE;
		}
		json_array_foreach(atts, i, a) {
			if (!json_is_object(a)) {
				g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
				    "key=%s: attachments[%zu] is not an object", key, i);
				return FALSE;
			}
		}
	}
	if (!parts || parts->len < 1) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "key=%s: no payload frame with the raw message", key);
		return FALSE;
	}
	if (parts->len < 2) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "key=%s: no payload frame with the text body", key);
		return FALSE;
	}
	if (parts->len != 2) {
		/* parsed.1 carries no attachment bytes (docs/wire.md): a record
		 * with more frames comes from a stage that does not speak it */
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "key=%s: %u payload frames, not 2 (the raw message, the text body)", key,
		    parts->len);
		return FALSE;
	}
	{
		gsize len;
		const char *body = g_bytes_get_data(parts->pdata[1], &len);

		/* g_utf8_validate_len refuses a NUL, which a TEXT column would cut at */
		if (len > 0 && !g_utf8_validate_len(body, len, NULL)) {
			g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
			    "key=%s: the text body is not UTF-8 without NUL", key);
			return FALSE;
		}
	}
	return TRUE;
}

/* stored_form - what store_message_add takes, from a parsed.1 record that
 * passed record_check: the text body (frame 1) as rec's "text_body", and
 * the payload without it: the raw message */
static GPtrArray *
stored_form(json_t *rec, GPtrArray *parts)
{
	GPtrArray *stored = g_ptr_array_new_full(1, (GDestroyNotify)g_bytes_unref);
	gsize len;
	const char *body = g_bytes_get_data(parts->pdata[1], &len);

	/* checked by record_check: jansson need not check it again */
	json_object_set_new(rec, "text_body", json_stringn_nocheck(body ? body : "", len));
	g_ptr_array_add(stored, g_bytes_ref(parts->pdata[0]));
	return stored;
}

gint64
thread_contact(struct store *st, const char *addr, const char *name, GError **err)
{
	g_autofree char *lower = NULL, *now = NULL;
	gint64 id;
	int rc;

	if (!addr)
		return 0;
	lower = g_strstrip(g_utf8_strdown(addr, -1));
	if (*lower == '\0')
		return 0;
	if (name && *name == '\0')
		name = NULL;
	rc = store_int(st, &id, err, "SELECT id FROM contacts WHERE addr = ?", "s", lower);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		/* a name learnt later fills one never known */
		if (name && !store_run(st, err,
		    "UPDATE contacts SET name = ? WHERE id = ? AND (name IS NULL OR name = '')",
		    "si", name, id))
			return -1;
		return id;
	}
	now = store_now(st);
	if (!store_run(st, err, "INSERT INTO contacts (addr, name, created) VALUES (?, ?, ?)", "sss",
	    lower, name, now))
		return -1;
	return sqlite3_last_insert_rowid(st->db);
}

/* by_id - the conversation of the stored message with this Message-ID, this
 * account's first, the newest first; 0 when none */
static gint64
by_id(struct store *st, const char *message_id, const char *account, GError **err)
{
	gint64 conversation = 0;

	if (store_int(st, &conversation, err,
	    "SELECT conversation FROM messages WHERE message_id = ?"
	    " ORDER BY account = ? DESC, id DESC LIMIT 1", "ss", message_id, account) < 0)
		return -1;
	return conversation;
}

/* find - the conversation rec answers: In-Reply-To first, then References
 * from the nearest (last) to the root; 0 when none, -1 with err set */
static gint64
find(struct store *st, json_t *rec, const char *account, GError **err)
{
	const char *irt = json_string_value(json_object_get(rec, "in_reply_to"));
	json_t *refs = json_object_get(rec, "references");
	gint64 c;

	if (irt && *irt && (c = by_id(st, irt, account, err)) != 0)
		return c;
	for (size_t i = json_array_size(refs); i > 0; i--) {
		const char *id = json_string_value(json_array_get(refs, i - 1));

		if (id && *id && (c = by_id(st, id, account, err)) != 0)
			return c;
	}
	return 0;
}

/* join - a follow-up arrives in conversation id: reopen it when closed, tell
 * its agent when held */
static gboolean
join(struct store *st, const struct config *cfg, const struct config_account *acc, gint64 id,
    GPtrArray *events, GError **err)
{
	g_autofree char *now = store_now(st);
	struct conv c = { 0 };
	gboolean ok;
	int rc;

	rc = store_conv_get(st, id, &c, err);
	if (rc <= 0) {
		if (rc == 0)
			g_set_error(err, STORE_ERROR, 0, "conversation %" G_GINT64_FORMAT " vanished", id);
		return FALSE;
	}
	if (strcmp(c.status, "closed") == 0) {
		/* a group since removed from the configuration: the account's now */
		const char *group = config_group(cfg, c.group) ? c.group : acc->group;

		ok = store_run(st, err,
		    "UPDATE conversations SET status = 'queued', \"group\" = ?, agent = NULL,"
		    " disposition = NULL, queued_at = ?, assigned_at = NULL, closed_at = NULL,"
		    " last_message_at = ? WHERE id = ?", "sssi", group, now, now, id);
		if (ok)
			log_info("reopened conversation=%" G_GINT64_FORMAT " group=%s", id, group);
	} else {
		ok = store_run(st, err, "UPDATE conversations SET last_message_at = ? WHERE id = ?",
		    "si", now, id);
		if (ok && strcmp(c.status, "assigned") == 0 && c.agent)
			event_add(events, c.agent, json_pack("{s:s, s:I}", "event", "message",
			    "conversation", (json_int_t)id));
	}
	conv_clear(&c);
	return ok;
}

static gint64
create(struct store *st, const struct config_account *acc, gint64 contact, const char *subject,
    GError **err)
{
	g_autofree char *now = store_now(st);

	if (!store_run(st, err,
	    "INSERT INTO conversations (account, \"group\", contact, subject, status, queued_at,"
	    " last_message_at, created) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)", "ssIssss",
	    acc->id, acc->group, contact, subject, now, now, now))
		return -1;
	return sqlite3_last_insert_rowid(st->db);
}

gboolean
thread_store(struct store *st, const struct config *cfg, json_t *rec, GPtrArray *parts,
    GPtrArray *events, struct thread_result *res, GError **err)
{
	const char *key, *account, *subject;
	const struct config_account *acc;
	gint64 contact, conversation = 0;
	g_autofree char *conv_subject = NULL;
	g_autoptr(GPtrArray) stored = NULL;
	int rc;

	if (!record_check(rec, parts, err))
		return FALSE;
	key = json_string_value(json_object_get(rec, "key"));
	account = json_string_value(json_object_get(rec, "account"));
	subject = json_string_value(json_object_get(rec, "subject"));
	acc = config_account(cfg, account);
	if (!acc) {
		g_set_error(err, ROUTED_ERROR, ROUTED_ERROR_BAD_REQUEST,
		    "key=%s: unknown account %s: it cannot be routed", key, account);
		return FALSE;
	}

	rc = store_int(st, &conversation, err, "SELECT conversation FROM messages WHERE \"key\" = ?",
	    "s", key);
	if (rc < 0)
		return FALSE;
	if (rc > 0) {
		res->duplicate = TRUE;
	} else {
		contact = thread_contact(st, json_string_value(json_object_get(rec, "from_addr")),
		    json_string_value(json_object_get(rec, "from_name")), err);
		if (contact < 0)
			return FALSE;
		conversation = find(st, rec, account, err);
		if (conversation < 0)
			return FALSE;
		if (conversation > 0) {
			if (!join(st, cfg, acc, conversation, events, err))
				return FALSE;
		} else {
			conversation = create(st, acc, contact, subject, err);
			if (conversation < 0)
				return FALSE;
		}
		stored = stored_form(rec, parts);
		res->message = store_message_add(st, rec, key, account, "in", conversation, contact,
		    NULL, stored, err);
		if (res->message < 0)
			return FALSE;
	}
	res->conversation = conversation;
	{
		g_autoptr(store_cursor) s = store_query(st, err,
		    "SELECT subject FROM conversations WHERE id = ?", "i", conversation);

		if (!s || (rc = store_step(st, s, err)) < 0)
			return FALSE;
		if (rc == SQLITE_ROW)
			conv_subject = g_strdup(store_col_str(s, 0));
	}
	g_free(res->subject);
	res->subject = g_steal_pointer(&conv_subject);
	return TRUE;
}
