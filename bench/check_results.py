#!/usr/bin/env python3
"""The bench smoke test's checks (ctest -L bench): the run completed and its results.json has a
number for every arm and metric, and every idle connection was held. It never judges speed.

usage: check_results.py RESULTS_JSON
"""
import json
import numbers
import sys

EXPECTED_METRICS = ["tput1_gbps", "tput8_gbps", "connrate_per_s", "latency_p50_us",
                    "latency_p99_us", "cpu_s_per_gb", "idle_user_bytes", "idle_kernel_bytes",
                    "idle_held", "idle_errors"]


def problems(results):
    arms = results["meta"]["arms"]
    wanted = results["meta"]["idle_conns"]
    for arm in arms:
        medians = results["medians"].get(arm, {})
        for metric in EXPECTED_METRICS:
            value = medians.get(metric)
            if not isinstance(value, numbers.Number):
                yield f"{arm}: {metric} has no number ({value!r})"
        if medians.get("idle_errors") != 0:
            yield f"{arm}: {medians.get('idle_errors')} idle connection error(s)"
        if medians.get("idle_held") != wanted:
            yield f"{arm}: held {medians.get('idle_held')} of {wanted} idle connections"
    if "haproxy-tproxy" in arms and "direct" in arms:
        for metric in ("tput1_gbps", "connrate_per_s"):
            if results["ratios"]["direct"]["haproxy-tproxy"].get(metric) is None:
                yield f"no ratio of haproxy-tproxy to direct for {metric}"


def main(argv):
    if len(argv) != 1:
        print("usage: check_results.py RESULTS_JSON", file=sys.stderr)
        return 2
    found = list(problems(json.load(open(argv[0]))))
    for p in found:
        print(f"FAIL: {p}")
    print(f"{'FAIL' if found else 'PASS'}: {argv[0]}: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
