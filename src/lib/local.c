/* SPDX-License-Identifier: MIT */
/*
 * local.c - the local transport (transport.h): processes on this host.
 *
 * Both processes map the connection's shared region; windows go to the
 * peer as memfds over the RMA control socket (svc.c) and are mapped there
 * (rwin.c), so an RMA is one copy by the initiator, inline or on the DMA
 * engine (dma.c), with no help from the target process, and scif_mmap
 * shares the very pages. Fences with SCIF_FENCE_INIT_PEER read the peer's
 * progress words in the region.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "wire_rma.h"

/* ---- windows ---- */

/* Tell the peer of a new window, piece by piece, with each piece's memfd. */
static int announce(struct skiff_ep *ep, struct skiff_lwin *w)
{
	uint64_t off = w->off;
	int r = 0;

	for (unsigned i = 0; i < w->npieces && !r; i++) {
		struct skiff_piece *pc = &w->pieces[i];
		struct skiff_rma_msg m;
		int fd = pc->b->fd, rofd = -1;

		if (!(w->prot & SCIF_PROT_WRITE)) {
			/* a read-only window: the peer gets a descriptor that
			 * cannot write, whatever it does with it */
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			rofd = open(path, O_RDONLY | O_CLOEXEC);
			if (rofd < 0)
				return -ENOMEM;
			fd = rofd;
		}
		skiff_rma_msg_init(&m, SKIFF_RMA_WIN_ADD);
		m.body.win.offset = off;
		m.body.win.len = pc->len;
		m.body.win.file_off = pc->file_off;
		m.body.win.prot = (uint32_t)w->prot;
		r = skiff_ctl_send(ep, &m, fd, 1);
		if (rofd >= 0)
			close(rofd);
		off += pc->len;
	}
	return r;
}

static int local_win_announce(struct skiff_ep *ep, struct skiff_lwin *w)
{
	int r = announce(ep, w);

	/* the pieces that went out are withdrawn, without waiting */
	if (r < 0)
		skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL, w->off, w->len);
	return r;
}

/*
 * Tell the peer windows in [off, off + len) are gone and wait until it has
 * dropped them and finished its RMAs on them: after scif_unregister()
 * returns, the user may free the memory. Called with r->lock held; the
 * peer's records keep being taken in meanwhile (it may be unregistering
 * too). A peer that is gone or silent for 10 s is not waited for.
 */
static int del_round_trip(struct skiff_ep *ep, uint64_t off, uint64_t len)
{
	struct skiff_rma *r = ep->rma;
	uint32_t ticket = ++r->del_sent;
	uint64_t progress = __atomic_load_n(&r->peer_ctl->completed, __ATOMIC_ACQUIRE);
	int stalled = 0, total = 0;
	int ret = skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL, off, len);

	while (ret == 0 && (int32_t)(r->del_acked - ticket) < 0) {
		struct pollfd p = { .fd = r->ctl, .events = POLLIN };
		uint64_t c;

		skiff_rma_sync(ep, 1);
		if ((int32_t)(r->del_acked - ticket) >= 0)
			break;
		/* the peer answers once its RMAs on those pages are done: wait
		 * while it makes progress, give up on one silent for 1 s, and
		 * after 2 s in all (the progress word is the peer's to write:
		 * a hostile one could keep it moving forever) */
		c = __atomic_load_n(&r->peer_ctl->completed, __ATOMIC_ACQUIRE);
		if (c != progress) {
			progress = c;
			stalled = 0;
		}
		if (atomic_load(&r->broken) || skiff_peer_gone(ep) || stalled >= 1000 ||
		    total >= 2000)
			break;
		if (poll(&p, 1, 10) == 1 && (p.revents & (POLLHUP | POLLERR)) &&
		    !(p.revents & POLLIN))
			break; /* the peer's end is closed */
		stalled += 10;
		total += 10;
	}
	if ((int32_t)(r->del_acked - ticket) < 0)
		r->del_acked = ticket; /* written off: keep later ones exact */
	return ret;
}

/* ---- RMA ---- */

#define INLINE_SYNC_MAX (1u << 20)
/* Asynchronous RMAs below this are copied inline too: a hand-off to a
 * channel costs more than copying them (documented as allowed: "may be
 * performed asynchronously"). */
#define INLINE_ASYNC_MAX (1u << 20)
#define STACK_SEGS 8

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
	int need_l = dir == SKIFF_TO_PEER ? SCIF_PROT_READ : SCIF_PROT_WRITE;
	int need_r = dir == SKIFF_TO_PEER ? SCIF_PROT_WRITE : SCIF_PROT_READ;
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
		if (seg_add(s, dir == SKIFF_TO_PEER ? rp : lp,
			    dir == SKIFF_TO_PEER ? lp : rp, (size_t)k) < 0)
			return -ENOMEM;
		pos += k;
	}
	return acc;
}

static int local_rma(struct skiff_ep *ep, const struct skiff_rma_req *q)
{
	struct segv s = { .v = s.stack, .n = 0, .cap = STACK_SEGS };
	struct skiff_rma *r = ep->rma;
	size_t len = q->len;
	int flags = q->flags;
	uint64_t seq;
	int ret;

	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = plan(r, q->dir, q->laddr, q->loff, q->roff, len, &s);
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

/* ---- fences ---- */

/* a peer that makes no progress for this long fails the wait (SCIF: 10 s),
 * and so does one whose RMAs take longer than PEER_WAIT_MS in all (its
 * progress word is its own to write: a hostile peer could keep it moving) */
#define PEER_STALL_MS 10000
#define PEER_WAIT_MS 60000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the peer's RMAs up to @seq completed. */
static int local_peer_wait(struct skiff_ep *ep, uint64_t seq)
{
	struct skiff_rma_ctl *pc = ep->rma->peer_ctl;
	uint64_t last = __atomic_load_n(&pc->completed, __ATOMIC_ACQUIRE);
	int64_t since = now_ms(), start = since;

	for (unsigned i = 0;; i++) {
		uint64_t c = __atomic_load_n(&pc->completed, __ATOMIC_ACQUIRE);
		if (c >= seq)
			return 0;
		if (skiff_peer_gone(ep)) /* the control service saw it go */
			return -ECONNRESET;
		if (c != last) {
			last = c;
			since = now_ms();
		}
		if (i < 4096) {
#if defined(__x86_64__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		if (skiff_check_hup(ep))
			return -ECONNRESET;
		if (now_ms() - since > PEER_STALL_MS || now_ms() - start > PEER_WAIT_MS)
			return -ETIMEDOUT;
		usleep(i < 8192 ? 20 : 200);
	}
}

static uint64_t local_peer_submitted(struct skiff_ep *ep)
{
	return __atomic_load_n(&ep->rma->peer_ctl->submitted, __ATOMIC_ACQUIRE);
}

/* ---- scif_mmap ---- */

static int map_pieces(struct skiff_rma *r, unsigned char *dest, uint64_t off,
		      size_t len, int prot)
{
	size_t pos = 0;
	int mprot = (prot & SCIF_PROT_READ ? PROT_READ : 0) |
		    (prot & SCIF_PROT_WRITE ? PROT_WRITE : 0);

	/* coverage first (ENXIO), then protection (EACCES) */
	for (pos = 0; pos < len;) {
		struct skiff_rwin *w = skiff_rwin_find(r, off + pos);
		if (!w)
			return -ENXIO;
		pos += w->off + w->len - (off + pos);
	}
	for (pos = 0; pos < len;) {
		struct skiff_rwin *w = skiff_rwin_find(r, off + pos);
		if ((prot & ~w->prot) & (SCIF_PROT_READ | SCIF_PROT_WRITE))
			return -EACCES;
		pos += w->off + w->len - (off + pos);
	}
	for (pos = 0; pos < len;) {
		struct skiff_rwin *w = skiff_rwin_find(r, off + pos);
		uint64_t rel = off + pos - w->off, n = w->len - rel;
		void *p;

		if (n > len - pos)
			n = len - pos;
		if (!w->map && skiff_rwin_map(r, w) < 0)
			return -ENOMEM;
		p = mremap(w->map + rel, 0, n, MREMAP_MAYMOVE | MREMAP_FIXED,
			   dest + pos);
		if (p == MAP_FAILED)
			return -ENOMEM;
		/* a read-only window came as a read-only descriptor: the
		 * kernel refuses PROT_WRITE on it, now and later */
		if (mprotect(dest + pos, n, mprot) < 0)
			return -EACCES;
		pos += n;
	}
	return 0;
}

static int local_mmap(struct skiff_ep *ep, unsigned char *dest, uint64_t off,
		      size_t len, int prot)
{
	struct skiff_rma *r = ep->rma;
	int ret;

	pthread_mutex_lock(&r->lock);
	skiff_rma_sync_locked(ep);
	ret = map_pieces(r, dest, off, len, prot);
	if (ret == 0)
		skiff_rma_send_range(ep, SKIFF_RMA_MAP_REF, off, len);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int local_munmap(struct skiff_ep *ep, uint64_t off, size_t len)
{
	return skiff_rma_send_range(ep, SKIFF_RMA_MAP_UNREF, off, len);
}

const struct skiff_transport_ops skiff_local_transport = {
	.name = "local",
	/* send, recv, ready: the inline path of msg.c and poll.c */
	.win_announce = local_win_announce,
	.win_withdraw = del_round_trip,
	.rma = local_rma,
	.peer_submitted = local_peer_submitted,
	.peer_wait = local_peer_wait,
	.mmap = local_mmap,
	.munmap = local_munmap,
};
