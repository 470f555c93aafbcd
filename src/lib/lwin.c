/* SPDX-License-Identifier: MIT */
/*
 * lwin.c - the endpoint's table of local windows (registered with
 * scif_register, window.c): look-ups by offset, insertion, removal, and the
 * peer's references to them (its scif_mmap()s, MAP_REF/MAP_UNREF records).
 * Sorted by offset, O(log n) look-up. Callers hold r->lock.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OFF_MAX ((uint64_t)INT64_MAX)

size_t skiff_lwin_search(struct skiff_rma *r, uint64_t off)
{
	size_t lo = 0, hi = r->nlwin;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->lwin[mid].off + r->lwin[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct skiff_lwin *skiff_lwin_find(struct skiff_rma *r, uint64_t off)
{
	size_t i = skiff_lwin_search(r, off);

	if (i < r->nlwin && r->lwin[i].off <= off && !r->lwin[i].zombie)
		return &r->lwin[i];
	return NULL;
}

unsigned char *skiff_lwin_addr(struct skiff_lwin *w, uint64_t off,
			       uint64_t *contig)
{
	uint64_t rel = off - w->off;

	for (unsigned i = 0; i < w->npieces; i++) {
		if (rel < w->pieces[i].len) {
			*contig = w->pieces[i].len - rel;
			return w->pieces[i].view + rel;
		}
		rel -= w->pieces[i].len;
	}
	*contig = 0;
	return NULL;
}

/* The same byte at the user's address (the registered range). Fence
 * signals write there: a thread of the user spinning on the word reads
 * that address, and tools that track memory by address (TSan) must see
 * the store where the load is. */
unsigned char *skiff_lwin_user_addr(struct skiff_lwin *w, uint64_t off,
				    uint64_t *contig)
{
	uint64_t rel = off - w->off;

	for (unsigned i = 0; i < w->npieces; i++) {
		if (rel < w->pieces[i].len) {
			*contig = w->pieces[i].len - rel;
			return (unsigned char *)(w->pieces[i].b->start +
						 w->pieces[i].file_off + rel);
		}
		rel -= w->pieces[i].len;
	}
	*contig = 0;
	return NULL;
}

/* Is [off, off + len) free of windows (live or zombie)? */
int skiff_lwin_range_free(struct skiff_rma *r, uint64_t off, uint64_t len)
{
	size_t i = skiff_lwin_search(r, off);

	return !(i < r->nlwin && r->lwin[i].off < off + len);
}

int skiff_lwin_insert(struct skiff_rma *r, struct skiff_lwin *w)
{
	size_t i = skiff_lwin_search(r, w->off);

	if (r->nlwin == r->caplwin) {
		size_t nc = r->caplwin ? r->caplwin * 2 : 16;
		void *t = realloc(r->lwin, nc * sizeof(*r->lwin));
		if (!t)
			return -ENOMEM;
		r->lwin = t;
		r->caplwin = nc;
	}
	memmove(&r->lwin[i + 1], &r->lwin[i], (r->nlwin - i) * sizeof(*r->lwin));
	r->lwin[i] = *w;
	r->nlwin++;
	return 0;
}

void skiff_lwin_remove(struct skiff_rma *r, size_t i)
{
	skiff_pieces_put(r->lwin[i].pieces, r->lwin[i].npieces);
	memmove(&r->lwin[i], &r->lwin[i + 1], (r->nlwin - i - 1) * sizeof(*r->lwin));
	r->nlwin--;
}

void skiff_lwin_map_ref(struct skiff_rma *r, uint64_t off, uint64_t len,
			  int delta)
{
	size_t i;

	if (len > OFF_MAX || off > OFF_MAX - len)
		return;
	i = skiff_lwin_search(r, off);
	while (i < r->nlwin && r->lwin[i].off < off + len) {
		struct skiff_lwin *w = &r->lwin[i];
		if (delta > 0)
			w->peer_refs++;
		else if (w->peer_refs > 0)
			w->peer_refs--;
		if (w->zombie && w->peer_refs == 0) {
			skiff_lwin_remove(r, i); /* the last reference went */
			continue;
		}
		i++;
	}
}
