// What this CPU can run, asked once (CPUID) and cached. Defined in cpu/cpu_features.cpp, which is
// built for baseline x86-64: these run before anything knows the answer.
#pragma once

namespace figs::cpu::fast {

// Whether this CPU can run the own vectorised kernels (AVX2 and FMA; cpu/fast/kernels.h).
bool cpu_supported();

// Whether it can run their AVX-512 builds (AVX-512F, besides AVX2 and FMA).
bool avx512_supported();

}  // namespace figs::cpu::fast
