// Which implementation ran each kernel, on every backend: the record that makes a backend's
// choices explicit, e.g. ("conv2d_forward", "onednn"), ("binary", "reference"),
// ("conv2d_forward", "cuda-depthwise-k3s1") or ("conv2d_forward", "cudnn-packed-nchw") for cuDNN's
// retry. Benchmarks and `FIGS_KERNEL_STATS=1 figs ...` print it; tests assert it.
//
//   FIGS_COUNT_KERNEL("conv2d_forward", "onednn");   // kernel and implementation: string literals
//
// Each call site owns one counter (a function-local static, registered once under a mutex);
// counting is one relaxed atomic increment, with no lookup and no string built.
//
// Every call is also booked under the op of the op list (core/ops.inc) that made it: the op
// functions (autograd/ops/) and the autograd engine, around each node's backward, hold an
// OpScope naming their kind while they call kernels. The outermost scope wins, so an op's entry
// holds everything it costs: a backward built from other ops (sub's from neg and sum) and a
// composite op's forward (mean's sum and mul_scalar) book under that op. A composite op has no
// node, so its backward books under its parts'. Calls outside any op (a tensor's fill, a copy to
// the device, the engine adding gradients) are booked under no op.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "core/op_kind.h"

namespace figs {

// The op running on this thread, for the kernel statistics; inside another op's scope it changes
// nothing (the outermost op is the one that pays).
//
// The outermost scope also times itself (host wall time, steady clock, ~50 ns per op): where a
// CPU step's time goes, per op (op_times()). On a GPU it is the time to launch, not to run.
class OpScope {
 public:
  explicit OpScope(OpKind kind) : previous_(current_) {
    if (current_ == kNumOpKinds) {
      current_ = static_cast<int>(kind);
      start_ns_ = now_ns();
    }
  }
  ~OpScope() {
    if (previous_ == kNumOpKinds) add_time(current_, now_ns() - start_ns_);
    current_ = previous_;
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  // The kind's index, or kNumOpKinds outside every op.
  static int current() { return current_; }

 private:
  static int64_t now_ns();
  static void add_time(int op, int64_t ns);
  int previous_;
  int64_t start_ns_ = 0;
  static thread_local int current_;
};

// Per op since the last reset_kernel_counts(): calls of its outermost scope and their host wall
// time in seconds (forward and backward together), for the ops that ran.
struct OpTime {
  long calls = 0;
  double seconds = 0;
};
std::map<std::string, OpTime> op_times();

class KernelCounter {
 public:
  KernelCounter(const char* kernel, const char* implementation);  // registers itself
  void add() { per_op_[OpScope::current()].fetch_add(1, std::memory_order_relaxed); }
  const char* kernel() const { return kernel_; }
  const char* implementation() const { return implementation_; }
  long count() const;
  // Calls booked under op index `op` (kNumOpKinds: outside every op).
  long count_for_op(int op) const { return per_op_[op].load(std::memory_order_relaxed); }
  void reset();

 private:
  const char* kernel_;
  const char* implementation_;
  std::array<std::atomic<long>, kNumOpKinds + 1> per_op_{};
};

#define FIGS_COUNT_KERNEL(kernel, implementation)                         \
  do {                                                                    \
    static ::figs::KernelCounter figs_kernel_counter_(kernel, implementation); \
    figs_kernel_counter_.add();                                           \
  } while (false)

// (kernel, implementation) -> calls since the last reset (which also resets op_times()); pairs
// that never ran are left out.
using KernelCounts = std::map<std::pair<std::string, std::string>, long>;
KernelCounts kernel_counts();
void reset_kernel_counts();
// "conv2d_forward: onednn x12; binary: avx2 x30, reference x2"
std::string kernel_counts_summary();

// (op name or "" outside every op, kernel, implementation) -> calls since the last reset.
using OpKernelCounts = std::map<std::tuple<std::string, std::string, std::string>, long>;
OpKernelCounts op_kernel_counts();
// Per op: "conv2d: conv2d_forward onednn x12, conv2d_backward_data onednn x12; (no op): copy avx2 x3"
std::string op_kernel_counts_summary();

}  // namespace figs
