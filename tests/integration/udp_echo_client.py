#!/usr/bin/python3
"""Sends COUNT numbered datagrams to HOST PORT, one at a time, and checks every echo.
With a fourth argument SOURCE, sends from that local address.

Prints "ok N from SOURCE" when all N came back intact from the address they were sent to, or
"lost ..." / "wrong ..." otherwise. Used by the UDP integration tests.
"""
import socket
import sys

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
source = sys.argv[4] if len(sys.argv) > 4 else None
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_DGRAM) as sock:
    if source:
        sock.bind((source, 0))
    sock.settimeout(2)
    sources = set()
    for number in range(count):
        payload = f"datagram {number:04d} ".encode() * 8
        sock.sendto(payload, (host, port))
        try:
            reply, source = sock.recvfrom(65536)
        except socket.timeout:
            print(f"lost datagram {number}")
            sys.exit(1)
        if reply != payload:
            print(f"wrong echo for datagram {number}: {reply[:40]!r}")
            sys.exit(1)
        sources.add(source[0])
print(f"ok {count} from {','.join(sorted(sources))}")
