/* SPDX-License-Identifier: MIT */
/*
 * reback.c - re-backing of registered user memory with memfds.
 *
 * To make registered pages reachable by the peer without a bounce buffer and
 * without the owner's help, the range is re-backed once by a memfd at the
 * same virtual address (contents copied, then mmap(MAP_FIXED|MAP_SHARED)),
 * and the memfd is passed to the peer, which maps it. Ranges re-backed once
 * are reused, so the same pages may back several windows on several
 * endpoints. Consequences (documented in scif_register(3)): a write by
 * another thread to the range during the re-backing may be lost. A fork()
 * child gets private copies of those pages, as it would of pinned ones
 * (see "fork()" at the end).
 *
 * Windows (window.c) hold pieces of re-backed ranges; this file keeps the
 * process-wide registry of those ranges and knows nothing of endpoints.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096ULL

/* ---- process-wide registry of re-backed ranges ---- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skiff_backing **reg; /* sorted by start */
static size_t nreg, capreg;

/* index of the first backing whose end is above @p */
static size_t reg_search(uintptr_t p)
{
	size_t lo = 0, hi = nreg;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (reg[mid]->start + reg[mid]->len <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void raise_nofile(void)
{
	static int done;
	struct rlimit rl;

	/* each re-backed range holds a memfd; windows are many */
	if (done)
		return;
	done = 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static unsigned backing_ids;

/*
 * Marker pages (see reback) of neighbouring page-sized ranges live in an
 * arena of reserved address space, page k of it for the range starting at a
 * page number equal to k modulo its size: markers of neighbouring pages of
 * one mapping are then neighbours with the same flags and consecutive
 * offsets, and merge into one mapping, so 10,000 page-sized windows do not
 * cost 10,000 more mappings. A range with no such neighbour gets its marker
 * anywhere (in the arena it would split the reservation: two mappings
 * more), and moves it to the arena when a neighbour comes. Under reg_lock.
 */
#define ARENA_PAGES 16384 /* 64 MiB of address space, no memory */
static unsigned char *arena;
static uint8_t arena_used[ARENA_PAGES / 8];

static int in_arena(const void *m)
{
	const unsigned char *c = m;

	return arena && c >= arena && c < arena + ARENA_PAGES * PAGE;
}

/* Take the arena slot of the range starting at @p: NULL if taken. */
static void *slot_take(uintptr_t p)
{
	size_t k = (p / PAGE) % ARENA_PAGES;

	if (!arena) {
		void *a = mmap(NULL, ARENA_PAGES * PAGE, PROT_NONE, MAP_PRIVATE |
			       MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (a == MAP_FAILED)
			return NULL;
		arena = a;
	}
	if (arena_used[k / 8] & (1u << (k % 8)))
		return NULL;
	arena_used[k / 8] |= (uint8_t)(1u << (k % 8));
	return arena + k * PAGE;
}

static void slot_free(void *m)
{
	size_t k = (size_t)((unsigned char *)m - arena) / PAGE;

	arena_used[k / 8] &= (uint8_t)~(1u << (k % 8));
}

/* A neighbour's marker from anywhere to its arena slot. */
static void marker_to_arena(struct skiff_backing *nb)
{
	void *s;

	if (!nb->marker || in_arena(nb->marker) || !(s = slot_take(nb->start)))
		return;
	if (mremap(nb->marker, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, s) ==
	    MAP_FAILED) {
		slot_free(s);
		return;
	}
	nb->marker = s;
}

static void *marker_get(uintptr_t p, size_t n)
{
	size_t i = reg_search(p);
	struct skiff_backing *prev = NULL, *next = NULL;
	void *m = NULL;

	if (i > 0 && reg[i - 1]->start + reg[i - 1]->len == p &&
	    reg[i - 1]->len == PAGE)
		prev = reg[i - 1];
	if (i < nreg && reg[i]->start == p + n && n == PAGE)
		next = reg[i];
	if (prev || next)
		m = slot_take(p);
	if (!m)
		return mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (prev)
		marker_to_arena(prev);
	if (next)
		marker_to_arena(next);
	return m;
}

/* @moved: a page was moved there (else it is still the reservation's). */
static void marker_put(void *m, int moved)
{
	if (in_arena(m)) {
		if (moved) /* back to the reservation (our own slot) */
			mmap(m, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			     MAP_NORESERVE | MAP_FIXED, -1, 0);
		slot_free(m);
	} else {
		munmap(m, PAGE);
	}
}

static struct skiff_backing *reback(uintptr_t p, size_t n, int *err)
{
	struct skiff_backing *b;
	size_t done = 0;
	unsigned id = ++backing_ids; /* under reg_lock */
	char name[48];
	int fd;

	snprintf(name, sizeof(name), "skiff-window-%u", id);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		*err = errno == EMFILE || errno == ENFILE ? -EAGAIN : -ENOMEM;
		return NULL;
	}
	/* the mode governs re-opens through /proc/<pid>/fd: 0400 keeps a peer
	 * given an O_RDONLY descriptor from re-opening it for writing */
	if (fchmod(fd, 0400) < 0)
		goto nomem;
	if (ftruncate(fd, (off_t)n) < 0)
		goto nomem;
	/* copy the contents: pwrite reads the user's pages (EFAULT if they
	 * are not there) straight into the new file's pages */
	while (done < n) {
		ssize_t w = pwrite(fd, (void *)(p + done), n - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = (w < 0 && errno == EFAULT) ? -EFAULT : -ENOMEM;
			close(fd);
			return NULL;
		}
		done += (size_t)w;
	}
	/* the peer maps this file: it must not be able to shrink it under us
	 * (SIGBUS), nor we under it */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto nomem;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	/* The user's MADV_DONTFORK (VM_DONTCOPY) dies with the mapping we
	 * replace, and no system call reads it back but /proc/self/smaps
	 * (O(mappings) per call). So keep it: move the first page's page
	 * tables to a page of its own that keeps the flags of the user's
	 * mapping (MREMAP_DONTUNMAP leaves the range mapped); a fork() child
	 * finds that page absent iff the advice was given (fork_child). */
	b->marker = marker_get(p, n);
	if (b->marker == MAP_FAILED) {
		b->marker = NULL;
	} else if (mremap((void *)p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED |
			  MREMAP_DONTUNMAP, b->marker) == MAP_FAILED) {
		marker_put(b->marker, 0); /* an old kernel: the advice is lost */
		b->marker = NULL;
	} else {
		madvise(b->marker, PAGE, MADV_DONTNEED); /* only its flags */
	}
	if (mmap((void *)p, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 0) == MAP_FAILED) {
		if (b->marker)
			marker_put(b->marker, 1);
		free(b);
		goto nomem;
	}
	b->start = p;
	b->len = n;
	b->fd = fd;
	b->id = id;
	return b;
nomem:
	*err = -ENOMEM;
	close(fd);
	return NULL;
}

/* Make [a, a + n) of @b private anonymous memory again, with the file's
 * contents. In place (mmap over it, then pread): an anonymous mapping made
 * where it lies merges with its neighbours, one moved there by mremap()
 * keeps the anon_vma and offset of where it was made and never does (10,000
 * page-sized windows left 10,000 mappings). A load by another thread during
 * the pread reads zero. */
static int make_private(struct skiff_backing *b, uintptr_t a, size_t n)
{
	size_t done = 0;

	/* populated at once: a fault per page costs more than the copy */
	if (mmap((void *)a, n, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1,
		 0) == MAP_FAILED)
		return -ENOMEM;
	while (done < n) {
		/* the system call, not a sanitizer's wrapper of it: these bytes
		 * are the range's own, put back, even where the user freed the
		 * heap memory still registered there */
		ssize_t r = syscall(SYS_pread64, b->fd, (char *)a + done, n - done,
				    (off_t)(a - b->start + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/*
 * The last window on a range went: make it private memory again, so that
 * fork() copies it and freed heap pages behave as heap pages. Only if the
 * range is still our mapping, whole: the user may have unmapped it (then
 * its pages are gone already) or mapped something else there.
 */
/* Is @b's range still our mapping of its file, whole? */
static int still_ours(const struct skiff_backing *b)
{
	char path[96], link[160], want[64];
	size_t wl;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
		 (unsigned long)b->start, (unsigned long)(b->start + b->len));
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = 0;
	wl = (size_t)snprintf(want, sizeof(want), "/memfd:skiff-window-%u", b->id);
	return !strncmp(link, want, wl) && (!link[wl] || link[wl] == ' ');
}

static void restore_private(struct skiff_backing *b)
{
	if (still_ours(b))
		make_private(b, b->start, b->len);
}

/* The control service's thread (svc.c, skiff_reback_defer) */
static __thread int in_service;
/* backings with no window left, kept re-backed (under reg_lock) */
static size_t nidle;

static void backing_free(struct skiff_backing *b)
{
	restore_private(b);
	if (b->marker)
		marker_put(b->marker, 1);
	close(b->fd);
	free(b);
}

/*
 * The last window of a range goes. In a call of the user (scif_unregister,
 * scif_close) the range becomes private memory again at once. When the
 * service drops it (the peer unmapped the last mapping of a window already
 * unregistered), the user is running meanwhile and may be writing there: a
 * restore would lose those writes, so the range stays re-backed (it is
 * still the user's memory, and fork() copies it) until it is registered
 * again (reused as it is) or the user's next scif_unregister or scif_close
 * (skiff_reback_reap_idle).
 */
static void backing_put(struct skiff_backing *b)
{
	size_t i;

	pthread_mutex_lock(&reg_lock);
	if (--b->refs == 0) {
		if (in_service) {
			__atomic_add_fetch(&nidle, 1, __ATOMIC_RELAXED);
		} else {
			i = reg_search(b->start);
			if (i < nreg && reg[i] == b) {
				memmove(&reg[i], &reg[i + 1],
					(nreg - i - 1) * sizeof(*reg));
				nreg--;
			}
			backing_free(b);
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/* Restore the ranges the service left re-backed (backing_put). */
void skiff_reback_reap_idle(void)
{
	size_t k = 0;

	if (in_service || !__atomic_load_n(&nidle, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nreg; i++) {
		if (reg[i]->refs == 0)
			backing_free(reg[i]);
		else
			reg[k++] = reg[i];
	}
	nreg = k;
	__atomic_store_n(&nidle, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
}

void skiff_reback_defer(void)
{
	in_service = 1;
}

void skiff_pieces_put(struct skiff_piece *pc, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (pc[i].view)
			munmap(pc[i].view, pc[i].len);
		backing_put(pc[i].b);
	}
	free(pc);
}

/* Describe [a, a + len) as pieces of re-backed ranges, re-backing gaps. */
int skiff_reback_acquire(uintptr_t a, size_t len, struct skiff_piece **out,
		   unsigned *nout)
{
	struct skiff_piece *pc = NULL;
	unsigned npc = 0, cap = 0;
	uintptr_t p = a, end = a + len;
	int err = 0;

	pthread_mutex_lock(&reg_lock);
	raise_nofile(); /* under the lock: its flag is shared */
	while (p < end) {
		size_t i = reg_search(p);
		struct skiff_backing *b = NULL;
		size_t n;

		if (npc == cap) {
			unsigned nc = cap ? cap * 2 : 4;
			void *t = realloc(pc, nc * sizeof(*pc));
			if (!t) {
				err = -ENOMEM;
				break;
			}
			pc = t;
			cap = nc;
		}
		if (i < nreg && reg[i]->start <= p && reg[i]->refs == 0 &&
		    !still_ours(reg[i])) {
			/* an idle range (backing_put) the user unmapped or
			 * mapped over since: its file is not this memory */
			b = reg[i];
			memmove(&reg[i], &reg[i + 1], (nreg - i - 1) * sizeof(*reg));
			nreg--;
			__atomic_sub_fetch(&nidle, 1, __ATOMIC_RELAXED);
			if (b->marker)
				marker_put(b->marker, 1);
			close(b->fd);
			free(b);
			b = NULL;
			continue;
		}
		if (i < nreg && reg[i]->start <= p) {
			b = reg[i];
			n = b->start + b->len - p;
		} else {
			uintptr_t gend = end;
			if (i < nreg && reg[i]->start < gend)
				gend = reg[i]->start;
			n = gend - p;
			if (nreg == capreg) {
				size_t nc = capreg ? capreg * 2 : 64;
				void *t = realloc(reg, nc * sizeof(*reg));
				if (!t) {
					err = -ENOMEM;
					break;
				}
				reg = t;
				capreg = nc;
			}
			b = reback(p, n, &err);
			if (!b)
				break;
			memmove(&reg[i + 1], &reg[i], (nreg - i) * sizeof(*reg));
			reg[i] = b;
			nreg++;
		}
		if (n > end - p)
			n = end - p;
		if (b->refs++ == 0)
			/* an idle range registered again: as it is */
			__atomic_sub_fetch(&nidle, 1, __ATOMIC_RELAXED);
		pc[npc].b = b;
		pc[npc].file_off = p - b->start;
		pc[npc].len = n;
		pc[npc].view = NULL;
		npc++;
		p += n;
	}
	pthread_mutex_unlock(&reg_lock);
	for (unsigned i = 0; !err && i < npc; i++) {
		void *v = mmap(NULL, pc[i].len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       pc[i].b->fd, (off_t)pc[i].file_off);
		if (v == MAP_FAILED) {
			err = -ENOMEM;
		} else {
			pc[i].view = v;
			/* a fork() child does not use the parent's windows:
			 * it must not keep their pages alive either */
			madvise(v, pc[i].len, MADV_DONTFORK);
		}
	}
	if (err) {
		skiff_pieces_put(pc, npc);
		return err;
	}
	*out = pc;
	*nout = npc;
	return 0;
}


/* ---- fork() ----
 * Registered pages stay the parent's, as with SCIF's pinning: the child
 * gets private copies of the re-backed ranges it inherited (made before
 * fork() returns in the parent, which waits for them, so they hold the
 * fork-time contents), nothing where the user gave MADV_DONTFORK, before
 * registering (the marker page) or after (the range is not inherited).
 * Prepare takes only reg_lock (never held while waiting on a peer). The
 * handlers are registered by window.c, in order with the service's. */

static int fork_pipe[2] = { -1, -1 };
/* a child that does not finish its copies in this long is not waited for */
#define FORK_WAIT_MS 10000

void skiff_reback_fork_prepare(void)
{
	int e = errno;

	pthread_mutex_lock(&reg_lock);
	fork_pipe[0] = fork_pipe[1] = -1;
	if (nreg && pipe2(fork_pipe, O_CLOEXEC) < 0)
		fork_pipe[0] = fork_pipe[1] = -1;
	errno = e;
}

void skiff_reback_fork_parent(void)
{
	int e = errno;

	if (fork_pipe[1] >= 0) {
		struct pollfd p = { .fd = fork_pipe[0], .events = POLLIN };

		close(fork_pipe[1]);
		/* hang-up once the child has its copies (or is gone, or
		 * fork() failed) */
		while (poll(&p, 1, FORK_WAIT_MS) < 0 && errno == EINTR)
			;
		close(fork_pipe[0]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
	pthread_mutex_unlock(&reg_lock);
	errno = e;
}

struct fork_map {
	uintptr_t lo, hi;
	unsigned long ino;
};

/* The child's inherited mappings of re-backed ranges, from /proc/self/maps
 * (read whole before anything changes). */
static size_t fork_maps(struct fork_map **out)
{
	struct fork_map *v = NULL;
	size_t n = 0, cap = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, ino;
		int name = 0;

		if (!strstr(line, "/memfd:skiff-window-"))
			continue;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %n", &lo, &hi, &ino,
			   &name) < 3 || !name)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *t = realloc(v, nc * sizeof(*v));
			if (!t)
				break;
			v = t;
			cap = nc;
		}
		v[n].lo = lo;
		v[n].hi = hi;
		v[n].ino = ino;
		n++;
	}
	fclose(f);
	*out = v;
	return n;
}

void skiff_reback_fork_child(void)
{
	struct fork_map *m = NULL;
	size_t nm;
	int e = errno;

	if (fork_pipe[0] >= 0)
		close(fork_pipe[0]);
	nm = nreg ? fork_maps(&m) : 0;
	for (size_t k = 0; k < nm; k++) {
		size_t i = reg_search(m[k].lo);
		struct skiff_backing *b = i < nreg ? reg[i] : NULL;
		struct stat st;
		size_t len = m[k].hi - m[k].lo;

		/* ours: inside a backing, of its file (the library's own views
		 * and the peer's windows are elsewhere) */
		if (!b || m[k].lo < b->start || m[k].hi > b->start + b->len ||
		    fstat(b->fd, &st) < 0 || (unsigned long)st.st_ino != m[k].ino)
			continue;
		if ((b->marker && msync(b->marker, PAGE, MS_ASYNC) < 0 &&
		     errno == ENOMEM) || make_private(b, m[k].lo, len) < 0)
			munmap((void *)m[k].lo, len); /* absent, never shared */
	}
	free(m);
	for (size_t i = 0; i < nreg; i++) {
		/* the parent's; the inherited windows keep pointing at them
		 * (never used here) */
		close(reg[i]->fd);
		reg[i]->fd = -1;
		if (reg[i]->marker)
			marker_put(reg[i]->marker, 1);
		reg[i]->marker = NULL;
	}
	nreg = 0;
	__atomic_store_n(&nidle, 0, __ATOMIC_RELAXED);
	if (fork_pipe[1] >= 0)
		close(fork_pipe[1]);
	fork_pipe[0] = fork_pipe[1] = -1;
	pthread_mutex_unlock(&reg_lock);
	errno = e;
}
