# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# netns_lib.sh - the host set-up of tests/netns.sh, for any script that runs
# real hosts of one fabric (issue 10): each host a network namespace with
# its own munged and its own scifd --config, all joined by a bridge in a
# "switch" namespace, with private addresses (10.77.0.N/24, or fd77::N/64).
#
# Use (bash, set -euo pipefail advised):
#
#   NAME=mybench                      # prefixes messages; required
#   source "$dir/netns_lib.sh"
#   netns_init SKIFF_SCIFD SKIFF_NODES   # root, ip, munged, these programs
#   add_host a 0-1; add_host b 2-4
#   for i in 0 1; do start_munged $i; done
#   for i in 0 1; do start_scifd $i; done
#   expect_nodes 0 0 0,1,2,3,4 10000
#   ...
#   status=0                          # success: cleanup prints no logs
#
# netns_init VAR...  exits 77 (ctest: skipped) with "SKIP NAME: not root:
#   ..." or "... no ip/munged: ..." when the hosts cannot be made, and 2 if
#   an environment variable VAR does not name a program. Then it makes the
#   temporary directory $T, installs the EXIT trap (cleanup), creates the
#   MUNGE key $T/munge.key and the switch.
#
# Programs, from the environment: SKIFF_SCIFD (start_scifd), SKIFF_NODES
# (tests/netns_nodes: nodes_of, sees, expect_nodes, expect_open),
# SKIFF_SCIF (info_of). Only those the caller uses need to be set.
#
# Variables: NAME (set by the caller), T (temporary directory: fabric file
# $T/fabric, logs $T/*.log, munged sockets $T/munged<i>.sock), P (prefix
# of namespace and interface names), SW (the switch namespace), FAB (fabric
# name, "netns"; set it after sourcing for another), V6 (set to 1 before
# add_host for IPv6 on port 7400), NHOSTS, per host index i (0-based, in
# add_host order): HNAME[i], HADDR[i], HNODES[i], HKEY[i], SCIFD_PID[i];
# BG_PID (processes started with spawn_in), status (1 until the caller sets
# 0: on a non-zero status cleanup prints the tail of every log).
# The veth of host i is "${P}h$i" in namespace $(ns i).
#
# cleanup (on any exit) kills the daemons and spawn_in's processes, stops
# the munged, deletes the namespaces and the directory;
# SKIFF_NETNS_KEEP=1 keeps the directory (logs) for a post-mortem.
# Nothing sleeps to synchronise: scifd reports readiness on --ready-fd,
# munged returns once it serves, and everything else is a condition polled
# until a deadline (wait_for).

: "${NAME:?netns_lib.sh: set NAME before sourcing}"

say() { printf '[%s] %s\n' "$NAME" "$*"; }
skip() { printf 'SKIP %s: %s\n' "$NAME" "$*"; exit 77; }
fail() { say "FAIL: $*"; exit 1; }

now_ms() { date +%s%3N; }

# wait_for MS WHAT CMD...: run CMD until it succeeds; fail (exit) after MS.
wait_for() {
	local ms=$1 what=$2 end
	shift 2
	end=$(($(now_ms) + ms))
	until "$@"; do
		(($(now_ms) < end)) || fail "$what: not within $ms ms"
		sleep 0.1
	done
}

# wait_for_quiet MS CMD...: run CMD until it succeeds (0) or MS pass (1).
wait_for_quiet() {
	local end=$(($(now_ms) + $1))
	shift
	until "$@"; do
		(($(now_ms) < end)) || return 1
		sleep 0.1
	done
}

FAB=netns      # the fabric's name (set after sourcing for another)
NSES=()        # namespaces created
SCIFD_PID=()   # by host index
BG_PID=()      # spawn_in's processes
NHOSTS=0
HNAME=() HADDR=() HNODES=() HKEY=()
V6=0           # addresses: 10.77.0.N/24, or fd77::N/64 on port 7400
status=1
T=

cleanup() {
	local i f n
	set +e
	trap '' PIPE # a reader gone: the logs are lost, the clean-up is not
	for i in "${!SCIFD_PID[@]}"; do
		[[ -n ${SCIFD_PID[$i]} ]] && kill -KILL "${SCIFD_PID[$i]}" 2>/dev/null
	done
	for i in "${!BG_PID[@]}"; do
		[[ -n ${BG_PID[$i]} ]] && kill -KILL "${BG_PID[$i]}" 2>/dev/null
	done
	[[ -n $T ]] && for f in "$T"/munged*.pid; do
		[[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null
	done
	wait 2>/dev/null
	for n in "${NSES[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	[[ -n $T ]] || return 0
	if ((status != 0)); then
		for f in "$T"/*.log; do
			[[ -f $f ]] || continue
			echo "---- $(basename "$f")"
			tail -n 40 "$f"
		done
	fi
	if [[ ${SKIFF_NETNS_KEEP:-0} == 1 ]]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}

# netns_init VAR...: see the header.
netns_init() {
	local c v
	[[ $(id -u) == 0 ]] || skip "not root: network namespaces need root (CI runs this as root)"
	for c in ip munged mungekey; do
		command -v "$c" >/dev/null 2>&1 ||
			skip "no ip/munged: '$c' not found (Debian: iproute2, munge)"
	done
	for v in "$@"; do
		[[ -x ${!v:-} ]] || { echo "$NAME: $v is not set to a program" >&2; exit 2; }
	done
	T=$(mktemp -d "${TMPDIR:-/tmp}/skiff-netns.XXXXXX")
	chmod 711 "$T" # munged refuses a directory others can write, warns if they cannot reach the socket
	P="sk$$"       # namespace and interface prefix: unique per run
	SW="$P-sw"     # the switch namespace, holding the bridge
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP PIPE # PIPE: output piped into head must not skip cleanup
	mungekey --create --keyfile="$T/munge.key" >/dev/null 2>&1 ||
		mungekey -c -k "$T/munge.key" >/dev/null
	make_switch
}

ns() { echo "$P-h$1"; }

# The switch: a bridge every host is plugged into.
make_switch() {
	ip netns add "$SW" || skip "no ip/munged: cannot create a network namespace (ip netns add)"
	NSES+=("$SW")
	ip -n "$SW" link add br0 type bridge
	ip -n "$SW" link set br0 up
}

# add_host NAME NODES [KEY]: a namespace with an address on the bridge.
add_host() {
	local i=$NHOSTS n
	n=$(ns "$i")
	HNAME[i]=$1
	if ((V6)); then
		HADDR[i]="fd77::$((i + 1))"
	else
		HADDR[i]="10.77.0.$((i + 1))"
	fi
	HNODES[i]=$2
	HKEY[i]=${3:-$T/munge.key}
	ip netns add "$n"
	NSES+=("$n")
	ip link add "${P}h$i" netns "$n" type veth peer name "${P}s$i" netns "$SW"
	ip -n "$SW" link set "${P}s$i" master br0 up
	ip -n "$n" link set lo up
	if ((V6)); then
		# nodad: usable at once, no duplicate detection to wait for
		ip -n "$n" addr add "${HADDR[i]}/64" dev "${P}h$i" nodad
		echo "host ${HNAME[i]} [${HADDR[i]}]:7400 nodes ${HNODES[i]}" >>"$T/fabric"
	else
		ip -n "$n" addr add "${HADDR[i]}/24" dev "${P}h$i"
		echo "host ${HNAME[i]} ${HADDR[i]} nodes ${HNODES[i]}" >>"$T/fabric"
	fi
	ip -n "$n" link set "${P}h$i" up
	NHOSTS=$((i + 1))
}

# munged of host i, in its namespace, with its own files; it forks once
# it serves its socket.
start_munged() {
	local i=$1
	ip netns exec "$(ns "$i")" munged --force \
		--socket="$T/munged$i.sock" --key-file="${HKEY[i]}" \
		--pid-file="$T/munged$i.pid" --log-file="$T/munged$i.log" \
		--seed-file="$T/munged$i.seed" ||
		fail "munged of host ${HNAME[i]} did not start"
}

# scifd of host i; returns once it reports ready on --ready-fd.
start_scifd() {
	local i=$1
	local fifo="$T/ready$i" rfd b= # apart: in the first local, $i is the caller's
	rm -f "$fifo"
	mkfifo "$fifo"
	exec {rfd}<>"$fifo" # read-write: opening the writer never blocks
	ip netns exec "$(ns "$i")" "$SKIFF_SCIFD" --config "$T/fabric" \
		--host "${HNAME[i]}" --munge-socket "$T/munged$i.sock" \
		--fabric "$FAB" --card-mem 1M --ready-fd 9 \
		9>"$fifo" >>"$T/scifd$i.log" 2>&1 &
	SCIFD_PID[i]=$!
	read -r -t 20 -N 1 -u "$rfd" b || true
	exec {rfd}<&-
	[[ $b == R ]] || fail "scifd of host ${HNAME[i]} did not become ready"
}

kill_scifd() {
	local i=$1
	kill -KILL "${SCIFD_PID[i]}"
	wait "${SCIFD_PID[i]}" 2>/dev/null || true
	SCIFD_PID[i]=
}

# spawn_in I LOG CMD...: run CMD in host i's namespace, in the background,
# in the fabric, stdout and stderr to LOG; its pid is left in SPAWNED (and
# in BG_PID, killed on exit). Environment settings go first as env does:
# spawn_in 0 "$T/c.log" env SCIF_NODE=1 prog args.
spawn_in() {
	local i=$1 log=$2
	shift 2
	ip netns exec "$(ns "$i")" env SCIF_FABRIC="$FAB" "$@" >"$log" 2>&1 &
	SPAWNED=$!
	BG_PID+=("$SPAWNED")
}

# run_in I CMD...: run CMD in host i's namespace, in the fabric (foreground).
run_in() {
	local i=$1
	shift
	ip netns exec "$(ns "$i")" env SCIF_FABRIC="$FAB" "$@"
}

# nodes_of I [VAR=VALUE...] [open]: what a program on host i sees.
nodes_of() {
	local i=$1
	shift
	ip netns exec "$(ns "$i")" env SCIF_FABRIC="$FAB" "$@" "$SKIFF_NODES" \
		${OPEN:+open} 2>/dev/null || true
}

# sees I NODES: host i lists exactly NODES ("0,1,2").
sees() { [[ $(nodes_of "$1") == *"nodes=$2" ]]; }

# expect_nodes I SELF NODES MS: host i comes to list NODES, with SELF its
# default node, within MS (one query decides: nodes may come and go
# between two).
expect_nodes() {
	local end got
	end=$(($(now_ms) + $4))
	while got=$(nodes_of "$1"); [[ $got != "self=$2 nodes=$3" ]]; do
		(($(now_ms) < end)) ||
			fail "host ${HNAME[$1]} lists '$got', not 'self=$2 nodes=$3', after $4 ms"
		sleep 0.1
	done
	say "host ${HNAME[$1]}: $got"
}

# expect_open I NODE RESULT: scif_open with SCIF_NODE=NODE on host i.
expect_open() {
	local got
	got=$(OPEN=1 nodes_of "$1" SCIF_NODE="$2" | sed -n 's/^open=//p')
	[[ $got == "$3" ]] || fail "host ${HNAME[$1]}: scif_open on node $2 gave '$got', want '$3'"
	say "host ${HNAME[$1]}: SCIF_NODE=$2 scif_open: $got"
}

# info_of I [--json]: scif info on host i.
info_of() {
	local i=$1
	shift
	ip netns exec "$(ns "$i")" env SCIF_FABRIC="$FAB" "$SKIFF_SCIF" info "$@"
}

# log_has I TEXT: host i's scifd log contains TEXT.
log_has() { grep -q -- "$2" "$T/scifd$1.log"; }
