#!/usr/bin/env bash
# CPU thread scaling and the reference UNet side by side, in one run (issue 10):
#   native UNet step (mid-size, guidance batch 2) at 1 and 2 threads, with the op profile,
#   the reference UNet step (diffusers 0.15.0 on Debian's PyTorch 1.13) at 1 and 2 threads,
#   the linear layer (at::linear vs kernels::linear) at 1 and 2 threads,
#   the CPM-Bee mid-size prefill and decode step at 1 and 2 threads.
# Usage: benchmarks/cpu_threads.sh BUILD_DIR [REFERENCE_PYTHON] > benchmarks/results/cpu_threads.txt
# BUILD_DIR: a native build with -DVISCPM_BUILD_BENCHMARKS=ON. REFERENCE_PYTHON: a Python with
# torch 1.13 and diffusers==0.15.0 (e.g. a venv over Debian's python3-torch with OpenBLAS,
# `python3 -m venv --system-site-packages v && v/bin/pip install diffusers==0.15.0 huggingface_hub==0.25.2`);
# without it the reference rows are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
B="$1/benchmarks"
PY="${2:-}"
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
     "$(grep -o -w -E 'avx512f|avx512_bf16|avx2' /proc/cpuinfo | sort -u | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  echo "-- round $round"
  "$B/unet_step_bench" --config benchmarks/configs/unet_mid.json --latent 32 --context 77 --threads 1,2 --repeats 5
  if [ -n "$PY" ]; then
    for t in 1 2; do "$PY" benchmarks/reference/unet_step.py --config benchmarks/configs/unet_mid.json --latent 32 --context 77 --threads $t --repeats 5; done
  fi
done
echo "-- native UNet step op profile (main thread; ops inside other ops count in their caller)"
"$B/unet_step_bench" --config benchmarks/configs/unet_mid.json --latent 32 --threads 1,2 --repeats 1 --profile 1
echo "-- linear layer"
"$B/linear_pool_bench" --threads 1,2 --repeats 20
echo "-- CPM-Bee mid (dim 1024, 8 layers, real vocabulary size), prefill and decode step"
for t in 1 2; do "$B/cpmbee_decode_bench" --only mid --steps 12 --warmup 2 --threads $t; done
echo "== end $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
