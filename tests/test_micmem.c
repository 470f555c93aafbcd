/* SPDX-License-Identifier: MIT */
/*
 * test_micmem.c - libmicmem: every call and its errno, data checked byte for
 * byte, THP and 4 KiB-page ranges, two boards at once, device memory that
 * outlives its users, access control, and a daemon restart.
 *
 * (Concurrent threads on one handle: test_micmem_threads.c.)
 */
#include "harness.h"

#include <micmem.h>

#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MiB (1024ull * 1024)

/* The sanitizers' runtimes replace mlock() by a no-op that succeeds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLOCK_IS_REAL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLOCK_IS_REAL 0
#endif
#endif
#ifndef MLOCK_IS_REAL
#define MLOCK_IS_REAL 1
#endif
#define CARD_MEM (256 * MiB) /* scifd's default */

static pid_t daemon_pid;

static void fill(void *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			(void)h_rand(&s);
		b[i] = (unsigned char)(s >> (8 * (i % 8)));
	}
}

/* First differing byte, or -1. */
static long diff(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return (long)i;
	return -1;
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void *map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* A 2 MiB-aligned buffer that asks for transparent huge pages. */
static void *map_thp(size_t n)
{
	void *p = NULL;

	CHECK_EQ(posix_memalign(&p, 2 * MiB, n), 0);
	CHECK_OK(madvise(p, n, MADV_HUGEPAGE));
	memset(p, 0x5a, n); /* touch: the faults allocate huge pages */
	return p;
}

static int thp_never(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char buf[128] = "";

	if (!f)
		return 1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[never]") != NULL || buf[0] == '\0';
}

/* ---- errors before any daemon ---- */

static void t_no_daemon(void)
{
	int h;

	STEP("no daemon: ENODEV");
	h = (int)CHECK_OK(micmem_open());
	EXPECT_ERR(micmem_opendev(h, 0), ENODEV);
	EXPECT_ERR(micmem_closedev(h), ENODEV);
	EXPECT(micmem_devmap(0, 0, 4096, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == ENODEV);
	EXPECT_OK(micmem_close(h));

	STEP("bad handles: EBADF");
	EXPECT_ERR(micmem_close(h), EBADF); /* closed already */
	EXPECT_ERR(micmem_close(-1), EBADF);
	EXPECT_ERR(micmem_close(1 << 20), EBADF);
	EXPECT_ERR(micmem_opendev(-1, 0), EBADF);
	EXPECT_ERR(micmem_opendev(h, 0), EBADF);
	EXPECT_ERR(micmem_closedev(h), EBADF);
	EXPECT_ERR(micmem_maprange(h, (void *)4096, 4096), EBADF);
	EXPECT_ERR(micmem_unmaprange(h, (void *)4096), EBADF);
	EXPECT_ERR(micmem_host2dev(h, (void *)4096, 0, 0, 1, 0), EBADF);
	EXPECT_ERR(micmem_dev2host(h, (void *)4096, 0, 0, 1, 0), EBADF);
	EXPECT_ERR(micmem_rangeinfo(h, (void *)4096, NULL), EBADF);
	EXPECT_ERR(micmem_devsize(h, NULL), EBADF);
}

/* ---- every call, every errno, data byte for byte ---- */

static void t_api(void)
{
	const size_t n = 8 * MiB;
	char *src = map_anon(n), *dst = map_anon(n), *ro, *hole;
	struct micmem_range_info ri;
	uint64_t dsz = 0;
	int h, h2;
	char *dm;

	STEP("opendev");
	h = (int)CHECK_OK(micmem_open());
	h2 = (int)CHECK_OK(micmem_open());
	EXPECT_NE(h, h2);
	EXPECT_ERR(micmem_maprange(h, src, n), ENODEV); /* no board yet */
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 0), ENODEV);
	EXPECT_ERR(micmem_devsize(h, &dsz), ENODEV);
	EXPECT_ERR(micmem_opendev(h, 2), ENODEV); /* 2 cards: boards 0, 1 */
	EXPECT_ERR(micmem_opendev(h, 254), ENODEV);
	EXPECT_ERR(micmem_opendev(h, 255), ENODEV);
	EXPECT_ERR(micmem_opendev(h, UINT32_MAX), ENODEV);
	CHECK_OK(micmem_opendev(h, 0));
	EXPECT_ERR(micmem_opendev(h, 0), EBUSY);
	EXPECT_ERR(micmem_opendev(h, 1), EBUSY);
	CHECK_OK(micmem_devsize(h, &dsz));
	EXPECT_EQ(dsz, CARD_MEM);
	EXPECT_ERR(micmem_devsize(h, NULL), EINVAL);
	/* another handle may open the same board */
	CHECK_OK(micmem_opendev(h2, 0));

	STEP("maprange errors");
	EXPECT_ERR(micmem_maprange(h, NULL, 4096), EINVAL);
	EXPECT_ERR(micmem_maprange(h, src + 1, 4096), EINVAL);
	EXPECT_ERR(micmem_maprange(h, src + 2048, 4096), EINVAL);
	EXPECT_ERR(micmem_maprange(h, src, 4095), EINVAL);
	EXPECT_ERR(micmem_maprange(h, src, 4097), EINVAL);
	EXPECT_ERR(micmem_maprange(h, src, 0), EINVAL);
	EXPECT_ERR(micmem_maprange(h, (void *)(uintptr_t)-4096, 8192), EINVAL);
	hole = map_anon(3 * 4096); /* a range with an unmapped page */
	CHECK_OK(munmap(hole + 4096, 4096));
	EXPECT_ERR(micmem_maprange(h, hole, 3 * 4096), EINVAL);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	EXPECT_ERR(micmem_maprange(h, ro, 4096), EINVAL); /* not writable */

	STEP("maprange");
	CHECK_OK(micmem_maprange(h, src, n));
	CHECK_OK(micmem_maprange(h, dst, n));
	EXPECT_ERR(micmem_maprange(h, src, n), EINVAL);        /* again */
	EXPECT_ERR(micmem_maprange(h, src + 4096, 4096), EINVAL); /* inside */
	EXPECT_ERR(micmem_maprange(h, src - 4096, 8192), EINVAL); /* overlap */
	CHECK_OK(micmem_rangeinfo(h, src, &ri));
	EXPECT_EQ(ri.size, n);
	EXPECT_EQ(ri.segments, ri.huge_segments + ri.small_segments);
	EXPECT_EQ(ri.small_segments + ri.huge_segments * 512, n / 4096);
	EXPECT_EQ(ri.locked, 1); /* root: mlock is not limited */
	EXPECT_ERR(micmem_rangeinfo(h, src + 4096, &ri), EINVAL);
	EXPECT_ERR(micmem_rangeinfo(h, src, NULL), EINVAL);
	EXPECT_ERR(micmem_rangeinfo(h2, src, &ri), EINVAL); /* per handle */

	STEP("device memory is zero at start");
	CHECK_OK(micmem_dev2host(h, dst, 0, 0, n, MICMEM_SINGLE));
	EXPECT(all_zero(dst, n));
	CHECK_OK(micmem_dev2host(h, dst, 0, CARD_MEM - n, n, MICMEM_DUAL));
	EXPECT(all_zero(dst, n));

	STEP("transfer errors");
	EXPECT_ERR(micmem_host2dev(h, src + 4096, 0, 0, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, ro, 0, 0, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h2, src, 0, 0, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, n, 0, 1, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, n - 10, 0, 11, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, n + 1, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, UINT64_MAX, 0, 2, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 1, 0, UINT64_MAX, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, CARD_MEM, 1, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, CARD_MEM - 4095, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, UINT64_MAX, 2, 0), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 3), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, -1), EINVAL);
	EXPECT_ERR(micmem_dev2host(h, dst + 4096, 0, 0, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_dev2host(h, dst, n, 0, 1, 0), EINVAL);
	EXPECT_ERR(micmem_dev2host(h, dst, 0, CARD_MEM - 1, 2, 0), EINVAL);
	EXPECT_ERR(micmem_dev2host(h, dst, 0, 0, 4096, 7), EINVAL);
	/* empty copies at the very ends are fine */
	EXPECT_OK(micmem_host2dev(h, src, n, CARD_MEM, 0, 0));
	EXPECT_OK(micmem_dev2host(h, dst, n, CARD_MEM, 0, 0));

	STEP("round trips: every flag, odd sizes and offsets");
	{
		static const uint64_t sizes[] = { 1, 63, 64, 65, 4095, 4096,
						  4097, 65536 + 7, MiB - 3,
						  MiB, 3 * MiB + 129, 8 * MiB };
		unsigned k = 0;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			for (int fl = 0; fl <= 2; fl++, k++) {
				uint64_t sz = sizes[i];
				uint64_t so = sz == n ? 0 : (k * 977) % (n - sz);
				uint64_t dof = (k * 1237 + 4096 * k) %
					       (CARD_MEM - sz);
				uint64_t doff = sz == n ? 0 : (k * 331) % (n - sz);
				long d;

				STEP("round trip %llu bytes flags %d",
				     (unsigned long long)sz, fl);
				fill(src + so, sz, k);
				memset(dst + doff, 0xee,
				       doff + sz < n ? sz + 1 : sz);
				CHECK_OK(micmem_host2dev(h, src, so, dof, sz, fl));
				CHECK_OK(micmem_dev2host(h, dst, doff, dof, sz,
							 (fl + 1) % 3));
				d = diff(src + so, dst + doff, sz);
				if (d >= 0)
					h_log("size %llu flags %d: byte %ld differs",
					      (unsigned long long)sz, fl, d);
				EXPECT_EQ(d, -1);
				/* nothing written past the target */
				if (doff + sz < n)
					EXPECT_EQ((unsigned char)dst[doff + sz],
						  0xee);
			}
	}

	STEP("devmap sees what host2dev wrote, and the reverse");
	EXPECT(micmem_devmap(0, 1, 4096, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == EINVAL);
	EXPECT(micmem_devmap(0, 0, 4095, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == EINVAL);
	EXPECT(micmem_devmap(0, 0, 0, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == EINVAL);
	EXPECT(micmem_devmap(0, CARD_MEM, 4096, PROT_READ) ==
	       MICMEM_MAP_FAILED && errno == EINVAL);
	EXPECT(micmem_devmap(0, CARD_MEM - 4096, 8192, PROT_READ) ==
	       MICMEM_MAP_FAILED && errno == EINVAL);
	EXPECT(micmem_devmap(0, 0, 4096, PROT_EXEC) == MICMEM_MAP_FAILED &&
	       errno == EINVAL);
	EXPECT(micmem_devmap(2, 0, 4096, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == ENODEV);
	EXPECT(micmem_devmap(UINT32_MAX, 0, 4096, PROT_READ) ==
	       MICMEM_MAP_FAILED && errno == ENODEV);
	fill(src, n, 77);
	CHECK_OK(micmem_host2dev(h, src, 0, 16 * MiB, n, MICMEM_AUTO));
	dm = micmem_devmap(0, 16 * MiB, n, PROT_READ | PROT_WRITE);
	CHECK(dm != MICMEM_MAP_FAILED);
	EXPECT_EQ(diff(dm, src, n), -1);
	fill(dm, n, 78);
	CHECK_OK(micmem_dev2host(h, dst, 0, 16 * MiB, n, MICMEM_AUTO));
	EXPECT_EQ(diff(dm, dst, n), -1);
	/* a second handle on the same board sees the same memory */
	CHECK_OK(micmem_maprange(h2, src, n)); /* same host range, h2 */
	CHECK_OK(micmem_dev2host(h2, src, 0, 16 * MiB, n, MICMEM_SINGLE));
	EXPECT_EQ(diff(dm, src, n), -1);
	EXPECT_ERR(micmem_devunmap(dm + 1, n), EINVAL);
	EXPECT_ERR(micmem_devunmap(NULL, n), EINVAL);
	EXPECT_ERR(micmem_devunmap(dm, 0), EINVAL);
	EXPECT_OK(micmem_devunmap(dm, n));
	dm = micmem_devmap(1, 0, 4096, PROT_READ); /* read-only, board 1 */
	CHECK(dm != MICMEM_MAP_FAILED);
	EXPECT(all_zero(dm, 4096)); /* board 1 is separate memory */
	EXPECT_OK(micmem_devunmap(dm, 4096));

	STEP("unmaprange");
	EXPECT_ERR(micmem_unmaprange(h, src + 4096), EINVAL);
	EXPECT_ERR(micmem_unmaprange(h, NULL), EINVAL);
	EXPECT_OK(micmem_unmaprange(h, src));
	EXPECT_ERR(micmem_unmaprange(h, src), EINVAL);
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 0), EINVAL);
	EXPECT_ERR(micmem_rangeinfo(h, src, &ri), EINVAL);
	CHECK_OK(micmem_maprange(h, src, n)); /* again, after unmapping */

	STEP("closedev");
	CHECK_OK(micmem_closedev(h));
	EXPECT_ERR(micmem_closedev(h), ENODEV);
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 0), ENODEV);
	EXPECT_ERR(micmem_dev2host(h, dst, 0, 0, 4096, 0), ENODEV);
	CHECK_OK(micmem_opendev(h, 1)); /* ranges went with the board */
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 0), EINVAL);
	EXPECT_OK(micmem_close(h));
	EXPECT_ERR(micmem_host2dev(h, src, 0, 0, 4096, 0), EBADF);
	EXPECT_OK(micmem_close(h2));

	munmap(src, n);
	munmap(dst, n);
	munmap(ro, 4096);
	munmap(hole, 4096);
	munmap(hole + 2 * 4096, 4096);
}

/* ---- huge pages ---- */

static void t_thp(void)
{
	const size_t n = 16 * MiB;
	char *t = map_thp(n), *s, *back = map_anon(n);
	struct micmem_range_info ri;
	int h;

	STEP("THP and 4 KiB ranges");
	h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 1));
	CHECK_OK(micmem_maprange(h, t, n));
	CHECK_OK(micmem_rangeinfo(h, t, &ri));
	h_log("THP buffer of 16 MiB: %llu segments (%llu of 2 MiB, %llu of 4 KiB)",
	      (unsigned long long)ri.segments,
	      (unsigned long long)ri.huge_segments,
	      (unsigned long long)ri.small_segments);
	EXPECT_EQ(ri.segments, ri.huge_segments + ri.small_segments);
	EXPECT_EQ(ri.small_segments + ri.huge_segments * 512, n / 4096);
	if (thp_never())
		h_log("THP is 'never' here: huge segments not asserted");
	else
		EXPECT_GE(ri.huge_segments, 1); /* usually all 8 */

	/* 4 KiB pages: no huge page may back it */
	s = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(s != MAP_FAILED);
	CHECK_OK(madvise(s, n, MADV_NOHUGEPAGE));
	memset(s, 1, n);
	CHECK_OK(micmem_maprange(h, s, n));
	CHECK_OK(micmem_rangeinfo(h, s, &ri));
	EXPECT_EQ(ri.huge_segments, 0);
	EXPECT_EQ(ri.small_segments, n / 4096);
	EXPECT_EQ(ri.segments, n / 4096);

	/* copies walk either kind: THP -> device -> 4 KiB pages and back */
	CHECK_OK(micmem_maprange(h, back, n));
	fill(t, n, 5);
	for (int fl = 0; fl <= 2; fl++) {
		STEP("THP copy flags %d", fl);
		memset(s, 0, n);
		CHECK_OK(micmem_host2dev(h, t, 4096, 8192, n - 4096, fl));
		CHECK_OK(micmem_dev2host(h, s, 0, 8192, n - 4096, fl));
		EXPECT_EQ(diff(t + 4096, s, n - 4096), -1);
		CHECK_OK(micmem_host2dev(h, s, 0, 0, n - 4096, fl));
		CHECK_OK(micmem_dev2host(h, t, 4096, 0, n - 4096, 2 - fl));
		EXPECT_EQ(diff(t + 4096, s, n - 4096), -1);
	}
	CHECK_OK(micmem_unmaprange(h, t));

	/* a range that starts 4 KiB into the huge pages: the first and the
	 * last 2 MiB units are partial, so at most 6 units can be huge */
	CHECK_OK(micmem_maprange(h, t + 4096, n - 2 * 4096));
	CHECK_OK(micmem_rangeinfo(h, t + 4096, &ri));
	EXPECT_LE(ri.huge_segments, 6);
	EXPECT_EQ(ri.small_segments + ri.huge_segments * 512, n / 4096 - 2);
	if (!thp_never())
		EXPECT_GE(ri.huge_segments, 1);
	fill(back, n, 9);
	CHECK_OK(micmem_host2dev(h, back, 0, 0, n, MICMEM_DUAL));
	CHECK_OK(micmem_dev2host(h, t + 4096, 0, 4096, n - 3 * 4096,
				 MICMEM_DUAL));
	EXPECT_EQ(diff(t + 4096, back + 4096, n - 3 * 4096), -1);
	CHECK_OK(micmem_close(h));
	free(t);
	munmap(s, n);
	munmap(back, n);
}

/* ---- two boards at once ---- */

static void t_two_boards(void)
{
	const size_t n = 4 * MiB;
	char *a = map_anon(n), *b = map_anon(n), *c = map_anon(n), *m0, *m1;
	int h0, h1;

	STEP("two boards");
	h0 = (int)CHECK_OK(micmem_open());
	h1 = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h0, 0));
	CHECK_OK(micmem_opendev(h1, 1));
	CHECK_OK(micmem_maprange(h0, a, n));
	CHECK_OK(micmem_maprange(h1, b, n));
	CHECK_OK(micmem_maprange(h1, c, n));
	fill(a, n, 100);
	fill(b, n, 101);
	CHECK_OK(micmem_host2dev(h0, a, 0, 32 * MiB, n, MICMEM_DUAL));
	CHECK_OK(micmem_host2dev(h1, b, 0, 32 * MiB, n, MICMEM_DUAL));
	m0 = micmem_devmap(0, 32 * MiB, n, PROT_READ);
	m1 = micmem_devmap(1, 32 * MiB, n, PROT_READ);
	CHECK(m0 != MICMEM_MAP_FAILED && m1 != MICMEM_MAP_FAILED);
	EXPECT_EQ(diff(m0, a, n), -1);
	EXPECT_EQ(diff(m1, b, n), -1);
	CHECK_OK(micmem_dev2host(h1, c, 0, 32 * MiB, n, MICMEM_SINGLE));
	EXPECT_EQ(diff(c, b, n), -1);
	micmem_devunmap(m0, n);
	micmem_devunmap(m1, n);
	EXPECT_OK(micmem_close(h0));
	EXPECT_OK(micmem_close(h1));
	munmap(a, n);
	munmap(b, n);
	munmap(c, n);
}

/* ---- device memory outlives the programs that use it ---- */

static int writer(void *arg)
{
	char *buf = map_anon(MiB);
	int h = (int)CHECK_OK(micmem_open());

	(void)arg;
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, buf, MiB));
	fill(buf, MiB, 4242);
	CHECK_OK(micmem_host2dev(h, buf, 0, 100 * MiB, MiB, MICMEM_AUTO));
	return 0; /* exits without closing anything */
}

static void t_persist(void)
{
	char *buf = map_anon(MiB), *want = map_anon(MiB);
	int h;

	STEP("memory outlives the writer");
	CHECK_CHILD_OK(h_fork(writer, NULL), 20000);
	h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, buf, MiB));
	CHECK_OK(micmem_dev2host(h, buf, 0, 100 * MiB, MiB, MICMEM_AUTO));
	fill(want, MiB, 4242);
	EXPECT_EQ(diff(buf, want, MiB), -1);
	EXPECT_OK(micmem_close(h));
	munmap(buf, MiB);
	munmap(want, MiB);
}

/* ---- access control: only the fabric owner's user ---- */

static int stranger(void *arg)
{
	int h;

	(void)arg;
	CHECK_OK(setgid(65534));
	CHECK_OK(setuid(65534));
	h = (int)CHECK_OK(micmem_open());
	EXPECT_ERR(micmem_opendev(h, 0), EPERM);
	EXPECT_ERR(micmem_opendev(h, 1), EPERM);
	EXPECT_ERR(micmem_opendev(h, 2), ENODEV); /* not online: ENODEV */
	EXPECT(micmem_devmap(0, 0, 4096, PROT_READ) == MICMEM_MAP_FAILED &&
	       errno == EPERM);
	EXPECT_OK(micmem_close(h));
	return 0;
}

/* Without CAP_IPC_LOCK and with a small RLIMIT_MEMLOCK, ranges are
 * populated but not locked, and work all the same. */
static int unlocked(void *arg)
{
	struct __user_cap_header_struct hd = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	struct micmem_range_info ri;
	char *a = map_anon(4 * MiB), *b = map_anon(4 * MiB);
	int h;

	(void)arg;
	CHECK_OK(syscall(SYS_capget, &hd, d));
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	CHECK_OK(syscall(SYS_capset, &hd, d));
	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &rl));
	h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, a, 4 * MiB));
	CHECK_OK(micmem_maprange(h, b, 4 * MiB));
	CHECK_OK(micmem_rangeinfo(h, a, &ri));
	if (MLOCK_IS_REAL)
		EXPECT_EQ(ri.locked, 0);
	fill(a, 4 * MiB, 8);
	CHECK_OK(micmem_host2dev(h, a, 0, 0, 4 * MiB, 0));
	CHECK_OK(micmem_dev2host(h, b, 0, 0, 4 * MiB, 0));
	EXPECT_EQ(diff(a, b, 4 * MiB), -1);
	EXPECT_OK(micmem_close(h));
	return 0;
}

static void t_access(void)
{
	STEP("another uid gets EPERM");
	if (geteuid() != 0) {
		h_log("not root: cannot switch to another uid, skipped");
		return;
	}
	CHECK_CHILD_OK(h_fork(stranger, NULL), 20000);
	STEP("mlock refused: populated only");
	CHECK_CHILD_OK(h_fork(unlocked, NULL), 20000);
}

/* ---- daemon restart ---- */

static void t_restart(void)
{
	char *buf = map_anon(MiB);
	int h, h2;

	STEP("restart: set up");
	h = (int)CHECK_OK(micmem_open());
	h2 = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, buf, MiB));
	fill(buf, MiB, 1);
	CHECK_OK(micmem_host2dev(h, buf, 0, 0, MiB, 0));

	STEP("restart: kill scifd");
	CHECK_OK(kill(daemon_pid, SIGKILL));
	CHECK(h_waitpid(daemon_pid, 5000) != -1);
	h_forget(daemon_pid);
	EXPECT_ERR(micmem_host2dev(h, buf, 0, 0, MiB, 0), ENODEV);
	EXPECT_ERR(micmem_dev2host(h, buf, 0, 0, MiB, MICMEM_DUAL), ENODEV);
	EXPECT_ERR(micmem_opendev(h, 0), EBUSY); /* still has its board */
	EXPECT_ERR(micmem_opendev(h2, 0), ENODEV);
	EXPECT_OK(micmem_closedev(h));
	EXPECT_ERR(micmem_opendev(h, 0), ENODEV);

	STEP("restart: a new scifd has fresh, zeroed memory");
	daemon_pid = h_scifd_start(2);
	CHECK_OK(micmem_opendev(h, 0));
	CHECK_OK(micmem_maprange(h, buf, MiB));
	CHECK_OK(micmem_dev2host(h, buf, 0, 0, MiB, 0));
	EXPECT(all_zero(buf, MiB));
	EXPECT_OK(micmem_close(h));
	EXPECT_OK(micmem_close(h2));
	munmap(buf, MiB);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "micmem", 120, NULL);
	t_no_daemon();
	daemon_pid = h_scifd_start(2);
	t_api();
	t_thp();
	t_two_boards();
	t_persist();
	t_access();
	t_restart();
	h_scifd_stop(daemon_pid);
	return h_finish();
}
