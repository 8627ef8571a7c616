#!/usr/bin/env bash
# Runs the keymanager JMH benchmarks and turns the JSON into a markdown table and an SVG chart.
#
#   keymanager-bench/run.sh quick            # ~10 minutes on 2 busy cores: 1 fork, 4x3s warmup, 3x1s measurement
#   keymanager-bench/run.sh full             # ~40 minutes: 2 forks, 5x3s warmup, 5x2s measurement
#   keymanager-bench/run.sh quick 'HotPath'  # only benchmarks matching a regex
#   keymanager-bench/run.sh profile 'HotPathBenchmark.unwrapWorkingSet8'   # JFR recording per benchmark
#   keymanager-bench/run.sh smoke            # one 200 ms iteration of each, no warm-up: does it all run?
#
# Every mode uses -prof gc (allocation per operation). Results land in bench-results/ at the repo root:
#   <mode>-<UTC stamp>.json      JMH's JSON
#   <mode>-<UTC stamp>.env.json  the machine: cores, CPU, JDK, load average before and after
#   <mode>-<UTC stamp>.md / .svg the table and chart (keymanager-bench/report.py)
#   <mode>-<UTC stamp>.log       JMH's console output
# JAVA_HOME=/path/to/jdk builds and runs the benchmarks with that JDK (the jar targets Java 17 either way),
# e.g. JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 keymanager-bench/run.sh quick 'HotPath'.
# SKIP_BUILD=1 reuses keymanager-bench/target/benchmarks.jar. Extra JMH options may follow the regex.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-quick}"
shift || true
include="${1:-dev.keymanager.bench}"
shift || true

# JMH_WARMUP replaces a mode's warm-up, e.g. JMH_WARMUP="-wi 10 -w 3s" on a loaded machine, where
# the JIT needs more wall-clock time to finish compiling (check the warm-up iterations in the log).
warmup=()
[[ -z "${JMH_WARMUP:-}" ]] || read -r -a warmup <<< "$JMH_WARMUP"
warm() { if (( ${#warmup[@]} )); then echo "${warmup[@]}"; else echo "$@"; fi; }
case "$mode" in
  quick)   read -r -a jmh_opts <<< "-f 1 $(warm -wi 4 -w 3s) -i 3 -r 1s -prof gc" ;;
  full)    read -r -a jmh_opts <<< "-f 2 $(warm -wi 5 -w 3s) -i 5 -r 2s -prof gc" ;;
  smoke)   read -r -a jmh_opts <<< "-f 1 -wi 0 -i 1 -r 200ms" ;;
  profile) read -r -a jmh_opts <<< "-f 1 $(warm -wi 4 -w 3s) -i 3 -r 2s -prof gc" ;;
  *) echo "usage: $0 quick|full|smoke|profile [benchmark regex] [JMH options...]" >&2; exit 2 ;;
esac

jar=keymanager-bench/target/benchmarks.jar
if [[ "${SKIP_BUILD:-0}" != 1 || ! -f "$jar" ]]; then
  # package, never install: upstream modules come from the reactor.
  ./mvnw -B -ntp -q -pl keymanager-bench -am -DskipTests -Djacoco.skip=true package
fi

out=bench-results
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
base="$out/$mode-$stamp"

if [[ "$mode" == profile ]]; then
  mkdir -p "$base-jfr"
  jmh_opts+=(-prof "jfr:dir=$base-jfr")
fi

java=java
[[ -z "${JAVA_HOME:-}" ]] || java="$JAVA_HOME/bin/java"

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
load_before="$(load)"
"$java" -Xmx256m -jar "$jar" "$include" "${jmh_opts[@]}" -jvmArgsAppend "-Xms1g -Xmx1g" \
  -rf json -rff "$base.json" "$@" 2>&1 | tee "$base.log"
load_after="$(load)"

python3 - "$base.env.json" "$load_before" "$load_after" "$java" <<'EOF'
import json, os, platform, subprocess, sys
path, before, after, java_bin = sys.argv[1:5]
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
java = subprocess.run([java_bin, "-version"], capture_output=True, text=True).stderr.splitlines()
json.dump({"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
           "java": java[1] if len(java) > 1 else (java[0] if java else "unknown"),
           "loadavg_before": before, "loadavg_after": after}, open(path, "w"), indent=2)
EOF

python3 keymanager-bench/report.py "$base.json" --markdown "$base.md" --svg "$base.svg"
echo "wrote $base.json, $base.md, $base.svg"
