// The vector width of an own CPU kernel built for more than one: AVX2 (8 floats per register)
// or AVX-512 (16; needs the CPU's AVX-512F). Only the depthwise backward-weights has an AVX-512
// build so far; the backend picks with cpu::vector_isa() (cpu/cpu_backend.h).
#pragma once

namespace figs::cpu::fast {

enum class VectorIsa { Avx2, Avx512 };

// Whether this CPU can run the AVX-512 builds (AVX-512F, besides the AVX2 and FMA every own
// kernel needs).
bool avx512_supported();

}  // namespace figs::cpu::fast
