#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netns.sh CASE - real hosts of one fabric (issue 10): each host is a network
# namespace with its own munged and its own scifd --config, all joined by a
# bridge in a "switch" namespace, with private addresses (10.77.0.0/24, or
# fd77::/64 for ipv6).
#
#   two      two hosts see each other's nodes (scif_get_nodeIDs, scif info)
#   ipv6     the same over IPv6, on another port than the default
#   kill     a daemon killed (SIGKILL): the other host drops its nodes within
#            5 s; restarted, they come back, nothing else restarted
#   linkcut  the same with the link cut (ip link set down) and restored
#   bye      a daemon stopped (SIGTERM) says goodbye: the other host drops
#            its nodes at once; restarted at once after a SIGKILL, its new
#            boot id makes the other host re-authenticate it
#   badkey   a host whose munged has another key is refused: its nodes never
#            appear and the log says why
#   replay   a replayed HELLO (tests/link_replay) is refused
#   hostile  a host floods another's daemon with garbage, forged HELLOs and
#            records claiming to be a third host: the daemon survives,
#            keeps its link to that host and logs a bounded number of lines
#   uid      a HELLO whose credential is another user's (not root, not the
#            daemon's) is refused
#   three    three hosts with cards on each: every host lists all nodes
#
# Needs root (namespaces), ip (iproute2), munged and mungekey (munge); exits
# 77 (ctest: skipped) with a "not root: ..." or "no ip/munged: ..." line
# when it cannot run. Programs come from the environment: SKIFF_SCIFD,
# SKIFF_SCIF, SKIFF_NODES (tests/netns_nodes), SKIFF_REPLAY
# (tests/link_replay). Nothing sleeps to synchronise: scifd reports
# readiness on --ready-fd, munged returns once it serves, and everything
# else is a condition polled until a deadline. Everything started is
# stopped, and the namespaces deleted, on any exit (trap).
# SKIFF_NETNS_KEEP=1 keeps the temporary directory (logs) for a post-mortem.
set -euo pipefail

CASE=${1:-}
NAME="netns_$CASE"
say() { printf '[%s] %s\n' "$NAME" "$*"; }
skip() { printf 'SKIP %s: %s\n' "$NAME" "$*"; exit 77; }

case $CASE in
two | ipv6 | kill | bye | linkcut | badkey | replay | hostile | uid | three) ;;
*) echo "usage: netns.sh two|ipv6|kill|bye|linkcut|badkey|replay|hostile|uid|three" >&2; exit 2 ;;
esac
[[ $(id -u) == 0 ]] || skip "not root: network namespaces need root (CI runs this as root)"
for c in ip munged mungekey; do
	command -v "$c" >/dev/null 2>&1 ||
		skip "no ip/munged: '$c' not found (Debian: iproute2, munge)"
done
for v in SKIFF_SCIFD SKIFF_SCIF SKIFF_NODES; do
	[[ -x ${!v:-} ]] || { echo "$NAME: $v is not set to a program" >&2; exit 2; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/skiff-netns.XXXXXX")
chmod 711 "$T" # munged refuses a directory others can write, warns if they cannot reach the socket
P="sk$$"       # namespace and interface prefix: unique per run
SW="$P-sw"     # the switch namespace, holding the bridge
FAB="netns"
NSES=()        # namespaces created
SCIFD_PID=()   # by host index
NHOSTS=0
HNAME=() HADDR=() HNODES=() HKEY=()
V6=0           # addresses: 10.77.0.N/24, or fd77::N/64 on port 7400
status=1

cleanup() {
	local i
	set +e
	for i in "${!SCIFD_PID[@]}"; do
		[[ -n ${SCIFD_PID[$i]} ]] && kill -KILL "${SCIFD_PID[$i]}" 2>/dev/null
	done
	for f in "$T"/munged*.pid; do
		[[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null
	done
	wait 2>/dev/null
	for n in "${NSES[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
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
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { say "FAIL: $*"; exit 1; }

now_ms() { date +%s%3N; }

# wait_for MS WHAT CMD...: run CMD until it succeeds or MS pass.
wait_for() {
	local ms=$1 what=$2 end
	shift 2
	end=$(($(now_ms) + ms))
	until "$@"; do
		(($(now_ms) < end)) || fail "$what: not within $ms ms"
		sleep 0.1
	done
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
	local i=$1 fifo="$T/ready$i" rfd b=
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

log_has() { grep -q -- "$2" "$T/scifd$1.log"; }

mungekey --create --keyfile="$T/munge.key" >/dev/null 2>&1 ||
	mungekey -c -k "$T/munge.key" >/dev/null
make_switch

case $CASE in
two)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	# a process may only be on its own host's nodes
	expect_open 0 1 ok
	expect_open 0 3 ENODEV
	expect_open 1 4 ok
	expect_open 1 0 ENODEV
	json=$(info_of 0 --json)
	[[ $json == *'"nodes":[0,1,2,3,4]'* ]] || fail "scif info --json on a: $json"
	[[ $json == *'"name":"a","address":"10.77.0.1","port":7351,"first":0,"last":1,"link":"self"'* &&
		$json == *'"name":"b","address":"10.77.0.2","port":7351,"first":2,"last":4,"link":"up"'* ]] ||
		fail "scif info --json on a: hosts: $json"
	say "scif info --json on a lists nodes 0-4, a (self) and b (up)"
	info_of 1 | sed -n '/^hosts:/,/^$/p' >"$T/info-b.txt"
	grep -Eq '^ +a +10\.77\.0\.1:7351 +0-1 +up ' "$T/info-b.txt" ||
		fail "scif info on b: $(cat "$T/info-b.txt")"
	say "scif info on b: $(grep -E '^ +a ' "$T/info-b.txt")"
	log_has 0 "host 'b' up (nodes 2-4)" || fail "a's log does not say b is up"
	;;
ipv6)
	V6=1
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	json=$(info_of 0 --json)
	[[ $json == *'"name":"b","address":"fd77::2","port":7400,"first":2,"last":4,"link":"up"'* ]] ||
		fail "scif info --json on a: $json"
	say "scif info on a: $(info_of 0 | grep -E '^ +b ')"
	;;
kill)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	kill_scifd 1
	t0=$(now_ms)
	expect_nodes 0 0 0,1 5000
	say "a dropped b's nodes $(($(now_ms) - t0)) ms after SIGKILL"
	[[ $(info_of 0 --json) == *'"name":"b",'*'"link":"down"'* ]] ||
		fail "scif info on a does not show b down: $(info_of 0 --json)"
	start_scifd 1
	expect_nodes 0 0 0,1,2,3,4 15000
	expect_nodes 1 2 0,1,2,3,4 15000
	log_has 0 "host 'b' down: no record for 3 s" || fail "a's log does not say why b went down"
	;;
bye)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	kill -TERM "${SCIFD_PID[1]}"
	t0=$(now_ms)
	# well before the 3 s of silence that would take it down otherwise
	expect_nodes 0 0 0,1 2000
	say "a dropped b's nodes $(($(now_ms) - t0)) ms after SIGTERM"
	wait "${SCIFD_PID[1]}" || fail "scifd of b did not exit 0 on SIGTERM"
	SCIFD_PID[1]=
	log_has 0 "host 'b' down: it said goodbye" || fail "a's log does not say b said goodbye"
	start_scifd 1
	expect_nodes 0 0 0,1,2,3,4 15000
	# SIGKILL and an immediate restart: a hears the new daemon before it
	# misses the old one (unless the machine is slow enough to take 3 s);
	# either way b goes down on a once more, then comes back
	kill_scifd 1
	start_scifd 1
	downs() { (($(grep -c "host 'b' down" "$T/scifd0.log") >= 2)); }
	wait_for 15000 "a takes the old b down" downs
	expect_nodes 0 0 0,1,2,3,4 15000
	expect_nodes 1 2 0,1,2,3,4 15000
	if log_has 0 "host 'b' down: restarted (new boot id)"; then
		say "a re-authenticated b after its restart (new boot id)"
	else
		log_has 0 "host 'b' down: no record for 3 s" ||
			fail "a's log does not say b went down"
		say "the restart took over 3 s: a timed b out first"
	fi
	;;
linkcut)
	add_host a 0-1
	add_host b 2-4
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	expect_nodes 1 2 0,1,2,3,4 10000
	ip -n "$(ns 1)" link set "${P}h1" down
	t0=$(now_ms)
	expect_nodes 0 0 0,1 5000
	expect_nodes 1 2 2,3,4 5000
	say "both hosts dropped the other's nodes $(($(now_ms) - t0)) ms after the cut"
	ip -n "$(ns 1)" link set "${P}h1" up
	t0=$(now_ms)
	expect_nodes 0 0 0,1,2,3,4 30000
	expect_nodes 1 2 0,1,2,3,4 30000
	say "linked again $(($(now_ms) - t0)) ms after the link came back"
	;;
badkey)
	add_host a 0-1
	add_host b 2-4 "$T/other.key"
	mungekey --create --keyfile="$T/other.key" >/dev/null 2>&1 ||
		mungekey -c -k "$T/other.key" >/dev/null
	for i in 0 1; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	# each refuses the other; meanwhile neither ever lists the other's
	refused_both() {
		sees 0 0,1 || fail "a lists b's nodes: $(nodes_of 0)"
		sees 1 2,3,4 || fail "b lists a's nodes: $(nodes_of 1)"
		log_has 0 "refused host 'b': credential refused by munged" &&
			log_has 1 "refused host 'a': credential refused by munged"
	}
	wait_for 15000 "both hosts log the refusal" refused_both
	say "a: $(grep "refused host 'b'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'b' up" || fail "a linked to b"
	;;
replay)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	add_host a 0-1
	add_host r 2 # played by link_replay
	for i in 0 1; do start_munged $i; done
	start_scifd 0
	ip netns exec "$(ns 1)" "$SKIFF_REPLAY" "$T/fabric" r a "$FAB" \
		"$T/munged1.sock" >"$T/replay.log" 2>&1 ||
		fail "link_replay: $(cat "$T/replay.log")"
	wait_for 10000 "a logs the replay" log_has 0 "refused host 'r': credential refused by munged: Replayed credential"
	say "a: $(grep "refused host 'r'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'r' up" || fail "a linked to the replaying host"
	sees 0 0,1 || fail "a lists r's node: $(nodes_of 0)"
	;;
hostile)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	add_host a 0-1
	add_host b 2-4
	add_host r 5 # played by link_replay --flood
	for i in 0 1 2; do start_munged $i; done
	for i in 0 1; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4 10000
	t0=$(now_ms)
	ip netns exec "$(ns 2)" "$SKIFF_REPLAY" --flood 5000 "$T/fabric" r a \
		"$FAB" "$T/munged2.sock" >"$T/replay.log" 2>&1 ||
		fail "link_replay: $(cat "$T/replay.log")"
	secs=$((($(now_ms) - t0) / 1000 + 1))
	say "$(cat "$T/replay.log") in about $secs s"
	kill -0 "${SCIFD_PID[0]}" || fail "a's scifd died"
	expect_nodes 0 0 0,1,2,3,4 1000
	expect_nodes 1 2 0,1,2,3,4 1000
	! log_has 0 "host 'b' down" || fail "the flood took b down on a: $(grep "host 'b' down" "$T/scifd0.log")"
	lines=$(grep -c "refused host 'r'" "$T/scifd0.log" || true)
	say "a logged $lines refusal(s) of r"
	((lines >= 1)) || fail "a did not log the forged credentials"
	((lines <= secs + 1)) || fail "a logged $lines refusals in $secs s"
	;;
uid)
	[[ -x ${SKIFF_REPLAY:-} ]] || { echo "$NAME: SKIFF_REPLAY is not set" >&2; exit 2; }
	command -v setpriv >/dev/null 2>&1 || skip "no setpriv (util-linux)"
	add_host a 0-1
	add_host r 2
	for i in 0 1; do start_munged $i; done
	start_scifd 0
	# nobody (65534): munged vouches for that uid, which is neither root
	# nor the daemon's
	ip netns exec "$(ns 1)" setpriv --reuid=65534 --regid=65534 \
		--clear-groups "$SKIFF_REPLAY" --once "$T/fabric" r a "$FAB" \
		"$T/munged1.sock" >"$T/replay.log" 2>&1 &
	SCIFD_PID[1]=$! # stopped with the daemons
	wait_for 10000 "a logs the refusal" log_has 0 "refused host 'r': credential of uid 65534, not 0 or 0"
	say "a: $(grep "refused host 'r'" "$T/scifd0.log" | head -n 1)"
	! log_has 0 "host 'r' up" || fail "a linked to r"
	;;
three)
	add_host a 0-2
	add_host b 3-5
	add_host c 6-9
	for i in 0 1 2; do start_munged $i; done
	for i in 0 1 2; do start_scifd $i; done
	expect_nodes 0 0 0,1,2,3,4,5,6,7,8,9 15000
	expect_nodes 1 3 0,1,2,3,4,5,6,7,8,9 15000
	expect_nodes 2 6 0,1,2,3,4,5,6,7,8,9 15000
	expect_open 2 9 ok
	expect_open 2 5 ENODEV
	;;
esac

status=0
say "PASS"
