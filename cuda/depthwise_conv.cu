// Depthwise convolution (groups == C_in == C_out, one k_h x k_w filter per channel): forward,
// backward-data and backward-weight, own kernels (the formulas of cpu/reference/conv2d.h with
// one input channel per group).
//
// Specialised (cuda/launch.h, depthwise_specialization): float32, square k = 3/5/7, equal
// stride 1 or 2, no dilation; the templates unroll every tap. Generic: everything else, with
// run-time loops (any size, stride, padding, dilation, float64; correct, slower).
//
// Layout: every kernel indexes its tensors through their own strides and maps consecutive
// threads along the memory order of the tensor it writes (channels-last: channels fastest, so a
// warp touches 32 neighbouring channels of one pixel; NCHW: along W). Filters are first copied
// to wt[tap][c] (C * k_h * k_w values, negligible) so that threads of neighbouring channels
// read neighbouring weights.
//
//   forward          one thread per kDepthwiseTile outputs along W (specialised; 1 generic):
//                    each kernel row's input span is loaded once into registers;
//   backward-data    one thread per input element, gathering the outputs whose window holds it
//                    (no atomics, deterministic);
//   backward-weight  the per-channel reduction of channel_reduce.cuh with k*k + 1 accumulators
//                    per thread (taps, bias) when specialised, over 2-D tiles of gy: rows x
//                    kDepthwiseTile positions (launch.h, depthwise_weight_tile_rows), so each
//                    input row the tile touches is loaded into registers once, for every output
//                    row and column of the tile that reads it; the generic path reduces one tap
//                    per pass over single positions.
#include <type_traits>

#include "core/kernel_stats.h"
#include "cuda/channel_reduce.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

struct DwParams {
  int32_t kh, kw, sh, sw, ph, pw, dh, dw;
};
DwParams dw_params(const Conv2dParams& p, const Tensor& w) {
  return {static_cast<int32_t>(w.size(2)), static_cast<int32_t>(w.size(3)), p.stride_h, p.stride_w,
          p.pad_h, p.pad_w, p.dilation_h, p.dilation_w};
}

// wt[(kh * KW + kw) * C + c] = w[c, 0, kh, kw]
template <class T>
__global__ void transpose_filters(const T* w, Geom4 gw, T* wt, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const int32_t c = i % gw.N, tap = i / gw.N;
    wt[i] = w[gw.at(c, 0, tap / gw.W, tap % gw.W)];
  }
}

template <int K, int S>
__global__ void forward_specialised(const float* x, Geom4 gx, const float* wt, const float* bias, int64_t bias_stride,
                                    float* y, Geom4 gy, int32_t ph, int32_t pw, int32_t tiles_w, bool cl, int32_t n) {
  constexpr int kTile = kDepthwiseTile, kSpan = (kTile - 1) * S + K;
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 o = coord4(i, gy.C, gy.H, tiles_w, cl);  // o.w: which tile of the row
    const int32_t ow0 = o.w * kTile, iw0 = ow0 * S - pw;
    const float b = bias ? bias[o.c * bias_stride] : 0.f;
    float acc[kTile];
#pragma unroll
    for (int t = 0; t < kTile; ++t) acc[t] = b;
#pragma unroll
    for (int kh = 0; kh < K; ++kh) {
      const int32_t ih = o.h * S - ph + kh;
      if (ih < 0 || ih >= gx.H) continue;
      const float* xrow = x + o.n * gx.sn + o.c * gx.sc + ih * gx.sh;
      float row[kSpan];
#pragma unroll
      for (int j = 0; j < kSpan; ++j) {
        const int32_t iw = iw0 + j;
        row[j] = (iw >= 0 && iw < gx.W) ? xrow[iw * gx.sw] : 0.f;
      }
#pragma unroll
      for (int kw = 0; kw < K; ++kw) {
        const float wv = wt[(kh * K + kw) * gy.C + o.c];
#pragma unroll
        for (int t = 0; t < kTile; ++t) acc[t] += row[t * S + kw] * wv;
      }
    }
#pragma unroll
    for (int t = 0; t < kTile; ++t)
      if (ow0 + t < gy.W) y[gy.at(o.n, o.c, o.h, ow0 + t)] = acc[t];
  }
}

template <class T>
__global__ void forward_generic(const T* x, Geom4 gx, const T* wt, const T* bias, int64_t bias_stride, T* y, Geom4 gy,
                                DwParams p, bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 o = coord4(i, gy.C, gy.H, gy.W, cl);
    T acc = bias ? bias[o.c * bias_stride] : T(0);
    for (int32_t kh = 0; kh < p.kh; ++kh) {
      const int32_t ih = o.h * p.sh - p.ph + kh * p.dh;
      if (ih < 0 || ih >= gx.H) continue;
      for (int32_t kw = 0; kw < p.kw; ++kw) {
        const int32_t iw = o.w * p.sw - p.pw + kw * p.dw;
        if (iw >= 0 && iw < gx.W) acc += x[gx.at(o.n, o.c, ih, iw)] * wt[(kh * p.kw + kw) * gy.C + o.c];
      }
    }
    y[gy.at(o.n, o.c, o.h, o.w)] = acc;
  }
}

// Output index along one axis whose tap `k` lands on input i: (i + pad - k * dil) / s when that
// divides exactly and lies in [0, out); -1 otherwise.
__device__ inline int32_t source_of(int32_t i, int32_t pad, int32_t k_times_dil, int32_t s, int32_t out) {
  const int32_t t = i + pad - k_times_dil;
  if (t < 0 || t % s != 0) return -1;
  const int32_t o = t / s;
  return o < out ? o : -1;
}

template <int K, int S>
__global__ void backward_data_specialised(const float* gy, Geom4 ggy, const float* wt, float* gx, Geom4 ggx,
                                          int32_t ph, int32_t pw, bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 q = coord4(i, ggx.C, ggx.H, ggx.W, cl);
    float acc = 0.f;
#pragma unroll
    for (int kh = 0; kh < K; ++kh) {
      const int32_t oh = source_of(q.h, ph, kh, S, ggy.H);
      if (oh < 0) continue;
#pragma unroll
      for (int kw = 0; kw < K; ++kw) {
        const int32_t ow = source_of(q.w, pw, kw, S, ggy.W);
        if (ow >= 0) acc += gy[ggy.at(q.n, q.c, oh, ow)] * wt[(kh * K + kw) * ggx.C + q.c];
      }
    }
    gx[ggx.at(q.n, q.c, q.h, q.w)] = acc;
  }
}

template <class T>
__global__ void backward_data_generic(const T* gy, Geom4 ggy, const T* wt, T* gx, Geom4 ggx, DwParams p, bool cl,
                                      int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 q = coord4(i, ggx.C, ggx.H, ggx.W, cl);
    T acc = 0;
    for (int32_t kh = 0; kh < p.kh; ++kh) {
      const int32_t oh = source_of(q.h, p.ph, kh * p.dh, p.sh, ggy.H);
      if (oh < 0) continue;
      for (int32_t kw = 0; kw < p.kw; ++kw) {
        const int32_t ow = source_of(q.w, p.pw, kw * p.dw, p.sw, ggy.W);
        if (ow >= 0) acc += gy[ggy.at(q.n, q.c, oh, ow)] * wt[(kh * p.kw + kw) * ggx.C + q.c];
      }
    }
    gx[ggx.at(q.n, q.c, q.h, q.w)] = acc;
  }
}

// Backward-weight fold over an R x kDepthwiseTile tile of gy: output rows R * th ... + R - 1,
// columns kDepthwiseTile * tw ... (the reduction's "h" and "w" are the tile's indices):
// acc[tap] += gy * x at the tap, acc[K*K] += gy. The tile reads (R - 1) * S + K input rows of
// (kDepthwiseTile - 1) * S + K columns; each is loaded into registers once and used by every
// output row r whose window holds it (kernel row kh = j - r * S, resolved at compile time), so
// an input value is loaded ((R - 1) * S + K) / R times per tile column instead of K (k = 3,
// s = 1: 3 -> 1.5 at R = 4). gy outside the output counts as 0. R = 1 is the 1-D tiling that
// the H200 measured (docs/architecture.md), with the same summation order.
template <int K, int S, int R>
struct WeightFold {
  const float *gy, *x;
  Geom4 ggy, gx;
  int32_t ph, pw;
  __device__ void operator()(int32_t n, int32_t c, int32_t th, int32_t tw, float (&acc)[K * K + 1]) const {
    constexpr int kTile = kDepthwiseTile, kSpan = (kTile - 1) * S + K, kRowsIn = (R - 1) * S + K;
    const int32_t oh0 = th * R, ow0 = tw * kTile, ih0 = oh0 * S - ph, iw0 = ow0 * S - pw;
    const float* gyplane = gy + n * ggy.sn + c * ggy.sc;
    float g[R][kTile];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        g[r][t] = oh0 + r < ggy.H && ow0 + t < ggy.W ? gyplane[(oh0 + r) * ggy.sh + (ow0 + t) * ggy.sw] : 0.f;
        acc[K * K] += g[r][t];
      }
#pragma unroll
    for (int j = 0; j < kRowsIn; ++j) {
      const int32_t ih = ih0 + j;
      if (ih < 0 || ih >= gx.H) continue;
      const float* xrow = x + n * gx.sn + c * gx.sc + ih * gx.sh;
      float row[kSpan];
#pragma unroll
      for (int q = 0; q < kSpan; ++q) {
        const int32_t iw = iw0 + q;
        row[q] = (iw >= 0 && iw < gx.W) ? xrow[iw * gx.sw] : 0.f;
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int kh = j - r * S;
        if (kh < 0 || kh >= K) continue;
#pragma unroll
        for (int kw = 0; kw < K; ++kw)
#pragma unroll
          for (int t = 0; t < kTile; ++t) acc[kh * K + kw] += g[r][t] * row[t * S + kw];
      }
    }
  }
};

template <int NV, class T>
struct WeightStore {
  T* gw;
  Geom4 ggw;
  T* gbias;  // null: no bias
  int64_t gbias_stride;
  __device__ void operator()(int32_t c, const T (&sums)[NV]) const {
#pragma unroll
    for (int tap = 0; tap < NV - 1; ++tap) gw[ggw.at(c, 0, tap / ggw.W, tap % ggw.W)] = sums[tap];
    if (gbias) gbias[c * gbias_stride] = sums[NV - 1];
  }
};

// Generic backward-weight: one pass per tap (kh, kw) ...
template <class T>
struct TapFold {
  const T *gy, *x;
  Geom4 ggy, gx;
  DwParams p;
  int32_t kh, kw;
  __device__ void operator()(int32_t n, int32_t c, int32_t oh, int32_t ow, T (&acc)[1]) const {
    const int32_t ih = oh * p.sh - p.ph + kh * p.dh, iw = ow * p.sw - p.pw + kw * p.dw;
    if (ih >= 0 && ih < gx.H && iw >= 0 && iw < gx.W) acc[0] += gy[ggy.at(n, c, oh, ow)] * x[gx.at(n, c, ih, iw)];
  }
};
template <class T>
struct TapStore {
  T* out;
  Geom4 ggw;
  int32_t kh, kw;
  __device__ void operator()(int32_t c, const T (&sums)[1]) const { out[ggw.at(c, 0, kh, kw)] = sums[0]; }
};
// ... and one for the bias.
template <class T>
struct GradSumFold {
  const T* gy;
  Geom4 ggy;
  __device__ void operator()(int32_t n, int32_t c, int32_t h, int32_t w, T (&acc)[1]) const {
    acc[0] += gy[ggy.at(n, c, h, w)];
  }
};
template <class T>
struct ChannelStore {
  T* out;
  int64_t stride;
  __device__ void operator()(int32_t c, const T (&sums)[1]) const { out[c * stride] = sums[0]; }
};

// Calls fn(integral_constant K, integral_constant S) for a specialisation.
template <class Fn>
void with_specialisation(const DepthwiseSpecialization& s, Fn&& fn) {
  using std::integral_constant;
  switch (s.k * 10 + s.stride) {
    case 31: fn(integral_constant<int, 3>{}, integral_constant<int, 1>{}); return;
    case 32: fn(integral_constant<int, 3>{}, integral_constant<int, 2>{}); return;
    case 51: fn(integral_constant<int, 5>{}, integral_constant<int, 1>{}); return;
    case 52: fn(integral_constant<int, 5>{}, integral_constant<int, 2>{}); return;
    case 71: fn(integral_constant<int, 7>{}, integral_constant<int, 1>{}); return;
    case 72: fn(integral_constant<int, 7>{}, integral_constant<int, 2>{}); return;
  }
  fail("depthwise conv: no specialisation for k ", s.k, " stride ", s.stride);
}

// Calls fn(integral_constant R) for a backward-weight tile height (launch.h).
template <class Fn>
void with_tile_rows(int rows, Fn&& fn) {
  using std::integral_constant;
  switch (rows) {
    case 1: fn(integral_constant<int, 1>{}); return;
    case 2: fn(integral_constant<int, 2>{}); return;
    case 4: fn(integral_constant<int, 4>{}); return;
  }
  fail("depthwise conv2d_backward_weight: no kernel for tiles of ", rows, " rows (1, 2 or 4)");
}

DepthwiseSpecialization specialisation(const Conv2dParams& p, const Tensor& w) {
  return depthwise_specialization(w.size(2), w.size(3), p.stride_h, p.stride_w, p.dilation_h, p.dilation_w,
                                  w.dtype() == DType::Float32);
}

template <class T>
DeviceBuffer<T> transposed_filters(const Tensor& w) {
  const int64_t n = w.numel();
  DeviceBuffer<T> wt(n, w.device().index);
  transpose_filters<T><<<static_cast<int>(blocks_for(n)), kThreads, 0, current_stream()>>>(
      w.data<T>(), geom4(w), wt.data(), static_cast<int32_t>(n));
  FIGS_CUDA_CHECK_LAUNCH();
  return wt;
}

int grid(int64_t n) { return static_cast<int>(blocks_for(n)); }

}  // namespace

bool is_depthwise(const Conv2dParams& p, const Tensor& x, const Tensor& w) {
  return p.groups == x.size(1) && w.size(0) == x.size(1) && w.size(1) == 1;
}

void depthwise_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Tensor& y) {
  if (y.numel() == 0) return;
  check_index_range("conv2d_forward (depthwise)", x);
  check_index_range("conv2d_forward (depthwise)", y);
  use_device_of(x);
  const bool cl = channels_fastest(y);
  const DepthwiseSpecialization spec = specialisation(p, w);
  dispatch_floating(x.dtype(), "conv2d_forward", [&](auto tag) {
    using T = decltype(tag);
    const DeviceBuffer<T> wt = transposed_filters<T>(w);
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    const int64_t bs = bias.defined() ? bias.stride(0) : 0;
    if constexpr (std::is_same_v<T, float>) {
      if (spec.k > 0) {
        const int64_t tiles = depthwise_tiles(y.size(3), kDepthwiseTile);
        const int64_t n = y.size(0) * y.size(1) * y.size(2) * tiles;
        with_specialisation(spec, [&](auto k, auto s) {
          forward_specialised<decltype(k)::value, decltype(s)::value><<<grid(n), kThreads, 0, current_stream()>>>(
              x.data<float>(), geom4(x), wt.data(), b, bs, y.data<float>(), geom4(y), p.pad_h, p.pad_w,
              static_cast<int32_t>(tiles), cl, static_cast<int32_t>(n));
          FIGS_CUDA_CHECK_LAUNCH();
        });
        FIGS_COUNT_KERNEL("conv2d_forward", "cuda-depthwise");
        return;
      }
    }
    FIGS_COUNT_KERNEL("conv2d_forward", "cuda-depthwise-generic");
    forward_generic<T><<<grid(y.numel()), kThreads, 0, current_stream()>>>(
        x.data<T>(), geom4(x), wt.data(), b, bs, y.data<T>(), geom4(y), dw_params(p, w), cl,
        static_cast<int32_t>(y.numel()));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void depthwise_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  if (gx.numel() == 0) return;
  check_index_range("conv2d_backward_data (depthwise)", gx);
  check_index_range("conv2d_backward_data (depthwise)", gy);
  use_device_of(gx);
  const bool cl = channels_fastest(gx);
  const DepthwiseSpecialization spec = specialisation(p, w);
  const int32_t n = static_cast<int32_t>(gx.numel());
  dispatch_floating(gx.dtype(), "conv2d_backward_data", [&](auto tag) {
    using T = decltype(tag);
    const DeviceBuffer<T> wt = transposed_filters<T>(w);
    if constexpr (std::is_same_v<T, float>) {
      if (spec.k > 0) {
        with_specialisation(spec, [&](auto k, auto s) {
          backward_data_specialised<decltype(k)::value, decltype(s)::value><<<grid(n), kThreads, 0, current_stream()>>>(
              gy.data<float>(), geom4(gy), wt.data(), gx.data<float>(), geom4(gx), p.pad_h, p.pad_w, cl, n);
          FIGS_CUDA_CHECK_LAUNCH();
        });
        FIGS_COUNT_KERNEL("conv2d_backward_data", "cuda-depthwise");
        return;
      }
    }
    FIGS_COUNT_KERNEL("conv2d_backward_data", "cuda-depthwise-generic");
    backward_data_generic<T><<<grid(n), kThreads, 0, current_stream()>>>(
        gy.data<T>(), geom4(gy), wt.data(), gx.data<T>(), geom4(gx), dw_params(p, w), cl, n);
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void depthwise_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                      const Tensor& gbias, int tile_rows) {
  check_index_range("conv2d_backward_weight (depthwise)", x);
  check_index_range("conv2d_backward_weight (depthwise)", gy);
  use_device_of(x);
  const bool cl = channels_fastest(gy);
  const DepthwiseSpecialization spec = specialisation(p, gw);
  const int dev = x.device().index;
  dispatch_floating(x.dtype(), "conv2d_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    T* gb = gbias.defined() ? gbias.data<T>() : nullptr;
    const int64_t gbs = gbias.defined() ? gbias.stride(0) : 0;
    if constexpr (std::is_same_v<T, float>) {
      if (spec.k > 0) {
        const int rows = tile_rows > 0 ? tile_rows : depthwise_weight_tile_rows(spec.k, spec.stride);
        with_specialisation(spec, [&](auto k, auto s) {
          with_tile_rows(rows, [&](auto r) {
            constexpr int K = decltype(k)::value, S = decltype(s)::value, R = decltype(r)::value;
            Geom4 tiles = geom4(gy);  // the positions the reduction visits: (n, c, row tile, column tile)
            tiles.H = static_cast<int32_t>(depthwise_tiles(gy.size(2), R));
            tiles.W = static_cast<int32_t>(depthwise_tiles(gy.size(3), kDepthwiseTile));
            channel_reduce<K * K + 1, float>(
                tiles, cl, WeightFold<K, S, R>{gy.data<float>(), x.data<float>(), geom4(gy), geom4(x), p.pad_h, p.pad_w},
                WeightStore<K * K + 1, float>{gw.data<float>(), geom4(gw), gb, gbs}, dev);
          });
        });
        FIGS_COUNT_KERNEL("conv2d_backward_weight", "cuda-depthwise");
        return;
      }
    }
    FIGS_COUNT_KERNEL("conv2d_backward_weight", "cuda-depthwise-generic");
    const DwParams dp = dw_params(p, gw);
    for (int32_t kh = 0; kh < dp.kh; ++kh)
      for (int32_t kw = 0; kw < dp.kw; ++kw)
        channel_reduce<1, T>(geom4(gy), cl, TapFold<T>{gy.data<T>(), x.data<T>(), geom4(gy), geom4(x), dp, kh, kw},
                             TapStore<T>{gw.data<T>(), geom4(gw), kh, kw}, dev);
    if (gb) channel_reduce<1, T>(geom4(gy), cl, GradSumFold<T>{gy.data<T>(), geom4(gy)}, ChannelStore<T>{gb, gbs}, dev);
  });
}

}  // namespace figs::cuda::kernels
