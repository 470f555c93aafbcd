/* SPDX-License-Identifier: MIT */
/*
 * test_badargs: bad pointers and counts, each case in its own process.
 *
 * Each row runs in a forked child (with SKIFF_PROBE_MIN set as the row
 * says, before the library reads it) and must end as the man pages say:
 * the call fails with the documented errno, or, for the small buffers the
 * pages say are not checked (below SKIFF_PROBE_MIN: a mapped but
 * inaccessible buffer of scif_send(3), scif_recv(3), scif_vwriteto(3),
 * scif_fence_mark(3), scif_poll(3)), the child dies of SIGSEGV as a plain
 * copy would.
 * A failed call must leave the connection usable: the bytes a refused
 * scif_recv did not take are still there for the next one.
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <micmem.h>

#define MiB (1u << 20)
#define BIG MiB      /* above the default SKIFF_PROBE_MIN (64 KiB) */
#define SMALL 64

enum buf_kind { B_UNMAPPED, B_PROTNONE, B_READONLY, B_ONE, B_KERNEL, B_WRAP };

static void *bad_buf(enum buf_kind k, size_t len)
{
	void *p;

	switch (k) {
	case B_ONE:
		return (void *)1;
	case B_KERNEL:
		return (void *)(uintptr_t)0xffff880000000000ull;
	case B_WRAP:
		return (void *)(UINTPTR_MAX - 15);
	default:
		break;
	}
	p = mmap(NULL, len + 4096, k == B_READONLY ? PROT_READ : PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	if (k == B_UNMAPPED)
		CHECK_OK(munmap(p, len + 4096));
	return p;
}

static uint16_t port_of(void)
{
	return (uint16_t)(3000 + getpid() % 20000);
}

/* ---- the rows --------------------------------------------------------- */

static int c_send(enum buf_kind k, size_t len)
{
	scif_epd_t c, s;
	char ok[8] = "hello!!";

	h_pair(port_of(), &c, &s);
	errno = 0;
	if (scif_send(c, bad_buf(k, len), (int)len, SCIF_SEND_BLOCK) != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	/* nothing was sent: the connection still carries what follows */
	CHECK_EQ(scif_send(c, ok, 8, SCIF_SEND_BLOCK), 8);
	memset(ok, 0, sizeof(ok));
	CHECK_EQ(scif_recv(s, ok, 8, SCIF_RECV_BLOCK), 8);
	CHECK(strcmp(ok, "hello!!") == 0);
	return 0;
}

static int c_recv(enum buf_kind k, size_t len)
{
	scif_epd_t c, s;
	char got[8] = { 0 };

	h_pair(port_of(), &c, &s);
	CHECK_EQ(scif_send(c, "queued!", 8, SCIF_SEND_BLOCK), 8);
	errno = 0;
	if (scif_recv(s, bad_buf(k, len), (int)len, SCIF_RECV_BLOCK) != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	CHECK_EQ(scif_recv(s, got, 8, SCIF_RECV_BLOCK), 8);
	CHECK(strcmp(got, "queued!") == 0);
	return 0;
}

static int c_vrma(enum buf_kind k, size_t len, int to_peer)
{
	scif_epd_t c, s;
	char *win = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *good = malloc(MiB);
	int r;

	CHECK(win != MAP_FAILED && good);
	memset(good, 7, MiB);
	h_pair(port_of(), &c, &s);
	CHECK_EQ(scif_register(s, win, MiB, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED), 0);
	/* a good call first: the window is there, so EFAULT below is ours */
	if (to_peer)
		CHECK_OK(scif_vwriteto(c, good, MiB, 0, SCIF_RMA_SYNC));
	else
		CHECK_OK(scif_vreadfrom(c, good, MiB, 0, SCIF_RMA_SYNC));
	errno = 0;
	r = to_peer ? scif_vwriteto(c, bad_buf(k, len), len, 0, SCIF_RMA_SYNC)
		    : scif_vreadfrom(c, bad_buf(k, len), len, 0, SCIF_RMA_SYNC);
	if (r != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	return 0;
}

static int c_mark(enum buf_kind k)
{
	scif_epd_t c, s;
	int good;

	h_pair(port_of(), &c, &s);
	CHECK_OK(scif_fence_mark(c, SCIF_FENCE_INIT_SELF, &good));
	errno = 0;
	if (scif_fence_mark(c, SCIF_FENCE_INIT_SELF, bad_buf(k, 4096)) != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	errno = 0;
	if (scif_fence_mark(c, SCIF_FENCE_INIT_PEER, bad_buf(k, 4096)) != -1)
		return 12;
	if (errno != EFAULT)
		return 13;
	return 0;
}

static int c_poll_count(unsigned over)
{
	scif_epd_t c, s;
	struct scif_pollepd p[2];
	struct rlimit rl;
	unsigned n;

	h_pair(port_of(), &c, &s);
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536) {
		rl.rlim_cur = 1024; /* a finite limit to exceed */
		CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	}
	n = over ? (unsigned)rl.rlim_cur + over : UINT32_MAX;
	p[0] = (struct scif_pollepd){ .epd = c, .events = POLLIN };
	p[1] = p[0];
	errno = 0;
	if (scif_poll(p, n, 0) != -1)
		return 10;
	if (errno != EINVAL)
		return 11;
	CHECK_OK(scif_poll(p, 1, 0)); /* and a sane count still works */
	return 0;
}

static int c_poll_ptr(enum buf_kind k)
{
	scif_epd_t c, s;

	h_pair(port_of(), &c, &s);
	errno = 0;
	if (scif_poll(bad_buf(k, 4096), 2, 0) != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	return 0;
}

static int c_micmem(int to_dev)
{
	char *buf = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int h = (int)CHECK_OK(micmem_open());

	CHECK(buf != MAP_FAILED);
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, buf, 4 * MiB));
	CHECK_OK(micmem_host2dev(h, buf, 0, 0, 4 * MiB, MICMEM_AUTO));
	if (to_dev)
		CHECK_OK(munmap(buf + MiB, MiB)); /* a hole in the range */
	else
		CHECK_OK(mprotect(buf + MiB, MiB, PROT_READ));
	errno = 0;
	if ((to_dev ? micmem_host2dev(h, buf, 0, 0, 4 * MiB, MICMEM_AUTO)
		    : micmem_dev2host(h, buf, 0, 0, 4 * MiB, MICMEM_DUAL)) != -1)
		return 10;
	if (errno != EFAULT)
		return 11;
	/* the part still mapped still works */
	CHECK_OK(micmem_host2dev(h, buf, 0, 0, MiB, MICMEM_AUTO));
	EXPECT_OK(micmem_close(h));
	return 0;
}

/* ---- the table -------------------------------------------------------- */

/* A buffer that is mapped but not accessible as the call needs gives
 * EFAULT where the kernel can say so (PROCMAP_QUERY, Linux 6.11; scif(7));
 * before, it faults. */
#define P_PROT -1

static int has_procmap;

static void kernel_features(void)
{
	struct {
		uint64_t size, query_flags, query_addr, out[6];
		uint32_t out32[4];
		uint64_t in2[2];
	} q;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	char *pg = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(fd >= 0 && pg != MAP_FAILED);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uintptr_t)pg;
	has_procmap = ioctl(fd, _IOWR('f', 17, q), &q) == 0;
	close(fd);
	munmap(pg, 4096);
	h_log("kernel: PROCMAP_QUERY %s", has_procmap ? "yes" :
	      "no (protections are not checked: those rows must fault)");
}

/* What a row must end in here: 0 (exit 0) or a signal. */
static int expected_sig(int sig)
{
	if (sig == P_PROT)
		return has_procmap ? 0 : SIGSEGV;
	return sig;
}

struct row {
	const char *what;
	const char *probe_min; /* SKIFF_PROBE_MIN for the child, NULL: default */
	int (*fn)(const struct row *);
	enum buf_kind k;
	size_t len;
	int sig; /* 0: must exit 0 (the errno was right); a signal: dies of
		  * it; P_PROT: depends on the kernel */
};

static int r_send(const struct row *r) { return c_send(r->k, r->len); }
static int r_recv(const struct row *r) { return c_recv(r->k, r->len); }
static int r_vwr(const struct row *r) { return c_vrma(r->k, r->len, 1); }
static int r_vrd(const struct row *r) { return c_vrma(r->k, r->len, 0); }
static int r_mark(const struct row *r) { return c_mark(r->k); }
static int r_pollc(const struct row *r) { return c_poll_count((unsigned)r->len); }
static int r_pollp(const struct row *r) { return c_poll_ptr(r->k); }
static int r_h2d(const struct row *r) { (void)r; return c_micmem(1); }
static int r_d2h(const struct row *r) { (void)r; return c_micmem(0); }

static const struct row rows[] = {
	{ "send (void *)1", NULL, r_send, B_ONE, SMALL, 0 },
	{ "send kernel address", NULL, r_send, B_KERNEL, SMALL, 0 },
	{ "send wrapping range", NULL, r_send, B_WRAP, SMALL, 0 },
	{ "send unmapped 1 MiB", NULL, r_send, B_UNMAPPED, BIG, 0 },
	{ "send PROT_NONE 1 MiB", NULL, r_send, B_PROTNONE, BIG, P_PROT },
	{ "send unmapped 64 B, probe all", "0", r_send, B_UNMAPPED, SMALL, 0 },
	{ "send PROT_NONE 64 B, probe all", "0", r_send, B_PROTNONE, SMALL, P_PROT },
	{ "send PROT_NONE 64 B, default", NULL, r_send, B_PROTNONE, SMALL, SIGSEGV },
	{ "send PROT_NONE 64 KiB (= default min)", NULL, r_send, B_PROTNONE, 64 << 10, P_PROT },
	{ "recv (void *)1", NULL, r_recv, B_ONE, SMALL, 0 },
	{ "recv read-only 1 MiB", NULL, r_recv, B_READONLY, BIG, P_PROT },
	{ "recv unmapped 1 MiB", NULL, r_recv, B_UNMAPPED, BIG, 0 },
	{ "recv read-only 64 B, probe all", "0", r_recv, B_READONLY, SMALL, P_PROT },
	{ "recv unmapped 64 B, probe all", "0", r_recv, B_UNMAPPED, SMALL, 0 },
	{ "recv read-only 64 B, default", NULL, r_recv, B_READONLY, SMALL, SIGSEGV },
	{ "vwriteto PROT_NONE 1 MiB", NULL, r_vwr, B_PROTNONE, MiB, P_PROT },
	{ "vwriteto unmapped 1 MiB", NULL, r_vwr, B_UNMAPPED, MiB, 0 },
	{ "vwriteto (void *)1", NULL, r_vwr, B_ONE, MiB, 0 },
	{ "vwriteto unmapped 4 KiB", NULL, r_vwr, B_UNMAPPED, 4096, 0 },
	{ "vwriteto PROT_NONE 4 KiB, probe all", "0", r_vwr, B_PROTNONE, 4096, P_PROT },
	{ "vwriteto PROT_NONE 4 KiB, default", NULL, r_vwr, B_PROTNONE, 4096, SIGSEGV },
	{ "vreadfrom read-only 1 MiB", NULL, r_vrd, B_READONLY, MiB, P_PROT },
	{ "vreadfrom PROT_NONE 1 MiB", NULL, r_vrd, B_PROTNONE, MiB, P_PROT },
	{ "vreadfrom unmapped 4 KiB", NULL, r_vrd, B_UNMAPPED, 4096, 0 },
	{ "vreadfrom read-only 4 KiB, probe all", "0", r_vrd, B_READONLY, 4096, P_PROT },
	{ "fence_mark (int *)1", NULL, r_mark, B_ONE, 0, 0 },
	{ "fence_mark kernel address", NULL, r_mark, B_KERNEL, 0, 0 },
	{ "fence_mark read-only, probe all", "0", r_mark, B_READONLY, 0, P_PROT },
	{ "fence_mark unmapped, probe 4", "4", r_mark, B_UNMAPPED, 0, 0 },
	{ "fence_mark read-only, default", NULL, r_mark, B_READONLY, 0, SIGSEGV },
	{ "poll nepds = RLIMIT_NOFILE + 1", NULL, r_pollc, 0, 1, 0 },
	{ "poll nepds = UINT_MAX", NULL, r_pollc, 0, 0, 0 },
	{ "poll epds (void *)1", NULL, r_pollp, B_ONE, 0, 0 },
	{ "poll epds unmapped, probe all", "0", r_pollp, B_UNMAPPED, 0, 0 },
	{ "poll epds unmapped, default", NULL, r_pollp, B_UNMAPPED, 0, SIGSEGV },
	{ "poll epds read-only, probe all", "0", r_pollp, B_READONLY, 0, P_PROT },
	{ "poll epds read-only, default", NULL, r_pollp, B_READONLY, 0, SIGSEGV },
	{ "micmem_host2dev from a range partly unmapped", NULL, r_h2d, 0, 0, 0 },
	{ "micmem_dev2host into a range made read-only", NULL, r_d2h, 0, 0, P_PROT },
};

static int run_row(void *a)
{
	const struct row *r = a;

	if (r->probe_min)
		setenv("SKIFF_PROBE_MIN", r->probe_min, 1);
	else
		unsetenv("SKIFF_PROBE_MIN");
	if (expected_sig(r->sig)) {
		/* an expected crash: no core file */
		struct rlimit no = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no);
		/* the default action, not a sanitizer's report and exit */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
	}
	return r->fn(r);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "badargs", 240, NULL);
	kernel_features();
	h_scifd_start(1); /* card memory for the micmem rows */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char b[64];
		pid_t pid;
		int st;

		STEP("%s", r->what);
		pid = h_fork(run_row, (void *)r);
		st = h_waitpid(pid, 30000);
		h_forget(pid);
		if (expected_sig(r->sig))
			EXPECT(st != -1 && WIFSIGNALED(st) &&
			       WTERMSIG(st) == expected_sig(r->sig));
		else
			EXPECT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		h_log("%-48s %s", r->what, h_status_str(st, b, sizeof(b)));
	}
	return h_finish();
}
