#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_packages.sh DEBDIR SOURCE_DIR - install the skiff .debs of DEBDIR on
# this (throwaway) machine, use them as a user of Debian would, and purge
# them again. Needs root; CI runs it (scripts/test.sh, stage pkg, with
# SKIFF_PKG_INSTALL=1). The checks are debian/tests/installed (also the
# autopkgtest): consumers built with pkg-config and find_package, the
# README example, man pages, units.
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
cleanup() {
	dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "check_packages: FAIL: $*" >&2; exit 1; }

debs=()
for p in "${pkgs[@]}"; do debs+=("$(ls "$debdir"/"${p}"_*.deb)"); done
dpkg -i "${debs[@]}"

(cd "$src" && bash debian/tests/installed) || fail "the installed packages do not work"

echo "check_packages: installed packages work; purging them"
