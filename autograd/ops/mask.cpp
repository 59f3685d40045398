// mask_values: the FiGS mask's per-channel values m (C) from the logits (C), computed by one
// backend kernel on the logits' device (cpu/reference/mask.h, cuda/mask.cu; the math is
// core/mask_math.h) — no host round trip on a GPU. Differentiable in the logits for the training
// modes: d logit = (d m * sigmoid'(a)) / tau, also one kernel. The multiply by the mask is
// channel_scale (one pass over the activations forward, one fused pass backward), which the
// channel-group pass (nas/channel_graph.cpp) recognises as channel_scale(x, mask_values(logits)).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor mask_values(const Tensor& logits, const MaskParams& p, const Tensor& noise) {
  const OpScope op_scope(OpKind::MaskValues);  // the kernel statistics book its calls under it
  FIGS_CHECK(logits.defined() && logits.dim() == 1 && is_floating(logits.dtype()),
             "mask_values: logits must be a 1-d floating tensor, got ", logits.describe());
  const int64_t C = logits.size(0);
  const bool training = p.mode == MaskMode::Relaxed || p.mode == MaskMode::StraightThrough;
  Tensor given;
  if (training) {
    FIGS_CHECK(p.tau > 0, "mask_values: temperature tau must be > 0, got ", p.tau);
    if (noise.defined()) {
      FIGS_CHECK(noise.dim() == 1 && noise.size(0) == C, "mask_values: noise must have shape [", C, "], got ",
                 noise.describe());
      given = raw::to(raw::to_dtype(noise.detach(), DType::Float64), logits.device());
    }
  }
  Tensor m = empty({C}, {logits.dtype(), logits.device()});
  Tensor slope = empty({C}, {DType::Float64, logits.device()});
  backend_of(logits).mask_values(p, logits.detach(), given, m, slope);
  if (training && any_requires_grad({&logits})) {
    record(OpKind::MaskValues, {&logits}, m, [p, slope](const Tensor& gm, InputGrads& g) {
      Tensor glogits = empty({slope.size(0)}, {gm.dtype(), gm.device()});
      backend_of(gm).mask_values_backward(p, gm, slope, glogits);
      g.set(0, glogits);
    });
  }
  return m;
}

}  // namespace figs
