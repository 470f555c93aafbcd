/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libscif internals shared between its files.
 *
 * Internals return 0 / a count or -errno; only the exported calls set errno.
 */
#ifndef SKIFF_INTERNAL_H
#define SKIFF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "names.h"
#include "region.h"
#include "wire.h"
#include "scif.h"

#include "api.h"

/* Exported calls end with this: -errno becomes errno and -1. */
#define SKIFF_RET(r)                                                           \
	do {                                                                   \
		long r_ = (r);                                                 \
		if (r_ < 0) {                                                  \
			errno = (int)-r_;                                      \
			return -1;                                             \
		}                                                              \
		return (int)r_;                                                \
	} while (0)

enum skiff_ep_state {
	SKIFF_EP_UNBOUND,
	SKIFF_EP_BOUND,
	SKIFF_EP_LISTENING,
	SKIFF_EP_CONNECTING, /* non-blocking connect in progress */
	SKIFF_EP_CONNECTED,
	SKIFF_EP_DISCONNECTED, /* unused by the data paths, which track the
				* peer's death in ep->dead (send and receive
				* threads must not race on ep->state) */
};

/* One direction of a connection as seen by one side. */
struct skiff_ring {
	struct skiff_ring_ctl *ctl; /* in the shared region */
	unsigned char *data;
	uint32_t size;  /* power of two: capacity size - 1 */
	uint32_t lines; /* 64-byte lines of SKIFF_LINE_DATA bytes + stamp */
	/* our side's copies (in the endpoint struct, which the processes
	 * holding the endpoint share, not in the region the peer writes):
	 * never re-read our own index from the region.
	 * 64 bits so that the line of a position never wraps; the shared
	 * head/tail/stamps carry the low 32 bits */
	uint64_t pos;    /* producer: head; consumer: tail */
	uint32_t cached; /* producer: last tail seen (consumers read line stamps) */
	uint32_t posted;    /* producer: doorbells sent */
	uint32_t c_posted;  /* producer: credits sent */
	uint32_t drained;   /* consumer: doorbells drained */
	uint32_t c_drained; /* consumer: credits drained */
	uint32_t owed_d, owed_c; /* producer: counted, not sent yet (EAGAIN) */
	uint64_t full_ns; /* producer: when a call last found the ring full */
	/* rate limit of liveness checks, per direction: the sending and the
	 * receiving thread each keep their own */
	unsigned hup_check;
	uint64_t last_check; /* CLOCK_MONOTONIC_COARSE ns */

	/* single-copy rendezvous (rdv.c) */
	uint64_t dtotal; /* producer: bytes delivered directly; consumer: accounted */
	/* consumer: the announcement open in this receive (our own copies:
	 * the region's may be scribbled on) */
	uint64_t rdv_len, rdv_dbase;
	uint32_t rdv_xpos, rdv_gen;
	int rdv_open;
	/* producer: the peer's process (SO_PEERCRED) and a pidfd on it, held
	 * by the one process (rdv_owner) that sends by rendezvous; -1 owner:
	 * rendezvous off on this connection (rdv_off says why) */
	int rdv_pidfd;
	pid_t rdv_owner, peer_pid;
	int rdv_off;
	int rdv_streak; /* producer: the last large send ended by rendezvous */
};

/* --- windows and RMA (window.c, rma.c, dma.c, fence.c, mmap.c) --- */

/* A range of user memory re-backed by a memfd (window.c). */
struct skiff_backing {
	uintptr_t start;
	size_t len;
	void *marker; /* a page carrying the range's advice from before (fork) */
	int fd;
	int refs; /* windows using it */
	unsigned id; /* in the memfd's name: tells our mapping from others */
};

/* Part of a local window backed by one memfd. */
struct skiff_piece {
	struct skiff_backing *b;
	uint64_t file_off;
	uint64_t len;
	unsigned char *view; /* the library's own mapping: immune to the
			      * user's later munmap/mmap of the range */
};

struct skiff_lwin {
	uint64_t off, len;
	int prot;
	int peer_refs; /* the peer's scif_mmap()s of (part of) it */
	int zombie;    /* unregistered, waiting for peer_refs to drop */
	unsigned npieces;
	struct skiff_piece *pieces;
};

/* A piece of a peer's window, mapped in this process. */
struct skiff_rwin {
	uint64_t off, len;
	int prot;
	unsigned char *map; /* NULL until first used (large pieces) */
	uint64_t dead_seq; /* graveyard: unmap once RMAs up to it are done */
	int fd; /* the piece's memfd while not mapped yet, else -1 */
	int mprot;
	uint64_t file_off;
};

#define SKIFF_RMA_TRACK 4096 /* RMAs in flight per endpoint */

struct skiff_sig; /* fence.c */

struct skiff_rma {
	int ctl;           /* RMA control socket */
	int svc;           /* watched by the control service (window.c) */
	uint32_t ctl_seen; /* records of the peer consumed */
	uint32_t ctl_sent;
	pthread_mutex_t lock; /* tables below, ctl socket */
	struct skiff_lwin *lwin; /* sorted by off */
	size_t nlwin, caplwin;
	struct skiff_rwin *rwin; /* sorted by off */
	size_t nrwin, caprwin;
	struct skiff_rwin *grave;
	size_t ngrave, capgrave;
	uint64_t next_auto; /* where automatic offsets continue */
	uint32_t del_sent, del_acked; /* WIN_DEL round trips */

	/* completion tracking, in submission order */
	pthread_mutex_t clock;
	pthread_cond_t ccond;
	uint64_t submitted;  /* under clock */
	_Atomic uint64_t completed;
	unsigned char done[SKIFF_RMA_TRACK];
	struct skiff_sig *sigs; /* fence signals waiting, under clock */
	struct skiff_rma_ctl *self_ctl, *peer_ctl; /* in the region */

	/* records the ctl socket did not take yet, in order (window.c); a
	 * peer that leaves too many unread breaks the connection */
	pthread_mutex_t out_lock; /* the queue, sends, ctl_sent; never held
				   * while waiting */
	struct skiff_outrec *outq;
	size_t nout, outhead, capout;
	_Atomic int want_out; /* nout != 0, for the service's poll set */
	_Atomic int broken;   /* the peer broke the RMA protocol: reset */
	int in_svc, svc_skip; /* the service works on it (svc_lock) / its
			       * lock was busy (the service only) */
	uint64_t peer_bytes;  /* declared by the peer's live/dying pieces */
	unsigned nlazy;       /* pieces kept as a descriptor, not mapped */
	_Atomic uint64_t peer_marked; /* highest INIT_PEER mark handed out */
	unsigned gen; /* skiff_fork_gen when made: a fork() child's is older */
};

/* The stamp of the line where byte @pos of ring @r lives (region.h). */
static inline uint32_t *skiff_line_stamp(struct skiff_ring *r, uint64_t pos)
{
	uint64_t line = (pos / SKIFF_LINE_DATA) % r->lines;

	return (uint32_t *)(void *)(r->data + line * 64 + SKIFF_LINE_DATA);
}

static inline unsigned char *skiff_line_byte(struct skiff_ring *r, uint64_t pos)
{
	return r->data + ((pos / SKIFF_LINE_DATA) % r->lines) * 64 +
	       pos % SKIFF_LINE_DATA;
}

/* Consumer: bytes readable in the line of its next byte (0: none yet). A
 * stamp from an earlier lap is behind pos; one a hostile producer wrote is
 * clamped to the line, so reads stay inside the ring. */
static inline uint32_t skiff_line_avail(struct skiff_ring *r)
{
	uint32_t st = __atomic_load_n(skiff_line_stamp(r, r->pos), __ATOMIC_ACQUIRE);
	int32_t a = (int32_t)(st - (uint32_t)r->pos);
	uint32_t room = SKIFF_LINE_DATA - (uint32_t)(r->pos % SKIFF_LINE_DATA);

	return a <= 0 ? 0 : ((uint32_t)a > room ? room : (uint32_t)a);
}

/*
 * A lock shared by the processes holding an endpoint (endpoint.c): a futex
 * word holding the owner's thread id, so that a holder killed inside a call
 * is noticed (waiters look at the owner when a sleep times out) instead of
 * hanging the others. Uncontended, one atomic instruction each way, as a
 * plain mutex.
 */
struct skiff_lock {
	_Atomic uint32_t w; /* 0: free; else owner tid | SKIFF_LOCK_WAITERS */
};
#define SKIFF_LOCK_WAITERS 0x80000000u
#define SKIFF_LOCK_TID 0x3fffffffu

struct skiff_ep {
	int fd;           /* the descriptor the user holds (epd) */
	int sock;         /* socket while bound but not yet visible, else -1 */
	dev_t dev;        /* identity of the file at fd, to detect plain close() */
	ino_t ino;
	enum skiff_ep_state state;
	uint16_t node, port;           /* local */
	uint16_t peer_node, peer_port; /* remote */
	int backlog;
	int side; /* 0 connector, 1 acceptor */
	uint64_t cookie;

	/* connection */
	struct skiff_region_hdr *region;
	size_t region_size;
	struct skiff_ring tx, rx;
	_Atomic int dead;      /* socket hung up / protocol violation */
	_Atomic int64_t poll_hup_ns; /* scif_poll's last look at the socket */
	struct skiff_rma *rma; /* windows, RMA, fences: while connected */
	/* The struct lives in MAP_SHARED memory, so that a listening or
	 * connected endpoint inherited by fork() is one endpoint (one stream,
	 * one set of ring positions, these locks) in every process holding
	 * it, as when it lived in the kernel. */
	struct skiff_lock send_lock;
	struct skiff_lock recv_lock;
	struct skiff_lock lock; /* state changes: bind, listen, connect, close */
	/* inherited by a fork() child at least once: scif_close then asks
	 * the kernel whether other processes hold it (endpoint.c) */
	_Atomic int forked;
};

/* process-wide context */
struct skiff_ctx {
	char fabric[SKIFF_FABRIC_MAX + 1];
	int fabric_err; /* -errno if SCIF_FABRIC is malformed */
	int node;       /* this process's node, or -ENODEV */
	int node_set;   /* chosen by SCIF_NODE, not the default */
};
const struct skiff_ctx *skiff_ctx(void);

/* window.c */
/* Bumped in every fork() child: RMA state made before (inherited) is the
 * parent's, and refused in the child (ENOTCONN). */
extern unsigned skiff_fork_gen;
int skiff_rma_attach(struct skiff_ep *ep, int ctl);
void skiff_rma_detach(struct skiff_ep *ep);
/* This process lets go of @ep's RMA state without a word to the peer: a
 * scif_close that is not the endpoint's last (another process inherited it
 * and still holds it). endpoint.c has a weak fallback that only stops the
 * control service watching it; window.c may define the real one. */
void skiff_rma_release(struct skiff_ep *ep);
void skiff_rma_sync_locked(struct skiff_ep *ep); /* rma->lock held */
void skiff_svc_del(struct skiff_ep *ep);
int skiff_rma_enter(int epd, struct skiff_ep **out); /* state checks */
struct skiff_lwin *skiff_lwin_find(struct skiff_rma *r, uint64_t off);
struct skiff_rwin *skiff_rwin_find(struct skiff_rma *r, uint64_t off);
int skiff_rwin_map(struct skiff_rma *r, struct skiff_rwin *w); /* lazily */
int skiff_rma_send_range(struct skiff_ep *ep, uint16_t type, uint64_t off,
			 uint64_t len);
unsigned char *skiff_lwin_addr(struct skiff_lwin *w, uint64_t off,
			       uint64_t *contig);
unsigned char *skiff_lwin_user_addr(struct skiff_lwin *w, uint64_t off,
				    uint64_t *contig);

/* dma.c */
struct skiff_seg {
	unsigned char *dst;
	const unsigned char *src;
	size_t n;
};
int skiff_dma_submit(struct skiff_ep *ep, struct skiff_seg *segs, size_t nseg,
		     size_t total, int flags, uint64_t *seq_out);
uint64_t skiff_rma_begin_inline(struct skiff_ep *ep);
void skiff_rma_complete(struct skiff_ep *ep, uint64_t seq);
int skiff_rma_wait(struct skiff_ep *ep, uint64_t seq);
void skiff_copy(unsigned char *dst, const unsigned char *src, size_t n);
void skiff_copy_ordered(struct skiff_seg *segs, size_t nseg, size_t total);

/* fence.c */
void skiff_fence_fire(struct skiff_rma *r, uint64_t done); /* under clock */
void skiff_fence_drop(struct skiff_rma *r);

/* mmap.c */
void skiff_mmap_forget(struct skiff_ep *ep);

/* endpoint.c */
int skiff_ep_get(int epd, struct skiff_ep **out); /* -EBADF / -ENOTTY */
int skiff_ep_get_fast(int epd, struct skiff_ep **out); /* no identity check */
int skiff_ep_register(struct skiff_ep *ep);          /* after accept */
struct skiff_ep *skiff_ep_alloc(void);
void skiff_ep_free(struct skiff_ep *ep);
int skiff_ep_make_visible(struct skiff_ep *ep, int sock);
int skiff_ep_refresh_identity(struct skiff_ep *ep);
int skiff_error_pipe(void);
/* 0 if ep->fd is still the file we made it, else -EBADF (the user closed it
 * with close() and the number was reused). Called before every system call
 * on ep->fd in the data paths; the pure shared-memory fast path skips it. */
int skiff_ep_verify(struct skiff_ep *ep);
/* endpoint locks: the fast paths inline, the rest in endpoint.c */
extern __thread uint32_t skiff_tid __attribute__((tls_model("initial-exec")));
uint32_t skiff_tid_init(void);
pid_t skiff_self_pid(void); /* getpid(), cached */
int skiff_lock_slow(struct skiff_ep *ep, struct skiff_lock *l, int try);
void skiff_unlock_slow(struct skiff_lock *l);

static inline uint32_t skiff_self_tid(void)
{
	uint32_t t = skiff_tid;

	return __builtin_expect(t != 0, 1) ? t : skiff_tid_init();
}

static inline void skiff_ep_lock(struct skiff_ep *ep, struct skiff_lock *l)
{
	uint32_t z = 0;

	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
				     &l->w, &z, skiff_self_tid(),
				     memory_order_acquire, memory_order_relaxed), 0))
		skiff_lock_slow(ep, l, 0);
}

/* 0 with @l held, else EBUSY (like pthread_mutex_trylock) */
static inline int skiff_ep_trylock(struct skiff_ep *ep, struct skiff_lock *l)
{
	uint32_t z = 0;

	if (__builtin_expect(atomic_compare_exchange_strong_explicit(
				     &l->w, &z, skiff_self_tid(),
				     memory_order_acquire, memory_order_relaxed), 1))
		return 0;
	return skiff_lock_slow(ep, l, 1);
}

static inline void skiff_ep_unlock(struct skiff_lock *l)
{
	if (__builtin_expect(atomic_exchange_explicit(&l->w, 0, memory_order_release) &
			     SKIFF_LOCK_WAITERS, 0))
		skiff_unlock_slow(l);
}

/* A holder of @l died inside the library: leave the stream consistent or
 * the connection cleanly reset (the caller now holds @l). */
void skiff_ep_owner_died(struct skiff_ep *ep, struct skiff_lock *l);

/* msg.c: how long a blocking call polls shared memory before it sleeps
 * (SKIFF_SPIN_US; ns) */
long skiff_spin_budget(void);

/* connect.c */
int skiff_sock_setup(int sock);
/* The endpoint lets go of its port name (closing): automatic binds may
 * pick it again. Call before its state is reset. */
void skiff_port_release(struct skiff_ep *ep);

/* ring.c: the connection's shared rings and their readiness records */
int skiff_conn_attach(struct skiff_ep *ep, int memfd, int side,
		      uint32_t ring_size, size_t region_size);
void skiff_conn_detach(struct skiff_ep *ep);
/* Connected: say which socket is ours in the region (for scif info). */
void skiff_conn_publish(struct skiff_ep *ep);
int skiff_region_create(uint32_t ring_size, int *memfd_out);
uint32_t skiff_ring_size_knob(void);
int skiff_peer_gone(struct skiff_ep *ep);
int skiff_check_hup(struct skiff_ep *ep);
uint32_t skiff_rx_avail(struct skiff_ep *ep, int *bad);
uint32_t skiff_tx_space(struct skiff_ep *ep, int *bad); /* send_lock held */
uint32_t skiff_tx_room(struct skiff_ep *ep, int *bad); /* any thread */
/* @block / @wait: the caller is a blocking call (or about to sleep), which
 * may wait briefly for a record on its way; a non-blocking one never does */
int skiff_post_data_doorbell(struct skiff_ep *ep, uint32_t h0, int block);
int skiff_post_credit(struct skiff_ep *ep, int block);
int skiff_drain_doorbells(struct skiff_ep *ep, int wait);
void skiff_recv_leave(struct skiff_ep *ep, int wait);
void skiff_spin_announce(struct skiff_ep *ep, uint32_t want);
int skiff_drain_credits(struct skiff_ep *ep, int wait);
int skiff_take_record(struct skiff_ep *ep);
void skiff_mark_dead(struct skiff_ep *ep);
int skiff_post_doorbell(struct skiff_ep *ep); /* send_lock held */

/* Consumer (recv_lock held): bytes delivered by rendezvous into the buffer
 * it announced, not accounted yet (rdv.c validates them). With no
 * announcement open, a moving dtotal is the peer's nonsense: not data (the
 * next announcement's accounting finds it and resets the connection). */
static inline int skiff_rx_direct(struct skiff_ep *ep)
{
	return ep->rx.rdv_open &&
	       __atomic_load_n(&ep->rx.ctl->dtotal, __ATOMIC_ACQUIRE) != ep->rx.dtotal;
}

/* rdv.c: single-copy rendezvous for large blocking transfers */
void skiff_rdv_open(struct skiff_ep *ep, unsigned char *buf, uint32_t len);
int skiff_rdv_take(struct skiff_ep *ep);
int skiff_rdv_close(struct skiff_ep *ep);
void skiff_rdv_wait(struct skiff_ep *ep, int on);
int skiff_rdv_send(struct skiff_ep *ep, const unsigned char *src, uint32_t n);
int skiff_rdv_expect(struct skiff_ep *ep); /* an announcement may come */
void skiff_rdv_release(struct skiff_ep *ep);
void skiff_rdv_forked(struct skiff_ep *ep); /* in a fork() child */
void skiff_rdv_owner_died(struct skiff_ep *ep, int sender);


#endif
