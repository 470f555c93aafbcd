/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libmicmem internals (see include/micmem.h, docs/PROTOCOL.md
 * section 7 and micmem(3)).
 *
 * Internals return 0 or -errno; the exported calls convert once.
 */
#ifndef SKIFF_MICMEM_INTERNAL_H
#define SKIFF_MICMEM_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#define MM_PAGE      4096ull
#define MM_HUGE      (2ull << 20)
#define MM_LINE      64ull
#define MM_NCHAN     2
#define MM_CHUNK     (256ull << 10) /* unit of work sharing in DUAL */
#define MM_MAX_HANDLES 1024
/* board b is card node b + 1; nodes end at SKIFF_MAX_NODE (255) */
#define SKIFF_MICMEM_MAX_BOARDS 255

/* ---- host ranges (range.c) ---- */

struct mm_range {
	struct mm_range *next;
	char *base;
	uint64_t size;
	uintptr_t ubase;   /* base rounded down to 2 MiB: unit 0 starts here */
	uint8_t *huge;     /* bit k: unit k is THP-backed and inside the range */
	uint64_t huge_segs, small_segs;
	int locked;
	int has_win;  /* a board of another host: registered there (remote.c) */
	uint64_t win; /* at this offset of its connection */
};

/* Pin [base, base + size) (populate, mlock if allowed) and describe it in
 * segments. *out is malloc()ed; 0 or -errno (EINVAL, ENOMEM). */
int mm_range_pin(char *base, uint64_t size, struct mm_range **out);
void mm_range_free(struct mm_range *r);

/* Length of the segment at @off (to its end), at most @max. */
static inline uint64_t mm_seg_len(const struct mm_range *r, uint64_t off,
				  uint64_t max)
{
	uintptr_t a = (uintptr_t)r->base + off;
	uint64_t k = (a - r->ubase) / MM_HUGE, end;

	if (r->huge[k / 8] & (1u << (k % 8)))
		end = r->ubase + (k + 1) * MM_HUGE;
	else
		end = (a & ~(uintptr_t)(MM_PAGE - 1)) + MM_PAGE;
	return end - a < max ? end - a : max;
}

/* ---- copies (copy.c) ---- */

enum mm_dir { MM_H2D, MM_D2H };

struct mm_req; /* a transfer's completion, on the caller's stack */

/* A piece of a transfer: what one channel copies. */
struct mm_piece {
	struct mm_piece *prev, *next; /* in a channel queue while queued */
	int queued;                   /* under the channel's lock */
	struct mm_req *req;
	const struct mm_range *r;
	uint64_t off;   /* in the host range */
	char *dev;      /* in the device mapping */
	uint64_t len;
	enum mm_dir dir;
	uint64_t cursor; /* atomic: bytes claimed, in MM_CHUNK steps */
};

struct mm_chan {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mm_piece *head, *tail;
	int nq;      /* queued pieces; atomic (read unlocked while spinning) */
	int stop;    /* under mu */
	int started;
	pthread_t th;
};

/* AUTO's measurements: per size class (log2 of the size), the recent
 * cost of SINGLE and DUAL in picoseconds per byte (0: not measured yet). */
#define MM_AUTO_MIN_LOG 18 /* 256 KiB: below, AUTO is always SINGLE */
#define MM_AUTO_CLASSES 24 /* classes 18..41 */
struct mm_auto {
	uint64_t cost[2];  /* atomic: [0] SINGLE, [1] DUAL */
	uint64_t n;        /* atomic: AUTO transfers of this class */
};

struct mm_engine {
	struct mm_chan ch[MM_NCHAN];
	struct mm_auto au[MM_AUTO_CLASSES];
	int restart;             /* atomic: a fork() child, workers to start */
	pthread_mutex_t start_mu; /* who starts them */
};

int mm_engine_start(struct mm_engine *e);
void mm_engine_stop(struct mm_engine *e);
/* In a fork() child: the workers are not there, the queues and locks are
 * the parent's; reset them, and start workers again on the next transfer. */
void mm_engine_forked(struct mm_engine *e);
/* Copy synchronously; @flags MICMEM_SINGLE/DUAL/AUTO (validated). */
void mm_transfer(struct mm_engine *e, const struct mm_range *r, uint64_t off,
		 char *dev, uint64_t len, enum mm_dir dir, int flags);
/* Bytes from which AUTO uses DUAL when MICMEM_DUAL_MIN fixes it, else 0
 * (AUTO measures). */
uint64_t mm_dual_min(void);

/* ---- the daemon (daemon.c) ---- */

/*
 * Ask the fabric's scifd for the memory of card @node. On success returns 0
 * with the memfd in *memfd and its size in *size; if @sock is not NULL the
 * daemon connection is kept there (it hangs up when the daemon goes away).
 * -ENODEV (no daemon, card not online), -EPERM (not the fabric owner's
 * user), or another -errno.
 */
/* The node of card @board: this host's cards first (its self node + 1 +
 * board), then those of the fabric file's other hosts in its order, with
 * *remote = 1 for those. 0 or -ENODEV (no such card, not online, no
 * daemon). */
int mm_board_node(uint32_t board, uint32_t *node, int *remote);
int mm_card_mem(uint32_t node, int *memfd, uint64_t *size, int *sock);

/* ---- a board of another host (remote.c) ---- */

/* Connect to card @node's daemon: the connection in *epd, the card's
 * memory size in *size. -ENODEV, -EPERM (another user's card), -ENOMEM. */
int mm_remote_open(uint32_t node, int *epd, uint64_t *size);
void mm_remote_close(int epd);
/* A mapped range becomes a window of the connection (its offset in *off). */
int mm_remote_register(int epd, void *base, uint64_t size, uint64_t *off);
void mm_remote_unregister(int epd, uint64_t off, uint64_t size);
/* One transfer between window offset @win and device address @dev. */
int mm_remote_copy(int epd, uint64_t win, uint64_t dev, uint64_t len,
		   enum mm_dir dir);

/* ---- the implementations behind the exported calls (micmem.c; the
 * exported micmem_X wrappers in api.c keep errno on success) ---- */
struct micmem_range_info;
int mm_api_open(void);
int mm_api_close(int h);
int mm_api_opendev(int h, uint32_t board);
int mm_api_closedev(int h);
int mm_api_maprange(int h, void *addr, uint64_t size);
int mm_api_unmaprange(int h, void *addr);
int mm_api_rangeinfo(int h, void *addr, struct micmem_range_info *info);
int mm_api_devsize(int h, uint64_t *size);
int mm_api_host2dev(int h, void *src, uint64_t src_offset, uint64_t dest_dev,
		    uint64_t size, int flags);
int mm_api_dev2host(int h, void *dest, uint64_t dest_offset, uint64_t src_dev,
		    uint64_t size, int flags);
void *mm_api_devmap(uint32_t board, uint64_t dev_addr, uint64_t size, int prot);
int mm_api_devunmap(void *addr, uint64_t size);

#endif
