/*
 * postroom-passwd - print the crypt(3) hash of an agent's password, for the
 * password_hash key of etc/agents/ID.conf.  yescrypt, libxcrypt's strongest.
 *
 *	postroom-passwd			asks twice on the terminal
 *	postroom-passwd < file		reads the first line (for scripts)
 *
 * The password never appears on a command line.
 */
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"

static char *
read_line(const char *prompt)
{
	struct termios old, quiet;
	gboolean tty = isatty(STDIN_FILENO);
	char buf[1024];
	char *r;

	if (tty) {
		fputs(prompt, stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	r = fgets(buf, sizeof buf, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputs("\n", stderr);
	}
	if (!r)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return g_strdup(buf);
}

int
main(int argc, char **argv)
{
	g_autofree char *pw = NULL, *again = NULL;
	struct crypt_data data;
	char *salt, *hash;

	log_init("postroom-passwd", NULL);
	if (argc != 1) {
		fprintf(stderr, "usage: postroom-passwd  (reads the password from the terminal or stdin)\n");
		return EX_USAGE;
	}
	pw = read_line("password: ");
	if (!pw || !*pw)
		log_fatal(EX_DATAERR, "no password given");
	if (isatty(STDIN_FILENO)) {
		again = read_line("again: ");
		if (!again || strcmp(pw, again) != 0)
			log_fatal(EX_DATAERR, "the two passwords differ");
	}
	salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (!salt)
		log_fatal(EX_OSERR, "unable to make a salt: %s", g_strerror(errno));
	memset(&data, 0, sizeof data);
	hash = crypt_r(pw, salt, &data);
	free(salt);
	if (!hash || hash[0] == '*')
		log_fatal(EX_OSERR, "unable to hash: %s", g_strerror(errno));
	puts(hash);
	explicit_bzero(pw, strlen(pw));
	return 0;
}
