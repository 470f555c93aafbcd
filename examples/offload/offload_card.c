/* SPDX-License-Identifier: MIT */
/*
 * offload_card.c - the card side of the offload example (run it on node 1:
 * SCIF_NODE=1). Card software needs no copy engine of its own: the host
 * pushes data into the card's memory with micmem_host2dev; this program
 * maps that memory with micmem_devmap, squares every element in place, and
 * tells the host over a SCIF connection that the result is ready.
 *
 * usage: offload_card [-p port]
 */
#define _POSIX_C_SOURCE 200809L

#include <micmem.h>
#include <scif.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "offload.h"

#define PAGE 4096u

static void die(const char *what)
{
	fprintf(stderr, "offload_card: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* scif_recv/scif_send move bytes, not messages: loop until all arrived */
static int xfer(scif_epd_t epd, void *buf, int len, int send)
{
	char *p = buf;

	while (len > 0) {
		int n = send ? scif_send(epd, p, len, SCIF_SEND_BLOCK)
			     : scif_recv(epd, p, len, SCIF_RECV_BLOCK);
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct scif_portID peer;
	struct offload_msg m;
	scif_epd_t lep, epd;
	uint64_t *a, bytes;
	int port = OFFLOAD_PORT, opt;

	while ((opt = getopt(argc, argv, "p:")) != -1) {
		if (opt == 'p') {
			port = atoi(optarg);
		} else {
			fprintf(stderr, "usage: offload_card [-p port]\n");
			return 2;
		}
	}
	lep = scif_open();
	if (lep == SCIF_OPEN_FAILED)
		die("scif_open (is SCIF_NODE=1 online: scifd --cards 1?)");
	if (scif_bind(lep, (uint16_t)port) < 0)
		die("scif_bind");
	if (scif_listen(lep, 1) < 0)
		die("scif_listen");
	printf("offload_card: listening on port %d\n", port);
	fflush(stdout);
	if (scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) < 0)
		die("scif_accept");

	if (xfer(epd, &m, sizeof(m), 0) < 0)
		die("scif_recv");
	/* map what the host wrote: whole pages of board 0's memory */
	bytes = (m.count * sizeof(uint64_t) + PAGE - 1) / PAGE * PAGE;
	a = micmem_devmap(0, m.dev_addr, bytes, PROT_READ | PROT_WRITE);
	if (a == MICMEM_MAP_FAILED)
		die("micmem_devmap");
	for (uint64_t i = 0; i < m.count; i++)
		a[i] *= a[i];
	micmem_devunmap(a, bytes);
	printf("offload_card: squared %llu elements for node %u\n",
	       (unsigned long long)m.count, peer.node);

	if (xfer(epd, &m, sizeof(m), 1) < 0) /* done: the host may read */
		die("scif_send");
	/* wait for the host to hang up, so the reply is read before we go */
	{
		char c;

		scif_recv(epd, &c, 1, SCIF_RECV_BLOCK);
	}
	scif_close(epd);
	scif_close(lep);
	return 0;
}
