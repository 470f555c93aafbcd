/* SPDX-License-Identifier: MIT */
/*
 * bench_probe: what checking a buffer with the kernel costs (issue 7 item
 * 9), to choose how libscif turns bad pointers into EFAULT. Not a test:
 * `build/tests/bench_probe` prints, per buffer size, the cost of
 *
 *   memcpy             the copy the check would guard
 *   msync              MS_ASYNC over the range: sees unmapped pages only
 *   procmap            ioctl(PROCMAP_QUERY) on /proc/self/maps (Linux 6.11):
 *                      mapping and protection, cost independent of size
 *   populate           madvise(MADV_POPULATE_READ) (Linux 5.14): per page
 *   vm_readv           process_vm_readv() of one byte per page: per page
 *
 * and then, through the library (a connected pair in this process), the
 * calls whose cost the check changes, with the default SKIFF_PROBE_MIN and
 * with every buffer checked (run it again with SKIFF_PROBE_MIN=0 in the
 * environment: the variable is read once).
 */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

struct pmq {
	uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags,
		vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct pmq)

static int maps_fd;
static volatile int sink;

static int q_procmap(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, e = a + n;

	while (a < e) {
		struct pmq q;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_addr = a;
		if (ioctl(maps_fd, PROCMAP_QUERY, &q) < 0)
			return -1;
		a = (uintptr_t)q.vma_end;
	}
	return 0;
}

static int q_vm_readv(const void *p, size_t n)
{
	struct iovec l[1024], r[1024];
	char scratch[1024];
	uintptr_t a = (uintptr_t)p, e = a + n;
	size_t k = 0;

	while (a < e) {
		r[k].iov_base = (void *)a;
		r[k].iov_len = 1;
		l[k].iov_base = scratch + k;
		l[k].iov_len = 1;
		k++;
		a = (a | 4095) + 1;
		if (k == 1024 || a >= e) {
			if (process_vm_readv(getpid(), l, k, r, k, 0) != (ssize_t)k)
				return -1;
			k = 0;
		}
	}
	return 0;
}

static double per_call(int which, char *src, char *dst, size_t n, int iters)
{
	int64_t t0 = h_now_ns();

	for (int i = 0; i < iters; i++) {
		switch (which) {
		case 0:
			memcpy(dst, src, n);
			sink += dst[n - 1];
			break;
		case 1:
			msync(src, n, MS_ASYNC);
			break;
		case 2:
			q_procmap(src, n);
			break;
		case 3:
			madvise(src, n, MADV_POPULATE_READ);
			break;
		case 4:
			q_vm_readv(src, n);
			break;
		}
	}
	return (double)(h_now_ns() - t0) / iters;
}

struct rx {
	scif_epd_t s;
	size_t len;
	int n;
};

static void *receiver(void *a)
{
	struct rx *r = a;
	char *b = malloc(r->len);

	CHECK(b);
	for (int i = 0; i < r->n; i++)
		CHECK_EQ(scif_recv(r->s, b, (int)r->len, SCIF_RECV_BLOCK), (int)r->len);
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 4096, 64 << 10, 1 << 20, 16 << 20 };
	static const char *names[] = { "memcpy", "msync", "procmap", "populate",
				       "vm_readv" };
	char *src, *dst, *win;
	scif_epd_t c, s;
	int64_t t0;
	int n = 20000, mark;

	h_init(argc, argv, "bench_probe", 600, NULL);
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	CHECK(maps_fd >= 0);
	src = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	dst = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	CHECK(src != MAP_FAILED && dst != MAP_FAILED);
	printf("%-10s", "bytes");
	for (int w = 0; w < 5; w++)
		printf(" %10s", names[w]);
	printf("   (ns per call)\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int it = sizes[i] <= (64 << 10) ? 100000 : sizes[i] <= (1 << 20) ? 2000 : 100;

		printf("%-10zu", sizes[i]);
		for (int w = 0; w < 5; w++)
			printf(" %10.0f", per_call(w, src, dst, sizes[i], it));
		printf("\n");
	}

	printf("\nthrough libscif (SKIFF_PROBE_MIN=%s):\n",
	       getenv("SKIFF_PROBE_MIN") ? getenv("SKIFF_PROBE_MIN") : "default");
	h_pair(2500, &c, &s);
	win = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	CHECK(win != MAP_FAILED);
	CHECK_EQ(scif_register(s, win, 1 << 20, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED), 0);
	CHECK_OK(scif_vwriteto(c, src, 4096, 0, SCIF_RMA_SYNC | SCIF_RMA_USECPU));
	t0 = h_now_ns();
	for (int i = 0; i < n; i++)
		scif_vwriteto(c, src, 4096, 0, SCIF_RMA_SYNC | SCIF_RMA_USECPU);
	printf("  scif_vwriteto 4 KiB SYNC|USECPU  %8.0f ns\n",
	       (double)(h_now_ns() - t0) / n);
	t0 = h_now_ns();
	for (int i = 0; i < n; i++)
		scif_vwriteto(c, src, 1 << 20, 0, SCIF_RMA_SYNC | SCIF_RMA_USECPU);
	printf("  scif_vwriteto 1 MiB SYNC|USECPU  %8.0f ns\n",
	       (double)(h_now_ns() - t0) / n);
	t0 = h_now_ns();
	for (int i = 0; i < 10 * n; i++)
		scif_fence_mark(c, SCIF_FENCE_INIT_SELF, &mark);
	printf("  scif_fence_mark                  %8.0f ns\n",
	       (double)(h_now_ns() - t0) / (10 * n));
	for (size_t len = 64; len <= (1 << 20); len *= 64) {
		struct rx r = { .s = s, .len = len, .n = len < 65536 ? 100000 : 300 };
		pthread_t t;

		CHECK(pthread_create(&t, NULL, receiver, &r) == 0);
		t0 = h_now_ns();
		for (int i = 0; i < r.n; i++)
			CHECK_EQ(scif_send(c, src, (int)len, SCIF_SEND_BLOCK), (int)len);
		CHECK(pthread_join(t, NULL) == 0);
		printf("  scif_send+recv %7zu B          %8.0f ns\n", len,
		       (double)(h_now_ns() - t0) / r.n);
	}
	return h_finish();
}
