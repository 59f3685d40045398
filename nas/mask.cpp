#include "nas/mask.h"

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "core/mask_math.h"

namespace figs::nas {

const char* mask_mode_name(MaskMode mode) {
  switch (mode) {
    case MaskMode::Relaxed: return "relaxed";
    case MaskMode::StraightThrough: return "straight_through";
    case MaskMode::EvalHard: return "eval_hard";
    case MaskMode::EvalScaled: return "eval_scaled";
  }
  return "?";
}

MaskParams mask_params(const MaskNoiseKey& key, int64_t channels, double tau, MaskMode mode) {
  return {.mode = mode, .tau = tau, .seed = key.seed, .stream = kMaskStreamBase + key.layer,
          .counter = key.step * static_cast<uint64_t>(channels)};
}

Tensor logistic_noise(int64_t channels, const MaskNoiseKey& key) {
  FIGS_CHECK(channels >= 0, "logistic_noise: negative channel count ", channels);
  const MaskParams p = mask_params(key, channels, 1.0, MaskMode::Relaxed);
  std::vector<double> l(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    l[c] = mask_math::logistic_noise(p.seed, p.stream, p.counter + static_cast<uint64_t>(c));
  return from_vector(l, {channels});
}

Tensor mask_values(const Tensor& logits, const Tensor& noise, double tau, MaskMode mode) {
  const bool training = mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough;
  if (training) {
    FIGS_CHECK(noise.defined(), "mask_values: noise must have shape [", logits.defined() && logits.dim() == 1 ?
               logits.size(0) : 0, "], got an undefined tensor");
  }
  return figs::mask_values(logits, MaskParams{.mode = mode, .tau = tau}, training ? noise : Tensor());
}

}  // namespace figs::nas
