/* SPDX-License-Identifier: MIT */
/*
 * fconf.c - the fabric file parser (fconf.h, skiff-fabric(5)).
 *
 * The text is scanned in place, a line at a time, and never read past
 * @len: it may come from anywhere (a file an administrator edited, a fuzzer)
 * and need not be NUL-terminated. The first error ends the parse.
 */
#define _GNU_SOURCE
#include "fconf.h"

#include "names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USAGE "expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST"

struct pctx {
	const char *fname;
	char *err;
	size_t errlen;
	unsigned line;
};

struct tok {
	const char *p;
	size_t n;
};

static int fail(const struct pctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "FILE:LINE: message" (or "FILE: message" for line 0) into x->err. */
static int fail(const struct pctx *x, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!x->err || !x->errlen)
		return -EINVAL;
	k = x->line ? snprintf(x->err, x->errlen, "%s:%u: ", x->fname, x->line)
		    : snprintf(x->err, x->errlen, "%s: ", x->fname);
	if (k >= 0 && (size_t)k < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + k, x->errlen - k, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A token for a message: printable (the line was checked) and cut at 64
 * bytes, so that a 1 KiB token still gives a readable one-line error. */
static const char *q(char buf[72], struct tok t)
{
	if (t.n > 64)
		snprintf(buf, 72, "%.64s...", t.p);
	else
		snprintf(buf, 72, "%.*s", (int)t.n, t.p);
	return buf;
}

static int is_eq(struct tok t, const char *s)
{
	return t.n == strlen(s) && memcmp(t.p, s, t.n) == 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Decimal digits only (no sign, no blank), saturating at 99999 so that a
 * long run of digits cannot wrap into range. -1 if not a number. */
static long num(const char *p, size_t n)
{
	long v = 0;

	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
		if (v > 99999)
			v = 99999;
	}
	return v;
}

static int name_ok(struct tok t)
{
	if (t.n < 1 || t.n > SKIFF_FHOST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < t.n; i++)
		if (!is_alnum(t.p[i]) && !strchr("._-", t.p[i]))
			return 0;
	return 1;
}

/* A DNS host name: [A-Za-z0-9.-], 1-253 characters, labels of 1-63. */
static int dns_ok(const char *p, size_t n)
{
	size_t label = 0;

	if (n < 1 || n > SKIFF_FHOST_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (is_alnum(p[i]) || p[i] == '-') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* Whether @a and @b (as stored in skiff_fhost.addr) name the same address:
 * IPv6 literals compared as addresses ([::1] is [0::1]), host names
 * without regard to case, as DNS does. */
static int same_addr(const char *a, const char *b)
{
	struct in6_addr x, y;

	if (strchr(a, ':') && strchr(b, ':'))
		return inet_pton(AF_INET6, a, &x) == 1 &&
		       inet_pton(AF_INET6, b, &y) == 1 &&
		       memcmp(&x, &y, sizeof(x)) == 0;
	return strcasecmp(a, b) == 0;
}

static void fmt_addr(char *buf, size_t n, const struct skiff_fhost *h)
{
	if (strchr(h->addr, ':'))
		snprintf(buf, n, "[%s]:%u", h->addr, h->port);
	else
		snprintf(buf, n, "%s:%u", h->addr, h->port);
}

static void fmt_range(char buf[16], unsigned first, unsigned last)
{
	if (first == last)
		snprintf(buf, 16, "%u", first);
	else
		snprintf(buf, 16, "%u-%u", first, last);
}

/* ADDRESS[:PORT] into h->addr and h->port. */
static int parse_addr(const struct pctx *x, struct tok t, struct skiff_fhost *h)
{
	const char *host = t.p, *port = NULL, *colon;
	size_t hn = t.n, pn = 0;
	char b[72], lit[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	int v6 = 0, v4 = 1;
	long pv;

	if (t.n && t.p[0] == '[') {
		const char *close = memchr(t.p, ']', t.n);

		/* the literal, then nothing or ':' and the port */
		if (!close || (close + 1 < t.p + t.n && close[1] != ':'))
			return fail(x, "'%s' is not an IPv6 address in brackets",
				    q(b, t));
		host = t.p + 1;
		hn = close - host;
		if (close + 1 < t.p + t.n) {
			port = close + 2;
			pn = t.p + t.n - port;
		}
		v6 = 1;
	} else if ((colon = memchr(t.p, ':', t.n))) {
		if (memchr(colon + 1, ':', t.p + t.n - colon - 1))
			return fail(x,
				    "'%s': an IPv6 address must be in brackets, as [::1]:%u",
				    q(b, t), SKIFF_FABRIC_PORT_DEFAULT);
		hn = colon - t.p;
		port = colon + 1;
		pn = t.p + t.n - port;
	}

	if (v6) {
		if (hn >= sizeof(lit))
			return fail(x, "'%s' is not an IPv6 address in brackets",
				    q(b, t));
		memcpy(lit, host, hn);
		lit[hn] = 0;
		if (inet_pton(AF_INET6, lit, bin) != 1)
			return fail(x, "'%s' is not an IPv6 address in brackets",
				    q(b, t));
	} else {
		/* digits and dots only: meant as IPv4, so it must be one (no
		 * DNS name has an all-numeric top label) */
		for (size_t i = 0; i < hn; i++)
			if (!is_digit(host[i]) && host[i] != '.')
				v4 = 0;
		if (v4 && hn) {
			struct tok ht = { host, hn };

			if (hn >= sizeof(lit))
				return fail(x, "'%s' is not an IPv4 address",
					    q(b, ht));
			memcpy(lit, host, hn);
			lit[hn] = 0;
			if (inet_pton(AF_INET, lit, bin) != 1)
				return fail(x, "'%s' is not an IPv4 address",
					    q(b, ht));
		} else if (!dns_ok(host, hn)) {
			struct tok ht = { host, hn };

			return fail(x,
				    "'%s' is not a host name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)",
				    q(b, ht));
		}
	}

	if (port) {
		struct tok pt = { port, pn };

		pv = num(port, pn);
		if (pv < 1 || pv > 65535)
			return fail(x, "port '%s' is not a number from 1 to 65535",
				    q(b, pt));
	} else {
		pv = SKIFF_FABRIC_PORT_DEFAULT;
	}
	memcpy(h->addr, host, hn);
	h->addr[hn] = 0;
	h->port = (uint16_t)pv;
	return 0;
}

/* FIRST-LAST or N into h->first and h->last. */
static int parse_range(const struct pctx *x, struct tok t, struct skiff_fhost *h)
{
	const char *dash = memchr(t.p, '-', t.n);
	size_t n1 = dash ? (size_t)(dash - t.p) : t.n;
	long a = num(t.p, n1), z = dash ? num(dash + 1, t.p + t.n - dash - 1) : a;
	char b[72];

	if (a < 0 || z < 0)
		return fail(x, "node range '%s' is not FIRST-LAST or N", q(b, t));
	if (a > SKIFF_MAX_NODE || z > SKIFF_MAX_NODE)
		return fail(x, "node range '%s' goes beyond node %d", q(b, t),
			    SKIFF_MAX_NODE);
	if (a > z)
		return fail(x, "node range '%s' runs backwards (FIRST > LAST)",
			    q(b, t));
	h->first = (uint16_t)a;
	h->last = (uint16_t)z;
	return 0;
}

/* Split the line's non-comment part into at most 6 tokens (a sixth is
 * only there to be reported); returns how many. */
static unsigned split(const char *p, size_t n, struct tok t[6])
{
	unsigned k = 0;
	size_t i = 0;

	while (i < n && k < 6) {
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == n)
			break;
		t[k].p = p + i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		t[k].n = p + i - t[k].p;
		k++;
	}
	return k;
}

static int parse_line(const struct pctx *x, const char *p, size_t n,
		      struct skiff_fconf *out)
{
	static const char *const what[] = { "", "NAME", "ADDRESS[:PORT]",
					    "nodes", "FIRST-LAST" };
	struct skiff_fhost h;
	struct tok t[6];
	const char *hash;
	char b[72], r1[16], r2[16], a1[300];
	unsigned k;
	int rc;

	if (n > SKIFF_FCONF_LINE_MAX)
		return fail(x, "line longer than %u bytes", SKIFF_FCONF_LINE_MAX);
	/* a comment may hold anything but NUL (UTF-8, say); the rest of the
	 * line is printable ASCII, spaces and tabs */
	hash = memchr(p, '#', n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == 0 || (p + i < (hash ? hash : p + n) && c != '\t' &&
			       (c < 0x20 || c > 0x7e)))
			return fail(x, "unexpected byte 0x%02x at column %zu", c,
				    i + 1);
	}
	if (hash)
		n = hash - p;

	k = split(p, n, t);
	if (k == 0)
		return 0;
	if (!is_eq(t[0], "host"))
		return fail(x, "expected 'host', found '%s'", q(b, t[0]));
	if (k < 5)
		return fail(x, "missing %s (" USAGE ")", what[k]);
	if (k > 5)
		return fail(x, "unexpected '%s' after the node range", q(b, t[5]));

	memset(&h, 0, sizeof(h));
	h.line = x->line;
	if (!name_ok(t[1]))
		return fail(x,
			    "host name '%s' is not 1-63 characters of A-Z a-z 0-9 . _ -",
			    q(b, t[1]));
	memcpy(h.name, t[1].p, t[1].n);
	for (unsigned i = 0; i < out->nhosts; i++)
		if (strcmp(out->host[i].name, h.name) == 0)
			return fail(x, "host name '%s' already used on line %u",
				    h.name, out->host[i].line);

	if ((rc = parse_addr(x, t[2], &h)))
		return rc;
	for (unsigned i = 0; i < out->nhosts; i++) {
		const struct skiff_fhost *o = &out->host[i];

		if (o->port == h.port && same_addr(o->addr, h.addr)) {
			fmt_addr(a1, sizeof(a1), &h);
			return fail(x, "address %s already used on line %u (host '%s')",
				    a1, o->line, o->name);
		}
	}

	if (!is_eq(t[3], "nodes"))
		return fail(x, "expected 'nodes', found '%s'", q(b, t[3]));
	if ((rc = parse_range(x, t[4], &h)))
		return rc;
	for (unsigned i = 0; i < out->nhosts; i++) {
		const struct skiff_fhost *o = &out->host[i];

		if (h.first <= o->last && o->first <= h.last) {
			fmt_range(r1, h.first, h.last);
			fmt_range(r2, o->first, o->last);
			return fail(x,
				    "node range %s overlaps %s of host '%s' on line %u",
				    r1, r2, o->name, o->line);
		}
	}

	if (out->nhosts == SKIFF_FHOSTS_MAX)
		return fail(x, "more than %d hosts", SKIFF_FHOSTS_MAX);
	out->host[out->nhosts++] = h;
	return 0;
}

int skiff_fconf_parse(const char *text, size_t len, const char *fname,
		      struct skiff_fconf *out, char *err, size_t errlen)
{
	struct pctx x = { fname ? fname : "fabric file", err, errlen, 0 };
	size_t off = 0;
	int rc = 0;

	if (err && errlen)
		err[0] = 0;
	out->nhosts = 0;
	if (!text)
		len = 0;
	while (off < len) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t n = nl ? (size_t)(nl - p) : len - off;

		off += n + (nl != NULL);
		x.line++;
		if (nl && n && p[n - 1] == '\r') /* CRLF, as Windows editors save */
			n--;
		if ((rc = parse_line(&x, p, n, out)))
			break;
	}
	x.line = 0;
	if (!rc && out->nhosts == 0)
		rc = fail(&x, "no host");
	else if (!rc && !skiff_fconf_node(out, 0))
		rc = fail(&x, "no host owns node 0");
	if (rc)
		out->nhosts = 0;
	return rc;
}

int skiff_fconf_load(const char *path, struct skiff_fconf *out, char *err,
		     size_t errlen)
{
	size_t len = 0, cap = SKIFF_FCONF_FILE_MAX + 1;
	char *buf;
	int fd, rc = 0;

	if (err && errlen)
		err[0] = 0;
	out->nhosts = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto report;
	}
	/* one byte more than allowed, to tell "exactly 1 MiB" from "more";
	 * read() rather than fstat: a pipe (<(...)) has no size */
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		close(fd);
		goto report;
	}
	while (len < cap) {
		ssize_t k = read(fd, buf + len, cap - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			break;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	if (!rc && len > SKIFF_FCONF_FILE_MAX) {
		rc = -EFBIG;
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u MiB", path,
				 SKIFF_FCONF_FILE_MAX >> 20);
		free(buf);
		return rc;
	}
	if (!rc)
		rc = skiff_fconf_parse(buf, len, path, out, err, errlen);
	free(buf);
	if (rc != -EINVAL && rc)
		goto report;
	return rc;
report:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}

const struct skiff_fhost *skiff_fconf_find(const struct skiff_fconf *c,
					   const char *name)
{
	if (!c || !name)
		return NULL;
	for (unsigned i = 0; i < c->nhosts && i < SKIFF_FHOSTS_MAX; i++)
		if (strcmp(c->host[i].name, name) == 0)
			return &c->host[i];
	return NULL;
}

const struct skiff_fhost *skiff_fconf_node(const struct skiff_fconf *c,
					   unsigned node)
{
	if (!c)
		return NULL;
	for (unsigned i = 0; i < c->nhosts && i < SKIFF_FHOSTS_MAX; i++)
		if (c->host[i].first <= node && node <= c->host[i].last)
			return &c->host[i];
	return NULL;
}
