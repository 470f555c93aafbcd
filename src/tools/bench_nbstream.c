/* SPDX-License-Identifier: MIT */
/*
 * scif bench nbstream: a stream of 64-byte messages through non-blocking
 * scif_send/scif_recv, as MPSS bandwidth programs drive it (the sender
 * retries on 0, the receiver waits in scif_poll and then receives without
 * blocking), against the limit of the machine measured in the same run: a
 * single-producer single-consumer ring of 64-byte slots in shared memory,
 * as large as the default SCIF ring (4 KiB), between the same two processes.
 *
 * The methods alternate in rounds (as in bench lat) so that a slow spell of
 * the machine hits both alike. Every message carries its sequence number and
 * a pattern derived from it; the receiver checks all 64 bytes.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_* */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define MSG 64
#define RAW_SLOTS 64 /* 4 KiB of slots: the default ring's capacity */
#define GOAL_MPS 1.0 /* million messages per second (issue 8) */
#define DEFAULT_MSGS 1000000
#define DEFAULT_ROUNDS 3
#define MAX_ROUNDS 100
#define STALL_MS 10000 /* a scif_poll that waits this long: a stall */

static const char *const nb_usage =
	"usage: scif bench nbstream [-n MSGS] [-r ROUNDS] [--one-cpu] [--no-pin]\n"
	"                           [--json] [--fabric NAME]\n"
	"\n"
	"Stream 64-byte messages from a forked child to this process through\n"
	"non-blocking scif_send (retried on 0) and scif_recv after scif_poll, and\n"
	"through a raw shared-memory ring of 64 64-byte slots (the limit), the\n"
	"methods alternating in rounds. Every byte is checked. Prints messages per\n"
	"second of each (median, min and max over the rounds), the ratio scif/raw,\n"
	"and the scif figure against the goal (>= 1 M messages/s, two CPUs).\n"
	"\n"
	"  -n, --msgs N      messages per method and round (default 1000000)\n"
	"  -r, --rounds R    rounds (default 3)\n"
	"      --one-cpu     pin both processes to the same CPU (waits yield)\n"
	"      --no-pin      leave CPU placement to the scheduler\n"
	"      --json        print a JSON object instead of the table\n"
	"      --fabric NAME fabric (default: SCIF_FABRIC)\n";

struct shared {
	/* the raw ring: head written by the producer, tail by the consumer */
	_Alignas(64) uint64_t head;
	_Alignas(64) uint64_t tail;
	_Alignas(64) unsigned char slot[RAW_SLOTS][MSG];
	/* the phase the receiver is ready for (written by the parent) */
	_Alignas(64) uint32_t go;
	/* written by the child */
	_Alignas(64) long child_sleeps;
	unsigned long long child_zeros; /* scif_send returned 0 */
	int child_err;
};

struct ctx {
	struct skiff_pair pair;
	struct shared *sh;
	unsigned long long msgs;
	unsigned rounds;
	int yield; /* one CPU: waits yield */
	uint64_t raw_seq, scif_seq;
};

static long sleeps(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nvcsw : 0;
}

static inline void relax(const struct ctx *c)
{
	if (c->yield)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

/* Message @seq: its number, then words that depend on it. */
static inline void fill(uint64_t *w, uint64_t seq)
{
	w[0] = seq;
	for (int i = 1; i < MSG / 8; i++)
		w[i] = seq * 0x9e3779b97f4a7c15ull + (uint64_t)i;
}

static inline int check(const uint64_t *w, uint64_t seq)
{
	uint64_t x = 0;

	x |= w[0] ^ seq;
	for (int i = 1; i < MSG / 8; i++)
		x |= w[i] ^ (seq * 0x9e3779b97f4a7c15ull + (uint64_t)i);
	return x == 0;
}

/* ---- the raw ring ---- */

static int raw_send(struct ctx *c, unsigned long long n)
{
	struct shared *sh = c->sh;
	uint64_t h = sh->head;

	for (unsigned long long i = 0; i < n; i++, h++) {
		while (h - __atomic_load_n(&sh->tail, __ATOMIC_ACQUIRE) >= RAW_SLOTS) {
			if (!skiff_pair_alive(&c->pair))
				return -1;
			relax(c);
		}
		fill((uint64_t *)(void *)sh->slot[h % RAW_SLOTS], c->raw_seq++);
		__atomic_store_n(&sh->head, h + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

static int raw_recv(struct ctx *c, unsigned long long n, unsigned long long *bad)
{
	struct shared *sh = c->sh;
	uint64_t t = sh->tail;
	uint64_t w[MSG / 8];

	for (unsigned long long i = 0; i < n; i++, t++) {
		while (__atomic_load_n(&sh->head, __ATOMIC_ACQUIRE) == t) {
			if (!skiff_pair_alive(&c->pair))
				return -1;
			relax(c);
		}
		/* copied out, as scif_recv copies into the user's buffer */
		memcpy(w, sh->slot[t % RAW_SLOTS], MSG);
		__atomic_store_n(&sh->tail, t + 1, __ATOMIC_RELEASE);
		*bad += !check(w, c->raw_seq++);
	}
	return 0;
}

/* ---- non-blocking scif_send / scif_poll + scif_recv ---- */

static int scif_nb_send(struct ctx *c, unsigned long long n,
			unsigned long long *zeros)
{
	scif_epd_t ep = c->pair.ep[0];
	uint64_t w[MSG / 8];

	for (unsigned long long i = 0; i < n; i++) {
		int off = 0;

		fill(w, c->scif_seq++);
		while (off < MSG) {
			int r = scif_send(ep, (char *)w + off, MSG - off, 0);

			if (r < 0)
				return -1;
			if (r == 0) { /* ring full: retry */
				++*zeros;
				if (!skiff_pair_alive(&c->pair))
					return -1;
				relax(c);
			}
			off += r;
		}
	}
	return 0;
}

static int scif_nb_recv(struct ctx *c, unsigned long long n,
			unsigned long long *bad, unsigned long long *spurious)
{
	scif_epd_t ep = c->pair.ep[0];
	uint64_t w[MSG / 8];

	for (unsigned long long i = 0; i < n; i++) {
		int off = 0;

		while (off < MSG) {
			struct scif_pollepd pe = { .epd = ep, .events = SCIF_POLLIN };
			int r = scif_poll(&pe, 1, STALL_MS);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -1;
			if (r == 0) {
				skiff_err("bench nbstream: stalled: scif_poll saw "
					  "nothing for %d ms", STALL_MS);
				errno = ETIMEDOUT;
				return -1;
			}
			r = scif_recv(ep, (char *)w + off, MSG - off, 0);
			if (r < 0)
				return -1;
			*spurious += r == 0; /* POLLIN, yet nothing to read */
			off += r;
		}
		*bad += !check(w, c->scif_seq++);
	}
	return 0;
}

/* ---- the schedule ---- */

static uint32_t phase(unsigned round, int method)
{
	return 2 * round + (uint32_t)method + 1;
}

static void run_child(struct ctx *c)
{
	unsigned long long zeros = 0;

	errno = 0;
	c->sh->child_sleeps = -sleeps();
	for (unsigned r = 0; r < c->rounds; r++)
		for (int m = 0; m < 2; m++) {
			while (__atomic_load_n(&c->sh->go, __ATOMIC_ACQUIRE) <
			       phase(r, m)) {
				if (!skiff_pair_alive(&c->pair))
					goto fail;
				relax(c);
			}
			if ((m ? scif_nb_send(c, c->msgs, &zeros)
			       : raw_send(c, c->msgs)) < 0)
				goto fail;
		}
	c->sh->child_sleeps += sleeps();
	c->sh->child_zeros = zeros;
	/* the receiver's last message is in: wait for its word to close */
	{
		uint32_t done;

		if (skiff_pair_recv(c->pair.ep[0], &done, sizeof(done)) < 0)
			goto fail;
	}
	skiff_pair_finish(&c->pair, 0);
fail:
	c->sh->child_err = errno ? errno : -1;
	skiff_err("bench nbstream: child: %s",
		  errno ? strerror(errno) : "parent gone");
	skiff_pair_finish(&c->pair, 1);
}

struct result {
	double mps[MAX_ROUNDS]; /* million messages per second, per round */
	struct skiff_stats st;
};

int skiff_bench_nbstream(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "msgs", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "one-cpu", no_argument, NULL, '1' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct ctx c = { .msgs = DEFAULT_MSGS, .rounds = DEFAULT_ROUNDS };
	char fabric[SKIFF_FABRIC_MAX + 1];
	const char *fab = NULL;
	unsigned long long v, bad = 0, spurious = 0;
	int json = 0, dopin = 1, one_cpu = 0, opt, ret = SKIFF_EXIT_FAIL;
	struct result res[2];
	long parent_sleeps;
	double ratio;
	int st;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (skiff_parse_ull(optarg, 1, 1000000000, &c.msgs) < 0)
				goto bad_arg;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, MAX_ROUNDS, &v) < 0)
				goto bad_arg;
			c.rounds = (unsigned)v;
			break;
		case '1':
			one_cpu = 1;
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
		case 'h':
			fputs(nb_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(nb_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc || (one_cpu && !dopin)) {
		fputs(nb_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;

	/* mapped before the fork: shared with the child */
	c.sh = mmap(NULL, sizeof(*c.sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.sh == MAP_FAILED) {
		skiff_err("bench nbstream: mmap: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	st = skiff_pair_start(&c.pair, "bench nbstream", 1, dopin, !one_cpu);
	if (st < 0)
		goto out;
	if (one_cpu) {
		/* both on the parent's CPU; the child picked its own first */
		int cpu = c.pair.cpu[0] >= 0 ? c.pair.cpu[0] : sched_getcpu();

		c.pair.cpu[0] = c.pair.cpu[1] = cpu;
		if (skiff_pair_pin(cpu) < 0)
			skiff_err("bench nbstream: sched_setaffinity: %s",
				  strerror(errno));
	}
	c.yield = c.pair.spin_yield || one_cpu;
	if (st == 1)
		run_child(&c); /* does not return */

	errno = 0;
	parent_sleeps = -sleeps();
	for (unsigned r = 0; r < c.rounds; r++)
		for (int m = 0; m < 2; m++) {
			uint64_t t0, t1;
			int e;

			__atomic_store_n(&c.sh->go, phase(r, m), __ATOMIC_RELEASE);
			t0 = skiff_now_ns();
			e = m ? scif_nb_recv(&c, c.msgs, &bad, &spurious)
			      : raw_recv(&c, c.msgs, &bad);
			t1 = skiff_now_ns();
			if (e < 0)
				goto lost;
			res[m].mps[r] = (double)c.msgs * 1e3 / (double)(t1 - t0);
		}
	parent_sleeps += sleeps();
	{
		uint32_t done = 1;

		if (skiff_pair_send(c.pair.ep[0], &done, sizeof(done)) < 0)
			goto lost;
	}
	if (skiff_pair_finish(&c.pair, 0) < 0) {
		skiff_err("bench nbstream: the child failed");
		goto out;
	}
	for (int m = 0; m < 2; m++) {
		double tmp[MAX_ROUNDS];

		memcpy(tmp, res[m].mps, c.rounds * sizeof(double));
		skiff_stats_compute(tmp, c.rounds, &res[m].st);
	}
	ratio = res[0].st.median > 0 ? res[1].st.median / res[0].st.median : 0;

	if (json) {
		printf("{\"bench\":\"nbstream\",\"msg_bytes\":%d,\"messages\":%llu,"
		       "\"rounds\":%u,", MSG, c.msgs, c.rounds);
		if (c.pair.cpu[0] >= 0)
			printf("\"cpus\":{\"parent\":%d,\"child\":%d},",
			       c.pair.cpu[0], c.pair.cpu[1]);
		else
			printf("\"cpus\":null,");
		printf("\"one_cpu\":%s,\"results\":[", one_cpu ? "true" : "false");
		for (int m = 0; m < 2; m++)
			printf("%s{\"method\":\"%s\",\"median_mmsg_s\":%.3f,"
			       "\"min_mmsg_s\":%.3f,\"max_mmsg_s\":%.3f}",
			       m ? "," : "", m ? "scif_nonblocking" : "raw_ring",
			       res[m].st.median, res[m].st.min, res[m].st.max);
		printf("],\"ratio_median\":%.3f,\"goal_mmsg_s\":%.1f,"
		       "\"pass\":%s,\"sender_zero_returns\":%llu,"
		       "\"spurious_pollin\":%llu,\"sleeps\":{\"parent\":%ld,"
		       "\"child\":%ld},\"mismatches\":%llu}\n", ratio, GOAL_MPS,
		       res[1].st.median >= GOAL_MPS ? "true" : "false",
		       c.sh->child_zeros, spurious, parent_sleeps,
		       c.sh->child_sleeps, bad);
	} else {
		struct skiff_table t;

		printf("scif bench nbstream: %d-byte messages, %llu per method in "
		       "%u alternating rounds\n", MSG, c.msgs, c.rounds);
		if (c.pair.cpu[0] >= 0)
			printf("cpus: receiver (parent) on CPU %d, sender (child) "
			       "on CPU %d%s\n", c.pair.cpu[0], c.pair.cpu[1],
			       one_cpu ? " (--one-cpu: waits yield)" : "");
		else
			printf("cpus: not pinned (%s)%s\n",
			       dopin ? "fewer than 2 CPUs available" : "--no-pin",
			       c.yield ? "; waits yield the CPU" : "");
		printf("\n");
		skiff_table_init(&t, 4, 0xe);
		skiff_table_cell(&t, "method (M messages/s)");
		skiff_table_cell(&t, "median");
		skiff_table_cell(&t, "min");
		skiff_table_cell(&t, "max");
		for (int m = 0; m < 2; m++) {
			skiff_table_cell(&t, "%s", m ? "non-blocking scif_send / "
						       "scif_poll+scif_recv"
						     : "raw shared-memory ring");
			skiff_table_cell(&t, "%.3f", res[m].st.median);
			skiff_table_cell(&t, "%.3f", res[m].st.min);
			skiff_table_cell(&t, "%.3f", res[m].st.max);
		}
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\nratio scif/raw (median): %.3f\n", ratio);
		printf("scif: %.3f M messages/s (goal >= %.1f with two CPUs: %s)\n",
		       res[1].st.median, GOAL_MPS,
		       res[1].st.median >= GOAL_MPS ? "PASS" : "MISS");
		printf("scif_send returned 0 (ring full) %llu times; scif_poll "
		       "POLLIN with nothing to read %llu times\n",
		       c.sh->child_zeros, spurious);
		printf("sleeps (voluntary context switches): receiver %ld, sender "
		       "%ld\n", parent_sleeps, c.sh->child_sleeps);
		if (bad)
			printf("corrupt messages: %llu\n", bad);
	}
	/* a benchmark, not a test: a MISS is not a failure, a wrong byte is */
	ret = bad ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
	goto out;

lost:
	skiff_err("bench nbstream: %s", errno ? strerror(errno) : "the child died");
	skiff_pair_abort(&c.pair);
out:
	munmap(c.sh, sizeof(*c.sh));
	return ret;

bad_arg:
	skiff_err("bench nbstream: bad value '%s' for -%c", optarg, opt);
	return SKIFF_EXIT_USAGE;
}
