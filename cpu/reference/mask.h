// Reference kernels: the FiGS mask's per-channel values and their backward (core/mask_math.h),
// float64 math.
#pragma once

#include "core/mask_math.h"
#include "core/tensor.h"

namespace figs::cpu::ref {

template <class T>
void mask_values(const MaskParams& given_p, const Tensor& logits, const Tensor& noise, const Tensor& m,
                 const Tensor& slope) {
  const int64_t C = logits.size(0);
  const MaskParams p = resolved(given_p, C);
  const bool training = p.mode == MaskMode::Relaxed || p.mode == MaskMode::StraightThrough;
  const T* nu = logits.data<T>();
  const double* given = noise.defined() ? noise.data<double>() : nullptr;
  T* out = m.data<T>();
  double* d = slope.data<double>();
  for (int64_t c = 0; c < C; ++c) {
    const double l = !training ? 0.0
                     : given  ? given[c * noise.stride(0)]
                              : mask_math::logistic_noise(p.seed, p.stream, p.counter + static_cast<uint64_t>(c));
    const mask_math::MaskValue v =
        mask_math::mask_value(p.mode, p.tau, static_cast<double>(nu[c * logits.stride(0)]), l);
    out[c * m.stride(0)] = static_cast<T>(v.m);
    d[c * slope.stride(0)] = v.slope;
  }
}

template <class T>
void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope, const Tensor& glogits) {
  const int64_t C = gm.size(0);
  const double tau = resolved(p, C).tau;
  const T* g = gm.data<T>();
  const double* s = slope.data<double>();
  T* out = glogits.data<T>();
  for (int64_t c = 0; c < C; ++c)
    out[c * glogits.stride(0)] = static_cast<T>(
        mask_math::logit_grad(static_cast<double>(g[c * gm.stride(0)]), s[c * slope.stride(0)], tau));
}

}  // namespace figs::cpu::ref
