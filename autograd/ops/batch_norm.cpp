// batch_norm: per-channel normalisation over (N, H, W), with an optional fused ReLU (p.relu).
// Formulas: cpu/reference/batch_norm.h.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormParams& p) {
  const OpScope op_scope(OpKind::BatchNorm);  // the kernel statistics book its calls under it
  ops::check_floating("batch_norm", x);
  ops::check_rank("batch_norm", "input", x, 4);
  const int64_t C = x.size(1);
  ops::check_per_channel("batch_norm", "gamma", gamma, x, C);
  ops::check_per_channel("batch_norm", "beta", beta, x, C);
  ops::check_per_channel("batch_norm", "running_mean", running_mean, x, C);
  ops::check_per_channel("batch_norm", "running_var", running_var, x, C);
  FIGS_CHECK(gamma.defined() == beta.defined(), "batch_norm: gamma and beta must both be given or both be absent");
  FIGS_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: running_mean and running_var must both be given or both be absent");
  FIGS_CHECK(p.eps > 0 && p.momentum >= 0 && p.momentum <= 1, "batch_norm: needs eps > 0 and momentum in [0, 1] (eps ",
             p.eps, ", momentum ", p.momentum, ")");
  FIGS_CHECK(!(running_mean.defined() && running_mean.requires_grad()) &&
                 !(running_var.defined() && running_var.requires_grad()),
             "batch_norm: running statistics are buffers and cannot require grad");
  if (p.training) {
    FIGS_CHECK(x.size(0) * x.size(2) * x.size(3) > 1, "batch_norm: training needs more than one value per channel, got input ",
               x.shape());
  } else {
    FIGS_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
  }

  Tensor y = empty_like(x);
  Tensor mean_used, invstd_used;  // what backward normalised with
  Backend& be = backend_of(x);
  if (p.training) {
    mean_used = empty({C}, {x.dtype(), x.device()});
    invstd_used = empty({C}, {x.dtype(), x.device()});
    be.batch_norm_forward_training(p, x, gamma, beta, running_mean, running_var, y, mean_used, invstd_used);
  } else {
    be.batch_norm_forward_inference(p, x, gamma, beta, running_mean, running_var, y);
  }
  if (trace::active()) {  // after the update: a training-mode trace shows the statistics it left
    TracedOp op = trace::op(OpKind::BatchNorm, {x, gamma, beta, running_mean, running_var}, y);
    op.norm = p;
    trace::record(std::move(op));
  }
  if (any_requires_grad({&x, &gamma, &beta})) {
    if (!p.training) {  // snapshot: later training steps may update the running statistics
      NoGradGuard no_grad;
      mean_used = raw::clone(running_mean);
      invstd_used = pow(add_scalar(running_var, p.eps), -0.5);
    }
    // y is not kept: the fused ReLU's gate is recomputed from x (Note [The fused ReLU's gate is
    // recomputed], core/backend.h), so beta (C values) is kept with it instead.
    record(OpKind::BatchNorm, {&x, &gamma, &beta}, y,
           [p, x = x.detach(), gamma = gamma.defined() ? gamma.detach() : Tensor(),
            beta = p.relu && beta.defined() ? beta.detach() : Tensor(), mean_used, invstd_used](const Tensor& gy,
                                                                                              InputGrads& g) {
             Tensor gx = g.needs(0) ? empty_like(x) : Tensor();
             Tensor gg = g.needs(1) ? empty_like(gamma) : Tensor();
             Tensor gb = g.needs(2) ? empty_like(gamma) : Tensor();
             backend_of(x).batch_norm_backward(p, gy, x, gamma, beta, mean_used, invstd_used, gx, gg, gb);
             g.set(0, gx);
             g.set(1, gg);
             g.set(2, gb);
           },
           p);
  }
  return y;
}

}  // namespace figs
