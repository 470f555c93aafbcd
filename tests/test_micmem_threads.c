/* SPDX-License-Identifier: MIT */
/*
 * test_micmem_threads.c - several threads transferring on one handle at once
 * (every flag, random sizes; data checked byte for byte), with ranges mapped
 * and unmapped meanwhile, and a handle closed under running transfers.
 * Built with -DSKIFF_SANITIZE=thread this is the TSan check of libmicmem.
 */
#include "harness.h"

#include <micmem.h>

#include <pthread.h>
#include <sys/mman.h>

#define MiB (1024ull * 1024)
#define NTHREADS 4
#define SLOT (4 * MiB)   /* each thread's share of device memory */
#define BUF  (2 * MiB)   /* each thread's host buffers */

static int g_h;
static unsigned g_iters = 150;

struct worker {
	pthread_t th;
	int id;
	char *src, *dst;
	long bad;
	long done;
};

static void fill(unsigned char *b, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = h_rand(s);

		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0x1234 + (uint64_t)w->id;
	uint64_t base = (uint64_t)w->id * SLOT;

	for (unsigned i = 0; i < g_iters; i++) {
		uint64_t r = h_rand(&s);
		uint64_t sz = 1 + r % BUF;
		uint64_t so = (r >> 24) % (BUF - sz + 1), dof;
		int f1 = (int)(r % 3), f2 = (int)((r >> 8) % 3);

		if (i % 4 == 0)
			sz = BUF - so; /* big ones, so DUAL really splits */
		dof = base + (r >> 40) % (SLOT - sz + 1); /* own slot only */
		fill((unsigned char *)w->src + so, sz, &s);
		if (micmem_host2dev(g_h, w->src, so, dof, sz, f1) < 0 ||
		    micmem_dev2host(g_h, w->dst, so, dof, sz, f2) < 0) {
			h_log("thread %d: transfer: %s", w->id, strerror(errno));
			w->bad++;
			break;
		}
		if (memcmp(w->src + so, w->dst + so, sz) != 0)
			w->bad++;
		w->done++;
	}
	return NULL;
}

/* Maps and unmaps a range of its own while the others copy. */
static void *churn(void *arg)
{
	char *b = arg;
	struct micmem_range_info ri;

	for (int i = 0; i < 100; i++) {
		if (micmem_maprange(g_h, b, MiB) < 0 ||
		    micmem_rangeinfo(g_h, b, &ri) < 0 ||
		    micmem_host2dev(g_h, b, 0, 200 * MiB, MiB, i % 3) < 0 ||
		    micmem_unmaprange(g_h, b) < 0) {
			h_log("churn: %s", strerror(errno));
			return (void *)1;
		}
	}
	return NULL;
}

static void t_concurrent(void)
{
	struct worker w[NTHREADS];
	pthread_t ch;
	void *cr;
	char *cb = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	STEP("concurrent transfers on one handle");
	CHECK(cb != MAP_FAILED);
	g_h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(g_h, 0));
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i };
		w[i].src = mmap(NULL, BUF, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		w[i].dst = mmap(NULL, BUF, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(w[i].src != MAP_FAILED && w[i].dst != MAP_FAILED);
		CHECK_OK(micmem_maprange(g_h, w[i].src, BUF));
		CHECK_OK(micmem_maprange(g_h, w[i].dst, BUF));
	}
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_create(&w[i].th, NULL, run, &w[i]), 0);
	CHECK_EQ(pthread_create(&ch, NULL, churn, cb), 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].th, NULL);
		EXPECT_EQ(w[i].bad, 0);
		EXPECT_EQ(w[i].done, g_iters);
	}
	pthread_join(ch, &cr);
	EXPECT(cr == NULL);
	EXPECT_OK(micmem_close(g_h));
	for (int i = 0; i < NTHREADS; i++) {
		munmap(w[i].src, BUF);
		munmap(w[i].dst, BUF);
	}
	munmap(cb, MiB);
}

/* Transfers until the handle goes away: each must succeed or fail with
 * EBADF, never crash or hang. */
struct racer {
	pthread_t th;
	char *buf;
	int h;
	uint64_t dev; /* each its own device memory: no race between them */
	long ok, ebadf, other;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (;;) {
		int x = micmem_host2dev(r->h, r->buf, 0, r->dev, MiB,
					MICMEM_DUAL);

		if (x == 0) {
			__atomic_add_fetch(&r->ok, 1, __ATOMIC_RELAXED);
		} else if (errno == EBADF) {
			r->ebadf++;
			return NULL;
		} else {
			r->other++;
			return NULL;
		}
	}
}

static void t_close_under_load(void)
{
	struct racer r[2];
	char *buf = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int h;

	STEP("close while transfers run");
	CHECK(buf != MAP_FAILED);
	h = (int)CHECK_OK(micmem_open());
	CHECK_OK(micmem_opendev(h, 1));
	CHECK_OK(micmem_maprange(h, buf, MiB));
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ .buf = buf, .h = h,
				       .dev = (uint64_t)i * MiB };
		CHECK_EQ(pthread_create(&r[i].th, NULL, race, &r[i]), 0);
	}
	/* let them run a while: until both have copied a few times */
	while (__atomic_load_n(&r[0].ok, __ATOMIC_RELAXED) < 5 ||
	       __atomic_load_n(&r[1].ok, __ATOMIC_RELAXED) < 5)
		sched_yield();
	CHECK_OK(micmem_close(h));
	for (int i = 0; i < 2; i++) {
		pthread_join(r[i].th, NULL);
		EXPECT_EQ(r[i].ebadf, 1);
		EXPECT_EQ(r[i].other, 0);
	}
	munmap(buf, MiB);
}

int main(int argc, char **argv)
{
	pid_t d;

	h_init(argc, argv, "micmem_threads", 240, NULL);
	if (getenv("MICMEM_TEST_ITERS"))
		g_iters = (unsigned)atoi(getenv("MICMEM_TEST_ITERS"));
	d = h_scifd_start(2);
	t_concurrent();
	t_close_under_load();
	h_scifd_stop(d);
	return h_finish();
}
