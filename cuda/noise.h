// Mask noise drawn on the GPU as a tensor: the numbers of nas::logistic_noise (nas/mask.h, Note
// [mask noise]). A training step does not use this: the mask kernel (cuda/mask.cu, through
// autograd/ops/mask.cpp) draws the same Philox words itself while it computes m. This is for
// tests and tools that check the GPU's draws against the host's (tests/cuda/test_cuda_kernels.cpp).
// cuda/ sits below nas/, so the caller supplies the key as an RngDraw:
// for mask layer `layer` at step `step` with C channels,
//   draw = {seed, nas::kMaskStreamBase + layer, step * C}.
// No CUDA includes: usable from any C++ file.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace figs::cuda {

// float64 (channels) tensor on `device`: element c = log(u) - log1p(-u) with
// u = uniform_open_f64 of philox_draw(draw.seed, draw.stream, draw.counter + c) — the same
// Philox words as the CPU; log/log1p are CUDA's, within an ulp or two of the host's libm.
Tensor logistic_noise_device(int64_t channels, const RngDraw& draw, Device device = Device::cuda());

}  // namespace figs::cuda
