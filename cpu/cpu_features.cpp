// What this CPU can run. This file is compiled for baseline x86-64, like everything outside
// cpu/fast/: these functions run before anything knows that the CPU has AVX2, so they must not
// live in a file built with -mavx2 (docs/architecture.md, "Vector builds and the linker").
#include "cpu/cpu_features.h"

namespace figs::cpu::fast {

bool cpu_supported() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool avx512_supported() {
  static const bool ok = cpu_supported() && __builtin_cpu_supports("avx512f");
  return ok;
}

}  // namespace figs::cpu::fast
