/* SPDX-License-Identifier: MIT */
/*
 * offload_host.c - the host side of the offload example.
 *
 * Pushes an array into card 0's memory with micmem_host2dev, asks the card
 * program (offload_card, on node 1) over SCIF to square every element, waits
 * for its answer, pulls the result back with micmem_dev2host and checks it.
 *
 * usage: offload_host [-n count] [-p port] [-d dev_addr]
 */
#define _POSIX_C_SOURCE 200809L

#include <micmem.h>
#include <scif.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "offload.h"

#define PAGE 4096u

static void die(const char *what)
{
	int e = errno;

	fprintf(stderr, "offload_host: %s: %s\n", what, strerror(e));
	if (e == ENODEV)
		fprintf(stderr, "offload_host: is 'scifd --cards 1' running in "
				"this SCIF_FABRIC?\n");
	exit(1);
}

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
	uint64_t count = 1 << 20, dev_addr = 1 << 20, bytes, bad = 0;
	struct scif_portID card = { .node = 1, .port = OFFLOAD_PORT };
	struct offload_msg m;
	uint64_t *a;
	scif_epd_t epd;
	void *p;
	int h, opt;

	while ((opt = getopt(argc, argv, "n:p:d:")) != -1) {
		switch (opt) {
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'p': card.port = (uint16_t)atoi(optarg); break;
		case 'd': dev_addr = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: offload_host [-n count] "
					"[-p port] [-d dev_addr]\n");
			return 2;
		}
	}
	if (count == 0 || dev_addr % PAGE) {
		fprintf(stderr, "offload_host: count > 0, dev_addr page-aligned\n");
		return 2;
	}
	/* a page-aligned host range (2 MiB-aligned helps: huge pages) */
	bytes = (count * sizeof(uint64_t) + PAGE - 1) / PAGE * PAGE;
	if (posix_memalign(&p, 2 << 20, bytes))
		die("posix_memalign");
	a = p;
	for (uint64_t i = 0; i < count; i++)
		a[i] = i;

	h = micmem_open();
	if (h < 0)
		die("micmem_open");
	if (micmem_opendev(h, 0) < 0) /* board 0 is node 1 */
		die("micmem_opendev");
	if (micmem_maprange(h, a, bytes) < 0)
		die("micmem_maprange");
	if (micmem_host2dev(h, a, 0, dev_addr, bytes, MICMEM_AUTO) < 0)
		die("micmem_host2dev");
	memset(a, 0, bytes); /* whatever comes back comes from the card */

	epd = scif_open();
	if (epd == SCIF_OPEN_FAILED)
		die("scif_open");
	if (scif_connect(epd, &card) < 0)
		die("scif_connect (is offload_card running on node 1?)");
	m.dev_addr = dev_addr;
	m.count = count;
	if (xfer(epd, &m, sizeof(m), 1) < 0)
		die("scif_send");
	if (xfer(epd, &m, sizeof(m), 0) < 0) /* the card is done */
		die("scif_recv");
	scif_close(epd);

	if (micmem_dev2host(h, a, 0, dev_addr, bytes, MICMEM_AUTO) < 0)
		die("micmem_dev2host");
	for (uint64_t i = 0; i < count; i++)
		if (a[i] != i * i && bad++ < 5)
			fprintf(stderr, "offload_host: element %llu is %llu, "
				"not %llu\n", (unsigned long long)i,
				(unsigned long long)a[i],
				(unsigned long long)(i * i));
	micmem_close(h);
	free(p);
	if (bad) {
		printf("offload_host: %llu of %llu elements wrong\n",
		       (unsigned long long)bad, (unsigned long long)count);
		return 1;
	}
	printf("offload_host: %llu elements squared on the card, all correct\n",
	       (unsigned long long)count);
	return 0;
}
