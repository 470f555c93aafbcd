/* SPDX-License-Identifier: MIT */
/*
 * mpss_patterns.c - what MPSS programs written by others do, written the way
 * they write it: C99, only <scif.h> and libc, fork() for the other side,
 * errno cleared before the last calls and checked after them, the exit code
 * being the errno or the failed step.
 *
 *   errno      successful calls leave errno alone (Intel's tutorials)
 *   fork-listen  a child closes an inherited listener; the parent, blocked
 *              in scif_accept, still accepts
 *   fork-conn  a child uses an inherited connection (send, receive) and
 *              closes it; the parent's stream goes on, in order, and the
 *              peer sees nothing of the child's copy of a registered buffer
 *   dontfork   a registered buffer marked MADV_DONTFORK first is absent in
 *              the child
 *   nbstream   a non-blocking stream of 64-byte messages driven by
 *              scif_poll, sender retrying on 0
 *   reregister a fixed offset registered again after scif_unregister while
 *              the peer unmaps its mapping of it
 *
 * Run with no argument for all, or with the names of some. Exit 0 on
 * success; otherwise the step that failed is printed.
 */
#define _GNU_SOURCE
#include <scif.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PORT_BASE 2300
#define PAGE 4096
#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "mpss_patterns: %s:%d: ", __func__, __LINE__);  \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));  \
		return 1;                                                      \
	} while (0)

static scif_epd_t listener(uint16_t port)
{
	scif_epd_t l = scif_open();

	if (l < 0 || scif_bind(l, port) != port || scif_listen(l, 4) != 0)
		return -1;
	return l;
}

static scif_epd_t dial(uint16_t port)
{
	struct scif_portID dst = { 0, port };
	scif_epd_t e = scif_open();

	if (e < 0)
		return -1;
	/* the listener is a fork away: retry while it comes up */
	for (int i = 0; i < 5000; i++) {
		if (scif_connect(e, &dst) >= 0)
			return e;
		if (errno != ECONNREFUSED)
			break;
		usleep(1000);
	}
	scif_close(e);
	return -1;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int send_all(scif_epd_t e, const void *p, int n)
{
	return scif_send(e, (void *)p, n, SCIF_SEND_BLOCK) == n ? 0 : -1;
}

static int recv_all(scif_epd_t e, void *p, int n)
{
	return scif_recv(e, p, n, SCIF_RECV_BLOCK) == n ? 0 : -1;
}

/* ---- errno -------------------------------------------------------------- */

static int t_errno(void)
{
	uint16_t nodes[4], self;
	scif_epd_t l, c, a;
	struct scif_portID peer;
	pid_t pid;
	char b = 0;

	l = listener(PORT_BASE);
	if (l < 0)
		FAIL("listen");
	pid = fork();
	if (pid == 0) {
		c = dial(PORT_BASE);
		if (c < 0 || send_all(c, "x", 1) < 0 || recv_all(c, &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	if (scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) < 0)
		FAIL("accept");
	/* the tutorial way */
	errno = 0;
	scif_get_nodeIDs(nodes, 4, &self);
	recv_all(a, &b, 1);
	send_all(a, &b, 1);
	scif_close(a);
	scif_close(l);
	if (errno)
		FAIL("errno left by calls that succeeded");
	return wait_child(pid);
}

/* ---- fork-listen -------------------------------------------------------- */

static int t_fork_listen(void)
{
	scif_epd_t l = listener(PORT_BASE + 1), a;
	struct scif_portID peer;
	int ready[2], go[2];
	pid_t closer, dialer;
	char b;

	if (l < 0 || pipe(ready) || pipe(go))
		FAIL("set-up");
	closer = fork();
	if (closer == 0) {
		/* a child that does not need the listener closes it, as a
		 * forked worker does */
		if (scif_close(l) != 0)
			_exit(1);
		(void)!write(ready[1], "r", 1);
		_exit(0);
	}
	dialer = fork();
	if (dialer == 0) {
		scif_epd_t c;

		/* connect only once the other child closed its copy */
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		c = dial(PORT_BASE + 1);
		if (c < 0 || send_all(c, "y", 1) < 0)
			_exit(3);
		recv_all(c, &b, 1); /* until the parent closes */
		_exit(0);
	}
	if (read(ready[0], &b, 1) != 1 || wait_child(closer) != 0)
		FAIL("the closing child");
	(void)!write(go[1], "g", 1);
	if (scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) < 0)
		FAIL("accept after a child closed its copy of the listener");
	if (recv_all(a, &b, 1) < 0 || b != 'y')
		FAIL("recv");
	scif_close(a);
	scif_close(l);
	return wait_child(dialer);
}

/* ---- fork-conn ---------------------------------------------------------- */

/* The server: registers nothing, echoes, and reads the client's window when
 * told to. */
static int conn_server(uint16_t port)
{
	scif_epd_t l = listener(port), a;
	struct scif_portID peer;
	char cmd, buf[8];
	uint64_t v;

	if (l < 0 || scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) < 0)
		return 10;
	char *win = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	off_t loff = scif_register(a, win, PAGE, 0, SCIF_PROT_READ |
				   SCIF_PROT_WRITE, 0);
	if (loff < 0)
		return 11;
	for (;;) {
		if (recv_all(a, &cmd, 1) < 0)
			return 0; /* the last holder closed */
		switch (cmd) {
		case 'e': /* echo 8 bytes */
			if (recv_all(a, buf, 8) < 0 || send_all(a, buf, 8) < 0)
				return 12;
			break;
		case 'r': /* read the client's window at 0, send the value */
			if (scif_readfrom(a, loff, 8, 0, SCIF_RMA_SYNC) < 0)
				return 13;
			memcpy(&v, win, 8);
			if (send_all(a, &v, 8) < 0)
				return 14;
			break;
		default:
			return 15;
		}
	}
}

static int echo(scif_epd_t e, const char *tag)
{
	char out[8], in[8];

	memset(out, 0, 8);
	memcpy(out, tag, strlen(tag) < 8 ? strlen(tag) : 8);
	if (send_all(e, "e", 1) < 0 || send_all(e, out, 8) < 0 ||
	    recv_all(e, in, 8) < 0)
		return -1;
	return memcmp(in, out, 8) ? -1 : 0;
}

static int t_fork_conn(void)
{
	uint16_t port = PORT_BASE + 2;
	pid_t server, child;
	scif_epd_t e;
	uint64_t *buf, v;

	server = fork();
	if (server == 0)
		_exit(conn_server(port));
	e = dial(port);
	if (e < 0)
		FAIL("connect");
	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf[0] = 1111;
	if (scif_register(e, buf, PAGE, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			  SCIF_MAP_FIXED) != 0)
		FAIL("register");
	if (echo(e, "parent1"))
		FAIL("echo before fork");
	child = fork();
	if (child == 0) {
		/* the child's copy of the registered buffer is its own */
		buf[0] = 2222;
		if (echo(e, "child"))
			_exit(20);
		if (scif_close(e) != 0)
			_exit(21);
		_exit(0);
	}
	if (wait_child(child) != 0)
		FAIL("child");
	/* the child sent, received and closed its copy: one stream goes on */
	if (echo(e, "parent2"))
		FAIL("echo after the child used and closed the endpoint");
	if (send_all(e, "r", 1) < 0 || recv_all(e, &v, 8) < 0)
		FAIL("remote read");
	if (v != 1111 || buf[0] != 1111)
		FAIL("the peer read %llu, the parent has %llu (want 1111: "
		     "the child's write is its own)", (unsigned long long)v,
		     (unsigned long long)buf[0]);
	scif_close(e);
	return wait_child(server);
}

/* ---- dontfork ----------------------------------------------------------- */

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

static int t_dontfork(void)
{
	uint16_t port = PORT_BASE + 3;
	pid_t server, child;
	volatile char *buf;
	scif_epd_t e;
	int st;

	server = fork();
	if (server == 0)
		_exit(conn_server(port));
	e = dial(port);
	if (e < 0)
		FAIL("connect");
	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf[0] = 1;
	if (madvise((void *)buf, PAGE, MADV_DONTFORK) != 0)
		FAIL("madvise");
	if (scif_register(e, (void *)buf, PAGE, 0, SCIF_PROT_READ |
			  SCIF_PROT_WRITE, SCIF_MAP_FIXED) != 0)
		FAIL("register");
	child = fork();
	if (child == 0) {
		signal(SIGSEGV, on_segv);
		signal(SIGBUS, on_segv);
		buf[0] = 2; /* not there: faults */
		_exit(0);
	}
	st = wait_child(child);
	if (st != 42)
		FAIL("the child could touch a MADV_DONTFORK range (status %d)",
		     st);
	if (buf[0] != 1)
		FAIL("parent's buffer changed");
	scif_close(e);
	return wait_child(server);
}

/* ---- nbstream ----------------------------------------------------------- */

#define NB_MSGS 200000
#define NB_SIZE 64

static int t_nbstream(void)
{
	uint16_t port = PORT_BASE + 4;
	struct scif_pollepd pe;
	struct scif_portID peer;
	scif_epd_t l, a;
	char msg[NB_SIZE];
	uint64_t sum = 0, want = 0;
	pid_t pid;

	l = listener(port);
	if (l < 0)
		FAIL("listen");
	pid = fork();
	if (pid == 0) {
		scif_epd_t c = dial(port);
		uint64_t s = 0;

		if (c < 0)
			_exit(30);
		for (uint32_t i = 0; i < NB_MSGS; i++) {
			int r, sent = 0;

			memset(msg, (int)(i & 0xff), sizeof(msg));
			memcpy(msg, &i, sizeof(i));
			/* a non-blocking send takes what fits: retry the
			 * rest once scif_poll says there is room */
			while (sent < NB_SIZE) {
				r = scif_send(c, msg + sent, NB_SIZE - sent, 0);
				if (r < 0)
					_exit(32);
				sent += r;
				if (sent == NB_SIZE)
					break;
				pe.epd = c;
				pe.events = SCIF_POLLOUT;
				if (scif_poll(&pe, 1, 5000) != 1)
					_exit(31);
			}
			s += i;
		}
		if (recv_all(c, msg, 1) < 0) /* the receiver's ack */
			_exit(33);
		(void)s;
		_exit(0);
	}
	if (scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) < 0)
		FAIL("accept");
	for (uint32_t i = 0; i < NB_MSGS; i++) {
		int got = 0, r;
		uint32_t k;

		while (got < NB_SIZE) {
			r = scif_recv(a, msg + got, NB_SIZE - got, 0);
			if (r < 0)
				FAIL("recv of message %u", i);
			got += r;
			if (got < NB_SIZE) {
				pe.epd = a;
				pe.events = SCIF_POLLIN;
				if (scif_poll(&pe, 1, 5000) != 1)
					FAIL("poll for message %u", i);
			}
		}
		memcpy(&k, msg, sizeof(k));
		if (k != i || (unsigned char)msg[NB_SIZE - 1] != (i & 0xff))
			FAIL("message %u arrived as %u", i, k);
		sum += k;
		want += i;
	}
	if (sum != want || send_all(a, "k", 1) < 0)
		FAIL("sum");
	scif_close(a);
	scif_close(l);
	return wait_child(pid);
}

/* ---- reregister --------------------------------------------------------- */

static int t_reregister(void)
{
	uint16_t port = PORT_BASE + 5;
	const off_t fixed = 0x200000;
	struct scif_portID peer;
	scif_epd_t l, a;
	char *buf, b;
	pid_t pid;

	l = listener(port);
	if (l < 0)
		FAIL("listen");
	pid = fork();
	if (pid == 0) {
		scif_epd_t c = dial(port);
		void *m;

		if (c < 0)
			_exit(40);
		for (int round = 0; round < 20; round++) {
			if (recv_all(c, &b, 1) < 0) /* registered */
				_exit(41);
			m = scif_mmap(NULL, PAGE, SCIF_PROT_READ, 0, c, fixed);
			if (m == SCIF_MMAP_FAILED)
				_exit(42);
			if (*(volatile char *)m != (char)('a' + round))
				_exit(43);
			if (send_all(c, "m", 1) < 0) /* mapped */
				_exit(44);
			if (recv_all(c, &b, 1) < 0) /* unregistered */
				_exit(45);
			if (scif_munmap(m, PAGE) != 0)
				_exit(46);
			if (send_all(c, "u", 1) < 0) /* unmapped */
				_exit(47);
		}
		scif_close(c);
		_exit(0);
	}
	if (scif_accept(l, &peer, &a, SCIF_ACCEPT_SYNC) < 0)
		FAIL("accept");
	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int round = 0; round < 20; round++) {
		buf[0] = (char)('a' + round);
		if (scif_register(a, buf, PAGE, fixed, SCIF_PROT_READ |
				  SCIF_PROT_WRITE, SCIF_MAP_FIXED) != fixed)
			FAIL("round %d: register the fixed offset again", round);
		if (send_all(a, "r", 1) < 0 || recv_all(a, &b, 1) < 0)
			FAIL("round %d: peer mapping", round);
		if (scif_unregister(a, fixed, PAGE) != 0)
			FAIL("round %d: unregister", round);
		if (send_all(a, "d", 1) < 0 || recv_all(a, &b, 1) < 0)
			FAIL("round %d: peer unmapping", round);
	}
	scif_close(a);
	scif_close(l);
	return wait_child(pid);
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "errno", t_errno },
	{ "fork-listen", t_fork_listen },
	{ "fork-conn", t_fork_conn },
	{ "dontfork", t_dontfork },
	{ "nbstream", t_nbstream },
	{ "reregister", t_reregister },
};

int main(int argc, char **argv)
{
	int failed = 0;

	alarm(120);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int pick = argc < 2, r;

		for (int k = 1; k < argc; k++)
			pick |= !strcmp(argv[k], tests[i].name);
		if (!pick)
			continue;
		r = tests[i].fn();
		printf("%-12s %s", tests[i].name, r ? "FAIL" : "ok");
		if (r)
			printf(" (%d)", r);
		printf("\n");
		fflush(stdout);
		failed |= r != 0;
	}
	return failed;
}
