/* SPDX-License-Identifier: MIT */
/*
 * test_accept: scif_accept.
 *
 * - SCIF_ACCEPT_SYNC blocks until a request arrives; flags 0 with nothing
 *   pending gives EAGAIN; flags other than SCIF_ACCEPT_SYNC give EINVAL; a
 *   non-listening endpoint gives EINVAL; NULL peer or newepd gives EINVAL
 *   (and does not consume a pending request).
 * - peer is filled with the connector's node and port; the new endpoint is
 *   connected and independent of the listener (closing either leaves the
 *   other working).
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

static short scif_revents(scif_epd_t ep, short events, long timeout)
{
	struct scif_pollepd p = { .epd = ep, .events = events };
	int r = (int)CHECK_OK(scif_poll(&p, 1, timeout));

	return r ? p.revents : 0;
}

struct conn_arg {
	uint16_t port;
	uint16_t prebind;
	struct h_pipe go;   /* parent -> child: connect now */
	struct h_pipe done; /* child -> parent: connect returned (the port) */
};

/* Connect when told, report the local port, echo one message, wait for the
 * parent to close. */
static int connector(void *a)
{
	struct conn_arg *ca = a;
	struct scif_portID dst = { .node = 0, .port = ca->port };
	scif_epd_t ep = (scif_epd_t)CHECK_OK(scif_open());
	char buf[16];
	int p;

	if (ca->prebind)
		CHECK_EQ(scif_bind(ep, ca->prebind), ca->prebind);
	STEP("wait for go");
	h_get_must(ca->go.rd, 20000);
	STEP("connect");
	p = (int)CHECK_OK(scif_connect(ep, &dst));
	h_put(ca->done.wr, p);
	STEP("echo");
	CHECK_EQ(scif_recv(ep, buf, 4, SCIF_RECV_BLOCK), 4);
	CHECK_EQ(scif_send(ep, buf, 4, SCIF_SEND_BLOCK), 4);
	EXPECT_ERR(scif_recv(ep, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(ep);
	return 0;
}

static pid_t start_connector(struct conn_arg *ca, uint16_t port, uint16_t prebind)
{
	ca->port = port;
	ca->prebind = prebind;
	h_pipe_init(&ca->go, 0);
	h_pipe_init(&ca->done, 0);
	return h_fork(connector, ca);
}

struct sync_arg {
	scif_epd_t l, ne;
	struct scif_portID peer;
	int ret;
	struct h_pipe done;
};

static void *sync_accept(void *a)
{
	struct sync_arg *sa = a;

	memset(&sa->peer, 0xee, sizeof(sa->peer));
	sa->ne = -1;
	errno = 0;
	sa->ret = scif_accept(sa->l, &sa->peer, &sa->ne, SCIF_ACCEPT_SYNC);
	if (sa->ret)
		h_log("scif_accept(SYNC) failed: %s", strerrorname_np(errno));
	h_put(sa->done.wr, 1);
	return NULL;
}

static void echo_check(scif_epd_t ne)
{
	char buf[4];

	CHECK_EQ(scif_send(ne, "ping", 4, SCIF_SEND_BLOCK), 4);
	CHECK_EQ(scif_recv(ne, buf, 4, SCIF_RECV_BLOCK), 4);
	EXPECT(memcmp(buf, "ping", 4) == 0);
}

int main(int argc, char **argv)
{
	struct scif_portID peer;
	scif_epd_t l, a, ne;
	struct conn_arg ca;
	pid_t pid;

	h_init(argc, argv, "accept", 60, NULL);

	STEP("accept on non-listening endpoints");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_accept(a, &peer, &ne, 0), EINVAL);
	EXPECT_ERR(scif_accept(a, &peer, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	CHECK_EQ(scif_bind(a, 4000), 4000);
	EXPECT_ERR(scif_accept(a, &peer, &ne, 0), EINVAL);
	EXPECT_ERR(scif_accept(a, &peer, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	scif_close(a);
	STEP("accept on invalid epds");
	EXPECT_ERR2(scif_accept(-1, &peer, &ne, 0), EBADF, ENOTTY);
	EXPECT_ERR2(scif_accept(99999, &peer, &ne, 0), EBADF, ENOTTY);

	STEP("accept: nothing pending, bad flags, NULL arguments");
	l = h_listen(4001, 4, NULL);
	EXPECT_ERR(scif_accept(l, &peer, &ne, 0), EAGAIN);
	EXPECT_ERR(scif_accept(l, &peer, &ne, 2), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, &ne, 3), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, &ne, -1), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, &ne, 0x100), EINVAL);
	EXPECT_ERR(scif_accept(l, NULL, &ne, 0), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, NULL, 0), EINVAL);
	EXPECT_ERR(scif_accept(l, NULL, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, NULL, SCIF_ACCEPT_SYNC), EINVAL);

	STEP("SCIF_ACCEPT_SYNC blocks until a connector arrives");
	pid = start_connector(&ca, 4001, 0);
	{
		struct sync_arg sa = { .l = l };
		pthread_t t;

		h_pipe_init(&sa.done, 0);
		CHECK(pthread_create(&t, NULL, sync_accept, &sa) == 0);
		EXPECT(!h_readable(sa.done.rd, 300)); /* still blocked */
		h_put(ca.go.wr, 1);                   /* now connect */
		STEP("SCIF_ACCEPT_SYNC returns once the request arrives");
		EXPECT(h_readable(sa.done.rd, 5000));
		CHECK(pthread_join(t, NULL) == 0);
		CHECK_EQ(sa.ret, 0);
		peer = sa.peer;
		ne = sa.ne;
		h_pipe_close(&sa.done);
	}
	{
		int32_t port = h_get_must(ca.done.rd, 5000);
		EXPECT_EQ(peer.node, 0);
		EXPECT_EQ(peer.port, port);
		EXPECT_GE(port, SCIF_PORT_RSVD + 1);
	}
	CHECK_GE(ne, 0);
	EXPECT_NE(ne, l);
	STEP("accepted endpoint state");
	EXPECT_ERR(scif_bind(ne, 0), EISCONN);
	EXPECT_ERR(scif_listen(ne, 1), EISCONN);
	EXPECT_ERR(scif_accept(ne, &peer, &a, 0), EINVAL);
	EXPECT_EQ(scif_get_fd(ne), ne);
	echo_check(ne);
	STEP("the listener is still listening with nothing pending");
	EXPECT_ERR(scif_accept(l, &peer, &a, 0), EAGAIN);
	EXPECT(!(scif_revents(l, POLLIN, 0) & POLLIN));
	scif_close(ne);
	CHECK_CHILD_OK(pid, 10000);

	STEP("NULL arguments leave a pending request in place");
	pid = start_connector(&ca, 4001, 4100);
	h_put(ca.go.wr, 1);
	CHECK(scif_revents(l, POLLIN, 5000) & POLLIN);
	EXPECT_ERR(scif_accept(l, NULL, &ne, 0), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, NULL, 0), EINVAL);
	EXPECT_ERR(scif_accept(l, &peer, &ne, 2), EINVAL);
	EXPECT(scif_revents(l, POLLIN, 0) & POLLIN);
	CHECK_OK(scif_accept(l, &peer, &ne, 0));
	EXPECT_EQ(h_get_must(ca.done.rd, 5000), 4100);
	EXPECT_EQ(peer.port, 4100);
	EXPECT_EQ(peer.node, 0);

	STEP("closing the listener leaves the accepted endpoint working");
	scif_close(l);
	echo_check(ne);
	scif_close(ne);
	CHECK_CHILD_OK(pid, 10000);

	STEP("closing an accepted endpoint leaves the listener working");
	l = h_listen(4002, 4, NULL);
	for (int i = 0; i < 3; i++) {
		pid = start_connector(&ca, 4002, 0);
		h_put(ca.go.wr, 1);
		CHECK_OK(scif_accept(l, &peer, &ne, SCIF_ACCEPT_SYNC));
		EXPECT_EQ(h_get_must(ca.done.rd, 5000), peer.port);
		echo_check(ne);
		scif_close(ne);
		CHECK_CHILD_OK(pid, 10000);
		h_pipe_close(&ca.go);
		h_pipe_close(&ca.done);
	}
	scif_close(l);

	return h_finish();
}
