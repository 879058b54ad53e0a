#!/usr/bin/env bash
# One full GPU verification run, for a session lent an H100/H200 (the device
# tool runs this from the repo root; no network there). It builds loomgrad for
# the GPU at hand, runs the cuda-marked tests and every benchmark with
# --device cuda, and leaves logs plus a results table under $OUT
# (default /tmp/lg_gpu) for bench/results/<gpu>-<date>.md.
#
#   bench/gpu_session.sh [ARCH]        # ARCH: CMAKE_CUDA_ARCHITECTURES, default 90
#
# The image there has python3 with torch, CuPy, NumPy, CMake and nvcc; the
# build backends (scikit-build-core, pybind11, pathspec, packaging) travel as
# wheels in .whl/ if missing (see the device tool's README).
set -uo pipefail
out=${OUT:-/tmp/lg_gpu}
arch=${1:-90}
py=${PYTHON:-python3}
mkdir -p "$out"
if [ -d .whl ]; then
  $py -m pip install -q --no-index --no-deps --target /tmp/lg_site .whl/*.whl && export PYTHONPATH=/tmp/lg_site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%F)" | tee -a "$out/gpu.txt"
# Build: only the GPU's own architecture (a fraction of the default build time).
$py -m pip install --no-build-isolation --no-deps -q --target /tmp/lg_pkg \
  -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$arch" -Cbuild-dir=/tmp/lg_build . \
  > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
export PYTHONPATH=/tmp/lg_pkg${PYTHONPATH:+:$PYTHONPATH}
$py -m loomgrad info | tee "$out/info.txt"
$py -m pytest -m cuda -q -p no:cacheprovider --maxfail=50 --tb=short tests 2>&1 | tee "$out/tests.log"
for b in gemm conv pool xent lstm lenet; do
  echo "\$ python -m loomgrad bench $b --device cuda"
  timeout 300 $py -m loomgrad bench "$b" --device cuda 2>&1
  echo
done | tee "$out/bench.md"
