#include "nn/optim/adam.h"

#include <cmath>

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

void Adam::update(const ParamGroup& group, double lr, float* p, const float* grad, int64_t begin, int64_t end) {
  const double t = static_cast<double>(step_count());
  const double bc1 = 1.0 - std::pow(options_.beta1, t), bc2 = 1.0 - std::pow(options_.beta2, t);
  // standard: p -= step * m / (sqrt(v) * inv_sqrt_bc2 + eps); tf_epsilon: the same with
  // inv_sqrt_bc2 = 1 and step scaled by sqrt(bc2).
  const bool tf = options_.tf_epsilon;
  const float step = static_cast<float>(tf ? lr * std::sqrt(bc2) / bc1 : lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(tf ? 1.0 : 1.0 / std::sqrt(bc2));
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float eps = static_cast<float>(options_.eps), wd = static_cast<float>(group.weight_decay);
  const float decay = static_cast<float>(1.0 - lr * group.weight_decay);
  float* m = exp_avg_.data<float>();
  float* v = exp_avg_sq_.data<float>();
  for (int64_t i = begin; i < end; ++i) {
    float g = grad[i];
    if (decoupled_)
      p[i] *= decay;
    else
      g += wd * p[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    p[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace figs::nn
