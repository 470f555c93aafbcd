/* SPDX-License-Identifier: MIT */
/*
 * test_rdv: the single-copy rendezvous of large blocking scif_send/scif_recv
 * (src/lib/rdv.c) keeps SCIF's contract, in separate processes:
 *
 * - bytes arrive in order across ring and rendezvous parts, whatever the
 *   sizes of the sends and the receives (both directions of a connection),
 *   and the rendezvous really carried them;
 * - a blocking send with no receiver queues no more than the ring holds;
 *   a non-blocking send never uses the rendezvous, even with a receiver
 *   waiting;
 * - readiness after a rendezvous is exact (no stale POLLIN, POLLOUT back);
 * - two threads' blocking 1 MiB sends on one endpoint do not interleave;
 * - SCIF_SEND_BLOCK of 1 GiB (SKIFF_TEST_RDV_BIG changes the size);
 * - the peer killed mid-copy (sender, then receiver): the survivor returns
 *   within 1 s, and every byte counted as received is the right one;
 * - where the kernel refuses cross-process copies (seccomp here; another
 *   user when run as root), the ring carries everything and the producer
 *   records why, which scif info shows;
 * - hostile peers: an announcement naming the sender's own memory is
 *   ignored (the canary stays); a peer that holds an announcement busy and
 *   counts a byte now and then cannot keep an interrupted receive inside.
 */
#include "harness.h"

#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "region.h"

#define MiB (1024u * 1024u)
#define UID_OTHER 60001

static inline unsigned char pat(uint64_t pos)
{
	return (unsigned char)(pos ^ (pos >> 8) ^ (pos >> 17) ^ 0x5a);
}

static void fill(unsigned char *b, uint64_t pos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(pos + i);
}

/* Index of the first wrong byte of @b (stream position @pos), or -1. */
static long check_pat(const unsigned char *b, uint64_t pos, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(pos + i))
			return (long)i;
	return -1;
}

static void *big(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* What the producers of this process's connections recorded (region.h):
 * rendezvous made, and why they stopped using it (an errno, or 0). */
struct rdv_stats {
	uint32_t count, off;
	int regions;
};

static struct rdv_stats rdv_stats(void)
{
	struct rdv_stats st = { 0 };
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	CHECK(f != NULL);
	/* the library maps each connection's region whole, from offset 0 */
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		const struct skiff_region_hdr *h;

		if (!strstr(line, "/memfd:skiff-conn") ||
		    sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3 || off)
			continue;
		h = (const struct skiff_region_hdr *)lo;
		if (h->magic != SKIFF_REGION_MAGIC)
			continue;
		for (int i = 0; i < 2; i++) {
			st.count += __atomic_load_n(&h->ring[i].rdv_count, __ATOMIC_RELAXED);
			if (h->ring[i].rdv_off)
				st.off = h->ring[i].rdv_off;
		}
		st.regions++;
	}
	fclose(f);
	return st;
}

static struct skiff_region_hdr *my_region(void);

/* ---- order across ring and rendezvous ------------------------------- */

static const int send_sizes[] = { 1 * MiB, 7, 100000, 4095, 4096, 3 * MiB + 5,
				  64, 200000, 5000, 2 * MiB, 1, 65536 };
static const int recv_sizes[] = { 500000, 1, 2 * MiB, 65536, 123457, 4096,
				  3 * MiB, 10, 777777, 4095 };
#define ORDER_ROUNDS 4

static uint64_t order_total(void)
{
	uint64_t t = 0;

	for (size_t i = 0; i < sizeof(send_sizes) / sizeof(send_sizes[0]); i++)
		t += (uint64_t)send_sizes[i];
	return t * ORDER_ROUNDS;
}

static void order_send(scif_epd_t ep)
{
	unsigned char *b = big(4 * MiB);
	uint64_t pos = 0;

	for (int r = 0; r < ORDER_ROUNDS; r++)
		for (size_t i = 0; i < sizeof(send_sizes) / sizeof(send_sizes[0]); i++) {
			int n = send_sizes[i];

			fill(b, pos, (size_t)n);
			CHECK_EQ(scif_send(ep, b, n, SCIF_SEND_BLOCK), n);
			pos += (uint64_t)n;
		}
	munmap(b, 4 * MiB);
}

static void order_recv(scif_epd_t ep)
{
	unsigned char *b = big(4 * MiB);
	uint64_t pos = 0, total = order_total();

	for (size_t i = 0; pos < total; i = (i + 1) % (sizeof(recv_sizes) / sizeof(recv_sizes[0]))) {
		int n = recv_sizes[i];
		long bad;

		if ((uint64_t)n > total - pos)
			n = (int)(total - pos);
		CHECK_EQ(scif_recv(ep, b, n, SCIF_RECV_BLOCK), n);
		bad = check_pat(b, pos, (size_t)n);
		if (bad >= 0) {
			h_log("byte %llu of the stream is 0x%02x, not 0x%02x",
			      (unsigned long long)(pos + (uint64_t)bad), b[bad],
			      pat(pos + (uint64_t)bad));
			h_fail(__FILE__, __LINE__, "bytes in order", 0, 1);
		}
		pos += (uint64_t)n;
	}
	munmap(b, 4 * MiB);
}

struct child_arg {
	uint16_t port;
	struct h_pipe pipe; /* child -> parent */
	struct h_pipe back; /* parent -> child */
	int mode;
};

/* mode 0: the child receives; 1: the child sends */
static int order_child(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	char x;

	if (ca->mode)
		order_send(ep);
	else
		order_recv(ep);
	if (ca->mode) /* report the rendezvous this sender made */
		h_put(ca->pipe.wr, (int32_t)rdv_stats().count);
	CHECK_EQ(scif_recv(ep, &x, 1, SCIF_RECV_BLOCK), 1);
	scif_close(ep);
	return 0;
}

static void test_order(uint16_t port)
{
	for (int mode = 0; mode < 2; mode++) {
		struct child_arg ca = { .port = port, .mode = mode };
		struct scif_portID peer;
		scif_epd_t l, s;
		int32_t count;
		pid_t pid;

		STEP("order across ring and rendezvous, %s sends",
		     mode ? "connector" : "acceptor");
		h_pipe_init(&ca.pipe, 0);
		l = h_listen(port, 1, NULL);
		pid = h_fork(order_child, &ca);
		CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
		if (mode) {
			order_recv(s);
			count = h_get_must(ca.pipe.rd, 60000);
		} else {
			order_send(s);
			count = (int32_t)rdv_stats().count;
		}
		h_log("%d rendezvous carried part of the stream", count);
		EXPECT_GT(count, 0);
		CHECK_EQ(scif_send(s, "k", 1, SCIF_SEND_BLOCK), 1);
		CHECK_CHILD_OK(pid, 60000);
		scif_close(s);
		scif_close(l);
		h_pipe_close(&ca.pipe);
	}
}

/* ---- the ring bound ---------------------------------------------------- */

static int bound_sender(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(MiB);

	fill(b, 0, MiB);
	h_put(ca->pipe.wr, 1); /* about to send */
	CHECK_EQ(scif_send(ep, b, (int)MiB, SCIF_SEND_BLOCK), (int)MiB);
	h_put(ca->pipe.wr, 2); /* sent */
	scif_close(ep);
	return 0;
}

static void test_bound(uint16_t port)
{
	struct child_arg ca = { .port = port };
	struct scif_portID peer;
	struct skiff_ring_ctl *c;
	struct pollfd p;
	unsigned char *b = big(MiB);
	scif_epd_t l, s;
	int64_t t0;
	int n, got;
	pid_t pid;

	STEP("a blocking send with nobody receiving queues at most the ring");
	h_pipe_init(&ca.pipe, 0);
	l = h_listen(port, 1, NULL);
	pid = h_fork(bound_sender, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 1);
	p = (struct pollfd){ .fd = scif_get_fd(s), .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 30000), 1);
	/* the sender fills the ring (a condition, polled with a deadline:
	 * no event marks it) and then waits: it has not returned, and
	 * nothing went past the ring (no rendezvous without a receiver) */
	c = &my_region()->ring[0]; /* the sender connected: ring 0 */
	t0 = h_now_ns();
	while (__atomic_load_n(&c->head, __ATOMIC_ACQUIRE) -
		       __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE) != 4095) {
		struct timespec ms = { 0, 1000 * 1000 };

		CHECK_LT(h_ms_since(t0), 30000);
		nanosleep(&ms, NULL);
	}
	EXPECT_EQ(h_readable(ca.pipe.rd, 0), 0); /* still blocked */
	EXPECT_EQ(__atomic_load_n(&c->dtotal, __ATOMIC_ACQUIRE), 0);
	got = 0;
	n = scif_recv(s, b + got, (int)MiB - got, SCIF_RECV_BLOCK);
	CHECK_EQ(n, (int)MiB - got);
	EXPECT_EQ(check_pat(b, 0, MiB), -1);
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 2);
	CHECK_CHILD_OK(pid, 30000);
	scif_close(s);
	scif_close(l);
	h_pipe_close(&ca.pipe);
	munmap(b, MiB);
}

/* ---- non-blocking sends with a receiver waiting ------------------------- */

static int nb_receiver(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(MiB);

	h_put(ca->pipe.wr, 1); /* about to receive */
	CHECK_EQ(scif_recv(ep, b, (int)MiB, SCIF_RECV_BLOCK), (int)MiB);
	EXPECT_EQ(check_pat(b, 0, MiB), -1);
	h_put(ca->pipe.wr, 2);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_nonblocking(uint16_t port)
{
	struct child_arg ca = { .port = port };
	struct scif_portID peer;
	unsigned char *b = big(MiB);
	scif_epd_t l, s;
	int sent = 0, maxone = 0;
	pid_t pid;

	STEP("non-blocking sends never queue more than the ring");
	fill(b, 0, MiB);
	h_pipe_init(&ca.pipe, 0);
	l = h_listen(port, 1, NULL);
	pid = h_fork(nb_receiver, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 1);
	while (sent < (int)MiB) {
		int n = scif_send(s, b + sent, (int)MiB - sent, 0);

		CHECK_GE(n, 0);
		if (n > maxone)
			maxone = n;
		if (!n) {
			struct pollfd p = { .fd = scif_get_fd(s), .events = POLLOUT };
			CHECK_EQ(poll(&p, 1, 30000), 1);
		}
		sent += n;
	}
	/* the receiver drains while a call copies, so one call may move
	 * more than the ring, as in SCIF; but never by rendezvous */
	h_log("largest non-blocking send: %d bytes", maxone);
	EXPECT_EQ(rdv_stats().count, 0);
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 2);
	CHECK_CHILD_OK(pid, 30000);
	scif_close(s);
	scif_close(l);
	h_pipe_close(&ca.pipe);
	munmap(b, MiB);
}

/* ---- readiness after a rendezvous -------------------------------------- */

static int poll_child(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(MiB);
	struct pollfd p = { .fd = scif_get_fd(ep), .events = POLLIN | POLLOUT };
	int32_t v;

	for (int i = 0; i < 8; i++) {
		CHECK_EQ(scif_recv(ep, b, (int)MiB, SCIF_RECV_BLOCK), (int)MiB);
		EXPECT_EQ(check_pat(b, (uint64_t)i * MiB, MiB), -1);
	}
	h_put(ca->pipe.wr, 1); /* all received */
	/* the sender has returned too: nothing is readable now */
	CHECK_EQ(h_get(ca->back.rd, &v, 30000), 0);
	CHECK_EQ(poll(&p, 1, 0), 1);
	EXPECT_EQ(p.revents, POLLOUT);
	{
		struct scif_pollepd pe = { .epd = ep, .events = POLLIN };
		EXPECT_EQ(scif_poll(&pe, 1, 0), 0);
	}
	h_put(ca->pipe.wr, 2);
	/* and a later message is */
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 30000), 1);
	EXPECT_EQ(p.revents, POLLIN);
	CHECK_EQ(scif_recv(ep, b, 10, SCIF_RECV_BLOCK), 10);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_poll(uint16_t port)
{
	struct child_arg ca = { .port = port };
	struct scif_portID peer;
	unsigned char *b = big(MiB);
	struct pollfd p;
	scif_epd_t l, s;
	pid_t pid;

	STEP("readiness after rendezvous");
	h_pipe_init(&ca.pipe, 0);
	h_pipe_init(&ca.back, 0);
	l = h_listen(port, 1, NULL);
	pid = h_fork(poll_child, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	for (int i = 0; i < 8; i++) {
		fill(b, (uint64_t)i * MiB, MiB);
		CHECK_EQ(scif_send(s, b, (int)MiB, SCIF_SEND_BLOCK), (int)MiB);
	}
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 1);
	p = (struct pollfd){ .fd = scif_get_fd(s), .events = POLLIN | POLLOUT };
	CHECK_EQ(poll(&p, 1, 0), 1);
	EXPECT_EQ(p.revents, POLLOUT);
	h_put(ca.back.wr, 1);
	CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 2);
	CHECK_EQ(scif_send(s, b, 10, SCIF_SEND_BLOCK), 10);
	CHECK_CHILD_OK(pid, 30000);
	scif_close(s);
	scif_close(l);
	h_pipe_close(&ca.pipe);
	h_pipe_close(&ca.back);
	munmap(b, MiB);
}

/* ---- concurrent blocking senders ---------------------------------------- */

#define CS_THREADS 2
#define CS_RECORDS 8

struct cs_arg {
	scif_epd_t ep;
	unsigned char fill;
};

static void *cs_thread(void *a)
{
	struct cs_arg *c = a;
	unsigned char *b = big(MiB);

	memset(b, c->fill, MiB);
	for (int i = 0; i < CS_RECORDS; i++)
		CHECK_EQ(scif_send(c->ep, b, (int)MiB, SCIF_SEND_BLOCK), (int)MiB);
	munmap(b, MiB);
	return NULL;
}

static int cs_receiver(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(MiB);
	int count[CS_THREADS] = { 0 };

	for (int i = 0; i < CS_THREADS * CS_RECORDS; i++) {
		CHECK_EQ(scif_recv(ep, b, (int)MiB, SCIF_RECV_BLOCK), (int)MiB);
		CHECK(b[0] >= 0x41 && b[0] < 0x41 + CS_THREADS);
		for (size_t j = 1; j < MiB; j++)
			if (b[j] != b[0]) {
				h_log("record %d: byte %zu is 0x%02x, byte 0 0x%02x",
				      i, j, b[j], b[0]);
				h_fail(__FILE__, __LINE__, "records do not interleave", 0, 1);
			}
		count[b[0] - 0x41]++;
	}
	for (int t = 0; t < CS_THREADS; t++)
		EXPECT_EQ(count[t], CS_RECORDS);
	CHECK_EQ(scif_send(ep, "k", 1, SCIF_SEND_BLOCK), 1);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_concurrent(uint16_t port)
{
	struct child_arg ca = { .port = port };
	struct scif_portID peer;
	struct cs_arg c[CS_THREADS];
	pthread_t t[CS_THREADS];
	scif_epd_t l, s;
	pid_t pid;
	char x;

	STEP("%d threads' blocking 1 MiB sends do not interleave", CS_THREADS);
	l = h_listen(port, 1, NULL);
	pid = h_fork(cs_receiver, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	for (int i = 0; i < CS_THREADS; i++) {
		c[i] = (struct cs_arg){ .ep = s, .fill = (unsigned char)(0x41 + i) };
		CHECK(pthread_create(&t[i], NULL, cs_thread, &c[i]) == 0);
	}
	for (int i = 0; i < CS_THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	CHECK_EQ(scif_recv(s, &x, 1, SCIF_RECV_BLOCK), 1);
	CHECK_CHILD_OK(pid, 60000);
	scif_close(s);
	scif_close(l);
}

/* ---- one huge send ------------------------------------------------------ */

static size_t big_size(void)
{
	const char *e = getenv("SKIFF_TEST_RDV_BIG");
	unsigned long long v = e ? strtoull(e, NULL, 0) : 0;

	return v && v <= INT_MAX ? (size_t)v : (size_t)1 << 30;
}

static int huge_receiver(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	size_t n = big_size();
	unsigned char *b = big(n);

	CHECK_EQ(scif_recv(ep, b, (int)n, SCIF_RECV_BLOCK), (int)n);
	/* a sample of every page and the end */
	for (size_t i = 0; i < n; i += 4093)
		if (b[i] != pat(i)) {
			h_log("byte %zu is 0x%02x, not 0x%02x", i, b[i], pat(i));
			h_fail(__FILE__, __LINE__, "1 GiB arrives whole", 0, 1);
		}
	EXPECT_EQ(check_pat(b + n - 4096, n - 4096, 4096), -1);
	CHECK_EQ(scif_send(ep, "k", 1, SCIF_SEND_BLOCK), 1);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_huge(uint16_t port)
{
	struct child_arg ca = { .port = port };
	struct scif_portID peer;
	size_t n = big_size();
	unsigned char *b = big(n);
	scif_epd_t l, s;
	pid_t pid;
	char x;

	STEP("SCIF_SEND_BLOCK of %zu bytes", n);
	fill(b, 0, n);
	l = h_listen(port, 1, NULL);
	pid = h_fork(huge_receiver, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	CHECK_EQ(scif_send(s, b, (int)n, SCIF_SEND_BLOCK), (int)n);
	CHECK_EQ(scif_recv(s, &x, 1, SCIF_RECV_BLOCK), 1);
	CHECK_CHILD_OK(pid, 120000);
	scif_close(s);
	scif_close(l);
	munmap(b, n);
}

/* CPU time of this process so far (every thread) */
static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the peer killed mid-copy -------------------------------------------- */

#define KILL_LEN (256u * MiB)
#define KILL_AT (64u * MiB) /* a byte the copy reaches mid-way */

struct watch {
	volatile unsigned char *byte;
	pid_t victim; /* 0: ourselves */
	int64_t t_kill;
};

/* Kill @victim once the copy has reached the watched byte of our buffer. */
static void *watcher(void *a)
{
	struct watch *w = a;

	while (!*w->byte)
		;
	w->t_kill = h_now_ns();
	kill(w->victim ? w->victim : getpid(), SIGKILL);

	return NULL;
}

static int kill_sender(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(KILL_LEN);

	fill(b, 0, KILL_LEN);
	h_put(ca->pipe.wr, 1);
	scif_send(ep, b, (int)KILL_LEN, SCIF_SEND_BLOCK);
	for (;;) /* killed meanwhile, or killed here */
		pause();
	return 1;
}

static int kill_receiver(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep = h_connect(0, ca->port);
	unsigned char *b = big(KILL_LEN);
	struct watch w = { .byte = b + KILL_AT };
	pthread_t t;

	b[KILL_AT] = 0;
	CHECK(pthread_create(&t, NULL, watcher, &w) == 0);
	h_put(ca->pipe.wr, 1);
	scif_recv(ep, b, (int)KILL_LEN, SCIF_RECV_BLOCK);
	for (;;)
		pause();
	return 1;
}

static void test_kill(uint16_t port)
{
	for (int victim_sends = 1; victim_sends >= 0; victim_sends--) {
		struct child_arg ca = { .port = port };
		struct scif_portID peer;
		unsigned char *b = big(KILL_LEN);
		struct watch w = { .byte = b + KILL_AT };
		scif_epd_t l, s;
		pthread_t t;
		int64_t t_ret;
		int n, e, status;
		pid_t pid;

		STEP("the %s killed mid-rendezvous", victim_sends ? "sender" : "receiver");
		h_pipe_init(&ca.pipe, 0);
		l = h_listen(port, 1, NULL);
		pid = h_fork(victim_sends ? kill_sender : kill_receiver, &ca);
		CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
		CHECK_EQ(h_get_must(ca.pipe.rd, 30000), 1);
		if (victim_sends) {
			w.victim = pid;
			CHECK(pthread_create(&t, NULL, watcher, &w) == 0);
			errno = 0;
			n = scif_recv(s, b, (int)KILL_LEN, SCIF_RECV_BLOCK);
			e = errno;
			t_ret = h_now_ns();
			CHECK(pthread_join(t, NULL) == 0);
			h_log("scif_recv returned %lld ms after the kill",
			      (long long)((t_ret - w.t_kill) / 1000000));
		} else {
			fill(b, 0, KILL_LEN);
			errno = 0;
			n = scif_send(s, b, (int)KILL_LEN, SCIF_SEND_BLOCK);
			e = errno;
			t_ret = h_now_ns();
		}
		status = h_waitpid(pid, 30000);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		h_forget(pid);
		h_log("%s returned %d (%s)", victim_sends ? "scif_recv" : "scif_send",
		      n, n < 0 ? strerror(e) : "a count");
		/* a sender may have finished before the receiver's kill took
		 * effect (its watcher is a thread that must get a CPU) */
		CHECK(n == -1 ? e == ECONNRESET
			      : n >= 0 && (n < (int)KILL_LEN || !victim_sends));
		if (victim_sends) {
			/* the watcher saw the copy reach KILL_AT, then killed:
			 * within 1 s of that, the survivor knew */
			EXPECT_LT((t_ret - w.t_kill) / 1000000, 1000);
			if (n > 0)
				EXPECT_EQ(check_pat(b, 0, (size_t)n), -1);
		}
		/* from now on, every call says the connection is gone */
		EXPECT_ERR(scif_send(s, b, 1, SCIF_SEND_BLOCK), ECONNRESET);
		EXPECT_ERR(scif_recv(s, b, 1, SCIF_RECV_BLOCK), ECONNRESET);
		/* and nothing of ours keeps working on it while we hold it
		 * (the control service once spun on the hung-up socket):
		 * a 300 ms window costs well under 300 ms of CPU */
		{
			struct h_pipe idle;
			int64_t c0 = cpu_ns(), c1;

			h_pipe_init(&idle, 0);
			EXPECT_EQ(h_readable(idle.rd, 300), 0);
			c1 = cpu_ns();
			h_log("CPU while idle with the dead connection open: %lld ms",
			      (long long)((c1 - c0) / 1000000));
			EXPECT_LT((c1 - c0) / 1000000, 150);
			h_pipe_close(&idle);
		}
		scif_close(s);
		scif_close(l);
		h_pipe_close(&ca.pipe);
		munmap(b, KILL_LEN);
	}
}

/* ---- the kernel refuses: the ring carries it ------------------------------ */

/* process_vm_writev fails with EPERM from now on, in this process. */
static void deny_pvw(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_writev, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CHECK_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
}

static int refused_sender(void *a)
{
	struct child_arg *ca = a;
	scif_epd_t ep;
	unsigned char *b = big(MiB);
	struct rdv_stats st;
	char x;

	if (ca->mode) {
		CHECK_OK(setgid(UID_OTHER));
		CHECK_OK(setuid(UID_OTHER));
	} else {
		deny_pvw();
	}
	ep = h_connect(0, ca->port);
	for (int i = 0; i < 4; i++) {
		fill(b, (uint64_t)i * MiB, MiB);
		CHECK_EQ(scif_send(ep, b, (int)MiB, SCIF_SEND_BLOCK), (int)MiB);
	}
	CHECK_EQ(scif_recv(ep, &x, 1, SCIF_RECV_BLOCK), 1);
	st = rdv_stats();
	h_log("after a refusal: %u rendezvous, rdv_off %u (%s)", st.count, st.off,
	      strerror((int)st.off));
	EXPECT_EQ(st.count, 0);
	EXPECT_EQ(st.off, EPERM);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_refused(uint16_t port)
{
	for (int mode = 0; mode < 2; mode++) {
		struct child_arg ca = { .port = port, .mode = mode };
		struct scif_portID peer;
		unsigned char *b = big(MiB);
		scif_epd_t l, s;
		pid_t pid;

		if (mode && geteuid() != 0) {
			h_log("not root: the other-user fallback is skipped");
			munmap(b, MiB);
			break;
		}
		STEP("rendezvous refused (%s): the ring carries it",
		     mode ? "another user" : "seccomp");
		l = h_listen(port, 1, NULL);
		pid = h_fork(refused_sender, &ca);
		CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(scif_recv(s, b, (int)MiB, SCIF_RECV_BLOCK), (int)MiB);
			EXPECT_EQ(check_pat(b, (uint64_t)i * MiB, MiB), -1);
		}
		if (!mode) { /* scif info says why (as root it may read both) */
			char out[8192];
			FILE *f = popen(SCIF_CLI_PATH " info --json", "r");
			size_t n;

			CHECK(f != NULL);
			n = fread(out, 1, sizeof(out) - 1, f);
			out[n] = 0;
			EXPECT_EQ(pclose(f), 0);
			if (!strstr(out, "\"off\":\"EPERM\""))
				h_log("scif info --json: %s", out);
			EXPECT(strstr(out, "\"off\":\"EPERM\"") != NULL);
		}
		CHECK_EQ(scif_send(s, "k", 1, SCIF_SEND_BLOCK), 1);
		CHECK_CHILD_OK(pid, 60000);
		scif_close(s);
		scif_close(l);
		munmap(b, MiB);
	}
}

/* ---- hostile peers ----------------------------------------------------------- */

/* This process's mapping of its (only) connection region, writable: what a
 * hostile peer holding the connection can scribble on. */
static struct skiff_region_hdr *my_region(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	struct skiff_region_hdr *h = NULL;
	char line[512];

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;

		if (strstr(line, "/memfd:skiff-conn") &&
		    sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && !off)
			h = (struct skiff_region_hdr *)lo;
	}
	fclose(f);
	CHECK(h != NULL);
	return h;
}

struct canary_arg {
	uint16_t port;
	struct h_pipe up;
};

/* The victim sends 1 MiB while its peer announces a buffer in the victim's
 * own memory (forged pid and address): nothing may be written there. */
static int canary_victim(void *a)
{
	struct canary_arg *ca = a;
	unsigned char *canary = big(MiB), *b = big(MiB);
	scif_epd_t ep = h_connect(0, ca->port);

	memset(canary, 0xcc, MiB);
	fill(b, 0, MiB);
	h_put(ca->up.wr, (int32_t)getpid());
	h_put(ca->up.wr, (int32_t)((uintptr_t)canary >> 32));
	h_put(ca->up.wr, (int32_t)(uintptr_t)canary);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(scif_send(ep, b, (int)MiB, SCIF_SEND_BLOCK), (int)MiB);
	for (size_t i = 0; i < MiB; i++)
		if (canary[i] != 0xcc) {
			h_log("canary byte %zu is 0x%02x", i, canary[i]);
			h_fail(__FILE__, __LINE__, "a forged announcement is ignored", 0, 1);
		}
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_forged_announcement(uint16_t port)
{
	struct canary_arg ca = { .port = port };
	struct scif_portID peer;
	unsigned char *b = big(MiB);
	struct skiff_region_hdr *h;
	struct skiff_ring_ctl *c;
	scif_epd_t l, s;
	uint64_t addr;
	uint32_t gen = 1;
	int32_t vpid;
	pid_t pid;

	STEP("a peer announcing the sender's own memory gets the ring");
	h_pipe_init(&ca.up, 0);
	l = h_listen(port, 1, NULL);
	pid = h_fork(canary_victim, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	vpid = h_get_must(ca.up.rd, 30000);
	addr = (uint64_t)(uint32_t)h_get_must(ca.up.rd, 30000) << 32;
	addr |= (uint32_t)h_get_must(ca.up.rd, 30000);
	h = my_region();
	c = &h->ring[0]; /* the victim connected: it produces ring 0 */
	for (int i = 0; i < 4; i++) {
		int got = 0;

		/* announce the victim's canary, as pid and buffer, for the
		 * whole MiB, then take the bytes from the ring */
		__atomic_store_n(&c->rdv_state, 0, __ATOMIC_RELEASE);
		c->rdv_pid = (uint32_t)vpid;
		c->rdv_addr = addr;
		c->rdv_len = MiB;
		c->rdv_xpos = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
		c->rdv_dbase = __atomic_load_n(&c->dtotal, __ATOMIC_ACQUIRE);
		__atomic_store_n(&c->rdv_state, (++gen << 2) | 1, __ATOMIC_RELEASE);
		while (got < (int)MiB) {
			int n = scif_recv(s, b + got, (int)MiB - got, 0);

			CHECK_GE(n, 0);
			if (!n) {
				struct pollfd p = { .fd = scif_get_fd(s), .events = POLLIN };
				CHECK_EQ(poll(&p, 1, 30000), 1);
			}
			got += n;
		}
		EXPECT_EQ(check_pat(b, 0, MiB), -1);
	}
	CHECK_CHILD_OK(pid, 60000);
	scif_close(s);
	scif_close(l);
	h_pipe_close(&ca.up);
	munmap(b, MiB);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* The victim receives 1 MiB; its hostile peer takes the announcement (busy)
 * and never finishes, counting a byte now and then. A receive interrupted
 * by a signal must come back in bounded time, and the connection is then
 * reset. */
static int stall_victim(void *a)
{
	struct canary_arg *ca = a;
	unsigned char *b = big(MiB);
	scif_epd_t ep = h_connect(0, ca->port);
	struct sigaction sa = { .sa_handler = on_alarm };
	int64_t t0;
	int n, e;

	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
	ualarm(300 * 1000, 0);
	t0 = h_now_ns();
	errno = 0;
	n = scif_recv(ep, b, (int)MiB, SCIF_RECV_BLOCK);
	e = errno;
	h_log("stalled receive: %d (%s) after %lld ms", n,
	      n < 0 ? strerror(e) : "a count", (long long)h_ms_since(t0));
	EXPECT_LT(h_ms_since(t0), 5000);
	EXPECT(n < 0 ? e == EINTR || e == ECONNRESET : n < (int)MiB);
	EXPECT_ERR(scif_recv(ep, b, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	return h_failures ? 1 : 0;
}

static void test_stalled_copy(uint16_t port)
{
	struct canary_arg ca = { .port = port };
	struct scif_portID peer;
	struct skiff_ring_ctl *c;
	scif_epd_t l, s;
	uint32_t st = 0;
	int64_t t0;
	pid_t pid;

	STEP("a peer holding the announcement busy without finishing");
	l = h_listen(port, 1, NULL);
	pid = h_fork(stall_victim, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	c = &my_region()->ring[1]; /* we accepted: we produce ring 1 */
	t0 = h_now_ns();
	while (((st = __atomic_load_n(&c->rdv_state, __ATOMIC_ACQUIRE)) & 3) != 1)
		CHECK_LT(h_ms_since(t0), 30000);
	CHECK(__atomic_compare_exchange_n(&c->rdv_state, &st, (st & ~3u) | 2, 0,
					  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	/* a byte counted every 100 ms (the attack's pace), never done,
	 * until the victim ends */
	for (int i = 0, status; i < 300; i++) {
		struct timespec pace = { 0, 100 * 1000 * 1000 };

		if (waitpid(pid, &status, WNOHANG) == pid) {
			h_forget(pid);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			pid = 0;
			break;
		}
		__atomic_fetch_add(&c->dtotal, 1, __ATOMIC_RELEASE);
		nanosleep(&pace, NULL);
	}
	if (pid)
		CHECK_CHILD_OK(pid, 1000);
	scif_close(s);
	scif_close(l);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "rdv", 240, NULL);
	if (getenv("RDV_ONLY_KILL")) {
		test_kill(7105);
		return h_finish();
	}
	test_order(7100);
	test_bound(7101);
	test_nonblocking(7102);
	test_poll(7103);
	test_concurrent(7104);
	test_kill(7105);
	test_refused(7106);
	test_forged_announcement(7108);
	test_stalled_copy(7109);
	test_huge(7107);
	return h_finish();
}
