/* SPDX-License-Identifier: MIT */
/*
 * hello_card.c - the card side of a minimal SCIF program pair.
 *
 * A legacy-style SCIF program: it uses nothing but <scif.h> and -lscif, and
 * builds unchanged against Intel's MPSS libscif or against skiff.
 *
 * It binds a port (2000 by default), listens, accepts a connection, and
 * answers every message it receives with one of its own until the host closes
 * the connection. Then it accepts the next connection, or exits once it has
 * served the number asked for with -c.
 *
 * The SCIF message stream carries bytes, not messages, so both sides frame it
 * the simplest way: every message, in either direction, is exactly MSG_LEN
 * bytes holding a NUL-terminated string.
 *
 * Run it on an emulated card (skiff):
 *     scifd --cards 1 &
 *     SCIF_NODE=1 ./hello_card &
 *     ./hello_host
 *
 * usage: hello_card [-p port] [-c connections]   (-c 0: serve forever)
 */
#define _POSIX_C_SOURCE 200809L

#include <scif.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT 2000
#define MSG_LEN      64

static void die(const char *what)
{
	int e = errno;

	fprintf(stderr, "hello_card: %s: %s\n", what, strerror(e));
	if (e == ENODEV)
		fprintf(stderr, "hello_card: is this node online? (start "
				"'scifd --cards N' in the same SCIF_FABRIC and set "
				"SCIF_NODE to a card number)\n");
	exit(1);
}

static int parse_int(const char *s, int lo, int hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "hello_card: bad %s '%s' (%d..%d)\n", name, s,
			lo, hi);
		exit(2);
	}
	return (int)v;
}

/* Answer messages on @epd until the peer closes; returns the message count. */
static int serve(scif_epd_t epd, uint16_t self)
{
	char msg[MSG_LEN], reply[MSG_LEN];
	int count = 0;

	for (;;) {
		int n = scif_recv(epd, msg, MSG_LEN, SCIF_RECV_BLOCK);

		if (n < 0) {
			if (errno == ECONNRESET) /* the host closed: normal end */
				break;
			die("scif_recv");
		}
		if (n != MSG_LEN) {
			/* A blocking recv returns short only at disconnection. */
			printf("hello_card: peer closed after %d bytes of a "
			       "message\n", n);
			break;
		}
		msg[MSG_LEN - 1] = '\0'; /* never trust the peer's bytes */
		count++;

		/* Reply first and print afterwards: the host is timing us. */
		memset(reply, 0, sizeof(reply));
		snprintf(reply, sizeof(reply), "hello back from node %u (#%d)",
			 (unsigned)self, count);
		n = scif_send(epd, reply, MSG_LEN, SCIF_SEND_BLOCK);
		if (n < 0) {
			if (errno == ECONNRESET) {
				printf("hello_card: peer closed before our "
				       "reply\n");
				break;
			}
			die("scif_send");
		}
		if (n != MSG_LEN) {
			printf("hello_card: peer closed during our reply "
			       "(%d of %d bytes sent)\n", n, MSG_LEN);
			break;
		}
		printf("hello_card: received '%s', replied\n", msg);
	}
	return count;
}

int main(int argc, char **argv)
{
	int port = DEFAULT_PORT, conns = 1, served = 0, opt, nnodes, bound;
	uint16_t nodes[64], self;
	scif_epd_t lep;

	while ((opt = getopt(argc, argv, "p:c:h")) != -1) {
		switch (opt) {
		case 'p':
			port = parse_int(optarg, 1, 65535, "port");
			break;
		case 'c':
			conns = parse_int(optarg, 0, 1000000, "connection count");
			break;
		default:
			fprintf(stderr, "usage: %s [-p port] [-c connections]\n"
				"  -p  port to listen on (default %d)\n"
				"  -c  connections to serve, 0 = forever "
				"(default 1)\n", argv[0], DEFAULT_PORT);
			return opt == 'h' ? 0 : 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* lines appear as they happen */

	nnodes = scif_get_nodeIDs(nodes, 64, &self);
	if (nnodes < 0)
		die("scif_get_nodeIDs");
	printf("hello_card: this is node %u; %d node%s online\n",
	       (unsigned)self, nnodes, nnodes == 1 ? "" : "s");

	lep = scif_open();
	if (lep == SCIF_OPEN_FAILED)
		die("scif_open");
	bound = scif_bind(lep, (uint16_t)port);
	if (bound < 0)
		die("scif_bind");
	if (scif_listen(lep, 4) < 0)
		die("scif_listen");
	printf("hello_card: listening on node %u port %d\n", (unsigned)self,
	       bound);

	while (conns == 0 || served < conns) {
		struct scif_portID peer;
		scif_epd_t epd;
		int count;

		if (scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) < 0) {
			if (errno == EINTR)
				continue;
			die("scif_accept");
		}
		printf("hello_card: accepted a connection from node %u port "
		       "%u\n", (unsigned)peer.node, (unsigned)peer.port);
		count = serve(epd, self);
		if (scif_close(epd) < 0)
			die("scif_close");
		printf("hello_card: connection from node %u port %u closed "
		       "after %d message%s\n", (unsigned)peer.node,
		       (unsigned)peer.port, count, count == 1 ? "" : "s");
		served++;
	}

	if (scif_close(lep) < 0)
		die("scif_close");
	printf("hello_card: done\n");
	return 0;
}
