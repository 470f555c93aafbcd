/* SPDX-License-Identifier: MIT */
/*
 * test_listen_connect: scif_listen and scif_connect.
 *
 * - listen: unbound EINVAL; listening/connected EISCONN; backlog <= 0 EINVAL;
 *   backlog honoured (B pending requests, the B+1st gets ECONNREFUSED).
 * - connect: auto-binds and returns the local port; returns only after the
 *   peer accepted (gives up with ECONNREFUSED after 10 s without an accept,
 *   as SCIF_NODE_ALIVE_TIMEOUT); ECONNREFUSED when nobody listens; ENODEV
 *   for an offline node; EINVAL for dst NULL or port 0; EISCONN if
 *   connected; EOPNOTSUPP if listening; O_NONBLOCK gives EINPROGRESS, POLLOUT
 *   on completion, and a second scif_connect returns the port.
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>

static void set_nonblock(scif_epd_t ep, int on)
{
	int fl = fcntl(ep, F_GETFL);

	CHECK(fl >= 0);
	CHECK(fcntl(ep, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) == 0);
}

static short scif_revents(scif_epd_t ep, short events, long timeout)
{
	struct scif_pollepd p = { .epd = ep, .events = events };
	int r = (int)CHECK_OK(scif_poll(&p, 1, timeout));

	CHECK(r == 0 || r == 1);
	return r ? p.revents : 0;
}

/* Complete a non-blocking connect: wait for POLLOUT, then connect again and
 * check the result: @expect_errno 0 means success (returns the port). */
static int finish_nb_connect(scif_epd_t ep, struct scif_portID *dst, int ms,
			     int expect_errno)
{
	short rev = scif_revents(ep, POLLOUT, ms);

	if (!(rev & (POLLOUT | POLLERR | POLLHUP))) {
		h_fail(__FILE__, __LINE__,
		       "non-blocking connect completion shows POLLOUT", 0, 0);
		return -2;
	}
	if (expect_errno == 0)
		return (int)EXPECT_OK(scif_connect(ep, dst));
	EXPECT_ERR(scif_connect(ep, dst), expect_errno);
	return -1;
}

/* A non-blocking connect that must be refused: at once, or by completing
 * with ECONNREFUSED. */
static void nb_connect_refused(scif_epd_t ep, struct scif_portID *dst)
{
	int r;

	errno = 0;
	r = scif_connect(ep, dst);
	if (r == -1 && errno == EINPROGRESS)
		finish_nb_connect(ep, dst, 5000, ECONNREFUSED);
	else
		EXPECT(r == -1 && errno == ECONNREFUSED);
}

/* ---- connect errors --------------------------------------------------- */

static void test_errors(void)
{
	scif_epd_t a, l;
	struct scif_portID dst;

	STEP("listen: unbound endpoint");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_listen(a, 1), EINVAL);
	STEP("listen: bad backlog");
	CHECK_EQ(scif_bind(a, 2000), 2000);
	EXPECT_ERR(scif_listen(a, 0), EINVAL);
	EXPECT_ERR(scif_listen(a, -1), EINVAL);
	EXPECT_ERR(scif_listen(a, -100000), EINVAL);
	STEP("listen: works after bad backlogs, twice gives EISCONN");
	EXPECT_OK(scif_listen(a, 2));
	EXPECT_ERR(scif_listen(a, 2), EISCONN);
	scif_close(a);
	STEP("listen: large backlog accepted");
	a = (scif_epd_t)CHECK_OK(scif_open());
	CHECK_EQ(scif_bind(a, 2001), 2001);
	EXPECT_OK(scif_listen(a, 5000));
	scif_close(a);
	STEP("listen: invalid epd");
	EXPECT_ERR2(scif_listen(-1, 1), EBADF, ENOTTY);
	EXPECT_ERR2(scif_listen(99999, 1), EBADF, ENOTTY);

	STEP("connect: dst NULL, port 0");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_connect(a, NULL), EINVAL);
	dst.node = 0;
	dst.port = 0;
	EXPECT_ERR(scif_connect(a, &dst), EINVAL);
	STEP("connect: nobody listens");
	dst.port = 2002;
	EXPECT_ERR(scif_connect(a, &dst), ECONNREFUSED);
	STEP("connect: after a refused connect the endpoint can still connect");
	l = h_listen(2003, 1, NULL);
	{
		/* a bound but not listening port refuses too */
		scif_epd_t b = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_EQ(scif_bind(b, 2004), 2004);
		dst.port = 2004;
		EXPECT_ERR(scif_connect(a, &dst), ECONNREFUSED);
		scif_close(b);
	}
	scif_close(l);
	scif_close(a);

	STEP("connect: offline node (no daemon)");
	a = (scif_epd_t)CHECK_OK(scif_open());
	dst.node = 5;
	dst.port = 2002;
	EXPECT_ERR(scif_connect(a, &dst), ENODEV);
	dst.node = 1;
	EXPECT_ERR(scif_connect(a, &dst), ENODEV);
	dst.node = 0xffff;
	EXPECT_ERR(scif_connect(a, &dst), ENODEV);
	scif_close(a);

	STEP("connect: listening endpoint");
	l = h_listen(2005, 2, NULL);
	dst.node = 0;
	dst.port = 2005;
	EXPECT_ERR(scif_connect(l, &dst), EOPNOTSUPP);
	scif_close(l);

	STEP("connect: invalid epd");
	EXPECT_ERR2(scif_connect(-1, &dst), EBADF, ENOTTY);
	EXPECT_ERR2(scif_connect(99999, &dst), EBADF, ENOTTY);
}

/* ---- connect returns only after accept ---------------------------------- */

struct conn_child {
	uint16_t port;
	uint16_t prebind;
	int done_wr;
};

static int connector(void *arg)
{
	struct conn_child *c = arg;
	struct scif_portID dst = { .node = 0, .port = c->port };
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
	int p;
	char b = 0;

	if (c->prebind)
		CHECK_EQ(scif_bind(ep, c->prebind), c->prebind);
	STEP("child connect");
	p = (int)CHECK_OK(scif_connect(ep, &dst));
	h_put(c->done_wr, p);
	STEP("child: after connect, endpoint is connected");
	EXPECT_ERR(scif_bind(ep, 0), EISCONN);
	EXPECT_ERR(scif_listen(ep, 1), EISCONN);
	EXPECT_ERR(scif_connect(ep, &dst), EISCONN);
	/* wait for the parent's byte, echo it */
	CHECK_EQ(scif_recv(ep, &b, 1, SCIF_RECV_BLOCK), 1);
	CHECK_EQ(scif_send(ep, &b, 1, SCIF_SEND_BLOCK), 1);
	/* wait for the parent to close */
	EXPECT_ERR(scif_recv(ep, &b, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	return 0;
}

static void test_blocks_until_accept(uint16_t prebind)
{
	struct conn_child c = { .port = 2100, .prebind = prebind };
	struct h_pipe done;
	struct scif_portID peer;
	scif_epd_t l, ne;
	int32_t port;
	pid_t pid;
	char b = 'x';

	STEP("connect blocks until accept (prebind %u)", prebind);
	l = h_listen(2100, 4, NULL);
	h_pipe_init(&done, 0);
	c.done_wr = done.wr;
	pid = h_fork(connector, &c);
	STEP("listener sees the request");
	CHECK(scif_revents(l, POLLIN, 5000) & POLLIN);
	STEP("connect has not returned before accept");
	EXPECT(!h_readable(done.rd, 300));
	STEP("accept");
	CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
	port = h_get_must(done.rd, 5000);
	EXPECT_EQ(peer.node, 0);
	EXPECT_EQ(peer.port, port);
	if (prebind)
		EXPECT_EQ(port, prebind);
	else
		EXPECT_GE(port, SCIF_PORT_RSVD + 1);
	STEP("accepted endpoint is connected");
	EXPECT_ERR(scif_bind(ne, 0), EISCONN);
	EXPECT_ERR(scif_listen(ne, 1), EISCONN);
	{
		struct scif_portID dst = { .node = 0, .port = 2100 };
		EXPECT_ERR(scif_connect(ne, &dst), EISCONN);
	}
	STEP("exchange a byte");
	CHECK_EQ(scif_send(ne, &b, 1, SCIF_SEND_BLOCK), 1);
	b = 0;
	CHECK_EQ(scif_recv(ne, &b, 1, SCIF_RECV_BLOCK), 1);
	EXPECT_EQ(b, 'x');
	scif_close(ne);
	CHECK_CHILD_OK(pid, 10000);
	scif_close(l);
	h_pipe_close(&done);
}

/* ---- non-blocking connect ----------------------------------------------------- */

static void test_nonblocking(void)
{
	struct scif_portID dst = { .node = 0, .port = 2200 }, peer;
	scif_epd_t l, ep, ne;
	struct pollfd pfd;
	int r, port;
	char b = 'n';

	STEP("non-blocking connect: EINPROGRESS");
	l = h_listen(2200, 2, NULL);
	ep = (scif_epd_t)CHECK_OK(scif_open());
	set_nonblock(ep, 1);
	CHECK_ERR(scif_connect(ep, &dst), EINPROGRESS);
	STEP("not writable before accept");
	EXPECT(!(scif_revents(ep, POLLOUT, 0) & POLLOUT));
	pfd.fd = ep;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	STEP("listener has the request pending");
	EXPECT(scif_revents(l, POLLIN, 5000) & POLLIN);
	CHECK_OK(scif_accept(l, &peer, &ne, 0));
	STEP("completion shows as POLLOUT (plain poll)");
	pfd.revents = 0;
	r = poll(&pfd, 1, 5000);
	EXPECT_EQ(r, 1);
	EXPECT(pfd.revents & POLLOUT);
	STEP("completion shows as POLLOUT (scif_poll)");
	EXPECT(scif_revents(ep, POLLOUT, 5000) & POLLOUT);
	STEP("connect again returns the port");
	port = (int)EXPECT_OK(scif_connect(ep, &dst));
	EXPECT_EQ(port, peer.port);
	EXPECT_GE(port, SCIF_PORT_RSVD + 1);
	STEP("connected after completion");
	EXPECT_ERR(scif_connect(ep, &dst), EISCONN);
	set_nonblock(ep, 0);
	CHECK_EQ(scif_send(ep, &b, 1, SCIF_SEND_BLOCK), 1);
	b = 0;
	CHECK_EQ(scif_recv(ne, &b, 1, SCIF_RECV_BLOCK), 1);
	EXPECT_EQ(b, 'n');
	scif_close(ep);
	scif_close(ne);

	STEP("non-blocking connect to nobody");
	ep = (scif_epd_t)CHECK_OK(scif_open());
	set_nonblock(ep, 1);
	dst.port = 2201;
	nb_connect_refused(ep, &dst);
	scif_close(ep);

	STEP("non-blocking connect, listener closes before accept");
	ep = (scif_epd_t)CHECK_OK(scif_open());
	set_nonblock(ep, 1);
	dst.port = 2200;
	CHECK_ERR(scif_connect(ep, &dst), EINPROGRESS);
	EXPECT(scif_revents(l, POLLIN, 5000) & POLLIN);
	scif_close(l);
	finish_nb_connect(ep, &dst, 5000, ECONNREFUSED);
	scif_close(ep);
}

/* ---- backlog ------------------------------------------------------------------ */

struct refused_arg {
	uint16_t port;
};

static int blocking_refused(void *arg)
{
	struct refused_arg *ra = arg;
	struct scif_portID dst = { .node = 0, .port = ra->port };
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());

	STEP("blocking connect beyond the backlog");
	EXPECT_ERR(scif_connect(ep, &dst), ECONNREFUSED);
	scif_close(ep);
	return 0;
}

static void test_backlog(int B)
{
	uint16_t port = (uint16_t)(2300 + B);
	struct scif_portID dst = { .node = 0, .port = port }, peer;
	scif_epd_t l, ep[16], ne[16], extra;
	int n_acc = 0, r;

	STEP("backlog %d: fill it with non-blocking connects", B);
	l = h_listen(port, B, NULL);
	for (int i = 0; i < B; i++) {
		ep[i] = (scif_epd_t)CHECK_OK(scif_open());
		set_nonblock(ep[i], 1);
		EXPECT_ERR(scif_connect(ep[i], &dst), EINPROGRESS);
	}
	STEP("backlog %d: the B+1st blocking connect is refused", B);
	{
		struct refused_arg ra = { .port = port };
		EXPECT_CHILD_OK(h_fork(blocking_refused, &ra), 15000);
	}
	STEP("backlog %d: the B+1st non-blocking connect is refused", B);
	extra = (scif_epd_t)CHECK_OK(scif_open());
	set_nonblock(extra, 1);
	nb_connect_refused(extra, &dst);
	scif_close(extra);

	STEP("backlog %d: accepting one frees a slot", B);
	CHECK_OK(scif_accept(l, &peer, &ne[n_acc++], 0));
	ep[B] = (scif_epd_t)CHECK_OK(scif_open());
	set_nonblock(ep[B], 1);
	EXPECT_ERR(scif_connect(ep[B], &dst), EINPROGRESS);

	STEP("backlog %d: accept all", B);
	for (int i = 1; i <= B; i++) {
		r = (int)EXPECT_OK(scif_accept(l, &peer, &ne[n_acc], SCIF_ACCEPT_SYNC));
		if (r == 0)
			n_acc++;
	}
	EXPECT_EQ(n_acc, B + 1);
	EXPECT_ERR(scif_accept(l, &peer, &ne[n_acc], 0), EAGAIN);
	STEP("backlog %d: every pending connect completes", B);
	for (int i = 0; i <= B; i++) {
		r = finish_nb_connect(ep[i], &dst, 5000, 0);
		if (r != -2)
			EXPECT_GE(r, SCIF_PORT_RSVD + 1);
	}
	for (int i = 0; i <= B; i++)
		scif_close(ep[i]);
	for (int i = 0; i < n_acc; i++)
		scif_close(ne[i]);
	scif_close(l);
}

/* ---- loopback within one process ------------------------------------------------ */

struct loop_arg {
	uint16_t port;
	int ret;
	scif_epd_t ep;
};

static void *loop_connect(void *a)
{
	struct loop_arg *la = a;
	struct scif_portID dst = { .node = 0, .port = la->port };

	la->ep = (scif_epd_t)CHECK_OK(scif_open());
	la->ret = scif_connect(la->ep, &dst);
	return NULL;
}

static void test_loopback_threads(void)
{
	struct loop_arg la = { .port = 2400 };
	struct scif_portID peer;
	scif_epd_t l, ne;
	pthread_t t;
	char buf[6] = { 0 };

	STEP("loopback in one process");
	l = h_listen(2400, 1, NULL);
	CHECK(pthread_create(&t, NULL, loop_connect, &la) == 0);
	CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_GE(la.ret, SCIF_PORT_RSVD + 1);
	EXPECT_EQ(peer.port, la.ret);
	EXPECT_EQ(peer.node, 0);
	CHECK_EQ(scif_send(la.ep, "hello", 5, SCIF_SEND_BLOCK), 5);
	CHECK_EQ(scif_recv(ne, buf, 5, SCIF_RECV_BLOCK), 5);
	EXPECT(memcmp(buf, "hello", 5) == 0);
	scif_close(la.ep);
	scif_close(ne);
	scif_close(l);
}

/* ---- several connectors at once ----------------------------------------------- */

struct many_arg {
	int id;
};

static int many_child(void *a)
{
	struct many_arg *ma = a;
	scif_epd_t ep = h_connect(0, 2500);
	int32_t v = ma->id;

	CHECK_EQ(scif_send(ep, &v, 4, SCIF_SEND_BLOCK), 4);
	/* wait for the parent's close */
	EXPECT_ERR(scif_recv(ep, &v, 4, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	return 0;
}

static void test_many(void)
{
	enum { N = 8 };
	struct many_arg ma[N];
	pid_t pids[N];
	scif_epd_t l, ne[N];
	struct scif_portID peer;
	int seen = 0;

	STEP("%d concurrent connectors", N);
	l = h_listen(2500, N, NULL);
	for (int i = 0; i < N; i++) {
		ma[i].id = i;
		pids[i] = h_fork(many_child, &ma[i]);
	}
	for (int i = 0; i < N; i++) {
		int32_t v = -1;
		CHECK_OK(scif_accept(l, &peer, &ne[i], SCIF_ACCEPT_SYNC));
		CHECK_EQ(scif_recv(ne[i], &v, 4, SCIF_RECV_BLOCK), 4);
		CHECK(v >= 0 && v < N);
		EXPECT(!(seen & (1 << v)));
		seen |= 1 << v;
	}
	EXPECT_EQ(seen, (1 << N) - 1);
	for (int i = 0; i < N; i++)
		scif_close(ne[i]);
	for (int i = 0; i < N; i++)
		EXPECT_CHILD_OK(pids[i], 10000);
	scif_close(l);
}

/* ---- a connect that is never accepted ------------------------------------ */

struct never_arg {
	uint16_t port;
	scif_epd_t inherited;
};

static int never_accepted(void *a)
{
	struct never_arg *na = a;
	struct scif_portID dst = { .node = 0, .port = na->port };
	scif_epd_t ep;
	int64_t t0, ms;

	close(na->inherited); /* the parent's listener */
	ep = (scif_epd_t)CHECK_OK(scif_open());
	STEP("connect to a listener that never accepts");
	t0 = h_now_ns();
	EXPECT_ERR(scif_connect(ep, &dst), ECONNREFUSED);
	ms = h_ms_since(t0);
	/* SCIF_NODE_ALIVE_TIMEOUT: the connector gives up after 10 s */
	h_log("never-accepted connect gave up after %lld ms", (long long)ms);
	EXPECT_GE(ms, 9000);
	EXPECT_LE(ms, 15000);
	scif_close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	struct never_arg na = { .port = 2700 };
	scif_epd_t never_l;
	pid_t never_pid;

	h_init(argc, argv, "listen_connect", 120, NULL);
	/* runs alongside the rest: a connect nobody accepts times out */
	never_l = h_listen(na.port, 2, NULL);
	na.inherited = never_l;
	never_pid = h_fork(never_accepted, &na);
	test_errors();
	test_blocks_until_accept(0);
	test_blocks_until_accept(2600);
	test_nonblocking();
	test_backlog(1);
	test_backlog(3);
	test_loopback_threads();
	test_many();
	STEP("the never-accepted connect");
	EXPECT_CHILD_OK(never_pid, 20000);
	scif_close(never_l);
	return h_finish();
}
