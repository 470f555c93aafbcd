/* SPDX-License-Identifier: MIT */
/*
 * relay_ep.h - what scifd's relay (src/daemon/relay.c) uses of libscif's
 * internals to be the local end of connections between hosts. scifd links
 * the library's objects; no program does, and nothing here is exported.
 *
 * A process connecting to a node of another host connects to its daemon's
 * relay socket instead of the port (connect.c); the daemon asks the other
 * host's daemon, which connects to the listener there under the name of
 * the connecting process's port. Each daemon then holds an ordinary local
 * connection with its process and moves the bytes between it and the link.
 */
#ifndef SKIFF_RELAY_EP_H
#define SKIFF_RELAY_EP_H

#include <stdint.h>

#include "wire.h"

/* Before any other call: this process is @fabric's daemon, on @node (no
 * daemon to ask for either). */
void skiff_ctx_preset(const char *fabric, int node);

/* Read the connection request on @s (accepted on the relay socket; call
 * when it is readable) and the connector's (node, port) from the name it
 * bound. The region's memfd, or -errno. */
int skiff_relay_request(int s, struct skiff_conn_req *req, uint16_t *node,
			uint16_t *port);

/* Grant it as (node, port), the listener of the other host, with the
 * connector (pn, pp) as peer: @s becomes a non-blocking endpoint
 * descriptor (returned). @memfd is closed; @s is the caller's on failure. */
int skiff_relay_grant(int s, const struct skiff_conn_req *req, int memfd,
		      uint16_t node, uint16_t port, uint16_t pn, uint16_t pp);

/* Connect to (dst_node, dst_port) of this host as (src_node, src_port) of
 * another host, non-blocking: an endpoint descriptor whose connection is
 * in progress (finish it with scif_connect once it is readable: POLLIN
 * means the listener answered), or -errno (ECONNREFUSED: nobody listens
 * or that name is in use here). */
int skiff_relay_connect(uint16_t src_node, uint16_t src_port,
			uint16_t dst_node, uint16_t dst_port);

/* Who takes the RMA_REQ records of the processes the daemon relays: @fn
 * runs on libscif's control service thread (with the endpoint's table
 * lock held), so it only queues the request for the daemon's loop. */
struct skiff_rma_req_rec;
void skiff_svc_set_rma_hook(void (*fn)(int epd, const struct skiff_rma_req_rec *q));

/* The control socket of the daemon's end @epd of a relayed connection
 * (-1 if none), for the daemon's own poll loop, which then calls
 * skiff_relay_take(@epd) when it is readable: the RMA_REQs at the head of
 * the socket are taken in at once (they reach the hook, on the caller's
 * thread). Returns 1 if what is left is the control service's: the
 * endpoint was busy (the service or a call holds it), or the next record
 * is not an RMA_REQ (the service's: a WIN_DEL is answered later, once the
 * daemon's RMAs before it are done, see skiff_relay_rma_end); else 0. */
int skiff_relay_ctl_fd(int epd);
int skiff_relay_take(int epd);

/* A range of a relayed process's windows, as mapped in the daemon. */
struct skiff_relay_seg {
	unsigned char *addr;
	uint64_t len;
};

/* Resolve [off, off + len) of the windows the process at the other end of
 * @epd registered, with @need access (SCIF_PROT_*), into at most @max
 * contiguous pieces: their count, or -ENXIO / -EACCES / -ENOMEM. They stay
 * mapped until skiff_relay_rma_end(@epd, *@seq), even if the process
 * unregisters them meanwhile (it is counted as an RMA of ours, which its
 * INIT_PEER fences wait for). */
int skiff_relay_resolve(int epd, uint64_t off, uint64_t len, int need,
			struct skiff_relay_seg *out, unsigned max,
			uint64_t *seq);
/* The daemon's RMA @seq on @epd ended: the process's WIN_DELs waiting for
 * it are answered now. */
void skiff_relay_rma_end(int epd, uint64_t seq);
/* Another host's provider may still write into @seg (@n pieces resolved
 * on @epd, registered for it) after its host went down: the endpoint lets
 * go of the whole mappings holding them, each returned in @out (addr, len:
 * at most @max; call again for more), and never unmaps them; the caller
 * owns them (relay.c's quarantine). Their count, 0 once none is left, or
 * -errno. */
int skiff_relay_detach(int epd, const struct skiff_relay_seg *seg, unsigned n,
		       struct skiff_relay_seg *out, unsigned max);
/* The connection of @epd is over but RMAs of ours still run on it (a host
 * lost mid-transfer): the process's WIN_DELs are answered at once from
 * now on, while those RMAs' pages stay mapped here until each ends. */
void skiff_relay_rma_orphan(int epd);
/* Tell the process its RMA @seq ended (@status 0 or an errno). */
int skiff_relay_rma_done(int epd, uint64_t seq, int status);

#endif
