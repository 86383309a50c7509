#pragma once
// Element types as safetensors names them. Compute is float32; weights arrive in
// their stored type and are widened once, when a model part is loaded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sana {

enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::string_view dtype_name(DType dtype);
DType parse_dtype(std::string_view safetensors_name);  // throws sana::Error on unknown names
size_t dtype_size(DType dtype);
bool is_float(DType dtype);

float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);
uint16_t f32_to_bf16(float value);  // round to nearest even

// Widens n elements of any float or integer dtype to float32.
void convert_to_f32(DType dtype, const void* src, float* dst, size_t n);

}  // namespace sana
