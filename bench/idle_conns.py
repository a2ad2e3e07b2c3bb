#!/usr/bin/env python3
"""Hold many idle TCP connections open end to end, for bench/run.sh's idle-connection metric.

server ADDR PORT: accept everything, echo each byte back, keep the connection until the peer closes.
client ADDR PORT N READY_FILE RELEASE_FILE: open N connections, prove each end to end (one byte
there and back), write READY_FILE ("opened N, proven K"), wait for RELEASE_FILE, prove each one
again (it stayed open) and print one JSON line: {"wanted", "established", "held", "errors", ...}.
"""
import asyncio
import json
import os
import resource
import sys
import time

CONNECT_CONCURRENCY = 256  # connections in their handshake at once (below the listen backlogs)
ROUND_TRIP_TIMEOUT = 10.0  # seconds for one byte to come back


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve(addr, port):
    async def on_connection(reader, writer):
        try:
            while data := await reader.read(64):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, addr, port, backlog=4096, reuse_address=True)
    print(f"idle server: listening on {addr}:{port}, fd limit {raise_fd_limit()}", flush=True)
    async with server:
        await server.serve_forever()


async def round_trip(conn, byte):
    reader, writer = conn
    writer.write(byte)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(1), ROUND_TRIP_TIMEOUT) == byte


async def open_and_prove(addr, port, gate, errors):
    async with gate:
        try:
            conn = await asyncio.wait_for(asyncio.open_connection(addr, port), ROUND_TRIP_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            errors[f"connect: {type(e).__name__}: {e}"] = errors.get(f"connect: {type(e).__name__}: {e}", 0) + 1
            return None
        try:
            if await round_trip(conn, b"o"):
                return conn
            errors["first round trip: wrong byte"] = errors.get("first round trip: wrong byte", 0) + 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            key = f"first round trip: {type(e).__name__}"
            errors[key] = errors.get(key, 0) + 1
        conn[1].close()
        return None


async def prove_still_open(conn, errors):
    try:
        if await round_trip(conn, b"h"):
            return True
        errors["second round trip: wrong byte"] = errors.get("second round trip: wrong byte", 0) + 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        key = f"second round trip: {type(e).__name__}"
        errors[key] = errors.get(key, 0) + 1
    return False


async def hold(addr, port, wanted, ready_file, release_file):
    fd_limit = raise_fd_limit()
    errors = {}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    results = await asyncio.gather(*(open_and_prove(addr, port, gate, errors) for _ in range(wanted)))
    conns = [c for c in results if c is not None]
    open_seconds = time.monotonic() - started
    with open(ready_file, "w") as f:
        f.write(f"established {len(conns)} of {wanted}\n")
    while not os.path.exists(release_file):
        await asyncio.sleep(0.05)
    still = await asyncio.gather(*(prove_still_open(c, errors) for c in conns))
    for _, writer in conns:
        writer.close()
    held = sum(still)
    print(json.dumps({"wanted": wanted, "established": len(conns), "held": held,
                      "errors": wanted - held, "error_kinds": errors, "fd_limit": fd_limit,
                      "open_seconds": round(open_seconds, 3)}), flush=True)


def main(argv):
    if len(argv) >= 3 and argv[0] == "server":
        asyncio.run(serve(argv[1], int(argv[2])))
    elif len(argv) == 6 and argv[0] == "client":
        asyncio.run(hold(argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]))
    else:
        print("usage: idle_conns.py server ADDR PORT | client ADDR PORT N READY_FILE RELEASE_FILE",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
