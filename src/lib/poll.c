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
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#define STACK_FDS 64

static short fd_revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* Exact readiness of one endpoint. */
static short ep_revents(int epd, short events)
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
		if (!bad && skiff_tx_space(ep, &bad))
			rev |= POLLOUT;
		if (bad || skiff_check_hup(ep))
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
			skiff_drain_doorbells(ep);
		skiff_ep_unlock(&ep->recv_lock);
	}
	if (skiff_ep_trylock(ep, &ep->send_lock) == 0) {
		if ((events & POLLOUT) && ep->region &&
		    !skiff_tx_space(ep, &bad) && !bad)
			skiff_post_credit(ep);
		skiff_ep_unlock(&ep->send_lock);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

SKIFF_API int scif_poll(struct scif_pollepd *epds, unsigned int nepds,
			long timeout)
{
	struct pollfd stack[STACK_FDS], *pfd = stack;
	int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
	unsigned i;
	int count, r;

	if (nepds && !epds) {
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
				ep_revents(epds[i].epd, epds[i].events);
			count += epds[i].revents != 0;
		}
		if (count || timeout == 0)
			break;
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
			    ep_revents(epds[i].epd, epds[i].events))
				break;
		if (i < nepds)
			continue;
		{
			int t = -1;
			if (deadline >= 0) {
				int64_t left = deadline - now_ms();
				t = left <= 0 ? 0 : (int)left;
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
				    skiff_drain_doorbells(ep) == 0 &&
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
