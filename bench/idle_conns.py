#!/usr/bin/env python3
"""Hold many idle TCP connections open end to end, for bench/run.sh's idle-connection metric.

server ADDR PORT: accept everything, echo each byte back, keep the connection until the peer closes.
client ADDR PORT N READY_FILE RELEASE_FILE: open N connections, prove each end to end (one byte
there and back), write READY_FILE, wait for RELEASE_FILE, prove each one again (it stayed open)
and print one JSON line: {"wanted", "established", "held", "errors", "error_kinds", ...}.
One epoll loop on non-blocking sockets each side (asyncio costs too much per connection here).
"""
import errno
import json
import os
import resource
import select
import socket
import sys
import time

IN_FLIGHT = 256       # connections in their handshake or first round trip at once
STEP_TIMEOUT = 15.0   # seconds for one connection's handshake plus round trip


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(addr, port):
    limit = raise_fd_limit()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(4096)
    listener.setblocking(False)
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN)
    conns = {}
    print(f"idle server: listening on {addr}:{port}, fd limit {limit}", flush=True)
    while True:
        for fd, _ in ep.poll():
            if fd == listener.fileno():
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        print(f"idle server: accept: {e}", flush=True)
                        break
                    conn.setblocking(False)
                    conns[conn.fileno()] = conn
                    ep.register(conn.fileno(), select.EPOLLIN)
                continue
            conn = conns[fd]
            try:
                data = conn.recv(64)
                if data:
                    conn.send(data)
                    continue
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            ep.unregister(fd)
            del conns[fd]
            conn.close()


class Client:
    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.ep = select.epoll()
        self.errors = {}

    def error(self, kind):
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def round_trips(self, socks, byte, what):
        """Send byte on every socket in socks (IN_FLIGHT at a time), wait for it back;
        return the sockets that echoed it. With socks None, open new connections first."""
        pending = list(socks)
        state = {}  # fd -> (sock, "connecting" | "echo", deadline)
        good = []
        while pending or state:
            while pending and len(state) < IN_FLIGHT:
                s = pending.pop()
                deadline = time.monotonic() + STEP_TIMEOUT
                if s is None:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    rc = s.connect_ex((self.addr, self.port))
                    if rc not in (0, errno.EINPROGRESS):
                        self.error(f"connect: {os.strerror(rc)}")
                        s.close()
                        continue
                    state[s.fileno()] = (s, "connecting", deadline)
                    self.ep.register(s.fileno(), select.EPOLLOUT)
                else:
                    state[s.fileno()] = (s, "echo", deadline)
                    self.send(s, byte, state)
                    if s.fileno() in state:
                        self.ep.register(s.fileno(), select.EPOLLIN)
            for fd, _ in self.ep.poll(0.1):
                if fd not in state:
                    continue  # failed earlier in this batch
                s, phase, deadline = state[fd]
                if phase == "connecting":
                    rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if rc:
                        self.fail(s, state, f"connect: {os.strerror(rc)}")
                        continue
                    state[fd] = (s, "echo", deadline)
                    self.ep.modify(fd, select.EPOLLIN)
                    self.send(s, byte, state)
                    continue
                try:
                    got = s.recv(1)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    self.fail(s, state, f"{what}: {type(e).__name__}")
                    continue
                if got != byte:
                    self.fail(s, state, f"{what}: {'closed' if not got else 'wrong byte'}")
                    continue
                self.ep.unregister(fd)
                del state[fd]
                good.append(s)
            now = time.monotonic()
            for fd, (s, phase, deadline) in list(state.items()):
                if now > deadline:
                    self.fail(s, state, f"{what}: timeout while {phase}")
        return good

    def send(self, s, byte, state):
        try:
            s.send(byte)
        except OSError as e:
            self.fail(s, state, f"send: {type(e).__name__}")

    def fail(self, s, state, kind):
        self.error(kind)
        fd = s.fileno()
        try:
            self.ep.unregister(fd)
        except (OSError, ValueError):
            pass
        state.pop(fd, None)
        s.close()


def hold(addr, port, wanted, ready_file, release_file):
    limit = raise_fd_limit()
    client = Client(addr, port)
    started = time.monotonic()
    conns = client.round_trips([None] * wanted, b"o", "first round trip")
    open_seconds = time.monotonic() - started
    with open(ready_file, "w") as f:
        f.write(f"established {len(conns)} of {wanted}\n")
    while not os.path.exists(release_file):
        time.sleep(0.05)
    held = client.round_trips(conns, b"h", "second round trip")
    for s in conns:
        s.close()
    print(json.dumps({"wanted": wanted, "established": len(conns), "held": len(held),
                      "errors": wanted - len(held), "error_kinds": client.errors,
                      "fd_limit": limit, "open_seconds": round(open_seconds, 3)}), flush=True)


def main(argv):
    if len(argv) == 3 and argv[0] == "server":
        serve(argv[1], int(argv[2]))
    elif len(argv) == 6 and argv[0] == "client":
        hold(argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5])
    else:
        print("usage: idle_conns.py server ADDR PORT | client ADDR PORT N READY_FILE RELEASE_FILE",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
