#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_install.sh CMAKE BUILD_DIR SOURCE_DIR VERSION CC RPATH [FLAGS]: install the
# build tree into a temporary prefix and check what a user of the install
# gets:
#  - `man` finds a page for every exported function of libscif and
#    libmicmem (nm -D), for every installed tool and for the file formats
#    (skiff-fabric(5));
#  - every .BR reference to a skiff page (scif*, micmem*, libscif*, skiff*)
#    resolves in the install tree (others are listed if the system lacks
#    them: they belong to other packages);
#  - the systemd units pass `systemd-analyze verify` (system and --user);
#  - libscif.pc/micmem.pc name the prefix absolutely, and a program builds
#    with `pkg-config --cflags --libs libscif micmem` and runs;
#  - a CMake project with find_package(skiff) builds and runs;
#  - the installed tools have an $ORIGIN RUNPATH if RPATH is 1 (the build was
#    configured for a prefix the loader does not search) and none if it is
#    0 (a system prefix such as /usr, Debian's), and run.
# Exits 77 (ctest: skipped) when man-db is missing.
set -euo pipefail
cmake_bin=$1 build=$2 src=$3 version=$4 cc=$5 rpath=$6
flags=${7:-}

command -v man >/dev/null || { echo "SKIPPED: man (man-db) is not installed"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skiff-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix
bad=0
fail() { echo "FAIL: $*"; bad=1; }

"$cmake_bin" --install "$build" --prefix "$p" >"$tmp/install.log" ||
	{ cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
mandir=$p/share/man
libdir=$(dirname "$(find "$p" -name libscif.so.0 -print -quit)")
[[ -d $libdir ]] || { echo "FAIL: no libscif.so.0 installed"; exit 1; }

# -- man pages: every exported call, every tool ---------------------------
# The page must come from the install tree, not from some other install.
page_of() { man -M "$mandir" -w "$@" 2>/dev/null | head -n 1 || true; }
names=()
for lib in libscif.so.0 libmicmem.so.0; do
	mapfile -t syms < <(nm -D --defined-only "$libdir/$lib" |
		awk '$2 ~ /^[TWDB]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
	((${#syms[@]} >= 12)) || fail "$lib exports only ${#syms[@]} symbols?"
	names+=("${syms[@]}")
done
for tool in "$p"/bin/*; do names+=("$(basename "$tool")"); done
for n in "${names[@]}"; do
	f=$(page_of "$n")
	[[ $f == "$mandir"/* ]] || fail "no man page for $n in the install tree"
done
echo "man: ${#names[@]} names (exported calls and tools) have a page"
# pages of no call and no tool: file formats
for sp in 5:skiff-fabric; do
	f=$(page_of "${sp%%:*}" "${sp#*:}")
	[[ $f == "$mandir"/man${sp%%:*}/* ]] || fail "no man page ${sp#*:}(${sp%%:*}) in the install tree"
done

# -- references between pages --------------------------------------------
nref=0
while read -r name sect; do
	nref=$((nref + 1))
	case $name in
	scif* | micmem* | libscif* | skiff*)
		f=$(page_of "$sect" "$name")
		[[ $f == "$mandir"/* ]] || fail "a page refers to $name($sect), which is not installed"
		;;
	*)
		[[ -n $(page_of "$sect" "$name") ]] ||
			echo "note: $name($sect) is not on this system (another package's page)"
		;;
	esac
done < <(cat "$mandir"/man*/* | sed -n 's/^\.BR \([A-Za-z_][A-Za-z0-9_.-]*\) (\([1-9]\)).*/\1 \2/p' | sort -u)
echo "man: $nref distinct references checked"

# -- systemd units ----------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	units=$(find "$p" -path '*systemd/system/*.service')
	uunits=$(find "$p" -path '*systemd/user/*.service')
	[[ -n $units && -n $uunits ]] || fail "systemd units not installed"
	# Documentation=man:scifd(8) must resolve too: man looks in MANPATH
	# shellcheck disable=SC2086 # lists of paths without blanks
	MANPATH=$mandir systemd-analyze verify $units || fail "systemd-analyze verify (system units)"
	mkdir -m 700 "$tmp/xdg"
	# shellcheck disable=SC2086
	MANPATH=$mandir XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze --user verify $uunits ||
		fail "systemd-analyze --user verify (user units)"
	grep -q "^ExecStart=$p/bin/scifd " $units $uunits || fail "units do not run $p/bin/scifd"
	echo "systemd: units verified"
else
	echo "note: systemd-analyze missing, units not verified"
fi

# -- pkg-config consumer ----------------------------------------------------
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_prefix=$(pkg-config --variable=prefix libscif)
[[ $pc_prefix == "$p" ]] || fail "libscif.pc prefix is '$pc_prefix', not '$p'"
[[ $(pkg-config --variable=prefix micmem) == "$p" ]] || fail "micmem.pc prefix is not '$p'"
[[ $(pkg-config --modversion libscif) == "$version" ]] || fail "libscif.pc version is not $version"
# shellcheck disable=SC2046,SC2086 # word lists
"$cc" $flags -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$src/tests/consumer/consumer.c" \
	$(pkg-config --cflags --libs libscif micmem) -Wl,-rpath,"$libdir" ||
	fail "consumer does not build with pkg-config"
[[ -x $tmp/consumer_pc ]] && { SCIF_FABRIC=t-install-pc-$$ "$tmp/consumer_pc" || fail "pkg-config consumer fails"; }

# -- CMake find_package consumer ---------------------------------------------
if "$cmake_bin" -S "$src/tests/consumer" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$p" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" >"$tmp/cb.log" 2>&1 &&
	"$cmake_bin" --build "$tmp/cb" >>"$tmp/cb.log" 2>&1; then
	SCIF_FABRIC=t-install-cmake-$$ "$tmp/cb/consumer" || fail "find_package consumer fails"
else
	cat "$tmp/cb.log"
	fail "consumer does not build with find_package(skiff)"
fi
# a component that does not exist is refused
mkdir -p "$tmp/nocomp"
printf '%s\n' 'cmake_minimum_required(VERSION 3.25)' 'project(x LANGUAGES NONE)' \
	'find_package(skiff REQUIRED COMPONENTS nosuch)' >"$tmp/nocomp/CMakeLists.txt"
if "$cmake_bin" -S "$tmp/nocomp" -B "$tmp/nocomp/b" -DCMAKE_PREFIX_PATH="$p" >/dev/null 2>&1; then
	fail "find_package(skiff COMPONENTS nosuch) succeeded"
fi

# -- the installed tools run from this prefix ---------------------------------
if ((rpath)); then
	readelf -d "$p/bin/scif" | grep -q 'RUNPATH.*\$ORIGIN' || fail "scif has no \$ORIGIN RUNPATH in a non-system prefix"
	run_env=(env -u LD_LIBRARY_PATH)
else
	# configured for a system prefix: the loader finds the libraries there
	if readelf -d "$p/bin/scif" "$p/bin/scifd" | grep -Eq 'RPATH|RUNPATH'; then
		fail "a tool has a RUNPATH although built for a system prefix"
	fi
	run_env=(env LD_LIBRARY_PATH="$libdir")
fi
[[ $("${run_env[@]}" "$p/bin/scif" --version) == "scif (skiff) $version" ]] || fail "installed scif --version"
[[ $("$p/bin/scifd" --version) == "scifd (skiff) $version" ]] || fail "installed scifd --version"

if ((bad)); then echo "install tree: FAILED"; exit 1; fi
echo "install tree: OK"
