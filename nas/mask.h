// The FiGS mask: a Logistic-Sigmoid relaxation of a Bernoulli keep/drop per output channel
// (../shared/spec/figs-method.md, section 1).
//
//   pi[c] = sigmoid(nu[c])                       keep probability; nu = the learned logits
//   l[c]  = log(u) - log(1 - u),  u ~ U(0, 1)    Logistic(0, 1) noise, one draw per channel per step
//   a[c]  = (nu[c] + l[c]) / tau
//   m[c]  = sigmoid(a[c])                        relaxed mask (default, forward and backward)
//         = 1[a[c] > 0]                          straight-through option (forward only)
//   dL/dnu[c] = dL/dm[c] * sigmoid(a) sigmoid(-a) / tau      (never m (1 - m): see mask.cpp)
//   eval: m[c] = 1[pi[c] >= 0.5] (default) or 1[pi[c] >= 0.5] * pi[c] (the reference's option)
//
// The layer multiplies its input by m per channel (channel_scale in autograd/ops.h).
#pragma once

#include <cstdint>

#include "core/params.h"
#include "core/tensor.h"

namespace figs::nas {

// Relaxed (training default: m = sigmoid(a)), StraightThrough (training option: forward
// 1[a > 0], backward as Relaxed), EvalHard (evaluation default: 1[pi >= 0.5]), EvalScaled
// (evaluation option: 1[pi >= 0.5] * pi). Defined in core/params.h, where the kernels see it.
using MaskMode = figs::MaskMode;

const char* mask_mode_name(MaskMode mode);

// Which noise a mask layer draws at a training step. Note [mask noise]: the draw for channel c
// is philox_draw(seed, kMaskStreamBase + layer, step * C + c), so every (layer, step, channel)
// has its own counter and the CUDA backend can reproduce the numbers from the key alone.
struct MaskNoiseKey {
  uint64_t seed = 0;
  uint64_t layer = 0;
  uint64_t step = 0;
};
inline constexpr uint64_t kMaskStreamBase = 1ull << 40;

// The kernels' parameters for a layer's mask at `key` (its noise drawn on the logits' device).
MaskParams mask_params(const MaskNoiseKey& key, int64_t channels, double tau, MaskMode mode);

// Logistic(0, 1) noise for `channels` channels at `key`, as a float64 CPU tensor (C): the
// numbers the mask kernels draw from the same key (for tests and tools).
Tensor logistic_noise(int64_t channels, const MaskNoiseKey& key);

// m (C) from logits (C) and explicit noise (C) for a training mode, differentiable in the logits
// with the stable gradient above; for an evaluation mode the noise is ignored (pass an
// undefined tensor) and the result is a constant. m has the logits' dtype and device; the noise
// may be on any device. The op is figs::mask_values (autograd/ops.h): one kernel on the logits'
// device, which MaskLayer calls with the noise key instead of a noise tensor.
Tensor mask_values(const Tensor& logits, const Tensor& noise, double tau, MaskMode mode);

}  // namespace figs::nas
