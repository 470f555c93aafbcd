/* SPDX-License-Identifier: MIT */
/* fdpass.h - one descriptor over an AF_UNIX socket (SCM_RIGHTS). */
#ifndef SKIFF_FDPASS_H
#define SKIFF_FDPASS_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Room for the control message of a received record: more descriptors than
 * we accept, so that extra ones arrive (and get closed) instead of being
 * cut off silently. */
#define SKIFF_CMSG_SPACE CMSG_SPACE(4 * sizeof(int))

/* sendmsg() of @iov with @fd attached (none if @fd < 0). Returns what
 * sendmsg returns; errno is left as it set it. */
ssize_t skiff_send_fd(int sock, struct iovec *iov, int iovcnt, int fd,
		      int flags);

/* After recvmsg(): the first descriptor the record carried, or -1; any
 * further ones are closed (a peer may attach more than we asked for). */
int skiff_take_fd(struct msghdr *mh);

#endif
