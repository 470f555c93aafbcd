/* SPDX-License-Identifier: MIT */
/*
 * quar.h - memory another host's provider may still write into.
 *
 * What scifd registers for another daemon's fi_writes is released when
 * that daemon says it is done (RMA_WROTE, RMA_DONE). When its host goes
 * down first, a write may be half done: libfabric's tcp provider finishes
 * one it has begun even after the registration is closed and the address
 * removed (measured: fi_mr_close and fi_av_remove do not stop it), and a
 * link cut and restored resumes the same TCP stream. Such memory is put
 * aside here: the process's pages under it are swapped for anonymous ones
 * at once (what lands there reaches nobody), and the address range stays
 * ours until the host links again: its HELLO travels behind anything it
 * sent before, on the same stream, or on a new one once the old is gone.
 */
#ifndef SKIFF_QUAR_H
#define SKIFF_QUAR_H

#include <stddef.h>

struct skiff_quar;

struct skiff_quar *skiff_quar_new(unsigned nhosts);
/* At exit, after the fabric is closed: let everything go. */
void skiff_quar_free(struct skiff_quar *q);

/* Host @h went down with @len bytes at @p registered for its writes:
 * @heap, the daemon's own malloc'ed buffer (freed later); else a mapping
 * of a process's pages, replaced now by anonymous memory (unmapped
 * later). Nothing is returned: memory that cannot be tracked is never let
 * go. */
void skiff_quar_take(struct skiff_quar *q, unsigned h, void *p, size_t len,
		     int heap);

/* Host @h linked again: what it could still write into is free. */
void skiff_quar_release(struct skiff_quar *q, unsigned h);

/* Bytes put aside for host @h. */
size_t skiff_quar_bytes(const struct skiff_quar *q, unsigned h);

#endif
