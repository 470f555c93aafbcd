/* SPDX-License-Identifier: MIT */
/*
 * sockdiag.h - list the AF_UNIX sockets of this network namespace.
 *
 * NETLINK_SOCK_DIAG (unix_diag) gives each socket's name, inode, state, peer
 * inode and, for a listener, its queue and the inodes of connections waiting
 * for accept. Without unix_diag (CONFIG_UNIX_DIAG=n) /proc/net/unix gives
 * names, inodes and states but no peers, so connections cannot be paired.
 */
#ifndef SKIFF_SOCKDIAG_H
#define SKIFF_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

/* Socket states, as unix_diag reports them (the TCP numbering). */
#define SKIFF_US_ESTABLISHED 1
#define SKIFF_US_CLOSE       7 /* unconnected: created or bound */
#define SKIFF_US_LISTEN      10

struct skiff_usock {
	uint32_t ino;
	uint32_t peer;     /* peer's inode; 0 if none or unknown */
	uint8_t type;      /* SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM */
	uint8_t state;     /* SKIFF_US_* */
	uint8_t named;     /* bound to an address */
	uint8_t abstract;  /* the address is abstract (leading NUL) */
	uint32_t rqueue;   /* listener: connections waiting for accept */
	uint32_t wqueue;   /* listener: backlog */
	uint32_t nicons;   /* listener: inodes of those connections */
	uint32_t *icons;
	/* the address without the leading NUL of an abstract name */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
};

struct skiff_usock_list {
	struct skiff_usock *v; /* sorted by inode */
	size_t n;
	int have_peers; /* 0 when read from /proc/net/unix */
};

/* Fill @l; 0 or -errno. */
int skiff_unix_sockets(struct skiff_usock_list *l);
/* The socket with inode @ino, or NULL. */
struct skiff_usock *skiff_usock_find(const struct skiff_usock_list *l,
				     uint32_t ino);
void skiff_usock_list_free(struct skiff_usock_list *l);

/*
 * For each of the @n sorted inodes, the lowest pid holding it (0 if none
 * found), by scanning /proc/<pid>/fd; @comm receives that process's command
 * name (16 bytes each). Processes we may not inspect are skipped.
 */
void skiff_socket_owners(const uint32_t *inos, size_t n, int *pids,
			 char (*comm)[16]);

#endif
