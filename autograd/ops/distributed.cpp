// Collectives as differentiable ops, and the synchronised BatchNorm built from them
// (core/distributed.h). With a single process both are their local counterparts' arithmetic.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "core/autograd_meta.h"
#include "core/distributed.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

// Every rank's output is the sum of every rank's input, so the gradient of the ranks' summed
// objective with respect to one rank's input is the sum of all ranks' output gradients: the
// backward is the same all-reduce. (Each rank's loss is its share's mean; the trainer averages
// the weight gradients over ranks, which turns that sum back into the global batch's mean.)
Tensor all_reduce_sum(const Tensor& x) {
  const OpScope op_scope(OpKind::AllReduceSum);  // the kernel statistics book its calls under it
  ops::check_floating("all_reduce_sum", x);
  Tensor y = raw::contiguous(raw::clone(x.detach()));
  dist::world().all_reduce_sum(y);
  if (any_requires_grad({&x})) {
    record(OpKind::AllReduceSum, {&x}, y, [](const Tensor& gy, InputGrads& g) {
      Tensor gx = raw::contiguous(raw::clone(gy));
      dist::world().all_reduce_sum(gx);
      g.set(0, gx);
    });
  }
  return y;
}

// Training-mode BatchNorm over the global batch: the per-channel sums of x and of (x - mean)^2
// are all-reduced (two passes: no E[x^2] - mean^2 cancellation), and autograd derives the
// backward, whose all-reduces carry the sums of dy and dy * x_hat across ranks.
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                       const Tensor& running_var, const BatchNormParams& p) {
  const OpScope op_scope(OpKind::SyncBatchNorm);  // composite: its parts' forward calls book under it
  ops::check_floating("sync_batch_norm", x);
  ops::check_rank("sync_batch_norm", "input", x, 4);
  FIGS_CHECK(p.training, "sync_batch_norm: training mode only (eval uses the running statistics)");
  const int64_t C = x.size(1);
  double count = static_cast<double>(x.size(0) * x.size(2) * x.size(3));
  dist::world().all_reduce_sum(&count, 1);
  FIGS_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all ranks");
  const std::vector<int64_t> per_channel{1, C, 1, 1};
  const Tensor mean = mul_scalar(all_reduce_sum(sum(x, {0, 2, 3})), 1.0 / count);
  const Tensor centred = sub(x, reshape(mean, per_channel));
  const Tensor var = mul_scalar(all_reduce_sum(sum(mul(centred, centred), {0, 2, 3})), 1.0 / count);
  Tensor scale = pow(add_scalar(var, p.eps), -0.5);
  if (gamma.defined()) scale = mul(scale, gamma);
  Tensor y = mul(centred, reshape(scale, per_channel));
  if (beta.defined()) y = add(y, reshape(beta, per_channel));
  if (running_mean.defined()) {  // the reference's update (cpu/reference/batch_norm.h), unbiased variance
    NoGradGuard no_grad;
    raw::copy_(running_mean, add(mul_scalar(running_mean, 1 - p.momentum), mul_scalar(mean.detach(), p.momentum)));
    raw::copy_(running_var, add(mul_scalar(running_var, 1 - p.momentum),
                                mul_scalar(var.detach(), p.momentum * count / (count - 1))));
  }
  return p.relu ? relu(y) : y;
}

}  // namespace figs
