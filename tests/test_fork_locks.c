/* SPDX-License-Identifier: MIT */
/*
 * test_fork_locks: every library lock and thread has a defined state in a
 * fork() child (issue 8 item 2, third bullet).
 *
 * The parent forks hundreds of times while its other threads keep the
 * library busy: register/unregister, writeto/readfrom (synchronous and on
 * the DMA channels), fences, scif_mmap/scif_munmap, micmem transfers (DUAL,
 * on the copy threads), and while the peer floods the control service with
 * window records (a register/unregister loop of its own). Each child, with
 * a watchdog, runs a DUAL transfer on the micmem handle it inherited (its
 * copy threads start again), closes it and the endpoints it inherited, makes
 * a connection of its own, registers, runs an asynchronous RMA and a fence
 * (the control service and the DMA channels start again in the child) and
 * a micmem DUAL transfer on a new handle, and exits. A child that hangs
 * fails the test.
 *
 * The parent's workers reconnect when their connection ends: a child's
 * scif_close of an inherited endpoint may end it (until scif_close of an
 * inherited endpoint releases only the child's reference).
 */
#include "rma_util.h"

#include <micmem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

/* AddressSanitizer's allocator (GCC 12's libsanitizer) is not locked around
 * fork(): a child of this busy multithreaded process can deadlock in malloc
 * inside the sanitizer (seen: calloc in the child waiting for a size-class
 * lock a parent thread held). Not the library's locks: skipped there, and
 * under ThreadSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define FORK_UNSAFE "AddressSanitizer: its allocator is not fork()-safe in a " \
	"multithreaded process (a child can deadlock in malloc)"
#elif defined(__SANITIZE_THREAD__)
/* and ThreadSanitizer aborts on a thread that a fork() child starts on the
 * stack of one of its parent's ("dup thread with used id") */
#define FORK_UNSAFE "ThreadSanitizer: it does not support threads started " \
	"in a child of a multithreaded fork()"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FORK_UNSAFE "a sanitizer: fork() of a multithreaded process"
#endif
#endif

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)
#define LEN (16 * 4096)
#define LOFF 0x100000
#define LOFF2 0x400000
#define ROFF 0x200000
#define NFORK 300
#define NWORK 2
#define MiB (1u << 20)

static uint16_t peer_port;
/* Workers open, connect and close endpoints under the read side, fork()
 * happens under the write side: the endpoint table's and endpoints' own
 * locks across fork() are another change's (scif_close of an inherited
 * endpoint releasing only the child's reference); this test is about the
 * window, RMA, DMA, mmap and micmem state. */
static pthread_rwlock_t life_lock = PTHREAD_RWLOCK_INITIALIZER;
static _Atomic int stop;
static _Atomic int slots[NWORK]; /* the workers' endpoints (-1: none) */
static _Atomic long ops[NWORK];
static _Atomic long reconnects;
static int mm_h = -1;
static char *mm_buf; /* mapped on mm_h */
static _Atomic long mm_ops;

/* ---- the peer: windows for us, and a flood of records ---- */

static void *peer_conn(void *a)
{
	scif_epd_t ep = (scif_epd_t)(intptr_t)a;
	unsigned char *w, *f;

	w = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	f = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED || f == MAP_FAILED)
		_exit(5);
	if (scif_register(ep, w, LEN, ROFF, RW, SCIF_MAP_FIXED) == ROFF &&
	    scif_send(ep, "w", 1, SCIF_SEND_BLOCK) == 1) { /* it is there */
		/* WIN_ADD and WIN_DEL records, as fast as they go */
		for (unsigned i = 0;; i++) {
			off_t o = scif_register(ep, f, PG * (1 + i % 4), 0, RW, 0);
			if (o == SCIF_REGISTER_FAILED ||
			    scif_unregister(ep, o, PG * (1 + i % 4)) < 0)
				break;
		}
	}
	scif_close(ep);
	munmap(w, LEN);
	munmap(f, 4 * PG);
	return NULL;
}

static void *peer_stop(void *a)
{
	char c;

	while (read((int)(intptr_t)a, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0); /* the test is over */
}

static int role_peer(const char *arg)
{
	int wr = -1, rd = -1;
	scif_epd_t l;
	uint16_t port;
	pthread_t t;

	CHECK(sscanf(arg, "%d,%d", &wr, &rd) == 2);
	CHECK(pthread_create(&t, NULL, peer_stop, (void *)(intptr_t)rd) == 0);
	l = h_listen(0, 64, &port);
	h_put(wr, port);
	for (;;) {
		struct scif_portID pid;
		scif_epd_t ep;

		if (scif_accept(l, &pid, &ep, SCIF_ACCEPT_SYNC) < 0) {
			CHECK(errno == EINTR || errno == ECONNRESET ||
			      errno == ENOMEM || errno == EAGAIN);
			continue;
		}
		CHECK(pthread_create(&t, NULL, peer_conn, (void *)(intptr_t)ep) == 0);
		pthread_detach(t);
	}
	return 0;
}

/* ---- the parent's workers ---- */

/* An error a connection ended by a child's scif_close (or a peer thread
 * that stopped) may give; anything else fails the test. */
static int conn_gone(int e)
{
	return e == ECONNRESET || e == ENOTCONN || e == ENXIO || e == EPIPE;
}

#define TRY(call)                                                              \
	do {                                                                   \
		if ((call) < 0) {                                              \
			int e_ = errno;                                        \
			if (!conn_gone(e_))                                    \
				h_fail(__FILE__, __LINE__, #call, e_, 0);      \
			goto out;                                              \
		}                                                              \
	} while (0)

static void *worker(void *a)
{
	int id = (int)(intptr_t)a;
	unsigned char *lb = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *lb2 = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t k = (uint64_t)id << 32;

	CHECK(lb != MAP_FAILED && lb2 != MAP_FAILED);
	while (!atomic_load(&stop)) {
		scif_epd_t ep;
		struct scif_portID dst = { .node = 0, .port = peer_port };
		int mark;
		char c;

		pthread_rwlock_rdlock(&life_lock);
		ep = scif_open();
		CHECK(ep >= 0);
		if (scif_connect(ep, &dst) < 0) {
			CHECK(conn_gone(errno) || errno == ECONNREFUSED);
			scif_close(ep);
			pthread_rwlock_unlock(&life_lock);
			continue;
		}
		pthread_rwlock_unlock(&life_lock);
		pat_fill(lb, LEN, k, 0);
		TRY(scif_register(ep, lb, LEN, LOFF, RW, SCIF_MAP_FIXED));
		/* the peer's window is registered (its record came first) */
		TRY(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK) == 1 ? 0 : -1);
		/* children may close it from now on (not while we are in
		 * scif_recv: the endpoint's own locks across fork() are
		 * another change's) */
		atomic_store(&slots[id], ep);
		for (int i = 0; i < 200 && !atomic_load(&stop); i++) {
			void *m;

			k++;
			pat_fill(lb, LEN, k, 0);
			TRY(scif_writeto(ep, LOFF, LEN, ROFF,
					 i % 2 ? SCIF_RMA_SYNC : 0));
			TRY(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark));
			TRY(scif_fence_wait(ep, mark));
			memset(lb, 0, LEN);
			TRY(scif_readfrom(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC));
			EXPECT_PAT(lb, LEN, k, 0);
			TRY(scif_fence_signal(ep, LOFF, k, 0, 0,
					      SCIF_FENCE_INIT_SELF |
					      SCIF_SIGNAL_LOCAL));
			TRY(scif_register(ep, lb2, LEN, LOFF2, RW, SCIF_MAP_FIXED));
			TRY(scif_vwriteto(ep, lb2, LEN, ROFF, 0));
			TRY(scif_unregister(ep, LOFF2, LEN));
			m = scif_mmap(NULL, LEN, RW, 0, ep, ROFF);
			TRY(m == SCIF_MMAP_FAILED ? -1 : 0);
			((volatile unsigned char *)m)[i] = 1;
			scif_munmap(m, LEN);
			atomic_fetch_add(&ops[id], 1);
		}
	out:
		atomic_store(&slots[id], -1);
		pthread_rwlock_rdlock(&life_lock);
		scif_close(ep);
		pthread_rwlock_unlock(&life_lock);
		atomic_fetch_add(&reconnects, 1);
	}
	munmap(lb, LEN);
	munmap(lb2, LEN);
	return NULL;
}

static void *mm_worker(void *a)
{
	char *b = a;

	while (!atomic_load(&stop)) {
		CHECK_OK(micmem_host2dev(mm_h, b, 0, 0, 4 * MiB, MICMEM_DUAL));
		CHECK_OK(micmem_dev2host(mm_h, b, 0, 0, 4 * MiB, MICMEM_DUAL));
		atomic_fetch_add(&mm_ops, 1);
	}
	return NULL;
}

/* ---- the children ---- */

static int child_fn(void *a)
{
	unsigned char *b;
	scif_epd_t ep;
	int mark, h;
	char *mb, c;

	(void)a;
	alarm(20); /* a hang in the child is a failure */
	STEP("child: close the endpoints I inherited");
	for (int i = 0; i < NWORK; i++) {
		int e = atomic_load(&slots[i]);
		if (e >= 0)
			(void)scif_close(e);
	}
	if (mm_h >= 0) {
		/* the inherited handle's copy threads start again */
		STEP("child: a transfer on the micmem handle I inherited");
		EXPECT_OK(micmem_host2dev(mm_h, mm_buf, 0, 128 * MiB, 4 * MiB,
					  MICMEM_DUAL));
		STEP("child: close the micmem handle I inherited");
		EXPECT_OK(micmem_close(mm_h));
	}
	STEP("child: a connection of my own, a window, RMA, a fence");
	ep = h_connect(0, peer_port);
	b = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(b != MAP_FAILED);
	pat_fill(b, LEN, 77, 0);
	CHECK_EQ(scif_register(ep, b, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	CHECK_EQ(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), 1); /* its window */
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, 0), 0); /* DMA channels */
	EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	memset(b, 0, LEN);
	EXPECT_EQ(scif_readfrom(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
	EXPECT_PAT(b, LEN, 77, 0);
	EXPECT_EQ(scif_unregister(ep, LOFF, LEN), 0);
	EXPECT_EQ(scif_close(ep), 0);
	STEP("child: micmem on a handle of my own");
	mb = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mb != MAP_FAILED);
	memset(mb, 3, 2 * MiB);
	h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, mb, 2 * MiB));
	EXPECT_OK(micmem_host2dev(h, mb, 0, 64 * MiB, 2 * MiB, MICMEM_DUAL));
	memset(mb, 0, 2 * MiB);
	EXPECT_OK(micmem_dev2host(h, mb, 0, 64 * MiB, 2 * MiB, MICMEM_DUAL));
	EXPECT(mb[0] == 3 && mb[2 * MiB - 1] == 3);
	EXPECT_OK(micmem_close(h));
	return 0;
}

static const struct h_role roles[] = {
	{ "peer", role_peer },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	pthread_t w[NWORK], mt;
	struct h_pipe ready, stopper;
	char arg[32];
	pid_t peer, scifd;
	char *mb;
	int64_t t0;

	h_init(argc, argv, "fork_locks", 280, roles);
#ifdef FORK_UNSAFE
	h_log("skipped under %s", FORK_UNSAFE);
	return h_finish();
#endif
	STEP("set up: scifd, the peer, micmem");
	scifd = h_scifd_start(1);
	h_pipe_init(&ready, 1);
	h_pipe_init(&stopper, 1);
	snprintf(arg, sizeof(arg), "%d,%d", ready.wr, stopper.rd);
	peer = h_spawn("peer", arg, NULL);
	peer_port = (uint16_t)h_get_must(ready.rd, 20000);
	close(stopper.rd);
	stopper.rd = -1;
	mb = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mb != MAP_FAILED);
	memset(mb, 1, 4 * MiB);
	mm_h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(mm_h, 0));
	CHECK_OK(micmem_maprange(mm_h, mb, 4 * MiB));
	mm_buf = mb;
	for (int i = 0; i < NWORK; i++) {
		atomic_store(&slots[i], -1);
		CHECK(pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i) == 0);
	}
	CHECK(pthread_create(&mt, NULL, mm_worker, mb) == 0);

	t0 = h_now_ns();
	for (int i = 0; i < NFORK; i++) {
		pid_t c;

		STEP("fork %d of %d under load", i + 1, NFORK);
		pthread_rwlock_wrlock(&life_lock);
		c = h_fork(child_fn, NULL);
		pthread_rwlock_unlock(&life_lock);
		CHECK_CHILD_OK(c, 30000);
	}
	h_log("%d forks in %lld ms; parent: %ld + %ld RMA rounds, %ld "
	      "reconnects, %ld micmem rounds", NFORK, (long long)h_ms_since(t0),
	      atomic_load(&ops[0]), atomic_load(&ops[1]),
	      atomic_load(&reconnects), atomic_load(&mm_ops));
	atomic_store(&stop, 1);
	for (int i = 0; i < NWORK; i++)
		pthread_join(w[i], NULL);
	pthread_join(mt, NULL);
	EXPECT_GT(atomic_load(&ops[0]) + atomic_load(&ops[1]), 0);
	EXPECT_GT(atomic_load(&mm_ops), 0);

	STEP("after the forks: a fresh connection works, byte for byte");
	{
		scif_epd_t ep = h_connect(0, peer_port);
		char c;

		EXPECT_OK(micmem_close(mm_h));
		mm_h = -1;
		pat_fill(mb, LEN, 4321, 0);
		CHECK_EQ(scif_register(ep, mb, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
		CHECK_EQ(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), 1);
		EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
		memset(mb, 0, LEN);
		EXPECT_EQ(scif_readfrom(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
		EXPECT_PAT(mb, LEN, 4321, 0);
		EXPECT_EQ(scif_close(ep), 0);
	}
	h_put(stopper.wr, 1); /* the peer exits */
	h_pipe_close(&stopper);
	EXPECT_CHILD_OK(peer, 20000);
	h_scifd_stop(scifd);
	h_pipe_close(&ready);
	return h_finish();
}
