/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* struct ucred */
#include "names.h"
#include "knob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

int skiff_fabric(char out[SKIFF_FABRIC_MAX + 1])
{
	const char *f = getenv("SCIF_FABRIC");
	size_t n;

	if (!f || !*f)
		f = SKIFF_FABRIC_DEFAULT;
	n = strlen(f);
	if (n > SKIFF_FABRIC_MAX)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = f[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	memcpy(out, f, n + 1);
	return 0;
bad:
	return -EINVAL;
}

int skiff_self_node(void)
{
	const char *s = getenv("SCIF_NODE");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return 0;
	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end)
		goto bad;
	if (errno || v > SKIFF_MAX_NODE) {
		skiff_log(SKIFF_LOG_WARN, "SCIF_NODE=%s: no such node (nodes are "
			  "0 to %d)", s, SKIFF_MAX_NODE);
		return -ENODEV;
	}
	return (int)v;
bad:
	skiff_log(SKIFF_LOG_WARN, "SCIF_NODE=%s is not a node number", s);
	return -EINVAL;
}

static socklen_t abstract(struct sockaddr_un *sa, const char *name)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n > sizeof(sa->sun_path) - 1)
		n = sizeof(sa->sun_path) - 1;
	memcpy(sa->sun_path + 1, name, n); /* sun_path[0] = 0: abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

socklen_t skiff_port_addr(struct sockaddr_un *sa, const char *fabric,
			  uint16_t node, uint16_t port)
{
	char name[128];

	snprintf(name, sizeof(name), "skiff/%s/n%u/p%u", fabric, node, port);
	return abstract(sa, name);
}

socklen_t skiff_daemon_addr(struct sockaddr_un *sa, const char *fabric)
{
	char name[128];

	snprintf(name, sizeof(name), "skiff/%s/scifd", fabric);
	return abstract(sa, name);
}

socklen_t skiff_relay_addr(struct sockaddr_un *sa, const char *fabric)
{
	char name[128];

	snprintf(name, sizeof(name), "skiff/%s/relay", fabric);
	return abstract(sa, name);
}

int skiff_fabric_prefix(char *buf, size_t n, const char *fabric)
{
	int r = snprintf(buf, n, "skiff/%s/", fabric);

	return (r < 0 || (size_t)r >= n) ? -ENAMETOOLONG : 0;
}

/* Digits only, no sign, no leading zero, at most @max: the one spelling
 * names.c itself produces, so a name maps to exactly one (node, port). */
static const char *parse_num(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (unsigned)(*s - '0')) > max)
			return NULL;
	*out = v;
	return s;
}

int skiff_parse_port_name(const char *s, uint16_t *node, uint16_t *port)
{
	unsigned n, p;

	if (*s++ != 'n' || !(s = parse_num(s, SKIFF_MAX_NODE, &n)) ||
	    *s++ != '/' || *s++ != 'p' || !(s = parse_num(s, 0xffff, &p)) ||
	    *s != '\0')
		return -EINVAL;
	*node = (uint16_t)n;
	*port = (uint16_t)p;
	return 0;
}

int skiff_peer_entitled(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (len != sizeof(cr) || cr.uid == (uid_t)-1)
		return -EACCES; /* no credentials: nobody vouches for it */
	return cr.uid == 0 || cr.uid == geteuid() ? 0 : -EACCES;
}
