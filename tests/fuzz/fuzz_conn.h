/* SPDX-License-Identifier: MIT */
/*
 * fuzz_conn.h - a connected endpoint for the fuzz harnesses, built the way
 * scif_accept() builds one (connect.c: accept_one), but over socketpairs
 * whose other ends the harness holds: it plays the peer, writing the shared
 * region and sending records, while the library runs its normal paths.
 *
 * The library's sources are compiled into each harness (CMakeLists.txt), so
 * the internals of src/lib/internal.h are reachable; nothing here is
 * exported by libscif.
 */
#ifndef SKIFF_FUZZ_CONN_H
#define SKIFF_FUZZ_CONN_H

#define _GNU_SOURCE
#include "transport.h"
#include "fdpass.h"
#include "wire_rma.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_RING 4096u

struct fz_conn {
	int epd;       /* the library's endpoint (its data socket) */
	int peer;      /* our end of the data socket */
	int peer_ctl;  /* our end of the RMA control socket */
	struct skiff_region_hdr *h; /* our mapping of the region */
	size_t size;
	int side;      /* the library's side */
};

/* A sealed region memfd of ring size FZ_RING whose first @n bytes are
 * @data (the rest zero). */
static inline int fz_region(const uint8_t *data, size_t n)
{
	size_t size = skiff_region_size(FZ_RING);
	int fd = memfd_create("fz-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		abort();
	if (ftruncate(fd, (off_t)size) < 0)
		abort();
	if (n > size)
		n = size;
	if (n && pwrite(fd, data, n, 0) != (ssize_t)n)
		abort();
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		abort();
	return fd;
}

/* Attach @memfd as a connected endpoint on side @side; 0 or -1. The
 * endpoint may be taken off the control service (@no_svc) so that only
 * the harness's own calls take in control records (deterministic runs). */
static inline int fz_conn_open(struct fz_conn *c, int memfd, int side, int no_svc)
{
	int sp[2], cp[2], r;
	struct skiff_ep *ep;

	memset(c, 0, sizeof(*c));
	c->size = skiff_region_size(FZ_RING);
	c->side = side;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		abort();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) < 0)
		abort();
	/* the library's ends are blocking, as accept4() gives them */
	fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) & ~O_NONBLOCK);
	fcntl(cp[1], F_SETFL, fcntl(cp[1], F_GETFL) | O_NONBLOCK);
	c->h = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (c->h == MAP_FAILED)
		abort();
	ep = skiff_ep_alloc();
	if (!ep)
		abort();
	ep->fd = sp[0];
	r = skiff_sock_setup(sp[0]);
	if (r == 0)
		r = skiff_conn_attach(ep, memfd, side, FZ_RING, c->size);
	ep->tp = &skiff_local_transport; /* as connect.c does */
	if (r == 0)
		r = skiff_rma_attach(ep, cp[0]);
	if (r == 0 && no_svc)
		skiff_svc_del(ep);
	if (r == 0) {
		ep->state = SKIFF_EP_CONNECTED;
		ep->peer_port = 1;
		r = skiff_ep_register(ep);
	}
	if (r < 0)
		abort();
	c->epd = sp[0];
	c->peer = sp[1];
	c->peer_ctl = cp[1];
	return 0;
}

static inline void fz_conn_close(struct fz_conn *c)
{
	if (scif_close(c->epd) != 0)
		abort();
	close(c->peer);
	close(c->peer_ctl);
	munmap(c->h, c->size);
}

/* Send @len bytes on @s with a descriptor of kind @k (0: none). */
static inline void fz_send_with_fd(int s, const void *buf, size_t len, unsigned k)
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[2] = { -1, -1 }, n = 0, p[2];

	switch (k % 8) {
	case 1: /* a sealed memfd of 1..8 pages */
	case 2:
	case 3:
		fds[0] = memfd_create("fz-win", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[0] >= 0 && ftruncate(fds[0], (off_t)(4096 * (1 + (k >> 3) % 8))) == 0)
			fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
		n = 1;
		break;
	case 4: /* unsealed */
		fds[0] = memfd_create("fz-win", MFD_CLOEXEC);
		if (fds[0] >= 0 && ftruncate(fds[0], 8 * 4096) < 0)
			abort();
		n = 1;
		break;
	case 5:
		if (pipe2(p, O_CLOEXEC) == 0) {
			fds[0] = p[0];
			close(p[1]);
			n = 1;
		}
		break;
	case 6: /* two */
		fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		fds[1] = memfd_create("fz-win", MFD_CLOEXEC);
		n = 2;
		break;
	case 7:
		fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		n = 1;
		break;
	default:
		break;
	}
	for (int i = 0; i < n; i++)
		if (fds[i] < 0)
			n = 0;
	if (n) {
		struct cmsghdr *cm;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
	}
	(void)sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Drop whatever the library sent us (records and their descriptors). */
static inline void fz_drain(int s)
{
	unsigned char buf[256];
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;

	for (int k = 0; k < 4096; k++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			break;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
					int x;
					memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
					close(x);
				}
		if (n == 0)
			break;
	}
}

/* Descriptors open now (to catch leaks across an input), but for the
 * control service's wake-up eventfd: the library makes it once per process,
 * with the first connection, and keeps it. */
static inline int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		char path[64], link[64];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = 0;
			if (!strcmp(link, "anon_inode:[eventfd]"))
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

/* SKIFF_FUZZ_KNOWN=ctl-empty-fd,...: defect classes of today's code the CI run
 * tolerates (see tests/fuzz/README.md); any other finding aborts. */
static inline int fz_known(const char *cls)
{
	const char *k = getenv("SKIFF_FUZZ_KNOWN");

	return k && strstr(k, cls) != NULL;
}

/* A leak of descriptors over one input: abort unless tolerated. */
static inline void fz_check_fds(int before, const char *what)
{
	int after = fz_count_fds();

	if (after > before) {
		fprintf(stderr, "%s: %d descriptor(s) leaked\n", what, after - before);
		abort();
	}
}

#endif
