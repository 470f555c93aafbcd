/* SPDX-License-Identifier: MIT */
/*
 * scif info: online nodes, ports and connections of one fabric.
 *
 * Nothing is registered anywhere: a port is an abstract AF_UNIX socket named
 * "skiff/<fabric>/n<node>/p<port>", so the kernel's socket table is the
 * fabric's port table. unix_diag lists it with peers; an accepted endpoint
 * carries its listener's name, a connecting one its own port's name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>

#include "nodeq.h"
#include "region.h"
#include "sockdiag.h"
#include "subcommands.h"
#include "tool.h"

enum role { ROLE_UNKNOWN, ROLE_CONNECTOR, ROLE_ACCEPTOR };

struct ep {
	const struct skiff_usock *s; /* NULL: the peer is not a port */
	uint32_t ino;
	uint16_t node, port;
	int pid;
	char comm[16];
	/* large sends from this end (region.h): 1 if its region was read */
	int rdv_known;
	uint32_t rdv_count, rdv_off;
};

struct conn {
	struct ep a, b; /* a is the connector when the roles are known */
	int roles_known;
	int pending; /* b is waiting in a's listener for scif_accept */
};

struct info {
	char fabric[SKIFF_FABRIC_MAX + 1];
	int qret; /* skiff_query_nodes result */
	struct skiff_node_info ni;
	/* a fabric of several hosts (scifd --config): each host and its link */
	struct skiff_host_info hosts[SKIFF_HOSTS_MAX];
	int nhosts; /* skiff_query_hosts result */
	struct skiff_usock_list socks;
	struct ep daemon;  /* daemon.s: the daemon's listening socket */
	size_t daemon_clients;
	struct ep *ports;  /* listening or bound, not connected */
	size_t nports;
	struct conn *conns;
	size_t nconns;
};

static const char *const info_usage =
	"usage: scif info [--fabric NAME] [--json]\n"
	"\n"
	"Show the nodes online in the fabric (asking its scifd), on a fabric of\n"
	"several hosts each host with its nodes and the state of its link, the\n"
	"ports that are bound or listening, and the connections between\n"
	"endpoints, with the process holding each.\n";

/* The port a skiff socket is named after, or -1 if it is not one. */
static int port_of(const struct skiff_usock *s, const char *prefix, size_t plen,
		   uint16_t *node, uint16_t *port)
{
	if (!s || !s->named || !s->abstract || strncmp(s->name, prefix, plen))
		return -1;
	return skiff_parse_port_name(s->name + plen, node, port) < 0 ? -1 : 0;
}

static int is_daemon(const struct skiff_usock *s, const char *prefix, size_t plen)
{
	return s->named && s->abstract && !strncmp(s->name, prefix, plen) &&
	       !strcmp(s->name + plen, "scifd");
}

static void fill_ep(struct ep *e, const struct skiff_usock *s, uint32_t ino,
		    const char *prefix, size_t plen)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	if (s && port_of(s, prefix, plen, &e->node, &e->port) == 0)
		e->s = s;
}

/* Is there a listener named after (node, port)? */
static int listening(const struct info *in, uint16_t node, uint16_t port)
{
	for (size_t i = 0; i < in->nports; i++)
		if (in->ports[i].s->state == SKIFF_US_LISTEN &&
		    in->ports[i].node == node && in->ports[i].port == port)
			return 1;
	return 0;
}

/* The listener whose accept queue holds a connection from @ino (unix_diag's
 * "icons" are the connecting sockets' inodes), or NULL. */
static const struct ep *pending_in(const struct info *in, uint32_t ino)
{
	for (size_t i = 0; i < in->nports; i++) {
		const struct skiff_usock *l = in->ports[i].s;

		for (uint32_t k = 0; k < l->nicons; k++)
			if (l->icons[k] == ino)
				return &in->ports[i];
	}
	return NULL;
}

static int collect(struct info *in)
{
	char prefix[128];
	size_t plen, cap = 0, ccap = 0;
	int ret;

	if (skiff_fabric_prefix(prefix, sizeof(prefix), in->fabric) < 0)
		return -ENAMETOOLONG;
	plen = strlen(prefix);
	ret = skiff_unix_sockets(&in->socks);
	if (ret < 0)
		return ret;

	/* ports first: connection roles are decided by who listens */
	for (size_t i = 0; i < in->socks.n; i++) {
		const struct skiff_usock *s = &in->socks.v[i];
		struct ep e;

		if (is_daemon(s, prefix, plen)) {
			if (s->state == SKIFF_US_LISTEN) {
				memset(&in->daemon, 0, sizeof(in->daemon));
				in->daemon.s = s;
				in->daemon.ino = s->ino;
			} else if (s->state == SKIFF_US_ESTABLISHED)
				in->daemon_clients++;
			continue;
		}
		fill_ep(&e, s, s->ino, prefix, plen);
		if (!e.s || s->state == SKIFF_US_ESTABLISHED)
			continue;
		if (in->nports == cap) {
			cap = cap ? 2 * cap : 16;
			in->ports = skiff_xrealloc(in->ports, cap * sizeof(e));
		}
		in->ports[in->nports++] = e;
	}

	for (size_t i = 0; i < in->socks.n; i++) {
		const struct skiff_usock *s = &in->socks.v[i], *p;
		struct conn c;
		const struct ep *l;

		if (s->state != SKIFF_US_ESTABLISHED)
			continue;
		memset(&c, 0, sizeof(c));
		fill_ep(&c.a, s, s->ino, prefix, plen);
		if (!c.a.s)
			continue;
		p = s->peer ? skiff_usock_find(&in->socks, s->peer) : NULL;
		fill_ep(&c.b, p, s->peer, prefix, plen);
		/* both ends are ports: list the pair once, from its lower inode */
		if (c.b.s && c.b.ino < c.a.ino)
			continue;
		if (c.b.s) {
			int a_acc = listening(in, c.a.node, c.a.port);
			int b_acc = listening(in, c.b.node, c.b.port);

			if (a_acc != b_acc) {
				c.roles_known = 1;
				if (a_acc) { /* put the connector first */
					struct ep t = c.a;
					c.a = c.b;
					c.b = t;
				}
			}
		}
		/* Not accepted yet: the peer is an embryo socket with no inode
		 * (0), and the listener's queue names us. */
		if (!c.b.s && (l = pending_in(in, s->ino))) {
			c.b.s = l->s;
			c.b.node = l->node;
			c.b.port = l->port;
			c.roles_known = 1;
			c.pending = 1;
		}
		if (in->nconns == ccap) {
			ccap = ccap ? 2 * ccap : 16;
			in->conns = skiff_xrealloc(in->conns, ccap * sizeof(c));
		}
		in->conns[in->nconns++] = c;
	}
	return 0;
}

/*
 * How this end sends what is larger than the ring: the producer words of
 * its ring in the connection's region (region.h), read from the process
 * holding it (its maps name the region; process_vm_readv needs the rights
 * over it that ptrace would: our own processes, or root).
 */
static void rdv_state(struct ep *e)
{
	char path[64], line[512];
	FILE *f;

	if (!e->pid || !e->ino)
		return;
	snprintf(path, sizeof(path), "/proc/%d/maps", e->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		struct skiff_region_hdr h;
		struct iovec l = { &h, sizeof(h) }, r;

		if (!strstr(line, "/memfd:skiff-conn") ||
		    sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3 || off ||
		    hi - lo < sizeof(h))
			continue;
		r = (struct iovec){ (void *)lo, sizeof(h) };
		if (process_vm_readv(e->pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(h))
			break; /* not ours to read */
		if (h.magic != SKIFF_REGION_MAGIC || h.version != SKIFF_REGION_VERSION)
			continue;
		for (int side = 0; side < 2; side++)
			if (h.sock_ino[side] == e->ino) {
				e->rdv_known = 1;
				e->rdv_count = h.ring[side].rdv_count;
				e->rdv_off = h.ring[side].rdv_off;
			}
		if (e->rdv_known)
			break;
	}
	fclose(f);
}

/* "single-copy (N)", "ring: EPERM ...", "-" (not looked at) */
static const char *rdv_str(const struct ep *e, char *buf, size_t n)
{
	if (!e->rdv_known)
		snprintf(buf, n, "-");
	else if (e->rdv_off)
		snprintf(buf, n, "ring (%s)", strerror((int)e->rdv_off));
	else
		snprintf(buf, n, "single-copy (%u)", e->rdv_count);
	return buf;
}

/* One scan of /proc for every inode shown. */
static void owners(struct info *in)
{
	size_t n = 0, cap = 1 + in->nports + 2 * in->nconns;
	uint32_t *inos = skiff_xrealloc(NULL, cap * sizeof(*inos));
	struct ep **eps = skiff_xrealloc(NULL, cap * sizeof(*eps));
	int *pids;
	char (*comm)[16];

	if (in->daemon.s)
		eps[n++] = &in->daemon;
	for (size_t i = 0; i < in->nports; i++)
		eps[n++] = &in->ports[i];
	for (size_t i = 0; i < in->nconns; i++) {
		eps[n++] = &in->conns[i].a;
		if (in->conns[i].b.ino && !in->conns[i].pending)
			eps[n++] = &in->conns[i].b;
	}
	/* sort the endpoint pointers by inode (insertion: n is small) */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && eps[j - 1]->ino > eps[j]->ino; j--) {
			struct ep *t = eps[j];
			eps[j] = eps[j - 1];
			eps[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		inos[i] = eps[i]->ino;
	pids = skiff_xrealloc(NULL, (n ? n : 1) * sizeof(*pids));
	comm = skiff_xrealloc(NULL, (n ? n : 1) * sizeof(*comm));
	skiff_socket_owners(inos, n, pids, comm);
	for (size_t i = 0; i < n; i++) {
		eps[i]->pid = pids[i];
		memcpy(eps[i]->comm, comm[i], sizeof(comm[i]));
	}
	for (size_t i = 0; i < in->nconns; i++) {
		rdv_state(&in->conns[i].a);
		if (!in->conns[i].pending)
			rdv_state(&in->conns[i].b);
	}
	free(inos);
	free(eps);
	free(pids);
	free(comm);
}

static const char *ep_name(const struct ep *e, char *buf, size_t n)
{
	if (e->s)
		snprintf(buf, n, "%u:%u", e->node, e->port);
	else if (e->ino)
		snprintf(buf, n, "?(inode %u)", e->ino);
	else
		snprintf(buf, n, "?");
	return buf;
}

static void pid_cells(struct skiff_table *t, const struct ep *e, int pending)
{
	if (pending) {
		skiff_table_cell(t, "-");
		skiff_table_cell(t, "(waiting for scif_accept)");
	} else if (e->pid) {
		char name[16 * 4 + 1];

		skiff_table_cell(t, "%d", e->pid);
		skiff_table_cell(t, "%s",
				 skiff_printable(e->comm, name, sizeof(name)));
	} else {
		skiff_table_cell(t, "-");
		skiff_table_cell(t, "-");
	}
}

static const char *human_bytes(uint64_t v, char *buf, size_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	/* exact multiples only, so no figure is rounded */
	while (u < 4 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%llu %s", (unsigned long long)v, unit[u]);
	return buf;
}

/* Online in the whole fabric; without a daemon, node 0 alone. */
static int node_online(const struct info *in, unsigned n)
{
	return in->qret == 0 ? skiff_node_bit(&in->ni, n) : n == 0;
}

static void print_text(const struct info *in)
{
	struct skiff_table t;
	char a[48], b[48], mem[32];

	printf("fabric:  %s\n", in->fabric);
	if (in->qret == 0) {
		printf("daemon:  scifd pid %u, %u card%s", in->ni.daemon_pid,
		       in->ni.ncards, in->ni.ncards == 1 ? "" : "s");
		if (in->ni.ncards && in->ni.card_mem)
			printf(", %s device memory each",
			       human_bytes(in->ni.card_mem, mem, sizeof(mem)));
		printf("\n");
	} else if (in->qret == -ENOENT) {
		printf("daemon:  %s\n", in->daemon.s ?
		       "a scifd socket exists but nobody answered" :
		       "no daemon (only node 0 is online)");
	} else {
		printf("daemon:  query failed: %s\n", strerror(-in->qret));
	}
	printf("nodes:  ");
	/* runs of more than 9 nodes as FIRST-LAST, shorter ones listed */
	for (unsigned n = 0; n <= SKIFF_MAX_NODE; n++) {
		unsigned e = n;

		if (!node_online(in, n))
			continue;
		while (e < SKIFF_MAX_NODE && node_online(in, e + 1))
			e++;
		if (e - n > 8) {
			printf(" %u-%u", n, e);
		} else {
			for (unsigned k = n; k <= e; k++)
				printf(" %u", k);
		}
		n = e;
	}
	printf("\n");

	if (in->nhosts > 0) {
		static const char *const st[] = { "self", "up", "down" };

		printf("\nhosts:\n");
		skiff_table_init(&t, 5, 0);
		skiff_table_cell(&t, "HOST");
		skiff_table_cell(&t, "ADDRESS");
		skiff_table_cell(&t, "NODES");
		skiff_table_cell(&t, "LINK");
		skiff_table_cell(&t, "SINCE");
		for (int i = 0; i < in->nhosts; i++) {
			const struct skiff_host_info *h = &in->hosts[i];
			int v6 = strchr(h->addr, ':') != NULL;

			skiff_table_cell(&t, "%s", h->name);
			skiff_table_cell(&t, "%s%s%s:%u", v6 ? "[" : "",
					 h->addr, v6 ? "]" : "", h->port);
			if (h->first == h->last)
				skiff_table_cell(&t, "%u", h->first);
			else
				skiff_table_cell(&t, "%u-%u", h->first, h->last);
			skiff_table_cell(&t, "%s", st[h->state]);
			if (h->state == SKIFF_HOST_SELF)
				skiff_table_cell(&t, "-");
			else
				skiff_table_cell(&t, "%llu s ago",
						 (unsigned long long)(h->since_ms / 1000));
		}
		skiff_table_print(&t, stdout, "  ");
		skiff_table_free(&t);
	} else if (in->nhosts < 0) {
		printf("\nhosts:   query failed: %s\n", strerror(-in->nhosts));
	}

	if (!in->socks.have_peers)
		printf("\n(unix_diag unavailable: read /proc/net/unix, "
		       "connections cannot be paired)\n");

	printf("\nports:%s\n", in->nports ? "" : " none");
	if (in->nports) {
		skiff_table_init(&t, 6, 1u << 1);
		skiff_table_cell(&t, "NODE");
		skiff_table_cell(&t, "PORT");
		skiff_table_cell(&t, "STATE");
		skiff_table_cell(&t, "QUEUED");
		skiff_table_cell(&t, "PID");
		skiff_table_cell(&t, "COMMAND");
		for (size_t i = 0; i < in->nports; i++) {
			const struct ep *e = &in->ports[i];
			int l = e->s->state == SKIFF_US_LISTEN;

			skiff_table_cell(&t, "%u", e->node);
			skiff_table_cell(&t, "%u", e->port);
			skiff_table_cell(&t, "%s", l ? "listen" : "bound");
			/* An AF_UNIX listener admits one connection more
			 * than its backlog (unix_recvq_full tests '>'). */
			if (l)
				skiff_table_cell(&t, "%u/%u", e->s->rqueue,
						 e->s->wqueue + 1);
			else
				skiff_table_cell(&t, "-");
			pid_cells(&t, e, 0);
		}
		skiff_table_print(&t, stdout, "  ");
		skiff_table_free(&t);
	}

	printf("\nconnections:%s\n", in->nconns ? "" : " none");
	if (in->nconns) {
		char ra[96], rb[96];

		skiff_table_init(&t, 9, 0);
		skiff_table_cell(&t, "ENDPOINT");
		skiff_table_cell(&t, "PID");
		skiff_table_cell(&t, "COMMAND");
		skiff_table_cell(&t, "LARGE SENDS");
		skiff_table_cell(&t, "%s", "");
		skiff_table_cell(&t, "ENDPOINT");
		skiff_table_cell(&t, "PID");
		skiff_table_cell(&t, "COMMAND");
		skiff_table_cell(&t, "LARGE SENDS");
		for (size_t i = 0; i < in->nconns; i++) {
			const struct conn *c = &in->conns[i];

			skiff_table_cell(&t, "%s", ep_name(&c->a, a, sizeof(a)));
			pid_cells(&t, &c->a, 0);
			skiff_table_cell(&t, "%s", rdv_str(&c->a, ra, sizeof(ra)));
			skiff_table_cell(&t, "<->");
			skiff_table_cell(&t, "%s", ep_name(&c->b, b, sizeof(b)));
			pid_cells(&t, &c->b, c->pending);
			skiff_table_cell(&t, "%s", rdv_str(&c->b, rb, sizeof(rb)));
		}
		skiff_table_print(&t, stdout, "  ");
		skiff_table_free(&t);
	}
}

static void json_ep(const struct ep *e, const char *role, int pending)
{
	if (e->s)
		printf("{\"node\":%u,\"port\":%u,", e->node, e->port);
	else
		printf("{\"node\":null,\"port\":null,");
	if (e->ino)
		printf("\"inode\":%u,", e->ino);
	else /* an embryo socket has none yet */
		printf("\"inode\":null,");
	printf("\"role\":\"%s\",", role);
	if (!e->rdv_known)
		printf("\"rendezvous\":null,");
	else if (e->rdv_off)
		printf("\"rendezvous\":{\"count\":%u,\"off\":\"%s\"},",
		       e->rdv_count, strerrorname_np((int)e->rdv_off) ?
		       strerrorname_np((int)e->rdv_off) : "?");
	else
		printf("\"rendezvous\":{\"count\":%u,\"off\":null},", e->rdv_count);
	if (pending)
		printf("\"pending\":true,\"pid\":null,\"command\":null}");
	else if (e->pid) {
		printf("\"pid\":%d,\"command\":", e->pid);
		skiff_json_string(stdout, e->comm);
		printf("}");
	} else
		printf("\"pid\":null,\"command\":null}");
}

static void print_json(const struct info *in)
{
	printf("{\"fabric\":");
	skiff_json_string(stdout, in->fabric);
	printf(",\"daemon\":");
	if (in->qret == 0)
		printf("{\"pid\":%u,\"cards\":%u,\"card_mem\":%llu,"
		       "\"self\":%u}", in->ni.daemon_pid, in->ni.ncards,
		       (unsigned long long)in->ni.card_mem, in->ni.self_node);
	else
		printf("null");
	if (in->qret != 0 && in->qret != -ENOENT) {
		printf(",\"daemon_error\":");
		skiff_json_string(stdout, strerror(-in->qret));
	}
	printf(",\"nodes\":[");
	for (unsigned n = 0, k = 0; n <= SKIFF_MAX_NODE; n++)
		if (node_online(in, n))
			printf("%s%u", k++ ? "," : "", n);
	printf("],\"hosts\":[");
	for (int i = 0; i < in->nhosts; i++) {
		static const char *const st[] = { "self", "up", "down" };
		const struct skiff_host_info *h = &in->hosts[i];

		printf("%s{\"name\":", i ? "," : "");
		skiff_json_string(stdout, h->name);
		printf(",\"address\":");
		skiff_json_string(stdout, h->addr);
		printf(",\"port\":%u,\"first\":%u,\"last\":%u,\"link\":\"%s\","
		       "\"since_ms\":%llu}", h->port, h->first, h->last,
		       st[h->state], (unsigned long long)h->since_ms);
	}
	printf("],\"peers_known\":%s,\"ports\":[",
	       in->socks.have_peers ? "true" : "false");
	for (size_t i = 0; i < in->nports; i++) {
		const struct ep *e = &in->ports[i];
		int l = e->s->state == SKIFF_US_LISTEN;

		printf("%s{\"node\":%u,\"port\":%u,\"state\":\"%s\",\"inode\":%u,",
		       i ? "," : "", e->node, e->port, l ? "listen" : "bound",
		       e->ino);
		if (l)
			printf("\"queued\":%u,\"capacity\":%u,", e->s->rqueue,
			       e->s->wqueue + 1);
		if (e->pid) {
			printf("\"pid\":%d,\"command\":", e->pid);
			skiff_json_string(stdout, e->comm);
			printf("}");
		} else {
			printf("\"pid\":null,\"command\":null}");
		}
	}
	printf("],\"connections\":[");
	for (size_t i = 0; i < in->nconns; i++) {
		const struct conn *c = &in->conns[i];

		printf("%s{\"ends\":[", i ? "," : "");
		json_ep(&c->a, c->roles_known ? "connector" : "unknown", 0);
		printf(",");
		json_ep(&c->b, c->roles_known ? "acceptor" : "unknown",
			c->pending);
		printf("]}");
	}
	printf("]}\n");
}

int skiff_cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fabric", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *fabric = NULL;
	struct info in;
	int json = 0, c, ret;

	memset(&in, 0, sizeof(in));
	optind = 0;
	while ((c = getopt_long(argc, argv, "f:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fabric = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(info_usage, stdout);
			return SKIFF_EXIT_OK;
		default:
			fputs(info_usage, stderr);
			return SKIFF_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		skiff_err("info: unexpected argument '%s'", argv[optind]);
		fputs(info_usage, stderr);
		return SKIFF_EXIT_USAGE;
	}
	if (skiff_tool_fabric(fabric, in.fabric) < 0)
		return SKIFF_EXIT_USAGE;

	in.qret = skiff_query_nodes(in.fabric, &in.ni);
	if (in.qret == 0 && (in.ni.flags & SKIFF_NODE_INFO_HOSTS))
		in.nhosts = skiff_query_hosts(in.fabric, in.hosts,
					      SKIFF_HOSTS_MAX);
	ret = collect(&in);
	if (ret < 0) {
		skiff_err("info: cannot list sockets: %s", strerror(-ret));
		return SKIFF_EXIT_FAIL;
	}
	owners(&in);
	if (json)
		print_json(&in);
	else
		print_text(&in);
	free(in.ports);
	free(in.conns);
	skiff_usock_list_free(&in.socks);
	return SKIFF_EXIT_OK;
}
