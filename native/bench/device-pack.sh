#!/usr/bin/env bash
# Prepares, on a development machine, what a GPU machine without network access needs for
# device-check.sh beyond the repository: a Node binary (xz), the Node-API and node-addon-api
# headers, nlohmann-json, and the golden runner bundled into one file. All of it goes to
# native/.cuda-deps/device (git-ignored, ~26 MB), the folder to carry to the GPU machine.
# The CUDA toolkit, cuBLASLt and CMake are the GPU machine's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=native/.cuda-deps/device
rm -rf "$out"
mkdir -p "$out/napi" "$out/usr/include" "$out/usr/share/cmake"

xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
node_include="$(dirname "$(command -v node)")/../include/node"
cp "$node_include"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h,node_version.h} "$out/napi/"
cp node_modules/node-addon-api/napi*.h "$out/napi/"
cp -r /usr/include/nlohmann "$out/usr/include/"
cp -r /usr/share/cmake/nlohmann_json "$out/usr/share/cmake/"
# The runner finds the addon through SANA_NATIVE_ADDON and the set through --set.
node_modules/.bin/esbuild native/tools/golden/cli.ts --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$out/golden.mjs"
du -sh "$out"
