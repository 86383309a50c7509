// The module entry: each binding file registers its own functions.
#include <napi.h>

#include "node/bindings.h"
#include "node/napi_util.h"

#ifndef SANA_CXX_COMPILER
#define SANA_CXX_COMPILER "unknown"
#endif

namespace sana::node {

void register_build(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "buildInfo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env e = info.Env();
    Napi::Object out = Napi::Object::New(e);
#ifdef SANA_HAVE_CUDA
    out.Set("cuda", true);
    out.Set("cudaCompiler", SANA_CUDA_COMPILER);
    out.Set("cudaArchitectures", SANA_CUDA_ARCHITECTURES);
#else
    out.Set("cuda", false);
#endif
#ifdef SANA_HAVE_CBLAS
    out.Set("cblas", true);
#else
    out.Set("cblas", false);
#endif
    out.Set("compiler", SANA_CXX_COMPILER);
    out.Set("napiVersion", NAPI_VERSION);
#ifdef NDEBUG
    out.Set("buildType", "release");
#else
    out.Set("buildType", "debug");
#endif
    return out;
  });
}

}  // namespace sana::node

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  sana::node::register_build(env, exports);
  sana::node::register_loader(env, exports);
  sana::node::register_cuda(env, exports);
  sana::node::register_sampler(env, exports);
  sana::node::register_dit(env, exports);
  sana::node::register_vae(env, exports);
  sana::node::register_denoise(env, exports);
  sana::node::register_text_encoder(env, exports);
  sana::node::register_noise(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(sana_native, init)
