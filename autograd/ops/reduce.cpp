// Reductions: sum and mean over all or some dims, and sum_to (the adjoint of broadcasting).
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {

// Sums x over the dims where `kept` (same rank) has size 1 and x does not; result has kept's shape.
Tensor sum_keepdim(const Tensor& x, const Shape& kept) {
  const OpScope op_scope(OpKind::Sum);  // the kernel statistics book its calls under it
  Tensor out = empty(kept, {x.dtype(), x.device()});
  backend_of(x).sum(x, out);
  if (any_requires_grad({&x})) {
    // The gradient takes x's layout, so the backward of a channels-last network stays channels-last.
    IntsArg reduced;  // the dims summed over
    for (int d = 0; d < x.dim(); ++d)
      if (kept[d] == 1 && x.size(d) != 1) reduced.values.push_back(d);
    record(
        OpKind::Sum, {&x}, out,
        [shape = x.shape(), format = x.memory_format()](const Tensor& gy, InputGrads& g) {
          g.set(0, contiguous(expand(gy, shape), format));
        },
        std::move(reduced));
  }
  return out;
}

Shape kept_shape(const Tensor& x, const std::vector<int>& dims, const char* op) {
  Shape kept = x.shape();
  for (int d : dims) kept[normalize_dim(d, x.dim(), op)] = 1;
  return kept;
}

std::vector<int64_t> dropped_shape(const Tensor& x, const std::vector<int>& dims, const char* op) {
  std::vector<bool> reduced(x.dim(), false);
  for (int d : dims) reduced[normalize_dim(d, x.dim(), op)] = true;
  std::vector<int64_t> out;
  for (int i = 0; i < x.dim(); ++i)
    if (!reduced[i]) out.push_back(x.size(i));
  return out;
}

// The trace record of a reduction over `dims` (normalised, ascending).
TracedOp reduction(OpKind kind, const Tensor& x, const std::vector<int>& dims, bool keepdim, const Tensor& y) {
  const char* name = op_name(kind);
  TracedOp op = trace::op(kind, {x}, y);
  std::vector<bool> reduced(x.dim(), false);
  for (int d : dims) reduced[normalize_dim(d, x.dim(), name)] = true;
  for (int i = 0; i < x.dim(); ++i)
    if (reduced[i]) op.ints.push_back(i);
  op.keepdim = keepdim;
  return op;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  ops::check_floating("sum", x);
  trace::Composite composite;  // one op in a trace, also when it reshapes
  Tensor kept = sum_keepdim(x, kept_shape(x, dims, "sum"));
  Tensor y = keepdim ? kept : reshape(kept, dropped_shape(x, dims, "sum"));
  if (composite.reporting()) composite.finish(reduction(OpKind::Sum, x, dims, keepdim, y));
  return y;
}

Tensor sum(const Tensor& x) {
  std::vector<int> all(x.dim());
  for (int i = 0; i < x.dim(); ++i) all[i] = i;
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  const OpScope op_scope(OpKind::Mean);  // composite: its parts' forward calls book under it
  ops::check_floating("mean", x);
  const Shape kept = kept_shape(x, dims, "mean");
  FIGS_CHECK(kept.numel() > 0 && x.numel() > 0, "mean: empty reduction of ", x.describe());
  trace::Composite composite;  // one op in a trace, not a sum and a scale
  Tensor y = mul_scalar(sum(x, dims, keepdim), static_cast<double>(kept.numel()) / x.numel());
  if (composite.reporting()) composite.finish(reduction(OpKind::Mean, x, dims, keepdim, y));
  return y;
}

Tensor mean(const Tensor& x) {
  const OpScope op_scope(OpKind::Mean);  // composite: its parts' forward calls book under it
  FIGS_CHECK(x.numel() > 0, "mean: empty tensor ", x.describe());
  return mul_scalar(sum(x), 1.0 / x.numel());
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  FIGS_CHECK(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(), "sum_to: ", x.describe(),
             " is not a broadcast of ", shape);
  if (x.shape() == shape) return x;
  // Leading dims that broadcasting added are summed and dropped; size-1 dims summed and kept.
  const int lead = x.dim() - shape.rank();
  std::vector<int> dims;
  for (int i = 0; i < x.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.size(i) != 1)) dims.push_back(i);
  Tensor kept = sum(x, dims, true);
  return reshape(kept, shape.vec());
}

}  // namespace figs
