#!/usr/bin/env bash
# check_packages.sh DEBDIR SOURCE_DIR - install the skiff .debs of DEBDIR on
# this (throwaway) machine, use them as a user of Debian would, and purge
# them again. Needs root; CI runs it (scripts/test.sh, stage pkg, with
# SKIFF_PKG_INSTALL=1). Checks:
#  - a program builds with `pkg-config --cflags --libs libscif micmem`, and
#    a CMake project with find_package(skiff), and both run;
#  - the README's example: scifd --cards 1, hello_card on node 1 and
#    hello_host on node 0, built from /usr/share/doc/skiff/examples;
#  - man finds the pages of calls and tools; the installed units verify.
set -euo pipefail
debdir=$1 src=$2
pkgs=(libscif0 libscif-dev libmicmem0 libmicmem-dev skiff)

[[ $(id -u) == 0 ]] || { echo "check_packages: needs root (dpkg -i)"; exit 1; }
for p in "${pkgs[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		echo "check_packages: $p is installed already; not touching this machine"
		exit 1
	fi
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check_packages: FAIL: $*" >&2; exit 1; }

debs=()
for p in "${pkgs[@]}"; do debs+=("$(ls "$debdir"/"${p}"_*.deb)"); done
dpkg -i "${debs[@]}"

# -- consumers --------------------------------------------------------------
# shellcheck disable=SC2046 # pkg-config prints word lists
cc -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$src/tests/consumer/consumer.c" \
	$(pkg-config --cflags --libs libscif micmem)
SCIF_FABRIC=pkg-pc-$$ "$tmp/consumer_pc" || fail "pkg-config consumer"
cmake -S "$src/tests/consumer" -B "$tmp/cb" >/dev/null
cmake --build "$tmp/cb" >/dev/null
SCIF_FABRIC=pkg-cmake-$$ "$tmp/cb/consumer" || fail "find_package consumer"
readelf -d "$tmp/cb/consumer" | grep -Eq 'RPATH|RUNPATH' &&
	fail "a consumer of the system libraries got a RUNPATH"
readelf -d /usr/bin/scif | grep -Eq 'RPATH|RUNPATH' && fail "/usr/bin/scif has a RUNPATH"

# -- the README's example, from the packaged examples ------------------------
ex=/usr/share/doc/skiff/examples
for e in hello_card hello_host; do
	# shellcheck disable=SC2046
	cc -o "$tmp/$e" "$ex/$e.c" $(pkg-config --cflags --libs libscif)
done
export SCIF_FABRIC=pkg-readme-$$
mkfifo "$tmp/ready" "$tmp/card.out"
scifd --cards 1 --ready-fd 3 3>"$tmp/ready" &
pids+=("$!")
[[ $(head -c 1 "$tmp/ready" | wc -c) == 1 ]] || fail "scifd did not start"
SCIF_NODE=1 "$tmp/hello_card" -p 2000 -c 1 >"$tmp/card.out" &
pids+=("$!")
exec {fd}<"$tmp/card.out"
while IFS= read -r -t 30 line <&"$fd"; do
	[[ $line == *listening* ]] && break
done
[[ ${line:-} == *listening* ]] || fail "hello_card did not listen"
"$tmp/hello_host" -n 3 | tee "$tmp/host.out"
[[ $(grep -c "round trip [0-9]" "$tmp/host.out") == 3 ]] || fail "hello_host: no 3 round trips"
scif info | tee "$tmp/info.out"
unset SCIF_FABRIC

# -- man pages, units ----------------------------------------------------------
man -w scif_open scif_vwriteto micmem_close micmem_devunmap scif scifd >/dev/null ||
	fail "man does not find the installed pages"
systemd-analyze verify /lib/systemd/system/scifd@.service || fail "systemd-analyze verify scifd@.service"
mkdir -m 700 "$tmp/xdg"
XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze --user verify /usr/lib/systemd/user/scifd.service \
	/usr/lib/systemd/user/scifd@.service || fail "systemd-analyze --user verify"

echo "check_packages: installed packages work; purging them"
