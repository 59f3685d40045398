// Budget-matched baselines: the width multiplier and random search at a target count.
#include <algorithm>
#include <cmath>

#include "nas/architecture.h"
#include "nas/budget_match.h"
#include "nas/random_search.h"
#include "nas/width_multiplier.h"
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

}  // namespace
}  // namespace figs::nas
