#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# soak.sh - long kill -9 and hostile-peer campaigns (issue 7), with their tables.
#
#   scripts/soak.sh                 # 2000 kill trials (1000 per side), 200 hostile
#   KILL_TRIALS=200 HOSTILE_TRIALS=40 scripts/soak.sh
#   SOAK_SANITIZE=address,undefined scripts/soak.sh   # the victims under ASan+UBSan
#
# Builds skiff (Release, or RelWithDebInfo with SOAK_SANITIZE) in $BUILD
# (default: build-soak, or build-soak-asan, in the repository), then runs
# tests/campaign_kill and tests/campaign_hostile, each printing a table of
# trials and of the trials that showed each defect class (see the header
# comments of tests/campaign_kill.c and tests/campaign_hostile.c). Unlike the
# short campaigns in ctest, nothing is tolerated unless KNOWN_KILL or
# KNOWN_HOSTILE name classes (e.g. KNOWN_KILL=rma-death,sticky). Exits
# non-zero if either campaign saw a class it does not tolerate.
#
# Environment: BUILD, JOBS (build jobs, default 2), KILL_TRIALS (2000),
# HOSTILE_TRIALS (200), SEED (1), ATTACK_MS (1500), KNOWN_KILL,
# KNOWN_HOSTILE, SOAK_SANITIZE, SOAK_LOG (directory for the full logs,
# default $BUILD/soak-logs).
set -uo pipefail

cd "$(dirname "$0")/.."
root=$PWD
san=${SOAK_SANITIZE:-}
if [[ -n $san ]]; then
	BUILD=${BUILD:-$root/build-soak-asan}
	cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DSKIFF_SANITIZE=$san")
	# the hostile campaign fills the victim's address space: malloc must
	# then fail, not abort (as its ctest entry sets it)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1}
else
	BUILD=${BUILD:-$root/build-soak}
	cfg=(-DCMAKE_BUILD_TYPE=Release)
fi
JOBS=${JOBS:-2}
KILL_TRIALS=${KILL_TRIALS:-2000}
HOSTILE_TRIALS=${HOSTILE_TRIALS:-200}
SEED=${SEED:-1}
ATTACK_MS=${ATTACK_MS:-1500}
LOG=${SOAK_LOG:-$BUILD/soak-logs}

cmake -S "$root" -B "$BUILD" "${cfg[@]}" >/dev/null || exit 1
cmake --build "$BUILD" -j "$JOBS" --target campaign_kill campaign_hostile >/dev/null || exit 1
mkdir -p "$LOG"

status=0
run() { # name log args...
	local name=$1 log=$2 t0=$SECONDS
	shift 2
	printf '\n==== %s %s\n' "$name" "$*"
	"$BUILD/tests/$name" "$@" >"$log" 2>&1
	local rc=$?
	# the table and the verdicts; the per-trial lines are in the log
	grep -v '^\[' "$log"
	printf '(%s: exit %d, %d s; full log: %s)\n' "$name" "$rc" $((SECONDS - t0)) "$log"
	[[ $rc -eq 0 ]] || status=1
}

run campaign_kill "$LOG/campaign_kill.log" --trials "$KILL_TRIALS" --seed "$SEED" \
	${KNOWN_KILL:+--known=$KNOWN_KILL}
run campaign_hostile "$LOG/campaign_hostile.log" --trials "$HOSTILE_TRIALS" \
	--seed "$SEED" --attack-ms "$ATTACK_MS" ${KNOWN_HOSTILE:+--known=$KNOWN_HOSTILE}
exit $status
