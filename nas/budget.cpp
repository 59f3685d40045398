#include "nas/budget.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace figs::nas {

LambdaController::LambdaController(double target, double initial_lambda, const LambdaControllerOptions& options)
    : target_(target), current_target_(target), lambda_(initial_lambda), dual_(initial_lambda), options_(options) {
  FIGS_CHECK(std::isfinite(target) && target > 0, "LambdaController: the target cost must be > 0, got ", target);
  FIGS_CHECK(std::isfinite(initial_lambda) && initial_lambda > 0, "LambdaController: the initial lambda must be > 0 "
             "(dual ascent moves log(lambda)), got ", initial_lambda);
  FIGS_CHECK(options.gain > 0 && options.brake >= 0 && options.dead_band >= 0 && options.range >= 1 &&
                 options.ramp_updates >= 0,
             "LambdaController: needs gain > 0, brake >= 0, dead_band >= 0 and range >= 1 (got ", options.gain, ", ",
             options.brake, ", ", options.dead_band, ", ", options.range, ")");
  min_lambda_ = initial_lambda / options.range;
  max_lambda_ = initial_lambda * options.range;
}

void LambdaController::restore(const State& s) {
  FIGS_CHECK(s.lambda >= 0 && s.dual > 0 && s.updates >= 0, "LambdaController::restore: not a controller state (lambda ",
             s.lambda, ", dual ", s.dual, ", updates ", s.updates, ")");
  lambda_ = s.lambda, dual_ = s.dual, current_target_ = s.current_target, first_cost_ = s.first_cost;
  last_error_ = s.last_error, updates_ = s.updates;
}

nlohmann::json LambdaController::state_json() const {
  return {{"lambda", lambda_}, {"dual", dual_}, {"current_target", current_target_}, {"first_cost", first_cost_},
          {"last_error", last_error_}, {"updates", updates_}};
}

void LambdaController::restore_json(const JsonReader& c) {
  restore({c["lambda"].number(), c["dual"].number(), c["current_target"].number(), c["first_cost"].number(),
           c["last_error"].number(), c["updates"].integer()});
}

LambdaControllerOptions search_controller_options(int64_t ramp_updates, double range) {
  return {.gain = 0.05, .brake = 0.05, .ramp_updates = ramp_updates, .range = range};
}

double LambdaController::update(double current_cost) {
  FIGS_CHECK(std::isfinite(current_cost) && current_cost >= 0, "LambdaController: the current cost must be a finite "
             "number >= 0, got ", current_cost);
  // A cost of 0 is as far below the target as the clamp allows.
  if (updates_ == 0) first_cost_ = current_cost;
  ++updates_;
  current_target_ = target_;
  if (options_.ramp_updates > 0 && first_cost_ > target_) {
    const double f = std::min(1.0, static_cast<double>(updates_) / static_cast<double>(options_.ramp_updates));
    current_target_ = std::exp((1 - f) * std::log(first_cost_) + f * std::log(target_));
  }
  last_error_ = current_cost > 0 ? std::log(current_cost / current_target_) : -1.0;
  const double e = std::clamp(last_error_, -1.0, 1.0);
  if (std::abs(last_error_) > options_.dead_band)
    dual_ = std::clamp(dual_ * std::exp(options_.gain * e), min_lambda_, max_lambda_);
  lambda_ = options_.brake > 0 ? dual_ * std::clamp(last_error_ / options_.brake, 0.0, 1.0) : dual_;
  return lambda_;
}

namespace {

// Each group's keep probability p from the masks' logits (per mask, in graph.masks() order),
// with the sigmoid written so that neither tail overflows.
std::vector<double> group_keep_probabilities(const ChannelGraph& graph, std::vector<std::vector<double>> logits,
                                             const char* who) {
  FIGS_CHECK(logits.size() == graph.masks().size(), who, ": logits of ", logits.size(), " masks for ",
             graph.masks().size());
  for (std::vector<double>& v : logits)
    for (double& x : v) x = x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
  return graph.group_probabilities(logits);
}

}  // namespace

double exported_count(const ChannelGraph& graph, CostKind kind, WidthRule rule, double threshold) {
  return exported_count(graph, kind, graph.mask_logits_on_host(), rule, threshold);
}

double exported_count(const ChannelGraph& graph, CostKind kind, const std::vector<std::vector<double>>& logits,
                      WidthRule rule, double threshold) {
  FIGS_CHECK(rule == WidthRule::FloorSum || rule == WidthRule::Threshold, "exported_count: the last-sample rule "
             "depends on a sampled mask, not on the logits");
  const auto& masks = graph.masks();
  const std::vector<double> p = group_keep_probabilities(graph, logits, "exported_count");
  // Groups under a mask start dead; each mask revives its floor(sum p) most probable channels.
  std::vector<bool> alive(graph.num_groups(), true);
  for (const TracedMask& m : masks)
    for (int64_t c = 0; c < m.channels; ++c) alive[graph.group_of(m.slot + c)] = false;
  for (const TracedMask& m : masks) {
    double sum = 0;
    int64_t counted = 0;
    for (int64_t c = 0; c < m.channels; ++c) {
      const double pc = p[graph.group_of(m.slot + c)];
      sum += pc;
      counted += pc >= threshold;
    }
    const int64_t width = rule == WidthRule::FloorSum ? static_cast<int64_t>(std::floor(sum + 1e-6))  // as export_widths
                                                      : counted;
    std::vector<int64_t> order(m.channels);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return p[graph.group_of(m.slot + a)] > p[graph.group_of(m.slot + b)];
    });
    for (int64_t i = 0; i < width; ++i) alive[graph.group_of(m.slot + order[i])] = true;
  }
  return graph.count(kind, alive);
}

BudgetExport budget_export(const ChannelGraph& graph, CostKind kind, const std::vector<std::vector<double>>& logits,
                           double target) {
  FIGS_CHECK(std::isfinite(target) && target > 0, "budget_export: the target must be > 0, got ", target);
  const auto& masks = graph.masks();
  const std::vector<double> p = group_keep_probabilities(graph, logits, "budget_export");
  // The groups under a mask, each with its tie-break: the lowest c / C over its masks' channels.
  const int64_t G = graph.num_groups();
  std::vector<double> position(G, 2.0);  // 2: no mask on the group (always kept)
  for (const TracedMask& m : masks)
    for (int64_t c = 0; c < m.channels; ++c) {
      double& pos = position[graph.group_of(m.slot + c)];
      pos = std::min(pos, static_cast<double>(c) / static_cast<double>(m.channels));
    }
  std::vector<int64_t> order;
  for (int64_t g = 0; g < G; ++g)
    if (position[g] < 2.0) order.push_back(g);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return p[a] != p[b] ? p[a] > p[b] : position[a] < position[b];
  });
  const auto alive_with = [&](size_t kept) {
    std::vector<bool> alive(G, true);
    for (size_t i = kept; i < order.size(); ++i) alive[order[i]] = false;
    return alive;
  };
  const auto count_with = [&](size_t kept) { return graph.count(kind, alive_with(kept)); };
  FIGS_CHECK(count_with(0) <= target, "budget_export: the network without any masked channel counts ", count_with(0),
             ", over the target ", target);
  // The most groups whose count fits (the count grows with what is kept).
  size_t lo = 0, hi = order.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (count_with(mid) <= target)
      lo = mid;
    else
      hi = mid - 1;
  }
  BudgetExport out;
  const std::vector<bool> alive = alive_with(lo);
  out.cut_p = lo > 0 ? p[order[lo - 1]] : 1.0;
  out.count = graph.count(kind, alive);
  for (const TracedMask& m : masks) {
    int64_t width = 0;
    for (int64_t c = 0; c < m.channels; ++c) width += alive[graph.group_of(m.slot + c)];
    out.widths.push_back({m.name, m.channels, width});
  }
  return out;
}

}  // namespace figs::nas
