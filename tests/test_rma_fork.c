/* SPDX-License-Identifier: MIT */
/*
 * test_rma_fork: registered windows keep working in the parent after fork(),
 * with or without MADV_DONTFORK (applied before or after registering).
 *
 * The parent registers a buffer, has used asynchronous RMA (so the library's
 * DMA engine runs), and forks a child that
 *   - exits at once, or
 *   - writes to its copy of the buffer and exits, or
 *   - stays alive (holding whatever fork gave it) while the parent works.
 * Afterwards the window and the parent's buffer are still the same memory:
 * the peer reads exactly what the parent's buffer holds, the parent's new
 * stores are read by the peer, the peer's writes appear in the parent's
 * buffer, and the parent's own writeto/readfrom (synchronous and
 * asynchronous + fence) work, all byte for byte.
 *
 * Also: fork first (the child keeps the pages copy-on-write), then register
 * in the parent: the child's copy is unaffected by the peer's writes.
 */
#include "rma_util.h"

#include <sys/wait.h>

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)
#define LEN (64 * 4096)
#define LOFF 0x100000
#define ROFF 0x200000

enum { C_EXIT, C_WRITE, C_STAY };
static const char *const cname[] = { "exits", "writes its copy and exits",
				     "stays alive" };
static const char *const dname[] = { "no MADV_DONTFORK",
				     "MADV_DONTFORK before register",
				     "MADV_DONTFORK after register" };

struct child_arg {
	unsigned char *buf;
	int action;
	int dontfork;
	int rd; /* C_STAY: exit when this pipe reaches EOF */
	int wr; /* C_STAY: "checked" */
	int rd_wr; /* the write end of rd: closed in the child */
	uint64_t seed; /* the content at fork time */
};

static int child_fn(void *a)
{
	struct child_arg *ca = a;

	if (ca->action == C_WRITE) {
		if (ca->dontfork) {
			/* with MADV_DONTFORK the range should not be in the
			 * child at all */
			uint64_t sum;
			int sig = r_try_read(ca->buf, 1, &sum);
			if (ca->dontfork == 2)
				EXPECT_EQ(sig, SIGSEGV);
			else if (sig == 0)
				h_log("note: MADV_DONTFORK given before "
				      "scif_register did not survive it: the "
				      "child has the registered range");
		} else {
			pat_fill(ca->buf, LEN, 999, 0);
		}
	} else if (ca->action == C_STAY) {
		char c;

		close(ca->rd_wr);
		if (!ca->dontfork)
			EXPECT_PAT(ca->buf, LEN, ca->seed, 0);
		h_put(ca->wr, 1);
		while (read(ca->rd, &c, 1) < 0 && errno == EINTR)
			;
	}
	return 0;
}

/* The window and the parent's buffer are the same memory, both directions,
 * and the parent's own RMAs work. */
static void check_window(scif_epd_t ep, unsigned char *buf, uint64_t s,
			 const char *what)
{
	int mark;

	STEP("%s: the peer reads what the parent's buffer holds now", what);
	{
		unsigned char *snap = malloc(LEN), *copy = malloc(LEN);
		CHECK(snap != NULL && copy != NULL);
		memcpy(snap, buf, LEN);
		RPC_OK(ep, OP_READFROM, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
		memset(copy, 0, LEN);
		EXPECT_EQ(scif_vreadfrom(ep, copy, LEN, ROFF, SCIF_RMA_SYNC), 0);
		EXPECT_EQ(memcmp(copy, snap, LEN), 0);
		free(snap);
		free(copy);
	}
	STEP("%s: the parent writes, the peer reads it", what);
	pat_fill(buf, LEN, s, 0);
	RPC_OK(ep, OP_READFROM, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
	PEER_PAT(ep, ROFF, LEN, s, 0);
	RPC_OK(ep, OP_READFROM, ROFF + 5, LEN - 100, LOFF + 3, 0);
	PEER_PAT(ep, ROFF + 5, LEN - 100, s, 3);
	STEP("%s: the peer writes, the parent sees it", what);
	RPC_OK(ep, OP_FILL, ROFF, LEN, (int64_t)s + 1, 0);
	RPC_OK(ep, OP_WRITETO, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
	EXPECT_PAT(buf, LEN, s + 1, 0);
	RPC_OK(ep, OP_FILL, ROFF, LEN, (int64_t)s + 2, 0);
	RPC_OK(ep, OP_WRITETO, ROFF + 7, LEN - 7, LOFF + 7, SCIF_RMA_USECPU);
	EXPECT_PAT(buf + 7, LEN - 7, s + 2, 7);
	STEP("%s: the parent's own RMAs (sync, async + fence)", what);
	pat_fill(buf, LEN, s + 3, 0);
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
	PEER_PAT(ep, ROFF, LEN, s + 3, 0);
	pat_fill(buf, LEN, s + 4, 0);
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, 0), 0);
	EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	PEER_PAT(ep, ROFF, LEN, s + 4, 0);
	RPC_OK(ep, OP_FILL, ROFF, LEN, (int64_t)s + 5, 0);
	EXPECT_EQ(scif_readfrom(ep, LOFF + 1, LEN - 1, ROFF + 1, 0), 0);
	EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	EXPECT_PAT(buf + 1, LEN - 1, s + 5, 1);
	EXPECT_EQ(buf[0], pat(s + 4, 0));
}

static void one_case(int dontfork, int action, int kind)
{
	struct rbuf b;
	struct child_arg ca;
	struct h_pipe p, up;
	scif_epd_t ep;
	pid_t srv, child;
	int mark;
	uint64_t s = 1000 + (uint64_t)dontfork * 100 + (uint64_t)action * 10 +
		     (uint64_t)kind;
	char what[160];

	snprintf(what, sizeof(what), "%s, child %s, %s memory", dname[dontfork],
		 cname[action], kind_name[kind]);
	STEP("%s: set up", what);
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret, ROFF);
	rbuf_alloc(&b, kind, LEN);
	pat_fill(b.addr, LEN, s, 0);
	if (dontfork == 1)
		CHECK(madvise(b.addr, LEN, MADV_DONTFORK) == 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	if (dontfork == 2)
		CHECK(madvise(b.addr, LEN, MADV_DONTFORK) == 0);
	STEP("%s: async RMA before the fork", what);
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, 0), 0);
	EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	PEER_PAT(ep, ROFF, LEN, s, 0);
	EXPECT_PAT(b.addr, LEN, s, 0);

	STEP("%s: fork", what);
	h_pipe_init(&p, 0);
	h_pipe_init(&up, 0);
	ca = (struct child_arg){ .buf = b.addr, .action = action,
				 .dontfork = dontfork, .rd = p.rd, .wr = up.wr,
				 .rd_wr = p.wr, .seed = s };
	child = h_fork(child_fn, &ca);
	close(p.rd);
	p.rd = -1;
	if (action == C_STAY)
		h_get_must(up.rd, 10000); /* it looked at its copy */
	h_pipe_close(&up);
	if (action != C_STAY) {
		EXPECT_CHILD_OK(child, 20000);
		if (action == C_WRITE && !dontfork) {
			size_t bad = pat_check(b.addr, LEN, s, 0, NULL);
			h_log("%s: %zu of %d bytes of the parent's buffer changed by "
			      "the child's writes", what, bad, LEN);
		}
	}
	check_window(ep, b.addr, s + 50, what);
	if (action == C_STAY) {
		STEP("%s: the child exits after the parent's work", what);
		h_pipe_close(&p);
		EXPECT_CHILD_OK(child, 20000);
		check_window(ep, b.addr, s + 70, what);
	} else {
		h_pipe_close(&p);
	}
	STEP("%s: another fork, the child exits at once", what);
	ca.action = C_EXIT;
	child = h_fork(child_fn, &ca);
	EXPECT_CHILD_OK(child, 20000);
	check_window(ep, b.addr, s + 90, what);
	r_server_stop(ep, srv);
	if (dontfork) /* heap memory is reused: give the advice back */
		CHECK(madvise(b.addr, LEN, MADV_DOFORK) == 0);
	rbuf_free(&b);
}

/* Fork first, then register: the child's copy stays its own. */
struct cow_arg {
	unsigned char *buf;
	int rd, wr;
	uint64_t seed;
};

static int cow_child(void *a)
{
	struct cow_arg *ca = a;
	int32_t v;

	h_put(ca->wr, 1); /* forked */
	CHECK_EQ(h_get(ca->rd, &v, 30000), 0);
	STEP("fork-then-register child: my copy is the fork-time content");
	EXPECT_PAT(ca->buf, LEN, ca->seed, 0);
	return 0;
}

static void test_fork_then_register(void)
{
	struct rbuf b;
	struct h_pipe up, down;
	struct cow_arg ca;
	scif_epd_t ep;
	pid_t srv, child;

	for (int kind = 0; kind < K_NKINDS; kind++) {
		STEP("fork, then register in the parent (%s memory)", kind_name[kind]);
		rbuf_alloc(&b, kind, LEN);
		pat_fill(b.addr, LEN, 2000 + (uint64_t)kind, 0);
		h_pipe_init(&up, 0);
		h_pipe_init(&down, 0);
		ca = (struct cow_arg){ .buf = b.addr, .rd = down.rd, .wr = up.wr,
				       .seed = 2000 + (uint64_t)kind };
		child = h_fork(cow_child, &ca);
		h_get_must(up.rd, 10000);
		ep = r_server(&srv);
		CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret,
			 ROFF);
		CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
		EXPECT_PAT(b.addr, LEN, 2000 + (uint64_t)kind, 0);
		check_window(ep, b.addr, 2100 + (uint64_t)kind * 10, "fork then register");
		h_put(down.wr, 1);
		EXPECT_CHILD_OK(child, 20000);
		r_server_stop(ep, srv);
		h_pipe_close(&up);
		h_pipe_close(&down);
		rbuf_free(&b);
	}
}

/* After unregister (or close) the range must be ordinary private memory
 * again: a later fork() child gets a copy, not the parent's pages. */
struct priv_arg {
	unsigned char *buf;
	int rd, wr;
	uint64_t seed;
};

static int priv_child(void *a)
{
	struct priv_arg *pa = a;
	int32_t v;

	STEP("private-after-unregister child: my copy, then my writes");
	EXPECT_PAT(pa->buf, LEN, pa->seed, 0);
	pat_fill(pa->buf, LEN, 999, 0);
	h_put(pa->wr, 1);
	CHECK_EQ(h_get(pa->rd, &v, 30000), 0);
	STEP("private-after-unregister child: the parent's writes are not mine");
	EXPECT_PAT(pa->buf, LEN, 999, 0);
	return 0;
}

static void test_private_after_unregister(void)
{
	static const char *const how[] = { "scif_unregister", "scif_close" };

	for (int k = 0; k < 2; k++)
		for (int kind = 0; kind < K_NKINDS; kind++) {
			struct rbuf b;
			struct h_pipe up, down;
			struct priv_arg pa;
			scif_epd_t ep;
			pid_t srv, child;
			uint64_t s = 3000 + (uint64_t)k * 10 + (uint64_t)kind;

			STEP("after %s (%s memory): fork gives a private copy", how[k],
			     kind_name[kind]);
			rbuf_alloc(&b, kind, LEN);
			pat_fill(b.addr, LEN, s, 0);
			ep = r_server(&srv);
			CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP,
				     0).ret, ROFF);
			CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW,
					       SCIF_MAP_FIXED), LOFF);
			RPC_OK(ep, OP_READFROM, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
			PEER_PAT(ep, ROFF, LEN, s, 0);
			if (k == 0) {
				EXPECT_EQ(scif_unregister(ep, LOFF, LEN), 0);
				r_server_stop(ep, srv);
			} else {
				EXPECT_EQ(scif_close(ep), 0);
				EXPECT_CHILD_OK(srv, 20000);
			}
			EXPECT_PAT(b.addr, LEN, s, 0);
			h_pipe_init(&up, 0);
			h_pipe_init(&down, 0);
			pa = (struct priv_arg){ .buf = b.addr, .rd = down.rd,
						.wr = up.wr, .seed = s };
			child = h_fork(priv_child, &pa);
			h_get_must(up.rd, 10000);
			STEP("after %s (%s memory): the child's writes did not reach "
			     "the parent", how[k], kind_name[kind]);
			{
				long f;
				size_t bad = pat_check(b.addr, LEN, s, 0, &f);
				if (bad)
					h_log("after %s: %zu bytes of the parent's "
					      "buffer were changed by the child",
					      how[k], bad);
				EXPECT_EQ(bad, 0);
			}
			pat_fill(b.addr, LEN, 555, 0);
			h_put(down.wr, 1);
			EXPECT_CHILD_OK(child, 20000);
			EXPECT_PAT(b.addr, LEN, 555, 0);
			h_pipe_close(&up);
			h_pipe_close(&down);
			rbuf_free(&b);
		}

	STEP("heap memory registered, unregistered and freed; then many "
	     "fork+exec (whose children malloc before exec)");
	{
		struct rbuf b;
		scif_epd_t ep;
		pid_t srv;

		ep = r_server(&srv);
		for (int i = 0; i < 8; i++) {
			size_t n = (size_t)(1 + i) * PG;
			rbuf_alloc(&b, K_MALLOC, n);
			pat_fill(b.addr, n, (uint64_t)i, 0);
			CHECK(scif_register(ep, b.addr, n, 0, RW, 0) !=
			      SCIF_REGISTER_FAILED);
			rbuf_free(&b); /* still registered: the user's business */
		}
		EXPECT_EQ(scif_close(ep), 0);
		EXPECT_CHILD_OK(srv, 20000);
		for (int i = 0; i < 10; i++) {
			void *junk[64];
			for (int j = 0; j < 64; j++) {
				junk[j] = malloc(100 + (size_t)j * 97);
				CHECK(junk[j] != NULL);
				memset(junk[j], j, 100 + (size_t)j * 97);
			}
			STEP("fork+exec round %d after freeing registered heap memory",
			     i);
			ep = r_server(&srv);
			r_server_stop(ep, srv);
			for (int j = 0; j < 64; j++)
				free(junk[j]);
		}
	}
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "rma_fork", 240, roles);
	for (int d = 0; d < 3; d++)
		for (int a = 0; a < 3; a++)
			one_case(d, a, (d + a) % K_NKINDS);
	test_fork_then_register();
	test_private_after_unregister();
	return h_finish();
}
