/* SPDX-License-Identifier: MIT */
/*
 * bench_pair.c - see bench_pair.h. The same set-up as bench_lat.c: fork
 * before any endpoint exists (no libscif state crosses the fork), the child
 * learns the parent's port through a pipe and connects.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_* */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_pair.h"
#include "knob.h"
#include "tool.h"

#define ACCEPT_TIMEOUT_MS 10000

int skiff_pair_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void child_connect(struct skiff_pair *p, int rfd)
{
	struct scif_portID dst = { 0 };
	uint16_t nodes[1], self = 0;

	if (skiff_pair_pin(p->cpu[1]) < 0)
		skiff_err("%s: child: sched_setaffinity: %s", p->who,
			  strerror(errno));
	if (read(rfd, &dst.port, sizeof(dst.port)) != sizeof(dst.port))
		_exit(1); /* the parent failed and said why */
	close(rfd);
	if (scif_get_nodeIDs(nodes, 1, &self) >= 0)
		dst.node = self;
	for (int i = 0; i < p->nep; i++) {
		uint32_t idx = (uint32_t)i;

		p->ep[i] = scif_open();
		if (p->ep[i] == SCIF_OPEN_FAILED) {
			skiff_err("%s: child: scif_open: %s", p->who,
				  strerror(errno));
			_exit(1);
		}
		if (scif_connect(p->ep[i], &dst) < 0) {
			skiff_err("%s: child: scif_connect %u:%u: %s", p->who,
				  dst.node, dst.port, strerror(errno));
			_exit(1);
		}
		/* tell which one this is: accept order need not matter */
		if (skiff_pair_send(p->ep[i], &idx, sizeof(idx)) < 0) {
			skiff_err("%s: child: scif_send: %s", p->who,
				  strerror(errno));
			_exit(1);
		}
	}
}

int skiff_pair_start(struct skiff_pair *p, const char *who, int nep,
		     int dopin, int pin_parent)
{
	scif_epd_t lep, got[SKIFF_PAIR_MAX_EPS];
	struct scif_portID peer;
	cpu_set_t avail;
	int pfd[2], port;
	uint16_t p16;
	pid_t child;

	memset(p, 0, sizeof(*p));
	p->who = who;
	p->nep = nep;
	p->cpu[0] = p->cpu[1] = -1;
	for (int i = 0; i < SKIFF_PAIR_MAX_EPS; i++)
		p->ep[i] = got[i] = SCIF_OPEN_FAILED;
	if (sched_getaffinity(0, sizeof(avail), &avail) == 0) {
		p->ncpu = CPU_COUNT(&avail);
		for (int i = 0; i < CPU_SETSIZE && dopin && p->ncpu >= 2; i++) {
			if (!CPU_ISSET(i, &avail))
				continue;
			if (p->cpu[0] < 0)
				p->cpu[0] = i;
			else if (p->cpu[1] < 0)
				p->cpu[1] = i;
		}
	}
	if (p->cpu[1] < 0)
		p->cpu[0] = -1;
	p->spin_yield = p->ncpu < 2;

	if (pipe(pfd) < 0) {
		skiff_err("%s: pipe: %s", who, strerror(errno));
		return -1;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		skiff_err("%s: fork: %s", who, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		close(pfd[1]);
		p->is_child = 1;
		p->other = getppid();
		child_connect(p, pfd[0]);
		return 1;
	}
	close(pfd[0]);
	p->other = child;
	if (pin_parent && skiff_pair_pin(p->cpu[0]) < 0)
		skiff_err("%s: sched_setaffinity: %s", who, strerror(errno));

	lep = scif_open();
	if (lep == SCIF_OPEN_FAILED) {
		skiff_err("%s: scif_open: %s", who, strerror(errno));
		goto fail;
	}
	port = scif_bind(lep, 0);
	if (port < 0 || scif_listen(lep, nep) < 0) {
		skiff_err("%s: scif_%s: %s", who, port < 0 ? "bind" : "listen",
			  strerror(errno));
		goto fail;
	}
	p16 = (uint16_t)port;
	if (write(pfd[1], &p16, sizeof(p16)) != sizeof(p16)) {
		skiff_err("%s: pipe write: %s", who, strerror(errno));
		goto fail;
	}
	for (int i = 0; i < nep; i++) {
		struct scif_pollepd pe = { .epd = lep, .events = SCIF_POLLIN };
		uint32_t idx;

		if (scif_poll(&pe, 1, ACCEPT_TIMEOUT_MS) <= 0) {
			skiff_err("%s: the child did not connect", who);
			goto fail;
		}
		if (scif_accept(lep, &peer, &got[i], SCIF_ACCEPT_SYNC) < 0) {
			skiff_err("%s: scif_accept: %s", who, strerror(errno));
			goto fail;
		}
		if (skiff_pair_recv(got[i], &idx, sizeof(idx)) < 0 ||
		    idx >= (uint32_t)nep || p->ep[idx] != SCIF_OPEN_FAILED) {
			skiff_err("%s: connection %d: no index from the child",
				  who, i);
			goto fail;
		}
		p->ep[idx] = got[i];
		got[i] = SCIF_OPEN_FAILED;
	}
	scif_close(lep);
	close(pfd[1]);
	return 0;
fail:
	for (int i = 0; i < nep; i++)
		if (got[i] != SCIF_OPEN_FAILED)
			scif_close(got[i]);
	if (lep != SCIF_OPEN_FAILED)
		scif_close(lep);
	close(pfd[1]);
	skiff_pair_abort(p);
	return -1;
}

int skiff_pair_finish(struct skiff_pair *p, int status)
{
	int st;

	for (int i = 0; i < p->nep; i++)
		if (p->ep[i] != SCIF_OPEN_FAILED) {
			scif_close(p->ep[i]);
			p->ep[i] = SCIF_OPEN_FAILED;
		}
	if (p->is_child)
		_exit(status);
	if (p->other <= 0)
		return -1;
	if (waitpid(p->other, &st, 0) != p->other)
		return -1;
	p->other = 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

void skiff_pair_abort(struct skiff_pair *p)
{
	for (int i = 0; i < p->nep; i++)
		if (p->ep[i] != SCIF_OPEN_FAILED) {
			scif_close(p->ep[i]);
			p->ep[i] = SCIF_OPEN_FAILED;
		}
	if (!p->is_child && p->other > 0) {
		kill(p->other, SIGKILL);
		waitpid(p->other, NULL, 0);
		p->other = 0;
	}
}

int skiff_pair_alive(struct skiff_pair *p)
{
	if (++p->spins & 0xffffff)
		return 1;
	if (!p->is_child)
		return waitpid(p->other, NULL, WNOHANG) == 0;
	return getppid() == p->other;
}

void skiff_pair_relax(const struct skiff_pair *p)
{
	if (p->spin_yield)
		sched_yield();
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

scif_epd_t skiff_remote_accept(const char *who, uint16_t port,
			       unsigned timeout_s)
{
	scif_epd_t lep = scif_open(), ep = SCIF_OPEN_FAILED;
	struct scif_pollepd pe = { .events = SCIF_POLLIN };
	struct scif_portID peer;
	uint16_t nodes[1], self = 0;
	int bound, r;

	if (lep == SCIF_OPEN_FAILED) {
		skiff_err("%s: scif_open: %s", who, strerror(errno));
		return SCIF_OPEN_FAILED;
	}
	bound = scif_bind(lep, port);
	if (bound < 0 || scif_listen(lep, 1) < 0) {
		skiff_err("%s: scif_%s port %u: %s", who,
			  bound < 0 ? "bind" : "listen", port, strerror(errno));
		goto out;
	}
	if (scif_get_nodeIDs(nodes, 1, &self) < 0)
		self = 0;
	printf("%s: serving on node %u port %d\n", who, self, bound);
	fflush(stdout);
	pe.epd = lep;
	r = scif_poll(&pe, 1, timeout_s ? (long)timeout_s * 1000 : -1);
	if (r <= 0) {
		skiff_err("%s: %s", who, r == 0 ? "no client connected in time"
			  : strerror(errno));
		goto out;
	}
	if (scif_accept(lep, &peer, &ep, SCIF_ACCEPT_SYNC) < 0) {
		skiff_err("%s: scif_accept: %s", who, strerror(errno));
		ep = SCIF_OPEN_FAILED;
		goto out;
	}
	printf("%s: client %u:%u connected\n", who, peer.node, peer.port);
	fflush(stdout);
out:
	scif_close(lep);
	return ep;
}

scif_epd_t skiff_remote_connect(const char *who, uint16_t node,
				uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	scif_epd_t ep = scif_open();

	if (ep == SCIF_OPEN_FAILED) {
		skiff_err("%s: scif_open: %s", who, strerror(errno));
		return SCIF_OPEN_FAILED;
	}
	if (scif_connect(ep, &dst) < 0) {
		int e = errno;

		skiff_err("%s: scif_connect %u:%u: %s%s", who, node, port,
			  strerror(e),
			  e == ECONNREFUSED ? " (is the benchmark's --serve "
			  "running on that node and port?)" :
			  e == ENODEV ? " (that node is not online in this "
			  "fabric: scif info lists the nodes)" : "");
		scif_close(ep);
		return SCIF_OPEN_FAILED;
	}
	return ep;
}

int skiff_pair_send(scif_epd_t ep, const void *buf, size_t n)
{
	const char *b = buf;

	while (n) {
		int k = n > (1u << 30) ? 1 << 30 : (int)n;
		int r = scif_send(ep, (void *)b, k, SCIF_SEND_BLOCK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int skiff_pair_recv(scif_epd_t ep, void *buf, size_t n)
{
	char *b = buf;

	while (n) {
		int k = n > (1u << 30) ? 1 << 30 : (int)n;
		int r = scif_recv(ep, b, k, SCIF_RECV_BLOCK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int skiff_parse_size(const char *s, uint64_t *out)
{
	/* the library's knob parser: the same suffixes everywhere */
	return skiff_parse_u64(s, 1, 1ull << 40, SKIFF_KNOB_SIZE, out) < 0
		       ? -EINVAL
		       : 0;
}

int skiff_parse_sizes(const char *list, uint64_t *sizes, unsigned max,
		      unsigned *n)
{
	char *copy = strdup(list), *save = NULL, *tok;
	unsigned k = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (k == max || skiff_parse_size(tok, &sizes[k]) < 0) {
			free(copy);
			return -EINVAL;
		}
		k++;
	}
	free(copy);
	if (!k)
		return -EINVAL;
	for (unsigned i = 1; i < k; i++) /* ascending: tables and plots */
		for (unsigned j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
			uint64_t x = sizes[j];

			sizes[j] = sizes[j - 1];
			sizes[j - 1] = x;
		}
	*n = k;
	return 0;
}

const char *skiff_size_str(uint64_t n, char *buf)
{
	if (n >= (1ull << 30) && !(n & ((1ull << 30) - 1)))
		snprintf(buf, 32, "%llu GiB", (unsigned long long)(n >> 30));
	else if (n >= (1ull << 20) && !(n & ((1ull << 20) - 1)))
		snprintf(buf, 32, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n >= 1024 && !(n & 1023))
		snprintf(buf, 32, "%llu KiB", (unsigned long long)(n >> 10));
	else
		snprintf(buf, 32, "%llu B", (unsigned long long)n);
	return buf;
}

void *skiff_touched(size_t n, int byte)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, byte, n);
	return p;
}
