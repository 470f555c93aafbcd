/* SPDX-License-Identifier: MIT */
/*
 * mmap.c - scif_mmap, scif_munmap: map the peer's registered memory.
 *
 * The arguments and the list of mappings are here; the mapping itself is
 * the connection's transport's (transport.h). The local one (local.c): the
 * peer's window pieces are already mapped in this process (rwin.c), and
 * scif_mmap makes further mappings of the same shared pages with
 * mremap(old_size = 0), so no descriptor needs to be kept per window. Such a
 * mapping is truly shared and coherent with the peer's own view (same
 * physical pages), and stays valid after the peer closes or exits (the pages
 * live as long as a mapping does). The owner is told (MAP_REF) so that the
 * offsets stay reserved until we unmap, as SCIF documents.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE 4096ULL
#define OFF_MAX ((uint64_t)INT64_MAX)

struct mapping {
	uintptr_t addr;
	size_t len;
	uint64_t off;
	size_t left; /* bytes still mapped: released when it reaches 0 */
	struct skiff_ep *ep; /* NULL once the endpoint closed */
	struct mapping *next;
};

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *maps;

/* The mappings are not in a fork() child (MADV_DONTFORK), and their
 * endpoints' RMA state is the parent's: the child starts with none, and a
 * lock that a thread not in the child may have held is made anew. */
static void mmap_fork_child(void)
{
	pthread_mutex_init(&maps_lock, NULL);
	maps = NULL;
}

__attribute__((constructor)) static void mmap_atfork(void)
{
	pthread_atfork(NULL, NULL, mmap_fork_child);
}

void skiff_mmap_forget(struct skiff_ep *ep)
{
	pthread_mutex_lock(&maps_lock);
	for (struct mapping *m = maps; m; m = m->next)
		if (m->ep == ep)
			m->ep = NULL;
	pthread_mutex_unlock(&maps_lock);
}

void *skiff_api_mmap(void *addr, size_t len, int prot_flags, int map_flags,
			  scif_epd_t epd, off_t offset)
{
	struct mapping *m = NULL;
	struct skiff_ep *ep;
	unsigned char *dest;
	size_t mlen;
	int ret = skiff_rma_enter(epd, &ep);

	if (ret < 0)
		goto fail;
	mlen = (len + PAGE - 1) & ~(PAGE - 1);
	if ((map_flags & ~SCIF_MAP_FIXED) ||
	    (prot_flags & ~(SCIF_PROT_READ | SCIF_PROT_WRITE)) || !len ||
	    mlen < len || offset < 0 || ((uint64_t)offset & (PAGE - 1)) ||
	    mlen > OFF_MAX - (uint64_t)offset ||
	    ((map_flags & SCIF_MAP_FIXED) && ((uintptr_t)addr & (PAGE - 1)))) {
		ret = -EINVAL;
		goto fail;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		goto fail;
	}
	if (map_flags & SCIF_MAP_FIXED)
		dest = addr;
	else {
		/* reserve the address range, then map the pieces over it */
		dest = mmap(addr, mlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			    MAP_NORESERVE, -1, 0);
		if (dest == MAP_FAILED) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = ep->tp->mmap(ep, dest, (uint64_t)offset, mlen, prot_flags);
	if (ret < 0) {
		if (!(map_flags & SCIF_MAP_FIXED))
			munmap(dest, mlen);
		else /* as mmap(MAP_FIXED) would: the old mapping is gone */
			mmap(dest, mlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			     MAP_FIXED | MAP_NORESERVE, -1, 0);
		goto fail;
	}
	/* SCIF's mappings are not inherited across fork() (VM_DONTCOPY) */
	madvise(dest, mlen, MADV_DONTFORK);
	m->addr = (uintptr_t)dest;
	m->len = mlen;
	m->left = mlen;
	m->off = (uint64_t)offset;
	m->ep = ep;
	pthread_mutex_lock(&maps_lock);
	m->next = maps;
	maps = m;
	pthread_mutex_unlock(&maps_lock);
	return dest;
fail:
	free(m);
	errno = -ret;
	return SCIF_MMAP_FAILED;
}

int skiff_api_munmap(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, e;
	struct mapping **pp;

	if (munmap(addr, len) < 0)
		return -1;
	e = a + ((len + PAGE - 1) & ~(PAGE - 1));
	/* Every scif_mmap()ed range this covers loses those bytes; one that
	 * has none left is released, and its owner told (it may then reuse
	 * the offsets of windows it unregistered meanwhile). */
	pthread_mutex_lock(&maps_lock);
	for (pp = &maps; *pp;) {
		struct mapping *m = *pp;
		uintptr_t lo = m->addr > a ? m->addr : a;
		uintptr_t hi = m->addr + m->len < e ? m->addr + m->len : e;

		if (lo >= hi) {
			pp = &m->next;
			continue;
		}
		/* a range unmapped twice must not count twice: clamp */
		m->left -= hi - lo < m->left ? hi - lo : m->left;
		if (m->left) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		/* without the table lock (a thread may hold it waiting on
		 * that peer, and maps_lock is everyone's): the send does not
		 * wait, and the endpoint stays while we hold maps_lock */
		if (m->ep && m->ep->rma)
			m->ep->tp->munmap(m->ep, m->off, m->len);
		free(m);
	}
	pthread_mutex_unlock(&maps_lock);
	return 0;
}
