#pragma once
// Shared glue for the binding files: every exported function runs inside guarded(), so
// a sana::Error (or any std::exception) thrown by the engine reaches JS as an Error with
// the engine's message instead of terminating the process.
#include <napi.h>

#include <exception>
#include <string>
#include <utility>

namespace sana::node {

template <typename Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return std::forward<Body>(body)();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  } catch (...) {
    throw Napi::Error::New(env, "sana: unknown native exception");
  }
}

// Exports `fn(const Napi::CallbackInfo&) -> Napi::Value` as `name`, guarded.
template <typename Fn>
void export_function(Napi::Env env, Napi::Object exports, const char* name, Fn fn) {
  exports.Set(name, Napi::Function::New(
                        env,
                        [fn, name](const Napi::CallbackInfo& info) -> Napi::Value {
                          return guarded(info.Env(), [&] { return fn(info); });
                        },
                        name));
}

// Argument readers that name the function and argument position in their TypeError.
inline std::string string_arg(const Napi::CallbackInfo& info, size_t index, const char* fn_name) {
  if (info.Length() <= index || !info[index].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(fn_name) + ": argument " + std::to_string(index + 1) +
                                               " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

inline double number_arg(const Napi::CallbackInfo& info, size_t index, const char* fn_name) {
  if (info.Length() <= index || !info[index].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn_name) + ": argument " + std::to_string(index + 1) +
                                               " must be a number");
  return info[index].As<Napi::Number>().DoubleValue();
}

inline bool has_arg(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && !info[index].IsUndefined() && !info[index].IsNull();
}

}  // namespace sana::node
