#define _GNU_SOURCE /* vasprintf */
#include "tool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

void skiff_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
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
