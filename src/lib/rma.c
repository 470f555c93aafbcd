/* SPDX-License-Identifier: MIT */
/*
 * rma.c - scif_readfrom, scif_writeto, scif_vreadfrom, scif_vwriteto.
 *
 * The initiator copies: it has the peer's windows mapped (rwin.c), so one
 * copy moves the data from source pages to destination pages, whatever the
 * target process is doing. SCIF_RMA_USECPU copies inline; otherwise the copy
 * goes to the DMA engine (dma.c) and may finish after the call returns,
 * unless SCIF_RMA_SYNC (small synchronous copies are done inline: that is
 * faster than a hand-off).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "probe.h"

#define RMA_FLAGS (SCIF_RMA_USECPU | SCIF_RMA_USECACHE | SCIF_RMA_SYNC | \
		   SCIF_RMA_ORDERED)
#define INLINE_SYNC_MAX (1u << 20)
/* Asynchronous RMAs below this are copied inline too: a hand-off to a
 * channel costs more than copying them (documented as allowed: "may be
 * performed asynchronously"). */
#define INLINE_ASYNC_MAX (1u << 20)
#define STACK_SEGS 8
#define OFF_MAX ((uint64_t)INT64_MAX)

enum { TO_PEER, FROM_PEER };

struct segv {
	struct skiff_seg *v;
	size_t n, cap;
	struct skiff_seg stack[STACK_SEGS];
};

static int seg_add(struct segv *s, unsigned char *dst, const unsigned char *src,
		   size_t n)
{
	struct skiff_seg *last = s->n ? &s->v[s->n - 1] : NULL;

	if (last && last->dst + last->n == dst && last->src + last->n == src) {
		last->n += n;
		return 0;
	}
	if (s->n == s->cap) {
		size_t nc = s->cap * 2;
		struct skiff_seg *t;
		if (s->v == s->stack) {
			t = malloc(nc * sizeof(*t));
			if (t)
				memcpy(t, s->v, s->n * sizeof(*t));
		} else {
			t = realloc(s->v, nc * sizeof(*t));
		}
		if (!t)
			return -ENOMEM;
		s->v = t;
		s->cap = nc;
	}
	s->v[s->n].dst = dst;
	s->v[s->n].src = src;
	s->v[s->n].n = n;
	s->n++;
	return 0;
}

/*
 * Resolve the transfer into (dst, src, n) segments. @laddr: the user buffer
 * of a v* call, or NULL for a local window range at @loff. Ranges may span
 * windows that are contiguous in offset space.
 */
static int plan(struct skiff_rma *r, int dir, unsigned char *laddr,
		uint64_t loff, uint64_t roff, size_t len, struct segv *s)
{
	size_t pos = 0;
	int need_l = dir == TO_PEER ? SCIF_PROT_READ : SCIF_PROT_WRITE;
	int need_r = dir == TO_PEER ? SCIF_PROT_WRITE : SCIF_PROT_READ;
	int acc = 0;

	while (pos < len) {
		unsigned char *lp, *rp;
		uint64_t lc, rc, k;
		struct skiff_rwin *rw = skiff_rwin_find(r, roff + pos);

		if (!rw)
			return -ENXIO;
		if (!rw->map && skiff_rwin_map(r, rw) < 0)
			return -ENOMEM; /* first use of a large piece (rwin.c) */
		rc = rw->off + rw->len - (roff + pos);
		rp = rw->map + (roff + pos - rw->off);
		if (!(rw->prot & need_r))
			acc = -EACCES; /* reported once coverage is known */
		if (laddr) {
			lp = laddr + pos;
			lc = len - pos;
		} else {
			struct skiff_lwin *lw = skiff_lwin_find(r, loff + pos);
			if (!lw)
				return -ENXIO;
			if (!(lw->prot & need_l))
				acc = -EACCES;
			lp = skiff_lwin_addr(lw, loff + pos, &lc);
			if (!lp)
				return -ENXIO;
		}
		k = len - pos;
		if (k > lc)
			k = lc;
		if (k > rc)
			k = rc;
		if (seg_add(s, dir == TO_PEER ? rp : lp, dir == TO_PEER ? lp : rp,
			    (size_t)k) < 0)
			return -ENOMEM;
		pos += k;
	}
	return acc;
}

static int rma(scif_epd_t epd, int dir, unsigned char *laddr, off_t loffset,
	       size_t len, off_t roffset, int flags)
{
	struct segv s = { .v = s.stack, .n = 0, .cap = STACK_SEGS };
	struct skiff_ep *ep;
	struct skiff_rma *r;
	uint64_t seq;
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
	if (laddr && skiff_mem_check(laddr, len, dir == TO_PEER ? PROT_READ :
				     PROT_WRITE) < 0)
		return -EFAULT;
	r = ep->rma;
	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = plan(r, dir, laddr, (uint64_t)loffset, (uint64_t)roffset, len, &s);
	if (ret < 0) {
		pthread_mutex_unlock(&r->lock);
		goto out;
	}
	if ((flags & SCIF_RMA_USECPU) || len <= INLINE_ASYNC_MAX ||
	    ((flags & SCIF_RMA_SYNC) && len <= INLINE_SYNC_MAX)) {
		/* the sequence number is taken under the table lock: a
		 * window the peer drops now stays mapped until we are done */
		seq = skiff_rma_begin_inline(ep);
		pthread_mutex_unlock(&r->lock);
		if (flags & SCIF_RMA_ORDERED)
			skiff_copy_ordered(s.v, s.n, len);
		else
			for (size_t i = 0; i < s.n; i++)
				skiff_copy(s.v[i].dst, s.v[i].src, s.v[i].n);
		skiff_rma_complete(ep, seq);
		goto out;
	}
	if (s.v == s.stack) { /* the engine keeps the list */
		struct skiff_seg *h = malloc(s.n * sizeof(*h));
		if (!h) {
			pthread_mutex_unlock(&r->lock);
			return -ENOMEM;
		}
		memcpy(h, s.v, s.n * sizeof(*h));
		s.v = h;
	}
	ret = skiff_dma_submit(ep, s.v, s.n, len, flags, &seq);
	s.v = s.stack; /* owned by the engine now */
	pthread_mutex_unlock(&r->lock);
	if (ret == 0 && (flags & SCIF_RMA_SYNC))
		ret = skiff_rma_wait(ep, seq);
out:
	if (s.v != s.stack)
		free(s.v);
	return ret;
}

int skiff_api_writeto(scif_epd_t epd, off_t loffset, size_t len,
			   off_t roffset, int rma_flags)
{
	SKIFF_RET(rma(epd, TO_PEER, NULL, loffset, len, roffset, rma_flags));
}

int skiff_api_readfrom(scif_epd_t epd, off_t loffset, size_t len,
			    off_t roffset, int rma_flags)
{
	SKIFF_RET(rma(epd, FROM_PEER, NULL, loffset, len, roffset, rma_flags));
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
	SKIFF_RET(rma(epd, TO_PEER, addr, 0, len, offset, rma_flags));
}

int skiff_api_vreadfrom(scif_epd_t epd, void *addr, size_t len,
			     off_t offset, int rma_flags)
{
	if (!addr)
		SKIFF_RET(len ? -EFAULT : -EINVAL);
	SKIFF_RET(rma(epd, FROM_PEER, addr, 0, len, offset, rma_flags));
}
