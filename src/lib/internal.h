/*
 * internal.h - libscif internals shared between its files.
 *
 * Internals return 0 / a count or -errno; only the exported calls set errno.
 */
#ifndef SKIFF_INTERNAL_H
#define SKIFF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "names.h"
#include "region.h"
#include "wire.h"
#include "scif.h"

#define SKIFF_API __attribute__((visibility("default")))

/* Exported calls end with this: -errno becomes errno and -1. */
#define SKIFF_RET(r)                                                           \
	do {                                                                   \
		long r_ = (r);                                                 \
		if (r_ < 0) {                                                  \
			errno = (int)-r_;                                      \
			return -1;                                             \
		}                                                              \
		return (int)r_;                                                \
	} while (0)

enum skiff_ep_state {
	SKIFF_EP_UNBOUND,
	SKIFF_EP_BOUND,
	SKIFF_EP_LISTENING,
	SKIFF_EP_CONNECTING, /* non-blocking connect in progress */
	SKIFF_EP_CONNECTED,
	SKIFF_EP_DISCONNECTED, /* unused by the data paths, which track the
				* peer's death in ep->dead (send and receive
				* threads must not race on ep->state) */
};

/* One direction of a connection as seen by one side. */
struct skiff_ring {
	struct skiff_ring_ctl *ctl; /* in the shared region */
	unsigned char *data;
	uint32_t size; /* power of two */
	uint32_t mask;
	/* private copies: never re-read our own index from shared memory */
	uint32_t pos;    /* producer: head; consumer: tail */
	uint32_t cached; /* producer: last tail seen; consumer: last head seen */
	uint32_t posted;    /* producer: doorbells sent */
	uint32_t c_posted;  /* producer: credits sent */
	uint32_t drained;   /* consumer: doorbells drained */
	uint32_t c_drained; /* consumer: credits drained */
	/* rate limit of liveness checks, per direction: the sending and the
	 * receiving thread each keep their own */
	unsigned hup_check;
	uint64_t last_check; /* CLOCK_MONOTONIC_COARSE ns */

};

struct skiff_ep {
	int fd;           /* the descriptor the user holds (epd) */
	int sock;         /* socket while bound but not yet visible, else -1 */
	dev_t dev;        /* identity of the file at fd, to detect plain close() */
	ino_t ino;
	enum skiff_ep_state state;
	uint16_t node, port;           /* local */
	uint16_t peer_node, peer_port; /* remote */
	int backlog;
	int side; /* 0 connector, 1 acceptor */
	uint64_t cookie;

	/* connection */
	struct skiff_region_hdr *region;
	size_t region_size;
	struct skiff_ring tx, rx;
	_Atomic int dead;      /* socket hung up / protocol violation */
	pthread_mutex_t send_lock;
	pthread_mutex_t recv_lock;
	pthread_mutex_t lock; /* state changes: bind, listen, connect, close */
};

/* process-wide context */
struct skiff_ctx {
	char fabric[SKIFF_FABRIC_MAX + 1];
	int fabric_err; /* -errno if SCIF_FABRIC is malformed */
	int node;       /* this process's node, or -ENODEV */
};
const struct skiff_ctx *skiff_ctx(void);

/* endpoint.c */
int skiff_ep_get(int epd, struct skiff_ep **out); /* -EBADF / -ENOTTY */
int skiff_ep_get_fast(int epd, struct skiff_ep **out); /* no identity check */
int skiff_ep_register(struct skiff_ep *ep);          /* after accept */
struct skiff_ep *skiff_ep_alloc(void);
void skiff_ep_free(struct skiff_ep *ep);
int skiff_ep_make_visible(struct skiff_ep *ep, int sock);
int skiff_ep_refresh_identity(struct skiff_ep *ep);
int skiff_error_pipe(void);
/* 0 if ep->fd is still the file we made it, else -EBADF (the user closed it
 * with close() and the number was reused). Called before every system call
 * on ep->fd in the data paths; the pure shared-memory fast path skips it. */
int skiff_ep_verify(struct skiff_ep *ep);

/* connect.c */
int skiff_sock_setup(int sock);

/* ring.c: the connection's shared rings and their readiness records */
int skiff_conn_attach(struct skiff_ep *ep, int memfd, int side,
		      uint32_t ring_size, size_t region_size);
void skiff_conn_detach(struct skiff_ep *ep);
int skiff_region_create(uint32_t ring_size, int *memfd_out);
uint32_t skiff_ring_size_knob(void);
int skiff_peer_gone(struct skiff_ep *ep);
int skiff_check_hup(struct skiff_ep *ep);
uint32_t skiff_rx_avail(struct skiff_ep *ep, int *bad);
uint32_t skiff_tx_space(struct skiff_ep *ep, int *bad);
int skiff_post_data_doorbell(struct skiff_ep *ep, uint32_t h0);
int skiff_post_credit(struct skiff_ep *ep);
int skiff_drain_doorbells(struct skiff_ep *ep);
void skiff_recv_leave(struct skiff_ep *ep);
void skiff_spin_announce(struct skiff_ep *ep, uint32_t want);
int skiff_drain_credits(struct skiff_ep *ep);
int skiff_take_record(struct skiff_ep *ep);
void skiff_mark_dead(struct skiff_ep *ep);


#endif
