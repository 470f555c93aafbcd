/* SPDX-License-Identifier: MIT */
/*
 * test_peer_kill: a peer killed with SIGKILL at any moment makes the
 * survivor's blocked recv/send/poll, and every later call, return
 * ECONNRESET (POLLHUP) within 1 s.
 *
 * The killer thread waits until the survivor's thread is asleep in the
 * library (its /proc state is 'S') before it kills, so the blocked case is
 * the one tested; the "random moment" test kills a busy echo peer after a
 * random delay.
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define LIMIT_MS 1000

static char task_state(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

struct killer {
	pid_t victim;     /* process to kill */
	pid_t wait_tid;   /* kill once this thread sleeps (0: after delay_us) */
	int delay_us;
	_Atomic int64_t t_kill;
	int slept;        /* the thread was seen asleep */
};

static void *killer_thread(void *a)
{
	struct killer *k = a;

	if (k->wait_tid) {
		int64_t t0 = h_now_ns();
		int seen = 0;

		/* bounded wait for the event "survivor asleep": two
		 * consecutive observations 1 ms apart */
		while (h_ms_since(t0) < 3000) {
			struct timespec ts = { 0, 1000 * 1000 };
			if (task_state(k->wait_tid) == 'S') {
				if (++seen >= 2)
					break;
			} else {
				seen = 0;
			}
			nanosleep(&ts, NULL);
		}
		k->slept = seen >= 2;
	} else if (k->delay_us) {
		usleep((useconds_t)k->delay_us); /* the random moment */
	}
	atomic_store(&k->t_kill, h_now_ns());
	kill(k->victim, SIGKILL);
	return NULL;
}

static void start_killer(struct killer *k, pthread_t *t)
{
	atomic_store(&k->t_kill, 0);
	CHECK(pthread_create(t, NULL, killer_thread, k) == 0);
}

static int64_t ms_after_kill(struct killer *k)
{
	int64_t tk = atomic_load(&k->t_kill);

	return tk ? (h_now_ns() - tk) / 1000000 : -1;
}

/* Child: connect to the parent, tell it, then sit until killed. */
struct sitter_arg {
	uint16_t port;
	int wr;
	int send_first; /* bytes to send before sitting */
};

static int sitter(void *a)
{
	struct sitter_arg *sa = a;
	static unsigned char buf[65536];
	scif_epd_t ep = h_connect(0, sa->port);

	if (sa->send_first)
		CHECK_EQ(scif_send(ep, buf, sa->send_first, SCIF_SEND_BLOCK),
			 sa->send_first);
	h_put(sa->wr, 1);
	for (;;)
		pause();
	return 0;
}

enum op { OP_RECV, OP_SEND, OP_SCIF_POLL, OP_POLL, NOPS };
static const char *op_name[] = { "blocking recv", "blocking send",
				 "scif_poll(-1)", "poll(-1)" };

static void after_reset_checks(scif_epd_t s)
{
	char b[8];
	struct scif_pollepd p = { .epd = s, .events = POLLIN | POLLOUT };
	int64_t t0 = h_now_ns();

	STEP("later calls on the survivor");
	EXPECT_ERR(scif_recv(s, b, 8, SCIF_RECV_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_recv(s, b, 8, 0), ECONNRESET);
	EXPECT_ERR(scif_send(s, b, 8, SCIF_SEND_BLOCK), ECONNRESET);
	EXPECT_ERR(scif_send(s, b, 8, 0), ECONNRESET);
	EXPECT_EQ(scif_poll(&p, 1, 1000), 1);
	EXPECT(p.revents & POLLHUP);
	EXPECT_LT(h_ms_since(t0), 1000);
	EXPECT_EQ(scif_close(s), 0);
}

static void blocked_op_killed(enum op op, uint16_t port)
{
	struct sitter_arg sa = { .port = port };
	struct killer k = { 0 };
	struct h_pipe ready;
	struct scif_portID peer;
	static unsigned char big[65536];
	scif_epd_t l, s;
	pthread_t t;
	int64_t ms;
	int r, e;

	STEP("%s while the peer is killed", op_name[op]);
	h_pipe_init(&ready, 0);
	sa.wr = ready.wr;
	l = h_listen(port, 1, NULL);
	k.victim = h_fork(sitter, &sa);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	h_get_must(ready.rd, 5000);
	if (op == OP_SEND) {
		while (CHECK_OK(scif_send(s, big, sizeof(big), 0)) > 0)
			;
	}
	k.wait_tid = (pid_t)syscall(SYS_gettid);
	start_killer(&k, &t);
	errno = 0;
	switch (op) {
	case OP_RECV:
		r = scif_recv(s, big, 100, SCIF_RECV_BLOCK);
		e = errno;
		ms = ms_after_kill(&k);
		EXPECT_EQ(r, -1);
		EXPECT_EQ(e, ECONNRESET);
		break;
	case OP_SEND:
		r = scif_send(s, big, 10000, SCIF_SEND_BLOCK);
		e = errno;
		ms = ms_after_kill(&k);
		EXPECT_EQ(r, -1);
		EXPECT_EQ(e, ECONNRESET);
		break;
	case OP_SCIF_POLL: {
		struct scif_pollepd p = { .epd = s, .events = POLLIN };
		r = scif_poll(&p, 1, -1);
		ms = ms_after_kill(&k);
		EXPECT_EQ(r, 1);
		EXPECT(p.revents & POLLHUP);
		break;
	}
	case OP_POLL:
	default: {
		struct pollfd p = { .fd = s, .events = POLLIN };
		r = poll(&p, 1, -1);
		ms = ms_after_kill(&k);
		EXPECT_EQ(r, 1);
		EXPECT(p.revents & POLLHUP);
		break;
	}
	}
	CHECK(pthread_join(t, NULL) == 0);
	if (!k.slept)
		h_log("note: the survivor never slept during %s (busy-waits?)",
		      op_name[op]);
	h_log("%s returned %d ms after the kill", op_name[op], (int)ms);
	EXPECT_GE(ms, 0); /* it did not return before the kill */
	EXPECT_LE(ms, LIMIT_MS);
	h_waitpid(k.victim, 5000);
	after_reset_checks(s);
	scif_close(l);
	h_pipe_close(&ready);
}

/* ---- killed at a random moment while busy ------------------------------ */

struct echo_arg {
	uint16_t port;
	int wr;
};

static int echo_peer(void *a)
{
	struct echo_arg *ea = a;
	static unsigned char buf[8192];
	scif_epd_t ep = h_connect(0, ea->port);
	uint64_t rs = (uint64_t)getpid();

	h_put(ea->wr, 1);
	for (;;) {
		int n = 1 + (int)(h_rand(&rs) % sizeof(buf));
		int r = scif_recv(ep, buf, n, (int)(h_rand(&rs) & 1));

		if (r < 0)
			break;
		if (r > 0 && scif_send(ep, buf, r, SCIF_SEND_BLOCK) != r)
			break;
	}
	return 0;
}

struct pump_arg {
	scif_epd_t ep;
	int ret, err;
	_Atomic int64_t t_end;
};

static void *pump_send(void *a)
{
	struct pump_arg *pa = a;
	static unsigned char buf[6000];
	uint64_t rs = 7;

	for (;;) {
		int n = 1 + (int)(h_rand(&rs) % sizeof(buf));
		int r = scif_send(pa->ep, buf, n, SCIF_SEND_BLOCK);

		if (r != n) {
			/* a partial count is allowed once (SCIF returns what
			 * it sent before the reset); the next call must fail */
			if (r >= 0 && r < n) {
				errno = 0;
				r = scif_send(pa->ep, buf, n, SCIF_SEND_BLOCK);
			}
			pa->ret = r;
			pa->err = errno;
			break;
		}
	}
	atomic_store(&pa->t_end, h_now_ns());
	return NULL;
}

static void random_moment(uint16_t port, int iters)
{
	uint64_t rs = 12345;

	for (int i = 0; i < iters; i++) {
		struct echo_arg ea = { .port = port };
		struct killer k = { 0 };
		struct pump_arg pa = { 0 };
		struct h_pipe ready;
		struct scif_portID peer;
		static unsigned char buf[8192];
		pthread_t kt, st;
		scif_epd_t l, s;
		int r, e;

		STEP("random moment %d: kill a busy echo peer", i);
		h_pipe_init(&ready, 0);
		ea.wr = ready.wr;
		l = h_listen(port, 1, NULL);
		k.victim = h_fork(echo_peer, &ea);
		CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
		h_get_must(ready.rd, 5000);
		k.delay_us = (int)(h_rand(&rs) % 30000);
		pa.ep = s;
		CHECK(pthread_create(&st, NULL, pump_send, &pa) == 0);
		start_killer(&k, &kt);
		for (;;) {
			int n = 1 + (int)(h_rand(&rs) % sizeof(buf));
			r = scif_recv(s, buf, n, (int)(h_rand(&rs) & 1));
			e = errno;
			if (r < 0)
				break;
			if (atomic_load(&k.t_kill) && ms_after_kill(&k) > 5000)
				break; /* never reports the reset: fail below */
		}
		{
			int64_t ms = ms_after_kill(&k);
			EXPECT_EQ(r, -1);
			EXPECT_EQ(e, ECONNRESET);
			EXPECT_LE(ms, LIMIT_MS);
		}
		CHECK(pthread_join(kt, NULL) == 0);
		{
			/* the sender thread must end too, within the limit */
			int64_t t0 = h_now_ns();
			while (atomic_load(&pa.t_end) == 0 && h_ms_since(t0) < 5000) {
				struct timespec ts = { 0, 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
			if (atomic_load(&pa.t_end) == 0) {
				h_fail(__FILE__, __LINE__,
				       "blocked sender returns after the peer is killed",
				       0, 1);
			}
			CHECK(pthread_join(st, NULL) == 0);
			EXPECT_EQ(pa.ret, -1);
			EXPECT_EQ(pa.err, ECONNRESET);
			EXPECT_LE((atomic_load(&pa.t_end) - atomic_load(&k.t_kill)) / 1000000,
				  LIMIT_MS);
		}
		h_waitpid(k.victim, 5000);
		after_reset_checks(s);
		scif_close(l);
		h_pipe_close(&ready);
	}
}

/* ---- the acceptor dies while a connect waits ------------------------------ */

struct lazy_arg {
	uint16_t port;
	int wr;
};

static int lazy_listener(void *a)
{
	struct lazy_arg *la = a;

	h_listen(la->port, 4, NULL);
	h_put(la->wr, 1);
	for (;;)
		pause();
	return 0;
}

static void acceptor_killed(uint16_t port)
{
	struct lazy_arg la = { .port = port };
	struct killer k = { 0 };
	struct h_pipe ready;
	struct scif_portID dst = { .node = 0, .port = port };
	scif_epd_t c;
	pthread_t t;
	int r, e;
	int64_t ms;

	STEP("listener killed while a connect waits for accept");
	h_pipe_init(&ready, 0);
	la.wr = ready.wr;
	k.victim = h_fork(lazy_listener, &la);
	h_get_must(ready.rd, 5000);
	c = (scif_epd_t)CHECK_OK(scif_open());
	k.wait_tid = (pid_t)syscall(SYS_gettid);
	start_killer(&k, &t);
	errno = 0;
	r = scif_connect(c, &dst);
	e = errno;
	ms = ms_after_kill(&k);
	CHECK(pthread_join(t, NULL) == 0);
	EXPECT_EQ(r, -1);
	if (!(e == ECONNREFUSED || e == ECONNRESET))
		h_log("connect failed with %s", strerrorname_np(e));
	EXPECT(e == ECONNREFUSED || e == ECONNRESET);
	EXPECT_GE(ms, 0);
	EXPECT_LE(ms, LIMIT_MS);
	h_waitpid(k.victim, 5000);
	scif_close(c);
	h_pipe_close(&ready);
}

/* ---- the connector dies while its request is pending ----------------------- */

static int pending_connector(void *a)
{
	uint16_t port = *(uint16_t *)a;
	struct scif_portID dst = { .node = 0, .port = port };
	scif_epd_t c = (scif_epd_t)CHECK_OK(scif_open());

	scif_connect(c, &dst); /* killed while in here */
	return 0;
}

static int good_connector(void *a)
{
	uint16_t port = *(uint16_t *)a;
	scif_epd_t c = h_connect(0, port);
	char b;

	CHECK_EQ(scif_send(c, "ok", 2, SCIF_SEND_BLOCK), 2);
	EXPECT_ERR(scif_recv(c, &b, 1, SCIF_RECV_BLOCK), ECONNRESET);
	scif_close(c);
	return 0;
}

static void connector_killed(uint16_t port)
{
	struct scif_portID peer;
	scif_epd_t l, s;
	pid_t pid;
	char b[4];
	int r, e;

	STEP("connector killed while its request is pending");
	l = h_listen(port, 4, NULL);
	pid = h_fork(pending_connector, &port);
	{
		struct scif_pollepd p = { .epd = l, .events = POLLIN };
		CHECK_EQ(scif_poll(&p, 1, 5000), 1);
	}
	kill(pid, SIGKILL);
	h_waitpid(pid, 5000);
	STEP("accept after the connector died");
	errno = 0;
	r = scif_accept(l, &peer, &s, 0);
	e = errno;
	if (r == 0) {
		/* an endpoint for the dead peer: it must report the reset */
		int64_t t0 = h_now_ns();
		EXPECT_ERR(scif_recv(s, b, 1, SCIF_RECV_BLOCK), ECONNRESET);
		EXPECT_LE(h_ms_since(t0), LIMIT_MS);
		scif_close(s);
	} else {
		if (e != EAGAIN && e != ECONNRESET && e != ECONNREFUSED &&
		    e != ECONNABORTED)
			h_log("accept of a dead request failed with %s",
			      strerrorname_np(e));
		EXPECT(e == EAGAIN || e == ECONNRESET || e == ECONNREFUSED ||
		       e == ECONNABORTED);
	}
	STEP("a good connection still works");
	pid = h_fork(good_connector, &port);
	CHECK_OK(scif_accept(l, &peer, &s, SCIF_ACCEPT_SYNC));
	CHECK_EQ(scif_recv(s, b, 2, SCIF_RECV_BLOCK), 2);
	EXPECT(memcmp(b, "ok", 2) == 0);
	scif_close(s);
	EXPECT_CHILD_OK(pid, 5000);
	scif_close(l);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "peer_kill", 180, NULL);
	signal(SIGPIPE, SIG_DFL);
	for (int op = 0; op < NOPS; op++)
		blocked_op_killed((enum op)op, (uint16_t)(10000 + op));
	acceptor_killed(10010);
	connector_killed(10011);
	random_moment(10020, 30);
	return h_finish();
}
