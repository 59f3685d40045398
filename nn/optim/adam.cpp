#include "nn/optim/adam.h"

#include <cmath>

#include "core/backend.h"

namespace figs::nn {

Adam::Adam(Model& model, const AdamOptions& o, const std::vector<ParamGroupSpec>& groups)
    : Adam(model, o, groups, false) {}

Adam::Adam(Model& model, const AdamOptions& o, const std::vector<ParamGroupSpec>& groups, bool decoupled)
    : Optimizer(model, o.lr, o.weight_decay, groups), options_(o), decoupled_(decoupled) {
  check_hyper(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
              str_cat("betas must be in [0, 1), got (", o.beta1, ", ", o.beta2, ")"));
  check_hyper(o.eps > 0, str_cat("eps must be > 0, got ", o.eps));
  exp_avg_ = make_state();
  exp_avg_sq_ = make_state();
}

std::vector<NamedTensor> Adam::state() const { return {{"exp_avg", exp_avg_}, {"exp_avg_sq", exp_avg_sq_}}; }

AdamStepParams Adam::step_params(const ParamGroup& group, double lr) const {
  const double t = static_cast<double>(step_count());
  const double bc1 = 1.0 - std::pow(options_.beta1, t), bc2 = 1.0 - std::pow(options_.beta2, t);
  // standard: p -= step * m / (sqrt(v) * inv_sqrt_bc2 + eps); tf_epsilon: the same with
  // inv_sqrt_bc2 = 1 and step scaled by sqrt(bc2).
  const bool tf = options_.tf_epsilon;
  AdamStepParams p;
  p.step_size = static_cast<float>(tf ? lr * std::sqrt(bc2) / bc1 : lr / bc1);
  p.inv_sqrt_bc2 = static_cast<float>(tf ? 1.0 : 1.0 / std::sqrt(bc2));
  p.beta1 = static_cast<float>(options_.beta1);
  p.beta2 = static_cast<float>(options_.beta2);
  p.eps = static_cast<float>(options_.eps);
  p.weight_decay = static_cast<float>(group.weight_decay);
  p.decay = static_cast<float>(1.0 - lr * group.weight_decay);
  p.decoupled = decoupled_;
  return p;
}

std::vector<float> Adam::step_values(const ParamGroup& group, double lr) const {
  const AdamStepParams p = step_params(group, lr);
  return {p.step_size, p.inv_sqrt_bc2, p.decay};
}

void Adam::update(const ParamGroup& group, double lr) {
  AdamStepParams p = step_params(group, lr);
  p.step_values = device_step_values(group);
  const Tensor& params = model().params();
  Backend& backend = backend_of(params);
  for (const Span& s : group.spans)
    backend.adam_step(p, params, model().grads(), exp_avg_, exp_avg_sq_, s.begin, s.end);
}

}  // namespace figs::nn
