/* SPDX-License-Identifier: MIT */
/*
 * test_signal: blocking calls interrupted by a signal (a handler installed
 * without SA_RESTART), as SCIF's are: a blocking recv/send returns the
 * partial count if it moved any bytes, otherwise -1/EINTR; a blocked
 * SCIF_ACCEPT_SYNC returns -1/EINTR. The endpoint stays usable afterwards.
 *
 * The signal is sent once the blocked thread is asleep (its /proc state is
 * 'S'), so the interrupted call is the one under test.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static void on_usr1(int sig)
{
	(void)sig;
}

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

struct blocked {
	pthread_t thread;
	_Atomic pid_t tid;
	int (*fn)(struct blocked *);
	scif_epd_t ep;
	int len;
	int ret, err;
	_Atomic int done;
};

static void *run_blocked(void *a)
{
	struct blocked *b = a;

	atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
	errno = 0;
	b->ret = b->fn(b);
	b->err = errno;
	atomic_store(&b->done, 1);
	return NULL;
}

/* Start the call in a thread, wait until it sleeps, signal it, join. */
static void interrupt(struct blocked *b, const char *what)
{
	int64_t t0;
	int seen = 0;

	STEP("interrupt %s", what);
	atomic_store(&b->done, 0);
	atomic_store(&b->tid, 0);
	CHECK(pthread_create(&b->thread, NULL, run_blocked, b) == 0);
	t0 = h_now_ns();
	while (h_ms_since(t0) < 3000 && !atomic_load(&b->done)) {
		struct timespec ts = { 0, 1000 * 1000 };
		pid_t tid = atomic_load(&b->tid);
		if (tid && task_state(tid) == 'S') {
			if (++seen >= 3)
				break;
		} else {
			seen = 0;
		}
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&b->done)) {
		h_log("%s returned before it could be interrupted", what);
		h_fail(__FILE__, __LINE__, "the call blocks", 0, 0);
	}
	pthread_kill(b->thread, SIGUSR1);
	t0 = h_now_ns();
	while (!atomic_load(&b->done) && h_ms_since(t0) < 3000) {
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!atomic_load(&b->done)) {
		h_log("%s still blocked 3 s after the signal", what);
		h_fail(__FILE__, __LINE__, "a signal interrupts the call", 0, 1);
	}
	CHECK(pthread_join(b->thread, NULL) == 0);
}

static int do_recv(struct blocked *b)
{
	static unsigned char buf[65536];
	return scif_recv(b->ep, buf, b->len, SCIF_RECV_BLOCK);
}

static int do_send(struct blocked *b)
{
	static unsigned char buf[65536];
	return scif_send(b->ep, buf, b->len, SCIF_SEND_BLOCK);
}

static int do_accept(struct blocked *b)
{
	struct scif_portID peer;
	scif_epd_t ne;
	int r = scif_accept(b->ep, &peer, &ne, SCIF_ACCEPT_SYNC);

	if (r == 0)
		scif_close(ne);
	return r;
}


int main(int argc, char **argv)
{
	static unsigned char buf[65536];
	struct sigaction sa;
	struct blocked b;
	scif_epd_t c, s, l;

	h_init(argc, argv, "signal", 60, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

	h_pair(14000, &c, &s);

	memset(&b, 0, sizeof(b));
	b.fn = do_recv;
	b.ep = s;
	b.len = 10;
	interrupt(&b, "a blocking recv with nothing received");
	EXPECT_EQ(b.ret, -1);
	EXPECT_EQ(b.err, EINTR);

	CHECK_EQ(scif_send(c, "abc", 3, 0), 3);
	interrupt(&b, "a blocking recv that got 3 of 10 bytes");
	EXPECT_EQ(b.ret, 3);

	STEP("the endpoint still works after an interrupted recv");
	CHECK_EQ(scif_send(c, "defg", 4, 0), 4);
	memset(buf, 0, 8);
	EXPECT_EQ(scif_recv(s, buf, 4, SCIF_RECV_BLOCK), 4);
	EXPECT(memcmp(buf, "defg", 4) == 0);

	STEP("fill the ring");
	EXPECT_EQ(scif_send(c, buf, 65536, 0), 4095);
	b.fn = do_send;
	b.ep = c;
	b.len = 100;
	interrupt(&b, "a blocking send into a full ring");
	EXPECT_EQ(b.ret, -1);
	EXPECT_EQ(b.err, EINTR);
	STEP("the endpoint still works after an interrupted send");
	EXPECT_EQ(scif_recv(s, buf, 4095, SCIF_RECV_BLOCK), 4095);
	EXPECT_EQ(scif_send(c, "x", 1, SCIF_SEND_BLOCK), 1);
	EXPECT_EQ(scif_recv(s, buf, 1, SCIF_RECV_BLOCK), 1);
	EXPECT_EQ(buf[0], 'x');

	STEP("a blocking send bigger than the ring, interrupted part-way");
	b.len = 10000;
	interrupt(&b, "a blocking send of 10000 into an empty ring");
	EXPECT_EQ(b.ret, 4095);
	EXPECT_EQ(scif_recv(s, buf, 4095, SCIF_RECV_BLOCK), 4095);
	EXPECT_EQ(scif_recv(s, buf, 1, 0), 0);

	scif_close(c);
	scif_close(s);

	l = h_listen(14001, 2, NULL);
	b.fn = do_accept;
	b.ep = l;
	interrupt(&b, "a blocked SCIF_ACCEPT_SYNC");
	EXPECT_EQ(b.ret, -1);
	EXPECT_EQ(b.err, EINTR);
	scif_close(l);
	return h_finish();
}
