"""Put the captures of several machines on one clock (labs/lib/runs.sh, stop_capture).

Usage: align_clocks.py FILE=MACHINE... (classic pcap files, as tplab capture writes them)

Each machine stamps its packets with its own clock, and the clocks of three VMs differ by
milliseconds or more, which is more than a packet takes from one machine to the next: a ladder
drawn from them would show replies before requests. A frame that crossed a wire is in the
captures at both of its ends, byte for byte. For each pair of files on different machines,
the frames seen in both give the difference of their clocks, NTP-style: for the frames one end
sent, the other saw them `offset + delay` later; for the frames it received, `offset - delay`;
the mean of the two medians is the offset. The first machine is the reference; every other
machine reached through such wires has its files' timestamps shifted onto that clock, in place.
Prints one line per machine (the offset applied and how many frames it rests on).
"""
import statistics
import struct
import sys
from collections import defaultdict, deque

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
NS = 1_000_000_000  # times are kept as integer nanoseconds: a float loses microseconds


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    for endian in "<>":
        (magic,) = struct.unpack(endian + "I", data[:4])
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        raise SystemExit(f"align_clocks: {path} is not a classic pcap file")
    units = 1_000_000 if magic == MAGIC_US else 1_000_000_000
    records, offset = [], 24
    while offset + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + caplen]
        records.append([(sec * units + frac) * (NS // units), frame, wirelen])  # in ns
        offset += 16 + caplen
    return {"header": data[:24], "endian": endian, "units": units, "records": records}


def write_pcap(path, pcap):
    endian, units = pcap["endian"], pcap["units"]
    with open(path, "wb") as f:
        f.write(pcap["header"])
        for time, frame, wirelen in pcap["records"]:
            ticks = time // (NS // units)
            f.write(struct.pack(endian + "IIII", ticks // units, ticks % units, len(frame), wirelen))
            f.write(frame)


def clock_offset(a, b):
    """(offset of b's clock against a's, frames used), or None if no frame is in both."""
    seen_at_a = {}
    for time, frame, _ in a["records"]:
        seen_at_a.setdefault(frame, time)
    by_sender = defaultdict(list)  # Ethernet source address -> b's time minus a's time
    for time, frame, _ in b["records"]:
        if frame in seen_at_a:
            by_sender[frame[6:12]].append(time - seen_at_a[frame])
    if not by_sender:
        return None
    medians = [statistics.median(d) for d in by_sender.values()]
    frames = sum(len(d) for d in by_sender.values())
    if len(medians) == 1:  # one direction only: take the delay as nothing
        return round(medians[0]), frames
    return round((min(medians) + max(medians)) / 2), frames


def main(args):
    files = defaultdict(list)  # machine -> [(path, pcap)], in the order given
    order = []
    for arg in args:
        path, _, machine = arg.rpartition("=")
        pcap = read_pcap(path) if path else None
        if machine not in files:
            order.append(machine)
        if pcap is not None:
            files[machine].append((path, pcap))
    if len(order) < 2:
        return 0
    offset = {order[0]: 0}
    basis = {}
    queue = deque([order[0]])
    while queue:  # breadth first from the reference, through the wires with common frames
        known = queue.popleft()
        for other in order:
            if other in offset:
                continue
            best = None
            for _, a in files[known]:
                for _, b in files[other]:
                    found = clock_offset(a, b)
                    if found and (best is None or found[1] > best[1]):
                        best = found
            if best:
                offset[other] = offset[known] + best[0]
                basis[other] = best[1]
                queue.append(other)
    for machine in order[1:]:
        if machine not in offset:
            print(f"{machine}: no frame in common with the others: its clock is left as it is")
            continue
        for path, pcap in files[machine]:
            for record in pcap["records"]:
                record[0] -= offset[machine]
            write_pcap(path, pcap)
        print(f"{machine}: clock {offset[machine] / 1e6:+.3f} ms against {order[0]}'s "
              f"({basis[machine]} frames seen at both ends of a wire); captures shifted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
