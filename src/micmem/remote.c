/* SPDX-License-Identifier: MIT */
/*
 * remote.c - a board of another host (docs/PROTOCOL.md 9.3).
 *
 * No memory is shared between hosts: the board is a SCIF connection to
 * SKIFF_MICMEM_PORT of its card's node, which that host's daemon answers
 * (after checking the connector's MUNGE-vouched uid against the card's
 * owner). Each mapped host range is also a registered window of that
 * connection, and a transfer is one SCIF RMA between the window and the
 * card's memory, which the daemons move with libfabric (fi_read/fi_write,
 * zero-copy on RDMA providers). Internals: 0 or -errno; errno is saved
 * around the SCIF calls, which set it.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "mm_wire.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "scif.h"

/* The other daemon answers at once; allow for a link that is busy. */
#define MM_HELLO_TIMEOUT_MS 10000

/* What an RMA's failure is in micmem_host2dev/dev2host's terms. */
static int copy_err(int e)
{
	switch (e) {
	case ENOMEM: /* a daemon's */
	case EFAULT:
	case EINVAL:
		return -e;
	case ENXIO:
		return -EINVAL; /* outside the card's memory */
	default:
		return -ENODEV; /* ECONNRESET, ENOTCONN, ...: the board is gone */
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_hello(scif_epd_t ep, struct skiff_mm_hello *hi)
{
	int64_t end = mono_ms() + MM_HELLO_TIMEOUT_MS;
	size_t got = 0;

	while (got < sizeof(*hi)) {
		struct scif_pollepd pe = { .epd = ep, .events = POLLIN };
		int64_t left = end - mono_ms();
		int n;

		if (left <= 0 || scif_poll(&pe, 1, left) <= 0)
			return -ENODEV; /* a daemon that says nothing serves no card */
		n = scif_recv(ep, (char *)hi + got, (int)(sizeof(*hi) - got), 0);
		if (n < 0)
			return errno == EINTR ? 0 : -ENODEV;
		got += (size_t)n;
	}
	return 0;
}

int mm_remote_open(uint32_t node, int *epd, uint64_t *size)
{
	struct scif_portID dst = { .node = (uint16_t)node,
				   .port = SKIFF_MICMEM_PORT };
	struct skiff_mm_hello hi;
	int e = errno, r;
	scif_epd_t ep = scif_open();

	if (ep < 0) {
		r = errno == ENOMEM ? -ENOMEM : -ENODEV;
		goto out;
	}
	if (scif_connect(ep, &dst) < 0) {
		r = errno == ENOMEM ? -ENOMEM : -ENODEV;
		goto fail;
	}
	r = read_hello(ep, &hi);
	if (r < 0)
		goto fail;
	/* from another host: checked before use */
	r = skiff_mm_hello_check(&hi, size);
	if (r < 0)
		goto fail;
	*epd = ep;
	goto out;
fail:
	scif_close(ep);
out:
	errno = e;
	return r;
}

void mm_remote_close(int epd)
{
	int e = errno;

	scif_close(epd); /* unregisters every window of the board */
	errno = e;
}

int mm_remote_register(int epd, void *base, uint64_t size, uint64_t *off)
{
	int e = errno, r = 0;
	off_t o = scif_register(epd, base, size, 0,
				SCIF_PROT_READ | SCIF_PROT_WRITE, 0);

	if (o == SCIF_REGISTER_FAILED)
		/* the range is pinned and page-aligned: nothing but memory
		 * or the connection can fail (micmem_maprange's errnos) */
		r = errno == ENOMEM ? -ENOMEM : -ENODEV;
	else
		*off = (uint64_t)o;
	errno = e;
	return r;
}

void mm_remote_unregister(int epd, uint64_t off, uint64_t size)
{
	int e = errno;

	(void)scif_unregister(epd, (off_t)off, size);
	errno = e;
}

int mm_remote_copy(int epd, uint64_t win, uint64_t dev, uint64_t len,
		   enum mm_dir dir)
{
	int e = errno, r;

	/* SYNC: done when it returns, as a micmem transfer is */
	if (dir == MM_H2D)
		r = scif_writeto(epd, (off_t)win, len, (off_t)dev, SCIF_RMA_SYNC);
	else
		r = scif_readfrom(epd, (off_t)win, len, (off_t)dev, SCIF_RMA_SYNC);
	r = r < 0 ? copy_err(errno) : 0;
	errno = e;
	return r;
}
