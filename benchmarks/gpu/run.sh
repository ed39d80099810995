#!/usr/bin/env bash
# The one GPU script: builds the native library with CUDA (kernels/cuda, the Python
# installation's CUDA LibTorch), runs the CUDA kernel tests and the golden cases on the
# GPU, then the full-size benchmarks, and prints a table last (part, median, min, peak
# memory, ratio to the floor). Writes benchmarks/results/gpu/latest.json (and a copy of
# every log to $OUT when set, as on the device machine).
#
# usage (repository root, a machine with an NVIDIA GPU, nvcc, CMake, ninja and
#        python3 -c 'import torch' giving a CUDA build):
#   benchmarks/gpu/run.sh [--quick]
# Offline machines: benchmarks/gpu/pack-deps.sh (on a connected machine) writes
# .devdeps/gpu-deps.tar.xz with OpenCV, nlohmann-json, GoogleTest and the fixtures;
# this script unpacks it when present. Elsewhere they come from the system and
# VISCPM_FIXTURES (default ../shared/fixtures).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
QUICK="${1:-}"
RESULTS="$ROOT/benchmarks/results/gpu"
LOGS="${OUT:-$RESULTS}"
BUILD="${VISCPM_GPU_BUILD:-$ROOT/build-gpu}"
mkdir -p "$RESULTS" "$LOGS"
JOBS="$(nproc)"
status=0
step() { echo; echo "=== $* ($(date +%T))"; }

command -v nvcc > /dev/null || export PATH="/usr/local/cuda/bin:$PATH"
step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
nvcc --version | tail -n 2
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

CMAKE_EXTRA=()
FIXTURES="${VISCPM_FIXTURES:-$ROOT/../shared/fixtures}"
if [ -f "$ROOT/.devdeps/gpu-deps.tar.xz" ]; then
  step "unpacking .devdeps/gpu-deps.tar.xz"
  DEPS=/tmp/viscpm-gpu-deps
  rm -rf "$DEPS" && mkdir -p "$DEPS" && tar -C "$DEPS" -xJf "$ROOT/.devdeps/gpu-deps.tar.xz"
  CMAKE_EXTRA+=("-DVISCPM_CACHE_DIR=$DEPS/cache" "-DCMAKE_PREFIX_PATH=$DEPS/prefix")
  # OpenCV's core library needs OpenBLAS (and gfortran): the linker and the loader find them here.
  export LD_LIBRARY_PATH="$DEPS/blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  FIXTURES="$DEPS/fixtures"
fi

step "configure + build (CUDA, $JOBS jobs)"
export TORCH_CUDA_ARCH_LIST="8.0;9.0"
cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVISCPM_TORCH_PROVIDER=python -DVISCPM_CUDA=ON \
      -DVISCPM_BUILD_BENCHMARKS=ON "-DVISCPM_FIXTURES_DIR=$FIXTURES" "${CMAKE_EXTRA[@]}" > "$LOGS/configure.log" 2>&1 \
  || { tail -n 40 "$LOGS/configure.log"; echo "configure failed"; exit 1; }
grep -E "VisCPM|CUDA" "$LOGS/configure.log" | head -n 8
TARGETS=(kernels_cuda_test viscpm_tool gpu_bench)
if ! ninja -C "$BUILD" -j "$JOBS" "${TARGETS[@]}" > "$LOGS/build.log" 2>&1; then
  grep -E "error|FAILED" "$LOGS/build.log" | head -n 40
  echo "build failed"
  exit 1
fi
echo "built: ${TARGETS[*]}"

step "CUDA kernel tests against kernels/cpu"
"$BUILD/tests/kernels_cuda_test" 2>&1 | tee "$LOGS/kernels_cuda_test.log" | grep -E "seed|FAILED|PASSED|OK|SKIPPED|error" | head -n 60
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "golden cases on CUDA (fp32)"
"$BUILD/tools/viscpm_tool" parity "$FIXTURES" --device cuda > "$LOGS/parity_cuda.log" 2>&1 || status=1
tail -n 30 "$LOGS/parity_cuda.log"

step "benchmarks (full size, random fp16 weights)"
"$BUILD/benchmarks/gpu_bench" "$FIXTURES/vocab/bee.txt" "$ROOT/models" "$RESULTS/latest.json" $QUICK 2>&1 \
  | tee "$LOGS/gpu_bench.log" | tail -n 40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
[ "$LOGS" != "$RESULTS" ] && cp "$RESULTS/latest.json" "$RESULTS/latest_table.txt" "$LOGS/" 2>/dev/null
echo
cat "$RESULTS/latest.json" 2>/dev/null
echo
cat "$RESULTS/latest_table.txt" 2>/dev/null
exit $status
