/* SPDX-License-Identifier: MIT */
/*
 * xhost - SCIF connections between hosts (issue 10), through the public API
 * only (<scif.h>; the squat role excepted): one program whose role argv
 * chooses, run by tests/netns.sh (cases msg, hostkill, cut, multi, lowport,
 * rma) on two hosts and, all roles on one host with a scifd of two cards,
 * by the ctest xhost_local.
 *
 *   xhost serve PORT       listen on PORT (0: any) of this process's node
 *                          (SCIF_NODE); print "ready port=N" once listening
 *                          and "accepted id=I node=N port=P" per connection
 *                          (the peer scif_accept gave), then serve the
 *                          commands below, a thread per connection
 *   xhost client [--remote] NODE PORT [CHECK...]   run checks (default:
 *                          all) against a server on NODE:PORT; one line per
 *                          check, "ok NAME ..." or "FAIL NAME: ..."; exit 0
 *                          iff all passed. --remote: the server is on
 *                          another host (what mmap expects):
 *     echo      8-byte echo, blocking both ways, and 1000 timed round trips
 *     nonblock  flags 0: recv with nothing queued returns 0 at once; a
 *               256 KiB echo with only non-blocking calls (partial counts)
 *     bulk      1 MiB and 16 MiB each way, blocking, with checksums
 *     bound     a reader that stops: non-blocking sends stop after a finite
 *               amount (> 0, < 1 MiB), a blocking 1 MiB send waits for it
 *     poll      scif_poll, poll() and epoll: POLLIN exactly when bytes are
 *               queued, POLLOUT when there is room, POLLHUP after a close
 *     close     the server closes: recv drains the queued bytes, then
 *               ECONNRESET, send ECONNRESET
 *     peer      the server's scif_accept saw this node and the bound port,
 *               which scif_connect returned
 *     refuse    no listener on PORT+1: ECONNREFUSED; a node that is not
 *               online: ENODEV
 *     multi     two connections at once, one stalled (its reader silent):
 *               the other keeps its pace, poll/epoll tell them apart
 *   RMA (not in all; netns.sh case rma): windows the server registers on
 *   command, at chosen offsets or anywhere, read-write or read-only:
 *     rma       scif_writeto, scif_vwriteto, scif_readfrom, scif_vreadfrom
 *               of 1 B, 4 KiB, 1 MiB and 16 MiB at unaligned offsets, from
 *               and into a local window and malloc'd memory, with SYNC
 *               (also |USECPU, |ORDERED) and without (then a fence
 *               INIT_SELF), USECACHE on v*: the server checks what was
 *               written (checksum), the client what was read and that the
 *               bytes beside it are untouched; a range across two windows
 *     rmaerr    errnos: ENXIO outside the peer's windows (past, across an
 *               end, negative) or the local ones, and once the peer (or this
 *               side) unregistered; EACCES writing a read-only window;
 *               EINVAL for len 0, bad RMA or fence flags, a signal offset
 *               not a multiple of 4; EFAULT for NULL; ECONNRESET for every
 *               call once the peer closed (what one host gives); goes on
 *               past a call that differs and names the first 8
 *     fence     INIT_SELF scif_fence_signal after async writes: the remote
 *               value comes only after the data (the server polls its word
 *               and takes the checksum at once), the local one in the
 *               client's window; INIT_PEER: the server's async writes into
 *               the client's window are visible once scif_fence_mark +
 *               scif_fence_wait, or scif_fence_signal, returns
 *     mmap      scif_mmap of the server's windows: on one host the mapping
 *               shares the window both ways, EACCES to write a read-only
 *               one; with --remote (another host) ENXIO for every window;
 *               EINVAL, ENXIO for bad arguments either way
 *     exit      (not in all) tell the server to exit (0 if it saw no error)
 *   xhost hold NODE PORT   connect, print "connected", block in scif_recv;
 *                          when it fails print "ended ERRNO after MS ms
 *                          wall=T" (T: CLOCK_REALTIME in ms, to compare with
 *                          the shell's date +%s%3N); exit 0 iff ECONNRESET
 *   xhost stream NODE PORT connect, print "connected", send 64 KiB blocks
 *                          forever (the server discards them); print how it
 *                          ended, as hold does; exit 0 iff ECONNRESET
 *   xhost connect NODE PORT [RESULT [LPORT]]  one scif_connect (bound
 *                          first to LPORT if given; connected, one round
 *                          trip): print "connect ok: the server accepted
 *                          N:P", "connect ERRNO_NAME" or "bind LPORT
 *                          ERRNO_NAME"; exit 0 iff that is RESULT (ok)
 *   xhost squat NODE PORT SECS   not SCIF: take the port's name as a
 *                          hostile process would (see role_squat)
 *   xhost mm OP BOARD [DEV LEN SEED]   micmem on a board of this host or
 *                          another (see role_mm)
 *   xhost rmaloop NODE PORT [read]  connect, scif_writeto (or readfrom)
 *                          SYNC 64 MiB to a
 *                          window of the server until a call fails
 *                          (see role_rmaloop)
 *   xhost echoloop NODE PORT STOPFILE [ROUNDS]   connect, echo checked
 *                          16 KiB rounds until STOPFILE exists or ROUNDS
 *                          were made (see role_echoloop)
 *   xhost local            the ctest: scifd --cards 2 in a private fabric,
 *                          servers and clients on nodes 0 and 1 both ways
 *                          (every check, the RMA ones too),
 *                          hold and stream against a server killed (SIGKILL)
 *
 * Nothing sleeps to synchronise: a process waits for a line ("ready",
 * "connected") or a reply on the connection, each wait with a deadline; an
 * alarm() watchdog per role (and per check) turns a hang into a FAIL line.
 * XHOST_WATCHDOG=SECS changes it (0: none; serve: 600 s, others 120 s).
 *
 * The commands (client to server): a 16-byte header, little-endian
 * { u32 op; u32 arg; u64 n }, then what the op says.
 */
#include "harness.h"
#include "micmem.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>

enum op {
	OP_HELLO = 1,	/* reply { u32 node, u32 port, u64 id }: the peer seen */
	OP_ECHO,	/* send n bytes back as they come */
	OP_SINK,	/* take n bytes, reply { u64 n, u64 checksum } */
	OP_SOURCE,	/* send n bytes of pattern(seed = arg) */
	OP_SILENT,	/* read nothing until OP_RESUME names this connection,
			 * then OP_SINK what it says */
	OP_RESUME,	/* arg = id of a silent connection, n = bytes it then
			 * takes; reply { u64 found, u64 0 } */
	OP_CLOSE,	/* send n bytes of pattern(arg), then close */
	OP_DISCARD,	/* read and drop everything until the connection ends */
	OP_EXIT,	/* reply { 0, errors }, exit(errors != 0) */
	/* RMA (the checks rma, rmaerr, fence, mmap): windows of this
	 * connection's endpoint. Replies { a, b }: a = UINT64_MAX and b = an
	 * errno on failure. A range of offsets may span windows that are
	 * contiguous in the registered address space. */
	OP_WIN,		/* arg = prot, n = length; then { u64 seed, u64 at }:
			 * register n bytes of fresh memory filled with
			 * pattern(seed) (byte i of the window: pat(seed, i)),
			 * at offset `at` (SCIF_MAP_FIXED) or anywhere (at 0);
			 * reply { offset, 0 } */
	OP_UNREG,	/* n = length; then { u64 off }: scif_unregister;
			 * reply { 0, 0 } */
	OP_FILL,	/* arg = seed, n = length; then { u64 off }: byte i of
			 * the range becomes pat(seed, i) (seed 0: zero);
			 * reply { 0, 0 } */
	OP_SUM,		/* n = length; then { u64 off }: reply { n, checksum
			 * of the range } */
	OP_WAITVAL,	/* arg = ms, n = length; then { u64 sig, u64 value,
			 * u64 off }: poll the 8-byte word at offset sig until
			 * it is value (at most arg ms), then at once take the
			 * checksum of the n bytes at off; reply { ms waited,
			 * checksum } or { UINT64_MAX, the word last seen } */
	OP_RWRITE,	/* arg = pieces, n = length; then { u64 loff, u64 roff
			 * }: scif_writeto of this side's [loff, loff + n) to
			 * the client's roff in arg pieces, without
			 * SCIF_RMA_SYNC; reply { 0, 0 } once they are started
			 * (not complete) */
};

#define HDR 16
#define MiB (1024 * 1024)
#define ECHO_CHUNK 1024
#define BULK_CHUNK (16 * MiB)
#define BOUND_LIMIT MiB	  /* what a non-blocking sender may queue at most */
#define STALL_MS 1000	  /* no progress for this long: the sender is held */
#define NB_CALL_MAX_MS 500 /* a non-blocking call slower than this blocked */

/* ---- small things ------------------------------------------------------ */

static int64_t now_ms(void)
{
	return h_now_ns() / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "?";
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The byte at offset i of the stream of @seed: no period a ring or a chunk
 * size could hide a shifted or repeated block behind. */
static inline unsigned char pat(uint64_t seed, uint64_t i)
{
	return (unsigned char)(((i + 1) * 0x9e3779b97f4a7c15ull + seed *
				0xbf58476d1ce4e5b9ull) >> 56);
}

static void fill(unsigned char *b, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, off + i);
}

/* Offset of the first byte that is not the pattern, or -1. */
static long long mismatch(const unsigned char *b, size_t n, uint64_t seed,
			  uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(seed, off + i))
			return (long long)(off + i);
	return -1;
}

#define FNV0 0xcbf29ce484222325ull
static uint64_t fnv(uint64_t h, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* The checksum of bytes [0, n) of pattern @seed. */
static uint64_t pat_sum(uint64_t seed, uint64_t n)
{
	unsigned char b[4096];
	uint64_t h = FNV0;

	for (uint64_t off = 0; off < n; off += sizeof(b)) {
		size_t k = n - off < sizeof(b) ? (size_t)(n - off) : sizeof(b);

		fill(b, k, seed, off);
		h = fnv(h, b, k);
	}
	return h;
}

/* All @n bytes, blocking: 0, or -errno (*done: bytes moved before). */
static int send_all(scif_epd_t ep, const void *buf, size_t n, size_t *done)
{
	size_t got = 0;
	int r = 0;

	while (got < n) {
		size_t k = n - got > (size_t)1 << 30 ? (size_t)1 << 30 : n - got;
		int s = scif_send(ep, (char *)buf + got, (int)k, SCIF_SEND_BLOCK);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		got += (size_t)s;
		if ((size_t)s < k) { /* reset part-way */
			r = -ECONNRESET;
			break;
		}
	}
	if (done)
		*done = got;
	return r;
}

static int recv_all(scif_epd_t ep, void *buf, size_t n, size_t *done)
{
	size_t got = 0;
	int r = 0;

	while (got < n) {
		size_t k = n - got > (size_t)1 << 30 ? (size_t)1 << 30 : n - got;
		int s = scif_recv(ep, (char *)buf + got, (int)k, SCIF_RECV_BLOCK);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		got += (size_t)s;
		if ((size_t)s < k) {
			r = -ECONNRESET;
			break;
		}
	}
	if (done)
		*done = got;
	return r;
}

static int send_hdr(scif_epd_t ep, uint32_t op, uint32_t arg, uint64_t n)
{
	unsigned char h[HDR];

	put32(h, op);
	put32(h + 4, arg);
	put64(h + 8, n);
	return send_all(ep, h, HDR, NULL);
}

/* A 16-byte reply { a, b } (u64 each, or the HELLO reply's layout). */
static int recv_reply(scif_epd_t ep, unsigned char r[16])
{
	return recv_all(ep, r, 16, NULL);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "xhost: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* ---- the watchdog --------------------------------------------------------- */

static char g_role[16] = "xhost";
static char g_check[32] = "-";
static char g_step[160] = "start";
static int g_watchdog;

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_step, sizeof(g_step), fmt, ap);
	va_end(ap);
}

static void on_alarm(int sig)
{
	char b[400];
	int n;

	(void)sig;
	n = snprintf(b, sizeof(b), "FAIL %s: watchdog: %s still running "
		     "after %d s, in step: %s\n", g_check, g_role, g_watchdog,
		     g_step);
	if (n > 0)
		(void)!write(1, b, (size_t)n);
	_exit(3);
}

static void arm(int secs)
{
	g_watchdog = secs;
	alarm((unsigned)secs);
}

static void watchdog_init(int dflt)
{
	struct sigaction sa;
	const char *e = getenv("XHOST_WATCHDOG");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	arm(e && *e ? atoi(e) : dflt);
}

/* ---- serve ------------------------------------------------------------------ */

struct conn {
	scif_epd_t ep;
	uint32_t id;
	uint16_t node, port;
	int resumed;
	uint64_t resume_n;
	pthread_cond_t cv;
	struct conn *next;
	struct swin { /* OP_WIN: kept until the connection ends */
		uint64_t off, len;
		unsigned char *mem;
		int gone; /* unregistered */
	} win[8];
	int nwin;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *g_conns;
static atomic_int g_errors;
static uint16_t g_self;

static void conn_err(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_err(struct conn *c, const char *fmt, ...)
{
	char b[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	printf("error id=%u: %s\n", c->id, b);
	atomic_fetch_add(&g_errors, 1);
}

/* Take @n bytes; their checksum in *sum. 0 or -errno. */
static int sink(scif_epd_t ep, uint64_t n, uint64_t *sum)
{
	size_t cap = n < BULK_CHUNK ? (size_t)n : BULK_CHUNK;
	unsigned char *b = xmalloc(cap);
	uint64_t h = FNV0;
	int r = 0;

	for (uint64_t got = 0; got < n;) {
		size_t k = n - got < cap ? (size_t)(n - got) : cap;

		r = recv_all(ep, b, k, NULL);
		if (r < 0)
			break;
		h = fnv(h, b, k);
		got += k;
	}
	free(b);
	*sum = h;
	return r;
}

static int source(scif_epd_t ep, uint64_t n, uint64_t seed)
{
	size_t cap = n < BULK_CHUNK ? (size_t)n : BULK_CHUNK;
	unsigned char *b = xmalloc(cap);
	int r = 0;

	for (uint64_t off = 0; off < n;) {
		size_t k = n - off < cap ? (size_t)(n - off) : cap;

		fill(b, k, seed, off);
		r = send_all(ep, b, k, NULL);
		if (r < 0)
			break;
		off += k;
	}
	free(b);
	return r;
}

/* Echo as bytes come: one blocking byte, then whatever else is queued. */
static int echo(scif_epd_t ep, uint64_t n)
{
	unsigned char b[ECHO_CHUNK];

	for (uint64_t left = n; left;) {
		int k = (int)(left < ECHO_CHUNK ? left : ECHO_CHUNK), r;

		r = scif_recv(ep, b, 1, SCIF_RECV_BLOCK);
		if (r < 1)
			return r < 0 ? -errno : -ECONNRESET;
		if (k > 1) {
			int more = scif_recv(ep, b + 1, k - 1, 0);

			if (more < 0)
				return -errno;
			r += more;
		}
		int e = send_all(ep, b, (size_t)r, NULL);

		if (e < 0)
			return e;
		left -= (uint64_t)r;
	}
	return 0;
}

static int reply2(scif_epd_t ep, uint64_t a, uint64_t b)
{
	unsigned char r[16];

	put64(r, a);
	put64(r + 8, b);
	return send_all(ep, r, 16, NULL);
}

/* ---- the server's windows (OP_WIN ...) ---- */

static size_t page_size(void)
{
	static size_t pg; /* the server's connection threads ask at once */
	size_t v = __atomic_load_n(&pg, __ATOMIC_RELAXED);

	if (!v) {
		v = (size_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&pg, v, __ATOMIC_RELAXED);
	}
	return v;
}

/* The memory at offset @off of a window of @c (registered, not
 * unregistered) and the bytes of that window from there, or NULL. */
static unsigned char *win_at(struct conn *c, uint64_t off, uint64_t *left)
{
	for (int i = 0; i < c->nwin; i++) {
		struct swin *w = &c->win[i];

		if (!w->gone && off >= w->off && off - w->off < w->len) {
			*left = w->len - (off - w->off);
			return w->mem + (off - w->off);
		}
	}
	return NULL;
}

/* What a range op does to each piece: @done bytes of the range before. */
struct piece_op {
	uint64_t seed, sum;
	int fill;
};

static void piece(struct piece_op *o, unsigned char *p, size_t k,
		  uint64_t done)
{
	if (!o->fill)
		o->sum = fnv(o->sum, p, k);
	else if (o->seed)
		fill(p, k, o->seed, done);
	else
		memset(p, 0, k);
}

/* Apply @o to [off, off + n) of @c's windows: 0, or -ENXIO (nothing done)
 * if a byte of it is in none. */
static int win_range(struct conn *c, uint64_t off, uint64_t n,
		     struct piece_op *o)
{
	uint64_t left, done;

	for (done = 0; done < n; done += left)
		if (!win_at(c, off + done, &left))
			return -ENXIO;
	for (done = 0; done < n; done += left) {
		unsigned char *p = win_at(c, off + done, &left);

		left = left < n - done ? left : n - done;
		piece(o, p, (size_t)left, done);
	}
	return 0;
}

static int reply_err(scif_epd_t ep, int e)
{
	unsigned char r[16];

	put64(r, UINT64_MAX);
	put64(r + 8, (uint64_t)e);
	return send_all(ep, r, 16, NULL);
}

/* One RMA command of @c (its payload follows the header): 0, or -errno of
 * the connection. A failure of the operation itself is the reply's. */
static int serve_rma(struct conn *c, uint32_t op, uint32_t arg, uint64_t n)
{
	static const size_t plen[] = {
		[OP_WIN] = 16, [OP_UNREG] = 8, [OP_FILL] = 8, [OP_SUM] = 8,
		[OP_WAITVAL] = 24, [OP_RWRITE] = 16,
	};
	unsigned char b[24];
	uint64_t a[3] = { 0, 0, 0 };
	int r = recv_all(c->ep, b, plen[op], NULL);

	if (r < 0)
		return r;
	for (size_t i = 0; i < plen[op] / 8; i++)
		a[i] = get64(b + 8 * i);
	switch (op) {
	case OP_WIN: {
		struct swin *w = &c->win[c->nwin];
		void *mem = NULL;
		off_t off;

		/* an unregistered one's slot (and memory) first */
		for (int i = 0; i < c->nwin; i++)
			if (c->win[i].gone) {
				free(c->win[i].mem);
				c->win[i] = c->win[--c->nwin];
				w = &c->win[c->nwin];
				break;
			}
		if (c->nwin == (int)(sizeof(c->win) / sizeof(c->win[0])))
			return reply_err(c->ep, ENOSPC);
		if (n == 0 || n % page_size() ||
		    posix_memalign(&mem, page_size(), (size_t)n))
			return reply_err(c->ep, n && n % page_size() == 0 ?
					 ENOMEM : EINVAL);
		fill(mem, (size_t)n, a[0], 0);
		off = scif_register(c->ep, mem, (size_t)n, (off_t)a[1],
				    (int)arg, a[1] ? SCIF_MAP_FIXED : 0);
		if (off == SCIF_REGISTER_FAILED) {
			int e = errno;

			free(mem);
			return reply_err(c->ep, e);
		}
		*w = (struct swin){ .off = (uint64_t)off, .len = n,
				    .mem = mem };
		c->nwin++;
		return reply2(c->ep, (uint64_t)off, 0);
	}
	case OP_UNREG:
		if (scif_unregister(c->ep, (off_t)a[0], (size_t)n) < 0)
			return reply_err(c->ep, errno);
		for (int i = 0; i < c->nwin; i++)
			if (c->win[i].off >= a[0] &&
			    c->win[i].off + c->win[i].len <= a[0] + n)
				c->win[i].gone = 1;
		return reply2(c->ep, 0, 0);
	case OP_FILL:
	case OP_SUM: {
		struct piece_op o = { .seed = arg, .sum = FNV0,
				      .fill = op == OP_FILL };

		if (win_range(c, a[0], n, &o) < 0)
			return reply_err(c->ep, ENXIO);
		return op == OP_FILL ? reply2(c->ep, 0, 0)
				     : reply2(c->ep, n, o.sum);
	}
	case OP_WAITVAL: {
		struct piece_op o = { .sum = FNV0 };
		uint64_t left, seen = 0;
		unsigned char *p = win_at(c, a[0], &left);
		int64_t t0 = now_ms();

		if (!p || left < 8 || a[0] % 8)
			return reply_err(c->ep, p && left >= 8 ? EINVAL : ENXIO);
		/* a deadline, and only this thread's time: the writer is the
		 * peer (or its DMA threads) */
		while ((seen = __atomic_load_n((uint64_t *)(void *)p,
					       __ATOMIC_ACQUIRE)) != a[1] &&
		       now_ms() - t0 < arg)
			sched_yield();
		if (seen != a[1])
			return reply2(c->ep, UINT64_MAX, seen);
		/* the data now, before anything else can land */
		if (win_range(c, a[2], n, &o) < 0)
			return reply_err(c->ep, ENXIO);
		return reply2(c->ep, (uint64_t)(now_ms() - t0), o.sum);
	}
	case OP_RWRITE: {
		uint64_t k = arg ? n / arg : n, done = 0;

		for (uint32_t i = 0; done < n; i++) {
			uint64_t len = i + 1 >= arg ? n - done : k;

			if (scif_writeto(c->ep, (off_t)(a[0] + done),
					 (size_t)len, (off_t)(a[1] + done),
					 0) < 0)
				return reply_err(c->ep, errno);
			done += len;
		}
		return reply2(c->ep, 0, 0);
	}
	}
	return -EPROTO;
}

/* Remove @c from the list and free it (under no lock). */
static void conn_free(struct conn *c)
{
	pthread_mutex_lock(&g_lock);
	for (struct conn **p = &g_conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	pthread_mutex_unlock(&g_lock);
	if (c->ep >= 0)
		scif_close(c->ep); /* waits for its RMAs */
	for (int i = 0; i < c->nwin; i++)
		free(c->win[i].mem);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static void *serve_conn(void *a)
{
	struct conn *c = a;
	unsigned char h[HDR];
	const char *end = "closed by the peer";
	int r = 0;

	for (;;) {
		size_t got;
		uint32_t op, arg;
		uint64_t n, sum = 0;

		r = recv_all(c->ep, h, HDR, &got);
		if (r < 0) {
			if (r != -ECONNRESET || got)
				conn_err(c, "receiving a command (%zu of 16 "
					 "bytes): %s", got, ename(-r));
			break;
		}
		op = get32(h);
		arg = get32(h + 4);
		n = get64(h + 8);
		switch (op) {
		case OP_HELLO: {
			unsigned char b[16];

			put32(b, c->node);
			put32(b + 4, c->port);
			put64(b + 8, c->id);
			r = send_all(c->ep, b, 16, NULL);
			break;
		}
		case OP_ECHO:
			r = echo(c->ep, n);
			break;
		case OP_SINK:
			r = sink(c->ep, n, &sum);
			if (r == 0)
				r = reply2(c->ep, n, sum);
			break;
		case OP_SOURCE:
			r = source(c->ep, n, arg);
			break;
		case OP_SILENT: {
			struct timespec dl;

			/* scripts wait for this line to start what must
			 * overlap the stall */
			printf("silent id=%u\n", c->id);

			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 60; /* a client that never resumes */
			pthread_mutex_lock(&g_lock);
			while (!c->resumed && r == 0)
				if (pthread_cond_timedwait(&c->cv, &g_lock, &dl))
					r = -ETIMEDOUT;
			n = c->resume_n;
			c->resumed = 0;
			pthread_mutex_unlock(&g_lock);
			if (r < 0)
				break;
			r = sink(c->ep, n, &sum);
			if (r == 0)
				r = reply2(c->ep, n, sum);
			break;
		}
		case OP_RESUME: {
			int found = 0;

			pthread_mutex_lock(&g_lock);
			for (struct conn *o = g_conns; o; o = o->next)
				if (o->id == arg) {
					o->resumed = 1;
					o->resume_n = n;
					pthread_cond_signal(&o->cv);
					found = 1;
				}
			pthread_mutex_unlock(&g_lock);
			if (!found)
				conn_err(c, "RESUME of connection %u: none", arg);
			r = reply2(c->ep, (uint64_t)found, 0);
			break;
		}
		case OP_CLOSE:
			r = source(c->ep, n, arg);
			if (r < 0)
				break;
			end = "closed as asked";
			goto out;
		case OP_DISCARD: {
			unsigned char *b = xmalloc(64 * 1024);
			uint64_t total = 0;
			int s;

			while ((s = scif_recv(c->ep, b, 64 * 1024,
					      SCIF_RECV_BLOCK)) > 0 ||
			       (s < 0 && errno == EINTR))
				total += s > 0 ? (uint64_t)s : 0;
			printf("discard id=%u: %" PRIu64 " bytes, then %s\n",
			       c->id, total, s < 0 ? ename(errno) : "0");
			free(b);
			end = "discarded to the end";
			goto out;
		}
		case OP_EXIT:
			r = reply2(c->ep, 0, (uint64_t)atomic_load(&g_errors));
			printf("exit: %d error(s)\n", atomic_load(&g_errors));
			fflush(stdout);
			/* other threads still hold connections (stalled and
			 * holding clients) by design: the kernel ends them;
			 * LeakSanitizer would report their library state,
			 * reachable only from shared memory it does not scan */
			_exit(atomic_load(&g_errors) ? 1 : 0);
		case OP_WIN:
		case OP_UNREG:
		case OP_FILL:
		case OP_SUM:
		case OP_WAITVAL:
		case OP_RWRITE:
			r = serve_rma(c, op, arg, n);
			break;
		default:
			conn_err(c, "unknown command %u", op);
			r = -EPROTO;
			break;
		}
		if (r < 0) {
			/* hold/stream clients and killed hosts end this way */
			end = ename(-r);
			break;
		}
	}
out:
	printf("ended id=%u: %s wall=%lld\n", c->id, end, (long long)wall_ms());
	conn_free(c);
	return NULL;
}

static int role_serve(int argc, char **argv)
{
	struct scif_portID peer;
	uint16_t nodes[1];
	uint32_t next_id = 1;
	scif_epd_t l, ep;
	int port;

	if (argc < 1)
		return 2;
	if (scif_get_nodeIDs(nodes, 1, &g_self) < 0) {
		printf("error: scif_get_nodeIDs: %s\n", ename(errno));
		return 1;
	}
	l = scif_open();
	if (l < 0 || (port = scif_bind(l, (uint16_t)atoi(argv[0]))) < 0 ||
	    scif_listen(l, 16) < 0) {
		printf("error: listening on %s: %s\n", argv[0], ename(errno));
		return 1;
	}
	printf("ready port=%d node=%u\n", port, g_self);
	for (;;) {
		pthread_t t;
		struct conn *c;

		if (scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC) < 0) {
			if (errno == EINTR)
				continue;
			printf("error: scif_accept: %s\n", ename(errno));
			return 1;
		}
		c = xmalloc(sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->ep = ep;
		c->id = next_id++;
		c->node = peer.node;
		c->port = peer.port;
		pthread_cond_init(&c->cv, NULL);
		pthread_mutex_lock(&g_lock);
		c->next = g_conns;
		g_conns = c;
		pthread_mutex_unlock(&g_lock);
		printf("accepted id=%u node=%u port=%u\n", c->id, c->node,
		       c->port);
		if (pthread_create(&t, NULL, serve_conn, c)) {
			conn_err(c, "no thread");
			conn_free(c);
			continue;
		}
		pthread_detach(t);
	}
}

/* ---- client ----------------------------------------------------------------- */

static uint16_t g_node, g_port;
static char g_msg[1024];
static scif_epd_t g_eps[16];
static int g_neps;

/* Fail the current check: the message, then return -1. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_msg, sizeof(g_msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	size_t l = strlen(g_msg);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_msg + l, sizeof(g_msg) - l, fmt, ap);
	va_end(ap);
}

#define TRY(c, ...)                                                            \
	do {                                                                   \
		if (!(c))                                                      \
			return bad(__VA_ARGS__);                               \
	} while (0)
/* A call returning 0 or -errno. */
#define TRYR(call, what)                                                       \
	do {                                                                   \
		int r_ = (call);                                               \
		if (r_ < 0)                                                    \
			return bad("%s: %s", what, ename(-r_));                \
	} while (0)

/* Connect a fresh endpoint (closed at the end of the check). */
static int xconnect(uint16_t node, uint16_t port, scif_epd_t *out)
{
	struct scif_portID dst = { .node = node, .port = port };
	scif_epd_t ep = scif_open();

	if (ep < 0)
		return -errno;
	if (g_neps < (int)(sizeof(g_eps) / sizeof(g_eps[0])))
		g_eps[g_neps++] = ep;
	if (scif_connect(ep, &dst) < 0)
		return -errno;
	*out = ep;
	return 0;
}

/* HELLO: the connection's id at the server (and the peer it saw). */
static int hello(scif_epd_t ep, uint32_t *id, uint16_t *node, uint16_t *port)
{
	unsigned char r[16];
	int e = send_hdr(ep, OP_HELLO, 0, 0);

	if (e == 0)
		e = recv_reply(ep, r);
	if (e < 0)
		return e;
	if (node)
		*node = (uint16_t)get32(r);
	if (port)
		*port = (uint16_t)get32(r + 4);
	if (id)
		*id = (uint32_t)get64(r + 8);
	return 0;
}

/* Tell the server, on a connection of its own, to let silent connection
 * @id read @n bytes. */
static int resume(uint32_t id, uint64_t n)
{
	unsigned char r[16];
	scif_epd_t c = -1;
	int e = xconnect(g_node, g_port, &c);

	if (e == 0)
		e = send_hdr(c, OP_RESUME, id, n);
	if (e == 0)
		e = recv_reply(c, r);
	if (e == 0 && get64(r) != 1)
		e = -ESRCH;
	return e;
}

/* The SINK reply after a silent connection was resumed: n and checksum
 * of the pattern bytes [0, n). */
static int sink_reply_ok(scif_epd_t ep, uint64_t seed, uint64_t n)
{
	unsigned char r[16];

	TRYR(recv_reply(ep, r), "the sink's reply");
	TRY(get64(r) == n, "the server took %" PRIu64 " bytes, not %" PRIu64,
	    get64(r), n);
	TRY(get64(r + 8) == pat_sum(seed, n), "checksum of %" PRIu64
	    " bytes differs", n);
	return 0;
}

/*
 * Non-blocking sends of the pattern (from *off) until none has been taken
 * for STALL_MS (waiting on POLLOUT between tries), or until BOUND_LIMIT: the
 * bytes taken, or -1 (message set). Every call is timed: one that took
 * NB_CALL_MAX_MS or more blocked.
 */
static long long fill_nb(scif_epd_t ep, uint64_t seed, uint64_t *off,
			 int *slowest_ms)
{
	unsigned char b[64 * 1024];
	int64_t last = now_ms();
	long long total = 0;

	*slowest_ms = 0;
	while (now_ms() - last < STALL_MS) {
		struct scif_pollepd p = { .epd = ep, .events = SCIF_POLLOUT };
		int64_t t0 = now_ms();
		int r, dt;

		fill(b, sizeof(b), seed, *off);
		r = scif_send(ep, b, (int)sizeof(b), 0);
		dt = (int)(now_ms() - t0);
		if (dt > *slowest_ms)
			*slowest_ms = dt;
		if (r < 0)
			return bad("non-blocking send after %lld bytes: %s",
				   total, ename(errno));
		if (dt >= NB_CALL_MAX_MS)
			return bad("a non-blocking send took %d ms", dt);
		if (r > 0) {
			total += r;
			*off += (uint64_t)r;
			last = now_ms();
			if (total >= BOUND_LIMIT)
				return bad("non-blocking sends took %lld bytes "
					   "with the reader stopped: no bound",
					   total);
			continue;
		}
		if (scif_poll(&p, 1, 100) < 0 && errno != EINTR)
			return bad("scif_poll: %s", ename(errno));
	}
	return total;
}

enum api { A_SCIF, A_POLL, A_EPOLL, NAPI };
static const char *api_name[] = { "scif_poll", "poll", "epoll" };

/* revents of @ep through @api after up to @ms: -1 on error. */
static int ask(enum api a, scif_epd_t ep, short events, int ms)
{
	switch (a) {
	case A_SCIF: {
		struct scif_pollepd p = { .epd = ep, .events = events };
		int r = scif_poll(&p, 1, ms);

		return r < 0 ? -1 : r ? p.revents : 0;
	}
	case A_POLL: {
		struct pollfd p = { .fd = scif_get_fd(ep), .events = events };
		int r = poll(&p, 1, ms);

		return r < 0 ? -1 : r ? p.revents : 0;
	}
	default: {
		int efd = epoll_create1(EPOLL_CLOEXEC), r, rev = 0;
		struct epoll_event ev = { .events = 0 }, out;

		if (efd < 0)
			return -1;
		ev.events = (events & POLLIN ? EPOLLIN : 0) |
			    (events & POLLOUT ? EPOLLOUT : 0);
		ev.data.fd = ep;
		r = epoll_ctl(efd, EPOLL_CTL_ADD, scif_get_fd(ep), &ev);
		if (r == 0)
			r = epoll_wait(efd, &out, 1, ms);
		close(efd);
		if (r < 0)
			return -1;
		if (r == 1)
			rev = (out.events & EPOLLIN ? POLLIN : 0) |
			      (out.events & EPOLLOUT ? POLLOUT : 0) |
			      (out.events & EPOLLHUP ? POLLHUP : 0) |
			      (out.events & EPOLLERR ? POLLERR : 0);
		return rev;
	}
	}
}

/* Wait (up to @ms, retrying early returns) until @bit shows via @a. */
static int wait_bit(enum api a, scif_epd_t ep, short events, short bit, int ms)
{
	int64_t end = now_ms() + ms;
	int rev;

	do {
		int left = (int)(end - now_ms());

		rev = ask(a, ep, events, left < 0 ? 0 : left);
		if (rev < 0 && errno != EINTR)
			return -1;
		if (rev > 0 && (rev & bit))
			return rev;
	} while (now_ms() < end);
	return 0;
}

/* ---- the checks ---- */

static int c_echo(void)
{
	enum { RT = 1000 };
	unsigned char out[8], in[8];
	static int64_t lat[RT];
	scif_epd_t ep = -1;

	step("connect");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	fill(out, 8, 1, 0);
	step("8-byte echo");
	TRYR(send_hdr(ep, OP_ECHO, 0, 8 + 8 * RT), "send the command");
	TRYR(send_all(ep, out, 8, NULL), "scif_send of 8 bytes");
	TRYR(recv_all(ep, in, 8, NULL), "scif_recv of 8 bytes");
	TRY(memcmp(in, out, 8) == 0, "the 8 bytes came back changed");
	step("%d round trips", RT);
	for (int i = 0; i < RT; i++) {
		int64_t t0 = h_now_ns();

		put64(out, (uint64_t)i);
		TRYR(send_all(ep, out, 8, NULL), "scif_send of 8 bytes");
		TRYR(recv_all(ep, in, 8, NULL), "scif_recv of 8 bytes");
		lat[i] = h_now_ns() - t0;
		TRY(get64(in) == (uint64_t)i, "round trip %d came back as %" PRIu64,
		    i, get64(in));
	}
	for (int i = 1; i < RT; i++) /* insertion sort: small */
		for (int j = i; j > 0 && lat[j] < lat[j - 1]; j--) {
			int64_t t = lat[j];
			lat[j] = lat[j - 1];
			lat[j - 1] = t;
		}
	note("8 bytes both ways blocking; %d round trips: median %.1f us, "
	     "p99 %.1f us", RT, lat[RT / 2] / 1e3, lat[RT * 99 / 100] / 1e3);
	return 0;
}

static int c_nonblock(void)
{
	enum { N = 256 * 1024 };
	unsigned char *out = xmalloc(N + HDR), *in = xmalloc(N), b[8];
	size_t sent = 0, got = 0, total = N + HDR;
	long sends = 0, psends = 0, zsends = 0, recvs = 0, zrecvs = 0;
	int slowest = 0, r = -1;
	int64_t end, t0;
	scif_epd_t ep = -1;

	step("connect");
	if (xconnect(g_node, g_port, &ep) < 0) {
		bad("scif_connect: %s", ename(errno));
		goto out;
	}
	step("recv with nothing queued");
	t0 = now_ms();
	r = scif_recv(ep, b, 8, 0);
	if (r != 0 || now_ms() - t0 >= NB_CALL_MAX_MS) {
		bad("scif_recv(flags 0) with nothing queued: %d (%s) after "
		    "%lld ms, want 0 at once", r, r < 0 ? ename(errno) : "-",
		    (long long)(now_ms() - t0));
		r = -1;
		goto out;
	}
	/* the command too goes out non-blocking: one stream of N + 16 */
	put32(out, OP_ECHO);
	put32(out + 4, 0);
	put64(out + 8, N);
	fill(out + HDR, N, 2, 0);
	step("a %d-byte echo with flags 0 only", N);
	end = now_ms() + 30000;
	r = -1;
	while (got < N) {
		int progress = 0, s, dt;

		if (now_ms() > end) {
			bad("echo not done in 30 s: sent %zu, received %zu",
			    sent, got);
			goto out;
		}
		if (sent < total) {
			size_t ask_n = total - sent < 65536 ? total - sent : 65536;

			t0 = now_ms();
			s = scif_send(ep, out + sent, (int)ask_n, 0);
			dt = (int)(now_ms() - t0);
			slowest = dt > slowest ? dt : slowest;
			if (s < 0) {
				bad("scif_send(flags 0): %s", ename(errno));
				goto out;
			}
			sends++;
			psends += s > 0 && (size_t)s < ask_n;
			zsends += s == 0;
			sent += (size_t)s;
			progress |= s > 0;
		}
		t0 = now_ms();
		s = scif_recv(ep, in + got, (int)(N - got), 0);
		dt = (int)(now_ms() - t0);
		slowest = dt > slowest ? dt : slowest;
		if (s < 0) {
			bad("scif_recv(flags 0): %s", ename(errno));
			goto out;
		}
		recvs++;
		zrecvs += s == 0;
		got += (size_t)s;
		progress |= s > 0;
		if (!progress) {
			struct scif_pollepd p = {
				.epd = ep,
				.events = SCIF_POLLIN |
					  (sent < total ? SCIF_POLLOUT : 0),
			};

			if (scif_poll(&p, 1, 1000) < 0 && errno != EINTR) {
				bad("scif_poll: %s", ename(errno));
				goto out;
			}
		}
	}
	if (memcmp(in, out + HDR, N)) {
		bad("the echo differs from byte %lld",
		    mismatch(in, N, 2, 0));
		goto out;
	}
	if (slowest >= NB_CALL_MAX_MS) {
		bad("a non-blocking call took %d ms", slowest);
		goto out;
	}
	if (psends == 0) {
		bad("no partial send in %ld sends of up to 64 KiB", sends);
		goto out;
	}
	note("recv 0 at once; %d bytes echoed with flags 0: %ld sends (%ld "
	     "partial, %ld of 0), %ld recvs (%ld of 0), slowest call %d ms",
	     N, sends, psends, zsends, recvs, zrecvs, slowest);
	r = 0;
out:
	free(out);
	free(in);
	return r;
}

static int c_bulk(void)
{
	static const size_t sizes[] = { MiB, 16 * MiB };
	unsigned char *b = xmalloc(16 * MiB), rep[16];
	scif_epd_t ep = -1;

	step("connect");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	for (int i = 0; i < 2; i++) {
		size_t n = sizes[i];
		int64_t t0;
		long long bad_at;
		double up, down;

		step("%zu bytes to the server", n);
		fill(b, n, 3 + (uint64_t)i, 0);
		t0 = h_now_ns();
		TRYR(send_hdr(ep, OP_SINK, 0, n), "send the command");
		TRYR(send_all(ep, b, n, NULL), "scif_send");
		TRYR(recv_reply(ep, rep), "the sink's reply");
		up = (double)n / ((double)(h_now_ns() - t0) / 1e9) / 1e6;
		TRY(get64(rep) == n && get64(rep + 8) == fnv(FNV0, b, n),
		    "%zu bytes sent: the server took %" PRIu64 " bytes, "
		    "checksum %s", n, get64(rep),
		    get64(rep + 8) == fnv(FNV0, b, n) ? "equal" : "differs");
		step("%zu bytes from the server", n);
		memset(b, 0, n);
		t0 = h_now_ns();
		TRYR(send_hdr(ep, OP_SOURCE, 5 + (uint32_t)i, n),
		     "send the command");
		TRYR(recv_all(ep, b, n, NULL), "scif_recv");
		down = (double)n / ((double)(h_now_ns() - t0) / 1e9) / 1e6;
		bad_at = mismatch(b, n, 5 + (uint64_t)i, 0);
		TRY(bad_at < 0, "%zu bytes received: wrong from byte %lld", n,
		    bad_at);
		note("%s%zu MiB up %.0f MB/s down %.0f MB/s", i ? ", " : "",
		     n / MiB, up, down);
	}
	free(b);
	return 0;
}

struct bsend {
	scif_epd_t ep;
	unsigned char *buf;
	size_t n;
	int fd; /* written once the send returned */
	int ret, err;
};

static void *bsend_thread(void *a)
{
	struct bsend *s = a;

	s->ret = scif_send(s->ep, s->buf, (int)s->n, SCIF_SEND_BLOCK);
	s->err = s->ret < 0 ? errno : 0;
	(void)!write(s->fd, "x", 1);
	return NULL;
}

static int c_bound(void)
{
	static struct bsend s;
	uint64_t off = 0;
	long long filled;
	int pfd[2], slowest;
	int64_t t0;
	uint32_t id;
	scif_epd_t ep = -1;
	pthread_t t;

	step("connect");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	TRYR(hello(ep, &id, NULL, NULL), "HELLO");
	TRYR(send_hdr(ep, OP_SILENT, 0, 0), "send the command");
	step("non-blocking sends, the reader silent");
	filled = fill_nb(ep, 7, &off, &slowest);
	if (filled < 0)
		return -1;
	TRY(filled > 0, "not one byte taken");
	step("a blocking 1 MiB send, the reader silent");
	TRY(pipe(pfd) == 0, "pipe: %s", ename(errno));
	s = (struct bsend){ .ep = ep, .n = MiB, .fd = pfd[1] };
	s.buf = xmalloc(MiB);
	fill(s.buf, MiB, 7, off);
	TRY(pthread_create(&t, NULL, bsend_thread, &s) == 0, "no thread");
	/* negative check: a bounded wait that must see nothing */
	if (h_readable(pfd[0], 1000)) {
		pthread_join(t, NULL);
		return bad("the blocking send returned %d (%s) with the reader "
			   "silent (%lld bytes queued before)", s.ret,
			   ename(s.err), filled);
	}
	step("resume the reader");
	t0 = now_ms();
	TRYR(resume(id, (uint64_t)filled + MiB), "RESUME");
	if (!h_readable(pfd[0], 30000)) {
		pthread_detach(t); /* the watchdog ends it if it never does */
		return bad("the blocking send did not return within 30 s of "
			   "the reader resuming");
	}
	pthread_join(t, NULL);
	TRY(s.ret == MiB, "the blocking send returned %d (%s)", s.ret,
	    ename(s.err));
	note("non-blocking sends stopped at %lld bytes (slowest call %d ms); "
	     "a blocking 1 MiB send waited for the reader, done %lld ms "
	     "after it resumed", filled, slowest, (long long)(now_ms() - t0));
	close(pfd[0]);
	close(pfd[1]);
	free(s.buf);
	return sink_reply_ok(ep, 7, (uint64_t)filled + MiB);
}

static int c_poll(void)
{
	unsigned char b[100];
	uint64_t off = 0;
	long long filled;
	size_t got = 0;
	int slowest, rev, hup_in = 0;
	uint32_t id;
	scif_epd_t ep = -1, hup = -1;

	step("connect");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	TRYR(hello(ep, &id, NULL, NULL), "HELLO");
	for (int a = 0; a < NAPI; a++) {
		step("idle: %s", api_name[a]);
		rev = ask((enum api)a, ep, POLLIN | POLLOUT, 0);
		TRY(rev >= 0, "%s: %s", api_name[a], ename(errno));
		TRY(rev == POLLOUT, "%s on an idle connection: 0x%x, want "
		    "POLLOUT only", api_name[a], rev);
	}
	step("100 bytes queued");
	TRYR(send_hdr(ep, OP_SOURCE, 9, sizeof(b)), "send the command");
	for (int a = 0; a < NAPI; a++) {
		rev = wait_bit((enum api)a, ep, POLLIN, POLLIN, 10000);
		TRY(rev > 0, "%s: no POLLIN in 10 s with bytes on the way "
		    "(%s)", api_name[a], rev < 0 ? ename(errno) : "timeout");
	}
	while (got < sizeof(b)) { /* they may come in several pieces */
		int r = scif_recv(ep, b + got, (int)(sizeof(b) - got), 0);

		TRY(r >= 0, "scif_recv: %s", ename(errno));
		got += (size_t)r;
		if (got < sizeof(b))
			TRY(wait_bit(A_SCIF, ep, POLLIN, POLLIN, 10000) > 0,
			    "only %zu of 100 bytes came", got);
	}
	TRY(mismatch(b, sizeof(b), 9, 0) < 0, "the 100 bytes differ");
	for (int a = 0; a < NAPI; a++) {
		rev = ask((enum api)a, ep, POLLIN | POLLOUT, 0);
		TRY(rev == POLLOUT, "%s once drained: 0x%x, want POLLOUT only",
		    api_name[a], rev);
	}
	step("the reader silent, the send queue full");
	TRYR(send_hdr(ep, OP_SILENT, 0, 0), "send the command");
	filled = fill_nb(ep, 11, &off, &slowest);
	if (filled < 0)
		return -1;
	for (int a = 0; a < NAPI; a++) {
		rev = ask((enum api)a, ep, POLLOUT, 200);
		TRY(rev == 0, "%s with the send queue full: 0x%x, want nothing",
		    api_name[a], rev);
	}
	TRYR(resume(id, (uint64_t)filled), "RESUME");
	for (int a = 0; a < NAPI; a++) {
		rev = wait_bit((enum api)a, ep, POLLOUT, POLLOUT, 10000);
		TRY(rev > 0, "%s: no POLLOUT in 10 s once the reader resumed",
		    api_name[a]);
	}
	if (sink_reply_ok(ep, 11, (uint64_t)filled) < 0)
		return -1;
	step("the server closes");
	TRYR(xconnect(g_node, g_port, &hup), "scif_connect");
	TRYR(send_hdr(hup, OP_CLOSE, 0, 0), "send the command");
	for (int a = 0; a < NAPI; a++) {
		rev = wait_bit((enum api)a, hup, POLLIN, POLLHUP, 10000);
		TRY(rev > 0, "%s: no POLLHUP in 10 s after the server closed",
		    api_name[a]);
		/* the descriptor itself reads as readable at hangup (so
		 * does test_poll's peer; only scif_poll reads the rings) */
		TRY(a != A_SCIF || !(rev & POLLIN), "%s: POLLIN with nothing "
		    "queued after the close (0x%x)", api_name[a], rev);
		if (a != A_SCIF && (rev & POLLIN))
			hup_in |= 1 << a;
	}
	note("POLLOUT only when idle and when drained, POLLIN with bytes "
	     "queued, no POLLOUT with %lld bytes queued, POLLHUP after a "
	     "close, through scif_poll, poll and epoll", filled);
	if (hup_in)
		note(" (at hangup with nothing queued%s%s also show POLLIN)",
		     hup_in & 1 << A_POLL ? " poll" : "",
		     hup_in & 1 << A_EPOLL ? " epoll" : "");
	return 0;
}

static int c_close(void)
{
	unsigned char b[2000];
	scif_epd_t ep = -1;
	int r, rev;

	/* POLLHUP first: every byte sent before the close must be there */
	step("connect");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	TRYR(send_hdr(ep, OP_CLOSE, 13, 1000), "send the command");
	rev = wait_bit(A_SCIF, ep, POLLIN, POLLHUP, 10000);
	TRY(rev > 0, "no POLLHUP in 10 s after the server closed");
	TRY(rev & POLLIN, "POLLHUP without POLLIN: 1000 bytes should be "
	    "queued (0x%x)", rev);
	step("drain after POLLHUP");
	r = scif_recv(ep, b, sizeof(b), SCIF_RECV_BLOCK);
	TRY(r == 1000, "a blocking recv of 2000 after the close: %d (%s), "
	    "want 1000", r, r < 0 ? ename(errno) : "-");
	TRY(mismatch(b, 1000, 13, 0) < 0, "the 1000 bytes differ");
	r = scif_recv(ep, b, 1, SCIF_RECV_BLOCK);
	TRY(r < 0 && errno == ECONNRESET, "blocking recv once drained: %d "
	    "(%s), want ECONNRESET", r, r < 0 ? ename(errno) : "-");
	r = scif_recv(ep, b, 1, 0);
	TRY(r < 0 && errno == ECONNRESET, "non-blocking recv once drained: "
	    "%d (%s), want ECONNRESET", r, r < 0 ? ename(errno) : "-");
	r = scif_send(ep, b, 1, 0);
	TRY(r < 0 && errno == ECONNRESET, "non-blocking send: %d (%s), want "
	    "ECONNRESET", r, r < 0 ? ename(errno) : "-");
	r = scif_send(ep, b, 1, SCIF_SEND_BLOCK);
	TRY(r < 0 && errno == ECONNRESET, "blocking send: %d (%s), want "
	    "ECONNRESET", r, r < 0 ? ename(errno) : "-");
	/* a receiver already waiting when the close comes */
	step("a blocking recv across the close");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	TRYR(send_hdr(ep, OP_CLOSE, 14, 1000), "send the command");
	r = scif_recv(ep, b, sizeof(b), SCIF_RECV_BLOCK);
	TRY(r == 1000, "a blocking recv of 2000 waiting for the close: %d "
	    "(%s), want 1000", r, r < 0 ? ename(errno) : "-");
	TRY(mismatch(b, 1000, 14, 0) < 0, "the 1000 bytes differ");
	r = scif_recv(ep, b, 1, SCIF_RECV_BLOCK);
	TRY(r < 0 && errno == ECONNRESET, "blocking recv once drained: %d "
	    "(%s), want ECONNRESET", r, r < 0 ? ename(errno) : "-");
	note("1000 bytes then ECONNRESET (recv, send), after POLLHUP and "
	     "with a recv waiting");
	return 0;
}

static int c_peer(void)
{
	uint16_t nodes[256], self, pnode, pport;
	scif_epd_t ep = -1;
	int bound, c;
	struct scif_portID dst = { .node = g_node, .port = g_port };

	TRY(scif_get_nodeIDs(nodes, 256, &self) >= 0, "scif_get_nodeIDs: %s",
	    ename(errno));
	step("bind, connect");
	ep = scif_open();
	TRY(ep >= 0, "scif_open: %s", ename(errno));
	g_eps[g_neps++] = ep;
	bound = scif_bind(ep, 0);
	TRY(bound > 0, "scif_bind(0): %s", ename(errno));
	c = scif_connect(ep, &dst);
	TRY(c >= 0, "scif_connect: %s", ename(errno));
	TRY(c == bound, "scif_connect returned port %d, bound to %d", c, bound);
	TRYR(hello(ep, NULL, &pnode, &pport), "HELLO");
	TRY(pnode == self && pport == bound, "the server accepted %u:%u, "
	    "this is %u:%d", pnode, pport, self, bound);
	note("the server accepted %u:%u, this endpoint's node and port",
	     pnode, pport);
	return 0;
}

static int c_refuse(void)
{
	uint16_t nodes[256], self;
	int n, off = -1, e;
	int64_t t0;
	scif_epd_t ep = -1;

	step("connect to port %u", g_port + 1);
	t0 = now_ms();
	e = xconnect(g_node, (uint16_t)(g_port + 1), &ep);
	TRY(e == -ECONNREFUSED, "connect to %u:%u (nobody listens): %s, want "
	    "ECONNREFUSED", g_node, g_port + 1, e ? ename(-e) : "connected");
	note("%u:%u ECONNREFUSED in %lld ms", g_node, g_port + 1,
	     (long long)(now_ms() - t0));
	n = scif_get_nodeIDs(nodes, 256, &self);
	TRY(n >= 0, "scif_get_nodeIDs: %s", ename(errno));
	for (int i = 0, k = 0; i < 256 && off < 0; i++) {
		if (k < n && nodes[k] == i)
			k++;
		else
			off = i;
	}
	step("connect to node %d", off);
	e = xconnect((uint16_t)off, g_port, &ep);
	TRY(e == -ENODEV, "connect to node %d (not online): %s, want ENODEV",
	    off, e ? ename(-e) : "connected");
	note(", node %d ENODEV", off);
	return 0;
}

/* One connection stalled (reader silent, send queue full) must not slow
 * another: the other echoes meanwhile, and poll/epoll over both report
 * each one's own state. */
static int c_multi(void)
{
	enum { RT = 200 };
	unsigned char out[8], in[8];
	uint64_t off = 0;
	long long filled;
	int slowest, efd, n;
	int64_t t0, worst = 0;
	uint32_t id;
	scif_epd_t st = -1, fast = -1;
	struct epoll_event ev, outv[4];

	step("connect twice");
	TRYR(xconnect(g_node, g_port, &st), "scif_connect");
	TRYR(xconnect(g_node, g_port, &fast), "scif_connect");
	TRYR(hello(st, &id, NULL, NULL), "HELLO");
	TRYR(send_hdr(st, OP_SILENT, 0, 0), "send the command");
	step("stall the first");
	filled = fill_nb(st, 15, &off, &slowest);
	if (filled < 0)
		return -1;
	step("echo on the second");
	TRYR(send_hdr(fast, OP_ECHO, 0, 8 * RT), "send the command");
	t0 = now_ms();
	for (int i = 0; i < RT; i++) {
		int64_t t1 = h_now_ns();

		put64(out, (uint64_t)i);
		TRYR(send_all(fast, out, 8, NULL), "scif_send");
		TRYR(recv_all(fast, in, 8, NULL), "scif_recv");
		TRY(get64(in) == (uint64_t)i, "round trip %d differs", i);
		worst = h_now_ns() - t1 > worst ? h_now_ns() - t1 : worst;
	}
	note("%d round trips on one connection in %lld ms (slowest %.1f ms) "
	     "while the other held %lld bytes", RT,
	     (long long)(now_ms() - t0), worst / 1e6, filled);
	TRY(worst < 1000000000LL, "a round trip took %.0f ms beside the stalled "
	    "connection", worst / 1e6);
	step("poll over both");
	{
		struct pollfd p[2] = {
			{ .fd = scif_get_fd(st), .events = POLLIN | POLLOUT },
			{ .fd = scif_get_fd(fast), .events = POLLIN | POLLOUT },
		};

		n = poll(p, 2, 0);
		TRY(n == 1 && p[0].revents == 0 && p[1].revents == POLLOUT,
		    "poll over both: %d, stalled 0x%x, idle 0x%x; want only "
		    "the idle one, POLLOUT", n, p[0].revents, p[1].revents);
	}
	efd = epoll_create1(EPOLL_CLOEXEC);
	TRY(efd >= 0, "epoll_create1: %s", ename(errno));
	ev = (struct epoll_event){ .events = EPOLLOUT, .data.fd = st };
	TRY(epoll_ctl(efd, EPOLL_CTL_ADD, scif_get_fd(st), &ev) == 0,
	    "epoll_ctl: %s", ename(errno));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fast };
	TRY(epoll_ctl(efd, EPOLL_CTL_ADD, scif_get_fd(fast), &ev) == 0,
	    "epoll_ctl: %s", ename(errno));
	TRYR(send_hdr(fast, OP_SOURCE, 17, 8), "send the command");
	n = epoll_wait(efd, outv, 4, 10000);
	TRY(n == 1 && outv[0].data.fd == fast && (outv[0].events & EPOLLIN),
	    "epoll: %d events, the first on %s (0x%x); want EPOLLIN on the "
	    "idle one only", n, n > 0 && outv[0].data.fd == st ? "the stalled"
	    : "the idle", n > 0 ? outv[0].events : 0);
	TRYR(recv_all(fast, in, 8, NULL), "scif_recv");
	TRY(mismatch(in, 8, 17, 0) < 0, "8 bytes differ");
	step("resume the stalled one");
	TRYR(resume(id, (uint64_t)filled), "RESUME");
	n = epoll_wait(efd, outv, 4, 10000);
	TRY(n == 1 && outv[0].data.fd == st && (outv[0].events & EPOLLOUT),
	    "epoll after resuming: %d events; want EPOLLOUT on the stalled "
	    "one", n);
	close(efd);
	if (sink_reply_ok(st, 15, (uint64_t)filled) < 0)
		return -1;
	note("; poll and epoll told them apart");
	return 0;
}

/* ---- RMA checks ---- */

static int g_remote; /* --remote: the server is on another host */
static void *g_bufs[16]; /* freed after the check's endpoints are closed */
static int g_nbufs;

/* Page-aligned memory, freed at the end of the check. */
static unsigned char *pbuf(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, page_size(), n)) {
		fprintf(stderr, "xhost: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	if (g_nbufs < (int)(sizeof(g_bufs) / sizeof(g_bufs[0])))
		g_bufs[g_nbufs++] = p;
	return p;
}

/* An RMA command: the header, @np payload words, the reply in r[2]. 0 or
 * -errno of the connection. */
static int srv(scif_epd_t ep, uint32_t op, uint32_t arg, uint64_t n,
	       const uint64_t *pl, int np, uint64_t r[2])
{
	unsigned char b[HDR + 24], rep[16];
	int e;

	put32(b, op);
	put32(b + 4, arg);
	put64(b + 8, n);
	for (int i = 0; i < np; i++)
		put64(b + HDR + 8 * i, pl[i]);
	e = send_all(ep, b, HDR + 8 * (size_t)np, NULL);
	if (e == 0)
		e = recv_reply(ep, rep);
	if (e < 0)
		return e;
	r[0] = get64(rep);
	r[1] = get64(rep + 8);
	return 0;
}

/* A window of @n bytes of pattern(@seed) at the server, at @at (0:
 * anywhere): its offset in *off. */
static int srv_win(scif_epd_t ep, int prot, uint64_t n, uint64_t seed,
		   uint64_t at, off_t *off)
{
	uint64_t pl[2] = { seed, at }, r[2];

	TRYR(srv(ep, OP_WIN, (uint32_t)prot, n, pl, 2, r), "OP_WIN");
	TRY(r[0] != UINT64_MAX, "the server's scif_register of %" PRIu64
	    " bytes (prot %d, at %#" PRIx64 "): %s", n, prot, at,
	    ename((int)r[1]));
	TRY(!at || r[0] == at, "the server's window is at %#" PRIx64 ", not "
	    "%#" PRIx64, r[0], at);
	*off = (off_t)r[0];
	return 0;
}

/* One of OP_UNREG, OP_FILL, OP_SUM on [off, off + n): the reply's second
 * word in *out (the checksum of OP_SUM). */
static int srv_range(scif_epd_t ep, uint32_t op, uint32_t arg, off_t off,
		     uint64_t n, uint64_t *out)
{
	static const char *const name[] = {
		[OP_UNREG] = "OP_UNREG", [OP_FILL] = "OP_FILL",
		[OP_SUM] = "OP_SUM",
	};
	uint64_t pl[1] = { (uint64_t)off }, r[2];

	TRYR(srv(ep, op, arg, n, pl, 1, r), name[op]);
	TRY(r[0] != UINT64_MAX, "%s of [%#llx, +%" PRIu64 ") at the server: "
	    "%s", name[op], (long long)off, n, ename((int)r[1]));
	if (out)
		*out = r[1];
	return 0;
}

/* The server's checksum of [off, off + n) is that of @b. */
static int srv_has(scif_epd_t ep, off_t off, const unsigned char *b,
		   uint64_t n, const char *what)
{
	uint64_t sum = 0; /* gcc cannot tell srv_range sets it on success */

	if (srv_range(ep, OP_SUM, 0, off, n, &sum) < 0)
		return -1;
	TRY(sum == fnv(FNV0, b, (size_t)n), "%s: the server's %" PRIu64
	    " bytes at %#llx differ from those written", what, n,
	    (long long)off);
	return 0;
}

/* A local window of @n bytes (read-write), its memory in *mem. */
static int lwin(scif_epd_t ep, size_t n, unsigned char **mem, off_t *off)
{
	*mem = pbuf(n);
	memset(*mem, 0, n);
	*off = scif_register(ep, *mem, n, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			     0);
	TRY(*off != SCIF_REGISTER_FAILED, "scif_register of %zu bytes: %s", n,
	    ename(errno));
	return 0;
}

/* Wait for the RMAs started on @ep (a fence of its own). */
static int fence_self(scif_epd_t ep)
{
	int mark;

	TRY(scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark) == 0,
	    "scif_fence_mark(INIT_SELF): %s", ename(errno));
	TRY(scif_fence_wait(ep, mark) == 0, "scif_fence_wait(%d): %s", mark,
	    ename(errno));
	return 0;
}

static const struct rflag {
	const char *name;
	int flags;
} rflags[] = {
	{ "SYNC", SCIF_RMA_SYNC },
	{ "SYNC|USECPU", SCIF_RMA_SYNC | SCIF_RMA_USECPU },
	{ "SYNC|ORDERED", SCIF_RMA_SYNC | SCIF_RMA_ORDERED },
	{ "0+fence", 0 },
	{ "USECPU+fence", SCIF_RMA_USECPU },
	{ "ORDERED+fence", SCIF_RMA_ORDERED },
};
#define NRFLAGS (int)(sizeof(rflags) / sizeof(rflags[0]))

/* Four bytes around a range that an RMA must leave alone. */
#define GUARD 0xa5

static int guards_ok(const unsigned char *b, size_t n, const char *what)
{
	TRY(b[-1] == GUARD && b[n] == GUARD, "%s: a byte beside the %zu "
	    "read was written (0x%02x before, 0x%02x after)", what, n, b[-1],
	    b[n]);
	return 0;
}

static int c_rma(void)
{
	static const size_t sizes[] = { 1, 4096, MiB, 16 * MiB };
	const size_t slack = 2 * page_size(), W = 16 * MiB + slack;
	unsigned char *lm, *vb = xmalloc(16 * MiB + 16);
	off_t roff, loff, span;
	scif_epd_t ep = -1;
	int64_t t16[4] = { 0, 0, 0, 0 };
	int r = -1;

	step("connect, windows");
	if (xconnect(g_node, g_port, &ep) < 0) {
		bad("scif_connect: %s", ename(errno));
		goto out;
	}
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, W, 21, 0, &roff) < 0 ||
	    lwin(ep, W, &lm, &loff) < 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		size_t n = sizes[i];
		/* unaligned, each size at its own offsets */
		size_t ld = 1 + 3 * (size_t)i, rd = 5 + 7 * (size_t)i;
		unsigned char *vp = vb + 1 + i; /* malloc'd, unaligned */

		for (int k = 0; k < NRFLAGS; k++) {
			const struct rflag *f = &rflags[k];
			int fl = f->flags, vfl = fl | (k & 1 ? SCIF_RMA_USECACHE : 0);
			uint64_t seed = 100 + 16 * (uint64_t)i + (uint64_t)k;
			long long at;
			int64_t t0;

			step("scif_writeto %zu bytes, %s", n, f->name);
			fill(lm + ld, n, seed, 0);
			t0 = h_now_ns();
			if (scif_writeto(ep, loff + (off_t)ld, n, roff + (off_t)rd,
					 fl) < 0) {
				bad("scif_writeto of %zu bytes (%s): %s", n,
				    f->name, ename(errno));
				goto out;
			}
			if (!(fl & SCIF_RMA_SYNC) && fence_self(ep) < 0)
				goto out;
			t16[0] += n == 16 * MiB ? h_now_ns() - t0 : 0;
			if (srv_has(ep, roff + (off_t)rd, lm + ld, n, g_step) < 0)
				goto out;

			step("scif_vwriteto %zu bytes, %s%s", n, f->name,
			     vfl & SCIF_RMA_USECACHE ? "|USECACHE" : "");
			fill(vp, n, seed + 50, 0);
			t0 = h_now_ns();
			if (scif_vwriteto(ep, vp, n, roff + (off_t)rd, vfl) < 0) {
				bad("%s: %s", g_step, ename(errno));
				goto out;
			}
			if (!(fl & SCIF_RMA_SYNC) && fence_self(ep) < 0)
				goto out;
			t16[1] += n == 16 * MiB ? h_now_ns() - t0 : 0;
			if (srv_has(ep, roff + (off_t)rd, vp, n, g_step) < 0)
				goto out;

			step("scif_readfrom %zu bytes, %s", n, f->name);
			if (srv_range(ep, OP_FILL, (uint32_t)seed + 60,
				      roff + (off_t)rd, n, NULL) < 0)
				goto out;
			memset(lm + ld - 1, GUARD, n + 2);
			t0 = h_now_ns();
			if (scif_readfrom(ep, loff + (off_t)ld, n, roff + (off_t)rd,
					  fl) < 0) {
				bad("%s: %s", g_step, ename(errno));
				goto out;
			}
			if (!(fl & SCIF_RMA_SYNC) && fence_self(ep) < 0)
				goto out;
			t16[2] += n == 16 * MiB ? h_now_ns() - t0 : 0;
			if ((at = mismatch(lm + ld, n, seed + 60, 0)) >= 0) {
				bad("%s: byte %lld differs", g_step, at);
				goto out;
			}
			if (guards_ok(lm + ld, n, g_step) < 0)
				goto out;

			step("scif_vreadfrom %zu bytes, %s%s", n, f->name,
			     vfl & SCIF_RMA_USECACHE ? "|USECACHE" : "");
			if (srv_range(ep, OP_FILL, (uint32_t)seed + 70,
				      roff + (off_t)rd, n, NULL) < 0)
				goto out;
			memset(vp - 1, GUARD, n + 2);
			t0 = h_now_ns();
			if (scif_vreadfrom(ep, vp, n, roff + (off_t)rd, vfl) < 0) {
				bad("%s: %s", g_step, ename(errno));
				goto out;
			}
			if (!(fl & SCIF_RMA_SYNC) && fence_self(ep) < 0)
				goto out;
			t16[3] += n == 16 * MiB ? h_now_ns() - t0 : 0;
			if ((at = mismatch(vp, n, seed + 70, 0)) >= 0) {
				bad("%s: byte %lld differs", g_step, at);
				goto out;
			}
			if (guards_ok(vp, n, g_step) < 0)
				goto out;
		}
	}
	/* a range across two windows contiguous in the registered space */
	step("across two windows of the server");
	{
		const size_t pg = page_size();
		off_t second;

		if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, 4 * pg, 31,
			    0x40000000, &span) < 0 ||
		    srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, 4 * pg, 32,
			    0x40000000 + 4 * pg, &second) < 0)
			goto out;
		fill(lm, 2 * pg, 33, 0);
		if (scif_writeto(ep, loff, 2 * pg, span + 3 * (off_t)pg + 7,
				 SCIF_RMA_SYNC) < 0) {
			bad("scif_writeto across two windows: %s", ename(errno));
			goto out;
		}
		if (srv_has(ep, span + 3 * (off_t)pg + 7, lm, 2 * pg,
			    "scif_writeto across two windows") < 0)
			goto out;
		if (srv_range(ep, OP_FILL, 34, span + 100, 6 * pg, NULL) < 0)
			goto out;
		if (scif_vreadfrom(ep, vb, 6 * pg, span + 100, SCIF_RMA_SYNC) < 0) {
			bad("scif_vreadfrom across two windows: %s", ename(errno));
			goto out;
		}
		if (mismatch(vb, 6 * pg, 34, 0) >= 0) {
			bad("scif_vreadfrom across two windows: byte %lld "
			    "differs", mismatch(vb, 6 * pg, 34, 0));
			goto out;
		}
	}
	/* and of ours: the local range in two pieces too, each direction
	 * (each piece a registration of its own in our daemon) */
	step("across two windows of the client and of the server");
	{
		const size_t pg = page_size();
		unsigned char *m1 = pbuf(4 * pg), *m2 = pbuf(4 * pg);
		const off_t l1 = 0x50000000, l2 = l1 + 4 * (off_t)pg;
		long long at;

		if (scif_register(ep, m1, 4 * pg, l1,
				  SCIF_PROT_READ | SCIF_PROT_WRITE,
				  SCIF_MAP_FIXED) != l1 ||
		    scif_register(ep, m2, 4 * pg, l2,
				  SCIF_PROT_READ | SCIF_PROT_WRITE,
				  SCIF_MAP_FIXED) != l2) {
			bad("scif_register of two adjacent windows: %s",
			    ename(errno));
			goto out;
		}
		fill(m1, 4 * pg, 35, 0);
		fill(m2, 4 * pg, 36, 0);
		/* 2 pages from the end of the first through 1 of the second */
		if (scif_writeto(ep, l1 + 2 * (off_t)pg + 9, 3 * pg - 20,
				 span + 3 * (off_t)pg + 11, SCIF_RMA_SYNC) < 0) {
			bad("scif_writeto from two windows: %s", ename(errno));
			goto out;
		}
		memcpy(vb, m1 + 2 * pg + 9, 2 * pg - 9);
		memcpy(vb + 2 * pg - 9, m2, pg - 11);
		if (srv_has(ep, span + 3 * (off_t)pg + 11, vb, 3 * pg - 20,
			    "scif_writeto from two windows") < 0)
			goto out;
		if (srv_range(ep, OP_FILL, 37, span + 200, 3 * pg - 20, NULL) < 0)
			goto out;
		memset(m1, GUARD, 4 * pg);
		memset(m2, GUARD, 4 * pg);
		if (scif_readfrom(ep, l1 + 2 * (off_t)pg + 9, 3 * pg - 20,
				  span + 200, SCIF_RMA_SYNC) < 0) {
			bad("scif_readfrom into two windows: %s", ename(errno));
			goto out;
		}
		memcpy(vb, m1 + 2 * pg + 9, 2 * pg - 9);
		memcpy(vb + 2 * pg - 9, m2, pg - 11);
		if ((at = mismatch(vb, 3 * pg - 20, 37, 0)) >= 0) {
			bad("scif_readfrom into two windows: byte %lld differs",
			    at);
			goto out;
		}
		if (m1[2 * pg + 8] != GUARD || m2[pg - 11] != GUARD) {
			bad("scif_readfrom into two windows: wrote past the range");
			goto out;
		}
	}
	note("scif_writeto, scif_vwriteto, scif_readfrom, scif_vreadfrom of "
	     "1 B, 4 KiB, 1 MiB, 16 MiB at unaligned offsets, flags");
	for (int k = 0; k < NRFLAGS; k++)
		note(" %s", rflags[k].name);
	note(" (USECACHE on v* every other), checked at both ends; across "
	     "two windows of either; 16 MiB mean:");
	{
		static const char *const op[] = { "writeto", "vwriteto",
						   "readfrom", "vreadfrom" };

		for (int i = 0; i < 4; i++)
			note(" %s %.0f MB/s", op[i], 16.0 * MiB * NRFLAGS /
			     ((double)t16[i] / 1e9) / 1e6);
	}
	r = 0;
out:
	free(vb);
	return r;
}

/* rmaerr goes on past a call that gives another result, so that one run
 * shows every difference: the calls made, those that differed, the first
 * few of them. */
static int g_calls, g_miss;
static char g_misses[900];

static void miss(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void miss(const char *fmt, ...)
{
	size_t l = strlen(g_misses);
	va_list ap;

	if (g_miss++ >= 8 || l + 3 >= sizeof(g_misses))
		return;
	if (l)
		l += (size_t)snprintf(g_misses + l, sizeof(g_misses) - l, "; ");
	va_start(ap, fmt);
	vsnprintf(g_misses + l, sizeof(g_misses) - l, fmt, ap);
	va_end(ap);
}

/* @call (returning 0, or -1 with errno) gives errno @want (0: success). */
#define ERRNO_IS(want, call, ...)                                              \
	do {                                                                   \
		int rc_ = (call), e_ = rc_ < 0 ? errno : 0;                    \
		g_calls++;                                                     \
		if ((rc_ < 0 ? e_ : 0) != (want)) {                            \
			char w_[160];                                          \
			snprintf(w_, sizeof(w_), __VA_ARGS__);                 \
			miss("%s: %s, want %s", w_,                            \
			     rc_ >= 0 ? "success" : ename(e_),                 \
			     (want) ? ename(want) : "success");                \
		}                                                              \
	} while (0)

/* Every RMA call on [roff, roff + n) gives @want (@what: where). */
static void all4(scif_epd_t ep, off_t loff, unsigned char *vb, off_t roff,
		 size_t n, int flags, int want, const char *what)
{
	ERRNO_IS(want, scif_writeto(ep, loff, n, roff, flags),
		 "scif_writeto %s", what);
	ERRNO_IS(want, scif_readfrom(ep, loff, n, roff, flags),
		 "scif_readfrom %s", what);
	ERRNO_IS(want, scif_vwriteto(ep, vb, n, roff, flags),
		 "scif_vwriteto %s", what);
	ERRNO_IS(want, scif_vreadfrom(ep, vb, n, roff, flags),
		 "scif_vreadfrom %s", what);
}

/* The server's windows, chosen: what lies around them is no window. */
#define RW_AT 0x100000
#define RO_AT 0x200000

static int c_rmaerr(void)
{
	const size_t pg = page_size();
	unsigned char *lm, vb[64], rb[64];
	off_t rw, ro, loff;
	scif_epd_t ep = -1;
	int mark;

	g_calls = g_miss = 0;
	g_misses[0] = 0;
	step("connect, windows");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, 2 * pg, 41, RW_AT,
		    &rw) < 0 ||
	    srv_win(ep, SCIF_PROT_READ, pg, 42, RO_AT, &ro) < 0 ||
	    lwin(ep, 2 * pg, &lm, &loff) < 0)
		return -1;
	/* first, that the same calls succeed where they may */
	step("calls that succeed");
	ERRNO_IS(0, scif_writeto(ep, loff, 64, rw + 2 * (off_t)pg - 64,
				 SCIF_RMA_SYNC),
		 "scif_writeto to the last 64 bytes of a window");
	memset(rb, 0, sizeof(rb));
	ERRNO_IS(0, scif_vreadfrom(ep, rb, 64, ro + (off_t)pg - 64,
				   SCIF_RMA_SYNC),
		 "scif_vreadfrom of a read-only window");
	if (mismatch(rb, 64, 42, pg - 64) >= 0)
		miss("scif_vreadfrom of a read-only window: the bytes differ");
	ERRNO_IS(0, scif_readfrom(ep, loff, 64, ro, SCIF_RMA_SYNC),
		 "scif_readfrom of a read-only window");
	if (mismatch(lm, 64, 42, 0) >= 0)
		miss("scif_readfrom of a read-only window: the bytes differ");
	fill(vb, sizeof(vb), 43, 0);

	step("outside the server's windows");
	all4(ep, loff, vb, rw + 2 * (off_t)pg, 1, SCIF_RMA_SYNC, ENXIO,
	     "just past a window");
	all4(ep, loff, vb, rw + 2 * (off_t)pg - 10, 20, SCIF_RMA_SYNC,
	     ENXIO, "across a window's end");
	all4(ep, loff, vb, rw - 1, 2, SCIF_RMA_SYNC, ENXIO,
	     "across a window's start");
	all4(ep, loff, vb, 0x7000000, 8, 0, ENXIO, "in no window");
	all4(ep, loff, vb, -4096, 8, SCIF_RMA_SYNC, ENXIO,
	     "at a negative offset");
	step("outside the local windows");
	ERRNO_IS(ENXIO, scif_writeto(ep, loff + 2 * (off_t)pg, 8, rw,
				     SCIF_RMA_SYNC),
		 "scif_writeto from no local window");
	ERRNO_IS(ENXIO, scif_readfrom(ep, loff + 2 * (off_t)pg - 4, 8, rw,
				      SCIF_RMA_SYNC),
		 "scif_readfrom across the local window's end");
	step("a read-only window");
	ERRNO_IS(EACCES, scif_writeto(ep, loff, 8, ro, SCIF_RMA_SYNC),
		 "scif_writeto to a read-only window");
	/* a page from the local window's memory (vb is 64 bytes: a page
	 * from it read past its end, which one host never touched since
	 * EACCES came first, and a daemon copying it first faulted on) */
	ERRNO_IS(EACCES, scif_vwriteto(ep, lm, pg, ro, 0),
		 "scif_vwriteto (async) to a read-only window");
	step("len 0, bad flags");
	all4(ep, loff, vb, rw, 0, SCIF_RMA_SYNC, EINVAL, "of 0 bytes");
	all4(ep, loff, vb, rw, 8, 1 << 4, EINVAL, "with flags 1<<4");
	all4(ep, loff, vb, rw, 8, SCIF_RMA_SYNC | 0x100, EINVAL,
	     "with flags SYNC|0x100");
	ERRNO_IS(EFAULT, scif_vwriteto(ep, NULL, 8, rw, SCIF_RMA_SYNC),
		 "scif_vwriteto from NULL");
	ERRNO_IS(EFAULT, scif_vreadfrom(ep, NULL, 8, rw, SCIF_RMA_SYNC),
		 "scif_vreadfrom into NULL");
	step("fences");
	ERRNO_IS(EINVAL, scif_fence_mark(ep, 0, &mark), "scif_fence_mark(0)");
	ERRNO_IS(EINVAL, scif_fence_mark(ep, SCIF_FENCE_INIT_SELF |
					 SCIF_FENCE_INIT_PEER, &mark),
		 "scif_fence_mark(INIT_SELF|INIT_PEER)");
	ERRNO_IS(EINVAL, scif_fence_mark(ep, SCIF_FENCE_RAS_SELF, &mark),
		 "scif_fence_mark(RAS_SELF)");
	ERRNO_IS(EINVAL, scif_fence_signal(ep, loff, 1, rw, 1,
					   SCIF_FENCE_INIT_SELF),
		 "scif_fence_signal without SIGNAL_LOCAL or SIGNAL_REMOTE");
	ERRNO_IS(EINVAL, scif_fence_signal(ep, loff, 1, rw + 2, 1,
					   SCIF_FENCE_INIT_SELF |
					   SCIF_SIGNAL_REMOTE),
		 "scif_fence_signal(REMOTE) at an offset not a multiple of 4");
	ERRNO_IS(ENXIO, scif_fence_signal(ep, loff, 1, rw + 2 * (off_t)pg, 1,
					  SCIF_FENCE_INIT_SELF |
					  SCIF_SIGNAL_REMOTE),
		 "scif_fence_signal(REMOTE) past a window");
	ERRNO_IS(ENXIO, scif_fence_signal(ep, loff, 1, ro, 1,
					  SCIF_FENCE_INIT_SELF |
					  SCIF_SIGNAL_REMOTE),
		 "scif_fence_signal(REMOTE) to a read-only window");
	ERRNO_IS(ENXIO, scif_fence_signal(ep, loff, 1, ro, 1,
					  SCIF_FENCE_INIT_PEER |
					  SCIF_SIGNAL_REMOTE),
		 "scif_fence_signal(INIT_PEER|REMOTE) to a read-only window");
	ERRNO_IS(ENXIO, scif_fence_signal(ep, loff + 2 * (off_t)pg, 1, rw, 1,
					  SCIF_FENCE_INIT_SELF |
					  SCIF_SIGNAL_LOCAL),
		 "scif_fence_signal(LOCAL) past the local window");

	step("the server unregisters a window");
	if (srv_range(ep, OP_UNREG, 0, rw, 2 * pg, NULL) < 0)
		return -1;
	all4(ep, loff, vb, rw, 8, SCIF_RMA_SYNC, ENXIO,
	     "to a window the peer unregistered");
	ERRNO_IS(ENXIO, scif_fence_signal(ep, loff, 1, rw, 1,
					  SCIF_FENCE_INIT_SELF |
					  SCIF_SIGNAL_REMOTE),
		 "scif_fence_signal(REMOTE) to a window the peer unregistered");
	ERRNO_IS(0, scif_readfrom(ep, loff, 8, ro, SCIF_RMA_SYNC),
		 "scif_readfrom of the other window, still registered");

	step("this side unregisters its window");
	ERRNO_IS(0, scif_unregister(ep, loff, 2 * pg), "scif_unregister");
	ERRNO_IS(ENXIO, scif_readfrom(ep, loff, 8, ro, SCIF_RMA_SYNC),
		 "scif_readfrom into a local window unregistered");
	ERRNO_IS(ENXIO, scif_unregister(ep, loff, 2 * pg),
		 "scif_unregister again");

	step("the server closes the connection");
	if (lwin(ep, pg, &lm, &loff) < 0)
		return -1;
	TRYR(send_hdr(ep, OP_CLOSE, 0, 0), "send the command");
	TRY(wait_bit(A_SCIF, ep, POLLIN, POLLHUP, 10000) > 0,
	    "no POLLHUP in 10 s after the server closed");
	all4(ep, loff, vb, ro, 8, SCIF_RMA_SYNC, ECONNRESET,
	     "after the peer closed");
	all4(ep, loff, vb, ro, 8, 0, ECONNRESET,
	     "(async) after the peer closed");
	ERRNO_IS(ECONNRESET, scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark),
		 "scif_fence_mark(INIT_SELF) after the peer closed");
	ERRNO_IS(ECONNRESET, scif_fence_mark(ep, SCIF_FENCE_INIT_PEER, &mark),
		 "scif_fence_mark(INIT_PEER) after the peer closed");
	ERRNO_IS(ECONNRESET, scif_fence_signal(ep, loff, 1, ro, 1,
					       SCIF_FENCE_INIT_SELF |
					       SCIF_SIGNAL_LOCAL),
		 "scif_fence_signal(LOCAL) after the peer closed");
	ERRNO_IS(ECONNRESET, scif_register(ep, pbuf(pg), pg, 0,
					   SCIF_PROT_READ, 0) ==
		 SCIF_REGISTER_FAILED ? -1 : 0,
		 "scif_register after the peer closed");
	ERRNO_IS(ECONNRESET, scif_unregister(ep, loff, pg),
		 "scif_unregister after the peer closed");
	TRY(g_miss == 0, "%d of %d calls gave another result%s: %s", g_miss,
	    g_calls, g_miss > 8 ? " (the first 8)" : "", g_misses);
	note("%d calls gave what they should: ENXIO outside the windows (and "
	     "once unregistered), EACCES to a read-only window, EINVAL for len "
	     "0, bad flags, fence flags and offsets, EFAULT for NULL, "
	     "ECONNRESET once the peer closed", g_calls);
	return 0;
}

/* Wait (up to @ms) until the word at @w is @v: 1 if it came. */
static int word_is(const unsigned char *w, uint64_t v, int ms)
{
	int64_t end = now_ms() + ms;

	while (__atomic_load_n((const uint64_t *)(const void *)w,
			       __ATOMIC_ACQUIRE) != v)
		if (now_ms() > end)
			return 0;
		else
			sched_yield();
	return 1;
}

static uint64_t word(const unsigned char *w)
{
	return __atomic_load_n((const uint64_t *)(const void *)w,
			       __ATOMIC_ACQUIRE);
}

/*
 * rmadel: RMAs in flight on a connection (two threads writing) while the
 * server registers and unregisters another window again and again. A
 * daemon carrying the RMAs answers those unregisters once its RMAs on the
 * connection are done; it once waited for them holding the endpoint's
 * lock, which its loop needed to take the next RMA: stalled until a
 * timeout, or for good.
 */
struct rmadel {
	scif_epd_t ep;
	off_t loff, roff;
	size_t n;
	atomic_int stop;
	int err;
	uint64_t count;
};

static void *rmadel_writer(void *p)
{
	struct rmadel *a = p;

	while (!atomic_load(&a->stop)) {
		if (scif_writeto(a->ep, a->loff, a->n, a->roff, SCIF_RMA_SYNC) < 0) {
			a->err = errno;
			break;
		}
		a->count++;
	}
	return NULL;
}

static int c_rmadel(void)
{
	enum { ROUNDS = 150, SLOW_MS = 1000 };
	struct rmadel a[2];
	pthread_t th[2];
	int started = 0, slowest = 0, r = -1;
	unsigned char *lm;
	off_t roff, loff;
	scif_epd_t ep = -1;

	step("connect, windows");
	if (xconnect(g_node, g_port, &ep) < 0) {
		bad("scif_connect: %s", ename(errno));
		goto out;
	}
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, 2 * MiB, 41, 0, &roff) < 0 ||
	    lwin(ep, 2 * MiB, &lm, &loff) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		a[i] = (struct rmadel){ .ep = ep, .loff = loff + i * (off_t)MiB,
					.roff = roff + i * (off_t)MiB, .n = MiB };
		if (pthread_create(&th[i], NULL, rmadel_writer, &a[i]) != 0) {
			bad("pthread_create");
			goto stop;
		}
		started++;
	}
	step("register and unregister under RMAs");
	for (int i = 0; i < ROUNDS; i++) {
		int64_t t0 = now_ms();
		off_t w;
		int dt;

		if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, 64 * 1024,
			    42 + (uint64_t)i, 0, &w) < 0 ||
		    srv_range(ep, OP_UNREG, 0, w, 64 * 1024, NULL) < 0)
			goto stop;
		dt = (int)(now_ms() - t0);
		if (dt > slowest)
			slowest = dt;
		if (dt >= SLOW_MS) {
			bad("round %d: the server's register and unregister "
			    "took %d ms with RMAs in flight", i, dt);
			goto stop;
		}
	}
	r = 0;
stop:
	for (int i = 0; i < 2; i++)
		atomic_store(&a[i].stop, 1);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		if (r == 0 && (a[i].err || !a[i].count)) {
			bad("writer %d: %s after %" PRIu64 " RMAs", i,
			    a[i].err ? ename(a[i].err) : "none done", a[i].count);
			r = -1;
		}
	}
	if (r == 0)
		note("%d register/unregister rounds of the server under %" PRIu64
		     " RMAs of 1 MiB from two threads; slowest round %d ms",
		     ROUNDS, a[0].count + a[1].count, slowest);
out:
	if (ep >= 0)
		scif_close(ep);
	return r;
}

static int c_fence(void)
{
	static const struct {
		const char *name;
		int flags;
	} rounds[] = {
		{ "LOCAL|REMOTE", SCIF_SIGNAL_LOCAL | SCIF_SIGNAL_REMOTE },
		{ "REMOTE", SCIF_SIGNAL_REMOTE },
		{ "LOCAL", SCIF_SIGNAL_LOCAL },
	};
	enum { PIECES = 4 };
	const size_t pg = page_size(), D = 16 * MiB, W = D + pg;
	unsigned char *lm, zero[8] = { 0 };
	off_t roff, loff, rsrc;
	scif_epd_t ep = -1;
	uint64_t r[2];
	int mark, early = 0;
	int64_t t0;

	step("connect, windows");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	/* data in [0, D), the signal word on a page of its own after it */
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, W, 51, 0, &roff) < 0 ||
	    lwin(ep, W, &lm, &loff) < 0)
		return -1;
	for (int j = 0; j < 3; j++) {
		const int fl = rounds[j].flags;
		const uint64_t lval = 0x4c4f43414c000000ull + (uint64_t)j + 1,
			       rval = 0x52454d4f54450000ull + (uint64_t)j + 1;
		int64_t sig_us;
		uint64_t waited = 0;

		step("INIT_SELF, SIGNAL_%s: %d async writes", rounds[j].name,
		     PIECES);
		if (srv_range(ep, OP_FILL, 0, roff + (off_t)D, 8, NULL) < 0)
			return -1;
		__atomic_store_n((uint64_t *)(void *)(lm + D), 0,
				 __ATOMIC_RELEASE);
		fill(lm, D, 60 + (uint64_t)j, 0);
		for (int k = 0; k < PIECES; k++) {
			size_t o = D / PIECES * (size_t)k;

			TRY(scif_writeto(ep, loff + (off_t)o, D / PIECES,
					 roff + (off_t)o, k == 1 ?
					 SCIF_RMA_ORDERED : 0) == 0,
			    "scif_writeto (async) %d: %s", k, ename(errno));
		}
		t0 = h_now_ns();
		TRY(scif_fence_signal(ep, loff + (off_t)D, lval,
				      roff + (off_t)D, rval,
				      SCIF_FENCE_INIT_SELF | fl) == 0,
		    "scif_fence_signal(INIT_SELF|SIGNAL_%s): %s",
		    rounds[j].name, ename(errno));
		sig_us = (h_now_ns() - t0) / 1000;
		if (fl & SCIF_SIGNAL_REMOTE) {
			uint64_t pl[3] = { (uint64_t)roff + D, rval,
					   (uint64_t)roff };

			step("SIGNAL_%s: the server waits for the value",
			     rounds[j].name);
			TRYR(srv(ep, OP_WAITVAL, 10000, D, pl, 3, r),
			     "OP_WAITVAL");
			TRY(r[0] != UINT64_MAX, "SIGNAL_%s: the remote value "
			    "did not come within 10 s (the word is %#" PRIx64
			    ")", rounds[j].name, r[1]);
			TRY(r[1] == fnv(FNV0, lm, D), "SIGNAL_%s: the remote "
			    "value came before the data (the server's "
			    "checksum differs the moment it saw it)",
			    rounds[j].name);
			waited = r[0];
		} else {
			if (srv_has(ep, roff + (off_t)D, zero, 8, "SIGNAL_LOCAL "
				    "only: the server's word was written") < 0)
				return -1;
		}
		if (fl & SCIF_SIGNAL_LOCAL) {
			step("SIGNAL_%s: the local value", rounds[j].name);
			TRY(word_is(lm + D, lval, 10000), "SIGNAL_%s: the "
			    "local value did not come within 10 s (%#" PRIx64
			    ")", rounds[j].name, word(lm + D));
			/* every write was complete when it was written */
			if (srv_has(ep, roff, lm, D, g_step) < 0)
				return -1;
		} else {
			TRY(word(lm + D) == 0, "SIGNAL_REMOTE only: the local "
			    "word was written (%#" PRIx64 ")", word(lm + D));
		}
		if (j == 0)
			note("INIT_SELF after %d async writes of %zu MiB: ",
			     PIECES, D / PIECES / MiB);
		note("%sSIGNAL_%s (returned in %lld us", j ? ", " : "",
		     rounds[j].name, (long long)sig_us);
		if (fl & SCIF_SIGNAL_REMOTE)
			note(", the server saw the value %" PRIu64 " ms later",
			     waited);
		note(")");
	}

	/* the server writes into this side's window, without SCIF_RMA_SYNC */
	step("INIT_PEER: the server's window");
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, D, 81, 0, &rsrc) < 0)
		return -1;
	for (int j = 0; j < 3; j++) {
		const uint64_t lval = 0x50454552000000ull + (uint64_t)j + 1,
			       rval = 0x50524d54000000ull + (uint64_t)j + 1;
		uint64_t pl[2] = { (uint64_t)rsrc, (uint64_t)loff };
		long long bad_at;
		int64_t us;

		step("INIT_PEER round %d: the server's writes", j);
		if (j && srv_range(ep, OP_FILL, 81 + (uint32_t)j, rsrc, D,
				   NULL) < 0)
			return -1;
		if (srv_range(ep, OP_FILL, 0, roff + (off_t)D, 8, NULL) < 0)
			return -1;
		memset(lm, 0, W);
		TRYR(srv(ep, OP_RWRITE, PIECES, D, pl, 2, r), "OP_RWRITE");
		TRY(r[0] != UINT64_MAX, "the server's scif_writeto: %s",
		    ename((int)r[1]));
		t0 = h_now_ns();
		/* how many pieces already ended as the reply came (their last
		 * 8 bytes; a piece may land in any order): for the note */
		for (int k = 0; k < PIECES; k++)
			early += mismatch(lm + D / PIECES * (size_t)(k + 1) - 8,
					  8, 81 + (uint64_t)j,
					  D / PIECES * (uint64_t)(k + 1) - 8) < 0;
		if (j == 0) {
			step("INIT_PEER: scif_fence_mark, scif_fence_wait");
			TRY(scif_fence_mark(ep, SCIF_FENCE_INIT_PEER, &mark) == 0,
			    "scif_fence_mark(INIT_PEER): %s", ename(errno));
			TRY(scif_fence_wait(ep, mark) == 0,
			    "scif_fence_wait(%#x): %s", (unsigned)mark,
			    ename(errno));
		} else {
			int fl = SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_LOCAL |
				 (j == 2 ? SCIF_SIGNAL_REMOTE : 0);

			step("INIT_PEER: scif_fence_signal(%s)", j == 2 ?
			     "LOCAL|REMOTE" : "LOCAL");
			TRY(scif_fence_signal(ep, loff + (off_t)D, lval,
					      roff + (off_t)D, rval, fl) == 0,
			    "%s: %s", g_step, ename(errno));
			TRY(word_is(lm + D, lval, 10000), "%s: the local "
			    "value did not come within 10 s", g_step);
		}
		us = (h_now_ns() - t0) / 1000;
		bad_at = mismatch(lm, D, 81 + (uint64_t)j, 0);
		TRY(bad_at < 0, "%s returned (%lld us) before the server's "
		    "writes were visible: byte %lld differs", g_step,
		    (long long)us, bad_at);
		if (j == 2) {
			uint64_t pw[3] = { (uint64_t)roff + D, rval, 0 };

			TRYR(srv(ep, OP_WAITVAL, 10000, 0, pw, 3, r),
			     "OP_WAITVAL");
			TRY(r[0] != UINT64_MAX, "%s: the remote value did not "
			    "come within 10 s (%#" PRIx64 ")", g_step, r[1]);
		}
		if (j == 0)
			note("; INIT_PEER after the server's %d async writes: ",
			     PIECES);
		note("%s %lld us", j == 0 ? "mark+wait" : j == 1 ?
		     ", signal(LOCAL)" : ", signal(LOCAL|REMOTE)",
		     (long long)us);
		if (j == 2)
			note(" (%d of their %d pieces had ended when the "
			     "server's reply came)", early, 3 * PIECES);
	}
	return 0;
}

/* scif_mmap gives @want (0: a mapping, checked against pattern @seed
 * from @pos and unmapped). */
static int mmap_is(scif_epd_t ep, size_t len, int prot, off_t off, int want,
		   uint64_t seed, uint64_t pos, const char *what)
{
	void *m = scif_mmap(NULL, len, prot, 0, ep, off);
	int e = m == SCIF_MMAP_FAILED ? errno : 0;

	if (m != SCIF_MMAP_FAILED && want == 0) {
		long long at = mismatch(m, len, seed, pos);

		TRY(scif_munmap(m, len) == 0, "scif_munmap: %s", ename(errno));
		TRY(at < 0, "scif_mmap %s: byte %lld differs", what, at);
		return 0;
	}
	if (m != SCIF_MMAP_FAILED)
		scif_munmap(m, len);
	TRY(e == want, "scif_mmap %s: %s, want %s", what,
	    e ? ename(e) : "a mapping", want ? ename(want) : "a mapping");
	return 0;
}

static int c_mmap(void)
{
	const size_t pg = page_size();
	const int rw_ = SCIF_PROT_READ | SCIF_PROT_WRITE;
	/* across hosts nothing of the peer can be mapped (scif_mmap(3)) */
	const int map_ok = g_remote ? ENXIO : 0;
	off_t rw, ro;
	scif_epd_t ep = -1;
	unsigned char *m;

	step("connect, windows");
	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	if (srv_win(ep, rw_, 2 * pg, 71, RW_AT, &rw) < 0 ||
	    srv_win(ep, SCIF_PROT_READ, pg, 72, RO_AT, &ro) < 0)
		return -1;
	step("arguments");
	if (mmap_is(ep, pg, SCIF_PROT_READ, rw + 1, EINVAL, 0, 0,
		    "at an offset not page-aligned") < 0 ||
	    mmap_is(ep, 0, SCIF_PROT_READ, rw, EINVAL, 0, 0, "of 0 bytes") < 0 ||
	    mmap_is(ep, pg, SCIF_PROT_READ, rw + 2 * (off_t)pg, ENXIO, 0, 0,
		    "past the window") < 0 ||
	    mmap_is(ep, 2 * pg, SCIF_PROT_READ, rw + (off_t)pg, ENXIO, 0, 0,
		    "across the window's end") < 0)
		return -1;
	step("the windows");
	if (mmap_is(ep, pg, SCIF_PROT_READ, ro, map_ok, 72, 0,
		    "of a read-only window, PROT_READ") < 0 ||
	    mmap_is(ep, pg, rw_, ro, g_remote ? ENXIO : EACCES, 0, 0,
		    "of a read-only window, PROT_READ|PROT_WRITE") < 0 ||
	    mmap_is(ep, pg, SCIF_PROT_READ, rw + (off_t)pg, map_ok, 71, pg,
		    "of a window's second page, PROT_READ") < 0)
		return -1;
	if (g_remote) {
		if (mmap_is(ep, 2 * pg, rw_, rw, ENXIO, 0, 0,
			    "of a window, PROT_READ|PROT_WRITE") < 0)
			return -1;
		note("across hosts: ENXIO for every window and protection; "
		     "EINVAL, ENXIO for bad arguments");
		return 0;
	}
	step("a mapping, both ways");
	m = scif_mmap(NULL, 2 * pg, rw_, 0, ep, rw);
	TRY(m != SCIF_MMAP_FAILED, "scif_mmap of a window: %s", ename(errno));
	{
		long long at = mismatch(m, 2 * pg, 71, 0);
		int ok = at < 0;

		if (!ok)
			bad("the mapping differs from the window: byte %lld",
			    at);
		if (ok) { /* this side's store, seen by the server */
			fill(m + 100, 1000, 73, 0);
			ok = srv_has(ep, rw + 100, m + 100, 1000,
				     "a store through the mapping") == 0;
		}
		if (ok) /* the server's store, seen through the mapping */
			ok = srv_range(ep, OP_FILL, 74, rw + (off_t)pg, 500,
				       NULL) == 0;
		if (ok && (at = mismatch(m + pg, 500, 74, 0)) >= 0) {
			bad("the server's store is not seen through the "
			    "mapping: byte %lld differs", at);
			ok = 0;
		}
		TRY(scif_munmap(m, 2 * pg) == 0, "scif_munmap: %s",
		    ename(errno));
		if (!ok)
			return -1;
	}
	note("a window mapped: its bytes, a store through the mapping seen "
	     "by the server, the server's seen through it; a read-only "
	     "window mapped to read, EACCES to write; EINVAL, ENXIO for bad "
	     "arguments");
	return 0;
}

static int c_exit(void)
{
	unsigned char r[16];
	scif_epd_t ep = -1;

	TRYR(xconnect(g_node, g_port, &ep), "scif_connect");
	TRYR(send_hdr(ep, OP_EXIT, 0, 0), "send the command");
	TRYR(recv_reply(ep, r), "the reply");
	TRY(get64(r + 8) == 0, "the server saw %" PRIu64 " error(s)",
	    get64(r + 8));
	note("the server saw no error");
	return 0;
}

static const struct check {
	const char *name;
	int (*fn)(void);
	int in_all;
} checks[] = {
	{ "echo", c_echo, 1 },	   { "nonblock", c_nonblock, 1 },
	{ "bulk", c_bulk, 1 },	   { "bound", c_bound, 1 },
	{ "poll", c_poll, 1 },	   { "close", c_close, 1 },
	{ "peer", c_peer, 1 },	   { "refuse", c_refuse, 1 },
	{ "multi", c_multi, 1 },   { "rma", c_rma, 0 },
	{ "rmaerr", c_rmaerr, 0 }, { "fence", c_fence, 0 },
	{ "mmap", c_mmap, 0 },	   { "rmadel", c_rmadel, 0 },
	{ "exit", c_exit, 0 }, /* last: the server exits */
	{ NULL, NULL, 0 },
};

static int run_check(const struct check *c, int secs)
{
	int r;

	snprintf(g_check, sizeof(g_check), "%s", c->name);
	step("start");
	g_msg[0] = 0;
	g_neps = 0;
	arm(secs);
	r = c->fn();
	arm(0);
	for (int i = 0; i < g_neps; i++)
		scif_close(g_eps[i]);
	for (int i = 0; i < g_nbufs; i++)
		free(g_bufs[i]);
	g_nbufs = 0;
	if (r == 0)
		printf("ok %s %s\n", c->name, g_msg);
	else
		printf("FAIL %s: %s [step: %s]\n", c->name, g_msg, g_step);
	return r;
}

static int role_client(int argc, char **argv)
{
	const char *e = getenv("XHOST_WATCHDOG");
	int secs = e && *e ? atoi(e) : 120, fails = 0, ran = 0;

	/* --remote, anywhere: the server is on another host (mmap) */
	for (int i = 0, j = 0; i <= argc; i++)
		if (i == argc)
			argc = j;
		else if (strcmp(argv[i], "--remote") == 0)
			g_remote = 1;
		else
			argv[j++] = argv[i];
	if (argc < 2)
		return 2;
	g_node = (uint16_t)atoi(argv[0]);
	g_port = (uint16_t)atoi(argv[1]);
	for (const struct check *c = checks; c->name; c++) {
		int want = argc == 2 && c->in_all;

		for (int i = 2; i < argc; i++)
			want |= strcmp(argv[i], c->name) == 0 ||
				(strcmp(argv[i], "all") == 0 && c->in_all);
		if (want) {
			ran++;
			fails += run_check(c, secs) < 0;
		}
	}
	for (int i = 2; i < argc; i++) {
		int known = strcmp(argv[i], "all") == 0;

		for (const struct check *c = checks; c->name; c++)
			known |= strcmp(argv[i], c->name) == 0;
		if (!known) {
			printf("FAIL %s: no such check\n", argv[i]);
			fails++;
		}
	}
	printf("%s: %d check(s), %d failed\n", fails ? "FAIL" : "PASS", ran,
	       fails);
	return fails ? 1 : 0;
}

/* ---- hold, stream, connect ---------------------------------------------- */

/* Connect a fresh endpoint to NODE PORT (argv[0], argv[1]); on failure
 * print "connect ERRNO" and return -1. */
static scif_epd_t dial(char **argv)
{
	struct scif_portID dst = { .node = (uint16_t)atoi(argv[0]),
				   .port = (uint16_t)atoi(argv[1]) };
	scif_epd_t ep = scif_open();

	if (ep < 0 || scif_connect(ep, &dst) < 0) {
		printf("connect %s\n", ename(errno));
		return -1;
	}
	return ep;
}

static int role_hold(int argc, char **argv, int stream)
{
	unsigned char *b = xmalloc(64 * 1024);
	uint64_t total = 0;
	int64_t t0;
	scif_epd_t ep = -1;
	int r, e;

	if (argc < 2)
		return 2;
	ep = dial(argv);
	if (ep < 0)
		return 1;
	if (stream && (e = send_hdr(ep, OP_DISCARD, 0, 0)) < 0) {
		printf("ended %s before streaming\n", ename(-e));
		return 1;
	}
	printf("connected\n");
	t0 = now_ms();
	if (stream) {
		fill(b, 64 * 1024, 19, 0);
		/* a reset part-way returns the bytes sent: the next send
		 * must then fail with ECONNRESET */
		do {
			r = scif_send(ep, b, 64 * 1024, SCIF_SEND_BLOCK);
			total += r > 0 ? (uint64_t)r : 0;
		} while (r > 0 || (r < 0 && errno == EINTR));
	} else {
		do
			r = scif_recv(ep, b, 1, SCIF_RECV_BLOCK);
		while (r < 0 && errno == EINTR);
	}
	e = r < 0 ? errno : 0;
	if (stream)
		printf("ended %s after %lld ms wall=%lld sent=%" PRIu64 "\n",
		       r < 0 ? ename(e) : "zero-send",
		       (long long)(now_ms() - t0), (long long)wall_ms(), total);
	else
		printf("ended %s after %lld ms wall=%lld got=%d\n",
		       r < 0 ? ename(e) : "data", (long long)(now_ms() - t0),
		       (long long)wall_ms(), r);
	free(b);
	return r < 0 && e == ECONNRESET ? 0 : 1;
}

static int role_connect(int argc, char **argv)
{
	const char *want = argc > 2 ? argv[2] : "ok";
	int lport = argc > 3 ? atoi(argv[3]) : 0;
	struct scif_portID dst;
	const char *got = "ok";
	scif_epd_t ep;

	if (argc < 2)
		return 2;
	dst.node = (uint16_t)atoi(argv[0]);
	dst.port = (uint16_t)atoi(argv[1]);
	ep = scif_open();
	if (ep >= 0 && lport && scif_bind(ep, (uint16_t)lport) < 0) {
		got = ename(errno);
		printf("bind %d %s\n", lport, got);
	} else if (ep < 0 || scif_connect(ep, &dst) < 0) {
		got = ename(errno);
		printf("connect %s\n", got);
	} else {
		uint16_t n, p;
		int e = hello(ep, NULL, &n, &p);

		if (e < 0) {
			got = "hello-failed";
			printf("connect ok, then HELLO: %s\n", ename(-e));
		} else {
			printf("connect ok: the server accepted %u:%u\n", n, p);
		}
		scif_close(ep);
	}
	return strcmp(got, want) == 0 ? 0 : 1;
}

/*
 * squat NODE PORT SECS: not SCIF. A hostile process of any user takes the
 * name of PORT on NODE (an abstract socket, docs/PROTOCOL.md section 1)
 * without scif_bind, which refuses reserved ports to non-root. For SECS it
 * accepts whatever comes and says what it received: a client of a
 * reserved port must send it nothing (docs/SECURITY.md, boundary 3).
 */
static int role_squat(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *fab = getenv("SCIF_FABRIC");
	int64_t end;
	int l, n;

	if (argc < 3)
		return 2;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		     "skiff/%s/n%d/p%d", fab ? fab : "default", atoi(argv[0]),
		     atoi(argv[1]));
	l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      1 + (size_t)n)) < 0 || listen(l, 16) < 0) {
		printf("error: squatting %s: %s\n", sa.sun_path + 1,
		       ename(errno));
		return 1;
	}
	printf("squatting %s\n", sa.sun_path + 1);
	end = now_ms() + 1000LL * atoi(argv[2]);
	while (now_ms() < end) {
		char b[4096];
		int c, left = (int)(end - now_ms());
		ssize_t r, total = 0;

		if (!h_readable(l, left > 0 ? left : 0))
			break;
		c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		/* what a connector sends comes at once, or never */
		while (h_readable(c, 1000) && (r = read(c, b, sizeof(b))) > 0)
			total += r;
		printf("squat: a connection, %zd bytes received\n", total);
		close(c);
	}
	printf("squat: done\n");
	return 0;
}

/*
 * echoloop NODE PORT STOPFILE: connect, then echo 16 KiB of one endless
 * pattern at a time (OP_ECHO), checking every byte that comes back, until
 * STOPFILE exists (or ROUNDS rounds were made, if given); print
 * "connected" after the first round, then
 * "echoloop: R rounds, B bytes intact, slowest round M ms (round K), S
 * round(s) of 100 ms or more" (exit 0), or
 * "FAIL ..." (exit 1) at the first error or wrong byte. For tests that
 * attack a relay while a genuine connection works through it.
 */
static int role_echoloop(int argc, char **argv)
{
	enum { CHUNK = 16 * 1024 };
	unsigned char *out = xmalloc(CHUNK), *in = xmalloc(CHUNK);
	uint64_t off = 0, rounds = 0, slow_at = 0, slow_rounds = 0, max = 0;
	int64_t slowest = 0;
	scif_epd_t ep;
	int r = 0;

	if (argc < 3)
		return 2;
	if (argc > 3)
		max = strtoull(argv[3], NULL, 10);
	ep = dial(argv);
	if (ep < 0)
		return 1;
	do {
		int64_t t0 = now_ms();
		long long bad;

		step("echo round %" PRIu64, rounds);
		fill(out, CHUNK, 23, off);
		if ((r = send_hdr(ep, OP_ECHO, 0, CHUNK)) < 0 ||
		    (r = send_all(ep, out, CHUNK, NULL)) < 0 ||
		    (r = recv_all(ep, in, CHUNK, NULL)) < 0) {
			printf("FAIL echoloop: round %" PRIu64 ": %s\n", rounds,
			       ename(-r));
			break;
		}
		bad = mismatch(in, CHUNK, 23, off);
		if (bad >= 0) {
			printf("FAIL echoloop: byte %lld came back wrong\n", bad);
			r = -EIO;
			break;
		}
		off += CHUNK;
		if (now_ms() - t0 > slowest) {
			slowest = now_ms() - t0;
			slow_at = rounds;
		}
		if (now_ms() - t0 >= 100)
			slow_rounds++;
		if (rounds++ == 0)
			printf("connected\n");
	} while ((!max || rounds < max) && access(argv[2], F_OK) != 0);
	if (r == 0)
		printf("echoloop: %" PRIu64 " rounds, %" PRIu64 " bytes intact, "
		       "slowest round %lld ms (round %" PRIu64 "), %" PRIu64
		       " round(s) of 100 ms or more\n", rounds, off,
		       (long long)slowest, slow_at, slow_rounds);
	scif_close(ep);
	free(out);
	free(in);
	return r < 0 ? 1 : 0;
}

/*
 * rmaloop NODE PORT [read]: connect, have the server register a 64 MiB
 * window, print "connected", then write it again and again with
 * scif_writeto(SCIF_RMA_SYNC) (read: scif_readfrom) until a call fails;
 * print "ended ERRNO after T ms wall=W rmas=N" (exit 0 for ECONNRESET).
 * Between hosts each is a daemon writing into memory the other daemon
 * registered, with libfabric, so a host or link lost meanwhile most likely
 * finds one in flight.
 */
static int role_rmaloop(int argc, char **argv)
{
	enum { WIN = 64 * MiB };
	uint64_t rmas = 0;
	void *mem = NULL;
	off_t roff, loff;
	int64_t t0;
	scif_epd_t ep;
	int r, e, rd = argc > 2 && strcmp(argv[2], "read") == 0;

	if (argc < 2)
		return 2;
	ep = dial(argv);
	if (ep < 0)
		return 1;
	if (srv_win(ep, SCIF_PROT_READ | SCIF_PROT_WRITE, WIN, 29, 0, &roff) < 0 ||
	    posix_memalign(&mem, page_size(), WIN)) {
		printf("FAIL rmaloop: no window\n");
		return 1;
	}
	fill(mem, WIN, 31, 0);
	loff = scif_register(ep, mem, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	if (loff == SCIF_REGISTER_FAILED) {
		printf("FAIL rmaloop: scif_register: %s\n", ename(errno));
		return 1;
	}
	t0 = now_ms();
	do {
		r = rd ? scif_readfrom(ep, loff, WIN, roff, SCIF_RMA_SYNC) :
			 scif_writeto(ep, loff, WIN, roff, SCIF_RMA_SYNC);
		if (r == 0 && rmas++ == 0)
			printf("connected\n");
	} while (r == 0 || (r < 0 && errno == EINTR));
	e = errno;
	printf("ended %s after %lld ms wall=%lld rmas=%" PRIu64 "\n", ename(e),
	       (long long)(now_ms() - t0), (long long)wall_ms(), rmas);
	return e == ECONNRESET ? 0 : 1;
}

/*
 * mm OP BOARD [DEV LEN SEED]: micmem on board BOARD (this host's cards
 * first, then the other hosts' in the fabric file's order). OP put: open
 * it, map two page-aligned ranges, host2dev LEN bytes of pattern(SEED) to
 * device address DEV, dev2host them back into the other range, compare;
 * prints "mm put ok devsize=N". OP check: micmem_devmap the bytes (a board
 * of this host) and compare; "mm check ok". OP open: "mm open OK" or "mm
 * open ERRNO". OP devmap: one page; "mm devmap OK" or "mm devmap ERRNO".
 * Exit 0 when the line says what happened without a wrong byte.
 */
static int role_mm(int argc, char **argv)
{
	uint32_t board;
	uint64_t dev = 0, len = 0, seed = 0, size = 0;
	unsigned char *a = NULL, *b = NULL;
	int h, r = 1;
	long long bad;

	if (argc < 2)
		return 2;
	board = (uint32_t)strtoul(argv[1], NULL, 0);
	if (argc >= 5) {
		dev = strtoull(argv[2], NULL, 0);
		len = strtoull(argv[3], NULL, 0);
		seed = strtoull(argv[4], NULL, 0);
	}
	if (strcmp(argv[0], "devmap") == 0) {
		void *m = micmem_devmap(board, 0, 4096, PROT_READ);

		printf("mm devmap %s\n", m == MICMEM_MAP_FAILED ? ename(errno) : "OK");
		if (m != MICMEM_MAP_FAILED)
			micmem_devunmap(m, 4096);
		return 0;
	}
	if (strcmp(argv[0], "check") == 0) {
		unsigned char *m = micmem_devmap(board, dev, len, PROT_READ);

		if (m == MICMEM_MAP_FAILED) {
			printf("FAIL mm check: devmap: %s\n", ename(errno));
			return 1;
		}
		bad = mismatch(m, len, seed, 0);
		if (bad >= 0)
			printf("FAIL mm check: byte %lld differs\n", bad);
		else
			printf("mm check ok\n");
		micmem_devunmap(m, len);
		return bad >= 0;
	}
	h = micmem_open();
	if (h < 0) {
		printf("FAIL mm: micmem_open: %s\n", ename(errno));
		return 1;
	}
	if (micmem_opendev(h, board) < 0) {
		printf("mm open %s\n", ename(errno));
		micmem_close(h);
		return strcmp(argv[0], "open") == 0 ? 0 : 1;
	}
	if (strcmp(argv[0], "open") == 0) {
		printf("mm open OK\n");
		micmem_close(h);
		return 0;
	}
	if (strcmp(argv[0], "hold") == 0 && argc >= 3) {
		/* hold BOARD STOPFILE: a transfer, "mm held", then once
		 * STOPFILE exists another: "mm after ERRNO|OK" */
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (posix_memalign((void **)&a, 4096, 65536) ||
		    micmem_maprange(h, a, 65536) < 0 ||
		    micmem_host2dev(h, a, 0, 0, 65536, MICMEM_AUTO) < 0) {
			printf("FAIL mm hold: %s\n", ename(errno));
			goto out;
		}
		printf("mm held\n");
		fflush(stdout);
		while (access(argv[2], F_OK) != 0)
			nanosleep(&ts, NULL); /* the harness's event: a file */
		r = micmem_host2dev(h, a, 0, 0, 65536, MICMEM_AUTO);
		printf("mm after %s\n", r < 0 ? ename(errno) : "OK");
		r = 0;
		goto out;
	}
	if (micmem_devsize(h, &size) < 0 || len == 0 || len % 4096 ||
	    posix_memalign((void **)&a, 4096, len) ||
	    posix_memalign((void **)&b, 4096, len)) {
		printf("FAIL mm put: devsize or buffers: %s\n", ename(errno));
		goto out;
	}
	fill(a, len, seed, 0);
	memset(b, 0, len);
	if (micmem_maprange(h, a, len) < 0 || micmem_maprange(h, b, len) < 0) {
		printf("FAIL mm put: maprange: %s\n", ename(errno));
		goto out;
	}
	if (micmem_host2dev(h, a, 0, dev, len, MICMEM_AUTO) < 0 ||
	    micmem_dev2host(h, b, 0, dev, len, MICMEM_AUTO) < 0) {
		printf("FAIL mm put: transfer: %s\n", ename(errno));
		goto out;
	}
	/* beyond the device's end: EINVAL, as on one host */
	if (micmem_host2dev(h, a, 0, size - 4096, 8192, MICMEM_AUTO) == 0 ||
	    errno != EINVAL) {
		printf("FAIL mm put: a transfer past the device's end: %s\n",
		       ename(errno));
		goto out;
	}
	bad = mismatch(b, len, seed, 0);
	if (bad >= 0) {
		printf("FAIL mm put: byte %lld came back wrong\n", bad);
		goto out;
	}
	printf("mm put ok devsize=%llu\n", (unsigned long long)size);
	r = 0;
out:
	micmem_close(h);
	free(a);
	free(b);
	return r;
}

/* ---- local: the ctest, on one host ------------------------------------- */

struct child {
	pid_t pid;
	int out; /* its stdout */
	char buf[8192];
	size_t len;
	char tag[24];
};

/* Start this program with @args on SCIF_NODE=@node, stdout to a pipe. */
static void start(struct child *c, const char *tag, int node,
		  const char *const *args)
{
	int p[2];
	char nb[8];

	CHECK(pipe2(p, O_CLOEXEC) == 0);
	snprintf(c->tag, sizeof(c->tag), "%s", tag);
	c->len = 0;
	fflush(stdout);
	c->pid = fork();
	CHECK(c->pid >= 0);
	if (c->pid == 0) {
		char *argv[16];
		int i = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		snprintf(nb, sizeof(nb), "%d", node);
		setenv("SCIF_NODE", nb, 1);
		argv[i++] = "xhost";
		for (; *args && i < 15; args++)
			argv[i++] = (char *)*args;
		argv[i] = NULL;
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(p[1]);
	c->out = p[0];
}

/* The next line of @c's output (without the newline) within @ms; 0 on EOF
 * or timeout. Every line is echoed, tagged. */
static int next_line(struct child *c, char *line, size_t n, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t r;
		int left;

		if (nl) {
			size_t k = (size_t)(nl - c->buf);

			snprintf(line, n, "%.*s", (int)k, c->buf);
			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			printf("  %s| %s\n", c->tag, line);
			return 1;
		}
		left = (int)(end - now_ms());
		if (left <= 0 || !h_readable(c->out, left))
			return 0;
		r = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r <= 0)
			return 0;
		c->len += (size_t)r;
	}
}

/* Wait for a line starting with @prefix (within @ms): 1 if seen. */
static int expect_line(struct child *c, const char *prefix, char *line,
		       size_t n, int ms)
{
	int64_t end = now_ms() + ms;

	while (next_line(c, line, n, (int)(end - now_ms())))
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

/* Read @c's output to its end and return its exit status (within @ms). */
static int finish(struct child *c, int ms)
{
	char line[512];
	int64_t end = now_ms() + ms;
	int st;

	while (next_line(c, line, sizeof(line), (int)(end - now_ms())))
		;
	close(c->out);
	st = h_waitpid(c->pid, (int)(end - now_ms()) > 0 ?
			       (int)(end - now_ms()) : 1);
	return st;
}

static int serve_start(struct child *s, int node, char *port, size_t n)
{
	static const char *const args[] = { "serve", "0", NULL };
	char line[256], tag[24];
	const char *p;

	snprintf(tag, sizeof(tag), "serve@%d", node);
	start(s, tag, node, args);
	if (!expect_line(s, "ready ", line, sizeof(line), 10000))
		return -1;
	p = strstr(line, "port=");
	snprintf(port, n, "%d", p ? atoi(p + 5) : 0);
	return 0;
}

static void local_pair(int snode, int cnode)
{
	struct child s, c;
	char port[16], node[8], tag[24], b[64];
	int st;

	STEP("server on node %d, client on node %d", snode, cnode);
	CHECK(serve_start(&s, snode, port, sizeof(port)) == 0);
	snprintf(node, sizeof(node), "%d", snode);
	snprintf(tag, sizeof(tag), "client@%d", cnode);
	{
		const char *const args[] = { "client", node, port, "all",
					     "rma", "rmaerr", "fence", "mmap",
					     "exit", NULL };
		start(&c, tag, cnode, args);
	}
	st = finish(&c, 200000);
	h_log("client on node %d: %s", cnode, h_status_str(st, b, sizeof(b)));
	EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = finish(&s, 10000);
	h_log("server on node %d: %s", snode, h_status_str(st, b, sizeof(b)));
	EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* hold or stream against a server SIGKILLed: ECONNRESET within 5 s. */
static void local_kill(const char *role)
{
	struct child s, c;
	char port[16], line[256];
	const char *p;
	long long ms;
	int64_t t0;
	int st;

	STEP("%s: the server killed", role);
	CHECK(serve_start(&s, 1, port, sizeof(port)) == 0);
	{
		const char *const args[] = { role, "1", port, NULL };
		start(&c, role, 0, args);
	}
	CHECK(expect_line(&c, "connected", line, sizeof(line), 10000));
	/* the server has the connection once it says so */
	CHECK(expect_line(&s, "accepted ", line, sizeof(line), 10000));
	t0 = h_now_ns();
	CHECK(kill(s.pid, SIGKILL) == 0);
	finish(&s, 5000);
	CHECK(expect_line(&c, "ended ", line, sizeof(line), 10000));
	ms = h_ms_since(t0);
	p = strstr(line, "ended ");
	h_log("%s: '%s' %lld ms after SIGKILL of the server", role, p, ms);
	EXPECT(strncmp(p, "ended ECONNRESET", 16) == 0);
	EXPECT_LT(ms, 5000);
	st = finish(&c, 5000);
	EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int role_local(int argc, char **argv)
{
	pid_t d;

	h_init(argc, argv, "xhost_local", 600, NULL);
	d = h_scifd_start(2);
	local_pair(1, 0);
	local_pair(0, 1);
	local_kill("hold");
	local_kill("stream");
	STEP("connect to node 3 (not online)");
	{
		static const char *const args[] = { "connect", "3", "100",
						    "ENODEV", NULL };
		struct child c;
		char b[64];
		int st;

		start(&c, "connect", 0, args);
		st = finish(&c, 10000);
		h_log("connect to node 3: %s", h_status_str(st, b, sizeof(b)));
		EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	h_scifd_stop(d);
	return h_finish();
}

int main(int argc, char **argv)
{
	const char *role = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(g_role, sizeof(g_role), "%s", role);
	if (strcmp(role, "local") == 0)
		return role_local(argc, argv);
	/* a reset connection must give ECONNRESET, not kill the process */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(role, "serve") == 0) {
		watchdog_init(600);
		return role_serve(argc - 2, argv + 2);
	}
	watchdog_init(120);
	if (strcmp(role, "client") == 0)
		return role_client(argc - 2, argv + 2);
	if (strcmp(role, "hold") == 0 || strcmp(role, "stream") == 0)
		return role_hold(argc - 2, argv + 2, role[0] == 's');
	if (strcmp(role, "connect") == 0)
		return role_connect(argc - 2, argv + 2);
	if (strcmp(role, "squat") == 0)
		return role_squat(argc - 2, argv + 2);
	if (strcmp(role, "echoloop") == 0)
		return role_echoloop(argc - 2, argv + 2);
	if (strcmp(role, "rmaloop") == 0)
		return role_rmaloop(argc - 2, argv + 2);
	if (strcmp(role, "mm") == 0)
		return role_mm(argc - 2, argv + 2);
	fprintf(stderr, "usage: xhost serve PORT | client [--remote] NODE PORT "
		"[CHECK...] "
		"| hold NODE PORT | stream NODE PORT | connect NODE PORT "
		"[RESULT [LPORT]] | squat NODE PORT SECS | echoloop NODE PORT "
		"STOPFILE [ROUNDS] | rmaloop NODE PORT [read] | mm OP BOARD [DEV LEN SEED] "
		"| local\n");
	return 2;
}
