/* SPDX-License-Identifier: MIT */
/*
 * range.c - pin host ranges and describe them in segments.
 *
 * Pinning is what the driver's scif_pin_pages did, in user space: fault
 * every page in writable (MADV_POPULATE_WRITE), then mlock() it so it
 * stays resident. mlock() is limited by RLIMIT_MEMLOCK for unprivileged
 * users; when it refuses, the range is still populated and usable, only not
 * locked (micmem_rangeinfo reports it).
 *
 * Huge-page awareness: a 2 MiB-aligned, 2 MiB part of the range that is
 * backed by one transparent huge page (or hugetlbfs) is one segment; every
 * other page is a 4 KiB segment. Copies walk the segments, as the driver's
 * DMA walked its descriptors. Detection uses the PAGEMAP_SCAN ioctl of
 * /proc/self/pagemap (Linux 6.7; needs no privilege, unlike the PFNs), and
 * falls back to /proc/self/smaps: a VMA whose AnonHugePages covers all of
 * its 2 MiB-aligned units counts as huge-backed, any other as 4 KiB pages.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* <linux/fs.h> of Linux 6.7; the installed headers may predate it. */
struct mm_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
struct mm_page_region {
	uint64_t start, end, categories;
};
#define MM_PAGEMAP_SCAN _IOWR('f', 16, struct mm_pm_scan_arg)
#define MM_PAGE_IS_HUGE (1u << 6)

static void mark_huge(struct mm_range *r, uint64_t s, uint64_t e)
{
	uint64_t lo = (uintptr_t)r->base, hi = lo + r->size;

	s = (s + MM_HUGE - 1) & ~(MM_HUGE - 1);
	if (s < lo)
		s = lo;
	for (; s + MM_HUGE <= e && s + MM_HUGE <= hi; s += MM_HUGE) {
		uint64_t k = (s - r->ubase) / MM_HUGE;

		r->huge[k / 8] |= (uint8_t)(1u << (k % 8));
	}
}

/* 0 if the scan ran (bits set where huge), -1 if the kernel lacks it. */
static int scan_pagemap(struct mm_range *r, uint64_t s, uint64_t e)
{
	struct mm_page_region vec[64];
	struct mm_pm_scan_arg a;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (s < e) {
		long n;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = s;
		a.end = e;
		a.vec = (uintptr_t)vec;
		a.vec_len = 64;
		a.category_mask = MM_PAGE_IS_HUGE;
		a.return_mask = MM_PAGE_IS_HUGE;
		n = ioctl(fd, MM_PAGEMAP_SCAN, &a);
		if (n < 0) {
			close(fd);
			return -1;
		}
		for (long i = 0; i < n; i++)
			mark_huge(r, vec[i].start, vec[i].end);
		if (a.walk_end <= s)
			break; /* no progress: do not loop */
		s = a.walk_end;
	}
	close(fd);
	return 0;
}

/* The smaps fallback: all or nothing per VMA. */
static void scan_smaps(struct mm_range *r, uint64_t s, uint64_t e)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	uint64_t vs = 0, ve = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b, kb;

		if (sscanf(line, "%llx-%llx ", &a, &b) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			vs = a;
			ve = b;
		} else if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1 &&
			   kb && ve > s && vs < e) {
			uint64_t us = (vs + MM_HUGE - 1) & ~(MM_HUGE - 1);
			uint64_t ue = ve & ~(MM_HUGE - 1);

			if (ue > us && kb * 1024 >= ue - us)
				mark_huge(r, vs > s ? vs : s, ve < e ? ve : e);
		}
	}
	fclose(f);
}

static void count_segments(struct mm_range *r)
{
	uint64_t off = 0;

	r->huge_segs = r->small_segs = 0;
	while (off < r->size) {
		uint64_t n = mm_seg_len(r, off, r->size - off);

		if (n == MM_HUGE &&
		    ((uintptr_t)r->base + off) % MM_HUGE == 0)
			r->huge_segs++;
		else
			r->small_segs++;
		off += n;
	}
}

/* Every page of [b, e) is mapped readable and writable (a device writes
 * into host ranges): walk /proc/self/maps, which lists VMAs in order. */
static int all_mapped_rw(uint64_t b, uint64_t e)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uint64_t at = b; /* covered up to here */

	if (!f)
		return -errno;
	while (at < e && fgets(line, sizeof(line), f)) {
		unsigned long long vs, ve;
		char perm[8], rest[256];

		/* a long line (a path) is read in pieces: skip the rest */
		if (!strchr(line, '\n'))
			while (fgets(rest, sizeof(rest), f) &&
			       !strchr(rest, '\n'))
				;
		if (sscanf(line, "%llx-%llx %7s", &vs, &ve, perm) != 3)
			continue;
		if (ve <= at)
			continue;
		if (vs > at || perm[0] != 'r' || perm[1] != 'w')
			break; /* a hole, or not read-write */
		at = ve;
	}
	fclose(f);
	return at >= e ? 0 : -EINVAL;
}

int mm_range_pin(char *base, uint64_t size, struct mm_range **out)
{
	uintptr_t b = (uintptr_t)base, end, uend;
	struct mm_range *r;
	size_t nunits;
	int ret;

	if (!base || size == 0 || b % MM_PAGE || size % MM_PAGE ||
	    size > UINTPTR_MAX - b)
		return -EINVAL;
	end = b + size;
	ret = all_mapped_rw(b, end);
	if (ret < 0)
		return ret;
	/* writable, resident: what a device writing into it needs */
	if (madvise(base, size, MADV_POPULATE_WRITE) < 0) {
		if (errno == ENOMEM)
			return -ENOMEM;
		if (errno != EINVAL)
			return -EINVAL; /* EFAULT: e.g. beyond a file's end */
		/* a kernel before 5.14: mlock() below populates */
	}

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base = base;
	r->size = size;
	r->ubase = b & ~(uintptr_t)(MM_HUGE - 1);
	uend = (end + MM_HUGE - 1) & ~(uintptr_t)(MM_HUGE - 1);
	nunits = (uend - r->ubase) / MM_HUGE;
	r->huge = calloc((nunits + 7) / 8, 1);
	if (!r->huge) {
		free(r);
		return -ENOMEM;
	}
	if (mlock(base, size) == 0) {
		r->locked = 1;
	} else if (errno != EPERM && errno != ENOMEM && errno != EAGAIN) {
		ret = -errno;
		mm_range_free(r);
		return ret;
	}
	/* only whole, aligned 2 MiB units can be huge segments */
	{
		uint64_t s = (b + MM_HUGE - 1) & ~(uint64_t)(MM_HUGE - 1);
		uint64_t e = end & ~(uint64_t)(MM_HUGE - 1);

		if (e > s && scan_pagemap(r, s, e) < 0)
			scan_smaps(r, s, e);
	}
	count_segments(r);
	*out = r;
	return 0;
}

void mm_range_free(struct mm_range *r)
{
	if (!r)
		return;
	if (r->locked)
		munlock(r->base, r->size);
	free(r->huge);
	free(r);
}
