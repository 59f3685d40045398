// Vectorised sums for the reductions training actually performs: everything (losses), per
// channel of (N, C, H, W) (bias, BatchNorm and mask gradients), and over the rows of (N, K)
// (linear bias gradients). Partial sums are float per vector lane and double across chunks.
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {

bool dense(const Tensor& t) { return t.is_contiguous() || t.is_contiguous(MemoryFormat::ChannelsLast); }

double sum_span(const float* p, int64_t n) {
  // 8 independent accumulators let the compiler keep a full AVX2 register of partial sums.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  double total = 0;
  for (int k = 0; k < 8; ++k) total += acc[k];
  for (; i < n; ++i) total += p[i];
  return total;
}

}  // namespace

bool sum(const Tensor& x, const Tensor& out) {
  if (x.dtype() != DType::Float32 || !dense(x)) return false;
  const float* px = x.data<float>();
  float* po = out.data<float>();
  if (out.numel() == 1) {
    const int threads = num_threads();
    std::vector<double> partial(threads, 0.0);
    const int64_t n = x.numel();
    parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) partial[t] = sum_span(px + n * t / threads, n * (t + 1) / threads - n * t / threads);
    });
    double total = 0;
    for (double v : partial) total += v;
    *po = static_cast<float>(total);
    return true;
  }
  if (x.dim() == 4 && out.shape() == Shape{1, x.size(1), 1, 1}) {
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    const int64_t oc = out.stride(1);
    if (x.memory_format() == MemoryFormat::ChannelsLast) {
      // Rows of C: accumulate row by row (vectorised over c), per thread, then combine.
      const int threads = num_threads();
      std::vector<std::vector<float>> partial(threads, std::vector<float>(C, 0.f));
      const int64_t rows = N * HW;
      parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          float* acc = partial[t].data();
          for (int64_t r = rows * t / threads; r < rows * (t + 1) / threads; ++r) {
            const float* row = px + r * C;
            for (int64_t c = 0; c < C; ++c) acc[c] += row[c];
          }
        }
      });
      for (int64_t c = 0; c < C; ++c) {
        double total = 0;
        for (int t = 0; t < threads; ++t) total += partial[t][c];
        po[c * oc] = static_cast<float>(total);
      }
    } else {
      parallel_for(0, C, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          double total = 0;
          for (int64_t n = 0; n < N; ++n) total += sum_span(px + (n * C + c) * HW, HW);
          po[c * oc] = static_cast<float>(total);
        }
      });
    }
    return true;
  }
  if (x.dim() == 2 && x.is_contiguous() && out.shape() == Shape{1, x.size(1)}) {
    const int64_t N = x.size(0), K = x.size(1);
    std::vector<double> acc(K, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) acc[k] += px[n * K + k];
    for (int64_t k = 0; k < K; ++k) po[k * out.stride(1)] = static_cast<float>(acc[k]);
    return true;
  }
  return false;
}

}  // namespace figs::cpu::fast
