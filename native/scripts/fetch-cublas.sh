#!/usr/bin/env bash
# Puts cuBLASLt (headers and libcublasLt.so.13) under native/.cuda-deps/cublas for hosts whose
# CUDA toolkit lacks it, such as the CI machines (nvcc and the runtime only). It comes from
# NVIDIA's nvidia-cublas wheel on the configured Python package index; CMake finds it there
# (or anywhere SANA_CUBLAS_ROOT points). GPU hosts with a full toolkit need none of this.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${SANA_CUBLAS_WHEEL_VERSION:-13.1.1.3}"
dest=.cuda-deps/cublas
if [[ -f "$dest/lib/libcublasLt.so.13" && -f "$dest/include/cublasLt.h" ]]; then
  echo "cuBLASLt already in native/$dest"
  exit 0
fi
if ! command -v nvcc >/dev/null 2>&1; then
  echo "no nvcc on PATH: the CUDA backend will not be built, so cuBLASLt is not needed"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --retries 1 --no-deps --only-binary=:all: "nvidia-cublas==$version" -d "$work"
wheel="$(ls "$work"/nvidia_cublas-*.whl)"
# Only what the build links: the headers and the Lt library (the wheel also holds cuBLAS and NVBLAS).
unzip -q -o "$wheel" 'nvidia/cu13/include/*' 'nvidia/cu13/lib/libcublasLt.so.13' -d "$work/x"
mkdir -p "$dest"
rm -rf "$dest/include" "$dest/lib"
mv "$work/x/nvidia/cu13/include" "$work/x/nvidia/cu13/lib" "$dest/"
echo "cuBLASLt $version in native/$dest"
