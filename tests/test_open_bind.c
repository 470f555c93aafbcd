/* SPDX-License-Identifier: MIT */
/*
 * test_open_bind: scif_open and scif_bind.
 *
 * - scif_open gives a descriptor (close-on-exec, as MPSS's libscif sets);
 *   on an offline node (SCIF_NODE=k, no daemon) it fails with ENODEV.
 * - scif_bind returns the port; 0 picks a free port >= 1089; ports below 1024
 *   need privilege (EACCES for uid 65534); a port in use or an endpoint
 *   already bound gives EINVAL; a listening or connected one gives EISCONN;
 *   an invalid epd gives EBADF or ENOTTY.
 * - A plain close() of an epd and reuse of the number by another open() is
 *   not mistaken for the old endpoint.
 */
#include "harness.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* Role run with a given SCIF_NODE: arg is the expected errno of scif_open
 * (0: success). */
static int role_open(const char *arg)
{
	int expect = atoi(arg);
	scif_epd_t ep;

	STEP("scif_open with SCIF_NODE=%s", getenv("SCIF_NODE") ?
	     getenv("SCIF_NODE") : "(unset)");
	if (expect == 0) {
		ep = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_OK(scif_bind(ep, 0));
		CHECK_EQ(scif_close(ep), 0);
	} else {
		EXPECT_ERR(scif_open(), expect);
	}
	return 0;
}

static const struct h_role roles[] = { { "open", role_open }, { NULL, NULL } };

static void spawn_open(const char *node, int expect_errno)
{
	char arg[16], env[32];
	const char *envv[] = { env, NULL };

	snprintf(arg, sizeof(arg), "%d", expect_errno);
	snprintf(env, sizeof(env), "SCIF_NODE=%s", node);
	STEP("child: SCIF_NODE=%s expecting %s", node,
	     expect_errno ? strerrorname_np(expect_errno) : "success");
	EXPECT_CHILD_OK(h_spawn("open", arg, envv), 10000);
}

/* Unprivileged child: ports below 1024 need privilege. */
static int unpriv_bind(void *arg)
{
	scif_epd_t ep;
	int p;

	(void)arg;
	STEP("drop to uid/gid 65534");
	CHECK(setgroups(0, NULL) == 0 || errno == EPERM);
	CHECK(setgid(65534) == 0);
	CHECK(setuid(65534) == 0);
	CHECK(geteuid() == 65534);

	STEP("unprivileged bind below 1024");
	ep = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_bind(ep, 100), EACCES);
	EXPECT_ERR(scif_bind(ep, 1), EACCES);
	EXPECT_ERR(scif_bind(ep, SCIF_ADMIN_PORT_END - 1), EACCES);
	EXPECT_ERR(scif_bind(ep, SCIF_COI_PORT_0), EACCES);
	STEP("unprivileged bind at/above 1024");
	p = (int)EXPECT_OK(scif_bind(ep, SCIF_ADMIN_PORT_END));
	EXPECT_EQ(p, SCIF_ADMIN_PORT_END);
	scif_close(ep);
	ep = (scif_epd_t)CHECK_OK(scif_open());
	p = (int)EXPECT_OK(scif_bind(ep, 0));
	EXPECT_GE(p, SCIF_PORT_RSVD + 1);
	scif_close(ep);
	return 0;
}

struct acc_arg {
	scif_epd_t lep;
	scif_epd_t newep;
};

static void *acceptor(void *a)
{
	struct acc_arg *aa = a;
	struct scif_portID peer;

	CHECK_OK(scif_accept(aa->lep, &peer, &aa->newep, SCIF_ACCEPT_SYNC));
	return NULL;
}

static void check_bad_epd(scif_epd_t bad, const char *what)
{
	STEP("invalid epd %d (%s)", bad, what);
	EXPECT_ERR2(scif_bind(bad, 0), EBADF, ENOTTY);
	EXPECT_ERR2(scif_bind(bad, 3000), EBADF, ENOTTY);
}

int main(int argc, char **argv)
{
	scif_epd_t a, b, c;
	int p, p2, flags;

	h_init(argc, argv, "open_bind", 60, roles);

	STEP("scif_open");
	a = (scif_epd_t)CHECK_OK(scif_open());
	CHECK_GE(a, 0);
	flags = fcntl(a, F_GETFD);
	EXPECT(flags >= 0 && (flags & FD_CLOEXEC));
	EXPECT_EQ(scif_get_fd(a), a);

	STEP("bind 0 picks a free port above SCIF_PORT_RSVD");
	p = (int)CHECK_OK(scif_bind(a, 0));
	EXPECT_GE(p, SCIF_PORT_RSVD + 1);
	EXPECT_LE(p, 65535);
	b = (scif_epd_t)CHECK_OK(scif_open());
	CHECK_NE(a, b);
	p2 = (int)CHECK_OK(scif_bind(b, 0));
	EXPECT_GE(p2, SCIF_PORT_RSVD + 1);
	EXPECT_NE(p, p2);

	STEP("bind 0 does not hand out an explicitly bound port");
	c = (scif_epd_t)CHECK_OK(scif_open());
	{
		/* take the next few low ports explicitly, then ask for any */
		scif_epd_t held[4];
		int q;

		for (int i = 0; i < 4; i++) {
			held[i] = (scif_epd_t)CHECK_OK(scif_open());
			q = (int)scif_bind(held[i], (uint16_t)(SCIF_PORT_RSVD + 1 + i));
			/* may already be taken by a or b */
			if (q < 0)
				EXPECT_EQ(errno, EINVAL);
		}
		q = (int)CHECK_OK(scif_bind(c, 0));
		for (int i = 0; i < 4; i++)
			EXPECT_NE(q, SCIF_PORT_RSVD + 1 + i);
		EXPECT_NE(q, p);
		EXPECT_NE(q, p2);
		for (int i = 0; i < 4; i++)
			EXPECT_EQ(scif_close(held[i]), 0);
	}

	STEP("already bound: EINVAL");
	EXPECT_ERR(scif_bind(a, 0), EINVAL);
	EXPECT_ERR(scif_bind(a, 3001), EINVAL);
	EXPECT_ERR(scif_bind(a, (uint16_t)p), EINVAL);

	STEP("explicit port and port in use");
	scif_close(a);
	scif_close(b);
	scif_close(c);
	a = (scif_epd_t)CHECK_OK(scif_open());
	b = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_EQ(scif_bind(a, 3000), 3000);
	EXPECT_ERR(scif_bind(b, 3000), EINVAL);
	STEP("a failed bind leaves the endpoint unbound");
	EXPECT_EQ(scif_bind(b, 3002), 3002);
	STEP("closing frees the port");
	EXPECT_EQ(scif_close(a), 0);
	a = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_EQ(scif_bind(a, 3000), 3000);
	STEP("a listening endpoint holds its port");
	CHECK_OK(scif_listen(a, 4));
	c = (scif_epd_t)CHECK_OK(scif_open());
	EXPECT_ERR(scif_bind(c, 3000), EINVAL);
	STEP("listening endpoint: EISCONN");
	EXPECT_ERR(scif_bind(a, 0), EISCONN);
	EXPECT_ERR(scif_bind(a, 3003), EISCONN);

	STEP("connected endpoint: EISCONN");
	{
		struct acc_arg aa = { .lep = a, .newep = -1 };
		struct scif_portID dst = { .node = 0, .port = 3000 };
		pthread_t t;

		CHECK(pthread_create(&t, NULL, acceptor, &aa) == 0);
		CHECK_OK(scif_connect(c, &dst));
		CHECK(pthread_join(t, NULL) == 0);
		EXPECT_ERR(scif_bind(c, 0), EISCONN);
		EXPECT_ERR(scif_bind(c, 3004), EISCONN);
		EXPECT_ERR(scif_bind(aa.newep, 0), EISCONN);
		EXPECT_ERR(scif_bind(aa.newep, 3005), EISCONN);
		scif_close(aa.newep);
	}
	scif_close(c);
	scif_close(a);
	scif_close(b);

	STEP("privileged ports as root");
	if (geteuid() == 0) {
		a = (scif_epd_t)CHECK_OK(scif_open());
		EXPECT_EQ(scif_bind(a, 100), 100);
		scif_close(a);
		a = (scif_epd_t)CHECK_OK(scif_open());
		EXPECT_EQ(scif_bind(a, 1023), 1023);
		scif_close(a);
		EXPECT_CHILD_OK(h_fork(unpriv_bind, NULL), 10000);
	} else {
		h_log("not root: privileged-port checks skipped");
	}

	STEP("invalid epds");
	check_bad_epd(-1, "-1");
	check_bad_epd(99999, "99999");
	{
		int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		int sp[2];

		CHECK(fd >= 0);
		check_bad_epd(fd, "a regular file");
		close(fd);
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
		check_bad_epd(sp[0], "a SOCK_SEQPACKET socketpair end");
		close(sp[0]);
		close(sp[1]);
	}

	STEP("plain close() and reuse of the number by open()");
	{
		int fd;

		a = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_EQ(scif_bind(a, 3100), 3100);
		CHECK_OK(scif_listen(a, 2));
		close(a);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		CHECK(fd >= 0);
		if (fd != a) {
			CHECK(dup3(fd, a, O_CLOEXEC) == a);
			close(fd);
		}
		EXPECT_ERR2(scif_bind(a, 0), EBADF, ENOTTY);
		EXPECT_ERR2(scif_listen(a, 1), EBADF, ENOTTY);
		{
			struct scif_portID peer;
			scif_epd_t ne;
			char x = 0;
			EXPECT_ERR2(scif_accept(a, &peer, &ne, 0), EBADF, ENOTTY);
			EXPECT_ERR2(scif_send(a, &x, 1, 0), EBADF, ENOTTY);
			EXPECT_ERR2(scif_recv(a, &x, 1, 0), EBADF, ENOTTY);
		}
		close(a);

		STEP("plain close(), number reused by a socketpair");
		a = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_EQ(scif_bind(a, 3101), 3101);
		CHECK_OK(scif_listen(a, 2));
		close(a);
		{
			int sp[2];
			CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
			if (sp[0] != a) {
				CHECK(dup3(sp[0], a, O_CLOEXEC) == a);
				close(sp[0]);
			}
			EXPECT_ERR2(scif_bind(a, 0), EBADF, ENOTTY);
			EXPECT_ERR2(scif_listen(a, 1), EBADF, ENOTTY);
			close(a);
			close(sp[1]);
		}

		STEP("plain close(), number reused by scif_open(): a fresh endpoint");
		a = (scif_epd_t)CHECK_OK(scif_open());
		CHECK_EQ(scif_bind(a, 3102), 3102);
		CHECK_OK(scif_listen(a, 2));
		close(a);
		b = (scif_epd_t)CHECK_OK(scif_open());
		if (b == a) {
			/* the new endpoint is unbound, not the old listener */
			EXPECT_ERR(scif_listen(b, 1), EINVAL);
			/* and the old port was freed by close() */
			EXPECT_EQ(scif_bind(b, 3102), 3102);
		} else {
			h_log("scif_open did not reuse fd %d (got %d)", a, b);
		}
		scif_close(b);
	}

	STEP("plain close() of a connected endpoint, number reused by scif_open");
	{
		struct acc_arg aa;
		struct scif_portID dst = { .node = 0, .port = 3103 };
		pthread_t t;
		char buf[4];
		scif_epd_t l = h_listen(3103, 4, NULL), old;

		for (int round = 0; round < 2; round++) {
			aa.lep = l;
			aa.newep = -1;
			a = (scif_epd_t)CHECK_OK(scif_open());
			CHECK(pthread_create(&t, NULL, acceptor, &aa) == 0);
			CHECK_OK(scif_connect(a, &dst));
			CHECK(pthread_join(t, NULL) == 0);
			CHECK_EQ(scif_send(a, "old", 3, SCIF_SEND_BLOCK), 3);
			old = a;
			if (round == 0) {
				close(a);	/* plain close of the connector */
				STEP("the peer sees the plain close()");
				EXPECT_EQ(scif_recv(aa.newep, buf, 3, SCIF_RECV_BLOCK), 3);
				EXPECT_ERR(scif_recv(aa.newep, buf, 1, SCIF_RECV_BLOCK),
					   ECONNRESET);
				scif_close(aa.newep);
			} else {
				scif_close(aa.newep);
				close(a);
			}
			STEP("a new endpoint on the reused number (round %d)", round);
			b = (scif_epd_t)CHECK_OK(scif_open());
			if (b != old)
				h_log("scif_open did not reuse fd %d (got %d)", old, b);
			EXPECT_ERR(scif_send(b, "x", 1, 0), ENOTCONN);
			EXPECT_ERR(scif_recv(b, buf, 1, 0), ENOTCONN);
			aa.newep = -1;
			CHECK(pthread_create(&t, NULL, acceptor, &aa) == 0);
			CHECK_OK(scif_connect(b, &dst));
			CHECK(pthread_join(t, NULL) == 0);
			CHECK_EQ(scif_send(b, "new", 3, SCIF_SEND_BLOCK), 3);
			memset(buf, 0, sizeof(buf));
			EXPECT_EQ(scif_recv(aa.newep, buf, 3, SCIF_RECV_BLOCK), 3);
			EXPECT(memcmp(buf, "new", 3) == 0);
			EXPECT_EQ(scif_recv(aa.newep, buf, 4, 0), 0);
			scif_close(b);
			scif_close(aa.newep);
		}
		scif_close(l);
	}

	STEP("scif_open many");
	{
		scif_epd_t eps[64];
		for (int i = 0; i < 64; i++) {
			eps[i] = (scif_epd_t)CHECK_OK(scif_open());
			for (int j = 0; j < i; j++)
				CHECK_NE(eps[i], eps[j]);
		}
		for (int i = 0; i < 64; i++)
			EXPECT_EQ(scif_close(eps[i]), 0);
	}

	STEP("SCIF_NODE and online nodes (no daemon)");
	spawn_open("0", 0);
	spawn_open("1", ENODEV);
	spawn_open("3", ENODEV);
	spawn_open("255", ENODEV);
	{
		pid_t d = h_scifd_start(2);
		spawn_open("1", 0);
		spawn_open("2", 0);
		spawn_open("3", ENODEV);
		h_scifd_stop(d);
	}
	spawn_open("1", ENODEV);

	return h_finish();
}
