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
	/* a connection to another host (its peer here is the daemon, which
	 * relays it): the process's RMAs are the daemons' to carry */
	SKIFF_RMA_REQ = 37,  /* process -> its daemon: one RMA */
	SKIFF_RMA_DONE = 38, /* daemon -> process: that RMA ended */
};

/* RMA_REQ: what scif_readfrom/writeto/vreadfrom/vwriteto asked, checked
 * by the library (arguments, the local window) and again by the daemon. */
struct skiff_rma_req_rec {
	uint64_t seq;	/* the process's sequence number for it, echoed */
	uint64_t laddr; /* v* calls: the buffer in the process; else 0 */
	uint64_t loff;	/* else: the local window range */
	uint64_t roff;	/* the peer's window range */
	uint64_t len;	/* 1..SKIFF_RMA_REQ_MAX */
	uint32_t dir;	/* 0: to the peer (writeto), 1: from it */
	uint32_t flags; /* SCIF_RMA_*, for the record */
};

#define SKIFF_RMA_REQ_MAX (1ull << 40)

struct skiff_rma_done_rec {
	uint64_t seq;	 /* as in the RMA_REQ */
	uint32_t status; /* 0 or the call's errno: ENXIO, EACCES, EFAULT,
			  * ENOMEM, ECONNRESET (the daemons or libfabric
			  * failed) */
	uint32_t reserved;
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
		struct skiff_rma_req_rec req;
		struct skiff_rma_done_rec done;
	} body;
};

void skiff_rma_msg_init(struct skiff_rma_msg *m, uint16_t type);

/* Validate a received record; 0 or -EPROTO. */
int skiff_rma_decode(const void *buf, size_t len, struct skiff_rma_msg *out);

#endif
