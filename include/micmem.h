/* SPDX-License-Identifier: MIT */
/*
 * micmem.h - fast host<->card copies (skiff's libmicmem.so.0, MICMEM_0.0).
 *
 * Modelled on the micmem ioctls of the PathScale Xeon Phi driver (2014): a
 * handle (like an open /dev/mic/ctrl) selects at most one board, host ranges
 * are pinned and mapped once, and copies between a mapped host range and the
 * card's device memory are synchronous. In skiff, board b is this host's
 * card b: node FIRST + 1 + b of the fabric (SCIF_FABRIC), FIRST being the
 * host's own node (0 on a single host) and its device memory is owned by scifd
 * (`scifd --cards N --card-mem SIZE`).
 *
 * Every call returns 0 (or a handle, or an address) on success, and -1 (or
 * MICMEM_MAP_FAILED) with errno set on failure. See micmem(3).
 */
#ifndef MICMEM_H
#define MICMEM_H

/* skiff's release (not part of the original API), the same in scif.h and
 * micmem.h; kept equal to project(VERSION) in CMakeLists.txt (test
 * version_macros). */
#define SKIFF_VERSION_MAJOR 0
#define SKIFF_VERSION_MINOR 1
#define SKIFF_VERSION_PATCH 0

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Transfer flags: how many DMA channels a copy uses. */
#define MICMEM_AUTO   0 /* SINGLE or DUAL by size (measured crossover) */
#define MICMEM_SINGLE 1 /* one channel */
#define MICMEM_DUAL   2 /* split in two halves, one per channel */

/* What micmem_devmap returns on failure (like MAP_FAILED). */
#define MICMEM_MAP_FAILED ((void *)-1)

/* A handle (>= 0), like opening the control device; -1 with errno EMFILE
 * when the process has too many, ENOMEM. */
int micmem_open(void);
/* Close the board (if any) and unmap every range; the handle is freed. */
int micmem_close(int h);

/* Select board @board (this host's card @board: node FIRST + 1 + board) for handle @h. ENODEV if that
 * card is not online, EBUSY if @h already has a board, EPERM if the card's
 * memory belongs to another user. */
int micmem_opendev(int h, uint32_t board);
/* Release the board: unmaps the handle's ranges. ENODEV if none is open. */
int micmem_closedev(int h);

/* Pin and map a page-aligned host range [addr, addr + size) for transfers
 * (EINVAL if unaligned, empty, not mapped read-write, or overlapping a range
 * mapped already; ENODEV without a board). */
int micmem_maprange(int h, void *addr, uint64_t size);
/* Unmap the range that micmem_maprange mapped at @addr (EINVAL if none). */
int micmem_unmaprange(int h, void *addr);

/*
 * Copy @size bytes from the mapped range whose base is @src, starting at
 * @src_offset, to device memory at @dest_dev (a byte offset in the card's
 * memory). Synchronous. EINVAL if @src is not the base of a mapped range,
 * if [src_offset, +size) leaves the range or [dest_dev, +size) the device
 * memory, or for unknown @flags; ENODEV if no board is open or the card went
 * offline (its scifd stopped).
 */
int micmem_host2dev(int h, void *src, uint64_t src_offset, uint64_t dest_dev,
		    uint64_t size, int flags);
/* The reverse: device memory at @src_dev to the range based at @dest. */
int micmem_dev2host(int h, void *dest, uint64_t dest_offset, uint64_t src_dev,
		    uint64_t size, int flags);

/* How a mapped range is described to the copy engine (skiff extension). */
struct micmem_range_info {
	uint64_t size;          /* bytes of the range */
	uint64_t segments;      /* copy descriptors: huge + small */
	uint64_t huge_segments; /* 2 MiB segments (THP-backed, 2 MiB-aligned) */
	uint64_t small_segments; /* 4 KiB segments */
	uint32_t locked;        /* 1: mlock()ed; 0: populated only (the
				 * RLIMIT_MEMLOCK limit refused the lock) */
	uint32_t reserved;
};
/* Describe the range mapped at @addr (EINVAL if none). */
int micmem_rangeinfo(int h, void *addr, struct micmem_range_info *info);
/* Bytes of device memory of the handle's board (ENODEV if none). */
int micmem_devsize(int h, uint64_t *size);

/*
 * Map device memory of board @board, [dev_addr, dev_addr + size), into this
 * process (any node; typically a program on the card node), so card software
 * sees what the host wrote and the host sees what it writes. @prot is
 * PROT_READ, PROT_WRITE or both (<sys/mman.h>). @dev_addr and @size must be
 * page-aligned and inside the device memory (EINVAL); ENODEV, EPERM as for
 * micmem_opendev. The mapping stays valid after scifd stops (the memory then
 * belongs to no card any more). Returns MICMEM_MAP_FAILED on failure.
 */
void *micmem_devmap(uint32_t board, uint64_t dev_addr, uint64_t size, int prot);
/* Unmap what micmem_devmap returned (EINVAL if @addr is not page-aligned). */
int micmem_devunmap(void *addr, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif
