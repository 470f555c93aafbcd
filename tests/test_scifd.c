/* SPDX-License-Identifier: MIT */
/*
 * test_scifd - exercise scifd as a real process.
 *
 * Every daemon runs in a private fabric (SCIF_FABRIC=t-scifd-<pid>), so this
 * test can run beside others. Readiness is a byte on a pipe (--ready-fd),
 * never a sleep; alarm() is a per-test watchdog that kills our daemons and
 * fails the run rather than letting it hang.
 */
#define _GNU_SOURCE
#include "names.h"
#include "nodeq.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SCIFD_PATH
#error "build with -DSCIFD_PATH=\"/path/to/scifd\""
#endif

#define WATCHDOG_S 20
#define MAX_DAEMONS 8

static char fabric[SKIFF_FABRIC_MAX + 1];
static const char *cur_test = "?";
static int failures_in_test;
static pid_t daemons[MAX_DAEMONS]; /* to kill from the watchdog */

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "# %s:%d: %s: check failed: %s\n",   \
				__FILE__, __LINE__, cur_test, #cond);        \
			failures_in_test++;                                  \
		}                                                            \
	} while (0)

/* Fail and leave the test function: later steps depend on this one. */
#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "# %s:%d: %s: requirement failed: %s\n", \
				__FILE__, __LINE__, cur_test, #cond);        \
			failures_in_test++;                                  \
			return;                                              \
		}                                                            \
	} while (0)

static void put_str(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static void on_alarm(int sig)
{
	(void)sig;
	put_str("# watchdog: test '");
	put_str(cur_test);
	put_str("' timed out\n");
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] > 0)
			kill(daemons[i], SIGKILL);
	_exit(1);
}

static void track(pid_t pid)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] <= 0) {
			daemons[i] = pid;
			return;
		}
}

static void untrack(pid_t pid)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] == pid)
			daemons[i] = 0;
}

struct proc {
	pid_t pid;
	int ready; /* read end of the readiness pipe, or -1 */
	int err;   /* read end of the child's stderr, or -1 */
	int out;   /* read end of the child's stdout, or -1 */
};

/*
 * Run scifd with @argv (argv[0] is filled in). With @ready, a pipe is passed
 * as --ready-fd; with @capture, stdout and stderr go to pipes.
 */
static struct proc spawn(const char **args, bool ready, bool capture)
{
	struct proc p = { -1, -1, -1, -1 };
	const char *argv[16];
	char fdbuf[16];
	int rp[2] = { -1, -1 }, ep[2] = { -1, -1 }, op[2] = { -1, -1 };
	pid_t parent = getpid();
	int n = 0;

	argv[n++] = SCIFD_PATH;
	for (int i = 0; args[i] && n < 13; i++)
		argv[n++] = args[i];
	if (ready) {
		if (pipe2(rp, O_CLOEXEC) < 0)
			return p;
		snprintf(fdbuf, sizeof(fdbuf), "%d", rp[1]);
		argv[n++] = "--ready-fd";
		argv[n++] = fdbuf;
	}
	argv[n] = NULL;
	if (capture && (pipe2(ep, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0))
		return p;

	p.pid = fork();
	if (p.pid == 0) {
		/* Die with the test, even if it is killed: a stray daemon
		 * would hold its fabric name. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (ready)
			fcntl(rp[1], F_SETFD, 0); /* keep across exec */
		if (capture) {
			dup2(op[1], 1);
			dup2(ep[1], 2);
		}
		execv(SCIFD_PATH, (char **)argv);
		_exit(127);
	}
	if (p.pid > 0)
		track(p.pid);
	if (ready) {
		close(rp[1]);
		p.ready = rp[0];
	}
	if (capture) {
		close(ep[1]);
		close(op[1]);
		p.err = ep[0];
		p.out = op[0];
	}
	return p;
}

/* 1 if the daemon signalled readiness, 0 if the pipe closed without it. */
static int wait_ready(struct proc *p)
{
	char b;
	ssize_t n;

	do
		n = read(p->ready, &b, 1);
	while (n < 0 && errno == EINTR);
	close(p->ready);
	p->ready = -1;
	return n == 1;
}

static int wait_exit(struct proc *p)
{
	int st;

	while (waitpid(p->pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	untrack(p->pid);
	if (p->ready >= 0)
		close(p->ready);
	if (p->err >= 0)
		close(p->err);
	if (p->out >= 0)
		close(p->out);
	p->ready = p->err = p->out = -1;
	return st;
}

static bool exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* Read a pipe to end of file. */
static void slurp(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got + 1 < n) {
		ssize_t r = read(fd, buf + got, n - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
}

static struct proc start_daemon(const char *cards)
{
	const char *args[] = { "--cards", cards, NULL };
	struct proc p = spawn(args, true, false);

	if (p.pid > 0 && !wait_ready(&p)) {
		wait_exit(&p);
		p.pid = -1;
	}
	return p;
}

static int stop_daemon(struct proc *p, int sig)
{
	kill(p->pid, sig);
	return wait_exit(p);
}

static int raw_connect(const char *fab)
{
	struct sockaddr_un sa;
	socklen_t sl = skiff_daemon_addr(&sa, fab);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sl) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_query(int fd)
{
	struct skiff_wire_msg q;
	size_t len;

	skiff_wire_init(&q, SKIFF_MSG_NODE_QUERY);
	len = sizeof(q.hdr) + q.hdr.body_len;
	return send(fd, &q, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* Receive one NODE_INFO; false on timeout, end of file or a bad record. */
static bool recv_info(int fd, struct skiff_node_info *info, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	struct skiff_wire_msg m;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n <= 0 || skiff_wire_decode(buf, (size_t)n, &m) < 0 ||
	    m.hdr.type != SKIFF_MSG_NODE_INFO)
		return false;
	*info = m.body.info;
	return true;
}

/* True if the daemon closes @fd within @ms without sending anything. */
static bool expect_eof(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- tests ---- */

static void t_query(void)
{
	struct proc d = start_daemon("3");
	struct skiff_node_info info;

	REQUIRE(d.pid > 0);
	CHECK(skiff_query_nodes(fabric, &info) == 0);
	CHECK(info.ncards == 3);
	CHECK(info.daemon_pid == (uint32_t)d.pid);
	CHECK(info.card_mem == 256ull << 20);
	CHECK(info.self_node == 0 && info.flags == 0);
	{
		struct skiff_host_info h[2];

		/* no fabric file: no hosts to tell of */
		CHECK(skiff_query_hosts(fabric, h, 2) == 0);
	}
	CHECK(skiff_node_online(fabric, 0) == 1);
	CHECK(skiff_node_online(fabric, 1) == 1);
	CHECK(skiff_node_online(fabric, 3) == 1);
	CHECK(skiff_node_online(fabric, 4) == 0);
	CHECK(skiff_node_online(fabric, 255) == 0);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_cards_range(void)
{
	struct skiff_node_info info;
	struct proc d = start_daemon("0");

	REQUIRE(d.pid > 0);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 0);
	CHECK(skiff_node_online(fabric, 0) == 1);
	CHECK(skiff_node_online(fabric, 1) == 0);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));

	d = start_daemon("255");
	REQUIRE(d.pid > 0);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 255);
	CHECK(skiff_node_online(fabric, 255) == 1);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_second_refused(void)
{
	const char *args[] = { "--cards", "1", NULL };
	struct proc d = start_daemon("2"), d2;
	struct skiff_node_info info;
	char err[1024], want[128];

	REQUIRE(d.pid > 0);
	d2 = spawn(args, true, true);
	REQUIRE(d2.pid > 0);
	CHECK(!wait_ready(&d2)); /* never signals readiness */
	slurp(d2.err, err, sizeof(err));
	CHECK(exited_with(wait_exit(&d2), 1));
	snprintf(want, sizeof(want), "scifd: fabric '%s' already has a daemon",
		 fabric);
	CHECK(strstr(err, want) != NULL);
	/* the first daemon is unaffected */
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 2);
	CHECK(info.daemon_pid == (uint32_t)d.pid);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_stop_signals(void)
{
	struct skiff_node_info info;
	struct proc d = start_daemon("1");

	REQUIRE(d.pid > 0);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
	CHECK(skiff_query_nodes(fabric, &info) == -ENOENT);
	CHECK(skiff_node_online(fabric, 0) == 1);
	CHECK(skiff_node_online(fabric, 1) == 0);

	/* the name is free again at once: a restart needs no clean-up */
	d = start_daemon("1");
	REQUIRE(d.pid > 0);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 1);
	CHECK(exited_with(stop_daemon(&d, SIGINT), 0));
	CHECK(skiff_query_nodes(fabric, &info) == -ENOENT);

	/* even a daemon killed outright leaves nothing stale behind */
	d = start_daemon("1");
	REQUIRE(d.pid > 0);
	CHECK(stop_daemon(&d, SIGKILL) != -1);
	CHECK(skiff_query_nodes(fabric, &info) == -ENOENT);
	d = start_daemon("1");
	REQUIRE(d.pid > 0);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_fabric_option(void)
{
	char other[SKIFF_FABRIC_MAX + 8]; /* room for the suffix */
	const char *args[] = { "--cards", "4", "--fabric", other, NULL };
	struct skiff_node_info info;
	struct proc d;

	snprintf(other, sizeof(other), "%s-b", fabric);
	d = spawn(args, true, false);
	REQUIRE(d.pid > 0);
	REQUIRE(wait_ready(&d));
	CHECK(skiff_query_nodes(other, &info) == 0 && info.ncards == 4);
	CHECK(skiff_query_nodes(fabric, &info) == -ENOENT); /* not ours */
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_many_queries_one_connection(void)
{
	struct proc d = start_daemon("7");
	struct skiff_node_info info;
	int fd;

	REQUIRE(d.pid > 0);
	fd = raw_connect(fabric);
	REQUIRE(fd >= 0);
	/* interleaved */
	for (int i = 0; i < 5; i++) {
		CHECK(send_query(fd));
		CHECK(recv_info(fd, &info, 5000) && info.ncards == 7);
	}
	/* pipelined */
	for (int i = 0; i < 20; i++)
		CHECK(send_query(fd));
	for (int i = 0; i < 20; i++)
		CHECK(recv_info(fd, &info, 5000) && info.ncards == 7);
	close(fd);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

struct bad {
	const char *what;
	unsigned char rec[64];
	size_t len;
};

static void make_bad(struct bad *b, const char *what, int kind)
{
	struct skiff_wire_msg m;

	skiff_wire_init(&m, SKIFF_MSG_NODE_QUERY);
	b->what = what;
	b->len = sizeof(m.hdr) + m.hdr.body_len;
	switch (kind) {
	case 0: b->len = 8; break;                        /* short header */
	case 1: m.hdr.magic ^= 1; break;
	case 2: m.hdr.version = SKIFF_WIRE_VERSION + 1; break;
	case 3: m.hdr.type = 0; break;
	case 4: m.hdr.type = SKIFF_MSG_TYPE_MAX + 1; break;
	case 5: m.hdr.body_len += 4; b->len += 4; break;  /* wrong body_len */
	case 6: m.hdr.reserved = 1; break;
	case 7: b->len -= 4; break;                       /* truncated body */
	case 8: m.body.query.flags = 1; break;            /* unknown flag */
	case 9:                                           /* wrong direction */
		skiff_wire_init(&m, SKIFF_MSG_NODE_INFO);
		b->len = sizeof(m.hdr) + m.hdr.body_len;
		break;
	case 10:                                          /* valid, wrong type */
		skiff_wire_init(&m, SKIFF_MSG_DOORBELL);
		b->len = sizeof(m.hdr);
		break;
	case 11: memset(&m, 0xa5, sizeof(m)); break;      /* garbage */
	}
	memset(b->rec, 0, sizeof(b->rec));
	memcpy(b->rec, &m, sizeof(m) < b->len ? sizeof(m) : b->len);
}

static void t_malformed(void)
{
	static const char *names[] = {
		"short header", "bad magic", "bad version", "type 0",
		"unknown type", "wrong body_len", "reserved set",
		"truncated body", "unknown flag", "NODE_INFO to daemon",
		"DOORBELL to daemon", "garbage",
	};
	struct proc d = start_daemon("5");
	struct skiff_node_info info;
	int good;

	REQUIRE(d.pid > 0);
	/* a client connected before, and kept across, the bad ones */
	good = raw_connect(fabric);
	REQUIRE(good >= 0);
	CHECK(send_query(good) && recv_info(good, &info, 5000));

	for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++) {
		struct bad b;
		int fd = raw_connect(fabric);

		make_bad(&b, names[k], k);
		REQUIRE(fd >= 0);
		CHECK(send(fd, b.rec, b.len, MSG_NOSIGNAL) == (ssize_t)b.len);
		if (!expect_eof(fd, 5000)) {
			fprintf(stderr, "# not disconnected after: %s\n", b.what);
			failures_in_test++;
		}
		close(fd);
		/* the daemon still serves others */
		CHECK(send_query(good) && recv_info(good, &info, 5000) &&
		      info.ncards == 5);
	}

	/* an empty record is as good as end of file */
	{
		int fd = raw_connect(fabric);
		REQUIRE(fd >= 0);
		CHECK(send(fd, "", 0, MSG_NOSIGNAL) == 0);
		CHECK(expect_eof(fd, 5000));
		close(fd);
	}
	/* one bad record after good ones on the same connection */
	{
		int fd = raw_connect(fabric);
		struct bad b;

		REQUIRE(fd >= 0);
		CHECK(send_query(fd) && recv_info(fd, &info, 5000));
		make_bad(&b, "garbage", 11);
		CHECK(send(fd, b.rec, b.len, MSG_NOSIGNAL) == (ssize_t)b.len);
		CHECK(expect_eof(fd, 5000));
		close(fd);
	}
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 5);
	close(good);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

/* Padding after the body is allowed, however much; descriptors attached to
 * a query are discarded, not kept open by the daemon. */
static void t_padding_and_fds(void)
{
	struct proc d = start_daemon("2");
	struct skiff_node_info info;
	static unsigned char big[SKIFF_CREDIT_BYTES];
	struct skiff_wire_msg q;
	int fd, before, after, mfd;

	REQUIRE(d.pid > 0);
	fd = raw_connect(fabric);
	REQUIRE(fd >= 0);
	skiff_wire_init(&q, SKIFF_MSG_NODE_QUERY);
	memset(big, 0x5a, sizeof(big));
	memcpy(big, &q, sizeof(q.hdr) + q.hdr.body_len);
	CHECK(send(fd, big, 100, MSG_NOSIGNAL) == 100);
	CHECK(recv_info(fd, &info, 5000) && info.ncards == 2);
	CHECK(send(fd, big, sizeof(big), MSG_NOSIGNAL) == (ssize_t)sizeof(big));
	CHECK(recv_info(fd, &info, 5000) && info.ncards == 2);

	before = count_fds(d.pid);
	mfd = memfd_create("t-scifd", MFD_CLOEXEC);
	REQUIRE(mfd >= 0);
	for (int i = 0; i < 10; i++) {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { big, sizeof(q.hdr) + q.hdr.body_len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &mfd, sizeof(int));
		CHECK(sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len);
		CHECK(recv_info(fd, &info, 5000) && info.ncards == 2);
	}
	after = count_fds(d.pid);
	CHECK(before > 0 && after == before);
	close(mfd);
	close(fd);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

/* A client that never reads its replies is dropped; the daemon does not
 * block on it and keeps serving others. */
static void t_slow_reader(void)
{
	struct proc d = start_daemon("3");
	struct skiff_node_info info;
	bool dropped = false;
	int fd;

	REQUIRE(d.pid > 0);
	fd = raw_connect(fabric);
	REQUIRE(fd >= 0);
	for (long i = 0; i < 1000000 && !dropped; i++) {
		struct skiff_wire_msg q;

		skiff_wire_init(&q, SKIFF_MSG_NODE_QUERY);
		if (send(fd, &q, sizeof(q.hdr) + q.hdr.body_len, MSG_NOSIGNAL) < 0) {
			CHECK(errno == EPIPE || errno == ECONNRESET);
			dropped = true;
		}
	}
	CHECK(dropped);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 3);
	close(fd);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

/* More idle clients than the daemon keeps: the idlest are evicted and a
 * new client is still answered. */
static void t_client_limit(void)
{
	enum { N = 1100 };
	static int fds[N];
	struct rlimit rl;
	struct skiff_node_info info;
	struct proc d;
	int n = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < N + 64) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > N + 64
			? N + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < N + 64) {
		fprintf(stderr, "# skipped: RLIMIT_NOFILE too low\n");
		return;
	}
	d = start_daemon("1");
	REQUIRE(d.pid > 0);
	for (; n < N; n++) {
		fds[n] = raw_connect(fabric);
		if (fds[n] < 0)
			break;
	}
	CHECK(n == N);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 1);
	/* the first connection was the idlest */
	CHECK(n > 0 && expect_eof(fds[0], 5000));
	/* the daemon's descriptors stay bounded */
	CHECK(count_fds(d.pid) <= 1024 + 16);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	CHECK(skiff_query_nodes(fabric, &info) == 0 && info.ncards == 1);
	CHECK(exited_with(stop_daemon(&d, SIGTERM), 0));
}

static void t_usage(void)
{
	static const char *bad[][6] = {
		{ NULL },                                 /* no --cards */
		{ "--cards", "256", NULL },
		{ "--cards", "-1", NULL },
		{ "--cards", "3x", NULL },
		{ "--cards", "", NULL },
		{ "--cards", "1", "--fabric", "a/b", NULL },
		{ "--cards", "1", "--fabric", "", NULL },
		{ "--cards", "1", "--fabric",
		  "0123456789012345678901234567890123456789012345678", NULL },
		{ "--cards", "1", "--ready-fd", "999", NULL },
		{ "--cards", "1", "--ready-fd", "x", NULL },
		{ "--cards", "1", "extra", NULL },
		{ "--bogus", NULL },
	};
	const char *help[] = { "--help", NULL };
	char out[4096];
	struct proc p;

	for (int i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		p = spawn(bad[i], false, true);
		REQUIRE(p.pid > 0);
		slurp(p.err, out, sizeof(out));
		if (!exited_with(wait_exit(&p), 2)) {
			fprintf(stderr, "# case %d (%s %s): not exit 2\n", i,
				bad[i][0] ? bad[i][0] : "", bad[i][0] &&
				bad[i][1] ? bad[i][1] : "");
			failures_in_test++;
		}
		CHECK(strstr(out, "scifd") != NULL);
	}
	p = spawn(help, false, true);
	REQUIRE(p.pid > 0);
	slurp(p.out, out, sizeof(out));
	CHECK(exited_with(wait_exit(&p), 0));
	CHECK(strstr(out, "usage: scifd") != NULL);
}

/* --config: the file's errors are one line and exit 2, --cards and
 * --config exclude each other, and a host's nodes are its line's. Two
 * hosts on loopback addresses, only one running: the other is down, which
 * needs neither munged nor root. */
static void t_config(void)
{
#ifdef SKIFF_HAVE_FABRIC
	char path[64], bad[64], out[4096];
	unsigned port = 20000 + (unsigned)getpid() % 20000;
	struct skiff_node_info info;
	struct skiff_host_info h[4];
	struct proc p;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/%s.fabric", fabric);
	snprintf(bad, sizeof(bad), "/tmp/%s.bad", fabric);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fprintf(f, "# two hosts\nhost a 127.0.0.1:%u nodes 0-2\n"
		"host b 127.0.0.2:%u nodes 3\n", port, port);
	fclose(f);
	REQUIRE((f = fopen(bad, "w")) != NULL);
	fprintf(f, "host a 127.0.0.1 nodes 0-2\nhost b 127.0.0.2 nodes 2-3\n");
	fclose(f);
	{
		const char *cases[][7] = {
			{ "--config", path, NULL },		/* no --host */
			{ "--host", "a", NULL },		/* no --config */
			{ "--config", path, "--host", "zz", NULL },
			{ "--config", path, "--host", "a", "--cards", "1", NULL },
			{ "--config", bad, "--host", "a", NULL },
			{ "--config", "/nonexistent/fabric", "--host", "a", NULL },
		};
		const char *says[] = { "--host", "--config", "no host 'zz'",
				       "exclude", ":2: node range",
				       "No such file" };

		for (int i = 0; i < 6; i++) {
			p = spawn(cases[i], false, true);
			REQUIRE(p.pid > 0);
			slurp(p.err, out, sizeof(out));
			CHECK(exited_with(wait_exit(&p), 2));
			if (!strstr(out, says[i])) {
				fprintf(stderr, "# case %d said: %s\n", i, out);
				failures_in_test++;
			}
		}
	}
	{
		const char *args[] = { "--config", path, "--host", "a",
				       "--card-mem", "1M", NULL };

		p = spawn(args, true, false);
		REQUIRE(p.pid > 0 && wait_ready(&p));
		CHECK(skiff_query_nodes(fabric, &info) == 0);
		CHECK(info.self_node == 0 && info.ncards == 2);
		CHECK(info.flags == SKIFF_NODE_INFO_HOSTS);
		/* b is down: its node is not online */
		CHECK(skiff_node_bit(&info, 2) && !skiff_node_bit(&info, 3));
		CHECK(skiff_node_local(fabric, 2) == 1);
		CHECK(skiff_node_local(fabric, 3) == 0);
		CHECK(skiff_default_node(fabric) == 0);
		CHECK(skiff_query_hosts(fabric, h, 4) == 2);
		CHECK(strcmp(h[0].name, "a") == 0 && h[0].state == SKIFF_HOST_SELF);
		CHECK(strcmp(h[1].name, "b") == 0 && h[1].state == SKIFF_HOST_DOWN);
		CHECK(h[1].first == 3 && h[1].last == 3 && h[1].port == port);
		CHECK(strcmp(h[1].addr, "127.0.0.2") == 0);
		CHECK(exited_with(stop_daemon(&p, SIGTERM), 0));
	}
	{
		const char *args[] = { "--config", path, "--host", "b", NULL };

		p = spawn(args, true, false);
		REQUIRE(p.pid > 0 && wait_ready(&p));
		CHECK(skiff_query_nodes(fabric, &info) == 0);
		CHECK(info.self_node == 3 && info.ncards == 0);
		CHECK(skiff_node_bit(&info, 3) && !skiff_node_bit(&info, 0));
		CHECK(skiff_default_node(fabric) == 3);
		CHECK(skiff_node_local(fabric, 0) == 0);
		CHECK(exited_with(stop_daemon(&p, SIGTERM), 0));
	}
	unlink(path);
	unlink(bad);
#endif
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "query", t_query },
	{ "cards_range", t_cards_range },
	{ "second_daemon_refused", t_second_refused },
	{ "stop_signals", t_stop_signals },
	{ "fabric_option", t_fabric_option },
	{ "many_queries_one_connection", t_many_queries_one_connection },
	{ "malformed_records", t_malformed },
	{ "padding_and_fds", t_padding_and_fds },
	{ "slow_reader", t_slow_reader },
	{ "client_limit", t_client_limit },
	{ "usage", t_usage },
	{ "config", t_config },
};

int main(int argc, char **argv)
{
	int ntests = (int)(sizeof(tests) / sizeof(tests[0]));
	int failed = 0;
	char env[64];

	/* Our own sends to a dropped client fail with EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	snprintf(env, sizeof(env), "t-scifd-%d", (int)getpid());
	setenv("SCIF_FABRIC", env, 1);
	if (skiff_fabric(fabric) < 0) {
		fprintf(stderr, "skiff_fabric failed\n");
		return 1;
	}

	printf("1..%d\n", ntests);
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) {
			printf("ok %d - %s # SKIP\n", i + 1, tests[i].name);
			continue;
		}
		cur_test = tests[i].name;
		failures_in_test = 0;
		alarm(WATCHDOG_S);
		tests[i].fn();
		alarm(0);
		/* A test that gave up early may leave a daemon holding the
		 * fabric name: kill it, so the next test starts clean. */
		for (int k = 0; k < MAX_DAEMONS; k++) {
			if (daemons[k] <= 0)
				continue;
			fprintf(stderr, "# %s left daemon %d running\n",
				cur_test, (int)daemons[k]);
			kill(daemons[k], SIGKILL);
			waitpid(daemons[k], NULL, 0);
			daemons[k] = 0;
			failures_in_test++;
		}
		printf("%sok %d - %s\n", failures_in_test ? "not " : "", i + 1,
		       tests[i].name);
		fflush(stdout);
		if (failures_in_test)
			failed++;
	}
	return failed ? 1 : 0;
}
