/* SPDX-License-Identifier: MIT */
/*
 * probe.h - is the caller's memory there? For calls whose SCIF contract is
 * EFAULT (or EINVAL) on a bad buffer, where a plain copy would crash.
 */
#ifndef SKIFF_PROBE_H
#define SKIFF_PROBE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* Above any user address on the 64-bit Linux targets (x86-64 with 5-level
 * page tables and arm64 use at most 56 and 52 bits). */
#define SKIFF_USER_TOP (1ull << 56)

/*
 * What costs no system call: -EFAULT if [p, p + len) wraps, reaches above
 * SKIFF_USER_TOP or starts in the first page (NULL plus a small offset,
 * where nothing can be mapped unless vm.mmap_min_addr is 0), else 0.
 */
static inline int skiff_addr_plausible(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	if (a < 4096 || a + len < a || (uint64_t)(a + len) > SKIFF_USER_TOP)
		return -EFAULT;
	return 0;
}

/*
 * 0 if every byte of [p, p + len) is mapped with @prot (PROT_READ and/or
 * PROT_WRITE), -EFAULT if not. One ioctl(PROCMAP_QUERY) on /proc/self/maps
 * per mapping the range spans (Linux >= 6.11), whatever len is; before
 * 6.11 one msync(), which sees unmapped pages but not protections.
 * Includes skiff_addr_plausible().
 */
int skiff_mem_probe(const void *p, size_t len, int prot);

/*
 * For calls that can afford a system call but want it cheap (the v* RMAs,
 * scif_poll's array, micmem copies): skiff_mem_probe() from
 * skiff_probe_min() bytes, below it one msync() (unmapped pages only).
 */
int skiff_mem_check(const void *p, size_t len, int prot);

/*
 * Buffers of at least this many bytes get skiff_mem_probe(); below it the
 * calls whose fast path has no system call (scif_send, scif_recv,
 * scif_fence_mark's mark) check nothing the kernel must answer, and the
 * others (skiff_mem_check) only for unmapped pages. SKIFF_PROBE_MIN from
 * the environment (bytes; 0: every call), read once, default
 * SKIFF_PROBE_MIN_DEFAULT.
 */
#define SKIFF_PROBE_MIN_DEFAULT (64u << 10)
size_t skiff_probe_min(void);

#endif
