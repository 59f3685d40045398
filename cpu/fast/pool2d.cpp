// Max pooling with argmax indices (oneDNN's max pooling keeps an opaque workspace instead, which
// our Backend contract does not carry). NCHW walks planes; channels-last walks pixels with the
// channel loop innermost (vectorised).
#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"
#include "cpu/reference/pool2d.h"  // avg_pool_divisor: one definition of the divisor rule

namespace figs::cpu::fast {

namespace {
bool pool_layout_ok(const Tensor& a, const Tensor& b) {
  return a.dtype() == DType::Float32 && a.memory_format() == b.memory_format() &&
         (a.is_contiguous() || a.is_contiguous(MemoryFormat::ChannelsLast)) &&
         (b.is_contiguous() || b.is_contiguous(MemoryFormat::ChannelsLast));
}

// One window position of a channels-last max pool: out[c] = in[c] where in[c] > out[c], and idx
// (the pixel's argmax as ih * W + iw, in 32 bits so that it blends in the floats' lanes) follows.
// Written with intrinsics: g++ compiles the plain loop (the tail below) into masked stores, ~4x
// slower than the blends.
void max_update(const float* __restrict in, float* __restrict out, int32_t* __restrict idx, int32_t at, int64_t C) {
  const __m256 at8 = _mm256_castsi256_ps(_mm256_set1_epi32(at));
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    const __m256 v = _mm256_loadu_ps(in + c), best = _mm256_loadu_ps(out + c);
    const __m256 greater = _mm256_cmp_ps(v, best, _CMP_GT_OQ);  // false for NaN, as in[c] > out[c]
    _mm256_storeu_ps(out + c, _mm256_blendv_ps(best, v, greater));
    const __m256 i8 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + c)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + c), _mm256_castps_si256(_mm256_blendv_ps(i8, at8, greater)));
  }
  for (; c < C; ++c) {
    const bool greater = in[c] > out[c];
    out[c] = greater ? in[c] : out[c];
    idx[c] = greater ? at : idx[c];
  }
}
// Calls fn(ih, iw) for the window taps of output (oh, ow) that fall inside the H x W input.
template <class Fn>
void for_each_tap(const Pool2dParams& p, int64_t oh, int64_t ow, int64_t H, int64_t W, const Fn& fn) {
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
    const int64_t ih = oh * p.stride_h - p.pad_h + kh;
    if (ih < 0 || ih >= H) continue;
    for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
      const int64_t iw = ow * p.stride_w - p.pad_w + kw;
      if (iw >= 0 && iw < W) fn(ih, iw);
    }
  }
}

// One channels-last output pixel's window, walked as the forward walks it: best[c] the maximum of
// channel c, idx[c] its position ih * W + iw (first tap on ties, see max_update). `image` is the
// pixel's (H, W, C) image.
void pixel_argmax(const Pool2dParams& p, const float* image, int64_t oh, int64_t ow, int64_t H, int64_t W,
                  int64_t C, float* best, int32_t* idx) {
  bool first = true;
  for_each_tap(p, oh, ow, H, W, [&](int64_t ih, int64_t iw) {
    const float* in = image + (ih * W + iw) * C;
    const auto at = static_cast<int32_t>(ih * W + iw);
    if (first) {
      std::copy(in, in + C, best);
      std::fill(idx, idx + C, at);
    } else {
      max_update(in, best, idx, at, C);
    }
    first = false;
  });
}

// One NCHW window's maximum (into best) and its position ih * W + iw in the plane `in`: the first
// tap wins ties and a later NaN never replaces the running maximum, as in max_update (selects,
// which compile to cmov).
int64_t window_argmax(const Pool2dParams& p, const float* in, int64_t oh, int64_t ow, int64_t H, int64_t W,
                      float& best) {
  best = -std::numeric_limits<float>::infinity();
  int64_t best_at = -1;
  for_each_tap(p, oh, ow, H, W, [&](int64_t ih, int64_t iw) {
    const float v = in[ih * W + iw];
    const bool take = best_at < 0 || v > best;
    best = take ? v : best;
    best_at = take ? ih * W + iw : best_at;
  });
  return best_at;
}

// The forward without indices (inference): out[c] = max(out[c], in[c]) over the window.
void max_values_update(const float* __restrict in, float* __restrict out, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
}
bool max_pool2d_values(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const bool cl = x.memory_format() == MemoryFormat::ChannelsLast;
  // Channels-last: one output pixel's C channels at a time; NCHW: one plane's pixel, C = 1.
  const int64_t jobs = cl ? N * OH : N * C, inner = cl ? C : 1;
  const int64_t h_stride = cl ? W * C : W, w_stride = cl ? C : 1;
  parallel_for(0, jobs, 1, [&](int64_t b, int64_t e) {
    for (int64_t job = b; job < e; ++job) {
      const int64_t plane = cl ? job / OH : job;  // n (channels-last) or n * C + c
      const float* in0 = px + plane * H * W * inner;
      for (int64_t oh = cl ? job % OH : 0, oh_end = cl ? oh + 1 : OH; oh < oh_end; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          float* out = py + ((plane * OH + oh) * OW + ow) * inner;
          bool first = true;
          for_each_tap(p, oh, ow, H, W, [&](int64_t ih, int64_t iw) {
            const float* in = in0 + ih * h_stride + iw * w_stride;
            if (first)
              std::copy(in, in + inner, out);
            else
              max_values_update(in, out, inner);
            first = false;
          });
        }
    }
  });
  return true;
}
}  // namespace

bool max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) {
  if (!pool_layout_ok(x, y) || (indices.defined() && indices.strides() != y.strides())) return false;
  if (!indices.defined()) return max_pool2d_values(p, x, y);
  if (x.size(2) * x.size(3) > std::numeric_limits<int32_t>::max()) return false;  // positions in 32 bits
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  int64_t* pi = indices.data<int64_t>();
  if (x.memory_format() == MemoryFormat::ChannelsLast) {
    parallel_for(0, N * OH, 1, [&](int64_t b, int64_t e) {
      std::vector<int32_t> idx32(C);  // the pixel's argmax, widened to int64 once it is found
      for (int64_t job = b; job < e; ++job) {
        const int64_t n = job / OH, oh = job % OH;
        for (int64_t ow = 0; ow < OW; ++ow) {
          float* out = py + ((n * OH + oh) * OW + ow) * C;
          int64_t* idx = pi + ((n * OH + oh) * OW + ow) * C;
          pixel_argmax(p, px + n * H * W * C, oh, ow, H, W, C, out, idx32.data());
          for (int64_t c = 0; c < C; ++c) idx[c] = idx32[c];
        }
      }
    });
  } else {
    parallel_for(0, N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const float* in = px + plane * H * W;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            float best;
            pi[plane * OH * OW + oh * OW + ow] = window_argmax(p, in, oh, ow, H, W, best);
            py[plane * OH * OW + oh * OW + ow] = best;
          }
      }
    });
  }
  return true;
}

bool max_pool2d_backward(const Pool2dParams&, const Tensor& gy, const Tensor& indices, const Tensor& gx) {
  if (!pool_layout_ok(gy, gx) || indices.strides() != gy.strides()) return false;
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  const float* pg = gy.data<float>();
  const int64_t* pi = indices.data<int64_t>();
  float* px = gx.data<float>();
  if (gx.memory_format() == MemoryFormat::ChannelsLast) {
    parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        float* plane = px + n * H * W * C;
        std::fill(plane, plane + H * W * C, 0.f);
        for (int64_t o = 0; o < OH * OW; ++o) {
          const float* g = pg + (n * OH * OW + o) * C;
          const int64_t* idx = pi + (n * OH * OW + o) * C;
          for (int64_t c = 0; c < C; ++c) plane[idx[c] * C + c] += g[c];
        }
      }
    });
  } else {
    parallel_for(0, N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        float* out = px + plane * H * W;
        std::fill(out, out + H * W, 0.f);
        for (int64_t o = 0; o < OH * OW; ++o) out[pi[plane * OH * OW + o]] += pg[plane * OH * OW + o];
      }
    });
  }
  return true;
}

bool max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gx) {
  if (!pool_layout_ok(gy, gx) || !pool_layout_ok(x, gx) || x.strides() != gx.strides() ||
      gx.size(2) * gx.size(3) > std::numeric_limits<int32_t>::max())
    return false;
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  const float *pg = gy.data<float>(), *px = x.data<float>();
  float* pgx = gx.data<float>();
  if (gx.memory_format() == MemoryFormat::ChannelsLast) {
    parallel_for(0, N, 1, [&](int64_t b, int64_t e) {  // an image per job: windows overlap within one
      std::vector<float> best(C);
      std::vector<int32_t> idx(C);
      for (int64_t n = b; n < e; ++n) {
        float* plane = pgx + n * H * W * C;
        std::fill(plane, plane + H * W * C, 0.f);
        for (int64_t o = 0; o < OH * OW; ++o) {
          pixel_argmax(p, px + n * H * W * C, o / OW, o % OW, H, W, C, best.data(), idx.data());  // as the forward
          const float* g = pg + (n * OH * OW + o) * C;
          for (int64_t c = 0; c < C; ++c) plane[static_cast<int64_t>(idx[c]) * C + c] += g[c];
        }
      }
    });
  } else {
    parallel_for(0, N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const float* in = px + plane * H * W;
        float* out = pgx + plane * H * W;
        std::fill(out, out + H * W, 0.f);
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            float best;
            out[window_argmax(p, in, oh, ow, H, W, best)] += pg[plane * OH * OW + oh * OW + ow];
          }
      }
    });
  }
  return true;
}

// Average pooling on channels-last tensors (oneDNN 2.6 runs the exclude-padding backward on its
// reference implementation there: ~200 ms for a 128x8x28x28 tensor). One pixel's channels are a
// contiguous row, so windows add rows; threads split images (backward writes only its image).
bool avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  if (!pool_layout_ok(x, y) || x.memory_format() != MemoryFormat::ChannelsLast) return false;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, N * OH, 1, [&](int64_t b, int64_t e) {
    std::vector<float> acc(C);
    for (int64_t job = b; job < e; ++job) {
      const int64_t n = job / OH, oh = job % OH;
      for (int64_t ow = 0; ow < OW; ++ow) {
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + kh;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
            const int64_t iw = ow * p.stride_w - p.pad_w + kw;
            if (iw < 0 || iw >= W) continue;
            const float* in = px + ((n * H + ih) * W + iw) * C;
            for (int64_t c = 0; c < C; ++c) acc[c] += in[c];
          }
        }
        const float inv = 1.f / static_cast<float>(ref::avg_pool_divisor(p, H, W, oh, ow));
        float* out = py + ((n * OH + oh) * OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) out[c] = acc[c] * inv;
      }
    }
  });
  return true;
}

bool avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  if (!pool_layout_ok(gy, gx) || gx.memory_format() != MemoryFormat::ChannelsLast) return false;
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  const float* pg = gy.data<float>();
  float* px = gx.data<float>();
  parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      float* image = px + n * H * W * C;
      std::fill(image, image + H * W * C, 0.f);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const float inv = 1.f / static_cast<float>(ref::avg_pool_divisor(p, H, W, oh, ow));
          const float* g = pg + ((n * OH + oh) * OW + ow) * C;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw < 0 || iw >= W) continue;
              float* out = image + (ih * W + iw) * C;
              for (int64_t c = 0; c < C; ++c) out[c] += g[c] * inv;
            }
          }
        }
    }
  });
  return true;
}

}  // namespace figs::cpu::fast
