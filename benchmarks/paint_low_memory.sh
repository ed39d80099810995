#!/usr/bin/env bash
# Peak RSS of VisCPM-Paint with and without --low-memory, one process per mode
# (paint_low_memory.cpp). usage, from the repository root after a build with
# -DVISCPM_BUILD_BENCHMARKS=ON: benchmarks/paint_low_memory.sh BUILD_DIR [CPM_BEE_JSON] [SIDE]
set -euo pipefail
BUILD="${1:?build dir}"; CONFIG="${2:-benchmarks/configs/cpmbee_1b.json}"; SIDE="${3:-512}"
DIR="$(mktemp -d)"; trap 'rm -rf "$DIR"' EXIT
"$BUILD/benchmarks/paint_low_memory" write "$DIR" "$CONFIG"
for mode in normal low; do
  /usr/bin/time -v "$BUILD/benchmarks/paint_low_memory" run "$DIR" "$mode" "$SIDE" 2>&1 \
    | grep -E "^(normal|low)|Maximum resident"
done
