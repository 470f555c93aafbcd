/* SPDX-License-Identifier: MIT */
/*
 * test_errno: every exported call of libscif and libmicmem leaves errno as
 * the caller set it when it succeeds, as MPSS's thin ioctl wrappers did
 * (Intel's tutorials set errno = 0, make their calls, and fail if errno is
 * then non-zero).
 *
 * A sentinel goes into errno before each call; after a successful call it
 * must still be there. The workload visits every call in the states where
 * the old code left EAGAIN, ECONNRESET, ENOENT or ECONNREFUSED behind: no
 * daemon, a daemon with a card (node 0 and node 1 processes), a connection
 * with windows and a live mapping of the peer's window, a connection whose
 * peer closed, a window whose range the user replaced with a SCIF_MAP_FIXED
 * scif_mmap, and micmem on a card.
 */
#include "harness.h"

#include <micmem.h>
#include <poll.h>
#include <sys/mman.h>

#define SENTINEL 12345
#define PAGE 4096
#define WIN (4 * PAGE)

static int calls;

/* A call that must succeed and leave errno untouched; its result. */
#define OKE(expr)                                                              \
	({                                                                     \
		errno = SENTINEL;                                              \
		long r_ = (long)(expr);                                        \
		int e_ = errno;                                                \
		calls++;                                                       \
		if (r_ < 0)                                                    \
			h_fail_err(__FILE__, __LINE__, #expr, r_, e_,          \
				   "success", 0);                              \
		else if (e_ != SENTINEL)                                       \
			h_fail_err(__FILE__, __LINE__, #expr, r_, e_,          \
				   "errno left as it was", 0);                 \
		r_;                                                            \
	})

/* The same for calls returning a pointer (@fail on failure). */
#define OKP(expr, fail)                                                        \
	({                                                                     \
		errno = SENTINEL;                                              \
		void *p_ = (expr);                                             \
		int e_ = errno;                                                \
		calls++;                                                       \
		if (p_ == (fail))                                              \
			h_fail_err(__FILE__, __LINE__, #expr, -1, e_,          \
				   "success", 1);                              \
		else if (e_ != SENTINEL)                                       \
			h_fail_err(__FILE__, __LINE__, #expr, 0, e_,           \
				   "errno left as it was", 0);                 \
		p_;                                                            \
	})

/* A call that may fail in this state (the peer is gone); if it succeeds,
 * errno must be untouched. */
#define MAYE(expr)                                                             \
	({                                                                     \
		errno = SENTINEL;                                              \
		long r_ = (long)(expr);                                        \
		int e_ = errno;                                                \
		calls++;                                                       \
		if (r_ >= 0 && e_ != SENTINEL)                                 \
			h_fail_err(__FILE__, __LINE__, #expr, r_, e_,          \
				   "errno left as it was", 0);                 \
		r_;                                                            \
	})

static void *pages(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	memset(p, 0x5a, n);
	return p;
}

/*
 * The peer: connects to node 0 port @arg, registers a window at offset 0,
 * sends 'r', then obeys one-byte commands: 'c' sends three bytes and
 * closes, 'x' exits at once (its endpoint still open: the kernel closes it).
 */
static int role_peer(const char *arg)
{
	scif_epd_t e = h_connect(0, (uint16_t)atoi(arg));
	char *buf = pages(WIN), cmd;

	CHECK_OK(scif_register(e, buf, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED));
	CHECK_EQ(scif_send(e, "r", 1, SCIF_SEND_BLOCK), 1);
	for (;;) {
		if (scif_recv(e, &cmd, 1, SCIF_RECV_BLOCK) != 1)
			return 0; /* our partner closed */
		if (cmd == 'c') {
			CHECK_EQ(scif_send(e, "bye", 3, SCIF_SEND_BLOCK), 3);
			CHECK_OK(scif_close(e));
			return 0;
		}
		if (cmd == 'x')
			_exit(0);
	}
}

/* A process on node 1: nodes as a card sees them, and an endpoint there. */
static int role_card(const char *arg)
{
	uint16_t nodes[8], self = 99;
	scif_epd_t e;

	(void)arg;
	CHECK_EQ(OKE(scif_get_nodeIDs(nodes, 8, &self)), 2);
	CHECK_EQ(self, 1);
	e = (scif_epd_t)OKE(scif_open());
	OKE(scif_bind(e, 0));
	OKE(scif_close(e));
	h_log("%d calls on node 1", calls);
	return h_failures != 0;
}

/* Accept the peer that @pid connects and wait for its 'r'. */
static scif_epd_t accept_peer(scif_epd_t l)
{
	struct scif_portID who;
	scif_epd_t n;
	char c;

	OKE(scif_accept(l, &who, &n, SCIF_ACCEPT_SYNC));
	CHECK_EQ(OKE(scif_recv(n, &c, 1, SCIF_RECV_BLOCK)), 1);
	CHECK_EQ(c, 'r');
	return n;
}

static pid_t spawn_peer(uint16_t port)
{
	char arg[16];

	snprintf(arg, sizeof(arg), "%u", port);
	return h_spawn("peer", arg, NULL);
}

/* Every messaging, poll, window, RMA, fence and mmap call on a live
 * connection; leaves a window and a live mapping of the peer's window. */
static void live_connection(scif_epd_t n, char *buf, void **map)
{
	struct scif_pollepd pe = { .epd = n, .events = SCIF_POLLOUT };
	char tmp[8];
	int mark;
	off_t off;

	STEP("messaging and poll");
	CHECK_EQ(OKE(scif_get_fd(n)), n);
	CHECK_EQ(OKE(scif_poll(&pe, 1, 1000)), 1);
	pe.events = SCIF_POLLIN;
	CHECK_EQ(OKE(scif_poll(&pe, 1, 0)), 0); /* nothing to read: timeout */
	CHECK_EQ(OKE(scif_recv(n, tmp, sizeof(tmp), 0)), 0); /* would block */
	CHECK_EQ(OKE(scif_send(n, "s", 1, 0)), 1);
	CHECK_EQ(OKE(scif_send(n, "s", 1, SCIF_SEND_BLOCK)), 1);
	CHECK_EQ(OKE(scif_send(n, "", 0, 0)), 0);
	CHECK_EQ(OKE(scif_recv(n, tmp, 0, 0)), 0);

	STEP("register, RMA, fences");
	off = OKE(scif_register(n, buf, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
				0));
	OKE(scif_register(n, buf, WIN, 0x100000,
			  SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED));
	OKE(scif_writeto(n, off, PAGE, 0, 0));
	OKE(scif_writeto(n, off, PAGE, 0, SCIF_RMA_SYNC));
	OKE(scif_writeto(n, off, 64, 0, SCIF_RMA_USECPU | SCIF_RMA_ORDERED));
	OKE(scif_readfrom(n, off, PAGE, 0, 0));
	OKE(scif_readfrom(n, off, PAGE, 0, SCIF_RMA_SYNC | SCIF_RMA_USECPU));
	OKE(scif_vwriteto(n, buf + PAGE, PAGE, PAGE, 0));
	OKE(scif_vwriteto(n, buf + PAGE, PAGE, PAGE, SCIF_RMA_USECACHE));
	OKE(scif_vreadfrom(n, buf + PAGE, PAGE, PAGE, SCIF_RMA_SYNC));
	OKE(scif_fence_mark(n, SCIF_FENCE_INIT_SELF, &mark));
	OKE(scif_fence_wait(n, mark));
	OKE(scif_fence_mark(n, SCIF_FENCE_INIT_PEER, &mark));
	OKE(scif_fence_wait(n, mark));
	OKE(scif_fence_signal(n, off, 7, 8, 9,
			      SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL |
				      SCIF_SIGNAL_REMOTE));
	OKE(scif_fence_signal(n, off + 16, 7, 24, 9,
			      SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_LOCAL |
				      SCIF_SIGNAL_REMOTE));
	OKE(scif_unregister(n, 0x100000, WIN));

	STEP("mmap");
	*map = OKP(scif_mmap(NULL, PAGE, SCIF_PROT_READ, 0, n, 0),
		   SCIF_MMAP_FAILED);
	OKE(scif_munmap(*map, PAGE));
	*map = OKP(scif_mmap(NULL, WIN, SCIF_PROT_READ | SCIF_PROT_WRITE, 0, n,
			     0),
		   SCIF_MMAP_FAILED);
	((volatile char *)*map)[0] = 1;
}

static void micmem_calls(void)
{
	struct micmem_range_info info;
	uint64_t size;
	char *buf = pages(WIN);
	void *dm;
	int h;

	STEP("micmem");
	h = (int)OKE(micmem_open());
	OKE(micmem_opendev(h, 0));
	OKE(micmem_devsize(h, &size));
	OKE(micmem_maprange(h, buf, WIN));
	OKE(micmem_rangeinfo(h, buf, &info));
	OKE(micmem_host2dev(h, buf, 0, 0, WIN, MICMEM_SINGLE));
	OKE(micmem_host2dev(h, buf, 0, 0, WIN, MICMEM_DUAL));
	OKE(micmem_host2dev(h, buf, 0, 0, WIN, MICMEM_AUTO));
	OKE(micmem_dev2host(h, buf, 0, 0, WIN, MICMEM_AUTO));
	OKE(micmem_unmaprange(h, buf));
	OKE(micmem_closedev(h));
	OKE(micmem_close(h));
	h = (int)OKE(micmem_open());
	OKE(micmem_opendev(h, 0));
	OKE(micmem_maprange(h, buf, WIN));
	OKE(micmem_close(h)); /* board and range still open */
	dm = OKP(micmem_devmap(0, 0, PAGE, PROT_READ | PROT_WRITE),
		 MICMEM_MAP_FAILED);
	OKE(micmem_devunmap(dm, PAGE));
	munmap(buf, WIN);
}

int main(int argc, char **argv)
{
	static const struct h_role roles[] = {
		{ "peer", role_peer },
		{ "card", role_card },
		{ NULL, NULL },
	};
	uint16_t nodes[8], self = 99, port;
	char *b1, *b2, *b3, tmp[8];
	void *m1, *m2, *m3;
	struct scif_pollepd pe;
	scif_epd_t l, n1, n2, n3;
	pid_t p1, p2, p3, d;

	h_init(argc, argv, "errno", 120, roles);

	STEP("no daemon");
	CHECK_EQ(OKE(scif_get_nodeIDs(nodes, 8, &self)), 1);
	l = (scif_epd_t)OKE(scif_open());
	port = (uint16_t)OKE(scif_bind(l, 0));
	OKE(scif_listen(l, 4));

	/* connection 1: windows and a live mapping of the peer's window,
	 * closed while the peer is alive */
	STEP("connection 1");
	p1 = spawn_peer(port);
	n1 = accept_peer(l);
	b1 = pages(WIN);
	live_connection(n1, b1, &m1);
	STEP("connection 1: close with a window and a live mapping");
	OKE(scif_close(n1));
	CHECK_CHILD_OK(p1, 10000);
	OKE(scif_munmap(m1, WIN)); /* after the endpoint is gone */

	/* connection 2: the peer closes (after sending), then we use what
	 * is left and close our side with a window still registered */
	STEP("connection 2: the peer closes");
	p2 = spawn_peer(port);
	n2 = accept_peer(l);
	b2 = pages(WIN);
	live_connection(n2, b2, &m2);
	STEP("connection 2: the peer closes");
	CHECK_EQ(OKE(scif_send(n2, "c", 1, SCIF_SEND_BLOCK)), 1);
	CHECK_EQ(OKE(scif_recv(n2, tmp, 3, SCIF_RECV_BLOCK)), 3);
	CHECK_CHILD_OK(p2, 10000);
	pe.epd = n2;
	pe.events = SCIF_POLLIN;
	pe.revents = 0;
	OKE(scif_poll(&pe, 1, 5000));
	OKE(scif_munmap(m2, WIN));
	MAYE(scif_unregister(n2, 0, WIN));
	OKE(scif_close(n2));

	/* connection 3: the user maps the peer's window over a registered
	 * range (SCIF_MAP_FIXED), and the peer exits without closing */
	STEP("connection 3: SCIF_MAP_FIXED over a window");
	p3 = spawn_peer(port);
	n3 = accept_peer(l);
	b3 = pages(WIN);
	live_connection(n3, b3, &m3);
	STEP("connection 3: SCIF_MAP_FIXED over a window");
	OKE(scif_munmap(m3, WIN));
	m3 = OKP(scif_mmap(b3, WIN, SCIF_PROT_READ | SCIF_PROT_WRITE,
			   SCIF_MAP_FIXED, n3, 0),
		 SCIF_MMAP_FAILED);
	CHECK(m3 == (void *)b3);
	CHECK_EQ(OKE(scif_send(n3, "x", 1, SCIF_SEND_BLOCK)), 1);
	CHECK_CHILD_OK(p3, 10000);
	OKE(scif_close(n3));
	OKE(scif_munmap(m3, WIN));
	OKE(scif_close(l));

	STEP("a daemon with a card");
	d = h_scifd_start(1);
	CHECK_EQ(OKE(scif_get_nodeIDs(nodes, 8, &self)), 2);
	CHECK_EQ(self, 0);
	{
		const char *env[] = { "SCIF_NODE=1", NULL };
		CHECK_CHILD_OK(h_spawn("card", "", env), 20000);
	}
	micmem_calls();
	h_scifd_stop(d);

	h_log("%d calls on node 0", calls);
	return h_finish();
}
