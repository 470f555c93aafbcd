/* SPDX-License-Identifier: MIT */
/*
 * scif - inspect and exercise a skiff fabric.
 *
 * Subcommands live in a table, one file each (the wireguard-tools layout),
 * so adding one is a new file and a line here.
 */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "tool.h"

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} subcommands[] = {
	{ "info", skiff_cmd_info, "show online nodes, ports and connections of a fabric" },
	{ "ping", skiff_cmd_ping, "echo server (--listen), or round trips to NODE:PORT" },
	{ "bench", skiff_cmd_bench, "benchmarks (scif bench help lists them)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: scif <command> [<args>]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-7s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(f, "  %-7s %s\n", "help", "show this list");
	fprintf(f, "  %-7s %s\n", "version", "show the version (also --version)");
	fprintf(f, "\n'scif <command> --help' describes a command; with no command,"
		   " scif runs 'scif info'.\nThe fabric is SCIF_FABRIC, or '"
		   SKIFF_FABRIC_DEFAULT "' when unset.\n");
}

int main(int argc, char **argv)
{
	static char *info_argv[] = { "scif info", NULL };
	static char self[64];

	if (argc < 2) /* like wg(8): no command shows the state */
		return skiff_cmd_info(1, info_argv);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return SKIFF_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("scif (skiff) %s\n", SKIFF_VERSION);
		return SKIFF_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name)) {
			/* getopt names argv[0] in its messages: "scif ping",
			 * not "ping", which is another program */
			snprintf(self, sizeof(self), "scif %s", argv[1]);
			argv[1] = self;
			return subcommands[i].fn(argc - 1, argv + 1);
		}
	skiff_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return SKIFF_EXIT_USAGE;
}
