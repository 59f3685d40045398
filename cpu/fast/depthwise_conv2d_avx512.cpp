// The AVX-512 build of the depthwise backward-weights (depthwise_conv2d_weight_grad.h): 16
// channels per register, masked tails. This file alone is compiled with -mavx512f
// (CMakeLists.txt); the backend calls it only where the CPU has AVX-512F (cpu::vector_isa()).
// What it may contain: Note [What an AVX-512 file may contain] in the header.
#include <immintrin.h>

#include "cpu/fast/depthwise_conv2d_weight_grad.h"

namespace figs::cpu::fast {

namespace {

struct Avx512Lanes {
  static constexpr int kLanes = 16;
  using Vec = __m512;
  using Mask = __mmask16;
  static Mask tail(int n) { return static_cast<Mask>((1u << n) - 1u); }
  static Vec load(const float* p, int n, Mask m) { return n == kLanes ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Vec v, int n, Mask m) {
    if (n == kLanes)
      _mm512_storeu_ps(p, v);
    else
      _mm512_mask_storeu_ps(p, m, v);
  }
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
};

}  // namespace

void depthwise_weight_partial_avx512(const DepthwiseGeometry& g, const float* gy, const float* x, int64_t begin,
                                     int64_t end, float* part, float* bias_part) {
  dispatch_ks(g.K, g.S, [&]<int K, int S>() { weight_partial<Avx512Lanes, K, S>(g, gy, x, begin, end, part, bias_part); });
}

}  // namespace figs::cpu::fast
