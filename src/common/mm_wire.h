/* SPDX-License-Identifier: MIT */
/*
 * mm_wire.h - micmem on a card of another host (docs/PROTOCOL.md 9.3).
 *
 * libmicmem reaches a board of another host through a SCIF connection to
 * SKIFF_MICMEM_PORT of the card's node. That host's daemon answers it
 * itself: the connection's first bytes are a struct skiff_mm_hello (the
 * card's memory size, or why not), then the connection carries RMA only,
 * its offsets being the card's device addresses.
 */
#ifndef SKIFF_MM_WIRE_H
#define SKIFF_MM_WIRE_H

#include <errno.h>
#include <stdint.h>

/* A port of the admin range (< 1024): no user process can listen there. */
#define SKIFF_MICMEM_PORT 1023

#define SKIFF_MM_HELLO_MAGIC 0x4d4d4b53u /* "SKMM" */
#define SKIFF_MM_HELLO_VERSION 1

struct skiff_mm_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t status; /* 0, or EPERM (another user's card), ENOMEM */
	uint32_t reserved; /* zero */
	uint64_t size;	 /* status 0: bytes of device memory, a multiple of
			  * 4096 */
};

_Static_assert(sizeof(struct skiff_mm_hello) == 24, "fixed-width hello");

/* The limit of scifd's --card-mem. */
#define SKIFF_MM_SIZE_MAX (1ull << 40)

/*
 * Check a hello from another host before use: 0 with *size the card's
 * memory, -EPERM or -ENOMEM as its status says, -ENODEV for anything else
 * (a daemon we cannot understand serves no card).
 */
static inline int skiff_mm_hello_check(const struct skiff_mm_hello *h,
				       uint64_t *size)
{
	if (h->magic != SKIFF_MM_HELLO_MAGIC ||
	    h->version != SKIFF_MM_HELLO_VERSION || h->reserved)
		return -ENODEV;
	if (h->status)
		return h->status == EPERM ? -EPERM :
		       h->status == ENOMEM ? -ENOMEM : -ENODEV;
	if (h->size == 0 || h->size % 4096 || h->size > SKIFF_MM_SIZE_MAX)
		return -ENODEV;
	*size = h->size;
	return 0;
}

#endif
