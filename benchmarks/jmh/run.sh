#!/usr/bin/env bash
# JMH benchmarks, native engine against JVM engine (issue 13 item 4). From the repository root:
#
#   benchmarks/jmh/run.sh [NAME] [JMH ARGS...]
#
# builds benchmarks/jmh (against the ai.viscpm artifacts installed in ~/.m2: run
# `./viscpm build` or `mvn install` first), writes the mid-size random chat model once
# (benchmarks/jmh/target/models/chat-mid, ~0.95 GB) and the BEiT-3 large one (chat-beit3-large,
# ~2.4 GB), and runs every benchmark with -prof gc,
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
# The ai.viscpm snapshot jars are copied aside: another build's `mvn install` replacing them in
# ~/.m2 while the forks run would break class loading mid-run.
lib=$root/benchmarks/jmh/target/lib
rm -rf "$lib" && mkdir -p "$lib"
cp="$root/benchmarks/jmh/target/benchmarks.jar"
IFS=: read -ra entries < benchmarks/jmh/target/runtime-classpath.txt || true
for e in "${entries[@]}"; do
  case "$e" in
    */ai/viscpm/*) cp "$e" "$lib/" && cp="$cp:$lib/$(basename "$e")" ;;
    *) cp="$cp:$e" ;;
  esac
done
props=(-Dviscpm.fixtures="$fixtures" -Dviscpm.bench.models="$models" -Dviscpm.bench.threads="$threads")
"$java" "${props[@]}" -cp "$cp" ai.viscpm.bench.MidChatModel "$fixtures" "$models/chat-mid"
"$java" "${props[@]}" -cp "$cp" ai.viscpm.bench.Beit3LargeModel "$fixtures" "$models/chat-beit3-large"

mkdir -p "$out"
header() {
  date -u
  git rev-parse --short HEAD
  lscpu | head -n 15
  echo "load average: $(cat /proc/loadavg)"
}
if [ "${VISCPM_BENCH_ONLY:-}" != ffm ]; then
{ header; "$java" -version 2>&1; echo; } > "$out/$name.txt"
# -jvmArgsAppend: the forks get the same properties (and the same class path, -cp).
"$java" "${props[@]}" -cp "$cp" org.openjdk.jmh.Main \
  -rf json -rff "$out/$name.json" -prof gc \
  -jvmArgsAppend "-Dviscpm.fixtures=$fixtures -Dviscpm.bench.models=$models -Dviscpm.bench.threads=$threads" \
  "$@" 2>&1 | tee -a "$out/$name.txt"
echo "load average after: $(cat /proc/loadavg)" | tee -a "$out/$name.txt"
fi

# Issue 13 item 5: the FFM binding, only where a JDK 22+ exists (VISCPM_FFM_JAVA_HOME, else the
# newest /usr/lib/jvm/temurin-2*): built with it, run on it (JavaCPP's rows again beside FFM's,
# on the same JDK), into NAME-ffm.json and NAME-ffm.txt. VISCPM_BENCH_ONLY=ffm runs only this part.
ffm_home=${VISCPM_FFM_JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-2[2-9]* /usr/lib/jvm/temurin-[3-9]* 2>/dev/null | sort -V | tail -n 1 || true)}
if [ -n "$ffm_home" ] && [ -x "$ffm_home/bin/java" ]; then
  (cd benchmarks/jmh/ffm && JAVA_HOME="$ffm_home" mvn -B -q package -DskipTests 2>&1 | grep -v '^WARNING' || true)
  fcp="$root/benchmarks/jmh/ffm/target/benchmarks-ffm.jar"
  IFS=: read -ra entries < benchmarks/jmh/ffm/target/runtime-classpath.txt || true
  for e in "${entries[@]}"; do
    case "$e" in
      */ai/viscpm/*) fcp="$fcp:$lib/$(basename "$e")" ;;
      *) fcp="$fcp:$e" ;;
    esac
  done
  { header; "$ffm_home/bin/java" -version 2>&1; echo; } > "$out/$name-ffm.txt"
  "$ffm_home/bin/java" -Dviscpm.fixtures="$fixtures" -Dviscpm.bench.threads="$threads" -cp "$fcp" org.openjdk.jmh.Main \
    -rf json -rff "$out/$name-ffm.json" -prof gc \
    -jvmArgsAppend "--enable-native-access=ALL-UNNAMED -Dviscpm.fixtures=$fixtures -Dviscpm.bench.threads=$threads" \
    2>&1 | tee -a "$out/$name-ffm.txt"
  echo "load average after: $(cat /proc/loadavg)" | tee -a "$out/$name-ffm.txt"
else
  echo "no JDK 22+ found: the FFM benchmarks (benchmarks/jmh/ffm) were not built"
fi
