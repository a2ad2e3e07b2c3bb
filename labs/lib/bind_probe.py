#!/usr/bin/env python3
"""bind() a TCP socket to ADDR (port 0) the way tplab proxy --spoof-source does before connect(),
plainly or with IP_TRANSPARENT, and print what the kernel said. Labs 06 shows with it why spoofing
needs IP_TRANSPARENT: an address this host does not hold cannot be bound without it.
Usage: bind_probe.py ADDR plain|transparent   Exit 0 when bound, 1 when bind() failed, 2 bad input."""
import errno
import ipaddress
import socket
import sys

IP_TRANSPARENT = 19  # <linux/in.h>
IPV6_TRANSPARENT = 75  # <linux/in6.h>

if len(sys.argv) != 3 or sys.argv[2] not in ("plain", "transparent"):
    print("usage: bind_probe.py ADDR plain|transparent", file=sys.stderr)
    sys.exit(2)
addr, how = sys.argv[1], sys.argv[2]
try:
    ipv6 = ipaddress.ip_address(addr).version == 6
except ValueError:
    print(f"bind_probe.py: '{addr}' is not an IP address", file=sys.stderr)
    sys.exit(2)
sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
if how == "transparent":
    if ipv6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
    else:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
label = "with IP_TRANSPARENT" if how == "transparent" else "without IP_TRANSPARENT"
try:
    sock.bind((addr, 0))
except OSError as e:
    print(f"{label}: bind({addr}) failed: {errno.errorcode.get(e.errno, e.errno)} ({e.strerror})")
    sys.exit(1)
print(f"{label}: bind({addr}) succeeded, local port {sock.getsockname()[1]}")
