// conv2d: dense, pointwise, grouped and depthwise in one op. Kernels: Backend::conv2d_*.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {
void check_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  ops::check_compatible("conv2d", x, w);
  ops::check_floating("conv2d", x);
  ops::check_rank("conv2d", "input", x, 4);
  ops::check_rank("conv2d", "weight", w, 4);
  FIGS_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                 p.pad_h >= 0 && p.pad_w >= 0,
             "conv2d: stride and dilation must be >= 1 and padding >= 0 (stride ", p.stride_h, "x",
             p.stride_w, ", padding ", p.pad_h, "x", p.pad_w, ", dilation ", p.dilation_h, "x",
             p.dilation_w, ")");
  FIGS_CHECK(p.groups >= 1 && x.size(1) % p.groups == 0 && w.size(0) % p.groups == 0,
             "conv2d: groups (", p.groups, ") must divide input channels (", x.size(1),
             ") and output channels (", w.size(0), ")");
  FIGS_CHECK(w.size(1) * p.groups == x.size(1), "conv2d: input channels (", x.size(1),
             ") do not match weight (", w.size(1), " per group x ", p.groups, " groups) [input ",
             x.shape(), ", weight ", w.shape(), "]");
  ops::check_per_channel("conv2d", "bias", bias, x, w.size(0));
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const OpScope op_scope(OpKind::Conv2d);  // the kernel statistics book its calls under it
  check_conv(x, w, bias, p);
  const int64_t oh = window_output_size(x.size(2), static_cast<int>(w.size(2)), p.stride_h, p.pad_h, p.dilation_h);
  const int64_t ow = window_output_size(x.size(3), static_cast<int>(w.size(3)), p.stride_w, p.pad_w, p.dilation_w);
  FIGS_CHECK(oh >= 1 && ow >= 1, "conv2d: input ", x.shape(), " is smaller than the ", w.size(2), "x",
             w.size(3), " kernel (dilation ", p.dilation_h, "x", p.dilation_w, ", padding ", p.pad_h,
             "x", p.pad_w, ")");
  Tensor y = empty({x.size(0), w.size(0), oh, ow}, {x.dtype(), x.device(), x.memory_format()});
  backend_of(x).conv2d_forward(p, x, w, bias, y);
  if (trace::active()) {
    TracedOp op = trace::op(OpKind::Conv2d, {x, w, bias}, y);
    op.conv = p;
    trace::record(std::move(op));
  }
  if (any_requires_grad({&x, &w, &bias})) {
    record(OpKind::Conv2d, {&x, &w, &bias}, y,
           [p, x = x.detach(), w = w.detach(), has_bias = bias.defined()](const Tensor& gy, InputGrads& g) {
             Backend& be = backend_of(gy);
             if (g.needs(0)) {
               Tensor gx = empty_like(x);
               be.conv2d_backward_data(p, gy, w, gx);
               g.set(0, gx);
             }
             if (g.needs(1) || g.needs(2)) {
               Tensor gw = empty_like(w);
               Tensor gb = has_bias ? empty({w.size(0)}, {w.dtype(), w.device()}) : Tensor();
               be.conv2d_backward_weight(p, gy, x, gw, gb);
               g.set(1, gw);
               g.set(2, gb);
             }
           },
           p);
  }
  return y;
}

}  // namespace figs
