#!/usr/bin/env python3
"""Load peer for the reliability tests: many concurrent TCP flows, every byte sha256-checked.

  load_peer.py serve --port 9000 --results server.jsonl
  load_peer.py run --target 198.51.100.2:9000 --flows 250 --max-size 8388608 \
               --server-results server.jsonl --seed 1

Each flow opens with a 32-byte header (flow id, kind, bytes up, bytes down, data offset); both
sides then send deterministic data (a shared 4 MiB pool read from that offset) and hash what
they send and what they receive. The server writes one JSON line per flow; `run` waits for the
server's lines and compares the four hashes of every flow, then prints one JSON summary.

Kinds: normal (both directions at once), server_reset (the server resets half-way: the client
must see a reset, never a clean EOF), server_half_close (the server sends and shuts down first,
the client uploads only after that EOF), client_half_close (the mirror image), client_abort (the
client resets mid-transfer), slow_reader (the client reads 16 KiB every 10 ms).
"""
import argparse
import asyncio
import errno
import hashlib
import json
import math
import os
import random
import socket
import struct
import sys
import time

HEADER = struct.Struct("!QBxxxIIQ4x")  # 32 bytes
KINDS = ["normal", "server_reset", "server_half_close", "client_half_close", "client_abort",
         "slow_reader"]
POOL_SIZE = 4 << 20
CHUNK = 64 << 10
POOL = random.Random(20261127).randbytes(POOL_SIZE)


def pool_slice(offset, length):
    """`length` bytes of the endless pool, starting at `offset`, in chunks."""
    pos = offset % POOL_SIZE
    while length > 0:
        n = min(length, CHUNK, POOL_SIZE - pos)
        yield POOL[pos:pos + n]
        length -= n
        pos = (pos + n) % POOL_SIZE


async def send_data(writer, offset, length, limit=None):
    """Sends `length` pool bytes (stops after `limit`); returns (sha256 hex, bytes sent)."""
    digest, sent = hashlib.sha256(), 0
    for chunk in pool_slice(offset, length):
        if limit is not None and sent + len(chunk) > limit:
            chunk = chunk[:limit - sent]
        writer.write(chunk)
        digest.update(chunk)
        sent += len(chunk)
        await writer.drain()
        if limit is not None and sent >= limit:
            break
    return digest.hexdigest(), sent


async def receive_all(reader, pace=None):
    """Reads to EOF; returns (sha256 hex, bytes). Raises on a reset."""
    digest, received = hashlib.sha256(), 0
    while True:
        chunk = await reader.read(16 << 10 if pace else CHUNK)
        if not chunk:
            return digest.hexdigest(), received
        digest.update(chunk)
        received += len(chunk)
        if pace:
            await asyncio.sleep(pace)


def reset_now(writer):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def outcome_of(error):
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    # A reset that lands while the client is shutting down its sending side: shutdown() on a
    # socket the RST has already closed fails with ENOTCONN, not ECONNRESET.
    if isinstance(error, OSError) and error.errno == errno.ENOTCONN:
        return "reset"
    if isinstance(error, asyncio.IncompleteReadError):
        return "eof"
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    return type(error).__name__


# ---------------------------------------------------------------- server

def write_through(writer):
    """drain() then waits until every byte is in the kernel, so write_eof() and close() never
    leave data behind in asyncio's buffer (abort() would drop it: a truncated flow that is our
    fault, not the proxy's)."""
    writer.transport.set_write_buffer_limits(high=0)


async def serve_flow(reader, writer, results):
    record = {"flow": None}
    write_through(writer)
    try:
        header = await reader.readexactly(HEADER.size)
        flow, kind_index, up, down, offset = HEADER.unpack(header)
        kind = KINDS[kind_index]
        record.update(flow=flow, kind=kind)
        down_offset = offset + 7919
        if kind == "server_reset":
            record["recv_sha"], record["recv_bytes"] = None, None
            _, record["sent_bytes"] = await send_data(writer, down_offset, down, limit=down // 2)
            reset_now(writer)
            record["outcome"] = "reset_sent"
        elif kind == "server_half_close":
            record["sent_sha"], record["sent_bytes"] = await send_data(writer, down_offset, down)
            writer.write_eof()
            record["recv_sha"], record["recv_bytes"] = await receive_all(reader)
            record["outcome"] = "ok"
        elif kind == "client_half_close":
            record["recv_sha"], record["recv_bytes"] = await receive_all(reader)
            record["sent_sha"], record["sent_bytes"] = await send_data(writer, down_offset, down)
            writer.write_eof()
            record["outcome"] = "ok"
        else:
            async def upload():
                return await receive_all(reader)

            async def download():
                result = await send_data(writer, down_offset, down)
                writer.write_eof()
                return result

            (record["recv_sha"], record["recv_bytes"]), (record["sent_sha"],
                                                         record["sent_bytes"]) = \
                await asyncio.gather(upload(), download())
            record["outcome"] = "ok"
    except Exception as error:  # a flow's failure is data, never the server's end
        record["outcome"] = outcome_of(error)
    finally:
        writer.transport.abort() if record.get("outcome") != "ok" else writer.close()
        results.write(json.dumps(record) + "\n")
        results.flush()


async def serve(args):
    results = open(args.results, "a", buffering=1)
    server = await asyncio.start_server(lambda r, w: serve_flow(r, w, results), host=None,
                                        port=args.port, backlog=8192, limit=CHUNK)
    print(f"listening on {args.port}", flush=True)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------- client

def plan_flows(args):
    """Kinds and sizes per flow: log-uniform sizes in [min, max], a few at max."""
    rng = random.Random(args.seed)
    flows = []
    low = math.log(max(args.min_size, 1))
    high = math.log(max(args.max_size, 1))

    def size():
        if rng.random() < args.empty_fraction:
            return 0
        if rng.random() < args.large_fraction:
            return args.max_size
        return int(math.exp(rng.uniform(low, high)))

    special = {"server_reset": args.server_reset, "client_abort": args.client_abort,
               "server_half_close": args.half_close, "client_half_close": args.half_close}
    for flow in range(args.flows):
        kind = "normal"
        draw = rng.random()
        for name, fraction in special.items():
            if draw < fraction:
                kind = name
                break
            draw -= fraction
        if flow < args.slow_readers:
            kind = "slow_reader"
        up, down = size(), size()
        if kind in ("server_reset", "client_abort"):
            down = max(down, 256 << 10)  # big enough that the abort is mid-transfer
        if kind == "slow_reader":
            up, down = 0, min(args.max_size, 2 << 20)
        flows.append({"flow": args.first_id + flow, "kind": kind, "up": up, "down": down,
                      "offset": rng.randrange(POOL_SIZE)})
    return flows


async def run_flow(plan, args, record):
    host, port = args.target.rsplit(":", 1)
    host = host.strip("[]")
    reader, writer = await asyncio.open_connection(host, int(port), limit=CHUNK)
    record["client_port"] = writer.get_extra_info("sockname")[1]
    write_through(writer)
    writer.write(HEADER.pack(plan["flow"], KINDS.index(plan["kind"]), plan["up"], plan["down"],
                             plan["offset"]))
    kind = plan["kind"]
    try:
        if kind == "client_abort":
            async def upload():
                await send_data(writer, plan["offset"], plan["up"], limit=plan["up"] // 2)

            async def download():
                await reader.read(CHUNK)

            await asyncio.gather(upload(), download())
            reset_now(writer)
            record["outcome"] = "reset_sent"
            return
        if kind == "server_half_close":
            record["recv_sha"], record["recv_bytes"] = await receive_all(reader)
            record["sent_sha"], record["sent_bytes"] = await send_data(writer, plan["offset"],
                                                                       plan["up"])
            writer.write_eof()
        elif kind == "client_half_close":
            record["sent_sha"], record["sent_bytes"] = await send_data(writer, plan["offset"],
                                                                       plan["up"])
            writer.write_eof()
            record["recv_sha"], record["recv_bytes"] = await receive_all(reader)
        else:
            async def upload():
                result = await send_data(writer, plan["offset"], plan["up"])
                writer.write_eof()
                return result

            pace = 0.01 if kind == "slow_reader" else None
            (record["sent_sha"], record["sent_bytes"]), (record["recv_sha"],
                                                         record["recv_bytes"]) = \
                await asyncio.gather(upload(), receive_all(reader, pace))
        record["outcome"] = "eof"
    finally:
        if record.get("outcome") == "eof":
            writer.close()
        else:
            writer.transport.abort()


async def run_one(plan, args, records):
    record = dict(plan)
    started = time.monotonic()
    try:
        await asyncio.wait_for(run_flow(plan, args, record), args.flow_timeout)
    except Exception as error:
        record["outcome"] = outcome_of(error)
        record["error"] = f"{type(error).__name__}: {error}"
    record["seconds"] = round(time.monotonic() - started, 3)
    records.append(record)


def read_server_results(path, flow_ids, wait):
    deadline = time.monotonic() + wait
    while True:
        found = {}
        try:
            with open(path) as results:
                for line in results:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("flow") in flow_ids:
                        found[entry["flow"]] = entry
        except FileNotFoundError:
            pass
        if len(found) == len(flow_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def verdict(client, server):
    """Why this flow is wrong, or None."""
    kind = client["kind"]
    if kind == "client_abort":
        if client["outcome"] != "reset_sent":
            return f"client could not abort: {client.get('error')}"
        if server is None:
            return "the server never finished the aborted flow"
        return None
    if kind == "server_reset":
        if client["outcome"] != "reset":
            return (f"expected a reset, client saw {client.get('error', client['outcome'])} "
                    f"after {client.get('recv_bytes')} of {client['down']} bytes")
        return None
    if client["outcome"] != "eof":
        return f"client: {client.get('error', client['outcome'])}"
    if server is None or server.get("outcome") != "ok":
        return f"server: {server and server.get('outcome')}"
    problems = []
    if client["recv_bytes"] != client["down"] or client["recv_sha"] != server["sent_sha"]:
        problems.append(f"down {client['recv_bytes']}/{client['down']} bytes, sha "
                        f"{'ok' if client['recv_sha'] == server['sent_sha'] else 'MISMATCH'}")
    if server["recv_bytes"] != client["up"] or server["recv_sha"] != client["sent_sha"]:
        problems.append(f"up {server['recv_bytes']}/{client['up']} bytes, sha "
                        f"{'ok' if server['recv_sha'] == client['sent_sha'] else 'MISMATCH'}")
    return "; ".join(problems) or None


async def run(args):
    plans = plan_flows(args)
    records = []
    started = time.monotonic()
    await asyncio.gather(*(run_one(plan, args, records) for plan in plans))
    elapsed = time.monotonic() - started
    servers = read_server_results(args.server_results, {p["flow"] for p in plans},
                                  args.server_wait)
    by_kind, failures = {}, []
    for record in sorted(records, key=lambda r: r["flow"]):
        by_kind[record["kind"]] = by_kind.get(record["kind"], 0) + 1
        problem = verdict(record, servers.get(record["flow"]))
        if problem:
            failures.append({"flow": record["flow"], "kind": record["kind"], "up": record["up"],
                             "down": record["down"], "problem": problem,
                             "client_port": record.get("client_port")})
    checked = [r for r in records if r["kind"] not in ("server_reset", "client_abort")]
    outcomes = {}
    for record in records:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    summary = {
        "flows": len(records),
        "kinds": by_kind,
        "outcomes": outcomes,
        "bytes_up": sum(r.get("sent_bytes", 0) or 0 for r in checked),
        "bytes_down": sum(r.get("recv_bytes", 0) or 0 for r in checked),
        "sha_checked": 2 * len(checked),
        "failed": len(failures),
        "failures": failures[:20],
        "seconds": round(elapsed, 2),
    }
    print(json.dumps(summary), flush=True)
    return 0 if not failures else 1


def probe(args):
    """One connection: what the client sees first, and after how many seconds (timed here, so
    the interpreter's start-up does not count)."""
    host, port = args.target.rsplit(":", 1)
    started = time.monotonic()
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=args.timeout) as s:
            s.sendall(b"x")
            seen = "data" if s.recv(1) else "eof"
    except ConnectionResetError:
        seen = "reset"
    except ConnectionRefusedError:
        seen = "refused"
    except (socket.timeout, TimeoutError):
        seen = "timeout"
    print(json.dumps({"seen": seen, "seconds": round(time.monotonic() - started, 3)}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="the server side")
    serve_cmd.add_argument("--port", type=int, required=True)
    serve_cmd.add_argument("--results", required=True, help="one JSON line per flow, appended")
    run_cmd = sub.add_parser("run", help="the client side: run the flows, print a summary")
    run_cmd.add_argument("--target", required=True, help="HOST:PORT or [V6]:PORT")
    run_cmd.add_argument("--server-results", required=True)
    run_cmd.add_argument("--flows", type=int, default=250)
    run_cmd.add_argument("--min-size", type=int, default=1)
    run_cmd.add_argument("--max-size", type=int, default=8 << 20)
    run_cmd.add_argument("--empty-fraction", type=float, default=0.03)
    run_cmd.add_argument("--large-fraction", type=float, default=0.01)
    run_cmd.add_argument("--server-reset", type=float, default=0.05)
    run_cmd.add_argument("--client-abort", type=float, default=0.05)
    run_cmd.add_argument("--half-close", type=float, default=0.05, help="each direction")
    run_cmd.add_argument("--slow-readers", type=int, default=2)
    run_cmd.add_argument("--seed", type=int, default=1)
    run_cmd.add_argument("--first-id", type=int, default=0, help="flow ids start here")
    run_cmd.add_argument("--flow-timeout", type=float, default=120)
    run_cmd.add_argument("--server-wait", type=float, default=10)
    probe_cmd = sub.add_parser("probe", help="one connection: what the client sees, and when")
    probe_cmd.add_argument("--target", required=True, help="HOST:PORT or [V6]:PORT")
    probe_cmd.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    for name in ("flows", "max_size", "min_size"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 0:
            print(f"load_peer.py: --{name.replace('_', '-')} must not be negative",
                  file=sys.stderr)
            return 2
    if args.command == "probe":
        return probe(args)
    if args.command == "serve":
        asyncio.run(serve(args))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
