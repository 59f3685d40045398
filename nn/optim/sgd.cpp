#include "nn/optim/sgd.h"

namespace figs::nn {

Sgd::Sgd(Model& model, const SgdOptions& o, const std::vector<ParamGroupSpec>& groups)
    : Optimizer(model, o.lr, o.weight_decay, groups), options_(o) {
  check_hyper(o.momentum >= 0 && o.momentum < 1, str_cat("momentum must be in [0, 1), got ", o.momentum));
  check_hyper(!o.nesterov || o.momentum > 0, "nesterov needs momentum > 0");
  if (o.momentum > 0) momentum_ = make_state();
}

std::vector<NamedTensor> Sgd::state() const {
  if (!momentum_.defined()) return {};
  return {{"momentum", momentum_}};
}

void Sgd::update(const ParamGroup& group, double lr, float* p, const float* grad, int64_t begin, int64_t end) {
  const float lr_f = static_cast<float>(lr), wd = static_cast<float>(group.weight_decay);
  const float mu = static_cast<float>(options_.momentum);
  if (!momentum_.defined()) {
    for (int64_t i = begin; i < end; ++i) p[i] -= lr_f * (grad[i] + wd * p[i]);
    return;
  }
  float* v = momentum_.data<float>();
  const bool nesterov = options_.nesterov;
  for (int64_t i = begin; i < end; ++i) {
    const float g = grad[i] + wd * p[i];
    v[i] = mu * v[i] + g;
    p[i] -= lr_f * (nesterov ? g + mu * v[i] : v[i]);
  }
}

}  // namespace figs::nn
