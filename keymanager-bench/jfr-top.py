#!/usr/bin/env python3
"""Where the time goes in a JFR recording: the hottest methods by execution samples.

    python3 keymanager-bench/jfr-top.py bench-results/profile-STAMP-jfr/<benchmark>/profile.jfr [--top 25]

Standard library only; needs the JDK's `jfr` tool on the PATH. Prints, for the benchmark's own
threads, the share of samples whose top frame is each method ("self"), and the share of samples in
which each method appears anywhere on the stack ("total"), so a reader sees both the leaf cost
(AES rounds, GHASH) and which keymanager call put it there.
"""

import argparse
import collections
import json
import subprocess
import sys


def frames(event):
    stack = event["values"].get("stackTrace") or {}
    for f in stack.get("frames") or []:
        m = f.get("method") or {}
        t = (m.get("type") or {}).get("name", "?")
        yield f"{t}.{m.get('name', '?')}".replace("/", ".")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("jfr")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--thread", default="jmh-worker", help="only threads whose name contains this")
    args = p.parse_args(argv)

    out = subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", args.jfr],
                         capture_output=True, text=True, check=True).stdout
    events = json.loads(out)["recording"]["events"]
    self_counts, total_counts = collections.Counter(), collections.Counter()
    n = 0
    for e in events:
        thread = (e["values"].get("sampledThread") or {}).get("javaName") or ""
        if args.thread and args.thread not in thread:
            continue
        stack = list(frames(e))
        if not stack:
            continue
        n += 1
        self_counts[stack[0]] += 1
        for method in set(stack):
            total_counts[method] += 1
    if not n:
        print("no execution samples for threads matching " + repr(args.thread), file=sys.stderr)
        return 1
    print(f"{n} samples\n\nself%  method (top frame)")
    for method, c in self_counts.most_common(args.top):
        print(f"{100 * c / n:5.1f}  {method}")
    print("\ntotal%  method (anywhere on the stack; keymanager and JCE frames)")
    shown = 0
    for method, c in total_counts.most_common():
        if method.startswith(("dev.keymanager", "com.sun.crypto", "javax.crypto", "com.github.benmanes",
                              "java.security", "sun.security")):
            print(f"{100 * c / n:6.1f}  {method}")
            shown += 1
            if shown >= args.top:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
