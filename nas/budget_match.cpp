#include "nas/budget_match.h"

#include <cmath>
#include <functional>

#include "nas/architecture.h"
#include "nas/random_search.h"
#include "nas/width_multiplier.h"

namespace figs::nas {

namespace {

int64_t count_of(const SearchSpace& space, const WidthMap& widths, CostKind kind) {
  const Architecture a = describe_architecture(space, widths);
  return kind == CostKind::Params ? a.params : a.macs;
}

// Bisection on w for the map `at(w)`; returns the closest of the probed maps.
BudgetMatch bisect(const SearchSpace& space, CostKind kind, double target,
                   const std::function<WidthMap(double)>& at) {
  BudgetMatch best;
  double best_error = INFINITY;
  auto probe = [&](double w) {
    WidthMap widths = at(w);
    const int64_t count = count_of(space, widths, kind);
    const double error = std::abs(std::log(static_cast<double>(count) / target));
    if (error < best_error) {
      best_error = error;
      best.widths = std::move(widths);
      best.multiplier = w;
      best.count = count;
    }
    return count;
  };
  double lo = kMinMultiplier, hi = 1.0;
  if (probe(lo) >= target || probe(hi) <= target) return best;  // the target is at or beyond an end
  // Widths are integers, so the count is a step function of w: 20 halvings resolve every step
  // of any space whose widest unit has fewer than ~10^5 channels.
  for (int i = 0; i < 20; ++i) {
    const double mid = 0.5 * (lo + hi);
    (probe(mid) < target ? lo : hi) = mid;
  }
  return best;
}

const char* unit(CostKind kind) { return kind == CostKind::Params ? "params" : "MACs"; }

}  // namespace

BudgetMatch match_width_multiplier(const SearchSpace& space, CostKind kind, double target) {
  FIGS_CHECK(target > 0, "width multiplier: the target must be > 0, got ", target);
  const BudgetMatch m = bisect(space, kind, target, [&](double w) { return width_multiplier_map(space, w); });
  const int64_t low = count_of(space, width_multiplier_map(space, kMinMultiplier), kind);
  const int64_t high = count_of(space, space.full_widths(), kind);
  FIGS_CHECK(target >= low && target <= high, "width multiplier: a target of ", target, " ", unit(kind),
             " is outside what w in [0.25, 1] reaches on ", space.name(), "/", space.preset(), " (", low, " .. ", high,
             ")");
  return m;
}

BudgetMatch match_random_architecture(const SearchSpace& space, CostKind kind, double target, uint64_t seed,
                                      double tolerance, int max_samples) {
  FIGS_CHECK(target > 0 && tolerance > 0 && max_samples > 0, "random search: target, tolerance and max_samples must "
             "be > 0");
  std::vector<OperatorChoice> choices = space.operator_choices();
  BudgetMatch closest;
  double closest_error = INFINITY;
  for (int index = 0; index < max_samples; ++index) {
    const RandomArchitecture sample = sample_random_architecture(space, seed, static_cast<uint64_t>(index));
    auto at = [&](double w) {
      WidthMap widths = width_multiplier_map(space, w);
      for (const OperatorChoice& c : choices)
        for (const std::string& removed : sample.removed_operators)
          if (c.name == removed)
            for (const std::string& key : c.keys) widths[key] = 0;
      return widths;
    };
    BudgetMatch m = bisect(space, kind, target, at);
    m.removed_operators = sample.removed_operators;
    m.index = static_cast<uint64_t>(index);
    const double error = std::abs(static_cast<double>(m.count) / target - 1);
    if (error <= tolerance) return m;
    if (error < closest_error) {
      closest_error = error;
      closest = std::move(m);
    }
  }
  fail("random search: none of ", max_samples, " random operator subsets of ", space.name(), "/", space.preset(),
       " (seed ", seed, ") reaches ", target, " ", unit(kind), " within ", 100 * tolerance, "% at w in [0.25, 1]; the "
       "closest has ", closest.count);
}

}  // namespace figs::nas
