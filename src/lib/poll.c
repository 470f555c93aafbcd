/* SPDX-License-Identifier: MIT */
/*
 * poll.c - scif_poll: readiness computed from the rings, poll() to sleep.
 *
 * Plain poll()/select()/epoll on an endpoint work too (ring.c keeps the
 * socket's readiness in step with the rings); scif_poll is exact where the
 * kernel's view can only approximate (e.g. POLLIN after a hang-up only when
 * bytes are still queued).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "probe.h"

#define STACK_FDS 64

static short fd_revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* A peer killed by a signal leaves no closed flag: only the socket tells,
 * at the price of two system calls. With readiness to report anyway, look
 * at most every HUP_CHECK_NS (a poll loop then makes no system call per
 * message); with none, always, since poll() would sleep next. */
#define HUP_CHECK_NS (10 * 1000 * 1000LL)

static int hup_due(struct skiff_ep *ep, short ready)
{
	struct timespec ts;
	int64_t t, last;

	if (ready) {
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		last = atomic_load_explicit(&ep->poll_hup_ns, memory_order_relaxed);
		if (t - last < HUP_CHECK_NS && t >= last)
			return 0;
		atomic_store_explicit(&ep->poll_hup_ns, t, memory_order_relaxed);
	}
	return skiff_check_hup(ep);
}

/* Exact readiness of one endpoint. */
static short ep_revents(int epd, short events, int spinning)
{
	struct skiff_ep *ep;
	short rev = 0, k;
	int bad = 0;

	if (skiff_ep_get_fast(epd, &ep) < 0 || ep->fd != epd)
		return POLLNVAL;
	switch (ep->state) {
	case SKIFF_EP_LISTENING:
		rev = fd_revents(ep->fd, POLLIN) & POLLIN;
		break;
	case SKIFF_EP_CONNECTING:
		/* the grant or a refusal has arrived */
		k = fd_revents(ep->fd, POLLIN | POLLOUT);
		if (k & (POLLIN | POLLHUP | POLLERR | POLLOUT))
			rev = POLLOUT;
		break;
	case SKIFF_EP_CONNECTED:
	case SKIFF_EP_DISCONNECTED:
		if (!ep->region)
			return POLLERR;
		if (skiff_rx_avail(ep, &bad))
			rev |= POLLIN;
		/* no send lock here: look without touching the sender's state */
		if (!bad && skiff_tx_room(ep, &bad))
			rev |= POLLOUT;
		if (bad || skiff_peer_gone(ep) || hup_due(ep, spinning || (rev & events)))
			rev |= POLLHUP;
		break;
	default:
		return POLLERR;
	}
	return rev & (events | POLLERR | POLLHUP | POLLNVAL);
}

/* Before sleeping: make the socket's readiness reflect the rings, so that
 * the peer's next step wakes poll(). */
static void arm(int epd, short events)
{
	struct skiff_ep *ep;
	int bad = 0;

	if (skiff_ep_get_fast(epd, &ep) < 0 || !ep->region ||
	    (ep->state != SKIFF_EP_CONNECTED && ep->state != SKIFF_EP_DISCONNECTED))
		return;
	/* a thread inside send/recv already keeps the socket armed */
	if ((events & POLLIN) && skiff_ep_trylock(ep, &ep->recv_lock) == 0) {
		if (ep->region && !skiff_rx_avail(ep, &bad))
			skiff_drain_doorbells(ep, 1);
		skiff_ep_unlock(&ep->recv_lock);
	}
	if (skiff_ep_trylock(ep, &ep->send_lock) == 0) {
		if ((events & POLLOUT) && ep->region &&
		    !skiff_tx_space(ep, &bad) && !bad)
			skiff_post_credit(ep, 1);
		skiff_ep_unlock(&ep->send_lock);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Before arming and sleeping, look at the rings for up to the spin budget:
 * the first microseconds purely, then yielding (a peer sharing our CPU gets
 * to run, and fills the ring meanwhile). A yield that kept us off the CPU
 * for long handed it to a task that does not yield back (a sender retrying
 * a full ring without pause): then this thread sleeps at once for a while,
 * so that the peer's doorbell wakes it instead of its time slice running
 * out. Returns the ready count.
 */
#define PURE_SPIN_NS 2000
#define LONG_YIELD_NS (200 * 1000LL)
#define NO_YIELD_NS (100 * 1000 * 1000LL)

static __thread int64_t no_yield_until;

static int spin(struct scif_pollepd *epds, unsigned nepds, int64_t deadline_ms)
{
	int64_t start = now_ns(), budget = skiff_spin_budget(), t;
	int count;

	if (start < no_yield_until && budget > PURE_SPIN_NS)
		budget = PURE_SPIN_NS;

	if (deadline_ms >= 0 && deadline_ms * 1000000LL - start < budget)
		budget = deadline_ms * 1000000LL - start;
	for (;;) {
		count = 0;
		for (unsigned i = 0; i < nepds; i++) {
			epds[i].revents = epds[i].epd < 0 ? 0 :
				ep_revents(epds[i].epd, epds[i].events, 1);
			count += epds[i].revents != 0;
		}
		if (count)
			return count;
		t = now_ns() - start;
		if (t >= budget)
			return 0;
		if (t > PURE_SPIN_NS) {
			int64_t y = now_ns();

			sched_yield();
			if (now_ns() - y > LONG_YIELD_NS) {
				no_yield_until = y + NO_YIELD_NS;
				budget = 0;
			}
		} else
			for (int k = 0; k < 64; k++)
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#else
				;
#endif
	}
}

/* RLIMIT_NOFILE as last read (0: not yet) */
static unsigned nofile_seen;

int skiff_api_poll(struct scif_pollepd *epds, unsigned int nepds,
			long timeout)
{
	struct pollfd stack[STACK_FDS], *pfd = stack;
	struct rlimit rl;
	int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
	unsigned i;
	int count, r, spun = 0;

	if (nepds && !epds) {
		errno = EFAULT;
		return -1;
	}
	/* poll(2)'s limit, and it keeps a huge count from walking off the
	 * array. The limit last read is kept: a count within it needs no
	 * system call (scif_poll is on the path of every non-blocking
	 * message: two system calls here cut a 64-byte stream by 10x); a
	 * limit lowered since is still enforced by poll(2) when we sleep.
	 * Then the array, as scif_send's buffer is, from SKIFF_PROBE_MIN
	 * bytes (probe.h: one system call). */
	if (nepds > __atomic_load_n(&nofile_seen, __ATOMIC_RELAXED)) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
		    (rl.rlim_cur != RLIM_INFINITY && nepds > rl.rlim_cur)) {
			errno = EINVAL;
			return -1;
		}
		__atomic_store_n(&nofile_seen,
				 rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > UINT_MAX
					 ? UINT_MAX : (unsigned)rl.rlim_cur,
				 __ATOMIC_RELAXED);
	}
	if (nepds && (skiff_addr_plausible(epds, (size_t)nepds * sizeof(*epds)) < 0 ||
		      ((size_t)nepds * sizeof(*epds) >= skiff_probe_min() &&
		       skiff_mem_check(epds, (size_t)nepds * sizeof(*epds),
				       PROT_READ | PROT_WRITE) < 0))) {
		errno = EFAULT;
		return -1;
	}
	if (nepds > STACK_FDS) {
		pfd = calloc(nepds, sizeof(*pfd));
		if (!pfd) {
			errno = ENOMEM;
			return -1;
		}
	}
	for (;;) {
		count = 0;
		for (i = 0; i < nepds; i++) {
			epds[i].revents = epds[i].epd < 0 ? 0 :
				ep_revents(epds[i].epd, epds[i].events, 0);
			count += epds[i].revents != 0;
		}
		if (count || timeout == 0)
			break;
		if (!spun) {
			/* as a blocking receive does: the peer is usually about to
			 * act, and sleeping costs far more than a look */
			spun = 1;
			count = spin(epds, nepds, deadline);
			if (count)
				break;
		}
		for (i = 0; i < nepds; i++) {
			if (epds[i].epd >= 0)
				arm(epds[i].epd, epds[i].events);
			pfd[i].fd = epds[i].epd;
			pfd[i].events = epds[i].events & (POLLIN | POLLOUT);
			pfd[i].revents = 0;
		}
		/* arming may have found the data we want */
		for (i = 0; i < nepds; i++)
			if (epds[i].epd >= 0 &&
			    ep_revents(epds[i].epd, epds[i].events, 0))
				break;
		if (i < nepds)
			continue;
		{
			int t = -1;
			if (deadline >= 0) {
				int64_t left = deadline - now_ms();
				/* past the deadline: one last look, then
				 * report, even if poll() keeps waking us for
				 * records that turn out to be nothing */
				if (left <= 0) {
					timeout = 0;
					continue;
				}
				t = (int)left;
			}
			r = poll(pfd, nepds, t);
		}
		if (r < 0) {
			int e = errno;
			if (pfd != stack)
				free(pfd);
			errno = e;
			return -1;
		}
		if (r == 0) {
			timeout = 0; /* one last look, then report */
			continue;
		}
		/* stale records can make poll() return early: re-check, and
		 * take garbage off sockets that show nothing for us */
		for (i = 0; i < nepds; i++) {
			struct skiff_ep *ep;
			int bad = 0;
			if (!(pfd[i].revents & POLLIN) || epds[i].epd < 0 ||
			    skiff_ep_get_fast(epds[i].epd, &ep) < 0 || !ep->region)
				continue;
			if (skiff_ep_trylock(ep, &ep->recv_lock) == 0) {
				if (!skiff_rx_avail(ep, &bad) &&
				    skiff_drain_doorbells(ep, 1) == 0 &&
				    !skiff_rx_avail(ep, &bad) &&
				    fd_revents(ep->fd, POLLIN) & POLLIN)
					skiff_take_record(ep);
				skiff_ep_unlock(&ep->recv_lock);
			}
		}
	}
	if (pfd != stack)
		free(pfd);
	return count;
}
