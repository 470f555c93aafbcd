/* SPDX-License-Identifier: MIT */
/*
 * test_nb_relay: a non-blocking, epoll-driven forwarder between two
 * blocking processes never leaves one of them asleep with its bytes due.
 *
 * This is scifd's relay between hosts (src/daemon/relay.c) without the
 * fabric: a client does blocking 16 KiB echo rounds through a forwarder to a
 * blocking echo server. The forwarder watches both endpoints with a
 * level-triggered epoll, moves at most 8 KiB per scif_recv(flags 0) into a
 * bounded buffer per direction, and writes it on with scif_send(flags 0),
 * watching EPOLLIN only while its buffer has room and EPOLLOUT only while
 * it holds bytes, as the relay does. A missed doorbell or credit shows as a
 * round that took a sleeping party's whole re-check slice (1 s): no round
 * may take STALL_MS. Every byte is checked.
 */
#include "harness.h"

#include <poll.h>
#include <sys/epoll.h>

#define MSG (16 * 1024)
#define CHUNK (8 * 1024)
#define WINDOW (64 * 1024)
#define RUN_MS 8000
#define STALL_MS 300

static uint16_t port_srv, port_fwd;

struct fwd_arg {
	struct h_pipe *ready;
	uint16_t port, to;
};

static void fill(unsigned char *b, uint32_t round)
{
	uint64_t s = round * 0x9e3779b97f4a7c15ull + 1;

	for (int i = 0; i < MSG; i += 8) {
		uint64_t v = h_rand(&s);
		memcpy(b + i, &v, 8);
	}
}

static void recv_all(scif_epd_t ep, unsigned char *b, int n)
{
	CHECK_EQ(scif_recv(ep, b, n, SCIF_RECV_BLOCK), n);
}

static int server(void *a)
{
	struct h_pipe *ready = a;
	static unsigned char b[MSG];
	struct scif_portID peer;
	scif_epd_t l, ep;

	l = h_listen(port_srv, 1, NULL);
	h_put(ready->wr, 1);
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	for (;;) {
		int r = scif_recv(ep, b, MSG, SCIF_RECV_BLOCK);

		if (r < 0 && errno == ECONNRESET)
			break;
		CHECK_EQ(r, MSG);
		CHECK_EQ(scif_send(ep, b, MSG, SCIF_SEND_BLOCK), MSG);
	}
	scif_close(ep);
	scif_close(l);
	return 0;
}

/* One direction of the forwarder. */
struct dir {
	scif_epd_t from, to;
	unsigned char buf[WINDOW];
	uint32_t off, len;
};

struct side {
	scif_epd_t ep;
	uint32_t events; /* registered + 1, as relay.c's watch() */
	struct dir *in;	 /* bytes read from ep go here */
	struct dir *out; /* bytes in here are written to ep */
};

static void watch(int efd, struct side *s)
{
	uint32_t ev = (s->in->len < WINDOW ? EPOLLIN : 0) |
		      (s->out->off < s->out->len ? EPOLLOUT : 0);
	struct epoll_event e = { .events = ev, .data.ptr = s };

	if (s->events == ev + 1)
		return;
	CHECK_OK(epoll_ctl(efd, s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->ep, &e));
	s->events = ev + 1;
}

/* 0, or 1 once a peer hung up */
static int pump(struct dir *d)
{
	while (d->len < WINDOW) {
		uint32_t want = WINDOW - d->len;
		int n;

		if (want > CHUNK)
			want = CHUNK;
		n = scif_recv(d->from, d->buf + d->len, (int)want, 0);
		if (n < 0 && errno == ECONNRESET)
			return 1;
		CHECK_GE(n, 0);
		if (n == 0)
			break;
		d->len += (uint32_t)n;
	}
	return 0;
}

static int flush(struct dir *d)
{
	while (d->off < d->len) {
		int n = scif_send(d->to, d->buf + d->off, (int)(d->len - d->off), 0);

		if (n < 0 && errno == ECONNRESET)
			return 1;
		CHECK_GE(n, 0);
		if (n == 0)
			break;
		d->off += (uint32_t)n;
	}
	if (d->off == d->len)
		d->off = d->len = 0;
	return 0;
}

static int forwarder(void *a)
{
	struct fwd_arg *fa = a;
	static struct dir up, down;
	struct side cs, ss;
	struct scif_portID peer;
	scif_epd_t l;
	int efd, done = 0;

	l = h_listen(fa->port, 1, NULL);
	h_put(fa->ready->wr, 1);
	CHECK_OK(scif_accept(l, &peer, &cs.ep, SCIF_ACCEPT_SYNC));
	ss.ep = h_connect(0, fa->to);
	up.from = cs.ep;
	up.to = ss.ep;
	down.from = ss.ep;
	down.to = cs.ep;
	cs.in = &up;
	cs.out = &down;
	ss.in = &down;
	ss.out = &up;
	cs.events = ss.events = 0;
	efd = epoll_create1(EPOLL_CLOEXEC);
	CHECK_GE(efd, 0);
	watch(efd, &cs);
	watch(efd, &ss);
	while (!done) {
		struct epoll_event ev[4];
		int n = epoll_wait(efd, ev, 4, -1);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK_GE(n, 0);
		for (int k = 0; k < n && !done; k++) {
			struct side *s = ev[k].data.ptr;

			if (ev[k].events & EPOLLOUT)
				done |= flush(s->out);
			if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				done |= pump(s->in);
				/* as the relay: what came in goes on at once */
				done |= flush(s->in);
			}
		}
		watch(efd, &cs);
		watch(efd, &ss);
	}
	close(efd);
	scif_close(cs.ep);
	scif_close(ss.ep);
	scif_close(l);
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char out[MSG], in[MSG];
	struct h_pipe p1, p2;
	pid_t srv, fwd, fwd2;
	scif_epd_t ep;
	int64_t t0, worst = 0, slow = 0;
	uint32_t rounds = 0;

	h_init(argc, argv, "nb_relay", 60, NULL);
	port_srv = (uint16_t)(2000 + getpid() % 20000);
	port_fwd = (uint16_t)(port_srv + 1);
	h_pipe_init(&p1, 0);
	h_pipe_init(&p2, 0);
	srv = h_fork(server, &p1);
	h_get_must(p1.rd, 10000);
	{
		/* two in a row, as the daemons of two hosts */
		static struct fwd_arg f1, f2;

		f2 = (struct fwd_arg){ &p2, (uint16_t)(port_fwd + 1), port_srv };
		fwd2 = h_fork(forwarder, &f2);
		h_get_must(p2.rd, 10000);
		f1 = (struct fwd_arg){ &p2, port_fwd, f2.port };
		fwd = h_fork(forwarder, &f1);
		h_get_must(p2.rd, 10000);
	}
	ep = h_connect(0, port_fwd);

	STEP("16 KiB echo rounds through a non-blocking forwarder for %d ms", RUN_MS);
	t0 = h_now_ns();
	while (h_ms_since(t0) < RUN_MS) {
		int64_t r0 = h_now_ns(), ns;

		fill(out, rounds);
		CHECK_EQ(scif_send(ep, out, MSG, SCIF_SEND_BLOCK), MSG);
		recv_all(ep, in, MSG);
		ns = h_now_ns() - r0;
		if (memcmp(in, out, MSG)) {
			h_log("round %u: echo differs", rounds);
			CHECK(memcmp(in, out, MSG) == 0);
		}
		if (ns > worst)
			worst = ns;
		if (ns > STALL_MS * 1000000LL) {
			slow++;
			h_log("round %u took %.1f ms", rounds, (double)ns / 1e6);
		}
		rounds++;
	}
	h_log("%u rounds, slowest %.2f ms, %lld over %d ms", rounds,
	      (double)worst / 1e6, (long long)slow, STALL_MS);
	EXPECT_EQ(slow, 0);
	scif_close(ep);
	CHECK_CHILD_OK(fwd, 10000);
	CHECK_CHILD_OK(fwd2, 10000);
	CHECK_CHILD_OK(srv, 10000);
	return h_finish();
}
