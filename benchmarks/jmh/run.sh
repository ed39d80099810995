#!/usr/bin/env bash
# JMH benchmarks, native engine against JVM engine (issue 13 item 4). From the repository root:
#
#   benchmarks/jmh/run.sh [NAME] [JMH ARGS...]
#
# builds benchmarks/jmh (against the ai.viscpm artifacts installed in ~/.m2: run
# `./viscpm build` or `mvn install` first), writes the mid-size random chat model once
# (benchmarks/jmh/target/models/chat-mid, ~0.95 GB), and runs every benchmark with -prof gc,
# writing benchmarks/results/jmh/NAME.json (default NAME: cpu) and the console log next to it.
# Extra arguments go to JMH (a benchmark regex, -p engine=jvm, ...). Environment:
# VISCPM_FIXTURES (default ../shared/fixtures), VISCPM_BENCH_THREADS (default 1),
# JAVA (default java on PATH; the benchmarks need Java 17+).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
name=${1:-cpu}
[ $# -gt 0 ] && shift
fixtures=$(cd "${VISCPM_FIXTURES:-../shared/fixtures}" && pwd)
threads=${VISCPM_BENCH_THREADS:-1}
java=${JAVA:-java}
models=$root/benchmarks/jmh/target/models
out=$root/benchmarks/results/jmh

(cd benchmarks/jmh && mvn -B -q package -DskipTests)
cp="$root/benchmarks/jmh/target/benchmarks.jar:$(cat benchmarks/jmh/target/runtime-classpath.txt)"
props=(-Dviscpm.fixtures="$fixtures" -Dviscpm.bench.models="$models" -Dviscpm.bench.threads="$threads")
"$java" "${props[@]}" -cp "$cp" ai.viscpm.bench.MidChatModel "$fixtures" "$models/chat-mid"

mkdir -p "$out"
{
  date -u
  git rev-parse --short HEAD
  lscpu | head -n 15
  echo "load average: $(cat /proc/loadavg)"
  "$java" -version 2>&1
  echo
} > "$out/$name.txt"
# -jvmArgsAppend: the forks get the same properties (and the same class path, -cp).
"$java" "${props[@]}" -cp "$cp" org.openjdk.jmh.Main \
  -rf json -rff "$out/$name.json" -prof gc \
  -jvmArgsAppend "-Dviscpm.fixtures=$fixtures -Dviscpm.bench.models=$models -Dviscpm.bench.threads=$threads" \
  "$@" 2>&1 | tee -a "$out/$name.txt"
echo "load average after: $(cat /proc/loadavg)" | tee -a "$out/$name.txt"
