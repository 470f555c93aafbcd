/* SPDX-License-Identifier: MIT */
/*
 * rma.c - scif_readfrom, scif_writeto, scif_vreadfrom, scif_vwriteto.
 *
 * The arguments are checked here, the same for every transport; the
 * transfer is the connection's transport's (transport.h). The local one
 * (local.c): the initiator copies, from or to the peer's windows mapped in
 * this process (rwin.c), so one copy moves the data whatever the target
 * process is doing. SCIF_RMA_USECPU copies inline; otherwise the copy goes
 * to the DMA engine (dma.c) and may finish after the call returns, unless
 * SCIF_RMA_SYNC (small synchronous copies are done inline: that is faster
 * than a hand-off).
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <sys/mman.h>

#include "probe.h"

#define RMA_FLAGS (SCIF_RMA_USECPU | SCIF_RMA_USECACHE | SCIF_RMA_SYNC | \
		   SCIF_RMA_ORDERED)
#define OFF_MAX ((uint64_t)INT64_MAX)

static int rma(scif_epd_t epd, int dir, unsigned char *laddr, off_t loffset,
	       size_t len, off_t roffset, int flags)
{
	struct skiff_rma_req q = { .dir = dir, .laddr = laddr,
				   .loff = (uint64_t)loffset,
				   .roff = (uint64_t)roffset,
				   .len = len, .flags = flags };
	struct skiff_ep *ep;
	int ret = skiff_rma_enter(epd, &ep);

	if (ret < 0)
		return ret;
	if ((flags & ~RMA_FLAGS) || !len)
		return -EINVAL;
	if (roffset < 0 || (!laddr && loffset < 0) ||
	    len > OFF_MAX - (uint64_t)roffset ||
	    (!laddr && len > OFF_MAX - (uint64_t)loffset))
		return -ENXIO;
	/* EFAULT rather than a crash for memory that is not there (or, from
	 * SKIFF_PROBE_MIN bytes, not readable or writable as the copy needs):
	 * one system call (probe.h) */
	if (laddr && skiff_mem_check(laddr, len, dir == SKIFF_TO_PEER ?
				     PROT_READ : PROT_WRITE) < 0)
		return -EFAULT;
	return ep->tp->rma(ep, &q);
}

int skiff_api_writeto(scif_epd_t epd, off_t loffset, size_t len,
			   off_t roffset, int rma_flags)
{
	SKIFF_RET(rma(epd, SKIFF_TO_PEER, NULL, loffset, len, roffset,
		      rma_flags));
}

int skiff_api_readfrom(scif_epd_t epd, off_t loffset, size_t len,
			    off_t roffset, int rma_flags)
{
	SKIFF_RET(rma(epd, SKIFF_FROM_PEER, NULL, loffset, len, roffset,
		      rma_flags));
}

/* SCIF_RMA_USECACHE: the original kept v* buffers pinned for reuse. Here
 * the initiator copies from or to its own memory directly, so nothing needs
 * pinning or caching, and a buffer unmapped or remapped between calls is
 * always seen as it is now. */
int skiff_api_vwriteto(scif_epd_t epd, void *addr, size_t len,
			    off_t offset, int rma_flags)
{
	if (!addr)
		SKIFF_RET(len ? -EFAULT : -EINVAL);
	SKIFF_RET(rma(epd, SKIFF_TO_PEER, addr, 0, len, offset, rma_flags));
}

int skiff_api_vreadfrom(scif_epd_t epd, void *addr, size_t len,
			     off_t offset, int rma_flags)
{
	if (!addr)
		SKIFF_RET(len ? -EFAULT : -EINVAL);
	SKIFF_RET(rma(epd, SKIFF_FROM_PEER, addr, 0, len, offset, rma_flags));
}
