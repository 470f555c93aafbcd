/* SPDX-License-Identifier: MIT */
/*
 * test_close: scif_close.
 *
 * - returns 0 for unbound, bound, listening and connected endpoints;
 *   an invalid epd (or a second close) gives EBADF.
 * - the peer sees the disconnect (recv ECONNRESET, POLLHUP), also when the
 *   endpoint was closed with plain close() or by process exit.
 * - closing a listener refuses its pending requests: a blocked connect
 *   returns ECONNREFUSED.
 * - a closed connection frees its ports.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>

static short scif_revents(scif_epd_t ep, short events, long timeout)
{
	struct scif_pollepd p = { .epd = ep, .events = events };
	int r = (int)CHECK_OK(scif_poll(&p, 1, timeout));

	return r ? p.revents : 0;
}


/* Child: connect to the parent and report the outcome of the connect as
 * errno (0 on success). */
struct pend_arg {
	uint16_t port;
	int wr;
	scif_epd_t inherited; /* the parent's listener: not ours to hold */
};

static int pending_connector(void *a)
{
	struct pend_arg *pa = a;
	struct scif_portID dst = { .node = 0, .port = pa->port };
	scif_epd_t ep;
	int r;

	/* fork() shares the listener with us, as it would share an MPSS
	 * endpoint: drop our reference, or the parent's close does not close
	 * it */
	CHECK_EQ(close(pa->inherited), 0);
	ep = (scif_epd_t)CHECK_OK(scif_open());
	STEP("blocked connect while the listener closes");
	errno = 0;
	r = scif_connect(ep, &dst);
	h_put(pa->wr, r < 0 ? errno : 0);
	scif_close(ep);
	return 0;
}

/* Child: connect, send @n bytes, then exit (process exit closes it). */
struct exit_arg {
	uint16_t port;
	int mode; /* 0: scif_close, 1: plain close(), 2: exit without closing */
	int wr;
};

static int closing_peer(void *a)
{
	struct exit_arg *ea = a;
	scif_epd_t ep = h_connect(0, ea->port);

	CHECK_EQ(scif_send(ep, "abc", 3, SCIF_SEND_BLOCK), 3);
	if (ea->mode == 0)
		EXPECT_EQ(scif_close(ep), 0);
	else if (ea->mode == 1)
		EXPECT_EQ(close(ep), 0);
	h_put(ea->wr, 1);
	return 0;
}

int main(int argc, char **argv)
{
	scif_epd_t a, c, s;
	struct scif_portID peer;
	char buf[8];

	h_init(argc, argv, "close", 60, NULL);

	STEP("close in every state returns 0");
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_EQ(scif_close(a), 0);
	a = (scif_epd_t)CHECK_OK(scif_open());
	CHECK_OK(scif_bind(a, 0));
	EXPECT_EQ(scif_close(a), 0);
	a = h_listen(5000, 2, NULL);
	EXPECT_EQ(scif_close(a), 0);
	h_pair(5001, &c, &s);
	EXPECT_EQ(scif_close(c), 0);
	EXPECT_EQ(scif_close(s), 0);

	STEP("invalid epd");
	EXPECT_ERR(scif_close(-1), EBADF);
	EXPECT_ERR(scif_close(99999), EBADF);
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_EQ(scif_close(a), 0);
	EXPECT_ERR(scif_close(a), EBADF);

	STEP("peer sees the disconnect");
	h_pair(5002, &c, &s);
	EXPECT(!(scif_revents(s, POLLIN, 0) & POLLHUP));
	EXPECT_EQ(scif_close(c), 0);
	EXPECT(scif_revents(s, POLLIN, 2000) & POLLHUP);
	EXPECT_ERR(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_recv(s, buf, 1, 0), ECONNRESET);
	EXPECT_ERR(scif_send(s, buf, 1, SCIF_SEND_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_send(s, buf, 1, 0), ECONNRESET);
	EXPECT_EQ(scif_close(s), 0);

	STEP("ports are free after closing a connection");
	h_pair(5002, &c, &s);
	scif_close(s);
	scif_close(c);
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_EQ(scif_bind(a, 5002), 5002);
	scif_close(a);

	STEP("closing a listener refuses a pending blocked connect");
	for (int round = 0; round < 3; round++) {
		struct h_pipe res;
		struct pend_arg pa = { .port = 5003 };
		pid_t pid;
		int32_t err;

		a = h_listen(5003, 4, NULL);
		h_pipe_init(&res, 0);
		pa.wr = res.wr;
		pa.inherited = a;
		pid = h_fork(pending_connector, &pa);
		CHECK(scif_revents(a, POLLIN, 5000) & POLLIN);
		EXPECT(!h_readable(res.rd, 100));
		EXPECT_EQ(scif_close(a), 0);
		err = h_get_must(res.rd, 5000);
		if (err != ECONNREFUSED)
			h_log("pending connect after listener close: %s",
			      err ? strerrorname_np(err) : "success");
		EXPECT_EQ(err, ECONNREFUSED);
		CHECK_CHILD_OK(pid, 5000);
		h_pipe_close(&res);
	}

	STEP("closing a listener with several pending requests");
	{
		enum { N = 3 };
		struct h_pipe res;
		struct pend_arg pa = { .port = 5004 };
		pid_t pids[N];

		a = h_listen(5004, N, NULL);
		h_pipe_init(&res, 0);
		pa.wr = res.wr;
		pa.inherited = a;
		/* start them one at a time so each request is seen pending */
		for (int i = 0; i < N; i++) {
			pids[i] = h_fork(pending_connector, &pa);
		}
		CHECK(scif_revents(a, POLLIN, 5000) & POLLIN);
		EXPECT(!h_readable(res.rd, 200));
		EXPECT_EQ(scif_close(a), 0);
		for (int i = 0; i < N; i++)
			EXPECT_EQ(h_get_must(res.rd, 5000), ECONNREFUSED);
		for (int i = 0; i < N; i++)
			CHECK_CHILD_OK(pids[i], 5000);
		h_pipe_close(&res);
	}

	for (int mode = 0; mode < 3; mode++) {
		static const char *names[] = { "scif_close", "plain close()",
					       "process exit" };
		struct h_pipe done;
		struct exit_arg ea = { .port = (uint16_t)(5010 + mode), .mode = mode };
		pid_t pid;
		scif_epd_t l;

		STEP("peer closes by %s: data drained, then ECONNRESET", names[mode]);
		h_pipe_init(&done, 0);
		ea.wr = done.wr;
		l = h_listen(ea.port, 1, NULL);
		pid = h_fork(closing_peer, &ea);
		CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
		h_get_must(done.rd, 5000);
		CHECK_CHILD_OK(pid, 5000);
		EXPECT(scif_revents(s, POLLIN, 2000) & POLLHUP);
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(scif_recv(s, buf, 8, SCIF_RECV_BLOCK), 3);
		EXPECT(memcmp(buf, "abc", 3) == 0);
		EXPECT_ERR(scif_recv(s, buf, 8, SCIF_RECV_BLOCK), ECONNRESET);
		EXPECT_ERR(scif_send(s, buf, 1, 0), ECONNRESET);
		EXPECT_EQ(scif_close(s), 0);
		EXPECT_EQ(scif_close(l), 0);
		h_pipe_close(&done);
	}

	return h_finish();
}
