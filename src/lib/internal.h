/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libscif internals shared between its files.
 *
 * Internals return 0 / a count or -errno; only the exported calls set errno.
 *
 * The files are layers: each calls only files below it, so that one can be
 * replaced or joined by another (a transport beside the local one) without
 * a knot. The lib_layers test (scripts/layers.sh) reads the calls from the
 * objects and fails on any circle. Bottom to top:
 *   endpoint.c  the endpoint table, its locks, the process context
 *   dma.c       the DMA engine; RMA completion, and the fence signals it fires
 *   ring.c      the connection's shared rings and readiness records
 *   rdv.c       single-copy rendezvous of large blocking transfers
 *   node.c      scif_get_nodeIDs
 *   msg.c       scif_send, scif_recv
 *   reback.c    user memory re-backed by memfds (windows' pages)
 *   lwin.c      the endpoint's local window table
 *   rwin.c      the peer's window table
 *   svc.c       the RMA control socket, the control service thread
 *   window.c    scif_register, scif_unregister; the endpoint's RMA state
 *   local.c     the local transport (transport.h): what windows, RMA,
 *               fences and scif_mmap need of a connection on this host
 *   relayed.c   the transport of a connection to another host, relayed
 *               by the daemons: RMAs are requests to the daemon
 *   poll.c, rma.c, fence.c, mmap.c   on the rings or the windows; the
 *               latter three (and window.c) reach the transport only
 *               through ep->tp, never by name
 *   connect.c   bind, listen, connect, accept: gives an endpoint its port,
 *               connection, transport and RMA state, and tells endpoint.c
 *               how they end
 *   api.c       the exported calls
 * Where a lower file must reach a higher one at run time (scif_close ends
 * what connect.c set up), the higher one registers a hook at load
 * (skiff_ep_set_upcalls), or the call goes through the connection's
 * transport table; never a direct call, never a weak symbol.
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

enum { SKIFF_RELAYED_PROCESS = 1, SKIFF_RELAYED_DAEMON = 2 };

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
	 * rendezvous off on this connection (the region's rdv_off says why) */
	int rdv_pidfd;
	pid_t rdv_owner, peer_pid;
	int rdv_streak; /* producer: the last large send ended by rendezvous */
	int64_t rdv_checked; /* producer: when the peer was last seen alive */
};

/* --- windows and RMA (reback.c, lwin.c, rwin.c, svc.c, window.c, rma.c,
 * dma.c, fence.c, mmap.c) --- */

/* A range of user memory re-backed by a memfd (reback.c). */
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

/* A fence signal queued behind RMAs (fence.c makes them, dma.c writes
 * them when the RMAs before them complete). */
struct skiff_sig {
	uint64_t seq;
	unsigned char *lp, *rp; /* NULL: not requested */
	uint64_t lval, rval;
	struct skiff_sig *next;
};

struct skiff_rma {
	int ctl;           /* RMA control socket */
	int svc;           /* watched by the control service (svc.c) */
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

	/* records the ctl socket did not take yet, in order (svc.c); a
	 * peer that leaves too many unread breaks the connection */
	pthread_mutex_t out_lock; /* the queue, sends, ctl_sent; never held
				   * while waiting */
	struct skiff_outrec *outq;
	size_t nout, outhead, capout;
	_Atomic int want_out; /* nout != 0, for the service's poll set */
	_Atomic int broken;   /* the peer broke the RMA protocol: reset */
	/* a daemon's end whose connection is over with RMAs of the daemon
	 * still on it (skiff_relay_rma_orphan): a WIN_DEL is answered
	 * without waiting for them (they may take minutes to end); the
	 * graveyard keeps the pages mapped here until they do */
	_Atomic int orphaned;
	/* a daemon's end: WIN_DELs answered once the daemon's RMAs queued
	 * before them are done (skiff_rma_flush_acks, svc.c), not waited for
	 * holding r->lock: only the daemon's loop ends those RMAs, and it
	 * takes that lock. Under r->lock. */
	struct skiff_dack *dacks;
	size_t ndacks, capdacks;
	int in_svc, svc_skip; /* the service works on it (svc_lock) / its
			       * lock was busy (the service only) */
	uint64_t peer_bytes;  /* declared by the peer's live/dying pieces */
	unsigned nlazy;       /* pieces kept as a descriptor, not mapped */
	_Atomic uint64_t peer_marked; /* highest INIT_PEER mark handed out */
	unsigned gen; /* skiff_fork_gen when made: a fork() child's is older */
	/* relayed connections (relayed.c): each RMA's outcome, by sequence
	 * number, as the daemon reported it (allocated on first use) */
	_Atomic int *rstatus;
	/* every live state of this process, in its private memory (the
	 * endpoint that points here is in shared memory, which a leak
	 * checker does not read: a program may exit without scif_close) */
	struct skiff_rma *live_prev, *live_next;
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
struct skiff_transport_ops;

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
	/* SKIFF_RELAYED_PROCESS: the peer is on another host and this
	 * connection's local end is the daemon, which relays it (scifd's
	 * relay.c); SKIFF_RELAYED_DAEMON: this is the daemon's end */
	int relayed;
	uint64_t cookie;

	/* connection */
	struct skiff_region_hdr *region;
	size_t region_size;
	struct skiff_ring tx, rx;
	_Atomic int dead;      /* socket hung up / protocol violation */
	_Atomic int64_t poll_hup_ns; /* scif_poll's last look at the socket */
	struct skiff_rma *rma; /* windows, RMA, fences: while connected */
	/* the connection's transport (transport.h), set before rma */
	const struct skiff_transport_ops *tp;
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

/* The windows stack (see the layers above), bottom to top. */

/* reback.c: user memory re-backed by memfds, a process-wide registry */
/* Describe [a, a + len) as pieces of re-backed ranges, re-backing gaps. */
int skiff_reback_acquire(uintptr_t a, size_t len, struct skiff_piece **out,
			 unsigned *nout);
void skiff_pieces_put(struct skiff_piece *pc, unsigned n);
/* Restore the ranges the control service left re-backed. */
void skiff_reback_reap_idle(void);
/* The calling thread (the control service) leaves ranges whose last window
 * goes re-backed: the user may be writing there meanwhile. */
void skiff_reback_defer(void);
void skiff_reback_fork_prepare(void); /* registered by window.c */
void skiff_reback_fork_parent(void);
void skiff_reback_fork_child(void);

/* lwin.c: the endpoint's local windows, sorted by offset (r->lock held) */
size_t skiff_lwin_search(struct skiff_rma *r, uint64_t off); /* first ending above */
struct skiff_lwin *skiff_lwin_find(struct skiff_rma *r, uint64_t off);
unsigned char *skiff_lwin_addr(struct skiff_lwin *w, uint64_t off,
			       uint64_t *contig);
unsigned char *skiff_lwin_user_addr(struct skiff_lwin *w, uint64_t off,
				    uint64_t *contig);
int skiff_lwin_range_free(struct skiff_rma *r, uint64_t off, uint64_t len);
int skiff_lwin_insert(struct skiff_rma *r, struct skiff_lwin *w);
void skiff_lwin_remove(struct skiff_rma *r, size_t i);
/* the peer's MAP_REF (@delta 1) / MAP_UNREF (-1) */
void skiff_lwin_map_ref(struct skiff_rma *r, uint64_t off, uint64_t len,
			int delta);

/* rwin.c: the peer's windows, sorted by offset (r->lock held) */
struct skiff_rma_win;
struct skiff_rma_msg;
struct skiff_rwin *skiff_rwin_find(struct skiff_rma *r, uint64_t off);
int skiff_rwin_map(struct skiff_rma *r, struct skiff_rwin *w); /* lazily */
void skiff_rwin_release(struct skiff_rma *r, struct skiff_rwin *w);
int skiff_rwin_add(struct skiff_rma *r, const struct skiff_rma_win *w, int *fdp);
/* 0: answer (WIN_DEL_ACK) now; 1: once the RMAs up to *after are done
 * (a daemon's end with its RMAs in flight: svc.c keeps the answer). */
int skiff_rwin_del(struct skiff_ep *ep, uint64_t off, uint64_t len,
		   uint64_t *after);
void skiff_rwin_reap_grave(struct skiff_rma *r);

/* svc.c: the RMA control socket and the control service */
/* A daemon's end: send the WIN_DEL_ACKs whose RMAs are done (all once
 * orphaned), in order. Called with r->lock held. */
void skiff_rma_flush_acks(struct skiff_ep *ep);
/* @wait: return once the record is in the socket (r->lock held then) */
int skiff_ctl_send(struct skiff_ep *ep, struct skiff_rma_msg *m, int fd,
		   int wait);
int skiff_rma_send_range(struct skiff_ep *ep, uint16_t type, uint64_t off,
			 uint64_t len);
void skiff_ctl_close(struct skiff_rma *r);
/* take in the peer's records (r->lock held); @force: even if its counter
 * says there are none */
void skiff_rma_sync(struct skiff_ep *ep, int force);
void skiff_rma_sync_locked(struct skiff_ep *ep); /* rma->lock held */
/* take in the RMA_REQs at the head of the control socket, at most @max,
 * nothing else (rma->lock held; scifd's loop, relay_ep.h); 1 if another
 * record is next, else 0 */
int skiff_rma_take_reqs(struct skiff_ep *ep, int max);
/* scifd's relay: who takes a process's RMA_REQ records (relay_ep.h) */
struct skiff_rma_req_rec;
void skiff_svc_set_rma_hook(void (*fn)(int epd, const struct skiff_rma_req_rec *q));
void skiff_svc_add(struct skiff_ep *ep);
void skiff_svc_del(struct skiff_ep *ep);
void skiff_svc_fork_prepare(void); /* registered by window.c */
void skiff_svc_fork_parent(void);
void skiff_svc_fork_child(void);

/* window.c: scif_register, scif_unregister; the endpoint's RMA state */
/* Bumped in every fork() child: RMA state made before (inherited) is the
 * parent's, and refused in the child (ENOTCONN). */
extern unsigned skiff_fork_gen;
int skiff_rma_attach(struct skiff_ep *ep, int ctl);
void skiff_rma_detach(struct skiff_ep *ep);
/* This process lets go of @ep's RMA state without a word to the peer: a
 * scif_close that is not the endpoint's last (another process inherited it
 * and still holds it). @mine: not inherited by this process. */
void skiff_rma_release(struct skiff_ep *ep, int mine);
int skiff_rma_enter(int epd, struct skiff_ep **out); /* state checks */

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
/* Everything submitted counts as completed: RMAs that another process
 * carried (a relayed connection's daemon) and that will never be reported
 * now (the connection ended). */
void skiff_rma_abort(struct skiff_ep *ep);
int skiff_rma_wait(struct skiff_ep *ep, uint64_t seq);
/* the same without spinning first: for what takes a round trip between
 * hosts at least, where a spin only takes a CPU from the daemons */
int skiff_rma_wait_sleep(struct skiff_ep *ep, uint64_t seq);
void skiff_copy(unsigned char *dst, const unsigned char *src, size_t n);
void skiff_copy_ordered(struct skiff_seg *segs, size_t nseg, size_t total);
void skiff_sig_write(const struct skiff_sig *s);
void skiff_sigs_drop(struct skiff_rma *r); /* frees the queued signals */

/* mmap.c */
void skiff_mmap_forget(struct skiff_ep *ep);

/* endpoint.c */
/* How an endpoint's state above this layer ends, registered by connect.c
 * at load (endpoint.c is the bottom layer: it calls up only through these). */
struct skiff_ep_upcalls {
	/* the endpoint ends: RMAs complete, windows and mappings go */
	void (*rma_end)(struct skiff_ep *ep);
	/* this process lets go of the RMA state only (skiff_rma_release) */
	void (*rma_release)(struct skiff_ep *ep, int mine);
	/* the connection's region (and its rendezvous) and the port name go */
	void (*conn_end)(struct skiff_ep *ep);
	/* this process lets go of its rendezvous state (rdv.c) only */
	void (*rdv_release)(struct skiff_ep *ep);
	/* a holder of the send (@sender) or receive lock died (rdv.c) */
	void (*rdv_owner_died)(struct skiff_ep *ep, int sender);
	/* in a fork() child, for each endpoint it shares (rdv.c) */
	void (*rdv_forked)(struct skiff_ep *ep);
};
void skiff_ep_set_upcalls(const struct skiff_ep_upcalls *u);
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
uint32_t skiff_relay_ring_size_knob(void); /* connections between hosts */
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
