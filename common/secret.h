/*
 * secret - how a program gets an account's secret: a file of mode 0600, a
 * command's first line of output (like mbsync's PassCmd), or an OAuth2
 * bearer token printed by a command.  Commands run again each time they are
 * asked, because passwords change and tokens expire.
 *
 * The secret is never logged: errors name the file or the key and the
 * command's exit status, never what the command printed on stdout.
 */
#ifndef POSTROOM_SECRET_H
#define POSTROOM_SECRET_H

#include <glib.h>

#include "config.h"

#define SECRET_COMMAND_TIMEOUT	30	/* seconds a command may take */
#define SECRET_MAX		(64 * 1024)	/* bytes of output read, at most */

enum secret_use {
	SECRET_MAILBOX,		/* IMAP or POP3 */
	SECRET_SMTP,		/* replies: smtp_password_file, else the mailbox's secret */
};

/* secret_command - run command with /bin/sh -c (stdin /dev/null), at most
 * timeout seconds; its first line of output.  A non-zero exit, a signal, a
 * timeout or an empty first line is an error naming key (the config key, for
 * the operator) and the status. */
char *secret_command(const char *key, const char *command, int timeout, GError **err);

/* secret_get - exactly one of file (mode 0600 or stricter) and command
 * (empty strings count as unset) */
char *secret_get(const char *file, const char *command, GError **err);

/* secret_token - the OAuth2 access token a command prints */
char *secret_token(const char *command, GError **err);

/* account_secret - the secret the account logs in with for use: a password,
 * or a bearer token when account_secret_is_token() says so */
char *account_secret(const struct config_account *a, enum secret_use use, GError **err);
gboolean account_secret_is_token(const struct config_account *a, enum secret_use use);

/* secret_free - wipe and free (NULL-safe) */
void secret_free(char *s);

#define SECRET_ERROR (secret_error_quark())
GQuark secret_error_quark(void);

#endif
