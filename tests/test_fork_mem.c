/* SPDX-License-Identifier: MIT */
/*
 * test_fork_mem: registered memory across fork() is the parent's, as with
 * SCIF's pinned pages (issue 8 item 3), and unregistered memory is plain
 * private memory again without a mapping per window (issue 7 item 12).
 *
 * - A child that writes its copy of a registered buffer writes a private
 *   copy: the peer (scif_readfrom and scif_mmap of the window) still sees
 *   the parent's bytes, and the parent's buffer is intact.
 * - The peer's scif_writeto after the fork reaches the parent, not the
 *   child, which keeps the fork-time contents.
 * - A range marked MADV_DONTFORK before (or after) scif_register is absent
 *   in the child: it dies of SIGSEGV reading it (a handler reports the
 *   fault in the other cases).
 * - The child has no mapping of a window's file at all (neither of ours nor
 *   of the peer's), and the inherited endpoint's RMA state is refused there
 *   (ENOTCONN) while the child's own new connection registers and does RMA.
 * - Registering and unregistering 10,000 page-sized windows leaves the
 *   number of lines of /proc/self/maps near where it started.
 *
 * FORK_MEM_MEASURE=1 also prints the cost of fork() (until the child has
 * exited) with 0, 1 MiB and 256 MiB registered.
 */
#include "rma_util.h"

#include <sys/wait.h>

#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)
#define LEN (64 * 4096)
#define LOFF 0x100000
#define ROFF 0x200000

struct child_arg {
	unsigned char *buf;
	uint64_t seed;  /* the content at fork time */
	int up, down;   /* pipes to and from the parent */
	int action;
	scif_epd_t ep;  /* the inherited endpoint */
};

enum { A_WRITE, A_KEEP, A_FAULT, A_FAULT_RAW };

static int child_fn(void *a)
{
	struct child_arg *ca = a;
	int32_t v;

	switch (ca->action) {
	case A_WRITE:
		STEP("child: my copy has the fork-time contents; I write mine");
		EXPECT_PAT(ca->buf, LEN, ca->seed, 0);
		pat_fill(ca->buf, LEN, 999, 0);
		h_put(ca->up, 1);
		CHECK_EQ(h_get(ca->down, &v, 30000), 0);
		STEP("child: my writes are still mine");
		EXPECT_PAT(ca->buf, LEN, 999, 0);
		break;
	case A_KEEP:
		STEP("child: my copy has the fork-time contents");
		EXPECT_PAT(ca->buf, LEN, ca->seed, 0);
		h_put(ca->up, 1);
		CHECK_EQ(h_get(ca->down, &v, 30000), 0);
		STEP("child: the peer's writeto after the fork is not in my copy");
		EXPECT_PAT(ca->buf, LEN, ca->seed, 0);
		STEP("child: no mapping of a window's file is inherited");
		{
			FILE *f = fopen("/proc/self/maps", "r");
			char line[512];
			int n = 0;
			CHECK(f != NULL);
			while (fgets(line, sizeof(line), f))
				if (strstr(line, "memfd:skiff-window-")) {
					h_log("child has %s", line);
					n++;
				}
			fclose(f);
			EXPECT_EQ(n, 0);
		}
		STEP("child: the inherited endpoint's windows are the parent's");
		EXPECT_ERR(scif_register(ca->ep, ca->buf, LEN, 0x300000, RW,
					 SCIF_MAP_FIXED), ENOTCONN);
		EXPECT_ERR(scif_writeto(ca->ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC),
			   ENOTCONN);
		EXPECT_ERR(scif_unregister(ca->ep, LOFF, LEN), ENOTCONN);
		EXPECT_ERR((long)scif_mmap(NULL, LEN, SCIF_PROT_READ, 0, ca->ep,
					   ROFF), ENOTCONN);
		EXPECT_ERR(scif_vreadfrom(ca->ep, ca->buf, LEN, ROFF,
					  SCIF_RMA_SYNC), ENOTCONN);
		{
			int mark;
			EXPECT_ERR(scif_fence_mark(ca->ep, SCIF_FENCE_INIT_SELF,
						   &mark), ENOTCONN);
		}
		break;
	case A_FAULT: {
		uint64_t sum;
		STEP("child: the MADV_DONTFORK range is not here");
		EXPECT_EQ(r_try_read(ca->buf, LEN, &sum), SIGSEGV);
		break;
	}
	case A_FAULT_RAW:
		/* no handler (not even a sanitizer's): the parent sees us die
		 * of SIGSEGV */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		return ca->buf[LEN / 2] == 0x5a ? 3 : 4;
	}
	return 0;
}

static pid_t start_child(struct child_arg *ca, struct h_pipe *up,
			 struct h_pipe *down)
{
	h_pipe_init(up, 0);
	h_pipe_init(down, 0);
	ca->up = up->wr;
	ca->down = down->rd;
	return h_fork(child_fn, ca);
}

/* The peer reads (scif_readfrom and scif_mmap) the parent's bytes. */
static void peer_sees(scif_epd_t ep, uint64_t seed, const char *what)
{
	STEP("%s: the peer's readfrom and scif_mmap see the parent's bytes", what);
	RPC_OK(ep, OP_FILL, ROFF, LEN, 7, 0);
	RPC_OK(ep, OP_READFROM, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
	PEER_PAT(ep, ROFF, LEN, seed, 0);
	EXPECT_EQ(RPC(ep, OP_MMAP_CHECK, LOFF, LEN, SCIF_PROT_READ,
		      (int64_t)seed, 0).ret, 0);
}

static void test_child_writes(int kind)
{
	struct rbuf b;
	struct child_arg ca;
	struct h_pipe up, down;
	scif_epd_t ep;
	pid_t srv, child;
	uint64_t s = 100 + (uint64_t)kind;
	char what[96];

	snprintf(what, sizeof(what), "child writes (%s memory)", kind_name[kind]);
	STEP("%s: set up", what);
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret, ROFF);
	rbuf_alloc(&b, kind, LEN);
	pat_fill(b.addr, LEN, s, 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	peer_sees(ep, s, what);

	ca = (struct child_arg){ .buf = b.addr, .seed = s, .action = A_WRITE,
				 .ep = ep };
	child = start_child(&ca, &up, &down);
	h_get_must(up.rd, 20000); /* it has written its copy */
	STEP("%s: the parent's buffer is intact", what);
	EXPECT_PAT(b.addr, LEN, s, 0);
	peer_sees(ep, s, what);
	STEP("%s: the parent's own RMA reads its bytes", what);
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
	PEER_PAT(ep, ROFF, LEN, s, 0);
	h_put(down.wr, 1);
	EXPECT_CHILD_OK(child, 20000);
	h_pipe_close(&up);
	h_pipe_close(&down);
	peer_sees(ep, s, what);
	EXPECT_EQ(scif_unregister(ep, LOFF, LEN), 0);
	EXPECT_PAT(b.addr, LEN, s, 0);
	r_server_stop(ep, srv);
	rbuf_free(&b);
}

static void test_peer_writes(int kind)
{
	struct rbuf b;
	struct child_arg ca;
	struct h_pipe up, down;
	scif_epd_t ep;
	pid_t srv, child;
	uint64_t s = 200 + (uint64_t)kind;
	char what[96];

	snprintf(what, sizeof(what), "peer writes after fork (%s memory)",
		 kind_name[kind]);
	STEP("%s: set up", what);
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret, ROFF);
	rbuf_alloc(&b, kind, LEN);
	pat_fill(b.addr, LEN, s, 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);

	ca = (struct child_arg){ .buf = b.addr, .seed = s, .action = A_KEEP,
				 .ep = ep };
	child = start_child(&ca, &up, &down);
	h_get_must(up.rd, 20000);
	STEP("%s: the peer's writeto reaches the parent", what);
	RPC_OK(ep, OP_FILL, ROFF, LEN, (int64_t)s + 1, 0);
	RPC_OK(ep, OP_WRITETO, ROFF, LEN, LOFF, SCIF_RMA_SYNC);
	EXPECT_PAT(b.addr, LEN, s + 1, 0);
	STEP("%s: the peer's scif_mmap writes reach the parent", what);
	RPC_OK(ep, OP_MMAP_FILL, LOFF, LEN, (int64_t)s + 2, 0);
	EXPECT_PAT(b.addr, LEN, s + 2, 0);
	h_put(down.wr, 1);
	EXPECT_CHILD_OK(child, 20000);
	h_pipe_close(&up);
	h_pipe_close(&down);
	STEP("%s: the parent's stores still reach the peer", what);
	pat_fill(b.addr, LEN, s + 3, 0);
	peer_sees(ep, s + 3, what);
	r_server_stop(ep, srv);
	rbuf_free(&b);
}

/* @when: 0 MADV_DONTFORK before scif_register, 1 after. */
static void test_dontfork(int when, int kind)
{
	struct rbuf b, nb;
	struct child_arg ca;
	scif_epd_t ep;
	pid_t srv, child;
	int st;
	uint64_t s = 300 + (uint64_t)when * 10 + (uint64_t)kind;
	char what[96];

	snprintf(what, sizeof(what), "MADV_DONTFORK %s scif_register (%s memory)",
		 when ? "after" : "before", kind_name[kind]);
	STEP("%s: set up", what);
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret, ROFF);
	rbuf_alloc(&b, kind, LEN);
	rbuf_alloc(&nb, K_MMAP, LEN); /* registered too, without the advice */
	pat_fill(b.addr, LEN, s, 0);
	pat_fill(nb.addr, LEN, s + 5, 0);
	if (!when)
		CHECK(madvise(b.addr, LEN, MADV_DONTFORK) == 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	CHECK_EQ(scif_register(ep, nb.addr, LEN, LOFF + LEN, RW, SCIF_MAP_FIXED),
		 LOFF + LEN);
	if (when)
		CHECK(madvise(b.addr, LEN, MADV_DONTFORK) == 0);

	STEP("%s: the child faults reading the range (handler)", what);
	ca = (struct child_arg){ .buf = b.addr, .seed = s, .action = A_FAULT,
				 .ep = ep };
	child = h_fork(child_fn, &ca);
	EXPECT_CHILD_OK(child, 20000);

	STEP("%s: the child dies of SIGSEGV reading the range", what);
	ca.action = A_FAULT_RAW;
	child = h_fork(child_fn, &ca);
	st = h_waitpid(child, 20000);
	{
		char sb[64];
		if (!(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV))
			h_log("child: %s", h_status_str(st, sb, sizeof(sb)));
		EXPECT(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	}
	h_forget(child);

	STEP("%s: a range without the advice is copied", what);
	{
		struct h_pipe up, down;
		ca = (struct child_arg){ .buf = nb.addr, .seed = s + 5,
					 .action = A_WRITE, .ep = ep };
		child = start_child(&ca, &up, &down);
		h_get_must(up.rd, 20000);
		EXPECT_PAT(nb.addr, LEN, s + 5, 0);
		h_put(down.wr, 1);
		EXPECT_CHILD_OK(child, 20000);
		h_pipe_close(&up);
		h_pipe_close(&down);
	}
	peer_sees(ep, s, what);
	EXPECT_EQ(scif_unregister(ep, LOFF, 2 * LEN), 0);
	r_server_stop(ep, srv);
	CHECK(madvise(b.addr, LEN, MADV_DOFORK) == 0); /* heap memory is reused */
	rbuf_free(&b);
	rbuf_free(&nb);
}

/* The child makes a connection of its own and uses RMA on it: the library's
 * threads (control service, DMA channels) start again in the child. */
struct own_arg {
	uint16_t port;
	scif_epd_t inherited;
};

static int own_child(void *a)
{
	struct own_arg *oa = a;
	struct rbuf b;
	scif_epd_t ep;
	int mark;

	STEP("child: connect an endpoint of my own");
	EXPECT_ERR(scif_readfrom(oa->inherited, LOFF, LEN, ROFF, SCIF_RMA_SYNC),
		   ENOTCONN);
	ep = h_connect(0, oa->port);
	{
		char c;
		/* the peer's window is registered (its record came first) */
		CHECK_EQ(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), 1);
	}
	rbuf_alloc(&b, K_MMAP, LEN);
	pat_fill(b.addr, LEN, 4242, 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	STEP("child: asynchronous RMA and a fence on my connection");
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, 0), 0);
	EXPECT_EQ(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark), 0);
	EXPECT_EQ(scif_fence_wait(ep, mark), 0);
	memset(b.addr, 0, LEN);
	EXPECT_EQ(scif_readfrom(ep, LOFF, LEN, ROFF, SCIF_RMA_SYNC), 0);
	EXPECT_PAT(b.addr, LEN, 4242, 0);
	EXPECT_EQ(scif_unregister(ep, LOFF, LEN), 0);
	EXPECT_EQ(scif_close(ep), 0);
	rbuf_free(&b);
	return 0;
}

/* The child's own peer: registers a window at ROFF, waits for the end. */
static int role_sink(const char *arg)
{
	scif_epd_t l, ep;
	struct scif_portID peer;
	uint16_t port;
	unsigned char *w;
	char c;

	l = h_listen(0, 4, &port);
	h_put(atoi(arg), port);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	w = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(w != MAP_FAILED);
	CHECK_EQ(scif_register(ep, w, LEN, ROFF, RW, SCIF_MAP_FIXED), ROFF);
	CHECK_EQ(scif_send(ep, "w", 1, SCIF_SEND_BLOCK), 1); /* it is there */
	/* until the connection ends */
	while (scif_recv(ep, &c, 1, SCIF_RECV_BLOCK) == 1)
		;
	scif_close(ep);
	scif_close(l);
	return 0;
}

static void test_child_own_connection(void)
{
	struct rbuf b;
	struct own_arg oa;
	struct h_pipe p;
	scif_epd_t ep;
	pid_t srv, sink, child;
	char fd[16];

	STEP("child's own connection: set up");
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, LEN, ROFF, RW, SCIF_MAP_FIXED, K_MMAP, 0).ret, ROFF);
	rbuf_alloc(&b, K_MMAP, LEN);
	pat_fill(b.addr, LEN, 500, 0);
	CHECK_EQ(scif_register(ep, b.addr, LEN, LOFF, RW, SCIF_MAP_FIXED), LOFF);
	EXPECT_EQ(scif_writeto(ep, LOFF, LEN, ROFF, 0), 0); /* DMA threads run */
	h_pipe_init(&p, 1);
	snprintf(fd, sizeof(fd), "%d", p.wr);
	sink = h_spawn("sink", fd, NULL);
	oa.port = (uint16_t)h_get_must(p.rd, 20000);
	h_pipe_close(&p);
	oa.inherited = ep;
	child = h_fork(own_child, &oa);
	EXPECT_CHILD_OK(child, 30000);
	EXPECT_CHILD_OK(sink, 20000);
	STEP("child's own connection: the parent's window still works");
	peer_sees(ep, 500, "after the child's connection");
	r_server_stop(ep, srv);
	rbuf_free(&b);
}

/* Issue 7 item 12: restoring private memory merges with the neighbours. */
static void test_maps_return(int descending)
{
	enum { N = 10000 };
	unsigned char *buf;
	scif_epd_t ep;
	pid_t srv;
	int before, during, after;
	int64_t t0;

	STEP("10,000 page-sized windows (%s): set up",
	     descending ? "descending" : "ascending");
	ep = r_server(&srv);
	buf = mmap(NULL, N * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	for (size_t i = 0; i < N; i++)
		buf[i * PG] = (unsigned char)(i * 7 + 1);
	before = h_count_maps();
	t0 = h_now_ns();
	for (int k = 0; k < N; k++) {
		size_t i = descending ? (size_t)(N - 1 - k) : (size_t)k;
		CHECK_EQ(scif_register(ep, buf + i * PG, PG, (off_t)(LOFF + i * PG),
				       RW, SCIF_MAP_FIXED), LOFF + i * PG);
	}
	during = h_count_maps();
	STEP("10,000 page-sized windows: unregister");
	EXPECT_EQ(scif_unregister(ep, LOFF, N * PG), 0);
	after = h_count_maps();
	h_log("maps lines: %d before, %d registered, %d after unregister (%lld ms)",
	      before, during, after, (long long)h_ms_since(t0));
	EXPECT_GT(during, before + N);
	/* not one per window; a little slack for the allocator's own
	 * mappings (a sanitizer's grow by dozens here) */
	EXPECT_LE(after, before + N / 100);
	for (size_t i = 0; i < N; i++)
		if (buf[i * PG] != (unsigned char)(i * 7 + 1)) {
			EXPECT_EQ(buf[i * PG], (unsigned char)(i * 7 + 1));
			break;
		}
	r_server_stop(ep, srv);
	CHECK(munmap(buf, N * PG) == 0);
}

static int measure_child(void *a)
{
	(void)a;
	return 0;
}

static void measure(void)
{
	static const size_t sizes[] = { 0, 1 << 20, 256 << 20 };
	scif_epd_t ep;
	pid_t srv;

	ep = r_server(&srv);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		unsigned char *m = NULL;
		int64_t best = INT64_MAX, sum = 0;
		enum { R = 20 };

		if (n) {
			m = mmap(NULL, n, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			CHECK(m != MAP_FAILED);
			memset(m, 1, n);
			CHECK_EQ(scif_register(ep, m, n, LOFF, RW, SCIF_MAP_FIXED),
				 LOFF);
		}
		for (int i = 0; i < R; i++) {
			int64_t t = h_now_ns();
			pid_t c = h_fork(measure_child, NULL);
			int64_t d = h_now_ns() - t; /* fork() returned */
			EXPECT_CHILD_OK(c, 20000);
			sum += d;
			if (d < best)
				best = d;
		}
		h_log("fork() with %zu KiB registered: %.2f ms best, %.2f ms mean "
		      "(%d forks)", n >> 10, best / 1e6, sum / 1e6 / R, R);
		if (n) {
			EXPECT_EQ(scif_unregister(ep, LOFF, n), 0);
			munmap(m, n);
		}
	}
	r_server_stop(ep, srv);
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ "sink", role_sink },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "fork_mem", 240, roles);
	for (int kind = 0; kind < K_NKINDS; kind++) {
		test_child_writes(kind);
		test_peer_writes(kind);
		test_dontfork(0, kind);
		test_dontfork(1, kind);
	}
	test_child_own_connection();
	test_maps_return(0);
	test_maps_return(1);
	if (getenv("FORK_MEM_MEASURE"))
		measure();
	return h_finish();
}
