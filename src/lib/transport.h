/* SPDX-License-Identifier: MIT */
/*
 * transport.h - what a connection's transport does for the calls above it.
 *
 * A connection is carried by a transport, as a libfabric endpoint is by a
 * provider: today the local one (local.c: shared-memory rings, windows
 * passed as memfds and mapped, RMA as a copy by the initiator); a remote
 * one (issue 10: libfabric between hosts) is a new file beside it with its
 * own table, not a branch in every call. connect.c chooses the transport
 * when a connection is made and sets ep->tp; the calls (rma.c, fence.c,
 * mmap.c, window.c) check their arguments, which is the same for every
 * transport, and hand the rest to ep->tp. Operations return 0 / a count or
 * -errno, with the errno of the SCIF call that asked.
 *
 * Messaging stays inline: scif_send/scif_recv/scif_poll run the local
 * rings' fast path in msg.c and poll.c with no indirect call. A transport
 * that carries messages some other way sets send/recv/ready, and those
 * calls are meant to test ep->tp once at their top and hand over; they do
 * not yet (msg.c and poll.c are being changed for another issue: the check
 * joins them after that). The local transport leaves them NULL.
 */
#ifndef SKIFF_TRANSPORT_H
#define SKIFF_TRANSPORT_H

#include "internal.h"

enum { SKIFF_TO_PEER, SKIFF_FROM_PEER };

/* One RMA, its arguments checked (rma.c). */
struct skiff_rma_req {
	int dir;              /* SKIFF_TO_PEER (writeto) or SKIFF_FROM_PEER */
	unsigned char *laddr; /* v* calls: the user's buffer; else NULL */
	uint64_t loff;        /* else: the local window range's offset */
	uint64_t roff;        /* the peer's window range */
	size_t len;           /* > 0 */
	int flags;            /* SCIF_RMA_* */
};

struct skiff_transport_ops {
	const char *name;

	/* messaging: NULL for the inline shared-memory path (see above) */
	ssize_t (*send)(struct skiff_ep *ep, const void *msg, size_t len, int flags);
	ssize_t (*recv)(struct skiff_ep *ep, void *msg, size_t len, int flags);
	short (*ready)(struct skiff_ep *ep, short events);

	/* windows (window.c, r->lock held): tell the peer of a new window
	 * (on failure nothing of it stays announced); withdraw the windows
	 * in [off, off + len) and return once the peer let go of them and
	 * finished its RMAs on them */
	int (*win_announce)(struct skiff_ep *ep, struct skiff_lwin *w);
	int (*win_withdraw)(struct skiff_ep *ep, uint64_t off, uint64_t len);

	/* one RMA (rma.c): may complete after the call unless
	 * SCIF_RMA_SYNC; completion is counted in ep->rma (dma.c) */
	int (*rma)(struct skiff_ep *ep, const struct skiff_rma_req *q);

	/* fences with SCIF_FENCE_INIT_PEER (fence.c): the peer's RMAs
	 * submitted so far, and a wait until those up to @seq completed */
	uint64_t (*peer_submitted)(struct skiff_ep *ep);
	int (*peer_wait)(struct skiff_ep *ep, uint64_t seq);

	/* scif_fence_signal's SCIF_SIGNAL_REMOTE when the peer's windows are
	 * not mapped here (fence.c): write @rval at @roff of them once the
	 * RMAs the fence orders are complete. NULL: fence.c writes through
	 * the mapping. */
	int (*remote_signal)(struct skiff_ep *ep, uint64_t roff, uint64_t rval);

	/* scif_mmap (mmap.c): map [off, off + len) of the peer's windows at
	 * @dest (reserved by the caller) with @prot (SCIF_PROT_*), and take
	 * a reference the peer keeps until scif_munmap. A transport that
	 * shares no memory with the peer refuses. */
	int (*mmap)(struct skiff_ep *ep, unsigned char *dest, uint64_t off,
		    size_t len, int prot);
	/* the last of such a mapping is gone: drop the reference (no wait;
	 * called under mmap.c's list lock) */
	int (*munmap)(struct skiff_ep *ep, uint64_t off, size_t len);
};

/* local.c: processes on this host, through shared memory */
extern const struct skiff_transport_ops skiff_local_transport;
/* relayed.c: a process of another host, through this host's daemon
 * (not const: completed from the local table at load) */
extern struct skiff_transport_ops skiff_relayed_transport;

#endif
