/* SPDX-License-Identifier: MIT */
/*
 * scif bench stream: blocking scif_send/scif_recv streaming, S bytes per
 * call on both sides, 64 B to 256 MiB, beside TCP loopback moving the same
 * bytes the same way and beside process_vm_writev/process_vm_readv of S
 * bytes into/out of the receiver (the single-copy limit), all in one run,
 * with ratios. --contend starts one busy process per CPU first, so that
 * the figures show what happens when the two sides stop running at the
 * same moment.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <scif.h>

#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define MiB (1024ull * 1024)
#define MAX_SIZES 32
#define MAX_ROUNDS 15

static const char *const stream_usage =
	"usage: scif bench stream [-m MAX] [--min MIN] [-s SIZES] [-r ROUNDS]\n"
	"                         [--contend] [--no-pin] [--fabric NAME]\n"
	"\n"
	"Blocking scif_send/scif_recv streaming between two processes, each\n"
	"call moving S bytes on both sides, beside TCP loopback moving the same\n"
	"bytes the same way and beside process_vm_writev/readv of S bytes (the\n"
	"single-copy limit), measured in the same run; median of ROUNDS.\n"
	"\n"
	"  -m, --max SIZE     largest size (default 256M)\n"
	"      --min SIZE     smallest size (default 64)\n"
	"  -s, --sizes LIST   comma-separated sizes instead (e.g. 64,4K,1M)\n"
	"  -r, --rounds N     rounds per cell, the median is shown (default 3)\n"
	"      --contend      one busy process per CPU while measuring\n"
	"      --no-pin       do not pin the two processes to two CPUs\n"
	"      --fabric NAME  the fabric (default: SCIF_FABRIC or the default)\n";

enum { M_SCIF, M_TCP, M_PVW, M_PVR, NMETH };
static const char *const meth_name[NMETH] = { "send/recv", "TCP", "pvwritev",
					      "pvreadv" };
enum { C_END, C_SCIF, C_TCP };

struct cmd {
	uint32_t op;
	uint32_t pad;
	uint64_t size, iters;
};

struct hello {
	uint64_t addr;
	int32_t pid;
	int32_t pad;
};

static void child_main(struct skiff_pair *p, uint64_t max, int port)
{
	scif_epd_t ep = p->ep[0];
	unsigned char *rbuf = skiff_touched(max, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct hello h = { .pid = (int32_t)getpid() };
	int one = 1, tcp;
	struct cmd c;
	char ack = 1;

	if (!rbuf) {
		skiff_err("bench stream: child: out of memory");
		skiff_pair_finish(p, 1);
	}
	h.addr = (uint64_t)(uintptr_t)rbuf;
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (tcp < 0 || connect(tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		skiff_err("bench stream: child: TCP connect: %s", strerror(errno));
		skiff_pair_finish(p, 1);
	}
	if (skiff_pair_send(ep, &h, sizeof(h)) < 0)
		goto lost;
	for (;;) {
		if (skiff_pair_recv(ep, &c, sizeof(c)) < 0)
			goto lost;
		if (c.op == C_END)
			break;
		if (c.size > max)
			goto lost;
		for (uint64_t i = 0; i < c.iters; i++)
			if (c.op == C_SCIF ? skiff_pair_recv(ep, rbuf, c.size)
					   : skiff_read_all(tcp, rbuf, c.size))
				goto lost;
		if (skiff_pair_send(ep, &ack, 1) < 0)
			goto lost;
	}
	close(tcp);
	skiff_pair_finish(p, 0);
lost:
	skiff_err("bench stream: child: %s", strerror(errno));
	skiff_pair_finish(p, 1);
}

struct st {
	struct skiff_pair p;
	scif_epd_t ep;
	int tcp;
	unsigned char *ubuf;
	struct hello h;
};

/* GB/s of @iters transfers of @size by method @m, or -1. */
static double measure(struct st *s, int m, uint64_t size, uint64_t iters)
{
	struct cmd c = { .op = m == M_TCP ? C_TCP : C_SCIF, .size = size,
			 .iters = iters };
	struct iovec lo = { s->ubuf, size };
	struct iovec re = { (void *)(uintptr_t)s->h.addr, size };
	uint64_t t0 = skiff_now_ns(), t;
	char ack;

	if (m == M_PVW || m == M_PVR) {
		for (uint64_t i = 0; i < iters; i++) {
			ssize_t n = m == M_PVW ?
				process_vm_writev(s->h.pid, &lo, 1, &re, 1, 0) :
				process_vm_readv(s->h.pid, &lo, 1, &re, 1, 0);
			if (n != (ssize_t)size)
				return -1;
		}
	} else {
		if (skiff_pair_send(s->ep, &c, sizeof(c)) < 0)
			return -1;
		for (uint64_t i = 0; i < iters; i++)
			if (m == M_TCP ? skiff_write_all(s->tcp, s->ubuf, size)
				       : skiff_pair_send(s->ep, s->ubuf, size))
				return -1;
		if (skiff_pair_recv(s->ep, &ack, 1) < 0)
			return -1;
	}
	t = skiff_now_ns() - t0;
	return t ? (double)size * (double)iters / (double)t : 0;
}

/* One busy process per CPU, gone with us. */
static int start_hogs(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (!pids[i]) {
			volatile unsigned long x = 0;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				x++;
		}
	}
	return 0;
}

static void stop_hogs(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
}

static unsigned default_sizes(uint64_t min, uint64_t max, uint64_t *out)
{
	static const uint64_t all[] = { 64, 4096, 65536, 262144, MiB, 16 * MiB,
					256 * MiB };
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] >= min && all[i] <= max)
			out[n++] = all[i];
	return n;
}

static int parse_list(const char *list, uint64_t *out, unsigned *n)
{
	char *dup = strdup(list), *save = NULL, *tok;

	if (!dup)
		return -1;
	*n = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_SIZES || skiff_parse_size(tok, &out[*n]) < 0) {
			free(dup);
			return -1;
		}
		(*n)++;
	}
	free(dup);
	return *n ? 0 : -1;
}

int skiff_bench_stream(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "min", required_argument, NULL, 'n' },
		{ "sizes", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "contend", no_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char fabric[SKIFF_FABRIC_MAX + 1], sz[32];
	const char *fab = NULL, *list = NULL;
	uint64_t max = 256 * MiB, min = 64, sizes[MAX_SIZES], top = 0;
	unsigned long long v;
	unsigned rounds = 3, nsizes = 0, tcp_miss = 0, pvw_miss = 0;
	int dopin = 1, contend = 0, opt, lsock = -1, port = 0, nhogs = 0;
	int ret = SKIFF_EXIT_FAIL;
	pid_t hogs[256];
	struct st s = { .tcp = -1 };
	struct skiff_table t;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:s:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (skiff_parse_size(optarg, &max) < 0)
				goto bad_arg;
			break;
		case 'n':
			if (skiff_parse_size(optarg, &min) < 0)
				goto bad_arg;
			break;
		case 's':
			list = optarg;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, MAX_ROUNDS, &v) < 0)
				goto bad_arg;
			rounds = (unsigned)v;
			break;
		case 'c':
			contend = 1;
			break;
		case 'P':
			dopin = 0;
			break;
		case 'f':
			fab = optarg;
			break;
		case 'h':
			fputs(stream_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(stream_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc)
		goto bad_arg;
	if (list ? parse_list(list, sizes, &nsizes) < 0
		 : !(nsizes = default_sizes(min, max, sizes)))
		goto bad_arg;
	for (unsigned i = 0; i < nsizes; i++)
		if (sizes[i] > top)
			top = sizes[i];
	if (top > (uint64_t)INT32_MAX) {
		skiff_err("bench stream: sizes above 2 GiB - 1 do not fit scif_send");
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fab, fabric) < 0)
		return SKIFF_EXIT_USAGE;

	lsock = skiff_tcp_listener(&port);
	if (lsock < 0) {
		skiff_err("bench stream: TCP listener on 127.0.0.1: %s", strerror(errno));
		return SKIFF_EXIT_FAIL;
	}
	switch (skiff_pair_start(&s.p, "bench stream", 1, dopin, 1)) {
	case 1:
		close(lsock);
		child_main(&s.p, top, port);
		return SKIFF_EXIT_FAIL; /* not reached */
	case 0:
		break;
	default:
		close(lsock);
		return SKIFF_EXIT_FAIL;
	}
	s.ep = s.p.ep[0];
	s.tcp = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	close(lsock);
	{
		int one = 1;
		if (s.tcp < 0 ||
		    setsockopt(s.tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			skiff_err("bench stream: TCP accept: %s", strerror(errno));
			goto out;
		}
	}
	s.ubuf = skiff_touched(top, 0x5a);
	if (!s.ubuf || skiff_pair_recv(s.ep, &s.h, sizeof(s.h)) < 0) {
		skiff_err("bench stream: set-up: %s", strerror(errno));
		goto out;
	}
	if (contend) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nhogs = n < 1 ? 1 : n > 256 ? 256 : (int)n;
		if (start_hogs(hogs, nhogs) < 0) {
			skiff_err("bench stream: fork: %s", strerror(errno));
			goto out;
		}
	}

	printf("blocking scif_send/scif_recv stream vs TCP loopback and "
	       "process_vm_writev/readv, %u rounds (median)%s%s\n\n", rounds,
	       s.p.cpu[0] >= 0 ? ", pinned to two CPUs" : "",
	       contend ? ", one busy process per CPU" : "");
	skiff_table_init(&t, 7, 0x7e);
	skiff_table_cell(&t, "size");
	for (int m = 0; m < NMETH; m++) {
		skiff_table_cell(&t, "%s GB/s", meth_name[m]);
		if (m == M_TCP)
			skiff_table_cell(&t, "s/TCP");
		if (m == M_PVW)
			skiff_table_cell(&t, "s/pvw");
	}
	for (unsigned i = 0; i < nsizes; i++) {
		uint64_t size = sizes[i];
		uint64_t target = size < 65536 ? 32 * MiB : 256 * MiB;
		uint64_t iters = target / size < 2 ? 2 : target / size;
		double med[NMETH];

		skiff_progress("bench stream", i, nsizes, skiff_size_str(size, sz));
		for (int m = 0; m < NMETH; m++) {
			double r[MAX_ROUNDS] = { 0 };

			for (unsigned k = 0; k < rounds; k++) {
				r[k] = measure(&s, m, size, iters);
				if (r[k] < 0) {
					skiff_err("bench stream: %s of %s: %s",
						  meth_name[m], sz, strerror(errno));
					goto out_hogs;
				}
			}
			qsort(r, rounds, sizeof(r[0]), skiff_cmp_double);
			med[m] = r[rounds / 2];
		}
		skiff_table_cell(&t, "%s", skiff_size_str(size, sz));
		skiff_table_cell(&t, "%.3f", med[M_SCIF]);
		skiff_table_cell(&t, "%.3f", med[M_TCP]);
		skiff_table_cell(&t, "%.2f", med[M_SCIF] / med[M_TCP]);
		skiff_table_cell(&t, "%.3f", med[M_PVW]);
		skiff_table_cell(&t, "%.2f", med[M_SCIF] / med[M_PVW]);
		skiff_table_cell(&t, "%.3f", med[M_PVR]);
		if (med[M_SCIF] < med[M_TCP])
			tcp_miss++;
		if (size >= 262144 && med[M_SCIF] < 0.8 * med[M_PVW])
			pvw_miss++;
	}
	skiff_progress("bench stream", nsizes, nsizes, NULL);
	skiff_table_print(&t, stdout, "  ");
	skiff_table_free(&t);
	printf("\ngoal >= 1.0x TCP at every size: %s (%u of %u below)\n",
	       tcp_miss ? "MISS" : "PASS", tcp_miss, nsizes);
	printf("goal >= 0.8x process_vm_writev from 256 KiB: %s (%u below)\n",
	       pvw_miss ? "MISS" : "PASS", pvw_miss);
	ret = SKIFF_EXIT_OK;
out_hogs:
	stop_hogs(hogs, nhogs);
	nhogs = 0;
out:
	if (nhogs)
		stop_hogs(hogs, nhogs);
	if (ret == SKIFF_EXIT_OK) {
		struct cmd c = { .op = C_END };

		if (skiff_pair_send(s.ep, &c, sizeof(c)) < 0 ||
		    skiff_pair_finish(&s.p, 0) != 0)
			ret = SKIFF_EXIT_FAIL;
	} else {
		skiff_pair_abort(&s.p);
	}
	if (s.tcp >= 0)
		close(s.tcp);
	if (s.ubuf)
		munmap(s.ubuf, top);
	return ret;
bad_arg:
	fputs(stream_usage, stderr);
	return SKIFF_EXIT_USAGE;
}
