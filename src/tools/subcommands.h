/* SPDX-License-Identifier: MIT */
/* subcommands.h - entry points of the scif subcommands (main.c's table). */
#ifndef SKIFF_SUBCOMMANDS_H
#define SKIFF_SUBCOMMANDS_H

/* Each takes argv[0] = its own name and returns the process exit status. */
int skiff_cmd_info(int argc, char **argv);
int skiff_cmd_ping(int argc, char **argv);
int skiff_cmd_bench(int argc, char **argv);

/* scif bench <name>: benchmarks, dispatched by bench.c's table. */
int skiff_bench_lat(int argc, char **argv);
int skiff_bench_micmem(int argc, char **argv);
int skiff_bench_bw(int argc, char **argv);
int skiff_bench_mmap_lat(int argc, char **argv);
int skiff_bench_rma_lat(int argc, char **argv);
int skiff_bench_register(int argc, char **argv);
int skiff_bench_nbstream(int argc, char **argv);
int skiff_bench_stream(int argc, char **argv);
int skiff_bench_fabric(int argc, char **argv);

#endif
