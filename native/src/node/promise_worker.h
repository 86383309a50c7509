#pragma once
// The Promise plumbing the binding files share: engine work runs in a libuv worker, its
// result or error settles a Promise, and a bad argument rejects rather than throws.
#include <napi.h>

#include <exception>

namespace sana::node {

// Runs a Promise-returning body; a bad argument becomes a rejected Promise rather than a
// synchronous throw, so callers handle every failure in one place.
template <typename Body>
Napi::Value promise_guard(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  } catch (const std::exception& e) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, e.what()).Value());
    return d.Promise();
  }
}

// An AsyncWorker settling a Promise: subclasses do the work in run() (off the JS thread)
// and resolve in OnOK(); any exception from run() rejects with its message.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* resource)
      : Napi::AsyncWorker(env, resource), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() final {
    try {
      run();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  virtual void run() = 0;
  void OnError(const Napi::Error& e) final { deferred_.Reject(e.Value()); }
  Napi::Promise::Deferred deferred_;
};

}  // namespace sana::node
