#pragma once
// One register_* per binding file. To expose a new part of the engine, add
// src/node/<part>_binding.cpp defining register_<part>, declare it here, and call it
// from init in addon.cpp.
#include <napi.h>

namespace sana::node {

void register_build(Napi::Env env, Napi::Object exports);   // addon.cpp: buildInfo()
void register_loader(Napi::Env env, Napi::Object exports);  // loader_binding.cpp
void register_cuda(Napi::Env env, Napi::Object exports);    // cuda_binding.cpp
void register_sampler(Napi::Env env, Napi::Object exports); // sampler_binding.cpp
void register_dit(Napi::Env env, Napi::Object exports);     // dit_binding.cpp
void register_vae(Napi::Env env, Napi::Object exports);     // vae_binding.cpp
void register_denoise(Napi::Env env, Napi::Object exports); // denoise_binding.cpp
void register_text_encoder(Napi::Env env, Napi::Object exports); // text_encoder_binding.cpp
void register_noise(Napi::Env env, Napi::Object exports);   // noise_binding.cpp

}  // namespace sana::node
