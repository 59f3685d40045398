// Fused backward of the per-channel scale (the FiGS mask multiply), one pass over gy and x:
// gx = gy * scale[c] and gscale[c] = sum gy * x. NCHW: each channel's planes are contiguous, so
// threads split channels. Channels-last: rows of C, so threads split pixels and keep private
// per-channel partials, summed at the end in a fixed order.
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

bool channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale) {
  const bool nhwc = x.is_contiguous(MemoryFormat::ChannelsLast) && !x.is_contiguous();
  const MemoryFormat f = nhwc ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  if (x.dtype() != DType::Float32 || !x.is_contiguous(f) || !gy.is_contiguous(f) ||
      (gx.defined() && !gx.is_contiguous(f)) || scale.stride(0) != 1 || gscale.stride(0) != 1)
    return false;
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const float *pg = gy.data<float>(), *px = x.data<float>(), *ps = scale.data<float>();
  float* pgx = gx.defined() ? gx.data<float>() : nullptr;
  float* out = gscale.data<float>();
  if (!nhwc) {
    parallel_for(0, C, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double total = 0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t base = (n * C + c) * HW;
          float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t i = 0;
          for (; i + 8 <= HW; i += 8)
            for (int k = 0; k < 8; ++k) acc[k] += pg[base + i + k] * px[base + i + k];
          for (; i < HW; ++i) total += pg[base + i] * px[base + i];
          for (int k = 0; k < 8; ++k) total += acc[k];
          if (pgx)
            for (int64_t j = 0; j < HW; ++j) pgx[base + j] = pg[base + j] * ps[c];
        }
        out[c] = static_cast<float>(total);
      }
    });
    return true;
  }
  const int threads = num_threads();
  std::vector<std::vector<float>> partial(threads, std::vector<float>(C, 0.f));
  const int64_t rows = N * HW;
  parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* acc = partial[t].data();
      for (int64_t r = rows * t / threads; r < rows * (t + 1) / threads; ++r) {
        const float* g = pg + r * C;
        const float* xr = px + r * C;
        for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * xr[c];
        if (pgx) {
          float* o = pgx + r * C;
          for (int64_t c = 0; c < C; ++c) o[c] = g[c] * ps[c];
        }
      }
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double total = 0;
    for (int t = 0; t < threads; ++t) total += partial[t][c];
    out[c] = static_cast<float>(total);
  }
  return true;
}

}  // namespace figs::cpu::fast
