// Batch normalisation over (N, H, W) per channel, own kernels (the formulas of
// cpu/reference/batch_norm.h). Own rather than cuDNN's: the legacy cuDNN batch-norm API is
// deprecated in cuDNN 9, wants fully packed NCHW/NHWC tensors, and keeps a different variance
// (it saves 1/sqrt(var + eps) too, but updates the running variance its own way); the kernels
// here are memory-bound passes that reuse the per-channel reduction of channel_reduce.cuh.
//   training forward: pass 1 mean, pass 2 variance about that mean (two passes: no
//                     cancellation of E[x^2] - E[x]^2), pass 3 y; the finish steps of passes
//                     1-2 write save_mean / save_invstd and the running statistics;
//   inference forward: one elementwise pass from the running statistics;
//   backward: one reduction pass (sum gy, sum gy * xhat) whose finish writes ggamma / gbeta,
//             then one elementwise pass for gx.
// The fused ReLU (p.relu) clamps y in the elementwise pass; the backward recomputes the forward's
// value from x in both of its passes and counts gy where it is > 0 (Note [The fused ReLU's gate
// is recomputed], core/backend.h): y need not be kept.
// Elementwise passes map consecutive threads along x's fastest dim (channels-last: channels).
#include <cmath>

#include "cuda/channel_reduce.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

// A per-channel vector (C) that may be absent (null pointer: the default value is used).
template <class T>
struct ChannelVec {
  T* p;
  int64_t stride;
  __device__ T get(int32_t c, T fallback) const { return p ? p[c * stride] : fallback; }
};
template <class T>
ChannelVec<T> vec(const Tensor& t) {
  return {t.defined() ? t.data<T>() : nullptr, t.defined() ? t.stride(0) : 0};
}

template <class T>
struct SumX {
  const T* x;
  Geom4 gx;
  __device__ void operator()(int32_t n, int32_t c, int32_t h, int32_t w, T (&acc)[1]) const {
    acc[0] += x[gx.at(n, c, h, w)];
  }
};
template <class T>
struct StoreMean {
  ChannelVec<T> mean;
  T count;
  __device__ void operator()(int32_t c, const T (&s)[1]) const { mean.p[c * mean.stride] = s[0] / count; }
};

template <class T>
struct SumSquaredDeviation {
  const T* x;
  Geom4 gx;
  ChannelVec<T> mean;
  __device__ void operator()(int32_t n, int32_t c, int32_t h, int32_t w, T (&acc)[1]) const {
    const T d = x[gx.at(n, c, h, w)] - mean.p[c * mean.stride];
    acc[0] += d * d;
  }
};
template <class T>
struct StoreVariance {
  ChannelVec<T> mean, invstd, running_mean, running_var;
  int64_t count;
  double eps, momentum;
  __device__ void operator()(int32_t c, const T (&s)[1]) const {
    const double var = static_cast<double>(s[0]) / count;
    invstd.p[c * invstd.stride] = static_cast<T>(1.0 / sqrt(var + eps));
    if (running_mean.p) {
      T& rm = running_mean.p[c * running_mean.stride];
      rm = static_cast<T>((1 - momentum) * rm + momentum * static_cast<double>(mean.p[c * mean.stride]));
    }
    if (running_var.p) {
      T& rv = running_var.p[c * running_var.stride];
      const double unbiased = count > 1 ? var * count / (count - 1) : var;
      rv = static_cast<T>((1 - momentum) * rv + momentum * unbiased);
    }
  }
};

// (x - mean) * invstd * gamma + beta: the forward's value and the backward's recomputation of it
// for the ReLU's gate, one expression so that the two round alike.
template <class T>
__device__ T normalized(T x, T mean, T invstd, T gamma, T beta) {
  return (x - mean) * invstd * gamma + beta;
}

// The backward's gate of the fused ReLU: gy where the forward's value, recomputed from x, is > 0
// (relu false: gy everywhere).
template <class T>
struct ReluGate {
  bool relu;
  const T* x;
  Geom4 gx;
  ChannelVec<T> mean, invstd, gamma, beta;
  __device__ T operator()(T g, int32_t n, int32_t c, int32_t h, int32_t w) const {
    if (!relu) return g;
    const T v = normalized(x[gx.at(n, c, h, w)], mean.get(c, T(0)), invstd.get(c, T(1)), gamma.get(c, T(1)),
                           beta.get(c, T(0)));
    return v > T(0) ? g : T(0);
  }
};

// y = (x - mean) * invstd * gamma + beta (then max(0, .) when relu), invstd = 1 / sqrt(var + eps)
// when from_variance (inference: `scale_src` holds the running variance), else read directly
// (training).
template <class T>
__global__ void normalize_kernel(const T* x, Geom4 gx, T* y, Geom4 gy, ChannelVec<T> mean, ChannelVec<T> scale_src,
                                 bool from_variance, double eps, ChannelVec<T> gamma, ChannelVec<T> beta, bool relu,
                                 bool channels_last, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 k = coord4(i, gx.C, gx.H, gx.W, channels_last);
    const T m = mean.get(k.c, T(0));
    const T invstd = from_variance ? static_cast<T>(1.0 / sqrt(static_cast<double>(scale_src.get(k.c, T(1))) + eps))
                                   : scale_src.get(k.c, T(1));
    const T v = normalized(x[gx.at(k.n, k.c, k.h, k.w)], m, invstd, gamma.get(k.c, T(1)), beta.get(k.c, T(0)));
    y[gy.at(k.n, k.c, k.h, k.w)] = relu && !(v > T(0)) ? T(0) : v;
  }
}

template <class T>
struct BackwardSums {
  const T *gy, *x;
  Geom4 ggy, gx;
  ChannelVec<T> mean, invstd;
  ReluGate<T> gate;
  __device__ void operator()(int32_t n, int32_t c, int32_t h, int32_t w, T (&acc)[2]) const {
    const T g = gate(gy[ggy.at(n, c, h, w)], n, c, h, w);
    const T xhat = (x[gx.at(n, c, h, w)] - mean.get(c, T(0))) * invstd.get(c, T(1));
    acc[0] += g;
    acc[1] += g * xhat;
  }
};
template <class T>
struct StoreBackwardSums {
  T* sums;  // (C, 2): sum gy, sum gy * xhat
  ChannelVec<T> ggamma, gbeta;
  __device__ void operator()(int32_t c, const T (&s)[2]) const {
    sums[2 * c] = s[0];
    sums[2 * c + 1] = s[1];
    if (ggamma.p) ggamma.p[c * ggamma.stride] = s[1];
    if (gbeta.p) gbeta.p[c * gbeta.stride] = s[0];
  }
};

template <class T>
__global__ void batch_norm_gx_kernel(const T* gy, Geom4 ggy, const T* x, Geom4 gx_in, T* gx, Geom4 ggx,
                                     ChannelVec<T> mean, ChannelVec<T> invstd, ChannelVec<T> gamma, const T* sums,
                                     ReluGate<T> gate, bool training, T count, bool channels_last, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 k = coord4(i, ggx.C, ggx.H, ggx.W, channels_last);
    const T is = invstd.get(k.c, T(1));
    T v = gate(gy[ggy.at(k.n, k.c, k.h, k.w)], k.n, k.c, k.h, k.w);
    if (training) {
      const T xhat = (x[gx_in.at(k.n, k.c, k.h, k.w)] - mean.get(k.c, T(0))) * is;
      v -= sums[2 * k.c] / count + xhat * sums[2 * k.c + 1] / count;
    }
    gx[ggx.at(k.n, k.c, k.h, k.w)] = v * gamma.get(k.c, T(1)) * is;
  }
}

int grid(int64_t n) { return static_cast<int>(blocks_for(n)); }

}  // namespace

void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                                 const Tensor& save_mean, const Tensor& save_invstd) {
  check_index_range("batch_norm_forward_training", x);
  use_device_of(x);
  const int64_t M = x.size(0) * x.size(2) * x.size(3);
  const bool cl = channels_fastest(x);
  dispatch_floating(x.dtype(), "batch_norm_forward_training", [&](auto tag) {
    using T = decltype(tag);
    const Geom4 gx = geom4(x);
    const int dev = x.device().index;
    channel_reduce<1, T>(gx, cl, SumX<T>{x.data<T>(), gx}, StoreMean<T>{vec<T>(save_mean), static_cast<T>(M)}, dev);
    channel_reduce<1, T>(gx, cl, SumSquaredDeviation<T>{x.data<T>(), gx, vec<T>(save_mean)},
                         StoreVariance<T>{vec<T>(save_mean), vec<T>(save_invstd), vec<T>(running_mean),
                                          vec<T>(running_var), M, p.eps, p.momentum},
                         dev);
    if (x.numel() == 0) return;
    normalize_kernel<T><<<grid(x.numel()), kThreads, 0, current_stream()>>>(
        x.data<T>(), gx, y.data<T>(), geom4(y), vec<T>(save_mean), vec<T>(save_invstd), false, p.eps, vec<T>(gamma),
        vec<T>(beta), p.relu, cl, static_cast<int32_t>(x.numel()));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, const Tensor& y) {
  if (x.numel() == 0) return;
  check_index_range("batch_norm_forward_inference", x);
  use_device_of(x);
  dispatch_floating(x.dtype(), "batch_norm_forward_inference", [&](auto tag) {
    using T = decltype(tag);
    normalize_kernel<T><<<grid(x.numel()), kThreads, 0, current_stream()>>>(
        x.data<T>(), geom4(x), y.data<T>(), geom4(y), vec<T>(running_mean), vec<T>(running_var), true, p.eps,
        vec<T>(gamma), vec<T>(beta), p.relu, channels_fastest(x), static_cast<int32_t>(x.numel()));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx,
                         const Tensor& ggamma, const Tensor& gbeta) {
  check_index_range("batch_norm_backward", x);
  use_device_of(x);
  const int64_t C = x.size(1), M = x.size(0) * x.size(2) * x.size(3);
  const bool cl = channels_fastest(x);
  dispatch_floating(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    DeviceBuffer<T> sums(2 * C, x.device().index);
    const ReluGate<T> gate{p.relu, x.data<T>(), geom4(x), vec<T>(mean), vec<T>(invstd), vec<T>(gamma), vec<T>(beta)};
    channel_reduce<2, T>(geom4(gy), cl,
                         BackwardSums<T>{gy.data<T>(), x.data<T>(), geom4(gy), geom4(x), vec<T>(mean), vec<T>(invstd),
                                         gate},
                         StoreBackwardSums<T>{sums.data(), vec<T>(ggamma), vec<T>(gbeta)}, x.device().index);
    if (!gx.defined() || x.numel() == 0) return;
    batch_norm_gx_kernel<T><<<grid(x.numel()), kThreads, 0, current_stream()>>>(
        gy.data<T>(), geom4(gy), x.data<T>(), geom4(x), gx.data<T>(), geom4(gx), vec<T>(mean), vec<T>(invstd),
        vec<T>(gamma), sums.data(), gate, p.training, static_cast<T>(M), cl, static_cast<int32_t>(x.numel()));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels
