#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one run of a few minutes (see docs/PERF.md):
#   1. builds the engine, its tools and (with the carried Node) the addon for this GPU;
#   2. compares every backend op on CUDA with the CPU backend (bf16 and fp32 GEMM modes);
#   3. runs the golden cases on the CUDA backend: transformer and DC-AE (C++ runners) and
#      the whole set through the addon (text encoder, samplers, pipelines), with the bf16
#      tolerance (relative L2 <= 1e-2) and, with SANA_CUDA_GEMM=fp32, the manifest's own;
#   4. times whole generations with the real shapes (random weights): SANA-0.6B at 1024²
#      and SANA-1.6B at 4096² (tiled decode), 20 steps with CFG.
# Run from the repository root, after native/bench/device-pack.sh on the development machine,
# carrying native/.cuda-deps/device. Everything is printed and saved to $OUT/device-check.log (and the
# benchmark table to $OUT/bench.md), or under /tmp/sana-device-check without $OUT.
# Exit status: the number of failed stages.
set -uo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
build=/tmp/sana-cuda-build
pack="$root/native/.cuda-deps/device"
log_dir="${OUT:-/tmp/sana-device-check}"
mkdir -p "$log_dir"
failures=0
stage() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
# One log for everything (the device tool brings back at most 8 files), the benchmark table apart.
log="$log_dir/device-check.log"
: > "$log"
run() {  # run NAME COMMAND...: prints and logs the output, counts a failure
  local name="$1"; shift
  echo "--- $name: $*" >> "$log"
  if "$@" 2>&1 | tee -a "$log"; then return 0; fi
  echo "!!! $name failed" | tee -a "$log"; failures=$((failures + 1))
}

stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
nvcc --version | tail -2
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)"

# cuBLASLt: the toolkit's if it has one, else the nvidia-cublas wheel of the machine's Python.
if ! ls /usr/local/cuda/lib64/libcublasLt.so* >/dev/null 2>&1; then
  # nvidia-cublas 13 unpacks to nvidia/cu13, 12 to nvidia/cublas.
  wheel_root="$(python3 -c 'import nvidia, os, glob
roots = [os.path.dirname(os.path.dirname(p)) for d in nvidia.__path__ for p in glob.glob(d + "/*/lib/libcublasLt.so*")]
print(roots[0] if roots else "")' 2>/dev/null)"
  if [[ -n "$wheel_root" && -f "$wheel_root/include/cublasLt.h" ]]; then
    export SANA_CUBLAS_ROOT="$wheel_root"
    export LD_LIBRARY_PATH="$wheel_root/lib:${LD_LIBRARY_PATH:-}"
  fi
fi
echo "cuBLASLt: ${SANA_CUBLAS_ROOT:-from the CUDA toolkit}"

node_bin=""
cmake_extra=()
if [[ -d "$pack" ]]; then
  xz -dc "$pack/node.xz" > /tmp/node && chmod +x /tmp/node && node_bin=/tmp/node
  cmake_extra+=(-Dnlohmann_json_DIR="$pack/usr/share/cmake/nlohmann_json")
  cmake_extra+=(-DCMAKE_JS_VERSION=device -DCMAKE_JS_INC="$pack/napi" -DCMAKE_JS_SRC= -DCMAKE_JS_LIB=)
fi

stage "build (sm_$arch)"
run cmake cmake -S native/bench -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  "${cmake_extra[@]}"
targets=(sana_backend_check sana_dit_golden dc_ae_golden sana_image_bench)
[[ -n "$node_bin" ]] && targets+=(sana_native)
run build ninja -C "$build" "${targets[@]}"

stage "ops: CUDA against the CPU backend"
SANA_CUDA_GEMM=fp32 run ops-fp32 "$build/sana_native/sana_backend_check" --a cpu --b cuda
run ops-bf16 "$build/sana_native/sana_backend_check" --a cpu --b cuda

stage "golden: transformer and DC-AE on CUDA"
SANA_CUDA_GEMM=fp32 run golden-dit-fp32 "$build/sana_native/sana_dit_golden" test/fixtures/golden cuda
run golden-dit-bf16 "$build/sana_native/sana_dit_golden" test/fixtures/golden cuda
SANA_CUDA_GEMM=fp32 run golden-vae-fp32 "$build/sana_native/dc_ae_golden" test/fixtures/golden cuda
run golden-vae-bf16 "$build/sana_native/dc_ae_golden" test/fixtures/golden cuda

if [[ -n "$node_bin" ]]; then
  stage "golden: the whole set through the addon on CUDA"
  export SANA_NATIVE_ADDON="$build/sana_native/sana_native.node"
  SANA_CUDA_GEMM=fp32 run golden-all-fp32 "$node_bin" "$pack/golden.mjs" --set test/fixtures/golden --backend cuda
  run golden-all-bf16 "$node_bin" "$pack/golden.mjs" --set test/fixtures/golden --backend cuda
else
  echo "(no carried Node: the addon golden run is skipped; run native/bench/device-pack.sh and carry its folder)"
fi

stage "benchmark: whole generations, real shapes"
run bench "$build/sana_image_bench" --backend cuda --cases 0.6b@1024,1.6b@4096 --steps 20 --reps 2
grep '^|' "$log" | tail -n 4 > "$log_dir/bench.md" || true

stage "done: $failures failed stage(s)"
exit "$failures"
