/* SPDX-License-Identifier: MIT */
/*
 * test_mmap: scif_mmap / scif_munmap of a peer's registered range, and what a
 * hostile peer can do to a read-only window.
 *
 * - the mapping shows the peer's window byte for byte (whole, partial, over
 *   two contiguous windows); our stores through it reach the owner's buffer
 *   and the owner's stores are seen through it (no skiff call in between);
 * - prot is honoured (a read-only mapping faults on a store), SCIF_MAP_FIXED
 *   maps exactly at a reserved address and leaves the rest of the
 *   reservation alone; ENXIO for uncovered ranges, EACCES for a writable map
 *   of a read-only window; scif_munmap returns 0 and the range is gone;
 * - coherent both ways: 10000 round trips through mapped words, spinning;
 * - the mapping stays valid (no SIGBUS, same data, still writable) after the
 *   peer closes, exits or is killed;
 * - a window mapped by the peer stays reserved after the owner unregisters
 *   it, until the peer unmaps;
 * - a hostile peer given a read-only window tries scif_writeto, vwriteto, a
 *   writable scif_mmap, mprotect on its read-only mapping, and pwrite /
 *   writable mmap / O_RDWR reopen (/proc/self/fd, /proc/self/map_files) on
 *   every memfd it holds or has mapped: all fail, and the owner's buffer is
 *   unchanged.
 */
#include "rma_util.h"

#include <dirent.h>
#include <grp.h>
#include <fcntl.h>
#include <sys/stat.h>

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)

static struct wtab L;

/* scif_mmap that must fail with @e. */
#define EXPECT_MMAP_ERR(len, prot, flags, ep, off, e)                           \
	do {                                                                   \
		void *m_;                                                      \
		errno = 0;                                                     \
		m_ = scif_mmap(NULL, (len), (prot), (flags), (ep), (off));     \
		if (m_ != SCIF_MMAP_FAILED || errno != (e)) {                  \
			h_fail_err(__FILE__, __LINE__,                         \
				   "scif_mmap(" #len ", " #prot ", " #off ")",  \
				   (long)(intptr_t)m_, errno, #e, 0);          \
			if (m_ != SCIF_MMAP_FAILED)                            \
				scif_munmap(m_, (len));                        \
		}                                                              \
	} while (0)

static unsigned char *must_mmap(void *addr, size_t len, int prot, int flags,
				scif_epd_t ep, off_t off)
{
	void *m;

	errno = 0;
	m = scif_mmap(addr, len, prot, flags, ep, off);
	if (m == SCIF_MMAP_FAILED)
		h_fail_err(__FILE__, __LINE__, "scif_mmap", -1, errno, "a mapping", 1);
	return m;
}

static void test_basic(void)
{
	scif_epd_t ep;
	pid_t pid;
	unsigned char *m, *reserve;
	uint64_t sum;

	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	STEP("the peer registers windows: RW 8 pages, two contiguous, RO, WO, a gap");
	CHECK_EQ(RPC(ep, OP_REG, 8 * PG, 0x100000, RW, SCIF_MAP_FIXED, K_MMAP, 1).ret,
		 0x100000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x200000, RW, SCIF_MAP_FIXED, K_MALLOC, 2).ret,
		 0x200000);
	CHECK_EQ(RPC(ep, OP_REG, 3 * PG, 0x202000, RW, SCIF_MAP_FIXED, K_MEMALIGN,
		     3).ret, 0x202000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x300000, SCIF_PROT_READ, SCIF_MAP_FIXED,
		     K_MMAP, 4).ret, 0x300000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x400000, SCIF_PROT_WRITE, SCIF_MAP_FIXED,
		     K_MMAP, 5).ret, 0x400000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x500000, RW, SCIF_MAP_FIXED, K_MMAP, 6).ret,
		 0x500000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x502000, RW, SCIF_MAP_FIXED, K_MMAP, 7).ret,
		 0x502000);

	STEP("map the whole RW window: it shows the peer's bytes");
	m = must_mmap(NULL, 8 * PG, RW, 0, ep, 0x100000);
	EXPECT_EQ((uintptr_t)m & (PG - 1), 0);
	EXPECT_PAT(m, 8 * PG, 1, 0);
	STEP("our stores reach the owner's buffer");
	pat_fill(m + 5, 8 * PG - 10, 11, 0);
	PEER_PAT(ep, 0x100000 + 5, 8 * PG - 10, 11, 0);
	PEER_PAT(ep, 0x100000, 5, 1, 0);
	STEP("the owner's stores are seen through the mapping");
	RPC_OK(ep, OP_FILL, 0x100000, 8 * PG, 12, 0);
	EXPECT_PAT(m, 8 * PG, 12, 0);
	STEP("RMA into the window shows through the mapping too");
	{
		unsigned char v[300];
		pat_fill(v, sizeof(v), 13, 0);
		EXPECT_EQ(scif_vwriteto(ep, v, sizeof(v), 0x100000 + 4000,
					SCIF_RMA_SYNC), 0);
		EXPECT_PAT(m + 4000, sizeof(v), 13, 0);
	}
	STEP("scif_munmap returns 0 and the range is gone");
	EXPECT_EQ(scif_munmap(m, 8 * PG), 0);
	EXPECT_EQ(r_try_read(m, 1, &sum), SIGSEGV);

	STEP("map part of a window");
	RPC_OK(ep, OP_FILL, 0x100000, 8 * PG, 14, 0);
	m = must_mmap(NULL, 3 * PG, SCIF_PROT_READ, 0, ep, 0x100000 + 2 * PG);
	EXPECT_PAT(m, 3 * PG, 14, 2 * PG);
	STEP("a read-only mapping faults on a store, and nothing changes");
	EXPECT_EQ(r_try_store(m + 100, (unsigned char)~m[100]), SIGSEGV);
	PEER_PAT(ep, 0x100000, 8 * PG, 14, 0);
	EXPECT_EQ(scif_munmap(m, 3 * PG), 0);

	STEP("map two contiguous windows in one mapping");
	m = must_mmap(NULL, 5 * PG, RW, 0, ep, 0x200000);
	EXPECT_PAT(m, 2 * PG, 2, 0);
	EXPECT_PAT(m + 2 * PG, 3 * PG, 3, 0);
	pat_fill(m, 5 * PG, 15, 0);
	PEER_PAT(ep, 0x200000, 5 * PG, 15, 0);
	EXPECT_EQ(scif_munmap(m, 5 * PG), 0);
	STEP("a mapping across the boundary only");
	m = must_mmap(NULL, 2 * PG, SCIF_PROT_READ, 0, ep, 0x201000);
	EXPECT_PAT(m, 2 * PG, 15, PG);
	EXPECT_EQ(scif_munmap(m, 2 * PG), 0);

	STEP("SCIF_MAP_FIXED at a reserved address");
	reserve = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(reserve != MAP_FAILED);
	m = must_mmap(reserve + 4 * PG, 4 * PG, RW, SCIF_MAP_FIXED, ep,
		      0x100000 + PG);
	EXPECT(m == reserve + 4 * PG);
	EXPECT_PAT(reserve + 4 * PG, 4 * PG, 14, PG);
	EXPECT_EQ(r_try_read(reserve + 3 * PG, PG, &sum), SIGSEGV);
	EXPECT_EQ(r_try_read(reserve + 8 * PG, PG, &sum), SIGSEGV);
	reserve[4 * PG + 17] = 0x5a;
	{
		struct r_rep r = RPC(ep, OP_PEEK64, 0x100000 + PG + 16);
		EXPECT_EQ((r.v0 >> 8) & 0xff, 0x5a);
	}
	EXPECT_EQ(scif_munmap(reserve + 4 * PG, 4 * PG), 0);
	EXPECT_EQ(r_try_read(reserve + 4 * PG, PG, &sum), SIGSEGV);
	munmap(reserve, 16 * PG);
	RPC_OK(ep, OP_FILL, 0x100000, 8 * PG, 14, 0);

	STEP("a hint address without MAP_FIXED is just a hint");
	m = must_mmap((void *)0x10000, PG, SCIF_PROT_READ, 0, ep, 0x100000);
	EXPECT_PAT(m, PG, 14, 0);
	EXPECT_EQ(scif_munmap(m, PG), 0);

	STEP("the read-only window maps read-only, refuses a writable map");
	m = must_mmap(NULL, 2 * PG, SCIF_PROT_READ, 0, ep, 0x300000);
	EXPECT_PAT(m, 2 * PG, 4, 0);
	EXPECT_EQ(r_try_store(m, (unsigned char)~m[0]), SIGSEGV);
	EXPECT_EQ(scif_munmap(m, 2 * PG), 0);
	EXPECT_MMAP_ERR(2 * PG, RW, 0, ep, 0x300000, EACCES);
	EXPECT_MMAP_ERR(PG, SCIF_PROT_WRITE, 0, ep, 0x301000, EACCES);
	STEP("the write-only window refuses a readable map");
	EXPECT_MMAP_ERR(PG, SCIF_PROT_READ, 0, ep, 0x400000, EACCES);
	PEER_PAT(ep, 0x300000, 2 * PG, 4, 0);

	STEP("uncovered ranges: ENXIO");
	EXPECT_MMAP_ERR(PG, SCIF_PROT_READ, 0, ep, 0x600000, ENXIO);
	EXPECT_MMAP_ERR(9 * PG, SCIF_PROT_READ, 0, ep, 0x100000, ENXIO);
	EXPECT_MMAP_ERR(2 * PG, SCIF_PROT_READ, 0, ep, 0x100000 + 7 * PG, ENXIO);
	EXPECT_MMAP_ERR(3 * PG, SCIF_PROT_READ, 0, ep, 0x500000, ENXIO);
	EXPECT_MMAP_ERR(PG, SCIF_PROT_READ, 0, ep, 0x501000, ENXIO);
	EXPECT_MMAP_ERR(PG, SCIF_PROT_READ, 0, ep, 0x100000 - PG, ENXIO);

	STEP("the peer maps our window");
	CHECK_EQ(wt_register(&L, ep, K_MALLOC, 4 * PG, 0x700000, RW, SCIF_MAP_FIXED,
			     21), 0x700000);
	EXPECT_EQ(RPC(ep, OP_MMAP_CHECK, 0x700000, 4 * PG, SCIF_PROT_READ, 21, 0).ret,
		  0);
	RPC_OK(ep, OP_MMAP_FILL, 0x700000 + PG, 2 * PG, 22, 0);
	LOCAL_PAT(&L, 0x700000, PG, 21, 0);
	LOCAL_PAT(&L, 0x700000 + PG, 2 * PG, 22, 0);
	LOCAL_PAT(&L, 0x700000 + 3 * PG, PG, 21, 3 * PG);
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
}

/* ---- ping-pong through mapped words ----------------------------------------------- */

#define ROUNDS 10000

/* Role "pingpong_owner": register a page, send its offset, answer every ping
 * in word 0 with a pong in word 8 (line 1), spinning on its own memory. */
static int role_pingpong_owner(const char *arg)
{
	scif_epd_t ep = r_role_connect(arg, NULL);
	struct rbuf b;
	off_t w;
	volatile uint64_t *ping, *pong;

	rbuf_alloc(&b, K_MMAP, PG);
	w = scif_register(ep, b.addr, PG, 0, RW, 0);
	CHECK(w != SCIF_REGISTER_FAILED);
	ping = (volatile uint64_t *)b.addr;
	pong = (volatile uint64_t *)(b.addr + 64);
	r_send64(ep, w);
	for (uint64_t i = 1; i <= ROUNDS; i++) {
		STEP("owner: waiting for ping %llu", (unsigned long long)i);
		if (!r_spin_eq64(ping, i, 20000)) {
			h_fail(__FILE__, __LINE__, "ping arrived", 0, 1);
		}
		__atomic_store_n(pong, i, __ATOMIC_RELEASE);
	}
	(void)r_recv64(ep);
	scif_close(ep);
	return 0;
}

/* Role "pingpong_mapper": map the parent's page (offset from the endpoint),
 * answer every ping through the mapping. */
static int role_pingpong_mapper(const char *arg)
{
	scif_epd_t ep = r_role_connect(arg, NULL);
	off_t w = (off_t)r_recv64(ep);
	unsigned char *m = scif_mmap(NULL, PG, RW, 0, ep, w);
	volatile uint64_t *ping, *pong;

	CHECK(m != SCIF_MMAP_FAILED);
	ping = (volatile uint64_t *)m;
	pong = (volatile uint64_t *)(m + 64);
	r_send64(ep, 1);
	for (uint64_t i = 1; i <= ROUNDS; i++) {
		STEP("mapper: waiting for ping %llu", (unsigned long long)i);
		if (!r_spin_eq64(ping, i, 20000)) {
			h_fail(__FILE__, __LINE__, "ping arrived", 0, 1);
		}
		__atomic_store_n(pong, i, __ATOMIC_RELEASE);
	}
	(void)r_recv64(ep);
	CHECK_EQ(scif_munmap(m, PG), 0);
	scif_close(ep);
	return 0;
}

static void pingpong(volatile uint64_t *ping, volatile uint64_t *pong,
		     const char *how)
{
	int64_t t0 = h_now_ns();

	for (uint64_t i = 1; i <= ROUNDS; i++) {
		__atomic_store_n(ping, i, __ATOMIC_RELEASE);
		if (!r_spin_eq64(pong, i, 20000)) {
			h_log("%s: no pong %llu (it is %llu)", how,
			      (unsigned long long)i, (unsigned long long)*pong);
			EXPECT(!"pong arrived");
			return;
		}
	}
	h_log("%s: %d round trips, %.2f us each", how, ROUNDS,
	      (double)(h_now_ns() - t0) / ROUNDS / 1000.0);
}

static void test_pingpong(void)
{
	scif_epd_t ep;
	pid_t pid;
	off_t w;
	unsigned char *m;
	struct rbuf b;

	STEP("ping-pong: we map the peer's page");
	ep = r_spawn_peer("pingpong_owner", NULL, &pid);
	w = (off_t)r_recv64(ep);
	m = must_mmap(NULL, PG, RW, 0, ep, w);
	pingpong((volatile uint64_t *)m, (volatile uint64_t *)(m + 64),
		 "we map, the owner spins on its memory");
	r_send64(ep, 0);
	EXPECT_CHILD_OK(pid, 20000);
	EXPECT_EQ(scif_munmap(m, PG), 0);
	scif_close(ep);

	STEP("ping-pong: the peer maps our page");
	ep = r_spawn_peer("pingpong_mapper", NULL, &pid);
	rbuf_alloc(&b, K_MEMALIGN, PG);
	memset(b.addr, 0, PG);
	w = scif_register(ep, b.addr, PG, 0, RW, 0);
	CHECK(w != SCIF_REGISTER_FAILED);
	r_send64(ep, w);
	CHECK_EQ(r_recv64(ep), 1);
	pingpong((volatile uint64_t *)b.addr, (volatile uint64_t *)(b.addr + 64),
		 "the peer maps, we spin on our memory");
	r_send64(ep, 0);
	EXPECT_CHILD_OK(pid, 20000);
	scif_close(ep);
	rbuf_free(&b);
}

/* ---- the mapping outlives the peer ------------------------------------------------ */

static void test_outlives(void)
{
	static const char *const how[] = { "closes its endpoint",
					   "exits without closing", "is killed" };

	for (int k = 0; k < 3; k++) {
		scif_epd_t ep;
		pid_t pid;
		unsigned char *m, *m2;
		uint64_t sum;
		char c;

		STEP("the peer %s: map its window first", how[k]);
		ep = r_server(&pid);
		CHECK_EQ(RPC(ep, OP_REG, 16 * PG, 0x100000, RW, SCIF_MAP_FIXED,
			     K_MALLOC, 30 + (uint64_t)k).ret, 0x100000);
		m = must_mmap(NULL, 16 * PG, RW, 0, ep, 0x100000);
		m2 = must_mmap(NULL, 2 * PG, SCIF_PROT_READ, 0, ep, 0x100000 + 8 * PG);
		EXPECT_PAT(m, 16 * PG, 30 + (uint64_t)k, 0);
		pat_fill(m + 8 * PG, 8 * PG, 40 + (uint64_t)k, 0);
		if (k == 0) {
			RPC(ep, OP_QUIT);
		} else if (k == 1) {
			RPC(ep, OP_EXIT);
		} else {
			CHECK(kill(pid, SIGKILL) == 0);
		}
		h_waitpid(pid, 20000);
		EXPECT_ERR(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), ECONNRESET);
		STEP("the peer %s: the mapping reads without a fault", how[k]);
		EXPECT_EQ(r_try_read(m, 16 * PG, &sum), 0);
		EXPECT_EQ(r_try_read(m2, 2 * PG, &sum), 0);
		EXPECT_PAT(m, 8 * PG, 30 + (uint64_t)k, 0);
		EXPECT_PAT(m + 8 * PG, 8 * PG, 40 + (uint64_t)k, 0);
		EXPECT_PAT(m2, 2 * PG, 40 + (uint64_t)k, 0);
		STEP("the peer %s: and takes stores", how[k]);
		EXPECT_EQ(r_try_store(m + 5, 0x77), 0);
		EXPECT_EQ(m[5], 0x77);
		STEP("the peer %s: scif_munmap returns 0", how[k]);
		EXPECT_EQ(scif_munmap(m, 16 * PG), 0);
		EXPECT_EQ(scif_munmap(m2, 2 * PG), 0);
		STEP("the peer %s: new scif_mmap calls give ECONNRESET", how[k]);
		EXPECT_MMAP_ERR(PG, SCIF_PROT_READ, 0, ep, 0x100000, ECONNRESET);
		EXPECT_EQ(scif_close(ep), 0);
	}
}

/* ---- a mapped window outlives its unregistration ----------------------------------- */

static void test_unregister_mapped(void)
{
	scif_epd_t ep;
	pid_t pid;
	off_t scratch;
	struct rbuf b;
	int64_t t0;
	off_t r = -1;

	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	scratch = (off_t)RPC(ep, OP_REG, 4 * PG, 0, RW, 0, K_MMAP, 0).ret;
	CHECK_GE(scratch, 0);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, 4 * PG, 0x600000, RW, SCIF_MAP_FIXED,
			     50), 0x600000);
	STEP("the peer maps our window and keeps the mapping");
	RPC_OK(ep, OP_MMAP_KEEP, 0x600000, 4 * PG, RW);
	EXPECT_EQ(RPC(ep, OP_KEEP_CHECK, 50, 0).ret, 0);
	STEP("we unregister it: 0");
	EXPECT_EQ(scif_unregister(ep, 0x600000, 4 * PG), 0);
	STEP("the peer can no longer use it for RMA or new mappings");
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, 0x600000, SCIF_RMA_SYNC);
	RPC_ERR(ep, ENXIO, OP_MMAP_CHECK, 0x600000, PG, SCIF_PROT_READ, 50, 0);
	STEP("but its existing mapping still holds the data");
	EXPECT_EQ(RPC(ep, OP_KEEP_CHECK, 50, 0).ret, 0);
	STEP("the offsets stay reserved while the peer maps them");
	rbuf_alloc(&b, K_MMAP, 4 * PG);
	pat_fill(b.addr, 4 * PG, 51, 0);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0x600000, RW, SCIF_MAP_FIXED),
		   EADDRINUSE);
	EXPECT_ERR(scif_register(ep, b.addr, PG, 0x603000, RW, SCIF_MAP_FIXED),
		   EADDRINUSE);
	STEP("the peer unmaps; the offsets become free");
	RPC_OK(ep, OP_KEEP_UNMAP);
	t0 = h_now_ns();
	while (h_ms_since(t0) < 5000) {
		errno = 0;
		r = scif_register(ep, b.addr, 4 * PG, 0x600000, RW, SCIF_MAP_FIXED);
		if (r != SCIF_REGISTER_FAILED || errno != EADDRINUSE)
			break;
		/* bounded retry: the release travels as a message */
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	EXPECT_EQ(r, 0x600000);
	if (r == 0x600000) {
		h_log("offsets free again %lld ms after the peer's munmap",
		      (long long)h_ms_since(t0));
		RPC_OK(ep, OP_READFROM, scratch, 4 * PG, 0x600000, SCIF_RMA_SYNC);
		PEER_PAT(ep, scratch, 4 * PG, 51, 0);
	}
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
	rbuf_free(&b);
}

/* ---- a hostile peer and a read-only window ---------------------------------------- */

struct ino {
	dev_t dev;
	ino_t ino;
};

/* Role "hostile": arg "PORT,off,len". The parent registered a READ-only
 * window at off. Try everything to write it; count what succeeded. */
static int role_hostile(const char *arg)
{
	const char *rest;
	scif_epd_t ep = r_role_connect(arg, &rest);
	long long off, len;
	struct rbuf own;
	off_t lw;
	unsigned char *m, *v;
	int wins = 0;
	struct ino mine = { 0, 0 };

	CHECK(sscanf(rest, "%lld,%lld", &off, &len) == 2);
	/* The threat is another user's (or a sandboxed) process: one with
	 * CAP_SYS_ADMIN can ptrace the owner and write anything anyway (and
	 * open /proc/self/map_files read-write). Tests run as root: drop it. */
	if (geteuid() == 0) {
		CHECK_EQ(setgroups(0, NULL), 0);
		CHECK_EQ(setgid(65534), 0);
		CHECK_EQ(setuid(65534), 0);
	}
	(void)r_recv64(ep); /* the owner registered its read-only window */
	rbuf_alloc(&own, K_MMAP, (size_t)len);
	memset(own.addr, 0xee, (size_t)len);
	lw = scif_register(ep, own.addr, (size_t)len, 0, RW, 0);
	CHECK(lw != SCIF_REGISTER_FAILED);
	v = own.addr;

	STEP("hostile: a read works (and makes the library map the window)");
	EXPECT_EQ(scif_readfrom(ep, lw, (size_t)len, (off_t)off, SCIF_RMA_SYNC), 0);
	EXPECT_PAT(own.addr, (size_t)len, 77, 0);
	memset(own.addr, 0xee, (size_t)len);

	STEP("hostile: scif_writeto / vwriteto: EACCES");
	EXPECT_ERR(scif_writeto(ep, lw, (size_t)len, (off_t)off, SCIF_RMA_SYNC),
		   EACCES);
	EXPECT_ERR(scif_writeto(ep, lw, 8, (off_t)off, SCIF_RMA_USECPU), EACCES);
	EXPECT_ERR(scif_writeto(ep, lw, (size_t)len, (off_t)off, 0), EACCES);
	EXPECT_ERR(scif_vwriteto(ep, v, 64, (off_t)off + 64, SCIF_RMA_SYNC), EACCES);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, (off_t)off, 0xbad,
				     SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE),
		   ENXIO);

	STEP("hostile: a writable scif_mmap is refused");
	errno = 0;
	m = scif_mmap(NULL, (size_t)len, RW, 0, ep, (off_t)off);
	if (m != SCIF_MMAP_FAILED) {
		h_log("ATTACK WORKED: scif_mmap(READ|WRITE) of a read-only window");
		wins++;
		m[0] = (unsigned char)~m[0];
		scif_munmap(m, (size_t)len);
	} else {
		EXPECT_EQ(errno, EACCES);
	}
	errno = 0;
	m = scif_mmap(NULL, (size_t)len, SCIF_PROT_WRITE, 0, ep, (off_t)off);
	if (m != SCIF_MMAP_FAILED) {
		h_log("ATTACK WORKED: scif_mmap(WRITE) of a read-only window");
		wins++;
		m[1] = (unsigned char)~m[1];
		scif_munmap(m, (size_t)len);
	}

	STEP("hostile: mprotect(PROT_WRITE) on a read-only scif_mmap mapping");
	m = scif_mmap(NULL, (size_t)len, SCIF_PROT_READ, 0, ep, (off_t)off);
	CHECK(m != SCIF_MMAP_FAILED);
	EXPECT_PAT(m, (size_t)len, 77, 0);
	if (mprotect(m, (size_t)len, PROT_READ | PROT_WRITE) == 0) {
		int sig = r_try_store(m + 2, (unsigned char)~m[2]);
		if (sig == 0) {
			h_log("ATTACK WORKED: mprotect(PROT_WRITE) + store on the "
			      "read-only mapping");
			wins++;
		}
	}
	/* our own window's file: legitimately writable, not a target */
	{
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		CHECK(f != NULL);
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi, pgoff, ino;
			unsigned maj, mnr;
			if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &lo, &hi, &pgoff,
				   &maj, &mnr, &ino) == 6 &&
			    lo <= (uintptr_t)own.addr && (uintptr_t)own.addr < hi) {
				mine.ino = (ino_t)ino;
			}
		}
		fclose(f);
	}

	STEP("hostile: every memfd descriptor we hold");
	{
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		CHECK(d != NULL);
		while ((e = readdir(d))) {
			char path[300], target[256];
			ssize_t n;
			int fd = atoi(e->d_name), fd2;
			struct stat st;
			unsigned char x = 0xab;
			void *p;

			if (e->d_name[0] == '.' || fd == dirfd(d))
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = 0;
			if (strncmp(target, "/memfd:", 7) != 0)
				continue;
			if (fstat(fd, &st) != 0)
				continue;
			h_log("memfd fd %d -> %s (%lld bytes)", fd, target,
			      (long long)st.st_size);
			if (strstr(target, "skiff-conn") || st.st_ino == mine.ino)
				continue; /* the rings, our own window */
			if (pwrite(fd, &x, 1, 0) == 1 ||
			    pwrite(fd, &x, 1, st.st_size > 1 ? st.st_size - 1 : 0) == 1) {
				h_log("ATTACK WORKED: pwrite on fd %d (%s)", fd, target);
				wins++;
			}
			p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED) {
				h_log("ATTACK WORKED: mmap(PROT_WRITE, MAP_SHARED) of "
				      "fd %d (%s)", fd, target);
				wins++;
				munmap(p, PG);
			}
			if (ftruncate(fd, st.st_size + (off_t)PG) == 0) {
				h_log("ATTACK WORKED: ftruncate grew fd %d", fd);
				wins++;
			}
			fd2 = open(path, O_RDWR);
			if (fd2 >= 0) {
				if (pwrite(fd2, &x, 1, 0) == 1) {
					h_log("ATTACK WORKED: reopened %s O_RDWR "
					      "and wrote", path);
					wins++;
				}
				p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED,
					 fd2, 0);
				if (p != MAP_FAILED) {
					h_log("ATTACK WORKED: reopened %s O_RDWR "
					      "and mapped it writable", path);
					wins++;
					munmap(p, PG);
				}
				close(fd2);
			}
		}
		closedir(d);
	}

	STEP("hostile: every memfd mapping we have (read-only ones)");
	{
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		CHECK(f != NULL);
		while (fgets(line, sizeof(line), f)) {
			unsigned long lo, hi, pgoff, ino;
			unsigned maj, mnr;
			char perms[8], path[300];
			int fd;

			path[0] = 0;
			if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %299[^\n]", &lo, &hi,
				   perms, &pgoff, &maj, &mnr, &ino, path) < 7)
				continue;
			if (!strstr(path, "/memfd:") || strstr(path, "skiff-conn") ||
			    (ino_t)ino == mine.ino || perms[1] == 'w')
				continue;
			h_log("read-only memfd mapping %lx-%lx %s %s", lo, hi, perms, path);
			if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) == 0) {
				volatile unsigned char *q = (unsigned char *)lo;
				if (r_try_store(q, (unsigned char)~*q) == 0) {
					h_log("ATTACK WORKED: mprotect + store at %lx", lo);
					wins++;
				}
			}
			{
				char mf[128];
				snprintf(mf, sizeof(mf), "/proc/self/map_files/%lx-%lx",
					 lo, hi);
				fd = open(mf, O_RDWR);
				if (fd >= 0) {
					unsigned char x = 0xcd;
					if (pwrite(fd, &x, 1, (off_t)pgoff) == 1) {
						h_log("ATTACK WORKED: %s reopened O_RDWR "
						      "and written", mf);
						wins++;
					}
					close(fd);
				}
			}
		}
		fclose(f);
	}
	h_log("hostile: %d attacks succeeded", wins);
	EXPECT_EQ(wins, 0);
	scif_munmap(m, (size_t)len);
	r_send64(ep, wins);
	(void)r_recv64(ep);
	scif_close(ep);
	return 0;
}

static void test_hostile(void)
{
	const size_t len = 8 * PG;
	struct rbuf b;
	scif_epd_t ep;
	pid_t pid;
	char extra[64];
	off_t w;

	STEP("a hostile peer and our read-only window");
	rbuf_alloc(&b, K_MMAP, len);
	pat_fill(b.addr, len, 77, 0);
	snprintf(extra, sizeof(extra), "%lld,%lld", 0x900000LL, (long long)len);
	ep = r_spawn_peer("hostile", extra, &pid);
	w = scif_register(ep, b.addr, len, 0x900000, SCIF_PROT_READ, SCIF_MAP_FIXED);
	EXPECT_EQ(w, 0x900000);
	r_send64(ep, 0); /* go */
	{
		int64_t wins = r_recv64(ep);
		EXPECT_EQ(wins, 0);
	}
	STEP("the owner's buffer is unchanged");
	EXPECT_PAT(b.addr, len, 77, 0);
	r_send64(ep, 0);
	EXPECT_CHILD_OK(pid, 20000);
	EXPECT_PAT(b.addr, len, 77, 0);
	scif_close(ep);
	rbuf_free(&b);
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ "pingpong_owner", role_pingpong_owner },
	{ "pingpong_mapper", role_pingpong_mapper },
	{ "hostile", role_hostile },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "mmap", 240, roles);
	test_basic();
	test_pingpong();
	test_outlives();
	test_unregister_mapped();
	test_hostile();
	return h_finish();
}
