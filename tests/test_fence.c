/* SPDX-License-Identifier: MIT */
/*
 * test_fence: scif_fence_mark / scif_fence_wait / scif_fence_signal between
 * two processes.
 *
 * - mark: exactly one of INIT_SELF / INIT_PEER, else EINVAL; signal: exactly
 *   one of them and at least one of SIGNAL_LOCAL / SIGNAL_REMOTE, else
 *   EINVAL; offsets not 4-byte aligned EINVAL; a target that is not inside
 *   one writable window ENXIO; failed calls write nothing;
 * - mark + wait covers a batch of asynchronous RMAs of 16 MiB in total
 *   (writeto, readfrom, vwriteto, vreadfrom; two marks in a row);
 * - INIT_PEER covers RMAs the peer initiated (its writes into our window are
 *   there after our wait; its reads of our window took the old data);
 * - signal values are written only after every marked RMA completed: the
 *   peer spinning on a flag word in the same window as a 16 MiB asynchronous
 *   writeto finds all the data when the flag appears (SIGNAL_REMOTE); the same
 *   for our own flag after a readfrom (SIGNAL_LOCAL); and with INIT_PEER.
 */
#include "rma_util.h"

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)
#define BIG ((size_t)16 << 20)
#define CHUNK ((size_t)1048576 + 4093) /* not page or line aligned */

static struct wtab L;

/* Wait (bounded) until the peer's u64 at @off is @v. */
static int peer_wait64(scif_epd_t ep, off_t off, uint64_t v, int ms)
{
	int64_t t0 = h_now_ns();

	for (;;) {
		struct r_rep r = RPC(ep, OP_PEEK64, off);
		if (r.ret == 0 && (uint64_t)r.v0 == v)
			return 1;
		if (h_ms_since(t0) > ms) {
			h_log("peer's u64 at 0x%llx is 0x%llx, want 0x%llx",
			      (long long)off, (unsigned long long)r.v0,
			      (unsigned long long)v);
			return 0;
		}
		sched_yield();
	}
}

static void test_args(void)
{
	static const int badmark[] = { 0,
				       SCIF_FENCE_INIT_SELF | SCIF_FENCE_INIT_PEER,
				       SCIF_SIGNAL_LOCAL,
				       SCIF_SIGNAL_REMOTE,
				       SCIF_FENCE_INIT_SELF | 0x100,
				       SCIF_FENCE_INIT_PEER | 0x1000,
				       -1 };
	const int S = SCIF_FENCE_INIT_SELF, P = SCIF_FENCE_INIT_PEER;
	const int SL = SCIF_SIGNAL_LOCAL, SR = SCIF_SIGNAL_REMOTE;
	scif_epd_t ep;
	pid_t pid;
	int mark, m2;
	unsigned char *w;

	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	/* local: RW 0x10000 (2 pages) + RW 0x12000 (1 page, contiguous),
	 * RO 0x20000; remote: the same */
	CHECK_EQ(wt_register(&L, ep, K_MMAP, 2 * PG, 0x10000, RW, SCIF_MAP_FIXED, 1),
		 0x10000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, PG, 0x12000, RW, SCIF_MAP_FIXED, 2),
		 0x12000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, PG, 0x20000, SCIF_PROT_READ,
			     SCIF_MAP_FIXED, 3), 0x20000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x10000, RW, SCIF_MAP_FIXED, K_MMAP, 4).ret,
		 0x10000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x12000, RW, SCIF_MAP_FIXED, K_MMAP, 5).ret,
		 0x12000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x20000, SCIF_PROT_READ, SCIF_MAP_FIXED, K_MMAP,
		     6).ret, 0x20000);

	STEP("fence_mark with invalid flags: EINVAL");
	for (unsigned i = 0; i < sizeof(badmark) / sizeof(badmark[0]); i++) {
		mark = 12345;
		EXPECT_ERR(scif_fence_mark(ep, badmark[i], &mark), EINVAL);
	}
	STEP("fence_mark / fence_wait with nothing outstanding");
	EXPECT_EQ(scif_fence_mark(ep, S, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	EXPECT_EQ(scif_fence_mark(ep, P, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	STEP("an older mark can be waited for after a newer one");
	EXPECT_EQ(scif_fence_mark(ep, S, &mark), 0);
	EXPECT_EQ(scif_writeto(ep, 0x10000, PG, 0x10000, 0), 0);
	EXPECT_EQ(scif_fence_mark(ep, S, &m2), 0);
	EXPECT_EQ(scif_fence_wait(ep, m2), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, m2), 0);
	PEER_PAT(ep, 0x10000, PG, 1, 0);
	RPC_OK(ep, OP_FILL, 0x10000, PG, 4, 0);

	STEP("fence_signal: flags without exactly one INIT: EINVAL");
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, SL), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, SR), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, SL | SR), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, S | P | SL), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, S | P | SL | SR),
		   EINVAL);
	STEP("fence_signal: no SIGNAL_LOCAL/REMOTE: EINVAL");
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, S), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, P), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, 0), EINVAL);
	STEP("fence_signal: unknown flag bits: EINVAL");
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, S | SL | 0x100),
		   EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x10000, 2, -1), EINVAL);
	STEP("fence_signal: offsets not 4-byte aligned: EINVAL");
	EXPECT_ERR(scif_fence_signal(ep, 0x10002, 1, 0, 0, S | SL), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10001, 1, 0, 0, P | SL), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x10001, 2, S | SR), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x10006, 2, P | SR), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10003, 1, 0x10000, 2, S | SL | SR), EINVAL);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x1000a, 2, S | SL | SR), EINVAL);
	STEP("fence_signal: target not registered: ENXIO");
	EXPECT_ERR(scif_fence_signal(ep, 0x30000, 1, 0, 0, S | SL), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x30000, 2, S | SR), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0x30000, 1, 0x10000, 2, S | SL | SR), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0x10000, 1, 0x30000, 2, S | SL | SR), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0x30000, 1, 0, 0, P | SL), ENXIO);
	EXPECT_ERR2(scif_fence_signal(ep, -8, 1, 0, 0, S | SL), ENXIO, EINVAL);
	EXPECT_ERR2(scif_fence_signal(ep, 0, 0, -8, 2, S | SR), ENXIO, EINVAL);
	STEP("fence_signal: target in a READ-only window: ENXIO");
	EXPECT_ERR(scif_fence_signal(ep, 0x20000, 1, 0, 0, S | SL), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x20000, 2, S | SR), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0x20000 + 8, 1, 0, 0, P | SL), ENXIO);
	STEP("fence_signal: a value spanning two windows or past the end: ENXIO");
	EXPECT_ERR(scif_fence_signal(ep, 0x12000 - 4, 1, 0, 0, S | SL), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x12000 - 4, 2, S | SR), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0x13000 - 4, 1, 0, 0, S | SL), ENXIO);
	EXPECT_ERR(scif_fence_signal(ep, 0, 0, 0x13000 - 4, 2, S | SR), ENXIO);
	STEP("the failed signals wrote nothing");
	LOCAL_PAT(&L, 0x10000, 2 * PG, 1, 0);
	LOCAL_PAT(&L, 0x12000, PG, 2, 0);
	LOCAL_PAT(&L, 0x20000, PG, 3, 0);
	PEER_PAT(ep, 0x10000, 2 * PG, 4, 0);
	PEER_PAT(ep, 0x12000, PG, 5, 0);
	PEER_PAT(ep, 0x20000, PG, 6, 0);

	STEP("fence_signal INIT_SELF|SIGNAL_LOCAL writes lval (8 bytes) at loff");
	w = wt_addr(&L, 0x10000);
	EXPECT_EQ(scif_fence_signal(ep, 0x10004, 0x1122334455667788ull, 0, 0,
				    S | SL), 0);
	EXPECT(r_spin_eq64((volatile uint64_t *)(w + 4), 0x1122334455667788ull,
			   10000));
	EXPECT_PAT(w, 4, 1, 0);
	EXPECT_PAT(w + 12, 2 * PG - 12, 1, 12);
	STEP("fence_signal INIT_SELF|SIGNAL_REMOTE writes rval at roff");
	EXPECT_EQ(scif_fence_signal(ep, 0, 0, 0x10000 + 2 * PG - 8,
				    0x99aabbccddeeff00ull, S | SR), 0);
	EXPECT(peer_wait64(ep, 0x10000 + 2 * PG - 8, 0x99aabbccddeeff00ull, 10000));
	PEER_PAT(ep, 0x10000, 2 * PG - 8, 4, 0);
	PEER_PAT(ep, 0x12000, PG, 5, 0);
	STEP("fence_signal INIT_SELF with both");
	EXPECT_EQ(scif_fence_signal(ep, 0x12000, 0xa1, 0x12008, 0xb2, S | SL | SR), 0);
	EXPECT(peer_wait64(ep, 0x12008, 0xb2, 10000));
	EXPECT(r_spin_eq64((volatile uint64_t *)wt_addr(&L, 0x12000), 0xa1, 10000));
	PEER_PAT(ep, 0x12000, 8, 5, 0);
	STEP("fence_signal INIT_PEER with both: lval at our loff, rval at the "
	     "peer's roff");
	EXPECT_EQ(scif_fence_signal(ep, 0x12010, 0xc3c3c3c3c3c3c3c3ull, 0x12020,
				    0xd4d4d4d4d4d4d4d4ull, P | SL | SR), 0);
	EXPECT(r_spin_eq64((volatile uint64_t *)wt_addr(&L, 0x12010),
			   0xc3c3c3c3c3c3c3c3ull, 10000));
	EXPECT(peer_wait64(ep, 0x12020, 0xd4d4d4d4d4d4d4d4ull, 10000));
	LOCAL_PAT(&L, 0x12018, PG - 0x18, 2, 0x18);
	PEER_PAT(ep, 0x12010, 0x10, 5, 0x10);
	STEP("the peer signals us (INIT_SELF|SIGNAL_REMOTE from its side)");
	RPC_OK(ep, OP_SIGNAL, 0, 0, 0x10000 + 40, 0x600d600d, S | SR);
	EXPECT(r_spin_eq64((volatile uint64_t *)(w + 40), 0x600d600d, 10000));

	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
}

/* ---- mark + wait over 16 MiB batches ----------------------------------------- */

static void batch(scif_epd_t ep, int op, off_t loff, unsigned char *v, off_t roff,
		  size_t total, int flags)
{
	size_t done = 0;

	while (done < total) {
		size_t n = total - done < CHUNK ? total - done : CHUNK;
		int r;

		errno = 0;
		switch (op) {
		case 0:
			r = scif_writeto(ep, loff + (off_t)done, n, roff + (off_t)done,
					 flags);
			break;
		case 1:
			r = scif_readfrom(ep, loff + (off_t)done, n, roff + (off_t)done,
					  flags);
			break;
		case 2:
			r = scif_vwriteto(ep, v + done, n, roff + (off_t)done, flags);
			break;
		default:
			r = scif_vreadfrom(ep, v + done, n, roff + (off_t)done, flags);
		}
		if (r != 0)
			h_fail_err(__FILE__, __LINE__, "batched RMA", r, errno,
				   "success", 1);
		done += n;
	}
}

static void test_mark_wait(void)
{
	const off_t LB = 0x1000000, RB = 0x4000000;
	unsigned char *v = malloc(BIG);
	scif_epd_t ep;
	pid_t pid;
	int mark, m1, m2;

	CHECK(v != NULL);
	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	CHECK_EQ(wt_register(&L, ep, K_MMAP, BIG + PG, LB, RW, SCIF_MAP_FIXED, 0), LB);
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)(BIG + PG), RB, RW, SCIF_MAP_FIXED, K_MMAP,
		     0).ret, RB);

	for (int round = 0; round < 3; round++) {
		uint64_t s = 100 + (uint64_t)round * 10;
		int fl = round == 2 ? SCIF_RMA_ORDERED : 0;

		STEP("round %d: 16 MiB of async writeto, mark, wait", round);
		wt_apply(&L, LB + 3, BIG - 3, s, 0, 0, NULL);
		batch(ep, 0, LB + 3, NULL, RB + 61, BIG - 3, fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		PEER_PAT(ep, RB + 61, BIG - 3, s, 0);

		STEP("round %d: 16 MiB of async readfrom, mark, wait", round);
		RPC_OK(ep, OP_FILL, RB, (int64_t)BIG, (int64_t)(s + 1), 0);
		wt_apply(&L, LB, BIG, s + 2, 0, 0, NULL);
		batch(ep, 1, LB, NULL, RB, BIG, fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		LOCAL_PAT(&L, LB, BIG, s + 1, 0);

		STEP("round %d: 16 MiB of async vwriteto, mark, wait", round);
		pat_fill(v, BIG, s + 3, 0);
		batch(ep, 2, 0, v, RB, BIG, fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		PEER_PAT(ep, RB, BIG, s + 3, 0);

		STEP("round %d: 16 MiB of async vreadfrom, mark, wait", round);
		RPC_OK(ep, OP_FILL, RB, (int64_t)BIG, (int64_t)(s + 4), 0);
		memset(v, 0, BIG);
		batch(ep, 3, 0, v, RB, BIG, fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		EXPECT_PAT(v, BIG, s + 4, 0);

		STEP("round %d: two marks: the first covers the first half", round);
		RPC_OK(ep, OP_FILL, RB, (int64_t)BIG, (int64_t)(s + 5), 0);
		wt_apply(&L, LB, BIG, s + 6, 0, 0, NULL);
		batch(ep, 1, LB, NULL, RB, BIG / 2, fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &m1), 0);
		batch(ep, 1, LB + (off_t)BIG / 2, NULL, RB + (off_t)BIG / 2, BIG / 2,
		      fl);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &m2), 0);
		EXPECT_EQ(scif_fence_wait(ep, m1), 0);
		LOCAL_PAT(&L, LB, BIG / 2, s + 5, 0);
		EXPECT_EQ(scif_fence_wait(ep, m2), 0);
		LOCAL_PAT(&L, LB, BIG, s + 5, 0);
	}

	STEP("INIT_PEER: the peer's async writes into our window");
	for (int round = 0; round < 3; round++) {
		uint64_t s = 200 + (uint64_t)round * 10;

		RPC_OK(ep, OP_FILL, RB, (int64_t)BIG, (int64_t)s, 0);
		wt_apply(&L, LB, BIG, s + 1, 0, 0, NULL);
		RPC_OK(ep, OP_BATCH_WRITE, RB, (int64_t)BIG, LB, (int64_t)CHUNK, 0);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_PEER, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		LOCAL_PAT(&L, LB, BIG, s, 0);

		STEP("INIT_PEER: the peer's async reads of our window took the "
		     "data we had before our wait returned (round %d)", round);
		wt_apply(&L, LB, BIG, s + 2, 0, 0, NULL);
		RPC_OK(ep, OP_BATCH_READ, RB, (int64_t)BIG, LB, (int64_t)CHUNK, 0);
		EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_PEER, &mark), 0);
		EXPECT_EQ(scif_fence_wait(ep, mark), 0);
		wt_apply(&L, LB, BIG, s + 3, 0, 0, NULL); /* too late for them */
		PEER_PAT(ep, RB, BIG, s + 2, 0);
	}
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
	free(v);
}

/* ---- fence_signal orders after the marked RMAs ------------------------------- */

/* Role: register BIG + a page (flag words at +BIG); per request (seed, flag
 * value): zero the data, clear the flag, say ready, spin (outside skiff) on
 * the flag, then check all data and report the mismatches. */
static int role_signal_target(const char *arg)
{
	scif_epd_t ep = r_role_connect(arg, NULL);
	struct rbuf b;
	off_t w;

	rbuf_alloc(&b, K_MMAP, BIG + PG);
	w = scif_register(ep, b.addr, BIG + PG, 0, RW, 0);
	CHECK(w != SCIF_REGISTER_FAILED);
	r_send64(ep, w);
	for (;;) {
		int64_t p[2], res;
		volatile uint64_t *flag = (volatile uint64_t *)(b.addr + BIG);

		if (scif_recv(ep, p, sizeof(p), SCIF_RECV_BLOCK) != sizeof(p))
			break;
		memset(b.addr, 0, BIG);
		*flag = 0;
		r_send64(ep, 1);
		STEP("signal target: spinning on the flag");
		if (!r_spin_eq64(flag, (uint64_t)p[1], 20000))
			res = -1;
		else
			res = (int64_t)pat_check(b.addr, BIG, (uint64_t)p[0], 0, NULL);
		r_send64(ep, res);
	}
	scif_close(ep);
	return 0;
}

static void test_signal_orders(void)
{
	const off_t LB = 0x1000000;
	scif_epd_t ep;
	pid_t pid;
	off_t w;
	unsigned char *lflag;

	STEP("SIGNAL_REMOTE after a 16 MiB async writeto: the spinning peer "
	     "finds all data when the flag appears");
	ep = r_spawn_peer("signal_target", NULL, &pid);
	memset(&L, 0, sizeof(L));
	CHECK_EQ(wt_register(&L, ep, K_MMAP, BIG + PG, LB, RW, SCIF_MAP_FIXED, 0), LB);
	lflag = wt_addr(&L, LB + (off_t)BIG);
	w = (off_t)r_recv64(ep);
	for (int i = 0; i < 8; i++) {
		int64_t p[2] = { 300 + i, (int64_t)(0xf1a90000ull + (uint64_t)i) };
		int fl = i % 2 ? SCIF_RMA_ORDERED : 0;
		int both = i % 4 >= 2;

		STEP("signal REMOTE round %d (flags 0x%x%s)", i, fl,
		     both ? ", LOCAL too" : "");
		wt_apply(&L, LB, BIG, (uint64_t)p[0], 0, 0, NULL);
		memset(lflag, 0, 8);
		r_send(ep, p, sizeof(p));
		CHECK_EQ(r_recv64(ep), 1);
		if (i < 4) {
			batch(ep, 0, LB, NULL, w, BIG, fl);
		} else {
			/* many small ones, then one big one */
			batch(ep, 0, LB, NULL, w, 4096 * 10, fl);
			EXPECT_EQ(scif_writeto(ep, LB + 40960, BIG - 40960, w + 40960,
					       fl), 0);
		}
		EXPECT_EQ(scif_fence_signal(ep, LB + (off_t)BIG, 0x10c41 + (uint64_t)i,
					    w + (off_t)BIG, (uint64_t)p[1],
					    SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE |
						    (both ? SCIF_SIGNAL_LOCAL : 0)),
			  0);
		EXPECT_EQ(r_recv64(ep), 0);
		if (both)
			EXPECT(r_spin_eq64((volatile uint64_t *)lflag,
					   0x10c41 + (uint64_t)i, 10000));
	}
	scif_close(ep);
	EXPECT_CHILD_OK(pid, 20000);
	wt_remove_range(&L, 0, (size_t)1 << 40);

	STEP("SIGNAL_LOCAL after a 16 MiB async readfrom: when our flag appears "
	     "all the data is here");
	ep = r_server(&pid);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, BIG + PG, LB, RW, SCIF_MAP_FIXED, 0), LB);
	lflag = wt_addr(&L, LB + (off_t)BIG);
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)(BIG + PG), 0x8000000, RW, SCIF_MAP_FIXED,
		     K_MMAP, 0).ret, 0x8000000);
	for (int i = 0; i < 8; i++) {
		uint64_t s = 400 + (uint64_t)i, val = 0x5167a100ull + (uint64_t)i;
		int fl = i % 2 ? SCIF_RMA_ORDERED : 0;
		int vec = i >= 4;
		unsigned char *v = NULL;

		STEP("signal LOCAL round %d (%s)", i, vec ? "vreadfrom" : "readfrom");
		RPC_OK(ep, OP_FILL, 0x8000000, (int64_t)BIG, (int64_t)s, 0);
		wt_apply(&L, LB, BIG, s + 50, 0, 0, NULL);
		memset(lflag, 0, 8);
		if (vec) {
			/* the window is our memory too: vreadfrom into it */
			v = wt_addr(&L, LB);
			batch(ep, 3, 0, v, 0x8000000, BIG, fl);
		} else {
			batch(ep, 1, LB, NULL, 0x8000000, BIG, fl);
		}
		EXPECT_EQ(scif_fence_signal(ep, LB + (off_t)BIG, val, 0, 0,
					    SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
			  0);
		if (!r_spin_eq64((volatile uint64_t *)lflag, val, 20000)) {
			EXPECT(!"our flag appeared");
			continue;
		}
		LOCAL_PAT(&L, LB, BIG, s, 0);
	}

	STEP("INIT_PEER signal: the peer's async writes into our window are all "
	     "there when our flag appears");
	for (int i = 0; i < 6; i++) {
		uint64_t s = 500 + (uint64_t)i, val = 0x9ee70000ull + (uint64_t)i;

		RPC_OK(ep, OP_FILL, 0x8000000, (int64_t)BIG, (int64_t)s, 0);
		wt_apply(&L, LB, BIG, s + 50, 0, 0, NULL);
		memset(lflag, 0, 8);
		RPC_OK(ep, OP_BATCH_WRITE, 0x8000000, (int64_t)BIG, LB, (int64_t)CHUNK,
		       i % 2 ? SCIF_RMA_ORDERED : 0);
		EXPECT_EQ(scif_fence_signal(ep, LB + (off_t)BIG, val, 0, 0,
					    SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_LOCAL),
			  0);
		if (!r_spin_eq64((volatile uint64_t *)lflag, val, 20000)) {
			EXPECT(!"our flag appeared");
			continue;
		}
		LOCAL_PAT(&L, LB, BIG, s, 0);
	}

	STEP("INIT_PEER signal REMOTE: the peer's async reads of our window are "
	     "complete when its flag appears");
	for (int i = 0; i < 4; i++) {
		uint64_t s = 600 + (uint64_t)i, val = 0xabcd0000ull + (uint64_t)i;

		wt_apply(&L, LB, BIG, s, 0, 0, NULL);
		RPC_OK(ep, OP_FILL, 0x8000000, (int64_t)BIG, (int64_t)s + 50, 0);
		RPC_OK(ep, OP_FILL, 0x8000000 + (int64_t)BIG, 8, 1, 0); /* flag != val */
		RPC_OK(ep, OP_BATCH_READ, 0x8000000, (int64_t)BIG, LB, (int64_t)CHUNK, 0);
		EXPECT_EQ(scif_fence_signal(ep, 0, 0, 0x8000000 + (off_t)BIG, val,
					    SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_REMOTE),
			  0);
		{
			struct r_rep r = RPC(ep, OP_SPIN_CHECK, 0x8000000 + (int64_t)BIG,
					     (int64_t)val, 0x8000000, (int64_t)BIG,
					     (int64_t)s, 0);
			EXPECT_EQ(r.ret, 0);
		}
	}
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ "signal_target", role_signal_target },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "fence", 300, roles);
	test_args();
	test_mark_wait();
	test_signal_orders();
	return h_finish();
}
