// Which implementation ran each kernel, on every backend: the record that makes a backend's
// choices explicit, e.g. ("conv2d_forward", "onednn"), ("binary", "reference"),
// ("conv2d_forward", "cuda-depthwise-k3s1") or ("conv2d_forward", "cudnn-packed-nchw") for cuDNN's
// retry. Benchmarks and `FIGS_KERNEL_STATS=1 figs ...` print it; tests assert it.
//
//   FIGS_COUNT_KERNEL("conv2d_forward", "onednn");   // kernel and implementation: string literals
//
// Each call site owns one counter (a function-local static, registered once under a mutex);
// counting is one relaxed atomic increment, with no lookup and no string built.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <utility>

namespace figs {

class KernelCounter {
 public:
  KernelCounter(const char* kernel, const char* implementation);  // registers itself
  void add() { count_.fetch_add(1, std::memory_order_relaxed); }
  const char* kernel() const { return kernel_; }
  const char* implementation() const { return implementation_; }
  long count() const { return count_.load(std::memory_order_relaxed); }
  void reset() { count_.store(0, std::memory_order_relaxed); }

 private:
  const char* kernel_;
  const char* implementation_;
  std::atomic<long> count_{0};
};

#define FIGS_COUNT_KERNEL(kernel, implementation)                         \
  do {                                                                    \
    static ::figs::KernelCounter figs_kernel_counter_(kernel, implementation); \
    figs_kernel_counter_.add();                                           \
  } while (false)

// (kernel, implementation) -> calls since the last reset; pairs that never ran are left out.
using KernelCounts = std::map<std::pair<std::string, std::string>, long>;
KernelCounts kernel_counts();
void reset_kernel_counts();
// "conv2d_forward: onednn x12; binary: avx2 x30, reference x2"
std::string kernel_counts_summary();

}  // namespace figs
