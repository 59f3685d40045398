// Pooling: max (with argmax indices saved for backward), average, and global average.
// Backward first brings the incoming gradient to the input's layout: it is often a channel slice
// of a concat's gradient, and pooling kernels walk dense tensors (one fast copy beats a strided
// kernel; the reference accepts anything but is 100x slower).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {
Shape pool_output_shape(const char* op, const Tensor& x, const Pool2dParams& p) {
  ops::check_floating(op, x);
  ops::check_rank(op, "input", x, 4);
  FIGS_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1, op,
             ": kernel and stride must be >= 1 (kernel ", p.kernel_h, "x", p.kernel_w, ", stride ",
             p.stride_h, "x", p.stride_w, ")");
  FIGS_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w,
             op, ": padding (", p.pad_h, "x", p.pad_w, ") must be between 0 and half the kernel (",
             p.kernel_h, "x", p.kernel_w, ")");
  const int64_t oh = window_output_size(x.size(2), p.kernel_h, p.stride_h, p.pad_h, 1);
  const int64_t ow = window_output_size(x.size(3), p.kernel_w, p.stride_w, p.pad_w, 1);
  FIGS_CHECK(oh >= 1 && ow >= 1, op, ": input ", x.shape(), " is smaller than the ", p.kernel_h, "x",
             p.kernel_w, " window");
  return {x.size(0), x.size(1), oh, ow};
}
}  // namespace

// Note [Max pool keeps its input or its argmax]: the backward routes gy to each window's argmax.
// At stride 1 the op keeps x instead of the argmax and finds the argmax again in the backward
// (Backend::max_pool2d_backward_from_input, with the forward's walk and ties, so the same
// gradient bit for bit): x is no larger than the int64 argmax there (4 or 8 bytes per value
// against 8), and is usually kept by another consumer anyway (One-Shot's max3 reads the block's
// shared ReLU, which its convolutions keep: 55 MiB of int64 argmax per step of the main job's
// search, for a window scan per output in the backward). At larger strides x is 4x or more the
// argmax's count: the argmax is kept.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  const OpScope op_scope(OpKind::MaxPool2d);  // the kernel statistics book its calls under it
  const Shape shape = pool_output_shape("max_pool2d", x, p);
  Tensor y = empty(shape, {x.dtype(), x.device(), x.memory_format()});
  // The argmax is kept for the backward only: inference writes none (half the bytes).
  const bool backward = any_requires_grad({&x});
  const bool keep_input = backward && p.stride_h == 1 && p.stride_w == 1;
  Tensor indices = backward && !keep_input ? empty(shape, {DType::Int64, x.device(), x.memory_format()}) : Tensor();
  backend_of(x).max_pool2d_forward(p, x, y, indices);
  if (trace::active()) {
    TracedOp op = trace::op(OpKind::MaxPool2d, {x}, y);
    op.pool = p;
    trace::record(std::move(op));
  }
  if (backward) {
    record(OpKind::MaxPool2d, {&x}, y,
           [p, indices, input = keep_input ? x.detach() : Tensor(), shape = x.shape(), dtype = x.dtype(),
            format = x.memory_format()](const Tensor& gy, InputGrads& g) {
             Tensor gx = empty(shape, {dtype, gy.device(), format});
             if (indices.defined())
               backend_of(gy).max_pool2d_backward(p, raw::contiguous(gy, format), indices, gx);
             else  // the argmax found again (Note [Max pool keeps its input or its argmax])
               backend_of(gy).max_pool2d_backward_from_input(p, raw::contiguous(gy, format), input, gx);
             g.set(0, gx);
           },
           p);
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  const OpScope op_scope(OpKind::AvgPool2d);  // the kernel statistics book its calls under it
  const Shape shape = pool_output_shape("avg_pool2d", x, p);
  Tensor y = empty(shape, {x.dtype(), x.device(), x.memory_format()});
  backend_of(x).avg_pool2d_forward(p, x, y);
  if (trace::active()) {
    TracedOp op = trace::op(OpKind::AvgPool2d, {x}, y);
    op.pool = p;
    trace::record(std::move(op));
  }
  if (any_requires_grad({&x})) {
    // Only x's shape and layout are needed: avg pool's backward does not read x.
    record(OpKind::AvgPool2d, {&x}, y,
           [p, shape = x.shape(), dtype = x.dtype(), format = x.memory_format()](
               const Tensor& gy, InputGrads& g) {
             Tensor gx = empty(shape, {dtype, gy.device(), format});
             backend_of(gy).avg_pool2d_backward(p, raw::contiguous(gy, format), gx);
             g.set(0, gx);
           },
           p);
  }
  return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
  const OpScope op_scope(OpKind::GlobalAvgPool2d);  // composite: its parts' forward calls book under it
  ops::check_floating("global_avg_pool2d", x);
  ops::check_rank("global_avg_pool2d", "input", x, 4);
  trace::Composite composite;  // one op in a trace, not the mean it is computed as
  Tensor y = mean(x, {2, 3}, /*keepdim=*/true);
  if (composite.reporting()) composite.finish(trace::op(OpKind::GlobalAvgPool2d, {x}, y));
  return y;
}

}  // namespace figs
