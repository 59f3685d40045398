// Operator choices of every space and the random-search sampler (nas/baselines/random_search.h): every
// sample builds, (seed, index) reproduces it, the documented Philox layout drives it, groups that
// must keep an operator do, and dropping an operator really removes its parameters.
#include <set>

#include "core/rng.h"
#include "nas/baselines/random_search.h"
#include "nas/baselines/width_multiplier.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

const char* kNineCandidates =
    R"({"space":"fbnet","preset":"small28","candidates":["k3_e1","k3_e1_g2","k3_e3","k3_e6","k5_e1","k5_e1_g2","k5_e3","k5_e6","skip"]})";

std::vector<std::unique_ptr<SearchSpace>> tiny_spaces() {
  std::vector<std::unique_ptr<SearchSpace>> out;
  out.push_back(make_space("oneshot", "tiny28"));
  out.push_back(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","ops":["sep3","sep5","conv17_71"]})"));
  out.push_back(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","aggregator":"sum"})"));
  out.push_back(make_space("resnet", "small28"));
  out.push_back(make_space_from_json(
      R"({"space":"resnet","preset":"small28","block":"bottleneck","expansion":4,"widths":[4,8,16],"blocks":[2,2,2]})"));
  out.push_back(make_space("fbnet", "small28"));
  out.push_back(make_space_from_json(R"({"space":"fbnet","preset":"small28","candidates":["k3_e6","k5_e6"]})"));
  out.push_back(make_space_from_json(kNineCandidates));
  return out;
}

TEST(OperatorChoices, OneShotListsTheOperatorsWithConvs) {
  const auto space = make_space("oneshot", "tiny28");
  const std::vector<OperatorChoice> c = space->operator_choices();
  ASSERT_EQ(c.size(), 14u);  // 2 cells x 2 blocks x (sep3, sep5, conv17_71), + each cell's last block
  EXPECT_EQ(c[0].name, "cell0.block0.sep3");
  EXPECT_EQ(c[0].group, "cell0.block0");
  EXPECT_EQ(c[0].keys, (std::vector<std::string>{"cell0.block0.sep3.pw1", "cell0.block0.sep3.pw2"}));
  EXPECT_EQ(c[2].keys, (std::vector<std::string>{"cell0.block0.conv17_71.conv17", "cell0.block0.conv17_71.conv71"}));
  EXPECT_EQ(c[6].name, "cell0.block1");  // the last block: its proj feeds only the cell's concat
  EXPECT_EQ(c[6].group, "cell0");
  EXPECT_EQ(c[6].keys, (std::vector<std::string>{"cell0.block1.proj"}));
  for (const OperatorChoice& o : c) EXPECT_FALSE(o.group_needs_one) << o.name;  // identity and max3 stay
  const auto no_pools = make_space_from_json(R"({"space":"oneshot","preset":"tiny28","ops":["sep3","conv17_71"]})");
  for (const OperatorChoice& o : no_pools->operator_choices())  // block0 always stays in a cell
    EXPECT_EQ(o.group_needs_one, o.keys[0].find(".proj") == std::string::npos) << o.name;
}

TEST(OperatorChoices, ResNetListsEveryResidualBranch) {
  const std::vector<OperatorChoice> c = make_space("resnet", "small28")->operator_choices();
  ASSERT_EQ(c.size(), 9u);
  EXPECT_EQ(c[4].name, "layer2.1");
  EXPECT_EQ(c[4].keys, std::vector<std::string>{"layer2.1.conv1"});
  const auto bottleneck = make_space("resnet", "resnet50");
  const std::vector<OperatorChoice> b = bottleneck->operator_choices();
  ASSERT_EQ(b.size(), 16u);
  EXPECT_EQ(b[0].keys, (std::vector<std::string>{"layer1.0.conv1", "layer1.0.conv2"}));
  for (const OperatorChoice& o : b) EXPECT_FALSE(o.group_needs_one);  // the shortcut stays
}

TEST(OperatorChoices, FBNetListsCandidateBlocksAndNeedsOneOnlyWithoutASkip) {
  const std::vector<OperatorChoice> c = make_space("fbnet", "small28")->operator_choices();
  ASSERT_EQ(c.size(), 16u);  // 8 layers x (k3_e6, k5_e6)
  EXPECT_EQ(c[2].name, "stage2.0.k3_e6");
  EXPECT_EQ(c[2].group, "stage2.0");
  EXPECT_EQ(c[2].keys, std::vector<std::string>{"stage2.0.k3_e6.pw"});
  for (const OperatorChoice& o : c) EXPECT_FALSE(o.group_needs_one) << o.name;
  // Without skip a shape-changing layer (stage2.0: 16 -> 24, stride 2) needs a block; a
  // same-shape one (stage1.0: 16 -> 16) is the identity without them.
  const auto no_skip = make_space_from_json(R"({"space":"fbnet","preset":"small28","candidates":["k3_e6","k5_e6"]})");
  for (const OperatorChoice& o : no_skip->operator_choices())
    EXPECT_EQ(o.group_needs_one, o.group != "stage1.0" && o.group != "stage2.1" && o.group != "stage3.1" &&
                                     o.group != "stage4.1")
        << o.name;
}

TEST(OperatorChoices, ChoicesAreContiguousAndTheirKeysFree) {
  for (const auto& space : tiny_spaces()) {
    SCOPED_TRACE(space->config_json());
    const WidthMap full = space->full_widths();
    std::set<std::string> closed;
    std::string current;
    for (const OperatorChoice& o : space->operator_choices()) {
      if (o.group != current) {
        EXPECT_TRUE(closed.insert(o.group).second) << o.group << " is split";
        current = o.group;
      }
      for (const std::string& k : o.keys) EXPECT_TRUE(full.count(k)) << k;
      // Its keys at 0 remove it and the network still builds.
      WidthMap m;
      for (const std::string& k : o.keys) m[k] = 0;
      EXPECT_NO_THROW(space->build(m)) << o.name;
    }
  }
}

// Whether `choice` is removed in `widths` (any of its keys at 0).
bool removed(const OperatorChoice& choice, const WidthMap& widths) {
  for (const std::string& k : choice.keys)
    if (widths.at(k) == 0) return true;
  return false;
}

TEST(RandomSearch, EverySampleBuildsAndKeepsEveryGroupConnected) {
  for (const auto& space : tiny_spaces()) {
    SCOPED_TRACE(space->config_json());
    const std::vector<OperatorChoice> choices = space->operator_choices();
    std::set<std::string> choice_keys;
    for (const OperatorChoice& o : choices) choice_keys.insert(o.keys.begin(), o.keys.end());
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      const RandomArchitecture a = sample_random_architecture(*space, seed, 0);
      EXPECT_GE(a.multiplier, 0.25);
      EXPECT_LE(a.multiplier, 1.0);
      EXPECT_EQ(a.widths.size(), space->full_widths().size());
      EXPECT_NO_THROW(space->build(a.widths)) << "seed " << seed;
      // Keys outside the choices are the multiplier's widths; groups that need one keep one.
      const WidthMap scaled = width_multiplier_map(*space, a.multiplier);
      for (const auto& [key, w] : a.widths) {
        if (!choice_keys.count(key)) {
          EXPECT_EQ(w, scaled.at(key)) << key;
        }
      }
      std::map<std::string, int> kept;
      for (const OperatorChoice& o : choices)
        if (o.group_needs_one) kept[o.group] += !removed(o, a.widths);
      for (const auto& [group, n] : kept) EXPECT_GE(n, 1) << group << ", seed " << seed;
    }
  }
}

TEST(RandomSearch, SameSeedSameArchitectureOtherSeedsOthers) {
  const auto space = make_space("oneshot", "tiny28");
  std::set<WidthMap> seen;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const RandomArchitecture a = sample_random_architecture(*space, seed, 3);
    const RandomArchitecture b = sample_random_architecture(*space, seed, 3);
    EXPECT_EQ(a.widths, b.widths);
    EXPECT_EQ(a.multiplier, b.multiplier);
    EXPECT_EQ(a.removed_operators, b.removed_operators);
    EXPECT_EQ(sample_architecture(*space, seed, 3), a.widths);
    seen.insert(a.widths);
    seen.insert(sample_architecture(*space, seed, 4));  // another index of the same run
  }
  EXPECT_EQ(seen.size(), 40u) << "samples of different (seed, index) coincide";
}

TEST(RandomSearch, FollowsTheDocumentedPhiloxLayout) {
  // One-Shot tiny28 has no group that needs a choice: draw 0 sets w = 0.25 + 0.75 u, draw i + 1
  // keeps choice i when below 1/2.
  const auto space = make_space("oneshot", "tiny28");
  const std::vector<OperatorChoice> choices = space->operator_choices();
  for (uint64_t index : {0, 1, 7}) {
    const uint64_t seed = 12345;
    auto u = [&](uint64_t k) {
      const PhiloxBlock b = philox_draw(seed, (2ull << 40) + index, k);
      return uniform_open_f64(b.w[0], b.w[1]);
    };
    const RandomArchitecture a = sample_random_architecture(*space, seed, index);
    EXPECT_DOUBLE_EQ(a.multiplier, 0.25 + 0.75 * u(0));
    for (size_t i = 0; i < choices.size(); ++i) EXPECT_EQ(removed(choices[i], a.widths), u(i + 1) >= 0.5) << i;
  }
}

TEST(RandomSearch, KeepsAboutHalfTheOperatorsAndSpreadsTheMultiplier) {
  const auto space = make_space("fbnet", "small28");
  const size_t n = space->operator_choices().size();
  size_t dropped = 0;
  double lo = 1, hi = 0;
  for (uint64_t index = 0; index < 200; ++index) {
    const RandomArchitecture a = sample_random_architecture(*space, 9, index);
    dropped += a.removed_operators.size();
    lo = std::min(lo, a.multiplier), hi = std::max(hi, a.multiplier);
  }
  const double kept = 1.0 - static_cast<double>(dropped) / (200.0 * n);
  EXPECT_NEAR(kept, 0.5, 0.05);  // 3200 fair coins: 0.05 is ~5.7 standard deviations
  EXPECT_LT(lo, 0.27);
  EXPECT_GT(hi, 0.98);
}

TEST(RandomSearch, RemovingAnOperatorRemovesItsParameters) {
  for (const auto& space : tiny_spaces()) {
    SCOPED_TRACE(space->config_json());
    const std::vector<OperatorChoice> choices = space->operator_choices();
    int checked = 0;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const RandomArchitecture a = sample_random_architecture(*space, seed, 0);
      const nn::ModulePtr sampled = space->build(a.widths);
      const int64_t params = sampled->num_parameters();
      const WidthMap scaled = width_multiplier_map(*space, a.multiplier);
      for (const OperatorChoice& o : choices) {
        if (!removed(o, a.widths)) continue;
        EXPECT_FALSE(test::has_module(*sampled, o.keys[0])) << o.name;  // its first unit is gone
        WidthMap back = a.widths;  // the same architecture with this operator restored ...
        for (const std::string& k : o.keys) back[k] = scaled.at(k);
        for (const OperatorChoice& outer : choices)  // ... and the block around it (One-Shot's last block)
          if (o.name.rfind(outer.name + ".", 0) == 0)
            for (const std::string& k : outer.keys) back[k] = scaled.at(k);
        const nn::ModulePtr net = space->build(back);
        EXPECT_GT(net->num_parameters(), params) << o.name;
        EXPECT_TRUE(test::has_module(*net, o.keys[0])) << o.name;
        ++checked;
      }
    }
    EXPECT_GT(checked, 0) << "no sample removed anything";
  }
}

}  // namespace
}  // namespace figs::nas
