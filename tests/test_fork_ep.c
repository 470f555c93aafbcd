/* SPDX-License-Identifier: MIT */
/*
 * test_fork_ep: an endpoint inherited through fork() behaves like the file
 * descriptor it is, as with MPSS, where it lived in the kernel.
 *
 * - a child's scif_close of an inherited listener leaves the parent's
 *   listener working: the parent, blocked in scif_accept meanwhile,
 *   accepts the next connection;
 * - a child's scif_close of an inherited connected endpoint leaves the
 *   connection to the parent: parent and peer keep exchanging;
 * - messaging through the endpoint by child and parent is one stream: what
 *   the child sent and received is not sent again, lost or received twice
 *   when the parent goes on;
 * - blocking sends of parent and child at once (messages larger than the
 *   ring) reach the peer each in one piece;
 * - the connection ends when its last holder goes: the peer drains what it
 *   sent and gets ECONNRESET, when the last holder exits without closing,
 *   and when the process that forked it exited first;
 * - a child's scif_close leaves the parent's windows registered: the peer
 *   reads them (no WIN_DEL from the child);
 * - fork() in a loop while other threads send, receive, open and close
 *   (holding the library's locks at fork): each child closes the inherited
 *   endpoint and exits, none hangs, the parent's stream stays intact.
 *
 * The peer is a process of its own, driven over a pipe.
 */
#include "rma_util.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/wait.h>

#define MSG_LEN 10000 /* > 4095: each blocking send waits for ring space */
#define MSGS 12

/* byte @i of the stream with @salt: no period a ring could hide */
static unsigned char spat(unsigned salt, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull + salt * 0xbf58476d1ce4e5b9ull;

	return (unsigned char)(x >> 56);
}

static void sfill(unsigned char *b, size_t n, unsigned salt, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = spat(salt, off + i);
}

/* index of the first byte not matching, or -1 */
static long scheck(const unsigned char *b, size_t n, unsigned salt, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != spat(salt, off + i))
			return (long)i;
	return -1;
}

/* Receive exactly @n bytes within @ms (non-blocking calls and scif_poll,
 * so that a broken stream fails instead of hanging). Returns the count
 * received, or -errno if the call failed before any byte. */
static long recv_all(scif_epd_t ep, unsigned char *b, size_t n, int ms)
{
	int64_t t0 = h_now_ns();
	size_t got = 0;

	while (got < n) {
		struct scif_pollepd p = { .epd = ep, .events = POLLIN };
		int r = scif_recv(ep, b + got, (int)(n - got), 0);
		long left;

		if (r < 0)
			return got ? (long)got : -errno;
		got += (size_t)r;
		if (got == n)
			break;
		left = ms - h_ms_since(t0);
		if (left <= 0)
			break;
		if (scif_poll(&p, 1, left) < 0)
			return got ? (long)got : -errno;
	}
	return (long)got;
}

static long send_all(scif_epd_t ep, const unsigned char *b, size_t n)
{
	return scif_send(ep, (void *)b, (int)n, SCIF_SEND_BLOCK);
}

/* ---- the peer: a process that holds the other end ---------------------- */

enum { P_SEND = 1, P_RECV, P_RECV_MSGS, P_SEND_MSGS, P_EXPECT_RESET, P_QUIT };

struct peer {
	pid_t pid;
	int cmd;   /* write: commands */
	int res;   /* read: results */
	scif_epd_t c; /* our end */
};

struct peer_arg {
	scif_epd_t mine, theirs;
	struct h_pipe cmd, res;
};

static int32_t get(int rd)
{
	return h_get_must(rd, 60000);
}

static void send_msgs_n(scif_epd_t ep, uint32_t who, uint32_t count)
{
	unsigned char *m = malloc(MSG_LEN);

	CHECK(m != NULL);
	for (uint32_t no = 0; no < count; no++) {
		memcpy(m, &who, 4);
		memcpy(m + 4, &no, 4);
		sfill(m + 8, MSG_LEN - 8, who, (uint64_t)no * MSG_LEN);
		EXPECT_EQ(scif_send(ep, m, MSG_LEN, SCIF_SEND_BLOCK), MSG_LEN);
	}
	free(m);
}

/* Receive @count messages of MSG_LEN; each must be one whole message of one
 * sender (the first 8 bytes say which: sender, number), in order per
 * sender. Returns the number of bad messages. */
static int recv_msgs(scif_epd_t ep, int count)
{
	unsigned char *m = malloc(MSG_LEN);
	uint32_t next[256] = { 0 };
	int bad = 0;

	CHECK(m != NULL);
	for (int k = 0; k < count; k++) {
		uint32_t who, no;
		long r = recv_all(ep, m, MSG_LEN, 20000);

		if (r != MSG_LEN) {
			h_log("message %d: got %ld of %d bytes", k, r, MSG_LEN);
			bad += count - k;
			break;
		}
		memcpy(&who, m, 4);
		memcpy(&no, m + 4, 4);
		if (who > 255 || no != next[who] ||
		    scheck(m + 8, MSG_LEN - 8, who, (uint64_t)no * MSG_LEN) >= 0) {
			h_log("message %d is not whole: sender %u number %u "
			      "(expected %u), first bad byte %ld", k, who, no,
			      who > 255 ? 0 : next[who & 255],
			      scheck(m + 8, MSG_LEN - 8, who & 255,
				    (uint64_t)no * MSG_LEN));
			bad++;
		}
		if (who <= 255)
			next[who] = no + 1;
	}
	free(m);
	return bad;
}

static int peer_main(void *a)
{
	struct peer_arg *pa = a;
	scif_epd_t ep = pa->theirs;
	unsigned char *buf = malloc(1 << 20);

	CHECK(buf != NULL);
	close(pa->cmd.wr);
	close(pa->res.rd);
	/* our copy of the parent's end: only our reference goes */
	CHECK_EQ(scif_close(pa->mine), 0);
	h_put(pa->res.wr, 0);
	for (;;) {
		int32_t op = get(pa->cmd.rd), n, salt, off;
		long r;
		char c;

		switch (op) {
		case P_SEND:
			n = get(pa->cmd.rd);
			salt = get(pa->cmd.rd);
			off = get(pa->cmd.rd);
			STEP("peer: send %d bytes at %d", n, off);
			sfill(buf, (size_t)n, (unsigned)salt, (uint64_t)off);
			h_put(pa->res.wr, (int32_t)send_all(ep, buf, (size_t)n));
			break;
		case P_RECV:
			n = get(pa->cmd.rd);
			salt = get(pa->cmd.rd);
			off = get(pa->cmd.rd);
			STEP("peer: receive %d bytes at %d", n, off);
			r = recv_all(ep, buf, (size_t)n, 20000);
			if (r == n && scheck(buf, (size_t)n, (unsigned)salt,
					    (uint64_t)off) >= 0) {
				h_log("peer: stream wrong from byte %ld of %d "
				      "(at %d)", scheck(buf, (size_t)n,
						       (unsigned)salt,
						       (uint64_t)off), n, off);
				r = -1000;
			}
			h_put(pa->res.wr, (int32_t)r);
			break;
		case P_RECV_MSGS:
			n = get(pa->cmd.rd);
			STEP("peer: receive %d messages", n);
			h_put(pa->res.wr, recv_msgs(ep, n));
			break;
		case P_SEND_MSGS:
			n = get(pa->cmd.rd);
			STEP("peer: send %d messages", n);
			send_msgs_n(ep, 9, (uint32_t)n);
			h_put(pa->res.wr, 0);
			break;
		case P_EXPECT_RESET:
			/* drained: the next receive reports the reset, also a
			 * blocking one (a poll first, so it cannot hang) */
			STEP("peer: expect ECONNRESET");
			{
				struct scif_pollepd p = { .epd = ep, .events = POLLIN };
				r = scif_poll(&p, 1, 20000);
				if (r == 1 && (p.revents & POLLHUP)) {
					errno = 0;
					r = scif_recv(ep, &c, 1, SCIF_RECV_BLOCK);
					r = r < 0 ? errno : 1000 + r;
				} else {
					r = 2000 + p.revents;
				}
			}
			h_put(pa->res.wr, (int32_t)r);
			break;
		case P_QUIT:
			scif_close(ep);
			free(buf);
			return 0;
		default:
			CHECK(0);
		}
	}
}

/* A connection between this process (p->c) and a peer process. */
static void peer_start(struct peer *p, uint16_t port)
{
	struct peer_arg pa;
	scif_epd_t s;

	h_pair(port, &p->c, &s);
	pa.mine = p->c;
	pa.theirs = s;
	h_pipe_init(&pa.cmd, 0);
	h_pipe_init(&pa.res, 0);
	p->pid = h_fork(peer_main, &pa);
	close(pa.cmd.rd);
	close(pa.res.wr);
	p->cmd = pa.cmd.wr;
	p->res = pa.res.rd;
	CHECK_EQ(get(p->res), 0); /* it closed its copy of ours */
	/* ours of the peer's end: only our reference goes */
	CHECK_EQ(scif_close(s), 0);
}

static void peer_cmd(struct peer *p, int32_t op, int32_t n, int32_t salt,
		     int32_t off)
{
	h_put(p->cmd, op);
	if (op == P_SEND || op == P_RECV) {
		h_put(p->cmd, n);
		h_put(p->cmd, salt);
		h_put(p->cmd, off);
	} else if (op == P_RECV_MSGS || op == P_SEND_MSGS) {
		h_put(p->cmd, n);
	}
}

static int32_t peer_do(struct peer *p, int32_t op, int32_t n, int32_t salt,
		       int32_t off)
{
	peer_cmd(p, op, n, salt, off);
	return get(p->res);
}

static void peer_stop(struct peer *p)
{
	h_put(p->cmd, P_QUIT);
	EXPECT_CHILD_OK(p->pid, 20000);
	close(p->cmd);
	close(p->res);
}

/* ---- 1. listener ------------------------------------------------------- */

struct acc_arg {
	scif_epd_t l;
	int r, err;
	scif_epd_t ep;
};

static void *acceptor(void *a)
{
	struct acc_arg *aa = a;
	struct scif_portID peer;

	errno = 0;
	aa->r = scif_accept(aa->l, &peer, &aa->ep, SCIF_ACCEPT_SYNC);
	aa->err = errno;
	return NULL;
}

static int close_and_exit(void *a)
{
	scif_epd_t ep = *(scif_epd_t *)a;

	EXPECT_EQ(scif_close(ep), 0);
	return 0;
}

struct conn_arg {
	uint16_t port;
};

/* Connectors run as roles (a re-executed copy of the program): a fork()
 * child that connects while its parent's RMA service thread waits is
 * window.c's business (branch win-fork), not this test's. */
static pid_t spawn_port(const char *role, unsigned port, unsigned n)
{
	char arg[32];

	snprintf(arg, sizeof(arg), "%u,%u", port, n);
	return h_spawn(role, arg, NULL);
}

static int role_connect_send(const char *arg)
{
	scif_epd_t ep = h_connect(0, (uint16_t)atoi(arg));

	CHECK_EQ(scif_send(ep, "hello", 5, SCIF_SEND_BLOCK), 5);
	/* wait for the other side to finish with us */
	{
		char c;
		struct scif_pollepd p = { .epd = ep, .events = POLLIN };
		scif_poll(&p, 1, 20000);
		scif_recv(ep, &c, 1, 0);
	}
	scif_close(ep);
	return 0;
}

static void test_listener(void)
{
	struct acc_arg aa = { 0 };
	struct conn_arg ca = { .port = 6100 };
	pthread_t t;
	pid_t child;
	char buf[8];

	STEP("listener: the parent blocks in scif_accept, a child closes its copy");
	aa.l = h_listen(ca.port, 4, NULL);
	CHECK(pthread_create(&t, NULL, acceptor, &aa) == 0);
	child = h_fork(close_and_exit, &aa.l);
	EXPECT_CHILD_OK(child, 20000);
	STEP("listener: the parent's blocked accept takes the next connection");
	child = spawn_port("connect_send", ca.port, 1);
	CHECK(pthread_join(t, NULL) == 0);
	if (aa.r != 0)
		h_log("scif_accept: %d, %s", aa.r, strerror(aa.err));
	EXPECT_EQ(aa.r, 0);
	if (aa.r == 0) {
		EXPECT_EQ(recv_all(aa.ep, (unsigned char *)buf, 5, 10000), 5);
		EXPECT(memcmp(buf, "hello", 5) == 0);
		scif_close(aa.ep);
	}
	EXPECT_CHILD_OK(child, 20000);

	STEP("listener: the child's close again, the parent accepts once more");
	child = h_fork(close_and_exit, &aa.l);
	EXPECT_CHILD_OK(child, 20000);
	child = spawn_port("connect_send", ca.port, 1);
	aa.r = -1;
	acceptor(&aa);
	EXPECT_EQ(aa.r, 0);
	if (aa.r == 0) {
		EXPECT_EQ(recv_all(aa.ep, (unsigned char *)buf, 5, 10000), 5);
		scif_close(aa.ep);
	}
	EXPECT_CHILD_OK(child, 20000);
	EXPECT_EQ(scif_close(aa.l), 0);
}

/* ---- 2, 3. a connected endpoint ----------------------------------------- */

/* stream offsets, per direction: parent -> peer (salt 1), peer -> parent
 * (salt 2) */
struct stream {
	struct peer *p;
	uint64_t out, in;
};

static void exchange(struct stream *s, size_t n_out, size_t n_in, const char *who)
{
	unsigned char *b = malloc(n_out > n_in ? n_out : n_in);
	long r;

	CHECK(b != NULL);
	STEP("%s sends %zu bytes at %llu", who, n_out, (unsigned long long)s->out);
	sfill(b, n_out, 1, s->out);
	peer_cmd(s->p, P_RECV, (int32_t)n_out, 1, (int32_t)s->out);
	EXPECT_EQ(send_all(s->p->c, b, n_out), (long)n_out);
	EXPECT_EQ(get(s->p->res), (long)n_out);
	s->out += n_out;
	STEP("%s receives %zu bytes at %llu", who, n_in, (unsigned long long)s->in);
	peer_cmd(s->p, P_SEND, (int32_t)n_in, 2, (int32_t)s->in);
	r = recv_all(s->p->c, b, n_in, 20000);
	EXPECT_EQ(get(s->p->res), (long)n_in);
	EXPECT_EQ(r, (long)n_in);
	if (r == (long)n_in && scheck(b, n_in, 2, s->in) >= 0) {
		h_log("%s: received stream wrong from byte %ld", who,
		      scheck(b, n_in, 2, s->in));
		EXPECT(0);
	}
	s->in += n_in;
	free(b);
}

static struct stream *g_stream;

static int child_exchanges(void *a)
{
	size_t n = *(size_t *)a;

	exchange(g_stream, n, n / 2 + 17, "child");
	return 0;
}

static int child_exchanges_closes(void *a)
{
	child_exchanges(a);
	EXPECT_EQ(scif_close(g_stream->p->c), 0);
	return 0;
}

static void test_connected(void)
{
	struct peer p;
	struct stream s = { .p = &p };
	pid_t child;
	size_t n;

	peer_start(&p, 6200);
	g_stream = &s;
	exchange(&s, 100, 50, "parent");

	STEP("connected: a child closes its copy, parent and peer go on");
	child = h_fork(close_and_exit, &p.c);
	EXPECT_CHILD_OK(child, 20000);
	exchange(&s, 3000, 2000, "parent");
	exchange(&s, 9000, 7000, "parent"); /* more than the ring holds */

	STEP("connected: the child uses it, then the parent: one stream");
	for (int k = 0; k < 4; k++) {
		/* the child's bytes count in the parent's stream positions */
		n = 1000 + 1500 * (size_t)k;
		child = h_fork(k & 1 ? child_exchanges : child_exchanges_closes, &n);
		EXPECT_CHILD_OK(child, 30000);
		s.out += n;
		s.in += n / 2 + 17;
		exchange(&s, 700 + (size_t)k * 333, 900 + (size_t)k * 111, "parent");
	}

	STEP("connected: the peer closes in the end, the parent drains and sees it");
	peer_stop(&p);
	{
		char c;
		EXPECT_ERR(scif_recv(p.c, &c, 1, SCIF_RECV_BLOCK), ECONNRESET);
	}
	EXPECT_EQ(scif_close(p.c), 0);
}

/* ---- 4. concurrent blocking senders ------------------------------------ */

static void send_msgs(scif_epd_t ep, uint32_t who)
{
	send_msgs_n(ep, who, MSGS);
}

/* Blocking receives of whole messages from sender 9, numbers increasing.
 * Returns the number of bad ones. */
static int recv_whole(scif_epd_t ep, int count)
{
	unsigned char *m = malloc(MSG_LEN);
	uint32_t last = 0;
	int bad = 0;

	CHECK(m != NULL);
	for (int k = 0; k < count; k++) {
		uint32_t who, no;

		if (scif_recv(ep, m, MSG_LEN, SCIF_RECV_BLOCK) != MSG_LEN) {
			bad += count - k;
			break;
		}
		memcpy(&who, m, 4);
		memcpy(&no, m + 4, 4);
		if (who != 9 || (k && no <= last) ||
		    scheck(m + 8, MSG_LEN - 8, 9, (uint64_t)no * MSG_LEN) >= 0) {
			h_log("received message %d not whole (sender %u, number %u)",
			      k, who, no);
			bad++;
		}
		last = no;
	}
	free(m);
	return bad;
}


struct sender_arg {
	scif_epd_t ep;
	int go; /* read end: start */
};

static int child_sender(void *a)
{
	struct sender_arg *sa = a;
	int32_t v;

	CHECK_EQ(h_get(sa->go, &v, 20000), 0);
	send_msgs(sa->ep, 7);
	return 0;
}

static int child_receiver(void *a)
{
	struct sender_arg *sa = a;
	int32_t v;

	CHECK_EQ(h_get(sa->go, &v, 20000), 0);
	return recv_whole(sa->ep, MSGS) != 0;
}

static void test_concurrent(void)
{
	struct peer p;
	struct sender_arg sa;
	struct h_pipe go;
	pid_t child;

	STEP("concurrent: parent and child send %d messages of %d bytes each",
	     MSGS, MSG_LEN);
	peer_start(&p, 6300);
	h_pipe_init(&go, 0);
	sa.ep = p.c;
	sa.go = go.rd;
	child = h_fork(child_sender, &sa);
	peer_cmd(&p, P_RECV_MSGS, 2 * MSGS, 0, 0);
	h_put(go.wr, 1);
	send_msgs(p.c, 3);
	EXPECT_CHILD_OK(child, 30000);
	EXPECT_EQ(get(p.res), 0); /* bad messages */
	h_pipe_close(&go);

	STEP("concurrent: parent and child receive %d messages each", MSGS);
	h_pipe_init(&go, 0);
	sa.go = go.rd;
	child = h_fork(child_receiver, &sa);
	peer_cmd(&p, P_SEND_MSGS, 2 * MSGS, 0, 0);
	h_put(go.wr, 1);
	EXPECT_EQ(recv_whole(p.c, MSGS), 0);
	EXPECT_CHILD_OK(child, 30000);
	EXPECT_EQ(get(p.res), 0);
	h_pipe_close(&go);
	peer_stop(&p);
	scif_close(p.c);
}

/* ---- 5, 6. the last holder goes ---------------------------------------- */

static int child_sends_exits(void *a)
{
	unsigned char b[300];

	(void)a;
	sfill(b, sizeof(b), 1, 0);
	EXPECT_EQ(send_all(g_stream->p->c, b, sizeof(b)), (long)sizeof(b));
	return 0; /* _exit without scif_close: the kernel lets go of it */
}

struct gp_arg {
	scif_epd_t ep;
	int wr; /* results of the grandchild */
	int go; /* read end: the middle process exited */
};

/* Middle process: forks a grandchild (not a harness child: it must outlive
 * us) that holds the endpoint after we exit. */
static int middle(void *a)
{
	struct gp_arg *ga = a;
	pid_t gc = fork();

	CHECK(gc >= 0);
	if (gc == 0) {
		unsigned char b[400];
		int32_t v;
		int ok;

		alarm(60);
		/* the middle process is gone when the pipe says so */
		ok = h_get(ga->go, &v, 30000) == 0;
		sfill(b, sizeof(b), 1, 0);
		ok = ok && send_all(ga->ep, b, sizeof(b)) == (long)sizeof(b);
		ok = ok && recv_all(ga->ep, b, 200, 20000) == 200 &&
		     scheck(b, 200, 2, 0) < 0;
		h_put(ga->wr, ok);
		/* the last holder closes: the peer sees it */
		h_put(ga->wr, scif_close(ga->ep) == 0);
		_exit(0);
	}
	return 0; /* exits while the grandchild holds the endpoint */
}

static void test_last_holder(void)
{
	struct peer p;
	struct stream s = { .p = &p };
	struct h_pipe res, go;
	struct gp_arg ga;
	pid_t child;

	STEP("last holder: the parent closes, the child sends and exits");
	peer_start(&p, 6400);
	g_stream = &s;
	child = h_fork(child_sends_exits, NULL);
	peer_cmd(&p, P_RECV, 300, 1, 0);
	EXPECT_EQ(scif_close(p.c), 0); /* the child holds it still */
	EXPECT_CHILD_OK(child, 20000);
	EXPECT_EQ(get(p.res), 300);
	EXPECT_EQ(peer_do(&p, P_EXPECT_RESET, 0, 0, 0), ECONNRESET);
	peer_stop(&p);

	STEP("last holder: the process that forked the holder exits first");
	peer_start(&p, 6401);
	h_pipe_init(&res, 0);
	h_pipe_init(&go, 0);
	ga = (struct gp_arg){ .ep = p.c, .wr = res.wr, .go = go.rd };
	child = h_fork(middle, &ga);
	EXPECT_EQ(scif_close(p.c), 0); /* ours goes: the middle one holds */
	EXPECT_CHILD_OK(child, 20000);
	h_put(go.wr, 1);
	peer_cmd(&p, P_RECV, 400, 1, 0);
	EXPECT_EQ(get(p.res), 400);
	EXPECT_EQ(peer_do(&p, P_SEND, 200, 2, 0), 200);
	EXPECT_EQ(h_get_must(res.rd, 30000), 1); /* the grandchild's exchange */
	EXPECT_EQ(h_get_must(res.rd, 30000), 1); /* and its close */
	EXPECT_EQ(peer_do(&p, P_EXPECT_RESET, 0, 0, 0), ECONNRESET);
	peer_stop(&p);
	h_pipe_close(&res);
	h_pipe_close(&go);
}

/* ---- 6b. a holder killed inside a blocking call -------------------------- */

/* Wait until @pid sleeps (state S in /proc): a blocking call that found
 * nothing to do is asleep in poll(), holding the endpoint's lock. */
static int wait_asleep_path(const char *path);

static int wait_asleep(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return wait_asleep_path(path);
}

static int wait_asleep_path(const char *path)
{
	char buf[512];

	for (int t = 0; t < 10000; t++) {
		struct timespec ms = { 0, 1000 * 1000 };
		FILE *f = fopen(path, "r");
		char *p = NULL;

		if (f) {
			if (fgets(buf, sizeof(buf), f))
				p = strrchr(buf, ')');
			fclose(f);
		}
		if (p && p[1] == ' ' && p[2] == 'S')
			return 1;
		nanosleep(&ms, NULL); /* not a wait for time: a poll of state */
	}
	return 0;
}

struct block_arg {
	int send; /* else receive */
	size_t n;
	uint64_t off;
	int wr;
};

static int blocked_holder(void *a)
{
	struct block_arg *ba = a;
	unsigned char *b = malloc(ba->n);

	CHECK(b != NULL);
	sfill(b, ba->n, 1, ba->off);
	h_put(ba->wr, 1);
	if (ba->send)
		scif_send(g_stream->p->c, b, (int)ba->n, SCIF_SEND_BLOCK);
	else
		scif_recv(g_stream->p->c, b, (int)ba->n, SCIF_RECV_BLOCK);
	return 1; /* killed before */
}

static void test_killed_holder(void)
{
	struct peer p;
	struct stream s = { .p = &p };
	struct block_arg ba;
	struct h_pipe rdy;
	unsigned char *b = malloc(20000);
	pid_t child;
	int st;

	CHECK(b != NULL);
	peer_start(&p, 6600);
	g_stream = &s;
	exchange(&s, 100, 100, "parent");

	STEP("killed holder: a child killed asleep in scif_recv");
	h_pipe_init(&rdy, 0);
	ba = (struct block_arg){ .send = 0, .n = 64, .wr = rdy.wr };
	child = h_fork(blocked_holder, &ba);
	CHECK_EQ(h_get_must(rdy.rd, 20000), 1);
	EXPECT(wait_asleep(child));
	kill(child, SIGKILL);
	st = h_waitpid(child, 20000);
	EXPECT(WIFSIGNALED(st));
	h_forget(child);
	/* the parent receives: its lock is not left held by the dead */
	exchange(&s, 1000, 3000, "parent");

	STEP("killed holder: a child killed asleep in scif_send (ring full)");
	ba = (struct block_arg){ .send = 1, .n = 20000, .off = s.out, .wr = rdy.wr };
	child = h_fork(blocked_holder, &ba);
	CHECK_EQ(h_get_must(rdy.rd, 20000), 1);
	EXPECT(wait_asleep(child));
	kill(child, SIGKILL);
	st = h_waitpid(child, 20000);
	EXPECT(WIFSIGNALED(st));
	h_forget(child);
	/* what it put in the ring (4095 bytes: the peer did not read) stays
	 * in the stream, and the parent's send follows it */
	sfill(b, 5000, 1, s.out + 4095);
	peer_cmd(&p, P_RECV, 4095 + 5000, 1, (int32_t)s.out);
	EXPECT_EQ(send_all(p.c, b, 5000), 5000);
	EXPECT_EQ(get(p.res), 4095 + 5000);
	s.out += 4095 + 5000;
	exchange(&s, 777, 888, "parent");
	h_pipe_close(&rdy);
	peer_stop(&p);
	scif_close(p.c);
	free(b);
}

/* ---- 6c. a thread of ours blocked when we close a shared endpoint -------- */

struct blocked_thread {
	scif_epd_t ep;
	_Atomic pid_t tid;
	int r, err;
};

static void *blocked_recv(void *a)
{
	struct blocked_thread *bt = a;
	char b[10];

	bt->tid = gettid();
	errno = 0;
	bt->r = scif_recv(bt->ep, b, sizeof(b), SCIF_RECV_BLOCK);
	bt->err = errno;
	return NULL;
}

static int child_waits_exchanges(void *a)
{
	struct sender_arg *sa = a;
	size_t n = 300;
	int32_t v;

	CHECK_EQ(h_get(sa->go, &v, 20000), 0);
	return child_exchanges(&n);
}

static void test_own_thread(void)
{
	struct peer p;
	struct stream s = { .p = &p };
	struct blocked_thread bt = { 0 };
	struct sender_arg sa;
	struct h_pipe go;
	char path[64];
	pthread_t t;
	pid_t child;

	STEP("own thread: a thread blocked in scif_recv, another closes (the "
	     "child holds)");
	peer_start(&p, 6700);
	g_stream = &s;
	h_pipe_init(&go, 0);
	sa = (struct sender_arg){ .ep = p.c, .go = go.rd };
	child = h_fork(child_waits_exchanges, &sa);
	bt.ep = p.c;
	CHECK(pthread_create(&t, NULL, blocked_recv, &bt) == 0);
	while (!bt.tid)
		sched_yield();
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)bt.tid);
	EXPECT(wait_asleep_path(path));
	{
		/* it wakes within its sleep slice (1 s) and leaves; close
		 * waits for it */
		int64_t t0 = h_now_ns();
		EXPECT_EQ(scif_close(p.c), 0);
		EXPECT_LT(h_ms_since(t0), 2500);
	}
	CHECK(pthread_join(t, NULL) == 0);
	EXPECT_EQ(bt.r, -1);
	EXPECT_EQ(bt.err, EBADF);
	STEP("own thread: the child's connection is intact");
	h_put(go.wr, 1);
	EXPECT_CHILD_OK(child, 30000);
	h_pipe_close(&go);
	peer_stop(&p);
}

/* ---- 6d. windows stay the parent's ---------------------------------------- */

#define WLEN (16 * PG)
#define WLOFF 0x100000
#define WROFF 0x200000

static void test_windows(void)
{
	struct rbuf b;
	scif_epd_t ep;
	pid_t srv, child;

	STEP("windows: the parent registers, a child closes its copy");
	ep = r_server(&srv);
	CHECK_EQ(RPC(ep, OP_REG, WLEN, WROFF, SCIF_PROT_READ | SCIF_PROT_WRITE,
		     SCIF_MAP_FIXED, K_MMAP, 0).ret, WROFF);
	rbuf_alloc(&b, K_MMAP, WLEN);
	pat_fill(b.addr, WLEN, 77, 0);
	CHECK_EQ(scif_register(ep, b.addr, WLEN, WLOFF,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, SCIF_MAP_FIXED),
		 WLOFF);
	child = h_fork(close_and_exit, &ep);
	EXPECT_CHILD_OK(child, 20000);
	STEP("windows: the peer still reads the parent's window");
	RPC_OK(ep, OP_READFROM, WROFF, WLEN, WLOFF, SCIF_RMA_SYNC);
	PEER_PAT(ep, WROFF, WLEN, 77, 0);
	EXPECT_EQ(scif_unregister(ep, WLOFF, WLEN), 0);
	r_server_stop(ep, srv);
	rbuf_free(&b);
}

/* ---- 6e. the fork-per-connection server, plain close() in the parent ----- */

struct srv_conn_arg {
	uint16_t port;
	int n;
};

/* n connections in turn: send a byte, get the handler's answer, then its
 * close (the handler is the last holder: the parent used close()) */
static int role_serial_client(const char *arg)
{
	struct srv_conn_arg sa0 = { .port = (uint16_t)atoi(arg),
				    .n = atoi(strchr(arg, ',') + 1) }, *sa = &sa0;

	for (int i = 0; i < sa->n; i++) {
		scif_epd_t ep = h_connect(0, sa->port);
		char c = (char)i, d = 0;

		CHECK_EQ(scif_send(ep, &c, 1, SCIF_SEND_BLOCK), 1);
		CHECK_EQ(scif_recv(ep, &d, 1, SCIF_RECV_BLOCK), 1);
		EXPECT_EQ(d, (char)(c + 1));
		EXPECT_ERR(scif_recv(ep, &d, 1, SCIF_RECV_BLOCK), ECONNRESET);
		scif_close(ep);
	}
	return 0;
}

static int handler(void *a)
{
	scif_epd_t ep = *(scif_epd_t *)a;
	char c;

	CHECK_EQ(scif_recv(ep, &c, 1, SCIF_RECV_BLOCK), 1);
	c++;
	CHECK_EQ(scif_send(ep, &c, 1, SCIF_SEND_BLOCK), 1);
	EXPECT_EQ(scif_close(ep), 0); /* the last holder */
	return 0;
}

static void test_forking_server(void)
{
	struct srv_conn_arg sa = { .port = 6800, .n = 20 };
	scif_epd_t l = h_listen(sa.port, 4, NULL), e;
	struct scif_portID peer;
	pid_t client = spawn_port("serial_client", sa.port, (unsigned)sa.n);

	for (int i = 0; i < sa.n; i++) {
		pid_t h;

		STEP("forking server: connection %d: accept, fork, close()", i);
		CHECK_OK(scif_accept(l, &peer, &e, SCIF_ACCEPT_SYNC));
		h = h_fork(handler, &e);
		EXPECT_EQ(close(e), 0); /* as with a socket server */
		EXPECT_CHILD_OK(h, 20000);
	}
	EXPECT_CHILD_OK(client, 30000);
	EXPECT_EQ(scif_close(l), 0);
}

/* ---- 7. fork under load ------------------------------------------------- */

#define LOAD_CHUNK 3000
static _Atomic int g_stop;

struct load {
	scif_epd_t ep;
	uint64_t sent, got;
	int bad;
};

static void *load_sender(void *a)
{
	struct load *l = a;
	unsigned char *b = malloc(LOAD_CHUNK * 3);

	CHECK(b != NULL);
	while (!g_stop) {
		size_t n = 1 + (l->sent * 7) % (LOAD_CHUNK * 3);
		sfill(b, n, 5, l->sent);
		if (send_all(l->ep, b, n) != (long)n) {
			l->bad++;
			break;
		}
		l->sent += n;
	}
	free(b);
	return NULL;
}

static void *load_receiver(void *a)
{
	struct load *l = a;
	unsigned char *b = malloc(LOAD_CHUNK);
	int64_t stop_t = 0;

	CHECK(b != NULL);
	for (;;) {
		int r = scif_recv(l->ep, b, LOAD_CHUNK, 0);
		if (r < 0) {
			l->bad++;
			break;
		}
		if (r && scheck(b, (size_t)r, 5, l->got) >= 0) {
			h_log("load: echoed stream wrong at %llu",
			      (unsigned long long)l->got);
			l->bad++;
			break;
		}
		l->got += (uint64_t)r;
		if (!r) {
			struct scif_pollepd p = { .epd = l->ep, .events = POLLIN };
			if (g_stop == 2 && !stop_t)
				stop_t = h_now_ns();
			if (g_stop == 2 && (l->got == l->sent ||
					    h_ms_since(stop_t) > 20000))
				break;
			scif_poll(&p, 1, 10);
		}
	}
	free(b);
	return NULL;
}

static void *load_opener(void *a)
{
	(void)a;
	while (!g_stop) {
		scif_epd_t e = scif_open();
		if (e >= 0)
			scif_close(e);
	}
	return NULL;
}

/* echo peer */
struct echo_arg {
	scif_epd_t mine, theirs;
	int ready;
};

static int echo_main(void *a)
{
	struct echo_arg *ea = a;
	unsigned char *b = malloc(65536);

	CHECK(b != NULL);
	CHECK_EQ(scif_close(ea->mine), 0);
	h_put(ea->ready, 1);
	for (;;) {
		int r = scif_recv(ea->theirs, b, 65536, 0);
		if (r < 0)
			break; /* the parent closed */
		if (r == 0) {
			r = scif_recv(ea->theirs, b, 1, SCIF_RECV_BLOCK);
			if (r < 0)
				break;
		}
		if (send_all(ea->theirs, b, (size_t)r) != r)
			break;
	}
	free(b);
	return 0;
}

static int forked_under_load(void *a)
{
	scif_epd_t ep = *(scif_epd_t *)a, e;

	/* the parent's threads may hold the endpoint's locks right now */
	EXPECT_EQ(scif_close(ep), 0);
	e = scif_open();
	EXPECT(e >= 0);
	if (e >= 0)
		EXPECT_EQ(scif_close(e), 0);
	return 0;
}

static void test_fork_loop(void)
{
	struct echo_arg ea;
	struct h_pipe ready;
	struct load l = { 0 };
	pthread_t ts, tr, to;
	pid_t echo;
	scif_epd_t s;
	int n = 150;

	STEP("fork loop: set up an echo peer");
	h_pair(6500, &l.ep, &s);
	h_pipe_init(&ready, 0);
	ea = (struct echo_arg){ .mine = l.ep, .theirs = s, .ready = ready.wr };
	echo = h_fork(echo_main, &ea);
	CHECK_EQ(h_get_must(ready.rd, 20000), 1);
	h_pipe_close(&ready);
	CHECK_EQ(scif_close(s), 0);
	CHECK(pthread_create(&ts, NULL, load_sender, &l) == 0);
	CHECK(pthread_create(&tr, NULL, load_receiver, &l) == 0);
	CHECK(pthread_create(&to, NULL, load_opener, NULL) == 0);
	for (int i = 0; i < n; i++) {
		pid_t c;

		STEP("fork loop: child %d of %d", i, n);
		c = h_fork(forked_under_load, &l.ep);
		if (h_check_child(__FILE__, __LINE__, c, 10000, 0) != 0)
			break;
	}
	STEP("fork loop: the parent's stream is intact");
	g_stop = 1;
	CHECK(pthread_join(ts, NULL) == 0);
	CHECK(pthread_join(to, NULL) == 0);
	g_stop = 2;
	CHECK(pthread_join(tr, NULL) == 0);
	EXPECT_EQ(l.bad, 0);
	EXPECT_EQ(l.got, l.sent);
	h_log("fork loop: %d children, %llu bytes echoed", n,
	      (unsigned long long)l.got);
	EXPECT_EQ(scif_close(l.ep), 0);
	EXPECT_CHILD_OK(echo, 20000);
}

static const struct h_role roles[] = {
	{ "server", role_server },
	{ "connect_send", role_connect_send },
	{ "serial_client", role_serial_client },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	h_init(argc, argv, "fork_ep", 240, roles);
	signal(SIGPIPE, SIG_IGN);
	test_listener();
	test_connected();
	test_concurrent();
	test_last_holder();
	if (!getenv("SKIFF_RING_SIZE")) /* it counts what a ring holds */
		test_killed_holder();
	test_own_thread();
	test_windows();
	test_forking_server();
	test_fork_loop();
	return h_finish();
}
