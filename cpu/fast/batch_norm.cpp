// Batch normalisation (and its fused ReLU) on channels-last tensors (formulas:
// cpu/reference/batch_norm.h).
//
// A pixel's channels are one contiguous row of (rows = N H W, C). Each thread walks its share of
// the rows in cache-sized blocks (kBlockFloats values), and each pass over memory is one read:
//   training forward   pass 1: per block, the sums of x - k and (x - k)^2 about a shift k near
//                      the mean (no E[x^2] - E[x]^2 cancellation); blocks and threads merge as
//                      (count, mean, M2) in float64 (Chan et al.), threads in a fixed order;
//                      pass 2: y = x scale + shift (max(0, .) with the fused ReLU);
//   backward           pass 1: sum g and sum g (x - mean) per channel in one read, g = gy, or
//                      gy where x scale + shift > 0 with the fused ReLU (the forward's value,
//                      recomputed: Note [The fused ReLU's gate is recomputed], core/backend.h);
//                      pass 2: gx;
//   inference forward  one pass.
// That is two passes each way, where oneDNN 2.6 also takes two and the kernels here used to
// take three; oneDNN has a JIT kernel for NHWC only when C is a multiple of its vector block,
// and runs a generic loop ~10x slower at the odd widths exported networks have (15, 23, ...).
// Results depend on the thread count (the row split), never on scheduling.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {

constexpr int64_t kBlockFloats = 16384;  // 64 KiB of one tensor per block: it stays in L2

bool nhwc_dense(const Tensor& t) {
  return t.dtype() == DType::Float32 && t.dim() == 4 && t.is_contiguous(MemoryFormat::ChannelsLast) &&
         t.memory_format() == MemoryFormat::ChannelsLast;
}
float channel(const Tensor& t, int64_t c, float fallback) { return t.defined() ? t.data<float>()[c * t.stride(0)] : fallback; }

// The loops run over the tensor as one flat array whose channel is (index mod C), in runs of a
// period A: a multiple of C and of 8 floats, at least 64, so that the inner loops are long and
// vectorise whatever C is (a loop over C alone spent most of its time in loop overhead at C = 16).
// Per-channel constants are expanded to the period; sums are kept per period position and folded
// to channels.
struct Period {
  int64_t C, A;
  explicit Period(int64_t channels) : C(std::max<int64_t>(channels, 1)), A(C * (8 / std::gcd<int64_t>(C, 8))) {
    while (A < 64) A *= 2;
  }
  std::vector<float> expand(const std::vector<float>& per_channel) const {
    std::vector<float> v(A);
    for (int64_t j = 0; j < A; ++j) v[j] = per_channel[j % C];
    return v;
  }
  // out[c] (+)= sum of acc over the positions of channel c.
  template <class Out>
  void fold(const std::vector<float>& acc, Out& out) const {
    for (int64_t j = 0; j < A; ++j) out[j % C] += acc[j];
  }
  // Calls f(i, j, n) for runs [i, i + n) of [begin, end) that do not cross a period boundary; j is
  // the run's first period position.
  template <class F>
  void runs(int64_t begin, int64_t end, const F& f) const {
    for (int64_t i = begin; i < end;) {
      const int64_t j = i % A, n = std::min(A - j, end - i);
      f(i, j, n);
      i += n;
    }
  }
};

// Calls fn(thread, begin, end) for consecutive blocks (flat, whole rows) of the thread's fixed
// share of the rows.
template <class F>
void for_each_block(int64_t rows, const Period& pd, int threads, const F& fn) {
  const int64_t step = std::max<int64_t>(1, std::max(kBlockFloats, 4 * pd.A) / pd.C);
  parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      for (int64_t r = rows * t / threads, end = rows * (t + 1) / threads; r < end; r += step)
        fn(static_cast<int>(t), r * pd.C, std::min(r + step, end) * pd.C);
  });
}

// Calls f(i, j, n) over the runs of [0, rows C), split over the threads.
template <class F>
void parallel_runs(int64_t rows, const Period& pd, const F& f) {
  parallel_for(0, rows, std::max<int64_t>(1, kBlockFloats / pd.C),
               [&](int64_t b, int64_t e) { pd.runs(b * pd.C, e * pd.C, f); });
}

// Running (count, mean, M2) per channel, merged part by part in float64 (Chan et al.).
struct Moments {
  double count = 0;
  std::vector<double> mean, m2;
  explicit Moments(int64_t C) : mean(C, 0.0), m2(C, 0.0) {}
  // Adds a part of `n` values per channel with means pm and sums of squared deviations pq.
  template <class V>
  void merge(double n, const V& pm, const V& pq) {
    const double total = count + n, w = count * n / total;
    for (size_t c = 0; c < mean.size(); ++c) {
      const double d = static_cast<double>(pm[c]) - mean[c];
      mean[c] += d * n / total;
      m2[c] += static_cast<double>(pq[c]) + d * d * w;
    }
    count = total;
  }
};

// The training forward's per-channel affine, from the statistics it saves (float), so that the
// backward recomputes the same scale and shift for the ReLU's gate.
void affine_coefficients(float mean, float invstd, float gamma, float beta, float& scale, float& shift) {
  scale = static_cast<float>(static_cast<double>(invstd) * gamma);
  shift = static_cast<float>(beta - static_cast<double>(mean) * invstd * gamma);
}

// y = x * scale[c] + shift[c] (one fused multiply-add: the backward's gate computes the same),
// clamped at 0 when relu.
void affine(const float* x, float* y, int64_t rows, const Period& pd, const std::vector<float>& scale,
            const std::vector<float>& shift, bool relu) {
  const std::vector<float> sc = pd.expand(scale), sh = pd.expand(shift);
  parallel_runs(rows, pd, [&](int64_t i, int64_t j, int64_t n) {
    const float *xi = x + i, *a = sc.data() + j, *b = sh.data() + j;
    float* yi = y + i;
    if (relu)
      for (int64_t k = 0; k < n; ++k) {
        const float v = std::fma(xi[k], a[k], b[k]);
        yi[k] = v > 0.f ? v : 0.f;  // as the relu op: NaN -> 0
      }
    else
      for (int64_t k = 0; k < n; ++k) yi[k] = std::fma(xi[k], a[k], b[k]);
  });
}

// The backward's inner loops over one run, the ReLU's gate compiled in or out (kGate: g = gy
// where the forward's x scale + shift > 0). Restrict-qualified so that they vectorise without
// alias checks.
struct Gate {  // the forward's affine, expanded to the period, at the run's start
  const float *scale, *shift;
};
template <bool kGate>
void backward_sums_run(const float* __restrict gy, const Gate& gate, const float* __restrict x,
                       const float* __restrict mean, float* __restrict sum_g, float* __restrict sum_gd, int64_t n) {
  const float *__restrict scale = gate.scale, *__restrict shift = gate.shift;
  for (int64_t k = 0; k < n; ++k) {
    const float g = gy[k];
    const float gv = kGate ? (std::fma(x[k], scale[k], shift[k]) > 0.f ? g : 0.f) : g;
    sum_g[k] += gv;
    sum_gd[k] += gv * (x[k] - mean[k]);
  }
}
struct RunConstants {  // per-channel constants of gx, expanded to the period, at the run's start
  const float *mean, *k, *a, *b;
};
template <bool kGate>
void backward_gx_run(const float* __restrict gy, const Gate& gate, const float* __restrict x,
                     const RunConstants& r, float* __restrict gx, int64_t n) {
  const float *__restrict mean = r.mean, *__restrict k = r.k, *__restrict a = r.a, *__restrict b = r.b;
  const float *__restrict scale = gate.scale, *__restrict shift = gate.shift;
  for (int64_t q = 0; q < n; ++q) {
    const float g = gy[q];
    const float gv = kGate ? (std::fma(x[q], scale[q], shift[q]) > 0.f ? g : 0.f) : g;
    gx[q] = k[q] * (gv - a[q] - (x[q] - mean[q]) * b[q]);
  }
}

}  // namespace

bool batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                                 const Tensor& save_mean, const Tensor& save_invstd) {
  if (!nhwc_dense(x) || !nhwc_dense(y)) return false;
  const int64_t C = x.size(1), rows = x.numel() / std::max<int64_t>(C, 1);
  const Period pd(C);
  const float* px = x.data<float>();
  const int threads = num_threads();
  std::vector<Moments> part(threads, Moments(C));
  for_each_block(rows, pd, threads, [&](int t, int64_t begin, int64_t end) {
    // Sums of d = x - k and d^2 about a shift k per channel, the block's first row: a sample of
    // the channel, so (mean - k)^2 is of the order of the variance and E[d^2] - E[d]^2 does not
    // cancel (to ~1e-6 relative in float32 on blocks of ~1e4 values; they merge in float64).
    std::vector<float> shift(px + begin, px + begin + C);
    const std::vector<float> k = pd.expand(shift);
    std::vector<float> acc_s(pd.A, 0.f), acc_q(pd.A, 0.f), sum(C, 0.f), sq(C, 0.f);
    pd.runs(begin, end, [&](int64_t i, int64_t j, int64_t n) {
      const float* __restrict xi = px + i;
      const float* __restrict kj = k.data() + j;
      float* __restrict s = acc_s.data() + j;
      float* __restrict q = acc_q.data() + j;
      for (int64_t e = 0; e < n; ++e) {
        const float d = xi[e] - kj[e];
        s[e] += d;
        q[e] += d * d;
      }
    });
    pd.fold(acc_s, sum);
    pd.fold(acc_q, sq);
    const double count = static_cast<double>((end - begin) / C);
    std::vector<double> mean(C), m2(C);
    for (int64_t c = 0; c < C; ++c) {
      const double ds = sum[c] / count;
      mean[c] = shift[c] + ds;
      m2[c] = std::max(0.0, sq[c] - ds * sum[c]);
    }
    part[t].merge(count, mean, m2);
  });
  Moments all(C);
  for (const Moments& m : part)
    if (m.count > 0) all.merge(m.count, m.mean, m.m2);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const float mean = static_cast<float>(all.mean[c]);
    const double var = all.m2[c] / static_cast<double>(rows);
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + p.eps));
    affine_coefficients(mean, invstd, channel(gamma, c, 1.f), channel(beta, c, 0.f), scale[c], shift[c]);
    save_mean.data<float>()[c * save_mean.stride(0)] = mean;
    save_invstd.data<float>()[c * save_invstd.stride(0)] = invstd;
    if (running_mean.defined()) {
      float& rm = running_mean.data<float>()[c * running_mean.stride(0)];
      float& rv = running_var.data<float>()[c * running_var.stride(0)];
      rm = static_cast<float>((1 - p.momentum) * rm + p.momentum * mean);
      rv = static_cast<float>((1 - p.momentum) * rv + p.momentum * (rows > 1 ? var * rows / (rows - 1) : var));
    }
  }
  affine(px, y.data<float>(), rows, pd, scale, shift, p.relu);
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
  affine(x.data<float>(), y.data<float>(), rows, Period(C), scale, shift, p.relu);
  return true;
}

bool batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& beta, const Tensor& mean_t, const Tensor& invstd_t, const Tensor& gx,
                         const Tensor& ggamma, const Tensor& gbeta) {
  if (!nhwc_dense(x) || gy.dtype() != DType::Float32 || gy.shape() != x.shape() || (gx.defined() && !nhwc_dense(gx)))
    return false;
  // A gradient that is a channel slice of a wider tensor (the backward of a concat hands those
  // out) is gathered densely first: one copy costs less than walking rows of a few channels.
  Tensor dense_gy = gy;
  if (!nhwc_dense(gy)) {
    dense_gy = empty_like(x);
    if (!copy(gy, dense_gy)) return false;
  }
  const int64_t C = x.size(1), rows = x.numel() / std::max<int64_t>(C, 1);
  const Period pd(C);
  const float *px = x.data<float>(), *pg = dense_gy.data<float>();
  std::vector<float> mean(C), invstd(C), scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = channel(mean_t, c, 0.f), invstd[c] = channel(invstd_t, c, 1.f);
    affine_coefficients(mean[c], invstd[c], channel(gamma, c, 1.f), channel(beta, c, 0.f), scale[c], shift[c]);
  }
  const std::vector<float> mean_p = pd.expand(mean), scale_p = pd.expand(scale), shift_p = pd.expand(shift);

  const int threads = num_threads();
  std::vector<std::vector<double>> sum_g(threads, std::vector<double>(C, 0.0)), sum_gd(sum_g);
  for_each_block(rows, pd, threads, [&](int t, int64_t begin, int64_t end) {
    std::vector<float> s(pd.A, 0.f), sd(pd.A, 0.f);
    pd.runs(begin, end, [&](int64_t i, int64_t j, int64_t n) {
      const Gate gate{scale_p.data() + j, shift_p.data() + j};
      if (p.relu)
        backward_sums_run<true>(pg + i, gate, px + i, mean_p.data() + j, s.data() + j, sd.data() + j, n);
      else
        backward_sums_run<false>(pg + i, gate, px + i, mean_p.data() + j, s.data() + j, sd.data() + j, n);
    });
    pd.fold(s, sum_g[t]);
    pd.fold(sd, sum_gd[t]);
  });
  std::vector<double> sg(C, 0.0), sgx(C, 0.0);  // sum g, sum g xhat
  for (int t = 0; t < threads; ++t)
    for (int64_t c = 0; c < C; ++c) sg[c] += sum_g[t][c], sgx[c] += sum_gd[t][c];
  for (int64_t c = 0; c < C; ++c) sgx[c] *= invstd[c];
  for (int64_t c = 0; c < C; ++c) {
    if (ggamma.defined()) ggamma.data<float>()[c * ggamma.stride(0)] = static_cast<float>(sgx[c]);
    if (gbeta.defined()) gbeta.data<float>()[c * gbeta.stride(0)] = static_cast<float>(sg[c]);
  }
  if (!gx.defined()) return true;
  // gx = gamma invstd (g - [training] (mean(g) + xhat mean(g xhat)))
  std::vector<float> k(C), a(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    k[c] = channel(gamma, c, 1.f) * invstd[c];
    a[c] = p.training ? static_cast<float>(sg[c] / rows) : 0.f;
    b[c] = p.training ? static_cast<float>(sgx[c] / rows) * invstd[c] : 0.f;
  }
  const std::vector<float> k_p = pd.expand(k), a_p = pd.expand(a), b_p = pd.expand(b);
  float* po = gx.data<float>();
  parallel_runs(rows, pd, [&](int64_t i, int64_t j, int64_t n) {
    const RunConstants r{mean_p.data() + j, k_p.data() + j, a_p.data() + j, b_p.data() + j};
    const Gate gate{scale_p.data() + j, shift_p.data() + j};
    if (p.relu)
      backward_gx_run<true>(pg + i, gate, px + i, r, po + i, n);
    else
      backward_gx_run<false>(pg + i, gate, px + i, r, po + i, n);
  });
  return true;
}

bool batch_norm_relu_gate(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& mean_t, const Tensor& invstd_t, const Tensor& gated) {
  auto nchw_dense = [](const Tensor& t) { return t.dtype() == DType::Float32 && t.dim() == 4 && t.is_contiguous(); };
  if (!nchw_dense(gy) || !nchw_dense(x) || !nchw_dense(gated)) return false;
  const int64_t N = x.size(0), C = x.size(1), plane = x.size(2) * x.size(3);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c)
    affine_coefficients(channel(mean_t, c, 0.f), channel(invstd_t, c, 1.f), channel(gamma, c, 1.f),
                        channel(beta, c, 0.f), scale[c], shift[c]);
  const float *px = x.data<float>(), *pg = gy.data<float>();
  float* po = gated.data<float>();
  parallel_for(0, N * C, 1, [&](int64_t b, int64_t e) {
    for (int64_t nc = b; nc < e; ++nc) {
      const float a = scale[nc % C], s = shift[nc % C];
      const float *__restrict xi = px + nc * plane, *__restrict gi = pg + nc * plane;
      float* __restrict oi = po + nc * plane;
      for (int64_t k = 0; k < plane; ++k) oi[k] = std::fma(xi[k], a, s) > 0.f ? gi[k] : 0.f;
    }
  });
  return true;
}

}  // namespace figs::cpu::fast
