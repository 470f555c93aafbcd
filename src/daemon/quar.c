/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "quar.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct qent {
	void *p;
	size_t len;
	int heap;
};

struct qhost {
	struct qent *e;
	size_t n, cap;
	size_t bytes;
};

struct skiff_quar {
	unsigned nhosts;
	struct qhost h[];
};

struct skiff_quar *skiff_quar_new(unsigned nhosts)
{
	struct skiff_quar *q = calloc(1, sizeof(*q) + nhosts * sizeof(q->h[0]));

	if (q)
		q->nhosts = nhosts;
	return q;
}

static void let_go(struct qent *e)
{
	if (e->heap)
		free(e->p);
	else
		munmap(e->p, e->len);
}

void skiff_quar_release(struct skiff_quar *q, unsigned h)
{
	struct qhost *qh;

	if (!q || h >= q->nhosts)
		return;
	qh = &q->h[h];
	for (size_t i = 0; i < qh->n; i++)
		let_go(&qh->e[i]);
	free(qh->e);
	memset(qh, 0, sizeof(*qh));
}

void skiff_quar_free(struct skiff_quar *q)
{
	if (!q)
		return;
	for (unsigned h = 0; h < q->nhosts; h++)
		skiff_quar_release(q, h);
	free(q);
}

void skiff_quar_take(struct skiff_quar *q, unsigned h, void *p, size_t len,
		     int heap)
{
	struct qhost *qh;

	if (!p || !len)
		return;
	/* the process's pages leave at once: a late write lands in zeroes
	 * of ours (on failure the pages stay, but the range is never
	 * unmapped, so nothing else is ever mapped there) */
	if (!heap)
		mmap(p, len, PROT_READ | PROT_WRITE,
		     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	if (!q || h >= q->nhosts)
		return; /* kept for good */
	qh = &q->h[h];
	if (qh->n == qh->cap) {
		size_t cap = qh->cap ? 2 * qh->cap : 16;
		struct qent *e = realloc(qh->e, cap * sizeof(*e));

		if (!e)
			return; /* kept for good */
		qh->e = e;
		qh->cap = cap;
	}
	qh->e[qh->n++] = (struct qent){ p, len, heap };
	qh->bytes += len;
}

size_t skiff_quar_bytes(const struct skiff_quar *q, unsigned h)
{
	return q && h < q->nhosts ? q->h[h].bytes : 0;
}
