#!/usr/bin/env python3
"""Turn bench/run.sh's samples into results.json, table.md and chart.svg (see docs/performance.md).

usage: summarize.py OUTPUT_DIR   (reads OUTPUT_DIR/samples.jsonl and OUTPUT_DIR/meta.json)
Every metric's median over the rounds, and its ratio to `direct` and to `haproxy-tproxy`,
both medians of the same run. Nothing here judges a number: the doc's targets are applied by a reader.
"""
import json
import statistics
import sys
from pathlib import Path

# name, label, unit, better ("higher"/"lower"), needs a proxy process (no value for direct)
METRICS = [
    ("tput1_gbps", "throughput, 1 stream", "Gbit/s", "higher", False),
    ("tput8_gbps", "throughput, 8 streams", "Gbit/s", "higher", False),
    ("connrate_per_s", "new connections", "conn/s", "higher", False),
    ("latency_p50_us", "64 B ping-pong RTT p50", "us", "lower", False),
    ("latency_p99_us", "64 B ping-pong RTT p99", "us", "lower", False),
    ("cpu_s_per_gb", "proxy CPU per GB moved", "s/GB", "lower", True),
    ("machine_cpu_s_per_gb", "machine CPU per GB moved (all)", "s/GB", "lower", False),
    ("tput1_busy_cores", "CPUs busy, 1 stream", "cores", "lower", False),
    ("tput8_busy_cores", "CPUs busy, 8 streams", "cores", "lower", False),
    ("connrate_busy_cores", "CPUs busy, new connections", "cores", "lower", False),
    ("connrate_machine_cpu_us", "machine CPU per connection", "us", "lower", False),
    ("idle_user_bytes", "userspace memory per idle conn", "bytes", "lower", True),
    ("idle_kernel_bytes", "kernel slab per idle conn (all hosts)", "bytes", "lower", False),
    ("idle_held", "idle connections held", "conns", "higher", False),
    ("idle_errors", "idle connection errors", "conns", "lower", False),
]
REFERENCES = ("direct", "haproxy-tproxy")


def ratio(value, reference):
    if value is None or reference in (None, 0):
        return None
    return value / reference


def summarize(samples, arms, metrics):
    by_key = {}
    for s in samples:
        by_key.setdefault((s["arm"], s["metric"]), []).append(s["value"])
    medians = {a: {} for a in arms}
    for arm in arms:
        for name in metrics:
            values = [v for v in by_key.get((arm, name), []) if v is not None]
            medians[arm][name] = statistics.median(values) if values else None
    ratios = {ref: {a: {} for a in arms} for ref in REFERENCES if ref in arms}
    for ref in ratios:
        for arm in arms:
            for name in metrics:
                ratios[ref][arm][name] = ratio(medians[arm][name], medians[ref][name])
    return medians, ratios


def fmt_value(value, unit):
    if value is None:
        return "n/a"
    if unit in ("conns", "conn/s", "bytes"):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def markdown_table(meta, medians, ratios, arms, metrics):
    short = {"direct": "d", "haproxy-tproxy": "h"}
    lines = [
        f"Medians of {meta['rounds']} round(s), {meta['duration']} s per arm per metric, "
        f"{meta['idle_conns']} idle connections; in parentheses the ratio to `direct` (d) "
        f"and to `haproxy-tproxy` (h) of the same run. Load average {meta.get('loadavg_start')} "
        f"at the start, {meta.get('loadavg_end')} at the end ({meta.get('nproc')} CPUs).",
        "",
        "| metric | " + " | ".join(f"`{a}`" for a in arms) + " |",
        "|---|" + "---:|" * len(arms),
    ]
    for name, label, unit, _better, proxy_only in METRICS:
        if name not in metrics:
            continue
        cells = []
        for arm in arms:
            value = medians[arm][name]
            if proxy_only and arm == "direct":
                cells.append("(no proxy)")
                continue
            parts = []
            for ref in REFERENCES:
                r = ratios.get(ref, {}).get(arm, {}).get(name)
                if r is not None and arm != ref and not (proxy_only and ref == "direct"):
                    parts.append(f"{r:.2f}{short[ref]}")
            text = fmt_value(value, unit)
            if parts and name not in ("idle_held", "idle_errors"):
                text += " (" + " ".join(parts) + ")"
            cells.append(text)
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def svg_chart(medians, ratios, arms, metrics):
    """Two panels of horizontal bars: each arm's ratio to direct, and to haproxy-tproxy."""
    rows = [m for m in METRICS if m[0] in metrics and m[0] not in ("idle_held", "idle_errors")]
    panels = [ref for ref in REFERENCES if ref in ratios]
    shown = [a for a in arms]
    colors = ["#888888", "#1f77b4", "#2ca02c", "#17becf", "#d62728", "#ff7f0e", "#9467bd"]
    bar_h, gap, label_w, plot_w, scale_max = 11, 10, 330, 330, 3.0
    group_h = bar_h * len(shown) + gap
    panel_h = group_h * len(rows) + 40
    width = label_w + (plot_w + 60) * len(panels) + 20
    height = panel_h + 40 + 20 * ((len(shown) + 2) // 3)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for p, ref in enumerate(panels):
        x0 = label_w + p * (plot_w + 60)
        out.append(f'<text x="{x0}" y="16" font-size="13" font-weight="bold">ratio to {ref}</text>')
        for tick in (0, 0.5, 1, 1.5, 2, 2.5, 3):
            x = x0 + plot_w * tick / scale_max
            dash = "" if tick == 1 else ' stroke-dasharray="2,3"'
            out.append(f'<line x1="{x:.1f}" y1="26" x2="{x:.1f}" y2="{panel_h}" stroke="#999"{dash}/>')
            out.append(f'<text x="{x:.1f}" y="{panel_h + 12}" text-anchor="middle">{tick:g}x</text>')
        for r, (name, label, unit, better, proxy_only) in enumerate(rows):
            y0 = 30 + r * group_h
            if p == 0:
                out.append(f'<text x="{label_w - 8}" y="{y0 + group_h / 2}" text-anchor="end">'
                           f'{label} ({better} is better)</text>')
            for i, arm in enumerate(shown):
                value = ratios[ref][arm][name]
                y = y0 + i * bar_h
                if value is None or (proxy_only and arm == "direct"):
                    continue
                w = plot_w * min(value, scale_max) / scale_max
                out.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                           f'fill="{colors[i % len(colors)]}"><title>{arm}: {value:.2f}x</title></rect>')
                more = ">" if value > scale_max else ""
                out.append(f'<text x="{x0 + w + 3:.1f}" y="{y + bar_h - 3}" font-size="9">'
                           f'{more}{value:.2f}</text>')
    for i, arm in enumerate(shown):
        x = 20 + (i % 3) * 250
        y = panel_h + 30 + (i // 3) * 20
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colors[i % len(colors)]}"/>')
        out.append(f'<text x="{x + 18}" y="{y + 10}">{arm}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 1:
        print("usage: summarize.py OUTPUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    meta = json.loads((out / "meta.json").read_text())
    meta["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines() if line]
    arms = meta["arms"]
    metrics = [m[0] for m in METRICS if m[0] in {s["metric"] for s in samples}]
    medians, ratios = summarize(samples, arms, metrics)
    results = {"meta": meta, "metrics": {m[0]: {"label": m[1], "unit": m[2], "better": m[3]}
                                         for m in METRICS if m[0] in metrics},
               "samples": samples, "medians": medians, "ratios": ratios}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown_table(meta, medians, ratios, arms, metrics)
    (out / "table.md").write_text(table)
    (out / "chart.svg").write_text(svg_chart(medians, ratios, arms, metrics))
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
