#include "nas/objective.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "core/backend.h"
#include "core/autograd_meta.h"

namespace figs::nas {

void SearchPenalty::keep_lambda_on(Device device) {
  device_lambda_ = full({}, lambda(), {DType::Float64, device});
}

Tensor SearchPenalty::times_lambda(const Tensor& cost, double lambda) const {
  if (!device_lambda_.defined()) return mul_scalar(cost, lambda);
  FIGS_CHECK(device_lambda_.device() == cost.device(), "penalty: the cost is on ", cost.device(),
             " but lambda is kept on ", device_lambda_.device());
  return mul(cost, cost.dtype() == DType::Float64 ? device_lambda_ : cast(device_lambda_, cost.dtype()));
}

void SearchPenalty::lambda_changed(double lambda) {
  if (device_lambda_.defined()) backend_of(device_lambda_).fill(device_lambda_, lambda);
}

CostPenalty::CostPenalty(const ChannelGraph& graph, const PenaltyOptions& options)
    : graph_(graph), options_(options) {
  FIGS_CHECK(options.lambda >= 0, "CostPenalty: lambda must be >= 0, got ", options.lambda);
  {
    NoGradGuard no_grad;
    initial_cost_ = graph.cost(options.kind).item<double>();
  }
  last_cost_ = initial_cost_;
  FIGS_CHECK(!options.relative_lambda || initial_cost_ > 0, "CostPenalty: relative lambda needs a positive initial ",
             cost_kind_name(options.kind), " cost");
  lambda_ = options.relative_lambda ? options.lambda / initial_cost_ : options.lambda;
}

Tensor CostPenalty::operator()(const std::vector<Tensor>& sampled) {
  const Tensor cost = graph_.cost(options_.kind, options_.form, sampled);
  last_cost_tensor_ = cost.detach();
  cost_read_ = false;
  return times_lambda(cost, lambda_);
}

double CostPenalty::last_cost() const {
  if (!cost_read_) {
    last_cost_ = last_cost_tensor_.item<double>();
    cost_read_ = true;
  }
  return last_cost_;
}

std::vector<Tensor> CostPenalty::alive_readout() const {
  std::vector<Tensor> logits;
  for (const TracedMask& m : graph_.masks()) logits.push_back(m.logits.detach());
  return logits;
}

int64_t CostPenalty::note_readout(const std::vector<double>& logits) {
  const std::vector<TracedMask>& masks = graph_.masks();
  FIGS_CHECK(static_cast<int64_t>(logits.size()) == channels(), "CostPenalty::note_readout: ", logits.size(),
             " values for ", channels(), " mask channels");
  last_logits_.resize(masks.size());
  auto next = logits.begin();
  for (size_t m = 0; m < masks.size(); ++m) {
    last_logits_[m].assign(next, next + masks[m].logits.numel());
    next += masks[m].logits.numel();
  }
  return std::count_if(logits.begin(), logits.end(), [](double v) { return v >= 0; });
}

int64_t CostPenalty::channels() const {
  int64_t n = 0;
  for (const TracedMask& m : graph_.masks()) n += m.logits.numel();
  return n;
}

void CostPenalty::set_lambda(double lambda) {
  FIGS_CHECK(std::isfinite(lambda) && lambda >= 0, "CostPenalty: lambda must be >= 0, got ", lambda);
  lambda_ = lambda;
  lambda_changed(lambda);
}

std::vector<LayerWidth> export_widths(const ChannelGraph& graph, WidthRule rule, double threshold,
                                      const std::vector<Tensor>& last_masks) {
  const auto& masks = graph.masks();
  FIGS_CHECK(rule != WidthRule::LastSample || last_masks.size() == masks.size(), "export_widths: the last-sample "
             "rule needs one mask per masked layer (", masks.size(), "), got ", last_masks.size());
  std::vector<std::vector<double>> per_mask;
  const std::vector<std::vector<double>> logits =
      rule == WidthRule::LastSample ? std::vector<std::vector<double>>{} : graph.mask_logits_on_host();
  for (size_t m = 0; m < masks.size(); ++m) {
    std::vector<double> v = rule == WidthRule::LastSample ? last_masks[m].to_vector<double>() : logits[m];
    if (rule != WidthRule::LastSample)
      for (double& x : v) x = x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
    per_mask.push_back(v);
  }
  const std::vector<double> p = graph.group_probabilities(per_mask);
  std::vector<LayerWidth> out;
  for (const TracedMask& m : masks) {
    double sum = 0;
    int64_t counted = 0;
    for (int64_t c = 0; c < m.channels; ++c) {
      const double pc = p[graph.group_of(m.slot + c)];
      sum += pc;
      counted += rule == WidthRule::LastSample ? pc >= 0.1 : pc >= threshold;
    }
    // A tiny epsilon keeps floor() from dropping a channel to rounding (sum of 1 - 2e-9 terms).
    const int64_t width = rule == WidthRule::FloorSum ? static_cast<int64_t>(std::floor(sum + 1e-6)) : counted;
    out.push_back({m.name, m.channels, width});
  }
  return out;
}

}  // namespace figs::nas
