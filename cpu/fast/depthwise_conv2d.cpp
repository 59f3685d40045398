// Depthwise convolution (groups = C_in = C_out) for channels-last float32 tensors: forward,
// backward-data and backward-weights, AVX2 + FMA, vectorised over channels (8 per register,
// masked tails for C not a multiple of 8).
//
// Why own kernels: oneDNN 2.6 falls back to its generic grouped-convolution kernel for depthwise
// backward-weights with k = 5 and 7 (13x off the memory floor at the small-preset shapes), and
// runs depthwise on NCHW through im2col gemm. See docs/architecture.md, "CPU kernels".
//
// Note [depthwise tiling]
//   forward          per output row (n, oh), per 8-channel block: OWB = 4 output pixels accumulate
//                    in registers while the K x K taps stream past; the weights of a tap are one
//                    register. Pixels whose window crosses the left/right edge take a checked path.
//   backward-data    stride 1 is a forward pass over gy with the kernel flipped and padding
//                    D (K - 1) - P; other strides gather, per input pixel, the taps that land on it.
//   backward-weights each thread accumulates a private K x K x C partial over its share of rows,
//                    one (tap, channel block) register at a time across the row; partials are summed
//                    at the end (fixed order, so results do not depend on scheduling). Written once
//                    over the vector width (depthwise_conv2d_weight_grad.h): AVX2 here, AVX-512 in
//                    depthwise_conv2d_avx512.cpp.
// K and S are template parameters for (3, 5, 7) x (1, 2), dispatched at one switch; other sizes
// run the same code with runtime values.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/depthwise_conv2d_weight_grad.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {

constexpr int kLanes = 8;

// Lane masks for channel tails: the first n lanes on.
inline __m256i tail_mask(int n) {
  alignas(32) static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - n));
}
inline __m256 load(const float* p, int n, __m256i mask) {
  return n == kLanes ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}
inline void store(float* p, __m256 v, int n, __m256i mask) {
  if (n == kLanes)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, mask, v);
}

using Geometry = DepthwiseGeometry;

// Each thread accumulates a private (K*K, C) partial over its share of rows with `partial` (the
// AVX2 or the AVX-512 build of weight_partial); the partials are summed at the end in thread
// order, so the result does not depend on scheduling.
template <class Partial>
void backward_weight_taps(const Geometry& g, const float* gy, const float* x, float* taps_out, float* gbias,
                          const Partial& partial_fn) {
  const int64_t rows = g.N * g.OH, taps = static_cast<int64_t>(g.K) * g.K;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1)));
  std::vector<std::vector<float>> partial(threads, std::vector<float>(taps * g.C, 0.f));
  std::vector<std::vector<float>> bias_partial(threads, std::vector<float>(gbias ? g.C : 0, 0.f));
  parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      partial_fn(rows * t / threads, rows * (t + 1) / threads, partial[t].data(),
                 gbias ? bias_partial[t].data() : nullptr);
  });
  for (int64_t i = 0; i < taps * g.C; ++i) {
    float s = 0;
    for (int t = 0; t < threads; ++t) s += partial[t][i];
    taps_out[i] = s;
  }
  if (gbias)
    for (int64_t c = 0; c < g.C; ++c) {
      float s = 0;
      for (int t = 0; t < threads; ++t) s += bias_partial[t][c];
      gbias[c] = s;
    }
}

// The AVX2 lanes of depthwise_conv2d_weight_grad.h's kernels.
struct Avx2Lanes {
  static constexpr int kLanes = fast::kLanes;
  using Vec = __m256;
  using Mask = __m256i;
  static Mask tail(int n) { return tail_mask(n); }
  static Vec load(const float* p, int n, Mask m) { return fast::load(p, n, m); }
  static void store(float* p, Vec v, int n, Mask m) { fast::store(p, v, n, m); }
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
};

// y (N, OH, OW, C) = depthwise(x (N, H, W, C), taps (K*K, C)) + bias. `taps` is tap-major.
template <int KT, int ST>
void forward_rows(const Geometry& g, const float* x, const float* taps, const float* bias, float* y) {
  const Sizes<KT, ST> z{g};
  const int K = z.k(), S = z.s(), P = g.P, D = g.D;
  const int64_t C = g.C, W = g.W;
  // Output columns whose whole window lies inside the input: [ow_lo, ow_hi).
  const int64_t ow_lo = std::min<int64_t>(g.OW, (P + S - 1) / S);
  const int64_t ow_hi = std::max<int64_t>(ow_lo, std::min<int64_t>(g.OW, floor_div(W - 1 + P - (K - 1) * D, S) + 1));
  parallel_for(0, g.N * g.OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.OH, oh = row % g.OH;
      const float* xn = x + n * g.H * W * C;
      float* yrow = y + row * g.OW * C;
      int kh_lo = 0, kh_hi = K;  // taps whose input row exists
      while (kh_lo < K && oh * S - P + kh_lo * D < 0) ++kh_lo;
      while (kh_hi > kh_lo && oh * S - P + (kh_hi - 1) * D >= g.H) --kh_hi;
      for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
        const int lanes = static_cast<int>(std::min<int64_t>(kLanes, C - c0));
        const __m256i mask = tail_mask(lanes);
        const __m256 b0 = bias ? load(bias + c0, lanes, mask) : _mm256_setzero_ps();
        // One output pixel with bounds checks on every tap (edges, and the interior's remainder).
        auto single = [&](int64_t ow) {
          __m256 acc = b0;
          for (int kh = kh_lo; kh < kh_hi; ++kh) {
            const float* xr = xn + (oh * S - P + kh * D) * W * C;
            for (int kw = 0; kw < K; ++kw) {
              const int64_t iw = ow * S - P + kw * D;
              if (iw < 0 || iw >= W) continue;
              acc = _mm256_fmadd_ps(load(xr + iw * C + c0, lanes, mask), load(taps + (kh * K + kw) * C + c0, lanes, mask),
                                    acc);
            }
          }
          store(yrow + ow * C + c0, acc, lanes, mask);
        };
        for (int64_t ow = 0; ow < ow_lo; ++ow) single(ow);
        int64_t ow = ow_lo;
        for (; ow + 4 <= ow_hi; ow += 4) {  // register block of 4 pixels, no checks
          __m256 a0 = b0, a1 = b0, a2 = b0, a3 = b0;
          for (int kh = kh_lo; kh < kh_hi; ++kh) {
            const float* xr = xn + (oh * S - P + kh * D) * W * C + (ow * S - P) * C + c0;
            const float* tr = taps + kh * K * C + c0;
            for (int kw = 0; kw < K; ++kw) {
              const __m256 wv = load(tr + kw * C, lanes, mask);
              const float* xp = xr + kw * D * C;
              a0 = _mm256_fmadd_ps(load(xp, lanes, mask), wv, a0);
              a1 = _mm256_fmadd_ps(load(xp + S * C, lanes, mask), wv, a1);
              a2 = _mm256_fmadd_ps(load(xp + 2 * S * C, lanes, mask), wv, a2);
              a3 = _mm256_fmadd_ps(load(xp + 3 * S * C, lanes, mask), wv, a3);
            }
          }
          float* yp = yrow + ow * C + c0;
          store(yp, a0, lanes, mask);
          store(yp + C, a1, lanes, mask);
          store(yp + 2 * C, a2, lanes, mask);
          store(yp + 3 * C, a3, lanes, mask);
        }
        for (; ow < g.OW; ++ow) single(ow);
      }
    }
  });
}

// gx (N, H, W, C) gathered from gy (N, OH, OW, C): taps whose output position is integral.
void backward_data_gather(const Geometry& g, const float* gy, const float* taps, float* gx) {
  const int K = g.K, S = g.S, P = g.P, D = g.D;
  const int64_t C = g.C;
  parallel_for(0, g.N * g.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.H, ih = row % g.H;
      for (int64_t iw = 0; iw < g.W; ++iw)
        for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
          const int lanes = static_cast<int>(std::min<int64_t>(kLanes, C - c0));
          const __m256i mask = tail_mask(lanes);
          __m256 acc = _mm256_setzero_ps();
          for (int kh = 0; kh < K; ++kh) {
            const int64_t t = ih + P - kh * D;
            if (t < 0 || t % S != 0 || t / S >= g.OH) continue;
            const float* gr = gy + (n * g.OH + t / S) * g.OW * C;
            for (int kw = 0; kw < K; ++kw) {
              const int64_t u = iw + P - kw * D;
              if (u < 0 || u % S != 0 || u / S >= g.OW) continue;
              acc = _mm256_fmadd_ps(load(gr + (u / S) * C + c0, lanes, mask),
                                    load(taps + (kh * K + kw) * C + c0, lanes, mask), acc);
            }
          }
          store(gx + (row * g.W + iw) * C + c0, acc, lanes, mask);
        }
    }
  });
}

bool channels_last_f32(const Tensor& t) {
  return t.dtype() == DType::Float32 && t.dim() == 4 && t.is_contiguous(MemoryFormat::ChannelsLast);
}

// Depthwise with square kernel, equal strides/padding/dilation on both axes, channel multiplier 1.
bool covered(const Conv2dParams& p, const Tensor& act, const Tensor& w, const Tensor& out) {
  return channels_last_f32(act) && channels_last_f32(out) && w.dtype() == DType::Float32 && w.is_contiguous() &&
         p.groups == act.size(1) && w.size(0) == act.size(1) && w.size(1) == 1 && w.size(2) == w.size(3) &&
         p.stride_h == p.stride_w && p.pad_h == p.pad_w && p.dilation_h == p.dilation_w;
}

Geometry geometry(const Conv2dParams& p, const Shape& x, const Tensor& w, const Shape& y) {
  return {x[0], x[1], x[2], x[3], y[2], y[3], static_cast<int>(w.size(2)), p.stride_h, p.pad_h, p.dilation_h};
}

// (C, 1, K, K) weights as tap-major (K*K, C), optionally flipped (for backward-data).
std::vector<float> tap_major(const Tensor& w, bool flip) {
  const int64_t C = w.size(0), K = w.size(2);
  const float* pw = w.data<float>();
  std::vector<float> taps(K * K * C);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < K * K; ++t) taps[(flip ? K * K - 1 - t : t) * C + c] = pw[c * K * K + t];
  return taps;
}

}  // namespace

bool depthwise_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Tensor& y) {
  if (!covered(p, x, w, y) || (bias.defined() && bias.stride(0) != 1)) return false;
  const Geometry g = geometry(p, x.shape(), w, y.shape());
  const std::vector<float> taps = tap_major(w, false);
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  dispatch_ks(g.K, g.S, [&]<int K, int S>() { forward_rows<K, S>(g, x.data<float>(), taps.data(), b, y.data<float>()); });
  return true;
}

bool depthwise_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  if (!covered(p, gx, w, gy)) return false;
  const Geometry g = geometry(p, gx.shape(), w, gy.shape());
  const int flipped_pad = g.D * (g.K - 1) - g.P;
  if (g.S == 1 && flipped_pad >= 0) {
    // Stride 1: gx = forward(gy, flipped kernel) with padding D (K - 1) - P; sizes match exactly.
    const Geometry t{g.N, g.C, g.OH, g.OW, g.H, g.W, g.K, 1, flipped_pad, g.D};
    const std::vector<float> taps = tap_major(w, true);
    dispatch_ks(g.K, 1, [&]<int K, int S>() { forward_rows<K, S>(t, gy.data<float>(), taps.data(), nullptr, gx.data<float>()); });
  } else {
    const std::vector<float> taps = tap_major(w, false);
    backward_data_gather(g, gy.data<float>(), taps.data(), gx.data<float>());
  }
  return true;
}

bool depthwise_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                      const Tensor& gbias, VectorIsa isa) {
  if (!covered(p, x, gw, gy) || !gw.is_contiguous() || (gbias.defined() && gbias.stride(0) != 1)) return false;
  if (isa == VectorIsa::None || (isa == VectorIsa::Avx512 && !avx512_supported())) return false;
  const Geometry g = geometry(p, x.shape(), gw, gy.shape());
  std::vector<float> taps(static_cast<size_t>(g.K) * g.K * g.C);
  float* gb = gbias.defined() ? gbias.data<float>() : nullptr;
  const float *pg = gy.data<float>(), *px = x.data<float>();
  if (isa == VectorIsa::Avx512)
    backward_weight_taps(g, pg, px, taps.data(), gb, [&](int64_t begin, int64_t end, float* part, float* bias_part) {
      depthwise_weight_partial_avx512(g, pg, px, begin, end, part, bias_part);
    });
  else
    dispatch_ks(g.K, g.S, [&]<int K, int S>() {
      backward_weight_taps(g, pg, px, taps.data(), gb, [&](int64_t begin, int64_t end, float* part, float* bias_part) {
        weight_partial<Avx2Lanes, K, S>(g, pg, px, begin, end, part, bias_part);
      });
    });
  float* out = gw.data<float>();  // tap-major back to (C, 1, K, K)
  const int64_t KK = static_cast<int64_t>(g.K) * g.K;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t t = 0; t < KK; ++t) out[c * KK + t] = taps[t * g.C + c];
  return true;
}

}  // namespace figs::cpu::fast
