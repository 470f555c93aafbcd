/* SPDX-License-Identifier: MIT */
/*
 * endpoint.c - the endpoint table, scif_open, scif_close, scif_get_fd.
 *
 * An endpoint is the file descriptor the user holds. Before it is listening
 * or connected it is the write end of a full pipe whose read end is closed:
 * poll() then reports exactly POLLERR, as SCIF does for unbound and bound
 * endpoints. The bound socket is kept aside until listen/connect, and then
 * dup3()'d onto the same number, so the descriptor never changes.
 *
 * Endpoint structs are never returned to malloc (closed ones go to a free
 * list): a thread racing with scif_close() on the same endpoint finds a
 * closed endpoint, never freed memory.
 *
 * Across fork() an endpoint is what its descriptor is, one object shared by
 * the processes holding it. The structs live in MAP_SHARED anonymous slabs,
 * which a child inherits as shared memory, so a listening or connected
 * endpoint keeps one set of ring positions, counters and locks (futex
 * words, internal.h) in every holder: one stream, as when it lived in the
 * kernel. Only the last holder's scif_close ends the endpoint (shutdown,
 * closed flag, windows unregistered); the others drop their own mapping and
 * descriptor. A holder is a process with a POSIX read lock on byte 0 of the
 * endpoint's socket: the kernel drops it when the process closes the
 * descriptor, exits or is killed, so "last" stays exact whatever way a
 * holder goes. Endpoints not yet listening or connected are copied into
 * the child's own memory at fork: their state means something to one
 * process only.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "relay_ep.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "knob.h"
#include "nodeq.h"

#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS 4096 /* descriptors up to 4M */

static _Atomic(struct skiff_ep *) *table[NCHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skiff_ep *free_list; /* linked through ->region_size, under table_lock */

/* endpoint structs are carved from shared slabs (fork, see above) */
#define SLAB_BYTES (64u << 10)
#define EP_STRIDE ((sizeof(struct skiff_ep) + 63) & ~(size_t)63)
static unsigned char *slab_next; /* under table_lock */
static size_t slab_left;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static struct skiff_ctx ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static int ctx_preset;
static void ctx_init(void);

void skiff_ctx_preset(const char *fabric, int node)
{
	snprintf(ctx.fabric, sizeof(ctx.fabric), "%s", fabric);
	ctx.node = node;
	ctx.node_set = 0;
	ctx_preset = 1;
	pthread_once(&ctx_once, ctx_init);
}

static void ctx_init(void)
{
	if (ctx_preset)
		return;
	ctx.fabric_err = skiff_fabric(ctx.fabric);
	if (ctx.fabric_err < 0)
		skiff_log(SKIFF_LOG_WARN, "SCIF_FABRIC=%s is not 1 to %d "
			  "characters of [A-Za-z0-9._-]", getenv("SCIF_FABRIC"),
			  SKIFF_FABRIC_MAX);
	ctx.node = skiff_self_node();
	ctx.node_set = getenv("SCIF_NODE") && *getenv("SCIF_NODE");
	/* unset: this host's own node, which on a fabric of several hosts
	 * is its FIRST; asked once per process, and only of a daemon */
	if (!ctx.node_set && ctx.fabric_err == 0)
		ctx.node = skiff_default_node(ctx.fabric);
}

const struct skiff_ctx *skiff_ctx(void)
{
	pthread_once(&ctx_once, ctx_init);
	return &ctx;
}

static _Atomic(struct skiff_ep *) *slot(int fd, int create)
{
	unsigned c = (unsigned)fd >> CHUNK_BITS;
	_Atomic(struct skiff_ep *) *chunk;

	if (fd < 0 || c >= NCHUNKS)
		return NULL;
	chunk = __atomic_load_n(&table[c], __ATOMIC_ACQUIRE);
	if (!chunk && create) {
		pthread_mutex_lock(&table_lock);
		chunk = table[c];
		if (!chunk) {
			chunk = calloc(CHUNK, sizeof(*chunk));
			if (chunk)
				__atomic_store_n(&table[c], chunk,
						 __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&table_lock);
	}
	return chunk ? &chunk[(unsigned)fd & (CHUNK - 1)] : NULL;
}

/* ---- endpoint locks (internal.h) ---- */

__thread uint32_t skiff_tid __attribute__((tls_model("initial-exec")));

uint32_t skiff_tid_init(void)
{
	skiff_tid = (uint32_t)syscall(SYS_gettid) & SKIFF_LOCK_TID;
	return skiff_tid;
}

/* getpid() is a system call (glibc caches it no more); fork_child resets
 * the cache */
static _Atomic pid_t self_pid;

pid_t skiff_self_pid(void)
{
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);

	if (__builtin_expect(!p, 0)) {
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
}

static int futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
	/* not FUTEX_PRIVATE: the word is shared between processes */
	return (int)syscall(SYS_futex, w, op, val, t, NULL, 0);
}

/* Is the thread @tid gone? A killed process's main thread is a zombie
 * until reaped: gone too. */
static int tid_dead(uint32_t tid)
{
	char path[48], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill((pid_t)tid, 0) < 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%u/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* How long a waiter sleeps before it looks whether the owner died. */
#define OWNER_CHECK_NS (100 * 1000 * 1000L)

int skiff_lock_slow(struct skiff_ep *ep, struct skiff_lock *l, int try)
{
	uint32_t me = skiff_self_tid();
	int check = try; /* a trylock looks at once: poll() would not wait */

	for (;;) {
		uint32_t v = atomic_load_explicit(&l->w, memory_order_relaxed);
		struct timespec t = { 0, OWNER_CHECK_NS };

		if (!v) {
			/* free: take it, keeping the mark (others may sleep) */
			if (atomic_compare_exchange_weak_explicit(
				    &l->w, &v, me | SKIFF_LOCK_WAITERS,
				    memory_order_acquire, memory_order_relaxed))
				return 0;
			continue;
		}
		if (check && tid_dead(v & SKIFF_LOCK_TID)) {
			/* its owner died inside a call: ours now */
			if (atomic_compare_exchange_strong_explicit(
				    &l->w, &v, me | (v & SKIFF_LOCK_WAITERS),
				    memory_order_acquire, memory_order_relaxed)) {
				skiff_ep_owner_died(ep, l);
				return 0;
			}
			continue;
		}
		if (try)
			return EBUSY;
		if (!(v & SKIFF_LOCK_WAITERS) &&
		    !atomic_compare_exchange_weak_explicit(
			    &l->w, &v, v | SKIFF_LOCK_WAITERS,
			    memory_order_relaxed, memory_order_relaxed))
			continue;
		check = futex(&l->w, FUTEX_WAIT, v | SKIFF_LOCK_WAITERS, &t) < 0 &&
			errno == ETIMEDOUT;
	}
}

void skiff_unlock_slow(struct skiff_lock *l)
{
	futex(&l->w, FUTEX_WAKE, 1, NULL);
}

static void init_locks(struct skiff_ep *ep)
{
	atomic_store(&ep->send_lock.w, 0);
	atomic_store(&ep->recv_lock.w, 0);
	atomic_store(&ep->lock.w, 0);
}

/* A fresh struct from the shared slab, locks initialised; table_lock held. */
static struct skiff_ep *carve(void)
{
	struct skiff_ep *ep;

	if (slab_left < EP_STRIDE) {
		void *p = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		slab_next = p;
		slab_left = SLAB_BYTES;
	}
	ep = (struct skiff_ep *)(void *)slab_next;
	slab_next += EP_STRIDE;
	slab_left -= EP_STRIDE;
	init_locks(ep);
	return ep;
}

static void fork_setup(void);
static int was_inherited(struct skiff_ep *ep, int forget);

struct skiff_ep *skiff_ep_alloc(void)
{
	struct skiff_ep *ep;

	pthread_once(&fork_once, fork_setup);
	pthread_mutex_lock(&table_lock);
	ep = free_list;
	if (ep)
		free_list = (struct skiff_ep *)(uintptr_t)ep->region_size;
	else
		ep = carve();
	pthread_mutex_unlock(&table_lock);
	if (!ep)
		return NULL;
	/* keep the mutexes, reset everything else */
	ep->fd = -1;
	ep->sock = -1;
	ep->dev = 0;
	ep->ino = 0;
	ep->state = SKIFF_EP_UNBOUND;
	ep->node = ep->port = ep->peer_node = ep->peer_port = 0;
	ep->backlog = 0;
	ep->side = 0;
	ep->cookie = 0;
	ep->region = NULL;
	ep->region_size = 0;
	memset(&ep->tx, 0, sizeof(ep->tx));
	memset(&ep->rx, 0, sizeof(ep->rx));
	ep->rma = NULL;
	atomic_store(&ep->dead, 0);
	atomic_store(&ep->forked, 0);
	return ep;
}

void skiff_ep_free(struct skiff_ep *ep)
{
	was_inherited(ep, 1);
	/* One that was shared is not used again: a process that forgot it
	 * (plain close(), drop_stale) may still look at it. */
	if (atomic_load(&ep->forked))
		return;
	pthread_mutex_lock(&table_lock);
	ep->fd = -1;
	ep->region_size = (size_t)(uintptr_t)free_list;
	free_list = ep;
	pthread_mutex_unlock(&table_lock);
}

int skiff_ep_refresh_identity(struct skiff_ep *ep)
{
	struct stat st;

	if (fstat(ep->fd, &st) < 0)
		return -errno;
	ep->dev = st.st_dev;
	ep->ino = st.st_ino;
	return 0;
}

int skiff_ep_verify(struct skiff_ep *ep)
{
	struct stat st;

	if (fstat(ep->fd, &st) < 0 || st.st_dev != ep->dev || st.st_ino != ep->ino)
		return -EBADF;
	return 0;
}

static int sharable(const struct skiff_ep *ep)
{
	return ep->state == SKIFF_EP_LISTENING || ep->state == SKIFF_EP_CONNECTED ||
	       ep->state == SKIFF_EP_DISCONNECTED;
}

/* Take @ep out of this process's table at @fd (table_lock held); -EBADF if
 * another thread took it out first. Under table_lock, so that fork() sees
 * it either in or out. */
static int unlist_locked(int fd, struct skiff_ep *ep)
{
	_Atomic(struct skiff_ep *) *s = slot(fd, 0);
	struct skiff_ep *expect = ep;

	if (!s || !atomic_compare_exchange_strong(s, &expect, NULL))
		return -EBADF;
	return 0;
}

static int unlist(int fd, struct skiff_ep *ep)
{
	int r;

	pthread_mutex_lock(&table_lock);
	r = unlist_locked(fd, ep);
	pthread_mutex_unlock(&table_lock);
	return r;
}

/* ---- holders (see the top of the file) ---- */

static int lk(int fd, int cmd, short type, off_t start, off_t len,
	      struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = start, .l_len = len };
	int r;

	do
		r = fcntl(fd, cmd, &fl);
	while (r < 0 && errno == EINTR);
	if (out)
		*out = fl;
	return r;
}

/* This process holds the endpoint (idempotent). */
static void hold(struct skiff_ep *ep)
{
	lk(ep->fd, F_SETLK, F_RDLCK, 0, 1, NULL);
}

/* A child of fork() takes its holds in its atfork handler; until then a
 * parent closing could think itself the last. Each fork() that may share
 * endpoints makes a token, the read end of a pipe whose write end only
 * the child keeps until it holds what it inherited: EOF means settled
 * (also when the fork failed or the child died). fork() waits for it; one
 * that took too long is kept for closers to wait on. */
#define TOKENS_MAX 64
#define SETTLE_MS 2000
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;
static int tokens[TOKENS_MAX];
static _Atomic int ntokens;
static int token_rd = -1, token_wr = -1; /* from prepare to parent/child */

/* Close the tokens that reached EOF (token_lock held); how many remain. */
static int reap_tokens(struct pollfd *pf)
{
	int n = atomic_load(&ntokens), k = 0;

	if (n <= 0 || n > TOKENS_MAX)
		return 0;
	for (int i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = tokens[i], .events = POLLIN };
	if (poll(pf, (nfds_t)n, 0) < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (pf[i].revents)
			close(tokens[i]); /* EOF: that child holds */
		else
			pf[k].fd = tokens[k] = tokens[i], k++;
	}
	atomic_store(&ntokens, k);
	return k;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 once every fork so far has settled, -ETIMEDOUT if one did not. The
 * lock is not held while waiting: fork() takes it. */
static int forks_settle(void)
{
	struct pollfd pf[TOKENS_MAX];
	int64_t end = 0;
	int n;

	if (!atomic_load_explicit(&ntokens, memory_order_acquire))
		return 0;
	for (;;) {
		pthread_mutex_lock(&token_lock);
		n = reap_tokens(pf);
		pthread_mutex_unlock(&token_lock);
		if (!n)
			return 0;
		if (!end)
			end = mono_ms() + SETTLE_MS;
		else if (mono_ms() > end)
			return -ETIMEDOUT;
		/* a pause that ends at the first EOF (an fd reused meanwhile
		 * only shortens it) */
		poll(pf, (nfds_t)n, 1);
	}
}

/* Is this process the endpoint's last holder? Closers in different
 * processes take turns (a write lock on byte 1), so that of two closing at
 * once exactly one sees the other gone. Until let_go(), this process still
 * holds the endpoint: no other can end it meanwhile. */
static int last_holder(struct skiff_ep *ep)
{
	struct flock fl;

	if (forks_settle() < 0)
		return 0; /* a child may hold it: keep it alive */
	if (!atomic_load(&ep->forked))
		return 1; /* never inherited: ours alone */
	if (lk(ep->fd, F_SETLKW, F_WRLCK, 1, 1, NULL) < 0)
		return 0;
	return lk(ep->fd, F_GETLK, F_WRLCK, 0, 1, &fl) == 0 && fl.l_type == F_UNLCK;
}

static void let_go(struct skiff_ep *ep)
{
	lk(ep->fd, F_SETLK, F_UNLCK, 0, 2, NULL);
}

/* The listening and connected endpoints this process got from fork() (in
 * the child handler; private memory). */
static struct skiff_ep **inherited;
static size_t ninherited, capinherited;

/* Is @ep one of them? With @forget, it no longer is (this process is done
 * with it). */
static int was_inherited(struct skiff_ep *ep, int forget)
{
	int r = 0;

	pthread_mutex_lock(&table_lock);
	for (size_t i = 0; i < ninherited; i++)
		if (inherited[i] == ep) {
			if (forget)
				inherited[i] = inherited[--ninherited];
			r = 1;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	return r;
}

/* The layers above (connect.c, at load) say how an endpoint's windows,
 * connection and port end: this file is the bottom layer and calls up only
 * through these. None registered: nothing above was ever used. */
static const struct skiff_ep_upcalls *up;

void skiff_ep_set_upcalls(const struct skiff_ep_upcalls *u)
{
	up = u;
}

static void rma_release(struct skiff_ep *ep)
{
	if (up)
		up->rma_release(ep, !was_inherited(ep, 0));
}

static void rma_end(struct skiff_ep *ep)
{
	if (up)
		up->rma_end(ep);
}

static void conn_end(struct skiff_ep *ep)
{
	if (up)
		up->conn_end(ep);
}

static void rdv_release(struct skiff_ep *ep)
{
	if (up)
		up->rdv_release(ep);
}

/* as ring.c's skiff_mark_dead: the flag is the endpoint's */
static void mark_dead(struct skiff_ep *ep)
{
	atomic_store_explicit(&ep->dead, 1, memory_order_relaxed);
}

/* Does a thread of this process hold @l? */
static int held_by_us(struct skiff_lock *l)
{
	uint32_t tid = atomic_load(&l->w) & SKIFF_LOCK_TID;

	return tid && syscall(SYS_tgkill, getpid(), tid, 0) == 0;
}

/* Wait until no thread of ours is inside a send or receive on @ep. One
 * asleep notices within a sleep slice that @ep left our table (msg.c); a
 * holder in another process may stay inside as long as it likes. 0 if one
 * of ours is still inside after a few seconds. */
static int own_threads_out(struct skiff_ep *ep)
{
	for (int t = 0; held_by_us(&ep->send_lock) || held_by_us(&ep->recv_lock);
	     t++) {
		struct timespec ms = { 0, 1000 * 1000 };

		if (t >= 3000)
			return 0;
		nanosleep(&ms, NULL);
	}
	return 1;
}

/* A close that is not the endpoint's last, called while this process still
 * holds it (so that nobody ends it meanwhile): let go of what this process
 * has of it, touching nothing the other holders use (no shutdown, no
 * closed flag, no shared field, no window unregistered). Our threads inside
 * a call leave first, while our descriptor is still open: without it they
 * would take the connection for dead, for every holder. */
static void release_local(struct skiff_ep *ep)
{
	int out = own_threads_out(ep);

	rdv_release(ep);
	rma_release(ep);
	was_inherited(ep, 1);
	/* one of ours that stays inside keeps our mapping (leaked rather than
	 * pulled from under it) */
	if (ep->region && out)
		munmap(ep->region, ep->region_size);
	let_go(ep);
	close(ep->fd);
}

/* This process's last reference is gone: the endpoint ends. */
static void teardown(struct skiff_ep *ep)
{
	skiff_ep_lock(ep, &ep->lock);
	skiff_ep_lock(ep, &ep->send_lock);
	skiff_ep_lock(ep, &ep->recv_lock);
	rma_end(ep);
	conn_end(ep);
	if (ep->sock >= 0)
		close(ep->sock);
	ep->sock = -1;
	ep->state = SKIFF_EP_UNBOUND;
	skiff_ep_unlock(&ep->recv_lock);
	skiff_ep_unlock(&ep->send_lock);
	skiff_ep_unlock(&ep->lock);
	skiff_ep_free(ep);
}

/* Release what a stale entry holds (the user closed its fd with close()).
 * The descriptor is gone, so the kernel cannot be asked whether another
 * process holds the endpoint: one ever shared is only let go of (it may
 * have ended meanwhile, but its struct is never reused and its rma pointer
 * stays what it was: ours refers to our own copy). */
static void release_stale(struct skiff_ep *ep)
{
	if (!atomic_load(&ep->forked)) {
		teardown(ep);
		return;
	}
	rdv_release(ep);
	rma_release(ep);
	was_inherited(ep, 1);
}

static void drop_stale(int fd, struct skiff_ep *ep)
{
	if (unlist(fd, ep) == 0)
		release_stale(ep);
}

int skiff_ep_register(struct skiff_ep *ep)
{
	_Atomic(struct skiff_ep *) *s = slot(ep->fd, 1);
	struct skiff_ep *old;
	int r, stale = 0;

	if (!s)
		return -EMFILE;
	r = skiff_ep_refresh_identity(ep);
	if (r < 0)
		return r;
	if (sharable(ep))
		hold(ep); /* accepted: a fork may share it from now on */
	pthread_mutex_lock(&table_lock);
	/* The number is free again, so whatever the slot holds is an endpoint
	 * the user closed with close(): release it. */
	old = atomic_load_explicit(s, memory_order_acquire);
	if (old && old != ep)
		stale = unlist_locked(ep->fd, old) == 0;
	atomic_store_explicit(s, ep, memory_order_release);
	pthread_mutex_unlock(&table_lock);
	if (stale)
		release_stale(old);
	return 0;
}

void skiff_ep_owner_died(struct skiff_ep *ep, struct skiff_lock *m)
{
	if (ep->region && m == &ep->send_lock) {
		/* It died between stamping lines and publishing the head: the
		 * consumer may have taken some of those lines already, so the
		 * stream cannot be repaired. Reset it, for both sides. */
		if ((uint32_t)ep->tx.pos != __atomic_load_n(&ep->tx.ctl->head,
							    __ATOMIC_ACQUIRE)) {
			mark_dead(ep);
			__atomic_store_n(&ep->region->closed[ep->side], 1,
					 __ATOMIC_RELEASE);
		}
		/* Outside a call our record counts equal the published ones
		 * (ring.c): undo a count it bumped and did not publish. One
		 * it published and did not send, the consumer writes off. */
		ep->tx.posted = __atomic_load_n(&ep->tx.ctl->d_posted, __ATOMIC_ACQUIRE);
		ep->tx.c_posted = __atomic_load_n(&ep->tx.ctl->c_posted, __ATOMIC_ACQUIRE);
		if (up)
			up->rdv_owner_died(ep, 1);
	} else if (ep->region && m == &ep->recv_lock) {
		if (up)
			up->rdv_owner_died(ep, 0);
		/* Bytes it copied but did not free went nowhere: they are
		 * still the next ones. Its spin announcement is void. */
		uint32_t tail = __atomic_load_n(&ep->rx.ctl->tail, __ATOMIC_ACQUIRE);
		uint32_t ahead = (uint32_t)ep->rx.pos - tail;

		if (ahead < ep->rx.size)
			ep->rx.pos -= ahead;
		else
			mark_dead(ep); /* the peer wrote our tail */
		__atomic_store_n(&ep->rx.ctl->spin, 0, __ATOMIC_RELEASE);
		/* records it took off the socket count: publish them as a
		 * finished drain does */
		__atomic_store_n(&ep->rx.ctl->d_drained, ep->rx.drained, __ATOMIC_RELEASE);
		__atomic_store_n(&ep->rx.ctl->c_drained, ep->rx.c_drained, __ATOMIC_RELEASE);
	}
}

/* ---- fork ----
 * prepare: table_lock is taken, so that no endpoint enters or leaves the
 * table meanwhile, and a token is made (see forks_settle). The child holds
 * every listening or connected endpoint it inherited and copies the others
 * into memory of its own. */

#define FOR_EACH_SLOT(sp)                                                      \
	for (unsigned c_ = 0; c_ < NCHUNKS; c_++)                              \
		if (table[c_])                                                 \
			for (unsigned i_ = 0; i_ < CHUNK &&                    \
					      ((sp) = &table[c_][i_], 1);      \
			     i_++)

static void fork_prepare(void)
{
	_Atomic(struct skiff_ep *) *sp;
	int any = 0, p[2];

	pthread_mutex_lock(&table_lock);
	FOR_EACH_SLOT(sp) {
		struct skiff_ep *ep = atomic_load(sp);

		if (ep && sharable(ep)) {
			atomic_store(&ep->forked, 1);
			any = 1;
		}
	}
	pthread_mutex_lock(&token_lock);
	token_rd = token_wr = -1;
	if (any && pipe2(p, O_CLOEXEC) == 0) {
		token_rd = p[0];
		token_wr = p[1];
	}
}

static void fork_parent(void)
{
	if (token_wr >= 0) {
		struct pollfd pf[TOKENS_MAX], p = { .fd = token_rd, .events = POLLIN };
		int r;

		close(token_wr);
		/* fork() returns once the child holds what it inherited: had
		 * we exited at once, there would be a moment with nobody
		 * holding, and a third holder closing then would think itself
		 * the last. A child that does not get there in time (stopped)
		 * leaves its token to closers. */
		while ((r = poll(&p, 1, SETTLE_MS)) < 0 && errno == EINTR)
			;
		if (r != 0 || reap_tokens(pf) == TOKENS_MAX) {
			close(token_rd);
		} else {
			tokens[atomic_load(&ntokens)] = token_rd;
			atomic_fetch_add_explicit(&ntokens, 1, memory_order_release);
		}
	}
	token_rd = token_wr = -1;
	pthread_mutex_unlock(&token_lock);
	pthread_mutex_unlock(&table_lock);
}

/* The child: one thread; the locks are new. The free list and what is
 * left of the slab are the parent's to use (shared memory). */
static void fork_child(void)
{
	_Atomic(struct skiff_ep *) *sp;
	int n = atomic_load(&ntokens);

	skiff_tid = 0; /* a new thread id */
	atomic_store(&self_pid, 0); /* and a new pid */
	pthread_mutex_init(&table_lock, NULL);
	pthread_mutex_init(&token_lock, NULL);
	ninherited = 0; /* everything in the table now, below */
	free_list = NULL;
	slab_next = NULL;
	slab_left = 0;
	FOR_EACH_SLOT(sp) {
		struct skiff_ep *ep = atomic_load(sp), *mine;

		if (!ep)
			continue;
		if (sharable(ep)) {
			atomic_store(&ep->forked, 1);
			if (up)
				up->rdv_forked(ep);
			if (skiff_ep_verify(ep) == 0) /* not a number reused */
				hold(ep);
			if (ninherited == capinherited) {
				size_t nc = capinherited ? 2 * capinherited : 16;
				void *t = realloc(inherited, nc * sizeof(*inherited));
				if (t) {
					inherited = t;
					capinherited = nc;
				}
			}
			if (ninherited < capinherited)
				inherited[ninherited++] = ep;
			continue;
		}
		/* not yet listening or connected: a copy of our own */
		mine = carve();
		if (!mine)
			continue; /* shared, as a last resort */
		memcpy(mine, ep, offsetof(struct skiff_ep, send_lock));
		/* its descriptor is still the parent's too (a connect in
		 * progress): scif_close must not shut it down */
		atomic_store(&mine->forked, 1);
		atomic_store(sp, mine);
	}
	/* the parent's tokens are not ours; ours is settled */
	for (int i = 0; i < n; i++)
		close(tokens[i]);
	if (token_wr >= 0) {
		close(token_rd);
		close(token_wr);
	}
	token_rd = token_wr = -1;
	atomic_store(&ntokens, 0);
}

static void fork_setup(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int skiff_ep_get_fast(int epd, struct skiff_ep **out)
{
	_Atomic(struct skiff_ep *) *s = slot(epd, 0);
	struct skiff_ep *ep;

	ep = s ? atomic_load_explicit(s, memory_order_acquire) : NULL;
	if (!ep) {
		if (epd >= 0 && fcntl(epd, F_GETFD) >= 0)
			return -ENOTTY; /* open, but not an endpoint */
		return -EBADF;
	}
	*out = ep;
	return 0;
}

int skiff_ep_get(int epd, struct skiff_ep **out)
{
	struct skiff_ep *ep;
	struct stat st;
	int r = skiff_ep_get_fast(epd, &ep);

	if (r < 0)
		return r;
	/* A descriptor closed with plain close() and reused must not be taken
	 * for the old endpoint. */
	if (fstat(epd, &st) < 0) {
		drop_stale(epd, ep);
		return -EBADF;
	}
	if (st.st_dev != ep->dev || st.st_ino != ep->ino) {
		drop_stale(epd, ep);
		return -ENOTTY;
	}
	*out = ep;
	return 0;
}

/* Make @sock the user's descriptor, keeping the number and its flags. */
int skiff_ep_make_visible(struct skiff_ep *ep, int sock)
{
	int fl = fcntl(ep->fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	if (dup3(sock, ep->fd, O_CLOEXEC) < 0)
		return -errno;
	if (sock != ep->sock)
		close(sock);
	else
		close(ep->sock);
	ep->sock = -1;
	/* after the close: closing any descriptor of the file would drop it */
	hold(ep);
	return skiff_ep_refresh_identity(ep);
}

/* The write end of a full pipe with no reader polls as POLLERR only. */
int skiff_error_pipe(void)
{
	int p[2];

	/* packet mode: every write takes a slot of its own, so with a single
	 * slot one byte fills the pipe */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK | O_DIRECT) < 0 &&
	    pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	while (write(p[1], "", 1) == 1)
		;
	close(p[0]);
	fcntl(p[1], F_SETFL, 0);
	return p[1];
}

scif_epd_t skiff_api_open(void)
{
	const struct skiff_ctx *c = skiff_ctx();
	struct skiff_ep *ep;
	int fd, r;

	if (c->fabric_err < 0) {
		errno = -c->fabric_err;
		return -1;
	}
	if (c->node < 0) {
		errno = -c->node;
		return -1;
	}
	/* a node chosen by SCIF_NODE must be this host's (node 0 without a
	 * daemon); the default node is, by construction */
	if (c->node_set) {
		r = skiff_node_local(c->fabric, (unsigned)c->node);
		if (r <= 0) {
			skiff_log(SKIFF_LOG_INFO,
				  "scif_open: SCIF_NODE=%d is not a node of "
				  "this host in fabric '%s' (%s)", c->node,
				  c->fabric,
				  r == 0 ? "no scifd here has that node"
					 : strerror(-r));
			errno = r < 0 ? -r : ENODEV;
			if (errno != ENOMEM && errno != EMFILE && errno != ENFILE)
				errno = ENODEV;
			return -1;
		}
	}
	ep = skiff_ep_alloc();
	if (!ep) {
		errno = ENOMEM;
		return -1;
	}
	fd = skiff_error_pipe();
	if (fd < 0) {
		skiff_ep_free(ep);
		errno = -fd;
		return -1;
	}
	ep->fd = fd;
	ep->node = (uint16_t)c->node;
	r = skiff_ep_register(ep);
	if (r < 0) {
		close(fd);
		skiff_ep_free(ep);
		errno = -r;
		return -1;
	}
	return fd;
}

int skiff_api_close(scif_epd_t epd)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	r = unlist(epd, ep);
	if (r < 0)
		SKIFF_RET(r); /* another thread closed it */
	if (sharable(ep) && !last_holder(ep)) {
		/* another process inherited it and holds it still */
		release_local(ep);
		return 0;
	}
	if (sharable(ep))
		let_go(ep); /* the last: nobody else can take it up now */

	/* Wake threads blocked on this endpoint (accept, send, recv): they
	 * poll the socket and see it shut down. */
	if (ep->state != SKIFF_EP_UNBOUND && ep->state != SKIFF_EP_BOUND &&
	    (sharable(ep) || !atomic_load(&ep->forked)))
		shutdown(ep->fd, SHUT_RDWR);
	skiff_ep_lock(ep, &ep->lock);
	skiff_ep_lock(ep, &ep->send_lock);
	skiff_ep_lock(ep, &ep->recv_lock);
	/* RMAs in progress complete, windows are unregistered; inherited RMA
	 * state is the parent's, let go of only (window.c's locks in our copy
	 * of it may have been taken mid-use) */
	{
		struct skiff_rma *keep = ep->rma;

		if (was_inherited(ep, 0))
			rma_release(ep);
		else
			rma_end(ep);
		/* in the other processes it names their own copy, which one
		 * that forgot the endpoint may still use (release_stale) */
		if (atomic_load(&ep->forked))
			ep->rma = keep;
	}
	if (ep->region)
		__atomic_store_n(&ep->region->closed[ep->side], 1,
				 __ATOMIC_RELEASE);
	conn_end(ep);
	if (ep->sock >= 0)
		close(ep->sock);
	ep->sock = -1;
	close(ep->fd);
	ep->state = SKIFF_EP_UNBOUND;
	skiff_ep_unlock(&ep->recv_lock);
	skiff_ep_unlock(&ep->send_lock);
	skiff_ep_unlock(&ep->lock);
	skiff_ep_free(ep);
	return 0;
}

int skiff_api_get_fd(scif_epd_t epd)
{
	struct skiff_ep *ep;
	int r = skiff_ep_get(epd, &ep);

	if (r < 0)
		SKIFF_RET(r);
	return ep->fd;
}
