/* SPDX-License-Identifier: MIT */
/*
 * wire_rma.h - records on a connection's RMA control socket (see
 * docs/PROTOCOL.md). The socket is a SOCK_SEQPACKET pair created by the
 * acceptor, one end passed to the connector with the grant. It carries
 * window announcements (with the window's memfd) and mapping references,
 * never data. Same rules as wire.h: the common 16-byte header, fixed-width
 * bodies, unknown or malformed records rejected.
 */
#ifndef SKIFF_WIRE_RMA_H
#define SKIFF_WIRE_RMA_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum skiff_rma_type {
	SKIFF_RMA_WIN_ADD = 32,   /* owner -> peer: a piece of a window, + memfd */
	SKIFF_RMA_WIN_DEL = 33,   /* owner -> peer: windows in a range are gone */
	SKIFF_RMA_MAP_REF = 34,   /* peer -> owner: it mapped a range */
	SKIFF_RMA_MAP_UNREF = 35, /* peer -> owner: it unmapped that range */
	SKIFF_RMA_WIN_DEL_ACK = 36, /* peer -> owner: WIN_DEL done, and no RMA
				     * of the peer touches those pages any more */
};

struct skiff_rma_win {
	uint64_t offset;   /* registered offset of the piece */
	uint64_t len;      /* bytes, a multiple of the page size */
	uint64_t file_off; /* offset of the piece in the memfd */
	uint32_t prot;     /* SCIF_PROT_READ | SCIF_PROT_WRITE */
	uint32_t reserved;
};

struct skiff_rma_range {
	uint64_t offset;
	uint64_t len;
};

struct skiff_rma_msg {
	struct skiff_wire_hdr hdr;
	union {
		struct skiff_rma_win win;
		struct skiff_rma_range range;
	} body;
};

void skiff_rma_msg_init(struct skiff_rma_msg *m, uint16_t type);

/* Validate a received record; 0 or -EPROTO. */
int skiff_rma_decode(const void *buf, size_t len, struct skiff_rma_msg *out);

#endif
