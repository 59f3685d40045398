#include "nas/mask.h"

#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "core/rng.h"
#include "core/view.h"

namespace figs::nas {

namespace {

double sigmoid(double a) { return a >= 0 ? 1 / (1 + std::exp(-a)) : std::exp(a) / (1 + std::exp(a)); }

// sigmoid(a) * sigmoid(-a), without the cancellation of m (1 - m): at tau = 1e-3, a is in the
// hundreds and 1 - m rounds to 0 in float although the true value (~e^-|a|) still carries the
// rare, large gradient the method relies on.
double sigmoid_slope(double a) {
  const double e = std::exp(-std::abs(a));
  return e / ((1 + e) * (1 + e));
}

}  // namespace

const char* mask_mode_name(MaskMode mode) {
  switch (mode) {
    case MaskMode::Relaxed: return "relaxed";
    case MaskMode::StraightThrough: return "straight_through";
    case MaskMode::EvalHard: return "eval_hard";
    case MaskMode::EvalScaled: return "eval_scaled";
  }
  return "?";
}

Tensor logistic_noise(int64_t channels, const MaskNoiseKey& key) {
  FIGS_CHECK(channels >= 0, "logistic_noise: negative channel count ", channels);
  std::vector<double> l(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const PhiloxBlock b = philox_draw(key.seed, kMaskStreamBase + key.layer, key.step * channels + c);
    const double u = uniform_open_f64(b.w[0], b.w[1]);
    l[c] = std::log(u) - std::log1p(-u);
  }
  return from_vector(l, {channels});
}

// Note [mask values on a device]: the mask is C numbers per layer, so it is computed on the host
// for every device: a CUDA run reads the logits (and noise) through a host copy, and m and the
// backward's gradient go to the logits' device. On the CPU, raw::to(t, cpu) returns t itself, so
// that path makes no extra copy and stays bit-identical to the CPU-only code.
Tensor mask_values(const Tensor& logits, const Tensor& noise, double tau, MaskMode mode) {
  FIGS_CHECK(logits.defined() && logits.dim() == 1 && is_floating(logits.dtype()),
             "mask_values: logits must be a 1-d floating tensor, got ", logits.describe());
  const int64_t C = logits.size(0);
  const Device device = logits.device();
  const std::vector<double> nu = logits.to_vector<double>();
  std::vector<double> m(C);
  const bool training = mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough;
  if (!training) {
    for (int64_t c = 0; c < C; ++c) {
      const bool keep = nu[c] >= 0;  // pi >= 0.5
      m[c] = keep ? (mode == MaskMode::EvalScaled ? sigmoid(nu[c]) : 1.0) : 0.0;
    }
    return raw::to(raw::to_dtype(from_vector(m, {C}), logits.dtype()), device);
  }
  FIGS_CHECK(tau > 0, "mask_values: temperature tau must be > 0, got ", tau);
  FIGS_CHECK(noise.defined() && noise.dim() == 1 && noise.size(0) == C, "mask_values: noise must have shape [", C,
             "], got ", noise.describe());
  const std::vector<double> l = noise.to_vector<double>();
  std::vector<double> a(C);
  for (int64_t c = 0; c < C; ++c) {
    a[c] = (nu[c] + l[c]) / tau;
    m[c] = mode == MaskMode::StraightThrough ? (a[c] > 0 ? 1.0 : 0.0) : sigmoid(a[c]);
  }
  Tensor out = raw::to(raw::to_dtype(from_vector(m, {C}), logits.dtype()), device);
  if (any_requires_grad({&logits})) {
    record("mask_values", {&logits}, out, [a, tau, dtype = logits.dtype(), device](const Tensor& gm, InputGrads& g) {
      const std::vector<double> upstream = gm.to_vector<double>();
      std::vector<double> dnu(a.size());
      for (size_t c = 0; c < a.size(); ++c) dnu[c] = upstream[c] * sigmoid_slope(a[c]) / tau;
      g.set(0, raw::to(raw::to_dtype(from_vector(dnu, {static_cast<int64_t>(a.size())}), dtype), device));
    });
  }
  return out;
}

}  // namespace figs::nas
