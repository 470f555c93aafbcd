/* SPDX-License-Identifier: MIT */
/*
 * copy.c - the two DMA channels of a handle.
 *
 * A channel is a worker thread with a queue of pieces (its own mutex and
 * condition variable). A transfer is one piece (SINGLE) or two pieces split
 * at a cache-line boundary of the destination (DUAL). The calling thread is
 * the engine of the first piece: it copies it itself, as the driver's caller
 * would otherwise have spun waiting for the DMA to finish, and because
 * waking a sleeping thread costs tens of microseconds on a VM, longer than
 * a 1 MiB copy. The second piece of a DUAL transfer is queued on the less
 * loaded channel, whose worker copies it in chunks of MM_CHUNK bytes. When
 * the caller has finished its own half it takes the piece back if no worker
 * has started it, and in any case copies the chunks nobody has claimed yet:
 * so a DUAL transfer never waits for a thread to wake up, and a worker that
 * loses its CPU (2 vCPUs, shared) delays the transfer by one chunk at most.
 *
 * Locking is per channel queue and per transfer (its completion); there is
 * no lock shared by all transfers. Workers spin briefly for more work after
 * each piece before sleeping, so back-to-back DUAL transfers find them
 * awake.
 *
 * Copies use memcpy(): a copy with non-temporal AVX2 stores was measured
 * against it here (into the card's memfd mapping, 2 MiB-aligned THP source)
 * and was not faster beyond 16 MiB (256 MiB: 4.8-6.3 vs 6.3-8.2 GB/s, 16 MiB:
 * 9.3-9.6 vs 7.3-8.4), and much slower below (docs/BENCHMARKS.md).
 */
#define _GNU_SOURCE
#include "internal.h"
#include "micmem.h"
#include "knob.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long an idle worker keeps looking for work before it sleeps, and how
 * long a caller spins for its second piece before it sleeps. */
#define MM_WORKER_SPIN_NS 50000
#define MM_WAIT_SPIN_NS   200000

/* AUTO tries the other mode on one transfer in MM_AUTO_EXPLORE of a size
 * class, so that it notices when that one has become the faster. */
#define MM_AUTO_EXPLORE 32

struct mm_req {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left; /* pieces not finished by a worker; atomic */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Copy one piece. The segments of the host range are its copy descriptors,
 * and like the driver, which merged physically contiguous chunks before
 * mapping them, the engine merges descriptors that are contiguous on both
 * sides; in one address space they always are, so a piece is one memcpy().
 * Issuing one memcpy() per segment instead was measured slower for big
 * copies (64 MiB host2dev: 5.5 vs 8.0 GB/s), because glibc switches to
 * non-temporal stores only for big calls.
 */
static void copy_part(const struct mm_piece *p, uint64_t from, uint64_t n)
{
	char *host = p->r->base + p->off + from;

	if (p->dir == MM_H2D)
		memcpy(p->dev + from, host, n);
	else
		memcpy(host, p->dev + from, n);
}

static void copy_piece(const struct mm_piece *p)
{
	copy_part(p, 0, p->len);
}

/* Claim and copy chunks of a channel's piece until none is left; the
 * channel's worker and, once done with its own half, the caller both do. */
static void copy_chunks(struct mm_piece *p)
{
	for (;;) {
		uint64_t o = __atomic_fetch_add(&p->cursor, MM_CHUNK,
						__ATOMIC_RELAXED);

		if (o >= p->len)
			return;
		copy_part(p, o, p->len - o < MM_CHUNK ? p->len - o : MM_CHUNK);
	}
}

static void complete(struct mm_req *q)
{
	/* Everything under the mutex: the caller may return (and its stack
	 * go) as soon as it has seen left == 0 and then taken the mutex. */
	pthread_mutex_lock(&q->mu);
	__atomic_store_n(&q->left, 0, __ATOMIC_RELEASE);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void unlink_piece(struct mm_chan *c, struct mm_piece *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->tail = p->prev;
	p->prev = p->next = NULL;
	p->queued = 0;
	__atomic_store_n(&c->nq, c->nq - 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	struct mm_chan *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct mm_piece *p;

		if (!c->head && !c->stop) {
			/* just worked: look for more a little while */
			uint64_t t0 = now_ns();

			pthread_mutex_unlock(&c->mu);
			for (unsigned i = 1;; i++) {
				if (__atomic_load_n(&c->nq, __ATOMIC_RELAXED))
					break;
				if (i % 64 == 0 &&
				    now_ns() - t0 > MM_WORKER_SPIN_NS)
					break;
				cpu_relax();
			}
			pthread_mutex_lock(&c->mu);
			while (!c->head && !c->stop)
				pthread_cond_wait(&c->cv, &c->mu);
		}
		if (!c->head)
			break; /* stop, and nothing left */
		p = c->head;
		unlink_piece(c, p);
		pthread_mutex_unlock(&c->mu);
		copy_chunks(p);
		complete(p->req); /* the last touch of the piece */
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Start the workers of the channels that have none. */
static int start_workers(struct mm_engine *e)
{
	sigset_t all, old;
	int r = 0;

	/* workers take no signals: they belong to the application's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < MM_NCHAN; i++) {
		struct mm_chan *c = &e->ch[i];

		if (c->started)
			continue;
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		r = -pthread_create(&c->th, NULL, worker, c);
		if (r < 0)
			break; /* its queue still works: callers take back */
		c->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int mm_engine_start(struct mm_engine *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->start_mu, NULL);
	r = start_workers(e);
	if (r < 0)
		mm_engine_stop(e);
	return r;
}

void mm_engine_forked(struct mm_engine *e)
{
	pthread_mutex_init(&e->start_mu, NULL);
	for (int i = 0; i < MM_NCHAN; i++) {
		struct mm_chan *c = &e->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		/* the pieces queued are on the stacks of the parent's callers */
		c->head = c->tail = NULL;
		c->nq = 0;
		c->stop = 0;
		c->started = 0;
		e->restart = 1;
	}
}

/* A transfer in a fork() child: its workers first (a transfer works without
 * them, the caller then copies both halves). */
static void restart_workers(struct mm_engine *e)
{
	pthread_mutex_lock(&e->start_mu);
	if (__atomic_load_n(&e->restart, __ATOMIC_ACQUIRE)) {
		start_workers(e);
		__atomic_store_n(&e->restart, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&e->start_mu);
}

void mm_engine_stop(struct mm_engine *e)
{
	for (int i = 0; i < MM_NCHAN; i++) {
		struct mm_chan *c = &e->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		c->started = 0;
	}
}

/* AUTO's crossover: DUAL from this size. Measured (docs/BENCHMARKS.md,
 * `scif bench micmem`): on an idle machine DUAL beat SINGLE in every run
 * from 256 KiB and never below; with this crossover AUTO was within 5% of
 * the better mode at every size, where the adaptive scheme below lost
 * 10-15% at 256 KiB-1 MiB (timing its own transfers costs more than it
 * wins). MICMEM_DUAL_MIN=<bytes> sets another; MICMEM_DUAL_MIN=adaptive
 * selects the adaptive scheme, for machines whose second CPU is often
 * busy. */
#define DUAL_MIN_DEFAULT (256u << 10)

static pthread_once_t dual_once = PTHREAD_ONCE_INIT;
static uint64_t dual_min = DUAL_MIN_DEFAULT; /* 0: adaptive */

static void dual_init(void)
{
	const char *s = getenv("MICMEM_DUAL_MIN");
	uint64_t v;

	if (s && !strcmp(s, "adaptive")) {
		dual_min = 0;
		return;
	}
	v = skiff_knob_u64("MICMEM_DUAL_MIN", DUAL_MIN_DEFAULT, 0, UINT64_MAX,
			   SKIFF_KNOB_SIZE, "bytes (or 'adaptive')");
	dual_min = v ? v : 1;
}

uint64_t mm_dual_min(void)
{
	pthread_once(&dual_once, dual_init);
	return dual_min;
}

/* The less loaded channel; on a tie channel 0, so that a lone caller keeps
 * one worker warm and lets the other sleep (two spinning workers and the
 * caller would be three busy threads on a two-CPU machine). */
static struct mm_chan *pick(struct mm_engine *e)
{
	int a = __atomic_load_n(&e->ch[0].nq, __ATOMIC_RELAXED);
	int b = __atomic_load_n(&e->ch[1].nq, __ATOMIC_RELAXED);

	return &e->ch[a <= b ? 0 : 1];
}

static void do_transfer(struct mm_engine *e, const struct mm_range *r,
			uint64_t off, char *dev, uint64_t len, enum mm_dir dir,
			int flags)
{
	struct mm_piece a = { .r = r, .off = off, .dev = dev, .len = len,
			      .dir = dir };
	struct mm_piece b;
	struct mm_req q;
	struct mm_chan *c;
	uintptr_t dst, split;
	int stolen;

	/* the split: half way, rounded down to a cache line of the target */
	dst = dir == MM_H2D ? (uintptr_t)dev : (uintptr_t)r->base + off;
	split = ((dst + len / 2) & ~(uintptr_t)(MM_LINE - 1)) - dst;
	if (flags != MICMEM_DUAL || split == 0 || split >= len ||
	    dst + len / 2 < dst) {
		copy_piece(&a);
		return;
	}
	a.len = split;
	b = a;
	b.off = off + split;
	b.dev = dev + split;
	b.len = len - split;
	b.req = &q;
	b.cursor = 0;
	pthread_mutex_init(&q.mu, NULL);
	pthread_cond_init(&q.cv, NULL);
	q.left = 1;

	c = pick(e);
	pthread_mutex_lock(&c->mu);
	b.prev = c->tail;
	b.next = NULL;
	if (c->tail)
		c->tail->next = &b;
	else
		c->head = &b;
	c->tail = &b;
	b.queued = 1;
	__atomic_store_n(&c->nq, c->nq + 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);

	copy_piece(&a);

	/* not started yet: take it back rather than wait for a wake-up */
	pthread_mutex_lock(&c->mu);
	stolen = b.queued;
	if (stolen)
		unlink_piece(c, &b);
	pthread_mutex_unlock(&c->mu);
	/* help with the chunks the worker has not claimed */
	copy_chunks(&b);
	if (!stolen) {
		/* the worker still copies its last chunk, or has yet to see
		 * that none is left: it completes the request either way */
		uint64_t t0 = now_ns();

		for (unsigned i = 1;
		     __atomic_load_n(&q.left, __ATOMIC_ACQUIRE); i++) {
			if (i % 64 == 0 && now_ns() - t0 > MM_WAIT_SPIN_NS)
				break;
			cpu_relax();
		}
		pthread_mutex_lock(&q.mu);
		while (__atomic_load_n(&q.left, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&q.cv, &q.mu);
		pthread_mutex_unlock(&q.mu);
	}
	pthread_cond_destroy(&q.cv);
	pthread_mutex_destroy(&q.mu);
}

/*
 * AUTO with MICMEM_DUAL_MIN=adaptive (the default is the fixed crossover
 * above). Whether two channels beat one depends on the size (caches, the
 * cost of sharing the work) and on whether a second CPU is free at the
 * moment, which on a shared two-vCPU machine changes from second to second
 * (docs/BENCHMARKS.md: DUAL measured 1.5-3x faster than SINGLE at 256 KiB
 * to 16 MiB on an idle machine, and 0.6-0.9x under load). So the crossover
 * is measured continuously: per size class, AUTO times its own transfers
 * and keeps a decaying minimum of the cost of each mode, uses the cheaper,
 * and tries the other on one transfer in MM_AUTO_EXPLORE. Below 256 KiB it
 * is SINGLE (DUAL never won there by much, and costs a hand-off).
 * MICMEM_DUAL_MIN=<bytes> replaces all this by a fixed crossover.
 */
void mm_transfer(struct mm_engine *e, const struct mm_range *r, uint64_t off,
		 char *dev, uint64_t len, enum mm_dir dir, int flags)
{
	struct mm_auto *a;
	uint64_t fixed, n, c0, c1, t0, ps, old;
	int cls, m;

	if (__atomic_load_n(&e->restart, __ATOMIC_ACQUIRE))
		restart_workers(e);
	if (flags != MICMEM_AUTO) {
		do_transfer(e, r, off, dev, len, dir, flags);
		return;
	}
	fixed = mm_dual_min();
	cls = 63 - __builtin_clzll(len | 1);
	if (fixed || cls < MM_AUTO_MIN_LOG) {
		do_transfer(e, r, off, dev, len, dir,
			    fixed && len >= fixed ? MICMEM_DUAL : MICMEM_SINGLE);
		return;
	}
	if (cls >= MM_AUTO_MIN_LOG + MM_AUTO_CLASSES)
		cls = MM_AUTO_MIN_LOG + MM_AUTO_CLASSES - 1;
	a = &e->au[cls - MM_AUTO_MIN_LOG];
	n = __atomic_fetch_add(&a->n, 1, __ATOMIC_RELAXED);
	c0 = __atomic_load_n(&a->cost[0], __ATOMIC_RELAXED);
	c1 = __atomic_load_n(&a->cost[1], __ATOMIC_RELAXED);
	if (!c0 || !c1)
		m = !c0 ? 0 : 1;        /* measure each once first */
	else
		m = c1 < c0;            /* the cheaper */
	if (c0 && c1 && n % MM_AUTO_EXPLORE == MM_AUTO_EXPLORE - 1)
		m = !m;                 /* now and then, the other */
	t0 = now_ns();
	do_transfer(e, r, off, dev, len, dir, m ? MICMEM_DUAL : MICMEM_SINGLE);
	ps = (now_ns() - t0) * 1000 / len + 1;
	/* A decaying minimum, not an average: a transfer slowed by a moment
	 * of preemption or a late wake-up raises the estimate by 1/16 only,
	 * a faster one lowers it at once, and a lasting slowdown still shows
	 * within a dozen transfers. (An average let single outliers flip the
	 * choice at 256 KiB-1 MiB: AUTO measured 0.85-0.91 of the better
	 * mode.) Concurrent updates may lose one: harmless. */
	old = __atomic_load_n(&a->cost[m], __ATOMIC_RELAXED);
	__atomic_store_n(&a->cost[m], !old || ps < old ? ps : old + old / 16,
			 __ATOMIC_RELAXED);
}

