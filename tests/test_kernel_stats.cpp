// The kernel statistics book every call under the op that made it (core/kernel_stats.h): the
// forward under the outermost op function's scope (a composite op's forward under it), the
// backward under the engine's scope for its node (a backward built from other ops under the
// node's op), and calls outside every op under none.
#include "core/kernel_stats.h"
#include "test_util.h"

namespace figs {
namespace {

long booked(const OpKernelCounts& c, const std::string& op, const std::string& kernel) {
  long n = 0;
  for (const auto& [key, count] : c)
    if (std::get<0>(key) == op && std::get<1>(key) == kernel) n += count;
  return n;
}

TEST(KernelStats, BookCallsUnderTheOpThatMadeThem) {
  Tensor x = full({2, 3}, 0.5).set_requires_grad();
  reset_kernel_counts();
  const Tensor y = relu(x);                // forward: one unary under relu
  const Tensor b = full({3}, 0.25).set_requires_grad();
  const Tensor z = sub(y, b);              // its backward (broadcast b) is built from neg and sum
  const Tensor loss = mean(z);             // composite: its forward's sum and mul_scalar book under it
  const OpKernelCounts forward = op_kernel_counts();
  EXPECT_EQ(booked(forward, "mean", "sum"), 1) << op_kernel_counts_summary();
  EXPECT_EQ(booked(forward, "mean", "unary"), 1) << op_kernel_counts_summary();
  EXPECT_EQ(booked(forward, "sum", "sum"), 0) << "a part books under the composite op";
  backward(loss);
  const OpKernelCounts c = op_kernel_counts();
  EXPECT_EQ(booked(c, "relu", "unary"), 1) << op_kernel_counts_summary();
  EXPECT_EQ(booked(c, "relu", "unary_backward"), 1) << op_kernel_counts_summary();
  EXPECT_GE(booked(c, "sub", "sum"), 1) << "sub's backward reduces the broadcast under sub: "
                                        << op_kernel_counts_summary();
  EXPECT_EQ(booked(c, "neg", "unary"), 0) << op_kernel_counts_summary();
  // mean has no node: its backward runs as its parts' nodes.
  EXPECT_GE(booked(c, "mul_scalar", "unary_backward"), 1) << op_kernel_counts_summary();
  // Every booked call is also in the per-kernel totals.
  long per_op = 0, total = 0;
  for (const auto& [key, n] : c) per_op += n;
  for (const auto& [key, n] : kernel_counts()) total += n;
  EXPECT_EQ(per_op, total);
  // Outside every op: a fill books under none.
  reset_kernel_counts();
  full({4}, 1.0);
  for (const auto& [key, n] : op_kernel_counts()) EXPECT_EQ(std::get<0>(key), "") << std::get<1>(key);
}

TEST(KernelStats, TheOutermostScopeWinsAndRestores) {
  EXPECT_EQ(OpScope::current(), kNumOpKinds);
  {
    const OpScope outer(OpKind::Mean);
    EXPECT_EQ(OpScope::current(), static_cast<int>(OpKind::Mean));
    {
      const OpScope inner(OpKind::Sum);  // the outermost op pays
      EXPECT_EQ(OpScope::current(), static_cast<int>(OpKind::Mean));
    }
    EXPECT_EQ(OpScope::current(), static_cast<int>(OpKind::Mean));
  }
  EXPECT_EQ(OpScope::current(), kNumOpKinds);
}

}  // namespace
}  // namespace figs
