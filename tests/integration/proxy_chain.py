#!/usr/bin/python3
"""Builds a chain of HOPS tunnels through two explicit proxies on one gateway, alternating:
SOCKS5 at SOCKS_HOST SOCKS_PORT asks for the HTTP CONNECT proxy, which is asked for the SOCKS5
one, and so on; the last tunnel asks for TARGET_HOST TARGET_PORT and sends an HTTP GET there.

Prints "hops N" (how many tunnels were opened) and then "get ok" or "refused at hop K: WHAT"
(the SOCKS5 REP code or the HTTP status line) or "eof"/"reset"/"timeout".
"""
import argparse
import ipaddress
import socket
import struct
import time


def read_exact(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def socks_connect(conn, host, port):
    """Returns None when the tunnel is open, else what the proxy answered."""
    conn.sendall(b"\x05\x01\x00")
    if read_exact(conn, 2) != b"\x05\x00":
        return "no method"
    address = ipaddress.ip_address(host)
    atyp = 1 if address.version == 4 else 4
    conn.sendall(b"\x05\x01\x00" + bytes([atyp]) + address.packed + struct.pack("!H", port))
    reply = read_exact(conn, 4)
    rest = {1: 4, 4: 16}.get(reply[3], 0) + 2
    read_exact(conn, rest)
    return None if reply[1] == 0 else "reply %02x" % reply[1]


def http_connect(conn, host, port):
    authority = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    conn.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(conn, 1)
    status = head.split(b"\r\n")[0].decode()
    return None if status.split()[1] == "200" else status


parser = argparse.ArgumentParser()
parser.add_argument("socks_host")
parser.add_argument("socks_port", type=int)
parser.add_argument("http_host")
parser.add_argument("http_port", type=int)
parser.add_argument("target_host")
parser.add_argument("target_port", type=int)
parser.add_argument("--hops", type=int, default=50)
parser.add_argument("--timeout", type=float, default=20)
parser.add_argument("--hold", type=float, default=0, help="seconds to keep the chain open")
args = parser.parse_args()

hops = 0
try:
    with socket.create_connection((args.socks_host, args.socks_port), timeout=args.timeout) as c:
        speaks_socks = True  # the proxy at the end of the chain so far
        for hop in range(1, args.hops + 1):
            if hop == args.hops:
                host, port = args.target_host, args.target_port
            elif speaks_socks:
                host, port = args.http_host, args.http_port
            else:
                host, port = args.socks_host, args.socks_port
            ask = socks_connect if speaks_socks else http_connect
            refused = ask(c, host, port)
            if refused:
                print("hops %d" % hops)
                print("refused at hop %d: %s" % (hop, refused))
                raise SystemExit(0)
            hops = hop
            speaks_socks = not speaks_socks
        print("hops %d" % hops)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        print("get ok" if read_exact(c, 12).startswith(b"HTTP/1.") else "get failed", flush=True)
        time.sleep(args.hold)
except EOFError:
    print("hops %d\neof" % hops)
except ConnectionResetError:
    print("hops %d\nreset" % hops)
except (socket.timeout, TimeoutError):
    print("hops %d\ntimeout" % hops)
