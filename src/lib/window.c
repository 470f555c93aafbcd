/* SPDX-License-Identifier: MIT */
/*
 * window.c - registered windows: scif_register, scif_unregister, and the
 * endpoint's RMA state from connection to close.
 *
 * The windows stack, bottom to top: reback.c (user memory re-backed by
 * memfds), lwin.c and rwin.c (the local and the peer's window tables),
 * svc.c (the control socket and its service thread), this file.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define PAGE 4096ULL
/* automatic offsets start here, clear of small fixed offsets */
#define AUTO_BASE (1ULL << 40)
#define OFF_MAX ((uint64_t)INT64_MAX)

/* ---- endpoint life ---- */

/* A few released states are kept for the next connection: a process that
 * connects and closes in a loop then allocates nothing per connection. */
#define RMA_CACHE 16
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skiff_rma *rma_cache[RMA_CACHE];
static int rma_cached;
static struct skiff_rma *rma_live; /* under cache_lock */

static void live_add(struct skiff_rma *r)
{
	pthread_mutex_lock(&cache_lock);
	r->live_prev = NULL;
	r->live_next = rma_live;
	if (rma_live)
		rma_live->live_prev = r;
	rma_live = r;
	pthread_mutex_unlock(&cache_lock);
}

static void live_del(struct skiff_rma *r)
{
	pthread_mutex_lock(&cache_lock);
	if (r->live_prev)
		r->live_prev->live_next = r->live_next;
	else if (rma_live == r)
		rma_live = r->live_next;
	if (r->live_next)
		r->live_next->live_prev = r->live_prev;
	r->live_prev = r->live_next = NULL;
	pthread_mutex_unlock(&cache_lock);
}

int skiff_rma_attach(struct skiff_ep *ep, int ctl)
{
	struct skiff_rma *r = NULL;

	pthread_mutex_lock(&cache_lock);
	if (rma_cached)
		r = rma_cache[--rma_cached];
	pthread_mutex_unlock(&cache_lock);
	if (r)
		memset(r, 0, sizeof(*r));
	else
		r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctl = ctl;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->out_lock, NULL);
	pthread_mutex_init(&r->clock, NULL);
	pthread_cond_init(&r->ccond, NULL);
	r->self_ctl = &ep->region->rma[ep->side];
	r->peer_ctl = &ep->region->rma[1 - ep->side];
	r->next_auto = AUTO_BASE;
	r->gen = skiff_fork_gen;
	live_add(r);
	ep->rma = r;
	skiff_svc_add(ep);
	return 0;
}

void skiff_rma_detach(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	uint64_t last;

	if (!r)
		return;
	if (r->gen != skiff_fork_gen) {
		/* a fork() child's copy of the parent's state: its windows,
		 * RMAs in flight and control socket are the parent's */
		ep->rma = NULL;
		return;
	}
	skiff_reback_reap_idle();
	/* RMAs in progress through this endpoint complete first */
	pthread_mutex_lock(&r->clock);
	last = r->submitted;
	pthread_mutex_unlock(&r->clock);
	skiff_rma_wait(ep, last);
	/* the thread that completed the last one may still be inside
	 * complete(): let it leave before r goes */
	pthread_mutex_lock(&r->clock);
	pthread_mutex_unlock(&r->clock);
	skiff_svc_del(ep);
	pthread_mutex_lock(&r->lock);
	if (r->nlwin && !skiff_peer_gone(ep))
		ep->tp->win_withdraw(ep, 0, OFF_MAX); /* the user may free it next */
	while (r->nlwin)
		skiff_lwin_remove(r, r->nlwin - 1);
	for (size_t i = 0; i < r->nrwin; i++)
		skiff_rwin_release(r, &r->rwin[i]);
	for (size_t i = 0; i < r->ngrave; i++)
		skiff_rwin_release(r, &r->grave[i]);
	skiff_ctl_close(r);
	pthread_mutex_unlock(&r->lock);
	free(r->outq);
	free(r->lwin);
	free(r->rwin);
	free(r->grave);
	free(r->dacks);
	skiff_sigs_drop(r);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->out_lock);
	pthread_mutex_destroy(&r->clock);
	pthread_cond_destroy(&r->ccond);
	ep->rma = NULL;
	free(r->rstatus);
	r->rstatus = NULL;
	live_del(r);
	pthread_mutex_lock(&cache_lock);
	if (rma_cached < RMA_CACHE) {
		rma_cache[rma_cached++] = r;
		r = NULL;
	}
	pthread_mutex_unlock(&cache_lock);
	free(r);
}

/* What this process needs of @ep's RMA state is freed when nothing is
 * registered, mapped or in flight; otherwise it is left to leak. @mine: not
 * inherited from fork() (endpoint.c knows). */
void skiff_rma_release(struct skiff_ep *ep, int mine)
{
	struct skiff_rma *r = ep->rma;

	if (!r)
		return;
	/* our service thread forgets it; one we inherited was never ours
	 * (and our locks may be a copy taken mid-use) */
	if (mine)
		skiff_svc_del(ep);
	if (r->nlwin || r->nrwin || r->ngrave || r->sigs ||
	    r->submitted != atomic_load(&r->completed))
		return;
	if (r->ctl >= 0)
		close(r->ctl); /* our descriptor only */
	free(r->lwin);
	free(r->rwin);
	free(r->grave);
	free(r->dacks);
	free(r->rstatus);
	live_del(r);
	free(r); /* ep->rma is shared: left as it is */
}

/* Look up a connected endpoint for a window/RMA call: ENOTCONN before a
 * connection, ECONNRESET once the peer is gone. No fstat here: the RMA
 * calls are a fast path too. */
int skiff_rma_enter(int epd, struct skiff_ep **out)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get_fast(epd, &ep);

	if (r < 0)
		return r;
	if (ep->fd != epd)
		return -EBADF;
	if (ep->state != SKIFF_EP_CONNECTED || !ep->rma ||
	    ep->rma->gen != skiff_fork_gen)
		return -ENOTCONN;
	if (skiff_peer_gone(ep))
		return -ECONNRESET;
	*out = ep;
	return 0;
}

/* ---- the calls ---- */

off_t skiff_api_register(scif_epd_t epd, void *addr, size_t len,
			      off_t offset, int prot_flags, int map_flags)
{
	struct skiff_lwin w = { 0 };
	struct skiff_ep *ep;
	struct skiff_rma *r;
	uint64_t off;
	int ret;

	ret = skiff_ep_get(epd, &ep);
	if (ret == 0 && (ep->state != SKIFF_EP_CONNECTED || !ep->rma ||
			 ep->rma->gen != skiff_fork_gen))
		ret = -ENOTCONN;
	if (ret == 0 && skiff_check_hup(ep))
		ret = -ECONNRESET;
	if (ret < 0)
		goto fail;
	if ((map_flags & ~SCIF_MAP_FIXED) || !prot_flags ||
	    (prot_flags & ~(SCIF_PROT_READ | SCIF_PROT_WRITE)) ||
	    ((uintptr_t)addr & (PAGE - 1)) || !len || (len & (PAGE - 1)) ||
	    (uintptr_t)addr + len < (uintptr_t)addr) {
		ret = -EINVAL;
		goto fail;
	}
	if ((map_flags & SCIF_MAP_FIXED) &&
	    (offset < 0 || ((uint64_t)offset & (PAGE - 1)) ||
	     len > OFF_MAX - (uint64_t)offset)) {
		ret = -EINVAL;
		goto fail;
	}
	r = ep->rma;
	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep); /* release what the peer let go of */
	if (map_flags & SCIF_MAP_FIXED) {
		off = (uint64_t)offset;
		if (!skiff_lwin_range_free(r, off, len)) {
			pthread_mutex_unlock(&r->lock);
			ret = -EADDRINUSE;
			goto fail;
		}
	} else {
		/* the hint is a suggestion; continue above the last window
		 * automatic placement gave, else search from the hint */
		off = r->next_auto;
		if (offset > 0)
			off = ((uint64_t)offset + PAGE - 1) & ~(PAGE - 1);
		for (;;) {
			size_t i;
			if (off > OFF_MAX - len)
				off = PAGE; /* wrap: first fit from the bottom */
			if (skiff_lwin_range_free(r, off, len))
				break;
			i = skiff_lwin_search(r, off);
			off = r->lwin[i].off + r->lwin[i].len;
			if (off == PAGE) /* searched everything */
				break;
		}
		if (!skiff_lwin_range_free(r, off, len)) {
			pthread_mutex_unlock(&r->lock);
			ret = -ENOMEM;
			goto fail;
		}
	}
	w.off = off;
	w.len = len;
	w.prot = prot_flags;
	ret = skiff_reback_acquire((uintptr_t)addr, len, &w.pieces, &w.npieces);
	if (ret == 0) {
		ret = skiff_lwin_insert(r, &w);
		if (ret < 0)
			skiff_pieces_put(w.pieces, w.npieces);
	}
	if (ret == 0) {
		ret = ep->tp->win_announce(ep, skiff_lwin_find(r, off));
		if (ret < 0)
			skiff_lwin_remove(r, skiff_lwin_search(r, off));
		else if (!(map_flags & SCIF_MAP_FIXED) && off + len > r->next_auto) {
			r->next_auto = off + len;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (ret < 0)
		goto fail;
	return (off_t)off;
fail:
	errno = -ret;
	return SCIF_REGISTER_FAILED;
}

int skiff_api_unregister(scif_epd_t epd, off_t offset, size_t len)
{
	struct skiff_ep *ep;
	struct skiff_rma *r;
	uint64_t off = (uint64_t)offset, end, last;
	size_t i, j;
	int ret = skiff_ep_get(epd, &ep);

	skiff_reback_reap_idle();
	if (ret == 0 && (ep->state != SKIFF_EP_CONNECTED || !ep->rma ||
			 ep->rma->gen != skiff_fork_gen))
		ret = -ENOTCONN;
	if (ret == 0 && skiff_check_hup(ep))
		ret = -ECONNRESET;
	if (ret < 0)
		SKIFF_RET(ret);
	if (offset < 0 || (off & (PAGE - 1)) || len > OFF_MAX - off)
		SKIFF_RET(-EINVAL);
	if (!len)
		SKIFF_RET(-ENXIO);
	end = off + len;
	r = ep->rma;
	pthread_mutex_lock(&r->lock);
	/* our own RMAs still in flight may use these windows; new ones cannot
	 * start while we hold the table lock (completion needs only clock) */
	pthread_mutex_lock(&r->clock);
	last = r->submitted;
	pthread_mutex_unlock(&r->clock);
	skiff_rma_wait(ep, last);
	skiff_rma_sync_locked(ep);
	i = skiff_lwin_search(r, off);
	/* nothing changes on error: check everything first */
	for (j = i; j < r->nlwin && r->lwin[j].off < end; j++) {
		if (r->lwin[j].off < off || r->lwin[j].off + r->lwin[j].len > end) {
			pthread_mutex_unlock(&r->lock);
			SKIFF_RET(-EINVAL); /* cuts into a window */
		}
	}
	for (j = i; j < r->nlwin && r->lwin[j].off < end; j++)
		if (!r->lwin[j].zombie)
			break;
	if (j == r->nlwin || r->lwin[j].off >= end) {
		pthread_mutex_unlock(&r->lock);
		SKIFF_RET(-ENXIO); /* no window there */
	}
	ret = ep->tp->win_withdraw(ep, off, len);
	while (i < r->nlwin && r->lwin[i].off < end) {
		if (r->lwin[i].peer_refs > 0) {
			/* mapped by the peer: its offsets stay taken until
			 * the peer lets go */
			r->lwin[i].zombie = 1;
			i++;
		} else {
			skiff_lwin_remove(r, i);
		}
	}
	pthread_mutex_unlock(&r->lock);
	(void)ret; /* a gone peer does not keep us from unregistering */
	return 0;
}

/* ---- fork() ----
 * The child has one thread and a copy of everything. The control
 * service's locks may be held by its thread while it waits on a peer, so
 * the child makes them anew with empty state (svc.c): the parent's
 * endpoints are not the child's to serve, and their RMA state is refused
 * there (skiff_fork_gen). The service thread starts again with the child's
 * first connection. Re-backed ranges: reback.c. */

unsigned skiff_fork_gen;

static void fork_child(void)
{
	skiff_fork_gen++;
	pthread_mutex_init(&cache_lock, NULL);
	skiff_reback_fork_child();
}

/* Prepare handlers run in the reverse order of registration, parent and
 * child handlers in order: reback.c's prepare takes reg_lock before the
 * service's svc_lock is taken (no path holds svc_lock and wants reg_lock),
 * and the parent releases svc_lock before reback.c's parent handler waits
 * for the child's copies, so the control service is not held up by a
 * fork's copying. Registered here, in one place, for that order. */
__attribute__((constructor)) static void window_atfork(void)
{
	pthread_atfork(skiff_svc_fork_prepare, skiff_svc_fork_parent,
		       skiff_svc_fork_child);
	pthread_atfork(skiff_reback_fork_prepare, skiff_reback_fork_parent,
		       fork_child);
}

