#!/usr/bin/env bash
# Packs what benchmarks/gpu/run.sh needs on a GPU machine that has no network and no
# package manager (the device machine: CUDA, PyTorch, CMake, ninja, no JDK, no Maven):
# the bytedeco OpenCV the vision component links (with the OpenBLAS and Fortran runtime
# its core library needs), the nlohmann-json and GoogleTest development files, and the
# golden fixtures. Writes .devdeps/gpu-deps.tar.xz (ignored by git; carried to the device).
#
# usage (from the repository root, after one CPU build so the bytedeco cache is filled):
#   benchmarks/gpu/pack-deps.sh [FIXTURES_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${VISCPM_CACHE_DIR:-$HOME/.cache/viscpm}"
FIXTURES="$(cd "${1:-${VISCPM_FIXTURES:-$ROOT/../shared/fixtures}}" && pwd)"
OPENCV="$CACHE/bytedeco-opencv-4.13.0-1.5.13"
BLAS="$CACHE/bytedeco-2.10.0-1.5.13/lib"
for need in "$OPENCV/lib/libopencv_core.so.413" "$BLAS/libopenblas.so.0" /usr/include/nlohmann/json.hpp \
            /usr/lib/x86_64-linux-gnu/libgtest.a "$FIXTURES/manifest.json"; do
  [ -e "$need" ] || { echo "pack-deps: missing $need (run ./viscpm setup and a CPU build first)" >&2; exit 1; }
done
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/cache" "$stage/blas" "$stage/prefix/include" "$stage/prefix/lib/x86_64-linux-gnu/cmake" \
         "$stage/prefix/share/cmake"
cp -r "$OPENCV" "$stage/cache/"
cp "$BLAS/libopenblas.so.0" "$BLAS/libgfortran.so.5" "$BLAS/libquadmath.so.0" "$stage/blas/"
cp -r /usr/include/nlohmann /usr/include/gtest "$stage/prefix/include/"
cp -r /usr/share/cmake/nlohmann_json "$stage/prefix/share/cmake/"
cp /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a "$stage/prefix/lib/x86_64-linux-gnu/"
cp -r /usr/lib/x86_64-linux-gnu/cmake/GTest "$stage/prefix/lib/x86_64-linux-gnu/cmake/"
cp -r "$FIXTURES" "$stage/fixtures"
mkdir -p "$ROOT/.devdeps"
tar -C "$stage" -cf - . | xz -T2 -6 > "$ROOT/.devdeps/gpu-deps.tar.xz"
ls -la "$ROOT/.devdeps/gpu-deps.tar.xz"
