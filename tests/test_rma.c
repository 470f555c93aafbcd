/* SPDX-License-Identifier: MIT */
/*
 * test_rma: scif_writeto / scif_readfrom / scif_vwriteto / scif_vreadfrom
 * between two processes, data verified byte for byte (with guard bytes
 * around every destination range).
 *
 * - errors: len 0 and unknown flags EINVAL; gaps, out-of-range and negative
 *   offsets ENXIO; protection violations EACCES (and the protected data is
 *   untouched); every call on an unconnected endpoint ENOTCONN, after the
 *   peer closed or was killed ECONNRESET; bad epd EBADF/ENOTTY;
 * - every length and alignment (1 .. 1 MiB+13, odd offsets) with every flag
 *   combination (USECPU, DMA + fence, SYNC, ORDERED, USECACHE);
 * - ranges spanning contiguous windows backed by non-adjacent buffers;
 * - SCIF_RMA_ORDERED: a target spinning on the last byte finds everything
 *   else in place (many iterations, writeto/vwriteto and readfrom);
 * - SCIF_RMA_USECACHE stays correct when the user buffer is modified,
 *   munmap'ed and re-mmap'ed, mapped over, or mremap'ed between calls;
 * - the target process is blocked in read(), asleep in sigtimedwait(), or
 *   in a pure computation loop (checked in /proc/PID/syscall) while the
 *   initiator writes and reads its window.
 */
#include "rma_util.h"

#include <fcntl.h>
#include <sys/syscall.h>

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)

static struct wtab L; /* our windows */

/* ---- errors ---------------------------------------------------------------- */

static void test_errors(void)
{
	static const int badflags[] = { 0x10, 0x20, 0x100, 1 << 20, -1,
					SCIF_RMA_SYNC | 0x40 };
	unsigned char vbuf[2 * 4096];
	scif_epd_t ep;
	pid_t pid;

	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	STEP("set up windows on both sides");
	/* remote: RW 0x20000 (8 pages), RO 0x40000, WO 0x50000, two pages
	 * each; a gap: 0x80000 and 0x82000, one page each */
	CHECK_EQ(RPC(ep, OP_REG, 8 * PG, 0x20000, RW, SCIF_MAP_FIXED, K_MMAP, 1).ret,
		 0x20000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x40000, SCIF_PROT_READ, SCIF_MAP_FIXED,
		     K_MMAP, 2).ret, 0x40000);
	CHECK_EQ(RPC(ep, OP_REG, 2 * PG, 0x50000, SCIF_PROT_WRITE, SCIF_MAP_FIXED,
		     K_MMAP, 3).ret, 0x50000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x80000, RW, SCIF_MAP_FIXED, K_MMAP, 4).ret,
		 0x80000);
	CHECK_EQ(RPC(ep, OP_REG, PG, 0x82000, RW, SCIF_MAP_FIXED, K_MMAP, 5).ret,
		 0x82000);
	/* local: the same layout */
	CHECK_EQ(wt_register(&L, ep, K_MMAP, 8 * PG, 0x20000, RW, SCIF_MAP_FIXED, 11),
		 0x20000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, 2 * PG, 0x40000, SCIF_PROT_READ,
			     SCIF_MAP_FIXED, 12), 0x40000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, 2 * PG, 0x50000, SCIF_PROT_WRITE,
			     SCIF_MAP_FIXED, 13), 0x50000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, PG, 0x80000, RW, SCIF_MAP_FIXED, 14),
		 0x80000);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, PG, 0x82000, RW, SCIF_MAP_FIXED, 15),
		 0x82000);
	pat_fill(vbuf, sizeof(vbuf), 16, 0);

	STEP("len 0: EINVAL");
	EXPECT_ERR(scif_writeto(ep, 0x20000, 0, 0x20000, 0), EINVAL);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 0, 0x20000, 0), EINVAL);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 0, 0x20000, 0), EINVAL);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 0, 0x20000, 0), EINVAL);
	EXPECT_ERR(scif_writeto(ep, 0x20000, 0, 0x20000, SCIF_RMA_SYNC), EINVAL);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 0, 0x20000, SCIF_RMA_USECPU), EINVAL);
	STEP("unknown flags: EINVAL");
	for (unsigned i = 0; i < sizeof(badflags) / sizeof(badflags[0]); i++) {
		int f = badflags[i];
		EXPECT_ERR(scif_writeto(ep, 0x20000, 16, 0x20000, f), EINVAL);
		EXPECT_ERR(scif_readfrom(ep, 0x20000, 16, 0x20000, f), EINVAL);
		EXPECT_ERR(scif_vwriteto(ep, vbuf, 16, 0x20000, f), EINVAL);
		EXPECT_ERR(scif_vreadfrom(ep, vbuf, 16, 0x20000, f), EINVAL);
	}
	STEP("nothing moved");
	PEER_PAT(ep, 0x20000, 8 * PG, 1, 0);
	LOCAL_PAT(&L, 0x20000, 8 * PG, 11, 0);
	EXPECT_PAT(vbuf, sizeof(vbuf), 16, 0);

	STEP("remote offset not registered: ENXIO");
	EXPECT_ERR(scif_writeto(ep, 0x20000, 16, 0x30000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 16, 0x30000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 16, 0x30000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 16, 0x30000, SCIF_RMA_SYNC), ENXIO);
	STEP("local offset not registered: ENXIO");
	EXPECT_ERR(scif_writeto(ep, 0x30000, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x30000, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	STEP("a range running past the window's end: ENXIO");
	EXPECT_ERR(scif_writeto(ep, 0x20000, 20, 0x20000 + 8 * PG - 10,
				SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x20000 + 8 * PG - 10, 20, 0x20000,
				 SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 2 * PG, 0x20000 + 7 * PG, SCIF_RMA_SYNC),
		   ENXIO);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 200, 0x20000 + 8 * PG - 100,
				  SCIF_RMA_SYNC), ENXIO);
	STEP("a range over a gap between windows: ENXIO");
	EXPECT_ERR(scif_writeto(ep, 0x20000, 300, 0x80000 + PG - 100,
				SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_writeto(ep, 0x80000 + PG - 100, 300, 0x20000,
				SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 300, 0x80000 + PG - 100,
				 SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x80000 + PG - 100, 300, 0x20000,
				 SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 2 * PG, 0x80000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 2 * PG, 0x81000, 0), ENXIO);
	STEP("negative offsets: ENXIO");
	EXPECT_ERR(scif_writeto(ep, -(off_t)PG, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_writeto(ep, 0x20000, 16, -(off_t)PG, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, -1, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 16, -1, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 16, -(off_t)PG, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 16, -(off_t)PG, SCIF_RMA_SYNC), ENXIO);
	STEP("nothing moved");
	PEER_PAT(ep, 0x20000, 8 * PG, 1, 0);
	PEER_PAT(ep, 0x80000, PG, 4, 0);
	PEER_PAT(ep, 0x82000, PG, 5, 0);
	LOCAL_PAT(&L, 0x20000, 8 * PG, 11, 0);
	LOCAL_PAT(&L, 0x80000, PG, 14, 0);
	EXPECT_PAT(vbuf, sizeof(vbuf), 16, 0);

	STEP("writeto into a READ-only remote window: EACCES");
	EXPECT_ERR(scif_writeto(ep, 0x20000, 100, 0x40000, SCIF_RMA_SYNC), EACCES);
	EXPECT_ERR(scif_writeto(ep, 0x20000, 100, 0x40000, SCIF_RMA_USECPU), EACCES);
	EXPECT_ERR(scif_writeto(ep, 0x20000, 2 * PG, 0x40000, 0), EACCES);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 100, 0x40000 + 5, SCIF_RMA_SYNC), EACCES);
	EXPECT_ERR(scif_vwriteto(ep, vbuf, 100, 0x40000, 0), EACCES);
	STEP("readfrom a WRITE-only remote window: EACCES");
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 100, 0x50000, SCIF_RMA_SYNC), EACCES);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 100, 0x50000, SCIF_RMA_USECPU), EACCES);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 100, 0x50000, SCIF_RMA_SYNC), EACCES);
	STEP("readfrom into a READ-only local window: EACCES");
	EXPECT_ERR(scif_readfrom(ep, 0x40000, 100, 0x20000, SCIF_RMA_SYNC), EACCES);
	EXPECT_ERR(scif_readfrom(ep, 0x40000, 100, 0x20000, 0), EACCES);
	STEP("writeto from a WRITE-only local window: EACCES");
	EXPECT_ERR(scif_writeto(ep, 0x50000, 100, 0x20000, SCIF_RMA_SYNC), EACCES);
	STEP("the protected data is untouched");
	PEER_PAT(ep, 0x40000, 2 * PG, 2, 0);
	PEER_PAT(ep, 0x20000, 8 * PG, 1, 0);
	LOCAL_PAT(&L, 0x40000, 2 * PG, 12, 0);
	EXPECT_PAT(vbuf, sizeof(vbuf), 16, 0);

	STEP("allowed directions: RO local -> WO remote, RO remote -> WO local");
	EXPECT_EQ(scif_writeto(ep, 0x40000 + 3, 2 * PG - 9, 0x50000 + 1,
			       SCIF_RMA_SYNC), 0);
	PEER_PAT(ep, 0x50000 + 1, 2 * PG - 9, 12, 3);
	PEER_PAT(ep, 0x50000, 1, 3, 0);
	EXPECT_EQ(scif_readfrom(ep, 0x50000 + 7, PG + 100, 0x40000 + 11,
				SCIF_RMA_SYNC), 0);
	LOCAL_PAT(&L, 0x50000 + 7, PG + 100, 2, 11);
	LOCAL_PAT(&L, 0x50000, 7, 13, 0);
	EXPECT_EQ(scif_vreadfrom(ep, vbuf + 1, 2 * PG - 1, 0x40000 + 1,
				 SCIF_RMA_SYNC), 0);
	EXPECT_PAT(vbuf + 1, 2 * PG - 1, 2, 1);
	EXPECT_EQ(vbuf[0], pat(16, 0));
	pat_fill(vbuf, sizeof(vbuf), 17, 0);
	EXPECT_EQ(scif_vwriteto(ep, vbuf, 2 * PG, 0x50000, SCIF_RMA_SYNC), 0);
	PEER_PAT(ep, 0x50000, 2 * PG, 17, 0);

	STEP("a window unregistered by the peer: ENXIO");
	RPC_OK(ep, OP_UNREG, 0x82000, PG);
	EXPECT_ERR(scif_writeto(ep, 0x20000, 16, 0x82000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x20000, 16, 0x82000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_vreadfrom(ep, vbuf, 16, 0x82000, SCIF_RMA_SYNC), ENXIO);
	STEP("a window we unregistered: ENXIO");
	EXPECT_EQ(scif_unregister(ep, 0x82000, PG), 0);
	EXPECT_ERR(scif_writeto(ep, 0x82000, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	EXPECT_ERR(scif_readfrom(ep, 0x82000, 16, 0x20000, SCIF_RMA_SYNC), ENXIO);
	wt_remove_range(&L, 0x82000, PG);
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
}

/* ---- all lengths, alignments and flags ---------------------------------- */

enum { OPW, OPR, OPVW, OPVR };
static const char *const opname[] = { "writeto", "readfrom", "vwriteto",
				      "vreadfrom" };

static int do_rma(scif_epd_t ep, int op, off_t loff, void *addr, size_t len,
		  off_t roff, int flags)
{
	switch (op) {
	case OPW:
		return scif_writeto(ep, loff, len, roff, flags);
	case OPR:
		return scif_readfrom(ep, loff, len, roff, flags);
	case OPVW:
		return scif_vwriteto(ep, addr, len, roff, flags);
	default:
		return scif_vreadfrom(ep, addr, len, roff, flags);
	}
}

static void test_matrix(void)
{
	static const size_t lens[] = { 1, 2, 7, 63, 64, 65, 4095, 4096, 4097,
				       8193, 26496, 65536 * 3 + 5, 1048576 + 13 };
	static const int flagset[] = {
		SCIF_RMA_USECPU,
		0,
		SCIF_RMA_SYNC,
		SCIF_RMA_USECPU | SCIF_RMA_SYNC,
		SCIF_RMA_ORDERED,
		SCIF_RMA_ORDERED | SCIF_RMA_SYNC,
		SCIF_RMA_USECACHE,
		SCIF_RMA_USECACHE | SCIF_RMA_SYNC,
	};
	static const int shifts[][2] = { { 0, 0 }, { 3, 61 }, { 61, 3 },
					 { 64, 128 }, { 4095, 1 } };
	const off_t LB = 0x400000, RB = 0x10000000;
	const size_t WL = 1048576 + 4 * PG;
	unsigned char *vb = malloc(WL + 256);
	scif_epd_t ep;
	pid_t pid;
	uint64_t seed = 5000;
	int cases = 0, failed0 = h_failures;

	CHECK(vb != NULL);
	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	CHECK_EQ(wt_register(&L, ep, K_MMAP, WL, LB, RW, SCIF_MAP_FIXED, 1), LB);
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)WL, RB, RW, SCIF_MAP_FIXED, K_MMAP, 2).ret,
		 RB);
	for (unsigned f = 0; f < sizeof(flagset) / sizeof(flagset[0]); f++)
		for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
			for (unsigned s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++)
				for (int op = 0; op < 4; op++) {
					int flags = flagset[f];
					size_t len = lens[li];
					off_t loff = LB + 64 + shifts[s][0];
					off_t roff = RB + 64 + shifts[s][1];
					unsigned char *q = vb + 64 + (shifts[s][0] & 63);
					uint64_t sd = ++seed, bg = seed + 100000;
					int r;

					if (h_failures - failed0 > 20) {
						h_log("too many failures, stopping the matrix");
						goto out;
					}
					STEP("%s len %zu loff +%d roff +%d flags 0x%x",
					     opname[op], len, shifts[s][0], shifts[s][1],
					     flags);
					cases++;
					if (op == OPW || op == OPVW) {
						/* guards around the remote range */
						RPC_OK(ep, OP_FILL, roff - 64,
						       (int64_t)len + 128, (int64_t)bg, 0);
						if (op == OPW)
							wt_apply(&L, loff, len, sd, 0, 0, NULL);
						else
							pat_fill(q, len, sd, 0);
					} else {
						RPC_OK(ep, OP_FILL, roff, (int64_t)len,
						       (int64_t)sd, 0);
						if (op == OPR)
							wt_apply(&L, loff - 64, len + 128, bg,
								 0, 0, NULL);
						else
							pat_fill(q - 64, len + 128, bg, 0);
					}
					errno = 0;
					r = do_rma(ep, op, loff, q, len, roff, flags);
					if (r != 0) {
						h_fail_err(__FILE__, __LINE__, opname[op], r,
							   errno, "success", 0);
						continue;
					}
					EXPECT_OK(r_settle(ep, flags));
					if (op == OPW || op == OPVW) {
						PEER_PAT(ep, roff - 64, 64, bg, 0);
						PEER_PAT(ep, roff, len, sd, 0);
						PEER_PAT(ep, roff + (off_t)len, 64, bg,
							 64 + len);
						if (op == OPW) /* source intact */
							LOCAL_PAT(&L, loff, len, sd, 0);
					} else if (op == OPR) {
						LOCAL_PAT(&L, loff - 64, 64, bg, 0);
						LOCAL_PAT(&L, loff, len, sd, 0);
						LOCAL_PAT(&L, loff + (off_t)len, 64, bg,
							  64 + len);
						PEER_PAT(ep, roff, len, sd, 0);
					} else {
						EXPECT_PAT(q - 64, 64, bg, 0);
						EXPECT_PAT(q, len, sd, 0);
						EXPECT_PAT(q + len, 64, bg, 64 + len);
					}
				}
out:
	h_log("%d length/alignment/flag cases", cases);
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
	free(vb);
}

/* ---- spanning contiguous windows --------------------------------------------- */

static void test_span(void)
{
	const off_t LA = 0x100000;
	const size_t l1 = 3 * PG, l2 = 5 * PG; /* local: 3 + 5 pages */
	const off_t RA = 0x200000;
	const size_t r1 = 2 * PG, r2 = 4 * PG; /* remote: 2 + 4 pages */
	struct rbuf b1, b2;
	scif_epd_t ep;
	pid_t pid;
	off_t loff, roff;
	size_t len;

	ep = r_server(&pid);
	memset(&L, 0, sizeof(L));
	STEP("two adjacent local windows on non-adjacent buffers");
	/* second buffer first, so b2 is below b1 in memory; guard pages keep
	 * them apart anyway */
	rbuf_alloc(&b2, K_MMAP, l2);
	rbuf_alloc(&b1, K_MMAP, l1);
	CHECK(b1.addr + l1 != b2.addr);
	pat_fill(b1.addr, l1, 1, 0);
	pat_fill(b2.addr, l2, 1, l1);
	CHECK_EQ(scif_register(ep, b1.addr, l1, LA, RW, SCIF_MAP_FIXED), LA);
	CHECK_EQ(scif_register(ep, b2.addr, l2, LA + (off_t)l1, RW, SCIF_MAP_FIXED),
		 LA + (off_t)l1);
	wt_add(&L, LA, l1, b1.addr);
	wt_add(&L, LA + (off_t)l1, l2, b2.addr);
	STEP("two adjacent remote windows");
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)r1, RA, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret,
		 RA);
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)r2, RA + (off_t)r1, RW, SCIF_MAP_FIXED,
		     K_MEMALIGN, 0).ret, RA + (off_t)r1);

	for (int flags = 0; flags < 3; flags++) {
		int fl = flags == 0 ? SCIF_RMA_USECPU : flags == 1 ? SCIF_RMA_SYNC : 0;

		STEP("writeto across both boundaries (flags 0x%x)", fl);
		loff = LA + (off_t)l1 - 1000;
		roff = RA + (off_t)r1 - 3000;
		len = 5000;
		wt_apply(&L, loff, len, 10 + (uint64_t)flags, 0, 0, NULL);
		RPC_OK(ep, OP_FILL, RA, (int64_t)(r1 + r2), 99, 0);
		EXPECT_EQ(scif_writeto(ep, loff, len, roff, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, roff, len, 10 + (uint64_t)flags, 0);
		PEER_PAT(ep, RA, (size_t)(roff - RA), 99, 0);
		PEER_PAT(ep, roff + (off_t)len, (size_t)(RA + (off_t)(r1 + r2) - roff) - len,
			 99, (uint64_t)(roff - RA) + len);

		STEP("readfrom across both boundaries (flags 0x%x)", fl);
		RPC_OK(ep, OP_FILL, RA, (int64_t)(r1 + r2), 20 + (uint64_t)flags, 0);
		wt_apply(&L, LA, l1 + l2, 98, 0, 0, NULL);
		loff = LA + 5;
		roff = RA + 7;
		len = r1 + r2 - 7;
		EXPECT_EQ(scif_readfrom(ep, loff, len, roff, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		LOCAL_PAT(&L, LA, 5, 98, 0);
		LOCAL_PAT(&L, loff, len, 20 + (uint64_t)flags, 7);
		LOCAL_PAT(&L, loff + (off_t)len, l1 + l2 - 5 - len, 98, 5 + len);
		/* the same bytes, checked in each buffer directly */
		EXPECT_PAT(b1.addr + 5, l1 - 5, 20 + (uint64_t)flags, 7);
		EXPECT_PAT(b2.addr, len - (l1 - 5), 20 + (uint64_t)flags, 7 + l1 - 5);

		STEP("whole span, page aligned (flags 0x%x)", fl);
		wt_apply(&L, LA, l1 + l2, 30 + (uint64_t)flags, 0, 0, NULL);
		EXPECT_EQ(scif_writeto(ep, LA, r1 + r2, RA, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, RA, r1 + r2, 30 + (uint64_t)flags, 0);
		STEP("vwriteto/vreadfrom across the remote boundary (flags 0x%x)", fl);
		{
			unsigned char *v = malloc(r1 + r2);
			CHECK(v != NULL);
			pat_fill(v, r1 + r2, 40 + (uint64_t)flags, 0);
			EXPECT_EQ(scif_vwriteto(ep, v + 1, r1 + r2 - 2, RA + 1, fl), 0);
			EXPECT_OK(r_settle(ep, fl));
			PEER_PAT(ep, RA + 1, r1 + r2 - 2, 40 + (uint64_t)flags, 1);
			memset(v, 0, r1 + r2);
			EXPECT_EQ(scif_vreadfrom(ep, v, r1 + r2, RA, fl), 0);
			EXPECT_OK(r_settle(ep, fl));
			EXPECT_PAT(v + 1, r1 + r2 - 2, 40 + (uint64_t)flags, 1);
			free(v);
		}
	}
	STEP("the peer unregisters its second window: spanning gives ENXIO");
	RPC_OK(ep, OP_UNREG, RA + (off_t)r1, r2);
	EXPECT_ERR(scif_writeto(ep, LA, 2 * PG, RA + PG, SCIF_RMA_SYNC), ENXIO);
	EXPECT_EQ(scif_writeto(ep, LA, PG, RA + PG, SCIF_RMA_SYNC), 0);
	STEP("we unregister our second window: spanning gives ENXIO");
	EXPECT_EQ(scif_unregister(ep, LA + (off_t)l1, l2), 0);
	EXPECT_ERR(scif_writeto(ep, LA + (off_t)l1 - 10, 20, RA, SCIF_RMA_SYNC),
		   ENXIO);
	EXPECT_ERR(scif_readfrom(ep, LA + (off_t)l1 - 10, 20, RA, SCIF_RMA_SYNC),
		   ENXIO);
	r_server_stop(ep, pid);
	memset(&L, 0, sizeof(L));
	rbuf_free(&b1);
	rbuf_free(&b2);
}

/* ---- SCIF_RMA_ORDERED ------------------------------------------------------------ */

#define ORD_WIN (512 * 1024 + 2 * 4096)

/* Role: register a window, then per iteration: receive (len, roff, seed,
 * marker), zero the range, put ~marker in its last byte, say ready, spin
 * (outside skiff) until the last byte is the marker, check everything before
 * the last cache line, then on "done" check the rest and report. */
static int role_ordered_target(const char *arg)
{
	scif_epd_t ep = r_role_connect(arg, NULL);
	struct rbuf b;
	off_t w;
	long bad_early = 0, bad_late = 0, timeouts = 0;

	rbuf_alloc(&b, K_MMAP, ORD_WIN);
	w = scif_register(ep, b.addr, ORD_WIN, 0, RW, 0);
	CHECK(w != SCIF_REGISTER_FAILED);
	r_send64(ep, w);
	for (;;) {
		int64_t p[4];
		int64_t res[3];
		size_t len, roff, line;
		unsigned char marker;
		volatile unsigned char *last;

		if (scif_recv(ep, p, sizeof(p), SCIF_RECV_BLOCK) != sizeof(p))
			break;
		len = (size_t)p[0];
		roff = (size_t)p[1];
		marker = (unsigned char)p[3];
		STEP("ordered target: len %zu at +%zu", len, roff);
		memset(b.addr + roff, 0, len);
		last = b.addr + roff + len - 1;
		*last = (unsigned char)~marker;
		r_send64(ep, 1); /* ready */
		if (!r_spin_eq8(last, marker, 20000)) {
			timeouts++;
		} else {
			/* everything before the last (partial) cache line of
			 * the destination must be there now */
			line = ((roff + len - 1) & ~(size_t)63);
			if (line > roff)
				bad_early = (long)pat_check(b.addr + roff, line - roff,
							    (uint64_t)p[2], 0, NULL);
		}
		(void)r_recv64(ep); /* done */
		bad_late = (long)pat_check(b.addr + roff, len - 1, (uint64_t)p[2], 0,
					   NULL) + (*last != marker);
		res[0] = bad_early;
		res[1] = bad_late;
		res[2] = timeouts;
		r_send(ep, res, sizeof(res));
		timeouts = 0;
	}
	scif_close(ep);
	return 0;
}

static void test_ordered(void)
{
	static const size_t lens[] = { 2, 64, 65, 200, 4096, 8193, 26496, 65543,
				       262147, 512 * 1024 };
	static const struct {
		int op, flags, iters;
	} modes[] = {
		{ OPW, SCIF_RMA_ORDERED, 300 },
		{ OPW, SCIF_RMA_ORDERED | SCIF_RMA_SYNC, 100 },
		{ OPW, SCIF_RMA_ORDERED | SCIF_RMA_USECPU, 100 },
		{ OPVW, SCIF_RMA_ORDERED, 200 },
	};
	const off_t LB = 0x100000;
	unsigned char *v = malloc(ORD_WIN);
	scif_epd_t ep;
	pid_t pid;
	off_t w;
	long early = 0, late = 0, tmo = 0;

	CHECK(v != NULL);
	ep = r_spawn_peer("ordered_target", NULL, &pid);
	memset(&L, 0, sizeof(L));
	CHECK_EQ(wt_register(&L, ep, K_MMAP, ORD_WIN, LB, RW, SCIF_MAP_FIXED, 0), LB);
	w = (off_t)r_recv64(ep);
	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		for (int i = 0; i < modes[m].iters; i++) {
			size_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))];
			size_t roff = (size_t)(i % 3) * 61;
			size_t lsh = (size_t)(i % 5) * 13;
			uint64_t seed = 70000 + (uint64_t)m * 1000 + (uint64_t)i;
			unsigned char marker;
			int64_t p[4], res[3];
			unsigned char *src;

			if (len + roff > ORD_WIN - PG)
				len = ORD_WIN - PG - roff;
			STEP("ORDERED %s flags 0x%x iteration %d len %zu",
			     opname[modes[m].op], modes[m].flags, i, len);
			src = modes[m].op == OPW ? wt_addr(&L, LB + (off_t)lsh) : v + lsh;
			pat_fill(src, len, seed, 0);
			marker = src[len - 1];
			p[0] = (int64_t)len;
			p[1] = (int64_t)roff;
			p[2] = (int64_t)seed;
			p[3] = marker;
			r_send(ep, p, sizeof(p));
			CHECK_EQ(r_recv64(ep), 1);
			EXPECT_EQ(do_rma(ep, modes[m].op, LB + (off_t)lsh, src, len,
					 w + (off_t)roff, modes[m].flags), 0);
			EXPECT_OK(r_settle(ep, modes[m].flags));
			r_send64(ep, 2);
			r_recv(ep, res, sizeof(res));
			if (res[0] || res[1] || res[2])
				h_log("ORDERED %s 0x%x it %d len %zu: %lld bytes "
				      "missing when the last byte landed, %lld after "
				      "completion, %lld timeouts",
				      opname[modes[m].op], modes[m].flags, i, len,
				      (long long)res[0], (long long)res[1],
				      (long long)res[2]);
			early += res[0];
			late += res[1];
			tmo += res[2];
		}
	STEP("ORDERED: the last byte always landed last");
	EXPECT_EQ(early, 0);
	EXPECT_EQ(late, 0);
	EXPECT_EQ(tmo, 0);

	STEP("ORDERED readfrom: we spin on our own last byte");
	scif_close(ep); /* the target sees the reset and exits */
	EXPECT_CHILD_OK(pid, 20000);
	ep = r_server(&pid);
	CHECK_EQ(RPC(ep, OP_REG, ORD_WIN, 0x800000, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret,
		 0x800000);
	wt_remove_range(&L, 0, (size_t)1 << 40);
	CHECK_EQ(wt_register(&L, ep, K_MMAP, ORD_WIN, LB, RW, SCIF_MAP_FIXED, 0), LB);
	early = tmo = 0;
	for (int i = 0; i < 200; i++) {
		size_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))];
		off_t loff = LB + (i % 3) * 61, roff = 0x800000 + (i % 4) * 7;
		uint64_t seed = 80000 + (uint64_t)i;
		unsigned char *dst = wt_addr(&L, loff), want;
		size_t line;

		STEP("ORDERED readfrom iteration %d len %zu", i, len);
		RPC_OK(ep, OP_FILL, roff, (int64_t)len, (int64_t)seed, 0);
		want = pat(seed, len - 1);
		memset(dst, 0, len);
		dst[len - 1] = (unsigned char)~want;
		EXPECT_EQ(scif_readfrom(ep, loff, len, roff, SCIF_RMA_ORDERED), 0);
		if (!r_spin_eq8(dst + len - 1, want, 20000)) {
			tmo++;
		} else {
			line = ((size_t)(loff - LB) + len - 1) & ~(size_t)63;
			if (line > (size_t)(loff - LB))
				early += (long)pat_check(dst, line - (size_t)(loff - LB),
							 seed, 0, NULL);
		}
		EXPECT_OK(r_settle(ep, 0));
		LOCAL_PAT(&L, loff, len, seed, 0);
	}
	EXPECT_EQ(early, 0);
	EXPECT_EQ(tmo, 0);
	r_server_stop(ep, pid);
	wt_remove_range(&L, 0, (size_t)1 << 40);
	free(v);
}

/* ---- SCIF_RMA_USECACHE ------------------------------------------------------------ */

static void test_usecache(void)
{
	const size_t span = 32 * PG;
	const off_t RB = 0x300000;
	scif_epd_t ep;
	pid_t pid;
	unsigned char *x;

	ep = r_server(&pid);
	CHECK_EQ(RPC(ep, OP_REG, (int64_t)span, RB, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret,
		 RB);
	x = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(x != MAP_FAILED);
	for (int i = 0; i < 24; i++) {
		int fl = SCIF_RMA_USECACHE | (i % 3 == 0 ? SCIF_RMA_SYNC :
					      i % 3 == 1 ? 0 : SCIF_RMA_USECPU);
		size_t m = (size_t)(i * 37) % 200;
		size_t len = i % 2 ? span - m : (size_t)(5 + i * 1000) % (span - m);
		uint64_t s = 90000 + (uint64_t)i * 10;
		unsigned char *y;
		int mfd;

		if (len == 0)
			len = 1;
		STEP("USECACHE round %d (flags 0x%x, len %zu): first vwriteto", i, fl,
		     len);
		pat_fill(x + m, len, s, 0);
		EXPECT_EQ(scif_vwriteto(ep, x + m, len, RB, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, RB, len, s, 0);

		STEP("USECACHE round %d: modified in place", i);
		pat_fill(x + m, len, s + 1, 0);
		EXPECT_EQ(scif_vwriteto(ep, x + m, len, RB, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, RB, len, s + 1, 0);

		STEP("USECACHE round %d: munmap, new mmap at the same address", i);
		CHECK(munmap(x, span) == 0);
		y = mmap(x, span, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECK(y == x);
		pat_fill(x + m, len, s + 2, 0);
		EXPECT_EQ(scif_vwriteto(ep, x + m, len, RB, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, RB, len, s + 2, 0);

		STEP("USECACHE round %d: a shared file mapping over it (MAP_FIXED)", i);
		mfd = memfd_create("usecache-test", MFD_CLOEXEC);
		CHECK(mfd >= 0);
		CHECK(ftruncate(mfd, (off_t)span) == 0);
		{
			unsigned char *tmp = malloc(span);
			CHECK(tmp != NULL);
			pat_fill(tmp + m, len, s + 3, 0);
			CHECK(pwrite(mfd, tmp, span, 0) == (ssize_t)span);
			free(tmp);
		}
		y = mmap(x, span, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0);
		CHECK(y == x);
		EXPECT_EQ(scif_vwriteto(ep, x + m, len, RB, fl), 0);
		EXPECT_OK(r_settle(ep, fl));
		PEER_PAT(ep, RB, len, s + 3, 0);

		STEP("USECACHE round %d: vreadfrom, then replace the mapping and "
		     "vreadfrom again: new pages get the data, old pages keep theirs", i);
		{
			unsigned char *old = mmap(NULL, span, PROT_READ, MAP_SHARED,
						  mfd, 0);
			CHECK(old != MAP_FAILED);
			RPC_OK(ep, OP_FILL, RB, (int64_t)len, (int64_t)(s + 4), 0);
			EXPECT_EQ(scif_vreadfrom(ep, x + m, len, RB, fl), 0);
			EXPECT_OK(r_settle(ep, fl));
			EXPECT_PAT(x + m, len, s + 4, 0);
			EXPECT_PAT(old + m, len, s + 4, 0); /* same pages */
			y = mmap(x, span, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			CHECK(y == x);
			RPC_OK(ep, OP_FILL, RB, (int64_t)len, (int64_t)(s + 5), 0);
			EXPECT_EQ(scif_vreadfrom(ep, x + m, len, RB, fl), 0);
			EXPECT_OK(r_settle(ep, fl));
			EXPECT_PAT(x + m, len, s + 5, 0);
			/* the replaced pages were not written */
			EXPECT_PAT(old + m, len, s + 4, 0);
			munmap(old, span);
		}
		close(mfd);

		STEP("USECACHE round %d: mremap another buffer onto the address", i);
		{
			unsigned char *z = mmap(NULL, span, PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			CHECK(z != MAP_FAILED);
			pat_fill(z + m, len, s + 6, 0);
			y = mremap(z, span, span, MREMAP_MAYMOVE | MREMAP_FIXED, x);
			CHECK(y == x);
			EXPECT_EQ(scif_vwriteto(ep, x + m, len, RB, fl), 0);
			EXPECT_OK(r_settle(ep, fl));
			PEER_PAT(ep, RB, len, s + 6, 0);
		}
	}
	r_server_stop(ep, pid);
	munmap(x, span);
}

/* ---- the target is busy elsewhere ------------------------------------------------- */

#define BUSY_HALF (512 * 1024)
#define BUSY_STOP 0x5350494e53544f50ull

enum { WAIT_READ, WAIT_SIGTIMEDWAIT, WAIT_COMPUTE };
static const char *const wait_name[] = { "blocked in read() on a pipe",
					 "asleep in sigtimedwait()",
					 "in a pure computation loop" };

/* Role: arg "PORT,mode,rd,wr". Register a window (malloc memory) of two
 * halves and a stop word, fill it with pattern 7, send its offset, then wait
 * outside skiff; afterwards check that the first half holds pattern 8 (the
 * initiator's) and the second still pattern 7, and report. */
static int role_busy_target(const char *arg)
{
	const char *rest;
	scif_epd_t ep = r_role_connect(arg, &rest);
	int mode, rd, wr;
	struct rbuf b;
	off_t w;
	int64_t res[2] = { 0, 0 };
	sigset_t set;

	CHECK(sscanf(rest, "%d,%d,%d", &mode, &rd, &wr) == 3);
	close(wr);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	rbuf_alloc(&b, K_MALLOC, 2 * BUSY_HALF + PG);
	pat_fill(b.addr, 2 * BUSY_HALF, 7, 0);
	memset(b.addr + 2 * BUSY_HALF, 0, PG);
	w = scif_register(ep, b.addr, 2 * BUSY_HALF + PG, 0, RW, 0);
	CHECK(w != SCIF_REGISTER_FAILED);
	r_send64(ep, w);
	STEP("busy target: %s", wait_name[mode]);
	if (mode == WAIT_READ) {
		char c;
		ssize_t n;
		do
			n = read(rd, &c, 1);
		while (n < 0 && errno == EINTR);
		CHECK_EQ(n, 1);
	} else if (mode == WAIT_SIGTIMEDWAIT) {
		struct timespec ts = { 30, 0 };
		CHECK_EQ(sigtimedwait(&set, NULL, &ts), SIGUSR1);
	} else {
		volatile uint64_t *stop = (volatile uint64_t *)(b.addr + 2 * BUSY_HALF);
		uint64_t x = 1;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned long i = 0;; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			if (__atomic_load_n(stop, __ATOMIC_ACQUIRE) == BUSY_STOP)
				break;
			if ((i & 0xfffff) == 0) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				if (t1.tv_sec - t0.tv_sec > 30)
					break;
			}
		}
		res[1] = x == 0; /* keep x alive */
		CHECK_EQ(*stop, BUSY_STOP);
	}
	STEP("busy target: verify my window");
	res[0] = (int64_t)pat_check(b.addr, BUSY_HALF, 8, 0, NULL) +
		 (int64_t)pat_check(b.addr + BUSY_HALF, BUSY_HALF, 7, BUSY_HALF, NULL);
	r_send(ep, res, sizeof(res));
	(void)r_recv64(ep);
	scif_close(ep);
	return 0;
}

/* The main thread of @pid in syscall @nr (or running, nr -1), observed
 * twice in a row within @ms. */
static int in_syscall(pid_t pid, long nr, int ms)
{
	char path[64], buf[256];
	int64_t t0 = h_now_ns();
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	while (h_ms_since(t0) < ms) {
		FILE *f = fopen(path, "r");
		size_t n = 0;
		struct timespec ts = { 0, 1000 * 1000 };

		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = 0;
		if ((nr < 0 && strncmp(buf, "running", 7) == 0) ||
		    (nr >= 0 && n && strtol(buf, NULL, 10) == nr &&
		     strncmp(buf, "running", 7) != 0)) {
			if (++seen >= 2)
				return 1;
		} else {
			seen = 0;
		}
		nanosleep(&ts, NULL);
	}
	h_log("/proc/%d/syscall: %s", (int)pid, buf);
	return 0;
}

static void test_busy_target(int mode, int flags)
{
	const off_t LB = 0x100000;
	const long nr[] = { SYS_read, SYS_rt_sigtimedwait, -1 };
	struct h_pipe p;
	char extra[64];
	scif_epd_t ep;
	pid_t pid;
	off_t w;
	int64_t res[2];

	STEP("target %s, flags 0x%x: connect", wait_name[mode], flags);
	h_pipe_init(&p, 1);
	snprintf(extra, sizeof(extra), "%d,%d,%d", mode, p.rd, p.wr);
	ep = r_spawn_peer("busy_target", extra, &pid);
	close(p.rd);
	p.rd = -1;
	memset(&L, 0, sizeof(L));
	CHECK_EQ(wt_register(&L, ep, K_MEMALIGN, 2 * BUSY_HALF, LB, RW,
			     SCIF_MAP_FIXED, 0), LB);
	w = (off_t)r_recv64(ep);
	STEP("target %s: wait until it is there (/proc/PID/syscall)",
	     wait_name[mode]);
	EXPECT(in_syscall(pid, nr[mode], 10000));

	STEP("target %s, flags 0x%x: write its first half", wait_name[mode], flags);
	wt_apply(&L, LB, BUSY_HALF, 8, 0, 0, NULL);
	EXPECT_EQ(scif_writeto(ep, LB, BUSY_HALF - 4096, w, flags), 0);
	{
		/* an async vwriteto reads the buffer until the fence: keep it */
		unsigned char *v = malloc(4096);
		CHECK(v != NULL);
		pat_fill(v, 4096, 8, BUSY_HALF - 4096);
		EXPECT_EQ(scif_vwriteto(ep, v, 4096, w + BUSY_HALF - 4096, flags), 0);
		EXPECT_OK(r_settle(ep, flags));
		free(v);
	}
	STEP("target %s: read back the half we wrote", wait_name[mode]);
	wt_apply(&L, LB, 2 * BUSY_HALF, 9, 0, 0, NULL);
	EXPECT_EQ(scif_readfrom(ep, LB, BUSY_HALF, w, flags), 0);
	EXPECT_OK(r_settle(ep, flags));
	LOCAL_PAT(&L, LB, BUSY_HALF, 8, 0);
	STEP("target %s: read the half it wrote before it went away",
	     wait_name[mode]);
	EXPECT_EQ(scif_readfrom(ep, LB + BUSY_HALF, BUSY_HALF - 3, w + BUSY_HALF + 3,
				flags), 0);
	EXPECT_OK(r_settle(ep, flags));
	LOCAL_PAT(&L, LB + BUSY_HALF, BUSY_HALF - 3, 7, BUSY_HALF + 3);
	STEP("target %s: it did not leave its wait meanwhile", wait_name[mode]);
	EXPECT(in_syscall(pid, nr[mode], 2000));

	STEP("target %s: wake it up", wait_name[mode]);
	if (mode == WAIT_READ) {
		h_put(p.wr, 1);
	} else if (mode == WAIT_SIGTIMEDWAIT) {
		CHECK(kill(pid, SIGUSR1) == 0);
	} else {
		uint64_t stop = BUSY_STOP;
		EXPECT_EQ(scif_vwriteto(ep, &stop, 8, w + 2 * BUSY_HALF,
					SCIF_RMA_SYNC), 0);
	}
	r_recv(ep, res, sizeof(res));
	EXPECT_EQ(res[0], 0);
	r_send64(ep, 0);
	EXPECT_CHILD_OK(pid, 20000);
	scif_close(ep);
	h_pipe_close(&p);
	wt_remove_range(&L, 0, (size_t)1 << 40);
}

/* ---- errors by endpoint state ------------------------------------------------------ */

static void all_calls_fail(scif_epd_t ep, int e1, int e2, off_t loff, off_t roff)
{
	unsigned char v[64];
	int mark = 0;
	void *m;

	EXPECT_ERR2(scif_writeto(ep, loff, 16, roff, 0), e1, e2);
	EXPECT_ERR2(scif_writeto(ep, loff, 16, roff, SCIF_RMA_SYNC), e1, e2);
	EXPECT_ERR2(scif_readfrom(ep, loff, 16, roff, 0), e1, e2);
	EXPECT_ERR2(scif_readfrom(ep, loff, 16, roff, SCIF_RMA_USECPU), e1, e2);
	EXPECT_ERR2(scif_vwriteto(ep, v, 16, roff, 0), e1, e2);
	EXPECT_ERR2(scif_vreadfrom(ep, v, 16, roff, SCIF_RMA_SYNC), e1, e2);
	EXPECT_ERR2(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), e1, e2);
	EXPECT_ERR2(scif_fence_mark(ep, SCIF_FENCE_INIT_PEER, &mark), e1, e2);
	EXPECT_ERR2(scif_fence_wait(ep, 0), e1, e2);
	EXPECT_ERR2(scif_fence_signal(ep, loff, 1, roff, 2,
				      SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL |
					      SCIF_SIGNAL_REMOTE), e1, e2);
	EXPECT_ERR2(scif_fence_signal(ep, loff, 1, roff, 2,
				      SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_LOCAL),
		    e1, e2);
	errno = 0;
	m = scif_mmap(NULL, PG, SCIF_PROT_READ, 0, ep, roff);
	if (m != SCIF_MMAP_FAILED || (errno != e1 && errno != e2)) {
		h_fail_err(__FILE__, __LINE__, "scif_mmap", (long)(intptr_t)m, errno,
			   "SCIF_MMAP_FAILED with the state's errno", 0);
		if (m != SCIF_MMAP_FAILED)
			scif_munmap(m, PG);
	}
}

static void test_state(void)
{
	scif_epd_t a, ep;
	pid_t pid;
	char c;
	int fds[2];

	STEP("unconnected endpoint: ENOTCONN for every call");
	a = (scif_epd_t)CHECK_OK(scif_open());
	all_calls_fail(a, ENOTCONN, ENOTCONN, 0, 0);
	CHECK_OK(scif_bind(a, 0));
	STEP("bound endpoint: ENOTCONN for every call");
	all_calls_fail(a, ENOTCONN, ENOTCONN, 0, 0);
	CHECK_OK(scif_listen(a, 1));
	STEP("listening endpoint: ENOTCONN for every call");
	all_calls_fail(a, ENOTCONN, ENOTCONN, 0, 0);
	scif_close(a);
	STEP("invalid epd: EBADF or ENOTTY for every call");
	all_calls_fail(-1, EBADF, ENOTTY, 0, 0);
	all_calls_fail(99999, EBADF, ENOTTY, 0, 0);
	CHECK(pipe(fds) == 0);
	all_calls_fail(fds[0], EBADF, ENOTTY, 0, 0);
	close(fds[0]);
	close(fds[1]);

	for (int kill_it = 0; kill_it < 2; kill_it++) {
		STEP("after the peer %s: ECONNRESET for every call",
		     kill_it ? "was killed" : "closed");
		ep = r_server(&pid);
		memset(&L, 0, sizeof(L));
		CHECK_EQ(wt_register(&L, ep, K_MMAP, 4 * PG, 0x10000, RW,
				     SCIF_MAP_FIXED, 1), 0x10000);
		CHECK_EQ(RPC(ep, OP_REG, 4 * PG, 0x20000, RW, SCIF_MAP_FIXED, K_MMAP,
			     2).ret, 0x20000);
		/* it works before */
		EXPECT_EQ(scif_writeto(ep, 0x10000, 16, 0x20000, SCIF_RMA_SYNC), 0);
		if (kill_it) {
			CHECK(kill(pid, SIGKILL) == 0);
			h_waitpid(pid, 5000);
		} else {
			RPC(ep, OP_QUIT);
			EXPECT_CHILD_OK(pid, 20000);
		}
		EXPECT_ERR(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), ECONNRESET);
		all_calls_fail(ep, ECONNRESET, ECONNRESET, 0x10000, 0x20000);
		STEP("our own window still holds our data");
		LOCAL_PAT(&L, 0x10000, 4 * PG, 1, 0);
		EXPECT_EQ(scif_close(ep), 0);
		wt_remove_range(&L, 0, (size_t)1 << 40);
	}
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ "ordered_target", role_ordered_target },
	{ "busy_target", role_busy_target },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "rma", 400, roles);
	test_errors();
	test_state();
	test_span();
	test_matrix();
	test_ordered();
	test_usecache();
	test_busy_target(WAIT_READ, SCIF_RMA_SYNC);
	test_busy_target(WAIT_READ, 0);
	test_busy_target(WAIT_SIGTIMEDWAIT, 0);
	test_busy_target(WAIT_SIGTIMEDWAIT, SCIF_RMA_USECPU);
	test_busy_target(WAIT_COMPUTE, SCIF_RMA_USECPU);
	test_busy_target(WAIT_COMPUTE, 0);
	return h_finish();
}
