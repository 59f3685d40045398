// The FiGS mask's per-channel math, one definition for every backend (host and CUDA device
// code): Logistic noise from the Philox words, the relaxed mask and its slope. float64
// throughout (the global ::exp/::log: figs:: has tensor functions of those names); backends
// differ only in the libm behind exp/log (CUDA's are within an ulp or two
// of glibc's, so a GPU mask can differ from the CPU's in its last float bit, rarely).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/params.h"
#include "core/rng.h"

namespace figs::mask_math {

// Logistic(0, 1) noise of channel c: log(u) - log(1 - u), u uniform on (0, 1).
FIGS_HOST_DEVICE inline double logistic_noise(uint64_t seed, uint64_t stream, uint64_t counter) {
  const PhiloxBlock b = philox_draw(seed, stream, counter);
  const double u = uniform_open_f64(b.w[0], b.w[1]);
  return ::log(u) - ::log1p(-u);
}

FIGS_HOST_DEVICE inline double sigmoid(double a) {
  return a >= 0 ? 1 / (1 + ::exp(-a)) : ::exp(a) / (1 + ::exp(a));
}

// sigmoid(a) * sigmoid(-a), without the cancellation of m (1 - m): at tau = 1e-3, a is in the
// hundreds and 1 - m rounds to 0 in float although the true value (~e^-|a|) still carries the
// rare, large gradient the method relies on.
FIGS_HOST_DEVICE inline double sigmoid_slope(double a) {
  const double e = ::exp(-::fabs(a));
  return e / ((1 + e) * (1 + e));
}

// m and sigmoid'(a) of one channel (dm/dlogit = slope / tau). `noise` is used by the training
// modes only.
struct MaskValue {
  double m, slope;
};
FIGS_HOST_DEVICE inline MaskValue mask_value(MaskMode mode, double tau, double logit, double noise) {
  if (mode == MaskMode::EvalHard || mode == MaskMode::EvalScaled) {
    const bool keep = logit >= 0;  // pi >= 0.5
    return {keep ? (mode == MaskMode::EvalScaled ? sigmoid(logit) : 1.0) : 0.0, 0.0};
  }
  const double a = (logit + noise) / tau;
  return {mode == MaskMode::StraightThrough ? (a > 0 ? 1.0 : 0.0) : sigmoid(a), sigmoid_slope(a)};
}

// d loss / d logit from d loss / d m: (gm * slope) / tau, in this order (what the host code did
// before the kernel existed, so CPU results stayed bit for bit).
FIGS_HOST_DEVICE inline double logit_grad(double gm, double slope, double tau) { return gm * slope / tau; }

}  // namespace figs::mask_math
