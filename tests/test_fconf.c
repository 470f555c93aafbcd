/* SPDX-License-Identifier: MIT */
/*
 * test_fconf: the fabric file parser (src/common/fconf.c, skiff-fabric(5)).
 * Every accepted form with the fields it gives, every error with its exact
 * message (an administrator reads it, and scripts may match it), and
 * skiff_fconf_load on a missing file and on files at and over the limit.
 */
#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "fconf.h"

/* A literal and its length, NUL bytes and all. */
#define T(s) s, sizeof(s) - 1

#define H(n, a, p, f, l, ln)                                                   \
	{ .name = n, .addr = a, .port = p, .first = f, .last = l, .line = ln }
#define D SKIFF_FABRIC_PORT_DEFAULT

struct good {
	const char *what;
	const char *text;
	size_t len;
	unsigned n;
	struct skiff_fhost want[4];
};

static const struct good goods[] = {
	{ "IPv4, cards", T("host a 10.0.0.1 nodes 0-3\n"), 1,
	  { H("a", "10.0.0.1", D, 0, 3, 1) } },
	{ "IPv4 with port, no final newline", T("host a 10.0.0.1:9000 nodes 0-0"), 1,
	  { H("a", "10.0.0.1", 9000, 0, 0, 1) } },
	{ "single node", T("host a 127.0.0.1 nodes 0\n"), 1,
	  { H("a", "127.0.0.1", D, 0, 0, 1) } },
	{ "[v6]", T("host a [::1] nodes 0-1\n"), 1,
	  { H("a", "::1", D, 0, 1, 1) } },
	{ "[v6]:port", T("host a [fe80::1]:7352 nodes 0\n"), 1,
	  { H("a", "fe80::1", 7352, 0, 0, 1) } },
	{ "[v6] with an IPv4 tail", T("host a [::ffff:10.1.2.3]:1 nodes 0\n"), 1,
	  { H("a", "::ffff:10.1.2.3", 1, 0, 0, 1) } },
	{ "port 65535", T("host a h:65535 nodes 0\n"), 1,
	  { H("a", "h", 65535, 0, 0, 1) } },
	{ "port with leading zeros", T("host a h:07351 nodes 0\n"), 1,
	  { H("a", "h", 7351, 0, 0, 1) } },
	{ "DNS names", T("host node-1.cluster_A n1.example.org nodes 0-2\n"
			 "host n2 N2-x.Example.ORG:7000 nodes 3\n"), 2,
	  { H("node-1.cluster_A", "n1.example.org", D, 0, 2, 1),
	    H("n2", "N2-x.Example.ORG", 7000, 3, 3, 2) } },
	{ "a name with a numeric label", T("host a 1.2.3.4a nodes 0\n"), 1,
	  { H("a", "1.2.3.4a", D, 0, 0, 1) } },
	{ "comments, blank lines, tabs",
	  T("# the fabric\n\n   \t\n\thost\ta\t10.0.0.1\tnodes\t0-1\t# host 0\n"
	    "host b 10.0.0.2 nodes 2-255# tail\n#host c 10.0.0.3 nodes 9\n"), 2,
	  { H("a", "10.0.0.1", D, 0, 1, 4), H("b", "10.0.0.2", D, 2, 255, 5) } },
	{ "a comment holds any byte but NUL",
	  T("host a h nodes 0 # caf\xc3\xa9 \x01\x7f\r\xff\n"), 1,
	  { H("a", "h", D, 0, 0, 1) } },
	{ "# inside a token ends it", T("host a h:7000 nodes 0-1#-9\n"), 1,
	  { H("a", "h", 7000, 0, 1, 1) } },
	{ "CRLF", T("# x\r\nhost a 10.0.0.1 nodes 0-1\r\n\r\nhost b h nodes 2\r\n"), 2,
	  { H("a", "10.0.0.1", D, 0, 1, 2), H("b", "h", D, 2, 2, 4) } },
	{ "node 0 need not come first", T("host c h3 nodes 200-255\nhost b h2 nodes 1-199\n"
					  "host a h1 nodes 0\n"), 3,
	  { H("c", "h3", D, 200, 255, 1), H("b", "h2", D, 1, 199, 2),
	    H("a", "h1", D, 0, 0, 3) } },
	{ "same address, other port", T("host a h nodes 0\nhost b h:7352 nodes 1\n"
					"host c [::1] nodes 2\nhost d [::1]:1 nodes 3\n"), 4,
	  { H("a", "h", D, 0, 0, 1), H("b", "h", 7352, 1, 1, 2),
	    H("c", "::1", D, 2, 2, 3), H("d", "::1", 1, 3, 3, 4) } },
	{ "63-character name, 63-character label",
	  T("host aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c nodes 0\n"),
	  1,
	  { H("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c",
	      D, 0, 0, 1) } },
};

struct bad {
	const char *what;
	const char *text;
	size_t len;
	const char *msg;
};

#define OK0 "host a 10.0.0.1 nodes 0-3\n"

static const struct bad bads[] = {
	{ "empty", T(""), "f: no host" },
	{ "comments only", T("# nothing\n\n  \n"), "f: no host" },
	{ "no node 0", T("host a h nodes 1-3\n"), "f: no host owns node 0" },
	{ "not host", T(OK0 "hots b h nodes 4\n"), "f:2: expected 'host', found 'hots'" },
	{ "keywords are lower case", T("Host a h nodes 0\n"),
	  "f:1: expected 'host', found 'Host'" },
	{ "host alone", T("host\n"),
	  "f:1: missing NAME (expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST)" },
	{ "no address", T("host a # h nodes 0\n"),
	  "f:1: missing ADDRESS[:PORT] (expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST)" },
	{ "no nodes", T("host a h\n"),
	  "f:1: missing nodes (expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST)" },
	{ "no range", T("host a h nodes\n"),
	  "f:1: missing FIRST-LAST (expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST)" },
	{ "extra token", T("host a h nodes 0 1\n"),
	  "f:1: unexpected '1' after the node range" },
	{ "not nodes", T("host a h node 0\n"), "f:1: expected 'nodes', found 'node'" },
	{ "name: bad character", T("host a/b h nodes 0\n"),
	  "f:1: host name 'a/b' is not 1-63 characters of A-Z a-z 0-9 . _ -" },
	{ "name: 64 characters",
	  T("host aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa h nodes 0\n"),
	  "f:1: host name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
	  "is not 1-63 characters of A-Z a-z 0-9 . _ -" },
	{ "name: duplicate", T(OK0 "\nhost a h nodes 4\n"),
	  "f:3: host name 'a' already used on line 1" },
	{ "IPv4: 256", T("host a 10.0.0.256 nodes 0\n"), "f:1: '10.0.0.256' is not an IPv4 address" },
	{ "IPv4: three parts", T("host a 10.0.1:80 nodes 0\n"), "f:1: '10.0.1' is not an IPv4 address" },
	{ "IPv4: leading zero", T("host a 10.0.0.01 nodes 0\n"), "f:1: '10.0.0.01' is not an IPv4 address" },
	{ "IPv6 without brackets", T("host a ::1 nodes 0\n"),
	  "f:1: '::1': an IPv6 address must be in brackets, as [::1]:7351" },
	{ "IPv6: no ]", T("host a [::1 nodes 0\n"), "f:1: '[::1' is not an IPv6 address in brackets" },
	{ "IPv6: not an address", T("host a [::g] nodes 0\n"),
	  "f:1: '[::g]' is not an IPv6 address in brackets" },
	{ "IPv6: empty", T("host a []:1 nodes 0\n"), "f:1: '[]:1' is not an IPv6 address in brackets" },
	{ "IPv6: zone", T("host a [fe80::1%eth0] nodes 0\n"),
	  "f:1: '[fe80::1%eth0]' is not an IPv6 address in brackets" },
	{ "IPv6: junk after ]", T("host a [::1]x nodes 0\n"),
	  "f:1: '[::1]x' is not an IPv6 address in brackets" },
	{ "IPv6: an IPv4 address in brackets", T("host a [10.0.0.1] nodes 0\n"),
	  "f:1: '[10.0.0.1]' is not an IPv6 address in brackets" },
	{ "DNS: underscore", T("host a my_host nodes 0\n"),
	  "f:1: 'my_host' is not a host name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)" },
	{ "DNS: empty label", T("host a a..b nodes 0\n"),
	  "f:1: 'a..b' is not a host name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)" },
	{ "DNS: trailing dot", T("host a a.b. nodes 0\n"),
	  "f:1: 'a.b.' is not a host name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)" },
	{ "DNS: 64-character label",
	  T("host a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb nodes 0\n"),
	  "f:1: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' is not a host "
	  "name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)" },
	{ "no address before the port", T("host a :80 nodes 0\n"),
	  "f:1: '' is not a host name (1-253 characters of A-Z a-z 0-9 . -, labels of 1-63)" },
	{ "port 0", T("host a h:0 nodes 0\n"), "f:1: port '0' is not a number from 1 to 65535" },
	{ "port 65536", T("host a h:65536 nodes 0\n"),
	  "f:1: port '65536' is not a number from 1 to 65535" },
	{ "port: huge", T("host a h:99999999999999999999999 nodes 0\n"),
	  "f:1: port '99999999999999999999999' is not a number from 1 to 65535" },
	{ "port: empty", T("host a [::1]: nodes 0\n"), "f:1: port '' is not a number from 1 to 65535" },
	{ "port: sign", T("host a h:+80 nodes 0\n"), "f:1: port '+80' is not a number from 1 to 65535" },
	{ "address duplicate", T(OK0 "host b 10.0.0.1:7351 nodes 4\n"),
	  "f:2: address 10.0.0.1:7351 already used on line 1 (host 'a')" },
	{ "address duplicate: DNS case", T("host a Head.X nodes 0\nhost b head.x nodes 4\n"),
	  "f:2: address head.x:7351 already used on line 1 (host 'a')" },
	{ "address duplicate: IPv6 spelt another way",
	  T("host a [::1]:9 nodes 0\nhost b [0:0::0:1]:9 nodes 4\n"),
	  "f:2: address [0:0::0:1]:9 already used on line 1 (host 'a')" },
	{ "range: not a number", T("host a h nodes x\n"), "f:1: node range 'x' is not FIRST-LAST or N" },
	{ "range: no LAST", T("host a h nodes 0-\n"), "f:1: node range '0-' is not FIRST-LAST or N" },
	{ "range: no FIRST", T("host a h nodes -3\n"), "f:1: node range '-3' is not FIRST-LAST or N" },
	{ "range: two dashes", T("host a h nodes 0-1-2\n"),
	  "f:1: node range '0-1-2' is not FIRST-LAST or N" },
	{ "range: 256", T("host a h nodes 0-256\n"), "f:1: node range '0-256' goes beyond node 255" },
	{ "range: huge", T("host a h nodes 4294967296\n"),
	  "f:1: node range '4294967296' goes beyond node 255" },
	{ "range: backwards", T("host a h nodes 3-1\n"),
	  "f:1: node range '3-1' runs backwards (FIRST > LAST)" },
	{ "overlap", T(OK0 "host b h nodes 4-8\nhost c h2 nodes 8-9\n"),
	  "f:3: node range 8-9 overlaps 4-8 of host 'b' on line 2" },
	{ "overlap: single node inside", T(OK0 "host b h nodes 2\n"),
	  "f:2: node range 2 overlaps 0-3 of host 'a' on line 1" },
	{ "overlap: range around a single node", T("host b h nodes 5\n" OK0 "host c h2 nodes 4-6\n"),
	  "f:3: node range 4-6 overlaps 5 of host 'b' on line 1" },
	{ "NUL byte", T("host a h nodes 0\nhost b\0 h nodes 1\n"),
	  "f:2: unexpected byte 0x00 at column 7" },
	{ "NUL byte in a comment", T("host a h nodes 0 # \0\n"),
	  "f:1: unexpected byte 0x00 at column 20" },
	{ "lone CR", T("host a h\rnodes 0\n"), "f:1: unexpected byte 0x0d at column 9" },
	{ "CR at the end without LF", T("host a h nodes 0\r"), "f:1: unexpected byte 0x0d at column 17" },
	{ "CR CR LF", T("host a h nodes 0\r\r\n"), "f:1: unexpected byte 0x0d at column 17" },
	{ "UTF-8 outside a comment", T("host caf\xc3\xa9 h nodes 0\n"),
	  "f:1: unexpected byte 0xc3 at column 9" },
	{ "vertical tab", T("host a h nodes\v0\n"), "f:1: unexpected byte 0x0b at column 15" },
	{ "a bad line after good ones", T(OK0 "host b h nodes 4\n\n\n# x\nhost c\n"),
	  "f:6: missing ADDRESS[:PORT] (expected: host NAME ADDRESS[:PORT] nodes FIRST-LAST)" },
};

static void check_good(const struct good *g)
{
	struct skiff_fconf c;
	char err[256] = "x";
	int rc;

	STEP("accept: %s", g->what);
	memset(&c, 0xa5, sizeof(c));
	rc = skiff_fconf_parse(g->text, g->len, "f", &c, err, sizeof(err));
	EXPECT_EQ(rc, 0);
	if (rc) {
		h_log("%s: %s", g->what, err);
		return;
	}
	EXPECT_EQ(err[0], 0);
	EXPECT_EQ(c.nhosts, g->n);
	for (unsigned i = 0; i < g->n && i < c.nhosts; i++) {
		const struct skiff_fhost *h = &c.host[i], *w = &g->want[i];

		EXPECT(strcmp(h->name, w->name) == 0);
		EXPECT(strcmp(h->addr, w->addr) == 0);
		if (strcmp(h->name, w->name) || strcmp(h->addr, w->addr))
			h_log("host %u: got '%s' '%s', want '%s' '%s'", i,
			      h->name, h->addr, w->name, w->addr);
		EXPECT_EQ(h->port, w->port);
		EXPECT_EQ(h->first, w->first);
		EXPECT_EQ(h->last, w->last);
		EXPECT_EQ(h->line, w->line);
		EXPECT(skiff_fconf_find(&c, w->name) == h);
		EXPECT(skiff_fconf_node(&c, w->first) == h);
		EXPECT(skiff_fconf_node(&c, w->last) == h);
	}
}

static void check_bad(const char *what, const char *text, size_t len,
		      const char *msg)
{
	struct skiff_fconf c;
	char err[256] = "x";

	STEP("refuse: %s", what);
	c.nhosts = 7;
	EXPECT_EQ(skiff_fconf_parse(text, len, "f", &c, err, sizeof(err)), -EINVAL);
	EXPECT_EQ(c.nhosts, 0);
	EXPECT(strcmp(err, msg) == 0);
	if (strcmp(err, msg))
		h_log("%s:\n  got  '%s'\n  want '%s'", what, err, msg);
}

/* @n hosts "hI" at 10.0.I/256.I%256, node I, in a buffer of the caller's. */
static size_t many(char *buf, size_t cap, unsigned n)
{
	size_t k = 0;

	for (unsigned i = 0; i < n; i++)
		k += snprintf(buf + k, cap - k, "host h%u 10.0.%u.%u nodes %u\n",
			      i, i / 256, i % 256, i);
	return k;
}

static void limits(void)
{
	static char buf[1 << 16];
	char err[256], line[2048];
	struct skiff_fconf c;
	size_t k;

	STEP("64 hosts");
	k = many(buf, sizeof(buf), 64);
	EXPECT_EQ(skiff_fconf_parse(buf, k, "f", &c, err, sizeof(err)), 0);
	EXPECT_EQ(c.nhosts, 64);
	EXPECT(strcmp(c.host[63].name, "h63") == 0);
	EXPECT(strcmp(c.host[63].addr, "10.0.0.63") == 0);
	EXPECT_EQ(c.host[63].line, 64);
	EXPECT(skiff_fconf_node(&c, 63) == &c.host[63]);
	EXPECT(skiff_fconf_node(&c, 64) == NULL);
	EXPECT(skiff_fconf_find(&c, "h64") == NULL);
	k = many(buf, sizeof(buf), 65);
	check_bad("65 hosts", buf, k, "f:65: more than 64 hosts");

	STEP("a line of 1024 bytes, with LF and with CRLF");
	memset(line, ' ', sizeof(line));
	memcpy(line, "host a h nodes 0 #", 18);
	line[1024] = '\n';
	EXPECT_EQ(skiff_fconf_parse(line, 1025, "f", &c, err, sizeof(err)), 0);
	line[1024] = '\r';
	line[1025] = '\n';
	EXPECT_EQ(skiff_fconf_parse(line, 1026, "f", &c, err, sizeof(err)), 0);
	EXPECT_EQ(skiff_fconf_parse(line, 1024, "f", &c, err, sizeof(err)), 0);
	line[1024] = ' ';
	line[1025] = '\n';
	check_bad("1025 bytes", line, 1026, "f:1: line longer than 1024 bytes");
	check_bad("1025 bytes at the end", line, 1025, "f:1: line longer than 1024 bytes");

	STEP("a huge line");
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, OK0, strlen(OK0));
	check_bad("64 KiB line", buf, sizeof(buf), "f:2: line longer than 1024 bytes");

	STEP("a long token is cut in the message");
	memset(line, 'n', sizeof(line));
	memcpy(line, "host ", 5);
	memcpy(line + 5 + 100, " h nodes 0\n", 11);
	check_bad("100-character name", line, 5 + 100 + 11,
		  "f:1: host name '"
		  "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		  "...' is not 1-63 characters of A-Z a-z 0-9 . _ -");
	memset(line, 'b', sizeof(line));
	memcpy(line, "host a ", 7);
	for (int i = 7 + 63; i < 7 + 254; i += 64)
		line[i] = '.';
	memcpy(line + 7 + 253, " nodes 0\n", 9);
	EXPECT_EQ(skiff_fconf_parse(line, 7 + 253 + 9, "f", &c, err, sizeof(err)), 0);
	EXPECT_EQ(strlen(c.host[0].addr), 253);
	line[7 + 253] = 'b';
	memcpy(line + 7 + 254, " nodes 0\n", 9);
	check_bad("254-character host name", line, 7 + 254 + 9,
		  "f:1: '"
		  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
		  "...' is not a host name (1-253 characters of A-Z a-z 0-9 . -, "
		  "labels of 1-63)");
}

static void lookups(void)
{
	static const char text[] = "host b h2 nodes 4-7\nhost a h1 nodes 0-3\n"
				   "host c h3 nodes 9\n";
	struct skiff_fconf c;
	char err[16];

	STEP("find and node");
	CHECK_EQ(skiff_fconf_parse(T(text), NULL, &c, NULL, 0), 0);
	EXPECT(skiff_fconf_find(&c, "a") == &c.host[1]);
	EXPECT(skiff_fconf_find(&c, "c") == &c.host[2]);
	EXPECT(skiff_fconf_find(&c, "A") == NULL); /* names are exact */
	EXPECT(skiff_fconf_find(&c, "") == NULL);
	EXPECT(skiff_fconf_find(&c, NULL) == NULL);
	EXPECT(skiff_fconf_find(NULL, "a") == NULL);
	for (unsigned n = 0; n <= 3; n++)
		EXPECT(skiff_fconf_node(&c, n) == &c.host[1]);
	for (unsigned n = 4; n <= 7; n++)
		EXPECT(skiff_fconf_node(&c, n) == &c.host[0]);
	EXPECT(skiff_fconf_node(&c, 8) == NULL);
	EXPECT(skiff_fconf_node(&c, 9) == &c.host[2]);
	EXPECT(skiff_fconf_node(&c, 10) == NULL);
	EXPECT(skiff_fconf_node(&c, 255) == NULL);
	EXPECT(skiff_fconf_node(&c, 65536 + 4) == NULL);
	EXPECT(skiff_fconf_node(NULL, 0) == NULL);

	STEP("messages: no name given, a short buffer, none");
	EXPECT_EQ(skiff_fconf_parse(T("host a h nodes 1\n"), NULL, &c, err,
				    sizeof(err)), -EINVAL);
	EXPECT(strcmp(err, "fabric file: no") == 0); /* cut, NUL-terminated */
	EXPECT_EQ(skiff_fconf_parse(T("host a h nodes 9-1\n"), "f", &c, err, 1),
		  -EINVAL);
	EXPECT_EQ(err[0], 0);
	EXPECT_EQ(skiff_fconf_parse(T("host\n"), "f", &c, NULL, 0), -EINVAL);
	EXPECT_EQ(skiff_fconf_parse(NULL, 0, "f", &c, err, sizeof(err)), -EINVAL);
	EXPECT(strcmp(err, "f: no host") == 0);
}

static void put(const char *path, const char *text, size_t len)
{
	int fd = CHECK_OK(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));

	CHECK_EQ(write(fd, text, len), (ssize_t)len);
	CHECK_OK(close(fd));
}

static void loads(void)
{
	char dir[] = "/tmp/skiff-fconf.XXXXXX", path[64], want[160], err[256];
	static char buf[SKIFF_FCONF_FILE_MAX + 1];
	size_t big = SKIFF_FCONF_FILE_MAX;
	struct skiff_fconf c;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/fabric", dir);

	STEP("load a missing file");
	c.nhosts = 3;
	EXPECT_EQ(skiff_fconf_load(path, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	EXPECT(strcmp(err, want) == 0);
	EXPECT_EQ(c.nhosts, 0);

	STEP("load a directory");
	EXPECT_EQ(skiff_fconf_load(dir, &c, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	EXPECT(strcmp(err, want) == 0);

	STEP("load a good file, and a bad one (the message names the path)");
	put(path, T("host a 10.0.0.1 nodes 0-3\nhost b [::2]:9 nodes 4\n"));
	EXPECT_EQ(skiff_fconf_load(path, &c, err, sizeof(err)), 0);
	EXPECT_EQ(c.nhosts, 2);
	EXPECT(strcmp(c.host[1].addr, "::2") == 0);
	put(path, T("host a 10.0.0.1 nodes 0-3\nhost b [::2]:9 nodes 3\n"));
	EXPECT_EQ(skiff_fconf_load(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2: node range 3 overlaps 0-3 of host 'a' on line 1", path);
	EXPECT(strcmp(err, want) == 0);

	STEP("load exactly 1 MiB, then one byte more");
	memset(buf, '\n', big + 1);
	memcpy(buf, OK0, strlen(OK0));
	memcpy(buf + big - 2, "#", 1); /* the last line is a comment */
	put(path, buf, big);
	EXPECT_EQ(skiff_fconf_load(path, &c, err, sizeof(err)), 0);
	EXPECT_EQ(c.nhosts, 1);
	put(path, buf, big + 1);
	EXPECT_EQ(skiff_fconf_load(path, &c, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
	EXPECT(strcmp(err, want) == 0);
	EXPECT_EQ(c.nhosts, 0);

	STEP("load from a pipe (no size to stat)");
	{
		int p[2];
		char fdpath[64];

		CHECK_OK(pipe(p));
		CHECK_EQ(write(p[1], OK0, strlen(OK0)), (ssize_t)strlen(OK0));
		close(p[1]);
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", p[0]);
		EXPECT_EQ(skiff_fconf_load(fdpath, &c, err, sizeof(err)), 0);
		EXPECT_EQ(c.nhosts, 1);
		close(p[0]);
	}

	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	h_init(argc, argv, "fconf", 30, NULL);

	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++)
		check_good(&goods[i]);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		check_bad(bads[i].what, bads[i].text, bads[i].len, bads[i].msg);
	limits();
	lookups();
	loads();
	return h_finish();
}
