#!/usr/bin/python3
"""Sends one datagram from one socket to each of COUNT ports of HOST, from FIRST_PORT up;
from the local address SOURCE when given as a fourth argument.

Paced a little (1 ms every 10 datagrams), so the proxy's receive buffer does not overflow on a
busy machine: the test counts sessions, not kernel drops. Prints "sent N".
Used by the UDP lock-out test.
"""
import socket
import sys
import time

host, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
source = sys.argv[4] if len(sys.argv) > 4 else None
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_DGRAM) as sock:
    if source:
        sock.bind((source, 0))
    for number in range(count):
        sock.sendto(b"flood", (host, first + number))
        if number % 10 == 9:
            time.sleep(0.001)
print(f"sent {count}")
