/* SPDX-License-Identifier: MIT */
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
	{ "lat", skiff_bench_lat, "8-byte round trip: scif_send/scif_recv vs raw shared memory (--node: vs libfabric)" },
	{ "micmem", skiff_bench_micmem, "micmem host<->card copies: SINGLE, DUAL, AUTO vs memcpy" },
	{ "bw", skiff_bench_bw, "RMA throughput 4 KiB-256 MiB vs memcpy, send/recv, TCP (--node: vs fi_write)" },
	{ "mmap-lat", skiff_bench_mmap_lat, "word round trip through scif_mmap'd memory vs raw spin" },
	{ "rma-lat", skiff_bench_rma_lat, "8-byte scif_writeto(SYNC), 10 vs 10,000 windows" },
	{ "register", skiff_bench_register, "scif_register/unregister of 64 MiB vs mlock" },
	{ "nbstream", skiff_bench_nbstream, "64-byte non-blocking send/poll+recv stream vs a raw ring" },
	{ "stream", skiff_bench_stream, "blocking send/recv stream 64 B-256 MiB vs TCP and process_vm_writev" },
	{ "fabric", skiff_bench_fabric, "raw libfabric between hosts: serve, lat (fi_send), write (fi_write)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: scif bench <name> [<args>]\n\nbenchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-9s %s\n", benches[i].name, benches[i].help);
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
