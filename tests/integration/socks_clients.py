#!/usr/bin/python3
"""Many SOCKS5 clients at once from one source address, for the fairness tests.

tunnels PROXY PORT DEST DEST_PORT N [--name] [--hold S] [--sequential]: opens N tunnels at once
(or one after the other with --sequential), CONNECT by
address or by name with --name (ATYP 3), sends a line through each and reads the echo. Prints
one JSON line as soon as every attempt has ended: {"ok": .., "rep": {"01": ..}, "reset": ..,
"eof": .., "timeout": .., "other": ..}, then keeps the working tunnels open for S seconds.
guess PROXY PORT --user U --seconds S: RFC 1929 attempts with wrong passwords, one after the
other, for S seconds; prints {"attempts": .., "per_second": .., "refused": ..}.
--source ADDR binds every connection to that address first.
"""
import argparse
import asyncio
import ipaddress
import json
import resource
import socket
import struct
import time


def destination(host, port, by_name):
    if by_name:
        name = host.encode()
        return bytes([3, len(name)]) + name + struct.pack("!H", port)
    address = ipaddress.ip_address(host)
    return bytes([1 if address.version == 4 else 4]) + address.packed + struct.pack("!H", port)


async def connect(args):
    family = socket.AF_INET6 if ":" in args.proxy else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    if args.source:
        sock.bind((args.source, 0))
    await asyncio.get_running_loop().sock_connect(sock, (args.proxy, args.port))
    return await asyncio.open_connection(sock=sock)


async def tunnel(args, index, holders):
    try:
        reader, writer = await asyncio.wait_for(connect(args), args.timeout)
        writer.write(b"\x05\x01\x00")
        await writer.drain()
        method = await asyncio.wait_for(reader.readexactly(2), args.timeout)
        if method[1] != 0:
            return "other"
        writer.write(b"\x05\x01\x00" + destination(args.dest, args.dest_port, args.name))
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(4), args.timeout)
        if reply[1] != 0:
            return "rep %02x" % reply[1]
        atyp = reply[3]
        await asyncio.wait_for(reader.readexactly(6 if atyp == 1 else 18), args.timeout)
        line = f"tunnel {index}\n".encode()
        writer.write(line)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(line)), args.timeout)
        holders.append(writer)
        return "ok" if got == line else "other"
    except ConnectionResetError:
        return "reset"
    except asyncio.IncompleteReadError:
        return "eof"
    except (asyncio.TimeoutError, TimeoutError):
        return "timeout"
    except OSError:
        return "other"


async def tunnels(args):
    holders = []
    if args.sequential:  # each tunnel closed before the next opens
        results = []
        for i in range(args.count):
            results.append(await tunnel(args, i, holders))
            for writer in holders:
                writer.close()
            holders.clear()
    else:
        results = await asyncio.gather(*(tunnel(args, i, holders) for i in range(args.count)))
    summary = {k: results.count(k) for k in ("ok", "reset", "eof", "timeout", "other")}
    summary["rep"] = {r[4:]: results.count(r) for r in set(results) if r.startswith("rep ")}
    print(json.dumps(summary), flush=True)
    await asyncio.sleep(args.hold)
    for writer in holders:
        writer.close()


def guess(args):
    user = args.user.encode()
    attempts = refused = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        password = b"guess%d" % attempts
        family = socket.AF_INET6 if ":" in args.proxy else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as c:
                c.settimeout(max(0.1, end - time.monotonic() + 2))
                if args.source:
                    c.bind((args.source, 0))
                c.connect((args.proxy, args.port))
                c.sendall(b"\x05\x01\x02")
                c.recv(2)
                c.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
                status = c.recv(2)
                refused += 1 if len(status) == 2 and status[1] != 0 else 0
        except OSError:
            pass
        attempts += 1
    print(json.dumps({"attempts": attempts, "per_second": round(attempts / args.seconds, 1),
                      "refused": refused}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["tunnels", "guess"])
    parser.add_argument("proxy")
    parser.add_argument("port", type=int)
    parser.add_argument("dest", nargs="?", default="")
    parser.add_argument("dest_port", nargs="?", type=int, default=0)
    parser.add_argument("count", nargs="?", type=int, default=1)
    parser.add_argument("--name", action="store_true")
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--hold", type=float, default=0)
    parser.add_argument("--timeout", type=float, default=5)
    parser.add_argument("--source", default="")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.what == "tunnels":
        asyncio.run(tunnels(args))
    else:
        guess(args)


if __name__ == "__main__":
    main()
