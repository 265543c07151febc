/*
 * postroom-config - the configuration's own tool.
 *
 *	postroom-config sample KIND	print the sample file of a kind
 *					(postroom, account, group, agent)
 *	postroom-config check [-c DIR]	load DIR as the daemons do; exit 78
 *					with FILE: [section] key: problem
 *
 * The samples in etc/ are this program's output (make samples).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static void
usage(void)
{
	fprintf(stderr, "usage: postroom-config sample postroom|account|group|agent\n"
	    "       postroom-config check [-c DIR]\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	log_init("postroom-config", NULL);
	if (argc == 3 && strcmp(argv[1], "sample") == 0) {
		const struct cfg_kind *k = config_kind(argv[2]);
		g_autofree char *text = NULL;

		if (!k)
			usage();
		text = cfg_sample(k);
		fputs(text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		const char *dir = CONFIG_DEFAULT_DIR;
		g_autoptr(config) c = NULL;

		if (argc == 4 && strcmp(argv[2], "-c") == 0)
			dir = argv[3];
		else if (argc != 2)
			usage();
		c = config_load_or_exit(dir);
		printf("%s: ok: %u accounts, %u groups, %u agents\n", dir, c->accounts->len,
		    c->groups->len, c->agents->len);
		return 0;
	}
	usage();
}
