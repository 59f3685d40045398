// SGD with momentum, Nesterov momentum and L2 weight decay (PyTorch's formulation):
//   g = grad + weight_decay * p
//   v = momentum * v + g                       (v starts at 0, so the first step has v = g)
//   d = nesterov ? g + momentum * v : v        (d = g without momentum)
//   p = p - lr * d
#pragma once

#include "nn/optim/optimizer.h"

namespace figs::nn {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  bool nesterov = false;  // needs momentum > 0
  double weight_decay = 0.0;
};

class Sgd : public Optimizer {
 public:
  Sgd(Model& model, const SgdOptions& options, const std::vector<ParamGroupSpec>& groups = {});
  const char* name() const override { return "sgd"; }
  std::vector<NamedTensor> state() const override;  // {"momentum"} when momentum > 0
  const SgdOptions& options() const { return options_; }

 protected:
  void update(const ParamGroup& group, double lr) override;
  std::vector<float> step_values(const ParamGroup& group, double lr) const override;

 private:
  SgdOptions options_;
  Tensor momentum_;  // arena-shaped; undefined without momentum
};

}  // namespace figs::nn
