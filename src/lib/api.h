/* SPDX-License-Identifier: MIT */
/*
 * api.h - the implementations behind the exported calls (api.c).
 *
 * Each scif_X of scif.h is a wrapper in api.c around skiff_api_X, which
 * returns as scif_X documents and sets errno on failure.
 */
#ifndef SKIFF_API_H
#define SKIFF_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scif.h"

scif_epd_t skiff_api_open(void);
int skiff_api_close(scif_epd_t epd);
int skiff_api_bind(scif_epd_t epd, uint16_t pn);
int skiff_api_listen(scif_epd_t epd, int backlog);
int skiff_api_connect(scif_epd_t epd, struct scif_portID *dst);
int skiff_api_accept(scif_epd_t epd, struct scif_portID *peer,
		     scif_epd_t *newepd, int flags);
int skiff_api_send(scif_epd_t epd, void *msg, int len, int flags);
int skiff_api_recv(scif_epd_t epd, void *msg, int len, int flags);
off_t skiff_api_register(scif_epd_t epd, void *addr, size_t len, off_t offset,
			 int prot_flags, int map_flags);
int skiff_api_unregister(scif_epd_t epd, off_t offset, size_t len);
int skiff_api_readfrom(scif_epd_t epd, off_t loffset, size_t len,
		       off_t roffset, int rma_flags);
int skiff_api_writeto(scif_epd_t epd, off_t loffset, size_t len,
		      off_t roffset, int rma_flags);
int skiff_api_vreadfrom(scif_epd_t epd, void *addr, size_t len, off_t offset,
			int rma_flags);
int skiff_api_vwriteto(scif_epd_t epd, void *addr, size_t len, off_t offset,
		       int rma_flags);
int skiff_api_fence_mark(scif_epd_t epd, int flags, int *mark);
int skiff_api_fence_wait(scif_epd_t epd, int mark);
int skiff_api_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval,
			   off_t roff, uint64_t rval, int flags);
void *skiff_api_mmap(void *addr, size_t len, int prot_flags, int map_flags,
		     scif_epd_t epd, off_t offset);
int skiff_api_munmap(void *addr, size_t len);
int skiff_api_get_nodeIDs(uint16_t *nodes, int len, uint16_t *self);
int skiff_api_poll(struct scif_pollepd *epds, unsigned int nepds, long timeout);
int skiff_api_get_fd(scif_epd_t epd);

#endif
