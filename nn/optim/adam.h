// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's formulation, with
// TensorFlow's epsilon placement as an option. At step t (from 1):
//   g  = grad (+ weight_decay * p for Adam: L2 in the gradient)
//   p  = p * (1 - lr * weight_decay)            (AdamW only: decoupled decay)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g^2
//   standard:   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   tf_epsilon: p = p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
// The two differ only in where eps sits relative to the bias correction; with a large eps
// (the FiGS paper trains with eps = 1.0, in TensorFlow) the difference matters.
#pragma once

#include "core/params.h"
#include "nn/optim/optimizer.h"

namespace figs::nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool tf_epsilon = false;  // TensorFlow's "epsilon hat" placement (see above)
};

class Adam : public Optimizer {
 public:
  Adam(Model& model, const AdamOptions& options, const std::vector<ParamGroupSpec>& groups = {});
  const char* name() const override { return decoupled_ ? "adamw" : "adam"; }
  std::vector<NamedTensor> state() const override;  // {"exp_avg", "exp_avg_sq"}
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(Model& model, const AdamOptions& options, const std::vector<ParamGroupSpec>& groups, bool decoupled);
  void update(const ParamGroup& group, double lr) override;
  std::vector<float> step_values(const ParamGroup& group, double lr) const override;

 private:
  AdamStepParams step_params(const ParamGroup& group, double lr) const;  // at step_count()
  AdamOptions options_;
  bool decoupled_;
  Tensor exp_avg_, exp_avg_sq_;  // arena-shaped
};

// Adam with decoupled weight decay.
class AdamW : public Adam {
 public:
  AdamW(Model& model, const AdamOptions& options, const std::vector<ParamGroupSpec>& groups = {})
      : Adam(model, options, groups, true) {}
};

}  // namespace figs::nn
