"""What --check of labs/exercise.sh reads as evidence, from outside the namespaces (/proc).

  evidence.py proxy-event CLIENT PID...   the tplab proxy connection of CLIENT (A.B.C.D:PORT)
      Looks through the --events files of the tplab proxy processes among PID (a relative path
      is resolved against the process's working directory, `-` is its stdout when that is a
      file), waits up to 3 s for the `accepted` line of CLIENT, and prints one line:
      `mode=M original_dst=D recovered_by=R upstream_local=U events=FILE` (U is `-` until the
      `connected` line is there). Prints `none proxies=N events=F1,F2` when there is none.

  evidence.py relay-line CLIENT PID...   relay.py's `accepted` line for CLIENT
      PID are the processes listening on relay.py's port. Each must be relay.py itself (a python
      running relay.py); its stdout must be a file, in which the line
      `accepted ('A.B.C.D', PORT) for ('S', P)` of CLIENT must appear (3 s at most). Prints
      `ok DESTINATION`, or `not-relay CMDLINE`, `no-log PID` or `none FILE`.
"""
import json
import os
import re
import sys
import time


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def is_tplab_proxy(argv):
    return len(argv) >= 2 and os.path.basename(argv[0]) == "tplab" and "proxy" in argv[1:3]


def events_file(pid, argv):
    value = None
    for i, arg in enumerate(argv):
        if arg == "--events" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--events="):
            value = arg.split("=", 1)[1]
    if value is None:
        return None
    if value == "-":
        try:
            target = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            return None
        return target if os.path.isfile(target) else None
    if not value.startswith("/"):
        try:
            value = os.path.join(os.readlink(f"/proc/{pid}/cwd"), value)
        except OSError:
            return None
    return value


def read_events(path):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def proxy_event(client, pids):
    files = []
    for pid in pids:
        argv = cmdline(pid)
        if not is_tplab_proxy(argv):
            continue
        path = events_file(pid, argv)
        if path and path not in files:
            files.append(path)
    proxies = sum(1 for pid in pids if is_tplab_proxy(cmdline(pid)))
    deadline = time.monotonic() + 3
    while True:
        for path in files:
            events = read_events(path)
            accepted = next((e for e in reversed(events)
                             if e.get("event") == "accepted" and e.get("client") == client), None)
            if accepted is None:
                continue
            connected = next((e for e in events if e.get("event") == "connected"
                              and e.get("id") == accepted.get("id")), None)
            if connected is None and time.monotonic() < deadline:
                break  # the connected line may be on its way
            print(f"mode={accepted.get('mode')} original_dst={accepted.get('original_dst')}"
                  f" recovered_by={accepted.get('recovered_by')}"
                  f" upstream_local={(connected or {}).get('upstream_local', '-')} events={path}")
            return
        if time.monotonic() >= deadline:
            print(f"none proxies={proxies} events={','.join(files) or '-'}")
            return
        time.sleep(0.1)


def relay_line(client, pids):
    host, _, port = client.rpartition(":")
    want = re.compile(r"^accepted \('" + re.escape(host) + r"', " + re.escape(port)
                      + r"\) for \('([0-9.]+)', ([0-9]+)\)$")
    logs = []
    for pid in pids:
        argv = cmdline(pid)
        if not argv or not os.path.basename(argv[0]).startswith("python") or \
                not any(os.path.basename(a) == "relay.py" for a in argv[1:]):
            print("not-relay " + (" ".join(argv) or pid))
            return
        try:
            target = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            target = ""
        if not os.path.isfile(target):
            print(f"no-log {pid}")
            return
        logs.append(target)
    deadline = time.monotonic() + 3
    while True:
        for path in logs:
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        m = want.match(line.strip())
                        if m:
                            print(f"ok {m.group(1)}:{m.group(2)}")
                            return
            except OSError:
                pass
        if time.monotonic() >= deadline:
            print("none " + (",".join(logs) or "-"))
            return
        time.sleep(0.1)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("proxy-event", "relay-line"):
        sys.exit("usage: evidence.py proxy-event|relay-line CLIENT PID...")
    command, client, pids = sys.argv[1], sys.argv[2], [p for p in sys.argv[3:] if p.isdigit()]
    if command == "proxy-event":
        proxy_event(client, pids)
    else:
        relay_line(client, pids)


main()
