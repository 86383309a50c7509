// cudaInfo() and cudaSelfTest(): the CUDA backend's health, as JS sees it. In a build
// without nvcc both throw an Error saying so, and buildInfo().cuda is false.
#include <napi.h>

#include "node/bindings.h"
#include "node/napi_util.h"

#ifdef SANA_HAVE_CUDA
#include "backend/cuda/device.h"
#endif

namespace sana::node {

namespace {

#ifdef SANA_HAVE_CUDA

Napi::Value cuda_info(const Napi::CallbackInfo& info) {
  const cuda::RuntimeInfo runtime = cuda::cuda_device_info();
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("runtimeVersion", runtime.runtime_version);
  out.Set("driverVersion", runtime.driver_version);
  Napi::Array devices = Napi::Array::New(env, runtime.devices.size());
  for (size_t i = 0; i < runtime.devices.size(); ++i) {
    const cuda::DeviceInfo& d = runtime.devices[i];
    Napi::Object device = Napi::Object::New(env);
    device.Set("index", d.index);
    device.Set("name", d.name);
    device.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
    device.Set("multiprocessors", d.multiprocessors);
    device.Set("totalMemory", static_cast<double>(d.total_memory));
    device.Set("freeMemory", static_cast<double>(d.free_memory));
    devices.Set(static_cast<uint32_t>(i), device);
  }
  out.Set("deviceCount", static_cast<double>(runtime.devices.size()));
  out.Set("devices", devices);
  return out;
}

Napi::Value cuda_self_test(const Napi::CallbackInfo& info) {
  size_t elements = 1 << 20;
  if (has_arg(info, 0)) {
    const double requested = number_arg(info, 0, "cudaSelfTest");
    if (!(requested >= 1 && requested <= 1 << 30))
      throw Napi::RangeError::New(info.Env(), "cudaSelfTest: element count must be in [1, 2^30]");
    elements = static_cast<size_t>(requested);
  }
  const cuda::SelfTestResult result = cuda::cuda_self_test(elements);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("device", result.device);
  out.Set("elements", static_cast<double>(result.elements));
  out.Set("maxAbsError", result.max_abs_error);
  out.Set("milliseconds", result.milliseconds);
  return out;
}

#else

[[noreturn]] Napi::Value not_built(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "this sana_native addon was built without CUDA (nvcc was not found, or SANA_ENABLE_CUDA was OFF)");
}

Napi::Value cuda_info(const Napi::CallbackInfo& info) { not_built(info); }
Napi::Value cuda_self_test(const Napi::CallbackInfo& info) { not_built(info); }

#endif

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "cudaInfo", cuda_info);
  export_function(env, exports, "cudaSelfTest", cuda_self_test);
}

}  // namespace sana::node
