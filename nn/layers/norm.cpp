#include "nn/layers/norm.h"

#include "autograd/ops.h"
#include "core/distributed.h"
#include "nn/init.h"

namespace figs::nn {

BatchNorm2d::BatchNorm2d(int channels, const BatchNorm2dOptions& o)
    : Module("BatchNorm2d"), channels_(channels), options_(o) {
  FIGS_CHECK(channels > 0, "BatchNorm2d: channels must be > 0, got ", channels);
  FIGS_CHECK(o.eps > 0 && o.momentum >= 0 && o.momentum <= 1, "BatchNorm2d: needs eps > 0 and momentum in [0, 1] (eps ",
             o.eps, ", momentum ", o.momentum, ")");
  if (o.affine) {
    weight_ = register_parameter("weight", ones({channels}));
    bias_ = register_parameter("bias", zeros({channels}));
  }
  if (o.track_running_stats) {
    running_mean_ = register_buffer("running_mean", zeros({channels}));
    running_var_ = register_buffer("running_var", ones({channels}));
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) { return normalise(x, weight_, bias_, false); }

Tensor BatchNorm2d::forward_relu(const Tensor& x) { return normalise(x, weight_, bias_, true); }

Tensor BatchNorm2d::forward_scaled(const Tensor& x, const Tensor& scale, bool relu) {
  FIGS_CHECK(scale.defined() && scale.dim() == 1 && scale.size(0) == channels_, "BatchNorm2d: the scale must be (",
             channels_, "), got ", scale.describe());
  // (x_hat gamma + beta) s = x_hat (gamma s) + beta s; without an affine, x_hat s.
  return normalise(x, weight_.defined() ? mul(weight_, scale) : scale,
                   bias_.defined() ? mul(bias_, scale) : Tensor(), relu);
}

Tensor BatchNorm2d::normalise(const Tensor& x, const Tensor& gamma, const Tensor& beta, bool relu) {
  FIGS_CHECK(x.dim() == 4 && x.size(1) == channels_, "BatchNorm2d: expected input (N, ", channels_,
             ", H, W), got ", x.describe());
  BatchNormParams p;
  p.training = is_training() || !options_.track_running_stats;
  p.momentum = options_.momentum;
  p.eps = options_.eps;
  p.relu = relu;
  // Data-parallel runs may normalise over the global batch (core/distributed.h).
  if (p.training && dist::sync_batch_norm() && dist::world().world_size() > 1)
    return sync_batch_norm(x, gamma, beta, running_mean_, running_var_, p);
  return batch_norm(x, gamma, beta, running_mean_, running_var_, p);
}

std::string BatchNorm2d::extra_repr() const {
  std::string s = str_cat(channels_, ", momentum=", options_.momentum, ", eps=", options_.eps);
  if (!options_.affine) s += ", affine=false";
  if (!options_.track_running_stats) s += ", track_running_stats=false";
  return s;
}

void BatchNorm2d::reset_parameters(Generator&) {
  if (weight_.defined()) ones_(weight_);
  if (bias_.defined()) zeros_(bias_);
}

}  // namespace figs::nn
