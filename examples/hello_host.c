/* SPDX-License-Identifier: MIT */
/*
 * hello_host.c - the host side of a minimal SCIF program pair.
 *
 * A legacy-style SCIF program: it uses nothing but <scif.h> and -lscif, and
 * builds unchanged against Intel's MPSS libscif or against skiff.
 *
 * It lists the online nodes, connects to port 2000 on node 1 (where
 * hello_card listens), sends a few messages, waits for each reply, prints the
 * round-trip time of each exchange, and closes.
 *
 * Every message, in either direction, is exactly MSG_LEN bytes holding a
 * NUL-terminated string (the SCIF message stream carries bytes, not messages).
 *
 * usage: hello_host [-N node] [-p port] [-n count] [-w]
 *   -w  after the exchanges, keep the connection open until a line (or end
 *       of file) arrives on standard input, so it can be looked at
 *       (for example with 'scif info').
 */
#define _POSIX_C_SOURCE 200809L

#include <scif.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_NODE 1
#define DEFAULT_PORT 2000
#define MSG_LEN      64

struct result {
	char reply[MSG_LEN];
	double rtt; /* microseconds */
};

static void die(const char *what)
{
	int e = errno;

	fprintf(stderr, "hello_host: %s: %s\n", what, strerror(e));
	if (e == ECONNREFUSED)
		fprintf(stderr, "hello_host: nobody listens on that port "
				"(is hello_card running?)\n");
	else if (e == ENODEV)
		fprintf(stderr, "hello_host: that node is not online (is "
				"'scifd --cards N' running in the same "
				"SCIF_FABRIC?)\n");
	else if (e == ECONNRESET)
		fprintf(stderr, "hello_host: the card side went away\n");
	exit(1);
}

static int parse_int(const char *s, int lo, int hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "hello_host: bad %s '%s' (%d..%d)\n", name, s,
			lo, hi);
		exit(2);
	}
	return (int)v;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int node = DEFAULT_NODE, port = DEFAULT_PORT, count = 5, hold = 0;
	int opt, nnodes, lport, i;
	uint16_t nodes[64], self;
	struct scif_portID dst;
	double total = 0, best = 0;
	struct result *res;
	scif_epd_t epd;

	while ((opt = getopt(argc, argv, "N:p:n:wh")) != -1) {
		switch (opt) {
		case 'N':
			node = parse_int(optarg, 0, 65535, "node");
			break;
		case 'p':
			port = parse_int(optarg, 1, 65535, "port");
			break;
		case 'n':
			count = parse_int(optarg, 1, 1000000, "count");
			break;
		case 'w':
			hold = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-N node] [-p port] [-n count] "
				"[-w]\n"
				"  -N  node to connect to (default %d)\n"
				"  -p  port to connect to (default %d)\n"
				"  -n  messages to exchange (default 5)\n"
				"  -w  hold the connection open until a line "
				"arrives on stdin\n", argv[0], DEFAULT_NODE,
				DEFAULT_PORT);
			return opt == 'h' ? 0 : 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	nnodes = scif_get_nodeIDs(nodes, 64, &self);
	if (nnodes < 0)
		die("scif_get_nodeIDs");
	printf("hello_host: this is node %u; %d node%s online:", (unsigned)self,
	       nnodes, nnodes == 1 ? "" : "s");
	for (i = 0; i < nnodes && i < 64; i++)
		printf(" %u", (unsigned)nodes[i]);
	printf("\n");

	epd = scif_open();
	if (epd == SCIF_OPEN_FAILED)
		die("scif_open");

	dst.node = (uint16_t)node;
	dst.port = (uint16_t)port;
	lport = scif_connect(epd, &dst); /* binds a local port for us */
	if (lport < 0)
		die("scif_connect");
	printf("hello_host: connected to node %d port %d from local port %d\n",
	       node, port, lport);

	/* Printing between exchanges would perturb the timing (and, with the
	 * output going to a pipe, wake its reader): keep the replies and
	 * times, and print them after the exchanges. */
	res = calloc((size_t)count, sizeof(*res));
	if (res == NULL)
		die("calloc");
	for (i = 1; i <= count; i++) {
		char msg[MSG_LEN], *reply = res[i - 1].reply;
		double t0, rtt;
		int n;

		memset(msg, 0, sizeof(msg));
		snprintf(msg, sizeof(msg), "hello #%d from node %u", i,
			 (unsigned)self);

		t0 = now_us();
		n = scif_send(epd, msg, MSG_LEN, SCIF_SEND_BLOCK);
		if (n < 0)
			die("scif_send");
		if (n != MSG_LEN) {
			fprintf(stderr, "hello_host: connection closed during "
				"send (%d of %d bytes)\n", n, MSG_LEN);
			return 1;
		}
		n = scif_recv(epd, reply, MSG_LEN, SCIF_RECV_BLOCK);
		if (n < 0)
			die("scif_recv");
		rtt = now_us() - t0;
		if (n != MSG_LEN) {
			fprintf(stderr, "hello_host: connection closed during "
				"recv (%d of %d bytes)\n", n, MSG_LEN);
			return 1;
		}
		reply[MSG_LEN - 1] = '\0'; /* never trust the peer's bytes */
		res[i - 1].rtt = rtt;
		total += rtt;
		if (i == 1 || rtt < best)
			best = rtt;
	}
	for (i = 1; i <= count; i++)
		printf("hello_host: reply %d: '%s'  round trip %.1f us\n", i,
		       res[i - 1].reply, res[i - 1].rtt);
	free(res);
	printf("hello_host: %d round trips of %d bytes each way: best %.1f us, "
	       "mean %.1f us (the first includes warm-up)\n", count, MSG_LEN,
	       best, total / count);

	if (hold) {
		char line[256];

		printf("hello_host: holding the connection open; press Enter "
		       "to close\n");
		if (fgets(line, sizeof(line), stdin) == NULL && ferror(stdin))
			perror("hello_host: stdin");
	}

	if (scif_close(epd) < 0)
		die("scif_close");
	printf("hello_host: closed\n");
	return 0;
}
