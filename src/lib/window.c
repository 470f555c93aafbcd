/* SPDX-License-Identifier: MIT */
/*
 * window.c - registered windows: scif_register, scif_unregister, the
 * endpoint's local and remote window tables, and the RMA control socket.
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
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdpass.h"
#include "knob.h"
#include "wire_rma.h"

#define PAGE 4096ULL
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* automatic offsets start here, clear of small fixed offsets */
#define AUTO_BASE (1ULL << 40)
#define OFF_MAX ((uint64_t)INT64_MAX)

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

/* The control service's thread (svc_main) */
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
 * (reap_idle).
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
static void reap_idle(void)
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

static void pieces_put(struct skiff_piece *pc, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (pc[i].view)
			munmap(pc[i].view, pc[i].len);
		backing_put(pc[i].b);
	}
	free(pc);
}

/* Describe [a, a + len) as pieces of re-backed ranges, re-backing gaps. */
static int acquire(uintptr_t a, size_t len, struct skiff_piece **out,
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
		pieces_put(pc, npc);
		return err;
	}
	*out = pc;
	*nout = npc;
	return 0;
}

/* ---- the control socket ----
 * Sends never block. A record the socket does not take now waits in the
 * connection's queue, in order, and goes out as the socket drains (the
 * control service watches for that, and every call on the connection
 * flushes first). A call that tells the peer of something it may use at
 * once (a window, a mapping) returns only once its record is in the socket,
 * so the peer sees it before anything the user sends next; meanwhile it
 * takes in the peer's records (they may be what the peer is stuck on), and
 * it gives up on a peer whose socket takes nothing for SEND_STALL_MS. A peer
 * that leaves more than OUTQ_MAX records unread when we answer one of its
 * own (WIN_DEL_ACK) breaks the connection: ECONNRESET for that connection,
 * nothing for the others. Records of our own making (MAP_UNREF from a loop
 * of scif_munmap, say) may queue up to OUTQ_OWN_MAX while a busy peer
 * catches up.
 * The queue, the socket's sending side and ctl_sent are under r->out_lock,
 * which is never held while waiting (taken after r->lock, and after
 * mmap.c's list lock: scif_munmap sends without r->lock).
 */
#define OUTQ_MAX 256
#define OUTQ_OWN_MAX 65536
#define SEND_STALL_MS 2000

struct skiff_outrec {
	struct skiff_rma_msg m;
	int fd; /* our own duplicate, or -1 */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The peer broke the protocol (or stopped reading): this connection is
 * reset. Shutting the socket down lets the peer's service see it too.
 * Under out_lock. */
static void break_locked(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;

	atomic_store(&r->broken, 1);
	skiff_mark_dead(ep);
	for (size_t i = r->outhead; i < r->nout; i++)
		if (r->outq[i].fd >= 0)
			close(r->outq[i].fd);
	r->nout = r->outhead = 0;
	atomic_store(&r->want_out, 0);
	if (r->ctl >= 0)
		shutdown(r->ctl, SHUT_RDWR);
}

static void break_conn(struct skiff_ep *ep)
{
	pthread_mutex_lock(&ep->rma->out_lock);
	break_locked(ep);
	pthread_mutex_unlock(&ep->rma->out_lock);
}

/* One record into the socket: 0, -EAGAIN (full) or -ECONNRESET. */
static int xmit(struct skiff_rma *r, struct skiff_rma_msg *m, int fd)
{
	struct iovec iov = { m, sizeof(m->hdr) + m->hdr.body_len };

	while (skiff_send_fd(r->ctl, &iov, 1, fd, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
		    errno == ENOMEM || errno == ETOOMANYREFS)
			return -EAGAIN; /* later: the socket or the kernel drains */
		return -ECONNRESET;
	}
	r->ctl_sent++;
	STORE(&r->self_ctl->ctl_posted, r->ctl_sent);
	return 0;
}

/* Send what the queue holds, in order, as far as the socket takes it:
 * 0 (all sent), -EAGAIN (some left) or -ECONNRESET. Under out_lock. */
static int flush_locked(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;

	while (r->outhead < r->nout) {
		struct skiff_outrec *o = &r->outq[r->outhead];
		int e = xmit(r, &o->m, o->fd);

		if (e == -EAGAIN)
			return e;
		if (e < 0) {
			break_locked(ep);
			return e;
		}
		if (o->fd >= 0)
			close(o->fd);
		r->outhead++;
	}
	r->nout = r->outhead = 0;
	atomic_store(&r->want_out, 0);
	return 0;
}

/* Records still queued after a flush; -1 once the connection is broken. */
static long flush_out(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	long left;

	pthread_mutex_lock(&r->out_lock);
	if (r->ctl >= 0 && !atomic_load(&r->broken))
		flush_locked(ep);
	left = atomic_load(&r->broken) ? -1 : (long)(r->nout - r->outhead);
	pthread_mutex_unlock(&r->out_lock);
	return left;
}

/* Under out_lock. */
static int enqueue(struct skiff_ep *ep, const struct skiff_rma_msg *m, int fd)
{
	struct skiff_rma *r = ep->rma;
	int dfd = -1;

	if (r->nout - r->outhead >=
	    (m->hdr.type == SKIFF_RMA_WIN_DEL_ACK ? OUTQ_MAX : OUTQ_OWN_MAX)) {
		break_locked(ep); /* the peer does not read its socket */
		return -ECONNRESET;
	}
	if (r->nout == r->capout) {
		if (r->outhead) {
			memmove(r->outq, r->outq + r->outhead,
				(r->nout - r->outhead) * sizeof(*r->outq));
			r->nout -= r->outhead;
			r->outhead = 0;
		} else {
			size_t nc = r->capout ? r->capout * 2 : 16;
			void *t = realloc(r->outq, nc * sizeof(*r->outq));
			if (!t)
				return -ENOMEM;
			r->outq = t;
			r->capout = nc;
		}
	}
	if (fd >= 0) {
		dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the caller closes its own */
		if (dfd < 0)
			return errno == EMFILE || errno == ENFILE ? -EAGAIN : -ENOMEM;
	}
	r->outq[r->nout].m = *m;
	r->outq[r->nout].fd = dfd;
	r->nout++;
	atomic_store(&r->want_out, 1);
	return 0;
}

static void sync_any(struct skiff_ep *ep, int force);

/* Wait until the queue is in the socket (see above). Under r->lock. */
static int drain_wait(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	long left = flush_out(ep), now;
	int64_t since = mono_ms();

	while (left > 0) {
		struct pollfd p = { .fd = r->ctl, .events = POLLIN | POLLOUT };

		if (skiff_peer_gone(ep))
			return -ECONNRESET;
		if (poll(&p, 1, 10) == 1 && (p.revents & (POLLHUP | POLLERR))) {
			skiff_mark_dead(ep);
			return -ECONNRESET;
		}
		if (p.revents & POLLIN)
			sync_any(ep, 1);
		now = flush_out(ep);
		if (now < left) {
			since = mono_ms();
		} else if (mono_ms() - since > SEND_STALL_MS) {
			break_conn(ep);
			return -ECONNRESET;
		}
		left = now;
	}
	return left < 0 ? -ECONNRESET : 0;
}

/* @wait: return only once the record is in the socket (under r->lock
 * then); without, r->lock is not needed. */
static int send_rec(struct skiff_ep *ep, struct skiff_rma_msg *m, int fd,
		    int wait)
{
	struct skiff_rma *r = ep->rma;
	int ret;

	pthread_mutex_lock(&r->out_lock);
	if (r->ctl < 0 || atomic_load(&r->broken)) {
		ret = -ECONNRESET;
	} else if (r->outhead == r->nout &&
		   (ret = xmit(r, m, fd)) != -EAGAIN) {
		if (ret < 0)
			break_locked(ep);
	} else {
		ret = enqueue(ep, m, fd);
		if (ret == 0 && flush_locked(ep) == -ECONNRESET)
			ret = -ECONNRESET;
	}
	pthread_mutex_unlock(&r->out_lock);
	if (ret == -ECONNRESET)
		skiff_mark_dead(ep); /* sticky: every later call says so too */
	if (ret < 0 || !wait)
		return ret;
	return drain_wait(ep);
}

int skiff_rma_send_range(struct skiff_ep *ep, uint16_t type, uint64_t off,
			 uint64_t len)
{
	struct skiff_rma_msg m;

	skiff_rma_msg_init(&m, type);
	m.body.range.offset = off;
	m.body.range.len = len;
	/* a mapping reference must reach the owner before it reuses offsets;
	 * deletions and answers are waited for (or not) by their senders */
	return send_rec(ep, &m, -1, type == SKIFF_RMA_MAP_REF);
}

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
		r = send_rec(ep, &m, fd, 1);
		if (rofd >= 0)
			close(rofd);
		off += pc->len;
	}
	return r;
}

/* ---- tables ---- */

static size_t lwin_search(struct skiff_rma *r, uint64_t off)
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

struct skiff_lwin *skiff_lwin_find(struct skiff_rma *r, uint64_t off)
{
	size_t i = lwin_search(r, off);

	if (i < r->nlwin && r->lwin[i].off <= off && !r->lwin[i].zombie)
		return &r->lwin[i];
	return NULL;
}

struct skiff_rwin *skiff_rwin_find(struct skiff_rma *r, uint64_t off)
{
	size_t i = rwin_search(r->rwin, r->nrwin, off);

	if (i < r->nrwin && r->rwin[i].off <= off)
		return &r->rwin[i];
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
static int range_free(struct skiff_rma *r, uint64_t off, uint64_t len)
{
	size_t i = lwin_search(r, off);

	return !(i < r->nlwin && r->lwin[i].off < off + len);
}

static int lwin_insert(struct skiff_rma *r, struct skiff_lwin *w)
{
	size_t i = lwin_search(r, w->off);

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

static void lwin_remove(struct skiff_rma *r, size_t i)
{
	pieces_put(r->lwin[i].pieces, r->lwin[i].npieces);
	memmove(&r->lwin[i], &r->lwin[i + 1], (r->nlwin - i - 1) * sizeof(*r->lwin));
	r->nlwin--;
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

/* ---- taking in the peer's records ---- */

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
static void rwin_release(struct skiff_rma *r, struct skiff_rwin *w)
{
	if (w->map)
		munmap(w->map, w->len);
	if (w->fd >= 0) {
		close(w->fd);
		r->nlazy--;
	}
	r->peer_bytes -= w->len < r->peer_bytes ? w->len : r->peer_bytes;
}

static void break_conn(struct skiff_ep *ep);

/* Take in a WIN_ADD; *fdp is set to -1 when the piece keeps the
 * descriptor. */
static void peer_win_add(struct skiff_ep *ep, const struct skiff_rma_win *w,
			 int *fdp)
{
	struct skiff_rma *r = ep->rma;
	struct skiff_rwin nw = { 0 };
	struct stat st;
	int seals, acc, mprot, fd = *fdp;
	size_t i;

	/* everything here comes from the peer: check it all */
	if (fd < 0 || !w->len || (w->offset | w->len | w->file_off) & (PAGE - 1) ||
	    w->offset > OFF_MAX || w->len > OFF_MAX - w->offset ||
	    w->file_off > OFF_MAX - w->len || !w->prot ||
	    (w->prot & ~(uint32_t)(SCIF_PROT_READ | SCIF_PROT_WRITE)))
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < w->file_off + w->len)
		return;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return; /* it could shrink under our mapping: SIGBUS */
	acc = fcntl(fd, F_GETFL) & O_ACCMODE;
	mprot = PROT_READ | (acc == O_RDWR ? PROT_WRITE : 0);
	if ((w->prot & SCIF_PROT_WRITE) && !(mprot & PROT_WRITE))
		return;
	i = rwin_search(r->rwin, r->nrwin, w->offset);
	if (i < r->nrwin && r->rwin[i].off < w->offset + w->len)
		return; /* overlaps a live piece: not from an honest owner */
	if (w->len > peer_map_max() || r->peer_bytes > peer_map_max() - w->len) {
		break_conn(ep); /* more than we let one peer make us map */
		return;
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
			return;
		/* the parent's, not a child's */
		madvise(nw.map, w->len, MADV_DONTFORK);
	}
	if (push_rwin(&r->rwin, &r->nrwin, &r->caprwin, i, &nw) < 0) {
		if (nw.map)
			munmap(nw.map, nw.len);
		else
			r->nlazy--;
		return;
	}
	if (nw.fd >= 0)
		*fdp = -1;
	r->peer_bytes += w->len;
}

static void reap_grave(struct skiff_rma *r)
{
	uint64_t done = atomic_load(&r->completed);
	size_t k = 0;

	for (size_t i = 0; i < r->ngrave; i++) {
		if (r->grave[i].dead_seq <= done)
			rwin_release(r, &r->grave[i]);
		else
			r->grave[k++] = r->grave[i];
	}
	r->ngrave = k;
}

static void peer_win_del(struct skiff_ep *ep, uint64_t off, uint64_t len)
{
	struct skiff_rma *r = ep->rma;
	size_t i;
	uint64_t seq;

	if (len > OFF_MAX || off > OFF_MAX - len)
		goto ack;
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
			rwin_release(r, &g);
		memmove(&r->rwin[i], &r->rwin[i + 1],
			(r->nrwin - i - 1) * sizeof(*r->rwin));
		r->nrwin--;
	}
	/* our RMAs already queued may still write those pages: the owner may
	 * reuse them as soon as we answer, so answer once they are done */
	skiff_rma_wait(ep, seq);
	reap_grave(r);
ack:
	skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL_ACK, off, len);
}

static void owner_map_ref(struct skiff_rma *r, uint64_t off, uint64_t len,
			  int delta)
{
	size_t i;

	if (len > OFF_MAX || off > OFF_MAX - len)
		return;
	i = lwin_search(r, off);
	while (i < r->nlwin && r->lwin[i].off < off + len) {
		struct skiff_lwin *w = &r->lwin[i];
		if (delta > 0)
			w->peer_refs++;
		else if (w->peer_refs > 0)
			w->peer_refs--;
		if (w->zombie && w->peer_refs == 0) {
			lwin_remove(r, i); /* the last reference went */
			continue;
		}
		i++;
	}
}

/* Take in every record the peer sent on the control socket. Called with
 * r->lock held. Cheap when there is none: one load of the peer's counter. */
static void sync_n(struct skiff_ep *ep, int force, int max)
{
	struct skiff_rma *r = ep->rma;
	uint32_t posted = LOAD(&r->peer_ctl->ctl_posted);

	if (atomic_load_explicit(&r->want_out, memory_order_relaxed))
		flush_out(ep);
	if (r->ngrave)
		reap_grave(r);
	if ((posted == r->ctl_seen && !force) || r->ctl < 0 || atomic_load(&r->broken))
		return;
	for (int k = 0; k < max && !atomic_load(&r->broken); k++) {
		unsigned char buf[128];
		union {
			char b[SKIFF_CMSG_SPACE];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		struct skiff_rma_msg m;
		int fd;
		ssize_t n = recvmsg(r->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		/* even an empty record may carry descriptors: take them first
		 * (0 bytes and none is the end of the stream) */
		fd = skiff_take_fd(&mh);
		if (n == 0) {
			if (fd < 0)
				break;
			close(fd);
			continue;
		}
		r->ctl_seen++;
		if (skiff_rma_decode(buf, (size_t)n, &m) == 0) {
			switch (m.hdr.type) {
			case SKIFF_RMA_WIN_ADD:
				peer_win_add(ep, &m.body.win, &fd);
				break;
			case SKIFF_RMA_WIN_DEL:
				peer_win_del(ep, m.body.range.offset, m.body.range.len);
				break;
			case SKIFF_RMA_WIN_DEL_ACK:
				r->del_acked++;
				break;
			case SKIFF_RMA_MAP_REF:
				owner_map_ref(r, m.body.range.offset, m.body.range.len, 1);
				break;
			case SKIFF_RMA_MAP_UNREF:
				owner_map_ref(r, m.body.range.offset, m.body.range.len, -1);
				break;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	/* a counter that ran ahead of the records (a hostile peer) must not
	 * make every later call look again */
	r->ctl_seen = posted;
}

static void sync_any(struct skiff_ep *ep, int force)
{
	sync_n(ep, force, 65536);
}

void skiff_rma_sync_locked(struct skiff_ep *ep)
{
	sync_any(ep, 0);
}

/* ---- the control service ----
 * A thread of the library takes in the peer's records as they come, so a
 * peer registering many windows never blocks on our full socket while we
 * are busy elsewhere, and a peer's scif_unregister gets its answer (RMA
 * needs no help from the target's threads). It polls the control sockets
 * of the connected endpoints; with none it sleeps on a condition variable.
 * It lives as long as the process. */

static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t svc_cond = PTHREAD_COND_INITIALIZER;
static struct skiff_ep **svc_eps;
static size_t svc_n, svc_cap;
static pid_t svc_pid; /* the process the thread runs in (fork) */
/* An eventfd svc_add rings, so that a new connection is watched at once
 * (its peer's death noticed within a millisecond, not a rescan); -1 if
 * there is none (then SVC_RESCAN_MS). A child of fork() closes its copy
 * before any user code runs: the number is surely still ours then. */
static int svc_wake = -1;

/* fork() while the service holds svc_lock would leave the child's copy
 * locked for good: take it around fork (the service never waits holding
 * it), and give the child fresh condition variables (the parent's waiters
 * are not in the child). */
static void svc_atfork_prepare(void)
{
	pthread_mutex_lock(&svc_lock);
}

static void svc_atfork_parent(void)
{
	pthread_mutex_unlock(&svc_lock);
}

static pthread_cond_t svc_idle = PTHREAD_COND_INITIALIZER; /* in_svc dropped */

static void svc_atfork_child(void)
{
	pthread_mutex_unlock(&svc_lock);
	pthread_cond_init(&svc_cond, NULL);
	pthread_cond_init(&svc_idle, NULL);
	if (svc_wake >= 0)
		close(svc_wake);
	svc_wake = -1;
}

/* New endpoints are picked up within this many ms: records that arrive
 * meanwhile are taken in by the endpoint's own calls. */
#define SVC_RESCAN_MS 100

/* Records taken in per visit of one connection: a flooding peer does not
 * keep the others waiting. */
#define SVC_BATCH 256
/* A connection whose lock was busy is looked at again this soon. */
#define SVC_RETRY_MS 5


/*
 * The service never blocks on one peer: it takes a connection's table lock
 * only if it is free (a call holding it takes the records in itself, or the
 * service comes back), it sends without blocking (see send_rec), and it
 * works on a connection without svc_lock, so connecting and closing others
 * go on meanwhile. A hung-up socket means the peer is gone: the endpoint is
 * marked dead at once, and every call on it reports ECONNRESET.
 */
static void *svc_main(void *arg)
{
	struct pollfd *pf = NULL;
	struct skiff_ep **eps = NULL;
	size_t cap = 0;

	(void)arg;
	in_service = 1;
	for (;;) {
		size_t n;
		int retry = 0;

		pthread_mutex_lock(&svc_lock);
		while (!svc_n)
			pthread_cond_wait(&svc_cond, &svc_lock);
		if (svc_n > cap) {
			void *a = realloc(pf, (svc_n + 1) * sizeof(*pf));
			void *b = a ? realloc(eps, svc_n * sizeof(*eps)) : NULL;
			if (a)
				pf = a;
			if (b)
				eps = b;
			if (a && b)
				cap = svc_n;
		}
		n = svc_n < cap ? svc_n : cap;
		for (size_t i = 0; i < n; i++) {
			struct skiff_rma *r = svc_eps[i]->rma;

			eps[i] = svc_eps[i];
			pf[i].fd = r->ctl;
			/* busy last time: only a hang-up wakes us for it
			 * until the retry */
			pf[i].events = r->svc_skip ? 0 :
				       POLLIN | (atomic_load(&r->want_out) ? POLLOUT : 0);
			pf[i].revents = 0;
			retry |= r->svc_skip;
			r->svc_skip = 0;
		}
		/* last: the wake-up of svc_add */
		pf[n].fd = svc_wake;
		pf[n].events = POLLIN;
		pf[n].revents = 0;
		pthread_mutex_unlock(&svc_lock);

		if (poll(pf, n + 1, retry ? SVC_RETRY_MS : SVC_RESCAN_MS) <= 0)
			continue;
		if (pf[n].revents & POLLIN) {
			uint64_t v;
			(void)!read(pf[n].fd, &v, sizeof(v)); /* look again */
		}
		for (size_t i = 0; i < n; i++) {
			struct skiff_ep *ep = eps[i];
			struct skiff_rma *r;
			short ev = pf[i].revents;
			size_t k;
			int busy = 0, hup;

			if (!ev)
				continue;
			pthread_mutex_lock(&svc_lock);
			/* still watched? (skiff_svc_del runs under svc_lock,
			 * before the endpoint's state goes) */
			for (k = 0; k < svc_n && svc_eps[k] != ep; k++)
				;
			if (k == svc_n || ep->rma->ctl != pf[i].fd) {
				pthread_mutex_unlock(&svc_lock);
				continue;
			}
			r = ep->rma;
			hup = 0;
			if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
				/* ask again: the endpoint and its descriptor
				 * number may both be new since the poll */
				struct pollfd q = { .fd = r->ctl, .events = POLLIN };
				if (poll(&q, 1, 0) < 0)
					q.revents = 0;
				ev = q.revents;
				if (ev & (POLLHUP | POLLERR))
					skiff_mark_dead(ep); /* the peer's end closed */
				hup = ev & (POLLHUP | POLLERR | POLLNVAL);
			}
			if (hup && !(ev & POLLIN)) {
				/* nothing more to take in: stop watching */
				svc_eps[k] = svc_eps[--svc_n];
				r->svc = 0;
				pthread_mutex_unlock(&svc_lock);
				continue;
			}
			r->in_svc = 1; /* skiff_svc_del waits for us */
			pthread_mutex_unlock(&svc_lock);
			if (ev & POLLOUT)
				flush_out(ep); /* needs no table lock */
			if (!(ev & POLLIN)) {
				/* only room to send */
			} else if (pthread_mutex_trylock(&r->lock) == 0) {
				sync_n(ep, 1, SVC_BATCH);
				pthread_mutex_unlock(&r->lock);
			} else {
				busy = 1;
			}
			pthread_mutex_lock(&svc_lock);
			r->in_svc = 0;
			r->svc_skip = busy;
			if (hup && !busy) {
				/* took in what the peer sent before it hung up
				 * (a hung-up socket stays readable: watching it
				 * on would spin this thread) */
				for (k = 0; k < svc_n && svc_eps[k] != ep; k++)
					;
				if (k < svc_n) {
					svc_eps[k] = svc_eps[--svc_n];
					r->svc = 0;
				}
			}
			pthread_cond_broadcast(&svc_idle);
			pthread_mutex_unlock(&svc_lock);
		}
	}
	return NULL;
}

static void svc_add(struct skiff_ep *ep)
{
	pthread_mutex_lock(&svc_lock);
	if (svc_pid != getpid()) {
		/* first use, or a child of fork(): start our own thread */
		pthread_attr_t at;
		pthread_t th;
		sigset_t all, old;
		int ok;

		svc_n = 0; /* a parent's endpoints are not ours to watch */
		if (svc_wake < 0)
			svc_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* user signals: elsewhere */
		ok = pthread_create(&th, &at, svc_main, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&at);
		if (!ok)
			goto out; /* records are still taken in by our own calls */
		svc_pid = getpid();
	}
	if (svc_n == svc_cap) {
		size_t nc = svc_cap ? svc_cap * 2 : 16;
		void *t = realloc(svc_eps, nc * sizeof(*svc_eps));
		if (!t)
			goto out;
		svc_eps = t;
		svc_cap = nc;
	}
	svc_eps[svc_n++] = ep;
	ep->rma->svc = 1;
	pthread_cond_signal(&svc_cond);
	if (svc_wake >= 0) {
		uint64_t one = 1;
		(void)!write(svc_wake, &one, sizeof(one));
	}
out:
	pthread_mutex_unlock(&svc_lock);
}

void skiff_svc_del(struct skiff_ep *ep)
{
	pthread_mutex_lock(&svc_lock);
	/* the service may be working on it right now (not in a child of
	 * fork(): the parent's service thread is not there) */
	while (ep->rma->in_svc && svc_pid == getpid())
		pthread_cond_wait(&svc_idle, &svc_lock);
	ep->rma->in_svc = 0;
	if (ep->rma->svc && svc_pid == getpid()) {
		for (size_t k = 0; k < svc_n; k++)
			if (svc_eps[k] == ep) {
				svc_eps[k] = svc_eps[--svc_n];
				break;
			}
	}
	ep->rma->svc = 0;
	pthread_mutex_unlock(&svc_lock);
}

static int del_round_trip(struct skiff_ep *ep, uint64_t off, uint64_t len);

/* ---- endpoint life ---- */

/* A few released states are kept for the next connection: a process that
 * connects and closes in a loop then allocates nothing per connection. */
#define RMA_CACHE 16
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skiff_rma *rma_cache[RMA_CACHE];
static int rma_cached;

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
	ep->rma = r;
	svc_add(ep);
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
	reap_idle();
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
		del_round_trip(ep, 0, OFF_MAX); /* the user may free it next */
	while (r->nlwin)
		lwin_remove(r, r->nlwin - 1);
	for (size_t i = 0; i < r->nrwin; i++)
		rwin_release(r, &r->rwin[i]);
	for (size_t i = 0; i < r->ngrave; i++)
		rwin_release(r, &r->grave[i]);
	for (size_t i = r->outhead; i < r->nout; i++)
		if (r->outq[i].fd >= 0)
			close(r->outq[i].fd);
	if (r->ctl >= 0)
		close(r->ctl);
	pthread_mutex_unlock(&r->lock);
	free(r->outq);
	free(r->lwin);
	free(r->rwin);
	free(r->grave);
	skiff_sigs_drop(r);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->out_lock);
	pthread_mutex_destroy(&r->clock);
	pthread_cond_destroy(&r->ccond);
	ep->rma = NULL;
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

		sync_any(ep, 1);
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
		if (!range_free(r, off, len)) {
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
			if (range_free(r, off, len))
				break;
			i = lwin_search(r, off);
			off = r->lwin[i].off + r->lwin[i].len;
			if (off == PAGE) /* searched everything */
				break;
		}
		if (!range_free(r, off, len)) {
			pthread_mutex_unlock(&r->lock);
			ret = -ENOMEM;
			goto fail;
		}
	}
	w.off = off;
	w.len = len;
	w.prot = prot_flags;
	ret = acquire((uintptr_t)addr, len, &w.pieces, &w.npieces);
	if (ret == 0) {
		ret = lwin_insert(r, &w);
		if (ret < 0)
			pieces_put(w.pieces, w.npieces);
	}
	if (ret == 0) {
		ret = announce(ep, skiff_lwin_find(r, off));
		if (ret < 0) {
			lwin_remove(r, lwin_search(r, off));
			skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL, off, len);
		} else if (!(map_flags & SCIF_MAP_FIXED) && off + len > r->next_auto) {
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

	reap_idle();
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
	i = lwin_search(r, off);
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
	ret = del_round_trip(ep, off, len);
	while (i < r->nlwin && r->lwin[i].off < end) {
		if (r->lwin[i].peer_refs > 0) {
			/* mapped by the peer: its offsets stay taken until
			 * the peer lets go */
			r->lwin[i].zombie = 1;
			i++;
		} else {
			lwin_remove(r, i);
		}
	}
	pthread_mutex_unlock(&r->lock);
	(void)ret; /* a gone peer does not keep us from unregistering */
	return 0;
}

/* ---- fork() ----
 * The child has one thread and a copy of everything. Prepare takes only
 * reg_lock (never held while waiting on a peer); the control service's
 * locks may be held by its thread while it waits on a peer, so the child
 * makes them anew with empty state: the parent's endpoints are not the
 * child's to serve, and their RMA state is refused there (skiff_fork_gen).
 * The service thread starts again with the child's first connection.
 *
 * Registered pages stay the parent's, as with SCIF's pinning: the child
 * gets private copies of the re-backed ranges it inherited (made before
 * fork() returns in the parent, which waits for them, so they hold the
 * fork-time contents), nothing where the user gave MADV_DONTFORK, before
 * registering (the marker page) or after (the range is not inherited). */

unsigned skiff_fork_gen;
static int fork_pipe[2] = { -1, -1 };
/* a child that does not finish its copies in this long is not waited for */
#define FORK_WAIT_MS 10000

static void fork_prepare(void)
{
	int e = errno;

	pthread_mutex_lock(&reg_lock);
	fork_pipe[0] = fork_pipe[1] = -1;
	if (nreg && pipe2(fork_pipe, O_CLOEXEC) < 0)
		fork_pipe[0] = fork_pipe[1] = -1;
	errno = e;
}

static void fork_parent(void)
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

static void fork_child(void)
{
	struct fork_map *m = NULL;
	size_t nm;
	int e = errno;

	skiff_fork_gen++;
	/* svc_lock and svc_cond: svc_atfork_child, which ran first */
	svc_eps = NULL; /* the parent's; it may have been mid-realloc */
	svc_n = svc_cap = 0;
	svc_pid = 0;
	pthread_mutex_init(&cache_lock, NULL);
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

/* Prepare handlers run in the reverse order of registration, parent and
 * child handlers in order: fork_prepare takes reg_lock before the service's
 * svc_lock is taken (no path holds svc_lock and wants reg_lock), and the
 * parent releases svc_lock before fork_parent waits for the child's copies,
 * so the control service is not held up by a fork's copying. */
__attribute__((constructor)) static void window_atfork(void)
{
	pthread_atfork(svc_atfork_prepare, svc_atfork_parent, svc_atfork_child);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
