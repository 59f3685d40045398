// The widest vector instructions the own CPU kernels may use: None on a CPU without AVX2 and
// FMA (the reference kernels and oneDNN run there), AVX2 (8 floats per register) or AVX-512 (16;
// needs the CPU's AVX-512F). Only the depthwise backward-weights has an AVX-512 build so far; the
// backend picks with cpu::vector_isa() (cpu/cpu_backend.h).
#pragma once

namespace figs::cpu::fast {

enum class VectorIsa { None, Avx2, Avx512 };

}  // namespace figs::cpu::fast
