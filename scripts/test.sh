#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - build skiff and run every test suite; exits non-zero on any failure.
#
#   scripts/test.sh
#
# Stages, each in its own build directory under $BUILD_ROOT (default: the
# repository, as build-test, build-asan and build-fuzz):
#   1. release   gcc, Release build, ctest
#   2. asan      gcc, RelWithDebInfo, -DSKIFF_SANITIZE=address,undefined, ctest
#   3. fuzz      clang, -DSKIFF_FUZZ=ON: the whole suite built by clang
#                (-Werror), with the fuzz harnesses' smoke runs (only if
#                clang can link -fsanitize=fuzzer; required when
#                SKIFF_REQUIRE_FUZZ=1)
#   4. tsan      gcc, -DSKIFF_SANITIZE=thread, ctest without the header,
#                ABI, fuzz and install checks (tests run 5-15x slower:
#                TSAN_TEST_TIMEOUT, default 300 s each) and without
#                campaign_hostile, whose victim threads share one buffer
#                and the attacker's windows on purpose (races of the
#                workload, not of the library; ASan runs it)
#   5. lint      cppcheck (warning, portability, performance) of src/: no
#                finding (only if cppcheck is installed; required when
#                SKIFF_REQUIRE_LINT=1)
#   6. man pages groff lint of docs/man (only if groff is installed)
#   7. pkg       Debian packages: dpkg-buildpackage -us -uc -b on a copy of
#                the tree in build-pkg/ (tests not run again if the release
#                stage ran: DEB_BUILD_OPTIONS=nocheck), lintian (no error or
#                warning), and with SKIFF_PKG_INSTALL=1 (CI, as root) install
#                them, build and run consumers with pkg-config and with
#                find_package, run the README example, purge them
#                (tests/check_packages.sh). Skipped without dpkg-buildpackage,
#                debhelper and lintian; required when SKIFF_REQUIRE_PKG=1.
#
# Environment: BUILD_ROOT, JOBS (parallel build and test jobs, default: nproc),
# TEST_TIMEOUT (seconds per test, default 120), SKIFF_TEST_STAGES (a subset of
# "release asan fuzz tsan lint man pkg", default all), SKIFF_REQUIRE_FUZZ=1,
# SKIFF_REQUIRE_LINT=1,
# SKIFF_REQUIRE_PKG=1, SKIFF_PKG_INSTALL=1, SKIFF_PKG_CHECK=1 (run the test
# suite inside the package build even after the release stage).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
BUILD_ROOT=${BUILD_ROOT:-$root}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
STAGES=${SKIFF_TEST_STAGES:-release asan fuzz tsan lint man pkg}
STAGE_LIMIT=${STAGE_LIMIT:-900} # wall-clock seconds per ctest run

failed=()
passed=()
skipped=()
t_start=$SECONDS

say() { printf '\n==== %s\n' "$*"; }
want() { [[ " $STAGES " == *" $1 "* ]]; }

# stage NAME BUILD_DIR CTEST_ARGS -- CMAKE_ARGS...
# Configures, builds and runs ctest; records the result instead of exiting so
# that one broken stage does not hide the others.
stage() {
	local name=$1 dir=$2 ctest_args=$3 t0=$SECONDS
	local timeout=${STAGE_TEST_TIMEOUT:-$TEST_TIMEOUT}
	shift 4
	say "$name: configure ($dir)"
	if ! cmake -S "$root" -B "$dir" "$@"; then
		failed+=("$name (configure)")
		return
	fi
	say "$name: build"
	if ! cmake --build "$dir" -j "$JOBS"; then
		failed+=("$name (build)")
		return
	fi
	say "$name: ctest $ctest_args"
	# shellcheck disable=SC2086 # ctest_args is a word list
	if (cd "$dir" && timeout --kill-after=30 "$STAGE_LIMIT" \
		ctest --output-on-failure -j "$JOBS" --timeout "$timeout" \
		--no-tests=error $ctest_args); then
		passed+=("$name ($((SECONDS - t0)) s)")
	else
		failed+=("$name (tests)")
	fi
}

have_gcc=gcc
command -v gcc >/dev/null || have_gcc=cc

if want release; then
	stage release "$BUILD_ROOT/build-test" "" -- \
		-DCMAKE_C_COMPILER="$have_gcc" -DCMAKE_BUILD_TYPE=Release \
		-DSKIFF_SANITIZE= -DSKIFF_FUZZ=OFF
fi

if want asan; then
	# Leak checks on; abort at the first report so ctest sees a failure.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	stage asan "$BUILD_ROOT/build-asan" "" -- \
		-DCMAKE_C_COMPILER="$have_gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSKIFF_SANITIZE=address,undefined -DSKIFF_FUZZ=OFF
fi

# Can clang build a libFuzzer binary here? (Debian: libclang-rt-NN-dev.)
fuzz_ok() {
	command -v clang >/dev/null || return 1
	local d
	d=$(mktemp -d)
	printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' >"$d/f.c"
	if clang -fsanitize=fuzzer,address -o "$d/f" "$d/f.c" 2>/dev/null; then
		rm -rf "$d"
		return 0
	fi
	rm -rf "$d"
	return 1
}

if want fuzz; then
	if fuzz_ok; then
		# valgrind 3.19 cannot read clang 14's DWARF 5: memcheck
		# runs in the release stage
		stage fuzz "$BUILD_ROOT/build-fuzz" "-E ^valgrind_smoke$" -- \
			-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
			-DSKIFF_FUZZ=ON -DSKIFF_SANITIZE=
	elif [[ ${SKIFF_REQUIRE_FUZZ:-0} == 1 ]]; then
		say "fuzz: clang with libFuzzer is required (SKIFF_REQUIRE_FUZZ=1) but missing"
		failed+=("fuzz (no clang/libFuzzer)")
	else
		say "fuzz: SKIPPED: clang cannot link -fsanitize=fuzzer (install clang and libclang-rt-dev)"
		skipped+=("fuzz")
	fi
fi

if want tsan; then
	# a race in a forked child must fail too; the library keeps service
	# threads, so a child of fork() starts its own (die_after_fork=0)
	export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:die_after_fork=0}
	STAGE_TEST_TIMEOUT=${TSAN_TEST_TIMEOUT:-300} \
		stage tsan "$BUILD_ROOT/build-tsan" \
		"-E ^(header_|abi_|fuzz|install_tree|build_testing_off|valgrind|campaign_hostile)" -- \
		-DCMAKE_C_COMPILER="$have_gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSKIFF_SANITIZE=thread -DSKIFF_FUZZ=OFF
fi

if want lint; then
	if command -v cppcheck >/dev/null; then
		say "lint: cppcheck of src/"
		if cppcheck --enable=warning,portability,performance --std=c11 \
			--quiet --inline-suppr --error-exitcode=1 \
			-I "$root/include" -I "$root/src/common" -I "$root/src/lib" \
			-I "$root/src/micmem" "$root/src"; then
			passed+=("lint")
		else
			failed+=("lint (cppcheck findings above)")
		fi
	elif [[ ${SKIFF_REQUIRE_LINT:-0} == 1 ]]; then
		say "lint: cppcheck is required (SKIFF_REQUIRE_LINT=1) but missing"
		failed+=("lint (no cppcheck)")
	else
		say "lint: SKIPPED: cppcheck not installed"
		skipped+=("lint")
	fi
fi

if want man; then
	if command -v groff >/dev/null; then
		say "man: groff lint of docs/man"
		man_bad=0
		for page in "$root"/docs/man/man*/*.[1-9]; do
			[[ -e $page ]] || continue
			out=$(groff -man -ww -z -Tutf8 "$page" 2>&1) || man_bad=1
			if [[ -n $out ]]; then
				printf '%s:\n%s\n' "$page" "$out"
				man_bad=1
			fi
		done
		if ((man_bad)); then failed+=("man"); else passed+=("man"); fi
	else
		say "man: SKIPPED: groff not installed"
		skipped+=("man")
	fi
fi

pkg_ok() {
	command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null &&
		command -v lintian >/dev/null
}

# stage_pkg: build the .debs from a copy of the tree (dpkg-buildpackage
# writes into the parent directory, which must not be the repository's).
stage_pkg() {
	local t0=$SECONDS dir=$BUILD_ROOT/build-pkg version name
	version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
	name=skiff-${version%%-*}
	# one version everywhere: project(VERSION), debian/changelog, NEWS
	local pv
	pv=$(sed -n 's/^project(skiff VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
	if [[ $pv != "${version%%-*}" ]] || ! grep -q "^$pv " "$root/NEWS"; then
		say "pkg: project(VERSION) $pv, debian/changelog $version and NEWS disagree"
		failed+=("pkg (versions)")
		return
	fi
	say "pkg: dpkg-buildpackage ($dir)"
	rm -rf "$dir"
	mkdir -p "$dir/$name"
	if [[ -e $root/.git ]] && command -v git >/dev/null; then
		(cd "$root" && git ls-files -co --exclude-standard -z |
			tar --null -cf - -T -) | tar -xf - -C "$dir/$name"
	else
		tar -C "$root" --exclude='./build*' --exclude='./obj-*' -cf - . |
			tar -xf - -C "$dir/$name"
	fi
	local opts=${DEB_BUILD_OPTIONS:-}
	if want release && [[ ${SKIFF_PKG_CHECK:-0} != 1 ]]; then
		opts="$opts nocheck" # the release stage ran the same tests
	fi
	if ! (cd "$dir/$name" && DEB_BUILD_OPTIONS="$opts parallel=$JOBS" \
		dpkg-buildpackage -us -uc -b >"$dir/build.log" 2>&1); then
		tail -n 60 "$dir/build.log"
		failed+=("pkg (dpkg-buildpackage, see $dir/build.log)")
		return
	fi
	say "pkg: lintian"
	if ! lintian --fail-on error,warning "$dir"/skiff_"$version"_*.changes; then
		failed+=("pkg (lintian)")
		return
	fi
	if [[ ${SKIFF_PKG_INSTALL:-0} == 1 ]]; then
		say "pkg: install, use and purge the packages"
		if ! bash "$root/tests/check_packages.sh" "$dir" "$root"; then
			failed+=("pkg (installed packages)")
			return
		fi
	else
		say "pkg: not installing the packages (SKIFF_PKG_INSTALL=1 does, as root)"
	fi
	passed+=("pkg ($((SECONDS - t0)) s)")
}

if want pkg; then
	if pkg_ok; then
		stage_pkg
	elif [[ ${SKIFF_REQUIRE_PKG:-0} == 1 ]]; then
		say "pkg: dpkg-buildpackage, debhelper and lintian are required (SKIFF_REQUIRE_PKG=1) but missing"
		failed+=("pkg (no dpkg-dev/debhelper/lintian)")
	else
		say "pkg: SKIPPED: needs dpkg-dev, debhelper and lintian"
		skipped+=("pkg")
	fi
fi

say "summary ($((SECONDS - t_start)) s)"
for s in "${passed[@]}"; do echo "  passed:  $s"; done
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
for s in "${failed[@]}"; do echo "  FAILED:  $s"; done
if ((${#failed[@]} == 0)); then
	echo "test.sh: every stage succeeded"
else
	echo "test.sh: ${#failed[@]} stage(s) FAILED"
	exit 1
fi
