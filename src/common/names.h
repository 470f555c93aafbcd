/* SPDX-License-Identifier: MIT */
/*
 * names.h - where skiff things live: fabric name, port and daemon addresses.
 *
 * A port is an abstract AF_UNIX socket name built from fabric, node and port,
 * so the kernel enforces uniqueness and frees the name when its owner dies.
 */
#ifndef SKIFF_NAMES_H
#define SKIFF_NAMES_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SKIFF_FABRIC_MAX 48
#define SKIFF_FABRIC_DEFAULT "default"
#define SKIFF_MAX_NODE 255 /* largest node id; cards are 1..SKIFF_MAX_NODE */

/* Fabric name from SCIF_FABRIC (or the default). -EINVAL if malformed:
 * 1..SKIFF_FABRIC_MAX characters of [A-Za-z0-9._-]. */
int skiff_fabric(char out[SKIFF_FABRIC_MAX + 1]);

/* This process's node from SCIF_NODE (0 when unset: libscif then asks
 * the daemon for this host's own node, skiff_default_node in nodeq.h);
 * -EINVAL if not a number, -ENODEV above SKIFF_MAX_NODE (each with a
 * warning). */
int skiff_self_node(void);

/* Abstract address of (node, port) in @fabric; returns the address length. */
socklen_t skiff_port_addr(struct sockaddr_un *sa, const char *fabric,
			  uint16_t node, uint16_t port);

/* Abstract address of the fabric's daemon; returns the address length. */
socklen_t skiff_daemon_addr(struct sockaddr_un *sa, const char *fabric);

/* Abstract address where the fabric's daemon takes connections to nodes
 * of other hosts (it relays them); returns the address length. */
socklen_t skiff_relay_addr(struct sockaddr_un *sa, const char *fabric);

/* Prefix shared by every abstract name of @fabric (without the leading NUL),
 * for tools that list sockets: "skiff/<fabric>/". */
int skiff_fabric_prefix(char *buf, size_t n, const char *fabric);

/*
 * Whether the process at the other end of the connected AF_UNIX socket @fd
 * may serve a name only root may own (a port below 1024, the daemon): 0 if
 * it ran as root or as our own effective user when it called listen() or
 * connect() (SO_PEERCRED), -EACCES if another user, -errno if unknown.
 * Names are abstract, so anyone can bind any of them: this is the check.
 */
int skiff_peer_entitled(int fd);

/* Parse "n<node>/p<port>" (the part after the prefix); 0 or -EINVAL. */
int skiff_parse_port_name(const char *s, uint16_t *node, uint16_t *port);

#endif
