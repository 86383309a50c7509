#pragma once
// nlohmann::json -> JS value, so config files reach JS as objects rather than strings.
// Integers beyond 2^53 lose precision as JS numbers do; config values never get near that.
#include <napi.h>
#include <nlohmann/json.hpp>

namespace sana::node {

inline Napi::Value json_to_js(Napi::Env env, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return env.Null();
    case nlohmann::json::value_t::boolean:
      return Napi::Boolean::New(env, value.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Napi::Number::New(env, static_cast<double>(value.get<int64_t>()));
    case nlohmann::json::value_t::number_unsigned:
      return Napi::Number::New(env, static_cast<double>(value.get<uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return Napi::Number::New(env, value.get<double>());
    case nlohmann::json::value_t::string:
      return Napi::String::New(env, value.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      Napi::Array out = Napi::Array::New(env, value.size());
      uint32_t i = 0;
      for (const auto& item : value) out.Set(i++, json_to_js(env, item));
      return out;
    }
    case nlohmann::json::value_t::object: {
      Napi::Object out = Napi::Object::New(env);
      for (const auto& [key, item] : value.items()) out.Set(key, json_to_js(env, item));
      return out;
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  throw Napi::Error::New(env, "json_to_js: binary JSON values have no JS form");
}

}  // namespace sana::node
