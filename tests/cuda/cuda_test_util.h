// Helpers of the CUDA-vs-CPU tests: random odd shapes, device copies, the error measure.
//
// Every comparison runs the CUDA kernel in float32 (float64 where stated) and the CPU reference
// kernel (cpu::reference_backend(), the oracle) in float64 on the same numbers, and reports
// max |cuda - ref| / max(max |ref|, 1). GPU outputs are poisoned with NaN first, so an element a
// kernel forgets to write fails the comparison (NaN compares false).
#pragma once

#include <cmath>
#include <limits>

#include "cpu/reference_backend.h"
#include "test_util.h"

namespace figs::cudatest {

#define FIGS_REQUIRE_GPU()                                                                                 \
  do {                                                                                                     \
    if (!::figs::cuda::is_available())                                                                     \
      GTEST_SKIP() << (::figs::build_info().with_cuda ? "no CUDA device visible" : "figs built without CUDA"); \
  } while (false)

// Small integers for random shapes, from the counter-based generator (reproducible).
class Dice {
 public:
  explicit Dice(uint64_t stream) : stream_(stream) {}
  int64_t pick(int64_t lo, int64_t hi) {  // inclusive
    const PhiloxBlock b = philox_draw(2024, stream_, counter_++);
    return lo + static_cast<int64_t>(b.w[0] % static_cast<uint32_t>(hi - lo + 1));
  }
  bool coin() { return pick(0, 1) == 1; }
  MemoryFormat layout() { return coin() ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous; }

 private:
  uint64_t stream_, counter_ = 0;
};

inline Backend& gpu_backend() { return backend_for(Device::cuda()); }
inline Backend& ref_backend() { return cpu::reference_backend(); }

// Random float32 CPU tensor in the given layout.
inline Tensor rand_cpu(const Shape& s, uint64_t stream, MemoryFormat f = MemoryFormat::Contiguous, double lo = -1,
                       double hi = 1) {
  Generator g(11, stream);
  return uniform(s, lo, hi, g, {DType::Float32, Device::cpu(), s.rank() == 4 ? f : MemoryFormat::Contiguous});
}
// The same numbers on the GPU, in the layout f (rank 4) or contiguous.
inline Tensor on_gpu(const Tensor& t, MemoryFormat f = MemoryFormat::Contiguous) {
  if (!t.defined()) return t;
  const Tensor d = raw::to(t, Device::cuda());
  return t.dim() == 4 ? raw::contiguous(d, f) : raw::contiguous(d);
}
inline Tensor as64(const Tensor& t) { return t.defined() ? raw::to_dtype(t, DType::Float64) : Tensor(); }
// A GPU output filled with NaN.
inline Tensor gpu_out(const Shape& s, MemoryFormat f = MemoryFormat::Contiguous, DType t = DType::Float32) {
  return full(s, std::numeric_limits<double>::quiet_NaN(),
              {t, Device::cuda(), s.rank() == 4 ? f : MemoryFormat::Contiguous});
}
inline Tensor ref_out(const Shape& s, MemoryFormat f = MemoryFormat::Contiguous) {
  return empty(s, {DType::Float64, Device::cpu(), s.rank() == 4 ? f : MemoryFormat::Contiguous});
}

inline double normalised_error(const Tensor& got, const Tensor& ref) {
  const auto g = got.to_vector<double>(), r = ref.to_vector<double>();
  if (g.size() != r.size()) return std::numeric_limits<double>::infinity();
  double scale = 1, err = 0;
  for (double v : r) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i) {
    const double d = std::abs(g[i] - r[i]);
    if (!(d <= err)) err = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
  }
  return err / scale;
}

#define EXPECT_GPU_CLOSE(got, ref, tol) EXPECT_LE(::figs::cudatest::normalised_error(got, ref), tol) << #got

}  // namespace figs::cudatest
