/* SPDX-License-Identifier: MIT */
/*
 * test_msg: scif_send and scif_recv semantics.
 *
 * - len 0 returns 0; len < 0 EINVAL; flags other than 0/1 EINVAL; not
 *   connected ENOTCONN; invalid epd EBADF/ENOTTY.
 * - the ring holds 4095 bytes: a non-blocking send of 10000 bytes into an
 *   empty ring with an idle receiver returns exactly 4095, the next one 0;
 *   a non-blocking recv on an empty ring returns 0.
 * - blocking calls transfer everything (larger than the ring).
 * - after the peer closes, recv drains what is queued then ECONNRESET;
 *   send gives ECONNRESET.
 * - SKIFF_RING_SIZE on the connecting side enlarges both rings.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>


static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
}

/* Send exactly @n bytes non-blocking from @from until the ring is full;
 * returns the total accepted. */
static long fill_ring(scif_epd_t from)
{
	static unsigned char big[1 << 20];
	long total = 0;
	int r;

	for (;;) {
		r = scif_send(from, big, sizeof(big) / 4, 0);
		if (r <= 0)
			break;
		total += r;
	}
	CHECK_EQ(r, 0);
	return total;
}

static void test_args(void)
{
	scif_epd_t a, c, s;
	char b[16] = { 0 };

	STEP("not connected: ENOTCONN");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_send(a, b, 1, 0), ENOTCONN);
	EXPECT_ERR(scif_recv(a, b, 1, 0), ENOTCONN);
	EXPECT_ERR(scif_send(a, b, 1, SCIF_SEND_BLOCK), ENOTCONN);
	EXPECT_ERR(scif_recv(a, b, 1, SCIF_RECV_BLOCK), ENOTCONN);
	CHECK_OK(scif_bind(a, 0));
	EXPECT_ERR(scif_send(a, b, 1, 0), ENOTCONN);
	EXPECT_ERR(scif_recv(a, b, 1, 0), ENOTCONN);
	CHECK_OK(scif_listen(a, 1));
	EXPECT_ERR(scif_send(a, b, 1, 0), ENOTCONN);
	EXPECT_ERR(scif_recv(a, b, 1, SCIF_RECV_BLOCK), ENOTCONN);
	scif_close(a);

	STEP("invalid epd");
	EXPECT_ERR2(scif_send(-1, b, 1, 0), EBADF, ENOTTY);
	EXPECT_ERR2(scif_recv(-1, b, 1, 0), EBADF, ENOTTY);
	EXPECT_ERR2(scif_send(99999, b, 1, 0), EBADF, ENOTTY);
	EXPECT_ERR2(scif_recv(99999, b, 1, 0), EBADF, ENOTTY);

	h_pair(6000, &c, &s);
	STEP("len 0 returns 0");
	EXPECT_EQ(scif_send(c, b, 0, 0), 0);
	EXPECT_EQ(scif_send(c, b, 0, SCIF_SEND_BLOCK), 0);
	EXPECT_EQ(scif_recv(s, b, 0, 0), 0);
	EXPECT_EQ(scif_recv(s, b, 0, SCIF_RECV_BLOCK), 0);
	EXPECT_EQ(scif_send(c, NULL, 0, 0), 0);
	STEP("negative len: EINVAL");
	EXPECT_ERR(scif_send(c, b, -1, 0), EINVAL);
	EXPECT_ERR(scif_recv(s, b, -1, 0), EINVAL);
	EXPECT_ERR(scif_send(c, b, -100000, SCIF_SEND_BLOCK), EINVAL);
	EXPECT_ERR(scif_recv(s, b, -100000, SCIF_RECV_BLOCK), EINVAL);
	STEP("bad flags: EINVAL");
	EXPECT_ERR(scif_send(c, b, 1, 2), EINVAL);
	EXPECT_ERR(scif_recv(s, b, 1, 2), EINVAL);
	EXPECT_ERR(scif_send(c, b, 1, 4), EINVAL);
	EXPECT_ERR(scif_recv(s, b, 1, 0x100), EINVAL);
	EXPECT_ERR(scif_send(c, b, 1, -2), EINVAL);
	STEP("nothing was sent by the failed calls");
	EXPECT_EQ(scif_recv(s, b, 16, 0), 0);

	STEP("non-blocking recv on an empty ring returns 0");
	EXPECT_EQ(scif_recv(s, b, 16, 0), 0);
	EXPECT_EQ(scif_recv(c, b, 16, 0), 0);

	STEP("a message goes through both ways");
	CHECK_EQ(scif_send(c, "hello", 5, 0), 5);
	memset(b, 0, sizeof(b));
	CHECK_EQ(scif_recv(s, b, 5, SCIF_RECV_BLOCK), 5);
	EXPECT(memcmp(b, "hello", 5) == 0);
	CHECK_EQ(scif_send(s, "world", 5, SCIF_SEND_BLOCK), 5);
	memset(b, 0, sizeof(b));
	CHECK_EQ(scif_recv(c, b, 5, SCIF_RECV_BLOCK), 5);
	EXPECT(memcmp(b, "world", 5) == 0);
	STEP("stream, not messages: two sends, one recv; one send, two recvs");
	CHECK_EQ(scif_send(c, "ab", 2, 0), 2);
	CHECK_EQ(scif_send(c, "cd", 2, 0), 2);
	memset(b, 0, sizeof(b));
	EXPECT_EQ(scif_recv(s, b, 4, SCIF_RECV_BLOCK), 4);
	EXPECT(memcmp(b, "abcd", 4) == 0);
	CHECK_EQ(scif_send(c, "wxyz", 4, 0), 4);
	EXPECT_EQ(scif_recv(s, b, 1, SCIF_RECV_BLOCK), 1);
	EXPECT_EQ(b[0], 'w');
	EXPECT_EQ(scif_recv(s, b, 16, 0), 3);
	EXPECT(memcmp(b, "xyz", 3) == 0);
	scif_close(c);
	scif_close(s);
}

static void test_capacity(void)
{
	static unsigned char out[10000], in[10000];
	scif_epd_t c, s;
	int r;

	STEP("non-blocking send of 10000 into an empty ring returns 4095");
	h_pair(6001, &c, &s);
	fill(out, sizeof(out), 1);
	r = scif_send(c, out, 10000, 0);
	EXPECT_EQ(r, 4095);
	STEP("the full ring takes nothing more");
	EXPECT_EQ(scif_send(c, out, 1, 0), 0);
	EXPECT_EQ(scif_send(c, out, 10000, 0), 0);
	STEP("the other direction is independent");
	EXPECT_EQ(scif_send(s, out, 10000, 0), 4095);
	STEP("receive it all back");
	memset(in, 0, sizeof(in));
	EXPECT_EQ(scif_recv(s, in, 10000, 0), 4095);
	EXPECT(memcmp(in, out, 4095) == 0);
	EXPECT_EQ(scif_recv(s, in, 10000, 0), 0);
	memset(in, 0, sizeof(in));
	EXPECT_EQ(scif_recv(c, in, 10000, 0), 4095);
	EXPECT(memcmp(in, out, 4095) == 0);
	STEP("partial drain frees exactly that much space");
	EXPECT_EQ(scif_send(c, out, 10000, 0), 4095);
	EXPECT_EQ(scif_recv(s, in, 1000, 0), 1000);
	EXPECT_EQ(scif_send(c, out + 4095, 5000, 0), 1000);
	EXPECT_EQ(scif_recv(s, in + 1000, 10000, 0), 4095);
	EXPECT(memcmp(in, out, 5095) == 0);
	STEP("wrap-around: many odd-sized transfers");
	for (int i = 0; i < 2000; i++) {
		int n = 1 + (i * 37) % 4095;
		fill(out, (size_t)n, (unsigned)i);
		CHECK_EQ(scif_send(c, out, n, 0), n);
		memset(in, 0, (size_t)n);
		CHECK_EQ(scif_recv(s, in, n, 0), n);
		if (memcmp(in, out, (size_t)n) != 0) {
			h_fail(__FILE__, __LINE__, "odd-sized transfer intact", 0, 1);
		}
	}
	STEP("an empty ring takes 4095 bytes whatever its position");
	{
		int bad = 0;
		for (int k = 0; k < 4096 + 64; k += (k < 64 || k > 4030) ? 1 : 97) {
			int n1 = 0, n2;
			/* move the indices to k (mod the ring), empty */
			if (k % 4096) {
				CHECK_EQ(scif_send(c, out, k % 4096, 0), k % 4096);
				CHECK_EQ(scif_recv(s, in, k % 4096, 0), k % 4096);
			}
			fill(out, 10000, (unsigned)k);
			n1 = scif_send(c, out, 10000, 0);
			n2 = n1 >= 0 ? scif_recv(s, in, 10000, 0) : -1;
			if (n1 != 4095 || n2 != n1 || memcmp(in, out, 4095) != 0) {
				if (bad++ < 5)
					h_log("ring emptied at offset %d: non-blocking "
					      "send of 10000 returned %d, recv %d", k,
					      n1, n2);
			}
			/* whatever happened, empty the ring again */
			while (scif_recv(s, in, 10000, 0) > 0)
				;
		}
		EXPECT_EQ(bad, 0);
	}

	STEP("fill_ring totals 4095");
	EXPECT_EQ(fill_ring(c), 4095);
	scif_close(c);
	scif_close(s);
}

struct blk_arg {
	scif_epd_t ep;
	int len;
	int ret;
	unsigned char *buf;
};

static void *blk_recv(void *a)
{
	struct blk_arg *ba = a;

	ba->ret = scif_recv(ba->ep, ba->buf, ba->len, SCIF_RECV_BLOCK);
	return NULL;
}

static void *blk_send(void *a)
{
	struct blk_arg *ba = a;

	ba->ret = scif_send(ba->ep, ba->buf, ba->len, SCIF_SEND_BLOCK);
	return NULL;
}

static void test_blocking(void)
{
	enum { N = 300000 };
	static unsigned char out[N], in[N];
	struct blk_arg ba;
	scif_epd_t c, s;
	pthread_t t;

	h_pair(6002, &c, &s);
	STEP("blocking send larger than the ring, blocking recv of it all");
	fill(out, N, 3);
	ba = (struct blk_arg){ .ep = s, .len = N, .buf = in };
	CHECK(pthread_create(&t, NULL, blk_recv, &ba) == 0);
	EXPECT_EQ(scif_send(c, out, N, SCIF_SEND_BLOCK), N);
	CHECK(pthread_join(t, NULL) == 0);
	EXPECT_EQ(ba.ret, N);
	EXPECT(memcmp(in, out, N) == 0);

	STEP("blocking recv waits for all of len");
	memset(in, 0, N);
	ba = (struct blk_arg){ .ep = s, .len = 100, .buf = in };
	CHECK(pthread_create(&t, NULL, blk_recv, &ba) == 0);
	CHECK_EQ(scif_send(c, out, 60, SCIF_SEND_BLOCK), 60);
	CHECK_EQ(scif_send(c, out + 60, 40, SCIF_SEND_BLOCK), 40);
	CHECK(pthread_join(t, NULL) == 0);
	EXPECT_EQ(ba.ret, 100);
	EXPECT(memcmp(in, out, 100) == 0);

	STEP("blocking send waits for ring space");
	ba = (struct blk_arg){ .ep = c, .len = 20000, .buf = out };
	CHECK(pthread_create(&t, NULL, blk_send, &ba) == 0);
	{
		long got = 0;
		while (got < 20000) {
			int r = (int)CHECK_OK(scif_recv(s, in + got, 20000 - (int)got,
							SCIF_RECV_BLOCK));
			got += r;
		}
		EXPECT_EQ(got, 20000);
	}
	CHECK(pthread_join(t, NULL) == 0);
	EXPECT_EQ(ba.ret, 20000);
	EXPECT(memcmp(in, out, 20000) == 0);
	scif_close(c);
	scif_close(s);
}

/* Peer closes with data queued. */
struct closer_arg {
	uint16_t port;
	int n;
	int wr;
};

static int closer(void *a)
{
	struct closer_arg *ca = a;
	unsigned char buf[4096];
	scif_epd_t ep = h_connect(0, ca->port);

	fill(buf, sizeof(buf), 9);
	CHECK_EQ(scif_send(ep, buf, ca->n, SCIF_SEND_BLOCK), ca->n);
	CHECK_EQ(scif_close(ep), 0);
	h_put(ca->wr, 1);
	return 0;
}

static void test_after_close(void)
{
	unsigned char buf[4096], ref[4096];
	struct closer_arg ca = { .port = 6003, .n = 100 };
	struct h_pipe done;
	struct scif_portID peer;
	scif_epd_t l, s;
	pid_t pid;

	STEP("recv drains queued data after the peer closed");
	fill(ref, sizeof(ref), 9);
	h_pipe_init(&done, 0);
	ca.wr = done.wr;
	l = h_listen(ca.port, 1, NULL);
	pid = h_fork(closer, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	h_get_must(done.rd, 5000);
	CHECK_CHILD_OK(pid, 5000);
	EXPECT_EQ(scif_recv(s, buf, 30, SCIF_RECV_BLOCK), 30);
	EXPECT_EQ(scif_recv(s, buf + 30, 20, 0), 20);
	STEP("a blocking recv for more than is queued returns the rest");
	EXPECT_EQ(scif_recv(s, buf + 50, 1000, SCIF_RECV_BLOCK), 50);
	EXPECT(memcmp(buf, ref, 100) == 0);
	STEP("then ECONNRESET");
	EXPECT_ERR(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_recv(s, buf, 1, 0), ECONNRESET);
	EXPECT_ERR(scif_send(s, buf, 1, SCIF_SEND_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_send(s, buf, 1, 0), ECONNRESET);
	STEP("len 0 and bad arguments on a disconnected endpoint");
	{
		/* len 0 may return 0 or ECONNRESET; bad flags stay EINVAL or
		 * report the reset: only check it does not succeed */
		errno = 0;
		int r = scif_send(s, buf, 1, 2);
		EXPECT(r == -1 && (errno == EINVAL || errno == ECONNRESET));
	}
	scif_close(s);

	STEP("a full ring is still drained after the peer closed");
	ca.n = 4095;
	pid = h_fork(closer, &ca);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	h_get_must(done.rd, 5000);
	CHECK_CHILD_OK(pid, 5000);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(scif_recv(s, buf, 4096, SCIF_RECV_BLOCK), 4095);
	EXPECT(memcmp(buf, ref, 4095) == 0);
	EXPECT_ERR(scif_recv(s, buf, 1, 0), ECONNRESET);
	scif_close(s);
	scif_close(l);
	h_pipe_close(&done);
}

/* ---- SKIFF_RING_SIZE ------------------------------------------------------ */

/* Role: connect with SKIFF_RING_SIZE set; arg "port,wr,rd": report the
 * size of a non-blocking send into the empty ring on wr, wait for a go on
 * rd, then read back what the acceptor sent (as much as our first send). */
static int role_ring_connector(const char *arg)
{
	static unsigned char out[200000], in[200000];
	unsigned port;
	int wr, rd, r;
	long got = 0;
	scif_epd_t ep;

	CHECK(sscanf(arg, "%u,%d,%d", &port, &wr, &rd) == 3);
	ep = h_connect(0, (uint16_t)port);
	STEP("connector with SKIFF_RING_SIZE=%s fills its ring",
	     getenv("SKIFF_RING_SIZE"));
	fill(out, sizeof(out), 5);
	r = (int)CHECK_OK(scif_send(ep, out, (int)sizeof(out), 0));
	h_put(wr, r);
	h_get_must(rd, 20000);
	STEP("read back the acceptor's data");
	while (got < r) {
		int n = (int)CHECK_OK(scif_recv(ep, in + got, r - (int)got,
						SCIF_RECV_BLOCK));
		got += n;
	}
	EXPECT(memcmp(in, out, (size_t)r) == 0);
	EXPECT_ERR(scif_recv(ep, out, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	return 0;
}

static void test_ring_knob(const char *size, unsigned cap)
{
	static unsigned char in[200000], out[200000];
	char arg[64], env[64];
	const char *envv[] = { env, NULL };
	struct scif_portID peer;
	struct h_pipe up, down;
	scif_epd_t l, s;
	pid_t pid;
	long got = 0;
	int r, sent;

	STEP("SKIFF_RING_SIZE=%s on the connecting side: capacity %u", size, cap);
	h_pipe_init(&up, 1);
	h_pipe_init(&down, 1);
	snprintf(arg, sizeof(arg), "%u,%d,%d", 6004u, up.wr, down.rd);
	snprintf(env, sizeof(env), "SKIFF_RING_SIZE=%s", size);
	l = h_listen(6004, 1, NULL);
	pid = h_spawn("ring_connector", arg, envv);
	close(up.wr);
	close(down.rd);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	sent = h_get_must(up.rd, 20000);
	EXPECT_EQ(sent, (int)cap);
	while (got < sent) {
		r = (int)CHECK_OK(scif_recv(s, in + got, sent - (int)got,
					   SCIF_RECV_BLOCK));
		got += r;
	}
	fill(out, sizeof(out), 5);
	EXPECT(memcmp(in, out, (size_t)sent) == 0);
	STEP("the acceptor's ring has the same capacity");
	r = scif_send(s, out, (int)sizeof(out), 0);
	EXPECT_EQ(r, (int)cap);
	if (r >= 0 && r < sent)
		scif_send(s, out + r, sent - r, SCIF_SEND_BLOCK);
	h_put(down.wr, 1);
	/* the connector reads it back and sees our close */
	scif_close(s);
	scif_close(l);
	EXPECT_CHILD_OK(pid, 20000);
	close(up.rd);
	close(down.wr);
}

static const struct h_role roles[] = {
	{ "ring_connector", role_ring_connector },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "msg", 60, roles);
	test_args();
	test_capacity();
	test_blocking();
	test_after_close();
	test_ring_knob("65536", 65535);
	test_ring_knob("8192", 8191);
	return h_finish();
}
