/* SPDX-License-Identifier: MIT */
/*
 * rwin.c - the endpoint's table of the peer's windows: pieces announced by
 * the peer (WIN_ADD, with their memfd), mapped here at once or when first
 * used, dropped on WIN_DEL once our RMAs on them are done (the graveyard).
 * Sorted by offset, O(log n) look-up; a range may span contiguous pieces.
 * Callers hold r->lock. The control service (svc.c) feeds it the records.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knob.h"
#include "wire_rma.h"

#define PAGE 4096ULL
#define OFF_MAX ((uint64_t)INT64_MAX)

static size_t rwin_search(struct skiff_rwin *t, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t[mid].off + t[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct skiff_rwin *skiff_rwin_find(struct skiff_rma *r, uint64_t off)
{
	size_t i = rwin_search(r->rwin, r->nrwin, off);

	if (i < r->nrwin && r->rwin[i].off <= off)
		return &r->rwin[i];
	return NULL;
}

static int push_rwin(struct skiff_rwin **t, size_t *n, size_t *cap, size_t at,
		     const struct skiff_rwin *w)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *x = realloc(*t, nc * sizeof(**t));
		if (!x)
			return -ENOMEM;
		*t = x;
		*cap = nc;
	}
	memmove(&(*t)[at + 1], &(*t)[at], (*n - at) * sizeof(**t));
	(*t)[at] = *w;
	(*n)++;
	return 0;
}

/*
 * What a peer may make us map is bounded: a window announced with a huge
 * (sparse) memfd costs us address space, not the peer memory. Pieces of
 * LAZY_MIN or more are kept as their descriptor (at most LAZY_FDS per
 * connection) and mapped when an RMA, fence or scif_mmap first uses them;
 * and the pieces a peer has announced and not deleted may cover at most
 * SKIFF_PEER_MAP_MAX bytes (default 1 TiB): a peer announcing more breaks
 * the connection (ECONNRESET), see scif(7).
 */
#define LAZY_MIN (1ULL << 20)
#define LAZY_FDS 256
#define PEER_MAP_DEFAULT (1ULL << 40)

static uint64_t peer_map_max_v;
static pthread_once_t peer_map_once = PTHREAD_ONCE_INIT;

static void peer_map_init(void)
{
	peer_map_max_v = skiff_knob_u64("SKIFF_PEER_MAP_MAX", PEER_MAP_DEFAULT,
					1, UINT64_MAX, SKIFF_KNOB_SIZE,
					"bytes");
}

static uint64_t peer_map_max(void)
{
	pthread_once(&peer_map_once, peer_map_init);
	return peer_map_max_v;
}

int skiff_rwin_map(struct skiff_rma *r, struct skiff_rwin *w)
{
	void *p;

	if (w->map)
		return 0;
	if (w->fd < 0)
		return -ENOMEM;
	p = mmap(NULL, w->len, w->mprot, MAP_SHARED, w->fd, (off_t)w->file_off);
	if (p == MAP_FAILED)
		return -ENOMEM;
	madvise(p, w->len, MADV_DONTFORK); /* the parent's, not a child's */
	w->map = p;
	close(w->fd);
	w->fd = -1;
	r->nlazy--;
	return 0;
}

/* A piece of the peer's is gone for good (no RMA of ours uses it). */
void skiff_rwin_release(struct skiff_rma *r, struct skiff_rwin *w)
{
	if (w->map)
		munmap(w->map, w->len);
	if (w->fd >= 0) {
		close(w->fd);
		r->nlazy--;
	}
	r->peer_bytes -= w->len < r->peer_bytes ? w->len : r->peer_bytes;
}

/* Take in a WIN_ADD; *fdp is set to -1 when the piece keeps the
 * descriptor. 0, also for a record ignored as malformed; -E2BIG for a peer
 * announcing more than it may make us map (the caller breaks the
 * connection). */
int skiff_rwin_add(struct skiff_rma *r, const struct skiff_rma_win *w, int *fdp)
{
	struct skiff_rwin nw = { 0 };
	struct stat st;
	int seals, acc, mprot, fd = *fdp;
	size_t i;

	/* everything here comes from the peer: check it all */
	if (fd < 0 || !w->len || (w->offset | w->len | w->file_off) & (PAGE - 1) ||
	    w->offset > OFF_MAX || w->len > OFF_MAX - w->offset ||
	    w->file_off > OFF_MAX - w->len || !w->prot ||
	    (w->prot & ~(uint32_t)(SCIF_PROT_READ | SCIF_PROT_WRITE)))
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < w->file_off + w->len)
		return 0;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return 0; /* it could shrink under our mapping: SIGBUS */
	acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	mprot = PROT_READ | (acc == O_RDWR ? PROT_WRITE : 0);
	if ((w->prot & SCIF_PROT_WRITE) && !(mprot & PROT_WRITE))
		return 0;
	i = rwin_search(r->rwin, r->nrwin, w->offset);
	if (i < r->nrwin && r->rwin[i].off < w->offset + w->len)
		return 0; /* overlaps a live piece: not from an honest owner */
	if (w->len > peer_map_max() || r->peer_bytes > peer_map_max() - w->len) {
		return -E2BIG; /* more than we let one peer make us map */
	}
	nw.off = w->offset;
	nw.len = w->len;
	nw.prot = (int)w->prot;
	nw.mprot = mprot;
	nw.file_off = w->file_off;
	nw.fd = -1;
	if (w->len >= LAZY_MIN && r->nlazy < LAZY_FDS) {
		nw.fd = fd; /* mapped when first used */
		r->nlazy++;
	} else {
		nw.map = mmap(NULL, w->len, mprot, MAP_SHARED, fd,
			      (off_t)w->file_off);
		if (nw.map == MAP_FAILED)
			return 0;
		/* the parent's, not a child's */
		madvise(nw.map, w->len, MADV_DONTFORK);
	}
	if (push_rwin(&r->rwin, &r->nrwin, &r->caprwin, i, &nw) < 0) {
		if (nw.map)
			munmap(nw.map, nw.len);
		else
			r->nlazy--;
		return 0;
	}
	if (nw.fd >= 0)
		*fdp = -1;
	r->peer_bytes += w->len;
	return 0;
}

void skiff_rwin_reap_grave(struct skiff_rma *r)
{
	uint64_t done = atomic_load(&r->completed);
	size_t k = 0;

	for (size_t i = 0; i < r->ngrave; i++) {
		if (r->grave[i].dead_seq <= done)
			skiff_rwin_release(r, &r->grave[i]);
		else
			r->grave[k++] = r->grave[i];
	}
	r->ngrave = k;
}

/* Take in a WIN_DEL: the caller answers (WIN_DEL_ACK) once this returns
 * 0; 1 (a daemon's end): once the RMAs up to *@after are done. */
int skiff_rwin_del(struct skiff_ep *ep, uint64_t off, uint64_t len,
		   uint64_t *after)
{
	struct skiff_rma *r = ep->rma;
	size_t i;
	uint64_t seq;

	if (len > OFF_MAX || off > OFF_MAX - len)
		return 0;
	pthread_mutex_lock(&r->clock);
	seq = r->submitted;
	pthread_mutex_unlock(&r->clock);
	i = rwin_search(r->rwin, r->nrwin, off);
	while (i < r->nrwin && r->rwin[i].off + r->rwin[i].len <= off + len &&
	       r->rwin[i].off >= off) {
		/* RMAs already queued may still use it: unmap once done (one
		 * never mapped was used by none) */
		struct skiff_rwin g = r->rwin[i];
		g.dead_seq = seq;
		if (!g.map ||
		    push_rwin(&r->grave, &r->ngrave, &r->capgrave, r->ngrave, &g) < 0)
			skiff_rwin_release(r, &g);
		memmove(&r->rwin[i], &r->rwin[i + 1],
			(r->nrwin - i - 1) * sizeof(*r->rwin));
		r->nrwin--;
	}
	/* our RMAs already queued may still write those pages: the owner may
	 * reuse them as soon as we answer, so answer once they are done
	 * (unless the connection is over: orphaned). A daemon's RMAs end in
	 * its loop, which takes this lock: it answers then (svc.c), nobody
	 * waits here. */
	*after = seq;
	if (ep->relayed == SKIFF_RELAYED_DAEMON) {
		skiff_rwin_reap_grave(r);
		return !atomic_load(&r->orphaned) &&
		       atomic_load(&r->completed) < seq;
	}
	if (!atomic_load(&r->orphaned))
		skiff_rma_wait(ep, seq);
	skiff_rwin_reap_grave(r);
	return 0;
}

