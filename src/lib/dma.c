/* SPDX-License-Identifier: MIT */
/*
 * dma.c - the process's "DMA engine" and per-endpoint RMA completion.
 *
 * Channels are worker threads (SKIFF_DMA_CHANNELS, default 2) with a FIFO
 * each. An RMA becomes one job, or one per channel when it is large, so big
 * copies use both cores' memory bandwidth. Large chunks are copied with
 * non-temporal stores, which beat memcpy on these machines from a few MiB
 * (limits.md; measured again by `scif bench bw`).
 *
 * Completion is tracked per endpoint in submission order: RMA n is
 * "completed" once it and every RMA before it are done. That is what fences
 * wait for (fence.c), and what the peer reads in the shared region for
 * SCIF_FENCE_INIT_PEER.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "knob.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SPLIT_MIN (4u << 20) /* split RMAs above this across channels: below, waking a
			       * second channel costs more than it saves (measured) */
#define NT_MIN_DEFAULT (4u << 20) /* non-temporal stores from this size */
/* ... and below this one: on these machines they beat glibc memcpy at
 * 4-16 MiB (11 vs 8.6-10 GB/s, a standalone copy loop, one thread), but
 * from about 40 MiB glibc's memcpy streams by itself, faster than ours
 * (256 MiB RMAs, copied in two 128 MiB parts: 0.98-1.00x memcpy with this
 * bound, 0.90-0.91x without) */
#define NT_MAX_DEFAULT (64u << 20)
#define MAX_CHANNELS 16

struct op {
	struct skiff_rma *r;
	uint64_t seq;
	struct skiff_seg *segs;
	size_t nseg;
	_Atomic int pending;
	int ordered;
	struct skiff_seg tail; /* ORDERED: copied after everything else */
};

struct job {
	struct op *op;
	size_t begin, end; /* byte range of the op's body */
	struct job *next;
};

struct chan {
	pthread_mutex_t m;
	pthread_cond_t c;
	struct job *head, *tail;
	_Atomic int queued;   /* jobs in the queue: polled without the lock */
	int sleeping;         /* waiting on c: needs a signal (under m) */
	pthread_t th;
};

/* A worker that ran out of jobs polls this long before it sleeps: waking a
 * sleeping thread costs tens of microseconds here, more than a 1 MiB copy
 * takes, and RMAs tend to come in bursts. */
#define WORKER_SPIN_NS 50000

static pthread_mutex_t eng_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan *chans;
static int nchan;
static _Atomic int eng_up; /* chans ready (reset in a fork() child) */
static _Atomic unsigned rr;
static size_t nt_min = NT_MIN_DEFAULT;
static size_t nt_max = NT_MAX_DEFAULT;
static pthread_once_t nt_once = PTHREAD_ONCE_INIT;

static void nt_init(void)
{
	nt_min = (size_t)skiff_knob_u64("SKIFF_NT_MIN", NT_MIN_DEFAULT, 0,
					SIZE_MAX, SKIFF_KNOB_SIZE, "bytes");
	nt_max = (size_t)skiff_knob_u64("SKIFF_NT_MAX", NT_MAX_DEFAULT, 0,
					SIZE_MAX, SKIFF_KNOB_SIZE, "bytes");
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- copying ---- */

#if defined(__x86_64__)
static void copy_nt(unsigned char *d, const unsigned char *s, size_t n)
{
	size_t head = (16 - ((uintptr_t)d & 15)) & 15;

	if (head > n)
		head = n;
	memcpy(d, s, head);
	d += head;
	s += head;
	n -= head;
	while (n >= 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
		d += 64;
		s += 64;
		n -= 64;
	}
	memcpy(d, s, n);
	_mm_sfence(); /* streaming stores are weakly ordered */
}
#endif

void skiff_copy(unsigned char *dst, const unsigned char *src, size_t n)
{
#if defined(__x86_64__)
	pthread_once(&nt_once, nt_init);
	if (n >= nt_min && n < nt_max) {
		copy_nt(dst, src, n);
		return;
	}
#endif
	memcpy(dst, src, n);
}

/* Copy bytes [begin, end) of a segment list. */
static void copy_range(struct skiff_seg *segs, size_t nseg, size_t begin,
		       size_t end)
{
	size_t pos = 0;

	for (size_t i = 0; i < nseg && pos < end; i++) {
		size_t s0 = pos, s1 = pos + segs[i].n;
		pos = s1;
		if (s1 <= begin)
			continue;
		size_t a = begin > s0 ? begin - s0 : 0;
		size_t b = (end < s1 ? end : s1) - s0;
		skiff_copy(segs[i].dst + a, segs[i].src + a, b - a);
	}
}

/* The last cache line (or partial line) of the source: split off so that it
 * lands after everything else (SCIF_RMA_ORDERED). */
static void split_tail(struct skiff_seg *segs, size_t nseg, struct skiff_seg *tail)
{
	struct skiff_seg *l = &segs[nseg - 1];
	uintptr_t e = (uintptr_t)l->src + l->n;
	size_t k = e - ((e - 1) & ~(uintptr_t)63);

	if (k > l->n)
		k = l->n;
	l->n -= k;
	tail->dst = l->dst + l->n;
	tail->src = l->src + l->n;
	tail->n = k;
}

void skiff_copy_ordered(struct skiff_seg *segs, size_t nseg, size_t total)
{
	struct skiff_seg tail;

	if (!nseg)
		return;
	split_tail(segs, nseg, &tail);
	copy_range(segs, nseg, 0, total - tail.n);
	/* stores become visible in program order (x86-TSO; copy_nt ends with
	 * sfence): the compiler must not reorder them */
	__asm__ __volatile__("" ::: "memory");
	memcpy(tail.dst, tail.src, tail.n);
}

static void run_job(struct job *j);
static struct job *steal(void);

/* ---- completion ---- */

/* Fence signals (fence.c queues them) are written here, by whoever
 * completes the last RMA before them: completion is this file's, and it
 * calls nothing above it. */
static void write_u64(unsigned char *p, uint64_t v)
{
	if (((uintptr_t)p & 7) == 0)
		__atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELEASE);
	else
		memcpy(p, &v, sizeof(v)); /* 4-byte aligned, as SCIF allows */
}

void skiff_sig_write(const struct skiff_sig *s)
{
	if (s->lp)
		write_u64(s->lp, s->lval);
	if (s->rp)
		write_u64(s->rp, s->rval);
}

static void sigs_fire(struct skiff_rma *r, uint64_t done)
{
	struct skiff_sig **pp = &r->sigs;

	while (*pp) {
		struct skiff_sig *s = *pp;
		if (s->seq <= done) {
			skiff_sig_write(s);
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

void skiff_sigs_drop(struct skiff_rma *r)
{
	while (r->sigs) {
		struct skiff_sig *s = r->sigs;
		r->sigs = s->next;
		free(s);
	}
}

static void publish(struct skiff_rma *r, uint64_t done)
{
	atomic_store_explicit(&r->completed, done, memory_order_release);
	__atomic_store_n(&r->self_ctl->completed, done, __ATOMIC_RELEASE);
}

uint64_t skiff_rma_begin_inline(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	uint64_t seq;

	pthread_mutex_lock(&r->clock);
	while (r->submitted - atomic_load(&r->completed) >= SKIFF_RMA_TRACK)
		pthread_cond_wait(&r->ccond, &r->clock);
	seq = ++r->submitted;
	__atomic_store_n(&r->self_ctl->submitted, seq, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->clock);
	return seq;
}

static void complete(struct skiff_rma *r, uint64_t seq)
{
	uint64_t done;

	pthread_mutex_lock(&r->clock);
	done = atomic_load(&r->completed);
	r->done[seq % SKIFF_RMA_TRACK] = 1;
	while (r->done[(done + 1) % SKIFF_RMA_TRACK] && done < r->submitted) {
		r->done[(done + 1) % SKIFF_RMA_TRACK] = 0;
		done++;
	}
	/* signals first: whoever sees the new count may unmap their
	 * targets (scif_unregister, a dropped remote window) */
	if (r->sigs)
		sigs_fire(r, done);
	publish(r, done);
	pthread_cond_broadcast(&r->ccond);
	pthread_mutex_unlock(&r->clock);
}

void skiff_rma_complete(struct skiff_ep *ep, uint64_t seq)
{
	complete(ep->rma, seq);
}

void skiff_rma_abort(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	uint64_t sub;

	pthread_mutex_lock(&r->clock);
	sub = r->submitted;
	pthread_mutex_unlock(&r->clock);
	for (uint64_t s = atomic_load(&r->completed) + 1; s <= sub; s++) {
		if (r->rstatus && !r->done[s % SKIFF_RMA_TRACK])
			r->rstatus[s % SKIFF_RMA_TRACK] = ECONNRESET;
		complete(r, s);
	}
}

static int wait_seq(struct skiff_ep *ep, uint64_t seq, int spin)
{
	struct skiff_rma *r = ep->rma;

	/* rather than wait idle, copy what is still queued: the waiting
	 * thread's CPU joins the channels */
	if (atomic_load_explicit(&eng_up, memory_order_acquire)) {
		struct job *j;
		while (atomic_load_explicit(&r->completed, memory_order_acquire) < seq &&
		       (j = steal()))
			run_job(j);
	}
	/* SCIF_RMA_SYNC promises busy waiting: spin a little first (2000
	 * pauses: ~20 us on the 2-vCPU VM) */
	for (int i = 0; i < spin; i++) {
		if (atomic_load_explicit(&r->completed, memory_order_acquire) >= seq)
			return 0; /* callers that free r take r->clock once more */
#if defined(__x86_64__)
		__builtin_ia32_pause();
#endif
	}
	pthread_mutex_lock(&r->clock);
	while (atomic_load(&r->completed) < seq)
		pthread_cond_wait(&r->ccond, &r->clock);
	pthread_mutex_unlock(&r->clock);
	return 0;
}

int skiff_rma_wait(struct skiff_ep *ep, uint64_t seq)
{
	return wait_seq(ep, seq, 2000);
}

int skiff_rma_wait_sleep(struct skiff_ep *ep, uint64_t seq)
{
	return wait_seq(ep, seq, 0);
}

/* ---- channels ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run_job(struct job *j)
{
	struct op *op = j->op;

	copy_range(op->segs, op->nseg, j->begin, j->end);
	free(j);
	if (atomic_fetch_sub(&op->pending, 1) == 1) {
		/* the fetch_sub that saw the last part finish orders every
		 * part's stores before the tail's */
		if (op->ordered && op->tail.n)
			memcpy(op->tail.dst, op->tail.src, op->tail.n);
		complete(op->r, op->seq);
		free(op->segs);
		free(op);
	}
}

/* Take a queued job from any channel, for a thread that would otherwise
 * wait for it (fence wait, SCIF_RMA_SYNC). */
static struct job *steal(void)
{
	for (int i = 0; i < nchan; i++) {
		struct chan *c = &chans[i];
		struct job *j = NULL;

		if (!atomic_load_explicit(&c->queued, memory_order_acquire))
			continue;
		pthread_mutex_lock(&c->m);
		if (c->head) {
			j = c->head;
			c->head = j->next;
			if (!c->head)
				c->tail = NULL;
			atomic_fetch_sub(&c->queued, 1);
		}
		pthread_mutex_unlock(&c->m);
		if (j)
			return j;
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct chan *c = arg;
	cpu_set_t set;

	/* run wherever the process may: not only where the thread that
	 * happened to start us was pinned */
	if (sched_getaffinity(getpid(), sizeof(set), &set) == 0)
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (;;) {
		struct job *j;

		if (!atomic_load_explicit(&c->queued, memory_order_acquire)) {
			int64_t end = mono_ns() + WORKER_SPIN_NS;
			while (!atomic_load_explicit(&c->queued, memory_order_acquire) &&
			       mono_ns() < end)
				for (int i = 0; i < 32; i++)
					cpu_relax();
		}
		pthread_mutex_lock(&c->m);
		while (!c->head) {
			c->sleeping = 1;
			pthread_cond_wait(&c->c, &c->m);
			c->sleeping = 0;
		}
		j = c->head;
		c->head = j->next;
		if (!c->head)
			c->tail = NULL;
		atomic_fetch_sub(&c->queued, 1);
		pthread_mutex_unlock(&c->m);

		run_job(j);
	}
	return NULL;
}

static int engine(void)
{
	int n = 2;

	if (atomic_load_explicit(&eng_up, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&eng_lock);
	if (chans) {
		pthread_mutex_unlock(&eng_lock);
		return 0;
	}
	/* first use, or a child of fork(): its parent's threads are not here */
	n = (int)skiff_knob_u64("SKIFF_DMA_CHANNELS", (uint64_t)n, 1,
				MAX_CHANNELS, 0, "channels");
	chans = calloc((size_t)n, sizeof(*chans));
	if (!chans) {
		pthread_mutex_unlock(&eng_lock);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		pthread_attr_t at;
		sigset_t all, old;

		pthread_mutex_init(&chans[i].m, NULL);
		pthread_cond_init(&chans[i].c, NULL);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		/* the user's signals belong to the user's threads */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&chans[i].th, &at, worker, &chans[i]) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pthread_attr_destroy(&at);
			n = i;
			break;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&at);
	}
	if (n == 0) {
		free(chans);
		chans = NULL;
		pthread_mutex_unlock(&eng_lock);
		return -EAGAIN;
	}
	nchan = n;
	atomic_store_explicit(&eng_up, 1, memory_order_release);
	pthread_mutex_unlock(&eng_lock);
	return 0;
}

/* A fork() child has none of the channel threads, and their queues hold the
 * parent's jobs (of RMAs on inherited endpoints, refused in the child): it
 * starts an engine of its own when it first needs one. The locks may have
 * been held by threads that are not in the child: made anew. */
static void dma_fork_child(void)
{
	pthread_mutex_init(&eng_lock, NULL);
	chans = NULL;
	nchan = 0;
	atomic_store(&eng_up, 0);
}

__attribute__((constructor)) static void dma_atfork(void)
{
	pthread_atfork(NULL, NULL, dma_fork_child);
}

static void enqueue(struct chan *c, struct job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&c->m);
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	atomic_fetch_add(&c->queued, 1);
	if (c->sleeping) /* a polling worker needs no wake-up */
		pthread_cond_signal(&c->c);
	pthread_mutex_unlock(&c->m);
}

/*
 * Queue an RMA (takes ownership of @segs). Returns its sequence number in
 * *seq_out; it may complete after we return.
 */
int skiff_dma_submit(struct skiff_ep *ep, struct skiff_seg *segs, size_t nseg,
		     size_t total, int flags, uint64_t *seq_out)
{
	struct op *op;
	size_t body, parts, step;
	int ret = engine();

	if (ret < 0) {
		free(segs);
		return ret;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		free(segs);
		return -ENOMEM;
	}
	op->r = ep->rma;
	op->segs = segs;
	op->nseg = nseg;
	op->ordered = !!(flags & SCIF_RMA_ORDERED);
	body = total;
	if (op->ordered) {
		split_tail(segs, nseg, &op->tail);
		body = total - op->tail.n;
	}
	parts = body >= SPLIT_MIN ? (size_t)nchan : 1;
	step = ((body + parts - 1) / parts + 63) & ~(size_t)63;
	atomic_store(&op->pending, (int)parts);
	op->seq = skiff_rma_begin_inline(ep);
	*seq_out = op->seq;
	for (size_t i = 0; i < parts; i++) {
		struct job *j = calloc(1, sizeof(*j));
		size_t b = i * step, e = b + step;

		if (b > body)
			b = body;
		if (e > body)
			e = body;
		if (!j) {
			/* no memory for the job: do this part here */
			copy_range(segs, nseg, b, e);
			if (atomic_fetch_sub(&op->pending, 1) == 1) {
				if (op->ordered && op->tail.n)
					memcpy(op->tail.dst, op->tail.src, op->tail.n);
				complete(op->r, op->seq);
				free(op->segs);
				free(op);
			}
			continue;
		}
		j->op = op;
		j->begin = b;
		j->end = e;
		enqueue(&chans[(parts > 1 ? i : atomic_fetch_add(&rr, 1)) % (size_t)nchan], j);
	}
	return 0;
}
