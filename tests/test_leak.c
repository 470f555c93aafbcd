/* SPDX-License-Identifier: MIT */
/*
 * test_leak: 10,000 open/connect/send/close cycles leak no descriptor, no
 * mapping and no memory, on either side. Descriptors and mappings are
 * counted in /proc/self; memory is compared (VmRSS and mallinfo2) after a
 * warm-up, with a small slack.
 */
#include "harness.h"

#include <stdlib.h>

#include <malloc.h>

#define CYCLES 10000
#define WARMUP 500
/* RSS may grow this much over the measured cycles: allocator noise. A
 * sanitizer's own bookkeeping grows with what the program touches
 * (tests/CMakeLists.txt raises it through SKIFF_LEAK_RSS_SLACK_KB there). */
static long rss_slack_kb(void)
{
	const char *s = getenv("SKIFF_LEAK_RSS_SLACK_KB");

	return s && *s ? atol(s) : 1024;
}
#define RSS_SLACK_KB rss_slack_kb()
#define HEAP_SLACK (128 * 1024)
#define MAPS_SLACK 4

struct usage {
	int fds, maps;
	long rss_kb;
	size_t heap;
};

static void usage_now(struct usage *u)
{
	u->fds = h_count_fds();
	u->maps = h_count_maps();
	u->rss_kb = h_vmrss_kb();
	u->heap = mallinfo2().uordblks;
}

static void usage_compare(const struct usage *a, const struct usage *b,
			  const char *who)
{
	h_log("%s: fds %d -> %d, maps %d -> %d, VmRSS %ld -> %ld kB, heap %zu "
	      "-> %zu bytes", who, a->fds, b->fds, a->maps, b->maps, a->rss_kb,
	      b->rss_kb, a->heap, b->heap);
	EXPECT_EQ(b->fds, a->fds);
	EXPECT_LE(b->maps, a->maps + MAPS_SLACK);
	EXPECT_LE(b->rss_kb, a->rss_kb + RSS_SLACK_KB);
	EXPECT_LE((long long)b->heap, (long long)a->heap + HEAP_SLACK);
}

struct srv_arg {
	uint16_t port;
	int wr;
};

static int server(void *a)
{
	struct srv_arg *sa = a;
	struct scif_portID peer;
	struct usage u0 = { 0 }, u1;
	unsigned char buf[64];
	scif_epd_t l = h_listen(sa->port, 16, NULL), ne;

	h_put(sa->wr, 1);
	for (int i = 0; i < CYCLES; i++) {
		if (i == WARMUP)
			usage_now(&u0);
		STEP("server cycle %d", i);
		CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
		CHECK_EQ(scif_recv(ne, buf, sizeof(buf), SCIF_RECV_BLOCK),
			 (int)sizeof(buf));
		if (i & 1)
			CHECK_EQ(scif_send(ne, buf, 1, SCIF_SEND_BLOCK), 1);
		if (i % 3 == 0) {
			/* wait for the client's close, then close */
			errno = 0;
			int r = scif_recv(ne, buf, 1, SCIF_RECV_BLOCK);
			CHECK(r == -1 && errno == ECONNRESET);
		}
		CHECK_EQ(scif_close(ne), 0);
	}
	usage_now(&u1);
	usage_compare(&u0, &u1, "acceptor side");
	scif_close(l);
	return 0;
}

int main(int argc, char **argv)
{
	struct usage u0 = { 0 }, u1;
	struct srv_arg sa = { .port = 11000 };
	struct h_pipe ready;
	unsigned char buf[64];
	struct scif_portID dst = { .node = 0, .port = 11000 };
	int64_t t0;
	pid_t pid;

	h_init(argc, argv, "leak", 280, NULL);
	memset(buf, 0x5a, sizeof(buf));

	STEP("open/close cycles");
	for (int i = 0; i < CYCLES; i++) {
		if (i == WARMUP)
			usage_now(&u0);
		scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_EQ(scif_close(ep), 0);
	}
	usage_now(&u1);
	usage_compare(&u0, &u1, "open/close");

	STEP("open/bind/listen/close cycles");
	for (int i = 0; i < CYCLES; i++) {
		if (i == WARMUP)
			usage_now(&u0);
		scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_OK(scif_bind(ep, 0));
		CHECK_OK(scif_listen(ep, 4));
		CHECK_EQ(scif_close(ep), 0);
	}
	usage_now(&u1);
	usage_compare(&u0, &u1, "open/bind/listen/close");

	STEP("refused connects");
	for (int i = 0; i < 2000; i++) {
		if (i == WARMUP)
			usage_now(&u0);
		scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
		struct scif_portID nobody = { .node = 0, .port = 11999 };
		CHECK_ERR(scif_connect(ep, &nobody), ECONNREFUSED);
		CHECK_EQ(scif_close(ep), 0);
	}
	usage_now(&u1);
	usage_compare(&u0, &u1, "refused connects");

	STEP("open/connect/send/close cycles");
	h_pipe_init(&ready, 0);
	sa.wr = ready.wr;
	pid = h_fork(server, &sa);
	h_get_must(ready.rd, 5000);
	t0 = h_now_ns();
	for (int i = 0; i < CYCLES; i++) {
		scif_epd_t ep;

		if (i == WARMUP)
			usage_now(&u0);
		STEP("client cycle %d", i);
		ep = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_OK(scif_connect(ep, &dst));
		CHECK_EQ(scif_send(ep, buf, sizeof(buf), SCIF_SEND_BLOCK),
			 (int)sizeof(buf));
		if (i & 1)
			CHECK_EQ(scif_recv(ep, buf, 1, SCIF_RECV_BLOCK), 1);
		CHECK_EQ(scif_close(ep), 0);
	}
	usage_now(&u1);
	h_log("%d connections in %.2f s", CYCLES,
	      (double)(h_now_ns() - t0) / 1e9);
	usage_compare(&u0, &u1, "connector side");
	EXPECT_CHILD_OK(pid, 60000);
	h_pipe_close(&ready);
	return h_finish();
}
