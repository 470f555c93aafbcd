/* SPDX-License-Identifier: MIT */
/*
 * keep_errno.h - the errno rule of every exported call (libscif's and
 * libmicmem's api.c): MPSS's calls were thin wrappers over system calls, so
 * errno changed only when a call failed, and programs rely on that.
 */
#ifndef SKIFF_KEEP_ERRNO_H
#define SKIFF_KEEP_ERRNO_H

#include <errno.h>

/* Return @expr (of type @type), keeping the caller's errno unless it is
 * @fail. */
#define SKIFF_KEEP_ERRNO(type, fail, expr)                                     \
	do {                                                                   \
		int e_ = errno;                                                \
		type r_ = (expr);                                              \
		if (r_ != (fail))                                              \
			errno = e_;                                            \
		return r_;                                                     \
	} while (0)

#endif
