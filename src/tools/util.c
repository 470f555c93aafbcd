/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* vasprintf */
#include "tool.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void skiff_err(const char *fmt, ...)
{
	va_list ap;

	fputs("scif: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int skiff_tool_fabric(const char *name, char out[SKIFF_FABRIC_MAX + 1])
{
	if (name && setenv("SCIF_FABRIC", name, 1) < 0) {
		skiff_err("setenv: %s", strerror(errno));
		return -errno;
	}
	if (skiff_fabric(out) < 0) {
		skiff_err("invalid fabric name '%s' (1-%d characters of "
			  "[A-Za-z0-9._-])", getenv("SCIF_FABRIC"),
			  SKIFF_FABRIC_MAX);
		return -EINVAL;
	}
	return 0;
}

int skiff_parse_ull(const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts a sign and leading blanks: refuse both. */
	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int skiff_parse_portid(const char *s, struct scif_portID *out)
{
	unsigned long long node = 0, port;
	const char *colon = strchr(s, ':');

	if (colon) {
		char nb[16];
		size_t n = (size_t)(colon - s);

		if (n == 0 || n >= sizeof(nb))
			return -EINVAL;
		memcpy(nb, s, n);
		nb[n] = '\0';
		if (skiff_parse_ull(nb, 0, SKIFF_MAX_NODE, &node) < 0)
			return -EINVAL;
		s = colon + 1;
	}
	if (skiff_parse_ull(s, 0, UINT16_MAX, &port) < 0)
		return -EINVAL;
	out->node = (uint16_t)node;
	out->port = (uint16_t)port;
	return 0;
}

/* Bytes of the well-formed UTF-8 sequence at @s (no overlongs, no
 * surrogates, at most U+10FFFF), or 0. */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0], cp, n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, cp = c & 0x07;
	else
		return 0;
	for (unsigned i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return (int)n + 1;
}

/* A string from another process (a command name) as valid JSON: control
 * characters escaped, bytes that are not UTF-8 replaced by U+FFFD. */
void skiff_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		int n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (n == 0)
			fputs("\\ufffd", f);
		else
			fwrite(p, 1, (size_t)n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

void skiff_progress(const char *what, unsigned i, unsigned n,
		    const char *item)
{
	static int tty = -1;

	if (tty < 0)
		tty = isatty(2);
	/* a bar that rewrites itself on a terminal, a line per step in a
	 * log; the final call (i == n) ends the bar */
	if (tty) {
		if (i < n)
			fprintf(stderr, "\r\033[K%s: %u/%u %s", what, i + 1, n,
				item);
		else
			fprintf(stderr, "\r\033[K");
	} else if (i < n) {
		fprintf(stderr, "%s: %u/%u %s\n", what, i + 1, n, item);
	}
	fflush(stderr);
}

const char *skiff_printable(const char *s, char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	/* what a terminal shows as is; anything else (an escape sequence
	 * that would clear the reader's screen, a stray byte) as \xNN */
	while (*p && o + 5 < n) {
		int k = utf8_len(p);

		if (*p >= 0x20 && *p != 0x7f && *p != '\\' && k) {
			memcpy(buf + o, p, (size_t)k);
			o += (size_t)k;
			p += k;
		} else {
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", *p);
			p++;
		}
	}
	buf[o] = 0;
	return buf;
}

void *skiff_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		skiff_err("out of memory");
		exit(SKIFF_EXIT_FAIL);
	}
	return q;
}

void skiff_table_init(struct skiff_table *t, size_t ncols, unsigned right_align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->right_align = right_align;
}

void skiff_table_cell(struct skiff_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		skiff_err("out of memory");
		exit(SKIFF_EXIT_FAIL);
	}
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->cells = skiff_xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->ncells++] = s;
}

void skiff_table_print(const struct skiff_table *t, FILE *f, const char *indent)
{
	size_t w[32] = { 0 };
	size_t nc = t->ncols < 32 ? t->ncols : 32;

	for (size_t i = 0; i < t->ncells; i++) {
		size_t c = i % t->ncols, l = strlen(t->cells[i]);

		if (c < nc && l > w[c])
			w[c] = l;
	}
	for (size_t i = 0; i < t->ncells; i++) {
		size_t c = i % t->ncols;
		int last = c == t->ncols - 1 || i == t->ncells - 1;
		int width = c < nc ? (int)w[c] : 0;

		if (c == 0)
			fputs(indent, f);
		if (t->right_align & (1u << c))
			fprintf(f, "%*s", width, t->cells[i]);
		else if (last) /* no trailing blanks */
			fputs(t->cells[i], f);
		else
			fprintf(f, "%-*s", width, t->cells[i]);
		fputs(last ? "\n" : "  ", f);
	}
}

void skiff_table_free(struct skiff_table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

int skiff_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int skiff_read_all(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int skiff_tcp_listener(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 1) < 0 || getsockname(s, (struct sockaddr *)&sa, &sl) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return s;
}
