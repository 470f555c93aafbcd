/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fconf - libFuzzer harness for the fabric file parser
 * (src/common/fconf.c). The file is written by hand and every daemon of a
 * fabric reads it, so the parser must take any bytes.
 *
 * A refusal must come with one line naming the file. An acceptance must
 * give what skiff-fabric(5) promises: 1-64 hosts, valid unique names,
 * non-zero ports, unique addresses, disjoint node ranges within 0-255,
 * node 0 owned; and the hosts written back in the file's syntax must parse
 * to the same thing. Any violation abort()s so libFuzzer reports it.
 */
#include "fconf.h"
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct skiff_fconf c, again;
static char text[SKIFF_FHOSTS_MAX * 400];

static int name_char(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_' || ch == '-';
}

static void check_host(const struct skiff_fhost *h, unsigned i)
{
	size_t n = strnlen(h->name, sizeof(h->name));
	size_t a = strnlen(h->addr, sizeof(h->addr));

	if (n < 1 || n > SKIFF_FHOST_NAME_MAX || a < 1 ||
	    a > SKIFF_FHOST_ADDR_MAX)
		abort();
	for (size_t k = 0; k < n; k++)
		if (!name_char(h->name[k]))
			abort();
	for (size_t k = 0; k < a; k++) /* no blank, no '#', no bracket */
		if (h->addr[k] <= ' ' || h->addr[k] > '~' || h->addr[k] == '#' ||
		    h->addr[k] == '[' || h->addr[k] == ']')
			abort();
	if (h->port == 0 || h->first > h->last || h->last > SKIFF_MAX_NODE ||
	    h->line == 0)
		abort();
	if (i && h->line <= c.host[i - 1].line)
		abort();
	for (unsigned j = 0; j < i; j++) {
		const struct skiff_fhost *o = &c.host[j];

		if (strcmp(o->name, h->name) == 0)
			abort();
		if (h->first <= o->last && o->first <= h->last)
			abort();
		/* the same text at the same port is the same address (the
		 * parser also catches spellings that differ) */
		if (o->port == h->port && strcmp(o->addr, h->addr) == 0)
			abort();
	}
	if (skiff_fconf_find(&c, h->name) != h)
		abort();
	for (unsigned node = h->first; node <= h->last; node++)
		if (skiff_fconf_node(&c, node) != h)
			abort();
}

/* The hosts in canonical syntax: must parse back to the same hosts. */
static void round_trip(void)
{
	size_t k = 0;
	char err[256];

	for (unsigned i = 0; i < c.nhosts; i++) {
		const struct skiff_fhost *h = &c.host[i];
		int v6 = strchr(h->addr, ':') != NULL;

		k += snprintf(text + k, sizeof(text) - k,
			      "host %s %s%s%s:%u nodes %u-%u\n", h->name,
			      v6 ? "[" : "", h->addr, v6 ? "]" : "", h->port,
			      h->first, h->last);
		if (k >= sizeof(text))
			abort();
	}
	if (skiff_fconf_parse(text, k, "again", &again, err, sizeof(err)) != 0 ||
	    again.nhosts != c.nhosts)
		abort();
	for (unsigned i = 0; i < c.nhosts; i++) {
		const struct skiff_fhost *a = &c.host[i], *b = &again.host[i];

		if (strcmp(a->name, b->name) || strcmp(a->addr, b->addr) ||
		    a->port != b->port || a->first != b->first ||
		    a->last != b->last || b->line != i + 1)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], small[9];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = skiff_fconf_parse((const char *)data, size, "f", &c, err,
			       sizeof(err));
	if (rc != 0) {
		size_t n = strnlen(err, sizeof(err));

		/* one line, "f: ..." or "f:LINE: ..." */
		if (rc != -EINVAL || c.nhosts != 0 || n == sizeof(err) ||
		    n < 4 || strncmp(err, "f:", 2) != 0 || strchr(err, '\n'))
			abort();
		/* a short buffer gets a cut, terminated message */
		memset(small, 'x', sizeof(small));
		if (skiff_fconf_parse((const char *)data, size, "f", &c, small,
				      sizeof(small)) != rc ||
		    strnlen(small, sizeof(small)) != sizeof(small) - 1 ||
		    strncmp(small, err, sizeof(small) - 1) != 0)
			abort();
		return 0;
	}
	if (err[0] != 0 || c.nhosts < 1 || c.nhosts > SKIFF_FHOSTS_MAX)
		abort();
	for (unsigned i = 0; i < c.nhosts; i++)
		check_host(&c.host[i], i);
	if (!skiff_fconf_node(&c, 0) || skiff_fconf_node(&c, 0)->first != 0)
		abort();
	round_trip();
	return 0;
}
