/* SPDX-License-Identifier: MIT */
/*
 * scif bench bw: RMA throughput (scif_writeto, scif_readfrom,
 * scif_vwriteto, scif_vreadfrom, each to completion) against its limit,
 * memcpy() of the same size in the same process, and against streaming the
 * same bytes with scif_send/scif_recv and over TCP loopback, 4 KiB to
 * 256 MiB in x4 steps, all between the same two processes in one run.
 *
 * The parent (initiator) and a forked child (target) each register a
 * window of the largest size and exchange the offsets with scif_send. The
 * methods alternate in rounds so that a slow spell of the machine (memory
 * bandwidth drifts up to 2x over minutes) hits all alike; each figure is
 * the median of the rounds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define MAX_ROUNDS 101
#define MAX_SIZES 32
#define GOAL_1M 0.9   /* RMA >= 0.9x memcpy at 1 MiB */
#define GOAL_BIG 1.0  /* RMA >= 1.0x memcpy at 16 MiB and above */
#define GOAL_BIG_FROM (16 * MiB)

static const char *const bw_usage =
	"usage: scif bench bw [-m MAX] [-s SIZES] [-r ROUNDS] [-t MS]\n"
	"                     [--stream-max SIZE] [--plot FILE.png] [--json]\n"
	"                     [--no-pin] [--pin-engine] [--fabric NAME]\n"
	"\n"
	"Throughput of scif_writeto, scif_readfrom, scif_vwriteto and\n"
	"scif_vreadfrom (each submitted, then waited for with scif_fence_mark +\n"
	"scif_fence_wait), and of scif_writeto with SCIF_RMA_SYNC, between this\n"
	"process and a forked child, against memcpy() of the same size in this\n"
	"process (the limit), scif_send/scif_recv streaming and TCP loopback\n"
	"streaming of the same bytes. Prints GB/s (median of the rounds), the\n"
	"ratios RMA/memcpy and the goals (>= 0.9x at 1 MiB, >= 1.0x from 16 MiB).\n"
	"\n"
	"  -m, --max SIZE        largest size (K/M/G suffix; default 256M); the\n"
	"                        windows are this large\n"
	"  -s, --sizes LIST      comma-separated sizes instead of 4K..MAX in x4 steps\n"
	"  -r, --rounds R        rounds of all methods, alternating (default 5)\n"
	"  -t, --time MS         target milliseconds per measurement (default 20)\n"
	"      --stream-max SIZE largest size for send/recv and TCP (default 16M)\n"
	"      --plot FILE.png   also draw throughput vs size with gnuplot\n"
	"      --json            print a JSON object instead of the table\n"
	"      --no-pin          leave CPU placement to the scheduler\n"
	"      --pin-engine      pin the parent before the DMA engine starts, so\n"
	"                        that its channel threads inherit the parent's CPU\n"
	"      --fabric NAME     fabric (default: SCIF_FABRIC)\n";

enum {
	M_MEMCPY, M_WRITETO, M_READFROM, M_VWRITETO, M_VREADFROM,
	M_WRITETO_SYNC, M_SENDRECV, M_TCP, NMETH
};
#define NRMA 4 /* M_WRITETO .. M_VREADFROM: the goals apply to these */
static const char *const meth_name[NMETH] = {
	"memcpy", "writeto", "readfrom", "vwriteto", "vreadfrom",
	"writeto SYNC", "send/recv", "TCP"
};
static const char *const meth_key[NMETH] = {
	"memcpy", "writeto", "readfrom", "vwriteto", "vreadfrom",
	"writeto_sync", "send_recv", "tcp"
};
static const char *const ratio_head[NRMA] = { "wr/mc", "rd/mc", "vwr/mc", "vrd/mc" };

/* parent -> child commands, on ep[0] */
enum { C_END, C_STREAM, C_TCP };
struct cmd {
	uint32_t op, pad;
	uint64_t size, iters;
};

struct bw {
	struct skiff_pair pair;
	scif_epd_t ep;
	off_t loff, roff;   /* the parent's and the child's window */
	unsigned char *win; /* the parent's registered buffer */
	unsigned char *ubuf; /* user buffer of v*, source of memcpy */
	unsigned char *mdst; /* destination of memcpy */
	int tcp;            /* connected TCP socket */
};

static int stream_method(int m)
{
	return m == M_SENDRECV || m == M_TCP;
}

/* One RMA of @size to completion. */
static int rma_once(const struct bw *b, int m, uint64_t size)
{
	int r, mark;

	switch (m) {
	case M_WRITETO:
		r = scif_writeto(b->ep, b->loff, size, b->roff, 0);
		break;
	case M_READFROM:
		r = scif_readfrom(b->ep, b->loff, size, b->roff, 0);
		break;
	case M_VWRITETO:
		r = scif_vwriteto(b->ep, b->ubuf, size, b->roff, 0);
		break;
	case M_VREADFROM:
		r = scif_vreadfrom(b->ep, b->ubuf, size, b->roff, 0);
		break;
	default: /* M_WRITETO_SYNC */
		return scif_writeto(b->ep, b->loff, size, b->roff, SCIF_RMA_SYNC);
	}
	if (r < 0 || scif_fence_mark(b->ep, SCIF_FENCE_INIT_SELF, &mark) < 0 ||
	    scif_fence_wait(b->ep, mark) < 0)
		return -1;
	return 0;
}

/* The acknowledgement must not wait for a delayed ACK (Nagle). */
static int nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Stream @iters x @size bytes to the child, which acknowledges the end. */
static int stream(const struct bw *b, int m, uint64_t size, uint64_t iters)
{
	struct cmd c = { .op = m == M_TCP ? C_TCP : C_STREAM, .size = size,
			 .iters = iters };
	char ack;

	if (skiff_pair_send(b->ep, &c, sizeof(c)) < 0)
		return -1;
	for (uint64_t i = 0; i < iters; i++)
		if (m == M_TCP ? skiff_write_all(b->tcp, b->ubuf, size)
			       : skiff_pair_send(b->ep, b->ubuf, size))
			return -1;
	if (m == M_TCP)
		return read(b->tcp, &ack, 1) == 1 ? 0 : -1;
	return skiff_pair_recv(b->ep, &ack, 1);
}

/* GB/s of @iters transfers of @size, or -1. Streams include the command
 * and the final acknowledgement (one round trip per measurement). */
static double measure(const struct bw *b, int m, uint64_t size,
		      uint64_t iters)
{
	uint64_t t0 = skiff_now_ns(), t;

	if (m == M_MEMCPY) {
		for (uint64_t i = 0; i < iters; i++) {
			memcpy(b->mdst, b->ubuf, size);
			__asm__ __volatile__("" ::: "memory");
		}
	} else if (stream_method(m)) {
		if (stream(b, m, size, iters) < 0)
			return -1;
	} else {
		for (uint64_t i = 0; i < iters; i++)
			if (rma_once(b, m, size) < 0)
				return -1;
	}
	t = skiff_now_ns() - t0;
	return t ? (double)size * (double)iters / (double)t : 0;
}

/* ---- the child: the target ---- */

static void child_main(struct skiff_pair *p, uint64_t max, uint64_t smax,
		       int tcp_port)
{
	scif_epd_t ep = p->ep[0];
	unsigned char *win, *rbuf;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	off_t off;
	int tcp;
	struct cmd c;

	win = skiff_touched(max, 0x11);
	rbuf = skiff_touched(smax, 0);
	if (!win || !rbuf) {
		skiff_err("bench bw: child: out of memory");
		skiff_pair_finish(p, 1);
	}
	off = scif_register(ep, win, max, 0, SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	if (off == SCIF_REGISTER_FAILED) {
		skiff_err("bench bw: child: scif_register: %s", strerror(errno));
		skiff_pair_finish(p, 1);
	}
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)tcp_port);
	if (tcp < 0 || connect(tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    nodelay(tcp) < 0) {
		skiff_err("bench bw: child: TCP connect: %s", strerror(errno));
		skiff_pair_finish(p, 1);
	}
	if (skiff_pair_send(ep, &off, sizeof(off)) < 0)
		goto lost;
	for (;;) {
		char ack = 1;

		if (skiff_pair_recv(ep, &c, sizeof(c)) < 0)
			goto lost;
		if (c.op == C_END)
			break;
		if (c.size > smax)
			goto lost;
		if (c.op == C_STREAM) {
			for (uint64_t i = 0; i < c.iters; i++)
				if (skiff_pair_recv(ep, rbuf, c.size) < 0)
					goto lost;
			if (skiff_pair_send(ep, &ack, 1) < 0)
				goto lost;
		} else {
			uint64_t left = c.size * c.iters;

			while (left) {
				ssize_t r = read(tcp, rbuf, left < c.size ? left : c.size);

				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					goto lost;
				left -= (uint64_t)r;
			}
			if (skiff_write_all(tcp, &ack, 1) < 0)
				goto lost;
		}
	}
	close(tcp);
	scif_unregister(ep, off, max);
	skiff_pair_finish(p, 0);
lost:
	skiff_err("bench bw: child: %s", strerror(errno));
	skiff_pair_finish(p, 1);
}

/* ---- the plot ---- */

/* Can @file be written? Checked by opening it (and removing it again if
 * this made it). */
static int check_writable(const char *file)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0) {
		close(fd);
		unlink(file);
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Throughput on log-log axes above; below, each method as a ratio of
 * memcpy with the goal (0.9x at 1 MiB, 1.0x from 16 MiB), where the
 * sizes that matter are not squashed into the bottom of a linear axis.
 * Every line has its own colour, dash type and point type. */
static int plot(const char *file, const uint64_t *sizes, unsigned nsizes,
		double med[][NMETH], const char *subtitle)
{
	const char *term = system("gnuplot -e 'set terminal pngcairo' "
				  ">/dev/null 2>&1") == 0 ? "pngcairo" : "png";
	/* gnuplot writes a PNG to stdout if it cannot open the output:
	 * never onto the user's terminal */
	FILE *g = popen("gnuplot >/dev/null", "w");
	char sz[32];
	int st;

	if (!g)
		return -1;
	fprintf(g, "set terminal %s size 1000,900 font ',10'\n", term);
	fprintf(g, "set output '%s'\n", file);
	fprintf(g, "$d << EOD\nsize");
	for (int m = 0; m < NMETH; m++)
		fprintf(g, " \"%s\"", meth_name[m]);
	fprintf(g, "\n");
	for (unsigned i = 0; i < nsizes; i++) {
		fprintf(g, "%llu", (unsigned long long)sizes[i]);
		for (int m = 0; m < NMETH; m++) {
			if (med[i][m] <= 0)
				fprintf(g, " NaN");
			else
				fprintf(g, " %.4f", med[i][m]);
		}
		fprintf(g, "\n");
	}
	fprintf(g, "EOD\nset multiplot layout 2,1 title \"skiff: throughput vs "
		   "transfer size (scif bench bw)\\n%s\" noenhanced\n",
		   subtitle);
	fprintf(g, "set logscale x 2\nset grid\nset key outside right top "
		   "noenhanced\nset xtics (");
	for (unsigned i = 0; i < nsizes; i++) {
		skiff_size_str(sizes[i], sz);
		fprintf(g, "%s\"%s\" %llu", i ? ", " : "", sz,
			(unsigned long long)sizes[i]);
	}
	fprintf(g, ")\nset xrange [%g:%g]\nset style data linespoints\n",
		(double)sizes[0] / 1.4, (double)sizes[nsizes - 1] * 1.4);
	/* top: GB/s, log scale; memcpy (the limit) thick black */
	fprintf(g, "set ylabel 'GB/s (log)'\nset logscale y 10\n"
		   "plot $d using 1:2 title columnheader(2) lw 3 dt 1 pt 7 "
		   "ps 0.8 lc rgb 'black', for [i=3:%d] $d using 1:i title "
		   "columnheader(i) lw 1.5 dt i-1 pt (i - 1) ps 0.9 "
		   "lc (i - 2)\n", NMETH + 1);
	/* bottom: ratio to memcpy, with the goal */
	fprintf(g, "unset logscale y\nset ylabel 'ratio to memcpy'\n"
		   "set yrange [0:*]\nset xlabel 'transfer size'\n"
		   "set arrow 1 from %llu, graph 0 to %llu, graph 1 nohead "
		   "dt 3 lc rgb 'gray40'\n"
		   "set samples 400\n"
		   "plot (x >= %llu ? 1.0 : x >= %llu ? 0.9 : 1/0) title "
		   "'goal: 0.9x at 1 MiB, 1.0x from 16 MiB' lw 2 dt 1 "
		   "lc rgb 'red' with lines, for [i=3:%d] $d using 1:(column(i)"
		   "/column(2)) title columnheader(i) lw 1.5 dt i-1 "
		   "pt (i - 1) ps 0.9 lc (i - 2)\n",
		   1ull << 20, 1ull << 20, 16ull << 20, 1ull << 20, NMETH + 1);
	fprintf(g, "unset multiplot\n");
	st = pclose(g);
	return st == 0 ? 0 : -1;
}

/* ---- the parent ---- */

int skiff_bench_bw(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "sizes", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "stream-max", required_argument, NULL, 'S' },
		{ "plot", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "pin-engine", no_argument, NULL, 'E' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char fabric[SKIFF_FABRIC_MAX + 1], sz[32], subtitle[256];
	const char *fab = NULL, *plotfile = NULL, *list = NULL;
	uint64_t max = 256 * MiB, smax = 16 * MiB, sizes[MAX_SIZES];
	unsigned long long v;
	unsigned rounds = 5, ms = 20, nsizes = 0, misses = 0, goals = 0;
	int json = 0, dopin = 1, pin_engine = 0, opt, lsock = -1, tport = 0;
	int ret = SKIFF_EXIT_FAIL;
	double (*med)[NMETH] = NULL, (*lo)[NMETH] = NULL, (*hi)[NMETH] = NULL;
	uint64_t (*iters)[NMETH] = NULL;
	struct bw b = { .tcp = -1 };
	const char *chan_env = getenv("SKIFF_DMA_CHANNELS");
	const char *nt_env = getenv("SKIFF_NT_MIN");
	uint64_t t_start;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:s:r:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (skiff_parse_size(optarg, &max) < 0 || max < 4096)
				goto bad_arg;
			break;
		case 's':
			list = optarg;
			break;
		case 'S':
			if (skiff_parse_size(optarg, &smax) < 0)
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
		case 'p':
			plotfile = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'P':
			dopin = 0;
			break;
		case 'E':
			pin_engine = 1;
			break;
		case 'f':
			fab = optarg;
			break;
		case 'h':
			fputs(bw_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(bw_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fputs(bw_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;
	if (list) {
		if (skiff_parse_sizes(list, sizes, MAX_SIZES, &nsizes) < 0) {
			skiff_err("bench bw: bad --sizes '%s'", list);
			return SKIFF_EXIT_USAGE;
		}
		max = sizes[nsizes - 1];
	} else {
		for (uint64_t s = 4 * KiB; s <= max && nsizes < MAX_SIZES; s *= 4)
			sizes[nsizes++] = s;
		if (!nsizes)
			sizes[nsizes++] = max;
	}
	/* windows are whole pages */
	max = (max + 4095) & ~4095ull;
	if (smax > max)
		smax = max;
	if (smax > (1u << 30))
		smax = 1u << 30;
	if (plotfile && (strchr(plotfile, '\'') || strchr(plotfile, '\n'))) {
		skiff_err("bench bw: --plot: no quotes or newlines in the name");
		return SKIFF_EXIT_USAGE;
	}
	if (plotfile && check_writable(plotfile) < 0) {
		/* before a bench of many seconds, not after it */
		skiff_err("bench bw: --plot %s: %s", plotfile, strerror(errno));
		return SKIFF_EXIT_USAGE;
	}
	if (plotfile && !have_gnuplot()) {
		skiff_err("bench bw: --plot needs gnuplot, which is not "
			  "installed (Debian: apt-get install gnuplot-nox)");
		return SKIFF_EXIT_FAIL;
	}

	lsock = skiff_tcp_listener(&tport);
	if (lsock < 0) {
		skiff_err("bench bw: TCP listener on 127.0.0.1: %s",
			  strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	if (skiff_pair_start(&b.pair, "bench bw", 1, dopin, pin_engine) < 0) {
		close(lsock);
		return SKIFF_EXIT_FAIL;
	}
	if (b.pair.is_child) {
		close(lsock);
		child_main(&b.pair, max, smax, tport);
	}
	b.ep = b.pair.ep[0];
	b.tcp = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	close(lsock);
	if (b.tcp < 0 || nodelay(b.tcp) < 0) {
		skiff_err("bench bw: TCP accept: %s", strerror(errno));
		goto out;
	}
	med = calloc(nsizes, sizeof(*med));
	lo = calloc(nsizes, sizeof(*lo));
	hi = calloc(nsizes, sizeof(*hi));
	iters = calloc(nsizes, sizeof(*iters));
	b.win = skiff_touched(max, 0x22);
	b.ubuf = skiff_touched(max, 0x33);
	b.mdst = skiff_touched(max, 0x44);
	if (!med || !lo || !hi || !iters || !b.win || !b.ubuf || !b.mdst) {
		skiff_err("bench bw: out of memory (3 x %llu bytes)",
			  (unsigned long long)max);
		goto out;
	}
	t_start = skiff_now_ns();
	b.loff = scif_register(b.ep, b.win, max, 0,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	if (b.loff == SCIF_REGISTER_FAILED) {
		skiff_err("bench bw: scif_register: %s", strerror(errno));
		goto out;
	}
	if (skiff_pair_recv(b.ep, &b.roff, sizeof(b.roff)) < 0) {
		skiff_err("bench bw: no window from the child: %s",
			  strerror(errno));
		goto out;
	}
	/* the first asynchronous RMA starts the DMA engine; its channel
	 * threads inherit this thread's CPU set, so pin only afterwards
	 * (unless --pin-engine) */
	if (rma_once(&b, M_WRITETO, 4096) < 0) {
		skiff_err("bench bw: scif_writeto: %s", strerror(errno));
		goto out;
	}
	if (!pin_engine && skiff_pair_pin(b.pair.cpu[0]) < 0)
		skiff_err("bench bw: sched_setaffinity: %s", strerror(errno));
	if (!json) {
		printf("scif bench bw: %u sizes up to %s, median GB/s of %u "
		       "alternating rounds, ~%u ms per measurement\n", nsizes,
		       skiff_size_str(max, sz), rounds, ms);
		if (b.pair.cpu[0] >= 0)
			printf("cpus: parent (initiator) on CPU %d, child "
			       "(target) on CPU %d; DMA engine threads %s\n",
			       b.pair.cpu[0], b.pair.cpu[1],
			       pin_engine ? "pinned with the parent (--pin-engine)"
					  : "not pinned (started before pinning)");
		else
			printf("cpus: not pinned\n");
		printf("engine: SKIFF_DMA_CHANNELS=%s, SKIFF_NT_MIN=%s; "
		       "windows of %s registered in %.1f ms (parent side)\n",
		       chan_env ? chan_env : "(default 2)",
		       nt_env ? nt_env : "(default 4 MiB)", sz,
		       (double)(skiff_now_ns() - t_start) / 1e6);
		printf("RMA = submit + scif_fence_mark/scif_fence_wait; "
		       "send/recv and TCP stream up to %s\n\n",
		       skiff_size_str(smax, sz));
		fflush(stdout);
	}

	for (unsigned si = 0; si < nsizes; si++) {
		uint64_t size = sizes[si];
		double r[NMETH][MAX_ROUNDS];

		if (!json)
			skiff_progress("bench bw", si, nsizes,
				       skiff_size_str(size, sz));

		for (int m = 0; m < NMETH; m++) {
			uint64_t t0, dt;

			med[si][m] = lo[si][m] = hi[si][m] = -1;
			iters[si][m] = 0;
			if (stream_method(m) && size > smax)
				continue;
			/* warm up, then size the measurement */
			if (measure(&b, m, size, 1) < 0)
				goto failed;
			t0 = skiff_now_ns();
			if (measure(&b, m, size, 2) < 0)
				goto failed;
			dt = (skiff_now_ns() - t0) / 2 + 1;
			iters[si][m] = (uint64_t)ms * 1000000 / dt;
			if (iters[si][m] < 1)
				iters[si][m] = 1;
			continue;
failed:
			skiff_err("bench bw: %s of %s: %s", meth_name[m],
				  skiff_size_str(size, sz), strerror(errno));
			goto out;
		}
		for (unsigned k = 0; k < rounds; k++)
			for (int m = 0; m < NMETH; m++) {
				if (!iters[si][m])
					continue;
				r[m][k] = measure(&b, m, size, iters[si][m]);
				if (r[m][k] < 0) {
					skiff_err("bench bw: %s of %s: %s",
						  meth_name[m],
						  skiff_size_str(size, sz),
						  strerror(errno));
					goto out;
				}
			}
		for (int m = 0; m < NMETH; m++) {
			if (!iters[si][m])
				continue;
			qsort(r[m], rounds, sizeof(double), skiff_cmp_double);
			med[si][m] = skiff_percentile(r[m], rounds, 0.5);
			lo[si][m] = r[m][0];
			hi[si][m] = r[m][rounds - 1];
		}
	}
	if (!json)
		skiff_progress("bench bw", nsizes, nsizes, "");
	{
		struct cmd c = { .op = C_END };

		if (skiff_pair_send(b.ep, &c, sizeof(c)) < 0)
			goto out;
	}
	close(b.tcp);
	b.tcp = -1;
	scif_unregister(b.ep, b.loff, max);
	if (skiff_pair_finish(&b.pair, 0) < 0)
		skiff_err("bench bw: the child failed");

	if (json) {
		printf("{\"bench\":\"bw\",\"rounds\":%u,\"ms_per_measurement\":%u,"
		       "\"max\":%llu,\"stream_max\":%llu,", rounds, ms,
		       (unsigned long long)max, (unsigned long long)smax);
		if (b.pair.cpu[0] >= 0)
			printf("\"cpus\":{\"parent\":%d,\"child\":%d},",
			       b.pair.cpu[0], b.pair.cpu[1]);
		else
			printf("\"cpus\":null,");
		printf("\"engine_pinned\":%s,\"dma_channels\":", pin_engine ? "true" : "false");
		if (chan_env)
			skiff_json_string(stdout, chan_env);
		else
			printf("null");
		printf(",\"nt_min\":");
		if (nt_env)
			skiff_json_string(stdout, nt_env);
		else
			printf("null");
		printf(",\"goals\":{\"1MiB\":%.2f,\"from_16MiB\":%.2f},"
		       "\"results\":[", GOAL_1M, GOAL_BIG);
	} else {
		struct skiff_table t;

		skiff_table_init(&t, 2 + NMETH + NRMA, 0x1ffe);
		skiff_table_cell(&t, "size");
		for (int m = 0; m < NMETH; m++)
			skiff_table_cell(&t, "%s", meth_name[m]);
		for (int m = 0; m < NRMA; m++)
			skiff_table_cell(&t, "%s", ratio_head[m]);
		skiff_table_cell(&t, "goal");
		for (unsigned si = 0; si < nsizes; si++) {
			double goal = sizes[si] == MiB ? GOAL_1M :
				      sizes[si] >= GOAL_BIG_FROM ? GOAL_BIG : 0;
			char g[64] = "-";

			skiff_table_cell(&t, "%s", skiff_size_str(sizes[si], sz));
			for (int m = 0; m < NMETH; m++)
				if (med[si][m] < 0)
					skiff_table_cell(&t, "-");
				else
					skiff_table_cell(&t, "%.2f", med[si][m]);
			for (int m = 1; m <= NRMA; m++)
				skiff_table_cell(&t, "%.2f",
						 med[si][m] / med[si][M_MEMCPY]);
			if (goal > 0) {
				size_t n = 0;

				goals++;
				for (int m = 1; m <= NRMA; m++)
					if (med[si][m] / med[si][M_MEMCPY] < goal)
						n += (size_t)snprintf(g + n, sizeof(g) - n,
							"%s%s", n ? "," : "MISS ",
							ratio_head[m - 1]);
				if (!n)
					snprintf(g, sizeof(g), "PASS >=%.1f", goal);
				else
					misses++;
			}
			skiff_table_cell(&t, "%s", g);
		}
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		printf("\nGB/s = 1e9 bytes/s; mc = memcpy in the parent (the "
		       "limit). goals: every RMA/mc >= %.1f at 1 MiB and >= %.1f "
		       "from 16 MiB: ", GOAL_1M, GOAL_BIG);
		if (goals)
			printf("%u of %u sizes PASS\n", goals - misses, goals);
		else
			printf("no such size in this run\n");
	}
	if (json) {
		for (unsigned si = 0; si < nsizes; si++) {
			double goal = sizes[si] == MiB ? GOAL_1M :
				      sizes[si] >= GOAL_BIG_FROM ? GOAL_BIG : 0;
			int pass = 1;

			printf("%s{\"size\":%llu,\"gbps\":{", si ? "," : "",
			       (unsigned long long)sizes[si]);
			for (int m = 0; m < NMETH; m++) {
				printf("%s\"%s\":", m ? "," : "", meth_key[m]);
				if (med[si][m] < 0)
					printf("null");
				else
					printf("%.3f", med[si][m]);
			}
			printf("},\"min_gbps\":{");
			for (int m = 0; m < NMETH; m++) {
				printf("%s\"%s\":", m ? "," : "", meth_key[m]);
				if (lo[si][m] < 0)
					printf("null");
				else
					printf("%.3f", lo[si][m]);
			}
			printf("},\"max_gbps\":{");
			for (int m = 0; m < NMETH; m++) {
				printf("%s\"%s\":", m ? "," : "", meth_key[m]);
				if (hi[si][m] < 0)
					printf("null");
				else
					printf("%.3f", hi[si][m]);
			}
			printf("},\"iters\":{");
			for (int m = 0; m < NMETH; m++)
				printf("%s\"%s\":%llu", m ? "," : "", meth_key[m],
				       (unsigned long long)iters[si][m]);
			printf("},\"ratio_memcpy\":{");
			for (int m = 1; m < NMETH; m++) {
				double q = med[si][m] < 0 ? -1 :
					   med[si][m] / med[si][M_MEMCPY];

				printf("%s\"%s\":", m > 1 ? "," : "", meth_key[m]);
				if (q < 0)
					printf("null");
				else
					printf("%.3f", q);
				if (m <= NRMA && goal > 0 && q < goal)
					pass = 0;
			}
			printf("},\"goal\":");
			if (goal > 0) {
				printf("%.2f,\"pass\":%s}", goal,
				       pass ? "true" : "false");
				goals++;
				misses += !pass;
			} else {
				printf("null,\"pass\":null}");
			}
		}
		printf("],\"goal_sizes\":%u,\"goal_misses\":%u}\n", goals, misses);
	}
	ret = SKIFF_EXIT_OK; /* a benchmark: a MISS is not a failure */
	if (plotfile) {
		snprintf(subtitle, sizeof(subtitle),
			 "median of %u rounds; parent CPU %d, child CPU %d; "
			 "%s DMA channels, NT stores from %s", rounds,
			 b.pair.cpu[0], b.pair.cpu[1],
			 chan_env ? chan_env : "2", nt_env ? nt_env : "4 MiB");
		if (plot(plotfile, sizes, nsizes, med, subtitle) < 0) {
			skiff_err("bench bw: gnuplot failed for %s", plotfile);
			ret = SKIFF_EXIT_FAIL;
		} else if (!json) {
			printf("plot: %s\n", plotfile);
		}
	}
out:
	if (b.tcp >= 0)
		close(b.tcp);
	skiff_pair_abort(&b.pair);
	if (b.win)
		munmap(b.win, max);
	if (b.ubuf)
		munmap(b.ubuf, max);
	if (b.mdst)
		munmap(b.mdst, max);
	free(med);
	free(lo);
	free(hi);
	free(iters);
	return ret;

bad_arg:
	skiff_err("bench bw: bad value '%s' for --%s", optarg,
		  opt == 'm' ? "max" : opt == 'S' ? "stream-max" :
		  opt == 'r' ? "rounds" : "time");
	return SKIFF_EXIT_USAGE;
}
