/* SPDX-License-Identifier: MIT */
/*
 * scif bench lat: the 8-byte round trip through scif_send/scif_recv, against
 * the limit of the machine, a spin ping-pong on one shared cache line, and
 * against the floor of any design with one queue per direction, the same
 * ping-pong with each direction on a cache line of its own; all between the
 * same two processes in one run (limits.md: only ratios measured together
 * are comparable).
 *
 * The methods alternate in rounds so that a slow spell of the machine
 * (core placement changes latency 2-4x for seconds) hits all alike.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_* */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_fab.h"
#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define GOAL_RATIO 2.0
#define DEFAULT_ITERS 100000
#define DEFAULT_ROUNDS 10
#define MAX_WARMUP 10000
#define ACCEPT_TIMEOUT_MS 10000
#define REMOTE_GOAL 1.2 /* scif/raw libfabric, issue 10 */

static const char *const lat_usage =
	"usage: scif bench lat [-n ITERS] [-r ROUNDS] [-b BATCH] [--no-pin] [--json]\n"
	"       scif bench lat --serve PORT [--timeout SEC]\n"
	"       scif bench lat --node N --port PORT [--fabric-peer ADDR[:PORT]]\n"
	"                      [-n ITERS] [-r ROUNDS] [--json]\n"
	"\n"
	"Measure the 8-byte round trip between this process and a forked child:\n"
	"scif_send/scif_recv (blocking) over a loopback connection, a spin\n"
	"ping-pong on one shared cache line (the limit), and the same ping-pong\n"
	"with one cache line per direction (the floor of a design with one queue\n"
	"per direction). Prints median, p99, min and max of each, the ratio\n"
	"scif/raw against the goal (<= 2.0) and, for information, the ratio\n"
	"scif/raw two lines.\n"
	"\n"
	"  -n, --iters N     measured round trips per method (default 100000)\n"
	"  -r, --rounds R    alternate the methods in R rounds (default 10)\n"
	"  -b, --batch B     one timestamp per B round trips (default 1)\n"
	"      --no-pin      leave CPU placement to the scheduler\n"
	"      --json        print a JSON object instead of the table\n"
	"      --fabric NAME fabric (default: SCIF_FABRIC)\n"
	"\n"
	"Remote mode (the server may be on another host of the fabric):\n"
	"      --serve PORT  echo one client's messages on PORT of this node\n"
	"                    (SCIF_NODE); prints 'serving on node N port P'\n"
	"      --timeout SEC --serve waits this long for the client (default\n"
	"                    120; 0: no limit)\n"
	"      --node N, --port PORT\n"
	"                    measure scif_send/scif_recv round trips with that\n"
	"                    server instead of a forked child\n"
	"      --fabric-peer ADDR[:PORT]\n"
	"                    and, alternating in the same run, the 8-byte\n"
	"                    fi_send/fi_recv round trip with a 'scif bench\n"
	"                    fabric serve' there: the limit, goal scif/raw <= 1.2\n";

/* A spin word on a cache line of its own. */
struct spin_line {
	_Alignas(64) uint64_t word;
};

/* Parent writes odd values into line[0], child answers with the next even
 * one into line[lines - 1]: with one line, one word and no other traffic;
 * with two lines, each direction has its line (parent writes A and spins on
 * B, child spins on A and writes B), as a design with one queue per
 * direction must. Values only grow across methods, so a stale word never
 * looks like the awaited one. */
struct shared {
	struct spin_line line[2];
	/* written once by the child at the end, on a line of its own */
	_Alignas(64) long child_sleeps;
};

/* Voluntary context switches so far: how often a blocking call slept
 * (the design's fast path makes no system call at all). */
static long sleeps(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nvcsw : 0;
}

struct plan {
	unsigned long long iters, warmup;
	unsigned rounds, batch;
	int spin_yield; /* one CPU: spinning without yielding stalls a slice */
};

struct side {
	struct shared *sh;
	uint64_t seq;   /* round trips done on the spin words */
	pid_t other;    /* child (in the parent) or parent (in the child) */
	int is_parent;
	unsigned long long spins;
};

/* PAUSE spares the machine clear on leaving the loop and measured no
 * slower than a bare spin here; with one CPU the peer needs the CPU. */
static inline void relax(const struct plan *p)
{
	if (p->spin_yield)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

/* Waiting forever on a dead peer would hang the benchmark: look now and
 * then (every 2^24 spins, well above any normal wait). */
static int peer_alive(struct side *s)
{
	if (++s->spins & 0xffffff)
		return 1;
	if (s->is_parent)
		return waitpid(s->other, NULL, WNOHANG) == 0;
	return getppid() == s->other;
}

/* ---- the raw spin ping-pong, on @lines (1 or 2) cache lines ---- */

static int raw_parent(struct side *s, const struct plan *p, unsigned lines,
		      unsigned long long n, double *out)
{
	struct skiff_laps l = { .out = out, .batch = p->batch };
	uint64_t *ping = &s->sh->line[0].word;
	const uint64_t *pong = &s->sh->line[lines - 1].word;

	for (unsigned long long i = 0; i < n; i++) {
		uint64_t want = 2 * s->seq + 2;

		__atomic_store_n(ping, want - 1, __ATOMIC_RELEASE);
		skiff_lap(&l, i);
		while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != want) {
			if (!peer_alive(s))
				return -1;
			relax(p);
		}
		s->seq++;
	}
	skiff_lap_end(&l, n);
	return 0;
}

static int raw_child(struct side *s, const struct plan *p, unsigned lines,
		     unsigned long long n)
{
	const uint64_t *ping = &s->sh->line[0].word;
	uint64_t *pong = &s->sh->line[lines - 1].word;

	for (unsigned long long i = 0; i < n; i++) {
		uint64_t want = 2 * s->seq + 1;

		while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) != want) {
			if (!peer_alive(s))
				return -1;
			relax(p);
		}
		__atomic_store_n(pong, want + 1, __ATOMIC_RELEASE);
		s->seq++;
	}
	return 0;
}

/* ---- scif_send/scif_recv ---- */

static int scif_parent(scif_epd_t epd, const struct plan *p, uint64_t *seq,
		       unsigned long long n, double *out,
		       unsigned long long *bad)
{
	struct skiff_laps l = { .out = out, .batch = p->batch };

	for (unsigned long long i = 0; i < n; i++) {
		uint64_t v = ++*seq, r = 0;

		if (scif_send(epd, &v, 8, SCIF_SEND_BLOCK) != 8)
			return -1;
		skiff_lap(&l, i);
		if (scif_recv(epd, &r, 8, SCIF_RECV_BLOCK) != 8)
			return -1;
		*bad += r != v; /* the echo must be what we sent */
	}
	skiff_lap_end(&l, n);
	return 0;
}

static int scif_child(scif_epd_t epd, unsigned long long n)
{
	for (unsigned long long i = 0; i < n; i++) {
		uint64_t v;

		if (scif_recv(epd, &v, 8, SCIF_RECV_BLOCK) != 8 ||
		    scif_send(epd, &v, 8, SCIF_SEND_BLOCK) != 8)
			return -1;
	}
	return 0;
}

/* Samples per round: @iters split into @rounds, the remainder in the last;
 * each round's batches give ceil(k / batch) samples. */
static unsigned long long round_iters(const struct plan *p, unsigned r)
{
	unsigned long long k = p->iters / p->rounds;

	return r == p->rounds - 1 ? p->iters - k * (p->rounds - 1) : k;
}

static unsigned long long nsamples(const struct plan *p)
{
	unsigned long long n = 0;

	for (unsigned r = 0; r < p->rounds; r++)
		n += (round_iters(p, r) + p->batch - 1) / p->batch;
	return n;
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The child: connect, then follow the same schedule as the parent. */
static void run_child(int rfd, struct side *s, const struct plan *p, int cpu)
{
	struct scif_portID dst = { 0 };
	uint16_t nodes[1], self = 0;
	scif_epd_t epd;

	if (cpu >= 0 && pin(cpu) < 0)
		skiff_err("bench lat: child: sched_setaffinity: %s",
			  strerror(errno));
	if (read(rfd, &dst.port, sizeof(dst.port)) != sizeof(dst.port))
		_exit(1); /* the parent failed and said why */
	close(rfd);
	if (scif_get_nodeIDs(nodes, 1, &self) >= 0)
		dst.node = self;
	epd = scif_open();
	if (epd == SCIF_OPEN_FAILED) {
		skiff_err("bench lat: child: scif_open: %s", strerror(errno));
		_exit(1);
	}
	if (scif_connect(epd, &dst) < 0) {
		skiff_err("bench lat: child: scif_connect %u:%u: %s", dst.node,
			  dst.port, strerror(errno));
		_exit(1);
	}
	errno = 0;
	if (raw_child(s, p, 1, p->warmup) < 0 ||
	    raw_child(s, p, 2, p->warmup) < 0 || scif_child(epd, p->warmup) < 0)
		goto fail;
	s->sh->child_sleeps = -sleeps();
	for (unsigned r = 0; r < p->rounds; r++)
		if (raw_child(s, p, 1, round_iters(p, r)) < 0 ||
		    raw_child(s, p, 2, round_iters(p, r)) < 0 ||
		    scif_child(epd, round_iters(p, r)) < 0)
			goto fail;
	s->sh->child_sleeps += sleeps();
	scif_close(epd);
	_exit(0);
fail:
	skiff_err("bench lat: child: %s", errno ? strerror(errno) : "parent gone");
	_exit(1);
}

static void print_row(struct skiff_table *t, const char *name,
		      const struct skiff_stats *st)
{
	skiff_table_cell(t, "%s", name);
	skiff_table_cell(t, "%.0f", st->median);
	skiff_table_cell(t, "%.0f", st->p99);
	skiff_table_cell(t, "%.0f", st->min);
	skiff_table_cell(t, "%.0f", st->max);
}

static void json_stats(const char *method, const struct skiff_stats *st)
{
	printf("{\"method\":\"%s\",\"samples\":%zu,\"median_ns\":%.1f,"
	       "\"p99_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"mean_ns\":%.1f}", method, st->n, st->median, st->p99,
	       st->min, st->max, st->mean);
}

/* ---- remote mode: a server on a node that may be on another host ---- */

/* Echo 8-byte messages until the client's 0 (echoed, then done). */
static int lat_serve(uint16_t port, unsigned timeout_s)
{
	scif_epd_t ep = skiff_remote_accept("scif bench lat", port, timeout_s);
	unsigned long long n = 0;
	uint64_t v;

	if (ep == SCIF_OPEN_FAILED)
		return SKIFF_EXIT_FAIL;
	for (;;) {
		if (skiff_pair_recv(ep, &v, 8) < 0 ||
		    skiff_pair_send(ep, &v, 8) < 0) {
			skiff_err("bench lat: the client went away after %llu "
				  "round trips: %s", n, strerror(errno));
			scif_close(ep);
			return SKIFF_EXIT_FAIL;
		}
		if (!v)
			break;
		n++;
	}
	printf("scif bench lat: client done, %llu round trips\n", n);
	scif_close(ep);
	return SKIFF_EXIT_OK;
}

struct remote {
	uint16_t node, port;
	const char *fabric_peer; /* NULL: no raw figure */
	unsigned timeout_s;
};

/* The client: scif round trips with the server and, given a fabric peer,
 * raw libfabric ones, alternating in rounds as the local mode does. */
static int lat_remote(const struct plan *p, const struct remote *rm,
		      int json)
{
	scif_epd_t ep = SCIF_OPEN_FAILED;
	struct skiff_fabc *fc = NULL;
	struct skiff_stats st_scif, st_fab;
	unsigned long long ns = nsamples(p), bad = 0;
	double *scif_s, *fab_s = NULL, rmed = 0, rp99 = 0;
	uint64_t seq = 0, zero = 0;
	long my_sleeps;
	char why[512];
	int ret = SKIFF_EXIT_FAIL;

	scif_s = skiff_xrealloc(NULL, ns * sizeof(double));
	if (rm->fabric_peer) {
		/* one sample per round trip whatever --batch says */
		fab_s = skiff_xrealloc(NULL, p->iters * sizeof(double));
		if (skiff_fabc_open(&fc, rm->fabric_peer, 0, 10000, why,
				    sizeof(why)) < 0) {
			skiff_err("bench lat: --fabric-peer %s", why);
			goto out;
		}
	}
	ep = skiff_remote_connect("bench lat", rm->node, rm->port);
	if (ep == SCIF_OPEN_FAILED)
		goto out;
	errno = 0;
	if (scif_parent(ep, p, &seq, p->warmup, NULL, &bad) < 0)
		goto lost;
	if (fc && skiff_fabc_pingpong(fc, p->warmup, NULL, &bad) < 0)
		goto lost_fab;
	my_sleeps = -sleeps();
	{
		double *so = scif_s, *fo = fab_s;

		for (unsigned r = 0; r < p->rounds; r++) {
			unsigned long long k = round_iters(p, r);
			unsigned long long m = (k + p->batch - 1) / p->batch;

			if (scif_parent(ep, p, &seq, k, so, &bad) < 0)
				goto lost;
			so += m;
			if (!fc)
				continue;
			/* libfabric's samples are per round trip (batch 1) */
			if (skiff_fabc_pingpong(fc, k, fo, &bad) < 0)
				goto lost_fab;
			fo += k;
		}
	}
	my_sleeps += sleeps();
	/* 0 ends the server's echo loop */
	if (skiff_pair_send(ep, &zero, 8) < 0 || skiff_pair_recv(ep, &zero, 8) < 0)
		skiff_err("bench lat: the server did not answer the end: %s",
			  strerror(errno));
	skiff_stats_compute(scif_s, ns, &st_scif);
	if (fc) {
		skiff_stats_compute(fab_s, p->iters, &st_fab);
		rmed = st_fab.median > 0 ? st_scif.median / st_fab.median : 0;
		rp99 = st_fab.p99 > 0 ? st_scif.p99 / st_fab.p99 : 0;
	}
	if (json) {
		printf("{\"bench\":\"lat\",\"mode\":\"remote\",\"node\":%u,"
		       "\"port\":%u,\"msg_bytes\":8,\"iterations\":%llu,"
		       "\"rounds\":%u,\"batch\":%u,\"warmup\":%llu,"
		       "\"fabric_peer\":", rm->node, rm->port, p->iters,
		       p->rounds, p->batch, p->warmup);
		if (fc) {
			skiff_json_string(stdout, skiff_fabc_peer(fc));
			printf(",\"provider\":");
			skiff_json_string(stdout, skiff_fabc_provider(fc));
		} else {
			printf("null,\"provider\":null");
		}
		printf(",\"results\":[");
		json_stats("scif", &st_scif);
		if (fc) {
			printf(",");
			json_stats("fabric", &st_fab);
			printf("],\"ratio\":{\"median\":%.3f,\"p99\":%.3f},"
			       "\"goal\":%.1f,\"median_pass\":%s,"
			       "\"p99_pass\":%s", rmed, rp99, REMOTE_GOAL,
			       rmed <= REMOTE_GOAL ? "true" : "false",
			       rp99 <= REMOTE_GOAL ? "true" : "false");
		} else {
			printf("],\"ratio\":null,\"goal\":%.1f,"
			       "\"median_pass\":null,\"p99_pass\":null",
			       REMOTE_GOAL);
		}
		printf(",\"sleeps\":%ld,\"echo_mismatches\":%llu}\n",
		       my_sleeps, bad);
	} else {
		struct skiff_table t;

		printf("scif bench lat: 8-byte round trip with node %u port %u, "
		       "%llu per method in %u alternating rounds (+%llu "
		       "warm-up)\n", rm->node, rm->port, p->iters, p->rounds,
		       p->warmup);
		if (fc)
			printf("limit: fi_send/fi_recv with %s, provider %s, "
			       "in the same rounds\n", skiff_fabc_peer(fc),
			       skiff_fabc_provider(fc));
		printf("cpus: not pinned (remote mode)\n\n");
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "method");
		skiff_table_cell(&t, "median ns");
		skiff_table_cell(&t, "p99 ns");
		skiff_table_cell(&t, "min ns");
		skiff_table_cell(&t, "max ns");
		print_row(&t, "scif_send/scif_recv", &st_scif);
		if (fc)
			print_row(&t, "fi_send/fi_recv (raw libfabric)", &st_fab);
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		if (fc)
			printf("\nratio scif/raw: median %.2f (goal <= %.1f: %s), "
			       "p99 %.2f (goal <= %.1f: %s)\n", rmed,
			       REMOTE_GOAL, rmed <= REMOTE_GOAL ? "PASS" : "MISS",
			       rp99, REMOTE_GOAL,
			       rp99 <= REMOTE_GOAL ? "PASS" : "MISS");
		else
			printf("\nno raw figure: --fabric-peer ADDR[:PORT] of a "
			       "'scif bench fabric serve' measures it in the "
			       "same run\n");
		printf("sleeps (voluntary context switches) in the measured "
		       "rounds: %ld\n", my_sleeps);
		if (bad)
			printf("echo mismatches: %llu\n", bad);
	}
	ret = bad ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
	goto out;
lost_fab:
	skiff_err("bench lat: --fabric-peer %s: %s", skiff_fabc_peer(fc),
		  skiff_fabc_error(fc));
	goto out;
lost:
	skiff_err("bench lat: node %u port %u: %s", rm->node, rm->port,
		  errno ? strerror(errno) : "connection lost");
out:
	if (ep != SCIF_OPEN_FAILED)
		scif_close(ep);
	skiff_fabc_close(fc);
	free(scif_s);
	free(fab_s);
	return ret;
}

int skiff_bench_lat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iters", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "serve", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "node", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'p' },
		{ "fabric-peer", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct plan p = { .iters = DEFAULT_ITERS, .rounds = DEFAULT_ROUNDS,
			  .batch = 1 };
	struct remote rm = { .timeout_s = 120 };
	long serve = -1, rnode = -1, rport = -1;
	char fabric[SKIFF_FABRIC_MAX + 1];
	const char *fab = NULL;
	unsigned long long v, bad = 0, ns;
	int json = 0, dopin = 1, c, pfd[2], cpu_a = -1, cpu_b = -1, ncpu;
	int ret = SKIFF_EXIT_FAIL, status;
	struct skiff_stats st_scif, st_raw, st_raw2;
	double *raw_s, *raw2_s, *scif_s, ovh, rmed, rp99, rmed2, rp992;
	scif_epd_t lep = SCIF_OPEN_FAILED, epd = SCIF_OPEN_FAILED;
	struct scif_pollepd pe;
	struct scif_portID peer; /* scif_accept requires it, as MPSS does */
	struct shared *sh;
	struct side s = { 0 };
	uint64_t scif_seq = 0;
	long parent_sleeps = 0;
	cpu_set_t avail;
	int port;
	pid_t child;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:r:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (skiff_parse_ull(optarg, 1, 100000000, &p.iters) < 0)
				goto bad_arg;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, 1000, &v) < 0)
				goto bad_arg;
			p.rounds = (unsigned)v;
			break;
		case 'b':
			if (skiff_parse_ull(optarg, 1, 65536, &v) < 0)
				goto bad_arg;
			p.batch = (unsigned)v;
			break;
		case 'P':
			dopin = 0;
			break;
		case 'j':
			json = 1;
			break;
		case 'f':
			fab = optarg;
			break;
		case 'S':
		case 'p':
			/* --serve 0: a free port, shown in the ready line */
			if (skiff_parse_ull(optarg, c == 'S' ? 0 : 1,
					    UINT16_MAX, &v) < 0)
				goto bad_arg;
			*(c == 'S' ? &serve : &rport) = (long)v;
			break;
		case 'N':
			if (skiff_parse_ull(optarg, 0, SKIFF_MAX_NODE, &v) < 0)
				goto bad_arg;
			rnode = (long)v;
			break;
		case 'T':
			if (skiff_parse_ull(optarg, 0, 86400, &v) < 0)
				goto bad_arg;
			rm.timeout_s = (unsigned)v;
			break;
		case 'F':
			rm.fabric_peer = optarg;
			break;
		case 'h':
			fputs(lat_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(lat_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fputs(lat_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	if (p.rounds > p.iters)
		p.rounds = (unsigned)p.iters;
	p.warmup = p.iters / 10 < MAX_WARMUP ? p.iters / 10 : MAX_WARMUP;
	if (serve >= 0 && (rnode >= 0 || rport >= 0 || rm.fabric_peer)) {
		skiff_err("bench lat: --serve is the server; --node, --port "
			  "and --fabric-peer are the client's");
		return SKIFF_EXIT_USAGE;
	}
	if (serve >= 0)
		return lat_serve((uint16_t)serve, rm.timeout_s);
	if ((rnode >= 0) != (rport >= 0) || (rm.fabric_peer && rnode < 0)) {
		skiff_err("bench lat: the remote mode needs --node N and "
			  "--port PORT (of a 'scif bench lat --serve PORT')");
		return SKIFF_EXIT_USAGE;
	}
	if (rnode >= 0) {
		rm.node = (uint16_t)rnode;
		rm.port = (uint16_t)rport;
		/* one process: the spin loops are the local mode's */
		return lat_remote(&p, &rm, json);
	}

	/* two CPUs we may run on: parent on the first, child on the second */
	ncpu = 0;
	if (sched_getaffinity(0, sizeof(avail), &avail) == 0) {
		ncpu = CPU_COUNT(&avail);
		for (int i = 0; i < CPU_SETSIZE && dopin && ncpu >= 2; i++) {
			if (!CPU_ISSET(i, &avail))
				continue;
			if (cpu_a < 0)
				cpu_a = i;
			else if (cpu_b < 0)
				cpu_b = i;
		}
	}
	if (cpu_b < 0)
		cpu_a = -1;
	p.spin_yield = ncpu < 2;

	ns = nsamples(&p);
	raw_s = skiff_xrealloc(NULL, ns * sizeof(double));
	raw2_s = skiff_xrealloc(NULL, ns * sizeof(double));
	scif_s = skiff_xrealloc(NULL, ns * sizeof(double));
	/* the spin words: shared with the child, mapped before the fork */
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		skiff_err("bench lat: mmap: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	if (pipe(pfd) < 0) {
		skiff_err("bench lat: pipe: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	s.sh = sh;
	ovh = skiff_timer_overhead_ns(); /* reported, not subtracted */

	/* Fork before any endpoint exists, so no libscif state crosses the
	 * fork; the child learns the port through the pipe. */
	fflush(NULL);
	child = fork();
	if (child < 0) {
		skiff_err("bench lat: fork: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	if (child == 0) {
		close(pfd[1]);
		s.other = getppid();
		run_child(pfd[0], &s, &p, cpu_b);
	}
	close(pfd[0]);
	s.other = child;
	s.is_parent = 1;
	if (cpu_a >= 0 && pin(cpu_a) < 0)
		skiff_err("bench lat: sched_setaffinity: %s", strerror(errno));

	lep = scif_open();
	if (lep == SCIF_OPEN_FAILED) {
		skiff_err("bench lat: scif_open: %s", strerror(errno));
		goto out;
	}
	port = scif_bind(lep, 0);
	if (port < 0 || scif_listen(lep, 1) < 0) {
		skiff_err("bench lat: scif_%s: %s", port < 0 ? "bind" : "listen",
			  strerror(errno));
		goto out;
	}
	{
		uint16_t p16 = (uint16_t)port;

		if (write(pfd[1], &p16, sizeof(p16)) != sizeof(p16)) {
			skiff_err("bench lat: pipe write: %s", strerror(errno));
			goto out;
		}
	}
	pe.epd = lep;
	pe.events = SCIF_POLLIN;
	pe.revents = 0;
	if (scif_poll(&pe, 1, ACCEPT_TIMEOUT_MS) <= 0) {
		skiff_err("bench lat: the child did not connect");
		goto out;
	}
	if (scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) < 0) {
		skiff_err("bench lat: scif_accept: %s", strerror(errno));
		goto out;
	}
	scif_close(lep);
	lep = SCIF_OPEN_FAILED;

	errno = 0; /* "lost" below tells a failed call from a dead child */
	if (raw_parent(&s, &p, 1, p.warmup, NULL) < 0 ||
	    raw_parent(&s, &p, 2, p.warmup, NULL) < 0 ||
	    scif_parent(epd, &p, &scif_seq, p.warmup, NULL, &bad) < 0)
		goto lost;
	parent_sleeps = -sleeps();
	{
		double *ro = raw_s, *r2o = raw2_s, *so = scif_s;

		for (unsigned r = 0; r < p.rounds; r++) {
			unsigned long long k = round_iters(&p, r);
			unsigned long long m = (k + p.batch - 1) / p.batch;

			if (raw_parent(&s, &p, 1, k, ro) < 0 ||
			    raw_parent(&s, &p, 2, k, r2o) < 0 ||
			    scif_parent(epd, &p, &scif_seq, k, so, &bad) < 0)
				goto lost;
			ro += m;
			r2o += m;
			so += m;
		}
	}
	parent_sleeps += sleeps();
	scif_close(epd);
	epd = SCIF_OPEN_FAILED;
	if (waitpid(child, &status, 0) == child &&
	    (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		skiff_err("bench lat: the child failed");
	child = 0;

	skiff_stats_compute(raw_s, ns, &st_raw);
	skiff_stats_compute(raw2_s, ns, &st_raw2);
	skiff_stats_compute(scif_s, ns, &st_scif);
	rmed = st_raw.median > 0 ? st_scif.median / st_raw.median : 0;
	rp99 = st_raw.p99 > 0 ? st_scif.p99 / st_raw.p99 : 0;
	/* against the two-queue floor: information, no goal */
	rmed2 = st_raw2.median > 0 ? st_scif.median / st_raw2.median : 0;
	rp992 = st_raw2.p99 > 0 ? st_scif.p99 / st_raw2.p99 : 0;

	if (json) {
		printf("{\"bench\":\"lat\",\"msg_bytes\":8,\"iterations\":%llu,"
		       "\"rounds\":%u,\"batch\":%u,\"warmup\":%llu,",
		       p.iters, p.rounds, p.batch, p.warmup);
		if (cpu_a >= 0)
			printf("\"cpus\":{\"parent\":%d,\"child\":%d},", cpu_a,
			       cpu_b);
		else
			printf("\"cpus\":null,");
		printf("\"cpus_available\":%d,\"timer_cost_ns\":%.1f,"
		       "\"results\":[", ncpu, ovh);
		json_stats("scif", &st_scif);
		printf(",");
		json_stats("raw", &st_raw);
		printf(",");
		json_stats("raw_two_lines", &st_raw2);
		printf("],\"ratio\":{\"median\":%.3f,\"p99\":%.3f},"
		       "\"goal\":%.1f,\"median_pass\":%s,\"p99_pass\":%s,"
		       "\"ratio_two_lines\":{\"median\":%.3f,\"p99\":%.3f},"
		       "\"sleeps\":{\"parent\":%ld,\"child\":%ld},"
		       "\"echo_mismatches\":%llu}\n", rmed, rp99, GOAL_RATIO,
		       rmed <= GOAL_RATIO ? "true" : "false",
		       rp99 <= GOAL_RATIO ? "true" : "false", rmed2, rp992,
		       parent_sleeps, sh->child_sleeps, bad);
	} else {
		struct skiff_table t;

		printf("scif bench lat: 8-byte round trip, %llu per method in %u "
		       "alternating rounds (+%llu warm-up)\n",
		       p.iters, p.rounds, p.warmup);
		if (cpu_a >= 0)
			printf("cpus: parent pinned to CPU %d, child to CPU %d "
			       "(sched_setaffinity)\n", cpu_a, cpu_b);
		else
			printf("cpus: not pinned (%s)%s\n",
			       dopin ? "fewer than 2 CPUs available" : "--no-pin",
			       p.spin_yield ? "; spin loops yield the CPU" : "");
		printf("timer: CLOCK_MONOTONIC every %u round trip%s, read while "
		       "the echo is in flight (a read costs %.0f ns)\n\n",
		       p.batch, p.batch == 1 ? "" : "s", ovh);
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "method");
		skiff_table_cell(&t, "median ns");
		skiff_table_cell(&t, "p99 ns");
		skiff_table_cell(&t, "min ns");
		skiff_table_cell(&t, "max ns");
		print_row(&t, "scif_send/scif_recv", &st_scif);
		print_row(&t, "raw spin, one cache line", &st_raw);
		print_row(&t, "raw spin, two cache lines", &st_raw2);
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\nratio scif/raw: median %.2f (goal <= %.1f: %s), "
		       "p99 %.2f (goal <= %.1f: %s)\n", rmed, GOAL_RATIO,
		       rmed <= GOAL_RATIO ? "PASS" : "MISS", rp99, GOAL_RATIO,
		       rp99 <= GOAL_RATIO ? "PASS" : "MISS");
		printf("ratio scif/raw two lines: median %.2f, p99 %.2f "
		       "(vs the two-queue floor, informational)\n", rmed2,
		       rp992);
		printf("sleeps (voluntary context switches) in the measured "
		       "rounds: parent %ld, child %ld\n", parent_sleeps,
		       sh->child_sleeps);
		if (bad)
			printf("echo mismatches: %llu\n", bad);
	}
	/* a benchmark, not a test: a MISS is not a failure, a wrong echo is */
	ret = bad ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
	goto out;

lost:
	skiff_err("bench lat: %s", errno ? strerror(errno) : "the child died");
out:
	if (epd != SCIF_OPEN_FAILED)
		scif_close(epd);
	if (lep != SCIF_OPEN_FAILED)
		scif_close(lep);
	close(pfd[1]);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	free(raw_s);
	free(raw2_s);
	free(scif_s);
	munmap(sh, sizeof(*sh));
	return ret;

bad_arg:
	for (const struct option *o = opts; o->name; o++)
		if (o->val == c)
			skiff_err("bench lat: bad value '%s' for --%s", optarg,
				  o->name);
	return SKIFF_EXIT_USAGE;
}
