#include "nas/budget_match.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "nas/architecture.h"
#include "nas/baselines/random_search.h"
#include "nas/baselines/width_multiplier.h"

namespace figs::nas {

namespace {

int64_t count_of(const SearchSpace& space, const WidthMap& widths, CostKind kind) {
  const Architecture a = describe_architecture(space, widths);
  return kind == CostKind::Params ? a.params : a.macs;
}

// The closest width map of the family `at(w)`, w in [kMinMultiplier, 1].
BudgetMatch bisect(const SearchSpace& space, CostKind kind, double target,
                   const std::function<WidthMap(double)>& at) {
  BudgetMatch best;
  best.multiplier = closest_factor(kMinMultiplier, 1.0, target, [&](double w) { return count_of(space, at(w), kind); });
  best.widths = at(best.multiplier);
  best.count = count_of(space, best.widths, kind);
  return best;
}

const char* unit(CostKind kind) { return kind == CostKind::Params ? "params" : "MACs"; }

}  // namespace

double closest_factor(double lo, double hi, double target, const std::function<int64_t(double)>& count_at) {
  FIGS_CHECK(lo > 0 && lo < hi && target > 0, "closest_factor: needs 0 < lo < hi and target > 0, got ", lo, ", ", hi,
             ", ", target);
  double best = lo, best_error = INFINITY;
  auto probe = [&](double f) {
    const int64_t count = count_at(f);
    const double error = std::abs(std::log(static_cast<double>(count) / target));
    if (error < best_error) {
      best_error = error;
      best = f;
    }
    return count;
  };
  if (probe(lo) >= target || probe(hi) <= target) return best;  // the target is at or beyond an end
  // The count is a step function of the factor: 30 halvings resolve every step of a range up to
  // 8x for units narrower than ~10^7 channels.
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    (probe(mid) < target ? lo : hi) = mid;
  }
  return best;
}

int64_t rescaled_width(int64_t found, int64_t full, double s, int64_t quantum) {
  FIGS_CHECK(quantum >= 1 && found >= 0 && found <= full && s > 0, "rescaled_width: needs quantum >= 1, 0 <= found <= "
             "full and s > 0, got quantum ", quantum, ", found ", found, ", full ", full, ", s ", s);
  if (found == 0) return 0;
  const double steps = std::round(s * static_cast<double>(found) / static_cast<double>(quantum));
  return std::min(full, std::max<int64_t>(1, static_cast<int64_t>(steps)) * quantum);
}

BudgetMatch rescale_to_budget(const SearchSpace& space, CostKind kind, double target, const WidthMap& found) {
  FIGS_CHECK(target > 0, "rescale to budget: the target must be > 0, got ", target);
  const WidthMap full = space.full_widths();
  auto at = [&](double s) {
    WidthMap widths;
    for (const auto& [key, w] : found) {
      const auto f = full.find(key);
      FIGS_CHECK(f != full.end(), "rescale to budget: '", key, "' is not a width key of ", space.name(), "/",
                 space.preset());
      widths[key] = rescaled_width(w, f->second, s, space.width_quantum(key));
    }
    return widths;
  };
  BudgetMatch m;
  m.multiplier = closest_factor(1.0 / 8, 8.0, target, [&](double s) { return count_of(space, at(s), kind); });
  // s = 1 rounds every width to itself; keep the found map when it is as close as the best.
  const int64_t found_count = count_of(space, found, kind);
  m.widths = at(m.multiplier);
  m.count = count_of(space, m.widths, kind);
  if (std::abs(std::log(static_cast<double>(found_count) / target)) <= std::abs(std::log(static_cast<double>(m.count) / target))) {
    m.widths = found;
    m.multiplier = 1;
    m.count = found_count;
  }
  return m;
}

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
