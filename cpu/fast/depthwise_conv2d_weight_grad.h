// Depthwise backward-weights (channels-last float32), written once over a vector-width policy
// and compiled twice: with AVX2 lanes in depthwise_conv2d.cpp and with AVX-512 lanes in
// depthwise_conv2d_avx512.cpp (built with -mavx512f; it runs only where the CPU has AVX-512F,
// see cpu::vector_isa()).
//
// Everything here is in an anonymous namespace on purpose: each translation unit that includes
// this header gets its own copies, compiled with its own instruction set. Shared inline
// functions with external linkage would let the linker keep the AVX-512 copy for the AVX2 path.
//
// A `Lanes` policy provides: kLanes, Vec, Mask, tail(n) (the first n lanes on), load(p, n, mask),
// store(p, v, n, mask), zero(), add(a, b), fma(a, b, c) = a * b + c.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace figs::cpu::fast {

// The geometry of one depthwise convolution: x (N, H, W, C) -> y (N, OH, OW, C), square K x K
// kernel, the same stride S, padding P and dilation D on both axes.
struct DepthwiseGeometry {
  int64_t N, C, H, W, OH, OW;
  int K, S, P, D;
};

// gw as (K*K, C) tap-major, and gbias (C) when not null, from gy and x; `taps_out` and `gbias`
// are fully written. Defined for AVX-512 in depthwise_conv2d_avx512.cpp.
void depthwise_backward_weight_taps_avx512(const DepthwiseGeometry& g, const float* gy, const float* x,
                                           float* taps_out, float* gbias);

namespace {

// Floor division for a possibly negative numerator (C++ '/' truncates towards zero).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Runtime K/S unless fixed by the template (0 = runtime).
template <int KT, int ST>
struct Sizes {
  const DepthwiseGeometry& g;
  int k() const { return KT ? KT : g.K; }
  int s() const { return ST ? ST : g.S; }
};

// Calls fn.template operator()<K, S>() with K, S fixed for (3, 5, 7) x (1, 2), else <0, 0>.
template <class Fn>
void dispatch_ks(int K, int S, Fn&& fn) {
  if (S == 1 && K == 3) return fn.template operator()<3, 1>();
  if (S == 1 && K == 5) return fn.template operator()<5, 1>();
  if (S == 1 && K == 7) return fn.template operator()<7, 1>();
  if (S == 2 && K == 3) return fn.template operator()<3, 2>();
  if (S == 2 && K == 5) return fn.template operator()<5, 2>();
  if (S == 2 && K == 7) return fn.template operator()<7, 2>();
  return fn.template operator()<0, 0>();
}

// Partial gw (K*K, C) (and gbias (C)) over rows [begin, end) of (n, oh), added into `part`.
// One (tap, channel block) accumulator pair at a time across the row (see Note [depthwise tiling]
// in depthwise_conv2d.cpp). The bound is the loads (two per FMA): a wider register does the
// same work in fewer of them, which is what the AVX-512 build is for.
template <class Lanes, int KT, int ST>
void weight_partial(const DepthwiseGeometry& g, const float* gy, const float* x, int64_t begin, int64_t end,
                    float* part, float* bias_part) {
  using V = typename Lanes::Vec;
  constexpr int kLanes = Lanes::kLanes;
  const Sizes<KT, ST> z{g};
  const int K = z.k(), S = z.s(), P = g.P, D = g.D;
  const int64_t C = g.C, W = g.W;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / g.OH, oh = row % g.OH;
    const float* gr = gy + row * g.OW * C;
    for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
      const int lanes = static_cast<int>(std::min<int64_t>(kLanes, C - c0));
      const auto mask = Lanes::tail(lanes);
      auto ld = [&](const float* p) { return Lanes::load(p, lanes, mask); };
      if (bias_part) {
        V acc = ld(bias_part + c0);
        for (int64_t ow = 0; ow < g.OW; ++ow) acc = Lanes::add(acc, ld(gr + ow * C + c0));
        Lanes::store(bias_part + c0, acc, lanes, mask);
      }
      for (int kh = 0; kh < K; ++kh) {
        const int64_t ih = oh * S - P + kh * D;
        if (ih < 0 || ih >= g.H) continue;
        const float* xr = x + (n * g.H + ih) * W * C;
        for (int kw = 0; kw < K; ++kw) {
          // Outputs whose tap (kh, kw) lands inside the row: iw = ow S - P + kw D in [0, W).
          const int64_t off = P - kw * D;
          const int64_t lo = off > 0 ? (off + S - 1) / S : 0;
          const int64_t hi = std::min<int64_t>(g.OW, floor_div(W - 1 + off, S) + 1);
          float* pp = part + (kh * K + kw) * C + c0;
          V acc0 = ld(pp), acc1 = Lanes::zero();
          int64_t ow = lo;
          for (; ow + 2 <= hi; ow += 2) {  // two chains hide the FMA latency
            acc0 = Lanes::fma(ld(gr + ow * C + c0), ld(xr + (ow * S - off) * C + c0), acc0);
            acc1 = Lanes::fma(ld(gr + (ow + 1) * C + c0), ld(xr + ((ow + 1) * S - off) * C + c0), acc1);
          }
          for (; ow < hi; ++ow) acc0 = Lanes::fma(ld(gr + ow * C + c0), ld(xr + (ow * S - off) * C + c0), acc0);
          Lanes::store(pp, Lanes::add(acc0, acc1), lanes, mask);
        }
      }
    }
  }
}

// Each thread accumulates a private (K*K, C) partial over its share of rows; the partials are
// summed at the end in thread order, so the result does not depend on scheduling.
template <class Lanes, int KT, int ST>
void backward_weight_taps(const DepthwiseGeometry& g, const float* gy, const float* x, float* taps_out,
                          float* gbias) {
  const int64_t rows = g.N * g.OH, taps = static_cast<int64_t>(g.K) * g.K;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1)));
  std::vector<std::vector<float>> partial(threads, std::vector<float>(taps * g.C, 0.f));
  std::vector<std::vector<float>> bias_partial(threads, std::vector<float>(gbias ? g.C : 0, 0.f));
  parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      weight_partial<Lanes, KT, ST>(g, gy, x, rows * t / threads, rows * (t + 1) / threads, partial[t].data(),
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

}  // namespace
}  // namespace figs::cpu::fast
