"""labs/lib/align_clocks.py: the captures of three machines whose clocks differ by known amounts
are put back on the first machine's clock, to the nanosecond when both directions of a wire
take as long, and to half the difference when they do not.

Usage: align_clocks_test.py LABS_LIB_DIR (ctest: align_clocks_puts_three_machines_on_one_clock)
"""
import os
import struct
import subprocess
import sys
import tempfile

NS = 1_000_000_000
START = 1_800_000_000 * NS  # a time in 2027: float seconds would lose the microseconds here


def frame(src_mac, seq):
    dst = bytes(6)
    return dst + src_mac + b"\x08\x00" + seq.to_bytes(4, "big") + bytes(40)


def write(path, records):  # records: (ns, frame); a classic pcap in microseconds
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for time, data in sorted(records):
            us = time // 1000
            f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)))
            f.write(data)


def read_times(path):
    times = []
    with open(path, "rb") as f:
        data = f.read()
    offset = 24
    while offset < len(data):
        sec, usec, caplen, _ = struct.unpack("<IIII", data[offset:offset + 16])
        times.append((sec * 1_000_000 + usec) * 1000)
        offset += 16 + caplen
    return times


def wire(a_mac, b_mac, first_seq, a_clock, b_clock, there, back, count=10):
    """Frames both ways on a wire: (records at a, records at b). A sends at t, B sees it
    `there` later; B answers, A sees it `back` later. Each end stamps with its own clock."""
    at_a, at_b = [], []
    for i in range(count):
        t = START + i * 3_000_000
        out, reply = frame(a_mac, first_seq + 2 * i), frame(b_mac, first_seq + 2 * i + 1)
        at_a.append((t + a_clock, out))
        at_b.append((t + there + b_clock, out))
        at_b.append((t + there + 500_000 + b_clock, reply))
        at_a.append((t + there + 500_000 + back + a_clock, reply))
    return at_a, at_b


def run(lib, files):
    result = subprocess.run([sys.executable, os.path.join(lib, "align_clocks.py"), *files],
                            capture_output=True, text=True, check=True)
    return result.stdout


def check(condition, message):
    if not condition:
        print("FAIL: " + message)
        sys.exit(1)
    print("PASS: " + message)


def main(lib):
    with tempfile.TemporaryDirectory() as tmp:
        p = {name: os.path.join(tmp, name + ".pcap") for name in
             ("client-eth0", "gw-veth-c", "gw-veth-s", "server-eth0", "lonely-eth0")}
        gw_clock, server_clock = 37_123_000, -12_500_000  # ns against the client's clock
        c_mac, gc_mac, gs_mac, s_mac = (bytes([2, 0, 0, 0, 0, n]) for n in (1, 2, 3, 4))
        client, gw_c = wire(c_mac, gc_mac, 0, 0, gw_clock, 200_000, 200_000)
        gw_s, server = wire(gs_mac, s_mac, 1000, gw_clock, server_clock, 300_000, 300_000)
        write(p["client-eth0"], client)
        write(p["gw-veth-c"], gw_c)
        write(p["gw-veth-s"], gw_s)
        write(p["server-eth0"], server)
        write(p["lonely-eth0"], [(START + 5 * NS, frame(bytes(6), 99))])
        before = read_times(p["lonely-eth0"])
        out = run(lib, [p["client-eth0"] + "=vm-client", p["gw-veth-c"] + "=vm-gw",
                        p["gw-veth-s"] + "=vm-gw", p["server-eth0"] + "=vm-server",
                        p["lonely-eth0"] + "=vm-lonely"])
        print(out, end="")
        truth_c = sorted(t for t, _ in wire(c_mac, gc_mac, 0, 0, 0, 200_000, 200_000)[1])
        check(read_times(p["gw-veth-c"]) == truth_c,
              "the gateway's capture is back on the client's clock, to the microsecond")
        truth_s = sorted(t for t, _ in wire(gs_mac, s_mac, 1000, 0, 0, 300_000, 300_000)[1])
        check(read_times(p["server-eth0"]) == truth_s,
              "the server's, reached through the gateway's other wire, too")
        check("vm-gw: clock +37.123 ms" in out and "vm-server: clock -12.500 ms" in out,
              "the offsets it prints are the ones the clocks had")
        check(read_times(p["lonely-eth0"]) == before and "vm-lonely: no frame in common" in out,
              "a machine with no frame in common with the others is left as it is, and said so")

        # Unequal directions: 0.2 ms there, 0.6 ms back. The estimate is off by half the
        # difference (0.2 ms): what any two-way clock comparison (NTP) can know.
        client, gw_c = wire(c_mac, gc_mac, 0, 0, gw_clock, 200_000, 600_000)
        write(p["client-eth0"], client)
        write(p["gw-veth-c"], gw_c)
        out = run(lib, [p["client-eth0"] + "=a", p["gw-veth-c"] + "=b"])
        check("b: clock +36.923 ms" in out,
              "with unequal directions the error is half their difference: " + out.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
