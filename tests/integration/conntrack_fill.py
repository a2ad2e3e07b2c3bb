#!/usr/bin/env python3
"""Fills this network namespace's conntrack table, the way a busy gateway's fills up.

usage: conntrack_fill.py
Inserts established, assured TCP entries (203.0.113.1 -> 203.0.113.2, every port pair distinct,
10-minute timeouts) over ctnetlink until the kernel refuses one because the table is full.
Assured entries are what a real full table holds: the kernel's early drop may evict only
unassured ones, so a new connection then finds no room and its first packet is dropped.
nf_conntrack_max is one value for the whole machine, but the count it limits is kept per
namespace: filling this namespace leaves every other one alone.
Prints one JSON line: {"inserted": N, "refused_errno": E, "max": M}. Exit 0 once the table is full.
"""
import errno
import json
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NETLINK_CAP_ACK = 10
SOL_NETLINK = 270
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IPCTNL_MSG_CT_NEW = 1 << 8  # NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW (0)
NLA_F_NESTED = 0x8000
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_STATUS, CTA_PROTOINFO, CTA_TIMEOUT = 1, 2, 3, 4, 7
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE = 1, 1
IPS_SEEN_REPLY, IPS_ASSURED, IPS_CONFIRMED = 1 << 1, 1 << 2, 1 << 3
TCP_CONNTRACK_ESTABLISHED = 3
BATCH = 256
SOURCE, DESTINATION = socket.inet_aton("203.0.113.1"), socket.inet_aton("203.0.113.2")


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def nested(kind, *children):
    return attr(kind | NLA_F_NESTED, b"".join(children))


def tuple_attr(kind, src, dst, sport, dport):
    return nested(kind,
                  nested(CTA_TUPLE_IP, attr(CTA_IP_V4_SRC, src), attr(CTA_IP_V4_DST, dst)),
                  nested(CTA_TUPLE_PROTO, attr(CTA_PROTO_NUM, bytes([socket.IPPROTO_TCP])),
                         attr(CTA_PROTO_SRC_PORT, struct.pack("!H", sport)),
                         attr(CTA_PROTO_DST_PORT, struct.pack("!H", dport))))


def new_entry(sequence, sport, dport):
    body = struct.pack("=BBH", socket.AF_INET, 0, 0)  # nfgenmsg: family, version, res_id
    body += tuple_attr(CTA_TUPLE_ORIG, SOURCE, DESTINATION, sport, dport)
    body += tuple_attr(CTA_TUPLE_REPLY, DESTINATION, SOURCE, dport, sport)
    # CONFIRMED as well: the entry goes straight into the table (conntrack -I does the same).
    body += attr(CTA_STATUS, struct.pack("!I", IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED))
    body += attr(CTA_TIMEOUT, struct.pack("!I", 600))
    body += nested(CTA_PROTOINFO, nested(CTA_PROTOINFO_TCP, attr(
        CTA_PROTOINFO_TCP_STATE, bytes([TCP_CONNTRACK_ESTABLISHED]))))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return struct.pack("=IHHII", 16 + len(body), IPCTNL_MSG_CT_NEW, flags, sequence, 0) + body


def acks(sock, expected):
    """The errno of each of the next `expected` acknowledgements (0: inserted)."""
    codes = []
    while len(codes) < expected:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == NLMSG_ERROR:
                codes.append(-struct.unpack_from("=i", data, offset + 16)[0])
            offset += (length + 3) & ~3
    return codes


def main():
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as limit:
        maximum = int(limit.read())
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind((0, 0))
    inserted, refused, sequence = 0, 0, 0
    pairs = ((sport, dport) for dport in range(1, 65536) for sport in range(1024, 65536))
    while not refused and inserted <= maximum + BATCH:
        batch = []
        for sport, dport in pairs:
            sequence += 1
            batch.append(new_entry(sequence, sport, dport))
            if len(batch) == BATCH:
                break
        sock.send(b"".join(batch))
        for code in acks(sock, len(batch)):
            if code == 0:
                inserted += 1
            elif not refused:
                refused = code
    print(json.dumps({"inserted": inserted, "refused_errno": refused, "max": maximum}))
    if refused != errno.ENOMEM:
        print(f"conntrack_fill.py: expected ENOMEM once full, got {os.strerror(refused)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
