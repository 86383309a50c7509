// make_backend(): the CPU backend is always built; a CUDA build adds its own entry here.
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "sana/error.h"

namespace sana {

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>();
  fail("unknown backend \"" + std::string(name) + "\" (available: cpu)");
}

}  // namespace sana
