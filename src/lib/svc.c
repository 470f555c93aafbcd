/* SPDX-License-Identifier: MIT */
/*
 * svc.c - the connection's RMA control socket: records to the peer (a
 * queue that never blocks), the peer's records taken in and handed to the
 * window tables (lwin.c, rwin.c), and the control service, a thread that
 * takes them in while the user's threads are elsewhere.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "wire_rma.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* ---- the control socket ----
 * Sends never block. A record the socket does not take now waits in the
 * connection's queue, in order, and goes out as the socket drains (the
 * control service watches for that, and every call on the connection
 * flushes first). A call that tells the peer of something it may use at
 * once (a window, a mapping) returns only once its record is in the socket,
 * so the peer sees it before anything the user sends next; meanwhile it
 * takes in the peer's records (they may be what the peer is stuck on), and
 * it gives up on a peer whose socket takes nothing for SEND_STALL_MS. A peer
 * that leaves more than OUTQ_MAX records unread when we answer one of its
 * own (WIN_DEL_ACK) breaks the connection: ECONNRESET for that connection,
 * nothing for the others. Records of our own making (MAP_UNREF from a loop
 * of scif_munmap, say) may queue up to OUTQ_OWN_MAX while a busy peer
 * catches up.
 * The queue, the socket's sending side and ctl_sent are under r->out_lock,
 * which is never held while waiting (taken after r->lock, and after
 * mmap.c's list lock: scif_munmap sends without r->lock).
 */
#define OUTQ_MAX 256
#define OUTQ_OWN_MAX 65536
#define SEND_STALL_MS 2000

struct skiff_outrec {
	struct skiff_rma_msg m;
	int fd; /* our own duplicate, or -1 */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The peer broke the protocol (or stopped reading): this connection is
 * reset. Shutting the socket down lets the peer's service see it too.
 * Under out_lock. */
static void break_locked(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;

	atomic_store(&r->broken, 1);
	skiff_mark_dead(ep);
	for (size_t i = r->outhead; i < r->nout; i++)
		if (r->outq[i].fd >= 0)
			close(r->outq[i].fd);
	r->nout = r->outhead = 0;
	atomic_store(&r->want_out, 0);
	if (r->ctl >= 0)
		shutdown(r->ctl, SHUT_RDWR);
}

static void break_conn(struct skiff_ep *ep)
{
	pthread_mutex_lock(&ep->rma->out_lock);
	break_locked(ep);
	pthread_mutex_unlock(&ep->rma->out_lock);
}

/* One record into the socket: 0, -EAGAIN (full) or -ECONNRESET. */
static int xmit(struct skiff_rma *r, struct skiff_rma_msg *m, int fd)
{
	struct iovec iov = { m, sizeof(m->hdr) + m->hdr.body_len };

	while (skiff_send_fd(r->ctl, &iov, 1, fd, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
		    errno == ENOMEM || errno == ETOOMANYREFS)
			return -EAGAIN; /* later: the socket or the kernel drains */
		return -ECONNRESET;
	}
	r->ctl_sent++;
	STORE(&r->self_ctl->ctl_posted, r->ctl_sent);
	return 0;
}

/* Send what the queue holds, in order, as far as the socket takes it:
 * 0 (all sent), -EAGAIN (some left) or -ECONNRESET. Under out_lock. */
static int flush_locked(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;

	while (r->outhead < r->nout) {
		struct skiff_outrec *o = &r->outq[r->outhead];
		int e = xmit(r, &o->m, o->fd);

		if (e == -EAGAIN)
			return e;
		if (e < 0) {
			break_locked(ep);
			return e;
		}
		if (o->fd >= 0)
			close(o->fd);
		r->outhead++;
	}
	r->nout = r->outhead = 0;
	atomic_store(&r->want_out, 0);
	return 0;
}

/* Records still queued after a flush; -1 once the connection is broken. */
static long flush_out(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	long left;

	pthread_mutex_lock(&r->out_lock);
	if (r->ctl >= 0 && !atomic_load(&r->broken))
		flush_locked(ep);
	left = atomic_load(&r->broken) ? -1 : (long)(r->nout - r->outhead);
	pthread_mutex_unlock(&r->out_lock);
	return left;
}

/* Under out_lock. */
static int enqueue(struct skiff_ep *ep, const struct skiff_rma_msg *m, int fd)
{
	struct skiff_rma *r = ep->rma;
	int dfd = -1;

	if (r->nout - r->outhead >=
	    (m->hdr.type == SKIFF_RMA_WIN_DEL_ACK ? OUTQ_MAX : OUTQ_OWN_MAX)) {
		break_locked(ep); /* the peer does not read its socket */
		return -ECONNRESET;
	}
	if (r->nout == r->capout) {
		if (r->outhead) {
			memmove(r->outq, r->outq + r->outhead,
				(r->nout - r->outhead) * sizeof(*r->outq));
			r->nout -= r->outhead;
			r->outhead = 0;
		} else {
			size_t nc = r->capout ? r->capout * 2 : 16;
			void *t = realloc(r->outq, nc * sizeof(*r->outq));
			if (!t)
				return -ENOMEM;
			r->outq = t;
			r->capout = nc;
		}
	}
	if (fd >= 0) {
		dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the caller closes its own */
		if (dfd < 0)
			return errno == EMFILE || errno == ENFILE ? -EAGAIN : -ENOMEM;
	}
	r->outq[r->nout].m = *m;
	r->outq[r->nout].fd = dfd;
	r->nout++;
	atomic_store(&r->want_out, 1);
	return 0;
}

/* Wait until the queue is in the socket (see above). Under r->lock. */
static int drain_wait(struct skiff_ep *ep)
{
	struct skiff_rma *r = ep->rma;
	long left = flush_out(ep), now;
	int64_t since = mono_ms();

	while (left > 0) {
		struct pollfd p = { .fd = r->ctl, .events = POLLIN | POLLOUT };

		if (skiff_peer_gone(ep))
			return -ECONNRESET;
		if (poll(&p, 1, 10) == 1 && (p.revents & (POLLHUP | POLLERR))) {
			skiff_mark_dead(ep);
			return -ECONNRESET;
		}
		if (p.revents & POLLIN)
			skiff_rma_sync(ep, 1);
		now = flush_out(ep);
		if (now < left) {
			since = mono_ms();
		} else if (mono_ms() - since > SEND_STALL_MS) {
			break_conn(ep);
			return -ECONNRESET;
		}
		left = now;
	}
	return left < 0 ? -ECONNRESET : 0;
}

/* @wait: return only once the record is in the socket (under r->lock
 * then); without, r->lock is not needed. */
int skiff_ctl_send(struct skiff_ep *ep, struct skiff_rma_msg *m, int fd,
		   int wait)
{
	struct skiff_rma *r = ep->rma;
	int ret;

	pthread_mutex_lock(&r->out_lock);
	if (r->ctl < 0 || atomic_load(&r->broken)) {
		ret = -ECONNRESET;
	} else if (r->outhead == r->nout &&
		   (ret = xmit(r, m, fd)) != -EAGAIN) {
		if (ret < 0)
			break_locked(ep);
	} else {
		ret = enqueue(ep, m, fd);
		if (ret == 0 && flush_locked(ep) == -ECONNRESET)
			ret = -ECONNRESET;
	}
	pthread_mutex_unlock(&r->out_lock);
	if (ret == -ECONNRESET)
		skiff_mark_dead(ep); /* sticky: every later call says so too */
	if (ret < 0 || !wait)
		return ret;
	return drain_wait(ep);
}

int skiff_rma_send_range(struct skiff_ep *ep, uint16_t type, uint64_t off,
			 uint64_t len)
{
	struct skiff_rma_msg m;

	skiff_rma_msg_init(&m, type);
	m.body.range.offset = off;
	m.body.range.len = len;
	/* a mapping reference must reach the owner before it reuses offsets;
	 * deletions and answers are waited for (or not) by their senders */
	return skiff_ctl_send(ep, &m, -1, type == SKIFF_RMA_MAP_REF);
}

/* The connection ends (window.c, under r->lock): the records still queued
 * go nowhere, and the socket closes. */
void skiff_ctl_close(struct skiff_rma *r)
{
	for (size_t i = r->outhead; i < r->nout; i++)
		if (r->outq[i].fd >= 0)
			close(r->outq[i].fd);
	if (r->ctl >= 0)
		close(r->ctl);
}

static void (*rma_hook)(int epd, const struct skiff_rma_req_rec *q);

void skiff_svc_set_rma_hook(void (*fn)(int epd, const struct skiff_rma_req_rec *q))
{
	rma_hook = fn;
}

/* RMA_DONE from the daemon of a relayed connection: a sequence number we
 * submitted and not yet completed, else the daemon broke the protocol. */
static int rma_done(struct skiff_ep *ep, const struct skiff_rma_done_rec *d)
{
	struct skiff_rma *r = ep->rma;
	uint64_t sub, done;

	pthread_mutex_lock(&r->clock);
	sub = r->submitted;
	done = atomic_load(&r->completed);
	if (d->seq <= done || d->seq > sub || r->done[d->seq % SKIFF_RMA_TRACK] ||
	    !r->rstatus) {
		pthread_mutex_unlock(&r->clock);
		return -EPROTO;
	}
	r->rstatus[d->seq % SKIFF_RMA_TRACK] = (int)d->status;
	pthread_mutex_unlock(&r->clock);
	skiff_rma_complete(ep, d->seq);
	return 0;
}

/* A WIN_DEL answered later (a daemon's end: see skiff_rwin_del). */
struct skiff_dack {
	uint64_t seq, off, len;
};

/* At most this many waiting answers per connection; beyond, every one is
 * sent at once (a process unregistering that fast under its own RMAs only
 * risks its own pages). */
#define DACKS_MAX 4096

static int defer_ack(struct skiff_rma *r, uint64_t seq, uint64_t off,
		     uint64_t len)
{
	if (r->ndacks == r->capdacks) {
		size_t cap = r->capdacks ? 2 * r->capdacks : 8;
		struct skiff_dack *d;

		if (cap > DACKS_MAX)
			return -ENOMEM;
		d = realloc(r->dacks, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		r->dacks = d;
		r->capdacks = cap;
	}
	r->dacks[r->ndacks++] = (struct skiff_dack){ seq, off, len };
	return 0;
}

static void flush_acks(struct skiff_ep *ep, int all)
{
	struct skiff_rma *r = ep->rma;
	uint64_t done = atomic_load(&r->completed);
	size_t k = 0;

	/* in the order asked (the owner counts answers); their sequence
	 * numbers only grow, so the ones done are a prefix */
	while (k < r->ndacks && (all || r->dacks[k].seq <= done)) {
		skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL_ACK, r->dacks[k].off,
				     r->dacks[k].len);
		k++;
	}
	if (!k)
		return;
	r->ndacks -= k;
	if (r->ndacks) {
		memmove(r->dacks, r->dacks + k, r->ndacks * sizeof(*r->dacks));
	} else {
		free(r->dacks);
		r->dacks = NULL;
		r->capdacks = 0;
	}
	skiff_rwin_reap_grave(r);
}

void skiff_rma_flush_acks(struct skiff_ep *ep)
{
	flush_acks(ep, atomic_load(&ep->rma->orphaned));
}

/* A WIN_DEL: taken in, answered now or once the RMAs before it are done
 * (behind any answer still waiting). */
static void win_del(struct skiff_ep *ep, uint64_t off, uint64_t len)
{
	struct skiff_rma *r = ep->rma;
	uint64_t after;
	int later = skiff_rwin_del(ep, off, len, &after);

	if (!later && !r->ndacks) {
		skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL_ACK, off, len);
		return;
	}
	if (defer_ack(r, later ? after : 0, off, len) < 0) {
		flush_acks(ep, 1); /* too many waiting: all of them now */
		skiff_rma_send_range(ep, SKIFF_RMA_WIN_DEL_ACK, off, len);
		return;
	}
	skiff_rma_flush_acks(ep);
}

/* Take in every record the peer sent on the control socket. Called with
 * r->lock held. Cheap when there is none: one load of the peer's counter.
 * @reqs_only: stop before the first record that is not an RMA_REQ (left
 * for the service thread; the daemon's loop takes RMA_REQs only). */
static int sync_n(struct skiff_ep *ep, int force, int max, int reqs_only)
{
	struct skiff_rma *r = ep->rma;
	uint32_t posted = LOAD(&r->peer_ctl->ctl_posted);

	if (atomic_load_explicit(&r->want_out, memory_order_relaxed))
		flush_out(ep);
	if (r->ngrave)
		skiff_rwin_reap_grave(r);
	if ((posted == r->ctl_seen && !force) || r->ctl < 0 || atomic_load(&r->broken))
		return 0;
	for (int k = 0; k < max && !atomic_load(&r->broken); k++) {
		unsigned char buf[128];
		union {
			char b[SKIFF_CMSG_SPACE];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		struct skiff_rma_msg m;
		int fd;
		ssize_t n;

		if (reqs_only) {
			struct skiff_wire_hdr h;

			n = recv(r->ctl, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n != (ssize_t)sizeof(h) || h.type != SKIFF_RMA_REQ)
				return 1; /* the rest is the service's */
		}
		n = recvmsg(r->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		/* even an empty record may carry descriptors: take them first
		 * (0 bytes and none is the end of the stream) */
		fd = skiff_take_fd(&mh);
		if (n == 0) {
			if (fd < 0)
				break;
			close(fd);
			continue;
		}
		r->ctl_seen++;
		if (skiff_rma_decode(buf, (size_t)n, &m) == 0) {
			switch (m.hdr.type) {
			case SKIFF_RMA_WIN_ADD:
				if (skiff_rwin_add(r, &m.body.win, &fd) < 0)
					break_conn(ep);
				break;
			case SKIFF_RMA_WIN_DEL:
				win_del(ep, m.body.range.offset, m.body.range.len);
				break;
			case SKIFF_RMA_WIN_DEL_ACK:
				r->del_acked++;
				break;
			case SKIFF_RMA_MAP_REF:
				skiff_lwin_map_ref(r, m.body.range.offset, m.body.range.len, 1);
				break;
			case SKIFF_RMA_MAP_UNREF:
				skiff_lwin_map_ref(r, m.body.range.offset, m.body.range.len, -1);
				break;
			case SKIFF_RMA_REQ:
				/* only a daemon's end carries them */
				if (ep->relayed == SKIFF_RELAYED_DAEMON && rma_hook)
					rma_hook(ep->fd, &m.body.req);
				else
					break_conn(ep);
				break;
			case SKIFF_RMA_DONE:
				if (ep->relayed != SKIFF_RELAYED_PROCESS ||
				    rma_done(ep, &m.body.done) < 0)
					break_conn(ep);
				break;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	/* a counter that ran ahead of the records (a hostile peer) must not
	 * make every later call look again */
	r->ctl_seen = posted;
	return 0;
}

void skiff_rma_sync(struct skiff_ep *ep, int force)
{
	sync_n(ep, force, 65536, 0);
}

int skiff_rma_take_reqs(struct skiff_ep *ep, int max)
{
	return sync_n(ep, 1, max, 1);
}

void skiff_rma_sync_locked(struct skiff_ep *ep)
{
	skiff_rma_sync(ep, 0);
}

/* ---- the control service ----
 * A thread of the library takes in the peer's records as they come, so a
 * peer registering many windows never blocks on our full socket while we
 * are busy elsewhere, and a peer's scif_unregister gets its answer (RMA
 * needs no help from the target's threads). It polls the control sockets
 * of the connected endpoints; with none it sleeps on a condition variable.
 * It lives as long as the process. */

static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t svc_cond = PTHREAD_COND_INITIALIZER;
static struct skiff_ep **svc_eps;
static size_t svc_n, svc_cap;
static pid_t svc_pid; /* the process the thread runs in (fork) */
/* An eventfd skiff_svc_add rings, so that a new connection is watched at once
 * (its peer's death noticed within a millisecond, not a rescan); -1 if
 * there is none (then SVC_RESCAN_MS). A child of fork() closes its copy
 * before any user code runs: the number is surely still ours then. */
static int svc_wake = -1;

/* fork() while the service holds svc_lock would leave the child's copy
 * locked for good: take it around fork (the service never waits holding
 * it), and give the child fresh condition variables (the parent's waiters
 * are not in the child). */
void skiff_svc_fork_prepare(void)
{
	pthread_mutex_lock(&svc_lock);
}

void skiff_svc_fork_parent(void)
{
	pthread_mutex_unlock(&svc_lock);
}

static pthread_cond_t svc_idle = PTHREAD_COND_INITIALIZER; /* in_svc dropped */

void skiff_svc_fork_child(void)
{
	pthread_mutex_unlock(&svc_lock);
	svc_eps = NULL; /* the parent's; it may have been mid-realloc */
	svc_n = svc_cap = 0;
	svc_pid = 0;
	pthread_cond_init(&svc_cond, NULL);
	pthread_cond_init(&svc_idle, NULL);
	if (svc_wake >= 0)
		close(svc_wake);
	svc_wake = -1;
}

/* New endpoints are picked up within this many ms: records that arrive
 * meanwhile are taken in by the endpoint's own calls. */
#define SVC_RESCAN_MS 100

/* Records taken in per visit of one connection: a flooding peer does not
 * keep the others waiting. */
#define SVC_BATCH 256
/* A connection whose lock was busy is looked at again this soon. */
#define SVC_RETRY_MS 5


/*
 * The service never blocks on one peer: it takes a connection's table lock
 * only if it is free (a call holding it takes the records in itself, or the
 * service comes back), it sends without blocking (see skiff_ctl_send), and it
 * works on a connection without svc_lock, so connecting and closing others
 * go on meanwhile. A hung-up socket means the peer is gone: the endpoint is
 * marked dead at once, and every call on it reports ECONNRESET.
 */
static void *svc_main(void *arg)
{
	struct pollfd *pf = NULL;
	struct skiff_ep **eps = NULL;
	size_t cap = 0;

	(void)arg;
	skiff_reback_defer();
	for (;;) {
		size_t n;
		int retry = 0;

		pthread_mutex_lock(&svc_lock);
		while (!svc_n)
			pthread_cond_wait(&svc_cond, &svc_lock);
		if (svc_n > cap) {
			void *a = realloc(pf, (svc_n + 1) * sizeof(*pf));
			void *b = a ? realloc(eps, svc_n * sizeof(*eps)) : NULL;
			if (a)
				pf = a;
			if (b)
				eps = b;
			if (a && b)
				cap = svc_n;
		}
		n = svc_n < cap ? svc_n : cap;
		for (size_t i = 0; i < n; i++) {
			struct skiff_rma *r = svc_eps[i]->rma;

			eps[i] = svc_eps[i];
			pf[i].fd = r->ctl;
			/* busy last time: only a hang-up wakes us for it
			 * until the retry */
			pf[i].events = r->svc_skip ? 0 :
				       POLLIN | (atomic_load(&r->want_out) ? POLLOUT : 0);
			pf[i].revents = 0;
			retry |= r->svc_skip;
			r->svc_skip = 0;
		}
		/* last: the wake-up of skiff_svc_add */
		pf[n].fd = svc_wake;
		pf[n].events = POLLIN;
		pf[n].revents = 0;
		pthread_mutex_unlock(&svc_lock);

		if (poll(pf, n + 1, retry ? SVC_RETRY_MS : SVC_RESCAN_MS) <= 0)
			continue;
		if (pf[n].revents & POLLIN) {
			uint64_t v;
			(void)!read(pf[n].fd, &v, sizeof(v)); /* look again */
		}
		for (size_t i = 0; i < n; i++) {
			struct skiff_ep *ep = eps[i];
			struct skiff_rma *r;
			short ev = pf[i].revents;
			size_t k;
			int busy = 0, hup;

			if (!ev)
				continue;
			pthread_mutex_lock(&svc_lock);
			/* still watched? (skiff_svc_del runs under svc_lock,
			 * before the endpoint's state goes) */
			for (k = 0; k < svc_n && svc_eps[k] != ep; k++)
				;
			if (k == svc_n || ep->rma->ctl != pf[i].fd) {
				pthread_mutex_unlock(&svc_lock);
				continue;
			}
			r = ep->rma;
			hup = 0;
			if (ev & (POLLHUP | POLLERR | POLLNVAL)) {
				/* ask again: the endpoint and its descriptor
				 * number may both be new since the poll */
				struct pollfd q = { .fd = r->ctl, .events = POLLIN };
				if (poll(&q, 1, 0) < 0)
					q.revents = 0;
				ev = q.revents;
				if (ev & (POLLHUP | POLLERR))
					skiff_mark_dead(ep); /* the peer's end closed */
				hup = ev & (POLLHUP | POLLERR | POLLNVAL);
			}
			if (hup && !(ev & POLLIN) &&
			    ep->relayed != SKIFF_RELAYED_PROCESS) {
				/* nothing more to take in: stop watching */
				svc_eps[k] = svc_eps[--svc_n];
				r->svc = 0;
				pthread_mutex_unlock(&svc_lock);
				continue;
			}
			r->in_svc = 1; /* skiff_svc_del waits for us */
			pthread_mutex_unlock(&svc_lock);
			if (ev & POLLOUT)
				flush_out(ep); /* needs no table lock */
			if (!(ev & POLLIN)) {
				/* only room to send */
			} else if (pthread_mutex_trylock(&r->lock) == 0) {
				sync_n(ep, 1, SVC_BATCH, 0);
				pthread_mutex_unlock(&r->lock);
			} else {
				busy = 1;
			}
			/* the daemon that carried our RMAs is gone: they will
			 * never be reported (in_svc keeps the state alive) */
			if (hup && !busy && ep->relayed == SKIFF_RELAYED_PROCESS)
				skiff_rma_abort(ep);
			pthread_mutex_lock(&svc_lock);
			r->in_svc = 0;
			r->svc_skip = busy;
			if (hup && !busy) {
				/* took in what the peer sent before it hung up
				 * (a hung-up socket stays readable: watching it
				 * on would spin this thread) */
				for (k = 0; k < svc_n && svc_eps[k] != ep; k++)
					;
				if (k < svc_n) {
					svc_eps[k] = svc_eps[--svc_n];
					r->svc = 0;
				}
			}
			pthread_cond_broadcast(&svc_idle);
			pthread_mutex_unlock(&svc_lock);
		}
	}
	return NULL;
}

void skiff_svc_add(struct skiff_ep *ep)
{
	pthread_mutex_lock(&svc_lock);
	if (svc_pid != getpid()) {
		/* first use, or a child of fork(): start our own thread */
		pthread_attr_t at;
		pthread_t th;
		sigset_t all, old;
		int ok;

		svc_n = 0; /* a parent's endpoints are not ours to watch */
		if (svc_wake < 0)
			svc_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* user signals: elsewhere */
		ok = pthread_create(&th, &at, svc_main, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&at);
		if (!ok)
			goto out; /* records are still taken in by our own calls */
		svc_pid = getpid();
	}
	if (svc_n == svc_cap) {
		size_t nc = svc_cap ? svc_cap * 2 : 16;
		void *t = realloc(svc_eps, nc * sizeof(*svc_eps));
		if (!t)
			goto out;
		svc_eps = t;
		svc_cap = nc;
	}
	svc_eps[svc_n++] = ep;
	ep->rma->svc = 1;
	pthread_cond_signal(&svc_cond);
	if (svc_wake >= 0) {
		uint64_t one = 1;
		(void)!write(svc_wake, &one, sizeof(one));
	}
out:
	pthread_mutex_unlock(&svc_lock);
}

void skiff_svc_del(struct skiff_ep *ep)
{
	pthread_mutex_lock(&svc_lock);
	/* the service may be working on it right now (not in a child of
	 * fork(): the parent's service thread is not there) */
	while (ep->rma->in_svc && svc_pid == getpid())
		pthread_cond_wait(&svc_idle, &svc_lock);
	ep->rma->in_svc = 0;
	if (ep->rma->svc && svc_pid == getpid()) {
		for (size_t k = 0; k < svc_n; k++)
			if (svc_eps[k] == ep) {
				svc_eps[k] = svc_eps[--svc_n];
				break;
			}
	}
	ep->rma->svc = 0;
	pthread_mutex_unlock(&svc_lock);
}

