/* SPDX-License-Identifier: MIT */
/*
 * netns_nodes - what a SCIF program on this host sees, for tests/netns.sh:
 * prints "self=N nodes=A,B,..." from scif_get_nodeIDs, then, with "open",
 * "open=ok" or "open=ERRNO_NAME" from scif_open (which SCIF_NODE governs).
 * Exit 0 if the calls could be made, 1 if scif_get_nodeIDs failed.
 */
#include <scif.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	uint16_t nodes[256], self = 0;
	int n = scif_get_nodeIDs(nodes, 256, &self);

	if (n < 0) {
		printf("nodes=error:%s\n", strerror(errno));
	} else {
		printf("self=%u nodes=", self);
		for (int i = 0; i < n && i < 256; i++)
			printf("%s%u", i ? "," : "", nodes[i]);
		printf("\n");
	}
	if (argc > 1 && strcmp(argv[1], "open") == 0) {
		scif_epd_t e = scif_open();

		if (e == SCIF_OPEN_FAILED) {
			printf("open=%s\n", errno == ENODEV ? "ENODEV" :
			       strerror(errno));
		} else {
			printf("open=ok\n");
			scif_close(e);
		}
	}
	return n < 0;
}
