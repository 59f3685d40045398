#include "nn/optim/sgd.h"

#include "core/backend.h"

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

void Sgd::update(const ParamGroup& group, double lr) {
  SgdStepParams p;
  p.lr = static_cast<float>(lr);
  p.weight_decay = static_cast<float>(group.weight_decay);
  p.momentum = static_cast<float>(options_.momentum);
  p.nesterov = options_.nesterov;
  p.step_values = device_step_values(group);
  const Tensor& params = model().params();
  Backend& backend = backend_of(params);
  for (const Span& s : group.spans) backend.sgd_step(p, params, model().grads(), momentum_, s.begin, s.end);
}

std::vector<float> Sgd::step_values(const ParamGroup&, double lr) const { return {static_cast<float>(lr)}; }

}  // namespace figs::nn
