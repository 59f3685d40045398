// The FiGS mask, two ops:
//   mask_values  the per-channel values m (C) from the logits (C), computed by one backend kernel
//                on the logits' device (cpu/reference/mask.h, cuda/mask.cu; the math is
//                core/mask_math.h): no host round trip on a GPU. Differentiable in the logits for
//                the training modes: d logit = (d m * sigmoid'(a)) / tau, also one kernel.
//   mask         what a MaskLayer runs: y = x * m in one op over Backend::mask_forward /
//                mask_backward (one pass over the activations each way; backward gives dx and
//                d logits together). Its numbers are those of channel_scale(x, mask_values(...))
//                bit for bit (tests/test_gradcheck_ops.cpp). The channel-group pass
//                (nas/channel_graph.cpp) reads either form.
#include "autograd/node.h"
#include "autograd/trace.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {

bool is_training_mode(MaskMode mode) { return mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough; }

// The noise a training mode uses when the caller gives it: float64 (C) on `device`; undefined to
// draw it from p's key (and always in the evaluation modes). Checks tau and the noise's shape.
Tensor checked_noise(const char* op, const MaskParams& p, int64_t C, const Tensor& noise, Device device) {
  if (!is_training_mode(p.mode)) return Tensor();
  FIGS_CHECK(p.tau > 0, op, ": temperature tau must be > 0, got ", p.tau);
  if (!noise.defined()) return Tensor();
  FIGS_CHECK(noise.dim() == 1 && noise.size(0) == C, op, ": noise must have shape [", C, "], got ", noise.describe());
  return raw::to(raw::to_dtype(noise.detach(), DType::Float64), device);
}

}  // namespace

Tensor mask_values(const Tensor& logits, const MaskParams& p, const Tensor& noise) {
  const OpScope op_scope(OpKind::MaskValues);  // the kernel statistics book its calls under it
  FIGS_CHECK(logits.defined() && logits.dim() == 1 && is_floating(logits.dtype()),
             "mask_values: logits must be a 1-d floating tensor, got ", logits.describe());
  const int64_t C = logits.size(0);
  const bool training = is_training_mode(p.mode);
  const Tensor given = checked_noise("mask_values", p, C, noise, logits.device());
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

Tensor mask(const Tensor& x, const Tensor& logits, const MaskParams& p, const Tensor& noise, Tensor* values) {
  const OpScope op_scope(OpKind::Mask);  // the kernel statistics book its calls under it
  ops::check_floating("mask", x);
  ops::check_rank("mask", "input", x, 4);
  FIGS_CHECK(logits.defined() && logits.dim() == 1 && logits.size(0) == x.size(1) && logits.dtype() == x.dtype() &&
                 logits.device() == x.device(),
             "mask: logits must be (", x.size(1), ") of the input's dtype and device, got ", logits.describe(),
             " for input ", x.describe());
  const int64_t C = x.size(1);
  const bool training = is_training_mode(p.mode);
  const Tensor given = checked_noise("mask", p, C, noise, logits.device());
  Tensor y = empty_like(x);
  Tensor m = empty({C}, {logits.dtype(), logits.device()});
  Tensor slope = empty({C}, {DType::Float64, logits.device()});
  backend_of(x).mask_forward(p, x.detach(), logits.detach(), given, y, m, slope);
  if (values) *values = m;
  // Traced (the ONNX exporter) as x times the constant m.
  if (trace::active()) trace::record(OpKind::Mask, {&x, &m}, y);
  // The evaluation modes are constant in the logits: their node has x alone as its input.
  auto backward_fn = [p, x = x.detach(), m, slope, training](const Tensor& gy, InputGrads& g) {
    Tensor gx = g.needs(0) ? empty_like(x) : Tensor();
    Tensor glogits = training && g.needs(1) ? empty(m.shape(), {m.dtype(), m.device()}) : Tensor();
    backend_of(x).mask_backward(p, gy, x, m, slope, gx, glogits);
    g.set(0, gx);
    if (glogits.defined()) g.set(1, glogits);
  };
  if (training && any_requires_grad({&x, &logits}))
    record(OpKind::Mask, {&x, &logits}, y, backward_fn);
  else if (!training && any_requires_grad({&x}))
    record(OpKind::Mask, {&x}, y, backward_fn);
  return y;
}

}  // namespace figs
