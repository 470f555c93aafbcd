/* SPDX-License-Identifier: MIT */
/*
 * api.c - the exported calls of scif.h.
 *
 * MPSS's libscif calls were thin wrappers over open/ioctl/close, so errno
 * changed only when a call failed, and programs rely on it: Intel's own
 * tutorials set errno = 0, make their calls, and report failure if errno is
 * then non-zero. The implementations make system calls that may fail
 * harmlessly on the way (EAGAIN from a drained socket, ENOENT from a probe),
 * so each exported call restores the caller's errno when it succeeds
 * (SKIFF_KEEP_ERRNO, keep_errno.h, which libmicmem's api.c uses too).
 */
#define _GNU_SOURCE
#include <errno.h>

#include "api.h"
#include "keep_errno.h"

#define SKIFF_API __attribute__((visibility("default")))


SKIFF_API scif_epd_t scif_open(void)
{
	SKIFF_KEEP_ERRNO(scif_epd_t, -1, skiff_api_open());
}

SKIFF_API int scif_close(scif_epd_t epd)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_close(epd));
}

SKIFF_API int scif_bind(scif_epd_t epd, uint16_t pn)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_bind(epd, pn));
}

SKIFF_API int scif_listen(scif_epd_t epd, int backlog)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_listen(epd, backlog));
}

SKIFF_API int scif_connect(scif_epd_t epd, struct scif_portID *dst)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_connect(epd, dst));
}

SKIFF_API int scif_accept(scif_epd_t epd, struct scif_portID *peer,
			  scif_epd_t *newepd, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_accept(epd, peer, newepd, flags));
}

SKIFF_API int scif_send(scif_epd_t epd, void *msg, int len, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_send(epd, msg, len, flags));
}

SKIFF_API int scif_recv(scif_epd_t epd, void *msg, int len, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_recv(epd, msg, len, flags));
}

SKIFF_API off_t scif_register(scif_epd_t epd, void *addr, size_t len,
			      off_t offset, int prot_flags, int map_flags)
{
	SKIFF_KEEP_ERRNO(off_t, (off_t)-1,
		   skiff_api_register(epd, addr, len, offset, prot_flags,
				      map_flags));
}

SKIFF_API int scif_unregister(scif_epd_t epd, off_t offset, size_t len)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_unregister(epd, offset, len));
}

SKIFF_API int scif_readfrom(scif_epd_t epd, off_t loffset, size_t len,
			    off_t roffset, int rma_flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   skiff_api_readfrom(epd, loffset, len, roffset, rma_flags));
}

SKIFF_API int scif_writeto(scif_epd_t epd, off_t loffset, size_t len,
			   off_t roffset, int rma_flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   skiff_api_writeto(epd, loffset, len, roffset, rma_flags));
}

SKIFF_API int scif_vreadfrom(scif_epd_t epd, void *addr, size_t len,
			     off_t offset, int rma_flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   skiff_api_vreadfrom(epd, addr, len, offset, rma_flags));
}

SKIFF_API int scif_vwriteto(scif_epd_t epd, void *addr, size_t len,
			    off_t offset, int rma_flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   skiff_api_vwriteto(epd, addr, len, offset, rma_flags));
}

SKIFF_API int scif_fence_mark(scif_epd_t epd, int flags, int *mark)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_fence_mark(epd, flags, mark));
}

SKIFF_API int scif_fence_wait(scif_epd_t epd, int mark)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_fence_wait(epd, mark));
}

SKIFF_API int scif_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval,
				off_t roff, uint64_t rval, int flags)
{
	SKIFF_KEEP_ERRNO(int, -1,
		   skiff_api_fence_signal(epd, loff, lval, roff, rval, flags));
}

SKIFF_API void *scif_mmap(void *addr, size_t len, int prot_flags,
			  int map_flags, scif_epd_t epd, off_t offset)
{
	SKIFF_KEEP_ERRNO(void *, SCIF_MMAP_FAILED,
		   skiff_api_mmap(addr, len, prot_flags, map_flags, epd,
				  offset));
}

SKIFF_API int scif_munmap(void *addr, size_t len)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_munmap(addr, len));
}

SKIFF_API int scif_get_nodeIDs(uint16_t *nodes, int len, uint16_t *self)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_get_nodeIDs(nodes, len, self));
}

SKIFF_API int scif_poll(struct scif_pollepd *epds, unsigned int nepds,
			long timeout)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_poll(epds, nepds, timeout));
}

SKIFF_API int scif_get_fd(scif_epd_t epd)
{
	SKIFF_KEEP_ERRNO(int, -1, skiff_api_get_fd(epd));
}
