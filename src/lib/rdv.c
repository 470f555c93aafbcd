/* SPDX-License-Identifier: MIT */
/*
 * rdv.c - single-copy rendezvous for large blocking scif_send/scif_recv.
 *
 * Through the ring, a large transfer costs a hand-over between the two
 * processes per ring's worth of bytes (4 KiB by default), and each is a
 * sleep and a wake-up once they stop running at the same moment. Instead, a
 * consumer in a blocking receive of more than the ring holds announces its
 * buffer (pid, address, length) in the region, and a producer in a blocking
 * send of more than the ring holds copies into it with process_vm_writev,
 * once, while the ring is empty. The bytes keep their place in the stream:
 *
 * - the producer copies only while the ring is empty (the consumer took
 *   every ring byte so far), to the buffer offset the consumer has reached:
 *   ring bytes taken since the announcement plus bytes delivered directly;
 * - it counts them in dtotal before it writes any later ring byte, and the
 *   consumer, seeing ring bytes, looks at dtotal first (acquire/release), so
 *   it never copies a later ring byte over them.
 *
 * Safety: the copy reads only the sender's own buffer within its length;
 * the peer's numbers choose only where in the peer's buffer, and only in
 * the process the kernel says is our peer (SO_PEERCRED), checked alive
 * through a pidfd (poll) at most 10 ms before a copy (a pid is reused only
 * after its process was reaped and the pid space went round). Where the
 * kernel refuses (another user, Yama ptrace_scope,
 * seccomp), the producer stops trying on that connection and says why in
 * rdv_off; the ring carries everything, as before.
 *
 * Announcements are made by one receive at a time (recv_lock), copies by one
 * send at a time (send_lock). The state word is the hand-off: the consumer
 * opens it; the producer moves open to busy while it copies and back after
 * it counted the bytes; the consumer closes only an open one, so its buffer
 * is never written after its receive returned.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#define RDV_OPEN 1u
#define RDV_BUSY 2u
#define RDV_MASK 3u

/* One process_vm_writev call copies at most this much, so the consumer
 * sees progress (dtotal) while it waits to close (see rdv_close). */
#define RDV_CHUNK (16u << 20)
/* A consumer leaving early waits this long for a copy in progress that
 * makes no progress, then takes the connection for broken. */
#define RDV_STALL_NS (1000 * 1000 * 1000LL)
/* ... after spinning for this long, it naps a millisecond at a time. */
#define RDV_SPIN_NS (20 * 1000LL)
/* How often a producer confirms that its peer process still lives. */
#define RDV_PIDCHECK_NS (10 * 1000 * 1000LL)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- consumer ---- */

void skiff_rdv_open(struct skiff_ep *ep, unsigned char *buf, uint32_t len)
{
	struct skiff_ring *r = &ep->rx;
	struct skiff_ring_ctl *c = r->ctl;

	/* the producer gave up on rendezvous (or never will, see rdv_off) */
	if (LOAD(&c->rdv_off))
		return;
	r->rdv_gen = (r->rdv_gen + 1) & 0x3fffffffu;
	if (!r->rdv_gen)
		r->rdv_gen = 1;
	r->rdv_len = len;
	r->rdv_dbase = r->dtotal;
	r->rdv_xpos = (uint32_t)r->pos;
	RELAXED(&c->rdv_pid, (uint32_t)skiff_self_pid());
	RELAXED(&c->rdv_xpos, r->rdv_xpos);
	RELAXED(&c->rdv_addr, (uint64_t)(uintptr_t)buf);
	RELAXED(&c->rdv_len, (uint64_t)len);
	RELAXED(&c->rdv_dbase, r->rdv_dbase);
	STORE(&c->rdv_state, (r->rdv_gen << 2) | RDV_OPEN);
	r->rdv_open = 1;
}

/* The peer broke the rendezvous protocol. */
static int broken(struct skiff_ep *ep)
{
	skiff_mark_dead(ep);
	return -ECONNRESET;
}

/*
 * Account bytes the producer delivered into our buffer since we last
 * looked: their count (0: none), or -ECONNRESET if the count is one an
 * honest producer cannot have made (more than we announced, or any while
 * no announcement of ours is open).
 */
int skiff_rdv_take(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->rx;
	uint64_t d = LOAD(&r->ctl->dtotal), delta = d - r->dtotal;

	if (!delta)
		return 0;
	if (!r->rdv_open || d - r->rdv_dbase > r->rdv_len ||
	    (uint64_t)((uint32_t)r->pos - r->rdv_xpos) + (d - r->rdv_dbase) >
		    r->rdv_len)
		return broken(ep);
	r->dtotal = d;
	return (int)delta;
}

/* Polling for deliveries (1), or about to sleep (0: the producer must ring
 * after it copies; the exchange orders it before our last look). */
void skiff_rdv_wait(struct skiff_ep *ep, int on)
{
	if (on)
		STORE(&ep->rx.ctl->rdv_wait, 1);
	else
		__atomic_exchange_n(&ep->rx.ctl->rdv_wait, 0, __ATOMIC_SEQ_CST);
}

/*
 * Withdraw the announcement (every receive that opened one does, however it
 * leaves). A copy in progress is waited for: once we return, the buffer is
 * the caller's again. Returns the bytes delivered meanwhile, or
 * -ECONNRESET if the peer died or stalled mid-copy or broke the protocol.
 */
int skiff_rdv_close(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->rx;
	struct skiff_ring_ctl *c = r->ctl;
	uint32_t open = (r->rdv_gen << 2) | RDV_OPEN;
	uint64_t seen = LOAD(&c->dtotal);
	int64_t start = 0, since = 0, t;
	int ret = 0;

	if (!r->rdv_open)
		return 0;
	RELAXED(&c->rdv_wait, 0);
	for (;;) {
		uint32_t v = open;

		if (__atomic_compare_exchange_n(&c->rdv_state, &v, 0, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
		if (v != ((r->rdv_gen << 2) | RDV_BUSY)) {
			ret = broken(ep); /* not what either of us wrote */
			break;
		}
		if (skiff_peer_gone(ep)) {
			ret = -ECONNRESET;
			break;
		}
		/* the producer is copying into our buffer: a moment, unless
		 * it died or stalls (it bumps dtotal every RDV_CHUNK). No
		 * yield: on a busy machine one gives the CPU away for a time
		 * slice. */
		t = mono_ns();
		if (!start)
			start = since = t;
		if (t - start < RDV_SPIN_NS) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		if (skiff_check_hup(ep)) {
			ret = -ECONNRESET;
			break;
		}
		/* no progress for RDV_STALL_NS, or longer in all than even a
		 * slow copy of the whole buffer takes (a peer that counts a
		 * byte now and then must not keep us here) */
		if (LOAD(&c->dtotal) != seen) {
			seen = LOAD(&c->dtotal);
			since = t;
		}
		if (t - since > RDV_STALL_NS ||
		    t - start > RDV_STALL_NS * (int64_t)(1 + (r->rdv_len >> 28))) {
			ret = broken(ep);
			break;
		}
		{
			struct timespec ms = { 0, 1000 * 1000 };
			nanosleep(&ms, NULL);
		}
	}
	if (ret < 0) {
		r->rdv_open = 0;
		return ret;
	}
	ret = skiff_rdv_take(ep);
	r->rdv_open = 0;
	return ret;
}

/* ---- producer ---- */

/* Stop using rendezvous on this connection, saying why (an errno). */
static void rdv_off(struct skiff_ring *r, int why)
{
	if (r->rdv_owner > 0 && r->rdv_pidfd >= 0)
		close(r->rdv_pidfd);
	r->rdv_pidfd = -1;
	r->rdv_owner = -1;
	STORE(&r->ctl->rdv_off, (uint32_t)why);
}

/* This process may send by rendezvous: it holds the pidfd of the peer
 * process (opened on first use). 0 if not. */
static int peer_ready(struct skiff_ep *ep, pid_t self)
{
	struct skiff_ring *r = &ep->tx;
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	long fd;

	if (r->rdv_owner == self)
		return 1;
	if (r->rdv_owner) /* off, or another process of a fork()ed endpoint's */
		return 0;
	if (skiff_ep_verify(ep) < 0 ||
	    getsockopt(ep->fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0 || cr.pid <= 0) {
		rdv_off(r, EINVAL);
		return 0;
	}
	fd = syscall(SYS_pidfd_open, (pid_t)cr.pid, 0);
	if (fd < 0) {
		rdv_off(r, errno);
		return 0;
	}
	r->peer_pid = cr.pid;
	r->rdv_pidfd = (int)fd;
	r->rdv_owner = self;
	return 1;
}

/*
 * A blocking send with @n (more than the ring holds) bytes left at @src:
 * copy what the consumer's open announcement takes, if the ring is empty.
 * Returns the bytes delivered (0: no rendezvous now; use the ring).
 */
int skiff_rdv_send(struct skiff_ep *ep, const unsigned char *src, uint32_t n)
{
	struct skiff_ring *r = &ep->tx;
	struct skiff_ring_ctl *c = r->ctl;
	uint32_t st = LOAD(&c->rdv_state), busy, pid, xpos;
	uint64_t addr, len, dbase, off, k, done = 0;
	pid_t self;

	if ((st & RDV_MASK) != RDV_OPEN || r->rdv_owner < 0)
		return 0;
	/* the ring must be empty: every ring byte so far is in the buffer */
	if (LOAD(&c->tail) != (uint32_t)r->pos)
		return 0;
	pid = __atomic_load_n(&c->rdv_pid, __ATOMIC_RELAXED);
	if (r->rdv_owner > 0 && (pid_t)pid != r->peer_pid)
		return 0;
	self = skiff_self_pid();
	if (!peer_ready(ep, self))
		return 0;
	xpos = __atomic_load_n(&c->rdv_xpos, __ATOMIC_RELAXED);
	addr = __atomic_load_n(&c->rdv_addr, __ATOMIC_RELAXED);
	len = __atomic_load_n(&c->rdv_len, __ATOMIC_RELAXED);
	dbase = __atomic_load_n(&c->rdv_dbase, __ATOMIC_RELAXED);
	/* another process of the peer's (a fork()ed endpoint): the ring */
	if ((pid_t)pid != r->peer_pid)
		return 0;
	/* where in the consumer's buffer our next byte goes; nonsense
	 * (an offset beyond what it announced) is no rendezvous */
	if (dbase > r->dtotal || len > INT_MAX)
		return 0;
	off = (uint64_t)((uint32_t)r->pos - xpos) + (r->dtotal - dbase);
	if (off >= len)
		return 0;
	k = len - off < n ? len - off : n;
	busy = (st & ~RDV_MASK) | RDV_BUSY;
	if (!__atomic_compare_exchange_n(&c->rdv_state, &st, busy, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0; /* withdrawn meanwhile */
	/* the pid still names our peer, not a process that got its number
	 * (a pidfd polls readable once its process has exited; unlike a
	 * signal, asking needs no permission over it). Once per
	 * RDV_PIDCHECK_NS is enough: pids are handed out cyclically, so a
	 * number comes back only after the whole pid space went round, which
	 * takes far longer (tens of thousands of forks at the least). */
	{
		struct timespec ts;
		int64_t t;

		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		if (t - r->rdv_checked >= RDV_PIDCHECK_NS) {
			struct pollfd pf = { .fd = r->rdv_pidfd, .events = POLLIN };

			if (poll(&pf, 1, 0) != 0) {
				rdv_off(r, pf.revents & POLLNVAL ? EBADF : ESRCH);
				k = 0;
			}
			r->rdv_checked = t;
		}
	}
	while (done < k) {
		size_t m = k - done > RDV_CHUNK ? RDV_CHUNK : (size_t)(k - done);
		struct iovec lo = { (void *)(src + done), m };
		struct iovec re = { (void *)(uintptr_t)(addr + off + done), m };
		ssize_t w = process_vm_writev((pid_t)pid, &lo, 1, &re, 1, 0);
		uint64_t nd;

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			/* refused (another user, Yama, seccomp: EPERM, ENOSYS),
			 * or a buffer that is not there (EFAULT): the ring */
			rdv_off(r, w < 0 ? errno : EFAULT);
			break;
		}
		done += (uint64_t)w;
		/* counted before the state goes back to open, and before any
		 * later ring byte (see the top of the file) */
		nd = r->dtotal + (uint64_t)w;
		__atomic_exchange_n(&c->dtotal, nd, __ATOMIC_SEQ_CST);
		r->dtotal = nd;
	}
	/* back to open, unless the consumer's death made its successor
	 * withdraw it meanwhile (skiff_rdv_owner_died) */
	__atomic_compare_exchange_n(&c->rdv_state, &busy, st, 0, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
	if (done) {
		RELAXED(&c->rdv_count, __atomic_load_n(&c->rdv_count, __ATOMIC_RELAXED) + 1);
		/* the dtotal exchange was a full barrier: a consumer that
		 * stopped polling looks at dtotal after it said so */
		if (!LOAD(&c->rdv_wait))
			skiff_post_doorbell(ep);
	}
	return (int)done;
}

/*
 * A large blocking send found no announcement: is one likely soon? Yes if
 * the receiver took our last large send by rendezvous (it streams), the
 * ring is empty and this process may use rendezvous. Then waiting a moment
 * for it beats filling the ring first (a doorbell, a second copy of those
 * bytes); a receiver that reads in small pieces or polls first breaks the
 * streak after one send that the ring carried.
 */
int skiff_rdv_expect(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->tx;
	struct skiff_ring_ctl *c = r->ctl;
	uint32_t st = LOAD(&c->rdv_state);

	if (!r->rdv_streak || r->rdv_owner <= 0 ||
	    r->rdv_owner != skiff_self_pid() ||
	    LOAD(&c->tail) != (uint32_t)r->pos)
		return 0;
	if ((st & RDV_MASK) != RDV_OPEN)
		return 1;
	/* open, but filled: the receiver's last call, about to withdraw it
	 * (its numbers only steer this wait) */
	return (uint64_t)((uint32_t)r->pos -
			  __atomic_load_n(&c->rdv_xpos, __ATOMIC_RELAXED)) +
		       (r->dtotal - __atomic_load_n(&c->rdv_dbase, __ATOMIC_RELAXED)) >=
	       __atomic_load_n(&c->rdv_len, __ATOMIC_RELAXED);
}

/* This process lets go of the endpoint: its pidfd goes, and with it
 * rendezvous for the holders left (they have no pidfd). */
void skiff_rdv_release(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->tx;

	if (r->rdv_owner > 0 && r->rdv_owner == skiff_self_pid() && r->rdv_pidfd >= 0) {
		close(r->rdv_pidfd);
		r->rdv_pidfd = -1;
		r->rdv_owner = -1;
	}
}

/* In a fork() child: the parent's pidfd came along as a copy of its
 * descriptor; the child never uses it (it is not the owner), so it goes.
 * (A process that is not the owner closed its own copy when it was made.) */
void skiff_rdv_forked(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->tx;

	if (ep->region && r->rdv_owner > 0 && r->rdv_owner == getppid() &&
	    r->rdv_pidfd >= 0)
		close(r->rdv_pidfd);
}

/* A holder of the send (@sender) or receive lock died inside a call. */
void skiff_rdv_owner_died(struct skiff_ep *ep, int sender)
{
	if (sender) {
		struct skiff_ring_ctl *c = ep->tx.ctl;
		uint32_t st = LOAD(&c->rdv_state);

		/* bytes it copied and did not count are rewritten by the next
		 * copy, at the same offset */
		if ((st & RDV_MASK) == RDV_BUSY)
			__atomic_compare_exchange_n(&c->rdv_state, &st,
						    (st & ~RDV_MASK) | RDV_OPEN, 0,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		ep->tx.dtotal = LOAD(&c->dtotal);
		/* its pidfd was its own */
		if (ep->tx.rdv_owner > 0 && ep->tx.rdv_owner != skiff_self_pid())
			ep->tx.rdv_owner = -1;
	} else if (ep->rx.rdv_open) {
		struct skiff_ring *r = &ep->rx;
		uint32_t open = (r->rdv_gen << 2) | RDV_OPEN;

		RELAXED(&r->ctl->rdv_wait, 0);
		/* bytes delivered into the dead process's buffer are gone
		 * with it, and a copy in progress cannot be waited for here:
		 * either way the stream has a hole, so it is reset */
		if (!__atomic_compare_exchange_n(&r->ctl->rdv_state, &open, 0, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
		    LOAD(&r->ctl->dtotal) != r->rdv_dbase) {
			skiff_mark_dead(ep);
			__atomic_store_n(&ep->region->closed[ep->side], 1,
					 __ATOMIC_RELEASE);
		}
		r->dtotal = LOAD(&r->ctl->dtotal);
		r->rdv_open = 0;
	}
}
