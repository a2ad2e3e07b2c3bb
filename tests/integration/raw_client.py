#!/usr/bin/python3
"""Sends raw bytes (HEX) to HOST PORT and prints the first line of what came back.

Prints "answer HEX" (the first bytes the peer sent, in hex), "eof", "reset" or "timeout".
--reset ends the connection with a RST (SO_LINGER 0) right after sending, without reading.
"""
import argparse
import socket
import struct

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("hex")
parser.add_argument("--reset", action="store_true")
parser.add_argument("--timeout", type=float, default=10)
args = parser.parse_args()

try:
    with socket.create_connection((args.host, args.port), timeout=args.timeout) as conn:
        conn.sendall(bytes.fromhex(args.hex))
        if args.reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            print("sent, reset")
        else:
            data = conn.recv(256)
            print("answer " + data.hex() if data else "eof")
except ConnectionResetError:
    print("reset")
except (socket.timeout, TimeoutError):
    print("timeout")
