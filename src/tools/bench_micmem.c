/* SPDX-License-Identifier: MIT */
/*
 * scif bench micmem: micmem_host2dev and micmem_dev2host with SINGLE, DUAL
 * and AUTO against memcpy() of the same bytes between the same buffers (the
 * host range and the card's memory mapped with micmem_devmap), 4 KiB to
 * 256 MiB in x4 steps, all in one run. The methods alternate in rounds so
 * that a slow spell of the machine hits them alike; each figure is the
 * median of the rounds.
 *
 * It uses the fabric's scifd if one runs (board 0 must exist), and
 * otherwise starts a private one (--cards 1 in a fabric of its own) and
 * stops it at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <micmem.h>

#include "bench_pair.h"
#include "knob.h"
#include "nodeq.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define MiB (1024ull * 1024)
#define GOAL_MEMCPY 0.9  /* AUTO >= 0.9x memcpy from GOAL_FROM */
#define GOAL_FROM   MiB
#define GOAL_AUTO   0.95 /* AUTO >= 0.95x the better of SINGLE and DUAL */
#define MAX_ROUNDS  101

static const char *const micmem_usage =
	"usage: scif bench micmem [-m MAX] [-r ROUNDS] [-t MS] [--fabric NAME]\n"
	"                         [--json]\n"
	"\n"
	"Copy between a 2 MiB-aligned THP host range and card 0's memory with\n"
	"micmem_host2dev / micmem_dev2host (SINGLE, DUAL, AUTO) and with\n"
	"memcpy() between the same buffers (the card memory mapped with\n"
	"micmem_devmap), 4 KiB to MAX in x4 steps. Prints GB/s (median of the\n"
	"rounds), ratios to memcpy, AUTO against the better of SINGLE and DUAL,\n"
	"and the goals (AUTO >= 0.9x memcpy from 1 MiB; AUTO >= 0.95x best).\n"
	"\n"
	"  -m, --max SIZE    largest size in bytes (K/M suffix; default 256M)\n"
	"  -r, --rounds R    rounds of all methods, alternating (default 5)\n"
	"  -t, --time MS     target milliseconds per measurement (default 20)\n"
	"      --fabric NAME fabric; without a scifd there, a private one is\n"
	"                    started for the run\n"
	"      --json        print a JSON object instead of the tables\n";

enum { M_MEMCPY, M_SINGLE, M_DUAL, M_AUTO, NMETH };
/* What AUTO does in this run, from MICMEM_DUAL_MIN as libmicmem reads it
 * (the same parser): the value used, not the raw string. */
static void auto_describe(char *buf, size_t n)
{
	const char *s = getenv("MICMEM_DUAL_MIN");
	uint64_t v = 256 * 1024;
	char sz[32];

	if (s && !strcmp(s, "adaptive")) {
		snprintf(buf, n, "the cheaper of SINGLE and DUAL as measured on "
			 "its own transfers (MICMEM_DUAL_MIN=adaptive)");
		return;
	}
	if (s && *s && skiff_parse_u64(s, 0, UINT64_MAX, SKIFF_KNOB_SIZE, &v) < 0)
		v = 256 * 1024; /* libmicmem warns and keeps its default */
	snprintf(buf, n, "SINGLE below %s, DUAL from there%s",
		 skiff_size_str(v ? v : 1, sz),
		 s && *s ? " (MICMEM_DUAL_MIN)" : "");
}

static const char *const meth_name[NMETH] = { "memcpy", "SINGLE", "DUAL", "AUTO" };

struct ctx {
	int h;
	char *host;   /* mapped range, THP */
	char *dev;    /* the card memory through micmem_devmap, for memcpy */
	int dir;      /* 0: host2dev, 1: dev2host */
};

static int once(const struct ctx *c, int m, uint64_t size)
{
	if (m == M_MEMCPY) {
		if (c->dir == 0)
			memcpy(c->dev, c->host, size);
		else
			memcpy(c->host, c->dev, size);
		return 0;
	}
	int fl = m == M_SINGLE ? MICMEM_SINGLE :
		 m == M_DUAL ? MICMEM_DUAL : MICMEM_AUTO;
	return c->dir == 0 ? micmem_host2dev(c->h, c->host, 0, 0, size, fl)
			   : micmem_dev2host(c->h, c->host, 0, 0, size, fl);
}

/* GB/s of @iters copies of @size, or -1. */
static double measure(const struct ctx *c, int m, uint64_t size,
		      unsigned long iters)
{
	uint64_t t0 = skiff_now_ns(), t;

	for (unsigned long i = 0; i < iters; i++)
		if (once(c, m, size) < 0)
			return -1;
	t = skiff_now_ns() - t0;
	return t ? (double)size * (double)iters / (double)t : 0;
}

/* Start a private scifd (next to this program, or on PATH); its pid. */
static pid_t start_daemon(const char *fabric, uint64_t card_mem)
{
	char self[PATH_MAX], path[PATH_MAX + 32], mem[32], rfd[16];
	const char *cands[3];
	int p[2], n = 0;
	ssize_t k;
	pid_t pid;
	char b;

	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k > 0) {
		char *slash;

		self[k] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
	} else {
		strcpy(self, ".");
	}
	snprintf(mem, sizeof(mem), "%lluK", (unsigned long long)(card_mem >> 10));
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int w = dup(p[1]); /* inherited by exec */

		snprintf(rfd, sizeof(rfd), "%d", w);
		cands[n++] = "../daemon/scifd"; /* the build tree */
		cands[n++] = "scifd";           /* an install prefix: both in bin */
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", self, cands[i]);
			execl(path, "scifd", "--cards", "1", "--card-mem", mem,
			      "--fabric", fabric, "--ready-fd", rfd, (char *)NULL);
		}
		execlp("scifd", "scifd", "--cards", "1", "--card-mem", mem,
		       "--fabric", fabric, "--ready-fd", rfd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	k = read(p[0], &b, 1);
	close(p[0]);
	if (k != 1) {
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

int skiff_bench_micmem(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char fabric[SKIFF_FABRIC_MAX + 1], priv[64];
	const char *fab = NULL;
	uint64_t max = 256 * MiB, devsize = 0;
	unsigned long long v;
	unsigned rounds = 5, ms = 20, nsizes = 0, misses = 0;
	struct skiff_node_info info;
	struct ctx c = { .h = -1 };
	pid_t daemon = 0;
	int ret = SKIFF_EXIT_FAIL, opt, json = 0;
	uint64_t sizes[32];
	char auto_desc[128], *jrows = NULL;
	size_t jlen = 0;
	FILE *jf = NULL;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:r:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (skiff_parse_size(optarg, &max) < 0 || max < 4096)
				goto bad_arg;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, MAX_ROUNDS, &v) < 0)
				goto bad_arg;
			rounds = (unsigned)v;
			break;
		case 't':
			if (skiff_parse_ull(optarg, 1, 10000, &v) < 0)
				goto bad_arg;
			ms = (unsigned)v;
			break;
		case 'f':
			fab = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(micmem_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(micmem_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fputs(micmem_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	for (uint64_t s = 4096; s <= max && nsizes < 32; s *= 4)
		sizes[nsizes++] = s;
	max = sizes[nsizes - 1];

	if (skiff_query_nodes(fabric, &info) < 0) {
		/* no daemon: a private fabric with one card of our own */
		snprintf(priv, sizeof(priv), "bench-micmem-%d", (int)getpid());
		if (skiff_tool_fabric(priv, fabric) < 0)
			return SKIFF_EXIT_FAIL;
		/* the host range (and the card mapping) is max rounded up to
		 * 2 MiB: the card must hold that much */
		daemon = start_daemon(fabric, (max + 2 * MiB - 1) & ~(2 * MiB - 1));
		if (daemon <= 0) {
			skiff_err("bench micmem: could not start scifd (is it "
				  "built, next to scif or on PATH?)");
			return SKIFF_EXIT_FAIL;
		}
		if (!json)
			printf("started a private scifd (pid %d, fabric %s, "
			       "one card of %llu MiB)\n", (int)daemon, fabric,
			       (unsigned long long)(max >> 20));
	}

	c.h = micmem_open();
	if (c.h < 0 || micmem_opendev(c.h, 0) < 0 ||
	    micmem_devsize(c.h, &devsize) < 0) {
		skiff_err("bench micmem: board 0: %s", strerror(errno));
		goto out;
	}
	if (devsize < max) {
		while (nsizes > 1 && sizes[nsizes - 1] > devsize)
			nsizes--;
		max = sizes[nsizes - 1];
		if (!json)
			printf("card memory is %llu bytes: sizes up to %llu\n",
			       (unsigned long long)devsize,
			       (unsigned long long)max);
	}
	{
		uint64_t hs = (max + 2 * MiB - 1) & ~(2 * MiB - 1);
		void *p = NULL;

		if (posix_memalign(&p, 2 * MiB, hs)) {
			skiff_err("bench micmem: out of memory");
			goto out;
		}
		c.host = p;
		madvise(c.host, hs, MADV_HUGEPAGE);
		memset(c.host, 0x5a, hs);
		if (micmem_maprange(c.h, c.host, hs) < 0) {
			skiff_err("bench micmem: maprange: %s", strerror(errno));
			goto out;
		}
		c.dev = micmem_devmap(0, 0, hs, PROT_READ | PROT_WRITE);
		if (c.dev == MICMEM_MAP_FAILED) {
			c.dev = NULL;
			skiff_err("bench micmem: devmap: %s", strerror(errno));
			goto out;
		}
		memset(c.dev, 0, hs); /* fault the card memory in */
		{
			struct micmem_range_info ri;

			if (!json && micmem_rangeinfo(c.h, c.host, &ri) == 0)
				printf("host range: %llu MiB, %llu segments "
				       "(%llu of 2 MiB, %llu of 4 KiB), %s\n",
				       (unsigned long long)(hs >> 20),
				       (unsigned long long)ri.segments,
				       (unsigned long long)ri.huge_segments,
				       (unsigned long long)ri.small_segments,
				       ri.locked ? "locked" : "not locked");
		}
	}
	auto_describe(auto_desc, sizeof(auto_desc));
	if (!json)
		printf("median GB/s of %u rounds, ~%u ms per measurement; "
		       "AUTO: %s\n\n", rounds, ms, auto_desc);
	jf = open_memstream(&jrows, &jlen);
	if (!jf)
		goto out;

	for (c.dir = 0; c.dir < 2; c.dir++) {
		struct skiff_table t;

		if (!json)
			printf("%s\n", c.dir == 0 ? "micmem_host2dev"
						  : "micmem_dev2host");
		skiff_table_init(&t, 10, 0x3fe);
		skiff_table_cell(&t, "size");
		for (int m = 0; m < NMETH; m++)
			skiff_table_cell(&t, "%s", meth_name[m]);
		skiff_table_cell(&t, "SINGLE/mc");
		skiff_table_cell(&t, "DUAL/mc");
		skiff_table_cell(&t, "AUTO/mc");
		skiff_table_cell(&t, "AUTO/best");
		skiff_table_cell(&t, "goals");
		for (unsigned si = 0; si < nsizes; si++) {
			uint64_t size = sizes[si];
			double r[NMETH][MAX_ROUNDS], med[NMETH];
			unsigned long iters = 1;
			double best, am, ab;
			char goal[64], szs[32];

			if (!json)
				skiff_progress(c.dir == 0 ? "bench micmem "
							    "host2dev"
							  : "bench micmem "
							    "dev2host",
					       si, nsizes,
					       skiff_size_str(size, szs));

			/* warm up every method, and size the measurement */
			for (int m = 0; m < NMETH; m++)
				if (measure(&c, m, size, 1) < 0) {
					skiff_err("bench micmem: %s: %s",
						  meth_name[m], strerror(errno));
					goto out;
				}
			{
				uint64_t t0 = skiff_now_ns(), dt;

				measure(&c, M_SINGLE, size, 4);
				dt = (skiff_now_ns() - t0) / 4 + 1;
				iters = (unsigned long)((uint64_t)ms * 1000000 / dt);
				if (iters < 2)
					iters = 2;
			}
			for (unsigned k = 0; k < rounds; k++)
				for (int m = 0; m < NMETH; m++)
					if ((r[m][k] = measure(&c, m, size,
							       iters)) < 0) {
						skiff_err("bench micmem: %s",
							  strerror(errno));
						goto out;
					}
			for (int m = 0; m < NMETH; m++) {
				qsort(r[m], rounds, sizeof(double), skiff_cmp_double);
				med[m] = skiff_percentile(r[m], rounds, 0.5);
			}
			best = med[M_SINGLE] > med[M_DUAL] ? med[M_SINGLE]
							   : med[M_DUAL];
			am = med[M_AUTO] / med[M_MEMCPY];
			ab = med[M_AUTO] / best;
			if (size >= GOAL_FROM)
				snprintf(goal, sizeof(goal), "%s %s",
					 am >= GOAL_MEMCPY ? "PASS" : "MISS",
					 ab >= GOAL_AUTO ? "PASS" : "MISS");
			else
				snprintf(goal, sizeof(goal), "- %s",
					 ab >= GOAL_AUTO ? "PASS" : "MISS");
			misses += (size >= GOAL_FROM && am < GOAL_MEMCPY) +
				  (ab < GOAL_AUTO);
			if (size >= MiB)
				skiff_table_cell(&t, "%llu MiB",
						 (unsigned long long)(size >> 20));
			else
				skiff_table_cell(&t, "%llu KiB",
						 (unsigned long long)(size >> 10));
			for (int m = 0; m < NMETH; m++)
				skiff_table_cell(&t, "%.1f", med[m]);
			skiff_table_cell(&t, "%.2f", med[M_SINGLE] / med[M_MEMCPY]);
			skiff_table_cell(&t, "%.2f", med[M_DUAL] / med[M_MEMCPY]);
			skiff_table_cell(&t, "%.2f", am);
			skiff_table_cell(&t, "%.2f", ab);
			skiff_table_cell(&t, "%s", goal);
			fprintf(jf, "%s{\"call\":\"%s\",\"size\":%llu,\"gbps\":"
				"{\"memcpy\":%.3f,\"single\":%.3f,\"dual\":%.3f,"
				"\"auto\":%.3f},\"auto_memcpy\":%.3f,"
				"\"auto_best\":%.3f,\"auto_memcpy_pass\":%s,"
				"\"auto_best_pass\":%s}",
				ftell(jf) ? "," : "",
				c.dir == 0 ? "host2dev" : "dev2host",
				(unsigned long long)size, med[M_MEMCPY],
				med[M_SINGLE], med[M_DUAL], med[M_AUTO], am, ab,
				size < GOAL_FROM ? "null"
				: am >= GOAL_MEMCPY ? "true" : "false",
				ab >= GOAL_AUTO ? "true" : "false");
		}
		if (!json) {
			skiff_progress("bench micmem", nsizes, nsizes, "");
			skiff_table_print(&t, stdout, "  ");
			printf("\n");
		}
		skiff_table_free(&t);
	}
	fclose(jf);
	jf = NULL;
	if (json) {
		printf("{\"bench\":\"micmem\",\"rounds\":%u,"
		       "\"ms_per_measurement\":%u,\"auto\":", rounds, ms);
		skiff_json_string(stdout, auto_desc);
		printf(",\"goals\":{\"auto_memcpy_from_1MiB\":%.2f,"
		       "\"auto_best\":%.2f},\"results\":[%s],\"misses\":%u}\n",
		       GOAL_MEMCPY, GOAL_AUTO, jrows ? jrows : "", misses);
	} else {
		printf("goals: AUTO/mc >= %.2f from 1 MiB; AUTO/best >= %.2f "
		       "(best = the better of SINGLE and DUAL); %u miss%s\n",
		       GOAL_MEMCPY, GOAL_AUTO, misses, misses == 1 ? "" : "es");
	}
	/* a benchmark, not a test: a MISS is not a failure */
	ret = SKIFF_EXIT_OK;
out:
	if (jf)
		fclose(jf);
	free(jrows);
	if (c.h >= 0)
		micmem_close(c.h);
	if (c.dev)
		micmem_devunmap(c.dev, (max + 2 * MiB - 1) & ~(2 * MiB - 1));
	free(c.host);
	if (daemon > 0) {
		kill(daemon, SIGTERM);
		waitpid(daemon, NULL, 0);
	}
	return ret;

bad_arg:
	skiff_err("bench micmem: bad value '%s' for -%c", optarg, opt);
	return SKIFF_EXIT_USAGE;
}
