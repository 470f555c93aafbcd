#!/bin/sh
# SPDX-License-Identifier: MIT
#
# layers.sh OBJ... - the call graph between libscif's files, from their
# object files, and fail on any cycle (issue 10: the files call one way, so
# that a transport can be added beside the local one without a knot).
#
# A file uses another when one of its undefined symbols is defined there; a
# weak definition overridden by a strong one elsewhere counts as a use of
# the strong one (that is a call the linker routes, a hidden edge). The
# objects may also come as one ;-separated argument (a CMake list).
# Prints the edges with the symbols behind them and, when there is no
# cycle, the files bottom to top. Exit 1 on a cycle, 2 on a usage error.
set -eu

NM=${NM:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

objs=
for a in "$@"; do
	objs="$objs $(printf '%s' "$a" | tr ';' ' ')"
done
[ -n "${objs# }" ] || { echo "usage: $0 OBJ..." >&2; exit 2; }

: >"$tmp/def"
: >"$tmp/use"
for o in $objs; do
	f=$(basename "$o")
	f=${f%.o}
	f=${f%.obj}
	# "SYMBOL TYPE" (POSIX format); W/V are weak definitions
	"$NM" -P -g --defined-only "$o" |
		awk -v f="$f" '{ print $1, f, ($2 ~ /^[wWvV]$/ ? "weak" : "strong") }' \
		>>"$tmp/def"
	"$NM" -P -u "$o" | awk -v f="$f" '{ print f, $1 }' >>"$tmp/use"
done

# edges "USER DEFINER SYMBOL", one per symbol
awk '
FNR == NR {
	if ($3 == "strong") strong[$1] = $2
	else weak[$1] = weak[$1] " " $2
	def[$1] = def[$1] " " $2
	next
}
{
	n = split(def[$2], d, " ")
	for (i = 1; i <= n; i++)
		if (d[i] != $1) print $1, d[i], $2
}
END {
	for (s in weak) {
		if (!(s in strong)) continue
		n = split(weak[s], w, " ")
		for (i = 1; i <= n; i++)
			if (w[i] != strong[s]) print w[i], strong[s], s " (weak)"
	}
}' "$tmp/def" "$tmp/use" | sort -u >"$tmp/edges"

echo "calls between files (user -> definer: symbols):"
awk '{ k = $1 " -> " $2; s[k] = s[k] " " $3 } END { for (k in s) print "  " k ":" s[k] }' \
	"$tmp/edges" | sort

# every file is a node, also those that call nobody
for o in $objs; do
	f=$(basename "$o")
	f=${f%.o}
	f=${f%.obj}
	echo "$f $f"
done >"$tmp/pairs"
awk '{ print $1, $2 }' "$tmp/edges" >>"$tmp/pairs"

# knots: files that reach each other (transitive closure; a library has
# a few dozen files at most)
awk '
{ n[$1] = 1; n[$2] = 1; if ($1 != $2) r[$1, $2] = 1 }
END {
	for (k in n) for (i in n) if ((i, k) in r) for (j in n)
		if ((k, j) in r) r[i, j] = 1
	for (i in n) {
		if (i in done || !((i, i) in r)) continue
		line = ""
		for (j in n) if ((i, j) in r && (j, i) in r) { line = line " " j; done[j] = 1 }
		print line
	}
}' "$tmp/pairs" >"$tmp/knots"
if [ -s "$tmp/knots" ]; then
	echo "FAIL: files calling each other in a circle (fix: move the function" >&2
	echo "to the file it belongs to, or register a hook from the higher layer):" >&2
	while read -r knot; do
		echo "  knot:$(printf ' %s' $knot)" >&2
		printf '%s\n' $knot >"$tmp/inknot"
		awk 'FNR == NR { in_[$1] = 1; next }
		     ($1 in in_) && ($2 in in_) { k = $1 " -> " $2; s[k] = s[k] " " $3; if (!(k in o)) { o[k] = ++m; ks[m] = k } }
		     END { for (i = 1; i <= m; i++) print "    " ks[i] ":" s[ks[i]] }' \
			"$tmp/inknot" "$tmp/edges" >&2
	done <"$tmp/knots"
	exit 1
fi
# level of a file: 0 if it calls no other file, else one above the
# highest it calls
echo "layers, bottom to top (a file calls only files on lower lines):"
awk '
{ n[$1] = 1; n[$2] = 1; if ($1 != $2) { d[$1] = d[$1] " " $2 } }
function lvl(f,   k, m, i, x, l) {
	if (f in L) return L[f]
	m = 0
	k = split(d[f], x, " ")
	for (i = 1; i <= k; i++) { l = lvl(x[i]) + 1; if (l > m) m = l }
	return L[f] = m
}
END { for (f in n) print lvl(f), f }' "$tmp/pairs" | sort -k1,1n -k2 |
	awk 'NR == 1 || $1 != l { if (NR > 1) print s; l = $1; s = "  " $1 ":" } { s = s " " $2 }
	     END { print s }'
