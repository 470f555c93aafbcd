/* SPDX-License-Identifier: MIT */
/*
 * test_poll: readiness through scif_poll and through plain poll(), select()
 * and epoll on the descriptor.
 *
 * - listening: POLLIN iff a connection request is pending.
 * - connected: POLLIN iff data is queued, POLLOUT iff the ring has space,
 *   POLLHUP once the peer is gone.
 * - unbound and bound endpoints: POLLERR.
 * - scif_poll timeouts are respected (0 returns at once, 100 ms waits about
 *   100 ms); an invalid epd gives POLLNVAL; scif_get_fd returns the fd.
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

/* The four ways of asking; each returns revents (poll bits). */
enum api { SCIF_POLL, PLAIN_POLL, SELECT, EPOLL, NAPI };
static const char *api_name[] = { "scif_poll", "poll", "select", "epoll" };

static short ask(enum api a, scif_epd_t ep, short events, int timeout)
{
	switch (a) {
	case SCIF_POLL: {
		struct scif_pollepd p = { .epd = ep, .events = events };
		int r = (int)CHECK_OK(scif_poll(&p, 1, timeout));
		return r ? p.revents : 0;
	}
	case PLAIN_POLL: {
		struct pollfd p = { .fd = ep, .events = events };
		int r = (int)CHECK_OK(poll(&p, 1, timeout));
		return r ? p.revents : 0;
	}
	case SELECT: {
		fd_set rd, wr;
		struct timeval tv = { timeout / 1000, (timeout % 1000) * 1000 };
		short rev = 0;

		CHECK_LT(ep, FD_SETSIZE);
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		if (events & POLLIN)
			FD_SET(ep, &rd);
		if (events & POLLOUT)
			FD_SET(ep, &wr);
		CHECK_OK(select(ep + 1, &rd, &wr, NULL, &tv));
		if (FD_ISSET(ep, &rd))
			rev |= POLLIN;
		if (FD_ISSET(ep, &wr))
			rev |= POLLOUT;
		return rev;
	}
	case EPOLL: {
		int efd = (int)CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
		struct epoll_event ev = { .events = 0 }, out;
		short rev = 0;
		int r;

		if (events & POLLIN)
			ev.events |= EPOLLIN;
		if (events & POLLOUT)
			ev.events |= EPOLLOUT;
		ev.data.fd = ep;
		CHECK_OK(epoll_ctl(efd, EPOLL_CTL_ADD, ep, &ev));
		r = (int)CHECK_OK(epoll_wait(efd, &out, 1, timeout));
		if (r == 1) {
			if (out.events & EPOLLIN)
				rev |= POLLIN;
			if (out.events & EPOLLOUT)
				rev |= POLLOUT;
			if (out.events & EPOLLHUP)
				rev |= POLLHUP;
			if (out.events & EPOLLERR)
				rev |= POLLERR;
		}
		close(efd);
		return rev;
	}
	default:
		return 0;
	}
}

/* Wait (bounded) until @bit shows, through every API. */
static void expect_bit_all(scif_epd_t ep, short events, short bit, int timeout,
			   const char *what)
{
	for (int a = 0; a < NAPI; a++) {
		short rev;
		if (a == SELECT && !(bit & (POLLIN | POLLOUT)))
			continue;
		STEP("%s: %s shows 0x%x", what, api_name[a], bit);
		rev = ask((enum api)a, ep, events, timeout);
		EXPECT(rev & bit);
	}
}

/* Check @bit is not reported, through every API (timeout 0). */
static void expect_no_bit_all(scif_epd_t ep, short events, short bit,
			      const char *what)
{
	for (int a = 0; a < NAPI; a++) {
		short rev;
		STEP("%s: %s does not show 0x%x", what, api_name[a], bit);
		rev = ask((enum api)a, ep, events, 0);
		EXPECT(!(rev & bit));
	}
}


static void test_unconnected(void)
{
	scif_epd_t a;
	short rev;

	a = (scif_epd_t)CHECK_OK(scif_open());
	STEP("unbound endpoint: scif_poll POLLERR");
	rev = ask(SCIF_POLL, a, POLLIN | POLLOUT, 0);
	EXPECT(rev & POLLERR);
	EXPECT(!(rev & POLLIN));
	STEP("unbound endpoint: poll POLLERR");
	rev = ask(PLAIN_POLL, a, POLLIN | POLLOUT, 0);
	EXPECT(rev & POLLERR);
	EXPECT(!(rev & POLLIN));
	CHECK_OK(scif_bind(a, 0));
	STEP("bound endpoint: scif_poll POLLERR");
	rev = ask(SCIF_POLL, a, POLLIN | POLLOUT, 0);
	EXPECT(rev & POLLERR);
	EXPECT(!(rev & POLLIN));
	STEP("bound endpoint: poll POLLERR");
	rev = ask(PLAIN_POLL, a, POLLIN | POLLOUT, 0);
	EXPECT(rev & POLLERR);
	EXPECT(!(rev & POLLIN));
	STEP("bound endpoint: epoll EPOLLERR");
	rev = ask(EPOLL, a, POLLIN, 0);
	EXPECT(rev & POLLERR);
	scif_close(a);
}

static void test_listening(void)
{
	struct scif_portID dst = { .node = 0, .port = 9000 }, peer;
	scif_epd_t l, c, ne;

	l = h_listen(9000, 4, NULL);
	expect_no_bit_all(l, POLLIN, POLLIN, "listener, nothing pending");
	STEP("listener is not POLLERR");
	EXPECT(!(ask(SCIF_POLL, l, POLLIN, 0) & POLLERR));
	c = (scif_epd_t)CHECK_OK(scif_open());
	CHECK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) == 0);
	CHECK_ERR(scif_connect(c, &dst), EINPROGRESS);
	expect_bit_all(l, POLLIN, POLLIN, 5000, "listener, request pending");
	STEP("accept");
	CHECK_OK(scif_accept(l, &peer, &ne, 0));
	expect_no_bit_all(l, POLLIN, POLLIN, "listener after accept");
	scif_close(c);
	scif_close(ne);
	scif_close(l);
}

static void test_connected(void)
{
	static unsigned char big[65536];
	scif_epd_t c, s;
	char b[16];
	int r;

	h_pair(9001, &c, &s);
	STEP("fresh connection");
	expect_bit_all(c, POLLIN | POLLOUT, POLLOUT, 0, "fresh, writable");
	expect_no_bit_all(c, POLLIN, POLLIN, "fresh, nothing queued");
	expect_no_bit_all(c, POLLIN | POLLOUT, POLLHUP | POLLERR, "fresh, no hangup");

	STEP("data queued: POLLIN");
	CHECK_EQ(scif_send(s, "x", 1, 0), 1);
	expect_bit_all(c, POLLIN, POLLIN, 2000, "one byte queued");
	CHECK_EQ(scif_recv(c, b, 1, 0), 1);
	expect_no_bit_all(c, POLLIN, POLLIN, "queue drained");

	STEP("partial drain keeps POLLIN");
	CHECK_EQ(scif_send(s, "0123456789", 10, 0), 10);
	expect_bit_all(c, POLLIN, POLLIN, 2000, "ten bytes queued");
	CHECK_EQ(scif_recv(c, b, 5, 0), 5);
	expect_bit_all(c, POLLIN, POLLIN, 0, "five bytes still queued");
	CHECK_EQ(scif_recv(c, b, 5, SCIF_RECV_BLOCK), 5);
	expect_no_bit_all(c, POLLIN, POLLIN, "drained again");

	STEP("many send/poll/recv cycles");
	for (int i = 0; i < 300; i++) {
		enum api a = (enum api)(i % NAPI);
		int n = 1 + i % 9;
		short rev;

		CHECK_EQ(scif_send(s, big, n, 0), n);
		rev = ask(a, c, POLLIN, 2000);
		if (!(rev & POLLIN)) {
			h_log("cycle %d: %s did not show POLLIN", i, api_name[a]);
			h_fail(__FILE__, __LINE__, "POLLIN after send", 0, 1);
		}
		/* alternate blocking and non-blocking receives */
		CHECK_EQ(scif_recv(c, big, n, i & 1 ? SCIF_RECV_BLOCK : 0), n);
		rev = ask(a, c, POLLIN, 0);
		if (rev & POLLIN) {
			h_log("cycle %d: %s shows POLLIN on an empty ring", i,
			      api_name[a]);
			h_fail(__FILE__, __LINE__, "no POLLIN after drain", 0, 1);
		}
	}

	STEP("full ring: no POLLOUT");
	{
		long total = 0;
		while ((r = (int)CHECK_OK(scif_send(c, big, sizeof(big), 0))) > 0)
			total += r;
		EXPECT_EQ(total, 4095);
	}
	expect_no_bit_all(c, POLLOUT, POLLOUT, "ring full");
	STEP("receiver drains: POLLOUT again");
	CHECK_EQ(scif_recv(s, big, 1000, 0), 1000);
	expect_bit_all(c, POLLOUT, POLLOUT, 2000, "space again");
	STEP("POLLIN on the receiver while data remains");
	expect_bit_all(s, POLLIN, POLLIN, 0, "3095 bytes queued");
	CHECK_EQ(scif_recv(s, big, 4095, 0), 3095);
	expect_no_bit_all(s, POLLIN, POLLIN, "all drained");

	STEP("full ring, retried at once: still no POLLOUT");
	/* a non-blocking send retried at once trusts its count of credits
	 * and makes no system call: readiness must stay exact all the same */
	while ((r = (int)CHECK_OK(scif_send(c, big, sizeof(big), 0))) > 0)
		;
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(scif_send(c, big, 1, 0), 0);
	expect_no_bit_all(c, POLLOUT, POLLOUT, "ring full after quick retries");
	CHECK_EQ(scif_recv(s, big, 1, 0), 1);
	expect_bit_all(c, POLLOUT, POLLOUT, 2000, "one byte of room");
	CHECK_EQ(scif_send(c, big, 2, 0), 1);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(scif_send(c, big, 1, 0), 0);
	expect_no_bit_all(c, POLLOUT, POLLOUT, "full again");
	CHECK_EQ(scif_recv(s, big, 4095, 0), 4095);
	expect_bit_all(c, POLLOUT, POLLOUT, 2000, "drained");

	STEP("fill, drain, fill: POLLOUT follows the ring each time");
	for (int i = 0; i < 20; i++) {
		enum api a = (enum api)(i % NAPI);
		while ((r = (int)CHECK_OK(scif_send(c, big, sizeof(big), 0))) > 0)
			;
		if (ask(a, c, POLLOUT, 0) & POLLOUT) {
			h_log("round %d: %s shows POLLOUT on a full ring", i,
			      api_name[a]);
			h_fail(__FILE__, __LINE__, "no POLLOUT when full", 0, 0);
		}
		CHECK_EQ(scif_recv(s, big, 4095, 0), 4095);
		if (!(ask(a, c, POLLOUT, 2000) & POLLOUT)) {
			h_log("round %d: %s no POLLOUT after drain", i, api_name[a]);
			h_fail(__FILE__, __LINE__, "POLLOUT after drain", 0, 0);
		}
	}

	STEP("peer closes with data queued: POLLIN|POLLHUP");
	CHECK_EQ(scif_send(s, "bye", 3, 0), 3);
	CHECK_EQ(scif_close(s), 0);
	expect_bit_all(c, POLLIN, POLLHUP, 2000, "peer gone");
	expect_bit_all(c, POLLIN, POLLIN, 0, "peer gone, data queued");
	CHECK_EQ(scif_recv(c, b, 16, 0), 3);
	STEP("after draining: POLLHUP, no POLLIN");
	{
		short rev = ask(SCIF_POLL, c, POLLIN | POLLOUT, 0);
		EXPECT(rev & POLLHUP);
		EXPECT(!(rev & POLLIN));
		rev = ask(PLAIN_POLL, c, POLLIN, 0);
		EXPECT(rev & POLLHUP);
	}
	STEP("POLLHUP is reported even when not asked for");
	EXPECT(ask(SCIF_POLL, c, 0, 0) & POLLHUP);
	EXPECT(ask(PLAIN_POLL, c, 0, 0) & POLLHUP);
	scif_close(c);
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Child: connect, send "abc", say so, then wait to be killed. */
static int killed_peer(void *a)
{
	struct h_pipe *p = a;
	scif_epd_t ep = h_connect(0, 9003);

	CHECK_EQ(scif_send(ep, "abc", 3, SCIF_SEND_BLOCK), 3);
	h_put(p->wr, 1);
	for (;;)
		pause();
	return 0;
}

/*
 * A peer killed by a signal leaves no closed flag: scif_poll, which makes no
 * system call while it has readiness to report, must still show POLLHUP
 * (with POLLIN, bytes being queued) soon, even while it is called in a loop.
 */
static void test_killed_peer(void)
{
	struct scif_portID peer;
	struct h_pipe p;
	scif_epd_t l, s;
	int64_t t0, ms = -1;
	pid_t pid;
	char b[8];

	STEP("peer killed with data queued: POLLIN, then POLLHUP soon");
	h_pipe_init(&p, 0);
	l = h_listen(9003, 1, NULL);
	pid = h_fork(killed_peer, &p);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	h_get_must(p.rd, 5000);
	/* poll in a loop first, so that the last look at the socket is
	 * recent when the peer dies */
	for (int i = 0; i < 1000; i++) {
		struct scif_pollepd pe = { .epd = s, .events = POLLIN };
		CHECK_EQ(scif_poll(&pe, 1, 0), 1);
		CHECK_EQ(pe.revents, POLLIN);
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(h_waitpid(pid, 5000) >= 0);
	h_forget(pid);
	/* measured in our CPU time: on a busy machine a preemption must
	 * not count against the library */
	t0 = cpu_ns();
	while (cpu_ns() - t0 < 2000000000LL) {
		struct scif_pollepd pe = { .epd = s, .events = POLLIN };
		CHECK_EQ(scif_poll(&pe, 1, 0), 1);
		CHECK(pe.revents & POLLIN);
		if (pe.revents & POLLHUP) {
			ms = (cpu_ns() - t0) / 1000000;
			break;
		}
	}
	h_log("POLLHUP after %lld ms of polling (CPU time) after the peer's "
	      "death", (long long)ms);
	EXPECT_GE(ms, 0);
	EXPECT_LE(ms, 100);
	EXPECT_EQ(scif_recv(s, b, 8, 0), 3);
	{
		struct scif_pollepd pe = { .epd = s, .events = POLLIN };
		EXPECT_EQ(scif_poll(&pe, 1, 0), 1);
		EXPECT_EQ(pe.revents, POLLHUP);
	}
	scif_close(s);
	scif_close(l);
	h_pipe_close(&p);
}

struct delayed_arg {
	scif_epd_t ep;
	struct h_pipe go;
};

static void *delayed_send(void *a)
{
	struct delayed_arg *da = a;

	h_get_must(da->go.rd, 10000);
	CHECK_EQ(scif_send(da->ep, "w", 1, SCIF_SEND_BLOCK), 1);
	return NULL;
}

static void test_timeouts_and_misc(void)
{
	scif_epd_t c, s, u, l;
	int64_t t0, ms;
	int r;

	h_pair(9002, &c, &s);
	STEP("scif_poll timeout 0 returns at once");
	{
		struct scif_pollepd p = { .epd = c, .events = POLLIN };
		t0 = h_now_ns();
		r = (int)CHECK_OK(scif_poll(&p, 1, 0));
		ms = h_ms_since(t0);
		EXPECT_EQ(r, 0);
		EXPECT_LT(ms, 50);
	}
	STEP("scif_poll timeout 100 ms waits about 100 ms");
	for (int i = 0; i < 3; i++) {
		struct scif_pollepd p = { .epd = c, .events = POLLIN };
		t0 = h_now_ns();
		r = (int)CHECK_OK(scif_poll(&p, 1, 100));
		ms = h_ms_since(t0);
		EXPECT_EQ(r, 0);
		EXPECT_GE(ms, 90);
		EXPECT_LT(ms, 1000);
	}
	STEP("scif_poll with no epds sleeps for the timeout");
	t0 = h_now_ns();
	EXPECT_EQ(scif_poll(NULL, 0, 100), 0);
	ms = h_ms_since(t0);
	EXPECT_GE(ms, 90);
	EXPECT_LT(ms, 1000);
	STEP("scif_poll with an infinite timeout wakes on data");
	{
		struct delayed_arg da = { .ep = s };
		struct scif_pollepd p = { .epd = c, .events = POLLIN };
		pthread_t t;
		char b;

		h_pipe_init(&da.go, 0);
		CHECK(pthread_create(&t, NULL, delayed_send, &da) == 0);
		h_put(da.go.wr, 1);
		EXPECT_EQ(scif_poll(&p, 1, -1), 1);
		EXPECT(p.revents & POLLIN);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK_EQ(scif_recv(c, &b, 1, 0), 1);
		h_pipe_close(&da.go);
	}
	STEP("scif_poll wakes a long wait early when data arrives");
	{
		struct delayed_arg da = { .ep = s };
		struct scif_pollepd p = { .epd = c, .events = POLLIN };
		pthread_t t;
		char b;

		h_pipe_init(&da.go, 0);
		CHECK(pthread_create(&t, NULL, delayed_send, &da) == 0);
		h_put(da.go.wr, 1);
		t0 = h_now_ns();
		EXPECT_EQ(scif_poll(&p, 1, 20000), 1);
		EXPECT_LT(h_ms_since(t0), 5000);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK_EQ(scif_recv(c, &b, 1, 0), 1);
		h_pipe_close(&da.go);
	}

	STEP("several epds at once");
	u = (scif_epd_t)CHECK_OK(scif_open());
	l = h_listen(9003, 1, NULL);
	CHECK_EQ(scif_send(s, "z", 1, 0), 1);
	{
		int dead = (int)CHECK_OK(dup(c));
		struct scif_pollepd p[4] = {
			{ .epd = c, .events = POLLIN },
			{ .epd = u, .events = POLLIN },
			{ .epd = l, .events = POLLIN },
			{ .epd = dead, .events = POLLIN },
		};

		close(dead); /* now an invalid descriptor number */
		r = (int)CHECK_OK(scif_poll(p, 4, 2000));
		EXPECT(p[0].revents & POLLIN);
		EXPECT(p[1].revents & POLLERR);
		EXPECT_EQ(p[2].revents, 0);
		EXPECT(p[3].revents & POLLNVAL);
		EXPECT_EQ(r, 3);
	}
	STEP("invalid epd alone: POLLNVAL");
	{
		int dead = (int)CHECK_OK(dup(c));
		struct scif_pollepd p = { .epd = dead, .events = POLLIN };

		close(dead);
		EXPECT_EQ(scif_poll(&p, 1, 0), 1);
		EXPECT(p.revents & POLLNVAL);
	}
	STEP("scif_get_fd");
	EXPECT_EQ(scif_get_fd(c), c);
	EXPECT_EQ(scif_get_fd(l), l);
	EXPECT_EQ(scif_get_fd(u), u);
	scif_close(u);
	scif_close(l);
	scif_close(c);
	scif_close(s);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "poll", 60, NULL);
	test_unconnected();
	test_listening();
	test_connected();
	test_killed_peer();
	test_timeouts_and_misc();
	return h_finish();
}
