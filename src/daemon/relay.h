/* SPDX-License-Identifier: MIT */
/*
 * relay.h - connections between processes of different hosts (issue 10;
 * docs/PROTOCOL.md section 9.2). The daemon is the local end of each: a
 * process connecting to a node of another host reaches the relay socket
 * here (libscif routes it, connect.c), the daemon of that host connects to
 * the listener there under the connecting process's name, and both daemons
 * move the bytes between their local connection and the link, at most
 * SKIFF_LINK_WINDOW unacknowledged per direction. Driven from scifd's
 * poll() loop through one epoll descriptor: no thread, no call that waits
 * on a process or a host.
 */
#ifndef SKIFF_RELAY_H_DAEMON
#define SKIFF_RELAY_H_DAEMON

#include <stdint.h>
#include <sys/types.h>

#include "fconf.h"

struct skiff_relay;
struct skiff_links;

/* Start relaying for host @self of @conf in @fabric, over @links (which
 * must outlive it). 0 or -errno with one line in @why. */
int skiff_relay_open(struct skiff_relay **out, struct skiff_links *links,
		     const struct skiff_fconf *conf, unsigned self,
		     const char *fabric, char *why, size_t whylen);
/* Every relayed connection ends (the local processes see ECONNRESET). */
void skiff_relay_close(struct skiff_relay *r);

/* A descriptor for poll() (POLLIN): the relay's epoll set. */
int skiff_relay_fd(struct skiff_relay *r);
/* Our cards, for micmem of processes of other hosts (mm_wire.h): their
 * memfds (card k: node FIRST + 1 + k), each @size bytes, for @owner only.
 * The descriptors stay the caller's and must outlive the relay. */
#define SKIFF_RELAY_CARDS 256
void skiff_relay_cards(struct skiff_relay *r, uid_t owner, const int *fds,
		       unsigned ncards, uint64_t size);
/* Milliseconds poll() may sleep before skiff_relay_run is due (-1). */
int skiff_relay_timeout(struct skiff_relay *r, int64_t now_ms);
/* Serve what is ready, expire what waited too long. */
void skiff_relay_run(struct skiff_relay *r, int64_t now_ms);

#endif
