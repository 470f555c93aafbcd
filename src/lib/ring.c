/* SPDX-License-Identifier: MIT */
/*
 * ring.c - a connection's shared region, its two byte rings, and the
 * doorbell/credit records that make the descriptor's poll() readiness follow
 * the rings (docs/PROTOCOL.md has the full argument).
 *
 * Invariants while the process is outside the library:
 * - inbound ring non-empty  =>  a DOORBELL record is queued on our socket
 *   (so POLLIN shows); the producer posts one only when none is outstanding,
 *   so a busy exchange makes no system call;
 * - outbound ring full after a credit  =>  a CREDIT record (big enough to make
 *   our socket unwritable) is queued at the peer, which reads it once it has
 *   freed space (so POLLOUT follows the ring).
 * Counters are bumped just before the record is sent, so a consumer woken
 * by a record finds it counted; a consumer told of a record that is not
 * there yet waits for it briefly, and writes it off if it never comes.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "knob.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A drain never reads more records than this in one go: a hostile peer's
 * counters cannot keep us busy. */
#define DRAIN_MAX 4096

uint32_t skiff_ring_size_knob(void)
{
	return (uint32_t)skiff_knob_u64("SKIFF_RING_SIZE", SKIFF_RING_DEFAULT,
					SKIFF_RING_MIN, SKIFF_RING_MAX,
					SKIFF_KNOB_SIZE | SKIFF_KNOB_POW2,
					"bytes");
}

/* A connection to another host's node: its bytes cross two daemons, each
 * hop a wake-up, and a 4 KiB ring caps a stream at one ring per round of
 * wake-ups (0.18-0.21 GB/s between hosts; 0.48 with 64 KiB). Its
 * non-blocking sender could already queue ~68 KiB more in the daemons and
 * the link, so the ring adds no new kind of bound. */
#define RELAY_RING_DEFAULT 65536u

uint32_t skiff_relay_ring_size_knob(void)
{
	return (uint32_t)skiff_knob_u64("SKIFF_RELAY_RING_SIZE",
					RELAY_RING_DEFAULT, SKIFF_RING_MIN,
					SKIFF_RING_MAX,
					SKIFF_KNOB_SIZE | SKIFF_KNOB_POW2,
					"bytes");
}

int skiff_region_create(uint32_t ring_size, int *memfd_out)
{
	size_t size = skiff_region_size(ring_size);
	int fd = memfd_create("skiff-conn", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	/* both sides use it through the passed O_RDWR descriptors; no other
	 * user may re-open it through /proc (memfds start 0777) */
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*memfd_out = fd;
	return 0;
}

static void ring_init(struct skiff_ring *r, struct skiff_region_hdr *h, int i,
		      uint32_t ring_size)
{
	memset(r, 0, sizeof(*r));
	r->ctl = &h->ring[i];
	r->data = (unsigned char *)h + skiff_ring_offset(ring_size, i);
	r->size = ring_size;
	r->lines = skiff_ring_lines(ring_size);
}

int skiff_conn_attach(struct skiff_ep *ep, int memfd, int side,
		      uint32_t ring_size, size_t region_size)
{
	struct skiff_region_hdr *h;

	h = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (h == MAP_FAILED)
		return -errno;
	if (side == 0) {
		h->magic = SKIFF_REGION_MAGIC;
		h->version = SKIFF_REGION_VERSION;
		h->ring_size = ring_size;
		h->region_size = (uint32_t)region_size;
	}
	ep->region = h;
	ep->region_size = region_size;
	ep->side = side;
	/* ring i is written by side i */
	ring_init(&ep->tx, h, side, ring_size);
	ring_init(&ep->rx, h, 1 - side, ring_size);
	atomic_store(&ep->dead, 0);
	atomic_store(&ep->poll_hup_ns, 0); /* endpoints are recycled */
	return 0;
}

void skiff_conn_publish(struct skiff_ep *ep)
{
	struct stat st;

	if (ep->region && fstat(ep->fd, &st) == 0)
		__atomic_store_n(&ep->region->sock_ino[ep->side], (uint64_t)st.st_ino,
				 __ATOMIC_RELAXED);
}

void skiff_conn_detach(struct skiff_ep *ep)
{
	if (ep->region)
		munmap(ep->region, ep->region_size);
	ep->region = NULL;
	ep->region_size = 0;
	memset(&ep->tx, 0, sizeof(ep->tx));
	memset(&ep->rx, 0, sizeof(ep->rx));
}

void skiff_mark_dead(struct skiff_ep *ep)
{
	atomic_store_explicit(&ep->dead, 1, memory_order_relaxed);
}

int skiff_peer_gone(struct skiff_ep *ep)
{
	if (atomic_load_explicit(&ep->dead, memory_order_relaxed))
		return 1;
	if (ep->region && LOAD(&ep->region->closed[1 - ep->side]))
		return 1;
	return 0;
}

/* Ask the kernel whether the peer's socket is gone (SIGKILL leaves no
 * closed flag behind). */
int skiff_check_hup(struct skiff_ep *ep)
{
	struct pollfd p = { .fd = ep->fd, .events = 0 };

	if (skiff_ep_verify(ep) < 0)
		skiff_mark_dead(ep);
	else if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		skiff_mark_dead(ep);
	return skiff_peer_gone(ep);
}

uint32_t skiff_rx_avail(struct skiff_ep *ep, int *bad)
{
	struct skiff_ring *r = &ep->rx;
	uint32_t head = LOAD(&r->ctl->head);
	/* pos after head: see skiff_tx_room; atomic, as scif_poll may read
	 * it while a receive moves it */
	uint32_t avail = head - (uint32_t)__atomic_load_n(&r->pos, __ATOMIC_RELAXED);

	/* We may be ahead of the head: line stamps are published before it
	 * (region.h), and we consume what they show. By less than a ring. */
	if ((int32_t)avail < 0 && 0u - avail < r->size)
		return 0;
	if (avail > r->size - 1) { /* the peer wrote nonsense */
		*bad = 1;
		skiff_mark_dead(ep);
		return 0;
	}
	return avail;
}

/* Free space in the outbound ring as the producer (send_lock held) sees it. */
static uint32_t tx_room(struct skiff_ep *ep, int *bad, uint32_t *tail_out)
{
	struct skiff_ring *r = &ep->tx;
	uint32_t tail = LOAD(&r->ctl->tail);
	uint32_t used = (uint32_t)r->pos - tail;

	if (used > r->size - 1) {
		*bad = 1;
		skiff_mark_dead(ep);
		return 0;
	}
	*tail_out = tail;
	return r->size - 1 - used;
}

/*
 * The same from a thread that does not hold the send lock (scif_poll): it
 * writes nothing of the producer's, and judges the tail only when no send
 * moved our position while it looked. With a send under way, a tail loaded
 * a moment before the position may be older than the room the sender has
 * used since (position minus tail beyond the ring), and one loaded after it
 * may cover bytes sent since (tail beyond the position): neither is the
 * peer's fault.
 */
uint32_t skiff_tx_room(struct skiff_ep *ep, int *bad)
{
	struct skiff_ring *r = &ep->tx;
	uint32_t p0 = (uint32_t)__atomic_load_n(&r->pos, __ATOMIC_ACQUIRE);
	uint32_t tail = LOAD(&r->ctl->tail);
	uint32_t p1 = (uint32_t)__atomic_load_n(&r->pos, __ATOMIC_ACQUIRE);
	uint32_t used = p1 - tail;

	if (p0 == p1) {
		if (used > r->size - 1) {
			*bad = 1;
			skiff_mark_dead(ep);
			return 0;
		}
		return r->size - 1 - used;
	}
	/* a send is under way: room if the tail is within a ring behind */
	return used < r->size - 1 ? r->size - 1 - used : 0;
}

/* The producer's look (send_lock held): also refreshes its cached tail. A
 * thread without the lock must not: a tail it loaded a moment ago may be
 * older than the one the sender cached since, and the sender would then see
 * more room than there is and overwrite unread bytes. */
uint32_t skiff_tx_space(struct skiff_ep *ep, int *bad)
{
	uint32_t tail = 0, space = tx_room(ep, bad, &tail);

	if (!*bad)
		ep->tx.cached = tail;
	return space;
}

static int send_record(struct skiff_ep *ep, uint16_t type, size_t pad)
{
	static const unsigned char zeros[SKIFF_CREDIT_BYTES];
	struct skiff_wire_msg m;
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };

	if (skiff_ep_verify(ep) < 0) {
		skiff_mark_dead(ep);
		return -EBADF;
	}
	skiff_wire_init(&m, type);
	iov[0].iov_base = &m;
	iov[0].iov_len = sizeof(m.hdr) + m.hdr.body_len;
	if (pad) {
		iov[1].iov_base = (void *)zeros;
		iov[1].iov_len = pad;
		mh.msg_iovlen = 2;
	}
	if (sendmsg(ep->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
			return -EAGAIN;
		skiff_mark_dead(ep);
		return -ECONNRESET;
	}
	return 0;
}

/*
 * Records we counted but could not send (EAGAIN: our records fill the
 * peer's queue, so it is readable anyway). The consumer does not wait for
 * them in a non-blocking call, so we owe them: sent at our next chance,
 * they make the counts meet again.
 */
static int send_owed(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->tx;
	int ret;

	while (r->owed_c) {
		ret = send_record(ep, SKIFF_MSG_CREDIT,
				  SKIFF_CREDIT_BYTES - sizeof(struct skiff_wire_hdr));
		if (ret < 0)
			return ret;
		r->owed_c--;
	}
	while (r->owed_d) {
		ret = send_record(ep, SKIFF_MSG_DOORBELL, 0);
		if (ret < 0)
			return ret;
		r->owed_d--;
	}
	return 0;
}

/* Send a counted record; one that does not fit now is owed. */
static int send_counted(struct skiff_ep *ep, uint16_t type)
{
	struct skiff_ring *r = &ep->tx;
	int ret;

	if (r->owed_c || r->owed_d) { /* keep the order they were counted in */
		ret = send_owed(ep);
		if (ret < 0 && ret != -EAGAIN)
			return ret;
	}
	if (!r->owed_c && !r->owed_d)
		ret = type == SKIFF_MSG_CREDIT ?
			send_record(ep, type, SKIFF_CREDIT_BYTES -
						      sizeof(struct skiff_wire_hdr)) :
			send_record(ep, type, 0);
	else
		ret = -EAGAIN;
	if (ret == -EAGAIN) {
		if (type == SKIFF_MSG_CREDIT)
			r->owed_c++;
		else
			r->owed_d++;
		return 0;
	}
	return ret < 0 ? ret : 0;
}

static int send_counted_owed(struct skiff_ep *ep)
{
	int ret = send_owed(ep);

	return ret == -EAGAIN ? 0 : ret;
}

static int post_doorbell(struct skiff_ep *ep)
{
	struct skiff_ring *r = &ep->tx;

	if (LOAD(&r->ctl->d_drained) != r->posted)
		/* one is outstanding: POLLIN already shows (or will, once
		 * we paid what we owe) */
		return r->owed_d || r->owed_c ? send_counted_owed(ep) : 0;
	/* count it before it can be seen: a consumer woken by the record
	 * must find the counter covering it, or it leaves it queued */
	r->posted++;
	STORE(&r->ctl->d_posted, r->posted);
	return send_counted(ep, SKIFF_MSG_DOORBELL);
}

int skiff_post_doorbell(struct skiff_ep *ep)
{
	return post_doorbell(ep);
}

/*
 * Doorbells and spinning consumers. A consumer about to poll the ring in a
 * blocking receive publishes spin = (want << 32) | pos: it waits at pos and
 * will not return before it has consumed want more bytes. A producer whose
 * new bytes [h0, h1) start exactly there and fit in want skips the
 * doorbell: the consumer is bound to take them all, so no bytes are left
 * unannounced when it returns, and a busy exchange makes no system call.
 * Once the consumer consumed from pos, its stale spin word can never match
 * again (later bytes start beyond pos), so leaving a receive needs no store.
 * Going to sleep, it clears the word with a full barrier before its last
 * look at the ring (skiff_drain_doorbells): Dekker against the producer's
 * head exchange and spin load.
 */
void skiff_spin_announce(struct skiff_ep *ep, uint32_t want)
{
	/* a plain store: its latency hides behind the wait that follows */
	__atomic_store_n(&ep->rx.ctl->spin,
			 ((uint64_t)want << 32) | (uint32_t)ep->rx.pos, __ATOMIC_RELEASE);
}

static int spin_covers(struct skiff_ring *r, uint32_t h0)
{
	uint64_t spin = __atomic_load_n(&r->ctl->spin, __ATOMIC_ACQUIRE);
	uint32_t want = (uint32_t)(spin >> 32);

	return want && (uint32_t)spin == h0 && (uint32_t)r->pos - h0 <= want;
}

/* How long a producer looks for a consumer about to announce itself
 * before it pays for a doorbell record (a system call on each side, some
 * microseconds): in a ping-pong the reply often crosses the consumer's way
 * from its send into its receive. */
#define ANNOUNCE_WAIT_NS 2000

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int skiff_post_data_doorbell(struct skiff_ep *ep, uint32_t h0, int block)
{
	struct skiff_ring *r = &ep->tx;
	int64_t end;

	/* ring_put's head exchange was a full barrier (see above); so is
	 * every later load of spin, being after it */
	if (spin_covers(r, h0))
		return 0;
	if (LOAD(&r->ctl->d_drained) != r->posted)
		/* one is outstanding: POLLIN already shows */
		return r->owed_d || r->owed_c ? send_counted_owed(ep) : 0;
	/* only consumers in a blocking receive announce, and only a
	 * blocking send may wait for one */
	if (!block)
		return post_doorbell(ep);
	end = mono_ns() + ANNOUNCE_WAIT_NS;
	do {
		for (int i = 0; i < 16; i++) {
#if defined(__x86_64__)
			__builtin_ia32_pause();
#endif
			if (spin_covers(r, h0))
				return 0;
		}
	} while (mono_ns() < end);
	return post_doorbell(ep);
}

/*
 * Leaving a receive that got all it asked for: with the ring empty, take
 * doorbells off the socket so that poll() shows no stale POLLIN. (With
 * bytes left, a doorbell announced them: see above.)
 */
void skiff_recv_leave(struct skiff_ep *ep, int wait)
{
	struct skiff_ring *r = &ep->rx;

	if (!skiff_line_avail(r) &&
	    ((int32_t)(LOAD(&r->ctl->d_posted) - r->drained) > 0 ||
	     LOAD(&r->ctl->c_posted) != r->c_drained))
		skiff_drain_doorbells(ep, wait);
}

/* Is our descriptor writable, i.e. is no credit of ours still queued? */
static int sock_writable(struct skiff_ep *ep)
{
	struct pollfd p = { .fd = ep->fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/* Is this full-ring call a retry within RETRY_NS of the previous one? */
#define RETRY_NS 1000

static int quick_retry(struct skiff_ring *r)
{
	uint64_t t = (uint64_t)mono_ns(), last = r->full_ns;

	r->full_ns = t;
	return t - last < RETRY_NS;
}

int skiff_post_credit(struct skiff_ep *ep, int block)
{
	struct skiff_ring *r = &ep->tx;
	int ret;

	/* The consumer removes a credit just after freeing space, so one we
	 * count as outstanding may be gone already (and the space it stood
	 * for used up): then our descriptor is writable, and we need a new
	 * one. Several outstanding are fine: the consumer drains through the
	 * last it was told of. It publishes the count right after removing
	 * the record, but may be preempted in between (for milliseconds on a
	 * busy machine), so we look at our descriptor: a call about to sleep
	 * always, a non-blocking one only when it did not fail the same way
	 * a moment ago. A program retrying at once then makes no system call,
	 * while one that waited for POLLOUT in between (poll() takes longer
	 * than RETRY_NS) is never woken twice for nothing. */
	if (LOAD(&r->ctl->c_drained) == r->c_posted ||
	    ((block || !quick_retry(r)) && sock_writable(ep))) {
		/* counted before sent (see post_doorbell); the doorbell
		 * behind the credit replaces one the consumer may remove on
		 * its way to the credit */
		r->posted++;
		STORE(&r->ctl->d_posted, r->posted);
		r->c_posted++;
		/* full barrier: c_posted store vs the consumer's tail store */
		__atomic_exchange_n(&r->ctl->c_posted, r->c_posted, __ATOMIC_SEQ_CST);
		ret = send_counted(ep, SKIFF_MSG_CREDIT);
		if (ret < 0)
			return ret;
		return send_counted(ep, SKIFF_MSG_DOORBELL);
	}
	__atomic_exchange_n(&r->ctl->c_posted, r->c_posted, __ATOMIC_SEQ_CST);
	return r->owed_d || r->owed_c ? send_counted_owed(ep) : 0;
}

/* Remove one record from our socket and account for it. 1 if one was
 * removed, 0 if none is queued, -ECONNRESET if the peer is gone. With
 * @publish, a doorbell's count goes to the region at once; without, the
 * caller publishes it (see skiff_drain_doorbells). */
static int take_record(struct skiff_ep *ep, int publish)
{
	unsigned char buf[64];
	struct skiff_wire_msg m;
	ssize_t n;

	if (skiff_ep_verify(ep) < 0) {
		skiff_mark_dead(ep);
		return -EBADF;
	}
	n = recv(ep->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		skiff_mark_dead(ep);
		return -ECONNRESET;
	}
	if (n == 0) {
		skiff_mark_dead(ep);
		return -ECONNRESET;
	}
	if (skiff_wire_decode(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf),
			      &m) < 0)
		return 1; /* garbage from a hostile peer: dropped */
	/* Every record is counted before it is sent: one found with its
	 * count already reached was written off by drain_to() (it came too
	 * late). Counting it again would put us ahead of the producer, which
	 * would then believe one is outstanding for good. */
	if (m.hdr.type == SKIFF_MSG_DOORBELL) {
		if ((int32_t)(LOAD(&ep->rx.ctl->d_posted) - ep->rx.drained) > 0) {
			ep->rx.drained++;
			if (publish)
				STORE(&ep->rx.ctl->d_drained, ep->rx.drained);
		}
	} else if (m.hdr.type == SKIFF_MSG_CREDIT) {
		if ((int32_t)(LOAD(&ep->rx.ctl->c_posted) - ep->rx.c_drained) > 0) {
			ep->rx.c_drained++;
			STORE(&ep->rx.ctl->c_drained, ep->rx.c_drained);
		}
	}
	return 1;
}

int skiff_take_record(struct skiff_ep *ep)
{
	return take_record(ep, 1);
}

/*
 * Remove records until @dt doorbells and @ct credits in all were drained.
 * Counters are bumped just before a record is sent, so one may be a moment
 * away. Without @wait (a non-blocking call) we take what is queued and
 * leave the rest counted as outstanding: it arrives, making our descriptor
 * readable, and a later drain removes it (a producer whose send found our
 * queue full owes it and sends it later). With @wait (a call about to
 * sleep, or scif_poll) we wait for it briefly, and write off one that never
 * comes (a hostile counter), so that the counts meet again.
 */
#define RECORD_WAIT_MS 20

static int drain_to(struct skiff_ep *ep, uint32_t dt, uint32_t ct, int wait,
		    int publish)
{
	struct skiff_ring *r = &ep->rx;
	int n = 0, waited = 0, ret;

	while (((int32_t)(dt - r->drained) > 0 || (int32_t)(ct - r->c_drained) > 0) &&
	       n++ < DRAIN_MAX) {
		ret = take_record(ep, publish);
		if (ret < 0)
			return ret;
		if (ret > 0)
			continue;
		if (!wait)
			break;
		if (waited < RECORD_WAIT_MS) {
			struct pollfd p = { .fd = ep->fd, .events = POLLIN };
			poll(&p, 1, 1);
			waited++;
			continue;
		}
		if ((int32_t)(dt - r->drained) > 0)
			r->drained = dt;
		if ((int32_t)(ct - r->c_drained) > 0)
			r->c_drained = ct;
		STORE(&r->ctl->c_drained, r->c_drained);
		break;
	}
	return 0;
}

int skiff_drain_credits(struct skiff_ep *ep, int wait)
{
	struct skiff_ring *r = &ep->rx;
	uint32_t ct = LOAD(&r->ctl->c_posted);

	if ((int32_t)(ct - r->c_drained) > DRAIN_MAX)
		ct = r->c_drained + DRAIN_MAX; /* hostile counter */
	/* doorbells before the credit go too; the one behind it stays */
	return drain_to(ep, r->drained, ct, wait, 1);
}

/*
 * Called with the inbound ring seen empty. Returns 1 if data arrived
 * meanwhile (nothing drained), else 0 after removing every doorbell that was
 * posted so far; from then on the producer posts a new one with its next
 * data.
 */
int skiff_drain_doorbells(struct skiff_ep *ep, int wait)
{
	struct skiff_ring *r = &ep->rx;
	uint32_t target, ct;
	int bad = 0, ret;

	/* Nobody polls the ring any more: from here on the producer must
	 * ring. The exchange is a full barrier against its head exchange. */
	__atomic_exchange_n(&r->ctl->spin, 0, __ATOMIC_SEQ_CST);
	target = LOAD(&r->ctl->d_posted);
	/* credits too: with the ring empty there is room, and one left
	 * queued (it was on its way when we freed space) would keep the
	 * producer's descriptor unwritable */
	ct = LOAD(&r->ctl->c_posted);
	if ((int32_t)(ct - r->c_drained) > DRAIN_MAX)
		ct = r->c_drained + DRAIN_MAX; /* hostile counter */
	if ((int32_t)(ct - r->c_drained) < 0)
		ct = r->c_drained;
	if ((int32_t)(target - r->drained) <= 0) { /* none outstanding */
		if (ct != r->c_drained && !skiff_rx_avail(ep, &bad) && !bad) {
			ret = drain_to(ep, r->drained, ct, wait, 1);
			STORE(&r->ctl->d_drained, r->drained);
			if (ret < 0)
				return ret;
		}
		return skiff_rx_avail(ep, &bad) || skiff_rx_direct(ep) ? 1 : 0;
	}
	if (target - r->drained > DRAIN_MAX)
		target = r->drained + DRAIN_MAX; /* hostile counter */
	/* full barrier: our d_drained store vs the producer's head store */
	__atomic_exchange_n(&r->ctl->d_drained, target, __ATOMIC_SEQ_CST);
	if (skiff_rx_avail(ep, &bad) || bad || skiff_rx_direct(ep)) {
		/* the producer may have relied on the old count: keep them */
		STORE(&r->ctl->d_drained, r->drained);
		return bad ? 0 : 1;
	}
	/* Silently: the region says @target from the exchange above until
	 * we are done. Publishing each doorbell as we take it would move the
	 * count back below the producer's, and a producer looking then would
	 * skip the doorbell for bytes it writes meanwhile, believing one
	 * still queued, which we are about to take: we would sleep with
	 * those bytes in the ring (tests/test_nb_relay: a 1 s stall). */
	ret = drain_to(ep, target, ct, wait, 0);
	STORE(&r->ctl->d_drained, r->drained);
	if (ret < 0)
		return ret;
	/* a record still on its way: the producer may have skipped a
	 * doorbell for data it wrote meanwhile, counting on it */
	if (r->drained != target &&
	    (skiff_rx_avail(ep, &bad) || skiff_rx_direct(ep)))
		return 1;
	return 0;
}
