// Layout ops. reshape/permute/narrow/expand are views (raw:: in core/view.h) whose backward
// maps the gradient back; concat and contiguous copy.
#include <numeric>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape) {
  const OpScope op_scope(OpKind::Reshape);  // the kernel statistics book its calls under it
  Tensor y = raw::reshape(x.detach(), shape);
  if (trace::active()) trace::record(trace::op(OpKind::Reshape, {x}, y, y.shape().vec()));
  if (any_requires_grad({&x})) {
    record(
        OpKind::Reshape, {&x}, y,
        [shape = x.shape()](const Tensor& gy, InputGrads& g) { g.set(0, reshape(gy, shape.vec())); },
        IntsArg{y.shape().vec()});
  }
  return y;
}

Tensor flatten(const Tensor& x, int start_dim) {
  const OpScope op_scope(OpKind::Flatten);  // composite: its parts' forward calls book under it
  const int start = normalize_dim(start_dim, x.dim(), "flatten");
  std::vector<int64_t> shape(x.shape().begin(), x.shape().begin() + start);
  shape.push_back(-1);
  if (x.numel() == 0) shape.back() = 0;
  trace::Composite composite;  // "flatten" in a trace (its target shape depends on the batch)
  Tensor y = reshape(x, shape);
  if (composite.reporting()) composite.finish(trace::op(OpKind::Flatten, {x}, y, {start}));
  return y;
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  const OpScope op_scope(OpKind::Permute);  // the kernel statistics book its calls under it
  Tensor y = raw::permute(x.detach(), dims);
  if (trace::active()) {
    TracedOp op = trace::op(OpKind::Permute, {x}, y);
    for (int d : dims) op.ints.push_back(normalize_dim(d, x.dim(), "permute"));
    trace::record(std::move(op));
  }
  if (any_requires_grad({&x})) {
    std::vector<int> inverse(dims.size());
    IntsArg normalised;
    for (size_t i = 0; i < dims.size(); ++i) {
      const int d = normalize_dim(dims[i], x.dim(), "permute");
      inverse[d] = static_cast<int>(i);
      normalised.values.push_back(d);
    }
    record(
        OpKind::Permute, {&x}, y, [inverse](const Tensor& gy, InputGrads& g) { g.set(0, permute(gy, inverse)); },
        std::move(normalised));
  }
  return y;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const OpScope op_scope(OpKind::Narrow);  // the kernel statistics book its calls under it
  Tensor y = raw::narrow(x.detach(), dim, start, length);
  if (trace::active())
    trace::record(trace::op(OpKind::Narrow, {x}, y, {normalize_dim(dim, x.dim(), "narrow"), start, length}));
  if (any_requires_grad({&x})) {
    const int d = normalize_dim(dim, x.dim(), "narrow");
    record(OpKind::Narrow, {&x}, y,
           [d, start, length, shape = x.shape(), format = x.memory_format()](const Tensor& gy, InputGrads& g) {
             Tensor gx = zeros(shape, {gy.dtype(), gy.device(), format});
             raw::copy_(raw::narrow(gx, d, start, length), gy);
             g.set(0, gx);
           },
           IntsArg{{d, start, length}});
  }
  return y;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const OpScope op_scope(OpKind::Expand);  // the kernel statistics book its calls under it
  Tensor y = raw::expand(x.detach(), shape);
  if (trace::active()) trace::record(trace::op(OpKind::Expand, {x}, y, shape.vec()));
  if (any_requires_grad({&x})) {
    record(
        OpKind::Expand, {&x}, y, [shape = x.shape()](const Tensor& gy, InputGrads& g) { g.set(0, sum_to(gy, shape)); },
        IntsArg{y.shape().vec()});
  }
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  const OpScope op_scope(OpKind::Concat);  // the kernel statistics book its calls under it
  FIGS_CHECK(!xs.empty(), "concat: no inputs");
  const Tensor& first = xs.front();
  FIGS_CHECK(first.defined(), "concat: input 0 is undefined");
  const int d = normalize_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    FIGS_CHECK(x.defined() && x.dim() == first.dim() && x.dtype() == first.dtype() && x.device() == first.device(),
               "concat: input ", i, " (", x.describe(), ") does not match input 0 (", first.describe(), ")");
    for (int k = 0; k < x.dim(); ++k)
      FIGS_CHECK(k == d || x.size(k) == first.size(k), "concat: input ", i, " has shape ", x.shape(),
                 ", input 0 has ", first.shape(), "; only dim ", d, " may differ");
    shape[d] += x.size(d);
  }
  Tensor y = empty(shape, {first.dtype(), first.device(), first.memory_format()});
  std::vector<int64_t> starts;
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    starts.push_back(at);
    parts.push_back(x.detach());
    at += x.size(d);
  }
  backend_of(y).concat(parts, d, y);
  if (trace::active()) trace::record(trace::op(OpKind::Concat, xs, y, {d}));
  bool needs = false;
  for (const Tensor& x : xs) needs = needs || any_requires_grad({&x});
  if (needs) {
    std::vector<int64_t> lengths;
    for (const Tensor& x : xs) lengths.push_back(x.size(d));
    record(
        OpKind::Concat, xs, y,
        [d, starts, lengths](const Tensor& gy, InputGrads& g) {
          for (size_t i = 0; i < starts.size(); ++i)
            if (g.needs(i)) g.set(i, narrow(gy, d, starts[i], lengths[i]));
        },
        IntsArg{{d}});
  }
  return y;
}

Tensor contiguous(const Tensor& x, MemoryFormat format) {
  const OpScope op_scope(OpKind::Contiguous);  // the kernel statistics book its calls under it
  if (x.is_contiguous(format)) return x;  // the same tensor: nothing to trace
  Tensor y = raw::contiguous(x.detach(), format);
  if (trace::active()) trace::record(OpKind::Contiguous, {&x}, y);
  if (any_requires_grad({&x})) {
    record(OpKind::Contiguous, {&x}, y, [](const Tensor& gy, InputGrads& g) { g.set(0, gy); });
  }
  return y;
}

}  // namespace figs
