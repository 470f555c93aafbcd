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

#include "bench_fab.h"
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
	"      --fabric NAME     fabric (default: SCIF_FABRIC)\n"
	"\n"
	"Remote mode (the target may be on another host of the fabric):\n"
	"      --serve PORT      be the target for one client on PORT of this\n"
	"                        node (SCIF_NODE), with a window of -m bytes\n"
	"                        (default 64M); prints 'serving on node N port P'\n"
	"      --timeout SEC     --serve waits this long for the client (default\n"
	"                        120; 0: no limit)\n"
	"      --node N, --port PORT\n"
	"                        the initiator, against that target, instead of a\n"
	"                        forked child: the four RMA calls, writeto SYNC and\n"
	"                        send/recv, 64K..MAX (default 64M), ~100 ms\n"
	"                        per measurement unless -t\n"
	"      --fabric-peer ADDR[:PORT]\n"
	"                        and, in the same rounds, a raw fi_write stream\n"
	"                        (16 in flight) to a 'scif bench fabric serve'\n"
	"                        there: the limit, goal RMA >= 0.9x from 1 MiB\n";

enum {
	M_MEMCPY, M_WRITETO, M_READFROM, M_VWRITETO, M_VREADFROM,
	M_WRITETO_SYNC, M_SENDRECV, M_TCP, M_FIWRITE, NMETH
};
#define NRMA 4 /* M_WRITETO .. M_VREADFROM: the goals apply to these */
static const char *const meth_name[NMETH] = {
	"memcpy", "writeto", "readfrom", "vwriteto", "vreadfrom",
	"writeto SYNC", "send/recv", "TCP", "fi_write"
};
static const char *const meth_key[NMETH] = {
	"memcpy", "writeto", "readfrom", "vwriteto", "vreadfrom",
	"writeto_sync", "send_recv", "tcp", "fi_write"
};
static const char *const ratio_head[NRMA] = { "wr/mc", "rd/mc", "vwr/mc", "vrd/mc" };
/* remote mode: against the raw fi_write stream */
static const char *const ratio_head_fw[NRMA] = { "wr/fw", "rd/fw", "vwr/fw", "vrd/fw" };
#define GOAL_REMOTE 0.9 /* RMA >= 0.9x fi_write from 1 MiB (issue 10) */
#define GOAL_REMOTE_FROM MiB

/* parent -> child commands, on ep[0] */
enum { C_END, C_STREAM, C_TCP };
struct cmd {
	uint32_t op, pad;
	uint64_t size, iters;
};

/* target -> initiator: its window, checked by the initiator (in remote
 * mode the target is another program, perhaps on another host) */
struct win_info {
	int64_t off;
	uint64_t len;	 /* bytes of window at off */
	uint64_t smax;	 /* largest stream size it takes */
};

struct bw {
	struct skiff_pair pair;
	int remote;	    /* --node: no child, no memcpy, no TCP */
	struct skiff_fabc *fc; /* --fabric-peer: the fi_write limit */
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

/* Is method @m measured in this run? Locally, all but fi_write (the
 * output is what it was before the remote mode); remotely, the scif calls
 * and, with a fabric peer, fi_write: memcpy and TCP loopback are local
 * limits, not those of a link between hosts. */
static int avail(const struct bw *b, int m)
{
	if (!b->remote)
		return m != M_FIWRITE;
	if (m == M_FIWRITE)
		return b->fc != NULL;
	return m != M_MEMCPY && m != M_TCP;
}

/* The limit the ratios are taken against, or -1 (remote, no fabric peer) */
static int base_method(const struct bw *b)
{
	return !b->remote ? M_MEMCPY : b->fc ? M_FIWRITE : -1;
}

/* The goal at @size: 0 if none applies there. */
static double goal_at(const struct bw *b, uint64_t size)
{
	if (b->remote)
		return b->fc && size >= GOAL_REMOTE_FROM ? GOAL_REMOTE : 0;
	return size == MiB ? GOAL_1M : size >= GOAL_BIG_FROM ? GOAL_BIG : 0;
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
	} else if (m == M_FIWRITE) {
		double g;

		/* timed inside, from the first write to the check after
		 * the last: the same span as an RMA measurement */
		if (skiff_fabc_write(b->fc, size, iters, SKIFF_FABB_WINDOW,
				     &g) < 0) {
			errno = EIO;
			return -1;
		}
		return g;
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

/* ---- the target: the forked child, or --serve ---- */

/*
 * Register a window of @max bytes, tell the initiator, then follow its
 * commands until C_END. @tcp_port: the initiator's TCP loopback listener
 * (local mode), or -1. Returns the exit status.
 */
static int target_serve(scif_epd_t ep, uint64_t max, uint64_t smax,
			int tcp_port)
{
	unsigned char *win, *rbuf;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct win_info wi = { .len = max, .smax = smax };
	off_t off;
	int tcp = -1;
	struct cmd c;

	win = skiff_touched(max, 0x11);
	rbuf = skiff_touched(smax, 0);
	if (!win || !rbuf) {
		skiff_err("bench bw: target: out of memory");
		return 1;
	}
	off = scif_register(ep, win, max, 0, SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	if (off == SCIF_REGISTER_FAILED) {
		skiff_err("bench bw: target: scif_register: %s", strerror(errno));
		return 1;
	}
	if (tcp_port >= 0) {
		tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)tcp_port);
		if (tcp < 0 ||
		    connect(tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    nodelay(tcp) < 0) {
			skiff_err("bench bw: child: TCP connect: %s",
				  strerror(errno));
			return 1;
		}
	}
	wi.off = (int64_t)off;
	if (skiff_pair_send(ep, &wi, sizeof(wi)) < 0)
		goto lost;
	for (;;) {
		char ack = 1;

		if (skiff_pair_recv(ep, &c, sizeof(c)) < 0)
			goto lost;
		if (c.op == C_END)
			break;
		/* the initiator may be another program: nothing it asks
		 * goes beyond the buffer or to a socket there is not */
		if (c.size > smax || (c.op == C_TCP && tcp < 0) ||
		    (c.op != C_STREAM && c.op != C_TCP)) {
			errno = EPROTO;
			goto lost;
		}
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
	if (tcp >= 0)
		close(tcp);
	scif_unregister(ep, off, max);
	munmap(win, max);
	munmap(rbuf, smax);
	return 0;
lost:
	skiff_err("bench bw: target: %s", strerror(errno));
	return 1;
}

static void child_main(struct skiff_pair *p, uint64_t max, uint64_t smax,
		       int tcp_port)
{
	skiff_pair_finish(p, target_serve(p->ep[0], max, smax, tcp_port));
}

/* --serve: the target of one remote initiator. */
static int bw_serve(uint16_t port, uint64_t max, uint64_t smax,
		    unsigned timeout_s)
{
	scif_epd_t ep = skiff_remote_accept("scif bench bw", port, timeout_s);
	int st;

	if (ep == SCIF_OPEN_FAILED)
		return SKIFF_EXIT_FAIL;
	st = target_serve(ep, max, smax, -1);
	scif_close(ep);
	if (!st)
		printf("scif bench bw: client done\n");
	return st ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
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

/* ---- the initiator: the parent, or --node ---- */

/* Remote mode: connect to the target (and the fabric peer), register the
 * initiator's window. 0, or -1 after saying why. */
static int remote_start(struct bw *b, uint16_t node, uint16_t port,
			const char *fabric_peer, uint64_t max, uint64_t *smax)
{
	struct win_info wi;
	char why[512];

	if (fabric_peer && skiff_fabc_open(&b->fc, fabric_peer, max, 10000,
					   why, sizeof(why)) < 0) {
		skiff_err("bench bw: --fabric-peer %s", why);
		return -1;
	}
	b->ep = skiff_remote_connect("bench bw", node, port);
	if (b->ep == SCIF_OPEN_FAILED)
		return -1;
	if (skiff_pair_recv(b->ep, &wi, sizeof(wi)) < 0) {
		skiff_err("bench bw: no window from the target: %s",
			  strerror(errno));
		return -1;
	}
	/* from another program: checked before any RMA relies on it */
	if (wi.off < 0 || wi.len < max || wi.off + (int64_t)max < wi.off) {
		skiff_err("bench bw: the target's window (%llu bytes at "
			  "offset %lld) is smaller than --max %llu: start "
			  "'scif bench bw --serve' with -m %lluK or more",
			  (unsigned long long)wi.len, (long long)wi.off,
			  (unsigned long long)max,
			  (unsigned long long)(max + 1023) / 1024);
		return -1;
	}
	b->roff = (off_t)wi.off;
	if (wi.smax < *smax)
		*smax = wi.smax; /* stream no more than it takes */
	return 0;
}

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
		{ "serve", required_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "node", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'o' },
		{ "fabric-peer", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char fabric[SKIFF_FABRIC_MAX + 1], sz[32], subtitle[256];
	const char *fab = NULL, *plotfile = NULL, *list = NULL;
	const char *fabric_peer = NULL;
	uint64_t max = 256 * MiB, smax = 16 * MiB, sizes[MAX_SIZES];
	unsigned long long v;
	unsigned rounds = 5, ms = 20, nsizes = 0, misses = 0, goals = 0;
	unsigned timeout_s = 120;
	int json = 0, dopin = 1, pin_engine = 0, opt, lsock = -1, tport = 0;
	int ret = SKIFF_EXIT_FAIL, max_set = 0, ms_set = 0, base;
	long serve = -1, rnode = -1, rport = -1;
	double (*med)[NMETH] = NULL, (*lo)[NMETH] = NULL, (*hi)[NMETH] = NULL;
	uint64_t (*iters)[NMETH] = NULL;
	struct bw b = { .tcp = -1 };
	const char *chan_env = getenv("SKIFF_DMA_CHANNELS");
	const char *nt_env = getenv("SKIFF_NT_MIN");
	const char *const *rhead;
	uint64_t t_start;

	b.ep = SCIF_OPEN_FAILED;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:s:r:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (skiff_parse_size(optarg, &max) < 0 || max < 4096)
				goto bad_arg;
			max_set = 1;
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
			ms_set = 1;
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
		case 'V':
		case 'o':
			/* --serve 0: a free port, shown in the ready line */
			if (skiff_parse_ull(optarg, opt == 'V' ? 0 : 1,
					    UINT16_MAX, &v) < 0)
				goto bad_arg;
			*(opt == 'V' ? &serve : &rport) = (long)v;
			break;
		case 'N':
			if (skiff_parse_ull(optarg, 0, SKIFF_MAX_NODE, &v) < 0)
				goto bad_arg;
			rnode = (long)v;
			break;
		case 'T':
			if (skiff_parse_ull(optarg, 0, 86400, &v) < 0)
				goto bad_arg;
			timeout_s = (unsigned)v;
			break;
		case 'F':
			fabric_peer = optarg;
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
	if (serve >= 0 && (rnode >= 0 || rport >= 0 || fabric_peer)) {
		skiff_err("bench bw: --serve is the target; --node, --port and "
			  "--fabric-peer are the initiator's");
		return SKIFF_EXIT_USAGE;
	}
	if ((rnode >= 0) != (rport >= 0) || (fabric_peer && rnode < 0)) {
		skiff_err("bench bw: the remote mode needs --node N and --port "
			  "PORT (of a 'scif bench bw --serve PORT')");
		return SKIFF_EXIT_USAGE;
	}
	b.remote = rnode >= 0;
	if ((serve >= 0 || b.remote) && !max_set)
		max = 64 * MiB; /* the sizes of scif bench fabric write */
	if (b.remote && !ms_set)
		ms = 100; /* a 64 MiB fi_write takes ~10-30 ms over TCP */
	if (serve >= 0) {
		max = (max + 4095) & ~4095ull;
		if (smax > max)
			smax = max;
		if (smax > (1u << 30))
			smax = 1u << 30;
		return bw_serve((uint16_t)serve, max, smax, timeout_s);
	}
	if (b.remote && plotfile) {
		skiff_err("bench bw: --plot is for the local mode");
		return SKIFF_EXIT_USAGE;
	}
	if (list) {
		if (skiff_parse_sizes(list, sizes, MAX_SIZES, &nsizes) < 0) {
			skiff_err("bench bw: bad --sizes '%s'", list);
			return SKIFF_EXIT_USAGE;
		}
		max = sizes[nsizes - 1];
	} else {
		/* remotely from 64 KiB, as scif bench fabric write */
		for (uint64_t s = b.remote ? 64 * KiB : 4 * KiB;
		     s <= max && nsizes < MAX_SIZES; s *= 4)
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

	if (b.remote) {
		/* one process: nothing to fork, pin or stream over TCP */
		b.pair.cpu[0] = b.pair.cpu[1] = -1;
		if (remote_start(&b, (uint16_t)rnode, (uint16_t)rport,
				 fabric_peer, max, &smax) < 0)
			goto out;
	} else {
		lsock = skiff_tcp_listener(&tport);
		if (lsock < 0) {
			skiff_err("bench bw: TCP listener on 127.0.0.1: %s",
				  strerror(errno));
			return SKIFF_EXIT_FAIL;
		}
		if (skiff_pair_start(&b.pair, "bench bw", 1, dopin,
				     pin_engine) < 0) {
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
	}
	base = base_method(&b);
	rhead = b.remote ? ratio_head_fw : ratio_head;
	med = calloc(nsizes, sizeof(*med));
	lo = calloc(nsizes, sizeof(*lo));
	hi = calloc(nsizes, sizeof(*hi));
	iters = calloc(nsizes, sizeof(*iters));
	b.win = skiff_touched(max, 0x22);
	b.ubuf = skiff_touched(max, 0x33);
	if (!b.remote)
		b.mdst = skiff_touched(max, 0x44);
	if (!med || !lo || !hi || !iters || !b.win || !b.ubuf ||
	    (!b.remote && !b.mdst)) {
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
	if (!b.remote) {
		struct win_info wi;

		if (skiff_pair_recv(b.ep, &wi, sizeof(wi)) < 0) {
			skiff_err("bench bw: no window from the child: %s",
				  strerror(errno));
			goto out;
		}
		b.roff = (off_t)wi.off;
	}
	/* the first asynchronous RMA starts the DMA engine; its channel
	 * threads inherit this thread's CPU set, so pin only afterwards
	 * (unless --pin-engine) */
	if (rma_once(&b, M_WRITETO, 4096) < 0) {
		skiff_err("bench bw: scif_writeto: %s", strerror(errno));
		goto out;
	}
	if (!b.remote && !pin_engine && skiff_pair_pin(b.pair.cpu[0]) < 0)
		skiff_err("bench bw: sched_setaffinity: %s", strerror(errno));
	if (!json) {
		if (b.remote)
			printf("scif bench bw: node %ld port %ld, %u sizes up to "
			       "%s, median GB/s of %u alternating rounds, ~%u "
			       "ms per measurement\n", rnode, rport, nsizes,
			       skiff_size_str(max, sz), rounds, ms);
		else
			printf("scif bench bw: %u sizes up to %s, median GB/s of "
			       "%u alternating rounds, ~%u ms per measurement\n",
			       nsizes, skiff_size_str(max, sz), rounds, ms);
		if (b.remote)
			printf("cpus: not pinned (remote mode)\n");
		else if (b.pair.cpu[0] >= 0)
			printf("cpus: parent (initiator) on CPU %d, child "
			       "(target) on CPU %d; DMA engine threads %s\n",
			       b.pair.cpu[0], b.pair.cpu[1],
			       pin_engine ? "pinned with the parent (--pin-engine)"
					  : "not pinned (started before pinning)");
		else
			printf("cpus: not pinned\n");
		printf("engine: SKIFF_DMA_CHANNELS=%s, SKIFF_NT_MIN=%s; "
		       "windows of %s registered in %.1f ms (%s side)\n",
		       chan_env ? chan_env : "(default 2)",
		       nt_env ? nt_env : "(default 4 MiB)", sz,
		       (double)(skiff_now_ns() - t_start) / 1e6,
		       b.remote ? "initiator" : "parent");
		if (b.remote && b.fc)
			printf("limit: fi_write stream to %s (provider %s, %d "
			       "in flight), in the same rounds\n",
			       skiff_fabc_peer(b.fc), skiff_fabc_provider(b.fc),
			       SKIFF_FABB_WINDOW);
		else if (b.remote)
			printf("no limit: --fabric-peer ADDR[:PORT] of a 'scif "
			       "bench fabric serve' measures fi_write in the "
			       "same run\n");
		printf(b.remote ? "RMA = submit + scif_fence_mark/scif_fence_wait; "
				  "send/recv streams up to %s\n\n"
				: "RMA = submit + scif_fence_mark/scif_fence_wait; "
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
			if (!avail(&b, m) || (stream_method(m) && size > smax))
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
			/* over a network two transfers say little (one late
			 * packet, and a stream ends with a round trip): one
			 * more pass at the estimated count corrects it */
			if (b.remote && iters[si][m] > 2) {
				t0 = skiff_now_ns();
				if (measure(&b, m, size, iters[si][m]) < 0)
					goto failed;
				dt = skiff_now_ns() - t0 + 1;
				iters[si][m] = iters[si][m] * ms * 1000000 / dt;
				if (iters[si][m] < 1)
					iters[si][m] = 1;
			}
			continue;
failed:
			if (m == M_FIWRITE)
				skiff_err("bench bw: fi_write of %s to %s: %s",
					  skiff_size_str(size, sz),
					  skiff_fabc_peer(b.fc),
					  skiff_fabc_error(b.fc));
			else
				skiff_err("bench bw: %s of %s: %s", meth_name[m],
					  skiff_size_str(size, sz),
					  strerror(errno));
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
						  m == M_FIWRITE ?
						  skiff_fabc_error(b.fc) :
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
	if (b.tcp >= 0)
		close(b.tcp);
	b.tcp = -1;
	scif_unregister(b.ep, b.loff, max);
	if (b.remote) {
		scif_close(b.ep);
		b.ep = SCIF_OPEN_FAILED;
	} else if (skiff_pair_finish(&b.pair, 0) < 0) {
		skiff_err("bench bw: the child failed");
	}

	if (json) {
		printf("{\"bench\":\"bw\",");
		if (b.remote) {
			printf("\"mode\":\"remote\",\"node\":%ld,\"port\":%ld,"
			       "\"fabric_peer\":", rnode, rport);
			if (b.fc) {
				skiff_json_string(stdout, skiff_fabc_peer(b.fc));
				printf(",\"provider\":");
				skiff_json_string(stdout,
						  skiff_fabc_provider(b.fc));
				printf(",\"fi_write_window\":%d,",
				       SKIFF_FABB_WINDOW);
			} else {
				printf("null,\"provider\":null,");
			}
		}
		printf("\"rounds\":%u,\"ms_per_measurement\":%u,"
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
		if (b.remote)
			printf(",\"goals\":{\"from_1MiB\":%.2f},\"results\":[",
			       GOAL_REMOTE);
		else
			printf(",\"goals\":{\"1MiB\":%.2f,\"from_16MiB\":%.2f},"
			       "\"results\":[", GOAL_1M, GOAL_BIG);
	} else {
		struct skiff_table t;
		unsigned nav = 0, ncols;

		for (int m = 0; m < NMETH; m++)
			nav += avail(&b, m) != 0;
		ncols = 1 + nav + (base >= 0 ? NRMA + 1 : 0);
		/* numbers right-aligned: all but the first and the goal */
		skiff_table_init(&t, ncols, base >= 0 ?
				 ((1u << (ncols - 1)) - 1) & ~1u :
				 ((1u << ncols) - 1) & ~1u);
		skiff_table_cell(&t, "size");
		for (int m = 0; m < NMETH; m++)
			if (avail(&b, m))
				skiff_table_cell(&t, "%s", meth_name[m]);
		if (base >= 0) {
			for (int m = 0; m < NRMA; m++)
				skiff_table_cell(&t, "%s", rhead[m]);
			skiff_table_cell(&t, "goal");
		}
		for (unsigned si = 0; si < nsizes; si++) {
			double goal = goal_at(&b, sizes[si]);
			char g[64] = "-";

			skiff_table_cell(&t, "%s", skiff_size_str(sizes[si], sz));
			for (int m = 0; m < NMETH; m++) {
				if (!avail(&b, m))
					continue;
				if (med[si][m] < 0)
					skiff_table_cell(&t, "-");
				else
					skiff_table_cell(&t, "%.2f", med[si][m]);
			}
			if (base < 0)
				continue;
			for (int m = 1; m <= NRMA; m++)
				skiff_table_cell(&t, "%.2f",
						 med[si][m] / med[si][base]);
			if (goal > 0) {
				size_t n = 0;

				goals++;
				for (int m = 1; m <= NRMA; m++)
					if (med[si][m] / med[si][base] < goal)
						n += (size_t)snprintf(g + n, sizeof(g) - n,
							"%s%s", n ? "," : "MISS ",
							rhead[m - 1]);
				if (!n)
					snprintf(g, sizeof(g), "PASS >=%.1f", goal);
				else
					misses++;
			}
			skiff_table_cell(&t, "%s", g);
		}
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
		if (b.remote && base >= 0) {
			printf("\nGB/s = 1e9 bytes/s; fw = the fi_write stream "
			       "(the limit). goal: every RMA/fw >= %.1f from 1 "
			       "MiB: ", GOAL_REMOTE);
		} else if (b.remote) {
			printf("\nGB/s = 1e9 bytes/s; no limit measured "
			       "(--fabric-peer), no goal judged\n");
		} else {
			printf("\nGB/s = 1e9 bytes/s; mc = memcpy in the parent (the "
			       "limit). goals: every RMA/mc >= %.1f at 1 MiB and >= %.1f "
			       "from 16 MiB: ", GOAL_1M, GOAL_BIG);
		}
		if (base >= 0 && goals)
			printf("%u of %u sizes PASS\n", goals - misses, goals);
		else if (base >= 0)
			printf("no such size in this run\n");
	}
	if (json) {
		for (unsigned si = 0; si < nsizes; si++) {
			double goal = goal_at(&b, sizes[si]);
			int pass = 1, first;

			printf("%s{\"size\":%llu,\"gbps\":{", si ? "," : "",
			       (unsigned long long)sizes[si]);
			first = 1;
			for (int m = 0; m < NMETH; m++) {
				if (!avail(&b, m))
					continue;
				printf("%s\"%s\":", first ? "" : ",", meth_key[m]);
				first = 0;
				if (med[si][m] < 0)
					printf("null");
				else
					printf("%.3f", med[si][m]);
			}
			printf("},\"min_gbps\":{");
			first = 1;
			for (int m = 0; m < NMETH; m++) {
				if (!avail(&b, m))
					continue;
				printf("%s\"%s\":", first ? "" : ",", meth_key[m]);
				first = 0;
				if (lo[si][m] < 0)
					printf("null");
				else
					printf("%.3f", lo[si][m]);
			}
			printf("},\"max_gbps\":{");
			first = 1;
			for (int m = 0; m < NMETH; m++) {
				if (!avail(&b, m))
					continue;
				printf("%s\"%s\":", first ? "" : ",", meth_key[m]);
				first = 0;
				if (hi[si][m] < 0)
					printf("null");
				else
					printf("%.3f", hi[si][m]);
			}
			printf("},\"iters\":{");
			first = 1;
			for (int m = 0; m < NMETH; m++) {
				if (!avail(&b, m))
					continue;
				printf("%s\"%s\":%llu", first ? "" : ",", meth_key[m],
				       (unsigned long long)iters[si][m]);
				first = 0;
			}
			printf("},\"%s\":", b.remote ? "ratio_fi_write" :
			       "ratio_memcpy");
			if (base < 0) {
				printf("null,\"goal\":null,\"pass\":null}");
				continue;
			}
			printf("{");
			first = 1;
			for (int m = 1; m < NMETH; m++) {
				double q = med[si][m] < 0 ? -1 :
					   med[si][m] / med[si][base];

				if (!avail(&b, m) || m == base)
					continue;
				printf("%s\"%s\":", first ? "" : ",", meth_key[m]);
				first = 0;
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
	if (b.remote && b.ep != SCIF_OPEN_FAILED)
		scif_close(b.ep);
	skiff_fabc_close(b.fc);
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
	for (const struct option *o = opts; o->name; o++)
		if (o->val == opt)
			skiff_err("bench bw: bad value '%s' for --%s", optarg,
				  o->name);
	return SKIFF_EXIT_USAGE;
}
