/* SPDX-License-Identifier: MIT */
/*
 * test_register: scif_register / scif_unregister semantics, across processes
 * (the peer is a re-executed copy of this program running the "server" role
 * of rma_util.h; it reads and writes our windows with RMA and reports what it
 * saw byte for byte).
 *
 * - argument errors (EINVAL), endpoint state (ENOTCONN, ECONNRESET), bad epd
 *   (EBADF/ENOTTY);
 * - SCIF_MAP_FIXED at 0x80000, 0x100000000 and at the buffer's own address;
 *   overlaps give EADDRINUSE and change nothing; without MAP_FIXED a free
 *   page-aligned offset is chosen that overlaps nothing;
 * - malloc / posix_memalign / anonymous mmap memory, touched or not: the
 *   owner's view is unchanged by registering (also the bytes around the
 *   range), later owner writes are seen by the peer, peer writes by the owner;
 * - the same pages in several windows and on several endpoints;
 * - scif_unregister removes only whole windows (EINVAL when cutting one,
 *   nothing removed), ENXIO where nothing is registered, EINVAL for a
 *   negative offset; offsets are reusable afterwards;
 * - scif_close unregisters everything (no descriptors leak over many rounds).
 */
#include "rma_util.h"

#include <fcntl.h>
#include <limits.h>

/* The peer reads [roff, roff+len) of our space and checks it against
 * (seed, base), using its scratch window at @scratch. */
static void peer_reads(scif_epd_t ep, off_t scratch, off_t roff, size_t len,
		       uint64_t seed, uint64_t base)
{
	RPC_OK(ep, OP_READFROM, scratch, (int64_t)len, roff, SCIF_RMA_SYNC);
	PEER_PAT(ep, scratch, len, seed, base);
}

/* The peer writes (seed, base) into [roff, roff+len) of our space. */
static void peer_writes(scif_epd_t ep, off_t scratch, off_t roff, size_t len,
			uint64_t seed, uint64_t base)
{
	RPC_OK(ep, OP_FILL, scratch, (int64_t)len, (int64_t)seed, (int64_t)base);
	RPC_OK(ep, OP_WRITETO, scratch, (int64_t)len, roff, SCIF_RMA_SYNC);
}

static off_t peer_scratch(scif_epd_t ep, size_t len)
{
	struct r_rep r = RPC(ep, OP_REG, (int64_t)len, 0,
			     SCIF_PROT_READ | SCIF_PROT_WRITE, 0, K_MMAP, 0);
	CHECK_GE(r.ret, 0);
	return (off_t)r.ret;
}

static void test_not_connected(void)
{
	struct rbuf b;
	scif_epd_t a;
	int fds[2];

	rbuf_alloc(&b, K_MMAP, 4 * PG);
	pat_fill(b.addr, 4 * PG, 1, 0);

	STEP("register/unregister on a fresh endpoint: ENOTCONN");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_register(a, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		   ENOTCONN);
	EXPECT_ERR(scif_register(a, b.addr, 4 * PG, 0x80000,
				 SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED),
		   ENOTCONN);
	EXPECT_ERR(scif_unregister(a, 0x80000, 4 * PG), ENOTCONN);
	STEP("... bound: ENOTCONN");
	CHECK_OK(scif_bind(a, 0));
	EXPECT_ERR(scif_register(a, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		   ENOTCONN);
	EXPECT_ERR(scif_unregister(a, 0x80000, 4 * PG), ENOTCONN);
	STEP("... listening: ENOTCONN");
	CHECK_OK(scif_listen(a, 1));
	EXPECT_ERR(scif_register(a, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		   ENOTCONN);
	EXPECT_ERR(scif_unregister(a, 0x80000, 4 * PG), ENOTCONN);
	CHECK_EQ(scif_close(a), 0);

	STEP("bad epd: EBADF or ENOTTY");
	EXPECT_ERR2(scif_register(-1, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		    EBADF, ENOTTY);
	EXPECT_ERR2(scif_register(99999, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		    EBADF, ENOTTY);
	EXPECT_ERR2(scif_unregister(-1, 0, PG), EBADF, ENOTTY);
	EXPECT_ERR2(scif_unregister(99999, 0, PG), EBADF, ENOTTY);
	CHECK(pipe(fds) == 0);
	EXPECT_ERR2(scif_register(fds[0], b.addr, 4 * PG, 0, SCIF_PROT_READ, 0),
		    EBADF, ENOTTY);
	EXPECT_ERR2(scif_unregister(fds[0], 0, PG), EBADF, ENOTTY);
	close(fds[0]);
	close(fds[1]);
	STEP("the failed calls left the buffer alone");
	EXPECT_PAT(b.addr, 4 * PG, 1, 0);
	rbuf_free(&b);
}

static void test_args(void)
{
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct rbuf b;
	scif_epd_t ep;
	pid_t pid;
	off_t scratch, big;

	ep = r_server(&pid);
	scratch = peer_scratch(ep, 16 * PG);
	rbuf_alloc(&b, K_MMAP, 16 * PG);
	pat_fill(b.addr, 16 * PG, 2, 0);

	STEP("unaligned addr: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr + 1, 4 * PG, 0, RW, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr + 2048, 4 * PG, 0x80000, RW,
				 SCIF_MAP_FIXED), EINVAL);
	STEP("unaligned or zero len: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG + 1, 0, RW, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 100, 0, RW, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 0, 0, RW, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 0, 0x80000, RW, SCIF_MAP_FIXED),
		   EINVAL);
	STEP("invalid prot: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, 0, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, 4, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, RW | 4, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, 0x100, 0), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, -1, 0), EINVAL);
	STEP("invalid map flags: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, RW, 1), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, RW, 0x40), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, RW, SCIF_MAP_KERNEL),
		   EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0x80000, RW,
				 SCIF_MAP_FIXED | 1), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0, RW, -1), EINVAL);
	STEP("MAP_FIXED with an unaligned offset: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0x80001, RW, SCIF_MAP_FIXED),
		   EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0x80800, RW, SCIF_MAP_FIXED),
		   EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, 0x80ffc, RW, SCIF_MAP_FIXED),
		   EINVAL);
	STEP("MAP_FIXED with a negative offset: EINVAL");
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, -(off_t)PG, RW,
				 SCIF_MAP_FIXED), EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, -1, RW, SCIF_MAP_FIXED),
		   EINVAL);
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, LLONG_MIN, RW,
				 SCIF_MAP_FIXED), EINVAL);
	STEP("MAP_FIXED with offset + len past 2^63: EINVAL");
	big = (off_t)(LLONG_MAX & ~(long long)(PG - 1));
	EXPECT_ERR(scif_register(ep, b.addr, 4 * PG, big, RW, SCIF_MAP_FIXED),
		   EINVAL);
	STEP("the owner's buffer is unchanged by the failed calls");
	EXPECT_PAT(b.addr, 16 * PG, 2, 0);

	STEP("none of the failed calls left a window: the peer sees nothing");
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, 4 * PG, 0x80000, SCIF_RMA_SYNC);
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, 0, SCIF_RMA_SYNC);
	STEP("and 0x80000 is free for a valid MAP_FIXED registration");
	EXPECT_EQ(scif_register(ep, b.addr, 16 * PG, 0x80000, RW, SCIF_MAP_FIXED),
		  0x80000);
	peer_reads(ep, scratch, 0x80000, 16 * PG, 2, 0);
	STEP("READ-only, WRITE-only and READ|WRITE are all valid prot");
	EXPECT_GE(scif_register(ep, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0), 0);
	EXPECT_GE(scif_register(ep, b.addr, 4 * PG, 0, SCIF_PROT_WRITE, 0), 0);
	EXPECT_GE(scif_register(ep, b.addr, 4 * PG, 0, RW, 0), 0);
	r_server_stop(ep, pid);
	rbuf_free(&b);
}

static int overlaps(off_t a, size_t al, off_t b, size_t bl)
{
	return a < b + (off_t)bl && b < a + (off_t)al;
}

static void test_fixed_and_free(void)
{
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct rbuf b1, b2, b3, bx;
	scif_epd_t ep;
	pid_t pid;
	off_t scratch, own, o;
	struct {
		off_t off;
		size_t len;
	} used[64];
	int nused = 0;

	ep = r_server(&pid);
	scratch = peer_scratch(ep, 16 * PG);
	rbuf_alloc(&b1, K_MMAP, 4 * PG);
	rbuf_alloc(&b2, K_MEMALIGN, 3 * PG);
	rbuf_alloc(&b3, K_MALLOC, 2 * PG);
	rbuf_alloc(&bx, K_MMAP, 8 * PG);
	pat_fill(b1.addr, 4 * PG, 11, 0);
	pat_fill(b2.addr, 3 * PG, 12, 0);
	pat_fill(b3.addr, 2 * PG, 13, 0);
	pat_fill(bx.addr, 8 * PG, 14, 0);

	STEP("MAP_FIXED at 0x80000");
	EXPECT_EQ(scif_register(ep, b1.addr, 4 * PG, 0x80000, RW, SCIF_MAP_FIXED),
		  0x80000);
	STEP("MAP_FIXED at 0x100000000");
	EXPECT_EQ(scif_register(ep, b2.addr, 3 * PG, 0x100000000LL, RW,
				SCIF_MAP_FIXED), 0x100000000LL);
	STEP("MAP_FIXED at the buffer's own address");
	own = (off_t)(uintptr_t)b3.addr;
	EXPECT_EQ(scif_register(ep, b3.addr, 2 * PG, own, RW, SCIF_MAP_FIXED), own);
	used[nused].off = 0x80000, used[nused++].len = 4 * PG;
	used[nused].off = 0x100000000LL, used[nused++].len = 3 * PG;
	used[nused].off = own, used[nused++].len = 2 * PG;

	STEP("registering left the owner's buffers unchanged");
	EXPECT_PAT(b1.addr, 4 * PG, 11, 0);
	EXPECT_PAT(b2.addr, 3 * PG, 12, 0);
	EXPECT_PAT(b3.addr, 2 * PG, 13, 0);
	STEP("the peer reads each fixed window byte for byte");
	peer_reads(ep, scratch, 0x80000, 4 * PG, 11, 0);
	peer_reads(ep, scratch, 0x100000000LL, 3 * PG, 12, 0);
	peer_reads(ep, scratch, own, 2 * PG, 13, 0);
	peer_reads(ep, scratch, 0x80000 + PG + 5, 2 * PG, 11, PG + 5);

	STEP("overlapping MAP_FIXED registrations: EADDRINUSE");
	EXPECT_ERR(scif_register(ep, bx.addr, PG, 0x80000, RW, SCIF_MAP_FIXED),
		   EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, 2 * PG, 0x80000 + 3 * PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, 2 * PG, 0x80000 - PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, 8 * PG, 0x80000 - PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, PG, 0x80000 + 2 * PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, 2 * PG, 0x100000000LL - PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	EXPECT_ERR(scif_register(ep, bx.addr, PG, own + (off_t)PG, RW,
				 SCIF_MAP_FIXED), EADDRINUSE);
	STEP("the failed overlaps changed nothing");
	peer_reads(ep, scratch, 0x80000, 4 * PG, 11, 0);
	peer_reads(ep, scratch, 0x100000000LL, 3 * PG, 12, 0);
	EXPECT_PAT(bx.addr, 8 * PG, 14, 0);

	STEP("adjacent MAP_FIXED windows are fine");
	EXPECT_EQ(scif_register(ep, bx.addr, PG, 0x80000 + 4 * PG, RW,
				SCIF_MAP_FIXED), 0x80000 + 4 * PG);
	EXPECT_EQ(scif_register(ep, bx.addr + PG, PG, 0x80000 - PG, RW,
				SCIF_MAP_FIXED), 0x80000 - PG);
	used[nused].off = 0x80000 + 4 * PG, used[nused++].len = PG;
	used[nused].off = 0x80000 - PG, used[nused++].len = PG;
	STEP("the peer reads across the three contiguous windows");
	peer_reads(ep, scratch, 0x80000 + 3 * PG, PG, 11, 3 * PG);
	/* [0x80000-PG: bx+PG][0x80000: b1 x4][+4PG: bx] */
	RPC_OK(ep, OP_READFROM, scratch, 6 * PG, 0x80000 - PG, SCIF_RMA_SYNC);
	PEER_PAT(ep, scratch, PG, 14, PG);
	PEER_PAT(ep, scratch + PG, 4 * PG, 11, 0);
	PEER_PAT(ep, scratch + 5 * PG, PG, 14, 0);

	STEP("without MAP_FIXED: free, page-aligned, non-overlapping offsets");
	for (int i = 0; i < 24; i++) {
		size_t len = (size_t)(1 + i % 5) * PG;
		off_t hint = i % 3 == 0 ? 0 : i % 3 == 1 ? 0x80000 : 0x80001 + i;

		errno = 0;
		o = scif_register(ep, bx.addr, len, hint, RW, 0);
		if (o == SCIF_REGISTER_FAILED) {
			h_fail_err(__FILE__, __LINE__, "scif_register(no MAP_FIXED)",
				   -1, errno, "success", 0);
			continue;
		}
		EXPECT_GE(o, 0);
		EXPECT_EQ(o & (off_t)(PG - 1), 0);
		for (int j = 0; j < nused; j++)
			if (overlaps(o, len, used[j].off, used[j].len)) {
				h_log("window %d at 0x%llx+%zu overlaps 0x%llx+%zu", i,
				      (long long)o, len, (long long)used[j].off,
				      used[j].len);
				EXPECT(!"chosen offset overlaps no window");
			}
		if (nused < 64) {
			used[nused].off = o;
			used[nused++].len = len;
		}
		if (i == 7) {
			STEP("a chosen window holds the owner's data");
			peer_reads(ep, scratch, o, len, 14, 0);
		}
	}

	STEP("owner writes after registering are seen by the peer");
	pat_fill(b1.addr, 4 * PG, 21, 0);
	pat_fill(b3.addr, 2 * PG, 23, 0);
	peer_reads(ep, scratch, 0x80000, 4 * PG, 21, 0);
	peer_reads(ep, scratch, own, 2 * PG, 23, 0);
	STEP("peer writes are seen by the owner");
	peer_writes(ep, scratch, 0x100000000LL + 7, 3 * PG - 9, 31, 0);
	EXPECT_EQ(b2.addr[6], pat(12, 6));
	EXPECT_PAT(b2.addr + 7, 3 * PG - 9, 31, 0);
	EXPECT_PAT(b2.addr + 3 * PG - 2, 2, 12, 3 * PG - 2);
	r_server_stop(ep, pid);
	rbuf_free(&b1);
	rbuf_free(&b2);
	rbuf_free(&b3);
	rbuf_free(&bx);
}

static void test_memory_kinds(void)
{
	static const size_t npages[] = { 1, 3, 64, 300 };
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	scif_epd_t ep;
	pid_t pid;
	off_t scratch;
	uint64_t seed = 100;

	ep = r_server(&pid);
	scratch = peer_scratch(ep, 300 * PG);
	for (int k = 0; k < K_NKINDS; k++)
		for (unsigned s = 0; s < sizeof(npages) / sizeof(npages[0]); s++)
			for (int touched = 0; touched < 2; touched++) {
				size_t len = npages[s] * PG;
				struct rbuf b;
				off_t o;
				unsigned char *raw;
				size_t pre, post;

				if (!touched && k != K_MMAP)
					continue; /* only mmap is known zero */
				seed++;
				STEP("%s, %zu pages, %s: register", kind_name[k],
				     npages[s], touched ? "filled" : "untouched");
				rbuf_alloc(&b, k, len);
				raw = b.kind == K_MMAP ? b.addr : b.raw;
				pre = (size_t)(b.addr - raw);
				post = b.kind == K_MMAP ? 0 : b.rawlen - pre - len;
				if (touched)
					pat_fill(raw, pre + len + post, seed, 0);
				o = scif_register(ep, b.addr, len, 0, RW, 0);
				if (o == SCIF_REGISTER_FAILED) {
					h_fail_err(__FILE__, __LINE__, "scif_register",
						   -1, errno, "success", 0);
					rbuf_free(&b);
					continue;
				}
				STEP("%s, %zu pages, %s: owner's view unchanged",
				     kind_name[k], npages[s],
				     touched ? "filled" : "untouched");
				if (touched) {
					/* also the bytes around the range */
					EXPECT_PAT(raw, pre + len + post, seed, 0);
				} else {
					size_t nz = 0;
					for (size_t i = 0; i < len; i++)
						nz += b.addr[i] != 0;
					EXPECT_EQ(nz, 0);
				}
				STEP("%s, %zu pages: the peer reads it", kind_name[k],
				     npages[s]);
				if (touched) {
					peer_reads(ep, scratch, o, len, seed, pre);
				} else {
					/* zeros: compare with a zero fill */
					RPC_OK(ep, OP_FILL, scratch, (int64_t)len, 77, 0);
					RPC_OK(ep, OP_READFROM, scratch, (int64_t)len, o,
					       SCIF_RMA_SYNC);
					struct r_rep r = RPC(ep, OP_CHECK, scratch,
							     (int64_t)len, 77, 0);
					/* every byte changed from pattern 77 to 0,
					 * except where the pattern was 0 already */
					size_t zeros = 0;
					for (size_t i = 0; i < len; i++)
						zeros += pat(77, i) == 0;
					EXPECT_EQ(r.ret, (int64_t)(len - zeros));
				}
				STEP("%s, %zu pages: owner writes, peer reads",
				     kind_name[k], npages[s]);
				pat_fill(b.addr, len, seed + 1000, 0);
				peer_reads(ep, scratch, o, len, seed + 1000, 0);
				STEP("%s, %zu pages: peer writes, owner reads",
				     kind_name[k], npages[s]);
				peer_writes(ep, scratch, o, len, seed + 2000, 0);
				EXPECT_PAT(b.addr, len, seed + 2000, 0);
				if (touched && k != K_MMAP) {
					EXPECT_PAT(raw, pre, seed, 0);
					EXPECT_PAT(b.addr + len, post, seed, pre + len);
				}
				STEP("%s, %zu pages: unregister, the owner keeps it",
				     kind_name[k], npages[s]);
				EXPECT_EQ(scif_unregister(ep, o, len), 0);
				EXPECT_PAT(b.addr, len, seed + 2000, 0);
				pat_fill(b.addr, len, seed + 3000, 0);
				EXPECT_PAT(b.addr, len, seed + 3000, 0);
				rbuf_free(&b);
			}
	STEP("malloc still works after freeing registered memory");
	for (int i = 0; i < 100; i++) {
		size_t n = 1000 + (size_t)i * 777;
		unsigned char *p = malloc(n);
		CHECK(p != NULL);
		pat_fill(p, n, (uint64_t)i, 0);
		EXPECT_PAT(p, n, (uint64_t)i, 0);
		free(p);
	}
	r_server_stop(ep, pid);
}

static void test_shared_pages(void)
{
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	scif_epd_t e1, e2;
	pid_t p1, p2;
	off_t s1, s2, x, y, z1, z2;
	struct rbuf b;
	size_t len = 8 * PG;

	e1 = r_server(&p1);
	e2 = r_server(&p2);
	s1 = peer_scratch(e1, len);
	s2 = peer_scratch(e2, len);
	rbuf_alloc(&b, K_MEMALIGN, len);
	pat_fill(b.addr, len, 40, 0);

	STEP("the same pages in two windows of one endpoint");
	x = scif_register(e1, b.addr, len, 0x200000, RW,
			  SCIF_MAP_FIXED);
	EXPECT_EQ(x, 0x200000);
	y = scif_register(e1, b.addr, len, 0, SCIF_PROT_READ, 0);
	EXPECT_GE(y, 0);
	EXPECT(!overlaps(x, len, y, len));
	z1 = scif_register(e1, b.addr + 2 * PG, 2 * PG, 0x300000, RW,
			   SCIF_MAP_FIXED);
	EXPECT_EQ(z1, 0x300000);
	EXPECT_PAT(b.addr, len, 40, 0);
	peer_reads(e1, s1, x, len, 40, 0);
	peer_reads(e1, s1, y, len, 40, 0);
	STEP("a write through one window is seen through the other");
	peer_writes(e1, s1, x + 100, 3 * PG, 41, 0);
	peer_reads(e1, s1, y + 100, 3 * PG, 41, 0);
	/* z1 shows b[2PG, 4PG): the write covered b[100, 3PG+100) */
	peer_reads(e1, s1, 0x300000, PG + 100, 41, 2 * PG - 100);
	peer_reads(e1, s1, 0x300000 + (off_t)PG + 100, PG - 100, 40, 3 * PG + 100);
	EXPECT_PAT(b.addr + 100, 3 * PG, 41, 0);

	STEP("the same pages on a second endpoint");
	z2 = scif_register(e2, b.addr, len, 0x200000, RW, SCIF_MAP_FIXED);
	EXPECT_EQ(z2, 0x200000);
	EXPECT_PAT(b.addr + 100, 3 * PG, 41, 0);
	peer_reads(e2, s2, 0x200000 + 100, 3 * PG, 41, 0);
	STEP("peer 1 writes the first half, peer 2 the second");
	peer_writes(e1, s1, 0x200000, len / 2, 42, 0);
	peer_writes(e2, s2, 0x200000 + (off_t)len / 2, len / 2, 43, 0);
	EXPECT_PAT(b.addr, len / 2, 42, 0);
	EXPECT_PAT(b.addr + len / 2, len / 2, 43, 0);
	STEP("each peer sees what the other wrote");
	peer_reads(e2, s2, 0x200000, len / 2, 42, 0);
	peer_reads(e1, s1, y + (off_t)len / 2, len / 2, 43, 0);
	STEP("the owner writes, both peers see it");
	pat_fill(b.addr, len, 44, 0);
	peer_reads(e1, s1, x, len, 44, 0);
	peer_reads(e2, s2, 0x200000, len, 44, 0);
	STEP("unregistering on one endpoint leaves the other's window");
	EXPECT_EQ(scif_unregister(e1, 0x200000, len), 0);
	RPC_ERR(e1, ENXIO, OP_READFROM, s1, PG, 0x200000, SCIF_RMA_SYNC);
	peer_reads(e1, s1, y, len, 44, 0);
	peer_reads(e2, s2, 0x200000, len, 44, 0);
	r_server_stop(e1, p1);
	STEP("closing one endpoint leaves the other's window");
	peer_writes(e2, s2, 0x200000, len, 45, 0);
	EXPECT_PAT(b.addr, len, 45, 0);
	r_server_stop(e2, p2);
	rbuf_free(&b);
}

static void test_unregister(void)
{
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct rbuf a, b, c, d;
	scif_epd_t ep;
	pid_t pid;
	off_t scratch;

	ep = r_server(&pid);
	scratch = peer_scratch(ep, 8 * PG);
	rbuf_alloc(&a, K_MMAP, 2 * PG);
	rbuf_alloc(&b, K_MMAP, 3 * PG);
	rbuf_alloc(&c, K_MMAP, PG);
	rbuf_alloc(&d, K_MMAP, 2 * PG);
	pat_fill(a.addr, 2 * PG, 51, 0);
	pat_fill(b.addr, 3 * PG, 52, 0);
	pat_fill(c.addr, PG, 53, 0);
	pat_fill(d.addr, 2 * PG, 54, 0);
	/* W1 [0x100000, +2), W2 [0x102000, +3), W3 [0x200000, +1) */
	CHECK_EQ(scif_register(ep, a.addr, 2 * PG, 0x100000, RW, SCIF_MAP_FIXED),
		 0x100000);
	CHECK_EQ(scif_register(ep, b.addr, 3 * PG, 0x102000, RW, SCIF_MAP_FIXED),
		 0x102000);
	CHECK_EQ(scif_register(ep, c.addr, PG, 0x200000, RW, SCIF_MAP_FIXED),
		 0x200000);

	STEP("cutting into a window: EINVAL");
	EXPECT_ERR(scif_unregister(ep, 0x101000, PG), EINVAL);
	EXPECT_ERR(scif_unregister(ep, 0x100000, PG), EINVAL);
	EXPECT_ERR(scif_unregister(ep, 0x101000, 4 * PG), EINVAL);
	STEP("a range holding W1 whole but cutting W2: EINVAL, W1 stays");
	EXPECT_ERR(scif_unregister(ep, 0x100000, 3 * PG), EINVAL);
	EXPECT_ERR(scif_unregister(ep, 0x100000, 4 * PG), EINVAL);
	STEP("a range ending whole but starting inside W1: EINVAL");
	EXPECT_ERR(scif_unregister(ep, 0x101000, 4 * PG), EINVAL);
	STEP("nothing registered there: ENXIO");
	EXPECT_ERR(scif_unregister(ep, 0x300000, PG), ENXIO);
	EXPECT_ERR(scif_unregister(ep, 0x7fff0000, 16 * PG), ENXIO);
	STEP("negative offset: EINVAL");
	EXPECT_ERR(scif_unregister(ep, -(off_t)PG, PG), EINVAL);
	EXPECT_ERR(scif_unregister(ep, -(off_t)PG, 2 * PG), EINVAL);
	STEP("the failed calls removed nothing");
	peer_reads(ep, scratch, 0x100000, 2 * PG, 51, 0);
	peer_reads(ep, scratch, 0x102000, 3 * PG, 52, 0);
	peer_reads(ep, scratch, 0x200000, PG, 53, 0);
	EXPECT_ERR(scif_register(ep, d.addr, PG, 0x101000, RW, SCIF_MAP_FIXED),
		   EADDRINUSE);

	STEP("unregister W1 and W2 in one call");
	EXPECT_EQ(scif_unregister(ep, 0x100000, 5 * PG), 0);
	STEP("the peer can no longer reach them: ENXIO");
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, 0x100000, SCIF_RMA_SYNC);
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, 0x103000, SCIF_RMA_SYNC);
	RPC_ERR(ep, ENXIO, OP_WRITETO, scratch, PG, 0x102000, SCIF_RMA_SYNC);
	peer_reads(ep, scratch, 0x200000, PG, 53, 0);
	STEP("unregistering again: ENXIO");
	EXPECT_ERR(scif_unregister(ep, 0x100000, 5 * PG), ENXIO);
	EXPECT_ERR(scif_unregister(ep, 0x102000, 3 * PG), ENXIO);
	STEP("the owner keeps its memory and contents");
	EXPECT_PAT(a.addr, 2 * PG, 51, 0);
	EXPECT_PAT(b.addr, 3 * PG, 52, 0);
	pat_fill(a.addr, 2 * PG, 55, 0);
	EXPECT_PAT(a.addr, 2 * PG, 55, 0);
	STEP("the offsets can be registered again");
	EXPECT_EQ(scif_register(ep, d.addr, 2 * PG, 0x101000, RW, SCIF_MAP_FIXED),
		  0x101000);
	peer_reads(ep, scratch, 0x101000, 2 * PG, 54, 0);
	EXPECT_EQ(scif_register(ep, a.addr, PG, 0x100000, RW, SCIF_MAP_FIXED),
		  0x100000);
	peer_reads(ep, scratch, 0x100000, PG, 55, 0);
	STEP("unregister exactly one window");
	EXPECT_EQ(scif_unregister(ep, 0x101000, 2 * PG), 0);
	RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, 0x101000, SCIF_RMA_SYNC);
	peer_reads(ep, scratch, 0x100000, PG, 55, 0);
	STEP("a window registered without MAP_FIXED, unregistered by offset");
	{
		off_t o = scif_register(ep, b.addr, 3 * PG, 0, RW, 0);
		EXPECT_GE(o, 0);
		EXPECT_ERR(scif_unregister(ep, o + (off_t)PG, 2 * PG), EINVAL);
		EXPECT_ERR(scif_unregister(ep, o, 2 * PG), EINVAL);
		peer_reads(ep, scratch, o, 3 * PG, 52, 0);
		EXPECT_EQ(scif_unregister(ep, o, 3 * PG), 0);
		RPC_ERR(ep, ENXIO, OP_READFROM, scratch, PG, o, SCIF_RMA_SYNC);
	}
	r_server_stop(ep, pid);
	rbuf_free(&a);
	rbuf_free(&b);
	rbuf_free(&c);
	rbuf_free(&d);
}

static void test_close_unregisters(void)
{
	const int RW = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct rbuf b;
	int base_fds = -1, base_maps = -1;

	rbuf_alloc(&b, K_MMAP, 16 * PG);
	for (int i = 0; i < 24; i++) {
		scif_epd_t ep;
		pid_t pid;
		off_t scratch;

		STEP("round %d: connect, register, peer reads, close", i);
		ep = r_server(&pid);
		scratch = peer_scratch(ep, 16 * PG);
		pat_fill(b.addr, 16 * PG, 60 + (uint64_t)i, 0);
		EXPECT_EQ(scif_register(ep, b.addr, 16 * PG, 0x80000, RW,
					SCIF_MAP_FIXED), 0x80000);
		EXPECT_GE(scif_register(ep, b.addr, 4 * PG, 0, SCIF_PROT_READ, 0), 0);
		EXPECT_GE(scif_register(ep, b.addr + 8 * PG, 8 * PG, 0, RW, 0), 0);
		peer_reads(ep, scratch, 0x80000, 16 * PG, 60 + (uint64_t)i, 0);
		STEP("round %d: close with windows registered", i);
		EXPECT_EQ(scif_close(ep), 0);
		/* the server sees the reset and exits */
		EXPECT_CHILD_OK(pid, 20000);
		STEP("round %d: the buffer is the owner's, unchanged", i);
		EXPECT_PAT(b.addr, 16 * PG, 60 + (uint64_t)i, 0);
		if (i == 3) {
			base_fds = h_count_fds();
			base_maps = h_count_maps();
		}
	}
	STEP("no descriptors or mappings leak over 20 rounds");
	h_log("fds: %d after round 3, %d after round 23; maps %d, %d", base_fds,
	      h_count_fds(), base_maps, h_count_maps());
	EXPECT_LE(h_count_fds(), base_fds + 2);
	EXPECT_LE(h_count_maps(), base_maps + 8);
	rbuf_free(&b);
}

static void test_reset(void)
{
	struct rbuf b;
	scif_epd_t ep;
	pid_t pid;
	char c;

	rbuf_alloc(&b, K_MMAP, 4 * PG);
	ep = r_server(&pid);
	CHECK_EQ(scif_register(ep, b.addr, 2 * PG, 0x80000,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED),
		 0x80000);
	STEP("the peer closes its endpoint");
	RPC(ep, OP_QUIT);
	EXPECT_CHILD_OK(pid, 20000);
	EXPECT_ERR(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), ECONNRESET);
	STEP("register / unregister after the peer closed: ECONNRESET");
	EXPECT_ERR(scif_register(ep, b.addr, 2 * PG, 0x100000,
				 SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED),
		   ECONNRESET);
	EXPECT_ERR(scif_register(ep, b.addr, 2 * PG, 0, SCIF_PROT_READ, 0),
		   ECONNRESET);
	EXPECT_ERR(scif_unregister(ep, 0x80000, 2 * PG), ECONNRESET);
	EXPECT_EQ(scif_close(ep), 0);

	STEP("after the peer was killed: ECONNRESET");
	ep = r_server(&pid);
	CHECK_EQ(scif_register(ep, b.addr, 2 * PG, 0x80000,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED),
		 0x80000);
	CHECK(kill(pid, SIGKILL) == 0);
	h_waitpid(pid, 5000);
	EXPECT_ERR(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_register(ep, b.addr, 2 * PG, 0, SCIF_PROT_READ, 0),
		   ECONNRESET);
	EXPECT_ERR(scif_unregister(ep, 0x80000, 2 * PG), ECONNRESET);
	EXPECT_EQ(scif_close(ep), 0);
	rbuf_free(&b);
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "register", 240, roles);
	test_not_connected();
	test_args();
	test_fixed_and_free();
	test_memory_kinds();
	test_shared_pages();
	test_unregister();
	test_close_unregisters();
	test_reset();
	return h_finish();
}
