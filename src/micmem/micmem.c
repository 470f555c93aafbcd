/* SPDX-License-Identifier: MIT */
/*
 * micmem.c - the exported calls: handles, boards, ranges, transfers.
 *
 * Handles live in a table guarded by a reader-writer lock that is held
 * only to look a handle up (and take a reference) or to add or remove one.
 * Each handle has its own reader-writer lock: transfers hold it shared (so
 * any number run at once), calls that change the board or the range list
 * hold it exclusive. The copy itself takes only per-channel and
 * per-transfer locks (copy.c). fork(): see mm_fork_child.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "micmem.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probe.h"

struct mm_handle {
	int refs;               /* atomic; the table holds one */
	pthread_rwlock_t lock;
	int dead;               /* closed: under lock */
	/* the board; all under lock */
	int board;              /* -1: none */
	int dsock;              /* connection to the board's scifd */
	int ep;                 /* a board of another host: its SCIF
				 * connection (remote.c); -1 otherwise */
	char *dev;
	uint64_t dev_size;
	int offline;            /* atomic: scifd went away */
	struct mm_range *ranges;
	struct mm_engine eng;
};

static pthread_rwlock_t tab_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct mm_handle *tab[MM_MAX_HANDLES];

static int fail(int r)
{
	errno = -r;
	return -1;
}

static struct mm_handle *hget(int h)
{
	struct mm_handle *p = NULL;

	if (h < 0 || h >= MM_MAX_HANDLES)
		return NULL;
	pthread_rwlock_rdlock(&tab_lock);
	p = tab[h];
	if (p)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&tab_lock);
	return p;
}

static void hput(struct mm_handle *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_rwlock_destroy(&p->lock);
		free(p);
	}
}

/* Look @h up and lock it (shared or exclusive); NULL with *err = -EBADF. */
static struct mm_handle *hlock(int h, int excl, int *err)
{
	struct mm_handle *p = hget(h);

	*err = -EBADF;
	if (!p)
		return NULL;
	if (excl)
		pthread_rwlock_wrlock(&p->lock);
	else
		pthread_rwlock_rdlock(&p->lock);
	if (p->dead) {
		pthread_rwlock_unlock(&p->lock);
		hput(p);
		return NULL;
	}
	*err = 0;
	return p;
}

static void hunlock(struct mm_handle *p)
{
	pthread_rwlock_unlock(&p->lock);
	hput(p);
}

static void handle_lock_init(struct mm_handle *p)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	/* a stream of transfers must not starve maprange or close */
	pthread_rwlockattr_setkind_np(&a,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->lock, &a);
	pthread_rwlockattr_destroy(&a);
}

/*
 * fork(): a child has only the thread that forked. The locks may have been
 * held by threads that are not there (a handle's for a long transfer, or
 * by a call waiting on scifd), so the child makes them anew instead of
 * waiting: the table and the handles change by single stores under them
 * (a slot, a list head), so what the child sees is consistent. A handle's
 * engine starts new workers on its next transfer (copy.c).
 */
static void mm_fork_child(void)
{
	pthread_rwlock_init(&tab_lock, NULL);
	for (int h = 0; h < MM_MAX_HANDLES; h++) {
		struct mm_handle *p = tab[h];

		if (!p)
			continue;
		handle_lock_init(p);
		mm_engine_forked(&p->eng);
	}
}

__attribute__((constructor)) static void mm_atfork(void)
{
	pthread_atfork(NULL, NULL, mm_fork_child);
}

int mm_api_open(void)
{
	struct mm_handle *p = calloc(1, sizeof(*p));
	int h;

	if (!p)
		return fail(-ENOMEM);
	p->refs = 1;
	p->board = -1;
	p->dsock = -1;
	p->ep = -1;
	handle_lock_init(p);
	pthread_rwlock_wrlock(&tab_lock);
	for (h = 0; h < MM_MAX_HANDLES && tab[h]; h++)
		;
	if (h < MM_MAX_HANDLES)
		tab[h] = p;
	pthread_rwlock_unlock(&tab_lock);
	if (h == MM_MAX_HANDLES) {
		pthread_rwlock_destroy(&p->lock);
		free(p);
		return fail(-EMFILE);
	}
	return h;
}

static void unmap_ranges(struct mm_handle *p)
{
	while (p->ranges) {
		struct mm_range *r = p->ranges;

		p->ranges = r->next;
		mm_range_free(r);
	}
}

/* Under the exclusive lock. */
static void release_board(struct mm_handle *p)
{
	if (p->ep >= 0) {
		mm_remote_close(p->ep); /* its windows go with it */
		p->ep = -1;
		unmap_ranges(p);
	} else {
		mm_engine_stop(&p->eng);
		unmap_ranges(p);
		munmap(p->dev, p->dev_size);
		close(p->dsock);
	}
	p->dev = NULL;
	p->dev_size = 0;
	p->dsock = -1;
	p->board = -1;
	__atomic_store_n(&p->offline, 0, __ATOMIC_RELAXED);
}

int mm_api_close(int h)
{
	struct mm_handle *p = NULL;

	if (h >= 0 && h < MM_MAX_HANDLES) {
		pthread_rwlock_wrlock(&tab_lock);
		p = tab[h];
		tab[h] = NULL;
		pthread_rwlock_unlock(&tab_lock);
	}
	if (!p)
		return fail(-EBADF);
	/* waits for the calls in progress; later ones find it dead */
	pthread_rwlock_wrlock(&p->lock);
	if (p->board >= 0)
		release_board(p);
	unmap_ranges(p);
	p->dead = 1;
	pthread_rwlock_unlock(&p->lock);
	hput(p); /* the table's reference */
	return 0;
}

int mm_api_opendev(int h, uint32_t board)
{
	struct mm_handle *p;
	uint64_t size;
	int r, fd, sock, remote = 0;
	uint32_t node = 0;
	void *m;

	p = hlock(h, 1, &r);
	if (!p)
		return fail(r);
	if (p->board >= 0) {
		r = -EBUSY;
		goto out;
	}
	if (board >= SKIFF_MICMEM_MAX_BOARDS) {
		r = -ENODEV;
		goto out;
	}
	r = mm_board_node(board, &node, &remote);
	if (r == 0 && remote) {
		r = mm_remote_open(node, &p->ep, &size);
		if (r == 0) {
			p->dev_size = size;
			p->board = (int)board;
			__atomic_store_n(&p->offline, 0, __ATOMIC_RELAXED);
		}
		goto out;
	}
	if (r == 0)
		r = mm_card_mem(node, &fd, &size, &sock);
	if (r < 0)
		goto out;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		r = -ENOMEM;
		close(sock);
		goto out;
	}
	r = mm_engine_start(&p->eng);
	if (r < 0) {
		munmap(m, size);
		close(sock);
		goto out;
	}
	p->dev = m;
	p->dev_size = size;
	p->dsock = sock;
	p->board = (int)board;
	__atomic_store_n(&p->offline, 0, __ATOMIC_RELAXED);
out:
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

int mm_api_closedev(int h)
{
	struct mm_handle *p;
	int r;

	p = hlock(h, 1, &r);
	if (!p)
		return fail(r);
	if (p->board < 0)
		r = -ENODEV;
	else
		release_board(p);
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

static int overlaps(const struct mm_handle *p, uintptr_t b, uint64_t size)
{
	for (const struct mm_range *r = p->ranges; r; r = r->next) {
		uintptr_t rb = (uintptr_t)r->base;

		if (b < rb + r->size && rb < b + size)
			return 1;
	}
	return 0;
}

int mm_api_maprange(int h, void *addr, uint64_t size)
{
	struct mm_handle *p;
	struct mm_range *rg = NULL;
	uintptr_t b = (uintptr_t)addr;
	int r;

	/* cheap checks first, then the pinning outside the handle's lock
	 * (populating a big range takes a while), then the insertion */
	p = hlock(h, 0, &r);
	if (!p)
		return fail(r);
	if (p->board < 0)
		r = -ENODEV;
	else if (!addr || size == 0 || b % MM_PAGE || size % MM_PAGE ||
		 size > UINTPTR_MAX - b || overlaps(p, b, size))
		r = -EINVAL;
	hunlock(p);
	if (r < 0)
		return fail(r);

	r = mm_range_pin(addr, size, &rg);
	if (r < 0)
		return fail(r);

	p = hlock(h, 1, &r);
	if (!p) {
		mm_range_free(rg);
		return fail(r);
	}
	if (p->board < 0)
		r = -ENODEV;
	else if (overlaps(p, b, size))
		r = -EINVAL; /* another thread mapped it meanwhile */
	else if (p->ep >= 0) {
		r = mm_remote_register(p->ep, addr, size, &rg->win);
		rg->has_win = r == 0;
	}
	if (r < 0) {
		mm_range_free(rg);
	} else {
		rg->next = p->ranges;
		p->ranges = rg;
	}
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

static struct mm_range *find_range(struct mm_handle *p, void *addr)
{
	for (struct mm_range *r = p->ranges; r; r = r->next)
		if (r->base == addr)
			return r;
	return NULL;
}

int mm_api_unmaprange(int h, void *addr)
{
	struct mm_handle *p;
	struct mm_range **pp;
	int r;

	p = hlock(h, 1, &r);
	if (!p)
		return fail(r);
	r = -EINVAL;
	for (pp = &p->ranges; *pp; pp = &(*pp)->next)
		if ((*pp)->base == addr) {
			struct mm_range *rg = *pp;

			*pp = rg->next;
			if (rg->has_win && p->ep >= 0)
				mm_remote_unregister(p->ep, rg->win, rg->size);
			mm_range_free(rg);
			r = 0;
			break;
		}
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

int mm_api_rangeinfo(int h, void *addr, struct micmem_range_info *info)
{
	struct mm_handle *p;
	struct mm_range *rg;
	int r;

	p = hlock(h, 0, &r);
	if (!p)
		return fail(r);
	rg = find_range(p, addr);
	if (!rg || !info) {
		r = -EINVAL;
	} else {
		memset(info, 0, sizeof(*info));
		info->size = rg->size;
		info->huge_segments = rg->huge_segs;
		info->small_segments = rg->small_segs;
		info->segments = rg->huge_segs + rg->small_segs;
		info->locked = (uint32_t)rg->locked;
	}
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

int mm_api_devsize(int h, uint64_t *size)
{
	struct mm_handle *p;
	int r;

	p = hlock(h, 0, &r);
	if (!p)
		return fail(r);
	if (p->board < 0)
		r = -ENODEV;
	else if (!size)
		r = -EINVAL;
	else
		*size = p->dev_size;
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

/* The board's scifd still runs: it never writes to us unasked, so anything
 * readable on the connection is its end (POLLHUP, or end of file). */
static int board_online(struct mm_handle *p)
{
	struct pollfd pf = { .fd = p->dsock, .events = POLLIN };

	if (__atomic_load_n(&p->offline, __ATOMIC_RELAXED))
		return 0;
	if (poll(&pf, 1, 0) != 0) {
		__atomic_store_n(&p->offline, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

static int transfer(int h, void *host, uint64_t host_off, uint64_t dev_off,
		    uint64_t size, int flags, enum mm_dir dir)
{
	struct mm_handle *p;
	struct mm_range *rg;
	int r;

	p = hlock(h, 0, &r);
	if (!p)
		return fail(r);
	if (p->board < 0 || (p->ep < 0 && !board_online(p)) ||
	    __atomic_load_n(&p->offline, __ATOMIC_RELAXED)) {
		r = -ENODEV;
		goto out;
	}
	rg = find_range(p, host);
	if (!rg || (flags != MICMEM_AUTO && flags != MICMEM_SINGLE &&
		    flags != MICMEM_DUAL) ||
	    host_off > rg->size || size > rg->size - host_off ||
	    dev_off > p->dev_size || size > p->dev_size - dev_off) {
		r = -EINVAL;
		goto out;
	}
	/* the user may have unmapped the range since micmem_maprange: EFAULT
	 * rather than a crash in a copy thread (one system call, probe.h) */
	if (size && skiff_mem_check(rg->base + host_off, size, dir == MM_H2D ?
				    PROT_READ : PROT_WRITE) < 0) {
		r = -EFAULT;
		goto out;
	}
	if (size && p->ep >= 0) {
		/* another host's card: one RMA (flags choose among local
		 * copy engines; the daemons' libfabric moves this one) */
		r = mm_remote_copy(p->ep, rg->win + host_off, dev_off, size, dir);
		if (r == -ENODEV)
			__atomic_store_n(&p->offline, 1, __ATOMIC_RELAXED);
	} else if (size) {
		mm_transfer(&p->eng, rg, host_off, p->dev + dev_off, size, dir,
			    flags);
	}
out:
	hunlock(p);
	return r < 0 ? fail(r) : 0;
}

int mm_api_host2dev(int h, void *src, uint64_t src_offset,
			      uint64_t dest_dev, uint64_t size, int flags)
{
	return transfer(h, src, src_offset, dest_dev, size, flags, MM_H2D);
}

int mm_api_dev2host(int h, void *dest, uint64_t dest_offset,
			      uint64_t src_dev, uint64_t size, int flags)
{
	return transfer(h, dest, dest_offset, src_dev, size, flags, MM_D2H);
}

void *mm_api_devmap(uint32_t board, uint64_t dev_addr, uint64_t size,
			      int prot)
{
	uint64_t dsize;
	int r, fd, remote = 0;
	uint32_t node = 0;
	void *m;

	if (size == 0 || dev_addr % MM_PAGE || size % MM_PAGE ||
	    (prot & ~(PROT_READ | PROT_WRITE)) || size > SIZE_MAX) {
		errno = EINVAL;
		return MICMEM_MAP_FAILED;
	}
	if (board >= SKIFF_MICMEM_MAX_BOARDS) {
		errno = ENODEV;
		return MICMEM_MAP_FAILED;
	}
	r = mm_board_node(board, &node, &remote);
	if (r == 0 && remote)
		r = -ENXIO; /* no memory is shared between hosts */
	if (r == 0)
		r = mm_card_mem(node, &fd, &dsize, NULL);
	if (r < 0) {
		errno = -r;
		return MICMEM_MAP_FAILED;
	}
	if (dev_addr > dsize || size > dsize - dev_addr) {
		close(fd);
		errno = EINVAL;
		return MICMEM_MAP_FAILED;
	}
	m = mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, (off_t)dev_addr);
	r = errno;
	close(fd);
	if (m == MAP_FAILED) {
		errno = r;
		return MICMEM_MAP_FAILED;
	}
	return m;
}

int mm_api_devunmap(void *addr, uint64_t size)
{
	if (!addr || (uintptr_t)addr % MM_PAGE || size == 0 || size > SIZE_MAX)
		return fail(-EINVAL);
	if (munmap(addr, (size_t)size) < 0)
		return -1;
	return 0;
}
