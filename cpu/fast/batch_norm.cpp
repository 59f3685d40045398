// Batch normalisation on channels-last tensors (formulas: cpu/reference/batch_norm.h).
//
// oneDNN 2.6 has a JIT kernel for NHWC only when C is a multiple of its vector block; exported
// networks have arbitrary widths (15, 23, ...), where it runs a generic loop ~10x slower. Here a
// pixel's channels are one contiguous row: threads split the rows, keep private per-channel
// partial sums (summed in a fixed order), and the normalisation is a row-wise multiply-add.
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {

bool nhwc_dense(const Tensor& t) {
  return t.dtype() == DType::Float32 && t.dim() == 4 && t.is_contiguous(MemoryFormat::ChannelsLast) &&
         t.memory_format() == MemoryFormat::ChannelsLast;
}
float channel(const Tensor& t, int64_t c, float fallback) { return t.defined() ? t.data<float>()[c * t.stride(0)] : fallback; }

// Per-channel sums over the rows of (rows, C) of f(row pointer, c), accumulated per thread.
template <class F>
std::vector<double> channel_sums(int64_t rows, int64_t C, const F& f) {
  const int threads = num_threads();
  std::vector<std::vector<float>> partial(threads, std::vector<float>(C, 0.f));
  parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* acc = partial[t].data();
      for (int64_t r = rows * t / threads; r < rows * (t + 1) / threads; ++r) f(r, acc);
    }
  });
  std::vector<double> total(C, 0.0);
  for (int t = 0; t < threads; ++t)
    for (int64_t c = 0; c < C; ++c) total[c] += partial[t][c];
  return total;
}

// y = x * scale[c] + shift[c] over rows.
void affine_rows(const float* x, float* y, int64_t rows, int64_t C, const std::vector<float>& scale,
                 const std::vector<float>& shift) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * scale[c] + shift[c];
    }
  });
}

}  // namespace

bool batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                                 const Tensor& save_mean, const Tensor& save_invstd) {
  if (!nhwc_dense(x) || !nhwc_dense(y)) return false;
  const int64_t C = x.size(1), rows = x.numel() / std::max<int64_t>(C, 1);
  const float* px = x.data<float>();
  const std::vector<double> sum = channel_sums(rows, C, [&](int64_t r, float* acc) {
    const float* xr = px + r * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += xr[c];
  });
  std::vector<float> mean(C);
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(sum[c] / rows);
  const std::vector<double> sq = channel_sums(rows, C, [&](int64_t r, float* acc) {  // two passes: stable
    const float* xr = px + r * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += (xr[c] - mean[c]) * (xr[c] - mean[c]);
  });
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double var = sq[c] / rows, invstd = 1.0 / std::sqrt(var + p.eps);
    scale[c] = static_cast<float>(invstd * channel(gamma, c, 1.f));
    shift[c] = static_cast<float>(channel(beta, c, 0.f) - mean[c] * invstd * channel(gamma, c, 1.f));
    save_mean.data<float>()[c * save_mean.stride(0)] = mean[c];
    save_invstd.data<float>()[c * save_invstd.stride(0)] = static_cast<float>(invstd);
    if (running_mean.defined()) {
      float& rm = running_mean.data<float>()[c * running_mean.stride(0)];
      float& rv = running_var.data<float>()[c * running_var.stride(0)];
      rm = static_cast<float>((1 - p.momentum) * rm + p.momentum * mean[c]);
      rv = static_cast<float>((1 - p.momentum) * rv + p.momentum * (rows > 1 ? var * rows / (rows - 1) : var));
    }
  }
  affine_rows(px, y.data<float>(), rows, C, scale, shift);
  return true;
}

bool batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, const Tensor& y) {
  if (!nhwc_dense(x) || !nhwc_dense(y)) return false;
  const int64_t C = x.size(1), rows = x.numel() / std::max<int64_t>(C, 1);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(channel(running_var, c, 1.f) + p.eps);
    scale[c] = static_cast<float>(invstd * channel(gamma, c, 1.f));
    shift[c] = static_cast<float>(channel(beta, c, 0.f) - channel(running_mean, c, 0.f) * invstd * channel(gamma, c, 1.f));
  }
  affine_rows(x.data<float>(), y.data<float>(), rows, C, scale, shift);
  return true;
}

bool batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& mean_t, const Tensor& invstd_t, const Tensor& gx, const Tensor& ggamma,
                         const Tensor& gbeta) {
  if (!nhwc_dense(x) || !nhwc_dense(gy) || (gx.defined() && !nhwc_dense(gx))) return false;
  const int64_t C = x.size(1), rows = x.numel() / std::max<int64_t>(C, 1);
  const float *px = x.data<float>(), *pg = gy.data<float>();
  std::vector<float> mean(C), invstd(C);
  for (int64_t c = 0; c < C; ++c) mean[c] = channel(mean_t, c, 0.f), invstd[c] = channel(invstd_t, c, 1.f);
  std::vector<double> sum_gy = channel_sums(rows, C, [&](int64_t r, float* acc) {
    const float* g = pg + r * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += g[c];
  });
  std::vector<double> sum_gy_xhat = channel_sums(rows, C, [&](int64_t r, float* acc) {
    const float *g = pg + r * C, *xr = px + r * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * (xr[c] - mean[c]) * invstd[c];
  });
  for (int64_t c = 0; c < C; ++c) {
    if (ggamma.defined()) ggamma.data<float>()[c * ggamma.stride(0)] = static_cast<float>(sum_gy_xhat[c]);
    if (gbeta.defined()) gbeta.data<float>()[c * gbeta.stride(0)] = static_cast<float>(sum_gy[c]);
  }
  if (!gx.defined()) return true;
  // gx = gamma invstd (gy - [training] (mean(gy) + xhat mean(gy xhat)))
  std::vector<float> k(C), a(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    k[c] = channel(gamma, c, 1.f) * invstd[c];
    a[c] = p.training ? static_cast<float>(sum_gy[c] / rows) : 0.f;
    b[c] = p.training ? static_cast<float>(sum_gy_xhat[c] / rows) * invstd[c] : 0.f;
  }
  float* po = gx.data<float>();
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)), [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float *g = pg + r * C, *xr = px + r * C;
      float* o = po + r * C;
      for (int64_t c = 0; c < C; ++c) o[c] = k[c] * (g[c] - a[c] - (xr[c] - mean[c]) * b[c]);
    }
  });
  return true;
}

}  // namespace figs::cpu::fast
