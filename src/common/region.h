/* SPDX-License-Identifier: MIT */
/*
 * region.h - layout of a connection's shared region (a sealed memfd).
 *
 * The connector creates the region and passes it to the acceptor. It holds
 * one bounded byte ring per direction: ring i is written by side i
 * (0 = connector, 1 = acceptor). Indices are free-running uint32_t; a ring of
 * size S holds at most S - 1 bytes, as SCIF's CIRC_SPACE does.
 *
 * Each word has exactly one writer, and words written by different sides or
 * at different rates sit on different cache lines. Everything a process reads
 * that its peer wrote is validated before use: the peer may be hostile.
 */
#ifndef SKIFF_REGION_H
#define SKIFF_REGION_H

#include <stdint.h>

#define SKIFF_REGION_MAGIC   0x4e474552u /* "REGN" */
#define SKIFF_REGION_VERSION 4 /* 3: stamped ring lines; 4: rendezvous */
#define SKIFF_RING_DEFAULT   4096u       /* 4095 usable bytes, as in SCIF */
#define SKIFF_RING_MIN       4096u
#define SKIFF_RING_MAX       (64u << 20)
#define SKIFF_REGION_HDR     4096u       /* header page before the rings */

struct skiff_ring_ctl {
	/* written by the producer on every send */
	_Alignas(64) uint32_t head;
	/* written by the producer when it posts a doorbell / credit record */
	_Alignas(64) uint32_t d_posted;
	uint32_t c_posted;
	/* written by the consumer on every receive */
	_Alignas(64) uint32_t tail;
	/* written by the consumer when a blocking receive starts to poll the
	 * ring: (want << 32) | pos, "I wait at pos for want more bytes"; 0
	 * when it stops polling without having consumed. See ring.c. */
	_Alignas(64) uint64_t spin;
	/* written by the consumer when it drains doorbells / credits */
	_Alignas(64) uint32_t d_drained;
	uint32_t c_drained;
	/*
	 * Single-copy rendezvous (src/lib/rdv.c). A consumer in a blocking
	 * receive of more than the ring holds announces its buffer here; the
	 * producer of a large blocking send copies into it directly
	 * (process_vm_writev) while the ring is empty, and counts the bytes in
	 * dtotal. rdv_state: 0 closed; (gen << 2) | 1 open; (gen << 2) | 2
	 * busy (the producer is copying: only it moves it back to open). The
	 * consumer writes the other words while the state is closed.
	 */
	_Alignas(64) uint32_t rdv_state;
	uint32_t rdv_wait;  /* consumer: polling for dtotal (no doorbell needed) */
	uint32_t rdv_pid;   /* consumer: the process whose buffer it is */
	uint32_t rdv_xpos;  /* consumer: its ring position when it announced */
	uint64_t rdv_addr;  /* consumer: buffer (in rdv_pid) and its length */
	uint64_t rdv_len;
	uint64_t rdv_dbase; /* consumer: dtotal it had accounted when it announced */
	/* written by the producer: bytes delivered by rendezvous (it bumps it
	 * before it moves rdv_state back to open); why it stopped using
	 * rendezvous on this connection (an errno; 0: it has not) and how
	 * many rendezvous it made */
	_Alignas(64) uint64_t dtotal;
	uint32_t rdv_off;
	uint32_t rdv_count;
};

/* RMA progress of one side, written by that side only: fences with
 * SCIF_FENCE_INIT_PEER read the peer's (and validate what they read). */
struct skiff_rma_ctl {
	_Alignas(64) uint64_t submitted; /* RMAs initiated, by sequence */
	uint64_t completed;              /* every RMA up to this one is done */
	uint32_t ctl_posted;             /* records sent on the RMA socket */
};

struct skiff_region_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size;
	uint32_t region_size;
	/* closed[i]: side i closed its endpoint (graceful disconnect) */
	_Alignas(64) uint32_t closed[2];
	struct skiff_ring_ctl ring[2];
	struct skiff_rma_ctl rma[2];
	/* sock_ino[i]: inode of side i's connection socket, so that a tool
	 * (scif info) can tell which connection a region belongs to */
	_Alignas(64) uint64_t sock_ino[2];
};

_Static_assert(sizeof(struct skiff_region_hdr) <= SKIFF_REGION_HDR,
	       "header fits its page");

/*
 * Ring data is laid out in 64-byte lines of SKIFF_LINE_DATA data bytes and
 * a 4-byte stamp: the producer writes a line's bytes, then its stamp (the
 * low 32 bits of its position after them). A consumer waiting for data
 * polls the stamp of the line its next byte lives in, so a small message
 * moves from producer to consumer in one cache line, not two (data, then a
 * separate head index). Logical byte p lives in line (p / 60) % lines, at
 * p % 60. head and tail stay, for capacity and for the slow paths.
 */
#define SKIFF_LINE_DATA 60u

static inline uint32_t skiff_ring_lines(uint32_t ring_size)
{
	return (ring_size + SKIFF_LINE_DATA - 1) / SKIFF_LINE_DATA;
}

/* Bytes a ring of @ring_size usable-plus-one bytes occupies, page aligned. */
static inline uint32_t skiff_ring_bytes(uint32_t ring_size)
{
	return (skiff_ring_lines(ring_size) * 64u + 4095u) & ~4095u;
}

static inline uint32_t skiff_region_size(uint32_t ring_size)
{
	return SKIFF_REGION_HDR + 2 * skiff_ring_bytes(ring_size);
}

static inline uint32_t skiff_ring_offset(uint32_t ring_size, int i)
{
	return SKIFF_REGION_HDR + (uint32_t)i * skiff_ring_bytes(ring_size);
}

#endif
