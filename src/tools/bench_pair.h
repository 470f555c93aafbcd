/* SPDX-License-Identifier: MIT */
/*
 * bench_pair.h - the two-process set-up shared by the RMA benchmarks
 * (bench_bw.c, bench_rma.c): fork a child, pin parent and child to two
 * CPUs, connect them over one or more endpoints on this node, and a few
 * helpers (sizes, spin waits, blocking whole-message send/recv).
 */
#ifndef SKIFF_BENCH_PAIR_H
#define SKIFF_BENCH_PAIR_H

#include <stdint.h>
#include <sys/types.h>

#include <scif.h>

#define SKIFF_PAIR_MAX_EPS 4

struct skiff_pair {
	const char *who;   /* "bench bw": prefix of error messages */
	int is_child;
	pid_t other;       /* the child (in the parent), the parent (in the child) */
	int cpu[2];        /* parent's and child's CPU, -1: not pinned */
	int ncpu;          /* CPUs this process may run on */
	int spin_yield;    /* one CPU: spin loops must yield */
	int nep;
	scif_epd_t ep[SKIFF_PAIR_MAX_EPS];
	unsigned long long spins; /* for skiff_pair_alive */
};

/*
 * Choose the CPUs (the first two this process may run on, unless !dopin)
 * and fork. In the child, pins it, connects @nep endpoints to the parent
 * and returns 1; on failure the child exits. In the parent, accepts them
 * (pinning itself first if @pin_parent) and returns 0, or -1 after saying
 * why (the child is killed). No endpoint exists before the fork.
 */
int skiff_pair_start(struct skiff_pair *p, const char *who, int nep,
		     int dopin, int pin_parent);

/* Pin the calling thread to @cpu (no-op for -1); 0 or -1. */
int skiff_pair_pin(int cpu);

/* Parent: close the endpoints, reap the child; 0 if it exited with 0.
 * Child: close the endpoints and _exit(@status). */
int skiff_pair_finish(struct skiff_pair *p, int status);

/* Parent on failure: kill the child, close everything. */
void skiff_pair_abort(struct skiff_pair *p);

/* Is the other process still there? Cheap: looks every 2^24 calls. */
int skiff_pair_alive(struct skiff_pair *p);

/*
 * Remote mode of a benchmark (scif bench lat|bw --serve / --node): the
 * server listens on @port of this process's node, prints "@who: serving
 * on node N port P" once it listens (scripts wait for that line), and
 * accepts one client within @timeout_s (0: no limit). The client connects
 * to @node:@port. Both return the connected endpoint, or SCIF_OPEN_FAILED
 * after saying why.
 */
scif_epd_t skiff_remote_accept(const char *who, uint16_t port,
			       unsigned timeout_s);
scif_epd_t skiff_remote_connect(const char *who, uint16_t node,
				uint16_t port);

/* Blocking send/receive of exactly @n bytes on @ep; 0 or -1 (errno). */
int skiff_pair_send(scif_epd_t ep, const void *buf, size_t n);
int skiff_pair_recv(scif_epd_t ep, void *buf, size_t n);

/* Spin-loop body: PAUSE, or sched_yield with one CPU. */
void skiff_pair_relax(const struct skiff_pair *p);

/* "4096", "4K", "64M", "1G" (binary units) in [1, 2^40]; 0 or -EINVAL. */
int skiff_parse_size(const char *s, uint64_t *out);

/* A comma-separated list of sizes into @sizes (at most @max), sorted
 * ascending; 0, or -EINVAL for a bad or empty list. */
int skiff_parse_sizes(const char *list, uint64_t *sizes, unsigned max,
		      unsigned *n);

/* "4 KiB", "16 MiB": @buf of at least 32 bytes. */
const char *skiff_size_str(uint64_t n, char *buf);

/* A page-aligned anonymous mapping of @n bytes, written all over (so that
 * no page fault is left in it); NULL on failure. Free with munmap. */
void *skiff_touched(size_t n, int byte);

#endif
