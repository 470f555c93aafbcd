/* SPDX-License-Identifier: MIT */
/*
 * tool.h - helpers shared by the scif subcommands: argument parsing, fabric
 * selection, aligned text tables and JSON strings.
 */
#ifndef SKIFF_TOOL_H
#define SKIFF_TOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <scif.h>

#include "names.h"

/* Exit statuses of every subcommand. */
#define SKIFF_EXIT_OK    0
#define SKIFF_EXIT_FAIL  1
#define SKIFF_EXIT_USAGE 2

/* Print "scif: <message>" to stderr. */
void skiff_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Select the fabric: @name (from --fabric) or SCIF_FABRIC or the default.
 * --fabric is exported as SCIF_FABRIC so that libscif, which reads the
 * environment, uses the same one. Returns 0, or -EINVAL after printing why.
 */
int skiff_tool_fabric(const char *name, char out[SKIFF_FABRIC_MAX + 1]);

/* Parse a decimal unsigned integer in [min, max]; 0 or -EINVAL. */
int skiff_parse_ull(const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out);

/* Parse "NODE:PORT", or "PORT" for node 0; 0 or -EINVAL. */
int skiff_parse_portid(const char *s, struct scif_portID *out);

/* Write @s as a JSON string literal, quotes included. */
void skiff_json_string(FILE *f, const char *s);
/* Progress of a long bench on stderr: step @i of @n (@item names it), and
 * i == n when done. Benches call it unless --json. */
void skiff_progress(const char *what, unsigned i, unsigned n,
		    const char *item);
/* @s with control characters and non-UTF-8 bytes as \\xNN, in @buf. */
const char *skiff_printable(const char *s, char *buf, size_t n);

/*
 * A text table whose columns are padded to their widest cell. Cells are
 * added row by row; a column listed in right_align is right-aligned (for
 * numbers). Allocation failure is fatal: the CLI cannot do anything useful
 * without memory for a few hundred short strings.
 */
struct skiff_table {
	size_t ncols;
	size_t ncells;
	size_t cap;
	char **cells;
	unsigned right_align; /* bit i: column i is right-aligned */
};

void skiff_table_init(struct skiff_table *t, size_t ncols, unsigned right_align);
/* Append one cell; rows fill left to right, top to bottom. */
void skiff_table_cell(struct skiff_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void skiff_table_print(const struct skiff_table *t, FILE *f, const char *indent);
void skiff_table_free(struct skiff_table *t);

/* Write / read exactly @n bytes (retrying on EINTR); 0 or -1 (errno). */
int skiff_write_all(int fd, const void *buf, size_t n);
int skiff_read_all(int fd, void *buf, size_t n);

/* A TCP socket listening on 127.0.0.1 at a free port (stored in *port),
 * for the benchmarks' TCP loopback figures; -1 (errno) on failure. */
int skiff_tcp_listener(int *port);

/* Allocation that exits on failure (see struct skiff_table). */
void *skiff_xrealloc(void *p, size_t n);

#endif
