#!/usr/bin/env python3
"""Turns keymanager-bench JMH JSON into a README-ready markdown table and an SVG chart.

    python3 keymanager-bench/report.py bench-results/quick-STAMP.json \
        --markdown bench-results/quick-STAMP.md --svg bench-results/quick-STAMP.svg

Standard library only. Every row shows ns/op, total ops/s (all threads), B/op from -prof gc, and
the ratio against its raw JCE floor measured in the same run; then the issue's targets, met or
missed. A sidecar STAMP.env.json written by run.sh (cores, CPU, JDK, load) describes the machine.
"""

import argparse
import html
import json
import math
import os
import re
import sys

PKG = "dev.keymanager.bench."

# label, group, kind; the floor each row is compared with. Rows absent from the JSON are skipped.
ROWS = [
    ("HotPathBenchmark.jceDecrypt", "raw JCE decrypt (floor)", "hot", "floor", None),
    ("HotPathBenchmark.unwrap", "keymanager unwrap", "hot", "keymanager", "HotPathBenchmark.jceDecrypt"),
    ("HotPathBenchmark.decodeAndUnwrap", "keymanager decode + unwrap", "hot", "keymanager", "HotPathBenchmark.jceDecrypt"),
    ("HotPathBenchmark.jceDecryptTwoThreads", "raw JCE decrypt, 2 threads (floor)", "hot", "floor", None),
    ("HotPathBenchmark.unwrapTwoThreads", "keymanager unwrap, 2 threads", "hot", "keymanager", "HotPathBenchmark.jceDecryptTwoThreads"),
    ("HotPathBenchmark.jceRandomEncrypt", "raw DRBG 32 B + JCE encrypt (floor)", "hot", "floor", None),
    ("HotPathBenchmark.randomBytes", "  of which DRBG 32 B", "hot", "floor", "HotPathBenchmark.jceRandomEncrypt"),
    ("HotPathBenchmark.generateDek", "keymanager generate + wrap", "hot", "keymanager", "HotPathBenchmark.jceRandomEncrypt"),
    ("HotPathBenchmark.jceRandomEncryptTwoThreads", "raw DRBG + encrypt, 2 threads (floor)", "hot", "floor", None),
    ("HotPathBenchmark.generateDekTwoThreads", "keymanager generate + wrap, 2 threads", "hot", "keymanager", "HotPathBenchmark.jceRandomEncryptTwoThreads"),
    ("HotPathBenchmark.jceDecryptWorkingSet8CipherPerKey", "raw JCE, 8 keys, a cipher per key", "hot", "floor", "HotPathBenchmark.jceDecrypt"),
    ("HotPathBenchmark.jceDecryptWorkingSet8OneCipher", "raw JCE, 8 keys, one re-keyed cipher", "hot", "floor", "HotPathBenchmark.jceDecrypt"),
    ("HotPathBenchmark.unwrapWorkingSet8", "keymanager unwrap, 8 KEKs in turn", "hot", "keymanager", "HotPathBenchmark.jceDecrypt"),
    ("PeerBenchmark.tinkEnvelopeDecrypt", "Tink KmsEnvelopeAead decrypt, KMS 0 ms", "hot", "peer", "HotPathBenchmark.jceDecrypt"),
    ("PeerBenchmark.esdkCachingDecrypt", "AWS Encryption SDK caching decrypt", "hot", "peer", "HotPathBenchmark.jceDecrypt"),
    ("ColdPathBenchmark.unwrap", "keymanager unwrap, KEK not cached", "cold", "keymanager", "HotPathBenchmark.jceDecrypt"),
    ("ColdPathBenchmark.tinkEnvelopeDecrypt", "Tink KmsEnvelopeAead decrypt", "cold", "peer", "HotPathBenchmark.jceDecrypt"),
    ("HerdBenchmark.unwrap", "keymanager herd, one cold KEK", "herd", "keymanager", None),
    ("HerdBenchmark.tinkEnvelopeDecrypt", "Tink herd", "herd", "peer", None),
    # Payload: keymanager's EnvelopeCipher against the floor of the same size (same params).
    ("PayloadBenchmark.jceEncrypt", "raw JCE one-shot encrypt (floor)", "payload", "floor", None),
    ("PayloadBenchmark.encrypt", "keymanager one-shot encrypt", "payload", "keymanager", "PayloadBenchmark.jceEncrypt"),
    ("PayloadBenchmark.jceDecrypt", "raw JCE one-shot decrypt (floor)", "payload", "floor", None),
    ("PayloadBenchmark.decrypt", "keymanager one-shot decrypt", "payload", "keymanager", "PayloadBenchmark.jceDecrypt"),
    ("PayloadBenchmark.encryptFreshDek", "keymanager one-shot encrypt, a DEK per payload", "payload", "keymanager", "PayloadBenchmark.jceEncrypt"),
    ("PayloadBenchmark.decryptFreshDek", "keymanager one-shot decrypt, a DEK per payload", "payload", "keymanager", "PayloadBenchmark.jceDecrypt"),
    ("PayloadBenchmark.StreamingFloor.tinkEncryptStream", "Tink streaming encrypt (floor)", "payload", "floor", None),
    ("PayloadBenchmark.Streaming.encryptStream", "keymanager streaming encrypt", "payload", "keymanager", "PayloadBenchmark.StreamingFloor.tinkEncryptStream"),
    ("PayloadBenchmark.StreamingFloor.tinkDecryptStream", "Tink streaming decrypt (floor)", "payload", "floor", None),
    ("PayloadBenchmark.Streaming.decryptStream", "keymanager streaming decrypt", "payload", "keymanager", "PayloadBenchmark.StreamingFloor.tinkDecryptStream"),
]
ORDER = {name: i for i, (name, *_rest) in enumerate(ROWS)}
META = {name: (label, group, kind, floor) for name, label, group, kind, floor in ROWS}
COLORS = {"keymanager": "#1f77b4", "floor": "#7f7f7f", "peer": "#d62728"}


def load(paths):
    results = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            results.extend(json.load(f))
    return results


def short(benchmark):
    return benchmark[len(PKG):] if benchmark.startswith(PKG) else benchmark


def rows_of(results):
    """One row per benchmark and parameter set, in the table's order."""
    rows = []
    for r in results:
        name = short(r["benchmark"])
        if r.get("mode") != "avgt" or name not in META:
            continue
        label, group, kind, floor = META[name]
        params = r.get("params") or {}
        metric = r["primaryMetric"]
        ns = metric["score"]
        secondary = r.get("secondaryMetrics") or {}
        alloc = secondary.get("gc.alloc.rate.norm") or secondary.get("\u00b7gc.alloc.rate.norm")
        threads = r.get("threads", 1)
        ops = secondary.get("operations") or secondary.get("herds")
        kms = secondary.get("kmsCalls")
        cpu, cpu_ops = secondary.get("cpuNanos"), secondary.get("ops")
        cpu_ns = cpu["score"] / cpu_ops["score"] if cpu and cpu_ops and cpu_ops["score"] else None
        kms_per_op = kms["score"] / ops["score"] if kms and ops and ops["score"] else None
        suffix = []
        if "latencyMillis" in params:
            suffix.append(f"KMS {params['latencyMillis']} ms")
        if "herd" in params:
            suffix.append(f"{params['herd']} threads")
        payload = int(params.get("size") or params.get("streamBytes") or 0)
        if payload:
            size = f"{payload >> 20} MiB" if payload >= 1 << 20 else f"{payload >> 10} KiB"
            suffix.append(f"{size}, {payload / ns * 1e3:,.0f} MB/s")
        rows.append({
            "name": name,
            "key": (name, tuple(sorted(params.items()))),
            "label": label + (f" ({', '.join(suffix)})" if suffix else ""),
            "group": group,
            "kind": kind,
            "floor": floor,
            "threads": threads,
            "ns": ns,
            "cpu": cpu_ns,
            "err": metric.get("scoreError"),
            "ops": threads * 1e9 / ns if ns else float("nan"),
            "bytes": alloc["score"] if alloc else None,
            "kms_per_op": kms_per_op,
            "params": params,
        })
    # A benchmark measured in several files: the later file wins (e.g. a re-run with more warm-up).
    latest = {row["key"]: row for row in rows}
    rows = list(latest.values())
    def param_key(row):
        return sorted((k, int(v) if str(v).isdigit() else 0, str(v)) for k, v in row["params"].items())

    rows.sort(key=lambda row: (ORDER[row["name"]], param_key(row)))
    return rows


def by_name(rows):
    out = {}
    for row in rows:
        out.setdefault(row["name"], row)
    return out


# Parameters a row shares with its floor (a payload row's floor is the same size).
FLOOR_PARAMS = ("size", "streamBytes")


def floor_of(row, rows, named):
    """The row's floor: the floor benchmark with the same payload size, else its first row."""
    if not row["floor"]:
        return None
    want = {k: v for k, v in row["params"].items() if k in FLOOR_PARAMS}
    if want:
        for other in rows:
            if other["name"] == row["floor"] and all(
                    other["params"].get(k) == v for k, v in want.items()):
                return other
    return named.get(row["floor"])


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:,.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:,.1f} µs"
    return f"{ns:,.0f} ns"


def fmt_tick(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:g} {unit}"
    return f"{ns:g} ns"


def jdk(env):
    m = re.search(r"build (\d+[.\d]*)", env.get("java", ""))
    return f"JDK {m.group(1)}" if m else env.get("java", "?")


def fmt_num(x, digits=0):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def fmt_ratio(x):
    if x is None:
        return "–"
    return f"{x:,.2f}×" if x < 100 else f"{x:,.0f}×"


def targets(named):
    """The issue's targets as (what, measured, goal, met) rows; missing inputs are skipped."""
    out = []

    def ratio(a, b):
        """CPU time per op where both have it (robust on a shared machine), else wall time."""
        if a not in named or b not in named:
            return None
        x, y = named[a], named[b]
        if x["cpu"] and y["cpu"]:
            return x["cpu"] / y["cpu"]
        return x["ns"] / y["ns"]

    def both(a, b):
        r = ratio(a, b)
        wall = named[a]["ns"] / named[b]["ns"]
        return r, f"{fmt_ratio(r)} (wall {fmt_ratio(wall)})"

    if ratio("HotPathBenchmark.unwrap", "HotPathBenchmark.jceDecrypt") is not None:
        r, text = both("HotPathBenchmark.unwrap", "HotPathBenchmark.jceDecrypt")
        out.append(("hot unwrap vs raw JCE decrypt", text, "≤ 1.3×", r <= 1.3))
    if ratio("HotPathBenchmark.generateDek", "HotPathBenchmark.jceRandomEncrypt") is not None:
        r, text = both("HotPathBenchmark.generateDek", "HotPathBenchmark.jceRandomEncrypt")
        out.append(("generate + wrap vs DRBG + JCE encrypt", text, "≤ 1.3×", r <= 1.3))
    a, b = named.get("HotPathBenchmark.unwrap"), named.get("HotPathBenchmark.jceDecrypt")
    if a and b and a["bytes"] is not None and b["bytes"]:
        r = a["bytes"] / b["bytes"]
        out.append(("allocation per hot unwrap vs raw JCE",
                    f"{a['bytes']:.0f} / {b['bytes']:.0f} B = {fmt_ratio(r)}", "≤ 1.2×", r <= 1.2))
    for one, two, what in [
        ("HotPathBenchmark.unwrap", "HotPathBenchmark.unwrapTwoThreads", "unwrap"),
        ("HotPathBenchmark.generateDek", "HotPathBenchmark.generateDekTwoThreads", "generate + wrap"),
        ("HotPathBenchmark.jceDecrypt", "HotPathBenchmark.jceDecryptTwoThreads", "raw JCE decrypt (control)"),
    ]:
        if one in named and two in named:
            wall = named[two]["ops"] / named[one]["ops"]
            c1, c2 = named[one]["cpu"], named[two]["cpu"]
            # With a core per thread, 2 threads do 2/c2 ops per CPU-ns against 1/c1.
            est = 2 * c1 / c2 if c1 and c2 else None
            r = est if est is not None else wall
            text = (f"{fmt_ratio(est)} from CPU/op (wall {fmt_ratio(wall)})" if est is not None
                    else fmt_ratio(wall))
            goal = "≥ 1.8×" if "control" not in what else "(machine check)"
            met = r >= 1.8 if "control" not in what else None
            out.append((f"2 threads vs 1, {what}, throughput", text, goal, met))
    if ratio("PeerBenchmark.esdkCachingDecrypt", "HotPathBenchmark.unwrap") is not None:
        r, text = both("PeerBenchmark.esdkCachingDecrypt", "HotPathBenchmark.unwrap")
        out.append(("hot unwrap faster than AWS ESDK caching decrypt", text, "≥ 30×", r >= 30))
    if ratio("HotPathBenchmark.unwrapWorkingSet8", "HotPathBenchmark.jceDecrypt") is not None:
        r, text = both("HotPathBenchmark.unwrapWorkingSet8", "HotPathBenchmark.jceDecrypt")
        out.append(("8-KEK working set vs raw JCE decrypt", text, "≤ 1.5×", r <= 1.5))
    return out


def markdown(rows, env, sources):
    named = by_name(rows)
    lines = []
    if env:
        lines.append(
            f"Machine: {env.get('cores', '?')} cores ({env.get('cpu', '?')}), {env.get('java', '?')}, "
            f"Linux {env.get('kernel', '?')}; load average {env.get('loadavg_before', '?')} before, "
            f"{env.get('loadavg_after', '?')} after (a shared machine: read ratios, not absolutes).")
        lines.append("")
    lines.append(f"Source: {', '.join(os.path.basename(s) for s in sources)}")
    lines.append("")
    lines.append("| benchmark | threads | time/op | ± | ops/s (all threads) | CPU/op | B/op "
                 "| vs floor (CPU) | vs floor (time) | KMS calls/op |")
    lines.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        floor = floor_of(row, rows, named)
        ratio = row["ns"] / floor["ns"] if floor else None
        cpu_ratio = row["cpu"] / floor["cpu"] if floor and row["cpu"] and floor["cpu"] else None
        err = row["err"]
        err_s = fmt_ns(err) if err is not None and not math.isnan(err) else "–"
        cpu_s = fmt_ns(row["cpu"]) if row["cpu"] else "–"
        lines.append(
            f"| {row['label']} | {row['threads']} | {fmt_ns(row['ns'])} | {err_s} | {fmt_num(row['ops'])} | "
            f"{cpu_s} | {fmt_num(row['bytes'])} | {fmt_ratio(cpu_ratio)} | {fmt_ratio(ratio)} | "
            f"{fmt_num(row['kms_per_op'], 2)} |")
    goals = targets(named)
    if goals:
        lines.append("")
        lines.append("| target | measured | goal | met |")
        lines.append("|---|--:|--:|:-:|")
        for what, measured, goal, met in goals:
            mark = "–" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {what} | {measured} | {goal} | {mark} |")
    return "\n".join(lines) + "\n"


def svg(rows, env):
    """A horizontal bar chart of time per operation on a log scale, one bar per row."""
    bar_h, gap, label_w, plot_w, top = 18, 6, 400, 520, 56
    height = top + len(rows) * (bar_h + gap) + 50
    width = label_w + plot_w + 110
    def value(row):
        return row["cpu"] or row["ns"]

    values = [value(r) for r in rows if value(r) > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo)

    def x(ns):
        return label_w + plot_w * (math.log10(ns) - math.log10(lo)) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="15" font-weight="bold">keymanager-bench: time per operation '
        f'(log scale, lower is better)</text>',
    ]
    if env:
        out.append(f'<text x="10" y="38" fill="#555">CPU time per op where measured (hot path, peers); '
                   f'wall-clock for the cold path, herds and payloads. '
                   f'{html.escape(str(env.get("cores", "?")))} cores, {html.escape(jdk(env))}, '
                   f'load average {html.escape(env.get("loadavg_before", "?").split(" ")[0])}</text>')
    decade = lo
    while decade <= hi * 1.0001:
        gx = x(decade)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 26}" text-anchor="middle" fill="#555">{html.escape(fmt_tick(decade))}</text>')
        decade *= 10
    for i, row in enumerate(rows):
        y = top + i * (bar_h + gap)
        label = row["label"] + (f" ×{row['threads']}t" if row["threads"] > 1 and "threads" not in row["label"] else "")
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end">{html.escape(label.strip())}</text>')
        x0, x1 = label_w, x(value(row))
        out.append(f'<rect x="{x0}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" fill="{COLORS[row["kind"]]}"/>')
        unit = " CPU" if row["cpu"] else ""
        out.append(f'<text x="{x1 + 4:.1f}" y="{y + bar_h - 5}">{html.escape(fmt_ns(value(row)) + unit)}</text>')
    legend_y = height - 10
    lx = 10
    for kind, text in [("keymanager", "keymanager"), ("floor", "raw JCE floor"), ("peer", "peers (Tink, AWS ESDK)")]:
        out.append(f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" fill="{COLORS[kind]}"/>')
        out.append(f'<text x="{lx + 16}" y="{legend_y}">{html.escape(text)}</text>')
        lx += 30 + 8 * len(text)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+",
                   help="JMH JSON result files (-rf json); where two hold the same benchmark, the later wins")
    p.add_argument("--markdown", help="write the table here (default: stdout)")
    p.add_argument("--svg", help="write the chart here")
    p.add_argument("--exclude", help="leave out benchmarks whose name matches this regex")
    p.add_argument("--env", help="machine description JSON (default: <first json>.env.json beside it)")
    args = p.parse_args(argv)

    rows = rows_of(load(args.json))
    if args.exclude:
        rows = [r for r in rows if not re.search(args.exclude, r["name"])]
    if not rows:
        print("no keymanager-bench results in " + ", ".join(args.json), file=sys.stderr)
        return 1
    env_path = args.env or (os.path.splitext(args.json[0])[0] + ".env.json")
    env = None
    if os.path.exists(env_path):
        with open(env_path, encoding="utf-8") as f:
            env = json.load(f)
    table = markdown(rows, env, args.json)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table)
    else:
        sys.stdout.write(table)
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg(rows, env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
