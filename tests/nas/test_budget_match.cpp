// Budget-matched baselines: the width multiplier and random search at a target count.
#include <algorithm>
#include <cmath>

#include "nas/architecture.h"
#include "nas/budget_match.h"
#include "nas/baselines/random_search.h"
#include "nas/baselines/width_multiplier.h"
#include "test_util.h"

namespace figs::nas {
namespace {

int64_t params_of(const SearchSpace& space, const WidthMap& widths) { return describe_architecture(space, widths).params; }

// The oracle: a brute-force scan of w over [0.25, 1] in steps of 0.005; bisection must do at
// least as well as the best grid point.
TEST(MatchWidthMultiplier, AtLeastAsCloseAsABruteForceScan) {
  for (const char* preset : {"tiny28"}) {
    const auto space = make_space("oneshot", preset);
    const double full = static_cast<double>(params_of(*space, space->full_widths()));
    for (double fraction : {0.3, 0.5, 0.8}) {
      const double target = fraction * full;
      const BudgetMatch m = match_width_multiplier(*space, CostKind::Params, target);
      EXPECT_EQ(m.widths, width_multiplier_map(*space, m.multiplier));
      EXPECT_EQ(m.count, params_of(*space, m.widths));
      double best = INFINITY;
      for (double w = kMinMultiplier; w <= 1.0; w += 0.005)
        best = std::min(best, std::abs(std::log(params_of(*space, width_multiplier_map(*space, w)) / target)));
      EXPECT_LE(std::abs(std::log(m.count / target)), best + 1e-12) << preset << " at " << fraction;
      EXPECT_NEAR(m.count / target, 1.0, 0.05) << preset << " at " << fraction;
    }
  }
}

TEST(MatchWidthMultiplier, TargetsOutOfReachAreErrors) {
  const auto space = make_space("oneshot", "tiny28");
  EXPECT_ERROR_MENTIONS(match_width_multiplier(*space, CostKind::Params, 1e9), "outside what w in [0.25, 1] reaches");
  EXPECT_ERROR_MENTIONS(match_width_multiplier(*space, CostKind::Params, 10), "outside what w in [0.25, 1] reaches");
  EXPECT_ERROR_MENTIONS(match_width_multiplier(*space, CostKind::Params, 0), "must be > 0");
}

TEST(MatchRandomArchitecture, ReproducibleWithinToleranceAndRemovesItsOperators) {
  const auto space = make_space("oneshot", "tiny28");
  const double target = 0.4 * params_of(*space, space->full_widths());
  const BudgetMatch a = match_random_architecture(*space, CostKind::Params, target, 11);
  const BudgetMatch b = match_random_architecture(*space, CostKind::Params, target, 11);
  EXPECT_EQ(a.widths, b.widths);
  EXPECT_EQ(a.index, b.index);
  EXPECT_NEAR(a.count / target, 1.0, 0.05);
  EXPECT_EQ(a.count, params_of(*space, a.widths));
  EXPECT_EQ(a.removed_operators, sample_random_architecture(*space, 11, a.index).removed_operators);
  for (const OperatorChoice& c : space->operator_choices()) {
    if (std::find(a.removed_operators.begin(), a.removed_operators.end(), c.name) == a.removed_operators.end()) continue;
    for (const std::string& key : c.keys) EXPECT_EQ(a.widths.at(key), 0) << key;
  }
  bool differs = false;
  for (uint64_t seed = 12; seed < 16 && !differs; ++seed)
    differs = match_random_architecture(*space, CostKind::Params, target, seed).widths != a.widths;
  EXPECT_TRUE(differs) << "every seed gave the same architecture";
  EXPECT_ERROR_MENTIONS(match_random_architecture(*space, CostKind::Params, 1e9, 11, 0.05, 3),
                        "none of 3 random operator subsets");
}


TEST(RescaledWidth, RoundsClampsAndKeepsRemovedUnitsRemoved) {
  EXPECT_EQ(rescaled_width(10, 24, 1.26), 13);  // 12.6 rounds up
  EXPECT_EQ(rescaled_width(10, 24, 1.24), 12);
  EXPECT_EQ(rescaled_width(10, 24, 3.0), 24);   // never wider than the supernet
  EXPECT_EQ(rescaled_width(3, 24, 0.1), 1);     // a kept unit keeps one channel
  EXPECT_EQ(rescaled_width(0, 24, 5.0), 0);     // a removed one stays removed
  EXPECT_EQ(rescaled_width(8, 32, 1.3, 4), 12);  // 10.4 -> 3 quanta of 4
  EXPECT_EQ(rescaled_width(4, 32, 0.2, 4), 4);   // at least one quantum
  EXPECT_ERROR_MENTIONS(rescaled_width(30, 24, 1.0), "0 <= found <= full");
}

// The expand step on a known map: a width-multiplier network at w = 0.5 rescaled onto the count
// of another w must land as close as the exact optimum over all factors, keep removed operators
// removed and never exceed the supernet. The oracle: a width only changes where s * found /
// quantum crosses a half-integer, so the count is constant between those breakpoints and one
// factor inside each interval reaches every count there is.
TEST(RescaleToBudget, LandsAsCloseAsEveryReachableCountAndKeepsTheFoundStructure) {
  const auto space = make_space("oneshot", "tiny28");
  const WidthMap full = space->full_widths();
  WidthMap found = width_multiplier_map(*space, 0.5);
  const OperatorChoice removed = space->operator_choices().front();
  for (const std::string& key : removed.keys) found[key] = 0;
  std::vector<double> breaks = {0.125, 8.0};
  for (const auto& [key, width] : found) {
    const double q = static_cast<double>(space->width_quantum(key));
    for (int64_t k = 0; width > 0 && k * q <= full.at(key); ++k) {
      const double b = (static_cast<double>(k) + 0.5) * q / static_cast<double>(width);
      if (b > 0.125 && b < 8.0) breaks.push_back(b);
    }
  }
  std::sort(breaks.begin(), breaks.end());
  breaks.erase(std::unique(breaks.begin(), breaks.end()), breaks.end());
  std::vector<int64_t> reachable;
  auto scaled_count = [&](double s) {
    WidthMap scaled;
    for (const auto& [key, width] : found) scaled[key] = rescaled_width(width, full.at(key), s, space->width_quantum(key));
    return params_of(*space, scaled);
  };
  for (size_t i = 0; i + 1 < breaks.size(); ++i) reachable.push_back(scaled_count(0.5 * (breaks[i] + breaks[i + 1])));
  reachable.push_back(scaled_count(8.0));
  reachable.push_back(params_of(*space, found));
  for (double w : {0.3, 0.75, 0.95}) {
    const double target = static_cast<double>(params_of(*space, width_multiplier_map(*space, w)));
    const BudgetMatch m = rescale_to_budget(*space, CostKind::Params, target, found);
    EXPECT_EQ(m.count, params_of(*space, m.widths));
    for (const std::string& key : removed.keys) EXPECT_EQ(m.widths.at(key), 0) << key;
    for (const auto& [key, width] : m.widths) {
      EXPECT_LE(width, full.at(key)) << key;
      if (found.at(key) > 0) {
        EXPECT_GE(width, 1) << key;
      }
    }
    double best = INFINITY;
    for (int64_t count : reachable) best = std::min(best, std::abs(std::log(count / target)));
    EXPECT_LE(std::abs(std::log(m.count / target)), best + 1e-12) << "target from w = " << w;
  }
  // A found map already on the target is kept as it is.
  const double on_target = static_cast<double>(params_of(*space, found));
  const BudgetMatch same = rescale_to_budget(*space, CostKind::Params, on_target, found);
  EXPECT_EQ(same.widths, found);
  EXPECT_EQ(same.multiplier, 1.0);
}

}  // namespace
}  // namespace figs::nas
