#!/usr/bin/env bash
# Spark batch-inference throughput (benchmarks/spark/SparkBench.java): rows/s of a plain loop,
# Spark local[1] and local[2], on the fixture models. Needs the project built (./viscpm build).
#
#   benchmarks/spark/run.sh [FIXTURES] [CAPTION_ROWS] [PAINT_ROWS]   # defaults: ../shared/fixtures 48 24
#
# Extra Maven flags (e.g. -Dmaven.repo.local=DIR) go in VISCPM_MVN_FLAGS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIXTURES="${1:-$ROOT/../shared/fixtures}"
MODULE="$ROOT/java/integrations/spark"
JAR="$(ls "$MODULE"/target/viscpm-spark-*.jar 2>/dev/null | grep -v -e sources -e javadoc | head -n 1 || true)"
if [ -z "$JAR" ]; then echo "build the project first (./viscpm build)" >&2; exit 1; fi
CP_FILE="$MODULE/target/bench-classpath.txt"
# compile scope = compile + provided: the API and Spark itself (a cluster would provide Spark).
(cd "$ROOT" && mvn -B -q --no-transfer-progress ${VISCPM_MVN_FLAGS:-} -pl java/integrations/spark dependency:build-classpath \
  -Dmdep.includeScope=compile "-Dmdep.outputFile=$CP_FILE" >/dev/null)
# Spark on Java 17 needs these openings (org.apache.spark.launcher.JavaModuleOptions).
OPENS=(--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED
  --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED
  -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true)
echo "VisCPM on Spark, batch throughput (benchmarks/spark/SparkBench.java), $(date -u +%Y-%m-%d), commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo "Machine: nproc=$(nproc), $(free -g | awk '/Mem:/ {print $2 " GiB"}'); $(java -version 2>&1 | head -n 1)"
lscpu | head -n 14 | sed 's/^/  lscpu: /'
echo "Load before (other work on the machine skews rows/s): $(uptime | sed 's/.*load average/load average/')"
echo
java "${OPENS[@]}" -Xmx3g -Dlog4j2.configurationFile="$ROOT/benchmarks/spark/log4j2.properties" \
  -cp "$JAR:$(cat "$CP_FILE")" "$ROOT/benchmarks/spark/SparkBench.java" "$FIXTURES" "${@:2}"
echo
echo "Load after: $(uptime | sed 's/.*load average/load average/')"
