/* SPDX-License-Identifier: MIT */
/*
 * api.c - the exported calls of micmem.h.
 *
 * As in libscif (src/lib/api.c), errno changes only when a call fails:
 * the implementations make system calls that may fail harmlessly on the
 * way, so each exported call restores the caller's errno on success.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"
#include "micmem.h"
#include "keep_errno.h"

#define MM_EXPORT __attribute__((visibility("default")))


MM_EXPORT int micmem_open(void)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_open());
}

MM_EXPORT int micmem_close(int h)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_close(h));
}

MM_EXPORT int micmem_opendev(int h, uint32_t board)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_opendev(h, board));
}

MM_EXPORT int micmem_closedev(int h)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_closedev(h));
}

MM_EXPORT int micmem_maprange(int h, void *addr, uint64_t size)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_maprange(h, addr, size));
}

MM_EXPORT int micmem_unmaprange(int h, void *addr)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_unmaprange(h, addr));
}

MM_EXPORT int micmem_rangeinfo(int h, void *addr,
			       struct micmem_range_info *info)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_rangeinfo(h, addr, info));
}

MM_EXPORT int micmem_devsize(int h, uint64_t *size)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_devsize(h, size));
}

MM_EXPORT int micmem_host2dev(int h, void *src, uint64_t src_offset,
			      uint64_t dest_dev, uint64_t size, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   mm_api_host2dev(h, src, src_offset, dest_dev, size, flags));
}

MM_EXPORT int micmem_dev2host(int h, void *dest, uint64_t dest_offset,
			      uint64_t src_dev, uint64_t size, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   mm_api_dev2host(h, dest, dest_offset, src_dev, size, flags));
}

MM_EXPORT void *micmem_devmap(uint32_t board, uint64_t dev_addr, uint64_t size,
			      int prot)
{
	SKIFF_KEEP_ERRNO(void *, MICMEM_MAP_FAILED,
		   mm_api_devmap(board, dev_addr, size, prot));
}

MM_EXPORT int micmem_devunmap(void *addr, uint64_t size)
{
	SKIFF_KEEP_ERRNO(int, -1, mm_api_devunmap(addr, size));
}
