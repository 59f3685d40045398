// channel_scale: y = x * scale[c] over (N, C, H, W) — the multiply of the FiGS mask layer.
// Forward is the per-channel broadcast multiply; backward is one fused kernel producing both
// gradients in a single pass (Backend::channel_scale_backward).
#include "autograd/node.h"
#include "autograd/trace.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor channel_scale(const Tensor& x, const Tensor& scale) {
  const OpScope op_scope(OpKind::ChannelScale);  // the kernel statistics book its calls under it
  ops::check_floating("channel_scale", x);
  ops::check_rank("channel_scale", "input", x, 4);
  ops::check_per_channel("channel_scale", "scale", scale, x, x.size(1));
  FIGS_CHECK(scale.defined(), "channel_scale: scale is undefined");
  Tensor y = empty_like(x);
  backend_of(x).binary(BinaryOp::Mul, x, raw::reshape(scale.detach(), {1, x.size(1), 1, 1}), y);
  if (trace::active()) trace::record(OpKind::ChannelScale, {&x, &scale}, y);
  if (any_requires_grad({&x, &scale})) {
    record(OpKind::ChannelScale, {&x, &scale}, y,
           [x = x.detach(), scale = scale.detach()](const Tensor& gy, InputGrads& g) {
             Tensor gx = g.needs(0) ? empty_like(x) : Tensor();
             Tensor gs = empty(scale.shape(), {scale.dtype(), scale.device()});
             backend_of(x).channel_scale_backward(gy, x, scale, gx, gs);
             g.set(0, gx);
             g.set(1, gs);
           });
  }
  return y;
}

}  // namespace figs
