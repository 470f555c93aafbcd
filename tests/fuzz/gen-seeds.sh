#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the committed seed corpus of fuzz_wire (corpus/wire/).
# Each file is one valid input: a wire record (docs/PROTOCOL.md, little
# endian) or a port name. Run from anywhere: tests/fuzz/gen-seeds.sh
set -eu
out="$(dirname "$0")/corpus/wire"
mkdir -p "$out"

u8() { printf "\\$(printf '%03o' "$1")"; } # octal escape: POSIX printf
u16() { u8 $(($1 & 255)); u8 $(($1 >> 8 & 255)); }
u32() { u16 $(($1 & 65535)); u16 $(($1 >> 16 & 65535)); }
u64() { u32 $(($1 & 0xffffffff)); u32 $(($1 >> 32 & 0xffffffff)); }
# header: magic "SKIF", version 3, type, body_len, reserved 0
hdr() { printf 'SKIF'; u16 3; u16 "$1"; u32 "$2"; u32 0; }

# CONN_REQ: 0:1088 -> 1:2000, ring 4096, region 4096 + 2 * 4096, cookie
{ hdr 1 24; u16 0; u16 1088; u16 1; u16 2000; u32 4096; u32 12288
  u64 0x0123456789abcdef; } > "$out/conn_req"
# CONN_GRANT: acceptor 1:2000, status 0, the cookie echoed
{ hdr 2 16; u16 1; u16 2000; u32 0; u64 0x0123456789abcdef; } > "$out/conn_grant"
{ hdr 3 0; } > "$out/doorbell"
# CREDIT with a little padding (real ones are padded to 20 KiB)
{ hdr 4 0; head -c 48 /dev/zero; } > "$out/credit_padded"
{ hdr 5 8; u32 0; u32 0; } > "$out/node_query"
# NODE_INFO: 3 cards, daemon pid 1000, no device memory, self node 0, no
# flags, nodes 0-3 online (map byte 0 = 0x0f, 31 zero bytes)
{ hdr 6 56; u32 3; u32 1000; u64 0; u16 0; u16 0; u32 0; u8 15
  head -c 31 /dev/zero; } > "$out/node_info"
# NODE_INFO of a host of several (flag 1): self 4, 2 cards, nodes 0-1 and
# 4-6 online (0x73)
{ hdr 6 56; u32 2; u32 1000; u64 268435456; u16 4; u16 1; u32 0; u8 115
  head -c 31 /dev/zero; } > "$out/node_info_hosts"
# CARD_MEM_REQ: the memory of card node 1 (micmem board 0), no flags
{ hdr 7 8; u32 1; u32 0; } > "$out/card_mem_req"
# CARD_MEM: node 1, status 0, 256 MiB (the memfd travels as SCM_RIGHTS)
{ hdr 8 16; u32 1; u32 0; u64 268435456; } > "$out/card_mem"
# CARD_MEM refused: node 1, status EPERM (1), size 0
{ hdr 8 16; u32 1; u32 1; u64 0; } > "$out/card_mem_eperm"
# HOST_QUERY: host 1, no flags
{ hdr 9 8; u32 1; u32 0; } > "$out/host_query"
# HOST_INFO: host 1 of 2, "b" at 10.0.0.2:7351, nodes 2-4, up for 1.5 s
{ hdr 10 344; u32 0; u16 1; u16 2; u16 2; u16 4; u16 7351; u16 1
  u64 1500; printf 'b'; head -c 63 /dev/zero; printf '10.0.0.2'
  head -c 248 /dev/zero; } > "$out/host_info"
# HOST_INFO refused: no such host (ENOENT = 2), 2 hosts
{ hdr 10 344; u32 2; u16 5; u16 2; head -c 336 /dev/zero; } > "$out/host_info_enoent"
# port names (the part after "skiff/<fabric>/")
printf 'n0/p1088' > "$out/port_name"
printf 'n255/p65535' > "$out/port_name_max"

# RMA control records (wire_rma.h): WIN_ADD offset 0x100000, 8 KiB, file
# offset 0, prot READ|WRITE; WIN_DEL and MAP_REF of the same range
{ hdr 32 32; u64 0x100000; u64 8192; u64 0; u32 3; u32 0; } > "$out/rma_win_add"
{ hdr 33 16; u64 0x100000; u64 8192; } > "$out/rma_win_del"
{ hdr 34 16; u64 0x100000; u64 8192; } > "$out/rma_map_ref"

# ---- daemon links (link_wire.h, docs/PROTOCOL.md section 9): corpus/link
out="$(dirname "$0")/corpus/link"
mkdir -p "$out"
lhdr() { printf 'SKLK'; u16 1; u16 "$1"; u32 "$2"; u32 0; }
name() { printf '%s' "$1"; head -c $((64 - ${#1})) /dev/zero; } # NUL padded
cred='MUNGE:AwQFAAB0ZXN0Y3JlZGVudGlhbHRoYXRpc25vdHJlYWw=:'
# HELLO default from a (index 0, nodes 0-1) to b, WANT_HELLO, boot id
{ lhdr 1 1240; name default; name a; name b; u16 0; u16 0; u16 1; u16 1
  u64 0x1122334455667788; u32 ${#cred}; u32 0; printf '%s' "$cred"
  head -c $((1024 - ${#cred})) /dev/zero; } > "$out/hello"
# HELLO_ACK, HEARTBEAT, BYE from host 1 (boot ids of sender and receiver)
{ lhdr 2 24; u16 1; u16 0; u32 0; u64 0x99; u64 0x1122334455667788; } > "$out/hello_ack"
{ lhdr 3 24; u16 1; u16 0; u32 0; u64 0x99; u64 0x1122334455667788; } > "$out/heartbeat"
{ lhdr 4 24; u16 1; u16 0; u32 0; u64 0x99; u64 0x1122334455667788; } > "$out/bye"
# relayed RMA (section 9.2) from host 1 about connection 0x10001, request 7
cx() { u16 1; u16 0; u32 0x10001; u64 0x99; u64 0x1122334455667788; u32 "$1"; u32 "$2"; }
noseg() { head -c $((24 * $1)) /dev/zero; }
# RMA from the receiver's process (value 1): one registered segment, 1 MiB
{ lhdr 10 440; cx 7 1; u64 0x2000; u64 0x100000; u32 1; u32 0
  u64 0; u64 0x5eed; u64 0x100000; noseg 15; } > "$out/rma_from"
# RMA toward it (value 0): no segments
{ lhdr 10 440; cx 7 0; u64 0x2000; u64 0x100000; u32 0; u32 0; noseg 16; } > "$out/rma_to"
# RMA_GO: the receiver's range in two registrations
{ lhdr 12 440; cx 7 0; u64 0x2000; u64 0x100000; u32 2; u32 0
  u64 0; u64 0x1234; u64 0x40000; u64 0; u64 0x5678; u64 0xc0000; noseg 14; } > "$out/rma_go"
{ lhdr 11 32; cx 7 0; } > "$out/rma_done"
{ lhdr 13 32; cx 7 0; } > "$out/rma_wrote"
