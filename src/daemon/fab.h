/* SPDX-License-Identifier: MIT */
/*
 * fab.h - scifd's libfabric endpoint: one reliable-datagram (FI_EP_RDM)
 * endpoint bound to this host's address, an address vector holding the
 * other hosts, a completion queue whose wait object scifd's poll() loop
 * sleeps on. Records up to SKIFF_LINK_MSG_MAX (link records and relayed
 * connections' data); no thread of ours.
 */
#ifndef SKIFF_FAB_H
#define SKIFF_FAB_H

#include <stddef.h>
#include <stdint.h>

struct skiff_fab;

/* One peer: where its daemon listens (fabric file). */
struct skiff_fab_peer {
	const char *addr; /* IPv4/IPv6 literal or DNS name */
	uint16_t port;
};

/*
 * Open an endpoint bound to @addr:@port, with peers 0..@npeers-1 (a peer
 * whose address does not resolve yet is retried by skiff_fab_send). The
 * provider is FI_PROVIDER's, else "tcp;ofi_rxm". 0 or -errno, with one
 * line saying what failed in @why.
 */
int skiff_fab_open(struct skiff_fab **out, const char *addr, uint16_t port,
		   const struct skiff_fab_peer *peers, unsigned npeers,
		   char *why, size_t whylen);
void skiff_fab_close(struct skiff_fab *f);

/* "tcp;ofi_rxm" or whatever was chosen, for messages. */
const char *skiff_fab_provider(const struct skiff_fab *f);

/* A descriptor to poll for POLLIN, or -1 (then poll with a short
 * timeout). */
int skiff_fab_wait_fd(struct skiff_fab *f);

/* How long scifd may sleep on the wait fd: -1 as long as it likes (until
 * it is readable), 0 not at all (completions to read), or a few ms
 * (records wait for a connection: call skiff_fab_progress again then). */
int skiff_fab_timeout(struct skiff_fab *f);

/*
 * Queue @len bytes (at most SKIFF_LINK_MSG_MAX) to @peer. Fire and
 * forget: 0 if queued (records the provider cannot take yet, while it
 * connects, are retried by skiff_fab_progress in order for 3 s), -EAGAIN
 * if too much is already in flight to that peer (it is stuck or gone: the
 * record is dropped), -EHOSTUNREACH if its address does not resolve, or
 * another -errno.
 */
int skiff_fab_send(struct skiff_fab *f, unsigned peer, const void *buf,
		   size_t len);

/*
 * Read completions: for each message received, call @fn with the bytes
 * and the index of the peer it came from as the provider saw it (-1 when
 * the provider cannot tell). Returns the number of messages delivered or
 * a -errno.
 */
typedef void (*skiff_fab_rx_fn)(void *arg, int src_peer, const void *buf,
				 size_t len);
int skiff_fab_progress(struct skiff_fab *f, skiff_fab_rx_fn fn, void *arg);

/* Records that skiff_fab_send will queue to @peer now without refusing
 * (a few slots stay for the link's own records). */
unsigned skiff_fab_room(struct skiff_fab *f, unsigned peer);

/* Records to @peer lost so far (dropped after FAB_QUEUE_MS, or failed):
 * a relay whose bytes must arrive resets its connections when it grows. */
unsigned skiff_fab_drops(const struct skiff_fab *f, unsigned peer);

/*
 * RMA against a peer's registered memory (another daemon's, advertised in
 * a record): fi_write (@write) of [buf, buf + len) to @raddr/@key, or
 * fi_read from there into it (@write 0). @write SKIFF_FAB_DELIVERED: an
 * fi_write that completes only once the data is in the peer's memory
 * (FI_DELIVERY_COMPLETE), not merely sent. @done runs from skiff_fab_progress with 0
 * or -EIO. 0 if posted or queued (the provider refused for now: retried
 * in order by skiff_fab_progress), -EOPNOTSUPP if the provider has no RMA,
 * another -errno (then @done never runs).
 */
#define SKIFF_FAB_DELIVERED 2
typedef void (*skiff_fab_rma_fn)(void *arg, int status);
int skiff_fab_rma(struct skiff_fab *f, unsigned peer, int write, void *buf,
		  size_t len, uint64_t raddr, uint64_t key,
		  skiff_fab_rma_fn done, void *arg);

/* Register [buf, buf + len) for the peers' fi_writes (remote write only:
 * no peer reads our memory): a handle for skiff_fab_mr_close, the key
 * (the provider's, or a random one unique among ours alive) and the
 * address to advertise (@buf with FI_MR_VIRT_ADDR, else 0: the provider
 * counts from the registration's start). 0 or -errno (-EOPNOTSUPP: no
 * RMA). */
int skiff_fab_mr(struct skiff_fab *f, void *buf, size_t len, void **mr,
		 uint64_t *key, uint64_t *raddr);
void skiff_fab_mr_close(void *mr);

/* Records queued and not yet completed. */
unsigned skiff_fab_pending(const struct skiff_fab *f);

#endif
