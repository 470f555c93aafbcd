/* SPDX-License-Identifier: MIT */
/*
 * rma_util.h - shared helpers for the window / RMA / fence / mmap tests
 * (test_register, test_rma, test_fence, test_mmap, test_rma_fork).
 *
 * - A deterministic byte pattern: byte i of a range filled with (seed, base)
 *   is pat(seed, base + i), so data can be checked byte for byte by any
 *   process at any offset.
 * - Buffers of three kinds (anonymous mmap with guard pages, posix_memalign,
 *   malloc aligned inside a larger block).
 * - A table of windows (offset -> address) to fill and check ranges of the
 *   registered address space that may span windows.
 * - A peer "server" role (a re-executed copy of the test, so it starts with a
 *   fresh libscif) that connects back and runs commands sent over the
 *   endpoint: register, unregister, fill, check, RMAs, fences, scif_mmap. The
 *   test program drives it with RPC(ep, OP_..., args...).
 *
 * Every function is static; a test uses what it needs.
 */
#ifndef SKIFF_TEST_RMA_UTIL_H
#define SKIFF_TEST_RMA_UTIL_H

#include "harness.h"

#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define R_UNUSED __attribute__((unused))

#define PG ((size_t)4096)

/* ---- pattern ---------------------------------------------------------- */

static inline uint64_t r_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t r_word(uint64_t seed, uint64_t k8)
{
	return r_mix(k8 ^ (seed * 0x100000001b3ull) ^ (seed << 44));
}

static inline unsigned char pat(uint64_t seed, uint64_t k)
{
	return (unsigned char)(r_word(seed, k >> 3) >> ((k & 7) * 8));
}

static R_UNUSED void pat_fill(void *p, size_t len, uint64_t seed, uint64_t base)
{
	unsigned char *b = p;
	size_t i = 0;

	while (i < len) {
		uint64_t k = base + i;
		uint64_t w = r_word(seed, k >> 3);

		for (unsigned j = (unsigned)(k & 7); j < 8 && i < len; j++, i++)
			b[i] = (unsigned char)(w >> (j * 8));
	}
}

/* Number of bytes that differ from the pattern; *first (if non-NULL) gets
 * the index of the first one (or -1). */
static R_UNUSED size_t pat_check(const void *p, size_t len, uint64_t seed,
				 uint64_t base, long *first)
{
	const volatile unsigned char *b = p;
	size_t i = 0, bad = 0;

	if (first)
		*first = -1;
	while (i < len) {
		uint64_t k = base + i;
		uint64_t w = r_word(seed, k >> 3);

		for (unsigned j = (unsigned)(k & 7); j < 8 && i < len; j++, i++)
			if (b[i] != (unsigned char)(w >> (j * 8))) {
				if (!bad && first)
					*first = (long)i;
				bad++;
			}
	}
	return bad;
}

/* Check a buffer against a pattern; on mismatch report what and where. */
#define EXPECT_PAT(p, len, seed, base)                                         \
	do {                                                                   \
		long f_;                                                       \
		size_t b_ = pat_check((p), (len), (seed), (base), &f_);        \
		if (b_) {                                                      \
			char w_[200];                                          \
			snprintf(w_, sizeof(w_),                               \
				 "pattern(seed %llu) intact over %zu bytes: "  \
				 "%zu differ, first at %ld",                   \
				 (unsigned long long)(seed), (size_t)(len),    \
				 b_, f_);                                      \
			h_fail(__FILE__, __LINE__, w_, 0, 0);                  \
		}                                                              \
	} while (0)

/* ---- buffers ------------------------------------------------------------ */

enum { K_MMAP, K_MEMALIGN, K_MALLOC, K_NKINDS };
static R_UNUSED const char *const kind_name[] = { "mmap", "posix_memalign",
						  "malloc" };

struct rbuf {
	unsigned char *addr; /* page aligned */
	size_t len;
	void *raw;
	size_t rawlen;
	int kind;
};

/* K_MMAP: anonymous private mapping with a PROT_NONE guard page on each
 * side (so two buffers are never adjacent and overruns fault). */
static R_UNUSED unsigned char *rbuf_alloc(struct rbuf *b, int kind, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->len = len;
	switch (kind) {
	case K_MMAP: {
		unsigned char *p = mmap(NULL, len + 2 * PG, PROT_NONE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		CHECK(mprotect(p + PG, len, PROT_READ | PROT_WRITE) == 0);
		b->raw = p;
		b->rawlen = len + 2 * PG;
		b->addr = p + PG;
		break;
	}
	case K_MEMALIGN: {
		void *p = NULL;
		CHECK(posix_memalign(&p, PG, len) == 0);
		b->raw = p;
		b->rawlen = len;
		b->addr = p;
		break;
	}
	default: {
		unsigned char *p = malloc(len + PG);
		CHECK(p != NULL);
		b->raw = p;
		b->rawlen = len + PG;
		b->addr = (unsigned char *)(((uintptr_t)p + PG - 1) & ~(uintptr_t)(PG - 1));
		break;
	}
	}
	return b->addr;
}

static R_UNUSED void rbuf_free(struct rbuf *b)
{
	if (!b->raw)
		return;
	if (b->kind == K_MMAP)
		munmap(b->raw, b->rawlen);
	else
		free(b->raw);
	b->raw = NULL;
}

/* ---- window table ------------------------------------------------------- */

struct went {
	off_t off;
	size_t len;
	unsigned char *addr;
	struct rbuf buf; /* owned if buf.raw */
};

#define WT_MAX 512
struct wtab {
	struct went e[WT_MAX];
	int n;
};

static R_UNUSED struct went *wt_add(struct wtab *t, off_t off, size_t len,
				    unsigned char *addr)
{
	struct went *w;

	CHECK(t->n < WT_MAX);
	w = &t->e[t->n++];
	memset(w, 0, sizeof(*w));
	w->off = off;
	w->len = len;
	w->addr = addr;
	return w;
}

static R_UNUSED struct went *wt_at(struct wtab *t, off_t o)
{
	for (int i = 0; i < t->n; i++)
		if (o >= t->e[i].off && o < t->e[i].off + (off_t)t->e[i].len)
			return &t->e[i];
	return NULL;
}

/* Remove (and free the buffers of) windows entirely inside [off, off+len). */
static R_UNUSED void wt_remove_range(struct wtab *t, off_t off, size_t len)
{
	for (int i = 0; i < t->n;) {
		struct went *w = &t->e[i];
		if (w->off >= off && w->off + (off_t)w->len <= off + (off_t)len) {
			rbuf_free(&w->buf);
			t->e[i] = t->e[--t->n];
		} else {
			i++;
		}
	}
}

/* The address of offset @o, or NULL. */
static R_UNUSED unsigned char *wt_addr(struct wtab *t, off_t o)
{
	struct went *w = wt_at(t, o);

	return w ? w->addr + (o - w->off) : NULL;
}

/* Fill (check == 0) or check a range of the registered space that may span
 * windows. Returns -1 if a byte is not covered, else the number of bytes that
 * differ (0 for fill); *first gets the offset of the first bad byte. */
static R_UNUSED long wt_apply(struct wtab *t, off_t off, size_t len,
			      uint64_t seed, uint64_t base, int check,
			      off_t *first)
{
	size_t done = 0;
	long bad = 0;

	if (first)
		*first = -1;
	while (done < len) {
		off_t o = off + (off_t)done;
		struct went *w = wt_at(t, o);
		size_t n;

		if (!w)
			return -1;
		n = (size_t)(w->off + (off_t)w->len - o);
		if (n > len - done)
			n = len - done;
		if (check) {
			long f;
			size_t b = pat_check(w->addr + (o - w->off), n, seed,
					     base + done, &f);
			if (b && !bad && first)
				*first = o + f;
			bad += (long)b;
		} else {
			pat_fill(w->addr + (o - w->off), n, seed, base + done);
		}
		done += n;
	}
	return bad;
}

/* Register a fresh buffer of @kind filled with pattern (seed, 0) (seed 0:
 * left untouched) and add it to @t; returns the offset or -1 (errno set). */
static R_UNUSED off_t wt_register(struct wtab *t, scif_epd_t ep, int kind,
				  size_t len, off_t off, int prot, int mflags,
				  uint64_t seed)
{
	struct rbuf b;
	off_t r;
	int e;

	rbuf_alloc(&b, kind, len);
	if (seed)
		pat_fill(b.addr, len, seed, 0);
	errno = 0;
	r = scif_register(ep, b.addr, len, off, prot, mflags);
	e = errno;
	if (r == SCIF_REGISTER_FAILED) {
		rbuf_free(&b);
		errno = e;
		return -1;
	}
	wt_add(t, r, len, b.addr)->buf = b;
	errno = e;
	return r;
}

/* ---- connecting to a spawned peer ----------------------------------------- */

static uint16_t r_port_next = 2100;

/* Spawn @role with arg "PORT[,extra]", accept its connection; returns our
 * endpoint and the child's pid. */
static R_UNUSED scif_epd_t r_spawn_peer(const char *role, const char *extra,
					pid_t *pid)
{
	uint16_t port = r_port_next++;
	scif_epd_t l = h_listen(port, 1, NULL), ep;
	struct scif_portID peer;
	char arg[256];

	snprintf(arg, sizeof(arg), "%u%s%s", port, extra ? "," : "",
		 extra ? extra : "");
	*pid = h_spawn(role, arg, NULL);
	/* wait for the connection, but notice a peer that died first */
	for (int64_t t0 = h_now_ns();;) {
		struct scif_pollepd pe = { .epd = l, .events = POLLIN };
		int st;

		if (scif_poll(&pe, 1, 100) == 1 && (pe.revents & POLLIN))
			break;
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			char b[64], w[160];
			h_forget(*pid);
			snprintf(w, sizeof(w), "peer role %s connected (it died: %s)",
				 role, h_status_str(st, b, sizeof(b)));
			h_fail(__FILE__, __LINE__, w, 0, 1);
		}
		if (h_ms_since(t0) > 20000)
			h_fail(__FILE__, __LINE__, "peer connected within 20 s", 0, 1);
	}
	CHECK_OK(scif_accept(l, &peer, &ep, SCIF_ACCEPT_SYNC));
	CHECK_EQ(scif_close(l), 0);
	return ep;
}

/* In a role: connect to the port at the start of @arg; *rest (if non-NULL)
 * points after "PORT," (or at ""). */
static R_UNUSED scif_epd_t r_role_connect(const char *arg, const char **rest)
{
	char *end;
	unsigned long port = strtoul(arg, &end, 10);

	CHECK(end != arg && port > 0 && port < 65536);
	if (rest)
		*rest = *end == ',' ? end + 1 : end;
	return h_connect(0, (uint16_t)port);
}

static R_UNUSED void r_send(scif_epd_t ep, const void *p, int n)
{
	CHECK_EQ(scif_send(ep, (void *)p, n, SCIF_SEND_BLOCK), n);
}

static R_UNUSED void r_recv(scif_epd_t ep, void *p, int n)
{
	CHECK_EQ(scif_recv(ep, p, n, SCIF_RECV_BLOCK), n);
}

static R_UNUSED void r_send64(scif_epd_t ep, int64_t v)
{
	r_send(ep, &v, sizeof(v));
}

static R_UNUSED int64_t r_recv64(scif_epd_t ep)
{
	int64_t v = 0;

	r_recv(ep, &v, sizeof(v));
	return v;
}

/* ---- the server role ---------------------------------------------------- */

enum r_op {
	OP_QUIT = 1,   /* reply, close the endpoint, exit 0 */
	OP_EXIT,       /* reply, exit 0 without closing */
	OP_REG,        /* len, off, prot, mflags, kind, seed -> off, v0 = addr */
	OP_UNREG,      /* off, len */
	OP_FILL,       /* off, len, seed, base */
	OP_CHECK,      /* off, len, seed, base -> mismatches (-1: uncovered), v0 first */
	OP_WRITETO,    /* loff, len, roff, flags */
	OP_READFROM,   /* loff, len, roff, flags */
	OP_VWRITETO,   /* len, roff, flags, seed, base, misalign */
	OP_VREADFROM,  /* len, roff, flags, seed, base, misalign -> v0 mismatches */
	OP_FENCE,      /* flags: mark(flags) then wait */
	OP_SIGNAL,     /* loff, lval, roff, rval, flags */
	OP_MMAP_CHECK, /* off, len, prot, seed, base -> mismatches via scif_mmap */
	OP_MMAP_FILL,  /* off, len, seed, base: scif_mmap RW, fill, scif_munmap */
	OP_MMAP_KEEP,  /* off, len, prot: map and keep (one slot) -> v0 = addr */
	OP_KEEP_CHECK, /* seed, base: check the kept mapping */
	OP_KEEP_UNMAP, /* scif_munmap the kept mapping */
	OP_BATCH_WRITE,/* loff, total, roff, chunk, flags: many writetos, no fence */
	OP_BATCH_READ, /* loff, total, roff, chunk, flags: many readfroms, no fence */
	OP_PEEK64,     /* off -> v0 = the 8 bytes at local offset off */
	OP_SPIN_CHECK, /* flagoff, val, off, len, seed, base: spin (20 s at most)
			* until the u64 at flagoff is val, then check the range;
			* ret: mismatches, -1 if the flag never came */
};

struct r_cmd {
	int32_t op, pad;
	int64_t a[6];
};

struct r_rep {
	int64_t ret, err, v0, v1;
};

static R_UNUSED struct r_rep r_call(scif_epd_t ep, int op, const int64_t *a)
{
	struct r_cmd c = { .op = op };
	struct r_rep r;

	memcpy(c.a, a, sizeof(c.a));
	r_send(ep, &c, sizeof(c));
	r_recv(ep, &r, sizeof(r));
	return r;
}

/* RPC(ep, OP_X, a0, a1, ...): missing arguments are 0. */
#define RPC(ep, op, ...) r_call((ep), (op), (const int64_t[6]){ __VA_ARGS__ })

/* The reply must be success (ret >= 0); evaluates to ret. */
#define RPC_OK(ep, op, ...)                                                    \
	({                                                                     \
		struct r_rep r_ = RPC(ep, op, __VA_ARGS__);                    \
		if (r_.ret < 0)                                                \
			h_fail_err(__FILE__, __LINE__, "peer: " #op, r_.ret,   \
				   (int)r_.err, "success", 0);                 \
		r_.ret;                                                        \
	})

/* The reply must be -1 with errno e. */
#define RPC_ERR(ep, e, op, ...)                                                \
	({                                                                     \
		struct r_rep r_ = RPC(ep, op, __VA_ARGS__);                    \
		if (r_.ret != -1 || r_.err != (e))                             \
			h_fail_err(__FILE__, __LINE__, "peer: " #op, r_.ret,   \
				   (int)r_.err, #e, 0);                        \
		r_.ret == -1 && r_.err == (e);                                 \
	})

/* The peer's range [off, off+len) holds pattern (seed, base). */
#define PEER_PAT(ep, off, len, seed, base)                                     \
	do {                                                                   \
		struct r_rep r_ = RPC(ep, OP_CHECK, (off), (int64_t)(len),     \
				      (int64_t)(seed), (int64_t)(base));       \
		if (r_.ret != 0) {                                             \
			char w_[200];                                          \
			snprintf(w_, sizeof(w_),                               \
				 "peer's range 0x%llx+%llu holds pattern "     \
				 "%llu: %lld bytes differ, first at 0x%llx",   \
				 (unsigned long long)(off),                    \
				 (unsigned long long)(len),                    \
				 (unsigned long long)(seed),                   \
				 (long long)r_.ret, (unsigned long long)r_.v0); \
			h_fail(__FILE__, __LINE__, w_, 0, 0);                  \
		}                                                              \
	} while (0)

/* A local range of @t holds pattern (seed, base). */
#define LOCAL_PAT(t, off, len, seed, base)                                     \
	do {                                                                   \
		off_t f_;                                                      \
		long r_ = wt_apply((t), (off), (len), (seed), (base), 1, &f_); \
		if (r_ != 0) {                                                 \
			char w_[200];                                          \
			snprintf(w_, sizeof(w_),                               \
				 "local range 0x%llx+%llu holds pattern "      \
				 "%llu: %ld bytes differ, first at 0x%llx",    \
				 (unsigned long long)(off),                    \
				 (unsigned long long)(len),                    \
				 (unsigned long long)(seed), r_,               \
				 (unsigned long long)f_);                      \
			h_fail(__FILE__, __LINE__, w_, 0, 0);                  \
		}                                                              \
	} while (0)

static sigjmp_buf r_jmp;
static volatile sig_atomic_t r_jmp_armed;

static void r_on_fault(int sig)
{
	if (r_jmp_armed) {
		r_jmp_armed = 0;
		siglongjmp(r_jmp, sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run a store of @v to @p; returns 0 if it completed, else the signal
 * (SIGSEGV / SIGBUS) it raised. */
static R_UNUSED int r_try_store(volatile unsigned char *p, unsigned char v)
{
	struct sigaction sa, o1, o2;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = r_on_fault;
	sigaction(SIGSEGV, &sa, &o1);
	sigaction(SIGBUS, &sa, &o2);
	sig = sigsetjmp(r_jmp, 1);
	if (sig == 0) {
		r_jmp_armed = 1;
		*p = v;
		r_jmp_armed = 0;
	}
	sigaction(SIGSEGV, &o1, NULL);
	sigaction(SIGBUS, &o2, NULL);
	return sig;
}

/* Read every byte of [p, p+len); returns 0 or the signal it raised. */
static R_UNUSED int r_try_read(const volatile unsigned char *p, size_t len,
			       uint64_t *sum)
{
	struct sigaction sa, o1, o2;
	int sig;
	uint64_t s = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = r_on_fault;
	sigaction(SIGSEGV, &sa, &o1);
	sigaction(SIGBUS, &sa, &o2);
	sig = sigsetjmp(r_jmp, 1);
	if (sig == 0) {
		r_jmp_armed = 1;
		for (size_t i = 0; i < len; i += 64)
			s += p[i];
		if (len)
			s += p[len - 1];
		r_jmp_armed = 0;
	}
	sigaction(SIGSEGV, &o1, NULL);
	sigaction(SIGBUS, &o2, NULL);
	if (sum)
		*sum = s;
	return sig;
}

/* Wait for the DMA of our own RMAs when @flags asks for neither. */
static R_UNUSED int r_settle(scif_epd_t ep, int flags)
{
	int mark = 0;

	if (flags & (SCIF_RMA_USECPU | SCIF_RMA_SYNC))
		return 0;
	if (scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark) < 0)
		return -1;
	return scif_fence_wait(ep, mark);
}

/* Spin until *p == v or @ms pass; yields now and then (2 CPUs, ctest -j).
 * Returns 1 if seen. */
static R_UNUSED int r_spin_eq64(const volatile uint64_t *p, uint64_t v, int ms)
{
	int64_t t0 = h_now_ns();

	for (unsigned long i = 0;; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == v)
			return 1;
		if ((i & 1023) == 1023) {
			if (h_ms_since(t0) > ms)
				return 0;
			sched_yield();
		}
	}
}

static R_UNUSED int r_spin_eq8(const volatile unsigned char *p, unsigned char v,
			       int ms)
{
	int64_t t0 = h_now_ns();

	for (unsigned long i = 0;; i++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == v)
			return 1;
		if ((i & 1023) == 1023) {
			if (h_ms_since(t0) > ms)
				return 0;
			sched_yield();
		}
	}
}

static R_UNUSED int role_server(const char *arg)
{
	static struct wtab t;
	scif_epd_t ep = r_role_connect(arg, NULL);
	void *keep = NULL;
	size_t keep_len = 0;

	for (;;) {
		struct r_cmd c;
		struct r_rep r = { 0, 0, 0, 0 };
		int n;
		int64_t *a = c.a;

		STEP("server: waiting for a command");
		n = scif_recv(ep, &c, sizeof(c), SCIF_RECV_BLOCK);
		if (n != (int)sizeof(c)) {
			/* the test closed its end: done */
			scif_close(ep);
			return 0;
		}
		STEP("server: command %d", c.op);
		errno = 0;
		switch (c.op) {
		case OP_QUIT:
		case OP_EXIT:
			r_send(ep, &r, sizeof(r));
			if (c.op == OP_QUIT) {
				CHECK_EQ(scif_close(ep), 0);
				/* stay until the test says (on exit of the
				 * test, PDEATHSIG) - no: just exit */
			}
			fflush(stderr);
			_exit(h_failures ? 1 : 0);
		case OP_REG:
			r.ret = wt_register(&t, ep, (int)a[4], (size_t)a[0],
					    (off_t)a[1], (int)a[2], (int)a[3],
					    (uint64_t)a[5]);
			r.err = errno;
			if (r.ret >= 0)
				r.v0 = (int64_t)(uintptr_t)wt_addr(&t, r.ret);
			break;
		case OP_UNREG:
			r.ret = scif_unregister(ep, (off_t)a[0], (size_t)a[1]);
			r.err = errno;
			if (r.ret == 0)
				wt_remove_range(&t, (off_t)a[0], (size_t)a[1]);
			break;
		case OP_FILL:
			r.ret = wt_apply(&t, (off_t)a[0], (size_t)a[1],
					 (uint64_t)a[2], (uint64_t)a[3], 0, NULL);
			break;
		case OP_CHECK: {
			off_t f;
			r.ret = wt_apply(&t, (off_t)a[0], (size_t)a[1],
					 (uint64_t)a[2], (uint64_t)a[3], 1, &f);
			r.v0 = f;
			break;
		}
		case OP_WRITETO:
		case OP_READFROM:
			r.ret = c.op == OP_WRITETO ?
				scif_writeto(ep, (off_t)a[0], (size_t)a[1],
					     (off_t)a[2], (int)a[3]) :
				scif_readfrom(ep, (off_t)a[0], (size_t)a[1],
					      (off_t)a[2], (int)a[3]);
			r.err = errno;
			if (r.ret == 0 && r_settle(ep, (int)a[3]) < 0) {
				r.ret = -2;
				r.err = errno;
			}
			break;
		case OP_VWRITETO:
		case OP_VREADFROM: {
			size_t len = (size_t)a[0];
			unsigned char *p = malloc(len + 128);
			unsigned char *q = p + (a[5] & 63);

			CHECK(p != NULL);
			if (c.op == OP_VWRITETO) {
				pat_fill(q, len, (uint64_t)a[3], (uint64_t)a[4]);
				r.ret = scif_vwriteto(ep, q, len, (off_t)a[1],
						      (int)a[2]);
			} else {
				memset(p, 0, len + 128);
				r.ret = scif_vreadfrom(ep, q, len, (off_t)a[1],
						       (int)a[2]);
			}
			r.err = errno;
			if (r.ret == 0 && r_settle(ep, (int)a[2]) < 0) {
				r.ret = -2;
				r.err = errno;
			}
			if (r.ret == 0 && c.op == OP_VREADFROM)
				r.v0 = (int64_t)pat_check(q, len, (uint64_t)a[3],
							  (uint64_t)a[4], NULL);
			free(p);
			break;
		}
		case OP_FENCE: {
			int mark = 0;
			r.ret = scif_fence_mark(ep, (int)a[0], &mark);
			r.err = errno;
			r.v0 = mark;
			if (r.ret == 0) {
				r.ret = scif_fence_wait(ep, mark);
				r.err = errno;
			}
			break;
		}
		case OP_SIGNAL:
			r.ret = scif_fence_signal(ep, (off_t)a[0], (uint64_t)a[1],
						  (off_t)a[2], (uint64_t)a[3],
						  (int)a[4]);
			r.err = errno;
			break;
		case OP_MMAP_CHECK: {
			void *m = scif_mmap(NULL, (size_t)a[1], (int)a[2], 0, ep,
					    (off_t)a[0]);
			r.err = errno;
			if (m == SCIF_MMAP_FAILED) {
				r.ret = -1;
				break;
			}
			r.ret = (int64_t)pat_check(m, (size_t)a[1],
						   (uint64_t)a[3], (uint64_t)a[4],
						   NULL);
			if (scif_munmap(m, (size_t)a[1]) != 0) {
				r.ret = -2;
				r.err = errno;
			}
			break;
		}
		case OP_MMAP_FILL: {
			void *m = scif_mmap(NULL, (size_t)a[1],
					    SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
					    ep, (off_t)a[0]);
			r.err = errno;
			if (m == SCIF_MMAP_FAILED) {
				r.ret = -1;
				break;
			}
			pat_fill(m, (size_t)a[1], (uint64_t)a[2], (uint64_t)a[3]);
			r.ret = scif_munmap(m, (size_t)a[1]);
			r.err = errno;
			break;
		}
		case OP_MMAP_KEEP:
			keep = scif_mmap(NULL, (size_t)a[1], (int)a[2], 0, ep,
					 (off_t)a[0]);
			r.err = errno;
			r.ret = keep == SCIF_MMAP_FAILED ? -1 : 0;
			if (keep == SCIF_MMAP_FAILED)
				keep = NULL;
			else
				keep_len = (size_t)a[1];
			r.v0 = (int64_t)(uintptr_t)keep;
			break;
		case OP_KEEP_CHECK:
			r.ret = keep ? (int64_t)pat_check(keep, keep_len,
							  (uint64_t)a[0],
							  (uint64_t)a[1], NULL) :
				       -1;
			break;
		case OP_KEEP_UNMAP:
			r.ret = keep ? scif_munmap(keep, keep_len) : -1;
			r.err = errno;
			keep = NULL;
			break;
		case OP_BATCH_WRITE:
		case OP_BATCH_READ: {
			int64_t done = 0, chunk = a[3];
			r.ret = 0;
			while (done < a[1] && r.ret == 0) {
				int64_t n = a[1] - done < chunk ? a[1] - done : chunk;
				r.ret = c.op == OP_BATCH_WRITE ?
					scif_writeto(ep, (off_t)(a[0] + done),
						     (size_t)n, (off_t)(a[2] + done),
						     (int)a[4]) :
					scif_readfrom(ep, (off_t)(a[0] + done),
						      (size_t)n, (off_t)(a[2] + done),
						      (int)a[4]);
				r.err = errno;
				done += n;
			}
			break;
		}
		case OP_PEEK64: {
			unsigned char *p = wt_addr(&t, (off_t)a[0]);
			r.ret = p ? 0 : -1;
			if (p)
				memcpy(&r.v0, (const void *)p, 8);
			break;
		}
		case OP_SPIN_CHECK: {
			unsigned char *f = wt_addr(&t, (off_t)a[0]);
			off_t first;
			if (!f || !r_spin_eq64((volatile uint64_t *)f,
					       (uint64_t)a[1], 20000)) {
				r.ret = -1;
				break;
			}
			r.ret = wt_apply(&t, (off_t)a[2], (size_t)a[3],
					 (uint64_t)a[4], (uint64_t)a[5], 1, &first);
			r.v0 = first;
			break;
		}
		default:
			r.ret = -1;
			r.err = ENOSYS;
		}
		r_send(ep, &r, sizeof(r));
	}
}

/* Spawn a server peer; returns our endpoint to it. */
static R_UNUSED scif_epd_t r_server(pid_t *pid)
{
	return r_spawn_peer("server", NULL, pid);
}

/* Tell the server to quit and check it exited cleanly. */
static R_UNUSED void r_server_stop(scif_epd_t ep, pid_t pid)
{
	RPC(ep, OP_QUIT);
	EXPECT_CHILD_OK(pid, 20000);
	scif_close(ep);
}

#endif
