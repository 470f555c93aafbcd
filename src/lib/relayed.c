/* SPDX-License-Identifier: MIT */
/*
 * relayed.c - the transport of a connection to a process of another host
 * (transport.h). Its local end is this host's daemon, which relays it
 * (docs/PROTOCOL.md section 9.2): messages go through the shared rings as
 * with any local peer, windows are announced to the daemon as to any peer
 * (it maps them to serve the other host's RMAs), and an RMA of ours is a
 * request to the daemon (RMA_REQ on the control socket), carried by the
 * two daemons with libfabric RMA, and reported back (RMA_DONE, taken in by
 * the control service, svc.c). No memory is shared with the other host:
 * scif_mmap is refused.
 */
#include "transport.h"

#include <errno.h>
#include <stdlib.h>

#include "relay_ep.h"
#include "wire_rma.h"

/* The local window range of a transfer exists with the access it needs
 * (the daemon checks again; this gives the caller the errno at once). */
static int check_local(struct skiff_rma *r, int dir, uint64_t off, uint64_t len)
{
	int need = dir == SKIFF_TO_PEER ? SCIF_PROT_READ : SCIF_PROT_WRITE;
	uint64_t pos = 0;
	int acc = 0;

	while (pos < len) {
		struct skiff_lwin *w = skiff_lwin_find(r, off + pos);

		if (!w)
			return -ENXIO;
		if (!(w->prot & need))
			acc = -EACCES;
		pos = w->off + w->len - off;
	}
	return acc;
}

static int relayed_rma(struct skiff_ep *ep, const struct skiff_rma_req *q)
{
	struct skiff_rma *r = ep->rma;
	struct skiff_rma_msg m;
	uint64_t seq;
	int ret;

	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = q->laddr ? 0 : check_local(r, q->dir, q->loff, q->len);
	if (ret == 0 && !r->rstatus) {
		r->rstatus = calloc(SKIFF_RMA_TRACK, sizeof(*r->rstatus));
		if (!r->rstatus)
			ret = -ENOMEM;
	}
	if (ret < 0) {
		pthread_mutex_unlock(&r->lock);
		return ret;
	}
	seq = skiff_rma_begin_inline(ep);
	r->rstatus[seq % SKIFF_RMA_TRACK] = 0;
	pthread_mutex_unlock(&r->lock);

	skiff_rma_msg_init(&m, SKIFF_RMA_REQ);
	m.body.req.seq = seq;
	m.body.req.laddr = (uint64_t)(uintptr_t)q->laddr;
	m.body.req.loff = q->laddr ? 0 : q->loff;
	m.body.req.roff = q->roff;
	m.body.req.len = q->len;
	m.body.req.dir = q->dir == SKIFF_TO_PEER ? 0 : 1;
	m.body.req.flags = (uint32_t)q->flags;
	/* queued if the socket is full: the service sends it on */
	ret = skiff_ctl_send(ep, &m, -1, 0);
	if (ret < 0) {
		r->rstatus[seq % SKIFF_RMA_TRACK] = ECONNRESET;
		skiff_rma_complete(ep, seq);
		return ret;
	}
	/* Every RMA between hosts returns once done, as SCIF_RMA_SYNC: the
	 * peer's windows are known only to the other host, and an RMA
	 * outside them must fail with ENXIO from the call itself (SCIF
	 * allows an RMA to complete before it returns); a v* call's buffer
	 * is also the caller's again when it returns. Fences then find
	 * nothing of ours in flight. It takes a round trip between the
	 * hosts at least: sleep at once (a 20 us spin took the CPU the
	 * daemons carrying it needed, on a 2-vCPU VM: -10-25% at 1 MiB). */
	skiff_rma_wait_sleep(ep, seq);
	return -r->rstatus[seq % SKIFF_RMA_TRACK];
}

/* A fence's signal to the peer's window: an 8-byte write like any other
 * (ours are all complete when the call returns, so it is ordered after
 * them); a window that cannot take it is ENXIO, as on one host. */
static int relayed_signal(struct skiff_ep *ep, uint64_t roff, uint64_t rval)
{
	uint64_t v = rval;
	struct skiff_rma_req q = { .dir = SKIFF_TO_PEER,
				   .laddr = (unsigned char *)&v, .roff = roff,
				   .len = sizeof(v), .flags = SCIF_RMA_SYNC };
	int ret = relayed_rma(ep, &q);

	return ret == -EACCES ? -ENXIO : ret;
}

static int relayed_mmap(struct skiff_ep *ep, unsigned char *dest, uint64_t off,
			size_t len, int prot)
{
	(void)ep;
	(void)dest;
	(void)off;
	(void)len;
	(void)prot;
	return -ENXIO; /* the peer's windows are on another host */
}

static int relayed_munmap(struct skiff_ep *ep, uint64_t off, size_t len)
{
	(void)ep;
	(void)off;
	(void)len;
	return 0;
}

struct skiff_transport_ops skiff_relayed_transport = {
	.name = "relayed",
	.rma = relayed_rma,
	.remote_signal = relayed_signal,
	.mmap = relayed_mmap,
	.munmap = relayed_munmap,
	/* filled from the local transport's at load: windows are announced
	 * to the daemon, and the peer's progress counters are the daemon's
	 * end of the region (it counts the RMAs it serves on our windows) */
};

__attribute__((constructor)) static void relayed_init(void)
{
	struct skiff_transport_ops *t = &skiff_relayed_transport;

	t->win_announce = skiff_local_transport.win_announce;
	t->win_withdraw = skiff_local_transport.win_withdraw;
	t->peer_submitted = skiff_local_transport.peer_submitted;
	t->peer_wait = skiff_local_transport.peer_wait;
}

/* --- the daemon's end (relay_ep.h) --- */

/* @epd as a daemon's end of a relayed connection with RMA state, or NULL. */
static struct skiff_ep *daemon_end(int epd)
{
	struct skiff_ep *ep;

	if (skiff_ep_get(epd, &ep) < 0 || !ep->rma ||
	    ep->relayed != SKIFF_RELAYED_DAEMON)
		return NULL;
	return ep;
}

int skiff_relay_ctl_fd(int epd)
{
	struct skiff_ep *ep = daemon_end(epd);

	return ep ? ep->rma->ctl : -1;
}

int skiff_relay_take(int epd)
{
	struct skiff_ep *ep = daemon_end(epd);
	struct skiff_rma *r;
	int ret;

	if (!ep)
		return 1;
	r = ep->rma;
	/* busy: its holder takes the records in */
	if (pthread_mutex_trylock(&r->lock) != 0)
		return 1;
	ret = skiff_rma_take_reqs(ep, 64);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int skiff_relay_resolve(int epd, uint64_t off, uint64_t len, int need,
			struct skiff_relay_seg *out, unsigned max,
			uint64_t *seq)
{
	struct skiff_ep *ep;
	struct skiff_rma *r;
	uint64_t pos = 0;
	unsigned n = 0;
	int ret = skiff_ep_get(epd, &ep), acc = 0;

	if (ret < 0)
		return ret;
	r = ep->rma;
	if (!r || ep->relayed != SKIFF_RELAYED_DAEMON)
		return -ENOTCONN;
	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	while (pos < len) {
		struct skiff_rwin *w = skiff_rwin_find(r, off + pos);
		unsigned char *p;
		uint64_t k;

		if (!w) {
			ret = -ENXIO;
			break;
		}
		if (!w->map && skiff_rwin_map(r, w) < 0) {
			ret = -ENOMEM;
			break;
		}
		if (!(w->prot & need))
			acc = -EACCES;
		p = w->map + (off + pos - w->off);
		k = w->off + w->len - (off + pos);
		if (k > len - pos)
			k = len - pos;
		if (n && out[n - 1].addr + out[n - 1].len == p) {
			out[n - 1].len += k;
		} else if (n == max) {
			ret = -ENOMEM; /* more pieces than a record carries */
			break;
		} else {
			out[n].addr = p;
			out[n].len = k;
			n++;
		}
		pos += k;
	}
	if (ret == 0 && acc)
		ret = acc;
	if (ret == 0) /* the pieces stay mapped until skiff_relay_rma_end */
		*seq = skiff_rma_begin_inline(ep);
	pthread_mutex_unlock(&r->lock);
	return ret < 0 ? ret : (int)n;
}

/* The one of @n pieces whose mapping holds @p, or NULL. */
static struct skiff_rwin *holding(struct skiff_rwin *w, size_t n,
				  const unsigned char *p)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].map && p >= w[i].map && p < w[i].map + w[i].len)
			return &w[i];
	return NULL;
}

/* The mapping of @r's piece (live or unregistered and waiting) holding
 * @p, or NULL. */
static struct skiff_rwin *map_holding(struct skiff_rma *r, const unsigned char *p)
{
	struct skiff_rwin *w = holding(r->rwin, r->nrwin, p);

	return w ? w : holding(r->grave, r->ngrave, p);
}

int skiff_relay_detach(int epd, const struct skiff_relay_seg *seg, unsigned n,
		       struct skiff_relay_seg *out, unsigned max)
{
	struct skiff_ep *ep = daemon_end(epd);
	struct skiff_rma *r;
	unsigned k = 0;

	if (!ep)
		return -ENOTCONN;
	r = ep->rma;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n && k < max; i++) {
		const unsigned char *p = seg[i].addr, *end = p + seg[i].len;

		while (p < end && k < max) {
			struct skiff_rwin *w = map_holding(r, p);

			if (!w) { /* taken already: on to the next page */
				p = (const unsigned char *)(((uintptr_t)p | 4095) + 1);
				continue;
			}
			out[k].addr = w->map;
			out[k].len = w->len;
			k++;
			p = w->map + w->len;
			/* the endpoint forgets it: nothing of ours unmaps or
			 * uses it again (its connection is over) */
			w->map = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return (int)k;
}

void skiff_relay_rma_end(int epd, uint64_t seq)
{
	struct skiff_ep *ep = daemon_end(epd);

	if (!ep)
		return;
	skiff_rma_complete(ep, seq);
	/* the process's unregisters waiting for it (on a daemon's end
	 * nobody holds the lock while waiting: rwin.c) */
	pthread_mutex_lock(&ep->rma->lock);
	skiff_rma_flush_acks(ep);
	pthread_mutex_unlock(&ep->rma->lock);
}

void skiff_relay_rma_orphan(int epd)
{
	struct skiff_ep *ep = daemon_end(epd);

	if (!ep)
		return;
	atomic_store(&ep->rma->orphaned, 1);
	pthread_mutex_lock(&ep->rma->lock);
	skiff_rma_flush_acks(ep); /* every one waiting, now */
	pthread_mutex_unlock(&ep->rma->lock);
}

int skiff_relay_rma_done(int epd, uint64_t seq, int status)
{
	struct skiff_rma_msg m;
	struct skiff_ep *ep;
	int ret = skiff_ep_get(epd, &ep);

	if (ret < 0)
		return ret;
	if (!ep->rma)
		return -ENOTCONN;
	skiff_rma_msg_init(&m, SKIFF_RMA_DONE);
	m.body.done.seq = seq;
	m.body.done.status = (uint32_t)status;
	return skiff_ctl_send(ep, &m, -1, 0);
}
