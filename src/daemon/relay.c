/* SPDX-License-Identifier: MIT */
/*
 * relay.c - see relay.h. One table of connections; each is, on this side:
 *   LREQ    a local process reached the relay socket; its request unread
 *   OUT     its request went to the other host's daemon (CONN): waiting
 *           for CONN_ACK, the process waiting for its grant
 *   IN      a CONN from another host: connecting to the listener here
 *   OPEN    relaying bytes between the local endpoint and the link
 * Everything from the link was checked by link.c (host up, its incarnation)
 * and is checked here against the connection it names (its host, its
 * state, the window) before use; a violation ends that connection only.
 */
#define _GNU_SOURCE
#include "relay.h"
#include "auth.h"
#include "fab.h"
#include "link.h"
#include "link_wire.h"
#include "mm_wire.h"
#include "names.h"
#include "quar.h"
#include "wire_rma.h"
#include "relay_ep.h" /* libscif's side (src/lib) */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "scif.h"

#define RELAY_MAX 4096		/* connections at once */
#define RELAY_REQ_MS 1000	/* a local connector's request arrives */
#define RELAY_OUT_MS 9000	/* the other host answers (libscif waits 10 s) */
#define RELAY_IN_MS 9000	/* the listener here accepts */
#define RELAY_RETRY_MS 1	/* link full: try again */
/* credit back once the process took this much (a quarter window: the
 * sender keeps at least 3/4 of its window while the receiver keeps up) */
#define RELAY_CREDIT_AT (SKIFF_LINK_WINDOW / 4)
/*
 * Each CONN costs a MUNGE check: a round trip to munged that blocks the
 * loop (60 us to 2 ms here, more when munged is busy). A host gets at most
 * CONN_BUDGET_US of checking per second (up to a second's worth at once);
 * its CONNs beyond wait in its queue of CONN_QUEUE, and those beyond that
 * are refused unchecked (ECONNREFUSED). So one host flooding forged CONNs
 * takes a tenth of the loop, and a burst of genuine ones (a job's ranks
 * connecting at once) is served in turn instead of refused.
 */
#define CONN_BUDGET_US 100000
#define CONN_QUEUE 1024
#define TAG_LISTEN UINT64_MAX
#define TAG_EVENT (UINT64_MAX - 1)
/* the control socket of the connection in slot N: TAG_CTL | N */
#define TAG_CTL (1ull << 32)
/* RMA between hosts: one libfabric operation moves at most this much; a
 * v* call's bounce buffer is at most RELAY_BOUNCE_MAX */
#define RELAY_RMA_CHUNK (4u << 20)
#define RELAY_BOUNCE_MAX (256ull << 20)
#define RELAY_RMA_QUEUE 4096 /* requests waiting for the loop */
#define RELAY_SPARE_MS 2000

enum { C_FREE, C_LREQ, C_OUT, C_IN, C_OPEN, C_DRAIN, C_CARD };

/* An RMA this daemon takes part in. INIT: our process asked; TARGET: the
 * other daemon asked, about our process's windows. Whoever holds the data
 * writes it (fi_write): toward the other host's process (scif_writeto), we
 * ask for its registered range (RMA, answered RMA_GO), write into it and
 * tell the other daemon (RMA_WROTE); from it (scif_readfrom), we register
 * our process's memory and the other daemon writes into it, then answers
 * RMA_DONE. (fi_read, the other way round, took a third longer: the
 * reading side waits for the sleeping holder's daemon to answer.) */
enum { OP_INIT, OP_TARGET };
enum {
	OP_WAIT_GO,   /* INIT toward the peer: RMA sent, waiting for RMA_GO */
	OP_WRITING,   /* INIT toward the peer, TARGET from ours: fi_writes */
	OP_WAIT_DONE, /* INIT from the peer: waiting for its RMA_DONE */
	OP_EXPOSED,   /* TARGET toward ours: registered, waiting RMA_WROTE */
};

struct rop {
	int kind;
	int state;
	unsigned slot;	   /* the connection's slot, and its id then */
	uint32_t conn_id;
	unsigned host;	   /* the other host */
	uint32_t peer_conn; /* the other daemon's id for the connection */
	uint32_t id;	   /* INIT: ours; TARGET: the requester's */
	uint64_t proc_seq; /* INIT: the process's sequence number */
	uint64_t ep_seq;   /* keeps the process's windows mapped here */
	int have_seq;
	int dir;	   /* 0: data toward the target process */
	void *mr[SKIFF_LINK_RMA_SEGS];
	unsigned nmr;
	/* what we registered for the other daemon's writes (in the
	 * endpoint's mappings): those go to the quarantine if its host goes
	 * down before it said it is done */
	struct skiff_relay_seg xseg[SKIFF_LINK_RMA_SEGS];
	unsigned nxseg;
	struct skiff_relay_seg lseg[SKIFF_LINK_RMA_SEGS]; /* INIT toward */
	unsigned nlseg;
	unsigned char *bounce; /* INIT of a v* call */
	uint64_t laddr, roff, len;
	pid_t pid;
	unsigned pending; /* libfabric operations in flight (+1 posting) */
	int status;	  /* a libfabric operation failed: ECONNRESET */
	int lstatus;	  /* INIT: our side failed (EFAULT), reported first */
	int reported;	  /* INIT: the process was told */
	struct rop *next;
};

struct rreq {
	int epd;
	struct skiff_rma_req_rec q;
};

struct rconn {
	int state;
	uint32_t id;	  /* ours: slot + 1 | generation << 16 */
	unsigned host;	  /* the other host */
	uint32_t peer_id; /* its id for the connection */
	int fd;		  /* LREQ/OUT: the socket; IN/OPEN: the endpoint */
	int memfd;	  /* OUT: the region, for the grant */
	struct skiff_conn_req req;
	uint16_t src_node, src_port, dst_node, dst_port;
	int64_t deadline; /* LREQ, OUT, IN */
	uint32_t events;  /* registered with epoll */
	uint32_t credit;  /* bytes we may still send */
	uint32_t freed;	  /* taken by the local process, not credited yet */
	int peer_closed;  /* CLOSE received: end once buf is delivered */
	unsigned nops;	  /* RMAs in flight on it: its memory must stay */
	int blocked;	  /* the link had no room: retry on a timer */
	int ctl;	  /* OPEN: its control socket, watched here too (-1) */
	int ctl_off;	  /* ... but not now: the service has work there */
	unsigned char *buf; /* from the link, not yet in the local ring */
	uint32_t boff, blen;
};

/* A host's CONNs waiting for their check (a ring, allocated on need). */
struct connq {
	struct skiff_link_conn *q;
	unsigned head, n;
	int64_t budget_us; /* checking time it may still use */
	int64_t refill_ms; /* when the budget was last topped up */
};

struct skiff_relay {
	struct skiff_links *links;
	const struct skiff_fconf *conf;
	unsigned self;
	char fabric[SKIFF_FABRIC_MAX + 1];
	int ep;	 /* epoll */
	int lfd; /* the relay socket */
	struct rconn *c; /* RELAY_MAX slots */
	uint16_t gen[RELAY_MAX];
	unsigned count;
	unsigned hi; /* slots in use are below it */
	unsigned drops[SKIFF_FHOSTS_MAX]; /* the link's losses seen so far */
	int64_t now;
	int64_t log_ms;
	unsigned log_n;
	struct rop *ops;
	/* the last v* bounce buffer, kept for the next (a fresh one of 64
	 * MiB is 16384 page faults, and every one above glibc's mmap
	 * threshold is fresh); freed after RELAY_SPARE_MS unused */
	unsigned char *spare;
	uint64_t spare_len;
	int64_t spare_at;
	uint32_t next_op;
	/* RMA_REQ records, queued by libscif's control service thread */
	int evfd;
	pthread_mutex_t qlock;
	struct rreq *q;
	unsigned nq;
	/* micmem of other hosts' processes on our cards (C_CARD): the
	 * cards' memory, mapped on first use, and the one user it is for */
	uid_t card_owner;
	unsigned ncards;
	uint64_t card_size;
	int card_fd[SKIFF_RELAY_CARDS];
	unsigned char *card_map[SKIFF_RELAY_CARDS];
	struct connq cq[SKIFF_FHOSTS_MAX];
	unsigned cq_waiting; /* hosts with CONNs queued */
	struct skiff_quar *quar; /* what lost hosts may still write into */
};

static struct skiff_link_sink sink;

/* At most 10 lines a second: what a hostile host or process triggers must
 * not flood the log. */
static void say(struct skiff_relay *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct skiff_relay *r, const char *fmt, ...)
{
	va_list ap;

	if (r->now - r->log_ms >= 1000) {
		r->log_ms = r->now;
		r->log_n = 0;
	}
	if (++r->log_n > 10)
		return;
	va_start(ap, fmt);
	fputs("scifd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int host_of_node(const struct skiff_relay *r, unsigned node)
{
	for (unsigned i = 0; i < r->conf->nhosts; i++)
		if (node >= r->conf->host[i].first && node <= r->conf->host[i].last)
			return (int)i;
	return -1;
}

static struct rconn *find(struct skiff_relay *r, uint32_t id, unsigned host)
{
	unsigned slot = (id & 0xffff) - 1;

	if ((id & 0xffff) == 0 || slot >= RELAY_MAX)
		return NULL;
	if (r->c[slot].state == C_FREE || r->c[slot].id != id ||
	    (r->c[slot].state != C_LREQ && r->c[slot].host != host))
		return NULL;
	return &r->c[slot];
}

static struct rconn *alloc_conn(struct skiff_relay *r)
{
	for (unsigned i = 0; i < RELAY_MAX; i++)
		if (r->c[i].state == C_FREE) {
			struct rconn *c = &r->c[i];

			memset(c, 0, sizeof(*c));
			r->gen[i]++;
			c->id = (i + 1) | (uint32_t)r->gen[i] << 16;
			c->fd = c->memfd = c->ctl = -1;
			r->count++;
			if (i + 1 > r->hi)
				r->hi = i + 1;
			return c;
		}
	return NULL;
}

/* The slot of a connection that never was, or is over, is free again. */
static void release_slot(struct skiff_relay *r, struct rconn *c)
{
	c->state = C_FREE;
	r->count--;
	while (r->hi && r->c[r->hi - 1].state == C_FREE)
		r->hi--;
}

/* A connection that host @h asked for with @m. */
static void take_conn(struct rconn *c, int state, unsigned h,
		      const struct skiff_link_conn *m)
{
	c->state = state;
	c->host = h;
	c->peer_id = m->id;
	c->src_node = m->src_node;
	c->src_port = m->src_port;
	c->dst_node = m->dst_node;
	c->dst_port = m->dst_port;
}

static void watch(struct skiff_relay *r, struct rconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u64 = (uint64_t)(c - r->c) };

	if (c->events == ev + 1)
		return;
	if (epoll_ctl(r->ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
		      &e) == 0)
		c->events = ev + 1; /* + 1: registered, even with no events */
}

/* Watch an open connection's control socket: its process's RMA_REQ is
 * taken in by this loop as soon as it arrives, not only by libscif's
 * control service thread, which would then have to wake us (a hop of
 * 10-40 us on a 2-vCPU VM). Whichever comes first takes it. */
static void watch_ctl(struct skiff_relay *r, struct rconn *c)
{
	struct epoll_event e = { .events = EPOLLIN,
				 .data.u64 = TAG_CTL | (uint64_t)(c - r->c) };
	int fd = skiff_relay_ctl_fd(c->fd);

	if (fd >= 0 && epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &e) == 0)
		c->ctl = fd;
}

static void unwatch_ctl(struct skiff_relay *r, struct rconn *c)
{
	if (c->ctl >= 0)
		epoll_ctl(r->ep, EPOLL_CTL_DEL, c->ctl, NULL);
	c->ctl = -1;
}

static void init_report(struct skiff_relay *r, struct rop *o, int status);

/* The connection ends with RMAs of its process waiting: ECONNRESET for
 * each. Memory they exposed stays registered until the other daemon is
 * done with it (see on_host_down). */
static void answer_all(struct skiff_relay *r, struct rconn *c)
{
	for (struct rop *o = r->ops; o; o = o->next)
		if (o->kind == OP_INIT && !o->reported &&
		    o->slot == (unsigned)(c - r->c) && o->conn_id == c->id)
			init_report(r, o, ECONNRESET);
}

static void free_conn(struct skiff_relay *r, struct rconn *c)
{
	unwatch_ctl(r, c);
	if (c->state == C_CARD) {
		/* its RMAs' memory is the card's, mapped while we run */
		release_slot(r, c);
		return;
	}
	if (c->nops && (c->state == C_OPEN || c->state == C_DRAIN)) {
		/* libfabric may still move data from or into the process's
		 * windows as mapped here: keep the endpoint (and so the
		 * mappings) until those RMAs end; nothing else goes on */
		if (c->events)
			epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->events = 0;
		/* but the process learns now that its connection is over
		 * (ECONNRESET), and so do its RMAs waiting for an answer: an
		 * operation on a link that was cut may take the provider
		 * minutes to fail */
		if (c->state == C_OPEN) {
			answer_all(r, c);
			shutdown(c->fd, SHUT_RDWR);
		}
		c->state = C_DRAIN;
		c->peer_id = 0;
		return;
	}
	if (c->fd >= 0) {
		if (c->events)
			epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
		/* an endpoint's close tells the local process (ECONNRESET
		 * once it read what was delivered); a bare socket's close
		 * refuses its connect */
		if (c->state == C_IN || c->state == C_OPEN || c->state == C_DRAIN)
			scif_close(c->fd);
		else
			close(c->fd);
	}
	if (c->memfd >= 0)
		close(c->memfd);
	free(c->buf);
	c->buf = NULL;
	release_slot(r, c);
}

static void send_cx(struct skiff_relay *r, unsigned host, uint16_t type,
		    uint32_t id, uint32_t peer_id, uint32_t value)
{
	struct skiff_link_msg m;
	size_t len = skiff_link_init(&m, type);

	m.body.cx.id = id;
	m.body.cx.peer_id = peer_id;
	m.body.cx.value = value;
	/* the link is gone or full: the other side's connection ends with
	 * the link (host down) or with the losses the relay watches */
	(void)skiff_links_send(r->links, host, &m, len);
}

/* End an open (or opening) connection and tell the other host. */
static void end_conn(struct skiff_relay *r, struct rconn *c)
{
	if ((c->state == C_OPEN || c->state == C_IN || c->state == C_CARD) &&
	    c->peer_id)
		send_cx(r, c->host, SKIFF_LINK_CLOSE, c->peer_id, 0, 0);
	free_conn(r, c);
}

/* The credential's payload: everything the CONN claims, and for whom. */
static int conn_payload(char *buf, size_t n, const char *fabric,
			const char *from, const char *to, uint64_t boot,
			const struct skiff_link_conn *m)
{
	int k = snprintf(buf, n, "skiff-conn/1 fabric=%s from=%s to=%s "
			 "boot=%016llx id=%u src=%u:%u dst=%u:%u uid=%u gid=%u",
			 fabric, from, to, (unsigned long long)boot, m->id,
			 m->src_node, m->src_port, m->dst_node, m->dst_port,
			 m->uid, m->gid);

	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* --- bytes --- */

/* Move what the local process sent to the link, within the window. */
static void pump_out(struct skiff_relay *r, struct rconn *c)
{
	struct skiff_link_msg m;

	c->blocked = 0;
	/* the other end is gone: what the process sends now goes nowhere,
	 * and it learns so once the bytes for it are delivered */
	while (c->credit > 0 && !c->peer_closed) {
		uint32_t want = c->credit < SKIFF_LINK_DATA_MAX ? c->credit :
								  SKIFF_LINK_DATA_MAX;
		int n;

		if (skiff_links_room(r->links, c->host) == 0) {
			c->blocked = 1;
			break;
		}
		skiff_link_init(&m, SKIFF_LINK_DATA); /* clears the body */
		n = scif_recv(c->fd, m.body.data.data, (int)want, 0);
		if (n == 0)
			break;
		if (n < 0) {
			/* the process closed or died, and everything it sent
			 * went out: say so after the bytes */
			end_conn(r, c);
			return;
		}
		m.body.cx.id = c->peer_id;
		if (skiff_links_send(r->links, c->host, &m,
				     skiff_link_data_len(&m, (uint32_t)n)) < 0) {
			/* bytes taken from the ring and not sent: the stream
			 * is broken, end it rather than lose bytes silently */
			end_conn(r, c);
			return;
		}
		c->credit -= (uint32_t)n;
	}
	/* no credit: stop watching its bytes, or epoll reports them forever */
	watch(r, c, (c->credit && !c->blocked ? EPOLLIN : 0) |
			    (c->boff < c->blen ? EPOLLOUT : 0));
}

/* Move what came from the link into the local ring, as far as it has room. */
static void flush_in(struct skiff_relay *r, struct rconn *c)
{
	while (c->boff < c->blen) {
		int n = scif_send(c->fd, c->buf + c->boff,
				  (int)(c->blen - c->boff), 0);

		if (n == 0)
			break;
		if (n < 0) {
			end_conn(r, c);
			return;
		}
		c->boff += (uint32_t)n;
		c->freed += (uint32_t)n;
	}
	if (c->boff == c->blen)
		c->boff = c->blen = 0;
	if (c->freed >= RELAY_CREDIT_AT) {
		send_cx(r, c->host, SKIFF_LINK_CREDIT, c->peer_id, 0, c->freed);
		c->freed = 0;
	}
	if (c->peer_closed && c->blen == 0) {
		free_conn(r, c); /* the other end is gone: no CLOSE back */
		return;
	}
	watch(r, c, (c->credit && !c->blocked ? EPOLLIN : 0) |
			    (c->boff < c->blen ? EPOLLOUT : 0));
}

static void on_data(struct skiff_relay *r, struct rconn *c,
		    const struct skiff_link_data *d)
{
	uint32_t n = d->cx.value;

	/* the sender keeps to the window: more is a broken peer */
	if (c->blen - c->boff + c->freed + n > SKIFF_LINK_WINDOW) {
		say(r, "relay: host '%s' overran a connection's window: ended",
		    r->conf->host[c->host].name);
		end_conn(r, c);
		return;
	}
	if (!c->buf) {
		c->buf = malloc(SKIFF_LINK_WINDOW);
		if (!c->buf) {
			end_conn(r, c);
			return;
		}
	}
	if (c->blen + n > SKIFF_LINK_WINDOW) {
		memmove(c->buf, c->buf + c->boff, c->blen - c->boff);
		c->blen -= c->boff;
		c->boff = 0;
	}
	memcpy(c->buf + c->blen, d->data, n);
	c->blen += n;
	flush_in(r, c);
}


/* --- RMA between hosts --- */

static struct rconn *op_conn(struct skiff_relay *r, const struct rop *o)
{
	struct rconn *c = &r->c[o->slot];

	return (c->state == C_OPEN || c->state == C_DRAIN || c->state == C_CARD) &&
			       c->id == o->conn_id ?
		       c : NULL;
}

/* A bounce buffer of at least @len bytes: the spare if it is large
 * enough. What it held before (another call's data) is overwritten before
 * anything of it leaves the daemon: a write copies @len bytes in first, a
 * read gives the process only what the other daemon wrote, all of it. */
static unsigned char *bounce_get(struct skiff_relay *r, uint64_t len)
{
	unsigned char *b;

	if (r->spare && r->spare_len >= len) {
		b = r->spare;
		r->spare = NULL;
		return b;
	}
	return malloc(len);
}

static void bounce_put(struct skiff_relay *r, unsigned char *b, uint64_t len)
{
	if (!b)
		return;
	if (r->spare && r->spare_len >= len) {
		free(b);
		return;
	}
	free(r->spare); /* keep the larger */
	r->spare = b;
	r->spare_len = len;
	r->spare_at = r->now;
}

/* The op is over: let go of the memory, and of the connection if it only
 * waited for that. */
static void op_free(struct skiff_relay *r, struct rop *o)
{
	struct rconn *c = op_conn(r, o);

	for (unsigned i = 0; i < o->nmr; i++)
		skiff_fab_mr_close(o->mr[i]);
	if (c) {
		if (o->have_seq)
			skiff_relay_rma_end(c->fd, o->ep_seq);
		c->nops--;
		if (c->state == C_DRAIN && !c->nops)
			free_conn(r, c);
	}
	for (struct rop **pp = &r->ops; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	bounce_put(r, o->bounce, o->len);
	free(o);
}

static struct rop *op_new(struct skiff_relay *r, struct rconn *c, int kind)
{
	struct rop *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->kind = kind;
	o->slot = (unsigned)(c - r->c);
	o->conn_id = c->id;
	o->host = c->host;
	o->peer_conn = c->peer_id;
	o->next = r->ops;
	r->ops = o;
	c->nops++;
	return o;
}

static void send_done(struct skiff_relay *r, unsigned host, uint32_t conn,
		      uint32_t req, int status)
{
	if (conn)
		send_cx(r, host, SKIFF_LINK_RMA_DONE, conn, req, (uint32_t)status);
}

/* Tell our process how its RMA ended (once; not if it is gone). */
static void init_report(struct skiff_relay *r, struct rop *o, int status)
{
	struct rconn *c = op_conn(r, o);

	if (o->reported)
		return;
	o->reported = 1;
	if (c && c->state == C_OPEN)
		skiff_relay_rma_done(c->fd, o->proc_seq, status);
}

static void part_done(void *arg, int status);
static void part_end(struct skiff_relay *r, struct rop *o, int status);

struct part {
	struct skiff_relay *r;
	struct rop *o;
};

/* Post fi_writes of @o's data: from @src (pieces of our memory) to @dst
 * (the other daemon's registered pieces), both covering the same length,
 * at most RELAY_RMA_CHUNK each. @mode: SKIFF_FAB_DELIVERED or 1. Counts
 * them in o->pending; a failure to post sets o->status. */
static void post_writes(struct skiff_relay *r, struct rop *o,
			const struct skiff_relay_seg *src, unsigned nsrc,
			const struct skiff_link_rma *dst, int mode)
{
	unsigned li = 0, ri = 0;
	uint64_t lo = 0, ro = 0;

	/* walk both lists of pieces at once, in chunks */
	while (li < nsrc && ri < dst->nseg) {
		uint64_t k = src[li].len - lo;
		struct part *t;

		if (k > dst->seg[ri].len - ro)
			k = dst->seg[ri].len - ro;
		if (k > RELAY_RMA_CHUNK)
			k = RELAY_RMA_CHUNK;
		t = malloc(sizeof(*t));
		if (!t) {
			o->status = ENOMEM;
			break;
		}
		t->r = r;
		t->o = o;
		o->pending++;
		if (skiff_fab_rma(skiff_links_fab(r->links), o->host, mode,
				  src[li].addr + lo, k, dst->seg[ri].addr + ro,
				  dst->seg[ri].key, part_done, t) < 0) {
			o->pending--;
			free(t);
			o->status = ECONNRESET;
			break;
		}
		lo += k;
		ro += k;
		if (lo == src[li].len) {
			li++;
			lo = 0;
		}
		if (ro == dst->seg[ri].len) {
			ri++;
			ro = 0;
		}
	}
}

/* Our process asked for an RMA (its RMA_REQ, queued by the hook). */
static void rma_request(struct skiff_relay *r, struct rconn *c,
			const struct skiff_rma_req_rec *q)
{
	struct skiff_link_msg m;
	struct rop *o;
	int n, st;
	size_t len;

	o = op_new(r, c, OP_INIT);
	if (!o) {
		skiff_relay_rma_done(c->fd, q->seq, ENOMEM);
		return;
	}
	o->host = c->host;
	o->peer_conn = c->peer_id;
	o->proc_seq = q->seq;
	o->dir = (int)q->dir;
	o->roff = q->roff;
	o->len = q->len;
	if (q->laddr) {
		/* a v* call: its buffer is the process's own memory, which
		 * only it and the kernel see; copy it through ours */
		struct ucred uc;
		socklen_t ul = sizeof(uc);

		st = ENOMEM;
		if (q->len > RELAY_BOUNCE_MAX ||
		    getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 ||
		    !(o->bounce = bounce_get(r, q->len)))
			goto fail;
		o->pid = uc.pid;
		o->laddr = q->laddr;
		o->lseg[0].addr = o->bounce;
		o->lseg[0].len = q->len;
		n = 1;
	} else {
		n = skiff_relay_resolve(c->fd, q->loff, q->len,
					q->dir == 0 ? SCIF_PROT_READ : SCIF_PROT_WRITE,
					o->lseg, SKIFF_LINK_RMA_SEGS, &o->ep_seq);
		if (n < 0) {
			st = -n;
			goto fail;
		}
		o->have_seq = 1;
		if (q->dir == 1) {
			memcpy(o->xseg, o->lseg, (size_t)n * sizeof(o->lseg[0]));
			o->nxseg = (unsigned)n;
		}
	}
	o->nlseg = (unsigned)n;
	len = skiff_link_init(&m, SKIFF_LINK_RMA);
	m.body.rma.cx.id = c->peer_id;
	do {
		o->id = ++r->next_op;
	} while (!o->id);
	m.body.rma.cx.peer_id = o->id;
	m.body.rma.cx.value = q->dir;
	m.body.rma.roff = q->roff;
	m.body.rma.len = q->len;
	if (q->dir == 1) {
		/* from the peer: it writes into our process's memory */
		m.body.rma.nseg = (uint32_t)n;
		for (int i = 0; i < n; i++) {
			uint64_t key, ra;

			st = ECONNRESET; /* the transport failed: SCIF's word */
			if (skiff_fab_mr(skiff_links_fab(r->links),
					 o->lseg[i].addr, o->lseg[i].len,
					 &o->mr[i], &key, &ra) < 0)
				goto fail;
			o->nmr++;
			m.body.rma.seg[i].addr = ra;
			m.body.rma.seg[i].key = key;
			m.body.rma.seg[i].len = o->lseg[i].len;
		}
	}
	st = ECONNRESET;
	if (skiff_links_send(r->links, c->host, &m, len) < 0)
		goto fail;
	o->state = q->dir == 0 ? OP_WAIT_GO : OP_WAIT_DONE;
	if (q->dir == 0 && o->bounce) {
		/* while the other daemon resolves and registers: a failure
		 * is reported once it answered (its registration released) */
		struct iovec li = { o->bounce, q->len };
		struct iovec ri = { (void *)(uintptr_t)q->laddr, q->len };

		if (process_vm_readv(o->pid, &li, 1, &ri, 1, 0) != (ssize_t)q->len)
			o->lstatus = EFAULT;
	}
	return;
fail:
	o->reported = 1;
	skiff_relay_rma_done(c->fd, q->seq, st);
	op_free(r, o);
}

/* An INIT op of ours named by the other daemon's record: its request id,
 * from the host and about the connection that carries it, else NULL. */
static struct rop *init_op(struct skiff_relay *r, unsigned h,
			   const struct skiff_link_cx *m)
{
	for (struct rop *o = r->ops; o; o = o->next)
		if (o->kind == OP_INIT && o->id == m->peer_id)
			return o->host == h && o->conn_id == m->id ? o : NULL;
	return NULL;
}

/* RMA_DONE from the other daemon for one of ours: the RMA is over (it
 * wrote into our process's memory, or refused before RMA_GO). */
static void rma_finished(struct skiff_relay *r, unsigned h,
			 const struct skiff_link_cx *m)
{
	struct rop *o = init_op(r, h, m);
	int st = (int)m->value;

	if (!o || (o->state != OP_WAIT_GO && o->state != OP_WAIT_DONE))
		return; /* not one waiting for it: nothing to end */
	if (st == 0 && o->state == OP_WAIT_GO)
		st = ECONNRESET; /* "done" without our data: not an answer */
	if (o->lstatus)
		st = o->lstatus;
	if (o->reported || !op_conn(r, o) || op_conn(r, o)->state != C_OPEN) {
		/* answered already (ECONNRESET), or its process is gone: the
		 * other daemon is done with our memory; nothing goes into the
		 * process now */
		op_free(r, o);
		return;
	}
	if (st == 0 && o->bounce && o->dir == 1) {
		struct iovec li = { o->bounce, o->len };
		struct iovec ri = { (void *)(uintptr_t)o->laddr, o->len };

		if (process_vm_writev(o->pid, &li, 1, &ri, 1, 0) != (ssize_t)o->len)
			st = EFAULT;
	}
	init_report(r, o, st);
	op_free(r, o);
}

/* RMA_GO from the other daemon: its process's range, registered for us to
 * write our process's data into. */
static void rma_go(struct skiff_relay *r, unsigned h,
		   const struct skiff_link_rma *m)
{
	struct rop *o = init_op(r, h, &m->cx);
	struct rconn *c;

	if (!o || o->state != OP_WAIT_GO)
		return;
	c = op_conn(r, o);
	if (m->roff != o->roff || m->len != o->len) {
		/* not the range we asked for */
		o->lstatus = ECONNRESET;
		send_cx(r, h, SKIFF_LINK_RMA_WROTE, o->peer_conn, o->id, EPROTO);
	} else if (o->lstatus || !c || c->state != C_OPEN) {
		/* our copy failed, or our process is gone: write nothing */
		send_cx(r, h, SKIFF_LINK_RMA_WROTE, o->peer_conn, o->id, ECANCELED);
	} else {
		o->state = OP_WRITING;
		o->pending = 1; /* ours, until every part is posted */
		post_writes(r, o, o->lseg, o->nlseg, m, SKIFF_FAB_DELIVERED);
		if (--o->pending)
			return;
		/* none posted: fall through to end it (o->status is set) */
		send_cx(r, h, SKIFF_LINK_RMA_WROTE, o->peer_conn, o->id,
			(uint32_t)o->status);
	}
	init_report(r, o, o->lstatus ? o->lstatus : o->status);
	op_free(r, o);
}

/* --- micmem of another host's process on one of our cards --- */

/* A card connection's RMA range: the card's memory itself. */
static int card_resolve(struct skiff_relay *r, const struct rconn *c,
			uint64_t off, uint64_t len, struct skiff_relay_seg *seg)
{
	unsigned k = c->dst_node - r->conf->host[r->self].first - 1;

	if (k >= r->ncards || !r->card_map[k])
		return -ENXIO;
	if (len == 0 || off > r->card_size || len > r->card_size - off)
		return -ENXIO; /* as an RMA outside the peer's windows */
	seg[0].addr = r->card_map[k] + off;
	seg[0].len = len;
	return 1;
}

/*
 * CONN to SKIFF_MICMEM_PORT of one of our cards (micmem_opendev of a board
 * of ours in a process of another host; its daemon checked nothing but the
 * credential): the card's memory is the owner's only, as for a process
 * here. Accepted either way, then told in the first bytes (struct
 * skiff_mm_hello: status, size); refused ones end after them.
 */
static void card_conn(struct skiff_relay *r, unsigned h,
		      const struct skiff_link_conn *m)
{
	unsigned k = m->dst_node - r->conf->host[r->self].first - 1;
	struct skiff_link_msg d;
	struct skiff_mm_hello hi = { .magic = SKIFF_MM_HELLO_MAGIC,
				     .version = SKIFF_MM_HELLO_VERSION };
	struct rconn *c = alloc_conn(r);

	if (!c) {
		send_cx(r, h, SKIFF_LINK_CONN_ACK, m->id, 0, ENOMEM);
		return;
	}
	take_conn(c, C_CARD, h, m);
	if (m->uid != r->card_owner) {
		say(r, "relay: refused card %u's memory to uid %u of host '%s' "
		    "(it is uid %u's)", m->dst_node, m->uid,
		    r->conf->host[h].name, (unsigned)r->card_owner);
		hi.status = EPERM;
	} else if (!r->card_map[k]) {
		void *p = r->card_fd[k] < 0 ? MAP_FAILED :
			  mmap(NULL, r->card_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, r->card_fd[k], 0);

		if (p == MAP_FAILED)
			hi.status = ENOMEM;
		else
			r->card_map[k] = p;
	}
	if (!hi.status)
		hi.size = r->card_size;
	send_cx(r, h, SKIFF_LINK_CONN_ACK, m->id, c->id, 0);
	skiff_link_init(&d, SKIFF_LINK_DATA);
	d.body.cx.id = m->id;
	memcpy(d.body.data.data, &hi, sizeof(hi));
	if (skiff_links_send(r->links, h, &d,
			     skiff_link_data_len(&d, sizeof(hi))) < 0 ||
	    hi.status)
		end_conn(r, c);
}

void skiff_relay_cards(struct skiff_relay *r, uid_t owner, const int *fds,
		       unsigned ncards, uint64_t size)
{
	r->card_owner = owner;
	r->ncards = ncards < SKIFF_RELAY_CARDS ? ncards : SKIFF_RELAY_CARDS;
	r->card_size = size;
	for (unsigned i = 0; i < r->ncards; i++)
		r->card_fd[i] = fds[i];
}

/* The other daemon asks us to take part in an RMA with our process's
 * windows. */
static void rma_target(struct skiff_relay *r, struct rconn *c, unsigned h,
		       const struct skiff_link_rma *m)
{
	struct skiff_relay_seg seg[SKIFF_LINK_RMA_SEGS];
	struct skiff_link_msg g;
	struct rop *o;
	int n, wr = m->cx.value == 1; /* out of our process's windows */
	size_t len;

	o = op_new(r, c, OP_TARGET);
	if (!o) {
		send_done(r, h, c->peer_id, m->cx.peer_id, ENOMEM);
		return;
	}
	o->id = m->cx.peer_id;
	o->host = h;
	o->peer_conn = c->peer_id;
	if (c->state == C_CARD)
		n = card_resolve(r, c, m->roff, m->len, seg);
	else
		n = skiff_relay_resolve(c->fd, m->roff, m->len,
					wr ? SCIF_PROT_READ : SCIF_PROT_WRITE,
					seg, SKIFF_LINK_RMA_SEGS, &o->ep_seq);
	if (n > 0 && !wr && c->state != C_CARD) {
		memcpy(o->xseg, seg, (size_t)n * sizeof(seg[0]));
		o->nxseg = (unsigned)n;
	}
	if (n < 0) {
		send_done(r, h, c->peer_id, o->id, -n);
		op_free(r, o);
		return;
	}
	o->have_seq = c->state != C_CARD;
	if (wr) {
		/* we hold the data: write it into the initiator's memory */
		o->state = OP_WRITING;
		o->pending = 1; /* ours, until every part is posted */
		post_writes(r, o, seg, (unsigned)n, m, 1);
		part_end(r, o, 0);
		return;
	}
	/* the initiator holds it: let it write into our process's range */
	len = skiff_link_init(&g, SKIFF_LINK_RMA_GO);
	g.body.rma.cx.id = c->peer_id;
	g.body.rma.cx.peer_id = o->id;
	g.body.rma.roff = m->roff;
	g.body.rma.len = m->len;
	g.body.rma.nseg = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		uint64_t key, ra;

		if (skiff_fab_mr(skiff_links_fab(r->links), seg[i].addr,
				 seg[i].len, &o->mr[i], &key, &ra) < 0) {
			send_done(r, h, c->peer_id, o->id, ECONNRESET);
			op_free(r, o);
			return;
		}
		o->nmr++;
		g.body.rma.seg[i].addr = ra;
		g.body.rma.seg[i].key = key;
		g.body.rma.seg[i].len = seg[i].len;
	}
	if (skiff_links_send(r->links, h, &g, len) < 0) {
		/* the link lost it: the initiator's request ends with the
		 * link (host down) or with this answer */
		send_done(r, h, c->peer_id, o->id, ECONNRESET);
		op_free(r, o);
		return;
	}
	o->state = OP_EXPOSED;
}

/* RMA_WROTE from the initiator: it is done with the range we registered
 * for its RMA_GO (whatever the outcome): release it. */
static void rma_wrote(struct skiff_relay *r, unsigned h,
		      const struct skiff_link_cx *m)
{
	for (struct rop *o = r->ops; o; o = o->next)
		if (o->kind == OP_TARGET && o->state == OP_EXPOSED &&
		    o->host == h && o->id == m->peer_id && o->conn_id == m->id) {
			op_free(r, o);
			return;
		}
}

/* One libfabric operation of @o ended (or the posting of them: @status
 * 0): once none is left, the op ends. */
static void part_end(struct skiff_relay *r, struct rop *o, int status)
{
	if (status && !o->status)
		o->status = ECONNRESET; /* libfabric failed it: as a lost link */
	if (--o->pending)
		return;
	if (o->kind == OP_INIT) {
		/* our writes are in the other process's memory (delivery
		 * complete): tell ours, then let the other daemon release */
		init_report(r, o, o->status);
		send_cx(r, o->host, SKIFF_LINK_RMA_WROTE, o->peer_conn, o->id,
			(uint32_t)o->status);
		op_free(r, o);
		return;
	}
	/* even if our end closed meanwhile: the initiator's daemon waits
	 * for it to let go of its process's memory */
	send_done(r, o->host, o->peer_conn, o->id, o->status);
	op_free(r, o);
}

static void part_done(void *arg, int status)
{
	struct part t = *(struct part *)arg;

	free(arg);
	part_end(t.r, t.o, status);
}

/* libscif's control service thread: an RMA_REQ of a process we relay.
 * Only queued here (the thread holds the endpoint's lock). */
static struct skiff_relay *hook_relay;

static void rma_hook(int epd, const struct skiff_rma_req_rec *q)
{
	struct skiff_relay *r = hook_relay;
	uint64_t one = 1;

	if (!r)
		return;
	pthread_mutex_lock(&r->qlock);
	if (r->nq < RELAY_RMA_QUEUE) {
		r->q[r->nq].epd = epd;
		r->q[r->nq].q = *q;
		r->nq++;
	}
	/* a full queue drops it: the process's RMA then waits for its
	 * connection to end (a process this fast is its own problem) */
	pthread_mutex_unlock(&r->qlock);
	(void)!write(r->evfd, &one, sizeof(one));
}

static void take_requests(struct skiff_relay *r)
{
	struct rreq *batch;
	unsigned n;
	uint64_t v;

	(void)!read(r->evfd, &v, sizeof(v));
	pthread_mutex_lock(&r->qlock);
	n = r->nq;
	batch = n ? malloc(n * sizeof(*batch)) : NULL;
	if (batch)
		memcpy(batch, r->q, n * sizeof(*batch));
	else
		n = 0;
	r->nq = 0;
	pthread_mutex_unlock(&r->qlock);
	for (unsigned k = 0; k < n; k++) {
		struct rconn *c = NULL;

		for (unsigned i = 0; i < r->hi; i++)
			if (r->c[i].state == C_OPEN && r->c[i].fd == batch[k].epd) {
				c = &r->c[i];
				break;
			}
		if (c && c->ctl_off) {
			/* the service took this one: the socket is ours
			 * again */
			struct epoll_event e = { .events = EPOLLIN,
				.data.u64 = TAG_CTL | (uint64_t)(c - r->c) };

			if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->ctl, &e) == 0)
				c->ctl_off = 0;
		}
		if (c)
			rma_request(r, c, &batch[k].q);
	}
	free(batch);
}

/* --- set-up --- */

/* A local process's request on the relay socket: ask the other host. */
static void on_request(struct skiff_relay *r, struct rconn *c)
{
	const struct skiff_fhost *me = &r->conf->host[r->self];
	struct skiff_link_msg m;
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	char pl[512], why[160];
	uint16_t sn, sp;
	int memfd = skiff_relay_request(c->fd, &c->req, &sn, &sp), h;
	size_t len;

	if (memfd < 0) {
		free_conn(r, c);
		return;
	}
	c->memfd = memfd;
	h = host_of_node(r, c->req.dst_node);
	/* the connector is on one of our nodes (its bound name says so, the
	 * kernel vouches for the name), and the node it wants is another
	 * host's, up now */
	if (sn < me->first || sn > me->last || h < 0 || (unsigned)h == r->self ||
	    !skiff_links_is_up(r->links, (unsigned)h) ||
	    getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0) {
		free_conn(r, c);
		return;
	}
	len = skiff_link_init(&m, SKIFF_LINK_CONN);
	m.body.conn.id = c->id;
	m.body.conn.src_node = sn;
	m.body.conn.src_port = sp;
	m.body.conn.dst_node = c->req.dst_node;
	m.body.conn.dst_port = c->req.dst_port;
	m.body.conn.uid = uc.uid;
	m.body.conn.gid = uc.gid;
	if (conn_payload(pl, sizeof(pl), r->fabric, me->name,
			 r->conf->host[h].name,
			 skiff_links_boot(r->links, r->self), &m.body.conn) < 0 ||
	    skiff_auth_encode_text(skiff_links_auth(r->links), pl,
				   m.body.conn.cred, sizeof(m.body.conn.cred),
				   &m.body.conn.cred_len, why, sizeof(why)) < 0) {
		say(r, "relay: no credential for a connection to %u:%u: %s",
		    c->req.dst_node, c->req.dst_port, pl[0] ? why : "names");
		free_conn(r, c);
		return;
	}
	if (skiff_links_send(r->links, (unsigned)h, &m, len) < 0) {
		free_conn(r, c);
		return;
	}
	c->state = C_OUT;
	c->host = (unsigned)h;
	c->src_node = sn;
	c->src_port = sp;
	c->dst_node = c->req.dst_node;
	c->dst_port = c->req.dst_port;
	c->deadline = r->now + RELAY_OUT_MS;
	watch(r, c, 0); /* a hang-up only: the connector gave up */
}

/* CONN from host @h: connect to the listener here as its process. */
static void on_conn(struct skiff_relay *r, unsigned h,
		    const struct skiff_link_conn *m)
{
	const struct skiff_fhost *me = &r->conf->host[r->self];
	const struct skiff_fhost *fh = &r->conf->host[h];
	char want[512], why[160];
	struct rconn *c;
	int fd;
	uint32_t status = ECONNREFUSED;

	/* its own nodes to ours, with a credential binding exactly that */
	if (m->src_node < fh->first || m->src_node > fh->last ||
	    m->dst_node < me->first || m->dst_node > me->last) {
		say(r, "relay: host '%s' asked for %u:%u as %u:%u: not its "
		    "node to ours", fh->name, m->dst_node, m->dst_port,
		    m->src_node, m->src_port);
		status = ENODEV;
		goto refuse;
	}
	if (conn_payload(want, sizeof(want), r->fabric, fh->name, me->name,
			 skiff_links_boot(r->links, h), m) < 0 ||
	    skiff_auth_check_text(skiff_links_auth(r->links), m->cred,
				  m->cred_len, want, why, sizeof(why)) < 0) {
		say(r, "relay: refused a connection from host '%s' (%u:%u to "
		    "%u:%u): %s", fh->name, m->src_node, m->src_port,
		    m->dst_node, m->dst_port, why);
		status = EACCES;
		goto refuse;
	}
	/* SCIF's rule across hosts: a port below 1024 is root's */
	if (m->src_port < SCIF_ADMIN_PORT_END && m->uid != 0) {
		say(r, "relay: refused %u:%u from host '%s': a reserved port "
		    "of uid %u", m->src_node, m->src_port, fh->name, m->uid);
		status = EACCES;
		goto refuse;
	}
	if (m->dst_port == SKIFF_MICMEM_PORT && m->dst_node > me->first &&
	    (unsigned)(m->dst_node - me->first) <= r->ncards) {
		card_conn(r, h, m);
		return;
	}
	c = alloc_conn(r);
	if (!c) {
		status = ENOMEM;
		goto refuse;
	}
	fd = skiff_relay_connect(m->src_node, m->src_port, m->dst_node,
				 m->dst_port);
	if (fd < 0) {
		release_slot(r, c);
		status = (uint32_t)-fd;
		goto refuse;
	}
	take_conn(c, C_IN, h, m);
	c->fd = fd;
	c->deadline = r->now + RELAY_IN_MS;
	watch(r, c, EPOLLIN); /* the listener's answer */
	return;
refuse:
	send_cx(r, h, SKIFF_LINK_CONN_ACK, m->id, 0, status);
}

/* IN: the listener answered (or hung up). */
static void on_answer(struct skiff_relay *r, struct rconn *c)
{
	struct scif_portID dst = { .node = c->dst_node, .port = c->dst_port };

	if (scif_connect(c->fd, &dst) < 0) {
		if (errno == EALREADY || errno == EINPROGRESS)
			return;
		send_cx(r, c->host, SKIFF_LINK_CONN_ACK, c->peer_id, 0,
			ECONNREFUSED);
		c->peer_id = 0;
		free_conn(r, c);
		return;
	}
	c->state = C_OPEN;
	watch_ctl(r, c);
	c->credit = SKIFF_LINK_WINDOW;
	send_cx(r, c->host, SKIFF_LINK_CONN_ACK, c->peer_id, c->id, 0);
	pump_out(r, c);
}

static void on_ack(struct skiff_relay *r, unsigned h,
		   const struct skiff_link_cx *m)
{
	struct rconn *c = find(r, m->id, h);
	int fd;

	if (!c || c->state != C_OUT) {
		/* ours gave up meanwhile: end theirs */
		if (m->value == 0)
			send_cx(r, h, SKIFF_LINK_CLOSE, m->peer_id, 0, 0);
		return;
	}
	if (m->value != 0) {
		free_conn(r, c); /* the connector is refused */
		return;
	}
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	c->events = 0;
	fd = skiff_relay_grant(c->fd, &c->req, c->memfd, c->dst_node,
			       c->dst_port, c->src_node, c->src_port);
	c->memfd = -1; /* closed by the grant */
	c->peer_id = m->peer_id;
	if (fd < 0) {
		send_cx(r, h, SKIFF_LINK_CLOSE, m->peer_id, 0, 0);
		free_conn(r, c);
		return;
	}
	c->state = C_OPEN;
	watch_ctl(r, c);
	c->credit = SKIFF_LINK_WINDOW;
	pump_out(r, c);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Topped up at CONN_BUDGET_US a second (on the clock, not r->now: records
 * arrive between the relay's turns). */
static void refill(struct connq *q)
{
	int64_t now = mono_us() / 1000, dt = now - q->refill_ms;

	if (dt <= 0)
		return;
	q->refill_ms = now;
	q->budget_us += dt * (CONN_BUDGET_US / 1000);
	if (q->budget_us > CONN_BUDGET_US)
		q->budget_us = CONN_BUDGET_US;
}

/* Check one CONN, charging its host's budget with the time it took. */
static void check_conn(struct skiff_relay *r, unsigned h,
		       const struct skiff_link_conn *m)
{
	int64_t t0 = mono_us();

	on_conn(r, h, m);
	r->cq[h].budget_us -= mono_us() - t0;
}

static void conn_admit(struct skiff_relay *r, unsigned h,
		       const struct skiff_link_conn *m)
{
	struct connq *q;

	if (h >= SKIFF_FHOSTS_MAX)
		return;
	q = &r->cq[h];
	refill(q);
	if (!q->n && q->budget_us > 0) {
		check_conn(r, h, m);
		return;
	}
	if (!q->q)
		q->q = malloc(CONN_QUEUE * sizeof(*q->q));
	if (!q->q || q->n == CONN_QUEUE) {
		say(r, "relay: host '%s' sends connection requests faster than "
		    "they are checked: refused unchecked", r->conf->host[h].name);
		send_cx(r, h, SKIFF_LINK_CONN_ACK, m->id, 0, ECONNREFUSED);
		return;
	}
	if (!q->n)
		r->cq_waiting++;
	q->q[(q->head + q->n++) % CONN_QUEUE] = *m;
}

/* Check the queued CONNs their hosts' budgets allow now. */
static void conn_queued(struct skiff_relay *r)
{
	for (unsigned h = 0; h < r->conf->nhosts && r->cq_waiting; h++) {
		struct connq *q = &r->cq[h];

		if (!q->n)
			continue;
		refill(q);
		while (q->n && q->budget_us > 0) {
			struct skiff_link_conn m = q->q[q->head];

			q->head = (q->head + 1) % CONN_QUEUE;
			if (!--q->n)
				r->cq_waiting--;
			check_conn(r, h, &m);
		}
	}
}

static void on_record(void *arg, unsigned h, const struct skiff_link_msg *m)
{
	struct skiff_relay *r = arg;
	struct rconn *c;

	switch (m->hdr.type) {
	case SKIFF_LINK_CONN:
		conn_admit(r, h, &m->body.conn);
		return;
	case SKIFF_LINK_CONN_ACK:
		on_ack(r, h, &m->body.cx);
		return;
	case SKIFF_LINK_RMA_DONE:
		rma_finished(r, h, &m->body.cx);
		return;
	case SKIFF_LINK_RMA_GO:
		rma_go(r, h, &m->body.rma);
		return;
	case SKIFF_LINK_RMA_WROTE:
		rma_wrote(r, h, &m->body.cx);
		return;
	default:
		break;
	}
	c = find(r, m->body.cx.id, h);
	if (c && c->state == C_CARD) {
		if (m->hdr.type == SKIFF_LINK_RMA)
			rma_target(r, c, h, &m->body.rma);
		else if (m->hdr.type == SKIFF_LINK_CLOSE) {
			c->peer_id = 0;
			free_conn(r, c);
		}
		/* its process has nothing to say to the card (a DATA is
		 * dropped; so is a CREDIT, we send one record only) */
		return;
	}
	if (!c || c->state != C_OPEN)
		return; /* ended here meanwhile: nothing to do */
	switch (m->hdr.type) {
	case SKIFF_LINK_RMA:
		rma_target(r, c, h, &m->body.rma);
		break;
	case SKIFF_LINK_DATA:
		on_data(r, c, &m->body.data);
		break;
	case SKIFF_LINK_CREDIT:
		if ((uint64_t)c->credit + m->body.cx.value > SKIFF_LINK_WINDOW) {
			say(r, "relay: host '%s' credited more than a window: "
			    "connection ended", r->conf->host[h].name);
			end_conn(r, c);
			break;
		}
		c->credit += m->body.cx.value;
		pump_out(r, c);
		break;
	case SKIFF_LINK_CLOSE:
		c->peer_closed = 1;
		c->peer_id = 0;
		flush_in(r, c);
		break;
	default:
		break;
	}
}

/* Registrations of @o for host @h's writes: closed, and their memory
 * put aside (a card's stays: it is mapped while we run, and only its
 * owner's transfers use it). */
static void quarantine(struct skiff_relay *r, struct rop *o, unsigned h)
{
	struct rconn *c = op_conn(r, o);
	struct skiff_relay_seg m[16];
	int k;

	for (unsigned i = 0; i < o->nmr; i++)
		skiff_fab_mr_close(o->mr[i]);
	o->nmr = 0;
	/* the endpoint's whole mappings holding them become ours (a card's
	 * ops have none: its memory stays) */
	while (c && o->nxseg &&
	       (k = skiff_relay_detach(c->fd, o->xseg, o->nxseg, m, 16)) > 0)
		for (int i = 0; i < k; i++)
			skiff_quar_take(r->quar, h, m[i].addr, m[i].len, 0);
	o->nxseg = 0;
	if (o->kind == OP_INIT && o->bounce) {
		/* a v* call's buffer, registered for the peer's writes */
		skiff_quar_take(r->quar, h, o->bounce, o->len, 1);
		o->bounce = NULL;
	}
}

/* Host @h linked again: whatever it sent before has arrived (its HELLO
 * came behind it), or its old connection is gone. */
static void on_host_up(void *arg, unsigned h)
{
	struct skiff_relay *r = arg;

	skiff_quar_release(r->quar, h);
}

static void on_host_down(void *arg, unsigned h)
{
	struct skiff_relay *r = arg;
	size_t kept = skiff_quar_bytes(r->quar, h);

	if (h < SKIFF_FHOSTS_MAX && r->cq[h].n) {
		r->cq[h].n = 0; /* nobody to answer */
		r->cq_waiting--;
	}
	/* Our requests to it: their processes get ECONNRESET now (their
	 * fi_writes, if any, end them when the provider fails them). Its
	 * RMA_WROTE or RMA_DONE will not come; but a write of its may be
	 * half done, and a link cut and restored lets the provider finish it
	 * into what we registered (closing the registration or the address
	 * does not stop it): that memory goes to the quarantine, away from
	 * the process, until the host links again (quar.h). */
	for (struct rop *o = r->ops, *next; o; o = next) {
		next = o->next;
		if (o->host != h)
			continue;
		if ((o->kind == OP_TARGET && o->state == OP_EXPOSED) ||
		    (o->kind == OP_INIT && o->state == OP_WAIT_DONE))
			quarantine(r, o, h);
		if (o->kind == OP_INIT) {
			init_report(r, o, ECONNRESET);
			if (!o->pending)
				op_free(r, o);
		} else if (o->state == OP_EXPOSED) {
			op_free(r, o);
		}
	}
	if (skiff_quar_bytes(r->quar, h) > kept)
		say(r, "relay: host '%s' down with writes of its possibly under "
		    "way: %zu KiB kept aside until it links again",
		    r->conf->host[h].name, skiff_quar_bytes(r->quar, h) >> 10);
	for (unsigned i = 0; i < r->hi; i++) {
		struct rconn *c = &r->c[i];

		if (c->state != C_FREE && c->state != C_LREQ && c->host == h) {
			c->peer_id = 0; /* nobody to tell */
			/* our writes still running on it go to a host that is
			 * gone: its windows' owner need not wait for them */
			if (c->state == C_OPEN && c->nops)
				skiff_relay_rma_orphan(c->fd);
			free_conn(r, c);
		}
	}
}

static void accept_local(struct skiff_relay *r)
{
	for (int k = 0; k < 64; k++) {
		int s = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct rconn *c;

		if (s < 0)
			return;
		c = alloc_conn(r);
		if (!c) {
			close(s);
			continue;
		}
		c->state = C_LREQ;
		c->fd = s;
		c->deadline = r->now + RELAY_REQ_MS;
		watch(r, c, EPOLLIN);
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int skiff_relay_open(struct skiff_relay **out, struct skiff_links *links,
		     const struct skiff_fconf *conf, unsigned self,
		     const char *fabric, char *why, size_t whylen)
{
	struct skiff_relay *r = calloc(1, sizeof(*r));
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
	struct sockaddr_un sa;
	socklen_t sl;

	if (!r)
		return -ENOMEM;
	r->c = calloc(RELAY_MAX, sizeof(*r->c));
	r->q = calloc(RELAY_RMA_QUEUE, sizeof(*r->q));
	r->quar = skiff_quar_new(SKIFF_FHOSTS_MAX);
	r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&r->qlock, NULL);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!r->c || !r->q || !r->quar || r->evfd < 0 || r->ep < 0 || r->lfd < 0) {
		snprintf(why, whylen, "relay: %s", strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	sl = skiff_relay_addr(&sa, fabric);
	if (bind(r->lfd, (struct sockaddr *)&sa, sl) < 0 ||
	    listen(r->lfd, 128) < 0 ||
	    epoll_ctl(r->ep, EPOLL_CTL_ADD, r->lfd, &e) < 0 ||
	    epoll_ctl(r->ep, EPOLL_CTL_ADD, r->evfd,
		      &(struct epoll_event){ .events = EPOLLIN,
					     .data.u64 = TAG_EVENT }) < 0) {
		snprintf(why, whylen, "relay socket @skiff/%s/relay: %s", fabric,
			 strerror(errno));
		goto fail;
	}
	r->links = links;
	r->conf = conf;
	r->self = self;
	snprintf(r->fabric, sizeof(r->fabric), "%s", fabric);
	r->now = mono_ms();
	sink.record = on_record;
	sink.host_down = on_host_down;
	sink.host_up = on_host_up;
	skiff_links_set_sink(links, &sink, r);
	hook_relay = r;
	skiff_svc_set_rma_hook(rma_hook);
	*out = r;
	return 0;
fail:
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->ep >= 0)
		close(r->ep);
	if (r->evfd >= 0)
		close(r->evfd);
	skiff_quar_free(r->quar);
	free(r->q);
	free(r->c);
	free(r);
	return -EIO;
}

void skiff_relay_close(struct skiff_relay *r)
{
	if (!r)
		return;
	skiff_svc_set_rma_hook(NULL);
	hook_relay = NULL;
	skiff_links_set_sink(r->links, NULL, NULL);
	while (r->ops) /* the daemon stops: nothing moves any more */
		op_free(r, r->ops);
	for (unsigned i = 0; i < RELAY_MAX; i++)
		if (r->c[i].state != C_FREE)
			free_conn(r, &r->c[i]);
	for (unsigned i = 0; i < r->ncards; i++)
		if (r->card_map[i])
			munmap(r->card_map[i], r->card_size);
	for (unsigned h = 0; h < SKIFF_FHOSTS_MAX; h++)
		free(r->cq[h].q);
	close(r->lfd);
	close(r->ep);
	close(r->evfd);
	pthread_mutex_destroy(&r->qlock);
	free(r->spare);
	/* the daemon stops: no provider of ours writes any more (scifd
	 * closes the fabric next, before exiting) */
	skiff_quar_free(r->quar);
	free(r->q);
	free(r->c);
	free(r);
}

int skiff_relay_fd(struct skiff_relay *r)
{
	return r->ep;
}

int skiff_relay_timeout(struct skiff_relay *r, int64_t now_ms)
{
	int64_t t = -1;

	if (r->cq_waiting)
		t = 5; /* CONNs wait for their hosts' budgets */
	if (!r->count)
		return (int)t;
	for (unsigned i = 0; i < r->hi; i++) {
		const struct rconn *c = &r->c[i];
		int64_t w;

		if (c->state == C_FREE)
			continue;
		if (c->blocked)
			return RELAY_RETRY_MS;
		if (c->state == C_OPEN || c->state == C_DRAIN || c->state == C_CARD)
			continue;
		w = c->deadline - now_ms;
		if (w < 0)
			w = 0;
		if (t < 0 || w < t)
			t = w;
	}
	return (int)t;
}

void skiff_relay_run(struct skiff_relay *r, int64_t now_ms)
{
	struct epoll_event ev[64];
	int n;

	r->now = now_ms;
	n = epoll_wait(r->ep, ev, 64, 0);
	for (int k = 0; k < n; k++) {
		struct rconn *c;

		if (ev[k].data.u64 == TAG_LISTEN) {
			accept_local(r);
			continue;
		}
		if (ev[k].data.u64 == TAG_EVENT) {
			take_requests(r);
			continue;
		}
		if (ev[k].data.u64 & TAG_CTL) {
			c = &r->c[(uint32_t)ev[k].data.u64 % RELAY_MAX];
			if (c->state != C_OPEN || c->ctl < 0)
				continue;
			if (ev[k].events & (EPOLLHUP | EPOLLERR)) {
				/* its process is gone: the service thread
				 * ends it (a hung-up socket stays ready) */
				unwatch_ctl(r, c);
				continue;
			}
			/* the hook queues its RMA_REQs: start them now */
			if (skiff_relay_take(c->fd)) {
				/* the service's turn (it rings TAG_EVENT):
				 * a ready socket would wake us in a loop */
				struct epoll_event e = { .events = 0,
					.data.u64 = ev[k].data.u64 };

				epoll_ctl(r->ep, EPOLL_CTL_MOD, c->ctl, &e);
				c->ctl_off = 1;
			}
			take_requests(r);
			continue;
		}
		if (ev[k].data.u64 >= RELAY_MAX)
			continue;
		c = &r->c[ev[k].data.u64];
		switch (c->state) {
		case C_LREQ:
			on_request(r, c);
			break;
		case C_OUT:
			free_conn(r, c); /* the connector hung up */
			break;
		case C_IN:
			on_answer(r, c);
			break;
		case C_OPEN: {
			uint32_t e = ev[k].events;

			if (e & EPOLLOUT)
				flush_in(r, c);
			if (c->state != C_OPEN)
				break;
			if ((e & (EPOLLHUP | EPOLLERR)) && c->peer_closed) {
				free_conn(r, c); /* both ends gone */
				break;
			}
			if ((e & (EPOLLHUP | EPOLLERR)) && (!c->credit || c->blocked)) {
				/* a hang-up is reported as long as it lasts:
				 * park the endpoint until credit (or room)
				 * lets its last bytes go, then read it out */
				epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->events = 0;
				break;
			}
			if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
				pump_out(r, c);
			break;
		}
		default:
			break;
		}
	}
	if (r->spare && now_ms - r->spare_at > RELAY_SPARE_MS) {
		free(r->spare);
		r->spare = NULL;
	}
	if (r->cq_waiting)
		conn_queued(r);
	/* timers, links that lost records, and connections the link had no
	 * room for */
	for (unsigned h = 0; h < r->conf->nhosts && h < SKIFF_FHOSTS_MAX; h++) {
		unsigned d = h == r->self ? 0 : skiff_links_drops(r->links, h);

		if (d != r->drops[h]) {
			r->drops[h] = d;
			for (unsigned i = 0; i < r->hi; i++) {
				struct rconn *c = &r->c[i];

				if (c->state == C_OPEN && c->host == h) {
					say(r, "relay: the link to host '%s' "
					    "lost records: connection %u:%u-%u:%u ended",
					    r->conf->host[h].name, c->src_node,
					    c->src_port, c->dst_node, c->dst_port);
					end_conn(r, c);
				}
			}
		}
	}
	if (!r->count)
		return;
	for (unsigned i = 0; i < r->hi; i++) {
		struct rconn *c = &r->c[i];

		if (c->state == C_FREE)
			continue;
		if (c->state == C_OPEN) {
			if (c->blocked)
				pump_out(r, c);
			continue;
		}
		if (c->state == C_DRAIN || c->state == C_CARD)
			continue; /* its RMAs end it; the other end ends it */
		if (now_ms >= c->deadline) {
			if (c->state == C_IN)
				send_cx(r, c->host, SKIFF_LINK_CONN_ACK,
					c->peer_id, 0, ECONNREFUSED);
			c->peer_id = 0;
			free_conn(r, c);
		}
	}
}
