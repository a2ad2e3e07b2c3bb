#!/usr/bin/python3
"""Many concurrent TCP flows, for the connection-capacity tests.

server PORT: an asyncio echo server (one process, no fork per connection) on PORT, both families.
client HOST PORT N [--hold]: opens N connections at once, sends a line on each and reads it
back. With --hold every connection stays open until all N have their echo (so the proxy holds
N at once), else each closes as soon as it has its echo. Prints one JSON line:
{"ok": .., "reset": .., "refused": .., "timeout": .., "other": ..}.
"""
import argparse
import asyncio
import json
import resource


async def echo(reader, writer):
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port):
    # host=None: one socket per family (asyncio makes IPv6 sockets IPv6-only).
    server = await asyncio.start_server(echo, host=None, port=port, backlog=4096)
    async with server:
        await server.serve_forever()


async def flow(host, port, index, all_echoed, hold, timeout):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        line = f"flow {index}\n".encode()
        writer.write(line)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(line)), timeout)
        result = "ok" if got == line else "other"
        if hold:
            all_echoed.release()
            await asyncio.wait_for(all_echoed.wait(), timeout)
        writer.close()
        return result
    except ConnectionResetError:
        return "reset"
    except ConnectionRefusedError:
        return "refused"
    except (asyncio.TimeoutError, TimeoutError):
        return "timeout"
    except (OSError, asyncio.IncompleteReadError):
        return "other"


class Countdown:
    def __init__(self, count):
        self.count = count
        self.done = asyncio.Event()

    def release(self):
        self.count -= 1
        if self.count <= 0:
            self.done.set()

    async def wait(self):
        await self.done.wait()


async def run_clients(host, port, count, hold, timeout):
    all_echoed = Countdown(count)
    results = await asyncio.gather(
        *(flow(host, port, i, all_echoed, hold, timeout) for i in range(count)))
    summary = {k: results.count(k) for k in ("ok", "reset", "refused", "timeout", "other")}
    print(json.dumps(summary), flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("port", type=int)
    client = sub.add_parser("client")
    client.add_argument("host")
    client.add_argument("port", type=int)
    client.add_argument("count", type=int)
    client.add_argument("--hold", action="store_true")
    client.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.role == "server":
        asyncio.run(serve(args.port))
    else:
        asyncio.run(run_clients(args.host, args.port, args.count, args.hold, args.timeout))


if __name__ == "__main__":
    main()
