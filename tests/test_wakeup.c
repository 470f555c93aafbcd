/* SPDX-License-Identifier: MIT */
/*
 * test_wakeup: a thread blocked in the library wakes promptly when the peer
 * (another process) acts: blocking recv when data arrives, blocking send
 * when ring space frees, scif_poll/poll when data arrives, accept when a
 * request arrives, connect when the peer accepts.
 *
 * The peer waits a while before acting (so the blocked side is really
 * asleep), acts, and reports the CLOCK_MONOTONIC time of its action; the
 * blocked side measures how long after that it woke. The bound is generous
 * (WAKE_MS); a lost wake-up recovered by a periodic timeout fails it.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>

#define WAKE_MS 250
#define ROUNDS 20

static const int delays_us[] = { 0, 200, 2000, 20000 };
#define NDELAYS ((int)(sizeof(delays_us) / sizeof(delays_us[0])))

static void put64(int fd, int64_t v)
{
	CHECK(write(fd, &v, sizeof(v)) == (ssize_t)sizeof(v));
}

static int64_t get64(int fd)
{
	int64_t v = 0;

	CHECK(h_readable(fd, 10000));
	CHECK(read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v));
	return v;
}

static void check_wake(const char *what, int64_t t_act, int64_t t_woke,
		       int delay_us, int64_t *worst)
{
	int64_t ms = (t_woke - t_act) / 1000000;

	if (ms > *worst)
		*worst = ms;
	if (ms > WAKE_MS) {
		h_log("%s: woke %lld ms after the peer acted (peer delay %d us)",
		      what, (long long)ms, delay_us);
		h_fail(__FILE__, __LINE__, "prompt wake-up", 0, 0);
	}
}

/* The peer: a script of actions, each after a delay, each time-stamped. */
enum peer_op { P_SEND1, P_RECV_ALL, P_RECV1, P_ACCEPT, P_CONNECT };

struct peer_arg {
	uint16_t port;
	int wr, rd; /* timestamps out, go in */
	int listen;  /* the peer listens (else connects) */
};

static int peer(void *a)
{
	struct peer_arg *pa = a;
	static unsigned char buf[65536];
	struct scif_portID who;
	scif_epd_t ep, l = -1;

	if (pa->listen) {
		l = h_listen(pa->port, 4, NULL);
		put64(pa->wr, 0);
		CHECK_OK(scif_accept(l, &who, &ep, SCIF_ACCEPT_SYNC));
	} else {
		ep = h_connect(0, pa->port);
	}
	for (;;) {
		int32_t cmd, delay;

		if (h_get(pa->rd, &cmd, 20000) || cmd < 0)
			break;
		delay = h_get_must(pa->rd, 1000);
		if (delay)
			usleep((useconds_t)delay); /* the peer is slow */
		switch (cmd) {
		case P_SEND1:
			put64(pa->wr, h_now_ns());
			CHECK_EQ(scif_send(ep, buf, 1, SCIF_SEND_BLOCK), 1);
			break;
		case P_RECV_ALL: {
			/* read exactly one ring's worth, stamp the first read */
			int got = (int)CHECK_OK(scif_recv(ep, buf, 4095, 0));
			put64(pa->wr, h_now_ns());
			if (got < 4095)
				CHECK_EQ(scif_recv(ep, buf, 4095 - got, SCIF_RECV_BLOCK),
					 4095 - got);
			break;
		}
		case P_RECV1:
			CHECK_EQ(scif_recv(ep, buf, 1, SCIF_RECV_BLOCK), 1);
			put64(pa->wr, h_now_ns());
			break;
		case P_CONNECT: {
			/* connect a second endpoint to the parent's listener */
			scif_epd_t c = (scif_epd_t)CHECK_OK(scif_open());
			struct scif_portID dst = { .node = 0, .port = (uint16_t)(pa->port + 1) };
			put64(pa->wr, h_now_ns());
			CHECK_OK(scif_connect(c, &dst));
			scif_close(c);
			break;
		}
		case P_ACCEPT: {
			scif_epd_t n;
			put64(pa->wr, h_now_ns());
			CHECK_OK(scif_accept(l, &who, &n, SCIF_ACCEPT_SYNC));
			scif_close(n);
			break;
		}
		}
	}
	scif_close(ep);
	if (l >= 0)
		scif_close(l);
	return 0;
}

static void order(struct h_pipe *down, int cmd, int delay)
{
	h_put(down->wr, cmd);
	h_put(down->wr, delay);
}

int main(int argc, char **argv)
{
	struct peer_arg pa = { .port = 13000, .listen = 0 };
	struct h_pipe up, down;
	struct scif_portID who;
	static unsigned char buf[65536];
	scif_epd_t l, s, l2;
	int64_t worst;
	pid_t pid;

	h_init(argc, argv, "wakeup", 120, NULL);
	h_pipe_init(&up, 0);
	h_pipe_init(&down, 0);
	pa.wr = up.wr;
	pa.rd = down.rd;
	l = h_listen(13000, 4, NULL);
	l2 = h_listen(13001, 4, NULL);
	pid = h_fork(peer, &pa);
	CHECK_OK(scif_accept(l, &who, &s, SCIF_ACCEPT_SYNC));

	for (int d = 0; d < NDELAYS; d++) {
		STEP("blocking recv wakes on data (peer delay %d us)", delays_us[d]);
		worst = 0;
		for (int i = 0; i < ROUNDS; i++) {
			order(&down, P_SEND1, delays_us[d]);
			CHECK_EQ(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), 1);
			check_wake("blocking recv", get64(up.rd), h_now_ns(),
				   delays_us[d], &worst);
		}
		h_log("blocking recv, peer delay %5d us: worst wake %lld ms",
		      delays_us[d], (long long)worst);

		STEP("scif_poll wakes on data (peer delay %d us)", delays_us[d]);
		worst = 0;
		for (int i = 0; i < ROUNDS; i++) {
			struct scif_pollepd p = { .epd = s, .events = POLLIN };
			order(&down, P_SEND1, delays_us[d]);
			CHECK_EQ(scif_poll(&p, 1, 10000), 1);
			check_wake("scif_poll", get64(up.rd), h_now_ns(),
				   delays_us[d], &worst);
			CHECK_EQ(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), 1);
		}
		h_log("scif_poll,     peer delay %5d us: worst wake %lld ms",
		      delays_us[d], (long long)worst);

		STEP("poll() wakes on data (peer delay %d us)", delays_us[d]);
		worst = 0;
		for (int i = 0; i < ROUNDS; i++) {
			struct pollfd p = { .fd = s, .events = POLLIN };
			order(&down, P_SEND1, delays_us[d]);
			CHECK_EQ(poll(&p, 1, 10000), 1);
			check_wake("poll", get64(up.rd), h_now_ns(), delays_us[d],
				   &worst);
			CHECK_EQ(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), 1);
		}
		h_log("poll,          peer delay %5d us: worst wake %lld ms",
		      delays_us[d], (long long)worst);

		STEP("blocking send wakes on ring space (peer delay %d us)",
		     delays_us[d]);
		worst = 0;
		for (int i = 0; i < ROUNDS / 2; i++) {
			int r = (int)CHECK_OK(scif_send(s, buf, 4095, 0));
			CHECK_EQ(r, 4095);
			order(&down, P_RECV_ALL, delays_us[d]);
			CHECK_EQ(scif_send(s, buf, 1, SCIF_SEND_BLOCK), 1);
			check_wake("blocking send", get64(up.rd), h_now_ns(),
				   delays_us[d], &worst);
			/* the byte we sent is left in the ring: have it read */
			order(&down, P_RECV1, 0);
			(void)get64(up.rd);
		}
		h_log("blocking send, peer delay %5d us: worst wake %lld ms",
		      delays_us[d], (long long)worst);

		for (int api = 0; api < 2; api++) {
			const char *nm = api ? "poll(POLLOUT)" : "scif_poll(POLLOUT)";
			STEP("%s wakes on ring space (peer delay %d us)", nm,
			     delays_us[d]);
			worst = 0;
			for (int i = 0; i < ROUNDS / 2; i++) {
				int r = (int)CHECK_OK(scif_send(s, buf, 4095, 0));
				CHECK_EQ(r, 4095);
				CHECK_EQ(scif_send(s, buf, 1, 0), 0);
				order(&down, P_RECV_ALL, delays_us[d]);
				if (api) {
					struct pollfd p = { .fd = s, .events = POLLOUT };
					CHECK_EQ(poll(&p, 1, 10000), 1);
					CHECK(p.revents & POLLOUT);
				} else {
					struct scif_pollepd p = { .epd = s,
								  .events = POLLOUT };
					CHECK_EQ(scif_poll(&p, 1, 10000), 1);
					CHECK(p.revents & POLLOUT);
				}
				check_wake(nm, get64(up.rd), h_now_ns(), delays_us[d],
					   &worst);
			}
			h_log("%-19s peer delay %5d us: worst wake %lld ms", nm,
			      delays_us[d], (long long)worst);
		}

		STEP("accept wakes on a request (peer delay %d us)", delays_us[d]);
		worst = 0;
		for (int i = 0; i < ROUNDS / 2; i++) {
			scif_epd_t n;
			order(&down, P_CONNECT, delays_us[d]);
			CHECK_OK(scif_accept(l2, &who, &n, SCIF_ACCEPT_SYNC));
			check_wake("accept", get64(up.rd), h_now_ns(), delays_us[d],
				   &worst);
			scif_close(n);
		}
		h_log("accept,        peer delay %5d us: worst wake %lld ms",
		      delays_us[d], (long long)worst);
	}
	order(&down, -1, 0);
	scif_close(s);
	CHECK_CHILD_OK(pid, 10000);

	STEP("connect wakes when the peer accepts");
	{
		struct peer_arg pb = { .port = 13010, .listen = 1 };
		struct h_pipe up2, down2;
		pid_t p2;

		h_pipe_init(&up2, 0);
		h_pipe_init(&down2, 0);
		pb.wr = up2.wr;
		pb.rd = down2.rd;
		p2 = h_fork(peer, &pb);
		(void)get64(up2.rd); /* listening */
		s = h_connect(0, 13010);
		worst = 0;
		for (int d = 0; d < NDELAYS; d++)
			for (int i = 0; i < ROUNDS / 4; i++) {
				struct scif_portID dst = { .node = 0, .port = 13010 };
				scif_epd_t c = (scif_epd_t)CHECK_OK(scif_open());
				order(&down2, P_ACCEPT, delays_us[d] + 1000);
				CHECK_OK(scif_connect(c, &dst));
				check_wake("connect", get64(up2.rd), h_now_ns(),
					   delays_us[d], &worst);
				scif_close(c);
			}
		h_log("connect: worst wake %lld ms", (long long)worst);
		order(&down2, -1, 0);
		scif_close(s);
		CHECK_CHILD_OK(p2, 10000);
	}
	scif_close(l);
	scif_close(l2);
	return h_finish();
}
