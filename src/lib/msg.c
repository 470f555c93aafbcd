/* SPDX-License-Identifier: MIT */
/*
 * msg.c - scif_send and scif_recv: copies into and out of the shared rings.
 *
 * A call that finds data or space makes no system call. A blocking call that
 * must wait spins briefly (the peer is usually about to act), then sleeps in
 * poll() on the socket, having arranged (doorbell drain or credit, ring.c)
 * that the peer's next step or its death wakes it. A non-blocking call never
 * waits: it makes the same arrangements without waiting for a record that
 * is on its way (ring.c), and returns what it could move.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "knob.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probe.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* How often the fast path asks the kernel whether a silent peer died. */
#define LIVENESS_NS (200 * 1000 * 1000LL)
/* Wake up at least this often while sleeping, to re-check state. */
#define SLEEP_SLICE_MS 1000

static long spin_ns = -1;

long skiff_spin_budget(void)
{
	long v = __atomic_load_n(&spin_ns, __ATOMIC_RELAXED);

	if (v < 0) {
		const char *s = getenv("SKIFF_SPIN_US");
		v = 50 * 1000; /* 50 us */
		/* with one CPU the peer cannot act while we spin (a process
		 * pinned to one CPU may still have a peer on another: the
		 * spin yields after PURE_SPIN_NS for peers sharing a CPU) */
		if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
			v = 0;
		if (s && *s)
			v = (long)skiff_knob_u64("SKIFF_SPIN_US",
						 (uint64_t)v / 1000, 0,
						 10 * 1000 * 1000, 0,
						 "microseconds") * 1000;
		__atomic_store_n(&spin_ns, v, __ATOMIC_RELAXED);
	}
	return v;
}

static inline int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * One step of a bounded busy wait that began at @start. The first
 * microseconds are pure polling (a peer on another CPU answers in well under
 * that); after that each step yields, so a peer sharing our CPU gets to run.
 * Returns 0 once the budget is spent.
 */
#define PURE_SPIN_NS 2000

/*
 * A yield that took long gave our CPU to another process for a time slice
 * (milliseconds, measured: 4-6 ms with one busy process per CPU): the CPUs
 * are busy. Yielding again would cost a slice per hand-over, so for
 * CONTENDED_NS after a slow yield, waits spin without yielding (a peer
 * running on the other CPU answers within the budget) and then sleep (a
 * woken sleeper gets a CPU within microseconds). Measured with scif bench
 * stream --contend: 64 KiB 0.02-0.05 GB/s with yields, 3.5-4.4 without;
 * 64 B 0.037 sleeping after 2 us, 0.06 spinning the budget.
 */
#define SLOW_YIELD_NS 50000
#define CONTENDED_NS (200 * 1000 * 1000LL)
static _Atomic int64_t contended_until;

static int spin_step(int64_t start, const uint32_t *watch, uint32_t old)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC), t = t0 - start, t1;

	if (t >= skiff_spin_budget())
		return 0;
	if (t > PURE_SPIN_NS &&
	    t0 >= atomic_load_explicit(&contended_until, memory_order_relaxed)) {
		sched_yield();
		t1 = now_ns(CLOCK_MONOTONIC);
		if (t1 - t0 > SLOW_YIELD_NS) {
			atomic_store_explicit(&contended_until, t1 + CONTENDED_NS,
					      memory_order_relaxed);
			return 0;
		}
	}
	/* "nothing yet": the word has not moved past @old (a ring line's
	 * stamp may lag behind from an earlier lap) */
	for (int i = 0; i < 64 && (int32_t)(LOAD(watch) - old) <= 0; i++)
		cpu_relax();
	return 1;
}

/* Rate-limited liveness check, so a peer killed with SIGKILL is noticed by
 * calls that would otherwise succeed into the ring. */
static int peer_dead(struct skiff_ep *ep, struct skiff_ring *r)
{
	int64_t t;

	if (skiff_peer_gone(ep))
		return 1;
	if (++r->hup_check & 15)
		return 0;
	t = now_ns(CLOCK_MONOTONIC_COARSE);
	if ((uint64_t)(t - (int64_t)r->last_check) < (uint64_t)LIVENESS_NS)
		return 0;
	r->last_check = (uint64_t)t;
	return skiff_check_hup(ep);
}

/* Sleep in poll() until @events or a hang-up; -EINTR on a signal. */
static int sleep_on(struct skiff_ep *ep, short events)
{
	struct pollfd p = { .fd = ep->fd, .events = events };
	struct skiff_ep *cur;
	int r;

	/* closed by scif_close meanwhile: when another process still holds
	 * the endpoint, that is the only sign (endpoint.c waits for us) */
	if (skiff_ep_get_fast(ep->fd, &cur) < 0 || cur != ep)
		return -EBADF;
	if (skiff_ep_verify(ep) < 0)
		return -EBADF;
	r = poll(&p, 1, SLEEP_SLICE_MS);

	if (r < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (r && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		skiff_mark_dead(ep);
	return r ? p.revents : 0;
}

/* The connection is unusable: because the peer went away, or because the
 * user closed our descriptor with close() and the number now names another
 * file. */
static int reset_err(struct skiff_ep *ep)
{
	return skiff_ep_verify(ep) < 0 ? -EBADF : -ECONNRESET;
}

/* Lock the endpoint for a data call and check it is still the one the table
 * holds for @epd (scif_close may have raced us). */
static int enter(int epd, struct skiff_ep *ep, struct skiff_lock *m)
{
	struct skiff_ep *cur;

	skiff_ep_lock(ep, m);
	if (skiff_ep_get_fast(epd, &cur) < 0 || cur != ep || ep->fd != epd) {
		skiff_ep_unlock(m);
		return -EBADF;
	}
	switch (ep->state) {
	case SKIFF_EP_CONNECTED:
	case SKIFF_EP_DISCONNECTED:
		return 0;
	default:
		skiff_ep_unlock(m);
		/* not the hot path: tell a stale descriptor from a live one */
		return skiff_ep_get(epd, &cur) < 0 ? -EBADF : -ENOTCONN;
	}
}

static int check_args(int epd, void *msg, int len, int flags, int prot,
		      struct skiff_ep **ep)
{
	int r = skiff_ep_get_fast(epd, ep);

	if (r < 0)
		return r;
	if (flags & ~1)
		return -EINVAL;
	if (len < 0)
		return -EINVAL;
	if (len > 0 && !msg)
		return -EFAULT;
	/* free checks here; a system call only for large buffers (probe.h) */
	if (len > 0 && skiff_addr_plausible(msg, (size_t)len) < 0)
		return -EFAULT;
	if (len > 0 && (size_t)len >= skiff_probe_min())
		return skiff_mem_probe(msg, (size_t)len, prot);
	return 0;
}

/* Copy into the ring line by line, each line's bytes before its stamp, then
 * publish the head. */
static void ring_put(struct skiff_ring *r, const unsigned char *src, uint32_t n)
{
	while (n) {
		uint32_t k = SKIFF_LINE_DATA - (uint32_t)(r->pos % SKIFF_LINE_DATA);

		if (k > n)
			k = n;
		memcpy(skiff_line_byte(r, r->pos), src, k);
		/* atomic: scif_poll reads it from another thread (ring.c) */
		__atomic_store_n(&r->pos, r->pos + k, __ATOMIC_RELAXED);
		src += k;
		n -= k;
		STORE(skiff_line_stamp(r, r->pos - 1), (uint32_t)r->pos);
	}
	/* xchg: the release store and the full barrier the doorbell check
	 * needs (ring.c), in one instruction instead of a store and mfence */
	__atomic_exchange_n(&r->ctl->head, (uint32_t)r->pos, __ATOMIC_SEQ_CST);
}

/* Copy @n bytes out of the ring (the caller saw them available). */
static void ring_get(struct skiff_ring *r, unsigned char *dst, uint32_t n)
{
	while (n) {
		uint32_t k = SKIFF_LINE_DATA - (uint32_t)(r->pos % SKIFF_LINE_DATA);

		if (k > n)
			k = n;
		memcpy(dst, skiff_line_byte(r, r->pos), k);
		__atomic_store_n(&r->pos, r->pos + k, __ATOMIC_RELAXED);
		dst += k;
		n -= k;
	}
	/* full barrier: our tail store vs the producer's credit (ring.c) */
	__atomic_exchange_n(&r->ctl->tail, (uint32_t)r->pos, __ATOMIC_SEQ_CST);
}

static int do_send(struct skiff_ep *ep, const unsigned char *buf, int len,
		   int block)
{
	struct skiff_ring *r = &ep->tx;
	uint32_t sent = 0, space, n;
	int64_t spin_end = 0;
	int bad = 0, ret, waited = 0;

	for (;;) {
		if (peer_dead(ep, r))
			return sent ? (int)sent : reset_err(ep);
		/* more than the ring holds, and a receiver waiting for it:
		 * straight into its buffer (rdv.c) */
		if (block && (uint32_t)len - sent > r->size - 1) {
			ret = skiff_rdv_send(ep, buf + sent, (uint32_t)len - sent);
			if (ret > 0) {
				sent += (uint32_t)ret;
				spin_end = 0;
				if (sent == (uint32_t)len) {
					r->rdv_streak = 1;
					return (int)sent;
				}
				continue;
			}
			if (!waited && skiff_rdv_expect(ep)) {
				/* a streaming receiver is about to announce:
				 * poll for it, within the spin budget */
				int64_t t0 = now_ns(CLOCK_MONOTONIC);
				uint32_t st = LOAD(&r->ctl->rdv_state);

				waited = 1;
				while (skiff_rdv_expect(ep) &&
				       spin_step(t0, &r->ctl->rdv_state, st))
					st = LOAD(&r->ctl->rdv_state);
				continue;
			}
		}
		/* trust the cached tail while it shows enough room */
		space = r->size - 1 - ((uint32_t)r->pos - r->cached);
		if (space < (uint32_t)len - sent)
			space = skiff_tx_space(ep, &bad);
		if (bad)
			continue; /* marked dead: report it above */
		if (space) {
			n = (uint32_t)len - sent;
			if (n > space)
				n = space;
			ring_put(r, buf + sent, n);
			sent += n;
			ret = skiff_post_data_doorbell(ep, (uint32_t)r->pos - n,
						       block);
			if (ret < 0)
				continue;
			spin_end = 0;
			if (sent == (uint32_t)len) {
				if (block && (uint32_t)len > r->size - 1)
					r->rdv_streak = 0;
				return (int)sent;
			}
			continue;
		}
		/* ring full */
		if (block && !spin_end) {
			spin_end = now_ns(CLOCK_MONOTONIC);
			continue;
		}
		if (block && spin_step(spin_end, &r->ctl->tail, r->cached))
			continue;
		/* About to give up (non-blocking) or sleep: make sure a credit
		 * is outstanding (posting is a no-op while one is), so that our
		 * descriptor shows POLLOUT only once the peer frees space,
		 * then look again: the peer may have drained an earlier one. */
		ret = skiff_post_credit(ep, block);
		if (ret < 0)
			continue;
		if (skiff_tx_space(ep, &bad) || bad)
			continue;
		if (!block)
			return (int)sent;
		ret = sleep_on(ep, POLLOUT);
		if (ret < 0)
			return sent ? (int)sent : ret;
	}
}

/*
 * The receive loop: what it got, or -errno with nothing got. With @rdv, an
 * announcement of ours is open (rdv.c): bytes the producer delivered
 * directly come before any ring byte we see after them, and instead of the
 * spin word (which lets the producer skip doorbells for ring bytes) we
 * publish rdv_wait (which lets it skip them for direct ones).
 */
static int recv_loop(struct skiff_ep *ep, unsigned char *buf, int len,
		     int block, int rdv)
{
	struct skiff_ring *r = &ep->rx;
	uint32_t got = 0, avail, n;
	int64_t spin_start = 0;
	int bad = 0, ret, spun = 0;

	if (block && !rdv) {
		/* announce at once that we will take @len bytes from here: a
		 * producer answering us in a ping-pong then skips its
		 * doorbell (ring.c) */
		skiff_spin_announce(ep, (uint32_t)len);
		spun = 1;
	}
	for (;;) {
		/* what the stamp of our line shows: one cache line, no head */
		avail = skiff_line_avail(r);
		/* looked at after the stamp: direct bytes counted before the
		 * ring bytes it shows are ahead of them */
		if (skiff_rx_direct(ep)) {
			ret = skiff_rdv_take(ep);
			if (ret < 0)
				return got ? (int)got : ret;
			got += (uint32_t)ret;
			if (got == (uint32_t)len) {
				skiff_recv_leave(ep, block);
				return (int)got;
			}
			continue;
		}
		if (avail) {
			/* take more than this line at once when the head says
			 * so (a large receive), checking the head as always */
			n = (uint32_t)len - got;
			if (n > avail) {
				uint32_t all = skiff_rx_avail(ep, &bad);
				if (bad)
					return got ? (int)got : reset_err(ep);
				if (all > avail)
					avail = all;
			}
			if (n > avail)
				n = avail;
			ring_get(r, buf + got, n);
			got += n;
			spun = 0; /* our spin word went stale by consuming */
			/* we freed space: a producer waiting on a credit needs
			 * its socket writable again */
			if (LOAD(&r->ctl->c_posted) != r->c_drained)
				skiff_drain_credits(ep, block);
			if (got == (uint32_t)len) {
				skiff_recv_leave(ep, block);
				return (int)got;
			}
			continue;
		}
		/* ring empty */
		if (peer_dead(ep, r)) {
			/* bytes published before the close are still ours */
			if (skiff_rx_avail(ep, &bad) && !bad && skiff_line_avail(r))
				continue;
			if (skiff_rx_direct(ep))
				continue;
			if (spun) /* a spin word we did not consume from */
				__atomic_store_n(&r->ctl->spin, 0, __ATOMIC_RELEASE);
			return got ? (int)got : reset_err(ep);
		}
		if (block && !spin_start) {
			/* start polling; announce (again, if we consumed part
			 * since) what we still wait for */
			if (!spun) {
				if (rdv)
					skiff_rdv_wait(ep, 1);
				else
					skiff_spin_announce(ep, (uint32_t)len - got);
				spun = 1;
			}
			spin_start = now_ns(CLOCK_MONOTONIC);
			continue;
		}
		if (block && !spun) {
			/* consumed part of what we wait for: announce the rest */
			if (rdv)
				skiff_rdv_wait(ep, 1);
			else
				skiff_spin_announce(ep, (uint32_t)len - got);
			spun = 1;
		}
		if (block && spin_step(spin_start, skiff_line_stamp(r, r->pos),
				       (uint32_t)r->pos))
			continue;
		/* Going back to the user or to sleep with the ring empty: stop
		 * polling and take our doorbells off the socket, so that the
		 * producer's next bytes ring it and POLLIN means data again. */
		spun = 0;
		if (rdv) {
			/* from here the producer rings after a direct copy */
			skiff_rdv_wait(ep, 0);
			if (skiff_rx_direct(ep))
				continue;
		}
		ret = skiff_drain_doorbells(ep, block);
		if (ret == 1) {
			/* the head says there is data: an honest producer
			 * stamped its line before it moved the head, so no
			 * stamp means a peer writing nonsense, and looping on
			 * it would never end */
			if (!skiff_line_avail(r) && !skiff_rx_direct(ep))
				skiff_mark_dead(ep);
			continue;
		}
		if (!block) {
			if (!got && skiff_check_hup(ep))
				continue; /* report the reset above */
			return (int)got;
		}
		ret = sleep_on(ep, POLLIN);
		if (ret < 0)
			return got ? (int)got : ret;
		if (ret > 0 && (ret & POLLIN) && !skiff_rx_avail(ep, &bad) &&
		    LOAD(&r->ctl->d_posted) == r->drained)
			/* readable, yet nothing we were told of: a record whose
			 * counter is not bumped yet, or garbage; take it */
			skiff_take_record(ep);
	}
}

static int do_recv(struct skiff_ep *ep, unsigned char *buf, int len, int block)
{
	struct skiff_ring *r = &ep->rx;
	int got, more;

	/* more than the ring holds: offer the buffer itself (rdv.c) */
	if (block && (uint32_t)len > r->size - 1)
		skiff_rdv_open(ep, buf, (uint32_t)len);
	got = recv_loop(ep, buf, len, block, r->rdv_open);
	if (!r->rdv_open)
		return got;
	/* however we leave, the buffer is ours again once this returns;
	 * bytes delivered meanwhile follow those we got */
	more = skiff_rdv_close(ep);
	if (more > 0) {
		got = (got > 0 ? got : 0) + more;
		skiff_recv_leave(ep, block);
	} else if (more < 0 && got == 0)
		got = more;
	return got;
}

int skiff_api_send(scif_epd_t epd, void *msg, int len, int flags)
{
	struct skiff_ep *ep;
	int r = check_args(epd, msg, len, flags, PROT_READ, &ep);

	if (r < 0 || len == 0)
		SKIFF_RET(r);
	r = enter(epd, ep, &ep->send_lock);
	if (r < 0)
		SKIFF_RET(r);
	r = do_send(ep, msg, len, flags & SCIF_SEND_BLOCK);
	skiff_ep_unlock(&ep->send_lock);
	SKIFF_RET(r);
}

int skiff_api_recv(scif_epd_t epd, void *msg, int len, int flags)
{
	struct skiff_ep *ep;
	int r = check_args(epd, msg, len, flags, PROT_WRITE, &ep);

	if (r < 0 || len == 0)
		SKIFF_RET(r);
	r = enter(epd, ep, &ep->recv_lock);
	if (r < 0)
		SKIFF_RET(r);
	r = do_recv(ep, msg, len, flags & SCIF_RECV_BLOCK);
	skiff_ep_unlock(&ep->recv_lock);
	SKIFF_RET(r);
}
