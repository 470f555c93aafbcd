/* SPDX-License-Identifier: MIT */
/*
 * link.h - the links between the daemons of a fabric file's hosts
 * (docs/PROTOCOL.md section 9): HELLO with a MUNGE credential both ways,
 * HEARTBEAT every 500 ms, a host down after 3 s of silence, a BYE, or a
 * new boot id; hosts that are down are greeted again every second. Driven
 * from scifd's poll() loop: no thread.
 */
#ifndef SKIFF_LINK_H
#define SKIFF_LINK_H

#include <stdint.h>

#include <stddef.h>

#include "fconf.h"
#include "link_wire.h"

struct skiff_links;
struct skiff_auth;
struct skiff_fab;

/* Who takes the records of relayed connections (relay.c): registered
 * after both are open, so link.c does not call the relay by name. */
struct skiff_link_sink {
	/* a CONN, CONN_ACK, DATA, CREDIT or CLOSE from host @i, decoded,
	 * of the incarnation authenticated, with the link up */
	void (*record)(void *arg, unsigned i, const struct skiff_link_msg *m);
	/* host @i went down (silent, said goodbye, or restarted) */
	void (*host_down)(void *arg, unsigned i);
	/* host @i is up: mutual HELLO (NULL: not told) */
	void (*host_up)(void *arg, unsigned i);
};

/* The state of one host, for scif info. */
struct skiff_link_host {
	int self;	    /* this daemon's own host */
	int up;		    /* linked: mutual authenticated HELLO, heard lately */
	int64_t since_ms;   /* monotonic time of the last change */
};

/*
 * Start linking host @self of @conf (which must outlive the links) in
 * @fabric; @munge_socket NULL for libmunge's default. 0, or -errno with
 * one line in @why.
 */
int skiff_links_open(struct skiff_links **out, const struct skiff_fconf *conf,
		     unsigned self, const char *fabric,
		     const char *munge_socket, char *why, size_t whylen);
void skiff_links_close(struct skiff_links *l);

/* A descriptor for poll() (POLLIN), or -1. */
int skiff_links_fd(struct skiff_links *l);

/* Milliseconds poll() may sleep before skiff_links_run is due. */
int skiff_links_timeout(struct skiff_links *l, int64_t now_ms);

/* Read what arrived, send what is due, expire silent hosts. */
void skiff_links_run(struct skiff_links *l, int64_t now_ms);

/* Say BYE to every linked host and wait (at most @wait_ms) until sent. */
void skiff_links_bye(struct skiff_links *l, int wait_ms);

/* Set bit n of @map (byte n / 8, bit n % 8) for every node online: this
 * host's and those of every host that is up. */
void skiff_links_online(const struct skiff_links *l, uint8_t map[32]);

/* State of host @i (0..nhosts-1); 0 or -EINVAL. */
int skiff_links_host(const struct skiff_links *l, unsigned i,
		     struct skiff_link_host *out);

void skiff_links_set_sink(struct skiff_links *l,
			  const struct skiff_link_sink *sink, void *arg);

/* Send a relayed connection's record (its from_index, boot and peer_boot
 * are filled in) to host @i: 0, -ENOTCONN if the host is not up, or
 * skiff_fab_send's -errno (ask skiff_links_room first). */
int skiff_links_send(struct skiff_links *l, unsigned i,
		     struct skiff_link_msg *m, size_t len);
/* Records host @i takes now (0 while it is down). */
unsigned skiff_links_room(struct skiff_links *l, unsigned i);
/* Records to host @i lost so far: bytes of its connections may be gone. */
unsigned skiff_links_drops(struct skiff_links *l, unsigned i);
int skiff_links_is_up(const struct skiff_links *l, unsigned i);
/* Boot id of host @i (ours for self; the authenticated one's, else 0). */
uint64_t skiff_links_boot(const struct skiff_links *l, unsigned i);
/* The libfabric endpoint, for RMA between hosts (fab.h). */
struct skiff_fab *skiff_links_fab(struct skiff_links *l);
/* The MUNGE context, for the credentials of connection requests. */
struct skiff_auth *skiff_links_auth(struct skiff_links *l);

#endif
