/* SPDX-License-Identifier: MIT */
/*
 * scif bench fabric: libfabric itself, measured with the endpoint type and
 * provider scifd links its hosts with (FI_EP_RDM; FI_PROVIDER, or
 * "tcp;ofi_rxm"), so that the remote figures of scif bench lat and bw have
 * their limit beside them (issue 10: 8-byte round trip <= 1.2x the raw
 * one, RMA >= 0.9x the raw fi_write stream from 1 MiB).
 *
 *   serve      an endpoint on ADDR:PORT with a registered target buffer;
 *              it echoes 8-byte messages and answers control messages, one
 *              client at a time
 *   lat        8-byte fi_send/fi_recv ping-pong, spinning on fi_cq_read as
 *              fi_pingpong does (which sends with fi_inject what fits the
 *              provider's inject size, as both sides here do)
 *   write      a stream of fi_write into the server's buffer, a window in
 *              flight, a completion wait per window
 *
 * The client knows the server as a libfabric node/service and sends its
 * own address (fi_getname) in its first message, so the server can answer
 * without FI_SOURCE. Everything read from the peer is checked before use
 * (lengths, address, key, buffer bounds), and every wait has a deadline.
 */
#define _GNU_SOURCE
#include "bench_fab.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_pair.h"
#include "stats.h"
#include "subcommands.h"
#include "tool.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

#ifdef SKIFF_CLI_FABRIC

#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define FB_PROVIDER_DEFAULT "tcp;ofi_rxm"
#define FB_MAGIC 0x31424653u /* "SFB1" in memory on little-endian hosts */
#define FB_ADDR_MAX 128	     /* a sockaddr_in6 is 28; room for others */
#define FB_NRX 8	     /* receives kept posted */
#define FB_SLOT 256	     /* bytes per message buffer */
#define FB_PING 8	     /* a ping is 8 bytes, control messages more */
#define FB_RTT_DEADLINE_MS 10000
#define FB_WINDOW_DEADLINE_MS 60000
#define FB_BYE_DEADLINE_MS 3000
/* A server that has spun this long without a message sleeps on the
 * queue's wait object: between a client's rounds of libfabric (those of
 * scif bench lat --fabric-peer alternate with scif rounds) it must not
 * take a CPU from the processes being measured. Ping-pongs come every
 * few microseconds, so it never sleeps within a round. */
#define FB_SPIN_NS 1000000
#define FB_SLEEP_MS 100

enum { FB_HELLO = 1, FB_ACK, FB_SYNC, FB_SYNC_ACK, FB_BYE, FB_BYE_ACK };

/* 16 bytes: any control message is longer than a ping */
struct fb_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t len; /* of the whole message */
	uint64_t reserved;
};

struct fb_hello {
	struct fb_hdr h;
	uint32_t addrlen;
	uint32_t pad;
	uint64_t want; /* bytes of target buffer needed (0: none) */
	uint8_t addr[FB_ADDR_MAX];
};

struct fb_ack {
	struct fb_hdr h;
	int32_t status; /* 0 or a positive errno */
	uint32_t key_size;
	uint64_t key;
	uint64_t addr; /* the buffer's address for fi_write */
	uint64_t len;
};

struct fb_sync {
	struct fb_hdr h;
	uint32_t seq;
	uint32_t pad;
	uint64_t off; /* SYNC: read 8 bytes here; SYNC_ACK: echoed */
	uint64_t word; /* SYNC_ACK: what was there */
};

_Static_assert(sizeof(struct fb_hello) <= FB_SLOT, "hello fits a slot");
_Static_assert(sizeof(struct fb_hdr) > FB_PING, "a ping is not a header");

/* One endpoint, either side. */
struct fb {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	struct fid_mr *msg_mr, *big_mr;
	void *msg_desc, *big_desc;
	char *msg; /* FB_NRX receive slots, then the send slot */
	unsigned char *big;
	size_t big_len;
	struct fi_context rx_ctx[FB_NRX], tx_ctx,
		wr_ctx[SKIFF_FABB_WINDOW_MAX];
	/* completed receives, in arrival order */
	unsigned rxq[FB_NRX], rxq_head, rxq_n;
	size_t rx_len[FB_NRX];
	unsigned tx_pending; /* sends and writes not completed */
	int sleepy; /* the server: spin, then sleep in fi_cq_sread */
	fi_addr_t peer;
	int have_peer;
	char name[96]; /* our address, printable */
	char why[320];
};

/* Set by SIGINT/SIGTERM in the server: it stops, exit status 0. */
static volatile sig_atomic_t fb_stop;

static void on_stop(int sig)
{
	fb_stop = sig;
}

/*
 * Providers that libfabric loads while it opens an endpoint (psm2,
 * infinipath) catch SIGINT, SIGTERM and the crash signals to print a
 * backtrace and exit 1 (under ThreadSanitizer their handler deadlocks).
 * This tool uses none of them: what was there before is put back.
 */
static const int fb_sigs[] = { SIGINT, SIGILL, SIGABRT, SIGBUS, SIGSEGV,
			       SIGTERM };
#define FB_NSIGS (sizeof(fb_sigs) / sizeof(fb_sigs[0]))

static void sigs_save(struct sigaction *sa)
{
	for (size_t i = 0; i < FB_NSIGS; i++)
		sigaction(fb_sigs[i], NULL, &sa[i]);
}

static void sigs_restore(const struct sigaction *sa)
{
	for (size_t i = 0; i < FB_NSIGS; i++)
		sigaction(fb_sigs[i], &sa[i], NULL);
}

static char *rx_slot(struct fb *f, unsigned i)
{
	return f->msg + (size_t)i * FB_SLOT;
}

static char *tx_slot(struct fb *f)
{
	return f->msg + (size_t)FB_NRX * FB_SLOT;
}

static const char *provider_wanted(void)
{
	const char *p = getenv("FI_PROVIDER");

	return p && *p ? p : FB_PROVIDER_DEFAULT;
}

static void fb_say(struct fb *f, const char *what, int err)
{
	snprintf(f->why, sizeof(f->why), "%s: %s", what,
		 fi_strerror(err < 0 ? -err : err));
}

static uint64_t deadline(int ms)
{
	return skiff_now_ns() + (uint64_t)ms * 1000000u;
}

/*
 * Open an RDM endpoint. Server: @node/@svc is where it listens (FI_SOURCE).
 * Client: where the server is; the provider picks our source address on
 * the route to it, so the address we send is one the server can reach.
 */
static int fb_open_(struct fb *f, const char *node, const char *svc,
		    int server)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE, .count = 4 };
	struct fi_cq_attr cq_attr = {
		.format = FI_CQ_FORMAT_MSG,
		/* the client spins, as fi_pingpong does; the server too,
		 * but sleeps when idle */
		.wait_obj = server ? FI_WAIT_UNSPEC : FI_WAIT_NONE,
		.size = 2 * (FB_NRX + SKIFF_FABB_WINDOW_MAX + 1),
	};
	size_t msglen = (size_t)(FB_NRX + 1) * FB_SLOT, nl;
	char raw[FB_ADDR_MAX];
	int r;

	f->peer = FI_ADDR_UNSPEC;
	if (!hints) {
		snprintf(f->why, sizeof(f->why), "fi_allocinfo: out of memory");
		return -ENOMEM;
	}
	/* as scifd (src/daemon/fab.c), plus RMA for the write stream */
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->domain_attr->av_type = FI_AV_TABLE;
	if (!getenv("FI_PROVIDER") || !*getenv("FI_PROVIDER"))
		hints->fabric_attr->prov_name = strdup(FB_PROVIDER_DEFAULT);
	r = fi_getinfo(FI_VERSION(1, 9), node, svc, server ? FI_SOURCE : 0,
		       hints, &f->info);
	fi_freeinfo(hints);
	if (r) {
		f->info = NULL;
		snprintf(f->why, sizeof(f->why),
			 "no libfabric provider (%s) with FI_EP_RDM, FI_MSG "
			 "and FI_RMA for %s%s%s: %s", provider_wanted(),
			 node ? node : "any address", svc ? " port " : "",
			 svc ? svc : "", fi_strerror(-r));
		return -ENODEV;
	}
	r = fi_fabric(f->info->fabric_attr, &f->fabric, NULL);
	if (r) {
		fb_say(f, "fi_fabric", r);
		return -EIO;
	}
	r = fi_domain(f->fabric, f->info, &f->domain, NULL);
	if (r) {
		fb_say(f, "fi_domain", r);
		return -EIO;
	}
	r = fi_av_open(f->domain, &av_attr, &f->av, NULL);
	if (r) {
		fb_say(f, "fi_av_open", r);
		return -EIO;
	}
	r = fi_cq_open(f->domain, &cq_attr, &f->cq, NULL);
	if (r && server) {
		/* a provider without wait objects: the server spins */
		cq_attr.wait_obj = FI_WAIT_NONE;
		r = fi_cq_open(f->domain, &cq_attr, &f->cq, NULL);
	}
	if (r) {
		fb_say(f, "fi_cq_open", r);
		return -EIO;
	}
	f->sleepy = cq_attr.wait_obj != FI_WAIT_NONE;
	r = fi_endpoint(f->domain, f->info, &f->ep, NULL);
	if (r) {
		/* rxm binds its listener here: a server's usual failure */
		snprintf(f->why, sizeof(f->why), "%s%s%s: fi_endpoint: %s%s",
			 node ? node : "any address", svc ? " port " : "",
			 svc ? svc : "", fi_strerror(-r),
			 server ? " (is the address this host's, the port free?)"
				: "");
		return -EIO;
	}
	r = fi_ep_bind(f->ep, &f->av->fid, 0);
	if (!r)
		r = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV);
	if (r) {
		fb_say(f, "fi_ep_bind", r);
		return -EIO;
	}
	r = fi_enable(f->ep);
	if (r) {
		snprintf(f->why, sizeof(f->why), "%s%s%s: fi_enable: %s%s",
			 node ? node : "any address", svc ? " port " : "",
			 svc ? svc : "", fi_strerror(-r),
			 server ? " (is the address this host's, the port free?)"
				: "");
		return -EIO;
	}
	f->msg = mmap(NULL, msglen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->msg == MAP_FAILED) {
		f->msg = NULL;
		snprintf(f->why, sizeof(f->why), "out of memory");
		return -ENOMEM;
	}
	/* key 1 and 2: only used if the provider does not choose keys */
	r = fi_mr_reg(f->domain, f->msg, msglen, FI_SEND | FI_RECV, 0, 1, 0,
		      &f->msg_mr, NULL);
	if (r) {
		fb_say(f, "fi_mr_reg (message buffers)", r);
		return -EIO;
	}
	if (f->info->domain_attr->mr_mode & FI_MR_LOCAL)
		f->msg_desc = fi_mr_desc(f->msg_mr);
	nl = sizeof(raw);
	if (fi_getname(&f->ep->fid, raw, &nl) == 0 && nl <= sizeof(raw)) {
		size_t sl = sizeof(f->name);

		if (!fi_av_straddr(f->av, raw, f->name, &sl))
			snprintf(f->name, sizeof(f->name), "?");
	}
	for (unsigned i = 0; i < FB_NRX; i++) {
		ssize_t pr = fi_recv(f->ep, rx_slot(f, i), FB_SLOT, f->msg_desc,
				     FI_ADDR_UNSPEC, &f->rx_ctx[i]);

		if (pr) {
			fb_say(f, "fi_recv", (int)pr);
			return -EIO;
		}
	}
	return 0;
}

static int fb_open(struct fb *f, const char *node, const char *svc,
		   int server)
{
	struct sigaction sa[FB_NSIGS];
	int r;

	sigs_save(sa);
	r = fb_open_(f, node, svc, server);
	sigs_restore(sa);
	return r;
}

/* The target (server) or source (client) buffer of fi_write. */
static int fb_big(struct fb *f, size_t len, int server)
{
	int r;

	f->big = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->big == MAP_FAILED) {
		f->big = NULL;
		snprintf(f->why, sizeof(f->why), "out of memory (%zu bytes)",
			 len);
		return -ENOMEM;
	}
	f->big_len = len;
	/* the source has a pattern the server's word check can see; the
	 * target starts zeroed (and is touched: no page fault is timed) */
	if (server)
		memset(f->big, 0, len);
	else
		for (size_t i = 0; i < len; i++)
			f->big[i] = (unsigned char)(i * 131 + 7) | 1;
	r = fi_mr_reg(f->domain, f->big, len,
		      server ? FI_REMOTE_WRITE | FI_REMOTE_READ : FI_WRITE, 0,
		      2, 0, &f->big_mr, NULL);
	if (r) {
		fb_say(f, "fi_mr_reg (data buffer)", r);
		return -EIO;
	}
	if (f->info->domain_attr->mr_mode & FI_MR_LOCAL)
		f->big_desc = fi_mr_desc(f->big_mr);
	return 0;
}

static void fb_close(struct fb *f)
{
	if (f->ep)
		fi_close(&f->ep->fid);
	if (f->big_mr)
		fi_close(&f->big_mr->fid);
	if (f->msg_mr)
		fi_close(&f->msg_mr->fid);
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
	if (f->msg)
		munmap(f->msg, (size_t)(FB_NRX + 1) * FB_SLOT);
	if (f->big)
		munmap(f->big, f->big_len);
	memset(f, 0, sizeof(*f));
}

/*
 * Take the completions there are: receives are queued in order, sends and
 * writes counted down. A failed operation fails the caller: a benchmark
 * does not go on after a lost message.
 */
static int fb_progress_ms(struct fb *f, int sleep_ms)
{
	struct fi_cq_msg_entry ent[16];
	ssize_t n = sleep_ms ? fi_cq_sread(f->cq, ent, 16, NULL, sleep_ms)
			     : fi_cq_read(f->cq, ent, 16);

	/* a signal ends a sleep early: the caller looks at fb_stop */
	if (n == -FI_EAGAIN ||
	    (sleep_ms && (n == -FI_ETIMEDOUT || n == -FI_EINTR)))
		return 0;
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry err = { 0 };
		char pb[128];
		const char *ps;

		if (fi_cq_readerr(f->cq, &err, 0) < 1) {
			snprintf(f->why, sizeof(f->why), "fi_cq_readerr failed");
			return -EIO;
		}
		ps = fi_cq_strerror(f->cq, err.prov_errno, err.err_data, pb,
				    sizeof(pb));
		snprintf(f->why, sizeof(f->why), "%s failed: %s%s%s",
			 err.op_context == &f->tx_ctx ? "fi_send" :
			 !err.op_context ? "fi_inject" :
			 (char *)err.op_context >= (char *)f->wr_ctx &&
			 (char *)err.op_context < (char *)(f->wr_ctx +
				SKIFF_FABB_WINDOW_MAX) ? "fi_write" : "fi_recv",
			 fi_strerror(err.err), ps ? "; provider: " : "",
			 ps ? ps : "");
		return err.err > 0 ? -err.err : -EIO;
	}
	if (n < 0) {
		fb_say(f, "fi_cq_read", (int)n);
		return -EIO;
	}
	for (ssize_t k = 0; k < n; k++) {
		void *ctx = ent[k].op_context;

		if ((char *)ctx >= (char *)f->rx_ctx &&
		    (char *)ctx < (char *)(f->rx_ctx + FB_NRX)) {
			unsigned i = (unsigned)((struct fi_context *)ctx -
						f->rx_ctx);

			f->rx_len[i] = ent[k].len;
			f->rxq[(f->rxq_head + f->rxq_n) % FB_NRX] = i;
			f->rxq_n++;
		} else if (f->tx_pending) {
			f->tx_pending--;
		}
	}
	return 0;
}

static int fb_progress(struct fb *f)
{
	return fb_progress_ms(f, 0);
}

/* Receive slot @i back to the provider. */
static int fb_repost(struct fb *f, unsigned i)
{
	ssize_t r = fi_recv(f->ep, rx_slot(f, i), FB_SLOT, f->msg_desc,
			    FI_ADDR_UNSPEC, &f->rx_ctx[i]);

	if (r) {
		fb_say(f, "fi_recv", (int)r);
		return -EIO;
	}
	return 0;
}

/* Wait for the next message: its slot (to repost when done) and length.
 * -ETIMEDOUT after @dl (CLOCK_MONOTONIC ns; 0: forever). */
static int fb_wait_rx(struct fb *f, uint64_t dl, unsigned *slot, size_t *len)
{
	uint64_t t0 = 0, now;
	int nap = 0;

	for (unsigned spins = 0; !f->rxq_n; spins++) {
		int r = fb_progress_ms(f, nap);

		if (r < 0)
			return r;
		if (!nap && (spins & 1023)) /* a clock read per 1024 spins */
			continue;
		if (fb_stop) {
			snprintf(f->why, sizeof(f->why), "stopped by signal %d",
				 (int)fb_stop);
			return -EINTR;
		}
		now = skiff_now_ns();
		if (!t0)
			t0 = now;
		if (dl && now > dl) {
			snprintf(f->why, sizeof(f->why), "no message from the "
				 "peer in time");
			return -ETIMEDOUT;
		}
		if (f->sleepy && now - t0 > FB_SPIN_NS)
			nap = FB_SLEEP_MS;
	}
	*slot = f->rxq[f->rxq_head];
	*len = f->rx_len[*slot];
	f->rxq_head = (f->rxq_head + 1) % FB_NRX;
	f->rxq_n--;
	return 0;
}

/* Wait until every send and write has completed. */
static int fb_wait_tx(struct fb *f, uint64_t dl)
{
	for (unsigned spins = 0; f->tx_pending; spins++) {
		int r = fb_progress(f);

		if (r < 0)
			return r;
		if (!(spins & 1023) && skiff_now_ns() > dl) {
			snprintf(f->why, sizeof(f->why), "%u operation(s) not "
				 "completed in time", f->tx_pending);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Post the send slot's first @len bytes to the peer; the provider may
 * refuse for now (-FI_EAGAIN) until its progress, driven by our reads of
 * the queue, frees room. */
static int fb_post_send(struct fb *f, size_t len, uint64_t dl, int inject)
{
	/* a ping goes with fi_inject where the provider takes it, as
	 * fi_pingpong sends small messages: no completion to reap */
	inject = inject && len <= f->info->tx_attr->inject_size;
	for (unsigned spins = 0;; spins++) {
		ssize_t r = inject ? fi_inject(f->ep, tx_slot(f), len, f->peer)
				   : fi_send(f->ep, tx_slot(f), len, f->msg_desc,
					     f->peer, &f->tx_ctx);

		if (r == 0) {
			f->tx_pending += !inject;
			return 0;
		}
		if (r != -FI_EAGAIN) {
			fb_say(f, inject ? "fi_inject" : "fi_send", (int)r);
			return -EIO;
		}
		r = fb_progress(f);
		if (r < 0)
			return (int)r;
		if (!(spins & 1023) && skiff_now_ns() > dl) {
			snprintf(f->why, sizeof(f->why), "fi_send: the "
				 "provider took no message in time");
			return -ETIMEDOUT;
		}
	}
}

/* A control message: send it and wait for it to complete (the send slot
 * is reused by the next one). */
static int fb_send_ctl(struct fb *f, const void *m, size_t len, uint64_t dl)
{
	int r = fb_wait_tx(f, dl);

	if (r < 0)
		return r;
	memcpy(tx_slot(f), m, len);
	r = fb_post_send(f, len, dl, 0);
	return r < 0 ? r : fb_wait_tx(f, dl);
}

/* Is the message in slot @i, of @len bytes, a well-formed control message
 * of @type and exactly @size bytes? */
static int is_ctl(struct fb *f, unsigned i, size_t len, unsigned type,
		  size_t size)
{
	struct fb_hdr h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, rx_slot(f, i), sizeof(h));
	return h.magic == FB_MAGIC && h.type == type && h.len == len &&
	       len == size;
}

static void fb_hdr_set(struct fb_hdr *h, unsigned type, size_t len)
{
	h->magic = FB_MAGIC;
	h->type = (uint16_t)type;
	h->len = (uint16_t)len;
}

/* Split "ADDR", "ADDR:PORT", "[V6]:PORT", "[V6]" or a bare IPv6 address
 * into @node and @svc (default port if none). 0 or -EINVAL. */
static int split_peer(const char *s, char *node, size_t nn, char *svc,
		      size_t sn)
{
	const char *colon, *end = NULL;
	unsigned long long port = SKIFF_FABB_PORT;
	size_t len;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || end == s + 1)
			return -EINVAL;
		len = (size_t)(end - s - 1);
		s++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1])
			return -EINVAL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		len = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (!len || len >= nn)
		return -EINVAL;
	memcpy(node, s, len);
	node[len] = 0;
	if (colon && skiff_parse_ull(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	snprintf(svc, sn, "%llu", port);
	return 0;
}

/* ---- the client ---- */

struct skiff_fabc {
	struct fb f;
	char peer[80];
	uint64_t key, raddr, rlen;
	uint64_t seq; /* pings */
	uint32_t syncs;
};

int skiff_fabc_open(struct skiff_fabc **out, const char *peer, uint64_t max,
		    int timeout_ms, char *why, size_t whylen)
{
	struct skiff_fabc *c = calloc(1, sizeof(*c));
	char node[64], svc[8];
	struct fb_hello hello;
	struct fb_ack ack;
	size_t nl = FB_ADDR_MAX, len;
	unsigned slot;
	uint64_t dl = deadline(timeout_ms);
	int r;

	if (!c) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	if (split_peer(peer, node, sizeof(node), svc, sizeof(svc)) < 0) {
		snprintf(why, whylen, "bad peer '%s' (ADDR, ADDR:PORT or "
			 "[IPV6]:PORT)", peer);
		free(c);
		return -EINVAL;
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%s", node, svc);
	r = fb_open(&c->f, node, svc, 0);
	if (!r && max)
		r = fb_big(&c->f, max, 0);
	if (r)
		goto fail;
	if (!c->f.info->dest_addr ||
	    fi_av_insert(c->f.av, c->f.info->dest_addr, 1, &c->f.peer, 0,
			 NULL) != 1) {
		snprintf(c->f.why, sizeof(c->f.why), "fi_av_insert of %s "
			 "failed", c->peer);
		r = -EHOSTUNREACH;
		goto fail;
	}
	memset(&hello, 0, sizeof(hello));
	fb_hdr_set(&hello.h, FB_HELLO, sizeof(hello));
	if (fi_getname(&c->f.ep->fid, hello.addr, &nl) != 0 || !nl ||
	    nl > FB_ADDR_MAX) {
		snprintf(c->f.why, sizeof(c->f.why), "fi_getname: no address "
			 "of ours to send (%zu bytes)", nl);
		r = -EIO;
		goto fail;
	}
	hello.addrlen = (uint32_t)nl;
	hello.want = max;
	r = fb_send_ctl(&c->f, &hello, sizeof(hello), dl);
	if (!r)
		r = fb_wait_rx(&c->f, dl, &slot, &len);
	/* a refused connection is retried by the provider, which keeps
	 * saying -FI_EAGAIN: either way, the deadline passes */
	if (r == -ETIMEDOUT)
		snprintf(c->f.why, sizeof(c->f.why), "no answer within %d ms: "
			 "is 'scif bench fabric serve' running there?",
			 timeout_ms);
	if (r)
		goto fail;
	if (!is_ctl(&c->f, slot, len, FB_ACK, sizeof(ack))) {
		snprintf(c->f.why, sizeof(c->f.why), "the answer (%zu bytes) is "
			 "not a 'scif bench fabric serve' welcome", len);
		r = -EPROTO;
		goto fail;
	}
	memcpy(&ack, rx_slot(&c->f, slot), sizeof(ack));
	if (fb_repost(&c->f, slot)) {
		r = -EIO;
		goto fail;
	}
	if (ack.status) {
		snprintf(c->f.why, sizeof(c->f.why), "the server refused: %s%s",
			 ack.status > 0 && ack.status < 4096 ?
			 strerror(ack.status) : "(bad status)",
			 ack.status == EMSGSIZE ? " (its --max is smaller than "
			 "the largest size asked)" : ack.status == EBUSY ?
			 " (it serves another client)" : "");
		r = -EPROTO;
		goto fail;
	}
	if (max) {
		size_t ks = c->f.info->domain_attr->mr_key_size;

		/* the key must fit the provider's keys; the buffer must hold
		 * the largest write and not wrap the address space */
		if (ack.key_size != ks || ks > 8 || ks == 0 ||
		    (ks < 8 && ack.key >> (8 * ks)) || ack.len < max ||
		    ack.addr + ack.len < ack.addr) {
			snprintf(c->f.why, sizeof(c->f.why), "the server's "
				 "buffer is not usable: key %#llx (%u bytes, "
				 "ours %zu), %llu bytes at %#llx, %llu needed",
				 (unsigned long long)ack.key, ack.key_size, ks,
				 (unsigned long long)ack.len,
				 (unsigned long long)ack.addr,
				 (unsigned long long)max);
			r = -EPROTO;
			goto fail;
		}
		c->key = ack.key;
		c->raddr = ack.addr;
		c->rlen = ack.len;
	}
	*out = c;
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", c->peer, c->f.why);
	fb_close(&c->f);
	free(c);
	return r < 0 ? r : -EIO;
}

const char *skiff_fabc_provider(const struct skiff_fabc *c)
{
	return c->f.info->fabric_attr->prov_name;
}

const char *skiff_fabc_peer(const struct skiff_fabc *c)
{
	return c->peer;
}

const char *skiff_fabc_error(const struct skiff_fabc *c)
{
	return c->f.why;
}

int skiff_fabc_pingpong(struct skiff_fabc *c, unsigned long long n,
			double *out, unsigned long long *bad)
{
	struct skiff_laps l = { .out = out, .batch = 1 };
	struct fb *f = &c->f;

	for (unsigned long long i = 0; i < n; i++) {
		uint64_t v = ++c->seq, got, dl;
		unsigned slot;
		size_t len;
		int r;

		memcpy(tx_slot(f), &v, FB_PING);
		r = fb_post_send(f, FB_PING, deadline(FB_RTT_DEADLINE_MS), 1);
		if (r)
			return r;
		skiff_lap(&l, i);
		/* the echo, then our send's completion (its buffer is the
		 * next ping's); the clock is read at most every 1024 spins */
		dl = deadline(FB_RTT_DEADLINE_MS);
		r = fb_wait_rx(f, dl, &slot, &len);
		if (!r)
			r = fb_wait_tx(f, dl);
		if (r)
			return r;
		if (len != FB_PING) {
			snprintf(f->why, sizeof(f->why), "the echo is %zu bytes, "
				 "not %d", len, FB_PING);
			return -EPROTO;
		}
		memcpy(&got, rx_slot(f, slot), FB_PING);
		*bad += got != v;
		if (fb_repost(f, slot))
			return -EIO;
	}
	skiff_lap_end(&l, n);
	return 0;
}

int skiff_fabc_write(struct skiff_fabc *c, uint64_t size, uint64_t iters,
		     unsigned window, double *gbps)
{
	struct fb *f = &c->f;
	struct fb_sync s;
	size_t maxmsg = f->info->ep_attr->max_msg_size, txs;
	uint64_t t0, done = 0, want;
	unsigned slot;
	size_t len;
	int r;

	if (size < 8 || size > c->rlen || size > f->big_len ||
	    (maxmsg && size > maxmsg)) {
		snprintf(f->why, sizeof(f->why), "write of %llu bytes: the "
			 "buffers hold %llu (provider max_msg_size %zu)",
			 (unsigned long long)size,
			 (unsigned long long)(c->rlen < f->big_len ? c->rlen :
					      f->big_len), maxmsg);
		return -EINVAL;
	}
	txs = f->info->tx_attr->size;
	if (window < 1)
		window = 1;
	if (window > SKIFF_FABB_WINDOW_MAX)
		window = SKIFF_FABB_WINDOW_MAX;
	if (txs && window > txs)
		window = (unsigned)txs;
	t0 = skiff_now_ns();
	while (done < iters) {
		uint64_t w = iters - done < window ? iters - done : window;
		uint64_t dl = deadline(FB_WINDOW_DEADLINE_MS);

		for (uint64_t k = 0; k < w; k++) {
			for (unsigned spins = 0;; spins++) {
				ssize_t pr = fi_write(f->ep, f->big, size,
						      f->big_desc, f->peer,
						      c->raddr, c->key,
						      &f->wr_ctx[k]);

				if (pr == 0)
					break;
				if (pr != -FI_EAGAIN) {
					fb_say(f, "fi_write", (int)pr);
					return -EIO;
				}
				r = fb_progress(f);
				if (r)
					return r;
				if (!(spins & 1023) && skiff_now_ns() > dl) {
					snprintf(f->why, sizeof(f->why),
						 "fi_write: the provider took "
						 "no write in time");
					return -ETIMEDOUT;
				}
			}
			f->tx_pending++;
		}
		r = fb_wait_tx(f, dl);
		if (r)
			return r;
		done += w;
	}
	/* a message after the writes, on the same connection, reaches the
	 * server after their data; its answer carries the buffer's last
	 * word of this size, which must be ours */
	memset(&s, 0, sizeof(s));
	fb_hdr_set(&s.h, FB_SYNC, sizeof(s));
	s.seq = ++c->syncs;
	s.off = size - 8;
	r = fb_send_ctl(f, &s, sizeof(s), deadline(FB_RTT_DEADLINE_MS));
	if (!r)
		r = fb_wait_rx(f, deadline(FB_RTT_DEADLINE_MS), &slot, &len);
	if (r)
		return r;
	if (!is_ctl(f, slot, len, FB_SYNC_ACK, sizeof(s))) {
		snprintf(f->why, sizeof(f->why), "no SYNC answer (%zu bytes)",
			 len);
		return -EPROTO;
	}
	memcpy(&s, rx_slot(f, slot), sizeof(s));
	if (fb_repost(f, slot))
		return -EIO;
	memcpy(&want, f->big + size - 8, 8);
	if (s.seq != c->syncs || s.off != size - 8 || s.word != want) {
		snprintf(f->why, sizeof(f->why), "the server's buffer does not "
			 "hold what was written (sync %u/%u, word %#llx, "
			 "written %#llx)", s.seq, c->syncs,
			 (unsigned long long)s.word, (unsigned long long)want);
		return -EIO;
	}
	t0 = skiff_now_ns() - t0;
	*gbps = t0 ? (double)size * (double)iters / (double)t0 : 0;
	return 0;
}

void skiff_fabc_close(struct skiff_fabc *c)
{
	struct fb_hdr bye;
	uint64_t dl = deadline(FB_BYE_DEADLINE_MS);
	unsigned slot;
	size_t len;

	if (!c)
		return;
	/* the server then takes the next client at once; if it does not
	 * answer, it finds out by its idle timeout */
	fb_hdr_set(&bye, FB_BYE, sizeof(bye));
	if (c->f.peer != FI_ADDR_UNSPEC &&
	    fb_send_ctl(&c->f, &bye, sizeof(bye), dl) == 0)
		while (fb_wait_rx(&c->f, dl, &slot, &len) == 0 &&
		       !is_ctl(&c->f, slot, len, FB_BYE_ACK, sizeof(bye)))
			if (fb_repost(&c->f, slot))
				break;
	fb_close(&c->f);
	free(c);
}

/* ---- the server ---- */

struct serve_opts {
	const char *addr;
	char port[8];
	uint64_t max;
	unsigned long long clients;
	unsigned long long timeout_s, idle_s;
};

/* A printable form of a peer's address. */
static const char *addr_str(struct fb *f, const void *a, char *buf, size_t n)
{
	size_t l = n;

	if (!fi_av_straddr(f->av, a, buf, &l))
		snprintf(buf, n, "?");
	return buf;
}

/* Does @a of @len bytes look like an address of this endpoint's format?
 * The provider checks it again when it is inserted. */
static int addr_ok(const struct fb *f, const uint8_t *a, size_t len)
{
	sa_family_t fam;

	if (!len || len > FB_ADDR_MAX)
		return 0;
	switch (f->info->addr_format) {
	case FI_SOCKADDR_IN:
	case FI_SOCKADDR_IN6:
	case FI_SOCKADDR:
		if (len < sizeof(fam))
			return 0;
		memcpy(&fam, a, sizeof(fam));
		return (fam == AF_INET && len == sizeof(struct sockaddr_in)) ||
		       (fam == AF_INET6 && len == sizeof(struct sockaddr_in6));
	default:
		return 1;
	}
}

/* Answer a HELLO in slot @i: insert its address, reply ACK with @status
 * (0: the client is now ours). Returns 1 if it became the client, 0 if it
 * was answered or ignored, -errno if the endpoint failed. */
static int serve_hello(struct fb *f, unsigned i, int busy)
{
	struct fb_hello h;
	struct fb_ack a;
	fi_addr_t fa;
	char buf[96];
	int status = 0, r;

	memcpy(&h, rx_slot(f, i), sizeof(h));
	if (fb_repost(f, i))
		return -EIO;
	if (!addr_ok(f, h.addr, h.addrlen)) {
		fprintf(stderr, "scif bench fabric: ignored a HELLO with an "
			"address of %u bytes\n", h.addrlen);
		return 0;
	}
	if (fi_av_insert(f->av, h.addr, 1, &fa, 0, NULL) != 1) {
		fprintf(stderr, "scif bench fabric: ignored a HELLO: its "
			"address does not go into the address vector\n");
		return 0;
	}
	addr_str(f, h.addr, buf, sizeof(buf));
	if (busy)
		status = EBUSY;
	else if (h.want > f->big_len)
		status = EMSGSIZE;
	memset(&a, 0, sizeof(a));
	fb_hdr_set(&a.h, FB_ACK, sizeof(a));
	a.status = status;
	a.key_size = (uint32_t)f->info->domain_attr->mr_key_size;
	a.key = fi_mr_key(f->big_mr);
	a.addr = f->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR ?
		 (uint64_t)(uintptr_t)f->big : 0;
	a.len = f->big_len;
	{
		fi_addr_t keep = f->peer;

		f->peer = fa;
		r = fb_send_ctl(f, &a, sizeof(a), deadline(FB_RTT_DEADLINE_MS));
		if (status || r)
			f->peer = keep;
	}
	if (r) {
		fprintf(stderr, "scif bench fabric: %s: no answer sent: %s\n",
			buf, f->why);
		fi_av_remove(f->av, &fa, 1, 0);
		return r == -ETIMEDOUT || r == -EIO ? 0 : r;
	}
	if (status) {
		printf("client %s refused: %s (asked %llu bytes)\n", buf,
		       strerror(status), (unsigned long long)h.want);
		fflush(stdout);
		fi_av_remove(f->av, &fa, 1, 0);
		return 0;
	}
	printf("client %s: connected\n", buf);
	fflush(stdout);
	return 1;
}

/* One client, from its HELLO to its BYE (0), or until it goes quiet for
 * the idle time or the endpoint fails (-errno). */
static int serve_client(struct fb *f, const struct serve_opts *o)
{
	unsigned long long pings = 0, syncs = 0;
	int ended = 0, r = 0;

	while (!ended) {
		unsigned slot;
		size_t len;
		struct fb_sync s;

		r = fb_wait_rx(f, deadline((int)o->idle_s * 1000), &slot, &len);
		if (r == -ETIMEDOUT) {
			snprintf(f->why, sizeof(f->why), "the client sent "
				 "nothing for %llu s", o->idle_s);
			break;
		}
		if (r)
			break;
		if (len == FB_PING) {
			/* the echo: straight back, as fi_pingpong's server */
			r = fb_wait_tx(f, deadline(FB_RTT_DEADLINE_MS));
			if (r)
				break;
			memcpy(tx_slot(f), rx_slot(f, slot), FB_PING);
			if (fb_repost(f, slot)) {
				r = -EIO;
				break;
			}
			r = fb_post_send(f, FB_PING,
					 deadline(FB_RTT_DEADLINE_MS), 1);
			if (r)
				break;
			pings++;
		} else if (is_ctl(f, slot, len, FB_SYNC, sizeof(s))) {
			memcpy(&s, rx_slot(f, slot), sizeof(s));
			if (fb_repost(f, slot)) {
				r = -EIO;
				break;
			}
			fb_hdr_set(&s.h, FB_SYNC_ACK, sizeof(s));
			s.word = 0;
			/* the offset is the client's: checked */
			if (f->big_len >= 8 && s.off <= f->big_len - 8)
				memcpy(&s.word, f->big + s.off, 8);
			else
				s.off = UINT64_MAX;
			r = fb_send_ctl(f, &s, sizeof(s),
					deadline(FB_RTT_DEADLINE_MS));
			if (r)
				break;
			syncs++;
		} else if (is_ctl(f, slot, len, FB_BYE, sizeof(struct fb_hdr))) {
			struct fb_hdr h;

			if (fb_repost(f, slot)) {
				r = -EIO;
				break;
			}
			fb_hdr_set(&h, FB_BYE_ACK, sizeof(h));
			r = fb_send_ctl(f, &h, sizeof(h),
					deadline(FB_RTT_DEADLINE_MS));
			ended = 1;
		} else if (is_ctl(f, slot, len, FB_HELLO,
				  sizeof(struct fb_hello))) {
			r = serve_hello(f, slot, 1);
			if (r < 0)
				break;
			r = 0;
		} else {
			snprintf(f->why, sizeof(f->why), "a message of %zu "
				 "bytes that is no request", len);
			fb_repost(f, slot);
			r = -EPROTO;
			break;
		}
	}
	printf("client done: %llu round trips, %llu write syncs%s%s\n", pings,
	       syncs, r ? "; ended: " : "", r ? f->why : "");
	fflush(stdout);
	fb_wait_tx(f, deadline(FB_RTT_DEADLINE_MS));
	fi_av_remove(f->av, &f->peer, 1, 0);
	f->peer = FI_ADDR_UNSPEC;
	return r;
}

static const char *const serve_usage =
	"usage: scif bench fabric serve [--addr ADDR] [--port PORT] [--max SIZE]\n"
	"                               [--clients N] [--timeout SEC] [--idle SEC]\n"
	"\n"
	"Serve 'scif bench fabric lat|write' clients, one at a time: echo their\n"
	"8-byte messages, let them fi_write into a registered buffer. Prints a\n"
	"line 'serving on ...' once ready.\n"
	"\n"
	"  --addr ADDR     address to listen on (default: any)\n"
	"  --port PORT     port (default 7355; 0: any free one, shown once ready)\n"
	"  --max SIZE      registered target buffer (K/M/G; default 64M)\n"
	"  --clients N     serve N clients, then exit; 0: until stopped (default 1)\n"
	"  --timeout SEC   give up waiting for the next client after SEC s\n"
	"                  (default 120; 0: wait forever)\n"
	"  --idle SEC      drop a client that sends nothing for SEC s (default 30)\n"
	"\n"
	"The provider is FI_PROVIDER, or tcp;ofi_rxm as for scifd. SIGINT or\n"
	"SIGTERM stops it (exit 0).\n";

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "max", required_argument, NULL, 'm' },
		{ "clients", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "idle", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct serve_opts o = { .max = 64 * MiB, .clients = 1,
				.timeout_s = 120, .idle_s = 30 };
	unsigned long long port = SKIFF_FABB_PORT, served = 0;
	struct fb f = { 0 };
	char sz[32];
	int c, r, failed = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.addr = optarg;
			break;
		case 'p':
			/* 0: any free port, shown in the "serving on" line */
			if (skiff_parse_ull(optarg, 0, 65535, &port) < 0)
				goto bad;
			break;
		case 'm':
			if (skiff_parse_size(optarg, &o.max) < 0 || o.max < 8 ||
			    o.max > (1ull << 34))
				goto bad;
			break;
		case 'c':
			if (skiff_parse_ull(optarg, 0, 1000000, &o.clients) < 0)
				goto bad;
			break;
		case 'T':
			if (skiff_parse_ull(optarg, 0, 86400, &o.timeout_s) < 0)
				goto bad;
			break;
		case 'i':
			if (skiff_parse_ull(optarg, 1, 86400, &o.idle_s) < 0)
				goto bad;
			break;
		case 'h':
			fputs(serve_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(serve_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fputs(serve_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	snprintf(o.port, sizeof(o.port), "%llu", port);
	r = fb_open(&f, o.addr, o.port, 1);
	if (!r)
		r = fb_big(&f, o.max, 1);
	if (r) {
		skiff_err("bench fabric serve: %s", f.why);
		fb_close(&f);
		return SKIFF_EXIT_FAIL;
	}
	{
		/* no SA_RESTART: a signal also ends a sleep in the queue */
		struct sigaction sa = { .sa_handler = on_stop };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	printf("scif bench fabric: serving on %s (provider %s), target buffer "
	       "of %s registered\n", f.name, f.info->fabric_attr->prov_name,
	       skiff_size_str(o.max, sz));
	fflush(stdout);
	while ((!o.clients || served < o.clients) && !fb_stop) {
		unsigned slot;
		size_t len;

		r = fb_wait_rx(&f, o.timeout_s ?
			       deadline((int)o.timeout_s * 1000) : 0,
			       &slot, &len);
		if (r == -ETIMEDOUT) {
			skiff_err("bench fabric serve: no client within %llu s",
				  o.timeout_s);
			failed = 1;
			break;
		}
		if (r == -EINTR)
			break; /* stopped: said below */
		if (r) {
			skiff_err("bench fabric serve: %s", f.why);
			failed = 1;
			break;
		}
		if (!is_ctl(&f, slot, len, FB_HELLO, sizeof(struct fb_hello))) {
			/* a late message of a client that is gone */
			if (fb_repost(&f, slot)) {
				failed = 1;
				break;
			}
			continue;
		}
		r = serve_hello(&f, slot, 0);
		if (r < 0) {
			skiff_err("bench fabric serve: %s", f.why);
			failed = 1;
			break;
		}
		if (r == 0)
			continue;
		served++;
		/* a client that misbehaves or vanishes does not stop the
		 * server; the exit status says how the last one ended */
		failed = serve_client(&f, &o) < 0;
	}
	if (fb_stop) {
		printf("scif bench fabric: stopped by signal %d\n", (int)fb_stop);
		failed = 0; /* asked to stop: not a failure */
	}
	fb_close(&f);
	return failed ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
bad:
	skiff_err("bench fabric serve: bad value '%s' for --%s", optarg,
		  c == 'p' ? "port" : c == 'm' ? "max" : c == 'c' ? "clients" :
		  c == 'T' ? "timeout" : "idle");
	return SKIFF_EXIT_USAGE;
}

/* ---- lat and write, the client commands ---- */

static const char *const lat_usage =
	"usage: scif bench fabric lat --peer ADDR[:PORT] [-n ITERS] [--timeout SEC]\n"
	"                             [--json]\n"
	"\n"
	"8-byte fi_send/fi_recv round trips with a 'scif bench fabric serve'\n"
	"(fi_inject where the provider allows, spinning on fi_cq_read, as\n"
	"fi_pingpong). Prints median, p99, min, max.\n"
	"\n"
	"  --peer ADDR[:PORT]  the server (port 7355 by default; [V6]:PORT)\n"
	"  -n, --iters N       measured round trips (default 20000), after a\n"
	"                      tenth as many (at most 1000) unmeasured\n"
	"  --timeout SEC       wait this long for the server (default 10)\n"
	"  --json              print a JSON object instead of the table\n";

static const char *const write_usage =
	"usage: scif bench fabric write --peer ADDR[:PORT] [-m MAX] [--min MIN]\n"
	"                               [-s SIZES] [-r ROUNDS] [-t MS] [-w WINDOW]\n"
	"                               [--timeout SEC] [--json]\n"
	"\n"
	"Throughput of fi_write into a 'scif bench fabric serve's registered\n"
	"buffer: WINDOW writes in flight, then a wait for their completions,\n"
	"repeated; each measurement ends with a message round trip that checks\n"
	"the data arrived. GB/s = 1e9 bytes/s, median of the rounds.\n"
	"\n"
	"  --peer ADDR[:PORT]  the server (port 7355 by default; [V6]:PORT)\n"
	"  -m, --max SIZE      largest size (default 64M)\n"
	"      --min SIZE      smallest size (default 64K); x4 steps between\n"
	"  -s, --sizes LIST    comma-separated sizes instead\n"
	"  -r, --rounds R      rounds (default 5)\n"
	"  -t, --time MS       target milliseconds per measurement (default 100)\n"
	"  -w, --window W      writes in flight (default 16, at most 256)\n"
	"  --timeout SEC       wait this long for the server (default 10)\n"
	"  --json              print a JSON object instead of the table\n";

static int cmd_lat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "peer", required_argument, NULL, 'P' },
		{ "iters", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long long iters = 20000, timeout = 10, warm, bad = 0;
	const char *peer = NULL;
	struct skiff_fabc *fc = NULL;
	struct skiff_stats st;
	char why[512];
	double *s;
	int c, json = 0, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			peer = optarg;
			break;
		case 'n':
			if (skiff_parse_ull(optarg, 1, 100000000, &iters) < 0)
				goto bad;
			break;
		case 'T':
			if (skiff_parse_ull(optarg, 1, 3600, &timeout) < 0)
				goto bad;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(lat_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(lat_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc || !peer) {
		if (!peer)
			skiff_err("bench fabric lat: --peer ADDR[:PORT] is needed");
		fputs(lat_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	warm = iters / 10 < 1000 ? iters / 10 : 1000;
	s = skiff_xrealloc(NULL, iters * sizeof(double));
	r = skiff_fabc_open(&fc, peer, 0, (int)timeout * 1000, why, sizeof(why));
	if (r) {
		skiff_err("bench fabric lat: %s", why);
		free(s);
		return SKIFF_EXIT_FAIL;
	}
	r = skiff_fabc_pingpong(fc, warm, NULL, &bad);
	if (!r)
		r = skiff_fabc_pingpong(fc, iters, s, &bad);
	if (r) {
		skiff_err("bench fabric lat: %s: %s", skiff_fabc_peer(fc),
			  skiff_fabc_error(fc));
		skiff_fabc_close(fc);
		free(s);
		return SKIFF_EXIT_FAIL;
	}
	skiff_stats_compute(s, iters, &st);
	if (json) {
		printf("{\"bench\":\"fabric_lat\",\"peer\":");
		skiff_json_string(stdout, skiff_fabc_peer(fc));
		printf(",\"provider\":");
		skiff_json_string(stdout, skiff_fabc_provider(fc));
		printf(",\"msg_bytes\":8,\"iterations\":%llu,\"warmup\":%llu,"
		       "\"samples\":%zu,\"median_ns\":%.1f,\"p99_ns\":%.1f,"
		       "\"min_ns\":%.1f,\"max_ns\":%.1f,\"mean_ns\":%.1f,"
		       "\"echo_mismatches\":%llu}\n", iters, warm, st.n,
		       st.median, st.p99, st.min, st.max, st.mean, bad);
	} else {
		printf("scif bench fabric lat: 8-byte fi_send/fi_recv round "
		       "trip with %s, provider %s, %llu round trips (+%llu "
		       "warm-up)\n\n", skiff_fabc_peer(fc),
		       skiff_fabc_provider(fc), iters, warm);
		printf("median %.2f us, p99 %.2f us, min %.2f us, max %.2f us\n",
		       st.median / 1e3, st.p99 / 1e3, st.min / 1e3,
		       st.max / 1e3);
		if (bad)
			printf("echo mismatches: %llu\n", bad);
	}
	skiff_fabc_close(fc);
	free(s);
	return bad ? SKIFF_EXIT_FAIL : SKIFF_EXIT_OK;
bad:
	skiff_err("bench fabric lat: bad value '%s' for --%s", optarg,
		  c == 'n' ? "iters" : "timeout");
	return SKIFF_EXIT_USAGE;
}

#define MAX_SIZES 32
#define MAX_ROUNDS 101

static int cmd_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "peer", required_argument, NULL, 'P' },
		{ "max", required_argument, NULL, 'm' },
		{ "min", required_argument, NULL, 'M' },
		{ "sizes", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t max = 64 * MiB, min = 64 * KiB, sizes[MAX_SIZES];
	unsigned long long timeout = 10, rounds = 5, ms = 100;
	unsigned long long window = SKIFF_FABB_WINDOW;
	unsigned nsizes = 0;
	const char *peer = NULL, *list = NULL;
	struct skiff_fabc *fc = NULL;
	double med[MAX_SIZES], lo[MAX_SIZES], hi[MAX_SIZES];
	uint64_t iters[MAX_SIZES];
	char why[512], sz[32];
	int c, json = 0, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:s:r:t:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			peer = optarg;
			break;
		case 'm':
			if (skiff_parse_size(optarg, &max) < 0 || max < 8)
				goto bad;
			break;
		case 'M':
			if (skiff_parse_size(optarg, &min) < 0 || min < 8)
				goto bad;
			break;
		case 's':
			list = optarg;
			break;
		case 'r':
			if (skiff_parse_ull(optarg, 1, MAX_ROUNDS, &rounds) < 0)
				goto bad;
			break;
		case 't':
			if (skiff_parse_ull(optarg, 1, 10000, &ms) < 0)
				goto bad;
			break;
		case 'w':
			if (skiff_parse_ull(optarg, 1, SKIFF_FABB_WINDOW_MAX,
					    &window) < 0)
				goto bad;
			break;
		case 'T':
			if (skiff_parse_ull(optarg, 1, 3600, &timeout) < 0)
				goto bad;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(write_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(write_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc || !peer) {
		if (!peer)
			skiff_err("bench fabric write: --peer ADDR[:PORT] is "
				  "needed");
		fputs(write_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (list) {
		if (skiff_parse_sizes(list, sizes, MAX_SIZES, &nsizes) < 0) {
			skiff_err("bench fabric write: bad --sizes '%s'", list);
			return SKIFF_EXIT_USAGE;
		}
		for (unsigned i = 0; i < nsizes; i++)
			if (sizes[i] < 8) {
				skiff_err("bench fabric write: sizes start at 8");
				return SKIFF_EXIT_USAGE;
			}
		max = sizes[nsizes - 1];
	} else {
		for (uint64_t s = min; s <= max && nsizes < MAX_SIZES; s *= 4)
			sizes[nsizes++] = s;
		if (!nsizes) {
			skiff_err("bench fabric write: --min is above --max");
			return SKIFF_EXIT_USAGE;
		}
	}
	r = skiff_fabc_open(&fc, peer, max, (int)timeout * 1000, why,
			    sizeof(why));
	if (r) {
		skiff_err("bench fabric write: %s", why);
		return SKIFF_EXIT_FAIL;
	}
	if (!json) {
		printf("scif bench fabric write: fi_write to %s, provider %s, "
		       "%llu in flight per window, median GB/s of %llu rounds "
		       "of ~%llu ms\n\n", skiff_fabc_peer(fc),
		       skiff_fabc_provider(fc), window, rounds, ms);
		fflush(stdout);
	}
	for (unsigned si = 0; si < nsizes; si++) {
		double rr[MAX_ROUNDS], g;
		uint64_t t0, dt;

		if (!json)
			skiff_progress("bench fabric write", si, nsizes,
				       skiff_size_str(sizes[si], sz));
		/* warm up, then size the measurement as bench bw does */
		r = skiff_fabc_write(fc, sizes[si], 1, (unsigned)window, &g);
		t0 = skiff_now_ns();
		if (!r)
			r = skiff_fabc_write(fc, sizes[si], 2, (unsigned)window,
					     &g);
		if (r)
			goto failed;
		dt = (skiff_now_ns() - t0) / 2 + 1;
		iters[si] = ms * 1000000 / dt;
		if (iters[si] < 1)
			iters[si] = 1;
		/* two writes say little (one late packet; the closing round
		 * trip): one more pass at the estimated count corrects it */
		if (iters[si] > 2) {
			t0 = skiff_now_ns();
			r = skiff_fabc_write(fc, sizes[si], iters[si],
					     (unsigned)window, &g);
			if (r)
				goto failed;
			dt = skiff_now_ns() - t0 + 1;
			iters[si] = iters[si] * ms * 1000000 / dt;
			if (iters[si] < 1)
				iters[si] = 1;
		}
		for (unsigned k = 0; k < rounds; k++) {
			r = skiff_fabc_write(fc, sizes[si], iters[si],
					     (unsigned)window, &rr[k]);
			if (r)
				goto failed;
		}
		qsort(rr, rounds, sizeof(double), skiff_cmp_double);
		med[si] = skiff_percentile(rr, rounds, 0.5);
		lo[si] = rr[0];
		hi[si] = rr[rounds - 1];
		continue;
failed:
		if (!json)
			skiff_progress("bench fabric write", nsizes, nsizes, "");
		skiff_err("bench fabric write: %s of %s: %s", skiff_fabc_peer(fc),
			  skiff_size_str(sizes[si], sz), skiff_fabc_error(fc));
		skiff_fabc_close(fc);
		return SKIFF_EXIT_FAIL;
	}
	if (json) {
		printf("{\"bench\":\"fabric_write\",\"peer\":");
		skiff_json_string(stdout, skiff_fabc_peer(fc));
		printf(",\"provider\":");
		skiff_json_string(stdout, skiff_fabc_provider(fc));
		printf(",\"window\":%llu,\"rounds\":%llu,\"ms_per_measurement\":"
		       "%llu,\"results\":[", window, rounds, ms);
		for (unsigned si = 0; si < nsizes; si++)
			printf("%s{\"size\":%llu,\"gbps\":%.3f,\"min_gbps\":%.3f,"
			       "\"max_gbps\":%.3f,\"iters\":%llu}", si ? "," : "",
			       (unsigned long long)sizes[si], med[si], lo[si],
			       hi[si], (unsigned long long)iters[si]);
		printf("]}\n");
	} else {
		struct skiff_table t;

		skiff_progress("bench fabric write", nsizes, nsizes, "");
		skiff_table_init(&t, 5, 0x1e);
		skiff_table_cell(&t, "size");
		skiff_table_cell(&t, "fi_write GB/s");
		skiff_table_cell(&t, "min");
		skiff_table_cell(&t, "max");
		skiff_table_cell(&t, "writes");
		for (unsigned si = 0; si < nsizes; si++) {
			skiff_table_cell(&t, "%s", skiff_size_str(sizes[si], sz));
			skiff_table_cell(&t, "%.3f", med[si]);
			skiff_table_cell(&t, "%.3f", lo[si]);
			skiff_table_cell(&t, "%.3f", hi[si]);
			skiff_table_cell(&t, "%llu",
					 (unsigned long long)iters[si]);
		}
		skiff_table_print(&t, stdout, "");
		skiff_table_free(&t);
	}
	skiff_fabc_close(fc);
	return SKIFF_EXIT_OK;
bad:
	skiff_err("bench fabric write: bad value '%s' for -%c", optarg, c);
	return SKIFF_EXIT_USAGE;
}

#else /* !SKIFF_CLI_FABRIC */

struct skiff_fabc {
	int unused;
};

int skiff_fabc_open(struct skiff_fabc **out, const char *peer, uint64_t max,
		    int timeout_ms, char *why, size_t whylen)
{
	(void)out, (void)max, (void)timeout_ms;
	snprintf(why, whylen, "%s: this scif was built without libfabric "
		 "(SKIFF_FABRIC=OFF or no libfabric-dev)", peer);
	return -ENOSYS;
}

const char *skiff_fabc_provider(const struct skiff_fabc *c)
{
	(void)c;
	return "none";
}

const char *skiff_fabc_peer(const struct skiff_fabc *c)
{
	(void)c;
	return "none";
}

const char *skiff_fabc_error(const struct skiff_fabc *c)
{
	(void)c;
	return "built without libfabric";
}

int skiff_fabc_pingpong(struct skiff_fabc *c, unsigned long long n,
			double *out, unsigned long long *bad)
{
	(void)c, (void)n, (void)out, (void)bad;
	return -ENOSYS;
}

int skiff_fabc_write(struct skiff_fabc *c, uint64_t size, uint64_t iters,
		     unsigned window, double *gbps)
{
	(void)c, (void)size, (void)iters, (void)window, (void)gbps;
	return -ENOSYS;
}

void skiff_fabc_close(struct skiff_fabc *c)
{
	(void)c;
}

#endif /* SKIFF_CLI_FABRIC */

static const char *const fabric_usage =
	"usage: scif bench fabric serve [--addr ADDR] [--port PORT] [...]\n"
	"       scif bench fabric lat --peer ADDR[:PORT] [-n ITERS] [--json]\n"
	"       scif bench fabric write --peer ADDR[:PORT] [-m MAX] [...] [--json]\n"
	"\n"
	"Raw libfabric figures (FI_EP_RDM, the provider scifd uses: FI_PROVIDER\n"
	"or tcp;ofi_rxm): the limits of scif bench lat and bw between hosts.\n"
	"'scif bench fabric CMD --help' describes each.\n";

int skiff_bench_fabric(int argc, char **argv)
{
	if (argc < 2) {
		fputs(fabric_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		fputs(fabric_usage, stdout);
		return SKIFF_EXIT_OK;
	}
#ifdef SKIFF_CLI_FABRIC
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "lat"))
		return cmd_lat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
#else
	if (!strcmp(argv[1], "serve") || !strcmp(argv[1], "lat") ||
	    !strcmp(argv[1], "write")) {
		skiff_err("bench fabric: this scif was built without libfabric "
			  "(SKIFF_FABRIC=OFF or no libfabric-dev)");
		return SKIFF_EXIT_FAIL;
	}
#endif
	skiff_err("bench fabric: unknown command '%s'", argv[1]);
	fputs(fabric_usage, stderr);
	return SKIFF_EXIT_USAGE;
}
