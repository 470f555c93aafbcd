/* SPDX-License-Identifier: MIT */
/*
 * A program outside the skiff tree, built against an installed skiff with
 * pkg-config or with CMake's find_package(skiff): both libraries link and
 * load, and the headers' version is the one the build expects.
 *
 *   cc -o consumer consumer.c $(pkg-config --cflags --libs libscif micmem)
 */
#include <micmem.h>
#include <scif.h>
#include <stdio.h>

int main(void)
{
	uint16_t nodes[4], self;
	scif_epd_t epd;
	int h, n;

	printf("skiff %d.%d.%d\n", SKIFF_VERSION_MAJOR, SKIFF_VERSION_MINOR,
	       SKIFF_VERSION_PATCH);
#ifdef EXPECT_VERSION_MAJOR
	if (SKIFF_VERSION_MAJOR != EXPECT_VERSION_MAJOR ||
	    SKIFF_VERSION_MINOR != EXPECT_VERSION_MINOR ||
	    SKIFF_VERSION_PATCH != EXPECT_VERSION_PATCH) {
		fprintf(stderr, "consumer: headers of another version\n");
		return 1;
	}
#endif
	/* node 0 is always online, daemon or not */
	n = scif_get_nodeIDs(nodes, 4, &self);
	if (n < 1 || self != 0) {
		perror("consumer: scif_get_nodeIDs");
		return 1;
	}
	epd = scif_open();
	if (epd == SCIF_OPEN_FAILED || scif_close(epd) < 0) {
		perror("consumer: scif_open/scif_close");
		return 1;
	}
	h = micmem_open();
	if (h < 0 || micmem_close(h) < 0) {
		perror("consumer: micmem_open/micmem_close");
		return 1;
	}
	printf("consumer: %d node(s) online, libscif and libmicmem work\n", n);
	return 0;
}
