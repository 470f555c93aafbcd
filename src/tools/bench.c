/*
 * scif bench <name>: a second-level table, so that later benchmarks (bw,
 * micmem) are a file and a line each, like the subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "tool.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} benches[] = {
	{ "lat", skiff_bench_lat, "8-byte round trip: scif_send/scif_recv vs raw shared memory" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: scif bench <name> [<args>]\n\nbenchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-6s %s\n", benches[i].name, benches[i].help);
	fprintf(f, "\n'scif bench <name> --help' describes its options.\n");
}

int skiff_cmd_bench(int argc, char **argv)
{
	static char self[64];

	if (argc < 2) {
		usage(stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return SKIFF_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!strcmp(argv[1], benches[i].name)) {
			snprintf(self, sizeof(self), "scif bench %s", argv[1]);
			argv[1] = self; /* for getopt's messages */
			return benches[i].fn(argc - 1, argv + 1);
		}
	skiff_err("unknown benchmark '%s'", argv[1]);
	usage(stderr);
	return SKIFF_EXIT_USAGE;
}
