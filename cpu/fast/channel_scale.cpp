// Fused backward of the per-channel scale (the FiGS mask multiply), one pass over gy and x:
// gx = gy * scale[c] and gscale[c] = sum gy * x. NCHW: each channel's planes are contiguous, so
// threads split channels. Channels innermost (channels-last, or a channel slice of it such as a
// concat's gradient): rows of C, so threads split pixels and keep private per-channel partials,
// summed at the end in a fixed order.
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {
// Channels innermost (stride 1 along C): dense channels-last tensors and channel slices of them.
bool channels_innermost(const Tensor& t) { return t.dim() == 4 && t.stride(1) == 1; }
}  // namespace

bool channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale) {
  if (x.dtype() != DType::Float32 || scale.stride(0) != 1 || gscale.stride(0) != 1) return false;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const float *pg = gy.data<float>(), *px = x.data<float>(), *ps = scale.data<float>();
  float* pgx = gx.defined() ? gx.data<float>() : nullptr;
  float* out = gscale.data<float>();
  const bool nchw = x.is_contiguous() && gy.is_contiguous() && (!gx.defined() || gx.is_contiguous()) && C > 1;
  if (nchw) {
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
  if (!channels_innermost(x) || !channels_innermost(gy) || (gx.defined() && !channels_innermost(gx))) return false;
  // Rows of C channels, one per pixel, addressed through each tensor's own strides.
  struct RowStrides {
    int64_t n, h, w;
  };
  auto strides_of = [](const Tensor& t) { return RowStrides{t.stride(0), t.stride(2), t.stride(3)}; };
  const RowStrides sg = strides_of(gy), sx = strides_of(x), so = gx.defined() ? strides_of(gx) : sg;
  auto row = [H, W](const RowStrides& s, int64_t r) {
    const int64_t n = r / (H * W), h = (r / W) % H, w = r % W;
    return n * s.n + h * s.h + w * s.w;
  };
  const int threads = num_threads();
  std::vector<std::vector<float>> partial(threads, std::vector<float>(C, 0.f));
  const int64_t rows = N * HW;
  parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* acc = partial[t].data();
      for (int64_t r = rows * t / threads; r < rows * (t + 1) / threads; ++r) {
        const float* g = pg + row(sg, r);
        const float* xr = px + row(sx, r);
        for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * xr[c];
        if (pgx) {
          float* o = pgx + row(so, r);
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
