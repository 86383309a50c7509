// make_backend(): the CPU backend is always built; a CUDA build (SANA_HAVE_CUDA) adds "cuda".
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "sana/error.h"

#ifdef SANA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace sana {

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>();
#ifdef SANA_HAVE_CUDA
  if (name == "cuda") return cuda::make_cuda_backend();
  fail("unknown backend \"" + std::string(name) + "\" (available: cpu, cuda)");
#else
  if (name == "cuda") fail("backend \"cuda\" is not in this build (it was compiled without the CUDA backend)");
  fail("unknown backend \"" + std::string(name) + "\" (available: cpu)");
#endif
}

}  // namespace sana
