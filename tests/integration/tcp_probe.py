#!/usr/bin/python3
"""Connects to HOST PORT and prints what a client sees first: reset, refused, eof, data or timeout.

Used by the integration tests to tell a reset (RST after the handshake) from a refusal.
--send DATA sends DATA right after connecting; --source-port N binds that port first;
--timeout S gives up after S seconds (default 10).
"""
import argparse
import socket

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("--send", default="")
parser.add_argument("--source-port", type=int, default=0)
parser.add_argument("--timeout", type=float, default=10)
args = parser.parse_args()

try:
    with socket.create_connection((args.host, args.port), timeout=args.timeout,
                                  source_address=("", args.source_port)) as conn:
        if args.send:
            conn.sendall(args.send.encode())
        print("data" if conn.recv(1) else "eof")
except ConnectionResetError:
    print("reset")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
