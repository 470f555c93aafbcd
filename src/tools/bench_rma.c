/* SPDX-License-Identifier: MIT */
/*
 * The small RMA benchmarks, each between this process and a forked child
 * and each against its limit measured in the same run:
 *
 *   scif bench mmap-lat  a word's round trip through scif_mmap'd memory vs
 *                        the raw spin round trip on one shared cache line
 *   scif bench rma-lat   8-byte scif_writeto with SCIF_RMA_SYNC, per call,
 *                        with 10 vs 10,000 windows on the endpoint
 *   scif bench register  scif_register of 64 MiB of touched memory vs
 *                        mlock() of the same kind of range; scif_unregister
 *
 * Methods alternate in rounds so that a slow spell of the machine hits them
 * alike (limits.md: only ratios measured together are comparable).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define PAGE 4096ull
#define MiB (1024ull * 1024)
#define MAX_WARMUP 10000

static int parse_common(int argc, char **argv, const char *usage,
			const char *who, unsigned long long *iters,
			unsigned *rounds, unsigned long long *extra,
			unsigned long long extra_max, int *json, int *dopin,
			const char **fab, int *flag)
{
	static const struct option opts[] = {
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "windows", required_argument, NULL, 'w' },
		{ "pages", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "no-thp", no_argument, NULL, 'T' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long long v;
	uint64_t sz;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:r:w:s:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (skiff_parse_ull(optarg, 1, 100000000, iters) < 0)
				goto bad;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, 1000, &v) < 0)
				goto bad;
			*rounds = (unsigned)v;
			break;
		case 'w':
			if (!extra || strcmp(who, "rma-lat") ||
			    skiff_parse_ull(optarg, 11, extra_max, extra) < 0)
				goto bad;
			break;
		case 'p':
			if (!extra || strcmp(who, "mmap-lat") ||
			    skiff_parse_ull(optarg, 1, extra_max, extra) < 0)
				goto bad;
			break;
		case 's':
			if (!extra || strcmp(who, "register") ||
			    skiff_parse_size(optarg, &sz) < 0 || sz > extra_max)
				goto bad;
			*extra = (sz + PAGE - 1) & ~(PAGE - 1);
			break;
		case 'T':
			if (!flag)
				goto bad;
			*flag = 1;
			break;
		case 'P':
			*dopin = 0;
			break;
		case 'j':
			*json = 1;
			break;
		case 'f':
			*fab = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return -1;
	}
	return 0;
bad:
	skiff_err("bench %s: bad option or value%s%s", who,
		  optarg ? " " : "", optarg ? optarg : "");
	fputs(usage, stderr);
	return -1;
}

static void print_cpus(const struct skiff_pair *p)
{
	if (p->cpu[0] >= 0)
		printf("cpus: parent pinned to CPU %d, child to CPU %d "
		       "(sched_setaffinity)\n", p->cpu[0], p->cpu[1]);
	else
		printf("cpus: not pinned%s\n",
		       p->spin_yield ? " (one CPU: spin loops yield)" : "");
}

static void json_cpus(const struct skiff_pair *p)
{
	if (p->cpu[0] >= 0)
		printf("\"cpus\":{\"parent\":%d,\"child\":%d},", p->cpu[0],
		       p->cpu[1]);
	else
		printf("\"cpus\":null,");
}

static void json_stats(const char *method, const struct skiff_stats *st)
{
	printf("{\"method\":\"%s\",\"samples\":%zu,\"median_ns\":%.1f,"
	       "\"p99_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"mean_ns\":%.1f}", method, st->n, st->median, st->p99,
	       st->min, st->max, st->mean);
}

static void row(struct skiff_table *t, const char *name,
		const struct skiff_stats *st)
{
	skiff_table_cell(t, "%s", name);
	skiff_table_cell(t, "%.0f", st->median);
	skiff_table_cell(t, "%.0f", st->p99);
	skiff_table_cell(t, "%.0f", st->min);
	skiff_table_cell(t, "%.0f", st->max);
}

static unsigned long long round_iters(unsigned long long iters,
				      unsigned rounds, unsigned r)
{
	unsigned long long k = iters / rounds;

	return r == rounds - 1 ? iters - k * (rounds - 1) : k;
}

/* ======== mmap-lat ======== */

static const char *const mmap_usage =
	"usage: scif bench mmap-lat [-n ITERS] [-r ROUNDS] [-p PAGES] [--no-pin]\n"
	"                           [--json]\n"
	"\n"
	"Round trip of a word through scif_mmap'd memory: the child registers\n"
	"PAGES pages, this process scif_mmap's them and writes word 0 of a page;\n"
	"the child, spinning on its own registered page, answers in word 1 of the\n"
	"same page (the same cache line), which this process spins on. Against\n"
	"the raw spin round trip on one cache line of a MAP_SHARED|MAP_ANONYMOUS\n"
	"page (scif bench lat's limit) and, for information, the same two-word\n"
	"protocol on that line. Every method cycles through its PAGES pages:\n"
	"the round trip depends on the physical page (about 150 vs 195 ns\n"
	"here), so one page per method would compare placements, not methods.\n"
	"Goal: mmap/raw <= 1.15 (median).\n"
	"\n"
	"  -n, --iters N     measured round trips per method (default 100000)\n"
	"  -r, --rounds R    alternate the methods in R rounds (default 10)\n"
	"  -p, --pages P     pages per method (default 16)\n"
	"      --no-pin      leave CPU placement to the scheduler\n"
	"      --json        print a JSON object instead of the table\n"
	"      --fabric NAME fabric (default: SCIF_FABRIC)\n";

#define MMAP_GOAL 1.15

/*
 * One ping-pong: the parent stores 2s+1 into @ping and waits for 2s+2 in
 * @pong; the child waits for 2s+1 in its @ping and stores 2s+2 into its
 * @pong. The raw method passes one word for both, the others word 0 and
 * word 1 of one line. One counter serves every method and page: values
 * only grow, so a stale word never looks like the awaited one. The clock
 * is read right after the store, while the answer is in flight
 * (bench_lat.c: a read after the wait costs more than the read itself);
 * consecutive reads are one round trip apart.
 */
static int pp_parent(struct skiff_pair *p, uint64_t *ping,
		     const uint64_t *pong, uint64_t *seq, unsigned long long n,
		     double *out)
{
	uint64_t prev = 0;

	for (unsigned long long i = 0; i < n; i++) {
		uint64_t want = 2 * *seq + 2;

		__atomic_store_n(ping, want - 1, __ATOMIC_RELEASE);
		if (out) {
			uint64_t t = skiff_now_ns();

			if (i)
				*out++ = (double)(t - prev);
			prev = t;
		}
		while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != want) {
			if (!skiff_pair_alive(p))
				return -1;
			skiff_pair_relax(p);
		}
		++*seq;
	}
	if (out && n)
		*out = (double)(skiff_now_ns() - prev);
	return 0;
}

static int pp_child(struct skiff_pair *p, const uint64_t *ping,
		    uint64_t *pong, uint64_t *seq, unsigned long long n)
{
	for (unsigned long long i = 0; i < n; i++) {
		uint64_t want = 2 * *seq + 1;

		while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) != want) {
			if (!skiff_pair_alive(p))
				return -1;
			skiff_pair_relax(p);
		}
		__atomic_store_n(pong, want + 1, __ATOMIC_RELEASE);
		++*seq;
	}
	return 0;
}

enum { ML_MAP, ML_RAW, ML_RAW2, ML_N };

struct mlat {
	struct skiff_pair p;
	unsigned char *raw;  /* shared anonymous pages, mapped before fork */
	unsigned char *map;  /* parent: scif_mmap'd; child: its window */
	unsigned npages;
	uint64_t seq;
};

/* @n round trips of method @k, spread over the pages; samples to @out
 * (parent, NULL: warm-up). */
static int ml_run(struct mlat *s, int k, unsigned long long n, double *out)
{
	for (unsigned pg = 0; pg < s->npages; pg++) {
		unsigned long long c = n / s->npages + (pg < n % s->npages);
		unsigned char *base = (k == ML_MAP ? s->map : s->raw) + pg * PAGE;
		uint64_t *w0 = (uint64_t *)base;
		uint64_t *w1 = k == ML_RAW ? w0 : w0 + 1;
		int r;

		if (!c)
			continue;
		if (s->p.is_child)
			r = pp_child(&s->p, w0, w1, &s->seq, c);
		else
			r = pp_parent(&s->p, w0, w1, &s->seq, c, out);
		if (r < 0)
			return -1;
		if (out)
			out += c;
	}
	return 0;
}

/* Warm-up and the rounds, the same schedule on both sides. */
static int ml_schedule(struct mlat *s, unsigned long long warm,
		       unsigned long long iters, unsigned rounds, double **out)
{
	double *o[ML_N];

	for (int k = 0; k < ML_N; k++) {
		o[k] = out ? out[k] : NULL;
		if (ml_run(s, k, warm, NULL) < 0)
			return -1;
	}
	for (unsigned r = 0; r < rounds; r++) {
		unsigned long long n = round_iters(iters, rounds, r);

		for (int k = 0; k < ML_N; k++) {
			if (ml_run(s, k, n, o[k]) < 0)
				return -1;
			if (o[k])
				o[k] += n;
		}
	}
	return 0;
}

int skiff_bench_mmap_lat(int argc, char **argv)
{
	unsigned long long iters = 100000, warm, npages = 16;
	unsigned rounds = 10;
	int json = 0, dopin = 1, r, ret = SKIFF_EXIT_FAIL;
	const char *fab = NULL;
	char fabric[SKIFF_FABRIC_MAX + 1];
	struct mlat s = { 0 };
	struct skiff_stats st[ML_N];
	double *smp[ML_N] = { NULL }, ovh, rmed, rp99;
	size_t len;
	off_t off;

	r = parse_common(argc, argv, mmap_usage, "mmap-lat", &iters, &rounds,
			 &npages, 4096, &json, &dopin, &fab, NULL);
	if (r)
		return r > 0 ? SKIFF_EXIT_OK : SKIFF_EXIT_USAGE;
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	if (rounds > iters)
		rounds = (unsigned)iters;
	warm = iters / 10 < MAX_WARMUP ? iters / 10 : MAX_WARMUP;
	s.npages = (unsigned)npages;
	len = npages * PAGE;
	s.raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s.raw == MAP_FAILED) {
		skiff_err("bench mmap-lat: mmap: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	memset(s.raw, 0, len);
	ovh = skiff_timer_overhead_ns();
	if (skiff_pair_start(&s.p, "bench mmap-lat", 1, dopin, 1) < 0) {
		munmap(s.raw, len);
		return SKIFF_EXIT_FAIL;
	}

	if (s.p.is_child) {
		s.map = skiff_touched(len, 0);
		if (!s.map)
			skiff_pair_finish(&s.p, 1);
		off = scif_register(s.p.ep[0], s.map, len, 0,
				    SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
		if (off == SCIF_REGISTER_FAILED) {
			skiff_err("bench mmap-lat: child: scif_register: %s",
				  strerror(errno));
			skiff_pair_finish(&s.p, 1);
		}
		if (skiff_pair_send(s.p.ep[0], &off, sizeof(off)) < 0 ||
		    ml_schedule(&s, warm, iters, rounds, NULL) < 0)
			skiff_pair_finish(&s.p, 1);
		skiff_pair_finish(&s.p, 0);
	}

	for (int k = 0; k < ML_N; k++)
		smp[k] = skiff_xrealloc(NULL, iters * sizeof(double));
	if (skiff_pair_recv(s.p.ep[0], &off, sizeof(off)) < 0) {
		skiff_err("bench mmap-lat: no offset from the child: %s",
			  strerror(errno));
		goto out;
	}
	s.map = scif_mmap(NULL, len, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			  s.p.ep[0], off);
	if (s.map == SCIF_MMAP_FAILED) {
		s.map = NULL;
		skiff_err("bench mmap-lat: scif_mmap: %s", strerror(errno));
		goto out;
	}
	if (ml_schedule(&s, warm, iters, rounds, smp) < 0) {
		skiff_err("bench mmap-lat: the child died");
		goto out;
	}
	if (skiff_pair_finish(&s.p, 0) < 0)
		skiff_err("bench mmap-lat: the child failed");
	for (int k = 0; k < ML_N; k++)
		skiff_stats_compute(smp[k], iters, &st[k]);
	rmed = st[ML_MAP].median / st[ML_RAW].median;
	rp99 = st[ML_MAP].p99 / st[ML_RAW].p99;
	if (json) {
		printf("{\"bench\":\"mmap-lat\",\"iterations\":%llu,\"rounds\":%u,"
		       "\"warmup\":%llu,\"pages\":%u,", iters, rounds, warm,
		       s.npages);
		json_cpus(&s.p);
		printf("\"timer_cost_ns\":%.1f,\"results\":[", ovh);
		json_stats("scif_mmap", &st[ML_MAP]);
		printf(",");
		json_stats("raw", &st[ML_RAW]);
		printf(",");
		json_stats("raw_two_words", &st[ML_RAW2]);
		printf("],\"ratio\":{\"median\":%.3f,\"p99\":%.3f},\"goal\":%.2f,"
		       "\"median_pass\":%s,\"ratio_two_words\":{\"median\":%.3f,"
		       "\"p99\":%.3f}}\n", rmed, rp99, MMAP_GOAL,
		       rmed <= MMAP_GOAL ? "true" : "false",
		       st[ML_MAP].median / st[ML_RAW2].median,
		       st[ML_MAP].p99 / st[ML_RAW2].p99);
	} else {
		struct skiff_table t;

		printf("scif bench mmap-lat: word round trip, %llu per method in "
		       "%u alternating rounds (+%llu warm-up), each method over "
		       "%u pages\n", iters, rounds, warm, s.npages);
		print_cpus(&s.p);
		printf("timer: CLOCK_MONOTONIC every round trip, read while the "
		       "answer is in flight (a read costs %.0f ns)\n\n", ovh);
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "method");
		skiff_table_cell(&t, "median ns");
		skiff_table_cell(&t, "p99 ns");
		skiff_table_cell(&t, "min ns");
		skiff_table_cell(&t, "max ns");
		row(&t, "scif_mmap'd pages, words 0/1", &st[ML_MAP]);
		row(&t, "raw spin, one cache line", &st[ML_RAW]);
		row(&t, "raw spin, words 0/1 of one line", &st[ML_RAW2]);
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\nratio mmap/raw: median %.2f (goal <= %.2f: %s), p99 "
		       "%.2f\n", rmed, MMAP_GOAL,
		       rmed <= MMAP_GOAL ? "PASS" : "MISS", rp99);
		printf("ratio mmap/raw words 0/1: median %.2f, p99 %.2f (the same "
		       "protocol on plain shared memory, informational)\n",
		       st[ML_MAP].median / st[ML_RAW2].median,
		       st[ML_MAP].p99 / st[ML_RAW2].p99);
	}
	ret = SKIFF_EXIT_OK;
out:
	if (s.map)
		scif_munmap(s.map, len);
	skiff_pair_abort(&s.p);
	for (int k = 0; k < ML_N; k++)
		free(smp[k]);
	munmap(s.raw, len);
	return ret;
}

/* ======== rma-lat ======== */

static const char *const rlat_usage =
	"usage: scif bench rma-lat [-n ITERS] [-r ROUNDS] [-w WINDOWS] [--no-pin]\n"
	"                          [--json]\n"
	"\n"
	"Time of one 8-byte scif_writeto(SCIF_RMA_SYNC) to a forked child, on an\n"
	"endpoint with 10 one-page windows registered on each side and on one\n"
	"with 10,000 (-w), alternating. Goals: median <= 300 ns with 10\n"
	"windows; 10,000 windows within 1.5x of 10.\n"
	"\n"
	"  -n, --iters N     measured calls per endpoint (default 100000)\n"
	"  -r, --rounds R    alternate the endpoints in R rounds (default 10)\n"
	"  -w, --windows W   windows on the second endpoint (default 10000)\n"
	"      --no-pin      leave CPU placement to the scheduler\n"
	"      --json        print a JSON object instead of the table\n"
	"      --fabric NAME fabric (default: SCIF_FABRIC)\n";

#define RLAT_GOAL_NS 300.0
#define RLAT_GOAL_RATIO 1.5
#define FEW 10
#define WIN_BASE (1ull << 20) /* offsets of the windows: BASE + i pages */
#define BATCH 100

/*
 * Register @n one-page windows of @buf at WIN_BASE + i pages on @ep, in
 * step with the peer doing the same: each registration sends the peer a
 * record (with a descriptor) that its library takes in only when it calls
 * into RMA, and a full control socket blocks the sender. So after each
 * batch both sides meet on @sync and take in the other's records (an
 * scif_unregister where there is no window does that and fails with ENXIO).
 */
static int register_many(scif_epd_t ep, scif_epd_t sync, unsigned char *buf,
			 unsigned long long n)
{
	for (unsigned long long i = 0; i < n; i += BATCH) {
		unsigned long long e = i + BATCH < n ? i + BATCH : n;
		char tok = 1;

		for (unsigned long long k = i; k < e; k++)
			if (scif_register(ep, buf + k * PAGE, PAGE,
					  (off_t)(WIN_BASE + k * PAGE),
					  SCIF_PROT_READ | SCIF_PROT_WRITE,
					  SCIF_MAP_FIXED) == SCIF_REGISTER_FAILED)
				return -1;
		if (skiff_pair_send(sync, &tok, 1) < 0 ||
		    skiff_pair_recv(sync, &tok, 1) < 0)
			return -1;
		scif_unregister(ep, 0, PAGE); /* take in the peer's records */
	}
	return 0;
}

static int wr_calls(scif_epd_t ep, off_t o, unsigned long long n, double *out)
{
	uint64_t prev = skiff_now_ns();

	for (unsigned long long i = 0; i < n; i++) {
		if (scif_writeto(ep, o, 8, o, SCIF_RMA_SYNC) < 0)
			return -1;
		if (out) {
			uint64_t t = skiff_now_ns();

			*out++ = (double)(t - prev);
			prev = t;
		}
	}
	return 0;
}

int skiff_bench_rma_lat(int argc, char **argv)
{
	unsigned long long iters = 100000, nwin = 10000, warm;
	unsigned rounds = 10;
	int json = 0, dopin = 1, r, ret = SKIFF_EXIT_FAIL;
	const char *fab = NULL;
	char fabric[SKIFF_FABRIC_MAX + 1];
	struct skiff_pair p;
	struct skiff_stats st_few, st_many;
	double *few_s = NULL, *many_s = NULL, ovh, rmed, rp99, reg_ms;
	unsigned char *buf;
	off_t o_few, o_many;
	uint64_t t0;

	r = parse_common(argc, argv, rlat_usage, "rma-lat", &iters, &rounds,
			 &nwin, 1000000, &json, &dopin, &fab, NULL);
	if (r)
		return r > 0 ? SKIFF_EXIT_OK : SKIFF_EXIT_USAGE;
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	if (rounds > iters)
		rounds = (unsigned)iters;
	warm = iters / 10 < MAX_WARMUP ? iters / 10 : MAX_WARMUP;
	/* the window in the middle of each table, the same on both sides */
	o_few = (off_t)(WIN_BASE + FEW / 2 * PAGE);
	o_many = (off_t)(WIN_BASE + nwin / 2 * PAGE);
	ovh = skiff_timer_overhead_ns();
	if (skiff_pair_start(&p, "bench rma-lat", 2, dopin, 1) < 0)
		return SKIFF_EXIT_FAIL;

	/* separate pages for every window, on both sides */
	buf = skiff_touched((FEW + nwin) * PAGE, 0x5a);
	if (!buf) {
		skiff_err("bench rma-lat: out of memory");
		if (p.is_child)
			skiff_pair_finish(&p, 1);
		goto out;
	}
	t0 = skiff_now_ns();
	if (register_many(p.ep[0], p.ep[0], buf, FEW) < 0 ||
	    register_many(p.ep[1], p.ep[0], buf + FEW * PAGE, nwin) < 0) {
		skiff_err("bench rma-lat: %s: scif_register: %s",
			  p.is_child ? "child" : "parent", strerror(errno));
		if (p.is_child)
			skiff_pair_finish(&p, 1);
		goto out;
	}
	reg_ms = (double)(skiff_now_ns() - t0) / 1e6;
	if (p.is_child) {
		char c;

		/* the parent does the writing; wait for its end */
		skiff_pair_recv(p.ep[0], &c, 1);
		skiff_pair_finish(&p, 0);
	}

	few_s = skiff_xrealloc(NULL, iters * sizeof(double));
	many_s = skiff_xrealloc(NULL, iters * sizeof(double));
	if (wr_calls(p.ep[0], o_few, warm ? warm : 1, NULL) < 0 ||
	    wr_calls(p.ep[1], o_many, warm ? warm : 1, NULL) < 0) {
		skiff_err("bench rma-lat: scif_writeto: %s", strerror(errno));
		goto out;
	}
	{
		double *fo = few_s, *mo = many_s;

		for (unsigned k = 0; k < rounds; k++) {
			unsigned long long n = round_iters(iters, rounds, k);

			if (wr_calls(p.ep[0], o_few, n, fo) < 0 ||
			    wr_calls(p.ep[1], o_many, n, mo) < 0) {
				skiff_err("bench rma-lat: scif_writeto: %s",
					  strerror(errno));
				goto out;
			}
			fo += n;
			mo += n;
		}
	}
	{
		char c = 0;

		skiff_pair_send(p.ep[0], &c, 1);
	}
	if (skiff_pair_finish(&p, 0) < 0)
		skiff_err("bench rma-lat: the child failed");
	skiff_stats_compute(few_s, iters, &st_few);
	skiff_stats_compute(many_s, iters, &st_many);
	rmed = st_many.median / st_few.median;
	rp99 = st_many.p99 / st_few.p99;
	if (json) {
		printf("{\"bench\":\"rma-lat\",\"bytes\":8,\"flags\":\"SCIF_RMA_SYNC\","
		       "\"iterations\":%llu,\"rounds\":%u,\"warmup\":%llu,"
		       "\"windows\":[%d,%llu],", iters, rounds, warm, FEW, nwin);
		json_cpus(&p);
		printf("\"timer_cost_ns\":%.1f,\"register_ms\":%.1f,"
		       "\"results\":[", ovh, reg_ms);
		json_stats("windows_10", &st_few);
		printf(",");
		json_stats("windows_many", &st_many);
		printf("],\"goal_ns\":%.0f,\"ns_pass\":%s,\"ratio\":{\"median\":%.3f,"
		       "\"p99\":%.3f},\"goal_ratio\":%.2f,\"ratio_pass\":%s}\n",
		       RLAT_GOAL_NS, st_few.median <= RLAT_GOAL_NS ? "true" : "false",
		       rmed, rp99, RLAT_GOAL_RATIO,
		       rmed <= RLAT_GOAL_RATIO ? "true" : "false");
	} else {
		struct skiff_table t;
		char name[64];

		printf("scif bench rma-lat: scif_writeto of 8 bytes with "
		       "SCIF_RMA_SYNC, %llu calls per endpoint in %u alternating "
		       "rounds (+%llu warm-up)\n", iters, rounds, warm);
		print_cpus(&p);
		printf("windows: one page each, registered on both sides (%d + "
		       "%llu per side in %.0f ms, in step with the child); the "
		       "call targets the middle one\n", FEW, nwin, reg_ms);
		printf("timer: CLOCK_MONOTONIC after every call; a sample is "
		       "one call plus one clock read (%.0f ns)\n\n", ovh);
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "windows on the endpoint");
		skiff_table_cell(&t, "median ns");
		skiff_table_cell(&t, "p99 ns");
		skiff_table_cell(&t, "min ns");
		skiff_table_cell(&t, "max ns");
		row(&t, "10", &st_few);
		snprintf(name, sizeof(name), "%llu", nwin);
		row(&t, name, &st_many);
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\n10 windows: median %.0f ns (goal <= %.0f: %s)\n",
		       st_few.median, RLAT_GOAL_NS,
		       st_few.median <= RLAT_GOAL_NS ? "PASS" : "MISS");
		printf("ratio %llu/10 windows: median %.2f (goal <= %.1f: %s), "
		       "p99 %.2f\n", nwin, rmed, RLAT_GOAL_RATIO,
		       rmed <= RLAT_GOAL_RATIO ? "PASS" : "MISS", rp99);
	}
	ret = SKIFF_EXIT_OK;
out:
	skiff_pair_abort(&p);
	free(few_s);
	free(many_s);
	return ret;
}

/* ======== register ======== */

static const char *const reg_usage =
	"usage: scif bench register [-s SIZE] [-n REPS] [--no-thp] [--json]\n"
	"\n"
	"Time of scif_register of SIZE (default 64M) of already-touched memory\n"
	"(a fresh anonymous mapping written all over, each repetition) against\n"
	"mlock() of a fresh, touched range of the same size; also the time of\n"
	"scif_unregister. The endpoint is connected to a forked child, which\n"
	"takes in the window records between repetitions (not timed).\n"
	"\n"
	"  -s, --size SIZE   bytes per registration (K/M/G; default 64M)\n"
	"  -n, --iters N     repetitions of each, alternating (default 10)\n"
	"      --no-thp      madvise(MADV_NOHUGEPAGE) the ranges before the\n"
	"                    memset (4 KiB pages, for both methods)\n"
	"      --json        print a JSON object instead of the table\n"
	"      --fabric NAME fabric (default: SCIF_FABRIC)\n";

static void *fresh(size_t n, int nothp)
{
	void *b = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	if (nothp)
		madvise(b, n, MADV_NOHUGEPAGE);
	memset(b, 0x6b, n);
	return b;
}

static void reg_row(struct skiff_table *t, const char *name,
		    const struct skiff_stats *st, double pages)
{
	skiff_table_cell(t, "%s", name);
	skiff_table_cell(t, "%.2f", st->median / 1e6);
	skiff_table_cell(t, "%.2f", st->min / 1e6);
	skiff_table_cell(t, "%.2f", st->max / 1e6);
	skiff_table_cell(t, "%.3f", st->median / 1e3 / pages);
}

int skiff_bench_register(int argc, char **argv)
{
	unsigned long long reps = 10, size = 64 * MiB;
	unsigned rounds = 1;
	int json = 0, dopin = 1, nothp = 0, r, ret = SKIFF_EXIT_FAIL;
	const char *fab = NULL;
	char fabric[SKIFF_FABRIC_MAX + 1], thp[64] = "?";
	struct skiff_pair p;
	struct skiff_stats st_reg, st_unreg, st_mlock;
	double *reg_s = NULL, *unreg_s = NULL, *mlock_s = NULL, pages;
	FILE *f;

	r = parse_common(argc, argv, reg_usage, "register", &reps, &rounds,
			 &size, 1ull << 34, &json, &dopin, &fab, &nothp);
	if (r)
		return r > 0 ? SKIFF_EXIT_OK : SKIFF_EXIT_USAGE;
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	pages = (double)size / (double)PAGE;
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(thp, sizeof(thp), f))
			strcpy(thp, "?");
		thp[strcspn(thp, "\n")] = '\0';
		fclose(f);
	}
	if (skiff_pair_start(&p, "bench register", 1, dopin, 1) < 0)
		return SKIFF_EXIT_FAIL;
	if (p.is_child) {
		char c;

		/* take in the parent's window records when told to */
		while (skiff_pair_recv(p.ep[0], &c, 1) == 0 && c) {
			scif_unregister(p.ep[0], 0, PAGE);
			if (skiff_pair_send(p.ep[0], &c, 1) < 0)
				break;
		}
		skiff_pair_finish(&p, 0);
	}
	reg_s = skiff_xrealloc(NULL, reps * sizeof(double));
	unreg_s = skiff_xrealloc(NULL, reps * sizeof(double));
	mlock_s = skiff_xrealloc(NULL, reps * sizeof(double));
	for (unsigned long long i = 0; i < reps; i++) {
		uint64_t t0, t1, t2;
		void *b = fresh(size, nothp);
		off_t off;
		char c = 1;

		if (!b)
			goto nomem;
		t0 = skiff_now_ns();
		off = scif_register(p.ep[0], b, size, 0,
				    SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
		t1 = skiff_now_ns();
		if (off == SCIF_REGISTER_FAILED) {
			skiff_err("bench register: scif_register: %s",
				  strerror(errno));
			munmap(b, size);
			goto out;
		}
		if (scif_unregister(p.ep[0], off, size) < 0) {
			skiff_err("bench register: scif_unregister: %s",
				  strerror(errno));
			munmap(b, size);
			goto out;
		}
		t2 = skiff_now_ns();
		munmap(b, size);
		reg_s[i] = (double)(t1 - t0);
		unreg_s[i] = (double)(t2 - t1);
		/* let the child map and drop the window (not timed) */
		if (skiff_pair_send(p.ep[0], &c, 1) < 0 ||
		    skiff_pair_recv(p.ep[0], &c, 1) < 0) {
			skiff_err("bench register: the child died");
			goto out;
		}

		b = fresh(size, nothp);
		if (!b)
			goto nomem;
		t0 = skiff_now_ns();
		if (mlock(b, size) < 0) {
			skiff_err("bench register: mlock: %s (RLIMIT_MEMLOCK?)",
				  strerror(errno));
			munmap(b, size);
			goto out;
		}
		t1 = skiff_now_ns();
		munlock(b, size);
		munmap(b, size);
		mlock_s[i] = (double)(t1 - t0);
	}
	{
		char c = 0;

		skiff_pair_send(p.ep[0], &c, 1);
	}
	if (skiff_pair_finish(&p, 0) < 0)
		skiff_err("bench register: the child failed");
	skiff_stats_compute(reg_s, reps, &st_reg);
	skiff_stats_compute(unreg_s, reps, &st_unreg);
	skiff_stats_compute(mlock_s, reps, &st_mlock);
	if (json) {
		printf("{\"bench\":\"register\",\"bytes\":%llu,\"reps\":%llu,"
		       "\"thp\":", size, reps);
		skiff_json_string(stdout, thp);
		printf(",\"no_thp\":%s,", nothp ? "true" : "false");
		json_cpus(&p);
		printf("\"results\":[");
		json_stats("scif_register", &st_reg);
		printf(",");
		json_stats("scif_unregister", &st_unreg);
		printf(",");
		json_stats("mlock", &st_mlock);
		printf("],\"ratio_register_mlock\":%.3f,"
		       "\"ratio_unregister_mlock\":%.3f}\n",
		       st_reg.median / st_mlock.median,
		       st_unreg.median / st_mlock.median);
	} else {
		struct skiff_table t;
		char sz[32];

		printf("scif bench register: %s of touched anonymous memory "
		       "(fresh each time), %llu repetitions each, alternating\n",
		       skiff_size_str(size, sz), reps);
		print_cpus(&p);
		printf("transparent huge pages: %s%s\n\n", thp,
		       nothp ? "; --no-thp: MADV_NOHUGEPAGE on the ranges" : "");
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "call");
		skiff_table_cell(&t, "median ms");
		skiff_table_cell(&t, "min ms");
		skiff_table_cell(&t, "max ms");
		skiff_table_cell(&t, "us per 4 KiB page");
		reg_row(&t, "scif_register", &st_reg, pages);
		reg_row(&t, "scif_unregister", &st_unreg, pages);
		reg_row(&t, "mlock (the limit)", &st_mlock, pages);
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\nratio scif_register/mlock: %.2f (median); "
		       "scif_unregister/mlock: %.2f\n",
		       st_reg.median / st_mlock.median,
		       st_unreg.median / st_mlock.median);
	}
	ret = SKIFF_EXIT_OK;
	goto out;
nomem:
	skiff_err("bench register: out of memory");
out:
	skiff_pair_abort(&p);
	free(reg_s);
	free(unreg_s);
	free(mlock_s);
	return ret;
}
