#pragma once
// Weight matrices the CUDA backend keeps in bf16. Backend::upload_weight hands model code a
// float* like any other Buffer; linear() and conv2d() look the pointer up here to learn that
// it really holds bf16. The table is global because a Buffer's release function carries no
// context, and it is what removes the entry when the model frees the weight.
#include <cuda_bf16.h>

#include <cstddef>

#include "backend/backend.h"

namespace sana::cuda {

// n bf16 elements in device memory, registered until the Buffer is released.
Buffer alloc_bf16_weight(size_t n);
// The bf16 data behind `w` when it is the start of such a weight, else null. Throws when
// `w` points inside one (an offset view, which the float* interface cannot express).
const __nv_bfloat16* find_bf16_weight(const float* w);

}  // namespace sana::cuda
