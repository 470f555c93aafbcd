/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "fab.h"
#include "link_wire.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/uio.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define FAB_PROVIDER_DEFAULT "tcp;ofi_rxm"
#define FAB_RX_SLOTS 64
#define FAB_TX_SLOTS 256
/* Records in flight to one peer before more are dropped: a peer whose
 * connection hangs (link cut) must not use up every send slot. Relayed
 * connections' records ask first (skiff_fab_room) and leave a few for the
 * link's own. */
#define FAB_TX_PER_PEER 96
#define FAB_TX_RESERVE 8
#define FAB_MAX_PEERS SKIFF_LINK_HOSTS_MAX
/* A receive buffer a little larger than any record, so a longer one is
 * seen (and refused) rather than silently cut to a valid-looking size. */
#define FAB_RX_BYTES (SKIFF_LINK_MSG_MAX + 64)

/* A record not yet taken by the provider is retried this long, then
 * dropped: the links' timers resend what matters. */
#define FAB_QUEUE_MS 3000
/* A record the provider refused for now (-FI_EAGAIN while it connects,
 * its progress driven by our calls) is retried after this long, doubled
 * while the peer keeps refusing (every attempt may be a new connection
 * to a host that is down), up to FAB_RETRY_MAX_MS. */
#define FAB_RETRY_MS 5
#define FAB_RETRY_MAX_MS 500

enum { SLOT_FREE, SLOT_QUEUED, SLOT_POSTED };

struct fab_slot {
	struct fi_context ctx; /* first: the completion's op_context */
	int busy;	       /* rx: posted; tx: SLOT_* */
	int peer;
	size_t len;
	uint64_t seq;	       /* tx: queued records go out in this order */
	int64_t queued_ms;
	char buf[FAB_RX_BYTES];
};

struct fab_peer {
	char *addr;
	char port[8];
	fi_addr_t fa;
	int resolved;
	unsigned inflight;
	unsigned drops;	   /* records lost (never taken, or failed) */
	int64_t retry_at;  /* monotonic ms: queued records wait until then */
	int backoff_ms;	   /* 0: the last attempt went through */
};

/* An RMA of ours (skiff_fab_rma): its own context, told from the record
 * slots by the magic word. */
#define FAB_OP_MAGIC 0x6f706d61u
struct fab_op {
	struct fi_context ctx; /* first: the completion's op_context */
	uint32_t magic;
	int write;
	unsigned peer;
	void *buf;
	size_t len;
	uint64_t raddr, key;
	skiff_fab_rma_fn done;
	void *arg;
	struct fab_op *next; /* not taken by the provider yet */
};

struct skiff_fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	int wait_fd;
	int source; /* the provider reports senders (FI_SOURCE) */
	unsigned npeers;
	struct fab_peer peer[FAB_MAX_PEERS];
	struct fab_slot rx[FAB_RX_SLOTS];
	struct fab_slot tx[FAB_TX_SLOTS];
	int rx_unposted; /* a receive could not be re-posted: retry */
	unsigned nqueued; /* tx slots SLOT_QUEUED */
	uint64_t seq;
	int rma; /* the provider does RMA (FI_RMA) */
	struct fab_op *opq, **opq_tail; /* RMAs refused for now (EAGAIN) */
	unsigned nops; /* RMAs posted or queued */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(char *why, size_t n, const char *what, int err)
{
	snprintf(why, n, "%s: %s", what, fi_strerror(err < 0 ? -err : err));
}

static int resolve(struct skiff_fab *f, unsigned i)
{
	struct fab_peer *p = &f->peer[i];
	int r;

	if (p->resolved)
		return 0;
	r = fi_av_insertsvc(f->av, p->addr, p->port, &p->fa, 0, NULL);
	if (r != 1)
		return -EHOSTUNREACH;
	p->resolved = 1;
	return 0;
}

static int post_rx(struct skiff_fab *f, struct fab_slot *s)
{
	ssize_t r = fi_recv(f->ep, s->buf, sizeof(s->buf), NULL,
			    FI_ADDR_UNSPEC, &s->ctx);

	if (r == 0) {
		s->busy = 1;
		return 0;
	}
	s->busy = 0;
	f->rx_unposted = 1;
	return (int)r;
}

static void repost_all(struct skiff_fab *f)
{
	f->rx_unposted = 0;
	for (unsigned i = 0; i < FAB_RX_SLOTS; i++)
		if (!f->rx[i].busy && post_rx(f, &f->rx[i]) != 0)
			return;
}

static struct fi_info *get_info(const char *addr, uint16_t port, int source,
				int rma, char *why, size_t whylen)
{
	struct fi_info *hints = fi_allocinfo(), *info = NULL;
	char svc[8];
	int r;

	if (!hints) {
		snprintf(why, whylen, "fi_allocinfo: out of memory");
		return NULL;
	}
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | (source ? FI_SOURCE : 0) |
		      (rma ? FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ |
				     FI_REMOTE_WRITE : 0);
	hints->mode = FI_CONTEXT;
	/* a relayed connection's bytes, credits and close must arrive in the
	 * order sent */
	hints->tx_attr->msg_order = FI_ORDER_SAS;
	hints->rx_attr->msg_order = FI_ORDER_SAS;
	/* no local registration: the buffers are ours and small */
	hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->domain_attr->av_type = FI_AV_TABLE;
	/* FI_PROVIDER, as libfabric users expect, filters inside
	 * fi_getinfo; without it take the provider every host has */
	if (!getenv("FI_PROVIDER") || !*getenv("FI_PROVIDER"))
		hints->fabric_attr->prov_name = strdup(FAB_PROVIDER_DEFAULT);
	snprintf(svc, sizeof(svc), "%u", (unsigned)port);
	r = fi_getinfo(FI_VERSION(1, 9), addr, svc, FI_SOURCE, hints, &info);
	fi_freeinfo(hints);
	if (r) {
		snprintf(why, whylen, "no libfabric provider (%s) for %s port "
			 "%u: %s", getenv("FI_PROVIDER") && *getenv("FI_PROVIDER")
			 ? getenv("FI_PROVIDER") : FAB_PROVIDER_DEFAULT,
			 addr, (unsigned)port, fi_strerror(-r));
		return NULL;
	}
	return info;
}

static int fab_open(struct skiff_fab **out, const char *addr, uint16_t port,
		    const struct skiff_fab_peer *peers, unsigned npeers,
		    char *why, size_t whylen);

/*
 * libfabric loads every provider it has; psm2's and infinipath's install
 * handlers for SIGINT, SIGTERM and the crash signals (printing and exit 1)
 * in any process that opens libfabric: the daemon's own stay (a crash
 * must dump core as without a fabric; its stop signals are read from a
 * signalfd).
 */
static const int fab_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGILL,
				SIGABRT, SIGBUS, SIGFPE, SIGSEGV };
#define FAB_NSIGS (sizeof(fab_sigs) / sizeof(fab_sigs[0]))

/* Some of those libraries install theirs from a constructor, before
 * main(): whatever handler lives in one of them goes back to the default
 * (a sanitizer's, or the daemon's own, stays). */
static void unhook(int sig)
{
	struct sigaction sa;
	Dl_info di;
	void *h;

	if (sigaction(sig, NULL, &sa) < 0)
		return;
	h = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction :
					 (void *)sa.sa_handler;
	if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN ||
	    !dladdr(h, &di) || !di.dli_fname)
		return;
	if (strstr(di.dli_fname, "psm") || strstr(di.dli_fname, "infinipath")) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(sig, &sa, NULL);
	}
}

int skiff_fab_open(struct skiff_fab **out, const char *addr, uint16_t port,
		   const struct skiff_fab_peer *peers, unsigned npeers,
		   char *why, size_t whylen)
{
	struct sigaction sa[FAB_NSIGS];
	int r;

	for (size_t i = 0; i < FAB_NSIGS; i++)
		sigaction(fab_sigs[i], NULL, &sa[i]);
	r = fab_open(out, addr, port, peers, npeers, why, whylen);
	for (size_t i = 0; i < FAB_NSIGS; i++) {
		sigaction(fab_sigs[i], &sa[i], NULL);
		unhook(fab_sigs[i]);
	}
	return r;
}

static int fab_open(struct skiff_fab **out, const char *addr, uint16_t port,
		    const struct skiff_fab_peer *peers, unsigned npeers,
		    char *why, size_t whylen)
{
	struct skiff_fab *f;
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	struct fi_cq_attr cq_attr = {
		.format = FI_CQ_FORMAT_MSG,
		.wait_obj = FI_WAIT_FD,
		.size = 2 * (FAB_RX_SLOTS + FAB_TX_SLOTS),
	};
	int r;

	if (npeers > FAB_MAX_PEERS)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->wait_fd = -1;
	/* the sender's address lets us drop records whose claimed host is
	 * not where they came from; a provider without it still works */
	/* RMA between hosts needs FI_RMA; a provider without it still links
	 * the hosts and relays messages */
	for (int rma = 1; rma >= 0 && !f->info; rma--) {
		f->info = get_info(addr, port, 1, rma, why, whylen);
		if (f->info)
			f->source = 1;
		else
			f->info = get_info(addr, port, 0, rma, why, whylen);
		if (f->info)
			f->rma = rma;
	}
	f->opq_tail = &f->opq;
	if (!f->info) {
		free(f);
		return -ENODEV;
	}
	r = fi_fabric(f->info->fabric_attr, &f->fabric, NULL);
	if (r) {
		say(why, whylen, "fi_fabric", r);
		goto fail;
	}
	r = fi_domain(f->fabric, f->info, &f->domain, NULL);
	if (r) {
		say(why, whylen, "fi_domain", r);
		goto fail;
	}
	av_attr.count = FAB_MAX_PEERS;
	r = fi_av_open(f->domain, &av_attr, &f->av, NULL);
	if (r) {
		say(why, whylen, "fi_av_open", r);
		goto fail;
	}
	r = fi_cq_open(f->domain, &cq_attr, &f->cq, NULL);
	if (r) {
		/* a provider without wait objects: poll it on a timer */
		cq_attr.wait_obj = FI_WAIT_NONE;
		r = fi_cq_open(f->domain, &cq_attr, &f->cq, NULL);
	}
	if (r) {
		say(why, whylen, "fi_cq_open", r);
		goto fail;
	}
	r = fi_endpoint(f->domain, f->info, &f->ep, NULL);
	if (r) {
		say(why, whylen, "fi_endpoint", r);
		goto fail;
	}
	r = fi_ep_bind(f->ep, &f->av->fid, 0);
	if (!r)
		r = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV);
	if (r) {
		say(why, whylen, "fi_ep_bind", r);
		goto fail;
	}
	r = fi_enable(f->ep);
	if (r) {
		/* the usual cause: the address is not this host's, or the
		 * port is taken */
		snprintf(why, whylen, "cannot listen on %s port %u: %s", addr,
			 (unsigned)port, fi_strerror(-r));
		goto fail;
	}
	if (cq_attr.wait_obj == FI_WAIT_FD &&
	    fi_control(&f->cq->fid, FI_GETWAIT, &f->wait_fd) != 0)
		f->wait_fd = -1;
	f->npeers = npeers;
	for (unsigned i = 0; i < npeers; i++) {
		f->peer[i].addr = strdup(peers[i].addr);
		if (!f->peer[i].addr) {
			r = -ENOMEM;
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
		snprintf(f->peer[i].port, sizeof(f->peer[i].port), "%u",
			 (unsigned)peers[i].port);
		resolve(f, i); /* a failure is retried at the first send */
	}
	repost_all(f);
	*out = f;
	return 0;
fail:
	skiff_fab_close(f);
	return r < 0 ? r : -EIO;
}

void skiff_fab_close(struct skiff_fab *f)
{
	if (!f)
		return;
	if (f->ep)
		fi_close(&f->ep->fid);
	if (f->cq)
		fi_close(&f->cq->fid);
	if (f->av)
		fi_close(&f->av->fid);
	if (f->domain)
		fi_close(&f->domain->fid);
	if (f->fabric)
		fi_close(&f->fabric->fid);
	if (f->info)
		fi_freeinfo(f->info);
	for (unsigned i = 0; i < f->npeers; i++)
		free(f->peer[i].addr);
	free(f);
}

const char *skiff_fab_provider(const struct skiff_fab *f)
{
	return f->info->fabric_attr->prov_name;
}

int skiff_fab_wait_fd(struct skiff_fab *f)
{
	return f->wait_fd;
}

int skiff_fab_timeout(struct skiff_fab *f)
{
	struct fid *fids[1] = { &f->cq->fid };
	int64_t t = -1;

	if (f->nqueued) {
		int64_t now = mono_ms();

		t = FAB_RETRY_MAX_MS;
		for (unsigned i = 0; i < FAB_TX_SLOTS; i++)
			if (f->tx[i].busy == SLOT_QUEUED) {
				int64_t w = f->peer[f->tx[i].peer].retry_at - now;

				if (w < t)
					t = w < 0 ? 0 : w;
			}
	}
	if (f->opq && (t < 0 || t > FAB_RETRY_MS))
		t = FAB_RETRY_MS;
	if (f->wait_fd < 0 || f->rx_unposted)
		return t >= 0 && t < FAB_RETRY_MS ? (int)t : FAB_RETRY_MS;
	/* the provider's contract: sleep on its fd only when fi_trywait
	 * says so */
	if (fi_trywait(f->fabric, fids, 1) != FI_SUCCESS)
		return 0;
	return (int)t;
}

/* The oldest queued record for @peer, or NULL. */
static struct fab_slot *oldest(struct skiff_fab *f, int peer)
{
	struct fab_slot *s = NULL;

	for (unsigned i = 0; i < FAB_TX_SLOTS; i++)
		if (f->tx[i].busy == SLOT_QUEUED && f->tx[i].peer == peer &&
		    (!s || f->tx[i].seq < s->seq))
			s = &f->tx[i];
	return s;
}

/* Records of @peer the provider took and has not completed. */
static unsigned posted(const struct skiff_fab *f, int peer)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAB_TX_SLOTS; i++)
		n += f->tx[i].busy == SLOT_POSTED && f->tx[i].peer == peer;
	return n;
}

/* Hand queued records to the provider, oldest first for each peer; drop
 * stale ones; leave a peer that refuses until its retry time. */
static void flush_queue(struct skiff_fab *f)
{
	int64_t now = mono_ms();

	for (unsigned p = 0; p < f->npeers && f->nqueued; p++) {
		struct fab_peer *pe = &f->peer[p];
		struct fab_slot *s;

		while ((s = oldest(f, (int)p))) {
			ssize_t r;

			if (now - s->queued_ms > FAB_QUEUE_MS) {
				r = -FI_ETIMEDOUT;
			} else if (now < pe->retry_at) {
				break;
			} else {
				r = fi_send(f->ep, s->buf, s->len, NULL, pe->fa,
					    &s->ctx);
				if (r == -FI_EAGAIN && posted(f, (int)p)) {
					/* a connected peer's flow control: room
					 * comes with the completions of what is
					 * in flight (the wait fd wakes us), not
					 * with time; no back-off, or a relayed
					 * connection would stall for up to a
					 * second of doubling retries */
					pe->backoff_ms = 0;
					pe->retry_at = now + 1;
					break;
				}
				if (r == -FI_EAGAIN) {
					/* still connecting, or failing to:
					 * keep the order, try later */
					pe->backoff_ms = pe->backoff_ms ?
						2 * pe->backoff_ms : FAB_RETRY_MS;
					if (pe->backoff_ms > FAB_RETRY_MAX_MS)
						pe->backoff_ms = FAB_RETRY_MAX_MS;
					pe->retry_at = now + pe->backoff_ms;
					break;
				}
				pe->backoff_ms = 0;
				pe->retry_at = 0;
			}
			f->nqueued--;
			if (r == 0) {
				s->busy = SLOT_POSTED;
			} else {
				pe->inflight--;
				pe->drops++;
				s->busy = SLOT_FREE;
			}
		}
	}
}

int skiff_fab_send(struct skiff_fab *f, unsigned peer, const void *buf,
		   size_t len)
{
	struct fab_slot *s = NULL;

	if (peer >= f->npeers || len > FAB_RX_BYTES)
		return -EINVAL;
	if (resolve(f, peer) < 0)
		return -EHOSTUNREACH;
	if (f->peer[peer].inflight >= FAB_TX_PER_PEER)
		return -EAGAIN;
	for (unsigned i = 0; i < FAB_TX_SLOTS && !s; i++)
		if (f->tx[i].busy == SLOT_FREE)
			s = &f->tx[i];
	if (!s)
		return -EAGAIN;
	memcpy(s->buf, buf, len);
	s->len = len;
	s->peer = (int)peer;
	s->seq = ++f->seq;
	s->queued_ms = mono_ms();
	s->busy = SLOT_QUEUED;
	f->nqueued++;
	f->peer[peer].inflight++;
	/* behind older queued records, so a peer gets them in order; the
	 * provider may refuse for now (-FI_EAGAIN while it connects) */
	flush_queue(f);
	return 0;
}

static int src_peer(struct skiff_fab *f, fi_addr_t src)
{
	if (!f->source || src == FI_ADDR_NOTAVAIL)
		return -1;
	for (unsigned i = 0; i < f->npeers; i++)
		if (f->peer[i].resolved && f->peer[i].fa == src)
			return (int)i;
	return -2; /* an address that is none of the fabric's hosts */
}

static int post_op(struct skiff_fab *f, struct fab_op *o)
{
	struct fab_peer *p = &f->peer[o->peer];

	if (o->write == SKIFF_FAB_DELIVERED) {
		struct iovec iov = { o->buf, o->len };
		struct fi_rma_iov ri = { o->raddr, o->len, o->key };
		struct fi_msg_rma m = { .msg_iov = &iov, .iov_count = 1,
					.addr = p->fa, .rma_iov = &ri,
					.rma_iov_count = 1, .context = &o->ctx };

		return (int)fi_writemsg(f->ep, &m,
					FI_COMPLETION | FI_DELIVERY_COMPLETE);
	}
	if (o->write)
		return (int)fi_write(f->ep, o->buf, o->len, NULL, p->fa, o->raddr,
				     o->key, &o->ctx);
	return (int)fi_read(f->ep, o->buf, o->len, NULL, p->fa, o->raddr, o->key,
			    &o->ctx);
}

static void op_end(struct skiff_fab *f, struct fab_op *o, int status)
{
	skiff_fab_rma_fn done = o->done;
	void *arg = o->arg;

	f->nops--;
	o->magic = 0;
	free(o);
	done(arg, status);
}

/* Post the RMAs the provider refused before, in order. */
static void flush_ops(struct skiff_fab *f)
{
	while (f->opq) {
		struct fab_op *o = f->opq;
		int r = post_op(f, o);

		if (r == -FI_EAGAIN)
			return;
		f->opq = o->next;
		if (!f->opq)
			f->opq_tail = &f->opq;
		if (r != 0)
			op_end(f, o, -EIO);
	}
}

int skiff_fab_rma(struct skiff_fab *f, unsigned peer, int write, void *buf,
		  size_t len, uint64_t raddr, uint64_t key,
		  skiff_fab_rma_fn done, void *arg)
{
	struct fab_op *o;
	int r;

	if (!f->rma)
		return -EOPNOTSUPP;
	if (peer >= f->npeers || resolve(f, peer) < 0)
		return -EHOSTUNREACH;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->magic = FAB_OP_MAGIC;
	o->write = write;
	o->peer = peer;
	o->buf = buf;
	o->len = len;
	o->raddr = raddr;
	o->key = key;
	o->done = done;
	o->arg = arg;
	f->nops++;
	r = f->opq ? -FI_EAGAIN : post_op(f, o);
	if (r == -FI_EAGAIN) {
		*f->opq_tail = o;
		f->opq_tail = &o->next;
		return 0;
	}
	if (r != 0) {
		f->nops--;
		free(o);
		return -EIO;
	}
	return 0;
}

int skiff_fab_mr(struct skiff_fab *f, void *buf, size_t len, void **mr,
		 uint64_t *key, uint64_t *raddr)
{
	const struct fi_domain_attr *da = f->info->domain_attr;
	struct fid_mr *m = NULL;
	int r = -FI_ENOKEY;

	if (!f->rma)
		return -EOPNOTSUPP;
	/* The other daemon only ever writes into what we register (whoever
	 * holds the data writes it): no remote read. A provider that leaves
	 * the keys to us (no FI_MR_PROV_KEY, as tcp in libfabric 1.17) gets
	 * random ones: unique among the registrations alive (a key in use
	 * is refused, FI_ENOKEY: draw again) and not guessable from the
	 * ones a peer saw. */
	for (int tries = 0; tries < 8 && r == -FI_ENOKEY; tries++) {
		uint64_t want = 0;

		if (!(da->mr_mode & FI_MR_PROV_KEY)) {
			if (getrandom(&want, sizeof(want), 0) != sizeof(want))
				return -EIO;
			if (da->mr_key_size && da->mr_key_size < sizeof(want))
				want &= (1ull << (8 * da->mr_key_size)) - 1;
		}
		r = fi_mr_reg(f->domain, buf, len, FI_REMOTE_WRITE, 0, want, 0,
			      &m, NULL);
		if (da->mr_mode & FI_MR_PROV_KEY)
			break;
	}
	if (r)
		return r == -FI_ENOMEM ? -ENOMEM : -EIO;
	*mr = m;
	*key = fi_mr_key(m);
	/* without FI_MR_VIRT_ADDR the provider counts from the start of the
	 * registration (tcp in libfabric 1.17 does, whatever was asked) */
	*raddr = (da->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)buf : 0;
	return 0;
}

void skiff_fab_mr_close(void *mr)
{
	if (mr)
		fi_close(&((struct fid_mr *)mr)->fid);
}

/* A finished operation, whether it succeeded or not: free its slot. */
static struct fab_slot *finish(struct skiff_fab *f, void *ctx, int *is_rx)
{
	struct fab_slot *s = ctx;

	if (s >= f->rx && s < f->rx + FAB_RX_SLOTS) {
		*is_rx = 1;
		s->busy = 0;
		return s;
	}
	if (s >= f->tx && s < f->tx + FAB_TX_SLOTS) {
		*is_rx = 0;
		if (s->busy == SLOT_POSTED && f->peer[s->peer].inflight)
			f->peer[s->peer].inflight--;
		if (s->busy == SLOT_POSTED)
			s->busy = SLOT_FREE;
		return s;
	}
	return NULL;
}

int skiff_fab_progress(struct skiff_fab *f, skiff_fab_rx_fn fn, void *arg)
{
	struct fi_cq_msg_entry ent[16];
	fi_addr_t src[16];
	int delivered = 0;

	for (int round = 0; round < 8; round++) {
		ssize_t n;

		if (f->source)
			n = fi_cq_readfrom(f->cq, ent, 16, src);
		else
			n = fi_cq_read(f->cq, ent, 16);
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };
			int is_rx;
			struct fab_slot *s;

			if (fi_cq_readerr(f->cq, &err, 0) < 1)
				break;
			if (err.op_context &&
			    ((struct fab_op *)err.op_context)->magic == FAB_OP_MAGIC &&
			    !(err.op_context >= (void *)f->rx &&
			      err.op_context < (void *)(f->tx + FAB_TX_SLOTS))) {
				op_end(f, err.op_context, -EIO);
				continue;
			}
			/* a failed send (peer gone, refused) or a receive
			 * too long for our buffer: either way, drop it */
			s = finish(f, err.op_context, &is_rx);
			if (s && !is_rx && s->peer >= 0 &&
			    (unsigned)s->peer < f->npeers)
				f->peer[s->peer].drops++;
			if (s && is_rx)
				post_rx(f, s);
			continue;
		}
		if (n == -FI_EAGAIN || n == 0)
			break;
		if (n < 0)
			return (int)n;
		for (ssize_t k = 0; k < n; k++) {
			int is_rx;
			struct fab_slot *s;

			if (ent[k].flags & FI_RMA) {
				struct fab_op *o = ent[k].op_context;

				if (o && o->magic == FAB_OP_MAGIC)
					op_end(f, o, 0);
				continue;
			}
			s = finish(f, ent[k].op_context, &is_rx);

			if (!s || !is_rx)
				continue;
			if (ent[k].flags & FI_RECV) {
				int p = f->source ? src_peer(f, src[k]) : -1;

				if (p != -2)
					fn(arg, p, s->buf, ent[k].len);
				delivered++;
			}
			post_rx(f, s);
		}
	}
	if (f->rx_unposted)
		repost_all(f);
	flush_queue(f);
	flush_ops(f);
	return delivered;
}

unsigned skiff_fab_room(struct skiff_fab *f, unsigned peer)
{
	unsigned used, free_slots = 0;

	if (peer >= f->npeers || !f->peer[peer].resolved)
		return 0;
	used = f->peer[peer].inflight;
	if (used + FAB_TX_RESERVE >= FAB_TX_PER_PEER)
		return 0;
	for (unsigned i = 0; i < FAB_TX_SLOTS; i++)
		free_slots += f->tx[i].busy == SLOT_FREE;
	if (free_slots <= FAB_TX_RESERVE)
		return 0;
	free_slots -= FAB_TX_RESERVE;
	used = FAB_TX_PER_PEER - FAB_TX_RESERVE - used;
	return used < free_slots ? used : free_slots;
}

unsigned skiff_fab_drops(const struct skiff_fab *f, unsigned peer)
{
	return peer < f->npeers ? f->peer[peer].drops : 0;
}

unsigned skiff_fab_pending(const struct skiff_fab *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAB_TX_SLOTS; i++)
		n += f->tx[i].busy != 0;
	return n;
}
