/* SPDX-License-Identifier: MIT */
/*
 * fence.c - scif_fence_mark, scif_fence_wait, scif_fence_signal.
 *
 * A mark is an RMA sequence number (dma.c): INIT_SELF marks ours; INIT_PEER
 * marks the peer's, as the connection's transport reports it (transport.h;
 * the local one reads the peer's progress words in the shared region), and
 * sets bit 31 as SCIF's SCIF_REMOTE_FENCE does. Waiting for our own marks
 * sleeps on the completion condition; waiting for the peer's is the
 * transport's (the local one polls the peer's progress: its DMA threads
 * make progress without its main thread).
 * A self-initiated signal is a write queued behind the marked RMAs: it is
 * done by whoever completes the last of them (dma.c, which owns completion:
 * the completion path must not call up into this file).
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "probe.h"

#define MARK_MASK 0x7fffffffu
#define REMOTE_FENCE 0x80000000u

/* The full sequence number whose low 31 bits are @m, at most @cur. */
static uint64_t unmark(uint64_t cur, uint32_t m)
{
	uint64_t s = (cur & ~(uint64_t)MARK_MASK) | m;

	if (s > cur && s > MARK_MASK)
		s -= (uint64_t)MARK_MASK + 1;
	return s;
}

int skiff_api_fence_mark(scif_epd_t epd, int flags, int *mark)
{
	struct skiff_ep *ep;
	int r = skiff_rma_enter(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	if (flags != SCIF_FENCE_INIT_SELF && flags != SCIF_FENCE_INIT_PEER)
		SKIFF_RET(-EINVAL);
	if (!mark || skiff_addr_plausible(mark, sizeof(*mark)) < 0 ||
	    (sizeof(*mark) >= skiff_probe_min() &&
	     skiff_mem_probe(mark, sizeof(*mark), PROT_WRITE) < 0))
		SKIFF_RET(-EFAULT);
	if (flags == SCIF_FENCE_INIT_SELF) {
		uint64_t s;
		pthread_mutex_lock(&ep->rma->clock);
		s = ep->rma->submitted;
		pthread_mutex_unlock(&ep->rma->clock);
		*mark = (int)(uint32_t)(s & MARK_MASK);
	} else {
		uint64_t s = ep->tp->peer_submitted(ep);
		uint64_t top = atomic_load(&ep->rma->peer_marked);
		/* remember the highest handed out: a wait for one above it is
		 * for a mark never issued */
		while (s > top &&
		       !atomic_compare_exchange_weak(&ep->rma->peer_marked, &top, s))
			;
		*mark = (int)(uint32_t)((s & MARK_MASK) | REMOTE_FENCE);
	}
	return 0;
}

int skiff_api_fence_wait(scif_epd_t epd, int mark)
{
	struct skiff_ep *ep;
	uint32_t m = (uint32_t)mark;
	int r = skiff_rma_enter(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	if (m & REMOTE_FENCE) {
		/* relative to the marks we handed out, not to the peer's word
		 * (the peer writes that one) */
		uint64_t cur = atomic_load(&ep->rma->peer_marked);
		uint64_t seq = unmark(cur, m & MARK_MASK);
		if (seq > cur)
			SKIFF_RET(-EINVAL); /* never handed out */
		SKIFF_RET(ep->tp->peer_wait(ep, seq));
	}
	{
		uint64_t cur, seq;
		pthread_mutex_lock(&ep->rma->clock);
		cur = ep->rma->submitted;
		pthread_mutex_unlock(&ep->rma->clock);
		seq = unmark(cur, m);
		if (seq > cur)
			SKIFF_RET(-EINVAL); /* never handed out */
		SKIFF_RET(skiff_rma_wait(ep, seq));
	}
}

/* Where an 8-byte signal value goes: inside one writable window. */
static int target(struct skiff_rma *r, int remote, off_t off,
		  unsigned char **out)
{
	uint64_t o = (uint64_t)off, c;

	if (off < 0)
		return -ENXIO;
	if (remote) {
		struct skiff_rwin *w = skiff_rwin_find(r, o);
		if (!w || o + 8 > w->off + w->len || !(w->prot & SCIF_PROT_WRITE))
			return -ENXIO;
		if (!w->map && skiff_rwin_map(r, w) < 0)
			return -ENOMEM;
		*out = w->map + (o - w->off);
		return 0;
	} else {
		struct skiff_lwin *w = skiff_lwin_find(r, o);
		unsigned char *p;
		if (!w || o + 8 > w->off + w->len || !(w->prot & SCIF_PROT_WRITE))
			return -ENXIO;
		p = skiff_lwin_user_addr(w, o, &c);
		if (!p || c < 8)
			return -ENXIO; /* straddles two re-backed pieces */
		*out = p;
		return 0;
	}
}

/* Both targets of a signal, under r->lock. */
static int resolve(struct skiff_rma *r, int sig, off_t loff, off_t roff,
		   struct skiff_sig *s)
{
	int ret = 0;

	s->lp = s->rp = NULL;
	if (sig & SCIF_SIGNAL_LOCAL)
		ret = target(r, 0, loff, &s->lp);
	if (!ret && (sig & SCIF_SIGNAL_REMOTE))
		ret = target(r, 1, roff, &s->rp);
	return ret;
}

/* A relayed signal's local half, under r->lock: find our window (ENXIO),
 * and with @write store the value there. */
static int local_signal(struct skiff_ep *ep, off_t loff, struct skiff_sig *s,
			int write)
{
	struct skiff_rma *r = ep->rma;
	int ret;

	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = target(r, 0, loff, &s->lp);
	if (ret == 0 && write)
		skiff_sig_write(s);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int skiff_api_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval,
				off_t roff, uint64_t rval, int flags)
{
	int init = flags & (SCIF_FENCE_INIT_SELF | SCIF_FENCE_INIT_PEER);
	int sig = flags & (SCIF_SIGNAL_LOCAL | SCIF_SIGNAL_REMOTE);
	struct skiff_sig s = { 0 };
	struct skiff_ep *ep;
	struct skiff_rma *r;
	int ret = skiff_rma_enter(epd, &ep);

	if (ret < 0)
		SKIFF_RET(ret);
	if ((init != SCIF_FENCE_INIT_SELF && init != SCIF_FENCE_INIT_PEER) ||
	    !sig || (flags & ~(init | sig)))
		SKIFF_RET(-EINVAL);
	if (((sig & SCIF_SIGNAL_LOCAL) && (loff & 3)) ||
	    ((sig & SCIF_SIGNAL_REMOTE) && (roff & 3)))
		SKIFF_RET(-EINVAL);
	r = ep->rma;
	s.lval = lval;
	s.rval = rval;
	if ((sig & SCIF_SIGNAL_REMOTE) && ep->tp->remote_signal) {
		/* the peer's windows are on another host: the transport
		 * writes there; our RMAs are complete when they return */
		if (roff < 0)
			SKIFF_RET(-ENXIO);
		if (init == SCIF_FENCE_INIT_PEER) {
			ret = ep->tp->peer_wait(ep, ep->tp->peer_submitted(ep));
			if (ret < 0)
				SKIFF_RET(ret);
		}
		/* our window first (ENXIO before anything is written), then
		 * the remote write, then ours, found again (the lock is not
		 * held across the transport) */
		if ((sig & SCIF_SIGNAL_LOCAL) &&
		    (ret = local_signal(ep, loff, &s, 0)) < 0)
			SKIFF_RET(ret);
		ret = ep->tp->remote_signal(ep, (uint64_t)roff, rval);
		if (ret == 0 && (sig & SCIF_SIGNAL_LOCAL))
			ret = local_signal(ep, loff, &s, 1);
		SKIFF_RET(ret);
	}
	if (init == SCIF_FENCE_INIT_PEER) {
		/* the peer's RMAs complete in the peer: wait for them without
		 * the table lock (a slow or hostile peer must not hold up the
		 * control service or other threads), then find the targets and
		 * write (a window dropped meanwhile: ENXIO) */
		uint64_t ps = ep->tp->peer_submitted(ep);
		pthread_mutex_lock(&r->lock);
		skiff_rma_sync_locked(ep);
		ret = resolve(r, sig, loff, roff, &s);
		pthread_mutex_unlock(&r->lock);
		if (ret == 0)
			ret = ep->tp->peer_wait(ep, ps);
		if (ret < 0)
			SKIFF_RET(ret);
		pthread_mutex_lock(&r->lock);
		skiff_rma_sync_locked(ep);
		ret = skiff_peer_gone(ep) ? -ECONNRESET :
					    resolve(r, sig, loff, roff, &s);
		if (ret == 0)
			skiff_sig_write(&s);
		pthread_mutex_unlock(&r->lock);
		SKIFF_RET(ret);
	}
	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = resolve(r, sig, loff, roff, &s);
	if (ret < 0) {
		pthread_mutex_unlock(&r->lock);
		SKIFF_RET(ret);
	}
	/* queued behind every RMA submitted so far */
	pthread_mutex_lock(&r->clock);
	s.seq = r->submitted;
	if (atomic_load(&r->completed) >= s.seq) {
		skiff_sig_write(&s);
	} else {
		struct skiff_sig *q = malloc(sizeof(*q));
		if (!q) {
			pthread_mutex_unlock(&r->clock);
			pthread_mutex_unlock(&r->lock);
			SKIFF_RET(-ENOMEM);
		}
		*q = s;
		q->next = r->sigs;
		r->sigs = q;
	}
	pthread_mutex_unlock(&r->clock);
	pthread_mutex_unlock(&r->lock);
	return 0;
}
