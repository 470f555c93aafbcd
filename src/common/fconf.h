/* SPDX-License-Identifier: MIT */
/*
 * fconf.h - the fabric file: which hosts make up a SCIF fabric spanning
 * several machines, where their daemons listen and which node ids each owns
 * (issue 10; the format is skiff-fabric(5)). The same file is given to
 * every host's scifd.
 *
 *   host NAME ADDRESS[:PORT] nodes FIRST-LAST     # FIRST is the host itself
 *   host NAME ADDRESS[:PORT] nodes N              # a host without cards
 *
 * Every malformed, overlapping or missing thing is -EINVAL with one line
 * naming the file and line: scifd prints it as it is.
 */
#ifndef SKIFF_FCONF_H
#define SKIFF_FCONF_H

#include <stddef.h>
#include <stdint.h>

#define SKIFF_FHOSTS_MAX 64		/* hosts in one fabric */
#define SKIFF_FHOST_NAME_MAX 63		/* characters of a host's NAME */
#define SKIFF_FHOST_ADDR_MAX 253	/* a DNS name; literals are shorter */
#define SKIFF_FABRIC_PORT_DEFAULT 7351	/* the daemons' port when not given */
#define SKIFF_FCONF_LINE_MAX 1024	/* bytes of a line, without its end */
#define SKIFF_FCONF_FILE_MAX (1u << 20) /* bytes skiff_fconf_load reads */

struct skiff_fhost {
	char name[SKIFF_FHOST_NAME_MAX + 1];
	char addr[256];	 /* as written; an IPv6 literal without brackets */
	uint16_t port;	 /* never 0 */
	uint16_t first;	 /* the host's own node id */
	uint16_t last;	 /* its last card (== first: no card) */
	unsigned line;	 /* where it was declared, for messages */
};

struct skiff_fconf {
	struct skiff_fhost host[SKIFF_FHOSTS_MAX]; /* in the file's order */
	unsigned nhosts;
};

/*
 * Parse @len bytes of @text (any bytes: no NUL terminator is needed, NUL
 * bytes are an error) into @out. @fname names the text in messages. On
 * error returns -EINVAL, leaves @out with no host and writes one line
 * (without a newline) to @err when @errlen > 0:
 * "FILE:LINE: what is wrong", "FILE: no host" or "FILE: no host owns node 0".
 */
int skiff_fconf_parse(const char *text, size_t len, const char *fname,
		      struct skiff_fconf *out, char *err, size_t errlen);

/*
 * Read the file at @path (at most SKIFF_FCONF_FILE_MAX bytes) and parse it.
 * 0, -EINVAL (see skiff_fconf_parse), -EFBIG (too large) or the -errno of
 * open/read ("PATH: No such file or directory" in @err).
 */
int skiff_fconf_load(const char *path, struct skiff_fconf *out, char *err,
		     size_t errlen);

/* The host called @name, or NULL. */
const struct skiff_fhost *skiff_fconf_find(const struct skiff_fconf *c,
					   const char *name);

/* The host owning @node (as itself or as one of its cards), or NULL. */
const struct skiff_fhost *skiff_fconf_node(const struct skiff_fconf *c,
					   unsigned node);

#endif
