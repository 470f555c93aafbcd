/* SPDX-License-Identifier: MIT */
/*
 * probe.c - ask the kernel whether memory is mapped, without touching it.
 *
 * PROCMAP_QUERY (Linux 6.11) answers "which mapping covers this address,
 * with which protection" in one ioctl on /proc/self/maps, at a cost that
 * does not depend on the length (a page-by-page probe with
 * process_vm_readv() or MADV_POPULATE_READ costs more than copying, and
 * MADV_POPULATE's EINVAL does not tell "no access" from "a mapping it
 * cannot populate"). Without it (before 6.11), msync() sees unmapped
 * pages only.
 * The descriptor is opened at load time; it names the process that opened
 * it, so a child of fork() replaces the inherited one with its own. If it
 * is gone (no /proc, a program that closed it), msync() does what it can.
 */
#define _GNU_SOURCE
#include "probe.h"
#include "knob.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* <linux/fs.h> of Linux 6.11; older headers lack it (the ABI is fixed) */
struct skiff_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define SKIFF_PROCMAP_QUERY _IOWR('f', 17, struct skiff_procmap_query)
#define SKIFF_VMA_READABLE 0x01
#define SKIFF_VMA_WRITABLE 0x02

#define MAPS_NONE -1 /* not open */

static int maps_fd = MAPS_NONE;
static int no_query; /* this kernel has no PROCMAP_QUERY: msync() */

/* The child's own maps, on the same descriptor number: a test (or a user)
 * counting descriptors around fork() sees no change. */
static void child_after_fork(void)
{
	int fd = maps_fd, n;

	if (fd < 0)
		return;
	n = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (n >= 0 && dup3(n, fd, O_CLOEXEC) == fd) {
		close(n);
		return;
	}
	close(fd);
	maps_fd = n >= 0 ? n : MAPS_NONE;
}

/* Opened when the library is loaded, so the descriptor exists from the
 * start rather than appearing at the first large call. */
__attribute__((constructor)) static void open_maps(void)
{
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (maps_fd < 0)
		maps_fd = MAPS_NONE;
	pthread_atfork(NULL, NULL, child_after_fork);
}

static int probe_msync(uintptr_t a, size_t len)
{
	uintptr_t start = a & ~(uintptr_t)4095;

	return msync((void *)start, a + len - start, MS_ASYNC) < 0 ? -EFAULT : 0;
}

static int mem_probe(const void *p, size_t len, int prot)
{
	uint64_t need = ((prot & PROT_READ) ? SKIFF_VMA_READABLE : 0) |
			((prot & PROT_WRITE) ? SKIFF_VMA_WRITABLE : 0);
	uintptr_t a = (uintptr_t)p, end = a + len;
	int fd;

	if (skiff_addr_plausible(p, len) < 0)
		return -EFAULT;
	if (!len)
		return 0;
	fd = __atomic_load_n(&no_query, __ATOMIC_RELAXED) ? -1 : maps_fd;
	if (fd < 0)
		return probe_msync(a, len);
	while (a < end) {
		struct skiff_procmap_query q;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_addr = a; /* flags 0: the mapping covering it exactly */
		if (ioctl(fd, SKIFF_PROCMAP_QUERY, &q) < 0) {
			if (errno == ENOENT)
				return -EFAULT; /* nothing mapped there */
			/* an older kernel, or the program closed our
			 * descriptor (its number may name another file now) */
			__atomic_store_n(&no_query, 1, __ATOMIC_RELAXED);
			return probe_msync(a, end - a);
		}
		if (q.vma_start > a || q.vma_end <= a || (q.vma_flags & need) != need)
			return -EFAULT;
		a = (uintptr_t)q.vma_end;
	}
	return 0;
}

/* errno is the exported calls' to set, and only when they fail: the
 * system calls made here leave it as they found it. */
int skiff_mem_probe(const void *p, size_t len, int prot)
{
	int e = errno, r = mem_probe(p, len, prot);

	errno = e;
	return r;
}

size_t skiff_probe_min(void)
{
	static size_t v;
	static int done; /* a benign race: every thread computes the same */

	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		/* the one knob parser (knob.c); it keeps errno */
		size_t r = (size_t)skiff_knob_u64("SKIFF_PROBE_MIN",
						  SKIFF_PROBE_MIN_DEFAULT, 0,
						  SIZE_MAX, SKIFF_KNOB_SIZE,
						  "bytes");

		__atomic_store_n(&v, r, __ATOMIC_RELAXED);
		__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

int skiff_mem_check(const void *p, size_t len, int prot)
{
	if (skiff_addr_plausible(p, len) < 0)
		return -EFAULT;
	if (!len)
		return 0;
	if (len >= skiff_probe_min())
		return skiff_mem_probe(p, len, prot);
	{
		int e = errno, r = probe_msync((uintptr_t)p, len);

		errno = e;
		return r;
	}
}
