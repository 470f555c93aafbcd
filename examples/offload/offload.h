/* SPDX-License-Identifier: MIT */
/* offload.h - what offload_host and offload_card say to each other. */
#ifndef OFFLOAD_H
#define OFFLOAD_H

#include <stdint.h>

#define OFFLOAD_PORT 2050

/* host -> card: square @count uint64_t at byte @dev_addr of board 0's
 * memory (page-aligned). card -> host: the same record once done, with
 * @count set to the number of elements squared. */
struct offload_msg {
	uint64_t dev_addr;
	uint64_t count;
};

#endif
