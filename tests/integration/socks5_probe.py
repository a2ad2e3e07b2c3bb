#!/usr/bin/python3
"""Speaks SOCKS5 to PROXY_HOST PROXY_PORT byte by byte and prints what the proxy answered.

Prints "method XX" (the chosen method), "auth XX" (RFC 1929 status) and "reply XX" (the REP
code of the CONNECT reply), or "eof"/"reset"/"timeout" where the proxy stopped answering.
--raw HEX sends those bytes instead of a handshake and prints what came back (or eof/reset).
"""
import argparse
import ipaddress
import socket
import struct


def read_exact(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


parser = argparse.ArgumentParser()
parser.add_argument("proxy_host")
parser.add_argument("proxy_port", type=int)
parser.add_argument("dest_host", nargs="?", default="")
parser.add_argument("dest_port", nargs="?", type=int, default=0)
parser.add_argument("--user", default="")
parser.add_argument("--password", default="")
parser.add_argument("--command", type=int, default=1)
parser.add_argument("--raw", default="")
parser.add_argument("--timeout", type=float, default=10)
parser.add_argument("--source", default="", help="connect from this address")
args = parser.parse_args()

try:
    with socket.create_connection((args.proxy_host, args.proxy_port), timeout=args.timeout,
                                  source_address=(args.source, 0) if args.source else None) as c:
        if args.raw:
            c.sendall(bytes.fromhex(args.raw))
            data = c.recv(64)
            print("answer " + data.hex() if data else "eof")
            raise SystemExit(0)
        method = 2 if args.user else 0
        c.sendall(bytes([5, 1, method]))
        answer = read_exact(c, 2)
        print("method %02x" % answer[1])
        if answer[1] == 0xFF:
            raise SystemExit(0)
        if method == 2:
            user, password = args.user.encode(), args.password.encode()
            c.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
            status = read_exact(c, 2)
            print("auth %02x" % status[1])
            if status[1] != 0:
                raise SystemExit(0)
        try:
            address = ipaddress.ip_address(args.dest_host)
            atyp = 1 if address.version == 4 else 4
            dest = bytes([atyp]) + address.packed
        except ValueError:
            name = args.dest_host.encode()
            dest = bytes([3, len(name)]) + name
        c.sendall(bytes([5, args.command, 0]) + dest + struct.pack("!H", args.dest_port))
        reply = read_exact(c, 4)
        print("reply %02x" % reply[1])
except EOFError:
    print("eof")
except ConnectionResetError:
    print("reset")
except (socket.timeout, TimeoutError):
    print("timeout")
