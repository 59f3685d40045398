// Reference kernels: batch normalisation per channel over (N, H, W).
//
//   training:  mean, var = batch statistics (biased var);  invstd = 1 / sqrt(var + eps)
//              running_mean <- (1 - m) running_mean + m mean
//              running_var  <- (1 - m) running_var  + m var * M / (M - 1)   (unbiased, M = N*H*W)
//   inference: mean, var = running statistics
//   y = (x - mean) * invstd * gamma + beta;   with the fused ReLU (p.relu) y = max(0, that)
//
// Backward (xhat = (x - mean) * invstd; d = gy, or with the fused ReLU d = gy where
// xhat * gamma + beta > 0 else 0; g = d * gamma):
//   training:  gx = invstd * (g - mean_M(g) - xhat * mean_M(g * xhat))
//   inference: gx = invstd * g                    (the statistics are constants)
//   ggamma = sum_M(d * xhat),  gbeta = sum_M(d)
//
// The ReLU's gate is recomputed from x and the saved statistics rather than read from a saved y
// (Note [The fused ReLU's gate is recomputed], core/backend.h). The training forward therefore
// normalises with the statistics it saves, rounded to T, so that the backward's value has the
// forward's sign exactly.
#pragma once

#include <cmath>

#include "core/params.h"
#include "core/parallel.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

namespace detail {
template <class T>
T channel_value(const Tensor& t, int64_t c, T fallback) {
  return t.defined() ? t.data<T>()[c * t.stride(0)] : fallback;
}
// (x - mean) * invstd * gamma + beta in double: the training forward's value and the backward's
// recomputation of it for the ReLU's gate (one expression, so the two agree exactly).
inline double normalized(double x, double mean, double invstd, double gamma, double beta) {
  return (x - mean) * invstd * gamma + beta;
}
template <class T>
T activate(const BatchNormParams& p, double v) {
  return static_cast<T>(p.relu && !(v > 0) ? 0.0 : v);
}
}  // namespace detail

template <class T>
void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, const Tensor& y, const Tensor& save_mean,
                                 const Tensor& save_invstd) {
  const Nchw<const T> X(x);
  const Nchw<T> Y(y);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), M = N * H * W;
  parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) s += X(n, c, h, w);
      const double mean = s / M;
      double ss = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) ss += (X(n, c, h, w) - mean) * (X(n, c, h, w) - mean);
      const double var = ss / M;
      const double invstd = 1.0 / std::sqrt(var + p.eps);
      const double g = detail::channel_value<T>(gamma, c, T(1)), b = detail::channel_value<T>(beta, c, T(0));
      const T saved_mean = static_cast<T>(mean), saved_invstd = static_cast<T>(invstd);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            Y(n, c, h, w) = detail::activate<T>(p, detail::normalized(X(n, c, h, w), saved_mean, saved_invstd, g, b));
      save_mean.data<T>()[c * save_mean.stride(0)] = saved_mean;
      save_invstd.data<T>()[c * save_invstd.stride(0)] = saved_invstd;
      if (running_mean.defined()) {
        T& rm = running_mean.data<T>()[c * running_mean.stride(0)];
        rm = static_cast<T>((1 - p.momentum) * rm + p.momentum * mean);
      }
      if (running_var.defined()) {
        T& rv = running_var.data<T>()[c * running_var.stride(0)];
        const double unbiased = M > 1 ? var * M / (M - 1) : var;
        rv = static_cast<T>((1 - p.momentum) * rv + p.momentum * unbiased);
      }
    }
  });
}

template <class T>
void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& running_mean,
                                  const Tensor& running_var, const Tensor& y) {
  const Nchw<const T> X(x);
  const Nchw<T> Y(y);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const double mean = detail::channel_value<T>(running_mean, c, T(0));
      const double invstd = 1.0 / std::sqrt(detail::channel_value<T>(running_var, c, T(1)) + p.eps);
      const double g = detail::channel_value<T>(gamma, c, T(1)), b = detail::channel_value<T>(beta, c, T(0));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            Y(n, c, h, w) = detail::activate<T>(p, (X(n, c, h, w) - mean) * invstd * g + b);
    }
  });
}

template <class T>
void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& beta, const Tensor& mean_t, const Tensor& invstd_t,
                         const Tensor& gx, const Tensor& ggamma, const Tensor& gbeta) {
  const Nchw<const T> X(x), GY(gy);
  const Nchw<T> GX(gx);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), M = N * H * W;
  parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const double mean = detail::channel_value<T>(mean_t, c, T(0));
      const double invstd = detail::channel_value<T>(invstd_t, c, T(1));
      const double g = detail::channel_value<T>(gamma, c, T(1)), b = detail::channel_value<T>(beta, c, T(0));
      auto d = [&](int64_t n, int64_t h, int64_t w) -> double {
        return p.relu && !(detail::normalized(X(n, c, h, w), mean, invstd, g, b) > 0)
                   ? 0.0
                   : static_cast<double>(GY(n, c, h, w));
      };
      double sum_gy = 0, sum_gy_xhat = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            const double xhat = (X(n, c, h, w) - mean) * invstd;
            sum_gy += d(n, h, w);
            sum_gy_xhat += d(n, h, w) * xhat;
          }
      if (gx.defined()) {
        for (int64_t n = 0; n < N; ++n)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
              double v = d(n, h, w);
              if (p.training) {
                const double xhat = (X(n, c, h, w) - mean) * invstd;
                v -= sum_gy / M + xhat * sum_gy_xhat / M;
              }
              GX(n, c, h, w) = static_cast<T>(v * g * invstd);
            }
      }
      if (ggamma.defined()) ggamma.data<T>()[c * ggamma.stride(0)] = static_cast<T>(sum_gy_xhat);
      if (gbeta.defined()) gbeta.data<T>()[c * gbeta.stride(0)] = static_cast<T>(sum_gy);
    }
  });
}

// gated = gy where (x - mean) * invstd * gamma + beta > 0, else 0: the fused ReLU's gate alone,
// for a backward whose BN part runs elsewhere (the CPU backend's oneDNN path).
template <class T>
void batch_norm_relu_gate(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& mean_t, const Tensor& invstd_t, const Tensor& gated) {
  const Nchw<const T> X(x), GY(gy);
  const Nchw<T> G(gated);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const double mean = detail::channel_value<T>(mean_t, c, T(0)), invstd = detail::channel_value<T>(invstd_t, c, T(1));
      const double g = detail::channel_value<T>(gamma, c, T(1)), b = detail::channel_value<T>(beta, c, T(0));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            G(n, c, h, w) = detail::normalized(X(n, c, h, w), mean, invstd, g, b) > 0 ? GY(n, c, h, w) : T(0);
    }
  });
}

}  // namespace figs::cpu::ref
