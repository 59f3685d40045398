// Depthwise backward-weights (channels-last float32), the inner loop written once over a
// vector-width policy and compiled twice: with AVX2 lanes in depthwise_conv2d.cpp and with
// AVX-512 lanes in depthwise_conv2d_avx512.cpp (built with -mavx512f; it runs only where the CPU
// has AVX-512F, see cpu::vector_isa()).
//
// Note [What an AVX-512 file may contain]
//   A file compiled with -mavx512f must not emit any function the linker could share with the
//   rest of the library: an inline function or template instantiation with external linkage
//   (std::min, std::vector<float>'s constructor, ...) is a weak symbol, and the linker keeps one
//   copy of it for every caller, so an AVX-512 copy could run on a CPU without AVX-512. Hence
//   everything here is in an anonymous namespace (each file gets its own copy), uses no library
//   templates, and allocates nothing; the threads and partial sums live in
//   depthwise_conv2d.cpp. ctest's cpu_avx512_object_is_self_contained checks the object file:
//   its only global symbols are the entry points declared below.
//
// It also holds the geometry helpers (DepthwiseGeometry, Sizes, dispatch_ks, floor_div) that
// depthwise_conv2d.cpp's forward and backward-data share.
//
// A `Lanes` policy provides: kLanes, Vec, Mask, tail(n) (the first n lanes on), load(p, n, mask),
// store(p, v, n, mask), zero(), add(a, b), fma(a, b, c) = a * b + c.
#pragma once

#include <cstdint>

namespace figs::cpu::fast {

// The geometry of one depthwise convolution: x (N, H, W, C) -> y (N, OH, OW, C), square K x K
// kernel, the same stride S, padding P and dilation D on both axes.
struct DepthwiseGeometry {
  int64_t N, C, H, W, OH, OW;
  int K, S, P, D;
};

// Adds the partial gw (K*K, C) (tap-major) over rows [begin, end) of (n, oh) into `part`, and
// the partial gbias (C) into `bias_part` unless it is null: the AVX-512 build, defined in
// depthwise_conv2d_avx512.cpp.
void depthwise_weight_partial_avx512(const DepthwiseGeometry& g, const float* gy, const float* x, int64_t begin,
                                     int64_t end, float* part, float* bias_part);

namespace {

// Floor division for a possibly negative numerator (C++ '/' truncates towards zero).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }  // not std::min: see the Note

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
      const int lanes = static_cast<int>(smaller(kLanes, C - c0));
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
          const int64_t hi = smaller(g.OW, floor_div(W - 1 + off, S) + 1);
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

}  // namespace
}  // namespace figs::cpu::fast
