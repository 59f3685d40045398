// Budget-matched baselines (../shared/spec/figs-method.md, section 6): the width multiplier and
// random search at a given cost, so that they are compared with FiGS and MorphNet at the budgets
// those were asked for.
//
// Both search the multiplier w in [kMinMultiplier, 1] by bisection on the exported count (it
// grows with w, up to the rounding of each width), then keep the w whose count is closest to the
// target. Random search draws its operator subsets from sample_random_architecture(seed, index)
// for index = 0, 1, ...: the first subset whose best w lands within `tolerance` of the target is
// the architecture (its own random w is replaced by the matched one), so the result is a
// function of (space, seed, target) alone.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nas/channel_graph.h"
#include "nas/space.h"

namespace figs::nas {

inline constexpr double kMinMultiplier = 0.25;

struct BudgetMatch {
  WidthMap widths;
  double multiplier = 1;
  int64_t count = 0;  // params or MACs of the network built from `widths`
  std::vector<std::string> removed_operators;  // random search: the subset's removed operators
  uint64_t index = 0;                           // random search: the sample that matched
};

// The width multiplier whose network's count is closest to `target`. Errors when the target is
// outside what w in [0.25, 1] can reach (naming both ends).
BudgetMatch match_width_multiplier(const SearchSpace& space, CostKind kind, double target);

// A random architecture (operator subset from the seed, w matched) within `tolerance` (relative)
// of `target`; tries up to `max_samples` subsets, then errors naming the closest it found.
BudgetMatch match_random_architecture(const SearchSpace& space, CostKind kind, double target, uint64_t seed,
                                      double tolerance = 0.05, int max_samples = 200);

// MorphNet's expand step (Gordon et al., 2018): the widths a search found, all scaled by one
// factor s, so that an export that missed its budget lands on it. Each width becomes
// rescaled_width(found, full, s, quantum); removed units (width 0) stay removed and kept ones keep
// at least one channel (one quantum), so the network stays connected and never outgrows the
// supernet. `multiplier` of the result is s, searched on [1/8, 8].
BudgetMatch rescale_to_budget(const SearchSpace& space, CostKind kind, double target, const WidthMap& found);

// round(s * found) to a multiple of `quantum`, at least `quantum`, at most `full`; 0 stays 0.
int64_t rescaled_width(int64_t found, int64_t full, double s, int64_t quantum = 1);

// The factor in [lo, hi] whose count is closest to `target` (in ratio), for a count that grows
// with the factor (a step function: widths are integers); bisection, 30 halvings.
double closest_factor(double lo, double hi, double target, const std::function<int64_t(double)>& count_at);

}  // namespace figs::nas
