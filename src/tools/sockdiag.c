/* SPDX-License-Identifier: MIT */
#include "sockdiag.h"
#include "tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>

#define DUMP_BUF 32768

static struct skiff_usock *push(struct skiff_usock_list *l, size_t *cap)
{
	if (l->n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		l->v = skiff_xrealloc(l->v, *cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static void set_name(struct skiff_usock *s, const char *p, size_t len)
{
	if (len == 0)
		return;
	s->named = 1;
	if (p[0] == '\0') {
		s->abstract = 1;
		p++;
		len--;
	}
	if (len > sizeof(s->name) - 1)
		len = sizeof(s->name) - 1;
	memcpy(s->name, p, len);
	s->name[len] = '\0';
	/* a pathname address may carry its terminating NUL in the length */
}

static int parse_one(const struct nlmsghdr *h, struct skiff_usock *s)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a;
	int alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EPROTO;
	s->ino = m->udiag_ino;
	s->type = m->udiag_type;
	s->state = m->udiag_state;
	a = (const struct rtattr *)(m + 1);
	alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		size_t plen = RTA_PAYLOAD(a);
		const void *p = RTA_DATA(a);

		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			set_name(s, p, plen);
			break;
		case UNIX_DIAG_PEER:
			if (plen >= sizeof(uint32_t))
				memcpy(&s->peer, p, sizeof(uint32_t));
			break;
		case UNIX_DIAG_RQLEN:
			if (plen >= sizeof(struct unix_diag_rqlen)) {
				struct unix_diag_rqlen q;

				memcpy(&q, p, sizeof(q));
				s->rqueue = q.udiag_rqueue;
				s->wqueue = q.udiag_wqueue;
			}
			break;
		case UNIX_DIAG_ICONS:
			s->nicons = (uint32_t)(plen / sizeof(uint32_t));
			if (s->nicons) {
				s->icons = skiff_xrealloc(NULL, plen);
				memcpy(s->icons, p, s->nicons * sizeof(uint32_t));
			}
			break;
		}
	}
	return 0;
}

static int from_netlink(struct skiff_usock_list *l)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	size_t cap = 0;
	char *buf;
	int fd, ret = 0, done = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = ~0u;
	req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER |
			   UDIAG_SHOW_RQLEN | UDIAG_SHOW_ICONS;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	buf = skiff_xrealloc(NULL, DUMP_BUF);
	while (!done && ret == 0) {
		ssize_t n = recv(fd, buf, DUMP_BUF, 0);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -EPROTO;
			break;
		}
		len = (int)n;
		for (; NLMSG_OK(h, (unsigned)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				ret = e->error ? e->error : -EPROTO;
				break;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
				continue;
			ret = parse_one(h, push(l, &cap));
			if (ret < 0)
				break;
		}
	}
	free(buf);
	close(fd);
	l->have_peers = 1;
	return ret;
}

static int from_proc(struct skiff_usock_list *l)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	size_t cap = 0;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return -EPROTO;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned flags, type, st;
		unsigned long ino;
		int used = 0;
		struct skiff_usock *s;
		char *path;

		if (sscanf(line, "%*s %*x %*x %x %x %x %lu%n", &flags, &type,
			   &st, &ino, &used) != 4)
			continue;
		s = push(l, &cap);
		s->ino = (uint32_t)ino;
		s->type = (uint8_t)type;
		/* __SO_ACCEPTCON marks a listener; st 3 is SS_CONNECTED */
		s->state = (flags & 0x10000) ? SKIFF_US_LISTEN :
			   st == 3 ? SKIFF_US_ESTABLISHED : SKIFF_US_CLOSE;
		path = line + used;
		while (*path == ' ')
			path++;
		path[strcspn(path, "\n")] = '\0';
		if (*path == '@') { /* abstract: '@' stands for the NUL */
			s->named = s->abstract = 1;
			snprintf(s->name, sizeof(s->name), "%s", path + 1);
		} else if (*path) {
			s->named = 1;
			snprintf(s->name, sizeof(s->name), "%s", path);
		}
	}
	fclose(f);
	l->have_peers = 0;
	return 0;
}

static int cmp_ino(const void *a, const void *b)
{
	uint32_t x = ((const struct skiff_usock *)a)->ino;
	uint32_t y = ((const struct skiff_usock *)b)->ino;

	return (x > y) - (x < y);
}

int skiff_unix_sockets(struct skiff_usock_list *l)
{
	int ret;

	memset(l, 0, sizeof(*l));
	ret = from_netlink(l);
	if (ret < 0) {
		skiff_usock_list_free(l);
		ret = from_proc(l);
	}
	if (ret < 0) {
		skiff_usock_list_free(l);
		return ret;
	}
	qsort(l->v, l->n, sizeof(*l->v), cmp_ino);
	return 0;
}

struct skiff_usock *skiff_usock_find(const struct skiff_usock_list *l,
				     uint32_t ino)
{
	struct skiff_usock key = { .ino = ino };

	return bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_ino);
}

void skiff_usock_list_free(struct skiff_usock_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].icons);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void read_comm(int pid, char comm[16])
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, 15);
	close(fd);
	if (n < 0)
		n = 0;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

void skiff_socket_owners(const uint32_t *inos, size_t n, int *pids,
			 char (*comm)[16])
{
	DIR *proc;
	struct dirent *pe;

	memset(pids, 0, n * sizeof(*pids));
	for (size_t i = 0; i < n; i++)
		comm[i][0] = '\0';
	if (n == 0 || !(proc = opendir("/proc")))
		return;
	while ((pe = readdir(proc))) {
		char path[64], link[64];
		struct dirent *fe;
		DIR *fds;
		int pid;

		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		pid = atoi(pe->d_name);
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			unsigned long ino;
			uint32_t key, *hit;
			ssize_t k;

			if (fe->d_name[0] == '.')
				continue;
			k = readlinkat(dirfd(fds), fe->d_name, link,
				       sizeof(link) - 1);
			if (k <= 0)
				continue;
			link[k] = '\0';
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			key = (uint32_t)ino;
			hit = bsearch(&key, inos, n, sizeof(*inos), cmp_u32);
			if (!hit)
				continue;
			/* lowest pid: the parent of a fork usually */
			size_t i = (size_t)(hit - inos);
			if (pids[i] == 0 || pid < pids[i]) {
				pids[i] = pid;
				read_comm(pid, comm[i]);
			}
		}
		closedir(fds);
	}
	closedir(proc);
}
